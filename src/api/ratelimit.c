/* SPDX-License-Identifier: MIT */
/*
 * DESIGN
 *
 * The table is split into up to 64 shards, each a fixed slab of entries behind its own mutex on
 * its own cache lines; a keyed SipHash-1-3 of the key picks the shard (high 32 bits) and the
 * bucket inside it (low 32 bits), so loop threads contend only when their clients share a shard
 * and a client cannot aim many keys at one chain without knowing the seed.
 *
 * An entry holds its key, a bucket-chain link, LRU links and a ring of the last max_requests
 * admission times, oldest first, in milliseconds since the limiter's epoch (the monotonic time at
 * creation) truncated to 32 bits. Ages are computed as 32-bit differences, which is exact as long
 * as no stored time is older than 2^32 ms (49 days); the reclamation rules below keep every
 * stored time younger than three windows (three days at most).
 *
 * Each shard keeps its entries in an LRU list ordered by last admission. Every check first
 * frees entries from the LRU head while the head's newest admission has left the window (each
 * entry is freed once per admission streak, so the cost is O(1) amortised), and a shard that has
 * seen no check for a whole window is emptied in one go. An entry without admissions in the
 * window is therefore never kept. When the slab is full of live entries a new key is denied
 * (at_capacity) until the LRU head expires: no key ever gets more than the limit, and memory
 * never grows after creation.
 *
 * Entry references are 1-based so that calloc'ed buckets and links already mean "none", and a
 * slab page nobody has used yet is never touched.
 */
#include "api/ratelimit.h"

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <sys/random.h>

#include "common/err.h"

#define REQUESTS_MAX 1000000u
#define SHARDS_MAX   64u
/* Fewer entries per shard would let uneven hashing fill some shards long before the table. */
#define SHARD_MIN_ENTRIES 64u
#define CACHE_LINE        64
#define NIL               0u

_Static_assert(REQUESTS_MAX < (1u << 24), "entry.count is a 24-bit field");

/* One tracked key. Thread: guarded by its shard's lock. */
struct entry {
    uint8_t key[RATELIMIT_KEY_MAX];
    unsigned key_len : 8;
    unsigned count : 24; /* admissions stored in times[] */
    uint32_t head;       /* index in times[] of the oldest stored admission */
    uint32_t next;       /* next entry in the bucket chain, or in the free list */
    uint32_t lru_prev;   /* towards the least recently admitted entry */
    uint32_t lru_next;
    uint32_t times[]; /* max_requests slots: admission times, ms since the epoch mod 2^32 */
};

_Static_assert(sizeof(struct entry) == 36, "entry header must stay packed");

/* Thread: any; every field except live is read and written only under lock. */
struct shard {
    alignas(CACHE_LINE) pthread_mutex_t lock;
    int64_t last_ms;       /* time of the latest check, ms since the epoch; never decreases */
    uint32_t *buckets;     /* cap chain heads: one bucket per entry */
    unsigned char *slab;   /* cap entries of stride bytes */
    uint32_t cap;          /* entries in the slab */
    uint32_t used;         /* slab entries handed out since the shard was last emptied */
    uint32_t free_head;    /* entries freed since then, linked through next */
    uint32_t lru_head;     /* least recently admitted live entry */
    uint32_t lru_tail;     /* most recently admitted live entry */
    _Atomic uint32_t live; /* live entries; written under lock, read without it by tracked() */
};

/* Thread: frozen after ratelimit_create, except the shards. */
struct ratelimit {
    timesrc_t clock;
    int64_t epoch_ms;
    uint64_t seed[2];
    uint32_t max;
    uint32_t window;
    uint32_t nshards;
    size_t stride; /* bytes per entry, times[] included */
    struct shard *shards;
};

/* SipHash-1-3 (Aumasson and Bernstein): one compression round per 8-byte block, three
 * finalisation rounds. Keys are at most 16 bytes, so this is a handful of rounds per check. */
#define ROTL64(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static inline void sip_round(uint64_t *v0, uint64_t *v1, uint64_t *v2, uint64_t *v3)
{
    *v0 += *v1;
    *v1 = ROTL64(*v1, 13);
    *v1 ^= *v0;
    *v0 = ROTL64(*v0, 32);
    *v2 += *v3;
    *v3 = ROTL64(*v3, 16);
    *v3 ^= *v2;
    *v0 += *v3;
    *v3 = ROTL64(*v3, 21);
    *v3 ^= *v0;
    *v2 += *v1;
    *v1 = ROTL64(*v1, 17);
    *v1 ^= *v2;
    *v2 = ROTL64(*v2, 32);
}

