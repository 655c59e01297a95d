/* SPDX-License-Identifier: MIT */
#include "api/publisher.h"

#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

/*
 * The publisher runs against a fake transport that plays the broker: scripted connect
 * results, a queue of events (and connection errors) handed out by next_event, a one-shot
 * publish failure, and a record of everything published with the delivery tag the broker
 * would have given it (1, 2, ... per connection). When the fake hands out an ack or a nack
 * it marks every message the event covers, so the completion callback can check each
 * outcome against what the broker really said: CONFIRMED only after an ack covering the
 * tag (and no return), REFUSED only after a nack or a return, TIMEOUT only once the
 * deadline has passed with nothing settled. Every test checks these rules on every
 * completion; the randomized test adds liveness and bookkeeping checks after every step.
 */

/* Check records every assertion it runs (a write to the runner per call), so the checks on
 * hot paths (the fake, the completion callback, the model) call the typed assertion only once
 * they have found a mismatch to report. Arguments must be free of side effects. */
#define HOT_INT_EQ(a, b)                                                                           \
    do {                                                                                           \
        if (!((a) == (b)))                                                                         \
            ck_assert_int_eq(a, b);                                                                \
    } while (0)
#define HOT_INT_GE(a, b)                                                                           \
    do {                                                                                           \
        if (!((a) >= (b)))                                                                         \
            ck_assert_int_ge(a, b);                                                                \
    } while (0)
#define HOT_INT_LE(a, b)                                                                           \
    do {                                                                                           \
        if (!((a) <= (b)))                                                                         \
            ck_assert_int_le(a, b);                                                                \
    } while (0)
#define HOT_INT_GT(a, b)                                                                           \
    do {                                                                                           \
        if (!((a) > (b)))                                                                          \
            ck_assert_int_gt(a, b);                                                                \
    } while (0)
#define HOT_UINT_EQ(a, b)                                                                          \
    do {                                                                                           \
        if (!((a) == (b)))                                                                         \
            ck_assert_uint_eq(a, b);                                                               \
    } while (0)
#define HOT_UINT_LE(a, b)                                                                          \
    do {                                                                                           \
        if (!((a) <= (b)))                                                                         \
            ck_assert_uint_le(a, b);                                                               \
    } while (0)
#define HOT_PTR_NULL(x)                                                                            \
    do {                                                                                           \
        if ((x) != NULL)                                                                           \
            ck_assert_ptr_null(x);                                                                 \
    } while (0)
#define HOT_PTR_NONNULL(x)                                                                         \
    do {                                                                                           \
        if ((x) == NULL)                                                                           \
            ck_assert_ptr_nonnull(x);                                                              \
    } while (0)

/* ---- the fake transport and the completion recorder ---- */

enum { SETTLE_NONE = 0, SETTLE_ACK = 1, SETTLE_NACK = 2 };

typedef struct fake_ev {
    int rc; /* < 0: next_event fails with this code (connection lost) */
    pub_event_t ev;
} fake_ev_t;

/* One successful publish, as the broker saw it. */
typedef struct pubrec {
    uint64_t ticket;
    uint32_t loop;
    uint32_t conn; /* 1, 2, ... per successful connect */
    uint64_t tag;  /* 1, 2, ... per connection */
    uint32_t len;
    char *body; /* copy, freed by fx_deinit */
    int64_t enqueued_ms;
    int64_t received_ms;
    int64_t submitted_ms; /* the test clock when it was published */
    int settle;           /* SETTLE_*: the first ack or nack handed out that covers the tag */
    bool returned;        /* a basic.return naming it was handed out */
    char id[IDGEN_STR_LEN + 1];
} pubrec_t;

typedef struct done {
    uint32_t loop;
    uint64_t ticket;
    pub_status_t status;
    int64_t enqueued_ms;
} done_t;

/* What the test knows about each ticket. */
typedef struct tk {
    bool submitted;
    int ndone;
    pub_status_t status;
    long pub; /* index in fx.pubs, or -1 if never published */
} tk_t;

typedef struct fx {
    publisher_t *p;
    publisher_opts_t opts;
    int64_t now;

    /* Transport script. */
    int connect_failures_left; /* the next N connects fail ... */
    int connect_fail_code;     /* ... with this code */
    int publish_fail_code;     /* one shot: the next publish fails with this code */
    int error_on_connect;      /* one shot: the next connection dies before its first event */

    /* Transport record. */
    int connect_calls, connects_ok, disconnect_calls, publish_calls, next_event_calls;
    bool connected, broken, blocked;
    uint32_t conn;
    size_t conn_first; /* index in pubs of the current connection's tag 1 */
    uint64_t last_tag; /* tags handed out on the current connection */
    uint64_t low_tag;  /* lowest tag of the current connection not yet settled */

    fake_ev_t *evq;
    size_t evq_head, evq_len, evq_cap;
    pubrec_t *pubs;
    size_t npubs, pubs_cap;
    done_t *done;
    size_t ndone, done_cap;
    tk_t *tks;
    size_t tks_cap;
    uint64_t by_status[4];
    uint64_t answered_upto; /* randomized test: tickets 1..this are known to be answered */
} fx_t;

static tk_t *tk_of(fx_t *f, uint64_t ticket)
{
    if (ticket >= f->tks_cap) {
        size_t cap = f->tks_cap ? f->tks_cap : 64;
        while (cap <= ticket)
            cap *= 2;
        f->tks = xrealloc(f->tks, cap * sizeof(*f->tks));
        for (size_t i = f->tks_cap; i < cap; i++)
            f->tks[i] = (tk_t){.pub = -1};
        f->tks_cap = cap;
    }
    return &f->tks[ticket];
}

static pubrec_t *pub_by_tag(fx_t *f, uint64_t tag)
{
    return &f->pubs[f->conn_first + tag - 1];
}

static void push_ev(fx_t *f, int rc, pub_event_t ev);

static int fake_connect(void *ctx, err_t *err)
{
    fx_t *f = ctx;
    f->connect_calls++;
    HOT_INT_EQ(f->connected, false); /* the old connection was dropped first */
    if (f->connect_failures_left > 0) {
        f->connect_failures_left--;
        return err_set(err, f->connect_fail_code, NULL, "fake connect failure %d",
                       f->connect_calls);
    }
    f->connects_ok++;
    f->connected = true;
    f->broken = false;
    f->blocked = false;
    f->conn++;
    f->conn_first = f->npubs;
    f->last_tag = 0;
    f->low_tag = 1;
    if (f->error_on_connect < 0) {
        push_ev(f, f->error_on_connect, (pub_event_t){.kind = PUB_EV_ACK});
        f->error_on_connect = 0;
    }
    return 0;
}

static int fake_publish(void *ctx, const pub_job_t *job, err_t *err)
{
    fx_t *f = ctx;
    f->publish_calls++;
    /* The publisher must never write to a closed or broken connection. */
    HOT_INT_EQ(f->connected, true);
    HOT_INT_EQ(f->broken, false);
    if (f->publish_fail_code < 0) {
        int code = f->publish_fail_code;
        f->publish_fail_code = 0;
        f->broken = true;
        return err_set(err, code, NULL, "fake publish failure");
    }
    if (f->npubs == f->pubs_cap) {
        f->pubs_cap = f->pubs_cap ? 2 * f->pubs_cap : 64;
        f->pubs = xrealloc(f->pubs, f->pubs_cap * sizeof(*f->pubs));
    }
    pubrec_t *r = &f->pubs[f->npubs];
    *r = (pubrec_t){.ticket = job->ticket,
                    .loop = job->loop,
                    .conn = f->conn,
                    .tag = ++f->last_tag,
                    .len = job->len,
                    .body = xmalloc(job->len),
                    .enqueued_ms = job->enqueued_ms,
                    .received_ms = job->received_ms,
                    .submitted_ms = f->now};
    memcpy(r->body, job->body, job->len);
    memcpy(r->id, job->id, sizeof(r->id));
    tk_of(f, job->ticket)->pub = (long)f->npubs;
    f->npubs++;
    return 0;
}

/* Records what a settle event means for the broker-side messages it covers, with the
 * publisher's reading of the protocol: multiple settles every tag up to the one named, and
 * tag 0 with multiple settles everything outstanding. Tags never published are ignored. */
static void mark_settle(fx_t *f, const pub_event_t *ev)
{
    int kind = ev->kind == PUB_EV_ACK ? SETTLE_ACK : SETTLE_NACK;
    uint64_t last = ev->tag;
    if (ev->multiple && last == 0)
        last = f->last_tag;
    if (last == 0 || last > f->last_tag)
        return;
    uint64_t first = ev->multiple ? f->low_tag : last;
    for (uint64_t t = first; t <= last; t++) {
        pubrec_t *r = pub_by_tag(f, t);
        if (r->settle == SETTLE_NONE)
            r->settle = kind;
    }
    while (f->low_tag <= f->last_tag && pub_by_tag(f, f->low_tag)->settle != SETTLE_NONE)
        f->low_tag++;
}

