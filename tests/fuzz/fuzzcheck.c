/* SPDX-License-Identifier: MIT */
#include "fuzzcheck.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rfc3339.h"

/* What a request without an id gets before it is encoded (the API generates one there), and the
 * receive time the encoder adds: both fixed, so a failing input reproduces. */
#define FUZZ_ID          "0190f5a6-3c2e-7d41-9b7a-2f1e8c4d5a60"
#define FUZZ_RECEIVED_MS 1795636902706LL /* 2026-11-25T20:01:42.706Z */

void fuzzcheck_fail(const char *file, int line, const char *what, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "\n%s:%d: invariant failed: %s: ", file, line, what);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

struct json_object *fuzzcheck_json_parse(const char *s, size_t len, int depth, int validate_utf8)
{
    struct json_tokener *tok = json_tokener_new_ex(depth);
    FUZZCHECK(tok != NULL, "json_tokener_new_ex(%d)", depth);
    json_tokener_set_flags(tok,
                           JSON_TOKENER_STRICT | (validate_utf8 ? JSON_TOKENER_VALIDATE_UTF8 : 0));
    struct json_object *v = json_tokener_parse_ex(tok, s, (int)len);
    /* A parse that stops early, or that waits for more text, is not a parse of the whole. */
    if (json_tokener_get_error(tok) != json_tokener_success ||
        json_tokener_get_parse_end(tok) != len) {
        json_object_put(v);
        v = NULL;
    }
    json_tokener_free(tok);
    return v;
}

size_t fuzzcheck_utf8_seq_len(const unsigned char *s, size_t n)
{
    if (n == 0)
        return 0;
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xbf; /* the range of the second byte */
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        lo = c == 0xe0 ? 0xa0 : 0x80;
        hi = c == 0xed ? 0x9f : 0xbf;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        lo = c == 0xf0 ? 0x90 : 0x80;
        hi = c == 0xf4 ? 0x8f : 0xbf;
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return len;
}

bool fuzzcheck_utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t k = fuzzcheck_utf8_seq_len(u + i, n - i);
        if (k == 0)
            return false;
        i += k;
    }
    return true;
}

static bool terminated(const char *s, size_t cap)
{
    return memchr(s, '\0', cap) != NULL;
}

void fuzzcheck_report(const validate_report_t *rep)
{
    FUZZCHECK(rep->count >= 1 && rep->count <= VALIDATE_ERRORS_MAX, "count %u", rep->count);
    FUZZCHECK(rep->total >= rep->count, "total %u < count %u", rep->total, rep->count);
    FUZZCHECK(rep->total == rep->count || rep->count == VALIDATE_ERRORS_MAX,
              "list cut at %u of %u errors", rep->count, rep->total);
    for (unsigned i = 0; i < rep->count; i++) {
        const validate_error_t *e = &rep->errors[i];
        FUZZCHECK(terminated(e->field, sizeof(e->field)), "field %u not NUL-terminated", i);
        FUZZCHECK(terminated(e->message, sizeof(e->message)), "message %u not NUL-terminated", i);
        FUZZCHECK(e->field[0] != '\0', "field %u is empty (message \"%s\")", i, e->message);
        FUZZCHECK(e->message[0] != '\0', "message %u is empty (field \"%s\")", i, e->field);
        FUZZCHECK(fuzzcheck_utf8_valid(e->field, strlen(e->field)),
                  "field %u is not well-formed UTF-8: \"%s\"", i, e->field);
        FUZZCHECK(fuzzcheck_utf8_valid(e->message, strlen(e->message)),
                  "message %u is not well-formed UTF-8: \"%s\"", i, e->message);
        FUZZCHECK(strcmp(e->field, "body") != 0 || rep->total == 1,
                  "a whole-body error among %u errors", rep->total);
    }
}

