/* SPDX-License-Identifier: MIT */
#include "api/client_addr.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "common/err.h"

#include "unit_main.h"

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

/* Appends word to a space-separated list in buf. */
static void append(char *buf, size_t len, const char *word)
{
    size_t at = strlen(buf);
    snprintf(buf + at, len - at, "%s%s", at ? " " : "", word);
}

/* Checks that the ranges parsed from list contain every address of `inside` and none of
 * `outside` (both space-separated). Compares "in: ... | out: ..." as the ranges sort the
 * addresses with what was expected, so a failure shows which address landed on the wrong side. */
static void expect_ranges(const char *list, const char *inside, const char *outside)
{
    client_cidrs_t *c = cidrs(list);
    char in[512] = "", out[512] = "", got[1100], want[1100];
    char words[1024];
    snprintf(words, sizeof(words), "%s %s", inside, outside);
    for (char *save = NULL, *w = strtok_r(words, " ", &save); w != NULL;
         w = strtok_r(NULL, " ", &save)) {
        client_addr_t a = addr(w);
        append(client_cidrs_contains(c, &a) ? in : out, sizeof(in), w);
    }
    client_cidrs_destroy(c);
    snprintf(got, sizeof(got), "%s: in: %s | out: %s", list, in, out);
    snprintf(want, sizeof(want), "%s: in: %s | out: %s", list, inside, outside);
    ck_assert_str_eq(got, want);
}

/* One request: TCP peer, X-Forwarded-For lines separated by '\n' (NULL for no header), and the
 * expected client. */
typedef struct hop_case {
    const char *peer;
    const char *xff;
    const char *client;
} hop_case_t;

/* Splits xff at each '\n' into lines pointing into it (no copy, so no line is NUL-terminated
 * at its length but the last). Returns the number of lines; *out is owned by the caller. */
static size_t split_lines(const char *xff, client_addr_xff_line_t **out)
{
    *out = NULL;
    if (xff == NULL)
        return 0;
    size_t n = 1;
    for (const char *p = xff; *p != '\0'; p++)
        n += *p == '\n';
    client_addr_xff_line_t *lines = calloc(n, sizeof(*lines));
    ck_assert_ptr_nonnull(lines);
    const char *start = xff;
    for (size_t i = 0; i < n; i++) {
        const char *nl = strchr(start, '\n');
        size_t len = nl ? (size_t)(nl - start) : strlen(start);
        lines[i] = (client_addr_xff_line_t){.base = start, .len = len};
        start += len + 1;
    }
    *out = lines;
    return n;
}

/* Writes a short form of xff into buf: lines joined with " | ", cut after 80 characters. */
static const char *shown(const char *xff, char *buf, size_t len)
{
    if (xff == NULL)
        return "no header";
    size_t at = 0, total = strlen(xff);
    for (size_t i = 0; i < total && i < 80 && at + 4 < len; i++) {
        if (xff[i] == '\n')
            at += (size_t)snprintf(buf + at, len - at, " | ");
        else
            buf[at++] = xff[i];
    }
    buf[at] = '\0';
    if (total > 80)
        snprintf(buf + at, len - at, "... (%zu bytes)", total);
    return buf;
}

/* Resolves every case with the trusted proxies parsed from list (NULL: no list at all). Each
 * comparison names its case and puts the result before the (shortened) header, so a failure
 * shows which case and what came out. */
static void expect_clients(const char *list, const hop_case_t *cases, size_t n)
{
    client_cidrs_t *trusted = list ? cidrs(list) : NULL;
    for (size_t i = 0; i < n; i++) {
        const hop_case_t *k = &cases[i];
        client_addr_t p = addr(k->peer), out;
        memset(&out, 0xa5, sizeof(out));
        client_addr_xff_line_t *lines;
        size_t nlines = split_lines(k->xff, &lines);
        client_addr_resolve_lines(&p, lines, nlines, trusted, &out);
        free(lines);
        char via[160], got[256], want[256];
        shown(k->xff, via, sizeof(via));
        snprintf(got, sizeof(got), "#%zu %s -> %s via [%s]", i, k->peer, text(&out), via);
        snprintf(want, sizeof(want), "#%zu %s -> %s via [%s]", i, k->peer, k->client, via);
        ck_assert_str_eq(got, want);
    }
    client_cidrs_destroy(trusted);
}

