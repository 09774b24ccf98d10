/* SPDX-License-Identifier: MIT */
/*
 * smtpd_dns - the SMTP server's resolver, bounded asynchronous lookups
 * and the client name lookup at connect (smtpd_dns.h says what they
 * do).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/event.h>

#include "config.h"
#include "dns.h"
#include "log.h"
#include "smtpd_dns.h"
#include "smtpd_session.h"
#include "xalloc.h"

/* PTR names tried for a forward match (a client with more is odd). */
#define PEER_PTR_MAX 4

static struct {
	struct dns_resolver *r;
	bool lookup_names;		/* smtpd_peername_lookup */
	bool init_done;
} sd;

void
smtpd_dns_init(const struct config_view *v)
{
	struct dns_settings set;
	char *err = NULL;

	sd.init_done = true;
	sd.lookup_names = config_bool(v, P_smtpd_peername_lookup);
	memset(&set, 0, sizeof(set));
	set.resolvers = config_str(v, P_dns_resolvers);
	set.trust_anchor_file = config_str(v, P_dnssec_trust_anchor_file);
	set.timeout_ms = SMTPD_DNS_RESOLVER_MS;
	sd.r = dns_resolver_new(smtpd_base, &set, &err);
	if (sd.r == NULL) {
		log_error("DNS resolver unavailable: %s (dns_resolvers = \"%s\"); "
		    "clients are \"unknown\" and every DNS-based restriction "
		    "gives a temporary failure", err != NULL ? err :
		    "unknown error", set.resolvers);
		free(err);
	}
}

const char *
smtpd_dns_error(const struct dns_result *res)
{
	if (res->error != NULL && res->error[0] != '\0')
		return res->error;
	return dns_status_name(res->status);
}

/* ---------------------------------------------------------------- */
/* Bounded, always asynchronous lookups                             */

struct smtpd_dns_req {
	struct dns_query *q;		/* under way in the resolver */
	struct event *ev;		/* deadline, or delivery from the loop */
	struct dns_result *res;		/* answer waiting for delivery */
	bool starting;			/* inside dns_lookup() */
	smtpd_dns_cb *cb;
	void *ctx;
};

static struct dns_result *
fail_result(const char *name, uint16_t qtype, const char *why)
{
	struct dns_result *res = xcalloc(1, sizeof(*res));

	res->status = DNS_TEMPFAIL;
	snprintf(res->qname, sizeof(res->qname), "%s", name);
	res->qtype = qtype;
	res->error = xstrdup(why);
	return res;
}

/* The answer goes to the caller: from the loop, never from inside
 * smtpd_dns_lookup(). */
static void
deliver(struct smtpd_dns_req *r)
{
	struct dns_result *res = r->res;
	smtpd_dns_cb *cb = r->cb;
	void *ctx = r->ctx;

	if (r->q != NULL)
		dns_cancel(r->q);
	if (r->ev != NULL)
		event_free(r->ev);
	free(r);
	cb(res, ctx);
}

static void
on_event(evutil_socket_t fd, short what, void *arg)
{
	struct smtpd_dns_req *r = arg;

	(void)fd;
	(void)what;
	if (r->res == NULL) {
		/* The deadline passed with no answer. */
		char why[96];

		snprintf(why, sizeof(why), "no answer from the DNS within %d "
		    "seconds", SMTPD_DNS_LOOKUP_MS / 1000);
		r->res = fail_result("", 0, why);
	}
	deliver(r);
}

/* Deliver r->res on the next turn of the loop. */
static void
deliver_later(struct smtpd_dns_req *r)
{
	if (r->ev != NULL)
		event_free(r->ev);
	r->ev = evtimer_new(smtpd_base, on_event, r);
	if (r->ev == NULL)
		log_fatal("smtpd: cannot make an event (out of memory)");
	event_active(r->ev, EV_TIMEOUT, 0);
}

static void
on_answer(struct dns_result *res, void *ctx)
{
	struct smtpd_dns_req *r = ctx;

	r->q = NULL;
	r->res = res;
	if (r->starting)
		deliver_later(r);
	else
		deliver(r);
}

