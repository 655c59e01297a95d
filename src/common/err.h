/* SPDX-License-Identifier: MIT */
/*
 * Error codes shared by every module, from one X-macro list, and the err_t detail record a
 * caller may pass as the last argument of a fallible function.
 * Thread: any (pure; err_t is owned by the caller).
 * Invariant: failing functions return a negative ERR_* code; 0 is success, positives are counts.
 */
#ifndef AT_COMMON_ERR_H
#define AT_COMMON_ERR_H

#include <stdio.h>
#include <stdlib.h>

#define ERR_LIST(X)                                                                                \
    X(INVAL, -1, "invalid argument")                                                               \
    X(NOMEM, -2, "out of memory")                                                                  \
    X(FULL, -3, "full")                                                                            \
    X(EMPTY, -4, "empty")                                                                          \
    X(RANGE, -5, "out of range")                                                                   \
    X(PARSE, -6, "parse error")                                                                    \
    X(IO, -7, "I/O error")                                                                         \
    X(PROTO, -8, "protocol error")                                                                 \
    X(DUP, -9, "duplicate")                                                                        \
    X(TIMEOUT, -10, "timed out")                                                                   \
    X(UNAVAIL, -11, "unavailable")                                                                 \
    X(CLOSED, -12, "closed")

enum {
#define ERR_ENUM(name, code, msg) ERR_##name = (code),
    ERR_LIST(ERR_ENUM)
#undef ERR_ENUM
};

#define ERR_MSG_MAX   384
#define ERR_FIELD_MAX 64

/* Detail for the caller. Transparent value type: fill with err_set(). */
typedef struct err {
    int code;
    char field[ERR_FIELD_MAX];
    char msg[ERR_MSG_MAX];
} err_t;

/* Returns the symbolic name of code ("ERR_INVAL"), or "ERR_UNKNOWN". Never NULL. */
const char *err_name(int code);

/* Returns the default message of code. Never NULL. */
const char *err_default_msg(int code);

/* Fills err (if not NULL) with code, optional field (may be NULL) and a printf message, and
 * returns code so callers can write `return err_set(err, ERR_RANGE, NULL, "...")`. */
int err_set(err_t *err, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Resets err (if not NULL) to success. */
void err_clear(err_t *err);

/* Programmer errors: ASSERT is compiled out with NDEBUG; PANIC always aborts. */
void err_panic(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
#define PANIC(...) err_panic(__FILE__, __LINE__, __VA_ARGS__)
#ifdef NDEBUG
#define ASSERT(x) ((void)0)
#else
#define ASSERT(x) ((x) ? (void)0 : err_panic(__FILE__, __LINE__, "assertion failed: %s", #x))
#endif

/* Allocation that aborts on out-of-memory, as h2o and Redis do. */
void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
