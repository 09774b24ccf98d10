/* SPDX-License-Identifier: MIT */
/*
 * smtpd_dns - the SMTP server's use of DNS: its one resolver (dns.h) on
 * the process's event loop, lookups whose answer always comes back
 * later from the loop and within a bounded time, and the client name
 * lookup at connect (smtpd_peername_lookup).
 *
 * The client name (Postfix's semantics):
 *   - the PTR record of the client address gives the "reverse name";
 *   - the A (IPv4) or AAAA (IPv6) records of that name must include the
 *     address: then the client name is that name ("forward-confirmed");
 *   - otherwise the client name is "unknown", and why is logged: no PTR
 *     record, the PTR name does not resolve back to the address, or a
 *     temporary DNS failure (status SMTPD_NAME_TEMP).
 * reject_unknown_client_hostname looks at the client name's status,
 * reject_unknown_reverse_client_hostname and
 * check_reverse_client_hostname_access at the reverse name's.
 */
#ifndef OSTIA_SMTPD_DNS_H
#define OSTIA_SMTPD_DNS_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "dns.h"

struct session;

/* The longest a client name lookup (PTR, then A/AAAA) may take before
 * the session goes on with "unknown" (a temporary failure). */
#define SMTPD_PEER_LOOKUP_MS 10000
/* The longest any other lookup may take: then it is a temporary
 * failure (a guard over the resolver's own timeout). */
#define SMTPD_DNS_LOOKUP_MS 15000
/* Per-lookup timeout handed to the resolver. */
#define SMTPD_DNS_RESOLVER_MS 8000

/*
 * Make the resolver from dns_resolvers and dnssec_trust_anchor_file (at
 * process start, on smtpd_base).  When it cannot be made the error is
 * logged and the server goes on without DNS: every lookup then answers
 * DNS_TEMPFAIL "DNS resolver unavailable".  Also reads
 * smtpd_peername_lookup.
 */
void smtpd_dns_init(const struct config_view *v);

/*
 * One lookup.  cb runs exactly once, always from the event loop (never
 * from inside smtpd_dns_lookup), with a result it must free
 * (dns_result_free), unless the request is cancelled first.  Without a
 * resolver, when the query cannot be started, or when no answer comes
 * within SMTPD_DNS_LOOKUP_MS, the result is DNS_TEMPFAIL with words in
 * ->error.  Never NULL.
 */
typedef void smtpd_dns_cb(struct dns_result *res, void *ctx);
struct smtpd_dns_req;
struct smtpd_dns_req *smtpd_dns_lookup(const char *name, uint16_t qtype,
    smtpd_dns_cb *cb, void *ctx);
/* Stop a request whose callback has not run (cb will not run); NULL is
 * fine.  Sets *rp to NULL. */
void smtpd_dns_cancel(struct smtpd_dns_req **rp);

/* The client address of s as a socket address (port 0); false when
 * s->addr is not an IP address. */
struct sockaddr_storage;
bool smtpd_session_sockaddr(const struct session *s,
    struct sockaddr_storage *ss);

/* Words for a failed result: its ->error, else its status name. */
const char *smtpd_dns_error(const struct dns_result *res);

/*
 * The client name lookup of a new session.  Returns false when none is
 * made (smtpd_peername_lookup = no, or no resolver: then the names and
 * statuses are set at once).  Otherwise done(s) runs later from the
 * loop, once the session's name, reverse name and their statuses are
 * set; the session must not read commands until then.
 */
bool smtpd_peer_lookup_start(struct session *s,
    void (*done)(struct session *s));
/* The session ends: stop its name lookup (done will not run). */
void smtpd_peer_lookup_cancel(struct session *s);

#endif
