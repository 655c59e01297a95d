/* SPDX-License-Identifier: MIT */
#include "api/ratelimit.h"

#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"

/* Check records the location of every passing assertion (a write per assertion), which would
 * dominate the loops below that make millions of them: there, the typed assertion runs only when
 * the comparison has already failed, so its message still prints both values. */
#define LOOP_ASSERT(cond, assertion)                                                               \
    do {                                                                                           \
        if (!(cond))                                                                               \
            assertion;                                                                             \
    } while (0)
#define LOOP_UINT_EQ(a, b) LOOP_ASSERT((a) == (b), ck_assert_uint_eq(a, b))
#define LOOP_INT_EQ(a, b)  LOOP_ASSERT((a) == (b), ck_assert_int_eq(a, b))
#define LOOP_INT_GE(a, b)  LOOP_ASSERT((a) >= (b), ck_assert_int_ge(a, b))
#define LOOP_INT_LT(a, b)  LOOP_ASSERT((a) < (b), ck_assert_int_lt(a, b))

/* The fake clock starts far from zero so that the limiter's epoch is visibly relative. */
#define BASE_MS 1000003

static timesrc_fake_t fake;
static timesrc_t fake_clock;

static ratelimit_t *make(uint32_t max, uint32_t window_ms, uint32_t max_clients)
{
    fake = (timesrc_fake_t){.mono = BASE_MS, .wall = 1700000000000};
    fake_clock = timesrc_fake_bind(&fake);
    ratelimit_t *rl = ratelimit_create(max, window_ms, max_clients, &fake_clock);
    ck_assert_ptr_nonnull(rl);
    return rl;
}

/* Checks key at t ms after creation. */
static ratelimit_verdict_t at(ratelimit_t *rl, int64_t t, const void *key, size_t key_len)
{
    ratelimit_verdict_t v;
    fake.mono = BASE_MS + t;
    ratelimit_check(rl, key, key_len, &v);
    return v;
}

static const uint8_t KEY_A[4] = {192, 0, 2, 1};
static const uint8_t KEY_B[4] = {192, 0, 2, 2};

/* A distinct 4-byte key per i. */
static void key_n(uint32_t i, uint8_t out[4])
{
    out[0] = 10;
    out[1] = (uint8_t)(i >> 16);
    out[2] = (uint8_t)(i >> 8);
    out[3] = (uint8_t)i;
}

static uint32_t ceil_div_1000(int64_t ms)
{
    return (uint32_t)((ms + 999) / 1000);
}

/* xorshift64*: deterministic, so a failure replays. */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dull;
}

static uint32_t rng_below(uint64_t *s, uint32_t n)
{
    return (uint32_t)(rng_next(s) % n);
}

START_TEST(test_ratelimit_create_rejects_bad_arguments)
{
    timesrc_fake_t f = {0};
    timesrc_t c = timesrc_fake_bind(&f);
    ck_assert_ptr_null(ratelimit_create(0, 60000, 100, &c));
    ck_assert_ptr_null(ratelimit_create(1000001, 60000, 100, &c));
    ck_assert_ptr_null(ratelimit_create(50, 0, 100, &c));
    ck_assert_ptr_null(ratelimit_create(50, RATELIMIT_WINDOW_MAX_MS + 1, 100, &c));
    ck_assert_ptr_null(ratelimit_create(50, 60000, 0, &c));
    ck_assert_ptr_null(ratelimit_create(50, 60000, 100, NULL));
    ratelimit_t *rl = ratelimit_create(1000000, RATELIMIT_WINDOW_MAX_MS, 1, &c);
    ck_assert_ptr_nonnull(rl);
    ratelimit_destroy(rl);
    rl = ratelimit_create(1, 1, 1, &c);
    ck_assert_ptr_nonnull(rl);
    ck_assert_uint_eq(ratelimit_tracked(rl), 0);
    ratelimit_destroy(rl);
    ratelimit_destroy(NULL);
}
END_TEST

