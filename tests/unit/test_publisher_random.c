/* SPDX-License-Identifier: MIT */
/*
 * publisher: randomized sequences of submits, acks, nacks, returns, blocked/unblocked, lost
 * connections, failing connects (per broker too, over lists of one to three brokers), failing
 * publishes (in a resend too) and clock steps, checked after every step against the fake
 * broker's view and its failover model (publisher_fake.h): the publisher agrees on what is in
 * flight; up, every unanswered job is on the live connection, unsettled and before its original
 * deadline; down, they all wait to be resent and the publisher sleeps no later than the next
 * attempt or the earliest deadline. The fake checks on every call that each job is answered once,
 * CONFIRMED only after an ack covering its last publish, TIMEOUT only after its original
 * deadline, and that a republish carries the same id and body. At the end every job was answered
 * exactly once, with the statistics matching the outcomes seen.
 */
#include <check.h>
#include <stdatomic.h>
#include <stdint.h>

#include "api/publisher.h"
#include "common/err.h"
#include "publisher_fake.h"

static uint64_t rnd_next(uint64_t *s)
{
    /* splitmix64: a deterministic sequence per seed. */
    uint64_t z = (*s += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

static uint64_t rnd_below(uint64_t *s, uint64_t n)
{
    return n == 0 ? 0 : rnd_next(s) % n;
}

/* The delay until min(at, deadline), 0 when it has come: what publisher_next_wake_ms returns
 * while down, for a next attempt at `at`. */
static int64_t until(int64_t at, int64_t deadline, int64_t now)
{
    int64_t t = at < deadline ? at : deadline;
    return t > now ? t - now : 0;
}

/* After every step: the publisher's view agrees with the broker's, and nothing that is due is
 * left unanswered. */
static void check_model(fx_t *f, uint64_t max_ticket)
{
    bool up = publisher_state_get(f->p) == PUB_STATE_UP;
    HOT_INT_EQ(up, f->connected);
    /* Tickets are submitted in order on a clock that never goes back, so the lowest unanswered
     * one has the earliest deadline. (Answers are final: each ticket is passed over once.) */
    while (f->answered_upto < max_ticket && fx_tk_of(f, f->answered_upto + 1)->ndone == 1)
        f->answered_upto++;
    int64_t timeout = (int64_t)f->opts.confirm_timeout_ms;
    int64_t first_deadline = INT64_MAX;
    if (f->answered_upto < max_ticket)
        first_deadline = fx_tk_of(f, f->answered_upto + 1)->submitted_ms + timeout;
    int64_t wake = publisher_next_wake_ms(f->p, f->now);
    if (!up) {
        /* Down: the window is empty and every unanswered job waits to be resent (the fake's
         * counter check); new jobs stay in the ring while a round is under way. */
        HOT_UINT_EQ(publisher_inflight(f->p), 0);
        HOT_INT_EQ(publisher_wants_jobs(f->p), f->round_fails == 0 && !f->refusal_wait);
        HOT_INT_GE(wake, until(f->attempt_lo, first_deadline, f->now));
        HOT_INT_LE(wake, until(f->attempt_hi, first_deadline, f->now));
        return;
    }
    uint64_t inflight = f->last_tag - (f->low_tag - 1);
    HOT_UINT_EQ(publisher_inflight(f->p), inflight);
    HOT_INT_EQ(publisher_wants_jobs(f->p), inflight < f->opts.max_inflight);
    HOT_INT_GE(wake, -1);
    HOT_INT_LE(wake, timeout);
    if (first_deadline != INT64_MAX) { /* never asleep past a deadline */
        HOT_INT_GE(wake, 0);
        HOT_INT_LE(wake, first_deadline - f->now);
    }
    /* Up: every unanswered job was published (again) on this connection, is unsettled there
     * (a settled one is answered), and its original deadline is still ahead. */
    for (uint64_t t = f->answered_upto + 1; t <= max_ticket; t++) {
        const fx_ticket_t *k = fx_tk_of(f, t);
        if (k->ndone != 0)
            continue;
        HOT_INT_GE(k->pub, 0);
        const fx_pub_t *r = &f->pubs[k->pub];
        HOT_UINT_EQ(r->conn, f->conn);
        HOT_INT_EQ(r->settle, FX_SETTLE_NONE);
        HOT_INT_GT(k->submitted_ms + timeout, f->now);
    }
}

/* One submit, as the amqp thread would mostly make it: only when the publisher wants jobs. */
static void step_submit(fx_t *f, uint64_t t)
{
    bool up = publisher_state_get(f->p) == PUB_STATE_UP;
    bool expect_publish = up && !f->blocked && publisher_inflight(f->p) < f->opts.max_inflight;
    bool will_fail = expect_publish && f->publish_fail_code < 0 && f->publish_fail_skip == 0;
    size_t npubs = f->npubs;
    fx_submit(f, t);
    if (will_fail) {
        /* The connection is lost; the job waits to be resent with the others. */
        HOT_UINT_EQ(f->npubs, npubs);
        fx_expect_open(f, t);
        HOT_INT_EQ(publisher_state_get(f->p), PUB_STATE_DOWN);
        /* The amqp thread pumps right after its submits: that pump reports the loss and does
         * nothing else (fx_pump checks). */
        fx_pump(f);
    } else if (expect_publish) {
        HOT_UINT_EQ(f->npubs, npubs + 1);
        HOT_UINT_EQ(f->pubs[npubs].ticket, t);
        HOT_UINT_EQ(f->pubs[npubs].tag, f->last_tag);
        fx_expect_open(f, t);
    } else {
        HOT_UINT_EQ(f->npubs, npubs);
        fx_expect_done(f, t, PUB_UNAVAILABLE);
    }
}

/* Queues one broker event chosen by r (35 <= r < 77) on a live connection. */
static void step_event(fx_t *f, uint64_t *s, uint64_t r)
{
    uint64_t any = f->last_tag ? 1 + rnd_below(s, f->last_tag) : 0;
    /* Unsettled tags are the interesting ones; pick one of those most of the time. */
    uint64_t open =
        f->low_tag <= f->last_tag ? f->low_tag + rnd_below(s, f->last_tag - f->low_tag + 1) : any;
    uint64_t tag = rnd_below(s, 4) == 0 ? any : open;
    if (r < 50)
        fx_push_ack(f, tag, false);
    else if (r < 58)
        fx_push_ack(f, tag, true);
    else if (r < 62)
        fx_push_nack(f, tag, false);
    else if (r < 65)
        fx_push_nack(f, tag, true);
    else if (r < 67)
        fx_push_ev(f, 0,
                   (pub_event_t){.kind = rnd_below(s, 2) ? PUB_EV_ACK : PUB_EV_NACK,
                                 .tag = 0,
                                 .multiple = true});
    else if (r < 70) {
        if (open == 0 || fx_pub_by_tag(f, open)->settle != FX_SETTLE_NONE ||
            fx_pub_by_tag(f, open)->returned)
            return;
        /* A return comes just before the broker's ack of the same message. */
        fx_push_return(f, fx_pub_by_tag(f, open)->id);
        fx_push_ack(f, open, rnd_below(s, 2) != 0);
    } else if (r < 72)
        fx_push_ack(f, f->last_tag + 1 + rnd_below(s, 3), rnd_below(s, 2) != 0);
    else if (r < 75)
        fx_push_kind(f, rnd_below(s, 2) ? PUB_EV_BLOCKED : PUB_EV_UNBLOCKED);
    else
        fx_push_error(f, rnd_below(s, 2) ? ERR_IO : ERR_UNAVAIL);
}

/* Advances the clock by up to 40 ms (250 ms when r >= 95) and pumps. fx_pump checks the
 * attempt against the failover model; here, an attempt is also made only when the wake-up delay
 * has run out. */
static void step_pump(fx_t *f, uint64_t *s, uint64_t r)
{
    f->now += (int64_t)rnd_below(s, r < 95 ? 40 : 250);
    int64_t wake = publisher_next_wake_ms(f->p, f->now);
    int connects = f->connect_calls;
    fx_pump(f);
    if (f->connect_calls > connects)
        HOT_INT_EQ(wake, 0);
}

static void run_random(uint64_t seed, uint32_t brokers, uint32_t max_inflight, int steps)
{
    fx_t f;
    publisher_opts_t o = {.brokers = brokers,
                          .max_inflight = max_inflight,
                          .confirm_timeout_ms = 300,
                          .backoff_base_ms = 10,
                          .backoff_max_ms = 200,
                          .seed = seed};
    fx_init_opts(&f, &o);
    f.connect_fail_code = ERR_UNAVAIL;
    uint64_t s = seed;
    uint64_t ticket = 0;

    for (int step = 0; step < steps; step++) {
        uint64_t r = rnd_below(&s, 100);
        if (r < 35) {
            if (!publisher_wants_jobs(f.p) && rnd_below(&s, 8) != 0)
                continue;
            step_submit(&f, ++ticket);
        } else if (r < 77) {
            if (!f.connected)
                continue;
            step_event(&f, &s, r);
        } else if (r < 78) {
            /* A publish fails, perhaps a few publishes from now, perhaps in the next resend. */
            f.publish_fail_code = ERR_IO;
            f.publish_fail_skip = (int)rnd_below(&s, 3);
        } else if (r < 79) {
            /* Some brokers refuse, or drop every connection at once, for a while (all of them,
             * sometimes); or the next few connects fail whatever the broker. */
            uint64_t what = rnd_below(&s, 4);
            if (what == 0)
                f.refuse_mask = (uint32_t)rnd_below(&s, 1u << brokers);
            else if (what == 1)
                f.drop_mask = rnd_below(&s, 3) == 0 ? (uint32_t)rnd_below(&s, 1u << brokers) : 0;
            else if (what == 2)
                f.refuse_mask = 0;
            else
                f.connect_failures_left = (int)rnd_below(&s, 4);
        } else {
            step_pump(&f, &s, r);
        }
        check_model(&f, ticket);
    }

    /* The counters agree with the outcomes seen (fx_check_counters ran after every call); the
     * refusals split into nacks and returns. */
    const publisher_stats_t *st = publisher_stats(f.p);
    ck_assert_uint_eq(f.refused_by_nack + f.refused_by_return, f.by_status[PUB_REFUSED]);
    ck_assert_uint_eq(fx_outcomes_sum(st), f.ndone);
    ck_assert_uint_eq(fx_counter(&st->published), f.npubs);
    ck_assert_uint_eq(fx_counter(&st->republished), f.republishes);
    ck_assert_uint_gt(f.by_status[PUB_CONFIRMED], 0);
    ck_assert_uint_gt(f.refused_by_nack, 0);
    ck_assert_uint_gt(f.refused_by_return, 0);
    ck_assert_uint_gt(f.by_status[PUB_TIMEOUT], 0);
    ck_assert_uint_gt(f.by_status[PUB_UNAVAILABLE], 0);
    ck_assert_uint_gt(f.losses, 0);
    ck_assert_uint_gt(f.refusals, 0);
    /* Jobs were republished after losses, then settled, or timed out while waiting; a resend
     * was cut short by another loss. */
    ck_assert_uint_gt(f.republishes, 0);
    ck_assert_uint_gt(f.settled_again, 0);
    ck_assert_uint_gt(f.timeouts_waiting, 0);
    ck_assert_uint_gt(f.resends_cut, 0);

    /* After teardown every job is answered once (fx_destroy checks the count too). */
    fx_destroy(&f);
    for (uint64_t t = 1; t <= ticket; t++)
        if (fx_tk_of(&f, t)->ndone != 1)
            ck_assert_int_eq(fx_tk_of(&f, t)->ndone, 1);
    ck_assert_uint_eq(f.ndone, ticket);
    ck_assert_uint_eq(f.nsubmitted, ticket);
    fx_deinit(&f);
}

START_TEST(test_publisher_random_sequences_answer_every_job_once)
{
    /* Windows from 1 (a table of one slot) to larger than the broker usually lets fill, over
     * one, two and three brokers. */
    static const uint32_t windows[] = {1, 2, 3, 8, 64};
    for (uint64_t seed = 1; seed <= 20; seed++)
        run_random(seed * 7919, 1 + (uint32_t)(seed % 3), windows[seed % 5], 50000);
}
END_TEST

void publisher_add_random_tests(Suite *s)
{
    TCase *tc = tcase_create("random"); /* no fixture: each run makes its own publisher */
    tcase_set_timeout(tc, 120);         /* sanitizer builds are the slow case */
    tcase_add_test(tc, test_publisher_random_sequences_answer_every_job_once);
    suite_add_tcase(s, tc);
}
