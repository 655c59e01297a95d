/* SPDX-License-Identifier: MIT */
#include "consumer/worker_metrics.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"

#define MSGS "activity_consumer_messages_total"

/* Insert latency buckets from 1 ms to 10 s: a healthy insert_many takes a few milliseconds,
 * a failing one up to the store's socket timeout. */
static const uint64_t insert_bounds_us[] = {1000,   2500,   5000,   10000,   25000,   50000,
                                            100000, 250000, 500000, 1000000, 2500000, 10000000};

/* One family of one unlabelled sample (metrics_render_one_u64, for a signed gauge). */
static void render_one_i64(metrics_buf_t *b, const char *name, const char *help, int64_t v)
{
    metrics_render_family(b, name, "gauge", help);
    metrics_render_i64(b, name, NULL, v);
}

void worker_metrics_init(worker_metrics_t *m)
{
    memset(m, 0, sizeof(*m));
    metrics_histogram_init(&m->insert_latency, insert_bounds_us,
                           (uint32_t)(sizeof(insert_bounds_us) / sizeof(insert_bounds_us[0])));
}

void worker_metrics_count_event(worker_metrics_t *m, const batch_event_t *ev)
{
    switch (ev->kind) {
    case BATCH_EV_POISON:
        metrics_counter_add(&m->poison, 1);
        break;
    case BATCH_EV_REJECTED:
        metrics_counter_add(&m->rejected, 1);
        break;
    case BATCH_EV_FLUSHED:
        metrics_counter_add(&m->stored, ev->stored);
        metrics_counter_add(&m->duplicate, ev->duplicates);
        metrics_counter_add(&m->batches, 1);
        break;
    case BATCH_EV_PAUSED:
        metrics_counter_add(&m->requeued, ev->count);
        metrics_gauge_add(&m->paused, 1);
        break;
    case BATCH_EV_RESUMED:
        metrics_gauge_add(&m->paused, -1);
        break;
    case BATCH_EV_REQUEUED:
        metrics_counter_add(&m->requeued, ev->count);
        break;
    case BATCH_EV_RETRY:
    case BATCH_EV_PING_FAILED:
        break;
    }
}

int worker_metrics_render(const worker_metrics_t *m, char *buf, size_t cap)
{
    static const struct {
        const char *label;
        size_t offset;
    } results[] = {
        {"result=\"stored\"", offsetof(worker_metrics_t, stored)},
        {"result=\"duplicate\"", offsetof(worker_metrics_t, duplicate)},
        {"result=\"poison\"", offsetof(worker_metrics_t, poison)},
        {"result=\"rejected\"", offsetof(worker_metrics_t, rejected)},
        {"result=\"requeued\"", offsetof(worker_metrics_t, requeued)},
    };
    ASSERT(cap <= INT_MAX);
    metrics_buf_t b;
    metrics_buf_init(&b, buf, cap);
    metrics_render_family(&b, MSGS, "counter",
                          "Deliveries settled, by result: stored, duplicate (already stored), "
                          "poison and rejected (dead-lettered), requeued (database gave up).");
    for (size_t i = 0; i < sizeof(results) / sizeof(results[0]); i++) {
        const metrics_counter_t *c =
            (const metrics_counter_t *)((const char *)m + results[i].offset);
        metrics_render_u64(&b, MSGS, results[i].label, metrics_counter_get(c));
    }
    metrics_render_one_u64(&b, "activity_consumer_batches_total", "counter",
                           "Batches stored and acknowledged.", metrics_counter_get(&m->batches));
    metrics_render_family(&b, "activity_consumer_insert_duration_seconds", "histogram",
                          "Duration of one insert_many call, successful or not.");
    metrics_render_histogram(&b, "activity_consumer_insert_duration_seconds", NULL,
                             &m->insert_latency);
    render_one_i64(&b, "activity_consumer_workers_connected",
                   "Workers with a live broker connection.", metrics_gauge_get(&m->connected));
    render_one_i64(&b, "activity_consumer_paused",
                   "Workers not consuming until the database answers again.",
                   metrics_gauge_get(&m->paused));
    metrics_render_one_u64(&b, "activity_consumer_reconnects_total", "counter",
                           "Broker connections lost and re-established.",
                           metrics_counter_get(&m->reconnects));
    if (b.truncated)
        return ERR_FULL;
    return (int)b.len;
}

worker_metrics_health_t worker_metrics_health(const worker_metrics_t *m, unsigned workers,
                                              bool stopping)
{
    return (worker_metrics_health_t){.workers = workers,
                                     .connected = metrics_gauge_get(&m->connected),
                                     .paused = metrics_gauge_get(&m->paused),
                                     .stopping = stopping};
}

bool worker_metrics_health_is_ok(const worker_metrics_health_t *h)
{
    return !h->stopping && h->workers > 0 && h->connected >= (int64_t)h->workers;
}

int worker_metrics_health_format(const worker_metrics_health_t *h, char *buf, size_t cap)
{
    int n = snprintf(buf, cap,
                     "{\"status\":\"%s\",\"workers\":%u,\"connected\":%" PRId64
                     ",\"paused\":%" PRId64 ",\"stopping\":%s}",
                     worker_metrics_health_is_ok(h) ? "ok" : "unavailable", h->workers,
                     h->connected, h->paused, h->stopping ? "true" : "false");
    if (n < 0 || (size_t)n >= cap)
        return ERR_FULL;
    return n;
}
