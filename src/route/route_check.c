/* SPDX-License-Identifier: MIT */
/*
 * route_check - the recipient tables (route_check_listed: Postfix's
 * reject_unlisted_recipient) and virtual alias expansion
 * (route_expand_aliases: cleanup's virtual_alias_maps rewriting); see
 * route.h.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "maps.h"
#include "route.h"
#include "route_int.h"
#include "strv.h"
#include "xalloc.h"
#include "xalloc.h"

/* ------------------------------------------------------------ tables */

/*
 * find_address - maps_find_address() in the parameter's tables.
 * DICT_NOTFOUND when the parameter is empty; DICT_TEMPFAIL with err
 * ("param: table: reason") when it failed to open or a lookup failed.
 */
static enum dict_status
find_address(struct route_tables *rt, enum rm_id id, const char *address,
    unsigned flags, struct maps_result *res, char *err, size_t errsz)
{
	struct rmaps *rm = &rt->maps[id];
	enum dict_status st;

	if (rm->err != NULL) {
		rt_errf(err, errsz, "%s", rm->err);
		return DICT_TEMPFAIL;
	}
	if (rm->m == NULL)
		return DICT_NOTFOUND;
	st = maps_find_address(rm->m, address, rt->delim, flags, res);
	if (st == DICT_TEMPFAIL)
		rt_errf(err, errsz, "%s: %s", rt_maps_params[id].name,
		    res->err);
	return st;
}

/*
 * user_flag - MAPS_ADDR_USER when the address's domain is local in
 * Postfix's mail_addr_find() sense ($myorigin, $mydestination, our
 * address literals), so that "user" keys apply.  -1 on a lookup error.
 */
static int
user_flag(struct route_tables *rt, const char *address, unsigned *flags,
    char *err, size_t errsz)
{
	const char *dom = rt_domain_of(address);
	char why[600], d[ROUTE_ADDRESS_MAX_BYTES];
	int rc;

	*flags = 0;
	if (dom == NULL || rt_copy(d, sizeof(d), dom) < 0)
		return 0;
	rt_lower(d);
	if (strcmp(d, rt->myorigin) == 0) {
		*flags = MAPS_ADDR_USER;
		return 0;
	}
	rc = rt_is_local(rt, d, why, sizeof(why), err, errsz);
	if (rc < 0)
		return -1;
	if (rc > 0)
		*flags = MAPS_ADDR_USER;
	return 0;
}

int
rt_relocated(struct route_tables *rt, struct route_result *r)
{
	struct maps_result res;
	char err[ROUTE_ERR_MAX_BYTES];
	const char *v;
	unsigned flags;
	enum dict_status st;
	size_t n;

	err[0] = '\0';
	if (user_flag(rt, r->address, &flags, err, sizeof(err)) < 0) {
		rt_errf(r->err, sizeof(r->err), "%s", err);
		return -1;
	}
	maps_result_init(&res);
	st = find_address(rt, RM_RELOCATED, r->address, flags, &res, err,
	    sizeof(err));
	if (st == DICT_TEMPFAIL) {
		rt_errf(r->err, sizeof(r->err), "%s", err);
		maps_result_deinit(&res);
		return -1;
	}
	if (st == DICT_FOUND) {
		v = buf_cstr(&res.value);
		while (*v == ' ' || *v == '\t')
			v++;
		(void)rt_copy(r->transport, sizeof(r->transport), "error");
		(void)rt_format(r->nexthop, sizeof(r->nexthop), "5.1.6 User "
		    "has moved to %.200s", *v != '\0' ? v : "another address");
		for (n = 0; r->nexthop[n] != '\0'; n++)
			if ((unsigned char)r->nexthop[n] < 0x20 ||
			    r->nexthop[n] == 0x7f)
				r->nexthop[n] = '?';
		rt_step(r, "relocated_maps: %s (key %s in %s): transport "
		    "error, next hop %s", r->address, buf_cstr(&res.key),
		    res.table != NULL ? res.table->spec : "?", r->nexthop);
	}
	maps_result_deinit(&res);
	return 0;
}

/* ------------------------------------------------------------ listed */

