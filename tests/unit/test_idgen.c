/* SPDX-License-Identifier: MIT */
#include "common/idgen.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "unit_main.h"

static const char *const valid_ids[][2] = {
    /* input, canonical form */
    {"123e4567-e89b-12d3-a456-426614174000", "123e4567-e89b-12d3-a456-426614174000"},
    {"123E4567-E89B-12D3-A456-426614174000", "123e4567-e89b-12d3-a456-426614174000"},
    {"123e4567-E89b-12D3-a456-426614174ABC", "123e4567-e89b-12d3-a456-426614174abc"},
    {"017F22E2-79B0-7CC3-98C4-DC0C0C07398F", "017f22e2-79b0-7cc3-98c4-dc0c0c07398f"},
    {"ffffffff-ffff-ffff-ffff-ffffffffffff", "ffffffff-ffff-ffff-ffff-ffffffffffff"},
    {"00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000001"},
    /* Any version and variant: v1, v4, v8, NCS-variant. */
    {"c232ab00-9414-11ec-b3c8-9f6bdeced846", "c232ab00-9414-11ec-b3c8-9f6bdeced846"},
    {"919108f7-52d1-4320-9bac-f847db4148a8", "919108f7-52d1-4320-9bac-f847db4148a8"},
    {"2489e9ad-2ee2-8e00-8ec9-32d5f69181c0", "2489e9ad-2ee2-8e00-8ec9-32d5f69181c0"},
    {"12345678-1234-1234-0234-123456789abc", "12345678-1234-1234-0234-123456789abc"},
};

static const char *const invalid_ids[] = {
    "",
    "123e4567-e89b-12d3-a456-42661417400",   /* 35 */
    "123e4567-e89b-12d3-a456-4266141740000", /* 37 */
    "123e4567e89b12d3a456426614174000",      /* no hyphens */
    "123e4567e-89b-12d3-a456-426614174000",  /* hyphen one place late */
    "123e456-7e89b-12d3-a456-426614174000",  /* hyphen one place early */
    "123e4567-e89b-12d3-a456_426614174000",  /* wrong separator */
    "123e4567-e89b-12d3-a456-42661417400g",  /* not hex */
    "123e4567-e89b-12d3-a456-42661417400 ",  /* trailing space */
    " 23e4567-e89b-12d3-a456-426614174000",  /* leading space */
    "123e4567-e89b-12d3-a4-6-426614174000",  /* hyphen in a hex slot */
    "{123e4567-e89b-12d3-a456-426614174000}",
    "urn:uuid:123e4567-e89b-12d3-a456-426614174000",
    "00000000-0000-0000-0000-000000000000", /* nil */
    "+23e4567-e89b-12d3-a456-426614174000",
    "123e4567-e89b-12d3-a456-4266141740\xc3\xa9", /* 36 bytes, not hex */
};

START_TEST(test_idgen_parse_accepts_and_canonicalises)
{
    uint8_t id[16];
    char out[IDGEN_STR_LEN + 1];
    err_t err;
    ck_assert_int_eq(idgen_parse(valid_ids[_i][0], strlen(valid_ids[_i][0]), id, &err), 0);
    memset(out, 'x', sizeof(out));
    idgen_format(id, out);
    ck_assert_str_eq(out, valid_ids[_i][1]);
    /* The canonical form parses back to the same bytes. */
    uint8_t again[16];
    ck_assert_int_eq(idgen_parse(out, IDGEN_STR_LEN, again, NULL), 0);
    ck_assert_mem_eq(again, id, sizeof(id));
}
END_TEST

START_TEST(test_idgen_parse_rejects)
{
    uint8_t id[16];
    uint8_t untouched[16];
    err_t err;
    memset(id, 0xa5, sizeof(id));
    memcpy(untouched, id, sizeof(id));
    err_clear(&err);
    ck_assert_int_eq(idgen_parse(invalid_ids[_i], strlen(invalid_ids[_i]), id, &err), ERR_PARSE);
    ck_assert_int_eq(err.code, ERR_PARSE);
    ck_assert_int_gt(strlen(err.msg), 0);
    ck_assert_mem_eq(id, untouched, sizeof(id));
}
END_TEST

START_TEST(test_idgen_parse_bytes_and_messages)
{
    static const uint8_t want[16] = {0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x12, 0xd3,
                                     0xa4, 0x56, 0x42, 0x66, 0x14, 0x17, 0x40, 0x00};
    const char buf[] = "123e4567-e89b-12d3-a456-426614174000trailing";
    uint8_t id[16];
    err_t err;
    /* Only len bytes are read: the buffer need not end there. */
    ck_assert_int_eq(idgen_parse(buf, IDGEN_STR_LEN, id, &err), 0);
    ck_assert_mem_eq(id, want, sizeof(want));
    ck_assert_int_eq(idgen_parse(buf, sizeof(buf) - 1, id, &err), ERR_PARSE);
    ck_assert_int_eq(idgen_parse(NULL, 0, id, NULL), ERR_PARSE);
    ck_assert_int_eq(idgen_parse("00000000-0000-0000-0000-000000000000", 36, id, &err), ERR_PARSE);
    ck_assert_str_eq(err.msg, "must not be the nil UUID");
}
END_TEST

