/* SPDX-License-Identifier: MIT */
/*
 * Configuration of both services, from environment variables only, parsed once at start into a
 * config_t through one declarative table (name, type, field, default, bounds, secret, help).
 * Each program loads and checks only the variables it reads (CONFIG_API, CONFIG_CONSUMER). The
 * environment is read through an injected getter, so tests pass a fake one; this module is the
 * only place that reads the environment.
 * Thread: main loads; afterwards the config_t is frozen and read-only for every thread.
 */
#ifndef AT_COMMON_CONFIG_H
#define AT_COMMON_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define CONFIG_URL_MAX     1024  /* RABBITMQ_URL, DATABASE_URL, TRUST_PROXY_CIDRS (NUL included) */
#define CONFIG_QUEUE_MAX   201   /* RABBITMQ_QUEUE: at most 200 bytes */
#define CONFIG_HOST_MAX    256   /* API_HOST, CONSUMER_METRICS_HOST */
#define CONFIG_PATH_MAX    512   /* CONSUMER_HEALTH_FILE, API_KEYS_FILE */
#define CONFIG_KEYS_MAX    16384 /* API_KEYS */
#define CONFIG_BROKERS_MAX 16    /* URLs RABBITMQ_URL may list (BROKERURL_LIST_MAX) */

/* Who reads a variable: a bit set. */
enum config_reader {
    CONFIG_API = 1 << 0,
    CONFIG_CONSUMER = 1 << 1,
    CONFIG_ALL = CONFIG_API | CONFIG_CONSUMER,
};

/* Every setting of both services; each field is the lower-case name of its variable.
 * Thread: frozen. */
/* Most memory the rate limiter may reserve at start (RATE_LIMIT_MAX_CLIENTS x per-client size);
 * config_load refuses larger products. */
#define CONFIG_RATELIMIT_RESERVE_MAX ((uint64_t)1 << 30)

typedef struct config {
    char rabbitmq_url[CONFIG_URL_MAX];
    char rabbitmq_queue[CONFIG_QUEUE_MAX];
    char rabbitmq_queue_type[8]; /* "auto", "classic" or "quorum" */
    uint32_t rabbitmq_delivery_limit;
    char database_url[CONFIG_URL_MAX];
    char api_host[CONFIG_HOST_MAX];
    uint32_t api_port;
    uint32_t api_threads; /* 0 = one per CPU, resolved by main */
    uint32_t max_body_bytes;
    uint32_t batch_max_events;
    uint32_t batch_max_body_bytes;
    char api_keys[CONFIG_KEYS_MAX];
    char api_keys_file[CONFIG_PATH_MAX];
    uint32_t rate_limit_window_ms;
    uint32_t rate_limit_max_requests;
    uint32_t rate_limit_ipv6_prefix;
    uint32_t rate_limit_max_clients;
    char trust_proxy_cidrs[CONFIG_URL_MAX]; /* syntax checked by the API */
    uint32_t publish_ring_size;
    uint32_t publish_confirm_timeout_ms;
    uint32_t publish_max_inflight;
    uint32_t amqp_heartbeat_s;
    uint32_t shutdown_grace_ms;
    uint32_t ready_drain_delay_ms;
    uint32_t consumer_workers; /* 0 = one per CPU, resolved by main */
    uint32_t consumer_prefetch;
    uint32_t consumer_batch_size;
    uint32_t consumer_batch_ms;
    uint32_t consumer_retry_max_ms;
    char consumer_metrics_host[CONFIG_HOST_MAX]; /* CONSUMER_METRICS_HOST */
    uint32_t consumer_metrics_port;              /* 0 = no metrics listener */
    char consumer_health_file[CONFIG_PATH_MAX];  /* "" = no health file */
    uint32_t mongo_pool_max;
    int log_level; /* a LOG_LEVEL_* value */
} config_t;

/* Returns the value of variable name, or NULL if it is unset. The result is borrowed and must
 * stay valid until config_load returns. */
typedef const char *(*config_getter_fn)(void *ctx, const char *name);

/* Fills the fields of the variables readers read (CONFIG_API, CONFIG_CONSUMER or both) from
 * get(ctx, name); the other fields stay zero. An unset variable takes its default. A variable
 * set to the empty string is an error, except for those whose default is empty (empty means
 * "none" there, e.g. TRUST_PROXY_CIDRS). Returns 0, or on the first bad value ERR_PARSE (empty,
 * not a number, not a level name, not a valid URL) or ERR_RANGE (a number or length out of
 * bounds, or a cross-field rule) with err->field = the variable's name and err->msg naming the
 * accepted range and the value (masked for secrets), e.g.
 *   API_PORT must be an integer between 1 and 65535 (got "abc")
 * After a failure the content of cfg is unspecified. Thread: main. */
int config_load(config_t *cfg, unsigned readers, config_getter_fn get, void *ctx, err_t *err);

/* The real getter: getenv(name); ctx is unused. Thread: main. */
const char *config_env_getter(void *ctx, const char *name);

/* Writes the effective configuration of readers' variables as JSON object members without braces
 * ("RABBITMQ_URL":"amqp://guest:***@127.0.0.1:5672/","API_PORT":3000,...) for the startup log
 * line, secrets masked. Always NUL-terminates when n > 0. Returns the length the full text
 * needs (excluding the NUL), like snprintf: a result >= n means the text was cut.
 * Thread: any (cfg is frozen). */
size_t config_format(const config_t *cfg, unsigned readers, char *buf, size_t n);

/* Writes a Markdown table of the variables readers read (variable | default | range | meaning;
 * with CONFIG_ALL also a "Read by" column), one row per variable, for --help and the README.
 * Same return and truncation rule as config_format. Pure. */
size_t config_describe(unsigned readers, char *buf, size_t n);

#endif
