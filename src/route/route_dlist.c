/* SPDX-License-Identifier: MIT */
/*
 * route_dlist - Postfix domain lists for the resolver; see route_dlist.h.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "file_read.h"
#include "maps.h"
#include "route_dlist.h"
#include "strv.h"
#include "xalloc.h"

enum el_kind {
	EL_NAME,	/* a domain name or ".domain" */
	EL_TABLE,	/* type:table (m NULL with err when it did not open) */
	EL_BROKEN,	/* a /file that could not be used: err */
};

struct el {
	enum el_kind kind;
	bool negate;
	char *text;		/* the name (lower case) or the table spec */
	struct maps *m;
	char *err;
};

struct route_dlist {
	char *param;
	bool hostname_style;
	bool parent_style;
	struct el *v;
	size_t n;
	size_t cap;
};

/* ------------------------------------------------------------ parsing */

static bool
is_table_spec(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-");

	return n > 0 && s[n] == ':';
}

static struct el *
add_el(struct route_dlist *dl, enum el_kind kind, bool negate,
    const char *text)
{
	struct el *e;

	if (dl->n == dl->cap) {
		dl->cap = dl->cap ? dl->cap * 2 : 8;
		dl->v = xreallocarray(dl->v, dl->cap, sizeof(*dl->v));
	}
	e = &dl->v[dl->n++];
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->negate = negate;
	e->text = xstrdup(text);
	return e;
}

/* add_name - a domain name element: lower case, one trailing dot gone. */
static void
add_name(struct route_dlist *dl, bool negate, const char *name)
{
	struct el *e = add_el(dl, EL_NAME, negate, name);
	size_t len = strlen(e->text);

	for (size_t i = 0; i < len; i++)
		e->text[i] = (char)tolower((unsigned char)e->text[i]);
	if (len > 1 && e->text[len - 1] == '.' && e->text[len - 2] != '.')
		e->text[len - 1] = '\0';
}

static void
add_table(struct route_dlist *dl, bool negate, const char *spec,
    route_maps_open_fn *open, void *ctx)
{
	struct el *e = add_el(dl, EL_TABLE, negate, spec);
	char oerr[DICT_ERR_MAX_BYTES];

	oerr[0] = '\0';
	e->m = open(ctx, dl->param, spec, oerr, sizeof(oerr));
	if (e->m == NULL)
		e->err = xasprintf("%s: table %s: %s", dl->param, spec,
		    oerr[0] ? oerr : "cannot be opened");
}

static void
add_broken(struct route_dlist *dl, const char *what, char *err_take)
{
	struct el *e = add_el(dl, EL_BROKEN, false, what);

	e->err = err_take;
}

/*
 * add_file - the elements of a /file element, in place.  Any problem
 * (unreadable, nested file, bad element) makes the whole file one
 * failing element, so that a search reaching it fails closed.
 */
static void
add_file(struct route_dlist *dl, const char *path, route_maps_open_fn *open,
    void *ctx)
{
	size_t len, first = dl->n;
	int eno;
	char *error = NULL;
	char *text = file_read_capped(path, ROUTE_DLIST_FILE_MAX_BYTES, &len,
	    &eno, &error);
	unsigned lineno = 0;

	if (text == NULL) {
		add_broken(dl, path, xasprintf("%s: %s: %s", dl->param, path,
		    error != NULL ? error : "cannot read"));
		free(error);
		return;
	}
	if (memchr(text, '\0', len) != NULL) {
		free(text);
		add_broken(dl, path, xasprintf("%s: %s: contains a NUL byte",
		    dl->param, path));
		return;
	}
	/* Line by line, counting lines for the messages. */
	for (char *p = text; p != NULL && *p != '\0'; ) {
		char *nl = strchr(p, '\n');
		char *line = p, **words;
		const char *q;

		if (nl != NULL)
			*nl = '\0';
		p = nl != NULL ? nl + 1 : NULL;
		lineno++;
		q = line + strspn(line, " \t\r");
		if (*q == '#' || *q == '\0')
			continue;
		words = config_split_list(line);
		for (size_t i = 0; words[i] != NULL; i++) {
			const char *w = words[i];
			bool neg = false;

			if (*w == '!') {
				neg = true;
				w++;
			}
			if (*w == '\0' || *w == '/' ||
			    dl->n >= ROUTE_DLIST_MAX_ELEMENTS) {
				char *msg = xasprintf("%s: %s, line %u: %s",
				    dl->param, path, lineno, *w == '\0' ?
				    "\"!\" without a pattern" : *w == '/' ?
				    "a file may not name another file" :
				    "too many elements");

				strv_free(&words);
				/* Drop what this file added, keep one
				 * failing element instead. */
				while (dl->n > first) {
					struct el *e = &dl->v[--dl->n];

					free(e->text);
					free(e->err);
					maps_free(&e->m);
				}
				free(text);
				add_broken(dl, path, msg);
				return;
			}
			if (is_table_spec(w))
				add_table(dl, neg, w, open, ctx);
			else
				add_name(dl, neg, w);
		}
		strv_free(&words);
	}
	free(text);
}

