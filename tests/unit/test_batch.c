/* SPDX-License-Identifier: MIT */
#include "consumer/batch.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/timesrc.h"
#include "consumer/bulkreply.h"

#include "unit_main.h"

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

static batch_t *b; /* the batch under test: made by start(), destroyed by teardown() */

/* The fixture: empty fakes and a fake clock; the test makes its batch with start(). */
static void setup(void)
{
    memset(&broker, 0, sizeof(broker));
    memset(&store, 0, sizeof(store));
    memset(&events, 0, sizeof(events));
    clk.mono = 1000000;
    clk.wall = 1700000000000;
    b = NULL;
}

static void teardown(void)
{
    batch_destroy(b);
    b = NULL;
}

/* Creates b over the fakes (backoff 100..1000 ms). */
static void start(uint32_t size, uint32_t ms, uint32_t retry_max_ms)
{
    batch_params_t p = {
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
    b = batch_create(&p);
    ck_assert_ptr_nonnull(b);
}

/* Scripts the answer to insert number `call`: rc < 0 fails the whole insert; otherwise one
 * letter per document: S stored, D duplicate (code 11000), P permanent (code 121), T transient.
 * Inserts past the last one scripted store everything. */
static void script(size_t call, int rc, const char *outcomes)
{
    ck_assert_uint_lt(call, CALLS_MAX);
    if (store.nscript <= call)
        store.nscript = call + 1;
    insert_script_t *sc = &store.script[call];
    sc->rc = rc;
    for (size_t i = 0; outcomes[i] != '\0'; i++) {
        switch (outcomes[i]) {
        case 'S':
            sc->outcomes[i] = BATCH_OUTCOME_STORED;
            break;
        case 'D':
            sc->outcomes[i] = BATCH_OUTCOME_DUPLICATE;
            sc->codes[i] = 11000;
            break;
        case 'P':
            sc->outcomes[i] = BATCH_OUTCOME_PERMANENT;
            sc->codes[i] = 121;
            break;
        default:
            ck_assert_int_eq(outcomes[i], 'T');
            sc->outcomes[i] = BATCH_OUTCOME_TRANSIENT;
        }
    }
}

/* Scripts every insert to fail with rc. */
static void script_failures(int rc)
{
    for (size_t i = 0; i < CALLS_MAX; i++)
        store.script[i].rc = rc;
    store.nscript = CALLS_MAX;
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

/* Offers a valid message for each tag first..last. */
static void offer(uint64_t first, uint64_t last)
{
    for (uint64_t tag = first; tag <= last; tag++) {
        char buf[512];
        message((unsigned)tag, buf, sizeof(buf));
        ck_assert_int_eq(batch_offer(b, tag, buf, strlen(buf)), 0);
    }
}

/* Offers one full batch whose first insert answers `outcomes` (one letter per message, see
 * script) and ticks once: tags 1..n, batch_size n. */
static void flush_one_batch(const char *outcomes)
{
    size_t n = strlen(outcomes);
    script(0, 0, outcomes);
    start((uint32_t)n, 1000, 5000);
    offer(1, n);
    ck_assert_int_eq(batch_tick(b), 0);
}

static void offer_raw(uint64_t tag, const char *body)
{
    ck_assert_int_eq(batch_offer(b, tag, body, strlen(body)), 0);
}

/* Checks every broker call so far, written as "ack 3 multiple, reject 7, nack 0 multiple
 * requeue, pause, resume" ("" for none). A failure prints both lists. */
static void expect_ops(const char *want)
{
    static const char *const names[] = {[OP_ACK] = "ack",
                                        [OP_REJECT] = "reject",
                                        [OP_NACK] = "nack",
                                        [OP_PAUSE] = "pause",
                                        [OP_RESUME] = "resume"};
    char got[1024] = "";
    size_t at = 0;
    for (size_t i = 0; i < broker.n && at < sizeof(got); i++) {
        const op_t *o = &broker.ops[i];
        bool flow = o->kind == OP_PAUSE || o->kind == OP_RESUME;
        at += (size_t)snprintf(got + at, sizeof(got) - at, "%s%s", i ? ", " : "", names[o->kind]);
        if (!flow || o->tag != 0)
            at += (size_t)snprintf(got + at, sizeof(got) - at, " %llu", (unsigned long long)o->tag);
        if (o->multiple && at < sizeof(got))
            at += (size_t)snprintf(got + at, sizeof(got) - at, " multiple");
        if (o->requeue && at < sizeof(got))
            at += (size_t)snprintf(got + at, sizeof(got) - at, " requeue");
    }
    ck_assert_uint_lt(at, sizeof(got));
    ck_assert_str_eq(got, want);
}

/* Returns the first event of kind k, failing the test if there is none. */
static const batch_event_t *expect_event(batch_event_kind_t k)
{
    const batch_event_t *found = NULL;
    for (size_t i = 0; i < events.n && found == NULL; i++)
        if (events.ev[i].kind == k)
            found = &events.ev[i];
    ck_assert_ptr_nonnull(found);
    return found;
}

/* ---- parsing and poison ------------------------------------------------------------------ */

START_TEST(test_batch_offer_holds_valid_message)
{
    ck_assert_ptr_null(batch_create(&(batch_params_t){0}));
    start(10, 1000, 5000);
    offer(1, 1);
    ck_assert_uint_eq(batch_held(b), 1);
    expect_ops("");
    ck_assert_uint_eq(store.calls, 0);
    ck_assert_int_eq(batch_next_due_ms(b), clk.mono + 1000);
}
END_TEST

START_TEST(test_batch_poison_not_json_rejected_without_requeue)
{
    start(10, 1000, 5000);
    offer_raw(7, "not json at all");
    ck_assert_uint_eq(batch_held(b), 0);
    expect_ops("reject 7");
    const batch_event_t *ev = expect_event(BATCH_EV_POISON);
    ck_assert_uint_eq(ev->tag, 7);
    ck_assert_ptr_nonnull(ev->reason);
    ck_assert_str_eq(ev->reason->field, "body");
}
END_TEST

START_TEST(test_batch_poison_invalid_message_names_field)
{
    start(10, 1000, 5000);
    /* Valid JSON, but the timestamp has no offset and receivedAt is missing. */
    offer_raw(3, "{\"id\":\"0190f3a2-7c1e-7d2a-9b4c-000000000001\",\"userId\":\"u\","
                 "\"eventType\":\"e\",\"timestamp\":\"2024-05-01T12:00:00\",\"payload\":{}}");
    offer_raw(4, "{\"userId\":\"u\",\"eventType\":\"e\",\"timestamp\":"
                 "\"2024-05-01T12:00:00Z\",\"payload\":[],\"receivedAt\":"
                 "\"2024-05-01T12:00:00Z\"}");
    ck_assert_uint_eq(batch_held(b), 0);
    expect_ops("reject 3, reject 4");
    ck_assert_uint_eq(events.n, 2);
    ck_assert_int_eq(events.ev[0].kind, BATCH_EV_POISON);
    ck_assert_str_ne(events.ev[0].reason->field, "");
    ck_assert_str_ne(events.ev[0].reason->field, "body");
}
END_TEST

START_TEST(test_batch_poison_between_valid_is_not_acked)
{
    start(2, 1000, 5000);
    offer(1, 1);
    offer_raw(2, "{");
    offer(3, 3);
    ck_assert_int_eq(batch_tick(b), 0);
    ck_assert_uint_eq(store.calls, 1);
    ck_assert_uint_eq(store.docs_per_call[0], 2);
    expect_ops("reject 2, ack 3 multiple");
}
END_TEST

/* ---- batch boundaries -------------------------------------------------------------------- */

START_TEST(test_batch_flushes_when_size_reached)
{
    start(3, 1000, 5000);
    offer(1, 2);
    ck_assert_int_eq(batch_tick(b), 0);
    ck_assert_uint_eq(store.calls, 0);
    offer(3, 3);
    ck_assert_int_le(batch_next_due_ms(b), clk.mono);
    ck_assert_int_eq(batch_tick(b), 0);
    ck_assert_uint_eq(store.calls, 1);
    ck_assert_uint_eq(store.docs_per_call[0], 3);
    ck_assert_str_eq(store.first_id[0], "0190f3a2-7c1e-7d2a-9b4c-000000000001");
    expect_ops("ack 3 multiple");
    ck_assert_int_eq(batch_is_idle(b), true);
    ck_assert_int_eq(batch_next_due_ms(b), INT64_MAX);
    const batch_event_t *ev = expect_event(BATCH_EV_FLUSHED);
    ck_assert_uint_eq(ev->stored, 3);
    ck_assert_uint_eq(ev->duplicates, 0);
}
END_TEST

START_TEST(test_batch_flushes_after_batch_ms_from_first_message)
{
    start(100, 200, 5000);
    int64_t t0 = clk.mono;
    offer(1, 1);
    clk.mono += 150;
    offer(2, 2);
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
    expect_ops("ack 2 multiple");
}
END_TEST

START_TEST(test_batch_ack_never_covers_later_batch)
{
    start(2, 1000, 5000);
    offer(10, 14);
    ck_assert_int_eq(batch_tick(b), 0);
    /* Two full batches go at once; the fifth message waits for its time. */
    ck_assert_uint_eq(store.calls, 2);
    expect_ops("ack 11 multiple, ack 13 multiple");
    ck_assert_uint_eq(batch_held(b), 1);
    clk.mono += 1000;
    ck_assert_int_eq(batch_tick(b), 0);
    expect_ops("ack 11 multiple, ack 13 multiple, ack 14 multiple");
}
END_TEST

/* ---- store outcomes ---------------------------------------------------------------------- */

START_TEST(test_batch_duplicates_count_as_stored)
{
    flush_one_batch("DS");
    expect_ops("ack 2 multiple");
    const batch_event_t *ev = expect_event(BATCH_EV_FLUSHED);
    ck_assert_uint_eq(ev->stored, 1);
    ck_assert_uint_eq(ev->duplicates, 1);
    ck_assert_int_eq(batch_is_idle(b), true);
}
END_TEST

START_TEST(test_batch_permanent_error_rejects_that_message)
{
    flush_one_batch("SSP");
    /* The last tag was dead-lettered, so the multiple ack names the last stored one. */
    expect_ops("reject 3, ack 2 multiple");
    const batch_event_t *ev = expect_event(BATCH_EV_REJECTED);
    ck_assert_uint_eq(ev->tag, 3);
    ck_assert_ptr_nonnull(strstr(ev->reason->msg, "121"));
}
END_TEST

START_TEST(test_batch_all_permanent_sends_no_ack)
{
    flush_one_batch("P");
    expect_ops("reject 1");
    ck_assert_int_eq(batch_is_idle(b), true);
}
END_TEST

/* ---- transient errors, pause and resume -------------------------------------------------- */

START_TEST(test_batch_transient_error_retries_then_acks)
{
    script(0, ERR_UNAVAIL, "");
    script(1, 0, "SS");
    start(2, 1000, 5000);
    offer(1, 2);
    ck_assert_int_eq(batch_tick(b), 0);
    ck_assert_uint_eq(store.calls, 1);
    expect_ops(""); /* never ack before the store acknowledged */
    ck_assert_int_eq(batch_state(b), BATCH_RETRYING);
    const batch_event_t *ev = expect_event(BATCH_EV_RETRY);
    ck_assert_int_ge(ev->delay_ms, 50);
    ck_assert_int_le(ev->delay_ms, 100);
    int64_t due = batch_next_due_ms(b);
    ck_assert_int_eq(due, clk.mono + ev->delay_ms);
    /* Deliveries keep arriving while retrying and wait behind the flight. */
    offer(3, 3);
    clk.mono = due - 1;
    ck_assert_int_eq(batch_tick(b), 0);
    ck_assert_uint_eq(store.calls, 1);
    clk.mono = due;
    ck_assert_int_eq(batch_tick(b), 0);
    ck_assert_uint_eq(store.calls, 2);
    ck_assert_uint_eq(store.docs_per_call[1], 2);
    expect_ops("ack 2 multiple");
    ck_assert_int_eq(batch_state(b), BATCH_RUNNING);
    ck_assert_uint_eq(batch_held(b), 1);
}
END_TEST

START_TEST(test_batch_retry_inserts_only_unsettled_documents)
{
    script(1, 0, "S"); /* the retry */
    flush_one_batch("STS");
    expect_ops("");
    clk.mono = batch_next_due_ms(b);
    ck_assert_int_eq(batch_tick(b), 0);
    ck_assert_uint_eq(store.docs_per_call[1], 1);
    ck_assert_str_eq(store.first_id[1], "0190f3a2-7c1e-7d2a-9b4c-000000000002");
    expect_ops("ack 3 multiple");
}
END_TEST

START_TEST(test_batch_gives_up_requeues_and_pauses_until_ping)
{
    script_failures(ERR_TIMEOUT);
    store.ping_rc[0] = ERR_UNAVAIL;
    store.ping_rc[1] = 0;
    start(2, 1000, 3000);
    offer(1, 3);
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
    expect_ops("pause, nack 0 multiple requeue");
    ck_assert_int_eq(batch_is_idle(b), true);
    const batch_event_t *ev = expect_event(BATCH_EV_PAUSED);
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
    expect_event(BATCH_EV_PING_FAILED);
    clk.mono = batch_next_due_ms(b) - 1;
    ck_assert_int_eq(batch_tick(b), 0);
    ck_assert_uint_eq(store.npings, 1);
    clk.mono += 1;
    ck_assert_int_eq(batch_tick(b), 0);
    ck_assert_uint_eq(store.npings, 2);
    ck_assert_int_eq(batch_state(b), BATCH_RUNNING);
    expect_ops("pause, nack 0 multiple requeue, resume");
    expect_event(BATCH_EV_RESUMED);
    ck_assert_uint_eq(store.calls, calls);

    /* Consuming again: new deliveries are stored and acked normally. */
    store.nscript = 0;
    store.calls = 0;
    offer(5, 6);
    ck_assert_int_eq(batch_tick(b), 0);
    expect_ops("pause, nack 0 multiple requeue, resume, ack 6 multiple");
}
END_TEST

START_TEST(test_batch_retry_is_timed_from_the_failed_insert)
{
    script_failures(ERR_UNAVAIL);
    store.block_ms = 5000; /* server selection timing out */
    start(1, 1000, 3000);
    offer(1, 1);
    ck_assert_int_eq(batch_tick(b), 0);
    ck_assert_int_eq(batch_state(b), BATCH_RETRYING);
    /* The retry waits its backoff after the failure, not after the start of the insert. */
    ck_assert_int_gt(batch_next_due_ms(b), clk.mono);
    clk.mono = batch_next_due_ms(b);
    ck_assert_int_eq(batch_tick(b), 0);
    ck_assert_int_eq(batch_state(b), BATCH_PAUSED);
    ck_assert_uint_eq(store.calls, 2);
}
END_TEST

START_TEST(test_batch_broker_error_is_returned_and_abandon_forgets)
{
    start(2, 1000, 5000);
    offer(1, 2);
    broker.fail_rc = ERR_UNAVAIL;
    ck_assert_int_eq(batch_tick(b), ERR_UNAVAIL);
    batch_abandon(b);
    ck_assert_int_eq(batch_is_idle(b), true);
    ck_assert_int_eq(batch_state(b), BATCH_RUNNING);
    broker.fail_rc = 0;
    /* After a reconnect tags restart at 1. */
    offer(1, 2);
    ck_assert_int_eq(batch_tick(b), 0);
    expect_ops("ack 2 multiple");
}
END_TEST

/* ---- shutdown ---------------------------------------------------------------------------- */

START_TEST(test_batch_drain_flushes_and_acks_partial_batch)
{
    start(100, 60000, 5000);
    offer(1, 3);
    ck_assert_int_eq(batch_tick(b), 0);
    ck_assert_uint_eq(store.calls, 0);
    batch_drain(b);
    ck_assert_int_le(batch_next_due_ms(b), clk.mono);
    ck_assert_int_eq(batch_tick(b), 0);
    ck_assert_uint_eq(store.calls, 1);
    ck_assert_uint_eq(store.docs_per_call[0], 3);
    expect_ops("ack 3 multiple");
    ck_assert_int_eq(batch_is_idle(b), true);
}
END_TEST

START_TEST(test_batch_drain_gives_up_with_requeue_without_pause)
{
    script_failures(ERR_UNAVAIL);
    start(100, 60000, 1000);
    offer(1, 1);
    batch_drain(b);
    ck_assert_int_eq(batch_tick(b), 0);
    while (!batch_is_idle(b)) {
        clk.mono = batch_next_due_ms(b);
        ck_assert_int_eq(batch_tick(b), 0);
    }
    expect_ops("nack 0 multiple requeue");
    ck_assert_int_ne(batch_state(b), BATCH_PAUSED);
    expect_event(BATCH_EV_REQUEUED);
}
END_TEST

/* ---- replica-set elections (DESIGN §6a) --------------------------------------------------- */

/* The server errors of an election or a step-down: NotWritablePrimary, NotPrimaryNoSecondaryOk,
 * InterruptedAtShutdown, InterruptedDueToReplStateChange, PrimarySteppedDown,
 * ShutdownInProgress. */
static const int election_codes[] = {10107, 13435, 11600, 11602, 189, 91};

/* Scripts insert `call` as the store answers a write error with code for every document: the
 * outcome comes from the store's own classification (bulkreply.c). */
static void script_write_errors(size_t call, size_t n, int code)
{
    char letters[DOCS_MAX + 1];
    memset(letters, 'T', n);
    letters[n] = '\0';
    script(call, 0, letters);
    for (size_t i = 0; i < n; i++) {
        store.script[call].outcomes[i] =
            bulkreply_code_is_transient(code) ? BATCH_OUTCOME_TRANSIENT : BATCH_OUTCOME_PERMANENT;
        store.script[call].codes[i] = code;
    }
}

/* Ticks until the store saw `calls` inserts, moving the clock to each due time. */
static void tick_until_inserts(size_t calls)
{
    for (int guard = 0; store.calls < calls && guard < 100; guard++) {
        int64_t due = batch_next_due_ms(b);
        if (due != INT64_MAX && due > clk.mono)
            clk.mono = due;
        ck_assert_int_eq(batch_tick(b), 0);
    }
    ck_assert_uint_eq(store.calls, calls);
}

START_TEST(test_batch_election_errors_are_retried_never_acked_early_nor_dead_lettered)
{
    int code = election_codes[_i];
    /* During the election every document gets the error; then the whole insert fails (the
     * driver finds no primary, or the network drops: nothing known); then a new primary. */
    script_write_errors(0, 3, code);
    script(1, ERR_UNAVAIL, "");
    script(2, 0, "SSS");
    start(3, 1000, 60000);
    offer(1, 3);
    tick_until_inserts(1);
    expect_ops(""); /* not acked before the write is acknowledged, not rejected */
    ck_assert_int_eq(batch_state(b), BATCH_RETRYING);
    ck_assert_int_eq(expect_event(BATCH_EV_RETRY)->count, 3);
    tick_until_inserts(2);
    expect_ops("");
    tick_until_inserts(3);
    expect_ops("ack 3 multiple");
    ck_assert_uint_eq(store.docs_per_call[2], 3);
    ck_assert_int_eq(batch_state(b), BATCH_RUNNING);
    for (size_t i = 0; i < events.n; i++)
        ck_assert_int_ne(events.ev[i].kind, BATCH_EV_REJECTED);
}
END_TEST

/* Adds to s, and returns, a TCase that runs the fixture around each of its tests. */
static TCase *fixture_tcase(Suite *s, const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, setup, teardown);
    suite_add_tcase(s, tc);
    return tc;
}

static Suite *batch_suite(void)
{
    Suite *s = suite_create("batch");
    TCase *tc = fixture_tcase(s, "parse");
    tcase_add_test(tc, test_batch_offer_holds_valid_message);
    tcase_add_test(tc, test_batch_poison_not_json_rejected_without_requeue);
    tcase_add_test(tc, test_batch_poison_invalid_message_names_field);
    tcase_add_test(tc, test_batch_poison_between_valid_is_not_acked);

    tc = fixture_tcase(s, "boundaries");
    tcase_add_test(tc, test_batch_flushes_when_size_reached);
    tcase_add_test(tc, test_batch_flushes_after_batch_ms_from_first_message);
    tcase_add_test(tc, test_batch_ack_never_covers_later_batch);

    tc = fixture_tcase(s, "outcomes");
    tcase_add_test(tc, test_batch_duplicates_count_as_stored);
    tcase_add_test(tc, test_batch_permanent_error_rejects_that_message);
    tcase_add_test(tc, test_batch_all_permanent_sends_no_ack);

    tc = fixture_tcase(s, "retry");
    tcase_add_test(tc, test_batch_transient_error_retries_then_acks);
    tcase_add_test(tc, test_batch_retry_inserts_only_unsettled_documents);
    tcase_add_test(tc, test_batch_gives_up_requeues_and_pauses_until_ping);
    tcase_add_test(tc, test_batch_retry_is_timed_from_the_failed_insert);
    tcase_add_test(tc, test_batch_broker_error_is_returned_and_abandon_forgets);

    tc = fixture_tcase(s, "elections");
    tcase_add_loop_test(tc,
                        test_batch_election_errors_are_retried_never_acked_early_nor_dead_lettered,
                        0, (int)(sizeof(election_codes) / sizeof(election_codes[0])));

    tc = fixture_tcase(s, "shutdown");
    tcase_add_test(tc, test_batch_drain_flushes_and_acks_partial_batch);
    tcase_add_test(tc, test_batch_drain_gives_up_with_requeue_without_pause);
    return s;
}

UNIT_MAIN(batch_suite)
