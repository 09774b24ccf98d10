/* SPDX-License-Identifier: MIT */
/*
 * lookup_cache - answers per (table, key) with TTLs and an LRU memory
 * bound; see lookup_cache.h.
 *
 * A chained hash table (power-of-two buckets, doubled when the entries
 * outnumber them) for finding entries, and one doubly linked list in
 * use order (head: most recent) for evicting them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "log.h"
#include "lookup_cache.h"
#include "xalloc.h"

struct centry {
	struct centry *hnext;		/* bucket chain */
	struct centry *prev, *next;	/* use order */
	uint64_t hash;
	uint64_t expires_ms;
	uint32_t table;
	enum dict_status status;
	size_t keylen;
	size_t len;
	char data[];			/* key, NUL, value, NUL */
};

struct lookup_cache {
	struct centry **buckets;
	size_t nbuckets;		/* power of two */
	struct centry *head, *tail;
	size_t max_bytes;
	uint64_t ttl_ms, neg_ttl_ms;
	uint64_t sipkey[2];
	struct lookup_cache_stats st;
};

#define INITIAL_BUCKETS 64
/* What malloc costs beyond the bytes asked for, roughly. */
#define ALLOC_OVERHEAD 16

/* ---------------------------------------------------------------- */
/* SipHash-2-4 (Aumasson and Bernstein), written from the paper.     */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

#define SIPROUND do {							\
	v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);	\
	v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;				\
	v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;				\
	v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);	\
} while (0)

