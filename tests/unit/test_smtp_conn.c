/* SPDX-License-Identifier: MIT */
/*
 * test_smtp_conn - the event-driven SMTP/LMTP client
 * (src/deliver/smtp_conn.c) against a scripted server in a thread
 * (test_support.h's test_script), with a libevent loop in the test
 * thread: EHLO and extensions, HELO fallback, refused greetings,
 * pipelined transactions with per-recipient results, no recipient
 * accepted, DATA refused, LMTP replies after the dot, a server that
 * closes mid-DATA, timeouts, RSET on a connection closed while idle,
 * QUIT in the background, a large message to a slow reader, a server
 * that answers pipelined commands early, STARTTLS (may, encrypt),
 * AUTH PLAIN, and XFORWARD (the lines sent, none when not offered, a
 * refusal).  Every operation: no callback from inside the starting
 * call, exactly one callback, and freeing from inside it is safe.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "buf.h"
#include "deliver_proto.h"
#include "lmtp_client.h"
#include "log.h"
#include "smtp_conn.h"
#include "test_support.h"
#include "tls_client.h"
#include "xalloc.h"

/* ------------------------------------------------------------------ */
/* Operations on the loop */

static struct event_base *base;
/* True while a starting call runs: a callback then is a bug. */
static bool in_start;

struct result {
	int calls;
	int rc;
	struct lmtp_failure f;
	struct smtp_conn **free_in_cb;	/* free it from the callback */
};

static void
on_result(struct smtp_conn *c, void *ctx, int rc, struct lmtp_failure *f)
{
	struct result *r = ctx;

	if (in_start)
		fail_msg("callback from inside the starting call");
	assert_false(smtp_conn_busy(c));
	r->calls++;
	r->rc = rc;
	lmtp_failure_deinit(&r->f);
	r->f = *f;
	memset(f, 0, sizeof(*f));
	if (r->free_in_cb != NULL) {
		assert_ptr_equal(*r->free_in_cb, c);
		smtp_conn_free(r->free_in_cb);
	}
}

static bool
called(void *arg)
{
	return ((struct result *)arg)->calls > 0;
}

/* wait_one - run the loop until r's callback; then a little more: it
 * must have been called exactly once. */
static void
wait_one(struct result *r)
{
	assert_int_equal(r->calls, 0);
	test_run_until(base, called, r);
	test_run_for(base, 20);
	assert_int_equal(r->calls, 1);
}

static int
do_open(struct smtp_conn *c, const char *dest, struct result *r)
{
	memset(r, 0, sizeof(*r));
	in_start = true;
	smtp_conn_open(c, dest, on_result, r);
	in_start = false;
	assert_true(smtp_conn_busy(c));
	wait_one(r);
	return r->rc;
}

static int
do_send(struct smtp_conn *c, const struct lmtp_mail *m,
    struct lmtp_rcpt *rcpts, size_t n, struct result *r)
{
	memset(r, 0, sizeof(*r));
	in_start = true;
	smtp_conn_send(c, m, rcpts, n, on_result, r);
	in_start = false;
	assert_true(smtp_conn_busy(c));
	wait_one(r);
	return r->rc;
}

static int
do_reset(struct smtp_conn *c, struct result *r)
{
	memset(r, 0, sizeof(*r));
	in_start = true;
	smtp_conn_reset(c, on_result, r);
	in_start = false;
	assert_true(smtp_conn_busy(c));
	wait_one(r);
	return r->rc;
}

static bool
no_conns(void *arg)
{
	return smtp_conn_count() == 0;
}

/* quit - QUIT in the background; the loop runs until it is gone. */
static void
quit(struct smtp_conn **cp)
{
	smtp_conn_quit(cp);
	assert_null(*cp);
	test_run_until(base, no_conns, NULL);
}

static void
settings(struct lmtp_client_settings *set, enum lmtp_protocol proto,
    unsigned ms)
{
	memset(set, 0, sizeof(*set));
	set->lhlo_name = "client.example";
	set->default_port = "25";
	set->protocol = proto;
	set->peer_name = proto == LMTP_PROTO_SMTP ?
	    "mx.remote.test[127.0.0.1]:25" : NULL;
	set->timeouts.connect_ms = ms;
	set->timeouts.lhlo_ms = ms;
	set->timeouts.mail_ms = ms;
	set->timeouts.rcpt_ms = ms;
	set->timeouts.data_init_ms = ms;
	set->timeouts.data_xfer_ms = ms;
	set->timeouts.data_done_ms = ms;
	set->timeouts.rset_ms = ms;
	set->timeouts.quit_ms = ms;
	set->timeouts.starttls_ms = ms;
}

static const char message[] =
    "Received: from x\r\n"
    "Subject: dots\r\n"
    "\r\n"
    ".hidden\r\n"
    "bare\nlf\r\n"
    "last line";
static const char message_stuffed[] =
    "Received: from x\r\n"
    "Subject: dots\r\n"
    "\r\n"
    "..hidden\r\n"
    "bare\r\nlf\r\n"
    "last line\r\n"
    ".\r\n";

static void
mail_init(struct lmtp_mail *m, const char *sender)
{
	memset(m, 0, sizeof(*m));
	m->sender = sender;
	m->content = message;
	m->len = sizeof(message) - 1;
}

static int
setup(void **state)
{
	base = event_base_new();
	assert_non_null(base);
	return 0;
}

static int
teardown(void **state)
{
	assert_int_equal(smtp_conn_count(), 0);
	event_base_free(base);
	base = NULL;
	return 0;
}

#define GREET "220 mx.remote.test ESMTP\r\n"
#define EHLO_PIPE "250-mx.remote.test\r\n250-PIPELINING\r\n" \
	"250-ENHANCEDSTATUSCODES\r\n250-SIZE 10000000\r\n250 8BITMIME\r\n"

/* ------------------------------------------------------------------ */
/* Tests */

/* EHLO and its extensions; a pipelined transaction with one recipient
 * refused; RSET; a refusal of MAIL (the RCPT replies drained); QUIT in
 * the background. */