START_TEST(test_ratelimit_admits_limit_then_denies)
{
    ratelimit_t *rl = make(50, 60000, 1000);
    for (int i = 0; i < 50; i++) {
        ratelimit_verdict_t v = at(rl, (int64_t)i * 1000, KEY_A, 4);
        ck_assert(v.allowed);
        ck_assert(!v.at_capacity);
        ck_assert_uint_eq(v.limit, 50);
        ck_assert_uint_eq(v.remaining, 49 - (uint32_t)i);
    }
    ratelimit_verdict_t v = at(rl, 59500, KEY_A, 4);
    ck_assert(!v.allowed);
    ck_assert(!v.at_capacity);
    ck_assert_uint_eq(v.remaining, 0);
    ck_assert_uint_eq(v.retry_after_s, 1); /* ceil((0 + 60000 - 59500) / 1000) */
    ck_assert_uint_eq(v.reset_s, 1);
    /* The admission at 0 still counts at 59999 and stops counting at exactly 60000. */
    ck_assert(!at(rl, 59999, KEY_A, 4).allowed);
    v = at(rl, 60000, KEY_A, 4);
    ck_assert(v.allowed);
    ck_assert_uint_eq(v.remaining, 0);
    ck_assert_uint_eq(v.reset_s, 1); /* the oldest is now the one at 1000 */
    /* The next slot opens when the admission at 1000 leaves: at 61000, not 60999. */
    v = at(rl, 60001, KEY_A, 4);
    ck_assert(!v.allowed);
    ck_assert_uint_eq(v.retry_after_s, 1);
    ck_assert(!at(rl, 60999, KEY_A, 4).allowed);
    ck_assert(at(rl, 61000, KEY_A, 4).allowed);
    ratelimit_destroy(rl);
}
END_TEST

START_TEST(test_ratelimit_retry_after_is_exact_for_a_burst)
{
    ratelimit_t *rl = make(50, 60000, 1000);
    for (int i = 0; i < 50; i++)
        ck_assert(at(rl, 0, KEY_A, 4).allowed);
    ratelimit_verdict_t v = at(rl, 10, KEY_A, 4);
    ck_assert(!v.allowed);
    ck_assert_uint_eq(v.retry_after_s, 60); /* ceil(59990 / 1000) */
    ck_assert_uint_eq(v.reset_s, 60);
    ck_assert_uint_eq(at(rl, 58000, KEY_A, 4).retry_after_s, 2);
    ck_assert_uint_eq(at(rl, 58999, KEY_A, 4).retry_after_s, 2); /* 1001 ms left */
    ck_assert_uint_eq(at(rl, 59000, KEY_A, 4).retry_after_s, 1);
    ck_assert_uint_eq(at(rl, 59999, KEY_A, 4).retry_after_s, 1);
    /* At 0 + window the whole burst has left the window at once. */
    v = at(rl, 60000, KEY_A, 4);
    ck_assert(v.allowed);
    ck_assert_uint_eq(v.remaining, 49);
    ck_assert_uint_eq(v.reset_s, 60);
    ratelimit_destroy(rl);
}
END_TEST

START_TEST(test_ratelimit_denials_do_not_count)
{
    ratelimit_t *rl = make(5, 10000, 100);
    for (int i = 0; i < 5; i++)
        ck_assert(at(rl, 0, KEY_A, 4).allowed);
    /* A client that retries every millisecond is denied, but its retries are not recorded. */
    for (int64_t t = 1; t < 10000; t++) {
        ratelimit_verdict_t v = at(rl, t, KEY_A, 4);
        LOOP_INT_EQ(v.allowed, false);
        LOOP_UINT_EQ(v.retry_after_s, ceil_div_1000(10000 - t));
    }
    for (int i = 0; i < 5; i++)
        ck_assert(at(rl, 10000, KEY_A, 4).allowed);
    ck_assert(!at(rl, 10000, KEY_A, 4).allowed);
    ratelimit_destroy(rl);
}
END_TEST

