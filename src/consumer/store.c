/* SPDX-License-Identifier: MIT */
#include "consumer/store.h"

#include <mongoc/mongoc.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/owner.h"
#include "consumer/bulkreply.h"

#define SERVER_SELECTION_TIMEOUT_MS 5000
#define SOCKET_TIMEOUT_MS           10000
#define TIMEOUT_FLOOR_MS            500
#define WTIMEOUT_MS                 10000

/* Thread: any after store_pool_create returns; only the pool is used concurrently. */
struct store_pool {
    mongoc_uri_t *uri;
    mongoc_client_pool_t *pool;
    mongoc_write_concern_t *wc;
    bson_t *insert_opts; /* {ordered: false, writeConcern: {...}}: built once, then only copied,
                           because appending a write concern caches into it (not thread-safe) */
    char *db;
};

/* Thread: worker (owner only). */
struct store {
    owner_t owner;
    store_pool_t *pool;
    mongoc_client_t *client;
    mongoc_collection_t *coll;
    bson_t *insert_opts; /* a copy of the pool's (bson_t wants 128-byte alignment, which a
                            calloc'd struct does not give, hence pointers) */
};

/* The one translation of bson_error_t into ERR_*. */
static int error_translate(const bson_error_t *e, const char *what, err_t *err)
{
    int code;
    switch (e->domain) {
    case MONGOC_ERROR_SERVER_SELECTION:
    case MONGOC_ERROR_STREAM:
        code = ERR_UNAVAIL;
        break;
    case MONGOC_ERROR_CLIENT:
        code = e->code == MONGOC_ERROR_CLIENT_AUTHENTICATE ? ERR_INVAL : ERR_UNAVAIL;
        break;
    case MONGOC_ERROR_WRITE_CONCERN:
        code = ERR_TIMEOUT;
        break;
    case MONGOC_ERROR_SERVER:
        code = (e->code == 50 || e->code == 89 || e->code == 262) ? ERR_TIMEOUT
               : bulkreply_code_is_transient(e->code)             ? ERR_UNAVAIL
                                                                  : ERR_IO;
        break;
    default:
        code = ERR_IO;
        break;
    }
    return err_set(err, code, NULL, "%s: %s (domain %u, code %u)", what, e->message, e->domain,
                   e->code);
}

static void set_default_int(mongoc_uri_t *uri, const char *opt, int32_t v)
{
    if (!mongoc_uri_has_option(uri, opt))
        mongoc_uri_set_option_as_int32(uri, opt, v);
}

static int32_t clamp_ms(uint32_t v, uint32_t hi)
{
    if (v > hi)
        v = hi;
    return (int32_t)(v < TIMEOUT_FLOOR_MS ? TIMEOUT_FLOOR_MS : v);
}

int store_pool_create(const char *url, uint32_t pool_max, uint32_t block_budget_ms,
                      store_pool_t **out, err_t *err)
{
    bson_error_t e;
    mongoc_uri_t *uri = mongoc_uri_new_with_error(url, &e);
    if (uri == NULL)
        return err_set(err, ERR_INVAL, "DATABASE_URL", "malformed MongoDB URL: %s", e.message);
    int32_t select_ms = clamp_ms(block_budget_ms / 2, SERVER_SELECTION_TIMEOUT_MS);
    set_default_int(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, select_ms);
    set_default_int(uri, MONGOC_URI_CONNECTTIMEOUTMS, select_ms);
    set_default_int(uri, MONGOC_URI_SOCKETTIMEOUTMS, clamp_ms(block_budget_ms, SOCKET_TIMEOUT_MS));

    mongoc_client_pool_t *pool = mongoc_client_pool_new_with_error(uri, &e);
    if (pool == NULL) {
        mongoc_uri_destroy(uri);
        return err_set(err, ERR_INVAL, "DATABASE_URL", "cannot create client pool: %s", e.message);
    }
    mongoc_client_pool_set_error_api(pool, MONGOC_ERROR_API_VERSION_2);
    mongoc_client_pool_set_appname(pool, "activity-consumer");
    if (pool_max > 0)
        mongoc_client_pool_max_size(pool, pool_max);

    /* The URL's write concern wins; what it leaves unset defaults to majority + journal, so an
     * ack to the broker means the write survives a crash (and a failover on a replica set). */
    mongoc_write_concern_t *wc = mongoc_write_concern_copy(mongoc_uri_get_write_concern(uri));
    int32_t w = mongoc_write_concern_get_w(wc);
    if (w == MONGOC_WRITE_CONCERN_W_DEFAULT)
        mongoc_write_concern_set_wmajority(wc, WTIMEOUT_MS);
    if (!mongoc_write_concern_journal_is_set(wc) && mongoc_write_concern_get_w(wc) != 0)
        mongoc_write_concern_set_journal(wc, true);

    store_pool_t *p = xcalloc(1, sizeof(*p));
    p->uri = uri;
    p->pool = pool;
    p->wc = wc;
    const char *db = mongoc_uri_get_database(uri);
    p->db = xstrdup(db != NULL && db[0] != '\0' ? db : STORE_DEFAULT_DB);
    p->insert_opts = bson_new();
    BSON_APPEND_BOOL(p->insert_opts, "ordered", false);
    if (!mongoc_write_concern_append(p->wc, p->insert_opts))
        PANIC("write concern cannot be appended to insert options");
    *out = p;
    return 0;
}