static void
test_pipelined_transaction(void **state)
{
	const struct test_step steps[] = {
		{ TS_ACCEPT, NULL },
		{ TS_SEND, GREET },
		{ TS_EXPECT, "EHLO client.example" },
		{ TS_SEND, EHLO_PIPE },
		{ TS_EXPECT, "MAIL FROM:<s@example.org> SIZE=62 "
		    "BODY=8BITMIME" },
		{ TS_EXPECT, "RCPT TO:<a@example.org>" },
		{ TS_EXPECT, "RCPT TO:<b@example.org>" },
		{ TS_EXPECT, "RCPT TO:<c@example.org>" },
		{ TS_SEND, "250 2.1.0 OK\r\n250 2.1.5 OK\r\n"
		    "550 5.1.1 no such user\r\n250 2.1.5 OK\r\n" },
		{ TS_EXPECT, "DATA" },
		{ TS_SEND, "354 go\r\n" },
		{ TS_BODY, NULL },
		{ TS_SEND, "250 2.0.0 Ok: queued as 4XyZ\r\n" },
		{ TS_EXPECT, "RSET" },
		{ TS_SEND, "250 2.0.0 OK\r\n" },
		{ TS_EXPECT, "MAIL FROM:<s@example.org> SIZE=62 "
		    "BODY=8BITMIME" },
		{ TS_EXPECT, "RCPT TO:<a@example.org>" },
		{ TS_SEND, "452 4.3.1 insufficient system storage\r\n"
		    "503 5.5.1 no MAIL\r\n" },
		{ TS_EXPECT, "RSET" },
		{ TS_SEND, "250 2.0.0 OK\r\n" },
		{ TS_EXPECT, "QUIT" },
		{ TS_SEND, "221 2.0.0 Bye\r\n" },
		{ TS_EOF, NULL },
		{ TS_END, NULL },
	};
	struct test_script s;
	struct lmtp_client_settings set;
	struct smtp_conn *c;
	struct lmtp_mail m;
	struct lmtp_rcpt r[3];
	struct result res;
	char *dest;

	test_script_start(&s, steps, true, NULL);
	dest = test_script_dest(&s);
	settings(&set, LMTP_PROTO_SMTP, 10000);
	c = smtp_conn_new(base, &set);
	assert_int_equal(smtp_conn_count(), 1);
	assert_false(smtp_conn_is_open(c));
	if (do_open(c, dest, &res) != 0)
		fail_msg("open: %s", res.f.text);
	assert_true(smtp_conn_is_open(c));
	assert_false(smtp_conn_busy(c));
	assert_true(smtp_conn_caps(c)->pipelining);
	assert_true(smtp_conn_caps(c)->eightbitmime);
	assert_int_equal(smtp_conn_caps(c)->size_max, 10000000);
	assert_false(smtp_conn_helo(c));
	assert_null(smtp_conn_tls(c));
	assert_string_equal(smtp_conn_stage_command(c, LMTP_STAGE_LHLO),
	    "EHLO");

	mail_init(&m, "s@example.org");
	m.body_8bitmime = true;
	memset(r, 0, sizeof(r));
	r[0].address = "a@example.org";
	r[1].address = "b@example.org";
	r[2].address = "c@example.org";
	if (do_send(c, &m, r, 3, &res) != 0)
		fail_msg("send: %s", res.f.text);
	assert_true(r[0].done && r[1].done && r[2].done);
	assert_int_equal(r[0].stage, LMTP_STAGE_DOT);
	assert_string_equal(r[0].reply.lines[0], "2.0.0 Ok: queued as 4XyZ");
	assert_int_equal(r[1].stage, LMTP_STAGE_RCPT);
	assert_int_equal(r[1].reply.code, 550);
	assert_string_equal(r[1].reply.dsn, "5.1.1");
	assert_int_equal(r[2].stage, LMTP_STAGE_DOT);
	assert_int_equal(r[2].reply.code, 250);
	for (int i = 0; i < 3; i++)
		lmtp_rcpt_deinit(&r[i]);
	assert_int_equal(do_reset(c, &res), 0);

	memset(r, 0, sizeof(r));
	r[0].address = "a@example.org";
	assert_int_equal(do_send(c, &m, r, 1, &res), -1);
	assert_int_equal(res.f.kind, LMTP_FAIL_REPLY);
	assert_int_equal(res.f.stage, LMTP_STAGE_MAIL);
	assert_int_equal(res.f.reply.code, 452);
	assert_string_equal(res.f.text, "SMTP server "
	    "mx.remote.test[127.0.0.1]:25 said: 452 4.3.1 insufficient "
	    "system storage (in reply to MAIL FROM command)");
	assert_false(r[0].done);
	lmtp_failure_deinit(&res.f);
	assert_true(smtp_conn_is_open(c));
	assert_int_equal(do_reset(c, &res), 0);
	quit(&c);
	test_script_finish(&s);
	free(dest);
}

/* The message as the server sees it (LMTP on a unix socket), the
 * replies after the dot one per accepted recipient, and a connection
 * freed from inside the callback. */
static void
test_lmtp_replies(void **state)
{
	const struct test_step steps[] = {
		{ TS_ACCEPT, NULL },
		{ TS_SEND, "220 lmtp.test LMTP\r\n" },
		{ TS_EXPECT, "LHLO client.example" },
		{ TS_SEND, "250-lmtp.test\r\n250-PIPELINING\r\n250 DSN\r\n" },
		{ TS_EXPECT, "MAIL FROM:<> RET=HDRS ENVID=id+2B1" },
		{ TS_EXPECT, "RCPT TO:<a@example.org> NOTIFY=SUCCESS,FAILURE "
		    "ORCPT=rfc822;a+2Borig@example.org" },
		{ TS_EXPECT, "RCPT TO:<d@example.org>" },
		{ TS_EXPECT, "RCPT TO:<e@example.org>" },
		{ TS_SEND, "250 OK\r\n250 OK\r\n550 5.1.1 unknown\r\n"
		    "250 OK\r\n" },
		{ TS_EXPECT, "DATA" },
		{ TS_SEND, "354 go\r\n" },
		{ TS_BODY, NULL },
		{ TS_SEND, "250 2.0.0 <a@example.org> Saved\r\n"
		    "452-4.2.2 mailbox\r\n452 4.2.2 full\r\n" },
		{ TS_EOF, NULL },
		{ TS_END, NULL },
	};
	struct test_script s;
	struct lmtp_client_settings set;
	struct smtp_conn *c;
	struct lmtp_mail m;
	struct lmtp_rcpt r[3];
	struct result res;
	char *dest, *t;

	test_script_start(&s, steps, false, NULL);
	dest = test_script_dest(&s);
	settings(&set, LMTP_PROTO_LMTP, 10000);
	set.default_port = "24";
	c = smtp_conn_new(base, &set);
	if (do_open(c, dest, &res) != 0)
		fail_msg("open: %s", res.f.text);
	assert_string_equal(smtp_conn_stage_command(c, LMTP_STAGE_LHLO),
	    "LHLO");
	mail_init(&m, "");
	m.envid = "id+1";
	m.ret = "HDRS";
	memset(r, 0, sizeof(r));
	r[0].address = "a@example.org";
	r[0].orcpt = "rfc822;a+orig@example.org";
	r[0].notify = DELIVER_NOTIFY_SUCCESS | DELIVER_NOTIFY_FAILURE;
	r[1].address = "d@example.org";
	r[2].address = "e@example.org";
	memset(&res, 0, sizeof(res));
	res.free_in_cb = &c;
	in_start = true;
	smtp_conn_send(c, &m, r, 3, on_result, &res);
	in_start = false;
	wait_one(&res);
	assert_null(c);
	assert_int_equal(smtp_conn_count(), 0);
	assert_int_equal(res.rc, 0);
	assert_int_equal(r[0].reply.code, 250);
	assert_int_equal(r[0].stage, LMTP_STAGE_DOT);
	assert_int_equal(r[1].reply.code, 550);
	assert_int_equal(r[1].stage, LMTP_STAGE_RCPT);
	assert_int_equal(r[2].reply.code, 452);
	assert_int_equal(r[2].stage, LMTP_STAGE_DOT);
	t = lmtp_reply_text(&r[2].reply, 100);
	assert_string_equal(t, "452 4.2.2 mailbox full");
	free(t);
	for (int i = 0; i < 3; i++)
		lmtp_rcpt_deinit(&r[i]);
	test_script_finish(&s);
	free(dest);
}

/* EHLO refused with 5xx: HELO, no extensions, one command at a time. */
static void
test_helo_fallback(void **state)
{
	const struct test_step steps[] = {
		{ TS_ACCEPT, NULL },
		{ TS_SEND, GREET },
		{ TS_EXPECT, "EHLO client.example" },
		{ TS_SEND, "502 5.5.2 what?\r\n" },
		{ TS_EXPECT, "HELO client.example" },
		{ TS_SEND, "250 mx.remote.test\r\n" },
		{ TS_EXPECT, "MAIL FROM:<s@example.org>" },
		{ TS_QUIET, NULL },
		{ TS_SEND, "250 OK\r\n" },
		{ TS_EXPECT, "RCPT TO:<a@example.org>" },
		{ TS_QUIET, NULL },
		{ TS_SEND, "250 OK\r\n" },
		{ TS_EXPECT, "DATA" },
		{ TS_SEND, "354 go\r\n" },
		{ TS_BODY, NULL },
		{ TS_SEND, "250 OK\r\n" },
		{ TS_EXPECT, "QUIT" },
		{ TS_SEND, "221 Bye\r\n" },
		{ TS_END, NULL },
	};
	struct test_script s;
	struct lmtp_client_settings set;
	struct smtp_conn *c;
	struct lmtp_mail m;
	struct lmtp_rcpt r;
	struct result res;
	char *dest;

	test_script_start(&s, steps, true, NULL);
	dest = test_script_dest(&s);
	settings(&set, LMTP_PROTO_SMTP, 10000);
	c = smtp_conn_new(base, &set);
	if (do_open(c, dest, &res) != 0)
		fail_msg("open: %s", res.f.text);
	assert_true(smtp_conn_helo(c));
	assert_false(smtp_conn_caps(c)->pipelining);
	assert_string_equal(smtp_conn_stage_command(c, LMTP_STAGE_LHLO),
	    "HELO");
	mail_init(&m, "s@example.org");
	m.body_8bitmime = true;
	memset(&r, 0, sizeof(r));
	r.address = "a@example.org";
	if (do_send(c, &m, &r, 1, &res) != 0)
		fail_msg("send: %s", res.f.text);
	assert_int_equal(r.reply.code, 250);
	lmtp_rcpt_deinit(&r);
	quit(&c);
	test_script_finish(&s);
	assert_false(s.pipelined);
	free(dest);
}

