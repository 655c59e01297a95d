/* SPDX-License-Identifier: MIT */
#include "common/validate.h"

#include <check.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "unit_main.h"

#define U0                   "\"u1\""
#define E0                   "\"click\""
#define T0                   "\"2023-10-27T10:00:00Z\""
#define P0                   "{}"
#define FIELDS(u, e, t, p)   "\"userId\":" u ",\"eventType\":" e ",\"timestamp\":" t ",\"payload\":" p
#define BODY(u, e, t, p)     "{" FIELDS(u, e, t, p) "}"
#define WITH_PAYLOAD(p)      BODY(U0, E0, T0, p)
#define WITH(extra)          "{" FIELDS(U0, E0, T0, P0) "," extra "}"
#define ID0                  "\"0190b2a4-7c1e-7a3b-9f00-1234567890ab\""
#define RECV0                "\"2023-10-27T10:00:01.234Z\""
#define MSG_FIELDS(id, recv) "\"id\":" id "," FIELDS(U0, E0, T0, P0) ",\"receivedAt\":" recv
#define MSG(id, recv)        "{" MSG_FIELDS(id, recv) "}"

#define TS_HINT "must be an RFC 3339 date-time with offset, e.g. 2023-10-27T10:00:00Z"

typedef struct vcase {
    const char *name;
    const char *body;
    bool message;      /* validate_message instead of validate_request */
    const char *field; /* NULL: valid; otherwise the one error expected */
    const char *text;  /* its exact message */
} vcase_t;

