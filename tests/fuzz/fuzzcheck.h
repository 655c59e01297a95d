/* SPDX-License-Identifier: MIT */
/*
 * What the libFuzzer targets of tests/fuzz share: the entry point's prototype, FUZZCHECK (an
 * invariant that prints why it failed and aborts, so libFuzzer saves the input), a strict json-c
 * parse, and the checks two targets make of a validation report and of a valid activity.
 * Thread: the fuzzer's (libFuzzer calls a target from one thread at a time).
 * Invariant: a check never passes silently on a malformed result; it aborts with a message.
 */
#ifndef AT_FUZZ_FUZZCHECK_H
#define AT_FUZZ_FUZZCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/activity.h"
#include "common/validate.h"

struct json_object;

/* Nesting json-c may go to in the checks: more than any validator allows, so the check itself
 * never refuses what the code under test accepted. */
#define FUZZCHECK_JSON_DEPTH 256

/* libFuzzer's entry point, defined once per target. Returns 0 (the input is kept as usual). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Prints "invariant failed: <what>: <message>" with the place on stderr and aborts. */
void fuzzcheck_fail(const char *file, int line, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5), noreturn));

#define FUZZCHECK(cond, ...)                                                                       \
    ((cond) ? (void)0 : fuzzcheck_fail(__FILE__, __LINE__, #cond, __VA_ARGS__))

/* Parses s[0..len) with json-c in strict mode (RFC 8259 grammar, UTF-8 validated when
 * validate_utf8) with room for depth levels; the whole text must be one value. Returns an owned
 * value (json_object_put), or NULL when json-c refuses it. */
struct json_object *fuzzcheck_json_parse(const char *s, size_t len, int depth, int validate_utf8);

/* Returns the length of the well-formed UTF-8 sequence (RFC 3629: no overlong form, no
 * surrogate, nothing above U+10FFFF) that starts s[0..n), 1 for an ASCII byte, or 0 when none
 * does (n == 0 included). Written here from Unicode table 3-7, apart from common/utf8.c. */
size_t fuzzcheck_utf8_seq_len(const unsigned char *s, size_t n);

/* Whether s[0..n) is well-formed UTF-8 (fuzzcheck_utf8_seq_len piece by piece). */
bool fuzzcheck_utf8_valid(const char *s, size_t n);

/* Checks a rejection: 1..VALIDATE_ERRORS_MAX errors reported, total >= count (and the list full
 * when total > count), every field and message NUL-terminated, non-empty and well-formed UTF-8
 * (they go into problem+json bodies), and a "body" error alone. */
void fuzzcheck_report(const validate_report_t *rep);

/* Checks an accepted activity a (validate_request or validate_batch): its fields, then that it
 * encodes (id set first when empty, receivedAt added) to strict JSON holding the same fields, and
 * that validate_message accepts that message back with the same values and that encoding the
 * decoded message gives the same bytes again. a stays owned by the caller; its id may be set. */
void fuzzcheck_activity_round_trip(activity_t *a);

#endif
