/* SPDX-License-Identifier: MIT */
/*
 * DESIGN. POST /api/v1/activities runs entirely on its loop thread until the event is encoded:
 * rate limit (before anything else, so invalid requests count too), media type, validation,
 * id assignment, encoding. The encoded message then travels by value through the MPSC ring to
 * the amqp thread, and the request is parked (server.h): exactly one of its completion (202 or
 * 503), its deadline (503), or the client leaving (no answer) ends the wait.
 */
#include "api/route_activities.h"

#include <string.h>

#include "api/app.h"
#include "api/respond.h"
#include "api/problem.h"
#include "common/activity.h"
#include "common/validate.h"

/* A parked POST. Thread: its loop. */
typedef struct parked {
    park_entry_t base; /* first: the park's view */
    char id[IDGEN_STR_LEN + 1];
} parked_t;

static void new_id(server_loop_t *loop, int64_t now_ms, char *out)
{
    /* UUIDv7's random bits need uniqueness, not secrecy: the loop's fast generator will do. */
    uint8_t rand[16], id[16];
    uint64_t a = server_loop_random(loop), b = server_loop_random(loop);
    memcpy(rand, &a, 8);
    memcpy(rand + 8, &b, 8);
    idgen_v7(now_ms, rand, id);
    idgen_format(id, out);
}

static void add_ratelimit_headers(h2o_req_t *req, const app_t *app, const ratelimit_verdict_t *v)
{
    char value[48];
    size_t n = problem_ratelimit_value(v->remaining, v->reset_s, value, sizeof(value));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("ratelimit-policy"), 0, NULL,
                          app->ratelimit_policy, strlen(app->ratelimit_policy));
    h2o_iovec_t dup = h2o_strdup(&req->pool, value, n);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("ratelimit"), 0, NULL, dup.base,
                          dup.len);
}

static void reply(h2o_req_t *req, const problem_t *p, const char *reason, uint32_t retry_after_s)
{
    api_metrics_count(server_loop_metrics(server_loop_of(req)), API_ROUTE_ACTIVITIES, p->status);
    respond_problem(req, p, reason, retry_after_s);
}

/* The client key: the peer, or the X-Forwarded-For client when the peer is a trusted proxy. */
static void client_key(h2o_req_t *req, const app_t *app, client_addr_t *out)
{
    struct sockaddr_storage ss;
    socklen_t sl = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    client_addr_t peer = {.len = 0};
    if (sl == 0 || client_addr_from_sockaddr((struct sockaddr *)&ss, sl, &peer) < 0) {
        /* No usable peer address (unix socket, say): all such requests share one key. */
        *out = (client_addr_t){.len = 4};
        return;
    }
    if (!client_cidrs_contains(app->trusted, &peer)) {
        *out = peer;
        return;
    }
    /* Join every X-Forwarded-For line, in order, as one list. */
    char xff[1024];
    size_t len = 0;
    for (ssize_t i = -1;
         (i = h2o_find_header(&req->headers, H2O_TOKEN_X_FORWARDED_FOR, i)) != -1;) {
        const h2o_iovec_t *v = &req->headers.entries[i].value;
        if (len + v->len + 2 > sizeof(xff))
            break;
        if (len > 0) {
            memcpy(xff + len, ", ", 2);
            len += 2;
        }
        memcpy(xff + len, v->base, v->len);
        len += v->len;
    }
    client_addr_resolve(&peer, len > 0 ? xff : NULL, len, app->trusted, out);
}

static bool is_json_media_type(h2o_req_t *req)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    if (i == -1)
        return false;
    const h2o_iovec_t *v = &req->headers.entries[i].value;
    size_t n = v->len;
    const char *semi = memchr(v->base, ';', n);
    if (semi != NULL)
        n = (size_t)(semi - v->base);
    while (n > 0 && (v->base[n - 1] == ' ' || v->base[n - 1] == '\t'))
        n--;
    return h2o_lcstris(v->base, n, H2O_STRLIT("application/json"));
}

static void answer_unavailable(h2o_req_t *req, const char *id, const char *detail)
{
    problem_t p = {.status = 503,
                   .type = "unavailable",
                   .title = "Service Unavailable",
                   .detail = detail,
                   .id = id};
    reply(req, &p, "Service Unavailable", 1);
}

