/* SPDX-License-Identifier: MIT */
#define LOG_MODULE "test_log"
#include "common/log.h"

#include <check.h>
#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit_main.h"

/* Each test runs in its own forked process (Check's default), so redirecting stderr is safe. */
static FILE *capture_file;

static void capture_start(void)
{
    capture_file = tmpfile();
    ck_assert_ptr_nonnull(capture_file);
    ck_assert_int_eq(dup2(fileno(capture_file), STDERR_FILENO), STDERR_FILENO);
}

/* Returns everything written to stderr since capture_start, NUL-terminated; caller frees. */
static char *capture_read(void)
{
    int fd = fileno(capture_file);
    off_t size = lseek(fd, 0, SEEK_END);
    ck_assert_int_ge(size, 0);
    char *text = malloc((size_t)size + 1);
    ck_assert_ptr_nonnull(text);
    ck_assert_int_eq(pread(fd, text, (size_t)size, 0), size);
    text[size] = '\0';
    return text;
}

/* Parses one line (without its newline) as a JSON object; caller puts the result. */
static json_object *parse_line(const char *line, size_t len)
{
    json_tokener *tok = json_tokener_new();
    json_object *obj = json_tokener_parse_ex(tok, line, (int)len);
    ck_assert_int_eq(json_tokener_get_error(tok), json_tokener_success);
    ck_assert_int_eq(json_tokener_get_parse_end(tok), len);
    json_tokener_free(tok);
    ck_assert_int_eq(json_object_is_type(obj, json_type_object), 1);
    return obj;
}

static const char *member(json_object *obj, const char *key)
{
    json_object *v;
    ck_assert_int_eq(json_object_object_get_ex(obj, key, &v), 1);
    return json_object_get_string(v);
}

/* ---- levels ---- */

START_TEST(test_log_level_parse_names)
{
    ck_assert_int_eq(log_level_parse("error"), LOG_LEVEL_ERROR);
    ck_assert_int_eq(log_level_parse("WARN"), LOG_LEVEL_WARN);
    ck_assert_int_eq(log_level_parse("Info"), LOG_LEVEL_INFO);
    ck_assert_int_eq(log_level_parse("debug"), LOG_LEVEL_DEBUG);
    ck_assert_int_eq(log_level_parse("warning"), -1);
    ck_assert_int_eq(log_level_parse("trace"), -1);
    ck_assert_int_eq(log_level_parse(""), -1);
    ck_assert_int_eq(log_level_parse(NULL), -1);
    ck_assert_str_eq(log_level_name(LOG_LEVEL_WARN), "warn");
    ck_assert_str_eq(log_level_name(7), "unknown");
}
END_TEST

START_TEST(test_log_level_defaults_to_info_and_is_settable)
{
    ck_assert_int_eq(log_get_level(), LOG_LEVEL_INFO);
    log_set_level(LOG_LEVEL_DEBUG);
    ck_assert_int_eq(log_get_level(), LOG_LEVEL_DEBUG);
}
END_TEST

static int evaluated;

static int side_effect(void)
{
    return ++evaluated;
}

START_TEST(test_log_macros_filter_before_formatting)
{
    capture_start();
    log_set_level(LOG_LEVEL_WARN);
    LOG_INFO("hidden %d", side_effect());
    LOG_DEBUG_KV("\"k\":1", "hidden %d", side_effect());
    ck_assert_int_eq(evaluated, 0);
    LOG_WARN("shown %d", side_effect());
    LOG_ERROR_KV("\"k\":1", "shown %d", side_effect());
    ck_assert_int_eq(evaluated, 2);
    char *text = capture_read();
    ck_assert_ptr_nonnull(strstr(text, "\"level\":\"warn\""));
    ck_assert_ptr_nonnull(strstr(text, "\"msg\":\"shown 2\",\"k\":1}\n"));
    ck_assert_ptr_null(strstr(text, "hidden"));
    free(text);
}
END_TEST

/* ---- line format ---- */

START_TEST(test_log_emit_writes_one_json_line)
{
    capture_start();
    log_set_thread("loop-0");
    errno = EAGAIN;
    LOG_INFO_KV("\"queue\":\"q\",\"attempt\":3", "say \"%s\"\n\tdone \\", "hi");
    ck_assert_int_eq(errno, EAGAIN);
    char *text = capture_read();
    size_t len = strlen(text);
    ck_assert_uint_gt(len, 0);
    ck_assert_int_eq(text[len - 1], '\n');
    ck_assert_ptr_eq(strchr(text, '\n'), text + len - 1);
    ck_assert_int_eq(strncmp(text, "{\"ts\":\"", 7), 0);

    json_object *obj = parse_line(text, len - 1);
    const char *ts = member(obj, "ts");
    ck_assert_uint_eq(strlen(ts), 24);
    ck_assert_int_eq(ts[10], 'T');
    ck_assert_int_eq(ts[23], 'Z');
    ck_assert_str_eq(member(obj, "level"), "info");
    ck_assert_str_eq(member(obj, "thread"), "loop-0");
    ck_assert_str_eq(member(obj, "module"), "test_log");
    ck_assert_str_eq(member(obj, "msg"), "say \"hi\"\n\tdone \\");
    ck_assert_str_eq(member(obj, "queue"), "q");
    ck_assert_str_eq(member(obj, "attempt"), "3");
    json_object_put(obj);
    free(text);
}
END_TEST

