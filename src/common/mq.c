/* SPDX-License-Identifier: MIT */
#include "common/mq.h"

#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <stdbool.h>
#include <string.h>
#include <sys/time.h>

struct mq_conn {
    amqp_connection_state_t state;
    bool usable; /* the channel and connection are still open, so a polite close is possible */
    mq_queue_type_t queue_type; /* what the main queue turned out to be */
};

int mq_status_err(int status, const char *what, err_t *err)
{
    int code;
    switch (status) {
    case AMQP_STATUS_OK:
        return 0;
    case AMQP_STATUS_NO_MEMORY:
        code = ERR_NOMEM;
        break;
    case AMQP_STATUS_TIMEOUT:
    case AMQP_STATUS_HEARTBEAT_TIMEOUT:
        code = ERR_TIMEOUT;
        break;
    case AMQP_STATUS_BAD_URL:
    case AMQP_STATUS_INVALID_PARAMETER:
        code = ERR_INVAL;
        break;
    case AMQP_STATUS_BAD_AMQP_DATA:
    case AMQP_STATUS_UNKNOWN_CLASS:
    case AMQP_STATUS_UNKNOWN_METHOD:
    case AMQP_STATUS_WRONG_METHOD:
    case AMQP_STATUS_UNEXPECTED_STATE:
        code = ERR_PROTO;
        break;
    default: /* socket, TCP, connection-closed, resolution: the broker is out of reach */
        code = ERR_UNAVAIL;
        break;
    }
    return err_set(err, code, NULL, "%s: %s", what, amqp_error_string2(status));
}

/* Reads the scope ("connection" or "channel"), reply code and text of a close method; returns
 * false for any other method. */
static bool close_detail(const amqp_method_t *m, const char **scope, unsigned *code,
                         amqp_bytes_t *text)
{
    if (m->id == AMQP_CONNECTION_CLOSE_METHOD) {
        const amqp_connection_close_t *c = m->decoded;
        *scope = "connection";
        *code = c->reply_code;
        *text = c->reply_text;
        return true;
    }
    if (m->id == AMQP_CHANNEL_CLOSE_METHOD) {
        const amqp_channel_close_t *c = m->decoded;
        *scope = "channel";
        *code = c->reply_code;
        *text = c->reply_text;
        return true;
    }
    return false;
}

int mq_reply_err(amqp_rpc_reply_t r, const char *what, err_t *err)
{
    switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
        return 0;
    case AMQP_RESPONSE_NONE:
        return err_set(err, ERR_PROTO, NULL, "%s: missing RPC reply", what);
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
        return mq_status_err(r.library_error, what, err);
    case AMQP_RESPONSE_SERVER_EXCEPTION:
        break;
    }
    const char *scope;
    unsigned reply;
    amqp_bytes_t text;
    if (!close_detail(&r.reply, &scope, &reply, &text))
        return err_set(err, ERR_PROTO, NULL, "%s: unexpected server method 0x%08x", what,
                       (unsigned)r.reply.id);
    /* 403 ACCESS_REFUSED and 530 NOT_ALLOWED closing the connection are configuration
     * problems, not outages; 406 PRECONDITION_FAILED closing the channel on queue.declare means
     * the queue exists with other arguments. */
    int code = ERR_UNAVAIL;
    if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD && (reply == 403 || reply == 530))
        code = ERR_INVAL;
    else if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD && reply == 406)
        code = ERR_PROTO;
    return err_set(err, code, NULL, "%s: %s closed by broker: %u %.*s", what, scope, reply,
                   (int)text.len, (const char *)text.bytes);
}

