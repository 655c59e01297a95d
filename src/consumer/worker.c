/* SPDX-License-Identifier: MIT */
/*
 * DESIGN. Each worker thread owns one AMQP connection (rabbitmq-c connections are not
 * thread-safe), one mongoc client popped from the shared pool for its whole life, and one
 * batch_t. Its loop waits for a delivery with amqp_consume_message for at most the time until
 * the batch's next deadline, STOP_POLL_MS (to notice the stop flag) and heartbeat/2 (rabbitmq-c
 * only services heartbeats inside its calls), then offers the delivery and ticks the batch,
 * which may insert synchronously. The store's socket and selection timeouts (store.c) keep an
 * insert well below two heartbeat intervals.
 * Pausing (the batch gave up on the database) is basic.cancel: rabbitmq-c queues the
 * deliveries that arrive before cancel-ok, and they are dropped unacked because the batch then
 * nacks every outstanding tag of the channel with requeue. Resuming is basic.consume.
 * A lost connection drops the batch's deliveries (the broker requeues unacked ones itself) and
 * reconnects with capped backoff; a paused batch stays paused across the reconnect.
 * On the stop flag: basic.cancel, take the deliveries already received into the batch, flush
 * and ack it (bounded by CONSUMER_RETRY_MAX_MS), close politely, push the client back.
 */
#define LOG_MODULE "worker"
#include "consumer/worker.h"

#include <amqp.h>
#include <amqp_framing.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/backoff.h"
#include "common/log.h"
#include "common/mq.h"
#include "common/timesrc.h"
#include "consumer/batch.h"

#define CONNECT_TIMEOUT_MS 5000
#define STOP_POLL_MS       250
#define RECONNECT_BASE_MS  200
#define RECONNECT_MAX_MS   10000
#define LOG_REPEAT_MS      30000
#define DLQ_LINES_PER_S    20 /* a flood of poison is counted, not logged line by line */

/* Thread: fields above the marker are shared (atomics or written before the thread starts);
 * the rest belong to the worker thread. */
struct worker {
    worker_shared_t *sh;
    unsigned index;
    pthread_t thread;
    atomic_bool done;
    _Atomic int64_t beat_ms;
    /* --- worker thread only --- */
    char name[32];
    char conn_name[64];
    timesrc_t clock;
    mq_conn_t *conn;
    amqp_connection_state_t st;
    amqp_bytes_t consumer_tag; /* malloc'd; .bytes NULL when not consuming */
    store_t *store;
    batch_t *batch;
    err_t broker_err; /* detail of the last failed broker call made by the batch */
    log_throttle_t retry_log, ping_log, conn_log;
    int64_t dlq_window_ms; /* start of the current second of dead-letter log lines */
    uint32_t dlq_logged;   /* lines written in that second */
    uint32_t dlq_unlogged; /* dead-lettered messages not logged one by one since */
};

/* ---- metrics ------------------------------------------------------------------------------ */

void worker_metrics_init(worker_metrics_t *m)
{
    static const uint64_t bounds_us[] = {1000,   2500,   5000,   10000,   25000,   50000,
                                         100000, 250000, 500000, 1000000, 2500000, 10000000};
    memset(m, 0, sizeof(*m));
    metrics_histogram_init(&m->insert_latency, bounds_us,
                           (uint32_t)(sizeof(bounds_us) / sizeof(bounds_us[0])));
}

