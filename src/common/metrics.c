/* SPDX-License-Identifier: MIT */
#include "common/metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"

void metrics_histogram_init(metrics_histogram_t *h, const uint64_t *bounds_us, uint32_t n)
{
    ASSERT(n <= METRICS_HIST_MAX_BUCKETS);
    memset(h, 0, sizeof(*h));
    h->nbuckets = n;
    for (uint32_t i = 0; i < n; i++) {
        ASSERT(i == 0 || bounds_us[i] > bounds_us[i - 1]);
        h->bounds_us[i] = bounds_us[i];
    }
}

void metrics_histogram_observe_us(metrics_histogram_t *h, uint64_t us)
{
    uint32_t i = 0;
    while (i < h->nbuckets && us > h->bounds_us[i])
        i++;
    /* Relaxed, as for counters: the three tallies are read independently (see metrics.h). */
    atomic_fetch_add_explicit(&h->counts[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, us, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

void metrics_histogram_merge(metrics_histogram_t *dst, const metrics_histogram_t *src)
{
    ASSERT(dst->nbuckets == src->nbuckets);
    for (uint32_t i = 0; i <= src->nbuckets; i++) {
        ASSERT(i == src->nbuckets || dst->bounds_us[i] == src->bounds_us[i]);
        atomic_fetch_add_explicit(&dst->counts[i],
                                  atomic_load_explicit(&src->counts[i], memory_order_relaxed),
                                  memory_order_relaxed);
    }
    atomic_fetch_add_explicit(&dst->sum_us,
                              atomic_load_explicit(&src->sum_us, memory_order_relaxed),
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&dst->count, atomic_load_explicit(&src->count, memory_order_relaxed),
                              memory_order_relaxed);
}

void metrics_buf_init(metrics_buf_t *b, char *data, size_t cap)
{
    b->data = data;
    b->cap = cap;
    b->len = 0;
    b->truncated = false;
    if (cap > 0)
        data[0] = '\0';
}

/* Appends one formatted piece whole, or marks b truncated and leaves it as it was. */
__attribute__((format(printf, 2, 3))) static void append(metrics_buf_t *b, const char *fmt, ...)
{
    if (b->truncated || b->cap == 0) {
        b->truncated = true;
        return;
    }
    size_t room = b->cap - b->len;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(b->data + b->len, room, fmt, ap);
    va_end(ap);
    if (w < 0 || (size_t)w >= room) {
        b->data[b->len] = '\0';
        b->truncated = true;
        return;
    }
    b->len += (size_t)w;
}

void metrics_render_family(metrics_buf_t *b, const char *name, const char *type, const char *help)
{
    /* HELP text escapes backslash and newline; anything longer than this is cut. */
    char esc[512];
    size_t o = 0;
    for (const char *p = help; *p != '\0' && o + 2 < sizeof(esc); p++) {
        if (*p == '\\' || *p == '\n') {
            esc[o++] = '\\';
            esc[o++] = *p == '\n' ? 'n' : '\\';
        } else {
            esc[o++] = *p;
        }
    }
    esc[o] = '\0';
    append(b, "# HELP %s %s\n# TYPE %s %s\n", name, esc, name, type);
}

static bool has_labels(const char *labels)
{
    return labels != NULL && labels[0] != '\0';
}

/* Appends one sample line: name + suffix, the labels if any, and the value text. */
static void sample(metrics_buf_t *b, const char *name, const char *suffix, const char *labels,
                   const char *value)
{
    if (has_labels(labels))
        append(b, "%s%s{%s} %s\n", name, suffix, labels, value);
    else
        append(b, "%s%s %s\n", name, suffix, value);
}

void metrics_render_u64(metrics_buf_t *b, const char *name, const char *labels, uint64_t v)
{
    char value[24];
    snprintf(value, sizeof(value), "%" PRIu64, v);
    sample(b, name, "", labels, value);
}

void metrics_render_one_u64(metrics_buf_t *b, const char *name, const char *type, const char *help,
                            uint64_t v)
{
    metrics_render_family(b, name, type, help);
    metrics_render_u64(b, name, NULL, v);
}

void metrics_render_i64(metrics_buf_t *b, const char *name, const char *labels, int64_t v)
{
    char value[24];
    snprintf(value, sizeof(value), "%" PRId64, v);
    sample(b, name, "", labels, value);
}

/* Writes us as decimal seconds, exactly, without trailing zeros: 1500 -> "0.0015", 2000000 ->
 * "2". */
static void format_seconds(uint64_t us, char *out, size_t n)
{
    uint64_t frac = us % 1000000;
    if (frac == 0) {
        snprintf(out, n, "%" PRIu64, us / 1000000);
        return;
    }
    int digits = 6;
    while (frac % 10 == 0) {
        frac /= 10;
        digits--;
    }
    snprintf(out, n, "%" PRIu64 ".%0*" PRIu64, us / 1000000, digits, frac);
}

void metrics_render_histogram(metrics_buf_t *b, const char *name, const char *labels,
                              const metrics_histogram_t *h)
{
    const char *sep = has_labels(labels) ? "," : "";
    const char *lab = has_labels(labels) ? labels : "";
    char secs[32];
    uint64_t cumulative = 0;
    for (uint32_t i = 0; i <= h->nbuckets; i++) {
        /* The buckets are loaded one by one while others observe; _count is rendered from the
         * same loads, so +Inf and _count agree even though the sum may lead them slightly. */
        cumulative += atomic_load_explicit(&h->counts[i], memory_order_relaxed);
        if (i < h->nbuckets)
            format_seconds(h->bounds_us[i], secs, sizeof(secs));
        else
            snprintf(secs, sizeof(secs), "+Inf");
        append(b, "%s_bucket{%s%sle=\"%s\"} %" PRIu64 "\n", name, lab, sep, secs, cumulative);
    }
    format_seconds(atomic_load_explicit(&h->sum_us, memory_order_relaxed), secs, sizeof(secs));
    sample(b, name, "_sum", labels, secs);
    snprintf(secs, sizeof(secs), "%" PRIu64, cumulative);
    sample(b, name, "_count", labels, secs);
}
