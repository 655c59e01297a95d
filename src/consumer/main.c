/* SPDX-License-Identifier: MIT */
/*
 * activity-consumer: loads the configuration, creates the MongoDB client pool and the indexes
 * (waiting for the database rather than exiting), starts CONSUMER_WORKERS workers, serves
 * /metrics and /health (ops.c) when CONSUMER_METRICS_PORT is set, and touches
 * CONSUMER_HEALTH_FILE while every worker is alive. SIGTERM/SIGINT set the workers' stop flag
 * (they flush, ack and close); a second signal exits at once. `activity-consumer --health`
 * checks the health file for the container's healthcheck.
 * Thread: main. Signals are blocked in every thread and taken with sigtimedwait here, so no
 * code runs in a signal handler.
 */
#define LOG_MODULE "main"
#include <errno.h>
#include <fcntl.h>
#include <mongoc/mongoc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/backoff.h"
#include "common/config.h"
#include "common/listen.h"
#include "common/log.h"
#include "common/stopsig.h"
#include "common/timesrc.h"
#include "consumer/ops.h"
#include "consumer/store.h"
#include "consumer/worker.h"

#define HEALTH_TOUCH_MS    2000  /* how often main refreshes the health file */
#define HEALTH_FRESH_S     15    /* --health: the file must be younger than this */
#define WORKER_STALE_MS    60000 /* a worker silent this long is considered stuck */
#define INDEX_RETRY_MAX_MS 10000

/* ---- health ------------------------------------------------------------------------------- */

static int health_check(void)
{
    config_t cfg;
    err_t err;
    if (config_load(&cfg, CONFIG_CONSUMER, config_env_getter, NULL, &err) < 0) {
        LOG_ERROR("health: bad configuration: %s", err.msg);
        return 1;
    }
    if (cfg.consumer_health_file[0] == '\0') {
        LOG_ERROR("health: CONSUMER_HEALTH_FILE is not set");
        return 1;
    }
    struct stat st;
    if (stat(cfg.consumer_health_file, &st) < 0) {
        LOG_ERROR("health: %s: %s", cfg.consumer_health_file, strerror(errno));
        return 1;
    }
    time_t age = time(NULL) - st.st_mtime;
    if (age > HEALTH_FRESH_S) {
        LOG_ERROR("health: %s is %lld s old", cfg.consumer_health_file, (long long)age);
        return 1;
    }
    return 0;
}

static void health_touch(const char *path)
{
    if (path[0] == '\0')
        return;
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        static log_throttle_t t;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (log_throttle_allow(&t, (int64_t)now.tv_sec * 1000 + 1, 60000, NULL))
            LOG_WARN("cannot touch health file %s: %s", path, strerror(errno));
        return;
    }
    futimens(fd, NULL);
    close(fd);
}

/* ---- library logs ------------------------------------------------------------------------ */

/* Routes libmongoc's own messages through our logger (the only writer to stderr). Its warnings
 * repeat for every failed socket read while the database is down, and our code reports those
 * failures itself, so they are kept at debug level. Thread: any (called by mongoc). */
static void mongoc_log_cb(mongoc_log_level_t level, const char *domain, const char *message,
                          void *data)
{
    (void)data;
    if (level <= MONGOC_LOG_LEVEL_CRITICAL)
        LOG_ERROR("mongoc %s: %s", domain, message);
    else if (level <= MONGOC_LOG_LEVEL_INFO)
        LOG_DEBUG("mongoc %s: %s", domain, message);
}

/* ---- signals ------------------------------------------------------------------------------ */

/* Waits up to ms for SIGTERM/SIGINT (blocked in every thread). Returns the signal or 0. */
static int wait_signal(const sigset_t *set, int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    int sig = sigtimedwait(set, NULL, &ts);
    return sig > 0 ? sig : 0;
}

/* Creates the indexes, retrying with backoff while the database is unreachable. Returns 0, or
 * the signal that asked to stop meanwhile. */
