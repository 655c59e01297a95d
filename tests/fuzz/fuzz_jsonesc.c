/* SPDX-License-Identifier: MIT */
/*
 * The JSON string escape: json_escape_byte (common/jsonesc.h), as activity.c and problem.c use
 * it, and log_json_escape (common/log.h). Input: byte 0 picks the size of log_json_escape's
 * buffer, the rest is the text. Checked:
 *  - json_escape_byte, for all 256 bytes: 0 exactly for the bytes that stand for themselves
 *    (>= 0x20, not '"', '\\' or DEL), else a 2- or 6-byte escape that json-c decodes back to
 *    that byte;
 *  - the text escaped byte by byte with it, in quotes, is a JSON string json-c parses strictly
 *    and decodes to the text byte for byte (NULs included), and with json-c's UTF-8 check on
 *    too when the text is well-formed UTF-8 (RFC 3629, checked here independently);
 *  - log_json_escape into a heap buffer of exactly the chosen size (ASan sees any write past
 *    it) writes a NUL-terminated, well-formed UTF-8 string that, in quotes, json-c parses
 *    strictly, whatever the text; it is exactly the longest run of whole pieces of the text
 *    that fits (a piece: one ASCII byte, escaped as json_escape_byte does; one well-formed UTF-8
 *    sequence, copied; one byte that starts none, written \ufffd); so with room to spare it
 *    decodes to the text with each bad byte replaced by U+FFFD, and to the text itself when
 *    that is valid UTF-8.
 */
#include <json-c/json.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define LOG_MODULE "fuzz_jsonesc"
#include "common/jsonesc.h"
#include "common/log.h"
#include "fuzzcheck.h"

/* "\"" + s + "\"" parsed strictly; returns the owned string value or NULL. */
static struct json_object *parse_quoted(const char *s, size_t len, bool utf8)
{
    char *q = malloc(len + 2);
    q[0] = '"';
    memcpy(q + 1, s, len);
    q[len + 1] = '"';
    struct json_object *v = fuzzcheck_json_parse(q, len + 2, 4, utf8);
    free(q);
    if (v != NULL)
        FUZZCHECK(json_object_is_type(v, json_type_string), "a quoted text parsed as type %d",
                  (int)json_object_get_type(v));
    return v;
}

static void check_every_byte(void)
{
    for (unsigned c = 0; c < 256; c++) {
        char esc[JSON_ESCAPE_MAX];
        size_t k = json_escape_byte((unsigned char)c, esc);
        bool itself = c >= 0x20 && c != '"' && c != '\\' && c != 0x7f;
        FUZZCHECK(itself ? k == 0 : (k == 2 || k == 6) && esc[0] == '\\',
                  "byte 0x%02x escapes to %zu bytes", c, k);
        if (k == 0)
            continue;
        struct json_object *v = parse_quoted(esc, k, true);
        FUZZCHECK(v != NULL && json_object_get_string_len(v) == 1 &&
                      (unsigned char)json_object_get_string(v)[0] == c,
                  "the escape of 0x%02x, \"%.*s\", does not decode to it", c, (int)k, esc);
        json_object_put(v);
    }
}

/* Appends one piece of src at *i to out (escaped as log_json_escape must) and advances *i. */
static size_t piece(const unsigned char *src, size_t n, size_t *i, char *out)
{
    size_t k = fuzzcheck_utf8_seq_len(src + *i, n - *i);
    if (k == 1) {
        k = json_escape_byte(src[*i], out);
        if (k == 0) {
            out[0] = (char)src[*i];
            k = 1;
        }
        *i += 1;
        return k;
    }
    if (k == 0) {
        memcpy(out, "\\ufffd", 6);
        *i += 1;
        return 6;
    }
    memcpy(out, src + *i, k);
    *i += k;
    return k;
}

static void check_log_escape(const unsigned char *src, size_t n, size_t cap, bool valid)
{
    char *dst = malloc(cap); /* exactly cap bytes */
    log_json_escape(dst, cap, (const char *)src, n);
    if (cap == 0) {
        free(dst);
        return;
    }
    FUZZCHECK(memchr(dst, '\0', cap) != NULL, "no NUL within %zu bytes", cap);
    size_t len = strlen(dst);

    /* The reference: whole pieces while they fit before the NUL. */
    char *want = malloc(6 * n + 1);
    size_t w = 0, i = 0;
    while (i < n) {
        char p[8];
        size_t at = i;
        size_t k = piece(src, n, &i, p);
        if (w + k >= cap) {
            i = at;
            break;
        }
        memcpy(want + w, p, k);
        w += k;
    }
    FUZZCHECK(len == w && memcmp(dst, want, w) == 0, "wrote %zu bytes \"%s\", want %zu \"%.*s\"",
              len, dst, w, (int)w, want);
    for (size_t k = 0; k < len;) {
        size_t step = fuzzcheck_utf8_seq_len((const unsigned char *)dst + k, len - k);
        FUZZCHECK(step > 0, "log_json_escape wrote ill-formed UTF-8 at byte %zu", k);
        k += step;
    }
    struct json_object *v = parse_quoted(dst, len, true);
    FUZZCHECK(v != NULL, "log_json_escape wrote \"%s\", not the inside of a JSON string", dst);
    if (i == n && valid) /* all of it, and nothing to replace */
        FUZZCHECK((size_t)json_object_get_string_len(v) == n &&
                      memcmp(json_object_get_string(v), src, n) == 0,
                  "log_json_escape of valid UTF-8 does not decode to it");
    json_object_put(v);
    free(want);
    free(dst);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool checked_bytes;
    if (!checked_bytes) {
        check_every_byte();
        checked_bytes = true;
    }
    if (size == 0)
        return 0;
    const unsigned char *src = data + 1;
    size_t n = size - 1;
    bool valid = fuzzcheck_utf8_valid((const char *)src, n);

    /* json_escape_byte over the text, as activity.c writes a string. */
    char *esc = malloc(JSON_ESCAPE_MAX * n + 1);
    size_t e = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = json_escape_byte(src[i], esc + e);
        if (k == 0)
            esc[e++] = (char)src[i];
        else
            e += k;
    }
    struct json_object *raw = parse_quoted(esc, e, false);
    FUZZCHECK(raw != NULL && (size_t)json_object_get_string_len(raw) == n &&
                  memcmp(json_object_get_string(raw), src, n) == 0,
              "the escaped text does not decode to the text");
    json_object_put(raw);
    /* json-c's own UTF-8 check is laxer than RFC 3629 (0.16 takes the overlong C0 BA), so only
     * one direction holds. */
    struct json_object *checked = parse_quoted(esc, e, true);
    FUZZCHECK(checked != NULL || !valid, "json-c's UTF-8 check refuses a well-formed text");
    json_object_put(checked);
    free(esc);

    /* log_json_escape with a buffer from 0 bytes to room for the longest escape of every byte. */
    static const size_t caps[] = {0, 1, 2, 3, 7, 8, 16, 64};
    size_t cap = data[0] < 8 ? caps[data[0]] : data[0] < 128 ? (size_t)data[0] : 6 * n + 1;
    check_log_escape(src, n, cap, valid);
    if (cap != 6 * n + 1)
        check_log_escape(src, n, 6 * n + 1, valid);
    return 0;
}