/* Returns an owned string: head, then times copies of unit, then tail. */
static char *repeat(const char *head, const char *unit, size_t times, const char *tail)
{
    size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
    char *s = malloc(hl + ul * times + tl + 1);
    ck_assert_ptr_nonnull(s);
    memcpy(s, head, hl);
    for (size_t i = 0; i < times; i++)
        memcpy(s + hl + i * ul, unit, ul);
    memcpy(s + hl + ul * times, tail, tl + 1);
    return s;
}

/* Returns an owned string: first, then n trusted proxies 10.0.1.1 ... 10.0.1.n, each preceded
 * by sep ("\n" gives one line per proxy). */
static char *chain(const char *first, unsigned n, const char *sep)
{
    size_t cap = strlen(first) + n * (strlen(sep) + 16) + 1, at = 0;
    char *s = malloc(cap);
    ck_assert_ptr_nonnull(s);
    at += (size_t)snprintf(s, cap, "%s", first);
    for (unsigned i = 1; i <= n; i++)
        at += (size_t)snprintf(s + at, cap - at, "%s10.0.%u.%u", sep, 1 + i / 256, i % 256);
    return s;
}

#define N_CASES(a) (sizeof(a) / sizeof((a)[0]))

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
    static const struct {
        const char *in;
        uint8_t len;
        const char *text;
    } good[] = {
        {"  192.0.2.1\t", 4, "192.0.2.1"},
        {" 2001:DB8:0:0::1 ", 16, "2001:db8::1"},
        {"::ffff:192.0.2.1", 4, "192.0.2.1"},
        {"::1", 16, "::1"},
        {"ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", 16,
         "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
    };
    for (size_t i = 0; i < N_CASES(good); i++) {
        client_addr_t a = addr(good[i].in);
        ck_assert_uint_eq(a.len, good[i].len);
        ck_assert_str_eq(text(&a), good[i].text);
    }
    /* Only the first len bytes are read. */
    client_addr_t a;
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
    char accepted[256] = ""; /* the inputs not refused with ERR_PARSE */
    for (size_t i = 0; i < N_CASES(bad); i++)
        if (client_addr_parse(bad[i], strlen(bad[i]), &a) != ERR_PARSE)
            append(accepted, sizeof(accepted), bad[i]);
    ck_assert_str_eq(accepted, "");
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
    expect_ranges("10.0.0.0/8, 192.168.1.7,fd00::/8 ,\t2001:db8::/32",
                  "10.1.2.3 192.168.1.7 fd12::1 2001:db8:ffff::1", "192.168.1.8 2001:db9::1");
    expect_ranges("", "", "10.0.0.1 ::1");
    expect_ranges("  ", "", "10.0.0.1");
    client_cidrs_destroy(NULL);
    client_addr_t a = addr("10.0.0.1");
    ck_assert_int_eq(client_cidrs_contains(NULL, &a), false);
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
    for (size_t i = 0; i < N_CASES(bad); i++) {
        client_cidrs_t *old = cidrs("10.0.0.0/8");
        client_cidrs_t *c = old; /* a failed parse must leave NULL, not a stale list */
        err_t err = {0};
        ck_assert_int_eq(client_cidrs_parse(bad[i].list, &c, &err), ERR_PARSE);
        ck_assert_ptr_null(c);
        client_cidrs_destroy(old);
        ck_assert_int_eq(err.code, ERR_PARSE);
        /* The message names the bad item; if it does not, the comparison prints it. */
        ck_assert_str_eq(strstr(err.msg, bad[i].named) ? bad[i].named : err.msg, bad[i].named);
    }
    client_cidrs_t *c = NULL;
    ck_assert_int_eq(client_cidrs_parse("nope", &c, NULL), ERR_PARSE);
    ck_assert_ptr_null(c);
}
END_TEST

