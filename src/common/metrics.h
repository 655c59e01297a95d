/* SPDX-License-Identifier: MIT */
/*
 * Process metrics: _Atomic counters, gauges and latency histograms that any thread updates
 * without locks, and a renderer of the Prometheus text exposition format (0.0.4) into a
 * caller's buffer, which never allocates.
 * Thread: updates and reads from any thread; a metrics_buf_t belongs to the thread rendering.
 * Invariant: a rendered histogram is cumulative and its +Inf bucket equals its _count.
 */
#ifndef AT_COMMON_METRICS_H
#define AT_COMMON_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Every access below is relaxed: each counter and gauge is an independent tally that publishes
 * no other memory, so no ordering is needed, only atomicity. A scrape may see one value a
 * little older than another, which the exposition format tolerates. */

/* A monotonic count. Zero-initialise. Thread: any. */
typedef struct metrics_counter {
    _Atomic uint64_t v;
} metrics_counter_t;

/* A value that goes up and down (ring depth, tracked clients). Zero-initialise. Thread: any. */
typedef struct metrics_gauge {
    _Atomic int64_t v;
} metrics_gauge_t;

/* Adds n to c. Thread: any. */
static inline void metrics_counter_add(metrics_counter_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(&c->v, n, memory_order_relaxed);
}

/* Returns the current count of c. Thread: any. */
static inline uint64_t metrics_counter_get(const metrics_counter_t *c)
{
    return atomic_load_explicit(&c->v, memory_order_relaxed);
}

/* Sets g to v. Thread: any. */
static inline void metrics_gauge_set(metrics_gauge_t *g, int64_t v)
{
    atomic_store_explicit(&g->v, v, memory_order_relaxed);
}

/* Adds d (may be negative) to g. Thread: any. */
static inline void metrics_gauge_add(metrics_gauge_t *g, int64_t d)
{
    atomic_fetch_add_explicit(&g->v, d, memory_order_relaxed);
}

/* Returns the current value of g. Thread: any. */
static inline int64_t metrics_gauge_get(const metrics_gauge_t *g)
{
    return atomic_load_explicit(&g->v, memory_order_relaxed);
}

#define METRICS_HIST_MAX_BUCKETS 24

/* A latency histogram with fixed upper bounds in microseconds. counts[i] holds the
 * observations in (bounds_us[i-1], bounds_us[i]] (not cumulative), counts[nbuckets] those above
 * the last bound. count equals the sum of counts, for readers that want one load.
 * Thread: init by one thread before sharing; observe from any thread. */
typedef struct metrics_histogram {
    uint32_t nbuckets;
    uint64_t bounds_us[METRICS_HIST_MAX_BUCKETS];
    _Atomic uint64_t counts[METRICS_HIST_MAX_BUCKETS + 1];
    _Atomic uint64_t sum_us;
    _Atomic uint64_t count;
} metrics_histogram_t;

/* Zeroes h and copies n (at most METRICS_HIST_MAX_BUCKETS) strictly ascending bounds in
 * microseconds from bounds_us (borrowed). Thread: the owner, before h is shared. */
void metrics_histogram_init(metrics_histogram_t *h, const uint64_t *bounds_us, uint32_t n);

/* Counts one observation of us microseconds. Thread: any. */
void metrics_histogram_observe_us(metrics_histogram_t *h, uint64_t us);

/* Adds every bucket, the sum and the count of src into dst, which must have the same bounds
 * (asserted): how per-thread histograms are summed for one rendering. dst is usually a scratch
 * copy initialised with the same bounds. Thread: any (src is read with relaxed loads while
 * others observe; dst belongs to the caller). */
void metrics_histogram_merge(metrics_histogram_t *dst, const metrics_histogram_t *src);

/* An output buffer for rendering. data is borrowed; it holds len bytes plus a NUL (when
 * cap > 0). A line that does not fit is left out whole and sets truncated, and nothing is
 * appended after it, so the text never holds half a line or a gap.
 * Thread: the rendering thread only. */
typedef struct metrics_buf {
    char *data;
    size_t cap;
    size_t len;
    bool truncated;
} metrics_buf_t;

/* Starts b empty over data[0..cap). */
void metrics_buf_init(metrics_buf_t *b, char *data, size_t cap);

/* Appends "# HELP name help" (help escaped as the format requires) and "# TYPE name type"
 * ("counter", "gauge" or "histogram"). */
void metrics_render_family(metrics_buf_t *b, const char *name, const char *type, const char *help);

/* Appends "name{labels} v". labels is NULL (or "") for none, or label pairs with values
 * already escaped: route="/x",status="202". */
void metrics_render_u64(metrics_buf_t *b, const char *name, const char *labels, uint64_t v);

/* A whole family of one unlabelled sample: metrics_render_family, then "name v". */
void metrics_render_one_u64(metrics_buf_t *b, const char *name, const char *type, const char *help,
                            uint64_t v);

/* As metrics_render_u64, for a signed value. */
void metrics_render_i64(metrics_buf_t *b, const char *name, const char *labels, int64_t v);

/* Appends name_bucket{labels,le="<bound in seconds>"} with cumulative counts for every bound
 * and +Inf, then name_sum (seconds) and name_count. Bounds and sum are printed exactly, in
 * decimal seconds with the trailing zeros dropped (1500 us -> 0.0015). Thread: any (h is read
 * with relaxed loads while others observe). */
void metrics_render_histogram(metrics_buf_t *b, const char *name, const char *labels,
                              const metrics_histogram_t *h);

#endif
