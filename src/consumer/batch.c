/* SPDX-License-Identifier: MIT */
/*
 * DESIGN. The batch holds the deliveries taken from one channel in delivery-tag order:
 * ents[0..flight_n) form the batch being inserted (the "flight"), ents[flight_n..n) wait behind
 * it. While a flight is retried the worker keeps reading deliveries (it must, to service
 * heartbeats), so they queue behind it; the broker's prefetch bounds how many. Tags grow with
 * delivery order on a channel, so every waiting tag is greater than every flight tag: acking the
 * flight with `multiple` up to its greatest stored tag never covers a waiting delivery. Poison
 * deliveries and documents the server refuses for good are rejected one by one as soon as that
 * is known, so they are settled before that ack. The multiple ack names a tag that is still
 * outstanding (RabbitMQ closes the channel for an unknown tag, even with `multiple`).
 * Giving up pauses consumption first, then nacks tag 0 with `multiple` and requeue, which
 * returns every outstanding delivery of the channel, including prefetched ones the worker never
 * read; nothing is held afterwards, so no stale tag can be acked later.
 */
#include "consumer/batch.h"

#include <json-c/json.h>
#include <string.h>

#include "common/backoff.h"
#include "common/owner.h"
#include "common/validate.h"
#include "consumer/document.h"

#define BACKOFF_BASE_DEFAULT_MS 100
#define BACKOFF_MAX_DEFAULT_MS  5000

/* One delivery held by the batch. Thread: worker (owner only). */
typedef struct entry {
    uint64_t tag;
    int64_t arrived_ms; /* monotonic */
    activity_t act;     /* decoded message; deinit once settled */
    bson_t *doc;        /* built when the entry joins a flight */
    batch_outcome_t outcome;
    bool settled; /* stored, duplicate or rejected: nothing left to insert */
} entry_t;

/* Thread: worker (owner only). */
struct batch {
    owner_t owner; /* the thread that created it */
    batch_params_t p;
    batch_state_t state;
    bool draining;
    entry_t *ents;
    size_t n, cap;
    size_t flight_n;
    int64_t flight_start_ms; /* first insert attempt of the current flight */
    int64_t retry_start_ms;  /* first transient failure of the current flight, 0 = none */
    int64_t next_ms;         /* next retry (RETRYING) or ping (PAUSED) */
    unsigned attempt;
    backoff_t backoff;
    /* Scratch arrays for one insert, sized with ents. */
    const bson_t **docs;
    batch_doc_result_t *res;
    size_t *idx;
};

static void emit(const batch_t *b, batch_event_t *ev)
{
    if (b->p.event_cb != NULL)
        b->p.event_cb(b->p.event_ctx, ev);
}

static int64_t mono(const batch_t *b)
{
    return timesrc_mono_ms(&b->p.clock);
}

batch_t *batch_create(const batch_params_t *p)
{
    if (p->batch_size == 0)
        return NULL;
    batch_t *b = xcalloc(1, sizeof(*b));
    owner_bind(&b->owner);
    b->p = *p;
    if (b->p.backoff_base_ms == 0)
        b->p.backoff_base_ms = BACKOFF_BASE_DEFAULT_MS;
    if (b->p.backoff_max_ms == 0)
        b->p.backoff_max_ms = BACKOFF_MAX_DEFAULT_MS;
    backoff_init(&b->backoff, b->p.backoff_base_ms, b->p.backoff_max_ms, p->seed);
    b->state = BATCH_RUNNING;
    return b;
}

static void entry_release(entry_t *e)
{
    activity_deinit(&e->act);
    if (e->doc != NULL) {
        bson_destroy(e->doc);
        e->doc = NULL;
    }
}

static void drop_all(batch_t *b)
{
    for (size_t i = 0; i < b->n; i++)
        entry_release(&b->ents[i]);
    b->n = 0;
    b->flight_n = 0;
    b->retry_start_ms = 0;
    b->attempt = 0;
}

