/* SPDX-License-Identifier: MIT */
/*
 * One pass over the batch: the scanner walks the top-level object and the events array; each
 * element is scanned with the single-event rules (validate_scan_request), then parsed on its own
 * byte range with json-c and checked with the field rules (validate_check_request), its errors
 * prefixed with its place. An event is thus validated exactly as the single endpoint validates
 * a body, and each valid one owns its own tree. Past max_events the elements are only scanned
 * for the grammar, so a huge array costs no more than reading it.
 */
#include "common/validate_batch.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/jsonpath.h"
#include "common/jsonscan.h"

#define EVENTS "events"

typedef struct walk {
    validate_report_t *rep;
    validate_batch_out_t *out;
    size_t cap;        /* of out->events */
    size_t max_events; /* validated; more are only counted */
    size_t seen;       /* elements of the array */
    bool have_events;  /* the key was met */
    bool array;        /* and its value is an array */
} walk_t;

static void keep(walk_t *w, const activity_t *a)
{
    if (w->out->count == w->cap) {
        w->cap = w->cap == 0 ? 16 : w->cap * 2;
        w->out->events = xrealloc(w->out->events, w->cap * sizeof(*w->out->events));
    }
    w->out->events[w->out->count++] = *a;
}

/* Validates the element at the cursor, number i. Returns what jsonscan returns. */
static int event(walk_t *w, jsonscan_t *s, size_t i)
{
    char prefix[24];
    snprintf(prefix, sizeof(prefix), EVENTS "[%zu]", i);
    if (!jsonscan_is_object(s)) {
        validate_report_add(w->rep, prefix, "must be an object");
        return jsonscan_value(s);
    }
    size_t len = strlen(prefix);
    snprintf(prefix + len, sizeof(prefix) - len, ".");
    validate_report_t found = {.prefix = prefix};
    jsonscan_rules_t rules;
    validate_rules_init(&rules, &found);
    const char *start = (const char *)s->p;
    int rc = validate_scan_request(s, &rules, &found);
    if (rc < 0)
        return rc;
    json_object *obj = validate_parse_tree(start, (size_t)((const char *)s->p - start));
    if (obj == NULL)
        return ERR_PARSE; /* the scanner accepted what json-c refuses: treat it as bad JSON */
    activity_t a = {0};
    unsigned before = w->rep->total;
    w->rep->prefix = prefix;
    validate_check_request(obj, &a, w->rep);
    w->rep->prefix = NULL;
    validate_report_merge(w->rep, &found);
    if (w->rep->total == before) {
        a.root = obj;
        keep(w, &a);
    } else {
        json_object_put(obj);
    }
    return 0;
}

/* Walks the events array at the cursor. */
static int events(walk_t *w, jsonscan_t *s)
{
    int rc;
    for (rc = jsonscan_array_open(s); rc > 0; rc = jsonscan_array_next(s)) {
        int step = w->seen < w->max_events ? event(w, s, w->seen) : jsonscan_value(s);
        w->seen++;
        if (step < 0)
            return step;
    }
    return rc;
}

/* Walks the top-level object at the cursor. */
static int top(walk_t *w, jsonscan_t *s)
{
    jsonpath_key_t k;
    int rc;
    for (rc = jsonscan_object_open(s, &k); rc > 0; rc = jsonscan_object_next(s, &k)) {
        bool is_events = jsonpath_key_is(&k, EVENTS, sizeof(EVENTS) - 1);
        bool first = is_events && !w->have_events;
        if (is_events && !first)
            validate_report_add(w->rep, EVENTS, "must appear once");
        else if (!is_events)
            validate_report_unknown(w->rep, &k);
        w->have_events = w->have_events || is_events;
        if (first && s->p < s->end && *s->p == '[') {
            w->array = true;
            rc = events(w, s);
        } else {
            if (first)
                validate_report_add(w->rep, EVENTS, "must be an array of events");
            rc = jsonscan_value(s);
        }
        if (rc < 0)
            return rc;
    }
    return rc;
}

int validate_batch(const char *body, size_t len, size_t max_events, validate_batch_out_t *out,
                   validate_report_t *rep)
{
    ASSERT(max_events >= 1);
    *out = (validate_batch_out_t){0};
    rep->count = rep->total = 0;
    rep->prefix = NULL;
    if (validate_raw(body, len, rep) < 0)
        return ERR_INVAL;
    walk_t w = {.rep = rep, .out = out, .max_events = max_events};
    jsonscan_t s;
    jsonscan_init(&s, body, len);
    bool object = jsonscan_is_object(&s);
    int rc = object ? top(&w, &s) : jsonscan_value(&s);
    if (rc == 0)
        rc = jsonscan_finish(&s);
    if (validate_report_scan(rep, &s, rc, object) < 0) {
        validate_batch_free(out);
        return ERR_INVAL;
    }
    if (!w.have_events)
        validate_report_add(rep, EVENTS, "is required");
    else if (w.array && w.seen == 0)
        validate_report_add(rep, EVENTS, "must hold at least 1 event");
    else if (w.seen > max_events)
        validate_report_add(rep, EVENTS, "must hold at most %zu events (got %zu)", max_events,
                            w.seen);
    if (rep->total > 0) {
        validate_batch_free(out);
        return ERR_INVAL;
    }
    return 0;
}

void validate_batch_free(validate_batch_out_t *out)
{
    for (size_t i = 0; i < out->count; i++)
        activity_deinit(&out->events[i]);
    free(out->events);
    *out = (validate_batch_out_t){0};
}
