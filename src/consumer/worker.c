/* SPDX-License-Identifier: MIT */
/*
 * DESIGN. Each worker thread owns one broker channel (channel.c: its own rabbitmq-c connection,
 * which is not thread-safe), one mongoc client popped from the shared pool for its whole life
 * (store.c), and one batch_t (batch.c, the pure policy). Its loop waits for one frame with
 * channel_receive for at most the time until the batch's next deadline, STOP_POLL_MS (to notice
 * the stop flag) and heartbeat/2 (rabbitmq-c only services heartbeats inside its calls), then
 * offers a delivery and ticks the batch, which may insert synchronously and settles deliveries
 * through the channel's batch_broker_t. The store's socket and selection timeouts (store.c) keep
 * an insert well below two heartbeat intervals.
 * A lost connection drops the batch's deliveries (the broker requeues unacked ones itself) and
 * reconnects to the next broker of RABBITMQ_URL (failover.h); a paused batch stays paused across
 * the reconnect.
 * On the stop flag: cancel, take the deliveries already received into the batch, flush and ack
 * it (bounded by CONSUMER_RETRY_MAX_MS), close politely, push the client back.
 */
#define LOG_MODULE "worker"
#include "consumer/worker.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/failover.h"
#include "common/log.h"
#include "common/owner.h"
#include "common/timesrc.h"
#include "consumer/batch.h"
#include "consumer/channel.h"
#include "consumer/worker_log.h"

#define STOP_POLL_MS      250
#define RECONNECT_BASE_MS 200
#define RECONNECT_MAX_MS  10000

/* Thread: fields above the marker are shared (atomics, or written by main before the thread
 * starts and read-only afterwards); the rest belong to the worker thread (owner, asserted). */
struct worker {
    worker_shared_t *sh;
    unsigned index;
    pthread_t thread;
    atomic_bool done;
    _Atomic int64_t beat_ms;
    char name[32];
    char conn_name[64];
    timesrc_t clock;
    /* --- worker thread only --- */
    owner_t owner;
    channel_t *chan;
    store_t *store;
    batch_t *batch;
    worker_log_t *log;
    log_throttle_t conn_log; /* "cannot connect to the broker" */
};

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

/* ---- the batch's store: timed inserts --------------------------------------------------- */

static int timed_insert(void *ctx, const bson_t *const *docs, size_t n, batch_doc_result_t *res,
                        err_t *err)
{
    worker_t *w = ctx;
    ASSERT_OWNER(&w->owner);
    int64_t t0 = timesrc_mono_ms(&w->clock);
    int rc = store_insert_many(w->store, docs, n, res, err);
    int64_t ms = timesrc_mono_ms(&w->clock) - t0;
    metrics_histogram_observe_us(&w->sh->metrics->insert_latency, ms > 0 ? (uint64_t)ms * 1000 : 0);
    return rc;
}

static int ping(void *ctx, err_t *err)
{
    worker_t *w = ctx;
    return store_ping(w->store, err);
}

/* ---- batch events: counted, and logged here at the thread's top level -------------------- */

static void on_event(void *ctx, const batch_event_t *ev)
{
    worker_t *w = ctx;
    ASSERT_OWNER(&w->owner);
    worker_metrics_count_event(w->sh->metrics, ev);
    worker_log_batch_event(w->log, ev, timesrc_mono_ms(&w->clock));
}

/* ---- the broker side of the loop ---------------------------------------------------------- */

static int broker_connect(worker_t *w, const brokerurl_t *broker, err_t *err)
{
    /* A batch paused before the connection was lost stays paused until the database answers;
     * its resume callback starts consuming then. */
    int rc = channel_connect(w->chan, broker, batch_state(w->batch) != BATCH_PAUSED, err);
    if (rc == 0)
        metrics_gauge_add(&w->sh->metrics->connected, 1);
    return rc;
}

static void broker_drop(worker_t *w, bool broken)
{
    if (!channel_is_connected(w->chan))
        return;
    channel_drop(w->chan, broken);
    batch_abandon(w->batch);
    metrics_gauge_add(&w->sh->metrics->connected, -1);
}

