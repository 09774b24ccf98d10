/* SPDX-License-Identifier: MIT */
/*
 * tagmap - a hash table of nodes keyed by a 32-bit tag; see tagmap.h.
 */
#include <stdlib.h>

#include "tagmap.h"
#include "xalloc.h"

#define TAGMAP_MIN_BUCKETS 16

void
tagmap_init(struct tagmap *m)
{
	m->buckets = NULL;
	m->nbuckets = 0;
	m->count = 0;
}

void
tagmap_deinit(struct tagmap *m)
{
	free(m->buckets);
	tagmap_init(m);
}

/* slot - the bucket of tag: multiplied by 2^32/phi and folded, so that
 * consecutive tags (what a peer usually chooses) spread over every
 * bucket. */
static size_t
slot(const struct tagmap *m, uint32_t tag)
{
	uint32_t h = tag * 2654435769u;

	h ^= h >> 16;
	return (size_t)h & (m->nbuckets - 1);
}

struct tagmap_node *
tagmap_find(const struct tagmap *m, uint32_t tag)
{
	struct tagmap_node *n;

	if (m->count == 0)
		return NULL;
	for (n = m->buckets[slot(m, tag)]; n != NULL; n = n->next)
		if (n->tag == tag)
			return n;
	return NULL;
}

static void
grow(struct tagmap *m)
{
	struct tagmap_node **old = m->buckets;
	size_t nold = m->nbuckets;

	m->nbuckets = nold > 0 ? nold * 2 : TAGMAP_MIN_BUCKETS;
	m->buckets = xcalloc(m->nbuckets, sizeof(*m->buckets));
	for (size_t i = 0; i < nold; i++) {
		struct tagmap_node *n, *next;

		for (n = old[i]; n != NULL; n = next) {
			size_t s = slot(m, n->tag);

			next = n->next;
			n->next = m->buckets[s];
			m->buckets[s] = n;
		}
	}
	free(old);
}

void
tagmap_insert(struct tagmap *m, struct tagmap_node *n)
{
	size_t s;

	if (m->count >= m->nbuckets)
		grow(m);
	s = slot(m, n->tag);
	n->next = m->buckets[s];
	m->buckets[s] = n;
	m->count++;
}

void
tagmap_remove(struct tagmap *m, struct tagmap_node *n)
{
	struct tagmap_node **pp = &m->buckets[slot(m, n->tag)];

	while (*pp != n)
		pp = &(*pp)->next;
	*pp = n->next;
	n->next = NULL;
	m->count--;
}

struct tagmap_node *
tagmap_take_all(struct tagmap *m)
{
	struct tagmap_node *list = NULL;

	for (size_t i = 0; i < m->nbuckets && m->count > 0; i++) {
		while (m->buckets[i] != NULL) {
			struct tagmap_node *n = m->buckets[i];

			m->buckets[i] = n->next;
			n->next = list;
			list = n;
			m->count--;
		}
	}
	return list;
}
