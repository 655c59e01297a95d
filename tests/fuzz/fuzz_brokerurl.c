/* SPDX-License-Identifier: MIT */
/*
 * The configuration's URLs. Input: byte 0 picks max (1..BROKERURL_LIST_MAX), the rest up to the
 * first NUL is the text. Checked:
 *  - brokerurl_parse_list: 0, ERR_PARSE or ERR_RANGE with err filled; accepted: count is
 *    1..max and one more than the commas, each URL equals brokerurl_parse of its trimmed item,
 *    has a non-empty host and vhost, a port 1..65535 and NUL-terminated parts;
 *  - a password segment the text spells (amqp://user:PASS@..., PASS of 8 bytes or more that
 *    occurs once in the text) is never quoted in err->msg, and the decoded password (8 bytes or
 *    more, not inside the host or vhost) never appears in brokerurl_format_addr's text, which is
 *    NUL-terminated and cut to the buffer (a short buffer holds a prefix of the long one);
 *  - urltext_mask: NUL-terminated, cut to n (a prefix of the uncut text); for every item of
 *    the form scheme://user:SECRET@rest (after a comma or at the start, spaces before it
 *    allowed; scheme [a-z][a-z+]* as url_end recognises a URL start in a list, user and SECRET
 *    without any of ":@/?,", SECRET of 8 bytes or more and occurring once in the text), no 8
 *    bytes of SECRET that occur once in the text appear in the output;
 *  - urltext_path points into the text, at a path with no '?', within it.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/brokerurl.h"
#include "common/urltext.h"
#include "fuzzcheck.h"

#define SECRET_MIN 8
#define MASK_BIG   8192

static size_t count_occurrences(const char *hay, size_t hlen, const char *needle, size_t nlen)
{
    size_t c = 0;
    for (const char *p = hay; (p = memmem(p, hlen - (size_t)(p - hay), needle, nlen)) != NULL; p++)
        c++;
    return c;
}

static bool is_scheme_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (!first && c == '+');
}

/* Finds the password segment of an item [s, end) of the form " scheme://user:PASS@..." with
 * user and PASS free of ":@/?,"; returns PASS's start and length, or NULL. */
static const char *secret_of(const char *s, const char *end, size_t *len)
{
    while (s < end && *s == ' ')
        s++;
    const char *p = s;
    while (p < end && is_scheme_char(*p, p == s))
        p++;
    if (p == s || end - p < 3 || memcmp(p, "://", 3) != 0)
        return NULL;
    p += 3;
    while (p < end && strchr(":@/?,", *p) == NULL)
        p++;
    if (p == end || *p != ':')
        return NULL;
    const char *secret = ++p;
    while (p < end && strchr(":@/?,", *p) == NULL)
        p++;
    if (p == end || *p != '@')
        return NULL;
    *len = (size_t)(p - secret);
    return secret;
}

/* Every SECRET_MIN-byte window of secret that occurs once in text is absent from out. */
static void check_hidden(const char *text, const char *secret, size_t slen, const char *out,
                         const char *where)
{
    size_t tlen = strlen(text), olen = strlen(out);
    for (size_t i = 0; i + SECRET_MIN <= slen; i++) {
        const char *w = secret + i;
        if (count_occurrences(text, tlen, w, SECRET_MIN) == 1)
            FUZZCHECK(memmem(out, olen, w, SECRET_MIN) == NULL,
                      "%s shows \"%.*s\" of the password \"%.*s\": \"%s\"", where, SECRET_MIN, w,
                      (int)slen, secret, out);
    }
}

static bool terminated(const char *s, size_t cap)
{
    return memchr(s, '\0', cap) != NULL;
}

static void check_url(const brokerurl_t *u)
{
    FUZZCHECK(terminated(u->host, sizeof(u->host)) && terminated(u->user, sizeof(u->user)) &&
                  terminated(u->password, sizeof(u->password)) &&
                  terminated(u->vhost, sizeof(u->vhost)),
              "a part is not NUL-terminated");
    FUZZCHECK(u->host[0] != '\0', "empty host");
    FUZZCHECK(u->vhost[0] != '\0', "empty vhost (the default is \"/\")");
    FUZZCHECK(u->port >= 1, "port %u", (unsigned)u->port);

    char big[4 * BROKERURL_PART_MAX], small[12];
    memset(big, 'x', sizeof(big));
    memset(small, 'x', sizeof(small));
    brokerurl_format_addr(u, big, sizeof(big));
    brokerurl_format_addr(u, small, sizeof(small));
    FUZZCHECK(terminated(big, sizeof(big)) && terminated(small, sizeof(small)),
              "format_addr wrote no NUL");
    FUZZCHECK(strncmp(big, small, strlen(small)) == 0, "\"%s\" is not a prefix of \"%s\"", small,
              big);
    FUZZCHECK(strstr(big, u->host) != NULL, "\"%s\" lacks the host \"%s\"", big, u->host);
    size_t plen = strlen(u->password);
    if (plen >= SECRET_MIN && strstr(u->host, u->password) == NULL &&
        strstr(u->vhost, u->password) == NULL)
        FUZZCHECK(strstr(big, u->password) == NULL, "format_addr shows the password: \"%s\"", big);
}