static const vcase_t cases[] = {
    /* Valid requests. */
    {"minimal", WITH_PAYLOAD(P0), false, NULL, NULL},
    {"whitespace around", " \t\r\n" WITH_PAYLOAD(P0) "\n  ", false, NULL, NULL},
    {"id lower case", WITH("\"id\":" ID0), false, NULL, NULL},
    {"id upper case", WITH("\"id\":\"0190B2A4-7C1E-7A3B-9F00-1234567890AB\""), false, NULL, NULL},
    {"id v4", WITH("\"id\":\"919108f7-52d1-4320-9bac-f847db4148a8\""), false, NULL, NULL},
    {"unicode names",
     BODY("\"Jos\xc3\xa9 \xe6\x97\xa5\xf0\x9f\x98\x80\"", "\"caf\\u00e9\"", T0, P0), false, NULL,
     NULL},
    {"names with inner spaces", BODY("\" u 1 \"", "\"a b\"", T0, P0), false, NULL, NULL},
    {"name with quote and slash", BODY("\"a\\\"b\\\\c/d\\/e\"", E0, T0, P0), false, NULL, NULL},
    {"timestamp with offset and fraction", BODY(U0, E0, "\"2023-10-27T12:00:00.123456+02:00\"", P0),
     false, NULL, NULL},
    {"timestamp leap second", BODY(U0, E0, "\"2016-12-31T23:59:60Z\"", P0), false, NULL, NULL},
    {"payload nested", WITH_PAYLOAD("{\"a\":{\"b\":[1,2,{\"c\":null}]},\"d\":[{}],\"e\":\"\"}"),
     false, NULL, NULL},
    {"fields in any order",
     "{\"payload\":{},\"timestamp\":" T0 ",\"eventType\":" E0 ",\"userId\":" U0 "}", false, NULL,
     NULL},
    {"duplicate key keeps the last", "{\"userId\":\"\"," FIELDS(U0, E0, T0, P0) "}", false, NULL,
     NULL},

    /* userId and eventType. */
    {"userId missing", "{\"eventType\":" E0 ",\"timestamp\":" T0 ",\"payload\":{}}", false,
     "userId", "is required"},
    {"userId empty", BODY("\"\"", E0, T0, P0), false, "userId", "must not be empty"},
    {"userId number", BODY("123", E0, T0, P0), false, "userId", "must be a string"},
    {"userId null", BODY("null", E0, T0, P0), false, "userId", "must be a string"},
    {"userId object", BODY("{}", E0, T0, P0), false, "userId", "must be a string"},
    {"userId spaces", BODY("\"   \"", E0, T0, P0), false, "userId", "must not be only whitespace"},
    {"userId unicode spaces", BODY("\"\\u00a0\\u3000\\u2003\"", E0, T0, P0), false, "userId",
     "must not be only whitespace"},
    {"userId newline", BODY("\"a\\nb\"", E0, T0, P0), false, "userId",
     "must not contain control characters"},
    {"userId tab only", BODY("\"\\t\"", E0, T0, P0), false, "userId",
     "must not contain control characters"},
    {"userId NUL", BODY("\"a\\u0000b\"", E0, T0, P0), false, "userId",
     "must not contain control characters"},
    {"userId DEL", BODY("\"a\\u007fb\"", E0, T0, P0), false, "userId",
     "must not contain control characters"},
    {"userId raw DEL",
     BODY("\"a\x7f"
          "b\"",
          E0, T0, P0),
     false, "userId", "must not contain control characters"},
    {"userId C1", BODY("\"a\\u0085b\"", E0, T0, P0), false, "userId",
     "must not contain control characters"},
    {"userId raw C1",
     BODY("\"a\xc2\x9f"
          "b\"",
          E0, T0, P0),
     false, "userId", "must not contain control characters"},
    {"eventType missing", "{\"userId\":" U0 ",\"timestamp\":" T0 ",\"payload\":{}}", false,
     "eventType", "is required"},
    {"eventType empty", BODY(U0, "\"\"", T0, P0), false, "eventType", "must not be empty"},
    {"eventType array", BODY(U0, "[\"click\"]", T0, P0), false, "eventType", "must be a string"},
    {"eventType bool", BODY(U0, "true", T0, P0), false, "eventType", "must be a string"},
    {"eventType whitespace", BODY(U0, "\" \"", T0, P0), false, "eventType",
     "must not be only whitespace"},
    {"eventType control", BODY(U0, "\"click\\r\"", T0, P0), false, "eventType",
     "must not contain control characters"},

    /* timestamp. */
    {"timestamp missing", "{\"userId\":" U0 ",\"eventType\":" E0 ",\"payload\":{}}", false,
     "timestamp", "is required"},
    {"timestamp number", BODY(U0, E0, "1698400800000", P0), false, "timestamp", "must be a string"},
    {"timestamp no offset", BODY(U0, E0, "\"2023-10-27T10:00:00\"", P0), false, "timestamp",
     TS_HINT},
    {"timestamp date only", BODY(U0, E0, "\"2023-10-27\"", P0), false, "timestamp", TS_HINT},
    {"timestamp space", BODY(U0, E0, "\"2023-10-27 10:00:00Z\"", P0), false, "timestamp", TS_HINT},
    {"timestamp empty", BODY(U0, E0, "\"\"", P0), false, "timestamp", TS_HINT},
    {"timestamp Feb 29", BODY(U0, E0, "\"2023-02-29T10:00:00Z\"", P0), false, "timestamp",
     "must be a valid date-time (day 29 does not exist in 2023-02)"},
    {"timestamp hour 24", BODY(U0, E0, "\"2023-10-27T24:00:00Z\"", P0), false, "timestamp",
     "must be a valid date-time (hour 24 is out of range)"},

    /* payload. */
    {"payload missing", "{\"userId\":" U0 ",\"eventType\":" E0 ",\"timestamp\":" T0 "}", false,
     "payload", "is required"},
    {"payload array", WITH_PAYLOAD("[]"), false, "payload", "must be an object"},
    {"payload array of objects", WITH_PAYLOAD("[{\"$x\":1}]"), false, "payload",
     "must be an object"},
    {"payload null", WITH_PAYLOAD("null"), false, "payload", "must be an object"},
    {"payload string", WITH_PAYLOAD("\"{}\""), false, "payload", "must be an object"},
    {"payload number", WITH_PAYLOAD("1"), false, "payload", "must be an object"},
    {"payload $ key", WITH_PAYLOAD("{\"$set\":1}"), false, "payload",
     "keys must not start with '$' (payload.$set)"},

    /* id and unknown fields. */
    {"id short", WITH("\"id\":\"abc\""), false, "id",
     "must be a UUID of 36 characters, e.g. 123e4567-e89b-12d3-a456-426614174000"},
    {"id not hex", WITH("\"id\":\"0190b2a4-7c1e-7a3b-9f00-1234567890ag\""), false, "id",
     "must be a UUID of hexadecimal digits"},
    {"id hyphens", WITH("\"id\":\"0190b2a47-c1e-7a3b-9f00-1234567890ab\""), false, "id",
     "must be a UUID with hyphens after 8, 12, 16 and 20 hex digits"},
    {"id nil", WITH("\"id\":\"00000000-0000-0000-0000-000000000000\""), false, "id",
     "must not be the nil UUID"},
    {"id number", WITH("\"id\":7"), false, "id", "must be a string"},
    {"id null", WITH("\"id\":null"), false, "id", "must be a string"},
    {"unknown field", WITH("\"foo\":1"), false, "foo", "unknown field"},
    {"receivedAt in a request", WITH("\"receivedAt\":" RECV0), false, "receivedAt",
     "unknown field"},
    {"case matters", WITH("\"UserId\":\"x\""), false, "UserId", "unknown field"},
    {"unknown field with NUL", WITH("\"userId\\u0000\":\"x\""), false, "[\"userId\\u0000\"]",
     "unknown field"},
    {"unknown field escaped", WITH("\"a\\u0001\\\"\":1"), false, "[\"a\\u0001\\\"\"]",
     "unknown field"},
    /* Never an empty field: the empty key is written as a path writes it. */
    {"unknown empty key", WITH("\"\":1"), false, "[\"\"]", "unknown field"},
    {"unknown key with a dot", WITH("\"a.b\":1"), false, "[\"a.b\"]", "unknown field"},
    /* A member named body is not the whole-body error, whose field is body. */
    {"unknown key body", WITH("\"body\":1"), false, "[\"body\"]", "unknown field"},

    /* The body as a whole. */
    {"empty", "", false, "body", "must not be empty"},
    {"only whitespace", " \n\t ", false, "body", "must not be empty"},
    {"array", "[]", false, "body", "must be a JSON object"},
    {"string", "\"x\"", false, "body", "must be a JSON object"},
    {"number", "123", false, "body", "must be a JSON object"},
    {"null", "null", false, "body", "must be a JSON object"},
    {"trailing garbage", WITH_PAYLOAD(P0) "x", false, "body",
     "must be valid JSON (unexpected data after the document at offset 83)"},
    /* Not JSON at all outranks "not an object". */
    {"comment", "/* c */" WITH_PAYLOAD(P0), false, "body",
     "must be valid JSON (unexpected character at offset 0)"},
    {"invalid UTF-8", BODY("\"\xff\"", E0, T0, P0), false, "body",
     "must be valid UTF-8 (invalid byte at offset 11)"},

    /* Messages. */
    {"message valid", MSG(ID0, RECV0), true, NULL, NULL},
    {"message missing id",
     "{\"userId\":" U0 ",\"eventType\":" E0 ",\"timestamp\":" T0
     ",\"payload\":{},\"receivedAt\":" RECV0 "}",
     true, "id", "is required"},
    {"message missing receivedAt", WITH("\"id\":" ID0), true, "receivedAt", "is required"},
    {"message bad receivedAt", MSG(ID0, "\"yesterday\""), true, "receivedAt", TS_HINT},
    {"message receivedAt number", MSG(ID0, "0"), true, "receivedAt", "must be a string"},
    {"message bad id", MSG("\"x\"", RECV0), true, "id",
     "must be a UUID of 36 characters, e.g. 123e4567-e89b-12d3-a456-426614174000"},
    {"message unknown field", "{\"extra\":1," MSG_FIELDS(ID0, RECV0) "}", true, "extra",
     "unknown field"},
    {"message double overflow",
     "{\"id\":" ID0 "," FIELDS(U0, E0, T0, "{\"x\":[1E+999]}") ",\"receivedAt\":" RECV0 "}", true,
     "payload", "numbers must be finite (payload.x[0])"},
    {"message nested array",
     "{\"id\":" ID0 "," FIELDS(U0, E0, T0, "{\"x\":[[]]}") ",\"receivedAt\":" RECV0 "}", true,
     "payload", "arrays must not contain arrays directly (payload.x[0])"},
};

