/* SPDX-License-Identifier: MIT */
#include "api/route_activities.h"

#include "api/app.h"
#include "api/ingest.h"
#include "common/validate.h"
#include "common/validate_batch.h"

void route_activities_on_req(void *ctx, server_loop_t *loop, h2o_req_t *req)
{
    const app_t *app = ctx;
    ingest_body_t body;
    if (!ingest_admit(app, loop, req, API_ROUTE_ACTIVITIES, app->cfg->max_body_bytes, &body))
        return;
    activity_t a;
    validate_report_t rep;
    if (validate_request(body.base, body.len, &a, &rep) < 0) {
        ingest_reject(req, API_ROUTE_ACTIVITIES, &rep, "Invalid event");
        return;
    }
    ingest_publish(app, loop, req, API_ROUTE_ACTIVITIES, &a, 1, false);
    activity_deinit(&a);
}

void route_activities_batch_on_req(void *ctx, server_loop_t *loop, h2o_req_t *req)
{
    const app_t *app = ctx;
    ingest_body_t body;
    if (!ingest_admit(app, loop, req, API_ROUTE_BATCH, app->cfg->batch_max_body_bytes, &body))
        return;
    validate_batch_out_t out;
    validate_report_t rep;
    if (validate_batch(body.base, body.len, app->cfg->batch_max_events, &out, &rep) < 0) {
        ingest_reject(req, API_ROUTE_BATCH, &rep, "Invalid batch");
        return;
    }
    ingest_publish(app, loop, req, API_ROUTE_BATCH, out.events, out.count, true);
    validate_batch_free(&out);
}
