/* SPDX-License-Identifier: MIT */
#include "common/failover.h"

#include "common/err.h"

void failover_init(failover_t *f, unsigned count, uint32_t base_ms, uint32_t max_ms, uint64_t seed)
{
    ASSERT(count >= 1);
    *f = (failover_t){.count = count, .up_since_ms = -1};
    backoff_init(&f->backoff, base_ms, max_ms, seed);
}

unsigned failover_current(const failover_t *f)
{
    return f->current;
}

void failover_connected(failover_t *f, int64_t now_ms)
{
    /* The round goes on until the connection has lasted: a broker that accepts connections and
     * drops them at once counts as a failure of the round. */
    f->up_since_ms = now_ms;
}

void failover_tick(failover_t *f, int64_t now_ms)
{
    if (f->up_since_ms < 0 || now_ms - f->up_since_ms < (int64_t)f->backoff.max_ms)
        return;
    f->failed = 0;
    backoff_reset(&f->backoff);
}

uint32_t failover_failed(failover_t *f, int64_t now_ms)
{
    failover_tick(f, now_ms); /* a connection lost after lasting its cap starts the backoff over */
    f->up_since_ms = -1;
    f->failed++;
    if (f->failed < f->count) {
        f->current = (f->current + 1) % f->count;
        return 0;
    }
    f->failed = 0;
    f->current = 0;
    return backoff_next_ms(&f->backoff);
}

bool failover_in_round(const failover_t *f)
{
    return f->failed > 0;
}
