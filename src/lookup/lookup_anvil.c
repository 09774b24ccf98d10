/* SPDX-License-Identifier: MIT */
/*
 * lookup_anvil - per-client counters for smtpd's limits (see the
 * header).  A chained hash table of clients, also on one list for the
 * walks of anvil_expire and anvil_release.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "lookup_anvil.h"
#include "xalloc.h"

#define ANVIL_NOPS (LOOKUP_ANVIL_OP_LAST + 1)

/* One holder's share of a client's open connections. */
struct holding {
	uint64_t holder;
	unsigned n;
};

struct client {
	struct client *hnext;		/* hash chain */
	TAILQ_ENTRY(client) link;	/* every client */
	uint64_t hash;
	uint64_t window_ms;		/* start of the current window */
	unsigned count;			/* open connections, all holders */
	unsigned rate[ANVIL_NOPS];
	struct holding *held;
	size_t nheld, heldcap;
	char key[];
};

struct anvil {
	struct client **buckets;
	size_t nbuckets;		/* a power of two */
	size_t n, max;
	uint64_t unit_ms;
	TAILQ_HEAD(, client) all;
	struct anvil_peaks peaks;
};

static void
peak(struct anvil_peak *p, unsigned value, const char *key, uint64_t now)
{
	if (value <= p->value)
		return;
	p->value = value;
	p->when_ms = now;
	snprintf(p->key, sizeof(p->key), "%s", key);
}

static uint64_t
key_hash(const char *key)
{
	uint64_t h = 0xcbf29ce484222325ULL;	/* FNV-1a */

	for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
		h ^= *p;
		h *= 0x100000001b3ULL;
	}
	return h;
}

struct anvil *
anvil_new(unsigned rate_unit_s, size_t max_clients)
{
	struct anvil *a = xcalloc(1, sizeof(*a));

	a->unit_ms = (uint64_t)(rate_unit_s > 0 ? rate_unit_s : 1) * 1000;
	a->max = max_clients > 0 ? max_clients : 1;
	/* About two clients per bucket when full. */
	a->nbuckets = 16;
	while (a->nbuckets < a->max / 2 && a->nbuckets < ((size_t)1 << 20))
		a->nbuckets <<= 1;
	a->buckets = xcalloc(a->nbuckets, sizeof(*a->buckets));
	TAILQ_INIT(&a->all);
	return a;
}

static void
client_drop(struct anvil *a, struct client *c)
{
	struct client **pp = &a->buckets[c->hash & (a->nbuckets - 1)];

	while (*pp != c)
		pp = &(*pp)->hnext;
	*pp = c->hnext;
	TAILQ_REMOVE(&a->all, c, link);
	free(c->held);
	free(c);
	a->n--;
}

void
anvil_free(struct anvil **ap)
{
	struct anvil *a = *ap;
	struct client *c;

	if (a == NULL)
		return;
	while ((c = TAILQ_FIRST(&a->all)) != NULL)
		client_drop(a, c);
	free(a->buckets);
	free(a);
	*ap = NULL;
}

static struct client *
client_find(const struct anvil *a, const char *key, uint64_t hash)
{
	struct client *c = a->buckets[hash & (a->nbuckets - 1)];

	for (; c != NULL; c = c->hnext)
		if (c->hash == hash && strcmp(c->key, key) == 0)
			return c;
	return NULL;
}

static struct holding *
holding_of(struct client *c, uint64_t holder, bool add)
{
	for (size_t i = 0; i < c->nheld; i++)
		if (c->held[i].holder == holder)
			return &c->held[i];
	if (!add)
		return NULL;
	if (c->nheld == c->heldcap) {
		c->heldcap = c->heldcap ? c->heldcap * 2 : 2;
		c->held = xreallocarray(c->held, c->heldcap,
		    sizeof(*c->held));
	}
	c->held[c->nheld].holder = holder;
	c->held[c->nheld].n = 0;
	return &c->held[c->nheld++];
}

/* holding_remove - a holder with no connection left is forgotten. */
static void
holding_remove(struct client *c, struct holding *h)
{
	size_t i = (size_t)(h - c->held);

	c->held[i] = c->held[--c->nheld];
}

