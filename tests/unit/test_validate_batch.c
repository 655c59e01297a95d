/* SPDX-License-Identifier: MIT */
#include "common/validate_batch.h"

#include <check.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit_main.h"

#define EV(user, ts)                                                                               \
    "{\"userId\":\"" user "\",\"eventType\":\"click\",\"timestamp\":\"" ts "\",\"payload\":{}}"
#define GOOD EV("u1", "2024-05-01T12:00:00Z")

static int run(const char *body, size_t max, validate_batch_out_t *out, validate_report_t *rep)
{
    return validate_batch(body, strlen(body), max, out, rep);
}

START_TEST(test_validate_batch_accepts_events_in_order)
{
    const char *body = "{\"events\":[" EV("a", "2024-05-01T12:00:00Z") "," EV(
        "b", "2024-05-01T12:00:01+02:00") ",{\"id\":\"0190F5A6-3C2E-7D41-9B7A-2F1E8C4D5A60\","
                                          "\"userId\":\"c\",\"eventType\":\"v\",\"timestamp\":"
                                          "\"2024-05-01T12:00:02Z\",\"payload\":{\"n\":[1,2]}}]}";
    validate_batch_out_t out;
    validate_report_t rep;
    ck_assert_int_eq(run(body, 500, &out, &rep), 0);
    ck_assert_uint_eq(out.count, 3);
    static const char *const users[] = {"a", "b", "c"};
    for (size_t i = 0; i < 3; i++) {
        ck_assert_uint_eq(out.events[i].user_id_len, 1);
        ck_assert_int_eq(out.events[i].user_id[0], users[i][0]);
        ck_assert_ptr_nonnull(out.events[i].root);
        ck_assert_ptr_nonnull(out.events[i].payload);
    }
    ck_assert_str_eq(out.events[0].id, "");
    ck_assert_str_eq(out.events[2].id, "0190f5a6-3c2e-7d41-9b7a-2f1e8c4d5a60");
    ck_assert_int_eq(out.events[1].timestamp_ms, 1714557601000); /* 10:00:01Z */
    /* Each event owns its own tree: releasing one leaves the others usable. */
    activity_deinit(&out.events[0]);
    ck_assert_int_eq(json_object_object_length(out.events[2].payload), 1);
    validate_batch_free(&out);
    ck_assert_ptr_null(out.events);
    ck_assert_uint_eq(out.count, 0);
}
END_TEST

typedef struct bad_case {
    const char *name;
    const char *body;
    size_t max;
    unsigned total;
    const char *field0, *message0; /* the first error */
    const char *field1;            /* the second, or NULL */
} bad_case_t;

static const bad_case_t bad[] = {
    {"not JSON", "{\"events\":[", 500, 1, "body", NULL, NULL},
    {"not an object", "[" GOOD "]", 500, 1, "body", "must be a JSON object", NULL},
    {"empty", "  ", 500, 1, "body", "must not be empty", NULL},
    {"trailing garbage", "{\"events\":[" GOOD "]} x", 500, 1, "body", NULL, NULL},
    {"no events", "{}", 500, 1, "events", "is required", NULL},
    {"events not an array", "{\"events\":" GOOD "}", 500, 1, "events", "must be an array of events",
     NULL},
    {"empty array", "{\"events\":[]}", 500, 1, "events", "must hold at least 1 event", NULL},
    {"too many", "{\"events\":[" GOOD "," GOOD "," GOOD "]}", 2, 1, "events",
     "must hold at most 2 events (got 3)", NULL},
    {"element not an object", "{\"events\":[" GOOD ",7]}", 500, 1, "events[1]", "must be an object",
     NULL},
    {"bad timestamp in event 1", "{\"events\":[" GOOD "," EV("u2", "2024-02-30T00:00:00Z") "]}",
     500, 1, "events[1].timestamp", NULL, NULL},
    {"errors of two events", "{\"events\":[" EV("", "x") "," GOOD ",{\"payload\":[]}]}", 500, 6,
     "events[0].userId", "must not be empty", "events[0].timestamp"},
    {"unknown key in an event",
     "{\"events\":[{\"extra\":1,\"userId\":\"u\",\"eventType\":\"e\","
     "\"timestamp\":\"2024-05-01T12:00:00Z\",\"payload\":{}}]}",
     500, 1, "events[0].extra", "unknown field", NULL},
    {"payload rule in an event",
     "{\"events\":[" GOOD ",{\"userId\":\"u\",\"eventType\":\"e\","
     "\"timestamp\":\"2024-05-01T12:00:00Z\",\"payload\":{\"$x\":1}}]}",
     500, 1, "events[1].payload", "keys must not start with '$' (payload.$x)", NULL},
    {"unknown top-level key", "{\"events\":[" GOOD "],\"extra\":true}", 500, 1, "extra",
     "unknown field", NULL},
    {"empty top-level key", "{\"\":1,\"events\":[" GOOD "]}", 500, 1, "[\"\"]", "unknown field",
     NULL},
    {"top-level key body", "{\"body\":1,\"events\":[" GOOD "]}", 500, 1, "[\"body\"]",
     "unknown field", NULL},
    {"empty key in an event",
     "{\"events\":[{\"\":1,\"userId\":\"u\",\"eventType\":\"e\","
     "\"timestamp\":\"2024-05-01T12:00:00Z\",\"payload\":{}}]}",
     500, 1, "events[0][\"\"]", "unknown field", NULL},
    {"events twice", "{\"events\":[" GOOD "],\"events\":[" GOOD "]}", 500, 1, "events",
     "must appear once", NULL},
};

