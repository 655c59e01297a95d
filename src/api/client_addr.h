/* SPDX-License-Identifier: MIT */
/*
 * The rate-limit key of a request (DESIGN §3): the TCP peer address, IPv4-mapped IPv6
 * normalised to IPv4; X-Forwarded-For is honoured only when the peer is in TRUST_PROXY_CIDRS,
 * and then the right-most hop that is not itself trusted is the client, found by walking the
 * header lines from the last one back (proxies append), so no client-written text can push the
 * proxy-written hops out. An IPv6 client is keyed by its RATE_LIMIT_IPV6_PREFIX network.
 * Thread: any (pure); a client_cidrs_t is frozen after parsing.
 */
#ifndef AT_API_CLIENT_ADDR_H
#define AT_API_CLIENT_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/err.h"

/* Transparent value type. len is 4 (IPv4) or 16 (IPv6); bytes[0..len) is the key. */
typedef struct client_addr {
    uint8_t len;
    uint8_t bytes[16];
} client_addr_t;

typedef struct client_cidrs client_cidrs_t;

/* Fills *out from a socket address (AF_INET or AF_INET6; ::ffff:a.b.c.d becomes a.b.c.d).
 * Returns 0, or ERR_INVAL for another family or a short length. */
int client_addr_from_sockaddr(const struct sockaddr *sa, socklen_t sa_len, client_addr_t *out);

/* Parses one textual address s[0..len) (IPv4 dotted quad or IPv6, surrounding spaces allowed),
 * normalising v4-mapped IPv6. Returns 0 or ERR_PARSE. */
int client_addr_parse(const char *s, size_t len, client_addr_t *out);

/* Writes the textual form plus NUL into buf (at least 46 bytes). Returns buf. */
char *client_addr_format(const client_addr_t *a, char *buf, size_t buf_len);

/* Parses a comma-separated CIDR list ("10.0.0.0/8, 192.168.1.7, fd00::/8"; a bare address means
 * a full-length prefix; "" gives an empty list). On success stores an owned list in *out and
 * returns 0; otherwise ERR_PARSE with err naming the bad item. */
int client_cidrs_parse(const char *list, client_cidrs_t **out, err_t *err);

/* Frees a list. NULL is a no-op. */
void client_cidrs_destroy(client_cidrs_t *c);

/* Returns whether a is inside one of the ranges. NULL or an empty list contains nothing. */
bool client_cidrs_contains(const client_cidrs_t *c, const client_addr_t *a);

/* The most X-Forwarded-For entries client_addr_resolve_lines examines, counted from the right
 * across all lines, empty ones included. Each trusted proxy of a real chain adds one entry, and
 * chains are a handful of hops long, so 64 is never reached in practice; the bound caps the work
 * (one address parse and one CIDR lookup per entry) that a sender inside a trusted range, or a
 * proxy that forwards the header without appending, can make a request cost. */
#define CLIENT_ADDR_XFF_MAX_ENTRIES 64

/* One X-Forwarded-For header line as received: base[0..len), not NUL-terminated, borrowed.
 * base may be NULL when len is 0. */
typedef struct client_addr_xff_line {
    const char *base;
    size_t len;
} client_addr_xff_line_t;

/* Resolves the client of a request whose TCP peer is *peer and whose X-Forwarded-For header
 * lines are lines[0..nlines), in the order they arrived (lines may be NULL when nlines is 0).
 * If the peer is not trusted, or there is no line, the peer is the client. Otherwise each
 * line's comma-separated entries are walked from the right, starting with the last line and
 * moving to the one before it; surrounding spaces and tabs are trimmed and empty entries
 * skipped (RFC 9110, section 5.6.1). An entry is exactly an IPv4 or IPv6 address
 * (client_addr_parse): brackets, ports, zone indexes and "unknown" are unparsable. The walk
 * stops at the first entry that is not trusted, which is the client; at an unparsable entry;
 * after CLIENT_ADDR_XFF_MAX_ENTRIES entries; or at the start of the first line. When it stops
 * for any reason but the first, the last trusted address it parsed is the client (the
 * left-most of an all-trusted chain), or the peer when it parsed none. Hence garbage never
 * becomes a key, and an untrusted address becomes one only when every entry to its right was
 * trusted. Since every line holds at least one entry, only the last CLIENT_ADDR_XFF_MAX_ENTRIES
 * lines can matter: a caller may pass just those, never the first ones. Reads only the given
 * bytes, allocates nothing, copies no line; *out may alias *peer. Never fails. */
void client_addr_resolve_lines(const client_addr_t *peer, const client_addr_xff_line_t *lines,
                               size_t nlines, const client_cidrs_t *trusted, client_addr_t *out);

/* Writes into *key the rate-limit key of *a: an IPv4 address (v4-mapped ones are IPv4 already)
 * unchanged; an IPv6 address with every bit past its first v6_prefix bits cleared, still 16
 * bytes long, so no IPv6 key ever equals an IPv4 one. Bytes past key->len are zero, so keys
 * compare and hash as whole structs. v6_prefix is RATE_LIMIT_IPV6_PREFIX (config bounds it to
 * 32..128; at most 128 here). Apply it to what client_addr_resolve_lines returns, not before:
 * trust is decided on whole addresses. *key may alias *a. */
void client_addr_key(const client_addr_t *a, unsigned v6_prefix, client_addr_t *key);

#endif
