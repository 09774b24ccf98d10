/* SPDX-License-Identifier: MIT */
/*
 * test_sasl_dovecot - smtpd's client of Dovecot's auth service
 * (src/smtpd/sasl_dovecot.c) against a fake Dovecot driven by the test.
 *
 * The fake listens on a UNIX-domain socket in a temporary directory (or
 * on 127.0.0.1 for inet:), on the same event loop as the client.  It
 * sends a configurable handshake when a connection comes in, records
 * every line the client sends, and answers only what each test tells it
 * to, so every exchange is spelled out in the test.
 *
 * What must hold: the lines sent are exactly the protocol's; answers
 * reach the right request; callbacks never run inside an API call; every
 * way of not getting an answer is TEMPFAIL, never FAIL; bad input from
 * the client is refused before it is sent; base64 responses and
 * passwords never reach the log.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "buf.h"
#include "log.h"
#include "sasl_dovecot.h"
#include "sasl_dovecot_text.h"
#include "test_support.h"
#include "xalloc.h"

/* "\0alice\0secret" */
#define PLAIN_ALICE "AGFsaWNlAHNlY3JldA=="
#define B64_ALICE "YWxpY2U="	/* "alice" */
#define B64_SECRET "c2VjcmV0"	/* "secret" */

#define HELLO \
	"VERSION\t1\t2\n" \
	"MECH\tPLAIN\tplaintext\n" \
	"MECH\tLOGIN\tplaintext\n" \
	"MECH\tCRAM-MD5\tdictionary\tactive\n" \
	"MECH\tAPOP\tprivate\n" \
	"MECH\tANONYMOUS\tanonymous\n" \
	"SPID\t77\n" \
	"CUID\t1\n" \
	"COOKIE\t0123456789abcdef0123456789abcdef\n" \
	"DONE\n"

/* ---------------------------------------------------------------- */
/* The fake Dovecot                                                 */

struct fake {
	struct event_base *base;
	struct test_listener l;	/* where it listens */
	char spec[160];		/* what sasl_dovecot_new() gets */
	struct event *lev;
	unsigned accepted;
	int conn;		/* the latest connection, -1 none */
	struct event *cev;
	struct buf in;		/* what the client sent on it */
	bool eof;		/* the client closed it */
	const char *hello;	/* sent when a connection comes in */
	bool close_after_hello;
};

static void
fake_drop(struct fake *f)
{
	if (f->cev != NULL) {
		event_free(f->cev);
		f->cev = NULL;
	}
	if (f->conn >= 0) {
		close(f->conn);
		f->conn = -1;
	}
}

static void
on_fconn(evutil_socket_t fd, short what, void *arg)
{
	struct fake *f = arg;
	char chunk[8192];
	ssize_t n = recv(f->conn, chunk, sizeof(chunk), 0);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		f->eof = true;
		fake_drop(f);
		return;
	}
	assert_int_equal(buf_append(&f->in, chunk, (size_t)n), 0);
}

