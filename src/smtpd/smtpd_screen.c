/* SPDX-License-Identifier: MIT */
/*
 * smtpd_screen - postscreen's tests in the smtpd process; see
 * smtpd_screen.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/event.h>

#include "compat.h"
#include "dns.h"
#include "dnsbl.h"
#include "lookup_client.h"
#include "log.h"
#include "peer_match.h"
#include "screen_cache.h"
#include "smtpd_check.h"
#include "smtpd_dns.h"
#include "smtpd_screen.h"
#include "smtpd_session.h"
#include "strv.h"
#include "xalloc.h"

enum screen_action { ACT_IGNORE, ACT_ENFORCE, ACT_DROP };

static const char *const action_names[] = { "ignore", "enforce", "drop" };

/* One zone asked per client (sites naming the same zone share it). */
struct zone {
	char *name;
};

static struct {
	bool on;
	char *broken;			/* why every client gets 421 */
	char **access;			/* postscreen_access_list */
	struct dnsbl_site *sites;
	size_t nsites;
	struct zone *zones;
	size_t nzones;
	long long threshold, allow_threshold;
	enum screen_action greet_action, dnsbl_action, deny_action;
	const char *banner;		/* "" = no teaser */
	long long greet_wait_ms, dnsbl_timeout_ms;
	long long greet_ttl, dnsbl_min_ttl, dnsbl_max_ttl;	/* seconds */
	const char *reply_map;		/* "" = none */
	long long clean_every, retention;	/* seconds */
	struct event *clean_ev;
	/* the tests after the greeting: on, and their actions */
	bool deep_on[3];
	enum screen_action deep_action[3];
} sc;

/* ---------------------------------------------------------------- */
/* Settings                                                          */

static enum screen_action
action_of(const char *word)
{
	for (int i = 0; i < 3; i++)
		if (strcasecmp(word, action_names[i]) == 0)
			return (enum screen_action)i;
	return ACT_IGNORE;	/* the schema allows nothing else */
}

/* legacy - is only the legacy name old_name of parameter id set? Then
 * its value counts. */
static bool
legacy(const struct config_view *v, enum param_id id, const char *old_name)
{
	const char *origin = NULL, *norigin = NULL;

	(void)config_raw(v, old_name, &origin);
	(void)config_raw(v, config_params[id].name, &norigin);
	return origin != NULL && strcmp(origin, "default") != 0 &&
	    (norigin == NULL || strcmp(norigin, "default") == 0);
}

static void
set_broken(const char *fmt, ...) ATTR_FORMAT(1, 2);

static void
set_broken(const char *fmt, ...)
{
	va_list ap;
	char *text;

	va_start(ap, fmt);
	text = xvasprintf(fmt, ap);
	va_end(ap);
	log_error("postscreen: %s; every client of this service gets 421 "
	    "4.3.0 until it is fixed", text);
	if (sc.broken == NULL)
		sc.broken = text;
	else
		free(text);
}

static size_t
vlen(char **v)
{
	size_t n = 0;

	while (v[n] != NULL)
		n++;
	return n;
}

static void
read_sites(const struct config_view *v)
{
	char **l = config_list(v, P_postscreen_dnsbl_sites);
	size_t n = vlen(l);
	char err[512];

	if (n > DNSBL_SITES_MAX) {
		set_broken("postscreen_dnsbl_sites names %zu sites, more than "
		    "the %d Ostia asks per client", n, DNSBL_SITES_MAX);
		n = 0;
	}
	sc.sites = xcalloc(n + 1, sizeof(*sc.sites));
	sc.zones = xcalloc(n + 1, sizeof(*sc.zones));
	for (size_t i = 0; i < n; i++) {
		struct dnsbl_site *site = &sc.sites[sc.nsites];
		size_t z;

		if (dnsbl_site_parse(l[i], site, err, sizeof(err)) < 0) {
			set_broken("postscreen_dnsbl_sites: %s", err);
			continue;
		}
		sc.nsites++;
		for (z = 0; z < sc.nzones; z++)
			if (strcasecmp(sc.zones[z].name, site->zone) == 0)
				break;
		if (z == sc.nzones)
			sc.zones[sc.nzones++].name = xstrdup(site->zone);
	}
	strv_free(&l);
}

