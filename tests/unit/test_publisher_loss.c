/* SPDX-License-Identifier: MIT */
/*
 * publisher: losing the connection (in next_event, in publish, right after connecting), which
 * answers nothing: every unanswered job waits to be published again on the next connection, and
 * the reconnect backoff starts (one broker here; the rotation over several and the resend itself
 * have their own tests in test_publisher_failover.c); connection.blocked, which refuses new jobs
 * until unblocked; and destroy, which answers what is left. Every test starts from the fixture in
 * publisher_fake.h (one broker, not yet connected).
 */
#include <check.h>
#include <stdatomic.h>
#include <stdint.h>

#include "api/publisher.h"
#include "common/err.h"
#include "publisher_fake.h"

/* Checks the statistics that a loss changes: the window is empty, and the jobs it held wait to
 * be resent instead of being answered. */
static void expect_loss_stats(uint64_t losses, uint64_t unavailable, uint32_t resending)
{
    const publisher_stats_t *st = publisher_stats(fx.p);
    ck_assert_int_eq(publisher_state_get(fx.p), PUB_STATE_DOWN);
    ck_assert_uint_eq(publisher_inflight(fx.p), 0);
    ck_assert_uint_eq(atomic_load(&st->inflight), 0);
    ck_assert_uint_eq(fx_counter(&st->connection_losses), losses);
    ck_assert_uint_eq(fx_counter(&st->unavailable), unavailable);
    ck_assert_uint_eq(atomic_load(&st->resending), resending);
}

/* ---- losing the connection ---- */

START_TEST(test_publisher_loss_from_next_event_keeps_jobs_for_the_next_connection)
{
    fx_up(&fx);
    fx_submit_range(&fx, 1, 3);
    fx.now += 1000;
    fx_pump(&fx); /* 1..3 time out */
    fx_submit_range(&fx, 4, 7);
    fx_push_ack(&fx, 5, false);
    fx_push_error(&fx, ERR_IO);
    fx_push_ack(&fx, 7, true); /* never read: the connection is gone */
    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_LOST);
    ck_assert_int_eq(publisher_last_err(fx.p)->code, ERR_IO);
    ck_assert_str_eq(publisher_last_err(fx.p)->msg, "fake connection lost");

    /* Before the resend, a loss answered 4, 6 and 7 UNAVAILABLE; now they wait. */
    fx_expect_outcomes(&fx, 1, "TTT-C--");
    ck_assert_int_eq(fx.disconnect_calls, 1);
    expect_loss_stats(1, 0, 3);
    ck_assert_uint_eq(fx_counter(&publisher_stats(fx.p)->timed_out), 3);
    ck_assert_uint_eq(fx_counter(&publisher_stats(fx.p)->confirmed), 1);

    /* Down after the only broker failed: new jobs are refused at once; nothing happens before
     * the backoff delay. */
    int64_t d = fx_expect_backoff(&fx, 0);
    ck_assert_int_eq(publisher_wants_jobs(fx.p), true);
    fx_submit(&fx, 8);
    fx_expect_done(&fx, 8, PUB_UNAVAILABLE);
    fx.now += d - 1;
    ck_assert_int_eq(fx_pump(&fx), 0);
    ck_assert_int_eq(fx.connect_calls, 1);

    /* Reconnected: tags start again from 1, the waiting jobs go first, and confirms flow. */
    fx.now += 1;
    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_CONNECTED);
    ck_assert_int_eq(publisher_state_get(fx.p), PUB_STATE_UP);
    fx_submit_range(&fx, 9, 10);
    static const uint64_t order[] = {4, 6, 7, 9, 10};
    for (uint64_t i = 0; i < 5; i++) {
        ck_assert_uint_eq(fx_pub_of(&fx, order[i])->conn, 2);
        ck_assert_uint_eq(fx_pub_of(&fx, order[i])->tag, i + 1);
    }
    ck_assert_uint_eq(fx_counter(&publisher_stats(fx.p)->republished), 3);
    ck_assert_uint_eq(atomic_load(&publisher_stats(fx.p)->resending), 0);
    fx_push_ack(&fx, 4, true);
    fx_pump(&fx);
    fx_expect_outcomes(&fx, 1, "TTTCCCCUC-");
    ck_assert_uint_eq(publisher_inflight(fx.p), 1);
    ck_assert_uint_eq(fx.ndone, 9);
    fx_destroy(&fx);
    fx_expect_done(&fx, 10, PUB_UNAVAILABLE);
    ck_assert_uint_eq(fx.ndone, 10);
}
END_TEST

