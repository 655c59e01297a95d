/* SPDX-License-Identifier: MIT */
/*
 * RFC 9457 problem details (application/problem+json) for every error the API answers, and the
 * values of the Retry-After and IETF RateLimit header fields.
 * Thread: any (pure). Output goes to caller buffers with snprintf semantics.
 */
#ifndef AT_API_PROBLEM_H
#define AT_API_PROBLEM_H

#include <stddef.h>
#include <stdint.h>

#include "common/validate.h"

#define PROBLEM_TYPE_BASE    "urn:activity-tracker:problem:"
#define PROBLEM_CONTENT_TYPE "application/problem+json"

/* One problem. Transparent; NULL members are omitted from the body. */
typedef struct problem {
    int status;
    const char *type; /* slug appended to PROBLEM_TYPE_BASE, e.g. "invalid-event" */
    const char *title;
    const char *detail;
    const char *id;                  /* the event id, when the client may retry with it */
    const validate_report_t *report; /* rendered as "errors": [{"field","message"}...] */
} problem_t;

/* Renders p as compact JSON into buf[0..n) (NUL-terminated when n > 0). Returns the length the
 * full body needs, excluding the NUL: a result >= n means buf was too small. */
size_t problem_format(const problem_t *p, char *buf, size_t n);

/* Writes the RateLimit-Policy value for a limit per window, e.g. "ip";q=50;w=60 (window in
 * whole seconds, rounded up). Returns the length as problem_format does. */
size_t problem_ratelimit_policy(uint32_t limit, uint32_t window_ms, char *buf, size_t n);

/* Writes the RateLimit value, e.g. "ip";r=49;t=60. Returns the length as problem_format does. */
size_t problem_ratelimit_value(uint32_t remaining, uint32_t reset_s, char *buf, size_t n);

#endif
