/* SPDX-License-Identifier: MIT */
/*
 * DESIGN. main creates every loop (uv_loop, h2o_context, listening socket) before any thread
 * starts, then each loop runs on its own thread until its drain ends. Connections are spread
 * by the kernel over the loops' SO_REUSEPORT sockets. One h2o handler takes every path and
 * looks the route up in the table main gave; what no route takes is answered here.
 * A route that hands work to the amqp thread parks its request in the loop's park_t, with the
 * route's hooks for the outcome.
 * The amqp thread returns outcomes through each loop's own ring of park_done_t (used SPSC:
 * the amqp thread pushes, the loop pops) and wakes it with uv_async_send (which coalesces, so
 * one callback drains many). It marks which loops it fed in a private array and wakes each
 * once per batch in server_flush.
 * Drain: stop_async makes a loop close its listener and request h2o's shutdown (later HTTP/1
 * responses carry Connection: close); a timer then waits until nothing is parked and the
 * connections are gone (idle keep-alive connections are given a short grace), or until the
 * deadline, when whatever is still parked is expired and the loop stops.
 */
#include "api/server.h"

#include <sched.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "api/respond.h"
#include "common/listen.h"
#define LOG_MODULE "server"
#include "common/log.h"
#include "common/owner.h"
#include "common/ring_mpsc.h"

#define LISTEN_BACKLOG     1024
#define DRAIN_TICK_MS      20
#define IDLE_CONN_GRACE_MS 300 /* after the last answer, keep-alive connections get this long */
#define NO_ROUTE           UINT32_MAX

/* One loop thread's state. Thread: loop (owner only), except where noted. */
struct server_loop {
    h2o_context_t ctx; /* requests find their loop via H2O_STRUCT_FROM_MEMBER on this */
    uv_loop_t uv;
    uv_tcp_t listener;
    uv_async_t done_async; /* signalled by the amqp thread */
    uv_async_t stop_async; /* signalled by main */
    uv_timer_t drain_timer;
    uv_check_t wake_check; /* after each iteration: wake the AMQP thread if jobs were pushed */
    h2o_accept_ctx_t accept_ctx;
    ring_mpsc_t *done; /* used SPSC; thread: the amqp thread pushes, the owner pops */
    park_t *park;
    server_t *server;
    api_metrics_t metrics; /* written by the owner, read by any thread rendering /metrics */
    uint32_t index;
    uint32_t dispatching; /* the route whose on_req runs now, else NO_ROUTE */
    int listen_fd;
    bool listening;
    bool stopping;
    bool pushed;                       /* a job went to the amqp thread in this iteration */
    _Atomic int64_t drain_deadline_ms; /* thread: written by main before stop_async */
    int64_t idle_since_ms;
    uint64_t rng[2]; /* xorshift128+, seeded from getrandom */
    owner_t owner;
    pthread_t thread;
    bool started; /* thread: main */
};

/* Thread: frozen after server_create, except dirty (amqp) and the loops (each its own). */
struct server {
    h2o_globalconf_t conf;
    server_opts_t opts;
    server_loop_t *loops;
    uint32_t nloops;
    bool *dirty; /* thread: amqp */
};

/* ---- for routes ---- */

server_loop_t *server_loop_of(h2o_req_t *req)
{
    server_loop_t *loop = H2O_STRUCT_FROM_MEMBER(server_loop_t, ctx, req->conn->ctx);
    ASSERT_OWNER(&loop->owner);
    return loop;
}

uint32_t server_loop_index(const server_loop_t *loop)
{
    return loop->index;
}

api_metrics_t *server_loop_metrics(server_loop_t *loop)
{
    return &loop->metrics;
}

uint64_t server_loop_random(server_loop_t *loop)
{
    ASSERT_OWNER(&loop->owner);
    uint64_t s1 = loop->rng[0];
    const uint64_t s0 = loop->rng[1];
    loop->rng[0] = s0;
    s1 ^= s1 << 23;
    loop->rng[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
    return loop->rng[1] + s0;
}

void server_loop_note_push(server_loop_t *loop)
{
    loop->pushed = true;
}

/* ---- parking ---- */

void *server_park_alloc(h2o_req_t *req, size_t size)
{
    server_loop_t *loop = server_loop_of(req);
    ASSERT(loop->dispatching != NO_ROUTE);
    const server_route_t *r = &loop->server->opts.routes[loop->dispatching];
    return park_entry_alloc(loop->park, req, size, r->on_done, r->on_expire, r->ctx);
}

/* ---- dispatch ---- */

static bool allows(const char *allow, const h2o_iovec_t *method)
{
    /* allow is "GET, HEAD" or "POST": a comma-separated list of tokens. */
    for (const char *p = allow; *p != '\0';) {
        size_t n = strcspn(p, ",");
        if (h2o_memis(method->base, method->len, p, n))
            return true;
        p += n;
        p += strspn(p, ", ");
    }
    return false;
}

static int on_any_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    server_loop_t *loop = server_loop_of(req);
    const server_opts_t *o = &loop->server->opts;
    for (uint32_t i = 0; i < o->nroutes; i++) {
        const server_route_t *r = &o->routes[i];
        if (!h2o_memis(req->path_normalized.base, req->path_normalized.len, r->path,
                       strlen(r->path)))
            continue;
        if (!allows(r->allow, &req->method)) {
            char detail[64];
            snprintf(detail, sizeof(detail), "allowed methods: %s", r->allow);
            problem_t p = {.status = 405,
                           .type = "method-not-allowed",
                           .title = "Method Not Allowed",
                           .detail = detail};
            h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, r->allow,
                           strlen(r->allow));
            api_metrics_count(&loop->metrics, r->metrics, 405);
            respond_problem(req, &p, "Method Not Allowed", 0);
            return 0;
        }
        loop->dispatching = i;
        r->on_req(r->ctx, loop, req);
        loop->dispatching = NO_ROUTE;
        return 0;
    }
    problem_t p = {.status = 404,
                   .type = "not-found",
                   .title = "Not Found",
                   .detail = "no such resource; events are posted to /api/v1/activities"};
    api_metrics_count(&loop->metrics, API_ROUTE_OTHER, 404);
    respond_problem(req, &p, "Not Found", 0);
    return 0;
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
    ASSERT_OWNER(&loop->owner);
    park_done_t d;
    while (ring_mpsc_try_pop(loop->done, &d) == 0)
        park_deliver(loop->park, &d);
}