static uint64_t
le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t
siphash24(const uint64_t k[2], const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t v0 = 0x736f6d6570736575ULL ^ k[0];
	uint64_t v1 = 0x646f72616e646f6dULL ^ k[1];
	uint64_t v2 = 0x6c7967656e657261ULL ^ k[0];
	uint64_t v3 = 0x7465646279746573ULL ^ k[1];
	uint64_t m, b = (uint64_t)len << 56;
	size_t i, full = len - len % 8;

	for (i = 0; i < full; i += 8) {
		m = le64(p + i);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (size_t j = 0; i + j < len; j++)
		b |= (uint64_t)p[i + j] << (8 * j);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* ---------------------------------------------------------------- */

static uint64_t
entry_hash(const struct lookup_cache *c, uint32_t table, const char *key,
    size_t keylen)
{
	/* The table number is mixed in after the key hash. */
	uint64_t k[2] = { c->sipkey[0] ^ table, c->sipkey[1] };

	return siphash24(k, key, keylen);
}

size_t
lookup_cache_entry_cost(size_t keylen, size_t len)
{
	return sizeof(struct centry) + keylen + len + 2 + ALLOC_OVERHEAD;
}

struct lookup_cache *
lookup_cache_new(size_t max_bytes, uint64_t ttl_ms, uint64_t neg_ttl_ms)
{
	struct lookup_cache *c = xcalloc(1, sizeof(*c));

	c->nbuckets = INITIAL_BUCKETS;
	c->buckets = xcalloc(c->nbuckets, sizeof(*c->buckets));
	c->max_bytes = max_bytes;
	c->ttl_ms = ttl_ms;
	c->neg_ttl_ms = neg_ttl_ms;
	if (getrandom(c->sipkey, sizeof(c->sipkey), 0) !=
	    (ssize_t)sizeof(c->sipkey))
		log_fatal("cannot seed the lookup cache's hash: getrandom: %s",
		    strerror(errno));
	return c;
}

static void
list_unlink(struct lookup_cache *c, struct centry *e)
{
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void
list_push_head(struct lookup_cache *c, struct centry *e)
{
	e->prev = NULL;
	e->next = c->head;
	if (c->head != NULL)
		c->head->prev = e;
	c->head = e;
	if (c->tail == NULL)
		c->tail = e;
}

/* remove - take e out of both structures and free it. */
static void
remove_entry(struct lookup_cache *c, struct centry *e)
{
	struct centry **pp = &c->buckets[e->hash & (c->nbuckets - 1)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	list_unlink(c, e);
	c->st.entries--;
	c->st.bytes -= lookup_cache_entry_cost(e->keylen, e->len);
	free(e);
}

static struct centry *
find(struct lookup_cache *c, uint64_t h, uint32_t table, const char *key,
    size_t keylen)
{
	struct centry *e = c->buckets[h & (c->nbuckets - 1)];

	for (; e != NULL; e = e->hnext)
		if (e->hash == h && e->table == table && e->keylen == keylen &&
		    memcmp(e->data, key, keylen) == 0)
			return e;
	return NULL;
}

static void
grow(struct lookup_cache *c)
{
	size_t n = c->nbuckets * 2;
	struct centry **b = xcalloc(n, sizeof(*b));

	for (size_t i = 0; i < c->nbuckets; i++) {
		struct centry *e = c->buckets[i], *next;

		for (; e != NULL; e = next) {
			next = e->hnext;
			e->hnext = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	}
	free(c->buckets);
	c->buckets = b;
	c->nbuckets = n;
}

bool
lookup_cache_get(struct lookup_cache *c, uint32_t table, const char *key,
    size_t keylen, uint64_t now_ms, enum dict_status *st_r,
    const char **value_r, size_t *len_r)
{
	struct centry *e = find(c, entry_hash(c, table, key, keylen), table,
	    key, keylen);

	if (e != NULL && now_ms >= e->expires_ms) {
		remove_entry(c, e);
		c->st.expirations++;
		e = NULL;
	}
	if (e == NULL) {
		c->st.misses++;
		return false;
	}
	c->st.hits++;
	list_unlink(c, e);
	list_push_head(c, e);
	*st_r = e->status;
	*value_r = e->status == DICT_FOUND ? e->data + e->keylen + 1 : "";
	*len_r = e->status == DICT_FOUND ? e->len : 0;
	return true;
}

void
lookup_cache_put(struct lookup_cache *c, uint32_t table, const char *key,
    size_t keylen, enum dict_status st, const char *value, size_t len,
    uint64_t now_ms)
{
	uint64_t ttl, h;
	size_t cost;
	struct centry *e;

	if (st == DICT_FOUND)
		ttl = c->ttl_ms;
	else if (st == DICT_NOTFOUND)
		ttl = c->neg_ttl_ms;
	else
		return;		/* TEMPFAIL: ask the table next time */
	if (st != DICT_FOUND)
		len = 0;
	cost = lookup_cache_entry_cost(keylen, len);
	if (ttl == 0 || cost > c->max_bytes / 8)
		return;
	h = entry_hash(c, table, key, keylen);
	e = find(c, h, table, key, keylen);
	if (e != NULL)
		remove_entry(c, e);
	while (c->tail != NULL && c->st.bytes + cost > c->max_bytes) {
		remove_entry(c, c->tail);
		c->st.evictions++;
	}
	e = xmalloc(sizeof(*e) + keylen + len + 2);
	e->hash = h;
	e->expires_ms = now_ms + ttl;
	e->table = table;
	e->status = st;
	e->keylen = keylen;
	e->len = len;
	memcpy(e->data, key, keylen);
	e->data[keylen] = '\0';
	if (len > 0)
		memcpy(e->data + keylen + 1, value, len);
	e->data[keylen + 1 + len] = '\0';
	e->hnext = c->buckets[h & (c->nbuckets - 1)];
	c->buckets[h & (c->nbuckets - 1)] = e;
	list_push_head(c, e);
	c->st.entries++;
	c->st.bytes += cost;
	if (c->st.entries > c->nbuckets)
		grow(c);
}

size_t
lookup_cache_drop_table(struct lookup_cache *c, uint32_t table)
{
	struct centry *e, *next;
	size_t n = 0;

	for (e = c->head; e != NULL; e = next) {
		next = e->next;
		if (e->table == table) {
			remove_entry(c, e);
			n++;
		}
	}
	return n;
}

size_t
lookup_cache_clear(struct lookup_cache *c)
{
	size_t n = c->st.entries;
	struct centry *e, *next;

	for (e = c->head; e != NULL; e = next) {
		next = e->next;
		free(e);
	}
	memset(c->buckets, 0, c->nbuckets * sizeof(*c->buckets));
	c->head = c->tail = NULL;
	c->st.entries = 0;
	c->st.bytes = 0;
	return n;
}

void
lookup_cache_get_stats(const struct lookup_cache *c,
    struct lookup_cache_stats *st)
{
	*st = c->st;
}

void
lookup_cache_free(struct lookup_cache **cp)
{
	struct lookup_cache *c = *cp;

	if (c == NULL)
		return;
	lookup_cache_clear(c);
	free(c->buckets);
	free(c);
	*cp = NULL;
}
