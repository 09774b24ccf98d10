/* SPDX-License-Identifier: MIT */
/*
 * route - where an address goes: Postfix's address classes, rewriting
 * and the recipient tables, for one service's view of the
 * configuration (trivial-rewrite's job in Postfix).
 *
 * Synchronous: every table is a struct maps opened through the caller's
 * opener, so the same code runs in the lookup process (tables it
 * already has open; smtpd asks it with a ROUTE request, lookup_client.h)
 * and in `ostia route` (tables opened directly).  Every function is fail
 * closed: a table that cannot answer makes the whole answer
 * ROUTE_TEMPFAIL with the reason; it never becomes "not found", "not
 * local" or "unknown user".
 *
 * Address classes (Postfix ADDRESS_CLASS_README), decided by the domain
 * after rewriting:
 *   ROUTE_LOCAL    mydestination, inet_interfaces / proxy_interfaces
 *                  address literals; transport local_transport
 *   ROUTE_ALIAS    virtual_alias_domains; every address must be an alias
 *                  (transport "error": it is never delivered as is)
 *   ROUTE_VIRTUAL  virtual_mailbox_domains; virtual_transport
 *   ROUTE_RELAY    relay_domains; relay_transport
 *   ROUTE_DEFAULT  anything else; default_transport, relayhost
 * transport_maps (full address, address without extension, domain,
 * parents, then "*") may override transport and next hop for every
 * class but ROUTE_ALIAS.
 *
 * Rewriting before the class is decided (each step is recorded in
 * steps[] for `ostia route`): source routes are already gone (address.h);
 * "user@" and bare "user" get @$myorigin (append_at_myorigin); a domain
 * without a dot gets .$mydomain (append_dot_mydomain); one trailing dot
 * of the domain is dropped; the domain is folded to lower case; in a
 * local domain, "a!b" becomes "b@a" (swap_bangpath) and "u%d" becomes
 * "u@d" (allow_percent_hack), and the result is resolved again.  An
 * address whose local part still holds '@', '%' or '!' after that is
 * ROUTE_F_ROUTED: reject_unauth_destination never lets it through.
 */
#ifndef OSTIA_ROUTE_H
#define OSTIA_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "maps.h"

/* Longest address handled (RFC 5321 path limit with room to rewrite). */
#define ROUTE_ADDRESS_MAX_BYTES 1024
#define ROUTE_ERR_MAX_BYTES 1024
/* Most steps recorded for one answer. */
#define ROUTE_STEPS_MAX 64

enum route_status {
	ROUTE_OK = 0,
	ROUTE_TEMPFAIL = 1,	/* a table failed: err says which and why */
};

enum route_class {
	ROUTE_LOCAL,
	ROUTE_ALIAS,
	ROUTE_VIRTUAL,
	ROUTE_RELAY,
	ROUTE_DEFAULT,
};

/* route_result.flags */
#define ROUTE_F_ROUTED		(1u << 0)  /* local part still routes
					    * elsewhere ('@', '%', '!') */
#define ROUTE_F_POSTMASTER	(1u << 1)  /* postmaster of a hosted domain
					    * or bare <Postmaster> */
#define ROUTE_F_LITERAL		(1u << 2)  /* the domain is [address] */
#define ROUTE_F_RELAYHOST	(1u << 3)  /* relay or default class, next
					    * hop from relayhost or the
					    * domain, not from a transport
					    * setting: the queue manager may
					    * put the sender's
					    * sender_dependent_relayhost_maps
					    * entry in its place */
#define ROUTE_F_DEFAULT_TRANSPORT (1u << 4) /* default class, transport
					    * from default_transport (no
					    * transport_maps entry): the
					    * queue manager may put the
					    * sender's sender_dependent_
					    * default_transport_maps entry
					    * in its place */

/*
 * Opens one lookup-table list (a PT_MAPS-style value, "a:b, c:d") for
 * the parameter param.  NULL with err when it cannot be opened; the
 * caller of route_tables_new decides whether that is fatal.  For the
 * domain lists (mydestination, relay_domains, virtual_alias_domains,
 * virtual_mailbox_domains) it is called once for each "type:name"
 * element (also those inside a /file element), with param the list's
 * name and value that one element, "proxy:" included as written.
 */
