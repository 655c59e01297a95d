/* SPDX-License-Identifier: MIT */
/*
 * Strict RFC 3339 date-time parsing and millisecond formatting (the ISO-8601 profile of the
 * web): YYYY-MM-DDThh:mm:ss[.frac](Z|+hh:mm|-hh:mm), calendar-valid, offset required.
 * Thread: any (pure).
 */
#ifndef AT_COMMON_RFC3339_H
#define AT_COMMON_RFC3339_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* Length of "YYYY-MM-DDThh:mm:ss.sssZ". */
#define RFC3339_MS_LEN 24

/* Parses s[0..len) (not necessarily NUL-terminated). Accepts 'T' or 't' as separator and 'Z' or
 * 'z' for UTC; rejects a missing offset, an invalid calendar date (Feb 29 outside leap years,
 * Feb 30, day 31 in 30-day months), hour > 23, minute > 59, second > 60, offsets beyond ±23:59,
 * an empty fraction and any trailing byte. Second 60 (a leap second) is accepted and denotes the
 * same instant as second 59 plus one second. Fractions are truncated to milliseconds.
 * On success stores the instant in *unix_ms (UTC milliseconds) and returns 0; otherwise returns
 * ERR_PARSE (syntax) or ERR_RANGE (a field out of range) with a message in err. */
int rfc3339_parse(const char *s, size_t len, int64_t *unix_ms, err_t *err);

/* Writes unix_ms as "YYYY-MM-DDThh:mm:ss.sssZ" plus a NUL into out (at least RFC3339_MS_LEN + 1
 * bytes). Years outside 0000..9999 are clamped. Returns RFC3339_MS_LEN. */
size_t rfc3339_format_ms(int64_t unix_ms, char *out);

#endif
