/* SPDX-License-Identifier: MIT */
#include "common/ring_mpsc.h"

#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

#include "unit_main.h"

/* ---- create: capacity rounding and refused sizes ---- */

START_TEST(test_ring_mpsc_create_rounds_capacity_to_power_of_two)
{
    static const struct {
        size_t asked, expected;
    } cases[] = {{1, 2}, {2, 2}, {3, 4}, {4, 4}, {5, 8}, {1000, 1024}, {1024, 1024}, {1025, 2048}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ring_mpsc_t *r = ring_mpsc_create(cases[i].asked, sizeof(int));
        ck_assert_ptr_nonnull(r);
        ck_assert_uint_eq(ring_mpsc_capacity(r), cases[i].expected);
        ck_assert_uint_eq(ring_mpsc_size_approx(r), 0);
        ring_mpsc_destroy(r);
    }
}
END_TEST

START_TEST(test_ring_mpsc_create_refuses_zero_and_overflowing_sizes)
{
    ck_assert_ptr_null(ring_mpsc_create(0, 8));
    ck_assert_ptr_null(ring_mpsc_create(8, 0));
    ck_assert_ptr_null(ring_mpsc_create(SIZE_MAX, 8));
    ck_assert_ptr_null(ring_mpsc_create(SIZE_MAX / 2 + 2, 1));
    ck_assert_ptr_null(ring_mpsc_create(8, SIZE_MAX));
    ck_assert_ptr_null(ring_mpsc_create(8, SIZE_MAX - 8));
    ck_assert_ptr_null(ring_mpsc_create((size_t)1 << 40, (size_t)1 << 40));
}
END_TEST

START_TEST(test_ring_mpsc_destroy_null_is_noop)
{
    ring_mpsc_destroy(NULL);
}
END_TEST

/* ---- push and pop on one thread ---- */

START_TEST(test_ring_mpsc_try_pop_fails_when_empty)
{
    ring_mpsc_t *r = ring_mpsc_create(4, sizeof(int));
    int v = 7;
    ck_assert_int_eq(ring_mpsc_try_pop(r, &v), ERR_EMPTY);
    ck_assert_int_eq(v, 7);
    ring_mpsc_destroy(r);
}
END_TEST

START_TEST(test_ring_mpsc_pops_in_push_order)
{
    ring_mpsc_t *r = ring_mpsc_create(8, sizeof(int));
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(ring_mpsc_try_push(r, &i), 0);
    ck_assert_uint_eq(ring_mpsc_size_approx(r), 8);
    for (int i = 0; i < 8; i++) {
        int v = -1;
        ck_assert_int_eq(ring_mpsc_try_pop(r, &v), 0);
        ck_assert_int_eq(v, i);
    }
    int v;
    ck_assert_int_eq(ring_mpsc_try_pop(r, &v), ERR_EMPTY);
    ck_assert_uint_eq(ring_mpsc_size_approx(r), 0);
    ring_mpsc_destroy(r);
}
END_TEST

START_TEST(test_ring_mpsc_try_push_fails_when_full)
{
    ring_mpsc_t *r = ring_mpsc_create(3, sizeof(int)); /* rounded up to 4 */
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(ring_mpsc_try_push(r, &i), 0);
    int extra = 99;
    ck_assert_int_eq(ring_mpsc_try_push(r, &extra), ERR_FULL);
    ck_assert_int_eq(ring_mpsc_try_push(r, &extra), ERR_FULL);
    ck_assert_uint_eq(ring_mpsc_size_approx(r), 4);

    /* One pop frees exactly one slot, and the refused pushes left no trace. */
    int v = -1;
    ck_assert_int_eq(ring_mpsc_try_pop(r, &v), 0);
    ck_assert_int_eq(v, 0);
    ck_assert_int_eq(ring_mpsc_try_push(r, &extra), 0);
    ck_assert_int_eq(ring_mpsc_try_push(r, &extra), ERR_FULL);
    for (int want = 1; want < 4; want++) {
        ck_assert_int_eq(ring_mpsc_try_pop(r, &v), 0);
        ck_assert_int_eq(v, want);
    }
    ck_assert_int_eq(ring_mpsc_try_pop(r, &v), 0);
    ck_assert_int_eq(v, 99);
    ck_assert_int_eq(ring_mpsc_try_pop(r, &v), ERR_EMPTY);
    ring_mpsc_destroy(r);
}
END_TEST