typedef struct maps *route_maps_open_fn(void *ctx, const char *param,
    const char *value, char *err, size_t errsz);

struct route_tables;

/*
 * Read the routing parameters of view v and open their tables with
 * open(ctx, ...): mydestination, relay_domains, virtual_alias_domains,
 * virtual_mailbox_domains (the table elements of these lists),
 * local_recipient_maps, alias_maps, virtual_alias_maps,
 * virtual_mailbox_maps, relay_recipient_maps, transport_maps,
 * sender_canonical_maps, recipient_canonical_maps, canonical_maps,
 * recipient_bcc_maps, sender_bcc_maps.  A table that does not open is
 * kept as a failing table: lookups through it answer ROUTE_TEMPFAIL
 * with the open error (fail closed), so a broken alias file defers mail
 * instead of bouncing it.  NULL with err only for a value that cannot be
 * parsed.
 */
struct route_tables *route_tables_new(const struct config_view *v,
    route_maps_open_fn *open, void *ctx, char *err, size_t errsz);
void route_tables_free(struct route_tables **rtp);

/*
 * The tables of one of the lookup-table parameters route_tables_new
 * read ("recipient_bcc_maps", "sender_canonical_maps", ...), for the
 * callers that use them directly.  0 with *m_r (NULL when the parameter
 * is empty; owned by rt), or -1 with err when the list failed to open
 * (the open error) or param is not one of them.
 */
int route_tables_maps(struct route_tables *rt, const char *param,
    struct maps **m_r, char *err, size_t errsz);

struct route_result {
	enum route_class cls;
	unsigned flags;			/* ROUTE_F_* */
	char address[ROUTE_ADDRESS_MAX_BYTES];	/* after rewriting */
	char transport[128];		/* "virtual", "smtp", "dovecot" */
	char nexthop[ROUTE_ADDRESS_MAX_BYTES];	/* "[host]:port", domain */
	/* Each rewriting or decision step in words, for `ostia route` and
	 * for logs: "allow_percent_hack: u%d@local -> u@d". */
	char *steps[ROUTE_STEPS_MAX];
	size_t nsteps;
	char err[ROUTE_ERR_MAX_BYTES];	/* ROUTE_TEMPFAIL */
};
void route_result_init(struct route_result *r);
void route_result_deinit(struct route_result *r);

/*
 * Rewrite and classify address (local@domain, as address.h gives it in
 * address.text; "" is the null sender and resolves as ROUTE_LOCAL with
 * no transport; "Postmaster" alone is postmaster@$myhostname).
 */
enum route_status route_resolve(struct route_tables *rt, const char *address,
    struct route_result *r);

/* Is the recipient known in its class?  (reject_unlisted_recipient,
 * smtpd_reject_unlisted_recipient, reject_unlisted_sender.) */
enum route_listed {
	ROUTE_LISTED,		/* known, or its class does not check */
	ROUTE_UNLISTED,		/* unknown: code and text say how to refuse */
};

struct route_verdict {
	enum route_listed listed;
	int code;		/* 550 (unknown_*_reject_code) */
	char dsn[16];		/* enhanced status code for the reply,
				 * "5.1.1" (RFC 3463; a sender check makes
				 * it 5.1.0, as Postfix does) */
	char text[256];		/* "User unknown in virtual mailbox table" */
};

/*
 * Decide whether address (already resolved into r) is a known
 * recipient: ROUTE_LOCAL with local_recipient_maps (empty: every
 * address is known) and alias_maps; ROUTE_ALIAS in virtual_alias_maps
 * (unknown_virtual_alias_reject_code); ROUTE_VIRTUAL in
 * virtual_mailbox_maps or virtual_alias_maps
 * (unknown_virtual_mailbox_reject_code); ROUTE_RELAY in
 * relay_recipient_maps when set (unknown_relay_recipient_reject_code);
 * ROUTE_DEFAULT always known.  postmaster@ a hosted domain and the bare
 * Postmaster are always known (RFC 5321 4.5.1).  recipient_delimiter
 * extensions are tried as the tables' lookup order says (maps.h).
 */