static void
on_faccept(evutil_socket_t fd, short what, void *arg)
{
	struct fake *f = arg;
	int s = accept4(f->l.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (s < 0)
		return;
	fake_drop(f);
	f->accepted++;
	f->conn = s;
	f->eof = false;
	buf_reset(&f->in);
	f->cev = event_new(f->base, s, EV_READ | EV_PERSIST, on_fconn, f);
	event_add(f->cev, NULL);
	if (f->hello != NULL)
		test_write_all(s, f->hello, strlen(f->hello));
	if (f->close_after_hello)
		shutdown(s, SHUT_WR);
}

static void
fake_init(struct fake *f, struct event_base *base, bool tcp)
{
	memset(f, 0, sizeof(*f));
	f->base = base;
	f->conn = -1;
	f->hello = HELLO;
	buf_init(&f->in, 1 << 20);
	test_listener_open(&f->l, tcp, "sdv", "auth-client");
	if (tcp)
		snprintf(f->spec, sizeof(f->spec), "inet:127.0.0.1:%u",
		    f->l.port);
	else
		snprintf(f->spec, sizeof(f->spec), "%s", f->l.path);
	assert_int_equal(listen(f->l.fd, 16), 0);
	f->lev = event_new(base, f->l.fd, EV_READ | EV_PERSIST, on_faccept,
	    f);
	event_add(f->lev, NULL);
}

static void
fake_deinit(struct fake *f)
{
	fake_drop(f);
	event_free(f->lev);
	test_listener_remove(&f->l);
	buf_deinit(&f->in);
}

static void
fake_send(struct fake *f, const char *fmt, ...) ATTR_FORMAT(2, 3);

static void
fake_send(struct fake *f, const char *fmt, ...)
{
	char *s;
	va_list ap;

	assert_true(f->conn >= 0);
	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	test_write_all(f->conn, s, strlen(s));
	free(s);
}

/* Lines the client sent on the latest connection. */
static size_t
fake_nlines(const struct fake *f)
{
	size_t n = 0;

	for (size_t i = 0; i < f->in.len; i++)
		if (f->in.data[i] == '\n')
			n++;
	return n;
}

/* Line i (0-based) without its LF; static storage. */
static const char *
fake_line(const struct fake *f, size_t i)
{
	static char line[16384];
	const char *p = buf_cstr(&f->in), *lf;

	while (i-- > 0) {
		p = strchr(p, '\n');
		assert_non_null(p);
		p++;
	}
	lf = strchr(p, '\n');
	assert_non_null(lf);
	assert_true((size_t)(lf - p) < sizeof(line));
	memcpy(line, p, (size_t)(lf - p));
	line[lf - p] = '\0';
	return line;
}

/* ---------------------------------------------------------------- */
/* Results and the log                                              */

struct res {
	unsigned calls;
	enum sasl_step step;
	bool has_data, has_user;
	char data[20000];
	char user[1024];
	/* Things the callback does. */
	struct sasl_dovecot_req **cancel_other;
	struct sasl_dovecot **free_me;
	struct sasl_dovecot_req **respond_req;
	const char *respond_with;
};

static bool inside_api;
static unsigned ncallbacks;
static struct buf logged;

static void
on_result(void *ctx, enum sasl_step step, const char *data,
    const char *user)
{
	struct res *r = ctx;
	const char *err = NULL;

	assert_false(inside_api);
	ncallbacks++;
	r->calls++;
	r->step = step;
	r->has_data = data != NULL;
	r->has_user = user != NULL;
	snprintf(r->data, sizeof(r->data), "%s", data != NULL ? data : "");
	snprintf(r->user, sizeof(r->user), "%s", user != NULL ? user : "");
	if (r->cancel_other != NULL && *r->cancel_other != NULL) {
		sasl_dovecot_cancel(*r->cancel_other);
		*r->cancel_other = NULL;
	}
	if (r->respond_req != NULL && step == SASL_STEP_CONTINUE) {
		assert_int_equal(sasl_dovecot_respond(*r->respond_req,
		    r->respond_with, &err), 0);
	}
	if (r->free_me != NULL)
		sasl_dovecot_free(r->free_me);
}

static bool
res_done(void *arg)
{
	return ((struct res *)arg)->calls > 0;
}

static void
on_log(enum log_level level, const char *text, void *ctx)
{
	(void)buf_append_str(&logged, text);
	(void)buf_append_c(&logged, '\n');
}

/* Nothing secret may have been logged. */
static void
assert_log_clean(void)
{
	const char *l = buf_cstr(&logged);

	assert_null(strstr(l, "AGFsaWNl"));
	assert_null(strstr(l, B64_SECRET));
	assert_null(strstr(l, "secret"));
	assert_null(strstr(l, "0123456789abcdef"));	/* the cookie */
}

struct ctx {
	struct event_base *base;
	struct fake f;
	struct sasl_dovecot *d;
};

static int
setup_common(void **state, bool tcp)
{
	struct ctx *c = xcalloc(1, sizeof(*c));
	const char *err = NULL;

	c->base = event_base_new();
	fake_init(&c->f, c->base, tcp);
	c->d = sasl_dovecot_new(c->base, c->f.spec, &err);
	assert_non_null(c->d);
	buf_init(&logged, 1 << 20);
	log_set_capture(on_log, NULL);
	log_set_verbose(3);
	ncallbacks = 0;
	*state = c;
	return 0;
}

static int
setup(void **state)
{
	return setup_common(state, false);
}

static int
setup_tcp(void **state)
{
	return setup_common(state, true);
}

static int
teardown(void **state)
{
	struct ctx *c = *state;

	assert_log_clean();
	log_set_capture(NULL, NULL);
	log_set_verbose(0);
	buf_deinit(&logged);
	sasl_dovecot_free(&c->d);
	fake_deinit(&c->f);
	event_base_free(c->base);
	free(c);
	return 0;
}

/* Wrappers that check no callback runs inside the call. */
static struct sasl_dovecot_req *
start(struct ctx *c, const char *mech, const char *ir,
    const struct sasl_client_info *info, struct res *r)
{
	struct sasl_dovecot_req *q;
	const char *err = NULL;
	unsigned before = ncallbacks;

	inside_api = true;
	q = sasl_dovecot_start(c->d, mech, ir, info, on_result, r, &err);
	inside_api = false;
	assert_non_null(q);
	assert_int_equal(ncallbacks, before);
	return q;
}

static void
respond(struct sasl_dovecot_req *q, const char *b64)
{
	const char *err = NULL;

	inside_api = true;
	assert_int_equal(sasl_dovecot_respond(q, b64, &err), 0);
	inside_api = false;
}

struct nlines_arg {
	struct fake *f;
	size_t n;
};

static bool
has_nlines(void *arg)
{
	struct nlines_arg *a = arg;

	return fake_nlines(a->f) >= a->n;
}

/* Wait until the fake got n lines on its latest connection. */
static void
wait_lines(struct ctx *c, size_t n)
{
	struct nlines_arg a = { &c->f, n };

	test_run_until(c->base, has_nlines, &a);
}

struct accepted_arg {
	struct fake *f;
	unsigned n;
};

static bool
has_accepted(void *arg)
{
	struct accepted_arg *a = arg;

	return a->f->accepted >= a->n;
}

/* Wait until the fake accepted its nth connection. */
static void
wait_accepted(struct ctx *c, unsigned n)
{
	struct accepted_arg a = { &c->f, n };

	test_run_until(c->base, has_accepted, &a);
}

static bool
is_ready(void *arg)
{
	return sasl_dovecot_is_ready(arg);
}

static bool
fake_saw_eof(void *arg)
{
	return ((struct fake *)arg)->eof;
}

/* Connect and complete the handshake; checks the client's half. */
static void
handshake(struct ctx *c)
{
	char cpid[32];

	sasl_dovecot_connect(c->d);
	test_run_until(c->base, is_ready, c->d);
	wait_lines(c, 2);
	assert_string_equal(fake_line(&c->f, 0), "VERSION\t1\t2");
	snprintf(cpid, sizeof(cpid), "CPID\t%ld", (long)getpid());
	assert_string_equal(fake_line(&c->f, 1), cpid);
}

/* ---------------------------------------------------------------- */
/* Tests                                                            */

static void
test_handshake_and_mechs(void **state)
{
	struct ctx *c = *state;
	struct res w = { 0 };
	struct sasl_dovecot_req *q;

	/* Nothing is known before the first handshake. */
	assert_null(sasl_dovecot_mechs(c->d, 0, 0));	/* starts connecting */
	assert_int_equal(sasl_dovecot_mech_flags(c->d, "PLAIN"), -1);
	inside_api = true;
	q = sasl_dovecot_wait(c->d, on_result, &w);
	inside_api = false;
	assert_non_null(q);
	test_run_until(c->base, res_done, &w);
	assert_int_equal(w.step, SASL_STEP_OK);
	assert_string_equal(w.data, "PLAIN LOGIN CRAM-MD5 ANONYMOUS");
	assert_int_equal(c->f.accepted, 1);
	wait_lines(c, 2);
	assert_string_equal(fake_line(&c->f, 0), "VERSION\t1\t2");

	assert_string_equal(sasl_dovecot_mechs(c->d, 0, 0),
	    "PLAIN LOGIN CRAM-MD5 ANONYMOUS");
	assert_string_equal(sasl_dovecot_mechs(c->d, SASL_MECH_PLAINTEXT, 0),
	    "CRAM-MD5 ANONYMOUS");
	assert_string_equal(sasl_dovecot_mechs(c->d, SASL_MECH_PLAINTEXT |
	    SASL_MECH_ANONYMOUS, 0), "CRAM-MD5");
	assert_string_equal(sasl_dovecot_mechs(c->d, 0,
	    SASL_MECH_MUTUAL_AUTH), "");
	assert_int_equal(sasl_dovecot_mech_flags(c->d, "plain"),
	    SASL_MECH_PLAINTEXT);
	assert_int_equal(sasl_dovecot_mech_flags(c->d, "CRAM-MD5"),
	    SASL_MECH_DICTIONARY | SASL_MECH_ACTIVE);
	assert_int_equal(sasl_dovecot_mech_flags(c->d, "APOP"), -1);
	assert_int_equal(sasl_dovecot_mech_flags(c->d, "GSSAPI"), -1);

	/* Once ready, wait() answers at once, from the loop. */
	memset(&w, 0, sizeof(w));
	inside_api = true;
	(void)sasl_dovecot_wait(c->d, on_result, &w);
	inside_api = false;
	assert_int_equal(w.calls, 0);
	test_run_until(c->base, res_done, &w);
	assert_int_equal(w.step, SASL_STEP_OK);
	assert_int_equal(sasl_dovecot_pending(c->d), 0);

	/* The mechanisms outlive the connection. */
	fake_drop(&c->f);
	test_run_for(c->base, 30);
	assert_false(sasl_dovecot_is_ready(c->d));
	assert_string_equal(sasl_dovecot_mechs(c->d, 0, 0),
	    "PLAIN LOGIN CRAM-MD5 ANONYMOUS");
}

static void
test_plain_initial_response(void **state)
{
	struct ctx *c = *state;
	struct res r = { 0 };
	struct sasl_client_info info = {
		.client_addr = "192.0.2.7", .local_addr = "2001:db8::25",
		.client_port = 40001, .local_port = 587, .secured = true,
		.no_penalty = true, .session_id = "sess-1.a",
	};

	/* Queued before the connection exists: sent after DONE. */
	(void)start(c, "plain", PLAIN_ALICE, &info, &r);
	wait_lines(c, 3);
	assert_string_equal(fake_line(&c->f, 2), "AUTH\t1\tPLAIN\tservice=smtp"
	    "\tsecured\tno-penalty\tlip=2001:db8::25\trip=192.0.2.7"
	    "\tlport=587\trport=40001\tsession=sess-1.a\tresp=" PLAIN_ALICE);
	assert_int_equal(sasl_dovecot_pending(c->d), 1);
	fake_send(&c->f, "OK\t1\tuser=alice\n");
	test_run_until(c->base, res_done, &r);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.step, SASL_STEP_OK);
	assert_string_equal(r.data, "alice");
	assert_string_equal(r.user, "alice");
	assert_int_equal(sasl_dovecot_pending(c->d), 0);

	/* A second request on the same connection, without info: sent at
	 * once, next id; unusable info fields are left out. */
	memset(&r, 0, sizeof(r));
	info.client_addr = "unknown";
	info.local_addr = "1.2.3.4\tx";
	info.client_port = 0;
	info.local_port = 70000;
	info.secured = false;
	info.no_penalty = false;
	info.session_id = "bad\tsession";
	(void)start(c, "PLAIN", "=", &info, &r);
	wait_lines(c, 4);
	assert_string_equal(fake_line(&c->f, 3),
	    "AUTH\t2\tPLAIN\tservice=smtp\tresp==");
	fake_send(&c->f, "FAIL\t2\n");
	test_run_until(c->base, res_done, &r);
	assert_int_equal(r.step, SASL_STEP_FAIL);
	assert_false(r.has_data);
	assert_false(r.has_user);
	assert_int_equal(c->f.accepted, 1);
}