size_t worker_metrics_render(const worker_metrics_t *m, char *buf, size_t cap)
{
    metrics_buf_t b;
    metrics_buf_init(&b, buf, cap);
    const char *msgs = "activity_consumer_messages_total";
    metrics_render_family(&b, msgs, "counter",
                          "Deliveries settled, by result: stored, duplicate (already stored), "
                          "poison and rejected (dead-lettered), requeued (database gave up).");
    metrics_render_u64(&b, msgs, "result=\"stored\"", metrics_counter_get(&m->stored));
    metrics_render_u64(&b, msgs, "result=\"duplicate\"", metrics_counter_get(&m->duplicate));
    metrics_render_u64(&b, msgs, "result=\"poison\"", metrics_counter_get(&m->poison));
    metrics_render_u64(&b, msgs, "result=\"rejected\"", metrics_counter_get(&m->rejected));
    metrics_render_u64(&b, msgs, "result=\"requeued\"", metrics_counter_get(&m->requeued));
    metrics_render_family(&b, "activity_consumer_batches_total", "counter",
                          "Batches stored and acknowledged.");
    metrics_render_u64(&b, "activity_consumer_batches_total", NULL,
                       metrics_counter_get(&m->batches));
    metrics_render_family(&b, "activity_consumer_insert_duration_seconds", "histogram",
                          "Duration of one insert_many call, successful or not.");
    metrics_render_histogram(&b, "activity_consumer_insert_duration_seconds", NULL,
                             &m->insert_latency);
    metrics_render_family(&b, "activity_consumer_workers_connected", "gauge",
                          "Workers with a live broker connection.");
    metrics_render_i64(&b, "activity_consumer_workers_connected", NULL,
                       metrics_gauge_get(&m->connected));
    metrics_render_family(&b, "activity_consumer_paused", "gauge",
                          "Workers not consuming until the database answers again.");
    metrics_render_i64(&b, "activity_consumer_paused", NULL, metrics_gauge_get(&m->paused));
    metrics_render_family(&b, "activity_consumer_reconnects_total", "counter",
                          "Broker connections lost and re-established.");
    metrics_render_u64(&b, "activity_consumer_reconnects_total", NULL,
                       metrics_counter_get(&m->reconnects));
    return b.len;
}

/* ---- helpers ------------------------------------------------------------------------------ */

static bool stopping(const worker_t *w)
{
    return atomic_load(&w->sh->stop);
}

static void beat(worker_t *w)
{
    atomic_store(&w->beat_ms, timesrc_mono_ms(&w->clock));
}

/* Sleeps ms in short slices, returning early when the stop flag is set. */
static void sleep_unless_stop(worker_t *w, uint32_t ms)
{
    while (ms > 0 && !stopping(w)) {
        uint32_t slice = ms < STOP_POLL_MS ? ms : STOP_POLL_MS;
        struct timespec ts = {.tv_sec = slice / 1000, .tv_nsec = (long)(slice % 1000) * 1000000};
        nanosleep(&ts, NULL);
        ms -= slice;
        beat(w);
    }
}

