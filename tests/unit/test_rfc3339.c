/* SPDX-License-Identifier: MIT */
#include "common/rfc3339.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "unit_main.h"

typedef struct valid_case {
    const char *in;
    int64_t ms;
} valid_case_t;

/* Expected values computed independently (Python's datetime). */
static const valid_case_t valid_cases[] = {
    {"1970-01-01T00:00:00Z", 0},
    {"1970-01-01T00:00:00.000Z", 0},
    {"2023-10-27T10:00:00Z", 1698400800000},
    {"2023-10-27t10:00:00z", 1698400800000},
    {"2023-10-27T10:00:00.123Z", 1698400800123},
    {"2023-10-27T10:00:00.1Z", 1698400800100},
    {"2023-10-27T10:00:00.12Z", 1698400800120},
    {"2023-10-27T10:00:00.1239Z", 1698400800123},
    {"2023-10-27T10:00:00.123456789Z", 1698400800123},
    {"2023-10-27T10:00:00.12345678901234567890Z", 1698400800123},
    {"2023-10-27T10:00:00-00:00", 1698400800000},
    {"2023-10-27T12:00:00+02:00", 1698400800000},
    {"2023-10-27T05:30:00-04:30", 1698400800000},
    {"2023-10-27T10:00:00.123+00:00", 1698400800123},
    {"2023-10-27T10:00:00+23:59", 1698314460000},
    {"2023-10-27T10:00:00-23:59", 1698487140000},
    {"1985-04-12T23:20:50.52Z", 482196050520},
    /* Offsets that move the instant across midnight and the year boundary. */
    {"2000-01-01T00:30:00+01:00", 946683000000},
    {"1999-12-31T23:30:00-01:00", 946686600000},
    /* Leap years: divisible by 4, except centuries, except every 400 years. */
    {"2000-02-29T00:00:00Z", 951782400000},
    {"2024-02-29T12:00:00Z", 1709208000000},
    {"1600-02-29T00:00:00Z", -11670998400000},
    /* Leap seconds: second 60 is the next minute's second 0 (RFC 3339 §5.8 examples). */
    {"2016-12-31T23:59:60Z", 1483228800000},
    {"1990-12-31T15:59:60-08:00", 662688000000},
    /* Before 1970. */
    {"1969-12-31T23:59:59Z", -1000},
    {"1969-12-31T23:59:59.999Z", -1},
    {"1900-01-01T00:00:00Z", -2208988800000},
    {"0001-01-01T00:00:00Z", -62135596800000},
    {"0000-01-01T00:00:00Z", -62167219200000},
    {"9999-12-31T23:59:59.999Z", 253402300799999},
};

typedef struct invalid_case {
    const char *in;
    int rc;
} invalid_case_t;

