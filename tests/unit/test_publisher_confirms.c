/* SPDX-License-Identifier: MIT */
/*
 * publisher: what is published, and how the broker's answers settle it: single and multiple
 * acks, returns of unroutable messages (then acked), tags the publisher no longer tracks, and the
 * in-flight window those settlements free (nacks: test_publisher_nacks.c). Every test starts from
 * the fixture in publisher_fake.h (not yet connected); outcomes are written one letter per ticket,
 * see fx_expect_outcomes.
 */
#include <check.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "api/publisher.h"
#include "publisher_fake.h"

/* ---- publishing and confirms ---- */

START_TEST(test_publisher_publishes_with_tags_and_body_copy)
{
    fx_up(&fx);
    fx_submit_range(&fx, 1, 3);
    ck_assert_uint_eq(fx.npubs, 3);
    for (uint64_t t = 1; t <= 3; t++) {
        const fx_pub_t *r = &fx.pubs[t - 1];
        char text[64], id[IDGEN_STR_LEN + 1];
        int n = snprintf(text, sizeof(text), "{\"ticket\":%llu}", (unsigned long long)t);
        fx_make_id(t, id);
        ck_assert_uint_eq(r->ticket, t);
        ck_assert_uint_eq(r->tag, t);
        ck_assert_uint_eq(r->len, (uint32_t)n);
        ck_assert_mem_eq(r->body, text, (size_t)n);
        ck_assert_str_eq(r->id, id);
        ck_assert_int_eq(r->received_ms, 1700000000000 + (int64_t)t);
        fx_expect_open(&fx, t);
    }
    ck_assert_uint_eq(publisher_inflight(fx.p), 3);
    ck_assert_uint_eq(atomic_load(&publisher_stats(fx.p)->inflight), 3);
    ck_assert_uint_eq(fx_counter(&publisher_stats(fx.p)->published), 3);
    ck_assert_int_eq(publisher_next_wake_ms(fx.p, fx.now), 1000);
    ck_assert_uint_eq(fx.ndone, 0);
}
END_TEST

START_TEST(test_publisher_single_acks_out_of_order)
{
    fx_up(&fx);
    fx_submit_range(&fx, 1, 4);

    fx_push_ack(&fx, 3, false);
    ck_assert_int_eq(fx_pump(&fx), 0);
    fx_expect_outcomes(&fx, 1, "--C-");
    ck_assert_uint_eq(publisher_inflight(fx.p), 4); /* tag 1 still holds the window */

    fx_push_ack(&fx, 1, false);
    ck_assert_int_eq(fx_pump(&fx), 0);
    fx_expect_outcomes(&fx, 1, "C-C-");
    ck_assert_uint_eq(publisher_inflight(fx.p), 3); /* tags 2..4 */

    fx_push_ack(&fx, 2, false);
    ck_assert_int_eq(fx_pump(&fx), 0);
    fx_expect_outcomes(&fx, 1, "CCC-");
    ck_assert_uint_eq(publisher_inflight(fx.p), 1); /* past the settled 3: only 4 */

    fx_push_ack(&fx, 4, false);
    fx_pump(&fx);
    fx_expect_outcomes(&fx, 1, "CCCC");
    ck_assert_uint_eq(publisher_inflight(fx.p), 0);
    ck_assert_uint_eq(atomic_load(&publisher_stats(fx.p)->inflight), 0);
    ck_assert_uint_eq(fx_counter(&publisher_stats(fx.p)->confirmed), 4);
    ck_assert_int_eq(publisher_next_wake_ms(fx.p, fx.now), -1);
    ck_assert_uint_eq(fx.ndone, 4);
    fx_destroy(&fx);
    ck_assert_uint_eq(fx.ndone, 4);
}
END_TEST

START_TEST(test_publisher_multiple_acks_confirm_1000_in_order)
{
    enum { N = 1000 };
    fx_up_with_window(N);
    fx_submit_range(&fx, 1, N);
    ck_assert_uint_eq(publisher_inflight(fx.p), N);
    ck_assert_int_eq(publisher_wants_jobs(fx.p), false);

    fx_push_ack(&fx, 1, true);
    fx_push_ack(&fx, 250, true);
    fx_pump(&fx);
    ck_assert_uint_eq(fx.ndone, 250);
    ck_assert_uint_eq(publisher_inflight(fx.p), N - 250);
    ck_assert_int_eq(publisher_wants_jobs(fx.p), true);
    fx_push_ack(&fx, 251, false);
    fx_push_ack(&fx, 777, true);
    fx_push_ack(&fx, 1000, true);
    fx_pump(&fx);
    ck_assert_uint_eq(fx.ndone, N);
    for (size_t i = 0; i < N; i++) {
        ck_assert_uint_eq(fx.done[i].ticket, i + 1); /* completion order = publish order */
        ck_assert_int_eq(fx.done[i].status, PUB_CONFIRMED);
        ck_assert_int_eq(fx_ndone_of(&fx, i + 1), 1);
    }
    ck_assert_uint_eq(publisher_inflight(fx.p), 0);
    ck_assert_uint_eq(fx_counter(&publisher_stats(fx.p)->confirmed), N);
    ck_assert_uint_eq(fx_counter(&publisher_stats(fx.p)->published), N);
    fx_destroy(&fx);
    ck_assert_uint_eq(fx.ndone, N); /* destroy had nothing left to answer */
}
END_TEST

