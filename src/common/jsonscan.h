/* SPDX-License-Identifier: MIT */
/*
 * A strict JSON scanner over raw bytes (RFC 8259 grammar, bounded nesting) with a cursor the
 * caller drives: it can walk into any object or array and scan one member or element at a time,
 * so an event can be checked wherever it stands (the whole body, or events[i] of a batch). On
 * request it applies the rules a value must meet to be stored as BSON (keys, numbers, nesting).
 * Thread: any (pure); a jsonscan_t and a jsonscan_rules_t belong to the caller's stack.
 * Invariant: between calls the cursor rests on the first byte of a value or just past one, and
 * an error, once set, stays the first one.
 */
#ifndef AT_COMMON_JSONSCAN_H
#define AT_COMMON_JSONSCAN_H

#include <stdbool.h>
#include <stddef.h>

#include "common/jsonpath.h"

/* Containers (objects and arrays) a document may nest, the root included. Well above what a
 * valid event or batch needs (root, events array, event, ACTIVITY_PAYLOAD_DEPTH_MAX payload
 * levels), so a payload a few levels too deep gets its precise error; this bound limits the
 * scanner's recursion and, through the caller, json-c's. */
#define JSONSCAN_DEPTH_MAX 64

/* A storable-value rule is broken: what says which ("keys must not start with '$'"), at is the
 * path of the first value that breaks it (valid only during the call). */
typedef void jsonscan_problem_cb(void *ctx, const char *what, const jsonpath_seg_t *at);

/* Transparent so that it lives on the caller's stack; the cursor fields are jsonscan's. After a
 * call failed, error says why (a static string) and error_at is its offset in the document. */
typedef struct jsonscan {
    const unsigned char *begin, *p, *end;
    int depth; /* containers open around the cursor */
    const char *error;
    size_t error_at;
} jsonscan_t;

/* The storable rules' state for one event: which rules have been reported (each at most once,
 * with the path of its first occurrence) and where reports go. Transparent; fill it with
 * jsonscan_rules_init and leave reported to jsonscan. */
typedef struct jsonscan_rules {
    int depth_max;
    jsonscan_problem_cb *problem_cb;
    void *ctx;
    unsigned reported;
} jsonscan_rules_t;

/* Starts a scan of doc[0..len) (not NUL-terminated; doc may be NULL when len is 0) with the
 * cursor on the first value, after any leading whitespace. s borrows doc. */
void jsonscan_init(jsonscan_t *s, const char *doc, size_t len);

/* Starts the rules for one event: containers may nest depth_max levels, the scanned value itself
 * being level 1; each broken rule is passed once to problem_cb(ctx, ...). */
void jsonscan_rules_init(jsonscan_rules_t *r, int depth_max, jsonscan_problem_cb *problem_cb,
                         void *ctx);

/* Whether the value at the cursor is an object (starts with '{'). */
bool jsonscan_is_object(const jsonscan_t *s);

/* Enters the object at the cursor (which must be an object) and reads its first key into *k.
 * Returns 1 when a member follows (cursor on its value, *k borrowing the document), 0 for an
 * empty object (cursor after it), ERR_PARSE for a syntax error, or ERR_RANGE when the object
 * would nest deeper than JSONSCAN_DEPTH_MAX. */
int jsonscan_object_open(jsonscan_t *s, jsonpath_key_t *k);

/* After a member's value has been scanned: reads the next key into *k. Returns 1 when a member
 * follows, 0 at the end of the object (cursor after it), or ERR_PARSE. */
int jsonscan_object_next(jsonscan_t *s, jsonpath_key_t *k);

/* Enters the array at the cursor (which must be an array). Returns 1 when an element follows
 * (cursor on it), 0 for an empty array (cursor after it), ERR_PARSE or ERR_RANGE. */
int jsonscan_array_open(jsonscan_t *s);

/* After an element has been scanned: returns 1 when another follows (cursor on it), 0 at the end
 * of the array (cursor after it), or ERR_PARSE. */
int jsonscan_array_next(jsonscan_t *s);

/* Scans the whole value at the cursor, checking grammar and depth only, and moves past it.
 * Returns 0, ERR_PARSE or ERR_RANGE. */
int jsonscan_value(jsonscan_t *s);

/* Like jsonscan_value, and applies the storable rules to the value and everything in it: no key
 * that is empty, starts with '$', or holds '.' or NUL; no array directly inside an array;
 * integers within int64; other numbers finite as a double; at most r->depth_max levels. Broken
 * rules are reported through r, and do not stop the scan. at: the value's path (NULL: paths
 * start at the value). */
int jsonscan_storable(jsonscan_t *s, jsonscan_rules_t *r, const jsonpath_seg_t *at);

/* After the document's one value: returns 0 if only whitespace follows, else ERR_PARSE. */
int jsonscan_finish(jsonscan_t *s);

#endif
