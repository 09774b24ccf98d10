/* SPDX-License-Identifier: MIT */
/*
 * test_endpoint - parsing "inet:host:port" / "unix:path" names and the
 * non-blocking connects (src/common/endpoint.c).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include <netinet/in.h>

#include <stdbool.h>

#include <arpa/inet.h>

#include "compat.h"
#include "endpoint.h"

struct pcase {
	const char *text;
	unsigned flags;
	enum endpoint_status want;
	const char *host, *port, *path;
};

static const struct pcase pcases[] = {
	{ "inet:127.0.0.1:10031", 0, ENDPOINT_OK, "127.0.0.1", "10031", NULL },
	{ "inet:policy.example:1", 0, ENDPOINT_OK, "policy.example", "1",
	    NULL },
	{ "inet:[::1]:65535", 0, ENDPOINT_OK, "::1", "65535", NULL },
	{ "inet:[fe80::1%eth0]:25", 0, ENDPOINT_OK, "fe80::1%eth0", "25",
	    NULL },
	{ "unix:private/policy", 0, ENDPOINT_OK, NULL, NULL,
	    "private/policy" },
	{ "local:/run/dovecot/auth", 0, ENDPOINT_OK, NULL, NULL,
	    "/run/dovecot/auth" },
	{ "private/auth", ENDPOINT_BARE_PATH, ENDPOINT_OK, NULL, NULL,
	    "private/auth" },
	{ "private/auth", 0, ENDPOINT_NO_TYPE, NULL, NULL, NULL },
	{ "tcp:1.2.3.4:5", 0, ENDPOINT_BAD_TYPE, NULL, NULL, NULL },
	{ "inet:[::1:25", 0, ENDPOINT_BAD_BRACKET, NULL, NULL, NULL },
	{ "inet:host", 0, ENDPOINT_NO_PORT, NULL, NULL, NULL },
	{ "inet::25", 0, ENDPOINT_BAD_HOST, NULL, NULL, NULL },
	{ "inet:a b:25", 0, ENDPOINT_BAD_HOST, NULL, NULL, NULL },
	{ "inet:host\n:25", 0, ENDPOINT_BAD_HOST, NULL, NULL, NULL },
	{ "inet:host:0", 0, ENDPOINT_BAD_PORT, NULL, NULL, NULL },
	{ "inet:host:65536", 0, ENDPOINT_BAD_PORT, NULL, NULL, NULL },
	{ "inet:host:+25", 0, ENDPOINT_BAD_PORT, NULL, NULL, NULL },
	{ "inet:host:123456", 0, ENDPOINT_BAD_PORT, NULL, NULL, NULL },
	{ "inet:host:", 0, ENDPOINT_BAD_PORT, NULL, NULL, NULL },
	{ "unix:", 0, ENDPOINT_BAD_PATH, NULL, NULL, NULL },
};

static void
assert_str_or_null(const char *got, const char *want)
{
	if (want == NULL)
		assert_null(got);
	else
		assert_string_equal(got, want);
}

static void
test_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(pcases); i++) {
		const struct pcase *c = &pcases[i];
		struct endpoint ep, copy;
		enum endpoint_status st;

		memset(&ep, 0, sizeof(ep));
		st = endpoint_parse(c->text, c->flags, &ep);
		if (st != c->want)
			fail_msg("%s: status %d, want %d", c->text, (int)st,
			    (int)c->want);
		assert_str_or_null(ep.host, c->host);
		assert_str_or_null(ep.port, c->port);
		assert_str_or_null(ep.path, c->path);
		memset(&copy, 0, sizeof(copy));
		endpoint_copy(&copy, &ep);
		assert_str_or_null(copy.host, c->host);
		assert_str_or_null(copy.path, c->path);
		endpoint_clear(&copy);
		endpoint_clear(&ep);
		assert_null(ep.host);
		assert_null(ep.path);
	}
}

/* A path one byte too long for sun_path is refused; the longest fits. */
static void
test_path_limit(void **state)
{
	size_t max = endpoint_path_max();
	char *text = malloc(max + 7);
	struct endpoint ep;

	(void)state;
	assert_non_null(text);
	memcpy(text, "unix:", 5);
	memset(text + 5, 'p', max + 1);
	text[5 + max + 1] = '\0';
	memset(&ep, 0, sizeof(ep));
	assert_int_equal(endpoint_parse(text, 0, &ep), ENDPOINT_BAD_PATH);
	text[5 + max] = '\0';
	assert_int_equal(endpoint_parse(text, 0, &ep), ENDPOINT_OK);
	assert_int_equal(strlen(ep.path), max);
	endpoint_clear(&ep);
	free(text);
}

/* Connects: a listening unix socket answers, a missing one fails with
 * errno; an inet port nobody listens on is refused (never "connected"). */
