/* SPDX-License-Identifier: MIT */
#include "consumer/document.h"

#include <check.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "unit_main.h"

#define ID "0190f3a2-7c1e-7d2a-9b4c-3d5e6f708192"

/* An activity as validate_message leaves it, built by hand over a parsed payload. */
static void make_activity(activity_t *a, const char *payload_json)
{
    memset(a, 0, sizeof(*a));
    a->root = json_tokener_parse(payload_json);
    ck_assert_ptr_nonnull(a->root);
    a->payload = a->root;
    strcpy(a->id, ID);
    a->user_id = "user-1";
    a->user_id_len = 6;
    a->event_type = "page_view";
    a->event_type_len = 9;
    a->timestamp = "2024-05-01T12:00:00.250+02:00";
    a->timestamp_len = strlen(a->timestamp);
    a->timestamp_ms = 1714557600250;
    a->received_ms = 1714557601000;
}

static bson_iter_t find(const bson_t *doc, const char *dotted, bson_type_t type)
{
    bson_iter_t it, child;
    ck_assert(bson_iter_init(&it, doc));
    ck_assert_msg(bson_iter_find_descendant(&it, dotted, &child), "no %s", dotted);
    ck_assert_int_eq(bson_iter_type(&child), type);
    return child;
}

static const char *utf8(const bson_t *doc, const char *dotted)
{
    bson_iter_t it = find(doc, dotted, BSON_TYPE_UTF8);
    return bson_iter_utf8(&it, NULL);
}

static int64_t date(const bson_t *doc, const char *dotted)
{
    bson_iter_t it = find(doc, dotted, BSON_TYPE_DATE_TIME);
    return bson_iter_date_time(&it);
}

START_TEST(test_document_top_level_fields_and_order)
{
    activity_t a;
    make_activity(&a, "{}");
    bson_t *doc = document_create(&a, 1714557602000, NULL);
    ck_assert_ptr_nonnull(doc);
    const char *keys[] = {"_id",     "id",         "userId",      "eventType", "timestamp",
                          "payload", "receivedAt", "processedAt", "createdAt", "updatedAt"};
    bson_iter_t it;
    ck_assert(bson_iter_init(&it, doc));
    size_t i = 0;
    while (bson_iter_next(&it)) {
        ck_assert_uint_lt(i, sizeof(keys) / sizeof(keys[0]));
        ck_assert_str_eq(bson_iter_key(&it), keys[i]);
        i++;
    }
    ck_assert_uint_eq(i, sizeof(keys) / sizeof(keys[0]));
    ck_assert_str_eq(utf8(doc, "_id"), ID);
    ck_assert_str_eq(utf8(doc, "id"), ID);
    ck_assert_str_eq(utf8(doc, "userId"), "user-1");
    ck_assert_str_eq(utf8(doc, "eventType"), "page_view");
    bson_destroy(doc);
    activity_deinit(&a);
}
END_TEST

START_TEST(test_document_dates_are_bson_dates)
{
    activity_t a;
    make_activity(&a, "{}");
    bson_t *doc = document_create(&a, 1714557602000, NULL);
    ck_assert_int_eq(date(doc, "timestamp"), 1714557600250);
    ck_assert_int_eq(date(doc, "receivedAt"), 1714557601000);
    ck_assert_int_eq(date(doc, "processedAt"), 1714557602000);
    ck_assert_int_eq(date(doc, "createdAt"), 1714557602000);
    ck_assert_int_eq(date(doc, "updatedAt"), 1714557602000);
    bson_destroy(doc);
    activity_deinit(&a);
}
END_TEST

