/* SPDX-License-Identifier: MIT */
/*
 * agent_smtp - the smtp delivery agent: sends mail to other mail
 * servers (the MX hosts of a domain, a relayhost, a content filter such
 * as the seed's amavis at [127.0.0.1]:10024) with lmtp_client.c in SMTP
 * mode.
 *
 * Where to (smtp_route.h): the request's next hop, or the first
 * recipient's domain when it is empty.  "domain" and "domain:port" are
 * looked up as MX (preference order, equal ones shuffled; no MX record:
 * the domain's own addresses; null MX, RFC 7505: bounced 5.1.10;
 * NXDOMAIN: bounced 5.1.2; a DNS failure: deferred 4.4.3, never a
 * bounce); "[host]" and "[host]:port" skip the MX lookup.  Each host's
 * addresses (A and/or AAAA per inet_protocols), at most
 * smtp_mx_address_limit addresses in all, are tried in turn until one
 * takes the transaction: a connection that fails, a greeting or EHLO
 * refusal, or a TLS failure moves on to the next address; the last
 * failure is every recipient's result when none worked.  With
 * smtp_dns_support_level = disabled (or disable_dns_lookups = yes) host
 * names are resolved by the system (getaddrinfo) and no MX lookup is
 * made.
 *
 * TLS (tls_client.h): the level is smtp_tls_security_level, or the
 * entry of the next hop in smtp_tls_policy_maps ("LEVEL [match=a:b]
 * [protocols=...]" -- only the level and match= are used).  may: STARTTLS
 * when offered, any certificate; a failed handshake is retried once
 * without TLS on the same address.  encrypt: TLS required.  verify /
 * secure: the certificate must chain to smtp_tls_CAfile (or the system
 * store) and name one of smtp_tls_verify_cert_match /
 * smtp_tls_secure_cert_match (or match=).  dane / dane-only (RFC 7672):
 * with smtp_dns_support_level = dnssec and a validating resolver
 * (dnssec_trust_anchor_file), the TLSA records of _PORT._tcp.HOST,
 * when the answer is DNSSEC-secure, must match (usages 2 and 3); no
 * secure TLSA record: may (dane) or deferred (dane-only); a TLSA lookup
 * that fails or is bogus: this host is skipped (deferred if it was the
 * last).  Without DNSSEC support, dane is may and dane-only is encrypt,
 * with a warning.
 *
 * SASL (relay through a provider): with smtp_sasl_auth_enable, the
 * credentials "user:password" of smtp_sasl_password_maps for the next
 * hop as written ("[smtp.example.net]:587"), else its host; AUTH PLAIN
 * or LOGIN (the only mechanisms there are, both "plaintext" ones) are
 * used only where smtp_sasl_security_options (without TLS) or
 * smtp_sasl_tls_security_options (with TLS) lack noplaintext; when
 * neither allows them the mail is deferred with words that say which
 * setting to change.  A server that refuses the login (535) defers the
 * mail (4.7.8), as Postfix's default smtp_sasl_auth_soft_bounce = yes
 * does.  The password is never logged.
 *
 * Connection reuse: when smtp_connection_cache_on_demand is yes, or the
 * next hop is in smtp_connection_cache_destinations, the connection is
 * kept after a delivery (up to SMTP_AGENT_CACHE_MAX idle connections per
 * process, to as many next hops) and used again, after RSET, by a later
 * request to the same next hop with the same TLS policy; one idle for
 * smtp_connection_cache_time_limit is closed (QUIT) by the idle hook.
 *
 * One request at a time per process (agent.h): concurrency comes from
 * the number of smtp processes.  Runs as mail_owner.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "agent.h"
#include "agent_client.h"
#include "config.h"
#include "dns.h"
#include "lmtp_client.h"
#include "log.h"
#include "lookup_client.h"
#include "lookup_proto.h"
#include "smtp_route.h"
#include "strv.h"
#include "tls_client.h"
#include "tls_policy.h"
#include "xalloc.h"

#define SMTP_AGENT_RSET_TIMEOUT_S 20
/* QUIT is only politeness: never hold a process long. */
#define SMTP_AGENT_QUIT_TIMEOUT_S 5
/* Most MX hosts considered. */
#define SMTP_AGENT_MX_MAX 16
/* Most addresses tried per request whatever smtp_mx_address_limit. */
#define SMTP_AGENT_ADDR_MAX 32
/* Idle connections a process keeps (to as many next hops). */
#define SMTP_AGENT_CACHE_MAX 8
/* How a server is named in texts: "host[addr]:port". */
#define SMTP_PEER_MAX (DNS_NAME_MAX + INET6_ADDRSTRLEN + SMTP_PORT_MAX_BYTES + 8)

struct smtp_target {
	char host[DNS_NAME_MAX];	/* the name (or the IP literal) */
	char addr[INET6_ADDRSTRLEN];
	bool dnssec;			/* host found through secure DNS */
};

/* An idle connection kept for the next request to the same next hop. */
struct smtp_cached {
	struct lmtp_client *c;		/* NULL: free slot */
	char *key;			/* next hop, TLS level, match list */
	char peer[SMTP_PEER_MAX];
	time_t used;
};

struct smtp_agent {
	bool loaded;
	char *helo_name;
	char *tcp_port;
	struct lmtp_client_settings set;
	enum tls_client_level level;
	const struct config_view *view;
	bool tls_loaded;		/* load_tls() was called */
	struct tls_client_ctx *tls_ctx;
	char *tls_error;		/* why there is no TLS context */
	char *verify_match, *secure_match;
	char *policy_maps, *sasl_maps;
	bool sasl_enable, sasl_plain_ok, sasl_plain_tls_ok;
	bool dns_enabled, dnssec;
	struct dns_settings dns_set;
	char *dns_resolvers, *dns_anchor;
	struct dns_resolver *dns;
	char *dns_error;
	long long addr_limit;
	bool want4, want6;
	bool note_starttls;
	bool cache_on_demand;
	char **cache_dests;
	long long cache_time_limit;
	struct lookup_sync *ls;
	/* The connection of the request being delivered. */
	struct lmtp_client *conn;
	char conn_peer[SMTP_PEER_MAX];
	/* Idle connections kept for later requests. */
	struct smtp_cached cache[SMTP_AGENT_CACHE_MAX];
	bool atexit_done;
	/* relay= of the last request's log lines. */
	char relay[SMTP_PEER_MAX];
	bool peer_dsn;			/* that server offered DSN */
};

