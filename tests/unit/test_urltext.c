/* SPDX-License-Identifier: MIT */
#include "common/urltext.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit_main.h"

static void check_mask(const char *url, const char *expect)
{
    char out[256];
    urltext_mask(url, out, sizeof(out));
    ck_assert_str_eq(out, expect);
}

START_TEST(test_urltext_mask_hides_password)
{
    check_mask("amqp://user:pass@host/", "amqp://user:***@host/");
    check_mask("amqp://guest:guest@127.0.0.1:5672/", "amqp://guest:***@127.0.0.1:5672/");
    check_mask("mongodb://user:pass@host/db", "mongodb://user:***@host/db");
    check_mask("mongodb://u:p@h1:1,h2:2/db?w=majority&appName=a@b",
               "mongodb://u:***@h1:1,h2:2/db?w=majority&appName=a@b");
    check_mask("amqp://:pass@host/", "amqp://:***@host/");
    check_mask("amqp://u:p:q@host/", "amqp://u:***@host/");
    /* Unencoded delimiters in the password must not reveal any part of it. */
    check_mask("amqp://u:p@ss@host/", "amqp://u:***@host/");
    check_mask("amqp://u:p/ss@host/", "amqp://u:***@host/");
    check_mask("mongodb://u:p?ss@host/db", "mongodb://u:***@host/db");
    check_mask("u:pass@host", "u:***@host");
    /* Ambiguous: with no '@' before the query, the '@' inside it may end a userinfo whose
     * password holds an unencoded '?'. Hiding too much is the safe side. */
    check_mask("mongodb://h:27017/db?appName=x@y", "mongodb://h:***@y");
    /* A list of broker URLs, each masked; a MongoDB host list is one URL. */
    check_mask("amqp://a:pa@h1:5672/,amqp://b:pb@h2:5673/, amqp://h3/",
               "amqp://a:***@h1:5672/,amqp://b:***@h2:5673/, amqp://h3/");
    check_mask("mongodb://u:p@h1:1,h2:2,h3:3/db?replicaSet=rs0",
               "mongodb://u:***@h1:1,h2:2,h3:3/db?replicaSet=rs0");
}
END_TEST

START_TEST(test_urltext_mask_keeps_urls_without_password)
{
    check_mask("amqp://user@host/", "amqp://user@host/");
    check_mask("amqp://host:5672/", "amqp://host:5672/");
    check_mask("mongodb://127.0.0.1:27017/activity_db", "mongodb://127.0.0.1:27017/activity_db");
    check_mask("", "");
}
END_TEST

START_TEST(test_urltext_mask_truncates)
{
    char out[12];
    urltext_mask("amqp://user:secret@host/", out, sizeof(out));
    ck_assert_str_eq(out, "amqp://user");
    urltext_mask("amqp://user:secret@host/", out, 1);
    ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(test_urltext_mask_hides_a_long_password_whole)
{
    /* A JWT from RabbitMQ's OAuth2 plugin is often over 1 KB: never cut before its '@'. */
    static char url[4096], out[4096];
    int n = snprintf(url, sizeof(url), "amqp://u:");
    for (int i = 0; i < 3000; i++)
        url[n++] = (char)('a' + i % 26);
    snprintf(url + n, sizeof(url) - (size_t)n, "@host:5672/");
    urltext_mask(url, out, sizeof(out));
    ck_assert_str_eq(out, "amqp://u:***@host:5672/");
}
END_TEST

START_TEST(test_urltext_mask_splits_lists_on_any_scheme)
{
    /* An item's scheme may hold capitals, digits, '+', '-' and '.' (RFC 3986). */
    check_mask("amqp://a@b?x,S3://u:SECRETPASS@h", "amqp://a@b?x,S3://u:***@h");
    check_mask("amqp://u:p@h/,my-proto.v2+x://v:q@g/", "amqp://u:***@h/,my-proto.v2+x://v:***@g/");
    /* Not a scheme: the comma stays inside the one URL. */
    check_mask("mongodb://u:p@h1,2x://y/db", "mongodb://u:***@h1,2x://y/db");
}
END_TEST

START_TEST(test_urltext_path_is_the_database)
{
    static const struct {
        const char *url, *path;
    } cases[] = {
        {"mongodb://h/db", "db"},
        {"mongodb://u:p@h1:1,h2:2/activity_db?replicaSet=rs0", "activity_db"},
        {"mongodb://u:p/w@h/db", "db"},
        {"mongodb://h", ""},
        {"mongodb://h/", ""},
        {"mongodb://h/?w=1", ""},
        {"mongodb://h?x=/db", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len;
        const char *p = urltext_path(cases[i].url, &len);
        ck_assert_uint_eq(len, strlen(cases[i].path));
        ck_assert_int_eq(strncmp(p, cases[i].path, len), 0);
    }
}
END_TEST

static Suite *urltext_suite(void)
{
    Suite *s = suite_create("urltext");
    TCase *tc = tcase_create("mask");
    tcase_add_test(tc, test_urltext_mask_hides_password);
    tcase_add_test(tc, test_urltext_mask_keeps_urls_without_password);
    tcase_add_test(tc, test_urltext_mask_truncates);
    tcase_add_test(tc, test_urltext_mask_hides_a_long_password_whole);
    tcase_add_test(tc, test_urltext_mask_splits_lists_on_any_scheme);
    suite_add_tcase(s, tc);
    tc = tcase_create("path");
    tcase_add_test(tc, test_urltext_path_is_the_database);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(urltext_suite)
