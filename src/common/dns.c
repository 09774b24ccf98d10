/* SPDX-License-Identifier: MIT */
/*
 * dns - DNS lookups with libunbound (see dns.h): the rdata parsers, the
 * name helpers, and the resolver, asynchronous on a libevent loop or
 * blocking.
 *
 * The resolver is a libunbound context in stub mode: it forwards every
 * query to the servers of dns_resolvers (or of /etc/resolv.conf),
 * validates with the trust anchors of dnssec_trust_anchor_file when set,
 * and keeps libunbound's cache.  libunbound's built-in local zones
 * (localhost, test., the RFC 1918 reverse zones, ...) are removed: every
 * name is asked of the configured servers, which are the authority on
 * what exists (an intranet's 10.in-addr.arpa, a test server's .test
 * zones).  /etc/hosts is not read: DNS only.
 *
 * Both paths use ub_resolve_async with libunbound's worker thread:
 *
 *   async  the context's result pipe (ub_fd) is watched by an event in
 *          the caller's loop, which runs ub_process; libunbound's
 *          callback only stores the parsed result in the query and
 *          activates the query's event, and that event calls the
 *          caller's callback.  So a caller's callback never runs inside
 *          ub_process and may start, cancel or free anything.
 *   sync   poll() on ub_fd until the answer came or the deadline
 *          passed, then ub_cancel; answers to async queries that arrive
 *          meanwhile wait in their events for the loop.
 *
 * libunbound has no per-query timeout: timeout_ms is enforced here, by
 * the query's timer (async) or poll's deadline (sync), and a query cut
 * short is cancelled with ub_cancel.  Without it (0), libunbound gives
 * up on its own (SERVFAIL after its retries: some 15-20 s for a dead
 * server).
 */
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <event2/event.h>
#include <unbound.h>

#include "compat.h"
#include "dns.h"
#include "log.h"
#include "xalloc.h"

/* DNS RCODEs (RFC 1035 4.1.1) that libunbound hands back. */
#define RCODE_NOERROR	0
#define RCODE_SERVFAIL	2
#define RCODE_NXDOMAIN	3
#define RCODE_REFUSED	5

#define CLASS_IN	1
#define LABEL_MAX	63

/* ------------------------------------------------------------------ */
/* Results */

const char *
dns_status_name(enum dns_status st)
{
	switch (st) {
	case DNS_OK:
		return "ok";
	case DNS_NXDOMAIN:
		return "no such domain";
	case DNS_NODATA:
		return "no record";
	case DNS_TEMPFAIL:
		return "temporary failure";
	case DNS_BOGUS:
		return "DNSSEC validation failure";
	case DNS_INVALID:
		return "invalid name";
	}
	return "unknown status";
}

void
dns_rr_deinit(struct dns_rr *rr)
{
	if (rr == NULL)
		return;
	if (rr->type == DNS_T_TXT)
		free(rr->u.txt.text);
	else if (rr->type == DNS_T_TLSA)
		free(rr->u.tlsa.data);
	memset(rr, 0, sizeof(*rr));
}

void
dns_result_free(struct dns_result **rp)
{
	struct dns_result *res = *rp;

	if (res == NULL)
		return;
	for (size_t i = 0; i < res->n; i++)
		dns_rr_deinit(&res->rrs[i]);
	free(res->rrs);
	free(res->error);
	free(res);
	*rp = NULL;
}

/*
 * result_new - a result for name/qtype with status st (the name copied
 * without its final dot, cut to fit) and no records.
 */
static struct dns_result *
result_new(const char *name, uint16_t qtype, enum dns_status st)
{
	struct dns_result *res = xcalloc(1, sizeof(*res));
	size_t len = strlen(name);

	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len >= sizeof(res->qname))
		len = sizeof(res->qname) - 1;
	memcpy(res->qname, name, len);
	res->qname[len] = '\0';
	res->qtype = qtype;
	res->status = st;
	return res;
}

/* result_error - a result with status st and the error text. */
static struct dns_result *
result_error(const char *name, uint16_t qtype, enum dns_status st,
    char *error)
{
	struct dns_result *res = result_new(name, qtype, st);

	res->error = error;
	return res;
}

