/* SPDX-License-Identifier: MIT */
#include "common/jsonscan.h"

#include <check.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

#include "unit_main.h"

/* ---- what a scan reports ------------------------------------------------------------------ */

#define FOUND_MAX 8

typedef struct found {
    unsigned count;
    char what[FOUND_MAX][64];
    char path[FOUND_MAX][128];
} found_t;

static void record_cb(void *ctx, const char *what, const jsonpath_seg_t *at)
{
    found_t *f = ctx;
    ck_assert_uint_lt(f->count, FOUND_MAX);
    snprintf(f->what[f->count], sizeof(f->what[0]), "%s", what);
    jsonpath_format(at, f->path[f->count], sizeof(f->path[0]));
    f->count++;
}

/* Scans doc as a whole document, grammar only. */
static int scan_doc(const char *doc, size_t len, jsonscan_t *s)
{
    jsonscan_init(s, doc, len);
    int rc = jsonscan_value(s);
    return rc < 0 ? rc : jsonscan_finish(s);
}

/* Scans doc as the value of an event's "payload", with the storable rules and depth_max. */
static int scan_payload(const char *doc, int depth_max, found_t *f)
{
    jsonscan_t s;
    jsonscan_rules_t r;
    jsonpath_key_t payload;
    jsonpath_key_init(&payload, "payload", 7);
    jsonpath_seg_t at = {NULL, &payload, 0};
    memset(f, 0, sizeof(*f));
    jsonscan_init(&s, doc, strlen(doc));
    jsonscan_rules_init(&r, depth_max, record_cb, f);
    int rc = jsonscan_storable(&s, &r, &at);
    return rc < 0 ? rc : jsonscan_finish(&s);
}

/* ---- grammar ------------------------------------------------------------------------------ */

typedef struct syntax_case {
    const char *name;
    const char *doc;
    const char *error;
    size_t at;
} syntax_case_t;

/* json-c 0.16 in strict mode accepts several of these; the scanner must not. */
static const syntax_case_t syntax_cases[] = {
    {"unterminated", "{", "expected a string key", 1},
    {"unterminated inner object", "{\"payload\":{\"a\":1}", "unterminated object", 18},
    {"second document", "{}{}", "unexpected data after the document", 2},
    {"trailing data after whitespace", "{\"a\":1} x", "unexpected data after the document", 8},
    {"trailing comma", "{\"userId\":\"u1\",}", "expected a string key", 15},
    {"trailing comma in an array", "[1,]", "unexpected character", 3},
    {"single quotes key", "{'userId':\"u1\"}", "expected a string key", 1},
    {"single quotes value", "{\"userId\":'u1'}", "unexpected character", 10},
    {"comment", "{\"a\":1 // c\n}", "expected ',' or '}'", 7},
    {"NaN", "{\"a\":NaN}", "unexpected character", 5},
    {"Infinity", "{\"a\":-Infinity}", "invalid number", 6},
    {"leading zero", "{\"a\":-01}", "expected ',' or '}'", 7},
    {"double zero", "{\"a\":00}", "expected ',' or '}'", 6},
    {"bare point", "{\"a\":1.}", "invalid number", 7},
    {"leading point", "{\"a\":.5}", "unexpected character", 5},
    {"plus sign", "{\"a\":+1}", "unexpected character", 5},
    {"bare exponent", "{\"a\":1e}", "invalid number", 7},
    {"bare signed exponent", "1e+", "invalid number", 3},
    {"upper-case literal", "{\"a\":TRUE}", "unexpected character", 5},
    {"short literal", "tru", "invalid literal", 0},
    {"raw tab in a string", "{\"a\":\"x\ty\"}", "unescaped control character in a string", 7},
    {"raw newline in a key", "{\"a\nb\":1}", "unescaped control character in a string", 3},
    {"bad escape", "{\"a\":\"\\x41\"}", "invalid escape sequence", 7},
    {"short unicode escape", "{\"a\":\"\\u12\"}", "invalid \\u escape", 10},
    {"unterminated string", "\"abc", "unterminated string", 4},
    {"unterminated escape", "\"a\\", "unterminated string", 3},
    {"vertical tab whitespace", "{\v}", "expected a string key", 1},
    {"byte order mark", "\xef\xbb\xbf{}", "unexpected character", 0},
    {"missing colon", "{\"a\" 1}", "expected ':' after a key", 5},
    {"missing comma", "{\"a\":1 \"b\":2}", "expected ',' or '}'", 7},
    {"missing comma in an array", "[1 2]", "expected ',' or ']'", 3},
    {"unterminated array", "[1,2", "unterminated array", 4},
    {"empty", "", "unexpected end of input", 0},
    {"only whitespace", "  ", "unexpected end of input", 2},
};

