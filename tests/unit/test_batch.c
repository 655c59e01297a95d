/* SPDX-License-Identifier: MIT */
#include "consumer/batch.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/timesrc.h"

/* ---- fakes ------------------------------------------------------------------------------- */

enum op_kind { OP_ACK, OP_REJECT, OP_NACK, OP_PAUSE, OP_RESUME };

typedef struct op {
    enum op_kind kind;
    uint64_t tag;
    bool multiple;
    bool requeue;
} op_t;

#define OPS_MAX   256
#define CALLS_MAX 64
#define DOCS_MAX  64

typedef struct fake_broker {
    op_t ops[OPS_MAX];
    size_t n;
    int fail_rc; /* returned (once set) by every call */
} fake_broker_t;

/* One scripted insert answer. rc < 0: nothing known. Otherwise outcomes[i] for doc i. */
typedef struct insert_script {
    int rc;
    batch_outcome_t outcomes[DOCS_MAX];
    int codes[DOCS_MAX];
} insert_script_t;

typedef struct fake_store {
    insert_script_t script[CALLS_MAX];
    size_t nscript;
    size_t calls;
    size_t docs_per_call[CALLS_MAX];
    char first_id[CALLS_MAX][40];
    int64_t processed_at[CALLS_MAX];
    int ping_rc[CALLS_MAX];
    size_t npings;
    int64_t block_ms; /* each insert advances the fake clock by this much */
} fake_store_t;

typedef struct events {
    batch_event_t ev[OPS_MAX];
    err_t reasons[OPS_MAX];
    size_t n;
} events_t;

static fake_broker_t broker;
static fake_store_t store;
static events_t events;
static timesrc_fake_t clk;

static int record(enum op_kind k, uint64_t tag, bool multiple, bool requeue, err_t *err)
{
    if (broker.fail_rc < 0)
        return err_set(err, broker.fail_rc, NULL, "broker gone");
    ck_assert_uint_lt(broker.n, OPS_MAX);
    broker.ops[broker.n++] = (op_t){k, tag, multiple, requeue};
    return 0;
}

static int fb_ack(void *ctx, uint64_t tag, bool multiple, err_t *err)
{
    (void)ctx;
    return record(OP_ACK, tag, multiple, false, err);
}

static int fb_reject(void *ctx, uint64_t tag, bool requeue, err_t *err)
{
    (void)ctx;
    return record(OP_REJECT, tag, false, requeue, err);
}

static int fb_nack(void *ctx, uint64_t tag, bool multiple, bool requeue, err_t *err)
{
    (void)ctx;
    return record(OP_NACK, tag, multiple, requeue, err);
}

static int fb_pause(void *ctx, err_t *err)
{
    (void)ctx;
    return record(OP_PAUSE, 0, false, false, err);
}

static int fb_resume(void *ctx, err_t *err)
{
    (void)ctx;
    return record(OP_RESUME, 0, false, false, err);
}

static int fs_insert(void *ctx, const bson_t *const *docs, size_t n, batch_doc_result_t *res,
                     err_t *err)
{
    (void)ctx;
    clk.mono += store.block_ms;
    size_t call = store.calls++;
    ck_assert_uint_lt(call, CALLS_MAX);
    store.docs_per_call[call] = n;
    bson_iter_t it;
    if (n > 0 && bson_iter_init_find(&it, docs[0], "_id"))
        snprintf(store.first_id[call], sizeof(store.first_id[call]), "%s",
                 bson_iter_utf8(&it, NULL));
    if (n > 0 && bson_iter_init_find(&it, docs[0], "processedAt"))
        store.processed_at[call] = bson_iter_date_time(&it);
    insert_script_t s = {0};
    if (call < store.nscript)
        s = store.script[call];
    else
        for (size_t i = 0; i < DOCS_MAX; i++)
            s.outcomes[i] = BATCH_OUTCOME_STORED;
    if (s.rc < 0)
        return err_set(err, s.rc, NULL, "database unreachable");
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(res[i].outcome, BATCH_OUTCOME_TRANSIENT);
        res[i].outcome = s.outcomes[i];
        res[i].code = s.codes[i];
        if (s.outcomes[i] == BATCH_OUTCOME_PERMANENT)
            snprintf(res[i].msg, sizeof(res[i].msg), "Document failed validation");
    }
    return 0;
}