START_TEST(test_client_addr_cidrs_contains_prefix_boundaries)
{
    /* A v4-mapped client (::ffff:10.9.9.9) is an IPv4 client. */
    expect_ranges("10.0.0.0/8, 192.168.1.0/25, 172.16.0.0/12, 198.51.100.7/32",
                  "10.0.0.0 10.255.255.255 192.168.1.127 172.31.255.255 198.51.100.7 "
                  "::ffff:10.9.9.9",
                  "11.0.0.0 9.255.255.255 192.168.1.128 172.32.0.0 172.15.255.255 198.51.100.6");
    expect_ranges("2001:db8:8000::/33, ::1/128",
                  "2001:db8:8000:: 2001:db8:ffff:ffff:ffff:ffff:ffff:ffff ::1",
                  "2001:db8:7fff:ffff:ffff:ffff:ffff:ffff ::2");
    /* Host bits in the network are cleared, as most tools do. */
    expect_ranges("10.1.2.3/8", "10.200.0.1", "");
}
END_TEST

START_TEST(test_client_addr_cidrs_families_are_not_mixed)
{
    expect_ranges("0.0.0.0/0", "1.2.3.4 255.255.255.255", "::1 2001:db8::1");
    expect_ranges("::/0", "2001:db8::1 ::", "1.2.3.4 ::ffff:1.2.3.4");
    /* A range written in v4-mapped form denotes the IPv4 range, since clients are keyed so. */
    expect_ranges("::ffff:10.0.0.0/104", "10.20.30.40", "11.0.0.0");
}
END_TEST

START_TEST(test_client_addr_key_masks_ipv6_to_the_prefix)
{
    static const struct {
        const char *in;
        unsigned prefix;
        const char *key;
    } cases[] = {
        {"2001:db8:1:2::1", 64, "2001:db8:1:2:: (16)"},
        {"2001:db8:1:2:ffff::9", 64, "2001:db8:1:2:: (16)"},
        {"2001:db8:1:2::1", 128, "2001:db8:1:2::1 (16)"},
        {"2001:db8:1:2:ffff::9", 128, "2001:db8:1:2:ffff::9 (16)"},
        {"2001:db8:1:2:ffff::9", 48, "2001:db8:1:: (16)"},
        {"2001:db8:1:ffff::", 48, "2001:db8:1:: (16)"},
        /* Not on a byte boundary: bit 33 is the top bit of the fifth byte. */
        {"2001:db8:ffff:1::", 33, "2001:db8:8000:: (16)"},
        {"2001:db8:7fff:ffff::1", 33, "2001:db8:: (16)"},
        {"2001:db8:ffff::1", 32, "2001:db8:: (16)"},
        {"2001:db8:1:2:3:4:5:ff", 127, "2001:db8:1:2:3:4:5:fe (16)"},
        /* IPv4, also when it arrived v4-mapped, is never masked. */
        {"192.0.2.1", 64, "192.0.2.1 (4)"},
        {"192.0.2.1", 32, "192.0.2.1 (4)"},
        {"::ffff:192.0.2.1", 64, "192.0.2.1 (4)"},
        /* IPv4-compatible (::a.b.c.d) is IPv6: it keeps 16 bytes. */
        {"::192.0.2.1", 128, "::192.0.2.1 (16)"},
        {"::1", 32, ":: (16)"},
    };
    for (size_t i = 0; i < N_CASES(cases); i++) {
        client_addr_t a = addr(cases[i].in), k;
        memset(&k, 0xa5, sizeof(k));
        client_addr_key(&a, cases[i].prefix, &k);
        char got[96], want[96];
        snprintf(got, sizeof(got), "%s/%u: %s (%u)", cases[i].in, cases[i].prefix, text(&k),
                 (unsigned)k.len);
        snprintf(want, sizeof(want), "%s/%u: %s", cases[i].in, cases[i].prefix, cases[i].key);
        ck_assert_str_eq(got, want);
    }
}
END_TEST