START_TEST(test_log_thread_name_default_and_cut)
{
    capture_start();
    LOG_ERROR("first");
    log_set_thread("a-very-long-thread-name-that-goes-past-31-bytes");
    LOG_ERROR("second");
    char *text = capture_read();
    ck_assert_ptr_nonnull(strstr(text, "\"thread\":\"main\""));
    ck_assert_ptr_nonnull(strstr(text, "\"thread\":\"a-very-long-thread-name-that-go\""));
    free(text);
}
END_TEST

START_TEST(test_log_long_message_is_cut_and_stays_valid)
{
    char big[3 * LOG_LINE_MAX];
    /* Multi-byte characters and escapes right up to the cut. */
    for (size_t i = 0; i + 2 < sizeof(big); i += 2) {
        big[i] = (char)0xC3; /* é */
        big[i + 1] = (char)0xA9;
    }
    big[sizeof(big) - 2] = '"';
    big[sizeof(big) - 1] = '\0';
    capture_start();
    LOG_WARN_KV("\"k\":\"v\"", "%s", big);
    char *text = capture_read();
    size_t len = strlen(text);
    ck_assert_uint_le(len, LOG_LINE_MAX);
    json_object *obj = parse_line(text, len - 1);
    const char *msg = member(obj, "msg");
    ck_assert_uint_gt(strlen(msg), LOG_LINE_MAX / 2);
    ck_assert_str_eq(msg + strlen(msg) - 3, "...");
    ck_assert_str_eq(member(obj, "k"), "v");
    json_object_put(obj);
    free(text);
}
END_TEST

START_TEST(test_log_oversized_kv_is_dropped)
{
    char kv[LOG_LINE_MAX];
    snprintf(kv, sizeof(kv), "\"blob\":\"%0*d\"", LOG_LINE_MAX - 20, 0);
    capture_start();
    LOG_ERROR_KV(kv, "broken %d", 1);
    char *text = capture_read();
    json_object *obj = parse_line(text, strlen(text) - 1);
    ck_assert_str_eq(member(obj, "msg"), "broken 1");
    ck_assert_str_eq(member(obj, "kv_dropped"), "true");
    json_object_put(obj);
    free(text);
}
END_TEST

#define LOG_THREADS 4
#define LOG_LINES   500

static void *log_many(void *arg)
{
    char name[16];
    snprintf(name, sizeof(name), "w-%d", (int)(intptr_t)arg);
    log_set_thread(name);
    for (int i = 0; i < LOG_LINES; i++)
        LOG_INFO_KV("\"i\":1", "%s line %d %0200d", name, i, 0);
    return NULL;
}

START_TEST(test_log_lines_from_threads_never_interleave)
{
    pthread_t t[LOG_THREADS];
    capture_start();
    for (intptr_t i = 0; i < LOG_THREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, log_many, (void *)i), 0);
    for (int i = 0; i < LOG_THREADS; i++)
        ck_assert_int_eq(pthread_join(t[i], NULL), 0);
    char *text = capture_read();
    int lines = 0;
    for (char *p = text, *nl; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
        json_object *obj = parse_line(p, (size_t)(nl - p));
        ck_assert_int_eq(strncmp(member(obj, "msg"), member(obj, "thread"), 3), 0);
        json_object_put(obj);
        lines++;
    }
    ck_assert_int_eq(lines, LOG_THREADS * LOG_LINES);
    free(text);
}
END_TEST

/* ---- escaping ---- */

static void check_escape(const char *src, size_t dst_len, const char *expect)
{
    char dst[256];
    ck_assert_uint_le(dst_len, sizeof(dst));
    log_json_escape(dst, dst_len, src, strlen(src));
    ck_assert_str_eq(dst, expect);
}

START_TEST(test_log_json_escape_special_characters)
{
    check_escape("plain", 256, "plain");
    check_escape("a\"b\\c", 256, "a\\\"b\\\\c");
    check_escape("\n\r\t\b\x1f", 256, "\\n\\r\\t\\b\\u001f");
    check_escape("\f\x7f", 256, "\\f\\u007f");
    check_escape("caf\xc3\xa9 \xf0\x9f\x98\x80", 256, "caf\xc3\xa9 \xf0\x9f\x98\x80");
    check_escape("", 256, "");
}
END_TEST

