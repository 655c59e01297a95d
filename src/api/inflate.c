/* SPDX-License-Identifier: MIT */
/*
 * DESIGN
 *
 * libh2o 2.2.5 hands the handler the whole request body, so the input is one buffer; the output
 * is the caller's buffer of `limit` bytes (the body limit). zlib's inflate writes straight into
 * it, in windows of at most CHUNK_MAX bytes (avail_out is 32 bits), and never past its end. When
 * the buffer is full and the stream has not ended, one more call gets a one-byte scratch window:
 * if zlib produces a byte there, the body is too large (ERR_RANGE) and decoding stops, having
 * spent O(limit) time and no memory beyond zlib's own. If it produces none and reports the end
 * of the stream, the body was exactly `limit` bytes (the gzip trailer comes after the last byte).
 *
 * One z_stream per inflater, reset before each body with inflateReset2. The three framings share
 * a 32 KiB window (windowBits 15: 31 for gzip, 15 for zlib, -15 for raw), so zlib keeps its state
 * (~7 KB) and window across resets and the steady state allocates nothing (zlib allocates the
 * window lazily, only once a stream spans more than one inflate call). zlib allocates through
 * xmalloc (aborting on OOM, as everywhere) with a size header, so inflate_memory can report it.
 *
 * Raw deflate: RFC 9110's "deflate" is the zlib format, but many clients (old browsers, some
 * SDKs) send bare RFC 1951 data. The first two bytes decide: a valid zlib header (CM 8, CINFO at
 * most 7, header checksum divisible by 31) means zlib, anything else raw. A raw stream whose first
 * two bytes happen to form a valid zlib header is read as zlib and fails with ERR_PARSE; a
 * client can always send gzip instead.
 *
 * gzip members: RFC 1952 allows a file of several members and gunzip decodes them all, so after
 * a member ends, more input beginning with the gzip magic starts the next member (inflateReset);
 * the limit counts all members together. Anything else after the end of the stream (padding,
 * garbage, a second zlib stream) is ERR_PARSE: it would otherwise be silently dropped.
 */
#include "api/inflate.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "common/err.h"
#include "common/ows.h"
#include "common/owner.h"

#define CHUNK_MAX  (1u << 30) /* fits zlib's uInt counters */
#define WBITS_RAW  (-15)
#define WBITS_ZLIB 15
#define WBITS_GZIP (15 + 16)

/* Thread: loop (owner only). */
struct inflate {
    z_stream z;
    owner_t owner;
    size_t consumed;  /* input bytes read by the last inflate_body */
    size_t zlib_size; /* bytes zlib holds through zalloc */
};

/* Prefix of every zlib allocation: its size, padded so the block stays max-aligned. */
typedef union zhead {
    size_t size;
    max_align_t align;
} zhead_t;

static voidpf zalloc_cb(voidpf opaque, uInt items, uInt size)
{
    inflate_t *inf = opaque;
    size_t n = (size_t)items * size;
    zhead_t *h = xmalloc(sizeof(zhead_t) + n);
    h->size = n;
    inf->zlib_size += n;
    return h + 1;
}

static void zfree_cb(voidpf opaque, voidpf p)
{
    inflate_t *inf = opaque;
    zhead_t *h = (zhead_t *)p - 1;
    inf->zlib_size -= h->size;
    free(h);
}

static bool token_is(const char *t, size_t n, const char *name)
{
    return n == strlen(name) && strncasecmp(t, name, n) == 0;
}

inflate_coding_t inflate_coding_parse(const char *value, size_t len)
{
    inflate_coding_t coding = INFLATE_CODING_IDENTITY;
    if (value == NULL)
        return coding;
    for (size_t at = 0; at <= len;) {
        const char *comma = memchr(value + at, ',', len - at);
        size_t end = comma ? (size_t)(comma - value) : len;
        const char *t = value + at;
        size_t n = end - at;
        at = end + 1;
        t = ows_trim(t, &n);
        inflate_coding_t c;
        if (n == 0 || token_is(t, n, "identity"))
            continue; /* RFC 9110 §5.6.1: empty list elements are ignored */
        else if (token_is(t, n, "gzip") || token_is(t, n, "x-gzip"))
            c = INFLATE_CODING_GZIP;
        else if (token_is(t, n, "deflate"))
            c = INFLATE_CODING_DEFLATE;
        else
            return INFLATE_CODING_UNSUPPORTED;
        if (coding != INFLATE_CODING_IDENTITY)
            return INFLATE_CODING_UNSUPPORTED; /* coded twice */
        coding = c;
    }
    return coding;
}

const char *inflate_coding_name(inflate_coding_t coding)
{
    switch (coding) {
    case INFLATE_CODING_IDENTITY:
        return "identity";
    case INFLATE_CODING_GZIP:
        return "gzip";
    case INFLATE_CODING_DEFLATE:
        return "deflate";
    default:
        return "unsupported";
    }
}