struct smtpd_dns_req *
smtpd_dns_lookup(const char *name, uint16_t qtype, smtpd_dns_cb *cb,
    void *ctx)
{
	struct smtpd_dns_req *r = xcalloc(1, sizeof(*r));
	const char *err = NULL;
	struct dns_query *q;

	r->cb = cb;
	r->ctx = ctx;
	if (sd.r == NULL) {
		r->res = fail_result(name, qtype, "DNS resolver unavailable");
		deliver_later(r);
		return r;
	}
	r->starting = true;
	q = dns_lookup(sd.r, name, qtype, on_answer, r, &err);
	r->starting = false;
	if (r->res != NULL)
		return r;	/* answered at once: on its way */
	if (q == NULL) {
		r->res = fail_result(name, qtype, err != NULL ? err :
		    "the DNS query could not be started");
		deliver_later(r);
		return r;
	}
	r->q = q;
	{
		struct timeval tv = { SMTPD_DNS_LOOKUP_MS / 1000,
		    (SMTPD_DNS_LOOKUP_MS % 1000) * 1000 };

		r->ev = evtimer_new(smtpd_base, on_event, r);
		if (r->ev == NULL)
			log_fatal("smtpd: cannot make an event (out of memory)");
		evtimer_add(r->ev, &tv);
	}
	return r;
}

void
smtpd_dns_cancel(struct smtpd_dns_req **rp)
{
	struct smtpd_dns_req *r = *rp;

	if (r == NULL)
		return;
	*rp = NULL;
	if (r->q != NULL)
		dns_cancel(r->q);
	if (r->ev != NULL)
		event_free(r->ev);
	dns_result_free(&r->res);
	free(r);
}

/* ---------------------------------------------------------------- */
/* The client name                                                  */

struct smtpd_peer {
	struct session *s;
	void (*done)(struct session *s);
	struct smtpd_dns_req *req;
	struct event *timer;		/* SMTPD_PEER_LOOKUP_MS */
	struct sockaddr_storage ss;
	char ptr[PEER_PTR_MAX][DNS_NAME_MAX];
	size_t nptr, iptr;
	bool forward_temp;		/* a forward lookup failed */
	char temp_error[200];
	uint32_t ttl;			/* smallest TTL of the answers used */
};

/*
 * The outcome of recent client name lookups, per address, kept for the
 * smallest TTL of the answers that made it (at most
 * PEER_CACHE_MAX_SECONDS): a client that connects again does not cost
 * a round trip to the resolver's thread.  A temporary failure is never
 * kept.  Direct-mapped by a hash of the address; a newer outcome
 * replaces an older one in its slot.
 */
#define PEER_CACHE_SLOTS 64
#define PEER_CACHE_MAX_SECONDS 60
#define PEER_REASON_MAX (DNS_NAME_MAX + 300)

struct peer_cache_entry {
	char addr[INET6_ADDRSTRLEN];
	time_t expires;			/* CLOCK_MONOTONIC seconds */
	enum smtpd_name_status st, rst;
	char name[SMTPD_CLIENT_NAME_MAX];
	char rname[SMTPD_CLIENT_NAME_MAX];
	char reason[PEER_REASON_MAX];	/* "" when the name is known */
};

static struct peer_cache_entry peer_cache[PEER_CACHE_SLOTS];

static time_t
mono_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static struct peer_cache_entry *
peer_cache_slot(const char *addr)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (const char *c = addr; *c != '\0'; c++)
		h = (h ^ (unsigned char)*c) * 16777619u;
	return &peer_cache[h % PEER_CACHE_SLOTS];
}

static void
peer_cache_put(const struct session *s, uint32_t ttl)
{
	struct peer_cache_entry *e;

	if (ttl == 0 || s->name_status == SMTPD_NAME_TEMP ||
	    s->reverse_status == SMTPD_NAME_TEMP ||
	    strlen(s->addr) >= sizeof(e->addr))
		return;
	if (ttl > PEER_CACHE_MAX_SECONDS)
		ttl = PEER_CACHE_MAX_SECONDS;
	e = peer_cache_slot(s->addr);
	snprintf(e->addr, sizeof(e->addr), "%s", s->addr);
	e->expires = mono_seconds() + (time_t)ttl;
	e->st = s->name_status;
	e->rst = s->reverse_status;
	snprintf(e->name, sizeof(e->name), "%s", s->name);
	snprintf(e->rname, sizeof(e->rname), "%s", s->reverse_name);
	if (snprintf(e->reason, sizeof(e->reason), "%s", s->name_reason !=
	    NULL ? s->name_reason : "") >= (int)sizeof(e->reason))
		e->addr[0] = '\0';	/* too long to keep whole */
}

static const struct peer_cache_entry *
peer_cache_get(const char *addr)
{
	const struct peer_cache_entry *e = peer_cache_slot(addr);

	if (e->addr[0] == '\0' || strcmp(e->addr, addr) != 0 ||
	    mono_seconds() >= e->expires)
		return NULL;
	return e;
}

static void peer_next(struct smtpd_peer *p);

bool
smtpd_session_sockaddr(const struct session *s, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, s->addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, s->addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		return true;
	}
	return false;
}