static const invalid_case_t invalid_cases[] = {
    /* Calendar. */
    {"1900-02-29T00:00:00Z", ERR_RANGE},
    {"2023-02-29T00:00:00Z", ERR_RANGE},
    {"2100-02-29T00:00:00Z", ERR_RANGE},
    {"2024-02-30T00:00:00Z", ERR_RANGE},
    {"2023-04-31T00:00:00Z", ERR_RANGE},
    {"2023-06-31T00:00:00Z", ERR_RANGE},
    {"2023-09-31T00:00:00Z", ERR_RANGE},
    {"2023-11-31T00:00:00Z", ERR_RANGE},
    {"2023-01-32T00:00:00Z", ERR_RANGE},
    {"2023-01-00T00:00:00Z", ERR_RANGE},
    {"2023-13-01T00:00:00Z", ERR_RANGE},
    {"2023-00-01T00:00:00Z", ERR_RANGE},
    /* Clock. */
    {"2023-01-01T24:00:00Z", ERR_RANGE},
    {"2023-01-01T23:60:00Z", ERR_RANGE},
    {"2023-01-01T23:59:61Z", ERR_RANGE},
    {"2023-01-01T00:00:99Z", ERR_RANGE},
    /* Offsets. */
    {"2023-01-01T00:00:00+24:00", ERR_RANGE},
    {"2023-01-01T00:00:00-24:00", ERR_RANGE},
    {"2023-01-01T00:00:00+00:60", ERR_RANGE},
    {"2023-01-01T00:00:00", ERR_PARSE},
    {"2023-01-01T00:00:00.123", ERR_PARSE},
    {"2023-01-01T00:00:00+01", ERR_PARSE},
    {"2023-01-01T00:00:00+0100", ERR_PARSE},
    {"2023-01-01T00:00:00+1:00", ERR_PARSE},
    {"2023-01-01T00:00:00UTC", ERR_PARSE},
    {"2023-01-01T00:00:00 Z", ERR_PARSE},
    /* Shape. */
    {"", ERR_PARSE},
    {"2023-01-01", ERR_PARSE},
    {"2023-01-01T", ERR_PARSE},
    {"2023-01-01 00:00:00Z", ERR_PARSE},
    {"2023-01-01_00:00:00Z", ERR_PARSE},
    {"2023-01-01T00:00Z", ERR_PARSE},
    {"2023-01-01T0:00:00Z", ERR_PARSE},
    {"2023-1-01T00:00:00Z", ERR_PARSE},
    {"2023-01-1T00:00:00Z", ERR_PARSE},
    {"23-01-01T00:00:00Z", ERR_PARSE},
    {"+2023-01-01T00:00:00Z", ERR_PARSE},
    {"12023-01-01T00:00:00Z", ERR_PARSE},
    {"2023/01/01T00:00:00Z", ERR_PARSE},
    {"2023-01-01T00.00.00Z", ERR_PARSE},
    {"20230101T000000Z", ERR_PARSE},
    {" 2023-01-01T00:00:00Z", ERR_PARSE},
    {"2023-01-01T00:00:00Z ", ERR_PARSE},
    {"2023-01-01T00:00:00Zx", ERR_PARSE},
    {"2023-01-01T00:00:00ZZ", ERR_PARSE},
    {"2023-01-01T00:00:00+01:00:00", ERR_PARSE},
    {"2023-01-01T00:00:00.Z", ERR_PARSE},
    {"2023-01-01T00:00:00,5Z", ERR_PARSE},
    {"2023-01-01T00:00:00.5.5Z", ERR_PARSE},
    {"2023-0a-01T00:00:00Z", ERR_PARSE},
    {"2023-01-01T00:00:-1Z", ERR_PARSE},
    {"\xef\xbc\x92"
     "023-01-01T00:00:00Z",
     ERR_PARSE},
};

static void test_rfc3339_parse_valid_impl(int i)
{
    const valid_case_t *c = &valid_cases[i];
    int64_t ms = 42;
    err_t err;
    err_clear(&err);
    ck_assert_msg(rfc3339_parse(c->in, strlen(c->in), &ms, &err) == 0, "%s: %s", c->in, err.msg);
    ck_assert_int_eq(ms, c->ms);
}

START_TEST(test_rfc3339_parse_valid)
{
    test_rfc3339_parse_valid_impl(_i);
}
END_TEST

START_TEST(test_rfc3339_parse_invalid)
{
    const invalid_case_t *c = &invalid_cases[_i];
    int64_t ms = 42;
    err_t err;
    err_clear(&err);
    int rc = rfc3339_parse(c->in, strlen(c->in), &ms, &err);
    ck_assert_msg(rc == c->rc, "%s: rc %d, expected %d", c->in, rc, c->rc);
    ck_assert_int_eq(err.code, c->rc);
    ck_assert_int_gt(strlen(err.msg), 0);
    ck_assert_int_eq(ms, 42);
}
END_TEST

START_TEST(test_rfc3339_parse_reads_only_len_bytes)
{
    const char buf[] = "2023-10-27T10:00:00Zjunk";
    int64_t ms = 0;
    ck_assert_int_eq(rfc3339_parse(buf, 20, &ms, NULL), 0);
    ck_assert_int_eq(ms, 1698400800000);
    /* One byte short loses the offset. */
    ck_assert_int_eq(rfc3339_parse(buf, 19, &ms, NULL), ERR_PARSE);
    ck_assert_int_eq(rfc3339_parse(NULL, 0, &ms, NULL), ERR_PARSE);
}
END_TEST

START_TEST(test_rfc3339_parse_message_names_the_problem)
{
    err_t err;
    int64_t ms;
    ck_assert_int_eq(rfc3339_parse("2023-02-29T00:00:00Z", 20, &ms, &err), ERR_RANGE);
    ck_assert_str_eq(err.msg, "day 29 does not exist in 2023-02");
    ck_assert_int_eq(rfc3339_parse("2023-01-01T00:00:00", 19, &ms, &err), ERR_PARSE);
    ck_assert_ptr_nonnull(strstr(err.msg, "offset"));
}
END_TEST

