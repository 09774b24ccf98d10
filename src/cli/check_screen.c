/* SPDX-License-Identifier: MIT */
/*
 * check_screen - the postscreen part of `ostia check [--live]`: each
 * postscreen service, the pass service its smtpd settings come from,
 * its DNSBL sites as smtpd will read them (and whether the threshold can
 * be reached at all), its access list and its cache file; with --live, each DNSBL zone is asked for
 * its test entries through the configured resolver (RFC 5782: 127.0.0.2
 * must be listed, 127.0.0.1 must not), which catches a misspelled zone,
 * a dead list, and a list that refuses the resolver (Spamhaus answers
 * 127.255.255.254 to public resolvers).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "check_report.h"
#include "cli.h"
#include "config.h"
#include "dns.h"
#include "dnsbl.h"
#include "master_cf.h"
#include "strv.h"
#include "xalloc.h"

/* Seconds each --live DNS question may take. */
#define PROBE_TIMEOUT_S 10

static const char *
base_of(const char *cmd)
{
	const char *slash = strrchr(cmd, '/');

	return slash != NULL ? slash + 1 : cmd;
}

/* The addresses of the A records of res (host order), and how many. */
static size_t
a_records(const struct dns_result *res, uint32_t *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; res->status == DNS_OK && i < res->n && n < max; i++)
		if (res->rrs[i].type == DNS_T_A)
			out[n++] = ntohl(res->rrs[i].u.a.s_addr);
	return n;
}

/* probe_zone - ask zone for its test entries. */
static void
probe_zone(struct dns_resolver *dr, const char *zone, struct check_report *r)
{
	struct sockaddr_in sin;
	char qname[DNS_NAME_MAX], why[512];
	struct dns_result *res;
	uint32_t a[DNS_ANSWER_MAX];
	size_t n;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(0x7f000002);
	if (dns_rbl_name((struct sockaddr *)&sin, zone, qname,
	    sizeof(qname)) < 0) {
		check_say(r, CHECK_ERROR, "%s: not a zone a name can be made "
		    "under", zone);
		return;
	}
	res = dns_lookup_sync(dr, qname, DNS_T_A);
	n = a_records(res, a, DNS_ANSWER_MAX);
	if (res->status == DNS_TEMPFAIL || res->status == DNS_BOGUS) {
		check_say(r, CHECK_ERROR, "%s: the test entry 127.0.0.2 could "
		    "not be asked: %s; smtpd cannot score clients with this "
		    "list", zone, res->error != NULL ? res->error :
		    dns_status_name(res->status));
	} else if (dnsbl_answer_error(zone, a, n, why, sizeof(why))) {
		check_say(r, CHECK_ERROR, "%s; smtpd takes such answers as "
		    "failed lookups", why);
	} else if (n == 0) {
		check_say(r, CHECK_WARNING, "%s does not list its test entry "
		    "127.0.0.2 (%s): the zone may be misspelled, or the list "
		    "may be gone", zone, dns_status_name(res->status));
	} else {
		char ip[INET_ADDRSTRLEN];
		struct in_addr ia;

		ia.s_addr = htonl(a[0]);
		inet_ntop(AF_INET, &ia, ip, sizeof(ip));
		check_say(r, CHECK_OK, "%s answers: its test entry 127.0.0.2 "
		    "is listed (%s%s)", zone, ip, n > 1 ? ", ..." : "");
	}
	dns_result_free(&res);
	/* 127.0.0.1 must never be listed: a list that lists it lists all. */
	sin.sin_addr.s_addr = htonl(0x7f000001);
	if (dns_rbl_name((struct sockaddr *)&sin, zone, qname,
	    sizeof(qname)) < 0)
		return;
	res = dns_lookup_sync(dr, qname, DNS_T_A);
	n = a_records(res, a, DNS_ANSWER_MAX);
	if (n > 0 && !dnsbl_answer_error(zone, a, n, why, sizeof(why)))
		check_say(r, CHECK_ERROR, "%s lists 127.0.0.1, which no "
		    "working list does: it lists every address (a list that "
		    "was shut down may answer this way); remove it", zone);
	dns_result_free(&res);
}