static int fs_ping(void *ctx, err_t *err)
{
    (void)ctx;
    int rc = store.ping_rc[store.npings++];
    return rc < 0 ? err_set(err, rc, NULL, "no server") : 0;
}

static void on_event(void *ctx, const batch_event_t *ev)
{
    (void)ctx;
    ck_assert_uint_lt(events.n, OPS_MAX);
    events.ev[events.n] = *ev;
    if (ev->reason != NULL)
        events.reasons[events.n] = *ev->reason;
    events.ev[events.n].reason = ev->reason ? &events.reasons[events.n] : NULL;
    events.ev[events.n].id = "";
    events.n++;
}

static batch_params_t params(uint32_t size, uint32_t ms, uint32_t retry_max_ms)
{
    return (batch_params_t){
        .batch_size = size,
        .batch_ms = ms,
        .retry_max_ms = retry_max_ms,
        .backoff_base_ms = 100,
        .backoff_max_ms = 1000,
        .seed = 42,
        .clock = timesrc_fake_bind(&clk),
        .broker = {fb_ack, fb_reject, fb_nack, fb_pause, fb_resume, NULL},
        .store = {fs_insert, fs_ping, NULL},
        .event_cb = on_event,
    };
}

static void reset(void)
{
    memset(&broker, 0, sizeof(broker));
    memset(&store, 0, sizeof(store));
    memset(&events, 0, sizeof(events));
    clk.mono = 1000000;
    clk.wall = 1700000000000;
}

/* A message body as activity_encode writes it, with id ...000n. */
static char *message(unsigned n, char *buf, size_t len)
{
    snprintf(buf, len,
             "{\"id\":\"0190f3a2-7c1e-7d2a-9b4c-%012u\",\"userId\":\"user-%u\","
             "\"eventType\":\"click\",\"timestamp\":\"2024-05-01T12:00:00.250+02:00\","
             "\"payload\":{\"n\":%u},\"receivedAt\":\"2024-05-01T10:00:01.000Z\"}",
             n, n, n);
    return buf;
}

static void offer_valid(batch_t *b, uint64_t tag)
{
    char buf[512];
    message((unsigned)tag, buf, sizeof(buf));
    ck_assert_int_eq(batch_offer(b, tag, buf, strlen(buf)), 0);
}

static void offer_raw(batch_t *b, uint64_t tag, const char *body)
{
    ck_assert_int_eq(batch_offer(b, tag, body, strlen(body)), 0);
}

static void assert_op(size_t i, enum op_kind k, uint64_t tag, bool multiple, bool requeue)
{
    ck_assert_uint_lt(i, broker.n);
    ck_assert_int_eq(broker.ops[i].kind, k);
    ck_assert_uint_eq(broker.ops[i].tag, tag);
    ck_assert_int_eq(broker.ops[i].multiple, multiple);
    ck_assert_int_eq(broker.ops[i].requeue, requeue);
}

static const batch_event_t *find_event(batch_event_kind_t k)
{
    for (size_t i = 0; i < events.n; i++)
        if (events.ev[i].kind == k)
            return &events.ev[i];
    return NULL;
}

/* ---- parsing and poison ------------------------------------------------------------------ */

START_TEST(test_batch_offer_holds_valid_message)
{
    reset();
    batch_t *b = batch_create(&(batch_params_t){0});
    ck_assert_ptr_null(b);
    batch_params_t p = params(10, 1000, 5000);
    b = batch_create(&p);
    offer_valid(b, 1);
    ck_assert_uint_eq(batch_held(b), 1);
    ck_assert_uint_eq(broker.n, 0);
    ck_assert_uint_eq(store.calls, 0);
    ck_assert_int_eq(batch_next_due_ms(b), clk.mono + 1000);
    batch_destroy(b);
}
END_TEST

