/* SPDX-License-Identifier: MIT */
/*
 * The stored form of an activity (DESIGN §5): a BSON document with _id = the event id, dates as
 * BSON dates and the JSON payload converted recursively to a sub-document. Pure libbson.
 * Thread: any (pure).
 * Invariant: the document for one activity is the same whichever worker builds it, except for
 * the processing time the caller passes, so a redelivered event maps to the same _id.
 */
#ifndef AT_CONSUMER_DOCUMENT_H
#define AT_CONSUMER_DOCUMENT_H

#include <bson/bson.h>
#include <stdint.h>

#include "common/activity.h"
#include "common/err.h"

struct json_object;

/* Builds {_id, id, userId, eventType, timestamp: date, payload: {...}, receivedAt: date,
 * processedAt: date, createdAt: date, updatedAt: date} from a (borrowed; a->id must be set),
 * with processedAt, createdAt and updatedAt all equal to processed_ms (UTC milliseconds).
 * Returns an owned document (free with bson_destroy), or NULL with err set (ERR_INVAL: no id or
 * payload not an object; ERR_RANGE: the document would exceed BSON's size limit). */
bson_t *document_create(const activity_t *a, int64_t processed_ms, err_t *err);

/* Appends the JSON value v (borrowed; NULL is JSON null) to doc under key[0..key_len):
 * objects become sub-documents, arrays BSON arrays, strings UTF-8, integers int64 (values
 * beyond int64 become doubles), numbers with a fraction or exponent doubles, booleans and null
 * as such. Returns 0, or ERR_RANGE when doc cannot grow (BSON's 2 GiB limit). */
int document_append_json(bson_t *doc, const char *key, int key_len, struct json_object *v);

#endif
