/* SPDX-License-Identifier: MIT */
/*
 * One consumer worker thread (DESIGN §1, §5): its own AMQP connection and channel with
 * basic.qos(prefetch) and manual acks, its own mongoc client popped from the shared pool, and
 * the batch policy of batch.h between them. Reconnects to the broker with capped backoff; on
 * the stop flag it cancels consumption, flushes and acks what it holds, and closes.
 * Thread: worker_start and worker_join from main; everything else runs on the worker thread.
 * Shared state: the frozen config, the store pool (thread-safe), _Atomic metrics and flags.
 */
#ifndef AT_CONSUMER_WORKER_H
#define AT_CONSUMER_WORKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/err.h"
#include "common/metrics.h"
#include "consumer/store.h"

/* Process-wide consumer metrics, updated by every worker. Thread: any. */
typedef struct worker_metrics {
    metrics_counter_t stored;
    metrics_counter_t duplicate;
    metrics_counter_t poison;   /* not JSON or invalid: dead-lettered at once */
    metrics_counter_t rejected; /* refused by the database for good: dead-lettered */
    metrics_counter_t requeued; /* handed back to the broker after giving up on the database */
    metrics_counter_t batches;
    metrics_counter_t reconnects;
    metrics_gauge_t connected; /* workers with a live broker connection */
    metrics_gauge_t paused;    /* workers paused until the database answers */
    metrics_histogram_t insert_latency;
} worker_metrics_t;

/* What every worker shares. Borrowed by the workers until they are joined. Thread: frozen
 * except for the atomics. */
typedef struct worker_shared {
    const config_t *cfg;
    store_pool_t *pool;
    worker_metrics_t *metrics;
    atomic_bool stop;   /* set by main on SIGTERM/SIGINT, or by a worker that failed */
    atomic_bool failed; /* set by a worker that cannot start (broker refuses its setup) */
} worker_shared_t;

typedef struct worker worker_t;

/* Initialises m (zero counters, insert latency buckets from 1 ms to 10 s). Thread: main. */
void worker_metrics_init(worker_metrics_t *m);

/* Renders every consumer family in the Prometheus text format into buf[0..cap) (NUL-terminated)
 * and returns the length; a result >= cap - 1 may mean the text was cut. Thread: any. */
size_t worker_metrics_render(const worker_metrics_t *m, char *buf, size_t cap);

/* Starts worker number index (1-based; it names the thread "worker-<index>" and the AMQP
 * connection "activity-consumer worker-<index>"). sh is borrowed until worker_join. On success
 * stores an owned handle in *out and returns 0; ERR_NOMEM / ERR_IO when the thread cannot be
 * created. Thread: main. */
int worker_start(worker_shared_t *sh, unsigned index, worker_t **out, err_t *err);

/* Returns true once the worker thread has returned from its loop. Thread: any. */
bool worker_is_done(const worker_t *w);

/* Returns the monotonic ms of the worker's last pass through its loop (its liveness beat).
 * Thread: any. */
int64_t worker_last_beat_ms(const worker_t *w);

/* Waits for the thread (call after setting sh->stop) and frees w. NULL is a no-op.
 * Thread: main. */
void worker_join(worker_t *w);

#endif