/* A return names a message id; it concerns the oldest message with that id that was
 * neither settled nor already returned (returns come in publish order). */
static void mark_return(fx_t *f, const char *id)
{
    for (uint64_t t = f->low_tag; t <= f->last_tag; t++) {
        pubrec_t *r = pub_by_tag(f, t);
        if (r->settle == SETTLE_NONE && !r->returned && strcmp(r->id, id) == 0) {
            r->returned = true;
            return;
        }
    }
}

static int fake_next_event(void *ctx, pub_event_t *ev, err_t *err)
{
    fx_t *f = ctx;
    f->next_event_calls++;
    HOT_INT_EQ(f->connected, true);
    HOT_INT_EQ(f->broken, false);
    if (f->evq_head == f->evq_len)
        return 0;
    fake_ev_t *e = &f->evq[f->evq_head++];
    if (e->rc < 0) {
        f->broken = true;
        return err_set(err, e->rc, NULL, "fake connection lost");
    }
    *ev = e->ev;
    switch (ev->kind) {
    case PUB_EV_ACK:
    case PUB_EV_NACK:
        mark_settle(f, ev);
        break;
    case PUB_EV_RETURN:
        mark_return(f, ev->message_id);
        break;
    case PUB_EV_BLOCKED:
        f->blocked = true;
        break;
    case PUB_EV_UNBLOCKED:
        f->blocked = false;
        break;
    }
    return 1;
}

static void fake_disconnect(void *ctx)
{
    fx_t *f = ctx;
    f->disconnect_calls++;
    /* Whatever the dead connection still had to say is gone with it. */
    f->connected = false;
    f->broken = false;
    f->blocked = false;
    f->evq_head = f->evq_len = 0;
}

static void push_ev(fx_t *f, int rc, pub_event_t ev)
{
    HOT_INT_EQ(f->connected, true); /* events only exist on a live connection */
    if (f->evq_len == f->evq_cap) {
        f->evq_cap = f->evq_cap ? 2 * f->evq_cap : 64;
        f->evq = xrealloc(f->evq, f->evq_cap * sizeof(*f->evq));
    }
    f->evq[f->evq_len++] = (fake_ev_t){.rc = rc, .ev = ev};
}

static void push_ack(fx_t *f, uint64_t tag, bool multiple)
{
    push_ev(f, 0, (pub_event_t){.kind = PUB_EV_ACK, .tag = tag, .multiple = multiple});
}

static void push_nack(fx_t *f, uint64_t tag, bool multiple)
{
    push_ev(f, 0, (pub_event_t){.kind = PUB_EV_NACK, .tag = tag, .multiple = multiple});
}

static void push_return(fx_t *f, const char *id)
{
    pub_event_t ev = {.kind = PUB_EV_RETURN};
    snprintf(ev.message_id, sizeof(ev.message_id), "%s", id);
    push_ev(f, 0, ev);
}

static void push_kind(fx_t *f, pub_event_kind_t kind)
{
    push_ev(f, 0, (pub_event_t){.kind = kind});
}

static void push_error(fx_t *f, int code)
{
    push_ev(f, code, (pub_event_t){.kind = PUB_EV_ACK});
}

/* The completion callback: records the outcome and checks it against the broker's word. */
static void on_complete(void *ctx, uint32_t loop, uint64_t ticket, pub_status_t status,
                        int64_t enqueued_ms)
{
    fx_t *f = ctx;
    tk_t *k = tk_of(f, ticket);
    HOT_INT_EQ(k->submitted, true);
    HOT_INT_EQ(k->ndone, 0); /* exactly once */
    k->ndone++;
    HOT_UINT_LE((unsigned)status, PUB_REFUSED);
    k->status = status;
    f->by_status[status]++;
    if (f->ndone == f->done_cap) {
        f->done_cap = f->done_cap ? 2 * f->done_cap : 64;
        f->done = xrealloc(f->done, f->done_cap * sizeof(*f->done));
    }
    f->done[f->ndone++] =
        (done_t){.loop = loop, .ticket = ticket, .status = status, .enqueued_ms = enqueued_ms};

    /* Loop and enqueue time travel with the job unchanged (the fixtures derive them). */
    HOT_UINT_EQ(loop, (uint32_t)(ticket % 3));
    HOT_INT_EQ(enqueued_ms, (int64_t)(1000 + ticket));

    const pubrec_t *r = k->pub >= 0 ? &f->pubs[k->pub] : NULL;
    switch (status) {
    case PUB_CONFIRMED:
        HOT_PTR_NONNULL(r);
        HOT_INT_EQ(r->settle, SETTLE_ACK);
        HOT_INT_EQ(r->returned, false);
        break;
    case PUB_REFUSED:
        HOT_PTR_NONNULL(r);
        if (r->settle != SETTLE_NACK) {
            HOT_INT_EQ(r->settle, SETTLE_ACK);
            HOT_INT_EQ(r->returned, true);
        }
        break;
    case PUB_TIMEOUT:
        HOT_PTR_NONNULL(r);
        HOT_INT_EQ(r->settle, SETTLE_NONE);
        HOT_INT_GE(f->now, r->submitted_ms + (int64_t)f->opts.confirm_timeout_ms);
        break;
    case PUB_UNAVAILABLE:
        break;
    }
}

static const publisher_opts_t default_opts = {
    .max_inflight = 8,
    .confirm_timeout_ms = 1000,
    .backoff_base_ms = 100,
    .backoff_max_ms = 1600,
    .seed = 42,
};

static void fx_init_opts(fx_t *f, const publisher_opts_t *o)
{
    *f = (fx_t){.opts = *o, .now = 1000000};
    pub_transport_t t = {.ctx = f,
                         .connect = fake_connect,
                         .publish = fake_publish,
                         .next_event = fake_next_event,
                         .disconnect = fake_disconnect};
    f->p = publisher_create(o, &t, on_complete, f);
    HOT_PTR_NONNULL(f->p);
}

static void fx_init(fx_t *f)
{
    fx_init_opts(f, &default_opts);
}

/* Destroys the publisher; the records stay readable until fx_deinit. */
static void fx_destroy(fx_t *f)
{
    publisher_destroy(f->p);
    f->p = NULL;
}

/* Destroys the publisher (if still there) and frees the fake's records. */
static void fx_deinit(fx_t *f)
{
    fx_destroy(f);
    for (size_t i = 0; i < f->npubs; i++)
        free(f->pubs[i].body);
    free(f->pubs);
    free(f->evq);
    free(f->done);
    free(f->tks);
}

static void make_id(uint64_t n, char out[IDGEN_STR_LEN + 1])
{
    snprintf(out, IDGEN_STR_LEN + 1, "0190a1b2-c3d4-7e5f-8a6b-%012llx", (unsigned long long)n);
}

/* Submits ticket with a fresh malloc'd body and its id derived from id_n. */
static void submit_id(fx_t *f, uint64_t ticket, uint64_t id_n)
{
    tk_t *k = tk_of(f, ticket);
    HOT_INT_EQ(k->submitted, false); /* tickets are unique within a test */
    k->submitted = true;
    char text[64];
    int n = snprintf(text, sizeof(text), "{\"ticket\":%llu}", (unsigned long long)ticket);
    pub_job_t job = {.ticket = ticket,
                     .loop = (uint32_t)(ticket % 3),
                     .len = (uint32_t)n,
                     .body = xmalloc((size_t)n),
                     .received_ms = 1700000000000 + (int64_t)ticket,
                     .enqueued_ms = (int64_t)(1000 + ticket)};
    memcpy(job.body, text, (size_t)n); /* not NUL-terminated, as from the ring */
    make_id(id_n, job.id);
    publisher_submit(f->p, &job, f->now);
    HOT_PTR_NULL(job.body); /* ownership was taken: freed (ASan checks) */
}

static void submit(fx_t *f, uint64_t ticket)
{
    submit_id(f, ticket, ticket);
}

static int pump(fx_t *f)
{
    return publisher_pump(f->p, f->now);
}

static void fx_up(fx_t *f)
{
    ck_assert_int_eq(pump(f) & PUB_PUMP_CONNECTED, PUB_PUMP_CONNECTED);
    HOT_INT_EQ(publisher_state_get(f->p), PUB_STATE_UP);
}

static int ndone_of(fx_t *f, uint64_t ticket)
{
    return tk_of(f, ticket)->ndone;
}

static void expect_done(fx_t *f, uint64_t ticket, pub_status_t status)
{
    HOT_INT_EQ(ndone_of(f, ticket), 1);
    HOT_INT_EQ(tk_of(f, ticket)->status, status);
}

static void expect_open(fx_t *f, uint64_t ticket)
{
    HOT_INT_EQ(ndone_of(f, ticket), 0);
}

static const pubrec_t *pub_of(fx_t *f, uint64_t ticket)
{
    long i = tk_of(f, ticket)->pub;
    HOT_INT_GE(i, 0);
    return &f->pubs[i];
}

