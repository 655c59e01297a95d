/* SPDX-License-Identifier: MIT */
/*
 * Two passes over a body. A strict scanner reads the raw bytes first: it checks the UTF-8
 * (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF) and the JSON grammar
 * (RFC 8259), and it sees every object key exactly as sent. Then json-c builds the tree the
 * field rules and the rest of the program use.
 *
 * The scanner exists because json-c 0.16, even with JSON_TOKENER_STRICT and
 * JSON_TOKENER_VALIDATE_UTF8, accepts single-quoted keys, NaN and Infinity, numbers such as
 * -01, 00 and 1., raw control characters inside strings, overlong and surrogate UTF-8, and
 * anything after a NUL byte that follows the document; it clamps integers beyond 64 bits
 * without an error; and it keeps an object key only up to its first NUL ("a\u0000b" becomes
 * "a"), so a key containing NUL cannot be seen in its tree at all.
 *
 * The scanner also applies the payload rules: it sees every key as sent and every number as
 * written, and some rules concern what json-c hides or changes. The consumer must be able to
 * store what the API accepts, in MongoDB and in FerretDB (which refuses more), through libmongoc
 * (whose default insert validation refuses empty keys before any server sees them), so at every
 * depth of the payload
 *   - a key must not be empty, start with '$', or contain '.' or NUL;
 *   - an array must not directly contain an array (arrays of objects holding arrays are fine);
 *   - an integer must fit in int64 (json-c would clamp it; BSON has nothing wider);
 *   - any other number must be finite as a double (1e309 overflows to infinity);
 *   - containers must not nest deeper than ACTIVITY_PAYLOAD_DEPTH_MAX.
 * Each rule is reported at most once, with the path of its first occurrence in the document.
 * A path is "payload", then ".key" for a member and "[i]" for an element; a key that is empty or
 * holds '.', '[', ']', '"', '\' or a control character is written ["..."] instead, with '"'
 * and '\' escaped and controls as \u00XX, so that every path reads back one way only.
 *
 * The scanner does little work for messages on the happy path: a key is a span of the body,
 * decoded only if it holds an escape; only numbers with a fraction or an exponent are converted;
 * and the path to a payload value is a chain of stack frames that is rendered as text only when
 * an error is reported.
 *
 * Duplicate keys are accepted: json-c keeps the last value of a repeated key, in the payload and
 * at the top level alike, and the field rules check that value. The scanner's key and payload
 * rules see every occurrence, so a repeated key can make a body fail but never lets an
 * unchecked value through.
 */
#include "common/validate.h"

#include <json-c/json.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/idgen.h"
#include "common/rfc3339.h"

/* Containers (objects and arrays) the body may nest, the root object included. Well above what a
 * valid event needs (root + ACTIVITY_PAYLOAD_DEPTH_MAX), so a payload a few levels too deep gets
 * the precise "payload" error; this bound only limits the scanner's recursion and json-c. */
#define BODY_DEPTH_MAX 64

#define KEY_NAME_MAX 16  /* decoded bytes of an escaped key kept to match the known names */
#define PATH_CAP     112 /* rendered payload path bytes in a message, before "..." */
#define NUMBER_BUF   64  /* a number token shorter than this is copied to the stack for strtod */

#define TIMESTAMP_HINT "must be an RFC 3339 date-time with offset, e.g. 2023-10-27T10:00:00Z"

/* Top-level fields, in the order their errors are reported. */
enum field { F_ID, F_USER_ID, F_EVENT_TYPE, F_TIMESTAMP, F_PAYLOAD, F_RECEIVED_AT, F_COUNT };

static const struct {
    const char *name;
    size_t len;
} fields[F_COUNT] = {
#define FIELD(s)                                                                                   \
    {                                                                                              \
        s, sizeof(s) - 1                                                                           \
    }
    FIELD("id"),        FIELD("userId"),  FIELD("eventType"),
    FIELD("timestamp"), FIELD("payload"), FIELD("receivedAt"),
#undef FIELD
};

