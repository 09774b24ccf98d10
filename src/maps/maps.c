/* SPDX-License-Identifier: MIT */
/*
 * maps - lists of lookup tables and the Postfix lookup orders; see
 * maps.h.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "maps.h"
#include "strv.h"
#include "xalloc.h"

struct maps {
	char *title;
	struct dict **tables;
	bool *borrowed;		/* per table: not ours to close */
	size_t n;
};

/* Tables that match whole strings only get no partial keys. */
#define WHOLE_ONLY (DICT_TYPE_PATTERN | DICT_TYPE_CIDR)

struct maps *
maps_new(const char *title)
{
	struct maps *m = xcalloc(1, sizeof(*m));

	m->title = xstrdup(title);
	return m;
}

static void
add(struct maps *m, struct dict *d, bool borrowed)
{
	m->tables = xreallocarray(m->tables, m->n + 1, sizeof(*m->tables));
	m->borrowed = xreallocarray(m->borrowed, m->n + 1,
	    sizeof(*m->borrowed));
	m->borrowed[m->n] = borrowed;
	m->tables[m->n++] = d;
}

void
maps_add(struct maps *m, struct dict *d)
{
	add(m, d, false);
}

void
maps_add_borrowed(struct maps *m, struct dict *d)
{
	add(m, d, true);
}

void
maps_free(struct maps **mp)
{
	struct maps *m = *mp;

	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n; i++)
		if (!m->borrowed[i])
			dict_close(m->tables[i]);
	free(m->tables);
	free(m->borrowed);
	free(m->title);
	free(m);
	*mp = NULL;
}

struct maps *
maps_open_with(const char *title, const char *value, maps_opener *opener,
    const void *ctx, bool borrow, char *err, size_t errsz)
{
	char **specs = config_split_list(value);
	struct maps *m = maps_new(title);
	char derr[DICT_ERR_MAX_BYTES];

	for (size_t i = 0; specs[i] != NULL; i++) {
		struct dict *d;

		if (i >= MAPS_MAX_TABLES) {
			snprintf(err, errsz, "%s: more than %d tables", title,
			    MAPS_MAX_TABLES);
			goto fail;
		}
		d = opener(ctx, specs[i], derr, sizeof(derr));
		if (d == NULL) {
			snprintf(err, errsz, "%s: %s", title, derr);
			goto fail;
		}
		if (borrow)
			maps_add_borrowed(m, d);
		else
			maps_add(m, d);
	}
	strv_free(&specs);
	return m;
fail:
	strv_free(&specs);
	maps_free(&m);
	return NULL;
}

/* open_dict - maps_open()'s opener: dict_open() with the options. */
static struct dict *
open_dict(const void *ctx, const char *spec, char *err, size_t errsz)
{
	return dict_open(spec, ctx, err, errsz);
}

struct maps *
maps_open(const char *title, const char *value,
    const struct dict_open_opts *opts, char *err, size_t errsz)
{
	return maps_open_with(title, value, open_dict, opts, false, err,
	    errsz);
}

const char *
maps_title(const struct maps *m)
{
	return m->title;
}

size_t
maps_count(const struct maps *m)
{
	return m->n;
}

struct dict *
maps_table(const struct maps *m, size_t i)
{
	return i < m->n ? m->tables[i] : NULL;
}

bool
maps_changed(const struct maps *m)
{
	for (size_t i = 0; i < m->n; i++)
		if (dict_changed(m->tables[i]))
			return true;
	return false;
}

void
maps_result_init(struct maps_result *r)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->value, DICT_VALUE_MAX_BYTES);
	buf_init(&r->key, DICT_KEY_MAX_BYTES);
	r->status = DICT_NOTFOUND;
}

void
maps_result_deinit(struct maps_result *r)
{
	buf_deinit(&r->value);
	buf_deinit(&r->key);
}

enum dict_status
maps_find(struct maps *m, const char *key, struct buf *value, char *err,
    size_t errsz)
{
	err[0] = '\0';
	buf_reset(value);
	for (size_t i = 0; i < m->n; i++) {
		enum dict_status st = dict_get(m->tables[i], key, value, err,
		    errsz);

		if (st != DICT_NOTFOUND)
			return st;
	}
	return DICT_NOTFOUND;
}