static int ensure_indexes(store_pool_t *pool, const config_t *cfg, const sigset_t *set)
{
    backoff_t b;
    backoff_init(&b, 250, INDEX_RETRY_MAX_MS, (uint64_t)getpid());
    log_throttle_t t = {0};
    unsigned attempts = 0;
    timesrc_t clock = timesrc_real();
    for (;;) {
        err_t err;
        /* Waiting for the database is being alive: one call blocks up to the selection timeout. */
        health_touch(cfg->consumer_health_file);
        if (store_ensure_indexes(pool, &err) == 0) {
            if (attempts > 0)
                LOG_INFO("database reachable after %u attempts; indexes ensured", attempts);
            return 0;
        }
        attempts++;
        uint32_t suppressed = 0;
        if (log_throttle_allow(&t, timesrc_mono_ms(&clock), 30000, &suppressed))
            LOG_WARN("cannot create indexes yet, waiting for the database (%s): %s",
                     err_name(err.code), err.msg);
        health_touch(cfg->consumer_health_file);
        int sig =
            wait_signal(set, backoff_next_ms(&b)); /* <= INDEX_RETRY_MAX_MS < HEALTH_FRESH_S */
        if (sig != 0)
            return sig;
    }
}

static bool workers_alive(worker_t **w, unsigned n, int64_t now)
{
    for (unsigned i = 0; i < n; i++)
        if (!worker_is_done(w[i]) && now - worker_last_beat_ms(w[i]) > WORKER_STALE_MS)
            return false;
    return true;
}

