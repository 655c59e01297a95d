/* SPDX-License-Identifier: MIT */
#include "common/activity.h"

#include <check.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/validate.h"

#include "unit_main.h"

#define ID0 "0190b2a4-7c1e-7a3b-9f00-1234567890ab"

/* Validates body as a request, then stamps it as the API does. */
static void accept(const char *body, activity_t *a)
{
    validate_report_t rep;
    int rc = validate_request(body, strlen(body), a, &rep);
    ck_assert_msg(rc == 0, "%s: %s", rep.errors[0].field, rep.errors[0].message);
    if (a->id[0] == '\0')
        memcpy(a->id, ID0, sizeof(ID0));
    a->received_ms = 1698400801234;
}

static char *encode_str(const activity_t *a)
{
    char *buf;
    size_t len;
    ck_assert_int_eq(activity_encode(a, &buf, &len), 0);
    char *s = malloc(len + 1);
    memcpy(s, buf, len);
    s[len] = '\0';
    ck_assert_uint_eq(strlen(s), len);
    free(buf);
    return s;
}

START_TEST(test_activity_encode_exact_output)
{
    activity_t a;
    accept("{\"payload\":{\"b\":[true,null,\"x/y\"],\"a\":1.50},\"timestamp\":"
           "\"2023-10-27T12:00:00.5+02:00\",\"eventType\":\"click\",\"userId\":\"u1\"}",
           &a);
    char *s = encode_str(&a);
    /* Key order fixed, compact, the timestamp as sent, receivedAt in millisecond UTC form, the
     * payload's keys in their original order and its numbers as written. */
    ck_assert_str_eq(s, "{\"id\":\"" ID0 "\",\"userId\":\"u1\",\"eventType\":\"click\","
                        "\"timestamp\":\"2023-10-27T12:00:00.5+02:00\","
                        "\"payload\":{\"b\":[true,null,\"x/y\"],\"a\":1.50},"
                        "\"receivedAt\":\"2023-10-27T10:00:01.234Z\"}");
    free(s);
    activity_deinit(&a);
}
END_TEST

START_TEST(test_activity_encode_escapes_strings)
{
    /* Built by hand: validation would refuse the control characters, but encoding must still
     * produce valid JSON for any bytes. */
    static const char user[] = "q\"b\\s/\b\f\n\r\t\x01\x1f\x7f\xc3\xa9";
    static const char event[] = "\"\"";
    activity_t a;
    memset(&a, 0, sizeof(a));
    a.root = json_object_new_object();
    a.payload = a.root;
    memcpy(a.id, ID0, sizeof(ID0));
    a.user_id = user;
    a.user_id_len = sizeof(user) - 1;
    a.event_type = event;
    a.event_type_len = sizeof(event) - 1;
    a.timestamp = "2023-10-27T10:00:00Z";
    a.timestamp_len = 20;
    char *s = encode_str(&a);
    ck_assert_ptr_nonnull(strstr(s, "\"userId\":\"q\\\"b\\\\s/\\b\\f\\n\\r\\t\\u0001\\u001f\\u007f"
                                    "\xc3\xa9\",\"eventType\":\"\\\"\\\"\","));
    /* A strict parser reads the same bytes back. */
    struct json_tokener *tok = json_tokener_new();
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    json_object *o = json_tokener_parse_ex(tok, s, (int)strlen(s));
    ck_assert_ptr_nonnull(o);
    json_object *v;
    ck_assert(json_object_object_get_ex(o, "userId", &v));
    ck_assert_int_eq(json_object_get_string_len(v), (int)sizeof(user) - 1);
    ck_assert_mem_eq(json_object_get_string(v), user, sizeof(user) - 1);
    json_object_put(o);
    json_tokener_free(tok);
    free(s);
    activity_deinit(&a);
}
END_TEST

START_TEST(test_activity_encode_key_order)
{
    activity_t a;
    accept("{\"userId\":\"u\",\"eventType\":\"e\",\"timestamp\":\"2023-10-27T10:00:00Z\","
           "\"payload\":{\"receivedAt\":1,\"id\":2}}",
           &a);
    char *s = encode_str(&a);
    static const char *const keys[] = {"{\"id\":",        ",\"userId\":",  ",\"eventType\":",
                                       ",\"timestamp\":", ",\"payload\":", ",\"receivedAt\":"};
    const char *prev = s;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const char *at = strstr(s, keys[i]);
        ck_assert_ptr_nonnull(at);
        ck_assert_msg(at >= prev, "%s out of order in %s", keys[i], s);
        prev = at;
    }
    ck_assert_int_eq(s[0], '{');
    ck_assert_int_eq(s[strlen(s) - 1], '}');
    free(s);
    activity_deinit(&a);
}
END_TEST

START_TEST(test_activity_encode_rejects_incomplete)
{
    activity_t a;
    char *buf = NULL;
    size_t len = 0;
    accept("{\"userId\":\"u\",\"eventType\":\"e\",\"timestamp\":\"2023-10-27T10:00:00Z\","
           "\"payload\":{}}",
           &a);
    ck_assert_int_eq(activity_encode(NULL, &buf, &len), ERR_INVAL);
    ck_assert_int_eq(activity_encode(&a, NULL, &len), ERR_INVAL);
    ck_assert_int_eq(activity_encode(&a, &buf, NULL), ERR_INVAL);
    char id = a.id[0];
    a.id[0] = '\0';
    ck_assert_int_eq(activity_encode(&a, &buf, &len), ERR_INVAL);
    a.id[0] = id;
    json_object *payload = a.payload;
    a.payload = NULL;
    ck_assert_int_eq(activity_encode(&a, &buf, &len), ERR_INVAL);
    a.payload = payload;
    ck_assert_ptr_null(buf);
    ck_assert_int_eq(activity_encode(&a, &buf, &len), 0);
    free(buf);
    activity_deinit(&a);
}
END_TEST