static void
set_names(struct session *s, enum smtpd_name_status st,
    enum smtpd_name_status rst, const char *name, const char *rname,
    const char *reason)
{
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->reverse_name, sizeof(s->reverse_name), "%s", rname);
	s->name_status = st;
	s->reverse_status = rst;
	free(s->name_reason);
	s->name_reason = reason != NULL ? xstrdup(reason) : NULL;
}

/* The end of the lookup: names set (and why "unknown" logged). */
static void
peer_finish(struct smtpd_peer *p, enum smtpd_name_status st,
    enum smtpd_name_status rst, const char *name, const char *reason)
{
	struct session *s = p->s;
	void (*done)(struct session *) = p->done;

	set_names(s, st, rst, st == SMTPD_NAME_OK ? name : "unknown",
	    rst == SMTPD_NAME_OK ? p->ptr[0] : "unknown", reason);
	if (st != SMTPD_NAME_OK)
		log_info("client %s: name is unknown: %s", s->addr, reason);
	peer_cache_put(s, p->ttl);
	smtpd_dns_cancel(&p->req);
	if (p->timer != NULL)
		event_free(p->timer);
	free(p);
	s->peer = NULL;
	done(s);
}

static void
on_peer_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct smtpd_peer *p = arg;
	char why[128];

	(void)fd;
	(void)what;
	snprintf(why, sizeof(why), "temporary DNS failure: the name lookup "
	    "took longer than %d seconds", SMTPD_PEER_LOOKUP_MS / 1000);
	peer_finish(p, SMTPD_NAME_TEMP, p->nptr > 0 ? SMTPD_NAME_OK :
	    SMTPD_NAME_TEMP, NULL, why);
}

/* Does a forward answer hold the client's address? */
static bool
forward_matches(const struct smtpd_peer *p, const struct dns_result *res)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&p->ss;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&p->ss;

	for (size_t i = 0; i < res->n; i++) {
		const struct dns_rr *rr = &res->rrs[i];

		if (rr->type == DNS_T_A && p->ss.ss_family == AF_INET &&
		    rr->u.a.s_addr == sin->sin_addr.s_addr)
			return true;
		if (rr->type == DNS_T_AAAA && p->ss.ss_family == AF_INET6 &&
		    memcmp(&rr->u.aaaa, &sin6->sin6_addr,
		    sizeof(rr->u.aaaa)) == 0)
			return true;
	}
	return false;
}

static void
on_forward(struct dns_result *res, void *ctx)
{
	struct smtpd_peer *p = ctx;
	const char *name = p->ptr[p->iptr];

	p->req = NULL;
	if (res->ttl < p->ttl)
		p->ttl = res->ttl;
	if (res->status == DNS_OK && forward_matches(p, res)) {
		char ok[DNS_NAME_MAX];

		snprintf(ok, sizeof(ok), "%s", name);
		dns_result_free(&res);
		peer_finish(p, SMTPD_NAME_OK, SMTPD_NAME_OK, ok, NULL);
		return;
	}
	if (res->status != DNS_OK && res->status != DNS_NXDOMAIN &&
	    res->status != DNS_NODATA && !p->forward_temp) {
		p->forward_temp = true;
		/* Cut to the buffer: it is a log text. */
		if (snprintf(p->temp_error, sizeof(p->temp_error), "temporary "
		    "DNS failure looking up %s (%s): %s", name,
		    p->ss.ss_family == AF_INET ? "A" : "AAAA",
		    smtpd_dns_error(res)) >= (int)sizeof(p->temp_error))
			log_debug(2, "smtpd: DNS failure text cut");
	}
	dns_result_free(&res);
	p->iptr++;
	peer_next(p);
}

/* Forward-check the next PTR name, or finish. */
static void
peer_next(struct smtpd_peer *p)
{
	char why[DNS_NAME_MAX + 300];

	if (p->iptr < p->nptr) {
		p->req = smtpd_dns_lookup(p->ptr[p->iptr],
		    p->ss.ss_family == AF_INET ? DNS_T_A : DNS_T_AAAA,
		    on_forward, p);
		return;
	}
	if (p->forward_temp) {
		peer_finish(p, SMTPD_NAME_TEMP, SMTPD_NAME_OK, NULL,
		    p->temp_error);
		return;
	}
	snprintf(why, sizeof(why), "PTR name %s does not resolve back to the "
	    "address %s", p->ptr[0], p->s->addr);
	peer_finish(p, SMTPD_NAME_PERM, SMTPD_NAME_OK, NULL, why);
}

