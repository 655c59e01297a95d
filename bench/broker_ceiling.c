/* SPDX-License-Identifier: MIT */
/*
 * bench-broker-ceiling: the broker ceiling of this machine. One rabbitmq-c connection publishes
 * persistent ~250-byte JSON messages, shaped like activity-api's, to a fresh durable queue on the
 * default exchange in publisher-confirm mode, keeping up to WINDOW messages unconfirmed and
 * reading the broker's (multiple) acks with amqp_simple_wait_frame_noblock. It prints the
 * confirmed messages per second: what activity-api's 202 path is compared with.
 *
 * Usage: bench-broker-ceiling [-q QUEUE] [-n MESSAGES] URL [SECONDS [WINDOW]]
 *        bench-broker-ceiling [-P QUEUE] [-D QUEUE] URL
 *   URL      amqp://user:pass@host:port/vhost
 *   SECONDS  how long to publish (default 10); -n stops earlier after MESSAGES confirms
 *   WINDOW   unconfirmed messages allowed in flight (default 1000)
 *   -q       the benchmark's queue (default bench.broker_ceiling); deleted at start and end
 *   -P / -D  only purge / delete QUEUE (a missing queue is not an error) and exit; bench/run.sh
 *            uses them to empty the queue activity-api publishes to.
 *
 * The last line on stdout is `published=… confirmed=… nacked=… returned=… seconds=… msg/s=…
 * p50_ms=… p99_ms=…`, the last two the publish-to-confirm latency (0.1 ms resolution).
 * Thread: main only (a rabbitmq-c connection is never shared).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>

#include "util.h"

#define CHANNEL         1
#define DEFAULT_QUEUE   "bench.broker_ceiling"
#define DEFAULT_SECONDS 10
#define DEFAULT_WINDOW  1000
#define MAX_WINDOW      65536
#define HEARTBEAT_S     10
#define CONNECT_TIMEOUT 5
#define DRAIN_TIMEOUT_S 30
#define MESSAGE_BYTES   250
#define LAT_BUCKET_US   100    /* confirm-latency histogram: 0.1 ms buckets */
#define LAT_BUCKETS     100000 /* up to 10 s; slower confirms land in the last bucket */

/* Thread: main. Confirm tracking over a window of delivery tags. */
typedef struct bench {
    amqp_connection_state_t conn;
    const char *queue;
    unsigned window;
    unsigned char *confirmed; /* by tag % window, for tags in [lowest, next_tag) */
    double *sent_at;          /* by tag % window: when the message was published */
    uint32_t *latency;        /* LAT_BUCKETS counts of publish-to-confirm latency */
    uint64_t next_tag;        /* the tag of the next publish; tags start at 1 */
    uint64_t lowest;          /* the oldest unconfirmed tag */
    uint64_t acked, nacked, returned;
} bench_t;

/* Formats a failed RPC reply into buf and returns buf. */
static const char *describe_reply(amqp_rpc_reply_t r, char *buf, size_t len)
{
    switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
        snprintf(buf, len, "ok");
        break;
    case AMQP_RESPONSE_NONE:
        snprintf(buf, len, "missing RPC reply");
        break;
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
        snprintf(buf, len, "%s", amqp_error_string2(r.library_error));
        break;
    case AMQP_RESPONSE_SERVER_EXCEPTION:
        if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
            amqp_connection_close_t *m = r.reply.decoded;
            snprintf(buf, len, "connection closed by the broker: %u %.*s", m->reply_code,
                     (int)m->reply_text.len, (const char *)m->reply_text.bytes);
        } else if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
            amqp_channel_close_t *m = r.reply.decoded;
            snprintf(buf, len, "channel closed by the broker: %u %.*s", m->reply_code,
                     (int)m->reply_text.len, (const char *)m->reply_text.bytes);
        } else {
            snprintf(buf, len, "unexpected method 0x%08x", r.reply.id);
        }
        break;
    }
    return buf;
}

/* Returns the reply code of a channel.close carried by r, or 0. */
static unsigned channel_close_code(amqp_rpc_reply_t r)
{
    if (r.reply_type != AMQP_RESPONSE_SERVER_EXCEPTION || r.reply.id != AMQP_CHANNEL_CLOSE_METHOD)
        return 0;
    return ((amqp_channel_close_t *)r.reply.decoded)->reply_code;
}

