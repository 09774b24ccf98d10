/* SPDX-License-Identifier: MIT */
/*
 * lookup_tables - which tables the lookup process serves, and opening
 * them.
 *
 * The set is every "type:name" named, in main.cf's view and in each
 * master.cf service's (its -o overrides on top):
 *   - by a lookup-table parameter (PT_MAPS in config_params.def) that
 *     is set; defaults are not opened (Postfix's defaults name files
 *     such as /etc/aliases that an Ostia system need not have), except
 *     those of the address resolver's parameters (route.h:
 *     local_recipient_maps, alias_maps, virtual_alias_maps, ...), which
 *     the lookup process needs to answer ROUTE as `ostia route` would;
 *     a table only a default names is never strict;
 *   - as an element of the domain and network lists mydestination,
 *     relay_domains, virtual_alias_domains, virtual_mailbox_domains,
 *     mynetworks, permit_mx_backup_networks ("type:name" or
 *     "!type:name" with a known type; the address resolver and the
 *     client checks look them up through the lookup process);
 *   - as the table after a check_*_access restriction
 *     (lookup_tables_access_word) in smtpd_{client,helo,sender,
 *     recipient,relay,data,end_of_data,etrn}_restrictions and in every
 *     restriction class named by smtpd_restriction_classes (a
 *     user-defined main.cf name).
 * "proxy:type:name" is the table "type:name" (the lookup process is
 * the proxy: Postfix's proxymap semantics); a table named in several
 * places is opened once, under the first parameter that named it.
 *
 * Not served, because another process reads them itself or they are
 * caches written by their owner: tls_server_sni_maps (smtpd reads the
 * private keys it names as root), address_verify_map,
 * postscreen_cache_map, alias_database (a postalias target).
 *
 * How strictly: a table of a parameter Ostia honours (PS_IMPL) that
 * does not open is an error: the master refuses to start (or to
 * reload); a lookup process restarted later (after a crash) logs the
 * error and answers TEMPFAIL for that table, at once, instead of
 * exiting (clients would wait for their timeout each time).  A table of
 * a parameter Ostia
 * does not use yet (PS_LATER) that does not open is a warning; lookups
 * in it answer TEMPFAIL with the reason until it is fixed (and the
 * configuration reloaded).  Tables of restriction lists and classes
 * are always strict (the restriction engine honours every list); those
 * of the domain lists follow their parameter's status.
 *
 * Tables are opened as root (the master's check, the lookup process's
 * preinit), with files trusted when owned by root or mail_owner.
 * Network tables (DICT_TYPE_NETWORK) parse their configuration at open
 * and connect at their first lookup.
 */
#ifndef OSTIA_LOOKUP_TABLES_H
#define OSTIA_LOOKUP_TABLES_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "config.h"
#include "dict.h"

struct lookup_table {
	char *spec;		/* "type:name", proxy: removed */
	char *param;		/* the first parameter that named it */
	bool strict;		/* some parameter naming it is honoured */
	bool by_default;	/* named only by a default value */
	struct dict *d;		/* NULL: not opened (yet), or failed */
	char *open_error;	/* why it failed to open, or NULL */
};

struct lookup_tableset {
	struct lookup_table *items;
	size_t n;
};

/* Parameters never served (see above). */
bool lookup_tables_param_excluded(const char *param);

/*
 * The tables named by cf, none opened: main.cf's parameters (in the
 * parameter table's order), then each master.cf service's view; a
 * table already listed is not listed again.
 */
void lookup_tables_collect(const struct config *cf,
    struct lookup_tableset *ts);
/* True when element (proxy: or not) is "type:name" with a known type. */
bool lookup_tables_is_table(const char *element);
/*
 * True when word (any case) is a restriction whose argument is a table:
 * check_sasl_access, check_ccert_access, and check_WHAT_access,
 * check_WHAT_a_access, check_WHAT_mx_access, check_WHAT_ns_access for
 * WHAT client, reverse_client_hostname, helo, sender, recipient.
 */
bool lookup_tables_access_word(const char *word);
/*
 * "proxy:type:name" -> "type:name" (a pointer into spec); other specs
 * unchanged.
 */
const char *lookup_tables_unproxy(const char *spec);
/* The table with that spec (proxy: or not), or NULL. */
struct lookup_table *lookup_tables_find(struct lookup_tableset *ts,
    const char *spec);

/*
 * Open every table of ts with opts.  Each failure goes to diags as an
 * error (strict tables) or a warning, "PARAM: table SPEC: ERROR";
 * failed tables keep d NULL and open_error set.  Returns the number of
 * strict failures.
 */
size_t lookup_tables_open(struct lookup_tableset *ts,
    const struct dict_open_opts *opts, struct diag_list *diags);
void lookup_tables_deinit(struct lookup_tableset *ts);

/* Open options of the lookup process: trusted uid = mail_owner's (root
 * only when mail_owner does not exist yet). */
void lookup_tables_opts(const struct config *cf, struct dict_open_opts *o);

/*
 * The master's check at start-up and reload: collect, open, close.
 * Adds the errors (strict tables that do not open) to diags and returns
 * -1 when there is one; warnings are left to the lookup process.
 */
int lookup_tables_check(const struct config *cf, struct diag_list *diags);

#endif
