/* SPDX-License-Identifier: MIT */
#include "common/config.h"

#include <check.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#define LOG_MODULE "test_config"
#include "common/log.h"

#include "unit_main.h"

/* A fake environment: name/value pairs, later ones override earlier ones. */
#define ENV_MAX 64
typedef struct fake_env {
    const char *names[ENV_MAX];
    const char *values[ENV_MAX];
    int n;
} fake_env_t;

static const char *fake_get(void *ctx, const char *name)
{
    const fake_env_t *e = ctx;
    for (int i = e->n - 1; i >= 0; i--) {
        if (strcmp(e->names[i], name) == 0)
            return e->values[i];
    }
    return NULL;
}

static void env_set(fake_env_t *e, const char *name, const char *value)
{
    ck_assert_int_lt(e->n, ENV_MAX);
    e->names[e->n] = name;
    e->values[e->n] = value;
    e->n++;
}

/* Loads cfg from a single variable set to value. */
static int load_one(config_t *cfg, const char *name, const char *value, err_t *err)
{
    fake_env_t env = {0};
    env_set(&env, name, value);
    return config_load(cfg, CONFIG_ALL, fake_get, &env, err);
}

/* Every integer variable with its field and bounds, as the contract states them. */
typedef struct u32_var {
    const char *name;
    size_t offset;
    uint32_t min, max, def;
} u32_var_t;

#define V(name, field, min, max, def)                                                              \
    {                                                                                              \
        name, offsetof(config_t, field), min, max, def                                             \
    }
static const u32_var_t u32_vars[] = {
    V("RABBITMQ_DELIVERY_LIMIT", rabbitmq_delivery_limit, 1, 1000000, 20),
    V("API_PORT", api_port, 1, 65535, 3000),
    V("API_THREADS", api_threads, 0, 64, 0),
    V("MAX_BODY_BYTES", max_body_bytes, 64, 8388608, 65536),
    V("BATCH_MAX_EVENTS", batch_max_events, 1, 10000, 500),
    V("BATCH_MAX_BODY_BYTES", batch_max_body_bytes, 64, 16777216, 1048576),
    V("RATE_LIMIT_IPV6_PREFIX", rate_limit_ipv6_prefix, 32, 128, 64),
    V("RATE_LIMIT_WINDOW_MS", rate_limit_window_ms, 1, 86400000, 60000),
    V("RATE_LIMIT_MAX_REQUESTS", rate_limit_max_requests, 1, 1000000, 50),
    V("RATE_LIMIT_MAX_CLIENTS", rate_limit_max_clients, 1, 10000000, 100000),
    V("PUBLISH_RING_SIZE", publish_ring_size, 2, 1048576, 4096),
    V("PUBLISH_CONFIRM_TIMEOUT_MS", publish_confirm_timeout_ms, 100, 60000, 5000),
    V("PUBLISH_MAX_INFLIGHT", publish_max_inflight, 1, 65535, 1000),
    V("AMQP_HEARTBEAT_S", amqp_heartbeat_s, 1, 600, 10),
    V("SHUTDOWN_GRACE_MS", shutdown_grace_ms, 0, 600000, 10000),
    V("READY_DRAIN_DELAY_MS", ready_drain_delay_ms, 0, 600000, 0),
    V("CONSUMER_WORKERS", consumer_workers, 0, 64, 0),
    V("CONSUMER_PREFETCH", consumer_prefetch, 1, 65535, 1000),
    V("CONSUMER_BATCH_SIZE", consumer_batch_size, 1, 10000, 100),
    V("CONSUMER_BATCH_MS", consumer_batch_ms, 1, 60000, 50),
    V("CONSUMER_RETRY_MAX_MS", consumer_retry_max_ms, 0, 3600000, 30000),
    V("CONSUMER_METRICS_PORT", consumer_metrics_port, 0, 65535, 0),
    V("MONGO_POOL_MAX", mongo_pool_max, 1, 1024, 16),
};
#define N_U32_VARS (sizeof(u32_vars) / sizeof(u32_vars[0]))
#define N_VARS     (N_U32_VARS + 11) /* plus 10 strings and LOG_LEVEL */

static uint32_t u32_field(const config_t *cfg, const u32_var_t *v)
{
    uint32_t x;
    memcpy(&x, (const char *)cfg + v->offset, sizeof(x));
    return x;
}

/* ---- defaults ---- */