START_TEST(test_client_addr_key_groups_whole_structs)
{
    /* Keys are compared as whole structs (the limiter hashes all of it), so equal means equal
     * bytes, tails included. */
    static const struct {
        const char *a, *b;
        unsigned prefix;
        int same;
    } pairs[] = {
        {"2001:db8:1:2::1", "2001:db8:1:2:ffff::9", 64, 1},
        {"2001:db8:1:2::1", "2001:db8:1:2:ffff::9", 128, 0},
        {"2001:db8:1:2::1", "2001:db8:1:3::1", 64, 0},
        {"2001:db8:1:2::1", "2001:db8:1:3::1", 48, 1},
        {"2001:db8:8000::1", "2001:db8:ffff::1", 33, 1},
        {"2001:db8:8000::1", "2001:db8:7fff::1", 33, 0},
        {"192.0.2.1", "::ffff:192.0.2.1", 64, 1},
        {"192.0.2.1", "192.0.2.2", 32, 0},
        /* Never an IPv6 key equal to an IPv4 one, whatever the prefix. */
        {"0.0.0.0", "::", 32, 0},
        {"192.0.2.1", "::192.0.2.1", 128, 0},
        {"192.0.2.1", "c000:201::", 32, 0},
    };
    char wrong[512] = ""; /* the pairs on the wrong side */
    for (size_t i = 0; i < N_CASES(pairs); i++) {
        client_addr_t a = addr(pairs[i].a), b = addr(pairs[i].b), ka, kb;
        memset(&ka, 0x5a, sizeof(ka));
        memset(&kb, 0xa5, sizeof(kb));
        client_addr_key(&a, pairs[i].prefix, &ka);
        client_addr_key(&b, pairs[i].prefix, &kb);
        if ((memcmp(&ka, &kb, sizeof(ka)) == 0) != (pairs[i].same != 0)) {
            char w[128];
            snprintf(w, sizeof(w), "%s~%s/%u", pairs[i].a, pairs[i].b, pairs[i].prefix);
            append(wrong, sizeof(wrong), w);
        }
    }
    ck_assert_str_eq(wrong, "");
    /* The key may overwrite its address. */
    client_addr_t a = addr("2001:db8:1:2:3:4:5:6");
    client_addr_key(&a, 64, &a);
    ck_assert_str_eq(text(&a), "2001:db8:1:2::");
}
END_TEST

START_TEST(test_client_addr_resolve_untrusted_peer_ignores_xff)
{
    /* A client connecting directly cannot choose its key by sending the header. */
    static const hop_case_t direct[] = {
        {"203.0.113.9", "198.51.100.1", "203.0.113.9"},
        {"203.0.113.9", "10.0.0.5", "203.0.113.9"},
        {"203.0.113.9", "198.51.100.1\n10.0.0.5", "203.0.113.9"},
        {"2001:db8::9", "198.51.100.1", "2001:db8::9"},
    };
    expect_clients("10.0.0.0/8", direct, N_CASES(direct));
    /* With no trusted proxies at all, XFF never matters. */
    static const hop_case_t none[] = {{"10.0.0.1", "198.51.100.1", "10.0.0.1"}};
    expect_clients("", none, N_CASES(none));
    expect_clients(NULL, none, N_CASES(none));
}
END_TEST

START_TEST(test_client_addr_resolve_takes_rightmost_untrusted_hop)
{
    static const hop_case_t cases[] = {
        {"10.0.0.1", "203.0.113.9", "203.0.113.9"},
        {"10.0.0.1", "203.0.113.9, 10.0.0.2", "203.0.113.9"},
        /* A spoofed left part is skipped: the proxy appended the real client on the right. */
        {"10.0.0.1", "6.6.6.6, 203.0.113.9", "203.0.113.9"},
        {"10.0.0.1", "6.6.6.6, 10.0.0.3, 203.0.113.9, 10.0.0.2", "203.0.113.9"},
        /* Every hop trusted: the left-most one is the client. */
        {"10.0.0.1", "10.0.0.7, 10.0.0.3", "10.0.0.7"},
        {"10.0.0.1", "10.0.0.7\n10.0.0.3", "10.0.0.7"},
        /* IPv6 hops, mapped hops, tabs and missing spaces. */
        {"fd00::1", "2001:db8::42 ,\tfd00::2", "2001:db8::42"},
        {"::ffff:10.0.0.1", "::ffff:203.0.113.9,10.0.0.2", "203.0.113.9"},
        {"10.0.0.1", "2001:db8::42", "2001:db8::42"},
    };
    expect_clients("10.0.0.0/8, fd00::/8", cases, N_CASES(cases));
}
END_TEST

