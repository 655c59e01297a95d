/* SPDX-License-Identifier: MIT */
/*
 * publisher: failover over a list of brokers (DESIGN §6a). "rotation": the broker each connect
 * targets, through the transport: the next one at once after a refusal or a loss while the round
 * has brokers left, a backoff and broker 0 once all failed in a row, and rounds that only end once
 * a connection lasted, so brokers that accept and drop connections are retried ever more slowly.
 * "resend": what a lost connection left unanswered is published again on the next one, before
 * any new job, in order, with the same id, body and original deadline; it times out while
 * waiting, survives a resend cut short, and is answered UNAVAILABLE by destroy. fx.tried spells
 * the connect history: "0x1+!2+" = broker 0 refused, 1 accepted then lost, 2 accepted. The fake
 * also checks every connect against its own failover model (publisher_fake.h).
 */
#include <check.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "api/publisher.h"
#include "common/err.h"
#include "publisher_fake.h"

/* Starts the fixture over with n brokers (otherwise fx_default_opts), not yet connected. */
static void use_brokers(uint32_t n)
{
    publisher_opts_t o = fx_default_opts;
    o.brokers = n;
    fx_use_opts(&o);
}

static const publisher_stats_t *stats(void)
{
    return publisher_stats(fx.p);
}

/* The tickets published on connection conn (1, 2, ...), in tag order: "4,6,7". */
static const char *conn_tickets(uint32_t conn)
{
    static char buf[128];
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < fx.npubs && n < sizeof(buf); i++)
        if (fx.pubs[i].conn == conn)
            n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%llu", n ? "," : "",
                                  (unsigned long long)fx.pubs[i].ticket);
    return buf;
}

/* ---- rotation ---- */

START_TEST(test_publisher_rotation_tries_the_next_broker_without_waiting)
{
    use_brokers(3);
    fx.refuse_mask = 1u << 0;
    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_CONNECT_FAILED);
    ck_assert_str_eq(fx.tried, "0x");
    ck_assert_int_eq(publisher_state_get(fx.p), PUB_STATE_CONNECTING);
    ck_assert_int_eq(publisher_last_err(fx.p)->code, ERR_UNAVAIL);
    /* Broker 1 is due now: the amqp thread's next pump, at the same time, tries it; meanwhile
     * new jobs wait in the ring. */
    ck_assert_int_eq(publisher_next_wake_ms(fx.p, fx.now), 0);
    ck_assert_int_eq(publisher_wants_jobs(fx.p), false);
    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_CONNECTED);
    ck_assert_str_eq(fx.tried, "0x1+");
    ck_assert_uint_eq(atomic_load(&stats()->broker), 1);
    ck_assert_uint_eq(fx_counter(&stats()->connects), 1);
    ck_assert_uint_eq(fx_counter(&stats()->connection_losses), 0);
    ck_assert_int_eq(publisher_wants_jobs(fx.p), true);
    fx_submit(&fx, 1);
    ck_assert_uint_eq(fx_pub_of(&fx, 1)->conn, 1);
    ck_assert_uint_eq(fx_pub_of(&fx, 1)->tag, 1);
}
END_TEST