START_TEST(test_validate_batch_reports_every_error_with_its_place)
{
    const bad_case_t *c = &bad[_i];
    validate_batch_out_t out;
    validate_report_t rep;
    ck_assert_msg(run(c->body, c->max, &out, &rep) == ERR_INVAL, "%s", c->name);
    ck_assert_ptr_null(out.events);
    ck_assert_uint_eq(out.count, 0);
    ck_assert_uint_eq(rep.total, c->total);
    ck_assert_str_eq(rep.errors[0].field, c->field0);
    if (c->message0 != NULL)
        ck_assert_str_eq(rep.errors[0].message, c->message0);
    if (c->field1 != NULL)
        ck_assert_str_eq(rep.errors[1].field, c->field1);
    for (unsigned i = 0; i < rep.count; i++)
        ck_assert_uint_gt(strlen(rep.errors[i].field), 0);
}
END_TEST

START_TEST(test_validate_batch_long_names_are_cut_on_a_character)
{
    /* 40 x "é" (80 bytes) as an unknown key: the field is cut whole characters short of 64
     * bytes, ends with "...", and stays valid UTF-8. */
    char body[512];
    char key[81];
    for (int i = 0; i < 40; i++)
        memcpy(key + 2 * i, "\xc3\xa9", 2);
    key[80] = '\0';
    snprintf(body, sizeof(body),
             "{\"events\":[{\"%s\":1,\"userId\":\"u\",\"eventType\":\"e\",\"timestamp\":"
             "\"2024-05-01T12:00:00Z\",\"payload\":{}}]}",
             key);
    validate_batch_out_t out;
    validate_report_t rep;
    ck_assert_int_eq(run(body, 500, &out, &rep), ERR_INVAL);
    const char *f = rep.errors[0].field;
    size_t len = strlen(f);
    ck_assert_uint_lt(len, VALIDATE_FIELD_MAX);
    ck_assert_str_eq(f + len - 3, "...");
    ck_assert_int_eq(strncmp(f, "events[0].", 10), 0);
    /* Every multi-byte sequence before the "..." is whole. */
    for (size_t i = 10; i < len - 3; i += 2)
        ck_assert_int_eq(memcmp(f + i, "\xc3\xa9", 2), 0);
}
END_TEST

START_TEST(test_validate_batch_report_is_capped_and_counts_all)
{
    static char body[64 * 1024];
    size_t n = (size_t)snprintf(body, sizeof(body), "{\"events\":[");
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(body + n, sizeof(body) - n, "%s" EV("", "2024-05-01T12:00:00Z"),
                              i ? "," : "");
    snprintf(body + n, sizeof(body) - n, "]}");
    validate_batch_out_t out;
    validate_report_t rep;
    ck_assert_int_eq(run(body, 500, &out, &rep), ERR_INVAL);
    ck_assert_uint_eq(rep.count, VALIDATE_ERRORS_MAX);
    ck_assert_uint_eq(rep.total, 100);
    ck_assert_str_eq(rep.errors[63].field, "events[63].userId");
}
END_TEST

START_TEST(test_validate_batch_beyond_the_limit_is_scanned_not_validated)
{
    /* 600 elements, the last one not an event: only the count is reported, and the JSON of
     * all of them is still checked. */
    static char body[256 * 1024];
    size_t n = (size_t)snprintf(body, sizeof(body), "{\"events\":[");
    for (int i = 0; i < 600; i++)
        n += (size_t)snprintf(body + n, sizeof(body) - n, "%s%s", i ? "," : "",
                              i == 599 ? "7" : GOOD);
    snprintf(body + n, sizeof(body) - n, "]}");
    validate_batch_out_t out;
    validate_report_t rep;
    ck_assert_int_eq(run(body, 500, &out, &rep), ERR_INVAL);
    ck_assert_uint_eq(rep.total, 1);
    ck_assert_str_eq(rep.errors[0].message, "must hold at most 500 events (got 600)");
    body[n - 1] = '}'; /* breaks the JSON of the last element: a body error */
    ck_assert_int_eq(run(body, 500, &out, &rep), ERR_INVAL);
    ck_assert_str_eq(rep.errors[0].field, "body");
}
END_TEST

static Suite *validate_batch_suite(void)
{
    Suite *s = suite_create("validate_batch");
    TCase *tc = tcase_create("batch");
    tcase_add_test(tc, test_validate_batch_accepts_events_in_order);
    tcase_add_loop_test(tc, test_validate_batch_reports_every_error_with_its_place, 0,
                        (int)(sizeof(bad) / sizeof(bad[0])));
    tcase_add_test(tc, test_validate_batch_report_is_capped_and_counts_all);
    tcase_add_test(tc, test_validate_batch_long_names_are_cut_on_a_character);
    tcase_add_test(tc, test_validate_batch_beyond_the_limit_is_scanned_not_validated);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(validate_batch_suite)
