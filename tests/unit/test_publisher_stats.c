/* SPDX-License-Identifier: MIT */
/*
 * publisher: the statistics behind activity_api_publish_results_total. Every job is counted in
 * exactly one of the five outcome counters (confirmed, nacked, returned, timed_out,
 * unavailable), so across any mix of acks, nacks, returns, timeouts and lost connections (whose
 * jobs are answered later, on the next connection or by their deadline) they add up to the jobs
 * submitted once all are answered. (fx_pump and fx_submit also check the
 * counters against the outcomes after every call, in every test.) Every test starts from the
 * fixture in publisher_fake.h (not yet connected).
 */
#include <check.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "api/publisher.h"
#include "common/err.h"
#include "publisher_fake.h"

/* Writes the five outcome counters as "c/n/r/t/u" (confirmed, nacked, returned, timed_out,
 * unavailable), so that a failed comparison shows all of them. */
static const char *outcome_counts(char *buf, size_t len)
{
    const publisher_stats_t *st = publisher_stats(fx.p);
    snprintf(buf, len, "%llu/%llu/%llu/%llu/%llu", (unsigned long long)fx_counter(&st->confirmed),
             (unsigned long long)fx_counter(&st->nacked),
             (unsigned long long)fx_counter(&st->returned),
             (unsigned long long)fx_counter(&st->timed_out),
             (unsigned long long)fx_counter(&st->unavailable));
    return buf;
}

START_TEST(test_publisher_stats_count_every_outcome)
{
    fx_submit(&fx, 1); /* unavailable: not connected */
    fx_up(&fx);
    fx_submit_range(&fx, 2, 7);
    /* Ticket t has tag t - 1. */
    fx_push_ack(&fx, 2, true);   /* tickets 2, 3 confirmed */
    fx_push_nack(&fx, 3, false); /* 4 nacked: the connection is made again ... */
    fx_push_return(&fx, fx_pub_of(&fx, 5)->id);
    fx_push_ack(&fx, 4, false); /* 5 returned: refused */
    fx_pump(&fx);
    fx.now += 1000;
    fx_pump(&fx); /* ... but 4 is refused at its deadline, before it; 6, 7 time out */
    fx_submit(&fx, 8);
    fx_push_error(&fx, ERR_IO);
    fx_pump(&fx); /* 8 waits to be resent: counted nowhere yet */
    const publisher_stats_t *st = publisher_stats(fx.p);
    ck_assert_uint_eq(fx_outcomes_sum(st), 7);
    ck_assert_uint_eq(atomic_load(&st->resending), 1);
    fx.now += fx_expect_backoff(&fx, 0);
    fx_up(&fx); /* 8 republished ... */
    fx_push_ack(&fx, 1, false);
    fx_pump(&fx); /* ... and confirmed */

    ck_assert_uint_eq(fx_counter(&st->published), 8);
    ck_assert_uint_eq(fx_counter(&st->republished), 1);
    ck_assert_uint_eq(fx_counter(&st->confirmed), 3);
    ck_assert_uint_eq(fx_counter(&st->nacked), 1);
    ck_assert_uint_eq(fx_counter(&st->returned), 1);
    ck_assert_uint_eq(fx_counter(&st->timed_out), 2);
    ck_assert_uint_eq(fx_counter(&st->unavailable), 1);
    ck_assert_uint_eq(fx_counter(&st->connects), 3);
    ck_assert_uint_eq(fx_counter(&st->connection_losses), 1);
    ck_assert_uint_eq(fx_counter(&st->refusal_reconnects), 1);
    ck_assert_uint_eq(atomic_load(&st->inflight), 0);
    ck_assert_uint_eq(atomic_load(&st->resending), 0);
    ck_assert_int_eq(atomic_load(&st->blocked), 0);
    /* Every submitted job is in exactly one outcome counter. */
    ck_assert_uint_eq(fx_outcomes_sum(st), 8);
    ck_assert_uint_eq(fx.by_status[PUB_CONFIRMED], 3);
    ck_assert_uint_eq(fx.by_status[PUB_REFUSED], 2);
    ck_assert_uint_eq(fx.by_status[PUB_TIMEOUT], 2);
    ck_assert_uint_eq(fx.by_status[PUB_UNAVAILABLE], 1);
}
END_TEST

/* ---- each scenario answers every job it submits; the rows give the counts to expect ---- */

static void return_then_ack(void)
{
    fx_submit_range(&fx, 1, 3);
    fx_push_return(&fx, fx_pub_of(&fx, 2)->id);
    fx_push_ack(&fx, 3, true);
    fx_pump(&fx);
}

static void return_then_nack(void)
{
    fx_submit_range(&fx, 1, 2);
    fx_push_return(&fx, fx_pub_of(&fx, 1)->id);
    fx_push_nack(&fx, 1, false); /* nacked: published again, refused at its deadline */
    fx_push_ack(&fx, 2, false);
    fx_pump(&fx);
    fx.now += 1000;
    fx_pump(&fx);
}

static void return_timeout_then_late_ack(void)
{
    fx_submit_range(&fx, 1, 2);
    fx_push_return(&fx, fx_pub_of(&fx, 1)->id);
    fx_pump(&fx);
    fx.now += 1000;
    fx_pump(&fx); /* both time out, the returned one too */
    fx_push_ack(&fx, 2, true);
    fx_pump(&fx);
}