START_TEST(test_jsonscan_rejects_what_rfc_8259_does_not_allow)
{
    const syntax_case_t *c = &syntax_cases[_i];
    jsonscan_t s;
    ck_assert_int_eq(scan_doc(c->doc, strlen(c->doc), &s), ERR_PARSE);
    ck_assert_str_eq(s.error, c->error);
    ck_assert_uint_eq(s.error_at, c->at);
}
END_TEST

START_TEST(test_jsonscan_accepts_every_kind_of_value)
{
    static const char doc[] =
        " {\"s\":\"a\\\"\\\\\\/"
        "\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\",\"n\":[0,-0,1.5e3,1E+2,-1e-7],"
        "\"l\":[true,false,null],\"o\":{},\"a\":[],\"\xc3\xa9\":\"\xf0\x9f\x98\x80\"}\r\n";
    jsonscan_t s;
    ck_assert_int_eq(scan_doc(doc, sizeof(doc) - 1, &s), 0);
    ck_assert_ptr_null(s.error);
    ck_assert_int_eq(s.depth, 0);
}
END_TEST

START_TEST(test_jsonscan_reads_only_len_bytes)
{
    /* A NUL after the document is data after it; json-c would stop reading at the NUL. */
    static const char after_nul[] = "{}\0garbage";
    jsonscan_t s;
    ck_assert_int_eq(scan_doc(after_nul, sizeof(after_nul) - 1, &s), ERR_PARSE);
    ck_assert_str_eq(s.error, "unexpected data after the document");
    ck_assert_uint_eq(s.error_at, 2);
    ck_assert_int_eq(scan_doc("[1,2]", 4, &s), ERR_PARSE);
    ck_assert_str_eq(s.error, "unterminated array");
    ck_assert_int_eq(scan_doc(NULL, 0, &s), ERR_PARSE);
}
END_TEST

START_TEST(test_jsonscan_limits_nesting)
{
    char doc[2 * JSONSCAN_DEPTH_MAX + 8];
    jsonscan_t s;
    for (int n = JSONSCAN_DEPTH_MAX; n <= JSONSCAN_DEPTH_MAX + 1; n++) {
        memset(doc, '[', (size_t)n);
        memset(doc + n, ']', (size_t)n);
        int rc = scan_doc(doc, 2 * (size_t)n, &s);
        if (n == JSONSCAN_DEPTH_MAX) {
            ck_assert_int_eq(rc, 0);
        } else {
            ck_assert_int_eq(rc, ERR_RANGE);
            ck_assert_str_eq(s.error, "nested too deeply");
            ck_assert_uint_eq(s.error_at, JSONSCAN_DEPTH_MAX);
        }
    }
    /* Unbalanced input far deeper than the limit stops at the limit. */
    char deep[5000];
    memset(deep, '[', sizeof(deep));
    ck_assert_int_eq(scan_doc(deep, sizeof(deep), &s), ERR_RANGE);
}
END_TEST

/* ---- the storable rules ------------------------------------------------------------------- */

typedef struct storable_case {
    const char *name;
    const char *doc;  /* the value of "payload" */
    const char *what; /* NULL: storable; otherwise the one problem expected */
    const char *path;
} storable_case_t;

