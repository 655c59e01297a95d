/* SPDX-License-Identifier: MIT */
/*
 * bench-db-ceiling: the database ceiling that activity-consumer is measured against. It stores
 * the documents the consumer stores, the way the consumer stores them, with nothing else in
 * the way: each event is bench/post.lua's request body made into a message exactly as
 * activity-api does (validate_request, a fresh UUIDv7, receivedAt, activity_encode), decoded and
 * mapped as the consumer does (validate_message, document_create), and inserted through the
 * consumer's own store (store.c: same client pool options, write concern, unordered insert_many,
 * same indexes) in batches of BATCH. THREADS threads each pop one pooled client for their whole
 * life, like the consumer's workers. It prints the documents stored per second.
 *
 * Usage: bench-db-ceiling [-t THREADS] [-b BATCH] [-d SECONDS] [-n DOCS] URL
 *        bench-db-ceiling -e COUNT
 *   URL      mongodb://host:port/DB; the consumer's collection in DB is the scratch collection.
 *            DB must contain "bench" (it is dropped at start and at the end).
 *   THREADS  inserting threads, each with its own pooled client (default 1)
 *   BATCH    documents per insert_many (default 100 = CONSUMER_BATCH_SIZE)
 *   SECONDS  how long to insert (default 10); -n stops earlier after DOCS documents
 *   -e       write COUNT messages (activity_encode's form, one per line) to stdout and exit;
 *            bench/consumer.sh publishes them, so the consumer stores the same documents.
 *
 * The last line on stdout is `threads=… batch=… docs=… stored=… failed=… seconds=… docs/s=…
 * insert_ms_mean=… insert_ms_p50=… insert_ms_p99=… build_us_per_doc=…`: docs/s counts stored
 * documents over the wall time of the run; building the documents (parse, encode, re-validate, map)
 * is inside that time, as it is in the consumer, and build_us_per_doc says how much of it that was.
 * Thread: main parses and reports; each inserter owns its store_t and its statistics.
 */
#include <errno.h>
#include <inttypes.h>
#include <mongoc/mongoc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "common/activity.h"
#include "common/err.h"
#include "common/idgen.h"
#include "common/validate.h"
#include "consumer/batch.h"
#include "consumer/document.h"
#include "consumer/store.h"

#define DEFAULT_THREADS 1
#define MAX_THREADS     64
#define DEFAULT_BATCH   100
#define MAX_BATCH       10000
#define DEFAULT_SECONDS 10
#define MAX_DOCS        1000000000
#define BLOCK_BUDGET_MS 10000 /* the consumer's AMQP_HEARTBEAT_S default, in ms */

/* bench/post.lua's request body, byte for byte: what the API benchmark sends. */
static const char POST_BODY[] =
    "{\"userId\":\"user-00042\",\"eventType\":\"page_view\","
    "\"timestamp\":\"2024-05-01T12:00:00.000Z\","
    "\"payload\":{\"page\":\"/products/42\",\"referrer\":\"https://www.example.com/"
    "search?q=shoes\","
    "\"sessionId\":\"5f0c2a7e-3b1d-4c8e-9a6f-1e2d3c4b5a69\",\"durationMs\":1234,\"depth\":9}}";

/* Thread: frozen after main starts the inserters, except the atomics. */
typedef struct shared {
    store_pool_t *pool;
    uint32_t batch;
    uint64_t max_docs; /* 0: no limit */
    double deadline_s; /* monotonic */
    atomic_uint_fast64_t claimed;
    atomic_bool failed;
    pthread_barrier_t connected; /* every inserter has connected */
    pthread_barrier_t go;        /* main has set deadline_s */
} shared_t;

/* Thread: inserter (owner only) until joined, then main. */
typedef struct inserter {
    shared_t *sh;
    unsigned index;
    pthread_t thread;
    uint64_t rng;
    uint64_t stored, failed_docs;
    double build_s;
    double *insert_ms; /* one per batch */
    size_t insert_n, insert_cap;
    char error[ERR_MSG_MAX + 32];
} inserter_t;

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Builds the message activity-api would publish for POST_BODY received at received_ms: stores
 * a malloc'd body (not NUL-terminated) in *out and its length in *len. Returns 0 or ERR_*. */