void store_pool_destroy(store_pool_t *p)
{
    if (p == NULL)
        return;
    mongoc_client_pool_destroy(p->pool);
    mongoc_write_concern_destroy(p->wc);
    bson_destroy(p->insert_opts);
    mongoc_uri_destroy(p->uri);
    free(p->db);
    free(p);
}

const char *store_pool_database(const store_pool_t *p)
{
    return p->db;
}

void store_pool_describe_wc(const store_pool_t *p, char *out, size_t n)
{
    int32_t w = mongoc_write_concern_get_w(p->wc);
    const char *tag = mongoc_write_concern_get_wtag(p->wc);
    char wbuf[64];
    if (mongoc_write_concern_get_wmajority(p->wc))
        snprintf(wbuf, sizeof(wbuf), "majority");
    else if (tag != NULL)
        snprintf(wbuf, sizeof(wbuf), "%s", tag);
    else
        snprintf(wbuf, sizeof(wbuf), "%d", (int)w);
    snprintf(out, n, "w=%s,j=%s,wtimeout=%d", wbuf,
             mongoc_write_concern_get_journal(p->wc) ? "true" : "false",
             (int)mongoc_write_concern_get_wtimeout_int64(p->wc));
}

/* One createIndexes command per index: FerretDB 1.24 drops the connection (a server-side panic)
 * when one command names two indexes that both exist already. */
static int create_index(mongoc_client_t *client, const char *db, const char *field, err_t *err)
{
    char name[64];
    snprintf(name, sizeof(name), "%s_1_timestamp_-1", field);
    bson_t *cmd = BCON_NEW("createIndexes", BCON_UTF8(STORE_COLLECTION), "indexes", "[", "{", "key",
                           "{", field, BCON_INT32(1), "timestamp", BCON_INT32(-1), "}", "name",
                           BCON_UTF8(name), "}", "]");
    bson_t reply;
    bson_error_t e;
    int rc = 0;
    if (!mongoc_client_write_command_with_opts(client, db, cmd, NULL, &reply, &e))
        rc = error_translate(&e, "create index", err);
    bson_destroy(&reply);
    bson_destroy(cmd);
    return rc;
}

int store_ensure_indexes(store_pool_t *p, err_t *err)
{
    mongoc_client_t *client = mongoc_client_pool_pop(p->pool);
    int rc = create_index(client, p->db, "userId", err);
    if (rc == 0)
        rc = create_index(client, p->db, "eventType", err);
    mongoc_client_pool_push(p->pool, client);
    return rc;
}

store_t *store_open(store_pool_t *p)
{
    store_t *s = xcalloc(1, sizeof(*s));
    owner_bind(&s->owner);
    s->pool = p;
    s->client = mongoc_client_pool_pop(p->pool);
    s->coll = mongoc_client_get_collection(s->client, p->db, STORE_COLLECTION);
    s->insert_opts = bson_copy(p->insert_opts);
    return s;
}

void store_close(store_t *s)
{
    if (s == NULL)
        return;
    bson_destroy(s->insert_opts);
    mongoc_collection_destroy(s->coll);
    mongoc_client_pool_push(s->pool->pool, s->client);
    free(s);
}

int store_insert_many(void *ctx, const bson_t *const *docs, size_t n, batch_doc_result_t *res,
                      err_t *err)
{
    store_t *s = ctx;
    ASSERT_OWNER(&s->owner);
    bson_t reply;
    bson_error_t e;
    bool ok = mongoc_collection_insert_many(s->coll, (const bson_t **)docs, n, s->insert_opts,
                                            &reply, &e);
    int rc = 0;
    if (ok) {
        for (size_t i = 0; i < n; i++)
            res[i].outcome = BATCH_OUTCOME_STORED;
        goto out;
    }
    bool answered = e.domain == MONGOC_ERROR_SERVER || e.domain == MONGOC_ERROR_WRITE_CONCERN;
    /* Without a per-document answer (network, server selection, a failed command) nothing is
     * known, so everything is retried; what did get stored comes back as 11000. */
    if (!bulkreply_classify(&reply, answered, n, res, e.message))
        rc = error_translate(&e, "insert", err);
out:
    bson_destroy(&reply);
    return rc;
}

int store_ping(void *ctx, err_t *err)
{
    store_t *s = ctx;
    ASSERT_OWNER(&s->owner);
    bson_t *cmd = BCON_NEW("ping", BCON_INT32(1));
    bson_error_t e;
    int rc = 0;
    if (!mongoc_client_command_simple(s->client, "admin", cmd, NULL, NULL, &e))
        rc = error_translate(&e, "ping", err);
    bson_destroy(cmd);
    return rc;
}