START_TEST(test_ratelimit_remaining_and_reset_follow_the_oldest)
{
    ratelimit_t *rl = make(3, 10000, 100);
    ratelimit_verdict_t v = at(rl, 0, KEY_A, 4);
    ck_assert(v.allowed);
    ck_assert_uint_eq(v.remaining, 2);
    ck_assert_uint_eq(v.reset_s, 10);
    ck_assert_uint_eq(v.retry_after_s, 0);
    v = at(rl, 2500, KEY_A, 4);
    ck_assert_uint_eq(v.remaining, 1);
    ck_assert_uint_eq(v.reset_s, 8); /* ceil(7500 / 1000) */
    v = at(rl, 9999, KEY_A, 4);
    ck_assert(v.allowed);
    ck_assert_uint_eq(v.remaining, 0);
    ck_assert_uint_eq(v.reset_s, 1);
    v = at(rl, 10000, KEY_A, 4);
    ck_assert(v.allowed); /* the admission at 0 has left */
    ck_assert_uint_eq(v.remaining, 0);
    ck_assert_uint_eq(v.reset_s, 3); /* oldest is 2500: ceil(2500 / 1000) */
    v = at(rl, 10001, KEY_A, 4);
    ck_assert(!v.allowed);
    ck_assert_uint_eq(v.remaining, 0);
    ck_assert_uint_eq(v.retry_after_s, 3); /* ceil(2499 / 1000) */
    ck_assert_uint_eq(v.reset_s, 3);
    ratelimit_destroy(rl);
}
END_TEST

START_TEST(test_ratelimit_keys_are_independent)
{
    ratelimit_t *rl = make(2, 10000, 100);
    uint8_t v6[16] = {192, 0, 2, 1}; /* an IPv6 key sharing its first bytes with KEY_A */
    uint8_t v6b[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
    ck_assert(at(rl, 0, KEY_A, 4).allowed);
    ck_assert(at(rl, 0, KEY_A, 4).allowed);
    ck_assert(!at(rl, 0, KEY_A, 4).allowed);
    ck_assert(at(rl, 0, KEY_B, 4).allowed);
    ck_assert(at(rl, 0, v6, 16).allowed);
    ck_assert(at(rl, 0, v6, 16).allowed);
    ck_assert(!at(rl, 0, v6, 16).allowed);
    ck_assert(at(rl, 0, v6b, 16).allowed);
    ck_assert(at(rl, 0, KEY_B, 4).allowed);
    ck_assert(!at(rl, 0, KEY_B, 4).allowed);
    ck_assert_uint_eq(ratelimit_tracked(rl), 4);
    ratelimit_destroy(rl);
}
END_TEST

START_TEST(test_ratelimit_clock_going_back_is_held)
{
    ratelimit_t *rl = make(1, 1000, 100);
    ck_assert(at(rl, 1000, KEY_A, 4).allowed);
    /* A clock reading older than one already seen is taken as the latest time seen. */
    ratelimit_verdict_t v = at(rl, 500, KEY_A, 4);
    ck_assert(!v.allowed);
    ck_assert_uint_eq(v.retry_after_s, 1);
    ck_assert(!at(rl, 1999, KEY_A, 4).allowed);
    ck_assert(at(rl, 2000, KEY_A, 4).allowed);
    /* Before the epoch counts as the epoch. */
    ratelimit_t *rl2 = make(1, 1000, 100);
    ck_assert(at(rl2, -5000, KEY_A, 4).allowed);
    ck_assert(!at(rl2, 999, KEY_A, 4).allowed);
    ck_assert(at(rl2, 1000, KEY_A, 4).allowed);
    ratelimit_destroy(rl2);
    ratelimit_destroy(rl);
}
END_TEST

START_TEST(test_ratelimit_check_panics_on_bad_key_length)
{
    ratelimit_t *rl = make(1, 1000, 100);
    uint8_t key[RATELIMIT_KEY_MAX + 1] = {0};
    ratelimit_verdict_t v;
    ratelimit_check(rl, key, sizeof(key), &v);
}
END_TEST

/* Per key: every admitted time, sorted; start is the first one still in the window. */
typedef struct model {
    int64_t *t;
    size_t n;
    size_t cap;
    size_t start;
} model_t;

static void model_push(model_t *m, int64_t t)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 64;
        m->t = xrealloc(m->t, m->cap * sizeof(*m->t));
    }
    m->t[m->n++] = t;
}

