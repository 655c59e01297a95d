/* SPDX-License-Identifier: MIT */
/*
 * The consumer's operations endpoint on one small libh2o loop (uv_loop + h2o_context) running on
 * its own thread: GET/HEAD /metrics (Prometheus text of worker_metrics) and GET/HEAD /health
 * (200 {"status":"ok",...} while the consumer runs and every worker is connected to the broker,
 * else 503 {"status":"unavailable",...}); any other path 404, any other method 405 with
 * Allow: GET, HEAD. HTTP/1.1 only.
 * Thread: ops_start and ops_stop from main; the loop's state belongs to the ops thread, which
 * reads only the frozen parameters and the atomics behind them (metrics, stop flag).
 */
#ifndef AT_CONSUMER_OPS_H
#define AT_CONSUMER_OPS_H

#include <stdatomic.h>
#include <stdint.h>

#include "common/err.h"
#include "consumer/worker_metrics.h"

typedef struct ops ops_t;

/* What the endpoint serves. Copied by ops_start; host is borrowed for that call, the other
 * pointers until ops_stop. Thread: frozen. */
typedef struct ops_params {
    const char *host;                /* CONSUMER_METRICS_HOST */
    uint32_t port;                   /* CONSUMER_METRICS_PORT, 1..65535 */
    const worker_metrics_t *metrics; /* updated by the workers */
    unsigned workers;                /* configured workers */
    const atomic_bool *stopping;     /* the workers' stop flag */
} ops_params_t;

/* Listens on host:port (common/listen.c), sets up the loop and starts its thread "ops". On
 * success stores the owned handle in *out and returns 0; else ERR_INVAL / ERR_IO with err naming
 * CONSUMER_METRICS_HOST or CONSUMER_METRICS_PORT, and nothing is left open. Thread: main. */
int ops_start(const ops_params_t *p, ops_t **out, err_t *err);

/* Wakes the loop (uv_async_send), which stops accepting, lets open connections finish for up to
 * OPS_DRAIN_MS, closes its handles and disposes the h2o context; then joins the thread and frees
 * o. NULL is a no-op. Thread: main. */
void ops_stop(ops_t *o);

#define OPS_DRAIN_MS 3000

#endif