/* A greeting refused with 5xx and 4xx; a malformed EHLO reply; nobody
 * listening; a bad destination (failing at once, yet from the loop). */
static void
test_open_failures(void **state)
{
	const struct test_step steps[] = {
		{ TS_ACCEPT, NULL },
		{ TS_SEND, "554 5.3.2 not today\r\n" },
		{ TS_EOF, NULL },
		{ TS_ACCEPT, NULL },
		{ TS_SEND, "421 4.3.2 busy\r\n" },
		{ TS_EOF, NULL },
		{ TS_ACCEPT, NULL },
		{ TS_SEND, GREET },
		{ TS_EXPECT, "EHLO client.example" },
		{ TS_SEND, "250-mx\r\n220 what\r\n" },
		{ TS_EOF, NULL },
		{ TS_END, NULL },
	};
	struct test_script s;
	struct lmtp_client_settings set;
	struct smtp_conn *c;
	struct result res;
	char *dest;
	unsigned port;

	test_script_start(&s, steps, true, NULL);
	dest = test_script_dest(&s);
	port = s.l.port;
	settings(&set, LMTP_PROTO_SMTP, 10000);
	c = smtp_conn_new(base, &set);
	assert_int_equal(do_open(c, dest, &res), -1);
	assert_int_equal(res.f.kind, LMTP_FAIL_REPLY);
	assert_int_equal(res.f.stage, LMTP_STAGE_GREETING);
	assert_int_equal(res.f.reply.code, 554);
	assert_string_equal(res.f.text, "SMTP server "
	    "mx.remote.test[127.0.0.1]:25 refused to talk to me: 554 5.3.2 "
	    "not today");
	assert_false(smtp_conn_is_open(c));
	lmtp_failure_deinit(&res.f);
	smtp_conn_free(&c);

	c = smtp_conn_new(base, &set);
	assert_int_equal(do_open(c, dest, &res), -1);
	assert_int_equal(res.f.kind, LMTP_FAIL_REPLY);
	assert_int_equal(res.f.reply.code, 421);
	lmtp_failure_deinit(&res.f);
	smtp_conn_free(&c);

	c = smtp_conn_new(base, &set);
	assert_int_equal(do_open(c, dest, &res), -1);
	assert_int_equal(res.f.kind, LMTP_FAIL_CONVERSATION);
	assert_int_equal(res.f.stage, LMTP_STAGE_LHLO);
	assert_non_null(strstr(res.f.text, "sent a malformed reply while "
	    "receiving the reply to EHLO: "));
	lmtp_failure_deinit(&res.f);
	smtp_conn_free(&c);
	test_script_finish(&s);
	free(dest);

	/* Nobody listens there now. */
	dest = xasprintf("[127.0.0.1]:%u", port);
	c = smtp_conn_new(base, &set);
	assert_int_equal(do_open(c, dest, &res), -1);
	assert_int_equal(res.f.kind, LMTP_FAIL_CONNECT);
	assert_string_equal(res.f.text, "cannot connect to SMTP server "
	    "mx.remote.test[127.0.0.1]:25: Connection refused");
	lmtp_failure_deinit(&res.f);
	smtp_conn_free(&c);
	free(dest);

	c = smtp_conn_new(base, &set);
	assert_int_equal(do_open(c, "[127.0.0.1", &res), -1);
	assert_int_equal(res.f.kind, LMTP_FAIL_CONNECT);
	assert_non_null(strstr(res.f.text, "bad LMTP destination"));
	lmtp_failure_deinit(&res.f);
	smtp_conn_free(&c);
}

/* Every recipient refused: done, no DATA; DATA refused; local
 * refusals (SIZE, SMTPUTF8) fail from the loop and keep the
 * connection. */
static void
test_refusals(void **state)
{
	const struct test_step steps[] = {
		{ TS_ACCEPT, NULL },
		{ TS_SEND, GREET },
		{ TS_EXPECT, "EHLO client.example" },
		{ TS_SEND, "250-mx\r\n250-PIPELINING\r\n250 SIZE 100\r\n" },
		{ TS_EXPECT, "MAIL FROM:<s@example.org> SIZE=52" },
		{ TS_EXPECT, "RCPT TO:<a@example.org>" },
		{ TS_EXPECT, "RCPT TO:<b@example.org>" },
		{ TS_SEND, "250 OK\r\n450 4.2.1 later\r\n550 5.1.1 no\r\n" },
		{ TS_EXPECT, "RSET" },
		{ TS_SEND, "250 OK\r\n" },
		{ TS_EXPECT, "MAIL FROM:<s@example.org> SIZE=52" },
		{ TS_EXPECT, "RCPT TO:<a@example.org>" },
		{ TS_SEND, "250 OK\r\n250 OK\r\n" },
		{ TS_EXPECT, "DATA" },
		{ TS_SEND, "554 5.6.0 no data for you\r\n" },
		{ TS_EXPECT, "RSET" },
		{ TS_SEND, "421 4.3.2 shutting down\r\n" },
		{ TS_EOF, NULL },
		{ TS_END, NULL },
	};
	struct test_script s;
	struct lmtp_client_settings set;
	struct smtp_conn *c;
	struct lmtp_mail m;
	struct lmtp_rcpt r[2];
	struct result res;
	char *dest;

	test_script_start(&s, steps, true, NULL);
	dest = test_script_dest(&s);
	settings(&set, LMTP_PROTO_SMTP, 10000);
	c = smtp_conn_new(base, &set);
	if (do_open(c, dest, &res) != 0)
		fail_msg("open: %s", res.f.text);
	mail_init(&m, "s@example.org");
	m.len = 52;
	memset(r, 0, sizeof(r));
	r[0].address = "a@example.org";
	r[1].address = "b@example.org";
	assert_int_equal(do_send(c, &m, r, 2, &res), 0);
	assert_true(r[0].done && r[1].done);
	assert_int_equal(r[0].stage, LMTP_STAGE_RCPT);
	assert_int_equal(r[0].reply.code, 450);
	assert_int_equal(r[1].reply.code, 550);
	lmtp_rcpt_deinit(&r[0]);
	lmtp_rcpt_deinit(&r[1]);
	assert_int_equal(do_reset(c, &res), 0);

	assert_int_equal(do_send(c, &m, r, 1, &res), -1);
	assert_int_equal(res.f.kind, LMTP_FAIL_REPLY);
	assert_int_equal(res.f.stage, LMTP_STAGE_DATA);
	assert_non_null(strstr(res.f.text, "said: 554 5.6.0 no data for you "
	    "(in reply to DATA command)"));
	assert_false(r[0].done);
	lmtp_failure_deinit(&res.f);

	/* Refused here, nothing said. */
	m.len = 101;
	assert_int_equal(do_send(c, &m, r, 1, &res), -1);
	assert_int_equal(res.f.kind, LMTP_FAIL_LOCAL);
	assert_string_equal(res.f.dsn, "5.3.4");
	assert_non_null(strstr(res.f.text, "size limit 100"));
	lmtp_failure_deinit(&res.f);
	m.len = 52;
	m.smtputf8 = true;
	assert_int_equal(do_send(c, &m, r, 1, &res), -1);
	assert_int_equal(res.f.kind, LMTP_FAIL_LOCAL);
	assert_string_equal(res.f.dsn, "5.6.7");
	lmtp_failure_deinit(&res.f);
	assert_true(smtp_conn_is_open(c));

	/* A 421 to RSET: closed. */
	assert_int_equal(do_reset(c, &res), -1);
	assert_int_equal(res.f.kind, LMTP_FAIL_REPLY);
	assert_int_equal(res.f.reply.code, 421);
	lmtp_failure_deinit(&res.f);
	assert_false(smtp_conn_is_open(c));
	/* Closed: send and reset fail (from the loop). */
	assert_int_equal(do_send(c, &m, r, 1, &res), -1);
	assert_int_equal(res.f.kind, LMTP_FAIL_CONVERSATION);
	lmtp_failure_deinit(&res.f);
	assert_int_equal(do_reset(c, &res), -1);
	assert_int_equal(res.f.kind, LMTP_FAIL_CONVERSATION);
	lmtp_failure_deinit(&res.f);
	quit(&c);
	test_script_finish(&s);
	free(dest);
}

