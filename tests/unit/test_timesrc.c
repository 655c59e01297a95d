/* SPDX-License-Identifier: MIT */
#include "common/timesrc.h"

#include <check.h>
#include <stdlib.h>
#include <time.h>

#include "unit_main.h"

/* ---- real clock ---- */

START_TEST(test_timesrc_real_mono_never_goes_back)
{
    timesrc_t t = timesrc_real();
    int64_t prev = timesrc_mono_ms(&t);
    for (int i = 0; i < 100000; i++) {
        int64_t now = timesrc_mono_ms(&t);
        ck_assert_int_ge(now, prev);
        prev = now;
    }
}
END_TEST

START_TEST(test_timesrc_real_mono_advances)
{
    timesrc_t t = timesrc_real();
    int64_t start = timesrc_mono_ms(&t);
    struct timespec pause = {.tv_sec = 0, .tv_nsec = 20 * 1000000};
    nanosleep(&pause, NULL);
    ck_assert_int_ge(timesrc_mono_ms(&t) - start, 20);
}
END_TEST

START_TEST(test_timesrc_real_wall_is_unix_ms)
{
    /* The bounds come from clock_gettime, not time(): time() reads the kernel's coarse clock,
     * which can still show the previous second when the precise clock has passed it. */
    timesrc_t t = timesrc_real();
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t before = (int64_t)ts.tv_sec * 1000;
    int64_t wall = timesrc_wall_ms(&t);
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t after = (int64_t)ts.tv_sec * 1000 + 1000;
    ck_assert_int_ge(wall, before);
    ck_assert_int_lt(wall, after);
}
END_TEST

/* ---- fake clock ---- */

START_TEST(test_timesrc_fake_reads_what_was_set)
{
    timesrc_fake_t f = {.mono = 5, .wall = 1764099000123};
    timesrc_t t = timesrc_fake_bind(&f);
    ck_assert_int_eq(timesrc_mono_ms(&t), 5);
    ck_assert_int_eq(timesrc_wall_ms(&t), 1764099000123);
    f.mono += 60000;
    f.wall = -1;
    ck_assert_int_eq(timesrc_mono_ms(&t), 60005);
    ck_assert_int_eq(timesrc_wall_ms(&t), -1);
}
END_TEST

START_TEST(test_timesrc_fakes_are_independent)
{
    timesrc_fake_t a = {.mono = 1, .wall = 2}, b = {.mono = 3, .wall = 4};
    timesrc_t ta = timesrc_fake_bind(&a), tb = timesrc_fake_bind(&b);
    a.mono = 100;
    ck_assert_int_eq(timesrc_mono_ms(&ta), 100);
    ck_assert_int_eq(timesrc_mono_ms(&tb), 3);
    ck_assert_int_eq(timesrc_wall_ms(&tb), 4);
}
END_TEST

static Suite *timesrc_suite(void)
{
    Suite *s = suite_create("timesrc");
    TCase *tc;

    tc = tcase_create("real");
    tcase_add_test(tc, test_timesrc_real_mono_never_goes_back);
    tcase_add_test(tc, test_timesrc_real_mono_advances);
    tcase_add_test(tc, test_timesrc_real_wall_is_unix_ms);
    suite_add_tcase(s, tc);

    tc = tcase_create("fake");
    tcase_add_test(tc, test_timesrc_fake_reads_what_was_set);
    tcase_add_test(tc, test_timesrc_fakes_are_independent);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(timesrc_suite)
