/* SPDX-License-Identifier: MIT */
/*
 * DESIGN. rabbitmq-c has no background thread: heartbeats are sent and checked only inside its
 * calls, so the worker calls channel_receive at least every heartbeat/2 and this module never
 * blocks longer than the wait it is given (RPCs are bounded by CONNECT_TIMEOUT_MS).
 * amqp_consume_message returns AMQP_STATUS_UNEXPECTED_STATE when the next frame is not a
 * delivery; that frame is then read here: connection.close and channel.close go through
 * mq_method_err (close-ok, broken, ERR_UNAVAIL), a broker-side basic.cancel (queue deleted)
 * ends the connection too, and connection.blocked/unblocked are reported to the worker.
 * Pausing is basic.cancel: rabbitmq-c queues the deliveries that arrive before cancel-ok, and
 * they are dropped unacked because the batch then nacks every outstanding tag with requeue.
 */
#include "consumer/channel.h"

#include <amqp.h>
#include <amqp_framing.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "common/mq.h"
#include "common/owner.h"

#define CONNECT_TIMEOUT_MS 5000

/* Thread: worker (owner only). */
struct channel {
    owner_t owner;
    const config_t *cfg;
    char conn_name[64];
    mq_conn_t *conn;
    amqp_connection_state_t st; /* NULL when not connected */
    amqp_bytes_t consumer_tag;  /* malloc'd; .bytes NULL when not consuming */
    amqp_envelope_t env;        /* the last delivery, while has_env */
    bool has_env;
    err_t last_err; /* detail of the last failed batch_broker_t call */
};

static struct timeval ms_to_tv(int64_t ms)
{
    if (ms < 0)
        ms = 0;
    return (struct timeval){.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
}

static void release_envelope(channel_t *c)
{
    if (c->has_env) {
        amqp_destroy_envelope(&c->env);
        c->has_env = false;
    }
}

static void forget_consumer(channel_t *c)
{
    if (c->consumer_tag.bytes != NULL)
        amqp_bytes_free(c->consumer_tag);
    c->consumer_tag = amqp_empty_bytes;
}

/* channel_drop without the owner check, for channel_destroy. */
static void drop_conn(channel_t *c, bool broken)
{
    release_envelope(c);
    forget_consumer(c);
    if (c->conn == NULL)
        return;
    if (broken)
        mq_conn_mark_broken(c->conn);
    mq_close(c->conn);
    c->conn = NULL;
    c->st = NULL;
}

channel_t *channel_create(const config_t *cfg, const char *conn_name)
{
    channel_t *c = xcalloc(1, sizeof(*c));
    owner_bind(&c->owner);
    c->cfg = cfg;
    snprintf(c->conn_name, sizeof(c->conn_name), "%s", conn_name);
    c->consumer_tag = amqp_empty_bytes;
    return c;
}

void channel_destroy(channel_t *c)
{
    if (c == NULL)
        return;
    drop_conn(c, false);
    free(c);
}

static int consume_start(channel_t *c, err_t *err)
{
    amqp_basic_consume_ok_t *ok =
        amqp_basic_consume(c->st, MQ_CHANNEL, amqp_cstring_bytes(c->cfg->rabbitmq_queue),
                           amqp_empty_bytes, 0, /*no_ack*/ 0, 0, amqp_empty_table);
    int rc = mq_reply_err(amqp_get_rpc_reply(c->st), "basic.consume", err);
    if (rc < 0)
        return rc;
    c->consumer_tag = amqp_bytes_malloc_dup(ok->consumer_tag);
    return 0;
}

int channel_connect(channel_t *c, const brokerurl_t *broker, bool consume, err_t *err)
{
    ASSERT_OWNER(&c->owner);
    ASSERT(c->conn == NULL);
    const config_t *cfg = c->cfg;
    mq_params_t p = {.broker = broker,
                     .heartbeat_s = (uint16_t)cfg->amqp_heartbeat_s,
                     .conn_name = c->conn_name,
                     .timeout_ms = CONNECT_TIMEOUT_MS,
                     .topology = mq_topology_of(cfg)};
    int rc = mq_connect(&p, &c->conn, err);
    if (rc < 0)
        return rc;
    c->st = mq_state(c->conn);
    amqp_basic_qos(c->st, MQ_CHANNEL, 0, (uint16_t)c->cfg->consumer_prefetch, 0);
    rc = mq_reply_err(amqp_get_rpc_reply(c->st), "basic.qos", err);
    if (rc == 0 && consume)
        rc = consume_start(c, err);
    if (rc < 0)
        channel_drop(c, true);
    return rc;
}

mq_queue_type_t channel_queue_type(const channel_t *c)
{
    ASSERT_OWNER(&c->owner);
    return c->conn != NULL ? mq_conn_queue_type(c->conn) : MQ_QUEUE_AUTO;
}

void channel_drop(channel_t *c, bool broken)
{
    ASSERT_OWNER(&c->owner);
    drop_conn(c, broken);
}

bool channel_is_connected(const channel_t *c)
{
    ASSERT_OWNER(&c->owner);
    return c->conn != NULL;
}

/* A frame other than a delivery is next: read it. Returns 0 for frames that need nothing. */
static int other_frame(channel_t *c, channel_rx_t *rx, err_t *err)
{
    amqp_frame_t f;
    struct timeval tv = ms_to_tv(CONNECT_TIMEOUT_MS);
    int s = amqp_simple_wait_frame_noblock(c->st, &f, &tv);
    if (s != AMQP_STATUS_OK)
        return mq_status_err(s, "read frame", err);
    if (f.frame_type != AMQP_FRAME_METHOD)
        return 0;
    switch (f.payload.method.id) {
    case AMQP_BASIC_CANCEL_METHOD:
        return err_set(err, ERR_UNAVAIL, NULL, "consumer cancelled by broker");
    case AMQP_CONNECTION_BLOCKED_METHOD:
        rx->kind = CHANNEL_RX_BLOCKED;
        return 0;
    case AMQP_CONNECTION_UNBLOCKED_METHOD:
        rx->kind = CHANNEL_RX_UNBLOCKED;
        return 0;
    default: /* connection.close and channel.close end the connection; the rest is ignored */
        return mq_method_err(c->conn, &f.payload.method, err);
    }
}

int channel_receive(channel_t *c, int64_t wait_ms, channel_rx_t *rx, err_t *err)
{
    ASSERT_OWNER(&c->owner);
    release_envelope(c);
    *rx = (channel_rx_t){.kind = CHANNEL_RX_NONE};
    if (c->st == NULL)
        return err_set(err, ERR_CLOSED, NULL, "not connected to the broker");
    struct timeval tv = ms_to_tv(wait_ms);
    amqp_maybe_release_buffers(c->st);
    amqp_rpc_reply_t r = amqp_consume_message(c->st, &c->env, &tv, 0);
    if (r.reply_type == AMQP_RESPONSE_NORMAL) {
        c->has_env = true;
        *rx = (channel_rx_t){.kind = CHANNEL_RX_DELIVERY,
                             .tag = c->env.delivery_tag,
                             .body = c->env.message.body.bytes,
                             .len = c->env.message.body.len};
        return 0;
    }
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT)
        return 0;
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
        r.library_error == AMQP_STATUS_UNEXPECTED_STATE)
        return other_frame(c, rx, err);
    return mq_reply_err(r, "consume", err);
}