/* An object key: a span of the body between the quotes, plus what the rules need to know. */
typedef struct member_key {
    const unsigned char *begin, *end;
    bool escaped;     /* holds a backslash: name is a decoded copy */
    bool dollar;      /* the first character is '$' */
    bool dot;         /* holds a '.' */
    bool has_nul;     /* decodes to a string containing U+0000 */
    size_t len;       /* decoded length in bytes */
    const char *name; /* the decoded bytes; only the first KEY_NAME_MAX when escaped */
    char buf[KEY_NAME_MAX];
} member_key_t;

/* One step of the path from the payload down to a value: an object member or an array element.
 * Lives on the scanner's stack; rendered only for a message. */
typedef struct path_seg {
    const struct path_seg *up;
    const member_key_t *key; /* NULL for an array element */
    unsigned index;
} path_seg_t;

typedef struct scanner {
    const unsigned char *begin, *p, *end;
    bool message;           /* receivedAt is a known field */
    validate_report_t *rep; /* field errors found while scanning */
    const char *syntax;     /* the first syntax error, or NULL */
    size_t syntax_at;
    bool too_deep;
    bool reported_deep, reported_dollar, reported_dot, reported_empty, reported_nul, reported_int,
        reported_inf, reported_nested;
} scanner_t;

/* Bounded text for messages: pieces that do not fit whole are dropped and "..." is added. */
typedef struct text {
    char *buf;
    size_t cap; /* content bytes before the "..."; buf holds cap + 4 */
    size_t len;
    bool cut;
} text_t;

static void report_add(validate_report_t *rep, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void report_add(validate_report_t *rep, const char *field, const char *fmt, ...)
{
    va_list ap;
    rep->total++;
    if (rep->count >= VALIDATE_ERRORS_MAX)
        return;
    validate_error_t *e = &rep->errors[rep->count++];
    snprintf(e->field, sizeof(e->field), "%s", field);
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
}

/* ---- UTF-8 ---------------------------------------------------------------------------------- */

/* Returns the offset of the first byte that does not start a well-formed UTF-8 sequence
 * (RFC 3629, table 3-7 of Unicode), or len if all of s is well-formed. */
static size_t utf8_invalid_at(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned char lo = 0x80, hi = 0xbf;
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            if (c == 0xe0)
                lo = 0xa0; /* overlong */
            else if (c == 0xed)
                hi = 0x9f; /* UTF-16 surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            if (c == 0xf0)
                lo = 0x90; /* overlong */
            else if (c == 0xf4)
                hi = 0x8f; /* above U+10FFFF */
        } else {
            return i;
        }
        if (len - i - 1 < n || s[i + 1] < lo || s[i + 1] > hi)
            return i;
        for (size_t k = 2; k <= n; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return i;
        i += n + 1;
    }
    return len;
}

/* Decodes the code point at s[*i] (bounded by len) and advances *i. Malformed input yields
 * U+FFFD for one byte; callers only pass text that is already known to be well-formed. */
static uint32_t utf8_next(const unsigned char *s, size_t len, size_t *i)
{
    unsigned char c = s[*i];
    size_t n = c < 0x80 ? 0 : c < 0xe0 ? 1 : c < 0xf0 ? 2 : 3;
    uint32_t cp = n == 0 ? c : n == 1 ? (c & 0x1fu) : n == 2 ? (c & 0x0fu) : (c & 0x07u);
    if (len - *i - 1 < n || (c >= 0x80 && c < 0xc2)) {
        (*i)++;
        return 0xfffd;
    }
    for (size_t k = 1; k <= n; k++)
        cp = cp << 6 | (s[*i + k] & 0x3fu);
    *i += n + 1;
    return cp;
}