/* access_word_ok - an element of postscreen_access_list or of a value
 * its tables give ("permit", "reject", "dunno", "permit_mynetworks"). */
static bool
access_word_ok(const char *w)
{
	return strcasecmp(w, "permit") == 0 || strcasecmp(w, "reject") == 0 ||
	    strcasecmp(w, "dunno") == 0 ||
	    strcasecmp(w, "permit_mynetworks") == 0;
}

static void
read_access(const struct config_view *v)
{
	sc.access = config_list(v, P_postscreen_access_list);
	for (size_t i = 0; sc.access[i] != NULL; i++) {
		const char *e = sc.access[i];

		if (access_word_ok(e) || (strchr(e, ':') != NULL &&
		    e[0] != ':'))
			continue;
		set_broken("postscreen_access_list: \"%s\" is neither "
		    "permit_mynetworks, permit, reject, dunno nor a table "
		    "(such as cidr:/etc/postfix/postscreen_access.cidr)", e);
	}
}

static void
on_clean(evutil_socket_t fd, short what, void *arg)
{
	size_t gone;

	(void)fd;
	(void)what;
	(void)arg;
	gone = screen_cache_clean(time(NULL), (time_t)sc.retention);
	log_debug(1, "postscreen: cache %s: removed %zu entries that expired "
	    "over postscreen_cache_retention_time ago",
	    screen_cache_where(), gone);
}

void
smtpd_screen_init(const struct config_view *v)
{
	if (v == NULL)
		return;
	memset(&sc, 0, sizeof(sc));
	sc.on = true;
	read_access(v);
	read_sites(v);
	sc.threshold = config_int(v, P_postscreen_dnsbl_threshold);
	sc.allow_threshold = config_int(v, legacy(v,
	    P_postscreen_dnsbl_allowlist_threshold,
	    "postscreen_dnsbl_whitelist_threshold") ?
	    P_postscreen_dnsbl_whitelist_threshold :
	    P_postscreen_dnsbl_allowlist_threshold);
	sc.greet_action = action_of(config_str(v, P_postscreen_greet_action));
	sc.dnsbl_action = action_of(config_str(v, P_postscreen_dnsbl_action));
	sc.deny_action = action_of(config_str(v, legacy(v,
	    P_postscreen_denylist_action, "postscreen_blacklist_action") ?
	    P_postscreen_blacklist_action : P_postscreen_denylist_action));
	sc.banner = config_str(v, P_postscreen_greet_banner);
	sc.greet_wait_ms = config_time(v, P_postscreen_greet_wait) * 1000;
	sc.dnsbl_timeout_ms = config_time(v, P_postscreen_dnsbl_timeout) *
	    1000;
	sc.greet_ttl = config_time(v, P_postscreen_greet_ttl);
	sc.dnsbl_min_ttl = config_time(v, P_postscreen_dnsbl_min_ttl);
	sc.dnsbl_max_ttl = config_time(v, legacy(v, P_postscreen_dnsbl_max_ttl,
	    "postscreen_dnsbl_ttl") ? P_postscreen_dnsbl_ttl :
	    P_postscreen_dnsbl_max_ttl);
	if (sc.dnsbl_min_ttl > sc.dnsbl_max_ttl)
		sc.dnsbl_min_ttl = sc.dnsbl_max_ttl;
	sc.reply_map = config_str(v, P_postscreen_dnsbl_reply_map);
	if (strchr(sc.banner, '\r') != NULL || strchr(sc.banner, '\n') !=
	    NULL)
		set_broken("postscreen_greet_banner holds a line break");
	if (sc.nzones > 0 && sc.threshold > 0) {
		long long most = 0;

		for (size_t i = 0; i < sc.nsites; i++)
			if (sc.sites[i].weight > 0)
				most += sc.sites[i].weight;
		if (most < sc.threshold)
			log_warning("postscreen: the weights of "
			    "postscreen_dnsbl_sites add up to %lld at most, "
			    "below postscreen_dnsbl_threshold (%lld): no "
			    "client can reach it", most, sc.threshold);
	}
	sc.deep_on[SCREEN_PIPELINING] = config_bool(v,
	    P_postscreen_pipelining_enable);
	sc.deep_action[SCREEN_PIPELINING] = action_of(config_str(v,
	    P_postscreen_pipelining_action));
	sc.deep_on[SCREEN_NON_SMTP] = config_bool(v,
	    P_postscreen_non_smtp_command_enable);
	sc.deep_action[SCREEN_NON_SMTP] = action_of(config_str(v,
	    P_postscreen_non_smtp_command_action));
	sc.deep_on[SCREEN_BARE_NEWLINE] = config_bool(v,
	    P_postscreen_bare_newline_enable);
	sc.deep_action[SCREEN_BARE_NEWLINE] = action_of(config_str(v,
	    P_postscreen_bare_newline_action));
	sc.clean_every = config_time(v, P_postscreen_cache_cleanup_interval);
	sc.retention = config_time(v, P_postscreen_cache_retention_time);
	if (sc.clean_every > 0) {
		struct timeval tv = { (time_t)sc.clean_every, 0 };

		sc.clean_ev = event_new(smtpd_base, -1, EV_PERSIST, on_clean,
		    NULL);
		if (sc.clean_ev == NULL)
			log_fatal("cannot create an event: out of memory");
		event_add(sc.clean_ev, &tv);
	}
	log_debug(1, "postscreen: clients that pass are remembered in %s",
	    screen_cache_where());
	log_debug(1, "postscreen: %zu access list elements, %zu DNSBL sites "
	    "in %zu zones, threshold %lld, greet wait %lld ms",
	    vlen(sc.access), sc.nsites, sc.nzones, sc.threshold,
	    sc.greet_wait_ms);
}

