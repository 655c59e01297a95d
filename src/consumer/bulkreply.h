/* SPDX-License-Identifier: MIT */
/*
 * Classification of the reply to an unordered insert_many, per document, in pure libbson: the
 * part of the store's error handling that decides between "stored", "already stored", "dead
 * letter" and "retry", kept apart from mongoc so it is unit-tested with synthetic replies.
 * Thread: any (pure).
 * Invariant: a document is reported STORED only when the server answered for the whole insert
 * without a write error for it and without a write concern error.
 */
#ifndef AT_CONSUMER_BULKREPLY_H
#define AT_CONSUMER_BULKREPLY_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "consumer/batch.h"

#define BULKREPLY_DUPLICATE_KEY 11000

/* Returns true for server error codes that mean "try again later" (network, shutdown, election,
 * timeouts, lock and write conflicts) rather than "this document is wrong". */
bool bulkreply_code_is_transient(int64_t code);

/* Fills res[0..n) from reply (borrowed), the reply mongoc gave for a failed unordered insert of
 * n documents, when the server answered for every document: answered is true (the error came
 * from the server, not from the network or server selection) and the reply holds writeErrors or
 * writeConcernErrors. Then documents named by a writeError get DUPLICATE (11000), TRANSIENT (a
 * transient code) or PERMANENT, each with its code and message; the others get STORED, or
 * TRANSIENT with wce_msg (may be NULL) when there is a write concern error. Returns true when
 * res was filled; false when nothing is known about any document (res untouched). */
bool bulkreply_classify(const bson_t *reply, bool answered, size_t n, batch_doc_result_t *res,
                        const char *wce_msg);

#endif