inflate_t *inflate_create(void)
{
    inflate_t *inf = xcalloc(1, sizeof(*inf));
    inf->z.zalloc = zalloc_cb;
    inf->z.zfree = zfree_cb;
    inf->z.opaque = inf;
    int zr = inflateInit2(&inf->z, WBITS_RAW);
    if (zr != Z_OK) /* only Z_MEM_ERROR (cannot happen: xmalloc aborts) or a version mismatch */
        PANIC("inflateInit2 failed: %d", zr);
    return inf;
}

void inflate_destroy(inflate_t *inf)
{
    if (inf == NULL)
        return;
    inflateEnd(&inf->z);
    free(inf);
}

size_t inflate_consumed(const inflate_t *inf)
{
    return inf->consumed;
}

size_t inflate_memory(const inflate_t *inf)
{
    return inf->zlib_size;
}

/* RFC 1950 §2.2: CM = 8 (deflate), CINFO <= 7 (window <= 32 KiB), FCHECK makes it a multiple
 * of 31. */
static bool is_zlib_header(const uint8_t *p, size_t len)
{
    return len >= 2 && (p[0] & 0x0f) == 8 && (p[0] >> 4) <= 7 && ((p[0] << 8) | p[1]) % 31 == 0;
}

static int corrupt(err_t *err, const char *what, const char *zmsg, size_t at)
{
    return err_set(err, ERR_PARSE, NULL, "%s body is corrupt at input byte %zu: %s", what, at,
                   zmsg ? zmsg : "invalid data");
}

int inflate_body(inflate_t *inf, inflate_coding_t coding, const void *in, size_t in_len, void *out,
                 size_t limit, err_t *err)
{
    owner_bind_once(&inf->owner);
    ASSERT_OWNER(&inf->owner);
    ASSERT(limit <= INFLATE_LIMIT_MAX);
    ASSERT(out != NULL || limit == 0);
    ASSERT(in != NULL || in_len == 0);
    inf->consumed = 0;
    const char *what = inflate_coding_name(coding);
    int wbits;
    switch (coding) {
    case INFLATE_CODING_IDENTITY:
        if (in_len > limit)
            return err_set(err, ERR_RANGE, NULL, "body is larger than %zu bytes", limit);
        if (in_len > 0)
            memcpy(out, in, in_len);
        inf->consumed = in_len;
        return (int)in_len;
    case INFLATE_CODING_GZIP:
        wbits = WBITS_GZIP;
        break;
    case INFLATE_CODING_DEFLATE:
        wbits = is_zlib_header(in, in_len) ? WBITS_ZLIB : WBITS_RAW;
        break;
    default:
        return err_set(err, ERR_INVAL, NULL, "unsupported content coding");
    }
    if (in_len == 0)
        return err_set(err, ERR_PARSE, NULL, "%s body is empty", what);
    z_stream *z = &inf->z;
    if (inflateReset2(z, wbits) != Z_OK)
        PANIC("inflateReset2 refused windowBits %d", wbits);

    const uint8_t *base = in;
    size_t fed = 0, used = 0; /* input handed to zlib; output bytes written */
    uint8_t spill;
    int rc;
    z->avail_in = 0;
    for (;;) {
        if (z->avail_in == 0 && fed < in_len) {
            size_t n = in_len - fed < CHUNK_MAX ? in_len - fed : CHUNK_MAX;
            z->next_in = (Bytef *)(uintptr_t)(base + fed); /* zlib does not write its input */
            z->avail_in = (uInt)n;
            fed += n;
        }
        bool full = used == limit;
        if (full) {
            z->next_out = &spill;
            z->avail_out = 1;
        } else {
            size_t n = limit - used < CHUNK_MAX ? limit - used : CHUNK_MAX;
            z->next_out = (Bytef *)out + used;
            z->avail_out = (uInt)n;
        }
        uInt room = z->avail_out;
        int zr = inflate(z, Z_NO_FLUSH);
        size_t made = room - z->avail_out;
        size_t pos = fed - z->avail_in; /* input bytes consumed so far */
        inf->consumed = pos;
        if (full && made > 0) {
            rc = err_set(err, ERR_RANGE, NULL, "inflated body is larger than %zu bytes", limit);
            break;
        }
        used += made;
        if (zr == Z_STREAM_END) {
            if (pos == in_len) {
                rc = (int)used;
                break;
            }
            if (coding == INFLATE_CODING_GZIP && base[pos] == 0x1f) {
                inflateReset(z); /* the next member; next_in and avail_in are kept */
                continue;
            }
            rc = err_set(err, ERR_PARSE, NULL, "%s body has %zu bytes after the end of the stream",
                         what, in_len - pos);
            break;
        }
        if (zr == Z_NEED_DICT) {
            rc = corrupt(err, what, "a preset dictionary is not supported", pos);
            break;
        }
        if (zr == Z_DATA_ERROR) {
            rc = corrupt(err, what, z->msg, pos);
            break;
        }
        if (zr != Z_OK && zr != Z_BUF_ERROR) /* Z_MEM_ERROR cannot happen: xmalloc aborts */
            PANIC("inflate returned %d", zr);
        if (z->avail_in == 0 && fed == in_len && z->avail_out > 0) {
            rc = err_set(err, ERR_PARSE, NULL, "%s body is truncated after %zu bytes", what, pos);
            break;
        }
    }
    return rc;
}
