/* SPDX-License-Identifier: MIT */
/*
 * smtp_route - next hops, MX order and certificate match names for the
 * smtp agent (smtp_route.h).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp_route.h"
#include "strv.h"
#include "xalloc.h"

/* port_valid - digits (1..65535) or a service name (letters, digits,
 * '-', '_', starting with a letter). */
static bool
port_valid(const char *p, size_t len)
{
	unsigned long v = 0;

	if (len == 0 || len >= SMTP_PORT_MAX_BYTES)
		return false;
	if (isdigit((unsigned char)p[0])) {
		for (size_t i = 0; i < len; i++) {
			if (!isdigit((unsigned char)p[i]))
				return false;
			v = v * 10 + (unsigned long)(p[i] - '0');
			if (v > 65535)
				return false;
		}
		return v > 0;
	}
	if (!isalpha((unsigned char)p[0]))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)p[i]) && p[i] != '-' &&
		    p[i] != '_')
			return false;
	return true;
}

/* ip_literal - is text (len bytes) an IPv4 or IPv6 address? */
static bool
ip_literal(const char *text, size_t len)
{
	char tmp[INET6_ADDRSTRLEN + 1];
	unsigned char bin[sizeof(struct in6_addr)];

	if (len == 0 || len >= sizeof(tmp))
		return false;
	memcpy(tmp, text, len);
	tmp[len] = '\0';
	return inet_pton(AF_INET, tmp, bin) == 1 ||
	    inet_pton(AF_INET6, tmp, bin) == 1;
}

int
smtp_nexthop_parse(const char *text, const char *default_port,
    struct smtp_nexthop *nh, const char **error_r)
{
	size_t len = strlen(text), hlen;
	const char *host, *port = NULL, *end;
	size_t plen = 0;

	memset(nh, 0, sizeof(*nh));
	if (len == 0) {
		*error_r = "the next hop is empty";
		return -1;
	}
	if (len > SMTP_NEXTHOP_MAX_BYTES) {
		*error_r = "the next hop is too long";
		return -1;
	}
	if (text[0] == '[') {
		end = memchr(text, ']', len);
		if (end == NULL) {
			*error_r = "the next hop has '[' without ']'";
			return -1;
		}
		host = text + 1;
		hlen = (size_t)(end - host);
		if (end[1] == ':') {
			port = end + 2;
			plen = len - (size_t)(port - text);
		} else if (end[1] != '\0') {
			*error_r = "the next hop has text after ']' that is "
			    "not ':port'";
			return -1;
		}
		nh->no_mx = true;
		if (hlen > 5 && strncasecmp(host, "ipv6:", 5) == 0) {
			host += 5;
			hlen -= 5;
		}
	} else {
		const char *colon = memchr(text, ':', len);

		host = text;
		hlen = len;
		if (colon != NULL) {
			if (memchr(colon + 1, ':', len - (size_t)(colon + 1 -
			    text)) != NULL) {
				*error_r = "an IPv6 next hop must be written "
				    "in brackets: [address]:port";
				return -1;
			}
			hlen = (size_t)(colon - text);
			port = colon + 1;
			plen = len - hlen - 1;
		}
	}
	if (port != NULL && !port_valid(port, plen)) {
		*error_r = "the port of the next hop is not a number from "
		    "1 to 65535 or a service name";
		return -1;
	}
	if (port == NULL) {
		port = default_port;
		plen = strlen(default_port);
		if (!port_valid(port, plen)) {
			*error_r = "the default port (smtp_tcp_port) is not "
			    "a number from 1 to 65535 or a service name";
			return -1;
		}
	}
	if (hlen == 0 || hlen >= sizeof(nh->host)) {
		*error_r = "the host of the next hop is empty or too long";
		return -1;
	}
	if (ip_literal(host, hlen)) {
		nh->is_ip = true;
		if (!nh->no_mx) {
			/* Postfix looks up an MX for a bare address too;
			 * nothing sensible can come of it. */
			nh->no_mx = true;
		}
	} else if (hlen > 1 && host[hlen - 1] == '.' &&
	    ip_literal(host, hlen - 1)) {
		/* "192.0.2.1." would lose its dot below and then read as
		 * the address, or as a name when written back. */
		*error_r = "the host of the next hop is an IP address with a "
		    "trailing dot: write the address in brackets, "
		    "[192.0.2.1]";
		return -1;
	} else {
		char name[DNS_NAME_MAX];

		if (hlen >= sizeof(name)) {
			*error_r = "the host of the next hop is too long";
			return -1;
		}
		memcpy(name, host, hlen);
		name[hlen] = '\0';
		if (!dns_name_valid(name)) {
			*error_r = "the host of the next hop is not a valid "
			    "domain name or IP address";
			return -1;
		}
	}
	for (size_t i = 0; i < hlen; i++)
		nh->host[i] = (char)tolower((unsigned char)host[i]);
	nh->host[hlen] = '\0';
	if (!nh->is_ip && hlen > 1 && nh->host[hlen - 1] == '.')
		nh->host[hlen - 1] = '\0';
	memcpy(nh->port, port, plen);
	nh->port[plen] = '\0';
	return 0;
}

