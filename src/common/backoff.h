/* SPDX-License-Identifier: MIT */
/*
 * Capped exponential backoff with "equal jitter": the n-th delay is drawn from [cap/2, cap]
 * where cap = min(max_ms, base_ms * 2^n), so retries spread out yet never wait less than half
 * the nominal delay. Shared by the publisher, the consumer workers and the store.
 * Thread: a backoff_t is owned by one thread. Pure: the randomness comes from the seed.
 */
#ifndef AT_COMMON_BACKOFF_H
#define AT_COMMON_BACKOFF_H

#include <stdint.h>

/* Transparent so it can live inside its owner's struct. Thread: owner only. */
typedef struct backoff {
    uint32_t base_ms, max_ms, attempt;
    uint64_t rng;
} backoff_t;

/* Starts b at attempt 0 with the given delays; seed picks the jitter sequence (any value,
 * 0 included; give each owner a different one so they do not retry in step). */
void backoff_init(backoff_t *b, uint32_t base_ms, uint32_t max_ms, uint64_t seed);

/* Returns the next delay in ms, in [cap/2, cap] with cap = min(max_ms, base_ms << attempt)
 * computed without overflow, then counts the attempt (saturating). */
uint32_t backoff_next_ms(backoff_t *b);

/* Goes back to attempt 0 (after a success); the jitter sequence continues. */
void backoff_reset(backoff_t *b);

#endif
