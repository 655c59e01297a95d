/* SPDX-License-Identifier: MIT */
#include "api/park.h"

#include <string.h>

#include "api/pending.h"
#include "common/owner.h"

/* Thread: its loop (owner only); bound when the loop first parks. */
struct park {
    owner_t owner;
    uv_loop_t *uv;
    h2o_timeout_t deadline; /* one duration for all: entries expire in parking order */
    pending_t *pending;
    api_metrics_t *metrics;
};

park_t *park_create(uv_loop_t *uv, uint32_t capacity, uint32_t deadline_ms, api_metrics_t *metrics)
{
    park_t *pk = xcalloc(1, sizeof(*pk));
    pk->uv = uv;
    pk->pending = pending_create(capacity);
    pk->metrics = metrics;
    h2o_timeout_init(uv, &pk->deadline, deadline_ms);
    return pk;
}

void park_dispose_timeouts(park_t *pk)
{
    h2o_timeout_dispose(pk->uv, &pk->deadline);
}

void park_destroy(park_t *pk)
{
    if (pk == NULL)
        return;
    pending_destroy(pk->pending);
    free(pk);
}

void park_remove(park_entry_t *e)
{
    if (e->ticket == 0)
        return;
    park_t *pk = e->park;
    ASSERT_OWNER(&pk->owner);
    pending_take(pk->pending, e->ticket);
    e->ticket = 0;
    if (h2o_timeout_is_linked(&e->deadline))
        h2o_timeout_unlink(&e->deadline);
    metrics_gauge_add(&pk->metrics->parked, -1);
}

static void entry_dispose(void *arg)
{
    park_entry_t *e = arg;
    if (e->ticket == 0)
        return;
    /* The client left before its answer: a late completion must find a stale ticket. */
    metrics_counter_add(&e->park->metrics->client_gone, 1);
    park_remove(e);
}

static void expire(park_entry_t *e)
{
    park_remove(e);
    e->on_expire(e->ctx, e);
}

static void deadline_cb(h2o_timeout_entry_t *entry)
{
    park_entry_t *e = H2O_STRUCT_FROM_MEMBER(park_entry_t, deadline, entry);
    if (e->ticket == 0)
        return;
    metrics_counter_add(&e->park->metrics->deadline_expired, 1);
    expire(e);
}

void *park_entry_alloc(park_t *pk, h2o_req_t *req, size_t size,
                       void (*on_done)(void *, park_entry_t *, const park_done_t *),
                       void (*on_expire)(void *, park_entry_t *), void *ctx)
{
    ASSERT(size >= sizeof(park_entry_t) && on_done != NULL && on_expire != NULL);
    park_entry_t *e = h2o_mem_alloc_shared(&req->pool, size, entry_dispose);
    memset(e, 0, size);
    e->park = pk;
    e->req = req;
    e->deadline.cb = deadline_cb;
    e->on_done = on_done;
    e->on_expire = on_expire;
    e->ctx = ctx;
    return e;
}

int park_add(park_entry_t *e)
{
    park_t *pk = e->park;
    owner_bind_once(&pk->owner);
    ASSERT_OWNER(&pk->owner);
    ASSERT(e->ticket == 0);
    if (pending_add(pk->pending, e, &e->ticket) < 0) {
        e->ticket = 0;
        metrics_counter_add(&pk->metrics->pending_full, 1);
        return ERR_FULL;
    }
    metrics_gauge_add(&pk->metrics->parked, 1);
    h2o_timeout_link(pk->uv, &pk->deadline, &e->deadline);
    return 0;
}

void park_deliver(park_t *pk, const park_done_t *done)
{
    park_entry_t *e = pending_get(pk->pending, done->ticket);
    if (e != NULL)
        e->on_done(e->ctx, e, done);
}

void park_expire_all(park_t *pk)
{
    /* The pending table does not iterate: walk the entries through their deadline list. */
    h2o_linklist_t *anchor = &pk->deadline._entries;
    while (!h2o_linklist_is_empty(anchor)) {
        h2o_timeout_entry_t *t = H2O_STRUCT_FROM_MEMBER(h2o_timeout_entry_t, _link, anchor->next);
        expire(H2O_STRUCT_FROM_MEMBER(park_entry_t, deadline, t));
    }
}

uint32_t park_count(const park_t *pk)
{
    return pending_count(pk->pending);
}