START_TEST(test_batch_poison_not_json_rejected_without_requeue)
{
    reset();
    batch_params_t p = params(10, 1000, 5000);
    batch_t *b = batch_create(&p);
    offer_raw(b, 7, "not json at all");
    ck_assert_uint_eq(batch_held(b), 0);
    ck_assert_uint_eq(broker.n, 1);
    assert_op(0, OP_REJECT, 7, false, false);
    const batch_event_t *ev = find_event(BATCH_EV_POISON);
    ck_assert_ptr_nonnull(ev);
    ck_assert_uint_eq(ev->tag, 7);
    ck_assert_ptr_nonnull(ev->reason);
    ck_assert_str_eq(ev->reason->field, "body");
    batch_destroy(b);
}
END_TEST

START_TEST(test_batch_poison_invalid_message_names_field)
{
    reset();
    batch_params_t p = params(10, 1000, 5000);
    batch_t *b = batch_create(&p);
    /* Valid JSON, but the timestamp has no offset and receivedAt is missing. */
    offer_raw(b, 3,
              "{\"id\":\"0190f3a2-7c1e-7d2a-9b4c-000000000001\",\"userId\":\"u\","
              "\"eventType\":\"e\",\"timestamp\":\"2024-05-01T12:00:00\",\"payload\":{}}");
    offer_raw(b, 4,
              "{\"userId\":\"u\",\"eventType\":\"e\",\"timestamp\":"
              "\"2024-05-01T12:00:00Z\",\"payload\":[],\"receivedAt\":"
              "\"2024-05-01T12:00:00Z\"}");
    ck_assert_uint_eq(batch_held(b), 0);
    ck_assert_uint_eq(broker.n, 2);
    assert_op(0, OP_REJECT, 3, false, false);
    assert_op(1, OP_REJECT, 4, false, false);
    ck_assert_uint_eq(events.n, 2);
    ck_assert_int_eq(events.ev[0].kind, BATCH_EV_POISON);
    ck_assert_str_ne(events.ev[0].reason->field, "");
    ck_assert_str_ne(events.ev[0].reason->field, "body");
    batch_destroy(b);
}
END_TEST

START_TEST(test_batch_poison_between_valid_is_not_acked)
{
    reset();
    batch_params_t p = params(2, 1000, 5000);
    batch_t *b = batch_create(&p);
    offer_valid(b, 1);
    offer_raw(b, 2, "{");
    offer_valid(b, 3);
    ck_assert_int_eq(batch_tick(b), 0);
    ck_assert_uint_eq(store.calls, 1);
    ck_assert_uint_eq(store.docs_per_call[0], 2);
    ck_assert_uint_eq(broker.n, 2);
    assert_op(0, OP_REJECT, 2, false, false);
    assert_op(1, OP_ACK, 3, true, false);
    batch_destroy(b);
}
END_TEST

/* ---- batch boundaries -------------------------------------------------------------------- */

START_TEST(test_batch_flushes_when_size_reached)
{
    reset();
    batch_params_t p = params(3, 1000, 5000);
    batch_t *b = batch_create(&p);
    offer_valid(b, 1);
    offer_valid(b, 2);
    ck_assert_int_eq(batch_tick(b), 0);
    ck_assert_uint_eq(store.calls, 0);
    offer_valid(b, 3);
    ck_assert_int_le(batch_next_due_ms(b), clk.mono);
    ck_assert_int_eq(batch_tick(b), 0);
    ck_assert_uint_eq(store.calls, 1);
    ck_assert_uint_eq(store.docs_per_call[0], 3);
    ck_assert_str_eq(store.first_id[0], "0190f3a2-7c1e-7d2a-9b4c-000000000001");
    ck_assert_uint_eq(broker.n, 1);
    assert_op(0, OP_ACK, 3, true, false);
    ck_assert(batch_is_idle(b));
    ck_assert_int_eq(batch_next_due_ms(b), INT64_MAX);
    const batch_event_t *ev = find_event(BATCH_EV_FLUSHED);
    ck_assert_ptr_nonnull(ev);
    ck_assert_uint_eq(ev->stored, 3);
    ck_assert_uint_eq(ev->duplicates, 0);
    batch_destroy(b);
}
END_TEST