static int make_message(uint64_t *rng, int64_t received_ms, char **out, size_t *len)
{
    activity_t a;
    validate_report_t rep;
    int rc = validate_request(POST_BODY, sizeof(POST_BODY) - 1, &a, &rep);
    if (rc < 0)
        return rc;
    uint8_t rnd[10], id[16];
    uint64_t r1 = splitmix64(rng), r2 = splitmix64(rng);
    memcpy(rnd, &r1, 8);
    memcpy(rnd + 8, &r2, 2);
    idgen_v7(received_ms, rnd, id);
    idgen_format(id, a.id);
    a.received_ms = received_ms;
    rc = activity_encode(&a, out, len);
    activity_deinit(&a);
    return rc;
}

/* Builds the document the consumer would store for a fresh event, as the consumer does: the
 * message is decoded with validate_message and mapped with document_create. */
static bson_t *make_document(uint64_t *rng, int64_t now_ms)
{
    char *msg;
    size_t len;
    if (make_message(rng, now_ms, &msg, &len) < 0)
        PANIC("bench/post.lua's body does not encode");
    activity_t a;
    validate_report_t rep;
    if (validate_message(msg, len, &a, &rep) < 0)
        PANIC("an encoded message does not validate: %s", rep.errors[0].message);
    free(msg);
    err_t err;
    bson_t *doc = document_create(&a, now_ms, &err);
    if (doc == NULL)
        PANIC("document_create: %s", err.msg);
    activity_deinit(&a);
    return doc;
}

/* Claims up to batch documents; returns how many (0: the run is over). */
static uint32_t claim(shared_t *sh)
{
    if (bench_stop_requested || atomic_load(&sh->failed) || bench_now_s() >= sh->deadline_s)
        return 0;
    uint64_t start = atomic_fetch_add(&sh->claimed, sh->batch);
    if (sh->max_docs == 0)
        return sh->batch;
    if (start >= sh->max_docs)
        return 0;
    uint64_t left = sh->max_docs - start;
    return left < sh->batch ? (uint32_t)left : sh->batch;
}

static void record_insert(inserter_t *in, double ms)
{
    if (in->insert_n == in->insert_cap) {
        in->insert_cap = in->insert_cap ? in->insert_cap * 2 : 1024;
        in->insert_ms = xrealloc(in->insert_ms, in->insert_cap * sizeof(*in->insert_ms));
    }
    in->insert_ms[in->insert_n++] = ms;
}

static void *inserter_main(void *arg)
{
    inserter_t *in = arg;
    shared_t *sh = in->sh;
    store_t *store = store_open(sh->pool);
    bson_t **docs = xcalloc(sh->batch, sizeof(*docs));
    batch_doc_result_t *res = xcalloc(sh->batch, sizeof(*res));
    err_t err;
    /* Connect before the clock starts: the consumer's workers are connected long before. */
    if (store_ping(store, &err) < 0) {
        snprintf(in->error, sizeof(in->error), "ping: %s", err.msg);
        atomic_store(&sh->failed, true);
    }
    pthread_barrier_wait(&sh->connected);
    pthread_barrier_wait(&sh->go);

    uint32_t k;
    while ((k = claim(sh)) > 0) {
        double t0 = bench_now_s();
        int64_t wall = wall_ms();
        for (uint32_t i = 0; i < k; i++)
            docs[i] = make_document(&in->rng, wall);
        double t1 = bench_now_s();
        memset(res, 0, k * sizeof(*res));
        int rc = store_insert_many(store, (const bson_t *const *)docs, k, res, &err);
        double t2 = bench_now_s();
        in->build_s += t1 - t0;
        record_insert(in, (t2 - t1) * 1000.0);
        for (uint32_t i = 0; i < k; i++)
            bson_destroy(docs[i]);
        if (rc < 0) {
            snprintf(in->error, sizeof(in->error), "insert_many: %s", err.msg);
            atomic_store(&sh->failed, true);
            break;
        }
        for (uint32_t i = 0; i < k; i++) {
            if (res[i].outcome == BATCH_OUTCOME_STORED) {
                in->stored++;
            } else {
                if (in->failed_docs == 0)
                    snprintf(in->error, sizeof(in->error), "document not stored: %s (code %d)",
                             res[i].msg, res[i].code);
                in->failed_docs++;
            }
        }
    }
    free(res);
    free(docs);
    store_close(store);
    return NULL;
}