static uint64_t counter(const _Atomic uint64_t *c)
{
    return atomic_load(c);
}

static uint32_t cap_of(const publisher_opts_t *o, uint32_t attempt)
{
    uint64_t cap = attempt >= 32 ? o->backoff_max_ms : (uint64_t)o->backoff_base_ms << attempt;
    return cap > o->backoff_max_ms ? o->backoff_max_ms : (uint32_t)cap;
}

/* Checks that the reconnect delay now scheduled is a valid draw for attempt n. */
static int64_t expect_backoff(fx_t *f, uint32_t attempt)
{
    int64_t d = publisher_next_wake_ms(f->p, f->now);
    uint32_t cap = cap_of(&f->opts, attempt);
    ck_assert_int_ge(d, cap / 2);
    ck_assert_int_le(d, cap);
    return d;
}

/* ---- create and connect ---- */

START_TEST(test_publisher_create_refuses_zero_inflight)
{
    publisher_opts_t o = default_opts;
    o.max_inflight = 0;
    fx_t f = {0};
    pub_transport_t t = {.ctx = &f,
                         .connect = fake_connect,
                         .publish = fake_publish,
                         .next_event = fake_next_event,
                         .disconnect = fake_disconnect};
    ck_assert_ptr_null(publisher_create(&o, &t, on_complete, &f));
    publisher_destroy(NULL);
    ck_assert_int_eq(f.connect_calls, 0);
}
END_TEST

START_TEST(test_publisher_first_pump_connects)
{
    fx_t f;
    fx_init(&f);
    ck_assert_int_eq(publisher_state_get(f.p), PUB_STATE_CONNECTING);
    ck_assert_int_eq(publisher_next_wake_ms(f.p, f.now), 0);
    ck_assert_int_eq(publisher_wants_jobs(f.p), true);
    ck_assert_int_eq(f.connect_calls, 0);

    ck_assert_int_eq(pump(&f), PUB_PUMP_CONNECTED);
    ck_assert_int_eq(publisher_state_get(f.p), PUB_STATE_UP);
    ck_assert_int_eq(f.connect_calls, 1);
    ck_assert_int_eq(f.disconnect_calls, 0);
    ck_assert_int_ge(f.next_event_calls, 1); /* events are read in the same pump */
    ck_assert_uint_eq(counter(&publisher_stats(f.p)->connects), 1);
    ck_assert_int_eq(publisher_next_wake_ms(f.p, f.now), -1); /* nothing timed */
    ck_assert_uint_eq(publisher_inflight(f.p), 0);
    ck_assert_int_eq(publisher_wants_jobs(f.p), true);

    /* Further pumps neither reconnect nor report anything. */
    f.now += 5000;
    ck_assert_int_eq(pump(&f), 0);
    ck_assert_int_eq(f.connect_calls, 1);
    fx_destroy(&f);
    ck_assert_int_eq(f.disconnect_calls, 1);
    fx_deinit(&f);
}
END_TEST

START_TEST(test_publisher_connect_failure_reports_error_and_waits)
{
    fx_t f;
    fx_init(&f);
    f.connect_failures_left = 1;
    f.connect_fail_code = ERR_UNAVAIL;
    ck_assert_int_eq(pump(&f), PUB_PUMP_CONNECT_FAILED);
    ck_assert_int_eq(publisher_state_get(f.p), PUB_STATE_CONNECTING);
    ck_assert_int_eq(publisher_last_err(f.p)->code, ERR_UNAVAIL);
    ck_assert_str_eq(publisher_last_err(f.p)->msg, "fake connect failure 1");
    ck_assert_int_eq(f.disconnect_calls, 1); /* a half-open connection is dropped */
    ck_assert_uint_eq(counter(&publisher_stats(f.p)->connects), 0);
    ck_assert_uint_eq(counter(&publisher_stats(f.p)->connection_losses), 0);
    ck_assert_int_eq(f.next_event_calls, 0);

    int64_t d = expect_backoff(&f, 0);
    ck_assert_int_eq(publisher_wants_jobs(f.p), true); /* refused at once, not queued */

    /* Before the delay: nothing, not even an attempt. */
    f.now += d - 1;
    ck_assert_int_eq(pump(&f), 0);
    ck_assert_int_eq(f.connect_calls, 1);
    ck_assert_int_eq(publisher_next_wake_ms(f.p, f.now), 1);
    f.now += 1;
    ck_assert_int_eq(publisher_next_wake_ms(f.p, f.now), 0);
    ck_assert_int_eq(pump(&f), PUB_PUMP_CONNECTED);
    ck_assert_int_eq(f.connect_calls, 2);
    ck_assert_int_eq(publisher_state_get(f.p), PUB_STATE_UP);
    fx_deinit(&f);
}
END_TEST

START_TEST(test_publisher_connect_backoff_grows_and_is_capped)
{
    fx_t f;
    publisher_opts_t o = default_opts;
    o.backoff_base_ms = 100;
    o.backoff_max_ms = 1000; /* not a power-of-two multiple of base: the cap clips */
    fx_init_opts(&f, &o);
    enum { FAILURES = 40 }; /* past 32 doublings too */
    f.connect_failures_left = FAILURES;
    f.connect_fail_code = ERR_IO;
    int64_t prev_cap = 0;
    for (uint32_t i = 0; i < FAILURES; i++) {
        ck_assert_int_eq(pump(&f), PUB_PUMP_CONNECT_FAILED);
        ck_assert_int_eq(f.connect_calls, (int)i + 1);
        ck_assert_int_eq(publisher_state_get(f.p), PUB_STATE_CONNECTING);
        int64_t d = expect_backoff(&f, i);
        ck_assert_int_ge(cap_of(&o, i), prev_cap);
        prev_cap = cap_of(&o, i);
        f.now += d - 1;
        ck_assert_int_eq(pump(&f), 0);
        ck_assert_int_eq(f.connect_calls, (int)i + 1);
        f.now += 1;
    }
    ck_assert_int_eq(prev_cap, 1000);
    ck_assert_int_eq(pump(&f), PUB_PUMP_CONNECTED);
    ck_assert_int_eq(f.disconnect_calls, FAILURES);
    fx_deinit(&f);
}
END_TEST

START_TEST(test_publisher_backoff_jitter_stays_in_range_for_many_seeds)
{
    for (uint64_t seed = 0; seed < 200; seed++) {
        fx_t f;
        publisher_opts_t o = default_opts;
        o.seed = seed * 0x9E3779B97F4A7C15u;
        o.backoff_base_ms = 3;
        o.backoff_max_ms = 50;
        fx_init_opts(&f, &o);
        f.connect_failures_left = 8;
        f.connect_fail_code = ERR_IO;
        for (uint32_t i = 0; i < 8; i++) {
            ck_assert_int_eq(pump(&f), PUB_PUMP_CONNECT_FAILED);
            f.now += expect_backoff(&f, i);
        }
        ck_assert_int_eq(pump(&f), PUB_PUMP_CONNECTED);
        fx_deinit(&f);
    }
}
END_TEST

START_TEST(test_publisher_backoff_restarts_after_a_successful_connect)
{
    fx_t f;
    fx_init(&f);
    f.connect_failures_left = 3;
    f.connect_fail_code = ERR_IO;
    for (uint32_t i = 0; i < 3; i++) {
        ck_assert_int_eq(pump(&f), PUB_PUMP_CONNECT_FAILED);
        f.now += expect_backoff(&f, i);
    }
    fx_up(&f);
    /* The connection lasts the longest delay: the delay starts over. */
    f.now += f.opts.backoff_max_ms;
    ck_assert_int_eq(pump(&f), 0);

    /* Lost: the delay starts over from the base ... */
    push_error(&f, ERR_IO);
    ck_assert_int_eq(pump(&f), PUB_PUMP_LOST);
    ck_assert_int_eq(publisher_state_get(f.p), PUB_STATE_DOWN);
    f.now += expect_backoff(&f, 0);
    /* ... and grows again while the reconnects fail; the state stays DOWN. */
    f.connect_failures_left = 2;
    for (uint32_t i = 1; i <= 2; i++) {
        ck_assert_int_eq(pump(&f), PUB_PUMP_CONNECT_FAILED);
        ck_assert_int_eq(publisher_state_get(f.p), PUB_STATE_DOWN);
        f.now += expect_backoff(&f, i);
    }
    fx_up(&f);
    ck_assert_uint_eq(counter(&publisher_stats(f.p)->connects), 2);
    ck_assert_uint_eq(counter(&publisher_stats(f.p)->connection_losses), 1);
    fx_deinit(&f);
}
END_TEST