static void
test_connect(void **state)
{
	char dir[] = "/tmp/test-endpoint-XXXXXX", path[128];
	struct sockaddr_un sun;
	struct endpoint_addrs a;
	int l, s, rc, ret;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sock", dir);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	assert_true(strlen(path) < sizeof(sun.sun_path));
	memcpy(sun.sun_path, path, strlen(path) + 1);
	l = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(l >= 0);
	assert_int_equal(bind(l, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(l, 4), 0);
	s = endpoint_unix_connect(path);
	assert_true(s >= 0);
	close(s);
	close(l);
	unlink(path);
	errno = 0;
	assert_int_equal(endpoint_unix_connect(path), -1);
	assert_true(errno == ENOENT || errno == ECONNREFUSED);
	rmdir(dir);

	/* Port 1 on loopback: nobody listens there in a test machine. */
	memset(&a, 0, sizeof(a));
	assert_int_equal(endpoint_inet_resolve(&a, "127.0.0.1", "1"), 0);
	rc = endpoint_inet_try(&a, &s);
	if (rc == 0) {
		/* In progress: wait until writable, then the refusal. */
		struct pollfd pfd = { .fd = s, .events = POLLOUT };

		assert_int_equal(poll(&pfd, 1, 10000), 1);
		ret = endpoint_connect_error(s);
		assert_int_not_equal(ret, 0);
		assert_int_not_equal(ret, EINPROGRESS);
		close(s);
	} else {
		assert_int_equal(rc, -1);
	}
	endpoint_addrs_free(&a);
}

/* connect_to - endpoint_inet_try_from to host:port from bind4 (IPv4
 * servers) or bind6 (IPv6 servers), finished. */
static int
connect_to(const char *host, const char *port, const char *bind4,
    const char *bind6, bool *bind_failed)
{
	struct endpoint_addrs a;
	int s = -1, rc;

	memset(&a, 0, sizeof(a));
	assert_int_equal(endpoint_inet_resolve(&a, host, port), 0);
	rc = endpoint_inet_try_from(&a, bind4, bind6, &s, bind_failed);
	if (rc == 0) {
		struct pollfd pfd = { .fd = s, .events = POLLOUT };

		assert_int_equal(poll(&pfd, 1, 10000), 1);
		assert_int_equal(endpoint_connect_error(s), 0);
	}
	endpoint_addrs_free(&a);
	return rc < 0 ? -1 : s;
}

/* connect_from - to 127.0.0.1:port from from; the IPv6 bind address
 * does not count for an IPv4 server. */
static int
connect_from(const char *port, const char *from, bool *bind_failed)
{
	return connect_to("127.0.0.1", port, from, "::1", bind_failed);
}

/* A bind address: the connection comes from it; one of another family
 * is refused as a bind failure. */
static void
test_connect_from(void **state)
{
	struct sockaddr_in sin, got;
	socklen_t len = sizeof(sin);
	char port[16], addr[INET_ADDRSTRLEN];
	bool bind_failed = true;
	int l, s;

	(void)state;
	l = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(l >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_ANY);
	assert_int_equal(bind(l, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(l, 4), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&sin, &len), 0);
	snprintf(port, sizeof(port), "%u", (unsigned)ntohs(sin.sin_port));

	s = connect_from(port, "127.0.0.3", &bind_failed);
	assert_true(s >= 0);
	assert_false(bind_failed);
	len = sizeof(got);
	assert_int_equal(getsockname(s, (struct sockaddr *)&got, &len), 0);
	assert_string_equal(inet_ntop(AF_INET, &got.sin_addr, addr,
	    sizeof(addr)), "127.0.0.3");
	close(s);

	/* No bind address: as endpoint_inet_try. */
	s = connect_from(port, "", &bind_failed);
	assert_true(s >= 0);
	assert_false(bind_failed);
	close(s);

	errno = 0;
	assert_int_equal(connect_from(port, "::1", &bind_failed), -1);
	assert_true(bind_failed);
	assert_int_equal(errno, EAFNOSUPPORT);
	close(l);
}

/* An IPv6 server: bound to bind6, never to bind4 (an IPv4 bind address
 * leaves IPv6 connections unbound, as Postfix's smtp_bind_address). */
static void
test_connect_from6(void **state)
{
	struct sockaddr_in6 sin6, got;
	socklen_t len = sizeof(sin6);
	char port[16], addr[INET6_ADDRSTRLEN];
	bool bind_failed = true;
	int l, s;

	(void)state;
	l = socket(AF_INET6, SOCK_STREAM, 0);
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_addr = in6addr_loopback;
	if (l < 0 || bind(l, (struct sockaddr *)&sin6, sizeof(sin6)) < 0) {
		if (l >= 0)
			close(l);
		skip();		/* no IPv6 loopback here */
	}
	assert_int_equal(listen(l, 4), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&sin6, &len), 0);
	snprintf(port, sizeof(port), "%u", (unsigned)ntohs(sin6.sin6_port));

	s = connect_to("::1", port, "127.0.0.3", "::1", &bind_failed);
	assert_true(s >= 0);
	assert_false(bind_failed);
	len = sizeof(got);
	assert_int_equal(getsockname(s, (struct sockaddr *)&got, &len), 0);
	assert_string_equal(inet_ntop(AF_INET6, &got.sin6_addr, addr,
	    sizeof(addr)), "::1");
	close(s);

	/* Only an IPv4 bind address: the IPv6 connection is not bound. */
	s = connect_to("::1", port, "127.0.0.3", "", &bind_failed);
	assert_true(s >= 0);
	assert_false(bind_failed);
	close(s);

	/* An IPv4 literal as the IPv6 bind address: a bind failure. */
	errno = 0;
	assert_int_equal(connect_to("::1", port, "", "127.0.0.3",
	    &bind_failed), -1);
	assert_true(bind_failed);
	assert_int_equal(errno, EAFNOSUPPORT);
	close(l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_path_limit),
		cmocka_unit_test(test_connect),
		cmocka_unit_test(test_connect_from),
		cmocka_unit_test(test_connect_from6),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