/*
 * error_verdict - the verdict for an error-type transport: the next
 * hop is "[d.d.d ]text"; the DSN, when there, is split off (defdsn
 * otherwise), and a 4.x.x DSN makes a 5xx code 450.
 */
static void
error_verdict(struct route_verdict *v, int code, const char *defdsn,
    const char *nexthop)
{
	size_t n = 0;

	/* d.ddd.ddd followed by a space */
	if ((nexthop[0] == '2' || nexthop[0] == '4' || nexthop[0] == '5') &&
	    nexthop[1] == '.') {
		size_t i = 2, dots = 0;

		while (nexthop[i] != '\0' && (isdigit((unsigned char)nexthop[i])
		    || nexthop[i] == '.')) {
			if (nexthop[i] == '.')
				dots++;
			i++;
		}
		if (dots == 1 && nexthop[i] == ' ' && i < sizeof(v->dsn))
			n = i;
	}
	v->listed = ROUTE_UNLISTED;
	if (n > 0) {
		memcpy(v->dsn, nexthop, n);
		v->dsn[n] = '\0';
		nexthop += n + 1;
	} else {
		(void)rt_copy(v->dsn, sizeof(v->dsn), defdsn);
	}
	v->code = v->dsn[0] == '4' && code >= 500 ? 450 : code;
	rt_errf(v->text, sizeof(v->text), "%s", nexthop);
}

/* unknown - "User unknown in TABLE" with the class's reply code. */
static void
unknown(struct route_tables *rt, struct route_verdict *v, int code,
    const char *table)
{
	v->listed = ROUTE_UNLISTED;
	v->code = code;
	(void)rt_copy(v->dsn, sizeof(v->dsn), code < 500 ? "4.1.1" : "5.1.1");
	rt_errf(v->text, sizeof(v->text), "User unknown%s%s",
	    rt->show_table ? " in " : "", rt->show_table ? table : "");
}

enum route_status
route_check_listed(struct route_tables *rt, const struct route_result *r,
    struct route_verdict *v, char *err, size_t errsz)
{
	struct maps_result res;
	enum route_status ret = ROUTE_OK;
	enum dict_status st;
	unsigned flags = 0;
	const char *addr = r->address;
	enum rm_id id;

	memset(v, 0, sizeof(*v));
	v->listed = ROUTE_LISTED;
	if (addr[0] == '\0' || (r->flags & ROUTE_F_POSTMASTER))
		return ROUTE_OK;
	if (r->cls == ROUTE_LOCAL || strcasecmp(rt_domain_of(addr) != NULL ?
	    rt_domain_of(addr) : "", rt->myorigin) == 0)
		flags = MAPS_ADDR_USER;
	maps_result_init(&res);

	/* An address with a canonical or virtual alias mapping is known
	 * (it is rewritten before delivery). */
	{
		const enum rm_id known[] = { RM_RCPT_CANON, RM_CANON,
		    RM_VALIAS };

		for (size_t i = 0; i < N_ELEMENTS(known); i++) {
			st = find_address(rt, known[i], addr, flags, &res, err,
			    errsz);
			if (st == DICT_TEMPFAIL)
				goto tempfail;
			if (st == DICT_FOUND)
				goto out;
		}
	}
	if (strcmp(r->transport, "error") == 0) {
		error_verdict(v, r->cls == ROUTE_ALIAS ? rt->code_alias : 550,
		    "5.1.1", r->nexthop);
		goto out;
	}
	if (strcmp(r->transport, "retry") == 0) {
		error_verdict(v, 450, "4.1.1", r->nexthop);
		goto out;
	}
	switch (r->cls) {
	case ROUTE_LOCAL: {
		const char *dom = rt_domain_of(addr);
		size_t llen = dom != NULL ? (size_t)(dom - 1 - addr) : 0;

		if (!rt->maps[RM_LOCAL_RCPT].set)
			goto out;
		/* Absorbed or generated by the mail system itself. */
		if ((llen == strlen(rt->double_bounce) &&
		    strncasecmp(addr, rt->double_bounce, llen) == 0) ||
		    (llen == 13 && strncasecmp(addr, "mailer-daemon", 13) ==
		    0))
			goto out;
		id = RM_LOCAL_RCPT;
		break;
	}
	case ROUTE_VIRTUAL:
		if (!rt->maps[RM_VMBOX].set)
			goto out;
		id = RM_VMBOX;
		break;
	case ROUTE_RELAY:
		if (!rt->maps[RM_RELAY_RCPT].set)
			goto out;
		id = RM_RELAY_RCPT;
		break;
	case ROUTE_ALIAS:
	case ROUTE_DEFAULT:
	default:
		goto out;
	}
	st = find_address(rt, id, addr, flags, &res, err, errsz);
	if (st == DICT_TEMPFAIL)
		goto tempfail;
	if (st == DICT_NOTFOUND) {
		if (id == RM_LOCAL_RCPT)
			unknown(rt, v, rt->code_local, "local recipient table");
		else if (id == RM_VMBOX)
			unknown(rt, v, rt->code_virtual,
			    "virtual mailbox table");
		else
			unknown(rt, v, rt->code_relay, "relay recipient table");
	}
	goto out;
tempfail:
	ret = ROUTE_TEMPFAIL;
	memset(v, 0, sizeof(*v));
	v->listed = ROUTE_UNLISTED;
	v->code = 451;
	(void)rt_copy(v->dsn, sizeof(v->dsn), "4.3.0");
	rt_errf(v->text, sizeof(v->text), "Temporary lookup failure");
out:
	maps_result_deinit(&res);
	return ret;
}