static const storable_case_t storable_cases[] = {
    /* Storable. */
    {"dollar not first", "{\"a$\":1,\"price\":\"$5\"}", NULL, NULL},
    {"dots in values", "{\"a\":\"x.y\",\"b\":[\".\"],\"c\":\"\"}", NULL, NULL},
    {"key characters", "{\"a-b_c d:e/f\":1,\"_id\":2,\" \":3}", NULL, NULL},
    {"arrays of objects holding arrays",
     "{\"m\":[{\"x\":[1,2]},{\"y\":[]}],\"n\":{\"o\":[{\"p\":[{\"q\":[{}]}]}]}}", NULL, NULL},
    {"$ key inside a string value", "{\"a\":\"{\\\"$x\\\":1}\"}", NULL, NULL},
    {"NUL in a value", "{\"a\":\"x\\u0000y\"}", NULL, NULL},
    {"numbers", "{\"a\":-0,\"b\":1.5e3,\"c\":1E+2,\"d\":0.25,\"e\":-1e-7}", NULL, NULL},
    {"int64 limits", "{\"a\":9223372036854775807,\"b\":-9223372036854775808}", NULL, NULL},
    {"finite doubles",
     "{\"a\":1e308,\"b\":-1e308,\"c\":0.5,\"d\":1.7976931348623157e308,"
     "\"e\":[-1.7976931348623157E+308],\"f\":1e-400,\"g\":-0.0}",
     NULL, NULL},
    {"long finite doubles, one just below the overflow limit",
     "{\"a\":0.00000000000000000000000000000000000000000000000000000000000000000000001,"
     "\"b\":1797693134862315807900000000000000000000000000000000000000000000000000000000"
     "000000000000000000000000000000000000000000000000000000000000000000000000000000"
     "000000000000000000000000000000000000000000000000000000000000000000000000000000"
     "00000000000000000000000000000000000000000000000000000000000000000000000000000.0}",
     NULL, NULL},
    {"literals and unicode",
     "{\"t\":true,\"f\":false,\"n\":null,"
     "\"\xc3\xa9\":\"\\ud83d\\ude00\\u00e9\"}",
     NULL, NULL},
    {"key with other controls", "{\"a\\tb\\u0001\":1}", NULL, NULL},

    /* Keys. */
    {"nested $ key", "{\"a\":{\"ok\":1,\"$x\":2}}", "keys must not start with '$'", "payload.a.$x"},
    {"$ key in array", "{\"a\":[0,{\"$x\":1}]}", "keys must not start with '$'", "payload.a[1].$x"},
    {"escaped $ key", "{\"\\u0024x\":1}", "keys must not start with '$'", "payload.$x"},
    {"NUL key", "{\"a\\u0000b\":1}", "keys must not contain NUL characters",
     "payload[\"a\\u0000b\"]"},
    {"NUL key colliding", "{\"a\":1,\"a\\u0000\":2}", "keys must not contain NUL characters",
     "payload[\"a\\u0000\"]"},
    {"nested NUL key", "{\"x\":[{\"\\u0000\":1}]}", "keys must not contain NUL characters",
     "payload.x[0][\"\\u0000\"]"},
    {"dotted key", "{\"a.b\":1}", "keys must not contain '.'", "payload[\"a.b\"]"},
    {"nested dotted key", "{\"a\":{\"ok\":1,\"b.c\":{}}}", "keys must not contain '.'",
     "payload.a[\"b.c\"]"},
    {"dotted key in array", "{\"a\":[1,{\"x.\":1}]}", "keys must not contain '.'",
     "payload.a[1][\"x.\"]"},
    {"escaped dot in a key", "{\"a\\u002eb\":1}", "keys must not contain '.'", "payload[\"a.b\"]"},
    {"dot key", "{\"x\":{\".\":1}}", "keys must not contain '.'", "payload.x[\".\"]"},
    {"dotted key with quote", "{\"a\\\"b.c\\\\\":1}", "keys must not contain '.'",
     "payload[\"a\\\"b.c\\\\\"]"},
    {"empty key", "{\"\":1}", "keys must not be empty", "payload[\"\"]"},
    {"nested empty key", "{\"a\":[{\"\":{}}]}", "keys must not be empty", "payload.a[0][\"\"]"},
    {"path with brackets in a key", "{\"x[0]\":{\"$y\":1}}", "keys must not start with '$'",
     "payload[\"x[0]\"].$y"},
    {"path with a quote in a key", "{\"q\\\"\":[{\"$y\":1}]}", "keys must not start with '$'",
     "payload[\"q\\\"\"][0].$y"},

    /* Arrays. */
    {"array in array", "{\"m\":[[1]]}", "arrays must not contain arrays directly", "payload.m[0]"},
    {"empty array in array", "{\"a\":{\"b\":[1,[]]}}", "arrays must not contain arrays directly",
     "payload.a.b[1]"},
    {"array in array in array of objects", "{\"a\":[{\"b\":[{\"c\":[{},[{}]]}]}]}",
     "arrays must not contain arrays directly", "payload.a[0].b[0].c[1]"},

    /* Numbers. */
    {"double overflow", "{\"x\":1e309}", "numbers must be finite", "payload.x"},
    {"negative double overflow", "{\"a\":{\"b\":[0,-1e400]}}", "numbers must be finite",
     "payload.a.b[1]"},
    {"double just above the largest", "{\"x\":1.8e308}", "numbers must be finite", "payload.x"},
    {"long double just above the overflow limit",
     "{\"x\":1797693134862315808000000000000000000000000000000000000000000000000000000000"
     "000000000000000000000000000000000000000000000000000000000000000000000000000000"
     "000000000000000000000000000000000000000000000000000000000000000000000000000000"
     "00000000000000000000000000000000000000000000000000000000000000000000000000000.0}",
     "numbers must be finite", "payload.x"},
    {"integer too big", "{\"n\":9223372036854775808}", "integers must fit in 64 bits", "payload.n"},
    {"integer too small", "{\"a\":[-9223372036854775809]}", "integers must fit in 64 bits",
     "payload.a[0]"},
};