/* check_sites - postscreen_dnsbl_sites as smtpd reads it. */
static void
check_sites(const struct config_view *v, bool live, struct check_report *r)
{
	char **l = config_list(v, P_postscreen_dnsbl_sites);
	long long threshold = config_int(v, P_postscreen_dnsbl_threshold);
	long long most = 0;
	struct strv zones;
	char err[512];

	strv_init(&zones);
	if (l[0] == NULL)
		check_say(r, CHECK_NOTE, "no DNSBL sites (postscreen_dnsbl_"
		    "sites): only the greeting test is made");
	for (size_t i = 0; l[i] != NULL; i++) {
		struct dnsbl_site site;
		bool seen = false;

		if (i >= DNSBL_SITES_MAX) {
			check_say(r, CHECK_ERROR, "postscreen_dnsbl_sites names "
			    "more than %d sites; smtpd refuses the setting "
			    "(421 to every client)", DNSBL_SITES_MAX);
			break;
		}
		if (dnsbl_site_parse(l[i], &site, err, sizeof(err)) < 0) {
			check_say(r, CHECK_ERROR, "postscreen_dnsbl_sites: %s; "
			    "smtpd answers 421 to every client until it is "
			    "fixed", err);
			continue;
		}
		check_say(r, CHECK_OK, "DNSBL %s, %s, weight %+d", site.zone,
		    site.filter != NULL ? site.filter : "any reply",
		    site.weight);
		if (site.weight > 0)
			most += site.weight;
		for (size_t k = 0; k < zones.n; k++)
			if (strcasecmp(zones.v[k], site.zone) == 0)
				seen = true;
		if (!seen)
			strv_add(&zones, site.zone);
		dnsbl_site_deinit(&site);
	}
	if (l[0] != NULL && most < threshold)
		check_say(r, CHECK_WARNING, "the positive weights add up to "
		    "%lld, below postscreen_dnsbl_threshold (%lld): no client "
		    "can ever be listed", most, threshold);
	if (live && zones.n > 0) {
		struct dns_settings set = {
			.resolvers = config_str(v, P_dns_resolvers),
			.trust_anchor_file = config_str(v,
			    P_dnssec_trust_anchor_file),
			.timeout_ms = PROBE_TIMEOUT_S * 1000,
		};
		char *derr = NULL;
		struct dns_resolver *dr = dns_resolver_new(NULL, &set, &derr);

		if (dr == NULL) {
			check_say(r, CHECK_ERROR, "no DNS resolver: %s", derr);
			free(derr);
		} else {
			for (size_t k = 0; k < zones.n; k++)
				probe_zone(dr, zones.v[k], r);
			dns_resolver_free(&dr);
		}
	}
	strv_deinit(&zones);
	strv_free(&l);
}

/* check_cache - where the clients that passed are kept. */
static void
check_cache(const struct config_view *v, struct check_report *r)
{
	const char *spec = config_str(v, P_postscreen_cache_map);
	const char *colon;
	char *path;
	struct stat st;

	if (strncmp(spec, "proxy:", 6) == 0)
		spec += 6;
	colon = strchr(spec, ':');
	if (*spec == '\0') {
		check_say(r, CHECK_NOTE, "postscreen_cache_map is empty: the "
		    "clients that pass are kept in memory (a restart "
		    "forgets them)");
		return;
	}
	if (colon == NULL || colon[1] != '/' ||
	    (strncasecmp(spec, "lmdb:", 5) != 0 &&
	    strncasecmp(spec, "btree:", 6) != 0 &&
	    strncasecmp(spec, "hash:", 5) != 0)) {
		check_say(r, CHECK_WARNING, "postscreen_cache_map = %s cannot "
		    "hold the cache (use lmdb:/PATH, or Postfix's btree: or "
		    "hash: names): smtpd keeps it in memory instead", spec);
		return;
	}
	path = xasprintf("%s.lmdb", colon + 1);
	if (stat(path, &st) == 0)
		check_say(r, CHECK_OK, "the clients that passed are kept in "
		    "%s (%lld bytes)", path, (long long)st.st_size);
	else if (errno == ENOENT)
		check_say(r, CHECK_OK, "the clients that pass will be kept "
		    "in %s (made at the first start)", path);
	else
		check_say(r, CHECK_WARNING, "%s: %s; smtpd may have to keep "
		    "the cache in memory", path, strerror(errno));
	free(path);
}

/* postscreen_denylist_action, or its legacy name when only that is set. */
static const char *
deny_action(const struct config_view *v)
{
	const char *o = NULL, *n = NULL;

	(void)config_raw(v, "postscreen_blacklist_action", &o);
	(void)config_raw(v, "postscreen_denylist_action", &n);
	if (o != NULL && strcmp(o, "default") != 0 &&
	    (n == NULL || strcmp(n, "default") == 0))
		return config_str(v, P_postscreen_blacklist_action);
	return config_str(v, P_postscreen_denylist_action);
}

int
check_screen(const struct config *cf, bool live)
{
	const struct master_cf *mcf = config_master(cf);
	struct check_report r = { 0, 0 };
	size_t found = 0;

	for (size_t i = 0; mcf != NULL && i < mcf->nservices; i++) {
		const struct master_service *ms = &mcf->services[i];
		const struct config_view *v = config_service(cf, i);
		const char *pass;

		if (ms->type != MASTER_TYPE_INET ||
		    strcmp(base_of(ms->command), "postscreen") != 0)
			continue;
		if (found++ == 0)
			printf("\npostscreen:\n");
		pass = config_str(v, P_smtpd_service_name);
		printf("  %s (inet): hands clients to the pass service %s, "
		    "whose smtpd settings they get\n", ms->name, pass);
		check_say(&r, CHECK_NOTE, "greeting test: wait %llds, %s; "
		    "DNSBL threshold %lld, %s; access list: %s, denied: %s",
		    config_time(v, P_postscreen_greet_wait),
		    config_str(v, P_postscreen_greet_action),
		    config_int(v, P_postscreen_dnsbl_threshold),
		    config_str(v, P_postscreen_dnsbl_action),
		    config_str(v, P_postscreen_access_list)[0] != '\0' ?
		    config_str(v, P_postscreen_access_list) : "(none)",
		    deny_action(v));
		check_sites(v, live, &r);
		check_cache(v, &r);
	}
	if (found > 0)
		(void)check_summary("postscreen", &r);
	return check_status(&r);
}