START_TEST(test_ring_mpsc_minimum_capacity_alternates_full_and_empty)
{
    ring_mpsc_t *r = ring_mpsc_create(1, sizeof(uint64_t));
    ck_assert_uint_eq(ring_mpsc_capacity(r), 2);
    for (uint64_t i = 0; i < 1000; i += 2) {
        uint64_t a = i, b = i + 1, out = 0;
        ck_assert_int_eq(ring_mpsc_try_push(r, &a), 0);
        ck_assert_int_eq(ring_mpsc_try_push(r, &b), 0);
        ck_assert_int_eq(ring_mpsc_try_push(r, &a), ERR_FULL);
        ck_assert_int_eq(ring_mpsc_try_pop(r, &out), 0);
        ck_assert_uint_eq(out, i);
        ck_assert_int_eq(ring_mpsc_try_pop(r, &out), 0);
        ck_assert_uint_eq(out, i + 1);
        ck_assert_int_eq(ring_mpsc_try_pop(r, &out), ERR_EMPTY);
    }
    ring_mpsc_destroy(r);
}
END_TEST

/* ---- wraparound: many laps at every fill level ---- */

START_TEST(test_ring_mpsc_wraps_around_many_times)
{
    ring_mpsc_t *r = ring_mpsc_create(16, sizeof(uint64_t));
    uint64_t next_in = 0, next_out = 0;
    /* Fill levels cycle through 1..16 so every slot sees every phase; 100000 elements are
     * about 6000 laps of the ring. */
    while (next_in < 100000) {
        size_t burst = 1 + (size_t)(next_in % 16);
        for (size_t i = 0; i < burst; i++) {
            ck_assert_int_eq(ring_mpsc_try_push(r, &next_in), 0);
            next_in++;
        }
        ck_assert_uint_eq(ring_mpsc_size_approx(r), burst);
        uint64_t v;
        while (ring_mpsc_try_pop(r, &v) == 0) {
            ck_assert_uint_eq(v, next_out);
            next_out++;
        }
        ck_assert_uint_eq(next_out, next_in);
    }
    ring_mpsc_destroy(r);
}
END_TEST

START_TEST(test_ring_mpsc_wraps_around_while_partly_full)
{
    ring_mpsc_t *r = ring_mpsc_create(8, sizeof(uint32_t));
    uint32_t next_in = 0, next_out = 0, v;
    for (int i = 0; i < 5; i++, next_in++)
        ck_assert_int_eq(ring_mpsc_try_push(r, &next_in), 0);
    /* Keep five elements in flight while the positions lap the ring many times. */
    for (int lap = 0; lap < 20000; lap++) {
        ck_assert_int_eq(ring_mpsc_try_push(r, &next_in), 0);
        next_in++;
        ck_assert_int_eq(ring_mpsc_try_pop(r, &v), 0);
        ck_assert_uint_eq(v, next_out);
        next_out++;
        ck_assert_uint_eq(ring_mpsc_size_approx(r), 5);
    }
    while (ring_mpsc_try_pop(r, &v) == 0)
        ck_assert_uint_eq(v, next_out++);
    ck_assert_uint_eq(next_out, next_in);
    ring_mpsc_destroy(r);
}
END_TEST

/* ---- elements of odd sizes are copied whole, without touching neighbours ---- */

static void fill_pattern(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(seed * 131u + i * 7u + 1u);
}