START_TEST(test_config_defaults_when_unset)
{
    fake_env_t env = {0};
    config_t cfg;
    err_t err = {0};
    ck_assert_int_eq(config_load(&cfg, CONFIG_ALL, fake_get, &env, &err), 0);
    ck_assert_str_eq(cfg.rabbitmq_url, "amqp://guest:guest@127.0.0.1:5672/");
    ck_assert_str_eq(cfg.rabbitmq_queue, "user_activities");
    ck_assert_str_eq(cfg.rabbitmq_queue_type, "auto");
    ck_assert_str_eq(cfg.database_url, "mongodb://127.0.0.1:27017/activity_db");
    ck_assert_str_eq(cfg.api_host, "0.0.0.0");
    ck_assert_str_eq(cfg.trust_proxy_cidrs, "");
    ck_assert_str_eq(cfg.consumer_health_file, "");
    ck_assert_int_eq(cfg.log_level, LOG_LEVEL_INFO);
    for (size_t i = 0; i < N_U32_VARS; i++)
        ck_assert_uint_eq(u32_field(&cfg, &u32_vars[i]), u32_vars[i].def);
}
END_TEST

START_TEST(test_config_empty_value_is_an_error)
{
    static const char *const names[] = {"API_PORT",     "RABBITMQ_QUEUE", "LOG_LEVEL",
                                        "RABBITMQ_URL", "DATABASE_URL",   "API_HOST"};
    config_t cfg;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        err_t err = {0};
        ck_assert_int_eq(load_one(&cfg, names[i], "", &err), ERR_PARSE);
        ck_assert_str_eq(err.field, names[i]);
        ck_assert_ptr_nonnull(strstr(err.msg, "is set but empty; unset it to use the default"));
    }
    err_t err = {0};
    ck_assert_int_eq(load_one(&cfg, "RABBITMQ_QUEUE", "", &err), ERR_PARSE);
    ck_assert_str_eq(err.msg, "RABBITMQ_QUEUE is set but empty; unset it to use the default "
                              "(user_activities)");
}
END_TEST

START_TEST(test_config_empty_means_none_where_the_default_is_empty)
{
    config_t cfg;
    ck_assert_int_eq(load_one(&cfg, "TRUST_PROXY_CIDRS", "", NULL), 0);
    ck_assert_str_eq(cfg.trust_proxy_cidrs, "");
    ck_assert_int_eq(load_one(&cfg, "CONSUMER_HEALTH_FILE", "", NULL), 0);
    ck_assert_str_eq(cfg.consumer_health_file, "");
}
END_TEST

/* ---- each program reads its own variables ---- */

START_TEST(test_config_each_program_checks_only_what_it_reads)
{
    fake_env_t env = {0};
    config_t cfg;
    err_t err = {0};
    env_set(&env, "API_PORT", "0");            /* bad, but only the API reads it */
    env_set(&env, "CONSUMER_PREFETCH", "50");  /* bad with the default batch size (100) */
    env_set(&env, "RABBITMQ_QUEUE", "events"); /* read by both */
    ck_assert_int_eq(config_load(&cfg, CONFIG_CONSUMER, fake_get, &env, &err), ERR_RANGE);
    ck_assert_str_eq(err.field, "CONSUMER_PREFETCH");
    ck_assert_int_eq(config_load(&cfg, CONFIG_API, fake_get, &env, &err), ERR_RANGE);
    ck_assert_str_eq(err.field, "API_PORT");

    env_set(&env, "API_PORT", "3001");
    ck_assert_int_eq(config_load(&cfg, CONFIG_API, fake_get, &env, &err), 0);
    ck_assert_uint_eq(cfg.api_port, 3001);
    ck_assert_str_eq(cfg.rabbitmq_queue, "events");
    ck_assert_uint_eq(cfg.consumer_prefetch, 0); /* not the API's: left zero */
    ck_assert_str_eq(cfg.database_url, "");

    env_set(&env, "CONSUMER_PREFETCH", "500");
    env_set(&env, "API_PORT", "0");
    ck_assert_int_eq(config_load(&cfg, CONFIG_CONSUMER, fake_get, &env, &err), 0);
    ck_assert_uint_eq(cfg.consumer_prefetch, 500);
    ck_assert_str_eq(cfg.rabbitmq_queue, "events");
    ck_assert_uint_eq(cfg.api_port, 0);

    char text[8192];
    config_format(&cfg, CONFIG_CONSUMER, text, sizeof(text));
    ck_assert_ptr_null(strstr(text, "API_PORT"));
    ck_assert_ptr_nonnull(strstr(text, "\"CONSUMER_PREFETCH\":500"));
    ck_assert_ptr_nonnull(strstr(text, "\"RABBITMQ_QUEUE\":\"events\""));
    config_describe(CONFIG_API, text, sizeof(text));
    ck_assert_ptr_null(strstr(text, "CONSUMER_"));
    ck_assert_ptr_null(strstr(text, "DATABASE_URL"));
    ck_assert_ptr_nonnull(strstr(text, "| `RABBITMQ_URL` | `amqp://"));
    ck_assert_ptr_nonnull(strstr(text, "| `API_PORT` | `3000` |"));
}
END_TEST

