/* SPDX-License-Identifier: MIT */
/*
 * agent_smtp - the smtp delivery agent: sends mail to other mail
 * servers (the MX hosts of a domain, a relayhost, a content filter such
 * as the seed's amavis at [127.0.0.1]:10024) with smtp_conn.c, the
 * event-driven client.
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
 * failure is every recipient's result when none worked.  A server that
 * took the transaction but deferred recipients (4xx to their RCPT, or
 * to MAIL or DATA, or the connection lost before the final dot) is not
 * the last word either: those recipients go to the next address in the
 * same attempt (the others keep the server's answer), as Postfix does.
 * At most smtp_mx_session_limit sessions (that got through EHLO) per
 * next hop; then the fallback relays, or a deferral.  With
 * smtp_dns_support_level = disabled (or disable_dns_lookups = yes) host
 * names are resolved by the system (getaddrinfo) and no MX lookup is
 * made.  smtp_host_lookup = native takes the addresses of hosts (MX
 * hosts too) from the system's resolver, "dns, native" from it for the
 * hosts DNS does not know; their answers become DNS answers
 * (native_answer), so the MX self-pruning below sees them too.
 *
 * Mail loops: an MX host with one of this host's addresses
 * (own_addrs.h: inet_interfaces, proxy_interfaces) is left out, with
 * every host not more preferred than it, as in Postfix; when none is
 * left, this host is the best MX of a domain it does not take: every
 * recipient bounces 5.4.6 "loops back to myself".  A domain this host
 * is an MX host of never goes to the fallback relays.  A server that
 * answers EHLO with this host's own myhostname (another address, a NAT)
 * would send the mail back here too: from the best MX host, or a next
 * hop without MX, every recipient bounces 5.4.6; from a less preferred
 * one, the next address is tried.
 *
 * smtp_fallback_relay (fallback_relay): when the next hop gives no
 * server that takes the transaction (not found, a DNS failure, every
 * address refused or failed before MAIL), the relays of the list are
 * tried in turn, each as a next hop of its own (its TLS policy,
 * credentials, MX or [host] plan); the last one's failure is the
 * result, and a fallback relay that is not found defers, never
 * bounces.  A null MX is bounced without them.  Once a server has
 * taken the transaction its replies are final, as for the MX hosts.
 *
 * TLS (tls_client.h): the level is smtp_tls_security_level, or the
 * entry of the next hop in smtp_tls_policy_maps ("LEVEL [match=a:b]
 * [protocols=...]" -- only the level and match= are used).  may: STARTTLS
 * when offered, any certificate; a failed handshake is retried once
 * without TLS on the same address.  encrypt: TLS required.  verify /
 * secure: the certificate must chain to smtp_tls_CAfile (or the system
 * store) and name one of smtp_tls_verify_cert_match /
 * smtp_tls_secure_cert_match (or match=).  fingerprint: the
 * certificate's or its public key's fingerprint
 * (smtp_tls_fingerprint_digest) is one of
 * smtp_tls_fingerprint_cert_match (or match=, '|' between them); no CA
 * or name is checked.  dane / dane-only (RFC 7672):
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
 * hop as written ("[smtp.example.net]:587"), else its host (with
 * smtp_sender_dependent_authentication, for the sender address or its
 * "@domain" first; the login is part of the connection cache key, so a
 * connection is reused only for mail that logs in the same); AUTH PLAIN
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
 * process) and used again, after RSET, by a later request to the same
 * next hop with the same TLS policy; one idle for
 * smtp_connection_cache_time_limit is closed (QUIT) by the idle hook.
 *
 * Event-driven (agent.h: deliver_async): each process delivers many
 * requests at once on its event loop -- the DNS lookups (libunbound,
 * dns.h), the table lookups (lookup_client.h), the connections
 * (smtp_conn.h) all wait there, none blocks the others.  A request is a
 * chain of callbacks over one struct smtp_job: next hop, TLS policy and
 * credentials, a cached connection or the plan (MX, addresses), then
 * one address after the other (TLSA, connect, EHLO, TLS, AUTH,
 * transaction) until one takes the transaction.  Only
 * smtp_dns_support_level = disabled resolves with the system's
 * getaddrinfo, which blocks.  Runs as mail_owner.
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
#include "agent_generic.h"
#include "config.h"
#include "dns.h"
#include "hbc.h"
#include "hbc_tables.h"
#include "lmtp_client.h"
#include "log.h"
#include "lookup_client.h"
#include "lookup_proto.h"
#include "own_addrs.h"
#include "smtp_conn.h"
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
#define SMTP_AGENT_CACHE_MAX 128
/* How a server is named in texts: "host[addr]:port". */
#define SMTP_PEER_MAX (DNS_NAME_MAX + INET6_ADDRSTRLEN + SMTP_PORT_MAX_BYTES + 8)

struct smtp_target {
	char host[DNS_NAME_MAX];	/* the name (or the IP literal) */
	char addr[INET6_ADDRSTRLEN];
	bool dnssec;			/* host found through secure DNS */
};

/* An idle connection kept for the next request to the same next hop. */
struct smtp_cached {
	struct smtp_conn *c;		/* NULL: free slot */
	char *key;			/* next hop, TLS level, match list */
	char peer[SMTP_PEER_MAX];
	bool peer_dsn;			/* the server offered DSN */
	time_t used;
};

