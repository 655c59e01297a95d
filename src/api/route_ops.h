/* SPDX-License-Identifier: MIT */
/*
 * The operational routes, GET /health, /ready and /metrics (DESIGN §2), the 404 fallback, and
 * the API's metric families. Each loop keeps its own api_metrics_t, written only by that loop
 * with relaxed atomics, so counting costs no shared cache line; /metrics sums the loops.
 * Thread: loop.
 */
#ifndef AT_API_ROUTE_OPS_H
#define AT_API_ROUTE_OPS_H

#include <h2o.h>

#include "common/metrics.h"

enum api_route {
    API_ROUTE_ACTIVITIES,
    API_ROUTE_HEALTH,
    API_ROUTE_READY,
    API_ROUTE_METRICS,
    API_ROUTE_OTHER,
    API_ROUTE_COUNT
};

/* The statuses the handlers answer, in the order of api_metrics_t.responses' second index. */
#define API_STATUS_LIST(X) X(200) X(202) X(400) X(404) X(405) X(415) X(429) X(503)
enum {
#define API_STATUS_ENUM(code) API_STATUS_##code,
    API_STATUS_LIST(API_STATUS_ENUM)
#undef API_STATUS_ENUM
        API_STATUS_COUNT
};

/* One loop's counters. Thread: written by its loop; read by any loop rendering /metrics. */
typedef struct api_metrics {
    metrics_counter_t responses[API_ROUTE_COUNT][API_STATUS_COUNT];
    metrics_histogram_t publish_latency; /* enqueue to confirmation, as the loop sees it */
    metrics_counter_t rate_limited_at_capacity;
    metrics_counter_t ring_full;
    metrics_counter_t pending_full;
    metrics_counter_t deadline_expired;
    metrics_counter_t client_gone;
    metrics_gauge_t parked;
} api_metrics_t;

/* Prepares m (zeroed counters, latency buckets). */
void api_metrics_init(api_metrics_t *m);

/* Counts one response of route with HTTP status (other statuses are not counted). */
void api_metrics_count(api_metrics_t *m, enum api_route route, int status);

/* Handler for /health, /ready, /metrics and every unknown path (404 problem+json). */
int route_ops_on_req(h2o_handler_t *self, h2o_req_t *req);

#endif
