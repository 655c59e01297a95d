/* SPDX-License-Identifier: MIT */
/*
 * activity-api: reads the configuration, starts the AMQP thread and the HTTP loops, and on
 * SIGTERM/SIGINT drains in order (DESIGN §7): /ready turns 503 at once; after
 * READY_DRAIN_DELAY_MS the loops stop accepting and answer every request in flight while the
 * AMQP thread keeps collecting confirmations; then the AMQP thread finishes and the process
 * exits 0. A second signal exits at once. Signals are blocked in every thread and taken here
 * with sigtimedwait, so no handler ever runs inside a library.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "api/amqp_thread.h"
#include "api/apikeys.h"
#include "api/app.h"
#include "api/inflate.h"
#include "api/ingest.h"
#include "api/problem.h"
#include "api/route_activities.h"
#include "api/route_ops.h"
#include "common/listen.h"
#include "common/stopsig.h"

#define LOG_MODULE "main"
#include "common/log.h"

#define EXIT_CONFIG 2
#define DEADLINE_SLACK_MS                                                                          \
    1000 /* a parked request's backstop fires this long after the confirm                          \
            timeout */

/* The publisher's outcome of a job, handed to the job's loop. Thread: amqp. */
static void complete_cb(void *server, uint32_t loop, uint64_t ticket, pub_status_t status,
                        int64_t enqueued_ms)
{
    server_complete(server, loop, ticket, (uint32_t)status, enqueued_ms);
}

/* Waits up to ms for a signal in set; returns the signal or 0. */
static int wait_signal(const sigset_t *set, int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    int sig = sigtimedwait(set, NULL, &ts);
    return sig > 0 ? sig : 0;
}

/* Sleeps ms while watching for a second signal, which ends the process at once. */
static void sleep_or_die(const sigset_t *set, int64_t ms)
{
    const timesrc_t clock = timesrc_real();
    int64_t until = timesrc_mono_ms(&clock) + ms;
    for (int64_t left = ms; left > 0; left = until - timesrc_mono_ms(&clock)) {
        int sig = wait_signal(set, left);
        if (sig != 0) {
            LOG_WARN("second signal %d: exiting at once", sig);
            _exit(128 + sig);
        }
    }
}

/* API_KEYS_FILE, or NULL when unset. */
static const char *key_file(const config_t *cfg)
{
    return cfg->api_keys_file[0] != '\0' ? cfg->api_keys_file : NULL;
}

/* SIGHUP: reads API_KEYS and API_KEYS_FILE again and swaps the new set in; on an error the old
 * set stays. */
static void reload_keys(const config_t *cfg, apikeys_t *keys)
{
    if (keys == NULL) {
        LOG_INFO("SIGHUP: no API key is configured, nothing to re-read");
        return;
    }
    apikeys_set_t *set;
    err_t err;
    if (apikeys_set_load(cfg->api_keys, key_file(cfg), &set, &err) < 0) {
        LOG_ERROR_ERR("SIGHUP: API keys not re-read, the previous ones stay", &err);
        return;
    }
    apikeys_replace(keys, set);
    char desc[APIKEYS_DESC_MAX];
    LOG_INFO("SIGHUP: API keys re-read: %s", apikeys_describe(keys, desc, sizeof(desc)));
}

static uint32_t cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (uint32_t)n : 1;
}