/* ------------------------------------------------------------ aliases */

struct expand {
	struct route_tables *rt;
	struct route_result *r;
	struct strv out;		/* final addresses */
	struct strv self;		/* addresses that alias themselves */
	struct strv chain;		/* the aliases being expanded */
	struct maps_result res;
	size_t lookups;
	long long depth_limit;
	char *err;
	size_t errsz;
};

static bool
in_strv(const struct strv *sv, const char *s)
{
	for (size_t i = 0; i < sv->n; i++)
		if (strcasecmp(sv->v[i], s) == 0)
			return true;
	return false;
}

static int
add_out(struct expand *x, const char *addr, const char *origin)
{
	if (in_strv(&x->out, addr))
		return 0;
	if ((long long)x->out.n + 1 > x->rt->expansion_limit) {
		rt_errf(x->err, x->errsz, "virtual_alias_maps: %s expands "
		    "to more than %lld addresses "
		    "(virtual_alias_expansion_limit)", origin,
		    x->rt->expansion_limit);
		return -1;
	}
	strv_add(&x->out, addr);
	return 0;
}

/*
 * split_value - the addresses of an alias value: separated by commas
 * and/or white space outside double quotes; "<address>" loses its
 * brackets.
 */
static void
split_value(const char *val, struct strv *sv)
{
	const char *p = val;

	while (*p != '\0') {
		const char *s;
		bool q = false;
		size_t len;

		p += strspn(p, ", \t\r\n");
		if (*p == '\0')
			break;
		for (s = p; *p != '\0'; p++) {
			if (q && *p == '\\' && p[1] != '\0') {
				p++;
				continue;
			}
			if (*p == '"')
				q = !q;
			else if (!q && strchr(", \t\r\n", *p) != NULL)
				break;
		}
		len = (size_t)(p - s);
		if (len >= 2 && s[0] == '<' && s[len - 1] == '>') {
			s++;
			len -= 2;
		}
		if (len > 0)
			strv_addn(sv, s, len);
	}
}

/*
 * fix_target - one alias target: @$myorigin when it has no domain (as
 * Postfix's mail_addr_map), and the unmatched extension of the
 * original address when propagate_unmatched_extensions has "virtual".
 */
static int
fix_target(struct expand *x, const char *target, const char *ext,
    char *out, size_t outsz)
{
	long at = rt_find_op(target, '@', true);

	if (at < 0) {
		if (rt_format(out, outsz, "%s%s@%s", target, ext,
		    x->rt->myorigin) < 0)
			return -1;
		return 0;
	}
	return rt_format(out, outsz, "%.*s%s%s", (int)at, target, ext,
	    target + at);
}

/* postmaster_of_alias_domain - is addr postmaster@ a domain of
 * virtual_alias_domains?  1 yes, 0 no, -1 a lookup failed (x->err). */
