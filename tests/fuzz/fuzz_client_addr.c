/* SPDX-License-Identifier: MIT */
/*
 * The client address of a request. Input: byte 0 picks the TCP peer, byte 1 the IPv6 key
 * prefix (32..128), the rest is X-Forwarded-For text, one header line per '\n'. Checked:
 *  - client_addr_parse of the whole text agrees with inet_pton on the text trimmed of spaces and
 *    tabs (IPv4 when it holds no ':', v4-mapped IPv6 becoming IPv4), and what it accepts formats
 *    (client_addr_format) to text that parses back to the same address;
 *  - client_addr_resolve_lines with the trusted list TRUSTED equals a reference walk written
 *    from the header's contract (entries from the right, last line first, at most
 *    CLIENT_ADDR_XFF_MAX_ENTRIES of them counting empty ones, the first untrusted one wins, an
 *    unparsable one or the end falls back to the last trusted one, or the peer); so the result
 *    is the peer or an address that round-trips through format/parse; with a trusted peer, a
 *    last entry of the last line that parses and is untrusted is the result; an untrusted peer
 *    is always the result;
 *  - client_addr_key of every address met, at the prefix: IPv4 unchanged, IPv6 keeps its first
 *    prefix bits and clears the rest, bytes past len zero, and the key of a key is itself;
 *  - client_cidrs_parse of the first line, when it accepts a single item "addr[/p]", contains
 *    addr (unless addr is v4-mapped with p < 96, a range no IPv4-keyed client can be in).
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "api/client_addr.h"
#include "fuzzcheck.h"

#define TRUSTED   "10.0.0.0/8, 127.0.0.1, ::1, fd00::/8, ::ffff:192.168.0.0/112"
#define MAX_LINES 256

static const char *const PEERS[8] = {"10.0.0.1",    "127.0.0.1",       "::1",
                                     "fd00::2",     "::ffff:10.1.2.3", "203.0.113.9",
                                     "2001:db8::9", "192.168.7.7"};

static client_cidrs_t *trusted;

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* The reference parse: inet_pton on the trimmed text. */
static bool ref_parse(const char *s, size_t len, client_addr_t *out)
{
    while (len > 0 && is_ows(*s)) {
        s++;
        len--;
    }
    while (len > 0 && is_ows(s[len - 1]))
        len--;
    char buf[64];
    if (len == 0 || len >= sizeof(buf) || memchr(s, '\0', len) != NULL)
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    memset(out, 0, sizeof(*out));
    if (memchr(buf, ':', len) == NULL) {
        out->len = 4;
        return inet_pton(AF_INET, buf, out->bytes) == 1;
    }
    out->len = 16;
    if (inet_pton(AF_INET6, buf, out->bytes) != 1)
        return false;
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(out->bytes, mapped, 12) == 0) {
        memmove(out->bytes, out->bytes + 12, 4);
        memset(out->bytes + 4, 0, 12);
        out->len = 4;
    }
    return true;
}

/* The reference trust test for TRUSTED, written out by hand. */
static bool ref_trusted(const client_addr_t *a)
{
    const uint8_t *b = a->bytes;
    if (a->len == 4)
        return b[0] == 10 || (b[0] == 127 && b[1] == 0 && b[2] == 0 && b[3] == 1) ||
               (b[0] == 192 && b[1] == 168);
    static const uint8_t loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return b[0] == 0xfd || memcmp(b, loopback, 16) == 0;
}

static bool same(const client_addr_t *a, const client_addr_t *b)
{
    return a->len == b->len && memcmp(a->bytes, b->bytes, a->len) == 0;
}

static bool tail_zero(const client_addr_t *a)
{
    for (size_t i = a->len; i < sizeof(a->bytes); i++)
        if (a->bytes[i] != 0)
            return false;
    return true;
}

static const char *text(const client_addr_t *a, char buf[64])
{
    return client_addr_format(a, buf, 64);
}

static void check_round_trip(const client_addr_t *a)
{
    char buf[64];
    client_addr_t back;
    FUZZCHECK(a->len == 4 || a->len == 16, "address of length %u", a->len);
    text(a, buf);
    FUZZCHECK(buf[0] != '\0' && client_addr_parse(buf, strlen(buf), &back) == 0 && same(&back, a),
              "\"%s\" does not parse back", buf);
}

static void check_key(const client_addr_t *a, unsigned prefix)
{
    client_addr_t key, again;
    memset(&key, 0x5a, sizeof(key));
    client_addr_key(a, prefix, &key);
    FUZZCHECK(key.len == a->len && tail_zero(&key), "key of length %u", key.len);
    for (unsigned bit = 0; bit < a->len * 8u; bit++) {
        unsigned want = (a->bytes[bit / 8] >> (7 - bit % 8)) & 1;
        unsigned got = (key.bytes[bit / 8] >> (7 - bit % 8)) & 1;
        if (a->len == 16 && bit >= prefix)
            want = 0;
        FUZZCHECK(got == want, "bit %u of the /%u key", bit, prefix);
    }
    client_addr_key(&key, prefix, &again);
    FUZZCHECK(memcmp(&again, &key, sizeof(key)) == 0, "key of a key differs (/%u)", prefix);
    again = *a;
    client_addr_key(&again, prefix, &again); /* *key may alias *a */
    FUZZCHECK(memcmp(&again, &key, sizeof(key)) == 0, "aliased key differs (/%u)", prefix);
}

