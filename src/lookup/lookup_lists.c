/* SPDX-License-Identifier: MIT */
/*
 * lookup_lists - FIND and ROUTE over the lookup process's open tables;
 * see lookup_lists.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "lookup_client.h"
#include "lookup_lists.h"
#include "lookup_tables.h"
#include "master_cf.h"
#include "route.h"
#include "strv.h"
#include "xalloc.h"

struct find_entry {
	char *tables;		/* as the request wrote it */
	struct maps *m;
};

struct route_entry {
	const struct config_view *v;
	struct route_tables *rt;
};

struct lookup_lists {
	const struct config *cf;
	lookup_borrow_fn *borrow;
	void *ctx;
	struct find_entry *finds;
	size_t nfinds;
	struct route_entry *routes;
	size_t nroutes;
};

struct lookup_lists *
lookup_lists_new(const struct config *cf, lookup_borrow_fn *borrow,
    void *ctx)
{
	struct lookup_lists *ll = xcalloc(1, sizeof(*ll));

	ll->cf = cf;
	ll->borrow = borrow;
	ll->ctx = ctx;
	return ll;
}

static void
clear_finds(struct lookup_lists *ll)
{
	for (size_t i = 0; i < ll->nfinds; i++) {
		free(ll->finds[i].tables);
		maps_free(&ll->finds[i].m);
	}
	free(ll->finds);
	ll->finds = NULL;
	ll->nfinds = 0;
}

size_t
lookup_lists_clear(struct lookup_lists *ll, bool routes_too)
{
	size_t n = ll->nfinds;

	clear_finds(ll);
	if (!routes_too)
		return n;
	n += ll->nroutes;
	for (size_t i = 0; i < ll->nroutes; i++)
		route_tables_free(&ll->routes[i].rt);
	free(ll->routes);
	ll->routes = NULL;
	ll->nroutes = 0;
	return n;
}

void
lookup_lists_free(struct lookup_lists **llp)
{
	struct lookup_lists *ll = *llp;

	if (ll == NULL)
		return;
	(void)lookup_lists_clear(ll, true);
	free(ll);
	*llp = NULL;
}

const struct config_view *
lookup_lists_view(const struct config *cf, const char *service)
{
	const struct master_cf *mcf = config_master(cf);
	const char *slash = strrchr(service, '/');
	size_t nlen = strlen(service);
	int type = -1;

	if (service[0] == '\0')
		return config_main(cf);
	if (mcf == NULL)
		return NULL;
	if (slash != NULL) {
		for (int t = MASTER_TYPE_INET; t <= MASTER_TYPE_PASS; t++)
			if (strcmp(slash + 1, master_type_name(
			    (enum master_type)t)) == 0) {
				type = t;
				nlen = (size_t)(slash - service);
				break;
			}
	}
	for (size_t i = 0; i < mcf->nservices; i++) {
		const struct master_service *s = &mcf->services[i];

		if (strlen(s->name) == nlen &&
		    memcmp(s->name, service, nlen) == 0 &&
		    (type < 0 || (int)s->type == type))
			return config_service(cf, i);
	}
	return NULL;
}

/* borrow_unproxied - build()'s opener: ll's table for spec, proxy:
 * dropped. */
static struct dict *
borrow_unproxied(const void *ctx, const char *spec, char *err,
    size_t errsz)
{
	const struct lookup_lists *ll = ctx;

	return ll->borrow(ll->ctx, lookup_tables_unproxy(spec), err, errsz);
}

/*
 * build - a list over the tables of value (a *_maps value), every one
 * borrowed; NULL with err ("title: reason") when one is not served or
 * there are too many.
 */
static struct maps *
build(struct lookup_lists *ll, const char *title, const char *value,
    char *err, size_t errsz)
{
	return maps_open_with(title, value, borrow_unproxied, ll, true, err,
	    errsz);
}

