/* SPDX-License-Identifier: MIT */
/*
 * test_smtpd_policy - smtpd's policy delegation client
 * (src/smtpd/smtpd_policy.c): the check_policy_service argument parser,
 * the reply parser, and the client against a fake policy server.
 *
 * The fake listens on a UNIX-domain socket in a temporary directory (or
 * on 127.0.0.1 for inet:), on the same event loop as the client.  It
 * records every request (and the connection it came on) and hands each
 * to the test's handler, which answers, closes, or holds it.
 *
 * What must hold: requests are name=value lines ending in an empty
 * line and nothing from an attribute value can add a line; the answer
 * reaches the right request, once, never inside an API call; a
 * connection carries one request at a time and is reused; every way of
 * not getting an answer is retried up to try_limit, logged with the
 * endpoint, and ends in default_action or a failure.
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
#include "config.h"
#include "diag.h"
#include "log.h"
#include "smtpd_policy.h"
#include "test_support.h"
#include "xalloc.h"

/* ---------------------------------------------------------------- */
/* The fake policy server                                           */

#define FCONNS_MAX 32
#define FREQS_MAX 64

struct fake;

struct fconn {
	int fd;			/* -1: closed */
	struct event *ev;
	struct buf in;
	bool eof;		/* the client closed it */
	unsigned requests;
};

struct freq {
	size_t conn;		/* index in f->conns */
	char *text;		/* without the final empty line */
};

/* What the fake does with a complete request (conn index, text). */
typedef void fake_handler(struct fake *f, size_t conn, const char *req);

struct fake {
	struct event_base *base;
	struct test_listener l;	/* where it listens */
	char spec[160];		/* "unix:/tmp/.../policy" */
	struct event *lev;
	size_t nconns;
	struct fconn conns[FCONNS_MAX];
	size_t nreqs;
	struct freq reqs[FREQS_MAX];
	fake_handler *handler;
	const char *reply;	/* for answer_handler */
	unsigned close_first;	/* close_handler: close this many */
};

static void
fconn_close(struct fconn *fc)
{
	if (fc->ev != NULL) {
		event_free(fc->ev);
		fc->ev = NULL;
	}
	if (fc->fd >= 0) {
		close(fc->fd);
		fc->fd = -1;
	}
}

/* Answer request on conn i. */
static void
fake_reply(struct fake *f, size_t i, const char *text)
{
	assert_true(i < f->nconns);
	assert_true(f->conns[i].fd >= 0);
	test_write_all(f->conns[i].fd, text, strlen(text));
}

/* The fake for an fconn: stored beside it. */
struct fconn_ref {
	struct fake *f;
	size_t i;
};
static struct fconn_ref refs[FCONNS_MAX];

static void
on_fdata(evutil_socket_t fd, short what, void *arg)
{
	struct fconn_ref *ref = arg;
	struct fake *f = ref->f;
	struct fconn *fc = &f->conns[ref->i];
	char chunk[8192];
	ssize_t n;
	char *end;

	n = recv(fc->fd, chunk, sizeof(chunk), 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		fc->eof = true;
		fconn_close(fc);
		return;
	}
	assert_int_equal(buf_append(&fc->in, chunk, (size_t)n), 0);
	/* Every complete request (ends with an empty line). */
	while (fc->fd >= 0 && fc->in.len > 0 &&
	    (end = strstr(buf_cstr(&fc->in), "\n\n")) != NULL) {
		size_t len = (size_t)(end - fc->in.data) + 1;
		struct freq *q;

		assert_true(f->nreqs < FREQS_MAX);
		q = &f->reqs[f->nreqs++];
		q->conn = ref->i;
		q->text = xstrndup(fc->in.data, len);
		buf_consume(&fc->in, len + 1);
		fc->requests++;
		if (f->handler != NULL)
			f->handler(f, ref->i, q->text);
	}
}

