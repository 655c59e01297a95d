/* SPDX-License-Identifier: MIT */
/*
 * Compressed request bodies (DESIGN §2a): parses Content-Encoding and inflates a gzip or deflate
 * body into a caller buffer of at most `limit` bytes, stopping as soon as the output would pass
 * it, so a decompression bomb costs `limit` bytes of output and about 40 KB of zlib state
 * (its ~7 KB state plus one 32 KiB window).
 * Thread: inflate_coding_parse any (pure); an inflate_t is one loop's (owner only: the first
 * thread that inflates with it becomes its owner, asserted in debug builds).
 */
#ifndef AT_API_INFLATE_H
#define AT_API_INFLATE_H

#include <limits.h>
#include <stddef.h>

#include "common/err.h"

#define INFLATE_LIMIT_MAX INT_MAX /* the result is an int length */

/* The coding of a body. Transparent. */
typedef enum inflate_coding {
    INFLATE_CODING_IDENTITY,    /* no Content-Encoding, or only "identity" */
    INFLATE_CODING_GZIP,        /* gzip (RFC 1952), also "x-gzip" */
    INFLATE_CODING_DEFLATE,     /* zlib-wrapped (RFC 1950) or raw (RFC 1951) deflate */
    INFLATE_CODING_UNSUPPORTED, /* answer 415 with Accept-Encoding: gzip, deflate */
} inflate_coding_t;

typedef struct inflate inflate_t;

/* Parses a Content-Encoding value[0..len) (value may be NULL: no header; when the header appears
 * on several lines, join the values with ", "). The value is a comma-separated list of codings,
 * case-insensitive, spaces/tabs around items and empty items ignored. "identity" items change
 * nothing; at most one gzip/x-gzip/deflate may appear, since a body coded twice would need a
 * second buffer. Returns the coding, or INFLATE_CODING_UNSUPPORTED for any other coding,
 * parameters, or two real codings. Never fails. Thread: any. */
inflate_coding_t inflate_coding_parse(const char *value, size_t len);

/* Returns a short name of coding ("gzip", "deflate", "identity", "unsupported"). Never NULL. */
const char *inflate_coding_name(inflate_coding_t coding);

/* Returns a new inflater, owned by the caller. Thread: any; then used by one loop. */
inflate_t *inflate_create(void);

/* Frees the inflater and zlib's state. NULL is a no-op. */
void inflate_destroy(inflate_t *inf);

/* Decodes the whole body in[0..in_len) of the given coding into out[0..limit) (limit at most
 * INFLATE_LIMIT_MAX; out may be NULL when limit is 0) and returns the decoded length (0..limit).
 * gzip: one or more complete members (concatenated members decode one after another, as gunzip
 * does). deflate: a zlib stream, or raw deflate when the first two bytes are not a zlib header.
 * identity: copies the body. Returns ERR_RANGE as soon as the output would pass limit (decoding
 * stops there; out is never written past limit), ERR_PARSE for an empty, corrupt or truncated
 * stream, a preset dictionary, or bytes after the end of the stream, and ERR_INVAL for
 * INFLATE_CODING_UNSUPPORTED; err gets a message with the input offset. Never allocates per
 * body: zlib's window is allocated once, the first time a body needs it, and kept. Thread: the
 * owner loop. */
int inflate_body(inflate_t *inf, inflate_coding_t coding, const void *in, size_t in_len, void *out,
                 size_t limit, err_t *err);

/* Returns how many input bytes the last inflate_body read (all of them on success; fewer when
 * it stopped early). Thread: the owner loop. */
size_t inflate_consumed(const inflate_t *inf);

/* Returns the bytes zlib currently holds for this inflater (its state and window). */
size_t inflate_memory(const inflate_t *inf);

#endif
