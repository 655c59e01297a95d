/* SPDX-License-Identifier: MIT */
/*
 * publisher: randomized sequences of submits, acks, nacks, returns, blocked/unblocked, lost
 * connections, failing connects and publishes, and clock steps, checked after every step against
 * the fake broker's view (publisher_fake.h): the publisher agrees on what is in flight, nothing
 * due is left unanswered, and at the end every job was answered exactly once, with the
 * statistics matching the outcomes seen.
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

/* After every step: the publisher's view agrees with the broker's, and nothing that is due
 * is left unanswered. */
static void check_model(fx_t *f, uint64_t max_ticket)
{
    bool up = publisher_state_get(f->p) == PUB_STATE_UP;
    ck_assert_int_eq(up, f->connected);
    if (!up) {
        /* Down: everything ever submitted is answered (answers are final, so each ticket
         * needs checking only once). */
        ck_assert_uint_eq(publisher_inflight(f->p), 0);
        ck_assert_int_eq(publisher_wants_jobs(f->p), true);
        for (uint64_t t = f->answered_upto + 1; t <= max_ticket; t++)
            if (fx_tk_of(f, t)->ndone != 1)
                ck_assert_int_eq(fx_tk_of(f, t)->ndone, 1);
        f->answered_upto = max_ticket;
        return;
    }
    uint64_t inflight = f->last_tag - (f->low_tag - 1);
    HOT_UINT_EQ(publisher_inflight(f->p), inflight);
    HOT_INT_EQ(publisher_wants_jobs(f->p), inflight < f->opts.max_inflight);
    int64_t wake = publisher_next_wake_ms(f->p, f->now);
    HOT_INT_GE(wake, -1);
    HOT_INT_LE(wake, (int64_t)f->opts.confirm_timeout_ms);
    /* Up: on this connection every settled or overdue job is answered. (Earlier
     * connections were checked when they went down.) */
    for (size_t i = f->conn_first; i < f->npubs; i++) {
        const fx_pub_t *r = &f->pubs[i];
        int nd = fx_tk_of(f, r->ticket)->ndone;
        bool due = r->settle != FX_SETTLE_NONE ||
                   f->now >= r->submitted_ms + (int64_t)f->opts.confirm_timeout_ms;
        if (due && nd != 1)
            HOT_INT_EQ(nd, 1);
    }
}

/* One submit, as the amqp thread would mostly make it: only when the publisher wants jobs.
 * Returns whether it lost the connection. */