/* ---- overrides ---- */

static uint32_t overridden_value(const u32_var_t *v)
{
    return strcmp(v->name, "RATE_LIMIT_MAX_CLIENTS") == 0 ? 99 : v->max - 1;
}

START_TEST(test_config_every_variable_overridden)
{
    fake_env_t env = {0};
    char values[N_U32_VARS][16];
    env_set(&env, "RABBITMQ_URL", "amqp://u:p@broker:5671/vh");
    env_set(&env, "RABBITMQ_QUEUE", "events.v2");
    env_set(&env, "RABBITMQ_QUEUE_TYPE", "classic");
    env_set(&env, "DATABASE_URL", "mongodb+srv://u:p@cluster.example.com/events?w=majority");
    env_set(&env, "API_HOST", "::1");
    env_set(&env, "CONSUMER_METRICS_HOST", "127.0.0.1");
    env_set(&env, "TRUST_PROXY_CIDRS", "10.0.0.0/8,fd00::/8");
    env_set(&env, "CONSUMER_HEALTH_FILE", "/tmp/consumer.health");
    env_set(&env, "API_KEYS", "key-one-0123456789,key-two-0123456789");
    env_set(&env, "API_KEYS_FILE", "/etc/activity/keys");
    env_set(&env, "LOG_LEVEL", "debug");
    /* A value inside every range and different from its default: max - 1 keeps
     * CONSUMER_PREFETCH (65534) above CONSUMER_BATCH_SIZE (9999); RATE_LIMIT_MAX_CLIENTS takes
     * a small value so that the rate limiter's reserve stays within its bound. */
    for (size_t i = 0; i < N_U32_VARS; i++) {
        snprintf(values[i], sizeof(values[i]), "%u", overridden_value(&u32_vars[i]));
        env_set(&env, u32_vars[i].name, values[i]);
    }
    ck_assert_uint_eq(env.n, N_VARS);

    config_t cfg;
    err_t err = {0};
    ck_assert_int_eq(config_load(&cfg, CONFIG_ALL, fake_get, &env, &err), 0);
    ck_assert_str_eq(cfg.rabbitmq_url, "amqp://u:p@broker:5671/vh");
    ck_assert_str_eq(cfg.rabbitmq_queue, "events.v2");
    ck_assert_str_eq(cfg.rabbitmq_queue_type, "classic");
    ck_assert_str_eq(cfg.database_url, "mongodb+srv://u:p@cluster.example.com/events?w=majority");
    ck_assert_str_eq(cfg.api_host, "::1");
    ck_assert_str_eq(cfg.consumer_metrics_host, "127.0.0.1");
    ck_assert_str_eq(cfg.trust_proxy_cidrs, "10.0.0.0/8,fd00::/8");
    ck_assert_str_eq(cfg.consumer_health_file, "/tmp/consumer.health");
    ck_assert_str_eq(cfg.api_keys, "key-one-0123456789,key-two-0123456789");
    ck_assert_str_eq(cfg.api_keys_file, "/etc/activity/keys");
    ck_assert_int_eq(cfg.log_level, LOG_LEVEL_DEBUG);
    for (size_t i = 0; i < N_U32_VARS; i++) {
        ck_assert_uint_eq(u32_field(&cfg, &u32_vars[i]), overridden_value(&u32_vars[i]));
        ck_assert_uint_ne(overridden_value(&u32_vars[i]), u32_vars[i].def);
    }
}
END_TEST

START_TEST(test_config_log_level_any_case)
{
    config_t cfg;
    ck_assert_int_eq(load_one(&cfg, "LOG_LEVEL", "ERROR", NULL), 0);
    ck_assert_int_eq(cfg.log_level, LOG_LEVEL_ERROR);
    ck_assert_int_eq(load_one(&cfg, "LOG_LEVEL", "Warn", NULL), 0);
    ck_assert_int_eq(cfg.log_level, LOG_LEVEL_WARN);
}
END_TEST

/* ---- integer bounds and syntax ---- */

/* Loads one integer variable; the cross-field partner is pinned so it never interferes. */
static int load_u32(config_t *cfg, const char *name, uint32_t value, err_t *err)
{
    char text[16];
    fake_env_t env = {0};
    env_set(&env, "CONSUMER_PREFETCH", "65535");
    env_set(&env, "CONSUMER_BATCH_SIZE", "1");
    env_set(&env, "RATE_LIMIT_MAX_REQUESTS", "1");
    env_set(&env, "RATE_LIMIT_MAX_CLIENTS", "1");
    env_set(&env, "PUBLISH_RING_SIZE", "1048576");
    env_set(&env, "BATCH_MAX_EVENTS", "1");
    snprintf(text, sizeof(text), "%u", value);
    env_set(&env, name, text);
    return config_load(cfg, CONFIG_ALL, fake_get, &env, err);
}