static void
test_login_two_steps(void **state)
{
	struct ctx *c = *state;
	struct res r = { 0 };
	struct sasl_dovecot_req *q;

	handshake(c);
	q = start(c, "LOGIN", NULL, NULL, &r);
	wait_lines(c, 3);
	assert_string_equal(fake_line(&c->f, 2),
	    "AUTH\t1\tLOGIN\tservice=smtp");
	fake_send(&c->f, "CONT\t1\tVXNlcm5hbWU6\n");
	test_run_until(c->base, res_done, &r);
	assert_int_equal(r.step, SASL_STEP_CONTINUE);
	assert_string_equal(r.data, "VXNlcm5hbWU6");
	assert_false(r.has_user);
	assert_int_equal(sasl_dovecot_pending(c->d), 1);

	r.calls = 0;
	respond(q, B64_ALICE);
	wait_lines(c, 4);
	assert_string_equal(fake_line(&c->f, 3), "CONT\t1\t" B64_ALICE);
	fake_send(&c->f, "CONT\t1\tUGFzc3dvcmQ6\n");
	test_run_until(c->base, res_done, &r);
	assert_int_equal(r.step, SASL_STEP_CONTINUE);
	assert_string_equal(r.data, "UGFzc3dvcmQ6");

	r.calls = 0;
	respond(q, B64_SECRET);
	wait_lines(c, 5);
	assert_string_equal(fake_line(&c->f, 4), "CONT\t1\t" B64_SECRET);
	fake_send(&c->f, "OK\t1\tuser=alice@example.org\tnologin\n");
	test_run_until(c->base, res_done, &r);
	assert_int_equal(r.step, SASL_STEP_OK);
	assert_string_equal(r.data, "alice@example.org");

	/* An empty challenge, answered from inside the callback with an
	 * empty response. */
	memset(&r, 0, sizeof(r));
	r.respond_req = &q;
	r.respond_with = "";
	q = start(c, "PLAIN", NULL, NULL, &r);
	wait_lines(c, 6);
	fake_send(&c->f, "CONT\t2\t\n");
	wait_lines(c, 7);
	assert_string_equal(fake_line(&c->f, 6), "CONT\t2\t");
	assert_int_equal(r.step, SASL_STEP_CONTINUE);
	assert_string_equal(r.data, "");
	r.respond_req = NULL;
	r.calls = 0;
	fake_send(&c->f, "FAIL\t2\tuser=\n");
	test_run_until(c->base, res_done, &r);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.step, SASL_STEP_FAIL);
}