static size_t utf8_encode(uint32_t cp, char out[4])
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* C0, DEL and C1 controls. */
static bool is_control(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

/* The Unicode White_Space property. */
static bool is_space(uint32_t cp)
{
    return (cp >= 0x09 && cp <= 0x0d) || cp == 0x20 || cp == 0x85 || cp == 0xa0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f ||
           cp == 0x205f || cp == 0x3000;
}

/* ---- JSON string content, decoded as json-c decodes it -------------------------------------- */

static uint32_t hex4(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = p[i];
        v = v << 4 | (uint32_t)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
}

/* Decodes the next code point of string content at *pp (before end), which the scanner has
 * already checked. Like json-c, a surrogate pair becomes one code point and a lone surrogate
 * becomes U+FFFD. */
static uint32_t string_next(const unsigned char **pp, const unsigned char *end)
{
    const unsigned char *p = *pp;
    if (*p != '\\') {
        size_t i = 0;
        uint32_t cp = utf8_next(p, (size_t)(end - p), &i);
        *pp = p + i;
        return cp;
    }
    *pp = p + 2;
    switch (p[1]) {
    case 'b':
        return '\b';
    case 'f':
        return '\f';
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    case 'u':
        break;
    default: /* '"', '\\' and '/' stand for themselves */
        return p[1];
    }
    uint32_t u = hex4(p + 2);
    *pp = p + 6;
    if (u >= 0xdc00 && u <= 0xdfff)
        return 0xfffd;
    if (u >= 0xd800 && u <= 0xdbff) {
        const unsigned char *q = *pp;
        if (end - q >= 6 && q[0] == '\\' && q[1] == 'u') {
            uint32_t lo = hex4(q + 2);
            if (lo >= 0xdc00 && lo <= 0xdfff) {
                *pp = q + 6;
                return 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
            }
        }
        return 0xfffd;
    }
    return u;
}

/* ---- rendering keys and paths for messages -------------------------------------------------- */

static void text_put(text_t *t, const char *s, size_t n)
{
    if (t->cut)
        return;
    if (t->len + n > t->cap) {
        t->cut = true;
        return;
    }
    memcpy(t->buf + t->len, s, n);
    t->len += n;
}

static void text_finish(text_t *t)
{
    if (t->cut) {
        memcpy(t->buf + t->len, "...", 3);
        t->len += 3;
    }
    t->buf[t->len] = '\0';
}

/* Text for a key: its decoded characters, with controls (and NUL) written as \u00XX; when quoted
 * (inside ["..."] in a path), '"' and '\\' are escaped too. */
static void text_put_key(text_t *t, const member_key_t *k, bool quoted)
{
    const unsigned char *p = k->begin;
    char piece[8];
    while (p < k->end && !t->cut) {
        uint32_t cp = string_next(&p, k->end);
        size_t n;
        if (is_control(cp))
            n = (size_t)snprintf(piece, sizeof(piece), "\\u%04x", (unsigned)cp);
        else if (quoted && (cp == '"' || cp == '\\'))
            n = (size_t)snprintf(piece, sizeof(piece), "\\%c", (char)cp);
        else
            n = utf8_encode(cp, piece);
        text_put(t, piece, n);
    }
}

/* Whether a key must be written ["..."] in a path: written bare, it would read as another path
 * (a '.', '[' or ']'), or as another key (an escape sequence, or nothing at all). */
static bool key_needs_quotes(const member_key_t *k)
{
    const unsigned char *p = k->begin;
    if (p == k->end)
        return true;
    while (p < k->end) {
        uint32_t cp = string_next(&p, k->end);
        if (cp == '.' || cp == '[' || cp == ']' || cp == '"' || cp == '\\' || is_control(cp))
            return true;
    }
    return false;
}

/* Renders the path to seg, e.g. "payload.a[2].$x" or "payload.a[\"b.c\"]", into buf
 * (PATH_CAP + 4 bytes). */
static const char *render_path(const path_seg_t *seg, char *buf)
{
    const path_seg_t *chain[BODY_DEPTH_MAX + 2];
    size_t n = 0;
    text_t t = {buf, PATH_CAP, 0, false};

    for (; seg != NULL && n < sizeof(chain) / sizeof(chain[0]); seg = seg->up)
        chain[n++] = seg;
    while (n-- > 0) {
        if (chain[n]->key != NULL && key_needs_quotes(chain[n]->key)) {
            text_put(&t, "[\"", 2);
            text_put_key(&t, chain[n]->key, true);
            text_put(&t, "\"]", 2);
        } else if (chain[n]->key != NULL) {
            if (t.len > 0)
                text_put(&t, ".", 1);
            text_put_key(&t, chain[n]->key, false);
        } else {
            char idx[16];
            int len = snprintf(idx, sizeof(idx), "[%u]", chain[n]->index);
            text_put(&t, idx, (size_t)len);
        }
    }
    text_finish(&t);
    return buf;
}

static void report_payload(scanner_t *s, const path_seg_t *at, const char *what)
{
    char path[PATH_CAP + 4];
    report_add(s->rep, fields[F_PAYLOAD].name, "%s (%s)", what, render_path(at, path));
}

/* ---- the scanner ---------------------------------------------------------------------------- */

static int scan_fail(scanner_t *s, const char *why)
{
    if (s->syntax == NULL) {
        s->syntax = why;
        s->syntax_at = (size_t)(s->p - s->begin);
    }
    return -1;
}

static void skip_ws(scanner_t *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static bool at_digit(const scanner_t *s)
{
    return s->p < s->end && *s->p >= '0' && *s->p <= '9';
}

static bool is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/* Scans a string at s->p (the opening quote); sets *escaped if it holds a backslash. */
static int scan_string(scanner_t *s, bool *escaped)
{
    s->p++;
    for (;;) {
        while (s->p < s->end && *s->p >= 0x20 && *s->p != '"' && *s->p != '\\')
            s->p++;
        if (s->p >= s->end)
            return scan_fail(s, "unterminated string");
        if (*s->p == '"') {
            s->p++;
            return 0;
        }
        if (*s->p < 0x20)
            return scan_fail(s, "unescaped control character in a string");
        *escaped = true;
        s->p++;
        if (s->p >= s->end)
            return scan_fail(s, "unterminated string");
        switch (*s->p) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
            s->p++;
            break;
        case 'u':
            s->p++;
            for (int i = 0; i < 4; i++, s->p++)
                if (s->p >= s->end || !is_hex(*s->p))
                    return scan_fail(s, "invalid \\u escape");
            break;
        default:
            return scan_fail(s, "invalid escape sequence");
        }
    }
}

/* Scans a key at s->p into k. Only a key with escapes is decoded, into k->buf. */
static int scan_key(scanner_t *s, member_key_t *k)
{
    k->begin = s->p + 1;
    k->escaped = false;
    if (scan_string(s, &k->escaped) < 0)
        return -1;
    k->end = s->p - 1;
    k->has_nul = false;
    if (!k->escaped) {
        k->dollar = k->begin < k->end && *k->begin == '$';
        k->len = (size_t)(k->end - k->begin);
        k->dot = memchr(k->begin, '.', k->len) != NULL;
        k->name = (const char *)k->begin;
        return 0;
    }
    k->len = 0;
    k->name = k->buf;
    k->dot = false;
    for (const unsigned char *p = k->begin; p < k->end;) {
        char enc[4];
        uint32_t cp = string_next(&p, k->end);
        size_t n = utf8_encode(cp, enc);
        if (k->len == 0)
            k->dollar = cp == '$';
        if (cp == 0)
            k->has_nul = true;
        if (cp == '.')
            k->dot = true;
        if (k->len + n <= KEY_NAME_MAX)
            memcpy(k->buf + k->len, enc, n);
        k->len += n;
    }
    return 0;
}

static bool key_is(const member_key_t *k, enum field f)
{
    return k->len == fields[f].len && (!k->escaped || k->len <= KEY_NAME_MAX) &&
           memcmp(k->name, fields[f].name, k->len) == 0;
}

/* Whether the decimal digits d[0..n) (no leading zeros) fit in int64_t with the given sign. */
static bool fits_int64(const unsigned char *d, size_t n, bool negative)
{
    static const char max[] = "9223372036854775807";
    static const char min[] = "9223372036854775808";
    if (n != sizeof(max) - 1)
        return n < sizeof(max) - 1;
    return memcmp(d, negative ? min : max, n) <= 0;
}

/* Whether the number token t[0..n), already checked against the JSON grammar, is finite as a
 * double. json-c converts it with strtod too (the program keeps the "C" locale, so '.' is the
 * decimal point for both); the body is not NUL-terminated, so strtod reads a copy. */
static bool number_is_finite(const unsigned char *t, size_t n)
{
    char small[NUMBER_BUF];
    char *copy = n < sizeof(small) ? small : xmalloc(n + 1);
    memcpy(copy, t, n);
    copy[n] = '\0';
    bool finite = isfinite(strtod(copy, NULL));
    if (copy != small)
        free(copy);
    return finite;
}

/* RFC 8259 number: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
 * at: the number's path when it is inside the payload, else NULL. */
static int scan_number(scanner_t *s, const path_seg_t *at)
{
    bool negative = false, integer = true;
    const unsigned char *token = s->p;

    if (*s->p == '-') {
        negative = true;
        s->p++;
    }
    const unsigned char *digits = s->p;
    if (!at_digit(s))
        return scan_fail(s, "invalid number");
    if (*s->p == '0')
        s->p++;
    else
        while (at_digit(s))
            s->p++;
    size_t ndigits = (size_t)(s->p - digits);
    if (s->p < s->end && *s->p == '.') {
        integer = false;
        s->p++;
        if (!at_digit(s))
            return scan_fail(s, "invalid number");
        while (at_digit(s))
            s->p++;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        integer = false;
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            s->p++;
        if (!at_digit(s))
            return scan_fail(s, "invalid number");
        while (at_digit(s))
            s->p++;
    }
    /* json-c would clamp such an integer silently, and BSON has no wider integer type. */
    if (integer && at != NULL && !s->reported_int && !fits_int64(digits, ndigits, negative)) {
        s->reported_int = true;
        report_payload(s, at, "integers must fit in 64 bits");
    }
    /* 1e309 is a double to json-c: infinity, which FerretDB cannot store. */
    if (!integer && at != NULL && !s->reported_inf &&
        !number_is_finite(token, (size_t)(s->p - token))) {
        s->reported_inf = true;
        report_payload(s, at, "numbers must be finite");
    }
    return 0;
}

static int scan_literal(scanner_t *s, const char *lit, size_t n)
{
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n) != 0)
        return scan_fail(s, "invalid literal");
    s->p += n;
    return 0;
}

