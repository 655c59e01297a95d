/* SPDX-License-Identifier: MIT */
/*
 * DESIGN. The amqp thread owns one publisher. Jobs arrive from the MPSC ring already encoded;
 * each is published on the confirm-mode channel and remembered in a power-of-two table indexed
 * by delivery tag (tags run 1, 2, ... on each new connection). Broker acks and nacks settle
 * entries (with `multiple`, every tag up to the one named); the oldest unsettled tag advances
 * over settled entries, so the table is a sliding window of at most max_inflight tags.
 * An entry is "answered" once its completion was reported: by its ack, by a confirmation
 * timeout, or by the loss of the connection. A timed-out entry keeps its slot until the
 * broker settles it or the connection goes, because the tag is still outstanding there.
 * Losing the connection answers every unanswered entry PUB_UNAVAILABLE — the message may or
 * may not have been stored, so the client is told to retry, and a retry with the event id
 * it was given is stored once by the idempotent consumer.
 */
#include "api/publisher.h"

#include <stdlib.h>
#include <string.h>

#include "common/backoff.h"
#include "common/owner.h"

typedef struct entry {
    uint64_t ticket;
    int64_t deadline_ms;
    int64_t enqueued_ms;
    uint32_t loop;
    bool answered;
    bool settled;
    bool returned;
    char id[IDGEN_STR_LEN + 1];
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
    backoff_t backoff;
    int64_t next_attempt_ms; /* when DOWN or CONNECTING */
    int64_t up_since_ms;     /* when UP: when the connection was made */

    entry_t *entries;
    uint64_t mask;
    uint64_t oldest;     /* lowest unsettled tag; == next_tag when none */
    uint64_t next_tag;   /* tag the next publish gets */
    uint64_t timeout_at; /* first tag whose deadline has not been checked */

    err_t last_err;
    bool lost_in_submit; /* a publish lost the connection; the next pump reports it */
    publisher_stats_t stats;
};

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
    p->complete(p->complete_ctx, e->loop, e->ticket, status, e->enqueued_ms);
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
    p->mask = cap - 1;
    p->oldest = p->next_tag = p->timeout_at = 1;
    backoff_init(&p->backoff, o->backoff_base_ms, o->backoff_max_ms, o->seed);
    atomic_store(&p->state, PUB_STATE_CONNECTING);
    p->next_attempt_ms = INT64_MIN; /* the first pump connects */
    return p;
}

/* Answers every unanswered entry and forgets all of them: the tags died with the channel. */
static void fail_all(publisher_t *p)
{
    for (uint64_t tag = p->oldest; tag < p->next_tag; tag++)
        answer(p, entry_of(p, tag), PUB_UNAVAILABLE, &p->stats.unavailable);
    p->oldest = p->next_tag = p->timeout_at = 1;
    update_inflight(p);
}

static void lose_connection(publisher_t *p, int64_t now_ms)
{
    fail_all(p);
    p->t.disconnect(p->t.ctx);
    p->blocked = false;
    atomic_store_explicit(&p->stats.blocked, 0, memory_order_relaxed);
    atomic_store(&p->state, PUB_STATE_DOWN);
    p->next_attempt_ms = now_ms + backoff_next_ms(&p->backoff);
    stat_add(&p->stats.connection_losses, 1);
}

void publisher_destroy(publisher_t *p)
{
    if (p == NULL)
        return;
    fail_all(p);
    p->t.disconnect(p->t.ctx);
    free(p->entries);
    free(p);
}

bool publisher_wants_jobs(const publisher_t *p)
{
    ASSERT_OWNER(&p->owner);
    if (atomic_load_explicit(&p->state, memory_order_relaxed) != PUB_STATE_UP)
        return true; /* jobs are refused at once, which keeps the ring from filling up */
    return p->next_tag - p->oldest < p->opts.max_inflight;
}

