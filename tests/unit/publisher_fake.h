/* SPDX-License-Identifier: MIT */
/*
 * The publisher's unit tests run against a fake transport that plays a list of brokers: scripted
 * connect results (per broker too), a queue of events (and connection errors) handed out by
 * next_event, a one-shot publish failure, and a record of everything published with the delivery
 * tag the broker would have given it (1, 2, ... per connection). When the fake hands out an ack or
 * a nack it marks every message the event covers, so the completion callback checks each outcome
 * against what the broker really said: CONFIRMED only after an ack covering the tag of the job's
 * last publish (and no return), REFUSED only after a return and its ack, or once the job's
 * original deadline has passed after a nack, TIMEOUT only once that deadline has passed with
 * nothing settled and no nack, UNAVAILABLE only from submit or destroy. A nack drops the
 * connection and the next connect must go to the same broker after the refusal backoff. The fake
 * also models the broker rotation (failover.h) independently of the publisher: every connect must
 * target the broker the model expects, never before the earliest time the model allows, and a pump
 * must make the attempt once the latest time has come. Each publish must carry the job's own id and
 * body, in submission order on its connection, and never a job that was already answered. After
 * every submit and pump the statistics must agree with the outcomes seen: each answered job in
 * exactly one of the five outcome counters. Test-only code: its names carry the prefix fx_ (the
 * fixture it provides) so that the test bodies stay short. Thread: the test's (Check runs each test
 * in its own process).
 */
#ifndef AT_TESTS_PUBLISHER_FAKE_H
#define AT_TESTS_PUBLISHER_FAKE_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/publisher.h"

/* Check records every assertion it runs (a write to the runner per call), so the checks on
 * hot paths (the fake, the completion callback, the model) call the typed assertion only once
 * they have found a mismatch to report. Arguments must be free of side effects. */
#define HOT(assertion, a, op, b)                                                                   \
    do {                                                                                           \
        if (!((a)op(b)))                                                                           \
            assertion(a, b);                                                                       \
    } while (0)
#define HOT_INT_EQ(a, b)  HOT(ck_assert_int_eq, a, ==, b)
#define HOT_INT_GE(a, b)  HOT(ck_assert_int_ge, a, >=, b)
#define HOT_INT_LE(a, b)  HOT(ck_assert_int_le, a, <=, b)
#define HOT_INT_GT(a, b)  HOT(ck_assert_int_gt, a, >, b)
#define HOT_UINT_EQ(a, b) HOT(ck_assert_uint_eq, a, ==, b)
#define HOT_UINT_LE(a, b) HOT(ck_assert_uint_le, a, <=, b)
#define HOT_UINT_LT(a, b) HOT(ck_assert_uint_lt, a, <, b)
#define HOT_UINT_GT(a, b) HOT(ck_assert_uint_gt, a, >, b)
#define HOT_PTR_NULL(x)                                                                            \
    do {                                                                                           \
        if ((x) != NULL)                                                                           \
            ck_assert_ptr_null(x);                                                                 \
    } while (0)
#define HOT_PTR_NONNULL(x)                                                                         \
    do {                                                                                           \
        if ((x) == NULL)                                                                           \
            ck_assert_ptr_nonnull(x);                                                              \
    } while (0)

/* The first ack or nack the fake handed out that covers a message. */
enum { FX_SETTLE_NONE = 0, FX_SETTLE_ACK = 1, FX_SETTLE_NACK = 2 };

typedef struct fx_ev {
    int rc; /* < 0: next_event fails with this code (connection lost) */
    pub_event_t ev;
} fx_ev_t;

/* One successful publish, as the broker saw it. */
typedef struct fx_pub {
    uint64_t ticket;
    uint32_t loop;
    uint32_t conn; /* 1, 2, ... per successful connect */
    uint64_t tag;  /* 1, 2, ... per connection */
    uint32_t len;
    char *body; /* copy, freed by fx_deinit */
    int64_t enqueued_ms;
    int64_t received_ms;
    int64_t published_ms; /* the test clock when it was published */
    int settle;           /* FX_SETTLE_* */
    bool returned;        /* a basic.return naming it was handed out */
    bool again;           /* the job had been published (or tried) before: a republish */
    char id[IDGEN_STR_LEN + 1];
} fx_pub_t;

/* One completion, in the order reported. */
typedef struct fx_done {
    uint32_t loop;
    uint64_t ticket;
    pub_status_t status;
    int64_t enqueued_ms;
} fx_done_t;