static struct smtp_agent smtp_agent;

/* has_option - is word in the list value of a *_security_options? */
static bool
has_option(const struct config_view *v, enum param_id id, const char *word)
{
	char **l = config_list(v, id);
	bool found = false;

	for (size_t i = 0; l[i] != NULL; i++)
		if (strcasecmp(l[i], word) == 0)
			found = true;
	strv_free(&l);
	return found;
}

/* cipher_list - the OpenSSL cipher list of a grade parameter, or NULL
 * with err. */
static char *
cipher_list(const struct config_view *v, enum param_id grade_id,
    bool mandatory, char *err, size_t errsz)
{
	const char *grade = config_str(v, grade_id);
	const char *gparam = tls_grade_param(grade);
	char *glist, *clist;
	char **excl;

	if (gparam == NULL) {
		snprintf(err, errsz, "unknown cipher grade \"%s\"", grade);
		return NULL;
	}
	glist = config_expand_name(v, gparam);
	excl = config_list(v, mandatory ? P_smtp_tls_mandatory_exclude_ciphers :
	    P_smtp_tls_exclude_ciphers);
	clist = tls_cipher_list(glist, excl, err, errsz);
	free(glist);
	strv_free(&excl);
	return clist;
}

/* load_tls - the TLS context of the service's settings, made when the
 * first connection wants TLS (a process that only sends plaintext
 * never pays for it). */
static void
load_tls(struct smtp_agent *st)
{
	const struct config_view *v = st->view;
	struct tls_client_config cfg;
	char err[TLS_POLICY_ERROR_MAX_BYTES];
	char *clist = NULL, *mlist = NULL, *cert = NULL, *key = NULL;

	memset(&cfg, 0, sizeof(cfg));
	clist = cipher_list(v, P_smtp_tls_ciphers, false, err, sizeof(err));
	if (clist != NULL)
		mlist = cipher_list(v, P_smtp_tls_mandatory_ciphers, true, err,
		    sizeof(err));
	if (clist == NULL || mlist == NULL) {
		st->tls_error = xasprintf("the TLS cipher settings cannot "
		    "be used: %s", err);
		goto out;
	}
	cert = xstrdup(config_str(v, P_smtp_tls_cert_file));
	key = xstrdup(config_str(v, P_smtp_tls_key_file));
	cfg.CAfile = config_str(v, P_smtp_tls_CAfile);
	cfg.CApath = config_str(v, P_smtp_tls_CApath);
	cfg.protocols = config_str(v, P_smtp_tls_protocols);
	cfg.mandatory_protocols = config_str(v, P_smtp_tls_mandatory_protocols);
	cfg.ciphers_list = clist;
	cfg.mandatory_ciphers_list = mlist;
	cfg.cert_file = cert;
	cfg.key_file = key;
	cfg.loglevel = (int)config_int(v, P_smtp_tls_loglevel);
	st->tls_ctx = tls_client_ctx_new(&cfg, &st->tls_error);
out:
	st->tls_loaded = true;
	if (st->tls_ctx == NULL)
		log_warning("smtp: %s; mail that needs TLS is deferred",
		    st->tls_error != NULL ? st->tls_error : "no TLS context");
	free(clist);
	free(mlist);
	free(cert);
	free(key);
}