struct smtp_agent {
	bool loaded;
	/* smtp_header_checks, smtp_mime_header_checks,
	 * smtp_nested_header_checks, smtp_body_checks */
	struct hbc_tables hbc;
	char *helo_name;
	char *myhostname;		/* for the mail loop check */
	char *tcp_port;
	struct lmtp_client_settings set;
	enum tls_client_level level;
	const struct config_view *view;
	struct event_base *base;
	bool tls_loaded;		/* load_tls() was called */
	struct tls_client_ctx *tls_ctx;
	unsigned session_timeout;	/* smtp_tls_session_cache_timeout
					 * when smtp_tls_session_cache_
					 * database is set, else 0 */
	char *tls_error;		/* why there is no TLS context */
	char *verify_match, *secure_match;
	char *fprint_match;		/* smtp_tls_fingerprint_cert_match */
	char *policy_maps, *sasl_maps;
	bool sasl_enable, sasl_plain_ok, sasl_plain_tls_ok;
	unsigned sasl_mech_deny;	/* smtp_sasl_mechanism_filter */
	char *sasl_mech_filter;		/* its text; NULL: empty */
	bool sasl_by_sender;		/* smtp_sender_dependent_authentication */
	bool wrapper;			/* smtp_tls_wrappermode */
	bool send_xforward;		/* smtp_send_xforward_command */
	bool dns_enabled, dnssec;
	/* smtp_host_lookup: host addresses from DNS, from the system's
	 * resolver (native; blocks), or DNS then native for hosts that DNS
	 * does not know.  MX lookups are always DNS. */
	bool host_dns, host_native;
	struct dns_settings dns_set;
	char *dns_resolvers, *dns_anchor;
	struct dns_resolver *dns;
	char *dns_error;
	long long addr_limit;
	long long session_limit;	/* smtp_mx_session_limit; 0: none */
	bool want4, want6;
	bool prefer6;		/* smtp_address_preference = ipv6 */
	char *servername;		/* smtp_tls_servername ("" none) */
	char **discard_ehlo;		/* smtp_discard_ehlo_keywords */
	char **fallback;		/* smtp_fallback_relay */
	struct own_addrs own;		/* this host's addresses: MX hosts
					 * that are this host are left out */
	bool note_starttls;
	bool cache_on_demand;
	char **cache_dests;
	long long cache_time_limit;
	struct lookup_client *lc;
	/* smtp_generic_maps is set; the lookup process finds this
	 * service's view by route_service ("NAME/TYPE"). */
	bool generic;
	char *route_service;
	/* Idle connections kept for later requests. */
	struct smtp_cached cache[SMTP_AGENT_CACHE_MAX];
	bool atexit_done;
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

/*
 * mech_deny - the LMTP_MECH_* bits smtp_sasl_mechanism_filter rules out.
 * Postfix's list order: for each mechanism the first element that
 * matches it decides ("!name" for no; a static: table matches every
 * name); one that no element matches is out, unless the list is empty.
 * Other tables are not read: a warning says so, and they match nothing.
 */
static unsigned
mech_deny(const struct config_view *v)
{
	static const struct {
		const char *name;
		unsigned bit;
	} mechs[] = {
		{ "plain", LMTP_MECH_PLAIN }, { "login", LMTP_MECH_LOGIN },
	};
	char **l = config_list(v, P_smtp_sasl_mechanism_filter);
	unsigned deny = 0;

	for (size_t i = 0; l[i] != NULL; i++) {
		const char *e = l[i] + (l[i][0] == '!');

		if ((strchr(e, ':') != NULL || e[0] == '/') &&
		    strncmp(e, "static:", 7) != 0)
			log_warning("smtp_sasl_mechanism_filter: \"%s\": Ostia "
			    "reads mechanism names and static: here, not "
			    "files or other tables; this element matches "
			    "nothing", l[i]);
	}
	for (size_t m = 0; l[0] != NULL && m < N_ELEMENTS(mechs); m++) {
		bool allowed = false;

		for (size_t i = 0; l[i] != NULL; i++) {
			bool neg = l[i][0] == '!';
			const char *e = l[i] + neg;

			if (strncmp(e, "static:", 7) == 0 ||
			    strcasecmp(e, mechs[m].name) == 0) {
				allowed = !neg;
				break;
			}
		}
		if (!allowed)
			deny |= mechs[m].bit;
	}
	strv_free(&l);
	return deny;
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
	clist = agent_cipher_list(v, P_smtp_tls_ciphers,
	    P_smtp_tls_exclude_ciphers, err, sizeof(err));
	if (clist != NULL)
		mlist = agent_cipher_list(v, P_smtp_tls_mandatory_ciphers,
		    P_smtp_tls_mandatory_exclude_ciphers, err, sizeof(err));
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
	cfg.fingerprint_digest = config_str(v, P_smtp_tls_fingerprint_digest);
	cfg.append_default_CA = config_bool(v, P_tls_append_default_CA);
	cfg.session_timeout = st->session_timeout;
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
	{
		static const enum param_id ids[HBC__NCLASS] = {
			P_smtp_header_checks, P_smtp_mime_header_checks,
			P_smtp_nested_header_checks, P_smtp_body_checks,
		};

		hbc_tables_open(&st->hbc, v, ids, "the smtp agent");
		st->hbc.cfg.delivery_only = true;
		if (st->hbc.broken)
			log_error("%s; until this is fixed every delivery of "
			    "this service is deferred", st->hbc.broken_why);
	}
	st->generic = *config_str(v, P_smtp_generic_maps) != '\0';
	st->route_service = a->service != NULL ? xasprintf("%s/%s",
	    a->service->name, master_type_name(a->service->type)) :
	    xstrdup("");
	name = config_str(v, P_smtp_helo_name);
	st->helo_name = name[0] != '\0' ? xstrdup(name) :
	    config_default_myhostname();
	name = config_str(v, P_myhostname);
	st->myhostname = name[0] != '\0' ? xstrdup(name) :
	    config_default_myhostname();
	st->tcp_port = xstrdup(config_str(v, P_smtp_tcp_port));
	st->set.protocol = LMTP_PROTO_SMTP;
	st->set.lhlo_name = st->helo_name;
	st->set.default_port = st->tcp_port;
	st->send_xforward = config_bool(v, P_smtp_send_xforward_command);
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
	st->set.bind_address6 = config_str(v, P_smtp_bind_address6);
	st->discard_ehlo = config_list(v, P_smtp_discard_ehlo_keywords);
	st->set.discard_ehlo = (const char *const *)st->discard_ehlo;

	lev = config_str(v, P_smtp_tls_security_level);
	if (tls_level_parse(lev, &st->level) < 0)
		st->level = TLS_LEV_NONE;	/* the schema checked it */
	if (st->level == TLS_LEV_NONE && (config_bool(v, P_smtp_enforce_tls) ||
	    config_bool(v, P_smtp_use_tls)))
		st->level = config_bool(v, P_smtp_enforce_tls) ?
		    TLS_LEV_ENCRYPT : TLS_LEV_MAY;
	st->verify_match = xstrdup(config_str(v, P_smtp_tls_verify_cert_match));
	st->secure_match = xstrdup(config_str(v, P_smtp_tls_secure_cert_match));
	st->fprint_match = xstrdup(config_str(v,
	    P_smtp_tls_fingerprint_cert_match));
	st->policy_maps = xstrdup(config_str(v, P_smtp_tls_policy_maps));
	st->note_starttls = config_bool(v, P_smtp_tls_note_starttls_offer);
	st->view = v;

	st->sasl_enable = config_bool(v, P_smtp_sasl_auth_enable);
	st->sasl_maps = xstrdup(config_str(v, P_smtp_sasl_password_maps));
	st->sasl_by_sender = config_bool(v,
	    P_smtp_sender_dependent_authentication);
	st->wrapper = config_bool(v, P_smtp_tls_wrappermode);
	st->sasl_plain_ok = !has_option(v, P_smtp_sasl_security_options,
	    "noplaintext");
	st->sasl_plain_tls_ok = !has_option(v,
	    P_smtp_sasl_tls_security_options, "noplaintext");
	st->sasl_mech_deny = mech_deny(v);
	st->set.line_limit = (size_t)config_int(v, P_smtp_line_length_limit);
	if (*config_str(v, P_smtp_sasl_mechanism_filter) != '\0')
		st->sasl_mech_filter = xstrdup(config_str(v,
		    P_smtp_sasl_mechanism_filter));

	st->dns_enabled = strcmp(config_str(v, P_smtp_dns_support_level),
	    "disabled") != 0 && !config_bool(v, P_disable_dns_lookups);
	st->dnssec = st->dns_enabled &&
	    strcmp(config_str(v, P_smtp_dns_support_level), "dnssec") == 0;
	{
		char **hl = config_list(v, P_smtp_host_lookup);

		st->host_dns = st->host_native = false;
		for (size_t i = 0; hl[i] != NULL; i++) {
			if (strcasecmp(hl[i], "dns") == 0)
				st->host_dns = true;
			else if (strcasecmp(hl[i], "native") == 0)
				st->host_native = true;
		}
		if (!st->host_native)
			st->host_dns = true;	/* empty: the default */
		strv_free(&hl);
	}
	st->dns_resolvers = xstrdup(config_str(v, P_dns_resolvers));
	st->dns_anchor = xstrdup(config_str(v, P_dnssec_trust_anchor_file));
	st->dns_set.resolvers = st->dns_resolvers;
	st->dns_set.trust_anchor_file = st->dnssec ? st->dns_anchor : "";
	st->dns_set.timeout_ms = t->connect_ms > 0 ? t->connect_ms : 30000;
	st->addr_limit = config_int(v, P_smtp_mx_address_limit);
	st->session_limit = config_int(v, P_smtp_mx_session_limit);
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
	/* "any" and "ipv4": A before AAAA for each host, as before;
	 * "ipv6": AAAA first. */
	st->prefer6 = strcasecmp(config_str(v, P_smtp_address_preference),
	    "ipv6") == 0;
	st->servername = xstrdup(config_str(v, P_smtp_tls_servername));
	/* Any table named turns the cache on; it is kept in each smtp
	 * process's memory (tls_sessions.h), not in the table. */
	if (config_str(v, P_smtp_tls_session_cache_database)[0] != '\0')
		st->session_timeout = (unsigned)config_time(v,
		    P_smtp_tls_session_cache_timeout);
	if (st->servername[0] != '\0' &&
	    strcasecmp(st->servername, "hostname") != 0 &&
	    strcasecmp(st->servername, "nexthop") != 0 &&
	    !dns_name_valid(st->servername)) {
		log_warning("smtp_tls_servername = %s: not \"hostname\", "
		    "\"nexthop\" or a valid DNS name; no SNI is sent",
		    st->servername);
		st->servername[0] = '\0';
	}

	st->fallback = config_list(v, P_smtp_fallback_relay);
	for (size_t i = 0; st->fallback[i] != NULL; i++) {
		struct smtp_nexthop nh;
		const char *err = NULL;

		if (smtp_nexthop_parse(st->fallback[i], st->tcp_port, &nh,
		    &err) < 0)
			log_warning("smtp_fallback_relay: \"%s\": %s (mail "
			    "that falls back to it is deferred)",
			    st->fallback[i], err);
	}
	own_addrs_load(&st->own, v, true);
	st->cache_on_demand = config_bool(v,
	    P_smtp_connection_cache_on_demand);
	st->cache_dests = config_list(v, P_smtp_connection_cache_destinations);
	st->cache_time_limit = config_time(v,
	    P_smtp_connection_cache_time_limit);
	st->base = a->base;
	a->priv = st;
	st->loaded = true;
}

static void
cached_drop(struct smtp_cached *e)
{
	smtp_conn_quit(&e->c);
	free(e->key);
	e->key = NULL;
}

static void
smtp_agent_exit(void)
{
	for (size_t i = 0; i < SMTP_AGENT_CACHE_MAX; i++) {
		smtp_conn_free(&smtp_agent.cache[i].c);
		free(smtp_agent.cache[i].key);
		smtp_agent.cache[i].key = NULL;
	}
}

/* cache_put - keep c (to key, peer) for later; the least recently used
 * entry makes room when all are taken. */
static void
cache_put(struct smtp_agent *st, struct smtp_conn *c, const char *key,
    const char *peer, bool peer_dsn)
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
	e->c = c;
	e->key = xstrdup(key);
	(void)snprintf(e->peer, sizeof(e->peer), "%s", peer);
	e->peer_dsn = peer_dsn;
	e->used = time(NULL);
	if (!st->atexit_done) {
		atexit(smtp_agent_exit);
		st->atexit_done = true;
	}
}

/* cache_take - a cached connection to key (its peer in peer, whether it
 * offered DSN in *dsn_r), taken out of the cache; NULL when there is
 * none that may still be used. */
