/* SPDX-License-Identifier: MIT */
/*
 * DESIGN. The amqp thread owns one publisher. Each job is published on the confirm-mode channel
 * and remembered in a power-of-two table indexed by delivery tag (1, 2, ... per connection): a
 * sliding window of at most max_inflight tags, whose oldest tag advances over entries settled
 * (acked or nacked) and answered. An entry is "answered" once its completion was reported: by its
 * ack, or at its deadline; a timed-out entry keeps its slot until the broker settles its tag or the
 * connection goes. An entry owns its job's body until answered, because it may be published again:
 * - Losing the connection moves every unanswered entry, in publish order, to the resend queue;
 *   the next connection (the next broker of the list, failover.h) publishes them again, same id
 *   and body, before any new job. The consumer stores an id once: the effect is exactly once.
 *   While a failover round is under way new jobs wait in the ring (a broker change costs
 *   latency, not 503s); once every broker failed, they are answered PUB_UNAVAILABLE at once.
 * - A nack does the same with the same broker, after a short backoff: a quorum queue refuses
 *   while it elects a leader, and RabbitMQ 3.10 goes on refusing on a channel opened during the
 *   election for as long as that channel lives. Unconfirmed at its deadline: PUB_REFUSED.
 */
#include "api/publisher.h"

#include <stdlib.h>
#include <string.h>

#include "common/failover.h"
#include "common/owner.h"

/* Reconnecting after a nack: soon at first, then at most every second while refusals go on. */
#define REFUSAL_BACKOFF_BASE_MS 50
#define REFUSAL_BACKOFF_MAX_MS  1000

typedef struct entry {
    pub_job_t job; /* owns job.body until answered */
    int64_t deadline_ms;
    bool answered;
    bool settled;
    bool returned;
    bool nacked; /* refused at least once: answered PUB_REFUSED, not PUB_TIMEOUT, at its deadline */
} entry_t;

/* Thread: amqp (owner, bound at the first pump), except state and stats (any thread reads). */
struct publisher {
    owner_t owner;
    publisher_opts_t opts;
    pub_transport_t t;
    pub_complete_fn complete;
    void *complete_ctx;

    _Atomic int state; /* pub_state_t; written by the owner, read by any thread */
    bool blocked;
    failover_t failover;
    int64_t next_attempt_ms; /* when DOWN or CONNECTING */
    bool refused;            /* a nack arrived in this pump: reconnect to the same broker */
    bool refusal_wait;       /* DOWN after a nack: new jobs wait in the ring */
    backoff_t refusal_backoff;

    entry_t *entries;
    entry_t *resend; /* [resend_head, resend_len): to publish again on the next connection */
    uint32_t resend_head, resend_len;
    uint64_t mask;
    uint64_t oldest;     /* lowest unsettled tag; == next_tag when none */
    uint64_t next_tag;   /* tag the next publish gets */
    uint64_t timeout_at; /* first tag whose deadline has not been checked */

    err_t last_err;
    bool lost_in_submit; /* a publish lost the connection; the next pump reports it */
    publisher_stats_t stats;
};

static int publish(publisher_t *p, const entry_t *e, int64_t now_ms);

