/* SPDX-License-Identifier: MIT */
/*
 * The consumer's broker edge: one rabbitmq-c connection and channel (through common/mq.c) with
 * basic.qos(prefetch) and manual acks. It implements the batch's broker interface
 * (batch_broker_t: ack, reject, nack, pause = basic.cancel, resume = basic.consume) and gives
 * the worker connect, drop, receive-one-with-timeout and cancel. Every rabbitmq-c call of the
 * consumer is made here; library errors become ERR_* here (and in common/mq.c) only.
 * Thread: a channel_t belongs to the worker thread that created it (rabbitmq-c connections are
 * never shared); every function asserts it except channel_destroy.
 * Invariant: while connected and consuming, deliveries arrive in tag order on one channel, so the
 * batch's multiple ack never covers a delivery it has not seen.
 */
#ifndef AT_CONSUMER_CHANNEL_H
#define AT_CONSUMER_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/mq.h"
#include "common/err.h"
#include "consumer/batch.h"

typedef struct channel channel_t;

/* What channel_receive saw. */
typedef enum channel_rx_kind {
    CHANNEL_RX_NONE,      /* nothing (the wait ended, or a frame that needs nothing) */
    CHANNEL_RX_DELIVERY,  /* a message: tag, body, len */
    CHANNEL_RX_BLOCKED,   /* the broker blocked the connection (resource alarm) */
    CHANNEL_RX_UNBLOCKED, /* ... and lifted the block */
} channel_rx_kind_t;

/* One thing received. body is borrowed from the channel and stays valid until the next
 * channel_receive, channel_drop or channel_destroy. Thread: the owner. */
typedef struct channel_rx {
    channel_rx_kind_t kind;
    uint64_t tag;
    const char *body;
    size_t len;
} channel_rx_t;

/* Returns an owned, unconnected channel for the broker and queue of cfg (borrowed: frozen for
 * the life of the channel) whose connection the broker shows as conn_name (copied, cut to 63
 * bytes). The calling thread becomes the owner. Thread: the worker. */
channel_t *channel_create(const config_t *cfg, const char *conn_name);

/* Drops the connection politely when it is still usable and frees c. NULL is a no-op.
 * Thread: the owner, or main after the owner was joined. */
void channel_destroy(channel_t *c);

/* Connects to broker (borrowed), declares the topology, sets basic.qos(CONSUMER_PREFETCH) and,
 * when consume is true, starts consuming (a paused batch connects with consume false and
 * resumes later). Returns 0, or as mq_connect: ERR_UNAVAIL (unreachable, closed), ERR_INVAL
 * (refused credentials), ERR_PROTO (topology mismatch), with err set; c is then not
 * connected. */
int channel_connect(channel_t *c, const brokerurl_t *broker, bool consume, err_t *err);

/* Returns the type of the main queue of the current connection. */
mq_queue_type_t channel_queue_type(const channel_t *c);

/* Closes the connection (skipping the polite close handshake when broken: a dead peer would
 * block it) and forgets the consumer. The broker requeues every unacked delivery by itself.
 * A no-op when not connected. */
void channel_drop(channel_t *c, bool broken);

/* Returns true between a successful channel_connect and channel_drop. */
bool channel_is_connected(const channel_t *c);

/* Waits at most wait_ms (0 = only what is already there) for one frame and reports it in *rx;
 * services the connection's heartbeats meanwhile. Returns 0 (rx->kind says what came), or
 * ERR_UNAVAIL / ERR_TIMEOUT / ERR_PROTO with err set when the connection or the channel is gone
 * (closed by the broker, consumer cancelled by the broker, socket error): then channel_drop and
 * reconnect. ERR_CLOSED when not connected. */
int channel_receive(channel_t *c, int64_t wait_ms, channel_rx_t *rx, err_t *err);

/* Returns true when rabbitmq-c already holds received frames (after channel_cancel, the
 * deliveries that arrived before cancel-ok): channel_receive(c, 0, ...) returns them. */
bool channel_has_buffered(const channel_t *c);

/* Stops consuming (basic.cancel, waiting for cancel-ok); deliveries received before cancel-ok
 * stay buffered for channel_receive. Returns 0 (also when not consuming) or ERR_* with err set. */
int channel_cancel(channel_t *c, err_t *err);

/* Returns the batch_broker_t view of c (ctx = c, borrowed). Its calls fail with ERR_UNAVAIL
 * when not connected; each failure's detail is also kept for channel_last_err. */
batch_broker_t channel_broker(channel_t *c);

/* Returns the detail of the last failed batch_broker_t call (borrowed; overwritten by the next
 * failure). */
const err_t *channel_last_err(const channel_t *c);

#endif
