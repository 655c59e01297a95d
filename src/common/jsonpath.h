/* SPDX-License-Identifier: MIT */
/*
 * Object keys as they stand in a JSON text, and the path from a root down to a value, written for
 * error messages: payload.a[2].$x, or payload["b.c"] for a key that would not read back bare.
 * (Our own small notation for messages, not RFC 9535 JSONPath queries.)
 * Thread: any (pure); keys and segments live on the caller's stack.
 * Invariant: a key borrows the text it was made from; a path is rendered only when an error is.
 */
#ifndef AT_COMMON_JSONPATH_H
#define AT_COMMON_JSONPATH_H

#include <stdbool.h>
#include <stddef.h>

#define JSONPATH_KEY_NAME_MAX 16 /* decoded bytes an escaped key keeps, to match known names */

/* Transparent value type, filled by jsonpath_key_init and read field by field. */
typedef struct jsonpath_key {
    const unsigned char *begin, *end; /* borrowed: the content between the quotes, as sent */
    bool escaped;                     /* holds a backslash: buf keeps a decoded prefix */
    bool dollar;                      /* the first character is '$' */
    bool dot;                         /* holds a '.' */
    bool has_nul;                     /* decodes to a string containing U+0000 */
    size_t len;                       /* decoded length in bytes */
    char buf[JSONPATH_KEY_NAME_MAX];  /* the first decoded bytes, when escaped */
} jsonpath_key_t;

/* One step of a path: an object member or an array element. Transparent; segments are chained
 * upwards through stack frames of the code that walks the document. */
typedef struct jsonpath_seg {
    const struct jsonpath_seg *up; /* the step before, NULL for the first */
    const jsonpath_key_t *key;     /* the member's key (borrowed), or NULL for an element */
    unsigned index;                /* the element's index when key is NULL */
} jsonpath_seg_t;

/* Fills *k from s[0..len), the content of a JSON string between its quotes, which must already
 * have passed a strict scan (complete escapes, well-formed UTF-8). Escapes are decoded as json-c
 * decodes them: a surrogate pair is one code point, a lone surrogate U+FFFD. k borrows s. */
void jsonpath_key_init(jsonpath_key_t *k, const char *s, size_t len);

/* Whether k decodes to exactly name[0..len) (len <= JSONPATH_KEY_NAME_MAX for an escaped key to
 * match at all; known names are short). */
bool jsonpath_key_is(const jsonpath_key_t *k, const char *name, size_t len);

/* Writes the key's decoded text into buf (size >= 4 bytes, NUL-terminated) with controls and NUL
 * as \u00XX. At the first character (or escape) that does not fit whole in size - 4 bytes the
 * text stops and "..." is added. Returns buf. */
const char *jsonpath_format_key(const jsonpath_key_t *k, char *buf, size_t size);

/* Writes the path that ends at seg (NULL: the empty path) into buf (size >= 4 bytes,
 * NUL-terminated): ".key" per member (no dot first), "[i]" per element, and ["..."] for a key
 * that is empty or holds '.', '[', ']', '"', '\' or a control, with '"' and '\' escaped, so that
 * every path reads back one way only. Cut like jsonpath_format_key. Returns buf. */
const char *jsonpath_format(const jsonpath_seg_t *seg, char *buf, size_t size);

#endif
