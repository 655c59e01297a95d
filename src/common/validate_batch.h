/* SPDX-License-Identifier: MIT */
/*
 * Validation of a batch body, {"events": [event, ...]} (DESIGN §2a): each event exactly as the
 * single endpoint takes it, every error reported with the event's place ("events[3].timestamp"),
 * all or nothing.
 * Thread: any (pure).
 */
#ifndef AT_COMMON_VALIDATE_BATCH_H
#define AT_COMMON_VALIDATE_BATCH_H

#include <stddef.h>

#include "common/activity.h"
#include "common/validate.h"

/* A valid batch: events[0..count), in request order. Each activity owns a reference to its own
 * event object (activity_deinit releases it). Owned by the caller: validate_batch_free. */
typedef struct validate_batch_out {
    activity_t *events;
    size_t count;
} validate_batch_out_t;

/* Validates body[0..len) as a batch of 1..max_events events. Errors: "body" for the document
 * as a whole (as validate_request: empty, not UTF-8, not JSON, too deep, not an object);
 * "events" when it is missing, not an array, empty, or longer than max_events; "events[i]" for
 * an element that is not an object; "events[i].<field>" for each field error of event i (the
 * rules of validate_request); an unknown top-level key as validate_request names one. Every
 * error is reported (up to VALIDATE_ERRORS_MAX; rep->total counts all). On success fills *out
 * and returns 0; otherwise returns ERR_INVAL with rep filled and *out empty. */
int validate_batch(const char *body, size_t len, size_t max_events, validate_batch_out_t *out,
                   validate_report_t *rep);

/* Releases every event and the array; leaves *out empty. An empty out is a no-op. */
void validate_batch_free(validate_batch_out_t *out);

#endif
