/* SPDX-License-Identifier: MIT */
#define LOG_MODULE "worker"
#include "consumer/worker_log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/log.h"
#include "common/owner.h"

/* Thread: worker (owner only). */
struct worker_log {
    owner_t owner;
    uint32_t retry_max_ms;
    log_throttle_t retry, ping;
    int64_t dlq_window_ms; /* start of the current second of dead-letter lines */
    uint32_t dlq_logged;   /* lines written in that second */
    uint32_t dlq_unlogged; /* dead-lettered messages not logged one by one since */
};

worker_log_t *worker_log_create(uint32_t retry_max_ms)
{
    worker_log_t *l = xcalloc(1, sizeof(*l));
    owner_bind(&l->owner);
    l->retry_max_ms = retry_max_ms;
    return l;
}

void worker_log_destroy(worker_log_t *l)
{
    free(l);
}

/* Returns true when one more dead-lettered message may be logged on its own line this second;
 * the first line of a new second reports how many were only counted. */
static bool dlq_allow(worker_log_t *l, int64_t now, uint32_t *unlogged)
{
    *unlogged = 0;
    if (now - l->dlq_window_ms >= 1000) {
        *unlogged = l->dlq_unlogged;
        l->dlq_window_ms = now;
        l->dlq_logged = 0;
        l->dlq_unlogged = 0;
    }
    if (l->dlq_logged >= WORKER_LOG_DLQ_PER_S) {
        l->dlq_unlogged++;
        return false;
    }
    l->dlq_logged++;
    return true;
}

void worker_log_batch_event(worker_log_t *l, const batch_event_t *ev, int64_t now)
{
    ASSERT_OWNER(&l->owner);
    const char *why = ev->reason ? ev->reason->msg : "";
    uint32_t n = 0; /* suppressed or unlogged lines */
    char kv[160];
    switch (ev->kind) {
    case BATCH_EV_POISON:
        if (dlq_allow(l, now, &n)) {
            snprintf(kv, sizeof(kv), "\"delivery_tag\":%" PRIu64 ",\"unlogged\":%" PRIu32, ev->tag,
                     n);
            LOG_WARN_KV(kv, "poison message dead-lettered: %s", why);
        }
        break;
    case BATCH_EV_REJECTED:
        if (dlq_allow(l, now, &n)) {
            snprintf(kv, sizeof(kv),
                     "\"delivery_tag\":%" PRIu64 ",\"id\":\"%.40s\",\"unlogged\":%" PRIu32, ev->tag,
                     ev->id, n);
            LOG_ERROR_KV(kv, "database refused the document, dead-lettered: %s", why);
        }
        break;
    case BATCH_EV_FLUSHED:
        if (l->retry.last_ms != 0) {
            LOG_INFO("database writes succeed again");
            l->retry = (log_throttle_t){0};
        }
        break;
    case BATCH_EV_RETRY:
        if (log_throttle_allow(&l->retry, now, WORKER_LOG_REPEAT_MS, &n)) {
            snprintf(kv, sizeof(kv),
                     "\"attempt\":%u,\"delay_ms\":%" PRId64 ",\"held\":%u,\"suppressed\":%" PRIu32,
                     ev->attempt, ev->delay_ms, ev->count, n);
            LOG_WARN_KV(kv, "insert failed, retrying: %s", why);
        }
        break;
    case BATCH_EV_PAUSED:
        snprintf(kv, sizeof(kv), "\"requeued\":%u,\"retry_max_ms\":%" PRIu32, ev->count,
                 l->retry_max_ms);
        LOG_ERROR_KV(kv, "gave up on the database, requeued and paused consuming: %s", why);
        l->retry = (log_throttle_t){0};
        l->ping = (log_throttle_t){0};
        break;
    case BATCH_EV_PING_FAILED:
        if (log_throttle_allow(&l->ping, now, WORKER_LOG_REPEAT_MS, &n)) {
            snprintf(kv, sizeof(kv), "\"attempt\":%u,\"suppressed\":%" PRIu32, ev->attempt, n);
            LOG_WARN_KV(kv, "database still unavailable, staying paused: %s", why);
        }
        break;
    case BATCH_EV_RESUMED:
        LOG_INFO("database answers again, consuming resumed");
        break;
    case BATCH_EV_REQUEUED:
        snprintf(kv, sizeof(kv), "\"requeued\":%u", ev->count);
        LOG_WARN_KV(kv, "shutting down without the database, requeued held messages: %s", why);
        break;
    }
}