/* ------------------------------------------------------------------ */
/* Names */

/* True for the bytes a host name label may hold: letters, digits, '-'
 * and '_' (service labels such as _25._tcp). */
static bool
name_byte_ok(unsigned char c)
{
	return isascii(c) && (isalnum(c) || c == '-' || c == '_');
}

bool
dns_name_valid(const char *name)
{
	size_t len, label = 0;

	if (name == NULL)
		return false;
	len = strlen(name);
	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len >= DNS_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (!name_byte_ok(c) || ++label > LABEL_MAX) {
			return false;
		}
	}
	return label > 0;
}

/*
 * wire_name - decode the uncompressed wire-form name at data[0..len)
 * into out (DNS_NAME_MAX bytes): labels joined with dots, lowercase, no
 * final dot; the root gives "".  *used_r is the number of bytes the
 * name took.  -1 with *error_r when the name is truncated, uses
 * compression, is too long, or has a byte that is not a letter, digit,
 * '-' or '_' (nothing odd may reach a log line or an SMTP command).
 */
static int
wire_name(const unsigned char *data, size_t len, char *out, size_t *used_r,
    const char **error_r)
{
	size_t pos = 0, o = 0;

	for (;;) {
		size_t l;

		if (pos >= len) {
			*error_r = "truncated domain name";
			return -1;
		}
		l = data[pos++];
		if (l == 0)
			break;
		if (l > LABEL_MAX) {
			*error_r = "compressed or invalid domain name label";
			return -1;
		}
		if (l > len - pos) {
			*error_r = "truncated domain name";
			return -1;
		}
		/* The label, a dot before it unless first, and the NUL. */
		if (o + (o > 0) + l >= DNS_NAME_MAX) {
			*error_r = "domain name too long";
			return -1;
		}
		if (o > 0)
			out[o++] = '.';
		for (size_t i = 0; i < l; i++) {
			unsigned char c = data[pos + i];

			if (!name_byte_ok(c)) {
				*error_r = "domain name with a byte that is "
				    "not a letter, digit, '-' or '_'";
				return -1;
			}
			out[o++] = (char)tolower(c);
		}
		pos += l;
	}
	out[o] = '\0';
	*used_r = pos;
	return 0;
}

/* hex digit of the low nibble of v */
static char
nibble(unsigned v)
{
	return "0123456789abcdef"[v & 0xf];
}

/*
 * reverse_labels - the address's reverse labels with a final dot
 * ("4.3.2.1." or 32 nibbles with dots) into out, and the reverse zone
 * ("in-addr.arpa" or "ip6.arpa") in *zone_r.  An IPv4-mapped IPv6
 * address (::ffff:1.2.3.4, as a dual-stack socket shows IPv4 clients)
 * is treated as the IPv4 address.  -1 for another family.
 */
static int
reverse_labels(const struct sockaddr *sa, char out[80], const char **zone_r)
{
	const unsigned char *b;
	size_t o = 0;

	if (sa == NULL)
		return -1;
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;

		b = s6->sin6_addr.s6_addr;
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			b += 12;
		} else {
			for (int i = 15; i >= 0; i--) {
				out[o++] = nibble(b[i]);
				out[o++] = '.';
				out[o++] = nibble(b[i] >> 4);
				out[o++] = '.';
			}
			out[o] = '\0';
			*zone_r = "ip6.arpa";
			return 0;
		}
	} else if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;

		b = (const unsigned char *)&s4->sin_addr.s_addr;
	} else {
		return -1;
	}
	snprintf(out, 80, "%u.%u.%u.%u.", b[3], b[2], b[1], b[0]);
	*zone_r = "in-addr.arpa";
	return 0;
}

