/* SPDX-License-Identifier: MIT */
#include "api/inflate.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common/err.h"

#include "unit_main.h"

#define GUARD     64 /* bytes after the limit that inflate_body must never write */
#define GUARD_VAL 0xa5

/* The three framings the tests build with zlib's deflate. */
typedef enum framing { GZIP = 31, ZLIB = 15, RAW = -15 } framing_t;

typedef struct buf {
    uint8_t *p;
    size_t len;
} buf_t;

/* Compresses `repeat` copies of data[0..len) with deflate in the given framing, streaming, so a
 * 64 MiB input never exists in memory. The result is owned by the caller. */
static buf_t pack_repeat(framing_t f, const void *data, size_t len, size_t repeat)
{
    z_stream z = {0};
    ck_assert_int_eq(deflateInit2(&z, 9, Z_DEFLATED, (int)f, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&z, (uLong)(len * repeat)) + 64;
    buf_t out = {malloc(cap), 0};
    z.next_out = out.p;
    z.avail_out = (uInt)cap;
    for (size_t i = 0; i < repeat; i++) {
        z.next_in = (Bytef *)(uintptr_t)data;
        z.avail_in = (uInt)len;
        ck_assert_int_eq(deflate(&z, Z_NO_FLUSH), Z_OK);
        ck_assert_uint_eq(z.avail_in, 0);
    }
    ck_assert_int_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
    out.len = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

static buf_t pack(framing_t f, const void *data, size_t len)
{
    return pack_repeat(f, data, len, 1);
}

/* Returns len pseudo-random bytes (xorshift, fixed seed): incompressible test data. */
static uint8_t *noise(size_t len)
{
    uint8_t *p = malloc(len ? len : 1);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)x;
    }
    return p;
}

static inflate_coding_t coding_of(framing_t f)
{
    return f == GZIP ? INFLATE_CODING_GZIP : INFLATE_CODING_DEFLATE;
}

static const framing_t FRAMINGS[] = {GZIP, ZLIB, RAW};

/* Inflates in into a buffer of limit bytes plus a guard, checks that the guard is untouched, and
 * returns the result; the output is copied to *out_copy when not NULL (owned by the caller). */
static int run(inflate_t *inf, inflate_coding_t c, const buf_t *in, size_t limit,
               uint8_t **out_copy, err_t *err)
{
    uint8_t *out = malloc(limit + GUARD);
    memset(out, GUARD_VAL, limit + GUARD);
    int rc = inflate_body(inf, c, in->p, in->len, out, limit, err);
    for (size_t i = limit; i < limit + GUARD; i++)
        ck_assert_uint_eq(out[i], GUARD_VAL);
    if (out_copy)
        *out_copy = out;
    else
        free(out);
    return rc;
}

static void expect_round_trip(inflate_t *inf, framing_t f, const uint8_t *data, size_t len)
{
    buf_t z = pack(f, data, len);
    uint8_t *out;
    err_t err = {0};
    ck_assert_int_eq(run(inf, coding_of(f), &z, len + 10, &out, &err), (int)len);
    ck_assert_mem_eq(out, data, len);
    ck_assert_uint_eq(inflate_consumed(inf), z.len);
    free(out);
    free(z.p);
}

START_TEST(test_inflate_round_trips)
{
    inflate_t *inf = inflate_create();
    const char *json = "{\"userId\":\"u1\",\"eventType\":\"click\",\"payload\":{}}";
    uint8_t *rnd = noise(200000);
    for (size_t i = 0; i < 3; i++) {
        expect_round_trip(inf, FRAMINGS[i], (const uint8_t *)json, strlen(json));
        expect_round_trip(inf, FRAMINGS[i], rnd, 200000);
        expect_round_trip(inf, FRAMINGS[i], rnd, 1);
    }
    free(rnd);
    inflate_destroy(inf);
    inflate_destroy(NULL);
}
END_TEST

