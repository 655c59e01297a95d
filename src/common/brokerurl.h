/* SPDX-License-Identifier: MIT */
/*
 * AMQP broker URLs (RABBITMQ_URL): one amqp://user:pass@host:port/vhost, or a comma-separated
 * list of them (the nodes of a cluster), parsed once at start into their parts, with the
 * defaults and the percent-decoding rabbitmq-c's own parser applies. A URL with a password is
 * only ever shown masked.
 * Thread: any (pure).
 */
#ifndef AT_COMMON_BROKERURL_H
#define AT_COMMON_BROKERURL_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define BROKERURL_LIST_MAX 16  /* URLs in one RABBITMQ_URL */
#define BROKERURL_PART_MAX 256 /* bytes of host, user, password or vhost, NUL included */

/* One broker. Transparent value type. */
typedef struct brokerurl {
    char host[BROKERURL_PART_MAX];     /* name or address, IPv6 without brackets */
    char user[BROKERURL_PART_MAX];     /* decoded; default "guest" */
    char password[BROKERURL_PART_MAX]; /* decoded; default "guest" */
    char vhost[BROKERURL_PART_MAX];    /* decoded; default "/" */
    uint16_t port;                     /* default 5672 */
} brokerurl_t;

/* Every broker of RABBITMQ_URL, in the order given. Transparent value type. */
typedef struct brokerurl_list {
    unsigned count;
    brokerurl_t urls[BROKERURL_LIST_MAX];
} brokerurl_list_t;

/* Parses one URL s[0..len): "amqp://" [user [":" password] "@"] host [":" port] ["/" vhost].
 * host is a name, an IPv4 address or a bracketed IPv6 address ("amqp://[::1]:5672/");
 * user, password and vhost are percent-decoded ("/%2f" is the vhost "/"); an empty vhost is "/".
 * Returns 0, or ERR_PARSE with err->msg saying what is wrong (never quoting the password):
 * amqps:// (no TLS in this build), another scheme, an empty host, a port that is not 1..65535,
 * a query, a bad percent escape, a part too long. */
int brokerurl_parse(const char *s, size_t len, brokerurl_t *out, err_t *err);

/* Parses a comma-separated list of at most max (<= BROKERURL_LIST_MAX) URLs; spaces around
 * each are ignored. Returns 0, or ERR_PARSE (a bad URL: err->msg starts with its position when
 * there are several) or ERR_RANGE (empty list, empty item, more than max). */
int brokerurl_parse_list(const char *list, unsigned max, brokerurl_list_t *out, err_t *err);

/* Writes u for logs and metrics as "host:port" (IPv6 in brackets), vhost appended when it is not
 * "/"; no user or password. Always NUL-terminates when n > 0. */
void brokerurl_format_addr(const brokerurl_t *u, char *buf, size_t n);

#endif
