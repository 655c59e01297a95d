/* SPDX-License-Identifier: MIT */
#include "api/route_ops.h"

#include <stdio.h>
#include <string.h>

#include "api/problem.h"
#include "api/server.h"

static const int status_codes[API_STATUS_COUNT] = {
#define API_STATUS_CODE(code) code,
    API_STATUS_LIST(API_STATUS_CODE)
#undef API_STATUS_CODE
};

static const char *const route_names[API_ROUTE_COUNT] = {
    [API_ROUTE_ACTIVITIES] = "/api/v1/activities",
    [API_ROUTE_HEALTH] = "/health",
    [API_ROUTE_READY] = "/ready",
    [API_ROUTE_METRICS] = "/metrics",
    [API_ROUTE_OTHER] = "other",
};

/* Latency buckets from 1 ms to 10 s: confirmations normally take a few milliseconds. */
static const uint64_t latency_bounds_us[] = {1000,    2500,    5000,    10000,  25000,
                                             50000,   100000,  250000,  500000, 1000000,
                                             2500000, 5000000, 10000000};

void api_metrics_init(api_metrics_t *m)
{
    memset(m, 0, sizeof(*m));
    metrics_histogram_init(&m->publish_latency, latency_bounds_us,
                           sizeof(latency_bounds_us) / sizeof(latency_bounds_us[0]));
}

void api_metrics_count(api_metrics_t *m, enum api_route route, int status)
{
    for (int i = 0; i < API_STATUS_COUNT; i++) {
        if (status_codes[i] == status) {
            metrics_counter_add(&m->responses[route][i], 1);
            return;
        }
    }
}

static const char *amqp_state_name(pub_state_t st)
{
    switch (st) {
    case PUB_STATE_UP:
        return "connected";
    case PUB_STATE_CONNECTING:
        return "connecting";
    default:
        return "down";
    }
}

static bool is_ready(const server_shared_t *sh)
{
    const publisher_stats_t *st = publisher_stats(sh->publisher);
    return !atomic_load(&sh->draining) && publisher_state_get(sh->publisher) == PUB_STATE_UP &&
           !atomic_load_explicit(&st->blocked, memory_order_relaxed);
}

static void on_health(h2o_req_t *req, server_loop_t *loop)
{
    server_shared_t *sh = loop->shared;
    char body[256];
    int64_t now = timesrc_mono_ms(&sh->clock);
    int n = snprintf(
        body, sizeof(body),
        "{\"status\":\"ok\",\"amqp\":\"%s\",\"ready\":%s,\"draining\":%s,"
        "\"uptime_s\":%lld,\"ring_depth\":%zu,\"inflight\":%u}",
        amqp_state_name(publisher_state_get(sh->publisher)), is_ready(sh) ? "true" : "false",
        atomic_load(&sh->draining) ? "true" : "false", (long long)((now - sh->started_ms) / 1000),
        ring_mpsc_size_approx(sh->jobs),
        atomic_load_explicit(&publisher_stats(sh->publisher)->inflight, memory_order_relaxed));
    api_metrics_count(&loop->metrics, API_ROUTE_HEALTH, 200);
    server_send(req, 200, "OK", "application/json", body, (size_t)n);
}

static void on_ready(h2o_req_t *req, server_loop_t *loop)
{
    server_shared_t *sh = loop->shared;
    if (is_ready(sh)) {
        api_metrics_count(&loop->metrics, API_ROUTE_READY, 200);
        server_send(req, 200, "OK", "application/json", H2O_STRLIT("{\"status\":\"ready\"}"));
        return;
    }
    const char *why = atomic_load(&sh->draining) ? "the service is shutting down"
                                                 : "the message broker is not connected";
    problem_t p = {.status = 503, .type = "not-ready", .title = "Not Ready", .detail = why};
    api_metrics_count(&loop->metrics, API_ROUTE_READY, 503);
    server_send_problem(req, &p, "Service Unavailable", 1);
}

static uint64_t sum_counter(server_t *s, size_t offset)
{
    uint64_t total = 0;
    for (uint32_t i = 0; i < server_loop_count(s); i++) {
        const metrics_counter_t *c =
            (const metrics_counter_t *)((const char *)&server_loop_at(s, i)->metrics + offset);
        total += metrics_counter_get(c);
    }
    return total;
}

#define SUM(s, field) sum_counter((s), offsetof(api_metrics_t, field))

