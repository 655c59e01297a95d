/* SPDX-License-Identifier: MIT */
/*
 * The operational routes (DESIGN §2): GET /health (liveness, with the broker state), GET /ready
 * (200 only while the broker connection is up and confirms flow, not draining) and GET /metrics
 * (Prometheus text: the loops' counters merged, the publisher's statistics, the ring and the
 * rate limiter). None is rate-limited; each answers at once.
 * Thread: loop (the route table's on_req; ctx is the app_t).
 */
#ifndef AT_API_ROUTE_OPS_H
#define AT_API_ROUTE_OPS_H

#include "api/server.h"

/* server_route_t.on_req of GET /health. */
void route_ops_health(void *app, server_loop_t *loop, h2o_req_t *req);

/* server_route_t.on_req of GET /ready. */
void route_ops_ready(void *app, server_loop_t *loop, h2o_req_t *req);

/* server_route_t.on_req of GET /metrics. */
void route_ops_metrics(void *app, server_loop_t *loop, h2o_req_t *req);

#endif