void
smtpd_screen_preinit(const struct config_view *v)
{
	char err[512];

	if (v == NULL)
		return;
	if (screen_cache_open(config_str(v, P_postscreen_cache_map), err,
	    sizeof(err)) < 0)
		log_warning("postscreen_cache_map: %s; the clients that pass "
		    "are remembered in this process's memory instead (a "
		    "restart forgets them)", err);
}

bool
smtpd_screen_on(void)
{
	return sc.on;
}

/* ---------------------------------------------------------------- */
/* A session's tests                                                 */

struct zstate {
	struct smtpd_screen *st;
	struct smtpd_dns_req *req;
	bool answered;			/* an answer (listed or not) */
	bool failed;			/* no usable answer */
	uint32_t addrs[DNS_ANSWER_MAX];
	size_t n;
	uint32_t ttl;
	char error[400];
};

struct smtpd_screen {
	struct session *s;
	void (*done)(struct session *);
	uint64_t start_ms;
	char who[INET6_ADDRSTRLEN + 16];	/* "[addr]:port" */
	/* access list */
	size_t acl_i;
	struct lookup_request *acl_req;
	bool denied;
	/* greeting and DNSBL tests */
	struct event *timer;
	struct event *rev;
	bool waited;			/* greet wait over */
	bool pregreet;
	struct zstate *zs;
	size_t pending;			/* zones not answered */
	/* verdict */
	struct lookup_request *map_req;
	char *reply;			/* for RCPT (enforce) */
	char *drop;			/* instead of the greeting */
	char *zone_shown;		/* the zone the reply names */
};

/* The session's state is kept in s->screen (smtpd_session.h). */

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static double
elapsed(const struct smtpd_screen *st)
{
	return (double)(mono_ms() - st->start_ms) / 1000.0;
}

static void
screen_free(struct smtpd_screen *st)
{
	if (st == NULL)
		return;
	if (st->acl_req != NULL)
		lookup_client_cancel(st->acl_req);
	if (st->map_req != NULL)
		lookup_client_cancel(st->map_req);
	for (size_t i = 0; st->zs != NULL && i < sc.nzones; i++)
		smtpd_dns_cancel(&st->zs[i].req);
	free(st->zs);
	if (st->timer != NULL)
		event_free(st->timer);
	if (st->rev != NULL)
		event_free(st->rev);
	free(st->reply);
	free(st->drop);
	free(st->zone_shown);
	free(st);
}

void
smtpd_screen_session_end(struct session *s)
{
	screen_free(s->screen);
	s->screen = NULL;
}

