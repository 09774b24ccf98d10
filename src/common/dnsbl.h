/* SPDX-License-Identifier: MIT */
/*
 * dnsbl - DNS block and allow lists: reply filters and weighted sites.
 *
 * A DNSBL lists an IPv4 client a.b.c.d as an A record under
 * d.c.b.a.ZONE (dns_rbl_name builds the name); the address in the
 * answer (127.0.0.x) says why.  Two settings name lists:
 *
 *   reject_rbl_client ZONE[=FILTER]                 (restrictions)
 *   postscreen_dnsbl_sites ZONE[=FILTER][*WEIGHT]   (postscreen)
 *
 * FILTER is "d.d.d.d", where each d is a number 0..255, a range
 * "[a..b]", or a set "[a;b;c..d]" of numbers and ranges: a reply counts
 * only when one of its addresses matches.  Without a filter every reply
 * counts.  WEIGHT is an integer, negative for allow lists (dnswl); 1 by
 * default.  A client's score is the sum of the weights of the sites
 * that list it: a site named twice with different filters adds each
 * entry that matches, as Postfix does.
 *
 * Pure functions: no DNS, no I/O.
 */
#ifndef OSTIA_DNSBL_H
#define OSTIA_DNSBL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Most entries in postscreen_dnsbl_sites (more is a configuration
 * error: every entry is a DNS query per new client). */
#define DNSBL_SITES_MAX 64
/* Largest weight, either sign (a score sums at most DNSBL_SITES_MAX of
 * them, far from overflow). */
#define DNSBL_WEIGHT_MAX 100000

/*
 * Does the address a (host byte order) match filter?  1 yes, 0 no, -1
 * when the filter is malformed (then a is not looked at beyond the
 * point of the error).  dnsbl_filter_match(f, 0) >= 0 checks a filter.
 */
int dnsbl_filter_match(const char *filter, uint32_t a);

struct dnsbl_site {
	char *zone;	/* "zen.spamhaus.org": a valid DNS name */
	char *filter;	/* "127.0.0.[2..11]", or NULL: any reply */
	int weight;	/* non-zero */
};

/*
 * Parse one entry "ZONE[=FILTER][*WEIGHT]".  0 with *out filled (free
 * with dnsbl_site_deinit), or -1 with the reason in err (plain words,
 * naming the part that is wrong) and *out zeroed.
 */
int dnsbl_site_parse(const char *text, struct dnsbl_site *out, char *err,
    size_t errsz);
void dnsbl_site_deinit(struct dnsbl_site *site);

/*
 * Does the site list the client, given the addresses (host byte order)
 * of the A records its zone answered with?  n = 0 (NXDOMAIN, no
 * record) never lists.
 */
bool dnsbl_site_lists(const struct dnsbl_site *site, const uint32_t *addrs,
    size_t n);

/*
 * Is an A answer of a DNSBL an error rather than a listing?  RFC 5782
 * lists entries as 127.0.0.0/8 addresses, and the big lists answer
 * errors in 127.255.255.0/24 (Spamhaus: .252 a misspelled zone, .254 a
 * query through a public or shared resolver, .255 too many queries).
 * An address outside 127/8 is no DNSBL answer at all (a resolver that
 * rewrites "no such name" answers).  True, with the reason in words an
 * admin can act on in out, when one of the n addresses (host byte
 * order) is such an error: the answer says nothing about the client.
 */
bool dnsbl_answer_error(const char *zone, const uint32_t *addrs, size_t n,
    char *out, size_t outsz);

#endif
