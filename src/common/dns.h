/* SPDX-License-Identifier: MIT */
/*
 * dns - DNS lookups with libunbound: asynchronous on a libevent loop
 * (smtpd) or blocking (the delivery agents), DNSSEC-validating when a
 * trust anchor is configured.
 *
 * One resolver per process (dns_resolver_new), made from the settings
 * below: the servers to ask (dns_resolvers: "" = those of
 * /etc/resolv.conf; else addresses, "IP" or "IP@port", separated by
 * blanks or commas; tests point it at a loopback server) and the trust
 * anchor file (dnssec_trust_anchor_file; "" = no validation, so that
 * no answer is ever "secure").  libunbound caches answers for their TTL;
 * nothing else here caches.  Every name is asked of those servers:
 * /etc/hosts is not read, and libunbound's built-in local zones
 * (localhost, test., RFC 1918 reverse zones, ...) are removed.
 *
 * Answers come back parsed into struct dns_result: a status that
 * separates "the name does not exist" and "no record of that type"
 * (both definite: permanent for the caller) from "could not find out"
 * (temporary: a caller must never read it as "not found"), the
 * records of the asked type with their TTL, and whether the answer was
 * validated by DNSSEC (secure: the AD bit of a validating resolver).
 * A CNAME chain is followed by libunbound; rdata that does not parse
 * makes the whole answer DNS_TEMPFAIL with words saying so (never a
 * partial list that could look complete).
 *
 * The rdata parsers (dns_rdata_parse) are separate from the resolver
 * and take untrusted bytes: bounded, and fed by the unit tests and a
 * fuzz target.  Nothing here logs except log_debug(2, ...).
 */
#ifndef OSTIA_DNS_H
#define OSTIA_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <netinet/in.h>
#include <sys/socket.h>

/* Query types. */
#define DNS_T_A		1
#define DNS_T_NS	2
#define DNS_T_PTR	12
#define DNS_T_MX	15
#define DNS_T_TXT	16
#define DNS_T_AAAA	28
#define DNS_T_TLSA	52

/* A domain name in text form, without the final dot, plus NUL. */
#define DNS_NAME_MAX 254
/* Most bytes of one TXT record (its strings joined) or TLSA data. */
#define DNS_RDATA_MAX 4096
/* Most records of one answer kept (more are dropped, and logged at
 * debug level; an MX list that long is an attack, not a mail setup). */
#define DNS_ANSWER_MAX 64

enum dns_status {
	DNS_OK = 0,		/* n >= 1 records of the type */
	DNS_NXDOMAIN,		/* the name does not exist */
	DNS_NODATA,		/* the name exists, no record of the type */
	DNS_TEMPFAIL,		/* servfail, timeout, no server answered,
				 * unparsable answer: try again later */
	DNS_BOGUS,		/* DNSSEC validation failed (an attack or
				 * a broken zone): never use the answer */
	DNS_INVALID,		/* the name asked for is not a valid
				 * domain name (nothing was sent) */
};

/* "ok", "no such domain", "no record", "temporary failure", ... */
const char *dns_status_name(enum dns_status st);

struct dns_rr {
	uint16_t type;		/* DNS_T_* */
	uint32_t ttl;
	union {
		struct {
			uint16_t pref;
			char host[DNS_NAME_MAX];  /* "" = null MX "." */
		} mx;
		char name[DNS_NAME_MAX];	/* PTR target, NS host */
		struct in_addr a;
		struct in6_addr aaaa;
		struct {
			char *text;	/* the strings joined, NUL-ended
					 * (may hold other NULs: len) */
			size_t len;
		} txt;
		struct {
			uint8_t usage, selector, mtype;
			unsigned char *data;
			size_t len;
		} tlsa;
	} u;
};

struct dns_result {
	enum dns_status status;
	bool secure;		/* validated by DNSSEC (AD) */
	char qname[DNS_NAME_MAX];
	uint16_t qtype;
	uint32_t ttl;		/* smallest TTL of the records, or the
				 * negative-caching TTL when known */
	char *error;		/* plain words for TEMPFAIL/BOGUS/INVALID:
				 * "the DNS server did not answer", "DNSSEC
				 * validation failed: ..."; NULL otherwise */
	struct dns_rr *rrs;	/* status DNS_OK: n >= 1 records */
	size_t n;
};

void dns_result_free(struct dns_result **rp);