/* Runs after the loop has handled every ready socket: one wake-up of the AMQP thread covers
 * all the jobs this iteration pushed, instead of one per request. */
static void on_wake_check(uv_check_t *c)
{
    server_loop_t *loop = H2O_STRUCT_FROM_MEMBER(server_loop_t, wake_check, c);
    if (loop->pushed) {
        loop->pushed = false;
        loop->server->opts.wake(loop->server->opts.wake_ctx);
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
    int64_t now = timesrc_mono_ms(&loop->server->opts.clock);
    const int64_t deadline = atomic_load_explicit(&loop->drain_deadline_ms, memory_order_acquire);
    on_done_async(&loop->done_async); /* completions may be waiting */
    uint32_t parked = park_count(loop->park);
    if (now >= deadline && parked > 0) {
        LOG_WARN("drain deadline reached with %u requests unanswered: answering 503", parked);
        park_expire_all(loop->park);
        loop->idle_since_ms = now;
        return; /* one more tick lets the answers reach the sockets */
    }
    if (parked > 0) {
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
    owner_bind(&loop->owner);
    uv_run(&loop->uv, UV_RUN_DEFAULT);
    owner_unbind(&loop->owner); /* main tears the loop down after the join */
    return NULL;
}

/* ---- setup and teardown ---- */

static int init_loop(server_t *s, server_loop_t *loop, uint32_t index, err_t *err)
{
    const server_opts_t *o = &s->opts;
    loop->index = index;
    loop->server = s;
    loop->listen_fd = -1;
    loop->dispatching = NO_ROUTE;
    api_metrics_init(&loop->metrics);
    loop->done = ring_mpsc_create((size_t)o->parked_max * 2, sizeof(park_done_t));
    if (getrandom(loop->rng, sizeof(loop->rng), 0) != sizeof(loop->rng))
        loop->rng[0] = (uint64_t)timesrc_wall_ms(&o->clock) ^ ((uint64_t)index << 32);
    loop->rng[1] |= 1; /* xorshift state must not be all zero */

    /* SO_REUSEPORT gives each loop its own accept queue, balanced by the kernel. */
    int fd = listen_tcp(o->host, o->port, LISTEN_BACKLOG, LISTEN_NONBLOCK | LISTEN_REUSEPORT,
                        "API_HOST", "API_PORT", err);
    if (fd < 0)
        return fd;
    loop->listen_fd = fd;
    uv_loop_init(&loop->uv);
    h2o_context_init(&loop->ctx, &loop->uv, &s->conf);
    loop->park = park_create(&loop->uv, o->parked_max, o->park_deadline_ms, &loop->metrics);
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
    return 0;
}

server_t *server_create(const server_opts_t *opts, err_t *err)
{
    server_t *s = xcalloc(1, sizeof(*s));
    s->opts = *opts;
    s->nloops = opts->loops;
    s->loops = xcalloc(opts->loops, sizeof(*s->loops));
    s->dirty = xcalloc(opts->loops, sizeof(*s->dirty));

    h2o_config_init(&s->conf);
    s->conf.max_request_entity_size = opts->max_body_bytes;
    s->conf.server_name = h2o_iovec_init(H2O_STRLIT("activity-api"));
    /* HTTP/1.1 only: clients and load generators of this service speak it, and one protocol
     * keeps the request lifetime rules simple. */
    s->conf.http1.upgrade_to_http2 = 0;
    h2o_hostconf_t *host =
        h2o_config_register_host(&s->conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pc = h2o_config_register_path(host, "/", 0);
    h2o_create_handler(pc, sizeof(h2o_handler_t))->on_req = on_any_req;

    for (uint32_t i = 0; i < s->nloops; i++) {
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
                park_dispose_timeouts(loop->park);
                h2o_context_dispose(&loop->ctx);
                uv_walk(&loop->uv, close_walk_cb, NULL);
                uv_run(&loop->uv, UV_RUN_DEFAULT);
                uv_loop_close(&loop->uv);
            }
        } else if (loop->listen_fd >= 0) {
            close(loop->listen_fd);
        }
        ring_mpsc_destroy(loop->done);
        park_destroy(loop->park);
    }
    h2o_config_dispose(&s->conf);
    free(s->dirty);
    free(s->loops);
    free(s);
}

void server_metrics_merge(const server_t *s, api_metrics_t *dst)
{
    for (uint32_t i = 0; i < s->nloops; i++)
        api_metrics_merge(dst, &s->loops[i].metrics);
}

/* ---- completions from the amqp thread ---- */

void server_complete(void *ctx, uint32_t loop_index, uint64_t ticket, uint32_t status,
                     int64_t enqueued_ms)
{
    server_t *s = ctx;
    ASSERT(loop_index < s->nloops);
    server_loop_t *loop = &s->loops[loop_index];
    park_done_t d = {.ticket = ticket, .enqueued_ms = enqueued_ms, .status = status};
    /* The ring holds twice the loop's parking capacity, so it fills only if the loop stalls;
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
