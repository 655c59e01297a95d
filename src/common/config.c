/* SPDX-License-Identifier: MIT */
#include "common/config.h"

#include "common/brokerurl.h"
#include "common/urltext.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* config never logs: log.h is included for the level names and the JSON escaper only. */
#define LOG_MODULE "config"
#include "common/log.h"

enum type { T_U32, T_STR, T_LOGLEVEL };

/* SECRET_URL: the passwords of URLs are masked; SECRET_ALL: the value is never shown. */
enum secret { SECRET_NONE, SECRET_URL, SECRET_ALL };

struct row;
/* Checks a string value beyond its length; returns 0 or an ERR_* code with err filled. */
typedef int (*check_fn)(const struct row *r, const char *value, err_t *err);

/* One environment variable. For T_STR the longest value is the field's size minus its NUL. */
struct row {
    const char *name;
    unsigned readers; /* CONFIG_API and/or CONFIG_CONSUMER: who loads and checks it */
    enum type type;
    size_t offset, size;
    const char *def;
    uint32_t min, max;  /* T_U32 only */
    enum secret secret; /* how the value is masked wherever it is shown */
    bool empty_ok;      /* T_STR whose empty value means "none" (its default): set-but-empty is
                           accepted; for every other variable it is an error */
    check_fn check;     /* T_STR only; NULL = any value that fits */
    const char *range;  /* T_STR, T_LOGLEVEL: the Range column (NULL: the longest length) */
    const char *help;
};

static int check_amqp_url(const struct row *r, const char *value, err_t *err);
static int check_queue(const struct row *r, const char *value, err_t *err);
static int check_queue_type(const struct row *r, const char *value, err_t *err);
static int check_mongo_url(const struct row *r, const char *value, err_t *err);

#define FIELD(f) .offset = offsetof(config_t, f), .size = sizeof(((config_t *)0)->f)
#define API      CONFIG_API
#define CONS     CONFIG_CONSUMER
#define BOTH     CONFIG_ALL
#define U32(who, name_, f, def_, lo, hi, help_)                                                    \
    {                                                                                              \
        .name = name_, .readers = who, .type = T_U32, FIELD(f), .def = def_, .min = lo, .max = hi, \
        .help = help_                                                                              \
    }
#define STR(who, name_, f, def_, secret_, check_, range_, help_)                                   \
    {                                                                                              \
        .name = name_, .readers = who, .type = T_STR, FIELD(f), .def = def_, .secret = secret_,    \
        .empty_ok = (def_)[0] == '\0', .check = check_, .range = range_, .help = help_             \
    }

