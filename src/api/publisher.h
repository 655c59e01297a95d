/* SPDX-License-Identifier: MIT */
/*
 * The AMQP publisher's state machine: connect to the first broker of a list that answers (moving
 * to the next on failure, failover.h), publish with confirms and many messages in flight, settle
 * acks (multiple), nacks and returns, time out confirmations, publish again on the next
 * connection what a lost one left unconfirmed or what the broker nacked, and report every job's
 * outcome exactly once through a completion callback. It talks to the broker only through
 * pub_transport_t, so unit tests drive it with a fake. Thread: amqp (owner only), except
 * publisher_state_get and publisher_stats, which are any. Invariant: every submitted job gets
 * exactly one completion; a job is reported CONFIRMED only after a broker's ack for its delivery
 * tag on the connection it was last published on.
 */
#ifndef AT_API_PUBLISHER_H
#define AT_API_PUBLISHER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "common/idgen.h"

/* A publish job: copied by value through the MPSC ring from a loop to the amqp thread. */
typedef struct pub_job {
    uint64_t ticket;     /* the loop's pending ticket */
    uint32_t loop;       /* index of the owning loop */
    uint32_t len;        /* body length */
    char *body;          /* malloc'd message body; ownership travels with the job */
    int64_t received_ms; /* wall clock at receipt: the message's timestamp property */
    int64_t enqueued_ms; /* monotonic clock at enqueue, for the latency histogram */
    char id[IDGEN_STR_LEN + 1];
} pub_job_t;

typedef enum pub_status {
    PUB_CONFIRMED = 0,   /* the broker confirmed the persistent message */
    PUB_UNAVAILABLE = 1, /* no broker answers, blocked, or unconfirmed when the publisher stops */
    PUB_TIMEOUT = 2,     /* no confirmation within the confirm timeout */
    PUB_REFUSED = 3,     /* nacked until its deadline, or returned as unroutable */
} pub_status_t;

typedef enum pub_state {
    PUB_STATE_CONNECTING = 0, /* no connection yet since start */
    PUB_STATE_UP = 1,
    PUB_STATE_DOWN = 2, /* lost; waiting for the next attempt */
} pub_state_t;

typedef enum pub_event_kind {
    PUB_EV_ACK,
    PUB_EV_NACK,
    PUB_EV_RETURN,  /* basic.return of a mandatory message; message_id identifies it */
    PUB_EV_BLOCKED, /* connection.blocked: the broker stopped reading (resource alarm) */
    PUB_EV_UNBLOCKED,
} pub_event_kind_t;

typedef struct pub_event {
    pub_event_kind_t kind;
    uint64_t tag;
    bool multiple;
    char message_id[IDGEN_STR_LEN + 1];
} pub_event_t;

/* The broker behind function pointers. Every call is made on the amqp thread. */
typedef struct pub_transport {
    void *ctx;
    /* Connects to broker number broker (0 .. publisher_opts_t.brokers - 1), declares the
     * topology and enables confirms. 0 or ERR_*. */
    int (*connect)(void *ctx, unsigned broker, err_t *err);
    /* Publishes job (persistent, mandatory; job and its body are borrowed). Delivery tags count
     * 1, 2, ... per connection. 0, or ERR_* when the connection is unusable. */
    int (*publish)(void *ctx, const pub_job_t *job, err_t *err);
    /* Returns 1 with *ev filled if an event is available without blocking, 0 if none, or
     * ERR_* when the connection is lost. */
    int (*next_event)(void *ctx, pub_event_t *ev, err_t *err);
    /* Drops the connection (politely if possible). Safe when not connected. */
    void (*disconnect)(void *ctx);
} pub_transport_t;

/* Receives each job's outcome exactly once. Called on the amqp thread. */
typedef void (*pub_complete_fn)(void *ctx, uint32_t loop, uint64_t ticket, pub_status_t status,
                                int64_t enqueued_ms);

typedef struct publisher_opts {
    uint32_t brokers;            /* brokers the transport can connect to (0 counts as 1) */
    uint32_t max_inflight;       /* unconfirmed messages allowed at once */
    uint32_t confirm_timeout_ms; /* a job not confirmed by then completes PUB_TIMEOUT */
    uint32_t backoff_base_ms;    /* after every broker failed, the delay grows from here ... */
    uint32_t backoff_max_ms;     /* ... up to here; it starts over once a connection has
                                    lasted this long */
    uint64_t seed;               /* jitter seed */
} publisher_opts_t;