static void
on_faccept(evutil_socket_t fd, short what, void *arg)
{
	struct fake *f = arg;
	int s = accept4(f->l.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	struct fconn *fc;

	if (s < 0)
		return;
	assert_true(f->nconns < FCONNS_MAX);
	fc = &f->conns[f->nconns];
	refs[f->nconns].f = f;
	refs[f->nconns].i = f->nconns;
	fc->fd = s;
	buf_init(&fc->in, 1 << 20);
	fc->ev = event_new(f->base, s, EV_READ | EV_PERSIST, on_fdata,
	    &refs[f->nconns]);
	event_add(fc->ev, NULL);
	f->nconns++;
}

static void
fake_listen(struct fake *f)
{
	assert_int_equal(listen(f->l.fd, 64), 0);
	f->lev = event_new(f->base, f->l.fd, EV_READ | EV_PERSIST,
	    on_faccept, f);
	event_add(f->lev, NULL);
}

static void
fake_init(struct fake *f, struct event_base *base, bool tcp)
{
	memset(f, 0, sizeof(*f));
	f->base = base;
	test_listener_open(&f->l, tcp, "pol", "policy");
	if (tcp)
		snprintf(f->spec, sizeof(f->spec), "inet:127.0.0.1:%u",
		    f->l.port);
	else
		snprintf(f->spec, sizeof(f->spec), "unix:%s", f->l.path);
	fake_listen(f);
}

/* Stop listening; the socket file stays, so connecting is refused. */
static void
fake_refuse(struct fake *f)
{
	if (f->lev != NULL) {
		event_free(f->lev);
		f->lev = NULL;
	}
	test_listener_close(&f->l);
}

static void
fake_deinit(struct fake *f)
{
	for (size_t i = 0; i < f->nconns; i++) {
		fconn_close(&f->conns[i]);
		buf_deinit(&f->conns[i].in);
	}
	for (size_t i = 0; i < f->nreqs; i++)
		free(f->reqs[i].text);
	fake_refuse(f);
	test_listener_remove(&f->l);
}

/* Handlers. */
static void
answer_handler(struct fake *f, size_t conn, const char *req)
{
	fake_reply(f, conn, f->reply != NULL ? f->reply : "action=DUNNO\n\n");
}

static void
hold_handler(struct fake *f, size_t conn, const char *req)
{
}

/* Close the connection without answering the first close_first
 * requests; answer the others. */
static void
close_handler(struct fake *f, size_t conn, const char *req)
{
	if (f->close_first > 0) {
		f->close_first--;
		fconn_close(&f->conns[conn]);
		return;
	}
	answer_handler(f, conn, req);
}

/* Answer, then close the connection (a server that does not keep
 * connections). */
static void
answer_close_handler(struct fake *f, size_t conn, const char *req)
{
	answer_handler(f, conn, req);
	fconn_close(&f->conns[conn]);
}

/* Whether request i has the line "name=value". */
static bool
req_has(const struct fake *f, size_t i, const char *line)
{
	const char *t = f->reqs[i].text;
	size_t n = strlen(line);

	for (const char *p = t; p != NULL && *p != '\0';) {
		const char *lf = strchr(p, '\n');
		size_t len = lf != NULL ? (size_t)(lf - p) : strlen(p);

		if (len == n && memcmp(p, line, n) == 0)
			return true;
		p = lf != NULL ? lf + 1 : NULL;
	}
	return false;
}

static size_t
req_lines(const struct fake *f, size_t i)
{
	size_t n = 0;

	for (const char *p = f->reqs[i].text; *p != '\0'; p++)
		if (*p == '\n')
			n++;
	return n;
}

/* ---------------------------------------------------------------- */
/* Results and the log                                              */

struct res {
	unsigned calls;
	bool ok;
	bool has_action, has_reason;
	char action[9000];
	char reason[1024];
	/* Things the callback does. */
	struct policy_request **cancel_other;
	struct policy_client *query_again;
	struct policy_request *again;
	struct res *again_res;
};

static bool inside_api;
static unsigned ncallbacks;
static struct buf logged;

static void on_result(void *ctx, bool ok, const char *action,
    const char *reason);

static const char *const simple_attrs[] = {
	"request", "smtpd_access_policy",
	"protocol_state", "RCPT",
	"client_address", "192.0.2.1",
	"sender", "alice@example.org",
	"recipient", "bob@example.com",
	NULL,
};

static void
on_result(void *ctx, bool ok, const char *action, const char *reason)
{
	struct res *r = ctx;

	assert_false(inside_api);
	ncallbacks++;
	r->calls++;
	r->ok = ok;
	r->has_action = action != NULL;
	r->has_reason = reason != NULL;
	snprintf(r->action, sizeof(r->action), "%s",
	    action != NULL ? action : "");
	snprintf(r->reason, sizeof(r->reason), "%s",
	    reason != NULL ? reason : "");
	if (r->cancel_other != NULL && *r->cancel_other != NULL) {
		policy_request_cancel(*r->cancel_other);
		*r->cancel_other = NULL;
	}
	if (r->query_again != NULL) {
		r->again = policy_query(r->query_again, simple_attrs,
		    on_result, r->again_res);
		r->query_again = NULL;
	}
}

static bool
res_done(void *arg)
{
	return ((struct res *)arg)->calls > 0;
}

static void
on_log(enum log_level level, const char *text, void *ctx)
{
	if (level <= LOG_LVL_WARNING)
		(void)buf_append_str(&logged, level == LOG_LVL_WARNING ?
		    "warning: " : "error: ");
	(void)buf_append_str(&logged, text);
	(void)buf_append_c(&logged, '\n');
}

static bool
logged_has(const char *s)
{
	return strstr(buf_cstr(&logged), s) != NULL;
}

static unsigned
logged_count(const char *s)
{
	unsigned n = 0;

	for (const char *p = buf_cstr(&logged); (p = strstr(p, s)) != NULL;
	    p += strlen(s))
		n++;
	return n;
}

struct ctx {
	struct event_base *base;
	struct fake f;
	struct policy_spec *spec;
	struct policy_client *pc;
};

static int
setup_common(void **state, bool tcp)
{
	struct ctx *c = xcalloc(1, sizeof(*c));

	c->base = event_base_new();
	fake_init(&c->f, c->base, tcp);
	c->f.handler = answer_handler;
	buf_init(&logged, 1 << 20);
	log_set_capture(on_log, NULL);
	log_set_verbose(2);
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

	policy_clients_free_all();
	policy_spec_free(&c->spec);
	log_set_capture(NULL, NULL);
	log_set_verbose(0);
	buf_deinit(&logged);
	fake_deinit(&c->f);
	event_base_free(c->base);
	free(c);
	return 0;
}

/* The client for "{ <fake>, extra }" with fast timings. */
static struct policy_client *
client(struct ctx *c, const char *extra)
{
	char text[512], err[256];

	snprintf(text, sizeof(text), "{ %s%s%s }", c->f.spec,
	    extra != NULL ? ", " : "", extra != NULL ? extra : "");
	policy_spec_free(&c->spec);
	c->spec = policy_spec_parse(text, NULL, err, sizeof(err));
	if (c->spec == NULL)
		fail_msg("%s: %s", text, err);
	c->pc = policy_client_get(c->base, c->spec);
	/* timeout 2 s, retry 10 ms */
	policy_client_set_timing_ms(c->pc, 2000, 10, 0, 0);
	return c->pc;
}

/* policy_query() checking that no callback runs inside it. */
static struct policy_request *
query(struct policy_client *pc, const char *const *attrs, struct res *r)
{
	struct policy_request *q;
	unsigned before = ncallbacks;

	inside_api = true;
	q = policy_query(pc, attrs, on_result, r);
	inside_api = false;
	assert_non_null(q);
	assert_int_equal(ncallbacks, before);
	return q;
}

struct nreqs_arg {
	struct fake *f;
	size_t n;
};

static bool
has_nreqs(void *arg)
{
	struct nreqs_arg *a = arg;

	return a->f->nreqs >= a->n;
}

static void
wait_reqs(struct ctx *c, size_t n)
{
	struct nreqs_arg a = { &c->f, n };

	test_run_until(c->base, has_nreqs, &a);
}

static bool
conn_eof(void *arg)
{
	return ((struct fconn *)arg)->eof;
}

/* ---------------------------------------------------------------- */
/* check_policy_service arguments                                   */

static struct policy_spec *
parse(const char *text)
{
	char err[512];
	struct policy_spec *s = policy_spec_parse(text, NULL, err,
	    sizeof(err));

	if (s == NULL)
		fail_msg("\"%s\" refused: %s", text, err);
	return s;
}

static void
test_spec_forms(void **state)
{
	static const struct {
		const char *text;
		const char *endpoint;
		long long timeout;
		long long try_limit;
		const char *default_action;
	} cases[] = {
		{ "inet:127.0.0.1:9998", "inet:127.0.0.1:9998", 100, 2,
		  "451 4.3.5 Server configuration problem" },
		{ "  inet:localhost:10023  ", "inet:localhost:10023", 100, 2,
		  "451 4.3.5 Server configuration problem" },
		{ "inet:[::1]:10023", "inet:[::1]:10023", 100, 2,
		  "451 4.3.5 Server configuration problem" },
		{ "unix:private/policy", "unix:private/policy", 100, 2,
		  "451 4.3.5 Server configuration problem" },
		{ "unix:/var/run/policy.sock", "unix:/var/run/policy.sock",
		  100, 2, "451 4.3.5 Server configuration problem" },
		{ "local:private/policy", "unix:private/policy", 100, 2,
		  "451 4.3.5 Server configuration problem" },
		{ "{ inet:host:9998 }", "inet:host:9998", 100, 2,
		  "451 4.3.5 Server configuration problem" },
		{ "{ inet:host:9998, timeout=10s, default_action=DUNNO }",
		  "inet:host:9998", 10, 2, "DUNNO" },
		/* As the restriction list splitter hands it over. */
		{ "inet:host:9998, timeout=10s, default_action=DUNNO",
		  "inet:host:9998", 10, 2, "DUNNO" },
		{ "{inet:host:9998,timeout=2m,try_limit=5}", "inet:host:9998",
		  120, 5, "451 4.3.5 Server configuration problem" },
		{ "{ unix:private/policy, timeout=7, { default_action = 451 "
		  "4.3.5 See http://www.example.com/support1 } }",
		  "unix:private/policy", 7, 2,
		  "451 4.3.5 See http://www.example.com/support1" },
		{ "{ inet:h:1 timeout=1h }", "inet:h:1", 3600, 2,
		  "451 4.3.5 Server configuration problem" },
		/* The last of a repeated setting wins. */
		{ "{ inet:h:1, timeout=5s, timeout=6s }", "inet:h:1", 6, 2,
		  "451 4.3.5 Server configuration problem" },
	};

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct policy_spec *s = parse(cases[i].text);

		assert_string_equal(policy_spec_endpoint(s),
		    cases[i].endpoint);
		assert_int_equal(policy_spec_timeout(s), cases[i].timeout);
		assert_int_equal(policy_spec_try_limit(s),
		    cases[i].try_limit);
		assert_string_equal(policy_spec_default_action(s),
		    cases[i].default_action);
		policy_spec_free(&s);
		assert_null(s);
	}
	{
		struct policy_spec *none = NULL;

		policy_spec_free(&none);
	}
}