/* load - the settings of the service's view, once. */
static void
load(struct agent_ctx *a)
{
	struct smtp_agent *st = &smtp_agent;
	struct lmtp_timeouts *t = &st->set.timeouts;
	const struct config_view *v = a->view;
	const char *name, *lev;
	char **protos;

	if (st->loaded)
		return;
	name = config_str(v, P_smtp_helo_name);
	st->helo_name = name[0] != '\0' ? xstrdup(name) :
	    config_default_myhostname();
	st->tcp_port = xstrdup(config_str(v, P_smtp_tcp_port));
	st->set.protocol = LMTP_PROTO_SMTP;
	st->set.lhlo_name = st->helo_name;
	st->set.default_port = st->tcp_port;
	t->connect_ms = agent_client_ms(config_time(v, P_smtp_connect_timeout));
	t->lhlo_ms = agent_client_ms(config_time(v, P_smtp_helo_timeout));
	t->mail_ms = agent_client_ms(config_time(v, P_smtp_mail_timeout));
	t->rcpt_ms = agent_client_ms(config_time(v, P_smtp_rcpt_timeout));
	t->data_init_ms = agent_client_ms(config_time(v,
	    P_smtp_data_init_timeout));
	t->data_xfer_ms = agent_client_ms(config_time(v,
	    P_smtp_data_xfer_timeout));
	t->data_done_ms = agent_client_ms(config_time(v,
	    P_smtp_data_done_timeout));
	t->starttls_ms = agent_client_ms(config_time(v, P_smtp_starttls_timeout));
	t->rset_ms = agent_client_ms(SMTP_AGENT_RSET_TIMEOUT_S);
	t->quit_ms = agent_client_ms(SMTP_AGENT_QUIT_TIMEOUT_S);
	st->set.bind_address = config_str(v, P_smtp_bind_address);

	lev = config_str(v, P_smtp_tls_security_level);
	if (tls_level_parse(lev, &st->level) < 0)
		st->level = TLS_LEV_NONE;	/* the schema checked it */
	if (st->level == TLS_LEV_NONE && (config_bool(v, P_smtp_enforce_tls) ||
	    config_bool(v, P_smtp_use_tls)))
		st->level = config_bool(v, P_smtp_enforce_tls) ?
		    TLS_LEV_ENCRYPT : TLS_LEV_MAY;
	st->verify_match = xstrdup(config_str(v, P_smtp_tls_verify_cert_match));
	st->secure_match = xstrdup(config_str(v, P_smtp_tls_secure_cert_match));
	st->policy_maps = xstrdup(config_str(v, P_smtp_tls_policy_maps));
	st->note_starttls = config_bool(v, P_smtp_tls_note_starttls_offer);
	st->view = v;

	st->sasl_enable = config_bool(v, P_smtp_sasl_auth_enable);
	st->sasl_maps = xstrdup(config_str(v, P_smtp_sasl_password_maps));
	st->sasl_plain_ok = !has_option(v, P_smtp_sasl_security_options,
	    "noplaintext");
	st->sasl_plain_tls_ok = !has_option(v,
	    P_smtp_sasl_tls_security_options, "noplaintext");

	st->dns_enabled = strcmp(config_str(v, P_smtp_dns_support_level),
	    "disabled") != 0 && !config_bool(v, P_disable_dns_lookups);
	st->dnssec = st->dns_enabled &&
	    strcmp(config_str(v, P_smtp_dns_support_level), "dnssec") == 0;
	st->dns_resolvers = xstrdup(config_str(v, P_dns_resolvers));
	st->dns_anchor = xstrdup(config_str(v, P_dnssec_trust_anchor_file));
	st->dns_set.resolvers = st->dns_resolvers;
	st->dns_set.trust_anchor_file = st->dnssec ? st->dns_anchor : "";
	st->dns_set.timeout_ms = t->connect_ms > 0 ? t->connect_ms : 30000;
	st->addr_limit = config_int(v, P_smtp_mx_address_limit);
	if (st->addr_limit <= 0 || st->addr_limit > SMTP_AGENT_ADDR_MAX)
		st->addr_limit = SMTP_AGENT_ADDR_MAX;
	protos = config_list(v, P_inet_protocols);
	for (size_t i = 0; protos[i] != NULL; i++) {
		if (strcasecmp(protos[i], "all") == 0)
			st->want4 = st->want6 = true;
		else if (strcasecmp(protos[i], "ipv4") == 0)
			st->want4 = true;
		else if (strcasecmp(protos[i], "ipv6") == 0)
			st->want6 = true;
	}
	strv_free(&protos);
	if (!st->want4 && !st->want6)
		st->want4 = st->want6 = true;

	st->cache_on_demand = config_bool(v,
	    P_smtp_connection_cache_on_demand);
	st->cache_dests = config_list(v, P_smtp_connection_cache_destinations);
	st->cache_time_limit = config_time(v,
	    P_smtp_connection_cache_time_limit);
	a->priv = st;
	st->loaded = true;
}

static void
cached_drop(struct smtp_cached *e)
{
	lmtp_client_quit(&e->c);
	free(e->key);
	e->key = NULL;
}

static void
smtp_agent_exit(void)
{
	lmtp_client_quit(&smtp_agent.conn);
	for (size_t i = 0; i < SMTP_AGENT_CACHE_MAX; i++)
		cached_drop(&smtp_agent.cache[i]);
}

/* cache_put - keep st->conn (to key) for later; the least recently used
 * entry makes room when all are taken. */
static void
cache_put(struct smtp_agent *st, const char *key)
{
	struct smtp_cached *e = &st->cache[0];

	for (size_t i = 0; i < SMTP_AGENT_CACHE_MAX; i++) {
		if (st->cache[i].c == NULL) {
			e = &st->cache[i];
			break;
		}
		if (st->cache[i].used < e->used)
			e = &st->cache[i];
	}
	cached_drop(e);
	e->c = st->conn;
	st->conn = NULL;
	e->key = xstrdup(key);
	(void)snprintf(e->peer, sizeof(e->peer), "%s", st->conn_peer);
	e->used = time(NULL);
	if (!st->atexit_done) {
		atexit(smtp_agent_exit);
		st->atexit_done = true;
	}
}

/* cache_take - the cached connection to key, moved to st->conn; false
 * when there is none that may still be used. */
static bool
cache_take(struct smtp_agent *st, const char *key)
{
	time_t now = time(NULL);

	for (size_t i = 0; i < SMTP_AGENT_CACHE_MAX; i++) {
		struct smtp_cached *e = &st->cache[i];

		if (e->c == NULL || strcmp(e->key, key) != 0)
			continue;
		if (!lmtp_client_is_open(e->c) ||
		    now - e->used > st->cache_time_limit) {
			cached_drop(e);
			return false;
		}
		st->conn = e->c;
		e->c = NULL;
		(void)snprintf(st->conn_peer, sizeof(st->conn_peer), "%s",
		    e->peer);
		free(e->key);
		e->key = NULL;
		return true;
	}
	return false;
}

/* smtp_idle - close cached connections idle longer than
 * smtp_connection_cache_time_limit; true while some are left. */
static bool
smtp_idle(struct agent_ctx *a)
{
	struct smtp_agent *st = &smtp_agent;
	time_t now = time(NULL);
	bool left = false;

	(void)a;
	for (size_t i = 0; i < SMTP_AGENT_CACHE_MAX; i++) {
		struct smtp_cached *e = &st->cache[i];

		if (e->c == NULL)
			continue;
		if (!lmtp_client_is_open(e->c) ||
		    now - e->used >= st->cache_time_limit)
			cached_drop(e);
		else
			left = true;
	}
	return left;
}

static int
smtp_setup(struct agent_ctx *a, uid_t *uid_r, gid_t *gid_r, char **error_r)
{
	/* No user change: the process stays mail_owner. */
	load(a);
	return 0;
}

