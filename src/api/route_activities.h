/* SPDX-License-Identifier: MIT */
/*
 * POST /api/v1/activities (DESIGN §2, §3): rate limit, media type, validation, id assignment and
 * encoding on the loop thread; the encoded message goes by value through the job ring to the
 * amqp thread while the request waits parked; its completion answers 202 (or 503).
 * Thread: loop (the route table's functions; ctx is the app_t).
 */
#ifndef AT_API_ROUTE_ACTIVITIES_H
#define AT_API_ROUTE_ACTIVITIES_H

#include "api/server.h"

/* server_route_t.on_req: answers 400/415/429/503 at once, or parks req for its 202. */
void route_activities_on_req(void *app, server_loop_t *loop, h2o_req_t *req);

/* server_route_t.on_done: the publisher's outcome (a pub_status_t) answers the request. */
void route_activities_on_done(void *app, park_entry_t *e, const park_done_t *done);

/* server_route_t.on_expire: answers 503, the broker did not confirm in time. */
void route_activities_on_expire(void *app, park_entry_t *e);

#endif