/* Answers a request that is no longer parked with the publisher's outcome. */
static void answer(parked_t *pk, pub_status_t status)
{
    h2o_req_t *req = pk->base.req;
    switch (status) {
    case PUB_CONFIRMED: {
        char body[80];
        int n = snprintf(body, sizeof(body), "{\"id\":\"%s\",\"status\":\"accepted\"}", pk->id);
        api_metrics_count(server_loop_metrics(server_loop_of(req)), API_ROUTE_ACTIVITIES, 202);
        respond_send(req, 202, "Accepted", "application/json", body, (size_t)n);
        return;
    }
    case PUB_TIMEOUT:
        answer_unavailable(req, pk->id,
                           "the message broker did not confirm the event in time; retry with "
                           "the same id");
        return;
    case PUB_REFUSED:
        answer_unavailable(req, pk->id,
                           "the message broker refused the event; retry with the same id");
        return;
    default:
        answer_unavailable(req, pk->id,
                           "the message broker is unavailable; retry with the same id");
        return;
    }
}

void route_activities_on_done(void *app, park_entry_t *e, const park_done_t *done)
{
    const app_t *a = app;
    int64_t now = timesrc_mono_ms(&a->clock);
    if (done->status == PUB_CONFIRMED && now >= done->enqueued_ms)
        metrics_histogram_observe_us(&server_loop_metrics(server_loop_of(e->req))->publish_latency,
                                     (uint64_t)(now - done->enqueued_ms) * 1000);
    park_remove(e);
    answer((parked_t *)e, (pub_status_t)done->status);
}

void route_activities_on_expire(void *app, park_entry_t *e)
{
    (void)app;
    answer((parked_t *)e, PUB_TIMEOUT);
}

/* Parks req and hands its message to the amqp thread. Takes ownership of body. */
static void park(const app_t *app, server_loop_t *loop, h2o_req_t *req, const activity_t *a,
                 char *body, size_t len)
{
    parked_t *pk = server_park_alloc(req, sizeof(*pk));
    memcpy(pk->id, a->id, sizeof(pk->id));
    if (park_add(&pk->base) < 0) {
        free(body);
        answer_unavailable(req, a->id, "too many requests are waiting for the broker");
        return;
    }
    pub_job_t job = {.ticket = pk->base.ticket,
                     .loop = server_loop_index(loop),
                     .len = (uint32_t)len,
                     .body = body,
                     .received_ms = a->received_ms,
                     .enqueued_ms = timesrc_mono_ms(&app->clock)};
    memcpy(job.id, a->id, sizeof(job.id));
    if (ring_mpsc_try_push(app->jobs, &job) < 0) {
        park_remove(&pk->base);
        free(body);
        metrics_counter_add(&server_loop_metrics(loop)->ring_full, 1);
        answer_unavailable(req, a->id,
                           "the service is saturated (publish queue full); retry later");
        return;
    }
    server_loop_note_push(loop);
}

static void accept_event(const app_t *app, server_loop_t *loop, h2o_req_t *req)
{
    const char *body = req->entity.base != NULL ? req->entity.base : "";
    activity_t a;
    validate_report_t rep;
    if (validate_request(body, req->entity.len, &a, &rep) < 0) {
        char detail[64];
        snprintf(detail, sizeof(detail), "%u invalid field%s", rep.total,
                 rep.total == 1 ? "" : "s");
        problem_t p = {.status = 400,
                       .type = "invalid-event",
                       .title = "Invalid event",
                       .detail = detail,
                       .report = &rep};
        reply(req, &p, "Bad Request", 0);
        return;
    }
    a.received_ms = timesrc_wall_ms(&app->clock);
    if (a.id[0] == '\0')
        new_id(loop, a.received_ms, a.id);
    char *msg;
    size_t len;
    int rc = activity_encode(&a, &msg, &len);
    if (rc < 0) {
        activity_deinit(&a);
        answer_unavailable(req, NULL, "the event could not be encoded");
        return;
    }
    park(app, loop, req, &a, msg, len);
    activity_deinit(&a);
}

void route_activities_on_req(void *ctx, server_loop_t *loop, h2o_req_t *req)
{
    const app_t *app = ctx;
    client_addr_t key;
    client_key(req, app, &key);
    ratelimit_verdict_t v;
    ratelimit_check(app->ratelimit, key.bytes, key.len, &v);
    add_ratelimit_headers(req, app, &v);
    if (!v.allowed) {
        if (v.at_capacity)
            metrics_counter_add(&server_loop_metrics(loop)->rate_limited_at_capacity, 1);
        problem_t p = {.status = 429,
                       .type = "rate-limited",
                       .title = "Too Many Requests",
                       .detail = v.at_capacity
                                     ? "the service is tracking as many clients as it can; "
                                       "retry after the indicated delay"
                                     : "rate limit exceeded; retry after the indicated delay"};
        reply(req, &p, "Too Many Requests", v.retry_after_s);
        return;
    }
    if (!is_json_media_type(req)) {
        problem_t p = {.status = 415,
                       .type = "unsupported-media-type",
                       .title = "Unsupported Media Type",
                       .detail = "the body must be sent as Content-Type: application/json"};
        reply(req, &p, "Unsupported Media Type", 0);
        return;
    }
    accept_event(app, loop, req);
}
