/* SPDX-License-Identifier: MIT */
/*
 * test_master_listen - binding the inet listeners of a master.cf service
 * with the inet_interfaces and inet_protocols of its view: host:port,
 * [v6]:port and *:port names, loopback-only, all, address lists, -o
 * overrides, service names from /etc/services; the sockets are
 * listening, non-blocking, close-on-exec (and IPV6_V6ONLY); every error
 * says which address failed and why, and leaves nothing open.
 *
 * Ports are picked free at run time (master.cf refuses port 0): a
 * wildcard bind to port 0 tells a free number, which is then released.
 * IPv6 cases are skipped on a host without an IPv6 loopback.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "diag.h"
#include "master_listen.h"
#include "xalloc.h"
#include "test_support.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

/* bind_tcp - a socket bound to addr:port (listening if listen_too). */
static int
bind_tcp(const char *addr, unsigned port, bool listen_too)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, on = 1;

	memset(&ss, 0, sizeof(ss));
	if (strchr(addr, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1)
			return -1;
		len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, addr, &s4->sin_addr) != 1)
			return -1;
		len = sizeof(*s4);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (ss.ss_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on,
		    sizeof(on));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 ||
	    (listen_too && listen(fd, 8) < 0)) {
		close(fd);
		return -1;
	}
	return fd;
}

static unsigned
sock_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static bool
have_ipv6_loopback(void)
{
	int fd = bind_tcp("::1", 0, false);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static void
need_ipv6(void)
{
	if (!have_ipv6_loopback())
		skip();
}

/*
 * pick_port - a port that is free on every address of both families
 * right now (a wildcard bind succeeds on it).
 */
static unsigned
pick_port(void)
{
	bool v6 = have_ipv6_loopback();

	for (int tries = 0; tries < 100; tries++) {
		int fd4 = bind_tcp("0.0.0.0", 0, false), fd6 = -1;
		unsigned port;

		assert_true(fd4 >= 0);
		port = sock_port(fd4);
		if (v6)
			fd6 = bind_tcp("::", port, false);
		close(fd4);
		if (v6 && fd6 < 0)
			continue;
		if (fd6 >= 0)
			close(fd6);
		return port;
	}
	fail_msg("no free port found");
	return 0;
}

static size_t
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/*
 * listen_on - load main_text and a one-service master.cf, then call
 * master_listen_inet for that service.  Returns its result; on success
 * out holds the listeners, on failure *error_r the text.
 */
static int
listen_on(const char *main_text, const char *master_text,
    struct listen_set *out, char **error_r)
{
	struct diag_list dl;
	struct config *cf;
	const struct master_cf *mcf;
	int r;

	diag_list_init(&dl);
	cf = config_load_text("/nonexistent-ostia-conf", main_text,
	    strlen(main_text), master_text, strlen(master_text),
	    CONFIG_LOAD_QUIET, &dl);
	if (cf == NULL)
		test_print_diags(&dl);
	assert_non_null(cf);
	mcf = config_master(cf);
	assert_non_null(mcf);
	assert_int_equal(mcf->nservices, 1);
	*error_r = NULL;
	r = master_listen_inet(&mcf->services[0], config_service(cf, 0), out,
	    error_r);
	config_free(&cf);
	diag_list_deinit(&dl);
	return r;
}

/* listen_ok - listen_on that must succeed. */
static void
listen_ok(const char *main_text, const char *master_text,
    struct listen_set *out)
{
	char *error = NULL;
	int r = listen_on(main_text, master_text, out, &error);

	if (r != 0)
		print_message("error: %s\n", error != NULL ? error : "(none)");
	assert_int_equal(r, 0);
	assert_null(error);
}

/*
 * listen_fails - listen_on that must fail with every needle in the
 * error text (NULL-terminated), leaving no descriptor open; returns the
 * text (caller frees).
 */
static char *
listen_fails(const char *main_text, const char *master_text, ...)
{
	struct listen_set out = { NULL, 0 };
	char *error = NULL;
	const char *needle;
	size_t fds = count_fds();
	va_list ap;
	int r;

	r = listen_on(main_text, master_text, &out, &error);
	if (r == 0) {
		for (size_t i = 0; i < out.n; i++)
			print_message("unexpected listener %s\n",
			    out.items[i].addr);
		listen_set_close(&out);
	}
	assert_int_equal(r, -1);
	assert_non_null(error);
	assert_int_equal(out.n, 0);
	assert_null(out.items);
	assert_int_equal(count_fds(), fds);
	va_start(ap, master_text);
	while ((needle = va_arg(ap, const char *)) != NULL) {
		if (strstr(error, needle) == NULL)
			print_message("\"%s\" not in: %s\n", needle, error);
		assert_non_null(strstr(error, needle));
	}
	va_end(ap);
	return error;
}

static char *
service_line(const char *name, const char *extra)
{
	return xasprintf("%s inet n - n - 1 smtpd%s\n", name,
	    extra != NULL ? extra : "");
}

/* addr_text - "127.0.0.1:25" / "[::1]:25" for what fd is bound to. */
static void
addr_text(int fd, char *out, size_t outsz)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[INET6_ADDRSTRLEN];

	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		assert_non_null(inet_ntop(AF_INET6, &s6->sin6_addr, host,
		    sizeof(host)));
		snprintf(out, outsz, "[%s]:%u", host, ntohs(s6->sin6_port));
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		assert_int_equal(ss.ss_family, AF_INET);
		assert_non_null(inet_ntop(AF_INET, &s4->sin_addr, host,
		    sizeof(host)));
		snprintf(out, outsz, "%s:%u", host, ntohs(s4->sin_port));
	}
}