START_TEST(test_log_json_escape_replaces_invalid_utf8)
{
    check_escape("a\xff"
                 "b",
                 256, "a\\ufffdb");
    check_escape("\xc3", 256, "\\ufffd");                                  /* cut short */
    check_escape("\xc0\xaf", 256, "\\ufffd\\ufffd");                       /* overlong '/' */
    check_escape("\xed\xa0\x80", 256, "\\ufffd\\ufffd\\ufffd");            /* surrogate */
    check_escape("\xf4\x90\x80\x80", 256, "\\ufffd\\ufffd\\ufffd\\ufffd"); /* > U+10FFFF */
}
END_TEST

START_TEST(test_log_json_escape_truncates_on_boundaries)
{
    check_escape("abcdef", 4, "abc");
    check_escape("ab\"", 4, "ab");     /* \" needs 2 bytes, only 1 left */
    check_escape("a\xc3\xa9", 3, "a"); /* é needs 2 bytes, only 1 left */
    check_escape("a\x01", 7, "a");     /* \u0001 needs 6 */
    check_escape("a\x01", 8, "a\\u0001");
    check_escape("abc", 1, "");
    char untouched = 'x';
    log_json_escape(&untouched, 0, "abc", 3);
    ck_assert_int_eq(untouched, 'x');
}
END_TEST

START_TEST(test_log_json_escape_honours_src_len)
{
    char dst[16];
    log_json_escape(dst, sizeof(dst), "abc\0def", 7);
    ck_assert_int_eq(memcmp(dst, "abc\\u0000def", 13), 0);
    log_json_escape(dst, sizeof(dst), "abcdef", 2);
    ck_assert_str_eq(dst, "ab");
}
END_TEST

/* ---- throttling ---- */

START_TEST(test_log_throttle_first_then_interval)
{
    log_throttle_t t = {0};
    uint32_t suppressed = 99;
    ck_assert_int_eq(log_throttle_allow(&t, 1000, 5000, &suppressed), 1);
    ck_assert_uint_eq(suppressed, 0);
    ck_assert_int_eq(log_throttle_allow(&t, 1001, 5000, &suppressed), 0);
    ck_assert_int_eq(log_throttle_allow(&t, 5999, 5000, &suppressed), 0);
    ck_assert_int_eq(log_throttle_allow(&t, 3000, 5000, &suppressed), 0);
    ck_assert_uint_eq(t.suppressed, 3);
    ck_assert_int_eq(log_throttle_allow(&t, 6000, 5000, &suppressed), 1);
    ck_assert_uint_eq(suppressed, 3);
    ck_assert_uint_eq(t.suppressed, 0);
    ck_assert_int_eq(log_throttle_allow(&t, 6001, 5000, NULL), 0);
    ck_assert_int_eq(log_throttle_allow(&t, 20000, 5000, NULL), 1);
    ck_assert_uint_eq(t.suppressed, 0);
}
END_TEST

START_TEST(test_log_throttle_suppressed_count_saturates)
{
    log_throttle_t t = {.last_ms = 1, .suppressed = UINT32_MAX - 1};
    uint32_t suppressed;
    log_throttle_allow(&t, 2, 1000, &suppressed);
    log_throttle_allow(&t, 3, 1000, &suppressed);
    ck_assert_uint_eq(t.suppressed, UINT32_MAX);
    ck_assert_int_eq(log_throttle_allow(&t, 1001, 1000, &suppressed), 1);
    ck_assert_uint_eq(suppressed, UINT32_MAX);
}
END_TEST

static Suite *log_suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc;

    tc = tcase_create("levels");
    tcase_add_test(tc, test_log_level_parse_names);
    tcase_add_test(tc, test_log_level_defaults_to_info_and_is_settable);
    tcase_add_test(tc, test_log_macros_filter_before_formatting);
    suite_add_tcase(s, tc);

    tc = tcase_create("line");
    tcase_set_timeout(tc, 60); /* the threaded test is slow under ThreadSanitizer */
    tcase_add_test(tc, test_log_emit_writes_one_json_line);
    tcase_add_test(tc, test_log_thread_name_default_and_cut);
    tcase_add_test(tc, test_log_long_message_is_cut_and_stays_valid);
    tcase_add_test(tc, test_log_oversized_kv_is_dropped);
    tcase_add_test(tc, test_log_lines_from_threads_never_interleave);
    suite_add_tcase(s, tc);

    tc = tcase_create("escape");
    tcase_add_test(tc, test_log_json_escape_special_characters);
    tcase_add_test(tc, test_log_json_escape_replaces_invalid_utf8);
    tcase_add_test(tc, test_log_json_escape_truncates_on_boundaries);
    tcase_add_test(tc, test_log_json_escape_honours_src_len);
    suite_add_tcase(s, tc);

    tc = tcase_create("throttle");
    tcase_add_test(tc, test_log_throttle_first_then_interval);
    tcase_add_test(tc, test_log_throttle_suppressed_count_saturates);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(log_suite)
