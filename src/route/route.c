/* SPDX-License-Identifier: MIT */
/*
 * route - Postfix's address resolution (trivial-rewrite's resolve and
 * the "local" rewriting context), synchronously over tables the caller
 * opens; see route.h.  The recipient tables and virtual alias expansion
 * are in route_check.c, the domain lists in route_dlist.c.
 *
 * The resolver loop follows Postfix's: rewrite the address to
 * user@domain; while the domain is local (mydestination, our own
 * address literals), strip it, and if the local part still routes
 * ('@', and '!' / '%' when swap_bangpath / allow_percent_hack allow),
 * rewrite and go round again; a quoted local part holding such an
 * operator is opened up when resolve_dequoted_address allows.  The
 * domain left decides the class, then the transport, then
 * transport_maps may override it.  Every change is one step in the
 * result.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "address.h"
#include "compat.h"
#include "config.h"
#include "log.h"
#include "maps.h"
#include "route.h"
#include "route_dlist.h"
#include "route_int.h"
#include "strv.h"
#include "xalloc.h"

const struct rm_param rt_maps_params[RM__COUNT] = {
	[RM_LOCAL_RCPT] = { P_local_recipient_maps, "local_recipient_maps" },
	[RM_ALIAS] = { P_alias_maps, "alias_maps" },
	[RM_VALIAS] = { P_virtual_alias_maps, "virtual_alias_maps" },
	[RM_VMBOX] = { P_virtual_mailbox_maps, "virtual_mailbox_maps" },
	[RM_RELAY_RCPT] = { P_relay_recipient_maps, "relay_recipient_maps" },
	[RM_TRANSPORT] = { P_transport_maps, "transport_maps" },
	[RM_SENDER_CANON] = { P_sender_canonical_maps,
	    "sender_canonical_maps" },
	[RM_RCPT_CANON] = { P_recipient_canonical_maps,
	    "recipient_canonical_maps" },
	[RM_CANON] = { P_canonical_maps, "canonical_maps" },
	[RM_RCPT_BCC] = { P_recipient_bcc_maps, "recipient_bcc_maps" },
	[RM_SENDER_BCC] = { P_sender_bcc_maps, "sender_bcc_maps" },
	[RM_SDRELAY] = { P_sender_dependent_relayhost_maps,
	    "sender_dependent_relayhost_maps" },
	[RM_SDDT] = { P_sender_dependent_default_transport_maps,
	    "sender_dependent_default_transport_maps" },
	[RM_GENERIC] = { P_smtp_generic_maps, "smtp_generic_maps" },
	[RM_RELOCATED] = { P_relocated_maps, "relocated_maps" },
};

/* ------------------------------------------------------------ helpers */

const char *
route_class_name(enum route_class cls)
{
	switch (cls) {
	case ROUTE_LOCAL:
		return "local";
	case ROUTE_ALIAS:
		return "alias";
	case ROUTE_VIRTUAL:
		return "virtual";
	case ROUTE_RELAY:
		return "relay";
	case ROUTE_DEFAULT:
		return "default";
	}
	return "unknown";
}

void
route_result_init(struct route_result *r)
{
	memset(r, 0, sizeof(*r));
	r->cls = ROUTE_DEFAULT;
}

static void
clear_steps(struct route_result *r)
{
	for (size_t i = 0; i < r->nsteps; i++)
		free(r->steps[i]);
	r->nsteps = 0;
}

void
route_result_deinit(struct route_result *r)
{
	if (r == NULL)
		return;
	clear_steps(r);
}

/* rt_step - record one step (at most ROUTE_STEPS_MAX, the last says so). */
void ATTR_FORMAT(2, 3)
rt_step(struct route_result *r, const char *fmt, ...)
{
	va_list ap;

	if (r == NULL || r->nsteps >= ROUTE_STEPS_MAX)
		return;
	if (r->nsteps == ROUTE_STEPS_MAX - 1) {
		r->steps[r->nsteps++] = xstrdup("... (more steps not shown)");
		return;
	}
	va_start(ap, fmt);
	r->steps[r->nsteps++] = xvasprintf(fmt, ap);
	va_end(ap);
}

/* rt_copy - bounded copy; -1 when src does not fit. */
int
rt_copy(char *dst, size_t dstsz, const char *src)
{
	size_t n = strlen(src);

	if (n >= dstsz)
		return -1;
	memcpy(dst, src, n + 1);
	return 0;
}

/*
 * rt_errf - snprintf() for messages: truncation is fine (and not worth a
 * compiler warning at every call).
 */
void ATTR_FORMAT(3, 4)
rt_errf(char *dst, size_t dstsz, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(dst, dstsz, fmt, ap);
	va_end(ap);
}

