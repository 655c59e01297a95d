/* SPDX-License-Identifier: MIT */
/*
 * The scanner exists because json-c 0.16, even with JSON_TOKENER_STRICT and
 * JSON_TOKENER_VALIDATE_UTF8, accepts single-quoted keys, NaN and Infinity, numbers such as
 * -01, 00 and 1., raw control characters inside strings, and anything after a NUL byte that
 * follows the document; it clamps integers beyond 64 bits without an error; and it keeps an
 * object key only up to its first NUL ("a\u0000b" becomes "a"), so a key containing NUL cannot
 * be seen in its tree at all. The scanner reads the bytes first and sees every key and every
 * number exactly as sent; json-c then builds the tree of a document the scanner accepted.
 *
 * The storable rules are why it also looks at values. A consumer must be able to store what the
 * API accepts, in MongoDB and in FerretDB (which refuses more), through libmongoc (whose default
 * insert validation refuses empty keys before any server sees them), so at every depth
 *   - a key must not be empty, start with '$', or contain '.' or NUL;
 *   - an array must not directly contain an array (arrays of objects holding arrays are fine);
 *   - an integer must fit in int64 (json-c would clamp it; BSON has nothing wider);
 *   - any other number must be finite as a double (1e309 overflows to infinity);
 *   - containers must not nest deeper than the caller's limit.
 *
 * On the happy path the scanner does little work: a key is decoded only if it holds an escape,
 * only numbers with a fraction or an exponent are converted, and the path to a value is a chain
 * of stack frames (jsonpath_seg_t) that the caller renders only when it reports an error.
 */
#include "common/jsonscan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/hexdig.h"

#define NUMBER_BUF 64 /* a number token shorter than this is copied to the stack for strtod */

/* The storable rules; a bit each in jsonscan_rules_t.reported. */
enum rule {
    RULE_DEEP,
    RULE_DOLLAR,
    RULE_DOT,
    RULE_EMPTY,
    RULE_NUL,
    RULE_INT,
    RULE_INF,
    RULE_NESTED
};

static const char *const rule_what[] = {
    [RULE_DEEP] = NULL, /* formatted with the limit */
    [RULE_DOLLAR] = "keys must not start with '$'",
    [RULE_DOT] = "keys must not contain '.'",
    [RULE_EMPTY] = "keys must not be empty",
    [RULE_NUL] = "keys must not contain NUL characters",
    [RULE_INT] = "integers must fit in 64 bits",
    [RULE_INF] = "numbers must be finite",
    [RULE_NESTED] = "arrays must not contain arrays directly",
};

/* Whether rule may still be reported: the scan applies the rules and has not reported it yet. */
static bool pending(const jsonscan_rules_t *r, enum rule rule)
{
    return r != NULL && (r->reported & 1u << rule) == 0;
}

static void report(jsonscan_rules_t *r, enum rule rule, const jsonpath_seg_t *at)
{
    char deep[48];
    const char *what = rule_what[rule];
    if (rule == RULE_DEEP) {
        snprintf(deep, sizeof(deep), "must not nest deeper than %d levels", r->depth_max);
        what = deep;
    }
    r->reported |= 1u << rule;
    r->problem_cb(r->ctx, what, at);
}

static int fail(jsonscan_t *s, int rc, const char *why)
{
    if (s->error == NULL) {
        s->error = why;
        s->error_at = (size_t)(s->p - s->begin);
    }
    return rc;
}

static void skip_ws(jsonscan_t *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static bool at_byte(const jsonscan_t *s, unsigned char c)
{
    return s->p < s->end && *s->p == c;
}

static bool at_digit(const jsonscan_t *s)
{
    return s->p < s->end && *s->p >= '0' && *s->p <= '9';
}

/* Scans the string at the cursor (its opening quote). */
static int scan_string(jsonscan_t *s)
{
    s->p++;
    for (;;) {
        while (s->p < s->end && *s->p >= 0x20 && *s->p != '"' && *s->p != '\\')
            s->p++;
        if (s->p >= s->end)
            return fail(s, ERR_PARSE, "unterminated string");
        if (*s->p == '"') {
            s->p++;
            return 0;
        }
        if (*s->p < 0x20)
            return fail(s, ERR_PARSE, "unescaped control character in a string");
        s->p++;
        if (s->p >= s->end)
            return fail(s, ERR_PARSE, "unterminated string");
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
                if (s->p >= s->end || hexdig_value(*s->p) < 0)
                    return fail(s, ERR_PARSE, "invalid \\u escape");
            break;
        default:
            return fail(s, ERR_PARSE, "invalid escape sequence");
        }
    }
}

