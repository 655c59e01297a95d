/* SPDX-License-Identifier: MIT */
/*
 * DESIGN. main creates every loop (uv_loop, h2o_context, listening socket) before any thread
 * starts, then each loop runs on its own thread until its drain ends. Connections are spread
 * by the kernel over the loops' SO_REUSEPORT sockets. The amqp thread returns outcomes
 * through each loop's own SPSC ring of server_done_t and wakes it with uv_async_send (which
 * coalesces, so one callback drains many). The amqp thread marks which loops it fed in a
 * private array and wakes each once per batch in server_flush.
 * Drain: stop_async makes a loop close its listener and request h2o's shutdown (later HTTP/1
 * responses carry Connection: close); a timer then waits until nothing is parked and the
 * connections are gone (idle keep-alive connections are given a short grace), or until the
 * deadline, when whatever is still parked is answered 503 and the loop stops.
 */
#include "api/server.h"

#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define LOG_MODULE "server"
#include "common/log.h"
#include "common/listen.h"

#define LISTEN_BACKLOG     1024
#define DRAIN_TICK_MS      20
#define IDLE_CONN_GRACE_MS 300  /* after the last answer, keep-alive connections get this long */
#define DEADLINE_SLACK_MS  1000 /* the loop's backstop fires this long after the confirm timeout */

struct server {
    h2o_globalconf_t conf;
    server_shared_t *shared;
    server_loop_t *loops;
    uint32_t nloops;
    bool *dirty; /* thread: amqp */
};

server_loop_t *server_loop_of(h2o_req_t *req)
{
    return H2O_STRUCT_FROM_MEMBER(server_loop_t, ctx, req->conn->ctx);
}

uint32_t server_loop_count(const server_t *s)
{
    return s->nloops;
}

server_loop_t *server_loop_at(server_t *s, uint32_t i)
{
    return &s->loops[i];
}

void server_send(h2o_req_t *req, int status, const char *reason, const char *content_type,
                 const char *body, size_t len)
{
    req->res.status = status;
    req->res.reason = reason;
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type,
                   strlen(content_type));
    h2o_send_inline(req, body, len);
}

void server_send_problem(h2o_req_t *req, const problem_t *p, const char *reason,
                         uint32_t retry_after_s)
{
    char small[1024];
    size_t need = problem_format(p, small, sizeof(small));
    const char *body = small;
    if (need >= sizeof(small)) {
        char *big = h2o_mem_alloc_pool(&req->pool, need + 1);
        problem_format(p, big, need + 1);
        body = big;
    }
    if (retry_after_s > 0) {
        char ra[16];
        int n = snprintf(ra, sizeof(ra), "%u", retry_after_s);
        h2o_iovec_t v = h2o_strdup(&req->pool, ra, (size_t)n);
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, v.base, v.len);
    }
    server_send(req, p->status, reason, PROBLEM_CONTENT_TYPE, body, need);
}

/* ---- loop thread callbacks ---- */

static void on_conn_close(uv_handle_t *h)
{
    free(h);
}

static void on_accept(uv_stream_t *listener, int status)
{
    server_loop_t *loop = H2O_STRUCT_FROM_MEMBER(server_loop_t, listener, (uv_tcp_t *)listener);
    if (status != 0)
        return;
    uv_tcp_t *conn = xmalloc(sizeof(*conn));
    uv_tcp_init(listener->loop, conn);
    if (uv_accept(listener, (uv_stream_t *)conn) != 0) {
        uv_close((uv_handle_t *)conn, on_conn_close);
        return;
    }
    uv_tcp_nodelay(conn, 1);
    h2o_socket_t *sock = h2o_uv_socket_create((uv_stream_t *)conn, on_conn_close);
    h2o_accept(&loop->accept_ctx, sock);
}

static void on_done_async(uv_async_t *a)
{
    server_loop_t *loop = H2O_STRUCT_FROM_MEMBER(server_loop_t, done_async, a);
    server_done_t d;
    while (ring_mpsc_try_pop(loop->done, &d) == 0)
        route_activities_on_done(loop, &d);
}

/* Runs after the loop has handled every ready socket: one wake-up of the AMQP thread covers
 * all the jobs this iteration pushed, instead of one per request. */
static void on_wake_check(uv_check_t *c)
{
    server_loop_t *loop = H2O_STRUCT_FROM_MEMBER(server_loop_t, wake_check, c);
    if (loop->pushed) {
        loop->pushed = false;
        loop->shared->wake_amqp(loop->shared->wake_ctx);
    }
}

static bool has_connections(server_loop_t *loop)
{
    return !h2o_linklist_is_empty(&loop->ctx.http1._conns) ||
           !h2o_linklist_is_empty(&loop->ctx.http2._conns);
}

