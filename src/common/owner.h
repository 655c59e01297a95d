/* SPDX-License-Identifier: MIT */
/*
 * Thread ownership, checked (STYLE 21-22): a struct documented as owned by one thread embeds an
 * owner_t, binds it on that thread once it starts, and asserts it in every function the owner
 * alone may call. SQLite-style: the check costs nothing with NDEBUG; the binding itself is one
 * store and stays, so struct layouts do not depend on the build.
 * Thread: owner_bind on the future owner; owner_is_current from the owner (or before binding).
 */
#ifndef AT_COMMON_OWNER_H
#define AT_COMMON_OWNER_H

#include <pthread.h>
#include <stdbool.h>

#include "common/err.h"

/* Transparent; zero-initialised means "not bound yet". */
typedef struct owner {
    pthread_t thread;
    bool bound;
} owner_t;

/* Makes the calling thread the owner of o. */
static inline void owner_bind(owner_t *o)
{
    o->thread = pthread_self();
    o->bound = true;
}

/* Makes the calling thread the owner of o unless o is bound already: for a struct created on
 * main and first used on the thread that owns it from then on. */
static inline void owner_bind_once(owner_t *o)
{
    if (!o->bound)
        owner_bind(o);
}

/* Forgets the owner: the struct is handed back (e.g. to main after its thread was joined). */
static inline void owner_unbind(owner_t *o)
{
    o->bound = false;
}

/* Returns true when o is not bound yet (set-up on main) or the caller is its owner. */
static inline bool owner_is_current(const owner_t *o)
{
    return !o->bound || pthread_equal(o->thread, pthread_self());
}

/* Asserts that the calling thread may use the struct whose owner_t is o (debug and CI builds). */
#define ASSERT_OWNER(o) ASSERT(owner_is_current(o))

#endif