void publisher_submit(publisher_t *p, pub_job_t *job, int64_t now_ms)
{
    ASSERT_OWNER(&p->owner);
    bool up = atomic_load_explicit(&p->state, memory_order_relaxed) == PUB_STATE_UP;
    if (!up || p->blocked || p->next_tag - p->oldest >= p->opts.max_inflight) {
        stat_add(&p->stats.unavailable, 1);
        p->complete(p->complete_ctx, job->loop, job->ticket, PUB_UNAVAILABLE, job->enqueued_ms);
        free(job->body);
        job->body = NULL;
        return;
    }
    uint64_t tag = p->next_tag++;
    entry_t *e = entry_of(p, tag);
    *e = (entry_t){.ticket = job->ticket,
                   .loop = job->loop,
                   .deadline_ms = now_ms + p->opts.confirm_timeout_ms,
                   .enqueued_ms = job->enqueued_ms};
    memcpy(e->id, job->id, sizeof(e->id));
    int rc = p->t.publish(p->t.ctx, job, &p->last_err);
    free(job->body);
    job->body = NULL;
    update_inflight(p);
    if (rc < 0) {
        lose_connection(p, now_ms);
        p->lost_in_submit = true;
        return;
    }
    stat_add(&p->stats.published, 1);
}

/* Marks tag settled and advances the window past settled entries. */
static void settle(publisher_t *p, uint64_t tag, pub_status_t status)
{
    entry_t *e = entry_of(p, tag);
    if (e->settled)
        return;
    e->settled = true;
    if (status == PUB_REFUSED)
        answer(p, e, PUB_REFUSED, &p->stats.nacked);
    else if (e->returned) /* unroutable: acked by the broker but stored nowhere */
        answer(p, e, PUB_REFUSED, &p->stats.returned);
    else
        answer(p, e, PUB_CONFIRMED, &p->stats.confirmed);
}

static void on_event(publisher_t *p, const pub_event_t *ev, int *flags)
{
    switch (ev->kind) {
    case PUB_EV_ACK:
    case PUB_EV_NACK: {
        pub_status_t st = ev->kind == PUB_EV_ACK ? PUB_CONFIRMED : PUB_REFUSED;
        uint64_t last = ev->tag;
        if (ev->multiple && last == 0)
            last = p->next_tag - 1; /* tag 0 with multiple: everything outstanding */
        if (last < p->oldest || last >= p->next_tag)
            return; /* a tag we no longer track: nothing to settle */
        uint64_t first = ev->multiple ? p->oldest : last;
        for (uint64_t tag = first; tag <= last; tag++)
            settle(p, tag, st);
        while (p->oldest < p->next_tag && entry_of(p, p->oldest)->settled)
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
            if (!e->settled && !e->returned && strcmp(e->id, ev->message_id) == 0) {
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
            answer(p, e, PUB_TIMEOUT, &p->stats.timed_out);
    }
}

int publisher_pump(publisher_t *p, int64_t now_ms)
{
    if (!p->owner.bound)
        owner_bind(&p->owner);
    ASSERT_OWNER(&p->owner);
    int flags = 0;
    if (p->lost_in_submit) {
        /* Reported before any reconnect attempt overwrites last_err with its own outcome. */
        p->lost_in_submit = false;
        return PUB_PUMP_LOST;
    }
    pub_state_t st = atomic_load_explicit(&p->state, memory_order_relaxed);
    if (st != PUB_STATE_UP) {
        if (now_ms < p->next_attempt_ms)
            return 0;
        if (p->t.connect(p->t.ctx, &p->last_err) < 0) {
            p->t.disconnect(p->t.ctx);
            p->next_attempt_ms = now_ms + backoff_next_ms(&p->backoff);
            return PUB_PUMP_CONNECT_FAILED;
        }
        p->up_since_ms = now_ms;
        p->oldest = p->next_tag = p->timeout_at = 1;
        atomic_store(&p->state, PUB_STATE_UP);
        stat_add(&p->stats.connects, 1);
        flags |= PUB_PUMP_CONNECTED;
    }
    backoff_reset_if_lasted(&p->backoff, p->up_since_ms, now_ms);
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
    expire(p, now_ms);
    return flags;
}

int64_t publisher_next_wake_ms(const publisher_t *p, int64_t now_ms)
{
    if (atomic_load_explicit(&p->state, memory_order_relaxed) != PUB_STATE_UP) {
        if (p->next_attempt_ms == INT64_MIN)
            return 0;
        return p->next_attempt_ms > now_ms ? p->next_attempt_ms - now_ms : 0;
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
