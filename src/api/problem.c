/* SPDX-License-Identifier: MIT */
#include "api/problem.h"

#include <stdio.h>
#include <string.h>

#include "common/jsonesc.h"

/* A bounded writer: counts every byte it would write, stores those that fit. */
typedef struct out {
    char *buf;
    size_t cap;
    size_t len;
} out_t;

static void put(out_t *o, const char *s, size_t n)
{
    if (o->len < o->cap) {
        size_t room = o->cap - o->len;
        memcpy(o->buf + o->len, s, n < room ? n : room);
    }
    o->len += n;
}

static void put_str(out_t *o, const char *s)
{
    put(o, s, strlen(s));
}

/* Writes s as a JSON string literal. Bytes >= 0x80 pass through: callers hand in UTF-8. */
static void put_json_string(out_t *o, const char *s)
{
    put(o, "\"", 1);
    for (const char *p = s; *p; p++) {
        char esc[JSON_ESCAPE_MAX];
        size_t k = json_escape_byte((unsigned char)*p, esc);
        put(o, k != 0 ? esc : p, k != 0 ? k : 1);
    }
    put(o, "\"", 1);
}

static void put_member(out_t *o, const char *name, const char *value)
{
    if (value == NULL)
        return;
    put(o, ",\"", 2);
    put_str(o, name);
    put(o, "\":", 2);
    put_json_string(o, value);
}

static size_t finish(out_t *o)
{
    if (o->cap > 0)
        o->buf[o->len < o->cap ? o->len : o->cap - 1] = '\0';
    return o->len;
}

size_t problem_format(const problem_t *p, char *buf, size_t n)
{
    out_t o = {.buf = buf, .cap = n, .len = 0};
    char num[16];
    put_str(&o, "{\"type\":\"" PROBLEM_TYPE_BASE);
    put_str(&o, p->type != NULL ? p->type : "error");
    put(&o, "\"", 1);
    put_member(&o, "title", p->title);
    snprintf(num, sizeof(num), "%d", p->status);
    put_str(&o, ",\"status\":");
    put_str(&o, num);
    put_member(&o, "detail", p->detail);
    put_member(&o, "id", p->id);
    if (p->report != NULL) {
        put_str(&o, ",\"errors\":[");
        for (unsigned i = 0; i < p->report->count; i++) {
            put_str(&o, i == 0 ? "{\"field\":" : ",{\"field\":");
            put_json_string(&o, p->report->errors[i].field);
            put_str(&o, ",\"message\":");
            put_json_string(&o, p->report->errors[i].message);
            put(&o, "}", 1);
        }
        put(&o, "]", 1);
    }
    put(&o, "}", 1);
    return finish(&o);
}

size_t problem_ratelimit_policy(uint32_t limit, uint32_t window_ms, char *buf, size_t n)
{
    uint32_t window_s = window_ms / 1000 + (window_ms % 1000 != 0);
    int len = snprintf(buf, n, "\"ip\";q=%u;w=%u", limit, window_s);
    return len < 0 ? 0 : (size_t)len;
}

size_t problem_ratelimit_value(uint32_t remaining, uint32_t reset_s, char *buf, size_t n)
{
    int len = snprintf(buf, n, "\"ip\";r=%u;t=%u", remaining, reset_s);
    return len < 0 ? 0 : (size_t)len;
}
