/* SPDX-License-Identifier: MIT */
#include "consumer/bulkreply.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit_main.h"

/* Parses a relaxed extended JSON reply; the caller destroys it. */
static bson_t *reply(const char *json)
{
    bson_error_t e;
    bson_t *b = bson_new_from_json((const uint8_t *)json, -1, &e);
    ck_assert_msg(b != NULL, "bad test JSON: %s", e.message);
    return b;
}

START_TEST(test_bulkreply_duplicate_is_reported_and_others_stored)
{
    bson_t *r = reply("{\"nInserted\": 2, \"writeErrors\": [{\"index\": 1, \"code\": 11000,"
                      " \"errmsg\": \"E11000 duplicate key error\"}]}");
    batch_doc_result_t res[3];
    memset(res, 0xff, sizeof(res));
    ck_assert(bulkreply_classify(r, true, 3, res, NULL));
    ck_assert_int_eq(res[0].outcome, BATCH_OUTCOME_STORED);
    ck_assert_int_eq(res[0].code, 0);
    ck_assert_str_eq(res[0].msg, "");
    ck_assert_int_eq(res[1].outcome, BATCH_OUTCOME_DUPLICATE);
    ck_assert_int_eq(res[1].code, 11000);
    ck_assert_int_eq(res[2].outcome, BATCH_OUTCOME_STORED);
    bson_destroy(r);
}
END_TEST

START_TEST(test_bulkreply_validation_error_is_permanent_with_message)
{
    bson_t *r = reply("{\"writeErrors\": [{\"index\": 0, \"code\": 121,"
                      " \"errmsg\": \"Document failed validation\"},"
                      " {\"index\": 2, \"code\": {\"$numberLong\": \"10107\"},"
                      " \"errmsg\": \"not primary\"}]}");
    batch_doc_result_t res[3];
    ck_assert(bulkreply_classify(r, true, 3, res, NULL));
    ck_assert_int_eq(res[0].outcome, BATCH_OUTCOME_PERMANENT);
    ck_assert_int_eq(res[0].code, 121);
    ck_assert_str_eq(res[0].msg, "Document failed validation");
    ck_assert_int_eq(res[1].outcome, BATCH_OUTCOME_STORED);
    ck_assert_int_eq(res[2].outcome, BATCH_OUTCOME_TRANSIENT);
    ck_assert_int_eq(res[2].code, 10107);
    bson_destroy(r);
}
END_TEST

START_TEST(test_bulkreply_election_errors_are_transient)
{
    /* The codes a replica set answers during an election or a step-down, per document and as
     * the code of a failed command alike. */
    static const int codes[] = {10107, 13435, 13436, 11600, 11602, 189, 91, 9001, 6, 7, 89};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        ck_assert_int_eq(bulkreply_code_is_transient(codes[i]), true);
        char json[160];
        snprintf(json, sizeof(json),
                 "{\"writeErrors\": [{\"index\": 0, \"code\": %d, \"errmsg\": \"x\"}]}", codes[i]);
        bson_t *r = reply(json);
        batch_doc_result_t res[2];
        ck_assert_int_eq(bulkreply_classify(r, true, 2, res, NULL), true);
        ck_assert_int_eq(res[0].outcome, BATCH_OUTCOME_TRANSIENT);
        ck_assert_int_eq(res[0].code, codes[i]);
        ck_assert_int_eq(res[1].outcome, BATCH_OUTCOME_STORED);
        bson_destroy(r);
    }
    ck_assert_int_eq(bulkreply_code_is_transient(121), false);
    ck_assert_int_eq(bulkreply_code_is_transient(11000), false);
}
END_TEST

START_TEST(test_bulkreply_write_concern_error_leaves_the_rest_uncertain)
{
    bson_t *r = reply("{\"writeErrors\": [{\"index\": 0, \"code\": 11000, \"errmsg\": \"dup\"}],"
                      " \"writeConcernErrors\": [{\"code\": 64, \"errmsg\": \"waiting for"
                      " replication timed out\"}]}");
    batch_doc_result_t res[2];
    ck_assert(bulkreply_classify(r, true, 2, res, "waiting for replication timed out"));
    ck_assert_int_eq(res[0].outcome, BATCH_OUTCOME_DUPLICATE);
    ck_assert_int_eq(res[1].outcome, BATCH_OUTCOME_TRANSIENT);
    ck_assert_ptr_nonnull(strstr(res[1].msg, "write concern"));
    bson_destroy(r);
}
END_TEST

START_TEST(test_bulkreply_nothing_known_without_server_answer)
{
    batch_doc_result_t res[1] = {{.outcome = BATCH_OUTCOME_TRANSIENT}};
    bson_t *r = reply("{\"writeErrors\": [{\"index\": 0, \"code\": 11000}]}");
    /* An error from the network or server selection: the reply cannot be trusted. */
    ck_assert(!bulkreply_classify(r, false, 1, res, NULL));
    bson_destroy(r);
    /* A failed command (no per-document errors), e.g. not primary, unauthorized. */
    r = reply("{\"ok\": 0, \"code\": 13, \"errmsg\": \"unauthorized\"}");
    ck_assert(!bulkreply_classify(r, true, 1, res, NULL));
    bson_destroy(r);
    r = reply("{\"writeErrors\": []}");
    ck_assert(!bulkreply_classify(r, true, 1, res, NULL));
    bson_destroy(r);
    ck_assert(!bulkreply_classify(NULL, true, 1, res, NULL));
    ck_assert_int_eq(res[0].outcome, BATCH_OUTCOME_TRANSIENT);
}
END_TEST

START_TEST(test_bulkreply_ignores_out_of_range_and_malformed_entries)
{
    bson_t *r = reply("{\"writeErrors\": [{\"index\": 5, \"code\": 121}, {\"index\": -1,"
                      " \"code\": 121}, \"junk\", {\"code\": 121}, {\"index\": 0, \"code\": 2}]}");
    batch_doc_result_t res[2];
    ck_assert(bulkreply_classify(r, true, 2, res, NULL));
    ck_assert_int_eq(res[0].outcome, BATCH_OUTCOME_PERMANENT);
    ck_assert_int_eq(res[0].code, 2);
    ck_assert_int_eq(res[1].outcome, BATCH_OUTCOME_STORED);
    bson_destroy(r);
}
END_TEST

START_TEST(test_bulkreply_transient_codes)
{
    ck_assert(bulkreply_code_is_transient(10107));
    ck_assert(bulkreply_code_is_transient(91));
    ck_assert(bulkreply_code_is_transient(11600));
    ck_assert(!bulkreply_code_is_transient(11000));
    ck_assert(!bulkreply_code_is_transient(121));
    ck_assert(!bulkreply_code_is_transient(0));
}
END_TEST

static Suite *bulkreply_suite(void)
{
    Suite *s = suite_create("bulkreply");
    TCase *tc = tcase_create("classify");
    tcase_add_test(tc, test_bulkreply_duplicate_is_reported_and_others_stored);
    tcase_add_test(tc, test_bulkreply_validation_error_is_permanent_with_message);
    tcase_add_test(tc, test_bulkreply_election_errors_are_transient);
    tcase_add_test(tc, test_bulkreply_write_concern_error_leaves_the_rest_uncertain);
    tcase_add_test(tc, test_bulkreply_nothing_known_without_server_answer);
    tcase_add_test(tc, test_bulkreply_ignores_out_of_range_and_malformed_entries);
    suite_add_tcase(s, tc);
    tc = tcase_create("codes");
    tcase_add_test(tc, test_bulkreply_transient_codes);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(bulkreply_suite)