START_TEST(test_config_integer_bounds)
{
    const u32_var_t *v = &u32_vars[_i];
    config_t cfg;
    err_t err = {0};

    ck_assert_int_eq(load_u32(&cfg, v->name, v->min, &err), 0);
    ck_assert_uint_eq(u32_field(&cfg, v), v->min);
    ck_assert_int_eq(load_u32(&cfg, v->name, v->max, &err), 0);
    ck_assert_uint_eq(u32_field(&cfg, v), v->max);

    char expect[ERR_MSG_MAX];
    snprintf(expect, sizeof(expect), "%s must be an integer between %u and %u (got \"%u\")",
             v->name, v->min, v->max, v->max + 1);
    ck_assert_int_eq(load_u32(&cfg, v->name, v->max + 1, &err), ERR_RANGE);
    ck_assert_int_eq(err.code, ERR_RANGE);
    ck_assert_str_eq(err.field, v->name);
    ck_assert_str_eq(err.msg, expect);

    if (v->min > 0) {
        ck_assert_int_eq(load_u32(&cfg, v->name, v->min - 1, &err), ERR_RANGE);
        ck_assert_str_eq(err.field, v->name);
    }
}
END_TEST

START_TEST(test_config_integer_rejects_junk)
{
    static const char *const junk[] = {"12x", "-1", " 5", "5 ", "+5", "0x10", "1e3", "3.0", "abc"};
    config_t cfg;
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        err_t err = {0};
        char expect[ERR_MSG_MAX];
        snprintf(expect, sizeof(expect),
                 "API_PORT must be an integer between 1 and 65535 (got \"%s\")", junk[i]);
        ck_assert_int_eq(load_one(&cfg, "API_PORT", junk[i], &err), ERR_PARSE);
        ck_assert_str_eq(err.field, "API_PORT");
        ck_assert_str_eq(err.msg, expect);
    }
}
END_TEST

START_TEST(test_config_integer_overflow_is_range_error)
{
    config_t cfg;
    err_t err = {0};
    ck_assert_int_eq(load_one(&cfg, "MAX_BODY_BYTES", "99999999999999999999", &err), ERR_RANGE);
    ck_assert_str_eq(err.field, "MAX_BODY_BYTES");
    ck_assert_int_eq(load_one(&cfg, "MAX_BODY_BYTES", "4294967296", &err), ERR_RANGE);
    ck_assert_int_eq(load_one(&cfg, "MAX_BODY_BYTES", "99999999999999999999x", &err), ERR_PARSE);
    /* Leading zeros are still decimal. */
    ck_assert_int_eq(load_one(&cfg, "MAX_BODY_BYTES", "000128", &err), 0);
    ck_assert_uint_eq(cfg.max_body_bytes, 128);
}
END_TEST

START_TEST(test_config_log_level_rejects_unknown)
{
    config_t cfg;
    err_t err = {0};
    ck_assert_int_eq(load_one(&cfg, "LOG_LEVEL", "verbose", &err), ERR_PARSE);
    ck_assert_str_eq(err.field, "LOG_LEVEL");
    ck_assert_str_eq(err.msg,
                     "LOG_LEVEL must be one of error, warn, info, debug (got \"verbose\")");
}
END_TEST

/* ---- strings and URLs ---- */

START_TEST(test_config_queue_rules)
{
    config_t cfg;
    err_t err = {0};
    char name[202];

    memset(name, 'q', 200);
    name[200] = '\0';
    ck_assert_int_eq(load_one(&cfg, "RABBITMQ_QUEUE", name, &err), 0);
    ck_assert_uint_eq(strlen(cfg.rabbitmq_queue), 200);
    name[200] = 'q';
    name[201] = '\0';
    ck_assert_int_eq(load_one(&cfg, "RABBITMQ_QUEUE", name, &err), ERR_RANGE);
    ck_assert_str_eq(err.field, "RABBITMQ_QUEUE");

    ck_assert_int_eq(load_one(&cfg, "RABBITMQ_QUEUE", "user activities", &err), ERR_PARSE);
    ck_assert_str_eq(err.field, "RABBITMQ_QUEUE");
    ck_assert_int_eq(load_one(&cfg, "RABBITMQ_QUEUE", "tab\there", &err), ERR_PARSE);
    ck_assert_int_eq(load_one(&cfg, "RABBITMQ_QUEUE", "caf\xc3\xa9", &err), ERR_PARSE);
    ck_assert_int_eq(load_one(&cfg, "RABBITMQ_QUEUE", "a.b-c_d:e", &err), 0);
}
END_TEST

