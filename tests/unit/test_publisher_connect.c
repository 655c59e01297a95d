/* SPDX-License-Identifier: MIT */
/*
 * publisher: creating, the first connect, and the capped, jittered backoff between attempts
 * (also when connections are accepted and dropped at once). Every test starts from the fixture
 * in publisher_fake.h: a publisher with fx_default_opts that has not tried to connect yet.
 */
#include <check.h>
#include <stdint.h>

#include "api/publisher.h"
#include "common/err.h"
#include "publisher_fake.h"

START_TEST(test_publisher_create_refuses_zero_inflight)
{
    publisher_opts_t o = fx_default_opts;
    o.max_inflight = 0;
    pub_transport_t t = fx_transport(&fx);
    ck_assert_ptr_null(publisher_create(&o, &t, fx_on_complete, &fx));
    publisher_destroy(NULL);
    ck_assert_int_eq(fx.connect_calls, 0);
}
END_TEST

START_TEST(test_publisher_first_pump_connects)
{
    ck_assert_int_eq(publisher_state_get(fx.p), PUB_STATE_CONNECTING);
    ck_assert_int_eq(publisher_next_wake_ms(fx.p, fx.now), 0);
    ck_assert_int_eq(publisher_wants_jobs(fx.p), true);
    ck_assert_int_eq(fx.connect_calls, 0);

    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_CONNECTED);
    ck_assert_int_eq(publisher_state_get(fx.p), PUB_STATE_UP);
    ck_assert_int_eq(fx.connect_calls, 1);
    ck_assert_int_eq(fx.disconnect_calls, 0);
    ck_assert_int_ge(fx.next_event_calls, 1); /* events are read in the same pump */
    ck_assert_uint_eq(fx_counter(&publisher_stats(fx.p)->connects), 1);
    ck_assert_int_eq(publisher_next_wake_ms(fx.p, fx.now), -1); /* nothing timed */
    ck_assert_uint_eq(publisher_inflight(fx.p), 0);
    ck_assert_int_eq(publisher_wants_jobs(fx.p), true);

    /* Further pumps neither reconnect nor report anything. */
    fx.now += 5000;
    ck_assert_int_eq(fx_pump(&fx), 0);
    ck_assert_int_eq(fx.connect_calls, 1);
    fx_destroy(&fx);
    ck_assert_int_eq(fx.disconnect_calls, 1);
}
END_TEST

START_TEST(test_publisher_connect_failure_reports_error_and_waits)
{
    fx.connect_failures_left = 1;
    fx.connect_fail_code = ERR_UNAVAIL;
    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_CONNECT_FAILED);
    ck_assert_int_eq(publisher_state_get(fx.p), PUB_STATE_CONNECTING);
    ck_assert_int_eq(publisher_last_err(fx.p)->code, ERR_UNAVAIL);
    ck_assert_str_eq(publisher_last_err(fx.p)->msg, "fake connect failure 1");
    ck_assert_int_eq(fx.disconnect_calls, 1); /* a half-open connection is dropped */
    ck_assert_uint_eq(fx_counter(&publisher_stats(fx.p)->connects), 0);
    ck_assert_uint_eq(fx_counter(&publisher_stats(fx.p)->connection_losses), 0);
    ck_assert_int_eq(fx.next_event_calls, 0);

    int64_t d = fx_expect_backoff(&fx, 0);
    ck_assert_int_eq(publisher_wants_jobs(fx.p), true); /* refused at once, not queued */

    /* Before the delay: nothing, not even an attempt. */
    fx.now += d - 1;
    ck_assert_int_eq(fx_pump(&fx), 0);
    ck_assert_int_eq(fx.connect_calls, 1);
    ck_assert_int_eq(publisher_next_wake_ms(fx.p, fx.now), 1);
    fx.now += 1;
    ck_assert_int_eq(publisher_next_wake_ms(fx.p, fx.now), 0);
    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_CONNECTED);
    ck_assert_int_eq(fx.connect_calls, 2);
    ck_assert_int_eq(publisher_state_get(fx.p), PUB_STATE_UP);
}
END_TEST

/* Lets n connects in a row fail (attempts first, first + 1, ...); after each, checks that the
 * state is still `state` and the delay a valid draw for the attempt, then waits that delay. */
static void fail_connects(uint32_t n, uint32_t first, pub_state_t state)
{
    fx.connect_failures_left = (int)n;
    fx.connect_fail_code = ERR_IO;
    for (uint32_t i = first; i < first + n; i++) {
        ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_CONNECT_FAILED);
        ck_assert_int_eq(publisher_state_get(fx.p), state);
        fx.now += fx_expect_backoff(&fx, i);
    }
}

