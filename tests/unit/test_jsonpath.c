/* SPDX-License-Identifier: MIT */
#include "common/jsonpath.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "unit_main.h"

/* A key from the content of a JSON string literal, as the scanner would hand it over. */
static jsonpath_key_t key(const char *content)
{
    jsonpath_key_t k;
    jsonpath_key_init(&k, content, strlen(content));
    return k;
}

START_TEST(test_jsonpath_key_init_reads_plain_keys)
{
    jsonpath_key_t k = key("a$.b");
    ck_assert_int_eq(k.escaped, false);
    ck_assert_int_eq(k.dollar, false);
    ck_assert_int_eq(k.dot, true);
    ck_assert_int_eq(k.has_nul, false);
    ck_assert_uint_eq(k.len, 4);
    k = key("$x");
    ck_assert_int_eq(k.dollar, true);
    ck_assert_int_eq(k.dot, false);
    k = key("");
    ck_assert_uint_eq(k.len, 0);
    ck_assert_int_eq(k.dollar, false);
}
END_TEST

START_TEST(test_jsonpath_key_init_decodes_escapes_as_json_c_does)
{
    jsonpath_key_t k = key("\\u0024a\\u002e\\u0000");
    ck_assert_int_eq(k.escaped, true);
    ck_assert_int_eq(k.dollar, true);
    ck_assert_int_eq(k.dot, true);
    ck_assert_int_eq(k.has_nul, true);
    ck_assert_uint_eq(k.len, 4);
    ck_assert_mem_eq(k.buf, "$a.\0", 4);
    /* A surrogate pair is one code point; a lone surrogate is U+FFFD. */
    k = key("\\ud83d\\ude00\\udc00\\n\\/");
    ck_assert_uint_eq(k.len, 4 + 3 + 1 + 1);
    ck_assert_mem_eq(k.buf, "\xf0\x9f\x98\x80\xef\xbf\xbd\n/", 9);
}
END_TEST

START_TEST(test_jsonpath_key_is_compares_decoded_names)
{
    jsonpath_key_t plain = key("payload");
    jsonpath_key_t escaped = key("\\u0070ayload");
    ck_assert_int_eq(jsonpath_key_is(&plain, "payload", 7), true);
    ck_assert_int_eq(jsonpath_key_is(&escaped, "payload", 7), true);
    ck_assert_int_eq(jsonpath_key_is(&plain, "payloa", 6), false);
    ck_assert_int_eq(jsonpath_key_is(&escaped, "Payload", 7), false);
    /* An escaped key keeps only JSONPATH_KEY_NAME_MAX decoded bytes: a longer one matches
     * nothing, even a name that it equals. */
    jsonpath_key_t long_key = key("\\u0061aaaaaaaaaaaaaaaa");
    ck_assert_uint_eq(long_key.len, JSONPATH_KEY_NAME_MAX + 1);
    ck_assert_int_eq(jsonpath_key_is(&long_key, "aaaaaaaaaaaaaaaaa", JSONPATH_KEY_NAME_MAX + 1),
                     false);
}
END_TEST

START_TEST(test_jsonpath_format_key_writes_controls_and_cuts_whole_characters)
{
    char buf[32];
    jsonpath_key_t k = key("a\\u0001\\\"b\\u0000");
    ck_assert_str_eq(jsonpath_format_key(&k, buf, sizeof(buf)), "a\\u0001\"b\\u0000");
    /* In 16 bytes, 12 fit before the "...": six two-byte characters, never half of one. */
    k = key("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
    ck_assert_str_eq(jsonpath_format_key(&k, buf, 16),
                     "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9...");
    k = key("");
    ck_assert_str_eq(jsonpath_format_key(&k, buf, sizeof(buf)), "");
}
END_TEST

START_TEST(test_jsonpath_format_chains_members_and_elements)
{
    char buf[64];
    jsonpath_key_t events = key("events"), payload = key("payload"), dotted = key("a.b");
    jsonpath_seg_t s0 = {NULL, &events, 0};
    jsonpath_seg_t s1 = {&s0, NULL, 3};
    jsonpath_seg_t s2 = {&s1, &payload, 0};
    jsonpath_seg_t s3 = {&s2, &dotted, 0};
    ck_assert_str_eq(jsonpath_format(&s2, buf, sizeof(buf)), "events[3].payload");
    ck_assert_str_eq(jsonpath_format(&s3, buf, sizeof(buf)), "events[3].payload[\"a.b\"]");
    /* A path may start with an element, or be empty. */
    jsonpath_seg_t e0 = {NULL, NULL, 0};
    jsonpath_seg_t e1 = {&e0, &payload, 0};
    ck_assert_str_eq(jsonpath_format(&e1, buf, sizeof(buf)), "[0].payload");
    ck_assert_str_eq(jsonpath_format(NULL, buf, sizeof(buf)), "");
}
END_TEST

START_TEST(test_jsonpath_format_cuts_long_paths)
{
    char buf[16];
    jsonpath_key_t a = key("abcd");
    jsonpath_seg_t s0 = {NULL, &a, 0};
    jsonpath_seg_t s1 = {&s0, &a, 0};
    jsonpath_seg_t s2 = {&s1, &a, 0};
    jsonpath_seg_t s3 = {&s2, NULL, 12345};
    ck_assert_str_eq(jsonpath_format(&s1, buf, sizeof(buf)), "abcd.abcd");
    /* Whole characters are kept while they fit in 12 bytes, then "..." ends the path and nothing
     * after the cut is written. */
    ck_assert_str_eq(jsonpath_format(&s3, buf, sizeof(buf)), "abcd.abcd.ab...");
}
END_TEST

static Suite *jsonpath_suite(void)
{
    Suite *s = suite_create("jsonpath");
    TCase *tc;

    tc = tcase_create("keys");
    tcase_add_test(tc, test_jsonpath_key_init_reads_plain_keys);
    tcase_add_test(tc, test_jsonpath_key_init_decodes_escapes_as_json_c_does);
    tcase_add_test(tc, test_jsonpath_key_is_compares_decoded_names);
    tcase_add_test(tc, test_jsonpath_format_key_writes_controls_and_cuts_whole_characters);
    suite_add_tcase(s, tc);

    tc = tcase_create("paths");
    tcase_add_test(tc, test_jsonpath_format_chains_members_and_elements);
    tcase_add_test(tc, test_jsonpath_format_cuts_long_paths);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(jsonpath_suite)
