/* SPDX-License-Identifier: MIT */
/*
 * DESIGN. POST /api/v1/activities runs entirely on its loop thread until the event is encoded:
 * rate limit (before anything else, so invalid requests count too), media type, validation,
 * id assignment, encoding. The encoded message then travels by value through the MPSC ring to
 * the amqp thread, and the request is parked: a guard allocated on the request pool records
 * its pending ticket and a deadline entry. Exactly one of three things answers a parked
 * request: its completion (202, or 503), its deadline (503), or nothing because the client
 * left — then the pool's dispose hook takes the ticket back and unlinks the deadline, and the
 * late completion finds a stale ticket and is dropped.
 */
#include <string.h>
#include <sys/random.h>

#include "api/problem.h"
#include "api/server.h"
#include "common/activity.h"
#include "common/validate.h"

typedef struct parked {
    h2o_timeout_entry_t deadline;
    server_loop_t *loop;
    h2o_req_t *req;
    uint64_t ticket; /* 0 once answered or abandoned */
    char id[IDGEN_STR_LEN + 1];
} parked_t;

static uint64_t next_random(server_loop_t *loop)
{
    /* xorshift128+: fast, per loop, seeded from getrandom; UUIDv7's random bits need
     * uniqueness, not secrecy. */
    uint64_t s1 = loop->rng[0];
    const uint64_t s0 = loop->rng[1];
    loop->rng[0] = s0;
    s1 ^= s1 << 23;
    loop->rng[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
    return loop->rng[1] + s0;
}

static void new_id(server_loop_t *loop, int64_t now_ms, char *out)
{
    uint8_t rand[16], id[16];
    uint64_t a = next_random(loop), b = next_random(loop);
    memcpy(rand, &a, 8);
    memcpy(rand + 8, &b, 8);
    idgen_v7(now_ms, rand, id);
    idgen_format(id, out);
}

static void add_ratelimit_headers(h2o_req_t *req, const server_shared_t *sh,
                                  const ratelimit_verdict_t *v)
{
    char value[48];
    size_t n = problem_ratelimit_value(v->remaining, v->reset_s, value, sizeof(value));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("ratelimit-policy"), 0, NULL,
                          sh->ratelimit_policy, strlen(sh->ratelimit_policy));
    h2o_iovec_t dup = h2o_strdup(&req->pool, value, n);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("ratelimit"), 0, NULL, dup.base,
                          dup.len);
}

static void reply(server_loop_t *loop, h2o_req_t *req, const problem_t *p, const char *reason,
                  uint32_t retry_after_s)
{
    api_metrics_count(&loop->metrics, API_ROUTE_ACTIVITIES, p->status);
    server_send_problem(req, p, reason, retry_after_s);
}

/* The client key: the peer, or the X-Forwarded-For client when the peer is a trusted proxy. */
static void client_key(h2o_req_t *req, const server_shared_t *sh, client_addr_t *out)
{
    struct sockaddr_storage ss;
    socklen_t sl = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    client_addr_t peer = {.len = 0};
    if (sl == 0 || client_addr_from_sockaddr((struct sockaddr *)&ss, sl, &peer) < 0) {
        /* No usable peer address (unix socket, say): all such requests share one key. */
        *out = (client_addr_t){.len = 4};
        return;
    }
    if (!client_cidrs_contains(sh->trusted, &peer)) {
        *out = peer;
        return;
    }
    /* Join every X-Forwarded-For line, in order, as one list. */
    char xff[1024];
    size_t len = 0;
    for (ssize_t i = -1;
         (i = h2o_find_header(&req->headers, H2O_TOKEN_X_FORWARDED_FOR, i)) != -1;) {
        const h2o_iovec_t *v = &req->headers.entries[i].value;
        if (len + v->len + 2 > sizeof(xff))
            break;
        if (len > 0) {
            memcpy(xff + len, ", ", 2);
            len += 2;
        }
        memcpy(xff + len, v->base, v->len);
        len += v->len;
    }
    client_addr_resolve(&peer, len > 0 ? xff : NULL, len, sh->trusted, out);
}

static bool is_json_media_type(h2o_req_t *req)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    if (i == -1)
        return false;
    const h2o_iovec_t *v = &req->headers.entries[i].value;
    size_t n = v->len;
    const char *semi = memchr(v->base, ';', n);
    if (semi != NULL)
        n = (size_t)(semi - v->base);
    while (n > 0 && (v->base[n - 1] == ' ' || v->base[n - 1] == '\t'))
        n--;
    return h2o_lcstris(v->base, n, H2O_STRLIT("application/json"));
}