START_TEST(test_publisher_multiple_ack_skips_settled_tags)
{
    fx_up(&fx);
    fx_submit_range(&fx, 1, 6);
    fx_push_ack(&fx, 2, false);
    fx_push_ack(&fx, 4, false);
    fx_push_ack(&fx, 5, true); /* 1, 3 and 5: 2 and 4 are settled already */
    fx_pump(&fx);
    fx_expect_outcomes(&fx, 1, "CCCCC-");
    ck_assert_uint_eq(publisher_inflight(fx.p), 1);
    ck_assert_uint_eq(fx_counter(&publisher_stats(fx.p)->confirmed), 5);
    fx_destroy(&fx);
    fx_expect_done(&fx, 6, PUB_UNAVAILABLE);
}
END_TEST

START_TEST(test_publisher_return_then_ack_refuses)
{
    fx_up(&fx);
    fx_submit_range(&fx, 1, 3);
    fx_push_return(&fx, fx_pub_of(&fx, 2)->id);
    fx_push_ack(&fx, 3, true);
    fx_pump(&fx);
    fx_expect_outcomes(&fx, 1, "CRC");
    const publisher_stats_t *st = publisher_stats(fx.p);
    ck_assert_uint_eq(fx_counter(&st->returned), 1);
    ck_assert_uint_eq(fx_counter(&st->confirmed), 2);
    /* A returned message is refused; it is counted as returned, not as a nack too. */
    ck_assert_uint_eq(fx_counter(&st->nacked), 0);
    ck_assert_uint_eq(fx_outcomes_sum(st), 3);
}
END_TEST

START_TEST(test_publisher_return_with_unknown_id_changes_nothing)
{
    fx_up(&fx);
    fx_submit(&fx, 1);
    char other[IDGEN_STR_LEN + 1];
    fx_make_id(999, other);
    fx_push_return(&fx, other);
    fx_push_return(&fx, "");
    fx_push_ack(&fx, 1, false);
    fx_pump(&fx);
    fx_expect_done(&fx, 1, PUB_CONFIRMED);
    /* A return that names no message in flight counts nothing either. */
    ck_assert_uint_eq(fx_counter(&publisher_stats(fx.p)->returned), 0);
}
END_TEST

/* A client that retries with the same event id while its first attempt is still unconfirmed
 * puts two messages with one message_id in flight. If both are returned, each return must
 * mark its own message: otherwise the second is confirmed although it was stored nowhere. */
START_TEST(test_publisher_returns_of_a_repeated_id_mark_each_message)
{
    fx_up(&fx);
    fx_submit_id(&fx, 1, 77);
    fx_submit_id(&fx, 2, 77); /* the retry */
    fx_push_return(&fx, fx_pub_of(&fx, 1)->id);
    fx_push_return(&fx, fx_pub_of(&fx, 2)->id);
    fx_push_ack(&fx, 2, true);
    fx_pump(&fx);
    fx_expect_outcomes(&fx, 1, "RR");
    ck_assert_uint_eq(fx_counter(&publisher_stats(fx.p)->returned), 2);
    ck_assert_uint_eq(fx_counter(&publisher_stats(fx.p)->nacked), 0);
}
END_TEST

START_TEST(test_publisher_ack_for_unknown_or_old_tag_is_ignored)
{
    fx_up(&fx);
    /* Nothing in flight: every tag is unknown. */
    fx_push_ack(&fx, 1, false);
    fx_push_ack(&fx, 1, true);
    fx_push_nack(&fx, 5, true);
    fx_pump(&fx);
    ck_assert_uint_eq(fx.ndone, 0);
    ck_assert_uint_eq(publisher_inflight(fx.p), 0);

    fx_submit_range(&fx, 1, 3);
    fx_push_ack(&fx, 1, false);
    fx_push_ack(&fx, 1, false); /* again: already settled */
    fx_push_nack(&fx, 1, true); /* an old tag, with multiple */
    fx_push_ack(&fx, 9, false); /* never published */
    fx_push_nack(&fx, 4, true); /* beyond the newest tag */
    fx_pump(&fx);
    fx_expect_outcomes(&fx, 1, "C--");
    ck_assert_uint_eq(publisher_inflight(fx.p), 2);
    ck_assert_uint_eq(fx_counter(&publisher_stats(fx.p)->nacked), 0);

    fx_push_ack(&fx, 3, true);
    fx_pump(&fx);
    fx_expect_outcomes(&fx, 1, "CCC");
    ck_assert_uint_eq(fx.ndone, 3);
}
END_TEST