START_TEST(test_config_queue_type_values)
{
    static const char *const good[] = {"auto", "quorum", "classic"};
    config_t cfg;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        ck_assert_int_eq(load_one(&cfg, "RABBITMQ_QUEUE_TYPE", good[i], NULL), 0);
        ck_assert_str_eq(cfg.rabbitmq_queue_type, good[i]);
    }
    err_t err = {0};
    ck_assert_int_eq(load_one(&cfg, "RABBITMQ_QUEUE_TYPE", "Quorum", &err), ERR_PARSE);
    ck_assert_str_eq(err.msg, "RABBITMQ_QUEUE_TYPE must be one of auto, quorum, classic (got "
                              "\"Quorum\")");
    ck_assert_int_eq(load_one(&cfg, "RABBITMQ_QUEUE_TYPE", "stream", &err), ERR_PARSE);
    ck_assert_int_eq(load_one(&cfg, "RABBITMQ_QUEUE_TYPE", "classicx", &err), ERR_RANGE);
}
END_TEST

START_TEST(test_config_rabbitmq_url_lists_the_nodes_of_a_cluster)
{
    config_t cfg;
    err_t err = {0};
    const char *list = "amqp://u:p@n1:5672/,amqp://u:p@n2:5672/,amqp://u:p@n3:5672/";
    ck_assert_int_eq(load_one(&cfg, "RABBITMQ_URL", list, &err), 0);
    ck_assert_str_eq(cfg.rabbitmq_url, list);
    ck_assert_int_eq(load_one(&cfg, "RABBITMQ_URL", "amqp://n1/,amqp://n2:0/", &err), ERR_PARSE);
    ck_assert_ptr_nonnull(strstr(err.msg, "URL 2: the port"));
    ck_assert_int_eq(load_one(&cfg, "RABBITMQ_URL", "amqp://u:secret@n1/,", &err), ERR_RANGE);
    ck_assert_ptr_null(strstr(err.msg, "secret"));
}
END_TEST

START_TEST(test_config_string_length_limit)
{
    config_t cfg;
    err_t err = {0};
    char host[CONFIG_HOST_MAX + 1];
    memset(host, 'h', CONFIG_HOST_MAX - 1);
    host[CONFIG_HOST_MAX - 1] = '\0';
    ck_assert_int_eq(load_one(&cfg, "API_HOST", host, &err), 0);
    host[CONFIG_HOST_MAX - 1] = 'h';
    host[CONFIG_HOST_MAX] = '\0';
    ck_assert_int_eq(load_one(&cfg, "API_HOST", host, &err), ERR_RANGE);
    ck_assert_str_eq(err.field, "API_HOST");
    ck_assert_ptr_nonnull(strstr(err.msg, "at most 255 bytes"));
}
END_TEST

START_TEST(test_config_rate_limit_reserve_is_bounded)
{
    fake_env_t env = {0};
    config_t cfg;
    err_t err = {0};
    /* 64 clients x 1e6 requests: about 256 MiB, accepted (the benchmark's setting). */
    env_set(&env, "RATE_LIMIT_MAX_REQUESTS", "1000000");
    env_set(&env, "RATE_LIMIT_MAX_CLIENTS", "64");
    ck_assert_int_eq(config_load(&cfg, CONFIG_ALL, fake_get, &env, &err), 0);
    /* The default 100000 clients x 1e5 requests would reserve about 38 GiB. */
    env_set(&env, "RATE_LIMIT_MAX_REQUESTS", "100000");
    env_set(&env, "RATE_LIMIT_MAX_CLIENTS", "100000");
    ck_assert_int_eq(config_load(&cfg, CONFIG_ALL, fake_get, &env, &err), ERR_RANGE);
    ck_assert_str_eq(err.field, "RATE_LIMIT_MAX_CLIENTS");
    ck_assert_ptr_nonnull(strstr(err.msg, "MiB"));
}
END_TEST