/* Admissions of m in (now - window, now]. */
static uint32_t model_live(model_t *m, int64_t now, uint32_t window)
{
    while (m->start < m->n && now - m->t[m->start] >= (int64_t)window)
        m->start++;
    return (uint32_t)(m->n - m->start);
}

/* Random traffic on a few keys against a reference model of the exact semantics. Returns the
 * number of checks that landed exactly on a key's next admission time (or 1 ms before it). */
static int property_run(uint32_t limit, uint32_t window, uint64_t seed, int checks)
{
    enum { NKEYS = 6 };
    uint8_t keys[NKEYS][16];
    size_t key_len[NKEYS];
    for (int k = 0; k < NKEYS; k++) {
        memset(keys[k], 0, sizeof(keys[k]));
        keys[k][0] = (uint8_t)(k + 1);
        keys[k][15] = 0x42;
        key_len[k] = k % 2 ? 16 : 4;
    }
    model_t models[NKEYS] = {{0}};
    ratelimit_t *rl = make(limit, window, 10000);
    uint64_t rng = seed;
    int64_t now = 0;
    int boundary_hits = 0;
    int period = 8 * (int)limit * NKEYS;

    for (int i = 0; i < checks; i++) {
        uint32_t r = rng_below(&rng, 100);
        int k = (int)rng_below(&rng, NKEYS);
        int boundary = 0;
        if (i % period == period - 1) {
            now += window + rng_below(&rng, window); /* everything expires */
        } else if (i % period == period / 2) {
            now += rng_below(&rng, window / 4 + 2);
        } else if (r < 35) {
            /* same millisecond: a burst */
        } else if (r < 75) {
            /* about limit * 2.5 attempts per key and window: keys fill up and get denied */
            now += rng_below(&rng, 2 * (window / (limit * NKEYS)) + 2);
        } else if (r < 85) {
            now += rng_below(&rng, 3);
        } else if (model_live(&models[k], now, window) == limit) {
            /* Aim at the key's next admission time, or the millisecond before it. */
            int64_t next = models[k].t[models[k].start] + window;
            now = next - (int64_t)rng_below(&rng, 2);
            boundary = 1;
        }

        model_t *m = &models[k];
        uint32_t live = model_live(m, now, window);
        ratelimit_verdict_t v = at(rl, now, keys[k], key_len[k]);
        LOOP_UINT_EQ(v.limit, limit);
        LOOP_INT_EQ(v.at_capacity, false);
        /* Exact: admitted if and only if fewer than limit admissions are in the window. */
        LOOP_INT_EQ(v.allowed, live < limit);
        boundary_hits += boundary;
        if (v.allowed) {
            model_push(m, now);
            live++;
            LOOP_UINT_EQ(v.remaining, limit - live);
            LOOP_UINT_EQ(v.reset_s, ceil_div_1000(m->t[m->start] + window - now));
            continue;
        }
        /* The denial is deserved: limit admissions in (now - window, now]. */
        LOOP_UINT_EQ(live, limit);
        LOOP_INT_GE(now - m->t[m->start], 0);
        LOOP_INT_LT(now - m->t[m->start], window);
        /* Retry-After is the ceiling of the wait until the next admission time: waiting
         * retry_after_s reaches it, waiting one second less does not. */
        int64_t next = m->t[m->start] + window;
        LOOP_INT_GE(now + (int64_t)v.retry_after_s * 1000, next);
        LOOP_INT_LT(now + ((int64_t)v.retry_after_s - 1) * 1000, next);
        LOOP_UINT_EQ(v.remaining, 0);
        LOOP_UINT_EQ(v.reset_s, v.retry_after_s);
    }

    /* Independently of the model's verdicts: no interval of length window holds more than
     * limit admissions, i.e. any limit + 1 consecutive admissions span at least a window. */
    for (int k = 0; k < NKEYS; k++) {
        model_t *m = &models[k];
        for (size_t j = 0; j + limit < m->n; j++)
            LOOP_INT_GE(m->t[j + limit] - m->t[j], window);
        free(m->t);
    }
    ratelimit_destroy(rl);
    return boundary_hits;
}