static int usage(void)
{
    static char table[16384];
    config_describe(CONFIG_API, table, sizeof(table));
    printf("usage: activity-api [--help]\n\n"
           "Serves POST /api/v1/activities, GET /health, /ready and /metrics, and publishes\n"
           "each accepted event to RabbitMQ with publisher confirms. Configured only by the\n"
           "environment:\n\n%s",
           table);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
            return usage();
        LOG_ERROR("unknown argument \"%s\" (try --help)", argv[1]);
        return EXIT_CONFIG;
    }
    config_t cfg;
    err_t err = {0};
    if (config_load(&cfg, CONFIG_API, config_env_getter, NULL, &err) < 0) {
        LOG_ERROR_ERR("invalid configuration", &err);
        return EXIT_CONFIG;
    }
    log_set_level(cfg.log_level);
    if (listen_check_host(cfg.api_host, "API_HOST", &err) < 0) {
        LOG_ERROR_ERR("invalid configuration", &err);
        return EXIT_CONFIG;
    }
    static brokerurl_list_t brokers; /* static: large, and borrowed by the threads */
    if (brokerurl_parse_list(cfg.rabbitmq_url, CONFIG_BROKERS_MAX, &brokers, &err) < 0) {
        snprintf(err.field, sizeof(err.field), "RABBITMQ_URL");
        LOG_ERROR_ERR("invalid configuration", &err); /* config_load checked it: not reached */
        return EXIT_CONFIG;
    }
    client_cidrs_t *trusted = NULL;
    if (client_cidrs_parse(cfg.trust_proxy_cidrs, &trusted, &err) < 0) {
        snprintf(err.field, sizeof(err.field), "TRUST_PROXY_CIDRS");
        LOG_ERROR_ERR("invalid configuration: TRUST_PROXY_CIDRS", &err);
        return EXIT_CONFIG;
    }
    uint32_t loops = cfg.api_threads != 0 ? cfg.api_threads : cpu_count();
    apikeys_t *keys = NULL;
    /* Keys are on when a source is configured: API_KEYS holding more than spaces (only spaces
     * means no key from it, as apikeys.h reads it), or API_KEYS_FILE. */
    if (cfg.api_keys[strspn(cfg.api_keys, " \t")] != '\0' || cfg.api_keys_file[0] != '\0') {
        apikeys_set_t *set;
        if (apikeys_set_load(cfg.api_keys, key_file(&cfg), &set, &err) < 0) {
            client_cidrs_destroy(trusted);
            LOG_ERROR_ERR("invalid configuration", &err);
            return EXIT_CONFIG;
        }
        keys = apikeys_create(set);
    }

    char effective[4096];
    config_format(&cfg, CONFIG_API, effective, sizeof(effective));
    LOG_INFO_KV(effective, "starting activity-api with %u loop threads", loops);
    if (keys != NULL) {
        char desc[APIKEYS_DESC_MAX];
        LOG_INFO("API keys required on POST: %s", apikeys_describe(keys, desc, sizeof(desc)));
    }

    sigset_t stop_set, run_set;
    stopsig_block(&stop_set); /* before any thread starts */
    run_set = stop_set;       /* while running, SIGHUP re-reads API_KEYS_FILE */
    sigaddset(&run_set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &run_set, NULL);

    int rc = 1;
    timesrc_t clock = timesrc_real();
    ratelimit_t *rl = ratelimit_create(cfg.rate_limit_max_requests, cfg.rate_limit_window_ms,
                                       cfg.rate_limit_max_clients, &clock);
    ring_mpsc_t *jobs = ring_mpsc_create(cfg.publish_ring_size, sizeof(pub_job_t));
    static app_t app; /* static: the routes' context outlives every loop thread */
    inflate_t **inflaters = xcalloc(loops, sizeof(*inflaters));
    for (uint32_t i = 0; i < loops; i++)
        inflaters[i] = inflate_create();
    app = (app_t){.cfg = &cfg,
                  .brokers = &brokers,
                  .keys = keys,
                  .inflaters = inflaters,
                  .ratelimit = rl,
                  .trusted = trusted,
                  .jobs = jobs,
                  .clock = clock,
                  .started_ms = timesrc_mono_ms(&clock)};
    problem_ratelimit_policy(cfg.rate_limit_max_requests, cfg.rate_limit_window_ms,
                             app.ratelimit_policy, sizeof(app.ratelimit_policy));
    static const server_route_t routes[] = {
        {"/api/v1/activities", "POST", API_ROUTE_ACTIVITIES, route_activities_on_req,
         ingest_on_done, ingest_on_expire, &app},
        {"/api/v1/activities/batch", "POST", API_ROUTE_BATCH, route_activities_batch_on_req,
         ingest_on_done, ingest_on_expire, &app},
        {"/health", "GET, HEAD", API_ROUTE_HEALTH, route_ops_health, NULL, NULL, &app},
        {"/ready", "GET, HEAD", API_ROUTE_READY, route_ops_ready, NULL, NULL, &app},
        {"/metrics", "GET, HEAD", API_ROUTE_METRICS, route_ops_metrics, NULL, NULL, &app},
    };
    server_t *server = NULL;
    amqp_thread_t *amqp = NULL;
    if (rl == NULL || jobs == NULL) {
        LOG_ERROR("cannot create the rate limiter or the publish ring");
        goto out;
    }

    amqp = amqp_thread_create(&cfg, &brokers, jobs, &err);
    if (amqp == NULL) {
        LOG_ERROR("%s", err.msg);
        goto out;
    }
    server_opts_t so = {.host = cfg.api_host,
                        .port = cfg.api_port,
                        .loops = loops,
                        /* Each route checks its own limit; libh2o refuses what passes both. */
                        .max_body_bytes = cfg.max_body_bytes > cfg.batch_max_body_bytes
                                              ? cfg.max_body_bytes
                                              : cfg.batch_max_body_bytes,
                        /* The ring and the broker window bound what can be outstanding. */
                        .parked_max = cfg.publish_ring_size + cfg.publish_max_inflight,
                        .park_deadline_ms = cfg.publish_confirm_timeout_ms + DEADLINE_SLACK_MS,
                        .routes = routes,
                        .nroutes = sizeof(routes) / sizeof(routes[0]),
                        .wake = amqp_thread_wake,
                        .wake_ctx = amqp,
                        .clock = clock};
    server = server_create(&so, &err);
    if (server == NULL) {
        LOG_ERROR("%s", err.msg);
        goto out;
    }
    app.server = server;
    amqp_thread_sink_t sink = {.complete = complete_cb, .flush = server_flush, .ctx = server};
    if (amqp_thread_start(amqp, &sink, &err) < 0) {
        LOG_ERROR("%s", err.msg);
        goto out;
    }
    app.publisher = amqp_thread_publisher(amqp);
    if (server_start(server, &err) < 0) {
        LOG_ERROR("%s", err.msg);
        goto out;
    }
    LOG_INFO("listening on %s:%u", cfg.api_host, cfg.api_port);

    int sig = 0;
    while (sig == 0) {
        sig = wait_signal(&run_set, 500);
        if (sig == SIGHUP) {
            reload_keys(&cfg, keys);
            sig = 0;
        }
        if (sig == 0 && amqp_thread_fatal(amqp)) {
            LOG_ERROR("stopping: the broker's topology does not match this service's");
            goto drain;
        }
    }
    LOG_INFO("signal %d: draining (ready=false)", sig);
    rc = 0;