START_TEST(test_jsonscan_storable_rules)
{
    const storable_case_t *c = &storable_cases[_i];
    found_t f;
    ck_assert_int_eq(scan_payload(c->doc, 32, &f), 0);
    if (c->what == NULL) {
        ck_assert_uint_eq(f.count, 0);
        /* What the scanner accepts, json-c parses as validate asks it to: the field rules read
         * its tree. */
        struct json_tokener *tok = json_tokener_new();
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
        json_object *v = json_tokener_parse_ex(tok, c->doc, (int)strlen(c->doc));
        ck_assert_int_eq(json_tokener_get_error(tok), json_tokener_success);
        ck_assert_ptr_nonnull(v);
        json_object_put(v);
        json_tokener_free(tok);
        return;
    }
    ck_assert_uint_eq(f.count, 1);
    ck_assert_str_eq(f.what[0], c->what);
    ck_assert_str_eq(f.path[0], c->path);
}
END_TEST

START_TEST(test_jsonscan_reports_each_rule_once_in_document_order)
{
    static const char doc[] =
        "{\"ok\":[{\"a\":[1]}],\"x\":[1e999,[[2]]],\"a.b\":{\"c.d\":-1e999,\"\":{\"\":[]}},"
        "\"y\":[[],2.5e-3,{\"e.f\":[[]]}]}";
    found_t f;
    ck_assert_int_eq(scan_payload(doc, 32, &f), 0);
    ck_assert_uint_eq(f.count, 4);
    /* In document order, each with its first occurrence. */
    ck_assert_str_eq(f.what[0], "numbers must be finite");
    ck_assert_str_eq(f.path[0], "payload.x[0]");
    ck_assert_str_eq(f.what[1], "arrays must not contain arrays directly");
    ck_assert_str_eq(f.path[1], "payload.x[1]");
    ck_assert_str_eq(f.what[2], "keys must not contain '.'");
    ck_assert_str_eq(f.path[2], "payload[\"a.b\"]");
    ck_assert_str_eq(f.what[3], "keys must not be empty");
    ck_assert_str_eq(f.path[3], "payload[\"a.b\"][\"\"]");
}
END_TEST