START_TEST(test_publisher_connect_backoff_grows_and_is_capped)
{
    publisher_opts_t o = fx_default_opts;
    o.backoff_base_ms = 100;
    o.backoff_max_ms = 1000; /* not a power-of-two multiple of base: the cap clips */
    fx_use_opts(&o);
    enum { FAILURES = 40 }; /* past 32 doublings too */
    fx.connect_failures_left = FAILURES;
    fx.connect_fail_code = ERR_IO;
    int64_t prev_cap = 0;
    for (uint32_t i = 0; i < FAILURES; i++) {
        ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_CONNECT_FAILED);
        ck_assert_int_eq(fx.connect_calls, (int)i + 1);
        ck_assert_int_eq(publisher_state_get(fx.p), PUB_STATE_CONNECTING);
        int64_t d = fx_expect_backoff(&fx, i);
        ck_assert_int_ge(fx_cap_of(&o, i), prev_cap);
        prev_cap = fx_cap_of(&o, i);
        fx.now += d - 1;
        ck_assert_int_eq(fx_pump(&fx), 0);
        ck_assert_int_eq(fx.connect_calls, (int)i + 1);
        fx.now += 1;
    }
    ck_assert_int_eq(prev_cap, 1000);
    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_CONNECTED);
    ck_assert_int_eq(fx.disconnect_calls, FAILURES);
}
END_TEST

START_TEST(test_publisher_backoff_jitter_stays_in_range_for_many_seeds)
{
    for (uint64_t seed = 0; seed < 200; seed++) {
        publisher_opts_t o = fx_default_opts;
        o.seed = seed * 0x9E3779B97F4A7C15u;
        o.backoff_base_ms = 3;
        o.backoff_max_ms = 50;
        fx_use_opts(&o);
        fail_connects(8, 0, PUB_STATE_CONNECTING);
        ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_CONNECTED);
    }
}
END_TEST

START_TEST(test_publisher_backoff_restarts_after_a_successful_connect)
{
    fail_connects(3, 0, PUB_STATE_CONNECTING);
    fx_up(&fx);
    /* The connection lasts the longest delay: the delay starts over. */
    fx.now += fx.opts.backoff_max_ms;
    ck_assert_int_eq(fx_pump(&fx), 0);

    /* Lost: the delay starts over from the base ... */
    fx_push_error(&fx, ERR_IO);
    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_LOST);
    ck_assert_int_eq(publisher_state_get(fx.p), PUB_STATE_DOWN);
    fx.now += fx_expect_backoff(&fx, 0);
    /* ... and grows again while the reconnects fail; the state stays DOWN. */
    fail_connects(2, 1, PUB_STATE_DOWN);
    fx_up(&fx);
    ck_assert_uint_eq(fx_counter(&publisher_stats(fx.p)->connects), 2);
    ck_assert_uint_eq(fx_counter(&publisher_stats(fx.p)->connection_losses), 1);
}
END_TEST

START_TEST(test_publisher_backoff_keeps_growing_while_connections_drop_at_once)
{
    /* A broker that accepts every connection and drops it at once (say, a failing node behind a
     * load balancer): each connect succeeds, yet the reconnects slow down as if they failed. */
    fx_up(&fx);
    for (uint32_t i = 0; i < 6; i++) {
        fx_push_error(&fx, ERR_IO);
        fx.now += fx.opts.backoff_max_ms - 1; /* dropped just before it counts as lasting */
        ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_LOST);
        fx.now += fx_expect_backoff(&fx, i);
        fx_up(&fx);
    }
    /* Once one lasts, the next loss retries from the base again. */
    fx.now += fx.opts.backoff_max_ms;
    ck_assert_int_eq(fx_pump(&fx), 0);
    fx_push_error(&fx, ERR_IO);
    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_LOST);
    fx_expect_backoff(&fx, 0);
}
END_TEST

START_TEST(test_publisher_submit_while_not_connected_is_unavailable)
{
    /* Before the first pump. */
    fx_submit(&fx, 1);
    fx_expect_done(&fx, 1, PUB_UNAVAILABLE);
    /* After a failed connect. */
    fx.connect_failures_left = 1;
    fx.connect_fail_code = ERR_UNAVAIL;
    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_CONNECT_FAILED);
    fx_submit(&fx, 2);
    fx_expect_done(&fx, 2, PUB_UNAVAILABLE);
    ck_assert_int_eq(fx.publish_calls, 0);
    ck_assert_uint_eq(publisher_inflight(fx.p), 0);
    ck_assert_uint_eq(fx_counter(&publisher_stats(fx.p)->unavailable), 2);
    ck_assert_uint_eq(fx_counter(&publisher_stats(fx.p)->published), 0);
    fx_destroy(&fx);
    ck_assert_uint_eq(fx.ndone, 2);
}
END_TEST

void publisher_add_connect_tests(Suite *s)
{
    TCase *tc = fx_tcase(s, "connect");
    tcase_add_test(tc, test_publisher_create_refuses_zero_inflight);
    tcase_add_test(tc, test_publisher_first_pump_connects);
    tcase_add_test(tc, test_publisher_connect_failure_reports_error_and_waits);
    tcase_add_test(tc, test_publisher_submit_while_not_connected_is_unavailable);

    tc = fx_tcase(s, "backoff");
    tcase_add_test(tc, test_publisher_connect_backoff_grows_and_is_capped);
    tcase_add_test(tc, test_publisher_backoff_jitter_stays_in_range_for_many_seeds);
    tcase_add_test(tc, test_publisher_backoff_restarts_after_a_successful_connect);
    tcase_add_test(tc, test_publisher_backoff_keeps_growing_while_connections_drop_at_once);
}