START_TEST(test_rfc3339_parse_leap_years_match_gregorian_rule)
{
    char buf[32], first_bad[32] = "";
    int64_t ms;
    int bad = 0;
    for (int y = 0; y <= 9999; y++) {
        int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        snprintf(buf, sizeof(buf), "%04d-02-29T00:00:00Z", y);
        if (rfc3339_parse(buf, strlen(buf), &ms, NULL) != (leap ? 0 : ERR_RANGE) && bad++ == 0)
            memcpy(first_bad, buf, sizeof(buf));
    }
    ck_assert_str_eq(first_bad, "");
    ck_assert_int_eq(bad, 0);
}
END_TEST

START_TEST(test_rfc3339_format_examples)
{
    static const struct {
        int64_t ms;
        const char *out;
    } cases[] = {
        {0, "1970-01-01T00:00:00.000Z"},
        {1, "1970-01-01T00:00:00.001Z"},
        {-1, "1969-12-31T23:59:59.999Z"},
        {-1000, "1969-12-31T23:59:59.000Z"},
        {-86400000, "1969-12-31T00:00:00.000Z"},
        {1698400800123, "2023-10-27T10:00:00.123Z"},
        {951782400000, "2000-02-29T00:00:00.000Z"},
        {-2208988800000, "1900-01-01T00:00:00.000Z"},
        {-62167219200000, "0000-01-01T00:00:00.000Z"},
        {253402300799999, "9999-12-31T23:59:59.999Z"},
        /* Clamped to the years RFC 3339 can write. */
        {-62167219200001, "0000-01-01T00:00:00.000Z"},
        {253402300800000, "9999-12-31T23:59:59.999Z"},
        {INT64_MIN, "0000-01-01T00:00:00.000Z"},
        {INT64_MAX, "9999-12-31T23:59:59.999Z"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[RFC3339_MS_LEN + 1];
        memset(out, 'x', sizeof(out));
        ck_assert_uint_eq(rfc3339_format_ms(cases[i].ms, out), RFC3339_MS_LEN);
        ck_assert_str_eq(out, cases[i].out);
    }
}
END_TEST

/* Every day from 0000-01-01 to 9999-12-31, at a varying time of day, agrees with libc's gmtime_r
 * and survives format -> parse unchanged. Mismatches are counted rather than asserted one by one:
 * each Check assertion costs a write to its control file. */
START_TEST(test_rfc3339_format_parse_round_trip_every_day)
{
    const int64_t first = -62167219200000 / 86400000, last = 253402300799999 / 86400000;
    char out[RFC3339_MS_LEN + 1], want[80], first_bad[128] = "";
    int bad = 0;
    for (int64_t day = first; day <= last; day++) {
        int64_t ms = day * 86400000 + (day * 7919 % 86400000 + 86400000) % 86400000;
        time_t t = (time_t)(ms / 1000 - (ms % 1000 < 0));
        struct tm tm;
        int64_t back = 0;
        gmtime_r(&t, &tm);
        snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (int)((ms % 1000 + 1000) % 1000));
        rfc3339_format_ms(ms, out);
        if ((strcmp(out, want) != 0 || rfc3339_parse(out, RFC3339_MS_LEN, &back, NULL) != 0 ||
             back != ms) &&
            bad++ == 0)
            snprintf(first_bad, sizeof(first_bad), "%s (want %s)", out, want);
    }
    ck_assert_str_eq(first_bad, "");
    ck_assert_int_eq(bad, 0);
}
END_TEST

static Suite *rfc3339_suite(void)
{
    Suite *s = suite_create("rfc3339");
    TCase *tc;

    tc = tcase_create("parse");
    tcase_add_loop_test(tc, test_rfc3339_parse_valid, 0,
                        (int)(sizeof(valid_cases) / sizeof(valid_cases[0])));
    tcase_add_loop_test(tc, test_rfc3339_parse_invalid, 0,
                        (int)(sizeof(invalid_cases) / sizeof(invalid_cases[0])));
    tcase_add_test(tc, test_rfc3339_parse_reads_only_len_bytes);
    tcase_add_test(tc, test_rfc3339_parse_message_names_the_problem);
    tcase_add_test(tc, test_rfc3339_parse_leap_years_match_gregorian_rule);
    suite_add_tcase(s, tc);

    tc = tcase_create("format");
    tcase_add_test(tc, test_rfc3339_format_examples);
    suite_add_tcase(s, tc);

    tc = tcase_create("round_trip");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_rfc3339_format_parse_round_trip_every_day);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(rfc3339_suite)
