/* SPDX-License-Identifier: MIT */
/*
 * dnsbl - DNSBL reply filters and weighted sites; see dnsbl.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "dnsbl.h"
#include "xalloc.h"

/* number - a decimal 0..255 at *pp (advanced past it); -1 if none. */
static long
number(const char **pp)
{
	const char *p = *pp;
	long v = 0;

	if (*p < '0' || *p > '9')
		return -1;
	while (*p >= '0' && *p <= '9') {
		v = v * 10 + (*p - '0');
		if (v > 255)
			return -1;
		p++;
	}
	*pp = p;
	return v;
}

int
dnsbl_filter_match(const char *filter, uint32_t a)
{
	const char *p = filter;
	bool all = true;

	for (int i = 0; i < 4; i++) {
		long v = (long)((a >> (24 - 8 * i)) & 0xff);
		bool hit = false;

		if (*p == '[') {
			p++;
			for (;;) {
				long lo = number(&p), hi;

				if (lo < 0)
					return -1;
				hi = lo;
				if (p[0] == '.' && p[1] == '.') {
					p += 2;
					hi = number(&p);
					if (hi < 0 || hi < lo)
						return -1;
				}
				if (v >= lo && v <= hi)
					hit = true;
				if (*p == ';') {
					p++;
					continue;
				}
				if (*p != ']')
					return -1;
				p++;
				break;
			}
		} else {
			long n = number(&p);

			if (n < 0)
				return -1;
			hit = n == v;
		}
		if (!hit)
			all = false;
		if (i < 3 && *p++ != '.')
			return -1;
	}
	return *p == '\0' ? all : -1;
}

int
dnsbl_site_parse(const char *text, struct dnsbl_site *out, char *err,
    size_t errsz)
{
	const char *star = strrchr(text, '*');
	const char *eq = strchr(text, '=');
	size_t zl, fl;
	char zone[DNS_NAME_MAX], filter[128];
	long weight = 1;

	memset(out, 0, sizeof(*out));
	if (star != NULL && eq != NULL && star < eq)
		star = NULL;	/* a '*' before '=' is part of the zone */
	zl = eq != NULL ? (size_t)(eq - text) : star != NULL ?
	    (size_t)(star - text) : strlen(text);
	if (*text == '\0') {
		snprintf(err, errsz, "\"\": an empty entry has no DNS zone");
		return -1;
	}
	if (zl == 0) {
		snprintf(err, errsz, "\"%s\": no DNS zone before %s", text,
		    eq != NULL ? "'='" : "'*'");
		return -1;
	}
	if (zl >= sizeof(zone)) {
		snprintf(err, errsz, "\"%.40s...\": the zone is longer than "
		    "a DNS name can be", text);
		return -1;
	}
	memcpy(zone, text, zl);
	zone[zl] = '\0';
	if (!dns_name_valid(zone) || strchr(zone, '.') == NULL) {
		snprintf(err, errsz, "\"%s\": \"%s\" is not a DNS zone name "
		    "(such as zen.spamhaus.org)", text, zone);
		return -1;
	}
	filter[0] = '\0';
	if (eq != NULL) {
		const char *f = eq + 1;

		fl = star != NULL ? (size_t)(star - f) : strlen(f);
		if (fl == 0 || fl >= sizeof(filter)) {
			snprintf(err, errsz, "\"%s\": %s reply filter after "
			    "'=' (write it as 127.0.0.2 or 127.0.0.[2..11])",
			    text, fl == 0 ? "an empty" : "a too long");
			return -1;
		}
		memcpy(filter, f, fl);
		filter[fl] = '\0';
		if (dnsbl_filter_match(filter, 0) < 0) {
			snprintf(err, errsz, "\"%s\": the reply filter \"%s\" "
			    "is not d.d.d.d, where each d is a number 0-255, "
			    "[a..b] or [a;b;c]", text, filter);
			return -1;
		}
	}
	if (star != NULL) {
		const char *w = star + 1;
		char *end;

		errno = 0;
		weight = strtol(w, &end, 10);
		if (*w == '\0' || *end != '\0' || errno != 0 ||
		    (*w != '-' && *w != '+' && (*w < '0' || *w > '9'))) {
			snprintf(err, errsz, "\"%s\": the weight after '*' "
			    "must be a whole number, such as 3 or -2", text);
			return -1;
		}
		if (weight == 0 || weight > DNSBL_WEIGHT_MAX ||
		    weight < -DNSBL_WEIGHT_MAX) {
			snprintf(err, errsz, "\"%s\": the weight must be "
			    "between -%d and %d and not 0", text,
			    DNSBL_WEIGHT_MAX, DNSBL_WEIGHT_MAX);
			return -1;
		}
	}
	out->zone = xstrdup(zone);
	out->filter = filter[0] != '\0' ? xstrdup(filter) : NULL;
	out->weight = (int)weight;
	return 0;
}

void
dnsbl_site_deinit(struct dnsbl_site *site)
{
	free(site->zone);
	free(site->filter);
	memset(site, 0, sizeof(*site));
}

bool
dnsbl_site_lists(const struct dnsbl_site *site, const uint32_t *addrs,
    size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (site->filter == NULL ||
		    dnsbl_filter_match(site->filter, addrs[i]) == 1)
			return true;
	return false;
}

bool
dnsbl_answer_error(const char *zone, const uint32_t *addrs, size_t n,
    char *out, size_t outsz)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t a = addrs[i];
		char ip[16];

		snprintf(ip, sizeof(ip), "%u.%u.%u.%u", a >> 24,
		    (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
		if ((a >> 24) != 127) {
			snprintf(out, outsz, "%s answered %s, which is no "
			    "DNSBL answer (those are 127.x.x.x): the DNS "
			    "resolver may rewrite \"no such name\" answers; "
			    "use one that does not (dns_resolvers)", zone, ip);
			return true;
		}
		if ((a >> 8) != 0x7fffffu)
			continue;
		if (a == 0x7ffffffeu)
			snprintf(out, outsz, "%s answered %s: it refuses "
			    "queries that come through a public or shared DNS "
			    "resolver (such as 8.8.8.8 or 1.1.1.1); use a "
			    "resolver of your own (dns_resolvers), or the "
			    "list's own service for heavy users", zone, ip);
		else if (a == 0x7fffffffu)
			snprintf(out, outsz, "%s answered %s: this DNS "
			    "resolver sent it too many queries; use a resolver "
			    "of your own (dns_resolvers), or the list's own "
			    "service for heavy users", zone, ip);
		else if (a == 0x7ffffffcu)
			snprintf(out, outsz, "%s answered %s: the list says "
			    "its name is misspelled in the configuration",
			    zone, ip);
		else
			snprintf(out, outsz, "%s answered %s, an error code "
			    "of the list (127.255.255.x), not a listing", zone,
			    ip);
		return true;
	}
	return false;
}