static void render_u64(metrics_buf_t *b, const char *name, const char *type, const char *help,
                       uint64_t v)
{
    metrics_render_family(b, name, type, help);
    metrics_render_u64(b, name, NULL, v);
}

static void render_publisher(metrics_buf_t *b, const server_shared_t *sh)
{
    const publisher_stats_t *st = publisher_stats(sh->publisher);
    metrics_render_family(b, "activity_api_publish_results_total", "counter",
                          "Publish outcomes by result.");
    struct {
        const char *label;
        const _Atomic uint64_t *v;
    } results[] = {
        {"result=\"confirmed\"", &st->confirmed},     {"result=\"nacked\"", &st->nacked},
        {"result=\"returned\"", &st->returned},       {"result=\"timeout\"", &st->timed_out},
        {"result=\"unavailable\"", &st->unavailable},
    };
    for (size_t i = 0; i < sizeof(results) / sizeof(results[0]); i++)
        metrics_render_u64(b, "activity_api_publish_results_total", results[i].label,
                           atomic_load_explicit(results[i].v, memory_order_relaxed));
    render_u64(b, "activity_api_published_total", "counter", "Messages written to the broker.",
               atomic_load_explicit(&st->published, memory_order_relaxed));
    render_u64(b, "activity_api_publish_inflight", "gauge",
               "Published messages awaiting confirmation.",
               atomic_load_explicit(&st->inflight, memory_order_relaxed));
    render_u64(b, "activity_api_amqp_connected", "gauge", "1 when the broker connection is up.",
               publisher_state_get(sh->publisher) == PUB_STATE_UP);
    render_u64(b, "activity_api_amqp_blocked", "gauge",
               "1 while the broker blocks publishing (resource alarm).",
               (uint64_t)atomic_load_explicit(&st->blocked, memory_order_relaxed));
    render_u64(b, "activity_api_amqp_connects_total", "counter", "Successful broker connections.",
               atomic_load_explicit(&st->connects, memory_order_relaxed));
    render_u64(b, "activity_api_amqp_connection_losses_total", "counter",
               "Broker connections lost.",
               atomic_load_explicit(&st->connection_losses, memory_order_relaxed));
}

