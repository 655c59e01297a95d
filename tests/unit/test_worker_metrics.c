/* SPDX-License-Identifier: MIT */
#include "consumer/worker_metrics.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

#include "unit_main.h"

static worker_metrics_t m;

static void setup(void)
{
    worker_metrics_init(&m);
}

static int render(char *buf, size_t cap)
{
    return worker_metrics_render(&m, buf, cap);
}

/* ---- rendering ---------------------------------------------------------------------------- */

START_TEST(test_worker_metrics_render_has_every_family)
{
    static char buf[16384];
    metrics_counter_add(&m.stored, 7);
    metrics_counter_add(&m.duplicate, 2);
    metrics_counter_add(&m.reconnects, 3);
    metrics_gauge_add(&m.connected, 2);
    metrics_histogram_observe_us(&m.insert_latency, 1500);
    int n = render(buf, sizeof(buf));
    ck_assert_int_gt(n, 0);
    ck_assert_uint_eq((size_t)n, strlen(buf));
    const char *want[] = {
        "# TYPE activity_consumer_messages_total counter\n",
        "activity_consumer_messages_total{result=\"stored\"} 7\n",
        "activity_consumer_messages_total{result=\"duplicate\"} 2\n",
        "activity_consumer_messages_total{result=\"poison\"} 0\n",
        "activity_consumer_messages_total{result=\"rejected\"} 0\n",
        "activity_consumer_messages_total{result=\"requeued\"} 0\n",
        "activity_consumer_batches_total 0\n",
        "activity_consumer_insert_duration_seconds_bucket{le=\"0.0025\"} 1\n",
        "activity_consumer_insert_duration_seconds_count 1\n",
        "# TYPE activity_consumer_workers_connected gauge\n",
        "activity_consumer_workers_connected 2\n",
        "activity_consumer_paused 0\n",
        "activity_consumer_reconnects_total 3\n",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        ck_assert_msg(strstr(buf, want[i]) != NULL, "missing %s", want[i]);
    ck_assert_int_eq(buf[n - 1], '\n');
}
END_TEST

START_TEST(test_worker_metrics_render_refuses_a_cut_text)
{
    static char full[16384], small[16384];
    int n = render(full, sizeof(full));
    ck_assert_int_gt(n, 100);
    /* The text and its NUL fit exactly; one byte less is refused, never served cut. */
    ck_assert_int_eq(render(small, (size_t)n + 1), n);
    ck_assert_str_eq(small, full);
    ck_assert_int_eq(render(small, (size_t)n), ERR_FULL);
    ck_assert_int_eq(render(small, 64), ERR_FULL);
    ck_assert_int_eq(render(small, 0), ERR_FULL);
}
END_TEST

/* ---- batch events ------------------------------------------------------------------------- */

static void count(batch_event_kind_t kind, unsigned n, unsigned stored, unsigned dups)
{
    batch_event_t ev = {.kind = kind, .id = "", .count = n, .stored = stored, .duplicates = dups};
    worker_metrics_count_event(&m, &ev);
}

/* Asserts every counter of m at once; paused is the gauge. */
static void assert_counts(uint64_t poison, uint64_t rejected, uint64_t stored, uint64_t dups,
                          uint64_t batches, uint64_t requeued, int64_t paused)
{
    ck_assert_uint_eq(metrics_counter_get(&m.poison), poison);
    ck_assert_uint_eq(metrics_counter_get(&m.rejected), rejected);
    ck_assert_uint_eq(metrics_counter_get(&m.stored), stored);
    ck_assert_uint_eq(metrics_counter_get(&m.duplicate), dups);
    ck_assert_uint_eq(metrics_counter_get(&m.batches), batches);
    ck_assert_uint_eq(metrics_counter_get(&m.requeued), requeued);
    ck_assert_int_eq(metrics_gauge_get(&m.paused), paused);
}

START_TEST(test_worker_metrics_count_event_maps_every_kind)
{
    count(BATCH_EV_POISON, 0, 0, 0);
    count(BATCH_EV_REJECTED, 0, 0, 0);
    count(BATCH_EV_REJECTED, 0, 0, 0);
    count(BATCH_EV_FLUSHED, 10, 8, 2);
    count(BATCH_EV_FLUSHED, 5, 5, 0);
    count(BATCH_EV_RETRY, 4, 0, 0);
    count(BATCH_EV_PING_FAILED, 0, 0, 0);
    assert_counts(1, 2, 13, 2, 2, 0, 0);
}
END_TEST

START_TEST(test_worker_metrics_count_event_pause_resume_and_requeue)
{
    count(BATCH_EV_PAUSED, 6, 0, 0);
    assert_counts(0, 0, 0, 0, 0, 6, 1);
    count(BATCH_EV_RESUMED, 0, 0, 0);
    assert_counts(0, 0, 0, 0, 0, 6, 0);
    count(BATCH_EV_REQUEUED, 3, 0, 0);
    assert_counts(0, 0, 0, 0, 0, 9, 0);
}
END_TEST

/* ---- health ------------------------------------------------------------------------------- */

START_TEST(test_worker_metrics_health_ok_only_when_every_worker_is_connected)
{
    metrics_gauge_add(&m.connected, 2);
    worker_metrics_health_t h = worker_metrics_health(&m, 3, false);
    ck_assert_uint_eq(h.workers, 3);
    ck_assert_int_eq(h.connected, 2);
    ck_assert(!worker_metrics_health_is_ok(&h));
    metrics_gauge_add(&m.connected, 1);
    h = worker_metrics_health(&m, 3, false);
    ck_assert(worker_metrics_health_is_ok(&h));
    /* A worker paused on the database keeps its broker connection: still up. */
    metrics_gauge_add(&m.paused, 1);
    h = worker_metrics_health(&m, 3, false);
    ck_assert_int_eq(h.paused, 1);
    ck_assert(worker_metrics_health_is_ok(&h));
}
END_TEST

START_TEST(test_worker_metrics_health_unavailable_when_stopping_or_no_workers)
{
    metrics_gauge_add(&m.connected, 2);
    worker_metrics_health_t h = worker_metrics_health(&m, 2, true);
    ck_assert(h.stopping);
    ck_assert(!worker_metrics_health_is_ok(&h));
    h = (worker_metrics_health_t){.workers = 0};
    ck_assert(!worker_metrics_health_is_ok(&h));
}
END_TEST

START_TEST(test_worker_metrics_health_format_json)
{
    char buf[192];
    worker_metrics_health_t h = {.workers = 4, .connected = 4, .paused = 1};
    int n = worker_metrics_health_format(&h, buf, sizeof(buf));
    ck_assert_str_eq(buf, "{\"status\":\"ok\",\"workers\":4,\"connected\":4,\"paused\":1,"
                          "\"stopping\":false}");
    ck_assert_int_eq(n, (int)strlen(buf));
    h = (worker_metrics_health_t){.workers = 2, .connected = 0, .stopping = true};
    worker_metrics_health_format(&h, buf, sizeof(buf));
    ck_assert_str_eq(buf, "{\"status\":\"unavailable\",\"workers\":2,\"connected\":0,"
                          "\"paused\":0,\"stopping\":true}");
    ck_assert_int_eq(worker_metrics_health_format(&h, buf, 10), ERR_FULL);
}
END_TEST

START_TEST(test_worker_metrics_health_format_fits_160_bytes_at_the_extremes)
{
    char buf[160];
    worker_metrics_health_t h = {
        .workers = 4294967295u, .connected = INT64_MIN, .paused = INT64_MIN, .stopping = false};
    ck_assert_int_gt(worker_metrics_health_format(&h, buf, sizeof(buf)), 0);
}
END_TEST

static Suite *worker_metrics_suite(void)
{
    Suite *s = suite_create("worker_metrics");
    TCase *tc = tcase_create("render");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_worker_metrics_render_has_every_family);
    tcase_add_test(tc, test_worker_metrics_render_refuses_a_cut_text);
    suite_add_tcase(s, tc);
    tc = tcase_create("events");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_worker_metrics_count_event_maps_every_kind);
    tcase_add_test(tc, test_worker_metrics_count_event_pause_resume_and_requeue);
    suite_add_tcase(s, tc);
    tc = tcase_create("health");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_worker_metrics_health_ok_only_when_every_worker_is_connected);
    tcase_add_test(tc, test_worker_metrics_health_unavailable_when_stopping_or_no_workers);
    tcase_add_test(tc, test_worker_metrics_health_format_json);
    tcase_add_test(tc, test_worker_metrics_health_format_fits_160_bytes_at_the_extremes);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(worker_metrics_suite)