int ATTR_FORMAT(3, 4)
rt_format(char *dst, size_t dstsz, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(dst, dstsz, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= dstsz ? -1 : 0;
}

/*
 * rt_find_op - index of the first (or, with last, the last) byte c of s
 * outside double quotes (a backslash inside quotes protects the next
 * byte), or -1.
 */
long
rt_find_op(const char *s, char c, bool last)
{
	bool q = false;
	long found = -1;

	for (long i = 0; s[i] != '\0'; i++) {
		if (q && s[i] == '\\' && s[i + 1] != '\0') {
			i++;
			continue;
		}
		if (s[i] == '"') {
			q = !q;
			continue;
		}
		if (!q && s[i] == c) {
			found = i;
			if (!last)
				break;
		}
	}
	return found;
}

/* last_at - the '@' that starts the domain, or NULL. */
static char *
last_at(char *s)
{
	long i = rt_find_op(s, '@', true);

	return i < 0 ? NULL : s + i;
}

const char *
rt_domain_of(const char *address)
{
	long i = rt_find_op(address, '@', true);

	return i < 0 ? NULL : address + i + 1;
}

void
rt_lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

/*
 * rt_quoted_inner - when s is one quoted string ("..."), its content with
 * the backslash escapes removed, in out; else -1.
 */
int
rt_quoted_inner(const char *s, char *out, size_t outsz)
{
	size_t len = strlen(s), o = 0;

	if (len < 2 || s[0] != '"' || s[len - 1] != '"')
		return -1;
	for (size_t i = 1; i + 1 < len; i++) {
		if (s[i] == '\\' && i + 2 < len)
			i++;
		else if (s[i] == '"')
			return -1;	/* not one quoted string */
		if (o + 1 >= outsz)
			return -1;
		out[o++] = s[i];
	}
	out[o] = '\0';
	return 0;
}

/*
 * needs_quotes - a local part that is not an RFC 5321 Dot-string: any
 * byte outside atext (UTF-8 allowed), or a leading, trailing or double
 * dot.
 */
static bool
needs_quotes(const char *s, size_t len)
{
	if (len == 0 || s[0] == '.' || s[len - 1] == '.')
		return true;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x80 || isalnum(c) ||
		    strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL)
			continue;
		if (c == '.' && s[i + 1] != '.')
			continue;
		return true;
	}
	return false;
}

/* quote_local - s as a quoted string into out; -1 when it does not fit. */
static int
quote_local(const char *s, size_t len, char *out, size_t outsz)
{
	size_t o = 0;

	if (outsz < 3)
		return -1;
	out[o++] = '"';
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\') {
			if (o + 1 >= outsz)
				return -1;
			out[o++] = '\\';
		}
		if (o + 1 >= outsz)
			return -1;
		out[o++] = s[i];
	}
	if (o + 2 > outsz)
		return -1;
	out[o++] = '"';
	out[o] = '\0';
	return 0;
}

/* ------------------------------------------------------------ tables */

static void
open_rmaps(struct route_tables *rt, enum rm_id id, const char *value,
    route_maps_open_fn *open, void *ctx)
{
	struct rmaps *rm = &rt->maps[id];
	const char *param = rt_maps_params[id].name;
	char oerr[DICT_ERR_MAX_BYTES];
	size_t plen = strlen(param);

	value += strspn(value, " \t\r\n,");
	if (*value == '\0')
		return;
	rm->set = true;
	oerr[0] = '\0';
	rm->m = open(ctx, param, value, oerr, sizeof(oerr));
	if (rm->m != NULL)
		return;
	/* Name the parameter once ("alias_maps: hash:/x: ..."). */
	if (strncmp(oerr, param, plen) == 0 && oerr[plen] == ':')
		rm->err = xstrdup(oerr);
	else
		rm->err = xasprintf("%s: %s", param, oerr[0] ? oerr :
		    "cannot be opened");
	log_debug(1, "route: %s", rm->err);
}

/* setup_masq - address masquerading, after the canonical maps. */
static void
setup_masq(struct route_tables *rt, const struct config_view *v)
{
	char err[ROUTE_ERR_MAX_BYTES];

	if (masq_setup_view(&rt->masq, v, err, sizeof(err)) < 0) {
		rt->masq_err = xstrdup(err);
		log_debug(1, "route: %s", err);
	}
}

static char *
dup_param(const struct config_view *v, enum param_id id)
{
	const char *s = config_str(v, id);

	return xstrdup(s != NULL ? s : "");
}

