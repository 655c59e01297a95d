/* SPDX-License-Identifier: MIT */
#include "api/client_addr.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "common/err.h"

/* Parses s, which must be valid, and returns the address. */
static client_addr_t addr(const char *s)
{
    client_addr_t a;
    ck_assert_int_eq(client_addr_parse(s, strlen(s), &a), 0);
    return a;
}

/* Returns the text of a in a static buffer (valid until the next call). */
static const char *text(const client_addr_t *a)
{
    static char buf[64];
    return client_addr_format(a, buf, sizeof(buf));
}

static client_cidrs_t *cidrs(const char *list)
{
    client_cidrs_t *c = NULL;
    err_t err = {0};
    ck_assert_int_eq(client_cidrs_parse(list, &c, &err), 0);
    ck_assert_ptr_nonnull(c);
    return c;
}

static bool contains(const client_cidrs_t *c, const char *s)
{
    client_addr_t a = addr(s);
    return client_cidrs_contains(c, &a);
}

/* Resolves with peer and xff (NULL for no header) and returns the client's text. */
static const char *resolve(const char *peer, const char *xff, const client_cidrs_t *trusted)
{
    client_addr_t p = addr(peer), out;
    memset(&out, 0xa5, sizeof(out));
    client_addr_resolve(&p, xff, xff ? strlen(xff) : 0, trusted, &out);
    return text(&out);
}

START_TEST(test_client_addr_from_sockaddr_v4)
{
    struct sockaddr_in in4 = {.sin_family = AF_INET, .sin_port = htons(8080)};
    ck_assert_int_eq(inet_pton(AF_INET, "203.0.113.9", &in4.sin_addr), 1);
    client_addr_t a;
    ck_assert_int_eq(client_addr_from_sockaddr((struct sockaddr *)&in4, sizeof(in4), &a), 0);
    ck_assert_uint_eq(a.len, 4);
    ck_assert_mem_eq(a.bytes, ((const uint8_t[]){203, 0, 113, 9}), 4);
    ck_assert_str_eq(text(&a), "203.0.113.9");
    ck_assert_int_eq(client_addr_from_sockaddr((struct sockaddr *)&in4, sizeof(in4) - 1, &a),
                     ERR_INVAL);
}
END_TEST

START_TEST(test_client_addr_from_sockaddr_v6_and_mapped)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    in6->sin6_family = AF_INET6;
    ck_assert_int_eq(inet_pton(AF_INET6, "2001:db8::7", &in6->sin6_addr), 1);
    client_addr_t a;
    ck_assert_int_eq(client_addr_from_sockaddr((struct sockaddr *)&ss, sizeof(ss), &a), 0);
    ck_assert_uint_eq(a.len, 16);
    ck_assert_str_eq(text(&a), "2001:db8::7");

    /* A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d: keyed as plain IPv4. */
    ck_assert_int_eq(inet_pton(AF_INET6, "::ffff:198.51.100.4", &in6->sin6_addr), 1);
    ck_assert_int_eq(client_addr_from_sockaddr((struct sockaddr *)in6, sizeof(*in6), &a), 0);
    ck_assert_uint_eq(a.len, 4);
    ck_assert_str_eq(text(&a), "198.51.100.4");
    client_addr_t b = addr("198.51.100.4");
    ck_assert_mem_eq(&a, &b, sizeof(a));

    ck_assert_int_eq(
        client_addr_from_sockaddr((struct sockaddr *)in6, sizeof(struct sockaddr_in), &a),
        ERR_INVAL);
}
END_TEST

START_TEST(test_client_addr_from_sockaddr_rejects_other_families)
{
    struct sockaddr_un un = {.sun_family = AF_UNIX, .sun_path = "/tmp/s"};
    client_addr_t a;
    ck_assert_int_eq(client_addr_from_sockaddr((struct sockaddr *)&un, sizeof(un), &a), ERR_INVAL);
    ck_assert_int_eq(client_addr_from_sockaddr(NULL, 0, &a), ERR_INVAL);
    ck_assert_int_eq(client_addr_from_sockaddr((struct sockaddr *)&un, 1, &a), ERR_INVAL);
}
END_TEST

