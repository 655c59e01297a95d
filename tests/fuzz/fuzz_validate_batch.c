/* SPDX-License-Identifier: MIT */
/*
 * validate_batch on any bytes, with max_events 2 and 500. Accepted: 1..max events, each sane and
 * round-tripping through the AMQP message like a single event. Rejected: a well-formed error list
 * whose every field is "body" (then alone), "events", "events[i]", "events[i].<field>" or
 * "events[i][\"<key>\"]" with i below max, or an unknown top-level key written as validate_request
 * writes one (bare, or ["..."] when it would not read back bare; either may be cut with "..."). And
 * the two limits agree: a batch valid under 2 is valid under 500 with the same events, and one
 * valid under 500 with at most 2 events is valid under 2.
 */
#include <json-c/json.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/validate_batch.h"
#include "fuzzcheck.h"

#define MAX_SMALL 2
#define MAX_LARGE 500

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* "events[<i>]" alone or followed by ".<field>" or a bracketed step ("[\"a.b\"]"), i < max. */
static bool is_event_field(const char *f, size_t max)
{
    const char *p = f + strlen("events[");
    char *end;
    if (*p < '0' || *p > '9')
        return false;
    unsigned long long i = strtoull(p, &end, 10);
    if (*end != ']' || i >= max)
        return false;
    return end[1] == '\0' || (end[1] == '.' && end[2] != '\0') || end[1] == '[';
}

/* Whether a top-level key of root is name[0..len), or starts with it when cut. */
static bool names_a_key(struct json_object *root, const char *name, size_t len, bool cut)
{
    json_object_object_foreach(root, key, val)
    {
        (void)val;
        size_t klen = strlen(key);
        if (strcmp(key, "events") != 0 && (cut ? klen >= len : klen == len) &&
            memcmp(key, name, len) == 0)
            return true;
    }
    return false;
}

/* f is an unknown top-level key of the body, as validate_report_unknown writes it. */
static void check_unknown_key(const char *f, struct json_object *root)
{
    bool cut = ends_with(f, "...");
    size_t len = strlen(f) - (cut ? 3 : 0);
    if (!starts_with(f, "[\"")) {
        FUZZCHECK(strpbrk(f, "[]\"\\") == NULL, "field %s is neither a key nor a path", f);
        FUZZCHECK(root == NULL || names_a_key(root, f, len, cut), "field %s names no top-level key",
                  f);
        return;
    }
    /* ["..."]: the inside is a JSON string's content (json-c reads it back), unless it was cut. */
    FUZZCHECK(cut || ends_with(f, "\"]"), "quoted field %s does not end with \"]", f);
    if (cut || root == NULL)
        return;
    struct json_object *k = fuzzcheck_json_parse(f + 1, strlen(f) - 2, 4, 1);
    FUZZCHECK(json_object_is_type(k, json_type_string), "quoted field %s is not a JSON string", f);
    const char *name = json_object_get_string(k);
    size_t nlen = (size_t)json_object_get_string_len(k);
    /* json-c cuts an object key at a NUL (validation reports such keys, json-c drops them). */
    size_t upto = memchr(name, '\0', nlen) ? strlen(name) : nlen;
    FUZZCHECK(names_a_key(root, name, upto, upto != nlen), "quoted field %s names no key", f);
    json_object_put(k);
}

static void check_rejected(const char *body, size_t size, size_t max,
                           const validate_batch_out_t *out, const validate_report_t *rep)
{
    FUZZCHECK(out->events == NULL && out->count == 0, "a rejected batch left %zu events",
              out->count);
    fuzzcheck_report(rep);
    if (strcmp(rep->errors[0].field, "body") == 0)
        return;
    /* Not a whole-body error: the body is a JSON object whose keys the unknown ones name. */
    struct json_object *root = fuzzcheck_json_parse(body, size, FUZZCHECK_JSON_DEPTH, 1);
    if (!json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        root = NULL; /* json-c refused what the scanner took: only the shape of names is checked */
    }
    for (unsigned i = 0; i < rep->count; i++) {
        const char *f = rep->errors[i].field;
        if (strcmp(f, "events") == 0)
            continue;
        if (starts_with(f, "events["))
            FUZZCHECK(is_event_field(f, max), "field %s (max %zu)", f, max);
        else
            check_unknown_key(f, root);
    }
    json_object_put(root);
}

static bool same_event(const activity_t *a, const activity_t *b)
{
    return strcmp(a->id, b->id) == 0 && a->user_id_len == b->user_id_len &&
           memcmp(a->user_id, b->user_id, a->user_id_len) == 0 &&
           a->event_type_len == b->event_type_len &&
           memcmp(a->event_type, b->event_type, a->event_type_len) == 0 &&
           a->timestamp_len == b->timestamp_len &&
           memcmp(a->timestamp, b->timestamp, a->timestamp_len) == 0 &&
           a->timestamp_ms == b->timestamp_ms && json_object_equal(a->payload, b->payload);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    validate_batch_out_t small, large;
    validate_report_t rep;

    int rc_small = validate_batch(body, size, MAX_SMALL, &small, &rep);
    FUZZCHECK(rc_small == 0 || rc_small == ERR_INVAL, "validate_batch returned %d", rc_small);
    if (rc_small != 0)
        check_rejected(body, size, MAX_SMALL, &small, &rep);
    int rc_large = validate_batch(body, size, MAX_LARGE, &large, &rep);
    FUZZCHECK(rc_large == 0 || rc_large == ERR_INVAL, "validate_batch returned %d", rc_large);
    if (rc_large != 0)
        check_rejected(body, size, MAX_LARGE, &large, &rep);

    FUZZCHECK(rc_small != 0 || rc_large == 0, "valid under max %d, not under %d", MAX_SMALL,
              MAX_LARGE);
    FUZZCHECK(rc_large != 0 || large.count > MAX_SMALL || rc_small == 0,
              "%zu events valid under max %d, not under %d", large.count, MAX_LARGE, MAX_SMALL);
    if (rc_small == 0) {
        FUZZCHECK(small.count == large.count, "%zu events under max %d, %zu under %d", small.count,
                  MAX_SMALL, large.count, MAX_LARGE);
        for (size_t i = 0; i < small.count; i++)
            FUZZCHECK(same_event(&small.events[i], &large.events[i]), "event %zu differs", i);
    }
    if (rc_large == 0) {
        FUZZCHECK(large.count >= 1 && large.count <= MAX_LARGE, "%zu events", large.count);
        for (size_t i = 0; i < large.count; i++)
            fuzzcheck_activity_round_trip(&large.events[i]);
    }
    validate_batch_free(&small);
    validate_batch_free(&large);
    return 0;
}
