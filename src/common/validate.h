/* SPDX-License-Identifier: MIT */
/*
 * Validation of events per DESIGN §2: parses a JSON body (UTF-8, depth-limited), checks every
 * field and reports every invalid one, not just the first. The same rules decode the AMQP
 * message in the consumer, so nothing the API accepts can be refused by the store.
 * Thread: any (pure).
 */
#ifndef AT_COMMON_VALIDATE_H
#define AT_COMMON_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/activity.h"

#define VALIDATE_ERRORS_MAX  64
#define VALIDATE_FIELD_MAX   64
#define VALIDATE_MESSAGE_MAX 160

/* One invalid field. field is the top-level name ("userId", an unknown key written as a path
 * would be: ["a.b"], [""] for the empty key, ["body"] for a member named body), or "body" for a
 * problem with the document as a whole (not JSON, not UTF-8, not an object, too deep); in a batch
 * it is prefixed with the event's place, "events[3].timestamp". Never empty. */
typedef struct validate_error {
    char field[VALIDATE_FIELD_MAX];
    char message[VALIDATE_MESSAGE_MAX];
} validate_error_t;

/* Transparent. errors[0..count) are reported; total counts every error found, so
 * total > count means the list was cut at VALIDATE_ERRORS_MAX. prefix (NULL for none) is put in
 * front of every field reported while it is set. */
typedef struct validate_report {
    unsigned count;
    unsigned total;
    const char *prefix;
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

/* ---- building blocks of validate_batch.c ---- */

struct json_object;
struct jsonscan;
struct jsonscan_rules;
struct jsonpath_key;

/* Reports an unknown top-level key k as the single-event rules name it (see validate_error_t). */
void validate_report_unknown(validate_report_t *rep, const struct jsonpath_key *k);

/* Adds one error (field prefixed with rep->prefix) to rep; total counts it even when the list
 * is full. */
void validate_report_add(validate_report_t *rep, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Resets rep to the single whole-document error "body": <message>, and returns ERR_INVAL. */
int validate_report_body(validate_report_t *rep, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Reports the body error of a whole-document scan that returned rc (jsonscan_finish included)
 * over a document whose top level is an object or not: too deep, not valid JSON (with the
 * scanner's reason and offset) or not an object. Returns 0 when there is none (rc 0 over an
 * object), else ERR_INVAL with rep holding that one error. */
int validate_report_scan(validate_report_t *rep, const struct jsonscan *s, int rc, bool object);

/* Appends the errors of found (fields already prefixed) to rep, and counts in rep->total those
 * that found counted but could not list. */
void validate_report_merge(validate_report_t *rep, const validate_report_t *found);

/* The raw-byte checks every body gets before anything else: not empty, at most INT_MAX bytes,
 * valid UTF-8. Returns 0, or ERR_INVAL with rep holding the "body" error. */
int validate_raw(const char *body, size_t len, validate_report_t *rep);

/* The first pass over one event object at the scanner's cursor (request rules): reports unknown
 * keys into found, and the payload's storable rules through rules (whose ctx must be found).
 * Returns what jsonscan returns (ERR_PARSE/ERR_RANGE: the document itself is bad). */
int validate_scan_request(struct jsonscan *s, struct jsonscan_rules *rules,
                          validate_report_t *found);

/* Starts rules for one event whose problems go to found (request rules). */
void validate_rules_init(struct jsonscan_rules *rules, validate_report_t *found);

/* The field rules of a request on the event object obj (borrowed): reports into rep and fills
 * out (strings borrowed from obj; out->root is not set). */
void validate_check_request(struct json_object *obj, activity_t *out, validate_report_t *rep);

/* Parses body[0..len), which the scan has accepted, with json-c (strict, same depth bound).
 * Returns an owned tree or NULL. */
struct json_object *validate_parse_tree(const char *body, size_t len);

#endif
