/* SPDX-License-Identifier: MIT */
/*
 * validate_request on any bytes. Accepted: the activity's fields are sane, and it round-trips
 * through the AMQP message (fuzzcheck_activity_round_trip). Rejected: ERR_INVAL with a
 * well-formed error list, *out zeroed, and, unless the body as a whole is bad, a body that json-c
 * parses strictly as an object (so the field rules ran on a tree).
 */
#include <json-c/json.h>
#include <stdbool.h>
#include <string.h>

#include "common/validate.h"
#include "fuzzcheck.h"

static bool all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0)
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    activity_t a;
    validate_report_t rep;
    int rc = validate_request(body, size, &a, &rep);
    if (rc == 0) {
        fuzzcheck_activity_round_trip(&a);
        activity_deinit(&a);
        return 0;
    }
    FUZZCHECK(rc == ERR_INVAL, "validate_request returned %d", rc);
    FUZZCHECK(all_zero(&a, sizeof(a)), "a rejected body left *out filled");
    fuzzcheck_report(&rep);
    if (strcmp(rep.errors[0].field, "body") != 0) {
        struct json_object *root = fuzzcheck_json_parse(body, size, FUZZCHECK_JSON_DEPTH, 1);
        FUZZCHECK(json_object_is_type(root, json_type_object),
                  "field errors (first: %s) on a body json-c does not parse as an object",
                  rep.errors[0].field);
        json_object_put(root);
    }
    return 0;
}
