/* SPDX-License-Identifier: MIT */
/*
 * publisher: what a nack does. It is not an answer: the connection is dropped and the same
 * broker connected again after a short backoff (new jobs wait in the ring meanwhile), the nacked
 * and unconfirmed messages are published again, and a message still unconfirmed at its deadline
 * after a nack is answered PUB_REFUSED. The fake (publisher_fake.h) checks every connect against
 * the refusal backoff's bounds; fx.tried spells the connects ('~': dropped after a nack).
 */
#include <check.h>
#include <stdatomic.h>
#include <stdint.h>

#include "api/publisher.h"
#include "common/err.h"
#include "publisher_fake.h"

static void use_brokers(uint32_t n, uint32_t confirm_timeout_ms)
{
    publisher_opts_t o = fx_default_opts;
    o.brokers = n;
    o.confirm_timeout_ms = confirm_timeout_ms;
    fx_use_opts(&o);
}

static const publisher_stats_t *stats(void)
{
    return publisher_stats(fx.p);
}

START_TEST(test_publisher_nack_reconnects_to_the_same_broker_and_publishes_again)
{
    use_brokers(3, 1000);
    fx_up(&fx);
    fx_submit_range(&fx, 1, 5);
    fx_push_ack(&fx, 1, false);
    fx_push_nack(&fx, 2, false);
    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_REFUSED);
    fx_expect_outcomes(&fx, 1, "C----");
    ck_assert_int_eq(publisher_state_get(fx.p), PUB_STATE_DOWN);
    ck_assert_int_eq(publisher_wants_jobs(fx.p), false); /* new jobs wait in the ring */
    ck_assert_uint_eq(atomic_load(&stats()->resending), 4);
    ck_assert_int_le(publisher_next_wake_ms(fx.p, fx.now), 50);

    fx.now += 50;
    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_CONNECTED);
    ck_assert_str_eq(fx.tried, "0+~0+");
    for (uint64_t t = 2; t <= 5; t++) { /* in order, before anything new */
        ck_assert_uint_eq(fx_pub_of(&fx, t)->conn, 2);
        ck_assert_uint_eq(fx_pub_of(&fx, t)->tag, t - 1);
    }
    fx_push_ack(&fx, 4, true);
    fx_pump(&fx);
    fx_expect_outcomes(&fx, 1, "CCCCC");
    ck_assert_uint_eq(fx_counter(&stats()->confirmed), 5);
    ck_assert_uint_eq(fx_counter(&stats()->nacked), 0);
    ck_assert_uint_eq(fx_counter(&stats()->republished), 4);
    ck_assert_uint_eq(fx_counter(&stats()->refusal_reconnects), 1);
    ck_assert_uint_eq(fx_counter(&stats()->connection_losses), 0);
}
END_TEST

START_TEST(test_publisher_nacked_until_its_deadline_is_refused)
{
    use_brokers(1, 10000);
    fx_up(&fx);
    fx_submit(&fx, 1);
    int rounds = 0;
    while (fx_ndone_of(&fx, 1) == 0) {
        fx_push_nack(&fx, 1, false); /* tag 1 on every new connection */
        ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_REFUSED);
        /* 50 ms at first, doubling, never more than a second (the fake checks the draw). */
        ck_assert_int_le(publisher_next_wake_ms(fx.p, fx.now), 1000);
        fx.now = fx.attempt_hi;
        fx_pump(&fx); /* connects and publishes it again, or answers it at its deadline */
        rounds++;
    }
    fx_expect_done(&fx, 1, PUB_REFUSED);
    ck_assert_int_ge(fx.now, 1000000 + 10000);
    ck_assert_int_ge(rounds, 14); /* 50+100+200+400+800 ms, then every second or less */
    ck_assert_uint_eq(fx_counter(&stats()->nacked), 1);
    ck_assert_uint_eq(fx_counter(&stats()->timed_out), 0);
    ck_assert_uint_eq(fx_counter(&stats()->refusal_reconnects), (uint64_t)rounds);
}
END_TEST