int mq_method_err(mq_conn_t *c, const amqp_method_t *m, err_t *err)
{
    const char *scope;
    unsigned reply;
    amqp_bytes_t text;
    if (!close_detail(m, &scope, &reply, &text))
        return 0;
    /* Answer the close so the broker can release its side at once; the connection is unusable
     * either way (only channel MQ_CHANNEL is ever opened, so a closed channel ends it too). */
    if (m->id == AMQP_CONNECTION_CLOSE_METHOD) {
        amqp_connection_close_ok_t ok = {0};
        amqp_send_method(c->state, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
    } else {
        amqp_channel_close_ok_t ok = {0};
        amqp_send_method(c->state, MQ_CHANNEL, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
    }
    c->usable = false;
    return err_set(err, ERR_UNAVAIL, NULL, "%s closed by broker: %u %.*s", scope, reply,
                   (int)text.len, (const char *)text.bytes);
}

/* After the broker refused a queue.declare on MQ_CHANNEL (it closed the channel): answers the
 * close and opens the channel again, so another declare can be tried. */
static int reopen_channel(amqp_connection_state_t state, err_t *err)
{
    amqp_channel_close_ok_t ok = {0};
    if (amqp_send_method(state, MQ_CHANNEL, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok) != AMQP_STATUS_OK)
        return err_set(err, ERR_UNAVAIL, NULL, "cannot answer the broker's channel.close");
    amqp_channel_open(state, MQ_CHANNEL);
    return mq_reply_err(amqp_get_rpc_reply(state), "reopen channel", err);
}

/* Declares one durable queue of the given type: a DLQ (dlq NULL), or the main queue that
 * dead-letters to dlq. */
static int declare_queue(amqp_connection_state_t state, const char *name, const char *dlq,
                         mq_queue_type_t type, uint32_t delivery_limit, err_t *err)
{
    amqp_table_entry_t args[6];
    int n = 0;
#define ARG_STR(k, v)                                                                              \
    args[n++] = (amqp_table_entry_t)                                                               \
    {                                                                                              \
        .key = amqp_cstring_bytes(k), .value = {                                                   \
            .kind = AMQP_FIELD_KIND_UTF8,                                                          \
            .value.bytes = amqp_cstring_bytes(v)                                                   \
        }                                                                                          \
    }
    if (type == MQ_QUEUE_QUORUM)
        ARG_STR("x-queue-type", "quorum");
    if (dlq != NULL) {
        ARG_STR("x-dead-letter-exchange", "");
        ARG_STR("x-dead-letter-routing-key", dlq);
    }
    if (dlq != NULL && type == MQ_QUEUE_QUORUM) {
        /* Poison that crashes consumers is dead-lettered after delivery_limit deliveries, and
         * dead-lettering is confirmed (at-least-once), which needs reject-publish on overflow:
         * the API answers such a refusal 503. */
        args[n++] = (amqp_table_entry_t){
            .key = amqp_cstring_bytes("x-delivery-limit"),
            .value = {.kind = AMQP_FIELD_KIND_I64, .value.i64 = delivery_limit}};
        ARG_STR("x-dead-letter-strategy", "at-least-once");
        ARG_STR("x-overflow", "reject-publish");
    }
#undef ARG_STR
    amqp_table_t table = {.num_entries = n, .entries = args};
    amqp_queue_declare(state, MQ_CHANNEL, amqp_cstring_bytes(name), 0, 1, 0, 0, table);
    return mq_reply_err(amqp_get_rpc_reply(state), "declare queue", err);
}

/* Declares name with the type asked for; with MQ_QUEUE_AUTO a quorum queue, or the classic one
 * that exists already (kept as it is). Stores the type in *got. */
static int declare_typed(amqp_connection_state_t state, const char *name, const char *dlq,
                         const mq_topology_t *t, mq_queue_type_t *got, err_t *err)
{
    mq_queue_type_t first = t->type == MQ_QUEUE_CLASSIC ? MQ_QUEUE_CLASSIC : MQ_QUEUE_QUORUM;
    int rc = declare_queue(state, name, dlq, first, t->delivery_limit, err);
    if (rc == ERR_PROTO && t->type == MQ_QUEUE_AUTO) {
        rc = reopen_channel(state, err);
        if (rc == 0) {
            first = MQ_QUEUE_CLASSIC;
            rc = declare_queue(state, name, dlq, first, t->delivery_limit, err);
        }
    }
    *got = first;
    if (rc != ERR_PROTO)
        return rc;
    char why[ERR_MSG_MAX];
    snprintf(why, sizeof(why), "%s", err != NULL ? err->msg : "");
    return err_set(err, ERR_PROTO, "RABBITMQ_QUEUE_TYPE",
                   "queue \"%s\" exists with other arguments than this service declares (%s, "
                   "delivery limit %u): %s. Set RABBITMQ_QUEUE_TYPE to the queue's type, or "
                   "migrate it (README: \"Queue types\")",
                   name, t->type == MQ_QUEUE_CLASSIC ? "classic" : "quorum", t->delivery_limit,
                   why);
}

int mq_declare_topology(amqp_connection_state_t state, const mq_topology_t *t,
                        mq_queue_type_t *queue_type, err_t *err)
{
    char dlq[MQ_QUEUE_MAX + 8];
    if (strlen(t->queue) == 0 || strlen(t->queue) > MQ_QUEUE_MAX)
        return err_set(err, ERR_INVAL, "RABBITMQ_QUEUE", "queue name must be 1..%d bytes",
                       MQ_QUEUE_MAX);
    snprintf(dlq, sizeof(dlq), "%s.dlq", t->queue);
    mq_queue_type_t dlq_type;
    int rc = declare_typed(state, dlq, NULL, t, &dlq_type, err);
    if (rc == 0)
        rc = declare_typed(state, t->queue, dlq, t, queue_type, err);
    return rc;
}

mq_topology_t mq_topology_of(const config_t *cfg)
{
    const char *type = cfg->rabbitmq_queue_type;
    return (mq_topology_t){.queue = cfg->rabbitmq_queue,
                           .type = strcmp(type, "classic") == 0  ? MQ_QUEUE_CLASSIC
                                   : strcmp(type, "quorum") == 0 ? MQ_QUEUE_QUORUM
                                                                 : MQ_QUEUE_AUTO,
                           .delivery_limit = cfg->rabbitmq_delivery_limit};
}

const char *mq_queue_type_name(mq_queue_type_t t)
{
    return t == MQ_QUEUE_CLASSIC ? "classic" : t == MQ_QUEUE_QUORUM ? "quorum" : "auto";
}

static int open_socket(amqp_connection_state_t state, const brokerurl_t *b, int timeout_ms,
                       err_t *err)
{
    amqp_socket_t *sock = amqp_tcp_socket_new(state);
    if (sock == NULL)
        return err_set(err, ERR_NOMEM, NULL, "cannot create AMQP socket");
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    int status = amqp_socket_open_noblock(sock, b->host, b->port, &tv);
    if (status != AMQP_STATUS_OK) {
        char addr[BROKERURL_PART_MAX + 16], what[BROKERURL_PART_MAX + 32];
        brokerurl_format_addr(b, addr, sizeof(addr));
        snprintf(what, sizeof(what), "connect to %s", addr);
        return mq_status_err(status, what, err);
    }
    return 0;
}

int mq_connect(const mq_params_t *p, mq_conn_t **out, err_t *err)
{
    const brokerurl_t *b = p->broker;
    mq_conn_t *c = xcalloc(1, sizeof(*c));
    int rc = 0;

    c->state = amqp_new_connection();
    if (c->state == NULL) {
        rc = err_set(err, ERR_NOMEM, NULL, "cannot allocate AMQP connection");
        goto out;
    }
    rc = open_socket(c->state, b, p->timeout_ms, err);
    if (rc < 0)
        goto out;
    struct timeval rpc_tv = {.tv_sec = p->timeout_ms / 1000,
                             .tv_usec = (p->timeout_ms % 1000) * 1000};
    amqp_set_rpc_timeout(c->state, &rpc_tv);
    amqp_set_handshake_timeout(c->state, &rpc_tv);

    /* Ask for connection.blocked so broker alarms are visible instead of silent stalls. */
    amqp_table_entry_t caps[] = {
        {.key = amqp_cstring_bytes("connection.blocked"),
         .value = {.kind = AMQP_FIELD_KIND_BOOLEAN, .value.boolean = 1}},
        {.key = amqp_cstring_bytes("authentication_failure_close"),
         .value = {.kind = AMQP_FIELD_KIND_BOOLEAN, .value.boolean = 1}},
        {.key = amqp_cstring_bytes("consumer_cancel_notify"),
         .value = {.kind = AMQP_FIELD_KIND_BOOLEAN, .value.boolean = 1}},
    };
    amqp_table_entry_t props[] = {
        {.key = amqp_cstring_bytes("connection_name"),
         .value = {.kind = AMQP_FIELD_KIND_UTF8,
                   .value.bytes = amqp_cstring_bytes(p->conn_name ? p->conn_name : "")}},
        {.key = amqp_cstring_bytes("capabilities"),
         .value = {.kind = AMQP_FIELD_KIND_TABLE,
                   .value.table = {.num_entries = 3, .entries = caps}}},
    };
    amqp_table_t prop_table = {.num_entries = 2, .entries = props};
    amqp_rpc_reply_t r =
        amqp_login_with_properties(c->state, b->vhost, 0, AMQP_DEFAULT_FRAME_SIZE, p->heartbeat_s,
                                   &prop_table, AMQP_SASL_METHOD_PLAIN, b->user, b->password);
    rc = mq_reply_err(r, "login", err);
    if (rc < 0)
        goto out;
    amqp_channel_open(c->state, MQ_CHANNEL);
    rc = mq_reply_err(amqp_get_rpc_reply(c->state), "open channel", err);
    if (rc < 0)
        goto out;
    c->usable = true;
    rc = mq_declare_topology(c->state, &p->topology, &c->queue_type, err);
    if (rc < 0)
        c->usable = false; /* the broker closed the channel with its refusal */
out:
    if (rc < 0) {
        mq_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

void mq_close(mq_conn_t *c)
{
    if (c == NULL)
        return;
    if (c->state != NULL) {
        if (c->usable) {
            /* Best effort: a dead socket makes these fail fast, which is fine. */
            amqp_channel_close(c->state, MQ_CHANNEL, AMQP_REPLY_SUCCESS);
            amqp_connection_close(c->state, AMQP_REPLY_SUCCESS);
        }
        amqp_destroy_connection(c->state);
    }
    free(c);
}

void mq_conn_mark_broken(mq_conn_t *c)
{
    if (c != NULL)
        c->usable = false;
}

amqp_connection_state_t mq_state(mq_conn_t *c)
{
    return c->state;
}

mq_queue_type_t mq_conn_queue_type(const mq_conn_t *c)
{
    return c->queue_type;
}