static uint64_t siphash13(const uint64_t seed[2], const uint8_t *in, size_t len)
{
    uint64_t v0 = seed[0] ^ 0x736f6d6570736575ull;
    uint64_t v1 = seed[1] ^ 0x646f72616e646f6dull;
    uint64_t v2 = seed[0] ^ 0x6c7967656e657261ull;
    uint64_t v3 = seed[1] ^ 0x7465646279746573ull;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t m = 0;
        for (int j = 7; j >= 0; j--)
            m = (m << 8) | in[i + (size_t)j];
        v3 ^= m;
        sip_round(&v0, &v1, &v2, &v3);
        v0 ^= m;
    }
    uint64_t b = (uint64_t)len << 56;
    for (size_t j = 0; i + j < len; j++)
        b |= (uint64_t)in[i + j] << (8 * j);
    v3 ^= b;
    sip_round(&v0, &v1, &v2, &v3);
    v0 ^= b;
    v2 ^= 0xff;
    sip_round(&v0, &v1, &v2, &v3);
    sip_round(&v0, &v1, &v2, &v3);
    sip_round(&v0, &v1, &v2, &v3);
    return v0 ^ v1 ^ v2 ^ v3;
}

/* Maps a uniform 32-bit x onto [0, n) without a division (Lemire's multiply-shift). */
static inline uint32_t reduce32(uint32_t x, uint32_t n)
{
    return (uint32_t)(((uint64_t)x * n) >> 32);
}

static inline uint32_t ceil_s(uint32_t ms)
{
    return ms / 1000 + (ms % 1000 != 0);
}

static inline struct entry *entry_at(const ratelimit_t *rl, const struct shard *s, uint32_t ref)
{
    ASSERT(ref != NIL && ref <= s->cap);
    return (struct entry *)(void *)(s->slab + (size_t)(ref - 1) * rl->stride);
}

static inline uint32_t ring_index(const ratelimit_t *rl, uint32_t i)
{
    return i >= rl->max ? i - rl->max : i;
}

static inline uint32_t newest(const ratelimit_t *rl, const struct entry *e)
{
    ASSERT(e->count > 0);
    return e->times[ring_index(rl, e->head + e->count - 1)];
}

static inline uint32_t bucket_of(const struct shard *s, uint64_t h)
{
    return reduce32((uint32_t)h, s->cap);
}

/* The only writer of s->live is the lock holder, so a relaxed load-store pair is exact; the
 * relaxed readers in ratelimit_tracked() need no ordering with any other data. */
static inline void live_add(struct shard *s, int32_t d)
{
    uint32_t n = atomic_load_explicit(&s->live, memory_order_relaxed);
    atomic_store_explicit(&s->live, n + (uint32_t)d, memory_order_relaxed);
}

static void lru_unlink(const ratelimit_t *rl, struct shard *s, struct entry *e)
{
    if (e->lru_prev != NIL)
        entry_at(rl, s, e->lru_prev)->lru_next = e->lru_next;
    else
        s->lru_head = e->lru_next;
    if (e->lru_next != NIL)
        entry_at(rl, s, e->lru_next)->lru_prev = e->lru_prev;
    else
        s->lru_tail = e->lru_prev;
    e->lru_prev = e->lru_next = NIL;
}

static void lru_append(const ratelimit_t *rl, struct shard *s, uint32_t ref, struct entry *e)
{
    e->lru_prev = s->lru_tail;
    e->lru_next = NIL;
    if (s->lru_tail != NIL)
        entry_at(rl, s, s->lru_tail)->lru_next = ref;
    else
        s->lru_head = ref;
    s->lru_tail = ref;
}

/* Unlinks a live entry from its chain and the LRU and puts it on the free list. */
static void entry_free(const ratelimit_t *rl, struct shard *s, uint32_t ref, struct entry *e)
{
    uint32_t *link = &s->buckets[bucket_of(s, siphash13(rl->seed, e->key, e->key_len))];
    while (*link != ref) {
        ASSERT(*link != NIL);
        link = &entry_at(rl, s, *link)->next;
    }
    *link = e->next;
    lru_unlink(rl, s, e);
    e->count = 0;
    e->next = s->free_head;
    s->free_head = ref;
    live_add(s, -1);
}

