/* SPDX-License-Identifier: MIT */
/*
 * Two passes over a body. The raw bytes are read first: utf8 checks the encoding and jsonscan
 * the JSON grammar, seeing every object key exactly as sent and applying the storable rules to
 * the payload (jsonscan.c says why json-c alone cannot be trusted with either). Then json-c builds
 * the tree that the field rules, and the rest of the program, use.
 *
 * The field rules report in a fixed order (id, userId, eventType, timestamp, payload,
 * receivedAt); what the scan found follows in document order: unknown keys, and each storable
 * rule the payload breaks, at most once, with the path of its first occurrence ("payload.a[0]").
 *
 * Duplicate keys are accepted: json-c keeps the last value of a repeated key, in the payload and
 * at the top level alike, and the field rules check that value. The scan sees every occurrence,
 * so a repeated key can make a body fail but never lets an unchecked value through.
 *
 * Both passes work on one event wherever it stands: scan_event needs only a cursor on the event
 * object and check_fields only its json-c object, so a batch body can run them per element.
 */
#include "common/validate.h"

#include <json-c/json.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/idgen.h"
#include "common/jsonpath.h"
#include "common/jsonscan.h"
#include "common/rfc3339.h"
#include "common/utf8.h"

#define PATH_CAP 112 /* rendered payload path bytes in a message, before "..." */

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

