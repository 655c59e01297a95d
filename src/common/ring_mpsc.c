/* SPDX-License-Identifier: MIT */
/*
 * DESIGN
 *
 * Dmitry Vyukov's bounded MPMC queue, used with a single consumer. Each slot carries a sequence
 * number that says whose turn it is: a slot at index (pos & mask) is free for the producer that
 * claims position pos when seq == pos, and holds that producer's element when seq == pos + 1.
 * Popping hands it to the producer of the next lap by storing seq = pos + capacity.
 *
 * Producers race for positions with a CAS on enqueue_pos; the winner owns the slot until it
 * publishes the element with a release store of seq. The consumer owns dequeue_pos outright (no
 * CAS) and reads a slot only after an acquire load of its seq shows the element is complete. So
 * the only data two threads ever touch at the same time are the two counters and the sequence
 * numbers; element bytes are handed over by the release/acquire pairs on seq.
 *
 * Counters run free and wrap at SIZE_MAX; every comparison is a difference converted to a signed
 * type, which is correct as long as the capacity stays below half the counter range (checked at
 * creation). Capacity is a power of two, minimum 2: with one slot, "full at pos" (seq == pos + 1)
 * and "free for pos + 1" (seq == pos + capacity) would be the same value.
 *
 * The queue is not strictly lock-free for the consumer: a producer that claimed position pos and
 * was descheduled before publishing hides the elements behind it until it resumes, and pop
 * reports ERR_EMPTY meanwhile. Producers never wait for each other.
 *
 * Layout: enqueue_pos (written by every producer) and dequeue_pos (written by the consumer) sit
 * on separate 64-byte lines, and the frozen fields on a third, so a push never invalidates the
 * consumer's line and vice versa. The slot array follows in the same allocation, starting on a
 * cache line; each slot is padded to a multiple of alignof(max_align_t) so the sequence number is
 * naturally aligned and an element of any type could be stored in place. Slots are not padded to
 * a full line: the API's publish jobs span many lines, so neighbours share at most the line at
 * each edge, and small elements would pay up to 4x the memory.
 */
#include "common/ring_mpsc.h"

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/err.h"

#define CACHE_LINE 64

/* Thread: any; seq is the only shared field, data is owned by whoever seq says. */
struct slot {
    _Atomic size_t seq;
    alignas(max_align_t) unsigned char data[];
};

/* Thread: any; enqueue_pos shared by producers, dequeue_pos written by the consumer only, the
 * rest frozen after ring_mpsc_create. */
struct ring_mpsc {
    alignas(CACHE_LINE) _Atomic size_t enqueue_pos;
    alignas(CACHE_LINE) _Atomic size_t dequeue_pos;
#ifndef NDEBUG
    _Atomic bool popping; /* catches a second consumer in debug builds */
#endif
    alignas(CACHE_LINE) size_t mask;
    size_t elem_size;
    size_t stride;
    alignas(CACHE_LINE) unsigned char slots[];
};

static inline struct slot *slot_at(const ring_mpsc_t *r, size_t pos)
{
    return (struct slot *)(void *)((unsigned char *)r->slots + (pos & r->mask) * r->stride);
}

/* The signed distance a - b between two free-running counters. */
static inline ptrdiff_t counter_diff(size_t a, size_t b)
{
    return (ptrdiff_t)(a - b);
}

static size_t round_up(size_t n, size_t align)
{
    return (n + align - 1) & ~(align - 1);
}

ring_mpsc_t *ring_mpsc_create(size_t capacity, size_t elem_size)
{
    if (capacity == 0 || elem_size == 0)
        return NULL;
    /* Differences of counters must fit a ptrdiff_t, so the capacity stays below 2^(bits-2). */
    if (capacity > (SIZE_MAX >> 2))
        return NULL;
    size_t cap = 2;
    while (cap < capacity)
        cap <<= 1;

    const size_t header = offsetof(struct slot, data);
    if (elem_size > SIZE_MAX - header - alignof(max_align_t))
        return NULL;
    size_t stride = round_up(header + elem_size, alignof(max_align_t));
    if (stride > (SIZE_MAX - sizeof(ring_mpsc_t) - CACHE_LINE) / cap)
        return NULL;
    size_t total = round_up(sizeof(ring_mpsc_t) + cap * stride, CACHE_LINE);

    ring_mpsc_t *r = aligned_alloc(CACHE_LINE, total);
    if (r == NULL)
        PANIC("out of memory allocating a ring of %zu bytes", total);
    r->mask = cap - 1;
    r->elem_size = elem_size;
    r->stride = stride;
    for (size_t i = 0; i < cap; i++)
        atomic_init(&slot_at(r, i)->seq, i);
    atomic_init(&r->enqueue_pos, 0);
    atomic_init(&r->dequeue_pos, 0);
#ifndef NDEBUG
    atomic_init(&r->popping, false);
#endif
    return r;
}

