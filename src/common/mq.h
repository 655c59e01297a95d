/* SPDX-License-Identifier: MIT */
/*
 * The rabbitmq-c edge shared by both services: connect from an amqp:// URL with heartbeats and
 * a connection name, open channel 1, declare the topology of DESIGN §4 (durable queue with
 * dead-lettering to <queue>.dlq, and the durable DLQ), and translate library errors to ERR_*.
 * Thread: an mq_conn_t belongs to the thread that connected it; rabbitmq-c connections must
 * never be shared between threads.
 */
#ifndef AT_COMMON_MQ_H
#define AT_COMMON_MQ_H

#include <amqp.h>
#include <stdint.h>

#include "common/err.h"

#define MQ_CHANNEL   1
#define MQ_QUEUE_MAX 200 /* bytes; leaves room for ".dlq" within AMQP's 255 */

typedef struct mq_conn mq_conn_t;

/* Connection parameters. Borrowed for the duration of mq_connect only. */
typedef struct mq_params {
    const char *url;       /* amqp://user:pass@host:port/vhost */
    const char *queue;     /* main queue; the DLQ is queue + ".dlq" */
    uint16_t heartbeat_s;  /* negotiated heartbeat; the owner must call into rabbitmq-c at
                              least every heartbeat_s / 2 */
    const char *conn_name; /* shown in the management UI, e.g. "activity-api publisher" */
    int timeout_ms;        /* TCP connect and RPC timeout */
} mq_params_t;

/* Connects, logs in, opens channel MQ_CHANNEL and declares the topology. On success stores an
 * owned connection in *out and returns 0. On failure returns ERR_UNAVAIL (broker unreachable or
 * closed the connection), ERR_INVAL (bad URL, refused credentials) or ERR_PROTO (topology
 * mismatch: an existing queue with other arguments), with a message that never contains the
 * password. Thread: the future owner. */
int mq_connect(const mq_params_t *p, mq_conn_t **out, err_t *err);

/* Closes the channel and connection politely when still usable, then frees. NULL is a no-op. */
void mq_close(mq_conn_t *c);

/* Marks c as broken (socket error, connection.close received): mq_close then skips the polite
 * close handshake, which would block on a dead peer. */
void mq_conn_mark_broken(mq_conn_t *c);

/* Returns the raw rabbitmq-c state, borrowed, for the owner's publish/consume calls. */
amqp_connection_state_t mq_state(mq_conn_t *c);

/* Declares the durable queue and its DLQ on channel ch of state. Returns 0 or an ERR_* code. */
int mq_declare_topology(amqp_connection_state_t state, amqp_channel_t ch, const char *queue,
                        err_t *err);

/* Translates a library status (AMQP_STATUS_*) to ERR_* with "what: <library message>". */
int mq_status_err(int status, const char *what, err_t *err);

/* Translates an RPC reply to 0 (normal) or ERR_* with the server's reply text. */
int mq_reply_err(amqp_rpc_reply_t r, const char *what, err_t *err);

/* Handles a method frame the broker sent unasked on c (borrowed, as is m). For connection.close
 * and channel.close: answers close-ok, marks c broken (mq_close then skips the polite close)
 * and returns ERR_UNAVAIL with "<connection|channel> closed by broker: <code> <text>". For any
 * other method does nothing and returns 0. Thread: the owner of c. */
int mq_method_err(mq_conn_t *c, const amqp_method_t *m, err_t *err);

#endif
