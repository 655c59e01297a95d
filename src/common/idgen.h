/* SPDX-License-Identifier: MIT */
/*
 * UUIDs: canonical text parse/format and UUIDv7 generation (RFC 9562). Time and randomness are
 * passed in, so the module stays pure and tests are deterministic.
 * Thread: any (pure).
 */
#ifndef AT_COMMON_IDGEN_H
#define AT_COMMON_IDGEN_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define IDGEN_STR_LEN 36 /* 8-4-4-4-12 hex digits, no NUL */

/* Parses s[0..len): exactly 36 bytes, hex digits of either case with hyphens at 8, 13, 18 and
 * 23. Any version and variant is accepted (clients may send v4, v7, ...), except the nil UUID.
 * Stores 16 bytes in out and returns 0, or returns ERR_PARSE with a message in err. */
int idgen_parse(const char *s, size_t len, uint8_t out[16], err_t *err);

/* Writes the canonical lower-case form plus a NUL into out (IDGEN_STR_LEN + 1 bytes). */
void idgen_format(const uint8_t id[16], char *out);

/* Builds a UUIDv7 from unix_ms (48-bit big-endian milliseconds) and 10 random bytes (rand;
 * only 74 bits are used), setting the version (7) and variant (10xx) bits. */
void idgen_v7(int64_t unix_ms, const uint8_t rand[10], uint8_t out[16]);

#endif