#define NCASES ((int)(sizeof(cases) / sizeof(cases[0])))

static bool is_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t n = *p < 0x80 ? 0 : (*p & 0xe0) == 0xc0 ? 1 : (*p & 0xf0) == 0xe0 ? 2 : 3;
        if (*p >= 0x80 && (*p < 0xc2 || *p > 0xf4))
            return false;
        for (size_t k = 1; k <= n; k++)
            if ((p[k] & 0xc0) != 0x80)
                return false;
        p += n + 1;
    }
    return true;
}

/* Every reported message: non-empty, valid UTF-8, no trailing period; every field non-empty. */
static void check_report_shape(const validate_report_t *rep)
{
    ck_assert_uint_le(rep->count, VALIDATE_ERRORS_MAX);
    ck_assert_uint_le(rep->count, rep->total);
    for (unsigned i = 0; i < rep->count; i++) {
        const validate_error_t *e = &rep->errors[i];
        size_t n = strlen(e->message);
        ck_assert_uint_gt(strlen(e->field), 0);
        ck_assert_uint_gt(n, 0);
        ck_assert_int_ne(e->message[n - 1], '.');
        ck_assert_msg(is_utf8(e->field), "field not UTF-8: %s", e->field);
        ck_assert_msg(is_utf8(e->message), "message not UTF-8: %s", e->message);
    }
}

