/* SPDX-License-Identifier: MIT */
/*
 * The consumer's batch/ack/retry/DLQ policy (DESIGN §5), pure: deliveries are offered one by
 * one, re-validated (a poison message is rejected to the dead-letter queue at once), collected
 * into a batch of up to batch_size messages or batch_ms after the first one, mapped to documents
 * and stored with one unordered insert. The broker and the store sit behind structs of function
 * pointers, so the worker passes the real rabbitmq-c and mongoc edges and tests pass fakes.
 * Thread: a batch_t belongs to the worker thread that created it; every function but
 * batch_destroy asserts it (common/owner.h).
 * Invariants: a delivery is acked only after the store acknowledged its document (stored or
 * already stored); an ack with `multiple` always names a tag that is still outstanding and never
 * covers a tag of a later batch; after giving up on the store every outstanding delivery of the
 * channel is requeued and consumption stays paused until the store answers a ping.
 */
#ifndef AT_CONSUMER_BATCH_H
#define AT_CONSUMER_BATCH_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/timesrc.h"

#define BATCH_MSG_MAX 160 /* bytes of a per-document error message, NUL included */

/* What the store says about one document of an insert. */
typedef enum batch_outcome {
    BATCH_OUTCOME_TRANSIENT = 0, /* not known to be stored (retry); the default */
    BATCH_OUTCOME_STORED,        /* inserted and acknowledged with the write concern */
    BATCH_OUTCOME_DUPLICATE,     /* duplicate key on _id: an earlier delivery stored it */
    BATCH_OUTCOME_PERMANENT,     /* refused for good (e.g. document validation): to the DLQ */
} batch_outcome_t;

/* Per-document result of an insert. Transparent; filled by the store.
 * Thread: the worker owning the batch. */
typedef struct batch_doc_result {
    batch_outcome_t outcome;
    int code;                /* the server's error code, 0 when stored */
    char msg[BATCH_MSG_MAX]; /* the server's message for PERMANENT, else "" */
} batch_doc_result_t;

/* The store as the policy sees it. Thread: the worker owning the batch. */
typedef struct batch_store {
    /* Inserts docs[0..n) (borrowed) with one unordered insert. Before the call every res[i] is
     * zeroed (TRANSIENT). Returns 0 when the server answered: res[i] says what happened to each
     * document (documents still TRANSIENT are retried). Returns a negative ERR_* with err set
     * when nothing is known (network, no primary, timeout, write concern failed): the whole
     * insert is retried. */
    int (*insert_many)(void *ctx, const bson_t *const *docs, size_t n, batch_doc_result_t *res,
                       err_t *err);
    /* Returns 0 when the database answers, else a negative ERR_* with err set. */
    int (*ping)(void *ctx, err_t *err);
    void *ctx;
} batch_store_t;

/* The broker channel as the policy sees it. Every call returns 0, or a negative ERR_* with err
 * set when the channel or connection is gone: the batch then stops and the worker reconnects
 * and calls batch_abandon (the broker redelivers every unacked message by itself).
 * Thread: the worker owning the batch. */
typedef struct batch_broker {
    /* basic.ack of tag, or of every outstanding tag <= tag when multiple. */
    int (*ack)(void *ctx, uint64_t tag, bool multiple, err_t *err);
    /* basic.reject of one tag; requeue false dead-letters it. */
    int (*reject)(void *ctx, uint64_t tag, bool requeue, err_t *err);
    /* basic.nack; tag 0 with multiple means every outstanding delivery of the channel. */
    int (*nack)(void *ctx, uint64_t tag, bool multiple, bool requeue, err_t *err);
    /* Stops consumption (basic.cancel) and discards the deliveries already received but not yet
     * offered; when it returns no further delivery arrives until resume. */
    int (*pause)(void *ctx, err_t *err);
    /* Starts consumption again (basic.consume). */
    int (*resume)(void *ctx, err_t *err);
    void *ctx;
} batch_broker_t;

