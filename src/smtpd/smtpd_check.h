/* SPDX-License-Identifier: MIT */
/*
 * smtpd_check - the SMTP access policy: Postfix's restriction lists
 * (smtpd_client_restrictions ... smtpd_end_of_data_restrictions,
 * smtpd_restriction_classes) evaluated with Postfix's rules, and the
 * access(5) table results.
 *
 * Evaluation.  Each list is tried in order; the first restriction that
 * decides (permit or reject) ends that list, and DUNNO goes on to the
 * next one.  A permit ends only its own list: at RCPT TO the client,
 * HELO and sender lists (with smtpd_delay_reject = yes), then
 * smtpd_relay_restrictions, then smtpd_recipient_restrictions are each
 * evaluated, and any reject refuses the recipient.  With
 * smtpd_delay_reject = no the client list runs at connect, the HELO list
 * at HELO/EHLO and the sender list at MAIL FROM; a refusal there is
 * given to every later command but QUIT, RSET and NOOP.
 * smtpd_reject_unlisted_recipient / smtpd_reject_unlisted_sender apply
 * after the lists passed.
 *
 * Fail closed.  A table or resolver that cannot answer makes the
 * command a temporary failure (451 4.3.0), a policy service that is
 * down one too (451 4.3.5, unless its default_action says otherwise), an
 * unknown restriction or a malformed table result a "451 4.3.5 Server
 * configuration error" with the cause in the log, and a DNS lookup that
 * fails (reject_unknown_*, reject_rbl_client, reject_rhsbl_*: a
 * timeout, SERVFAIL, a DNSSEC failure, no resolver) a 450 deferral when
 * the mail would otherwise be accepted (defer_if_permit), logged with
 * the check, the name and the error.  Nothing of that kind ever
 * permits, and a lookup error is never read as "not found".
 *
 * DNS restrictions (Postfix's replies and codes):
 *   reject_unknown_client_hostname (reject_unknown_client): no PTR, or
 *     the PTR name does not resolve back (unknown_client_reject_code;
 *     "450 4.7.25 Client host rejected: cannot find your hostname, [A]")
 *   reject_unknown_reverse_client_hostname: no PTR (the same code)
 *   reject_unknown_helo_hostname (reject_unknown_hostname): no A, AAAA
 *     or MX for the HELO name (unknown_hostname_reject_code)
 *   reject_unknown_sender_domain, reject_unknown_recipient_domain: not
 *     one of our domains and no MX, A or AAAA (unknown_address_reject_
 *     code, 4.1.8 / 4.1.2 "Domain not found"); a null MX (RFC 7505)
 *     is 550 5.7.27 for a sender, 556 5.1.10 for a recipient
 *   reject_rbl_client ZONE[=d.d.d.d], reject_rhsbl_{client,sender,helo,
 *     recipient,reverse_client} ZONE[=d.d.d.d]: listed (an A record,
 *     matching the filter if given) is "554 5.7.1 Service unavailable;
 *     Client host [A] blocked using ZONE; <TXT record>"
 * check_client_access and check_reverse_client_hostname_access look up
 * the (reverse) client name and its parent domains first, then the
 * address and its networks.
 *
 * Lookups go to the lookup process (FIND and ROUTE requests), policy
 * queries to the policy services, DNS queries to the resolver
 * (smtpd_dns.h), all asynchronously: while a check runs the session
 * reads no more input.
 */
#ifndef OSTIA_SMTPD_CHECK_H
#define OSTIA_SMTPD_CHECK_H

#include <stdbool.h>

#include "config.h"

struct lookup_client;
struct session;

enum smtpd_check_stage {
	SMTPD_CHECK_CONNECT,
	SMTPD_CHECK_HELO,
	SMTPD_CHECK_MAIL,
	SMTPD_CHECK_RCPT,
	SMTPD_CHECK_DATA,
	SMTPD_CHECK_EOD,
};

/* What the restrictions decided.  reject: reply holds the whole reply
 * line (code, enhanced code, text); otherwise the command goes on. */
struct smtpd_check_result {
	bool reject;
	const char *reply;
};

/*
 * The end of a check.  Called exactly once per smtpd_check_start(),
 * either from inside it (no lookup was needed) or later from the event
 * loop; in the second case the engine resumes reading input after the
 * callback returns.  The callback sends the reply.
 */
typedef void smtpd_check_done(struct session *s,
    const struct smtpd_check_result *r);

/* Read and compile every restriction list of the service's view.
 * Unknown restriction names are warned about once here and give a
 * temporary "configuration error" when reached. */
void smtpd_check_init(const struct config_view *v);

/* True when stage has anything to evaluate for this session (lists
 * configured, or an implicit check); callers skip the machinery
 * otherwise. */
bool smtpd_check_wanted(const struct session *s,
    enum smtpd_check_stage stage);

/*
 * Evaluate the restrictions of stage for s (rcpt: the recipient being
 * added at SMTPD_CHECK_RCPT, else NULL).  Side effects of access
 * results (HOLD, DISCARD, FILTER, REDIRECT, PREPEND, BCC) go to the
 * transaction (smtpd_check_actions).
 */
void smtpd_check_start(struct session *s, enum smtpd_check_stage stage,
    const char *rcpt, smtpd_check_done *done);

/* The session ends or the transaction resets: stop any running check;
 * its callback will not run. */
void smtpd_check_cancel(struct session *s);

/* With smtpd_delay_reject = no: the refusal from an earlier stage that
 * every later command gets, or NULL. */
const char *smtpd_check_sticky_reject(const struct session *s);

/* Per-transaction actions gathered from access tables and
 * content_filter; reset by smtpd_check_reset_actions (RSET, new MAIL,
 * after a message). */
struct smtpd_check_actions {
	char *filter;		/* "transport:nexthop" */
	char *hold;		/* reason */
	char *redirect;		/* address */
	bool discard;
	char *discard_reason;
	char **prepend;		/* header lines, NULL-terminated, or NULL */
	char **bcc;		/* addresses, NULL-terminated, or NULL */
};
struct smtpd_check_actions *smtpd_check_actions(struct session *s);
void smtpd_check_reset_actions(struct session *s);

/*
 * Canonical mapping, masquerading and automatic BCC of an accepted
 * envelope address (sender_canonical_maps, recipient_canonical_maps,
 * canonical_maps, masquerade_domains, sender_bcc_maps,
 * recipient_bcc_maps; off with receive_override_options =
 * no_address_mappings), done by the lookup process.
 * smtpd_check_rewrite_wanted: whether any applies to senders (or
 * recipients).  smtpd_check_rewrite: always asynchronous; the session
 * reads no input until done runs: ok with the address to queue and a
 * BCC address or NULL, or !ok with a 451 reply (the cause is logged).
 */
typedef void smtpd_rewrite_done(struct session *s, bool ok,
    const char *address, const char *bcc, const char *reply);
bool smtpd_check_rewrite_wanted(bool sender);

/* The process's asynchronous client of the lookup process (made at
 * the first call), for the other parts of smtpd that ask it
 * (smtpd_hdrw.c). */
struct lookup_client *smtpd_check_lookup_client(void);
void smtpd_check_rewrite(struct session *s, bool sender, const char *address,
    smtpd_rewrite_done *done);

/* Free the per-session state (session end). */
void smtpd_check_session_end(struct session *s);

#endif