/* Scans a member's key and the ':' after it into k; returns 1 with the cursor on the value. */
static int scan_key(jsonscan_t *s, jsonpath_key_t *k)
{
    if (!at_byte(s, '"'))
        return fail(s, ERR_PARSE, "expected a string key");
    const unsigned char *begin = s->p + 1;
    int rc = scan_string(s);
    if (rc < 0)
        return rc;
    jsonpath_key_init(k, (const char *)begin, (size_t)(s->p - 1 - begin));
    skip_ws(s);
    if (!at_byte(s, ':'))
        return fail(s, ERR_PARSE, "expected ':' after a key");
    s->p++;
    skip_ws(s);
    return 1;
}

/* Steps into the container at the cursor. */
static int enter(jsonscan_t *s)
{
    if (s->depth >= JSONSCAN_DEPTH_MAX)
        return fail(s, ERR_RANGE, "nested too deeply");
    s->depth++;
    s->p++;
    skip_ws(s);
    return 0;
}

/* Steps out of the container when the cursor is on its closing byte. */
static bool leave(jsonscan_t *s, unsigned char close)
{
    if (!at_byte(s, close))
        return false;
    s->p++;
    s->depth--;
    return true;
}

/* After a member or an element: 1 past a ',' (cursor on what follows), 0 past the close. */
static int next_item(jsonscan_t *s, unsigned char close, const char *unterminated,
                     const char *expected)
{
    skip_ws(s);
    if (s->p >= s->end)
        return fail(s, ERR_PARSE, unterminated);
    if (leave(s, close))
        return 0;
    if (*s->p != ',')
        return fail(s, ERR_PARSE, expected);
    s->p++;
    skip_ws(s);
    return 1;
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
 * decimal point for both); the document is not NUL-terminated, so strtod reads a copy. */
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
 * r: the storable rules when they apply (else NULL); at: the number's path. */
static int scan_number(jsonscan_t *s, jsonscan_rules_t *r, const jsonpath_seg_t *at)
{
    bool negative = false, integer = true;
    const unsigned char *token = s->p;

    if (*s->p == '-') {
        negative = true;
        s->p++;
    }
    const unsigned char *digits = s->p;
    if (!at_digit(s))
        return fail(s, ERR_PARSE, "invalid number");
    if (*s->p == '0')
        s->p++;
    else
        while (at_digit(s))
            s->p++;
    size_t ndigits = (size_t)(s->p - digits);
    if (at_byte(s, '.')) {
        integer = false;
        s->p++;
        if (!at_digit(s))
            return fail(s, ERR_PARSE, "invalid number");
        while (at_digit(s))
            s->p++;
    }
    if (at_byte(s, 'e') || at_byte(s, 'E')) {
        integer = false;
        s->p++;
        if (at_byte(s, '+') || at_byte(s, '-'))
            s->p++;
        if (!at_digit(s))
            return fail(s, ERR_PARSE, "invalid number");
        while (at_digit(s))
            s->p++;
    }
    /* json-c would clamp such an integer silently, and BSON has no wider integer type. */
    if (integer && pending(r, RULE_INT) && !fits_int64(digits, ndigits, negative))
        report(r, RULE_INT, at);
    /* 1e309 is a double to json-c: infinity, which FerretDB cannot store. */
    if (!integer && pending(r, RULE_INF) && !number_is_finite(token, (size_t)(s->p - token)))
        report(r, RULE_INF, at);
    return 0;
}

static int scan_literal(jsonscan_t *s, const char *lit, size_t n)
{
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n) != 0)
        return fail(s, ERR_PARSE, "invalid literal");
    s->p += n;
    return 0;
}

static int scan_value(jsonscan_t *s, jsonscan_rules_t *r, int level, const jsonpath_seg_t *at);

static void check_key(jsonscan_rules_t *r, const jsonpath_key_t *k, const jsonpath_seg_t *seg)
{
    if (k->dollar && pending(r, RULE_DOLLAR))
        report(r, RULE_DOLLAR, seg);
    if (k->dot && pending(r, RULE_DOT))
        report(r, RULE_DOT, seg);
    if (k->len == 0 && pending(r, RULE_EMPTY))
        report(r, RULE_EMPTY, seg);
    if (k->has_nul && pending(r, RULE_NUL))
        report(r, RULE_NUL, seg);
}

