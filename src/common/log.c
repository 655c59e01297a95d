/* SPDX-License-Identifier: MIT */
#define LOG_MODULE "log"
#include "common/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/jsonesc.h"
#include "common/rfc3339.h"
#include "common/utf8.h"

static const char *const level_names[] = {"error", "warn", "info", "debug"};

/* The level is a standalone flag: no other data is published through it, so relaxed loads and
 * stores suffice on every side. */
static _Atomic int current_level = LOG_LEVEL_INFO;

static _Thread_local char thread_name[LOG_THREAD_NAME_MAX + 1];

int log_level_parse(const char *s)
{
    if (s == NULL)
        return -1;
    for (int i = 0; i < (int)(sizeof(level_names) / sizeof(level_names[0])); i++) {
        if (strcasecmp(s, level_names[i]) == 0)
            return i;
    }
    return -1;
}

const char *log_level_name(int level)
{
    if (level < LOG_LEVEL_ERROR || level > LOG_LEVEL_DEBUG)
        return "unknown";
    return level_names[level];
}

void log_set_level(int level)
{
    ASSERT(level >= LOG_LEVEL_ERROR && level <= LOG_LEVEL_DEBUG);
    atomic_store_explicit(&current_level, level, memory_order_relaxed);
}

int log_get_level(void)
{
    return atomic_load_explicit(&current_level, memory_order_relaxed);
}

void log_set_thread(const char *name)
{
    snprintf(thread_name, sizeof(thread_name), "%s", name ? name : "");
}

/* The escaper behind log_json_escape. Invalid UTF-8 becomes U+FFFD so every line stays valid
 * JSON whatever bytes a message carries. Stores in *consumed how many source bytes were
 * written out and returns the output length (excluding the NUL). */
static size_t escape_json(char *dst, size_t dst_len, const char *src, size_t src_len,
                          size_t *consumed)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t o = 0, i = 0;
    if (dst_len == 0) {
        *consumed = 0;
        return 0;
    }
    while (i < src_len) {
        char esc[8];
        const char *piece = esc;
        size_t plen, step = 1;
        unsigned char c = s[i];
        if (c < 0x80) {
            plen = json_escape_byte(c, esc);
            if (plen == 0) {
                esc[0] = (char)c;
                plen = 1;
            }
        } else if ((step = utf8_seq_len(s + i, src_len - i)) > 0) {
            piece = (const char *)s + i;
            plen = step;
        } else {
            piece = "\\ufffd";
            plen = 6;
            step = 1;
        }
        if (o + plen >= dst_len)
            break;
        memcpy(dst + o, piece, plen);
        o += plen;
        i += step;
    }
    dst[o] = '\0';
    *consumed = i;
    return o;
}

void log_json_escape(char *dst, size_t dst_len, const char *src, size_t src_len)
{
    size_t consumed;
    escape_json(dst, dst_len, src, src_len, &consumed);
}

static const char *current_thread_name(void)
{
    if (thread_name[0] == '\0') {
        pid_t tid = gettid();
        if (tid == getpid())
            snprintf(thread_name, sizeof(thread_name), "main");
        else
            snprintf(thread_name, sizeof(thread_name), "tid-%d", (int)tid);
    }
    return thread_name;
}

static void write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return; /* nowhere left to report a failing stderr */
        }
        p += w;
        n -= (size_t)w;
    }
}

void log_emit(int level, const char *module, const char *kv, const char *fmt, ...)
{
    static const char ellipsis[] = "...";
    static const char dropped[] = "\"kv_dropped\":true";
    /* Room the message keeps even when kv is long: kv is dropped rather than the message. */
    enum { MSG_MIN = 256 };
    char line[LOG_LINE_MAX];
    char msg[LOG_LINE_MAX];
    char ts[RFC3339_MS_LEN + 1];
    char thread[64], mod[64];
    struct timespec now;
    va_list ap;

    int saved_errno = errno; /* callers may log between a failure and reading errno */
    clock_gettime(CLOCK_REALTIME, &now);
    rfc3339_format_ms((int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000, ts);

    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    size_t msg_len = n < 0 ? 0 : (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1;
    bool cut = n > 0 && (size_t)n > msg_len;

    const char *name = current_thread_name();
    log_json_escape(thread, sizeof(thread), name, strlen(name));
    log_json_escape(mod, sizeof(mod), module, strlen(module));
    size_t o = (size_t)snprintf(line, sizeof(line),
                                "{\"ts\":\"%s\",\"level\":\"%s\",\"thread\":\"%s\","
                                "\"module\":\"%s\",\"msg\":\"",
                                ts, log_level_name(level), thread, mod);

    /* Layout: head, escaped msg, "..." if cut, '"', then ',' kv (or the dropped marker), "}\n". */
    const char *extra = kv != NULL && kv[0] != '\0' ? kv : NULL;
    size_t extra_len = extra != NULL ? strlen(extra) : 0;
    size_t fixed = o + (sizeof(ellipsis) - 1) + 1 + 2;
    if (extra != NULL && fixed + 1 + extra_len + MSG_MIN > sizeof(line)) {
        extra = dropped;
        extra_len = sizeof(dropped) - 1;
    }
    size_t room = sizeof(line) - fixed - (extra != NULL ? 1 + extra_len : 0);

    size_t consumed;
    o += escape_json(line + o, room + 1, msg, msg_len, &consumed); /* +1: the NUL, overwritten */
    if (cut || consumed < msg_len) {
        memcpy(line + o, ellipsis, sizeof(ellipsis) - 1);
        o += sizeof(ellipsis) - 1;
    }
    line[o++] = '"';
    if (extra != NULL) {
        line[o++] = ',';
        memcpy(line + o, extra, extra_len);
        o += extra_len;
    }
    line[o++] = '}';
    line[o++] = '\n';
    write_all(line, o);
    errno = saved_errno;
}

bool log_throttle_allow(log_throttle_t *t, int64_t now_ms, int64_t interval_ms,
                        uint32_t *suppressed)
{
    if (t->last_ms == 0 || now_ms - t->last_ms >= interval_ms) {
        if (suppressed != NULL)
            *suppressed = t->suppressed;
        t->suppressed = 0;
        t->last_ms = now_ms;
        return true;
    }
    if (t->suppressed < UINT32_MAX)
        t->suppressed++;
    return false;
}

void log_emit_err(const char *module, const char *what, const err_t *err)
{
    char field[ERR_FIELD_MAX * 6 + 1];
    char kv[sizeof(field) + 16];
    kv[0] = '\0';
    if (err->field[0] != '\0') {
        log_json_escape(field, sizeof(field), err->field, strlen(err->field));
        snprintf(kv, sizeof(kv), "\"variable\":\"%s\"", field);
    }
    log_emit(LOG_LEVEL_ERROR, module, kv[0] != '\0' ? kv : NULL, "%s: %s", what, err->msg);
}
