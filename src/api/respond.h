/* SPDX-License-Identifier: MIT */
/*
 * Writing a whole response with libh2o: status, content type, a body copied into the request
 * pool with Content-Length set (h2o_send_inline alone would send it chunked), and RFC 9457
 * problem+json bodies with an optional Retry-After.
 * Thread: the request's loop.
 */
#ifndef AT_API_RESPOND_H
#define AT_API_RESPOND_H

#include <h2o.h>
#include <stdint.h>

#include "api/problem.h"

/* Sends a complete response: status, reason, content type (a literal), body copied into the
 * request pool, Content-Length set. */
void respond_send(h2o_req_t *req, int status, const char *reason, const char *content_type,
                  const char *body, size_t len);

/* Sends p as problem+json with an optional Retry-After (0 = none). */
void respond_problem(h2o_req_t *req, const problem_t *p, const char *reason,
                     uint32_t retry_after_s);

#endif