static void
test_fail_and_reason(void **state)
{
	struct ctx *c = *state;
	struct res r = { 0 };

	handshake(c);
	(void)start(c, "PLAIN", PLAIN_ALICE, NULL, &r);
	wait_lines(c, 3);
	/* Tab-escaped values; the reason is cleaned for an SMTP reply. */
	fake_send(&c->f, "FAIL\t1\tuser=al\001tice\tcode=authz_fail\t"
	    "reason=Bad\001tpass\303\251\tnodelay\tunknown=x\n");
	test_run_until(c->base, res_done, &r);
	assert_int_equal(r.step, SASL_STEP_FAIL);
	assert_string_equal(r.data, "Bad?pass??");
	assert_string_equal(r.user, "al\tice");

	/* The reason is cut to SASL_DOVECOT_REASON_MAX. */
	memset(&r, 0, sizeof(r));
	(void)start(c, "PLAIN", PLAIN_ALICE, NULL, &r);
	wait_lines(c, 4);
	{
		char longr[1001];

		memset(longr, 'r', 1000);
		longr[1000] = '\0';
		fake_send(&c->f, "FAIL\t2\treason=%s\n", longr);
	}
	test_run_until(c->base, res_done, &r);
	assert_int_equal(r.step, SASL_STEP_FAIL);
	assert_int_equal(strlen(r.data), SASL_DOVECOT_REASON_MAX);
	assert_int_equal(c->f.accepted, 1);
}

static void
test_fail_temp(void **state)
{
	struct ctx *c = *state;
	struct res r1 = { 0 }, r2 = { 0 }, r3 = { 0 };

	handshake(c);
	(void)start(c, "PLAIN", PLAIN_ALICE, NULL, &r1);
	(void)start(c, "PLAIN", PLAIN_ALICE, NULL, &r2);
	(void)start(c, "PLAIN", PLAIN_ALICE, NULL, &r3);
	wait_lines(c, 5);
	/* Dovecot 2.3 */
	fake_send(&c->f, "FAIL\t1\tuser=bob\tcode=temp_fail\n");
	/* Dovecot 2.2, with a reason */
	fake_send(&c->f, "FAIL\t2\tuser=bob\ttemp\treason=db down\n");
	/* other codes stay FAIL */
	fake_send(&c->f, "FAIL\t3\tuser=bob\tcode=user_disabled\n");
	test_run_until(c->base, res_done, &r3);
	assert_int_equal(r1.step, SASL_STEP_TEMPFAIL);
	assert_string_equal(r1.user, "bob");
	assert_true(strlen(r1.data) > 0);
	assert_int_equal(r2.step, SASL_STEP_TEMPFAIL);
	assert_string_equal(r2.data, "db down");
	assert_int_equal(r3.step, SASL_STEP_FAIL);
	assert_int_equal(c->f.accepted, 1);
}

static void
test_close_mid_exchange(void **state)
{
	struct ctx *c = *state;
	struct res r1 = { 0 }, r2 = { 0 }, r3 = { 0 };
	struct sasl_dovecot_req *q2;

	handshake(c);
	(void)start(c, "PLAIN", PLAIN_ALICE, NULL, &r1);
	q2 = start(c, "LOGIN", NULL, NULL, &r2);
	wait_lines(c, 4);
	fake_send(&c->f, "CONT\t2\tVXNlcm5hbWU6\n");
	test_run_until(c->base, res_done, &r2);
	assert_int_equal(r2.step, SASL_STEP_CONTINUE);

	/* Dovecot goes away: the waiting request fails temporarily; the
	 * challenged one learns it when it responds. */
	fake_drop(&c->f);
	test_run_until(c->base, res_done, &r1);
	assert_int_equal(r1.step, SASL_STEP_TEMPFAIL);
	assert_int_equal(r2.calls, 1);
	r2.calls = 0;
	respond(q2, B64_ALICE);
	test_run_until(c->base, res_done, &r2);
	assert_int_equal(r2.step, SASL_STEP_TEMPFAIL);
	assert_int_equal(sasl_dovecot_pending(c->d), 0);

	/* A connection that worked is made again at once. */
	(void)start(c, "PLAIN", PLAIN_ALICE, NULL, &r3);
	wait_accepted(c, 2);
	wait_lines(c, 3);
	assert_string_equal(fake_line(&c->f, 2), "AUTH\t1\tPLAIN\t"
	    "service=smtp\tresp=" PLAIN_ALICE);
	fake_send(&c->f, "OK\t1\tuser=alice\n");
	test_run_until(c->base, res_done, &r3);
	assert_int_equal(r3.step, SASL_STEP_OK);
}

/* Dovecot restarted while the loop was busy: the next request does not
 * fail on the dead connection but waits for a new one. */
static void
test_restart_not_yet_noticed(void **state)
{
	struct ctx *c = *state;
	struct res r = { 0 }, w = { 0 };

	handshake(c);
	fake_drop(&c->f);	/* no loop turn: the client has not read EOF */
	(void)start(c, "PLAIN", PLAIN_ALICE, NULL, &r);
	wait_accepted(c, 2);
	wait_lines(c, 3);
	assert_string_equal(fake_line(&c->f, 2), "AUTH\t1\tPLAIN\t"
	    "service=smtp\tresp=" PLAIN_ALICE);
	fake_send(&c->f, "OK\t1\tuser=alice\n");
	test_run_until(c->base, res_done, &r);
	assert_int_equal(r.step, SASL_STEP_OK);

	/* The same for wait(). */
	fake_drop(&c->f);
	(void)sasl_dovecot_wait(c->d, on_result, &w);
	test_run_until(c->base, res_done, &w);
	assert_int_equal(w.step, SASL_STEP_OK);
	assert_int_equal(c->f.accepted, 3);
}

/* One kind of garbage after the handshake: the pending request gets
 * TEMPFAIL, the connection is closed, and after the backoff a new one
 * works. */
static void
garbage_case(struct ctx *c, const char *garbage, size_t len)
{
	struct res r = { 0 }, r2 = { 0 };
	unsigned accepted = c->f.accepted;

	handshake(c);
	assert_int_equal(c->f.accepted, accepted + 1);
	(void)start(c, "PLAIN", PLAIN_ALICE, NULL, &r);
	wait_lines(c, 3);
	test_write_all(c->f.conn, garbage, len);
	test_run_until(c->base, res_done, &r);
	assert_int_equal(r.step, SASL_STEP_TEMPFAIL);
	test_run_until(c->base, fake_saw_eof, &c->f);
	assert_false(sasl_dovecot_is_ready(c->d));

	/* After the backoff (1 ms here) the next request reconnects. */
	test_run_for(c->base, 20);
	(void)start(c, "PLAIN", PLAIN_ALICE, NULL, &r2);
	wait_accepted(c, accepted + 2);
	wait_lines(c, 3);
	fake_send(&c->f, "OK\t1\tuser=alice\n");
	test_run_until(c->base, res_done, &r2);
	assert_int_equal(r2.step, SASL_STEP_OK);
	fake_drop(&c->f);
	test_run_for(c->base, 20);
}