/* A PTR name that can be a host name (not an address, not junk). */
static bool
usable_ptr(const char *name)
{
	unsigned char buf[sizeof(struct in6_addr)];

	if (name[0] == '\0' || !dns_name_valid(name))
		return false;
	return inet_pton(AF_INET, name, buf) != 1 &&
	    inet_pton(AF_INET6, name, buf) != 1;
}

static void
on_ptr(struct dns_result *res, void *ctx)
{
	struct smtpd_peer *p = ctx;
	char why[DNS_NAME_MAX + 300];

	p->req = NULL;
	if (res->ttl < p->ttl)
		p->ttl = res->ttl;
	switch (res->status) {
	case DNS_OK:
		for (size_t i = 0; i < res->n && p->nptr < PEER_PTR_MAX; i++) {
			const char *n = res->rrs[i].u.name;

			if (res->rrs[i].type == DNS_T_PTR && usable_ptr(n))
				snprintf(p->ptr[p->nptr++], DNS_NAME_MAX,
				    "%s", n);
		}
		if (p->nptr == 0) {
			snprintf(why, sizeof(why), "the PTR record of %s is "
			    "not a valid host name", p->s->addr);
			dns_result_free(&res);
			peer_finish(p, SMTPD_NAME_PERM, SMTPD_NAME_PERM, NULL,
			    why);
			return;
		}
		dns_result_free(&res);
		peer_next(p);
		return;
	case DNS_NXDOMAIN:
	case DNS_NODATA:
		snprintf(why, sizeof(why), "no PTR record for %s", p->s->addr);
		dns_result_free(&res);
		peer_finish(p, SMTPD_NAME_PERM, SMTPD_NAME_PERM, NULL, why);
		return;
	default:
		snprintf(why, sizeof(why), "temporary DNS failure looking up "
		    "the PTR record of %s: %s", p->s->addr,
		    smtpd_dns_error(res));
		dns_result_free(&res);
		peer_finish(p, SMTPD_NAME_TEMP, SMTPD_NAME_TEMP, NULL, why);
		return;
	}
}

bool
smtpd_peer_lookup_start(struct session *s, void (*done)(struct session *s))
{
	struct smtpd_peer *p;
	char rname[DNS_NAME_MAX];
	struct timeval tv = { SMTPD_PEER_LOOKUP_MS / 1000,
	    (SMTPD_PEER_LOOKUP_MS % 1000) * 1000 };

	if (!sd.lookup_names) {
		set_names(s, SMTPD_NAME_PERM, SMTPD_NAME_PERM, "unknown",
		    "unknown", "smtpd_peername_lookup = no");
		return false;
	}
	if (sd.r == NULL) {
		set_names(s, SMTPD_NAME_TEMP, SMTPD_NAME_TEMP, "unknown",
		    "unknown", "DNS resolver unavailable");
		log_info("client %s: name is unknown: DNS resolver unavailable",
		    s->addr);
		return false;
	}
	{
		const struct peer_cache_entry *e = peer_cache_get(s->addr);

		if (e != NULL) {
			log_debug(1, "client %s: name %s (PTR name %s) from "
			    "the cache of recent lookups", s->addr, e->name,
			    e->rname);
			set_names(s, e->st, e->rst, e->name, e->rname,
			    e->reason[0] != '\0' ? e->reason : NULL);
			if (e->st != SMTPD_NAME_OK)
				log_info("client %s: name is unknown: %s",
				    s->addr, e->reason);
			return false;
		}
	}
	p = xcalloc(1, sizeof(*p));
	p->s = s;
	p->done = done;
	p->ttl = UINT32_MAX;
	if (!smtpd_session_sockaddr(s, &p->ss) ||
	    dns_reverse_name((struct sockaddr *)&p->ss, rname,
	    sizeof(rname)) < 0) {
		free(p);
		set_names(s, SMTPD_NAME_PERM, SMTPD_NAME_PERM, "unknown",
		    "unknown", "not an IP address");
		return false;
	}
	p->timer = evtimer_new(smtpd_base, on_peer_timeout, p);
	if (p->timer == NULL)
		log_fatal("smtpd: cannot make an event (out of memory)");
	evtimer_add(p->timer, &tv);
	s->peer = p;
	p->req = smtpd_dns_lookup(rname, DNS_T_PTR, on_ptr, p);
	return true;
}

void
smtpd_peer_lookup_cancel(struct session *s)
{
	struct smtpd_peer *p = s->peer;

	if (p == NULL)
		return;
	smtpd_dns_cancel(&p->req);
	if (p->timer != NULL)
		event_free(p->timer);
	free(p);
	s->peer = NULL;
}
