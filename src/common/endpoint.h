/* SPDX-License-Identifier: MIT */
/*
 * endpoint - where a client connects: parse "inet:host:port",
 * "inet:[address]:port", "unix:path" (and "local:path"), and connect to
 * it without blocking.
 *
 * Shared by the clients that talk to a stream service named in the
 * configuration (smtpd's Dovecot auth client and its policy client).
 * Each caller keeps its own protocol, timers, retries and log wording;
 * this module only parses the name and makes the sockets.
 *
 * Grammar (after the type prefix):
 *   inet:host:port       host: letters, digits, '.', '-', '_' (at most
 *                        255 bytes); the port is the text after the LAST
 *                        colon
 *   inet:[address]:port  inside the brackets ':' and '%' are allowed too;
 *                        the brackets are not part of ep->host
 *   unix:path, local:path  a non-empty path that fits sun_path
 *   port: 1 to 5 decimal digits, value 1-65535 (no sign, no spaces)
 * Nothing here resolves a name; endpoint_inet_resolve() does, with
 * getaddrinfo() (numeric port), when a connection is wanted.
 *
 * Sockets are SOCK_STREAM, non-blocking and close-on-exec.
 */
#ifndef OSTIA_ENDPOINT_H
#define OSTIA_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>

struct addrinfo;

/* A parsed endpoint.  Exactly one of path and host is set; port is set
 * with host.  Strings are owned by the struct (endpoint_clear). */
struct endpoint {
	char *host;		/* inet: host without brackets, else NULL */
	char *port;		/* inet: decimal port, else NULL */
	char *path;		/* unix:/local: path, else NULL */
};

/* What endpoint_parse() found wrong; callers word their own errors. */
enum endpoint_status {
	ENDPOINT_OK = 0,
	ENDPOINT_NO_TYPE,	/* no "type:" at all */
	ENDPOINT_BAD_TYPE,	/* a type other than inet:, unix:, local: */
	ENDPOINT_BAD_BRACKET,	/* "inet:[" without a "]:" */
	ENDPOINT_NO_PORT,	/* "inet:host" without ":port" */
	ENDPOINT_BAD_HOST,	/* host empty, too long or odd characters */
	ENDPOINT_BAD_PORT,	/* port not 1-65535 as above */
	ENDPOINT_BAD_PATH,	/* path empty or longer than
				 * endpoint_path_max() */
};

/* endpoint_parse() flags. */
#define ENDPOINT_BARE_PATH 0x01	/* text that does not start with "inet:"
				 * or "unix:" is a unix path as a whole
				 * ("local:" is then no type either) */

/*
 * endpoint_parse - parse text into *ep (which must be zeroed or
 * cleared).  Returns ENDPOINT_OK with *ep filled, or another status with
 * *ep left empty.  Never logs.
 */
enum endpoint_status endpoint_parse(const char *text, unsigned flags,
    struct endpoint *ep);

/* endpoint_copy - *dst (empty) becomes a deep copy of *src. */
void endpoint_copy(struct endpoint *dst, const struct endpoint *src);

/* endpoint_clear - free the strings of *ep and zero it; idempotent. */
void endpoint_clear(struct endpoint *ep);

/* endpoint_path_max - the longest unix socket path, in bytes. */
size_t endpoint_path_max(void);

/*
 * endpoint_unix_connect - a connected non-blocking socket to the unix
 * stream socket path (at most endpoint_path_max() bytes, checked by the
 * caller, e.g. through endpoint_parse), or -1 with errno set.  A local
 * stream connect completes at once or fails (EAGAIN: the listener's
 * backlog is full), so there is no "in progress".
 */
int endpoint_unix_connect(const char *path);

/* The addresses of one inet: connection attempt.  A zeroed struct holds
 * none; endpoint_addrs_free() empties it again. */
struct endpoint_addrs {
	struct addrinfo *ai;	/* the getaddrinfo() list, NULL none */
	struct addrinfo *next;	/* the next one to try, NULL none left */
};

/*
 * endpoint_inet_resolve - look up host and port (a numeric port) into
 * *a, which must be empty.  Returns 0, or a getaddrinfo() error code
 * for gai_strerror() with *a still empty.  May block on DNS.
 */
int endpoint_inet_resolve(struct endpoint_addrs *a, const char *host,
    const char *port);

/*
 * endpoint_inet_try - start a non-blocking connect to the next address
 * of *a that gets that far.  Returns 1 connected (*sock_r set), 0 in
 * progress (*sock_r set: wait until it is writable, then ask
 * endpoint_connect_error), or -1 when no address is left, with errno
 * from the last failure (ECONNREFUSED when there was none) and *sock_r
 * untouched.  The caller owns *sock_r.
 */
int endpoint_inet_try(struct endpoint_addrs *a, int *sock_r);

/*
 * endpoint_inet_try_from - endpoint_inet_try, with each socket to an
 * IPv4 address bound to the numeric address bind4, and each socket to
 * an IPv6 address bound to bind6, before its connect (NULL or "": that
 * family is not bound, as Postfix's smtp_bind_address and
 * smtp_bind_address6 do).  Same returns; on -1, *bind_failed_r says
 * whether binding (rather than connecting) is what failed last (errno
 * EAFNOSUPPORT: the bind address is not of its family).
 */
int endpoint_inet_try_from(struct endpoint_addrs *a, const char *bind4,
    const char *bind6, int *sock_r, bool *bind_failed_r);

/*
 * endpoint_connect_error - for a socket whose connect was in progress
 * and which is now writable: 0 connected, EINPROGRESS not yet, or the
 * errno the connect failed with (the caller closes the socket and may
 * endpoint_inet_try the next address).
 */
int endpoint_connect_error(int sock);

/* endpoint_addrs_free - free the list; *a is empty afterwards. */
void endpoint_addrs_free(struct endpoint_addrs *a);

#endif