static const char *
smtp_relay(struct agent_ctx *a, const struct deliver_req *req)
{
	return smtp_agent.relay[0] != '\0' ? smtp_agent.relay : "none";
}

/* lookup - the kept lookup connection (made on first use). */
static struct lookup_sync *
lookup(struct smtp_agent *st)
{
	if (st->ls == NULL)
		st->ls = lookup_sync_new(LOOKUP_SOCKET_PATH,
		    LOOKUP_CLIENT_TIMEOUT_MS);
	return st->ls;
}

/*
 * map_find - the value of the first of keys found in maps (an exact
 * lookup each).  DICT_FOUND with value, DICT_NOTFOUND, or DICT_TEMPFAIL
 * with err.
 */
static enum dict_status
map_find(struct smtp_agent *st, const char *maps, const char *const *keys,
    size_t nkeys, struct buf *value, char *err, size_t errsz)
{
	for (size_t i = 0; i < nkeys; i++) {
		enum dict_status ds;

		if (keys[i] == NULL || keys[i][0] == '\0')
			continue;
		ds = lookup_sync_find(lookup(st), maps, keys[i],
		    LOOKUP_FIND_EXACT, 0, NULL, 0, value, err, errsz);
		if (ds != DICT_NOTFOUND)
			return ds;
	}
	return DICT_NOTFOUND;
}

/* resolver - the DNS resolver, made on first use; NULL with
 * st->dns_error when it cannot be. */
static struct dns_resolver *
resolver(struct smtp_agent *st)
{
	if (st->dns == NULL && st->dns_error == NULL) {
		st->dns = dns_resolver_new(NULL, &st->dns_set, &st->dns_error);
		if (st->dns == NULL)
			log_error("smtp: no DNS resolver: %s", st->dns_error);
		else if (st->dnssec && !dns_resolver_validates(st->dns))
			log_warning("smtp: smtp_dns_support_level = dnssec "
			    "but no dnssec_trust_anchor_file is set: DNS "
			    "answers are not validated, so DANE is not used");
	}
	return st->dns;
}

static unsigned
rnd(unsigned n)
{
	uint32_t r = 0;

	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
		r = (uint32_t)rand();
	return n > 0 ? r % n : 0;
}

/* The outcome of finding where to connect. */
struct smtp_plan {
	struct smtp_target t[SMTP_AGENT_ADDR_MAX];
	size_t n;
	enum deliver_status st;		/* DELIVER_OK: targets found */
	char dsn[8];
	char *text;			/* why not (DEFER/BOUNCE) */
};

static void
plan_fail(struct smtp_plan *p, enum deliver_status st, const char *dsn,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
plan_fail(struct smtp_plan *p, enum deliver_status st, const char *dsn,
    const char *fmt, ...)
{
	va_list ap;

	if (p->text != NULL)
		return;		/* the first reason stands */
	p->st = st;
	(void)snprintf(p->dsn, sizeof(p->dsn), "%s", dsn);
	va_start(ap, fmt);
	p->text = xvasprintf(fmt, ap);
	va_end(ap);
}

/* add_target - one more address to try (duplicates ignored). */
static void
add_target(struct smtp_agent *st, struct smtp_plan *p, const char *host,
    const char *addr, bool dnssec)
{
	if (p->n >= (size_t)st->addr_limit || p->n >= SMTP_AGENT_ADDR_MAX)
		return;
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->t[i].addr, addr) == 0)
			return;
	(void)snprintf(p->t[p->n].host, sizeof(p->t[p->n].host), "%s", host);
	(void)snprintf(p->t[p->n].addr, sizeof(p->t[p->n].addr), "%s", addr);
	p->t[p->n].dnssec = dnssec;
	p->n++;
}

/*
 * host_addrs_dns - the A/AAAA addresses of host into p.  Returns the
 * worst DNS status met: DNS_OK when at least one address was added or
 * the name simply has none of one family; otherwise the status that
 * says why there is none.
 */
static enum dns_status
host_addrs_dns(struct smtp_agent *st, struct smtp_plan *p, const char *host,
    bool mx_secure, char **why_r)
{
	uint16_t types[2];
	size_t nt = 0, before = p->n;
	enum dns_status worst = DNS_NXDOMAIN;

	if (st->want4)
		types[nt++] = DNS_T_A;
	if (st->want6)
		types[nt++] = DNS_T_AAAA;
	for (size_t k = 0; k < nt; k++) {
		struct dns_result *r = dns_lookup_sync(st->dns, host, types[k]);

		if (r->status == DNS_OK) {
			for (size_t i = 0; i < r->n; i++) {
				char a[INET6_ADDRSTRLEN];

				if (r->rrs[i].type == DNS_T_A)
					inet_ntop(AF_INET, &r->rrs[i].u.a, a,
					    sizeof(a));
				else if (r->rrs[i].type == DNS_T_AAAA)
					inet_ntop(AF_INET6, &r->rrs[i].u.aaaa,
					    a, sizeof(a));
				else
					continue;
				add_target(st, p, host, a, mx_secure &&
				    r->secure);
			}
		} else if (r->status == DNS_TEMPFAIL ||
		    r->status == DNS_BOGUS) {
			free(*why_r);
			*why_r = xasprintf("%s lookup of %s failed: %s",
			    types[k] == DNS_T_A ? "A" : "AAAA", host,
			    r->error != NULL ? r->error :
			    dns_status_name(r->status));
			worst = r->status;
		} else if (worst == DNS_NXDOMAIN && r->status == DNS_NODATA) {
			worst = DNS_NODATA;
		}
		dns_result_free(&r);
	}
	return p->n > before ? DNS_OK : worst;
}

/* host_addrs_native - the addresses of host from the system
 * (getaddrinfo). */