/* mongoc's warnings are dropped: FerretDB answers every client's endSessions at exit with "no
 * such command", which is noise here; errors still show. Thread: any (called by mongoc). */
static void mongoc_log_cb(mongoc_log_level_t level, const char *domain, const char *message,
                          void *data)
{
    (void)data;
    if (level <= MONGOC_LOG_LEVEL_CRITICAL)
        fprintf(stderr, "bench-db-ceiling: mongoc %s: %s\n", domain, message);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Drops the scratch database. Returns 0, or 1 with a message on stderr. */
static int drop_database(const char *url, const char *db)
{
    bson_error_t e;
    mongoc_uri_t *uri = mongoc_uri_new_with_error(url, &e);
    if (uri == NULL) {
        fprintf(stderr, "bench-db-ceiling: %s\n", e.message);
        return 1;
    }
    mongoc_client_t *client = mongoc_client_new_from_uri_with_error(uri, &e);
    int status = 0;
    if (client == NULL) {
        fprintf(stderr, "bench-db-ceiling: %s\n", e.message);
        status = 1;
        goto out;
    }
    mongoc_client_set_error_api(client, MONGOC_ERROR_API_VERSION_2);
    mongoc_database_t *d = mongoc_client_get_database(client, db);
    if (!mongoc_database_drop_with_opts(d, NULL, &e)) {
        fprintf(stderr, "bench-db-ceiling: drop database %s: %s\n", db, e.message);
        status = 1;
    }
    mongoc_database_destroy(d);
    mongoc_client_destroy(client);
out:
    mongoc_uri_destroy(uri);
    return status;
}

static int emit_messages(uint64_t count)
{
    uint64_t rng = (uint64_t)wall_ms() ^ ((uint64_t)getpid() << 32);
    for (uint64_t i = 0; i < count; i++) {
        char *msg;
        size_t len;
        if (make_message(&rng, wall_ms(), &msg, &len) < 0)
            PANIC("bench/post.lua's body does not encode");
        fwrite(msg, 1, len, stdout);
        putchar('\n');
        free(msg);
    }
    return fflush(stdout) == 0 ? 0 : 1;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: bench-db-ceiling [-t THREADS] [-b BATCH] [-d SECONDS] [-n DOCS] URL\n"
            "       bench-db-ceiling -e COUNT\n"
            "URL is mongodb://host:port/DB with \"bench\" in DB (dropped at start and end)\n");
}