static int check_reply(amqp_rpc_reply_t r, const char *what)
{
    char buf[256];
    if (r.reply_type == AMQP_RESPONSE_NORMAL)
        return 0;
    fprintf(stderr, "bench-broker-ceiling: %s: %s\n", what, describe_reply(r, buf, sizeof(buf)));
    return -1;
}

/* Connects, logs in and opens CHANNEL. Returns the connection or NULL (reason on stderr). The
 * password never appears in a message. */
static amqp_connection_state_t connect_url(const char *url)
{
    char *copy = strdup(url);
    struct amqp_connection_info ci;
    amqp_default_connection_info(&ci);
    if (copy == NULL || amqp_parse_url(copy, &ci) != AMQP_STATUS_OK || ci.ssl) {
        fprintf(stderr,
                "bench-broker-ceiling: cannot use the URL (amqp://user:pass@host:port/vhost)\n");
        free(copy);
        return NULL;
    }
    /* amqp_parse_url reads "amqp://host/" as the empty vhost, which RabbitMQ refuses; the
     * project's URLs are written that way and mean the default vhost "/". */
    if (ci.vhost[0] == '\0')
        ci.vhost = "/";
    amqp_connection_state_t c = amqp_new_connection();
    amqp_socket_t *s = amqp_tcp_socket_new(c);
    struct timeval tv = {CONNECT_TIMEOUT, 0};
    int rc = s == NULL ? AMQP_STATUS_NO_MEMORY : amqp_socket_open_noblock(s, ci.host, ci.port, &tv);
    if (rc != AMQP_STATUS_OK) {
        fprintf(stderr, "bench-broker-ceiling: cannot connect to %s:%d: %s\n", ci.host, ci.port,
                amqp_error_string2(rc));
        goto fail;
    }
    amqp_rpc_reply_t r = amqp_login(c, ci.vhost, 0, AMQP_DEFAULT_FRAME_SIZE, HEARTBEAT_S,
                                    AMQP_SASL_METHOD_PLAIN, ci.user, ci.password);
    if (check_reply(r, "login") != 0)
        goto fail;
    amqp_channel_open(c, CHANNEL);
    if (check_reply(amqp_get_rpc_reply(c), "channel.open") != 0)
        goto fail;
    free(copy);
    return c;
fail:
    amqp_destroy_connection(c);
    free(copy);
    return NULL;
}