static enum dns_status
host_addrs_native(struct smtp_agent *st, struct smtp_plan *p,
    const char *host, char **why_r)
{
	struct addrinfo hints, *res = NULL;
	size_t before = p->n;
	int e;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = st->want4 && st->want6 ? AF_UNSPEC : st->want4 ?
	    AF_INET : AF_INET6;
	hints.ai_socktype = SOCK_STREAM;
	e = getaddrinfo(host, NULL, &hints, &res);
	if (e != 0) {
		free(*why_r);
		*why_r = xasprintf("cannot find the address of %s: %s", host,
		    gai_strerror(e));
		return e == EAI_NONAME ? DNS_NXDOMAIN : DNS_TEMPFAIL;
	}
	for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		char a[INET6_ADDRSTRLEN];

		if (ai->ai_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)
			    (void *)ai->ai_addr)->sin_addr, a, sizeof(a));
		else if (ai->ai_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)
			    (void *)ai->ai_addr)->sin6_addr, a, sizeof(a));
		else
			continue;
		add_target(st, p, host, a, false);
	}
	freeaddrinfo(res);
	return p->n > before ? DNS_OK : DNS_NODATA;
}

/* plan_host - the addresses of one host name (no MX). */
static void
plan_host(struct smtp_agent *st, struct smtp_plan *p, const char *host)
{
	char *why = NULL;
	enum dns_status ds;

	if (!st->dns_enabled)
		ds = host_addrs_native(st, p, host, &why);
	else
		ds = host_addrs_dns(st, p, host, true, &why);
	if (ds == DNS_OK)
		p->st = DELIVER_OK;
	else if (ds == DNS_NXDOMAIN || ds == DNS_NODATA)
		plan_fail(p, DELIVER_BOUNCE, "5.1.2", "Host or domain name "
		    "not found: %s has no %s address", host,
		    st->want4 && st->want6 ? "IPv4 or IPv6" : st->want4 ?
		    "IPv4" : "IPv6");
	else
		plan_fail(p, DELIVER_DEFER, "4.4.3", "%s", why != NULL ? why :
		    "DNS lookup failed");
	free(why);
}

/* plan_mx - the MX hosts of domain and their addresses. */
static void
plan_mx(struct smtp_agent *st, struct smtp_plan *p, const char *domain)
{
	struct dns_result *r = dns_lookup_sync(st->dns, domain, DNS_T_MX);
	struct smtp_mx mx[SMTP_AGENT_MX_MAX];
	size_t n;
	bool null_mx;
	char *why = NULL;

	switch (r->status) {
	case DNS_OK:
		break;
	case DNS_NODATA:
		/* RFC 5321 5.1: no MX, the domain itself. */
		dns_result_free(&r);
		plan_host(st, p, domain);
		return;
	case DNS_NXDOMAIN:
		plan_fail(p, DELIVER_BOUNCE, "5.1.2", "Host or domain name not "
		    "found: the domain %s does not exist (DNS)", domain);
		dns_result_free(&r);
		return;
	case DNS_INVALID:
		plan_fail(p, DELIVER_BOUNCE, "5.1.2", "%s is not a valid "
		    "domain name", domain);
		dns_result_free(&r);
		return;
	default:
		plan_fail(p, DELIVER_DEFER, r->status == DNS_BOGUS ? "4.7.5" :
		    "4.4.3", "MX lookup of %s failed: %s", domain,
		    r->error != NULL ? r->error : dns_status_name(r->status));
		dns_result_free(&r);
		return;
	}
	n = smtp_mx_order(r->rrs, r->n, rnd, mx, SMTP_AGENT_MX_MAX, &null_mx);
	if (null_mx) {
		plan_fail(p, DELIVER_BOUNCE, "5.1.10", "the domain %s accepts "
		    "no mail: its MX record is the null MX \".\" (RFC 7505)",
		    domain);
		dns_result_free(&r);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		enum dns_status ds = host_addrs_dns(st, p, mx[i].host,
		    r->secure, &why);

		if (ds != DNS_OK && why == NULL)
			why = xasprintf("MX host %s has no address",
			    mx[i].host);
	}
	if (p->n > 0)
		p->st = DELIVER_OK;
	else
		plan_fail(p, DELIVER_DEFER, "4.4.3", "no MX host of %s could "
		    "be reached by address: %s", domain, why != NULL ? why :
		    "no addresses");
	free(why);
	dns_result_free(&r);
}

/* make_plan - every address to try for next hop nh. */
static void
make_plan(struct smtp_agent *st, struct smtp_plan *p,
    const struct smtp_nexthop *nh)
{
	memset(p, 0, sizeof(*p));
	p->st = DELIVER_DEFER;
	if (nh->is_ip) {
		add_target(st, p, nh->host, nh->host, false);
		p->st = DELIVER_OK;
		return;
	}
	if (st->dns_enabled && resolver(st) == NULL) {
		plan_fail(p, DELIVER_DEFER, "4.4.3", "no DNS resolver: %s",
		    st->dns_error != NULL ? st->dns_error : "unknown error");
		return;
	}
	if (nh->no_mx || !st->dns_enabled)
		plan_host(st, p, nh->host);
	else
		plan_mx(st, p, nh->host);
}

/* The TLS policy of one next hop (smtp_tls_policy_maps). */
struct hop_policy {
	enum tls_client_level level;
	char *match;		/* match= list, or NULL */
};

/*
 * hop_policy - the policy of next hop text (as written) / nh.  0, or -1
 * with *why_r (a lookup failure: defer).
 */
