/* SPDX-License-Identifier: MIT */
/*
 * test_support - helpers shared by the unit tests; see test_support.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "diag.h"
#include "file_read.h"
#include "test_support.h"
#include "xalloc.h"

char *
test_source_path(const char *rel)
{
	const char *dir = getenv("OSTIA_SOURCE_DIR");

	if (dir == NULL || *dir == '\0')
		dir = OSTIA_TEST_SOURCE_DIR;
	return xasprintf("%s/%s", dir, rel);
}

char *
test_read_file(const char *path, size_t *len_r)
{
	char *err = NULL, *text;
	size_t len = 0;
	int e = 0;

	text = file_read_capped(path, 16 * 1024 * 1024, &len, &e, &err);
	if (text == NULL)
		fail_msg("%s: %s", path, err);
	if (len_r != NULL)
		*len_r = len;
	return text;
}

void
test_print_diags(const struct diag_list *dl)
{
	for (size_t i = 0; i < dl->n; i++) {
		char *s = diag_format(&dl->items[i]);

		print_message("  %s: %s\n", dl->items[i].level == DIAG_ERROR ?
		    "error" : "warning", s);
		free(s);
	}
}

void
test_listener_open(struct test_listener *l, bool tcp, const char *tag,
    const char *name)
{
	memset(l, 0, sizeof(*l));
	if (tcp) {
		struct sockaddr_in sin;
		socklen_t slen = sizeof(sin);

		l->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		assert_true(l->fd >= 0);
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		assert_int_equal(bind(l->fd, (struct sockaddr *)&sin,
		    sizeof(sin)), 0);
		assert_int_equal(getsockname(l->fd,
		    (struct sockaddr *)&sin, &slen), 0);
		l->port = ntohs(sin.sin_port);
	} else {
		struct sockaddr_un sun;

		snprintf(l->dir, sizeof(l->dir), "/tmp/ostia-%s-XXXXXX", tag);
		assert_non_null(mkdtemp(l->dir));
		snprintf(l->path, sizeof(l->path), "%s/%s", l->dir, name);
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		assert_true(strlen(l->path) < sizeof(sun.sun_path));
		memcpy(sun.sun_path, l->path, strlen(l->path) + 1);
		l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		assert_true(l->fd >= 0);
		assert_int_equal(bind(l->fd, (struct sockaddr *)&sun,
		    sizeof(sun)), 0);
	}
}

void
test_listener_close(struct test_listener *l)
{
	if (l->fd >= 0) {
		close(l->fd);
		l->fd = -1;
	}
}

void
test_listener_remove(struct test_listener *l)
{
	test_listener_close(l);
	if (l->path[0] != '\0')
		unlink(l->path);
	if (l->dir[0] != '\0')
		rmdir(l->dir);
	l->path[0] = l->dir[0] = '\0';
}

void
test_write_all(int sock, const void *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(sock, p, n, MSG_NOSIGNAL);

		if (w < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		assert_true(w > 0);
		p = (const char *)p + w;
		n -= (size_t)w;
	}
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

void
test_run_until(struct event_base *base, test_cond_fn *cond, void *arg)
{
	struct timeval tick = { 0, 2000 };
	struct event *t = event_new(base, -1, EV_PERSIST, on_tick, NULL);
	time_t start = time(NULL);

	event_add(t, &tick);
	while (!cond(arg)) {
		assert_true(time(NULL) - start < 10);
		event_base_loop(base, EVLOOP_ONCE);
	}
	event_free(t);
}

void
test_run_for(struct event_base *base, unsigned ms)
{
	struct timeval tv = { (time_t)(ms / 1000),
	    (suseconds_t)(ms % 1000) * 1000 };

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}