/* Returns a free entry reference, or NIL when every entry of the shard is live. */
static uint32_t entry_take(const ratelimit_t *rl, struct shard *s)
{
    if (s->free_head != NIL) {
        uint32_t ref = s->free_head;
        s->free_head = entry_at(rl, s, ref)->next;
        return ref;
    }
    if (s->used < s->cap)
        return ++s->used;
    return NIL;
}

/* Forgets every entry. Called when the shard saw no check for a whole window, so all of them
 * had expired anyway; buckets only hold references while entries are live. */
static void shard_clear(struct shard *s)
{
    if (atomic_load_explicit(&s->live, memory_order_relaxed) > 0)
        memset(s->buckets, 0, (size_t)s->cap * sizeof(*s->buckets));
    s->used = 0;
    s->free_head = NIL;
    s->lru_head = s->lru_tail = NIL;
    atomic_store_explicit(&s->live, 0, memory_order_relaxed);
}

/* Frees entries whose newest admission is at least a window old, oldest first. */
static void reclaim(const ratelimit_t *rl, struct shard *s, uint32_t now)
{
    while (s->lru_head != NIL) {
        struct entry *e = entry_at(rl, s, s->lru_head);
        if (now - newest(rl, e) < rl->window)
            break;
        entry_free(rl, s, s->lru_head, e);
    }
}

static uint32_t seed_word(uint64_t x)
{
    /* splitmix64 finaliser: spreads a weak fallback seed over all bits. */
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return (uint32_t)(x ^ (x >> 31));
}

static void seed_init(ratelimit_t *rl)
{
    if (getrandom(rl->seed, sizeof(rl->seed), GRND_NONBLOCK) == (ssize_t)sizeof(rl->seed))
        return;
    /* No entropy yet (early boot): mix the clocks and the table address. Weaker against a
     * flooding attacker, but the limit itself never depends on the seed. */
    uint64_t x = (uint64_t)rl->epoch_ms ^ (uint64_t)(uintptr_t)rl;
    if (rl->clock.wall_ms != NULL)
        x ^= (uint64_t)timesrc_wall_ms(&rl->clock) << 17;
    rl->seed[0] = ((uint64_t)seed_word(x) << 32) | seed_word(x + 1);
    rl->seed[1] = ((uint64_t)seed_word(x + 2) << 32) | seed_word(x + 3);
}

ratelimit_t *ratelimit_create(uint32_t max_requests, uint32_t window_ms, uint32_t max_clients,
                              const timesrc_t *clock)
{
    if (max_requests < 1 || max_requests > REQUESTS_MAX || window_ms < 1 ||
        window_ms > RATELIMIT_WINDOW_MAX_MS || max_clients < 1 || clock == NULL ||
        clock->mono_ms == NULL)
        return NULL;

    uint32_t nshards = 1;
    while (nshards < SHARDS_MAX && (uint64_t)nshards * 2 * SHARD_MIN_ENTRIES <= max_clients)
        nshards *= 2;
    size_t stride = offsetof(struct entry, times) + (size_t)max_requests * sizeof(uint32_t);
    uint32_t cap_max = max_clients / nshards + (max_clients % nshards != 0);
    if (stride > SIZE_MAX / cap_max)
        return NULL;

    ratelimit_t *rl = xcalloc(1, sizeof(*rl));
    rl->clock = *clock;
    rl->epoch_ms = timesrc_mono_ms(clock);
    rl->max = max_requests;
    rl->window = window_ms;
    rl->nshards = nshards;
    rl->stride = stride;
    seed_init(rl);

    /* sizeof(struct shard) is a multiple of CACHE_LINE, as aligned_alloc requires. */
    rl->shards = aligned_alloc(CACHE_LINE, nshards * sizeof(struct shard));
    if (rl->shards == NULL)
        PANIC("out of memory allocating %u rate-limit shards", nshards);
    memset(rl->shards, 0, nshards * sizeof(struct shard));
    for (uint32_t i = 0; i < nshards; i++) {
        struct shard *s = &rl->shards[i];
        /* Spread the remainder so that the capacities add up to exactly max_clients. */
        s->cap = max_clients / nshards + (i < max_clients % nshards);
        s->buckets = xcalloc(s->cap, sizeof(*s->buckets));
        s->slab = xcalloc(s->cap, stride);
        if (pthread_mutex_init(&s->lock, NULL) != 0)
            PANIC("pthread_mutex_init failed");
    }
    return rl;
}

void ratelimit_destroy(ratelimit_t *rl)
{
    if (rl == NULL)
        return;
    for (uint32_t i = 0; i < rl->nshards; i++) {
        struct shard *s = &rl->shards[i];
        pthread_mutex_destroy(&s->lock);
        free(s->buckets);
        free(s->slab);
    }
    free(rl->shards);
    free(rl);
}

