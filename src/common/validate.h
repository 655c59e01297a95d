/* SPDX-License-Identifier: MIT */
/*
 * Validation of events per DESIGN §2: parses a JSON body (UTF-8, depth-limited), checks every
 * field and reports every invalid one, not just the first. The same rules decode the AMQP
 * message in the consumer, so nothing the API accepts can be refused by the store.
 * Thread: any (pure).
 */
#ifndef AT_COMMON_VALIDATE_H
#define AT_COMMON_VALIDATE_H

#include <stddef.h>

#include "common/activity.h"

#define VALIDATE_ERRORS_MAX  16
#define VALIDATE_FIELD_MAX   64
#define VALIDATE_MESSAGE_MAX 160

/* One invalid field. field is the top-level name ("userId", an unknown key, ...), or "body" for
 * a problem with the document as a whole (not JSON, not UTF-8, not an object, too deep). */
typedef struct validate_error {
    char field[VALIDATE_FIELD_MAX];
    char message[VALIDATE_MESSAGE_MAX];
} validate_error_t;

/* Transparent. errors[0..count) are reported; total counts every error found, so
 * total > count means the list was cut at VALIDATE_ERRORS_MAX. */
typedef struct validate_report {
    unsigned count;
    unsigned total;
    validate_error_t errors[VALIDATE_ERRORS_MAX];
} validate_report_t;

/* Validates a POST /api/v1/activities body body[0..len) (not NUL-terminated). Required:
 * userId, eventType, timestamp, payload; optional: id (a UUID, canonicalised to lower case);
 * any other top-level key is an error naming it. payload must be an object the consumer can
 * store in MongoDB and in FerretDB: at any depth, no key that is empty, starts with '$', or
 * contains '.' or NUL; no array directly inside an array; integers within int64; other numbers
 * finite as a double; at most ACTIVITY_PAYLOAD_DEPTH_MAX levels. Each payload rule is reported
 * at most once, field "payload", with the path of its first occurrence, e.g. "... (payload.a[0])";
 * a key that is empty or holds '.', '[', ']', '"', '\' or a control is written ["..."] there.
 * On success fills *out (owned by the caller: activity_deinit), leaves out->received_ms 0 and
 * returns 0. Otherwise returns ERR_INVAL with rep filled and *out zeroed. rep may not be NULL. */
int validate_request(const char *body, size_t len, activity_t *out, validate_report_t *rep);

/* Validates an AMQP message body as produced by activity_encode: the request rules, plus id
 * and receivedAt (RFC 3339) required. Same ownership and results as validate_request. */
int validate_message(const char *body, size_t len, activity_t *out, validate_report_t *rep);

#endif
