/* SPDX-License-Identifier: MIT */
/*
 * The consumer's process-wide metrics: what every worker counts (settled deliveries by result,
 * batches, insert latency, connected and paused workers, reconnects), their Prometheus text,
 * and the /health verdict with its JSON body. Pure: common/metrics only.
 * Thread: counters are updated by the workers and read by the ops loop (relaxed atomics, see
 * common/metrics.h); init runs on main before any thread starts.
 * Invariant: a rendering is either complete or refused (ERR_FULL), never silently cut.
 */
#ifndef AT_CONSUMER_WORKER_METRICS_H
#define AT_CONSUMER_WORKER_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/metrics.h"
#include "consumer/batch.h"

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

/* A snapshot for /health. Transparent value type. Thread: the caller's. */
typedef struct worker_metrics_health {
    unsigned workers;  /* configured workers */
    int64_t connected; /* workers with a live broker connection */
    int64_t paused;    /* workers paused until the database answers */
    bool stopping;     /* the stop flag is set (signal, or a worker failed to start) */
} worker_metrics_health_t;

/* Initialises m (zero counters, insert latency buckets from 1 ms to 10 s). Thread: main, before
 * m is shared. */
void worker_metrics_init(worker_metrics_t *m);

/* Counts what ev (borrowed) reports: settled deliveries by result, batches, and the paused
 * gauge (+1 on BATCH_EV_PAUSED, -1 on BATCH_EV_RESUMED). Thread: any (the worker whose batch
 * reported ev). */
void worker_metrics_count_event(worker_metrics_t *m, const batch_event_t *ev);

/* Renders every consumer family in the Prometheus text format into buf[0..cap), NUL-terminated.
 * Returns the length, or ERR_FULL when the whole text does not fit (buf then holds a prefix of
 * whole lines that must not be served; retry with a larger buffer). Thread: any. */
int worker_metrics_render(const worker_metrics_t *m, char *buf, size_t cap);

/* Reads the gauges of m into a snapshot with the given worker count and stop flag.
 * Thread: any. */
worker_metrics_health_t worker_metrics_health(const worker_metrics_t *m, unsigned workers,
                                              bool stopping);

/* Returns true when the consumer is up: not stopping, at least one worker configured, and every
 * worker connected to the broker. A worker paused on the database stays connected and counts as
 * up (the broker keeps the messages; /metrics and the JSON show the pause). Pure. */
bool worker_metrics_health_is_ok(const worker_metrics_health_t *h);

/* Writes the /health JSON body into buf[0..cap), NUL-terminated:
 * {"status":"ok"|"unavailable","workers":N,"connected":n,"paused":p,"stopping":false}.
 * Returns the length, or ERR_FULL when cap is too small (160 bytes always suffice). Pure. */
int worker_metrics_health_format(const worker_metrics_health_t *h, char *buf, size_t cap);

#endif