START_TEST(test_publisher_rotation_backs_off_after_a_whole_round_then_starts_at_broker_0)
{
    use_brokers(3);
    fx.refuse_mask = 0x7;
    for (int i = 0; i < 3; i++) /* one attempt per pump, all at the same time */
        ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_CONNECT_FAILED);
    ck_assert_str_eq(fx.tried, "0x1x2x");
    int64_t d = fx_expect_backoff(&fx, 0);
    /* No broker answers: jobs are refused at once instead of filling the ring. */
    ck_assert_int_eq(publisher_wants_jobs(fx.p), true);
    fx_submit(&fx, 1);
    fx_expect_done(&fx, 1, PUB_UNAVAILABLE);
    fx.now += d - 1;
    ck_assert_int_eq(fx_pump(&fx), 0);
    ck_assert_str_eq(fx.tried, "0x1x2x");

    /* The next round starts at broker 0; its delay, once it failed too, is the next draw. */
    fx.now += 1;
    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_CONNECT_FAILED);
    ck_assert_int_eq(publisher_wants_jobs(fx.p), false);
    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_CONNECT_FAILED);
    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_CONNECT_FAILED);
    ck_assert_str_eq(fx.tried, "0x1x2x0x1x2x");
    fx.now += fx_expect_backoff(&fx, 1);

    fx.refuse_mask = 1u << 0;
    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_CONNECT_FAILED);
    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_CONNECTED);
    ck_assert_str_eq(fx.tried, "0x1x2x0x1x2x0x1+");
    ck_assert_uint_eq(atomic_load(&stats()->broker), 1);
    ck_assert_int_eq(fx.connect_calls, 8);
}
END_TEST

START_TEST(test_publisher_rotation_moves_on_at_once_when_a_connection_is_lost)
{
    use_brokers(3);
    fx.refuse_mask = 1u << 0;
    fx_pump(&fx);
    fx_up(&fx);
    fx.refuse_mask = 0;
    fx_push_error(&fx, ERR_IO);
    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_LOST);
    ck_assert_int_eq(publisher_state_get(fx.p), PUB_STATE_DOWN);
    ck_assert_int_eq(publisher_next_wake_ms(fx.p, fx.now), 0);
    ck_assert_int_eq(publisher_wants_jobs(fx.p), false);
    fx_up(&fx);
    ck_assert_str_eq(fx.tried, "0x1+!2+");
    ck_assert_uint_eq(atomic_load(&stats()->broker), 2);
    ck_assert_uint_eq(fx_counter(&stats()->connects), 2);
    ck_assert_uint_eq(fx_counter(&stats()->connection_losses), 1);
}
END_TEST

START_TEST(test_publisher_rotation_round_restarts_after_a_lasting_connection)
{
    use_brokers(3);
    fx.refuse_mask = 1u << 0;
    fx_pump(&fx);
    fx_up(&fx);                       /* broker 1, after one failure in this round */
    fx.now += fx.opts.backoff_max_ms; /* it lasted: the round is over */
    ck_assert_int_eq(fx_pump(&fx), 0);
    fx.refuse_mask = 0x7;
    fx_push_error(&fx, ERR_IO);
    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_LOST);
    /* A new round: the loss and the next two refusals make three failures in a row. */
    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_CONNECT_FAILED);
    ck_assert_int_eq(publisher_next_wake_ms(fx.p, fx.now), 0);
    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_CONNECT_FAILED);
    ck_assert_str_eq(fx.tried, "0x1+!2x0x");
    /* The round failed: the backoff, started over by the lasting connection, then broker 0. */
    fx.now += fx_expect_backoff(&fx, 0);
    fx.refuse_mask = 0;
    fx_up(&fx);
    ck_assert_str_eq(fx.tried, "0x1+!2x0x0+");
}
END_TEST

START_TEST(test_publisher_rotation_backs_off_ever_more_slowly_while_brokers_flap)
{
    /* Both brokers accept every connection and drop it at once. */
    use_brokers(2);
    fx.drop_mask = 0x3;
    char want[FX_TRIED_MAX] = "";
    for (uint32_t i = 0; i < 6; i++) {
        ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_CONNECTED | PUB_PUMP_LOST);
        ck_assert_int_eq(publisher_next_wake_ms(fx.p, fx.now), 0); /* broker 1 next, at once */
        ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_CONNECTED | PUB_PUMP_LOST);
        fx.now += fx_expect_backoff(&fx, i); /* 100, 200, 400, 800, 1600, 1600 ms caps */
        strcat(want, "0+!1+!");
    }
    ck_assert_str_eq(fx.tried, want);
    ck_assert_uint_eq(fx_counter(&stats()->connects), 12);
    ck_assert_uint_eq(fx_counter(&stats()->connection_losses), 12);

    /* Once a connection lasts the cap, the next round's backoff starts over. */
    fx.drop_mask = 0;
    fx_up(&fx);
    fx.now += fx.opts.backoff_max_ms;
    ck_assert_int_eq(fx_pump(&fx), 0);
    fx.refuse_mask = 1u << 1;
    fx_push_error(&fx, ERR_IO);
    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_LOST);
    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_CONNECT_FAILED);
    strcat(want, "0+!1x");
    ck_assert_str_eq(fx.tried, want);
    fx_expect_backoff(&fx, 0);
}
END_TEST

