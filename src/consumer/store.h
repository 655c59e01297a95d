/* SPDX-License-Identifier: MIT */
/*
 * The mongoc edge of the consumer: the client pool built from DATABASE_URL (database from its
 * path, default write concern majority + journal unless the URL names one), idempotent index
 * creation, and per-worker unordered inserts whose result is classified per document as
 * stored, duplicate (11000), permanent or transient. bson_error_t becomes ERR_* here only.
 * Thread: a store_pool_t is shared (mongoc_client_pool is thread-safe); a store_t belongs to
 * the worker that opened it, because a mongoc_client_t is not thread-safe.
 */
#ifndef AT_CONSUMER_STORE_H
#define AT_CONSUMER_STORE_H

#include <bson/bson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "consumer/batch.h"

#define STORE_COLLECTION "activities"
#define STORE_DEFAULT_DB "activity_db"

typedef struct store_pool store_pool_t;
typedef struct store store_t;

/* Parses url and creates the pool (at most pool_max clients; 0 keeps mongoc's default) with
 * error API 2 and the appname "activity-consumer". Unless the URL sets them, bounds how long one
 * call may block so that a worker keeps servicing its AMQP heartbeat: serverSelectionTimeoutMS
 * and connectTimeoutMS min(5000, block_budget_ms / 2), socketTimeoutMS min(10000,
 * block_budget_ms), each at least 500. Does not connect. On success stores an owned pool in *out
 * (free with store_pool_destroy) and returns 0; ERR_INVAL with a message for a malformed URL.
 * Thread: main. */
int store_pool_create(const char *url, uint32_t pool_max, uint32_t block_budget_ms,
                      store_pool_t **out, err_t *err);

/* Frees the pool. Every store_t opened from it must be closed first. NULL is a no-op.
 * Thread: main. */
void store_pool_destroy(store_pool_t *p);

/* Returns the database name (borrowed, valid until store_pool_destroy). Thread: any. */
const char *store_pool_database(const store_pool_t *p);

/* Writes a description of the effective write concern ("w=majority,j=true") into out. */
void store_pool_describe_wc(const store_pool_t *p, char *out, size_t n);

/* Creates the indexes {userId:1,timestamp:-1} and {eventType:1,timestamp:-1} on the collection
 * if missing (idempotent). Returns 0, or ERR_UNAVAIL / ERR_TIMEOUT (database unreachable: retry
 * later) or another ERR_* with a message. Thread: any (pops a client for the call). */
int store_ensure_indexes(store_pool_t *p, err_t *err);

/* Pops a client from the pool (blocking while all pool_max are in use) and returns the owned
 * per-worker store; store_close pushes the client back. The calling thread becomes its owner
 * (asserted by store_insert_many and store_ping). Thread: the worker. */
store_t *store_open(store_pool_t *p);

/* Pushes the client back and frees s. NULL is a no-op. Thread: the worker that opened it. */
void store_close(store_t *s);

/* batch_store_t.insert_many over a store_t *ctx: unordered insert_many with the pool's write
 * concern. Returns 0 with res filled when the server answered (11000 = DUPLICATE, other write
 * errors PERMANENT unless their code is a transient one, everything not reported STORED, or
 * TRANSIENT when a write concern error leaves it uncertain); ERR_UNAVAIL / ERR_TIMEOUT / ERR_IO
 * with err set when nothing is known. Thread: the worker. */
int store_insert_many(void *ctx, const bson_t *const *docs, size_t n, batch_doc_result_t *res,
                      err_t *err);

/* batch_store_t.ping over a store_t *ctx: {ping: 1} on admin. Returns 0 or ERR_*.
 * Thread: the worker. */
int store_ping(void *ctx, err_t *err);

#endif
