/* SPDX-License-Identifier: MIT */
#include "api/mq_transport.h"

#include <amqp_framing.h>
#include <string.h>
#include <sys/time.h>

/* Thread: amqp (owner only), after creation on main. */
struct mq_transport {
    const brokerurl_list_t *brokers;
    mq_params_t params; /* .broker set for each attempt */
    mq_conn_t *conn;
};

mq_transport_t *mq_transport_create(const brokerurl_list_t *brokers, const mq_params_t *params)
{
    mq_transport_t *t = xcalloc(1, sizeof(*t));
    t->brokers = brokers;
    t->params = *params;
    return t;
}

static void tr_disconnect(void *ctx)
{
    mq_transport_t *t = ctx;
    mq_close(t->conn);
    t->conn = NULL;
}

void mq_transport_destroy(mq_transport_t *t)
{
    if (t == NULL)
        return;
    tr_disconnect(t);
    free(t);
}

static int tr_connect(void *ctx, unsigned broker, err_t *err)
{
    mq_transport_t *t = ctx;
    tr_disconnect(t);
    ASSERT(broker < t->brokers->count);
    t->params.broker = &t->brokers->urls[broker];
    int rc = mq_connect(&t->params, &t->conn, err);
    if (rc < 0)
        return rc;
    amqp_connection_state_t s = mq_state(t->conn);
    amqp_confirm_select(s, MQ_CHANNEL);
    rc = mq_reply_err(amqp_get_rpc_reply(s), "confirm.select", err);
    if (rc < 0)
        tr_disconnect(t);
    return rc;
}

static int tr_publish(void *ctx, const pub_job_t *job, err_t *err)
{
    mq_transport_t *t = ctx;
    if (t->conn == NULL)
        return err_set(err, ERR_CLOSED, NULL, "not connected");
    amqp_basic_properties_t props = {
        ._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG |
                  AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_TIMESTAMP_FLAG | AMQP_BASIC_APP_ID_FLAG,
        .content_type = amqp_cstring_bytes("application/json"),
        .delivery_mode = AMQP_DELIVERY_PERSISTENT,
        .message_id = amqp_cstring_bytes(job->id),
        .timestamp = (uint64_t)(job->received_ms / 1000),
        .app_id = amqp_cstring_bytes("activity-api"),
    };
    amqp_bytes_t body = {.len = job->len, .bytes = job->body};
    int status =
        amqp_basic_publish(mq_state(t->conn), MQ_CHANNEL, amqp_empty_bytes,
                           amqp_cstring_bytes(t->params.topology.queue), 1, 0, &props, body);
    if (status != AMQP_STATUS_OK) {
        mq_conn_mark_broken(t->conn);
        return mq_status_err(status, "publish", err);
    }
    return 0;
}

/* Reads the content of a basic.return and extracts its message id. */
static int read_return(mq_transport_t *t, pub_event_t *ev, err_t *err)
{
    amqp_message_t msg;
    amqp_rpc_reply_t r = amqp_read_message(mq_state(t->conn), MQ_CHANNEL, &msg, 0);
    int rc = mq_reply_err(r, "read returned message", err);
    if (rc < 0)
        return rc;
    ev->kind = PUB_EV_RETURN;
    ev->message_id[0] = '\0';
    if (msg.properties._flags & AMQP_BASIC_MESSAGE_ID_FLAG) {
        size_t n = msg.properties.message_id.len;
        if (n > IDGEN_STR_LEN)
            n = IDGEN_STR_LEN;
        memcpy(ev->message_id, msg.properties.message_id.bytes, n);
        ev->message_id[n] = '\0';
    }
    amqp_destroy_message(&msg);
    return 1;
}

static int tr_next_event(void *ctx, pub_event_t *ev, err_t *err)
{
    mq_transport_t *t = ctx;
    if (t->conn == NULL)
        return err_set(err, ERR_CLOSED, NULL, "not connected");
    amqp_connection_state_t s = mq_state(t->conn);
    for (;;) {
        amqp_frame_t f;
        struct timeval zero = {0, 0};
        amqp_maybe_release_buffers(s);
        int status = amqp_simple_wait_frame_noblock(s, &f, &zero);
        if (status == AMQP_STATUS_TIMEOUT)
            return 0;
        if (status != AMQP_STATUS_OK) {
            mq_conn_mark_broken(t->conn);
            return mq_status_err(status, "read confirms", err);
        }
        if (f.frame_type != AMQP_FRAME_METHOD)
            continue; /* stray content frames belong to nothing we track */
        switch (f.payload.method.id) {
        case AMQP_BASIC_ACK_METHOD: {
            const amqp_basic_ack_t *a = f.payload.method.decoded;
            *ev =
                (pub_event_t){.kind = PUB_EV_ACK, .tag = a->delivery_tag, .multiple = a->multiple};
            return 1;
        }
        case AMQP_BASIC_NACK_METHOD: {
            const amqp_basic_nack_t *n = f.payload.method.decoded;
            *ev =
                (pub_event_t){.kind = PUB_EV_NACK, .tag = n->delivery_tag, .multiple = n->multiple};
            return 1;
        }
        case AMQP_BASIC_RETURN_METHOD:
            return read_return(t, ev, err);
        case AMQP_CONNECTION_BLOCKED_METHOD:
            *ev = (pub_event_t){.kind = PUB_EV_BLOCKED};
            return 1;
        case AMQP_CONNECTION_UNBLOCKED_METHOD:
            *ev = (pub_event_t){.kind = PUB_EV_UNBLOCKED};
            return 1;
        case AMQP_CONNECTION_CLOSE_METHOD:
        case AMQP_CHANNEL_CLOSE_METHOD:
            return mq_method_err(t->conn, &f.payload.method, err);
        default:
            continue;
        }
    }
}

pub_transport_t mq_transport_vtable(mq_transport_t *t)
{
    return (pub_transport_t){.ctx = t,
                             .connect = tr_connect,
                             .publish = tr_publish,
                             .next_event = tr_next_event,
                             .disconnect = tr_disconnect};
}

int mq_transport_fd(const mq_transport_t *t)
{
    return t->conn != NULL ? amqp_get_sockfd(mq_state(t->conn)) : -1;
}

bool mq_transport_has_buffered(const mq_transport_t *t)
{
    if (t->conn == NULL)
        return false;
    amqp_connection_state_t s = mq_state(t->conn);
    return amqp_frames_enqueued(s) || amqp_data_in_buffer(s);
}

mq_queue_type_t mq_transport_queue_type(const mq_transport_t *t)
{
    return t->conn != NULL ? mq_conn_queue_type(t->conn) : MQ_QUEUE_AUTO;
}