START_TEST(test_publisher_submit_while_not_connected_is_unavailable)
{
    fx_t f;
    fx_init(&f);
    /* Before the first pump. */
    submit(&f, 1);
    expect_done(&f, 1, PUB_UNAVAILABLE);
    /* After a failed connect. */
    f.connect_failures_left = 1;
    f.connect_fail_code = ERR_UNAVAIL;
    ck_assert_int_eq(pump(&f), PUB_PUMP_CONNECT_FAILED);
    submit(&f, 2);
    expect_done(&f, 2, PUB_UNAVAILABLE);
    ck_assert_int_eq(f.publish_calls, 0);
    ck_assert_uint_eq(publisher_inflight(f.p), 0);
    ck_assert_uint_eq(counter(&publisher_stats(f.p)->unavailable), 2);
    ck_assert_uint_eq(counter(&publisher_stats(f.p)->published), 0);
    fx_destroy(&f);
    ck_assert_uint_eq(f.ndone, 2);
    fx_deinit(&f);
}
END_TEST

/* ---- publishing and confirms ---- */

START_TEST(test_publisher_publishes_with_tags_and_body_copy)
{
    fx_t f;
    fx_init(&f);
    fx_up(&f);
    for (uint64_t t = 1; t <= 3; t++)
        submit(&f, t);
    ck_assert_uint_eq(f.npubs, 3);
    for (uint64_t t = 1; t <= 3; t++) {
        const pubrec_t *r = &f.pubs[t - 1];
        char text[64], id[IDGEN_STR_LEN + 1];
        int n = snprintf(text, sizeof(text), "{\"ticket\":%llu}", (unsigned long long)t);
        make_id(t, id);
        ck_assert_uint_eq(r->ticket, t);
        ck_assert_uint_eq(r->tag, t);
        ck_assert_uint_eq(r->len, (uint32_t)n);
        ck_assert_mem_eq(r->body, text, (size_t)n);
        ck_assert_str_eq(r->id, id);
        ck_assert_int_eq(r->received_ms, 1700000000000 + (int64_t)t);
        expect_open(&f, t);
    }
    ck_assert_uint_eq(publisher_inflight(f.p), 3);
    ck_assert_uint_eq(atomic_load(&publisher_stats(f.p)->inflight), 3);
    ck_assert_uint_eq(counter(&publisher_stats(f.p)->published), 3);
    ck_assert_int_eq(publisher_next_wake_ms(f.p, f.now), 1000);
    ck_assert_uint_eq(f.ndone, 0);
    fx_deinit(&f);
}
END_TEST

START_TEST(test_publisher_single_acks_out_of_order)
{
    fx_t f;
    fx_init(&f);
    fx_up(&f);
    for (uint64_t t = 1; t <= 4; t++)
        submit(&f, t);

    push_ack(&f, 3, false);
    ck_assert_int_eq(pump(&f), 0);
    expect_done(&f, 3, PUB_CONFIRMED);
    expect_open(&f, 1);
    expect_open(&f, 2);
    expect_open(&f, 4);
    ck_assert_uint_eq(publisher_inflight(f.p), 4); /* tag 1 still holds the window */

    push_ack(&f, 1, false);
    ck_assert_int_eq(pump(&f), 0);
    expect_done(&f, 1, PUB_CONFIRMED);
    ck_assert_uint_eq(publisher_inflight(f.p), 3); /* tags 2..4 */

    push_ack(&f, 2, false);
    ck_assert_int_eq(pump(&f), 0);
    expect_done(&f, 2, PUB_CONFIRMED);
    ck_assert_uint_eq(publisher_inflight(f.p), 1); /* past the settled 3: only 4 */

    push_ack(&f, 4, false);
    pump(&f);
    expect_done(&f, 4, PUB_CONFIRMED);
    ck_assert_uint_eq(publisher_inflight(f.p), 0);
    ck_assert_uint_eq(atomic_load(&publisher_stats(f.p)->inflight), 0);
    ck_assert_uint_eq(counter(&publisher_stats(f.p)->confirmed), 4);
    ck_assert_int_eq(publisher_next_wake_ms(f.p, f.now), -1);
    ck_assert_uint_eq(f.ndone, 4);
    fx_destroy(&f);
    ck_assert_uint_eq(f.ndone, 4);
    fx_deinit(&f);
}
END_TEST

START_TEST(test_publisher_multiple_acks_confirm_1000_in_order)
{
    enum { N = 1000 };
    fx_t f;
    publisher_opts_t o = default_opts;
    o.max_inflight = N;
    fx_init_opts(&f, &o);
    fx_up(&f);
    for (uint64_t t = 1; t <= N; t++)
        submit(&f, t);
    ck_assert_uint_eq(publisher_inflight(f.p), N);
    ck_assert_int_eq(publisher_wants_jobs(f.p), false);

    push_ack(&f, 1, true);
    push_ack(&f, 250, true);
    pump(&f);
    ck_assert_uint_eq(f.ndone, 250);
    ck_assert_uint_eq(publisher_inflight(f.p), N - 250);
    ck_assert_int_eq(publisher_wants_jobs(f.p), true);
    push_ack(&f, 251, false);
    push_ack(&f, 777, true);
    push_ack(&f, 1000, true);
    pump(&f);
    ck_assert_uint_eq(f.ndone, N);
    for (size_t i = 0; i < N; i++) {
        ck_assert_uint_eq(f.done[i].ticket, i + 1); /* completion order = publish order */
        ck_assert_int_eq(f.done[i].status, PUB_CONFIRMED);
        ck_assert_int_eq(ndone_of(&f, i + 1), 1);
    }
    ck_assert_uint_eq(publisher_inflight(f.p), 0);
    ck_assert_uint_eq(counter(&publisher_stats(f.p)->confirmed), N);
    ck_assert_uint_eq(counter(&publisher_stats(f.p)->published), N);
    fx_destroy(&f);
    ck_assert_uint_eq(f.ndone, N); /* destroy had nothing left to answer */
    fx_deinit(&f);
}
END_TEST

START_TEST(test_publisher_multiple_ack_skips_settled_tags)
{
    fx_t f;
    fx_init(&f);
    fx_up(&f);
    for (uint64_t t = 1; t <= 6; t++)
        submit(&f, t);
    push_ack(&f, 2, false);
    push_nack(&f, 3, false);
    push_ack(&f, 5, true);
    pump(&f);
    expect_done(&f, 1, PUB_CONFIRMED);
    expect_done(&f, 2, PUB_CONFIRMED);
    expect_done(&f, 3, PUB_REFUSED);
    expect_done(&f, 4, PUB_CONFIRMED);
    expect_done(&f, 5, PUB_CONFIRMED);
    expect_open(&f, 6);
    ck_assert_uint_eq(publisher_inflight(f.p), 1);
    ck_assert_uint_eq(counter(&publisher_stats(f.p)->confirmed), 4);
    ck_assert_uint_eq(counter(&publisher_stats(f.p)->nacked), 1);
    fx_destroy(&f);
    expect_done(&f, 6, PUB_UNAVAILABLE);
    fx_deinit(&f);
}
END_TEST

START_TEST(test_publisher_nack_refuses)
{
    fx_t f;
    fx_init(&f);
    fx_up(&f);
    for (uint64_t t = 1; t <= 5; t++)
        submit(&f, t);
    push_nack(&f, 2, false);
    pump(&f);
    expect_open(&f, 1);
    expect_done(&f, 2, PUB_REFUSED);
    push_nack(&f, 4, true);
    push_ack(&f, 5, true); /* 1..4 already settled: only 5 */
    pump(&f);
    expect_done(&f, 1, PUB_REFUSED);
    expect_done(&f, 3, PUB_REFUSED);
    expect_done(&f, 4, PUB_REFUSED);
    expect_done(&f, 5, PUB_CONFIRMED);
    ck_assert_uint_eq(counter(&publisher_stats(f.p)->nacked), 4);
    ck_assert_uint_eq(counter(&publisher_stats(f.p)->confirmed), 1);
    ck_assert_uint_eq(publisher_inflight(f.p), 0);
    fx_destroy(&f);
    ck_assert_uint_eq(f.ndone, 5);
    fx_deinit(&f);
}
END_TEST

START_TEST(test_publisher_return_then_ack_refuses)
{
    fx_t f;
    fx_init(&f);
    fx_up(&f);
    for (uint64_t t = 1; t <= 3; t++)
        submit(&f, t);
    push_return(&f, pub_of(&f, 2)->id);
    push_ack(&f, 3, true);
    pump(&f);
    expect_done(&f, 1, PUB_CONFIRMED);
    expect_done(&f, 2, PUB_REFUSED);
    expect_done(&f, 3, PUB_CONFIRMED);
    const publisher_stats_t *st = publisher_stats(f.p);
    ck_assert_uint_eq(counter(&st->returned), 1);
    ck_assert_uint_eq(counter(&st->confirmed), 2);
    /* A returned message is refused; it is counted with the refusals. */
    ck_assert_uint_eq(counter(&st->nacked), 1);
    fx_deinit(&f);
}
END_TEST