START_TEST(test_config_rabbitmq_url_parsed_in_full)
{
    config_t cfg;
    err_t err = {0};
    ck_assert_int_eq(load_one(&cfg, "RABBITMQ_URL", "amqp://h/", &err), 0);
    ck_assert_int_eq(load_one(&cfg, "RABBITMQ_URL", "amqps://h:5671/", &err), ERR_PARSE);
    ck_assert_ptr_nonnull(strstr(err.msg, "TLS"));
    ck_assert_int_eq(load_one(&cfg, "RABBITMQ_URL", "http://h/", &err), ERR_PARSE);
    ck_assert_str_eq(err.field, "RABBITMQ_URL");
    ck_assert_str_eq(err.msg, "RABBITMQ_URL is not a valid AMQP URL: must start with amqp:// "
                              "(got \"http://h/\")");
    ck_assert_int_eq(load_one(&cfg, "RABBITMQ_URL", "AMQP://h/", &err), ERR_PARSE);
    ck_assert_int_eq(load_one(&cfg, "RABBITMQ_URL", "localhost:5672", &err), ERR_PARSE);
    /* Found by a user: this once started the API, which then answered 503 for ever. */
    ck_assert_int_eq(load_one(&cfg, "RABBITMQ_URL", "amqp://nohost:1:2:3", &err), ERR_PARSE);
    ck_assert_ptr_nonnull(strstr(err.msg, "port"));
    ck_assert_int_eq(load_one(&cfg, "RABBITMQ_URL", "amqp://u:p@:5672/", &err), ERR_PARSE);
    ck_assert_ptr_nonnull(strstr(err.msg, "host is empty"));
}
END_TEST

START_TEST(test_config_database_url_names_database)
{
    static const char *const good[] = {
        "mongodb://h/db",
        "mongodb://h:27017/activity_db?w=majority",
        "mongodb://u:p@h1:27017,h2:27017/db?replicaSet=rs0",
        "mongodb+srv://u:p@cluster.example.com/db",
        "mongodb://u:p/w@h/db",
    };
    static const char *const bad[] = {
        "mongodb://h",       "mongodb://h:27017", "mongodb://h/",    "mongodb://h/?w=1",
        "mongodb://h?x=/db", "mongodb://h/a.b",   "mongodb://h/a$b", "mongodb://h/a b",
        "mongodb://h/a/b",   "mysql://h/db",      "mongodb:/h/db",   "http://h/db",
    };
    config_t cfg;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        err_t err = {0};
        ck_assert_int_eq(load_one(&cfg, "DATABASE_URL", good[i], &err), 0);
        ck_assert_str_eq(cfg.database_url, good[i]);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err_t err = {0};
        ck_assert_int_eq(load_one(&cfg, "DATABASE_URL", bad[i], &err), ERR_PARSE);
        ck_assert_str_eq(err.field, "DATABASE_URL");
    }
}
END_TEST

START_TEST(test_config_error_masks_secret_value)
{
    config_t cfg;
    err_t err = {0};
    ck_assert_int_eq(load_one(&cfg, "DATABASE_URL", "mongodb://admin:hunter2@h:27017", &err),
                     ERR_PARSE);
    ck_assert_ptr_null(strstr(err.msg, "hunter2"));
    ck_assert_ptr_nonnull(strstr(err.msg, "mongodb://admin:***@h:27017"));
    ck_assert_int_eq(load_one(&cfg, "RABBITMQ_URL", "http://u:hunter2@h/", &err), ERR_PARSE);
    ck_assert_ptr_null(strstr(err.msg, "hunter2"));
}
END_TEST

START_TEST(test_config_error_quotes_long_value_cut)
{
    config_t cfg;
    err_t err = {0};
    char value[300];
    memset(value, '7', sizeof(value) - 1);
    value[sizeof(value) - 1] = '\0';
    ck_assert_int_eq(load_one(&cfg, "API_PORT", value, &err), ERR_RANGE);
    ck_assert_ptr_nonnull(strstr(err.msg, "7...\")"));
    ck_assert_uint_lt(strlen(err.msg), ERR_MSG_MAX - 1);
}
END_TEST

/* ---- cross-field rule ---- */

START_TEST(test_config_publish_ring_holds_the_largest_batch)
{
    fake_env_t env = {0};
    config_t cfg;
    err_t err = {0};
    env_set(&env, "PUBLISH_RING_SIZE", "100");
    env_set(&env, "BATCH_MAX_EVENTS", "101");
    ck_assert_int_eq(config_load(&cfg, CONFIG_API, fake_get, &env, &err), ERR_RANGE);
    ck_assert_str_eq(err.field, "PUBLISH_RING_SIZE");
    ck_assert_str_eq(err.msg, "PUBLISH_RING_SIZE (100) must be at least BATCH_MAX_EVENTS (101)");
    env_set(&env, "BATCH_MAX_EVENTS", "100");
    ck_assert_int_eq(config_load(&cfg, CONFIG_API, fake_get, &env, &err), 0);
    /* The consumer does not read either. */
    env_set(&env, "BATCH_MAX_EVENTS", "101");
    ck_assert_int_eq(config_load(&cfg, CONFIG_CONSUMER, fake_get, &env, &err), 0);
}
END_TEST

