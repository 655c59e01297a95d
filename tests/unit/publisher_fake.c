/* SPDX-License-Identifier: MIT */
#include "publisher_fake.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

const publisher_opts_t fx_default_opts = {
    .max_inflight = 8,
    .confirm_timeout_ms = 1000,
    .backoff_base_ms = 100,
    .backoff_max_ms = 1600,
    .seed = 42,
};

fx_t fx;

/* ---- the fake transport ---- */

fx_ticket_t *fx_tk_of(fx_t *f, uint64_t ticket)
{
    if (ticket >= f->tks_cap) {
        size_t cap = f->tks_cap ? f->tks_cap : 64;
        while (cap <= ticket)
            cap *= 2;
        f->tks = xrealloc(f->tks, cap * sizeof(*f->tks));
        for (size_t i = f->tks_cap; i < cap; i++)
            f->tks[i] = (fx_ticket_t){.pub = -1};
        f->tks_cap = cap;
    }
    return &f->tks[ticket];
}

fx_pub_t *fx_pub_by_tag(fx_t *f, uint64_t tag)
{
    return &f->pubs[f->conn_first + tag - 1];
}

static void tried_add(fx_t *f, char c)
{
    if (f->ntried + 1 < sizeof(f->tried)) {
        f->tried[f->ntried++] = c;
        f->tried[f->ntried] = '\0';
    }
}

/* The model's failover_failed: the next broker at once while the round has brokers left, else
 * a backoff delay (a valid draw lies in [cap / 2, cap]) and broker 0. A connection that lasted
 * the backoff's cap ended the round first. */
static void model_fail(fx_t *f)
{
    if (f->up_since >= 0 && f->now - f->up_since >= (int64_t)f->opts.backoff_max_ms)
        f->round_fails = f->backoff_attempt = 0;
    f->up_since = -1;
    if (++f->round_fails < f->brokers) {
        f->expect_broker = (f->expect_broker + 1) % f->brokers;
        f->attempt_lo = f->attempt_hi = f->now;
        return;
    }
    uint32_t cap = fx_cap_of(&f->opts, f->backoff_attempt);
    if (f->backoff_attempt < UINT32_MAX)
        f->backoff_attempt++;
    f->round_fails = 0;
    f->expect_broker = 0;
    f->attempt_lo = f->now + cap / 2;
    f->attempt_hi = f->now + cap;
}

static bool bit_set(uint32_t mask, unsigned broker)
{
    return broker < 32 && ((mask >> broker) & 1u) != 0;
}

static int fake_connect(void *ctx, unsigned broker, err_t *err)
{
    fx_t *f = ctx;
    f->connect_calls++;
    HOT_INT_EQ(f->connected, false);       /* the old connection was dropped first */
    HOT_UINT_EQ(broker, f->expect_broker); /* the rotation the model expects */
    HOT_INT_GE(f->now, f->attempt_lo);     /* never before the delay */
    tried_add(f, broker < 10 ? (char)('0' + broker) : '?');
    f->refusal_wait = false;
    bool fail = bit_set(f->refuse_mask, broker);
    if (f->connect_failures_left > 0) {
        f->connect_failures_left--;
        fail = true;
    }
    if (fail) {
        tried_add(f, 'x');
        model_fail(f);
        return err_set(err, f->connect_fail_code, NULL, "fake connect failure %d",
                       f->connect_calls);
    }
    tried_add(f, '+');
    f->connects_ok++;
    f->connected = true; /* broken and blocked were cleared by the last disconnect */
    f->conn++;
    f->last_broker = broker;
    f->up_since = f->now;
    f->conn_first = f->npubs;
    f->last_tag = 0;
    f->low_tag = 1;
    f->last_seq = 0;
    if (bit_set(f->drop_mask, broker))
        fx_push_error(f, ERR_IO);
    if (f->error_on_connect < 0) {
        fx_push_error(f, f->error_on_connect);
        f->error_on_connect = 0;
    }
    return 0;
}

static int body_of(uint64_t ticket, char *out, size_t len)
{
    return snprintf(out, len, "{\"ticket\":%llu}", (unsigned long long)ticket);
}