struct route_tables *
route_tables_new(const struct config_view *v, route_maps_open_fn *open,
    void *ctx, char *err, size_t errsz)
{
	struct route_tables *rt = xcalloc(1, sizeof(*rt));
	char derr[ROUTE_ERR_MAX_BYTES];

	rt->myhostname = dup_param(v, P_myhostname);
	rt->mydomain = dup_param(v, P_mydomain);
	rt->myorigin = dup_param(v, P_myorigin);
	rt_lower(rt->myhostname);
	rt_lower(rt->mydomain);
	rt_lower(rt->myorigin);
	rt->local_transport = dup_param(v, P_local_transport);
	rt->virtual_transport = dup_param(v, P_virtual_transport);
	rt->relay_transport = dup_param(v, P_relay_transport);
	rt->default_transport = dup_param(v, P_default_transport);
	rt->relayhost = dup_param(v, P_relayhost);
	rt->delim = dup_param(v, P_recipient_delimiter);
	rt->empty_rcpt = dup_param(v, P_empty_address_recipient);
	rt->double_bounce = dup_param(v, P_double_bounce_sender);
	rt->append_at_myorigin = config_bool(v, P_append_at_myorigin);
	rt->append_dot_mydomain = config_bool(v, P_append_dot_mydomain);
	rt->percent_hack = config_bool(v, P_allow_percent_hack);
	rt->swap_bangpath = config_bool(v, P_swap_bangpath);
	rt->dequoted = config_bool(v, P_resolve_dequoted_address);
	rt->show_table = config_bool(v, P_show_user_unknown_table_name);
	rt->transport_parent = config_list_contains(v,
	    P_parent_domain_matches_subdomains, "transport_maps");
	rt->propagate_virtual = config_list_contains(v,
	    P_propagate_unmatched_extensions, "virtual");
	rt->propagate_canonical = config_list_contains(v,
	    P_propagate_unmatched_extensions, "canonical");
	rt->propagate_generic = config_list_contains(v,
	    P_propagate_unmatched_extensions, "generic");
	rt->canon_env_sender = config_list_contains(v, P_canonical_classes,
	    "envelope_sender");
	rt->canon_env_rcpt = config_list_contains(v, P_canonical_classes,
	    "envelope_recipient");
	rt->scanon_env_sender = config_list_contains(v,
	    P_sender_canonical_classes, "envelope_sender");
	rt->rcanon_env_rcpt = config_list_contains(v,
	    P_recipient_canonical_classes, "envelope_recipient");
	rt->canon_hdr_sender = config_list_contains(v, P_canonical_classes,
	    "header_sender");
	rt->canon_hdr_rcpt = config_list_contains(v, P_canonical_classes,
	    "header_recipient");
	rt->scanon_hdr_sender = config_list_contains(v,
	    P_sender_canonical_classes, "header_sender");
	rt->rcanon_hdr_rcpt = config_list_contains(v,
	    P_recipient_canonical_classes, "header_recipient");
	setup_masq(rt, v);
	rt->expansion_limit = config_int(v, P_virtual_alias_expansion_limit);
	rt->recursion_limit = config_int(v, P_virtual_alias_recursion_limit);
	rt->code_local = (int)config_int(v,
	    P_unknown_local_recipient_reject_code);
	rt->code_alias = (int)config_int(v,
	    P_unknown_virtual_alias_reject_code);
	rt->code_virtual = (int)config_int(v,
	    P_unknown_virtual_mailbox_reject_code);
	rt->code_relay = (int)config_int(v,
	    P_unknown_relay_recipient_reject_code);
	if (rt->empty_rcpt[0] == '\0') {
		free(rt->empty_rcpt);
		rt->empty_rcpt = xstrdup("MAILER-DAEMON");
	}

	derr[0] = '\0';
	if ((rt->mydest = route_dlist_new("mydestination",
	    config_str(v, P_mydestination), false, false, open, ctx, derr,
	    sizeof(derr))) == NULL ||
	    (rt->relay_domains = route_dlist_new("relay_domains",
	    config_str(v, P_relay_domains), true, config_list_contains(v,
	    P_parent_domain_matches_subdomains, "relay_domains"), open, ctx,
	    derr, sizeof(derr))) == NULL ||
	    (rt->valias_domains = route_dlist_new("virtual_alias_domains",
	    config_str(v, P_virtual_alias_domains), false, false, open, ctx,
	    derr, sizeof(derr))) == NULL ||
	    (rt->vmbox_domains = route_dlist_new("virtual_mailbox_domains",
	    config_str(v, P_virtual_mailbox_domains), false, false, open,
	    ctx, derr, sizeof(derr))) == NULL) {
		rt_errf(err, errsz, "%s", derr);
		route_tables_free(&rt);
		return NULL;
	}
	for (int i = 0; i < RM__COUNT; i++) {
		const char *val = config_str(v, rt_maps_params[i].id);

		open_rmaps(rt, (enum rm_id)i, val != NULL ? val : "", open,
		    ctx);
	}
	own_addrs_load(&rt->own, v, true);
	return rt;
}

void
route_tables_free(struct route_tables **rtp)
{
	struct route_tables *rt;

	if (rtp == NULL || (rt = *rtp) == NULL)
		return;
	free(rt->myhostname);
	free(rt->mydomain);
	free(rt->myorigin);
	free(rt->local_transport);
	free(rt->virtual_transport);
	free(rt->relay_transport);
	free(rt->default_transport);
	free(rt->relayhost);
	free(rt->delim);
	masq_deinit(&rt->masq);
	free(rt->masq_err);
	free(rt->empty_rcpt);
	free(rt->double_bounce);
	route_dlist_free(&rt->mydest);
	route_dlist_free(&rt->relay_domains);
	route_dlist_free(&rt->valias_domains);
	route_dlist_free(&rt->vmbox_domains);
	for (int i = 0; i < RM__COUNT; i++) {
		maps_free(&rt->maps[i].m);
		free(rt->maps[i].err);
	}
	own_addrs_free(&rt->own);
	free(rt);
	*rtp = NULL;
}

int
route_tables_maps(struct route_tables *rt, const char *param,
    struct maps **m_r, char *err, size_t errsz)
{
	*m_r = NULL;
	for (int i = 0; i < RM__COUNT; i++) {
		if (strcmp(rt_maps_params[i].name, param) != 0)
			continue;
		if (rt->maps[i].err != NULL) {
			rt_errf(err, errsz, "%s", rt->maps[i].err);
			return -1;
		}
		*m_r = rt->maps[i].m;
		return 0;
	}
	rt_errf(err, errsz, "%s: not a table parameter of the resolver",
	    param);
	return -1;
}

/* ------------------------------------------------------------ locality */