/* finish - the tests are over: the session goes on (done), or ends
 * with st->drop as its only reply. */
static void
finish(struct smtpd_screen *st)
{
	struct session *s = st->s;
	void (*done)(struct session *) = st->done;

	if (st->drop != NULL) {
		char junk[4096];

		/* What the client sent early is read and dropped: a close
		 * with unread input would be a reset, which can destroy the
		 * reply before the client reads it. */
		for (int i = 0; i < 16; i++)
			if (recv(s->fd, junk, sizeof(junk), MSG_DONTWAIT) <= 0)
				break;
		smtpd_reply(s, "%s", st->drop);
		s->state = SS_QUIT;
		smtpd_screen_session_end(s);
		return;
	}
	if (st->reply != NULL) {
		s->screen_reply = st->reply;
		st->reply = NULL;
	}
	smtpd_screen_session_end(s);
	done(s);
}

/* fail_closed - a test could not be made: 421 before any greeting. */
static void
fail_closed(struct smtpd_screen *st, const char *why)
{
	log_warning("postscreen: %s: %s; the client gets 421 4.3.0 (try "
	    "again later)", st->who, why);
	st->drop = xasprintf("421 4.3.0 %s Server configuration problem, "
	    "try again later", smtpd_cfg.myhostname);
	finish(st);
}

/* apply - a failed test's action: the reply it gives (reply for RCPT
 * with enforce, drop instead of the greeting with drop). */
static void
apply(struct smtpd_screen *st, enum screen_action a, const char *enforce,
    const char *drop)
{
	if (a == ACT_DROP && st->drop == NULL)
		st->drop = xstrdup(drop);
	else if (a == ACT_ENFORCE && st->reply == NULL)
		st->reply = xstrdup(enforce);
}

static void tests_begin(struct smtpd_screen *st);

/* ---- 1. the access list -------------------------------------------- */

static void acl_next(struct smtpd_screen *st);

/* acl_word - one element's verdict: 1 permit, -1 reject, 0 go on. */
static int
acl_word(struct smtpd_screen *st, const char *w)
{
	if (strcasecmp(w, "permit") == 0)
		return 1;
	if (strcasecmp(w, "reject") == 0)
		return -1;
	if (strcasecmp(w, "permit_mynetworks") == 0)
		return smtpd_cfg.mynetworks != NULL &&
		    peer_list_match(smtpd_cfg.mynetworks, NULL,
		    st->s->addr) == 1 ? 1 : 0;
	return 0;
}

/* acl_decided - permit (1), reject (-1) or nothing listed (0). */
static void
acl_decided(struct smtpd_screen *st, int verdict, const char *where)
{
	if (verdict > 0) {
		log_info("ALLOWLISTED %s (%s in postscreen_access_list)",
		    st->who, where);
		finish(st);
		return;
	}
	if (verdict < 0) {
		char enforce[128], drop[128];

		st->denied = true;
		log_info("DENYLISTED %s (%s in postscreen_access_list); "
		    "postscreen_denylist_action is %s", st->who, where,
		    action_names[sc.deny_action]);
		snprintf(enforce, sizeof(enforce), "550 5.3.2 Service "
		    "currently unavailable");
		snprintf(drop, sizeof(drop), "521 5.3.2 %s Service currently "
		    "unavailable", smtpd_cfg.myhostname);
		apply(st, sc.deny_action, enforce, drop);
		if (st->drop != NULL) {
			finish(st);
			return;
		}
	}
	tests_begin(st);
}

static void
on_acl_answer(void *ctx, enum dict_status status, const char *text,
    size_t len)
{
	struct smtpd_screen *st = ctx;
	const char *table = sc.access[st->acl_i];
	char **words;
	int verdict = 0;

	st->acl_req = NULL;
	(void)len;
	if (status == DICT_TEMPFAIL) {
		char why[512];

		snprintf(why, sizeof(why), "postscreen_access_list table %s "
		    "failed: %s", table, text);
		fail_closed(st, why);
		return;
	}
	if (status == DICT_NOTFOUND) {
		st->acl_i++;
		acl_next(st);
		return;
	}
	words = config_split_list(text);
	for (size_t i = 0; words[i] != NULL && verdict == 0; i++) {
		if (!access_word_ok(words[i])) {
			char why[512];

			snprintf(why, sizeof(why), "postscreen_access_list "
			    "table %s gives \"%.100s\" for %s, which is "
			    "not permit, reject, dunno or permit_mynetworks",
			    table, words[i], st->s->addr);
			strv_free(&words);
			fail_closed(st, why);
			return;
		}
		verdict = acl_word(st, words[i]);
	}
	strv_free(&words);
	if (verdict != 0) {
		acl_decided(st, verdict, table);
		return;
	}
	st->acl_i++;
	acl_next(st);
}

