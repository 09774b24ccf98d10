/* SPDX-License-Identifier: MIT */
/*
 * route_int - what route.c (tables, rewriting, classes, transports) and
 * route_check.c (recipient tables, virtual alias expansion) share.
 * Private to src/route: callers use route.h.
 */
#ifndef OSTIA_ROUTE_INT_H
#define OSTIA_ROUTE_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "compat.h"
#include "config.h"
#include "maps.h"
#include "masquerade.h"
#include "own_addrs.h"
#include "route.h"
#include "route_dlist.h"

/* Deepest virtual alias nesting followed, whatever
 * virtual_alias_recursion_limit says (the expansion recurses). */
#define ROUTE_ALIAS_DEPTH_MAX 1000
/* Most table lookups one expansion may make. */
#define ROUTE_ALIAS_LOOKUPS_MAX 100000
/* Most interface addresses remembered for address literals. */

/* The lookup-table parameters, in route_tables_new()'s order. */
enum rm_id {
	RM_LOCAL_RCPT,
	RM_ALIAS,
	RM_VALIAS,
	RM_VMBOX,
	RM_RELAY_RCPT,
	RM_TRANSPORT,
	RM_SENDER_CANON,
	RM_RCPT_CANON,
	RM_CANON,
	RM_RCPT_BCC,
	RM_SENDER_BCC,
	RM_SDRELAY,		/* for `ostia route -f`; the queue manager
				 * asks the lookup process itself */
	RM_SDDT,		/* sender_dependent_default_transport_maps,
				 * for `ostia route -f` too */
	RM_GENERIC,		/* smtp_generic_maps (the smtp agent asks) */
	RM_RELOCATED,		/* relocated_maps */
	RM__COUNT,
};

struct rm_param {
	enum param_id id;
	const char *name;
};

extern const struct rm_param rt_maps_params[RM__COUNT];

/* One PT_MAPS parameter: unset, open, or failed to open. */
struct rmaps {
	bool set;		/* the value names at least one table */
	struct maps *m;		/* NULL when unset or failed */
	char *err;		/* failed: why ("alias_maps: ...") */
};

struct route_tables {
	char *myhostname;
	char *mydomain;
	char *myorigin;
	char *local_transport;
	char *virtual_transport;
	char *relay_transport;
	char *default_transport;
	char *relayhost;
	char *delim;			/* recipient_delimiter */
	char *empty_rcpt;		/* empty_address_recipient */
	char *double_bounce;		/* double_bounce_sender */
	bool append_at_myorigin;
	bool append_dot_mydomain;
	bool percent_hack;
	bool swap_bangpath;
	bool dequoted;			/* resolve_dequoted_address */
	bool show_table;		/* show_user_unknown_table_name */
	bool transport_parent;		/* transport_maps parent style */
	bool propagate_virtual;		/* propagate_unmatched_extensions */
	bool propagate_canonical;	/* ... "canonical" */
	bool propagate_generic;		/* ... "generic" */
	/* *_canonical_classes: which envelope addresses are mapped */
	bool canon_env_sender, canon_env_rcpt;		/* canonical_maps */
	bool scanon_env_sender;		/* sender_canonical_maps */
	bool rcanon_env_rcpt;		/* recipient_canonical_maps */
	/* ... and which header addresses */
	bool canon_hdr_sender, canon_hdr_rcpt;		/* canonical_maps */
	bool scanon_hdr_sender;		/* sender_canonical_maps */
	bool rcanon_hdr_rcpt;		/* recipient_canonical_maps */
	/* masquerade_domains (masquerade.h), after the canonical maps;
	 * masq_err: its settings are unusable, and every rewrite of a
	 * class it would apply to fails with these words. */
	struct masq masq;
	char *masq_err;
	long long expansion_limit;
	long long recursion_limit;
	int code_local;
	int code_alias;
	int code_virtual;
	int code_relay;
	struct route_dlist *mydest;
	struct route_dlist *relay_domains;
	struct route_dlist *valias_domains;
	struct route_dlist *vmbox_domains;
	struct rmaps maps[RM__COUNT];
	struct own_addrs own;		/* inet_interfaces, proxy_interfaces */
};

/*
 * Helpers (route.c).
 *
 * rt_step - record one step in r (NULL: none); at most ROUTE_STEPS_MAX,
 *   the last one says that more were left out.
 * rt_copy - bounded copy; 0, or -1 (dst untouched) when src does not fit.
 * rt_format - snprintf() that says whether it fitted: 0 or -1.
 * rt_errf - snprintf() for messages (truncation is fine).
 * rt_find_op - index of the first (last) byte c of s outside double
 *   quotes, or -1.
 * rt_domain_of - the domain after the last '@' outside quotes, or NULL.
 * rt_lower - fold ASCII to lower case in place.
 * rt_quoted_inner - when s is one quoted string, its content unescaped
 *   into out (0); else -1.
 * rt_is_local - Postfix's resolve_local(): domain (lower case) is in
 *   mydestination or an address literal of ours.  1, 0, or -1 with err;
 *   why says what matched.
 */
void rt_step(struct route_result *r, const char *fmt, ...) ATTR_FORMAT(2, 3);
int rt_copy(char *dst, size_t dstsz, const char *src);
int rt_format(char *dst, size_t dstsz, const char *fmt, ...)
    ATTR_FORMAT(3, 4);
void rt_errf(char *dst, size_t dstsz, const char *fmt, ...) ATTR_FORMAT(3, 4);
long rt_find_op(const char *s, char c, bool last);
const char *rt_domain_of(const char *address);
void rt_lower(char *s);
int rt_quoted_inner(const char *s, char *out, size_t outsz);
int rt_is_local(struct route_tables *rt, const char *domain, char *why,
    size_t whysz, char *err, size_t errsz);

/*
 * rt_relocated - relocated_maps for the resolved r->address (canonical
 * lookup order): when found, r gets transport "error" and next hop
 * "5.1.6 User has moved to VALUE" (control characters in VALUE shown as
 * '?').  0, or -1 with r->err when a table fails.
 */
int rt_relocated(struct route_tables *rt, struct route_result *r);

#endif
