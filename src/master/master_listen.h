/* SPDX-License-Identifier: MIT */
/*
 * master_listen - open the listening sockets of inet services.
 *
 * Runs in the master, as root when binding privileged ports.  A service
 * named "host:port" listens on that host only; a bare "port" listens on
 * every address of inet_interfaces ("all", "loopback-only", or a list of
 * addresses and host names), restricted to the families of
 * inet_protocols ("all", "ipv4", "ipv6").  IPv6 sockets are IPV6_V6ONLY
 * so that 0.0.0.0 and [::] can both be bound.
 */
#ifndef OSTIA_MASTER_LISTEN_H
#define OSTIA_MASTER_LISTEN_H

#include <stddef.h>
#include <sys/types.h>

#include "config.h"

struct listener {
	int fd;
	char *addr;	/* "127.0.0.1:25", "[::1]:25" */
};

struct listen_set {
	struct listener *items;
	size_t n;
};

/*
 * Bind and listen for inet service svc with the settings of its view.
 * 0 with out filled (sockets close-on-exec, non-blocking), or -1 with
 * *error_r (new string) saying which address failed and why; nothing is
 * left open then.
 */
int master_listen_inet(const struct master_service *svc,
    const struct config_view *v, struct listen_set *out, char **error_r);
/*
 * Bind and listen on the Unix stream socket path (replacing a stale
 * socket file), owned by uid/gid ((uid_t)-1: leave) with mode 0600.
 * 0 with out filled, or -1 with *error_r.
 */
int master_listen_unix(const char *path, uid_t uid, gid_t gid,
    struct listen_set *out, char **error_r);
/* The same with mode, added to the sockets already in out (a service
 * that listens on two Unix sockets: the queue process). */
int master_listen_unix_add(const char *path, uid_t uid, gid_t gid,
    mode_t mode, struct listen_set *out, char **error_r);
/* Close every socket and free the set. */
void listen_set_close(struct listen_set *ls);

#endif