static int scan_value(scanner_t *s, int depth, int plevel, const path_seg_t *at);

/* Opens the container at s->p. depth: containers open around it, this one included. plevel: its
 * payload nesting level (1 = the payload itself), 0 outside the payload; at: its path there. */
static int scan_open(scanner_t *s, int depth, int plevel, const path_seg_t *at)
{
    if (depth > BODY_DEPTH_MAX) {
        s->too_deep = true;
        return scan_fail(s, "nested too deeply");
    }
    if (plevel > ACTIVITY_PAYLOAD_DEPTH_MAX && !s->reported_deep) {
        s->reported_deep = true;
        char what[48];
        snprintf(what, sizeof(what), "must not nest deeper than %d levels",
                 ACTIVITY_PAYLOAD_DEPTH_MAX);
        report_payload(s, at, what);
    }
    s->p++;
    skip_ws(s);
    return 0;
}

/* A key of the root object: names an unknown field, or starts the payload. Returns whether the
 * member's value is the payload object, whose keys and depth the scanner checks. */
static bool scan_top_key(scanner_t *s, const member_key_t *k)
{
    for (int f = 0; f < F_COUNT; f++) {
        if ((f == F_RECEIVED_AT && !s->message) || !key_is(k, (enum field)f))
            continue;
        /* Any payload other than an object gets "must be an object" from the field rules. */
        return f == F_PAYLOAD && s->p < s->end && *s->p == '{';
    }
    char name[VALIDATE_FIELD_MAX];
    text_t t = {name, sizeof(name) - 4, 0, false};
    text_put_key(&t, k, false);
    text_finish(&t);
    report_add(s->rep, name, "unknown field");
    return false;
}