START_TEST(test_inflate_compress2_output_is_deflate)
{
    const char *text = "hello hello hello hello hello hello";
    uint8_t z[128];
    uLongf zlen = sizeof(z);
    ck_assert_int_eq(compress2(z, &zlen, (const Bytef *)text, strlen(text), 6), Z_OK);
    inflate_t *inf = inflate_create();
    char out[64];
    err_t err = {0};
    ck_assert_int_eq(inflate_body(inf, INFLATE_CODING_DEFLATE, z, zlen, out, sizeof(out), &err),
                     (int)strlen(text));
    ck_assert_mem_eq(out, text, strlen(text));
    inflate_destroy(inf);
}
END_TEST

START_TEST(test_inflate_identity_copies)
{
    inflate_t *inf = inflate_create();
    buf_t in = {(uint8_t *)"abcdef", 6};
    uint8_t *out;
    err_t err = {0};
    ck_assert_int_eq(run(inf, INFLATE_CODING_IDENTITY, &in, 6, &out, &err), 6);
    ck_assert_mem_eq(out, "abcdef", 6);
    free(out);
    ck_assert_int_eq(run(inf, INFLATE_CODING_IDENTITY, &in, 5, NULL, &err), ERR_RANGE);
    in.len = 0;
    ck_assert_int_eq(run(inf, INFLATE_CODING_IDENTITY, &in, 0, NULL, &err), 0);
    inflate_destroy(inf);
}
END_TEST

START_TEST(test_inflate_exact_limit)
{
    enum { N = 1000 };
    uint8_t *data = noise(N);
    inflate_t *inf = inflate_create();
    for (size_t i = 0; i < 3; i++) {
        framing_t f = FRAMINGS[i];
        buf_t z = pack(f, data, N);
        err_t err = {0};
        ck_assert_int_eq(run(inf, coding_of(f), &z, N - 1, NULL, &err), ERR_RANGE);
        ck_assert_int_eq(err.code, ERR_RANGE);
        ck_assert_str_eq(err.msg, "inflated body is larger than 999 bytes");
        uint8_t *out;
        ck_assert_int_eq(run(inf, coding_of(f), &z, N, &out, &err), N);
        ck_assert_mem_eq(out, data, N);
        free(out);
        ck_assert_int_eq(run(inf, coding_of(f), &z, N + 1, NULL, &err), N);
        ck_assert_int_eq(inflate_body(inf, coding_of(f), z.p, z.len, NULL, 0, &err), ERR_RANGE);
        free(z.p);
        z = pack(f, "", 0); /* limit 0 and no output buffer: only an empty result fits */
        ck_assert_int_eq(inflate_body(inf, coding_of(f), z.p, z.len, NULL, 0, &err), 0);
        free(z.p);
    }
    free(data);
    inflate_destroy(inf);
}
END_TEST

START_TEST(test_inflate_bomb_stops_at_limit)
{
    enum { MIB = 1 << 20, LIMIT = 65536 };
    uint8_t *zeros = calloc(1, MIB);
    inflate_t *inf = inflate_create();
    for (size_t i = 0; i < 3; i++) {
        framing_t f = FRAMINGS[i];
        buf_t bomb = pack_repeat(f, zeros, MIB, 64); /* 64 MiB of zeros */
        ck_assert_uint_lt(bomb.len, 128 * 1024);
        err_t err = {0};
        ck_assert_int_eq(run(inf, coding_of(f), &bomb, LIMIT, NULL, &err), ERR_RANGE);
        /* It stopped after about LIMIT/1032 input bytes: nowhere near the whole bomb. */
        ck_assert_uint_gt(inflate_consumed(inf), 0);
        ck_assert_uint_lt(inflate_consumed(inf), bomb.len / 50);
        /* zlib's own memory: its state and one 32 KiB window, never the output. */
        ck_assert_uint_le(inflate_memory(inf), 48 * 1024);
        free(bomb.p);
    }
    free(zeros);
    inflate_destroy(inf);
}
END_TEST