static int run(const char *body, size_t len, bool message, activity_t *a, validate_report_t *rep)
{
    int rc = message ? validate_message(body, len, a, rep) : validate_request(body, len, a, rep);
    check_report_shape(rep);
    return rc;
}

static bool is_zeroed(const activity_t *a)
{
    static const activity_t zero;
    return memcmp(a, &zero, sizeof(zero)) == 0;
}

START_TEST(test_validate_table)
{
    const vcase_t *c = &cases[_i];
    activity_t a;
    validate_report_t rep;
    memset(&rep, 0x5a, sizeof(rep));
    int rc = run(c->body, strlen(c->body), c->message, &a, &rep);
    if (c->field == NULL) {
        ck_assert_msg(rc == 0, "%s: %u errors, first %s: %s", c->name, rep.total,
                      rep.errors[0].field, rep.errors[0].message);
        ck_assert_uint_eq(rep.count, 0);
        ck_assert_uint_eq(rep.total, 0);
        ck_assert_ptr_nonnull(a.root);
        ck_assert_ptr_nonnull(a.payload);
        ck_assert_int_eq(json_object_get_type(a.payload), json_type_object);
        activity_deinit(&a);
        return;
    }
    ck_assert_msg(rc == ERR_INVAL, "%s: accepted", c->name);
    ck_assert_msg(rep.count == 1 && rep.total == 1, "%s: %u errors, first %s: %s", c->name,
                  rep.total, rep.errors[0].field, rep.errors[0].message);
    ck_assert_str_eq(rep.errors[0].field, c->field);
    ck_assert_str_eq(rep.errors[0].message, c->text);
    ck_assert(is_zeroed(&a));
}
END_TEST

START_TEST(test_validate_request_fills_activity)
{
    static const char body[] =
        "{\"id\":\"0190B2A4-7C1E-7A3B-9F00-1234567890AB\",\"userId\":\"u\\u00e9\","
        "\"eventType\":\"click\",\"timestamp\":\"2023-10-27T12:00:00.5+02:00\","
        "\"payload\":{\"a\":[1,2]}}";
    activity_t a;
    validate_report_t rep;
    ck_assert_int_eq(validate_request(body, sizeof(body) - 1, &a, &rep), 0);
    ck_assert_str_eq(a.id, "0190b2a4-7c1e-7a3b-9f00-1234567890ab");
    ck_assert_uint_eq(a.user_id_len, 3);
    ck_assert_mem_eq(a.user_id, "u\xc3\xa9", 3);
    ck_assert_uint_eq(a.event_type_len, 5);
    ck_assert_mem_eq(a.event_type, "click", 5);
    ck_assert_uint_eq(a.timestamp_len, 27);
    ck_assert_mem_eq(a.timestamp, "2023-10-27T12:00:00.5+02:00", 27);
    ck_assert_int_eq(a.timestamp_ms, 1698400800500);
    ck_assert_int_eq(a.received_ms, 0);
    ck_assert_str_eq(json_object_to_json_string_ext(a.payload, JSON_C_TO_STRING_PLAIN),
                     "{\"a\":[1,2]}");
    activity_deinit(&a);
    ck_assert(is_zeroed(&a));
}
END_TEST