static int scan_object(scanner_t *s, int depth, int plevel, const path_seg_t *at)
{
    if (scan_open(s, depth, plevel, at) < 0)
        return -1;
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        return 0;
    }
    for (;;) {
        member_key_t k;
        path_seg_t seg = {at, &k, 0};
        if (s->p >= s->end || *s->p != '"')
            return scan_fail(s, "expected a string key");
        if (scan_key(s, &k) < 0)
            return -1;
        skip_ws(s);
        if (s->p >= s->end || *s->p != ':')
            return scan_fail(s, "expected ':' after a key");
        s->p++;
        skip_ws(s);

        int child = plevel > 0 ? plevel + 1 : 0;
        if (depth == 1) {
            child = scan_top_key(s, &k) ? 1 : 0;
        } else if (plevel > 0) {
            if (k.dollar && !s->reported_dollar) {
                s->reported_dollar = true;
                report_payload(s, &seg, "keys must not start with '$'");
            }
            if (k.dot && !s->reported_dot) {
                s->reported_dot = true;
                report_payload(s, &seg, "keys must not contain '.'");
            }
            if (k.len == 0 && !s->reported_empty) {
                s->reported_empty = true;
                report_payload(s, &seg, "keys must not be empty");
            }
            if (k.has_nul && !s->reported_nul) {
                s->reported_nul = true;
                report_payload(s, &seg, "keys must not contain NUL characters");
            }
        }
        if (scan_value(s, depth, child, child > 0 ? &seg : NULL) < 0)
            return -1;

        skip_ws(s);
        if (s->p >= s->end)
            return scan_fail(s, "unterminated object");
        if (*s->p == '}') {
            s->p++;
            return 0;
        }
        if (*s->p != ',')
            return scan_fail(s, "expected ',' or '}'");
        s->p++;
        skip_ws(s);
    }
}

