/* SPDX-License-Identifier: MIT */
#include "common/brokerurl.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "unit_main.h"

typedef struct good_case {
    const char *url;
    const char *host, *user, *password, *vhost;
    unsigned port;
} good_case_t;

static const good_case_t good[] = {
    {"amqp://guest:guest@127.0.0.1:5672/", "127.0.0.1", "guest", "guest", "/", 5672},
    {"amqp://h", "h", "guest", "guest", "/", 5672},
    {"amqp://u@h:1/", "h", "u", "guest", "/", 1},
    {"amqp://u:p@rabbit-2:5673/%2f", "rabbit-2", "u", "p", "/", 5673},
    {"amqp://u:p%40ss%3A%2F@h/vh", "h", "u", "p@ss:/", "vh", 5672},
    {"amqp://u:p@ss@h:65535/a%2Fb", "h", "u", "p@ss", "a/b", 65535},
    {"amqp://[::1]:5680/", "::1", "guest", "guest", "/", 5680},
    {"amqp://[fd00::7]", "fd00::7", "guest", "guest", "/", 5672},
    {"amqp://a%20b:c@h/", "h", "a b", "c", "/", 5672},
};

START_TEST(test_brokerurl_parse_accepts_and_decodes)
{
    const good_case_t *c = &good[_i];
    brokerurl_t u;
    err_t err = {0};
    ck_assert_int_eq(brokerurl_parse(c->url, strlen(c->url), &u, &err), 0);
    ck_assert_str_eq(u.host, c->host);
    ck_assert_str_eq(u.user, c->user);
    ck_assert_str_eq(u.password, c->password);
    ck_assert_str_eq(u.vhost, c->vhost);
    ck_assert_uint_eq(u.port, c->port);
}
END_TEST

typedef struct bad_case {
    const char *url;
    const char *msg; /* a part of the message */
} bad_case_t;

static const bad_case_t bad[] = {
    {"amqp://nohost:1:2:3", "port"},
    {"amqp://h:0/", "port"},
    {"amqp://h:65536/", "port"},
    {"amqp://h:/", "port"},
    {"amqp://h:5x/", "port"},
    {"amqps://h/", "TLS"},
    {"http://h/", "amqp://"},
    {"amqp:/h", "amqp://"},
    {"", "amqp://"},
    {"amqp://", "host is empty"},
    {"amqp://u:p@/", "host is empty"},
    {"amqp://u:p@:5672/", "host is empty"},
    {"amqp://h/?heartbeat=5", "query"},
    {"amqp://h/#x", "query"},
    {"amqp://[::1/", "']'"},
    {"amqp://[::1]x/", ":port"},
    {"amqp://u:p%4@h/", "percent"},
    {"amqp://u:p%zz@h/", "percent"},
    {"amqp://u:p%00@h/", "percent"},
};

START_TEST(test_brokerurl_parse_rejects_with_reason)
{
    const bad_case_t *c = &bad[_i];
    brokerurl_t u;
    err_t err = {0};
    ck_assert_int_eq(brokerurl_parse(c->url, strlen(c->url), &u, &err), ERR_PARSE);
    ck_assert_ptr_nonnull(strstr(err.msg, c->msg));
}
END_TEST

START_TEST(test_brokerurl_parse_never_quotes_the_password)
{
    const char *url = "amqp://u:s3cret%zz@h/";
    brokerurl_t u;
    err_t err = {0};
    ck_assert_int_eq(brokerurl_parse(url, strlen(url), &u, &err), ERR_PARSE);
    ck_assert_ptr_null(strstr(err.msg, "s3cret"));
}
END_TEST

START_TEST(test_brokerurl_parse_bounds_each_part)
{
    char url[1200] = "amqp://";
    memset(url + 7, 'a', 300);
    url[307] = '\0';
    brokerurl_t u;
    err_t err = {0};
    ck_assert_int_eq(brokerurl_parse(url, strlen(url), &u, &err), ERR_PARSE);
    ck_assert_ptr_nonnull(strstr(err.msg, "longer"));
}
END_TEST

START_TEST(test_brokerurl_list_keeps_order_and_trims)
{
    brokerurl_list_t l;
    err_t err = {0};
    ck_assert_int_eq(
        brokerurl_parse_list("amqp://a:5672/, amqp://b:5673/ ,amqp://[::1]:5674/", 16, &l, &err),
        0);
    ck_assert_uint_eq(l.count, 3);
    ck_assert_str_eq(l.urls[0].host, "a");
    ck_assert_str_eq(l.urls[1].host, "b");
    ck_assert_uint_eq(l.urls[1].port, 5673);
    ck_assert_str_eq(l.urls[2].host, "::1");
    ck_assert_int_eq(brokerurl_parse_list("amqp://one/", 1, &l, &err), 0);
    ck_assert_uint_eq(l.count, 1);
}
END_TEST

START_TEST(test_brokerurl_list_rejects_empty_items_and_too_many)
{
    brokerurl_list_t l;
    err_t err = {0};
    ck_assert_int_eq(brokerurl_parse_list("", 16, &l, &err), ERR_RANGE);
    ck_assert_int_eq(brokerurl_parse_list("amqp://a/,", 16, &l, &err), ERR_RANGE);
    ck_assert_ptr_nonnull(strstr(err.msg, "URL 2"));
    ck_assert_int_eq(brokerurl_parse_list("amqp://a/, ,amqp://b/", 16, &l, &err), ERR_RANGE);
    ck_assert_int_eq(brokerurl_parse_list("amqp://a/,amqp://b/", 1, &l, &err), ERR_RANGE);
    ck_assert_ptr_nonnull(strstr(err.msg, "more than 1"));
    ck_assert_int_eq(brokerurl_parse_list("amqp://a/,amqp://b:x/", 16, &l, &err), ERR_PARSE);
    ck_assert_ptr_nonnull(strstr(err.msg, "URL 2: the port"));
}
END_TEST

START_TEST(test_brokerurl_format_addr_shows_no_credentials)
{
    static const struct {
        const char *url, *want;
    } cases[] = {
        {"amqp://u:p@rabbit-1:5672/", "rabbit-1:5672"},
        {"amqp://u:p@[::1]:5680/", "[::1]:5680"},
        {"amqp://u:p@h/prod", "h:5672/prod"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        brokerurl_t u;
        ck_assert_int_eq(brokerurl_parse(cases[i].url, strlen(cases[i].url), &u, NULL), 0);
        char buf[300];
        brokerurl_format_addr(&u, buf, sizeof(buf));
        ck_assert_str_eq(buf, cases[i].want);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("brokerurl");
    TCase *one = tcase_create("parse");
    tcase_add_loop_test(one, test_brokerurl_parse_accepts_and_decodes, 0,
                        (int)(sizeof(good) / sizeof(good[0])));
    tcase_add_loop_test(one, test_brokerurl_parse_rejects_with_reason, 0,
                        (int)(sizeof(bad) / sizeof(bad[0])));
    tcase_add_test(one, test_brokerurl_parse_never_quotes_the_password);
    tcase_add_test(one, test_brokerurl_parse_bounds_each_part);
    suite_add_tcase(s, one);
    TCase *list = tcase_create("list");
    tcase_add_test(list, test_brokerurl_list_keeps_order_and_trims);
    tcase_add_test(list, test_brokerurl_list_rejects_empty_items_and_too_many);
    tcase_add_test(list, test_brokerurl_format_addr_shows_no_credentials);
    suite_add_tcase(s, list);
    return s;
}

UNIT_MAIN(suite)
