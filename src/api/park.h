/* SPDX-License-Identifier: MIT */
/*
 * One loop's parked requests: requests that wait for the amqp thread. Each holds a ticket in the
 * loop's pending table (the only thing that travels to the amqp thread and back), a deadline on
 * the loop's timeout list, and a dispose hook on its request pool that unparks it when the
 * client leaves, so a late completion finds a stale ticket and is dropped.
 * Thread: loop (owner only); create and destroy on main.
 * Invariant: exactly one thing ends a wait: the route answering after park_remove, the deadline
 * or park_expire_all (the entry is removed, then on_expire must answer), or the client leaving
 * (removed; nothing is answered).
 */
#ifndef AT_API_PARK_H
#define AT_API_PARK_H

#include <h2o.h>
#include <stdint.h>

#include "api/api_metrics.h"

typedef struct park park_t;
typedef struct park_entry park_entry_t;

/* One completion travelling from the amqp thread to a loop. Thread: copied by value. */
typedef struct park_done {
    uint64_t ticket;
    int64_t enqueued_ms;
    uint32_t status; /* the route's own outcome code (pub_status_t for the publisher) */
} park_done_t;

/* The header of a route's parked record (allocated with park_entry_alloc, header first).
 * Thread: its loop. */
struct park_entry {
    h2o_timeout_entry_t deadline;
    park_t *park;
    h2o_req_t *req;
    uint64_t ticket; /* 0 when not parked */
    /* A completion for this entry, still parked: the route decides whether it answers now
     * (after park_remove) or waits for more. */
    void (*on_done)(void *ctx, park_entry_t *e, const park_done_t *done);
    /* The entry was removed by its deadline or the end of a drain: answer 503. */
    void (*on_expire)(void *ctx, park_entry_t *e);
    void *ctx;
};

/* Creates the table of one loop: at most capacity entries, each with a deadline of
 * deadline_ms on uv's timeouts. metrics (borrowed) counts parked, pending_full, deadline_expired
 * and client_gone. Returns an owned park_t. Thread: main. */
park_t *park_create(uv_loop_t *uv, uint32_t capacity, uint32_t deadline_ms, api_metrics_t *metrics);

/* Frees the table; every entry must be gone (park_count 0) or the loop abandoned. NULL is a
 * no-op. Thread: main, after the loop thread ended. */
void park_destroy(park_t *pk);

/* Allocates a zeroed record of size bytes (>= sizeof(park_entry_t)) on req's pool, its header
 * filled with the hooks and a dispose hook that removes it when the client leaves. */
void *park_entry_alloc(park_t *pk, h2o_req_t *req, size_t size,
                       void (*on_done)(void *, park_entry_t *, const park_done_t *),
                       void (*on_expire)(void *, park_entry_t *), void *ctx);

/* Parks e: a ticket and the deadline. Returns 0 with e->ticket set, or ERR_FULL (counted in
 * pending_full) when the table is full. */
int park_add(park_entry_t *e);

/* Ends e's wait (ticket forgotten, deadline unlinked); a no-op when e is not parked. */
void park_remove(park_entry_t *e);

/* Hands a completion to the on_done of the entry holding its ticket; drops it when the ticket is
 * stale (answered, expired, or the client left). */
void park_deliver(park_t *pk, const park_done_t *done);

/* Expires every parked entry (end of a drain). */
void park_expire_all(park_t *pk);

/* Returns the number of parked entries. */
uint32_t park_count(const park_t *pk);

/* Frees the deadline list's resources; call before h2o_context_dispose of the loop. */
void park_dispose_timeouts(park_t *pk);

#endif