/* ------------------------------------------------------------ one key */

/* reset - r before a search. */
static void
reset(struct maps_result *r)
{
	r->status = DICT_NOTFOUND;
	r->table = NULL;
	r->err[0] = '\0';
	buf_reset(&r->value);
	buf_reset(&r->key);
}

/*
 * try_key - key (the concatenation of up to three pieces, so callers
 * need no scratch buffers) in every table, skipping whole-string tables
 * when partial.  FOUND and TEMPFAIL leave r filled in; NOTFOUND leaves r
 * as reset() made it.
 */
static enum dict_status
try_key(struct maps *m, struct maps_result *r, bool partial, const char *a,
    size_t alen, const char *b, size_t blen, const char *c, size_t clen)
{
	buf_reset(&r->key);
	if (buf_append(&r->key, a, alen) < 0 ||
	    buf_append(&r->key, b, blen) < 0 ||
	    buf_append(&r->key, c, clen) < 0) {
		buf_reset(&r->key);
		return DICT_NOTFOUND;
	}
	for (size_t i = 0; i < m->n; i++) {
		struct dict *d = m->tables[i];
		enum dict_status st;

		if (partial && (d->type->flags & WHOLE_ONLY))
			continue;
		st = dict_get(d, buf_cstr(&r->key), &r->value, r->err,
		    sizeof(r->err));
		if (st != DICT_NOTFOUND) {
			r->status = st;
			r->table = d;
			if (st == DICT_TEMPFAIL)
				buf_reset(&r->value);
			return st;
		}
	}
	buf_reset(&r->key);
	return DICT_NOTFOUND;
}

/* try1 - a key that is one string. */
static enum dict_status
try1(struct maps *m, struct maps_result *r, bool partial, const char *s,
    size_t len)
{
	return try_key(m, r, partial, s, len, "", 0, "", 0);
}

enum dict_status
maps_find_result(struct maps *m, const char *key, struct maps_result *r)
{
	reset(r);
	return try1(m, r, false, key, strlen(key));
}

/* ------------------------------------------------------------ domains */

/*
 * walk_domain - host, then its parents; host itself partial or not as
 * asked (the domain of an address is partial, a client name is not).
 */
static enum dict_status
walk_domain(struct maps *m, struct maps_result *r, const char *host,
    size_t len, bool host_partial, bool parent_matches_subdomains)
{
	enum dict_status st;
	const char *name = host, *end = host + len;

	if (len == 0)
		return DICT_NOTFOUND;
	st = try1(m, r, host_partial, host, len);
	if (st != DICT_NOTFOUND || host[0] == '[')
		return st;
	for (;;) {
		const char *next = memchr(name + 1, '.',
		    (size_t)(end - name - 1));

		if (next == NULL || next + 1 >= end)
			break;
		/* next points at the dot before the parent. */
		name = next;
		if (parent_matches_subdomains)
			st = try1(m, r, true, next + 1,
			    (size_t)(end - next - 1));
		else
			st = try1(m, r, true, next, (size_t)(end - next));
		if (st != DICT_NOTFOUND)
			return st;
	}
	return DICT_NOTFOUND;
}

enum dict_status
maps_find_domain(struct maps *m, const char *host,
    bool parent_matches_subdomains, struct maps_result *r)
{
	reset(r);
	return walk_domain(m, r, host, strlen(host), false,
	    parent_matches_subdomains);
}

/* ------------------------------------------------------------ addresses */