struct route_dlist *
route_dlist_new(const char *param, const char *value, bool hostname_style,
    bool parent_style, route_maps_open_fn *open, void *ctx, char *err,
    size_t errsz)
{
	struct route_dlist *dl = xcalloc(1, sizeof(*dl));
	char **words = config_split_list(value != NULL ? value : "");

	dl->param = xstrdup(param);
	dl->hostname_style = hostname_style;
	dl->parent_style = hostname_style && parent_style;
	for (size_t i = 0; words[i] != NULL; i++) {
		const char *w = words[i];
		bool neg = false;

		if (dl->n >= ROUTE_DLIST_MAX_ELEMENTS) {
			snprintf(err, errsz, "%s: more than %d elements", param,
			    ROUTE_DLIST_MAX_ELEMENTS);
			goto fail;
		}
		if (*w == '!') {
			neg = true;
			w++;
		}
		if (*w == '\0') {
			snprintf(err, errsz, "%s: \"!\" without a pattern",
			    param);
			goto fail;
		}
		if (*w == '/') {
			if (neg) {
				snprintf(err, errsz, "%s: \"!%.200s\": a file "
				    "cannot be negated (negate the patterns "
				    "inside it)", param, w);
				goto fail;
			}
			add_file(dl, w, open, ctx);
		} else if (is_table_spec(w)) {
			add_table(dl, neg, w, open, ctx);
		} else {
			add_name(dl, neg, w);
		}
	}
	strv_free(&words);
	return dl;
fail:
	strv_free(&words);
	route_dlist_free(&dl);
	return NULL;
}

void
route_dlist_free(struct route_dlist **dlp)
{
	struct route_dlist *dl;

	if (dlp == NULL || (dl = *dlp) == NULL)
		return;
	for (size_t i = 0; i < dl->n; i++) {
		free(dl->v[i].text);
		free(dl->v[i].err);
		maps_free(&dl->v[i].m);
	}
	free(dl->v);
	free(dl->param);
	free(dl);
	*dlp = NULL;
}

bool
route_dlist_empty(const struct route_dlist *dl)
{
	return dl == NULL || dl->n == 0;
}

const char *
route_dlist_param(const struct route_dlist *dl)
{
	return dl->param;
}

/* ------------------------------------------------------------ matching */

/* ends_with - domain is longer than suffix and ends with it. */
static bool
ends_with(const char *domain, size_t dlen, const char *suffix, size_t slen)
{
	return dlen > slen && memcmp(domain + dlen - slen, suffix, slen) == 0;
}

static bool
name_matches(const struct route_dlist *dl, const char *name,
    const char *domain)
{
	size_t dlen = strlen(domain), nlen = strlen(name);

	if (strcmp(name, domain) == 0)
		return true;
	if (!dl->hostname_style || nlen == 0)
		return false;
	if (name[0] == '.')
		return ends_with(domain, dlen, name, nlen);
	/* Parent style: "example.com" also matches "a.example.com". */
	return dl->parent_style && ends_with(domain, dlen, name, nlen) &&
	    domain[dlen - nlen - 1] == '.';
}

int
route_dlist_match(struct route_dlist *dl, const char *domain, char *why,
    size_t whysz, char *err, size_t errsz)
{
	struct maps_result res;
	int ret = 0;

	if (why != NULL && whysz > 0)
		why[0] = '\0';
	if (dl == NULL || domain == NULL || domain[0] == '\0')
		return 0;
	maps_result_init(&res);
	for (size_t i = 0; i < dl->n; i++) {
		struct el *e = &dl->v[i];
		enum dict_status st;

		if (e->kind == EL_BROKEN ||
		    (e->kind == EL_TABLE && e->m == NULL)) {
			snprintf(err, errsz, "%s", e->err);
			ret = -1;
			break;
		}
		if (e->kind == EL_NAME) {
			if (!name_matches(dl, e->text, domain))
				continue;
			if (why != NULL)
				snprintf(why, whysz, "\"%s%s\"",
				    e->negate ? "!" : "", e->text);
			ret = e->negate ? 0 : 1;
			break;
		}
		if (dl->hostname_style)
			st = maps_find_domain(e->m, domain, dl->parent_style,
			    &res);
		else
			st = maps_find_result(e->m, domain, &res);
		if (st == DICT_TEMPFAIL) {
			snprintf(err, errsz, "%s: %s", dl->param, res.err);
			ret = -1;
			break;
		}
		if (st == DICT_FOUND) {
			if (why != NULL)
				snprintf(why, whysz, "%stable %s (key %s)",
				    e->negate ? "negated " : "", e->text,
				    buf_cstr(&res.key));
			ret = e->negate ? 0 : 1;
			break;
		}
	}
	maps_result_deinit(&res);
	return ret;
}
