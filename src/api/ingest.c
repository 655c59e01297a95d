/* SPDX-License-Identifier: MIT */
/*
 * DESIGN. A POST runs on its loop thread until its events are encoded; then each event travels
 * by value through the MPSC ring to the amqp thread as a job of its own, and the request waits
 * parked (park.h) under one ticket that all its jobs carry. Each job's outcome comes back as a
 * completion for that ticket: a failure answers 503 at once (the later completions then find a
 * stale ticket and are dropped), and the last confirm answers 202. A batch is thus all or
 * nothing for the client: 202 only once every event is confirmed; after a 503 some events may be
 * queued, and a retry with the same ids stores each once.
 * The admission checks run in the order DESIGN §2a and §3 give: the API key before the limiter
 * (a 401 is not counted), the limiter before everything else (an invalid request counts too),
 * then the media type, the content coding and the size, which for a compressed body is that of
 * the inflated bytes (inflation stops at the limit).
 */
#include "api/ingest.h"

#include <string.h>

#include "api/apikeys.h"
#include "api/app.h"
#include "api/inflate.h"
#include "api/respond.h"
#include "common/ows.h"

/* A parked POST. Thread: its loop. */
typedef struct parked {
    park_entry_t base; /* first: the park's view */
    enum api_route route;
    bool batch;
    uint32_t n, outstanding; /* jobs, and those not confirmed yet */
    char (*ids)[IDGEN_STR_LEN + 1];
    char id[IDGEN_STR_LEN + 1]; /* ids of a single event */
} parked_t;

void ingest_problem(h2o_req_t *req, enum api_route route, const problem_t *p, const char *reason,
                    uint32_t retry_after_s)
{
    api_metrics_count(server_loop_metrics(server_loop_of(req)), route, p->status);
    respond_problem(req, p, reason, retry_after_s);
}

/* ---- admission ------------------------------------------------------------------------------ */

static void add_ratelimit_headers(h2o_req_t *req, const app_t *app, const ratelimit_verdict_t *v)
{
    char value[48];
    size_t n = problem_ratelimit_value(v->remaining, v->reset_s, value, sizeof(value));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("ratelimit-policy"), 0, NULL,
                          app->ratelimit_policy, strlen(app->ratelimit_policy));
    h2o_iovec_t dup = h2o_strdup(&req->pool, value, n);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("ratelimit"), 0, NULL, dup.base,
                          dup.len);
}

/* The client key (DESIGN §3): the peer, or the X-Forwarded-For client when the peer is a trusted
 * proxy, walked from the last header line back; an IPv6 client keyed by its network. */
static void client_key(h2o_req_t *req, const app_t *app, client_addr_t *out)
{
    struct sockaddr_storage ss;
    socklen_t sl = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    client_addr_t peer = {.len = 0};
    if (sl == 0 || client_addr_from_sockaddr((struct sockaddr *)&ss, sl, &peer) < 0) {
        /* No usable peer address (unix socket, say): all such requests share one key. */
        *out = (client_addr_t){.len = 4};
        return;
    }
    if (client_cidrs_contains(app->trusted, &peer)) {
        /* Only the last lines can matter (client_addr.h): keep the last ones, in order, in a
         * circular window, so no line a proxy appended is ever dropped. */
        client_addr_xff_line_t lines[CLIENT_ADDR_XFF_MAX_ENTRIES];
        size_t seen = 0;
        for (ssize_t i = -1;
             (i = h2o_find_header(&req->headers, H2O_TOKEN_X_FORWARDED_FOR, i)) != -1; seen++) {
            const h2o_iovec_t *v = &req->headers.entries[i].value;
            lines[seen % CLIENT_ADDR_XFF_MAX_ENTRIES] =
                (client_addr_xff_line_t){.base = v->base, .len = v->len};
        }
        size_t n = seen < CLIENT_ADDR_XFF_MAX_ENTRIES ? seen : CLIENT_ADDR_XFF_MAX_ENTRIES;
        client_addr_xff_line_t ordered[CLIENT_ADDR_XFF_MAX_ENTRIES];
        for (size_t k = 0; k < n; k++)
            ordered[k] = lines[(seen - n + k) % CLIENT_ADDR_XFF_MAX_ENTRIES];
        client_addr_resolve_lines(&peer, ordered, n, app->trusted, &peer);
    }
    client_addr_key(&peer, app->cfg->rate_limit_ipv6_prefix, out);
}