START_TEST(test_client_addr_resolve_walks_lines_from_the_last)
{
    static const hop_case_t cases[] = {
        /* The client's own line first, then the one the proxy added. */
        {"10.0.0.1", "6.6.6.6\n203.0.113.9", "203.0.113.9"},
        {"10.0.0.1", "6.6.6.6, 10.0.0.9\n203.0.113.9", "203.0.113.9"},
        /* Several trusted proxies, each adding its own line or appending to the last. */
        {"10.0.0.1", "6.6.6.6\n203.0.113.9\n10.0.0.3\n10.0.0.2", "203.0.113.9"},
        {"10.0.0.1", "6.6.6.6\n203.0.113.9, 10.0.0.3\n10.0.0.2", "203.0.113.9"},
        {"fd00::1", "6.6.6.6\n2001:db8::42\nfd00::3, 10.0.0.2", "2001:db8::42"},
        {"10.0.0.1", "10.0.0.7\n10.0.0.3\n10.0.0.2", "10.0.0.7"},
        /* Empty lines and empty entries are skipped, across lines too. */
        {"10.0.0.1", "6.6.6.6\n203.0.113.9,\n\n , 10.0.0.2,", "203.0.113.9"},
        {"10.0.0.1", "203.0.113.9\n\n", "203.0.113.9"},
        {"10.0.0.1", "\n\n", "10.0.0.1"},
        /* Garbage in a line ends the walk there, whichever line it is in. */
        {"10.0.0.1", "203.0.113.9\ngarbage\n10.0.0.2", "10.0.0.2"},
        {"10.0.0.1", "203.0.113.9, garbage\n10.0.0.2", "10.0.0.2"},
        {"10.0.0.1", "6.6.6.6\ngarbage", "10.0.0.1"},
    };
    expect_clients("10.0.0.0/8, fd00::/8", cases, N_CASES(cases));
}
END_TEST

START_TEST(test_client_addr_resolve_long_forged_line_cannot_hide_the_proxy)
{
    /* A client-written first line of ~1 KB or ~64 KB ending in a forged address, then the line
     * the proxy added. A buffer that joins the lines and drops what does not fit would key the
     * request as 6.6.6.6; the walk from the last line never reaches the forged one. */
    char *kb = repeat("", "1.1.1.1, ", 1014 / 9, "6.6.6.6");
    char *kb_trusted = repeat("", "1.1.1.1, ", 1014 / 9, "10.0.0.9");
    char *big = repeat("", "1.1.1.1, ", 65536 / 9, "6.6.6.6");
    char *one_token = repeat("", "A", 65536, "6.6.6.6");
    char *c1 = repeat(kb, "", 0, "\n203.0.113.9");
    char *c2 = repeat(kb_trusted, "", 0, "\n203.0.113.9");
    char *c3 = repeat(big, "", 0, "\n203.0.113.9\n10.0.0.2");
    char *c4 = repeat(one_token, "", 0, "\n203.0.113.9, 10.0.0.3");
    char *c5 = repeat(big, "", 0, ", 203.0.113.9"); /* appended to the client's line */
    /* A 64 KB entry of garbage as the last line: garbage never becomes a key. */
    char *c6 = repeat("203.0.113.9\n", "A", 65536, "");
    ck_assert_uint_ge(strlen(kb), 1000);
    ck_assert_uint_le(strlen(kb), 1024);
    hop_case_t cases[] = {
        {"10.0.0.1", c1, "203.0.113.9"}, {"10.0.0.1", c2, "203.0.113.9"},
        {"10.0.0.1", c3, "203.0.113.9"}, {"10.0.0.1", c4, "203.0.113.9"},
        {"10.0.0.1", c5, "203.0.113.9"}, {"10.0.0.1", c6, "10.0.0.1"},
    };
    expect_clients("10.0.0.0/8", cases, N_CASES(cases));
    char *all[] = {kb, kb_trusted, big, one_token, c1, c2, c3, c4, c5, c6};
    for (size_t i = 0; i < N_CASES(all); i++)
        free(all[i]);
}
END_TEST