static const struct row rows[] = {
    STR(BOTH, "RABBITMQ_URL", rabbitmq_url, "amqp://guest:guest@127.0.0.1:5672/", SECRET_URL,
        check_amqp_url, "amqp:// URLs, comma-separated (at most 16; no TLS)",
        "RabbitMQ broker URL, or the nodes of a cluster in order of preference (passwords are "
        "masked in logs)"),
    STR(BOTH, "RABBITMQ_QUEUE", rabbitmq_queue, "user_activities", SECRET_NONE, check_queue,
        "1..200 printable ASCII bytes, no spaces",
        "Durable queue of events; dead letters go to the same name plus `.dlq`"),
    STR(BOTH, "RABBITMQ_QUEUE_TYPE", rabbitmq_queue_type, "auto", SECRET_NONE, check_queue_type,
        "auto, quorum, classic",
        "Type of the queue and its DLQ: quorum, classic, or auto (quorum for a new queue, an "
        "existing classic queue kept)"),
    U32(BOTH, "RABBITMQ_DELIVERY_LIMIT", rabbitmq_delivery_limit, "20", 1, 1000000,
        "Quorum queues: deliveries of one message before it is dead-lettered"),
    STR(CONS, "DATABASE_URL", database_url, "mongodb://127.0.0.1:27017/activity_db", SECRET_URL,
        check_mongo_url, "mongodb:// or mongodb+srv:// URL with a database",
        "MongoDB URL; its path names the database (the password is masked in logs)"),
    STR(API, "API_HOST", api_host, "0.0.0.0", SECRET_NONE, NULL, NULL,
        "Address the API listens on"),
    U32(API, "API_PORT", api_port, "3000", 1, 65535, "TCP port of the API"),
    U32(API, "API_THREADS", api_threads, "0", 0, 64,
        "HTTP loop threads of the API; 0 = one per CPU"),
    U32(API, "MAX_BODY_BYTES", max_body_bytes, "65536", 64, 8388608,
        "Largest accepted request body in bytes (larger: 413)"),
    U32(API, "BATCH_MAX_EVENTS", batch_max_events, "500", 1, 10000,
        "Most events in one POST /api/v1/activities/batch"),
    U32(API, "BATCH_MAX_BODY_BYTES", batch_max_body_bytes, "1048576", 64, 16777216,
        "Largest batch body in bytes, after inflation (larger: 413)"),
    STR(API, "API_KEYS", api_keys, "", SECRET_ALL, NULL, "comma-separated keys",
        "Keys that may POST events (Authorization: Bearer or X-API-Key); empty with "
        "API_KEYS_FILE empty = no key needed"),
    STR(API, "API_KEYS_FILE", api_keys_file, "", SECRET_NONE, NULL, NULL,
        "File of keys, one per line, re-read on SIGHUP; empty = none"),
    U32(API, "RATE_LIMIT_WINDOW_MS", rate_limit_window_ms, "60000", 1, 86400000,
        "Length of the sliding rate-limit window in ms"),
    U32(API, "RATE_LIMIT_MAX_REQUESTS", rate_limit_max_requests, "50", 1, 1000000,
        "Requests per client let through in any window"),
    U32(API, "RATE_LIMIT_IPV6_PREFIX", rate_limit_ipv6_prefix, "64", 32, 128,
        "IPv6 clients are limited per network of this many leading bits"),
    U32(API, "RATE_LIMIT_MAX_CLIENTS", rate_limit_max_clients, "100000", 1, 10000000,
        "Most clients the rate limiter tracks at once"),
    STR(API, "TRUST_PROXY_CIDRS", trust_proxy_cidrs, "", SECRET_NONE, NULL, NULL,
        "Comma-separated networks of proxies whose X-Forwarded-For is believed; empty = none"),
    U32(API, "PUBLISH_RING_SIZE", publish_ring_size, "4096", 2, 1048576,
        "Requests queued for the publisher (rounded up to a power of two); when full: 503"),
    U32(API, "PUBLISH_CONFIRM_TIMEOUT_MS", publish_confirm_timeout_ms, "5000", 100, 60000,
        "How long a request waits for the broker's confirm before a 503"),
    U32(API, "PUBLISH_MAX_INFLIGHT", publish_max_inflight, "1000", 1, 65535,
        "Most published messages awaiting a broker confirm"),
    U32(BOTH, "AMQP_HEARTBEAT_S", amqp_heartbeat_s, "10", 1, 600,
        "AMQP heartbeat interval asked of the broker, in seconds"),
    U32(API, "SHUTDOWN_GRACE_MS", shutdown_grace_ms, "10000", 0, 600000,
        "On SIGTERM, how long in-flight requests and confirms may take before exit"),
    U32(API, "READY_DRAIN_DELAY_MS", ready_drain_delay_ms, "0", 0, 600000,
        "On SIGTERM, how long /ready answers 503 while still serving, for a load balancer"),
    U32(CONS, "CONSUMER_WORKERS", consumer_workers, "0", 0, 64,
        "Consumer workers, each with its own AMQP connection; 0 = one per CPU"),
    U32(CONS, "CONSUMER_PREFETCH", consumer_prefetch, "1000", 1, 65535,
        "Unacknowledged messages the broker sends each worker; at least CONSUMER_BATCH_SIZE"),
    U32(CONS, "CONSUMER_BATCH_SIZE", consumer_batch_size, "100", 1, 10000,
        "Most messages stored by one insert"),
    U32(CONS, "CONSUMER_BATCH_MS", consumer_batch_ms, "50", 1, 60000,
        "Longest wait to fill a batch, in ms"),
    U32(CONS, "CONSUMER_RETRY_MAX_MS", consumer_retry_max_ms, "30000", 0, 3600000,
        "How long a failing database write is retried before requeueing and pausing, in ms"),
    STR(CONS, "CONSUMER_METRICS_HOST", consumer_metrics_host, "0.0.0.0", SECRET_NONE, NULL, NULL,
        "Address the consumer's /metrics and /health listener binds"),
    U32(CONS, "CONSUMER_METRICS_PORT", consumer_metrics_port, "0", 0, 65535,
        "Port of the consumer's /metrics and /health listener; 0 = off"),
    STR(CONS, "CONSUMER_HEALTH_FILE", consumer_health_file, "", SECRET_NONE, NULL, NULL,
        "File the consumer touches while healthy; empty = off"),
    U32(CONS, "MONGO_POOL_MAX", mongo_pool_max, "16", 1, 1024,
        "Largest MongoDB connection pool of the consumer"),
    {.name = "LOG_LEVEL",
     .readers = BOTH,
     .type = T_LOGLEVEL,
     FIELD(log_level),
     .def = "info",
     .range = "error, warn, info, debug",
     .help = "Most verbose log level written"},
};

