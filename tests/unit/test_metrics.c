/* SPDX-License-Identifier: MIT */
#include "common/metrics.h"

#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "unit_main.h"

/* ---- counters and gauges ---- */

START_TEST(test_metrics_counter_adds)
{
    metrics_counter_t c = {0};
    ck_assert_uint_eq(metrics_counter_get(&c), 0);
    metrics_counter_add(&c, 1);
    metrics_counter_add(&c, 41);
    ck_assert_uint_eq(metrics_counter_get(&c), 42);
    metrics_counter_add(&c, UINT64_MAX - 42);
    ck_assert_uint_eq(metrics_counter_get(&c), UINT64_MAX);
}
END_TEST

START_TEST(test_metrics_gauge_sets_and_adds)
{
    metrics_gauge_t g = {0};
    metrics_gauge_set(&g, 10);
    metrics_gauge_add(&g, -15);
    ck_assert_int_eq(metrics_gauge_get(&g), -5);
    metrics_gauge_add(&g, 7);
    ck_assert_int_eq(metrics_gauge_get(&g), 2);
}
END_TEST

/* ---- concurrency ---- */

#define THREADS 4
#define ROUNDS  100000

static metrics_counter_t shared_counter;
static metrics_gauge_t shared_gauge;
static metrics_histogram_t shared_hist;

static void *hammer(void *arg)
{
    uint64_t id = (uint64_t)(uintptr_t)arg;
    for (int i = 0; i < ROUNDS; i++) {
        metrics_counter_add(&shared_counter, 1);
        metrics_gauge_add(&shared_gauge, 2);
        metrics_gauge_add(&shared_gauge, -1);
        metrics_histogram_observe_us(&shared_hist, id * 1000); /* 0, 1000, 2000, 3000 us */
    }
    return NULL;
}

START_TEST(test_metrics_concurrent_updates_are_exact)
{
    static const uint64_t bounds[] = {500, 1500, 2500};
    pthread_t t[THREADS];
    metrics_histogram_init(&shared_hist, bounds, 3);
    for (uintptr_t i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, hammer, (void *)i), 0);
    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_join(t[i], NULL), 0);

    ck_assert_uint_eq(metrics_counter_get(&shared_counter), THREADS * ROUNDS);
    ck_assert_int_eq(metrics_gauge_get(&shared_gauge), THREADS * ROUNDS);
    ck_assert_uint_eq(shared_hist.count, THREADS * ROUNDS);
    ck_assert_uint_eq(shared_hist.sum_us, (0 + 1000 + 2000 + 3000) * (uint64_t)ROUNDS);
    for (int i = 0; i <= 3; i++)
        ck_assert_uint_eq(shared_hist.counts[i], ROUNDS);
}
END_TEST

/* ---- histograms ---- */

START_TEST(test_metrics_histogram_buckets_are_upper_inclusive)
{
    static const uint64_t bounds[] = {1000, 5000};
    metrics_histogram_t h;
    metrics_histogram_init(&h, bounds, 2);
    ck_assert_uint_eq(h.nbuckets, 2);
    metrics_histogram_observe_us(&h, 0);
    metrics_histogram_observe_us(&h, 1000);
    metrics_histogram_observe_us(&h, 1001);
    metrics_histogram_observe_us(&h, 5000);
    metrics_histogram_observe_us(&h, 5001);
    metrics_histogram_observe_us(&h, UINT64_MAX / 2);
    ck_assert_uint_eq(h.counts[0], 2);
    ck_assert_uint_eq(h.counts[1], 2);
    ck_assert_uint_eq(h.counts[2], 2);
    ck_assert_uint_eq(h.count, 6);
    ck_assert_uint_eq(h.sum_us, 1000 + 1001 + 5000 + 5001 + UINT64_MAX / 2);
}
END_TEST

START_TEST(test_metrics_histogram_init_resets)
{
    static const uint64_t bounds[] = {10};
    metrics_histogram_t h;
    memset(&h, 0xff, sizeof(h));
    metrics_histogram_init(&h, bounds, 1);
    ck_assert_uint_eq(h.count, 0);
    ck_assert_uint_eq(h.sum_us, 0);
    ck_assert_uint_eq(h.counts[0], 0);
    ck_assert_uint_eq(h.counts[1], 0);
    metrics_histogram_init(&h, NULL, 0);
    metrics_histogram_observe_us(&h, 7);
    ck_assert_uint_eq(h.counts[0], 1);
}
END_TEST