static int
hop_policy(struct smtp_agent *st, const char *text,
    const struct smtp_nexthop *nh, struct hop_policy *hp, char **why_r)
{
	struct buf value;
	char err[DICT_ERR_MAX_BYTES];
	const char *keys[2] = { text, nh->host };
	enum dict_status ds;
	int ret = 0;

	hp->level = st->level;
	hp->match = NULL;
	if (st->policy_maps[0] == '\0')
		return 0;
	buf_init(&value, DICT_VALUE_MAX_BYTES);
	ds = map_find(st, st->policy_maps, keys, strcmp(text, nh->host) == 0 ?
	    1 : 2, &value, err, sizeof(err));
	if (ds == DICT_TEMPFAIL) {
		*why_r = xasprintf("smtp_tls_policy_maps lookup of %s failed: "
		    "%s", text, err);
		ret = -1;
	} else if (ds == DICT_FOUND) {
		char **w = config_split_list(buf_cstr(&value));

		if (w[0] == NULL || tls_level_parse(w[0], &hp->level) < 0) {
			*why_r = xasprintf("smtp_tls_policy_maps: the entry "
			    "for %s does not start with a TLS level (none, "
			    "may, encrypt, dane, dane-only, verify, secure)",
			    text);
			ret = -1;
		}
		for (size_t i = 1; ret == 0 && w[i] != NULL; i++)
			if (strncasecmp(w[i], "match=", 6) == 0) {
				free(hp->match);
				hp->match = xstrdup(w[i] + 6);
			}
		strv_free(&w);
	}
	buf_deinit(&value);
	return ret;
}

/* The credentials for a next hop. */
struct hop_auth {
	char *user, *pass;	/* NULL: no AUTH */
};

static void
hop_auth_clear(struct hop_auth *ha)
{
	if (ha->pass != NULL)
		explicit_bzero(ha->pass, strlen(ha->pass));
	free(ha->user);
	free(ha->pass);
	ha->user = ha->pass = NULL;
}

/* hop_auth - the credentials of next hop text / nh.  0, or -1 with
 * *why_r (defer). */
static int
hop_auth(struct smtp_agent *st, const char *text,
    const struct smtp_nexthop *nh, struct hop_auth *ha, char **why_r)
{
	struct buf value;
	char err[DICT_ERR_MAX_BYTES];
	const char *keys[2] = { text, nh->host };
	enum dict_status ds;
	const char *v, *colon;
	int ret = 0;

	memset(ha, 0, sizeof(*ha));
	if (!st->sasl_enable || st->sasl_maps[0] == '\0')
		return 0;
	buf_init(&value, DICT_VALUE_MAX_BYTES);
	buf_set_sensitive(&value);
	ds = map_find(st, st->sasl_maps, keys, strcmp(text, nh->host) == 0 ?
	    1 : 2, &value, err, sizeof(err));
	if (ds == DICT_TEMPFAIL) {
		*why_r = xasprintf("smtp_sasl_password_maps lookup of %s "
		    "failed: %s", text, err);
		ret = -1;
	} else if (ds == DICT_FOUND) {
		v = buf_cstr(&value);
		colon = strchr(v, ':');
		if (colon == NULL || colon == v) {
			*why_r = xasprintf("smtp_sasl_password_maps: the entry "
			    "for %s is not \"user:password\"", text);
			ret = -1;
		} else if (!st->sasl_plain_ok && !st->sasl_plain_tls_ok) {
			*why_r = xasprintf("cannot authenticate to %s: Ostia "
			    "has only the PLAIN and LOGIN mechanisms, and "
			    "smtp_sasl_security_options and smtp_sasl_tls_"
			    "security_options both forbid them "
			    "(noplaintext); set smtp_sasl_tls_security_options"
			    " = noanonymous to allow them over TLS", text);
			ret = -1;
		} else {
			ha->user = xstrndup(v, (size_t)(colon - v));
			ha->pass = xstrdup(colon + 1);
		}
	}
	buf_deinit(&value);
	return ret;
}

/*
 * target_tls - the TLS policy for one target.  Fills *pol (whose match
 * vector and TLSA result are owned by the caller through *names_r /
 * *tlsa_r).  0, or -1 with *why_r when this target cannot be used
 * (TLSA lookup failure; dane-only without records).
 */
static int
target_tls(struct smtp_agent *st, const struct hop_policy *hp,
    const struct smtp_nexthop *nh, const struct smtp_target *tg,
    struct tls_client_policy *pol, char ***names_r,
    struct dns_result **tlsa_r, char **why_r)
{
	enum tls_client_level lev = hp->level;

	memset(pol, 0, sizeof(*pol));
	*names_r = NULL;
	*tlsa_r = NULL;
	if (lev == TLS_LEV_DANE || lev == TLS_LEV_DANE_ONLY) {
		bool usable = st->dnssec && st->dns != NULL &&
		    dns_resolver_validates(st->dns) && !nh->is_ip;

		if (!usable) {
			lev = lev == TLS_LEV_DANE ? TLS_LEV_MAY :
			    TLS_LEV_ENCRYPT;
		} else if (!tg->dnssec) {
			/* The host was not found through secure DNS: no
			 * DANE for it (RFC 7672 2.2.2). */
			if (lev == TLS_LEV_DANE_ONLY) {
				*why_r = xasprintf("dane-only: the address of "
				    "%s was not found through DNSSEC-secure "
				    "DNS, so its TLSA records cannot be used",
				    tg->host);
				return -1;
			}
			lev = TLS_LEV_MAY;
		} else {
			char qname[DNS_NAME_MAX + SMTP_PORT_MAX_BYTES + 8];
			struct dns_result *r;
			const char *port = nh->port;
			struct servent *se = NULL;
			char pbuf[8];

			if (port[0] < '0' || port[0] > '9') {
				se = getservbyname(port, "tcp");
				(void)snprintf(pbuf, sizeof(pbuf), "%u",
				    se != NULL ? (unsigned)ntohs((uint16_t)
				    se->s_port) : 25u);
				port = pbuf;
			}
			(void)snprintf(qname, sizeof(qname), "_%s._tcp.%s",
			    port, tg->host);
			r = dns_lookup_sync(st->dns, qname, DNS_T_TLSA);
			if (r->status == DNS_TEMPFAIL ||
			    r->status == DNS_BOGUS) {
				*why_r = xasprintf("TLSA lookup of %s failed: "
				    "%s", qname, r->error != NULL ? r->error :
				    dns_status_name(r->status));
				dns_result_free(&r);
				return -1;
			}
			if (r->status == DNS_OK && r->secure) {
				pol->tlsa = r->rrs;
				pol->ntlsa = r->n;
				pol->dane_base = tg->host;
				*tlsa_r = r;
			} else {
				dns_result_free(&r);
				if (lev == TLS_LEV_DANE_ONLY) {
					*why_r = xasprintf("dane-only: %s has "
					    "no DNSSEC-secure TLSA record",
					    qname);
					return -1;
				}
				lev = TLS_LEV_MAY;
			}
		}
	}
	pol->level = lev;
	if (lev == TLS_LEV_VERIFY || lev == TLS_LEV_SECURE) {
		const char *list = hp->match != NULL ? hp->match :
		    lev == TLS_LEV_VERIFY ? st->verify_match :
		    st->secure_match;

		*names_r = smtp_match_names(list, tg->host, nh->host);
		pol->match = (const char *const *)*names_r;
		for (size_t i = 0; (*names_r)[i] != NULL; i++)
			pol->nmatch++;
	}
	if (lev >= TLS_LEV_DANE && !nh->is_ip)
		pol->sni = tg->host;
	return 0;
}

