/* SPDX-License-Identifier: MIT */
/*
 * POST /api/v1/activities (one event, DESIGN §2) and POST /api/v1/activities/batch (up to
 * BATCH_MAX_EVENTS, DESIGN §2a): admission (ingest.h), validation of the whole body, then
 * publication of its events under one parked request. A batch is all or nothing: one invalid
 * event answers 400 naming it and nothing is published.
 * Thread: loop (the route table's on_req; ctx is the app_t). Their on_done and on_expire are
 * ingest_on_done and ingest_on_expire.
 */
#ifndef AT_API_ROUTE_ACTIVITIES_H
#define AT_API_ROUTE_ACTIVITIES_H

#include "api/server.h"

/* server_route_t.on_req of POST /api/v1/activities. */
void route_activities_on_req(void *app, server_loop_t *loop, h2o_req_t *req);

/* server_route_t.on_req of POST /api/v1/activities/batch. */
void route_activities_batch_on_req(void *app, server_loop_t *loop, h2o_req_t *req);

#endif