static void on_drain_tick(uv_timer_t *t)
{
    server_loop_t *loop = H2O_STRUCT_FROM_MEMBER(server_loop_t, drain_timer, t);
    int64_t now = timesrc_mono_ms(&loop->shared->clock);
    const int64_t deadline = atomic_load_explicit(&loop->drain_deadline_ms, memory_order_acquire);
    on_done_async(&loop->done_async); /* completions may be waiting */
    if (now >= deadline && pending_count(loop->pending) > 0) {
        LOG_WARN("drain deadline reached with %u requests unanswered: answering 503",
                 pending_count(loop->pending));
        route_activities_expire_all(loop);
        loop->idle_since_ms = now;
        return; /* one more tick lets the answers reach the sockets */
    }
    if (pending_count(loop->pending) > 0) {
        loop->idle_since_ms = 0;
        return;
    }
    if (loop->idle_since_ms == 0)
        loop->idle_since_ms = now;
    if (!has_connections(loop) || now - loop->idle_since_ms >= IDLE_CONN_GRACE_MS ||
        now >= deadline)
        uv_stop(&loop->uv);
}

static void on_stop_async(uv_async_t *a)
{
    server_loop_t *loop = H2O_STRUCT_FROM_MEMBER(server_loop_t, stop_async, a);
    if (loop->stopping)
        return;
    loop->stopping = true;
    if (loop->listening) {
        uv_close((uv_handle_t *)&loop->listener, NULL);
        loop->listening = false;
    }
    h2o_context_request_shutdown(&loop->ctx);
    uv_timer_start(&loop->drain_timer, on_drain_tick, 0, DRAIN_TICK_MS);
}

static void *loop_main(void *arg)
{
    server_loop_t *loop = arg;
    char name[16];
    snprintf(name, sizeof(name), "loop-%u", loop->index);
    log_set_thread(name);
    loop->owner = pthread_self();
    uv_run(&loop->uv, UV_RUN_DEFAULT);
    return NULL;
}

/* ---- setup and teardown ---- */

static h2o_pathconf_t *register_handler(h2o_hostconf_t *host, const char *path,
                                        int (*on_req)(h2o_handler_t *, h2o_req_t *))
{
    h2o_pathconf_t *pc = h2o_config_register_path(host, path, 0);
    h2o_handler_t *h = h2o_create_handler(pc, sizeof(*h));
    h->on_req = on_req;
    return pc;
}

static int init_loop(server_t *s, server_loop_t *loop, uint32_t index, err_t *err)
{
    const config_t *cfg = s->shared->cfg;
    loop->index = index;
    loop->server = s;
    loop->shared = s->shared;
    loop->listen_fd = -1;
    api_metrics_init(&loop->metrics);
    /* Every request this loop parks holds a pending slot; the ring and the broker window bound
     * how many can be outstanding at once. */
    uint32_t cap = cfg->publish_ring_size + cfg->publish_max_inflight;
    loop->pending = pending_create(cap);
    loop->done = ring_mpsc_create((size_t)cap * 2, sizeof(server_done_t));
    if (getrandom(loop->rng, sizeof(loop->rng), 0) != sizeof(loop->rng))
        loop->rng[0] = (uint64_t)timesrc_wall_ms(&s->shared->clock) ^ ((uint64_t)index << 32);
    loop->rng[1] |= 1; /* xorshift state must not be all zero */

    /* SO_REUSEPORT gives each loop its own accept queue, balanced by the kernel. */
    int fd = listen_tcp(cfg->api_host, cfg->api_port, LISTEN_BACKLOG,
                        LISTEN_NONBLOCK | LISTEN_REUSEPORT, "API_HOST", "API_PORT", err);
    if (fd < 0)
        return fd;
    loop->listen_fd = fd;
    uv_loop_init(&loop->uv);
    h2o_context_init(&loop->ctx, &loop->uv, &s->conf);
    loop->accept_ctx.ctx = &loop->ctx;
    loop->accept_ctx.hosts = s->conf.hosts;
    uv_tcp_init(&loop->uv, &loop->listener);
    int rc = uv_tcp_open(&loop->listener, fd);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&loop->listener, LISTEN_BACKLOG, on_accept);
    if (rc != 0)
        return err_set(err, ERR_IO, "API_PORT", "listen: %s", uv_strerror(rc));
    loop->listening = true;
    uv_async_init(&loop->uv, &loop->done_async, on_done_async);
    uv_async_init(&loop->uv, &loop->stop_async, on_stop_async);
    uv_timer_init(&loop->uv, &loop->drain_timer);
    uv_check_init(&loop->uv, &loop->wake_check);
    uv_check_start(&loop->wake_check, on_wake_check);
    uv_unref((uv_handle_t *)&loop->wake_check);
    h2o_timeout_init(&loop->uv, &loop->deadline,
                     (uint64_t)cfg->publish_confirm_timeout_ms + DEADLINE_SLACK_MS);
    return 0;
}

