/* SPDX-License-Identifier: MIT */
/*
 * lookup_tables - which tables the lookup process serves, and opening
 * them.
 *
 * The set is every "type:name" named by a lookup-table parameter
 * (PT_MAPS in config_params.def) set in main.cf or by a master.cf
 * service's -o override; defaults are not opened (Postfix's defaults
 * name files such as /etc/aliases that an Ostia system need not have).
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
 * reload) and the lookup process exits.  A table of a parameter Ostia
 * does not use yet (PS_LATER) that does not open is a warning; lookups
 * in it answer TEMPFAIL with the reason until it is fixed (and the
 * configuration reloaded).
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