static int usage(void)
{
    static char table[16384];
    config_describe(CONFIG_CONSUMER, table, sizeof(table));
    printf("usage: activity-consumer [--help | --health]\n\n"
           "Consumes RABBITMQ_QUEUE with manual acks and stores each event in the `activities`\n"
           "collection of DATABASE_URL's database, acking only after the write.\n"
           "--health exits 0 when CONSUMER_HEALTH_FILE was touched in the last %d s (for a\n"
           "container healthcheck), else 1. Configured only by the environment; the consumer\n"
           "reads RABBITMQ_URL, RABBITMQ_QUEUE, DATABASE_URL, CONSUMER_*, MONGO_POOL_MAX and\n"
           "LOG_LEVEL of this table (shared with activity-api):\n\n%s",
           HEALTH_FRESH_S, table);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--health") == 0)
        return health_check();
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
        return usage();
    if (argc > 1) {
        LOG_ERROR("unknown argument \"%s\" (try --help)", argv[1]);
        return 2;
    }

    config_t cfg;
    err_t err;
    if (config_load(&cfg, CONFIG_CONSUMER, config_env_getter, NULL, &err) < 0) {
        LOG_ERROR_ERR("invalid configuration", &err);
        return 2;
    }
    log_set_level(cfg.log_level);
    static brokerurl_list_t brokers; /* static: large, and borrowed by the workers */
    if (brokerurl_parse_list(cfg.rabbitmq_url, CONFIG_BROKERS_MAX, &brokers, &err) < 0) {
        snprintf(err.field, sizeof(err.field), "RABBITMQ_URL");
        LOG_ERROR_ERR("invalid configuration", &err); /* config_load checked it: not reached */
        return 2;
    }
    if (cfg.consumer_metrics_port != 0 &&
        listen_check_host(cfg.consumer_metrics_host, "CONSUMER_METRICS_HOST", &err) < 0) {
        LOG_ERROR_ERR("invalid configuration", &err);
        return 2;
    }

    sigset_t set;
    stopsig_block(&set); /* before any thread exists, mongoc's own included */

    unsigned nworkers = cfg.consumer_workers;
    if (nworkers == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        nworkers = cpus > 0 ? (unsigned)cpus : 1;
    }
    uint32_t pool_max = cfg.mongo_pool_max;
    if (pool_max < nworkers) {
        /* Each worker holds one client for its whole life; fewer would deadlock. */
        LOG_WARN("MONGO_POOL_MAX (%u) is below the number of workers (%u); using %u", pool_max,
                 nworkers, nworkers);
        pool_max = nworkers;
    }

    static char cfgtext[4096];
    config_format(&cfg, CONFIG_CONSUMER, cfgtext, sizeof(cfgtext));
    LOG_INFO_KV(cfgtext, "activity-consumer starting with %u workers", nworkers);

    mongoc_log_set_handler(mongoc_log_cb, NULL);
    mongoc_init();
    store_pool_t *pool = NULL;
    /* RabbitMQ drops a connection after about two silent heartbeat intervals; a worker blocked
     * in one database call must come back well within one. */
    if (store_pool_create(cfg.database_url, pool_max, cfg.amqp_heartbeat_s * 1000, &pool, &err) <
        0) {
        LOG_ERROR_ERR("invalid configuration", &err);
        mongoc_cleanup();
        return 2;
    }
    char wc[96];
    store_pool_describe_wc(pool, wc, sizeof(wc));
    LOG_INFO("database \"%s\", collection \"%s\", write concern %s", store_pool_database(pool),
             STORE_COLLECTION, wc);

    static worker_metrics_t metrics;
    worker_metrics_init(&metrics);
    static worker_shared_t shared;
    shared.cfg = &cfg;
    shared.brokers = &brokers;
    shared.pool = pool;
    shared.metrics = &metrics;
    atomic_init(&shared.stop, false);
    atomic_init(&shared.failed, false);
    ops_t *ops = NULL;
    int status = 0;
    if (cfg.consumer_metrics_port != 0) {
        ops_params_t op = {.host = cfg.consumer_metrics_host,
                           .port = cfg.consumer_metrics_port,
                           .metrics = &metrics,
                           .workers = nworkers,
                           .stopping = &shared.stop};
        if (ops_start(&op, &ops, &err) < 0) {
            LOG_ERROR("cannot serve /metrics and /health: %s", err.msg);
            status = 1;
            goto out_pool;
        }
    }

    if (ensure_indexes(pool, &cfg, &set) != 0) {
        atomic_store(&shared.stop, true);
        LOG_INFO("stopped before the database was reachable");
        goto out_ops;
    }

    worker_t **workers = xcalloc(nworkers, sizeof(*workers));
    unsigned started = 0;
    for (; started < nworkers; started++) {
        if (worker_start(&shared, started + 1, &workers[started], &err) < 0) {
            LOG_ERROR("%s", err.msg);
            atomic_store(&shared.stop, true);
            status = 1;
            break;
        }
    }

    timesrc_t clock = timesrc_real();
    int64_t last_touch = 0;
    bool stopping = atomic_load(&shared.stop);
    for (;;) {
        int sig = wait_signal(&set, 500);
        if (sig != 0 && stopping) {
            LOG_WARN("second signal (%s): exiting at once", strsignal(sig));
            _exit(1);
        }
        if (sig != 0) {
            LOG_INFO("%s: stopping; workers finish their batches", strsignal(sig));
            stopping = true;
            atomic_store(&shared.stop, true);
        }
        bool all_done = true;
        for (unsigned i = 0; i < started; i++)
            all_done = all_done && worker_is_done(workers[i]);
        if (all_done)
            break;
        int64_t now = timesrc_mono_ms(&clock);
        if (now - last_touch >= HEALTH_TOUCH_MS && workers_alive(workers, started, now)) {
            health_touch(cfg.consumer_health_file);
            last_touch = now;
        }
    }
    for (unsigned i = 0; i < started; i++)
        worker_join(workers[i]);
    free(workers);
    if (atomic_load(&shared.failed))
        status = 1;
    LOG_INFO("activity-consumer stopped");

out_ops:
    ops_stop(ops);
out_pool:
    store_pool_destroy(pool);
    mongoc_cleanup();
    return status;
}
