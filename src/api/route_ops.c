/* SPDX-License-Identifier: MIT */
#include "api/route_ops.h"

#include <stdio.h>
#include <string.h>

#include "api/app.h"
#include "api/respond.h"
#define LOG_MODULE "route_ops"
#include "common/log.h"

#define METRICS_BUF_MAX 32768

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

/* Writes the address of the broker of the publisher's last connection ("host:port"). */
static void broker_addr(const app_t *app, char *out, size_t n)
{
    unsigned b =
        atomic_load_explicit(&publisher_stats(app->publisher)->broker, memory_order_relaxed);
    brokerurl_format_addr(&app->brokers->urls[b < app->brokers->count ? b : 0], out, n);
}

static bool is_ready(const app_t *app)
{
    const publisher_stats_t *st = publisher_stats(app->publisher);
    return !atomic_load(&app->draining) && publisher_state_get(app->publisher) == PUB_STATE_UP &&
           !atomic_load_explicit(&st->blocked, memory_order_relaxed);
}

void route_ops_health(void *ctx, server_loop_t *loop, h2o_req_t *req)
{
    const app_t *app = ctx;
    char body[768], addr[BROKERURL_PART_MAX + 16], esc[sizeof(addr) * 6];
    broker_addr(app, addr, sizeof(addr));
    log_json_escape(esc, sizeof(esc), addr, strlen(addr));
    int64_t now = timesrc_mono_ms(&app->clock);
    int n = snprintf(
        body, sizeof(body),
        "{\"status\":\"ok\",\"amqp\":\"%s\",\"broker\":\"%s\",\"ready\":%s,\"draining\":%s,"
        "\"uptime_s\":%lld,\"ring_depth\":%zu,\"inflight\":%u}",
        amqp_state_name(publisher_state_get(app->publisher)), esc, is_ready(app) ? "true" : "false",
        atomic_load(&app->draining) ? "true" : "false", (long long)((now - app->started_ms) / 1000),
        ring_mpsc_size_approx(app->jobs),
        atomic_load_explicit(&publisher_stats(app->publisher)->inflight, memory_order_relaxed));
    api_metrics_count(server_loop_metrics(loop), API_ROUTE_HEALTH, 200);
    respond_send(req, 200, "OK", "application/json", body, (size_t)n);
}

void route_ops_ready(void *ctx, server_loop_t *loop, h2o_req_t *req)
{
    const app_t *app = ctx;
    if (is_ready(app)) {
        char body[640], addr[BROKERURL_PART_MAX + 16], esc[sizeof(addr) * 2];
        broker_addr(app, addr, sizeof(addr));
        log_json_escape(esc, sizeof(esc), addr, strlen(addr));
        int n = snprintf(body, sizeof(body), "{\"status\":\"ready\",\"broker\":\"%s\"}", esc);
        api_metrics_count(server_loop_metrics(loop), API_ROUTE_READY, 200);
        respond_send(req, 200, "OK", "application/json", body, (size_t)n);
        return;
    }
    const char *why = atomic_load(&app->draining) ? "the service is shutting down"
                                                  : "the message broker is not connected";
    problem_t p = {.status = 503, .type = "not-ready", .title = "Not Ready", .detail = why};
    api_metrics_count(server_loop_metrics(loop), API_ROUTE_READY, 503);
    respond_problem(req, &p, "Service Unavailable", 1);
}

