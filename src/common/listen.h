/* SPDX-License-Identifier: MIT */
/*
 * A listening TCP socket on a host (name or numeric address; "0.0.0.0" or "::" for every
 * interface) and port, shared by activity-api's HTTP loops and activity-consumer's /metrics.
 * Thread: any (pure system calls; the returned descriptor is owned by the caller).
 */
#ifndef AT_COMMON_LISTEN_H
#define AT_COMMON_LISTEN_H

#include <stdint.h>

#include "common/err.h"

enum {
    LISTEN_NONBLOCK = 1 << 0,  /* O_NONBLOCK, for an event loop */
    LISTEN_REUSEPORT = 1 << 1, /* SO_REUSEPORT: several sockets share the port */
};

/* Opens, binds and listens. host_var and port_var name the settings that gave host and port,
 * so that err names the one to fix. Returns the descriptor (close-on-exec, TCP_NODELAY) or a
 * negative ERR_* code with err filled. */
int listen_tcp(const char *host, uint32_t port, int backlog, int flags, const char *host_var,
               const char *port_var, err_t *err);

/* Checks that host (a name or numeric address) resolves, as listen_tcp will need, so that a
 * program can refuse a bad setting at start. Returns 0, or ERR_INVAL with err naming host_var. */
int listen_check_host(const char *host, const char *host_var, err_t *err);

#endif
