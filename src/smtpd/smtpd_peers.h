/* SPDX-License-Identifier: MIT */
/*
 * smtpd_peers - the client lists of the SMTP server (mynetworks,
 * debug_peer_list, permit_mx_backup_networks,
 * smtpd_client_event_limit_exceptions, smtpd_authorized_xclient_hosts,
 * smtpd_authorized_xforward_hosts, smtpd_forbid_bare_newline_exclusions,
 * smtpd_sasl_exceptions_networks), parsed with their files and tables
 * (peer_match.h, peer_tables.h).
 *
 * smtpd_peers_remember() parses a list in preinit, as root and before
 * any chroot, so that "/file" elements and table files are reachable;
 * smtpd_peers_parse() later hands that list over when it is asked for
 * the same list with the same value, and otherwise parses it then.
 * parent_domain_matches_subdomains decides, per list name, whether
 * "example.com" also matches its subdomains.
 */
#ifndef OSTIA_SMTPD_PEERS_H
#define OSTIA_SMTPD_PEERS_H

#include "config.h"
#include "peer_match.h"

/* Parse list title with value now (preinit) and keep the result, or
 * its error, for smtpd_peers_parse(). */
void smtpd_peers_remember(const struct config_view *v, const char *title,
    const char *value);

/*
 * The list title with value: the one remembered for them (the caller
 * owns it now), else parsed now.  NULL with *err_r set (valid until the
 * next call) when it does not parse or a table does not open.
 */
struct peer_list *smtpd_peers_parse(const struct config_view *v,
    const char *title, const char *value, const char **err_r);

/* Free what was remembered and not asked for. */
void smtpd_peers_forget(void);

#endif
