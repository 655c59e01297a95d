/* SPDX-License-Identifier: MIT */
#include "common/idgen.h"

#include <stdbool.h>

#include "common/hexdig.h"

static bool is_hyphen_pos(size_t i)
{
    return i == 8 || i == 13 || i == 18 || i == 23;
}

int idgen_parse(const char *s, size_t len, uint8_t out[16], err_t *err)
{
    uint8_t id[16];
    unsigned nibbles = 0, any = 0;

    if (s == NULL || len != IDGEN_STR_LEN)
        return err_set(err, ERR_PARSE, NULL, "must be a UUID of 36 characters, e.g. %s",
                       "123e4567-e89b-12d3-a456-426614174000");
    for (size_t i = 0; i < IDGEN_STR_LEN; i++) {
        if (is_hyphen_pos(i)) {
            if (s[i] != '-')
                return err_set(err, ERR_PARSE, NULL,
                               "must be a UUID with hyphens after 8, 12, 16 and 20 hex digits");
            continue;
        }
        int v = hexdig_value(s[i]);
        if (v < 0)
            return err_set(err, ERR_PARSE, NULL, "must be a UUID of hexadecimal digits");
        if (nibbles % 2 == 0)
            id[nibbles / 2] = (uint8_t)(v << 4);
        else
            id[nibbles / 2] |= (uint8_t)v;
        any |= (unsigned)v;
        nibbles++;
    }
    if (any == 0)
        return err_set(err, ERR_PARSE, NULL, "must not be the nil UUID");
    for (size_t i = 0; i < 16; i++)
        out[i] = id[i];
    return 0;
}

void idgen_format(const uint8_t id[16], char *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[id[i] >> 4];
        out[o++] = hex[id[i] & 0x0f];
    }
    out[o] = '\0';
}

void idgen_v7(int64_t unix_ms, const uint8_t rand[10], uint8_t out[16])
{
    /* RFC 9562 §5.7: unix_ts_ms (48) | ver (4) | rand_a (12) | var (2) | rand_b (62). */
    uint64_t ts = (uint64_t)unix_ms & 0xffffffffffffULL;
    for (int i = 0; i < 6; i++)
        out[i] = (uint8_t)(ts >> (40 - 8 * i));
    out[6] = (uint8_t)(0x70 | (rand[0] & 0x0f));
    out[7] = rand[1];
    out[8] = (uint8_t)(0x80 | (rand[2] & 0x3f));
    for (int i = 9; i < 16; i++)
        out[i] = rand[i - 6];
}