/* A big message (4 MB) to a server that reads part of it, says 421 and
 * closes. */
static void
test_close_mid_data(void **state)
{
	const struct test_step steps[] = {
		{ TS_ACCEPT, NULL },
		{ TS_SEND, GREET },
		{ TS_EXPECT, "EHLO client.example" },
		{ TS_SEND, "250-mx\r\n250 PIPELINING\r\n" },
		{ TS_EXPECT, "MAIL FROM:<s@example.org>" },
		{ TS_EXPECT, "RCPT TO:<a@example.org>" },
		{ TS_SEND, "250 OK\r\n250 OK\r\n" },
		{ TS_EXPECT, "DATA" },
		{ TS_SEND, "354 go\r\n" },
		{ TS_BODY_PART, NULL },
		{ TS_SEND, "421 4.3.2 shutting down\r\n" },
		{ TS_CLOSE, NULL },
		{ TS_END, NULL },
	};
	struct test_script s;
	struct lmtp_client_settings set;
	struct smtp_conn *c;
	struct lmtp_mail m;
	struct lmtp_rcpt r;
	struct result res;
	char *dest, *big;
	size_t biglen = 4 << 20;

	big = xmalloc(biglen);
	for (size_t i = 0; i < biglen; i++)
		big[i] = (i % 80 == 79) ? '\n' : 'x';
	test_script_start(&s, steps, true, NULL);
	dest = test_script_dest(&s);
	settings(&set, LMTP_PROTO_SMTP, 10000);
	c = smtp_conn_new(base, &set);
	if (do_open(c, dest, &res) != 0)
		fail_msg("open: %s", res.f.text);
	mail_init(&m, "s@example.org");
	m.content = big;
	m.len = biglen;
	memset(&r, 0, sizeof(r));
	r.address = "a@example.org";
	assert_int_equal(do_send(c, &m, &r, 1, &res), -1);
	assert_int_equal(res.f.kind, LMTP_FAIL_CONVERSATION);
	assert_true(res.f.stage == LMTP_STAGE_MESSAGE ||
	    res.f.stage == LMTP_STAGE_DOT);
	if (strstr(res.f.text, "lost connection with SMTP server "
	    "mx.remote.test[127.0.0.1]:25 while sending the message") ==
	    NULL || strstr(res.f.text, "(the server said: 421 4.3.2 "
	    "shutting down)") == NULL)
		fail_msg("text: %s", res.f.text);
	assert_false(r.done);
	assert_false(smtp_conn_is_open(c));
	lmtp_failure_deinit(&res.f);
	/* Not open: freed at once. */
	smtp_conn_quit(&c);
	assert_int_equal(smtp_conn_count(), 0);
	test_script_finish(&s);
	free(big);
	free(dest);
}

/* Silent servers: the greeting, the replies after the dot (LMTP: one
 * came), the reply to QUIT (the connection frees itself anyway). */
static void
test_timeouts(void **state)
{
	const struct test_step silent[] = {
		{ TS_ACCEPT, NULL },
		{ TS_HANG, NULL },
		{ TS_END, NULL },
	};
	const struct test_step silent_dot[] = {
		{ TS_ACCEPT, NULL },
		{ TS_SEND, "220 lmtp\r\n" },
		{ TS_EXPECT, "LHLO client.example" },
		{ TS_SEND, "250-lmtp\r\n250 PIPELINING\r\n" },
		{ TS_EXPECT, "MAIL FROM:<s@example.org>" },
		{ TS_EXPECT, "RCPT TO:<a@example.org>" },
		{ TS_EXPECT, "RCPT TO:<b@example.org>" },
		{ TS_SEND, "250 OK\r\n250 OK\r\n250 OK\r\n" },
		{ TS_EXPECT, "DATA" },
		{ TS_SEND, "354 go\r\n" },
		{ TS_BODY, NULL },
		{ TS_SEND, "250 2.0.0 first done\r\n" },
		{ TS_HANG, NULL },
		{ TS_END, NULL },
	};
	const struct test_step silent_quit[] = {
		{ TS_ACCEPT, NULL },
		{ TS_SEND, GREET },
		{ TS_EXPECT, "EHLO client.example" },
		{ TS_SEND, "250 mx\r\n" },
		{ TS_EXPECT, "QUIT" },
		{ TS_HANG, NULL },
		{ TS_END, NULL },
	};
	struct test_script s;
	struct lmtp_client_settings set;
	struct smtp_conn *c;
	struct lmtp_mail m;
	struct lmtp_rcpt r[2];
	struct result res;
	char *dest;

	test_script_start(&s, silent, true, NULL);
	dest = test_script_dest(&s);
	settings(&set, LMTP_PROTO_SMTP, 10000);
	set.timeouts.lhlo_ms = 200;
	c = smtp_conn_new(base, &set);
	assert_int_equal(do_open(c, dest, &res), -1);
	assert_int_equal(res.f.kind, LMTP_FAIL_CONVERSATION);
	assert_int_equal(res.f.stage, LMTP_STAGE_GREETING);
	assert_string_equal(res.f.text, "conversation with SMTP server "
	    "mx.remote.test[127.0.0.1]:25 timed out after 0.200s while "
	    "receiving the initial greeting");
	lmtp_failure_deinit(&res.f);
	smtp_conn_free(&c);
	test_script_finish(&s);
	free(dest);

	test_script_start(&s, silent_dot, false, NULL);
	dest = test_script_dest(&s);
	settings(&set, LMTP_PROTO_LMTP, 10000);
	set.timeouts.data_done_ms = 200;
	c = smtp_conn_new(base, &set);
	if (do_open(c, dest, &res) != 0)
		fail_msg("open: %s", res.f.text);
	mail_init(&m, "s@example.org");
	memset(r, 0, sizeof(r));
	r[0].address = "a@example.org";
	r[1].address = "b@example.org";
	assert_int_equal(do_send(c, &m, r, 2, &res), -1);
	assert_int_equal(res.f.kind, LMTP_FAIL_CONVERSATION);
	assert_int_equal(res.f.stage, LMTP_STAGE_DOT);
	assert_non_null(strstr(res.f.text, "timed out after 0.200s while "
	    "receiving the replies after the end of the message"));
	assert_true(r[0].done);
	assert_int_equal(r[0].reply.code, 250);
	assert_false(r[1].done);
	assert_false(smtp_conn_is_open(c));
	lmtp_rcpt_deinit(&r[0]);
	lmtp_failure_deinit(&res.f);
	smtp_conn_free(&c);
	test_script_finish(&s);
	free(dest);

	test_script_start(&s, silent_quit, true, NULL);
	dest = test_script_dest(&s);
	settings(&set, LMTP_PROTO_SMTP, 10000);
	set.timeouts.quit_ms = 200;
	c = smtp_conn_new(base, &set);
	if (do_open(c, dest, &res) != 0)
		fail_msg("open: %s", res.f.text);
	quit(&c);
	test_script_finish(&s);
	free(dest);
}

