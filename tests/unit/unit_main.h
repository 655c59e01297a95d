/* SPDX-License-Identifier: MIT */
/*
 * The main() of a unit test executable: runs its one suite with Check (forking each test unless
 * CK_FORK=no) and exits non-zero when a test failed, which is what ctest reads.
 */
#ifndef AT_TESTS_UNIT_MAIN_H
#define AT_TESTS_UNIT_MAIN_H

#include <check.h>
#include <stdlib.h>

/* Runs s (the runner takes it) and returns the exit status. */
static inline int unit_main_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* Defines main() for the suite that suite_fn() builds. */
#define UNIT_MAIN(suite_fn)                                                                        \
    int main(void)                                                                                 \
    {                                                                                              \
        return unit_main_run(suite_fn());                                                          \
    }

#endif
