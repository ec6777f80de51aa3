/* The intrusive doubly linked list, in one place: an element struct has
 * `prev` and `next` pointers of its own type, and a list is a pointer to
 * its first element. Push and remove are O(1); nothing is allocated.
 * layer: core (a header without code) */
#ifndef SHARDPIPE_LIST_H
#define SHARDPIPE_LIST_H

#include <stddef.h>

/* Puts e at the front of the list whose head pointer is *headp. */
#define SP_LIST_PUSH(headp, e)                  \
    do {                                        \
        (e)->prev = NULL;                       \
        (e)->next = *(headp);                   \
        if (*(headp) != NULL)                   \
            (*(headp))->prev = (e);             \
        *(headp) = (e);                         \
    } while (0)

/* Takes e, an element of the list *headp, out of it. */
#define SP_LIST_REMOVE(headp, e)                \
    do {                                        \
        if ((e)->prev != NULL)                  \
            (e)->prev->next = (e)->next;        \
        else                                    \
            *(headp) = (e)->next;               \
        if ((e)->next != NULL)                  \
            (e)->next->prev = (e)->prev;        \
        (e)->prev = (e)->next = NULL;           \
    } while (0)

#endif