static void
test_garbage_reconnects(void **state)
{
	struct ctx *c = *state;
	static const char nul_line[] = "OK\t1\tuser=al\0ice\n";

	sasl_dovecot_set_timeouts(c->d, 0, 0, 1, 4);
	garbage_case(c, "HELLO\tworld\n", 12);		/* unknown command */
	garbage_case(c, "OK\t99\tuser=alice\n", 17);	/* id never sent */
	garbage_case(c, "OK\tx\tuser=alice\n", 16);	/* no id */
	garbage_case(c, "OK\t01\tuser=alice\n", 17);	/* not canonical */
	garbage_case(c, "OK\t4294967296\tuser=a\n", 21);	/* > 32 bits */
	garbage_case(c, nul_line, sizeof(nul_line) - 1);	/* NUL */
	garbage_case(c, "CONT\t1\tnot base64!\n", 19);
	garbage_case(c, "CONT\t1\tAAAA\textra\n", 18);
	garbage_case(c, "\n", 1);				/* empty line */
}

static void
test_bad_handshakes(void **state)
{
	struct ctx *c = *state;
	static const char *const hellos[] = {
		"VERSION\t2\t0\nDONE\n",		/* wrong major */
		"VERSION\t1x\nDONE\n",			/* no major */
		"MECH\tPLAIN\nDONE\n",			/* no VERSION */
		"VERSION\t1\t2\nMECH\tPLAIN",		/* closed before DONE */
		"",					/* closed at once */
	};
	struct res r = { 0 };

	sasl_dovecot_set_timeouts(c->d, 0, 0, 1, 1);
	c->f.close_after_hello = true;
	for (size_t i = 0; i < N_ELEMENTS(hellos); i++) {
		memset(&r, 0, sizeof(r));
		c->f.hello = hellos[i];
		test_run_for(c->base, 10);
		(void)start(c, "PLAIN", PLAIN_ALICE, NULL, &r);
		test_run_until(c->base, res_done, &r);
		assert_int_equal(r.step, SASL_STEP_TEMPFAIL);
		assert_false(sasl_dovecot_is_ready(c->d));
		assert_int_equal(sasl_dovecot_mech_flags(c->d, "PLAIN"), -1);
		assert_int_equal(c->f.accepted, i + 1);
		/* Nothing but the client's handshake was sent. */
		assert_true(fake_nlines(&c->f) <= 2);
	}
}

static void
test_backoff(void **state)
{
	struct ctx *c = *state;
	struct res r1 = { 0 }, r2 = { 0 }, r3 = { 0 };

	/* A long backoff: the request after a failure fails at once,
	 * without a new connection. */
	sasl_dovecot_set_timeouts(c->d, 0, 0, 60 * 1000, 0);
	c->f.hello = "VERSION\t9\t0\n";
	(void)start(c, "PLAIN", PLAIN_ALICE, NULL, &r1);
	test_run_until(c->base, res_done, &r1);
	assert_int_equal(r1.step, SASL_STEP_TEMPFAIL);
	assert_int_equal(c->f.accepted, 1);
	(void)start(c, "PLAIN", PLAIN_ALICE, NULL, &r2);
	test_run_until(c->base, res_done, &r2);
	assert_int_equal(r2.step, SASL_STEP_TEMPFAIL);
	assert_non_null(strstr(r2.data, "next attempt"));
	(void)sasl_dovecot_wait(c->d, on_result, &r3);
	test_run_until(c->base, res_done, &r3);
	assert_int_equal(r3.step, SASL_STEP_TEMPFAIL);
	sasl_dovecot_connect(c->d);
	test_run_for(c->base, 20);
	assert_int_equal(c->f.accepted, 1);
}

static void
test_unreachable(void **state)
{
	struct ctx *c = *state;
	struct sasl_dovecot *d;
	struct res r = { 0 }, w = { 0 };
	const char *err = NULL;
	char path[200];

	snprintf(path, sizeof(path), "%s/nothing-here", c->f.l.dir);
	d = sasl_dovecot_new(c->base, path, &err);
	assert_non_null(d);
	inside_api = true;
	assert_non_null(sasl_dovecot_start(d, "PLAIN", PLAIN_ALICE, NULL,
	    on_result, &r, &err));
	inside_api = false;
	test_run_until(c->base, res_done, &r);
	assert_int_equal(r.step, SASL_STEP_TEMPFAIL);
	assert_non_null(strstr(r.data, "cannot connect"));
	assert_false(r.has_user);
	(void)sasl_dovecot_wait(d, on_result, &w);
	test_run_until(c->base, res_done, &w);
	assert_int_equal(w.step, SASL_STEP_TEMPFAIL);
	assert_null(sasl_dovecot_mechs(d, 0, 0));
	sasl_dovecot_free(&d);
	assert_null(d);
}

static void
test_cancel(void **state)
{
	struct ctx *c = *state;
	struct res r1 = { 0 }, r2 = { 0 }, r3 = { 0 };
	struct sasl_dovecot_req *q;

	/* Cancelled while queued for the handshake: never sent. */
	q = start(c, "PLAIN", PLAIN_ALICE, NULL, &r1);
	sasl_dovecot_cancel(q);
	assert_int_equal(sasl_dovecot_pending(c->d), 0);
	handshake(c);
	test_run_for(c->base, 20);
	assert_int_equal(fake_nlines(&c->f), 2);

	/* Cancelled while waiting: CANCEL is sent, a late answer is
	 * ignored, the connection stays. */
	q = start(c, "PLAIN", PLAIN_ALICE, NULL, &r2);
	wait_lines(c, 3);
	sasl_dovecot_cancel(q);
	wait_lines(c, 4);
	assert_string_equal(fake_line(&c->f, 3), "CANCEL\t1");
	fake_send(&c->f, "OK\t1\tuser=alice\n");

	/* Cancelled after a challenge (the client sent "*"). */
	q = start(c, "LOGIN", NULL, NULL, &r3);
	wait_lines(c, 5);
	assert_string_equal(fake_line(&c->f, 4), "AUTH\t2\tLOGIN\t"
	    "service=smtp");
	fake_send(&c->f, "CONT\t2\tVXNlcm5hbWU6\n");
	test_run_until(c->base, res_done, &r3);
	sasl_dovecot_cancel(q);
	wait_lines(c, 6);
	assert_string_equal(fake_line(&c->f, 5), "CANCEL\t2");
	fake_send(&c->f, "FAIL\t2\treason=Authentication request timed out\n");
	/* (A request whose answer waits for delivery when it is cancelled:
	 * test_callback_reentrancy.) */
	test_run_for(c->base, 20);
	assert_int_equal(r1.calls + r2.calls, 0);
	assert_int_equal(r3.calls, 1);
	assert_int_equal(sasl_dovecot_pending(c->d), 0);
	assert_true(sasl_dovecot_is_ready(c->d));
	assert_int_equal(c->f.accepted, 1);
}