/* What every publish of ticket must carry, the first and every republish alike: the job as
 * fx_submit_id made it, while it is still unanswered. */
static void check_job(const fx_ticket_t *k, const pub_job_t *job)
{
    HOT_INT_EQ(k->submitted, true);
    HOT_INT_EQ(k->ndone, 0); /* an answered job is never published (again) */
    char text[64], id[IDGEN_STR_LEN + 1];
    int n = body_of(job->ticket, text, sizeof(text));
    HOT_UINT_EQ(job->len, (uint32_t)n);
    HOT_PTR_NONNULL(job->body);
    if (memcmp(job->body, text, (size_t)n) != 0)
        ck_assert_mem_eq(job->body, text, (size_t)n);
    fx_make_id(k->id_n, id);
    if (strcmp(job->id, id) != 0)
        ck_assert_str_eq(job->id, id);
    HOT_UINT_EQ(job->loop, (uint32_t)(job->ticket % 3));
    HOT_INT_EQ(job->enqueued_ms, (int64_t)(1000 + job->ticket));
    HOT_INT_EQ(job->received_ms, 1700000000000 + (int64_t)job->ticket);
}

static int fake_publish(void *ctx, const pub_job_t *job, err_t *err)
{
    fx_t *f = ctx;
    f->publish_calls++;
    /* The publisher must never write to a closed or broken connection. */
    HOT_INT_EQ(f->connected, true);
    HOT_INT_EQ(f->broken, false);
    fx_ticket_t *k = fx_tk_of(f, job->ticket);
    check_job(k, job);
    /* One connection carries jobs in submission order: what waits to be resent comes first, in
     * its order, then new jobs. */
    HOT_UINT_GT(k->seq, f->last_seq);
    f->last_seq = k->seq;
    bool again = k->attempts++ > 0;
    if (f->publish_fail_code < 0) {
        if (f->publish_fail_skip > 0) {
            f->publish_fail_skip--;
        } else {
            int code = f->publish_fail_code;
            f->publish_fail_code = 0;
            f->broken = true;
            f->lost_pending = f->submitting != 0;
            f->resends_cut += again;
            return err_set(err, code, NULL, "fake publish failure");
        }
    }
    if (f->npubs == f->pubs_cap) {
        f->pubs_cap = f->pubs_cap ? 2 * f->pubs_cap : 64;
        f->pubs = xrealloc(f->pubs, f->pubs_cap * sizeof(*f->pubs));
    }
    fx_pub_t *r = &f->pubs[f->npubs];
    *r = (fx_pub_t){.ticket = job->ticket,
                    .loop = job->loop,
                    .conn = f->conn,
                    .tag = ++f->last_tag,
                    .len = job->len,
                    .body = xmalloc(job->len),
                    .enqueued_ms = job->enqueued_ms,
                    .received_ms = job->received_ms,
                    .published_ms = f->now,
                    .again = again};
    memcpy(r->body, job->body, job->len); /* a copy: the entry keeps its own until answered */
    memcpy(r->id, job->id, sizeof(r->id));
    k->pub = (long)f->npubs;
    f->npubs++;
    f->republishes += again;
    return 0;
}

/* Records what a settle event means for the broker-side messages it covers, with the
 * publisher's reading of the protocol: multiple settles every tag up to the one named, and
 * tag 0 with multiple settles everything outstanding. Tags never published are ignored. */
static void mark_settle(fx_t *f, const pub_event_t *ev)
{
    int kind = ev->kind == PUB_EV_ACK ? FX_SETTLE_ACK : FX_SETTLE_NACK;
    if (kind == FX_SETTLE_ACK) /* any ack starts the refusal backoff over */
        f->refusal_attempt = 0;
    uint64_t last = ev->tag;
    if (ev->multiple && last == 0)
        last = f->last_tag;
    if (last == 0 || last > f->last_tag)
        return;
    uint64_t first = ev->multiple ? f->low_tag : last;
    for (uint64_t t = first; t <= last; t++) {
        fx_pub_t *r = fx_pub_by_tag(f, t);
        if (r->settle != FX_SETTLE_NONE)
            continue;
        r->settle = kind;
        fx_ticket_t *k = fx_tk_of(f, r->ticket);
        if (kind == FX_SETTLE_NACK && k->ndone == 0) /* to be published again */
            k->nacked = f->refused_pending = true;
    }
    while (f->low_tag <= f->last_tag && fx_pub_by_tag(f, f->low_tag)->settle != FX_SETTLE_NONE)
        f->low_tag++;
}

