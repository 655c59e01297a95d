/* SPDX-License-Identifier: MIT */
#include "common/failover.h"

#include <check.h>
#include <stdlib.h>

#include "unit_main.h"

#define BASE 100
#define MAX  5000

START_TEST(test_failover_one_broker_is_the_plain_backoff)
{
    failover_t f;
    failover_init(&f, 1, BASE, MAX, 7);
    uint32_t prev = 0;
    for (int i = 0; i < 8; i++) {
        uint32_t d = failover_failed(&f, 0);
        ck_assert_uint_eq(failover_current(&f), 0);
        ck_assert_uint_ge(d, prev / 2); /* grows (with jitter), never immediate */
        ck_assert_uint_gt(d, 0);
        ck_assert_uint_le(d, MAX);
        ck_assert_int_eq(failover_in_round(&f), false);
        prev = d;
    }
    ck_assert_uint_ge(prev, MAX / 2);
}
END_TEST

START_TEST(test_failover_moves_to_the_next_at_once_then_backs_off)
{
    failover_t f;
    failover_init(&f, 3, BASE, MAX, 1);
    ck_assert_uint_eq(failover_current(&f), 0);
    ck_assert_uint_eq(failover_failed(&f, 0), 0);
    ck_assert_uint_eq(failover_current(&f), 1);
    ck_assert_int_eq(failover_in_round(&f), true);
    ck_assert_uint_eq(failover_failed(&f, 0), 0);
    ck_assert_uint_eq(failover_current(&f), 2);
    /* Every broker failed in a row: wait, then start again from the first. */
    uint32_t d = failover_failed(&f, 0);
    ck_assert_uint_ge(d, BASE / 2);
    ck_assert_uint_le(d, BASE);
    ck_assert_uint_eq(failover_current(&f), 0);
    ck_assert_int_eq(failover_in_round(&f), false);
}
END_TEST

START_TEST(test_failover_loss_moves_on_from_the_broker_in_use)
{
    failover_t f;
    failover_init(&f, 3, BASE, MAX, 1);
    ck_assert_uint_eq(failover_failed(&f, 0), 0); /* 0 refused: connect to 1 */
    failover_connected(&f, 10);
    ck_assert_uint_eq(failover_current(&f), 1);
    /* 1 dies after a while: try 2 at once, then 0 at once, then wait. */
    failover_tick(&f, 100000);
    ck_assert_int_eq(failover_in_round(&f), false);
    ck_assert_uint_eq(failover_failed(&f, 100000), 0);
    ck_assert_uint_eq(failover_current(&f), 2);
    ck_assert_uint_eq(failover_failed(&f, 100001), 0);
    ck_assert_uint_eq(failover_current(&f), 0);
    ck_assert_uint_gt(failover_failed(&f, 100002), 0);
    ck_assert_uint_eq(failover_current(&f), 0);
    /* Sticky: a connection to 0 is kept, nothing moves while it lasts. */
    failover_connected(&f, 200000);
    failover_tick(&f, 300000);
    ck_assert_uint_eq(failover_current(&f), 0);
}
END_TEST

START_TEST(test_failover_flapping_brokers_are_retried_ever_more_slowly)
{
    /* Every broker accepts and drops at once: each round ends in a longer wait. */
    failover_t f;
    failover_init(&f, 2, BASE, MAX, 3);
    int64_t now = 0;
    uint32_t waits[6];
    for (int round = 0; round < 6; round++) {
        failover_connected(&f, now);
        ck_assert_uint_eq(failover_failed(&f, now + 1), 0);
        failover_connected(&f, now + 2);
        waits[round] = failover_failed(&f, now + 3);
        ck_assert_uint_gt(waits[round], 0);
        now += waits[round] + 10;
    }
    ck_assert_uint_ge(waits[5], MAX / 2);
}
END_TEST

START_TEST(test_failover_backoff_starts_over_after_a_lasting_connection)
{
    failover_t f;
    failover_init(&f, 1, BASE, MAX, 3);
    for (int i = 0; i < 10; i++)
        failover_failed(&f, 0);
    failover_connected(&f, 1000);
    /* It lasted the cap: the next loss waits the base delay again. */
    uint32_t d = failover_failed(&f, 1000 + MAX);
    ck_assert_uint_le(d, BASE);
    /* A short-lived one does not reset, nor one lost a millisecond before the cap. */
    for (int i = 0; i < 10; i++)
        failover_failed(&f, 0);
    failover_connected(&f, 1000);
    ck_assert_uint_ge(failover_failed(&f, 1001), MAX / 2);
    failover_connected(&f, 2000);
    ck_assert_uint_ge(failover_failed(&f, 2000 + MAX - 1), MAX / 2);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("failover");
    TCase *tc = tcase_create("rotation");
    tcase_add_test(tc, test_failover_one_broker_is_the_plain_backoff);
    tcase_add_test(tc, test_failover_moves_to_the_next_at_once_then_backs_off);
    tcase_add_test(tc, test_failover_loss_moves_on_from_the_broker_in_use);
    suite_add_tcase(s, tc);
    TCase *bo = tcase_create("backoff");
    tcase_add_test(bo, test_failover_flapping_brokers_are_retried_ever_more_slowly);
    tcase_add_test(bo, test_failover_backoff_starts_over_after_a_lasting_connection);
    suite_add_tcase(s, bo);
    return s;
}

UNIT_MAIN(suite)