START_TEST(test_document_payload_types_map_recursively)
{
    activity_t a;
    make_activity(&a, "{\"s\":\"h\\u00e9llo\",\"i\":-42,\"big\":9007199254740993,"
                      "\"huge\":18446744073709551615,\"d\":1.5,\"e\":1e3,\"t\":true,"
                      "\"f\":false,\"n\":null,\"arr\":[1,\"two\",[3],{\"k\":4}],"
                      "\"o\":{\"p\":{\"q\":\"deep\"}},\"dotted.key\":1,\"\":\"empty key\"}");
    bson_t *doc = document_create(&a, 0, NULL);
    ck_assert_ptr_nonnull(doc);
    find(doc, "payload", BSON_TYPE_DOCUMENT);
    ck_assert_str_eq(utf8(doc, "payload.s"), "h\xc3\xa9llo");
    bson_iter_t it = find(doc, "payload.i", BSON_TYPE_INT64);
    ck_assert_int_eq(bson_iter_int64(&it), -42);
    it = find(doc, "payload.big", BSON_TYPE_INT64);
    ck_assert_int_eq(bson_iter_int64(&it), 9007199254740993);
    it = find(doc, "payload.huge", BSON_TYPE_DOUBLE);
    ck_assert_double_eq(bson_iter_double(&it), 18446744073709551615.0);
    it = find(doc, "payload.d", BSON_TYPE_DOUBLE);
    ck_assert_double_eq(bson_iter_double(&it), 1.5);
    it = find(doc, "payload.e", BSON_TYPE_DOUBLE);
    ck_assert_double_eq(bson_iter_double(&it), 1000.0);
    it = find(doc, "payload.t", BSON_TYPE_BOOL);
    ck_assert(bson_iter_bool(&it));
    it = find(doc, "payload.f", BSON_TYPE_BOOL);
    ck_assert(!bson_iter_bool(&it));
    find(doc, "payload.n", BSON_TYPE_NULL);
    find(doc, "payload.arr", BSON_TYPE_ARRAY);
    it = find(doc, "payload.arr.0", BSON_TYPE_INT64);
    ck_assert_int_eq(bson_iter_int64(&it), 1);
    ck_assert_str_eq(utf8(doc, "payload.arr.1"), "two");
    find(doc, "payload.arr.2", BSON_TYPE_ARRAY);
    it = find(doc, "payload.arr.2.0", BSON_TYPE_INT64);
    ck_assert_int_eq(bson_iter_int64(&it), 3);
    it = find(doc, "payload.arr.3.k", BSON_TYPE_INT64);
    ck_assert_int_eq(bson_iter_int64(&it), 4);
    ck_assert_str_eq(utf8(doc, "payload.o.p.q"), "deep");
    /* find_descendant splits on dots, so look the dotted key up directly. */
    bson_iter_t p, child;
    ck_assert(bson_iter_init_find(&p, doc, "payload"));
    ck_assert(bson_iter_recurse(&p, &child));
    ck_assert(bson_iter_find(&child, "dotted.key"));
    ck_assert(bson_iter_recurse(&p, &child));
    ck_assert(bson_iter_find(&child, ""));
    ck_assert_str_eq(bson_iter_utf8(&child, NULL), "empty key");
    bson_destroy(doc);
    activity_deinit(&a);
}
END_TEST

START_TEST(test_document_string_with_nul_keeps_length)
{
    activity_t a;
    make_activity(&a, "{\"s\":\"a\\u0000b\"}");
    bson_t *doc = document_create(&a, 0, NULL);
    bson_iter_t it = find(doc, "payload.s", BSON_TYPE_UTF8);
    uint32_t len = 0;
    const char *s = bson_iter_utf8(&it, &len);
    ck_assert_uint_eq(len, 3);
    ck_assert_int_eq(memcmp(s, "a\0b", 3), 0);
    bson_destroy(doc);
    activity_deinit(&a);
}
END_TEST

START_TEST(test_document_refuses_missing_id_or_non_object_payload)
{
    activity_t a;
    err_t err;
    make_activity(&a, "{}");
    a.id[0] = '\0';
    ck_assert_ptr_null(document_create(&a, 0, &err));
    ck_assert_int_eq(err.code, ERR_INVAL);
    ck_assert_str_eq(err.field, "id");
    activity_deinit(&a);
    make_activity(&a, "[1]");
    ck_assert_ptr_null(document_create(&a, 0, &err));
    ck_assert_str_eq(err.field, "payload");
    activity_deinit(&a);
}
END_TEST

START_TEST(test_document_append_json_scalars)
{
    bson_t doc = BSON_INITIALIZER;
    json_object *v = json_object_new_int64(INT64_MIN);
    ck_assert_int_eq(document_append_json(&doc, "min", 3, v), 0);
    json_object_put(v);
    ck_assert_int_eq(document_append_json(&doc, "nul", 3, NULL), 0);
    bson_iter_t it = find(&doc, "min", BSON_TYPE_INT64);
    ck_assert_int_eq(bson_iter_int64(&it), INT64_MIN);
    find(&doc, "nul", BSON_TYPE_NULL);
    bson_destroy(&doc);
}
END_TEST

static Suite *document_suite(void)
{
    Suite *s = suite_create("document");
    TCase *tc = tcase_create("fields");
    tcase_add_test(tc, test_document_top_level_fields_and_order);
    tcase_add_test(tc, test_document_dates_are_bson_dates);
    tcase_add_test(tc, test_document_refuses_missing_id_or_non_object_payload);
    suite_add_tcase(s, tc);
    tc = tcase_create("payload");
    tcase_add_test(tc, test_document_payload_types_map_recursively);
    tcase_add_test(tc, test_document_string_with_nul_keeps_length);
    tcase_add_test(tc, test_document_append_json_scalars);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(document_suite)