START_TEST(test_ratelimit_property_no_window_exceeds_limit)
{
    static const struct {
        uint32_t limit;
        uint32_t window;
    } cases[] = {{1, 1},    {1, 1000},   {2, 1},        {3, 1000},  {5, 2500},
                 {10, 999}, {50, 60000}, {7, 86400000}, {200, 5000}};
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        for (uint64_t seed = 1; seed <= 3; seed++) {
            int hits = property_run(cases[c].limit, cases[c].window,
                                    seed * 0x9e3779b97f4a7c15ull + c, 50000);
            ck_assert_msg(hits > 0, "case %zu seed %d: no boundary hits", c, (int)seed);
        }
    }
}
END_TEST

START_TEST(test_ratelimit_reclaims_expired_entries_lazily)
{
    ratelimit_t *rl = make(50, 60000, 100); /* one shard of 100 entries */
    uint8_t key[4];
    for (uint32_t i = 0; i < 100; i++) {
        key_n(i, key);
        ck_assert(at(rl, (int64_t)i * 10, key, 4).allowed);
    }
    ck_assert_uint_eq(ratelimit_tracked(rl), 100);
    key_n(1000, key);
    ck_assert(at(rl, 1000, key, 4).at_capacity);
    ck_assert_uint_eq(ratelimit_tracked(rl), 100); /* nothing expired yet, nothing reclaimed */
    /* At window + 495 the keys admitted at 0..490 have left the window: 50 entries are freed
     * by the next check, whatever its key. */
    key_n(1001, key);
    ck_assert(at(rl, 60495, key, 4).allowed);
    ck_assert_uint_eq(ratelimit_tracked(rl), 51);
    /* The freed entries are reused: 49 more new keys fit, the 50th does not. */
    for (uint32_t i = 0; i < 49; i++) {
        key_n(2000 + i, key);
        ck_assert(at(rl, 60495, key, 4).allowed);
    }
    ck_assert_uint_eq(ratelimit_tracked(rl), 100);
    key_n(3000, key);
    ratelimit_verdict_t v = at(rl, 60495, key, 4);
    ck_assert(v.at_capacity);
    ck_assert_uint_eq(v.retry_after_s, 1); /* the key admitted at 500 leaves at 60500 */
    ck_assert(at(rl, 60500, key, 4).allowed);
    ck_assert_uint_eq(ratelimit_tracked(rl), 100);
    /* A key that lost its entry starts afresh. */
    key_n(0, key);
    v = at(rl, 60510, key, 4);
    ck_assert(v.allowed);
    ck_assert_uint_eq(v.remaining, 49);
    ratelimit_destroy(rl);
}
END_TEST

START_TEST(test_ratelimit_idle_shard_is_emptied)
{
    ratelimit_t *rl = make(1, 1000, 100);
    uint8_t key[4];
    for (uint32_t i = 0; i < 10; i++) {
        key_n(i, key);
        ck_assert(at(rl, 0, key, 4).allowed);
    }
    ck_assert_uint_eq(ratelimit_tracked(rl), 10);
    ck_assert(at(rl, 5000, KEY_A, 4).allowed);
    ck_assert_uint_eq(ratelimit_tracked(rl), 1);
    ratelimit_destroy(rl);
}
END_TEST