/* log_tls - the "TLS connection established" line. */
static void
log_tls(const char *peer, const struct lmtp_client *c)
{
	const struct tls_client_info *ti = lmtp_client_tls(c);

	if (ti == NULL || !ti->active)
		return;
	log_info("%s TLS connection established to %s: %s with cipher %s "
	    "(%d/%d bits)", ti->trust, peer, ti->protocol, ti->cipher,
	    ti->bits, ti->alg_bits);
}

/* cache_wanted - keep the connection to next hop text after use? */
static bool
cache_wanted(const struct smtp_agent *st, const char *text,
    const struct smtp_nexthop *nh)
{
	if (st->cache_on_demand)
		return true;
	for (size_t i = 0; st->cache_dests[i] != NULL; i++)
		if (strcasecmp(st->cache_dests[i], text) == 0 ||
		    strcasecmp(st->cache_dests[i], nh->host) == 0)
			return true;
	return false;
}

/*
 * try_target - connect to one target and send the transaction.  Returns
 * 1 when the transaction was tried (results are in t / *f), 0 when this
 * target failed before it (*f holds why; try the next).
 */
static int
try_target(struct smtp_agent *st, const struct smtp_nexthop *nh,
    const struct hop_policy *hp, const struct hop_auth *ha,
    const struct smtp_target *tg, struct agent_txn *t,
    struct lmtp_failure *f, char *peer, size_t peersz)
{
	struct lmtp_client_settings set = st->set;
	struct tls_client_policy pol;
	struct dns_result *tlsa = NULL;
	char **names = NULL;
	char dest[INET6_ADDRSTRLEN + SMTP_PORT_MAX_BYTES + 4];
	char *why = NULL;
	bool plaintext_retry = false;
	struct lmtp_client *c;

	/* Postfix's form, also for an address next hop: "IP[IP]:port". */
	(void)snprintf(peer, peersz, "%s[%s]:%s", tg->host, tg->addr,
	    nh->port);
	(void)snprintf(dest, sizeof(dest), "[%s]:%s", tg->addr, nh->port);
	if (target_tls(st, hp, nh, tg, &pol, &names, &tlsa, &why) < 0) {
		lmtp_failure_deinit(f);
		f->kind = LMTP_FAIL_TLS;
		f->stage = LMTP_STAGE_CONNECT;
		f->text = xasprintf("%s: %s", peer, why);
		(void)snprintf(f->dsn, sizeof(f->dsn), "4.7.5");
		free(why);
		return 0;
	}
	if (pol.level != TLS_LEV_NONE && !st->tls_loaded)
		load_tls(st);
	if (pol.level != TLS_LEV_NONE && st->tls_ctx == NULL) {
		lmtp_failure_deinit(f);
		f->kind = LMTP_FAIL_TLS;
		f->stage = LMTP_STAGE_CONNECT;
		f->text = xasprintf("TLS to %s is wanted (%s) but cannot be "
		    "set up: %s", peer, tls_level_name(pol.level),
		    st->tls_error != NULL ? st->tls_error : "no context");
		(void)snprintf(f->dsn, sizeof(f->dsn), "4.7.5");
		goto out_fail;
	}
	set.peer_name = peer;
	set.tls_ctx = st->tls_ctx;
	set.tls = pol.level != TLS_LEV_NONE ? &pol : NULL;
	if (ha->user != NULL) {
		set.auth_user = ha->user;
		set.auth_pass = ha->pass;
		set.auth_plaintext_ok = st->sasl_plain_ok;
	}
again:
	lmtp_failure_deinit(f);
	c = lmtp_client_connect(dest, &set, f);
	if (c == NULL && f->kind == LMTP_FAIL_TLS && pol.level ==
	    TLS_LEV_MAY && !plaintext_retry) {
		log_info("%s: %s; trying again without TLS (opportunistic "
		    "TLS, smtp_tls_security_level = may)", peer,
		    f->text != NULL ? f->text : "TLS failed");
		set.tls = NULL;
		plaintext_retry = true;
		goto again;
	}
	if (c == NULL)
		goto out_fail;
	log_tls(peer, c);
	st->peer_dsn = lmtp_client_caps(c)->dsn;
	if (pol.level == TLS_LEV_NONE && st->note_starttls &&
	    lmtp_client_caps(c)->starttls)
		log_info("Host offered STARTTLS: [%s]", tg->host);
	(void)snprintf(st->relay, sizeof(st->relay), "%s", peer);
	(void)lmtp_client_send(c, &t->mail, t->rc, t->n, f);
	if (lmtp_client_is_open(c)) {
		st->conn = c;
		(void)snprintf(st->conn_peer, sizeof(st->conn_peer), "%s", peer);
	} else {
		lmtp_client_free(&c);
	}
	strv_free(&names);
	dns_result_free(&tlsa);
	return 1;
out_fail:
	strv_free(&names);
	dns_result_free(&tlsa);
	return 0;
}