static void
test_spec_bad(void **state)
{
	static const struct {
		const char *text;
		const char *error;	/* a part of the error */
	} cases[] = {
		{ "", "needs a policy service" },
		{ "   ", "needs a policy service" },
		{ "{ }", "needs a policy service" },
		{ "policy", "is not a policy service" },
		{ "private/policy", "is not a policy service" },
		{ "tcp:host:25", "unknown policy service type \"tcp:\"" },
		{ "inet:host", "expected inet:host:port" },
		{ "inet:host:0", "port must be a number 1-65535" },
		{ "inet:host:65536", "port must be a number 1-65535" },
		{ "inet:host:smtp", "port must be a number 1-65535" },
		{ "inet::25", "bad host" },
		{ "inet:ho st:25", "expected inet:host:port" },
		{ "inet:[::1:25", "expected inet:[address]:port" },
		{ "inet:[::1]25", "expected inet:[address]:port" },
		{ "unix:", "socket path is empty" },
		{ "unix:/tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		  "longer than 107 bytes" },
		{ "{ inet:h:1", "missing \"}\"" },
		{ "{ inet:h:1, { timeout=1s }", "unbalanced" },
		{ "inet:h:1 }", "unbalanced" },
		{ "{ timeout=1s, inet:h:1 }", "must come first" },
		{ "{ inet:h:1, timeout }", "is not name=value" },
		{ "{ inet:h:1, timeout = 10s }", "is not name=value" },
		{ "{ inet:h:1, bogus=1 }", "unknown policy service setting "
		  "\"bogus\"" },
		{ "{ inet:h:1, timeout=abc }", "timeout=abc" },
		{ "{ inet:h:1, timeout=0s }", "timeout=0s" },
		{ "{ inet:h:1, try_limit=0 }", "try_limit=0" },
		{ "{ inet:h:1, request_limit=-1 }", "request_limit=-1" },
		{ "{ inet:h:1, default_action= }", "default_action needs a "
		  "value" },
		{ "{ inet:h:1, { policy_context = } }", "policy_context needs "
		  "a value" },
	};

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		char err[512] = "";
		struct policy_spec *s = policy_spec_parse(cases[i].text, NULL,
		    err, sizeof(err));

		if (s != NULL)
			fail_msg("\"%s\" was accepted", cases[i].text);
		if (strstr(err, cases[i].error) == NULL)
			fail_msg("\"%s\": error \"%s\" lacks \"%s\"",
			    cases[i].text, err, cases[i].error);
		assert_null(strchr(err, '\n'));
	}
	/* A small error buffer is cut, not overrun. */
	{
		char small[8];
		struct policy_spec *s = policy_spec_parse("policy", NULL,
		    small, sizeof(small));

		assert_null(s);
		assert_int_equal(strlen(small), sizeof(small) - 1);
	}
}

/* The view's smtpd_policy_service_* parameters are the defaults. */
static void
test_spec_view_defaults(void **state)
{
	static const char main_cf[] =
	    "smtpd_policy_service_timeout = 7s\n"
	    "smtpd_policy_service_try_limit = 3\n"
	    "smtpd_policy_service_default_action = DUNNO\n";
	static const char main_none[] =
	    "smtpd_policy_service_default_action =\n";
	struct diag_list dl;
	struct config *cf;
	struct policy_spec *s;
	char err[256];

	diag_list_init(&dl);
	cf = config_load_text("/nonexistent", main_cf, strlen(main_cf), NULL,
	    0, CONFIG_LOAD_NO_MASTER | CONFIG_LOAD_QUIET, &dl);
	assert_non_null(cf);
	s = policy_spec_parse("inet:127.0.0.1:1", config_main(cf), err,
	    sizeof(err));
	assert_non_null(s);
	assert_int_equal(policy_spec_timeout(s), 7);
	assert_int_equal(policy_spec_try_limit(s), 3);
	assert_string_equal(policy_spec_default_action(s), "DUNNO");
	policy_spec_free(&s);
	/* Settings in { } win over the view. */
	s = policy_spec_parse("{ inet:127.0.0.1:1, timeout=3s, "
	    "default_action=REJECT }", config_main(cf), err, sizeof(err));
	assert_non_null(s);
	assert_int_equal(policy_spec_timeout(s), 3);
	assert_int_equal(policy_spec_try_limit(s), 3);
	assert_string_equal(policy_spec_default_action(s), "REJECT");
	policy_spec_free(&s);
	config_free(&cf);
	diag_list_deinit(&dl);

	/* An empty default_action in main.cf: none. */
	diag_list_init(&dl);
	cf = config_load_text("/nonexistent", main_none, strlen(main_none),
	    NULL, 0, CONFIG_LOAD_NO_MASTER | CONFIG_LOAD_QUIET, &dl);
	assert_non_null(cf);
	s = policy_spec_parse("inet:127.0.0.1:1", config_main(cf), err,
	    sizeof(err));
	assert_non_null(s);
	assert_null(policy_spec_default_action(s));
	assert_int_equal(policy_spec_timeout(s), 100);
	policy_spec_free(&s);
	config_free(&cf);
	diag_list_deinit(&dl);
}

/* One client per endpoint + settings + event base. */
static void
test_registry(void **state)
{
	struct event_base *b1 = event_base_new(), *b2 = event_base_new();
	struct policy_spec *a = parse("inet:127.0.0.1:9998");
	struct policy_spec *a2 = parse("{ inet:127.0.0.1:9998 }");
	struct policy_spec *b = parse("{ inet:127.0.0.1:9998, timeout=5s }");
	struct policy_spec *d = parse("{ inet:127.0.0.1:9998, "
	    "default_action=DUNNO }");
	struct policy_client *pa = policy_client_get(b1, a);

	assert_ptr_equal(policy_client_get(b1, a2), pa);
	assert_ptr_not_equal(policy_client_get(b1, b), pa);
	assert_ptr_not_equal(policy_client_get(b1, d), pa);
	assert_ptr_not_equal(policy_client_get(b2, a), pa);
	/* The client keeps its own copy of the spec. */
	policy_spec_free(&a);
	assert_ptr_equal(policy_client_get(b1, a2), pa);
	assert_int_equal(policy_client_connections(pa), 0);
	assert_int_equal(policy_client_pending(pa), 0);
	policy_clients_free_all();
	policy_spec_free(&a2);
	policy_spec_free(&b);
	policy_spec_free(&d);
	event_base_free(b1);
	event_base_free(b2);
}