#define NROWS (sizeof(rows) / sizeof(rows[0]))

/* How much of a bad value an error message quotes. */
#define QUOTE_MAX 64

/* Writes value as r's secret rule lets it be shown into out[0..n). */
static void mask(const struct row *r, const char *value, char *out, size_t n)
{
    if (r->secret == SECRET_URL)
        urltext_mask(value, out, n);
    else if (r->secret == SECRET_ALL)
        snprintf(out, n, "%s", value[0] != '\0' ? "***" : "");
    else
        snprintf(out, n, "%s", value);
}

/* Writes value, masked if r is secret and cut to QUOTE_MAX bytes with "...", into out. */
static void quote_value(const struct row *r, const char *value, char *out, size_t n)
{
    char masked[CONFIG_URL_MAX];
    mask(r, value, masked, sizeof(masked));
    snprintf(out, n, "%.*s%s", QUOTE_MAX, masked, strlen(masked) > QUOTE_MAX ? "..." : "");
}

/* Fails with code for row r: "<NAME> <what> (got \"<value>\")". */
__attribute__((format(printf, 5, 6))) static int
fail(const struct row *r, int code, const char *value, err_t *err, const char *fmt, ...)
{
    char what[ERR_MSG_MAX];
    char quoted[QUOTE_MAX + 4];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    quote_value(r, value, quoted, sizeof(quoted));
    return err_set(err, code, r->name, "%s %s (got \"%s\")", r->name, what, quoted);
}

static int check_amqp_url(const struct row *r, const char *value, err_t *err)
{
    brokerurl_list_t list;
    err_t why = {0};
    int rc = brokerurl_parse_list(value, CONFIG_BROKERS_MAX, &list, &why);
    return rc < 0 ? fail(r, rc, value, err, "is not a valid AMQP URL: %s", why.msg) : 0;
}

static int check_queue(const struct row *r, const char *value, err_t *err)
{
    for (const char *p = value; *p != '\0'; p++) {
        if (*p <= ' ' || *p > '~')
            return fail(r, ERR_PARSE, value, err,
                        "must be printable ASCII without spaces, 1 to %zu bytes", r->size - 1);
    }
    return 0;
}

static int check_queue_type(const struct row *r, const char *value, err_t *err)
{
    if (strcmp(value, "auto") != 0 && strcmp(value, "quorum") != 0 && strcmp(value, "classic") != 0)
        return fail(r, ERR_PARSE, value, err, "must be one of %s", r->range);
    return 0;
}

static int check_mongo_url(const struct row *r, const char *value, err_t *err)
{
    if (strncmp(value, "mongodb://", 10) != 0 && strncmp(value, "mongodb+srv://", 14) != 0)
        return fail(r, ERR_PARSE, value, err, "must start with mongodb:// or mongodb+srv://");
    /* The database is the path between the hosts and the options: mongodb://h1,h2/db?opts. */
    size_t len;
    const char *db = urltext_path(value, &len);
    if (len == 0)
        return fail(r, ERR_PARSE, value, err,
                    "must name a database in its path (mongodb://host/activity_db)");
    /* MongoDB refuses these in database names; say so now rather than on the first insert. */
    if (len > 63 || strcspn(db, "/\\. \"$") < len)
        return fail(r, ERR_PARSE, value, err,
                    "must name a database of at most 63 bytes without / \\ . space \" $");
    return 0;
}

/* Parses a decimal integer: digits only (no sign, space or junk). Returns 0, ERR_PARSE, or
 * ERR_RANGE when the digits do not fit in 32 bits. */