START_TEST(test_config_prefetch_at_least_batch_size)
{
    fake_env_t env = {0};
    config_t cfg;
    err_t err = {0};
    env_set(&env, "CONSUMER_PREFETCH", "50");
    env_set(&env, "CONSUMER_BATCH_SIZE", "51");
    ck_assert_int_eq(config_load(&cfg, CONFIG_ALL, fake_get, &env, &err), ERR_RANGE);
    ck_assert_str_eq(err.field, "CONSUMER_PREFETCH");
    ck_assert_str_eq(err.msg, "CONSUMER_PREFETCH (50) must be at least CONSUMER_BATCH_SIZE (51)");

    env_set(&env, "CONSUMER_BATCH_SIZE", "50");
    ck_assert_int_eq(config_load(&cfg, CONFIG_ALL, fake_get, &env, &err), 0);
    ck_assert_uint_eq(cfg.consumer_prefetch, 50);
    ck_assert_uint_eq(cfg.consumer_batch_size, 50);

    /* The default batch size (100) applies against an explicit prefetch too. */
    ck_assert_int_eq(load_one(&cfg, "CONSUMER_PREFETCH", "99", &err), ERR_RANGE);
    ck_assert_str_eq(err.field, "CONSUMER_PREFETCH");
}
END_TEST

/* ---- formatting and docs ---- */

START_TEST(test_config_format_is_json_with_secrets_masked)
{
    fake_env_t env = {0};
    config_t cfg;
    char buf[8192], json[8200];
    env_set(&env, "DATABASE_URL", "mongodb://app:s3cret@db:27017/activity_db");
    env_set(&env, "API_HOST", "host\"with\\quote");
    ck_assert_int_eq(config_load(&cfg, CONFIG_ALL, fake_get, &env, NULL), 0);

    size_t len = config_format(&cfg, CONFIG_ALL, buf, sizeof(buf));
    ck_assert_uint_eq(len, strlen(buf));
    ck_assert_ptr_null(strstr(buf, "s3cret"));
    ck_assert_ptr_null(strstr(buf, "guest:guest"));
    ck_assert_ptr_nonnull(strstr(buf, "\"RABBITMQ_URL\":\"amqp://guest:***@127.0.0.1:5672/\""));
    ck_assert_ptr_nonnull(
        strstr(buf, "\"DATABASE_URL\":\"mongodb://app:***@db:27017/activity_db\""));
    ck_assert_ptr_nonnull(strstr(buf, "\"API_PORT\":3000,"));
    ck_assert_ptr_nonnull(strstr(buf, "\"LOG_LEVEL\":\"info\""));

    snprintf(json, sizeof(json), "{%s}", buf);
    json_object *obj = json_tokener_parse(json);
    ck_assert_ptr_nonnull(obj);
    ck_assert_int_eq(json_object_object_length(obj), N_VARS);
    json_object *host;
    ck_assert_int_eq(json_object_object_get_ex(obj, "API_HOST", &host), 1);
    ck_assert_str_eq(json_object_get_string(host), "host\"with\\quote");
    json_object_put(obj);
}
END_TEST

START_TEST(test_config_api_keys_are_never_shown)
{
    fake_env_t env = {0};
    config_t cfg;
    char buf[8192];
    env_set(&env, "API_KEYS", "s3cret-key-0123456789");
    ck_assert_int_eq(config_load(&cfg, CONFIG_API, fake_get, &env, NULL), 0);
    config_format(&cfg, CONFIG_API, buf, sizeof(buf));
    ck_assert_ptr_null(strstr(buf, "s3cret"));
    ck_assert_ptr_nonnull(strstr(buf, "\"API_KEYS\":\"***\""));
    /* Empty means none, and says so. */
    ck_assert_int_eq(config_load(&cfg, CONFIG_API, fake_get, &(fake_env_t){0}, NULL), 0);
    config_format(&cfg, CONFIG_API, buf, sizeof(buf));
    ck_assert_ptr_nonnull(strstr(buf, "\"API_KEYS\":\"\""));
    /* An error quoting the value does not show it either. */
    char longkeys[CONFIG_KEYS_MAX + 8];
    memset(longkeys, 'k', sizeof(longkeys) - 1);
    longkeys[sizeof(longkeys) - 1] = '\0';
    env_set(&env, "API_KEYS", longkeys);
    err_t err = {0};
    ck_assert_int_eq(config_load(&cfg, CONFIG_API, fake_get, &env, &err), ERR_RANGE);
    ck_assert_ptr_null(strstr(err.msg, "kkk"));
}
END_TEST

START_TEST(test_config_format_reports_needed_length)
{
    config_t cfg;
    char full[8192], small[32];
    ck_assert_int_eq(config_load(&cfg, CONFIG_ALL, fake_get, &(fake_env_t){0}, NULL), 0);
    size_t need = config_format(&cfg, CONFIG_ALL, full, sizeof(full));
    ck_assert_uint_eq(config_format(&cfg, CONFIG_ALL, small, sizeof(small)), need);
    ck_assert_uint_eq(strlen(small), sizeof(small) - 1);
    ck_assert_int_eq(strncmp(small, full, sizeof(small) - 1), 0);
    ck_assert_uint_eq(config_format(&cfg, CONFIG_ALL, NULL, 0), need);
}
END_TEST

