/* SPDX-License-Identifier: MIT */
/*
 * Every function works on an explicit range [url, end) of the caller's text, so a URL of any
 * length is masked whole: nothing is copied into a buffer that could cut it before its '@'.
 */
#include "common/urltext.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* The first occurrence of c in [s, end), or NULL. */
static const char *find(const char *s, const char *end, char c)
{
    return s < end ? memchr(s, c, (size_t)(end - s)) : NULL;
}

/* The last occurrence of c in [s, end), or NULL. */
static const char *find_last(const char *s, const char *end, char c)
{
    for (const char *p = end; p > s; p--)
        if (p[-1] == c)
            return p - 1;
    return NULL;
}

/* Returns the start of the userinfo/host part of [url, end): after "scheme://", or url. */
static const char *authority_start(const char *url, const char *end)
{
    for (const char *p = url; p + 3 <= end; p++)
        if (p[0] == ':' && p[1] == '/' && p[2] == '/')
            return p + 3;
    return url;
}

/* Returns the '@' ending the userinfo that starts at a, or NULL: the last '@' before the first
 * '?' (before end when there is no '?'). With fallback, when there is none before the '?', the
 * last '@' after it. */
static const char *userinfo_end(const char *a, const char *end, bool fallback)
{
    const char *q = find(a, end, '?');
    const char *at = find_last(a, q != NULL ? q : end, '@');
    if (at == NULL && fallback && q != NULL)
        at = find_last(q, end, '@');
    return at;
}

/* Appends the text to out[0..n), keeping it NUL-terminated (cut when it does not fit). */
static void append(char *out, size_t n, const char *s, size_t len)
{
    size_t o = strlen(out);
    snprintf(out + o, n - o, "%.*s", (int)len, s);
}

/* Appends the one URL [url, end), masked, to out[0..n). */
static void mask_one(const char *url, const char *end, char *out, size_t n)
{
    const char *a = authority_start(url, end);
    /* Masking errs towards hiding: with no '@' before the query, an '@' inside it is taken as
     * the end of a userinfo holding an unencoded '?'. */
    const char *at = userinfo_end(a, end, true);
    const char *colon = at != NULL ? find(a, at, ':') : NULL;
    if (colon == NULL) {
        append(out, n, url, (size_t)(end - url));
        return;
    }
    append(out, n, url, (size_t)(colon + 1 - url));
    append(out, n, "***", 3);
    append(out, n, at, (size_t)(end - at));
}

/* Whether a URL scheme (RFC 3986: a letter, then letters, digits, '+', '-', '.'), after
 * optional spaces, followed by "://" starts at s. */
static bool starts_url(const char *s)
{
    while (*s == ' ')
        s++;
    static const char first[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    if (*s == '\0' || strchr(first, *s) == NULL)
        return false;
    s += strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.");
    return strncmp(s, "://", 3) == 0;
}

/* Returns the end of the URL starting at url: the next comma followed by a scheme (a list of
 * URLs; a MongoDB host list has no scheme after its commas), or the end of the string. */
static const char *url_end(const char *url)
{
    for (const char *p = strchr(url, ','); p != NULL; p = strchr(p + 1, ','))
        if (starts_url(p + 1))
            return p;
    return url + strlen(url);
}

void urltext_mask(const char *url, char *out, size_t n)
{
    if (n == 0)
        return;
    out[0] = '\0';
    for (const char *p = url;;) {
        const char *end = url_end(p);
        mask_one(p, end, out, n);
        if (*end == '\0' || strlen(out) + 1 >= n)
            return;
        append(out, n, ",", 1);
        p = end + 1;
    }
}

const char *urltext_path(const char *url, size_t *len)
{
    const char *end = url + strlen(url);
    const char *a = authority_start(url, end);
    const char *at = userinfo_end(a, end, false);
    const char *slash = strpbrk(at != NULL ? at + 1 : a, "/?");
    if (slash == NULL || *slash != '/') {
        *len = 0;
        return end;
    }
    *len = strcspn(slash + 1, "?");
    return slash + 1;
}