START_TEST(test_jsonscan_storable_depth_counts_from_the_value)
{
    found_t f;
    ck_assert_int_eq(scan_payload("{\"a\":[{}]}", 3, &f), 0);
    ck_assert_uint_eq(f.count, 0);
    ck_assert_int_eq(scan_payload("{\"a\":[{\"b\":{}},{\"c\":[]}]}", 3, &f), 0);
    ck_assert_uint_eq(f.count, 1);
    ck_assert_str_eq(f.what[0], "must not nest deeper than 3 levels");
    ck_assert_str_eq(f.path[0], "payload.a[0].b");
    /* Scalars are not levels. */
    ck_assert_int_eq(scan_payload("{\"a\":[1,\"s\",null]}", 2, &f), 0);
    ck_assert_uint_eq(f.count, 0);
}
END_TEST

START_TEST(test_jsonscan_storable_applies_to_scalars_too)
{
    /* at NULL: paths start at the value, which is the empty path itself. */
    jsonscan_t s;
    jsonscan_rules_t r;
    found_t f = {0};
    jsonscan_init(&s, "-1e999", 6);
    jsonscan_rules_init(&r, 1, record_cb, &f);
    ck_assert_int_eq(jsonscan_storable(&s, &r, NULL), 0);
    ck_assert_uint_eq(f.count, 1);
    ck_assert_str_eq(f.what[0], "numbers must be finite");
    ck_assert_str_eq(f.path[0], "");
}
END_TEST

/* ---- the cursor --------------------------------------------------------------------------- */

/* Walks {"events":[...], ...} as a batch validator would: each element gets its own rules (so
 * each event reports its own problems) and a path that starts at "events[i]". */
START_TEST(test_jsonscan_cursor_walks_into_a_batch)
{
    static const char doc[] = "{\"events\" : [ {\"$a\":1,\"b\":[[]]} , {\"ok\":{}}, "
                              "{\"c\":{\"$d\":1e999}} ],\"n\":null}";
    jsonscan_t s;
    jsonpath_key_t k;
    found_t f[3];
    unsigned members = 0, events = 0;

    jsonscan_init(&s, doc, sizeof(doc) - 1);
    ck_assert_int_eq(jsonscan_is_object(&s), true);
    int rc;
    for (rc = jsonscan_object_open(&s, &k); rc > 0; rc = jsonscan_object_next(&s, &k)) {
        members++;
        if (!jsonpath_key_is(&k, "events", 6)) {
            ck_assert_int_eq(jsonscan_value(&s), 0);
            continue;
        }
        jsonpath_seg_t at_events = {NULL, &k, 0};
        for (rc = jsonscan_array_open(&s); rc > 0; rc = jsonscan_array_next(&s)) {
            jsonpath_seg_t at = {&at_events, NULL, events};
            jsonscan_rules_t r;
            ck_assert_uint_lt(events, 3);
            memset(&f[events], 0, sizeof(f[0]));
            ck_assert_int_eq(jsonscan_is_object(&s), true);
            jsonscan_rules_init(&r, 32, record_cb, &f[events]);
            ck_assert_int_eq(jsonscan_storable(&s, &r, &at), 0);
            events++;
        }
        ck_assert_int_eq(rc, 0);
    }
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(jsonscan_finish(&s), 0);
    ck_assert_uint_eq(members, 2);
    ck_assert_uint_eq(events, 3);
    ck_assert_uint_eq(f[0].count, 2);
    ck_assert_str_eq(f[0].path[0], "events[0].$a");
    ck_assert_str_eq(f[0].what[1], "arrays must not contain arrays directly");
    ck_assert_str_eq(f[0].path[1], "events[0].b[0]");
    ck_assert_uint_eq(f[1].count, 0);
    /* Fresh rules per event: '$' is reported again for the third. */
    ck_assert_uint_eq(f[2].count, 2);
    ck_assert_str_eq(f[2].what[0], "keys must not start with '$'");
    ck_assert_str_eq(f[2].path[0], "events[2].c.$d");
    ck_assert_str_eq(f[2].path[1], "events[2].c.$d");
}
END_TEST

