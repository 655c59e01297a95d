/* SPDX-License-Identifier: MIT */
/*
 * The consumer's path: validate_message on any bytes, then document_create of what it accepts.
 * Checked: the document exists; bson_validate passes (UTF-8 strings, which may hold NUL; no
 * empty, '$' or '.' keys); its members are exactly _id, id, userId, eventType, timestamp,
 * payload, receivedAt, processedAt, createdAt, updatedAt in that order, with _id == id == the
 * activity's id, the names byte for byte, the dates as BSON dates of the same instants; and the
 * payload sub-document mirrors the JSON payload member by member, recursively (as many keys, in
 * order, arrays as BSON arrays keyed 0..n-1, integers as int64, other numbers as the same double
 * bit for bit, strings byte for byte, booleans and null as such).
 */
#include <bson/bson.h>
#include <json-c/json.h>
#include <string.h>

#include "common/validate.h"
#include "consumer/document.h"
#include "fuzzcheck.h"

#define PROCESSED_MS 1795636902731LL

static void check_value(bson_iter_t *it, struct json_object *v, unsigned depth);

/* The document at it (an object or array) mirrors v. */
static void check_container(bson_iter_t *it, struct json_object *v, unsigned depth)
{
    bool array = json_object_is_type(v, json_type_array);
    FUZZCHECK(bson_iter_type(it) == (array ? BSON_TYPE_ARRAY : BSON_TYPE_DOCUMENT),
              "BSON type %d for a JSON %s at depth %u", (int)bson_iter_type(it),
              array ? "array" : "object", depth);
    bson_iter_t child;
    FUZZCHECK(bson_iter_recurse(it, &child), "cannot recurse at depth %u", depth);
    size_t n = 0;
    if (array) {
        size_t len = json_object_array_length(v);
        for (; bson_iter_next(&child); n++) {
            char key[24];
            snprintf(key, sizeof(key), "%zu", n);
            FUZZCHECK(n < len && strcmp(bson_iter_key(&child), key) == 0,
                      "array element %zu keyed \"%s\"", n, bson_iter_key(&child));
            check_value(&child, json_object_array_get_idx(v, n), depth + 1);
        }
        FUZZCHECK(n == len, "array of %zu elements stored with %zu", len, n);
        return;
    }
    json_object_object_foreach(v, key, val)
    {
        FUZZCHECK(bson_iter_next(&child), "member \"%s\" missing at depth %u", key, depth);
        FUZZCHECK(strcmp(bson_iter_key(&child), key) == 0, "member \"%s\" stored as \"%s\"", key,
                  bson_iter_key(&child));
        check_value(&child, val, depth + 1);
        n++;
    }
    FUZZCHECK(!bson_iter_next(&child), "more members stored than the %zu of the JSON", n);
    FUZZCHECK(n == (size_t)json_object_object_length(v), "foreach saw %zu members", n);
}

static void check_value(bson_iter_t *it, struct json_object *v, unsigned depth)
{
    bson_type_t t = bson_iter_type(it);
    switch (json_object_get_type(v)) {
    case json_type_null:
        FUZZCHECK(t == BSON_TYPE_NULL, "null stored as type %d", (int)t);
        break;
    case json_type_boolean:
        FUZZCHECK(t == BSON_TYPE_BOOL && bson_iter_bool(it) == (json_object_get_boolean(v) != 0),
                  "boolean stored as type %d", (int)t);
        break;
    case json_type_int:
        /* Validation keeps integers within int64, so none becomes a double. */
        FUZZCHECK(t == BSON_TYPE_INT64 && bson_iter_int64(it) == json_object_get_int64(v),
                  "integer %lld stored as type %d", (long long)json_object_get_int64(v), (int)t);
        break;
    case json_type_double: {
        double want = json_object_get_double(v), got;
        FUZZCHECK(t == BSON_TYPE_DOUBLE, "number %g stored as type %d", want, (int)t);
        got = bson_iter_double(it);
        FUZZCHECK(memcmp(&got, &want, sizeof(got)) == 0, "number %.17g stored as %.17g", want, got);
        break;
    }
    case json_type_string: {
        uint32_t len;
        FUZZCHECK(t == BSON_TYPE_UTF8, "string stored as type %d", (int)t);
        const char *s = bson_iter_utf8(it, &len);
        FUZZCHECK((int)len == json_object_get_string_len(v) &&
                      memcmp(s, json_object_get_string(v), len) == 0,
                  "string of %d bytes stored as %u bytes", json_object_get_string_len(v), len);
        break;
    }
    case json_type_object:
    case json_type_array:
        check_container(it, v, depth);
        break;
    }
}

