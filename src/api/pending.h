/* SPDX-License-Identifier: MIT */
/*
 * Per-loop table of requests waiting for their publish confirmation, keyed by ticket. A ticket
 * is (generation << 32 | slot), so a completion that arrives after its request was answered
 * (deadline) or disposed (client gone) finds a newer generation and is dropped: no dangling
 * h2o_req_t is ever touched. Capacity is fixed at creation; the hot path does not allocate.
 * Thread: loop (owner only): the first thread that adds an entry becomes the owner (asserted in
 * debug builds); create and destroy on main.
 */
#ifndef AT_API_PENDING_H
#define AT_API_PENDING_H

#include <stdint.h>

typedef struct pending pending_t;

/* Returns a table of capacity slots (1..2^31), owned by the caller. Thread: main or owner. */
pending_t *pending_create(uint32_t capacity);

/* Frees the table (not the data it points to). NULL is a no-op. */
void pending_destroy(pending_t *p);

/* Stores data (borrowed, not NULL) and returns 0 with its ticket in *ticket (never 0), or
 * ERR_FULL when every slot is taken. */
int pending_add(pending_t *p, void *data, uint64_t *ticket);

/* Removes the entry of ticket and returns its data, or NULL if the ticket is stale (already
 * taken) or was never issued. */
void *pending_take(pending_t *p, uint64_t ticket);

/* Returns the data of ticket without removing it, or NULL if the ticket is stale or was never
 * issued. */
void *pending_get(const pending_t *p, uint64_t ticket);

/* Returns the number of entries in use. */
uint32_t pending_count(const pending_t *p);

#endif
