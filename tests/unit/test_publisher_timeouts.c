/* SPDX-License-Identifier: MIT */
/*
 * publisher: confirmation timeouts. A job not settled by its deadline is answered TIMEOUT once;
 * its tag stays outstanding at the broker, so it keeps its place in the window until the broker
 * settles it, and a late settlement answers nothing. Every test starts from the fixture in
 * publisher_fake.h (confirm timeout 1000 ms, not yet connected).
 */
#include <check.h>
#include <stdint.h>

#include "api/publisher.h"
#include "publisher_fake.h"

START_TEST(test_publisher_confirm_timeout_answers_once)
{
    fx_up(&fx);
    int64_t t0 = fx.now;
    fx_submit(&fx, 1);
    fx.now += 400;
    fx_submit(&fx, 2);
    ck_assert_int_eq(publisher_next_wake_ms(fx.p, fx.now), 600);

    fx.now = t0 + 999;
    ck_assert_int_eq(fx_pump(&fx), 0);
    ck_assert_uint_eq(fx.ndone, 0);
    ck_assert_int_eq(publisher_next_wake_ms(fx.p, fx.now), 1);

    fx.now = t0 + 1000; /* the deadline itself has passed */
    ck_assert_int_eq(fx_pump(&fx), 0);
    fx_expect_outcomes(&fx, 1, "T-");
    ck_assert_int_eq(publisher_next_wake_ms(fx.p, fx.now), 400);
    /* The tag is still outstanding at the broker: it keeps its place in the window. */
    ck_assert_uint_eq(publisher_inflight(fx.p), 2);

    fx.now += 10;
    fx_push_ack(&fx, 2, true); /* covers the timed-out tag 1 too */
    fx_pump(&fx);
    fx_expect_outcomes(&fx, 1, "TC");
    ck_assert_uint_eq(publisher_inflight(fx.p), 0);
    ck_assert_int_eq(publisher_next_wake_ms(fx.p, fx.now), -1);

    fx.now += 5000;
    fx_pump(&fx);
    ck_assert_uint_eq(fx.ndone, 2);
    ck_assert_uint_eq(fx_counter(&publisher_stats(fx.p)->timed_out), 1);
    ck_assert_uint_eq(fx_counter(&publisher_stats(fx.p)->confirmed), 1);
    fx_destroy(&fx);
    ck_assert_uint_eq(fx.ndone, 2);
}
END_TEST

START_TEST(test_publisher_ack_read_in_the_deadline_pump_wins)
{
    fx_up(&fx);
    fx_submit_range(&fx, 1, 2);
    fx.now += 1000;
    fx_push_ack(&fx, 1, false);
    fx_pump(&fx); /* events are read before deadlines are checked */
    fx_expect_outcomes(&fx, 1, "CT");
}
END_TEST

START_TEST(test_publisher_timeout_skips_tags_settled_out_of_order)
{
    fx_up(&fx);
    fx_submit_range(&fx, 1, 4);
    fx_push_ack(&fx, 2, false);
    fx_push_nack(&fx, 4, false);
    fx_pump(&fx);
    fx.now += 2000;
    fx_pump(&fx);
    fx_expect_outcomes(&fx, 1, "TCTR");
    ck_assert_uint_eq(fx_counter(&publisher_stats(fx.p)->timed_out), 2);
    ck_assert_int_eq(publisher_next_wake_ms(fx.p, fx.now), -1);
    /* Late settlements of timed-out tags answer nothing. */
    fx_push_nack(&fx, 3, false);
    fx_push_ack(&fx, 1, false);
    fx_pump(&fx);
    ck_assert_uint_eq(fx.ndone, 4);
    ck_assert_uint_eq(publisher_inflight(fx.p), 0);
    fx_destroy(&fx);
    ck_assert_uint_eq(fx.ndone, 4);
}
END_TEST

START_TEST(test_publisher_timed_out_tags_hold_the_window_until_settled)
{
    fx_up_with_window(2);
    fx_submit_range(&fx, 1, 2);
    fx.now += 1000;
    fx_pump(&fx);
    fx_expect_outcomes(&fx, 1, "TT");
    ck_assert_int_eq(publisher_wants_jobs(fx.p), false);
    fx_submit(&fx, 3);
    fx_expect_done(&fx, 3, PUB_UNAVAILABLE);
    ck_assert_int_eq(fx.publish_calls, 2);
    fx_push_nack(&fx, 2, true);
    fx_pump(&fx);
    ck_assert_uint_eq(fx.ndone, 3);
    ck_assert_int_eq(publisher_wants_jobs(fx.p), true);
    fx_submit(&fx, 4);
    ck_assert_uint_eq(fx_pub_of(&fx, 4)->tag, 3);
}
END_TEST

void publisher_add_timeout_tests(Suite *s)
{
    TCase *tc = fx_tcase(s, "timeouts");
    tcase_add_test(tc, test_publisher_confirm_timeout_answers_once);
    tcase_add_test(tc, test_publisher_ack_read_in_the_deadline_pump_wins);
    tcase_add_test(tc, test_publisher_timeout_skips_tags_settled_out_of_order);
    tcase_add_test(tc, test_publisher_timed_out_tags_hold_the_window_until_settled);
}
