/* SPDX-License-Identifier: MIT */
#include "common/err.h"

#include <check.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "unit_main.h"

/* ---- names and messages ---- */

START_TEST(test_err_names_every_code)
{
#define CHECK_NAME(name, code, msg)                                                                \
    ck_assert_str_eq(err_name(code), "ERR_" #name);                                                \
    ck_assert_str_eq(err_default_msg(code), msg);
    ERR_LIST(CHECK_NAME)
#undef CHECK_NAME
    ck_assert_str_eq(err_name(ERR_RANGE), "ERR_RANGE");
    ck_assert_str_eq(err_default_msg(ERR_TIMEOUT), "timed out");
}
END_TEST

START_TEST(test_err_codes_are_negative_and_distinct)
{
    static const int codes[] = {
#define CODE(name, code, msg) code,
        ERR_LIST(CODE)
#undef CODE
    };
    size_t n = sizeof(codes) / sizeof(codes[0]);
    ck_assert_uint_eq(n, 12);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_lt(codes[i], 0);
        for (size_t j = i + 1; j < n; j++)
            ck_assert_int_ne(codes[i], codes[j]);
    }
}
END_TEST

START_TEST(test_err_name_of_success_and_unknown)
{
    ck_assert_str_eq(err_name(0), "OK");
    ck_assert_str_eq(err_default_msg(0), "success");
    ck_assert_str_eq(err_name(-1000), "ERR_UNKNOWN");
    ck_assert_str_eq(err_name(5), "ERR_UNKNOWN");
    ck_assert_str_eq(err_default_msg(-1000), "unknown error");
}
END_TEST

/* ---- err_set and err_clear ---- */

START_TEST(test_err_set_formats_message_and_field)
{
    err_t err;
    memset(&err, 0x55, sizeof(err));
    ck_assert_int_eq(err_set(&err, ERR_RANGE, "API_PORT", "got %d, want %s", 70000, "1..65535"),
                     ERR_RANGE);
    ck_assert_int_eq(err.code, ERR_RANGE);
    ck_assert_str_eq(err.field, "API_PORT");
    ck_assert_str_eq(err.msg, "got 70000, want 1..65535");
}
END_TEST

START_TEST(test_err_set_null_field_and_default_message)
{
    err_t err;
    err_set(&err, ERR_INVAL, "old", "old");
    ck_assert_int_eq(err_set(&err, ERR_NOMEM, NULL, NULL), ERR_NOMEM);
    ck_assert_str_eq(err.field, "");
    ck_assert_str_eq(err.msg, "out of memory");
}
END_TEST

START_TEST(test_err_set_null_err_returns_code)
{
    ck_assert_int_eq(err_set(NULL, ERR_TIMEOUT, "x", "ignored %d", 1), ERR_TIMEOUT);
    err_clear(NULL);
}
END_TEST

START_TEST(test_err_set_truncates_long_text)
{
    char longtext[ERR_MSG_MAX * 2];
    err_t err;
    memset(longtext, 'm', sizeof(longtext) - 1);
    longtext[sizeof(longtext) - 1] = '\0';
    err_set(&err, ERR_PARSE, longtext, "%s", longtext);
    ck_assert_uint_eq(strlen(err.msg), ERR_MSG_MAX - 1);
    ck_assert_uint_eq(strlen(err.field), ERR_FIELD_MAX - 1);
}
END_TEST

START_TEST(test_err_clear_resets)
{
    err_t err;
    err_set(&err, ERR_IO, "f", "m");
    err_clear(&err);
    ck_assert_int_eq(err.code, 0);
    ck_assert_str_eq(err.field, "");
    ck_assert_str_eq(err.msg, "");
}
END_TEST

/* ---- allocation and panics ---- */

START_TEST(test_err_xalloc_copies)
{
    char *s = xstrdup("hello");
    ck_assert_str_eq(s, "hello");
    free(s);
    s = xstrndup("hello", 3);
    ck_assert_str_eq(s, "hel");
    free(s);
    int *z = xcalloc(4, sizeof(int));
    ck_assert_int_eq(z[0] | z[1] | z[2] | z[3], 0);
    z = xrealloc(z, 8 * sizeof(int));
    ck_assert_int_eq(z[3], 0);
    free(z);
    void *p = xmalloc(0);
    ck_assert_ptr_nonnull(p);
    free(p);
}
END_TEST

START_TEST(test_err_panic_aborts)
{
    PANIC("deliberate panic %d", 1);
}
END_TEST

static Suite *err_suite(void)
{
    Suite *s = suite_create("err");
    TCase *tc;

    tc = tcase_create("names");
    tcase_add_test(tc, test_err_names_every_code);
    tcase_add_test(tc, test_err_codes_are_negative_and_distinct);
    tcase_add_test(tc, test_err_name_of_success_and_unknown);
    suite_add_tcase(s, tc);

    tc = tcase_create("set");
    tcase_add_test(tc, test_err_set_formats_message_and_field);
    tcase_add_test(tc, test_err_set_null_field_and_default_message);
    tcase_add_test(tc, test_err_set_null_err_returns_code);
    tcase_add_test(tc, test_err_set_truncates_long_text);
    tcase_add_test(tc, test_err_clear_resets);
    suite_add_tcase(s, tc);

    tc = tcase_create("alloc");
    tcase_add_test(tc, test_err_xalloc_copies);
    tcase_add_test_raise_signal(tc, test_err_panic_aborts, SIGABRT);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(err_suite)
