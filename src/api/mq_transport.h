/* SPDX-License-Identifier: MIT */
/*
 * The publisher's real transport: rabbitmq-c behind pub_transport_t. Publishes persistent,
 * mandatory messages on a confirm-mode channel and turns incoming frames into pub_event_t.
 * Thread: amqp (owner only).
 */
#ifndef AT_API_MQ_TRANSPORT_H
#define AT_API_MQ_TRANSPORT_H

#include <stdbool.h>

#include "api/publisher.h"
#include "common/mq.h"

typedef struct mq_transport mq_transport_t;

/* Creates a disconnected transport for the brokers of a list; connect(ctx, i) tries broker i.
 * brokers, and the strings params points to, are borrowed for the transport's lifetime; params
 * itself is copied (its broker member is ignored). Thread: main. */
mq_transport_t *mq_transport_create(const brokerurl_list_t *brokers, const mq_params_t *params);

/* Returns the type of the main queue of the current connection (the last one made). */
mq_queue_type_t mq_transport_queue_type(const mq_transport_t *t);

/* Frees the transport, closing any connection. NULL is a no-op. */
void mq_transport_destroy(mq_transport_t *t);

/* Returns the pub_transport_t view of t (t is borrowed by it). */
pub_transport_t mq_transport_vtable(mq_transport_t *t);

/* Returns the socket to wait on, or -1 when disconnected. */
int mq_transport_fd(const mq_transport_t *t);

/* Returns whether rabbitmq-c already holds unread frames or bytes, in which case the caller
 * must not sleep on the socket. */
bool mq_transport_has_buffered(const mq_transport_t *t);

#endif
