/* SPDX-License-Identifier: MIT */
/*
 * bench-http-ceiling: the HTTP ceiling of this machine. A libh2o (libuv) server that answers
 * every POST, whatever the path, with 202 and a small JSON body, and does no other work: no
 * parsing, no rate limiting, no broker. What activity-api reaches on a route is compared with
 * what this reaches under the same load (see docs/BENCHMARKS.md).
 *
 * Usage: bench-http-ceiling [PORT [THREADS]]   (defaults 3001 and 1; listens on 127.0.0.1)
 *
 * Each loop thread owns a uv_loop_t, an h2o_context_t and its own listening socket bound with
 * SO_REUSEPORT (libuv 1.44 has no flag for it), so the kernel spreads connections over the loops.
 * The global h2o configuration is frozen before any loop starts. SIGINT and SIGTERM are blocked in
 * every thread; the main thread takes them with sigwait and stops each loop with uv_async_send.
 * Thread: main (setup, signals, join) and one loop thread per listener.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <h2o.h>
#include <uv.h>

#include "util.h"
#include "common/stopsig.h"

#define LISTEN_HOST    "127.0.0.1"
#define DEFAULT_PORT   3001
#define MAX_THREADS    64
#define MAX_BODY_BYTES 65536
#define LISTEN_BACKLOG 1024

/* The same shape and size as activity-api's 202 body. */
static const char ACCEPTED_BODY[] =
    "{\"id\":\"01890a5d-ac96-774b-bcce-b302099a8057\",\"status\":\"accepted\"}";

/* Thread: loop (owner only), built by main before the thread starts. */
typedef struct loop_ctx {
    uv_loop_t loop;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    uv_tcp_t listener;
    uv_async_t stop_async;
    pthread_t thread;
} loop_ctx_t;

/* Thread: frozen after main's setup. */
static h2o_globalconf_t config;

static int on_post(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, H2O_STRLIT("POST"));
        h2o_send_error_generic(req, 405, "Method Not Allowed", "method not allowed",
                               H2O_SEND_ERROR_KEEP_HEADERS);
        return 0;
    }
    req->res.status = 202;
    req->res.reason = "Accepted";
    /* Without content_length h2o_send_inline falls back to chunked encoding. */
    req->res.content_length = sizeof(ACCEPTED_BODY) - 1;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/json"));
    h2o_send_inline(req, ACCEPTED_BODY, sizeof(ACCEPTED_BODY) - 1);
    return 0;
}

static void on_conn_close(uv_handle_t *h)
{
    free(h);
}

static void on_connection(uv_stream_t *listener, int status)
{
    if (status != 0)
        return;
    loop_ctx_t *lc = listener->data;
    uv_tcp_t *conn = malloc(sizeof(*conn));
    if (conn == NULL)
        return;
    uv_tcp_init(listener->loop, conn);
    if (uv_accept(listener, (uv_stream_t *)conn) != 0) {
        uv_close((uv_handle_t *)conn, on_conn_close);
        return;
    }
    /* The socket's close callback frees conn once h2o is done with the connection. */
    h2o_socket_t *sock = h2o_uv_socket_create((uv_stream_t *)conn, on_conn_close);
    h2o_accept(&lc->accept_ctx, sock);
}

static void on_stop(uv_async_t *a)
{
    loop_ctx_t *lc = a->data;
    uv_close((uv_handle_t *)&lc->listener, NULL);
    uv_stop(&lc->loop);
}

static void *loop_main(void *arg)
{
    loop_ctx_t *lc = arg;
    uv_run(&lc->loop, UV_RUN_DEFAULT);
    return NULL;
}

/* Returns a listening TCP socket on LISTEN_HOST:port with SO_REUSEPORT, or -1 (errno set).
 * TCP_NODELAY is inherited by the accepted sockets, as in activity-api: without it Nagle's
 * algorithm meeting delayed ACKs adds 40 ms stalls to the latency tail. */
static int listen_reuseport(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int on = 1;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, LISTEN_HOST, &sin.sin_addr);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) != 0 ||
        bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(fd, LISTEN_BACKLOG) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: bench-http-ceiling [PORT [THREADS]]  (defaults %d and 1, 1-%d threads)\n",
            DEFAULT_PORT, MAX_THREADS);
}

int main(int argc, char **argv)
{
    uint64_t port_arg = DEFAULT_PORT, threads_arg = 1;
    if (argc > 3 || (argc > 1 && cli_parse_u64(argv[1], 1, 65535, &port_arg) != 0) ||
        (argc > 2 && cli_parse_u64(argv[2], 1, MAX_THREADS, &threads_arg) != 0)) {
        usage();
        return 2;
    }
    int port = (int)port_arg, nthreads = (int)threads_arg;

    sigset_t stop_signals;
    stopsig_block(&stop_signals); /* before any thread exists; only sigwait below takes them */

    h2o_config_init(&config);
    config.max_request_entity_size = MAX_BODY_BYTES;
    config.server_name = h2o_iovec_init(H2O_STRLIT(""));
    config.http1.upgrade_to_http2 = 0; /* HTTP/1.1 only, as activity-api */
    h2o_hostconf_t *host =
        h2o_config_register_host(&config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    h2o_handler_t *handler = h2o_create_handler(path, sizeof(*handler));
    handler->on_req = on_post;

    loop_ctx_t *loops = calloc((size_t)nthreads, sizeof(*loops));
    if (loops == NULL) {
        fprintf(stderr, "bench-http-ceiling: out of memory\n");
        return 1;
    }
    for (int i = 0; i < nthreads; i++) {
        loop_ctx_t *lc = &loops[i];
        int fd = listen_reuseport(port);
        if (fd < 0) {
            fprintf(stderr, "bench-http-ceiling: cannot listen on %s:%d: %s\n", LISTEN_HOST, port,
                    strerror(errno));
            return 1;
        }
        uv_loop_init(&lc->loop);
        h2o_context_init(&lc->ctx, &lc->loop, &config);
        lc->accept_ctx.ctx = &lc->ctx;
        lc->accept_ctx.hosts = config.hosts;
        uv_tcp_init(&lc->loop, &lc->listener);
        lc->listener.data = lc;
        int rc = uv_tcp_open(&lc->listener, fd);
        if (rc == 0)
            rc = uv_listen((uv_stream_t *)&lc->listener, LISTEN_BACKLOG, on_connection);
        if (rc != 0) {
            fprintf(stderr, "bench-http-ceiling: listen: %s\n", uv_strerror(rc));
            return 1;
        }
        uv_async_init(&lc->loop, &lc->stop_async, on_stop);
        lc->stop_async.data = lc;
    }
    for (int i = 0; i < nthreads; i++) {
        if (pthread_create(&loops[i].thread, NULL, loop_main, &loops[i]) != 0) {
            fprintf(stderr, "bench-http-ceiling: cannot start loop thread %d\n", i);
            return 1;
        }
    }
    fprintf(stderr, "bench-http-ceiling: listening on http://%s:%d/ with %d loop thread(s)\n",
            LISTEN_HOST, port, nthreads);

    int sig = 0;
    sigwait(&stop_signals, &sig);
    for (int i = 0; i < nthreads; i++)
        uv_async_send(&loops[i].stop_async);
    for (int i = 0; i < nthreads; i++)
        pthread_join(loops[i].thread, NULL);
    fprintf(stderr, "bench-http-ceiling: stopped by signal %d\n", sig);
    /* Open connections still reference the contexts, so the memory goes back with the process. */
    return 0;
}
