/* SPDX-License-Identifier: MIT */
#include "common/rfc3339.h"

#include <stdbool.h>

#define MS_PER_DAY 86400000LL

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). Exact for
 * every year this module handles; no libc time function is involved, so the result does not
 * depend on the time zone or on the range of time_t. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* The inverse of days_from_civil. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool is_leap(unsigned y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(unsigned y, unsigned m)
{
    static const unsigned char dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Reads exactly n digits at s[*i], advancing *i. */
static bool read_digits(const char *s, size_t len, size_t *i, unsigned n, unsigned *out)
{
    unsigned v = 0;
    if (len - *i < n)
        return false;
    for (unsigned k = 0; k < n; k++) {
        char c = s[*i + k];
        if (!is_digit(c))
            return false;
        v = v * 10 + (unsigned)(c - '0');
    }
    *i += n;
    *out = v;
    return true;
}

static bool expect(const char *s, size_t len, size_t *i, char c)
{
    if (*i >= len || s[*i] != c)
        return false;
    (*i)++;
    return true;
}

int rfc3339_parse(const char *s, size_t len, int64_t *unix_ms, err_t *err)
{
    unsigned year = 0, mon = 0, day = 0, hour = 0, min = 0, sec = 0, ms = 0, off_h = 0, off_m = 0;
    int off_sign = 0;
    size_t i = 0;

    ASSERT(unix_ms != NULL);
    if (s == NULL)
        len = 0;
    if (!read_digits(s, len, &i, 4, &year) || !expect(s, len, &i, '-') ||
        !read_digits(s, len, &i, 2, &mon) || !expect(s, len, &i, '-') ||
        !read_digits(s, len, &i, 2, &day))
        return err_set(err, ERR_PARSE, NULL, "expected a date as YYYY-MM-DD");
    if (i >= len || (s[i] != 'T' && s[i] != 't'))
        return err_set(err, ERR_PARSE, NULL, "expected 'T' and a time after the date");
    i++;
    if (!read_digits(s, len, &i, 2, &hour) || !expect(s, len, &i, ':') ||
        !read_digits(s, len, &i, 2, &min) || !expect(s, len, &i, ':') ||
        !read_digits(s, len, &i, 2, &sec))
        return err_set(err, ERR_PARSE, NULL, "expected a time as hh:mm:ss");
    if (i < len && s[i] == '.') {
        /* Any number of digits; the first three are the milliseconds, the rest is truncated. */
        size_t start = ++i;
        while (i < len && is_digit(s[i])) {
            if (i - start < 3)
                ms = ms * 10 + (unsigned)(s[i] - '0');
            i++;
        }
        if (i == start)
            return err_set(err, ERR_PARSE, NULL, "expected digits after the decimal point");
        for (size_t n = i - start; n < 3; n++)
            ms *= 10;
    }
    if (i >= len)
        return err_set(err, ERR_PARSE, NULL, "missing time zone offset (Z or +hh:mm)");
    if (s[i] == 'Z' || s[i] == 'z') {
        i++;
    } else if (s[i] == '+' || s[i] == '-') {
        off_sign = s[i] == '-' ? -1 : 1;
        i++;
        if (!read_digits(s, len, &i, 2, &off_h) || !expect(s, len, &i, ':') ||
            !read_digits(s, len, &i, 2, &off_m))
            return err_set(err, ERR_PARSE, NULL, "expected a time zone offset as +hh:mm");
    } else {
        return err_set(err, ERR_PARSE, NULL, "expected a time zone offset (Z or +hh:mm)");
    }
    if (i != len)
        return err_set(err, ERR_PARSE, NULL, "unexpected characters after the time zone offset");

    if (mon < 1 || mon > 12)
        return err_set(err, ERR_RANGE, NULL, "month %02u does not exist", mon);
    if (day < 1 || day > days_in_month(year, mon))
        return err_set(err, ERR_RANGE, NULL, "day %02u does not exist in %04u-%02u", day, year,
                       mon);
    if (hour > 23)
        return err_set(err, ERR_RANGE, NULL, "hour %02u is out of range", hour);
    if (min > 59)
        return err_set(err, ERR_RANGE, NULL, "minute %02u is out of range", min);
    if (sec > 60)
        return err_set(err, ERR_RANGE, NULL, "second %02u is out of range", sec);
    if (off_h > 23 || off_m > 59)
        return err_set(err, ERR_RANGE, NULL, "offset %02u:%02u is out of range", off_h, off_m);

    /* A leap second (sec == 60) simply lands on the next minute's second 0. */
    int64_t secs = days_from_civil(year, mon, day) * 86400 + (int64_t)hour * 3600 +
                   (int64_t)min * 60 + sec - off_sign * ((int64_t)off_h * 3600 + off_m * 60);
    *unix_ms = secs * 1000 + ms;
    return 0;
}

static void put2(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

size_t rfc3339_format_ms(int64_t unix_ms, char *out)
{
    const int64_t min_ms = days_from_civil(0, 1, 1) * MS_PER_DAY;
    const int64_t max_ms = days_from_civil(9999, 12, 31) * MS_PER_DAY + MS_PER_DAY - 1;
    int64_t y;
    unsigned m, d;

    if (unix_ms < min_ms)
        unix_ms = min_ms;
    if (unix_ms > max_ms)
        unix_ms = max_ms;
    /* Floor division, so instants before 1970 land on the right day. */
    int64_t days = unix_ms / MS_PER_DAY;
    int64_t rem = unix_ms % MS_PER_DAY;
    if (rem < 0) {
        rem += MS_PER_DAY;
        days--;
    }
    civil_from_days(days, &y, &m, &d);
    unsigned ms_of_day = (unsigned)rem;
    unsigned yy = (unsigned)y;

    put2(out, yy / 100);
    put2(out + 2, yy % 100);
    out[4] = '-';
    put2(out + 5, m);
    out[7] = '-';
    put2(out + 8, d);
    out[10] = 'T';
    put2(out + 11, ms_of_day / 3600000);
    out[13] = ':';
    put2(out + 14, ms_of_day / 60000 % 60);
    out[16] = ':';
    put2(out + 17, ms_of_day / 1000 % 60);
    out[19] = '.';
    out[20] = (char)('0' + ms_of_day % 1000 / 100);
    put2(out + 21, ms_of_day % 100);
    out[23] = 'Z';
    out[24] = '\0';
    return RFC3339_MS_LEN;
}