static struct smtp_conn *
cache_take(struct smtp_agent *st, const char *key, char *peer,
    size_t peersz, bool *dsn_r)
{
	time_t now = time(NULL);

	for (size_t i = 0; i < SMTP_AGENT_CACHE_MAX; i++) {
		struct smtp_cached *e = &st->cache[i];
		struct smtp_conn *c;

		if (e->c == NULL || strcmp(e->key, key) != 0)
			continue;
		if (!smtp_conn_is_open(e->c) ||
		    now - e->used > st->cache_time_limit) {
			cached_drop(e);
			continue;
		}
		c = e->c;
		e->c = NULL;
		(void)snprintf(peer, peersz, "%s", e->peer);
		*dsn_r = e->peer_dsn;
		free(e->key);
		e->key = NULL;
		return c;
	}
	return NULL;
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
		if (!smtp_conn_is_open(e->c) ||
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

/* lookups - the process's lookup client (made on first use). */
static struct lookup_client *
lookups(struct smtp_agent *st)
{
	if (st->lc == NULL) {
		st->lc = lookup_client_new(st->base, LOOKUP_SOCKET_PATH);
		lookup_client_set_timeout(st->lc, LOOKUP_CLIENT_TIMEOUT_MS);
	}
	return st->lc;
}

/* resolver - the DNS resolver, made on first use; NULL with
 * st->dns_error when it cannot be. */
static struct dns_resolver *
resolver(struct smtp_agent *st)
{
	if (st->dns == NULL && st->dns_error == NULL) {
		st->dns = dns_resolver_new(st->base, &st->dns_set,
		    &st->dns_error);
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

/* The TLS policy of one next hop (smtp_tls_policy_maps). */
struct hop_policy {
	enum tls_client_level level;
	char *match;		/* match= list, or NULL */
};

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

/* first_domain - the domain of the first recipient (the next hop when
 * the request has none). */
static const char *
first_domain(const struct deliver_req *req)
{
	const char *at = req->nrcpts > 0 ? strrchr(req->rcpts[0].address,
	    '@') : NULL;

	return at != NULL ? at + 1 : "";
}

/* ---------------------------------------------------------------- */
/* One request                                                      */

struct smtp_job;

/* A DNS query of the plan: the host (index in hosts) and the record
 * type slot (index in types). */
struct plan_query {
	struct smtp_job *j;
	size_t host;
	size_t k;
};

struct smtp_job {
	struct smtp_agent *st;
	struct buf checked;		/* the message after smtp_*_checks */
	bool have_checked;
	struct agent_generic *gen;	/* smtp_generic_maps (owns what t
					 * then points at) */
	struct agent_job *aj;
	const struct deliver_req *req;
	struct agent_results *res;
	struct agent_txn t;
	char *text;			/* the next hop as written */
	struct smtp_nexthop nh;
	struct hop_policy hp;
	struct hop_auth ha;
	char *key;			/* the connection cache key */
	/* Table lookups (smtp_tls_policy_maps, smtp_sasl_password_maps):
	 * the first of mkeys found in mmaps, then mdone. */
	const char *mmaps;
	const char *mkeys[4];
	size_t nmkeys, mkey;
	char *sender_at;		/* "@domain" of the sender */
	void (*mdone)(struct smtp_job *, enum dict_status, const char *);
	/* The plan: hosts (the MX hosts in order, or the one host) and
	 * the answers of their address lookups. */
	struct smtp_plan plan;
	bool mx_secure;			/* the MX answer was secure */
	bool mx_mode;			/* hosts come from MX records */
	char hosts[SMTP_AGENT_MX_MAX][DNS_NAME_MAX];
	uint16_t prefs[SMTP_AGENT_MX_MAX];	/* their MX preferences */
	size_t nhosts;
	bool found_myself;		/* this host is one of the MX hosts:
					 * no fallback relays */
	uint16_t types[2];
	size_t ntypes;
	struct dns_result *ans[SMTP_AGENT_MX_MAX][2];
	struct plan_query pq[SMTP_AGENT_MX_MAX][2];
	size_t pending;			/* DNS queries in flight */
	/* The site: 0 the next hop, k the k-th of smtp_fallback_relay. */
	size_t site;
	/* The address being tried. */
	size_t ti;
	/* Sessions of this site that got through EHLO (and TLS): at
	 * smtp_mx_session_limit, no further address of the site. */
	long long sessions;
	struct tls_client_policy pol;
	char **names;
	struct dns_result *tlsa;
	struct lmtp_client_settings set;
	bool plaintext_retry;
	char dest[INET6_ADDRSTRLEN + SMTP_PORT_MAX_BYTES + 4];
	/* the TLS session cache key: peer, SNI name, level */
	char tls_key[SMTP_PEER_MAX + DNS_NAME_MAX + 32];
	struct smtp_conn *conn;
	char peer[SMTP_PEER_MAX];
	char relay[SMTP_PEER_MAX];
	bool peer_dsn;
	bool tried;			/* a transaction was tried */
	struct lmtp_failure f;
};

static void job_after_maps(struct smtp_job *j);
static void job_plan(struct smtp_job *j);
static void job_try(struct smtp_job *j);
static void job_send(struct smtp_job *j);

/* job_target_free - what belonged to the address just tried. */
static void
job_target_free(struct smtp_job *j)
{
	strv_free(&j->names);
	dns_result_free(&j->tlsa);
	memset(&j->pol, 0, sizeof(j->pol));
}

/*
 * job_site_free - what belonged to the next hop (or fallback relay)
 * tried: its connection, plan and answers, cache key, TLS policy
 * match list, credentials and failure.
 */
static void
job_site_free(struct smtp_job *j)
{
	smtp_conn_free(&j->conn);
	job_target_free(j);
	for (size_t i = 0; i < SMTP_AGENT_MX_MAX; i++)
		for (size_t k = 0; k < 2; k++)
			dns_result_free(&j->ans[i][k]);
	free(j->plan.text);
	memset(&j->plan, 0, sizeof(j->plan));
	free(j->key);
	j->key = NULL;
	free(j->hp.match);
	j->hp.match = NULL;
	hop_auth_clear(&j->ha);
	lmtp_failure_deinit(&j->f);
	memset(&j->f, 0, sizeof(j->f));
}

/* job_end - the results are set: hand them back, free the job. */
static void
job_end(struct smtp_job *j)
{
	agent_job_done(j->aj, j->relay[0] != '\0' ? j->relay : "none");
	job_site_free(j);
	free(j->text);
	free(j->sender_at);
	agent_txn_deinit(&j->t);
	agent_generic_free(&j->gen);
	if (j->have_checked)
		buf_deinit(&j->checked);
	free(j);
}

/* take_failure - keep the connection's failure f in j->f. */
static void
take_failure(struct smtp_job *j, struct lmtp_failure *f)
{
	lmtp_failure_deinit(&j->f);
	if (f != NULL) {
		j->f = *f;
		memset(f, 0, sizeof(*f));
	}
}

/* ---- table lookups: the first of j->mkeys found in j->mmaps ---- */

static void map_next(struct smtp_job *j);

static void
on_map(void *ctx, enum dict_status ds, const char *text, size_t len)
{
	struct smtp_job *j = ctx;
	char *copy;

	if (ds == DICT_NOTFOUND && ++j->mkey < j->nmkeys) {
		map_next(j);
		return;
	}
	copy = xstrndup(text, len);
	j->mdone(j, ds, copy);
	explicit_bzero(copy, len);	/* may be a password */
	free(copy);
}

static void
map_next(struct smtp_job *j)
{
	(void)lookup_client_find(lookups(j->st), j->mmaps, j->mkeys[j->mkey],
	    LOOKUP_FIND_EXACT, 0, NULL, on_map, j);
}

/* map_find - look up (with by_sender: the sender address, then its
 * "@domain", first) the next hop as written, then its host, in maps;
 * done(j, status, value or TEMPFAIL reason) follows. */
static void
map_find(struct smtp_job *j, const char *maps, bool by_sender,
    void (*done)(struct smtp_job *, enum dict_status, const char *))
{
	const char *sender = j->req->sender;
	const char *at = strrchr(sender, '@');

	j->mmaps = maps;
	j->mdone = done;
	j->nmkeys = 0;
	if (by_sender && *sender != '\0') {
		j->mkeys[j->nmkeys++] = sender;
		if (at != NULL && at[1] != '\0') {
			free(j->sender_at);
			j->sender_at = xstrdup(at);
			j->mkeys[j->nmkeys++] = j->sender_at;
		}
	}
	j->mkeys[j->nmkeys++] = j->text;
	if (strcmp(j->text, j->nh.host) != 0)
		j->mkeys[j->nmkeys++] = j->nh.host;
	j->mkey = 0;
	map_next(j);
}

/* ---- smtp_tls_policy_maps, smtp_sasl_password_maps ---- */

static void
on_auth(struct smtp_job *j, enum dict_status ds, const char *v)
{
	struct smtp_agent *st = j->st;
	const char *colon;
	char *why = NULL;

	if (ds == DICT_TEMPFAIL) {
		why = xasprintf("smtp_sasl_password_maps lookup of %s "
		    "failed: %s", j->text, v);
	} else if (ds == DICT_FOUND) {
		colon = strchr(v, ':');
		if (colon == NULL || colon == v) {
			why = xasprintf("smtp_sasl_password_maps: the entry "
			    "for %s is not \"user:password\"", j->text);
		} else if (!st->sasl_plain_ok && !st->sasl_plain_tls_ok) {
			why = xasprintf("cannot authenticate to %s: Ostia "
			    "has only the PLAIN and LOGIN mechanisms, and "
			    "smtp_sasl_security_options and smtp_sasl_tls_"
			    "security_options both forbid them "
			    "(noplaintext); set smtp_sasl_tls_security_options"
			    " = noanonymous to allow them over TLS", j->text);
		} else if (st->sasl_mech_deny == (LMTP_MECH_PLAIN |
		    LMTP_MECH_LOGIN)) {
			why = xasprintf("cannot authenticate to %s: "
			    "smtp_sasl_mechanism_filter = %s allows neither "
			    "of Ostia's mechanisms (PLAIN, LOGIN)", j->text,
			    st->sasl_mech_filter);
		} else {
			j->ha.user = xstrndup(v, (size_t)(colon - v));
			j->ha.pass = xstrdup(colon + 1);
		}
	}
	if (why != NULL) {
		agent_set_all(j->res, DELIVER_DEFER, "4.3.0", NULL, "%s", why);
		free(why);
		job_end(j);
		return;
	}
	job_after_maps(j);
}

static void
job_auth(struct smtp_job *j)
{
	if (!j->st->sasl_enable || j->st->sasl_maps[0] == '\0') {
		job_after_maps(j);
		return;
	}
	map_find(j, j->st->sasl_maps, j->st->sasl_by_sender, on_auth);
}

static void
on_policy(struct smtp_job *j, enum dict_status ds, const char *v)
{
	char *why = NULL;

	if (ds == DICT_TEMPFAIL) {
		why = xasprintf("smtp_tls_policy_maps lookup of %s failed: "
		    "%s", j->text, v);
	} else if (ds == DICT_FOUND) {
		char **w = config_split_list(v);

		if (w[0] == NULL || tls_level_parse(w[0], &j->hp.level) < 0)
			why = xasprintf("smtp_tls_policy_maps: the entry for "
			    "%s does not start with a TLS level (none, may, "
			    "encrypt, dane, dane-only, verify, secure)",
			    j->text);
		for (size_t i = 1; why == NULL && w[i] != NULL; i++)
			if (strncasecmp(w[i], "match=", 6) == 0) {
				free(j->hp.match);
				j->hp.match = xstrdup(w[i] + 6);
			}
		strv_free(&w);
	}
	if (why != NULL) {
		agent_set_all(j->res, DELIVER_DEFER, "4.3.0", NULL, "%s", why);
		free(why);
		job_end(j);
		return;
	}
	job_auth(j);
}

/* ---- a cached connection ---- */

static void
on_reset(struct smtp_conn *c, void *ctx, int rc, struct lmtp_failure *f)
{
	struct smtp_job *j = ctx;

	(void)c;
	if (rc < 0) {
		log_debug(1, "smtp %s: not reusing the connection: %s",
		    j->peer, f->text != NULL ? f->text : "?");
		smtp_conn_free(&j->conn);
		job_plan(j);
		return;
	}
	(void)snprintf(j->relay, sizeof(j->relay), "%s", j->peer);
	job_send(j);
}

static void
job_after_maps(struct smtp_job *j)
{
	/* The login is part of the key: a connection authenticated as one
	 * user never carries the mail of a sender who logs in as another
	 * (smtp_sender_dependent_authentication). */
	j->key = xasprintf("%s|%s|%s|%s", j->text, tls_level_name(j->hp.level),
	    j->hp.match != NULL ? j->hp.match : "",
	    j->ha.user != NULL ? j->ha.user : "");
	j->conn = cache_take(j->st, j->key, j->peer, sizeof(j->peer),
	    &j->peer_dsn);
	if (j->conn != NULL) {
		smtp_conn_reset(j->conn, on_reset, j);
		return;
	}
	job_plan(j);
}

/* ---- the plan: MX hosts and their addresses ---- */

/* copy_name - a host name into a DNS_NAME_MAX slot (names longer than
 * a DNS name cannot come from the parsers; cut if they did). */
static void
copy_name(char *dst, const char *src)
{
	size_t n = strnlen(src, DNS_NAME_MAX - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

static bool job_fallback(struct smtp_job *j, const char *why);
static void job_start(struct smtp_job *j);

/* plan_done - the targets are known (or why there are none). */
static void
plan_done(struct smtp_job *j)
{
	if (j->plan.st != DELIVER_OK && j->site > 0 &&
	    j->plan.st == DELIVER_BOUNCE) {
		/* A fallback relay that is not found says nothing about
		 * the recipients: deferred, never bounced. */
		j->plan.st = DELIVER_DEFER;
		(void)snprintf(j->plan.dsn, sizeof(j->plan.dsn), "4.4.3");
	}
	/* A domain that takes no mail (null MX) is not relayed
	 * elsewhere. */
	if (j->plan.st != DELIVER_OK && strcmp(j->plan.dsn, "5.1.10") != 0 &&
	    job_fallback(j, j->plan.text != NULL ? j->plan.text :
	    "no address to send to"))
		return;
	if (j->plan.st != DELIVER_OK) {
		agent_set_all(j->res, j->plan.st, j->plan.dsn, NULL, "%s",
		    j->plan.text != NULL ? j->plan.text : "no address to "
		    "send to");
		job_end(j);
		return;
	}
	j->ti = 0;
	job_try(j);
}

/*
 * mx_self_pref - in MX mode, the preference of the first (most
 * preferred) MX host that has one of this host's addresses, or -1.
 * Postfix's rule: such a host and every host not more preferred than it
 * are left out (mail sent to them would come back here); when that
 * leaves none, this host is the best MX of a domain it does not take.
 */
static long
mx_self_pref(const struct smtp_job *j)
{
	for (size_t h = 0; j->mx_mode && h < j->nhosts; h++) {
		for (size_t k = 0; k < j->ntypes; k++) {
			const struct dns_result *r = j->ans[h][k];

			for (size_t i = 0; r != NULL && r->status == DNS_OK &&
			    i < r->n; i++) {
				struct own_addr a;

				memset(&a, 0, sizeof(a));
				if (r->rrs[i].type == DNS_T_A) {
					a.family = AF_INET;
					memcpy(a.a, &r->rrs[i].u.a, 4);
				} else if (r->rrs[i].type == DNS_T_AAAA) {
					a.family = AF_INET6;
					memcpy(a.a, &r->rrs[i].u.aaaa, 16);
				} else {
					continue;
				}
				if (own_addrs_has(&j->st->own, &a))
					return j->prefs[h];
			}
		}
	}
	return -1;
}

/*
 * native_answer - the answer of the system's resolver for host and one
 * address type, as a DNS answer: res is getaddrinfo's list, e its
 * return code.  Never secure (no DNSSEC).
 */
static struct dns_result *
native_answer(const char *host, uint16_t type, const struct addrinfo *res,
    int e)
{
	struct dns_result *r = xcalloc(1, sizeof(*r));
	int family = type == DNS_T_A ? AF_INET : AF_INET6;
	size_t n = 0;

	copy_name(r->qname, host);
	r->qtype = type;
	if (e != 0) {
		r->status = e == EAI_NONAME || e == EAI_NODATA ?
		    DNS_NXDOMAIN : DNS_TEMPFAIL;
		if (r->status == DNS_TEMPFAIL)
			r->error = xasprintf("the system's resolver: %s",
			    gai_strerror(e));
		return r;
	}
	for (const struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next)
		if (ai->ai_family == family)
			n++;
	if (n == 0) {
		r->status = DNS_NODATA;
		return r;
	}
	r->rrs = xcalloc(n, sizeof(*r->rrs));
	for (const struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		struct dns_rr *rr;

		if (ai->ai_family != family)
			continue;
		rr = &r->rrs[r->n++];
		rr->type = type;
		if (family == AF_INET)
			memcpy(&rr->u.a, &((const struct sockaddr_in *)
			    (const void *)ai->ai_addr)->sin_addr,
			    sizeof(rr->u.a));
		else
			memcpy(&rr->u.aaaa, &((const struct sockaddr_in6 *)
			    (const void *)ai->ai_addr)->sin6_addr,
			    sizeof(rr->u.aaaa));
	}
	r->status = DNS_OK;
	return r;
}

/* native_lookup - (blocks) the addresses of host h from the system's
 * resolver (/etc/hosts, nsswitch.conf), in place of its DNS answers. */
static void
native_lookup(struct smtp_job *j, size_t h)
{
	struct addrinfo hints, *res = NULL;
	int e;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = j->st->want4 && j->st->want6 ? AF_UNSPEC :
	    j->st->want4 ? AF_INET : AF_INET6;
	hints.ai_socktype = SOCK_STREAM;
	e = getaddrinfo(j->hosts[h], NULL, &hints, &res);
	for (size_t k = 0; k < j->ntypes; k++) {
		dns_result_free(&j->ans[h][k]);
		j->ans[h][k] = native_answer(j->hosts[h], j->types[k], res, e);
	}
	if (res != NULL)
		freeaddrinfo(res);
}

/* dns_not_found - DNS says host h has no address (no such name, or no
 * record of any type asked), without a failure. */
static bool
dns_not_found(const struct smtp_job *j, size_t h)
{
	for (size_t k = 0; k < j->ntypes; k++) {
		const struct dns_result *r = j->ans[h][k];

		if (r == NULL || (r->status != DNS_NXDOMAIN &&
		    r->status != DNS_NODATA))
			return false;
	}
	return j->ntypes > 0;
}

/* plan_assemble - every address answer is in: the targets in host
 * order (A before AAAA per host), or why there are none. */
static void
plan_assemble(struct smtp_job *j)
{
	struct smtp_agent *st = j->st;
	struct smtp_plan *p = &j->plan;
	char *why = NULL;
	enum dns_status host_worst = DNS_NXDOMAIN;
	long self;

	/* smtp_host_lookup = native, or "dns, native" for the hosts DNS
	 * does not know. */
	for (size_t h = 0; h < j->nhosts; h++)
		if (!st->host_dns || !st->dns_enabled || (st->host_native &&
		    dns_not_found(j, h)))
			native_lookup(j, h);
	self = mx_self_pref(j);

	if (self >= 0) {
		/* The hosts are in preference order: keep those before
		 * this host's preference. */
		size_t keep = 0;

		while (keep < j->nhosts && j->prefs[keep] < self)
			keep++;
		j->found_myself = true;
		if (keep == 0) {
			log_warning("%s: this host is the best MX host of %s "
			    "(preference %ld), but does not take mail for it",
			    j->req->queue_id, j->nh.host, self);
			plan_fail(p, DELIVER_BOUNCE, "5.4.6", "mail for %s loops "
			    "back to myself: this host is its best MX host (is "
			    "the domain missing from mydestination or the "
			    "virtual domains?)", j->nh.host);
			plan_done(j);
			return;
		}
		log_info("%s: this host is an MX host of %s (preference %ld): "
		    "only the %zu more preferred host%s tried", j->req->queue_id,
		    j->nh.host, self, keep, keep == 1 ? " is" : "s are");
		j->nhosts = keep;
	}
	for (size_t h = 0; h < j->nhosts; h++) {
		size_t before = p->n;
		enum dns_status worst = DNS_NXDOMAIN;

		for (size_t k = 0; k < j->ntypes; k++) {
			const struct dns_result *r = j->ans[h][k];

			if (r == NULL)
				continue;
			if (r->status == DNS_OK) {
				for (size_t i = 0; i < r->n; i++) {
					char a[INET6_ADDRSTRLEN];

					if (r->rrs[i].type == DNS_T_A)
						inet_ntop(AF_INET,
						    &r->rrs[i].u.a, a,
						    sizeof(a));
					else if (r->rrs[i].type == DNS_T_AAAA)
						inet_ntop(AF_INET6,
						    &r->rrs[i].u.aaaa, a,
						    sizeof(a));
					else
						continue;
					add_target(st, p, j->hosts[h], a,
					    j->mx_secure && r->secure);
				}
			} else if (r->status == DNS_TEMPFAIL ||
			    r->status == DNS_BOGUS) {
				free(why);
				why = xasprintf("%s lookup of %s failed: %s",
				    j->types[k] == DNS_T_A ? "A" : "AAAA",
				    j->hosts[h], r->error != NULL ? r->error :
				    dns_status_name(r->status));
				worst = r->status;
			} else if (worst == DNS_NXDOMAIN &&
			    r->status == DNS_NODATA) {
				worst = DNS_NODATA;
			}
		}
		if (p->n > before)
			worst = DNS_OK;
		if (worst != DNS_OK && why == NULL && j->mx_mode)
			why = xasprintf("MX host %s has no address",
			    j->hosts[h]);
		host_worst = worst;
	}
	if (p->n > 0) {
		p->st = DELIVER_OK;
	} else if (j->mx_mode) {
		plan_fail(p, DELIVER_DEFER, "4.4.3", "no MX host of %s could "
		    "be reached by address: %s", j->nh.host, why != NULL ?
		    why : "no addresses");
	} else if (host_worst == DNS_NXDOMAIN || host_worst == DNS_NODATA) {
		plan_fail(p, DELIVER_BOUNCE, "5.1.2", "Host or domain name "
		    "not found: %s has no %s address", j->hosts[0],
		    st->want4 && st->want6 ? "IPv4 or IPv6" : st->want4 ?
		    "IPv4" : "IPv6");
	} else {
		plan_fail(p, DELIVER_DEFER, "4.4.3", "%s", why != NULL ? why :
		    "DNS lookup failed");
	}
	free(why);
	plan_done(j);
}

static void
on_addr(struct dns_result *r, void *ctx)
{
	struct plan_query *q = ctx;
	struct smtp_job *j = q->j;

	j->ans[q->host][q->k] = r;
	if (--j->pending == 0)
		plan_assemble(j);
}

/* plan_addrs - look up the addresses of every host, all at once. */
static void
plan_addrs(struct smtp_job *j)
{
	struct smtp_agent *st = j->st;
	const char *err = NULL;

	j->ntypes = 0;
	if (st->want6 && st->prefer6)
		j->types[j->ntypes++] = DNS_T_AAAA;
	if (st->want4)
		j->types[j->ntypes++] = DNS_T_A;
	if (st->want6 && !st->prefer6)
		j->types[j->ntypes++] = DNS_T_AAAA;
	if (!st->host_dns || !st->dns_enabled) {
		/* The system's resolver only: plan_assemble asks. */
		plan_assemble(j);
		return;
	}
	/* Counted first: an answer cannot come before the loop runs. */
	j->pending = j->nhosts * j->ntypes;
	for (size_t h = 0; h < j->nhosts; h++)
		for (size_t k = 0; k < j->ntypes; k++) {
			struct plan_query *q = &j->pq[h][k];

			q->j = j;
			q->host = h;
			q->k = k;
			if (dns_lookup(st->dns, j->hosts[h], j->types[k],
			    on_addr, q, &err) == NULL) {
				struct dns_result *r = xcalloc(1, sizeof(*r));

				r->status = DNS_TEMPFAIL;
				r->error = xstrdup(err != NULL ? err :
				    "the query could not be started");
				j->ans[h][k] = r;
				j->pending--;
			}
		}
	if (j->pending == 0)
		plan_assemble(j);
}

static void
on_mx(struct dns_result *r, void *ctx)
{
	struct smtp_job *j = ctx;
	struct smtp_plan *p = &j->plan;
	struct smtp_mx mx[SMTP_AGENT_MX_MAX];
	const char *domain = j->nh.host;
	bool null_mx;
	size_t n;

	switch (r->status) {
	case DNS_OK:
		break;
	case DNS_NODATA:
		/* RFC 5321 5.1: no MX, the domain itself. */
		dns_result_free(&r);
		j->mx_mode = false;
		j->mx_secure = true;
		copy_name(j->hosts[0], domain);
		j->nhosts = 1;
		plan_addrs(j);
		return;
	case DNS_NXDOMAIN:
		plan_fail(p, DELIVER_BOUNCE, "5.1.2", "Host or domain name not "
		    "found: the domain %s does not exist (DNS)", domain);
		dns_result_free(&r);
		plan_done(j);
		return;
	case DNS_INVALID:
		plan_fail(p, DELIVER_BOUNCE, "5.1.2", "%s is not a valid "
		    "domain name", domain);
		dns_result_free(&r);
		plan_done(j);
		return;
	default:
		plan_fail(p, DELIVER_DEFER, r->status == DNS_BOGUS ? "4.7.5" :
		    "4.4.3", "MX lookup of %s failed: %s", domain,
		    r->error != NULL ? r->error : dns_status_name(r->status));
		dns_result_free(&r);
		plan_done(j);
		return;
	}
	n = smtp_mx_order(r->rrs, r->n, rnd, mx, SMTP_AGENT_MX_MAX, &null_mx);
	if (null_mx) {
		plan_fail(p, DELIVER_BOUNCE, "5.1.10", "the domain %s accepts "
		    "no mail: its MX record is the null MX \".\" (RFC 7505)",
		    domain);
		dns_result_free(&r);
		plan_done(j);
		return;
	}
	j->mx_mode = true;
	j->mx_secure = r->secure;
	for (size_t i = 0; i < n; i++) {
		copy_name(j->hosts[i], mx[i].host);
		j->prefs[i] = mx[i].pref;
	}
	j->nhosts = n;
	dns_result_free(&r);
	if (n == 0) {
		plan_fail(p, DELIVER_DEFER, "4.4.3", "no MX host of %s could "
		    "be reached by address: no addresses", domain);
		plan_done(j);
		return;
	}
	plan_addrs(j);
}

static void
job_plan(struct smtp_job *j)
{
	struct smtp_agent *st = j->st;
	struct smtp_plan *p = &j->plan;
	const char *err = NULL;

	free(p->text);
	memset(p, 0, sizeof(*p));
	p->st = DELIVER_DEFER;
	if (j->nh.is_ip) {
		add_target(st, p, j->nh.host, j->nh.host, false);
		p->st = DELIVER_OK;
		plan_done(j);
		return;
	}
	if (!st->dns_enabled) {
		/* No MX lookup: the host's addresses from the system's
		 * resolver (native_lookup, from plan_assemble). */
		j->mx_mode = false;
		j->mx_secure = false;
		copy_name(j->hosts[0], j->nh.host);
		j->nhosts = 1;
		plan_addrs(j);
		return;
	}
	if ((!j->nh.no_mx || st->host_dns) && resolver(st) == NULL) {
		plan_fail(p, DELIVER_DEFER, "4.4.3", "no DNS resolver: %s",
		    st->dns_error != NULL ? st->dns_error : "unknown error");
		plan_done(j);
		return;
	}
	if (j->nh.no_mx) {
		j->mx_mode = false;
		j->mx_secure = true;
		copy_name(j->hosts[0], j->nh.host);
		j->nhosts = 1;
		plan_addrs(j);
		return;
	}
	if (dns_lookup(st->dns, j->nh.host, DNS_T_MX, on_mx, j, &err) ==
	    NULL) {
		plan_fail(p, DELIVER_DEFER, "4.4.3", "MX lookup of %s failed: "
		    "%s", j->nh.host, err != NULL ? err : "not started");
		plan_done(j);
	}
}

/* ---- one address after the other ---- */

/* session_limit_reached - smtp_mx_session_limit sessions of this site
 * are done: no further address of it is tried. */
static bool
session_limit_reached(const struct smtp_job *j)
{
	return j->st->session_limit > 0 && j->sessions >=
	    j->st->session_limit;
}

/* job_more_here - another address of this site may be tried. */
static bool
job_more_here(const struct smtp_job *j)
{
	return j->ti + 1 < j->plan.n && !session_limit_reached(j);
}

/* log_session_limit - why the addresses left of the plan are not tried. */
static void
log_session_limit(const struct smtp_job *j)
{
	log_info("%s: %lld session%s with the servers of %s "
	    "(smtp_mx_session_limit = %lld): the %zu address%s left not "
	    "tried", j->req->queue_id, j->sessions, j->sessions == 1 ? "" :
	    "s", j->text, j->st->session_limit, j->plan.n - j->ti - 1,
	    j->plan.n - j->ti - 1 == 1 ? "" : "es");
}

/*
 * job_advance - on to the next address of the plan, or, when none is
 * left or the session limit is reached, to job_none_took (the fallback
 * relays, else every recipient left gets j->f).
 */
static void
job_advance(struct smtp_job *j)
{
	job_target_free(j);
	if (j->ti + 1 < j->plan.n && session_limit_reached(j)) {
		log_session_limit(j);
		j->ti = j->plan.n;
	} else {
		j->ti++;
	}
	job_try(j);
}

/* job_next - the address just tried did not take the transaction
 * (j->f says why): log it and try the next one. */
static void
job_next(struct smtp_job *j)
{
	log_info("%s: %s%s", j->req->queue_id, j->f.text != NULL ? j->f.text :
	    "delivery failed", job_more_here(j) ? "; trying the next "
	    "address" : "");
	job_advance(j);
}

/* job_none_took - every address failed before its transaction. */
static void
job_none_took(struct smtp_job *j)
{
	if (job_fallback(j, j->f.text != NULL ? j->f.text :
	    "no server took the mail"))
		return;
	if (j->f.kind == LMTP_FAIL_AUTH) {
		/* A refused login is the setup's problem (password,
		 * account), not the message's: retry later, as Postfix does
		 * with its default smtp_sasl_auth_soft_bounce = yes. */
		char *r = j->f.reply.nlines > 0 ? lmtp_reply_text(&j->f.reply,
		    DELIVER_FIELD_MAX - 8) : NULL;
		char *remote = r != NULL ? xasprintf("smtp; %s", r) : NULL;

		agent_set_all(j->res, DELIVER_DEFER, "4.7.8", remote, "%s",
		    j->f.text != NULL ? j->f.text : "authentication failed");
		free(remote);
		free(r);
	} else {
		agent_txn_set_failure(j->res, "smtp", &j->f);
	}
	job_end(j);
}

/*
 * fallback_left - a relay of smtp_fallback_relay is left to try: never
 * for a domain this host is an MX host of (Postfix: the mail waits for
 * the more preferred hosts).
 */
static bool
fallback_left(const struct smtp_job *j)
{
	return !j->found_myself && j->st->fallback != NULL &&
	    j->st->fallback[j->site] != NULL;
}

/*
 * job_fallback - the site just tried (the next hop, or a fallback
 * relay) has no server that took the transaction (why says what
 * happened): start over with the next of smtp_fallback_relay, with its
 * own TLS policy, credentials and plan.  true when it was started;
 * false when there is none left (the caller sets the results).
 */
static bool
job_fallback(struct smtp_job *j, const char *why)
{
	struct smtp_agent *st = j->st;
	const char *next;

	if (!fallback_left(j))
		return false;
	next = st->fallback[j->site++];
	log_info("%s: %s%s; trying the fallback relay %s "
	    "(smtp_fallback_relay)", j->req->queue_id, j->site > 1 ?
	    "fallback relay: " : "", why, next);
	job_site_free(j);
	j->nhosts = 0;
	j->pending = 0;
	j->mx_mode = j->mx_secure = j->found_myself = false;
	j->ti = 0;
	j->sessions = 0;
	j->plaintext_retry = false;
	j->hp.level = st->level;
	memset(&j->nh, 0, sizeof(j->nh));
	free(j->text);
	j->text = xstrdup(next);
	job_start(j);
	return true;
}

/*
 * set_answers - the results of the recipients of the transaction with
 * an answer (all of them when keep is NULL, else those with
 * !keep[k]), with the success notice flags (RFC 3461): a server with
 * DSN took the request and notifies itself; one without it gets the
 * mail "relayed".
 */
static void
set_answers(struct smtp_job *j, const bool *keep)
{
	struct agent_txn *t = &j->t;
	char *server = xasprintf("host %s", j->relay);

	for (size_t k = 0; k < t->n; k++) {
		if (!t->rc[k].done || (keep != NULL && keep[k]))
			continue;
		agent_txn_set_reply(j->res, t->slot[k], "smtp", server,
		    &t->rc[k]);
		if (keep != NULL)
			agent_set_relay(j->res, t->slot[k], j->relay);
		if (t->rc[k].reply.code / 100 == 2)
			agent_set_flags(j->res, t->slot[k], j->peer_dsn ?
			    DELIVER_R_DSN_PASSED : DELIVER_R_RELAYED);
	}
	free(server);
}

/*
 * soft_failure - f (of a transaction) is temporary and the mail surely
 * not taken: a 4xx reply to MAIL or DATA, or the connection lost before
 * the final dot.  One lost after it may have delivered the mail.
 */
static bool
soft_failure(const struct lmtp_failure *f)
{
	switch (f->kind) {
	case LMTP_FAIL_REPLY:
		return f->reply.code / 100 == 4;
	case LMTP_FAIL_CONVERSATION:
		return f->stage != LMTP_STAGE_DOT;
	default:
		return false;
	}
}

/*
 * job_soft_retry - after the transaction (failure in j->f): when the
 * server deferred recipients (their own 4xx reply, or a soft_failure of
 * the transaction) and it is not the final server -- another address
 * of the plan within smtp_mx_session_limit, or a fallback relay, is
 * left -- the other recipients get their results now and the deferred
 * ones go to the next server in the same attempt, as in Postfix.  Not
 * after a hard failure of the whole transaction (its result stands for
 * all), nor on a cached connection (no plan).  true when the next
 * server is being tried.
 */
static bool
job_soft_retry(struct smtp_job *j)
{
	struct agent_txn *t = &j->t;
	bool whole = soft_failure(&j->f);
	const struct lmtp_rcpt *first = NULL;
	size_t nsoft = 0;
	bool *keep;

	if (j->plan.n == 0 || (j->f.kind != LMTP_FAIL_NONE && !whole))
		return false;
	keep = xcalloc(t->n == 0 ? 1 : t->n, sizeof(*keep));
	for (size_t k = 0; k < t->n; k++) {
		if (t->rc[k].done ? t->rc[k].reply.code / 100 == 4 : whole) {
			keep[k] = true;
			nsoft++;
			if (first == NULL && t->rc[k].done)
				first = &t->rc[k];
		}
	}
	if (nsoft > 0 && !job_more_here(j) && !fallback_left(j)) {
		/* The final server: its answers stand.  Say why when more
		 * addresses were known. */
		if (j->ti + 1 < j->plan.n)
			log_session_limit(j);
		nsoft = 0;
	}
	if (nsoft == 0) {
		free(keep);
		return false;
	}
	set_answers(j, keep);
	if (!whole) {
		/* Each recipient's own reply: for the log and, should no
		 * server be left after all, the words of the deferral. */
		char *r = lmtp_reply_text(&first->reply, DELIVER_FIELD_MAX -
		    8);

		lmtp_failure_deinit(&j->f);
		j->f.kind = LMTP_FAIL_REPLY;
		j->f.stage = first->stage;
		lmtp_reply_copy(&j->f.reply, &first->reply);
		j->f.text = xasprintf("host %s deferred %zu recipient%s, "
		    "to=<%s> first: %s", j->relay, nsoft, nsoft == 1 ? "" :
		    "s", first->address, r);
		free(r);
	}
	agent_txn_keep(t, keep);
	free(keep);
	if (j->conn != NULL && smtp_conn_is_open(j->conn))
		smtp_conn_quit(&j->conn);
	else
		smtp_conn_free(&j->conn);
	j->conn = NULL;
	log_info("%s: %s; trying the %s", j->req->queue_id, j->f.text !=
	    NULL ? j->f.text : "deferred", job_more_here(j) ? "next address" :
	    "fallback relays");
	job_advance(j);
	return true;
}

static void
on_sent(struct smtp_conn *c, void *ctx, int rc, struct lmtp_failure *f)
{
	struct smtp_job *j = ctx;

	(void)c;
	if (rc < 0)
		take_failure(j, f);
	if (job_soft_retry(j))
		return;
	job_target_free(j);
	set_answers(j, NULL);
	if (j->f.kind != LMTP_FAIL_NONE)
		agent_txn_set_failure(j->res, "smtp", &j->f);
	if (j->conn != NULL && smtp_conn_is_open(j->conn)) {
		if (cache_wanted(j->st, j->text, &j->nh))
			cache_put(j->st, j->conn, j->key, j->relay,
			    j->peer_dsn);
		else
			smtp_conn_quit(&j->conn);
		j->conn = NULL;
	}
	job_end(j);
}

/* job_send - the transaction on j->conn (open, reset if it was used). */
static void
job_send(struct smtp_job *j)
{
	j->tried = true;
	smtp_conn_send(j->conn, &j->t.mail, j->t.rc, j->t.n, on_sent, j);
}

/* log_tls - the "TLS connection established" line. */
static void
log_tls(const char *peer, const struct smtp_conn *c)
{
	const struct tls_client_info *ti = smtp_conn_tls(c);

	if (ti == NULL || !ti->active)
		return;
	log_info("%s TLS connection established to %s: %s with cipher %s "
	    "(%d/%d bits)%s", ti->trust, peer, ti->protocol, ti->cipher,
	    ti->bits, ti->alg_bits, ti->resumed ? " (resumed)" : "");
}

static void job_connect(struct smtp_job *j);

/*
 * job_loops_back - the server just opened answered EHLO with our own
 * myhostname: the mail would come back here.  From the best MX host
 * (or a next hop without MX), every recipient bounces (5.4.6), as in
 * Postfix; from a less preferred one, the next address is tried (a
 * deferral if none is left).
 */
static void
job_loops_back(struct smtp_job *j)
{
	const struct smtp_target *tg = &j->plan.t[j->ti];
	bool best = !j->mx_mode || strcasecmp(tg->host, j->hosts[0]) == 0;

	log_warning("host %s replied to EHLO with my own hostname %s",
	    j->peer, j->st->myhostname);
	smtp_conn_free(&j->conn);
	if (best) {
		agent_set_all(j->res, DELIVER_BOUNCE, "5.4.6", NULL, "mail for "
		    "%s loops back to myself (the server %s answers with this "
		    "host's own name, myhostname = %s: is the domain missing "
		    "from mydestination or the virtual domains?)", j->text,
		    j->peer, j->st->myhostname);
		job_end(j);
		return;
	}
	lmtp_failure_deinit(&j->f);
	j->f.kind = LMTP_FAIL_CONNECT;
	j->f.text = xasprintf("mail for %s loops back to myself (the server "
	    "%s answers with my own name %s)", j->text, j->peer,
	    j->st->myhostname);
	job_next(j);
}

static void
on_open(struct smtp_conn *c, void *ctx, int rc, struct lmtp_failure *f)
{
	struct smtp_job *j = ctx;
	const struct smtp_target *tg = &j->plan.t[j->ti];

	if (rc < 0) {
		/* Never in plaintext to an implicit-TLS port. */
		bool tls_retry = f->kind == LMTP_FAIL_TLS && j->pol.level ==
		    TLS_LEV_MAY && !j->plaintext_retry && !j->st->wrapper;

		take_failure(j, f);
		smtp_conn_free(&j->conn);
		if (tls_retry) {
			log_info("%s: %s; trying again without TLS "
			    "(opportunistic TLS, smtp_tls_security_level = "
			    "may)", j->peer, j->f.text != NULL ? j->f.text :
			    "TLS failed");
			j->set.tls = NULL;
			j->plaintext_retry = true;
			job_connect(j);
			return;
		}
		job_next(j);
		return;
	}
	log_tls(j->peer, c);
	j->sessions++;
	if (strcasecmp(smtp_conn_caps(c)->name, j->st->myhostname) == 0) {
		job_loops_back(j);
		return;
	}
	j->peer_dsn = smtp_conn_caps(c)->dsn;
	if (j->pol.level == TLS_LEV_NONE && j->st->note_starttls &&
	    smtp_conn_caps(c)->starttls)
		log_info("Host offered STARTTLS: [%s]", tg->host);
	(void)snprintf(j->relay, sizeof(j->relay), "%s", j->peer);
	job_send(j);
}

static void
job_connect(struct smtp_job *j)
{
	lmtp_failure_deinit(&j->f);
	j->conn = smtp_conn_new(j->st->base, &j->set);
	smtp_conn_open(j->conn, j->dest, on_open, j);
}

/* job_tls_ready - j->pol is complete: check the TLS context, set up the
 * connection settings and connect. */
static void
job_tls_ready(struct smtp_job *j)
{
	struct smtp_agent *st = j->st;

	if (j->pol.level != TLS_LEV_NONE) {
		if (!st->tls_loaded)
			load_tls(st);
		if (st->tls_ctx == NULL) {
			lmtp_failure_deinit(&j->f);
			j->f.kind = LMTP_FAIL_TLS;
			j->f.stage = LMTP_STAGE_CONNECT;
			j->f.text = xasprintf("TLS to %s is wanted (%s) but "
			    "cannot be set up: %s", j->peer,
			    tls_level_name(j->pol.level), st->tls_error !=
			    NULL ? st->tls_error : "no context");
			(void)snprintf(j->f.dsn, sizeof(j->f.dsn), "4.7.5");
			job_next(j);
			return;
		}
	}
	j->set = st->set;
	j->set.peer_name = j->peer;
	j->set.tls_ctx = st->tls_ctx;
	j->set.tls = j->pol.level != TLS_LEV_NONE ? &j->pol : NULL;
	j->set.tls_wrapper = st->wrapper;
	if (j->ha.user != NULL) {
		j->set.auth_user = j->ha.user;
		j->set.auth_pass = j->ha.pass;
		j->set.auth_plaintext_ok = st->sasl_plain_ok;
		j->set.auth_mech_deny = st->sasl_mech_deny;
		j->set.auth_mech_filter = st->sasl_mech_filter;
	}
	j->plaintext_retry = false;
	job_connect(j);
}

/* tls_target_fail - this address cannot be used with its TLS policy. */
static void
tls_target_fail(struct smtp_job *j, char *why)
{
	lmtp_failure_deinit(&j->f);
	j->f.kind = LMTP_FAIL_TLS;
	j->f.stage = LMTP_STAGE_CONNECT;
	j->f.text = xasprintf("%s: %s", j->peer, why);
	(void)snprintf(j->f.dsn, sizeof(j->f.dsn), "4.7.5");
	free(why);
	job_next(j);
}

/* job_level - the level and names of j->pol (after any TLSA answer). */
static void
job_level(struct smtp_job *j, enum tls_client_level lev)
{
	const struct smtp_target *tg = &j->plan.t[j->ti];

	j->pol.level = lev;
	if (lev == TLS_LEV_VERIFY || lev == TLS_LEV_SECURE) {
		const char *list = j->hp.match != NULL ? j->hp.match :
		    lev == TLS_LEV_VERIFY ? j->st->verify_match :
		    j->st->secure_match;

		j->names = smtp_match_names(list, tg->host, j->nh.host);
		j->pol.match = (const char *const *)j->names;
		for (size_t i = 0; j->names[i] != NULL; i++)
			j->pol.nmatch++;
	} else if (lev == TLS_LEV_FINGERPRINT) {
		j->names = smtp_match_fingerprints(j->hp.match != NULL ?
		    j->hp.match : j->st->fprint_match);
		j->pol.match = (const char *const *)j->names;
		for (size_t i = 0; j->names[i] != NULL; i++)
			j->pol.nmatch++;
	}
	/* SNI: with DANE the TLSA base domain (the MX host), whatever
	 * smtp_tls_servername says; else as it says ("hostname": the MX
	 * host, "nexthop": the next-hop domain, or a fixed name); without
	 * it, the MX host at the levels that check the name. */
	if (j->nh.is_ip)
		;
	else if (lev == TLS_LEV_DANE || lev == TLS_LEV_DANE_ONLY)
		j->pol.sni = tg->host;
	else if (strcasecmp(j->st->servername, "hostname") == 0)
		j->pol.sni = tg->host;
	else if (strcasecmp(j->st->servername, "nexthop") == 0)
		j->pol.sni = j->nh.host;
	else if (j->st->servername[0] != '\0')
		j->pol.sni = j->st->servername;
	else if (lev >= TLS_LEV_DANE)
		j->pol.sni = tg->host;
	if (j->st->session_timeout > 0) {
		(void)snprintf(j->tls_key, sizeof(j->tls_key), "%s|%s|%s",
		    j->peer, j->pol.sni != NULL ? j->pol.sni : "",
		    tls_level_name(lev));
		j->pol.session_key = j->tls_key;
	}
	job_tls_ready(j);
}

static void
on_tlsa(struct dns_result *r, void *ctx)
{
	struct smtp_job *j = ctx;
	const struct smtp_target *tg = &j->plan.t[j->ti];
	enum tls_client_level lev = j->hp.level;

	if (r->status == DNS_TEMPFAIL || r->status == DNS_BOGUS) {
		char *why = xasprintf("TLSA lookup of %s failed: %s", r->qname,
		    r->error != NULL ? r->error : dns_status_name(r->status));

		dns_result_free(&r);
		tls_target_fail(j, why);
		return;
	}
	if (r->status == DNS_OK && r->secure) {
		j->tlsa = r;
		j->pol.tlsa = r->rrs;
		j->pol.ntlsa = r->n;
		j->pol.dane_base = tg->host;
	} else {
		char *why = lev == TLS_LEV_DANE_ONLY ? xasprintf("dane-only: "
		    "%s has no DNSSEC-secure TLSA record", r->qname) : NULL;

		dns_result_free(&r);
		if (why != NULL) {
			tls_target_fail(j, why);
			return;
		}
		lev = TLS_LEV_MAY;
	}
	job_level(j, lev);
}

/* job_try - the next address of the plan: its TLS policy (with a TLSA
 * lookup for DANE), then connect. */
static void
job_try(struct smtp_job *j)
{
	struct smtp_agent *st = j->st;
	const struct smtp_target *tg;
	enum tls_client_level lev = j->hp.level;

	if (j->ti >= j->plan.n) {
		job_none_took(j);
		return;
	}
	tg = &j->plan.t[j->ti];
	/* Postfix's form, also for an address next hop: "IP[IP]:port". */
	(void)snprintf(j->peer, sizeof(j->peer), "%s[%s]:%s", tg->host,
	    tg->addr, j->nh.port);
	(void)snprintf(j->dest, sizeof(j->dest), "[%s]:%s", tg->addr,
	    j->nh.port);
	job_target_free(j);
	if (lev == TLS_LEV_DANE || lev == TLS_LEV_DANE_ONLY) {
		bool usable = st->dnssec && st->dns != NULL &&
		    dns_resolver_validates(st->dns) && !j->nh.is_ip;

		if (!usable) {
			lev = lev == TLS_LEV_DANE ? TLS_LEV_MAY :
			    TLS_LEV_ENCRYPT;
		} else if (!tg->dnssec) {
			/* The host was not found through secure DNS: no
			 * DANE for it (RFC 7672 2.2.2). */
			if (lev == TLS_LEV_DANE_ONLY) {
				tls_target_fail(j, xasprintf("dane-only: the "
				    "address of %s was not found through "
				    "DNSSEC-secure DNS, so its TLSA records "
				    "cannot be used", tg->host));
				return;
			}
			lev = TLS_LEV_MAY;
		} else {
			char qname[DNS_NAME_MAX + SMTP_PORT_MAX_BYTES + 8];
			const char *port = j->nh.port, *err = NULL;
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
			if (dns_lookup(st->dns, qname, DNS_T_TLSA, on_tlsa, j,
			    &err) == NULL)
				tls_target_fail(j, xasprintf("TLSA lookup of "
				    "%s failed: %s", qname, err != NULL ? err :
				    "not started"));
			return;
		}
	}
	job_level(j, lev);
}

/* ---- smtp_header_checks and the others ---- */

struct check_ctx {
	struct smtp_job *j;
	bool overflow;
};

static int
checked_lookup(void *ctx, enum hbc_class cls, const char *key, size_t keylen,
    struct buf *value, char *err, size_t errsz)
{
	struct check_ctx *cc = ctx;

	return hbc_tables_lookup(&cc->j->st->hbc, cls, key, keylen, value,
	    err, errsz);
}

static void
checked_out(void *ctx, const char *data, size_t len)
{
	struct check_ctx *cc = ctx;

	if (buf_append(&cc->j->checked, data, len) < 0)
		cc->overflow = true;
}

/* Postfix logs what the checks did as "ID: ACTION: header TEXT: why". */
static void
checked_log(void *ctx, const struct hbc_event *ev)
{
	struct check_ctx *cc = ctx;
	char content[200 * 4 + 8], text[HBC_TEXT_MAX_BYTES * 4 + 8];

	log_escape(content, sizeof(content), ev->content, ev->content_len,
	    200);
	log_escape(text, sizeof(text), ev->text, strlen(ev->text),
	    HBC_TEXT_MAX_BYTES);
	log_info("%s: %s: %s %s%s%s", cc->j->req->queue_id, ev->action,
	    ev->cls == HBC_BODY ? "body" : "header", content,
	    text[0] != '\0' ? ": " : "", text);
}

static void
checked_warn(void *ctx, enum hbc_class cls, const char *msg)
{
	struct check_ctx *cc = ctx;
	char shown[HBC_TEXT_MAX_BYTES * 4 + 1024];

	(void)cls;
	log_escape(shown, sizeof(shown), msg, strlen(msg), sizeof(shown) / 4);
	log_warning("%s: %s", cc->j->req->queue_id, shown);
}

/*
 * run_checks - the message through smtp_*_checks on its way out: the
 * changed text goes in j->checked, and the transaction sends it.  Only
 * the actions that change the text or log work here (REPLACE, PREPEND,
 * IGNORE, WARN, INFO, DUNNO, OK), as in Postfix; one that would change
 * the delivery is logged and ignored (hbc_config.delivery_only).  -1
 * when the delivery must wait (a table that failed or never opened:
 * every recipient deferred).
 */
static int
run_checks(struct smtp_job *j, const struct deliver_msg *msg)
{
	struct smtp_agent *st = j->st;
	struct hbc_callbacks cb;
	struct check_ctx cc = { j, false };
	const struct hbc_result *r;
	struct hbc *h;
	int rc = 0;

	if (st->hbc.broken) {
		agent_set_all(j->res, DELIVER_DEFER, "4.3.0", NULL, "%s",
		    st->hbc.broken_why);
		return -1;
	}
	buf_init(&j->checked, msg->len + 2 * (size_t)st->hbc.cfg.header_limit +
	    64 * 1024);
	j->have_checked = true;
	memset(&cb, 0, sizeof(cb));
	cb.lookup = checked_lookup;
	cb.out = checked_out;
	cb.log = checked_log;
	cb.warn = checked_warn;
	cb.ctx = &cc;
	h = hbc_new(&st->hbc.cfg, &cb);
	hbc_feed(h, msg->content, msg->len);
	hbc_finish(h);
	r = hbc_result(h);
	if (r->verdict == HBC_FAILED) {
		agent_set_all(j->res, DELIVER_DEFER, "4.3.0", NULL, "smtp "
		    "header/body checks: table lookup failed: %s", r->text);
		rc = -1;
	} else if (cc.overflow) {
		agent_set_all(j->res, DELIVER_DEFER, "4.3.0", NULL, "smtp "
		    "header/body checks made the message too large");
		rc = -1;
	} else {
		j->t.mail.content = j->checked.data;
		j->t.mail.len = j->checked.len;
	}
	hbc_free(&h);
	return rc;
}

/* ---- the agent ---- */

static void on_generic(void *ctx, const char *why);
static void job_start(struct smtp_job *j);

static void
smtp_deliver(struct agent_ctx *a, const struct deliver_req *req,
    const struct deliver_msg *msg, struct agent_results *res,
    struct agent_job *aj)
{
	struct smtp_agent *st = &smtp_agent;
	struct smtp_job *j = xcalloc(1, sizeof(*j));

	load(a);
	if (st->base == NULL)
		st->base = a->base;
	j->st = st;
	j->aj = aj;
	j->req = req;
	j->res = res;
	j->text = xstrdup(req->nexthop != NULL && req->nexthop[0] != '\0' ?
	    req->nexthop : first_domain(req));
	j->hp.level = st->level;
	agent_txn_init(&j->t, req, msg, res, "SMTP", st->send_xforward);
	if (j->t.n == 0 || (st->hbc.active && run_checks(j, msg) < 0)) {
		job_end(j);
		return;
	}
	if (st->generic) {
		j->gen = agent_generic_start(lookups(st), st->route_service,
		    req->queue_id, &j->t, on_generic, j);
		return;
	}
	job_start(j);
}

/* on_generic - smtp_generic_maps is done (agent_generic.h). */
static void
on_generic(void *ctx, const char *why)
{
	struct smtp_job *j = ctx;

	if (why != NULL) {
		agent_set_all(j->res, DELIVER_DEFER, "4.3.0", NULL, "%s", why);
		job_end(j);
		return;
	}
	job_start(j);
}

/* job_start - the transaction is ready: the next hop, then the policy
 * and authentication tables, then the plan. */
static void
job_start(struct smtp_job *j)
{
	struct smtp_agent *st = j->st;
	struct agent_results *res = j->res;
	const struct deliver_req *req = j->req;
	const char *err = NULL;

	if (smtp_nexthop_parse(j->text, st->tcp_port, &j->nh, &err) < 0) {
		agent_set_all(res, DELIVER_DEFER, "4.3.5", NULL, "bad next hop "
		    "\"%s\" of transport %s: %s", j->text, req->transport,
		    err);
		job_end(j);
		return;
	}
	if (st->policy_maps[0] != '\0') {
		map_find(j, st->policy_maps, false, on_policy);
		return;
	}
	job_auth(j);
}

const struct agent_def agent_smtp = {
	.command = "smtp",
	.setup = smtp_setup,
	.deliver_async = smtp_deliver,
	.idle = smtp_idle,
	.verifies = true,
};