static int
postmaster_of_alias_domain(struct expand *x, const char *addr)
{
	const char *dom = rt_domain_of(addr);
	enum route_class cls;

	if (dom == NULL || (size_t)(dom - 1 - addr) != 10 ||
	    strncasecmp(addr, "postmaster", 10) != 0)
		return 0;
	if (route_domain_class(x->rt, dom, &cls, x->err, x->errsz) !=
	    ROUTE_OK)
		return -1;
	return cls == ROUTE_ALIAS;
}

static int
expand_one(struct expand *x, const char *addr, long long depth)
{
	struct route_tables *rt = x->rt;
	struct strv targets;
	char ext[ROUTE_ADDRESS_MAX_BYTES], t[ROUTE_ADDRESS_MAX_BYTES];
	const char *dom, *key;
	size_t llen, ulen;
	unsigned flags;
	enum dict_status st;
	int ret = 0, pm_rc = 0;

	if (in_strv(&x->self, addr))
		return add_out(x, addr, x->chain.n ? x->chain.v[0] : addr);
	if (depth >= x->depth_limit) {
		rt_errf(x->err, x->errsz, "virtual_alias_maps: %s: nested "
		    "deeper than %lld levels (virtual_alias_recursion_limit)",
		    x->chain.n ? x->chain.v[0] : addr, x->depth_limit);
		return -1;
	}
	if (++x->lookups > ROUTE_ALIAS_LOOKUPS_MAX) {
		rt_errf(x->err, x->errsz, "virtual_alias_maps: %s: more than "
		    "%d lookups", x->chain.n ? x->chain.v[0] : addr,
		    ROUTE_ALIAS_LOOKUPS_MAX);
		return -1;
	}
	/* No tables: nothing to ask (and no domain check to fail). */
	if (!rt->maps[RM_VALIAS].set)
		return add_out(x, addr, x->chain.n ? x->chain.v[0] : addr);
	if (user_flag(rt, addr, &flags, x->err, x->errsz) < 0)
		return -1;
	st = find_address(rt, RM_VALIAS, addr, flags, &x->res, x->err,
	    x->errsz);
	if (st == DICT_TEMPFAIL)
		return -1;
	if (st == DICT_NOTFOUND && (pm_rc = postmaster_of_alias_domain(x,
	    addr)) < 0)
		return -1;
	if (st == DICT_NOTFOUND && pm_rc == 1) {
		/* RFC 5321 4.5.1: postmaster of a domain whose every address
		 * is an alias, without an alias of its own, reaches the local
		 * postmaster (and its local aliases). */
		char pm[ROUTE_ADDRESS_MAX_BYTES];

		if (rt_format(pm, sizeof(pm), "postmaster@%s", rt->myorigin) <
		    0) {
			rt_errf(x->err, x->errsz, "myorigin is too long");
			return -1;
		}
		rt_step(x->r, "postmaster: %s has no alias; delivered to %s",
		    addr, pm);
		return add_out(x, pm, x->chain.n ? x->chain.v[0] : addr);
	}
	if (st == DICT_NOTFOUND)
		return add_out(x, addr, x->chain.n ? x->chain.v[0] : addr);

	/* The extension the matching key did not have. */
	key = buf_cstr(&x->res.key);
	dom = rt_domain_of(addr);
	llen = dom != NULL ? (size_t)(dom - 1 - addr) : strlen(addr);
	ulen = maps_split_extension(addr, llen, rt->delim, 0);
	ext[0] = '\0';
	if (rt->propagate_virtual && ulen < llen && key[0] != '@' &&
	    strcasecmp(key, addr) != 0)
		(void)rt_format(ext, sizeof(ext), "%.*s", (int)(llen - ulen),
		    addr + ulen);

	strv_init(&targets);
	split_value(buf_cstr(&x->res.value), &targets);
	rt_step(x->r, "virtual_alias_maps: %s -> %s (key %s in %s)", addr,
	    buf_cstr(&x->res.value), key, x->res.table != NULL ?
	    x->res.table->spec : "?");
	if (targets.n == 0) {
		rt_errf(x->err, x->errsz, "virtual_alias_maps: %s: the "
		    "result has no address", addr);
		strv_deinit(&targets);
		return -1;
	}
	strv_add(&x->chain, addr);
	for (size_t i = 0; i < targets.n && ret == 0; i++) {
		if (fix_target(x, targets.v[i], ext, t, sizeof(t)) < 0) {
			rt_errf(x->err, x->errsz, "virtual_alias_maps: %s: a "
			    "result address is too long", addr);
			ret = -1;
		} else if (strcasecmp(t, addr) == 0) {
			/* An address may expand into itself once. */
			if (!in_strv(&x->self, t))
				strv_add(&x->self, t);
			ret = add_out(x, t, x->chain.v[0]);
		} else if (in_strv(&x->chain, t)) {
			struct buf loop;

			buf_init(&loop, 512);
			for (size_t k = 0; k < x->chain.n; k++)
				(void)buf_appendf(&loop, "%s -> ",
				    x->chain.v[k]);
			(void)buf_append_str(&loop, t);
			rt_errf(x->err, x->errsz, "virtual_alias_maps: alias "
			    "loop: %s", buf_cstr(&loop));
			buf_deinit(&loop);
			ret = -1;
		} else {
			ret = expand_one(x, t, depth + 1);
		}
	}
	/* Done with addr: off the chain. */
	free(x->chain.v[--x->chain.n]);
	x->chain.v[x->chain.n] = NULL;
	strv_deinit(&targets);
	return ret;
}

