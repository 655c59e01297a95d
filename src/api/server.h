/* SPDX-License-Identifier: MIT */
/*
 * The HTTP side of activity-api: K loop threads, each with its own uv_loop, h2o_context and
 * SO_REUSEPORT listening socket on the same address; the routes; the completion path from the
 * amqp thread (a per-loop SPSC ring plus uv_async_send); the per-request deadline; the drain.
 * Thread: server_create/start/stop/join/destroy on main; server_complete and server_flush on
 * amqp; everything inside a server_loop_t on that loop's thread only.
 * Invariant: no h2o_req_t and nothing on a request pool ever leaves its loop thread; the amqp
 * thread sees only (loop index, ticket).
 */
#ifndef AT_API_SERVER_H
#define AT_API_SERVER_H

#include <h2o.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/client_addr.h"
#include "api/pending.h"
#include "api/problem.h"
#include "api/publisher.h"
#include "api/ratelimit.h"
#include "api/route_ops.h"
#include "common/config.h"
#include "common/err.h"
#include "common/ring_mpsc.h"
#include "common/timesrc.h"

typedef struct server server_t;

/* What the loops share; every pointer is frozen before the loops start. */
typedef struct server_shared {
    const config_t *cfg;
    ratelimit_t *ratelimit;
    const client_cidrs_t *trusted;
    ring_mpsc_t *jobs;            /* loops push, the amqp thread pops */
    const publisher_t *publisher; /* state and statistics only (atomics) */
    void (*wake_amqp)(void *ctx); /* called after pushes (once per loop iteration); thread: any */
    void *wake_ctx;
    timesrc_t clock;
    _Atomic bool draining; /* set by main at the first signal: /ready answers 503 */
    int64_t started_ms;
    char ratelimit_policy[48]; /* the RateLimit-Policy value, fixed by config */
} server_shared_t;

/* One completion travelling from the amqp thread to a loop. */
typedef struct server_done {
    uint64_t ticket;
    int64_t enqueued_ms;
    uint32_t status; /* pub_status_t */
} server_done_t;

/* One loop thread's state. Thread: loop (owner only), except where noted. */
typedef struct server_loop {
    h2o_context_t ctx; /* requests find their loop via H2O_STRUCT_FROM_MEMBER on this */
    uv_loop_t uv;
    uv_tcp_t listener;
    uv_async_t done_async; /* signalled by the amqp thread */
    uv_async_t stop_async; /* signalled by main */
    uv_timer_t drain_timer;
    uv_check_t wake_check;  /* after each iteration: wake the AMQP thread if jobs were pushed */
    h2o_timeout_t deadline; /* backstop for each parked request */
    h2o_accept_ctx_t accept_ctx;
    ring_mpsc_t *done; /* thread: amqp pushes, owner pops */
    pending_t *pending;
    server_t *server;
    server_shared_t *shared;
    api_metrics_t metrics; /* written by owner, read by any loop rendering /metrics */
    uint32_t index;
    int listen_fd;
    bool listening;
    bool stopping;
    bool pushed;                       /* a job went into the ring during this loop iteration */
    _Atomic int64_t drain_deadline_ms; /* written by main before stop_async, read by owner */
    int64_t idle_since_ms;
    uint64_t rng[2]; /* xorshift128+ for UUIDv7 random bits, seeded from getrandom */
    pthread_t thread;
    pthread_t owner;
    bool started;
} server_loop_t;

/* Creates the server: binds K SO_REUSEPORT sockets on API_HOST:API_PORT (K = loops), sets up
 * each loop. shared is borrowed for the server's lifetime. Returns NULL with err set when an
 * address cannot be bound. Thread: main. */
server_t *server_create(server_shared_t *shared, uint32_t loops, err_t *err);

/* Starts the loop threads. Returns 0 or ERR_* with err set. Thread: main. */
int server_start(server_t *s, err_t *err);

/* Asks every loop to stop accepting, answer what is in flight and stop when drained or when
 * deadline_ms (monotonic) passes, answering anything left with 503. Thread: main. */
void server_stop(server_t *s, int64_t deadline_ms);

/* Waits for every loop thread to end. Thread: main. */
void server_join(server_t *s);

/* Joins the loop threads that have ended, without blocking. Returns true when all have.
 * Thread: main. */
bool server_try_join(server_t *s);

/* Frees the server. NULL is a no-op. Thread: main, after server_join. */
void server_destroy(server_t *s);

/* Returns the number of loops and loop i, for /metrics aggregation. Thread: any. */
uint32_t server_loop_count(const server_t *s);
server_loop_t *server_loop_at(server_t *s, uint32_t i);

/* Hands a job's outcome to its loop (no wake-up yet). Matches pub_complete_fn with ctx = s.
 * Thread: amqp. */
void server_complete(void *s, uint32_t loop, uint64_t ticket, pub_status_t status,
                     int64_t enqueued_ms);

/* Wakes every loop that received completions since the last flush. Thread: amqp. */
void server_flush(void *s);

/* Sends a complete response: status, reason, content type (a literal), body copied into the
 * request pool, Content-Length set. Thread: the request's loop. */
void server_send(h2o_req_t *req, int status, const char *reason, const char *content_type,
                 const char *body, size_t len);

/* Sends a problem+json response with an optional Retry-After (0 = none). */
void server_send_problem(h2o_req_t *req, const problem_t *p, const char *reason,
                         uint32_t retry_after_s);

/* Returns the loop that owns req. */
server_loop_t *server_loop_of(h2o_req_t *req);

/* Route handlers, in route_activities.c and route_ops.c. */
int route_activities_on_req(h2o_handler_t *self, h2o_req_t *req);
void route_activities_on_done(server_loop_t *loop, const server_done_t *done);
void route_activities_expire_all(server_loop_t *loop);

#endif
