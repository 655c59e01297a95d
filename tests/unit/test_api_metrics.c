/* SPDX-License-Identifier: MIT */
#include "api/api_metrics.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "unit_main.h"

START_TEST(test_api_metrics_count_only_known_statuses)
{
    api_metrics_t m;
    api_metrics_init(&m);
    api_metrics_count(&m, API_ROUTE_ACTIVITIES, 202);
    api_metrics_count(&m, API_ROUTE_ACTIVITIES, 202);
    api_metrics_count(&m, API_ROUTE_OTHER, 404);
    api_metrics_count(&m, API_ROUTE_HEALTH, 418); /* not a status the API answers: ignored */
    ck_assert_uint_eq(api_metrics_responses(&m, API_ROUTE_ACTIVITIES, 202), 2);
    ck_assert_uint_eq(api_metrics_responses(&m, API_ROUTE_OTHER, 404), 1);
    ck_assert_uint_eq(api_metrics_responses(&m, API_ROUTE_HEALTH, 418), 0);
    ck_assert_uint_eq(api_metrics_responses(&m, API_ROUTE_HEALTH, 200), 0);
}
END_TEST

START_TEST(test_api_metrics_merge_sums_every_field)
{
    api_metrics_t a, b, sum;
    api_metrics_init(&a);
    api_metrics_init(&b);
    api_metrics_init(&sum);
    api_metrics_count(&a, API_ROUTE_ACTIVITIES, 429);
    api_metrics_count(&b, API_ROUTE_ACTIVITIES, 429);
    api_metrics_count(&b, API_ROUTE_READY, 503);
    metrics_counter_add(&a.ring_full, 3);
    metrics_counter_add(&b.client_gone, 2);
    metrics_counter_add(&b.rate_limited_at_capacity, 1);
    metrics_counter_add(&a.pending_full, 4);
    metrics_counter_add(&b.deadline_expired, 5);
    metrics_gauge_add(&a.parked, 7);
    metrics_gauge_add(&b.parked, -2);
    metrics_histogram_observe_us(&a.publish_latency, 1500);
    metrics_histogram_observe_us(&b.publish_latency, 20000000);
    api_metrics_merge(&sum, &a);
    api_metrics_merge(&sum, &b);
    ck_assert_uint_eq(api_metrics_responses(&sum, API_ROUTE_ACTIVITIES, 429), 2);
    ck_assert_uint_eq(api_metrics_responses(&sum, API_ROUTE_READY, 503), 1);
    ck_assert_uint_eq(metrics_counter_get(&sum.ring_full), 3);
    ck_assert_uint_eq(metrics_counter_get(&sum.client_gone), 2);
    ck_assert_uint_eq(metrics_counter_get(&sum.rate_limited_at_capacity), 1);
    ck_assert_uint_eq(metrics_counter_get(&sum.pending_full), 4);
    ck_assert_uint_eq(metrics_counter_get(&sum.deadline_expired), 5);
    ck_assert_int_eq(metrics_gauge_get(&sum.parked), 5);
    ck_assert_uint_eq(sum.publish_latency.count, 2);
    ck_assert_uint_eq(sum.publish_latency.sum_us, 1500 + 20000000);
}
END_TEST

START_TEST(test_api_metrics_render_names_every_family)
{
    api_metrics_t m;
    api_metrics_init(&m);
    api_metrics_count(&m, API_ROUTE_ACTIVITIES, 202);
    api_metrics_count(&m, API_ROUTE_ACTIVITIES, 429);
    metrics_counter_add(&m.client_gone, 9);
    metrics_gauge_add(&m.parked, 3);
    static char text[16384];
    metrics_buf_t b;
    metrics_buf_init(&b, text, sizeof(text));
    api_metrics_render(&m, &b);
    ck_assert_int_eq(b.truncated, false);
    static const char *const lines[] = {
        "activity_api_http_responses_total{route=\"/api/v1/activities\",status=\"202\"} 1\n",
        "activity_api_http_responses_total{route=\"/api/v1/activities\",status=\"429\"} 1\n",
        "activity_api_rate_limited_total 1\n",
        "activity_api_client_gone_total 9\n",
        "activity_api_ring_full_total 0\n",
        "activity_api_pending_full_total 0\n",
        "activity_api_deadline_expired_total 0\n",
        "activity_api_rate_limited_at_capacity_total 0\n",
        "activity_api_parked_requests 3\n",
        "activity_api_publish_latency_seconds_count 0\n",
        "# TYPE activity_api_publish_latency_seconds histogram\n",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        ck_assert_ptr_nonnull(strstr(text, lines[i]));
    /* Zero response counters are left out. */
    ck_assert_ptr_null(strstr(text, "status=\"503\""));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("api_metrics");
    TCase *tc = tcase_create("counting");
    tcase_add_test(tc, test_api_metrics_count_only_known_statuses);
    tcase_add_test(tc, test_api_metrics_merge_sums_every_field);
    suite_add_tcase(s, tc);
    TCase *render = tcase_create("render");
    tcase_add_test(render, test_api_metrics_render_names_every_family);
    suite_add_tcase(s, render);
    return s;
}

UNIT_MAIN(suite)
