/* SPDX-License-Identifier: MIT */
/*
 * Which broker of RABBITMQ_URL's list to try next, and when (DESIGN §6a): connect to the first
 * that answers; when an attempt fails or a connection is lost, move to the next one at once;
 * once every broker of the list failed in a row (a round), wait with the capped backoff and start
 * again from the first. A connection ends the round, and starts the backoff over, only once it
 * has lasted the backoff's cap, so brokers that accept connections and drop them at once are
 * retried ever more slowly. With one
 * broker this is the plain reconnect backoff. Shared by the API's publisher and the consumer's
 * workers.
 * Thread: a failover_t is owned by one thread. Pure: time is passed in, jitter comes from a seed.
 */
#ifndef AT_COMMON_FAILOVER_H
#define AT_COMMON_FAILOVER_H

#include <stdbool.h>
#include <stdint.h>

#include "common/backoff.h"

/* Transparent so it can live inside its owner's struct. Thread: owner only. */
typedef struct failover {
    unsigned count;      /* brokers in the list, >= 1 */
    unsigned current;    /* the broker in use, or to try next */
    unsigned failed;     /* consecutive failures in this round */
    int64_t up_since_ms; /* when the connection in use was made; -1 when there is none */
    backoff_t backoff;
} failover_t;

/* Starts at broker 0 of count (>= 1) with the backoff's delays and jitter seed. */
void failover_init(failover_t *f, unsigned count, uint32_t base_ms, uint32_t max_ms, uint64_t seed);

/* Returns the index of the broker to connect to (or connected to). */
unsigned failover_current(const failover_t *f);

/* A connection to the current broker was made at now_ms. It ends the round (and starts the
 * backoff over) only once it has lasted the backoff's cap (failover_tick). */
void failover_connected(failover_t *f, int64_t now_ms);

/* While connected: once the connection has lasted the backoff's cap, ends the round and starts
 * the backoff over. */
void failover_tick(failover_t *f, int64_t now_ms);

/* An attempt on the current broker failed, or its connection was lost, at now_ms. Moves to the
 * next broker and returns the delay in ms before trying it: 0 while the round has brokers left
 * to try, else (every broker failed in a row) a backoff delay, the round then starting again at
 * broker 0. */
uint32_t failover_failed(failover_t *f, int64_t now_ms);

/* Returns true while a round is under way: the last failure left brokers of the list untried, so
 * the next attempt is immediate. */
bool failover_in_round(const failover_t *f);

#endif