size_t
maps_split_extension(const char *localpart, size_t len,
    const char *delimiters, unsigned flags)
{
	static const char *const reserved[] = {
		"postmaster", "mailer-daemon", "double-bounce",
	};
	size_t pos;

	if (delimiters == NULL || delimiters[0] == '\0' || len == 0)
		return len;
	for (size_t i = 0; i < N_ELEMENTS(reserved); i++)
		if (len == strlen(reserved[i]) &&
		    strncasecmp(localpart, reserved[i], len) == 0)
			return len;
	if (strchr(delimiters, '-') != NULL &&
	    !(flags & MAPS_ADDR_NO_OWNER_REQUEST_SPECIAL) &&
	    ((len > 6 && strncasecmp(localpart, "owner-", 6) == 0) ||
	    (len > 8 && strncasecmp(localpart + len - 8, "-request", 8) == 0)))
		return len;
	for (pos = 0; pos < len; pos++)
		if (localpart[pos] != '\0' &&
		    strchr(delimiters, localpart[pos]) != NULL)
			break;
	/* A delimiter first leaves no user part: no split. */
	if (pos == 0)
		return len;
	return pos;
}

enum dict_status
maps_find_address(struct maps *m, const char *address,
    const char *delimiters, unsigned flags, struct maps_result *r)
{
	const char *at = strrchr(address, '@');
	size_t alen = strlen(address);
	size_t llen = at != NULL ? (size_t)(at - address) : alen;
	size_t ulen = maps_split_extension(address, llen, delimiters, flags);
	bool ext = ulen < llen;
	const char *dom = at != NULL ? at + 1 : NULL;
	size_t dlen = at != NULL ? alen - llen - 1 : 0;
	enum dict_status st;

	reset(r);
	/* 1. The whole address, for every table. */
	if ((st = try1(m, r, false, address, alen)) != DICT_NOTFOUND)
		return st;
	/* 2. Without the extension. */
	if (ext && (st = try_key(m, r, true, address, ulen, at != NULL ? "@" :
	    "", at != NULL ? 1 : 0, dom != NULL ? dom : "", dlen)) !=
	    DICT_NOTFOUND)
		return st;
	if (at == NULL)
		return DICT_NOTFOUND;
	if (flags & MAPS_ADDR_ACCESS) {
		/* 3. domain and parents; 4. user+ext@, user@. */
		st = walk_domain(m, r, dom, dlen, true,
		    (flags & MAPS_ADDR_PARENT_MATCHES_SUBDOMAINS) != 0);
		if (st != DICT_NOTFOUND || llen == 0)
			return st;
		if ((st = try_key(m, r, true, address, llen, "@", 1, "", 0)) !=
		    DICT_NOTFOUND)
			return st;
		if (ext && (st = try_key(m, r, true, address, ulen, "@", 1,
		    "", 0)) != DICT_NOTFOUND)
			return st;
		return DICT_NOTFOUND;
	}
	/* 3. user+ext, user (local domains). */
	if ((flags & MAPS_ADDR_USER) && llen > 0) {
		if ((st = try1(m, r, true, address, llen)) != DICT_NOTFOUND)
			return st;
		if (ext && (st = try1(m, r, true, address, ulen)) !=
		    DICT_NOTFOUND)
			return st;
	}
	/* 4. @domain (not again when the address was "@domain" itself). */
	if (llen > 0 && dlen > 0 &&
	    (st = try1(m, r, true, at, dlen + 1)) != DICT_NOTFOUND)
		return st;
	return DICT_NOTFOUND;
}

/* ------------------------------------------------------------ client IP */

enum dict_status
maps_find_client_addr(struct maps *m, const char *addr,
    struct maps_result *r)
{
	unsigned char bin[16];
	size_t len = strlen(addr);
	char delim;
	enum dict_status st;

	reset(r);
	if (len == 0)
		return DICT_NOTFOUND;
	if ((st = try1(m, r, false, addr, len)) != DICT_NOTFOUND)
		return st;
	if (inet_pton(AF_INET, addr, bin) == 1)
		delim = '.';
	else if (inet_pton(AF_INET6, addr, bin) == 1)
		delim = ':';
	else
		return DICT_NOTFOUND;
	/* Drop the last delim-separated part, again and again. */
	while (len > 0) {
		const char *cut = memrchr(addr, delim, len);

		if (cut == NULL)
			break;
		len = (size_t)(cut - addr);
		if (len == 0)
			break;
		if ((st = try1(m, r, true, addr, len)) != DICT_NOTFOUND)
			return st;
	}
	return DICT_NOTFOUND;
}