/* ---- resend ---- */

START_TEST(test_publisher_resend_republishes_in_order_with_the_same_id_and_body)
{
    use_brokers(2);
    fx_up(&fx);
    fx_submit_range(&fx, 1, 3);
    fx.now += 100;
    fx_submit_id(&fx, 4, 77);
    fx_submit(&fx, 5);
    fx_push_ack(&fx, 2, false);
    fx_push_return(&fx, fx_pub_of(&fx, 4)->id);
    fx_push_error(&fx, ERR_IO);
    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_LOST);
    fx_expect_outcomes(&fx, 1, "-C---");
    ck_assert_uint_eq(atomic_load(&stats()->resending), 4);
    ck_assert_uint_eq(fx_counter(&stats()->republished), 0);
    fx_pub_t first[6];
    for (uint64_t t = 1; t <= 5; t++)
        first[t] = *fx_pub_of(&fx, t);

    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_CONNECTED); /* broker 1, at once */
    ck_assert_str_eq(fx.tried, "0+!1+");
    ck_assert_str_eq(conn_tickets(2), "1,3,4,5");
    static const uint64_t resent[] = {1, 3, 4, 5};
    for (uint64_t i = 0; i < 4; i++) {
        const fx_pub_t *r = fx_pub_of(&fx, resent[i]), *was = &first[resent[i]];
        ck_assert_uint_eq(r->conn, 2);
        ck_assert_uint_eq(r->tag, i + 1); /* tags start again from 1 */
        ck_assert_int_eq(r->again, true);
        ck_assert_str_eq(r->id, was->id);
        ck_assert_uint_eq(r->len, was->len);
        ck_assert_mem_eq(r->body, was->body, r->len);
        ck_assert_int_eq(r->received_ms, was->received_ms);
        ck_assert_int_eq(r->enqueued_ms, was->enqueued_ms);
        ck_assert_uint_eq(r->loop, was->loop);
    }
    ck_assert_uint_eq(fx_counter(&stats()->republished), 4);
    ck_assert_uint_eq(atomic_load(&stats()->resending), 0);
    ck_assert_uint_eq(publisher_inflight(fx.p), 4);

    fx_submit(&fx, 6); /* new jobs come after the resent ones */
    ck_assert_uint_eq(fx_pub_of(&fx, 6)->tag, 5);
    ck_assert_int_eq(fx_pub_of(&fx, 6)->again, false);
    ck_assert_uint_eq(fx_counter(&stats()->published), 10);
    /* 4's return died with the first connection: acked on this one, it is confirmed. */
    fx_push_ack(&fx, 5, true);
    fx_pump(&fx);
    fx_expect_outcomes(&fx, 1, "CCCCCC");
    ck_assert_uint_eq(fx_counter(&stats()->republished), 4);
}
END_TEST