START_TEST(test_publisher_return_with_unknown_id_changes_nothing)
{
    fx_t f;
    fx_init(&f);
    fx_up(&f);
    submit(&f, 1);
    char other[IDGEN_STR_LEN + 1];
    make_id(999, other);
    push_return(&f, other);
    push_return(&f, "");
    push_ack(&f, 1, false);
    pump(&f);
    expect_done(&f, 1, PUB_CONFIRMED);
    fx_deinit(&f);
}
END_TEST

/* A client that retries with the same event id while its first attempt is still unconfirmed
 * puts two messages with one message_id in flight. If both are returned, each return must
 * mark its own message: otherwise the second is confirmed although it was stored nowhere. */
START_TEST(test_publisher_returns_of_a_repeated_id_mark_each_message)
{
    fx_t f;
    fx_init(&f);
    fx_up(&f);
    submit_id(&f, 1, 77);
    submit_id(&f, 2, 77); /* the retry */
    push_return(&f, pub_of(&f, 1)->id);
    push_return(&f, pub_of(&f, 2)->id);
    push_ack(&f, 2, true);
    pump(&f);
    expect_done(&f, 1, PUB_REFUSED);
    expect_done(&f, 2, PUB_REFUSED);
    fx_deinit(&f);
}
END_TEST

START_TEST(test_publisher_ack_for_unknown_or_old_tag_is_ignored)
{
    fx_t f;
    fx_init(&f);
    fx_up(&f);
    /* Nothing in flight: every tag is unknown. */
    push_ack(&f, 1, false);
    push_ack(&f, 1, true);
    push_nack(&f, 5, true);
    pump(&f);
    ck_assert_uint_eq(f.ndone, 0);
    ck_assert_uint_eq(publisher_inflight(f.p), 0);

    for (uint64_t t = 1; t <= 3; t++)
        submit(&f, t);
    push_ack(&f, 1, false);
    push_ack(&f, 1, false); /* again: already settled */
    push_nack(&f, 1, true); /* an old tag, with multiple */
    push_ack(&f, 9, false); /* never published */
    push_nack(&f, 4, true); /* beyond the newest tag */
    pump(&f);
    expect_done(&f, 1, PUB_CONFIRMED);
    expect_open(&f, 2);
    expect_open(&f, 3);
    ck_assert_uint_eq(publisher_inflight(f.p), 2);
    ck_assert_uint_eq(counter(&publisher_stats(f.p)->nacked), 0);

    push_ack(&f, 3, true);
    pump(&f);
    expect_done(&f, 2, PUB_CONFIRMED);
    expect_done(&f, 3, PUB_CONFIRMED);
    ck_assert_uint_eq(f.ndone, 3);
    fx_deinit(&f);
}
END_TEST

START_TEST(test_publisher_tag_zero_multiple_settles_everything_outstanding)
{
    fx_t f;
    fx_init(&f);
    fx_up(&f);
    for (uint64_t t = 1; t <= 5; t++)
        submit(&f, t);
    push_ack(&f, 0, false); /* tag 0 without multiple names nothing */
    pump(&f);
    ck_assert_uint_eq(f.ndone, 0);
    push_ack(&f, 2, false);
    push_ack(&f, 0, true);
    pump(&f);
    for (uint64_t t = 1; t <= 5; t++)
        expect_done(&f, t, PUB_CONFIRMED);
    ck_assert_uint_eq(publisher_inflight(f.p), 0);

    for (uint64_t t = 6; t <= 8; t++)
        submit(&f, t);
    push_nack(&f, 0, true);
    pump(&f);
    for (uint64_t t = 6; t <= 8; t++)
        expect_done(&f, t, PUB_REFUSED);
    ck_assert_uint_eq(publisher_inflight(f.p), 0);
    push_ack(&f, 0, true); /* nothing outstanding: a no-op */
    pump(&f);
    ck_assert_uint_eq(f.ndone, 8);
    fx_deinit(&f);
}
END_TEST

/* ---- confirmation timeouts ---- */

START_TEST(test_publisher_confirm_timeout_answers_once)
{
    fx_t f;
    fx_init(&f);
    fx_up(&f);
    int64_t t0 = f.now;
    submit(&f, 1);
    f.now += 400;
    submit(&f, 2);
    ck_assert_int_eq(publisher_next_wake_ms(f.p, f.now), 600);

    f.now = t0 + 999;
    ck_assert_int_eq(pump(&f), 0);
    ck_assert_uint_eq(f.ndone, 0);
    ck_assert_int_eq(publisher_next_wake_ms(f.p, f.now), 1);

    f.now = t0 + 1000; /* the deadline itself has passed */
    ck_assert_int_eq(pump(&f), 0);
    expect_done(&f, 1, PUB_TIMEOUT);
    expect_open(&f, 2);
    ck_assert_int_eq(publisher_next_wake_ms(f.p, f.now), 400);
    /* The tag is still outstanding at the broker: it keeps its place in the window. */
    ck_assert_uint_eq(publisher_inflight(f.p), 2);

    f.now += 10;
    push_ack(&f, 2, true); /* covers the timed-out tag 1 too */
    pump(&f);
    expect_done(&f, 1, PUB_TIMEOUT);
    expect_done(&f, 2, PUB_CONFIRMED);
    ck_assert_uint_eq(publisher_inflight(f.p), 0);
    ck_assert_int_eq(publisher_next_wake_ms(f.p, f.now), -1);

    f.now += 5000;
    pump(&f);
    ck_assert_uint_eq(f.ndone, 2);
    ck_assert_uint_eq(counter(&publisher_stats(f.p)->timed_out), 1);
    ck_assert_uint_eq(counter(&publisher_stats(f.p)->confirmed), 1);
    fx_destroy(&f);
    ck_assert_uint_eq(f.ndone, 2);
    fx_deinit(&f);
}
END_TEST

START_TEST(test_publisher_ack_read_in_the_deadline_pump_wins)
{
    fx_t f;
    fx_init(&f);
    fx_up(&f);
    submit(&f, 1);
    submit(&f, 2);
    f.now += 1000;
    push_ack(&f, 1, false);
    pump(&f); /* events are read before deadlines are checked */
    expect_done(&f, 1, PUB_CONFIRMED);
    expect_done(&f, 2, PUB_TIMEOUT);
    fx_deinit(&f);
}
END_TEST

START_TEST(test_publisher_timeout_skips_tags_settled_out_of_order)
{
    fx_t f;
    fx_init(&f);
    fx_up(&f);
    for (uint64_t t = 1; t <= 4; t++)
        submit(&f, t);
    push_ack(&f, 2, false);
    push_nack(&f, 4, false);
    pump(&f);
    f.now += 2000;
    pump(&f);
    expect_done(&f, 1, PUB_TIMEOUT);
    expect_done(&f, 2, PUB_CONFIRMED);
    expect_done(&f, 3, PUB_TIMEOUT);
    expect_done(&f, 4, PUB_REFUSED);
    ck_assert_uint_eq(counter(&publisher_stats(f.p)->timed_out), 2);
    ck_assert_int_eq(publisher_next_wake_ms(f.p, f.now), -1);
    /* Late settlements of timed-out tags answer nothing. */
    push_nack(&f, 3, false);
    push_ack(&f, 1, false);
    pump(&f);
    ck_assert_uint_eq(f.ndone, 4);
    ck_assert_uint_eq(publisher_inflight(f.p), 0);
    fx_destroy(&f);
    ck_assert_uint_eq(f.ndone, 4);
    fx_deinit(&f);
}
END_TEST

START_TEST(test_publisher_timed_out_tags_hold_the_window_until_settled)
{
    fx_t f;
    publisher_opts_t o = default_opts;
    o.max_inflight = 2;
    fx_init_opts(&f, &o);
    fx_up(&f);
    submit(&f, 1);
    submit(&f, 2);
    f.now += 1000;
    pump(&f);
    expect_done(&f, 1, PUB_TIMEOUT);
    expect_done(&f, 2, PUB_TIMEOUT);
    ck_assert_int_eq(publisher_wants_jobs(f.p), false);
    submit(&f, 3);
    expect_done(&f, 3, PUB_UNAVAILABLE);
    ck_assert_int_eq(f.publish_calls, 2);
    push_nack(&f, 2, true);
    pump(&f);
    ck_assert_uint_eq(f.ndone, 3);
    ck_assert_int_eq(publisher_wants_jobs(f.p), true);
    submit(&f, 4);
    ck_assert_uint_eq(pub_of(&f, 4)->tag, 3);
    fx_deinit(&f);
}
END_TEST

/* ---- the in-flight window ---- */