/* The server closed the idle connection after a 421: RSET says so. */
static void
test_idle_close(void **state)
{
	const struct test_step steps[] = {
		{ TS_ACCEPT, NULL },
		{ TS_SEND, GREET },
		{ TS_EXPECT, "EHLO client.example" },
		{ TS_SEND, "250 mx\r\n" },
		{ TS_SEND, "421 4.4.2 idle for too long\r\n" },
		{ TS_CLOSE, NULL },
		{ TS_END, NULL },
	};
	struct test_script s;
	struct lmtp_client_settings set;
	struct smtp_conn *c;
	struct result res;
	char *dest;

	test_script_start(&s, steps, true, NULL);
	dest = test_script_dest(&s);
	settings(&set, LMTP_PROTO_SMTP, 10000);
	c = smtp_conn_new(base, &set);
	if (do_open(c, dest, &res) != 0)
		fail_msg("open: %s", res.f.text);
	/* The script has ended (closed) when the thread has. */
	test_script_finish(&s);
	assert_int_equal(do_reset(c, &res), -1);
	assert_int_equal(res.f.kind, LMTP_FAIL_CONVERSATION);
	assert_int_equal(res.f.stage, LMTP_STAGE_RSET);
	assert_string_equal(res.f.text, "SMTP server "
	    "mx.remote.test[127.0.0.1]:25 closed the connection while it "
	    "was idle (the server said: 421 4.4.2 idle for too long)");
	assert_false(smtp_conn_is_open(c));
	lmtp_failure_deinit(&res.f);
	smtp_conn_quit(&c);
	assert_int_equal(smtp_conn_count(), 0);
	free(dest);
}

/* stuffed - what the server must receive for content. */
static char *
stuffed(const char *content, size_t len, size_t *outlen)
{
	struct lmtp_dot_state ds = { .mid_line = false };
	struct buf b;

	buf_init(&b, 64 << 20);
	assert_int_equal(lmtp_dot_stuff(&ds, content, len, &b), 0);
	assert_int_equal(lmtp_dot_stuff_end(&ds, &b), 0);
	*outlen = b.len;
	return buf_steal(&b);
}

/* big_message - n bytes of lines, some starting with a dot, bare LFs. */
static char *
big_message(size_t n)
{
	char *big = xmalloc(n);

	for (size_t i = 0; i < n; i++)
		big[i] = (i % 77 == 76) ? '\n' : (i % 77 == 0 &&
		    i % 3 == 0) ? '.' : (char)('a' + i % 26);
	return big;
}

/* 5 MB to a server that reads 8 KB at a time: the message arrives
 * intact (the output buffer is bounded by construction: the client
 * panics if it would pass LMTP_OUTPUT_MAX_BYTES). */
static void
test_large_slow(void **state)
{
	const struct test_step steps[] = {
		{ TS_ACCEPT, NULL },
		{ TS_SEND, GREET },
		{ TS_EXPECT, "EHLO client.example" },
		{ TS_SEND, "250-mx\r\n250 PIPELINING\r\n" },
		{ TS_EXPECT, "MAIL FROM:<s@example.org>" },
		{ TS_EXPECT, "RCPT TO:<a@example.org>" },
		{ TS_SEND, "250 OK\r\n250 OK\r\n" },
		{ TS_EXPECT, "DATA" },
		{ TS_SEND, "354 go\r\n" },
		{ TS_BODY_SLOW, NULL },
		{ TS_SEND, "250 2.0.0 got it\r\n" },
		{ TS_EXPECT, "QUIT" },
		{ TS_SEND, "221 Bye\r\n" },
		{ TS_END, NULL },
	};
	struct test_script s;
	struct lmtp_client_settings set;
	struct smtp_conn *c;
	struct lmtp_mail m;
	struct lmtp_rcpt r;
	struct result res;
	size_t biglen = 5 << 20, explen;
	char *dest, *big = big_message(biglen), *expect;

	expect = stuffed(big, biglen, &explen);
	test_script_start(&s, steps, true, NULL);
	dest = test_script_dest(&s);
	settings(&set, LMTP_PROTO_SMTP, 10000);
	c = smtp_conn_new(base, &set);
	if (do_open(c, dest, &res) != 0)
		fail_msg("open: %s", res.f.text);
	mail_init(&m, "s@example.org");
	m.content = big;
	m.len = biglen;
	memset(&r, 0, sizeof(r));
	r.address = "a@example.org";
	if (do_send(c, &m, &r, 1, &res) != 0)
		fail_msg("send: %s", res.f.text);
	assert_int_equal(r.reply.code, 250);
	lmtp_rcpt_deinit(&r);
	quit(&c);
	assert_int_equal(pthread_join(s.th, NULL), 0);
	assert_null(s.problem);
	assert_int_equal(s.body.len, explen);
	assert_memory_equal(s.body.data, expect, explen);
	test_listener_remove(&s.l);
	buf_deinit(&s.body);
	buf_deinit(&s.lines);
	free(expect);
	free(big);
	free(dest);
}

/* A pipelining server that answers before it has read the commands,
 * and one that answers each of many long RCPTs as it reads it (the
 * client must read while it writes). */
static void
test_pipelining_early(void **state)
{
	enum { NRCPT = 1000 };
	struct test_step *steps = xcalloc(2 * NRCPT + 20, sizeof(*steps));
	char **lines = xcalloc(NRCPT, sizeof(*lines));
	char **addrs = xcalloc(NRCPT, sizeof(*addrs));
	struct lmtp_rcpt *r = xcalloc(NRCPT, sizeof(*r));
	struct test_script s;
	struct lmtp_client_settings set;
	struct smtp_conn *c;
	struct lmtp_mail m;
	struct result res;
	char *dest;
	size_t k = 0;

	steps[k++] = (struct test_step){ TS_ACCEPT, NULL };
	steps[k++] = (struct test_step){ TS_SEND, GREET };
	steps[k++] = (struct test_step){ TS_EXPECT, "EHLO client.example" };
	/* The replies to MAIL, RCPT and DATA right after EHLO's. */
	steps[k++] = (struct test_step){ TS_SEND, "250-mx\r\n250 PIPELINING\r\n"
	    "250 early MAIL\r\n" };
	steps[k++] = (struct test_step){ TS_EXPECT,
	    "MAIL FROM:<s@example.org>" };
	for (int i = 0; i < NRCPT; i++) {
		addrs[i] = xasprintf("user%04d.%0200d@example.org", i, 0);
		lines[i] = xasprintf("RCPT TO:<%s>", addrs[i]);
		steps[k++] = (struct test_step){ TS_EXPECT, lines[i] };
		steps[k++] = (struct test_step){ TS_SEND, i % 2 ?
		    "550 5.1.1 no\r\n" : "250 2.1.5 OK, and some text to "
		    "fill the socket buffer of the client while it is still "
		    "writing\r\n" };
		r[i].address = addrs[i];
	}
	steps[k++] = (struct test_step){ TS_EXPECT, "DATA" };
	steps[k++] = (struct test_step){ TS_SEND, "354 go\r\n" };
	steps[k++] = (struct test_step){ TS_BODY, NULL };
	steps[k++] = (struct test_step){ TS_SEND, "250 2.0.0 ok\r\n" };
	steps[k++] = (struct test_step){ TS_EOF, NULL };
	steps[k++] = (struct test_step){ TS_END, NULL };

	test_script_start(&s, steps, true, NULL);
	dest = test_script_dest(&s);
	settings(&set, LMTP_PROTO_SMTP, 10000);
	c = smtp_conn_new(base, &set);
	if (do_open(c, dest, &res) != 0)
		fail_msg("open: %s", res.f.text);
	mail_init(&m, "s@example.org");
	if (do_send(c, &m, r, NRCPT, &res) != 0)
		fail_msg("send: %s", res.f.text);
	for (int i = 0; i < NRCPT; i++) {
		assert_true(r[i].done);
		assert_int_equal(r[i].reply.code, i % 2 ? 550 : 250);
		assert_int_equal(r[i].stage, i % 2 ? LMTP_STAGE_RCPT :
		    LMTP_STAGE_DOT);
		lmtp_rcpt_deinit(&r[i]);
	}
	smtp_conn_free(&c);
	assert_int_equal(pthread_join(s.th, NULL), 0);
	assert_null(s.problem);
	assert_int_equal(s.body.len, sizeof(message_stuffed) - 1);
	assert_memory_equal(s.body.data, message_stuffed, s.body.len);
	test_listener_remove(&s.l);
	buf_deinit(&s.body);
	buf_deinit(&s.lines);
	for (int i = 0; i < NRCPT; i++) {
		free(lines[i]);
		free(addrs[i]);
	}
	free(lines);
	free(addrs);
	free(r);
	free(steps);
	free(dest);
}