START_TEST(test_publisher_resend_keeps_the_original_deadlines)
{
    use_brokers(2);
    fx_up(&fx);
    int64_t t0 = fx.now;
    fx_submit(&fx, 1);
    fx.now = t0 + 600;
    fx_submit(&fx, 2);
    fx.now = t0 + 700;
    fx_push_error(&fx, ERR_IO);
    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_LOST);
    fx_up(&fx);
    ck_assert_str_eq(conn_tickets(2), "1,2");
    /* 1 is due at t0 + 1000 as before, not a full timeout after its republish. */
    ck_assert_int_eq(publisher_next_wake_ms(fx.p, fx.now), 300);
    fx.now = t0 + 999;
    ck_assert_int_eq(fx_pump(&fx), 0);
    fx_expect_outcomes(&fx, 1, "--");
    fx.now = t0 + 1000;
    fx_pump(&fx);
    fx_expect_outcomes(&fx, 1, "T-");
    ck_assert_int_eq(publisher_next_wake_ms(fx.p, fx.now), 600);
    fx.now = t0 + 1600;
    fx_pump(&fx);
    fx_expect_outcomes(&fx, 1, "TT");
    ck_assert_uint_eq(fx_counter(&stats()->timed_out), 2);
}
END_TEST

START_TEST(test_publisher_resend_deadline_passing_while_waiting_times_out_once)
{
    publisher_opts_t o = fx_default_opts; /* one broker, a long backoff */
    o.backoff_base_ms = 4000;
    o.backoff_max_ms = 8000;
    fx_use_opts(&o);
    fx_up(&fx);
    int64_t t0 = fx.now;
    fx_submit(&fx, 1);
    fx.now = t0 + 500;
    fx_submit(&fx, 2);
    fx.now = t0 + 600;
    fx_push_error(&fx, ERR_IO);
    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_LOST);
    /* The next attempt is 2000..4000 ms away: 1's deadline comes first. */
    ck_assert_int_eq(publisher_next_wake_ms(fx.p, fx.now), 400);
    ck_assert_uint_eq(atomic_load(&stats()->resending), 2);
    fx.now = t0 + 999;
    ck_assert_int_eq(fx_pump(&fx), 0);
    fx_expect_outcomes(&fx, 1, "--");
    fx.now = t0 + 1000;
    ck_assert_int_eq(publisher_next_wake_ms(fx.p, fx.now), 0);
    ck_assert_int_eq(fx_pump(&fx), 0);
    fx_expect_outcomes(&fx, 1, "T-");
    ck_assert_uint_eq(atomic_load(&stats()->resending), 1);
    ck_assert_int_eq(publisher_next_wake_ms(fx.p, fx.now), 500);
    fx.now = t0 + 1500;
    fx_pump(&fx);
    fx_expect_outcomes(&fx, 1, "TT");
    ck_assert_uint_eq(atomic_load(&stats()->resending), 0);
    ck_assert_uint_eq(fx.timeouts_waiting, 2);

    /* Reconnected: nothing is left to resend, and nothing is answered twice. */
    int64_t d = publisher_next_wake_ms(fx.p, fx.now);
    ck_assert_int_ge(d, 2000 - 900);
    ck_assert_int_le(d, 4000 - 900);
    fx.now += d;
    fx_up(&fx);
    fx.now += 5000;
    fx_pump(&fx);
    ck_assert_int_eq(fx.publish_calls, 2);
    ck_assert_uint_eq(fx_counter(&stats()->republished), 0);
    ck_assert_uint_eq(fx_counter(&stats()->timed_out), 2);
    ck_assert_uint_eq(fx.ndone, 2);
}
END_TEST

START_TEST(test_publisher_resend_drops_jobs_already_answered)
{
    use_brokers(2);
    fx_up(&fx);
    int64_t t0 = fx.now;
    fx_submit(&fx, 1);
    fx.now = t0 + 500;
    fx_submit_range(&fx, 2, 3);
    fx.now = t0 + 1000;
    fx_pump(&fx); /* 1 times out but keeps its tag */
    fx_push_ack(&fx, 2, false);
    fx_pump(&fx);
    fx_expect_outcomes(&fx, 1, "TC-");
    ck_assert_uint_eq(publisher_inflight(fx.p), 3);
    fx_push_error(&fx, ERR_IO);
    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_LOST);
    ck_assert_uint_eq(atomic_load(&stats()->resending), 1);
    fx_up(&fx);
    ck_assert_str_eq(conn_tickets(2), "3");
    ck_assert_uint_eq(fx_counter(&stats()->republished), 1);
}
END_TEST