enum route_status route_check_listed(struct route_tables *rt,
    const struct route_result *r, struct route_verdict *v, char *err,
    size_t errsz);

/*
 * Virtual alias expansion of one recipient (virtual_alias_maps, with
 * canonical lookup order, recursion until no alias matches, a result
 * that names itself kept, loop detection,
 * virtual_alias_recursion_limit and virtual_alias_expansion_limit).
 * On ROUTE_OK *out is a new NULL-terminated vector (strv_free) of the
 * final addresses (address itself when no alias applies).  Exceeding a
 * limit or a loop is ROUTE_TEMPFAIL with err saying which (Postfix
 * defers such mail too).  Steps are appended to r when r is not NULL.
 */
enum route_status route_expand_aliases(struct route_tables *rt,
    const char *address, char ***out, struct route_result *r);

/*
 * What Postfix's cleanup does to an envelope address before it is
 * queued.  Canonical mapping: for a sender sender_canonical_maps, for a
 * recipient recipient_canonical_maps, then canonical_maps; each only
 * when its *_canonical_classes names the envelope address; the first
 * match wins and is applied once (not recursively), with canonical(5)'s
 * lookup order; a result "@domain" keeps the local part, a result
 * without a domain gets @$myorigin, and an extension the matching key
 * did not have is kept when propagate_unmatched_extensions names
 * canonical.  Then address masquerading (masquerade.h) when
 * masquerade_classes names envelope_sender or envelope_recipient.
 * Then the automatic BCC: sender_bcc_maps or
 * recipient_bcc_maps, looked up with the mapped address; its value must
 * be one address.  out gets the address to queue (address itself when
 * nothing matched; the null sender is never mapped), *bcc_r a new
 * string or NULL.  A table failure or a malformed result is
 * ROUTE_TEMPFAIL with r->err.  Steps go to r.
 */
enum route_status route_rewrite(struct route_tables *rt, const char *address,
    bool sender, char *out, size_t outsz, char **bcc_r,
    struct route_result *r);

/*
 * Canonical mapping of an address found in a message header (smtpd's
 * header rewriting, after the address was completed): as route_rewrite
 * without the BCC, with the header classes of *_canonical_classes
 * (header_sender for a sender header such as From:, header_recipient
 * for a recipient header such as To:), then masquerading per the
 * header classes of masquerade_classes.  out gets the address (itself
 * when nothing matched or it has no domain).  ROUTE_TEMPFAIL with
 * r->err when a table fails, its result is not one address, or the
 * masquerade_* settings are unusable.
 */
enum route_status route_rewrite_header(struct route_tables *rt,
    const char *address, bool sender, char *out, size_t outsz,
    struct route_result *r);

/*
 * smtp_generic_maps: the address as the smtp agent sends it (the
 * envelope sender, a recipient, or an address in a header), with the
 * canonical(5) rules (the first match of user@domain, user for our own
 * domains, @domain; "@domain" results keep the local part; the
 * extension kept when propagate_unmatched_extensions names generic).
 * out gets the address itself when nothing matched, it has no domain,
 * or it is the null sender.  ROUTE_TEMPFAIL with r->err when a table
 * fails or its result is not one address.
 */
enum route_status route_generic(struct route_tables *rt, const char *address,
    char *out, size_t outsz, struct route_result *r);

/*
 * Is domain one of ours?  (mydestination, the virtual and relay domain
 * lists.)  *cls_r gets the class; ROUTE_DEFAULT when not.  For
 * reject_unauth_destination the caller also checks ROUTE_F_ROUTED.
 */
enum route_status route_domain_class(struct route_tables *rt,
    const char *domain, enum route_class *cls_r, char *err, size_t errsz);

const char *route_class_name(enum route_class cls);

#endif
