/* SPDX-License-Identifier: MIT */
/*
 * DESIGN. One thread owns the rabbitmq-c connection. Its loop: pump the publisher (read
 * acks, expire confirmations, reconnect when due), move jobs from the ring into the publisher
 * while it wants them, flush completions to the loops, then sleep in poll(2) on the broker
 * socket and an eventfd until there is work, a timed deadline, or heartbeat/2 passes.
 * Producers write the eventfd only when the thread announced it is going to sleep (the
 * `sleeping` flag), so a busy thread costs producers no system call. The flag and the ring
 * form a Dekker pair: the thread stores sleeping = 1 and then re-checks the ring; a producer
 * pushes and then loads sleeping; both sides use seq_cst so at least one sees the other.
 */
#include "api/amqp_thread.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/mq_transport.h"
#include "common/timesrc.h"

#define LOG_MODULE "amqp"
#include "common/log.h"

#define CONNECT_TIMEOUT_MS 3000
#define BACKOFF_BASE_MS    100
#define BACKOFF_MAX_MS     5000
#define LOG_REPEAT_MS      30000

/* Thread: created and started by main, then the amqp thread owns everything but the atomics,
 * wake_fd (any thread writes it) and started (main). */
struct amqp_thread {
    const config_t *cfg;
    const brokerurl_list_t *brokers;
    ring_mpsc_t *jobs;
    amqp_thread_sink_t sink;
    mq_transport_t *transport;
    publisher_t *publisher;
    timesrc_t clock;
    int wake_fd;
    pthread_t thread;
    bool started;
    _Atomic int sleeping;
    _Atomic int stop;
    _Atomic int64_t stop_deadline_ms;
    _Atomic int fatal;
    bool ever_connected;
    log_throttle_t connect_log;
    log_throttle_t refusal_log;
};

amqp_thread_t *amqp_thread_create(const config_t *cfg, const brokerurl_list_t *brokers,
                                  ring_mpsc_t *jobs, err_t *err)
{
    amqp_thread_t *t = xcalloc(1, sizeof(*t));
    t->cfg = cfg;
    t->brokers = brokers;
    t->jobs = jobs;
    t->clock = timesrc_real();
    t->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (t->wake_fd < 0) {
        err_set(err, ERR_IO, NULL, "eventfd: %s", strerror(errno));
        free(t);
        return NULL;
    }
    mq_params_t params = {.heartbeat_s = (uint16_t)cfg->amqp_heartbeat_s,
                          .conn_name = "activity-api publisher",
                          .timeout_ms = CONNECT_TIMEOUT_MS,
                          .topology = mq_topology_of(cfg)};
    t->transport = mq_transport_create(brokers, &params);
    return t;
}

const publisher_t *amqp_thread_publisher(const amqp_thread_t *t)
{
    return t->publisher;
}

int amqp_thread_fatal(const amqp_thread_t *t)
{
    return atomic_load(&t->fatal);
}

void amqp_thread_wake(void *arg)
{
    amqp_thread_t *t = arg;
    /* Pairs with the seq_cst store of sleeping in wait(): the push that preceded this call
     * is visible to the thread, or this load sees it going to sleep. */
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load(&t->sleeping)) {
        uint64_t one = 1;
        ssize_t n = write(t->wake_fd, &one, sizeof(one));
        (void)n; /* EAGAIN means the counter is already non-zero: the thread will wake */
    }
}

static void log_pump(amqp_thread_t *t, int flags, int64_t now)
{
    const err_t *e = publisher_last_err(t->publisher);
    uint32_t suppressed = 0;
    if (flags & PUB_PUMP_CONNECTED) {
        char addr[BROKERURL_PART_MAX + 16];
        unsigned b =
            atomic_load_explicit(&publisher_stats(t->publisher)->broker, memory_order_relaxed);
        brokerurl_format_addr(&t->brokers->urls[b], addr, sizeof(addr));
        mq_queue_type_t qt = mq_transport_queue_type(t->transport);
        LOG_INFO("connected to the broker %s; queue \"%s\" (%s); publishing with confirms", addr,
                 t->cfg->rabbitmq_queue, mq_queue_type_name(qt));
        if (qt == MQ_QUEUE_CLASSIC && mq_topology_of(t->cfg).type == MQ_QUEUE_AUTO &&
            !t->ever_connected)
            LOG_WARN("queue \"%s\" exists as a classic queue: kept as it is (RABBITMQ_QUEUE_TYPE "
                     "auto); see README \"Queue types\" to move to a quorum queue",
                     t->cfg->rabbitmq_queue);
        t->ever_connected = true;
        t->connect_log = (log_throttle_t){0};
    }
    if (flags & PUB_PUMP_LOST)
        LOG_ERROR("broker connection lost: %s", e->msg);
    if ((flags & PUB_PUMP_REFUSED) &&
        log_throttle_allow(&t->refusal_log, now, LOG_REPEAT_MS, &suppressed))
        LOG_WARN("the broker refused messages (basic.nack; a quorum queue electing its leader, or "
                 "full); reconnecting to publish them again (%u similar not logged)",
                 suppressed);
    if ((flags & PUB_PUMP_CONNECT_FAILED) &&
        log_throttle_allow(&t->connect_log, now, LOG_REPEAT_MS, &suppressed))
        LOG_ERROR("cannot connect to the broker (%u similar failures not logged): %s", suppressed,
                  e->msg);
    if ((flags & PUB_PUMP_CONNECT_FAILED) && e->code == ERR_PROTO && !t->ever_connected)
        atomic_store(&t->fatal, 1); /* a topology mismatch is a configuration error */
    if (flags & PUB_PUMP_BLOCKED)
        LOG_WARN("the broker blocked publishing (resource alarm); answering 503");
    if (flags & PUB_PUMP_UNBLOCKED)
        LOG_INFO("the broker unblocked publishing");
}

