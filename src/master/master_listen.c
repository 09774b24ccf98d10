/* SPDX-License-Identifier: MIT */
/*
 * master_listen - inet listeners; see master_listen.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "master_listen.h"
#include "strnum.h"
#include "strv.h"
#include "xalloc.h"

#define LISTEN_BACKLOG 511

static void
set_add(struct listen_set *ls, int fd, const char *addr)
{
	ls->items = xreallocarray(ls->items, ls->n + 1, sizeof(*ls->items));
	ls->items[ls->n].fd = fd;
	ls->items[ls->n].addr = xstrdup(addr);
	ls->n++;
}

void
listen_set_close(struct listen_set *ls)
{
	for (size_t i = 0; i < ls->n; i++) {
		if (ls->items[i].fd >= 0)
			close(ls->items[i].fd);
		free(ls->items[i].addr);
	}
	free(ls->items);
	ls->items = NULL;
	ls->n = 0;
}

static void
format_addr(const struct sockaddr *sa, char *out, size_t outsz)
{
	char host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		snprintf(out, outsz, "[%s]:%u", host, ntohs(s6->sin6_port));
	} else {
		const struct sockaddr_in *s4 = (const void *)sa;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		snprintf(out, outsz, "%s:%u", host, ntohs(s4->sin_port));
	}
}

/* bind_one - socket, bind and listen on one address. */
static int
bind_one(const struct sockaddr *sa, socklen_t salen, struct listen_set *out,
    char **error_r)
{
	char addr[INET6_ADDRSTRLEN + 16];
	int fd, on = 1;

	format_addr(sa, addr, sizeof(addr));
	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);
	if (fd < 0) {
		*error_r = xasprintf("cannot create a socket for %s: %s", addr,
		    strerror(errno));
		return -1;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (sa->sa_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on,
		    sizeof(on));
	if (bind(fd, sa, salen) < 0) {
		int e = errno;

		*error_r = xasprintf("cannot listen on %s: %s%s", addr,
		    strerror(e), e == EADDRINUSE ? " (another program, maybe "
		    "another mail server, already listens there; "
		    "`ss -ltnp` shows which)" : e == EACCES ? " (ports "
		    "below 1024 need root)" : e == EADDRNOTAVAIL ? " (no "
		    "interface of this machine has that address; check "
		    "inet_interfaces)" : "");
		close(fd);
		return -1;
	}
	if (listen(fd, LISTEN_BACKLOG) < 0) {
		*error_r = xasprintf("listen on %s: %s", addr, strerror(errno));
		close(fd);
		return -1;
	}
	set_add(out, fd, addr);
	return 0;
}

/* resolve_port - numeric port or a service name from /etc/services. */
static int
resolve_port(const char *port, unsigned *port_r, char **error_r)
{
	long long n;
	const char *err = NULL;
	struct servent *se;

	if (strnum_parse_ll(port, 1, 65535, &n, &err) == 0) {
		*port_r = (unsigned)n;
		return 0;
	}
	se = getservbyname(port, "tcp");
	if (se == NULL) {
		*error_r = xasprintf("\"%s\" is neither a port number "
		    "(1-65535) nor a TCP service name in /etc/services", port);
		return -1;
	}
	*port_r = ntohs((uint16_t)se->s_port);
	return 0;
}

/* bind_host - every address of host (NULL: wildcard) in the families. */
static int
bind_host(const char *host, unsigned port, bool v4, bool v6,
    struct listen_set *out, char **error_r)
{
	struct addrinfo hints, *res = NULL, *ai;
	char portstr[8];
	int r, bound = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = v4 && v6 ? AF_UNSPEC : v4 ? AF_INET : AF_INET6;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%u", port);
	r = getaddrinfo(host, portstr, &hints, &res);
	if (r != 0) {
		*error_r = xasprintf("cannot resolve listen address \"%s\": %s",
		    host != NULL ? host : "*", gai_strerror(r));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		if (bind_one(ai->ai_addr, ai->ai_addrlen, out, error_r) < 0) {
			/* No IPv6 on this host: not an error for "all". */
			if (host == NULL && ai->ai_family == AF_INET6 &&
			    strstr(*error_r, "Address family") != NULL) {
				free(*error_r);
				*error_r = NULL;
				continue;
			}
			freeaddrinfo(res);
			return -1;
		}
		bound++;
	}
	freeaddrinfo(res);
	if (bound == 0) {
		*error_r = xasprintf("no usable address for \"%s\" with "
		    "inet_protocols", host != NULL ? host : "*");
		return -1;
	}
	return 0;
}