START_TEST(test_publisher_ack_starts_the_refusal_backoff_over)
{
    use_brokers(1, 60000);
    fx_up(&fx);
    fx_submit(&fx, 1);
    for (int i = 0; i < 4; i++) { /* the delays grow to 400 ms */
        fx_push_nack(&fx, 1, false);
        fx_pump(&fx);
        fx.now = fx.attempt_hi;
        fx_up(&fx);
    }
    ck_assert_int_eq(fx.refusal_attempt, 4);
    fx_push_ack(&fx, 1, false);
    fx_pump(&fx);
    fx_expect_done(&fx, 1, PUB_CONFIRMED);
    fx_submit(&fx, 2);
    fx_push_nack(&fx, 2, false);
    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_REFUSED);
    ck_assert_int_le(publisher_next_wake_ms(fx.p, fx.now), 50); /* back to the first delay */
    fx.now += 50;
    fx_up(&fx);
}
END_TEST

START_TEST(test_publisher_refusal_then_broker_gone_follows_the_failover_rules)
{
    use_brokers(2, 1000);
    fx_up(&fx);
    fx_submit_range(&fx, 1, 2);
    fx_push_nack(&fx, 1, true);
    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_REFUSED);
    fx.refuse_mask = 1u << 0;
    fx.now = fx.attempt_hi;
    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_CONNECT_FAILED);
    /* The next broker at once, and meanwhile new jobs wait: a failover round is under way. */
    ck_assert_int_eq(publisher_wants_jobs(fx.p), false);
    fx_up(&fx);
    ck_assert_str_eq(fx.tried, "0+~0x1+");
    ck_assert_uint_eq(fx_pub_of(&fx, 1)->conn, 2);
    ck_assert_uint_eq(fx_pub_of(&fx, 2)->conn, 2);
    fx_push_ack(&fx, 2, true);
    fx_pump(&fx);
    fx_expect_outcomes(&fx, 1, "CC");
}
END_TEST

START_TEST(test_publisher_nack_then_loss_in_one_pump_is_a_loss)
{
    use_brokers(2, 1000);
    fx_up(&fx);
    fx_submit_range(&fx, 1, 2);
    fx_push_nack(&fx, 1, false);
    fx_push_error(&fx, ERR_IO);
    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_LOST);
    fx_up(&fx); /* the next broker, at once */
    ck_assert_str_eq(fx.tried, "0+!1+");
    fx.now += 1000;
    fx_pump(&fx);
    /* 1 was nacked: refused at its deadline; 2 never was: timed out. */
    fx_expect_outcomes(&fx, 1, "RT");
    ck_assert_uint_eq(fx_counter(&stats()->refusal_reconnects), 0);
}
END_TEST

START_TEST(test_publisher_nack_of_an_answered_job_only_frees_its_slot)
{
    fx_up(&fx);
    fx_submit(&fx, 1);
    fx.now += 1000;
    fx_pump(&fx);
    fx_expect_done(&fx, 1, PUB_TIMEOUT);
    ck_assert_uint_eq(publisher_inflight(fx.p), 1); /* its tag is still outstanding */
    fx_push_nack(&fx, 1, false);
    ck_assert_int_eq(fx_pump(&fx), 0); /* nothing to publish again: the connection stays */
    ck_assert_uint_eq(publisher_inflight(fx.p), 0);
    ck_assert_int_eq(publisher_state_get(fx.p), PUB_STATE_UP);
    ck_assert_uint_eq(fx_counter(&stats()->nacked), 0);
}
END_TEST

void publisher_add_nack_tests(Suite *s)
{
    TCase *tc = fx_tcase(s, "nacks");
    tcase_add_test(tc, test_publisher_nack_reconnects_to_the_same_broker_and_publishes_again);
    tcase_add_test(tc, test_publisher_nacked_until_its_deadline_is_refused);
    tcase_add_test(tc, test_publisher_ack_starts_the_refusal_backoff_over);
    tcase_add_test(tc, test_publisher_refusal_then_broker_gone_follows_the_failover_rules);
    tcase_add_test(tc, test_publisher_nack_then_loss_in_one_pump_is_a_loss);
    tcase_add_test(tc, test_publisher_nack_of_an_answered_job_only_frees_its_slot);
}
