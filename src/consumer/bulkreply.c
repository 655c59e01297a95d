/* SPDX-License-Identifier: MIT */
#include "consumer/bulkreply.h"

#include <stdio.h>
#include <string.h>

bool bulkreply_code_is_transient(int64_t code)
{
    static const int64_t codes[] = {
        6,     /* HostUnreachable */
        7,     /* HostNotFound */
        24,    /* LockTimeout */
        46,    /* LockBusy */
        50,    /* MaxTimeMSExpired */
        64,    /* WriteConcernFailed */
        89,    /* NetworkTimeout */
        91,    /* ShutdownInProgress */
        112,   /* WriteConflict */
        133,   /* FailedToSatisfyReadPreference */
        189,   /* PrimarySteppedDown */
        262,   /* ExceededTimeLimit */
        9001,  /* SocketException */
        10107, /* NotWritablePrimary */
        11600, /* InterruptedAtShutdown */
        11602, /* InterruptedDueToReplStateChange */
        13435, /* NotPrimaryNoSecondaryOk */
        13436, /* NotPrimaryOrSecondary */
    };
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (codes[i] == code)
            return true;
    return false;
}

/* Positions arr on the elements of the non-empty array reply[key]; false if absent or empty. */
static bool array_nonempty(const bson_t *reply, const char *key, bson_iter_t *arr)
{
    bson_iter_t it;
    if (reply == NULL || !bson_iter_init_find(&it, reply, key) || !BSON_ITER_HOLDS_ARRAY(&it))
        return false;
    if (!bson_iter_recurse(&it, arr))
        return false;
    bson_iter_t probe = *arr;
    return bson_iter_next(&probe);
}

/* Applies each writeError {index, code, errmsg} to the document it names. */
static void apply_write_errors(bson_iter_t *arr, size_t n, batch_doc_result_t *res)
{
    while (bson_iter_next(arr)) {
        bson_iter_t werr;
        if (!BSON_ITER_HOLDS_DOCUMENT(arr) || !bson_iter_recurse(arr, &werr))
            continue;
        int64_t index = -1, code = 0;
        const char *msg = "";
        while (bson_iter_next(&werr)) {
            const char *k = bson_iter_key(&werr);
            if (strcmp(k, "index") == 0 && BSON_ITER_HOLDS_NUMBER(&werr))
                index = bson_iter_as_int64(&werr);
            else if (strcmp(k, "code") == 0 && BSON_ITER_HOLDS_NUMBER(&werr))
                code = bson_iter_as_int64(&werr);
            else if (strcmp(k, "errmsg") == 0 && BSON_ITER_HOLDS_UTF8(&werr))
                msg = bson_iter_utf8(&werr, NULL);
        }
        if (index < 0 || (uint64_t)index >= n)
            continue;
        batch_doc_result_t *r = &res[index];
        r->code = (int)code;
        if (code == BULKREPLY_DUPLICATE_KEY)
            r->outcome = BATCH_OUTCOME_DUPLICATE;
        else if (bulkreply_code_is_transient(code))
            r->outcome = BATCH_OUTCOME_TRANSIENT;
        else
            r->outcome = BATCH_OUTCOME_PERMANENT;
        snprintf(r->msg, sizeof(r->msg), "%.*s", (int)sizeof(r->msg) - 1, msg);
    }
}

bool bulkreply_classify(const bson_t *reply, bool answered, size_t n, batch_doc_result_t *res,
                        const char *wce_msg)
{
    bson_iter_t werrs, wces;
    bool has_we = array_nonempty(reply, "writeErrors", &werrs);
    bool has_wce = array_nonempty(reply, "writeConcernErrors", &wces);
    if (!answered || (!has_we && !has_wce))
        return false;
    for (size_t i = 0; i < n; i++) {
        memset(&res[i], 0, sizeof(res[i]));
        if (has_wce)
            snprintf(res[i].msg, sizeof(res[i].msg), "write concern error: %.130s",
                     wce_msg != NULL ? wce_msg : "");
        else
            res[i].outcome = BATCH_OUTCOME_STORED;
    }
    if (has_we)
        apply_write_errors(&werrs, n, res);
    return true;
}