START_TEST(test_publisher_window_full_stops_wanting_jobs)
{
    fx_t f;
    publisher_opts_t o = default_opts;
    o.max_inflight = 4;
    fx_init_opts(&f, &o);
    fx_up(&f);
    for (uint64_t t = 1; t <= 4; t++) {
        ck_assert_int_eq(publisher_wants_jobs(f.p), true);
        submit(&f, t);
    }
    ck_assert_int_eq(publisher_wants_jobs(f.p), false);
    submit(&f, 5); /* handed over anyway: refused, not published */
    expect_done(&f, 5, PUB_UNAVAILABLE);
    ck_assert_int_eq(f.publish_calls, 4);

    push_ack(&f, 1, false);
    pump(&f);
    ck_assert_int_eq(publisher_wants_jobs(f.p), true);
    submit(&f, 6);
    ck_assert_uint_eq(pub_of(&f, 6)->tag, 5);
    ck_assert_int_eq(publisher_wants_jobs(f.p), false);

    push_ack(&f, 3, false); /* out of order: tag 2 still holds the window */
    pump(&f);
    ck_assert_int_eq(publisher_wants_jobs(f.p), false);
    push_ack(&f, 2, false);
    pump(&f);
    ck_assert_int_eq(publisher_wants_jobs(f.p), true);
    ck_assert_uint_eq(publisher_inflight(f.p), 2);
    fx_deinit(&f);
}
END_TEST

START_TEST(test_publisher_window_slots_are_reused_across_many_laps)
{
    /* max_inflight 3 gives a table of 4 slots: tags wrap around it every 4 publishes. */
    static const uint32_t sizes[] = {1, 3, 5};
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        fx_t f;
        publisher_opts_t o = default_opts;
        o.max_inflight = sizes[s];
        fx_init_opts(&f, &o);
        fx_up(&f);
        uint64_t ticket = 0, acked = 0;
        for (int lap = 0; lap < 200; lap++) {
            while (publisher_wants_jobs(f.p))
                submit(&f, ++ticket);
            ck_assert_uint_eq(publisher_inflight(f.p), sizes[s]);
            /* Settle the newest first, then the rest with one multiple ack. */
            push_ack(&f, ticket, false);
            pump(&f);
            expect_done(&f, ticket, PUB_CONFIRMED);
            push_ack(&f, ticket - 1, true);
            pump(&f);
            for (uint64_t t = acked + 1; t <= ticket; t++)
                expect_done(&f, t, PUB_CONFIRMED);
            acked = ticket;
            ck_assert_uint_eq(publisher_inflight(f.p), 0);
        }
        ck_assert_uint_eq(f.ndone, ticket);
        fx_deinit(&f);
    }
}
END_TEST

/* ---- losing the connection ---- */

START_TEST(test_publisher_backoff_keeps_growing_while_connections_drop_at_once)
{
    fx_t f;
    fx_init(&f);
    /* A broker that accepts every connection and drops it at once (say, a failing node behind a
     * load balancer): each connect succeeds, yet the reconnects slow down as if they failed. */
    fx_up(&f);
    for (uint32_t i = 0; i < 6; i++) {
        push_error(&f, ERR_IO);
        f.now += f.opts.backoff_max_ms - 1; /* dropped just before it counts as lasting */
        ck_assert_int_eq(pump(&f), PUB_PUMP_LOST);
        f.now += expect_backoff(&f, i);
        fx_up(&f);
    }
    /* Once one lasts, the next loss retries from the base again. */
    f.now += f.opts.backoff_max_ms;
    ck_assert_int_eq(pump(&f), 0);
    push_error(&f, ERR_IO);
    ck_assert_int_eq(pump(&f), PUB_PUMP_LOST);
    expect_backoff(&f, 0);
    fx_deinit(&f);
}
END_TEST

START_TEST(test_publisher_loss_from_next_event_answers_all_unavailable)
{
    fx_t f;
    fx_init(&f);
    fx_up(&f);
    for (uint64_t t = 1; t <= 3; t++)
        submit(&f, t);
    f.now += 1000;
    pump(&f); /* 1..3 time out */
    for (uint64_t t = 4; t <= 7; t++)
        submit(&f, t);
    push_ack(&f, 5, false);
    push_error(&f, ERR_IO);
    push_ack(&f, 7, true); /* never read: the connection is gone */
    ck_assert_int_eq(pump(&f), PUB_PUMP_LOST);
    ck_assert_int_eq(publisher_last_err(f.p)->code, ERR_IO);
    ck_assert_str_eq(publisher_last_err(f.p)->msg, "fake connection lost");

    for (uint64_t t = 1; t <= 3; t++)
        expect_done(&f, t, PUB_TIMEOUT);
    expect_done(&f, 4, PUB_UNAVAILABLE);
    expect_done(&f, 5, PUB_CONFIRMED);
    expect_done(&f, 6, PUB_UNAVAILABLE);
    expect_done(&f, 7, PUB_UNAVAILABLE);
    ck_assert_int_eq(publisher_state_get(f.p), PUB_STATE_DOWN);
    ck_assert_int_eq(f.disconnect_calls, 1);
    ck_assert_uint_eq(publisher_inflight(f.p), 0);
    const publisher_stats_t *st = publisher_stats(f.p);
    ck_assert_uint_eq(counter(&st->connection_losses), 1);
    ck_assert_uint_eq(counter(&st->unavailable), 3);
    ck_assert_uint_eq(counter(&st->timed_out), 3);
    ck_assert_uint_eq(counter(&st->confirmed), 1);
    ck_assert_uint_eq(atomic_load(&st->inflight), 0);

    /* Down: jobs are refused at once; nothing happens before the backoff delay. */
    int64_t d = expect_backoff(&f, 0);
    ck_assert_int_eq(publisher_wants_jobs(f.p), true);
    submit(&f, 8);
    expect_done(&f, 8, PUB_UNAVAILABLE);
    f.now += d - 1;
    ck_assert_int_eq(pump(&f), 0);
    ck_assert_int_eq(f.connect_calls, 1);

    /* Reconnected: tags start again from 1 and confirms flow. */
    f.now += 1;
    ck_assert_int_eq(pump(&f), PUB_PUMP_CONNECTED);
    ck_assert_int_eq(publisher_state_get(f.p), PUB_STATE_UP);
    submit(&f, 9);
    submit(&f, 10);
    ck_assert_uint_eq(pub_of(&f, 9)->tag, 1);
    ck_assert_uint_eq(pub_of(&f, 9)->conn, 2);
    ck_assert_uint_eq(pub_of(&f, 10)->tag, 2);
    push_ack(&f, 1, false);
    pump(&f);
    expect_done(&f, 9, PUB_CONFIRMED);
    expect_open(&f, 10);
    ck_assert_uint_eq(publisher_inflight(f.p), 1);
    ck_assert_uint_eq(f.ndone, 9);
    fx_destroy(&f);
    expect_done(&f, 10, PUB_UNAVAILABLE);
    ck_assert_uint_eq(f.ndone, 10);
    fx_deinit(&f);
}
END_TEST

START_TEST(test_publisher_loss_from_publish_answers_all_unavailable)
{
    fx_t f;
    fx_init(&f);
    fx_up(&f);
    for (uint64_t t = 1; t <= 3; t++)
        submit(&f, t);
    push_ack(&f, 1, false);
    pump(&f);
    f.publish_fail_code = ERR_IO;
    submit(&f, 4);
    expect_done(&f, 1, PUB_CONFIRMED);
    for (uint64_t t = 2; t <= 4; t++)
        expect_done(&f, t, PUB_UNAVAILABLE);
    ck_assert_int_eq(publisher_state_get(f.p), PUB_STATE_DOWN);
    ck_assert_int_eq(f.disconnect_calls, 1);
    ck_assert_uint_eq(publisher_inflight(f.p), 0);
    const publisher_stats_t *st = publisher_stats(f.p);
    ck_assert_uint_eq(counter(&st->published), 3);
    ck_assert_uint_eq(counter(&st->unavailable), 3);
    ck_assert_uint_eq(counter(&st->connection_losses), 1);

    /* The amqp thread pumps right after submitting: too early for a reconnect. */
    int64_t d = expect_backoff(&f, 0);
    ck_assert_int_eq(pump(&f) & PUB_PUMP_CONNECTED, 0);
    ck_assert_int_eq(f.connect_calls, 1);
    f.now += d;
    ck_assert_int_eq(pump(&f) & PUB_PUMP_CONNECTED, PUB_PUMP_CONNECTED);
    submit(&f, 5);
    ck_assert_uint_eq(pub_of(&f, 5)->tag, 1);
    push_ack(&f, 1, true);
    pump(&f);
    expect_done(&f, 5, PUB_CONFIRMED);
    fx_destroy(&f);
    ck_assert_uint_eq(f.ndone, 5);
    fx_deinit(&f);
}
END_TEST

/* The caller logs what publisher_pump reports. A loss seen by publish happens inside
 * publisher_submit, which returns nothing, so the next pump must report it (with the
 * reason still in publisher_last_err), or the loss would go unlogged. */
START_TEST(test_publisher_loss_in_publish_is_reported_by_next_pump)
{
    fx_t f;
    fx_init(&f);
    fx_up(&f);
    submit(&f, 1);
    f.publish_fail_code = ERR_CLOSED;
    submit(&f, 2);
    ck_assert_int_eq(publisher_state_get(f.p), PUB_STATE_DOWN);
    int flags = pump(&f);
    ck_assert_int_eq(flags & PUB_PUMP_LOST, PUB_PUMP_LOST);
    ck_assert_int_eq(publisher_last_err(f.p)->code, ERR_CLOSED);
    /* Reported once. */
    ck_assert_int_eq(pump(&f) & PUB_PUMP_LOST, 0);
    fx_deinit(&f);
}
END_TEST