enum route_status
route_expand_aliases(struct route_tables *rt, const char *address,
    char ***out, struct route_result *r)
{
	struct expand x;
	char err[ROUTE_ERR_MAX_BYTES];
	int rc;

	*out = NULL;
	memset(&x, 0, sizeof(x));
	x.rt = rt;
	x.r = r;
	x.err = err;
	x.errsz = sizeof(err);
	err[0] = '\0';
	x.depth_limit = rt->recursion_limit < ROUTE_ALIAS_DEPTH_MAX ?
	    rt->recursion_limit : ROUTE_ALIAS_DEPTH_MAX;
	strv_init(&x.out);
	strv_init(&x.self);
	strv_init(&x.chain);
	maps_result_init(&x.res);
	if (address == NULL || address[0] == '\0' ||
	    strlen(address) >= ROUTE_ADDRESS_MAX_BYTES) {
		/* The null address has nothing to expand. */
		strv_add(&x.out, address != NULL ? address : "");
		rc = 0;
	} else {
		rc = expand_one(&x, address, 0);
	}
	maps_result_deinit(&x.res);
	strv_deinit(&x.self);
	strv_deinit(&x.chain);
	if (rc < 0) {
		strv_deinit(&x.out);
		if (r != NULL) {
			rt_errf(r->err, sizeof(r->err), "%s", err);
			rt_step(r, "temporary failure: %s", err);
		}
		return ROUTE_TEMPFAIL;
	}
	if (r != NULL && (x.out.n != 1 || strcmp(x.out.v[0], address) != 0)) {
		struct buf all;

		buf_init(&all, 64 * 1024);
		for (size_t i = 0; i < x.out.n; i++)
			(void)buf_appendf(&all, "%s%s", i ? ", " : "",
			    x.out.v[i]);
		rt_step(r, "virtual alias expansion of %s: %s", address,
		    buf_cstr(&all));
		buf_deinit(&all);
	}
	*out = strv_steal(&x.out);
	return ROUTE_OK;
}

/* ------------------------------------------------- canonical, BCC */

/*
 * canon_one - one canonical table list (id) for address: 1 with the
 * mapped address in out, 0 when nothing matched, -1 on a failure.
 */