static void report_vadd(validate_report_t *rep, const char *field, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Writes prefix + field into out (VALIDATE_FIELD_MAX bytes). A path step in brackets follows
 * the prefix without its dot, as in payload paths (events[0]["a.b"]). Too long a name is cut on
 * a UTF-8 boundary and ends with "...", so a field is always valid UTF-8. */
static void field_name(const char *prefix, const char *field, char *out)
{
    char full[2 * VALIDATE_FIELD_MAX];
    size_t plen = prefix != NULL ? strlen(prefix) : 0;
    if (plen > 0 && prefix[plen - 1] == '.' && field[0] == '[')
        plen--;
    int n = snprintf(full, sizeof(full), "%.*s%s", (int)plen, plen > 0 ? prefix : "", field);
    size_t len = n < 0 ? 0 : (size_t)n;
    if (len < VALIDATE_FIELD_MAX) {
        memcpy(out, full, len + 1);
        return;
    }
    size_t cut = VALIDATE_FIELD_MAX - 4;
    while (cut > 0 && ((unsigned char)full[cut] & 0xc0) == 0x80)
        cut--; /* back to the first byte of the character that does not fit */
    memcpy(out, full, cut);
    memcpy(out + cut, "...", 4);
}

static void report_vadd(validate_report_t *rep, const char *field, const char *fmt, va_list ap)
{
    rep->total++;
    if (rep->count >= VALIDATE_ERRORS_MAX)
        return;
    validate_error_t *e = &rep->errors[rep->count++];
    field_name(rep->prefix, field, e->field);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
}

void validate_report_add(validate_report_t *rep, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report_vadd(rep, field, fmt, ap);
    va_end(ap);
}

#define report_add validate_report_add

/* ---- the scan: unknown keys and the payload's storable rules ------------------------------- */

static void payload_problem_cb(void *ctx, const char *what, const jsonpath_seg_t *at)
{
    char path[PATH_CAP + 4];
    report_add(ctx, fields[F_PAYLOAD].name, "%s (%s)", what,
               jsonpath_format(at, path, sizeof(path)));
}

/* The field that k names, or F_COUNT for an unknown key; receivedAt is known in messages only. */
static enum field field_of(const jsonpath_key_t *k, bool message)
{
    for (int f = 0; f < F_COUNT; f++)
        if ((f != F_RECEIVED_AT || message) && jsonpath_key_is(k, fields[f].name, fields[f].len))
            return (enum field)f;
    return F_COUNT;
}

void validate_report_unknown(validate_report_t *rep, const jsonpath_key_t *k)
{
    /* Written as a path would write it: [""] for the empty key, ["a.b"] for a key that reads as
     * a path; ["body"] keeps a member named body apart from the whole-body errors, whose field
     * is body. */
    char name[VALIDATE_FIELD_MAX];
    jsonpath_seg_t seg = {NULL, k, 0};
    jsonpath_format(&seg, name, sizeof(name));
    report_add(rep, strcmp(name, "body") == 0 ? "[\"body\"]" : name, "unknown field");
}

/* Scans the event object at the cursor: reports each unknown key into found, and each storable
 * rule a payload object breaks through rules (whose ctx is found). A payload that is not an
 * object is only scanned: the field rules report "must be an object". Returns what the
 * jsonscan calls return. */
static int scan_event(jsonscan_t *s, bool message, jsonscan_rules_t *rules,
                      validate_report_t *found)
{
    jsonpath_key_t k;
    int rc;
    for (rc = jsonscan_object_open(s, &k); rc > 0; rc = jsonscan_object_next(s, &k)) {
        enum field f = field_of(&k, message);
        jsonpath_seg_t seg = {NULL, &k, 0};
        if (f == F_COUNT)
            validate_report_unknown(found, &k);
        if (f == F_PAYLOAD && jsonscan_is_object(s))
            rc = jsonscan_storable(s, rules, &seg);
        else
            rc = jsonscan_value(s);
        if (rc < 0)
            return rc;
    }
    return rc;
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

/* The Unicode White_Space property. */
static bool is_space(uint32_t cp)
{
    return (cp >= 0x09 && cp <= 0x0d) || cp == 0x20 || cp == 0x85 || cp == 0xa0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f ||
           cp == 0x205f || cp == 0x3000;
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

/* Applies the field rules to the event object obj (borrowed from the caller's tree): reports
 * each missing or invalid field into rep and fills out from the valid ones. */
static void check_fields(json_object *obj, bool message, activity_t *out, validate_report_t *rep)
{
    json_object *v[F_COUNT];
    for (int f = 0; f < F_COUNT; f++) {
        /* A JSON null is present with v[f] == NULL: it fails the type checks below. */
        bool present = json_object_object_get_ex(obj, fields[f].name, &v[f]);
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
}

/* ---- entry points --------------------------------------------------------------------------- */

int validate_report_body(validate_report_t *rep, const char *fmt, ...)
{
    va_list ap;
    rep->count = rep->total = 0;
    rep->prefix = NULL;
    va_start(ap, fmt);
    report_vadd(rep, "body", fmt, ap);
    va_end(ap);
    return ERR_INVAL;
}

#define body_error validate_report_body

int validate_report_scan(validate_report_t *rep, const jsonscan_t *s, int rc, bool object)
{
    if (rc == ERR_RANGE)
        return body_error(rep, "must not nest deeper than %d levels", JSONSCAN_DEPTH_MAX);
    if (rc < 0)
        return body_error(rep, "must be valid JSON (%s at offset %zu)", s->error, s->error_at);
    if (!object)
        return body_error(rep, "must be a JSON object");
    return 0;
}

void validate_report_merge(validate_report_t *rep, const validate_report_t *found)
{
    for (unsigned i = 0; i < found->count; i++)
        report_add(rep, found->errors[i].field, "%s", found->errors[i].message);
    rep->total += found->total - found->count;
}

int validate_raw(const char *body, size_t len, validate_report_t *rep)
{
    const unsigned char *b = (const unsigned char *)body;
    size_t first = 0;
    if (body == NULL)
        len = 0;
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
    return 0;
}

int validate_scan_request(jsonscan_t *s, jsonscan_rules_t *rules, validate_report_t *found)
{
    return scan_event(s, false, rules, found);
}

void validate_rules_init(jsonscan_rules_t *rules, validate_report_t *found)
{
    jsonscan_rules_init(rules, ACTIVITY_PAYLOAD_DEPTH_MAX, payload_problem_cb, found);
}

void validate_check_request(json_object *obj, activity_t *out, validate_report_t *rep)
{
    check_fields(obj, false, out, rep);
}

json_object *validate_parse_tree(const char *body, size_t len)
{
    /* One more level than the scanner allows: json-c counts the scalars inside the deepest
     * container as a level of their own. */
    struct json_tokener *tok = json_tokener_new_ex(JSONSCAN_DEPTH_MAX + 1);
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
    validate_report_t found; /* what the scan reports, appended after the field rules */
    jsonscan_t s;
    jsonscan_rules_t rules;

    ASSERT(out != NULL && rep != NULL);
    memset(out, 0, sizeof(*out));
    rep->count = rep->total = 0;
    rep->prefix = NULL;
    if (validate_raw(body, len, rep) < 0)
        return ERR_INVAL;

    found.count = found.total = 0;
    found.prefix = NULL;
    jsonscan_init(&s, body, len);
    validate_rules_init(&rules, &found);
    bool object = jsonscan_is_object(&s);
    int rc = object ? scan_event(&s, message, &rules, &found) : jsonscan_value(&s);
    if (rc == 0)
        rc = jsonscan_finish(&s);
    if (validate_report_scan(rep, &s, rc, object) < 0)
        return ERR_INVAL;

    json_object *root = validate_parse_tree(body, len);
    if (root == NULL || !json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return body_error(rep, "must be valid JSON");
    }
    check_fields(root, message, out, rep);
    validate_report_merge(rep, &found);

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