START_TEST(test_jsonscan_cursor_opens_empty_containers)
{
    jsonscan_t s;
    jsonpath_key_t k;
    jsonscan_init(&s, " { } ", 5);
    ck_assert_int_eq(jsonscan_object_open(&s, &k), 0);
    ck_assert_int_eq(s.depth, 0);
    ck_assert_int_eq(jsonscan_finish(&s), 0);
    jsonscan_init(&s, "[ ]", 3);
    ck_assert_int_eq(jsonscan_is_object(&s), false);
    ck_assert_int_eq(jsonscan_array_open(&s), 0);
    ck_assert_int_eq(jsonscan_finish(&s), 0);
}
END_TEST

START_TEST(test_jsonscan_cursor_reports_syntax_errors_with_offsets)
{
    jsonscan_t s;
    jsonpath_key_t k;
    jsonscan_init(&s, "{\"a\":1;", 7);
    ck_assert_int_eq(jsonscan_object_open(&s, &k), 1);
    ck_assert_int_eq(jsonpath_key_is(&k, "a", 1), true);
    ck_assert_int_eq(jsonscan_value(&s), 0);
    ck_assert_int_eq(jsonscan_object_next(&s, &k), ERR_PARSE);
    ck_assert_str_eq(s.error, "expected ',' or '}'");
    ck_assert_uint_eq(s.error_at, 6);
    jsonscan_init(&s, "[1,", 3);
    ck_assert_int_eq(jsonscan_array_open(&s), 1);
    ck_assert_int_eq(jsonscan_value(&s), 0);
    ck_assert_int_eq(jsonscan_array_next(&s), 1);
    ck_assert_int_eq(jsonscan_value(&s), ERR_PARSE);
    ck_assert_str_eq(s.error, "unexpected end of input");
    ck_assert_uint_eq(s.error_at, 3);
}
END_TEST

static Suite *jsonscan_suite(void)
{
    Suite *s = suite_create("jsonscan");
    TCase *tc;

    tc = tcase_create("grammar");
    tcase_add_loop_test(tc, test_jsonscan_rejects_what_rfc_8259_does_not_allow, 0,
                        (int)(sizeof(syntax_cases) / sizeof(syntax_cases[0])));
    tcase_add_test(tc, test_jsonscan_accepts_every_kind_of_value);
    tcase_add_test(tc, test_jsonscan_reads_only_len_bytes);
    tcase_add_test(tc, test_jsonscan_limits_nesting);
    suite_add_tcase(s, tc);

    tc = tcase_create("storable");
    tcase_add_loop_test(tc, test_jsonscan_storable_rules, 0,
                        (int)(sizeof(storable_cases) / sizeof(storable_cases[0])));
    tcase_add_test(tc, test_jsonscan_reports_each_rule_once_in_document_order);
    tcase_add_test(tc, test_jsonscan_storable_depth_counts_from_the_value);
    tcase_add_test(tc, test_jsonscan_storable_applies_to_scalars_too);
    suite_add_tcase(s, tc);

    tc = tcase_create("cursor");
    tcase_add_test(tc, test_jsonscan_cursor_walks_into_a_batch);
    tcase_add_test(tc, test_jsonscan_cursor_opens_empty_containers);
    tcase_add_test(tc, test_jsonscan_cursor_reports_syntax_errors_with_offsets);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(jsonscan_suite)
