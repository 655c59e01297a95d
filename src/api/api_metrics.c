/* SPDX-License-Identifier: MIT */
#include "api/api_metrics.h"

#include <stdio.h>
#include <string.h>

static const int status_codes[API_STATUS_COUNT] = {
#define API_STATUS_CODE(code) code,
    API_STATUS_LIST(API_STATUS_CODE)
#undef API_STATUS_CODE
};

static const char *const route_labels[API_ROUTE_COUNT] = {
#define API_ROUTE_LABEL(name, label) label,
    API_ROUTE_LIST(API_ROUTE_LABEL)
#undef API_ROUTE_LABEL
};

/* Latency buckets from 1 ms to 10 s: confirmations normally take a few milliseconds. */
static const uint64_t latency_bounds_us[] = {1000,    2500,    5000,    10000,  25000,
                                             50000,   100000,  250000,  500000, 1000000,
                                             2500000, 5000000, 10000000};

void api_metrics_init(api_metrics_t *m)
{
    memset(m, 0, sizeof(*m));
    metrics_histogram_init(&m->publish_latency, latency_bounds_us,
                           sizeof(latency_bounds_us) / sizeof(latency_bounds_us[0]));
}

static int status_index(int status)
{
    for (int i = 0; i < API_STATUS_COUNT; i++) {
        if (status_codes[i] == status)
            return i;
    }
    return -1;
}

void api_metrics_count(api_metrics_t *m, enum api_route route, int status)
{
    int i = status_index(status);
    if (i >= 0)
        metrics_counter_add(&m->responses[route][i], 1);
}

uint64_t api_metrics_responses(const api_metrics_t *m, enum api_route route, int status)
{
    int i = status_index(status);
    return i >= 0 ? metrics_counter_get(&m->responses[route][i]) : 0;
}

void api_metrics_merge(api_metrics_t *dst, const api_metrics_t *src)
{
    for (int r = 0; r < API_ROUTE_COUNT; r++) {
        for (int c = 0; c < API_STATUS_COUNT; c++)
            metrics_counter_add(&dst->responses[r][c], metrics_counter_get(&src->responses[r][c]));
    }
    metrics_histogram_merge(&dst->publish_latency, &src->publish_latency);
#define API_COUNTER_MERGE(field, name, help)                                                       \
    metrics_counter_add(&dst->field, metrics_counter_get(&src->field));
    API_COUNTER_LIST(API_COUNTER_MERGE)
#undef API_COUNTER_MERGE
    metrics_gauge_add(&dst->parked, metrics_gauge_get(&src->parked));
}

static void render_counter(metrics_buf_t *b, const char *name, const char *help, uint64_t v)
{
    char full[96];
    snprintf(full, sizeof(full), "activity_api_%s", name);
    metrics_render_family(b, full, "counter", help);
    metrics_render_u64(b, full, NULL, v);
}

void api_metrics_render(const api_metrics_t *m, metrics_buf_t *b)
{
    const char *responses = "activity_api_http_responses_total";
    metrics_render_family(b, responses, "counter", "HTTP responses by route and status.");
    for (int r = 0; r < API_ROUTE_COUNT; r++) {
        for (int c = 0; c < API_STATUS_COUNT; c++) {
            uint64_t v = metrics_counter_get(&m->responses[r][c]);
            if (v == 0)
                continue;
            char labels[96];
            snprintf(labels, sizeof(labels), "route=\"%s\",status=\"%d\"", route_labels[r],
                     status_codes[c]);
            metrics_render_u64(b, responses, labels, v);
        }
    }
    metrics_render_family(b, "activity_api_publish_latency_seconds", "histogram",
                          "Time from enqueue to broker confirmation.");
    metrics_render_histogram(b, "activity_api_publish_latency_seconds", NULL, &m->publish_latency);
    render_counter(b, "rate_limited_total", "Requests answered 429 (both POST routes).",
                   api_metrics_responses(m, API_ROUTE_ACTIVITIES, 429) +
                       api_metrics_responses(m, API_ROUTE_BATCH, 429));
#define API_COUNTER_RENDER(field, name, help)                                                      \
    render_counter(b, name, help, metrics_counter_get(&m->field));
    API_COUNTER_LIST(API_COUNTER_RENDER)
#undef API_COUNTER_RENDER
    metrics_render_family(b, "activity_api_parked_requests", "gauge",
                          "Requests waiting for their publish confirmation.");
    metrics_render_i64(b, "activity_api_parked_requests", NULL, metrics_gauge_get(&m->parked));
}
