/* SPDX-License-Identifier: MIT */
#include "api/pending.h"

#include "common/err.h"
#include "common/owner.h"

/* A slot is free when data is NULL; free slots form a singly linked list through next_free. */
typedef struct slot {
    void *data;
    uint32_t gen;
    uint32_t next_free;
} slot_t;

#define NO_SLOT UINT32_MAX

/* Thread: its owner loop (bound at the first pending_add). */
struct pending {
    owner_t owner;
    slot_t *slots;
    uint32_t capacity;
    uint32_t used;
    uint32_t free_head;
};

pending_t *pending_create(uint32_t capacity)
{
    if (capacity == 0 || capacity > (1u << 31))
        return NULL;
    pending_t *p = xcalloc(1, sizeof(*p));
    p->slots = xcalloc(capacity, sizeof(*p->slots));
    p->capacity = capacity;
    for (uint32_t i = 0; i < capacity; i++) {
        p->slots[i].gen = 1;
        p->slots[i].next_free = i + 1 < capacity ? i + 1 : NO_SLOT;
    }
    p->free_head = 0;
    return p;
}

void pending_destroy(pending_t *p)
{
    if (p == NULL)
        return;
    free(p->slots);
    free(p);
}

int pending_add(pending_t *p, void *data, uint64_t *ticket)
{
    ASSERT(data != NULL);
    owner_bind_once(&p->owner);
    ASSERT_OWNER(&p->owner);
    if (p->free_head == NO_SLOT)
        return ERR_FULL;
    uint32_t i = p->free_head;
    slot_t *s = &p->slots[i];
    p->free_head = s->next_free;
    s->data = data;
    p->used++;
    *ticket = ((uint64_t)s->gen << 32) | i;
    return 0;
}

/* Returns the slot of ticket when it is live, else NULL. */
static slot_t *live_slot(const pending_t *p, uint64_t ticket)
{
    ASSERT_OWNER(&p->owner);
    uint32_t i = (uint32_t)ticket;
    if (i >= p->capacity)
        return NULL;
    slot_t *s = &p->slots[i];
    return s->data != NULL && s->gen == (uint32_t)(ticket >> 32) ? s : NULL;
}

void *pending_get(const pending_t *p, uint64_t ticket)
{
    const slot_t *s = live_slot(p, ticket);
    return s != NULL ? s->data : NULL;
}

void *pending_take(pending_t *p, uint64_t ticket)
{
    slot_t *s = live_slot(p, ticket);
    if (s == NULL)
        return NULL;
    uint32_t i = (uint32_t)ticket;
    void *data = s->data;
    s->data = NULL;
    /* Generation 0 is skipped so that a ticket is never 0. */
    s->gen = s->gen + 1 == 0 ? 1 : s->gen + 1;
    s->next_free = p->free_head;
    p->free_head = i;
    p->used--;
    return data;
}

uint32_t pending_count(const pending_t *p)
{
    return p->used;
}