static int
canon_one(struct route_tables *rt, enum rm_id id, const char *address,
    char *out, size_t outsz, struct route_result *r, char *err,
    size_t errsz)
{
	struct maps_result res;
	char ext[ROUTE_ADDRESS_MAX_BYTES];
	const char *dom, *key, *value;
	size_t llen, ulen;
	unsigned flags;
	enum dict_status st;
	long at;
	int ret;

	if (user_flag(rt, address, &flags, err, errsz) < 0)
		return -1;
	maps_result_init(&res);
	st = find_address(rt, id, address, flags, &res, err, errsz);
	if (st != DICT_FOUND) {
		maps_result_deinit(&res);
		return st == DICT_TEMPFAIL ? -1 : 0;
	}
	key = buf_cstr(&res.key);
	value = buf_cstr(&res.value);
	while (*value == ' ' || *value == '\t')
		value++;
	/* The extension the matching key did not have. */
	dom = rt_domain_of(address);
	llen = dom != NULL ? (size_t)(dom - 1 - address) : strlen(address);
	ulen = maps_split_extension(address, llen, rt->delim, 0);
	ext[0] = '\0';
	if ((id == RM_GENERIC ? rt->propagate_generic :
	    rt->propagate_canonical) && ulen < llen && key[0] != '@' &&
	    strcasecmp(key, address) != 0)
		(void)rt_format(ext, sizeof(ext), "%.*s", (int)(llen - ulen),
		    address + ulen);
	at = rt_find_op(value, '@', true);
	if (*value == '\0' || strpbrk(value, " \t,") != NULL) {
		rt_errf(err, errsz, "%s: %s: the result \"%.100s\" is not one "
		    "address", rt_maps_params[id].name, address, value);
		ret = -1;
	} else if (at == 0) {
		/* "@domain": keep the local part. */
		ret = rt_format(out, outsz, "%.*s%s", (int)llen, address,
		    value) < 0 ? -1 : 1;
	} else if (at < 0) {
		ret = rt_format(out, outsz, "%s%s@%s", value, ext,
		    rt->myorigin) < 0 ? -1 : 1;
	} else {
		ret = rt_format(out, outsz, "%.*s%s%s", (int)at, value, ext,
		    value + at) < 0 ? -1 : 1;
	}
	if (ret < 0 && err[0] == '\0')
		rt_errf(err, errsz, "%s: %s: the result is too long",
		    rt_maps_params[id].name, address);
	if (ret > 0)
		rt_step(r, "%s: %s -> %s (key %s in %s)",
		    rt_maps_params[id].name, address, out, key,
		    res.table != NULL ? res.table->spec : "?");
	maps_result_deinit(&res);
	return ret;
}

/*
 * canon_map - canonical mapping of address into out (address itself
 * when no table matched): the own table first (the sender's or
 * recipient's canonical maps, or smtp_generic_maps), then
 * canonical_maps, each when its flag is on; the first match wins and is
 * applied once, not recursively (see route.h).
 */
static enum route_status
canon_map(struct route_tables *rt, const char *address, enum rm_id own,
    bool own_on, bool all_on, char *out, size_t outsz,
    struct route_result *r)
{
	char err[ROUTE_ERR_MAX_BYTES], mapped[ROUTE_ADDRESS_MAX_BYTES];
	int rc = 0;

	err[0] = '\0';
	if (rt_copy(out, outsz, address) < 0) {
		rt_errf(r->err, sizeof(r->err), "%s: address too long",
		    address);
		return ROUTE_TEMPFAIL;
	}
	/* The null sender and bare addresses are not mapped. */
	if (*address == '\0' || rt_domain_of(address) == NULL)
		return ROUTE_OK;
	if (own_on)
		rc = canon_one(rt, own, address, mapped, sizeof(mapped), r,
		    err, sizeof(err));
	if (rc == 0 && all_on)
		rc = canon_one(rt, RM_CANON, address, mapped, sizeof(mapped),
		    r, err, sizeof(err));
	if (rc < 0) {
		rt_errf(r->err, sizeof(r->err), "%s", err);
		return ROUTE_TEMPFAIL;
	}
	if (rc > 0 && rt_copy(out, outsz, mapped) < 0) {
		rt_errf(r->err, sizeof(r->err), "%s: the mapped address is "
		    "too long", address);
		return ROUTE_TEMPFAIL;
	}
	return ROUTE_OK;
}

/*
 * masq_step - address masquerading of out (class c) in place, after the
 * canonical mapping; a failure when its settings are unusable.
 */