START_TEST(test_validate_request_without_id_leaves_it_empty)
{
    static const char body[] = WITH_PAYLOAD(P0);
    activity_t a;
    validate_report_t rep;
    ck_assert_int_eq(validate_request(body, sizeof(body) - 1, &a, &rep), 0);
    ck_assert_str_eq(a.id, "");
    activity_deinit(&a);
}
END_TEST

START_TEST(test_validate_duplicate_key_keeps_the_last)
{
    static const char body[] = "{\"userId\":\"first\"," FIELDS(U0, E0, T0, P0) "}";
    activity_t a;
    validate_report_t rep;
    ck_assert_int_eq(validate_request(body, sizeof(body) - 1, &a, &rep), 0);
    ck_assert_uint_eq(a.user_id_len, 2);
    ck_assert_mem_eq(a.user_id, "u1", 2);
    activity_deinit(&a);
}
END_TEST

START_TEST(test_validate_message_reads_received_at)
{
    static const char body[] = MSG(ID0, RECV0);
    activity_t a;
    validate_report_t rep;
    ck_assert_int_eq(validate_message(body, sizeof(body) - 1, &a, &rep), 0);
    ck_assert_int_eq(a.received_ms, 1698400801234);
    ck_assert_str_eq(a.id, "0190b2a4-7c1e-7a3b-9f00-1234567890ab");
    activity_deinit(&a);
}
END_TEST

START_TEST(test_validate_reports_every_invalid_field)
{
    static const char body[] = "{\"zzz\":1,\"payload\":[],\"timestamp\":\"x\",\"eventType\":5,"
                               "\"userId\":\"\",\"id\":\"bad\",\"$a\":{}}";
    activity_t a;
    validate_report_t rep;
    ck_assert_int_eq(run(body, sizeof(body) - 1, false, &a, &rep), ERR_INVAL);
    ck_assert_uint_eq(rep.count, 7);
    ck_assert_uint_eq(rep.total, 7);
    /* Field rules in a fixed order, then what the scan found, in document order. */
    static const char *const fields[] = {"id",      "userId", "eventType", "timestamp",
                                         "payload", "zzz",    "$a"};
    for (unsigned i = 0; i < 7; i++)
        ck_assert_str_eq(rep.errors[i].field, fields[i]);
    ck_assert_str_eq(rep.errors[2].message, "must be a string");
    ck_assert_str_eq(rep.errors[3].message, TS_HINT);
    ck_assert(is_zeroed(&a));
}
END_TEST

START_TEST(test_validate_reports_each_payload_problem)
{
    static const char body[] =
        WITH_PAYLOAD("{\"$a\":1,\"$b\":2,\"c\\u0000\":{\"n\":99999999999999999999}}");
    activity_t a;
    validate_report_t rep;
    ck_assert_int_eq(run(body, sizeof(body) - 1, false, &a, &rep), ERR_INVAL);
    ck_assert_uint_eq(rep.total, 3);
    ck_assert_str_eq(rep.errors[0].message, "keys must not start with '$' (payload.$a)");
    ck_assert_str_eq(rep.errors[1].message,
                     "keys must not contain NUL characters (payload[\"c\\u0000\"])");
    ck_assert_str_eq(rep.errors[2].message,
                     "integers must fit in 64 bits (payload[\"c\\u0000\"].n)");
}
END_TEST