START_TEST(test_ratelimit_relative_times_wrap_safely)
{
    /* Stored times are 32-bit milliseconds since the epoch; 2^32 ms is about 49.7 days. */
    const int64_t day = 86400000;
    ratelimit_t *rl = make(2, (uint32_t)day, 100);
    for (int64_t step = 0; step < 120; step++) {
        int64_t t = step * day / 2;
        ratelimit_verdict_t v = at(rl, t, KEY_A, 4);
        ck_assert(v.allowed);
        ck_assert_uint_eq(v.remaining, step == 0 ? 1 : 0);
        v = at(rl, t, KEY_B, 4);
        ck_assert(v.allowed);
        if (step > 0) {
            v = at(rl, t, KEY_A, 4);
            ck_assert(!v.allowed);
            ck_assert_uint_eq(v.retry_after_s, 43200);
        }
    }
    ck_assert_uint_eq(ratelimit_tracked(rl), 2);
    ratelimit_destroy(rl);

    /* After an idle gap of exactly 2^32 ms an old time would alias to "just now". */
    rl = make(1, 1000, 100);
    ck_assert(at(rl, 0, KEY_A, 4).allowed);
    ck_assert(at(rl, (int64_t)1 << 32, KEY_A, 4).allowed);
    ck_assert(!at(rl, ((int64_t)1 << 32) + 999, KEY_A, 4).allowed);
    ratelimit_destroy(rl);
}
END_TEST

START_TEST(test_ratelimit_new_key_denied_at_capacity)
{
    ratelimit_t *rl = make(3, 60000, 8); /* one shard of 8 entries */
    uint8_t key[4];
    for (uint32_t i = 0; i < 8; i++) {
        key_n(i, key);
        ck_assert(at(rl, (int64_t)i * 1000, key, 4).allowed);
    }
    ck_assert_uint_eq(ratelimit_tracked(rl), 8);
    key_n(100, key);
    ratelimit_verdict_t v = at(rl, 30000, key, 4);
    ck_assert(!v.allowed);
    ck_assert(v.at_capacity);
    ck_assert_uint_eq(v.remaining, 0);
    ck_assert_uint_eq(v.retry_after_s, 30); /* key 0 was admitted at 0 and leaves at 60000 */
    ck_assert_uint_eq(v.reset_s, 30);
    ck_assert_uint_eq(v.limit, 3);
    ck_assert_uint_eq(ratelimit_tracked(rl), 8);

    /* Tracked keys keep working, and keep their limit, while the table is full. */
    uint8_t k3[4];
    key_n(3, k3);
    ck_assert(at(rl, 30000, k3, 4).allowed);
    ck_assert(at(rl, 30000, k3, 4).allowed);
    ck_assert(!at(rl, 30000, k3, 4).allowed);

    /* Re-admitting key 0 moves it to the back of the LRU: key 1 now expires first. */
    uint8_t k0[4];
    key_n(0, k0);
    ck_assert(at(rl, 40000, k0, 4).allowed);
    v = at(rl, 59999, key, 4);
    ck_assert(v.at_capacity);
    ck_assert_uint_eq(v.retry_after_s, 2); /* key 1 leaves at 61000 */
    v = at(rl, 60000, key, 4);
    ck_assert(v.at_capacity);
    ck_assert_uint_eq(v.retry_after_s, 1);
    ck_assert_uint_eq(ratelimit_tracked(rl), 8);
    v = at(rl, 61000, key, 4);
    ck_assert(v.allowed);
    ck_assert(!v.at_capacity);
    ck_assert_uint_eq(ratelimit_tracked(rl), 8);
    key_n(101, key);
    v = at(rl, 61000, key, 4);
    ck_assert(v.at_capacity);
    ck_assert_uint_eq(v.retry_after_s, 1); /* key 2 leaves at 62000 */
    ck_assert(at(rl, 62000, key, 4).allowed);
    ratelimit_destroy(rl);
}
END_TEST