START_TEST(test_publisher_loss_right_after_connect_reports_both)
{
    fx_t f;
    fx_init(&f);
    f.error_on_connect = ERR_PROTO;
    ck_assert_int_eq(pump(&f), PUB_PUMP_CONNECTED | PUB_PUMP_LOST);
    ck_assert_int_eq(publisher_state_get(f.p), PUB_STATE_DOWN);
    ck_assert_int_eq(publisher_last_err(f.p)->code, ERR_PROTO);
    ck_assert_int_eq(f.disconnect_calls, 1);
    f.now += expect_backoff(&f, 0);

    fx_up(&f);
    push_kind(&f, PUB_EV_BLOCKED);
    push_error(&f, ERR_UNAVAIL);
    ck_assert_int_eq(pump(&f), PUB_PUMP_BLOCKED | PUB_PUMP_LOST);
    ck_assert_int_eq(atomic_load(&publisher_stats(f.p)->blocked), 0);
    ck_assert_uint_eq(counter(&publisher_stats(f.p)->connects), 2);
    ck_assert_uint_eq(counter(&publisher_stats(f.p)->connection_losses), 2);
    ck_assert_int_eq(f.disconnect_calls, 2);
    fx_deinit(&f);
}
END_TEST

/* ---- connection.blocked ---- */

START_TEST(test_publisher_blocked_refuses_submits_until_unblocked)
{
    fx_t f;
    fx_init(&f);
    fx_up(&f);
    submit(&f, 1);
    push_kind(&f, PUB_EV_BLOCKED);
    ck_assert_int_eq(pump(&f), PUB_PUMP_BLOCKED);
    ck_assert_int_eq(atomic_load(&publisher_stats(f.p)->blocked), 1);
    ck_assert_int_eq(publisher_state_get(f.p), PUB_STATE_UP);
    submit(&f, 2);
    submit(&f, 3);
    expect_done(&f, 2, PUB_UNAVAILABLE);
    expect_done(&f, 3, PUB_UNAVAILABLE);
    ck_assert_int_eq(f.publish_calls, 1);
    /* Messages already in flight still settle. */
    push_ack(&f, 1, false);
    ck_assert_int_eq(pump(&f), 0);
    expect_done(&f, 1, PUB_CONFIRMED);

    push_kind(&f, PUB_EV_UNBLOCKED);
    ck_assert_int_eq(pump(&f), PUB_PUMP_UNBLOCKED);
    ck_assert_int_eq(atomic_load(&publisher_stats(f.p)->blocked), 0);
    submit(&f, 4);
    ck_assert_uint_eq(pub_of(&f, 4)->tag, 2);
    expect_open(&f, 4);
    fx_deinit(&f);
}
END_TEST

START_TEST(test_publisher_loss_clears_blocked)
{
    fx_t f;
    fx_init(&f);
    fx_up(&f);
    push_kind(&f, PUB_EV_BLOCKED);
    pump(&f);
    push_error(&f, ERR_IO);
    ck_assert_int_eq(pump(&f), PUB_PUMP_LOST);
    ck_assert_int_eq(atomic_load(&publisher_stats(f.p)->blocked), 0);
    f.now += expect_backoff(&f, 0);
    fx_up(&f);
    submit(&f, 1); /* the new connection is not blocked */
    ck_assert_uint_eq(pub_of(&f, 1)->tag, 1);
    expect_open(&f, 1);
    fx_deinit(&f);
}
END_TEST

/* ---- destroy ---- */

START_TEST(test_publisher_destroy_answers_the_rest_unavailable)
{
    fx_t f;
    fx_init(&f);
    fx_up(&f);
    for (uint64_t t = 1; t <= 2; t++)
        submit(&f, t);
    f.now += 1000;
    for (uint64_t t = 3; t <= 5; t++)
        submit(&f, t);
    push_ack(&f, 4, false);
    pump(&f); /* 1, 2 time out; 4 confirmed */
    int disconnects = f.disconnect_calls;
    fx_destroy(&f);
    expect_done(&f, 1, PUB_TIMEOUT);
    expect_done(&f, 2, PUB_TIMEOUT);
    expect_done(&f, 3, PUB_UNAVAILABLE);
    expect_done(&f, 4, PUB_CONFIRMED);
    expect_done(&f, 5, PUB_UNAVAILABLE);
    ck_assert_uint_eq(f.ndone, 5);
    ck_assert_int_eq(f.disconnect_calls, disconnects + 1);
    fx_deinit(&f);
}
END_TEST

START_TEST(test_publisher_destroy_before_connecting)
{
    fx_t f;
    fx_init(&f);
    fx_destroy(&f);
    ck_assert_uint_eq(f.ndone, 0);
    ck_assert_int_eq(f.connect_calls, 0);
    ck_assert_int_eq(f.disconnect_calls, 1); /* "safe when not connected" */
    fx_deinit(&f);
}
END_TEST

/* ---- statistics ---- */

START_TEST(test_publisher_stats_count_every_outcome)
{
    fx_t f;
    fx_init(&f);
    submit(&f, 1); /* unavailable: not connected */
    fx_up(&f);
    for (uint64_t t = 2; t <= 7; t++)
        submit(&f, t);
    /* Ticket t has tag t - 1. */
    push_ack(&f, 2, true);   /* tickets 2, 3 confirmed */
    push_nack(&f, 3, false); /* 4 refused */
    push_return(&f, pub_of(&f, 5)->id);
    push_ack(&f, 4, false); /* 5 returned: refused */
    pump(&f);
    f.now += 1000;
    pump(&f); /* 6, 7 time out */
    submit(&f, 8);
    push_error(&f, ERR_IO);
    pump(&f); /* 8 unavailable */

    const publisher_stats_t *st = publisher_stats(f.p);
    ck_assert_uint_eq(counter(&st->published), 7);
    ck_assert_uint_eq(counter(&st->confirmed), 2);
    ck_assert_uint_eq(counter(&st->nacked), 2);
    ck_assert_uint_eq(counter(&st->returned), 1);
    ck_assert_uint_eq(counter(&st->timed_out), 2);
    ck_assert_uint_eq(counter(&st->unavailable), 2);
    ck_assert_uint_eq(counter(&st->connects), 1);
    ck_assert_uint_eq(counter(&st->connection_losses), 1);
    ck_assert_uint_eq(atomic_load(&st->inflight), 0);
    ck_assert_int_eq(atomic_load(&st->blocked), 0);
    /* Every submitted job is in exactly one outcome counter. */
    ck_assert_uint_eq(counter(&st->confirmed) + counter(&st->nacked) + counter(&st->timed_out) +
                          counter(&st->unavailable),
                      8);
    ck_assert_uint_eq(f.by_status[PUB_CONFIRMED], 2);
    ck_assert_uint_eq(f.by_status[PUB_REFUSED], 2);
    ck_assert_uint_eq(f.by_status[PUB_TIMEOUT], 2);
    ck_assert_uint_eq(f.by_status[PUB_UNAVAILABLE], 2);
    fx_deinit(&f);
}
END_TEST