START_TEST(test_config_describe_lists_every_variable)
{
    char buf[16384];
    size_t len = config_describe(CONFIG_ALL, buf, sizeof(buf));
    ck_assert_uint_gt(len, 0);
    ck_assert_uint_lt(len, sizeof(buf));
    ck_assert_uint_eq(len, strlen(buf));
    static const char head[] =
        "| Variable | Read by | Default | Range | Meaning |\n|---|---|---|---|---|\n";
    ck_assert_int_eq(strncmp(buf, head, sizeof(head) - 1), 0);
    ck_assert_ptr_nonnull(strstr(buf, "| `API_PORT` | api | `3000` | 1..65535 | "));
    ck_assert_ptr_nonnull(
        strstr(buf, "| `TRUST_PROXY_CIDRS` | api | (empty) | at most 1023 bytes | "));
    ck_assert_ptr_nonnull(
        strstr(buf, "| `LOG_LEVEL` | both | `info` | error, warn, info, debug | "));
    ck_assert_ptr_nonnull(strstr(buf, "| `MONGO_POOL_MAX` | consumer | `16` | "));
    size_t lines = 0;
    for (const char *p = buf; *p != '\0'; p++)
        lines += *p == '\n';
    ck_assert_uint_eq(lines, N_VARS + 2);
    for (size_t i = 0; i < N_U32_VARS; i++) {
        char cell[64];
        snprintf(cell, sizeof(cell), "| `%s` |", u32_vars[i].name);
        ck_assert_ptr_nonnull(strstr(buf, cell));
    }
}
END_TEST

START_TEST(test_config_env_getter_reads_environment)
{
    ck_assert_int_eq(setenv("AT_TEST_CONFIG_VAR", "42", 1), 0);
    ck_assert_str_eq(config_env_getter(NULL, "AT_TEST_CONFIG_VAR"), "42");
    ck_assert_int_eq(unsetenv("AT_TEST_CONFIG_VAR"), 0);
    ck_assert_ptr_null(config_env_getter(NULL, "AT_TEST_CONFIG_VAR"));
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc;

    tc = tcase_create("defaults");
    tcase_add_test(tc, test_config_defaults_when_unset);
    tcase_add_test(tc, test_config_empty_value_is_an_error);
    tcase_add_test(tc, test_config_empty_means_none_where_the_default_is_empty);
    tcase_add_test(tc, test_config_each_program_checks_only_what_it_reads);
    suite_add_tcase(s, tc);

    tc = tcase_create("overrides");
    tcase_add_test(tc, test_config_every_variable_overridden);
    tcase_add_test(tc, test_config_log_level_any_case);
    tcase_add_test(tc, test_config_env_getter_reads_environment);
    suite_add_tcase(s, tc);

    tc = tcase_create("integers");
    tcase_add_loop_test(tc, test_config_integer_bounds, 0, (int)N_U32_VARS);
    tcase_add_test(tc, test_config_integer_rejects_junk);
    tcase_add_test(tc, test_config_integer_overflow_is_range_error);
    tcase_add_test(tc, test_config_log_level_rejects_unknown);
    suite_add_tcase(s, tc);

    tc = tcase_create("strings");
    tcase_add_test(tc, test_config_queue_rules);
    tcase_add_test(tc, test_config_string_length_limit);
    tcase_add_test(tc, test_config_queue_type_values);
    tcase_add_test(tc, test_config_rabbitmq_url_lists_the_nodes_of_a_cluster);
    tcase_add_test(tc, test_config_rabbitmq_url_parsed_in_full);
    tcase_add_test(tc, test_config_rate_limit_reserve_is_bounded);
    tcase_add_test(tc, test_config_database_url_names_database);
    tcase_add_test(tc, test_config_error_masks_secret_value);
    tcase_add_test(tc, test_config_error_quotes_long_value_cut);
    suite_add_tcase(s, tc);

    tc = tcase_create("cross_field");
    tcase_add_test(tc, test_config_prefetch_at_least_batch_size);
    tcase_add_test(tc, test_config_publish_ring_holds_the_largest_batch);
    suite_add_tcase(s, tc);

    tc = tcase_create("format");
    tcase_add_test(tc, test_config_format_is_json_with_secrets_masked);
    tcase_add_test(tc, test_config_format_reports_needed_length);
    tcase_add_test(tc, test_config_api_keys_are_never_shown);
    tcase_add_test(tc, test_config_describe_lists_every_variable);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(config_suite)