/* Waits for at most wait_ms for one frame and offers a delivery to the batch. */
static int receive_one(worker_t *w, int64_t wait_ms, err_t *err)
{
    channel_rx_t rx;
    int rc = channel_receive(w->chan, wait_ms, &rx, err);
    if (rc < 0)
        return rc;
    switch (rx.kind) {
    case CHANNEL_RX_DELIVERY:
        rc = batch_offer(w->batch, rx.tag, rx.body, rx.len);
        if (rc == ERR_CLOSED)
            return 0; /* paused: dropped unacked, already requeued by the nack */
        if (rc < 0 && err != NULL)
            *err = *channel_last_err(w->chan);
        return rc;
    case CHANNEL_RX_BLOCKED:
        LOG_WARN("broker blocked the connection (resource alarm)");
        return 0;
    case CHANNEL_RX_UNBLOCKED:
        LOG_INFO("broker unblocked the connection");
        return 0;
    case CHANNEL_RX_NONE:
        break;
    }
    return 0;
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

static int tick(worker_t *w, err_t *err)
{
    int rc = batch_tick(w->batch);
    if (rc < 0 && err != NULL)
        *err = *channel_last_err(w->chan);
    return rc;
}

static int step(worker_t *w, err_t *err)
{
    ASSERT_OWNER(&w->owner);
    int rc = receive_one(w, wait_budget_ms(w), err);
    return rc < 0 ? rc : tick(w, err);
}

/* Stop: cancel, take what already arrived, flush and ack, close. */
static void finish(worker_t *w)
{
    ASSERT_OWNER(&w->owner);
    if (!channel_is_connected(w->chan))
        return;
    err_t err;
    int rc = channel_cancel(w->chan, &err);
    while (rc == 0 && channel_has_buffered(w->chan))
        rc = receive_one(w, 0, &err);
    batch_drain(w->batch);
    while (rc == 0 && !batch_is_idle(w->batch)) {
        beat(w);
        rc = tick(w, &err);
        /* Wait for the next retry while servicing heartbeats (nothing is delivered now). */
        if (rc == 0 && !batch_is_idle(w->batch))
            rc = receive_one(w, wait_budget_ms(w), &err);
    }
    if (rc < 0)
        LOG_WARN("broker lost while finishing; unacked messages return to the queue: %s", err.msg);
    else if (batch_held(w->batch) == 0)
        LOG_DEBUG("final batch acknowledged");
    broker_drop(w, rc < 0);
}

/* One connection attempt of the loop, on the broker failover says. Returns 0 when connected, 1
 * to go round again (at once on the next broker, or after a backoff once every broker failed),
 * or -1 when the worker must give up (refused at startup: the process stops). */
static int connect_or_wait(worker_t *w, failover_t *fo, unsigned *failures, bool ever_connected)
{
    err_t err;
    const brokerurl_t *broker = &w->sh->brokers->urls[failover_current(fo)];
    int rc = broker_connect(w, broker, &err);
    if (rc < 0 && !ever_connected && (rc == ERR_PROTO || rc == ERR_INVAL)) {
        /* A topology mismatch, refused credentials or a bad URL at startup will not heal by
         * retrying: stop the whole process with the broker's reason. */
        LOG_ERROR("cannot start consuming: %s", err.msg);
        atomic_store(&w->sh->failed, true);
        atomic_store(&w->sh->stop, true);
        return -1;
    }
    if (rc < 0) {
        uint32_t suppressed = 0;
        (*failures)++;
        if (log_throttle_allow(&w->conn_log, timesrc_mono_ms(&w->clock), WORKER_LOG_REPEAT_MS,
                               &suppressed)) {
            char kv[64];
            snprintf(kv, sizeof(kv), "\"attempt\":%u,\"suppressed\":%" PRIu32, *failures,
                     suppressed);
            LOG_WARN_KV(kv, "cannot connect to the broker: %s", err.msg);
        }
        sleep_unless_stop(w, failover_failed(fo, timesrc_mono_ms(&w->clock)));
        return 1;
    }
    failover_connected(fo, timesrc_mono_ms(&w->clock));
    char addr[BROKERURL_PART_MAX + 16];
    brokerurl_format_addr(broker, addr, sizeof(addr));
    LOG_INFO("connected to the broker %s after %u failed attempts; queue \"%s\" (%s)", addr,
             *failures, w->sh->cfg->rabbitmq_queue,
             mq_queue_type_name(channel_queue_type(w->chan)));
    *failures = 0;
    w->conn_log = (log_throttle_t){0};
    return 0;
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    const config_t *cfg = w->sh->cfg;
    owner_bind(&w->owner);
    log_set_thread(w->name);
    w->store = store_open(w->sh->pool);
    w->chan = channel_create(cfg, w->conn_name);
    w->log = worker_log_create(cfg->consumer_retry_max_ms);
    batch_params_t bp = {
        .batch_size = cfg->consumer_batch_size,
        .batch_ms = cfg->consumer_batch_ms,
        .retry_max_ms = cfg->consumer_retry_max_ms,
        .seed = (uint64_t)w->index * 0x9e3779b97f4a7c15ull ^ (uint64_t)timesrc_wall_ms(&w->clock),
        .clock = w->clock,
        .broker = channel_broker(w->chan),
        .store = {timed_insert, ping, w},
        .event_cb = on_event,
        .event_ctx = w,
    };
    w->batch = batch_create(&bp);
    failover_t fo;
    failover_init(&fo, w->sh->brokers->count, RECONNECT_BASE_MS, RECONNECT_MAX_MS, bp.seed);
    unsigned failures = 0;
    bool ever_connected = false;

    while (!stopping(w)) {
        beat(w);
        if (!channel_is_connected(w->chan)) {
            int rc = connect_or_wait(w, &fo, &failures, ever_connected);
            if (rc < 0)
                break;
            if (rc > 0)
                continue;
            ever_connected = true;
        }
        failover_tick(&fo, timesrc_mono_ms(&w->clock));
        err_t err;
        if (step(w, &err) < 0) {
            LOG_WARN("broker connection lost, reconnecting: %s", err.msg);
            metrics_counter_add(&w->sh->metrics->reconnects, 1);
            broker_drop(w, true);
            sleep_unless_stop(w, failover_failed(&fo, timesrc_mono_ms(&w->clock)));
        }
    }
    finish(w);
    if (batch_state(w->batch) == BATCH_PAUSED)
        metrics_gauge_add(&w->sh->metrics->paused, -1);
    batch_destroy(w->batch);
    channel_destroy(w->chan);
    store_close(w->store);
    worker_log_destroy(w->log);
    w->batch = NULL;
    w->chan = NULL;
    w->store = NULL;
    w->log = NULL;
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
