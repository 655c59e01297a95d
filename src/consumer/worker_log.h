/* SPDX-License-Identifier: MIT */
/*
 * The worker's log lines for batch events (STYLE 13, 28): the worker is its thread's top level,
 * so the events the batch reports are logged here and nowhere below. State changes get one line
 * each; repeated failures (insert retries, pings while paused) log the first occurrence and then
 * a summary with a count at most every WORKER_LOG_REPEAT_MS; dead-letter lines are capped at
 * WORKER_LOG_DLQ_PER_S a second, the rest counted in the next line's "unlogged".
 * Thread: a worker_log_t belongs to the worker thread that created it (asserted).
 */
#ifndef AT_CONSUMER_WORKER_LOG_H
#define AT_CONSUMER_WORKER_LOG_H

#include <stdint.h>

#include "consumer/batch.h"

#define WORKER_LOG_REPEAT_MS 30000
#define WORKER_LOG_DLQ_PER_S 20

typedef struct worker_log worker_log_t;

/* Returns an owned log state with nothing logged yet (free with worker_log_destroy); the
 * calling thread becomes its owner. retry_max_ms is CONSUMER_RETRY_MAX_MS, named in the
 * "gave up" line. Thread: the worker. */
worker_log_t *worker_log_create(uint32_t retry_max_ms);

/* Frees l. NULL is a no-op. */
void worker_log_destroy(worker_log_t *l);

/* Logs ev (borrowed) as of the monotonic time now_ms, or counts it as suppressed. */
void worker_log_batch_event(worker_log_t *l, const batch_event_t *ev, int64_t now_ms);

#endif