/* The value of the request header at index i (from h2o_find_header or h2o_find_header_by_str),
 * or NULL (len 0) when i is -1: the header is absent. */
static const char *header_at(h2o_req_t *req, ssize_t i, size_t *len)
{
    *len = i != -1 ? req->headers.entries[i].value.len : 0;
    return i != -1 ? req->headers.entries[i].value.base : NULL;
}

static bool is_json_media_type(h2o_req_t *req)
{
    size_t n;
    const char *v = header_at(req, h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1), &n);
    if (v == NULL)
        return false;
    const char *semi = memchr(v, ';', n);
    if (semi != NULL)
        n = (size_t)(semi - v);
    while (n > 0 && ows_is(v[n - 1]))
        n--;
    return h2o_lcstris(v, n, H2O_STRLIT("application/json"));
}

/* The limiter: true when req may go on; otherwise it was answered 429. */
static bool admit_rate(const app_t *app, server_loop_t *loop, h2o_req_t *req, enum api_route route)
{
    client_addr_t key;
    client_key(req, app, &key);
    ratelimit_verdict_t v;
    ratelimit_check(app->ratelimit, key.bytes, key.len, &v);
    add_ratelimit_headers(req, app, &v);
    if (v.allowed)
        return true;
    if (v.at_capacity)
        metrics_counter_add(&server_loop_metrics(loop)->rate_limited_at_capacity, 1);
    problem_t p = {.status = 429,
                   .type = "rate-limited",
                   .title = "Too Many Requests",
                   .detail = v.at_capacity
                                 ? "the service is tracking as many clients as it can; "
                                   "retry after the indicated delay"
                                 : "rate limit exceeded; retry after the indicated delay"};
    ingest_problem(req, route, &p, "Too Many Requests", v.retry_after_s);
    return false;
}

/* The API key, when keys are configured: true when req may go on; otherwise it was answered
 * 401, which the limiter does not count. */
static bool admit_key(const app_t *app, h2o_req_t *req, enum api_route route)
{
    if (app->keys == NULL)
        return true; /* no key configured: the endpoints are open */
    size_t alen, xlen, klen;
    const char *auth =
        header_at(req, h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1), &alen);
    const char *xkey =
        header_at(req, h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-api-key"), -1), &xlen);
    const char *key;
    int rc = apikeys_presented(auth, alen, xkey, xlen, &key, &klen);
    if (rc == 0 && apikeys_check(app->keys, key, klen))
        return true;
    problem_t p = {.status = 401,
                   .type = "unauthorized",
                   .title = "Unauthorized",
                   .detail = rc == ERR_EMPTY
                                 ? "an API key is required: Authorization: Bearer <key> or "
                                   "X-API-Key: <key>"
                                 : "the API key is not valid"};
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL,
                   H2O_STRLIT("Bearer realm=\"activity-api\""));
    ingest_problem(req, route, &p, "Unauthorized", 0);
    return false;
}

static void too_large(h2o_req_t *req, enum api_route route, size_t limit)
{
    char detail[96];
    snprintf(detail, sizeof(detail), "the body must be at most %zu bytes", limit);
    problem_t p = {
        .status = 413, .type = "content-too-large", .title = "Content Too Large", .detail = detail};
    ingest_problem(req, route, &p, "Content Too Large", 0);
}

/* The body in *body, inflated into the request's pool when it is compressed: true, or false
 * when req was answered (415 unknown coding, 400 corrupt, 413 too large). */