server_t *server_create(server_shared_t *shared, uint32_t loops, err_t *err)
{
    server_t *s = xcalloc(1, sizeof(*s));
    s->shared = shared;
    s->nloops = loops;
    s->loops = xcalloc(loops, sizeof(*s->loops));
    s->dirty = xcalloc(loops, sizeof(*s->dirty));

    h2o_config_init(&s->conf);
    s->conf.max_request_entity_size = shared->cfg->max_body_bytes;
    s->conf.server_name = h2o_iovec_init(H2O_STRLIT("activity-api"));
    /* HTTP/1.1 only: clients and load generators of this service speak it, and one protocol
     * keeps the request lifetime rules simple. */
    s->conf.http1.upgrade_to_http2 = 0;
    h2o_hostconf_t *host =
        h2o_config_register_host(&s->conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    register_handler(host, "/api/v1/activities", route_activities_on_req);
    register_handler(host, "/", route_ops_on_req);

    for (uint32_t i = 0; i < loops; i++) {
        if (init_loop(s, &s->loops[i], i, err) < 0) {
            s->nloops = i + 1;
            server_destroy(s);
            return NULL;
        }
    }
    return s;
}

int server_start(server_t *s, err_t *err)
{
    for (uint32_t i = 0; i < s->nloops; i++) {
        int rc = pthread_create(&s->loops[i].thread, NULL, loop_main, &s->loops[i]);
        if (rc != 0)
            return err_set(err, ERR_IO, NULL, "cannot start loop thread: %s", strerror(rc));
        s->loops[i].started = true;
    }
    return 0;
}

void server_stop(server_t *s, int64_t deadline_ms)
{
    for (uint32_t i = 0; i < s->nloops; i++) {
        /* Release pairs with the acquire loads in on_drain_tick; uv_async_send orders it too,
         * but through a syscall that ThreadSanitizer cannot see. */
        atomic_store_explicit(&s->loops[i].drain_deadline_ms, deadline_ms, memory_order_release);
        uv_async_send(&s->loops[i].stop_async);
    }
}

void server_join(server_t *s)
{
    for (uint32_t i = 0; i < s->nloops; i++) {
        if (s->loops[i].started) {
            pthread_join(s->loops[i].thread, NULL);
            s->loops[i].started = false;
        }
    }
}

bool server_try_join(server_t *s)
{
    bool all = true;
    for (uint32_t i = 0; i < s->nloops; i++) {
        if (!s->loops[i].started)
            continue;
        if (pthread_tryjoin_np(s->loops[i].thread, NULL) == 0)
            s->loops[i].started = false;
        else
            all = false;
    }
    return all;
}

static void close_walk_cb(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

void server_destroy(server_t *s)
{
    if (s == NULL)
        return;
    for (uint32_t i = 0; i < s->nloops; i++) {
        server_loop_t *loop = &s->loops[i];
        if (loop->listen_fd >= 0 && loop->ctx.loop != NULL) {
            /* A clean drain leaves no connection; then h2o and libuv can be torn down fully.
             * Otherwise the process is about to exit and the kernel closes the rest. */
            if (!has_connections(loop)) {
                if (h2o_timeout_is_linked(&loop->ctx.http2._graceful_shutdown_timeout))
                    h2o_timeout_unlink(&loop->ctx.http2._graceful_shutdown_timeout);
                h2o_timeout_dispose(&loop->uv, &loop->deadline);
                h2o_context_dispose(&loop->ctx);
                uv_walk(&loop->uv, close_walk_cb, NULL);
                uv_run(&loop->uv, UV_RUN_DEFAULT);
                uv_loop_close(&loop->uv);
            }
        } else if (loop->listen_fd >= 0) {
            close(loop->listen_fd);
        }
        ring_mpsc_destroy(loop->done);
        pending_destroy(loop->pending);
    }
    h2o_config_dispose(&s->conf);
    free(s->dirty);
    free(s->loops);
    free(s);
}

/* ---- completions from the amqp thread ---- */

void server_complete(void *ctx, uint32_t loop_index, uint64_t ticket, pub_status_t status,
                     int64_t enqueued_ms)
{
    server_t *s = ctx;
    ASSERT(loop_index < s->nloops);
    server_loop_t *loop = &s->loops[loop_index];
    server_done_t d = {.ticket = ticket, .enqueued_ms = enqueued_ms, .status = status};
    /* The ring holds twice the loop's pending capacity, so it fills only if the loop stalls;
     * then wake it and wait for room rather than lose an answer. */
    while (ring_mpsc_try_push(loop->done, &d) < 0) {
        uv_async_send(&loop->done_async);
        sched_yield();
    }
    s->dirty[loop_index] = true;
}

void server_flush(void *ctx)
{
    server_t *s = ctx;
    for (uint32_t i = 0; i < s->nloops; i++) {
        if (s->dirty[i]) {
            s->dirty[i] = false;
            uv_async_send(&s->loops[i].done_async);
        }
    }
}
