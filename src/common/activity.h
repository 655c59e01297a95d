/* SPDX-License-Identifier: MIT */
/*
 * The activity event shared by both services: the validated request, the AMQP message that
 * carries it (DESIGN §4) and what the consumer stores. Decoding lives in validate.h, because a
 * message is re-validated with the same rules before it is stored.
 * Thread: any (pure); an activity_t is owned by one thread at a time.
 */
#ifndef AT_COMMON_ACTIVITY_H
#define AT_COMMON_ACTIVITY_H

#include <stddef.h>
#include <stdint.h>

#include "common/idgen.h"

struct json_object;

#define ACTIVITY_FIELD_MAX 255 /* bytes in userId and eventType */
#define ACTIVITY_PAYLOAD_DEPTH_MAX                                                                 \
    32 /* nesting levels inside payload; payload itself is level 1                                 \
        */

/* Transparent value type. The string fields point into root and stay valid until
 * activity_deinit; none is NUL-terminated. */
typedef struct activity {
    struct json_object *root;   /* owned: the parsed document, put by activity_deinit */
    char id[IDGEN_STR_LEN + 1]; /* canonical lower-case UUID, or "" if the request had none */
    const char *user_id;
    size_t user_id_len;
    const char *event_type;
    size_t event_type_len;
    const char *timestamp; /* exactly as the client sent it */
    size_t timestamp_len;
    int64_t timestamp_ms;        /* the same instant, UTC milliseconds */
    struct json_object *payload; /* borrowed from root; a JSON object */
    int64_t received_ms;         /* when the API received it, UTC milliseconds */
} activity_t;

/* Releases root and zeroes a. NULL and a zeroed activity are no-ops. */
void activity_deinit(activity_t *a);

/* Encodes a as the message body of DESIGN §4, in this key order:
 * {"id","userId","eventType","timestamp","payload","receivedAt"}, compact, with receivedAt in
 * rfc3339_format_ms form. a->id must be set. On success stores a malloc'd buffer (owned by the
 * caller, not NUL-terminated) in *out and its length in *out_len and returns 0. */
int activity_encode(const activity_t *a, char **out, size_t *out_len);

#endif
