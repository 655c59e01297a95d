/* SPDX-License-Identifier: MIT */
/*
 * The AMQP thread of activity-api: pops publish jobs from the MPSC ring, drives the publisher
 * state machine over the rabbitmq-c transport, and sleeps in poll(2) on the broker socket and
 * an eventfd when there is nothing to do — waking at least every heartbeat/2 so heartbeats
 * flow even when idle.
 * Thread: create/start/stop/join/destroy on main; amqp_thread_wake from any thread.
 */
#ifndef AT_API_AMQP_THREAD_H
#define AT_API_AMQP_THREAD_H

#include <stdint.h>

#include "api/publisher.h"
#include "common/brokerurl.h"
#include "common/config.h"
#include "common/err.h"
#include "common/ring_mpsc.h"

typedef struct amqp_thread amqp_thread_t;

/* Where outcomes go: complete for each job, then flush once per batch. Called on the amqp
 * thread. */
typedef struct amqp_thread_sink {
    pub_complete_fn complete;
    void (*flush)(void *ctx);
    void *ctx;
} amqp_thread_sink_t;

/* Creates the thread's state (not yet running) for the brokers of RABBITMQ_URL, parsed. cfg,
 * brokers and jobs are borrowed for its lifetime. Returns NULL with err set on failure.
 * Thread: main. */
amqp_thread_t *amqp_thread_create(const config_t *cfg, const brokerurl_list_t *brokers,
                                  ring_mpsc_t *jobs, err_t *err);

/* Creates the publisher, whose outcomes go to sink (copied), and starts the thread. Returns 0
 * or ERR_IO. Thread: main, once. */
int amqp_thread_start(amqp_thread_t *t, const amqp_thread_sink_t *sink, err_t *err);

/* Returns the publisher, for state and statistics (its atomics); NULL before
 * amqp_thread_start. Thread: any. */
const publisher_t *amqp_thread_publisher(const amqp_thread_t *t);

/* Wakes the thread if it sleeps; call after pushing a job. Thread: any. */
void amqp_thread_wake(void *t);

/* Asks the thread to finish: it keeps publishing what is in the ring and waiting for
 * confirmations until both are empty or deadline_ms (monotonic) passes, then every job left
 * completes PUB_UNAVAILABLE and the thread ends. Thread: main. */
void amqp_thread_stop(amqp_thread_t *t, int64_t deadline_ms);

/* Waits for the thread to end. Thread: main. */
void amqp_thread_join(amqp_thread_t *t);

/* Frees everything (the connection is closed by the thread itself). NULL is a no-op. */
void amqp_thread_destroy(amqp_thread_t *t);

/* Returns 1 if the thread saw a fatal error that should end the process (the queue exists with
 * a different topology at the first connection), else 0. Thread: any. */
int amqp_thread_fatal(const amqp_thread_t *t);

#endif