/* find_maps - the cached list for tables, built when new. */
static struct maps *
find_maps(struct lookup_lists *ll, const char *tables, char *err,
    size_t errsz)
{
	struct maps *m;

	for (size_t i = 0; i < ll->nfinds; i++)
		if (strcmp(ll->finds[i].tables, tables) == 0)
			return ll->finds[i].m;
	m = build(ll, "FIND", tables, err, errsz);
	if (m == NULL)
		return NULL;
	if (maps_count(m) == 0) {
		snprintf(err, errsz, "FIND: the list of tables \"%.200s\" "
		    "names no table", tables);
		maps_free(&m);
		return NULL;
	}
	if (ll->nfinds >= LOOKUP_LISTS_FIND_MAX) {
		log_debug(1, "more than %d lists of tables asked for; "
		    "dropping the cached ones", LOOKUP_LISTS_FIND_MAX);
		clear_finds(ll);
	}
	ll->finds = xreallocarray(ll->finds, ll->nfinds + 1,
	    sizeof(*ll->finds));
	ll->finds[ll->nfinds].tables = xstrdup(tables);
	ll->finds[ll->nfinds].m = m;
	ll->nfinds++;
	return m;
}

enum dict_status
lookup_lists_find(struct lookup_lists *ll, const struct lookup_find *f,
    struct maps_result *r)
{
	struct maps *m = find_maps(ll, f->tables, r->err, sizeof(r->err));

	if (m == NULL) {
		buf_reset(&r->value);
		buf_reset(&r->key);
		r->table = NULL;
		r->status = DICT_TEMPFAIL;
		return DICT_TEMPFAIL;
	}
	switch (f->order) {
	case LOOKUP_FIND_EXACT:
		return maps_find_result(m, f->key, r);
	case LOOKUP_FIND_ADDRESS:
		return maps_find_address(m, f->key, f->delimiters, f->mflags,
		    r);
	case LOOKUP_FIND_DOMAIN:
		return maps_find_domain(m, f->key,
		    (f->mflags & MAPS_ADDR_PARENT_MATCHES_SUBDOMAINS) != 0, r);
	case LOOKUP_FIND_CLIENT_ADDR:
		return maps_find_client_addr(m, f->key, r);
	}
	/* The decoder lets no other order through. */
	snprintf(r->err, sizeof(r->err), "FIND: unknown order %u",
	    (unsigned)f->order);
	r->status = DICT_TEMPFAIL;
	return DICT_TEMPFAIL;
}

/* route_open - route.h's opener: a list that borrows. */
static struct maps *
route_open(void *ctx, const char *param, const char *value, char *err,
    size_t errsz)
{
	return build(ctx, param, value, err, errsz);
}

/* view_tables - the cached tables of view v, built when new. */
static struct route_tables *
view_tables(struct lookup_lists *ll, const struct config_view *v,
    char *err, size_t errsz)
{
	struct route_tables *rt;

	for (size_t i = 0; i < ll->nroutes; i++)
		if (ll->routes[i].v == v)
			return ll->routes[i].rt;
	rt = route_tables_new(v, route_open, ll, err, errsz);
	if (rt == NULL)
		return NULL;
	ll->routes = xreallocarray(ll->routes, ll->nroutes + 1,
	    sizeof(*ll->routes));
	ll->routes[ll->nroutes].v = v;
	ll->routes[ll->nroutes].rt = rt;
	ll->nroutes++;
	return rt;
}

size_t
lookup_lists_prepare_routes(struct lookup_lists *ll)
{
	const struct master_cf *mcf = config_master(ll->cf);
	char err[ROUTE_ERR_MAX_BYTES];
	size_t failed = 0;

	if (view_tables(ll, config_main(ll->cf), err, sizeof(err)) == NULL) {
		log_error("main.cf: cannot set up address routing: %s; ROUTE "
		    "requests for it will fail until this is fixed", err);
		failed++;
	}
	for (size_t i = 0; mcf != NULL && i < mcf->nservices; i++) {
		const struct master_service *s = &mcf->services[i];

		if (view_tables(ll, config_service(ll->cf, i), err,
		    sizeof(err)) != NULL)
			continue;
		log_error("service %s/%s: cannot set up address routing: %s; "
		    "ROUTE requests for it will fail until this is fixed",
		    s->name, master_type_name(s->type), err);
		failed++;
	}
	return failed;
}

/* route_tables_for - the tables of service's view. */
static struct route_tables *
route_tables_for(struct lookup_lists *ll, const char *service, char *err,
    size_t errsz)
{
	const struct config_view *v = lookup_lists_view(ll->cf, service);

	if (v == NULL) {
		snprintf(err, errsz, "ROUTE: no service \"%s\" in master.cf",
		    service);
		return NULL;
	}
	return view_tables(ll, v, err, errsz);
}

