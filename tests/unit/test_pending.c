/* SPDX-License-Identifier: MIT */
#include "api/pending.h"

#include <check.h>
#include <stdlib.h>

#include "common/err.h"

#include "unit_main.h"

START_TEST(test_pending_add_take_returns_data)
{
    pending_t *p = pending_create(4);
    int a = 1, b = 2;
    uint64_t ta, tb;
    ck_assert_int_eq(pending_add(p, &a, &ta), 0);
    ck_assert_int_eq(pending_add(p, &b, &tb), 0);
    ck_assert_uint_ne(ta, 0);
    ck_assert_uint_ne(ta, tb);
    ck_assert_uint_eq(pending_count(p), 2);
    ck_assert_ptr_eq(pending_take(p, tb), &b);
    ck_assert_ptr_eq(pending_take(p, ta), &a);
    ck_assert_uint_eq(pending_count(p), 0);
    pending_destroy(p);
}
END_TEST

START_TEST(test_pending_stale_ticket_is_dropped)
{
    pending_t *p = pending_create(1);
    int a = 1, b = 2;
    uint64_t ta, tb;
    ck_assert_int_eq(pending_add(p, &a, &ta), 0);
    ck_assert_ptr_eq(pending_take(p, ta), &a);
    /* The slot is reused with a new generation: the old ticket must not reach the new data. */
    ck_assert_int_eq(pending_add(p, &b, &tb), 0);
    ck_assert_uint_ne(ta, tb);
    ck_assert_ptr_null(pending_take(p, ta));
    ck_assert_ptr_eq(pending_take(p, tb), &b);
    ck_assert_ptr_null(pending_take(p, tb));
    ck_assert_ptr_null(pending_take(p, 0));
    ck_assert_ptr_null(pending_take(p, ((uint64_t)1 << 32) | 7));
    pending_destroy(p);
}
END_TEST

START_TEST(test_pending_get_peeks_without_taking)
{
    pending_t *p = pending_create(2);
    int a = 1;
    uint64_t ta;
    ck_assert_int_eq(pending_add(p, &a, &ta), 0);
    ck_assert_ptr_eq(pending_get(p, ta), &a);
    ck_assert_ptr_eq(pending_get(p, ta), &a);
    ck_assert_uint_eq(pending_count(p), 1);
    ck_assert_ptr_null(pending_get(p, ta + ((uint64_t)1 << 32)));
    ck_assert_ptr_null(pending_get(p, 0));
    ck_assert_ptr_eq(pending_take(p, ta), &a);
    ck_assert_ptr_null(pending_get(p, ta));
    pending_destroy(p);
}
END_TEST

START_TEST(test_pending_add_fails_when_full)
{
    pending_t *p = pending_create(3);
    int v[4];
    uint64_t t[4];
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(pending_add(p, &v[i], &t[i]), 0);
    ck_assert_int_eq(pending_add(p, &v[3], &t[3]), ERR_FULL);
    ck_assert_ptr_eq(pending_take(p, t[1]), &v[1]);
    ck_assert_int_eq(pending_add(p, &v[3], &t[3]), 0);
    ck_assert_uint_eq(pending_count(p), 3);
    pending_destroy(p);
}
END_TEST

START_TEST(test_pending_churn_keeps_tickets_unique)
{
    enum { CAP = 8, ROUNDS = 10000 };
    pending_t *p = pending_create(CAP);
    int v[CAP];
    uint64_t live[CAP];
    uint64_t last_seen = 0;
    for (int i = 0; i < CAP; i++)
        ck_assert_int_eq(pending_add(p, &v[i], &live[i]), 0);
    for (int r = 0; r < ROUNDS; r++) {
        int i = r % CAP;
        uint64_t old = live[i];
        ck_assert_ptr_eq(pending_take(p, old), &v[i]);
        ck_assert_int_eq(pending_add(p, &v[i], &live[i]), 0);
        ck_assert_uint_ne(live[i], old);
        ck_assert_ptr_null(pending_take(p, old));
        last_seen = live[i];
    }
    ck_assert_uint_ne(last_seen, 0);
    ck_assert_ptr_null(pending_create(0));
    pending_destroy(p);
    pending_destroy(NULL);
}
END_TEST

static Suite *pending_suite(void)
{
    Suite *s = suite_create("pending");
    TCase *tc = tcase_create("tickets");
    tcase_add_test(tc, test_pending_add_take_returns_data);
    tcase_add_test(tc, test_pending_stale_ticket_is_dropped);
    tcase_add_test(tc, test_pending_get_peeks_without_taking);
    tcase_add_test(tc, test_pending_churn_keeps_tickets_unique);
    suite_add_tcase(s, tc);
    TCase *cap = tcase_create("capacity");
    tcase_add_test(cap, test_pending_add_fails_when_full);
    suite_add_tcase(s, cap);
    return s;
}

UNIT_MAIN(pending_suite)
