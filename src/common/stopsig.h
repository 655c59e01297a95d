/* SPDX-License-Identifier: MIT */
/*
 * How every program of the project takes its stop signals: SIGTERM and SIGINT are blocked in
 * the main thread before any other thread exists, so every thread inherits the mask and only
 * the main thread receives them (sigwait or sigtimedwait on the returned set), and no code runs
 * in a signal handler. SIGPIPE is ignored: a peer that went away is an error return, not a
 * death.
 * Thread: main, before any other thread is created.
 */
#ifndef AT_COMMON_STOPSIG_H
#define AT_COMMON_STOPSIG_H

#include <pthread.h>
#include <signal.h>

static inline void stopsig_block(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

#endif