static bool step_submit(fx_t *f, uint64_t t)
{
    bool up = publisher_state_get(f->p) == PUB_STATE_UP;
    bool expect_publish = up && !f->blocked && publisher_inflight(f->p) < f->opts.max_inflight;
    bool will_fail = expect_publish && f->publish_fail_code < 0;
    size_t npubs = f->npubs;
    fx_submit(f, t);
    if (will_fail) {
        fx_expect_done(f, t, PUB_UNAVAILABLE);
        HOT_INT_EQ(publisher_state_get(f->p), PUB_STATE_DOWN);
        /* The amqp thread pumps right after its submits, before any backoff delay can run
         * out. Whether that pump reports the loss has its own test. */
        HOT_INT_GT(publisher_next_wake_ms(f->p, f->now), 0);
        ck_assert_int_eq(fx_pump(f) & (PUB_PUMP_CONNECTED | PUB_PUMP_CONNECT_FAILED), 0);
    } else if (expect_publish) {
        HOT_UINT_EQ(f->npubs, npubs + 1);
        HOT_UINT_EQ(f->pubs[npubs].ticket, t);
        HOT_UINT_EQ(f->pubs[npubs].tag, f->last_tag);
        fx_expect_open(f, t);
    } else {
        HOT_UINT_EQ(f->npubs, npubs);
        fx_expect_done(f, t, PUB_UNAVAILABLE);
    }
    return will_fail;
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

/* Advances the clock by up to 40 ms (250 ms when r >= 95) and pumps. Returns whether the
 * pump reported a lost connection. */
static bool step_pump(fx_t *f, uint64_t *s, uint64_t r)
{
    f->now += (int64_t)rnd_below(s, r < 95 ? 40 : 250);
    int64_t wake = publisher_next_wake_ms(f->p, f->now);
    bool was_up = publisher_state_get(f->p) == PUB_STATE_UP;
    int connects = f->connect_calls, oks = f->connects_ok;
    int flags = fx_pump(f);
    bool attempted = f->connect_calls > connects;
    /* An attempt is made exactly when the wake-up delay has run out. */
    if (!was_up)
        HOT_INT_EQ(attempted, wake == 0);
    else
        HOT_INT_EQ(attempted, false);
    int expect = 0;
    if (attempted)
        expect = f->connects_ok > oks ? PUB_PUMP_CONNECTED : PUB_PUMP_CONNECT_FAILED;
    HOT_INT_EQ(flags & (PUB_PUMP_CONNECTED | PUB_PUMP_CONNECT_FAILED), expect);
    return (flags & PUB_PUMP_LOST) != 0;
}

static void run_random(uint64_t seed, uint32_t max_inflight, int steps)
{
    fx_t f;
    publisher_opts_t o = {.max_inflight = max_inflight,
                          .confirm_timeout_ms = 300,
                          .backoff_base_ms = 10,
                          .backoff_max_ms = 200,
                          .seed = seed};
    fx_init_opts(&f, &o);
    uint64_t s = seed;
    uint64_t ticket = 0;
    uint64_t losses = 0;

    for (int step = 0; step < steps; step++) {
        uint64_t r = rnd_below(&s, 100);
        if (r < 35) {
            if (!publisher_wants_jobs(f.p) && rnd_below(&s, 8) != 0)
                continue;
            losses += step_submit(&f, ++ticket);
        } else if (r < 77) {
            if (!f.connected)
                continue;
            step_event(&f, &s, r);
        } else if (r < 79) {
            if (f.connected && rnd_below(&s, 2) == 0)
                f.publish_fail_code = ERR_IO;
            else
                f.connect_failures_left = (int)rnd_below(&s, 4);
            f.connect_fail_code = ERR_UNAVAIL;
        } else {
            losses += step_pump(&f, &s, r);
        }
        check_model(&f, ticket);
    }

    /* The counters agree with the outcomes seen; after teardown every job is answered once. */
    const publisher_stats_t *st = publisher_stats(f.p);
    ck_assert_uint_eq(fx_counter(&st->confirmed), f.by_status[PUB_CONFIRMED]);
    ck_assert_uint_eq(fx_counter(&st->nacked), f.refused_by_nack);
    ck_assert_uint_eq(fx_counter(&st->returned), f.refused_by_return);
    ck_assert_uint_eq(f.refused_by_nack + f.refused_by_return, f.by_status[PUB_REFUSED]);
    ck_assert_uint_eq(fx_counter(&st->timed_out), f.by_status[PUB_TIMEOUT]);
    ck_assert_uint_eq(fx_counter(&st->unavailable), f.by_status[PUB_UNAVAILABLE]);
    ck_assert_uint_eq(fx_outcomes_sum(st), f.ndone);
    ck_assert_uint_eq(fx_counter(&st->connects), (uint64_t)f.connects_ok);
    ck_assert_uint_eq(fx_counter(&st->connection_losses), losses);
    ck_assert_uint_eq(fx_counter(&st->published), f.npubs);
    ck_assert_uint_eq(atomic_load(&st->inflight), publisher_inflight(f.p));
    ck_assert_int_eq(atomic_load(&st->blocked), f.blocked);
    ck_assert_uint_gt(f.by_status[PUB_CONFIRMED], 0);
    ck_assert_uint_gt(f.refused_by_nack, 0);
    ck_assert_uint_gt(f.refused_by_return, 0);
    ck_assert_uint_gt(f.by_status[PUB_TIMEOUT], 0);
    ck_assert_uint_gt(f.by_status[PUB_UNAVAILABLE], 0);
    ck_assert_uint_gt(losses, 0);

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
    /* Windows from 1 (a table of one slot) to larger than the broker usually lets fill. */
    static const uint32_t windows[] = {1, 2, 3, 8, 64};
    for (uint64_t seed = 1; seed <= 20; seed++)
        run_random(seed * 7919, windows[seed % 5], 50000);
}
END_TEST

void publisher_add_random_tests(Suite *s)
{
    TCase *tc = tcase_create("random"); /* no fixture: each run makes its own publisher */
    tcase_set_timeout(tc, 120);         /* sanitizer builds are the slow case */
    tcase_add_test(tc, test_publisher_random_sequences_answer_every_job_once);
    suite_add_tcase(s, tc);
}