static void
acl_next(struct smtpd_screen *st)
{
	for (; sc.access[st->acl_i] != NULL; st->acl_i++) {
		const char *e = sc.access[st->acl_i];
		int verdict;

		if (!access_word_ok(e)) {
			st->acl_req = lookup_client_get(
			    smtpd_check_lookup_client(), e, st->s->addr, 0,
			    on_acl_answer, st);
			return;
		}
		verdict = acl_word(st, e);
		if (verdict != 0) {
			acl_decided(st, verdict, e);
			return;
		}
	}
	acl_decided(st, 0, NULL);
}

/* ---- 2. and 3. the cache, the greeting and the DNSBLs -------------- */

static void verdict(struct smtpd_screen *st);

/* score - the sum of the weights of the sites that list the client;
 * *unknown_r: the positive weights of sites whose zone gave no answer. */
static long long
score(const struct smtpd_screen *st, long long *unknown_r,
    const char **top_r)
{
	long long sum = 0, unknown = 0;
	int top = 0;

	*top_r = NULL;
	for (size_t i = 0; i < sc.nsites; i++) {
		const struct dnsbl_site *site = &sc.sites[i];
		const struct zstate *z = NULL;

		for (size_t k = 0; k < sc.nzones; k++)
			if (strcasecmp(sc.zones[k].name, site->zone) == 0)
				z = &st->zs[k];
		if (z == NULL)
			continue;
		if (!z->answered) {
			if (site->weight > 0)
				unknown += site->weight;
			continue;
		}
		if (!dnsbl_site_lists(site, z->addrs, z->n))
			continue;
		sum += site->weight;
		if (site->weight > top) {
			top = site->weight;
			*top_r = site->zone;
		}
	}
	*unknown_r = unknown;
	return sum;
}

/* listed_by - "zone (weight), ..." of the sites that list the client. */
static void
listed_by(const struct smtpd_screen *st, char *out, size_t size)
{
	size_t off = 0;

	out[0] = '\0';
	for (size_t i = 0; i < sc.nsites && off < size; i++) {
		const struct dnsbl_site *site = &sc.sites[i];

		for (size_t k = 0; k < sc.nzones; k++) {
			const struct zstate *z = &st->zs[k];

			if (strcasecmp(sc.zones[k].name, site->zone) != 0 ||
			    !z->answered ||
			    !dnsbl_site_lists(site, z->addrs, z->n))
				continue;
			off += (size_t)snprintf(out + off, size - off,
			    "%s%s (%+d)", off > 0 ? ", " : "", site->zone,
			    site->weight);
		}
	}
}

/* all_answered_allowlisted - every zone answered and the score is at
 * or below a (negative) postscreen_dnsbl_allowlist_threshold. */
static bool
allowlisted(const struct smtpd_screen *st, long long *sum_r)
{
	long long unknown;
	const char *top;

	if (sc.allow_threshold >= 0 || st->pending > 0)
		return false;
	*sum_r = score(st, &unknown, &top);
	return unknown == 0 && *sum_r <= sc.allow_threshold;
}