START_TEST(test_batch_flushes_after_batch_ms_from_first_message)
{
    reset();
    batch_params_t p = params(100, 200, 5000);
    batch_t *b = batch_create(&p);
    int64_t t0 = clk.mono;
    offer_valid(b, 1);
    clk.mono += 150;
    offer_valid(b, 2);
    ck_assert_int_eq(batch_next_due_ms(b), t0 + 200);
    clk.mono = t0 + 199;
    ck_assert_int_eq(batch_tick(b), 0);
    ck_assert_uint_eq(store.calls, 0);
    clk.mono = t0 + 200;
    clk.wall += 200;
    ck_assert_int_eq(batch_tick(b), 0);
    ck_assert_uint_eq(store.calls, 1);
    ck_assert_uint_eq(store.docs_per_call[0], 2);
    ck_assert_int_eq(store.processed_at[0], clk.wall);
    assert_op(0, OP_ACK, 2, true, false);
    batch_destroy(b);
}
END_TEST

START_TEST(test_batch_ack_never_covers_later_batch)
{
    reset();
    batch_params_t p = params(2, 1000, 5000);
    batch_t *b = batch_create(&p);
    for (uint64_t t = 10; t <= 14; t++)
        offer_valid(b, t);
    ck_assert_int_eq(batch_tick(b), 0);
    /* Two full batches go at once; the fifth message waits for its time. */
    ck_assert_uint_eq(store.calls, 2);
    ck_assert_uint_eq(broker.n, 2);
    assert_op(0, OP_ACK, 11, true, false);
    assert_op(1, OP_ACK, 13, true, false);
    ck_assert_uint_eq(batch_held(b), 1);
    clk.mono += 1000;
    ck_assert_int_eq(batch_tick(b), 0);
    assert_op(2, OP_ACK, 14, true, false);
    batch_destroy(b);
}
END_TEST

/* ---- store outcomes ---------------------------------------------------------------------- */

START_TEST(test_batch_duplicates_count_as_stored)
{
    reset();
    store.nscript = 1;
    store.script[0].outcomes[0] = BATCH_OUTCOME_DUPLICATE;
    store.script[0].codes[0] = 11000;
    store.script[0].outcomes[1] = BATCH_OUTCOME_STORED;
    batch_params_t p = params(2, 1000, 5000);
    batch_t *b = batch_create(&p);
    offer_valid(b, 1);
    offer_valid(b, 2);
    ck_assert_int_eq(batch_tick(b), 0);
    ck_assert_uint_eq(broker.n, 1);
    assert_op(0, OP_ACK, 2, true, false);
    const batch_event_t *ev = find_event(BATCH_EV_FLUSHED);
    ck_assert_ptr_nonnull(ev);
    ck_assert_uint_eq(ev->stored, 1);
    ck_assert_uint_eq(ev->duplicates, 1);
    ck_assert(batch_is_idle(b));
    batch_destroy(b);
}
END_TEST

START_TEST(test_batch_permanent_error_rejects_that_message)
{
    reset();
    store.nscript = 1;
    store.script[0].outcomes[0] = BATCH_OUTCOME_STORED;
    store.script[0].outcomes[1] = BATCH_OUTCOME_STORED;
    store.script[0].outcomes[2] = BATCH_OUTCOME_PERMANENT;
    store.script[0].codes[2] = 121;
    batch_params_t p = params(3, 1000, 5000);
    batch_t *b = batch_create(&p);
    offer_valid(b, 1);
    offer_valid(b, 2);
    offer_valid(b, 3);
    ck_assert_int_eq(batch_tick(b), 0);
    /* The last tag was dead-lettered, so the multiple ack names the last stored one. */
    ck_assert_uint_eq(broker.n, 2);
    assert_op(0, OP_REJECT, 3, false, false);
    assert_op(1, OP_ACK, 2, true, false);
    const batch_event_t *ev = find_event(BATCH_EV_REJECTED);
    ck_assert_ptr_nonnull(ev);
    ck_assert_uint_eq(ev->tag, 3);
    ck_assert_ptr_nonnull(strstr(ev->reason->msg, "121"));
    batch_destroy(b);
}
END_TEST