drain:
    atomic_store(&app.draining, true);
    sleep_or_die(&stop_set, cfg.ready_drain_delay_ms);
    int64_t deadline = timesrc_mono_ms(&clock) + cfg.shutdown_grace_ms;
    server_stop(server, deadline);
    /* Wait for the loops while watching for a second signal. */
    for (;;) {
        int second = wait_signal(&stop_set, 50);
        if (second != 0) {
            LOG_WARN("second signal %d: exiting at once", second);
            _exit(128 + second);
        }
        if (server_try_join(server))
            break;
    }
    amqp_thread_stop(amqp, timesrc_mono_ms(&clock) + 1000);
    amqp_thread_join(amqp);
    LOG_INFO("stopped");
    if (rc != 0)
        rc = 1;
out:
    if (amqp != NULL && rc != 0) {
        amqp_thread_stop(amqp, 0);
        amqp_thread_join(amqp);
    }
    amqp_thread_destroy(amqp);
    server_destroy(server);
    ring_mpsc_destroy(jobs);
    ratelimit_destroy(rl);
    client_cidrs_destroy(trusted);
    for (uint32_t i = 0; i < loops; i++)
        inflate_destroy(inflaters[i]);
    free(inflaters);
    apikeys_destroy(keys);
    return rc;
}
