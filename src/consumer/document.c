/* SPDX-License-Identifier: MIT */
#include "consumer/document.h"

#include <json-c/json.h>
#include <stdint.h>
#include <string.h>

static int append_object(bson_t *doc, const char *key, int key_len, struct json_object *obj);
static int append_array(bson_t *doc, const char *key, int key_len, struct json_object *arr);

/* json-c keeps integers that do not fit int64 but fit uint64 as uint64; get_int64 clamps them
 * to INT64_MAX. BSON has no unsigned 64-bit type, so those become doubles (exact up to 2^53,
 * then rounded, as any JSON reader with IEEE doubles would read them). */
static int append_int(bson_t *doc, const char *key, int key_len, struct json_object *v)
{
    int64_t i = json_object_get_int64(v);
    if (i == INT64_MAX) {
        uint64_t u = json_object_get_uint64(v);
        if (u > (uint64_t)INT64_MAX)
            return bson_append_double(doc, key, key_len, (double)u) ? 0 : ERR_RANGE;
    }
    return bson_append_int64(doc, key, key_len, i) ? 0 : ERR_RANGE;
}

int document_append_json(bson_t *doc, const char *key, int key_len, struct json_object *v)
{
    bool ok;
    switch (json_object_get_type(v)) {
    case json_type_null:
        ok = bson_append_null(doc, key, key_len);
        break;
    case json_type_boolean:
        ok = bson_append_bool(doc, key, key_len, json_object_get_boolean(v) != 0);
        break;
    case json_type_int:
        return append_int(doc, key, key_len, v);
    case json_type_double:
        ok = bson_append_double(doc, key, key_len, json_object_get_double(v));
        break;
    case json_type_string:
        ok = bson_append_utf8(doc, key, key_len, json_object_get_string(v),
                              json_object_get_string_len(v));
        break;
    case json_type_object:
        return append_object(doc, key, key_len, v);
    case json_type_array:
        return append_array(doc, key, key_len, v);
    default:
        return ERR_INVAL;
    }
    return ok ? 0 : ERR_RANGE;
}

static int append_members(bson_t *doc, struct json_object *obj)
{
    json_object_object_foreach(obj, k, val)
    {
        int rc = document_append_json(doc, k, (int)strlen(k), val);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int append_object(bson_t *doc, const char *key, int key_len, struct json_object *obj)
{
    bson_t child;
    if (!bson_append_document_begin(doc, key, key_len, &child))
        return ERR_RANGE;
    int rc = append_members(&child, obj);
    /* end must run even after a failure: the parent stays in "in child" state otherwise. */
    if (!bson_append_document_end(doc, &child) && rc == 0)
        rc = ERR_RANGE;
    return rc;
}

static int append_array(bson_t *doc, const char *key, int key_len, struct json_object *arr)
{
    bson_t child;
    if (!bson_append_array_begin(doc, key, key_len, &child))
        return ERR_RANGE;
    int rc = 0;
    size_t n = json_object_array_length(arr);
    for (size_t i = 0; i < n && rc == 0; i++) {
        char buf[16];
        const char *ikey;
        size_t ilen = bson_uint32_to_string((uint32_t)i, &ikey, buf, sizeof(buf));
        rc = document_append_json(&child, ikey, (int)ilen, json_object_array_get_idx(arr, i));
    }
    if (!bson_append_array_end(doc, &child) && rc == 0)
        rc = ERR_RANGE;
    return rc;
}

bson_t *document_create(const activity_t *a, int64_t processed_ms, err_t *err)
{
    if (a->id[0] == '\0') {
        err_set(err, ERR_INVAL, "id", "activity has no id");
        return NULL;
    }
    if (!json_object_is_type(a->payload, json_type_object)) {
        err_set(err, ERR_INVAL, "payload", "payload is not an object");
        return NULL;
    }
    bson_t *doc = bson_new();
    int id_len = (int)strlen(a->id);
    bool ok = bson_append_utf8(doc, "_id", 3, a->id, id_len) &&
              bson_append_utf8(doc, "id", 2, a->id, id_len) &&
              bson_append_utf8(doc, "userId", 6, a->user_id, (int)a->user_id_len) &&
              bson_append_utf8(doc, "eventType", 9, a->event_type, (int)a->event_type_len) &&
              bson_append_date_time(doc, "timestamp", 9, a->timestamp_ms);
    int rc = ok ? append_object(doc, "payload", 7, a->payload) : ERR_RANGE;
    if (rc == 0) {
        ok = bson_append_date_time(doc, "receivedAt", 10, a->received_ms) &&
             bson_append_date_time(doc, "processedAt", 11, processed_ms) &&
             bson_append_date_time(doc, "createdAt", 9, processed_ms) &&
             bson_append_date_time(doc, "updatedAt", 9, processed_ms);
        rc = ok ? 0 : ERR_RANGE;
    }
    if (rc < 0) {
        bson_destroy(doc);
        err_set(err, rc, "payload", "event cannot be represented as a BSON document");
        return NULL;
    }
    return doc;
}