size_t
smtp_mx_order(const struct dns_rr *rrs, size_t n, unsigned (*rnd)(unsigned),
    struct smtp_mx *out, size_t max, bool *null_mx_r)
{
	struct smtp_mx all[DNS_ANSWER_MAX];
	size_t k = 0;

	*null_mx_r = false;
	if (n == 1 && rrs[0].type == DNS_T_MX && rrs[0].u.mx.host[0] == '\0') {
		*null_mx_r = true;
		return 0;
	}
	for (size_t i = 0; i < n && k < DNS_ANSWER_MAX; i++) {
		size_t j = k;

		if (rrs[i].type != DNS_T_MX || rrs[i].u.mx.host[0] == '\0')
			continue;
		/* Insertion by preference, stable. */
		while (j > 0 && all[j - 1].pref > rrs[i].u.mx.pref) {
			all[j] = all[j - 1];
			j--;
		}
		all[j].pref = rrs[i].u.mx.pref;
		(void)snprintf(all[j].host, sizeof(all[j].host), "%s",
		    rrs[i].u.mx.host);
		k++;
	}
	/* Shuffle each run of equal preference (Fisher-Yates), before the
	 * cut so that a run cut short is a random part of it. */
	for (size_t s = 0; rnd != NULL && s < k;) {
		size_t e = s + 1;

		while (e < k && all[e].pref == all[s].pref)
			e++;
		for (size_t i = e - 1; i > s; i--) {
			size_t j = s + rnd((unsigned)(i - s + 1));
			struct smtp_mx tmp = all[i];

			all[i] = all[j];
			all[j] = tmp;
		}
		s = e;
	}
	if (k > max)
		k = max;
	memcpy(out, all, k * sizeof(*out));
	return k;
}

/* add_unique - append name (lowercased) unless already there. */
static void
add_unique(struct strv *sv, const char *name, size_t len)
{
	char *s;

	if (len == 0)
		return;
	s = xmalloc(len + 1);
	for (size_t i = 0; i < len; i++)
		s[i] = (char)tolower((unsigned char)name[i]);
	s[len] = '\0';
	for (size_t i = 0; i < sv->n; i++)
		if (strcmp(sv->v[i], s) == 0) {
			free(s);
			return;
		}
	strv_add_take(sv, s);
}

char **
smtp_match_names(const char *list, const char *host, const char *nexthop)
{
	struct strv sv;
	const char *p = list;

	strv_init(&sv);
	while (*p != '\0') {
		size_t len;

		p += strspn(p, " \t,:");
		len = strcspn(p, " \t,:");
		if (len == 0)
			break;
		if (len == 8 && strncasecmp(p, "hostname", 8) == 0) {
			add_unique(&sv, host, strlen(host));
		} else if (len == 7 && strncasecmp(p, "nexthop", 7) == 0) {
			add_unique(&sv, nexthop, strlen(nexthop));
		} else if (len == 11 && strncasecmp(p, "dot-nexthop", 11) ==
		    0) {
			char *d = xasprintf(".%s", nexthop);

			add_unique(&sv, d, strlen(d));
			free(d);
		} else {
			add_unique(&sv, p, len);
		}
		p += len;
	}
	return strv_steal(&sv);
}

char **
smtp_match_fingerprints(const char *list)
{
	struct strv sv;
	const char *p = list;

	strv_init(&sv);
	while (*p != '\0') {
		size_t len;

		p += strspn(p, " \t,|");
		len = strcspn(p, " \t,|");
		if (len == 0)
			break;
		add_unique(&sv, p, len);
		p += len;
	}
	return strv_steal(&sv);
}