static struct timeval ms_to_tv(int64_t ms)
{
    return (struct timeval){.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
}

/* ---- broker: consume, cancel, and the batch_broker_t callbacks ---------------------------- */

static int consume_start(worker_t *w, err_t *err)
{
    const config_t *cfg = w->sh->cfg;
    amqp_basic_consume_ok_t *ok =
        amqp_basic_consume(w->st, MQ_CHANNEL, amqp_cstring_bytes(cfg->rabbitmq_queue),
                           amqp_empty_bytes, 0, /*no_ack*/ 0, 0, amqp_empty_table);
    int rc = mq_reply_err(amqp_get_rpc_reply(w->st), "basic.consume", err);
    if (rc < 0)
        return rc;
    w->consumer_tag = amqp_bytes_malloc_dup(ok->consumer_tag);
    return 0;
}

static int consume_cancel(worker_t *w, err_t *err)
{
    if (w->consumer_tag.bytes == NULL)
        return 0;
    amqp_basic_cancel(w->st, MQ_CHANNEL, w->consumer_tag);
    amqp_bytes_free(w->consumer_tag);
    w->consumer_tag = amqp_empty_bytes;
    return mq_reply_err(amqp_get_rpc_reply(w->st), "basic.cancel", err);
}

static int broker_status(worker_t *w, int status, const char *what, err_t *err)
{
    if (status == AMQP_STATUS_OK)
        return 0;
    mq_status_err(status, what, &w->broker_err);
    if (err != NULL)
        *err = w->broker_err;
    return w->broker_err.code;
}

static int b_ack(void *ctx, uint64_t tag, bool multiple, err_t *err)
{
    worker_t *w = ctx;
    return broker_status(w, amqp_basic_ack(w->st, MQ_CHANNEL, tag, multiple), "basic.ack", err);
}

static int b_reject(void *ctx, uint64_t tag, bool requeue, err_t *err)
{
    worker_t *w = ctx;
    return broker_status(w, amqp_basic_reject(w->st, MQ_CHANNEL, tag, requeue), "basic.reject",
                         err);
}

static int b_nack(void *ctx, uint64_t tag, bool multiple, bool requeue, err_t *err)
{
    worker_t *w = ctx;
    return broker_status(w, amqp_basic_nack(w->st, MQ_CHANNEL, tag, multiple, requeue),
                         "basic.nack", err);
}

static int b_pause(void *ctx, err_t *err)
{
    worker_t *w = ctx;
    int rc = consume_cancel(w, &w->broker_err);
    if (rc < 0) {
        if (err != NULL)
            *err = w->broker_err;
        return rc;
    }
    /* Deliveries that arrived before cancel-ok wait in rabbitmq-c's frame queue. Drop them
     * unacked: the nack that follows requeues every outstanding tag of the channel. */
    while (amqp_frames_enqueued(w->st)) {
        amqp_frame_t f;
        if (amqp_simple_wait_frame(w->st, &f) != AMQP_STATUS_OK)
            break;
    }
    amqp_maybe_release_buffers(w->st);
    return 0;
}

static int b_resume(void *ctx, err_t *err)
{
    worker_t *w = ctx;
    int rc = consume_start(w, &w->broker_err);
    if (rc < 0 && err != NULL)
        *err = w->broker_err;
    return rc;
}

static int timed_insert(void *ctx, const bson_t *const *docs, size_t n, batch_doc_result_t *res,
                        err_t *err)
{
    worker_t *w = ctx;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = store_insert_many(w->store, docs, n, res, err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    int64_t us = (int64_t)(t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000;
    metrics_histogram_observe_us(&w->sh->metrics->insert_latency, us > 0 ? (uint64_t)us : 0);
    return rc;
}

static int ping(void *ctx, err_t *err)
{
    worker_t *w = ctx;
    return store_ping(w->store, err);
}

/* ---- batch events: the worker is the thread's top level, so it logs ---------------------- */

/* Returns true when one more dead-lettered message may be logged on its own line this second;
 * the first line of a new second reports how many were only counted. */
static bool dlq_log_allow(worker_t *w, int64_t now, uint32_t *unlogged)
{
    *unlogged = 0;
    if (now - w->dlq_window_ms >= 1000) {
        *unlogged = w->dlq_unlogged;
        w->dlq_window_ms = now;
        w->dlq_logged = 0;
        w->dlq_unlogged = 0;
    }
    if (w->dlq_logged >= DLQ_LINES_PER_S) {
        w->dlq_unlogged++;
        return false;
    }
    w->dlq_logged++;
    return true;
}

static void on_event(void *ctx, const batch_event_t *ev)
{
    worker_t *w = ctx;
    worker_metrics_t *m = w->sh->metrics;
    const char *why = ev->reason ? ev->reason->msg : "";
    int64_t now = timesrc_mono_ms(&w->clock);
    uint32_t suppressed = 0;
    char kv[160];
    switch (ev->kind) {
    case BATCH_EV_POISON:
        metrics_counter_add(&m->poison, 1);
        if (dlq_log_allow(w, now, &suppressed)) {
            snprintf(kv, sizeof(kv), "\"delivery_tag\":%" PRIu64 ",\"unlogged\":%" PRIu32, ev->tag,
                     suppressed);
            LOG_WARN_KV(kv, "poison message dead-lettered: %s", why);
        }
        break;
    case BATCH_EV_REJECTED:
        metrics_counter_add(&m->rejected, 1);
        if (dlq_log_allow(w, now, &suppressed)) {
            snprintf(kv, sizeof(kv),
                     "\"delivery_tag\":%" PRIu64 ",\"id\":\"%.40s\",\"unlogged\":%" PRIu32, ev->tag,
                     ev->id, suppressed);
            LOG_ERROR_KV(kv, "database refused the document, dead-lettered: %s", why);
        }
        break;
    case BATCH_EV_FLUSHED:
        metrics_counter_add(&m->stored, ev->stored);
        metrics_counter_add(&m->duplicate, ev->duplicates);
        metrics_counter_add(&m->batches, 1);
        if (w->retry_log.last_ms != 0) {
            LOG_INFO("database writes succeed again");
            w->retry_log = (log_throttle_t){0};
        }
        break;
    case BATCH_EV_RETRY:
        if (log_throttle_allow(&w->retry_log, now, LOG_REPEAT_MS, &suppressed)) {
            snprintf(kv, sizeof(kv),
                     "\"attempt\":%u,\"delay_ms\":%" PRId64 ",\"held\":%u,\"suppressed\":%" PRIu32,
                     ev->attempt, ev->delay_ms, ev->count, suppressed);
            LOG_WARN_KV(kv, "insert failed, retrying: %s", why);
        }
        break;
    case BATCH_EV_PAUSED:
        metrics_counter_add(&m->requeued, ev->count);
        metrics_gauge_add(&m->paused, 1);
        snprintf(kv, sizeof(kv), "\"requeued\":%u,\"retry_max_ms\":%" PRIu32, ev->count,
                 w->sh->cfg->consumer_retry_max_ms);
        LOG_ERROR_KV(kv, "gave up on the database, requeued and paused consuming: %s", why);
        w->retry_log = (log_throttle_t){0};
        w->ping_log = (log_throttle_t){0};
        break;
    case BATCH_EV_PING_FAILED:
        if (log_throttle_allow(&w->ping_log, now, LOG_REPEAT_MS, &suppressed)) {
            snprintf(kv, sizeof(kv), "\"attempt\":%u,\"suppressed\":%" PRIu32, ev->attempt,
                     suppressed);
            LOG_WARN_KV(kv, "database still unavailable, staying paused: %s", why);
        }
        break;
    case BATCH_EV_RESUMED:
        metrics_gauge_add(&m->paused, -1);
        LOG_INFO("database answers again, consuming resumed");
        break;
    case BATCH_EV_REQUEUED:
        metrics_counter_add(&m->requeued, ev->count);
        snprintf(kv, sizeof(kv), "\"requeued\":%u", ev->count);
        LOG_WARN_KV(kv, "shutting down without the database, requeued held messages: %s", why);
        break;
    }
}

/* ---- connection lifecycle ----------------------------------------------------------------- */

static int broker_connect(worker_t *w, err_t *err)
{
    const config_t *cfg = w->sh->cfg;
    mq_params_t p = {.url = cfg->rabbitmq_url,
                     .queue = cfg->rabbitmq_queue,
                     .heartbeat_s = (uint16_t)cfg->amqp_heartbeat_s,
                     .conn_name = w->conn_name,
                     .timeout_ms = CONNECT_TIMEOUT_MS};
    int rc = mq_connect(&p, &w->conn, err);
    if (rc < 0)
        return rc;
    w->st = mq_state(w->conn);
    amqp_basic_qos(w->st, MQ_CHANNEL, 0, (uint16_t)cfg->consumer_prefetch, 0);
    rc = mq_reply_err(amqp_get_rpc_reply(w->st), "basic.qos", err);
    /* A batch paused before the connection was lost stays paused until the database answers;
     * its resume callback starts consuming then. */
    if (rc == 0 && batch_state(w->batch) != BATCH_PAUSED)
        rc = consume_start(w, err);
    if (rc < 0) {
        mq_conn_mark_broken(w->conn);
        mq_close(w->conn);
        w->conn = NULL;
        w->st = NULL;
        return rc;
    }
    metrics_gauge_add(&w->sh->metrics->connected, 1);
    return 0;
}

static void broker_drop(worker_t *w, bool broken)
{
    if (w->conn == NULL)
        return;
    if (broken)
        mq_conn_mark_broken(w->conn);
    mq_close(w->conn);
    w->conn = NULL;
    w->st = NULL;
    if (w->consumer_tag.bytes != NULL)
        amqp_bytes_free(w->consumer_tag);
    w->consumer_tag = amqp_empty_bytes;
    batch_abandon(w->batch);
    metrics_gauge_add(&w->sh->metrics->connected, -1);
}

/* A frame other than a delivery arrived: connection or channel closed by the broker, or our
 * consumer cancelled by it (queue deleted). All of these end in a reconnect, which declares
 * the topology again. Returns 0 for frames that need nothing. */
static int other_frame(worker_t *w, err_t *err)
{
    amqp_frame_t f;
    struct timeval tv = ms_to_tv(CONNECT_TIMEOUT_MS);
    int s = amqp_simple_wait_frame_noblock(w->st, &f, &tv);
    if (s != AMQP_STATUS_OK)
        return mq_status_err(s, "read frame", err);
    if (f.frame_type != AMQP_FRAME_METHOD)
        return 0;
    switch (f.payload.method.id) {
    case AMQP_CONNECTION_CLOSE_METHOD: {
        const amqp_connection_close_t *m = f.payload.method.decoded;
        amqp_connection_close_ok_t ok = {0};
        amqp_send_method(w->st, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
        return err_set(err, ERR_UNAVAIL, NULL, "connection closed by broker: %u %.*s",
                       m->reply_code, (int)m->reply_text.len, (const char *)m->reply_text.bytes);
    }
    case AMQP_CHANNEL_CLOSE_METHOD: {
        const amqp_channel_close_t *m = f.payload.method.decoded;
        return err_set(err, ERR_UNAVAIL, NULL, "channel closed by broker: %u %.*s", m->reply_code,
                       (int)m->reply_text.len, (const char *)m->reply_text.bytes);
    }
    case AMQP_BASIC_CANCEL_METHOD:
        return err_set(err, ERR_UNAVAIL, NULL, "consumer cancelled by broker");
    case AMQP_CONNECTION_BLOCKED_METHOD:
        LOG_WARN("broker blocked the connection (resource alarm)");
        return 0;
    case AMQP_CONNECTION_UNBLOCKED_METHOD:
        LOG_INFO("broker unblocked the connection");
        return 0;
    default:
        return 0;
    }
}

/* Waits for at most wait_ms for one delivery and offers it. */
static int receive_one(worker_t *w, int64_t wait_ms, err_t *err)
{
    amqp_envelope_t env;
    struct timeval tv = ms_to_tv(wait_ms);
    amqp_maybe_release_buffers(w->st);
    amqp_rpc_reply_t r = amqp_consume_message(w->st, &env, &tv, 0);
    if (r.reply_type == AMQP_RESPONSE_NORMAL) {
        int rc =
            batch_offer(w->batch, env.delivery_tag, env.message.body.bytes, env.message.body.len);
        amqp_destroy_envelope(&env);
        if (rc == ERR_CLOSED)
            return 0; /* paused: dropped unacked, already requeued by the nack */
        if (rc < 0 && err != NULL)
            *err = w->broker_err;
        return rc;
    }
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT)
        return 0;
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
        r.library_error == AMQP_STATUS_UNEXPECTED_STATE)
        return other_frame(w, err);
    return mq_reply_err(r, "consume", err);
}

/* How long the loop may wait for a delivery before the batch, the stop flag or the
 * heartbeat needs it. */
static int64_t wait_budget_ms(const worker_t *w)
{
    int64_t budget = STOP_POLL_MS;
    int64_t hb_half = (int64_t)w->sh->cfg->amqp_heartbeat_s * 500;
    if (hb_half > 0 && hb_half < budget)
        budget = hb_half;
    int64_t due = batch_next_due_ms(w->batch);
    if (due != INT64_MAX) {
        int64_t left = due - timesrc_mono_ms(&w->clock);
        if (left < budget)
            budget = left < 0 ? 0 : left;
    }
    return budget;
}

static int step(worker_t *w, err_t *err)
{
    int rc = receive_one(w, wait_budget_ms(w), err);
    if (rc < 0)
        return rc;
    rc = batch_tick(w->batch);
    if (rc < 0 && err != NULL)
        *err = w->broker_err;
    return rc;
}

/* Stop: cancel, take what already arrived, flush and ack, close. */
static void finish(worker_t *w)
{
    if (w->conn == NULL)
        return;
    err_t err;
    int rc = consume_cancel(w, &err);
    while (rc == 0 && amqp_frames_enqueued(w->st))
        rc = receive_one(w, 0, &err);
    batch_drain(w->batch);
    while (rc == 0 && !batch_is_idle(w->batch)) {
        beat(w);
        rc = batch_tick(w->batch);
        if (rc < 0) {
            err = w->broker_err;
            break;
        }
        if (batch_is_idle(w->batch))
            break;
        /* Wait for the next retry while servicing heartbeats. */
        int64_t t = wait_budget_ms(w);
        amqp_frame_t f;
        struct timeval tv = ms_to_tv(t);
        int s = amqp_simple_wait_frame_noblock(w->st, &f, &tv);
        if (s != AMQP_STATUS_OK && s != AMQP_STATUS_TIMEOUT)
            rc = mq_status_err(s, "wait", &err);
    }
    if (rc < 0)
        LOG_WARN("broker lost while finishing; unacked messages return to the queue: %s", err.msg);
    else if (batch_held(w->batch) == 0)
        LOG_DEBUG("final batch acknowledged");
    broker_drop(w, rc < 0);
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    const config_t *cfg = w->sh->cfg;
    log_set_thread(w->name);
    w->store = store_open(w->sh->pool);
    batch_params_t bp = {
        .batch_size = cfg->consumer_batch_size,
        .batch_ms = cfg->consumer_batch_ms,
        .retry_max_ms = cfg->consumer_retry_max_ms,
        .seed = (uint64_t)w->index * 0x9e3779b97f4a7c15ull ^ (uint64_t)timesrc_wall_ms(&w->clock),
        .clock = w->clock,
        .broker = {b_ack, b_reject, b_nack, b_pause, b_resume, w},
        .store = {timed_insert, ping, w},
        .event_cb = on_event,
        .event_ctx = w,
    };
    w->batch = batch_create(&bp);
    backoff_t reconnect;
    backoff_init(&reconnect, RECONNECT_BASE_MS, RECONNECT_MAX_MS, bp.seed);
    unsigned failures = 0;
    bool ever_connected = false;
    int64_t connected_ms = 0;

    while (!stopping(w)) {
        beat(w);
        err_t err;
        if (w->conn == NULL) {
            int rc = broker_connect(w, &err);
            if (rc < 0 && !ever_connected && (rc == ERR_PROTO || rc == ERR_INVAL)) {
                /* A topology mismatch, refused credentials or a bad URL at startup will not
                 * heal by retrying: stop the whole process with the broker's reason. */
                LOG_ERROR("cannot start consuming: %s", err.msg);
                atomic_store(&w->sh->failed, true);
                atomic_store(&w->sh->stop, true);
                break;
            }
            if (rc < 0) {
                uint32_t suppressed = 0;
                failures++;
                if (log_throttle_allow(&w->conn_log, timesrc_mono_ms(&w->clock), LOG_REPEAT_MS,
                                       &suppressed)) {
                    char kv[64];
                    snprintf(kv, sizeof(kv), "\"attempt\":%u,\"suppressed\":%" PRIu32, failures,
                             suppressed);
                    LOG_WARN_KV(kv, "cannot connect to the broker: %s", err.msg);
                }
                sleep_unless_stop(w, backoff_next_ms(&reconnect));
                continue;
            }
            if (failures > 0)
                LOG_INFO("connected to the broker after %u failed attempts", failures);
            else
                LOG_INFO("connected to the broker");
            ever_connected = true;
            failures = 0;
            w->conn_log = (log_throttle_t){0};
            connected_ms = timesrc_mono_ms(&w->clock);
        }
        backoff_reset_if_lasted(&reconnect, connected_ms, timesrc_mono_ms(&w->clock));
        if (step(w, &err) < 0) {
            LOG_WARN("broker connection lost, reconnecting: %s", err.msg);
            metrics_counter_add(&w->sh->metrics->reconnects, 1);
            broker_drop(w, true);
            sleep_unless_stop(w, backoff_next_ms(&reconnect));
        }
    }
    finish(w);
    if (batch_state(w->batch) == BATCH_PAUSED)
        metrics_gauge_add(&w->sh->metrics->paused, -1);
    batch_destroy(w->batch);
    w->batch = NULL;
    store_close(w->store);
    w->store = NULL;
    LOG_INFO("worker stopped");
    atomic_store(&w->done, true);
    return NULL;
}

int worker_start(worker_shared_t *sh, unsigned index, worker_t **out, err_t *err)
{
    worker_t *w = xcalloc(1, sizeof(*w));
    w->sh = sh;
    w->index = index;
    w->clock = timesrc_real();
    atomic_init(&w->done, false);
    atomic_init(&w->beat_ms, timesrc_mono_ms(&w->clock));
    snprintf(w->name, sizeof(w->name), "worker-%u", index);
    snprintf(w->conn_name, sizeof(w->conn_name), "activity-consumer worker-%u", index);
    int rc = pthread_create(&w->thread, NULL, worker_main, w);
    if (rc != 0) {
        free(w);
        return err_set(err, rc == EAGAIN ? ERR_NOMEM : ERR_IO, NULL,
                       "cannot start worker thread: %s", strerror(rc));
    }
    *out = w;
    return 0;
}

bool worker_is_done(const worker_t *w)
{
    return atomic_load((atomic_bool *)&w->done);
}

int64_t worker_last_beat_ms(const worker_t *w)
{
    return atomic_load((_Atomic int64_t *)&w->beat_ms);
}

void worker_join(worker_t *w)
{
    if (w == NULL)
        return;
    pthread_join(w->thread, NULL);
    free(w);
}
