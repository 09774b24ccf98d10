/* SPDX-License-Identifier: MIT */
/*
 * verify_cache - address verification results (verify_cache.h).
 * A hash table with chaining, doubled when it holds more entries than
 * buckets.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "verify_cache.h"
#include "xalloc.h"

struct ventry {
	char *key;		/* the address, lower case */
	enum verify_state st;	/* PENDING: no result yet */
	char dsn[16];
	char *text;
	time_t updated;		/* of the result */
	time_t probed;		/* last probe sent */
	bool out;		/* a probe is out: no result since */
	struct ventry *next;
};

struct verify_cache {
	struct verify_cache_settings s;
	struct ventry **b;
	size_t nb, n;
};

static uint64_t
hash_key(const char *k)
{
	uint64_t h = 1469598103934665603ull;

	for (; *k != '\0'; k++) {
		h ^= (unsigned char)*k;
		h *= 1099511628211ull;
	}
	return h;
}

static char *
key_of(const char *address)
{
	char *k = xstrdup(address);

	for (char *p = k; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return k;
}

struct verify_cache *
verify_cache_new(const struct verify_cache_settings *s)
{
	struct verify_cache *c = xcalloc(1, sizeof(*c));

	c->s = *s;
	c->nb = 64;
	c->b = xcalloc(c->nb, sizeof(*c->b));
	return c;
}

static void
entry_free(struct ventry *e)
{
	free(e->key);
	free(e->text);
	free(e);
}

void
verify_cache_free(struct verify_cache **cp)
{
	struct verify_cache *c = *cp;

	if (c == NULL)
		return;
	for (size_t i = 0; i < c->nb; i++) {
		struct ventry *e, *next;

		for (e = c->b[i]; e != NULL; e = next) {
			next = e->next;
			entry_free(e);
		}
	}
	free(c->b);
	free(c);
	*cp = NULL;
}

static struct ventry **
slot_of(struct verify_cache *c, const char *key)
{
	struct ventry **pp = &c->b[hash_key(key) % c->nb];

	while (*pp != NULL && strcmp((*pp)->key, key) != 0)
		pp = &(*pp)->next;
	return pp;
}

static void
grow(struct verify_cache *c)
{
	size_t nb = c->nb * 2;
	struct ventry **b = xcalloc(nb, sizeof(*b));

	for (size_t i = 0; i < c->nb; i++) {
		struct ventry *e, *next;

		for (e = c->b[i]; e != NULL; e = next) {
			size_t k = hash_key(e->key) % nb;

			next = e->next;
			e->next = b[k];
			b[k] = e;
		}
	}
	free(c->b);
	c->b = b;
	c->nb = nb;
}

/* expired - e's result is too old to be answered. */
static bool
expired(const struct verify_cache *c, const struct ventry *e, time_t now)
{
	switch (e->st) {
	case VERIFY_OK:
		return now - e->updated >= c->s.positive_expire;
	case VERIFY_BOUNCE:
		return now - e->updated >= c->s.negative_expire;
	case VERIFY_DEFER:
		return now - e->updated >= c->s.negative_expire;
	default:
		return true;
	}
}

/* stale - e's result should be checked again by a new probe. */
static bool
stale(const struct verify_cache *c, const struct ventry *e, time_t now)
{
	switch (e->st) {
	case VERIFY_OK:
		return now - e->updated >= c->s.positive_refresh;
	case VERIFY_BOUNCE:
		return now - e->updated >= c->s.negative_refresh;
	default:
		return now - e->updated >= c->s.probe_timeout;
	}
}

static bool
probe_out(const struct verify_cache *c, const struct ventry *e, time_t now)
{
	return e->out && now - e->probed < c->s.probe_timeout;
}

size_t
verify_cache_expire(struct verify_cache *c, time_t now)
{
	size_t dropped = 0;

	for (size_t i = 0; i < c->nb; i++) {
		struct ventry **pp = &c->b[i];

		while (*pp != NULL) {
			struct ventry *e = *pp;

			if (expired(c, e, now) && !probe_out(c, e, now)) {
				*pp = e->next;
				entry_free(e);
				c->n--;
				dropped++;
			} else {
				pp = &e->next;
			}
		}
	}
	return dropped;
}

/*
 * entry_add - a new entry for key (taken over: freed on failure) with
 * no result; NULL when the cache is full and nothing expired.
 */
static struct ventry *
entry_add(struct verify_cache *c, char *key, time_t now)
{
	struct ventry **pp, *e;

	if (c->n >= c->s.max_entries && verify_cache_expire(c, now) == 0) {
		free(key);
		return NULL;
	}
	if (c->n >= c->nb)
		grow(c);
	pp = slot_of(c, key);
	e = xcalloc(1, sizeof(*e));
	e->key = key;
	e->st = VERIFY_PENDING;
	e->text = xstrdup("");
	e->next = *pp;
	*pp = e;
	c->n++;
	return e;
}

void
verify_cache_query(struct verify_cache *c, const char *address, time_t now,
    struct verify_result *r)
{
	char *key = key_of(address);
	struct ventry **pp = slot_of(c, key), *e = *pp;

	memset(r, 0, sizeof(*r));
	r->state = VERIFY_PENDING;
	r->dsn = "";
	r->text = "";
	if (e == NULL) {
		if ((e = entry_add(c, key, now)) == NULL) {
			r->full = true;
			return;
		}
	} else {
		free(key);
	}
	if (e->st != VERIFY_PENDING && !expired(c, e, now)) {
		r->state = e->st;
		r->dsn = e->dsn;
		r->text = e->text;
	}
	if ((r->state == VERIFY_PENDING || stale(c, e, now)) &&
	    !probe_out(c, e, now)) {
		r->probe = true;
		e->probed = now;
		e->out = true;
	}
}

void
verify_cache_update(struct verify_cache *c, const char *address,
    enum verify_state st, const char *dsn, const char *text, time_t now)
{
	char *key = key_of(address);
	struct ventry **pp = slot_of(c, key), *e = *pp;

	if (st == VERIFY_PENDING) {
		free(key);
		return;
	}
	if (st == VERIFY_BOUNCE && !c->s.negative_cache) {
		if (e != NULL) {
			*pp = e->next;
			entry_free(e);
			c->n--;
		}
		free(key);
		return;
	}
	if (e == NULL) {
		if ((e = entry_add(c, key, now)) == NULL)
			return;
	} else {
		free(key);
	}
	e->st = st;
	snprintf(e->dsn, sizeof(e->dsn), "%s", dsn);
	free(e->text);
	e->text = xstrndup(text, strnlen(text, VERIFY_TEXT_MAX));
	e->updated = now;
	e->out = false;
}

size_t
verify_cache_count(const struct verify_cache *c)
{
	return c->n;
}
