/* SPDX-License-Identifier: MIT */
/*
 * inflate_body on any body, and on bodies compressed here. The first byte picks the coding
 * (identity, gzip, deflate, unsupported), the output limit and the framing of the round trip;
 * the rest is the body. Checked:
 *  - the output buffer is never written past the limit (guard bytes after it stay intact);
 *  - the result is 0..limit bytes, or ERR_RANGE / ERR_PARSE (ERR_INVAL only for unsupported),
 *    with err filled; consumed <= input, and all of it on success;
 *  - the result agrees with a one-shot zlib reference decoder: the same bytes on success,
 *    more than limit bytes for ERR_RANGE, an error or nothing within the limit for ERR_PARSE;
 *  - identity copies the body exactly when it fits, else ERR_RANGE;
 *  - round trip: the rest compressed with zlib (gzip, zlib, raw deflate, or two gzip members)
 *    inflates back to exactly the rest when it fits the limit, ERR_RANGE when it does not;
 *  - zlib's memory stays bounded (its state and one window), whatever the body.
 * One inflater serves every input, as one serves every request of a loop.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "api/inflate.h"
#include "fuzzcheck.h"

#define GUARD        64
#define GUARD_VAL    0xa5
#define MEMORY_BOUND (64u * 1024u) /* zlib's ~7 KB state plus its 32 KiB window, with room */

static const size_t LIMITS[8] = {0, 1, 2, 31, 512, 4096, 4096, 4096};

typedef enum framing { F_GZIP, F_ZLIB, F_RAW, F_GZIP2 } framing_t;

typedef enum outcome { OK, OVERFLOW, BAD } outcome_t;

static inflate_t *inf;

/* zlib is not instrumented, so libFuzzer cannot tell its paths apart. The reference decoder
 * feeds back where zlib stopped (its return code, its message, how much it made and read, how
 * many gzip members) through libFuzzer's extra counters (a section it reads on Linux), so inputs
 * that reach new zlib states stay in the corpus. */
#define FEEDBACK_GROUP 64
__attribute__((used,
               section("__libfuzzer_extra_counters"))) static uint8_t feedback[8 * FEEDBACK_GROUP];

static void feed(unsigned group, size_t value)
{
    uint8_t *c = &feedback[group * FEEDBACK_GROUP + value % FEEDBACK_GROUP];
    if (*c < 255)
        (*c)++;
}

static unsigned log2_bucket(size_t v)
{
    unsigned b = 0;
    while (v > 0) {
        b++;
        v >>= 1;
    }
    return b;
}

static unsigned hash(const char *s)
{
    unsigned h = 5381;
    while (s != NULL && *s != '\0')
        h = h * 33 + (unsigned char)*s++;
    return h;
}

/* RFC 1950 section 2.2: CM 8, CINFO <= 7, and the 16-bit header a multiple of 31. */
static bool is_zlib_header(const uint8_t *p, size_t len)
{
    return len >= 2 && (p[0] & 0x0f) == 8 && (p[0] >> 4) <= 7 && ((p[0] << 8) | p[1]) % 31 == 0;
}

/* The reference: zlib in one pass over the whole input into out[0..cap) (cap = limit + 1, so
 * filling it means "more than limit"), gzip members one after another. */
static outcome_t reference(inflate_coding_t coding, const uint8_t *in, size_t n, uint8_t *out,
                           size_t cap, size_t *made)
{
    *made = 0;
    if (n == 0)
        return BAD;
    int wbits = coding == INFLATE_CODING_GZIP ? 31 : is_zlib_header(in, n) ? 15 : -15;
    z_stream z;
    memset(&z, 0, sizeof(z));
    FUZZCHECK(inflateInit2(&z, wbits) == Z_OK, "inflateInit2(%d)", wbits);
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    outcome_t res;
    unsigned members = 1;
    int zr;
    for (;;) {
        zr = inflate(&z, Z_NO_FLUSH);
        *made = cap - z.avail_out;
        if (*made == cap) {
            res = OVERFLOW;
            break;
        }
        if (zr == Z_STREAM_END) {
            if (z.avail_in == 0) {
                res = OK;
                break;
            }
            if (coding == INFLATE_CODING_GZIP && z.next_in[0] == 0x1f) {
                inflateReset(&z);
                members++;
                continue;
            }
            res = BAD; /* bytes after the end of the stream */
            break;
        }
        if (zr != Z_OK) { /* Z_BUF_ERROR here: input used up; or corrupt, or a dictionary */
            res = BAD;
            break;
        }
    }
    feed(0, (unsigned)res * 16 + (unsigned)(zr + 8) * 2 + (wbits > 0));
    feed(1, hash(z.msg));
    feed(2, log2_bucket(*made) * 2 + (*made == cap - 1));
    feed(3, log2_bucket(n - z.avail_in));
    feed(4, members);
    feed(5, (unsigned)z.data_type);
    inflateEnd(&z);
    return res;
}

/* Inflates in[0..n) into limit bytes followed by a guard, checks the call's own contract, and
 * returns its result; the output goes to out (limit + 1 bytes at least). */