START_TEST(test_ratelimit_tracked_never_exceeds_max_clients)
{
    /* Several shards whose capacities must add up to exactly max_clients. */
    ratelimit_t *rl = make(2, 60000, 1000);
    uint8_t key[4];
    for (int round = 0; round < 3; round++) {
        int64_t t = (int64_t)round * 60000;
        uint32_t admitted = 0;
        for (uint32_t i = 0; i < 5000; i++) {
            key_n((uint32_t)round * 5000 + i, key);
            ratelimit_verdict_t v = at(rl, t, key, 4);
            if (v.allowed) {
                admitted++;
            } else {
                LOOP_INT_EQ(v.at_capacity, true);
                LOOP_UINT_EQ(v.retry_after_s, 60);
            }
            LOOP_ASSERT(ratelimit_tracked(rl) <= 1000,
                        ck_assert_uint_le(ratelimit_tracked(rl), 1000));
        }
        ck_assert_uint_eq(admitted, 1000);
        ck_assert_uint_eq(ratelimit_tracked(rl), 1000);
    }
    ratelimit_destroy(rl);
}
END_TEST

START_TEST(test_ratelimit_bytes_per_client_is_bounded)
{
    ratelimit_t *rl = make(50, 60000, 100000);
    size_t b = ratelimit_bytes_per_client(rl);
    ck_assert_uint_le(b, 256);
    ck_assert_uint_ge(b, 50 * sizeof(uint32_t) + RATELIMIT_KEY_MAX);
    ratelimit_destroy(rl);
    rl = make(1, 60000, 10);
    ck_assert_uint_lt(ratelimit_bytes_per_client(rl), b);
    ratelimit_destroy(rl);
}
END_TEST

enum { SHARED_KEYS = 8, OWN_KEYS = 8, THREADS = 4, CONC_LIMIT = 50 };

typedef struct worker {
    pthread_t thread;
    ratelimit_t *rl;
    int id;
    atomic_bool *stop;
    uint32_t shared_admitted[SHARED_KEYS];
    uint32_t own_admitted[OWN_KEYS];
    uint64_t checks;
    uint64_t at_capacity;
} worker_t;

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    uint8_t key[16];
    ratelimit_verdict_t v;
    while (!atomic_load(w->stop)) {
        uint64_t i = w->checks++;
        int k = (int)(i % (SHARED_KEYS + OWN_KEYS));
        memset(key, 0, sizeof(key));
        size_t len = k % 2 ? 16 : 4;
        if (k < SHARED_KEYS) {
            key[0] = 1;
            key[1] = (uint8_t)k;
            ratelimit_check(w->rl, key, len, &v);
            w->shared_admitted[k] += v.allowed;
        } else {
            key[0] = 2;
            key[1] = (uint8_t)w->id;
            key[2] = (uint8_t)k;
            ratelimit_check(w->rl, key, len, &v);
            w->own_admitted[k - SHARED_KEYS] += v.allowed;
        }
        w->at_capacity += v.at_capacity; /* asserted by the main thread */
    }
    return NULL;
}

static int64_t real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