/*
 * Parse one record's rdata of type qtype into *rr (zeroed first; TXT
 * and TLSA data allocated: dns_rr_deinit).  MX host names and PTR names
 * are decoded from wire form (uncompressed, as libunbound hands them),
 * made lowercase, without the final dot.  0, or -1 with *error_r
 * (static text) when the bytes are not a valid record of that type.
 */
int dns_rdata_parse(uint16_t qtype, const unsigned char *data, size_t len,
    struct dns_rr *rr, const char **error_r);
void dns_rr_deinit(struct dns_rr *rr);

/* ------------------------------------------------------------------ */
/* Names */

/* True if name is a syntactically valid host/domain name (letters,
 * digits, '-', '_' in labels of 1..63, total < DNS_NAME_MAX; one final
 * dot allowed). */
bool dns_name_valid(const char *name);

/* The PTR name of an address: "4.3.2.1.in-addr.arpa" or the nibble
 * form under ip6.arpa (an IPv4-mapped IPv6 address, ::ffff:1.2.3.4,
 * gives the IPv4 form).  0, or -1 for another family or when size is
 * too small. */
int dns_reverse_name(const struct sockaddr *sa, char *out, size_t size);

/* The DNSBL name of an address under zone: "4.3.2.1.zen.example" (IPv6
 * nibbles; zone's final dot dropped).  0, or -1 when it does not fit
 * (size, or DNS_NAME_MAX), the result is not a valid name
 * (dns_name_valid: a bad zone) or the family is not IP. */
int dns_rbl_name(const struct sockaddr *sa, const char *zone, char *out,
    size_t size);

/* ------------------------------------------------------------------ */
/* The resolver */

struct dns_settings {
	const char *resolvers;		/* "" / NULL: /etc/resolv.conf */
	const char *trust_anchor_file;	/* "" / NULL: no DNSSEC */
	unsigned timeout_ms;		/* per lookup, sync and async: a
					 * lookup past it is cancelled and
					 * is DNS_TEMPFAIL ("... did not
					 * answer within N seconds"); 0 =
					 * libunbound's own give-up (a
					 * SERVFAIL after its retries,
					 * some 15-20 s for a dead server) */
};

struct dns_resolver;
struct event_base;

/*
 * A resolver.  base may be NULL: then only dns_lookup_sync works.
 * Returns NULL with *error_r (new string, plain words: which file or
 * address was wrong) when the settings cannot be used.  libunbound's
 * worker is a thread of this process (no fork), so that the resolver
 * may be made after the privilege drop and in a chroot-less process
 * whose /etc/resolv.conf was read before.  Do not fork with a live
 * resolver (the thread does not follow).  The trust anchor file is
 * read here: a missing or malformed file is an error now, not at the
 * first lookup.
 */
struct dns_resolver *dns_resolver_new(struct event_base *base,
    const struct dns_settings *set, char **error_r);
/* Frees the resolver; queries still under way are dropped (their
 * callbacks never run, their handles are no longer valid). */
void dns_resolver_free(struct dns_resolver **rp);
/* True if the resolver validates (a trust anchor was loaded). */
bool dns_resolver_validates(const struct dns_resolver *r);

/*
 * Blocking lookup of name/qtype.  Always returns a result (caller
 * frees); never NULL.  Works with or without a base; with one, answers
 * to async queries that arrive meanwhile wait for the loop.
 */
struct dns_result *dns_lookup_sync(struct dns_resolver *r, const char *name,
    uint16_t qtype);

/*
 * Asynchronous lookup: cb is called once, from base's loop (never from
 * inside dns_lookup, even for an invalid name: that DNS_INVALID comes
 * from the loop too), with the result (owned by the callee after the
 * call: it must free it), unless the query is cancelled first.  cb may
 * start or cancel other queries.  Returns a handle for dns_cancel, or
 * NULL when the query could not even be started (then cb has not been
 * and will not be called; *error_r says why, static text).
 */
typedef void dns_callback(struct dns_result *res, void *ctx);
struct dns_query;
struct dns_query *dns_lookup(struct dns_resolver *r, const char *name,
    uint16_t qtype, dns_callback *cb, void *ctx, const char **error_r);
/* Cancel a query whose callback has not run; cb will not be called and
 * q is no longer valid. */
void dns_cancel(struct dns_query *q);

#endif
