/* SPDX-License-Identifier: MIT */
/*
 * tagmap - a hash table of nodes keyed by a 32-bit tag (the transaction
 * tags of queue_proto.h, on both sides of the connection).
 *
 * Intrusive: the caller embeds a struct tagmap_node in its own object
 * and owns it; the map only links nodes and owns its bucket array.  A
 * tag is in the map at most once.  Lookups are O(1) on average; the
 * bucket array doubles as the map fills (load at most 1).
 */
#ifndef OSTIA_TAGMAP_H
#define OSTIA_TAGMAP_H

#include <stddef.h>
#include <stdint.h>

struct tagmap_node {
	uint32_t tag;
	struct tagmap_node *next;	/* private (and tagmap_take_all's list) */
};

struct tagmap {
	struct tagmap_node **buckets;	/* NULL until the first insert */
	size_t nbuckets;		/* a power of two, or 0 */
	size_t count;
};

void tagmap_init(struct tagmap *m);
/* Frees the bucket array; the nodes still in it are the caller's. */
void tagmap_deinit(struct tagmap *m);
/* The node with tag, or NULL. */
struct tagmap_node *tagmap_find(const struct tagmap *m, uint32_t tag);
/* Add n (n->tag set; not in the map yet, and no node has its tag). */
void tagmap_insert(struct tagmap *m, struct tagmap_node *n);
/* Remove n, which is in the map. */
void tagmap_remove(struct tagmap *m, struct tagmap_node *n);
/*
 * Empty the map and return its nodes as a list linked through ->next
 * (in no particular order; NULL when it was empty).
 */
struct tagmap_node *tagmap_take_all(struct tagmap *m);

/* The object of type type whose member member is node n. */
#define TAGMAP_ENTRY(n, type, member) \
	((type *)(void *)((char *)(n) - offsetof(type, member)))

#endif