static uint64_t relaxed(const _Atomic uint64_t *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

static void render_publisher(metrics_buf_t *b, const app_t *app)
{
    const publisher_stats_t *st = publisher_stats(app->publisher);
    const char *results = "activity_api_publish_results_total";
    metrics_render_family(b, results, "counter",
                          "Publish outcomes, one per message: confirmed, nacked, returned "
                          "(unroutable), timeout, unavailable.");
    metrics_render_u64(b, results, "result=\"confirmed\"", relaxed(&st->confirmed));
    metrics_render_u64(b, results, "result=\"nacked\"", relaxed(&st->nacked));
    metrics_render_u64(b, results, "result=\"returned\"", relaxed(&st->returned));
    metrics_render_u64(b, results, "result=\"timeout\"", relaxed(&st->timed_out));
    metrics_render_u64(b, results, "result=\"unavailable\"", relaxed(&st->unavailable));
    metrics_render_one_u64(b, "activity_api_published_total", "counter",
                           "Messages written to the broker.", relaxed(&st->published));
    metrics_render_one_u64(b, "activity_api_publish_inflight", "gauge",
                           "Published messages awaiting confirmation.",
                           atomic_load_explicit(&st->inflight, memory_order_relaxed));
    metrics_render_one_u64(b, "activity_api_amqp_connected", "gauge",
                           "1 when the broker connection is up.",
                           publisher_state_get(app->publisher) == PUB_STATE_UP);
    metrics_render_one_u64(b, "activity_api_amqp_blocked", "gauge",
                           "1 while the broker blocks publishing (resource alarm).",
                           (uint64_t)atomic_load_explicit(&st->blocked, memory_order_relaxed));
    metrics_render_one_u64(b, "activity_api_amqp_connects_total", "counter",
                           "Successful broker connections.", relaxed(&st->connects));
    metrics_render_one_u64(
        b, "activity_api_republished_total", "counter",
        "Messages published again on a new connection: the last one was lost with them "
        "unconfirmed, or the broker nacked them.",
        relaxed(&st->republished));
    metrics_render_one_u64(b, "activity_api_publish_resending", "gauge",
                           "Unconfirmed messages waiting for the next broker connection.",
                           atomic_load_explicit(&st->resending, memory_order_relaxed));
    /* Which broker of RABBITMQ_URL the last connection went to: one series, value 1. */
    char addr[BROKERURL_PART_MAX + 16], labels[sizeof(addr) * 2 + 32];
    broker_addr(app, addr, sizeof(addr));
    snprintf(labels, sizeof(labels), "broker=\"%s\",index=\"%u\"", addr,
             atomic_load_explicit(&st->broker, memory_order_relaxed));
    metrics_render_family(b, "activity_api_amqp_broker_info", "gauge",
                          "The broker of the last connection (RABBITMQ_URL's index).");
    metrics_render_u64(b, "activity_api_amqp_broker_info", labels, 1);
    metrics_render_one_u64(b, "activity_api_amqp_connection_losses_total", "counter",
                           "Broker connections lost.", relaxed(&st->connection_losses));
    metrics_render_one_u64(
        b, "activity_api_amqp_refusal_reconnects_total", "counter",
        "Broker connections dropped and made again because the broker nacked messages.",
        relaxed(&st->refusal_reconnects));
}

static void render_metrics(metrics_buf_t *b, const app_t *app)
{
    api_metrics_t sum;
    api_metrics_init(&sum);
    server_metrics_merge(app->server, &sum);
    api_metrics_render(&sum, b);
    render_publisher(b, app);
    metrics_render_one_u64(b, "activity_api_publish_ring_depth", "gauge",
                           "Jobs waiting for the AMQP thread.", ring_mpsc_size_approx(app->jobs));
    metrics_render_one_u64(b, "activity_api_publish_ring_capacity", "gauge",
                           "Capacity of the publish ring.", ring_mpsc_capacity(app->jobs));
    metrics_render_one_u64(b, "activity_api_ratelimit_tracked_clients", "gauge",
                           "Client addresses currently tracked by the rate limiter.",
                           ratelimit_tracked(app->ratelimit));
    metrics_render_one_u64(
        b, "activity_api_ratelimit_max_clients", "gauge",
        "Most client addresses the rate limiter tracks (RATE_LIMIT_MAX_CLIENTS).",
        app->cfg->rate_limit_max_clients);
    metrics_render_one_u64(b, "activity_api_ratelimit_bytes_per_client", "gauge",
                           "Bytes the rate limiter reserves per tracked client.",
                           ratelimit_bytes_per_client(app->ratelimit));
    metrics_render_one_u64(b, "activity_api_uptime_seconds", "gauge", "Seconds since start.",
                           (uint64_t)((timesrc_mono_ms(&app->clock) - app->started_ms) / 1000));
}

void route_ops_metrics(void *ctx, server_loop_t *loop, h2o_req_t *req)
{
    char *data = h2o_mem_alloc_pool(&req->pool, METRICS_BUF_MAX);
    metrics_buf_t b;
    metrics_buf_init(&b, data, METRICS_BUF_MAX);
    render_metrics(&b, ctx);
    /* A cut text would be read as counters that went backwards: never serve one. */
    ASSERT(!b.truncated);
    api_metrics_count(server_loop_metrics(loop), API_ROUTE_METRICS, 200);
    respond_send(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", b.data, b.len);
}
