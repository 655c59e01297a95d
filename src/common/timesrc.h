/* SPDX-License-Identifier: MIT */
/*
 * An injectable clock: monotonic and wall time in milliseconds. Pure modules never read the clock
 * themselves; they take a timesrc_t, so tests can drive time with the settable fake.
 * Thread: any for the real clock; a fake is owned by the test that sets it.
 */
#ifndef AT_COMMON_TIMESRC_H
#define AT_COMMON_TIMESRC_H

#include <stdint.h>

typedef struct timesrc {
    int64_t (*mono_ms)(void *ctx); /* monotonic, arbitrary origin */
    int64_t (*wall_ms)(void *ctx); /* Unix epoch milliseconds */
    void *ctx;
} timesrc_t;

/* A settable clock for tests. Transparent: tests write mono and wall directly. */
typedef struct timesrc_fake {
    int64_t mono;
    int64_t wall;
} timesrc_fake_t;

/* Returns the process clock (CLOCK_MONOTONIC and CLOCK_REALTIME). */
timesrc_t timesrc_real(void);

/* Returns a clock reading f; f is borrowed and must outlive every user of the result. */
timesrc_t timesrc_fake_bind(timesrc_fake_t *f);

static inline int64_t timesrc_mono_ms(const timesrc_t *t)
{
    return t->mono_ms(t->ctx);
}

static inline int64_t timesrc_wall_ms(const timesrc_t *t)
{
    return t->wall_ms(t->ctx);
}

#endif
