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
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/time.h>

#include <cmocka.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "compat.h"
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

/* ------------------------------------------------------------------ */
/* Scripted SMTP/LMTP server */

static void script_problem(struct test_script *s, const char *fmt, ...)
    ATTR_FORMAT(2, 3);

static void
script_problem(struct test_script *s, const char *fmt, ...)
{
	va_list ap;

	if (s->problem != NULL)
		return;
	va_start(ap, fmt);
	s->problem = xvasprintf(fmt, ap);
	va_end(ap);
}

static void
script_close(struct test_script *s)
{
	if (s->ssl != NULL)
		SSL_free(s->ssl);
	s->ssl = NULL;
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->inlen = 0;
}

static void
script_accept(struct test_script *s)
{
	struct pollfd pfd = { s->l.fd, POLLIN, 0 };
	struct timeval tv = { 10, 0 };

	script_close(s);
	if (poll(&pfd, 1, 10000) != 1) {
		script_problem(s, "no connection");
		return;
	}
	s->fd = accept(s->l.fd, NULL, NULL);
	if (s->fd < 0) {
		script_problem(s, "accept: %s", strerror(errno));
		return;
	}
	setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(s->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* script_fill - read at most max more bytes into s->in; false at
 * EOF/error. */
static bool
script_fill(struct test_script *s, size_t max)
{
	size_t room = sizeof(s->in) - s->inlen;
	ssize_t n;

	if (room == 0 || s->fd < 0)
		return false;
	if (room > max)
		room = max;
	if (s->ssl != NULL)
		n = SSL_read(s->ssl, s->in + s->inlen, (int)room);
	else
		n = read(s->fd, s->in + s->inlen, room);
	if (n <= 0)
		return false;
	s->inlen += (size_t)n;
	return true;
}

static void
script_write(struct test_script *s, const char *text)
{
	size_t n = strlen(text);

	if (s->fd < 0) {
		script_problem(s, "write without a connection");
		return;
	}
	if (s->ssl != NULL) {
		if (SSL_write(s->ssl, text, (int)n) <= 0)
			script_problem(s, "SSL_write failed");
		return;
	}
	while (n > 0) {
		ssize_t w = send(s->fd, text, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			script_problem(s, "send: %s", strerror(errno));
			return;
		}
		text += w;
		n -= (size_t)w;
	}
}

/* script_line - the next line into out (raw: with its CRLF, *rawlen
 * its length); false at EOF. */
static bool
script_line(struct test_script *s, char *out, size_t outsz, bool raw,
    size_t *rawlen, size_t fill_max)
{
	for (;;) {
		char *lf = memchr(s->in, '\n', s->inlen);

		if (lf != NULL) {
			size_t n = (size_t)(lf - s->in) + 1;
			size_t keep = raw ? n : n - 1;

			if (!raw && keep > 0 && s->in[keep - 1] == '\r')
				keep--;
			if (keep >= outsz)
				keep = outsz - 1;
			memcpy(out, s->in, keep);
			out[keep] = '\0';
			if (rawlen != NULL)
				*rawlen = keep;
			memmove(s->in, s->in + n, s->inlen - n);
			s->inlen -= n;
			return true;
		}
		if (fill_max < sizeof(s->in))
			usleep(1000);
		if (!script_fill(s, fill_max))
			return false;
	}
}

static void
script_body(struct test_script *s, size_t i, size_t fill_max)
{
	char line[8192];
	size_t rawlen;

	for (;;) {
		if (!script_line(s, line, sizeof(line), true, &rawlen,
		    fill_max)) {
			script_problem(s, "step %zu: EOF in body", i);
			return;
		}
		if (buf_append(&s->body, line, rawlen) < 0) {
			script_problem(s, "step %zu: body too long", i);
			return;
		}
		if (strcmp(line, ".\r\n") == 0)
			return;
	}
}

/* script_tls - SSL_accept on the connection, noting the SNI the client
 * sent; nothing may be buffered before it.  False when it failed (no
 * TLS then); a problem only when it could not be tried. */
static bool
script_tls(struct test_script *s, size_t i)
{
	const char *sni;

	if (s->inlen > 0) {
		script_problem(s, "step %zu: %zu bytes sent before the TLS "
		    "handshake", i, s->inlen);
		return false;
	}
	if (s->tls == NULL) {
		script_problem(s, "step %zu: no TLS context", i);
		return false;
	}
	s->ssl = SSL_new(s->tls);
	SSL_set_fd(s->ssl, s->fd);
	if (SSL_accept(s->ssl) != 1) {
		ERR_clear_error();
		SSL_free(s->ssl);
		s->ssl = NULL;
		return false;
	}
	sni = SSL_get_servername(s->ssl, TLSEXT_NAMETYPE_host_name);
	snprintf(s->sni, sizeof(s->sni), "%s", sni != NULL ? sni : "");
	return true;
}

static void *
script_main(void *arg)
{
	struct test_script *s = arg;
	char line[8192];
	sigset_t pipe_set;

	/* Writes to a client that has gone may raise SIGPIPE (OpenSSL's
	 * socket BIO): blocked in this thread. */
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
	for (size_t i = 0; s->steps[i].kind != TS_END && s->problem == NULL;
	    i++) {
		const struct test_step *st = &s->steps[i];

		switch (st->kind) {
		case TS_END:
			break;
		case TS_ACCEPT:
			script_accept(s);
			break;
		case TS_SEND:
			script_write(s, st->text);
			break;
		case TS_EXPECT:
			if (!script_line(s, line, sizeof(line), false, NULL,
			    sizeof(s->in))) {
				script_problem(s, "step %zu: EOF, wanted "
				    "\"%s\"", i, st->text);
				break;
			}
			buf_appendf(&s->lines, "%s\n", line);
			if (strcmp(line, st->text) != 0)
				script_problem(s, "step %zu: got \"%s\", "
				    "wanted \"%s\"", i, line, st->text);
			break;
		case TS_BODY:
			script_body(s, i, sizeof(s->in));
			break;
		case TS_BODY_SLOW:
			script_body(s, i, 8192);
			break;
		case TS_BODY_PART:
			while (s->inlen < 100 && script_fill(s, sizeof(s->in)))
				;
			s->inlen = 0;
			break;
		case TS_QUIET: {
			struct pollfd pfd = { s->fd, POLLIN, 0 };

			if (s->inlen > 0 || poll(&pfd, 1, 200) > 0)
				s->pipelined = true;
			break;
		}
		case TS_CLOSE:
			script_close(s);
			break;
		case TS_HANG:
			while (script_fill(s, sizeof(s->in)))
				s->inlen = 0;
			break;
		case TS_EOF:
			if (script_line(s, line, sizeof(line), false, NULL,
			    sizeof(s->in)))
				script_problem(s, "step %zu: got \"%s\", "
				    "wanted the end", i, line);
			else if (s->inlen > 0)
				script_problem(s, "step %zu: %zu bytes before "
				    "the end", i, s->inlen);
			break;
		case TS_STARTTLS:
			if (!script_tls(s, i))
				script_problem(s, "step %zu: TLS handshake "
				    "failed", i);
			break;
		case TS_TLS_FAIL:
			if (script_tls(s, i))
				script_problem(s, "step %zu: TLS handshake "
				    "succeeded", i);
			break;
		}
	}
	script_close(s);
	return NULL;
}

void
test_script_start(struct test_script *s, const struct test_step *steps,
    bool tcp, SSL_CTX *tls)
{
	memset(s, 0, sizeof(*s));
	s->fd = -1;
	s->steps = steps;
	s->tls = tls;
	buf_init(&s->body, 64 << 20);
	buf_init(&s->lines, 1 << 20);
	test_listener_open(&s->l, tcp, "script", "smtp");
	assert_int_equal(listen(s->l.fd, 8), 0);
	assert_int_equal(pthread_create(&s->th, NULL, script_main, s), 0);
}

void
test_script_finish(struct test_script *s)
{
	assert_int_equal(pthread_join(s->th, NULL), 0);
	test_listener_remove(&s->l);
	if (s->problem != NULL)
		fail_msg("server: %s (lines: %s)", s->problem,
		    buf_cstr(&s->lines));
	buf_deinit(&s->body);
	buf_deinit(&s->lines);
}

char *
test_script_dest(const struct test_script *s)
{
	return s->l.port != 0 ? xasprintf("inet:127.0.0.1:%u", s->l.port) :
	    xasprintf("unix:%s", s->l.path);
}

SSL_CTX *
test_tls_server_ctx(const char *cn)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *n;
	SSL_CTX *ctx;

	assert_non_null(key);
	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -86400);
	X509_gmtime_adj(X509_getm_notAfter(x), 30 * 86400);
	X509_set_pubkey(x, key);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, n);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	ctx = SSL_CTX_new(TLS_server_method());
	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_use_certificate(ctx, x), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(ctx, key), 1);
	X509_free(x);
	EVP_PKEY_free(key);
	return ctx;
}

void
test_remove_tree(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *e;

	if (lstat(path, &st) < 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		(void)unlink(path);
		return;
	}
	(void)chmod(path, 0700);
	d = opendir(path);
	if (d != NULL) {
		while ((e = readdir(d)) != NULL) {
			char *p;

			if (strcmp(e->d_name, ".") == 0 ||
			    strcmp(e->d_name, "..") == 0)
				continue;
			p = xasprintf("%s/%s", path, e->d_name);
			test_remove_tree(p);
			free(p);
		}
		closedir(d);
	}
	(void)rmdir(path);
}

pid_t
test_fork_helper(void)
{
	pid_t parent = getpid();
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
			_exit(70);
		/* The parent may have died before prctl. */
		if (getppid() != parent)
			_exit(70);
	}
	return pid;
}
