/* SPDX-License-Identifier: MIT */
/*
 * A key is kept as the span of the body between its quotes and decoded only when it holds an
 * escape, so a scan on the happy path copies nothing; a path is a chain of stack frames that
 * becomes text only when an error is reported. Pieces of a rendered path that do not fit are
 * dropped whole (never half a UTF-8 sequence or half an escape) and "..." marks the cut.
 */
#include "common/jsonpath.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/hexdig.h"
#include "common/utf8.h"

/* Bounded text: pieces that do not fit whole are dropped and "..." is added. */
typedef struct text {
    char *buf;
    size_t cap; /* content bytes before the "..."; buf holds cap + 4 */
    size_t len;
    bool cut;
} text_t;

/* C0, DEL and C1 controls. */
static bool is_control(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

static uint32_t hex4(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = p[i];
        v = v << 4 | (uint32_t)hexdig_value(c); /* the scanner checked the digits */
    }
    return v;
}

/* Decodes the next code point of string content at *pp (before end), which the scanner has
 * already checked. Like json-c, a surrogate pair becomes one code point and a lone surrogate
 * becomes U+FFFD. */
static uint32_t string_next(const unsigned char **pp, const unsigned char *end)
{
    const unsigned char *p = *pp;
    if (*p != '\\') {
        size_t i = 0;
        uint32_t cp = utf8_next(p, (size_t)(end - p), &i);
        *pp = p + i;
        return cp;
    }
    *pp = p + 2;
    switch (p[1]) {
    case 'b':
        return '\b';
    case 'f':
        return '\f';
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    case 'u':
        break;
    default: /* '"', '\\' and '/' stand for themselves */
        return p[1];
    }
    uint32_t u = hex4(p + 2);
    *pp = p + 6;
    if (u >= 0xdc00 && u <= 0xdfff)
        return 0xfffd;
    if (u >= 0xd800 && u <= 0xdbff) {
        const unsigned char *q = *pp;
        if (end - q >= 6 && q[0] == '\\' && q[1] == 'u') {
            uint32_t lo = hex4(q + 2);
            if (lo >= 0xdc00 && lo <= 0xdfff) {
                *pp = q + 6;
                return 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
            }
        }
        return 0xfffd;
    }
    return u;
}

void jsonpath_key_init(jsonpath_key_t *k, const char *s, size_t len)
{
    k->begin = (const unsigned char *)s;
    k->end = k->begin + len;
    k->escaped = len > 0 && memchr(s, '\\', len) != NULL;
    k->has_nul = false;
    if (!k->escaped) {
        k->dollar = len > 0 && *s == '$';
        k->len = len;
        k->dot = len > 0 && memchr(s, '.', len) != NULL;
        return;
    }
    k->len = 0;
    k->dot = false;
    for (const unsigned char *p = k->begin; p < k->end;) {
        char enc[UTF8_SEQ_MAX];
        uint32_t cp = string_next(&p, k->end);
        size_t n = utf8_encode(cp, enc);
        if (k->len == 0)
            k->dollar = cp == '$';
        if (cp == 0)
            k->has_nul = true;
        if (cp == '.')
            k->dot = true;
        if (k->len + n <= JSONPATH_KEY_NAME_MAX)
            memcpy(k->buf + k->len, enc, n);
        k->len += n;
    }
}

bool jsonpath_key_is(const jsonpath_key_t *k, const char *name, size_t len)
{
    if (k->len != len)
        return false;
    if (!k->escaped)
        return memcmp(k->begin, name, len) == 0;
    return len <= JSONPATH_KEY_NAME_MAX && memcmp(k->buf, name, len) == 0;
}

static void text_put(text_t *t, const char *s, size_t n)
{
    if (t->cut)
        return;
    if (t->len + n > t->cap) {
        t->cut = true;
        return;
    }
    memcpy(t->buf + t->len, s, n);
    t->len += n;
}

static const char *text_finish(text_t *t)
{
    if (t->cut) {
        memcpy(t->buf + t->len, "...", 3);
        t->len += 3;
    }
    t->buf[t->len] = '\0';
    return t->buf;
}

/* Text for a key: its decoded characters, with controls (and NUL) written as \u00XX; when quoted
 * (inside ["..."] in a path), '"' and '\\' are escaped too. */
static void put_key(text_t *t, const jsonpath_key_t *k, bool quoted)
{
    const unsigned char *p = k->begin;
    char piece[8];
    while (p < k->end && !t->cut) {
        uint32_t cp = string_next(&p, k->end);
        size_t n;
        if (is_control(cp))
            n = (size_t)snprintf(piece, sizeof(piece), "\\u%04x", (unsigned)cp);
        else if (quoted && (cp == '"' || cp == '\\'))
            n = (size_t)snprintf(piece, sizeof(piece), "\\%c", (char)cp);
        else
            n = utf8_encode(cp, piece);
        text_put(t, piece, n);
    }
}

/* Whether a key must be written ["..."] in a path: written bare, it would read as another path
 * (a '.', '[' or ']'), or as another key (an escape sequence, or nothing at all). */
static bool key_needs_quotes(const jsonpath_key_t *k)
{
    const unsigned char *p = k->begin;
    if (p == k->end)
        return true;
    while (p < k->end) {
        uint32_t cp = string_next(&p, k->end);
        if (cp == '.' || cp == '[' || cp == ']' || cp == '"' || cp == '\\' || is_control(cp))
            return true;
    }
    return false;
}

/* Writes the path down to seg, the first step first. The recursion is as deep as the chain,
 * which is as deep as the walk of the document that built it on its own stack. */
static void put_path(text_t *t, const jsonpath_seg_t *seg)
{
    if (seg == NULL)
        return;
    put_path(t, seg->up);
    if (seg->key != NULL && key_needs_quotes(seg->key)) {
        text_put(t, "[\"", 2);
        put_key(t, seg->key, true);
        text_put(t, "\"]", 2);
    } else if (seg->key != NULL) {
        if (t->len > 0)
            text_put(t, ".", 1);
        put_key(t, seg->key, false);
    } else {
        char idx[16];
        int len = snprintf(idx, sizeof(idx), "[%u]", seg->index);
        text_put(t, idx, (size_t)len);
    }
}

const char *jsonpath_format_key(const jsonpath_key_t *k, char *buf, size_t size)
{
    ASSERT(size >= 4);
    text_t t = {buf, size - 4, 0, false};
    put_key(&t, k, false);
    return text_finish(&t);
}

const char *jsonpath_format(const jsonpath_seg_t *seg, char *buf, size_t size)
{
    ASSERT(size >= 4);
    text_t t = {buf, size - 4, 0, false};
    put_path(&t, seg);
    return text_finish(&t);
}