/* Fills *out for a key that is already tracked, admitting and recording now if it may. */
static void check_entry(const ratelimit_t *rl, struct shard *s, uint32_t ref, struct entry *e,
                        uint32_t now, ratelimit_verdict_t *out)
{
    /* An admission at t counts while now - t < window, i.e. up to t + window - 1 inclusive. */
    while (e->count > 0 && now - e->times[e->head] >= rl->window) {
        e->head = ring_index(rl, e->head + 1);
        e->count--;
    }
    if (e->count < rl->max) {
        e->times[ring_index(rl, e->head + e->count)] = now;
        e->count++;
        lru_unlink(rl, s, e);
        lru_append(rl, s, ref, e);
        out->allowed = true;
        out->remaining = rl->max - e->count;
        out->reset_s = ceil_s(rl->window - (now - e->times[e->head]));
        out->retry_after_s = 0;
        return;
    }
    /* Full: the next admission is possible once the oldest admission leaves the window. */
    uint32_t wait = ceil_s(rl->window - (now - e->times[e->head]));
    out->allowed = false;
    out->remaining = 0;
    out->retry_after_s = wait > 0 ? wait : 1;
    out->reset_s = out->retry_after_s;
}

void ratelimit_check(ratelimit_t *rl, const void *key, size_t key_len, ratelimit_verdict_t *out)
{
    if (key_len == 0 || key_len > RATELIMIT_KEY_MAX)
        PANIC("ratelimit_check: key length %zu outside 1..%d", key_len, RATELIMIT_KEY_MAX);
    uint64_t h = siphash13(rl->seed, key, key_len);
    struct shard *s = &rl->shards[reduce32((uint32_t)(h >> 32), rl->nshards)];
    int64_t now64 = timesrc_mono_ms(&rl->clock) - rl->epoch_ms;

    *out = (ratelimit_verdict_t){.limit = rl->max};
    pthread_mutex_lock(&s->lock);
    /* Threads may reach the lock in another order than they read the clock (and a fake clock
     * may go back): never let time run backwards inside a shard, so every ring stays sorted. */
    if (now64 < s->last_ms)
        now64 = s->last_ms;
    if (now64 - s->last_ms >= (int64_t)rl->window)
        shard_clear(s);
    s->last_ms = now64;
    uint32_t now = (uint32_t)now64; /* ages below are 32-bit differences (see DESIGN) */
    reclaim(rl, s, now);

    uint32_t *bucket = &s->buckets[bucket_of(s, h)];
    for (uint32_t ref = *bucket; ref != NIL;) {
        struct entry *e = entry_at(rl, s, ref);
        if (e->key_len == key_len && memcmp(e->key, key, key_len) == 0) {
            check_entry(rl, s, ref, e, now, out);
            goto out;
        }
        ref = e->next;
    }

    uint32_t ref = entry_take(rl, s);
    if (ref == NIL) {
        /* Every entry is live; the LRU head is the first to expire. */
        ASSERT(s->lru_head != NIL);
        uint32_t age = now - newest(rl, entry_at(rl, s, s->lru_head));
        uint32_t wait = ceil_s(rl->window - age);
        out->allowed = false;
        out->at_capacity = true;
        out->retry_after_s = wait > 0 ? wait : 1;
        out->reset_s = out->retry_after_s;
        goto out;
    }
    struct entry *e = entry_at(rl, s, ref);
    memcpy(e->key, key, key_len);
    e->key_len = (unsigned)key_len;
    e->count = 0;
    e->head = 0;
    e->next = *bucket;
    *bucket = ref;
    lru_append(rl, s, ref, e);
    live_add(s, 1);
    check_entry(rl, s, ref, e, now, out);
out:
    pthread_mutex_unlock(&s->lock);
}

size_t ratelimit_tracked(const ratelimit_t *rl)
{
    size_t n = 0;
    for (uint32_t i = 0; i < rl->nshards; i++) {
        /* Relaxed: a metrics snapshot; nothing else is read on the strength of this value. */
        n += atomic_load_explicit(&rl->shards[i].live, memory_order_relaxed);
    }
    return n;
}

size_t ratelimit_bytes_per_client(const ratelimit_t *rl)
{
    /* Each shard has exactly one bucket (a uint32_t chain head) per entry. */
    return rl->stride + sizeof(uint32_t);
}