START_TEST(test_inflate_truncated_streams)
{
    const char *text = "{\"userId\":\"u1\",\"eventType\":\"click\",\"payload\":{\"a\":[1,2,3]}}";
    inflate_t *inf = inflate_create();
    for (size_t i = 0; i < 3; i++) {
        buf_t z = pack(FRAMINGS[i], text, strlen(text));
        for (size_t cut = 0; cut < z.len; cut++) {
            buf_t prefix = {z.p, cut};
            err_t err = {0};
            ck_assert_int_eq(run(inf, coding_of(FRAMINGS[i]), &prefix, 4096, NULL, &err),
                             ERR_PARSE);
        }
        free(z.p);
    }
    inflate_destroy(inf);
}
END_TEST

START_TEST(test_inflate_corrupt_data)
{
    uint8_t *data = noise(5000);
    inflate_t *inf = inflate_create();
    err_t err = {0};
    /* Header: not the gzip magic. */
    buf_t z = pack(GZIP, data, 5000);
    z.p[0] ^= 0xff;
    ck_assert_int_eq(run(inf, INFLATE_CODING_GZIP, &z, 8192, NULL, &err), ERR_PARSE);
    ck_assert_ptr_nonnull(strstr(err.msg, "gzip body is corrupt at input byte"));
    free(z.p);
    /* Raw deflate: a reserved block type (BTYPE 11) in the first byte. */
    z = pack(RAW, data, 5000);
    z.p[0] |= 0x06;
    ck_assert_int_eq(run(inf, INFLATE_CODING_DEFLATE, &z, 8192, NULL, &err), ERR_PARSE);
    ck_assert_ptr_nonnull(strstr(err.msg, "invalid block type"));
    free(z.p);
    /* Middle and trailer of the framings with a checksum: one flipped byte of the (stored,
     * incompressible) data or of the checksum is always caught. Raw deflate has no checksum, so
     * a flip inside its data can go unnoticed; that is the framing's limit, not ours. */
    for (size_t i = 0; i < 2; i++) {
        z = pack(FRAMINGS[i], data, 5000);
        size_t at[] = {z.len / 2, z.len - 1};
        for (size_t j = 0; j < 2; j++) {
            z.p[at[j]] ^= 0x55;
            ck_assert_int_eq(run(inf, coding_of(FRAMINGS[i]), &z, 8192, NULL, &err), ERR_PARSE);
            z.p[at[j]] ^= 0x55;
        }
        ck_assert_int_eq(run(inf, coding_of(FRAMINGS[i]), &z, 8192, NULL, &err), 5000);
        free(z.p);
    }
    free(data);
    inflate_destroy(inf);
}
END_TEST

START_TEST(test_inflate_trailing_garbage)
{
    inflate_t *inf = inflate_create();
    for (size_t i = 0; i < 3; i++) {
        buf_t z = pack(FRAMINGS[i], "hello", 5);
        z.p = realloc(z.p, z.len + 3);
        memcpy(z.p + z.len, "\0xy", 3);
        z.len += 3;
        err_t err = {0};
        ck_assert_int_eq(run(inf, coding_of(FRAMINGS[i]), &z, 100, NULL, &err), ERR_PARSE);
        ck_assert_ptr_nonnull(strstr(err.msg, "has 3 bytes after the end of the stream"));
        ck_assert_uint_eq(inflate_consumed(inf), z.len - 3);
        free(z.p);
    }
    inflate_destroy(inf);
}
END_TEST

START_TEST(test_inflate_empty_body)
{
    inflate_t *inf = inflate_create();
    buf_t empty = {(uint8_t *)"", 0};
    err_t err = {0};
    ck_assert_int_eq(run(inf, INFLATE_CODING_GZIP, &empty, 10, NULL, &err), ERR_PARSE);
    ck_assert_str_eq(err.msg, "gzip body is empty");
    ck_assert_int_eq(run(inf, INFLATE_CODING_DEFLATE, &empty, 10, NULL, &err), ERR_PARSE);
    ck_assert_int_eq(run(inf, INFLATE_CODING_UNSUPPORTED, &empty, 10, NULL, &err), ERR_INVAL);
    inflate_destroy(inf);
}
END_TEST

