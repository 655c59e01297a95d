/* SPDX-License-Identifier: MIT */
/*
 * The one JSON string escape of the project, byte by byte: the event message (activity.c), the
 * problem+json bodies (problem.c) and the JSON log lines (log.c) all write string literals
 * with it, so they escape alike.
 * Thread: any (pure).
 */
#ifndef AT_COMMON_JSONESC_H
#define AT_COMMON_JSONESC_H

#include <stddef.h>

#define JSON_ESCAPE_MAX 6 /* the longest escape of one byte: \u00XX */

/* Writes the escape of byte c inside a JSON string literal to out and returns its length (2 or
 * 6), or returns 0 when c stands for itself. Escaped: '"', '\\', every control character (with
 * the short forms \b \f \n \r \t where JSON has them) and DEL. Bytes >= 0x80 stand for
 * themselves: checking UTF-8 is the caller's business. */
static inline size_t json_escape_byte(unsigned char c, char out[JSON_ESCAPE_MAX])
{
    static const char hex[] = "0123456789abcdef";
    char short_form = 0;
    switch (c) {
    case '"':
    case '\\':
        short_form = (char)c;
        break;
    case '\b':
        short_form = 'b';
        break;
    case '\f':
        short_form = 'f';
        break;
    case '\n':
        short_form = 'n';
        break;
    case '\r':
        short_form = 'r';
        break;
    case '\t':
        short_form = 't';
        break;
    default:
        if (c >= 0x20 && c != 0x7f)
            return 0;
        out[0] = '\\';
        out[1] = 'u';
        out[2] = '0';
        out[3] = '0';
        out[4] = hex[c >> 4];
        out[5] = hex[c & 0x0f];
        return 6;
    }
    out[0] = '\\';
    out[1] = short_form;
    return 2;
}

#endif