START_TEST(test_batch_all_permanent_sends_no_ack)
{
    reset();
    store.nscript = 1;
    store.script[0].outcomes[0] = BATCH_OUTCOME_PERMANENT;
    batch_params_t p = params(1, 1000, 5000);
    batch_t *b = batch_create(&p);
    offer_valid(b, 1);
    ck_assert_int_eq(batch_tick(b), 0);
    ck_assert_uint_eq(broker.n, 1);
    assert_op(0, OP_REJECT, 1, false, false);
    ck_assert(batch_is_idle(b));
    batch_destroy(b);
}
END_TEST

/* ---- transient errors, pause and resume -------------------------------------------------- */

START_TEST(test_batch_transient_error_retries_then_acks)
{
    reset();
    store.nscript = 2;
    store.script[0].rc = ERR_UNAVAIL;
    for (int i = 0; i < 2; i++)
        store.script[1].outcomes[i] = BATCH_OUTCOME_STORED;
    batch_params_t p = params(2, 1000, 5000);
    batch_t *b = batch_create(&p);
    offer_valid(b, 1);
    offer_valid(b, 2);
    ck_assert_int_eq(batch_tick(b), 0);
    ck_assert_uint_eq(store.calls, 1);
    ck_assert_uint_eq(broker.n, 0); /* never ack before the store acknowledged */
    ck_assert_int_eq(batch_state(b), BATCH_RETRYING);
    const batch_event_t *ev = find_event(BATCH_EV_RETRY);
    ck_assert_ptr_nonnull(ev);
    ck_assert_int_ge(ev->delay_ms, 50);
    ck_assert_int_le(ev->delay_ms, 100);
    int64_t due = batch_next_due_ms(b);
    ck_assert_int_eq(due, clk.mono + ev->delay_ms);
    /* Deliveries keep arriving while retrying and wait behind the flight. */
    offer_valid(b, 3);
    clk.mono = due - 1;
    ck_assert_int_eq(batch_tick(b), 0);
    ck_assert_uint_eq(store.calls, 1);
    clk.mono = due;
    ck_assert_int_eq(batch_tick(b), 0);
    ck_assert_uint_eq(store.calls, 2);
    ck_assert_uint_eq(store.docs_per_call[1], 2);
    ck_assert_uint_eq(broker.n, 1);
    assert_op(0, OP_ACK, 2, true, false);
    ck_assert_int_eq(batch_state(b), BATCH_RUNNING);
    ck_assert_uint_eq(batch_held(b), 1);
    batch_destroy(b);
}
END_TEST

START_TEST(test_batch_retry_inserts_only_unsettled_documents)
{
    reset();
    store.nscript = 2;
    store.script[0].outcomes[0] = BATCH_OUTCOME_STORED;
    store.script[0].outcomes[1] = BATCH_OUTCOME_TRANSIENT;
    store.script[0].outcomes[2] = BATCH_OUTCOME_STORED;
    store.script[1].outcomes[0] = BATCH_OUTCOME_STORED;
    batch_params_t p = params(3, 1000, 5000);
    batch_t *b = batch_create(&p);
    offer_valid(b, 1);
    offer_valid(b, 2);
    offer_valid(b, 3);
    ck_assert_int_eq(batch_tick(b), 0);
    ck_assert_uint_eq(broker.n, 0);
    clk.mono = batch_next_due_ms(b);
    ck_assert_int_eq(batch_tick(b), 0);
    ck_assert_uint_eq(store.docs_per_call[1], 1);
    ck_assert_str_eq(store.first_id[1], "0190f3a2-7c1e-7d2a-9b4c-000000000002");
    assert_op(0, OP_ACK, 3, true, false);
    batch_destroy(b);
}
END_TEST