static void stat_add(_Atomic uint64_t *c, uint64_t n)
{
    /* Relaxed: independent monotonic counters read only for metrics. */
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static entry_t *entry_of(publisher_t *p, uint64_t tag)
{
    return &p->entries[tag & p->mask];
}

/* Reports e's outcome unless it was reported already, and counts it in the one outcome counter
 * given, so that each job lands in exactly one of them. */
static void answer(publisher_t *p, entry_t *e, pub_status_t status, _Atomic uint64_t *counter)
{
    if (e->answered)
        return;
    e->answered = true;
    stat_add(counter, 1);
    free(e->job.body); /* answered: it will not be published again */
    e->job.body = NULL;
    p->complete(p->complete_ctx, e->job.loop, e->job.ticket, status, e->job.enqueued_ms);
}

static void set_state(publisher_t *p, pub_state_t st)
{
    atomic_store(&p->state, st);
}

static bool is_up(const publisher_t *p)
{
    return atomic_load_explicit(&p->state, memory_order_relaxed) == PUB_STATE_UP;
}

static void update_inflight(publisher_t *p)
{
    /* Relaxed: a gauge for metrics; the owner's own reads use p->next_tag - p->oldest. */
    atomic_store_explicit(&p->stats.inflight, (uint32_t)(p->next_tag - p->oldest),
                          memory_order_relaxed);
}

publisher_t *publisher_create(const publisher_opts_t *o, const pub_transport_t *transport,
                              pub_complete_fn complete, void *complete_ctx)
{
    if (o->max_inflight == 0 || complete == NULL)
        return NULL;
    publisher_t *p = xcalloc(1, sizeof(*p));
    p->opts = *o;
    p->t = *transport;
    p->complete = complete;
    p->complete_ctx = complete_ctx;
    uint64_t cap = 1;
    while (cap < o->max_inflight)
        cap <<= 1;
    p->entries = xcalloc(cap, sizeof(*p->entries));
    p->resend = xcalloc(cap, sizeof(*p->resend));
    p->mask = cap - 1;
    p->oldest = p->next_tag = p->timeout_at = 1;
    failover_init(&p->failover, o->brokers > 0 ? o->brokers : 1, o->backoff_base_ms,
                  o->backoff_max_ms, o->seed);
    backoff_init(&p->refusal_backoff, REFUSAL_BACKOFF_BASE_MS, REFUSAL_BACKOFF_MAX_MS,
                 o->seed ^ 0x9e3779b97f4a7c15u);
    set_state(p, PUB_STATE_CONNECTING);
    p->next_attempt_ms = INT64_MIN; /* the first pump connects */
    return p;
}

static void reset_window(publisher_t *p)
{
    p->oldest = p->next_tag = p->timeout_at = 1;
    update_inflight(p);
}

static void update_resending(publisher_t *p)
{
    atomic_store_explicit(&p->stats.resending, p->resend_len - p->resend_head,
                          memory_order_relaxed);
}

/* The tags died with the channel: moves every unanswered entry of the window, in publish order,
 * in front of those still waiting to be resent (a republish the connection cut short). */
static void requeue_window(publisher_t *p)
{
    uint32_t k = 0, waiting = p->resend_len - p->resend_head;
    for (uint64_t tag = p->oldest; tag < p->next_tag; tag++)
        k += !entry_of(p, tag)->answered;
    ASSERT(k + waiting <= p->mask + 1);
    memmove(&p->resend[k], &p->resend[p->resend_head], waiting * sizeof(entry_t));
    k = 0;
    for (uint64_t tag = p->oldest; tag < p->next_tag; tag++) {
        entry_t *e = entry_of(p, tag);
        if (!e->answered)
            p->resend[k++] =
                (entry_t){.job = e->job, .deadline_ms = e->deadline_ms, .nacked = e->nacked};
    }
    p->resend_head = 0;
    p->resend_len = k + waiting;
    reset_window(p);
    update_resending(p);
}

/* An entry unconfirmed at its deadline: PUB_REFUSED if the broker nacked it, else PUB_TIMEOUT. */
static void answer_late(publisher_t *p, entry_t *e)
{
    if (e->nacked)
        answer(p, e, PUB_REFUSED, &p->stats.nacked);
    else
        answer(p, e, PUB_TIMEOUT, &p->stats.timed_out);
}

/* Answers what waited to be resent past its deadline. Entries wait in deadline order, so the scan
 * stops at the first still in time. */
static void expire_resend(publisher_t *p, int64_t now_ms)
{
    while (p->resend_head < p->resend_len && p->resend[p->resend_head].deadline_ms <= now_ms)
        answer_late(p, &p->resend[p->resend_head++]);
    if (p->resend_head == p->resend_len)
        p->resend_head = p->resend_len = 0;
    update_resending(p);
}

/* Drops the connection: its tags die with it, so what it left unanswered waits to be resent. */
static void drop_connection(publisher_t *p)
{
    p->refused = false;
    requeue_window(p);
    p->t.disconnect(p->t.ctx);
    p->blocked = false;
    atomic_store_explicit(&p->stats.blocked, 0, memory_order_relaxed);
    set_state(p, PUB_STATE_DOWN);
}

static void lose_connection(publisher_t *p, int64_t now_ms)
{
    drop_connection(p);
    p->next_attempt_ms = now_ms + failover_failed(&p->failover, now_ms);
    stat_add(&p->stats.connection_losses, 1);
}

/* The broker nacked messages of this connection: connects to the same broker again after the
 * refusal backoff, publishing the refused and unconfirmed messages again first. */
static void reconnect_refused(publisher_t *p, int64_t now_ms)
{
    drop_connection(p);
    p->refusal_wait = true;
    p->next_attempt_ms = now_ms + backoff_next_ms(&p->refusal_backoff);
    stat_add(&p->stats.refusal_reconnects, 1);
}

void publisher_destroy(publisher_t *p)
{
    if (p == NULL)
        return;
    requeue_window(p);
    for (uint32_t i = p->resend_head; i < p->resend_len; i++)
        answer(p, &p->resend[i], PUB_UNAVAILABLE, &p->stats.unavailable);
    p->t.disconnect(p->t.ctx);
    free(p->resend);
    free(p->entries);
    free(p);
}

bool publisher_wants_jobs(const publisher_t *p)
{
    ASSERT_OWNER(&p->owner);
    if (!is_up(p)) /* wait in the ring for the next broker, or be refused at once */
        return !p->refusal_wait && !failover_in_round(&p->failover);
    return p->next_tag - p->oldest < p->opts.max_inflight;
}

void publisher_submit(publisher_t *p, pub_job_t *job, int64_t now_ms)
{
    ASSERT_OWNER(&p->owner);
    entry_t e = {.job = *job, .deadline_ms = now_ms + p->opts.confirm_timeout_ms};
    job->body = NULL; /* the entry owns it now */
    if (!is_up(p) || p->blocked || p->next_tag - p->oldest >= p->opts.max_inflight) {
        answer(p, &e, PUB_UNAVAILABLE, &p->stats.unavailable);
        return;
    }
    if (publish(p, &e, now_ms) < 0)
        p->lost_in_submit = true;
}

/* Publishes e (copied into the window at the next tag). On failure the connection is lost and
 * e waits to be resent with the rest. Returns 0 or the transport's ERR_*. */
static int publish(publisher_t *p, const entry_t *e, int64_t now_ms)
{
    entry_t *slot = entry_of(p, p->next_tag++);
    *slot = *e;
    update_inflight(p);
    int rc = p->t.publish(p->t.ctx, &slot->job, &p->last_err);
    if (rc < 0) {
        lose_connection(p, now_ms);
        return rc;
    }
    stat_add(&p->stats.published, 1);
    return 0;
}

/* On a new connection: publishes again, in order, what the last one left unconfirmed. Returns 0
 * or the transport's ERR_* (the connection is then lost again). */
static int resend_all(publisher_t *p, int64_t now_ms)
{
    while (p->resend_head < p->resend_len) {
        entry_t e = p->resend[p->resend_head++];
        int rc = publish(p, &e, now_ms);
        if (rc < 0)
            return rc; /* not published: it waits again, in order, and is counted when it is */
        stat_add(&p->stats.republished, 1);
    }
    p->resend_head = p->resend_len = 0;
    update_resending(p);
    return 0;
}

/* Settles tag by an ack, or a nack: a nacked unanswered entry keeps the window from advancing
 * past it, so that reconnect_refused publishes it again. */
static void settle(publisher_t *p, uint64_t tag, bool ack)
{
    entry_t *e = entry_of(p, tag);
    if (e->settled)
        return;
    e->settled = true;
    if (!ack) {
        p->refused |= !e->answered;
        e->nacked = true;
    } else if (e->returned) { /* unroutable: acked by the broker but stored nowhere */
        answer(p, e, PUB_REFUSED, &p->stats.returned);
    } else {
        answer(p, e, PUB_CONFIRMED, &p->stats.confirmed);
    }
}

static void on_event(publisher_t *p, const pub_event_t *ev, int *flags)
{
    switch (ev->kind) {
    case PUB_EV_ACK:
    case PUB_EV_NACK: {
        bool ack = ev->kind == PUB_EV_ACK;
        if (ack) /* the broker takes messages on this connection again */
            backoff_reset(&p->refusal_backoff);
        uint64_t last = ev->tag;
        if (ev->multiple && last == 0)
            last = p->next_tag - 1; /* tag 0 with multiple: everything outstanding */
        if (last < p->oldest || last >= p->next_tag)
            return; /* a tag we no longer track: nothing to settle */
        uint64_t first = ev->multiple ? p->oldest : last;
        for (uint64_t tag = first; tag <= last; tag++)
            settle(p, tag, ack);
        while (p->oldest < p->next_tag && entry_of(p, p->oldest)->settled &&
               entry_of(p, p->oldest)->answered)
            p->oldest++;
        if (p->timeout_at < p->oldest)
            p->timeout_at = p->oldest;
        update_inflight(p);
        return;
    }
    case PUB_EV_RETURN:
        /* Only marked here: the message is counted (as returned) when its ack answers it. */
        for (uint64_t tag = p->oldest; tag < p->next_tag; tag++) {
            entry_t *e = entry_of(p, tag);
            /* Returns come in publish order: skip a message already returned, in case a
             * client retry put two messages with this id in flight. */
            if (!e->settled && !e->returned && strcmp(e->job.id, ev->message_id) == 0) {
                e->returned = true;
                break;
            }
        }
        return;
    case PUB_EV_BLOCKED:
        p->blocked = true;
        atomic_store_explicit(&p->stats.blocked, 1, memory_order_relaxed);
        *flags |= PUB_PUMP_BLOCKED;
        return;
    case PUB_EV_UNBLOCKED:
        p->blocked = false;
        atomic_store_explicit(&p->stats.blocked, 0, memory_order_relaxed);
        *flags |= PUB_PUMP_UNBLOCKED;
        return;
    }
}

static void expire(publisher_t *p, int64_t now_ms)
{
    /* Deadlines grow with the tag (one timeout for all), so the scan stops at the first
     * entry still in time. */
    for (; p->timeout_at < p->next_tag; p->timeout_at++) {
        entry_t *e = entry_of(p, p->timeout_at);
        if (e->deadline_ms > now_ms)
            break;
        if (!e->settled)
            answer_late(p, e);
    }
}

int publisher_pump(publisher_t *p, int64_t now_ms)
{
    owner_bind_once(&p->owner);
    ASSERT_OWNER(&p->owner);
    int flags = 0;
    if (p->lost_in_submit) {
        /* Reported before any reconnect attempt overwrites last_err with its own outcome. */
        p->lost_in_submit = false;
        return PUB_PUMP_LOST;
    }
    if (!is_up(p)) {
        expire_resend(p, now_ms);
        if (now_ms < p->next_attempt_ms)
            return 0;
        unsigned broker = failover_current(&p->failover);
        p->refusal_wait = false; /* if this attempt fails, the failover rules apply */
        if (p->t.connect(p->t.ctx, broker, &p->last_err) < 0) {
            p->t.disconnect(p->t.ctx);
            p->next_attempt_ms = now_ms + failover_failed(&p->failover, now_ms);
            return PUB_PUMP_CONNECT_FAILED;
        }
        failover_connected(&p->failover, now_ms);
        reset_window(p);
        set_state(p, PUB_STATE_UP);
        atomic_store_explicit(&p->stats.broker, broker, memory_order_relaxed);
        stat_add(&p->stats.connects, 1);
        flags |= PUB_PUMP_CONNECTED;
        if (resend_all(p, now_ms) < 0)
            return flags | PUB_PUMP_LOST;
    }
    failover_tick(&p->failover, now_ms);
    for (;;) {
        pub_event_t ev;
        int rc = p->t.next_event(p->t.ctx, &ev, &p->last_err);
        if (rc < 0) {
            lose_connection(p, now_ms);
            return flags | PUB_PUMP_LOST;
        }
        if (rc == 0)
            break;
        on_event(p, &ev, &flags);
    }
    if (p->refused) {
        reconnect_refused(p, now_ms);
        return flags | PUB_PUMP_REFUSED;
    }
    expire(p, now_ms);
    return flags;
}

int64_t publisher_next_wake_ms(const publisher_t *p, int64_t now_ms)
{
    if (!is_up(p)) {
        int64_t at = p->next_attempt_ms;
        if (p->resend_head < p->resend_len && p->resend[p->resend_head].deadline_ms < at)
            at = p->resend[p->resend_head].deadline_ms;
        return at > now_ms ? at - now_ms : 0;
    }
    if (p->timeout_at < p->next_tag) {
        int64_t d = p->entries[p->timeout_at & p->mask].deadline_ms - now_ms;
        return d > 0 ? d : 0;
    }
    return -1;
}

uint32_t publisher_inflight(const publisher_t *p)
{
    return (uint32_t)(p->next_tag - p->oldest);
}

const err_t *publisher_last_err(const publisher_t *p)
{
    return &p->last_err;
}

pub_state_t publisher_state_get(const publisher_t *p)
{
    return (pub_state_t)atomic_load(&p->state);
}

const publisher_stats_t *publisher_stats(const publisher_t *p)
{
    return &p->stats;
}
