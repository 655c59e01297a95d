/* SPDX-License-Identifier: MIT */
/*
 * What every POST of events goes through, single or batch (DESIGN §2, §2a, §3): the admission
 * checks before the body is read (API key, rate limit with its headers, media type, content
 * coding and size), then, once the route has validated the events, their publication: ids
 * assigned, each event encoded and handed to the amqp thread as its own job, all under one
 * parked request whose answer (202 after the last confirm, 503 at the first failure) is written
 * here too.
 * Thread: loop (ctx of the park hooks is the app_t).
 */
#ifndef AT_API_INGEST_H
#define AT_API_INGEST_H

#include <stdbool.h>
#include <stddef.h>

#include "api/api_metrics.h"
#include "api/park.h"
#include "api/problem.h"
#include "api/server.h"
#include "common/activity.h"

struct app;

/* The body a route validates: borrowed from the request, or inflated into memory that lives on
 * the request's pool. */
typedef struct ingest_body {
    const char *base;
    size_t len;
} ingest_body_t;

/* Runs the admission checks of a POST to route: API key (401), rate limit (429; the
 * RateLimit headers go on every answer), media type (415), content coding (415 for an unknown
 * one, 400 for corrupt data) and size against limit bytes after inflation (413). Returns true
 * with *body set when the route may go on; otherwise the request has been answered. */
bool ingest_admit(const struct app *app, server_loop_t *loop, h2o_req_t *req, enum api_route route,
                  size_t limit, ingest_body_t *body);

/* Answers 400 with the validation report (its total says how many errors there were). */
void ingest_reject(h2o_req_t *req, enum api_route route, const validate_report_t *rep,
                   const char *title);

/* Publishes events[0..n) (borrowed; ids assigned where missing, receivedAt set) as n jobs under
 * one parked request; batch chooses the answer's shape ({"id"} or {"ids":[...]}). The request
 * is answered now (503) when it cannot be parked or the ring fills — the jobs pushed before
 * that are published and may be stored — or later by ingest_on_done / ingest_on_expire. */
void ingest_publish(const struct app *app, server_loop_t *loop, h2o_req_t *req,
                    enum api_route route, activity_t *events, size_t n, bool batch);

/* park_entry_t hooks of the requests ingest_publish parks (the route table's on_done and
 * on_expire). */
void ingest_on_done(void *app, park_entry_t *e, const park_done_t *done);
void ingest_on_expire(void *app, park_entry_t *e);

/* Answers a problem for route, counting it in the loop's metrics. */
void ingest_problem(h2o_req_t *req, enum api_route route, const problem_t *p, const char *reason,
                    uint32_t retry_after_s);

#endif