START_TEST(test_batch_gives_up_requeues_and_pauses_until_ping)
{
    reset();
    store.nscript = CALLS_MAX;
    for (size_t i = 0; i < CALLS_MAX; i++)
        store.script[i].rc = ERR_TIMEOUT;
    store.ping_rc[0] = ERR_UNAVAIL;
    store.ping_rc[1] = 0;
    batch_params_t p = params(2, 1000, 3000);
    batch_t *b = batch_create(&p);
    offer_valid(b, 1);
    offer_valid(b, 2);
    offer_valid(b, 3);
    int64_t t0 = clk.mono;
    ck_assert_int_eq(batch_tick(b), 0);
    while (batch_state(b) == BATCH_RETRYING) {
        int64_t due = batch_next_due_ms(b);
        ck_assert_int_le(due, t0 + 3000);
        clk.mono = due;
        ck_assert_int_eq(batch_tick(b), 0);
        ck_assert_uint_lt(store.calls, CALLS_MAX);
    }
    ck_assert_int_eq(batch_state(b), BATCH_PAUSED);
    ck_assert_int_eq(clk.mono, t0 + 3000);
    /* Pause first, then requeue everything outstanding on the channel (tag 0, multiple). */
    ck_assert_uint_eq(broker.n, 2);
    assert_op(0, OP_PAUSE, 0, false, false);
    assert_op(1, OP_NACK, 0, true, true);
    ck_assert(batch_is_idle(b));
    const batch_event_t *ev = find_event(BATCH_EV_PAUSED);
    ck_assert_ptr_nonnull(ev);
    ck_assert_uint_eq(ev->count, 3);
    ck_assert_ptr_nonnull(ev->reason);
    ck_assert_int_eq(ev->reason->code, ERR_TIMEOUT);

    /* While paused nothing is taken and no insert happens; pings follow the backoff. */
    char buf[512];
    message(4, buf, sizeof(buf));
    ck_assert_int_eq(batch_offer(b, 4, buf, strlen(buf)), ERR_CLOSED);
    size_t calls = store.calls;
    clk.mono = batch_next_due_ms(b);
    ck_assert_int_eq(batch_tick(b), 0);
    ck_assert_uint_eq(store.npings, 1);
    ck_assert_int_eq(batch_state(b), BATCH_PAUSED);
    ck_assert_ptr_nonnull(find_event(BATCH_EV_PING_FAILED));
    clk.mono = batch_next_due_ms(b) - 1;
    ck_assert_int_eq(batch_tick(b), 0);
    ck_assert_uint_eq(store.npings, 1);
    clk.mono += 1;
    ck_assert_int_eq(batch_tick(b), 0);
    ck_assert_uint_eq(store.npings, 2);
    ck_assert_int_eq(batch_state(b), BATCH_RUNNING);
    assert_op(2, OP_RESUME, 0, false, false);
    ck_assert_ptr_nonnull(find_event(BATCH_EV_RESUMED));
    ck_assert_uint_eq(store.calls, calls);

    /* Consuming again: new deliveries are stored and acked normally. */
    store.nscript = 0;
    store.calls = 0;
    offer_valid(b, 5);
    offer_valid(b, 6);
    ck_assert_int_eq(batch_tick(b), 0);
    assert_op(3, OP_ACK, 6, true, false);
    batch_destroy(b);
}
END_TEST

START_TEST(test_batch_retry_is_timed_from_the_failed_insert)
{
    reset();
    store.nscript = CALLS_MAX;
    for (size_t i = 0; i < CALLS_MAX; i++)
        store.script[i].rc = ERR_UNAVAIL;
    store.block_ms = 5000; /* server selection timing out */
    batch_params_t p = params(1, 1000, 3000);
    batch_t *b = batch_create(&p);
    offer_valid(b, 1);
    ck_assert_int_eq(batch_tick(b), 0);
    ck_assert_int_eq(batch_state(b), BATCH_RETRYING);
    /* The retry waits its backoff after the failure, not after the start of the insert. */
    ck_assert_int_gt(batch_next_due_ms(b), clk.mono);
    clk.mono = batch_next_due_ms(b);
    ck_assert_int_eq(batch_tick(b), 0);
    ck_assert_int_eq(batch_state(b), BATCH_PAUSED);
    ck_assert_uint_eq(store.calls, 2);
    batch_destroy(b);
}
END_TEST

