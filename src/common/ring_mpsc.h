/* SPDX-License-Identifier: MIT */
/*
 * Bounded lock-free multi-producer single-consumer ring of fixed-size elements (Vyukov's
 * per-slot sequence scheme). Capacity is a power of two; counters run free and are compared by
 * difference. Elements are copied in and out by value, so no pointer into the ring escapes.
 * Thread: ring_mpsc_try_push from any thread; ring_mpsc_try_pop from exactly one consumer thread at
 * a time. Invariant: an element pushed by one producer is popped exactly once, in that producer's
 * order.
 */
#ifndef AT_COMMON_RING_MPSC_H
#define AT_COMMON_RING_MPSC_H

#include <stddef.h>

typedef struct ring_mpsc ring_mpsc_t;

/* Returns a ring holding at least capacity elements (rounded up to a power of two, minimum 2)
 * of elem_size bytes each, or NULL if capacity is 0, elem_size is 0 or the size overflows.
 * Owned by the caller; free with ring_mpsc_destroy. Thread: main. */
ring_mpsc_t *ring_mpsc_create(size_t capacity, size_t elem_size);

/* Frees the ring. NULL is a no-op. No thread may use the ring afterwards. */
void ring_mpsc_destroy(ring_mpsc_t *r);

/* Copies elem (elem_size bytes, borrowed) into the ring. Returns 0, or ERR_FULL without
 * blocking when the ring is full. Thread: any. */
int ring_mpsc_try_push(ring_mpsc_t *r, const void *elem);

/* Copies the oldest element into out (elem_size bytes). Returns 0, or ERR_EMPTY without
 * blocking. Thread: the single consumer. */
int ring_mpsc_try_pop(ring_mpsc_t *r, void *out);

/* Returns the capacity (a power of two). Thread: any. */
size_t ring_mpsc_capacity(const ring_mpsc_t *r);

/* Returns the number of elements, exact only when no thread is pushing or popping; otherwise
 * an approximation for metrics. Thread: any. */
size_t ring_mpsc_size_approx(const ring_mpsc_t *r);

#endif