START_TEST(test_publisher_resend_interrupted_by_another_loss_keeps_order)
{
    use_brokers(3);
    fx_up(&fx);
    fx_submit_range(&fx, 1, 5);
    fx_push_ack(&fx, 1, false);
    fx_push_error(&fx, ERR_IO);
    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_LOST);
    fx_expect_outcomes(&fx, 1, "C----");

    /* On broker 1, 2 and 3 go out again, then publishing 4 fails. */
    fx.publish_fail_code = ERR_IO;
    fx.publish_fail_skip = 2;
    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_CONNECTED | PUB_PUMP_LOST);
    ck_assert_str_eq(publisher_last_err(fx.p)->msg, "fake publish failure");
    ck_assert_str_eq(fx.tried, "0+!1+!");
    ck_assert_str_eq(conn_tickets(2), "2,3");
    fx_expect_outcomes(&fx, 1, "C----");
    ck_assert_uint_eq(atomic_load(&stats()->resending), 4);
    ck_assert_uint_eq(fx_counter(&stats()->republished), 2); /* the failed publish is not one */

    /* What went out again goes back in front of what still waited: same order on broker 2. */
    fx_up(&fx);
    ck_assert_str_eq(fx.tried, "0+!1+!2+");
    ck_assert_str_eq(conn_tickets(3), "2,3,4,5");
    ck_assert_uint_eq(fx_counter(&stats()->republished), 6);
    ck_assert_uint_eq(fx_counter(&stats()->published), 11);
    fx_push_ack(&fx, 4, true);
    fx_pump(&fx);
    fx_expect_outcomes(&fx, 1, "CCCCC");
}
END_TEST

START_TEST(test_publisher_resend_jobs_wait_in_the_ring_during_a_round)
{
    use_brokers(3);
    fx_up(&fx);
    fx_submit(&fx, 1);
    fx.refuse_mask = 0x6;
    fx_push_error(&fx, ERR_IO);
    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_LOST);
    /* A round is under way: new jobs stay in the ring. One handed over anyway (the ring is
     * drained at shutdown) is refused at once. */
    ck_assert_int_eq(publisher_wants_jobs(fx.p), false);
    fx_submit(&fx, 2);
    fx_expect_done(&fx, 2, PUB_UNAVAILABLE);
    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_CONNECT_FAILED);
    ck_assert_int_eq(publisher_wants_jobs(fx.p), false);
    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_CONNECT_FAILED);
    ck_assert_str_eq(fx.tried, "0+!1x2x");
    /* The round failed: new jobs are refused at once; 1 still waits to be resent. */
    ck_assert_int_eq(publisher_wants_jobs(fx.p), true);
    fx_submit(&fx, 3);
    fx_expect_outcomes(&fx, 1, "-UU");
    ck_assert_int_eq(fx.publish_calls, 1);
    ck_assert_uint_eq(atomic_load(&stats()->resending), 1);
    fx.now += fx_expect_backoff(&fx, 0);
    fx_up(&fx);
    ck_assert_str_eq(fx.tried, "0+!1x2x0+");
    ck_assert_int_eq(publisher_wants_jobs(fx.p), true);
    fx_submit(&fx, 4);
    ck_assert_str_eq(conn_tickets(2), "1,4");
}
END_TEST

START_TEST(test_publisher_resend_destroy_answers_waiting_jobs_unavailable)
{
    use_brokers(2);
    fx_up(&fx);
    fx_submit_range(&fx, 1, 3);
    fx_push_ack(&fx, 1, false);
    fx_push_error(&fx, ERR_IO);
    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_LOST);
    fx_expect_outcomes(&fx, 1, "C--");
    fx_destroy(&fx); /* the bodies of 2 and 3 are freed with them (ASan checks) */
    fx_expect_outcomes(&fx, 1, "CUU");
    ck_assert_uint_eq(fx.by_status[PUB_UNAVAILABLE], 2);
    ck_assert_uint_eq(fx.ndone, 3);
}
END_TEST

