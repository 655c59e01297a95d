/* SPDX-License-Identifier: MIT */
/*
 * The value of one hexadecimal digit, for the parsers that read them (UUIDs, JSON \u escapes,
 * percent-encoded URLs).
 * Thread: any (pure).
 */
#ifndef AT_COMMON_HEXDIG_H
#define AT_COMMON_HEXDIG_H

/* Returns 0..15 for '0'..'9', 'a'..'f' and 'A'..'F', else -1. */
static inline int hexdig_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

#endif