/* Scans the object or array at the cursor, member by member or element by element. level: its
 * nesting level under the rules (the scanned value is 1); at: its path. */
static int scan_container(jsonscan_t *s, jsonscan_rules_t *r, int level, const jsonpath_seg_t *at)
{
    bool object = *s->p == '{';
    jsonpath_key_t k;
    unsigned i = 0;

    if (pending(r, RULE_DEEP) && level > r->depth_max)
        report(r, RULE_DEEP, at);
    int rc = object ? jsonscan_object_open(s, &k) : jsonscan_array_open(s);
    for (; rc > 0; rc = object ? jsonscan_object_next(s, &k) : jsonscan_array_next(s), i++) {
        jsonpath_seg_t seg = {at, object ? &k : NULL, i};
        if (object)
            check_key(r, &k, &seg);
        /* FerretDB refuses nested arrays; an array of objects holding arrays is fine. */
        else if (at_byte(s, '[') && pending(r, RULE_NESTED))
            report(r, RULE_NESTED, &seg);
        rc = scan_value(s, r, level + 1, &seg);
        if (rc < 0)
            return rc;
    }
    return rc;
}

/* r: the storable rules, or NULL for grammar only; level and at: the value's level and path. */
static int scan_value(jsonscan_t *s, jsonscan_rules_t *r, int level, const jsonpath_seg_t *at)
{
    if (s->p >= s->end)
        return fail(s, ERR_PARSE, "unexpected end of input");
    switch (*s->p) {
    case '{':
    case '[':
        return scan_container(s, r, level, at);
    case '"':
        return scan_string(s);
    case 't':
        return scan_literal(s, "true", 4);
    case 'f':
        return scan_literal(s, "false", 5);
    case 'n':
        return scan_literal(s, "null", 4);
    default:
        if (*s->p == '-' || (*s->p >= '0' && *s->p <= '9'))
            return scan_number(s, r, at);
        return fail(s, ERR_PARSE, "unexpected character");
    }
}

void jsonscan_init(jsonscan_t *s, const char *doc, size_t len)
{
    ASSERT(doc != NULL || len == 0);
    s->begin = s->p = (const unsigned char *)doc;
    s->end = len > 0 ? s->begin + len : s->begin;
    s->depth = 0;
    s->error = NULL;
    s->error_at = 0;
    skip_ws(s);
}

void jsonscan_rules_init(jsonscan_rules_t *r, int depth_max, jsonscan_problem_cb *problem_cb,
                         void *ctx)
{
    ASSERT(depth_max > 0 && problem_cb != NULL);
    r->depth_max = depth_max;
    r->problem_cb = problem_cb;
    r->ctx = ctx;
    r->reported = 0;
}

bool jsonscan_is_object(const jsonscan_t *s)
{
    return at_byte(s, '{');
}

int jsonscan_object_open(jsonscan_t *s, jsonpath_key_t *k)
{
    ASSERT(at_byte(s, '{'));
    int rc = enter(s);
    if (rc < 0)
        return rc;
    return leave(s, '}') ? 0 : scan_key(s, k);
}

int jsonscan_object_next(jsonscan_t *s, jsonpath_key_t *k)
{
    int rc = next_item(s, '}', "unterminated object", "expected ',' or '}'");
    return rc > 0 ? scan_key(s, k) : rc;
}

int jsonscan_array_open(jsonscan_t *s)
{
    ASSERT(at_byte(s, '['));
    int rc = enter(s);
    if (rc < 0)
        return rc;
    return leave(s, ']') ? 0 : 1;
}

int jsonscan_array_next(jsonscan_t *s)
{
    return next_item(s, ']', "unterminated array", "expected ',' or ']'");
}

int jsonscan_value(jsonscan_t *s)
{
    return scan_value(s, NULL, 0, NULL);
}

int jsonscan_storable(jsonscan_t *s, jsonscan_rules_t *r, const jsonpath_seg_t *at)
{
    ASSERT(r != NULL);
    return scan_value(s, r, 1, at);
}

int jsonscan_finish(jsonscan_t *s)
{
    skip_ws(s);
    if (s->p != s->end)
        return fail(s, ERR_PARSE, "unexpected data after the document");
    return 0;
}