static void
test_long_lines(void **state)
{
	struct ctx *c = *state;
	struct res r = { 0 };
	char *big;
	size_t n;

	sasl_dovecot_set_timeouts(c->d, 0, 0, 1, 1);
	handshake(c);
	/* A line of exactly SASL_DOVECOT_IN_LINE_MAX bytes, LF included,
	 * is accepted. */
	(void)start(c, "PLAIN", PLAIN_ALICE, NULL, &r);
	wait_lines(c, 3);
	big = xmalloc(SASL_DOVECOT_IN_LINE_MAX + 2);
	n = (size_t)snprintf(big, 64, "FAIL\t1\treason=");
	memset(big + n, 'x', SASL_DOVECOT_IN_LINE_MAX - 1 - n);
	big[SASL_DOVECOT_IN_LINE_MAX - 1] = '\n';
	test_write_all(c->f.conn, big, SASL_DOVECOT_IN_LINE_MAX);
	test_run_until(c->base, res_done, &r);
	assert_int_equal(r.step, SASL_STEP_FAIL);
	assert_true(sasl_dovecot_is_ready(c->d));

	/* One byte more ends the connection: TEMPFAIL. */
	memset(&r, 0, sizeof(r));
	(void)start(c, "PLAIN", PLAIN_ALICE, NULL, &r);
	wait_lines(c, 4);
	n = (size_t)snprintf(big, 64, "FAIL\t2\treason=");
	memset(big + n, 'x', SASL_DOVECOT_IN_LINE_MAX - n);
	big[SASL_DOVECOT_IN_LINE_MAX] = '\n';
	test_write_all(c->f.conn, big, SASL_DOVECOT_IN_LINE_MAX + 1);
	test_run_until(c->base, res_done, &r);
	assert_int_equal(r.step, SASL_STEP_TEMPFAIL);
	test_run_until(c->base, fake_saw_eof, &c->f);
	free(big);
}

static void
test_bad_client_input(void **state)
{
	struct ctx *c = *state;
	struct res r = { 0 };
	struct sasl_dovecot_req *q;
	const char *err = NULL;
	char *big;
	static const char *const bad_mechs[] = {
		"", "PL AIN", "PLAIN\t", "PLAIN\n", "PLAIN=", "ABCDEFGHIJKLMNOPQRSTU",
		"PL\001AIN",
	};
	static const char *const bad_b64[] = {
		"", "abc", "ab\tc", "AGFs\n", "AGFs\tAAA", "A===", "=AAA",
		"AG=s", "AGFs aWNl", "==", "AGFsaWNl\r\n",
	};

	c->f.hello = "VERSION\t1\t2\nMECH\tPLAIN\tplaintext\n"
	    "MECH\tLOGIN\tplaintext\nMECH\tABCDEFGHIJKLMNOPQRST\nDONE\n";
	handshake(c);
	for (size_t i = 0; i < N_ELEMENTS(bad_mechs); i++) {
		err = NULL;
		assert_null(sasl_dovecot_start(c->d, bad_mechs[i], NULL, NULL,
		    on_result, &r, &err));
		assert_non_null(err);
	}
	assert_null(sasl_dovecot_start(c->d, NULL, NULL, NULL, on_result,
	    &r, &err));
	for (size_t i = 0; i < N_ELEMENTS(bad_b64); i++) {
		err = NULL;
		assert_null(sasl_dovecot_start(c->d, "PLAIN", bad_b64[i], NULL,
		    on_result, &r, &err));
		assert_non_null(strstr(err, "base64"));
	}
	big = xmalloc(SASL_DOVECOT_RESP_MAX + 5);
	memset(big, 'A', SASL_DOVECOT_RESP_MAX + 4);
	big[SASL_DOVECOT_RESP_MAX + 4] = '\0';
	assert_null(sasl_dovecot_start(c->d, "PLAIN", big, NULL, on_result,
	    &r, &err));
	assert_non_null(strstr(err, "too long"));
	/* The longest accepted response fits in Dovecot's line limit. */
	big[SASL_DOVECOT_RESP_MAX] = '\0';
	{
		struct sasl_client_info info = {
			.client_addr = "ffff:ffff:ffff:ffff:ffff:ffff:"
			    "255.255.255.255",
			.local_addr = "ffff:ffff:ffff:ffff:ffff:ffff:"
			    "255.255.255.255",
			.client_port = 65535, .local_port = 65535,
			.secured = true, .no_penalty = true,
			.session_id = "0123456789012345678901234567890123456789"
			    "012345678901234567890123",
		};

		(void)start(c, "ABCDEFGHIJKLMNOPQRST", big, &info, &r);
		wait_lines(c, 3);
		assert_true(strlen(fake_line(&c->f, 2)) <
		    SASL_DOVECOT_OUT_LINE_MAX);
		assert_int_equal(strlen(fake_line(&c->f, 2)), strlen(
		    "AUTH\t1\tABCDEFGHIJKLMNOPQRST\tservice=smtp\tsecured"
		    "\tno-penalty\tlip=\trip=\tlport=65535\trport=65535"
		    "\tsession=\tresp=") + 2 * 45 + 64 +
		    SASL_DOVECOT_RESP_MAX);
		fake_send(&c->f, "FAIL\t1\n");
		test_run_until(c->base, res_done, &r);
		assert_int_equal(r.step, SASL_STEP_FAIL);
	}
	/* A mechanism Dovecot does not offer: refused, nothing sent. */
	memset(&r, 0, sizeof(r));
	(void)start(c, "CRAM-MD5", NULL, NULL, &r);
	test_run_until(c->base, res_done, &r);
	assert_int_equal(r.step, SASL_STEP_FAIL);
	assert_string_equal(r.data, "mechanism not offered");
	assert_int_equal(fake_nlines(&c->f), 3);
	assert_int_equal(ncallbacks, 2);

	/* A malformed response cancels the request. */
	memset(&r, 0, sizeof(r));
	q = start(c, "LOGIN", NULL, NULL, &r);
	wait_lines(c, 4);
	fake_send(&c->f, "CONT\t2\tVXNlcm5hbWU6\n");
	test_run_until(c->base, res_done, &r);
	assert_int_equal(sasl_dovecot_respond(q, "YWxp\tY2U=", &err), -1);
	assert_non_null(strstr(err, "base64"));
	wait_lines(c, 5);
	assert_string_equal(fake_line(&c->f, 4), "CANCEL\t2");
	assert_int_equal(sasl_dovecot_pending(c->d), 0);
	/* And one too long. */
	memset(&r, 0, sizeof(r));
	q = start(c, "LOGIN", NULL, NULL, &r);
	wait_lines(c, 6);
	fake_send(&c->f, "CONT\t3\tVXNlcm5hbWU6\n");
	test_run_until(c->base, res_done, &r);
	memset(big, 'A', SASL_DOVECOT_RESP_MAX + 4);
	big[SASL_DOVECOT_RESP_MAX + 4] = '\0';
	assert_int_equal(sasl_dovecot_respond(q, big, &err), -1);
	assert_non_null(strstr(err, "too long"));
	wait_lines(c, 7);
	assert_string_equal(fake_line(&c->f, 6), "CANCEL\t3");
	free(big);
	assert_true(sasl_dovecot_is_ready(c->d));
}

