/* SPDX-License-Identifier: MIT */
/*
 * The rabbitmq-c edge shared by both services: connect to one broker (brokerurl.h) with heartbeats
 * and a connection name, open channel 1, declare the topology of DESIGN §4 and §6a (durable
 * queue dead-lettering to <queue>.dlq, and the DLQ; classic or quorum queues), and translate
 * library errors to ERR_*.
 * Thread: an mq_conn_t belongs to the thread that connected it; rabbitmq-c connections must
 * never be shared between threads.
 */
#ifndef AT_COMMON_MQ_H
#define AT_COMMON_MQ_H

#include <amqp.h>
#include <stdint.h>

#include "common/brokerurl.h"
#include "common/config.h"
#include "common/err.h"

#define MQ_CHANNEL   1
#define MQ_QUEUE_MAX 200 /* bytes; leaves room for ".dlq" within AMQP's 255 */

typedef struct mq_conn mq_conn_t;

/* RABBITMQ_QUEUE_TYPE. */
typedef enum mq_queue_type {
    MQ_QUEUE_AUTO = 0, /* quorum for a new queue; an existing classic queue is kept as it is */
    MQ_QUEUE_CLASSIC,
    MQ_QUEUE_QUORUM,
} mq_queue_type_t;

/* What to declare. Borrowed. */
typedef struct mq_topology {
    const char *queue;       /* main queue; the DLQ is queue + ".dlq", of the same type */
    mq_queue_type_t type;    /* quorum: x-delivery-limit, at-least-once dead-lettering with
                                x-overflow reject-publish, and a quorum DLQ */
    uint32_t delivery_limit; /* quorum only: deliveries before a message is dead-lettered */
} mq_topology_t;

/* Connection parameters. Borrowed for the duration of mq_connect only. */
typedef struct mq_params {
    const brokerurl_t *broker;
    uint16_t heartbeat_s;  /* negotiated heartbeat; the owner must call into rabbitmq-c at
                              least every heartbeat_s / 2 */
    const char *conn_name; /* shown in the management UI, e.g. "activity-api publisher" */
    int timeout_ms;        /* TCP connect and RPC timeout */
    mq_topology_t topology;
} mq_params_t;

/* Connects, logs in, opens channel MQ_CHANNEL and declares the topology. On success stores an
 * owned connection in *out and returns 0. On failure returns ERR_UNAVAIL (broker unreachable or
 * closed the connection), ERR_INVAL (refused credentials) or ERR_PROTO (topology mismatch: an
 * existing queue with other arguments, err->field RABBITMQ_QUEUE_TYPE, the message naming the
 * queue, what this service declares and the broker's reason), with a message that never
 * contains the password. Thread: the future owner. */
int mq_connect(const mq_params_t *p, mq_conn_t **out, err_t *err);

/* Closes the channel and connection politely when still usable, then frees. NULL is a no-op. */
void mq_close(mq_conn_t *c);

/* Marks c as broken (socket error, connection.close received): mq_close then skips the polite
 * close handshake, which would block on a dead peer. */
void mq_conn_mark_broken(mq_conn_t *c);

/* Returns the raw rabbitmq-c state, borrowed, for the owner's publish/consume calls. */
amqp_connection_state_t mq_state(mq_conn_t *c);

/* Declares the DLQ and the durable queue of t on channel MQ_CHANNEL of state, storing in
 * *queue_type what the main queue is (MQ_QUEUE_AUTO resolves to quorum or classic). Returns 0 or
 * an ERR_* code (ERR_PROTO: an existing queue with other arguments). */
int mq_declare_topology(amqp_connection_state_t state, const mq_topology_t *t,
                        mq_queue_type_t *queue_type, err_t *err);

/* Returns the type of the main queue as declared by mq_connect. */
mq_queue_type_t mq_conn_queue_type(const mq_conn_t *c);

/* The topology the configuration asks for (RABBITMQ_QUEUE, RABBITMQ_QUEUE_TYPE, whose
 * "classic" and "quorum" name those types and anything else is auto, the configuration having
 * checked it, and RABBITMQ_DELIVERY_LIMIT), borrowing cfg's strings; and the name of a type. */
mq_topology_t mq_topology_of(const config_t *cfg);
const char *mq_queue_type_name(mq_queue_type_t t);

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