/* is_own_literal - 1 when "[addr]" is one of our interface addresses. */
static int
is_own_literal(struct route_tables *rt, const char *domain, char *err,
    size_t errsz)
{
	struct own_addr a;

	if (domain[0] != '[' || own_addr_parse(domain, &a) < 0)
		return 0;
	if (own_addrs_has(&rt->own, &a))
		return 1;
	if (rt->own.err != NULL) {
		rt_errf(err, errsz, "%s", rt->own.err);
		return -1;
	}
	return 0;
}

/*
 * rt_is_local - Postfix's resolve_local(): domain (lower case) is in
 * mydestination, or is an address literal of one of our interfaces.
 * 1, 0, or -1 with err.  why says what matched.
 */
int
rt_is_local(struct route_tables *rt, const char *domain, char *why,
    size_t whysz, char *err, size_t errsz)
{
	char m[512];
	int rc;

	why[0] = '\0';
	if (domain[0] == '\0')
		return 0;
	rc = route_dlist_match(rt->mydest, domain, m, sizeof(m), err, errsz);
	if (rc != 0) {
		if (rc > 0)
			rt_errf(why, whysz, "mydestination matches %s", m);
		return rc;
	}
	rc = is_own_literal(rt, domain, err, errsz);
	if (rc > 0)
		rt_errf(why, whysz, "one of our addresses (inet_interfaces, "
		    "proxy_interfaces)");
	return rc;
}

/* ------------------------------------------------------------ rewriting */

#define TOO_LONG(r) do { \
	rt_errf((r)->err, sizeof((r)->err), "the address is longer than " \
	    "%d bytes after rewriting", ROUTE_ADDRESS_MAX_BYTES - 1); \
	return -1; \
} while (0)

/*
 * fix_domain - strip one trailing dot of the domain (not ".." or "@.")
 * and fold the domain to lower case.
 */
static void
fix_domain(char *work, struct route_result *r)
{
	char *at = last_at(work), *d;
	size_t len;
	char before[ROUTE_ADDRESS_MAX_BYTES];

	if (at == NULL)
		return;
	d = at + 1;
	len = strlen(d);
	if (len > 1 && d[len - 1] == '.' && d[len - 2] != '.') {
		(void)rt_copy(before, sizeof(before), work);
		d[len - 1] = '\0';
		rt_step(r, "strip the trailing dot: %s -> %s", before, work);
	}
	for (char *p = d; *p != '\0'; p++) {
		if (isupper((unsigned char)*p)) {
			(void)rt_copy(before, sizeof(before), work);
			rt_lower(d);
			rt_step(r, "fold the domain to lower case: %s -> %s",
			    before, work);
			break;
		}
	}
}

/*
 * canonicalize - Postfix's rewriting in the "local" context: without a
 * domain, "site!user" becomes "user@site" (swap_bangpath) or
 * "user%domain" becomes "user@domain" (allow_percent_hack, the last
 * '%'); still without a domain (or with an empty one) @$myorigin is
 * appended (append_at_myorigin); a domain without a dot gets
 * .$mydomain (append_dot_mydomain); the domain is tidied (fix_domain).
 * 0, or -1 with r->err when the result would be too long.
 */
static int
canonicalize(struct route_tables *rt, char *work, size_t worksz,
    struct route_result *r)
{
	char before[ROUTE_ADDRESS_MAX_BYTES];
	char *at = last_at(work);
	long i;

	(void)rt_copy(before, sizeof(before), work);
	if (at == NULL) {
		if (rt->swap_bangpath &&
		    (i = rt_find_op(work, '!', false)) >= 0) {
			if (rt_format(work, worksz, "%s@%.*s", before + i + 1,
			    (int)i, before) < 0)
				TOO_LONG(r);
			rt_step(r, "swap_bangpath: %s -> %s", before, work);
		} else if (rt->percent_hack &&
		    (i = rt_find_op(work, '%', true)) >= 0) {
			work[i] = '@';
			rt_step(r, "allow_percent_hack: %s -> %s", before,
			    work);
		}
	}
	at = last_at(work);
	if ((at == NULL || at[1] == '\0') && rt->append_at_myorigin &&
	    rt->myorigin[0] != '\0') {
		(void)rt_copy(before, sizeof(before), work);
		if (rt_format(work, worksz, "%s%s%s", before, at == NULL ? "@" :
		    "", rt->myorigin) < 0)
			TOO_LONG(r);
		rt_step(r, "append_at_myorigin: %s -> %s", before, work);
	}
	fix_domain(work, r);
	at = last_at(work);
	if (at != NULL && rt->append_dot_mydomain && at[1] != '\0' &&
	    at[1] != '[' && strchr(at + 1, '.') == NULL &&
	    rt->mydomain[0] != '\0') {
		(void)rt_copy(before, sizeof(before), work);
		if (rt_format(work, worksz, "%s.%s", before, rt->mydomain) < 0)
			TOO_LONG(r);
		rt_step(r, "append_dot_mydomain: %s -> %s", before, work);
	}
	return 0;
}

/*
 * dequote_routing - resolve_dequoted_address: a local part that is one
 * quoted string holding a routing operator ('@'; '%' with
 * allow_percent_hack, '!' with swap_bangpath) is opened up, so that
 * "user@elsewhere"@local routes like user@elsewhere@local does.  The
 * last '%' becomes '@'.  1 when rewritten, 0 when not, -1 too long.
 */
