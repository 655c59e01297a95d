/* SPDX-License-Identifier: MIT */
/*
 * rfc3339_parse on any bytes, passed in a heap buffer of exactly their length (no NUL after
 * them), so ASan catches a read past len. Checked against a reference built from other parts:
 * a POSIX regex for the grammar and libc's timegm for the instant:
 *  - accepted exactly when the text matches the grammar and every field is in range (calendar
 *    date, hour <= 23, minute <= 59, second <= 60, offset <= 23:59); ERR_PARSE when the grammar
 *    fails, ERR_RANGE when only a range does; err filled either way;
 *  - the instant is timegm's (second 60 is the next minute's second 0), minus the offset, plus
 *    the first three fraction digits;
 *  - rfc3339_format_ms of it is 24 bytes of the same form that parse back to the same instant
 *    (clamped to years 0000..9999 outside them);
 *  - rfc3339_format_ms of the first 8 input bytes read as an int64 parses back to that instant
 *    clamped to the same range.
 */
#include <regex.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/rfc3339.h"
#include "fuzzcheck.h"

#define GRAMMAR                                                                                    \
    "^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?([Zz]|[+-][0-9]{2}:"     \
    "[0-9]{2})$"

static regex_t grammar;
static int64_t min_ms, max_ms; /* 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z */

static unsigned num(const char *s, size_t n)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (unsigned)(s[i] - '0');
    return v;
}

static bool is_leap(unsigned y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int64_t utc_seconds(int year, unsigned mon, unsigned day, unsigned h, unsigned m, unsigned s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = year - 1900;
    tm.tm_mon = (int)mon - 1;
    tm.tm_mday = (int)day;
    tm.tm_hour = (int)h;
    tm.tm_min = (int)m;
    tm.tm_sec = (int)s; /* 60 rolls over into the next minute */
    return (int64_t)timegm(&tm);
}

/* The reference for a text that matched the grammar: 0 and *ms, or ERR_RANGE. */
static int reference(const char *s, size_t len, int64_t *ms)
{
    static const unsigned dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    unsigned y = num(s, 4), mon = num(s + 5, 2), d = num(s + 8, 2);
    unsigned h = num(s + 11, 2), mi = num(s + 14, 2), sec = num(s + 17, 2);
    unsigned frac = 0, digits = 0;
    size_t i = 19;
    if (s[i] == '.')
        for (i++; s[i] >= '0' && s[i] <= '9'; i++, digits++)
            if (digits < 3)
                frac = frac * 10 + (unsigned)(s[i] - '0');
    for (; digits < 3; digits++)
        frac *= 10;
    int sign = 0;
    unsigned oh = 0, om = 0;
    if (s[i] == '+' || s[i] == '-') {
        sign = s[i] == '-' ? -1 : 1;
        oh = num(s + i + 1, 2);
        om = num(s + i + 4, 2);
        FUZZCHECK(i + 6 == len, "reference lost its place");
    }
    if (mon < 1 || mon > 12 || d < 1 || d > (mon == 2 && is_leap(y) ? 29 : dim[mon - 1]) ||
        h > 23 || mi > 59 || sec > 60 || oh > 23 || om > 59)
        return ERR_RANGE;
    *ms = (utc_seconds((int)y, mon, d, h, mi, sec) - sign * (int64_t)(oh * 3600 + om * 60)) * 1000 +
          frac;
    return 0;
}

static int64_t clamp(int64_t v)
{
    return v < min_ms ? min_ms : v > max_ms ? max_ms : v;
}

/* format_ms(v) is the 24-byte form that parses back to clamp(v). */
static void check_format(int64_t v)
{
    char out[RFC3339_MS_LEN + 8];
    memset(out, 'x', sizeof(out));
    size_t n = rfc3339_format_ms(v, out);
    FUZZCHECK(n == RFC3339_MS_LEN && out[RFC3339_MS_LEN] == '\0' && out[RFC3339_MS_LEN + 1] == 'x',
              "format_ms(%lld) wrote %zu bytes", (long long)v, n);
    FUZZCHECK(regexec(&grammar, out, 0, NULL, 0) == 0 && out[19] == '.' && out[23] == 'Z',
              "format_ms(%lld) = \"%s\"", (long long)v, out);
    int64_t back;
    err_t err;
    int rc = rfc3339_parse(out, n, &back, &err);
    FUZZCHECK(rc == 0 && back == clamp(v), "format_ms(%lld) = \"%s\" parses as %d, %lld",
              (long long)v, out, rc, (long long)back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (min_ms == 0) {
        FUZZCHECK(regcomp(&grammar, GRAMMAR, REG_EXTENDED | REG_NOSUB) == 0, "regcomp");
        min_ms = utc_seconds(0, 1, 1, 0, 0, 0) * 1000;
        max_ms = utc_seconds(9999, 12, 31, 23, 59, 59) * 1000 + 999;
    }
    char *s = malloc(size); /* exactly sized: no NUL after the text */
    memcpy(s, data, size);
    int64_t ms = 0;
    err_t err;
    memset(&err, 0, sizeof(err));
    int rc = rfc3339_parse(size > 0 ? s : NULL, size, &ms, &err);

    /* The reference needs a C string: the text with a NUL can never match the grammar. */
    char *z = malloc(size + 1);
    memcpy(z, data, size);
    z[size] = '\0';
    bool syntax = memchr(data, '\0', size) == NULL && regexec(&grammar, z, 0, NULL, 0) == 0;
    int64_t want = 0;
    int want_rc = syntax ? reference(z, size, &want) : ERR_PARSE;
    FUZZCHECK(rc == want_rc, "\"%s\": parse returned %d, reference %d (%s)", z, rc, want_rc,
              err.msg);
    if (rc < 0) {
        FUZZCHECK(err.code == rc && err.msg[0] != '\0', "\"%s\": err %d \"%s\"", z, err.code,
                  err.msg);
    } else {
        FUZZCHECK(ms == want, "\"%s\": %lld, reference %lld", z, (long long)ms, (long long)want);
        check_format(ms);
    }
    if (size >= 8) {
        int64_t v;
        memcpy(&v, data, sizeof(v));
        check_format(v);
    }
    free(z);
    free(s);
    return 0;
}
