/*
 * evudp6 — intrusive doubly linked lists, shared by every internal module.
 *
 * A node that is in no list is linked to itself, so removing it twice is
 * harmless.
 */
#ifndef EVUDP6_LIST_H
#define EVUDP6_LIST_H

#include <stdbool.h>
#include <stddef.h>

#define evudp6__container_of(p, type, member) ((type *)(void *)((char *)(p)-offsetof(type, member)))

struct evudp6__link {
	struct evudp6__link *prev, *next;
};

static inline void evudp6__link_init(struct evudp6__link *l)
{
	l->prev = l->next = l;
}

static inline bool evudp6__list_empty(const struct evudp6__link *head)
{
	return head->next == head;
}

static inline void evudp6__list_add_tail(struct evudp6__link *head, struct evudp6__link *n)
{
	n->prev = head->prev;
	n->next = head;
	head->prev->next = n;
	head->prev = n;
}

/* Safe on a node that is in no list. */
static inline void evudp6__list_del(struct evudp6__link *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = n;
}

#endif
