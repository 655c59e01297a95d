/* SPDX-License-Identifier: MIT */
/*
 * Optional whitespace (RFC 9110 section 5.6.3): the spaces and tabs allowed around the items of
 * header values and of the lists the configuration takes, and the trimming every such parser
 * does.
 * Thread: any (pure).
 */
#ifndef AT_COMMON_OWS_H
#define AT_COMMON_OWS_H

#include <stdbool.h>
#include <stddef.h>

/* Whether c is a space or a tab. */
static inline bool ows_is(char c)
{
    return c == ' ' || c == '\t';
}

/* Narrows s[0..*len) to its part without surrounding spaces and tabs: returns the new start and
 * stores the new length in *len. */
static inline const char *ows_trim(const char *s, size_t *len)
{
    size_t n = *len;
    while (n > 0 && ows_is(*s)) {
        s++;
        n--;
    }
    while (n > 0 && ows_is(s[n - 1]))
        n--;
    *len = n;
    return s;
}

#endif
