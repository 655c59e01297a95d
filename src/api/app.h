/* SPDX-License-Identifier: MIT */
/*
 * What the API's routes share: the frozen configuration and the long-lived objects main creates
 * before the loops start (rate limiter, trusted proxies, the job ring, the publisher's state and
 * statistics, the server for metrics). A value type with no functions; main fills it and hands
 * it to every route as its context.
 * Thread: frozen before the loops start, except the atomics, which any thread reads and main
 * writes.
 */
#ifndef AT_API_APP_H
#define AT_API_APP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/client_addr.h"
#include "api/publisher.h"
#include "api/ratelimit.h"
#include "api/server.h"
#include "common/brokerurl.h"
#include "common/config.h"
#include "common/ring_mpsc.h"
#include "common/timesrc.h"

/* Transparent. Thread: frozen, except draining (main writes, any thread reads). */
typedef struct app {
    const config_t *cfg;
    const brokerurl_list_t *brokers; /* RABBITMQ_URL, parsed */
    struct apikeys *keys;            /* NULL when no key is configured; thread: any (lock-free) */
    struct inflate **inflaters;      /* one per loop, by loop index; thread: that loop */
    ratelimit_t *ratelimit;
    const client_cidrs_t *trusted;
    ring_mpsc_t *jobs;            /* loops push, the amqp thread pops */
    const publisher_t *publisher; /* state and statistics only (atomics) */
    const server_t *server;       /* the loops' metrics, for /metrics */
    timesrc_t clock;
    _Atomic bool draining; /* set by main at the first signal: /ready answers 503 */
    int64_t started_ms;
    char ratelimit_policy[48]; /* the RateLimit-Policy value, fixed by config */
} app_t;

#endif