START_TEST(test_publisher_resend_counts_every_job_in_one_outcome)
{
    use_brokers(2);
    fx_up(&fx);
    fx_submit_range(&fx, 1, 6);
    fx_push_ack(&fx, 1, false);
    fx_push_nack(&fx, 2, false);
    fx_push_return(&fx, fx_pub_of(&fx, 3)->id);
    fx_push_ack(&fx, 3, false);
    fx_push_error(&fx, ERR_IO);
    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_LOST);
    fx_up(&fx);
    ck_assert_str_eq(conn_tickets(2), "2,4,5,6"); /* the nacked one too */
    fx_push_ack(&fx, 1, false);                   /* 2, confirmed on its second connection */
    fx_push_nack(&fx, 2, false);                  /* 4 nacked again */
    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_REFUSED);
    fx.now += 1000;
    /* 4 is refused at its deadline, 5 and 6 time out, then broker 1 is connected again. */
    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_CONNECTED);
    ck_assert_str_eq(fx.tried, "0+!1+~1+");
    /* Broker 1 is lost before it lasted: the round failed, so 7 is refused at once. */
    fx_push_error(&fx, ERR_IO);
    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_LOST);
    fx_submit(&fx, 7);
    fx_expect_outcomes(&fx, 1, "CCRRTTU");
    const publisher_stats_t *st = stats();
    char got[64];
    snprintf(got, sizeof(got), "%llu/%llu/%llu/%llu/%llu",
             (unsigned long long)fx_counter(&st->confirmed),
             (unsigned long long)fx_counter(&st->nacked),
             (unsigned long long)fx_counter(&st->returned),
             (unsigned long long)fx_counter(&st->timed_out),
             (unsigned long long)fx_counter(&st->unavailable));
    ck_assert_str_eq(got, "2/1/1/2/1");
    ck_assert_uint_eq(fx_outcomes_sum(st), fx.nsubmitted);
    ck_assert_uint_eq(fx_counter(&st->republished), 4);
    ck_assert_uint_eq(fx.settled_again, 1);
}
END_TEST

void publisher_add_failover_tests(Suite *s)
{
    TCase *tc = fx_tcase(s, "rotation");
    tcase_add_test(tc, test_publisher_rotation_tries_the_next_broker_without_waiting);
    tcase_add_test(tc,
                   test_publisher_rotation_backs_off_after_a_whole_round_then_starts_at_broker_0);
    tcase_add_test(tc, test_publisher_rotation_moves_on_at_once_when_a_connection_is_lost);
    tcase_add_test(tc, test_publisher_rotation_round_restarts_after_a_lasting_connection);
    tcase_add_test(tc, test_publisher_rotation_backs_off_ever_more_slowly_while_brokers_flap);

    tc = fx_tcase(s, "resend");
    tcase_add_test(tc, test_publisher_resend_republishes_in_order_with_the_same_id_and_body);
    tcase_add_test(tc, test_publisher_resend_keeps_the_original_deadlines);
    tcase_add_test(tc, test_publisher_resend_deadline_passing_while_waiting_times_out_once);
    tcase_add_test(tc, test_publisher_resend_drops_jobs_already_answered);
    tcase_add_test(tc, test_publisher_resend_interrupted_by_another_loss_keeps_order);
    tcase_add_test(tc, test_publisher_resend_jobs_wait_in_the_ring_during_a_round);
    tcase_add_test(tc, test_publisher_resend_destroy_answers_waiting_jobs_unavailable);
    tcase_add_test(tc, test_publisher_resend_counts_every_job_in_one_outcome);
}
