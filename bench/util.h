/* SPDX-License-Identifier: MIT */
/*
 * What the benchmark programs share: number arguments, a monotonic clock in seconds, and a stop
 * flag set by SIGINT/SIGTERM (header only: each program links just the library it measures).
 * Thread: main (the flag is written by the signal handler).
 */
#ifndef AT_BENCH_UTIL_H
#define AT_BENCH_UTIL_H

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Parses s as a decimal integer in [min, max] into *out. Returns 0, or -1 for anything else
 * (empty, trailing bytes, a sign, out of range). */
static inline int cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Seconds on the monotonic clock. */
static inline double bench_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Set once SIGINT or SIGTERM arrived, after bench_catch_stop_signals. */
static volatile sig_atomic_t bench_stop_requested;

static void bench_on_stop_signal(int sig)
{
    (void)sig;
    bench_stop_requested = 1;
}

/* SIGINT and SIGTERM set bench_stop_requested (the program finishes cleanly); SIGPIPE is
 * ignored. */
static inline void bench_catch_stop_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = bench_on_stop_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

#endif