START_TEST(test_publisher_loss_from_publish_resends_the_failed_job_too)
{
    fx_up(&fx);
    fx_submit_range(&fx, 1, 3);
    fx_push_ack(&fx, 1, false);
    fx_pump(&fx);
    fx.publish_fail_code = ERR_IO;
    fx_submit(&fx, 4);
    /* The failed publish may or may not have reached the broker: 4 waits with 2 and 3. */
    fx_expect_outcomes(&fx, 1, "C---");
    ck_assert_int_eq(fx.disconnect_calls, 1);
    expect_loss_stats(1, 0, 3);
    ck_assert_uint_eq(fx_counter(&publisher_stats(fx.p)->published), 3);

    /* The amqp thread pumps right after submitting: too early for a reconnect. */
    int64_t d = fx_expect_backoff(&fx, 0);
    ck_assert_int_eq(fx_pump(&fx) & PUB_PUMP_CONNECTED, 0);
    ck_assert_int_eq(fx.connect_calls, 1);
    fx.now += d;
    ck_assert_int_eq(fx_pump(&fx) & PUB_PUMP_CONNECTED, PUB_PUMP_CONNECTED);
    fx_submit(&fx, 5);
    for (uint64_t t = 2; t <= 5; t++) {
        ck_assert_uint_eq(fx_pub_of(&fx, t)->conn, 2);
        ck_assert_uint_eq(fx_pub_of(&fx, t)->tag, t - 1);
    }
    fx_push_ack(&fx, 4, true);
    fx_pump(&fx);
    fx_expect_outcomes(&fx, 1, "CCCCC");
    ck_assert_uint_eq(fx_counter(&publisher_stats(fx.p)->published), 7);
    ck_assert_uint_eq(fx_counter(&publisher_stats(fx.p)->republished), 3);
    fx_destroy(&fx);
    ck_assert_uint_eq(fx.ndone, 5);
}
END_TEST

/* The caller logs what publisher_pump reports. A loss seen by publish happens inside
 * publisher_submit, which returns nothing, so the next pump must report it (with the
 * reason still in publisher_last_err), or the loss would go unlogged. */
START_TEST(test_publisher_loss_in_publish_is_reported_by_next_pump)
{
    fx_up(&fx);
    fx_submit(&fx, 1);
    fx.publish_fail_code = ERR_CLOSED;
    fx_submit(&fx, 2);
    ck_assert_int_eq(publisher_state_get(fx.p), PUB_STATE_DOWN);
    int flags = fx_pump(&fx);
    ck_assert_int_eq(flags & PUB_PUMP_LOST, PUB_PUMP_LOST);
    ck_assert_int_eq(publisher_last_err(fx.p)->code, ERR_CLOSED);
    /* Reported once. */
    ck_assert_int_eq(fx_pump(&fx) & PUB_PUMP_LOST, 0);
    fx_expect_outcomes(&fx, 1, "--"); /* both wait to be resent */
}
END_TEST

START_TEST(test_publisher_loss_right_after_connect_reports_both)
{
    fx.error_on_connect = ERR_PROTO;
    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_CONNECTED | PUB_PUMP_LOST);
    ck_assert_int_eq(publisher_state_get(fx.p), PUB_STATE_DOWN);
    ck_assert_int_eq(publisher_last_err(fx.p)->code, ERR_PROTO);
    ck_assert_int_eq(fx.disconnect_calls, 1);
    fx.now += fx_expect_backoff(&fx, 0);

    fx_up(&fx);
    fx_push_kind(&fx, PUB_EV_BLOCKED);
    fx_push_error(&fx, ERR_UNAVAIL);
    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_BLOCKED | PUB_PUMP_LOST);
    ck_assert_int_eq(atomic_load(&publisher_stats(fx.p)->blocked), 0);
    ck_assert_uint_eq(fx_counter(&publisher_stats(fx.p)->connects), 2);
    ck_assert_uint_eq(fx_counter(&publisher_stats(fx.p)->connection_losses), 2);
    ck_assert_int_eq(fx.disconnect_calls, 2);
}
END_TEST

