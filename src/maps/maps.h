/* SPDX-License-Identifier: MIT */
/*
 * maps - a list of lookup tables, as a PT_MAPS parameter names them
 * ("virtual_alias_maps = proxy:mysql:/etc/ostia/a.cf, hash:/etc/x"), and
 * the lookup orders Postfix documents for addresses, host names and
 * client addresses.
 *
 * Every search is key-major, as in Postfix: for each key of the order,
 * every table is asked in list order; the first table that finds the key
 * answers.  A table that fails (DICT_TEMPFAIL) ends the whole search
 * with DICT_TEMPFAIL at once: a later table or a later, less specific
 * key is never consulted past an error, so an outage can never turn into
 * a wrong answer.
 *
 * Full and partial keys.  The first key of every order is the whole
 * string (the address, host name or client address) and goes to every
 * table.  The other keys (address without extension, @domain, user
 * parts, parent domains, shorter networks) are "partial" and are not
 * given to tables flagged DICT_TYPE_PATTERN (pcre:, regexp:) or
 * DICT_TYPE_CIDR (cidr:), which match whole strings only (access(5),
 * "REGULAR EXPRESSION TABLES").
 *
 * Keys are passed to dict_get(), which folds case as the table wants.
 * A key longer than DICT_KEY_MAX_BYTES is skipped (no table can hold it).
 *
 * Not thread-safe: one maps list per thread, like its tables.
 */
#ifndef OSTIA_MAPS_H
#define OSTIA_MAPS_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "dict.h"

/* Most tables in one list. */
#define MAPS_MAX_TABLES 256

struct maps;

/*
 * Open every table of a PT_MAPS value: elements separated by commas
 * and/or white space, "{...}" kept together (config_split_list(), as
 * the configuration checker splits them: inline:{ a=b, c=d } is one
 * table).  A table may be listed more than once (each is opened).
 * title names the list in messages (the parameter name).  An empty value
 * gives an empty list, which finds nothing.  NULL with err ("title:
 * <the table's error>") when a table cannot be opened.
 */
struct maps *maps_open(const char *title, const char *value,
    const struct dict_open_opts *opts, char *err, size_t errsz);
/*
 * A maps_open_with() opener: the open table for spec (one element of
 * the value, as written), or NULL with the reason in err.
 */
typedef struct dict *maps_opener(const void *ctx, const char *spec,
    char *err, size_t errsz);
/*
 * maps_open() with the tables given by opener(ctx, spec, ...): the same
 * splitting, MAPS_MAX_TABLES limit and messages ("title: more than N
 * tables", "title: <the opener's error>").  With borrow the list only
 * borrows each table (maps_add_borrowed), otherwise it owns it
 * (maps_add); either way a failure frees what it opened so far.
 */
struct maps *maps_open_with(const char *title, const char *value,
    maps_opener *opener, const void *ctx, bool borrow, char *err,
    size_t errsz);
/* An empty list to fill with maps_add (tests, the proxy client). */
struct maps *maps_new(const char *title);
/* Append an open table; the list owns it from now on. */
void maps_add(struct maps *m, struct dict *d);
/*
 * Append an open table the list only uses: maps_free() leaves it open.
 * The caller keeps it open for as long as the list lives (the lookup
 * process builds lists over the tables it already has open).
 */
void maps_add_borrowed(struct maps *m, struct dict *d);
/* Close every table the list owns and free the list; *mp becomes
 * NULL.  NULL ok. */
void maps_free(struct maps **mp);

const char *maps_title(const struct maps *m);
size_t maps_count(const struct maps *m);
struct dict *maps_table(const struct maps *m, size_t i);
/* True when some table's file changed (the caller reopens the list). */
bool maps_changed(const struct maps *m);

/*
 * What a search found.  Initialise once, reuse for many searches.
 *   status  the search's result
 *   value   FOUND: the value
 *   key     FOUND: the key that matched ("@example.com"); TEMPFAIL:
 *           the key being looked up when the table failed
 *   table   FOUND/TEMPFAIL: the table that answered; NULL otherwise
 *   err     TEMPFAIL: why (table spec and reason, no secrets)
 */
struct maps_result {
	enum dict_status status;
	struct buf value;
	struct buf key;
	const struct dict *table;
	char err[DICT_ERR_MAX_BYTES];
};
void maps_result_init(struct maps_result *r);
void maps_result_deinit(struct maps_result *r);