/*
 * check_listener - fd is what addr says, close-on-exec, non-blocking,
 * listening (IPV6_V6ONLY for IPv6), and a client gets through.
 */
static void
check_listener(const struct listener *l)
{
	char got[INET6_ADDRSTRLEN + 16];
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct pollfd pfd;
	int flags, on = 0, c, a;
	socklen_t onlen = sizeof(on);

	assert_true(l->fd >= 0);
	addr_text(l->fd, got, sizeof(got));
	assert_string_equal(l->addr, got);
	flags = fcntl(l->fd, F_GETFD);
	assert_true(flags >= 0 && (flags & FD_CLOEXEC) != 0);
	flags = fcntl(l->fd, F_GETFL);
	assert_true(flags >= 0 && (flags & O_NONBLOCK) != 0);
	assert_int_equal(getsockopt(l->fd, SOL_SOCKET, SO_ACCEPTCONN, &on,
	    &onlen), 0);
	assert_int_equal(on, 1);

	assert_int_equal(getsockname(l->fd, (struct sockaddr *)&ss, &len), 0);
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		on = 0;
		onlen = sizeof(on);
		assert_int_equal(getsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY,
		    &on, &onlen), 0);
		assert_int_equal(on, 1);
		if (IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr))
			s6->sin6_addr = in6addr_loopback;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		if (s4->sin_addr.s_addr == htonl(INADDR_ANY))
			s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	}
	/* A client connects and is accepted. */
	c = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(c >= 0);
	assert_int_equal(connect(c, (struct sockaddr *)&ss, len), 0);
	pfd.fd = l->fd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	assert_int_equal(poll(&pfd, 1, 5000), 1);
	a = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(a >= 0);
	close(a);
	close(c);
	/* Nothing else waiting: non-blocking accept says so at once. */
	assert_int_equal(accept4(l->fd, NULL, NULL, SOCK_CLOEXEC), -1);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
}

static bool
set_has(const struct listen_set *ls, const char *addr)
{
	for (size_t i = 0; i < ls->n; i++)
		if (strcmp(ls->items[i].addr, addr) == 0)
			return true;
	return false;
}

