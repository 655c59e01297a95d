/* SPDX-License-Identifier: MIT */
#include "common/listen.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Resolves host:port for a passive socket into *res (freeaddrinfo). Returns 0 or ERR_INVAL. */
static int resolve(const char *host, uint32_t port, const char *host_var, struct addrinfo **res,
                   err_t *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    char portstr[8];
    snprintf(portstr, sizeof(portstr), "%u", port);
    int gai = getaddrinfo(host, portstr, &hints, res);
    if (gai != 0)
        return err_set(err, ERR_INVAL, host_var, "cannot resolve %s \"%s\": %s", host_var, host,
                       gai_strerror(gai));
    return 0;
}

int listen_check_host(const char *host, const char *host_var, err_t *err)
{
    struct addrinfo *res = NULL;
    int rc = resolve(host, 1, host_var, &res, err);
    if (rc == 0)
        freeaddrinfo(res);
    return rc;
}

int listen_tcp(const char *host, uint32_t port, int backlog, int flags, const char *host_var,
               const char *port_var, err_t *err)
{
    struct addrinfo *res = NULL;
    int rc = resolve(host, port, host_var, &res, err);
    if (rc < 0)
        return rc;
    int type = SOCK_STREAM | SOCK_CLOEXEC | ((flags & LISTEN_NONBLOCK) ? SOCK_NONBLOCK : 0);
    int fd = socket(res->ai_family, type, 0);
    int one = 1;
    if (fd < 0) {
        rc = err_set(err, ERR_IO, NULL, "socket: %s", strerror(errno));
        goto out;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        ((flags & LISTEN_REUSEPORT) &&
         setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0) {
        rc = err_set(err, ERR_IO, NULL, "setsockopt: %s", strerror(errno));
        goto out;
    }
    if (bind(fd, res->ai_addr, res->ai_addrlen) < 0) {
        rc = err_set(err, ERR_IO, port_var, "cannot listen on %s:%u (%s, %s): %s", host, port,
                     host_var, port_var, strerror(errno));
        goto out;
    }
    if (listen(fd, backlog) < 0) {
        rc = err_set(err, ERR_IO, port_var, "listen on %s:%u: %s", host, port, strerror(errno));
        goto out;
    }
out:
    freeaddrinfo(res);
    if (rc < 0) {
        if (fd >= 0)
            close(fd);
        return rc;
    }
    return fd;
}
