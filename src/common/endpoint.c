/* SPDX-License-Identifier: MIT */
/*
 * endpoint - parse service endpoints and connect to them without
 * blocking; see endpoint.h for the grammar and the contracts.
 *
 * Runs in whichever process makes the connection; needs no privileges
 * beyond those of connect(2).
 */
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "endpoint.h"
#include "xalloc.h"

#define HOST_MAX_BYTES 255
#define PORT_MAX_DIGITS 5

/* host_ok - may h[0..len) name an inet: host (bracketed: an address)? */
static int
host_ok(const char *h, size_t len, int bracketed)
{
	if (len == 0 || len > HOST_MAX_BYTES)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)h[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		    c == '_')
			continue;
		if (bracketed && (c == ':' || c == '%'))
			continue;
		return 0;
	}
	return 1;
}

/* port_ok - is p 1-5 decimal digits with a value 1-65535? */
static int
port_ok(const char *p)
{
	size_t n = strlen(p);
	long v = 0;

	if (n == 0 || n > PORT_MAX_DIGITS || strspn(p, "0123456789") != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (p[i] - '0');
	return v >= 1 && v <= 65535;
}

/* parse_inet - spec is what follows "inet:". */
static enum endpoint_status
parse_inet(const char *spec, struct endpoint *ep)
{
	const char *hs = spec, *he, *colon;

	if (spec[0] == '[') {
		he = strchr(spec, ']');
		if (he == NULL || he[1] != ':')
			return ENDPOINT_BAD_BRACKET;
		hs = spec + 1;
		colon = he + 1;
	} else {
		colon = strrchr(spec, ':');
		if (colon == NULL)
			return ENDPOINT_NO_PORT;
		he = colon;
	}
	if (!host_ok(hs, (size_t)(he - hs), spec[0] == '['))
		return ENDPOINT_BAD_HOST;
	if (!port_ok(colon + 1))
		return ENDPOINT_BAD_PORT;
	ep->host = xstrndup(hs, (size_t)(he - hs));
	ep->port = xstrdup(colon + 1);
	return ENDPOINT_OK;
}

static enum endpoint_status
parse_path(const char *path, struct endpoint *ep)
{
	if (path[0] == '\0' || strlen(path) > endpoint_path_max())
		return ENDPOINT_BAD_PATH;
	ep->path = xstrdup(path);
	return ENDPOINT_OK;
}

enum endpoint_status
endpoint_parse(const char *text, unsigned flags, struct endpoint *ep)
{
	if (strncmp(text, "inet:", 5) == 0)
		return parse_inet(text + 5, ep);
	if (strncmp(text, "unix:", 5) == 0)
		return parse_path(text + 5, ep);
	if ((flags & ENDPOINT_BARE_PATH) != 0)
		return parse_path(text, ep);
	if (strncmp(text, "local:", 6) == 0)
		return parse_path(text + 6, ep);
	return strchr(text, ':') == NULL ? ENDPOINT_NO_TYPE :
	    ENDPOINT_BAD_TYPE;
}

void
endpoint_copy(struct endpoint *dst, const struct endpoint *src)
{
	dst->host = src->host != NULL ? xstrdup(src->host) : NULL;
	dst->port = src->port != NULL ? xstrdup(src->port) : NULL;
	dst->path = src->path != NULL ? xstrdup(src->path) : NULL;
}

void
endpoint_clear(struct endpoint *ep)
{
	free(ep->host);
	free(ep->port);
	free(ep->path);
	ep->host = ep->port = ep->path = NULL;
}

size_t
endpoint_path_max(void)
{
	struct sockaddr_un sun;

	return sizeof(sun.sun_path) - 1;
}

int
endpoint_unix_connect(const char *path)
{
	struct sockaddr_un sun;
	int s, e;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path) + 1);	/* checked by caller */
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		return -1;
	if (connect(s, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		e = errno;
		close(s);
		errno = e;
		return -1;
	}
	return s;
}

int
endpoint_inet_resolve(struct endpoint_addrs *a, const char *host,
    const char *port)
{
	struct addrinfo hints;
	int r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	r = getaddrinfo(host, port, &hints, &a->ai);
	if (r != 0) {
		a->ai = a->next = NULL;
		return r;
	}
	a->next = a->ai;
	return 0;
}

int
endpoint_inet_try(struct endpoint_addrs *a, int *sock_r)
{
	bool bind_failed;

	return endpoint_inet_try_from(a, NULL, NULL, sock_r, &bind_failed);
}

/* bind_local - bind s to the numeric address text (family family).
 * 0, or -1 with errno (EAFNOSUPPORT: not an address of that family). */
static int
bind_local(int s, int family, const char *text)
{
	struct addrinfo hints, *local = NULL;
	int r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = family;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
	if (getaddrinfo(text, NULL, &hints, &local) != 0 || local == NULL) {
		if (local != NULL)
			freeaddrinfo(local);
		errno = EAFNOSUPPORT;
		return -1;
	}
	r = bind(s, local->ai_addr, local->ai_addrlen);
	freeaddrinfo(local);
	return r;
}

int
endpoint_inet_try_from(struct endpoint_addrs *a, const char *bind4,
    const char *bind6, int *sock_r, bool *bind_failed_r)
{
	int e = ECONNREFUSED;

	*bind_failed_r = false;
	while (a->next != NULL) {
		struct addrinfo *ai = a->next;
		const char *bind_address = ai->ai_family == AF_INET6 ? bind6 :
		    bind4;
		int s;

		a->next = ai->ai_next;
		s = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, 0);
		if (s < 0) {
			e = errno;
			continue;
		}
		if (bind_address != NULL && bind_address[0] != '\0') {
			if (bind_local(s, ai->ai_family, bind_address) < 0) {
				e = errno;
				*bind_failed_r = true;
				close(s);
				continue;
			}
			*bind_failed_r = false;
		}
		if (connect(s, ai->ai_addr, ai->ai_addrlen) == 0) {
			*sock_r = s;
			return 1;
		}
		if (errno == EINPROGRESS) {
			*sock_r = s;
			return 0;
		}
		e = errno;
		close(s);
	}
	errno = e;
	return -1;
}

int
endpoint_connect_error(int sock)
{
	int err = 0;
	socklen_t elen = sizeof(err);

	if (getsockopt(sock, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
		err = errno;
	return err;
}

void
endpoint_addrs_free(struct endpoint_addrs *a)
{
	if (a->ai != NULL)
		freeaddrinfo(a->ai);
	a->ai = a->next = NULL;
}
