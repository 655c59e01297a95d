/* SPDX-License-Identifier: MIT */
/*
 * One consumer worker thread (DESIGN §1, §5): its own broker channel (channel.h: connection,
 * basic.qos(prefetch), manual acks), its own mongoc client popped from the shared pool
 * (store.h), and the batch policy of batch.h between them. Reconnects to the broker with capped
 * backoff; on the stop flag it cancels consumption, flushes and acks what it holds, and closes.
 * Thread: worker_start and worker_join from main; everything else runs on the worker thread.
 * Shared state: the frozen config, the store pool (thread-safe), _Atomic metrics and flags.
 */
#ifndef AT_CONSUMER_WORKER_H
#define AT_CONSUMER_WORKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/brokerurl.h"
#include "common/config.h"
#include "common/err.h"
#include "consumer/store.h"
#include "consumer/worker_metrics.h"

/* What every worker shares. Borrowed by the workers until they are joined. Thread: frozen
 * except for the atomics. */
typedef struct worker_shared {
    const config_t *cfg;
    const brokerurl_list_t *brokers; /* RABBITMQ_URL, parsed */
    store_pool_t *pool;
    worker_metrics_t *metrics;
    atomic_bool stop;   /* set by main on SIGTERM/SIGINT, or by a worker that failed */
    atomic_bool failed; /* set by a worker that cannot start (broker refuses its setup) */
} worker_shared_t;

typedef struct worker worker_t;

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