static int run(inflate_coding_t coding, const uint8_t *in, size_t n, size_t limit, uint8_t *out)
{
    uint8_t *buf = malloc(limit + GUARD);
    memset(buf, GUARD_VAL, limit + GUARD);
    err_t err;
    memset(&err, 0, sizeof(err));
    int rc = inflate_body(inf, coding, n > 0 ? in : NULL, n, buf, limit, &err);
    for (size_t i = 0; i < GUARD; i++)
        FUZZCHECK(buf[limit + i] == GUARD_VAL, "byte %zu past the limit %zu was written", i, limit);
    FUZZCHECK(rc <= (int)limit, "returned %d with limit %zu", rc, limit);
    size_t consumed = inflate_consumed(inf);
    FUZZCHECK(consumed <= n, "consumed %zu of %zu bytes", consumed, n);
    if (rc >= 0) {
        FUZZCHECK(consumed == n, "success after consuming %zu of %zu bytes", consumed, n);
        memcpy(out, buf, (size_t)rc);
    } else {
        FUZZCHECK(rc == ERR_RANGE || rc == ERR_PARSE ||
                      (rc == ERR_INVAL && coding == INFLATE_CODING_UNSUPPORTED),
                  "returned %d for coding %s", rc, inflate_coding_name(coding));
        FUZZCHECK(err.code == rc && err.msg[0] != '\0', "err.code %d for %d, message \"%s\"",
                  err.code, rc, err.msg);
    }
    FUZZCHECK(coding != INFLATE_CODING_UNSUPPORTED || rc == ERR_INVAL, "unsupported gave %d", rc);
    FUZZCHECK(inflate_memory(inf) <= MEMORY_BOUND, "zlib holds %zu bytes", inflate_memory(inf));
    free(buf);
    return rc;
}

/* Compresses in[0..n) with deflate in framing f (F_GZIP2: two gzip members, split in half). */
static uint8_t *compress_body(framing_t f, const uint8_t *in, size_t n, int level, size_t *len)
{
    if (f == F_GZIP2) {
        size_t half = n / 2, l1, l2;
        uint8_t *a = compress_body(F_GZIP, in, half, level, &l1);
        uint8_t *b = compress_body(F_GZIP, in + half, n - half, level, &l2);
        uint8_t *both = malloc(l1 + l2);
        memcpy(both, a, l1);
        memcpy(both + l1, b, l2);
        free(a);
        free(b);
        *len = l1 + l2;
        return both;
    }
    int wbits = f == F_GZIP ? 31 : f == F_ZLIB ? 15 : -15;
    z_stream z;
    memset(&z, 0, sizeof(z));
    FUZZCHECK(deflateInit2(&z, level, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY) == Z_OK,
              "deflateInit2");
    size_t cap = deflateBound(&z, (uLong)n) + 64;
    uint8_t *out = malloc(cap);
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    FUZZCHECK(deflate(&z, Z_FINISH) == Z_STREAM_END, "deflate did not finish");
    *len = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (inf == NULL)
        inf = inflate_create();
    uint8_t sel = data[0];
    const uint8_t *body = data + 1;
    size_t n = size - 1;
    inflate_coding_t coding = (inflate_coding_t)(sel & 3);
    size_t limit = LIMITS[(sel >> 2) & 7];
    framing_t framing = (framing_t)((sel >> 5) & 3);
    int level = sel & 0x80 ? 1 : 9;

    uint8_t *out = malloc(limit + 1), *ref = malloc(limit + 1);
    int rc = run(coding, body, n, limit, out);
    if (coding == INFLATE_CODING_IDENTITY) {
        FUZZCHECK(n <= limit ? rc == (int)n : rc == ERR_RANGE, "identity of %zu bytes: %d", n, rc);
        FUZZCHECK(rc < 0 || memcmp(out, body, n) == 0, "identity changed the body");
    } else if (coding != INFLATE_CODING_UNSUPPORTED) {
        size_t made;
        outcome_t want = reference(coding, body, n, ref, limit + 1, &made);
        if (rc >= 0)
            FUZZCHECK(want == OK && made == (size_t)rc && memcmp(out, ref, made) == 0,
                      "%d bytes where zlib gives outcome %d with %zu bytes", rc, (int)want, made);
        else if (rc == ERR_RANGE)
            FUZZCHECK(want == OVERFLOW, "ERR_RANGE where zlib gives outcome %d with %zu bytes",
                      (int)want, made);
        else
            FUZZCHECK(want == BAD, "ERR_PARSE where zlib gives outcome %d with %zu bytes",
                      (int)want, made);
    }

    /* Round trip of the rest through zlib's deflate. */
    size_t zlen;
    uint8_t *z = compress_body(framing, body, n, level, &zlen);
    /* A raw stream that starts like a zlib header is read as zlib (documented): not checked. */
    if (framing != F_RAW || !is_zlib_header(z, zlen)) {
        inflate_coding_t c =
            framing == F_ZLIB || framing == F_RAW ? INFLATE_CODING_DEFLATE : INFLATE_CODING_GZIP;
        rc = run(c, z, zlen, limit, out);
        if (n <= limit)
            FUZZCHECK(rc == (int)n && memcmp(out, body, n) == 0,
                      "%zu bytes in framing %d came back as %d", n, (int)framing, rc);
        else
            FUZZCHECK(rc == ERR_RANGE, "%zu bytes over the limit %zu in framing %d gave %d", n,
                      limit, (int)framing, rc);
    }
    free(z);
    free(out);
    free(ref);
    return 0;
}