static void parked_dispose(void *p)
{
    parked_t *pk = p;
    if (pk->ticket == 0)
        return;
    /* The client left before its answer: forget the ticket so the completion is dropped. */
    pending_take(pk->loop->pending, pk->ticket);
    pk->ticket = 0;
    if (h2o_timeout_is_linked(&pk->deadline))
        h2o_timeout_unlink(&pk->deadline);
    metrics_gauge_add(&pk->loop->metrics.parked, -1);
    metrics_counter_add(&pk->loop->metrics.client_gone, 1);
}

static void answer_unavailable(server_loop_t *loop, h2o_req_t *req, const char *id,
                               const char *detail)
{
    problem_t p = {.status = 503,
                   .type = "unavailable",
                   .title = "Service Unavailable",
                   .detail = detail,
                   .id = id};
    reply(loop, req, &p, "Service Unavailable", 1);
}

/* Answers a parked request that is still owned by the loop (ticket already taken). */
static void answer_parked(parked_t *pk, pub_status_t status)
{
    server_loop_t *loop = pk->loop;
    h2o_req_t *req = pk->req;
    pk->ticket = 0;
    if (h2o_timeout_is_linked(&pk->deadline))
        h2o_timeout_unlink(&pk->deadline);
    metrics_gauge_add(&loop->metrics.parked, -1);
    switch (status) {
    case PUB_CONFIRMED: {
        char body[80];
        int n = snprintf(body, sizeof(body), "{\"id\":\"%s\",\"status\":\"accepted\"}", pk->id);
        api_metrics_count(&loop->metrics, API_ROUTE_ACTIVITIES, 202);
        server_send(req, 202, "Accepted", "application/json", body, (size_t)n);
        return;
    }
    case PUB_TIMEOUT:
        answer_unavailable(loop, req, pk->id,
                           "the message broker did not confirm the event in time; retry with "
                           "the same id");
        return;
    case PUB_REFUSED:
        answer_unavailable(loop, req, pk->id,
                           "the message broker refused the event; retry with the same id");
        return;
    default:
        answer_unavailable(loop, req, pk->id,
                           "the message broker is unavailable; retry with the same id");
        return;
    }
}

static void deadline_cb(h2o_timeout_entry_t *entry)
{
    parked_t *pk = H2O_STRUCT_FROM_MEMBER(parked_t, deadline, entry);
    if (pk->ticket == 0 || pending_take(pk->loop->pending, pk->ticket) == NULL)
        return;
    metrics_counter_add(&pk->loop->metrics.deadline_expired, 1);
    answer_parked(pk, PUB_TIMEOUT);
}

void route_activities_on_done(server_loop_t *loop, const server_done_t *done)
{
    parked_t *pk = pending_take(loop->pending, done->ticket);
    if (pk == NULL)
        return; /* answered by its deadline, or the client left */
    int64_t now = timesrc_mono_ms(&loop->shared->clock);
    if (done->status == PUB_CONFIRMED && now >= done->enqueued_ms)
        metrics_histogram_observe_us(&loop->metrics.publish_latency,
                                     (uint64_t)(now - done->enqueued_ms) * 1000);
    answer_parked(pk, (pub_status_t)done->status);
}

void route_activities_expire_all(server_loop_t *loop)
{
    /* Used at the end of a drain: every request still parked gets its 503 now. The pending
     * table does not iterate, so walk the parked requests through their deadline list. */
    h2o_linklist_t *anchor = &loop->deadline._entries;
    while (!h2o_linklist_is_empty(anchor)) {
        h2o_timeout_entry_t *e = H2O_STRUCT_FROM_MEMBER(h2o_timeout_entry_t, _link, anchor->next);
        h2o_timeout_unlink(e);
        deadline_cb(e);
    }
}