static void
test_timeouts(void **state)
{
	struct ctx *c = *state;
	struct res r1 = { 0 }, r2 = { 0 }, r3 = { 0 };

	/* No DONE: the handshake times out. */
	sasl_dovecot_set_timeouts(c->d, 300, 200, 1, 1);
	c->f.hello = "VERSION\t1\t2\n";
	(void)start(c, "PLAIN", PLAIN_ALICE, NULL, &r1);
	test_run_until(c->base, res_done, &r1);
	assert_int_equal(r1.step, SASL_STEP_TEMPFAIL);
	assert_non_null(strstr(r1.data, "handshake"));
	test_run_until(c->base, fake_saw_eof, &c->f);

	/* No answer: the request times out and is cancelled; the
	 * connection stays, and a late answer is ignored. */
	c->f.hello = HELLO;
	test_run_for(c->base, 10);
	(void)start(c, "PLAIN", PLAIN_ALICE, NULL, &r2);
	wait_lines(c, 3);
	test_run_until(c->base, res_done, &r2);
	assert_int_equal(r2.step, SASL_STEP_TEMPFAIL);
	assert_non_null(strstr(r2.data, "did not answer"));
	wait_lines(c, 4);
	assert_string_equal(fake_line(&c->f, 3), "CANCEL\t1");
	fake_send(&c->f, "FAIL\t1\n");
	(void)start(c, "PLAIN", PLAIN_ALICE, NULL, &r3);
	wait_lines(c, 5);
	assert_string_equal(fake_line(&c->f, 4), "AUTH\t2\tPLAIN\t"
	    "service=smtp\tresp=" PLAIN_ALICE);
	fake_send(&c->f, "OK\t2\tuser=alice\n");
	test_run_until(c->base, res_done, &r3);
	assert_int_equal(r3.step, SASL_STEP_OK);
	assert_int_equal(c->f.accepted, 2);
}

static void
test_callback_reentrancy(void **state)
{
	struct ctx *c = *state;
	struct res r1 = { 0 }, r2 = { 0 }, r3 = { 0 };
	struct sasl_dovecot_req *q2;

	handshake(c);
	/* The first callback cancels the second request, whose answer
	 * is already queued too: it must not run. */
	(void)start(c, "PLAIN", PLAIN_ALICE, NULL, &r1);
	q2 = start(c, "PLAIN", PLAIN_ALICE, NULL, &r2);
	r1.cancel_other = &q2;
	wait_lines(c, 4);
	fake_drop(&c->f);	/* both get TEMPFAIL in one go */
	test_run_until(c->base, res_done, &r1);
	test_run_for(c->base, 20);
	assert_int_equal(r1.step, SASL_STEP_TEMPFAIL);
	assert_int_equal(r2.calls, 0);
	assert_null(q2);
	assert_int_equal(sasl_dovecot_pending(c->d), 0);

	/* A callback frees the client: the others never run. */
	memset(&r1, 0, sizeof(r1));
	memset(&r2, 0, sizeof(r2));
	(void)start(c, "PLAIN", PLAIN_ALICE, NULL, &r1);
	(void)start(c, "PLAIN", PLAIN_ALICE, NULL, &r2);
	(void)start(c, "PLAIN", PLAIN_ALICE, NULL, &r3);
	r1.free_me = &c->d;
	wait_accepted(c, 2);
	wait_lines(c, 5);
	fake_send(&c->f, "OK\t1\tuser=alice\nOK\t2\tuser=alice\n");
	test_run_until(c->base, res_done, &r1);
	test_run_for(c->base, 20);
	assert_null(c->d);
	assert_int_equal(r1.step, SASL_STEP_OK);
	assert_int_equal(r2.calls + r3.calls, 0);
}

static void
test_user_names(void **state)
{
	struct ctx *c = *state;
	static const char *const bad[] = {
		"\tuser=al\001tice\n",	/* TAB in the name */
		"\tuser=al\001nice\n",	/* LF */
		("\tuser=al\001" "0ice\n"),	/* NUL */
		"\tuser=\n",		/* empty */
		"\n",			/* none */
		"\tuser=a\x7f\n",	/* DEL */
	};
	struct res r = { 0 };
	unsigned id = 1;

	handshake(c);
	for (size_t i = 0; i < N_ELEMENTS(bad); i++, id++) {
		memset(&r, 0, sizeof(r));
		(void)start(c, "PLAIN", PLAIN_ALICE, NULL, &r);
		wait_lines(c, 2 + id);
		fake_send(&c->f, "OK\t%u%s", id, bad[i]);
		test_run_until(c->base, res_done, &r);
		assert_int_equal(r.step, SASL_STEP_TEMPFAIL);
	}
	/* UTF-8, escapes of harmless characters, the last user= wins. */
	memset(&r, 0, sizeof(r));
	(void)start(c, "PLAIN", PLAIN_ALICE, NULL, &r);
	wait_lines(c, 2 + id);
	fake_send(&c->f, "OK\t%u\tuser=x\tuser=j\303\266rg\001x@ex\n", id);
	test_run_until(c->base, res_done, &r);
	assert_int_equal(r.step, SASL_STEP_OK);
	assert_string_equal(r.data, "j\303\266rgx@ex");
	/* Names are logged escaped. */
	assert_non_null(strstr(buf_cstr(&logged), "al\\011ice"));
	assert_int_equal(c->f.accepted, 1);
}

