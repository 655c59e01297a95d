/* SPDX-License-Identifier: MIT */
#include "common/timesrc.h"

#include <time.h>

static int64_t clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t real_mono_ms(void *ctx)
{
    (void)ctx;
    return clock_ms(CLOCK_MONOTONIC);
}

static int64_t real_wall_ms(void *ctx)
{
    (void)ctx;
    return clock_ms(CLOCK_REALTIME);
}

static int64_t fake_mono_ms(void *ctx)
{
    return ((const timesrc_fake_t *)ctx)->mono;
}

static int64_t fake_wall_ms(void *ctx)
{
    return ((const timesrc_fake_t *)ctx)->wall;
}

timesrc_t timesrc_real(void)
{
    return (timesrc_t){.mono_ms = real_mono_ms, .wall_ms = real_wall_ms, .ctx = NULL};
}

timesrc_t timesrc_fake_bind(timesrc_fake_t *f)
{
    return (timesrc_t){.mono_ms = fake_mono_ms, .wall_ms = fake_wall_ms, .ctx = f};
}