START_TEST(test_publisher_tag_zero_multiple_settles_everything_outstanding)
{
    fx_up(&fx);
    fx_submit_range(&fx, 1, 5);
    fx_push_ack(&fx, 0, false); /* tag 0 without multiple names nothing */
    fx_pump(&fx);
    ck_assert_uint_eq(fx.ndone, 0);
    fx_push_ack(&fx, 2, false);
    fx_push_ack(&fx, 0, true);
    fx_pump(&fx);
    fx_expect_outcomes(&fx, 1, "CCCCC");
    ck_assert_uint_eq(publisher_inflight(fx.p), 0);

    fx_push_ack(&fx, 0, true); /* nothing outstanding: a no-op */
    fx_pump(&fx);
    ck_assert_uint_eq(fx.ndone, 5);

    fx_submit_range(&fx, 6, 8);
    fx_push_nack(&fx, 0, true); /* all three nacked: published again on the next connection */
    ck_assert_int_eq(fx_pump(&fx), PUB_PUMP_REFUSED);
    ck_assert_uint_eq(atomic_load(&publisher_stats(fx.p)->resending), 3);
    fx.now += 1000;
    fx_pump(&fx); /* their deadline passed before the reconnect */
    fx_expect_outcomes(&fx, 6, "RRR");
}
END_TEST

/* ---- the in-flight window ---- */

START_TEST(test_publisher_window_full_stops_wanting_jobs)
{
    fx_up_with_window(4);
    for (uint64_t t = 1; t <= 4; t++) {
        ck_assert_int_eq(publisher_wants_jobs(fx.p), true);
        fx_submit(&fx, t);
    }
    ck_assert_int_eq(publisher_wants_jobs(fx.p), false);
    fx_submit(&fx, 5); /* handed over anyway: refused, not published */
    fx_expect_done(&fx, 5, PUB_UNAVAILABLE);
    ck_assert_int_eq(fx.publish_calls, 4);

    fx_push_ack(&fx, 1, false);
    fx_pump(&fx);
    ck_assert_int_eq(publisher_wants_jobs(fx.p), true);
    fx_submit(&fx, 6);
    ck_assert_uint_eq(fx_pub_of(&fx, 6)->tag, 5);
    ck_assert_int_eq(publisher_wants_jobs(fx.p), false);

    fx_push_ack(&fx, 3, false); /* out of order: tag 2 still holds the window */
    fx_pump(&fx);
    ck_assert_int_eq(publisher_wants_jobs(fx.p), false);
    fx_push_ack(&fx, 2, false);
    fx_pump(&fx);
    ck_assert_int_eq(publisher_wants_jobs(fx.p), true);
    ck_assert_uint_eq(publisher_inflight(fx.p), 2);
}
END_TEST

START_TEST(test_publisher_window_slots_are_reused_across_many_laps)
{
    /* max_inflight 3 gives a table of 4 slots: tags wrap around it every 4 publishes. */
    static const uint32_t sizes[] = {1, 3, 5};
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        fx_up_with_window(sizes[s]);
        uint64_t ticket = 0, acked = 0;
        for (int lap = 0; lap < 200; lap++) {
            while (publisher_wants_jobs(fx.p))
                fx_submit(&fx, ++ticket);
            ck_assert_uint_eq(publisher_inflight(fx.p), sizes[s]);
            /* Settle the newest first, then the rest with one multiple ack. */
            fx_push_ack(&fx, ticket, false);
            fx_pump(&fx);
            fx_expect_done(&fx, ticket, PUB_CONFIRMED);
            fx_push_ack(&fx, ticket - 1, true);
            fx_pump(&fx);
            for (uint64_t t = acked + 1; t <= ticket; t++)
                fx_expect_done(&fx, t, PUB_CONFIRMED);
            acked = ticket;
            ck_assert_uint_eq(publisher_inflight(fx.p), 0);
        }
        ck_assert_uint_eq(fx.ndone, ticket);
    }
}
END_TEST

void publisher_add_confirm_tests(Suite *s)
{
    TCase *tc = fx_tcase(s, "acks");
    tcase_add_test(tc, test_publisher_single_acks_out_of_order);
    tcase_add_test(tc, test_publisher_multiple_acks_confirm_1000_in_order);
    tcase_add_test(tc, test_publisher_multiple_ack_skips_settled_tags);
    tcase_add_test(tc, test_publisher_ack_for_unknown_or_old_tag_is_ignored);
    tcase_add_test(tc, test_publisher_tag_zero_multiple_settles_everything_outstanding);

    tc = fx_tcase(s, "returns");
    tcase_add_test(tc, test_publisher_return_then_ack_refuses);
    tcase_add_test(tc, test_publisher_return_with_unknown_id_changes_nothing);
    tcase_add_test(tc, test_publisher_returns_of_a_repeated_id_mark_each_message);

    tc = fx_tcase(s, "window");
    tcase_add_test(tc, test_publisher_publishes_with_tags_and_body_copy);
    tcase_add_test(tc, test_publisher_window_full_stops_wanting_jobs);
    tcase_add_test(tc, test_publisher_window_slots_are_reused_across_many_laps);
}