START_TEST(test_inflate_gzip_members_concatenate)
{
    buf_t a = pack(GZIP, "hello ", 6), b = pack(GZIP, "world", 5);
    buf_t ab = {malloc(a.len + b.len), a.len + b.len};
    memcpy(ab.p, a.p, a.len);
    memcpy(ab.p + a.len, b.p, b.len);
    inflate_t *inf = inflate_create();
    uint8_t *out;
    err_t err = {0};
    ck_assert_int_eq(run(inf, INFLATE_CODING_GZIP, &ab, 11, &out, &err), 11);
    ck_assert_mem_eq(out, "hello world", 11);
    free(out);
    ck_assert_int_eq(run(inf, INFLATE_CODING_GZIP, &ab, 10, NULL, &err), ERR_RANGE);
    ab.len--; /* the second member truncated */
    ck_assert_int_eq(run(inf, INFLATE_CODING_GZIP, &ab, 100, NULL, &err), ERR_PARSE);
    free(ab.p);
    free(a.p);
    free(b.p);
    /* Two zlib streams are not one deflate body. */
    a = pack(ZLIB, "hello ", 6);
    ab = (buf_t){malloc(2 * a.len), 2 * a.len};
    memcpy(ab.p, a.p, a.len);
    memcpy(ab.p + a.len, a.p, a.len);
    ck_assert_int_eq(run(inf, INFLATE_CODING_DEFLATE, &ab, 100, NULL, &err), ERR_PARSE);
    free(ab.p);
    free(a.p);
    inflate_destroy(inf);
}
END_TEST

START_TEST(test_inflate_preset_dictionary_refused)
{
    z_stream z = {0};
    ck_assert_int_eq(deflateInit(&z, 6), Z_OK);
    ck_assert_int_eq(deflateSetDictionary(&z, (const Bytef *)"hello", 5), Z_OK);
    uint8_t zbuf[64];
    z.next_in = (Bytef *)"hello hello";
    z.avail_in = 11;
    z.next_out = zbuf;
    z.avail_out = sizeof(zbuf);
    ck_assert_int_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
    buf_t in = {zbuf, sizeof(zbuf) - z.avail_out};
    deflateEnd(&z);
    inflate_t *inf = inflate_create();
    err_t err = {0};
    ck_assert_int_eq(run(inf, INFLATE_CODING_DEFLATE, &in, 100, NULL, &err), ERR_PARSE);
    ck_assert_ptr_nonnull(strstr(err.msg, "preset dictionary"));
    inflate_destroy(inf);
}
END_TEST

START_TEST(test_inflate_reuse_does_not_grow)
{
    uint8_t *data = noise(3000);
    inflate_t *inf = inflate_create();
    buf_t z[3];
    for (size_t i = 0; i < 3; i++)
        z[i] = pack(FRAMINGS[i], data, 3000);
    err_t err = {0};
    /* zlib allocates its window only when a stream spans calls, as it does when the limit is
     * reached; after that, resets keep it. */
    ck_assert_int_eq(run(inf, INFLATE_CODING_GZIP, &z[0], 3000, NULL, &err), 3000);
    ck_assert_uint_lt(inflate_memory(inf), 16 * 1024);
    ck_assert_int_eq(run(inf, INFLATE_CODING_GZIP, &z[0], 2999, NULL, &err), ERR_RANGE);
    size_t steady = inflate_memory(inf);
    ck_assert_uint_gt(steady, 32 * 1024);
    ck_assert_uint_le(steady, 48 * 1024);
    for (int round = 0; round < 50; round++) {
        size_t i = (size_t)round % 3;
        ck_assert_int_eq(run(inf, coding_of(FRAMINGS[i]), &z[i], 3000, NULL, &err), 3000);
        ck_assert_int_eq(run(inf, coding_of(FRAMINGS[i]), &z[i], 2999, NULL, &err), ERR_RANGE);
        buf_t cut = {z[i].p, z[i].len / 2};
        ck_assert_int_eq(run(inf, coding_of(FRAMINGS[i]), &cut, 3000, NULL, &err), ERR_PARSE);
        ck_assert_uint_eq(inflate_memory(inf), steady);
    }
    for (size_t i = 0; i < 3; i++)
        free(z[i].p);
    free(data);
    inflate_destroy(inf);
}
END_TEST