int
dns_reverse_name(const struct sockaddr *sa, char *out, size_t size)
{
	char labels[80];
	const char *zone;
	int n;

	if (reverse_labels(sa, labels, &zone) < 0)
		return -1;
	n = snprintf(out, size, "%s%s", labels, zone);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

int
dns_rbl_name(const struct sockaddr *sa, const char *zone, char *out,
    size_t size)
{
	char labels[80];
	const char *rzone;
	size_t zlen;
	int n;

	if (zone == NULL || reverse_labels(sa, labels, &rzone) < 0)
		return -1;
	zlen = strlen(zone);
	if (zlen > 0 && zone[zlen - 1] == '.')
		zlen--;
	if (zlen == 0 || zlen >= DNS_NAME_MAX)
		return -1;
	n = snprintf(out, size, "%s%.*s", labels, (int)zlen, zone);
	if (n < 0 || (size_t)n >= size || !dns_name_valid(out))
		return -1;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Rdata */

static int
parse_mx(const unsigned char *data, size_t len, struct dns_rr *rr,
    const char **error_r)
{
	size_t used;

	if (len < 3) {
		*error_r = "MX record too short";
		return -1;
	}
	rr->u.mx.pref = (uint16_t)(data[0] << 8 | data[1]);
	if (wire_name(data + 2, len - 2, rr->u.mx.host, &used, error_r) < 0)
		return -1;
	if (used != len - 2) {
		*error_r = "MX record with bytes after the host name";
		return -1;
	}
	return 0;
}

static int
parse_ptr(const unsigned char *data, size_t len, struct dns_rr *rr,
    const char **error_r)
{
	size_t used;

	if (wire_name(data, len, rr->u.name, &used, error_r) < 0)
		return -1;
	if (used != len) {
		*error_r = "PTR or NS record with bytes after the name";
		return -1;
	}
	if (rr->u.name[0] == '\0') {
		*error_r = "PTR or NS record naming the root";
		return -1;
	}
	return 0;
}

/* TXT: one or more <length><bytes> strings (RFC 1035 3.3.14), joined. */
static int
parse_txt(const unsigned char *data, size_t len, struct dns_rr *rr,
    const char **error_r)
{
	size_t pos = 0, total = 0;

	if (len == 0) {
		*error_r = "empty TXT record";
		return -1;
	}
	while (pos < len) {
		size_t l = data[pos++];

		if (l > len - pos) {
			*error_r = "truncated TXT record string";
			return -1;
		}
		total += l;
		pos += l;
	}
	if (total > DNS_RDATA_MAX) {
		*error_r = "TXT record too long";
		return -1;
	}
	rr->u.txt.text = xmalloc(total + 1);
	rr->u.txt.len = total;
	for (pos = 0, total = 0; pos < len; ) {
		size_t l = data[pos++];

		memcpy(rr->u.txt.text + total, data + pos, l);
		total += l;
		pos += l;
	}
	rr->u.txt.text[total] = '\0';
	return 0;
}

/* TLSA: usage, selector, matching type, data (RFC 6698 2.1). */
static int
parse_tlsa(const unsigned char *data, size_t len, struct dns_rr *rr,
    const char **error_r)
{
	if (len < 4) {
		*error_r = "TLSA record too short";
		return -1;
	}
	if (len - 3 > DNS_RDATA_MAX) {
		*error_r = "TLSA record too long";
		return -1;
	}
	rr->u.tlsa.usage = data[0];
	rr->u.tlsa.selector = data[1];
	rr->u.tlsa.mtype = data[2];
	rr->u.tlsa.len = len - 3;
	rr->u.tlsa.data = xmalloc(len - 3);
	memcpy(rr->u.tlsa.data, data + 3, len - 3);
	return 0;
}

int
dns_rdata_parse(uint16_t qtype, const unsigned char *data, size_t len,
    struct dns_rr *rr, const char **error_r)
{
	int ret;

	memset(rr, 0, sizeof(*rr));
	rr->type = qtype;
	if (data == NULL && len > 0) {
		*error_r = "no record data";
		return -1;
	}
	switch (qtype) {
	case DNS_T_A:
		if (len != sizeof(rr->u.a)) {
			*error_r = "A record not of 4 bytes";
			return -1;
		}
		memcpy(&rr->u.a, data, len);
		return 0;
	case DNS_T_AAAA:
		if (len != sizeof(rr->u.aaaa)) {
			*error_r = "AAAA record not of 16 bytes";
			return -1;
		}
		memcpy(&rr->u.aaaa, data, len);
		return 0;
	case DNS_T_MX:
		ret = parse_mx(data, len, rr, error_r);
		break;
	case DNS_T_PTR:
	case DNS_T_NS:
		ret = parse_ptr(data, len, rr, error_r);
		break;
	case DNS_T_TXT:
		ret = parse_txt(data, len, rr, error_r);
		break;
	case DNS_T_TLSA:
		ret = parse_tlsa(data, len, rr, error_r);
		break;
	default:
		*error_r = "unsupported record type";
		ret = -1;
		break;
	}
	if (ret < 0)
		dns_rr_deinit(rr);
	return ret;
}

static bool
qtype_supported(uint16_t qtype)
{
	return qtype == DNS_T_A || qtype == DNS_T_AAAA || qtype == DNS_T_MX ||
	    qtype == DNS_T_PTR || qtype == DNS_T_NS || qtype == DNS_T_TXT ||
	    qtype == DNS_T_TLSA;
}

static const char *
qtype_name(uint16_t qtype)
{
	switch (qtype) {
	case DNS_T_A:
		return "A";
	case DNS_T_AAAA:
		return "AAAA";
	case DNS_T_MX:
		return "MX";
	case DNS_T_PTR:
		return "PTR";
	case DNS_T_NS:
		return "NS";
	case DNS_T_TXT:
		return "TXT";
	case DNS_T_TLSA:
		return "TLSA";
	}
	return "?";
}

/* ------------------------------------------------------------------ */
/* The resolver */

struct dns_resolver {
	struct ub_ctx *ctx;
	struct event_base *base;	/* NULL: sync only */
	struct event *ub_ev;		/* ub_fd readable -> ub_process */
	char *servers;			/* for messages: "server at
					 * 127.0.0.1@53", "servers of
					 * /etc/resolv.conf" */
	unsigned timeout_ms;
	bool validates;
	struct dns_query *queries;	/* async queries not delivered */
};

/*
 * An async query, from dns_lookup to its delivery or cancellation, in
 * the resolver's list.  ev is the query's timer while it waits, and is
 * made active to deliver res.  An orphan is a query whose ub_cancel
 * failed: no caller holds it; libunbound's callback (or the resolver's
 * end) frees it.
 */
struct dns_query {
	struct dns_resolver *r;
	struct dns_query *prev, *next;
	char name[DNS_NAME_MAX];
	uint16_t qtype;
	int async_id;
	bool answered;			/* ub callback ran or no query sent */
	bool orphan;
	struct dns_result *res;
	struct event *ev;
	dns_callback *cb;
	void *ctx;
};

/* A blocking query's state; heap-allocated for the same orphan case. */
struct sync_wait {
	struct dns_resolver *r;
	const char *name;
	uint16_t qtype;
	bool done;
	bool orphan;
	struct dns_result *res;
};

/* text_clean - s with bytes that are not printable ASCII made '?'. */
static char *
text_clean(char *s)
{
	for (char *p = s; *p != '\0'; p++)
		if (!isascii((unsigned char)*p) || !isprint((unsigned char)*p))
			*p = '?';
	return s;
}

/*
 * records_from_ub - the records of ub into res (status DNS_OK), at most
 * DNS_ANSWER_MAX; each with the answer's TTL.  -1 with *error_r when a
 * record does not parse (res has no records then).
 */
static int
records_from_ub(struct dns_result *res, const struct ub_result *ub,
    const char **error_r)
{
	size_t n = 0;

	while (ub->data[n] != NULL)
		n++;
	if (n > DNS_ANSWER_MAX) {
		log_debug(2, "dns: %s/%s: %zu records, keeping %d", res->qname,
		    qtype_name(res->qtype), n, DNS_ANSWER_MAX);
		n = DNS_ANSWER_MAX;
	}
	res->rrs = xcalloc(n, sizeof(*res->rrs));
	for (size_t i = 0; i < n; i++) {
		if (ub->len[i] < 0 || dns_rdata_parse(res->qtype,
		    (const unsigned char *)ub->data[i], (size_t)ub->len[i],
		    &res->rrs[i], error_r) < 0) {
			if (ub->len[i] < 0)
				*error_r = "negative record length";
			for (size_t j = 0; j < i; j++)
				dns_rr_deinit(&res->rrs[j]);
			free(res->rrs);
			res->rrs = NULL;
			return -1;
		}
		res->rrs[i].ttl = res->ttl;
	}
	res->n = n;
	return 0;
}

/*
 * result_from_ub - the dns_result of libunbound's answer for
 * name/qtype: err is libunbound's error (0 = ub is an answer).  ub is
 * not freed here.
 */
static struct dns_result *
result_from_ub(const struct dns_resolver *r, const char *name,
    uint16_t qtype, int err, const struct ub_result *ub)
{
	struct dns_result *res;
	const char *perr;

	if (err != 0 || ub == NULL)
		return result_error(name, qtype, DNS_TEMPFAIL,
		    xasprintf("DNS lookup failed: %s",
		    ub_strerror(err != 0 ? err : UB_NOMEM)));
	if (ub->bogus)
		return result_error(name, qtype, DNS_BOGUS, text_clean(
		    xasprintf("DNSSEC validation failed: %s",
		    ub->why_bogus != NULL ? ub->why_bogus :
		    "no reason given")));
	res = result_new(name, qtype, DNS_OK);
	res->secure = r->validates && ub->secure;
	res->ttl = ub->ttl > 0 ? (uint32_t)ub->ttl : 0;
	if (ub->rcode == RCODE_NXDOMAIN) {
		res->status = DNS_NXDOMAIN;
	} else if (ub->rcode == RCODE_NOERROR && !ub->havedata) {
		res->status = DNS_NODATA;
	} else if (ub->rcode == RCODE_NOERROR) {
		if (records_from_ub(res, ub, &perr) < 0) {
			res->status = DNS_TEMPFAIL;
			res->secure = false;
			res->error = xasprintf("malformed %s record in the "
			    "answer for %s: %s", qtype_name(qtype),
			    res->qname, perr);
		}
	} else {
		res->status = DNS_TEMPFAIL;
		res->secure = false;
		if (ub->rcode == RCODE_SERVFAIL)
			res->error = xasprintf("the DNS %s did not "
			    "answer (no reply, or SERVFAIL)", r->servers);
		else if (ub->rcode == RCODE_REFUSED)
			res->error = xasprintf("the DNS %s refused "
			    "the query", r->servers);
		else
			res->error = xasprintf("the DNS %s answered "
			    "with error code %d", r->servers, ub->rcode);
	}
	return res;
}

/* result_timeout - the TEMPFAIL of a query past timeout_ms. */
static struct dns_result *
result_timeout(const struct dns_resolver *r, const char *name,
    uint16_t qtype)
{
	return result_error(name, qtype, DNS_TEMPFAIL, xasprintf("the DNS "
	    "%s did not answer within %u.%03u seconds", r->servers,
	    r->timeout_ms / 1000, r->timeout_ms % 1000));
}

/*
 * check_query - a DNS_INVALID result when name/qtype cannot be asked,
 * else NULL.
 */
static struct dns_result *
check_query(const char *name, uint16_t qtype)
{
	if (!qtype_supported(qtype))
		return result_error(name != NULL ? name : "", qtype,
		    DNS_INVALID, xasprintf("query type %u is not supported",
		    qtype));
	if (!dns_name_valid(name))
		return result_error(name != NULL ? name : "", qtype,
		    DNS_INVALID, xstrdup("not a valid domain name"));
	return NULL;
}

/* ub_ready - the result pipe is readable: deliver libunbound's answers
 * to its callbacks (which only queue them). */
static void
ub_ready(evutil_socket_t fd, short what, void *arg)
{
	struct dns_resolver *r = arg;
	int err;

	(void)fd;
	(void)what;
	if ((err = ub_process(r->ctx)) != 0)
		log_debug(2, "dns: ub_process: %s", ub_strerror(err));
}

/*
 * set_servers - the forwarders from dns_resolvers (blanks or commas
 * between addresses), or those of /etc/resolv.conf when it is empty.
 * r->servers gets their description.  -1 with *error_r.
 */
static int
set_servers(struct dns_resolver *r, const char *list, char **error_r)
{
	char *copy, *p, *tok;
	const char *start;
	size_t n = 0;
	int err;

	if (list == NULL || list[strspn(list, " \t,")] == '\0') {
		if ((err = ub_ctx_resolvconf(r->ctx, NULL)) != 0) {
			*error_r = xasprintf("cannot use the DNS servers of "
			    "/etc/resolv.conf: %s%s%s", ub_strerror(err),
			    err == UB_READFILE ? ": " : "",
			    err == UB_READFILE ? strerror(errno) : "");
			return -1;
		}
		r->servers = xstrdup("servers of /etc/resolv.conf");
		return 0;
	}
	copy = p = xstrdup(list);
	while ((tok = strsep(&p, " \t,")) != NULL) {
		if (*tok == '\0')
			continue;
		if ((err = ub_ctx_set_fwd(r->ctx, tok)) != 0) {
			*error_r = text_clean(xasprintf("dns_resolvers: "
			    "\"%s\" is not an IP address (IP or IP@port): "
			    "%s", tok, ub_strerror(err)));
			free(copy);
			return -1;
		}
		n++;
	}
	free(copy);
	start = list + strspn(list, " \t,");
	r->servers = xasprintf("%s at %.*s", n > 1 ? "servers" : "server",
	    (int)strcspn(start, n > 1 ? "" : " \t,"), start);
	return 0;
}

/*
 * no_local_zones - remove libunbound's default local zones, so that
 * every name goes to the configured servers (see the file comment).
 * The context must be finalized (ub_ctx_zone_remove does that).
 */
static int
no_local_zones(struct ub_ctx *ctx)
{
	static const char *const zones[] = {
		"localhost.", "127.in-addr.arpa.",
		("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
		    "0.0.ip6.arpa."),
		"home.arpa.", "onion.", "test.", "invalid.", "resolver.arpa.",
		"service.arpa.",
	};
	int err;

	for (size_t i = 0; i < N_ELEMENTS(zones); i++)
		if ((err = ub_ctx_zone_remove(ctx, zones[i])) != 0)
			return err;
	return 0;
}

/*
 * set_trust_anchor - validate with the DS/DNSKEY records of file.
 * libunbound reads it when the context is finalized; it is opened here
 * first so that a missing file is named with the reason.
 */
static int
set_trust_anchor(struct dns_resolver *r, const char *file, char **error_r)
{
	FILE *f;
	int err;

	if ((f = fopen(file, "r")) == NULL) {
		*error_r = xasprintf("dnssec_trust_anchor_file: cannot read "
		    "%s: %s", file, strerror(errno));
		return -1;
	}
	fclose(f);
	if ((err = ub_ctx_add_ta_file(r->ctx, file)) != 0) {
		*error_r = xasprintf("dnssec_trust_anchor_file %s: %s", file,
		    ub_strerror(err));
		return -1;
	}
	r->validates = true;
	return 0;
}

struct dns_resolver *
dns_resolver_new(struct event_base *base, const struct dns_settings *set,
    char **error_r)
{
	struct dns_resolver *r = xcalloc(1, sizeof(*r));
	const char *ta = set->trust_anchor_file;
	int err;

	*error_r = NULL;
	r->base = base;
	r->timeout_ms = set->timeout_ms;
	if ((r->ctx = ub_ctx_create()) == NULL) {
		*error_r = xstrdup("cannot create the DNS resolver "
		    "(libunbound)");
		free(r);
		return NULL;
	}
	if (set_servers(r, set->resolvers, error_r) < 0)
		goto fail;
	if (ta != NULL && ta[0] != '\0' &&
	    set_trust_anchor(r, ta, error_r) < 0)
		goto fail;
	(void)ub_ctx_set_option(r->ctx, "unblock-lan-zones:", "yes");
	(void)ub_ctx_set_option(r->ctx, "insecure-lan-zones:", "yes");
	if ((err = ub_ctx_async(r->ctx, 1)) != 0 ||
	    (err = no_local_zones(r->ctx)) != 0) {
		if (r->validates)
			*error_r = xasprintf("cannot start the DNS resolver: "
			    "%s (is dnssec_trust_anchor_file %s a file of DS "
			    "or DNSKEY records?)", ub_strerror(err), ta);
		else
			*error_r = xasprintf("cannot start the DNS resolver: "
			    "%s", ub_strerror(err));
		goto fail;
	}
	if (base != NULL) {
		r->ub_ev = event_new(base, ub_fd(r->ctx), EV_READ | EV_PERSIST,
		    ub_ready, r);
		if (r->ub_ev == NULL || event_add(r->ub_ev, NULL) < 0) {
			*error_r = xstrdup("cannot watch the DNS resolver's "
			    "descriptor");
			goto fail;
		}
	}
	return r;
fail:
	dns_resolver_free(&r);
	return NULL;
}

static void
query_unlink(struct dns_query *q)
{
	struct dns_resolver *r = q->r;

	if (q->prev != NULL)
		q->prev->next = q->next;
	else if (r->queries == q)
		r->queries = q->next;
	if (q->next != NULL)
		q->next->prev = q->prev;
	q->prev = q->next = NULL;
}

/* query_free - free q and its result; it must be unlinked. */
static void
query_free(struct dns_query *q)
{
	if (q->ev != NULL)
		event_free(q->ev);
	dns_result_free(&q->res);
	free(q);
}

void
dns_resolver_free(struct dns_resolver **rp)
{
	struct dns_resolver *r = *rp;

	if (r == NULL)
		return;
	if (r->ub_ev != NULL)
		event_free(r->ub_ev);
	/* Stops libunbound's thread; no callback runs after this. */
	if (r->ctx != NULL)
		ub_ctx_delete(r->ctx);
	while (r->queries != NULL) {
		struct dns_query *q = r->queries;

		query_unlink(q);
		query_free(q);
	}
	free(r->servers);
	free(r);
	*rp = NULL;
}

bool
dns_resolver_validates(const struct dns_resolver *r)
{
	return r != NULL && r->validates;
}

/* ------------------------------------------------------------------ */
/* Blocking lookups */

/* sync_answer - libunbound's callback for dns_lookup_sync. */
static void
sync_answer(void *arg, int err, struct ub_result *ub)
{
	struct sync_wait *w = arg;

	if (w->orphan) {
		if (ub != NULL)
			ub_resolve_free(ub);
		free(w);
		return;
	}
	w->res = result_from_ub(w->r, w->name, w->qtype, err, ub);
	w->done = true;
	if (ub != NULL)
		ub_resolve_free(ub);
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * sync_wait_answer - run ub_process until w is done or the deadline (ms
 * of CLOCK_MONOTONIC; 0 = none) passed.  0 done, -1 timed out, or
 * *error_r when the pipe failed.
 */
static int
sync_wait_answer(struct dns_resolver *r, struct sync_wait *w,
    long long deadline, const char **error_r)
{
	struct pollfd pfd = { .fd = ub_fd(r->ctx), .events = POLLIN };

	*error_r = NULL;
	while (!w->done) {
		int wait = -1, n, err;

		if (deadline > 0) {
			long long left = deadline - now_ms();

			if (left <= 0)
				return -1;
			wait = left > 60000 ? 60000 : (int)left;
		}
		n = poll(&pfd, 1, wait);
		if (n < 0 && errno != EINTR) {
			*error_r = "poll on the resolver's descriptor failed";
			return -1;
		}
		if (n > 0 && (err = ub_process(r->ctx)) != 0) {
			*error_r = ub_strerror(err);
			return -1;
		}
	}
	return 0;
}

struct dns_result *
dns_lookup_sync(struct dns_resolver *r, const char *name, uint16_t qtype)
{
	struct dns_result *res;
	struct sync_wait *w;
	const char *perr;
	long long deadline = 0;
	int id, err;

	if ((res = check_query(name, qtype)) != NULL)
		return res;
	w = xcalloc(1, sizeof(*w));
	w->r = r;
	w->name = name;
	w->qtype = qtype;
	if (r->timeout_ms > 0)
		deadline = now_ms() + r->timeout_ms;
	if ((err = ub_resolve_async(r->ctx, name, qtype, CLASS_IN, w,
	    sync_answer, &id)) != 0) {
		free(w);
		return result_error(name, qtype, DNS_TEMPFAIL,
		    xasprintf("DNS lookup failed: %s", ub_strerror(err)));
	}
	if (sync_wait_answer(r, w, deadline, &perr) == 0) {
		res = w->res;
		free(w);
		return res;
	}
	if (ub_cancel(r->ctx, id) == 0)
		free(w);
	else
		w->orphan = true;
	if (perr != NULL)
		return result_error(name, qtype, DNS_TEMPFAIL,
		    xasprintf("DNS lookup failed: %s", perr));
	log_debug(2, "dns: %s/%s: no answer within %u ms", name,
	    qtype_name(qtype), r->timeout_ms);
	return result_timeout(r, name, qtype);
}

/* ------------------------------------------------------------------ */
/* Asynchronous lookups */

/* query_fire - q's event: deliver its result, or its timeout. */
static void
query_fire(evutil_socket_t fd, short what, void *arg)
{
	struct dns_query *q = arg;
	struct dns_result *res;
	dns_callback *cb = q->cb;
	void *ctx = q->ctx;

	(void)fd;
	(void)what;
	if (!q->answered) {
		/* The timer: give up on libunbound's answer. */
		if (ub_cancel(q->r->ctx, q->async_id) != 0) {
			/* Its callback will come and free q. */
			q->orphan = true;
			event_del(q->ev);
			res = result_timeout(q->r, q->name, q->qtype);
			cb(res, ctx);
			return;
		}
		q->res = result_timeout(q->r, q->name, q->qtype);
	}
	res = q->res;
	q->res = NULL;
	query_unlink(q);
	query_free(q);
	cb(res, ctx);
}

/* query_answer - libunbound's callback for dns_lookup (within
 * ub_process): keep the result, and deliver it from q's event. */
static void
query_answer(void *arg, int err, struct ub_result *ub)
{
	struct dns_query *q = arg;

	if (q->orphan) {
		if (ub != NULL)
			ub_resolve_free(ub);
		query_unlink(q);
		query_free(q);
		return;
	}
	q->res = result_from_ub(q->r, q->name, q->qtype, err, ub);
	q->answered = true;
	if (ub != NULL)
		ub_resolve_free(ub);
	event_del(q->ev);
	event_active(q->ev, EV_TIMEOUT, 0);
}

struct dns_query *
dns_lookup(struct dns_resolver *r, const char *name, uint16_t qtype,
    dns_callback *cb, void *ctx, const char **error_r)
{
	struct dns_query *q;
	int err;

	if (r->base == NULL) {
		*error_r = "the resolver has no event loop";
		return NULL;
	}
	q = xcalloc(1, sizeof(*q));
	q->r = r;
	q->qtype = qtype;
	q->cb = cb;
	q->ctx = ctx;
	snprintf(q->name, sizeof(q->name), "%s", name != NULL ? name : "");
	if ((q->ev = evtimer_new(r->base, query_fire, q)) == NULL) {
		free(q);
		*error_r = "cannot make an event for the DNS query";
		return NULL;
	}
	if ((q->res = check_query(name, qtype)) != NULL) {
		/* Nothing is sent; the answer comes from the loop. */
		q->answered = true;
		event_active(q->ev, EV_TIMEOUT, 0);
	} else if ((err = ub_resolve_async(r->ctx, name, qtype, CLASS_IN, q,
	    query_answer, &q->async_id)) != 0) {
		query_free(q);
		*error_r = ub_strerror(err);
		return NULL;
	} else if (r->timeout_ms > 0) {
		struct timeval tv = { r->timeout_ms / 1000,
		    (r->timeout_ms % 1000) * 1000 };

		evtimer_add(q->ev, &tv);
	}
	q->next = r->queries;
	if (q->next != NULL)
		q->next->prev = q;
	r->queries = q;
	return q;
}

void
dns_cancel(struct dns_query *q)
{
	if (q == NULL)
		return;
	if (!q->answered && ub_cancel(q->r->ctx, q->async_id) != 0) {
		/* libunbound's callback will come and free q. */
		event_del(q->ev);
		q->orphan = true;
		return;
	}
	query_unlink(q);
	query_free(q);
}