START_TEST(test_validate_report_is_capped)
{
    char body[2048];
    size_t n = (size_t)snprintf(body, sizeof(body), "{");
    for (int i = 0; i < 70; i++)
        n += (size_t)snprintf(body + n, sizeof(body) - n, "%s\"x%d\":%d", i ? "," : "", i, i);
    n += (size_t)snprintf(body + n, sizeof(body) - n, "}");
    activity_t a;
    validate_report_t rep;
    ck_assert_int_eq(run(body, n, false, &a, &rep), ERR_INVAL);
    /* 4 required fields missing + 70 unknown ones. */
    ck_assert_uint_eq(rep.count, VALIDATE_ERRORS_MAX);
    ck_assert_uint_eq(rep.total, 74);
    ck_assert_str_eq(rep.errors[0].field, "userId");
    ck_assert_str_eq(rep.errors[4].field, "x0");
    ck_assert_str_eq(rep.errors[63].field, "x59");
}
END_TEST

/* Builds a request whose payload nests `levels` containers (the payload itself is level 1), the
 * ones below the payload alternating arrays and objects when mixed is set, with leaf inside the
 * deepest one. Returns a malloc'd string. */
static char *nested_body(int levels, bool mixed, const char *leaf)
{
    size_t cap = (size_t)levels * 8 + strlen(leaf) + 256;
    char *b = malloc(cap);
    size_t n = (size_t)snprintf(
        b, cap, "{\"userId\":\"u\",\"eventType\":\"e\",\"timestamp\":" T0 ",\"payload\":{");
    for (int l = 2; l <= levels; l++) {
        bool parent_is_array = mixed && (l - 1) % 2 == 0;
        bool is_array = mixed && l % 2 == 0;
        n += (size_t)snprintf(b + n, cap - n, "%s%s",
                              parent_is_array ? "" : "\"a\":", is_array ? "[" : "{");
    }
    n += (size_t)snprintf(b + n, cap - n, "%s", leaf);
    for (int l = levels; l >= 2; l--)
        n += (size_t)snprintf(b + n, cap - n, "%s", mixed && l % 2 == 0 ? "]" : "}");
    snprintf(b + n, cap - n, "}}");
    return b;
}

START_TEST(test_validate_payload_depth_limit)
{
    /* leaf, whether it suits an array as the deepest container */
    static const struct {
        const char *leaf;
        bool in_array;
    } leaves[] = {{"", true}, {"1", true}, {"\"k\":1", false}, {"\"k\":\"v\"", false}};
    for (int mixed = 0; mixed < 2; mixed++) {
        for (size_t i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++) {
            for (int extra = 0; extra < 2; extra++) {
                int levels = ACTIVITY_PAYLOAD_DEPTH_MAX + extra;
                bool deepest_is_array = mixed && levels % 2 == 0;
                if (deepest_is_array != leaves[i].in_array && leaves[i].leaf[0] != '\0')
                    continue;
                activity_t a;
                validate_report_t rep;
                char *b = nested_body(levels, mixed, leaves[i].leaf);
                int rc = run(b, strlen(b), false, &a, &rep);
                if (extra == 0) {
                    ck_assert_msg(rc == 0, "%d levels: %s", levels, rep.errors[0].message);
                    activity_deinit(&a);
                } else {
                    ck_assert_int_eq(rc, ERR_INVAL);
                    ck_assert_uint_eq(rep.count, 1);
                    ck_assert_str_eq(rep.errors[0].field, "payload");
                    ck_assert_msg(strncmp(rep.errors[0].message,
                                          "must not nest deeper than 32 levels (payload.a",
                                          46) == 0,
                                  "%s", rep.errors[0].message);
                }
                free(b);
            }
        }
    }
}
END_TEST