START_TEST(test_ratelimit_concurrent_checks_respect_the_limit)
{
    timesrc_t real = timesrc_real();
    /* A one-hour window: everything below happens inside a single window. */
    ratelimit_t *rl = ratelimit_create(CONC_LIMIT, 3600000, 10000, &real);
    ck_assert_ptr_nonnull(rl);
    atomic_bool stop = false;
    worker_t w[THREADS];
    memset(w, 0, sizeof(w));
    for (int i = 0; i < THREADS; i++) {
        w[i].rl = rl;
        w[i].id = i;
        w[i].stop = &stop;
        ck_assert_int_eq(pthread_create(&w[i].thread, NULL, worker_main, &w[i]), 0);
    }
    int64_t end = real_ms() + 1000;
    size_t max_seen = 0;
    while (real_ms() < end) {
        size_t n = ratelimit_tracked(rl);
        if (n > max_seen)
            max_seen = n;
        struct timespec pause = {0, 1000000};
        nanosleep(&pause, NULL);
    }
    atomic_store(&stop, true);
    uint64_t checks = 0;
    for (int i = 0; i < THREADS; i++) {
        ck_assert_int_eq(pthread_join(w[i].thread, NULL), 0);
        checks += w[i].checks;
        ck_assert_uint_eq(w[i].at_capacity, 0);
    }
    ck_assert_uint_le(max_seen, SHARED_KEYS + THREADS * OWN_KEYS);
    ck_assert_uint_eq(ratelimit_tracked(rl), SHARED_KEYS + THREADS * OWN_KEYS);
    for (int k = 0; k < SHARED_KEYS; k++) {
        uint32_t sum = 0;
        for (int i = 0; i < THREADS; i++)
            sum += w[i].shared_admitted[k];
        ck_assert_uint_le(sum, CONC_LIMIT);
        if (checks > 100 * (SHARED_KEYS + OWN_KEYS) * THREADS)
            ck_assert_uint_eq(sum, CONC_LIMIT); /* enough attempts to use the whole budget */
    }
    for (int i = 0; i < THREADS; i++) {
        for (int k = 0; k < OWN_KEYS; k++) {
            ck_assert_uint_le(w[i].own_admitted[k], CONC_LIMIT);
            if (w[i].checks > 100 * (SHARED_KEYS + OWN_KEYS))
                ck_assert_uint_eq(w[i].own_admitted[k], CONC_LIMIT);
        }
    }
    ratelimit_destroy(rl);
}
END_TEST

static Suite *ratelimit_suite(bool forking)
{
    Suite *s = suite_create("ratelimit");

    TCase *create = tcase_create("create");
    tcase_add_test(create, test_ratelimit_create_rejects_bad_arguments);
    tcase_add_test(create, test_ratelimit_bytes_per_client_is_bounded);
    /* Without fork mode the abort would end the whole runner. */
    if (forking)
        tcase_add_test_raise_signal(create, test_ratelimit_check_panics_on_bad_key_length, SIGABRT);
    suite_add_tcase(s, create);

    TCase *window = tcase_create("window");
    tcase_add_test(window, test_ratelimit_admits_limit_then_denies);
    tcase_add_test(window, test_ratelimit_retry_after_is_exact_for_a_burst);
    tcase_add_test(window, test_ratelimit_denials_do_not_count);
    tcase_add_test(window, test_ratelimit_remaining_and_reset_follow_the_oldest);
    tcase_add_test(window, test_ratelimit_keys_are_independent);
    tcase_add_test(window, test_ratelimit_clock_going_back_is_held);
    tcase_add_test(window, test_ratelimit_relative_times_wrap_safely);
    suite_add_tcase(s, window);

    TCase *property = tcase_create("property");
    tcase_set_timeout(property, 60);
    tcase_add_test(property, test_ratelimit_property_no_window_exceeds_limit);
    suite_add_tcase(s, property);

    TCase *memory = tcase_create("memory");
    tcase_set_timeout(memory, 30);
    tcase_add_test(memory, test_ratelimit_reclaims_expired_entries_lazily);
    tcase_add_test(memory, test_ratelimit_idle_shard_is_emptied);
    tcase_add_test(memory, test_ratelimit_new_key_denied_at_capacity);
    tcase_add_test(memory, test_ratelimit_tracked_never_exceeds_max_clients);
    suite_add_tcase(s, memory);

    TCase *conc = tcase_create("concurrency");
    tcase_set_timeout(conc, 30);
    tcase_add_test(conc, test_ratelimit_concurrent_checks_respect_the_limit);
    suite_add_tcase(s, conc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(NULL);
    srunner_add_suite(sr, ratelimit_suite(srunner_fork_status(sr) != CK_NOFORK));
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