static int
dequote_routing(struct route_tables *rt, char *work, size_t worksz,
    struct route_result *r)
{
	char inner[ROUTE_ADDRESS_MAX_BYTES], lp[ROUTE_ADDRESS_MAX_BYTES];
	char before[ROUTE_ADDRESS_MAX_BYTES];
	char *op;

	if (!rt->dequoted || rt_quoted_inner(work, inner, sizeof(inner)) < 0)
		return 0;
	if ((op = strrchr(inner, '@')) == NULL &&
	    (!rt->percent_hack || (op = strrchr(inner, '%')) == NULL) &&
	    (!rt->swap_bangpath || (op = strrchr(inner, '!')) == NULL))
		return 0;
	(void)rt_copy(before, sizeof(before), work);
	if (*op == '%')
		*op = '@';
	if (*op == '@') {
		/* The new local part keeps quotes when it needs them. */
		size_t llen = (size_t)(op - inner);

		if (needs_quotes(inner, llen)) {
			if (quote_local(inner, llen, lp, sizeof(lp)) < 0 ||
			    rt_format(work, worksz, "%s%s", lp, op) < 0)
				TOO_LONG(r);
		} else if (rt_copy(work, worksz, inner) < 0) {
			TOO_LONG(r);
		}
	} else if (rt_copy(work, worksz, inner) < 0) {
		TOO_LONG(r);
	}
	rt_step(r, "resolve_dequoted_address: %s -> %s", before, work);
	return 1;
}

/* ------------------------------------------------------------ transports */

/*
 * set_transport - "transport[:nexthop]" from a *_transport parameter:
 * the nexthop part, when not empty, replaces nexthop.
 */
static int
set_transport(struct route_result *r, const char *param, const char *value)
{
	const char *colon = strchr(value, ':');
	size_t tlen = colon != NULL ? (size_t)(colon - value) : strlen(value);

	if (tlen == 0) {
		rt_errf(r->err, sizeof(r->err), "%s: an empty transport is "
		    "not allowed (\"%s\")", param, value);
		return -1;
	}
	if (tlen >= sizeof(r->transport) || (colon != NULL && colon[1] &&
	    rt_copy(r->nexthop, sizeof(r->nexthop), colon + 1) < 0)) {
		rt_errf(r->err, sizeof(r->err), "%s: value too long", param);
		return -1;
	}
	memcpy(r->transport, value, tlen);
	r->transport[tlen] = '\0';
	return 0;
}

struct tfind {
	enum dict_status st;
	struct buf value;
	char key[ROUTE_ADDRESS_MAX_BYTES];
	const char *table;
	char err[DICT_ERR_MAX_BYTES];
};

/*
 * tfind_key - one transport_maps key in every table; partial keys skip
 * pattern and cidr tables (they see whole addresses only).
 */
static enum dict_status
tfind_key(struct maps *m, const char *key, bool partial, struct tfind *t)
{
	for (size_t i = 0; i < maps_count(m); i++) {
		struct dict *d = maps_table(m, i);
		enum dict_status st;

		if (partial && (d->type->flags & (DICT_TYPE_PATTERN |
		    DICT_TYPE_CIDR)))
			continue;
		buf_reset(&t->value);
		st = dict_get(d, key, &t->value, t->err, sizeof(t->err));
		if (st == DICT_NOTFOUND)
			continue;
		(void)rt_copy(t->key, sizeof(t->key), key);
		t->table = d->spec;
		t->st = st;
		return st;
	}
	return DICT_NOTFOUND;
}

/*
 * tfind - transport(5)'s search order: the address, the address
 * without its extension, the domain, its parents (".parent", or
 * "parent" when transport_maps is in parent_domain_matches_subdomains),
 * and "*".
 */
static enum dict_status
tfind(struct route_tables *rt, const char *address, struct tfind *t)
{
	struct maps *m = rt->maps[RM_TRANSPORT].m;
	const char *dom = rt_domain_of(address), *name, *next;
	size_t llen = dom != NULL ? (size_t)(dom - 1 - address) :
	    strlen(address);
	size_t ulen = maps_split_extension(address, llen, rt->delim, 0);
	char key[ROUTE_ADDRESS_MAX_BYTES];
	enum dict_status st;

	if ((st = tfind_key(m, address, false, t)) != DICT_NOTFOUND)
		return st;
	if (ulen < llen && dom != NULL && rt_format(key, sizeof(key), "%.*s@%s",
	    (int)ulen, address, dom) == 0 &&
	    (st = tfind_key(m, key, true, t)) != DICT_NOTFOUND)
		return st;
	if (dom != NULL && dom[0] != '\0') {
		for (name = dom; *name != '\0'; name = next) {
			if ((st = tfind_key(m, name, true, t)) != DICT_NOTFOUND)
				return st;
			if (dom[0] == '[' || (next = strchr(name + 1, '.')) ==
			    NULL)
				break;
			if (rt->transport_parent)
				next++;
		}
	}
	return tfind_key(m, "*", false, t);
}

/*
 * apply_transport_maps - transport_maps may override the transport and
 * next hop (not in the virtual alias class).  "transport:nexthop" sets
 * both; ":nexthop" keeps the transport; "transport" or "transport:"
 * sets the transport and resets the next hop to the recipient domain
 * ("Address is undeliverable" for the error transport), as Postfix does.
 */