START_TEST(test_metrics_histogram_merge_adds_every_bucket)
{
    static const uint64_t bounds[] = {1000, 5000};
    metrics_histogram_t a, b, sum;
    metrics_histogram_init(&a, bounds, 2);
    metrics_histogram_init(&b, bounds, 2);
    metrics_histogram_init(&sum, bounds, 2);
    metrics_histogram_observe_us(&a, 10);
    metrics_histogram_observe_us(&a, 6000);
    metrics_histogram_observe_us(&b, 2000);
    metrics_histogram_observe_us(&b, 3000);
    metrics_histogram_merge(&sum, &a);
    metrics_histogram_merge(&sum, &b);
    ck_assert_uint_eq(sum.counts[0], 1);
    ck_assert_uint_eq(sum.counts[1], 2);
    ck_assert_uint_eq(sum.counts[2], 1);
    ck_assert_uint_eq(sum.count, 4);
    ck_assert_uint_eq(sum.sum_us, 10 + 6000 + 2000 + 3000);
    /* The sources are read, never changed. */
    ck_assert_uint_eq(a.count, 2);
    ck_assert_uint_eq(b.count, 2);
}
END_TEST

/* ---- rendering ---- */

START_TEST(test_metrics_render_exact_text)
{
    static const uint64_t bounds[] = {1000, 5000, 2500000};
    metrics_histogram_t h;
    metrics_histogram_init(&h, bounds, 3);
    metrics_histogram_observe_us(&h, 500);
    metrics_histogram_observe_us(&h, 1000);
    metrics_histogram_observe_us(&h, 3000);
    metrics_histogram_observe_us(&h, 10000000);

    char data[2048];
    metrics_buf_t b;
    metrics_buf_init(&b, data, sizeof(data));
    metrics_render_family(&b, "at_http_requests_total", "counter", "HTTP requests answered.");
    metrics_render_u64(&b, "at_http_requests_total", "route=\"/api/v1/activities\",status=\"202\"",
                       17);
    metrics_render_u64(&b, "at_http_requests_total", NULL, 3);
    metrics_render_family(&b, "at_ring_depth", "gauge", "Jobs waiting for the publisher.");
    metrics_render_i64(&b, "at_ring_depth", "", -2);
    metrics_render_family(&b, "at_publish_seconds", "histogram", "Publish latency.");
    metrics_render_histogram(&b, "at_publish_seconds", "route=\"/x\"", &h);
    metrics_render_histogram(&b, "at_other_seconds", NULL, &h);

    static const char expect[] =
        "# HELP at_http_requests_total HTTP requests answered.\n"
        "# TYPE at_http_requests_total counter\n"
        "at_http_requests_total{route=\"/api/v1/activities\",status=\"202\"} 17\n"
        "at_http_requests_total 3\n"
        "# HELP at_ring_depth Jobs waiting for the publisher.\n"
        "# TYPE at_ring_depth gauge\n"
        "at_ring_depth -2\n"
        "# HELP at_publish_seconds Publish latency.\n"
        "# TYPE at_publish_seconds histogram\n"
        "at_publish_seconds_bucket{route=\"/x\",le=\"0.001\"} 2\n"
        "at_publish_seconds_bucket{route=\"/x\",le=\"0.005\"} 3\n"
        "at_publish_seconds_bucket{route=\"/x\",le=\"2.5\"} 3\n"
        "at_publish_seconds_bucket{route=\"/x\",le=\"+Inf\"} 4\n"
        "at_publish_seconds_sum{route=\"/x\"} 10.0045\n"
        "at_publish_seconds_count{route=\"/x\"} 4\n"
        "at_other_seconds_bucket{le=\"0.001\"} 2\n"
        "at_other_seconds_bucket{le=\"0.005\"} 3\n"
        "at_other_seconds_bucket{le=\"2.5\"} 3\n"
        "at_other_seconds_bucket{le=\"+Inf\"} 4\n"
        "at_other_seconds_sum 10.0045\n"
        "at_other_seconds_count 4\n";
    ck_assert_str_eq(data, expect);
    ck_assert_uint_eq(b.len, strlen(expect));
    ck_assert_int_eq(b.truncated, 0);
}
END_TEST

