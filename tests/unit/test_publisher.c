/* SPDX-License-Identifier: MIT */
/*
 * The "publisher" suite: one executable built from the test files of its concerns, over the
 * shared fake broker, completion recorder and fixture in publisher_fake.c:
 *   test_publisher_connect.c   creating, connecting, reconnect backoff
 *   test_publisher_confirms.c  acks, returns; the in-flight window
 *   test_publisher_nacks.c     nacks: the same broker again, republishing, refused at the deadline
 *   test_publisher_timeouts.c  confirmation timeouts
 *   test_publisher_loss.c      lost connections, connection.blocked, destroy
 *   test_publisher_failover.c  broker rotation; republishing what a lost connection left
 *   test_publisher_stats.c     the outcome counters add up to the jobs
 *   test_publisher_random.c    randomized sequences checked against the fake's model
 */
#include <check.h>
#include <stdlib.h>

#include "publisher_fake.h"

#include "unit_main.h"

static Suite *publisher_suite(void)
{
    Suite *s = suite_create("publisher");
    publisher_add_connect_tests(s);
    publisher_add_confirm_tests(s);
    publisher_add_nack_tests(s);
    publisher_add_timeout_tests(s);
    publisher_add_loss_tests(s);
    publisher_add_failover_tests(s);
    publisher_add_stats_tests(s);
    publisher_add_random_tests(s);
    return s;
}

UNIT_MAIN(publisher_suite)