/* The return of 2 died with its connection: republished and acked, it is confirmed. */
static void return_then_connection_lost(void)
{
    fx_submit_range(&fx, 1, 3);
    fx_push_ack(&fx, 1, false);
    fx_push_return(&fx, fx_pub_of(&fx, 2)->id);
    fx_push_error(&fx, ERR_IO); /* the ack of 2 never comes */
    fx_pump(&fx);
    fx.now += fx_expect_backoff(&fx, 0);
    fx_up(&fx); /* 2 and 3 republished as tags 1 and 2 */
    fx_push_ack(&fx, 2, true);
    fx_pump(&fx);
}

/* Nothing reconnects before the deadlines: all three wait to be resent and time out. */
static void return_then_publish_fails(void)
{
    fx_submit_range(&fx, 1, 2);
    fx_push_return(&fx, fx_pub_of(&fx, 1)->id);
    fx_pump(&fx);
    fx.publish_fail_code = ERR_IO;
    fx_submit(&fx, 3);
    fx.connect_failures_left = 100;
    fx.connect_fail_code = ERR_IO;
    for (int64_t end = fx.now + 1000; fx.now < end; fx.now += 10)
        fx_pump(&fx);
    fx_pump(&fx);
}

static void returns_of_a_repeated_id(void)
{
    fx_submit_id(&fx, 1, 77);
    fx_submit_id(&fx, 2, 77);
    fx_push_return(&fx, fx_pub_of(&fx, 1)->id);
    fx_push_return(&fx, fx_pub_of(&fx, 2)->id);
    fx_push_ack(&fx, 2, true);
    fx_pump(&fx);
}

static void returns_naming_nothing_in_flight(void)
{
    char other[IDGEN_STR_LEN + 1];
    fx_make_id(999, other);
    fx_submit_range(&fx, 1, 2);
    fx_push_return(&fx, other);
    fx_push_ack(&fx, 1, false);
    fx_push_return(&fx, fx_pub_of(&fx, 1)->id); /* already settled */
    fx_push_ack(&fx, 2, false);
    fx_pump(&fx);
}

static void tag_zero_ack_after_return(void)
{
    fx_submit_range(&fx, 1, 3);
    fx_push_return(&fx, fx_pub_of(&fx, 3)->id);
    fx_push_ack(&fx, 0, true);
    fx_pump(&fx);
}

static void acks_nacks_returns_timeouts_and_blocked(void)
{
    fx_submit_range(&fx, 1, 6);
    fx_push_ack(&fx, 1, false);
    fx_push_nack(&fx, 2, false);
    fx_push_return(&fx, fx_pub_of(&fx, 3)->id);
    fx_push_ack(&fx, 3, false);
    fx_pump(&fx);
    fx.now += 1000;
    fx_pump(&fx); /* 4..6 time out */
    fx_push_kind(&fx, PUB_EV_BLOCKED);
    fx_pump(&fx);
    fx_submit(&fx, 7); /* blocked: unavailable */
}

static const struct {
    const char *name;
    void (*run)(void);
    uint64_t jobs;
    const char *counts; /* confirmed/nacked/returned/timed_out/unavailable */
} scenarios[] = {
    {"return then ack", return_then_ack, 3, "2/0/1/0/0"},
    {"return then nack", return_then_nack, 2, "1/1/0/0/0"},
    {"return, timeout, late ack", return_timeout_then_late_ack, 2, "0/0/0/2/0"},
    {"return, connection lost", return_then_connection_lost, 3, "3/0/0/0/0"},
    {"return, publish fails", return_then_publish_fails, 3, "0/0/0/3/0"},
    {"returns of a repeated id", returns_of_a_repeated_id, 2, "0/0/2/0/0"},
    {"returns naming nothing in flight", returns_naming_nothing_in_flight, 2, "2/0/0/0/0"},
    {"tag 0 ack after a return", tag_zero_ack_after_return, 3, "2/0/1/0/0"},
    {"a bit of everything", acks_nacks_returns_timeouts_and_blocked, 7, "1/1/1/3/1"},
};

/* One scenario per loop iteration (_i), each on a fresh fixture. */
START_TEST(test_publisher_stats_outcomes_add_up_to_jobs_submitted)
{
    fx_up(&fx);
    scenarios[_i].run();
    char got[128], want[128], buf[64];
    snprintf(got, sizeof(got), "%s: %s", scenarios[_i].name, outcome_counts(buf, sizeof(buf)));
    snprintf(want, sizeof(want), "%s: %s", scenarios[_i].name, scenarios[_i].counts);
    ck_assert_str_eq(got, want);
    ck_assert_uint_eq(fx.nsubmitted, scenarios[_i].jobs);
    ck_assert_uint_eq(fx.ndone, scenarios[_i].jobs); /* all answered ... */
    /* ... and each counted once. */
    ck_assert_uint_eq(fx_outcomes_sum(publisher_stats(fx.p)), fx.nsubmitted);
}
END_TEST

void publisher_add_stats_tests(Suite *s)
{
    TCase *tc = fx_tcase(s, "stats");
    tcase_add_test(tc, test_publisher_stats_count_every_outcome);
    tcase_add_loop_test(tc, test_publisher_stats_outcomes_add_up_to_jobs_submitted, 0,
                        (int)(sizeof(scenarios) / sizeof(scenarios[0])));
}