static void
on_dnsbl(struct dns_result *res, void *ctx)
{
	struct zstate *z = ctx;
	struct smtpd_screen *st = z->st;
	long long sum;

	z->req = NULL;
	st->pending--;
	if (res->status == DNS_OK) {
		z->answered = true;
		z->ttl = res->ttl;
		for (size_t i = 0; i < res->n && z->n < DNS_ANSWER_MAX; i++)
			if (res->rrs[i].type == DNS_T_A)
				z->addrs[z->n++] = ntohl(res->rrs[i].u.a.s_addr);
		if (dnsbl_answer_error(sc.zones[z - st->zs].name, z->addrs,
		    z->n, z->error, sizeof(z->error))) {
			z->answered = false;
			z->failed = true;
			z->n = 0;
		}
	} else if (res->status == DNS_NXDOMAIN || res->status == DNS_NODATA) {
		z->answered = true;
		z->ttl = res->ttl;
	} else {
		z->failed = true;
		snprintf(z->error, sizeof(z->error), "%s",
		    smtpd_dns_error(res));
	}
	dns_result_free(&res);
	if (st->waited && st->pending == 0) {
		verdict(st);
		return;
	}
	if (!st->pregreet && allowlisted(st, &sum)) {
		log_info("postscreen: %s: DNSBL score %lld is at or below "
		    "postscreen_dnsbl_allowlist_threshold (%lld): no wait for "
		    "the greeting", st->who, sum, sc.allow_threshold);
		st->waited = true;
		verdict(st);
	}
}

/* on_early_read - the client sent something (or closed) before the
 * greeting. */
static void
on_early_read(evutil_socket_t fd, short what, void *arg)
{
	struct smtpd_screen *st = arg;
	char peek[100], shown[4 * sizeof(peek) + 8];
	ssize_t n;

	(void)what;
	n = recv(fd, peek, sizeof(peek), MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		event_add(st->rev, NULL);
		return;
	}
	if (n <= 0) {
		struct session *s = st->s;

		log_info("HANGUP after %.1f from %s in tests before SMTP "
		    "handshake%s", elapsed(st), st->who,
		    st->pregreet ? " (it had talked before the greeting)" :
		    ": a client that gives up this early is usually a "
		    "scanner, or a sender whose timeout is shorter than "
		    "postscreen_greet_wait");
		s->state = SS_QUIT;
		smtpd_screen_session_end(s);
		smtpd_session_free(s);
		return;
	}
	if (!st->pregreet) {
		st->pregreet = true;
		log_info("PREGREET %zd after %.1f from %s: %s; it talked "
		    "before the greeting, as spam bots do; "
		    "postscreen_greet_action is %s", n, elapsed(st), st->who,
		    log_escape(shown, sizeof(shown), peek, (size_t)n,
		    sizeof(peek)), action_names[sc.greet_action]);
		apply(st, sc.greet_action, "550 5.5.1 Protocol error",
		    "521 5.5.1 Protocol error");
		/* drop: at once, as Postfix does; the DNSBLs do not matter
		 * any more. */
		if (st->drop != NULL) {
			finish(st);
			return;
		}
	}
	/* Watch for the client closing: once data waits, the socket stays
	 * readable, so look again only at the end of the wait. */
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct smtpd_screen *st = arg;
	uint64_t spent = mono_ms() - st->start_ms;

	(void)fd;
	(void)what;
	st->waited = true;
	if (st->pending > 0 && spent < (uint64_t)sc.dnsbl_timeout_ms) {
		struct timeval tv;
		uint64_t left = (uint64_t)sc.dnsbl_timeout_ms - spent;

		tv.tv_sec = (time_t)(left / 1000);
		tv.tv_usec = (suseconds_t)(left % 1000) * 1000;
		evtimer_add(st->timer, &tv);
		return;
	}
	verdict(st);
}

static void
tests_begin(struct smtpd_screen *st)
{
	struct session *s = st->s;
	struct timeval tv;

	if (!st->denied && screen_cache_get(s->addr) > time(NULL)) {
		log_info("PASS OLD %s", st->who);
		finish(st);
		return;
	}
	if (sc.banner[0] != '\0')
		smtpd_reply(s, "220-%s", sc.banner);
	st->zs = xcalloc(sc.nzones + 1, sizeof(*st->zs));
	if (sc.nzones > 0) {
		struct sockaddr_storage ss;
		bool ip = smtpd_session_sockaddr(s, &ss);

		for (size_t i = 0; i < sc.nzones; i++) {
			struct zstate *z = &st->zs[i];
			char qname[DNS_NAME_MAX];

			z->st = st;
			if (!ip || dns_rbl_name((struct sockaddr *)&ss,
			    sc.zones[i].name, qname, sizeof(qname)) < 0) {
				z->answered = true;	/* cannot be listed */
				continue;
			}
			st->pending++;
			z->req = smtpd_dns_lookup(qname, DNS_T_A, on_dnsbl, z);
		}
	}
	st->rev = event_new(smtpd_base, s->fd, EV_READ, on_early_read, st);
	st->timer = evtimer_new(smtpd_base, on_timer, st);
	if (st->rev == NULL || st->timer == NULL)
		log_fatal("cannot create an event: out of memory");
	event_add(st->rev, NULL);
	tv.tv_sec = (time_t)(sc.greet_wait_ms / 1000);
	tv.tv_usec = (suseconds_t)(sc.greet_wait_ms % 1000) * 1000;
	evtimer_add(st->timer, &tv);
}