static int scan_array(scanner_t *s, int depth, int plevel, const path_seg_t *at)
{
    if (scan_open(s, depth, plevel, at) < 0)
        return -1;
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        return 0;
    }
    for (unsigned i = 0;; i++) {
        path_seg_t seg = {at, NULL, i};
        int child = plevel > 0 ? plevel + 1 : 0;
        /* FerretDB refuses nested arrays; an array of objects holding arrays is fine. */
        if (child > 0 && s->p < s->end && *s->p == '[' && !s->reported_nested) {
            s->reported_nested = true;
            report_payload(s, &seg, "arrays must not contain arrays directly");
        }
        if (scan_value(s, depth, child, child > 0 ? &seg : NULL) < 0)
            return -1;

        skip_ws(s);
        if (s->p >= s->end)
            return scan_fail(s, "unterminated array");
        if (*s->p == ']') {
            s->p++;
            return 0;
        }
        if (*s->p != ',')
            return scan_fail(s, "expected ',' or ']'");
        s->p++;
        skip_ws(s);
    }
}

/* plevel and at describe the value as scan_open does; for a scalar only at matters. */
static int scan_value(scanner_t *s, int depth, int plevel, const path_seg_t *at)
{
    bool escaped = false;
    if (s->p >= s->end)
        return scan_fail(s, "unexpected end of input");
    switch (*s->p) {
    case '{':
        return scan_object(s, depth + 1, plevel, at);
    case '[':
        return scan_array(s, depth + 1, plevel, at);
    case '"':
        return scan_string(s, &escaped);
    case 't':
        return scan_literal(s, "true", 4);
    case 'f':
        return scan_literal(s, "false", 5);
    case 'n':
        return scan_literal(s, "null", 4);
    default:
        if (*s->p == '-' || (*s->p >= '0' && *s->p <= '9'))
            return scan_number(s, at);
        return scan_fail(s, "unexpected character");
    }
}

