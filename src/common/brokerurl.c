/* SPDX-License-Identifier: MIT */
#include "common/brokerurl.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/hexdig.h"
#include "common/ows.h"

#define SCHEME     "amqp://"
#define SCHEME_LEN (sizeof(SCHEME) - 1)

/* Percent-decodes [s, end) into out (BROKERURL_PART_MAX bytes). Returns 0 or ERR_PARSE. */
static int decode(const char *s, const char *end, char *out, const char *what, err_t *err)
{
    size_t o = 0;
    for (; s < end; s++) {
        char c = *s;
        if (c == '%') {
            int hi = end - s > 2 ? hexdig_value(s[1]) : -1;
            int lo = end - s > 2 ? hexdig_value(s[2]) : -1;
            if (hi < 0 || lo < 0 || hi + lo == 0) /* %00 would cut the value short */
                return err_set(err, ERR_PARSE, NULL, "bad percent escape in the %s", what);
            c = (char)(hi * 16 + lo);
            s += 2;
        }
        if (o + 1 >= BROKERURL_PART_MAX)
            return err_set(err, ERR_PARSE, NULL, "the %s is longer than %d bytes", what,
                           BROKERURL_PART_MAX - 1);
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

static int parse_port(const char *s, const char *end, uint16_t *out, err_t *err)
{
    uint32_t v = 0;
    const char *p = s;
    for (; p < end && *p >= '0' && *p <= '9' && v <= 65535; p++)
        v = v * 10 + (uint32_t)(*p - '0');
    if (p == s || p != end || v == 0 || v > 65535)
        return err_set(err, ERR_PARSE, NULL, "the port must be a number from 1 to 65535");
    *out = (uint16_t)v;
    return 0;
}

/* Parses host [":" port] from [s, end). */
static int parse_hostport(const char *s, const char *end, brokerurl_t *out, err_t *err)
{
    const char *host = s, *host_end = end, *port = NULL;
    if (s < end && *s == '[') {
        const char *close = memchr(s, ']', (size_t)(end - s));
        if (close == NULL)
            return err_set(err, ERR_PARSE, NULL, "an IPv6 host must end with ']'");
        host = s + 1;
        host_end = close;
        if (close + 1 < end && close[1] != ':')
            return err_set(err, ERR_PARSE, NULL, "only \":port\" may follow an IPv6 host");
        if (close + 1 < end)
            port = close + 2;
    } else {
        const char *colon = memchr(s, ':', (size_t)(end - s));
        if (colon != NULL) {
            host_end = colon;
            port = colon + 1;
        }
    }
    if (host == host_end)
        return err_set(err, ERR_PARSE, NULL, "the host is empty");
    int rc = decode(host, host_end, out->host, "host", err);
    if (rc < 0)
        return rc;
    out->port = 5672;
    return port != NULL ? parse_port(port, end, &out->port, err) : 0;
}

int brokerurl_parse(const char *s, size_t len, brokerurl_t *out, err_t *err)
{
    const char *end = s + len;
    memset(out, 0, sizeof(*out));
    if (len >= 8 && strncmp(s, "amqps://", 8) == 0)
        return err_set(err, ERR_PARSE, NULL, "amqps:// (TLS) is not supported by this build");
    if (len < SCHEME_LEN || strncmp(s, SCHEME, SCHEME_LEN) != 0)
        return err_set(err, ERR_PARSE, NULL, "must start with amqp://");
    s += SCHEME_LEN;
    if (memchr(s, '?', (size_t)(end - s)) != NULL || memchr(s, '#', (size_t)(end - s)) != NULL)
        return err_set(err, ERR_PARSE, NULL, "query strings and fragments are not supported");
    const char *slash = memchr(s, '/', (size_t)(end - s));
    const char *auth_end = slash != NULL ? slash : end;
    /* The userinfo ends at the last '@' of the authority, so a password may hold an '@'. */
    const char *at = NULL;
    for (const char *p = s; p < auth_end; p++)
        if (*p == '@')
            at = p;
    strcpy(out->user, "guest");
    strcpy(out->password, "guest");
    strcpy(out->vhost, "/");
    int rc = 0;
    if (at != NULL) {
        const char *colon = memchr(s, ':', (size_t)(at - s));
        rc = decode(s, colon != NULL ? colon : at, out->user, "user", err);
        if (rc == 0 && colon != NULL)
            rc = decode(colon + 1, at, out->password, "password", err);
        if (rc < 0)
            return rc;
        s = at + 1;
    }
    rc = parse_hostport(s, auth_end, out, err);
    if (rc < 0 || slash == NULL || slash + 1 == end)
        return rc;
    return decode(slash + 1, end, out->vhost, "vhost", err);
}

int brokerurl_parse_list(const char *list, unsigned max, brokerurl_list_t *out, err_t *err)
{
    ASSERT(max >= 1 && max <= BROKERURL_LIST_MAX);
    out->count = 0;
    const char *p = list;
    for (unsigned i = 0;; i++) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        const char *item = ows_trim(p, &len);
        if (len == 0)
            return err_set(err, ERR_RANGE, NULL, "URL %u of the list is empty", i + 1);
        if (i >= max)
            return err_set(err, ERR_RANGE, NULL, "holds more than %u URLs", max);
        int rc = brokerurl_parse(item, len, &out->urls[i], err);
        if (rc < 0) {
            if (err != NULL && (comma != NULL || i > 0)) {
                char what[ERR_MSG_MAX];
                snprintf(what, sizeof(what), "%s", err->msg);
                err_set(err, rc, NULL, "URL %u: %s", i + 1, what);
            }
            return rc;
        }
        out->count = i + 1;
        if (comma == NULL)
            return 0;
        p = comma + 1;
    }
}

void brokerurl_format_addr(const brokerurl_t *u, char *buf, size_t n)
{
    bool v6 = strchr(u->host, ':') != NULL;
    int w = snprintf(buf, n, "%s%s%s:%u", v6 ? "[" : "", u->host, v6 ? "]" : "", (unsigned)u->port);
    if (w > 0 && (size_t)w < n && strcmp(u->vhost, "/") != 0)
        snprintf(buf + w, n - (size_t)w, "/%s", u->vhost);
}