/* ---- randomized sequences against the model ---- */

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
            if (tk_of(f, t)->ndone != 1)
                ck_assert_int_eq(tk_of(f, t)->ndone, 1);
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
        const pubrec_t *r = &f->pubs[i];
        int nd = tk_of(f, r->ticket)->ndone;
        bool due = r->settle != SETTLE_NONE ||
                   f->now >= r->submitted_ms + (int64_t)f->opts.confirm_timeout_ms;
        if (due && nd != 1)
            HOT_INT_EQ(nd, 1);
    }
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
            /* Mostly as the amqp thread would: only when the publisher wants jobs. */
            if (!publisher_wants_jobs(f.p) && rnd_below(&s, 8) != 0)
                continue;
            bool up = publisher_state_get(f.p) == PUB_STATE_UP;
            bool expect_publish = up && !f.blocked && publisher_inflight(f.p) < f.opts.max_inflight;
            bool will_fail = expect_publish && f.publish_fail_code < 0;
            size_t npubs = f.npubs;
            uint64_t t = ++ticket;
            submit(&f, t);
            if (will_fail) {
                losses++;
                expect_done(&f, t, PUB_UNAVAILABLE);
                HOT_INT_EQ(publisher_state_get(f.p), PUB_STATE_DOWN);
                /* The amqp thread pumps right after its submits, before any backoff delay
                 * can run out. Whether that pump reports the loss has its own test. */
                HOT_INT_GT(publisher_next_wake_ms(f.p, f.now), 0);
                ck_assert_int_eq(pump(&f) & (PUB_PUMP_CONNECTED | PUB_PUMP_CONNECT_FAILED), 0);
            } else if (expect_publish) {
                HOT_UINT_EQ(f.npubs, npubs + 1);
                HOT_UINT_EQ(f.pubs[npubs].ticket, t);
                HOT_UINT_EQ(f.pubs[npubs].tag, f.last_tag);
                expect_open(&f, t);
            } else {
                HOT_UINT_EQ(f.npubs, npubs);
                expect_done(&f, t, PUB_UNAVAILABLE);
            }
        } else if (r < 77) {
            if (!f.connected)
                continue;
            uint64_t any = f.last_tag ? 1 + rnd_below(&s, f.last_tag) : 0;
            /* Unsettled tags are the interesting ones; pick one of those most of the time. */
            uint64_t open = f.low_tag <= f.last_tag
                                ? f.low_tag + rnd_below(&s, f.last_tag - f.low_tag + 1)
                                : any;
            uint64_t tag = rnd_below(&s, 4) == 0 ? any : open;
            if (r < 50)
                push_ack(&f, tag, false);
            else if (r < 58)
                push_ack(&f, tag, true);
            else if (r < 62)
                push_nack(&f, tag, false);
            else if (r < 65)
                push_nack(&f, tag, true);
            else if (r < 67)
                push_ev(&f, 0,
                        (pub_event_t){.kind = rnd_below(&s, 2) ? PUB_EV_ACK : PUB_EV_NACK,
                                      .tag = 0,
                                      .multiple = true});
            else if (r < 70) {
                if (open == 0 || pub_by_tag(&f, open)->settle != SETTLE_NONE ||
                    pub_by_tag(&f, open)->returned)
                    continue;
                /* A return comes just before the broker's ack of the same message. */
                push_return(&f, pub_by_tag(&f, open)->id);
                push_ack(&f, open, rnd_below(&s, 2) != 0);
            } else if (r < 72)
                push_ack(&f, f.last_tag + 1 + rnd_below(&s, 3), rnd_below(&s, 2) != 0);
            else if (r < 75)
                push_kind(&f, rnd_below(&s, 2) ? PUB_EV_BLOCKED : PUB_EV_UNBLOCKED);
            else
                push_error(&f, rnd_below(&s, 2) ? ERR_IO : ERR_UNAVAIL);
        } else if (r < 79) {
            if (f.connected && rnd_below(&s, 2) == 0)
                f.publish_fail_code = ERR_IO;
            else
                f.connect_failures_left = (int)rnd_below(&s, 4);
            f.connect_fail_code = ERR_UNAVAIL;
        } else {
            f.now += (int64_t)rnd_below(&s, r < 95 ? 40 : 250);
            int64_t wake = publisher_next_wake_ms(f.p, f.now);
            bool was_up = publisher_state_get(f.p) == PUB_STATE_UP;
            int connects = f.connect_calls, oks = f.connects_ok;
            int flags = pump(&f);
            bool attempted = f.connect_calls > connects;
            /* An attempt is made exactly when the wake-up delay has run out. */
            if (!was_up)
                HOT_INT_EQ(attempted, wake == 0);
            else
                HOT_INT_EQ(attempted, false);
            int expect = 0;
            if (attempted)
                expect = f.connects_ok > oks ? PUB_PUMP_CONNECTED : PUB_PUMP_CONNECT_FAILED;
            HOT_INT_EQ(flags & (PUB_PUMP_CONNECTED | PUB_PUMP_CONNECT_FAILED), expect);
            if (flags & PUB_PUMP_LOST)
                losses++;
        }
        check_model(&f, ticket);
    }

    /* The counters agree with the outcomes seen; after teardown every job is answered once. */
    const publisher_stats_t *st = publisher_stats(f.p);
    ck_assert_uint_eq(counter(&st->confirmed), f.by_status[PUB_CONFIRMED]);
    ck_assert_uint_eq(counter(&st->nacked), f.by_status[PUB_REFUSED]);
    ck_assert_uint_eq(counter(&st->timed_out), f.by_status[PUB_TIMEOUT]);
    ck_assert_uint_eq(counter(&st->unavailable), f.by_status[PUB_UNAVAILABLE]);
    ck_assert_uint_eq(counter(&st->connects), (uint64_t)f.connects_ok);
    ck_assert_uint_eq(counter(&st->connection_losses), losses);
    ck_assert_uint_eq(counter(&st->published), f.npubs);
    ck_assert_uint_eq(atomic_load(&st->inflight), publisher_inflight(f.p));
    ck_assert_int_eq(atomic_load(&st->blocked), f.blocked);
    ck_assert_uint_gt(f.by_status[PUB_CONFIRMED], 0);
    ck_assert_uint_gt(f.by_status[PUB_REFUSED], 0);
    ck_assert_uint_gt(f.by_status[PUB_TIMEOUT], 0);
    ck_assert_uint_gt(f.by_status[PUB_UNAVAILABLE], 0);
    ck_assert_uint_gt(losses, 0);

    fx_destroy(&f);
    for (uint64_t t = 1; t <= ticket; t++)
        if (tk_of(&f, t)->ndone != 1)
            ck_assert_int_eq(tk_of(&f, t)->ndone, 1);
    ck_assert_uint_eq(f.ndone, ticket);
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

static Suite *publisher_suite(void)
{
    Suite *s = suite_create("publisher");

    TCase *tc = tcase_create("connect");
    tcase_add_test(tc, test_publisher_create_refuses_zero_inflight);
    tcase_add_test(tc, test_publisher_first_pump_connects);
    tcase_add_test(tc, test_publisher_connect_failure_reports_error_and_waits);
    tcase_add_test(tc, test_publisher_connect_backoff_grows_and_is_capped);
    tcase_add_test(tc, test_publisher_backoff_jitter_stays_in_range_for_many_seeds);
    tcase_add_test(tc, test_publisher_backoff_restarts_after_a_successful_connect);
    tcase_add_test(tc, test_publisher_backoff_keeps_growing_while_connections_drop_at_once);
    tcase_add_test(tc, test_publisher_submit_while_not_connected_is_unavailable);
    suite_add_tcase(s, tc);

    tc = tcase_create("confirms");
    tcase_add_test(tc, test_publisher_publishes_with_tags_and_body_copy);
    tcase_add_test(tc, test_publisher_single_acks_out_of_order);
    tcase_add_test(tc, test_publisher_multiple_acks_confirm_1000_in_order);
    tcase_add_test(tc, test_publisher_multiple_ack_skips_settled_tags);
    tcase_add_test(tc, test_publisher_nack_refuses);
    tcase_add_test(tc, test_publisher_return_then_ack_refuses);
    tcase_add_test(tc, test_publisher_return_with_unknown_id_changes_nothing);
    tcase_add_test(tc, test_publisher_returns_of_a_repeated_id_mark_each_message);
    tcase_add_test(tc, test_publisher_ack_for_unknown_or_old_tag_is_ignored);
    tcase_add_test(tc, test_publisher_tag_zero_multiple_settles_everything_outstanding);
    suite_add_tcase(s, tc);

    tc = tcase_create("timeouts");
    tcase_add_test(tc, test_publisher_confirm_timeout_answers_once);
    tcase_add_test(tc, test_publisher_ack_read_in_the_deadline_pump_wins);
    tcase_add_test(tc, test_publisher_timeout_skips_tags_settled_out_of_order);
    tcase_add_test(tc, test_publisher_timed_out_tags_hold_the_window_until_settled);
    suite_add_tcase(s, tc);

    tc = tcase_create("window");
    tcase_add_test(tc, test_publisher_window_full_stops_wanting_jobs);
    tcase_add_test(tc, test_publisher_window_slots_are_reused_across_many_laps);
    suite_add_tcase(s, tc);

    tc = tcase_create("loss");
    tcase_add_test(tc, test_publisher_loss_from_next_event_answers_all_unavailable);
    tcase_add_test(tc, test_publisher_loss_from_publish_answers_all_unavailable);
    tcase_add_test(tc, test_publisher_loss_in_publish_is_reported_by_next_pump);
    tcase_add_test(tc, test_publisher_loss_right_after_connect_reports_both);
    suite_add_tcase(s, tc);

    tc = tcase_create("blocked");
    tcase_add_test(tc, test_publisher_blocked_refuses_submits_until_unblocked);
    tcase_add_test(tc, test_publisher_loss_clears_blocked);
    suite_add_tcase(s, tc);

    tc = tcase_create("destroy");
    tcase_add_test(tc, test_publisher_destroy_answers_the_rest_unavailable);
    tcase_add_test(tc, test_publisher_destroy_before_connecting);
    suite_add_tcase(s, tc);

    tc = tcase_create("stats");
    tcase_add_test(tc, test_publisher_stats_count_every_outcome);
    suite_add_tcase(s, tc);

    tc = tcase_create("random");
    tcase_set_timeout(tc, 120); /* sanitizer builds are the slow case */
    tcase_add_test(tc, test_publisher_random_sequences_answer_every_job_once);
    suite_add_tcase(s, tc);

    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(publisher_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