/* ---- field rules on the json-c tree -------------------------------------------------------- */

static bool text_has_control(const unsigned char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] < 0x20 || s[i] == 0x7f)
            return true;
        if (s[i] == 0xc2 && i + 1 < len && s[i + 1] >= 0x80 && s[i + 1] <= 0x9f)
            return true; /* C1: U+0080..U+009F */
    }
    return false;
}

static bool text_is_blank(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len)
        if (!is_space(utf8_next(s, len, &i)))
            return false;
    return true;
}

static bool get_string(json_object *v, const char **str, size_t *len)
{
    if (!json_object_is_type(v, json_type_string))
        return false;
    *str = json_object_get_string(v);
    *len = (size_t)json_object_get_string_len(v);
    return true;
}

/* userId and eventType. */
static void check_name(validate_report_t *rep, enum field f, json_object *v, const char **out,
                       size_t *out_len)
{
    const char *str;
    size_t len;
    const char *name = fields[f].name;

    if (!get_string(v, &str, &len))
        report_add(rep, name, "must be a string");
    else if (len == 0)
        report_add(rep, name, "must not be empty");
    else if (len > ACTIVITY_FIELD_MAX)
        report_add(rep, name, "must be at most %d bytes", ACTIVITY_FIELD_MAX);
    else if (text_has_control((const unsigned char *)str, len))
        report_add(rep, name, "must not contain control characters");
    else if (text_is_blank((const unsigned char *)str, len))
        report_add(rep, name, "must not be only whitespace");
    else {
        *out = str;
        *out_len = len;
    }
}

static bool check_time(validate_report_t *rep, enum field f, json_object *v, const char **out,
                       size_t *out_len, int64_t *ms)
{
    const char *str;
    size_t len;
    err_t e;

    if (!get_string(v, &str, &len)) {
        report_add(rep, fields[f].name, "must be a string");
        return false;
    }
    int rc = rfc3339_parse(str, len, ms, &e);
    if (rc == ERR_RANGE) {
        report_add(rep, fields[f].name, "must be a valid date-time (%s)", e.msg);
        return false;
    }
    if (rc < 0) {
        report_add(rep, fields[f].name, TIMESTAMP_HINT);
        return false;
    }
    if (out != NULL) {
        *out = str;
        *out_len = len;
    }
    return true;
}

static void check_id(validate_report_t *rep, json_object *v, char *out)
{
    const char *str;
    size_t len;
    uint8_t id[16];
    err_t e;

    if (!get_string(v, &str, &len))
        report_add(rep, fields[F_ID].name, "must be a string");
    else if (idgen_parse(str, len, id, &e) < 0)
        report_add(rep, fields[F_ID].name, "%s", e.msg);
    else
        idgen_format(id, out);
}

/* ---- entry points --------------------------------------------------------------------------- */