START_TEST(test_client_addr_parse_accepts_both_families)
{
    client_addr_t a = addr("  192.0.2.1\t");
    ck_assert_uint_eq(a.len, 4);
    ck_assert_str_eq(text(&a), "192.0.2.1");
    a = addr(" 2001:DB8:0:0::1 ");
    ck_assert_uint_eq(a.len, 16);
    ck_assert_str_eq(text(&a), "2001:db8::1");
    a = addr("::ffff:192.0.2.1");
    ck_assert_uint_eq(a.len, 4);
    ck_assert_str_eq(text(&a), "192.0.2.1");
    a = addr("::1");
    ck_assert_str_eq(text(&a), "::1");
    a = addr("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255");
    ck_assert_uint_eq(a.len, 16);
    /* Only the first len bytes are read. */
    ck_assert_int_eq(client_addr_parse("10.0.0.1junk", 8, &a), 0);
    ck_assert_str_eq(text(&a), "10.0.0.1");
}
END_TEST

START_TEST(test_client_addr_parse_rejects_malformed)
{
    static const char *bad[] = {"",
                                "   ",
                                "abc",
                                "1.2.3",
                                "1.2.3.4.5",
                                "256.1.1.1",
                                "01.2.3.4",
                                "0x7f.0.0.1",
                                "1.2.3.4:80",
                                "[2001:db8::1]",
                                "fe80::1%eth0",
                                "1.2.3.4/8",
                                "2001:db8:::1",
                                "1 .2.3.4",
                                "unknown",
                                "_hidden"};
    client_addr_t a;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(client_addr_parse(bad[i], strlen(bad[i]), &a) == ERR_PARSE,
                      "\"%s\" was accepted", bad[i]);
    /* An embedded NUL must not cut the text short into something valid. */
    ck_assert_int_eq(client_addr_parse("1.2.3.4\0junk", 12, &a), ERR_PARSE);
    char longer[200];
    memset(longer, '1', sizeof(longer));
    ck_assert_int_eq(client_addr_parse(longer, sizeof(longer), &a), ERR_PARSE);
    ck_assert_int_eq(client_addr_parse(NULL, 0, &a), ERR_PARSE);
}
END_TEST