/* What the test knows about each ticket. */
typedef struct fx_ticket {
    bool submitted;
    int ndone;
    pub_status_t status;
    long pub;             /* index in pubs of its last publish, or -1 if never published */
    bool nacked;          /* a nack covered one of its publishes while it was unanswered */
    int attempts;         /* publish calls made for it, failed ones included */
    uint64_t seq;         /* submission order, 1, 2, ... */
    uint64_t id_n;        /* its id is fx_make_id(id_n) */
    int64_t submitted_ms; /* its deadline is this + confirm_timeout_ms, across republishes */
} fx_ticket_t;

/* fx_t.tried keeps the first FX_TRIED_MAX - 1 characters of the connect history. */
enum { FX_TRIED_MAX = 256 };

typedef struct fx {
    publisher_t *p;
    publisher_opts_t opts;
    int64_t now;

    /* Transport script. */
    int connect_failures_left; /* the next N connects fail ... */
    int connect_fail_code;     /* ... with this code, as do refused brokers (ERR_UNAVAIL) */
    uint32_t refuse_mask;      /* connects to broker b fail while bit b is set */
    uint32_t drop_mask;        /* connections to broker b are made, then lost before any event */
    int publish_fail_code;     /* one shot: a publish fails with this code ... */
    int publish_fail_skip;     /* ... once this many more have succeeded */
    int error_on_connect;      /* one shot: the next connection dies before its first event */

    /* Transport record. */
    int connect_calls, connects_ok, disconnect_calls, publish_calls, next_event_calls;
    bool connected, broken, blocked;
    uint32_t conn;
    uint32_t last_broker; /* broker of the last successful connect (0 before, as the stat) */
    size_t conn_first;    /* index in pubs of the current connection's tag 1 */
    uint64_t last_tag;    /* tags handed out on the current connection */
    uint64_t low_tag;     /* lowest tag of the current connection not yet settled */
    uint64_t last_seq;    /* seq of the last job published on the current connection */
    /* Every connect in order: the broker's digit, then 'x' refused or '+' made; '!' marks the
     * loss of a connection, '~' one dropped after a nack. "0x1+!2+": 0 refused, 1 accepted and
     * lost, 2 accepted. */
    char tried[FX_TRIED_MAX];
    size_t ntried;

    /* Failover model (failover.h, written again from its contract). */
    unsigned brokers;
    unsigned expect_broker;
    unsigned round_fails;     /* failures in a row in this round */
    uint32_t backoff_attempt; /* draws since the backoff last started over */
    int64_t up_since;         /* when the live connection was made */
    int64_t attempt_lo;       /* the next connect may come no earlier ... */
    int64_t attempt_hi;       /* ... and a pump must make it from here on */
    bool lost_pending;        /* a publish in submit lost the connection: the next pump says so */
    bool refused_pending;     /* a nack covered an unanswered job: the pump drops the connection */
    bool refusal_wait;        /* dropped after a nack, no connect attempted since */
    uint32_t refusal_attempt; /* refusal backoff draws since the last ack */
    bool destroying;          /* inside publisher_destroy */
    uint64_t submitting;      /* ticket inside publisher_submit, 0 outside */

    fx_ev_t *evq;
    size_t evq_head, evq_len, evq_cap;
    fx_pub_t *pubs;
    size_t npubs, pubs_cap;

    /* Completion record. */
    fx_done_t *done;
    size_t ndone, done_cap;
    fx_ticket_t *tks;
    size_t tks_cap;
    uint64_t nsubmitted;
    uint64_t by_status[4];
    uint64_t refused_by_nack;   /* REFUSED after a nack covered the message */
    uint64_t refused_by_return; /* REFUSED after a return and the ack that followed it */
    uint64_t losses;            /* connections lost (not by destroy) */
    uint64_t refusals;          /* connections dropped because of a nack */
    uint64_t republishes;       /* successful publishes of a job published or tried before */
    uint64_t resends_cut;       /* republishes that failed: a resend cut short by a loss */
    uint64_t settled_again;     /* CONFIRMED or REFUSED after a republish */
    uint64_t timeouts_waiting;  /* TIMEOUT of a job not published on the live connection */
    uint64_t answered_upto;     /* randomized test: tickets 1..this are known to be answered */
} fx_t;

/* publisher.c's REFUSAL_BACKOFF_*: the delays of reconnecting after a nack. */
enum { FX_REFUSAL_BASE_MS = 50, FX_REFUSAL_MAX_MS = 1000 };

/* One broker, max_inflight 8, confirm timeout 1000 ms, backoff 100..1600 ms. */
extern const publisher_opts_t fx_default_opts;