typedef enum batch_event_kind {
    BATCH_EV_POISON,      /* tag, reason: not JSON or invalid; rejected to the DLQ */
    BATCH_EV_REJECTED,    /* tag, id, reason: the store refused the document; rejected to the DLQ */
    BATCH_EV_FLUSHED,     /* count, stored, duplicates, elapsed_ms: a batch was stored and acked */
    BATCH_EV_RETRY,       /* count, attempt, delay_ms, reason: the insert failed transiently */
    BATCH_EV_PAUSED,      /* count (requeued), reason: gave up; everything requeued, paused */
    BATCH_EV_PING_FAILED, /* attempt, delay_ms, reason: still paused */
    BATCH_EV_RESUMED,     /* the store answered; consuming again */
    BATCH_EV_REQUEUED,    /* count, reason: gave up while draining; everything requeued */
} batch_event_kind_t;

/* One thing worth logging or counting. Borrowed for the duration of the callback only.
 * Thread: the worker owning the batch (the callback runs there). */
typedef struct batch_event {
    batch_event_kind_t kind;
    uint64_t tag;
    const char *id; /* event id, or "" */
    unsigned count;
    unsigned stored;
    unsigned duplicates;
    unsigned attempt;
    int64_t delay_ms;
    int64_t elapsed_ms;  /* for FLUSHED: from the first insert attempt to the ack */
    const err_t *reason; /* NULL when there is none */
} batch_event_t;

typedef void (*batch_event_cb)(void *ctx, const batch_event_t *ev);

/* Parameters; copied by batch_create. Thread: the creating thread. */
typedef struct batch_params {
    uint32_t batch_size;      /* 1.. */
    uint32_t batch_ms;        /* time from the first message of a batch to its flush */
    uint32_t retry_max_ms;    /* give up on a transient failure after this long */
    uint32_t backoff_base_ms; /* first retry delay (0 = 100) */
    uint32_t backoff_max_ms;  /* cap on a retry or ping delay (0 = 5000) */
    uint64_t seed;            /* jitter seed; any value */
    timesrc_t clock;          /* mono for timers, wall for processedAt */
    batch_broker_t broker;
    batch_store_t store;
    batch_event_cb event_cb; /* may be NULL */
    void *event_ctx;
} batch_params_t;

typedef enum batch_state {
    BATCH_RUNNING,  /* consuming; may hold a batch */
    BATCH_RETRYING, /* an insert failed transiently; retrying with backoff, still consuming */
    BATCH_PAUSED,   /* gave up: nothing held, not consuming, pinging the store */
} batch_state_t;

typedef struct batch batch_t;

/* Returns an owned batch (free with batch_destroy), or NULL when batch_size is 0. */
batch_t *batch_create(const batch_params_t *p);

/* Frees b and everything it holds without any broker call. NULL is a no-op. */
void batch_destroy(batch_t *b);

/* Takes the delivery tag with body[0..len) (borrowed; decoded at once). A poison body is
 * rejected without requeue and reported as BATCH_EV_POISON. Returns 0, ERR_CLOSED when b is
 * paused (the delivery is not taken; a worker that honours pause never sees this), or the
 * broker's error. Never flushes: call batch_tick. */
int batch_offer(batch_t *b, uint64_t tag, const char *body, size_t len);

/* Does what is due at the clock's now: flush a full or expired batch, retry a failed insert,
 * give up, ping the store while paused and resume. Returns 0 or the broker's error (the worker
 * then reconnects and calls batch_abandon). */
int batch_tick(batch_t *b);

/* Returns the monotonic time at which batch_tick has something to do, or INT64_MAX when it
 * waits for deliveries only. A value <= now means "call batch_tick now". */
int64_t batch_next_due_ms(const batch_t *b);

/* Shutdown: from now on what is held is flushed without waiting for size or time, and giving up
 * requeues without pausing. Call batch_tick until batch_is_idle. */
void batch_drain(batch_t *b);

/* The broker connection was lost: forgets every held delivery (the broker requeues them) and
 * keeps the state (a paused batch stays paused, a retrying one becomes running again). */
void batch_abandon(batch_t *b);

/* Returns true when b holds no delivery. */
bool batch_is_idle(const batch_t *b);

/* Returns the number of deliveries held (in the insert and waiting behind it). */
size_t batch_held(const batch_t *b);

/* Returns the current state. */
batch_state_t batch_state(const batch_t *b);

#endif