/* TCP_CORK on the broker socket while a batch of jobs is published: rabbitmq-c sends every
 * message with its own send(2), and corked they leave in full segments, which costs the kernel
 * and the broker far less per message than one small segment each. Uncorking sends the rest at
 * once. Returns whether the socket was corked. */
static bool set_cork(amqp_thread_t *t, bool on)
{
    int fd = mq_transport_fd(t->transport), v = on;
    return fd >= 0 && setsockopt(fd, IPPROTO_TCP, TCP_CORK, &v, sizeof(v)) == 0;
}

/* Sleeps until the broker socket is readable, a producer wakes us, or timeout_ms passes. */
static void wait_for_work(amqp_thread_t *t, int timeout_ms)
{
    if (mq_transport_has_buffered(t->transport))
        return;
    atomic_store(&t->sleeping, 1);
    /* Re-check after announcing sleep: a job pushed before the store was not signalled. */
    if (ring_mpsc_size_approx(t->jobs) > 0 && publisher_wants_jobs(t->publisher)) {
        atomic_store(&t->sleeping, 0);
        return;
    }
    struct pollfd fds[2] = {{.fd = t->wake_fd, .events = POLLIN},
                            {.fd = mq_transport_fd(t->transport), .events = POLLIN}};
    poll(fds, fds[1].fd >= 0 ? 2 : 1, timeout_ms);
    atomic_store(&t->sleeping, 0);
    if (fds[0].revents & POLLIN) {
        uint64_t v;
        ssize_t n = read(t->wake_fd, &v, sizeof(v));
        (void)n;
    }
}

static void *thread_main(void *arg)
{
    amqp_thread_t *t = arg;
    log_set_thread("amqp");
    const int heartbeat_wake_ms = (int)t->cfg->amqp_heartbeat_s * 1000 / 2;
    for (;;) {
        int64_t now = timesrc_mono_ms(&t->clock);
        int flags = publisher_pump(t->publisher, now);
        if (flags != 0)
            log_pump(t, flags, now);

        unsigned moved = 0;
        pub_job_t job;
        bool corked = false;
        while (publisher_wants_jobs(t->publisher) && ring_mpsc_try_pop(t->jobs, &job) == 0) {
            if (moved == 1)
                corked = set_cork(t, true);
            publisher_submit(t->publisher, &job, now);
            moved++;
        }
        if (corked)
            set_cork(t, false);
        t->sink.flush(t->sink.ctx);

        if (atomic_load(&t->stop)) {
            /* Messages waiting to be resent keep the thread going too, until the deadline: the
             * next broker may still take them. */
            const publisher_stats_t *st = publisher_stats(t->publisher);
            bool idle = ring_mpsc_size_approx(t->jobs) == 0 &&
                        publisher_inflight(t->publisher) == 0 &&
                        atomic_load_explicit(&st->resending, memory_order_relaxed) == 0;
            if (idle || now >= atomic_load(&t->stop_deadline_ms))
                break;
        }
        if (moved > 0)
            continue; /* read the confirms of what was just published before sleeping */

        int64_t wake = publisher_next_wake_ms(t->publisher, now);
        int timeout = heartbeat_wake_ms;
        if (wake >= 0 && wake < timeout)
            timeout = (int)wake;
        if (atomic_load(&t->stop) && timeout > 50)
            timeout = 50;
        wait_for_work(t, timeout);
    }
    /* Whatever is left (the deadline passed) is answered 503 by the publisher. */
    pub_job_t job;
    while (ring_mpsc_try_pop(t->jobs, &job) == 0)
        publisher_submit(t->publisher, &job, timesrc_mono_ms(&t->clock));
    publisher_destroy(t->publisher);
    t->publisher = NULL;
    t->sink.flush(t->sink.ctx);
    LOG_INFO("publisher stopped");
    return NULL;
}

int amqp_thread_start(amqp_thread_t *t, const amqp_thread_sink_t *sink, err_t *err)
{
    ASSERT(t->publisher == NULL);
    const config_t *cfg = t->cfg;
    t->sink = *sink;
    pub_transport_t vt = mq_transport_vtable(t->transport);
    publisher_opts_t opts = {.brokers = t->brokers->count,
                             .max_inflight = cfg->publish_max_inflight,
                             .confirm_timeout_ms = cfg->publish_confirm_timeout_ms,
                             .backoff_base_ms = BACKOFF_BASE_MS,
                             .backoff_max_ms = BACKOFF_MAX_MS,
                             .seed = (uint64_t)timesrc_wall_ms(&t->clock)};
    t->publisher = publisher_create(&opts, &vt, sink->complete, sink->ctx);
    int rc = pthread_create(&t->thread, NULL, thread_main, t);
    if (rc != 0)
        return err_set(err, ERR_IO, NULL, "cannot start the AMQP thread: %s", strerror(rc));
    t->started = true;
    return 0;
}

void amqp_thread_stop(amqp_thread_t *t, int64_t deadline_ms)
{
    atomic_store(&t->stop_deadline_ms, deadline_ms);
    atomic_store(&t->stop, 1);
    uint64_t one = 1;
    ssize_t n = write(t->wake_fd, &one, sizeof(one));
    (void)n;
}

void amqp_thread_join(amqp_thread_t *t)
{
    if (t->started) {
        pthread_join(t->thread, NULL);
        t->started = false;
    }
}

void amqp_thread_destroy(amqp_thread_t *t)
{
    if (t == NULL)
        return;
    publisher_destroy(t->publisher);
    mq_transport_destroy(t->transport);
    close(t->wake_fd);
    free(t);
}