static void disconnect(amqp_connection_state_t c)
{
    amqp_channel_close(c, CHANNEL, AMQP_REPLY_SUCCESS);
    amqp_connection_close(c, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(c);
}

/* Purges or deletes queue. A missing queue (404) counts as done; the channel the broker closed
 * for it is reopened. Returns the number of messages removed, or -1. */
static long purge_or_delete(amqp_connection_state_t c, const char *queue, bool delete)
{
    long n = 0;
    if (delete) {
        amqp_queue_delete_ok_t *ok = amqp_queue_delete(c, CHANNEL, amqp_cstring_bytes(queue), 0, 0);
        if (ok != NULL)
            n = (long)ok->message_count;
    } else {
        amqp_queue_purge_ok_t *ok = amqp_queue_purge(c, CHANNEL, amqp_cstring_bytes(queue));
        if (ok != NULL)
            n = (long)ok->message_count;
    }
    amqp_rpc_reply_t r = amqp_get_rpc_reply(c);
    if (channel_close_code(r) == AMQP_NOT_FOUND) {
        amqp_channel_close_ok_t close_ok;
        amqp_send_method(c, CHANNEL, AMQP_CHANNEL_CLOSE_OK_METHOD, &close_ok);
        amqp_channel_open(c, CHANNEL);
        return check_reply(amqp_get_rpc_reply(c), "channel.open") == 0 ? 0 : -1;
    }
    if (check_reply(r, delete ? "queue.delete" : "queue.purge") != 0)
        return -1;
    amqp_maybe_release_buffers(c);
    return n;
}

/* Marks tag (and with multiple, every older unconfirmed tag) as answered. Returns -1 for a tag
 * that was never published. */
static int on_confirm(bench_t *b, uint64_t tag, bool multiple, bool ack)
{
    if (tag >= b->next_tag || (tag < b->lowest && !multiple)) {
        fprintf(stderr, "bench-broker-ceiling: confirm for unknown delivery tag %" PRIu64 "\n",
                tag);
        return -1;
    }
    uint64_t from = multiple ? b->lowest : tag;
    double now = bench_now_s();
    for (uint64_t t = from; t <= tag; t++) {
        unsigned char *slot = &b->confirmed[t % b->window];
        if (*slot)
            continue;
        *slot = 1;
        double us = (now - b->sent_at[t % b->window]) * 1e6;
        size_t bucket = us <= 0 ? 0 : (size_t)(us / LAT_BUCKET_US);
        b->latency[bucket < LAT_BUCKETS ? bucket : LAT_BUCKETS - 1]++;
        if (ack)
            b->acked++;
        else
            b->nacked++;
    }
    while (b->lowest < b->next_tag && b->confirmed[b->lowest % b->window]) {
        b->confirmed[b->lowest % b->window] = 0;
        b->lowest++;
    }
    return 0;
}

/* Waits up to tv (NULL: forever; {0,0}: poll) for one frame and handles it. Returns 1 when a
 * frame was handled, 0 on timeout, -1 on a connection or channel error. */
static int pump_one(bench_t *b, struct timeval *tv)
{
    amqp_frame_t f;
    int rc = amqp_simple_wait_frame_noblock(b->conn, &f, tv);
    if (rc == AMQP_STATUS_TIMEOUT)
        return 0;
    if (rc != AMQP_STATUS_OK) {
        fprintf(stderr, "bench-broker-ceiling: reading frames: %s\n", amqp_error_string2(rc));
        return -1;
    }
    if (f.frame_type != AMQP_FRAME_METHOD)
        return 1; /* header and body frames of a basic.return */
    switch (f.payload.method.id) {
    case AMQP_BASIC_ACK_METHOD: {
        amqp_basic_ack_t *m = f.payload.method.decoded;
        return on_confirm(b, m->delivery_tag, m->multiple, true) == 0 ? 1 : -1;
    }
    case AMQP_BASIC_NACK_METHOD: {
        amqp_basic_nack_t *m = f.payload.method.decoded;
        return on_confirm(b, m->delivery_tag, m->multiple, false) == 0 ? 1 : -1;
    }
    case AMQP_BASIC_RETURN_METHOD:
        b->returned++;
        return 1;
    case AMQP_CHANNEL_CLOSE_METHOD: {
        amqp_channel_close_t *m = f.payload.method.decoded;
        fprintf(stderr, "bench-broker-ceiling: channel closed by the broker: %u %.*s\n",
                m->reply_code, (int)m->reply_text.len, (const char *)m->reply_text.bytes);
        return -1;
    }
    case AMQP_CONNECTION_CLOSE_METHOD: {
        amqp_connection_close_t *m = f.payload.method.decoded;
        fprintf(stderr, "bench-broker-ceiling: connection closed by the broker: %u %.*s\n",
                m->reply_code, (int)m->reply_text.len, (const char *)m->reply_text.bytes);
        return -1;
    }
    default:
        return 1;
    }
}

/* Handles every frame that is already available, after waiting up to tv for the first. */
static int pump(bench_t *b, struct timeval *tv)
{
    int rc = pump_one(b, tv);
    while (rc > 0 && (amqp_frames_enqueued(b->conn) || amqp_data_in_buffer(b->conn)))
        rc = pump_one(b, &(struct timeval){0, 0});
    if (rc > 0) {
        /* Catch frames that arrived while we were handling the others, without blocking. */
        while ((rc = pump_one(b, &(struct timeval){0, 0})) > 0)
            ;
    }
    amqp_maybe_release_buffers(b->conn);
    return rc < 0 ? -1 : 0;
}

/* Writes message number seq into buf (MESSAGE_BYTES long, not NUL-terminated) and its id into
 * id (37 bytes). The shape follows DESIGN §4: id, userId, eventType, timestamp, payload,
 * receivedAt; the payload's padding field brings the body to MESSAGE_BYTES. */
static size_t format_message(uint64_t seq, char *buf, size_t len, char *id)
{
    snprintf(id, 37, "01890a5d-ac96-774b-bcce-%012" PRIx64, seq & UINT64_C(0xffffffffffff));
    int head =
        snprintf(buf, len,
                 "{\"id\":\"%s\",\"userId\":\"user-%05" PRIu64 "\",\"eventType\":\"page_view\","
                 "\"timestamp\":\"2024-05-01T12:00:00.000Z\",\"payload\":{\"page\":"
                 "\"/products/42\",\"pad\":\"",
                 id, seq % 100000);
    const char tail[] = "\"},\"receivedAt\":\"2024-05-01T12:00:00.012Z\"}";
    size_t pad = MESSAGE_BYTES - (size_t)head - (sizeof(tail) - 1);
    memset(buf + head, 'x', pad);
    memcpy(buf + head + pad, tail, sizeof(tail) - 1);
    return MESSAGE_BYTES;
}

static int publish_one(bench_t *b)
{
    char body[MESSAGE_BYTES + 64], id[37];
    size_t n = format_message(b->next_tag, body, sizeof(body), id);
    amqp_basic_properties_t p;
    memset(&p, 0, sizeof(p));
    p._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG |
               AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_TIMESTAMP_FLAG | AMQP_BASIC_APP_ID_FLAG;
    p.content_type = amqp_cstring_bytes("application/json");
    p.delivery_mode = AMQP_DELIVERY_PERSISTENT;
    p.message_id = amqp_cstring_bytes(id);
    p.timestamp = (uint64_t)time(NULL);
    p.app_id = amqp_cstring_bytes("bench-broker-ceiling");
    amqp_bytes_t bytes = {.len = n, .bytes = body};
    int rc = amqp_basic_publish(b->conn, CHANNEL, amqp_empty_bytes, amqp_cstring_bytes(b->queue),
                                /* mandatory */ 1, /* immediate */ 0, &p, bytes);
    if (rc != AMQP_STATUS_OK) {
        fprintf(stderr, "bench-broker-ceiling: publish: %s\n", amqp_error_string2(rc));
        return -1;
    }
    b->sent_at[b->next_tag % b->window] = bench_now_s();
    b->next_tag++;
    return 0;
}

/* The confirm latency below which a fraction q of the confirmed messages fell, in ms (the upper
 * edge of its bucket). */
static double latency_ms(const bench_t *b, double q)
{
    uint64_t total = b->acked + b->nacked, seen = 0;
    for (size_t i = 0; i < LAT_BUCKETS; i++) {
        seen += b->latency[i];
        if (total > 0 && (double)seen >= q * (double)total)
            return (double)(i + 1) * LAT_BUCKET_US / 1000.0;
    }
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench-broker-ceiling [-q QUEUE] [-t classic|quorum] [-n MESSAGES] URL "
                    "[SECONDS [WINDOW]]\n"
                    "       bench-broker-ceiling [-P QUEUE] [-D QUEUE] URL\n");
}

