/* SPDX-License-Identifier: MIT */
#include "common/utf8.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "unit_main.h"

typedef struct check_case {
    const char *name;
    const char *in; /* NUL-terminated; embedded NULs are not needed here */
    size_t bad_at;  /* expected result; strlen(in) when well-formed */
} check_case_t;

#define OK ((size_t)-1) /* stands for strlen(in) */

static const check_case_t check_cases[] = {
    {"ASCII", "abc", OK},
    {"two, three and four bytes", "\xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80", OK},
    {"lowest and highest of each length",
     "\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80"
     "\xf4\x8f\xbf\xbf",
     OK},
    {"just below the surrogates", "\xed\x9f\xbf", OK},
    {"lone continuation byte", "ab\x80", 2},
    {"byte FF", "ab\xff", 2},
    {"byte F5", "ab\xf5\x80\x80\x80", 2},
    {"overlong two bytes", "ab\xc0\x80", 2},
    {"overlong C1", "ab\xc1\xbf", 2},
    {"overlong three bytes", "ab\xe0\x9f\xbf", 2},
    {"overlong four bytes", "ab\xf0\x8f\xbf\xbf", 2},
    {"surrogate", "ab\xed\xa0\x80", 2},
    {"above U+10FFFF", "ab\xf4\x90\x80\x80", 2},
    {"truncated", "ab\xe6\x97", 2},
    {"truncated before ASCII", "ab\xe6\x97x", 2},
    {"bad third byte", "ab\xe6\x97\x41", 2},
    {"bad fourth byte", "ab\xf0\x9f\x98\xc0", 2},
    {"error after good text", "\xc3\xa9\xc3", 2},
};

START_TEST(test_utf8_invalid_at_finds_the_first_bad_byte)
{
    const check_case_t *c = &check_cases[_i];
    size_t len = strlen(c->in);
    size_t want = c->bad_at == OK ? len : c->bad_at;
    ck_assert_uint_eq(utf8_invalid_at((const unsigned char *)c->in, len), want);
}
END_TEST

START_TEST(test_utf8_invalid_at_takes_nul_and_empty)
{
    static const unsigned char nul[] = {'a', 0, 'b', 0};
    ck_assert_uint_eq(utf8_invalid_at(nul, sizeof(nul)), sizeof(nul));
    ck_assert_uint_eq(utf8_invalid_at(NULL, 0), 0);
    /* Only len bytes are read: a sequence cut by len is bad even if the bytes after it are fine. */
    static const unsigned char cut[] = {'x', 0xc3, 0xa9};
    ck_assert_uint_eq(utf8_invalid_at(cut, 2), 1);
}
END_TEST

START_TEST(test_utf8_seq_len_measures_one_sequence)
{
    static const struct {
        const char *s;
        size_t n, want;
    } cases[] = {
        {"a", 1, 1},
        {"\xc3\xa9", 2, 2},
        {"\xe2\x82\xac", 3, 3},
        {"\xf0\x9f\x98\x80", 4, 4},
        {"\xc3", 1, 0},
        {"\x80", 1, 0},
        {"\xc0\xaf", 2, 0},
        {"\xed\xa0\x80", 3, 0},
        {"\xf4\x90\x80\x80", 4, 0},
        {"\xe2\x82", 2, 0},
        {"", 0, 0},
        {"\xff", 1, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        ck_assert_uint_eq(utf8_seq_len((const unsigned char *)cases[i].s, cases[i].n),
                          cases[i].want);
}
END_TEST

START_TEST(test_utf8_next_decodes_each_length)
{
    static const unsigned char s[] = "a\xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80";
    static const uint32_t want[] = {'a', 0xe9, 0x65e5, 0x1f600};
    static const size_t after[] = {1, 3, 6, 10};
    size_t i = 0;
    for (size_t k = 0; k < 4; k++) {
        ck_assert_uint_eq(utf8_next(s, sizeof(s) - 1, &i), want[k]);
        ck_assert_uint_eq(i, after[k]);
    }
}
END_TEST

START_TEST(test_utf8_next_replaces_what_it_cannot_decode)
{
    static const unsigned char s[] = "\x80\xc1\xe6\x97";
    size_t i = 0;
    ck_assert_uint_eq(utf8_next(s, 4, &i), 0xfffd); /* continuation byte */
    ck_assert_uint_eq(i, 1);
    ck_assert_uint_eq(utf8_next(s, 4, &i), 0xfffd); /* C1 cannot start a sequence */
    ck_assert_uint_eq(i, 2);
    ck_assert_uint_eq(utf8_next(s, 4, &i), 0xfffd); /* cut short by len */
    ck_assert_uint_eq(i, 3);
}
END_TEST

START_TEST(test_utf8_encode_round_trips)
{
    static const uint32_t cps[] = {0,      0x7f,   0x80,   0x7ff,   0x800,
                                   0xd7ff, 0xe000, 0xffff, 0x10000, 0x10ffff};
    static const size_t lens[] = {1, 1, 2, 2, 3, 3, 3, 3, 4, 4};
    for (size_t k = 0; k < sizeof(cps) / sizeof(cps[0]); k++) {
        char out[UTF8_SEQ_MAX];
        size_t n = utf8_encode(cps[k], out);
        ck_assert_uint_eq(n, lens[k]);
        ck_assert_uint_eq(utf8_invalid_at((const unsigned char *)out, n), n);
        size_t i = 0;
        ck_assert_uint_eq(utf8_next((const unsigned char *)out, n, &i), cps[k]);
        ck_assert_uint_eq(i, n);
    }
}
END_TEST

static Suite *utf8_suite(void)
{
    Suite *s = suite_create("utf8");
    TCase *tc;

    tc = tcase_create("check");
    tcase_add_loop_test(tc, test_utf8_invalid_at_finds_the_first_bad_byte, 0,
                        (int)(sizeof(check_cases) / sizeof(check_cases[0])));
    tcase_add_test(tc, test_utf8_invalid_at_takes_nul_and_empty);
    tcase_add_test(tc, test_utf8_seq_len_measures_one_sequence);
    suite_add_tcase(s, tc);

    tc = tcase_create("code points");
    tcase_add_test(tc, test_utf8_next_decodes_each_length);
    tcase_add_test(tc, test_utf8_next_replaces_what_it_cannot_decode);
    tcase_add_test(tc, test_utf8_encode_round_trips);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(utf8_suite)