/*
 * expect_set - ls has exactly the hosts in want, on port (any order),
 * and each listener passes check_listener.
 */
static void
expect_set(const struct listen_set *ls, unsigned port,
    const char *const *want, size_t nwant)
{
	if (ls->n != nwant)
		for (size_t i = 0; i < ls->n; i++)
			print_message("listener %s\n", ls->items[i].addr);
	assert_int_equal(ls->n, nwant);
	for (size_t i = 0; i < nwant; i++) {
		char *a = xasprintf("%s:%u", want[i], port);

		if (!set_has(ls, a))
			print_message("missing %s\n", a);
		assert_true(set_has(ls, a));
		free(a);
	}
	for (size_t i = 0; i < ls->n; i++)
		check_listener(&ls->items[i]);
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */

static void
test_host_port(void **state)
{
	static const char *const want[] = { "127.0.0.1" };
	unsigned port = pick_port();
	char *name = xasprintf("127.0.0.1:%u", port);
	char *mcf = service_line(name, NULL);
	struct listen_set ls;

	(void)state;
	/* A host in the name wins over inet_interfaces. */
	listen_ok("inet_interfaces = 192.0.2.1\n", mcf, &ls);
	expect_set(&ls, port, want, N_ELEMENTS(want));
	listen_set_close(&ls);
	assert_int_equal(ls.n, 0);
	assert_null(ls.items);
	/* Closed means closed: the port can be bound again. */
	{
		int fd = bind_tcp("127.0.0.1", port, true);

		assert_true(fd >= 0);
		close(fd);
	}
	free(mcf);
	free(name);
}

static void
test_bracketed_ipv6(void **state)
{
	static const char *const want[] = { "[::1]" };
	unsigned port;
	char *name, *mcf;
	struct listen_set ls;

	(void)state;
	need_ipv6();
	port = pick_port();
	name = xasprintf("[::1]:%u", port);
	mcf = service_line(name, NULL);
	listen_ok("", mcf, &ls);
	expect_set(&ls, port, want, N_ELEMENTS(want));
	listen_set_close(&ls);
	free(mcf);
	free(name);
}

static void
test_loopback_only(void **state)
{
	static const char *const v4[] = { "127.0.0.1" };
	static const char *const v6[] = { "[::1]" };
	static const char *const both[] = { "127.0.0.1", "[::1]" };
	unsigned port = pick_port();
	char *name = xasprintf("%u", port);
	char *star = xasprintf("*:%u", port);
	char *mcf = service_line(name, NULL);
	char *mcf_star = service_line(star, NULL);
	struct listen_set ls;

	(void)state;
	listen_ok("inet_interfaces = loopback-only\n"
	    "inet_protocols = ipv4\n", mcf, &ls);
	expect_set(&ls, port, v4, N_ELEMENTS(v4));
	listen_set_close(&ls);

	/* "*:port" is the same as a bare port. */
	listen_ok("inet_interfaces = loopback-only\n"
	    "inet_protocols = ipv4\n", mcf_star, &ls);
	expect_set(&ls, port, v4, N_ELEMENTS(v4));
	listen_set_close(&ls);

	/* Keywords in any case. */
	listen_ok("inet_interfaces = Loopback-Only\n"
	    "inet_protocols = IPv4\n", mcf, &ls);
	expect_set(&ls, port, v4, N_ELEMENTS(v4));
	listen_set_close(&ls);

	listen_ok("inet_interfaces = loopback-only\n"
	    "inet_protocols = all\n", mcf, &ls);
	if (have_ipv6_loopback())
		expect_set(&ls, port, both, N_ELEMENTS(both));
	else
		expect_set(&ls, port, v4, N_ELEMENTS(v4));
	listen_set_close(&ls);

	if (have_ipv6_loopback()) {
		listen_ok("inet_interfaces = loopback-only\n"
		    "inet_protocols = ipv6\n", mcf, &ls);
		expect_set(&ls, port, v6, N_ELEMENTS(v6));
		listen_set_close(&ls);
		listen_ok("inet_interfaces = loopback-only\n"
		    "inet_protocols = ipv4, ipv6\n", mcf, &ls);
		expect_set(&ls, port, both, N_ELEMENTS(both));
		listen_set_close(&ls);
	}
	free(mcf);
	free(mcf_star);
	free(name);
	free(star);
}

static void
test_all_interfaces(void **state)
{
	static const char *const v4[] = { "0.0.0.0" };
	static const char *const both[] = { "0.0.0.0", "[::]" };
	unsigned port = pick_port();
	char *name = xasprintf("%u", port);
	char *mcf = service_line(name, NULL);
	struct listen_set ls;

	(void)state;
	listen_ok("inet_interfaces = all\ninet_protocols = ipv4\n", mcf,
	    &ls);
	expect_set(&ls, port, v4, N_ELEMENTS(v4));
	listen_set_close(&ls);

	/* The defaults are all and all; [::] is V6ONLY beside 0.0.0.0. */
	listen_ok("", mcf, &ls);
	if (have_ipv6_loopback())
		expect_set(&ls, port, both, N_ELEMENTS(both));
	else
		expect_set(&ls, port, v4, N_ELEMENTS(v4));
	listen_set_close(&ls);
	free(mcf);
	free(name);
}

static void
test_address_list(void **state)
{
	static const char *const two4[] = { "127.0.0.1", "127.0.0.2" };
	static const char *const mixed[] = { "127.0.0.1", "[::1]" };
	unsigned port = pick_port();
	char *name = xasprintf("%u", port);
	char *mcf = service_line(name, NULL);
	struct listen_set ls;

	(void)state;
	listen_ok("inet_interfaces = 127.0.0.1, 127.0.0.2\n"
	    "inet_protocols = ipv4\n", mcf, &ls);
	expect_set(&ls, port, two4, N_ELEMENTS(two4));
	listen_set_close(&ls);

	if (have_ipv6_loopback()) {
		/* [v6] in the list, bare v6 too. */
		listen_ok("inet_interfaces = 127.0.0.1 [::1]\n", mcf, &ls);
		expect_set(&ls, port, mixed, N_ELEMENTS(mixed));
		listen_set_close(&ls);
		listen_ok("inet_interfaces = 127.0.0.1 ::1\n", mcf, &ls);
		expect_set(&ls, port, mixed, N_ELEMENTS(mixed));
		listen_set_close(&ls);
	}
	free(mcf);
	free(name);
}

static void
test_host_name(void **state)
{
	unsigned port = pick_port();
	char *name = xasprintf("localhost:%u", port);
	char *want = xasprintf("127.0.0.1:%u", port);
	char *mcf = service_line(name, NULL);
	struct listen_set ls;

	(void)state;
	listen_ok("inet_protocols = ipv4\n", mcf, &ls);
	assert_true(ls.n >= 1);
	assert_true(set_has(&ls, want));
	for (size_t i = 0; i < ls.n; i++)
		check_listener(&ls.items[i]);
	listen_set_close(&ls);
	free(mcf);
	free(want);
	free(name);
}

static void
test_service_override(void **state)
{
	static const char *const v4[] = { "127.0.0.1" };
	unsigned port = pick_port();
	char *name = xasprintf("%u", port);
	char *mcf = service_line(name, "\n  -o inet_interfaces=loopback-only"
	    "\n  -o inet_protocols=ipv4");
	struct listen_set ls;

	(void)state;
	/* main.cf says all; the service's -o wins in its view. */
	listen_ok("inet_interfaces = all\ninet_protocols = all\n", mcf, &ls);
	expect_set(&ls, port, v4, N_ELEMENTS(v4));
	listen_set_close(&ls);
	free(mcf);
	free(name);
}

/* A service name from /etc/services: the first free one above 1023. */
static void
test_named_port(void **state)
{
	struct servent *se;
	char *names[64];
	size_t n = 0;
	char *name = NULL, *want = NULL, *svc, *mcf;
	struct listen_set ls;

	(void)state;
	setservent(0);
	while (n < N_ELEMENTS(names) && (se = getservent()) != NULL)
		if (strcmp(se->s_proto, "tcp") == 0 &&
		    ntohs((uint16_t)se->s_port) >= 1024 &&
		    strspn(se->s_name, "abcdefghijklmnopqrstuvwxyz-") ==
		    strlen(se->s_name))
			names[n++] = xstrdup(se->s_name);
	endservent();
	for (size_t i = 0; i < n; i++) {
		if (name == NULL) {
			/* Its first tcp entry must be this one, and free. */
			struct servent *again = getservbyname(names[i], "tcp");
			unsigned port = again != NULL ?
			    ntohs((uint16_t)again->s_port) : 0;
			int fd = port >= 1024 ?
			    bind_tcp("127.0.0.1", port, false) : -1;

			if (fd >= 0) {
				close(fd);
				name = names[i];
				want = xasprintf("127.0.0.1:%u", port);
				continue;
			}
		}
		free(names[i]);
	}
	if (name == NULL)
		skip();
	svc = xasprintf("127.0.0.1:%s", name);
	mcf = service_line(svc, NULL);
	listen_ok("", mcf, &ls);
	assert_int_equal(ls.n, 1);
	assert_string_equal(ls.items[0].addr, want);
	check_listener(&ls.items[0]);
	listen_set_close(&ls);
	free(svc);
	free(mcf);
	free(want);
	free(name);
}

static void
test_unknown_service_name(void **state)
{
	char *mcf = service_line("127.0.0.1:nosuchservicexyz", NULL);
	char *bare = service_line("nosuchservicexyz", NULL);
	char *error;

	(void)state;
	error = listen_fails("", mcf, "service 127.0.0.1:nosuchservicexyz",
	    "\"nosuchservicexyz\" is neither a port number (1-65535) nor a "
	    "TCP service name", NULL);
	free(error);
	error = listen_fails("inet_interfaces = loopback-only\n", bare,
	    "service nosuchservicexyz:", "nosuchservicexyz", "/etc/services",
	    NULL);
	free(error);
	free(mcf);
	free(bare);
}

static void
test_address_in_use(void **state)
{
	unsigned port = pick_port();
	char *name = xasprintf("127.0.0.1:%u", port);
	char *where = xasprintf("cannot listen on 127.0.0.1:%u", port);
	char *svc = xasprintf("service 127.0.0.1:%u:", port);
	char *mcf = service_line(name, NULL);
	char *error;
	int busy = bind_tcp("127.0.0.1", port, true);

	(void)state;
	assert_true(busy >= 0);
	error = listen_fails("", mcf, svc, where, strerror(EADDRINUSE),
	    "ss -ltnp", NULL);
	free(error);
	close(busy);
	free(mcf);
	free(svc);
	free(where);
	free(name);
}

/* The second address fails: the first one is closed again. */
static void
test_partial_failure_closes_all(void **state)
{
	unsigned port = pick_port();
	char *name = xasprintf("%u", port);
	char *where = xasprintf("127.0.0.2:%u", port);
	char *mcf = service_line(name, NULL);
	char *error;
	int busy = bind_tcp("127.0.0.2", port, true), fd;

	(void)state;
	assert_true(busy >= 0);
	error = listen_fails("inet_interfaces = 127.0.0.1, 127.0.0.2\n"
	    "inet_protocols = ipv4\n", mcf, where, "Address already in use",
	    NULL);
	free(error);
	/* 127.0.0.1:port was bound first and must be free again. */
	fd = bind_tcp("127.0.0.1", port, true);
	assert_true(fd >= 0);
	close(fd);

	/* The same address twice collides with itself. */
	error = listen_fails("inet_interfaces = 127.0.0.3 127.0.0.3\n"
	    "inet_protocols = ipv4\n", mcf, "127.0.0.3", "in use", NULL);
	free(error);
	close(busy);
	free(mcf);
	free(where);
	free(name);
}

/*
 * [::1] taken by another program while inet_protocols includes ipv6:
 * that is a conflict to report, not a host without IPv6 loopback.
 */
static void
test_ipv6_loopback_in_use(void **state)
{
	unsigned port;
	char *name, *mcf, *error;
	int busy;

	(void)state;
	need_ipv6();
	port = pick_port();
	name = xasprintf("%u", port);
	mcf = service_line(name, NULL);
	busy = bind_tcp("::1", port, true);
	assert_true(busy >= 0);
	error = listen_fails("inet_interfaces = loopback-only\n"
	    "inet_protocols = all\n", mcf, "[::1]", "Address already in use",
	    NULL);
	free(error);
	close(busy);
	free(mcf);
	free(name);
}

static void
test_address_not_here(void **state)
{
	unsigned port = pick_port();
	char *name = xasprintf("%u", port);
	char *mcf = service_line(name, NULL);
	char *error;

	(void)state;
	/* 192.0.2.0/24 is documentation space: never on this machine. */
	error = listen_fails("inet_interfaces = 127.0.0.1 192.0.2.1\n"
	    "inet_protocols = ipv4\n", mcf, "192.0.2.1",
	    strerror(EADDRNOTAVAIL), "check inet_interfaces", NULL);
	free(error);
	free(mcf);
	free(name);
}

static void
test_bad_protocols(void **state)
{
	unsigned port = pick_port();
	char *name = xasprintf("127.0.0.1:%u", port);
	char *mcf = service_line(name, NULL);
	char *error;

	(void)state;
	error = listen_fails("inet_protocols = ipv5\n", mcf,
	    "inet_protocols: unknown protocol \"ipv5\"",
	    "expected all, ipv4 or ipv6", NULL);
	free(error);
	error = listen_fails("inet_protocols = ipv4, ipv5\n", mcf,
	    "\"ipv5\"", NULL);
	free(error);
	error = listen_fails("inet_protocols =\n", mcf,
	    "inet_protocols is empty", NULL);
	free(error);
	free(mcf);
	free(name);
}

static void
test_bad_interfaces(void **state)
{
	unsigned port = pick_port();
	char *name = xasprintf("%u", port);
	char *mcf = service_line(name, NULL);
	char *svc = xasprintf("service %u:", port);
	char *error;

	(void)state;
	error = listen_fails("inet_interfaces =\n", mcf, svc,
	    "inet_interfaces is empty", NULL);
	free(error);
	/* An IPv4 address with only IPv6 enabled cannot be used. */
	error = listen_fails("inet_interfaces = 127.0.0.1\n"
	    "inet_protocols = ipv6\n", mcf, svc, "127.0.0.1", NULL);
	free(error);
	/* A name that does not resolve. */
	error = listen_fails("inet_interfaces = no-such-host.invalid\n"
	    "inet_protocols = ipv4\n", mcf, svc,
	    "cannot resolve listen address \"no-such-host.invalid\"", NULL);
	free(error);
	free(svc);
	free(mcf);
	free(name);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_port),
		cmocka_unit_test(test_bracketed_ipv6),
		cmocka_unit_test(test_loopback_only),
		cmocka_unit_test(test_all_interfaces),
		cmocka_unit_test(test_address_list),
		cmocka_unit_test(test_host_name),
		cmocka_unit_test(test_service_override),
		cmocka_unit_test(test_named_port),
		cmocka_unit_test(test_unknown_service_name),
		cmocka_unit_test(test_address_in_use),
		cmocka_unit_test(test_partial_failure_closes_all),
		cmocka_unit_test(test_ipv6_loopback_in_use),
		cmocka_unit_test(test_address_not_here),
		cmocka_unit_test(test_bad_protocols),
		cmocka_unit_test(test_bad_interfaces),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
