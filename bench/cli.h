/* SPDX-License-Identifier: MIT */
/*
 * Command-line number parsing shared by the benchmark programs (header only: each program links
 * just the library it measures).
 */
#ifndef AT_BENCH_CLI_H
#define AT_BENCH_CLI_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

/* Parses s as a decimal integer in [min, max] into *out. Returns 0, or -1 for anything else
 * (empty, trailing bytes, a sign, out of range). */
static inline int cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

#endif