/* Parks req and hands its message to the amqp thread. Takes ownership of body. */
static void park(server_loop_t *loop, h2o_req_t *req, const activity_t *a, char *body, size_t len)
{
    server_shared_t *sh = loop->shared;
    parked_t *pk = h2o_mem_alloc_shared(&req->pool, sizeof(*pk), parked_dispose);
    memset(pk, 0, sizeof(*pk));
    pk->loop = loop;
    pk->req = req;
    pk->deadline.cb = deadline_cb;
    memcpy(pk->id, a->id, sizeof(pk->id));

    uint64_t ticket;
    if (pending_add(loop->pending, pk, &ticket) < 0) {
        free(body);
        metrics_counter_add(&loop->metrics.pending_full, 1);
        answer_unavailable(loop, req, a->id, "too many requests are waiting for the broker");
        return;
    }
    pub_job_t job = {.ticket = ticket,
                     .loop = loop->index,
                     .len = (uint32_t)len,
                     .body = body,
                     .received_ms = a->received_ms,
                     .enqueued_ms = timesrc_mono_ms(&sh->clock)};
    memcpy(job.id, a->id, sizeof(job.id));
    if (ring_mpsc_try_push(sh->jobs, &job) < 0) {
        pending_take(loop->pending, ticket);
        free(body);
        metrics_counter_add(&loop->metrics.ring_full, 1);
        answer_unavailable(loop, req, a->id,
                           "the service is saturated (publish queue full); retry later");
        return;
    }
    pk->ticket = ticket;
    metrics_gauge_add(&loop->metrics.parked, 1);
    h2o_timeout_link(&loop->uv, &loop->deadline, &pk->deadline);
    loop->pushed = true; /* the AMQP thread is woken once per loop iteration (server.c) */
}

static void accept_event(server_loop_t *loop, h2o_req_t *req)
{
    server_shared_t *sh = loop->shared;
    const char *body = req->entity.base != NULL ? req->entity.base : "";
    activity_t a;
    validate_report_t rep;
    if (validate_request(body, req->entity.len, &a, &rep) < 0) {
        char detail[64];
        snprintf(detail, sizeof(detail), "%u invalid field%s", rep.total,
                 rep.total == 1 ? "" : "s");
        problem_t p = {.status = 400,
                       .type = "invalid-event",
                       .title = "Invalid event",
                       .detail = detail,
                       .report = &rep};
        reply(loop, req, &p, "Bad Request", 0);
        return;
    }
    a.received_ms = timesrc_wall_ms(&sh->clock);
    if (a.id[0] == '\0')
        new_id(loop, a.received_ms, a.id);
    char *msg;
    size_t len;
    int rc = activity_encode(&a, &msg, &len);
    if (rc < 0) {
        activity_deinit(&a);
        answer_unavailable(loop, req, NULL, "the event could not be encoded");
        return;
    }
    park(loop, req, &a, msg, len);
    activity_deinit(&a);
}

int route_activities_on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    server_loop_t *loop = server_loop_of(req);
    server_shared_t *sh = loop->shared;

    if (!h2o_memis(req->path_normalized.base, req->path_normalized.len,
                   H2O_STRLIT("/api/v1/activities")))
        return route_ops_on_req(self, req); /* a deeper path: the problem+json 404 */
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) {
        problem_t p = {.status = 405,
                       .type = "method-not-allowed",
                       .title = "Method Not Allowed",
                       .detail = "events are submitted with POST"};
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, H2O_STRLIT("POST"));
        reply(loop, req, &p, "Method Not Allowed", 0);
        return 0;
    }

    client_addr_t key;
    client_key(req, sh, &key);
    ratelimit_verdict_t v;
    ratelimit_check(sh->ratelimit, key.bytes, key.len, &v);
    add_ratelimit_headers(req, sh, &v);
    if (!v.allowed) {
        if (v.at_capacity)
            metrics_counter_add(&loop->metrics.rate_limited_at_capacity, 1);
        problem_t p = {.status = 429,
                       .type = "rate-limited",
                       .title = "Too Many Requests",
                       .detail = v.at_capacity
                                     ? "the service is tracking as many clients as it can; "
                                       "retry after the indicated delay"
                                     : "rate limit exceeded; retry after the indicated delay"};
        reply(loop, req, &p, "Too Many Requests", v.retry_after_s);
        return 0;
    }
    if (!is_json_media_type(req)) {
        problem_t p = {.status = 415,
                       .type = "unsupported-media-type",
                       .title = "Unsupported Media Type",
                       .detail = "the body must be sent as Content-Type: application/json"};
        reply(loop, req, &p, "Unsupported Media Type", 0);
        return 0;
    }
    accept_event(loop, req);
    return 0;
}