static int parse_u32(const char *s, uint32_t *out)
{
    uint64_t v = 0;
    bool overflow = false;
    if (*s == '\0')
        return ERR_PARSE;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return ERR_PARSE;
        v = v * 10 + (uint64_t)(*s - '0');
        if (v > UINT32_MAX) {
            overflow = true;
            v = UINT32_MAX; /* keep scanning: trailing junk is still a parse error */
        }
    }
    if (overflow)
        return ERR_RANGE;
    *out = (uint32_t)v;
    return 0;
}

static int load_row(config_t *cfg, const struct row *r, const char *value, err_t *err)
{
    char *field = (char *)cfg + r->offset;
    switch (r->type) {
    case T_U32: {
        ASSERT(r->size == sizeof(uint32_t));
        uint32_t v = 0;
        int rc = parse_u32(value, &v);
        if (rc == 0 && (v < r->min || v > r->max))
            rc = ERR_RANGE;
        if (rc < 0)
            return fail(r, rc, value, err, "must be an integer between %u and %u", r->min, r->max);
        memcpy(field, &v, sizeof(v));
        return 0;
    }
    case T_STR: {
        size_t len = strlen(value);
        if (len >= r->size)
            return fail(r, ERR_RANGE, value, err, "must be at most %zu bytes", r->size - 1);
        if (r->check != NULL) {
            int rc = r->check(r, value, err);
            if (rc < 0)
                return rc;
        }
        memcpy(field, value, len + 1);
        return 0;
    }
    case T_LOGLEVEL: {
        ASSERT(r->size == sizeof(int));
        int level = log_level_parse(value);
        if (level < 0)
            return fail(r, ERR_PARSE, value, err, "must be one of %s", r->range);
        memcpy(field, &level, sizeof(level));
        return 0;
    }
    }
    PANIC("config row %s has unknown type %d", r->name, (int)r->type);
}

/* The rate limiter reserves, per client, a 4-byte time for each request of the window plus
 * about 40 bytes of entry and bucket, for RATE_LIMIT_MAX_CLIENTS clients at start: refuse a
 * product that would reserve more than CONFIG_RATELIMIT_RESERVE_MAX. */
static int check_ratelimit_reserve(const config_t *cfg, err_t *err)
{
    uint64_t reserve =
        (uint64_t)cfg->rate_limit_max_clients * (40 + 4 * (uint64_t)cfg->rate_limit_max_requests);
    if (reserve > CONFIG_RATELIMIT_RESERVE_MAX) {
        return err_set(err, ERR_RANGE, "RATE_LIMIT_MAX_CLIENTS",
                       "RATE_LIMIT_MAX_CLIENTS (%u) x RATE_LIMIT_MAX_REQUESTS (%u) would reserve "
                       "%llu MiB for the rate limiter; at most %llu MiB are allowed: lower one "
                       "of them",
                       cfg->rate_limit_max_clients, cfg->rate_limit_max_requests,
                       (unsigned long long)(reserve >> 20),
                       (unsigned long long)(CONFIG_RATELIMIT_RESERVE_MAX >> 20));
    }
    return 0;
}

int config_load(config_t *cfg, unsigned readers, config_getter_fn get, void *ctx, err_t *err)
{
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < NROWS; i++) {
        const struct row *r = &rows[i];
        if ((r->readers & readers) == 0)
            continue;
        const char *value = get(ctx, r->name);
        if (value == NULL)
            value = r->def;
        else if (value[0] == '\0' && !r->empty_ok)
            return err_set(err, ERR_PARSE, r->name,
                           "%s is set but empty; unset it to use the default (%s)", r->name,
                           r->def);
        int rc = load_row(cfg, r, value, err);
        if (rc < 0)
            return rc;
    }
    if (readers & CONFIG_CONSUMER) {
        /* A batch waits for CONSUMER_BATCH_SIZE deliveries, which the broker only sends when the
         * prefetch window admits them: a smaller prefetch would make every batch wait for its
         * timer. */
        if (cfg->consumer_prefetch < cfg->consumer_batch_size)
            return err_set(err, ERR_RANGE, "CONSUMER_PREFETCH",
                           "CONSUMER_PREFETCH (%u) must be at least CONSUMER_BATCH_SIZE (%u)",
                           cfg->consumer_prefetch, cfg->consumer_batch_size);
    }
    /* A batch is pushed into the publish ring event by event: a ring smaller than the largest
     * batch would answer every such batch 503 after publishing part of it. */
    if ((readers & CONFIG_API) && cfg->publish_ring_size < cfg->batch_max_events)
        return err_set(err, ERR_RANGE, "PUBLISH_RING_SIZE",
                       "PUBLISH_RING_SIZE (%u) must be at least BATCH_MAX_EVENTS (%u)",
                       cfg->publish_ring_size, cfg->batch_max_events);
    if (readers & CONFIG_API)
        return check_ratelimit_reserve(cfg, err);
    return 0;
}
const char *config_env_getter(void *ctx, const char *name)
{
    (void)ctx;
    return getenv(name);
}