START_TEST(test_validate_body_depth_limit)
{
    activity_t a;
    validate_report_t rep;
    /* Root + 63 payload levels is the deepest body json-c is asked to parse: still the precise
     * payload error. */
    char *b = nested_body(62, false, "\"k\":[]");
    ck_assert_int_eq(run(b, strlen(b), false, &a, &rep), ERR_INVAL);
    ck_assert_str_eq(rep.errors[0].field, "payload");
    free(b);
    b = nested_body(63, false, "\"k\":1");
    ck_assert_int_eq(run(b, strlen(b), false, &a, &rep), ERR_INVAL);
    ck_assert_str_eq(rep.errors[0].field, "payload");
    free(b);
    b = nested_body(64, false, "");
    ck_assert_int_eq(run(b, strlen(b), false, &a, &rep), ERR_INVAL);
    ck_assert_uint_eq(rep.count, 1);
    ck_assert_str_eq(rep.errors[0].field, "body");
    ck_assert_str_eq(rep.errors[0].message, "must not nest deeper than 64 levels");
    free(b);
    b = nested_body(5000, true, "");
    ck_assert_int_eq(run(b, strlen(b), false, &a, &rep), ERR_INVAL);
    ck_assert_str_eq(rep.errors[0].field, "body");
    free(b);
    /* Deep nesting outside the payload is a body problem too. */
    char deep[300] = "{\"userId\":";
    for (int i = 0; i < 70; i++)
        strcat(deep, "[");
    ck_assert_int_eq(run(deep, strlen(deep), false, &a, &rep), ERR_INVAL);
    ck_assert_str_eq(rep.errors[0].message, "must not nest deeper than 64 levels");
}
END_TEST

START_TEST(test_validate_name_length_limit)
{
    static const struct {
        const char *unit; /* repeated to build the value */
        int repeat;
        bool ok;
    } lengths[] = {
        {"a", 1, true},
        {"a", 255, true},
        {"a", 256, false},
        {"\xe6\x97\xa5", 85, true},  /* 255 bytes */
        {"\xe6\x97\xa5", 86, false}, /* 258 bytes */
        {"\\u00e9", 127, true},      /* 254 bytes once decoded */
        {"\\u00e9", 128, false},     /* 256 bytes once decoded */
    };
    for (int f = 0; f < 2; f++) {
        for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
            char value[2048] = "\"";
            for (int r = 0; r < lengths[i].repeat; r++)
                strcat(value, lengths[i].unit);
            strcat(value, "\"");
            char body[4096];
            int n = f == 0 ? snprintf(body, sizeof(body), BODY("%s", E0, T0, P0), value)
                           : snprintf(body, sizeof(body), BODY(U0, "%s", T0, P0), value);
            activity_t a;
            validate_report_t rep;
            int rc = run(body, (size_t)n, false, &a, &rep);
            if (lengths[i].ok) {
                ck_assert_int_eq(rc, 0);
                activity_deinit(&a);
            } else {
                ck_assert_int_eq(rc, ERR_INVAL);
                ck_assert_str_eq(rep.errors[0].field, f == 0 ? "userId" : "eventType");
                ck_assert_str_eq(rep.errors[0].message, "must be at most 255 bytes");
            }
        }
    }
}
END_TEST

START_TEST(test_validate_long_names_are_cut_safely)
{
    /* 40 two-byte characters: 80 bytes, more than a field name holds. */
    char key[256] = "";
    for (int i = 0; i < 40; i++)
        strcat(key, "\xc3\xa9");
    char body[1024];
    int n = snprintf(body, sizeof(body), WITH("\"%s\":1"), key);
    activity_t a;
    validate_report_t rep;
    ck_assert_int_eq(run(body, (size_t)n, false, &a, &rep), ERR_INVAL);
    ck_assert_uint_eq(rep.count, 1);
    size_t len = strlen(rep.errors[0].field);
    ck_assert_uint_lt(len, VALIDATE_FIELD_MAX);
    ck_assert_str_eq(rep.errors[0].field + len - 3, "...");
    ck_assert_mem_eq(rep.errors[0].field, key, len - 3);

    /* A long path inside the payload is cut the same way. */
    n = snprintf(body, sizeof(body), WITH_PAYLOAD("{\"%s\":{\"%s\":{\"$x\":1}}}"), key, key);
    ck_assert_int_eq(run(body, (size_t)n, false, &a, &rep), ERR_INVAL);
    ck_assert_uint_eq(rep.count, 1);
    len = strlen(rep.errors[0].message);
    ck_assert_uint_lt(len, VALIDATE_MESSAGE_MAX);
    ck_assert_str_eq(rep.errors[0].message + len - 4, "...)");
}
END_TEST