static int body_error(validate_report_t *rep, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int body_error(validate_report_t *rep, const char *fmt, ...)
{
    va_list ap;
    char msg[VALIDATE_MESSAGE_MAX];
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    rep->count = rep->total = 0;
    report_add(rep, "body", "%s", msg);
    return ERR_INVAL;
}

static json_object *parse_tree(const char *body, size_t len)
{
    /* One more level than the scanner allows: json-c counts the scalars inside the deepest
     * container as a level of their own. */
    struct json_tokener *tok = json_tokener_new_ex(BODY_DEPTH_MAX + 1);
    if (tok == NULL)
        PANIC("out of memory creating a JSON tokener");
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    json_object *root = json_tokener_parse_ex(tok, body, (int)len);
    if (root != NULL && (json_tokener_get_error(tok) != json_tokener_success ||
                         json_tokener_get_parse_end(tok) != len)) {
        json_object_put(root);
        root = NULL;
    }
    json_tokener_free(tok);
    return root;
}

static int validate(const char *body, size_t len, bool message, activity_t *out,
                    validate_report_t *rep)
{
    validate_report_t found; /* what the scanner reports, appended after the field rules */
    scanner_t s;
    json_object *v[F_COUNT];

    ASSERT(out != NULL && rep != NULL);
    memset(out, 0, sizeof(*out));
    rep->count = rep->total = 0;
    if (body == NULL)
        len = 0;

    const unsigned char *b = (const unsigned char *)body;
    size_t first = 0;
    while (first < len &&
           (b[first] == ' ' || b[first] == '\t' || b[first] == '\n' || b[first] == '\r'))
        first++;
    if (first == len)
        return body_error(rep, "must not be empty");
    if (len > INT_MAX)
        return body_error(rep, "is too large");
    size_t bad = utf8_invalid_at(b, len);
    if (bad != len)
        return body_error(rep, "must be valid UTF-8 (invalid byte at offset %zu)", bad);

    memset(&s, 0, sizeof(s));
    found.count = found.total = 0;
    s.begin = s.p = b;
    s.end = b + len;
    s.message = message;
    s.rep = &found;
    skip_ws(&s);
    if (scan_value(&s, 0, 0, NULL) == 0) {
        skip_ws(&s);
        if (s.p != s.end)
            scan_fail(&s, "unexpected data after the document");
    }
    if (s.too_deep)
        return body_error(rep, "must not nest deeper than %d levels", BODY_DEPTH_MAX);
    if (s.syntax != NULL)
        return body_error(rep, "must be valid JSON (%s at offset %zu)", s.syntax, s.syntax_at);
    if (b[first] != '{')
        return body_error(rep, "must be a JSON object");

    json_object *root = parse_tree(body, len);
    if (root == NULL || !json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return body_error(rep, "must be valid JSON");
    }

    for (int f = 0; f < F_COUNT; f++) {
        /* A JSON null is present with v[f] == NULL: it fails the type checks below. */
        bool present = json_object_object_get_ex(root, fields[f].name, &v[f]);
        bool required = f != F_ID || message;
        if (f == F_RECEIVED_AT && !message)
            continue;
        if (!present) {
            if (required)
                report_add(rep, fields[f].name, "is required");
            continue;
        }
        switch ((enum field)f) {
        case F_ID:
            check_id(rep, v[f], out->id);
            break;
        case F_USER_ID:
            check_name(rep, F_USER_ID, v[f], &out->user_id, &out->user_id_len);
            break;
        case F_EVENT_TYPE:
            check_name(rep, F_EVENT_TYPE, v[f], &out->event_type, &out->event_type_len);
            break;
        case F_TIMESTAMP:
            check_time(rep, F_TIMESTAMP, v[f], &out->timestamp, &out->timestamp_len,
                       &out->timestamp_ms);
            break;
        case F_PAYLOAD:
            if (json_object_is_type(v[f], json_type_object))
                out->payload = v[f];
            else
                report_add(rep, fields[f].name, "must be an object");
            break;
        case F_RECEIVED_AT:
            check_time(rep, F_RECEIVED_AT, v[f], NULL, NULL, &out->received_ms);
            break;
        case F_COUNT:
            break;
        }
    }
    for (unsigned i = 0; i < found.count; i++)
        report_add(rep, found.errors[i].field, "%s", found.errors[i].message);
    rep->total += found.total - found.count;

    if (rep->total > 0) {
        json_object_put(root);
        memset(out, 0, sizeof(*out));
        return ERR_INVAL;
    }
    out->root = root;
    return 0;
}

int validate_request(const char *body, size_t len, activity_t *out, validate_report_t *rep)
{
    return validate(body, len, false, out, rep);
}

int validate_message(const char *body, size_t len, activity_t *out, validate_report_t *rep)
{
    return validate(body, len, true, out, rep);
}
