/* SPDX-License-Identifier: MIT */
#include "common/backoff.h"

/* splitmix64 (Steele, Lea and Flood): one add and a mix per draw, every seed usable. */
static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

void backoff_init(backoff_t *b, uint32_t base_ms, uint32_t max_ms, uint64_t seed)
{
    b->base_ms = base_ms;
    b->max_ms = max_ms;
    b->attempt = 0;
    b->rng = seed;
}

uint32_t backoff_next_ms(backoff_t *b)
{
    /* base_ms < 2^32 and the shift <= 32, so the product fits in 64 bits; a shift of 32
     * already exceeds any max_ms unless base_ms is 0. */
    uint32_t shift = b->attempt < 32 ? b->attempt : 32;
    uint64_t cap = (uint64_t)b->base_ms << shift;
    if (cap > b->max_ms)
        cap = b->max_ms;
    if (b->attempt < UINT32_MAX)
        b->attempt++;
    uint64_t low = cap / 2;
    /* The span is at most 2^31 + 1, so the modulo bias is below 2^-32. */
    return (uint32_t)(low + next_random(&b->rng) % (cap - low + 1));
}

void backoff_reset(backoff_t *b)
{
    b->attempt = 0;
}