/* reuse - send t on a cached connection for key, when there is one.
 * 1: tried (results in t / *f); 0: no usable connection. */
static int
reuse(struct smtp_agent *st, const char *key, struct agent_txn *t,
    struct lmtp_failure *f)
{
	if (!cache_take(st, key))
		return 0;
	if (lmtp_client_reset(st->conn, f) < 0) {
		log_debug(1, "smtp %s: not reusing the connection: %s",
		    st->conn_peer, f->text);
		lmtp_failure_deinit(f);
		lmtp_client_free(&st->conn);
		return 0;
	}
	(void)snprintf(st->relay, sizeof(st->relay), "%s", st->conn_peer);
	st->peer_dsn = lmtp_client_caps(st->conn)->dsn;
	(void)lmtp_client_send(st->conn, &t->mail, t->rc, t->n, f);
	if (!lmtp_client_is_open(st->conn))
		lmtp_client_free(&st->conn);
	return 1;
}

/* first_domain - the domain of the first recipient (the next hop when
 * the request has none). */
static const char *
first_domain(const struct deliver_req *req)
{
	const char *at = req->nrcpts > 0 ? strrchr(req->rcpts[0].address,
	    '@') : NULL;

	return at != NULL ? at + 1 : "";
}

static void
smtp_deliver(struct agent_ctx *a, const struct deliver_req *req,
    const struct deliver_msg *msg, struct agent_results *res)
{
	struct smtp_agent *st = &smtp_agent;
	struct lmtp_failure f = { 0 };
	struct agent_txn t;
	struct smtp_nexthop nh;
	struct smtp_plan plan;
	struct hop_policy hp = { 0 };
	struct hop_auth ha = { 0 };
	const char *text = req->nexthop != NULL && req->nexthop[0] != '\0' ?
	    req->nexthop : first_domain(req);
	const char *err = NULL;
	char *why = NULL, *key = NULL, *server;
	char peer[SMTP_PEER_MAX];
	int tried = 0;

	load(a);
	st->relay[0] = '\0';
	memset(&plan, 0, sizeof(plan));
	agent_txn_init(&t, req, msg, res, "SMTP");
	if (t.n == 0)
		goto out;
	if (smtp_nexthop_parse(text, st->tcp_port, &nh, &err) < 0) {
		agent_set_all(res, DELIVER_DEFER, "4.3.5", NULL, "bad next hop "
		    "\"%s\" of transport %s: %s", text, req->transport, err);
		goto out;
	}
	if (hop_policy(st, text, &nh, &hp, &why) < 0 ||
	    hop_auth(st, text, &nh, &ha, &why) < 0) {
		agent_set_all(res, DELIVER_DEFER, "4.3.0", NULL, "%s", why);
		goto out;
	}
	key = xasprintf("%s|%s|%s", text, tls_level_name(hp.level),
	    hp.match != NULL ? hp.match : "");
	tried = reuse(st, key, &t, &f);
	if (!tried) {
		make_plan(st, &plan, &nh);
		if (plan.st != DELIVER_OK) {
			agent_set_all(res, plan.st, plan.dsn, NULL, "%s",
			    plan.text);
			goto out;
		}
		for (size_t i = 0; i < plan.n && !tried; i++) {
			tried = try_target(st, &nh, &hp, &ha, &plan.t[i], &t,
			    &f, peer, sizeof(peer));
			if (!tried)
				log_info("%s: %s%s", req->queue_id, f.text !=
				    NULL ? f.text : "delivery failed",
				    i + 1 < plan.n ? "; trying the next "
				    "address" : "");
		}
	}
	if (!tried && f.kind == LMTP_FAIL_AUTH) {
		/* A refused login is the setup's problem (password, account),
		 * not the message's: retry later, as Postfix does with its
		 * default smtp_sasl_auth_soft_bounce = yes. */
		char *r = f.reply.nlines > 0 ? lmtp_reply_text(&f.reply,
		    DELIVER_FIELD_MAX - 8) : NULL;
		char *remote = r != NULL ? xasprintf("smtp; %s", r) : NULL;

		agent_set_all(res, DELIVER_DEFER, "4.7.8", remote, "%s",
		    f.text != NULL ? f.text : "authentication failed");
		free(remote);
		free(r);
		goto out;
	}
	if (!tried) {
		agent_txn_set_failure(res, "smtp", &f);
		goto out;
	}
	server = xasprintf("host %s", st->relay);
	agent_txn_set_answers(res, &t, "smtp", server);
	free(server);
	/* Success notices (RFC 3461): a server with DSN took the request
	 * and notifies itself; one without it gets the mail "relayed". */
	for (size_t k = 0; k < t.n; k++)
		if (t.rc[k].done && t.rc[k].reply.code / 100 == 2)
			agent_set_flags(res, t.slot[k], st->peer_dsn ?
			    DELIVER_R_DSN_PASSED : DELIVER_R_RELAYED);
	if (f.kind != LMTP_FAIL_NONE)
		agent_txn_set_failure(res, "smtp", &f);
	if (st->conn != NULL) {
		if (cache_wanted(st, text, &nh))
			cache_put(st, key);
		else
			lmtp_client_quit(&st->conn);
	}
out:
	free(plan.text);
	free(why);
	free(key);
	free(hp.match);
	hop_auth_clear(&ha);
	lmtp_failure_deinit(&f);
	agent_txn_deinit(&t);
}

const struct agent_def agent_smtp = {
	.command = "smtp",
	.setup = smtp_setup,
	.deliver = smtp_deliver,
	.relay = smtp_relay,
	.idle = smtp_idle,
};