/* ---- connection.blocked ---- */

START_TEST(test_publisher_blocked_refuses_submits_until_unblocked)
{
    fx_up(&fx);
    fx_submit(&fx, 1);
    fx_push_kind(&fx, PUB_EV_BLOCKED);
    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_BLOCKED);
    ck_assert_int_eq(atomic_load(&publisher_stats(fx.p)->blocked), 1);
    ck_assert_int_eq(publisher_state_get(fx.p), PUB_STATE_UP);
    fx_submit_range(&fx, 2, 3);
    fx_expect_outcomes(&fx, 2, "UU");
    ck_assert_int_eq(fx.publish_calls, 1);
    /* Messages already in flight still settle. */
    fx_push_ack(&fx, 1, false);
    ck_assert_int_eq(fx_pump(&fx), 0);
    fx_expect_done(&fx, 1, PUB_CONFIRMED);

    fx_push_kind(&fx, PUB_EV_UNBLOCKED);
    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_UNBLOCKED);
    ck_assert_int_eq(atomic_load(&publisher_stats(fx.p)->blocked), 0);
    fx_submit(&fx, 4);
    ck_assert_uint_eq(fx_pub_of(&fx, 4)->tag, 2);
    fx_expect_open(&fx, 4);
}
END_TEST

START_TEST(test_publisher_loss_clears_blocked)
{
    fx_up(&fx);
    fx_push_kind(&fx, PUB_EV_BLOCKED);
    fx_pump(&fx);
    fx_push_error(&fx, ERR_IO);
    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_LOST);
    ck_assert_int_eq(atomic_load(&publisher_stats(fx.p)->blocked), 0);
    fx.now += fx_expect_backoff(&fx, 0);
    fx_up(&fx);
    fx_submit(&fx, 1); /* the new connection is not blocked */
    ck_assert_uint_eq(fx_pub_of(&fx, 1)->tag, 1);
    fx_expect_open(&fx, 1);
}
END_TEST

/* ---- destroy ---- */

START_TEST(test_publisher_destroy_answers_the_rest_unavailable)
{
    fx_up(&fx);
    fx_submit_range(&fx, 1, 2);
    fx.now += 1000;
    fx_submit_range(&fx, 3, 5);
    fx_push_ack(&fx, 4, false);
    fx_pump(&fx); /* 1, 2 time out; 4 confirmed */
    int disconnects = fx.disconnect_calls;
    fx_destroy(&fx);
    fx_expect_outcomes(&fx, 1, "TTUCU");
    ck_assert_uint_eq(fx.ndone, 5);
    ck_assert_int_eq(fx.disconnect_calls, disconnects + 1);
}
END_TEST

START_TEST(test_publisher_destroy_before_connecting)
{
    fx_destroy(&fx);
    ck_assert_uint_eq(fx.ndone, 0);
    ck_assert_int_eq(fx.connect_calls, 0);
    ck_assert_int_eq(fx.disconnect_calls, 1); /* "safe when not connected" */
}
END_TEST

void publisher_add_loss_tests(Suite *s)
{
    TCase *tc = fx_tcase(s, "loss");
    tcase_add_test(tc, test_publisher_loss_from_next_event_keeps_jobs_for_the_next_connection);
    tcase_add_test(tc, test_publisher_loss_from_publish_resends_the_failed_job_too);
    tcase_add_test(tc, test_publisher_loss_in_publish_is_reported_by_next_pump);
    tcase_add_test(tc, test_publisher_loss_right_after_connect_reports_both);

    tc = fx_tcase(s, "blocked");
    tcase_add_test(tc, test_publisher_blocked_refuses_submits_until_unblocked);
    tcase_add_test(tc, test_publisher_loss_clears_blocked);

    tc = fx_tcase(s, "destroy");
    tcase_add_test(tc, test_publisher_destroy_answers_the_rest_unavailable);
    tcase_add_test(tc, test_publisher_destroy_before_connecting);
}
