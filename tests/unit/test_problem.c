/* SPDX-License-Identifier: MIT */
#include "api/problem.h"

#include <check.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "unit_main.h"

START_TEST(test_problem_format_minimal)
{
    char buf[256];
    problem_t p = {.status = 404, .type = "not-found", .title = "Not Found"};
    size_t n = problem_format(&p, buf, sizeof(buf));
    ck_assert_str_eq(buf, "{\"type\":\"urn:activity-tracker:problem:not-found\","
                          "\"title\":\"Not Found\",\"status\":404}");
    ck_assert_uint_eq(n, strlen(buf));
}
END_TEST

START_TEST(test_problem_format_lists_every_error_and_escapes)
{
    validate_report_t rep = {.count = 2, .total = 2};
    strcpy(rep.errors[0].field, "userId");
    strcpy(rep.errors[0].message, "is required");
    strcpy(rep.errors[1].field, "we\"ird\\\n\x01");
    strcpy(rep.errors[1].message, "unknown field");
    problem_t p = {.status = 400,
                   .type = "invalid-event",
                   .title = "Invalid event",
                   .detail = "2 fields are invalid",
                   .report = &rep};
    char buf[1024];
    size_t n = problem_format(&p, buf, sizeof(buf));
    ck_assert_uint_lt(n, sizeof(buf));
    json_object *root = json_tokener_parse(buf);
    ck_assert_ptr_nonnull(root);
    json_object *errors, *status;
    ck_assert(json_object_object_get_ex(root, "errors", &errors));
    ck_assert_int_eq(json_object_array_length(errors), 2);
    ck_assert(json_object_object_get_ex(root, "status", &status));
    ck_assert_int_eq(json_object_get_int(status), 400);
    json_object *second = json_object_array_get_idx(errors, 1), *field;
    ck_assert(json_object_object_get_ex(second, "field", &field));
    ck_assert_str_eq(json_object_get_string(field), "we\"ird\\\n\x01");
    json_object_put(root);
}
END_TEST

START_TEST(test_problem_format_reports_needed_length_when_short)
{
    char small[16];
    char big[512];
    problem_t p = {.status = 503,
                   .type = "unavailable",
                   .title = "Service Unavailable",
                   .detail = "the broker did not confirm the event",
                   .id = "0190a0b0-..."};
    size_t need = problem_format(&p, small, sizeof(small));
    ck_assert_uint_eq(strlen(small), sizeof(small) - 1);
    size_t got = problem_format(&p, big, sizeof(big));
    ck_assert_uint_eq(need, got);
    ck_assert_uint_eq(got, strlen(big));
    ck_assert_ptr_nonnull(strstr(big, "\"id\":\"0190a0b0-...\""));
}
END_TEST

START_TEST(test_problem_ratelimit_header_values)
{
    char buf[64];
    problem_ratelimit_policy(50, 60000, buf, sizeof(buf));
    ck_assert_str_eq(buf, "\"ip\";q=50;w=60");
    problem_ratelimit_policy(5, 1500, buf, sizeof(buf));
    ck_assert_str_eq(buf, "\"ip\";q=5;w=2");
    problem_ratelimit_value(49, 60, buf, sizeof(buf));
    ck_assert_str_eq(buf, "\"ip\";r=49;t=60");
}
END_TEST

static Suite *problem_suite(void)
{
    Suite *s = suite_create("problem");
    TCase *body = tcase_create("body");
    tcase_add_test(body, test_problem_format_minimal);
    tcase_add_test(body, test_problem_format_lists_every_error_and_escapes);
    tcase_add_test(body, test_problem_format_reports_needed_length_when_short);
    suite_add_tcase(s, body);
    TCase *headers = tcase_create("headers");
    tcase_add_test(headers, test_problem_ratelimit_header_values);
    suite_add_tcase(s, headers);
    return s;
}

UNIT_MAIN(problem_suite)
