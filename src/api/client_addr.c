/* SPDX-License-Identifier: MIT */
#include "api/client_addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "common/ows.h"

#define ADDR_TEXT_MAX 45 /* INET6_ADDRSTRLEN without the NUL */

/* One range: the network address (host bits cleared) and its prefix length in bits. */
typedef struct cidr {
    client_addr_t net;
    uint8_t prefix;
} cidr_t;

/* Thread: any; frozen after client_cidrs_parse. */
struct client_cidrs {
    size_t n;
    cidr_t items[];
};

static const uint8_t V4_MAPPED_PREFIX[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static void set_v6(client_addr_t *out, const uint8_t b[16])
{
    if (memcmp(b, V4_MAPPED_PREFIX, sizeof(V4_MAPPED_PREFIX)) == 0) {
        out->len = 4;
        memcpy(out->bytes, b + 12, 4);
        memset(out->bytes + 4, 0, 12);
    } else {
        out->len = 16;
        memcpy(out->bytes, b, 16);
    }
}

static void set_v4(client_addr_t *out, const uint8_t b[4])
{
    out->len = 4;
    memcpy(out->bytes, b, 4);
    memset(out->bytes + 4, 0, 12);
}

int client_addr_from_sockaddr(const struct sockaddr *sa, socklen_t sa_len, client_addr_t *out)
{
    if (sa == NULL || sa_len < (socklen_t)sizeof(sa_family_t))
        return ERR_INVAL;
    /* Copied out rather than cast: the caller's buffer need not be aligned for the family. */
    if (sa->sa_family == AF_INET && sa_len >= (socklen_t)sizeof(struct sockaddr_in)) {
        struct sockaddr_in in4;
        memcpy(&in4, sa, sizeof(in4));
        set_v4(out, (const uint8_t *)&in4.sin_addr);
        return 0;
    }
    if (sa->sa_family == AF_INET6 && sa_len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        struct sockaddr_in6 in6;
        memcpy(&in6, sa, sizeof(in6));
        set_v6(out, in6.sin6_addr.s6_addr);
        return 0;
    }
    return ERR_INVAL;
}

/* Parses an address without surrounding spaces; v4-mapped IPv6 is kept as IPv6 when
 * keep_mapped is set (a CIDR needs the original prefix length to decide). */
static int parse_exact(const char *s, size_t len, bool keep_mapped, client_addr_t *out)
{
    char buf[ADDR_TEXT_MAX + 1];
    if (len == 0 || len > ADDR_TEXT_MAX || memchr(s, '\0', len) != NULL)
        return ERR_PARSE;
    memcpy(buf, s, len);
    buf[len] = '\0';
    uint8_t b[16];
    /* inet_pton is strict: dotted quads of decimal octets only (no "1.2.3", no octal or hex
     * forms), IPv6 without a zone index. */
    if (memchr(buf, ':', len) == NULL) {
        if (inet_pton(AF_INET, buf, b) != 1)
            return ERR_PARSE;
        set_v4(out, b);
        return 0;
    }
    if (inet_pton(AF_INET6, buf, b) != 1)
        return ERR_PARSE;
    if (keep_mapped) {
        out->len = 16;
        memcpy(out->bytes, b, 16);
    } else {
        set_v6(out, b);
    }
    return 0;
}

int client_addr_parse(const char *s, size_t len, client_addr_t *out)
{
    if (s == NULL)
        return ERR_PARSE;
    s = ows_trim(s, &len);
    return parse_exact(s, len, false, out);
}

char *client_addr_format(const client_addr_t *a, char *buf, size_t buf_len)
{
    ASSERT(a->len == 4 || a->len == 16);
    ASSERT(buf != NULL && buf_len > 0);
    int family = a->len == 4 ? AF_INET : AF_INET6;
    if (inet_ntop(family, a->bytes, buf, (socklen_t)buf_len) == NULL)
        buf[0] = '\0';
    return buf;
}

/* Clears the bits of a past its first prefix bits (none when prefix is a->len * 8 or more). */
static void mask_bits(client_addr_t *a, unsigned prefix)
{
    for (unsigned i = 0; i < a->len; i++) {
        unsigned first_bit = i * 8;
        if (first_bit >= prefix)
            a->bytes[i] = 0;
        else if (prefix - first_bit < 8)
            a->bytes[i] &= (uint8_t)(0xff00u >> (prefix - first_bit));
    }
}

/* Parses one list item s[0..len), already trimmed. */
static int parse_cidr(const char *s, size_t len, cidr_t *out)
{
    const char *slash = memchr(s, '/', len);
    size_t addr_len = slash ? (size_t)(slash - s) : len;
    if (parse_exact(s, addr_len, true, &out->net) < 0)
        return ERR_PARSE;
    unsigned bits = out->net.len * 8u;
    unsigned prefix = bits;
    if (slash != NULL) {
        const char *p = slash + 1;
        size_t n = len - addr_len - 1;
        if (n == 0 || n > 3)
            return ERR_PARSE;
        prefix = 0;
        for (size_t i = 0; i < n; i++) {
            if (p[i] < '0' || p[i] > '9')
                return ERR_PARSE;
            prefix = prefix * 10 + (unsigned)(p[i] - '0');
        }
        if (prefix > bits)
            return ERR_PARSE;
    }
    out->prefix = (uint8_t)prefix;
    /* Clients are keyed as IPv4 when their address is v4-mapped, so a range inside
     * ::ffff:0:0/96 is stored as the IPv4 range it denotes. */
    if (out->net.len == 16 && prefix >= 96 &&
        memcmp(out->net.bytes, V4_MAPPED_PREFIX, sizeof(V4_MAPPED_PREFIX)) == 0) {
        set_v4(&out->net, out->net.bytes + 12);
        out->prefix = (uint8_t)(prefix - 96);
    }
    /* Host bits are accepted and cleared ("10.1.2.3/8" is 10.0.0.0/8), as most tools do. */
    mask_bits(&out->net, out->prefix);
    return 0;
}

int client_cidrs_parse(const char *list, client_cidrs_t **out, err_t *err)
{
    *out = NULL;
    if (list == NULL)
        list = "";
    size_t total = strlen(list);
    size_t trimmed_len = total;
    ows_trim(list, &trimmed_len);
    size_t n = 0;
    if (trimmed_len > 0) {
        n = 1;
        for (const char *p = list; *p != '\0'; p++)
            n += *p == ',';
    }
    client_cidrs_t *c = xmalloc(sizeof(*c) + n * sizeof(c->items[0]));
    c->n = n;
    const char *item = list;
    for (size_t i = 0; i < n; i++) {
        const char *comma = strchr(item, ',');
        size_t len = comma ? (size_t)(comma - item) : strlen(item);
        const char *s = ows_trim(item, &len);
        if (len == 0) {
            free(c);
            return err_set(err, ERR_PARSE, NULL, "empty item %zu in the CIDR list", i + 1);
        }
        if (parse_cidr(s, len, &c->items[i]) < 0) {
            free(c);
            return err_set(err, ERR_PARSE, NULL,
                           "bad CIDR \"%.*s\": expected an IPv4 or IPv6 address, optionally "
                           "followed by /prefix",
                           (int)(len > 64 ? 64 : len), s);
        }
        item = comma ? comma + 1 : item + len;
    }
    *out = c;
    return 0;
}

void client_cidrs_destroy(client_cidrs_t *c)
{
    free(c);
}

static bool cidr_contains(const cidr_t *c, const client_addr_t *a)
{
    if (c->net.len != a->len)
        return false; /* the families are never mixed: mapped addresses are already IPv4 */
    unsigned whole = c->prefix / 8u;
    unsigned rest = c->prefix % 8u;
    if (memcmp(c->net.bytes, a->bytes, whole) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff00u >> rest);
    return (a->bytes[whole] & mask) == c->net.bytes[whole];
}

bool client_cidrs_contains(const client_cidrs_t *c, const client_addr_t *a)
{
    if (c == NULL)
        return false;
    for (size_t i = 0; i < c->n; i++) {
        if (cidr_contains(&c->items[i], a))
            return true;
    }
    return false;
}

/* What the walk does after one entry. */
typedef enum walk_step { WALK_ON, WALK_STOP } walk_step_t;

/* Examines one entry e[0..len), untrimmed, with *out the last trusted address seen so far. */
static walk_step_t examine(const char *e, size_t len, const client_cidrs_t *trusted,
                           client_addr_t *out)
{
    e = ows_trim(e, &len);
    if (len == 0)
        return WALK_ON; /* empty list elements are ignored (RFC 9110, section 5.6.1) */
    client_addr_t a;
    if (client_addr_parse(e, len, &a) < 0)
        return WALK_STOP; /* an entry nobody can vouch for: the last trusted one answers for it */
    *out = a;
    return client_cidrs_contains(trusted, &a) ? WALK_ON : WALK_STOP;
}

void client_addr_resolve_lines(const client_addr_t *peer, const client_addr_xff_line_t *lines,
                               size_t nlines, const client_cidrs_t *trusted, client_addr_t *out)
{
    *out = *peer;
    if (lines == NULL || nlines == 0 || !client_cidrs_contains(trusted, peer))
        return;
    /* Walk from the right: each entry was appended by the proxy to its right, the right-most by
     * the (trusted) peer itself, and a proxy that adds a line adds it after the others. *out is
     * always the last trusted address seen. Each backward scan for a comma covers bytes of the
     * entry it delimits only, so the work is linear in the bytes of the examined entries. */
    unsigned budget = CLIENT_ADDR_XFF_MAX_ENTRIES;
    for (size_t li = nlines; li > 0; li--) {
        const char *s = lines[li - 1].base;
        size_t end = lines[li - 1].len;
        ASSERT(s != NULL || end == 0);
        if (s == NULL)
            s = ""; /* no arithmetic on a null pointer, even with a zero offset */
        /* A line holds one more entry than it has commas; an empty line is one empty entry. */
        for (;;) {
            if (budget == 0)
                return;
            budget--;
            size_t start = end;
            while (start > 0 && s[start - 1] != ',')
                start--;
            if (examine(s + start, end - start, trusted, out) == WALK_STOP)
                return;
            if (start == 0)
                break;
            end = start - 1;
        }
    }
}

void client_addr_key(const client_addr_t *a, unsigned v6_prefix, client_addr_t *key)
{
    ASSERT(a->len == 4 || a->len == 16);
    ASSERT(v6_prefix <= 128);
    client_addr_t k;
    memset(&k, 0, sizeof(k));
    k.len = a->len;
    memcpy(k.bytes, a->bytes, a->len);
    if (k.len == 16)
        mask_bits(&k, v6_prefix);
    *key = k;
}