static bool
window_over(const struct anvil *a, const struct client *c, uint64_t now)
{
	return now < c->window_ms || now - c->window_ms >= a->unit_ms;
}

int
anvil_event(struct anvil *a, uint64_t holder, enum lookup_anvil_op op,
    const char *key, uint64_t now_ms, unsigned *count_r, unsigned *rate_r)
{
	uint64_t hash = key_hash(key);
	struct client *c = client_find(a, key, hash);
	struct holding *h;
	size_t klen;

	*count_r = 0;
	*rate_r = 0;
	if (op == LOOKUP_ANVIL_DISCONNECT) {
		if (c == NULL)
			return 0;
		*count_r = c->count;
		if ((h = holding_of(c, holder, false)) == NULL)
			return 0;
		h->n--;
		c->count--;
		if (h->n == 0)
			holding_remove(c, h);
		*count_r = c->count;
		return 0;
	}
	if (op == LOOKUP_ANVIL_NEWTLS_STAT) {
		/* A question only: no client is added for it. */
		if (c == NULL)
			return 0;
		if (window_over(a, c, now_ms)) {
			memset(c->rate, 0, sizeof(c->rate));
			c->window_ms = now_ms;
		}
		*count_r = c->count;
		*rate_r = c->rate[LOOKUP_ANVIL_NEWTLS];
		return 0;
	}
	if (c == NULL) {
		if (a->n >= a->max)
			(void)anvil_expire(a, now_ms);
		if (a->n >= a->max)
			return -1;
		klen = strlen(key);
		c = xcalloc(1, sizeof(*c) + klen + 1);
		memcpy(c->key, key, klen + 1);
		c->hash = hash;
		c->window_ms = now_ms;
		c->hnext = a->buckets[hash & (a->nbuckets - 1)];
		a->buckets[hash & (a->nbuckets - 1)] = c;
		TAILQ_INSERT_TAIL(&a->all, c, link);
		a->n++;
		if (a->n > a->peaks.clients) {
			a->peaks.clients = a->n;
			a->peaks.clients_when_ms = now_ms;
		}
	}
	if (window_over(a, c, now_ms)) {
		memset(c->rate, 0, sizeof(c->rate));
		c->window_ms = now_ms;
	}
	if ((unsigned)op < ANVIL_NOPS && c->rate[op] < UINT32_MAX)
		c->rate[op]++;
	if (op == LOOKUP_ANVIL_CONNECT && c->count < UINT32_MAX) {
		h = holding_of(c, holder, true);
		h->n++;
		c->count++;
	}
	*count_r = c->count;
	*rate_r = (unsigned)op < ANVIL_NOPS ? c->rate[op] : 0;
	if ((unsigned)op < ANVIL_NOPS)
		peak(&a->peaks.slot[op], *rate_r, key, now_ms);
	if (op == LOOKUP_ANVIL_CONNECT)
		peak(&a->peaks.slot[LOOKUP_ANVIL_DISCONNECT], c->count, key,
		    now_ms);
	return 0;
}

void
anvil_peaks_take(struct anvil *a, struct anvil_peaks *out)
{
	*out = a->peaks;
	memset(&a->peaks, 0, sizeof(a->peaks));
}

size_t
anvil_release(struct anvil *a, uint64_t holder)
{
	struct client *c;
	size_t n = 0;

	TAILQ_FOREACH(c, &a->all, link) {
		struct holding *h = holding_of(c, holder, false);

		if (h == NULL)
			continue;
		n += h->n;
		c->count -= h->n;
		holding_remove(c, h);
	}
	return n;
}

size_t
anvil_expire(struct anvil *a, uint64_t now_ms)
{
	struct client *c, *next;
	size_t n = 0;

	for (c = TAILQ_FIRST(&a->all); c != NULL; c = next) {
		next = TAILQ_NEXT(c, link);
		if (c->count == 0 && window_over(a, c, now_ms)) {
			client_drop(a, c);
			n++;
		}
	}
	return n;
}

size_t
anvil_size(const struct anvil *a)
{
	return a->n;
}