static bool is_canonical_id(const char *id)
{
    for (size_t i = 0; i < IDGEN_STR_LEN; i++) {
        char c = id[i];
        bool hyphen = i == 8 || i == 13 || i == 18 || i == 23;
        if (hyphen ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return id[IDGEN_STR_LEN] == '\0';
}

/* The member key of obj holds exactly the string s[0..len). */
static void check_member_string(struct json_object *obj, const char *key, const char *s, size_t len)
{
    struct json_object *v; /* borrowed */
    FUZZCHECK(json_object_object_get_ex(obj, key, &v), "message has no %s", key);
    FUZZCHECK(json_object_is_type(v, json_type_string), "message %s is not a string", key);
    size_t got = (size_t)json_object_get_string_len(v);
    FUZZCHECK(got == len && memcmp(json_object_get_string(v), s, len) == 0,
              "message %s is \"%.*s\" (%zu bytes), want \"%.*s\" (%zu bytes)", key, (int)got,
              json_object_get_string(v), got, (int)len, s, len);
}

static void check_fields(const activity_t *a, bool message)
{
    FUZZCHECK(a->root != NULL, "no root");
    FUZZCHECK(json_object_is_type(a->payload, json_type_object), "payload is not an object");
    FUZZCHECK(a->user_id != NULL && a->user_id_len >= 1 && a->user_id_len <= ACTIVITY_FIELD_MAX,
              "userId of %zu bytes", a->user_id_len);
    FUZZCHECK(a->event_type != NULL && a->event_type_len >= 1 &&
                  a->event_type_len <= ACTIVITY_FIELD_MAX,
              "eventType of %zu bytes", a->event_type_len);
    FUZZCHECK(a->timestamp != NULL && a->timestamp_len > 0, "no timestamp text");
    int64_t ms;
    FUZZCHECK(rfc3339_parse(a->timestamp, a->timestamp_len, &ms, NULL) == 0 &&
                  ms == a->timestamp_ms,
              "timestamp \"%.*s\" is not the instant %lld", (int)a->timestamp_len, a->timestamp,
              (long long)a->timestamp_ms);
    FUZZCHECK(a->id[0] == '\0' ? !message : is_canonical_id(a->id), "id \"%.*s\"", IDGEN_STR_LEN,
              a->id);
}

/* The message enc[0..len) is strict JSON holding exactly a's fields, in the documented order. */
static void check_message_text(const activity_t *a, const char *enc, size_t len)
{
    static const char *const order[] = {"id",        "userId",  "eventType",
                                        "timestamp", "payload", "receivedAt"};
    struct json_object *m = fuzzcheck_json_parse(enc, len, FUZZCHECK_JSON_DEPTH, 1);
    FUZZCHECK(m != NULL && json_object_is_type(m, json_type_object),
              "activity_encode wrote no JSON object: %.*s", (int)len, enc);
    size_t i = 0;
    json_object_object_foreach(m, key, val)
    {
        (void)val;
        FUZZCHECK(i < 6 && strcmp(key, order[i]) == 0, "member %zu is \"%s\"", i, key);
        i++;
    }
    FUZZCHECK(i == 6, "message has %zu members", i);
    check_member_string(m, "id", a->id, strlen(a->id));
    check_member_string(m, "userId", a->user_id, a->user_id_len);
    check_member_string(m, "eventType", a->event_type, a->event_type_len);
    check_member_string(m, "timestamp", a->timestamp, a->timestamp_len);
    char recv[RFC3339_MS_LEN + 1];
    rfc3339_format_ms(a->received_ms, recv);
    check_member_string(m, "receivedAt", recv, RFC3339_MS_LEN);
    struct json_object *p; /* borrowed */
    FUZZCHECK(json_object_object_get_ex(m, "payload", &p) && json_object_equal(p, a->payload),
              "message payload differs from the validated one");
    json_object_put(m);
}

void fuzzcheck_activity_round_trip(activity_t *a)
{
    check_fields(a, false);
    FUZZCHECK(a->received_ms == 0, "received_ms %lld before encoding", (long long)a->received_ms);
    if (a->id[0] == '\0')
        memcpy(a->id, FUZZ_ID, sizeof(FUZZ_ID));
    a->received_ms = FUZZ_RECEIVED_MS;

    char *enc;
    size_t len;
    int rc = activity_encode(a, &enc, &len);
    FUZZCHECK(rc == 0, "activity_encode returned %d", rc);
    check_message_text(a, enc, len);

    activity_t m;
    validate_report_t rep;
    rc = validate_message(enc, len, &m, &rep);
    FUZZCHECK(rc == 0, "validate_message refused the encoded activity: %s: %s (%u errors): %.*s",
              rep.errors[0].field, rep.errors[0].message, rep.total, (int)len, enc);
    check_fields(&m, true);
    FUZZCHECK(strcmp(m.id, a->id) == 0, "id %s became %s", a->id, m.id);
    FUZZCHECK(m.user_id_len == a->user_id_len && memcmp(m.user_id, a->user_id, a->user_id_len) == 0,
              "userId changed");
    FUZZCHECK(m.event_type_len == a->event_type_len &&
                  memcmp(m.event_type, a->event_type, a->event_type_len) == 0,
              "eventType changed");
    FUZZCHECK(m.timestamp_len == a->timestamp_len &&
                  memcmp(m.timestamp, a->timestamp, a->timestamp_len) == 0,
              "timestamp text changed");
    FUZZCHECK(m.timestamp_ms == a->timestamp_ms, "timestamp %lld became %lld",
              (long long)a->timestamp_ms, (long long)m.timestamp_ms);
    FUZZCHECK(m.received_ms == a->received_ms, "receivedAt %lld became %lld",
              (long long)a->received_ms, (long long)m.received_ms);
    FUZZCHECK(json_object_equal(m.payload, a->payload), "payload changed");

    /* Encoding is a function of the decoded values: the consumer's re-encoding is the API's. */
    char *again;
    size_t again_len;
    rc = activity_encode(&m, &again, &again_len);
    FUZZCHECK(rc == 0, "activity_encode of the decoded message returned %d", rc);
    FUZZCHECK(again_len == len && memcmp(again, enc, len) == 0,
              "re-encoding differs:\n  %.*s\n  %.*s", (int)len, enc, (int)again_len, again);
    free(again);
    activity_deinit(&m);
    free(enc);
}
