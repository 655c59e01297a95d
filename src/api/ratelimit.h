/* SPDX-License-Identifier: MIT */
/*
 * Exact sliding-window rate limiter (DESIGN §3): for each key, no more than max_requests
 * admissions in ANY interval of window_ms. Each tracked key keeps the times of its admissions
 * in the window; denied requests are not recorded. Keys live in lock-sharded fixed tables sized
 * at creation, so memory is bounded and the hot path never allocates.
 * Thread: any; the internal per-shard mutexes serialise only keys that share a shard.
 */
#ifndef AT_API_RATELIMIT_H
#define AT_API_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/timesrc.h"

#define RATELIMIT_KEY_MAX       16        /* bytes: an IPv6 address */
#define RATELIMIT_WINDOW_MAX_MS 86400000u /* one day; keeps 32-bit relative times exact */

typedef struct ratelimit ratelimit_t;

/* The outcome of one check. Transparent. */
typedef struct ratelimit_verdict {
    bool allowed;           /* admitted (and recorded) */
    bool at_capacity;       /* denied only because the table of clients is full */
    uint32_t limit;         /* max_requests */
    uint32_t remaining;     /* admissions left in the window after this request */
    uint32_t reset_s;       /* ceil seconds until the oldest counted admission leaves the window */
    uint32_t retry_after_s; /* when denied: ceil seconds until a request would be admitted, >= 1 */
} ratelimit_verdict_t;

/* Creates a limiter. max_requests 1..1000000, window_ms 1..RATELIMIT_WINDOW_MAX_MS,
 * max_clients >= 1; clock is copied and must stay valid. Returns NULL on bad arguments.
 * Thread: main. */
ratelimit_t *ratelimit_create(uint32_t max_requests, uint32_t window_ms, uint32_t max_clients,
                              const timesrc_t *clock);

/* Frees the limiter. NULL is a no-op. Thread: main, after every user has stopped. */
void ratelimit_destroy(ratelimit_t *rl);

/* Counts one request for key[0..key_len) (key_len 1..RATELIMIT_KEY_MAX) at the clock's
 * monotonic now and fills *out. When every slot of the key's shard holds a client whose window
 * is still live, a new key is denied with at_capacity set and retry_after_s until the earliest
 * such slot frees: the limit is never exceeded and memory never grows. Thread: any. */
void ratelimit_check(ratelimit_t *rl, const void *key, size_t key_len, ratelimit_verdict_t *out);

/* Returns the number of keys currently tracked (approximate while others check). Thread: any. */
size_t ratelimit_tracked(const ratelimit_t *rl);

/* Returns the bytes the limiter reserves per tracked client (entry plus table share). */
size_t ratelimit_bytes_per_client(const ratelimit_t *rl);

#endif