static void
capture_log(enum log_level level, const char *text, void *ctx)
{
	buf_appendf(ctx, "%s\n", text);
}

/* AUTH PLAIN in plaintext (allowed), byte for byte and masked in the
 * debug log; a refusal; not allowed without TLS. */
static void
test_auth_plain(void **state)
{
	const struct test_step steps[] = {
		{ TS_ACCEPT, NULL },
		{ TS_SEND, GREET },
		{ TS_EXPECT, "EHLO client.example" },
		{ TS_SEND, "250-mx\r\n250 AUTH LOGIN PLAIN\r\n" },
		{ TS_EXPECT, "AUTH PLAIN AHVzZXJAZXhhbXBsZS5vcmcAcGEgc3M=" },
		{ TS_SEND, "235 2.7.0 Authentication successful\r\n" },
		{ TS_EXPECT, "QUIT" },
		{ TS_SEND, "221 Bye\r\n" },
		{ TS_ACCEPT, NULL },
		{ TS_SEND, GREET },
		{ TS_EXPECT, "EHLO client.example" },
		{ TS_SEND, "250-mx\r\n250 AUTH PLAIN\r\n" },
		{ TS_EXPECT, "AUTH PLAIN AHVzZXJAZXhhbXBsZS5vcmcAcGEgc3M=" },
		{ TS_SEND, "535 5.7.8 Error: authentication failed\r\n" },
		{ TS_EOF, NULL },
		{ TS_ACCEPT, NULL },
		{ TS_SEND, GREET },
		{ TS_EXPECT, "EHLO client.example" },
		{ TS_SEND, "250-mx\r\n250 AUTH PLAIN\r\n" },
		{ TS_EOF, NULL },
		{ TS_END, NULL },
	};
	struct test_script s;
	struct lmtp_client_settings set;
	struct smtp_conn *c;
	struct result res;
	struct buf logged;
	char *dest;

	test_script_start(&s, steps, true, NULL);
	dest = test_script_dest(&s);
	settings(&set, LMTP_PROTO_SMTP, 10000);
	set.auth_user = "user@example.org";
	set.auth_pass = "pa ss";
	set.auth_plaintext_ok = true;
	buf_init(&logged, 1 << 20);
	log_set_capture(capture_log, &logged);
	log_set_verbose(2);
	c = smtp_conn_new(base, &set);
	if (do_open(c, dest, &res) != 0)
		fail_msg("open: %s", res.f.text);
	assert_true(smtp_conn_authenticated(c));
	quit(&c);
	log_set_verbose(0);
	log_set_capture(NULL, NULL);
	assert_non_null(strstr(buf_cstr(&logged), "> AUTH PLAIN ********"));
	assert_null(strstr(buf_cstr(&logged), "AHVzZXJAZXhhbXBsZS5vcmcAcGEgc3M"));
	assert_null(strstr(buf_cstr(&logged), "pa ss"));
	buf_deinit(&logged);

	c = smtp_conn_new(base, &set);
	assert_int_equal(do_open(c, dest, &res), -1);
	assert_int_equal(res.f.kind, LMTP_FAIL_AUTH);
	assert_int_equal(res.f.reply.code, 535);
	assert_string_equal(res.f.dsn, "5.7.8");
	assert_non_null(strstr(res.f.text, "refused to authenticate "
	    "user@example.org with PLAIN: 535 5.7.8"));
	lmtp_failure_deinit(&res.f);
	smtp_conn_free(&c);

	set.auth_plaintext_ok = false;
	c = smtp_conn_new(base, &set);
	assert_int_equal(do_open(c, dest, &res), -1);
	assert_int_equal(res.f.kind, LMTP_FAIL_AUTH);
	assert_string_equal(res.f.dsn, "4.7.8");
	assert_non_null(strstr(res.f.text, "without TLS (it offers no "
	    "STARTTLS)"));
	lmtp_failure_deinit(&res.f);
	smtp_conn_free(&c);
	test_script_finish(&s);
	free(dest);
}

/* STARTTLS at level may: TLS, EHLO again, AUTH (no plaintext needed),
 * a 1 MB message through TLS; at may a refused STARTTLS goes on in
 * plaintext; at encrypt a server without STARTTLS is refused. */
static void
test_starttls(void **state)
{
	const struct test_step steps[] = {
		{ TS_ACCEPT, NULL },
		{ TS_SEND, GREET },
		{ TS_EXPECT, "EHLO client.example" },
		{ TS_SEND, "250-mx\r\n250-PIPELINING\r\n250 STARTTLS\r\n" },
		{ TS_EXPECT, "STARTTLS" },
		{ TS_SEND, "220 2.0.0 go ahead\r\n" },
		{ TS_STARTTLS, NULL },
		{ TS_EXPECT, "EHLO client.example" },
		{ TS_SEND, "250-mx\r\n250-PIPELINING\r\n250 AUTH PLAIN\r\n" },
		{ TS_EXPECT, "AUTH PLAIN AHVzZXJAZXhhbXBsZS5vcmcAcGEgc3M=" },
		{ TS_SEND, "235 2.7.0 OK\r\n" },
		{ TS_EXPECT, "MAIL FROM:<s@example.org>" },
		{ TS_EXPECT, "RCPT TO:<a@example.org>" },
		{ TS_SEND, "250 OK\r\n250 OK\r\n" },
		{ TS_EXPECT, "DATA" },
		{ TS_SEND, "354 go\r\n" },
		{ TS_BODY, NULL },
		{ TS_SEND, "250 2.0.0 got it\r\n" },
		{ TS_EXPECT, "RSET" },
		{ TS_SEND, "250 OK\r\n" },
		{ TS_EXPECT, "QUIT" },
		{ TS_SEND, "221 Bye\r\n" },
		/* may: STARTTLS refused, on in plaintext. */
		{ TS_ACCEPT, NULL },
		{ TS_SEND, GREET },
		{ TS_EXPECT, "EHLO client.example" },
		{ TS_SEND, "250-mx\r\n250 STARTTLS\r\n" },
		{ TS_EXPECT, "STARTTLS" },
		{ TS_SEND, "454 4.7.0 TLS not available\r\n" },
		{ TS_EXPECT, "QUIT" },
		{ TS_SEND, "221 Bye\r\n" },
		/* encrypt: not offered. */
		{ TS_ACCEPT, NULL },
		{ TS_SEND, GREET },
		{ TS_EXPECT, "EHLO client.example" },
		{ TS_SEND, "250 mx\r\n" },
		{ TS_EOF, NULL },
		/* encrypt: offered and done. */
		{ TS_ACCEPT, NULL },
		{ TS_SEND, GREET },
		{ TS_EXPECT, "EHLO client.example" },
		{ TS_SEND, "250-mx\r\n250 STARTTLS\r\n" },
		{ TS_EXPECT, "STARTTLS" },
		{ TS_SEND, "220 2.0.0 go ahead\r\n" },
		{ TS_STARTTLS, NULL },
		{ TS_EXPECT, "EHLO client.example" },
		{ TS_SEND, "250 mx\r\n" },
		{ TS_EXPECT, "QUIT" },
		{ TS_SEND, "221 Bye\r\n" },
		{ TS_END, NULL },
	};
	struct tls_client_config cfg;
	struct tls_client_policy pol;
	struct tls_client_ctx *tctx;
	struct test_script s;
	struct lmtp_client_settings set;
	struct smtp_conn *c;
	struct lmtp_mail m;
	struct lmtp_rcpt r;
	struct result res;
	SSL_CTX *sctx = test_tls_server_ctx("mx.tls.test");
	size_t biglen = 1 << 20, explen;
	char *dest, *err = NULL, *big = big_message(biglen), *expect;

	expect = stuffed(big, biglen, &explen);
	memset(&cfg, 0, sizeof(cfg));
	cfg.protocols = "!SSLv2, !SSLv3";
	cfg.mandatory_protocols = "!SSLv2, !SSLv3";
	cfg.loglevel = 1;
	tctx = tls_client_ctx_new(&cfg, &err);
	if (tctx == NULL)
		fail_msg("tls_client_ctx_new: %s", err);
	memset(&pol, 0, sizeof(pol));
	pol.level = TLS_LEV_MAY;
	test_script_start(&s, steps, true, sctx);
	dest = test_script_dest(&s);
	settings(&set, LMTP_PROTO_SMTP, 10000);
	set.tls_ctx = tctx;
	set.tls = &pol;
	set.auth_user = "user@example.org";
	set.auth_pass = "pa ss";
	c = smtp_conn_new(base, &set);
	if (do_open(c, dest, &res) != 0)
		fail_msg("open: %s", res.f.text);
	assert_non_null(smtp_conn_tls(c));
	assert_true(smtp_conn_tls(c)->active);
	assert_true(smtp_conn_authenticated(c));
	assert_false(smtp_conn_caps(c)->starttls);
	mail_init(&m, "s@example.org");
	m.content = big;
	m.len = biglen;
	memset(&r, 0, sizeof(r));
	r.address = "a@example.org";
	if (do_send(c, &m, &r, 1, &res) != 0)
		fail_msg("send: %s", res.f.text);
	assert_int_equal(r.reply.code, 250);
	lmtp_rcpt_deinit(&r);
	/* TLS 1.3 session tickets arrived while idle: not a close. */
	if (do_reset(c, &res) != 0)
		fail_msg("reset: %s", res.f.text);
	quit(&c);

	set.auth_user = NULL;
	set.auth_pass = NULL;
	c = smtp_conn_new(base, &set);
	if (do_open(c, dest, &res) != 0)
		fail_msg("open: %s", res.f.text);
	assert_null(smtp_conn_tls(c));
	quit(&c);

	pol.level = TLS_LEV_ENCRYPT;
	c = smtp_conn_new(base, &set);
	assert_int_equal(do_open(c, dest, &res), -1);
	assert_int_equal(res.f.kind, LMTP_FAIL_TLS);
	assert_int_equal(res.f.stage, LMTP_STAGE_STARTTLS);
	assert_string_equal(res.f.dsn, "4.7.5");
	assert_string_equal(res.f.text, "SMTP server "
	    "mx.remote.test[127.0.0.1]:25 does not offer STARTTLS, which the "
	    "TLS security level encrypt requires");
	lmtp_failure_deinit(&res.f);
	smtp_conn_free(&c);

	c = smtp_conn_new(base, &set);
	if (do_open(c, dest, &res) != 0)
		fail_msg("open: %s", res.f.text);
	assert_non_null(smtp_conn_tls(c));
	quit(&c);

	assert_int_equal(pthread_join(s.th, NULL), 0);
	if (s.problem != NULL)
		fail_msg("server: %s", s.problem);
	assert_int_equal(s.body.len, explen);
	assert_memory_equal(s.body.data, expect, explen);
	test_listener_remove(&s.l);
	buf_deinit(&s.body);
	buf_deinit(&s.lines);
	SSL_CTX_free(sctx);
	tls_client_ctx_free(tctx);
	free(expect);
	free(big);
	free(dest);
}