/* ---- 4. the verdict ------------------------------------------------ */

static void dnsbl_reply(struct smtpd_screen *st, const char *shown);

static void
on_map_answer(void *ctx, enum dict_status status, const char *text,
    size_t len)
{
	struct smtpd_screen *st = ctx;

	st->map_req = NULL;
	(void)len;
	if (status == DICT_TEMPFAIL) {
		log_warning("postscreen: %s: postscreen_dnsbl_reply_map %s "
		    "failed: %s; the reply names the DNSBL itself", st->who,
		    sc.reply_map, text);
		dnsbl_reply(st, st->zone_shown);
		return;
	}
	dnsbl_reply(st, status == DICT_FOUND ? text : st->zone_shown);
}

/* dnsbl_reply - the listed client's reply, naming shown. */
static void
dnsbl_reply(struct smtpd_screen *st, const char *shown)
{
	char enforce[512], drop[512], clean[160];
	size_t n = 0;

	/* Table text goes to the client: printable ASCII only. */
	for (const char *p = shown; *p != '\0' && n + 1 < sizeof(clean); p++)
		clean[n++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
	clean[n] = '\0';
	snprintf(enforce, sizeof(enforce), "550 5.7.1 Service unavailable; "
	    "client [%s] blocked using %s", st->s->addr, clean);
	snprintf(drop, sizeof(drop), "521 5.7.1 Service unavailable; client "
	    "[%s] blocked using %s", st->s->addr, clean);
	apply(st, sc.dnsbl_action, enforce, drop);
	finish(st);
}

static void
verdict(struct smtpd_screen *st)
{
	struct session *s = st->s;
	long long unknown = 0, sum = 0;
	const char *top = NULL;
	bool passed = !st->pregreet && !st->denied;
	uint32_t ttl = UINT32_MAX;

	event_del(st->rev);
	evtimer_del(st->timer);
	/* The client may have closed during the wait: its next read says
	 * so; smtpd will see it.  Late DNS answers are not waited for. */
	for (size_t i = 0; i < sc.nzones; i++) {
		struct zstate *z = &st->zs[i];

		if (z->req != NULL) {
			smtpd_dns_cancel(&z->req);
			z->failed = true;
			snprintf(z->error, sizeof(z->error), "no answer within "
			    "postscreen_dnsbl_timeout (%lld s)",
			    sc.dnsbl_timeout_ms / 1000);
		}
		if (z->answered && z->ttl < ttl)
			ttl = z->ttl;
	}
	st->pending = 0;
	if (sc.nzones > 0)
		sum = score(st, &unknown, &top);
	if (sc.nzones > 0 && sum >= sc.threshold) {
		passed = false;
		char hits[512];

		listed_by(st, hits, sizeof(hits));
		log_info("DNSBL rank %lld for %s (listed by %s); "
		    "postscreen_dnsbl_threshold is %lld, "
		    "postscreen_dnsbl_action is %s", sum, st->who, hits,
		    sc.threshold, action_names[sc.dnsbl_action]);
		if (sc.dnsbl_action != ACT_IGNORE) {
			st->zone_shown = xstrdup(top != NULL ? top :
			    sc.zones[0].name);
			if (sc.reply_map[0] != '\0') {
				st->map_req = lookup_client_find(
				    smtpd_check_lookup_client(), sc.reply_map,
				    st->zone_shown, LOOKUP_FIND_EXACT, 0, NULL,
				    on_map_answer, st);
				return;
			}
			dnsbl_reply(st, st->zone_shown);
			return;
		}
	} else if (sc.nzones > 0 && unknown > 0 &&
	    sum + unknown >= sc.threshold) {
		char failed[1024];
		size_t off = 0;

		passed = false;
		failed[0] = '\0';
		for (size_t i = 0; i < sc.nzones && off < sizeof(failed); i++)
			if (st->zs[i].failed)
				off += (size_t)snprintf(failed + off,
				    sizeof(failed) - off, "%s%s (%s)",
				    off > 0 ? ", " : "", sc.zones[i].name,
				    st->zs[i].error);
		log_warning("postscreen: %s: DNSBL score unknown: %s; the "
		    "zones that answered give %lld, and the ones that did not "
		    "could reach postscreen_dnsbl_threshold (%lld); "
		    "postscreen_dnsbl_action is %s%s", st->who, failed, sum,
		    sc.threshold, action_names[sc.dnsbl_action],
		    sc.dnsbl_action == ACT_IGNORE ? "" :
		    ", so the client gets a temporary failure");
		{
			char enforce[256], drop[256];

			snprintf(enforce, sizeof(enforce), "450 4.7.1 Service "
			    "unavailable; client [%s] cannot be checked "
			    "now, try again later", s->addr);
			snprintf(drop, sizeof(drop), "421 4.7.1 %s Service "
			    "unavailable; client [%s] cannot be checked now, "
			    "try again later", smtpd_cfg.myhostname, s->addr);
			apply(st, sc.dnsbl_action, enforce, drop);
		}
	}
	if (passed) {
		long long keep = sc.greet_ttl;

		if (sc.nzones > 0) {
			long long d = ttl == UINT32_MAX ? sc.dnsbl_max_ttl :
			    (long long)ttl;

			if (d < sc.dnsbl_min_ttl)
				d = sc.dnsbl_min_ttl;
			if (d > sc.dnsbl_max_ttl)
				d = sc.dnsbl_max_ttl;
			if (d < keep)
				keep = d;
		}
		screen_cache_put(s->addr, time(NULL) + (time_t)keep);
		log_info("PASS NEW %s", st->who);
	}
	finish(st);
}

void
smtpd_screen_start(struct session *s, void (*done)(struct session *))
{
	struct smtpd_screen *st = xcalloc(1, sizeof(*st));

	st->s = s;
	st->done = done;
	st->start_ms = mono_ms();
	snprintf(st->who, sizeof(st->who), "[%s]:%u", s->addr,
	    s->client_port);
	s->screen = st;
	log_info("CONNECT from %s to [%s]:%u", st->who, s->local_addr,
	    s->local_port);
	if (sc.broken != NULL) {
		fail_closed(st, sc.broken);
		return;
	}
	acl_next(st);
}

bool
smtpd_screen_deep(struct session *s, enum screen_deep test,
    const char *after, const char *detail)
{
	static const char *const what[] = { "PIPELINING", "NON-SMTP COMMAND",
	    "BARE NEWLINE" };
	static const char *const param[] = { "postscreen_pipelining_action",
	    "postscreen_non_smtp_command_action",
	    "postscreen_bare_newline_action" };
	enum screen_action a;

	if (!sc.on || !s->screened || !sc.deep_on[test])
		return false;
	a = sc.deep_action[test];
	/* Logged once per session and test; then only the action. */
	if ((s->screen_deep_seen & (1u << test)) == 0)
		log_info("%s from [%s]:%u after %s%s%s; %s is %s", what[test],
		    s->addr, s->client_port, after, detail != NULL ? ": " : "",
		    detail != NULL ? detail : "", param[test],
		    action_names[a]);
	s->screen_deep_seen |= 1u << test;
	if (a == ACT_IGNORE)
		return false;
	if (a == ACT_DROP) {
		smtpd_reply(s, "521 5.5.1 %s Protocol error",
		    smtpd_cfg.myhostname);
		s->state = SS_QUIT;
		return true;
	}
	if (s->screen_reply == NULL)
		s->screen_reply = xstrdup("550 5.5.1 Protocol error");
	return true;
}