/* The fixture every TCase installs: a publisher with fx_default_opts, not yet connected. */
extern fx_t fx;
void fx_setup(void);
void fx_teardown(void);
/* Starts the fixture over with other options (not connected). */
void fx_use_opts(const publisher_opts_t *o);
/* Starts the fixture over with fx_default_opts but max_inflight, and connects it. */
void fx_up_with_window(uint32_t max_inflight);
/* Adds to s, and returns, a new TCase that installs the fixture around each of its tests. */
TCase *fx_tcase(Suite *s, const char *name);

/* Creates f's publisher with options o over the fake; the clock starts at 1000000 ms. */
void fx_init_opts(fx_t *f, const publisher_opts_t *o);
/* Destroys the publisher (answering what is left, then checking that every job submitted was
 * answered); the records stay readable. */
void fx_destroy(fx_t *f);
/* Destroys the publisher, if still there, and frees the records. */
void fx_deinit(fx_t *f);
/* Returns the fake transport bound to f, for tests that create a publisher themselves. */
pub_transport_t fx_transport(fx_t *f);
/* The completion callback the fixture gives the publisher; ctx is the fx_t. */
void fx_on_complete(void *ctx, uint32_t loop, uint64_t ticket, pub_status_t status,
                    int64_t enqueued_ms);

/* Submits ticket (loop ticket % 3, enqueued 1000 + ticket) with a fresh malloc'd body and the
 * id fx_make_id(id_n); fx_submit uses id_n = ticket. Tickets are unique within a test. */
void fx_submit_id(fx_t *f, uint64_t ticket, uint64_t id_n);
void fx_submit(fx_t *f, uint64_t ticket);
void fx_submit_range(fx_t *f, uint64_t first, uint64_t last);
/* Pumps at f->now and returns the PUB_PUMP_* flags. Checks that a loss in submit is reported
 * (alone) and that a connect due by the model was attempted. */
int fx_pump(fx_t *f);
/* Pumps and checks that it connected. */
void fx_up(fx_t *f);
void fx_make_id(uint64_t n, char out[IDGEN_STR_LEN + 1]);

/* Queue what the broker says next (only on a live connection). */
void fx_push_ev(fx_t *f, int rc, pub_event_t ev);
void fx_push_ack(fx_t *f, uint64_t tag, bool multiple);
void fx_push_nack(fx_t *f, uint64_t tag, bool multiple);
void fx_push_return(fx_t *f, const char *id);
void fx_push_kind(fx_t *f, pub_event_kind_t kind);
/* next_event fails with code: the connection is lost. */
void fx_push_error(fx_t *f, int code);

fx_ticket_t *fx_tk_of(fx_t *f, uint64_t ticket);
int fx_ndone_of(fx_t *f, uint64_t ticket);
/* The publish record of ticket (which must have been published). */
const fx_pub_t *fx_pub_of(fx_t *f, uint64_t ticket);
/* The publish record of tag on the current connection. */
fx_pub_t *fx_pub_by_tag(fx_t *f, uint64_t tag);

/* Ticket was answered once, with status / is not answered yet. */
void fx_expect_done(fx_t *f, uint64_t ticket, pub_status_t status);
void fx_expect_open(fx_t *f, uint64_t ticket);
/* Checks tickets first, first + 1, ... against one letter each: C confirmed, R refused,
 * T timeout, U unavailable, - not answered yet. A failure prints both strings. */
void fx_expect_outcomes(fx_t *f, uint64_t first, const char *want);

uint64_t fx_counter(const _Atomic uint64_t *c);
/* confirmed + nacked + returned + timed_out + unavailable. */
uint64_t fx_outcomes_sum(const publisher_stats_t *st);
/* Each outcome counter equals the outcomes reported so far; the other statistics agree with the
 * fake's record (publishes, republishes, connects, losses, the gauges). */
void fx_check_counters(fx_t *f);
/* Jobs submitted and not answered yet. */
uint64_t fx_open_jobs(const fx_t *f);

/* The backoff cap of attempt n under o. */
uint32_t fx_cap_of(const publisher_opts_t *o, uint32_t attempt);
/* Checks that the reconnect delay now scheduled is a valid draw for attempt n; returns it. */
int64_t fx_expect_backoff(fx_t *f, uint32_t attempt);

/* Each test file adds its TCases (one per behaviour group) to the "publisher" suite; main is in
 * test_publisher.c. */
void publisher_add_connect_tests(Suite *s);
void publisher_add_confirm_tests(Suite *s);
void publisher_add_nack_tests(Suite *s);
void publisher_add_timeout_tests(Suite *s);
void publisher_add_loss_tests(Suite *s);
void publisher_add_stats_tests(Suite *s);
void publisher_add_random_tests(Suite *s);
void publisher_add_failover_tests(Suite *s);

#endif
