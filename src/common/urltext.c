/* SPDX-License-Identifier: MIT */
#include "common/urltext.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define URL_MAX 1024 /* longest single URL masked whole */

/* Returns the start of the userinfo/host part of url: after "scheme://", or url itself. */
static const char *authority_start(const char *url)
{
    const char *p = strstr(url, "://");
    return p != NULL ? p + 3 : url;
}

/* Returns the '@' ending the userinfo that starts at a, or NULL: the last '@' before the first
 * '?' (of the whole string when there is no '?'). With fallback, when there is none before the
 * '?', the last '@' after it. */
static const char *userinfo_end(const char *a, bool fallback)
{
    const char *q = strchr(a, '?');
    const char *at = NULL;
    for (const char *p = a; q != NULL ? p < q : *p != '\0'; p++) {
        if (*p == '@')
            at = p;
    }
    if (at == NULL && fallback && q != NULL)
        at = strrchr(q, '@');
    return at;
}

/* Masks the one URL url[0..len) into out[0..n). */
static void mask_one(const char *url, size_t len, char *out, size_t n)
{
    char one[URL_MAX];
    snprintf(one, sizeof(one), "%.*s", (int)len, url);
    const char *a = authority_start(one);
    /* Masking errs towards hiding: with no '@' before the query, an '@' inside it is taken as
     * the end of a userinfo holding an unencoded '?'. */
    const char *at = userinfo_end(a, true);
    const char *colon = at != NULL ? memchr(a, ':', (size_t)(at - a)) : NULL;
    if (colon == NULL)
        snprintf(out, n, "%s", one);
    else
        snprintf(out, n, "%.*s***%s", (int)(colon + 1 - one), one, at);
}

/* Returns the end of the URL starting at url: the next comma followed by a scheme (a list of
 * URLs; a MongoDB host list has no scheme after its commas), or the end of the string. */
static const char *url_end(const char *url)
{
    for (const char *p = strchr(url, ','); p != NULL; p = strchr(p + 1, ',')) {
        size_t scheme = strspn(p + 1, " abcdefghijklmnopqrstuvwxyz+");
        if (scheme > 0 && strncmp(p + 1 + scheme, "://", 3) == 0)
            return p;
    }
    return url + strlen(url);
}

void urltext_mask(const char *url, char *out, size_t n)
{
    if (n == 0)
        return;
    out[0] = '\0';
    for (const char *p = url;;) {
        const char *end = url_end(p);
        size_t o = strlen(out);
        mask_one(p, (size_t)(end - p), out + o, n - o);
        o = strlen(out);
        if (*end == '\0' || o + 1 >= n)
            return;
        out[o] = ',';
        out[o + 1] = '\0';
        p = end + 1;
    }
}

const char *urltext_path(const char *url, size_t *len)
{
    const char *a = authority_start(url);
    const char *at = userinfo_end(a, false);
    const char *slash = strpbrk(at != NULL ? at + 1 : a, "/?");
    if (slash == NULL || *slash != '/') {
        *len = 0;
        return url + strlen(url);
    }
    *len = strcspn(slash + 1, "?");
    return slash + 1;
}