static enum route_status
masq_step(struct route_tables *rt, enum masq_class c, char *out,
    size_t outsz, struct route_result *r)
{
	char m[ROUTE_ADDRESS_MAX_BYTES];
	int rc;

	if (rt->masq_err != NULL) {
		rt_errf(r->err, sizeof(r->err), "%s", rt->masq_err);
		return ROUTE_TEMPFAIL;
	}
	rc = masquerade(&rt->masq, c, out, m, sizeof(m));
	if (rc <= 0)
		return ROUTE_OK;	/* unchanged; -1 cannot be: m >= out */
	rt_step(r, "masquerade_domains: %s -> %s", out, m);
	if (rt_copy(out, outsz, m) < 0) {
		rt_errf(r->err, sizeof(r->err), "%s: the masqueraded address "
		    "is too long", out);
		return ROUTE_TEMPFAIL;
	}
	return ROUTE_OK;
}

enum route_status
route_rewrite_header(struct route_tables *rt, const char *address,
    bool sender, char *out, size_t outsz, struct route_result *r)
{
	enum route_status rs;

	rs = canon_map(rt, address, sender ? RM_SENDER_CANON : RM_RCPT_CANON,
	    sender ? rt->scanon_hdr_sender :
	    rt->rcanon_hdr_rcpt, sender ? rt->canon_hdr_sender :
	    rt->canon_hdr_rcpt, out, outsz, r);
	if (rs != ROUTE_OK)
		return rs;
	return masq_step(rt, sender ? MASQ_HDR_SENDER : MASQ_HDR_RCPT, out,
	    outsz, r);
}

enum route_status
route_generic(struct route_tables *rt, const char *address, char *out,
    size_t outsz, struct route_result *r)
{
	return canon_map(rt, address, RM_GENERIC, true, false, out, outsz,
	    r);
}

enum route_status
route_rewrite(struct route_tables *rt, const char *address, bool sender,
    char *out, size_t outsz, char **bcc_r, struct route_result *r)
{
	char err[ROUTE_ERR_MAX_BYTES];
	enum route_status rs;

	*bcc_r = NULL;
	err[0] = '\0';
	rs = canon_map(rt, address, sender ? RM_SENDER_CANON : RM_RCPT_CANON,
	    sender ? rt->scanon_env_sender :
	    rt->rcanon_env_rcpt, sender ? rt->canon_env_sender :
	    rt->canon_env_rcpt, out, outsz, r);
	if (rs == ROUTE_OK)
		rs = masq_step(rt, sender ? MASQ_ENV_SENDER : MASQ_ENV_RCPT,
		    out, outsz, r);
	if (rs != ROUTE_OK)
		return rs;
	if (*address == '\0' || rt_domain_of(address) == NULL)
		return ROUTE_OK;
	/* The automatic BCC, for the address as it will be queued. */
	{
		struct maps_result res;
		unsigned flags;
		enum dict_status st;
		enum rm_id id = sender ? RM_SENDER_BCC : RM_RCPT_BCC;

		if (user_flag(rt, out, &flags, err, sizeof(err)) < 0) {
			rt_errf(r->err, sizeof(r->err), "%s", err);
			return ROUTE_TEMPFAIL;
		}
		maps_result_init(&res);
		st = find_address(rt, id, out, flags, &res, err, sizeof(err));
		if (st == DICT_TEMPFAIL) {
			maps_result_deinit(&res);
			rt_errf(r->err, sizeof(r->err), "%s", err);
			return ROUTE_TEMPFAIL;
		}
		if (st == DICT_FOUND) {
			const char *v = buf_cstr(&res.value);

			while (*v == ' ' || *v == '\t')
				v++;
			if (*v == '\0' || strpbrk(v, " \t,") != NULL ||
			    rt_find_op(v, '@', true) <= 0) {
				rt_errf(r->err, sizeof(r->err), "%s: %s: the "
				    "result \"%.100s\" is not one address",
				    rt_maps_params[id].name, out, v);
				maps_result_deinit(&res);
				return ROUTE_TEMPFAIL;
			}
			*bcc_r = xstrdup(v);
			rt_step(r, "%s: %s -> BCC %s", rt_maps_params[id].name,
			    out, v);
		}
		maps_result_deinit(&res);
	}
	return ROUTE_OK;
}