/* An snprintf-like text builder: counts everything, stores what fits, keeps buf terminated. */
typedef struct text {
    char *buf;
    size_t n, len;
} text_t;

__attribute__((format(printf, 2, 3))) static void text_printf(text_t *t, const char *fmt, ...)
{
    va_list ap;
    char *dst = t->len < t->n ? t->buf + t->len : NULL;
    size_t room = t->len < t->n ? t->n - t->len : 0;
    va_start(ap, fmt);
    int w = vsnprintf(dst, room, fmt, ap);
    va_end(ap);
    if (w > 0)
        t->len += (size_t)w;
}

/* Appends s as a JSON string, quotes included. */
static void text_json_string(text_t *t, const char *s)
{
    char esc[CONFIG_URL_MAX * 6 + 1]; /* worst case: every byte becomes \u00XX */
    log_json_escape(esc, sizeof(esc), s, strlen(s));
    text_printf(t, "\"%s\"", esc);
}

size_t config_format(const config_t *cfg, unsigned readers, char *buf, size_t n)
{
    text_t t = {buf, n, 0};
    if (n > 0)
        buf[0] = '\0';
    const char *sep = "";
    for (size_t i = 0; i < NROWS; i++) {
        const struct row *r = &rows[i];
        if ((r->readers & readers) == 0)
            continue;
        const char *field = (const char *)cfg + r->offset;
        text_printf(&t, "%s\"%s\":", sep, r->name);
        sep = ",";
        switch (r->type) {
        case T_U32: {
            uint32_t v;
            memcpy(&v, field, sizeof(v));
            text_printf(&t, "%u", v);
            break;
        }
        case T_STR: {
            char masked[CONFIG_URL_MAX];
            if (r->secret == SECRET_NONE)
                text_json_string(&t, field);
            else {
                mask(r, field, masked, sizeof(masked));
                text_json_string(&t, masked);
            }
            break;
        }
        case T_LOGLEVEL: {
            int level;
            memcpy(&level, field, sizeof(level));
            text_json_string(&t, log_level_name(level));
            break;
        }
        }
    }
    return t.len;
}

static const char *reader_names(unsigned readers)
{
    return readers == CONFIG_ALL ? "both" : readers == CONFIG_API ? "api" : "consumer";
}

size_t config_describe(unsigned readers, char *buf, size_t n)
{
    text_t t = {buf, n, 0};
    if (n > 0)
        buf[0] = '\0';
    /* The table of one program leaves out who reads each variable; the full one says. */
    bool who = readers == CONFIG_ALL;
    text_printf(&t, "| Variable |%s Default | Range | Meaning |\n|---|%s---|---|---|\n",
                who ? " Read by |" : "", who ? "---|" : "");
    for (size_t i = 0; i < NROWS; i++) {
        const struct row *r = &rows[i];
        if ((r->readers & readers) == 0)
            continue;
        char range[64];
        if (r->type == T_U32)
            snprintf(range, sizeof(range), "%u..%u", r->min, r->max);
        else if (r->range == NULL)
            snprintf(range, sizeof(range), "at most %zu bytes", r->size - 1);
        else
            snprintf(range, sizeof(range), "%s", r->range);
        text_printf(&t, "| `%s` |", r->name);
        if (who)
            text_printf(&t, " %s |", reader_names(r->readers));
        if (r->def[0] == '\0')
            text_printf(&t, " (empty) | %s | %s |\n", range, r->help);
        else
            text_printf(&t, " `%s` | %s | %s |\n", r->def, range, r->help);
    }
    return t.len;
}