/* ---------------------------------------------------------------- */
/* The reply parser                                                 */

static void
test_reply_parse(void **state)
{
	static const struct {
		const char *in;
		int rc;
		const char *action;	/* rc 1 */
		size_t used;		/* rc 1; 0: the whole input */
		const char *error;	/* rc -1 */
	} cases[] = {
		{ "action=DUNNO\n\n", 1, "DUNNO", 0, NULL },
		{ "action=DUNNO\r\n\r\n", 1, "DUNNO", 0, NULL },
		{ "action=  REJECT spam \t\n\n", 1, "REJECT spam", 0, NULL },
		{ "action=defer_if_permit Service temporarily unavailable\n\n",
		  1, "defer_if_permit Service temporarily unavailable", 0,
		  NULL },
		{ "x=1\naction=PREPEND X-A: b=c\ny=\n\n", 1,
		  "PREPEND X-A: b=c", 0, NULL },
		{ "action=OK\n\naction=DUNNO\n\n", 1, "OK", 11, NULL },
		{ "", 0, NULL, 0, NULL },
		{ "action=DUNNO", 0, NULL, 0, NULL },
		{ "action=DUNNO\n", 0, NULL, 0, NULL },
		{ "action=DUNNO\r\n", 0, NULL, 0, NULL },
		{ "\n", -1, NULL, 0, "no action=" },
		{ "x=1\n\n", -1, NULL, 0, "no action=" },
		{ "action=\n\n", -1, NULL, 0, "empty action" },
		{ "action=  \n\n", -1, NULL, 0, "empty action" },
		{ "action=OK\naction=OK\n\n", -1, NULL, 0,
		  "more than one action=" },
		{ "DUNNO\n\n", -1, NULL, 0, "without name=value" },
		{ "=DUNNO\n\n", -1, NULL, 0, "empty name" },
		{ "action=OK\x01x\n\n", -1, NULL, 0, "control character" },
		{ "action=OK\x7f\n\n", -1, NULL, 0, "control character" },
		{ "action=O\rK\n\n", -1, NULL, 0, "control character" },
	};

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct policy_reply r = { 0, 0, 0 };
		const char *err = NULL;
		size_t len = strlen(cases[i].in);
		int rc = policy_reply_parse(cases[i].in, len, &r, &err);

		if (rc != cases[i].rc)
			fail_msg("case %zu: rc %d, expected %d (%s)", i, rc,
			    cases[i].rc, err != NULL ? err : "");
		if (rc == 1) {
			assert_int_equal(r.action_len,
			    strlen(cases[i].action));
			assert_memory_equal(cases[i].in + r.action_off,
			    cases[i].action, r.action_len);
			assert_int_equal(r.used, cases[i].used != 0 ?
			    cases[i].used : len);
		}
		if (rc < 0) {
			assert_non_null(err);
			if (strstr(err, cases[i].error) == NULL)
				fail_msg("case %zu: error \"%s\"", i, err);
		}
		/* Byte by byte: incomplete until the whole reply is in. */
		if (rc == 1) {
			size_t full = r.used;

			for (size_t n = 0; n < full; n++) {
				struct policy_reply r2;

				assert_int_equal(policy_reply_parse(
				    cases[i].in, n, &r2, &err), 0);
			}
		}
	}
	/* A NUL is refused. */
	{
		static const char nul[] = "action=OK\0x\n\n";
		struct policy_reply r;
		const char *err = NULL;

		assert_int_equal(policy_reply_parse(nul, sizeof(nul) - 1, &r,
		    &err), -1);
		assert_non_null(strstr(err, "NUL"));
		assert_int_equal(policy_reply_parse(nul, 11, &r, &err), -1);
	}
	/* The bound: POLICY_REPLY_MAX_BYTES in all. */
	{
		char *big = xmalloc(POLICY_REPLY_MAX_BYTES + 16);
		struct policy_reply r;
		const char *err = NULL;
		size_t n;

		/* "action=" + filler + "\n\n" of exactly the maximum. */
		memset(big, 'x', POLICY_REPLY_MAX_BYTES + 16);
		memcpy(big, "action=", 7);
		n = POLICY_REPLY_MAX_BYTES;
		big[n - 2] = '\n';
		big[n - 1] = '\n';
		assert_int_equal(policy_reply_parse(big, n, &r, &err), 1);
		assert_int_equal(r.used, n);
		/* One byte more is too long. */
		big[n - 2] = 'x';
		big[n - 1] = '\n';
		big[n] = '\n';
		assert_int_equal(policy_reply_parse(big, n + 1, &r, &err),
		    -1);
		assert_non_null(strstr(err, "longer than 8192"));
		/* Without an end: need more below the bound, error at it. */
		memset(big, 'x', POLICY_REPLY_MAX_BYTES + 16);
		memcpy(big, "action=", 7);
		assert_int_equal(policy_reply_parse(big,
		    POLICY_REPLY_MAX_BYTES - 1, &r, &err), 0);
		assert_int_equal(policy_reply_parse(big,
		    POLICY_REPLY_MAX_BYTES, &r, &err), -1);
		free(big);
	}
}

/* ---------------------------------------------------------------- */
/* The client                                                       */

static void
test_answer(void **state)
{
	struct ctx *c = *state;
	struct policy_client *pc = client(c, "policy_context=submission");
	struct res r = { 0 };

	c->f.reply = "action=DUNNO\n\n";
	(void)query(pc, simple_attrs, &r);
	assert_int_equal(policy_client_pending(pc), 1);
	test_run_until(c->base, res_done, &r);
	assert_true(r.ok);
	assert_string_equal(r.action, "DUNNO");
	assert_false(r.has_reason);
	assert_int_equal(r.calls, 1);
	assert_int_equal(policy_client_pending(pc), 0);
	/* The request, exactly. */
	assert_int_equal(c->f.nreqs, 1);
	assert_string_equal(c->f.reqs[0].text,
	    "request=smtpd_access_policy\n"
	    "protocol_state=RCPT\n"
	    "client_address=192.0.2.1\n"
	    "sender=alice@example.org\n"
	    "recipient=bob@example.com\n"
	    "policy_context=submission\n");
	/* The connection stays open for the next request. */
	assert_int_equal(policy_client_connections(pc), 1);
	test_run_for(c->base, 20);
	assert_false(c->f.conns[0].eof);
	assert_false(logged_has("warning:"));
	assert_false(logged_has("error:"));
	(void)logged_count;
}

/* No request attribute: the client puts it first; a policy_context in
 * the attributes is replaced by the spec's (empty by default). */