static void check_list(const char *s, unsigned max)
{
    brokerurl_list_t list;
    err_t err;
    memset(&err, 0, sizeof(err));
    int rc = brokerurl_parse_list(s, max, &list, &err);
    if (rc != 0) {
        FUZZCHECK(rc == ERR_PARSE || rc == ERR_RANGE, "brokerurl_parse_list returned %d", rc);
        FUZZCHECK(err.code == rc && err.msg[0] != '\0' && terminated(err.msg, sizeof(err.msg)),
                  "err %d \"%s\" for %d", err.code, err.msg, rc);
    } else {
        size_t commas = 0;
        for (const char *p = s; *p != '\0'; p++)
            commas += *p == ',';
        FUZZCHECK(list.count >= 1 && list.count <= max && list.count == commas + 1,
                  "%u URLs (max %u) from %zu commas", list.count, max, commas);
    }
    /* Item by item: the same URL alone, and the password segment never in the message. */
    const char *item = s;
    for (unsigned i = 0;; i++) {
        const char *comma = strchr(item, ',');
        const char *end = comma != NULL ? comma : item + strlen(item);
        if (rc == 0) {
            const char *b = item, *e = end;
            while (b < e && (*b == ' ' || *b == '\t'))
                b++;
            while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            brokerurl_t one;
            FUZZCHECK(brokerurl_parse(b, (size_t)(e - b), &one, NULL) == 0, "item %u alone", i);
            FUZZCHECK(memcmp(&one, &list.urls[i], sizeof(one)) == 0, "item %u differs alone", i);
            check_url(&list.urls[i]);
        }
        size_t plen;
        const char *pass = secret_of(item, end, &plen);
        if (rc != 0 && pass != NULL && strncmp(item + strspn(item, " "), "amqp://", 7) == 0)
            check_hidden(s, pass, plen, err.msg, "err->msg");
        if (comma == NULL)
            break;
        item = comma + 1;
    }
}

static void check_mask(const char *s)
{
    char *big = malloc(MASK_BIG), small[17], one[1];
    urltext_mask(s, big, MASK_BIG);
    urltext_mask(s, small, sizeof(small));
    urltext_mask(s, one, sizeof(one));
    FUZZCHECK(terminated(big, MASK_BIG) && terminated(small, sizeof(small)) && one[0] == '\0',
              "urltext_mask wrote no NUL");
    FUZZCHECK(strlen(big) == MASK_BIG - 1 || strncmp(big, small, strlen(small)) == 0,
              "\"%s\" is not a prefix of \"%s\"", small, big);
    const char *item = s;
    for (;;) {
        const char *comma = strchr(item, ',');
        const char *end = comma != NULL ? comma : item + strlen(item);
        size_t slen;
        const char *secret = secret_of(item, end, &slen);
        if (secret != NULL)
            check_hidden(s, secret, slen, big, "urltext_mask");
        if (comma == NULL)
            break;
        item = comma + 1;
    }

    size_t len;
    const char *path = urltext_path(s, &len);
    size_t total = strlen(s);
    FUZZCHECK(path >= s && path <= s + total && len <= total - (size_t)(path - s) &&
                  memchr(path, '?', len) == NULL,
              "urltext_path gave %zu bytes at offset %td", len, path - s);
    free(big);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    unsigned max = 1 + data[0] % BROKERURL_LIST_MAX;
    size_t n = size - 1;
    const char *nul = memchr(data + 1, '\0', n);
    if (nul != NULL)
        n = (size_t)(nul - (const char *)data - 1);
    char *s = malloc(n + 1);
    memcpy(s, data + 1, n);
    s[n] = '\0';
    check_list(s, max);
    check_mask(s);
    free(s);
    return 0;
}