/* The walk the header describes, from the right. */
static client_addr_t ref_resolve(const client_addr_t *peer, const client_addr_xff_line_t *lines,
                                 size_t n)
{
    if (n == 0 || !ref_trusted(peer))
        return *peer;
    client_addr_t last = *peer;
    unsigned examined = 0;
    for (size_t li = n; li-- > 0;) {
        const char *s = lines[li].base;
        size_t end = lines[li].len;
        for (;;) {
            if (examined++ == CLIENT_ADDR_XFF_MAX_ENTRIES)
                return last;
            size_t start = end;
            while (start > 0 && s[start - 1] != ',')
                start--;
            size_t elen = end - start;
            const char *e = s + start;
            while (elen > 0 && is_ows(*e)) {
                e++;
                elen--;
            }
            while (elen > 0 && is_ows(e[elen - 1]))
                elen--;
            if (elen > 0) {
                client_addr_t a;
                if (!ref_parse(e, elen, &a))
                    return last;
                last = a;
                if (!ref_trusted(&a))
                    return a;
            }
            if (start == 0)
                break;
            end = start - 1;
        }
    }
    return last;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (trusted == NULL)
        FUZZCHECK(client_cidrs_parse(TRUSTED, &trusted, NULL) == 0, "TRUSTED");
    if (size < 2)
        return 0;
    client_addr_t peer;
    FUZZCHECK(client_addr_parse(PEERS[data[0] % 8], strlen(PEERS[data[0] % 8]), &peer) == 0,
              "peer");
    unsigned prefix = 32 + data[1] % 97;
    const char *xff = (const char *)data + 2;
    size_t n = size - 2;
    char buf[64];

    /* client_addr_parse against inet_pton. */
    client_addr_t a, want;
    memset(&a, 0xa5, sizeof(a));
    bool ok = client_addr_parse(xff, n, &a) == 0;
    FUZZCHECK(ok == ref_parse(xff, n, &want), "parse %s where inet_pton does %s",
              ok ? "accepts" : "refuses", ok ? "not" : "");
    if (ok) {
        FUZZCHECK(same(&a, &want) && tail_zero(&a), "parsed as %s", text(&a, buf));
        check_round_trip(&a);
        check_key(&a, prefix);
    }

    /* The lines, and the resolved client against the reference walk. */
    client_addr_xff_line_t lines[MAX_LINES];
    size_t nlines = 0;
    for (size_t at = 0; at <= n && nlines < MAX_LINES;) {
        const char *nl = memchr(xff + at, '\n', n - at);
        size_t end = nl != NULL ? (size_t)(nl - xff) : n;
        lines[nlines].base = xff + at;
        lines[nlines].len = end - at;
        nlines++;
        at = end + 1;
    }
    client_addr_t got;
    memset(&got, 0xa5, sizeof(got));
    client_addr_resolve_lines(&peer, lines, nlines, trusted, &got);
    client_addr_t ref = ref_resolve(&peer, lines, nlines);
    FUZZCHECK(same(&got, &ref) && tail_zero(&got), "resolved %s, reference %s", text(&got, buf),
              client_addr_format(&ref, (char[64]){0}, 64));
    FUZZCHECK(ref_trusted(&peer) || same(&got, &peer), "untrusted peer replaced");
    if (!same(&got, &peer))
        check_round_trip(&got);
    check_key(&got, prefix);
    /* With a trusted peer, a parsable untrusted last entry is the client. */
    const client_addr_xff_line_t *last = &lines[nlines - 1];
    size_t start = last->len;
    while (start > 0 && last->base[start - 1] != ',')
        start--;
    client_addr_t e;
    if (ref_trusted(&peer) && client_addr_parse(last->base + start, last->len - start, &e) == 0 &&
        !ref_trusted(&e))
        FUZZCHECK(same(&got, &e), "the untrusted last entry %s is not the client %s", text(&e, buf),
                  client_addr_format(&got, (char[64]){0}, 64));
    /* The library's trust test is the reference's on what was resolved. */
    FUZZCHECK(client_cidrs_contains(trusted, &got) == ref_trusted(&got), "trust of %s",
              text(&got, buf));

    /* The first line as a CIDR list. */
    char *list = malloc(lines[0].len + 1);
    memcpy(list, lines[0].base, lines[0].len);
    list[lines[0].len] = '\0';
    client_cidrs_t *c = NULL;
    if (client_cidrs_parse(list, &c, NULL) == 0 && strchr(list, ',') == NULL) {
        char *slash = strchr(list, '/');
        size_t alen = slash != NULL ? (size_t)(slash - list) : strlen(list);
        unsigned p = slash != NULL ? (unsigned)atoi(slash + 1) : 128;
        client_addr_t net;
        bool mapped_short = memchr(list, ':', alen) != NULL && p < 96;
        if (alen > 0 && client_addr_parse(list, alen, &net) == 0 && !(net.len == 4 && mapped_short))
            FUZZCHECK(client_cidrs_contains(c, &net), "\"%s\" does not contain its address", list);
    }
    client_cidrs_destroy(c);
    free(list);
    return 0;
}
