/*
 * evudp6 — one fixed-size chained hash table, intrusive, for every lookup
 * of the message layer (tokens, message ids, remotes, deduplication).
 *
 * The bucket array is allocated once, at twice the number of elements the
 * owner's pool can hold, so inserting never allocates. The table stores
 * no keys: a node carries the hash it was inserted with, and the owner
 * compares its own key while walking a bucket:
 *
 *	for (struct evudp6__hnode *n = evudp6__htab_bucket(&t, h); n; n = n->next)
 *		if (n->hash == h && ... key of container_of(n) matches ...)
 */
#ifndef EVUDP6_HASHTAB_H
#define EVUDP6_HASHTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

struct evudp6__hnode {
	struct evudp6__hnode *next;
	uint32_t hash;
	bool linked;
};

struct evudp6__htab {
	struct evudp6__hnode **bucket;
	size_t mask;
};

/* Room for @p n elements at a load factor of at most 1/2. */
static inline int evudp6__htab_init(struct evudp6__htab *t, size_t n)
{
	size_t s = 16;
	while (s < 2 * n)
		s <<= 1;
	t->bucket = calloc(s, sizeof *t->bucket);
	t->mask = s - 1;
	return t->bucket ? 0 : -1;
}

static inline void evudp6__htab_free(struct evudp6__htab *t)
{
	free(t->bucket);
	t->bucket = NULL;
}

static inline struct evudp6__hnode *evudp6__htab_bucket(const struct evudp6__htab *t, uint32_t hash)
{
	return t->bucket[hash & t->mask];
}

static inline void evudp6__htab_insert(struct evudp6__htab *t, struct evudp6__hnode *n, uint32_t hash)
{
	struct evudp6__hnode **head = &t->bucket[hash & t->mask];
	n->hash = hash;
	n->next = *head;
	n->linked = true;
	*head = n;
}

/* Safe on a node that is not in the table. */
static inline void evudp6__htab_remove(struct evudp6__htab *t, struct evudp6__hnode *n)
{
	if (!n->linked)
		return;
	for (struct evudp6__hnode **pp = &t->bucket[n->hash & t->mask]; *pp; pp = &(*pp)->next)
		if (*pp == n) {
			*pp = n->next;
			break;
		}
	n->next = NULL;
	n->linked = false;
}

#endif