/* ------------------------------------------------------------------ */
/* XFORWARD */

/* The warnings logged (a refused XFORWARD). */
static char warned[1024];

static void
capture_warning(enum log_level level, const char *text, void *ctx)
{
	(void)ctx;
	if (level == LOG_LVL_WARNING)
		snprintf(warned, sizeof(warned), "%s", text);
}

/* Offered with some attributes (pipelining): only those are sent, in
 * one line, xtext, unknown ones as [UNAVAILABLE]; a mail without
 * xforward after RSET sends none. */
static void
test_xforward_offered(void **state)
{
	const struct test_step steps[] = {
		{ TS_ACCEPT, NULL },
		{ TS_SEND, GREET },
		{ TS_EXPECT, "EHLO client.example" },
		{ TS_SEND, "250-mx.remote.test\r\n250-PIPELINING\r\n"
		    "250-XFORWARD NAME ADDR PROTO HELO\r\n250 8BITMIME\r\n" },
		{ TS_EXPECT, "XFORWARD NAME=mail.client.test ADDR=192.0.2.7 "
		    "PROTO=ESMTP HELO=helo+2Bname+3Dx" },
		{ TS_SEND, "250 2.0.0 Ok\r\n" },
		{ TS_EXPECT, "MAIL FROM:<s@example.org>" },
		{ TS_EXPECT, "RCPT TO:<a@example.org>" },
		{ TS_SEND, "250 2.1.0 OK\r\n250 2.1.5 OK\r\n" },
		{ TS_EXPECT, "DATA" },
		{ TS_SEND, "354 go\r\n" },
		{ TS_BODY, NULL },
		{ TS_SEND, "250 2.0.0 Ok: queued\r\n" },
		{ TS_EXPECT, "RSET" },
		{ TS_SEND, "250 2.0.0 OK\r\n" },
		/* Not available at all: not even the command. */
		{ TS_EXPECT, "MAIL FROM:<s@example.org>" },
		{ TS_EXPECT, "RCPT TO:<a@example.org>" },
		{ TS_SEND, "250 2.1.0 OK\r\n250 2.1.5 OK\r\n" },
		{ TS_EXPECT, "DATA" },
		{ TS_SEND, "354 go\r\n" },
		{ TS_BODY, NULL },
		{ TS_SEND, "250 2.0.0 Ok: queued\r\n" },
		{ TS_EXPECT, "RSET" },
		{ TS_SEND, "250 2.0.0 OK\r\n" },
		/* No xforward for the mail: none. */
		{ TS_EXPECT, "MAIL FROM:<s@example.org>" },
		{ TS_EXPECT, "RCPT TO:<a@example.org>" },
		{ TS_SEND, "250 2.1.0 OK\r\n250 2.1.5 OK\r\n" },
		{ TS_EXPECT, "DATA" },
		{ TS_SEND, "354 go\r\n" },
		{ TS_BODY, NULL },
		{ TS_SEND, "250 2.0.0 Ok: queued\r\n" },
		{ TS_EXPECT, "QUIT" },
		{ TS_SEND, "221 2.0.0 Bye\r\n" },
		{ TS_EOF, NULL },
		{ TS_END, NULL },
	};
	const struct lmtp_xforward xf = {
		.name = "mail.client.test", .addr = "192.0.2.7",
		.port = "4711", .proto = "ESMTP", .helo = "helo+name=x",
		.ident = "4ABCD", .source = "REMOTE",
	};
	/* Only values the server did not list are known. */
	const struct lmtp_xforward xf_unlisted = {
		.name = "", .addr = NULL, .port = "4711", .ident = "4ABCD",
		.source = "REMOTE",
	};
	struct test_script s;
	struct lmtp_client_settings set;
	struct smtp_conn *c;
	struct lmtp_mail m;
	struct lmtp_rcpt r;
	struct result res;
	char *dest;

	test_script_start(&s, steps, true, NULL);
	dest = test_script_dest(&s);
	settings(&set, LMTP_PROTO_SMTP, 10000);
	c = smtp_conn_new(base, &set);
	if (do_open(c, dest, &res) != 0)
		fail_msg("open: %s", res.f.text);
	assert_int_equal(smtp_conn_caps(c)->xforward, LMTP_XF_NAME |
	    LMTP_XF_ADDR | LMTP_XF_PROTO | LMTP_XF_HELO);
	mail_init(&m, "s@example.org");
	m.xforward = &xf;
	memset(&r, 0, sizeof(r));
	r.address = "a@example.org";
	if (do_send(c, &m, &r, 1, &res) != 0)
		fail_msg("send: %s", res.f.text);
	assert_true(r.done);
	assert_int_equal(r.reply.code, 250);
	lmtp_rcpt_deinit(&r);
	assert_int_equal(do_reset(c, &res), 0);

	m.xforward = &xf_unlisted;
	memset(&r, 0, sizeof(r));
	r.address = "a@example.org";
	if (do_send(c, &m, &r, 1, &res) != 0)
		fail_msg("send: %s", res.f.text);
	assert_true(r.done);
	lmtp_rcpt_deinit(&r);
	assert_int_equal(do_reset(c, &res), 0);

	m.xforward = NULL;
	memset(&r, 0, sizeof(r));
	r.address = "a@example.org";
	if (do_send(c, &m, &r, 1, &res) != 0)
		fail_msg("send: %s", res.f.text);
	assert_true(r.done);
	lmtp_rcpt_deinit(&r);
	quit(&c);
	test_script_finish(&s);
	free(dest);
}