enum dict_status
lookup_lists_route(struct lookup_lists *ll, const struct lookup_route *q,
    struct buf *text, char *err, size_t errsz)
{
	struct route_tables *rt;
	struct route_result res, xr;
	struct route_verdict verdict;
	struct lookup_route_answer a;
	char **rcpts = NULL;
	char mapped[ROUTE_ADDRESS_MAX_BYTES], none[1] = "";
	const char *ferr = NULL;
	enum dict_status st = DICT_TEMPFAIL;

	buf_reset(text);
	err[0] = '\0';
	rt = route_tables_for(ll, q->service, err, errsz);
	if (rt == NULL)
		return DICT_TEMPFAIL;
	route_result_init(&res);
	route_result_init(&xr);
	memset(&a, 0, sizeof(a));
	if (q->op == LOOKUP_ROUTE_HEADER_SENDER ||
	    q->op == LOOKUP_ROUTE_HEADER_RCPT ||
	    q->op == LOOKUP_ROUTE_GENERIC) {
		/* A header address is only mapped, never resolved: it need
		 * not be routable (a From: of a domain we do not know). */
		if ((q->op == LOOKUP_ROUTE_GENERIC ? route_generic(rt,
		    q->address, mapped, sizeof(mapped), &xr) :
		    route_rewrite_header(rt, q->address, q->op ==
		    LOOKUP_ROUTE_HEADER_SENDER, mapped, sizeof(mapped), &xr)) !=
		    ROUTE_OK) {
			snprintf(err, errsz, "%s", xr.err[0] != '\0' ?
			    xr.err : "the address mapping failed");
			goto out;
		}
		a.cls = ROUTE_DEFAULT;
		a.address = mapped;
		a.transport = none;
		a.nexthop = none;
		goto answer;
	}
	if (route_resolve(rt, q->address, &res) != ROUTE_OK) {
		snprintf(err, errsz, "%s", res.err[0] != '\0' ? res.err :
		    "the address could not be resolved");
		goto out;
	}
	a.cls = res.cls;
	a.flags = res.flags;
	a.address = res.address;
	a.transport = res.transport;
	a.nexthop = res.nexthop;
	if (q->op == LOOKUP_ROUTE_CHECK) {
		memset(&verdict, 0, sizeof(verdict));
		if (route_check_listed(rt, &res, &verdict, err, errsz) !=
		    ROUTE_OK) {
			if (err[0] == '\0')
				snprintf(err, errsz, "the recipient check "
				    "failed");
			goto out;
		}
		a.has_listed = true;
		a.listed = verdict.listed == ROUTE_LISTED;
		a.code = verdict.code;
		a.dsn = verdict.dsn;
		a.text = verdict.text;
	} else if (q->op == LOOKUP_ROUTE_EXPAND) {
		if (route_expand_aliases(rt, res.address, &rcpts, &xr) !=
		    ROUTE_OK) {
			snprintf(err, errsz, "%s", xr.err[0] != '\0' ?
			    xr.err : "the virtual alias expansion failed");
			goto out;
		}
		a.rcpts = rcpts;
	} else if (q->op == LOOKUP_ROUTE_REWRITE_SENDER ||
	    q->op == LOOKUP_ROUTE_REWRITE_RCPT) {
		char *bcc = NULL;

		if (route_rewrite(rt, q->address, q->op ==
		    LOOKUP_ROUTE_REWRITE_SENDER, mapped, sizeof(mapped), &bcc,
		    &xr) != ROUTE_OK) {
			snprintf(err, errsz, "%s", xr.err[0] != '\0' ?
			    xr.err : "the canonical mapping failed");
			goto out;
		}
		a.address = mapped;
		if (bcc != NULL) {
			rcpts = xcalloc(2, sizeof(*rcpts));
			rcpts[0] = bcc;
			a.rcpts = rcpts;
		}
	}
answer:
	if (lookup_route_answer_format(&a, text, &ferr) < 0) {
		snprintf(err, errsz, "ROUTE %s: %s", lookup_route_op_name(q->op),
		    ferr);
		buf_reset(text);
		goto out;
	}
	st = DICT_FOUND;
out:
	strv_free(&rcpts);
	route_result_deinit(&xr);
	route_result_deinit(&res);
	return st;
}
