/* SPDX-License-Identifier: MIT */
#include "common/err.h"

#include <stdarg.h>
#include <string.h>

const char *err_name(int code)
{
    switch (code) {
#define ERR_CASE(name, c, msg)                                                                     \
    case c:                                                                                        \
        return "ERR_" #name;
        ERR_LIST(ERR_CASE)
#undef ERR_CASE
    case 0:
        return "OK";
    default:
        return "ERR_UNKNOWN";
    }
}

const char *err_default_msg(int code)
{
    switch (code) {
#define ERR_CASE(name, c, msg)                                                                     \
    case c:                                                                                        \
        return msg;
        ERR_LIST(ERR_CASE)
#undef ERR_CASE
    case 0:
        return "success";
    default:
        return "unknown error";
    }
}

int err_set(err_t *err, int code, const char *field, const char *fmt, ...)
{
    if (err == NULL)
        return code;
    err->code = code;
    err->field[0] = '\0';
    if (field != NULL)
        snprintf(err->field, sizeof(err->field), "%s", field);
    if (fmt == NULL) {
        snprintf(err->msg, sizeof(err->msg), "%s", err_default_msg(code));
    } else {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return code;
}

void err_clear(err_t *err)
{
    if (err == NULL)
        return;
    err->code = 0;
    err->field[0] = '\0';
    err->msg[0] = '\0';
}

void err_panic(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "{\"level\":\"fatal\",\"file\":\"%s\",\"line\":%d,\"msg\":\"", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\"}\n");
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        PANIC("out of memory allocating %zu bytes", n);
    return p;
}

void *xcalloc(size_t count, size_t n)
{
    void *p = calloc(count ? count : 1, n ? n : 1);
    if (p == NULL)
        PANIC("out of memory allocating %zu x %zu bytes", count, n);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        PANIC("out of memory reallocating %zu bytes", n);
    return q;
}

char *xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}