START_TEST(test_client_addr_resolve_examines_at_most_64_entries)
{
    /* 1 client + 63 trusted entries: all examined. 1 + 64: the client is the 65th from the
     * right, never examined, so the left-most examined proxy (10.0.1.1) is the key. */
    char *in_line = chain("203.0.113.9", CLIENT_ADDR_XFF_MAX_ENTRIES - 1, ", ");
    char *past_line = chain("203.0.113.9", CLIENT_ADDR_XFF_MAX_ENTRIES, ", ");
    char *in_lines = chain("203.0.113.9", CLIENT_ADDR_XFF_MAX_ENTRIES - 1, "\n");
    char *past_lines = chain("203.0.113.9", CLIENT_ADDR_XFF_MAX_ENTRIES, "\n");
    char *mixed = chain("203.0.113.9", CLIENT_ADDR_XFF_MAX_ENTRIES, "\n, ");
    /* Empty entries and empty lines count: "a" + 63 commas + "b" is 64 entries. */
    char *empties_in = repeat("203.0.113.9", ",", CLIENT_ADDR_XFF_MAX_ENTRIES - 1, "10.0.0.2");
    char *empties_past = repeat("203.0.113.9", ",", CLIENT_ADDR_XFF_MAX_ENTRIES, "10.0.0.2");
    char *blank_in = repeat("203.0.113.9", "\n", CLIENT_ADDR_XFF_MAX_ENTRIES - 1, "10.0.0.2");
    char *blank_past = repeat("203.0.113.9", "\n", CLIENT_ADDR_XFF_MAX_ENTRIES, "10.0.0.2");
    /* Nothing but empty entries: nothing usable, the peer is the key. */
    char *only_empty = repeat("", " ,\n", 200, "");
    hop_case_t cases[] = {
        {"10.0.0.1", in_line, "203.0.113.9"},   {"10.0.0.1", past_line, "10.0.1.1"},
        {"10.0.0.1", in_lines, "203.0.113.9"},  {"10.0.0.1", past_lines, "10.0.1.1"},
        {"10.0.0.1", mixed, "10.0.1.33"},       {"10.0.0.1", empties_in, "203.0.113.9"},
        {"10.0.0.1", empties_past, "10.0.0.2"}, {"10.0.0.1", blank_in, "203.0.113.9"},
        {"10.0.0.1", blank_past, "10.0.0.2"},   {"10.0.0.1", only_empty, "10.0.0.1"},
    };
    expect_clients("10.0.0.0/8", cases, N_CASES(cases));
    char *all[] = {in_line,    past_line,    in_lines, blank_in,   past_lines,
                   empties_in, empties_past, mixed,    blank_past, only_empty};
    for (size_t i = 0; i < N_CASES(all); i++)
        free(all[i]);
}
END_TEST

START_TEST(test_client_addr_resolve_handles_missing_and_garbage_hops)
{
    static const hop_case_t cases[] = {
        {"10.0.0.1", NULL, "10.0.0.1"},
        {"10.0.0.1", "", "10.0.0.1"},
        {"10.0.0.1", " , ,", "10.0.0.1"},
        /* Empty list elements are ignored; spaces and tabs around an entry are trimmed. */
        {"10.0.0.1", "203.0.113.9,, 10.0.0.2,", "203.0.113.9"},
        {"10.0.0.1", " \t203.0.113.9 \t,\t10.0.0.2 ", "203.0.113.9"},
        /* An unparsable hop ends the walk; the last trusted address seen answers for it. */
        {"10.0.0.1", "garbage", "10.0.0.1"},
        {"10.0.0.1", "203.0.113.9, unknown", "10.0.0.1"},
        {"10.0.0.1", "203.0.113.9, garbage, 10.0.0.2", "10.0.0.2"},
        {"10.0.0.1", "203.0.113 .9, 10.0.0.2", "10.0.0.2"},
        {"10.0.0.1", "203.0.113.9 10.0.0.3, 10.0.0.2", "10.0.0.2"},
        /* Ports, brackets and zone indexes are not addresses (no proxy we trust writes them). */
        {"10.0.0.1", "1.2.3.4:5678, 10.0.0.2", "10.0.0.2"},
        {"10.0.0.1", "[2001:db8::1], 10.0.0.2", "10.0.0.2"},
        {"10.0.0.1", "[2001:db8::1]:443\n10.0.0.2", "10.0.0.2"},
        {"10.0.0.1", "fe80::1%eth0, 10.0.0.2", "10.0.0.2"},
        {"10.0.0.1", "203.0.113.9:5678", "10.0.0.1"},
        {"10.0.0.1", "_hidden, 10.0.0.2", "10.0.0.2"},
    };
    expect_clients("10.0.0.0/8", cases, N_CASES(cases));
}
END_TEST