static int
apply_transport_maps(struct route_tables *rt, const char *domain,
    struct route_result *r)
{
	struct rmaps *rm = &rt->maps[RM_TRANSPORT];
	struct tfind t;
	const char *val, *colon;
	size_t tlen;
	int ret = 0;

	if (rm->err != NULL) {
		rt_errf(r->err, sizeof(r->err), "%s", rm->err);
		return -1;
	}
	if (rm->m == NULL)
		return 0;
	memset(&t, 0, sizeof(t));
	buf_init(&t.value, DICT_VALUE_MAX_BYTES);
	switch (tfind(rt, r->address, &t)) {
	case DICT_TEMPFAIL:
		rt_errf(r->err, sizeof(r->err), "transport_maps: %s", t.err);
		ret = -1;
		goto out;
	case DICT_NOTFOUND:
		rt_step(r, "transport_maps: no entry for %s", r->address);
		goto out;
	case DICT_FOUND:
		break;
	}
	/* transport(5) decides the next hop: no sender-dependent one. */
	r->flags &= ~(ROUTE_F_RELAYHOST | ROUTE_F_DEFAULT_TRANSPORT);
	val = buf_cstr(&t.value);
	colon = strchr(val, ':');
	tlen = colon != NULL ? (size_t)(colon - val) : strlen(val);
	if (tlen >= sizeof(r->transport)) {
		rt_errf(r->err, sizeof(r->err), "transport_maps: %s: the "
		    "value of %s is too long", t.table, t.key);
		ret = -1;
		goto out;
	}
	if (tlen > 0) {
		memcpy(r->transport, val, tlen);
		r->transport[tlen] = '\0';
	}
	if (colon != NULL && colon[1] != '\0') {
		if (rt_copy(r->nexthop, sizeof(r->nexthop), colon + 1) < 0) {
			rt_errf(r->err, sizeof(r->err), "transport_maps: %s: "
			    "the next hop of %s is too long", t.table, t.key);
			ret = -1;
			goto out;
		}
	} else if (tlen > 0) {
		(void)rt_copy(r->nexthop, sizeof(r->nexthop),
		    strcmp(r->transport, "error") == 0 ?
		    "Address is undeliverable" : domain);
	}
	rt_step(r, "transport_maps: %s in %s gives \"%s\": transport %s, "
	    "next hop %s", t.key, t.table, val, r->transport, r->nexthop);
out:
	buf_deinit(&t.value);
	return ret;
}

/* ------------------------------------------------------------ resolve */

/* conflict - warn (a step) when domain is also in another list. */
static void
conflict(struct route_dlist *other, const char *domain, const char *mine,
    struct route_result *r)
{
	char err[ROUTE_ERR_MAX_BYTES];
	int rc;

	if (route_dlist_empty(other))
		return;
	rc = route_dlist_match(other, domain, NULL, 0, err, sizeof(err));
	if (rc > 0)
		rt_step(r, "warning: do not list domain %s in BOTH %s and %s "
		    "(the first decides)", domain, mine,
		    route_dlist_param(other));
	else if (rc < 0)
		rt_step(r, "warning: cannot check whether %s is also in %s: %s",
		    domain, route_dlist_param(other), err);
}

/*
 * classify - the class of a domain that is not local; -1 with err when
 * a list could not answer.
 */
static int
classify(struct route_tables *rt, const char *domain, enum route_class *cls,
    char *why, size_t whysz, char *err, size_t errsz)
{
	char m[512];
	int rc;

	if ((rc = route_dlist_match(rt->valias_domains, domain, m, sizeof(m),
	    err, errsz)) != 0) {
		*cls = ROUTE_ALIAS;
		rt_errf(why, whysz, "virtual_alias_domains matches %s", m);
		return rc < 0 ? -1 : 0;
	}
	if ((rc = route_dlist_match(rt->vmbox_domains, domain, m, sizeof(m),
	    err, errsz)) != 0) {
		*cls = ROUTE_VIRTUAL;
		rt_errf(why, whysz, "virtual_mailbox_domains matches %s", m);
		return rc < 0 ? -1 : 0;
	}
	if ((rc = route_dlist_match(rt->relay_domains, domain, m, sizeof(m),
	    err, errsz)) != 0) {
		*cls = ROUTE_RELAY;
		rt_errf(why, whysz, "relay_domains matches %s", m);
		return rc < 0 ? -1 : 0;
	}
	*cls = ROUTE_DEFAULT;
	rt_errf(why, whysz, "not in mydestination, virtual_alias_domains, "
	    "virtual_mailbox_domains or relay_domains");
	return 0;
}

enum route_status
route_domain_class(struct route_tables *rt, const char *domain,
    enum route_class *cls_r, char *err, size_t errsz)
{
	char d[ROUTE_ADDRESS_MAX_BYTES], why[600];
	size_t len;
	int rc;

	*cls_r = ROUTE_DEFAULT;
	if (domain == NULL || rt_copy(d, sizeof(d), domain) < 0)
		return ROUTE_OK;
	rt_lower(d);
	len = strlen(d);
	if (len > 1 && d[len - 1] == '.' && d[len - 2] != '.')
		d[len - 1] = '\0';
	if (d[0] == '\0')
		return ROUTE_OK;
	rc = rt_is_local(rt, d, why, sizeof(why), err, errsz);
	if (rc < 0)
		return ROUTE_TEMPFAIL;
	if (rc > 0) {
		*cls_r = ROUTE_LOCAL;
		return ROUTE_OK;
	}
	if (classify(rt, d, cls_r, why, sizeof(why), err, errsz) < 0) {
		*cls_r = ROUTE_DEFAULT;
		return ROUTE_TEMPFAIL;
	}
	return ROUTE_OK;
}