int
master_listen_inet(const struct master_service *svc,
    const struct config_view *v, struct listen_set *out, char **error_r)
{
	char **protos = config_list(v, P_inet_protocols);
	char **ifaces = NULL;
	char *sub = NULL;
	bool v4 = false, v6 = false;
	unsigned port = 0;
	int ret = -1;

	out->items = NULL;
	out->n = 0;
	for (size_t i = 0; protos[i] != NULL; i++) {
		if (strcasecmp(protos[i], "all") == 0)
			v4 = v6 = true;
		else if (strcasecmp(protos[i], "ipv4") == 0)
			v4 = true;
		else if (strcasecmp(protos[i], "ipv6") == 0)
			v6 = true;
		else {
			*error_r = xasprintf("inet_protocols: unknown protocol "
			    "\"%s\" (expected all, ipv4 or ipv6)", protos[i]);
			goto out;
		}
	}
	if (!v4 && !v6) {
		*error_r = xstrdup("inet_protocols is empty: no address "
		    "family to listen on");
		goto out;
	}
	if (resolve_port(svc->inet_port, &port, &sub) < 0) {
		*error_r = xasprintf("service %s: %s", svc->name, sub);
		goto out;
	}
	if (svc->inet_host != NULL) {
		if (bind_host(svc->inet_host, port, v4, v6, out, &sub) < 0)
			goto fail;
		ret = 0;
		goto out;
	}
	ifaces = config_list(v, P_inet_interfaces);
	if (ifaces[0] == NULL) {
		*error_r = xasprintf("service %s: inet_interfaces is empty",
		    svc->name);
		goto out;
	}
	for (size_t i = 0; ifaces[i] != NULL; i++) {
		const char *h = ifaces[i];

		if (strcasecmp(h, "all") == 0) {
			if (bind_host(NULL, port, v4, v6, out, &sub) < 0)
				goto fail;
		} else if (strcasecmp(h, "loopback-only") == 0) {
			if (v4 && bind_host("127.0.0.1", port, true, false, out,
			    &sub) < 0)
				goto fail;
			if (v6 && bind_host("::1", port, false, true, out,
			    &sub) < 0) {
				/* No IPv6 loopback here; any other error
				 * (address in use...) is reported. */
				if (v4 && (strstr(sub,
				    strerror(EAFNOSUPPORT)) != NULL ||
				    strstr(sub, strerror(EADDRNOTAVAIL)) !=
				    NULL)) {
					free(sub);
					sub = NULL;
					continue;
				}
				goto fail;
			}
		} else {
			if (h[0] == '[' && h[strlen(h) - 1] == ']') {
				char *bare = xstrndup(h + 1, strlen(h) - 2);
				int r = bind_host(bare, port, v4, v6, out, &sub);

				free(bare);
				if (r < 0)
					goto fail;
			} else if (bind_host(h, port, v4, v6, out, &sub) < 0)
				goto fail;
		}
	}
	ret = 0;
	goto out;
fail:
	*error_r = xasprintf("service %s: %s", svc->name, sub);
	listen_set_close(out);
out:
	free(sub);
	strv_free(&protos);
	strv_free(&ifaces);
	return ret;
}

int
master_listen_unix(const char *path, uid_t uid, gid_t gid,
    struct listen_set *out, char **error_r)
{
	out->items = NULL;
	out->n = 0;
	return master_listen_unix_add(path, uid, gid, 0600, out, error_r);
}

int
master_listen_unix_add(const char *path, uid_t uid, gid_t gid, mode_t mode,
    struct listen_set *out, char **error_r)
{
	struct sockaddr_un sun;
	struct stat st;
	mode_t old;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		*error_r = xasprintf("socket path %s is longer than the %zu "
		    "bytes a Unix socket allows; use a shorter "
		    "queue_directory", path, sizeof(sun.sun_path) - 1);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	/* Only a stale socket is replaced, never another kind of file. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			*error_r = xasprintf("%s exists and is not a socket",
			    path);
			return -1;
		}
		(void)unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		*error_r = xasprintf("socket for %s: %s", path,
		    strerror(errno));
		return -1;
	}
	old = umask(0077);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		umask(old);
		*error_r = xasprintf("cannot listen on %s: %s", path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	umask(old);
	if ((uid != (uid_t)-1 && chown(path, uid, gid) < 0) ||
	    chmod(path, mode) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
		*error_r = xasprintf("cannot set up %s: %s", path,
		    strerror(errno));
		close(fd);
		(void)unlink(path);
		return -1;
	}
	set_add(out, fd, path);
	return 0;
}