int main(int argc, char **argv)
{
    uint64_t threads = DEFAULT_THREADS, batch = DEFAULT_BATCH, seconds = DEFAULT_SECONDS;
    uint64_t max_docs = 0, emit = 0;
    int opt;
    while ((opt = getopt(argc, argv, "t:b:d:n:e:")) != -1) {
        uint64_t *dst = opt == 't'   ? &threads
                        : opt == 'b' ? &batch
                        : opt == 'd' ? &seconds
                        : opt == 'n' ? &max_docs
                        : opt == 'e' ? &emit
                                     : NULL;
        uint64_t hi = opt == 't'   ? MAX_THREADS
                      : opt == 'b' ? MAX_BATCH
                      : opt == 'd' ? 86400
                                   : MAX_DOCS;
        if (dst == NULL || cli_parse_u64(optarg, 1, hi, dst) != 0) {
            usage();
            return 2;
        }
    }
    if (emit > 0 && optind == argc)
        return emit_messages(emit);
    if (argc - optind != 1 || emit > 0) {
        usage();
        return 2;
    }
    const char *url = argv[optind];

    bench_catch_stop_signals();

    mongoc_log_set_handler(mongoc_log_cb, NULL);
    mongoc_init();
    int status = 1;
    shared_t sh = {.batch = (uint32_t)batch, .max_docs = max_docs};
    inserter_t *ins = NULL;
    err_t err;
    if (store_pool_create(url, (uint32_t)threads, BLOCK_BUDGET_MS, &sh.pool, &err) < 0) {
        fprintf(stderr, "bench-db-ceiling: %s\n", err.msg);
        status = 2;
        goto out;
    }
    const char *db = store_pool_database(sh.pool);
    if (strstr(db, "bench") == NULL) {
        fprintf(stderr,
                "bench-db-ceiling: database \"%s\" does not contain \"bench\"; it would be "
                "dropped\n",
                db);
        status = 2;
        goto out;
    }
    if (drop_database(url, db) != 0)
        goto out;
    if (store_ensure_indexes(sh.pool, &err) < 0) {
        fprintf(stderr, "bench-db-ceiling: create indexes: %s\n", err.msg);
        goto out_drop;
    }
    char wc[96];
    store_pool_describe_wc(sh.pool, wc, sizeof(wc));
    fprintf(stderr,
            "bench-db-ceiling: %" PRIu64 " thread(s), batches of %" PRIu64 ", write concern %s, "
            "%s.%s, %" PRIu64 " s%s\n",
            threads, batch, wc, db, STORE_COLLECTION, seconds, max_docs ? " or -n documents" : "");

    atomic_init(&sh.claimed, 0);
    atomic_init(&sh.failed, false);
    pthread_barrier_init(&sh.connected, NULL, (unsigned)threads + 1);
    pthread_barrier_init(&sh.go, NULL, (unsigned)threads + 1);
    ins = xcalloc(threads, sizeof(*ins));
    for (unsigned i = 0; i < threads; i++) {
        ins[i].sh = &sh;
        ins[i].index = i;
        ins[i].rng = (uint64_t)wall_ms() * 31u + i * 0x2545f4914f6cdd1dull;
        if (pthread_create(&ins[i].thread, NULL, inserter_main, &ins[i]) != 0)
            PANIC("cannot start an inserter thread");
    }
    /* The clock starts once every inserter is connected; they read deadline_s only after the
     * second barrier, which orders this write before their reads. */
    pthread_barrier_wait(&sh.connected);
    double t0 = bench_now_s();
    sh.deadline_s = t0 + (double)seconds;
    pthread_barrier_wait(&sh.go);
    for (unsigned i = 0; i < threads; i++)
        pthread_join(ins[i].thread, NULL);
    double elapsed = bench_now_s() - t0;
    pthread_barrier_destroy(&sh.connected);
    pthread_barrier_destroy(&sh.go);

    uint64_t stored = 0, failed = 0;
    double build_s = 0;
    size_t nlat = 0;
    for (unsigned i = 0; i < threads; i++) {
        stored += ins[i].stored;
        failed += ins[i].failed_docs;
        build_s += ins[i].build_s;
        nlat += ins[i].insert_n;
        if (ins[i].error[0] != '\0')
            fprintf(stderr, "bench-db-ceiling: thread %u: %s\n", i + 1, ins[i].error);
    }
    double *lat = xcalloc(nlat ? nlat : 1, sizeof(*lat));
    size_t at = 0;
    for (unsigned i = 0; i < threads; i++) {
        if (ins[i].insert_n > 0)
            memcpy(lat + at, ins[i].insert_ms, ins[i].insert_n * sizeof(*lat));
        at += ins[i].insert_n;
        free(ins[i].insert_ms);
    }
    qsort(lat, nlat, sizeof(*lat), cmp_double);
    double lat_sum = 0;
    for (size_t i = 0; i < nlat; i++)
        lat_sum += lat[i];
    double p50 = nlat ? lat[(nlat - 1) / 2] : 0, p99 = nlat ? lat[(nlat - 1) * 99 / 100] : 0;
    free(lat);
    uint64_t docs = stored + failed;
    printf("threads=%" PRIu64 " batch=%" PRIu64 " docs=%" PRIu64 " stored=%" PRIu64
           " failed=%" PRIu64 " seconds=%.3f docs/s=%.0f insert_ms_mean=%.1f insert_ms_p50=%.1f"
           " insert_ms_p99=%.1f"
           " build_us_per_doc=%.1f\n",
           threads, batch, docs, stored, failed, elapsed, elapsed > 0 ? stored / elapsed : 0.0,
           nlat ? lat_sum / (double)nlat : 0.0, p50, p99,
           docs ? build_s * 1e6 / (double)docs : 0.0);
    status = (atomic_load(&sh.failed) || failed > 0) ? 1 : 0;

out_drop:
    if (drop_database(url, db) != 0 && status == 0)
        status = 1;
out:
    free(ins);
    store_pool_destroy(sh.pool);
    mongoc_cleanup();
    return status;
}