void batch_destroy(batch_t *b)
{
    if (b == NULL)
        return;
    drop_all(b);
    free(b->ents);
    free(b->docs);
    free(b->res);
    free(b->idx);
    free(b);
}

static void grow(batch_t *b)
{
    size_t cap = b->cap ? b->cap * 2 : (b->p.batch_size < 64 ? 64 : b->p.batch_size);
    b->ents = xrealloc(b->ents, cap * sizeof(*b->ents));
    b->docs = xrealloc(b->docs, cap * sizeof(*b->docs));
    b->res = xrealloc(b->res, cap * sizeof(*b->res));
    b->idx = xrealloc(b->idx, cap * sizeof(*b->idx));
    b->cap = cap;
}

/* The reason a message is poison, from the validation report: its first error. */
static void poison_reason(const validate_report_t *rep, err_t *reason)
{
    if (rep->count == 0) {
        err_set(reason, ERR_INVAL, "body", "invalid message");
        return;
    }
    err_set(reason, ERR_INVAL, rep->errors[0].field, "%s: %s%s", rep->errors[0].field,
            rep->errors[0].message, rep->total > 1 ? " (and more)" : "");
}

int batch_offer(batch_t *b, uint64_t tag, const char *body, size_t len)
{
    ASSERT_OWNER(&b->owner);
    if (b->state == BATCH_PAUSED)
        return ERR_CLOSED;
    if (b->n == b->cap)
        grow(b);
    entry_t *e = &b->ents[b->n];
    memset(e, 0, sizeof(*e));
    validate_report_t rep;
    if (validate_message(body, len, &e->act, &rep) < 0) {
        err_t reason;
        poison_reason(&rep, &reason);
        err_t berr;
        int rc = b->p.broker.reject(b->p.broker.ctx, tag, false, &berr);
        if (rc < 0)
            return rc;
        batch_event_t ev = {.kind = BATCH_EV_POISON, .tag = tag, .id = "", .reason = &reason};
        emit(b, &ev);
        return 0;
    }
    e->tag = tag;
    e->arrived_ms = mono(b);
    b->n++;
    return 0;
}

static bool flush_due(const batch_t *b, int64_t now)
{
    size_t waiting = b->n - b->flight_n;
    if (b->flight_n > 0 || waiting == 0)
        return false;
    if (b->draining || waiting >= b->p.batch_size)
        return true;
    return now - b->ents[b->flight_n].arrived_ms >= (int64_t)b->p.batch_ms;
}

int64_t batch_next_due_ms(const batch_t *b)
{
    ASSERT_OWNER(&b->owner);
    if (b->state == BATCH_PAUSED || b->flight_n > 0)
        return b->next_ms;
    if (b->n == 0)
        return INT64_MAX;
    if (b->draining || b->n >= b->p.batch_size)
        return INT64_MIN;
    return b->ents[0].arrived_ms + (int64_t)b->p.batch_ms;
}

/* Moves the settled flight out: releases its entries and shifts the waiting ones down. */
static void retire_flight(batch_t *b)
{
    for (size_t i = 0; i < b->flight_n; i++)
        entry_release(&b->ents[i]);
    memmove(b->ents, b->ents + b->flight_n, (b->n - b->flight_n) * sizeof(*b->ents));
    b->n -= b->flight_n;
    b->flight_n = 0;
    b->retry_start_ms = 0;
    b->attempt = 0;
}

/* Forms a flight of up to batch_size waiting entries and builds their documents, all with the
 * same processing time. A document that cannot be built is refused like a permanent error. */
static int form_flight(batch_t *b, int64_t now)
{
    size_t k = b->n < b->p.batch_size ? b->n : b->p.batch_size;
    int64_t wall = timesrc_wall_ms(&b->p.clock);
    b->flight_n = k;
    b->flight_start_ms = now;
    b->retry_start_ms = 0;
    b->attempt = 0;
    for (size_t i = 0; i < k; i++) {
        entry_t *e = &b->ents[i];
        err_t reason;
        e->doc = document_create(&e->act, wall, &reason);
        if (e->doc != NULL)
            continue;
        err_t berr;
        int rc = b->p.broker.reject(b->p.broker.ctx, e->tag, false, &berr);
        if (rc < 0)
            return rc;
        e->settled = true;
        e->outcome = BATCH_OUTCOME_PERMANENT;
        batch_event_t ev = {
            .kind = BATCH_EV_REJECTED, .tag = e->tag, .id = e->act.id, .reason = &reason};
        emit(b, &ev);
    }
    return 0;
}