static const char *const round_trip_bodies[] = {
    "{\"userId\":\"u1\",\"eventType\":\"click\",\"timestamp\":\"2023-10-27T10:00:00Z\","
    "\"payload\":{}}",
    "{\"id\":\"919108F7-52D1-4320-9BAC-F847DB4148A8\",\"userId\":\"a \\\"quoted\\\" \\\\ name/\","
    "\"eventType\":\"caf\\u00e9 \xe6\x97\xa5 \\ud83d\\ude00\",\"timestamp\":"
    "\"1969-12-31T23:59:59.9999-00:30\",\"payload\":{\"e\":\"\",\"k\\\"ey\":\"v\\n\\u0000\\u001f\","
    "\"n\":[1,-2.5e-3,9223372036854775807,-9223372036854775808,1e300,true,false,null],"
    "\"o\":{\"\xc3\xa9\":{\"deep\":[{\"x\":[{}]}]}},\"s\":\"</script>\"}}",
    "{\"userId\":\"x\",\"eventType\":\"y\",\"timestamp\":\"2016-12-31T23:59:60.5z\","
    "\"payload\":{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":{\"i\":{\"j\":{}}}}}}}}}}}"
    "}",
};

/* encode -> validate_message gives back the same fields. */
START_TEST(test_activity_encode_round_trips_through_validate_message)
{
    activity_t a, b;
    validate_report_t rep;
    char *buf;
    size_t len;

    accept(round_trip_bodies[_i], &a);
    ck_assert_int_eq(activity_encode(&a, &buf, &len), 0);
    int rc = validate_message(buf, len, &b, &rep);
    ck_assert_msg(rc == 0, "%.*s: %s: %s", (int)len, buf, rep.errors[0].field,
                  rep.errors[0].message);
    ck_assert_str_eq(b.id, a.id);
    ck_assert_uint_eq(b.user_id_len, a.user_id_len);
    ck_assert_mem_eq(b.user_id, a.user_id, a.user_id_len);
    ck_assert_uint_eq(b.event_type_len, a.event_type_len);
    ck_assert_mem_eq(b.event_type, a.event_type, a.event_type_len);
    ck_assert_uint_eq(b.timestamp_len, a.timestamp_len);
    ck_assert_mem_eq(b.timestamp, a.timestamp, a.timestamp_len);
    ck_assert_int_eq(b.timestamp_ms, a.timestamp_ms);
    ck_assert_int_eq(b.received_ms, a.received_ms);
    ck_assert_int_eq(json_object_equal(a.payload, b.payload), 1);

    /* Encoding the decoded message again gives the same bytes. */
    char *buf2;
    size_t len2;
    ck_assert_int_eq(activity_encode(&b, &buf2, &len2), 0);
    ck_assert_uint_eq(len2, len);
    ck_assert_mem_eq(buf2, buf, len);
    free(buf2);
    free(buf);
    activity_deinit(&b);
    activity_deinit(&a);
}
END_TEST

START_TEST(test_activity_received_at_is_utc_milliseconds)
{
    static const int64_t times[] = {0, -1, 1698400801234, 253402300799999};
    static const char *const want[] = {"1970-01-01T00:00:00.000Z", "1969-12-31T23:59:59.999Z",
                                       "2023-10-27T10:00:01.234Z", "9999-12-31T23:59:59.999Z"};
    for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
        activity_t a;
        accept("{\"userId\":\"u\",\"eventType\":\"e\",\"timestamp\":\"2023-10-27T10:00:00Z\","
               "\"payload\":{}}",
               &a);
        a.received_ms = times[i];
        char *s = encode_str(&a);
        char expect[64];
        snprintf(expect, sizeof(expect), ",\"receivedAt\":\"%s\"}", want[i]);
        ck_assert_str_eq(s + strlen(s) - strlen(expect), expect);
        free(s);
        activity_deinit(&a);
    }
}
END_TEST

START_TEST(test_activity_deinit_is_safe)
{
    activity_t a;
    activity_deinit(NULL);
    memset(&a, 0, sizeof(a));
    activity_deinit(&a);
    accept("{\"userId\":\"u\",\"eventType\":\"e\",\"timestamp\":\"2023-10-27T10:00:00Z\","
           "\"payload\":{\"a\":[1]}}",
           &a);
    activity_deinit(&a);
    ck_assert_ptr_null(a.root);
    ck_assert_ptr_null(a.payload);
    ck_assert_ptr_null(a.user_id);
    ck_assert_uint_eq(a.user_id_len, 0);
    ck_assert_str_eq(a.id, "");
    /* Twice is harmless: the first call zeroed it. */
    activity_deinit(&a);
    ck_assert_ptr_null(a.root);
}
END_TEST

static Suite *activity_suite(void)
{
    Suite *s = suite_create("activity");
    TCase *tc;

    tc = tcase_create("encode");
    tcase_add_test(tc, test_activity_encode_exact_output);
    tcase_add_test(tc, test_activity_encode_escapes_strings);
    tcase_add_test(tc, test_activity_encode_key_order);
    tcase_add_test(tc, test_activity_encode_rejects_incomplete);
    tcase_add_test(tc, test_activity_received_at_is_utc_milliseconds);
    suite_add_tcase(s, tc);

    tc = tcase_create("round_trip");
    tcase_add_loop_test(tc, test_activity_encode_round_trips_through_validate_message, 0,
                        (int)(sizeof(round_trip_bodies) / sizeof(round_trip_bodies[0])));
    suite_add_tcase(s, tc);

    tc = tcase_create("deinit");
    tcase_add_test(tc, test_activity_deinit_is_safe);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(activity_suite)
