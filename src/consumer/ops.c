/* SPDX-License-Identifier: MIT */
/*
 * DESIGN. main sets the loop up (listening socket, uv_loop, h2o_context, handles) before the
 * thread starts; from then on only the ops thread touches it, and it binds itself as owner.
 * Requests are answered at once from atomics (worker_metrics) and the stop flag, so nothing is
 * ever parked. The /metrics text is rendered into a buffer of the loop that starts small and
 * doubles until the whole text fits (up to RENDER_MAX, else 500): a scrape never gets a cut
 * text. Stop: ops_stop wakes the loop with uv_async_send; the loop closes its listener,
 * requests h2o's shutdown (later HTTP/1 responses carry Connection: close) and polls until the
 * connections are gone or OPS_DRAIN_MS passed, then stops. HTTP/1 keep-alive connections are
 * not closed by the shutdown request, so IDLE_TIMEOUT_MS (shorter than the drain) makes h2o
 * close idle ones itself. With no connection left the thread disposes the h2o context
 * (unlinking the HTTP/2 graceful-shutdown timeout that request_shutdown links, else
 * h2o_context_dispose aborts) and closes every handle before it returns; a connection that
 * outlives the drain (a client stalled mid-request) leaves the loop to the process exit
 * instead: its memory is still referenced by h2o, so it is not freed.
 */
#define LOG_MODULE "ops"
#include "consumer/ops.h"

#include <h2o.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "common/listen.h"
#include "common/log.h"
#include "common/owner.h"

#define LISTEN_BACKLOG   64
#define IDLE_TIMEOUT_MS  2000 /* h2o's HTTP/1 idle and header-read timeout; below the drain */
#define DRAIN_TICK_MS    20
#define RENDER_INITIAL   1024
#define RENDER_MAX       (1u << 20)
#define MAX_REQUEST_BODY 4096 /* no route takes a body */

#define TEXT_PLAIN "text/plain; charset=utf-8"
#define PROM_TEXT  "text/plain; version=0.0.4; charset=utf-8"

/* Thread: the parameters and conf are frozen after ops_start; everything else belongs to the
 * ops thread (owner, asserted), except thread and clean, which main reads after the join. */
struct ops {
    ops_params_t p;
    h2o_globalconf_t conf;
    pthread_t thread;
    bool clean; /* the loop closed every handle and disposed the context */
    /* --- ops thread only --- */
    owner_t owner;
    uv_loop_t uv;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    uv_tcp_t listener;
    uv_async_t stop_async;
    uv_timer_t drain_timer;
    uint64_t drain_until; /* uv_now() deadline of the drain; 0 before the stop */
    char *render;         /* /metrics text, grown to fit */
    size_t render_cap;
};

enum route { ROUTE_METRICS, ROUTE_HEALTH, ROUTE_NONE };

static enum route route_of(h2o_iovec_t path)
{
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/metrics")))
        return ROUTE_METRICS;
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/health")))
        return ROUTE_HEALTH;
    return ROUTE_NONE;
}

/* Answers with body[0..len) (copied); HEAD gets the same headers and no body. */
static void respond(h2o_req_t *req, int status, const char *reason, const char *type,
                    const char *body, size_t len)
{
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, type, strlen(type));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-store"));
    req->res.status = status;
    req->res.reason = reason;
    /* Without content_length h2o_send_inline sends chunked (LIBRARY-NOTES §5). */
    req->res.content_length = len;
    bool head = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));
    h2o_send_inline(req, body, head ? 0 : len);
}

/* Renders /metrics whole into o->render, growing it; returns the length or ERR_FULL. */
static int render_metrics(ops_t *o)
{
    for (;;) {
        int n = worker_metrics_render(o->p.metrics, o->render, o->render_cap);
        if (n >= 0 || o->render_cap >= RENDER_MAX)
            return n;
        o->render_cap *= 2;
        o->render = xrealloc(o->render, o->render_cap);
    }
}