/* is_postmaster - the local part is "postmaster" (any case, quoted or
 * not). */
static bool
is_postmaster(const char *address)
{
	const char *dom = rt_domain_of(address);
	size_t llen = dom != NULL ? (size_t)(dom - 1 - address) :
	    strlen(address);
	char lp[ROUTE_ADDRESS_MAX_BYTES], inner[ROUTE_ADDRESS_MAX_BYTES];

	if (llen >= sizeof(lp))
		return false;
	memcpy(lp, address, llen);
	lp[llen] = '\0';
	if (rt_quoted_inner(lp, inner, sizeof(inner)) == 0)
		return strcasecmp(inner, "postmaster") == 0;
	return strcasecmp(lp, "postmaster") == 0;
}

/* resolve_fail - the TEMPFAIL answer: the reason stays in r->err. */
static enum route_status
resolve_fail(struct route_result *r)
{
	if (r->err[0] == '\0')
		rt_errf(r->err, sizeof(r->err), "address resolution failed");
	rt_step(r, "temporary failure: %s", r->err);
	r->transport[0] = '\0';
	r->nexthop[0] = '\0';
	return ROUTE_TEMPFAIL;
}

enum route_status
route_resolve(struct route_tables *rt, const char *address,
    struct route_result *r)
{
	char work[ROUTE_ADDRESS_MAX_BYTES], before[ROUTE_ADDRESS_MAX_BYTES];
	char saved[ROUTE_ADDRESS_MAX_BYTES], why[700];
	bool have_saved = false, local = false;
	const char *domain;
	size_t loops, max_loops;
	char *at;
	int rc;

	clear_steps(r);
	r->cls = ROUTE_DEFAULT;
	r->flags = 0;
	r->address[0] = r->transport[0] = r->nexthop[0] = r->err[0] = '\0';
	if (address == NULL)
		address = "";
	if (strlen(address) >= ROUTE_ADDRESS_MAX_BYTES) {
		rt_errf(r->err, sizeof(r->err), "the address is longer than "
		    "%d bytes", ROUTE_ADDRESS_MAX_BYTES - 1);
		return resolve_fail(r);
	}
	if (address[0] == '\0') {
		r->cls = ROUTE_LOCAL;
		rt_step(r, "the null address <>: nothing to route");
		return ROUTE_OK;
	}
	if (strcasecmp(address, "postmaster") == 0) {
		r->flags |= ROUTE_F_POSTMASTER;
		if (rt_format(work, sizeof(work), "%s@%s", address,
		    rt->myhostname) < 0) {
			rt_errf(r->err, sizeof(r->err), "myhostname is too "
			    "long");
			return resolve_fail(r);
		}
		rt_step(r, "the bare <%s> (RFC 5321 4.5.1): %s", address, work);
	} else {
		(void)rt_copy(work, sizeof(work), address);
		if (canonicalize(rt, work, sizeof(work), r) < 0)
			return resolve_fail(r);
	}

	/* Each pass removes a local domain or a routing operator. */
	max_loops = strlen(work) + 100;
	for (loops = 0;; loops++) {
		if (loops > max_loops) {
			rt_errf(r->err, sizeof(r->err), "%s: giving up after "
			    "%zu rewriting passes", address, loops);
			return resolve_fail(r);
		}
		fix_domain(work, r);
		if ((at = last_at(work)) != NULL) {
			rc = rt_is_local(rt, at + 1, why, sizeof(why), r->err,
			    sizeof(r->err));
			if (rc < 0)
				return resolve_fail(r);
			if (rc == 0)
				break;
			rt_step(r, "%s is local: %s", at + 1, why);
			(void)rt_copy(saved, sizeof(saved), at + 1);
			have_saved = true;
			*at = '\0';
		}
		if (rt_find_op(work, '@', false) >= 0 || (rt->swap_bangpath &&
		    rt_find_op(work, '!', false) >= 0) || (rt->percent_hack &&
		    rt_find_op(work, '%', false) >= 0)) {
			rt_step(r, "the local part %s routes further", work);
			if (canonicalize(rt, work, sizeof(work), r) < 0)
				return resolve_fail(r);
			continue;
		}
		if ((rc = dequote_routing(rt, work, sizeof(work), r)) != 0) {
			if (rc < 0 ||
			    canonicalize(rt, work, sizeof(work), r) < 0)
				return resolve_fail(r);
			continue;
		}
		if (work[0] == '\0' || strcmp(work, "\"\"") == 0) {
			rt_step(r, "an empty local part is %s",
			    rt->empty_rcpt);
			(void)rt_copy(work, sizeof(work), rt->empty_rcpt);
			continue;
		}
		if (!have_saved) {
			/* append_at_myorigin = no: Postfix's resolver
			 * uses $myhostname. */
			(void)rt_copy(before, sizeof(before), work);
			if (rt_format(work, sizeof(work), "%s@%s", before,
			    rt->myhostname) < 0) {
				rt_errf(r->err, sizeof(r->err), "the address "
				    "is too long");
				return resolve_fail(r);
			}
			rt_step(r, "no domain: %s -> %s", before, work);
			continue;
		}
		(void)rt_copy(before, sizeof(before), work);
		if (rt_format(work, sizeof(work), "%s@%s", before, saved) < 0) {
			rt_errf(r->err, sizeof(r->err), "the address is too "
			    "long");
			return resolve_fail(r);
		}
		local = true;
		break;
	}

