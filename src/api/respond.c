/* SPDX-License-Identifier: MIT */
#include "api/respond.h"

#include <stdio.h>
#include <string.h>

void respond_send(h2o_req_t *req, int status, const char *reason, const char *content_type,
                  const char *body, size_t len)
{
    req->res.status = status;
    req->res.reason = reason;
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type,
                   strlen(content_type));
    h2o_send_inline(req, body, len);
}

void respond_problem(h2o_req_t *req, const problem_t *p, const char *reason, uint32_t retry_after_s)
{
    char small[1024];
    size_t need = problem_format(p, small, sizeof(small));
    const char *body = small;
    if (need >= sizeof(small)) {
        char *big = h2o_mem_alloc_pool(&req->pool, need + 1);
        problem_format(p, big, need + 1);
        body = big;
    }
    if (retry_after_s > 0) {
        char ra[16];
        int n = snprintf(ra, sizeof(ra), "%u", retry_after_s);
        h2o_iovec_t v = h2o_strdup(&req->pool, ra, (size_t)n);
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, v.base, v.len);
    }
    respond_send(req, p->status, reason, PROBLEM_CONTENT_TYPE, body, need);
}