START_TEST(test_client_addr_resolve_reads_only_the_given_bytes)
{
    client_cidrs_t *t = cidrs("10.0.0.0/8");
    client_addr_t p = addr("10.0.0.1"), out;
    static const char xff[] = "203.0.113.9, 10.0.0.2, 6.6.6.6";
    static const char nul[] = "203.0.113.9\0, 10.0.0.2"; /* a NUL never cuts an entry short */
    static const struct {
        client_addr_xff_line_t lines[3];
        size_t n;
        const char *client;
    } cases[] = {
        {{{xff, 21}}, 1, "203.0.113.9"},
        {{{xff, 21}, {xff + 23, 0}}, 2, "203.0.113.9"},
        {{{xff, 11}, {xff + 13, 8}}, 2, "203.0.113.9"},
        {{{nul, sizeof(nul) - 1}}, 1, "10.0.0.2"},
        {{{xff, 11}, {NULL, 0}, {NULL, 0}}, 3, "203.0.113.9"},
        {{{NULL, 0}}, 1, "10.0.0.1"},
        {{{xff, 11}}, 0, "10.0.0.1"},
    };
    for (size_t i = 0; i < N_CASES(cases); i++) {
        memset(&out, 0xa5, sizeof(out));
        client_addr_resolve_lines(&p, cases[i].lines, cases[i].n, t, &out);
        char got[64], want[64];
        snprintf(got, sizeof(got), "#%zu -> %s", i, text(&out));
        snprintf(want, sizeof(want), "#%zu -> %s", i, cases[i].client);
        ck_assert_str_eq(got, want);
    }
    client_addr_resolve_lines(&p, NULL, 0, t, &out);
    ck_assert_str_eq(text(&out), "10.0.0.1");
    /* The result may overwrite the peer. */
    client_addr_resolve_lines(&p, cases[0].lines, 1, t, &p);
    ck_assert_str_eq(text(&p), "203.0.113.9");
    client_cidrs_destroy(t);
}
END_TEST

/* Adds to s, and returns, a new TCase. */
static TCase *tcase_in(Suite *s, const char *name)
{
    TCase *tc = tcase_create(name);
    suite_add_tcase(s, tc);
    return tc;
}

static Suite *client_addr_suite(void)
{
    Suite *s = suite_create("client_addr");
    TCase *tc = tcase_in(s, "sockaddr");
    tcase_add_test(tc, test_client_addr_from_sockaddr_v4);
    tcase_add_test(tc, test_client_addr_from_sockaddr_v6_and_mapped);
    tcase_add_test(tc, test_client_addr_from_sockaddr_rejects_other_families);

    tc = tcase_in(s, "text");
    tcase_add_test(tc, test_client_addr_parse_accepts_both_families);
    tcase_add_test(tc, test_client_addr_parse_rejects_malformed);
    tcase_add_test(tc, test_client_addr_format_fits_the_longest);

    tc = tcase_in(s, "cidrs");
    tcase_add_test(tc, test_client_addr_cidrs_parse_accepts_lists);
    tcase_add_test(tc, test_client_addr_cidrs_parse_names_bad_items);
    tcase_add_test(tc, test_client_addr_cidrs_contains_prefix_boundaries);
    tcase_add_test(tc, test_client_addr_cidrs_families_are_not_mixed);

    tc = tcase_in(s, "key");
    tcase_add_test(tc, test_client_addr_key_masks_ipv6_to_the_prefix);
    tcase_add_test(tc, test_client_addr_key_groups_whole_structs);

    tc = tcase_in(s, "resolve");
    tcase_add_test(tc, test_client_addr_resolve_untrusted_peer_ignores_xff);
    tcase_add_test(tc, test_client_addr_resolve_takes_rightmost_untrusted_hop);
    tcase_add_test(tc, test_client_addr_resolve_walks_lines_from_the_last);
    tcase_add_test(tc, test_client_addr_resolve_long_forged_line_cannot_hide_the_proxy);
    tcase_add_test(tc, test_client_addr_resolve_examines_at_most_64_entries);
    tcase_add_test(tc, test_client_addr_resolve_handles_missing_and_garbage_hops);
    tcase_add_test(tc, test_client_addr_resolve_reads_only_the_given_bytes);
    return s;
}

UNIT_MAIN(client_addr_suite)