START_TEST(test_validate_rejects_bytes_after_a_nul)
{
    static const char body[] = WITH_PAYLOAD(P0) "\0garbage";
    activity_t a;
    validate_report_t rep;
    ck_assert_int_eq(run(body, sizeof(body) - 1, false, &a, &rep), ERR_INVAL);
    ck_assert_str_eq(rep.errors[0].field, "body");
    ck_assert_str_eq(rep.errors[0].message,
                     "must be valid JSON (unexpected data after the document at offset 83)");
    /* A raw NUL inside a string is a control character JSON does not allow unescaped. */
    static const char in_string[] = BODY("\"a\0b\"", E0, T0, P0);
    ck_assert_int_eq(run(in_string, sizeof(in_string) - 1, false, &a, &rep), ERR_INVAL);
    ck_assert_str_eq(rep.errors[0].field, "body");
}
END_TEST

START_TEST(test_validate_reads_only_len_bytes)
{
    static const char body[] = WITH_PAYLOAD(P0) "not part of the body";
    activity_t a;
    validate_report_t rep;
    ck_assert_int_eq(run(body, strlen(WITH_PAYLOAD(P0)), false, &a, &rep), 0);
    activity_deinit(&a);
    /* A prefix is not a document. */
    ck_assert_int_eq(run(body, 20, false, &a, &rep), ERR_INVAL);
    ck_assert_str_eq(rep.errors[0].field, "body");
    ck_assert_int_eq(run(NULL, 0, false, &a, &rep), ERR_INVAL);
    ck_assert_str_eq(rep.errors[0].message, "must not be empty");
}
END_TEST

START_TEST(test_validate_failure_resets_out_and_report)
{
    static const char good[] = WITH_PAYLOAD(P0);
    activity_t a;
    validate_report_t rep;
    memset(&a, 0x77, sizeof(a));
    ck_assert_int_eq(run("[]", 2, false, &a, &rep), ERR_INVAL);
    ck_assert(is_zeroed(&a));
    ck_assert_uint_eq(rep.count, 1);
    /* The report of an earlier failure does not leak into the next call. */
    ck_assert_int_eq(run(good, sizeof(good) - 1, false, &a, &rep), 0);
    ck_assert_uint_eq(rep.count, 0);
    ck_assert_uint_eq(rep.total, 0);
    activity_deinit(&a);
}
END_TEST

static Suite *validate_suite(void)
{
    Suite *s = suite_create("validate");
    TCase *tc;

    tc = tcase_create("table");
    tcase_add_loop_test(tc, test_validate_table, 0, NCASES);
    suite_add_tcase(s, tc);

    tc = tcase_create("result");
    tcase_add_test(tc, test_validate_request_fills_activity);
    tcase_add_test(tc, test_validate_request_without_id_leaves_it_empty);
    tcase_add_test(tc, test_validate_duplicate_key_keeps_the_last);
    tcase_add_test(tc, test_validate_message_reads_received_at);
    tcase_add_test(tc, test_validate_failure_resets_out_and_report);
    suite_add_tcase(s, tc);

    tc = tcase_create("report");
    tcase_add_test(tc, test_validate_reports_every_invalid_field);
    tcase_add_test(tc, test_validate_reports_each_payload_problem);
    tcase_add_test(tc, test_validate_report_is_capped);
    tcase_add_test(tc, test_validate_long_names_are_cut_safely);
    suite_add_tcase(s, tc);

    tc = tcase_create("limits");
    tcase_add_test(tc, test_validate_payload_depth_limit);
    tcase_add_test(tc, test_validate_body_depth_limit);
    tcase_add_test(tc, test_validate_name_length_limit);
    suite_add_tcase(s, tc);

    tc = tcase_create("bytes");
    tcase_add_test(tc, test_validate_rejects_bytes_after_a_nul);
    tcase_add_test(tc, test_validate_reads_only_len_bytes);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(validate_suite)