/* A return names a message id; it concerns the oldest message with that id that was
 * neither settled nor already returned (returns come in publish order). */
static void mark_return(fx_t *f, const char *id)
{
    for (uint64_t t = f->low_tag; t <= f->last_tag; t++) {
        fx_pub_t *r = fx_pub_by_tag(f, t);
        if (r->settle == FX_SETTLE_NONE && !r->returned && strcmp(r->id, id) == 0) {
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
    fx_ev_t *e = &f->evq[f->evq_head++];
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
    if (f->connected && !f->destroying) {
        /* A loss. A connection that lasted the backoff's cap ended the round. */
        if (!f->broken && f->refused_pending) {
            /* Dropped because of a nack: the same broker, after the refusal backoff. A
             * connection that lasted the backoff's cap ended the round all the same. */
            tried_add(f, '~');
            if (f->now - f->up_since >= (int64_t)f->opts.backoff_max_ms)
                f->round_fails = f->backoff_attempt = 0;
            f->refusals++;
            uint32_t cap = FX_REFUSAL_BASE_MS << (f->refusal_attempt < 5 ? f->refusal_attempt : 5);
            cap = cap < FX_REFUSAL_MAX_MS ? cap : FX_REFUSAL_MAX_MS;
            f->refusal_attempt++;
            f->attempt_lo = f->now + cap / 2;
            f->attempt_hi = f->now + cap;
            f->refusal_wait = true;
        } else {
            tried_add(f, '!');
            f->losses++;
            model_fail(f);
        }
    }
    f->refused_pending = false;
    /* Whatever the dead connection still had to say is gone with it. */
    f->connected = false;
    f->broken = false;
    f->blocked = false;
    f->evq_head = f->evq_len = 0;
}

pub_transport_t fx_transport(fx_t *f)
{
    return (pub_transport_t){.ctx = f,
                             .connect = fake_connect,
                             .publish = fake_publish,
                             .next_event = fake_next_event,
                             .disconnect = fake_disconnect};
}

void fx_push_ev(fx_t *f, int rc, pub_event_t ev)
{
    HOT_INT_EQ(f->connected, true); /* events only exist on a live connection */
    if (f->evq_len == f->evq_cap) {
        f->evq_cap = f->evq_cap ? 2 * f->evq_cap : 64;
        f->evq = xrealloc(f->evq, f->evq_cap * sizeof(*f->evq));
    }
    f->evq[f->evq_len++] = (fx_ev_t){.rc = rc, .ev = ev};
}

void fx_push_ack(fx_t *f, uint64_t tag, bool multiple)
{
    fx_push_ev(f, 0, (pub_event_t){.kind = PUB_EV_ACK, .tag = tag, .multiple = multiple});
}

void fx_push_nack(fx_t *f, uint64_t tag, bool multiple)
{
    fx_push_ev(f, 0, (pub_event_t){.kind = PUB_EV_NACK, .tag = tag, .multiple = multiple});
}

void fx_push_return(fx_t *f, const char *id)
{
    pub_event_t ev = {.kind = PUB_EV_RETURN};
    snprintf(ev.message_id, sizeof(ev.message_id), "%s", id);
    fx_push_ev(f, 0, ev);
}

void fx_push_kind(fx_t *f, pub_event_kind_t kind)
{
    fx_push_ev(f, 0, (pub_event_t){.kind = kind});
}

void fx_push_error(fx_t *f, int code)
{
    fx_push_ev(f, code, (pub_event_t){.kind = PUB_EV_ACK});
}

/* ---- the completion recorder ---- */

/* Records the outcome and checks it against the broker's word. */
void fx_on_complete(void *ctx, uint32_t loop, uint64_t ticket, pub_status_t status,
                    int64_t enqueued_ms)
{
    fx_t *f = ctx;
    fx_ticket_t *k = fx_tk_of(f, ticket);
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
        (fx_done_t){.loop = loop, .ticket = ticket, .status = status, .enqueued_ms = enqueued_ms};

    /* Loop and enqueue time travel with the job unchanged (fx_submit_id derives them). */
    HOT_UINT_EQ(loop, (uint32_t)(ticket % 3));
    HOT_INT_EQ(enqueued_ms, (int64_t)(1000 + ticket));

    /* The job's last publish, and whether it was on the connection alive now. */
    const fx_pub_t *r = k->pub >= 0 ? &f->pubs[k->pub] : NULL;
    bool live = r != NULL && f->connected && r->conn == f->conn;
    switch (status) {
    case PUB_CONFIRMED:
        HOT_INT_EQ(live, true);               /* an ack on the connection of its last publish ... */
        HOT_INT_EQ(r->settle, FX_SETTLE_ACK); /* ... covering that publish's tag */
        HOT_INT_EQ(r->returned, false);
        f->settled_again += r->again;
        break;
    case PUB_REFUSED:
        if (live && r->settle == FX_SETTLE_ACK) { /* returned, then acked */
            HOT_INT_EQ(r->returned, true);
            f->refused_by_return++;
            f->settled_again += r->again;
        } else { /* nacked, and its original deadline passed with no ack */
            HOT_INT_EQ(k->nacked, true);
            HOT_INT_GE(f->now, k->submitted_ms + (int64_t)f->opts.confirm_timeout_ms);
            HOT_INT_EQ(r != NULL && r->settle == FX_SETTLE_ACK, false);
            f->refused_by_nack++;
        }
        break;
    case PUB_TIMEOUT:
        /* The original deadline, kept across republishes, has passed with nothing settled. A job
         * waiting to be resent may never have reached a broker at all (its publish failed). */
        HOT_INT_GE(f->now, k->submitted_ms + (int64_t)f->opts.confirm_timeout_ms);
        HOT_INT_EQ(k->nacked, false); /* a nacked job is answered PUB_REFUSED */
        if (r != NULL)
            HOT_INT_EQ(r->settle, FX_SETTLE_NONE);
        f->timeouts_waiting += !live;
        break;
    case PUB_UNAVAILABLE:
        /* Refused by submit, or left over at destroy; a lost connection answers nothing. */
        HOT_INT_EQ(f->destroying || f->submitting == ticket, true);
        break;
    }
}

uint64_t fx_counter(const _Atomic uint64_t *c)
{
    return atomic_load(c);
}

uint64_t fx_outcomes_sum(const publisher_stats_t *st)
{
    return fx_counter(&st->confirmed) + fx_counter(&st->nacked) + fx_counter(&st->returned) +
           fx_counter(&st->timed_out) + fx_counter(&st->unavailable);
}

uint64_t fx_open_jobs(const fx_t *f)
{
    return f->nsubmitted - (uint64_t)f->ndone;
}

void fx_check_counters(fx_t *f)
{
    const publisher_stats_t *st = publisher_stats(f->p);
    HOT_UINT_EQ(fx_counter(&st->confirmed), f->by_status[PUB_CONFIRMED]);
    HOT_UINT_EQ(fx_counter(&st->nacked), f->refused_by_nack);
    HOT_UINT_EQ(fx_counter(&st->returned), f->refused_by_return);
    HOT_UINT_EQ(fx_counter(&st->timed_out), f->by_status[PUB_TIMEOUT]);
    HOT_UINT_EQ(fx_counter(&st->unavailable), f->by_status[PUB_UNAVAILABLE]);
    /* Each answered job is in exactly one outcome counter. */
    HOT_UINT_EQ(fx_outcomes_sum(st), (uint64_t)f->ndone);
    HOT_UINT_EQ(fx_counter(&st->published), (uint64_t)f->npubs);
    HOT_UINT_EQ(fx_counter(&st->republished), f->republishes);
    HOT_UINT_EQ(fx_counter(&st->connects), (uint64_t)f->connects_ok);
    HOT_UINT_EQ(fx_counter(&st->connection_losses), f->losses);
    HOT_UINT_EQ(fx_counter(&st->refusal_reconnects), f->refusals);
    HOT_UINT_EQ(atomic_load(&st->inflight), publisher_inflight(f->p));
    HOT_INT_EQ(atomic_load(&st->blocked), f->blocked);
    /* While down, every unanswered job waits to be resent; while up, none does. */
    HOT_UINT_EQ(atomic_load(&st->resending), f->connected ? 0 : fx_open_jobs(f));
    HOT_UINT_EQ(atomic_load(&st->broker), f->last_broker);
}

/* ---- set-up and driving ---- */

void fx_init_opts(fx_t *f, const publisher_opts_t *o)
{
    *f = (fx_t){.opts = *o,
                .now = 1000000,
                .connect_fail_code = ERR_UNAVAIL,
                .brokers = o->brokers > 0 ? o->brokers : 1,
                .up_since = -1,
                .attempt_lo = INT64_MIN, /* the first pump connects */
                .attempt_hi = INT64_MIN};
    pub_transport_t t = fx_transport(f);
    f->p = publisher_create(o, &t, fx_on_complete, f);
    HOT_PTR_NONNULL(f->p);
}

void fx_destroy(fx_t *f)
{
    if (f->p == NULL)
        return;
    fx_check_counters(f);
    f->destroying = true;
    publisher_destroy(f->p);
    f->destroying = false;
    f->p = NULL;
    HOT_UINT_EQ((uint64_t)f->ndone, f->nsubmitted); /* every job answered, each once */
}

void fx_deinit(fx_t *f)
{
    fx_destroy(f);
    for (size_t i = 0; i < f->npubs; i++)
        free(f->pubs[i].body);
    free(f->pubs);
    free(f->evq);
    free(f->done);
    free(f->tks);
    *f = (fx_t){0};
}

void fx_setup(void)
{
    fx_init_opts(&fx, &fx_default_opts);
}

void fx_teardown(void)
{
    fx_deinit(&fx);
}

void fx_use_opts(const publisher_opts_t *o)
{
    fx_deinit(&fx);
    fx_init_opts(&fx, o);
}

void fx_up_with_window(uint32_t max_inflight)
{
    publisher_opts_t o = fx_default_opts;
    o.max_inflight = max_inflight;
    fx_use_opts(&o);
    fx_up(&fx);
}

TCase *fx_tcase(Suite *s, const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    suite_add_tcase(s, tc);
    return tc;
}

void fx_make_id(uint64_t n, char out[IDGEN_STR_LEN + 1])
{
    snprintf(out, IDGEN_STR_LEN + 1, "0190a1b2-c3d4-7e5f-8a6b-%012llx", (unsigned long long)n);
}

void fx_submit_id(fx_t *f, uint64_t ticket, uint64_t id_n)
{
    fx_ticket_t *k = fx_tk_of(f, ticket);
    HOT_INT_EQ(k->submitted, false); /* tickets are unique within a test */
    HOT_UINT_GT(ticket, 0);          /* 0 means "no submit" in f->submitting */
    k->submitted = true;
    k->seq = ++f->nsubmitted;
    k->id_n = id_n;
    k->submitted_ms = f->now;
    char text[64];
    int n = body_of(ticket, text, sizeof(text));
    pub_job_t job = {.ticket = ticket,
                     .loop = (uint32_t)(ticket % 3),
                     .len = (uint32_t)n,
                     .body = xmalloc((size_t)n),
                     .received_ms = 1700000000000 + (int64_t)ticket,
                     .enqueued_ms = (int64_t)(1000 + ticket)};
    memcpy(job.body, text, (size_t)n); /* not NUL-terminated, as from the ring */
    fx_make_id(id_n, job.id);
    f->submitting = ticket;
    publisher_submit(f->p, &job, f->now);
    f->submitting = 0;
    HOT_PTR_NULL(job.body); /* ownership was taken: freed once answered (ASan checks) */
    fx_check_counters(f);
}

void fx_submit(fx_t *f, uint64_t ticket)
{
    fx_submit_id(f, ticket, ticket);
}

void fx_submit_range(fx_t *f, uint64_t first, uint64_t last)
{
    for (uint64_t t = first; t <= last; t++)
        fx_submit(f, t);
}

int fx_pump(fx_t *f)
{
    bool was_up = f->connected, lost_pending = f->lost_pending;
    int64_t due = f->attempt_hi;
    int calls = f->connect_calls, oks = f->connects_ok;
    uint64_t losses = f->losses, refusals = f->refusals;
    f->lost_pending = false;
    int flags = publisher_pump(f->p, f->now);
    /* None when the pump reports a loss from submit, nor in the pump that lost; one once due. */
    int attempts = f->connect_calls - calls;
    HOT_INT_EQ(attempts, lost_pending || was_up ? 0 : f->now >= due ? 1 : attempts);
    HOT_INT_LE(attempts, 1);
    int want = !attempts ? 0 : f->connects_ok > oks ? PUB_PUMP_CONNECTED : PUB_PUMP_CONNECT_FAILED;
    HOT_INT_EQ(flags & (PUB_PUMP_CONNECTED | PUB_PUMP_CONNECT_FAILED), want);
    HOT_INT_EQ((flags & PUB_PUMP_LOST) != 0, lost_pending || f->losses > losses);
    HOT_INT_EQ((flags & PUB_PUMP_REFUSED) != 0, f->refusals > refusals);
    if (lost_pending) /* reported alone, before anything else */
        HOT_INT_EQ(flags, PUB_PUMP_LOST);
    fx_check_counters(f);
    return flags;
}

void fx_up(fx_t *f)
{
    ck_assert_int_eq(fx_pump(f) & PUB_PUMP_CONNECTED, PUB_PUMP_CONNECTED);
    HOT_INT_EQ(publisher_state_get(f->p), PUB_STATE_UP);
}

/* ---- expectations ---- */

int fx_ndone_of(fx_t *f, uint64_t ticket)
{
    return fx_tk_of(f, ticket)->ndone;
}

void fx_expect_done(fx_t *f, uint64_t ticket, pub_status_t status)
{
    HOT_INT_EQ(fx_ndone_of(f, ticket), 1);
    HOT_INT_EQ(fx_tk_of(f, ticket)->status, status);
}

void fx_expect_open(fx_t *f, uint64_t ticket)
{
    HOT_INT_EQ(fx_ndone_of(f, ticket), 0);
}

void fx_expect_outcomes(fx_t *f, uint64_t first, const char *want)
{
    static const char letter[] = {
        [PUB_CONFIRMED] = 'C', [PUB_UNAVAILABLE] = 'U', [PUB_TIMEOUT] = 'T', [PUB_REFUSED] = 'R'};
    char got[256];
    size_t n = strlen(want);
    ck_assert_uint_lt(n, sizeof(got));
    for (size_t i = 0; i < n; i++) {
        const fx_ticket_t *k = fx_tk_of(f, first + i);
        got[i] = k->ndone == 0 ? '-' : k->ndone == 1 ? letter[k->status] : '!';
    }
    got[n] = '\0';
    ck_assert_str_eq(got, want);
}

const fx_pub_t *fx_pub_of(fx_t *f, uint64_t ticket)
{
    long i = fx_tk_of(f, ticket)->pub;
    HOT_INT_GE(i, 0);
    return &f->pubs[i];
}

uint32_t fx_cap_of(const publisher_opts_t *o, uint32_t attempt)
{
    uint64_t cap = attempt >= 32 ? o->backoff_max_ms : (uint64_t)o->backoff_base_ms << attempt;
    return cap > o->backoff_max_ms ? o->backoff_max_ms : (uint32_t)cap;
}

int64_t fx_expect_backoff(fx_t *f, uint32_t attempt)
{
    int64_t d = publisher_next_wake_ms(f->p, f->now);
    uint32_t cap = fx_cap_of(&f->opts, attempt);
    ck_assert_int_ge(d, cap / 2);
    ck_assert_int_le(d, cap);
    return d;
}