typedef struct coding_case {
    const char *value;
    inflate_coding_t want;
} coding_case_t;

START_TEST(test_inflate_coding_parse_table)
{
    static const coding_case_t cases[] = {
        {NULL, INFLATE_CODING_IDENTITY},
        {"", INFLATE_CODING_IDENTITY},
        {"identity", INFLATE_CODING_IDENTITY},
        {" IDENTITY ", INFLATE_CODING_IDENTITY},
        {"identity, identity", INFLATE_CODING_IDENTITY},
        {"gzip", INFLATE_CODING_GZIP},
        {"GZip", INFLATE_CODING_GZIP},
        {"  gzip\t", INFLATE_CODING_GZIP},
        {"x-gzip", INFLATE_CODING_GZIP},
        {"deflate", INFLATE_CODING_DEFLATE},
        {"DEFLATE", INFLATE_CODING_DEFLATE},
        {"gzip, identity", INFLATE_CODING_GZIP},
        {"identity,deflate", INFLATE_CODING_DEFLATE},
        {"gzip,,", INFLATE_CODING_GZIP},
        {" , gzip", INFLATE_CODING_GZIP},
        {"gzip, gzip", INFLATE_CODING_UNSUPPORTED},
        {"deflate, gzip", INFLATE_CODING_UNSUPPORTED},
        {"br", INFLATE_CODING_UNSUPPORTED},
        {"zstd", INFLATE_CODING_UNSUPPORTED},
        {"compress", INFLATE_CODING_UNSUPPORTED},
        {"gzip;q=1", INFLATE_CODING_UNSUPPORTED},
        {"gzip deflate", INFLATE_CODING_UNSUPPORTED},
        {"gzipx", INFLATE_CODING_UNSUPPORTED},
        {"gzi", INFLATE_CODING_UNSUPPORTED},
        {"gzip, br", INFLATE_CODING_UNSUPPORTED},
        {"*", INFLATE_CODING_UNSUPPORTED},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *v = cases[i].value;
        char got[96], want[96];
        snprintf(got, sizeof(got), "[%s] -> %s", v ? v : "(none)",
                 inflate_coding_name(inflate_coding_parse(v, v ? strlen(v) : 0)));
        snprintf(want, sizeof(want), "[%s] -> %s", v ? v : "(none)",
                 inflate_coding_name(cases[i].want));
        ck_assert_str_eq(got, want);
    }
    /* Only len bytes are read. */
    ck_assert_int_eq(inflate_coding_parse("gzipx", 4), INFLATE_CODING_GZIP);
}
END_TEST

static Suite *inflate_suite(void)
{
    Suite *s = suite_create("inflate");
    TCase *tc = tcase_create("round_trip");
    tcase_add_test(tc, test_inflate_round_trips);
    tcase_add_test(tc, test_inflate_compress2_output_is_deflate);
    tcase_add_test(tc, test_inflate_identity_copies);
    tcase_add_test(tc, test_inflate_reuse_does_not_grow);
    suite_add_tcase(s, tc);

    tc = tcase_create("limit");
    tcase_set_timeout(tc, 60); /* building the 64 MiB bombs is the slow part under sanitizers */
    tcase_add_test(tc, test_inflate_exact_limit);
    tcase_add_test(tc, test_inflate_bomb_stops_at_limit);
    suite_add_tcase(s, tc);

    tc = tcase_create("bad_input");
    tcase_add_test(tc, test_inflate_truncated_streams);
    tcase_add_test(tc, test_inflate_corrupt_data);
    tcase_add_test(tc, test_inflate_trailing_garbage);
    tcase_add_test(tc, test_inflate_empty_body);
    tcase_add_test(tc, test_inflate_gzip_members_concatenate);
    tcase_add_test(tc, test_inflate_preset_dictionary_refused);
    suite_add_tcase(s, tc);

    tc = tcase_create("coding");
    tcase_add_test(tc, test_inflate_coding_parse_table);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(inflate_suite)
