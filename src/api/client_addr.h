/* SPDX-License-Identifier: MIT */
/*
 * The rate-limit key of a request (DESIGN §3): the TCP peer address, IPv4-mapped IPv6
 * normalised to IPv4; X-Forwarded-For is honoured only when the peer is in TRUST_PROXY_CIDRS,
 * and then the right-most hop that is not itself trusted is the client.
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

/* Resolves the client of a request whose TCP peer is *peer and whose X-Forwarded-For value (all
 * header lines joined with ", ", may be NULL) is xff[0..xff_len). If the peer is not trusted,
 * or xff is absent, the peer is the client. Otherwise hops are read from the right: the first
 * that is not trusted is the client; an unparsable hop ends the walk and the last trusted
 * address seen is the client; if all hops are trusted, the left-most is. Never fails. */
void client_addr_resolve(const client_addr_t *peer, const char *xff, size_t xff_len,
                         const client_cidrs_t *trusted, client_addr_t *out);

#endif
