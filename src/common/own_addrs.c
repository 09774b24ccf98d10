/* SPDX-License-Identifier: MIT */
/*
 * own_addrs - this machine's own addresses (own_addrs.h).
 */
#include "own_addrs.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "strv.h"
#include "xalloc.h"

int
own_addr_parse(const char *s, struct own_addr *out)
{
	char buf[INET6_ADDRSTRLEN + 16];
	size_t len = strlen(s);

	if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
		s++;
		len -= 2;
	}
	if (len >= 5 && strncasecmp(s, "IPv6:", 5) == 0) {
		s += 5;
		len -= 5;
	}
	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, buf, out->a) == 1) {
		out->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, buf, out->a) == 1) {
		out->family = AF_INET6;
		/* ::ffff:a.b.c.d is a.b.c.d */
		if (IN6_IS_ADDR_V4MAPPED((struct in6_addr *)(void *)out->a)) {
			memmove(out->a, out->a + 12, 4);
			memset(out->a + 4, 0, 12);
			out->family = AF_INET;
		}
		return 0;
	}
	return -1;
}

static void
add(struct own_addrs *oa, const struct own_addr *a)
{
	if (oa->n >= OWN_ADDRS_MAX)
		return;
	oa->v = xreallocarray(oa->v, oa->n + 1, sizeof(*oa->v));
	oa->v[oa->n++] = *a;
}

static void
add_all(struct own_addrs *oa)
{
	struct ifaddrs *ifa = NULL, *p;

	if (getifaddrs(&ifa) < 0) {
		free(oa->err);
		oa->err = xasprintf("inet_interfaces: cannot list this "
		    "machine's addresses: %s", strerror(errno));
		return;
	}
	for (p = ifa; p != NULL; p = p->ifa_next) {
		struct own_addr a;

		if (p->ifa_addr == NULL)
			continue;
		memset(&a, 0, sizeof(a));
		if (p->ifa_addr->sa_family == AF_INET) {
			struct sockaddr_in sin;

			/* A copy: getifaddrs() pointers are only as aligned
			 * as a struct sockaddr. */
			memcpy(&sin, p->ifa_addr, sizeof(sin));
			a.family = AF_INET;
			memcpy(a.a, &sin.sin_addr, 4);
		} else if (p->ifa_addr->sa_family == AF_INET6) {
			struct sockaddr_in6 sin6;

			memcpy(&sin6, p->ifa_addr, sizeof(sin6));
			a.family = AF_INET6;
			memcpy(a.a, &sin6.sin6_addr, 16);
		} else {
			continue;
		}
		add(oa, &a);
	}
	freeifaddrs(ifa);
}

void
own_addrs_load(struct own_addrs *oa, const struct config_view *v,
    bool proxy)
{
	enum param_id ids[2] = { P_inet_interfaces, P_proxy_interfaces };

	for (size_t k = 0; k < (proxy ? 2u : 1u); k++) {
		char **l = config_list(v, ids[k]);

		for (size_t i = 0; l[i] != NULL; i++) {
			struct own_addr a;

			if (k == 0 && strcasecmp(l[i], "all") == 0) {
				add_all(oa);
			} else if (k == 0 &&
			    strcasecmp(l[i], "loopback-only") == 0) {
				(void)own_addr_parse("127.0.0.1", &a);
				add(oa, &a);
				(void)own_addr_parse("::1", &a);
				add(oa, &a);
			} else if (own_addr_parse(l[i], &a) == 0) {
				add(oa, &a);
			}
		}
		strv_free(&l);
	}
}

void
own_addrs_free(struct own_addrs *oa)
{
	free(oa->v);
	free(oa->err);
	memset(oa, 0, sizeof(*oa));
}

bool
own_addrs_has(const struct own_addrs *oa, const struct own_addr *a)
{
	size_t n = a->family == AF_INET ? 4 : 16;

	for (size_t i = 0; i < oa->n; i++)
		if (oa->v[i].family == a->family &&
		    memcmp(oa->v[i].a, a->a, n) == 0)
			return true;
	return false;
}