START_TEST(test_ring_mpsc_copies_elements_of_odd_sizes)
{
    static const size_t sizes[] = {1, 3, 7, 13, 15, 17, 31, 63, 65, 127, 1000, 4097};
    for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
        size_t n = sizes[si];
        ring_mpsc_t *r = ring_mpsc_create(4, n);
        unsigned char *in = xmalloc(n), *out = xmalloc(n + 1), *want = xmalloc(n);
        unsigned pushed = 0, popped = 0;
        /* Three laps, keeping the ring full so every slot neighbours a live element. */
        for (int round = 0; round < 12; round++) {
            while (1) {
                fill_pattern(in, n, pushed);
                if (ring_mpsc_try_push(r, in) == ERR_FULL)
                    break;
                pushed++;
            }
            ck_assert_uint_eq(pushed - popped, 4);
            out[n] = 0xA5; /* guard byte: pop must write exactly elem_size bytes */
            ck_assert_int_eq(ring_mpsc_try_pop(r, out), 0);
            ck_assert_uint_eq(out[n], 0xA5);
            fill_pattern(want, n, popped);
            ck_assert_mem_eq(out, want, n);
            popped++;
        }
        while (ring_mpsc_try_pop(r, out) == 0) {
            fill_pattern(want, n, popped);
            ck_assert_mem_eq(out, want, n);
            popped++;
        }
        ck_assert_uint_eq(popped, pushed);
        free(in);
        free(out);
        free(want);
        ring_mpsc_destroy(r);
    }
}
END_TEST

/* ---- stress: many producers, one consumer ---- */

/* A tagged item of an odd size (28 bytes with the check word) so torn copies show up. */
typedef struct item {
    uint32_t producer;
    uint32_t seq_lo, seq_hi;
    uint32_t check;
    unsigned char tail[12];
} item_t;

static uint32_t item_check(uint32_t producer, uint64_t seq)
{
    uint64_t h = (seq + 1) * 0x9E3779B97F4A7C15ull ^ ((uint64_t)producer << 32);
    return (uint32_t)(h ^ (h >> 29));
}

typedef struct stress {
    ring_mpsc_t *ring;
    uint64_t per_producer;
    _Atomic unsigned producers_done;
    _Atomic uint64_t full_results; /* FULL results seen by producers */
} stress_t;

typedef struct producer_arg {
    stress_t *st;
    uint32_t id;
} producer_arg_t;

/* Retry briefly in place, then give the core away: with more threads than cores, the thread
 * that would make progress may be waiting for this one's time slice. */
static void backoff(unsigned *spins)
{
    if (++*spins < 64)
        return;
    *spins = 0;
    sched_yield();
}

static void *producer_main(void *arg)
{
    producer_arg_t *pa = arg;
    stress_t *st = pa->st;
    for (uint64_t seq = 0; seq < st->per_producer; seq++) {
        item_t it = {.producer = pa->id,
                     .seq_lo = (uint32_t)seq,
                     .seq_hi = (uint32_t)(seq >> 32),
                     .check = item_check(pa->id, seq)};
        memset(it.tail, (int)(seq & 0xff), sizeof(it.tail));
        int rc;
        unsigned spins = 0;
        while ((rc = ring_mpsc_try_push(st->ring, &it)) == ERR_FULL) {
            atomic_fetch_add(&st->full_results, 1);
            backoff(&spins);
        }
        if (rc != 0)
            abort(); /* reported by Check as an error in this test */
    }
    atomic_fetch_add(&st->producers_done, 1);
    return NULL;
}