static bool admit_body(const app_t *app, server_loop_t *loop, h2o_req_t *req, enum api_route route,
                       size_t limit, ingest_body_t *body)
{
    const char *raw = req->entity.base != NULL ? req->entity.base : "";
    size_t raw_len = req->entity.len;
    /* Several Content-Encoding lines are one list: join them (a long list is refused). */
    char codings[128];
    size_t clen = 0;
    bool fits = true;
    for (ssize_t i = -1;
         (i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_ENCODING, i)) != -1;) {
        const h2o_iovec_t *v = &req->headers.entries[i].value;
        fits = fits && clen + v->len + 2 < sizeof(codings);
        if (fits) {
            clen += (size_t)snprintf(codings + clen, sizeof(codings) - clen, "%s%.*s",
                                     clen > 0 ? ", " : "", (int)v->len, v->base);
        }
    }
    inflate_coding_t coding =
        fits ? inflate_coding_parse(codings, clen) : INFLATE_CODING_UNSUPPORTED;
    if (coding == INFLATE_CODING_UNSUPPORTED) {
        problem_t p = {.status = 415,
                       .type = "unsupported-media-type",
                       .title = "Unsupported Media Type",
                       .detail = "the body may be sent with Content-Encoding gzip, deflate or "
                                 "identity only"};
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("accept-encoding"), 0, NULL,
                              H2O_STRLIT("gzip, deflate"));
        ingest_problem(req, route, &p, "Unsupported Media Type", 0);
        return false;
    }
    if (coding == INFLATE_CODING_IDENTITY) {
        if (raw_len > limit) {
            too_large(req, route, limit);
            return false;
        }
        *body = (ingest_body_t){.base = raw, .len = raw_len};
        return true;
    }
    /* Inflated as a stream into at most limit bytes: a bomb costs no more than the limit. */
    char *out = h2o_mem_alloc_pool(&req->pool, limit > 0 ? limit : 1);
    err_t err;
    int n = inflate_body(app->inflaters[server_loop_index(loop)], coding, raw, raw_len, out, limit,
                         &err);
    if (n == ERR_RANGE) {
        too_large(req, route, limit);
        return false;
    }
    if (n < 0) {
        char detail[ERR_MSG_MAX + 48];
        snprintf(detail, sizeof(detail), "the %s body cannot be inflated: %s",
                 inflate_coding_name(coding), err.msg);
        problem_t p = {.status = 400,
                       .type = "invalid-encoding",
                       .title = "Invalid body encoding",
                       .detail = detail};
        ingest_problem(req, route, &p, "Bad Request", 0);
        return false;
    }
    *body = (ingest_body_t){.base = out, .len = (size_t)n};
    return true;
}

bool ingest_admit(const app_t *app, server_loop_t *loop, h2o_req_t *req, enum api_route route,
                  size_t limit, ingest_body_t *body)
{
    if (!admit_key(app, req, route) || !admit_rate(app, loop, req, route))
        return false;
    if (!is_json_media_type(req)) {
        problem_t p = {.status = 415,
                       .type = "unsupported-media-type",
                       .title = "Unsupported Media Type",
                       .detail = "the body must be sent as Content-Type: application/json"};
        ingest_problem(req, route, &p, "Unsupported Media Type", 0);
        return false;
    }
    return admit_body(app, loop, req, route, limit, body);
}

void ingest_reject(h2o_req_t *req, enum api_route route, const validate_report_t *rep,
                   const char *title)
{
    char detail[96];
    snprintf(detail, sizeof(detail), "%u invalid field%s%s", rep->total, rep->total == 1 ? "" : "s",
             rep->total > rep->count ? " (the first ones are listed)" : "");
    problem_t p = {
        .status = 400, .type = "invalid-event", .title = title, .detail = detail, .report = rep};
    ingest_problem(req, route, &p, "Bad Request", 0);
}

/* ---- answers -------------------------------------------------------------------------------- */

static void answer_unavailable(h2o_req_t *req, enum api_route route, const char *id,
                               const char *detail)
{
    problem_t p = {.status = 503,
                   .type = "unavailable",
                   .title = "Service Unavailable",
                   .detail = detail,
                   .id = id};
    ingest_problem(req, route, &p, "Service Unavailable", 1);
}

/* 202 with the id, or the ids in request order. */
static void answer_accepted(parked_t *pk)
{
    h2o_req_t *req = pk->base.req;
    size_t cap = 64 + (size_t)pk->n * (IDGEN_STR_LEN + 3);
    char *body = h2o_mem_alloc_pool(&req->pool, cap);
    size_t len;
    if (!pk->batch) {
        len = (size_t)snprintf(body, cap, "{\"id\":\"%s\",\"status\":\"accepted\"}", pk->id);
    } else {
        len = (size_t)snprintf(body, cap, "{\"status\":\"accepted\",\"ids\":[");
        for (uint32_t i = 0; i < pk->n; i++)
            len += (size_t)snprintf(body + len, cap - len, "%s\"%s\"", i ? "," : "", pk->ids[i]);
        len += (size_t)snprintf(body + len, cap - len, "]}");
    }
    api_metrics_count(server_loop_metrics(server_loop_of(req)), pk->route, 202);
    respond_send(req, 202, "Accepted", "application/json", body, len);
}

