/* SPDX-License-Identifier: MIT */
/*
 * The process logger and the only writer to stderr: one JSON object per line with ts, level,
 * thread, module, msg and optional extra members. Each line is formatted on the stack and
 * written with a single write(2), so lines from different threads never interleave.
 * Thread: any, except log_set_level (main, before other threads start).
 * Each .c that logs defines LOG_MODULE ("ring") before including this header.
 */
#ifndef AT_COMMON_LOG_H
#define AT_COMMON_LOG_H

#ifndef LOG_MODULE
#error "define LOG_MODULE (the module name shown in each line) before including common/log.h"
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

enum { LOG_LEVEL_ERROR = 0, LOG_LEVEL_WARN = 1, LOG_LEVEL_INFO = 2, LOG_LEVEL_DEBUG = 3 };

/* Longest line written, newline included; a longer message is cut on a UTF-8 boundary and ends
 * with "...". Below PIPE_BUF, so a line written to a pipe arrives whole. */
#define LOG_LINE_MAX 2048

/* Longest thread name kept by log_set_thread, in bytes. */
#define LOG_THREAD_NAME_MAX 31

/* Returns the level named s ("error", "warn", "info" or "debug", any case), or -1 for anything
 * else, NULL included. Pure. */
int log_level_parse(const char *s);

/* Returns the lower-case name of level ("info"), or "unknown". Never NULL. Pure. */
const char *log_level_name(int level);

/* Sets the most verbose level that is written (LOG_LEVEL_INFO until called). Thread: main,
 * before other threads start. */
void log_set_level(int level);

/* Returns the current level. Thread: any. */
int log_get_level(void);

/* Names the calling thread in its lines from now on; name is copied and cut to
 * LOG_THREAD_NAME_MAX bytes. Until called, a thread is shown as "main" (the process's first
 * thread) or "tid-<n>". Thread: any (affects the caller only). */
void log_set_thread(const char *name);

/* Writes one line at level from module, whatever the current level (the macros below filter).
 * kv is NULL or extra JSON members without braces, already escaped, e.g.
 * "\"queue\":\"q\",\"attempt\":3"; members that do not fit in the line are dropped and
 * "kv_dropped":true is written instead. Thread: any. */
void log_emit(int level, const char *module, const char *kv, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Writes err at error level as "<what>: <err->msg>" with err->field, when set, as the member
 * "variable" (see LOG_ERROR_ERR). Thread: any. */
void log_emit_err(const char *module, const char *what, const err_t *err);

#define LOG_AT_(lvl, kv, ...)                                                                      \
    (log_get_level() >= (lvl) ? log_emit((lvl), LOG_MODULE, (kv), __VA_ARGS__) : (void)0)
#define LOG_ERROR(...)        LOG_AT_(LOG_LEVEL_ERROR, NULL, __VA_ARGS__)
#define LOG_WARN(...)         LOG_AT_(LOG_LEVEL_WARN, NULL, __VA_ARGS__)
#define LOG_INFO(...)         LOG_AT_(LOG_LEVEL_INFO, NULL, __VA_ARGS__)
#define LOG_DEBUG(...)        LOG_AT_(LOG_LEVEL_DEBUG, NULL, __VA_ARGS__)
#define LOG_ERROR_KV(kv, ...) LOG_AT_(LOG_LEVEL_ERROR, kv, __VA_ARGS__)
/* Logs err at error level as "<what>: <err->msg>", with err->field (when set) as the field
 * "variable": how a program reports a bad setting before it exits 2. */
#define LOG_ERROR_ERR(what, err) log_emit_err(LOG_MODULE, what, err)
#define LOG_WARN_KV(kv, ...)     LOG_AT_(LOG_LEVEL_WARN, kv, __VA_ARGS__)
#define LOG_INFO_KV(kv, ...)     LOG_AT_(LOG_LEVEL_INFO, kv, __VA_ARGS__)
#define LOG_DEBUG_KV(kv, ...)    LOG_AT_(LOG_LEVEL_DEBUG, kv, __VA_ARGS__)

/* Writes src[0..src_len) into dst as the inside of a JSON string (no quotes): '"', '\\' and
 * control characters escaped, other bytes copied. Always NUL-terminates when dst_len > 0; when
 * dst is too small the output stops before a whole escape or UTF-8 sequence, never inside one.
 * Returns nothing: a caller that must know about truncation compares lengths. Pure. */
void log_json_escape(char *dst, size_t dst_len, const char *src, size_t src_len);

/* State for logging a repeated event at most once per interval. Zero-initialise; a last_ms of 0
 * means "never logged" (monotonic clocks do not read 0 in practice).
 * Thread: owned by one thread, or guarded by its owner's lock. */
typedef struct log_throttle {
    int64_t last_ms;
    uint32_t suppressed;
} log_throttle_t;

/* Returns true when a repeated event should be logged now: the first time, or when interval_ms
 * have passed since the last logged one. Then stores in *suppressed (if not NULL) how many were
 * suppressed since the last logged one and resets that count. Otherwise counts this event as
 * suppressed and returns false. Pure. */
bool log_throttle_allow(log_throttle_t *t, int64_t now_ms, int64_t interval_ms,
                        uint32_t *suppressed);

#endif