static void
test_request_defaults(void **state)
{
	struct ctx *c = *state;
	struct policy_client *pc = client(c, NULL);
	static const char *const attrs[] = {
		"protocol_state", "END-OF-MESSAGE",
		"policy_context", "forged",
		"sender", "",
		NULL,
	};
	struct res r = { 0 };

	(void)query(pc, attrs, &r);
	test_run_until(c->base, res_done, &r);
	assert_true(r.ok);
	assert_string_equal(c->f.reqs[0].text,
	    "request=smtpd_access_policy\n"
	    "protocol_state=END-OF-MESSAGE\n"
	    "sender=\n"
	    "policy_context=\n");
}

/* A reply of several lines, arriving in pieces. */
static void
test_multiline_reply(void **state)
{
	struct ctx *c = *state;
	struct policy_client *pc = client(c, NULL);
	struct res r = { 0 };

	c->f.handler = hold_handler;
	(void)query(pc, simple_attrs, &r);
	wait_reqs(c, 1);
	fake_reply(&c->f, 0, "reason=greylisted\nact");
	test_run_for(c->base, 20);
	assert_int_equal(r.calls, 0);
	fake_reply(&c->f, 0, "ion=DEFER_IF_PERMIT Greylisted, try again "
	    "later\r\n");
	test_run_for(c->base, 20);
	assert_int_equal(r.calls, 0);
	fake_reply(&c->f, 0, "x-extra=1\n\n");
	test_run_until(c->base, res_done, &r);
	assert_true(r.ok);
	assert_string_equal(r.action, "DEFER_IF_PERMIT Greylisted, try again "
	    "later");
	assert_false(r.has_reason);
}

/* Two requests one after the other share one connection. */
static void
test_reuse(void **state)
{
	struct ctx *c = *state;
	struct policy_client *pc = client(c, NULL);
	static const char *const a1[] = { "instance", "a.1", "recipient",
	    "x@example.com", NULL };
	static const char *const a2[] = { "instance", "a.1", "recipient",
	    "y@example.com", NULL };
	struct res r1 = { 0 }, r2 = { 0 }, r3 = { 0 }, r4 = { 0 };

	c->f.reply = "action=OK\n\n";
	(void)query(pc, a1, &r1);
	test_run_until(c->base, res_done, &r1);
	(void)query(pc, a2, &r2);
	test_run_until(c->base, res_done, &r2);
	assert_true(r1.ok && r2.ok);
	assert_int_equal(c->f.nconns, 1);
	assert_int_equal(c->f.nreqs, 2);
	assert_int_equal(c->f.conns[0].requests, 2);
	assert_true(req_has(&c->f, 1, "recipient=y@example.com"));
	/* Without instance attributes too. */
	(void)query(pc, simple_attrs, &r3);
	test_run_until(c->base, res_done, &r3);
	(void)query(pc, simple_attrs, &r4);
	test_run_until(c->base, res_done, &r4);
	assert_int_equal(c->f.nconns, 1);
	assert_int_equal(policy_client_connections(pc), 1);
}

/* Requests of one instance stay on its connection; a new instance
 * takes the connection of an ended instance, else the least recently
 * used idle one; one after the other, everything shares a connection. */
static void
test_instance_affinity(void **state)
{
	struct ctx *c = *state;
	struct policy_client *pc = client(c, NULL);
	static const char *const ia[] = { "instance", "1.a", NULL };
	static const char *const ib[] = { "instance", "1.b", NULL };
	static const char *const ic[] = { "instance", "1.c", NULL };
	static const char *const id[] = { "instance", "1.d", NULL };
	struct res r[8];
	size_t ca, cb;

	memset(r, 0, sizeof(r));
	/* Sequential, different instances: one connection. */
	(void)query(pc, ia, &r[0]);
	test_run_until(c->base, res_done, &r[0]);
	(void)query(pc, ib, &r[1]);
	test_run_until(c->base, res_done, &r[1]);
	assert_int_equal(c->f.nconns, 1);
	/* a and b at the same time: two connections. */
	c->f.handler = hold_handler;
	(void)query(pc, ia, &r[2]);
	(void)query(pc, ib, &r[3]);
	wait_reqs(c, 4);
	assert_int_equal(c->f.nconns, 2);
	ca = c->f.reqs[2].conn;
	cb = c->f.reqs[3].conn;
	assert_int_not_equal(ca, cb);
	c->f.handler = answer_handler;
	fake_reply(&c->f, cb, "action=DUNNO\n\n");
	test_run_until(c->base, res_done, &r[3]);
	fake_reply(&c->f, ca, "action=DUNNO\n\n");
	test_run_until(c->base, res_done, &r[2]);
	/* Each instance goes back to its connection (b's is now the least
	 * recently used, a's the most). */
	(void)query(pc, ib, &r[4]);
	test_run_until(c->base, res_done, &r[4]);
	assert_int_equal(c->f.reqs[4].conn, cb);
	(void)query(pc, ia, &r[5]);
	test_run_until(c->base, res_done, &r[5]);
	assert_int_equal(c->f.reqs[5].conn, ca);
	/* b is least recently used, but a has ended: c takes a's. */
	policy_instance_end("1.a");
	policy_instance_end(NULL);
	policy_instance_end("");
	(void)query(pc, ic, &r[6]);
	test_run_until(c->base, res_done, &r[6]);
	assert_int_equal(c->f.reqs[6].conn, ca);
	/* Nothing ended: the least recently used (b's). */
	(void)query(pc, id, &r[7]);
	test_run_until(c->base, res_done, &r[7]);
	assert_int_equal(c->f.reqs[7].conn, cb);
	assert_int_equal(c->f.nconns, 2);
}

/* Concurrent requests: one per connection, at most POLICY_CONNS_MAX
 * connections, the rest waits and goes on the freed connections. */
static void
test_concurrency(void **state)
{
	struct ctx *c = *state;
	struct policy_client *pc = client(c, NULL);
	enum { N = POLICY_CONNS_MAX + 3 };
	struct res r[N];

	memset(r, 0, sizeof(r));
	c->f.handler = hold_handler;
	for (size_t i = 0; i < N; i++)
		(void)query(pc, simple_attrs, &r[i]);
	wait_reqs(c, POLICY_CONNS_MAX);
	test_run_for(c->base, 30);
	assert_int_equal(c->f.nreqs, POLICY_CONNS_MAX);
	assert_int_equal(c->f.nconns, POLICY_CONNS_MAX);
	assert_int_equal(policy_client_connections(pc), POLICY_CONNS_MAX);
	for (size_t i = 0; i < POLICY_CONNS_MAX; i++)
		assert_int_equal(c->f.conns[i].requests, 1);
	/* Answer everything, in any order, as it comes. */
	c->f.handler = answer_handler;
	for (size_t i = POLICY_CONNS_MAX; i-- > 0;)
		fake_reply(&c->f, i, "action=DUNNO\n\n");
	for (size_t i = 0; i < N; i++)
		test_run_until(c->base, res_done, &r[i]);
	assert_int_equal(c->f.nreqs, N);
	assert_int_equal(c->f.nconns, POLICY_CONNS_MAX);
	assert_int_equal(ncallbacks, N);
	for (size_t i = 0; i < N; i++)
		assert_true(r[i].ok);
}