void ring_mpsc_destroy(ring_mpsc_t *r)
{
    free(r);
}

int ring_mpsc_try_push(ring_mpsc_t *r, const void *elem)
{
    /* relaxed: only a hint where to start; the CAS below and the acquire on seq decide. */
    size_t pos = atomic_load_explicit(&r->enqueue_pos, memory_order_relaxed);
    struct slot *s;
    for (;;) {
        s = slot_at(r, pos);
        /* acquire: pairs with the release store of seq in ring_mpsc_try_pop, so the consumer's read
         * of this slot's previous element happens before our write below. */
        size_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
        ptrdiff_t dif = counter_diff(seq, pos);
        if (dif == 0) {
            /* relaxed (success and failure): the CAS only arbitrates between producers; the
             * slot's contents are ordered by the seq acquire above and release below. On
             * failure pos is reloaded with the winner's value and we retry. */
            if (atomic_compare_exchange_weak_explicit(&r->enqueue_pos, &pos, pos + 1,
                                                      memory_order_relaxed, memory_order_relaxed))
                break;
        } else if (dif < 0) {
            /* The slot still holds the element of the previous lap: the ring is full. */
            return ERR_FULL;
        } else {
            /* Another producer took pos already; start again from the current position.
             * relaxed: a hint again, validated by the seq acquire. */
            pos = atomic_load_explicit(&r->enqueue_pos, memory_order_relaxed);
        }
    }
    memcpy(s->data, elem, r->elem_size);
    /* release: pairs with the acquire load of seq in ring_mpsc_try_pop, publishing the bytes. */
    atomic_store_explicit(&s->seq, pos + 1, memory_order_release);
    return 0;
}

int ring_mpsc_try_pop(ring_mpsc_t *r, void *out)
{
#ifndef NDEBUG
    bool other_consumer = atomic_exchange(&r->popping, true);
    ASSERT(!other_consumer);
#endif
    int rc = 0;
    /* relaxed: dequeue_pos is written only by this (the single) consumer thread. */
    size_t pos = atomic_load_explicit(&r->dequeue_pos, memory_order_relaxed);
    struct slot *s = slot_at(r, pos);
    /* acquire: pairs with the release store of seq in ring_mpsc_try_push, so the element's bytes
     * are visible before we copy them out. */
    size_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
    if (counter_diff(seq, pos + 1) < 0) {
        rc = ERR_EMPTY;
        goto out;
    }
    /* With one consumer, nobody can have moved the slot past our position. */
    ASSERT(seq == pos + 1);
    memcpy(out, s->data, r->elem_size);
    /* release: pairs with the acquire load of seq in ring_mpsc_try_push, so our read of the bytes
     * happens before the next lap's producer overwrites them. */
    atomic_store_explicit(&s->seq, pos + r->mask + 1, memory_order_release);
    /* relaxed: read back only by this thread and, as an estimate, by ring_mpsc_size_approx. */
    atomic_store_explicit(&r->dequeue_pos, pos + 1, memory_order_relaxed);
out:
#ifndef NDEBUG
    atomic_store(&r->popping, false);
#endif
    return rc;
}

size_t ring_mpsc_capacity(const ring_mpsc_t *r)
{
    return r->mask + 1;
}

size_t ring_mpsc_size_approx(const ring_mpsc_t *r)
{
    /* relaxed (both): a snapshot for metrics that pairs with nothing; the two loads are not
     * taken at one instant, so the result is clamped to [0, capacity]. */
    size_t deq = atomic_load_explicit(&r->dequeue_pos, memory_order_relaxed);
    size_t enq = atomic_load_explicit(&r->enqueue_pos, memory_order_relaxed);
    ptrdiff_t n = counter_diff(enq, deq);
    if (n <= 0)
        return 0;
    if ((size_t)n > r->mask + 1)
        return r->mask + 1;
    return (size_t)n;
}