static void on_metrics(ops_t *o, h2o_req_t *req)
{
    int n = render_metrics(o);
    if (n < 0) {
        LOG_ERROR("metrics text exceeds %u bytes; answering 500", RENDER_MAX);
        respond(req, 500, "Internal Server Error", TEXT_PLAIN, H2O_STRLIT("metrics too large\n"));
        return;
    }
    respond(req, 200, "OK", PROM_TEXT, o->render, (size_t)n);
}

static void on_health(ops_t *o, h2o_req_t *req)
{
    worker_metrics_health_t h =
        worker_metrics_health(o->p.metrics, o->p.workers, atomic_load(o->p.stopping));
    char body[192];
    int n = worker_metrics_health_format(&h, body, sizeof(body));
    ASSERT(n >= 0);
    if (worker_metrics_health_is_ok(&h))
        respond(req, 200, "OK", "application/json", body, (size_t)n);
    else
        respond(req, 503, "Service Unavailable", "application/json", body, (size_t)n);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    ops_t *o = H2O_STRUCT_FROM_MEMBER(ops_t, ctx, req->conn->ctx);
    ASSERT_OWNER(&o->owner);
    enum route r = route_of(req->path_normalized);
    if (r == ROUTE_NONE) {
        respond(req, 404, "Not Found", TEXT_PLAIN, H2O_STRLIT("not found\n"));
        return 0;
    }
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) &&
        !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL,
                       H2O_STRLIT("GET, HEAD"));
        respond(req, 405, "Method Not Allowed", TEXT_PLAIN, H2O_STRLIT("method not allowed\n"));
        return 0;
    }
    if (r == ROUTE_METRICS)
        on_metrics(o, req);
    else
        on_health(o, req);
    return 0;
}

/* ---- the loop ----------------------------------------------------------------------------- */

static void free_handle_cb(uv_handle_t *h)
{
    free(h);
}

static void on_accept(uv_stream_t *listener, int status)
{
    ops_t *o = H2O_STRUCT_FROM_MEMBER(ops_t, listener, (uv_tcp_t *)listener);
    ASSERT_OWNER(&o->owner);
    if (status < 0)
        return;
    uv_tcp_t *conn = xcalloc(1, sizeof(*conn));
    uv_tcp_init(&o->uv, conn);
    if (uv_accept(listener, (uv_stream_t *)conn) == 0)
        h2o_accept(&o->accept_ctx, h2o_uv_socket_create((uv_stream_t *)conn, free_handle_cb));
    else
        uv_close((uv_handle_t *)conn, free_handle_cb);
}

static bool has_connections(ops_t *o)
{
    return !h2o_linklist_is_empty(&o->ctx.http1._conns) ||
           !h2o_linklist_is_empty(&o->ctx.http2._conns);
}

static void on_drain_tick(uv_timer_t *t)
{
    ops_t *o = H2O_STRUCT_FROM_MEMBER(ops_t, drain_timer, t);
    ASSERT_OWNER(&o->owner);
    if (!has_connections(o) || uv_now(&o->uv) >= o->drain_until)
        uv_stop(&o->uv);
}

static void on_stop(uv_async_t *a)
{
    ops_t *o = H2O_STRUCT_FROM_MEMBER(ops_t, stop_async, a);
    ASSERT_OWNER(&o->owner);
    if (o->drain_until != 0)
        return;
    o->drain_until = uv_now(&o->uv) + OPS_DRAIN_MS;
    uv_close((uv_handle_t *)&o->listener, NULL);
    h2o_context_request_shutdown(&o->ctx);
    uv_timer_start(&o->drain_timer, on_drain_tick, 0, DRAIN_TICK_MS);
}

