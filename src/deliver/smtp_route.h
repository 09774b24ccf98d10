/* SPDX-License-Identifier: MIT */
/*
 * smtp_route - where the smtp agent sends a message: the next hop of a
 * request as Postfix writes it, the mail exchangers of a domain in the
 * order to try them, and the names a server certificate must match.
 *
 * Next hops ("smtp:NEXTHOP" in transport_maps, relayhost, the domain
 * the resolver chose):
 *
 *   domain           MX lookup of domain, port smtp_tcp_port
 *   domain:port      MX lookup of domain, that port
 *   [host]           host's addresses, no MX lookup
 *   [host]:port      the same, that port
 *   [IP] / [IP]:port an address literal ("[::1]:25" too)
 *   ipv6:...         (Postfix's "[ipv6:::1]" form is accepted as [::1])
 *
 * The port is digits or a service name (getservbyname, done by the
 * caller).  Pure functions: no DNS here (the agent asks and hands the
 * answers in), nothing logs.
 */
#ifndef OSTIA_SMTP_ROUTE_H
#define OSTIA_SMTP_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns.h"

/* Longest next hop text accepted. */
#define SMTP_NEXTHOP_MAX_BYTES 300
/* Longest port or service name. */
#define SMTP_PORT_MAX_BYTES 32

struct smtp_nexthop {
	char host[DNS_NAME_MAX + 8];	/* domain, host or IP literal text,
					 * lowercase, no brackets */
	char port[SMTP_PORT_MAX_BYTES];	/* digits or service name */
	bool no_mx;			/* [host]: no MX lookup */
	bool is_ip;			/* host is an IPv4/IPv6 literal */
};

/*
 * Parse text (a next hop, forms above) with default_port for the forms
 * without one.  0, or -1 with *error_r (static text, plain words) for an
 * empty text, a host that is neither a valid domain name nor an IP
 * literal, a bad port, or a text over SMTP_NEXTHOP_MAX_BYTES.
 */
int smtp_nexthop_parse(const char *text, const char *default_port,
    struct smtp_nexthop *nh, const char **error_r);

/* One mail exchanger to try. */
struct smtp_mx {
	char host[DNS_NAME_MAX];
	uint16_t pref;
};

/*
 * The MX records of an answer in the order to try them: by preference,
 * those of equal preference shuffled with rnd (a caller's random source:
 * rnd(n) in 0..n-1; NULL keeps the answer's order).  Records whose host
 * is empty (null MX) are left out.  Writes at most max entries to out
 * and returns how many; *null_mx_r is true when the answer is a null MX
 * (RFC 7505: a single record with host ".").
 */
size_t smtp_mx_order(const struct dns_rr *rrs, size_t n,
    unsigned (*rnd)(unsigned), struct smtp_mx *out, size_t max,
    bool *null_mx_r);

/*
 * The names a certificate must match at the verify and secure levels,
 * from a Postfix match list (smtp_tls_verify_cert_match,
 * smtp_tls_secure_cert_match, or a policy's match= with ':' between
 * names): "hostname" is host (the MX host or [host]), "nexthop" the next
 * hop domain, "dot-nexthop" ".nexthop" (any subdomain), other words are
 * taken as they are (lowercase).  Returns a new NULL-ended vector (free
 * with strv_free), duplicates removed.
 */
char **smtp_match_names(const char *list, const char *host,
    const char *nexthop);

/*
 * The fingerprints of the fingerprint level, from
 * smtp_tls_fingerprint_cert_match (space or ',' between them) or a
 * policy's match= ('|' between them: a fingerprint holds ':').
 * Returns a new NULL-ended vector (free with strv_free), lowercased,
 * duplicates removed; they are compared with tls_fprint_equal.
 */
char **smtp_match_fingerprints(const char *list);

#endif