/* All flight entries are settled: ack up to the greatest stored one, report, retire. */
static int complete_flight(batch_t *b, int64_t now)
{
    uint64_t ack_tag = 0;
    unsigned stored = 0, dups = 0;
    for (size_t i = 0; i < b->flight_n; i++) {
        const entry_t *e = &b->ents[i];
        if (e->outcome == BATCH_OUTCOME_STORED)
            stored++;
        else if (e->outcome == BATCH_OUTCOME_DUPLICATE)
            dups++;
        else
            continue;
        ack_tag = e->tag; /* entries are in tag order */
    }
    if (ack_tag != 0) {
        err_t berr;
        int rc = b->p.broker.ack(b->p.broker.ctx, ack_tag, true, &berr);
        if (rc < 0)
            return rc;
    }
    batch_event_t ev = {.kind = BATCH_EV_FLUSHED,
                        .id = "",
                        .count = (unsigned)b->flight_n,
                        .stored = stored,
                        .duplicates = dups,
                        .elapsed_ms = now - b->flight_start_ms};
    emit(b, &ev);
    retire_flight(b);
    backoff_reset(&b->backoff);
    if (b->state == BATCH_RETRYING)
        b->state = BATCH_RUNNING;
    return 0;
}

/* Gives up on the store: requeue every outstanding delivery and, unless draining, pause. */
static int give_up(batch_t *b, const err_t *reason)
{
    err_t berr;
    unsigned count = (unsigned)b->n;
    int rc;
    if (!b->draining) {
        /* Pause first, so no delivery arrives between the nack and the cancel. */
        rc = b->p.broker.pause(b->p.broker.ctx, &berr);
        if (rc < 0)
            goto out;
    }
    rc = b->p.broker.nack(b->p.broker.ctx, 0, true, true, &berr);
out:
    drop_all(b);
    backoff_reset(&b->backoff);
    if (b->draining) {
        b->state = BATCH_RUNNING;
    } else {
        b->state = BATCH_PAUSED;
        b->next_ms = mono(b) + backoff_next_ms(&b->backoff);
    }
    batch_event_t ev = {.kind = b->draining ? BATCH_EV_REQUEUED : BATCH_EV_PAUSED,
                        .id = "",
                        .count = count,
                        .reason = reason};
    emit(b, &ev);
    return rc;
}