/* Answers a request that is no longer parked with the publisher's outcome. */
static void answer(parked_t *pk, pub_status_t status)
{
    const char *id = pk->batch ? NULL : pk->id;
    const char *what = pk->batch ? "the events; retry with the same ids (events that have none "
                                   "were given new ones and may be stored twice)"
                                 : "the event; retry with the same id";
    char detail[256];
    switch (status) {
    case PUB_CONFIRMED:
        answer_accepted(pk);
        return;
    case PUB_TIMEOUT:
        snprintf(detail, sizeof(detail), "the message broker did not confirm %s in time", what);
        break;
    case PUB_REFUSED:
        snprintf(detail, sizeof(detail), "the message broker refused %s", what);
        break;
    default:
        snprintf(detail, sizeof(detail), "the message broker is unavailable for %s", what);
        break;
    }
    answer_unavailable(pk->base.req, pk->route, id, detail);
}

void ingest_on_done(void *ctx, park_entry_t *e, const park_done_t *done)
{
    const app_t *app = ctx;
    parked_t *pk = (parked_t *)e;
    int64_t now = timesrc_mono_ms(&app->clock);
    if (done->status == PUB_CONFIRMED && now >= done->enqueued_ms)
        metrics_histogram_observe_us(&server_loop_metrics(server_loop_of(e->req))->publish_latency,
                                     (uint64_t)(now - done->enqueued_ms) * 1000);
    if (done->status == PUB_CONFIRMED && --pk->outstanding > 0)
        return; /* more confirms to come */
    park_remove(e);
    answer(pk, (pub_status_t)done->status);
}

void ingest_on_expire(void *app, park_entry_t *e)
{
    (void)app;
    answer((parked_t *)e, PUB_TIMEOUT);
}

/* ---- publication ---------------------------------------------------------------------------- */

static void new_id(server_loop_t *loop, int64_t now_ms, char *out)
{
    /* UUIDv7's random bits need uniqueness, not secrecy: the loop's fast generator will do. */
    uint8_t rand[16], id[16];
    uint64_t a = server_loop_random(loop), b = server_loop_random(loop);
    memcpy(rand, &a, 8);
    memcpy(rand + 8, &b, 8);
    idgen_v7(now_ms, rand, id);
    idgen_format(id, out);
}

void ingest_publish(const app_t *app, server_loop_t *loop, h2o_req_t *req, enum api_route route,
                    activity_t *events, size_t n, bool batch)
{
    ASSERT(n >= 1 && (batch || n == 1));
    parked_t *pk = server_park_alloc(req, sizeof(*pk));
    pk->route = route;
    pk->batch = batch;
    pk->n = pk->outstanding = (uint32_t)n;
    pk->ids = batch ? h2o_mem_alloc_pool(&req->pool, n * sizeof(*pk->ids)) : &pk->id;
    int64_t now = timesrc_wall_ms(&app->clock);
    for (size_t i = 0; i < n; i++) {
        events[i].received_ms = now;
        if (events[i].id[0] == '\0')
            new_id(loop, now, events[i].id);
        memcpy(pk->ids[i], events[i].id, sizeof(pk->ids[i]));
    }
    const char *id = batch ? NULL : pk->id;
    if (park_add(&pk->base) < 0) {
        answer_unavailable(req, route, id, "too many requests are waiting for the broker");
        return;
    }
    int64_t enqueued = timesrc_mono_ms(&app->clock);
    for (size_t i = 0; i < n; i++) {
        pub_job_t job = {.ticket = pk->base.ticket,
                         .loop = server_loop_index(loop),
                         .received_ms = now,
                         .enqueued_ms = enqueued};
        memcpy(job.id, events[i].id, sizeof(job.id));
        size_t len;
        const char *why = NULL;
        if (activity_encode(&events[i], &job.body, &len) < 0) {
            why = "an event could not be encoded";
        } else {
            job.len = (uint32_t)len;
            if (ring_mpsc_try_push(app->jobs, &job) < 0) {
                free(job.body);
                metrics_counter_add(&server_loop_metrics(loop)->ring_full, 1);
                why = batch ? "the service is saturated (publish queue full), some events may be "
                              "queued; retry later with the same ids"
                            : "the service is saturated (publish queue full); retry later";
            }
        }
        if (why != NULL) {
            /* The jobs already pushed are published; their completions find a stale ticket. */
            park_remove(&pk->base);
            answer_unavailable(req, route, id, why);
            break;
        }
    }
    server_loop_note_push(loop);
}