START_TEST(test_batch_broker_error_is_returned_and_abandon_forgets)
{
    reset();
    batch_params_t p = params(2, 1000, 5000);
    batch_t *b = batch_create(&p);
    offer_valid(b, 1);
    offer_valid(b, 2);
    broker.fail_rc = ERR_UNAVAIL;
    ck_assert_int_eq(batch_tick(b), ERR_UNAVAIL);
    batch_abandon(b);
    ck_assert(batch_is_idle(b));
    ck_assert_int_eq(batch_state(b), BATCH_RUNNING);
    broker.fail_rc = 0;
    /* After a reconnect tags restart at 1. */
    offer_valid(b, 1);
    offer_valid(b, 2);
    ck_assert_int_eq(batch_tick(b), 0);
    assert_op(0, OP_ACK, 2, true, false);
    batch_destroy(b);
}
END_TEST

/* ---- shutdown ---------------------------------------------------------------------------- */

START_TEST(test_batch_drain_flushes_and_acks_partial_batch)
{
    reset();
    batch_params_t p = params(100, 60000, 5000);
    batch_t *b = batch_create(&p);
    offer_valid(b, 1);
    offer_valid(b, 2);
    offer_valid(b, 3);
    ck_assert_int_eq(batch_tick(b), 0);
    ck_assert_uint_eq(store.calls, 0);
    batch_drain(b);
    ck_assert_int_le(batch_next_due_ms(b), clk.mono);
    ck_assert_int_eq(batch_tick(b), 0);
    ck_assert_uint_eq(store.calls, 1);
    ck_assert_uint_eq(store.docs_per_call[0], 3);
    assert_op(0, OP_ACK, 3, true, false);
    ck_assert(batch_is_idle(b));
    batch_destroy(b);
}
END_TEST

START_TEST(test_batch_drain_gives_up_with_requeue_without_pause)
{
    reset();
    store.nscript = CALLS_MAX;
    for (size_t i = 0; i < CALLS_MAX; i++)
        store.script[i].rc = ERR_UNAVAIL;
    batch_params_t p = params(100, 60000, 1000);
    batch_t *b = batch_create(&p);
    offer_valid(b, 1);
    batch_drain(b);
    ck_assert_int_eq(batch_tick(b), 0);
    while (!batch_is_idle(b)) {
        clk.mono = batch_next_due_ms(b);
        ck_assert_int_eq(batch_tick(b), 0);
    }
    ck_assert_uint_eq(broker.n, 1);
    assert_op(0, OP_NACK, 0, true, true);
    ck_assert_int_ne(batch_state(b), BATCH_PAUSED);
    ck_assert_ptr_nonnull(find_event(BATCH_EV_REQUEUED));
    batch_destroy(b);
}
END_TEST

static Suite *batch_suite(void)
{
    Suite *s = suite_create("batch");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, test_batch_offer_holds_valid_message);
    tcase_add_test(tc, test_batch_poison_not_json_rejected_without_requeue);
    tcase_add_test(tc, test_batch_poison_invalid_message_names_field);
    tcase_add_test(tc, test_batch_poison_between_valid_is_not_acked);
    suite_add_tcase(s, tc);
    tc = tcase_create("boundaries");
    tcase_add_test(tc, test_batch_flushes_when_size_reached);
    tcase_add_test(tc, test_batch_flushes_after_batch_ms_from_first_message);
    tcase_add_test(tc, test_batch_ack_never_covers_later_batch);
    suite_add_tcase(s, tc);
    tc = tcase_create("outcomes");
    tcase_add_test(tc, test_batch_duplicates_count_as_stored);
    tcase_add_test(tc, test_batch_permanent_error_rejects_that_message);
    tcase_add_test(tc, test_batch_all_permanent_sends_no_ack);
    suite_add_tcase(s, tc);
    tc = tcase_create("retry");
    tcase_add_test(tc, test_batch_transient_error_retries_then_acks);
    tcase_add_test(tc, test_batch_retry_inserts_only_unsettled_documents);
    tcase_add_test(tc, test_batch_gives_up_requeues_and_pauses_until_ping);
    tcase_add_test(tc, test_batch_retry_is_timed_from_the_failed_insert);
    tcase_add_test(tc, test_batch_broker_error_is_returned_and_abandon_forgets);
    suite_add_tcase(s, tc);
    tc = tcase_create("shutdown");
    tcase_add_test(tc, test_batch_drain_flushes_and_acks_partial_batch);
    tcase_add_test(tc, test_batch_drain_gives_up_with_requeue_without_pause);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(batch_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