	(void)rt_copy(r->address, sizeof(r->address), work);
	if ((domain = rt_domain_of(r->address)) == NULL) {
		/* Cannot happen: both ways out of the loop have a domain. */
		rt_errf(r->err, sizeof(r->err), "%s: no domain after rewriting",
		    address);
		return resolve_fail(r);
	}
	if (domain[0] == '[')
		r->flags |= ROUTE_F_LITERAL;
	/* A routing operator left of the final '@' (whatever this site's
	 * settings: the next hop may honour it). */
	if (strcspn(r->address, "@!%") != (size_t)(domain - 1 - r->address))
		r->flags |= ROUTE_F_ROUTED;

	if (local) {
		r->cls = ROUTE_LOCAL;
		conflict(rt->valias_domains, domain, "mydestination", r);
		conflict(rt->vmbox_domains, domain, "mydestination", r);
	} else if (!address_domain_is_valid(domain, true)) {
		r->cls = ROUTE_DEFAULT;
		(void)rt_copy(r->transport, sizeof(r->transport), "error");
		(void)rt_copy(r->nexthop, sizeof(r->nexthop),
		    "5.1.2 Bad destination domain syntax");
		rt_step(r, "%s is not a valid domain: class default, transport "
		    "error", domain);
		goto done;
	} else {
		if (classify(rt, domain, &r->cls, why, sizeof(why), r->err,
		    sizeof(r->err)) < 0)
			return resolve_fail(r);
		rt_step(r, "%s: %s", domain, why);
		if (r->cls == ROUTE_ALIAS) {
			conflict(rt->vmbox_domains, domain,
			    "virtual_alias_domains", r);
			conflict(rt->relay_domains, domain,
			    "virtual_alias_domains", r);
		} else if (r->cls == ROUTE_VIRTUAL) {
			conflict(rt->relay_domains, domain,
			    "virtual_mailbox_domains", r);
		}
	}
	if ((r->cls == ROUTE_LOCAL || r->cls == ROUTE_ALIAS ||
	    r->cls == ROUTE_VIRTUAL) && is_postmaster(r->address))
		r->flags |= ROUTE_F_POSTMASTER;

	(void)rt_copy(r->nexthop, sizeof(r->nexthop), domain);
	switch (r->cls) {
	case ROUTE_LOCAL:
		rc = set_transport(r, "local_transport", rt->local_transport);
		break;
	case ROUTE_ALIAS:
		(void)rt_copy(r->transport, sizeof(r->transport), "error");
		(void)rt_format(r->nexthop, sizeof(r->nexthop), "5.1.1 User "
		    "unknown%s", rt->show_table ? " in virtual alias table" :
		    "");
		rc = 0;
		break;
	case ROUTE_VIRTUAL:
		rc = set_transport(r, "virtual_transport",
		    rt->virtual_transport);
		break;
	case ROUTE_RELAY:
	case ROUTE_DEFAULT:
	default: {
		const char *tv = r->cls == ROUTE_RELAY ? rt->relay_transport :
		    rt->default_transport;
		const char *colon = strchr(tv, ':');

		if (rt->relayhost[0] != '\0')
			(void)rt_copy(r->nexthop, sizeof(r->nexthop),
			    rt->relayhost);
		/* A next hop in the transport setting wins over relayhost
		 * and sender_dependent_relayhost_maps (Postfix's order). */
		if (colon == NULL || colon[1] == '\0')
			r->flags |= ROUTE_F_RELAYHOST;
		if (r->cls == ROUTE_DEFAULT)
			r->flags |= ROUTE_F_DEFAULT_TRANSPORT;
		rc = set_transport(r, r->cls == ROUTE_RELAY ?
		    "relay_transport" : "default_transport", tv);
		break;
	}
	}
	if (rc < 0)
		return resolve_fail(r);
	rt_step(r, "class %s: transport %s, next hop %s%s",
	    route_class_name(r->cls), r->transport, r->nexthop,
	    (r->cls == ROUTE_RELAY || r->cls == ROUTE_DEFAULT) &&
	    rt->relayhost[0] != '\0' ? " (relayhost)" : "");
	if (r->cls != ROUTE_ALIAS &&
	    apply_transport_maps(rt, domain, r) < 0)
		return resolve_fail(r);
	/* relocated_maps wins over the transport (Postfix's queue manager
	 * bounces such a recipient whatever its transport); a virtual
	 * alias domain's addresses are relocated after their expansion. */
	if (r->cls != ROUTE_ALIAS && rt->maps[RM_RELOCATED].set &&
	    rt_relocated(rt, r) < 0)
		return resolve_fail(r);
done:
	if (r->flags & ROUTE_F_ROUTED)
		rt_step(r, "the local part still holds a routing operator "
		    "('@', '!' or '%%'): not an authorized destination");
	if (r->flags & ROUTE_F_POSTMASTER)
		rt_step(r, "postmaster of a domain of ours: always accepted");
	return ROUTE_OK;
}