/* Waiting for a connection counts against the timeout. */
static void
test_queue_timeout(void **state)
{
	struct ctx *c = *state;
	struct policy_client *pc = client(c, "try_limit=1, "
	    "default_action=DUNNO");
	struct res r[POLICY_CONNS_MAX + 1];

	memset(r, 0, sizeof(r));
	c->f.handler = hold_handler;
	/* Eight requests (10 s to answer) take every connection. */
	policy_client_set_timing_ms(pc, 10000, 0, 0, 0);
	for (size_t i = 0; i < POLICY_CONNS_MAX; i++)
		(void)query(pc, simple_attrs, &r[i]);
	wait_reqs(c, POLICY_CONNS_MAX);
	/* The ninth, with 300 ms, waits in vain. */
	policy_client_set_timing_ms(pc, 300, 0, 0, 0);
	(void)query(pc, simple_attrs, &r[POLICY_CONNS_MAX]);
	test_run_until(c->base, res_done, &r[POLICY_CONNS_MAX]);
	assert_true(r[POLICY_CONNS_MAX].ok);
	assert_string_equal(r[POLICY_CONNS_MAX].action, "DUNNO");
	assert_non_null(strstr(r[POLICY_CONNS_MAX].reason, "had no free "
	    "connection within 300ms"));
	for (size_t i = 0; i < POLICY_CONNS_MAX; i++) {
		assert_int_equal(r[i].calls, 0);
		fake_reply(&c->f, i, "action=OK\n\n");
	}
	for (size_t i = 0; i < POLICY_CONNS_MAX; i++) {
		test_run_until(c->base, res_done, &r[i]);
		assert_string_equal(r[i].action, "OK");
	}
	assert_int_equal(c->f.nreqs, POLICY_CONNS_MAX);
}

/* The server closes without answering: the request is tried again on a
 * new connection. */
static void
test_close_retry(void **state)
{
	struct ctx *c = *state;
	struct policy_client *pc = client(c, NULL);
	struct res r = { 0 };

	c->f.handler = close_handler;
	c->f.close_first = 1;
	c->f.reply = "action=REJECT go away\n\n";
	(void)query(pc, simple_attrs, &r);
	test_run_until(c->base, res_done, &r);
	assert_true(r.ok);
	assert_false(r.has_reason);
	assert_string_equal(r.action, "REJECT go away");
	assert_int_equal(c->f.nconns, 2);
	assert_int_equal(c->f.nreqs, 2);
	assert_string_equal(c->f.reqs[0].text, c->f.reqs[1].text);
	assert_true(logged_has("policy service unix:"));
	assert_true(logged_has("closed the connection without answering"));
}

/* try_limit attempts at most; then the default_action, with why. */
static void
test_close_default_action(void **state)
{
	struct ctx *c = *state;
	struct policy_client *pc = client(c, "try_limit=3, "
	    "default_action=DUNNO");
	struct res r = { 0 };

	c->f.handler = close_handler;
	c->f.close_first = 100;
	(void)query(pc, simple_attrs, &r);
	test_run_until(c->base, res_done, &r);
	assert_true(r.ok);
	assert_string_equal(r.action, "DUNNO");
	assert_true(r.has_reason);
	assert_non_null(strstr(r.reason, "closed the connection without "
	    "answering"));
	assert_non_null(strstr(r.reason, "3 attempts"));
	assert_int_equal(c->f.nreqs, 3);
	assert_int_equal(logged_count("closed the connection without "
	    "answering"), 3);
	assert_true(logged_has("giving up after 3 attempts; using "
	    "default_action \"DUNNO\""));
}

/* A server that hangs: "did not answer within". */
static void
test_timeout(void **state)
{
	struct ctx *c = *state;
	struct policy_client *pc = client(c, "try_limit=1");
	struct res r = { 0 };

	policy_client_set_timing_ms(pc, 200, 0, 0, 0);
	c->f.handler = hold_handler;
	(void)query(pc, simple_attrs, &r);
	test_run_until(c->base, res_done, &r);
	/* The built-in default_action: a temporary failure. */
	assert_true(r.ok);
	assert_string_equal(r.action, "451 4.3.5 Server configuration "
	    "problem");
	assert_non_null(strstr(r.reason, "did not answer within 200ms"));
	assert_true(logged_has(c->f.spec));
	assert_true(logged_has("did not answer within 200ms"));
	/* The connection was closed. */
	test_run_until(c->base, conn_eof, &c->f.conns[0]);
	assert_int_equal(policy_client_connections(pc), 0);
}

/* No default_action (main.cf sets it empty): ok = false. */
static void
test_no_default_action(void **state)
{
	struct ctx *c = *state;
	static const char main_cf[] =
	    "smtpd_policy_service_default_action =\n"
	    "smtpd_policy_service_try_limit = 1\n";
	struct diag_list dl;
	struct config *cf;
	char err[256];
	struct policy_client *pc;
	struct res r = { 0 };

	diag_list_init(&dl);
	cf = config_load_text("/nonexistent", main_cf, strlen(main_cf), NULL,
	    0, CONFIG_LOAD_NO_MASTER | CONFIG_LOAD_QUIET, &dl);
	assert_non_null(cf);
	c->spec = policy_spec_parse(c->f.spec, config_main(cf), err,
	    sizeof(err));
	assert_non_null(c->spec);
	config_free(&cf);
	diag_list_deinit(&dl);
	pc = policy_client_get(c->base, c->spec);
	policy_client_set_timing_ms(pc, 200, 10, 0, 0);
	c->f.handler = hold_handler;
	(void)query(pc, simple_attrs, &r);
	test_run_until(c->base, res_done, &r);
	assert_false(r.ok);
	assert_false(r.has_action);
	assert_non_null(strstr(r.reason, "did not answer within 200ms"));
	assert_true(logged_has("no default_action"));
}

/* A reply that never ends is cut at POLICY_REPLY_MAX_BYTES. */
static void
test_overlong_reply(void **state)
{
	struct ctx *c = *state;
	struct policy_client *pc = client(c, "try_limit=1, "
	    "default_action=DUNNO");
	struct res r = { 0 };
	char *junk = xmalloc(9001);

	memset(junk, 'x', 9000);
	memcpy(junk, "action=", 7);
	junk[9000] = '\0';
	c->f.handler = hold_handler;
	(void)query(pc, simple_attrs, &r);
	wait_reqs(c, 1);
	fake_reply(&c->f, 0, junk);
	free(junk);
	test_run_until(c->base, res_done, &r);
	assert_true(r.ok);
	assert_string_equal(r.action, "DUNNO");
	assert_non_null(strstr(r.reason, "longer than 8192 bytes"));
	assert_true(logged_has("sent a bad reply (reply longer than 8192 "
	    "bytes)"));
	test_run_until(c->base, conn_eof, &c->f.conns[0]);
}

/* Malformed replies fail the attempt (and are retried). */
static void
test_malformed_reply(void **state)
{
	struct ctx *c = *state;
	struct policy_client *pc = client(c, "{ default_action = "
	    "DEFER_IF_PERMIT x }");
	struct res r = { 0 };

	c->f.reply = "DUNNO\n\n";
	(void)query(pc, simple_attrs, &r);
	test_run_until(c->base, res_done, &r);
	assert_true(r.ok);
	assert_string_equal(r.action, "DEFER_IF_PERMIT x");
	assert_non_null(strstr(r.reason, "reply line without name=value"));
	assert_int_equal(c->f.nreqs, 2);	/* try_limit 2 */
	assert_int_equal(c->f.nconns, 2);
}