static void
test_inet(void **state)
{
	struct ctx *c = *state;
	struct res r = { 0 };

	(void)start(c, "PLAIN", PLAIN_ALICE, NULL, &r);
	wait_lines(c, 3);
	assert_string_equal(fake_line(&c->f, 0), "VERSION\t1\t2");
	assert_string_equal(fake_line(&c->f, 2), "AUTH\t1\tPLAIN\t"
	    "service=smtp\tresp=" PLAIN_ALICE);
	fake_send(&c->f, "OK\t1\tuser=alice\n");
	test_run_until(c->base, res_done, &r);
	assert_int_equal(r.step, SASL_STEP_OK);
}

static void
test_paths(void **state)
{
	struct ctx *c = *state;
	const char *err = NULL;
	struct sasl_dovecot *d;
	char longp[200];
	static const char *const bad[] = {
		"", "inet:", "inet:host", "inet::25", "inet:host:",
		"inet:host:0", "inet:host:65536", "inet:host:12a",
		"inet:[::1]", "inet:[::1:25", "unix:",
	};
	static const char *const good[] = {
		"private/auth", "/run/dovecot/auth-client", "unix:private/auth",
		"inet:127.0.0.1:12345", "inet:[::1]:12345",
		"inet:localhost:1",
	};

	for (size_t i = 0; i < N_ELEMENTS(bad); i++) {
		err = NULL;
		assert_null(sasl_dovecot_new(c->base, bad[i], &err));
		assert_non_null(err);
	}
	memset(longp, 'a', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	assert_null(sasl_dovecot_new(c->base, longp, &err));
	for (size_t i = 0; i < N_ELEMENTS(good); i++) {
		d = sasl_dovecot_new(c->base, good[i], &err);
		assert_non_null(d);
		sasl_dovecot_free(&d);
	}
	assert_null(sasl_dovecot_new(c->base, NULL, &err));
}

static void
test_text_helpers(void **state)
{
	static const char *const b64_good[] = {
		"", "AAAA", "AA==", "AAA=", PLAIN_ALICE, "+/+/",
	};
	static const char *const b64_bad[] = {
		"A", "AAA", "A===", "=AAA", "AA=A", "AA\tA", "AA A", "AAA-",
		"AAAA\n",
	};
	char *u;
	size_t len;
	uint32_t id;
	struct sdv_fields it;
	const char *f, *v;
	size_t flen, vlen;
	static const char line[] = "OK\t7\tuser=a\t\tnologin";

	for (size_t i = 0; i < N_ELEMENTS(b64_good); i++)
		assert_true(sdv_b64_ok(b64_good[i], strlen(b64_good[i])));
	for (size_t i = 0; i < N_ELEMENTS(b64_bad); i++)
		assert_false(sdv_b64_ok(b64_bad[i], strlen(b64_bad[i])));
	assert_true(sdv_mech_name_ok("SCRAM-SHA-256", 13));
	assert_true(sdv_mech_name_ok("x_oauth2", 8));
	assert_false(sdv_mech_name_ok("", 0));
	assert_false(sdv_mech_name_ok("A B", 3));

	/* The last \001 has nothing after it: kept. */
	u = sdv_tab_unescape("a\001tb\001nc\001ld\001re\0011f\001" "0g"
	    "\001xh\001", 23, &len);
	assert_int_equal(len, 16);
	assert_memory_equal(u, "a\tb\nc\nd\re\001f\0gxh\001", 16);
	assert_false(sdv_user_ok(u, len));
	free(u);
	assert_true(sdv_user_ok("j\303\266rg", 5));
	assert_false(sdv_user_ok("", 0));
	u = sdv_reason_clean("ok \t\x7f\303", 6);
	assert_string_equal(u, "ok ???");
	free(u);

	assert_true(sdv_parse_id("4294967295", 10, &id));
	assert_int_equal(id, UINT32_MAX);
	assert_false(sdv_parse_id("4294967296", 10, &id));
	assert_false(sdv_parse_id("0", 1, &id));
	assert_false(sdv_parse_id("-1", 2, &id));
	assert_false(sdv_parse_id("+1", 2, &id));
	assert_false(sdv_parse_id("", 0, &id));
	assert_true(sdv_addr_ok("::1"));
	assert_true(sdv_addr_ok("192.0.2.1"));
	assert_false(sdv_addr_ok("192.0.2.1\t"));
	assert_false(sdv_addr_ok("[::1]"));
	assert_false(sdv_addr_ok(NULL));
	assert_true(sdv_session_ok("a.b-c_d:1"));
	assert_false(sdv_session_ok("a b"));

	it.p = line;
	it.end = line + sizeof(line) - 1;
	assert_true(sdv_fields_next(&it, &f, &flen));
	assert_true(sdv_field_is(f, flen, "OK"));
	assert_true(sdv_fields_next(&it, &f, &flen));
	assert_true(sdv_field_is(f, flen, "7"));
	assert_true(sdv_fields_next(&it, &f, &flen));
	v = sdv_field_value(f, flen, "user", &vlen);
	assert_non_null(v);
	assert_int_equal(vlen, 1);
	assert_null(sdv_field_value(f, flen, "use", &vlen));
	assert_true(sdv_fields_next(&it, &f, &flen));
	assert_int_equal(flen, 0);
	assert_true(sdv_fields_next(&it, &f, &flen));
	assert_true(sdv_field_is(f, flen, "nologin"));
	assert_false(sdv_fields_next(&it, &f, &flen));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_handshake_and_mechs,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_plain_initial_response,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_login_two_steps,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_fail_and_reason,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_fail_temp,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_mid_exchange,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_not_yet_noticed,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_reconnects,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_handshakes,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_backoff,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreachable,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_lines,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_client_input,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeouts,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_callback_reentrancy,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_user_names,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_inet,
		    setup_tcp, teardown),
		cmocka_unit_test_setup_teardown(test_paths,
		    setup, teardown),
		cmocka_unit_test(test_text_helpers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
