/* SPDX-License-Identifier: MIT */
#include "common/activity.h"

#include <json-c/json.h>
#include <string.h>

#include "common/err.h"
#include "common/jsonesc.h"
#include "common/rfc3339.h"

void activity_deinit(activity_t *a)
{
    if (a == NULL)
        return;
    json_object_put(a->root);
    memset(a, 0, sizeof(*a));
}

/* Bytes s[0..len) takes inside a JSON string literal, as written by put_escaped(). */
static size_t escaped_len(const char *s, size_t len)
{
    size_t n = 0;
    char esc[JSON_ESCAPE_MAX];
    for (size_t i = 0; i < len; i++) {
        size_t k = json_escape_byte((unsigned char)s[i], esc);
        n += k != 0 ? k : 1;
    }
    return n;
}

/* Writes s[0..len) JSON-escaped (json_escape_byte; UTF-8 sequences are copied) and returns the
 * end of what was written. */
static char *put_escaped(char *p, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        size_t k = json_escape_byte((unsigned char)s[i], p);
        if (k != 0)
            p += k;
        else
            *p++ = s[i];
    }
    return p;
}

static char *put_lit(char *p, const char *lit, size_t n)
{
    memcpy(p, lit, n);
    return p + n;
}

#define LIT(p, s) put_lit((p), (s), sizeof(s) - 1)

int activity_encode(const activity_t *a, char **out, size_t *out_len)
{
    static const char k_id[] = "{\"id\":\"";
    static const char k_user[] = "\",\"userId\":\"";
    static const char k_event[] = "\",\"eventType\":\"";
    static const char k_ts[] = "\",\"timestamp\":\"";
    static const char k_payload[] = "\",\"payload\":";
    static const char k_recv[] = ",\"receivedAt\":\"";
    static const char k_end[] = "\"}";
    char received[RFC3339_MS_LEN + 1];

    if (a == NULL || out == NULL || out_len == NULL || a->id[0] == '\0' || a->payload == NULL)
        return ERR_INVAL;
    if ((a->user_id == NULL && a->user_id_len > 0) ||
        (a->event_type == NULL && a->event_type_len > 0) ||
        (a->timestamp == NULL && a->timestamp_len > 0))
        return ERR_INVAL;

    /* The payload's text is cached inside the json_object (so encoding is not thread-safe for
     * one payload, which matches the one-owner rule of activity_t). */
    size_t payload_len;
    const char *payload = json_object_to_json_string_length(
        a->payload, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &payload_len);
    if (payload == NULL)
        return ERR_NOMEM;
    size_t id_len = strnlen(a->id, IDGEN_STR_LEN);
    rfc3339_format_ms(a->received_ms, received);

    /* Sized exactly up front: one allocation, no reallocation. */
    size_t total = sizeof(k_id) - 1 + escaped_len(a->id, id_len) + sizeof(k_user) - 1 +
                   escaped_len(a->user_id, a->user_id_len) + sizeof(k_event) - 1 +
                   escaped_len(a->event_type, a->event_type_len) + sizeof(k_ts) - 1 +
                   escaped_len(a->timestamp, a->timestamp_len) + sizeof(k_payload) - 1 +
                   payload_len + sizeof(k_recv) - 1 + RFC3339_MS_LEN + sizeof(k_end) - 1;
    char *buf = xmalloc(total);
    char *p = buf;
    p = LIT(p, k_id);
    p = put_escaped(p, a->id, id_len);
    p = LIT(p, k_user);
    p = put_escaped(p, a->user_id, a->user_id_len);
    p = LIT(p, k_event);
    p = put_escaped(p, a->event_type, a->event_type_len);
    p = LIT(p, k_ts);
    p = put_escaped(p, a->timestamp, a->timestamp_len);
    p = LIT(p, k_payload);
    p = put_lit(p, payload, payload_len);
    p = LIT(p, k_recv);
    p = put_lit(p, received, RFC3339_MS_LEN);
    p = LIT(p, k_end);
    ASSERT((size_t)(p - buf) == total);
    *out = buf;
    *out_len = total;
    return 0;
}