/* RFC 9562 appendix A.6: unix_ts_ms 0x017F22E279B0, rand_a 0xCC3, rand_b 0x18C4DC0C0C07398F. */
START_TEST(test_idgen_v7_matches_rfc_9562_example)
{
    static const uint8_t rnd[10] = {0x0c, 0xc3, 0x18, 0xc4, 0xdc, 0x0c, 0x0c, 0x07, 0x39, 0x8f};
    uint8_t id[16];
    char out[IDGEN_STR_LEN + 1];
    idgen_v7(0x017F22E279B0LL, rnd, id);
    idgen_format(id, out);
    ck_assert_str_eq(out, "017f22e2-79b0-7cc3-98c4-dc0c0c07398f");
}
END_TEST

static void fill(uint8_t *p, size_t n, uint32_t *state)
{
    for (size_t i = 0; i < n; i++) {
        *state = *state * 1664525u + 1013904223u;
        p[i] = (uint8_t)(*state >> 24);
    }
}

START_TEST(test_idgen_v7_sets_version_variant_and_time)
{
    static const int64_t times[] = {0, 1, 1698400800123, 0xffffffffffffLL};
    uint8_t rnd[10], id[16];
    uint32_t state = 12345;
    for (size_t t = 0; t < sizeof(times) / sizeof(times[0]); t++) {
        for (int r = 0; r < 3; r++) {
            if (r == 0)
                memset(rnd, 0x00, sizeof(rnd));
            else if (r == 1)
                memset(rnd, 0xff, sizeof(rnd));
            else
                fill(rnd, sizeof(rnd), &state);
            idgen_v7(times[t], rnd, id);
            int64_t ts = 0;
            for (int i = 0; i < 6; i++)
                ts = ts << 8 | id[i];
            ck_assert_int_eq(ts, times[t]);
            ck_assert_uint_eq(id[6] >> 4, 7); /* version */
            ck_assert_uint_eq(id[8] >> 6, 2); /* variant 10 */
            ck_assert_uint_eq(id[6] & 0x0f, rnd[0] & 0x0f);
            ck_assert_uint_eq(id[7], rnd[1]);
            ck_assert_uint_eq(id[8] & 0x3f, rnd[2] & 0x3f);
            ck_assert_mem_eq(id + 9, rnd + 3, 7);
        }
    }
}
END_TEST

START_TEST(test_idgen_v7_sorts_by_time)
{
    uint8_t rnd[10], prev[16], id[16];
    char prev_s[IDGEN_STR_LEN + 1], id_s[IDGEN_STR_LEN + 1];
    uint32_t state = 99;
    int64_t ms = 1698400800000;
    int unordered = 0, unparsable = 0;

    fill(rnd, sizeof(rnd), &state);
    idgen_v7(ms, rnd, prev);
    idgen_format(prev, prev_s);
    for (int i = 0; i < 10000; i++) {
        ms += 1 + i % 3;
        fill(rnd, sizeof(rnd), &state);
        idgen_v7(ms, rnd, id);
        idgen_format(id, id_s);
        /* Both the bytes and the text sort by time, whatever the random bits. */
        if (memcmp(prev, id, 16) >= 0 || strcmp(prev_s, id_s) >= 0)
            unordered++;
        uint8_t back[16];
        if (idgen_parse(id_s, IDGEN_STR_LEN, back, NULL) != 0 || memcmp(back, id, 16) != 0)
            unparsable++;
        memcpy(prev, id, 16);
        memcpy(prev_s, id_s, sizeof(id_s));
    }
    ck_assert_int_eq(unordered, 0);
    ck_assert_int_eq(unparsable, 0);
}
END_TEST

static Suite *idgen_suite(void)
{
    Suite *s = suite_create("idgen");
    TCase *tc;

    tc = tcase_create("parse_format");
    tcase_add_loop_test(tc, test_idgen_parse_accepts_and_canonicalises, 0,
                        (int)(sizeof(valid_ids) / sizeof(valid_ids[0])));
    tcase_add_loop_test(tc, test_idgen_parse_rejects, 0,
                        (int)(sizeof(invalid_ids) / sizeof(invalid_ids[0])));
    tcase_add_test(tc, test_idgen_parse_bytes_and_messages);
    suite_add_tcase(s, tc);

    tc = tcase_create("v7");
    tcase_add_test(tc, test_idgen_v7_matches_rfc_9562_example);
    tcase_add_test(tc, test_idgen_v7_sets_version_variant_and_time);
    tcase_add_test(tc, test_idgen_v7_sorts_by_time);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(idgen_suite)
