/* SPDX-License-Identifier: MIT */
/*
 * The API's own counters: responses by route and status, publish latency, and the tallies of
 * requests refused or lost on the way (ring or pending table full, deadline, client gone). Each
 * loop keeps one api_metrics_t that only it writes, so counting costs no shared cache line;
 * /metrics merges the loops into a scratch copy with api_metrics_merge and renders that.
 * Thread: an api_metrics_t is written by its loop only and read by any thread (relaxed atomics).
 */
#ifndef AT_API_API_METRICS_H
#define AT_API_API_METRICS_H

#include "common/metrics.h"

/* The routes responses are counted under; API_ROUTE_OTHER takes every unknown path. */
#define API_ROUTE_LIST(X)                                                                          \
    X(ACTIVITIES, "/api/v1/activities")                                                            \
    X(BATCH, "/api/v1/activities/batch")                                                           \
    X(HEALTH, "/health")                                                                           \
    X(READY, "/ready")                                                                             \
    X(METRICS, "/metrics")                                                                         \
    X(OTHER, "other")

enum api_route {
#define API_ROUTE_ENUM(name, label) API_ROUTE_##name,
    API_ROUTE_LIST(API_ROUTE_ENUM)
#undef API_ROUTE_ENUM
        API_ROUTE_COUNT
};

/* The statuses counted, in the order of api_metrics_t.responses' second index. */
#define API_STATUS_LIST(X) X(200) X(202) X(400) X(401) X(404) X(405) X(413) X(415) X(429) X(503)
enum {
#define API_STATUS_ENUM(code) API_STATUS_##code,
    API_STATUS_LIST(API_STATUS_ENUM)
#undef API_STATUS_ENUM
        API_STATUS_COUNT
};

/* The plain counters: field, metric name (after "activity_api_"), help. */
#define API_COUNTER_LIST(X)                                                                        \
    X(rate_limited_at_capacity, "rate_limited_at_capacity_total",                                  \
      "Requests answered 429 because the table of clients was full.")                              \
    X(ring_full, "ring_full_total", "Requests answered 503 because the publish ring was full.")    \
    X(pending_full, "pending_full_total",                                                          \
      "Requests answered 503 because the loop's table of parked requests was full.")               \
    X(deadline_expired, "deadline_expired_total",                                                  \
      "Parked requests answered 503 by the loop's own deadline.")                                  \
    X(client_gone, "client_gone_total", "Parked requests whose client left before the answer.")

/* One loop's counters. Thread: written by its loop; read by any thread. */
typedef struct api_metrics {
    metrics_counter_t responses[API_ROUTE_COUNT][API_STATUS_COUNT];
    metrics_histogram_t publish_latency; /* enqueue to confirmation, as the loop sees it */
#define API_COUNTER_FIELD(field, name, help) metrics_counter_t field;
    API_COUNTER_LIST(API_COUNTER_FIELD)
#undef API_COUNTER_FIELD
    metrics_gauge_t parked; /* requests waiting for their publish confirmation */
} api_metrics_t;

/* Zeroes m and sets the latency buckets (1 ms to 10 s). Thread: the owner, before sharing. */
void api_metrics_init(api_metrics_t *m);

/* Counts one response of route with an HTTP status; statuses outside API_STATUS_LIST are not
 * counted. Thread: the owning loop. */
void api_metrics_count(api_metrics_t *m, enum api_route route, int status);

/* Returns the responses of route with status counted in m. Thread: any. */
uint64_t api_metrics_responses(const api_metrics_t *m, enum api_route route, int status);

/* Adds every counter, gauge and histogram of src into dst (initialised with api_metrics_init).
 * Thread: any; dst belongs to the caller. */
void api_metrics_merge(api_metrics_t *dst, const api_metrics_t *src);

/* Renders the families of m (usually a merge of every loop) in the Prometheus text format:
 * activity_api_http_responses_total, activity_api_publish_latency_seconds,
 * activity_api_rate_limited_total, the counters of API_COUNTER_LIST and
 * activity_api_parked_requests. Thread: any. */
void api_metrics_render(const api_metrics_t *m, metrics_buf_t *b);

#endif