START_TEST(test_client_addr_format_fits_the_longest)
{
    client_addr_t a = addr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
    char buf[46];
    ck_assert_ptr_eq(client_addr_format(&a, buf, sizeof(buf)), buf);
    ck_assert_str_eq(buf, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
    char tiny[4];
    ck_assert_str_eq(client_addr_format(&a, tiny, sizeof(tiny)), "");
}
END_TEST

START_TEST(test_client_addr_cidrs_parse_accepts_lists)
{
    client_cidrs_t *c = cidrs("10.0.0.0/8, 192.168.1.7,fd00::/8 ,\t2001:db8::/32");
    ck_assert(contains(c, "10.1.2.3"));
    ck_assert(contains(c, "192.168.1.7"));
    ck_assert(!contains(c, "192.168.1.8"));
    ck_assert(contains(c, "fd12::1"));
    ck_assert(contains(c, "2001:db8:ffff::1"));
    ck_assert(!contains(c, "2001:db9::1"));
    client_cidrs_destroy(c);

    c = cidrs("");
    ck_assert(!contains(c, "10.0.0.1"));
    ck_assert(!contains(c, "::1"));
    client_cidrs_destroy(c);
    c = cidrs("  ");
    ck_assert(!contains(c, "10.0.0.1"));
    client_cidrs_destroy(c);
    client_cidrs_destroy(NULL);
    client_addr_t a = addr("10.0.0.1");
    ck_assert(!client_cidrs_contains(NULL, &a));
}
END_TEST

START_TEST(test_client_addr_cidrs_parse_names_bad_items)
{
    static const struct {
        const char *list;
        const char *named;
    } bad[] = {
        {"10.0.0.0/33", "\"10.0.0.0/33\""},
        {"abc", "\"abc\""},
        {"1.2.3.4/", "\"1.2.3.4/\""},
        {"10.0.0.0/8, ::/129", "\"::/129\""},
        {"1.2.3.4/-1", "\"1.2.3.4/-1\""},
        {"1.2.3.4/ 8", "\"1.2.3.4/ 8\""},
        {"1.2.3.4/0008", "\"1.2.3.4/0008\""},
        {"/8", "\"/8\""},
        {"10.0.0.0/8 192.168.0.0/16", "\"10.0.0.0/8 192.168.0.0/16\""},
        {"10.0.0.0/8,,192.168.0.0/16", "empty item 2"},
        {"10.0.0.0/8,", "empty item 2"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        client_cidrs_t *old = cidrs("10.0.0.0/8");
        client_cidrs_t *c = old; /* a failed parse must leave NULL, not a stale list */
        err_t err = {0};
        ck_assert_int_eq(client_cidrs_parse(bad[i].list, &c, &err), ERR_PARSE);
        ck_assert_ptr_null(c);
        client_cidrs_destroy(old);
        ck_assert_int_eq(err.code, ERR_PARSE);
        ck_assert_msg(strstr(err.msg, bad[i].named) != NULL, "\"%s\": message \"%s\"", bad[i].list,
                      err.msg);
    }
    client_cidrs_t *c = NULL;
    ck_assert_int_eq(client_cidrs_parse("nope", &c, NULL), ERR_PARSE);
    ck_assert_ptr_null(c);
}
END_TEST

START_TEST(test_client_addr_cidrs_contains_prefix_boundaries)
{
    client_cidrs_t *c = cidrs("10.0.0.0/8, 192.168.1.0/25, 172.16.0.0/12, 198.51.100.7/32");
    ck_assert(contains(c, "10.0.0.0"));
    ck_assert(contains(c, "10.255.255.255"));
    ck_assert(!contains(c, "11.0.0.0"));
    ck_assert(!contains(c, "9.255.255.255"));
    ck_assert(contains(c, "192.168.1.127"));
    ck_assert(!contains(c, "192.168.1.128"));
    ck_assert(contains(c, "172.31.255.255"));
    ck_assert(!contains(c, "172.32.0.0"));
    ck_assert(!contains(c, "172.15.255.255"));
    ck_assert(contains(c, "198.51.100.7"));
    ck_assert(!contains(c, "198.51.100.6"));
    ck_assert(contains(c, "::ffff:10.9.9.9")); /* a mapped client is an IPv4 client */
    client_cidrs_destroy(c);

    c = cidrs("2001:db8:8000::/33, ::1/128");
    ck_assert(contains(c, "2001:db8:8000::"));
    ck_assert(contains(c, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
    ck_assert(!contains(c, "2001:db8:7fff:ffff:ffff:ffff:ffff:ffff"));
    ck_assert(contains(c, "::1"));
    ck_assert(!contains(c, "::2"));
    client_cidrs_destroy(c);

    /* Host bits in the network are cleared, as most tools do. */
    c = cidrs("10.1.2.3/8");
    ck_assert(contains(c, "10.200.0.1"));
    client_cidrs_destroy(c);
}
END_TEST

START_TEST(test_client_addr_cidrs_families_are_not_mixed)
{
    client_cidrs_t *c = cidrs("0.0.0.0/0");
    ck_assert(contains(c, "1.2.3.4"));
    ck_assert(contains(c, "255.255.255.255"));
    ck_assert(!contains(c, "::1"));
    ck_assert(!contains(c, "2001:db8::1"));
    client_cidrs_destroy(c);

    c = cidrs("::/0");
    ck_assert(contains(c, "2001:db8::1"));
    ck_assert(contains(c, "::"));
    ck_assert(!contains(c, "1.2.3.4"));
    ck_assert(!contains(c, "::ffff:1.2.3.4"));
    client_cidrs_destroy(c);

    /* A range written in v4-mapped form denotes the IPv4 range, since clients are keyed so. */
    c = cidrs("::ffff:10.0.0.0/104");
    ck_assert(contains(c, "10.20.30.40"));
    ck_assert(!contains(c, "11.0.0.0"));
    client_cidrs_destroy(c);
}
END_TEST

START_TEST(test_client_addr_resolve_untrusted_peer_ignores_xff)
{
    client_cidrs_t *t = cidrs("10.0.0.0/8");
    /* A client connecting directly cannot choose its key by sending the header. */
    ck_assert_str_eq(resolve("203.0.113.9", "198.51.100.1", t), "203.0.113.9");
    ck_assert_str_eq(resolve("203.0.113.9", "10.0.0.5", t), "203.0.113.9");
    ck_assert_str_eq(resolve("2001:db8::9", "198.51.100.1", t), "2001:db8::9");
    /* With no trusted proxies at all, XFF never matters. */
    client_cidrs_t *none = cidrs("");
    ck_assert_str_eq(resolve("10.0.0.1", "198.51.100.1", none), "10.0.0.1");
    ck_assert_str_eq(resolve("10.0.0.1", "198.51.100.1", NULL), "10.0.0.1");
    client_cidrs_destroy(none);
    client_cidrs_destroy(t);
}
END_TEST

START_TEST(test_client_addr_resolve_takes_rightmost_untrusted_hop)
{
    client_cidrs_t *t = cidrs("10.0.0.0/8, fd00::/8");
    ck_assert_str_eq(resolve("10.0.0.1", "203.0.113.9", t), "203.0.113.9");
    ck_assert_str_eq(resolve("10.0.0.1", "203.0.113.9, 10.0.0.2", t), "203.0.113.9");
    /* A spoofed left part is skipped: the proxy appended the real client on the right. */
    ck_assert_str_eq(resolve("10.0.0.1", "6.6.6.6, 203.0.113.9", t), "203.0.113.9");
    ck_assert_str_eq(resolve("10.0.0.1", "6.6.6.6, 10.0.0.3, 203.0.113.9, 10.0.0.2", t),
                     "203.0.113.9");
    /* Every hop trusted: the left-most one is the client. */
    ck_assert_str_eq(resolve("10.0.0.1", "10.0.0.7, 10.0.0.3", t), "10.0.0.7");
    /* IPv6 hops, mapped hops, tabs and missing spaces. */
    ck_assert_str_eq(resolve("fd00::1", "2001:db8::42 ,\tfd00::2", t), "2001:db8::42");
    ck_assert_str_eq(resolve("::ffff:10.0.0.1", "::ffff:203.0.113.9,10.0.0.2", t), "203.0.113.9");
    ck_assert_str_eq(resolve("10.0.0.1", "2001:db8::42", t), "2001:db8::42");
    client_cidrs_destroy(t);
}
END_TEST

START_TEST(test_client_addr_resolve_handles_missing_and_garbage_hops)
{
    client_cidrs_t *t = cidrs("10.0.0.0/8");
    ck_assert_str_eq(resolve("10.0.0.1", NULL, t), "10.0.0.1");
    ck_assert_str_eq(resolve("10.0.0.1", "", t), "10.0.0.1");
    ck_assert_str_eq(resolve("10.0.0.1", " , ,", t), "10.0.0.1");
    /* Empty list elements are ignored. */
    ck_assert_str_eq(resolve("10.0.0.1", "203.0.113.9,, 10.0.0.2,", t), "203.0.113.9");
    /* An unparsable hop ends the walk; the last trusted address seen answers for it. */
    ck_assert_str_eq(resolve("10.0.0.1", "garbage", t), "10.0.0.1");
    ck_assert_str_eq(resolve("10.0.0.1", "203.0.113.9, unknown", t), "10.0.0.1");
    ck_assert_str_eq(resolve("10.0.0.1", "203.0.113.9, garbage, 10.0.0.2", t), "10.0.0.2");
    ck_assert_str_eq(resolve("10.0.0.1", "1.2.3.4:5678, 10.0.0.2", t), "10.0.0.2");
    ck_assert_str_eq(resolve("10.0.0.1", "[2001:db8::1], 10.0.0.2", t), "10.0.0.2");
    /* Only xff_len bytes are read. */
    client_addr_t p = addr("10.0.0.1"), out;
    const char *xff = "203.0.113.9, 10.0.0.2, 6.6.6.6";
    client_addr_resolve(&p, xff, strlen("203.0.113.9, 10.0.0.2"), t, &out);
    ck_assert_str_eq(text(&out), "203.0.113.9");
    client_cidrs_destroy(t);
}
END_TEST

static Suite *client_addr_suite(void)
{
    Suite *s = suite_create("client_addr");

    TCase *sa = tcase_create("sockaddr");
    tcase_add_test(sa, test_client_addr_from_sockaddr_v4);
    tcase_add_test(sa, test_client_addr_from_sockaddr_v6_and_mapped);
    tcase_add_test(sa, test_client_addr_from_sockaddr_rejects_other_families);
    suite_add_tcase(s, sa);

    TCase *text_tc = tcase_create("text");
    tcase_add_test(text_tc, test_client_addr_parse_accepts_both_families);
    tcase_add_test(text_tc, test_client_addr_parse_rejects_malformed);
    tcase_add_test(text_tc, test_client_addr_format_fits_the_longest);
    suite_add_tcase(s, text_tc);

    TCase *cidr = tcase_create("cidrs");
    tcase_add_test(cidr, test_client_addr_cidrs_parse_accepts_lists);
    tcase_add_test(cidr, test_client_addr_cidrs_parse_names_bad_items);
    tcase_add_test(cidr, test_client_addr_cidrs_contains_prefix_boundaries);
    tcase_add_test(cidr, test_client_addr_cidrs_families_are_not_mixed);
    suite_add_tcase(s, cidr);

    TCase *res = tcase_create("resolve");
    tcase_add_test(res, test_client_addr_resolve_untrusted_peer_ignores_xff);
    tcase_add_test(res, test_client_addr_resolve_takes_rightmost_untrusted_hop);
    tcase_add_test(res, test_client_addr_resolve_handles_missing_and_garbage_hops);
    suite_add_tcase(s, res);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(client_addr_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