static void render_metrics(metrics_buf_t *b, server_loop_t *loop)
{
    server_t *s = loop->server;
    server_shared_t *sh = loop->shared;

    metrics_render_family(b, "activity_api_http_responses_total", "counter",
                          "HTTP responses by route and status.");
    for (int r = 0; r < API_ROUTE_COUNT; r++) {
        for (int c = 0; c < API_STATUS_COUNT; c++) {
            uint64_t v = sum_counter(s, offsetof(api_metrics_t, responses) +
                                            ((size_t)r * API_STATUS_COUNT + (size_t)c) *
                                                sizeof(metrics_counter_t));
            if (v == 0)
                continue;
            char labels[96];
            snprintf(labels, sizeof(labels), "route=\"%s\",status=\"%d\"", route_names[r],
                     status_codes[c]);
            metrics_render_u64(b, "activity_api_http_responses_total", labels, v);
        }
    }

    /* Histograms are summed bucket by bucket into a scratch copy. */
    metrics_histogram_t lat;
    metrics_histogram_init(&lat, latency_bounds_us,
                           sizeof(latency_bounds_us) / sizeof(latency_bounds_us[0]));
    for (uint32_t i = 0; i < server_loop_count(s); i++) {
        const metrics_histogram_t *h = &server_loop_at(s, i)->metrics.publish_latency;
        for (uint32_t k = 0; k <= h->nbuckets; k++)
            atomic_fetch_add_explicit(&lat.counts[k],
                                      atomic_load_explicit(&h->counts[k], memory_order_relaxed),
                                      memory_order_relaxed);
        atomic_fetch_add_explicit(&lat.sum_us,
                                  atomic_load_explicit(&h->sum_us, memory_order_relaxed),
                                  memory_order_relaxed);
        atomic_fetch_add_explicit(&lat.count, atomic_load_explicit(&h->count, memory_order_relaxed),
                                  memory_order_relaxed);
    }
    metrics_render_family(b, "activity_api_publish_latency_seconds", "histogram",
                          "Time from enqueue to broker confirmation.");
    metrics_render_histogram(b, "activity_api_publish_latency_seconds", NULL, &lat);

    render_publisher(b, sh);
    render_u64(b, "activity_api_publish_ring_depth", "gauge", "Jobs waiting for the AMQP thread.",
               ring_mpsc_size_approx(sh->jobs));
    render_u64(b, "activity_api_publish_ring_capacity", "gauge", "Capacity of the publish ring.",
               ring_mpsc_capacity(sh->jobs));
    render_u64(
        b, "activity_api_rate_limited_total", "counter", "Requests answered 429.",
        sum_counter(s, offsetof(api_metrics_t, responses) +
                           ((size_t)API_ROUTE_ACTIVITIES * API_STATUS_COUNT + API_STATUS_429) *
                               sizeof(metrics_counter_t)));
    render_u64(b, "activity_api_rate_limited_at_capacity_total", "counter",
               "Requests answered 429 because the table of clients was full.",
               SUM(s, rate_limited_at_capacity));
    render_u64(b, "activity_api_ratelimit_tracked_clients", "gauge",
               "Client addresses currently tracked by the rate limiter.",
               ratelimit_tracked(sh->ratelimit));
    render_u64(b, "activity_api_ratelimit_max_clients", "gauge",
               "Most client addresses the rate limiter tracks (RATE_LIMIT_MAX_CLIENTS).",
               sh->cfg->rate_limit_max_clients);
    render_u64(b, "activity_api_ratelimit_bytes_per_client", "gauge",
               "Bytes the rate limiter reserves per tracked client.",
               ratelimit_bytes_per_client(sh->ratelimit));
    render_u64(b, "activity_api_ring_full_total", "counter",
               "Requests answered 503 because the publish ring was full.", SUM(s, ring_full));
    render_u64(b, "activity_api_pending_full_total", "counter",
               "Requests answered 503 because the loop's table of parked requests was full.",
               SUM(s, pending_full));
    render_u64(b, "activity_api_deadline_expired_total", "counter",
               "Parked requests answered 503 by the loop's own deadline.",
               SUM(s, deadline_expired));
    render_u64(b, "activity_api_client_gone_total", "counter",
               "Parked requests whose client left before the answer.", SUM(s, client_gone));
    int64_t parked = 0;
    for (uint32_t i = 0; i < server_loop_count(s); i++)
        parked += metrics_gauge_get(&server_loop_at(s, i)->metrics.parked);
    metrics_render_family(b, "activity_api_parked_requests", "gauge",
                          "Requests waiting for their publish confirmation.");
    metrics_render_i64(b, "activity_api_parked_requests", NULL, parked);
    render_u64(b, "activity_api_uptime_seconds", "gauge", "Seconds since start.",
               (uint64_t)((timesrc_mono_ms(&sh->clock) - sh->started_ms) / 1000));
}

static void on_metrics(h2o_req_t *req, server_loop_t *loop)
{
    char *data = h2o_mem_alloc_pool(&req->pool, 32768);
    metrics_buf_t b;
    metrics_buf_init(&b, data, 32768);
    render_metrics(&b, loop);
    api_metrics_count(&loop->metrics, API_ROUTE_METRICS, 200);
    server_send(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", b.data, b.len);
}

int route_ops_on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    server_loop_t *loop = server_loop_of(req);
    static const struct {
        const char *path;
        size_t len;
        enum api_route route;
        void (*fn)(h2o_req_t *, server_loop_t *);
    } routes[] = {
        {H2O_STRLIT("/health"), API_ROUTE_HEALTH, on_health},
        {H2O_STRLIT("/ready"), API_ROUTE_READY, on_ready},
        {H2O_STRLIT("/metrics"), API_ROUTE_METRICS, on_metrics},
    };
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (!h2o_memis(req->path_normalized.base, req->path_normalized.len, routes[i].path,
                       routes[i].len))
            continue;
        if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) &&
            !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
            problem_t p = {.status = 405,
                           .type = "method-not-allowed",
                           .title = "Method Not Allowed",
                           .detail = "this path accepts GET and HEAD only"};
            h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL,
                           H2O_STRLIT("GET, HEAD"));
            api_metrics_count(&loop->metrics, routes[i].route, 405);
            server_send_problem(req, &p, "Method Not Allowed", 0);
            return 0;
        }
        routes[i].fn(req, loop);
        return 0;
    }
    problem_t p = {.status = 404,
                   .type = "not-found",
                   .title = "Not Found",
                   .detail = "no such resource; events are posted to /api/v1/activities"};
    api_metrics_count(&loop->metrics, API_ROUTE_OTHER, 404);
    server_send_problem(req, &p, "Not Found", 0);
    return 0;
}
