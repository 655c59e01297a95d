/* SPDX-License-Identifier: MIT */
/*
 * UTF-8 as RFC 3629 defines it (no overlong forms, no surrogates, nothing above U+10FFFF):
 * checking a byte string, and decoding and encoding one code point at a time.
 * Thread: any (pure).
 * Invariant: only utf8_invalid_at judges input; utf8_next trusts text that has already passed it.
 */
#ifndef AT_COMMON_UTF8_H
#define AT_COMMON_UTF8_H

#include <stddef.h>
#include <stdint.h>

#define UTF8_SEQ_MAX 4 /* bytes in the longest encoded code point */

/* Returns the length (1..UTF8_SEQ_MAX) of the well-formed sequence that starts s[0..n), or 0
 * when s does not start with one (stray continuation byte, overlong form, surrogate, beyond
 * U+10FFFF, cut short by n, or n == 0). */
size_t utf8_seq_len(const unsigned char *s, size_t n);

/* Returns the offset of the first byte of s[0..len) that does not start a well-formed UTF-8
 * sequence (Unicode table 3-7), or len when all of s is well-formed. s may hold NUL bytes and
 * may be NULL when len is 0. */
size_t utf8_invalid_at(const unsigned char *s, size_t len);

/* Decodes the code point that starts at s[*i] (*i < len) and advances *i past it. Meant for text
 * that utf8_invalid_at has accepted: a continuation byte, C0 or C1 in lead position, or a
 * sequence cut short by len yields U+FFFD and advances *i by one byte; other malformations are
 * decoded without notice. */
uint32_t utf8_next(const unsigned char *s, size_t len, size_t *i);

/* Writes the UTF-8 encoding of cp (at most U+10FFFF, not a surrogate) to out and returns its
 * length, 1 to UTF8_SEQ_MAX. out is not NUL-terminated. */
size_t utf8_encode(uint32_t cp, char out[UTF8_SEQ_MAX]);

#endif