/* Nothing listening: refused, retried, then default_action. */
static void
test_refused(void **state)
{
	struct ctx *c = *state;
	struct policy_client *pc = client(c, "default_action=DUNNO");
	struct res r = { 0 };

	fake_refuse(&c->f);
	(void)query(pc, simple_attrs, &r);
	test_run_until(c->base, res_done, &r);
	assert_true(r.ok);
	assert_string_equal(r.action, "DUNNO");
	assert_non_null(strstr(r.reason, "refused the connection"));
	assert_int_equal(logged_count("refused the connection"), 2);
	assert_true(logged_has(c->f.spec));
	assert_int_equal(policy_client_connections(pc), 0);
}

/* An attribute value cannot add a line, nor be huge; a bad name is
 * refused; nothing is sent and default_action does not apply. */
static void
test_attr_injection(void **state)
{
	struct ctx *c = *state;
	struct policy_client *pc = client(c, "default_action=OK");
	static const char *const lf[] = { "helo_name",
	    "evil\nrecipient=postmaster@example.com", NULL };
	static const char *const cr[] = { "sender", "a@b\r", NULL };
	static const char *const end[] = { "helo_name", "x\n", NULL };
	static const char *const name[] = { "bad=name", "x", NULL };
	static const char *const upper[] = { "Helo", "x", NULL };
	static const char *const empty[] = { "", "x", NULL };
	const char *const *cases[] = { lf, cr, end, name, upper, empty };
	char *big = xmalloc(POLICY_VALUE_MAX_BYTES + 2);
	const char *longv[] = { "helo_name", big, NULL };
	struct res r[N_ELEMENTS(cases) + 1];

	memset(r, 0, sizeof(r));
	memset(big, 'a', POLICY_VALUE_MAX_BYTES + 1);
	big[POLICY_VALUE_MAX_BYTES + 1] = '\0';
	for (size_t i = 0; i < N_ELEMENTS(cases); i++)
		(void)query(pc, cases[i], &r[i]);
	(void)query(pc, longv, &r[N_ELEMENTS(cases)]);
	for (size_t i = 0; i <= N_ELEMENTS(cases); i++) {
		test_run_until(c->base, res_done, &r[i]);
		assert_false(r[i].ok);
		assert_false(r[i].has_action);
		assert_non_null(strstr(r[i].reason, "request refused"));
	}
	assert_non_null(strstr(r[0].reason, "helo_name"));
	assert_non_null(strstr(r[0].reason, "line break"));
	assert_non_null(strstr(r[N_ELEMENTS(cases)].reason, "longer than"));
	test_run_for(c->base, 20);
	assert_int_equal(c->f.nconns, 0);
	assert_int_equal(c->f.nreqs, 0);
	/* Client text is not logged raw. */
	assert_false(logged_has("evil\n"));
	/* The longest value allowed goes through. */
	big[POLICY_VALUE_MAX_BYTES] = '\0';
	memset(&r[0], 0, sizeof(r[0]));
	(void)query(pc, longv, &r[0]);
	test_run_until(c->base, res_done, &r[0]);
	assert_true(r[0].ok);
	assert_false(r[0].has_reason);
	assert_int_equal(c->f.nreqs, 1);
	free(big);
}

/* Cancelling a request already sent: no callback; it keeps its
 * connection until the reply, which is dropped; the connection is then
 * reused. */
static void
test_cancel(void **state)
{
	struct ctx *c = *state;
	struct policy_client *pc = client(c, NULL);
	struct policy_request *q1;
	struct res r1 = { 0 }, r3 = { 0 };

	c->f.handler = hold_handler;
	q1 = query(pc, simple_attrs, &r1);
	wait_reqs(c, 1);
	policy_request_cancel(q1);
	policy_request_cancel(NULL);
	assert_int_equal(policy_client_pending(pc), 0);
	fake_reply(&c->f, 0, "action=REJECT\n\n");
	test_run_for(c->base, 30);
	assert_int_equal(r1.calls, 0);
	c->f.handler = answer_handler;
	(void)query(pc, simple_attrs, &r3);
	test_run_until(c->base, res_done, &r3);
	assert_true(r3.ok);
	assert_string_equal(r3.action, "DUNNO");
	assert_int_equal(c->f.nconns, 1);
	assert_int_equal(ncallbacks, 1);
}

/* Cancelling a request waiting for a connection: it is never sent. */
static void
test_cancel_queued(void **state)
{
	struct ctx *c = *state;
	struct policy_client *pc = client(c, NULL);
	struct res r[POLICY_CONNS_MAX + 1];
	struct policy_request *q;
	static const char *const other[] = { "recipient", "queued@x", NULL };

	memset(r, 0, sizeof(r));
	c->f.handler = hold_handler;
	for (size_t i = 0; i < POLICY_CONNS_MAX; i++)
		(void)query(pc, simple_attrs, &r[i]);
	q = query(pc, other, &r[POLICY_CONNS_MAX]);
	wait_reqs(c, POLICY_CONNS_MAX);
	policy_request_cancel(q);
	c->f.handler = answer_handler;
	for (size_t i = 0; i < POLICY_CONNS_MAX; i++)
		fake_reply(&c->f, i, "action=DUNNO\n\n");
	for (size_t i = 0; i < POLICY_CONNS_MAX; i++)
		test_run_until(c->base, res_done, &r[i]);
	test_run_for(c->base, 30);
	assert_int_equal(r[POLICY_CONNS_MAX].calls, 0);
	assert_int_equal(c->f.nreqs, POLICY_CONNS_MAX);
	assert_int_equal(ncallbacks, POLICY_CONNS_MAX);
}

/* Cancelling a refused request, and one waiting to be tried again:
 * nothing runs. */
static void
test_cancel_refused(void **state)
{
	struct ctx *c = *state;
	struct policy_client *pc = client(c, NULL);
	static const char *const lf[] = { "helo_name", "a\nb", NULL };
	struct res r = { 0 }, r2 = { 0 };
	struct policy_request *q = query(pc, lf, &r);

	policy_request_cancel(q);
	test_run_for(c->base, 20);
	assert_int_equal(r.calls, 0);
	assert_int_equal(policy_client_pending(pc), 0);
	/* Connecting fails at once: the request waits for its retry. */
	fake_refuse(&c->f);
	q = query(pc, simple_attrs, &r2);
	assert_true(logged_has("refused the connection"));
	policy_request_cancel(q);
	test_run_for(c->base, 50);
	assert_int_equal(r2.calls, 0);
	assert_int_equal(logged_count("refused the connection"), 1);
	assert_int_equal(ncallbacks, 0);
}