/* One insert of the flight's unsettled documents. */
static int attempt_insert(batch_t *b, int64_t now)
{
    size_t m = 0;
    for (size_t i = 0; i < b->flight_n; i++) {
        if (b->ents[i].settled)
            continue;
        b->idx[m] = i;
        b->docs[m] = b->ents[i].doc;
        m++;
    }
    if (m == 0)
        return complete_flight(b, now);

    memset(b->res, 0, m * sizeof(*b->res));
    err_t serr;
    err_clear(&serr);
    int src = b->p.store.insert_many(b->p.store.ctx, b->docs, m, b->res, &serr);
    /* The insert may have blocked (server selection, socket timeouts): time the retry schedule
     * and the give-up deadline from when the failure was seen. */
    now = mono(b);
    size_t transient = 0;
    for (size_t j = 0; j < m; j++) {
        entry_t *e = &b->ents[b->idx[j]];
        batch_outcome_t o = src < 0 ? BATCH_OUTCOME_TRANSIENT : b->res[j].outcome;
        if (o == BATCH_OUTCOME_TRANSIENT) {
            if (src == 0 && transient == 0) /* keep the first per-document reason */
                err_set(&serr, ERR_UNAVAIL, NULL, "%s (code %d)", b->res[j].msg, b->res[j].code);
            transient++;
            continue;
        }
        if (o == BATCH_OUTCOME_PERMANENT) {
            err_t reason, berr;
            err_set(&reason, ERR_INVAL, NULL, "%s (code %d)", b->res[j].msg, b->res[j].code);
            int rc = b->p.broker.reject(b->p.broker.ctx, e->tag, false, &berr);
            if (rc < 0)
                return rc;
            batch_event_t ev = {
                .kind = BATCH_EV_REJECTED, .tag = e->tag, .id = e->act.id, .reason = &reason};
            emit(b, &ev);
        }
        e->outcome = o;
        e->settled = true;
    }
    if (transient == 0)
        return complete_flight(b, now);

    if (b->retry_start_ms == 0)
        b->retry_start_ms = now;
    b->attempt++;
    if (now - b->retry_start_ms >= (int64_t)b->p.retry_max_ms)
        return give_up(b, &serr);
    uint32_t delay = backoff_next_ms(&b->backoff);
    int64_t left = b->retry_start_ms + (int64_t)b->p.retry_max_ms - now;
    if ((int64_t)delay > left)
        delay = (uint32_t)left; /* the last try happens right at the deadline */
    b->next_ms = now + delay;
    b->state = BATCH_RETRYING;
    batch_event_t ev = {.kind = BATCH_EV_RETRY,
                        .id = "",
                        .count = (unsigned)transient,
                        .attempt = b->attempt,
                        .delay_ms = delay,
                        .reason = &serr};
    emit(b, &ev);
    return 0;
}

static int tick_paused(batch_t *b, int64_t now)
{
    if (now < b->next_ms)
        return 0;
    err_t serr;
    err_clear(&serr);
    if (b->p.store.ping(b->p.store.ctx, &serr) < 0) {
        uint32_t delay = backoff_next_ms(&b->backoff);
        b->next_ms = now + delay;
        b->attempt++;
        batch_event_t ev = {.kind = BATCH_EV_PING_FAILED,
                            .id = "",
                            .attempt = b->attempt,
                            .delay_ms = delay,
                            .reason = &serr};
        emit(b, &ev);
        return 0;
    }
    err_t berr;
    int rc = b->p.broker.resume(b->p.broker.ctx, &berr);
    if (rc < 0)
        return rc;
    b->state = BATCH_RUNNING;
    b->attempt = 0;
    backoff_reset(&b->backoff);
    batch_event_t ev = {.kind = BATCH_EV_RESUMED, .id = ""};
    emit(b, &ev);
    return 0;
}

int batch_tick(batch_t *b)
{
    ASSERT_OWNER(&b->owner);
    int64_t now = mono(b);
    if (b->state == BATCH_PAUSED)
        return b->draining ? 0 : tick_paused(b, now);
    /* Several flights may be due at once (a full queue behind a retried flight, or draining). */
    for (;;) {
        int rc;
        if (b->flight_n > 0) {
            if (now < b->next_ms)
                return 0;
            rc = attempt_insert(b, now);
        } else if (flush_due(b, now)) {
            rc = form_flight(b, now);
            if (rc == 0)
                rc = attempt_insert(b, now);
        } else {
            return 0;
        }
        if (rc < 0 || b->flight_n > 0 || b->state == BATCH_PAUSED)
            return rc;
    }
}

void batch_drain(batch_t *b)
{
    ASSERT_OWNER(&b->owner);
    b->draining = true;
}

void batch_abandon(batch_t *b)
{
    ASSERT_OWNER(&b->owner);
    drop_all(b);
    if (b->state == BATCH_RETRYING)
        b->state = BATCH_RUNNING;
}

bool batch_is_idle(const batch_t *b)
{
    ASSERT_OWNER(&b->owner);
    return b->n == 0;
}

size_t batch_held(const batch_t *b)
{
    ASSERT_OWNER(&b->owner);
    return b->n;
}

batch_state_t batch_state(const batch_t *b)
{
    ASSERT_OWNER(&b->owner);
    return b->state;
}