/* Every attribute listed, no pipelining: two lines of at most 512
 * bytes (a long NAME), each awaited; an IPv6 address with IPV6:; a HELO
 * name too long for a line as [UNAVAILABLE]; the first one refused
 * with 550: a warning, and the transaction goes on. */
static void
test_xforward_lines_refused(void **state)
{
	char name[401], helo[600], line1[600];
	struct test_step steps[] = {
		{ TS_ACCEPT, NULL },
		{ TS_SEND, GREET },
		{ TS_EXPECT, "EHLO client.example" },
		{ TS_SEND, "250-mx.remote.test\r\n"
		    "250 XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE\r\n" },
		{ TS_EXPECT, line1 },
		{ TS_SEND, "550 5.5.4 XFORWARD not allowed\r\n" },
		{ TS_EXPECT, "XFORWARD SOURCE=LOCAL" },
		{ TS_SEND, "250 2.0.0 Ok\r\n" },
		{ TS_EXPECT, "MAIL FROM:<s@example.org>" },
		{ TS_SEND, "250 2.1.0 OK\r\n" },
		{ TS_EXPECT, "RCPT TO:<a@example.org>" },
		{ TS_SEND, "250 2.1.5 OK\r\n" },
		{ TS_EXPECT, "DATA" },
		{ TS_SEND, "354 go\r\n" },
		{ TS_BODY, NULL },
		{ TS_SEND, "250 2.0.0 Ok: queued\r\n" },
		{ TS_EXPECT, "QUIT" },
		{ TS_SEND, "221 2.0.0 Bye\r\n" },
		{ TS_EOF, NULL },
		{ TS_END, NULL },
	};
	struct lmtp_xforward xf = {
		.name = name, .addr = "2001:db8::7", .port = NULL,
		.proto = "ESMTP", .helo = helo, .ident = "4ABCD",
		.source = "LOCAL",
	};
	struct test_script s;
	struct lmtp_client_settings set;
	struct smtp_conn *c;
	struct lmtp_mail m;
	struct lmtp_rcpt r;
	struct result res;
	char *dest;

	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	memset(helo, 'h', sizeof(helo) - 1);
	helo[sizeof(helo) - 1] = '\0';
	snprintf(line1, sizeof(line1), "XFORWARD NAME=%s "
	    "ADDR=IPV6:2001:db8::7 PORT=[UNAVAILABLE] PROTO=ESMTP "
	    "HELO=[UNAVAILABLE] IDENT=4ABCD", name);
	assert_true(strlen(line1) + 2 <= LMTP_LINE_MAX_BYTES);
	/* SOURCE would not have fitted on it. */
	assert_true(strlen(line1) + strlen(" SOURCE=LOCAL") + 2 >
	    LMTP_LINE_MAX_BYTES);

	warned[0] = '\0';
	log_set_capture(capture_warning, NULL);
	test_script_start(&s, steps, true, NULL);
	dest = test_script_dest(&s);
	settings(&set, LMTP_PROTO_SMTP, 10000);
	c = smtp_conn_new(base, &set);
	if (do_open(c, dest, &res) != 0)
		fail_msg("open: %s", res.f.text);
	mail_init(&m, "s@example.org");
	m.xforward = &xf;
	memset(&r, 0, sizeof(r));
	r.address = "a@example.org";
	if (do_send(c, &m, &r, 1, &res) != 0)
		fail_msg("send: %s", res.f.text);
	assert_true(r.done);
	assert_int_equal(r.reply.code, 250);
	lmtp_rcpt_deinit(&r);
	assert_string_equal(warned, "SMTP server "
	    "mx.remote.test[127.0.0.1]:25 said: 550 5.5.4 XFORWARD not "
	    "allowed (in reply to XFORWARD command)");
	quit(&c);
	test_script_finish(&s);
	log_set_capture(NULL, NULL);
	free(dest);
}

/* Not offered: none sent although the mail has the values.  A 421
 * to XFORWARD: the transaction fails with the reply, closed. */
static void
test_xforward_none_and_421(void **state)
{
	const struct test_step steps[] = {
		{ TS_ACCEPT, NULL },
		{ TS_SEND, GREET },
		{ TS_EXPECT, "EHLO client.example" },
		{ TS_SEND, EHLO_PIPE },
		{ TS_EXPECT, "MAIL FROM:<s@example.org> SIZE=62" },
		{ TS_EXPECT, "RCPT TO:<a@example.org>" },
		{ TS_SEND, "250 2.1.0 OK\r\n250 2.1.5 OK\r\n" },
		{ TS_EXPECT, "DATA" },
		{ TS_SEND, "354 go\r\n" },
		{ TS_BODY, NULL },
		{ TS_SEND, "250 2.0.0 Ok: queued\r\n" },
		{ TS_EXPECT, "QUIT" },
		{ TS_SEND, "221 2.0.0 Bye\r\n" },
		{ TS_EOF, NULL },
		{ TS_ACCEPT, NULL },
		{ TS_SEND, GREET },
		{ TS_EXPECT, "EHLO client.example" },
		{ TS_SEND, "250-mx.remote.test\r\n250-PIPELINING\r\n"
		    "250 XFORWARD ADDR\r\n" },
		{ TS_EXPECT, "XFORWARD ADDR=192.0.2.7" },
		{ TS_SEND, "421 4.3.2 shutting down\r\n" },
		{ TS_EOF, NULL },
		{ TS_END, NULL },
	};
	const struct lmtp_xforward xf = {
		.name = "mail.client.test", .addr = "192.0.2.7",
	};
	struct test_script s;
	struct lmtp_client_settings set;
	struct smtp_conn *c;
	struct lmtp_mail m;
	struct lmtp_rcpt r;
	struct result res;
	char *dest;

	test_script_start(&s, steps, true, NULL);
	dest = test_script_dest(&s);
	settings(&set, LMTP_PROTO_SMTP, 10000);
	c = smtp_conn_new(base, &set);
	if (do_open(c, dest, &res) != 0)
		fail_msg("open: %s", res.f.text);
	assert_int_equal(smtp_conn_caps(c)->xforward, 0);
	mail_init(&m, "s@example.org");
	m.xforward = &xf;
	memset(&r, 0, sizeof(r));
	r.address = "a@example.org";
	if (do_send(c, &m, &r, 1, &res) != 0)
		fail_msg("send: %s", res.f.text);
	assert_true(r.done);
	lmtp_rcpt_deinit(&r);
	quit(&c);

	c = smtp_conn_new(base, &set);
	if (do_open(c, dest, &res) != 0)
		fail_msg("open: %s", res.f.text);
	memset(&r, 0, sizeof(r));
	r.address = "a@example.org";
	assert_int_equal(do_send(c, &m, &r, 1, &res), -1);
	assert_int_equal(res.f.kind, LMTP_FAIL_REPLY);
	assert_int_equal(res.f.stage, LMTP_STAGE_XFORWARD);
	assert_int_equal(res.f.reply.code, 421);
	assert_string_equal(res.f.text, "SMTP server "
	    "mx.remote.test[127.0.0.1]:25 said: 421 4.3.2 shutting down "
	    "(in reply to XFORWARD command)");
	assert_false(r.done);
	assert_false(smtp_conn_is_open(c));
	lmtp_failure_deinit(&res.f);
	lmtp_rcpt_deinit(&r);
	smtp_conn_free(&c);
	test_script_finish(&s);
	free(dest);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pipelined_transaction,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_lmtp_replies, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_helo_fallback, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_open_failures, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_close_mid_data, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_timeouts, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_idle_close, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_large_slow, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_pipelining_early, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_auth_plain, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_starttls, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_xforward_offered, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_xforward_lines_refused,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_xforward_none_and_421,
		    setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