static void close_cb_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* After the drain: dispose the context and close every handle, on the owner thread. */
static bool teardown(ops_t *o)
{
    if (has_connections(o)) {
        LOG_WARN("connections still open after %d ms; left to the process exit", OPS_DRAIN_MS);
        return false;
    }
    if (h2o_timeout_is_linked(&o->ctx.http2._graceful_shutdown_timeout))
        h2o_timeout_unlink(&o->ctx.http2._graceful_shutdown_timeout);
    h2o_context_dispose(&o->ctx);
    uv_walk(&o->uv, close_cb_walk, NULL);
    uv_run(&o->uv, UV_RUN_DEFAULT); /* runs the close callbacks */
    return uv_loop_close(&o->uv) == 0;
}

static void *ops_main(void *arg)
{
    ops_t *o = arg;
    owner_bind(&o->owner);
    log_set_thread("ops");
    uv_run(&o->uv, UV_RUN_DEFAULT);
    o->clean = teardown(o);
    return NULL;
}

/* ---- start and stop ----------------------------------------------------------------------- */

int ops_start(const ops_params_t *p, ops_t **out, err_t *err)
{
    int fd = listen_tcp(p->host, p->port, LISTEN_BACKLOG, LISTEN_NONBLOCK, "CONSUMER_METRICS_HOST",
                        "CONSUMER_METRICS_PORT", err);
    if (fd < 0)
        return fd;
    ops_t *o = xcalloc(1, sizeof(*o));
    o->p = *p;
    o->p.host = NULL; /* borrowed for this call only */
    o->render_cap = RENDER_INITIAL;
    o->render = xmalloc(o->render_cap);

    h2o_config_init(&o->conf);
    o->conf.server_name = h2o_iovec_init(H2O_STRLIT("activity-consumer"));
    o->conf.max_request_entity_size = MAX_REQUEST_BODY;
    o->conf.http1.upgrade_to_http2 = 0;
    /* An idle keep-alive connection is closed by h2o within IDLE_TIMEOUT_MS, before the drain
     * ends, so a stop is clean even while a scraper keeps its connection. */
    o->conf.http1.req_timeout = IDLE_TIMEOUT_MS;
    h2o_hostconf_t *host =
        h2o_config_register_host(&o->conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pc = h2o_config_register_path(host, "/", 0);
    h2o_create_handler(pc, sizeof(h2o_handler_t))->on_req = on_req;

    uv_loop_init(&o->uv);
    h2o_context_init(&o->ctx, &o->uv, &o->conf);
    o->accept_ctx.ctx = &o->ctx;
    o->accept_ctx.hosts = o->conf.hosts;
    uv_tcp_init(&o->uv, &o->listener);
    uv_async_init(&o->uv, &o->stop_async, on_stop);
    uv_timer_init(&o->uv, &o->drain_timer);
    int rc = uv_tcp_open(&o->listener, fd);
    if (rc != 0)
        close(fd);
    else
        rc = uv_listen((uv_stream_t *)&o->listener, LISTEN_BACKLOG, on_accept);
    if (rc != 0) {
        rc = err_set(err, ERR_IO, "CONSUMER_METRICS_PORT", "listen on %s:%u: %s", p->host, p->port,
                     uv_strerror(rc));
        goto fail;
    }
    rc = pthread_create(&o->thread, NULL, ops_main, o);
    if (rc != 0) {
        rc = err_set(err, ERR_IO, NULL, "cannot start the ops thread: %s", strerror(rc));
        goto fail;
    }
    *out = o;
    return 0;
fail:
    /* Not running yet: tear down here (main is the owner until the thread binds itself). */
    teardown(o); /* closes the listener (and fd, once it was opened) */
    h2o_config_dispose(&o->conf);
    free(o->render);
    free(o);
    return rc;
}

void ops_stop(ops_t *o)
{
    if (o == NULL)
        return;
    uv_async_send(&o->stop_async);
    pthread_join(o->thread, NULL);
    if (!o->clean)
        return; /* h2o still references the loop: left to the process exit (see DESIGN) */
    h2o_config_dispose(&o->conf);
    free(o->render);
    free(o);
}