static void run_stress(uint32_t nproducers, size_t capacity, uint64_t per_producer)
{
    stress_t st = {.ring = ring_mpsc_create(capacity, sizeof(item_t)),
                   .per_producer = per_producer};
    ck_assert_ptr_nonnull(st.ring);
    atomic_init(&st.producers_done, 0);
    atomic_init(&st.full_results, 0);

    pthread_t tids[16];
    producer_arg_t args[16];
    uint64_t next[16] = {0};
    ck_assert_uint_le(nproducers, sizeof(tids) / sizeof(tids[0]));
    for (uint32_t p = 0; p < nproducers; p++) {
        args[p] = (producer_arg_t){.st = &st, .id = p};
        ck_assert_int_eq(pthread_create(&tids[p], NULL, producer_main, &args[p]), 0);
    }

    /* Start consuming only once a producer has been refused with FULL, so every run
     * exercises the retry path whatever the number of cores. */
    uint64_t total = 0, expected_total = (uint64_t)nproducers * per_producer;
    ck_assert_uint_gt(expected_total, ring_mpsc_capacity(st.ring));
    while (atomic_load(&st.full_results) == 0)
        sched_yield();

    /* The consumer is this thread. Each item must be its producer's next sequence number:
     * that single check rules out loss (a gap), duplication (a repeat) and reordering. */
    unsigned idle_spins = 0;
    for (;;) {
        item_t it;
        /* Read the flag before popping: EMPTY after every producer had finished means empty. */
        unsigned done = atomic_load(&st.producers_done);
        if (ring_mpsc_try_pop(st.ring, &it) == ERR_EMPTY) {
            if (done == nproducers)
                break;
            backoff(&idle_spins);
            continue;
        }
        idle_spins = 0;
        /* Each Check assertion costs a write to the runner's pipe, so the per-item checks
         * call the assertion only once they have found a mismatch to report. */
        if (it.producer >= nproducers)
            ck_assert_uint_lt(it.producer, nproducers);
        uint64_t seq = (uint64_t)it.seq_lo | ((uint64_t)it.seq_hi << 32);
        if (seq != next[it.producer])
            ck_assert_uint_eq(seq, next[it.producer]);
        if (it.check != item_check(it.producer, seq))
            ck_assert_uint_eq(it.check, item_check(it.producer, seq));
        for (size_t i = 0; i < sizeof(it.tail); i++)
            if (it.tail[i] != (seq & 0xff))
                ck_assert_uint_eq(it.tail[i], seq & 0xff);
        next[it.producer]++;
        total++;
    }
    for (uint32_t p = 0; p < nproducers; p++) {
        ck_assert_int_eq(pthread_join(tids[p], NULL), 0);
        ck_assert_uint_eq(next[p], per_producer);
    }
    ck_assert_uint_eq(total, expected_total);
    ck_assert_uint_eq(ring_mpsc_size_approx(st.ring), 0);
    ring_mpsc_destroy(st.ring);
}

/* Items per producer: enough for many thousands of laps, small enough for ThreadSanitizer. */
#define STRESS_ITEMS 200000

START_TEST(test_ring_mpsc_stress_4_producers_lose_nothing)
{
    run_stress(4, 64, STRESS_ITEMS);
}
END_TEST

START_TEST(test_ring_mpsc_stress_8_producers_lose_nothing)
{
    run_stress(8, 64, STRESS_ITEMS);
}
END_TEST

START_TEST(test_ring_mpsc_stress_4_producers_minimum_capacity)
{
    run_stress(4, 2, STRESS_ITEMS / 4);
}
END_TEST

static Suite *ring_suite(void)
{
    Suite *s = suite_create("ring_mpsc");

    TCase *tc = tcase_create("create");
    tcase_add_test(tc, test_ring_mpsc_create_rounds_capacity_to_power_of_two);
    tcase_add_test(tc, test_ring_mpsc_create_refuses_zero_and_overflowing_sizes);
    tcase_add_test(tc, test_ring_mpsc_destroy_null_is_noop);
    suite_add_tcase(s, tc);

    tc = tcase_create("push_pop");
    tcase_add_test(tc, test_ring_mpsc_try_pop_fails_when_empty);
    tcase_add_test(tc, test_ring_mpsc_pops_in_push_order);
    tcase_add_test(tc, test_ring_mpsc_try_push_fails_when_full);
    tcase_add_test(tc, test_ring_mpsc_minimum_capacity_alternates_full_and_empty);
    suite_add_tcase(s, tc);

    tc = tcase_create("wraparound");
    tcase_add_test(tc, test_ring_mpsc_wraps_around_many_times);
    tcase_add_test(tc, test_ring_mpsc_wraps_around_while_partly_full);
    suite_add_tcase(s, tc);

    tc = tcase_create("odd_sizes");
    tcase_add_test(tc, test_ring_mpsc_copies_elements_of_odd_sizes);
    suite_add_tcase(s, tc);

    tc = tcase_create("stress");
    tcase_set_timeout(tc, 240); /* ThreadSanitizer on two cores is the slow case */
    tcase_add_test(tc, test_ring_mpsc_stress_4_producers_lose_nothing);
    tcase_add_test(tc, test_ring_mpsc_stress_8_producers_lose_nothing);
    tcase_add_test(tc, test_ring_mpsc_stress_4_producers_minimum_capacity);
    suite_add_tcase(s, tc);

    return s;
}

UNIT_MAIN(ring_suite)