/*
 * One key, every table in order (a full key: pattern tables too).  On
 * DICT_FOUND the value is in value; on DICT_TEMPFAIL err says why.
 */
enum dict_status maps_find(struct maps *m, const char *key,
    struct buf *value, char *err, size_t errsz);
/* The same with the details in r. */
enum dict_status maps_find_result(struct maps *m, const char *key,
    struct maps_result *r);

/* maps_find_address() flags. */
#define MAPS_ADDR_USER		(1u << 0)	/* also "user+ext", "user" */
#define MAPS_ADDR_ACCESS	(1u << 1)	/* access(5) order */
#define MAPS_ADDR_PARENT_MATCHES_SUBDOMAINS (1u << 2)	/* with ACCESS */
#define MAPS_ADDR_NO_OWNER_REQUEST_SPECIAL (1u << 3)	/* owner_request_special = no */

/*
 * Look an address up in the Postfix order.  The address is split at its
 * last '@' into localpart and domain; the localpart "user+ext" is split
 * by maps_split_extension() when delimiters (recipient_delimiter, any of
 * its characters) is non-empty.  Keys, in order:
 *
 *   default (virtual(5), canonical(5), generic(5), relocated(5) ...):
 *     user+ext@domain, user@domain, [user+ext, user], @domain
 *     - the bracketed keys only with MAPS_ADDR_USER (the caller sets it
 *       when the domain is local: $myorigin, $mydestination,
 *       $inet_interfaces, as virtual(5) says; virtual(5) and
 *       canonical(5) try them before @domain, and so do we)
 *   MAPS_ADDR_ACCESS (access(5), check_*_access on addresses):
 *     user+ext@domain, user@domain, domain and its parents as
 *     maps_find_domain() walks them (".parent" forms, or "parent" forms
 *     with MAPS_ADDR_PARENT_MATCHES_SUBDOMAINS), user+ext@, user@
 *   address without '@' (aliases(5), local parts):
 *     user+ext, user
 *
 * The unextended forms are tried only when the localpart has an
 * extension.  Only the first key is given to pattern and cidr tables.
 */
enum dict_status maps_find_address(struct maps *m, const char *address,
    const char *delimiters, unsigned flags, struct maps_result *r);

/*
 * Where the extension of a localpart starts: the index of the first byte
 * of localpart[0..len) that is one of delimiters, or len when there is
 * no extension.  Not split (len returned), as Postfix does: no
 * delimiters; a delimiter in the first position (no user part); the
 * reserved localparts postmaster, mailer-daemon and double-bounce (any
 * case); and, when '-' is a delimiter and MAPS_ADDR_NO_OWNER_REQUEST_
 * SPECIAL is not in flags, localparts starting with "owner-" or ending
 * in "-request" (any case), so mailing list owners stay whole.
 */
size_t maps_split_extension(const char *localpart, size_t len,
    const char *delimiters, unsigned flags);

/*
 * Look a host or domain name up with its parent domains (access(5) "HOST
 * NAME/ADDRESS PATTERNS", check_client_access, check_helo_access,
 * relay_domains-style lists).  For "a.b.example.com":
 *   parent_matches_subdomains false: a.b.example.com, .b.example.com,
 *     .example.com, .com
 *   parent_matches_subdomains true (the list is named in
 *   parent_domain_matches_subdomains): a.b.example.com, b.example.com,
 *     example.com, com
 * The host itself is a full key; parents are partial.  An empty host
 * finds nothing; an address literal ("[...]") is looked up whole only.
 */
enum dict_status maps_find_domain(struct maps *m, const char *host,
    bool parent_matches_subdomains, struct maps_result *r);

/*
 * Look a client IP address up with its shorter networks (access(5)):
 * IPv4 "1.2.3.4", "1.2.3", "1.2", "1"; IPv6 the address as written,
 * then repeatedly without its last ':'-separated part ("2001:db8:1::5",
 * "2001:db8:1:", "2001:db8:1", "2001:db8", "2001"; empty keys skipped).
 * The address must be in the canonical text form the SMTP server logs
 * (no brackets, IPv4-mapped IPv6 already converted).  Only the full
 * address goes to pattern and cidr tables; a string that is not an IP
 * address is looked up whole only.
 */
enum dict_status maps_find_client_addr(struct maps *m, const char *addr,
    struct maps_result *r);

#endif