bool channel_has_buffered(const channel_t *c)
{
    ASSERT_OWNER(&c->owner);
    return c->st != NULL && amqp_frames_enqueued(c->st);
}

int channel_cancel(channel_t *c, err_t *err)
{
    ASSERT_OWNER(&c->owner);
    if (c->st == NULL || c->consumer_tag.bytes == NULL)
        return 0;
    amqp_basic_cancel(c->st, MQ_CHANNEL, c->consumer_tag);
    forget_consumer(c);
    return mq_reply_err(amqp_get_rpc_reply(c->st), "basic.cancel", err);
}

const err_t *channel_last_err(const channel_t *c)
{
    ASSERT_OWNER(&c->owner);
    return &c->last_err;
}

/* ---- batch_broker_t ----------------------------------------------------------------------- */

/* Keeps the detail of a failed broker call for channel_last_err and copies it to err. */
static int broker_result(channel_t *c, int rc, err_t *err)
{
    if (rc < 0 && err != NULL)
        *err = c->last_err;
    return rc;
}

/* Translates the status of a basic.ack/nack/reject (AMQP_STATUS_CONNECTION_CLOSED when there
 * was no connection to send it on). */
static int settle_result(channel_t *c, int status, const char *what, err_t *err)
{
    return broker_result(c, mq_status_err(status, what, &c->last_err), err);
}

/* Returns the connection state to send on, or NULL when not connected. */
static amqp_connection_state_t sender(const channel_t *c)
{
    ASSERT_OWNER(&c->owner);
    return c->st;
}

static int b_ack(void *ctx, uint64_t tag, bool multiple, err_t *err)
{
    channel_t *c = ctx;
    amqp_connection_state_t st = sender(c);
    int s = st ? amqp_basic_ack(st, MQ_CHANNEL, tag, multiple) : AMQP_STATUS_CONNECTION_CLOSED;
    return settle_result(c, s, "basic.ack", err);
}

static int b_reject(void *ctx, uint64_t tag, bool requeue, err_t *err)
{
    channel_t *c = ctx;
    amqp_connection_state_t st = sender(c);
    int s = st ? amqp_basic_reject(st, MQ_CHANNEL, tag, requeue) : AMQP_STATUS_CONNECTION_CLOSED;
    return settle_result(c, s, "basic.reject", err);
}

static int b_nack(void *ctx, uint64_t tag, bool multiple, bool requeue, err_t *err)
{
    channel_t *c = ctx;
    amqp_connection_state_t st = sender(c);
    int s = st ? amqp_basic_nack(st, MQ_CHANNEL, tag, multiple, requeue)
               : AMQP_STATUS_CONNECTION_CLOSED;
    return settle_result(c, s, "basic.nack", err);
}

static int b_pause(void *ctx, err_t *err)
{
    channel_t *c = ctx;
    if (sender(c) == NULL)
        return settle_result(c, AMQP_STATUS_CONNECTION_CLOSED, "basic.cancel", err);
    int rc = channel_cancel(c, &c->last_err);
    if (rc < 0)
        return broker_result(c, rc, err);
    /* Deliveries that arrived before cancel-ok wait in rabbitmq-c's frame queue. Drop them
     * unacked: the nack that follows requeues every outstanding tag of the channel. */
    while (amqp_frames_enqueued(c->st)) {
        amqp_frame_t f;
        if (amqp_simple_wait_frame(c->st, &f) != AMQP_STATUS_OK)
            break;
    }
    amqp_maybe_release_buffers(c->st);
    return 0;
}

static int b_resume(void *ctx, err_t *err)
{
    channel_t *c = ctx;
    if (sender(c) == NULL)
        return settle_result(c, AMQP_STATUS_CONNECTION_CLOSED, "basic.consume", err);
    return broker_result(c, consume_start(c, &c->last_err), err);
}

batch_broker_t channel_broker(channel_t *c)
{
    return (batch_broker_t){.ack = b_ack,
                            .reject = b_reject,
                            .nack = b_nack,
                            .pause = b_pause,
                            .resume = b_resume,
                            .ctx = c};
}
