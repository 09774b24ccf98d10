/* SPDX-License-Identifier: MIT */
/*
 * peer_tables - the tables named in client lists (mynetworks,
 * debug_peer_list, permit_mx_backup_networks and the smtpd_* host
 * lists; peer_match.h): a peer_table_opener for peer_list_parse_tables.
 *
 * These lists are matched synchronously, at every connection or
 * command, in the process that holds them (smtpd), so only local tables
 * are allowed: cidr:, texthash:, hash:/lmdb:, inline:, static:, pcre:,
 * regexp: and the like.  proxy: and the network types (mysql:, pgsql:)
 * are refused with the reason, as are unknown types.  Files are checked
 * like every table file (owned by root or mail_owner, not writable by
 * group or others): open them before privileges are dropped and before
 * any chroot.
 */
#ifndef OSTIA_PEER_TABLES_H
#define OSTIA_PEER_TABLES_H

#include <stdbool.h>
#include <stddef.h>

#include "dict.h"

struct peer_tables_ctx {
	const char *title;		/* the parameter, for messages */
	bool open;			/* false: check the type only */
	struct dict_open_opts opts;
};

/*
 * Set up ctx for the list title.  With open, tables are opened with
 * mail_owner (a user name, may be NULL or unknown: root only) trusted
 * as a file owner; without, the opener only checks that the type is a
 * known local one and gives no table (peer_match.h: the element then
 * never matches; for the master's load check).
 */
void peer_tables_ctx_init(struct peer_tables_ctx *ctx, const char *title,
    bool open, const char *mail_owner);

/* The peer_table_opener; ctx is a struct peer_tables_ctx. */
int peer_tables_open(void *ctx, const char *spec, struct dict **dict_r,
    char *err, size_t errsz);

#endif
