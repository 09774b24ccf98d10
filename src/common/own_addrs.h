/* SPDX-License-Identifier: MIT */
/*
 * own_addrs - this machine's own mail addresses: inet_interfaces ("all":
 * every address of every interface; "loopback-only": 127.0.0.1 and ::1;
 * else the addresses listed) and proxy_interfaces (the addresses of a
 * proxy or NAT in front).  Host names in those lists are skipped: no
 * DNS here.
 *
 * Used for address literals ("user@[192.0.2.1]" is local when the
 * address is ours) and for permit_mx_backup (is this host one of a
 * domain's MX hosts?).
 */
#ifndef OSTIA_OWN_ADDRS_H
#define OSTIA_OWN_ADDRS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* Most addresses kept (a machine with more is unusual; the rest are
 * ignored). */
#define OWN_ADDRS_MAX 4096

struct own_addr {
	int family;		/* AF_INET or AF_INET6 */
	unsigned char a[16];	/* 4 bytes for AF_INET */
};

struct own_addrs {
	struct own_addr *v;
	size_t n;
	char *err;		/* "all" could not be listed: why (then
				 * "not ours" is not known for sure) */
};

/*
 * own_addr_parse - an address as list elements and address literals
 * write it: "192.0.2.1", "[192.0.2.1]", "[IPv6:2001:db8::1]",
 * "IPv6:2001:db8::1", "2001:db8::1"; ::ffff:a.b.c.d is a.b.c.d.  0, or
 * -1 for anything else (a host name).
 */
int own_addr_parse(const char *s, struct own_addr *out);

/* Fill *oa (empty before: zeroed or after own_addrs_free) from v's
 * inet_interfaces and, with proxy, proxy_interfaces. */
void own_addrs_load(struct own_addrs *oa, const struct config_view *v,
    bool proxy);
void own_addrs_free(struct own_addrs *oa);

/* True when a is one of oa's. */
bool own_addrs_has(const struct own_addrs *oa, const struct own_addr *a);

#endif
