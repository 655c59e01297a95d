/* SPDX-License-Identifier: MIT */
/*
 * The HTTP side of activity-api, knowing no route: K loop threads, each with its own uv_loop,
 * h2o_context and SO_REUSEPORT listening socket on the same address; dispatch by exact path to
 * the table of routes main hands over (404 for an unknown path, 405 with Allow for a method the
 * route does not take); each loop's table of parked requests (park.h); the completion path
 * from the amqp thread (a per-loop ring plus uv_async_send); the drain.
 * Thread: server_create/start/stop/join/destroy on main; server_complete and server_flush on
 * amqp; server_metrics_merge on any; everything taking a server_loop_t or an h2o_req_t on that
 * loop's thread only.
 * Invariant: no h2o_req_t and nothing on a request pool ever leaves its loop thread; the amqp
 * thread sees only (loop index, ticket).
 */
#ifndef AT_API_SERVER_H
#define AT_API_SERVER_H

#include <h2o.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/api_metrics.h"
#include "api/park.h"
#include "common/err.h"
#include "common/timesrc.h"

typedef struct server server_t;
typedef struct server_loop server_loop_t;

/* One entry of the route table. The functions run on the request's loop thread; ctx is handed
 * to each of them. Thread: frozen. */
typedef struct server_route {
    const char *path;       /* matched exactly against the normalised path */
    const char *allow;      /* the methods taken, as an Allow value: "POST" or "GET, HEAD" */
    enum api_route metrics; /* where the server counts the 405s it answers for this path */
    /* Answers req, at once or later after parking it (server_park_alloc, park_add). */
    void (*on_req)(void *ctx, server_loop_t *loop, h2o_req_t *req);
    /* park_entry_t's hooks for the requests this route parks; NULL for routes that never
     * park. */
    void (*on_done)(void *ctx, park_entry_t *e, const park_done_t *done);
    void (*on_expire)(void *ctx, park_entry_t *e);
    void *ctx;
} server_route_t;

/* What the server needs to know. Borrowed for the server's lifetime. Thread: frozen. */
typedef struct server_opts {
    const char *host; /* API_HOST */
    uint32_t port;    /* API_PORT */
    uint32_t loops;
    uint32_t max_body_bytes;
    uint32_t parked_max;       /* requests one loop may park at once */
    uint32_t park_deadline_ms; /* backstop deadline of a parked request */
    const server_route_t *routes;
    uint32_t nroutes;
    /* Called once per loop iteration in which a route called server_loop_note_push. */
    void (*wake)(void *ctx);
    void *wake_ctx;
    timesrc_t clock;
} server_opts_t;

/* Creates the server: binds one SO_REUSEPORT socket per loop on host:port and sets up each
 * loop. Returns NULL with err set when an address cannot be bound. Thread: main. */
server_t *server_create(const server_opts_t *opts, err_t *err);

/* Starts the loop threads. Returns 0 or ERR_* with err set. Thread: main. */
int server_start(server_t *s, err_t *err);

/* Asks every loop to stop accepting, answer what is in flight and stop when drained or when
 * deadline_ms (monotonic) passes, expiring whatever is still parked. Thread: main. */
void server_stop(server_t *s, int64_t deadline_ms);

/* Joins the loop threads that have ended, without blocking. Returns true when all have.
 * Thread: main. */
bool server_try_join(server_t *s);

/* Frees the server. NULL is a no-op. Thread: main, after every loop thread ended. */
void server_destroy(server_t *s);

/* Adds every loop's metrics into dst (initialised with api_metrics_init). Thread: any. */
void server_metrics_merge(const server_t *s, api_metrics_t *dst);

/* Hands a completion to its loop (no wake-up yet). Matches pub_complete_fn with ctx = s.
 * Thread: amqp. */
void server_complete(void *s, uint32_t loop, uint64_t ticket, uint32_t status, int64_t enqueued_ms);

/* Wakes every loop that received completions since the last flush. Thread: amqp. */
void server_flush(void *s);

/* ---- for routes, on the request's loop thread ---- */

/* Returns the loop that owns req. */
server_loop_t *server_loop_of(h2o_req_t *req);

/* Returns the loop's index (what a job records to find its way back). */
uint32_t server_loop_index(const server_loop_t *loop);

/* Returns the loop's metrics, written only on this loop. */
api_metrics_t *server_loop_metrics(server_loop_t *loop);

/* Returns 64 random bits from the loop's own generator (fast, not for secrets). */
uint64_t server_loop_random(server_loop_t *loop);

/* Notes that a job was handed to the amqp thread: opts.wake runs once at the end of this loop
 * iteration, however many jobs it pushed. */
void server_loop_note_push(server_loop_t *loop);

/* Allocates a parked record of size bytes (park_entry_t first) for req on its loop's table,
 * with the hooks of the route now answering req (park_entry_alloc); park_add then parks it.
 * Only from within a route's on_req. */
void *server_park_alloc(h2o_req_t *req, size_t size);

#endif
