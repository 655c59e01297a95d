/* SPDX-License-Identifier: MIT */
#include "common/backoff.h"

#include <check.h>
#include <stdlib.h>

#include "unit_main.h"

/* ---- growth and cap ---- */

START_TEST(test_backoff_grows_then_caps)
{
    backoff_t b;
    backoff_init(&b, 100, 5000, 1);
    /* Caps: 100, 200, 400, ..., 3200, then 5000 forever. */
    uint32_t cap = 100;
    for (int i = 0; i < 40; i++) {
        uint32_t d = backoff_next_ms(&b);
        ck_assert_uint_ge(d, cap / 2);
        ck_assert_uint_le(d, cap);
        cap = cap * 2 > 5000 ? 5000 : cap * 2;
    }
    ck_assert_uint_eq(b.attempt, 40);
}
END_TEST

START_TEST(test_backoff_max_below_base_caps_at_max)
{
    backoff_t b;
    backoff_init(&b, 1000, 300, 7);
    for (int i = 0; i < 5; i++) {
        uint32_t d = backoff_next_ms(&b);
        ck_assert_uint_ge(d, 150);
        ck_assert_uint_le(d, 300);
    }
}
END_TEST

START_TEST(test_backoff_zero_base_returns_zero)
{
    backoff_t b;
    backoff_init(&b, 0, 1000, 3);
    for (int i = 0; i < 70; i++)
        ck_assert_uint_eq(backoff_next_ms(&b), 0);
}
END_TEST

/* ---- jitter ---- */

START_TEST(test_backoff_jitter_covers_equal_jitter_range)
{
    /* At a fixed cap of 1000, draws stay within [500, 1000] and spread over the range. */
    backoff_t b;
    backoff_init(&b, 1000, 1000, 12345);
    uint32_t lo = UINT32_MAX, hi = 0;
    for (int i = 0; i < 10000; i++) {
        uint32_t d = backoff_next_ms(&b);
        ck_assert_uint_ge(d, 500);
        ck_assert_uint_le(d, 1000);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    ck_assert_uint_le(lo, 505);
    ck_assert_uint_ge(hi, 995);
}
END_TEST

START_TEST(test_backoff_seed_decides_sequence)
{
    backoff_t a, b, c;
    backoff_init(&a, 1000, 1000, 42);
    backoff_init(&b, 1000, 1000, 42);
    backoff_init(&c, 1000, 1000, 43);
    int same = 0;
    for (int i = 0; i < 100; i++) {
        uint32_t x = backoff_next_ms(&a), z = backoff_next_ms(&c);
        ck_assert_uint_eq(x, backoff_next_ms(&b));
        same += x == z;
    }
    ck_assert_int_lt(same, 10);
}
END_TEST

START_TEST(test_backoff_zero_seed_still_jitters)
{
    backoff_t b;
    backoff_init(&b, 1000, 1000, 0);
    uint32_t first = backoff_next_ms(&b);
    int differ = 0;
    for (int i = 0; i < 100; i++)
        differ += backoff_next_ms(&b) != first;
    ck_assert_int_gt(differ, 90);
}
END_TEST

/* ---- reset ---- */

START_TEST(test_backoff_reset_starts_over)
{
    backoff_t b;
    backoff_init(&b, 100, 60000, 9);
    for (int i = 0; i < 10; i++)
        backoff_next_ms(&b);
    ck_assert_uint_eq(b.attempt, 10);
    backoff_reset(&b);
    ck_assert_uint_eq(b.attempt, 0);
    uint32_t d = backoff_next_ms(&b);
    ck_assert_uint_ge(d, 50);
    ck_assert_uint_le(d, 100);
    ck_assert_uint_eq(b.base_ms, 100);
    ck_assert_uint_eq(b.max_ms, 60000);
}
END_TEST

/* ---- overflow ---- */

START_TEST(test_backoff_huge_attempt_counts_do_not_overflow)
{
    static const uint32_t attempts[] = {31, 32, 33, 63, 64, 65, 1000, UINT32_MAX - 1, UINT32_MAX};
    for (size_t i = 0; i < sizeof(attempts) / sizeof(attempts[0]); i++) {
        backoff_t b;
        backoff_init(&b, UINT32_MAX, UINT32_MAX, i);
        b.attempt = attempts[i];
        uint32_t d = backoff_next_ms(&b);
        ck_assert_uint_ge(d, UINT32_MAX / 2);
        /* A small base must not wrap back to small delays either. */
        backoff_init(&b, 3, 30000, i);
        b.attempt = attempts[i];
        d = backoff_next_ms(&b);
        ck_assert_uint_ge(d, 15000);
        ck_assert_uint_le(d, 30000);
    }
}
END_TEST

START_TEST(test_backoff_attempt_saturates)
{
    backoff_t b;
    backoff_init(&b, 10, 1000, 5);
    b.attempt = UINT32_MAX;
    backoff_next_ms(&b);
    ck_assert_uint_eq(b.attempt, UINT32_MAX);
    uint32_t d = backoff_next_ms(&b);
    ck_assert_uint_ge(d, 500);
}
END_TEST

static Suite *backoff_suite(void)
{
    Suite *s = suite_create("backoff");
    TCase *tc;

    tc = tcase_create("growth");
    tcase_add_test(tc, test_backoff_grows_then_caps);
    tcase_add_test(tc, test_backoff_max_below_base_caps_at_max);
    tcase_add_test(tc, test_backoff_zero_base_returns_zero);
    suite_add_tcase(s, tc);

    tc = tcase_create("jitter");
    tcase_add_test(tc, test_backoff_jitter_covers_equal_jitter_range);
    tcase_add_test(tc, test_backoff_seed_decides_sequence);
    tcase_add_test(tc, test_backoff_zero_seed_still_jitters);
    suite_add_tcase(s, tc);

    tc = tcase_create("reset");
    tcase_add_test(tc, test_backoff_reset_starts_over);
    suite_add_tcase(s, tc);

    tc = tcase_create("overflow");
    tcase_add_test(tc, test_backoff_huge_attempt_counts_do_not_overflow);
    tcase_add_test(tc, test_backoff_attempt_saturates);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(backoff_suite)