static bson_iter_t member(const bson_t *doc, const char *key, bson_type_t type)
{
    bson_iter_t it;
    FUZZCHECK(bson_iter_init_find(&it, doc, key) && bson_iter_type(&it) == type,
              "member %s missing or not of type %d", key, (int)type);
    return it;
}

static void check_utf8(const bson_t *doc, const char *key, const char *s, size_t len)
{
    bson_iter_t it = member(doc, key, BSON_TYPE_UTF8);
    uint32_t got;
    const char *v = bson_iter_utf8(&it, &got);
    FUZZCHECK(got == len && memcmp(v, s, len) == 0, "%s is \"%s\", want \"%.*s\"", key, v, (int)len,
              s);
}

static void check_date(const bson_t *doc, const char *key, int64_t ms)
{
    bson_iter_t it = member(doc, key, BSON_TYPE_DATE_TIME);
    FUZZCHECK(bson_iter_date_time(&it) == ms, "%s is %lld, want %lld", key,
              (long long)bson_iter_date_time(&it), (long long)ms);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const order[] = {"_id",       "id",       "userId",     "eventType",
                                        "timestamp", "payload",  "receivedAt", "processedAt",
                                        "createdAt", "updatedAt"};
    activity_t a;
    validate_report_t rep;
    if (validate_message((const char *)data, size, &a, &rep) != 0) {
        fuzzcheck_report(&rep);
        return 0;
    }
    err_t err;
    memset(&err, 0, sizeof(err));
    bson_t *doc = document_create(&a, PROCESSED_MS, &err);
    FUZZCHECK(doc != NULL, "document_create failed: %s (%s)", err.msg, err_name(err.code));

    size_t offset = 0;
    bson_validate_flags_t flags = BSON_VALIDATE_UTF8 | BSON_VALIDATE_UTF8_ALLOW_NULL |
                                  BSON_VALIDATE_DOLLAR_KEYS | BSON_VALIDATE_DOT_KEYS |
                                  BSON_VALIDATE_EMPTY_KEYS;
    FUZZCHECK(bson_validate(doc, flags, &offset), "bson_validate fails at offset %zu", offset);

    bson_iter_t it;
    size_t i = 0;
    FUZZCHECK(bson_iter_init(&it, doc), "bson_iter_init");
    while (bson_iter_next(&it)) {
        FUZZCHECK(i < 10 && strcmp(bson_iter_key(&it), order[i]) == 0, "member %zu is %s", i,
                  bson_iter_key(&it));
        i++;
    }
    FUZZCHECK(i == 10, "document has %zu members", i);
    check_utf8(doc, "_id", a.id, strlen(a.id));
    check_utf8(doc, "id", a.id, strlen(a.id));
    check_utf8(doc, "userId", a.user_id, a.user_id_len);
    check_utf8(doc, "eventType", a.event_type, a.event_type_len);
    check_date(doc, "timestamp", a.timestamp_ms);
    check_date(doc, "receivedAt", a.received_ms);
    check_date(doc, "processedAt", PROCESSED_MS);
    check_date(doc, "createdAt", PROCESSED_MS);
    check_date(doc, "updatedAt", PROCESSED_MS);
    bson_iter_t p = member(doc, "payload", BSON_TYPE_DOCUMENT);
    check_container(&p, a.payload, 1);

    bson_destroy(doc);
    activity_deinit(&a);
    return 0;
}