int main(int argc, char **argv)
{
    const char *queue = DEFAULT_QUEUE, *purge_queue = NULL, *delete_queue = NULL;
    bool quorum = false;
    uint64_t max_messages = 0, seconds = DEFAULT_SECONDS, window = DEFAULT_WINDOW;
    int opt;
    while ((opt = getopt(argc, argv, "q:t:n:P:D:")) != -1) {
        switch (opt) {
        case 'q':
            queue = optarg;
            break;
        case 't':
            if (strcmp(optarg, "quorum") != 0 && strcmp(optarg, "classic") != 0) {
                usage();
                return 2;
            }
            quorum = strcmp(optarg, "quorum") == 0;
            break;
        case 'n':
            if (cli_parse_u64(optarg, 1, UINT64_MAX / 2, &max_messages) != 0) {
                usage();
                return 2;
            }
            break;
        case 'P':
            purge_queue = optarg;
            break;
        case 'D':
            delete_queue = optarg;
            break;
        default:
            usage();
            return 2;
        }
    }
    int nargs = argc - optind;
    if (nargs < 1 || nargs > 3 ||
        (nargs > 1 && cli_parse_u64(argv[optind + 1], 1, 86400, &seconds) != 0) ||
        (nargs > 2 && cli_parse_u64(argv[optind + 2], 1, MAX_WINDOW, &window) != 0)) {
        usage();
        return 2;
    }
    const char *url = argv[optind];

    bench_catch_stop_signals();

    amqp_connection_state_t c = connect_url(url);
    if (c == NULL)
        return 1;

    if (purge_queue != NULL || delete_queue != NULL) {
        int status = 0;
        if (purge_queue != NULL) {
            long n = purge_or_delete(c, purge_queue, false);
            if (n < 0)
                status = 1;
            else
                printf("purged %s: %ld messages\n", purge_queue, n);
        }
        if (delete_queue != NULL) {
            long n = purge_or_delete(c, delete_queue, true);
            if (n < 0)
                status = 1;
            else
                printf("deleted %s: %ld messages\n", delete_queue, n);
        }
        disconnect(c);
        return status;
    }

    bench_t b = {.conn = c, .queue = queue, .window = (unsigned)window, .next_tag = 1, .lowest = 1};
    b.confirmed = calloc(window, 1);
    b.sent_at = calloc(window, sizeof(*b.sent_at));
    b.latency = calloc(LAT_BUCKETS, sizeof(*b.latency));
    int status = 1;
    if (b.confirmed == NULL || b.sent_at == NULL || b.latency == NULL)
        goto out;

    /* A fresh queue every run: queue depth changes publish rates. */
    if (purge_or_delete(c, queue, true) < 0)
        goto out;
    /* The type the service declares (RABBITMQ_QUEUE_TYPE): a quorum queue replicates to every
     * node of a cluster. */
    amqp_table_entry_t qtype = {
        .key = amqp_cstring_bytes("x-queue-type"),
        .value = {.kind = AMQP_FIELD_KIND_UTF8, .value.bytes = amqp_cstring_bytes("quorum")}};
    amqp_table_t args =
        quorum ? (amqp_table_t){.num_entries = 1, .entries = &qtype} : amqp_empty_table;
    amqp_queue_declare(c, CHANNEL, amqp_cstring_bytes(queue), 0, /* durable */ 1, 0, 0, args);
    if (check_reply(amqp_get_rpc_reply(c), "queue.declare") != 0)
        goto out;
    amqp_confirm_select(c, CHANNEL);
    if (check_reply(amqp_get_rpc_reply(c), "confirm.select") != 0)
        goto out;

    printf("bench-broker-ceiling: queue=%s (%s) window=%" PRIu64
           " message=%d bytes seconds=%" PRIu64 "%s\n",
           queue, quorum ? "quorum" : "classic", window, MESSAGE_BYTES, seconds,
           max_messages ? " (or a message limit)" : "");
    fflush(stdout);

    double start = bench_now_s(), deadline = start + (double)seconds, last_confirm = start;
    bool publishing = true;
    for (;;) {
        if (publishing && (bench_stop_requested || bench_now_s() >= deadline ||
                           (max_messages && b.next_tag - 1 >= max_messages)))
            publishing = false;
        while (publishing && b.next_tag - b.lowest < b.window &&
               !(max_messages && b.next_tag - 1 >= max_messages)) {
            if (publish_one(&b) != 0)
                goto out;
        }
        if (!publishing && b.lowest == b.next_tag)
            break;
        if (!publishing && bench_now_s() > deadline + DRAIN_TIMEOUT_S) {
            fprintf(stderr, "bench-broker-ceiling: %" PRIu64 " confirms still missing after %ds\n",
                    b.next_tag - b.lowest, DRAIN_TIMEOUT_S);
            break;
        }
        /* With the window full (or publishing over) wait for acks; otherwise only poll. */
        bool must_wait = !publishing || b.next_tag - b.lowest >= b.window;
        struct timeval tv = {must_wait ? 1 : 0, 0};
        uint64_t before = b.acked + b.nacked;
        if (pump(&b, &tv) != 0)
            goto out;
        if (b.acked + b.nacked != before)
            last_confirm = bench_now_s();
    }

    double elapsed = last_confirm - start;
    if (elapsed <= 0)
        elapsed = 1e-9;
    printf("published=%" PRIu64 " confirmed=%" PRIu64 " nacked=%" PRIu64 " returned=%" PRIu64
           " seconds=%.3f msg/s=%.0f p50_ms=%.1f p99_ms=%.1f\n",
           b.next_tag - 1, b.acked, b.nacked, b.returned, elapsed, (double)b.acked / elapsed,
           latency_ms(&b, 0.50), latency_ms(&b, 0.99));
    status = b.nacked == 0 && b.returned == 0 && b.lowest == b.next_tag ? 0 : 1;
out:
    if (purge_or_delete(c, queue, true) < 0)
        status = 1;
    disconnect(c);
    free(b.confirmed);
    free(b.sent_at);
    free(b.latency);
    return status;
}