/* Callbacks may cancel other requests and start new ones. */
static void
test_callback_reentry(void **state)
{
	struct ctx *c = *state;
	struct policy_client *pc = client(c, NULL);
	struct policy_request *other;
	struct res r1 = { 0 }, r2 = { 0 }, r3 = { 0 };

	c->f.handler = hold_handler;
	(void)query(pc, simple_attrs, &r1);
	other = query(pc, simple_attrs, &r2);
	wait_reqs(c, 2);
	c->f.handler = answer_handler;
	r1.cancel_other = &other;
	r1.query_again = pc;
	r1.again_res = &r3;
	fake_reply(&c->f, c->f.reqs[0].conn, "action=OK\n\n");
	test_run_until(c->base, res_done, &r1);
	assert_null(other);
	test_run_until(c->base, res_done, &r3);
	assert_true(r3.ok);
	assert_int_equal(r2.calls, 0);
}

/* A server that closes its connection after each reply: the next
 * request notices and opens a new one, without a failure. */
static void
test_server_closes_idle(void **state)
{
	struct ctx *c = *state;
	struct policy_client *pc = client(c, "try_limit=1");
	struct res r1 = { 0 }, r2 = { 0 };

	c->f.handler = answer_close_handler;
	(void)query(pc, simple_attrs, &r1);
	test_run_until(c->base, res_done, &r1);
	/* Do not give the loop a chance to see the EOF. */
	(void)query(pc, simple_attrs, &r2);
	test_run_until(c->base, res_done, &r2);
	assert_true(r1.ok && r2.ok);
	assert_false(r2.has_reason);
	assert_int_equal(c->f.nconns, 2);
	assert_false(logged_has("warning:"));
	assert_false(logged_has("without answering"));
}

/* request_limit closes a connection after that many replies. */
static void
test_request_limit(void **state)
{
	struct ctx *c = *state;
	struct policy_client *pc = client(c, "request_limit=1");
	struct res r1 = { 0 }, r2 = { 0 };

	(void)query(pc, simple_attrs, &r1);
	test_run_until(c->base, res_done, &r1);
	test_run_until(c->base, conn_eof, &c->f.conns[0]);
	(void)query(pc, simple_attrs, &r2);
	test_run_until(c->base, res_done, &r2);
	assert_true(r1.ok && r2.ok);
	assert_int_equal(c->f.nconns, 2);
}

/* max_idle and max_ttl close connections. */
static void
test_idle_ttl(void **state)
{
	struct ctx *c = *state;
	struct policy_client *pc = client(c, NULL);
	struct res r1 = { 0 }, r2 = { 0 }, r3 = { 0 };

	policy_client_set_timing_ms(pc, 0, 0, 50, 0);
	(void)query(pc, simple_attrs, &r1);
	test_run_until(c->base, res_done, &r1);
	assert_int_equal(policy_client_connections(pc), 1);
	test_run_until(c->base, conn_eof, &c->f.conns[0]);
	assert_int_equal(policy_client_connections(pc), 0);
	/* max_ttl: a connection older than that is not reused. */
	policy_client_set_timing_ms(pc, 0, 0, 60000, 1);
	(void)query(pc, simple_attrs, &r2);
	test_run_until(c->base, res_done, &r2);
	test_run_until(c->base, conn_eof, &c->f.conns[1]);
	(void)query(pc, simple_attrs, &r3);
	test_run_until(c->base, res_done, &r3);
	assert_int_equal(c->f.nconns, 3);
	assert_true(r2.ok && r3.ok);
}

/* Data from the server without a request ends the connection. */
static void
test_unsolicited(void **state)
{
	struct ctx *c = *state;
	struct policy_client *pc = client(c, NULL);
	struct res r1 = { 0 }, r2 = { 0 };

	c->f.reply = "action=DUNNO\n\naction=OK\n\n";
	(void)query(pc, simple_attrs, &r1);
	test_run_until(c->base, res_done, &r1);
	assert_string_equal(r1.action, "DUNNO");
	test_run_until(c->base, conn_eof, &c->f.conns[0]);
	/* One read or two: either way the connection ends. */
	assert_true(logged_has("more than one reply") ||
	    logged_has("sent data without a request"));
	c->f.reply = NULL;
	(void)query(pc, simple_attrs, &r2);
	test_run_until(c->base, res_done, &r2);
	assert_true(r2.ok);
	assert_int_equal(c->f.nconns, 2);
}

/* The queue bound. */
static void
test_queue_full(void **state)
{
	struct ctx *c = *state;
	struct policy_client *pc = client(c, "default_action=DUNNO");
	enum { N = POLICY_CONNS_MAX + POLICY_QUEUE_MAX + 1 };
	struct res *r = xcalloc(N, sizeof(*r));

	c->f.handler = hold_handler;
	for (size_t i = 0; i < N; i++)
		(void)query(pc, simple_attrs, &r[i]);
	test_run_until(c->base, res_done, &r[N - 1]);
	assert_true(r[N - 1].ok);
	assert_string_equal(r[N - 1].action, "DUNNO");
	assert_non_null(strstr(r[N - 1].reason, "too many requests"));
	for (size_t i = 0; i < N - 1; i++)
		assert_int_equal(r[i].calls, 0);
	policy_clients_free_all();	/* drops the rest, no callbacks */
	assert_int_equal(ncallbacks, 1);
	free(r);
}

/* inet: endpoints. */
static void
test_inet(void **state)
{
	struct ctx *c = *state;
	struct policy_client *pc = client(c, NULL);
	struct res r1 = { 0 }, r2 = { 0 };

	c->f.reply = "action=PREPEND X-Policy: checked\n\n";
	(void)query(pc, simple_attrs, &r1);
	test_run_until(c->base, res_done, &r1);
	(void)query(pc, simple_attrs, &r2);
	test_run_until(c->base, res_done, &r2);
	assert_true(r1.ok && r2.ok);
	assert_string_equal(r2.action, "PREPEND X-Policy: checked");
	assert_int_equal(c->f.nconns, 1);
	assert_true(req_has(&c->f, 0, "sender=alice@example.org"));
	assert_int_equal(req_lines(&c->f, 0), 6);
}

/* inet: nothing listening on the port. */
static void
test_inet_refused(void **state)
{
	struct ctx *c = *state;
	struct policy_client *pc = client(c, "try_limit=1");
	struct res r = { 0 };

	fake_refuse(&c->f);
	(void)query(pc, simple_attrs, &r);
	test_run_until(c->base, res_done, &r);
	assert_true(r.ok);
	assert_string_equal(r.action, "451 4.3.5 Server configuration "
	    "problem");
	assert_true(logged_has("refused the connection"));
	assert_true(logged_has("policy service inet:127.0.0.1:"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_forms),
		cmocka_unit_test(test_spec_bad),
		cmocka_unit_test(test_spec_view_defaults),
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_reply_parse),
		cmocka_unit_test_setup_teardown(test_answer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_defaults, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_multiline_reply, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_reuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_instance_affinity, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_concurrency, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_queue_timeout, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_close_retry, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_close_default_action,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_default_action, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_overlong_reply, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_malformed_reply, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attr_injection, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_queued, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_cancel_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_callback_reentry, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_server_closes_idle, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_request_limit, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_idle_ttl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unsolicited, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_queue_full, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_inet, setup_tcp, teardown),
		cmocka_unit_test_setup_teardown(test_inet_refused, setup_tcp,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