/* Counters readable from any thread (relaxed atomics: monotonic statistics only).
 * The five outcome counters, confirmed to unavailable, split the jobs answered so far: each job
 * is counted once, in exactly one of them, when its completion is reported, so their sum is the
 * number of jobs submitted minus those still unanswered.
 * Thread: written by amqp (owner), read by any. */
typedef struct publisher_stats {
    _Atomic uint64_t published;
    _Atomic uint64_t confirmed;   /* PUB_CONFIRMED */
    _Atomic uint64_t nacked;      /* PUB_REFUSED by a nack */
    _Atomic uint64_t returned;    /* PUB_REFUSED by a basic.return (unroutable), then its ack */
    _Atomic uint64_t timed_out;   /* PUB_TIMEOUT */
    _Atomic uint64_t unavailable; /* PUB_UNAVAILABLE */
    _Atomic uint64_t connects;
    _Atomic uint64_t connection_losses;
    _Atomic uint64_t republished;        /* publishes of a message again on a new connection */
    _Atomic uint64_t refusal_reconnects; /* connections dropped, and made again, after a nack */
    _Atomic uint32_t inflight;
    _Atomic uint32_t resending; /* unconfirmed messages waiting for the next connection */
    _Atomic uint32_t broker;    /* index of the broker of the last connection */
    _Atomic int blocked;
} publisher_stats_t;

/* What publisher_pump did, for the caller to log (pure modules never log). */
enum {
    PUB_PUMP_CONNECTED = 1 << 0,
    PUB_PUMP_CONNECT_FAILED = 1 << 1, /* publisher_last_err tells why */
    PUB_PUMP_LOST = 1 << 2,           /* publisher_last_err tells why */
    PUB_PUMP_BLOCKED = 1 << 3,
    PUB_PUMP_UNBLOCKED = 1 << 4,
    PUB_PUMP_REFUSED = 1 << 5, /* the broker nacked: reconnecting to it to publish again */
};

typedef struct publisher publisher_t;

/* Creates a publisher in PUB_STATE_CONNECTING that will try to connect on its first pump.
 * transport is copied; complete/ctx are called for every outcome. Returns NULL if
 * max_inflight is 0. Thread: main. */
publisher_t *publisher_create(const publisher_opts_t *o, const pub_transport_t *transport,
                              pub_complete_fn complete, void *complete_ctx);

/* Completes every unsettled job PUB_UNAVAILABLE, disconnects and frees. NULL is a no-op. */
void publisher_destroy(publisher_t *p);

/* Whether the caller should hand over more jobs now: false while connected with max_inflight
 * messages unconfirmed, and while a failover round is under way (jobs then wait in the ring:
 * backpressure); true otherwise (while no broker answers they are refused at once). */
bool publisher_wants_jobs(const publisher_t *p);

/* Takes job (and ownership of job->body, freed once the job is answered). Publishes it when
 * connected and not blocked; otherwise completes it PUB_UNAVAILABLE at once. */
void publisher_submit(publisher_t *p, pub_job_t *job, int64_t now_ms);

/* Does all due work: reads every pending broker event, expires confirmations, and reconnects
 * when due (then first publishes again what the lost connection left unconfirmed). Returns
 * PUB_PUMP_* flags. */
int publisher_pump(publisher_t *p, int64_t now_ms);

/* Returns the delay in ms until the next pump has timed work (a reconnect attempt or a
 * confirmation deadline, of a message in flight or waiting to be resent), or -1 when only broker
 * events or new jobs can create work. */
int64_t publisher_next_wake_ms(const publisher_t *p, int64_t now_ms);

/* Returns the number of published, unsettled messages. */
uint32_t publisher_inflight(const publisher_t *p);

/* Returns the last connect or connection error, valid until the next pump. */
const err_t *publisher_last_err(const publisher_t *p);

/* Returns the current state. Thread: any. */
pub_state_t publisher_state_get(const publisher_t *p);

/* Returns the statistics block, borrowed for the publisher's lifetime. Thread: any. */
const publisher_stats_t *publisher_stats(const publisher_t *p);

#endif