START_TEST(test_metrics_render_help_escaped)
{
    char data[256];
    metrics_buf_t b;
    metrics_buf_init(&b, data, sizeof(data));
    metrics_render_family(&b, "m", "gauge", "a\\b\nc");
    ck_assert_str_eq(data, "# HELP m a\\\\b\\nc\n# TYPE m gauge\n");
}
END_TEST

START_TEST(test_metrics_render_seconds_exact)
{
    static const uint64_t bounds[] = {1, 10, 999999, 1000000, 1000001, 60000000};
    metrics_histogram_t h;
    metrics_histogram_init(&h, bounds, 6);
    char data[1024];
    metrics_buf_t b;
    metrics_buf_init(&b, data, sizeof(data));
    metrics_render_histogram(&b, "s", NULL, &h);
    ck_assert_str_eq(data, "s_bucket{le=\"0.000001\"} 0\n"
                           "s_bucket{le=\"0.00001\"} 0\n"
                           "s_bucket{le=\"0.999999\"} 0\n"
                           "s_bucket{le=\"1\"} 0\n"
                           "s_bucket{le=\"1.000001\"} 0\n"
                           "s_bucket{le=\"60\"} 0\n"
                           "s_bucket{le=\"+Inf\"} 0\n"
                           "s_sum 0\n"
                           "s_count 0\n");
}
END_TEST

/* ---- truncation ---- */

START_TEST(test_metrics_render_truncates_whole_lines)
{
    char data[16];
    metrics_buf_t b;
    metrics_buf_init(&b, data, sizeof(data));
    metrics_render_u64(&b, "abc", NULL, 12345); /* "abc 12345\n": 10 bytes */
    ck_assert_uint_eq(b.len, 10);
    ck_assert_int_eq(b.truncated, 0);
    metrics_render_u64(&b, "abcdef", NULL, 1); /* 9 bytes: only 5 left with the NUL */
    ck_assert_int_eq(b.truncated, 1);
    ck_assert_uint_eq(b.len, 10);
    ck_assert_str_eq(data, "abc 12345\n");
    metrics_render_u64(&b, "x", NULL, 1); /* would fit, but nothing follows a gap */
    ck_assert_uint_eq(b.len, 10);
    ck_assert_str_eq(data, "abc 12345\n");
}
END_TEST

START_TEST(test_metrics_render_exact_fit_and_empty_buffer)
{
    char data[11];
    metrics_buf_t b;
    metrics_buf_init(&b, data, sizeof(data));
    metrics_render_u64(&b, "abc", NULL, 12345); /* 10 bytes + NUL = 11 */
    ck_assert_int_eq(b.truncated, 0);
    ck_assert_str_eq(data, "abc 12345\n");

    metrics_buf_init(&b, NULL, 0);
    metrics_render_u64(&b, "a", NULL, 1);
    ck_assert_int_eq(b.truncated, 1);
    ck_assert_uint_eq(b.len, 0);
}
END_TEST

static Suite *metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc;

    tc = tcase_create("counters");
    tcase_add_test(tc, test_metrics_counter_adds);
    tcase_add_test(tc, test_metrics_gauge_sets_and_adds);
    suite_add_tcase(s, tc);

    tc = tcase_create("concurrency");
    tcase_set_timeout(tc, 60); /* slow under ThreadSanitizer */
    tcase_add_test(tc, test_metrics_concurrent_updates_are_exact);
    suite_add_tcase(s, tc);

    tc = tcase_create("histogram");
    tcase_add_test(tc, test_metrics_histogram_buckets_are_upper_inclusive);
    tcase_add_test(tc, test_metrics_histogram_init_resets);
    tcase_add_test(tc, test_metrics_histogram_merge_adds_every_bucket);
    suite_add_tcase(s, tc);

    tc = tcase_create("render");
    tcase_add_test(tc, test_metrics_render_exact_text);
    tcase_add_test(tc, test_metrics_render_help_escaped);
    tcase_add_test(tc, test_metrics_render_seconds_exact);
    suite_add_tcase(s, tc);

    tc = tcase_create("truncation");
    tcase_add_test(tc, test_metrics_render_truncates_whole_lines);
    tcase_add_test(tc, test_metrics_render_exact_fit_and_empty_buffer);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(metrics_suite)
