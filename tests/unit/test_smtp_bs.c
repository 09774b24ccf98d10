/* SPDX-License-Identifier: MIT */
/*
 * test_smtp_bs - the SMTP dialogue of `sendmail -bs` (src/smtpd/smtp_bs.c):
 * every transcript is fed whole, one byte at a time and in pieces of
 * seven bytes, and the three must give the same replies and the same
 * messages.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "smtp_bs.h"

/* What the submit callback saw: one line per message. */
struct seen {
	struct buf log;
	const char *answer;	/* NULL: "250 2.0.0 Ok: queued as N" */
	unsigned n;
};

static void
record(void *ctx, const struct smtp_bs_message *m, struct buf *reply)
{
	struct seen *sn = ctx;
	char nt[32];

	(void)buf_appendf(&sn->log, "from=<%s>", m->sender);
	for (size_t i = 0; i < m->nrcpts; i++)
		(void)buf_appendf(&sn->log, " to=<%s>%s%s%s%s", m->rcpts[i],
		    m->notify[i] ? " notify=" : "", m->notify[i] ?
		    smtp_notify_text(m->notify[i], nt, sizeof(nt)) : "",
		    m->orcpts[i] ? " orcpt=" : "", m->orcpts[i] ?
		    m->orcpts[i] : "");
	if (m->ret != SMTP_RET_NONE)
		(void)buf_appendf(&sn->log, " ret=%s", m->ret == SMTP_RET_FULL ?
		    "FULL" : "HDRS");
	if (m->envid != NULL)
		(void)buf_appendf(&sn->log, " envid=%s", m->envid);
	(void)buf_appendf(&sn->log, " [%.*s]\n", (int)m->len, m->data);
	sn->n++;
	if (sn->answer != NULL)
		(void)buf_append_str(reply, sn->answer);
	else
		(void)buf_appendf(reply, "250 2.0.0 Ok: queued as %u", sn->n);
}

struct run {
	char *out;	/* every reply */
	char *msgs;	/* what record() saw */
	bool done;	/* the session ended before the input did */
};

static struct smtp_bs_params
params(void)
{
	struct smtp_bs_params p;

	memset(&p, 0, sizeof(p));
	p.myhostname = "mx.example.org";
	p.mail_name = "Ostia";
	p.myorigin = "example.org";
	p.max_size = 200;
	p.max_rcpts = 3;
	p.error_limit = 6;
	p.submit = record;
	return p;
}

/* run_once - in, fed in pieces of step bytes (0: whole), then EOF. */
static struct run
run_once(const struct smtp_bs_params *pp, const char *answer,
    const char *in, size_t step)
{
	struct smtp_bs_params p = *pp;
	struct smtp_bs s;
	struct seen sn;
	struct buf out;
	struct run r;
	size_t len = strlen(in), off = 0;
	bool more = true;

	memset(&sn, 0, sizeof(sn));
	buf_init(&sn.log, 1 << 20);
	sn.answer = answer;
	p.ctx = &sn;
	buf_init(&out, 1 << 20);
	smtp_bs_init(&s, &p);
	while (more && off < len) {
		size_t n = step == 0 || len - off < step ? len - off : step;

		more = smtp_bs_feed(&s, in + off, n);
		off += n;
		smtp_bs_take_output(&s, &out);
	}
	r.done = !more;
	smtp_bs_eof(&s);
	smtp_bs_take_output(&s, &out);
	smtp_bs_deinit(&s);
	r.out = strdup(buf_cstr(&out));
	r.msgs = strdup(buf_cstr(&sn.log));
	buf_deinit(&out);
	buf_deinit(&sn.log);
	return r;
}

/* run - the three feedings must agree; returns the whole one. */
static struct run
run_p(const struct smtp_bs_params *p, const char *answer, const char *in)
{
	struct run whole = run_once(p, answer, in, 0);
	static const size_t steps[] = { 1, 7 };

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct run part = run_once(p, answer, in, steps[i]);

		assert_string_equal(part.out, whole.out);
		assert_string_equal(part.msgs, whole.msgs);
		assert_int_equal(part.done, whole.done);
		free(part.out);
		free(part.msgs);
	}
	return whole;
}

static struct run
run(const char *in)
{
	struct smtp_bs_params p = params();

	return run_p(&p, NULL, in);
}

/* cat - append s to the string in b (size bsz). */
static void
cat(char *b, size_t bsz, const char *s)
{
	size_t n = strlen(b);

	assert_true(n + strlen(s) < bsz);
	memcpy(b + n, s, strlen(s) + 1);
}

static void
run_free(struct run *r)
{
	free(r->out);
	free(r->msgs);
}

static void
test_session(void **state)
{
	struct run r;

	(void)state;
	r = run("EHLO client\n"
	    "MAIL FROM:<app@example.com>\n"
	    "RCPT TO:<a@example.net>\r\n"
	    "RCPT TO:<root>\n"
	    "DATA\n"
	    "Subject: hi\n"
	    "\n"
	    "..leading dot\r\n"
	    ".\n"
	    "QUIT\n"
	    "NOOP\n");
	assert_string_equal(r.out,
	    "220 mx.example.org ESMTP Ostia\r\n"
	    "250-mx.example.org\r\n"
	    "250-PIPELINING\r\n"
	    "250-SIZE 200\r\n"
	    "250-8BITMIME\r\n"
	    "250-ENHANCEDSTATUSCODES\r\n"
	    "250 DSN\r\n"
	    "250 2.1.0 Ok\r\n"
	    "250 2.1.5 Ok\r\n"
	    "250 2.1.5 Ok\r\n"
	    "354 End data with <CR><LF>.<CR><LF>\r\n"
	    "250 2.0.0 Ok: queued as 1\r\n"
	    "221 2.0.0 Bye\r\n");
	/* Bare names get @myorigin; CRLF lines; one dot removed. */
	assert_string_equal(r.msgs, "from=<app@example.com> "
	    "to=<a@example.net> to=<root@example.org> "
	    "[Subject: hi\r\n\r\n.leading dot\r\n]\n");
	/* QUIT ends it: NOOP after it is not read. */
	assert_true(r.done);
	run_free(&r);
}

static void
test_two_messages_and_rset(void **state)
{
	struct run r;

	(void)state;
	r = run("HELO c\n"
	    "MAIL FROM:<>\nRCPT TO:<x@y.example>\nDATA\nbody one\n.\n"
	    "MAIL FROM:<s@example.com>\nRCPT TO:<z@y.example>\nRSET\n"
	    "MAIL FROM:<t@example.com>\nRCPT TO:<w@y.example>\nDATA\n"
	    "two\n.\nQUIT\n");
	assert_string_equal(r.msgs,
	    "from=<> to=<x@y.example> [body one\r\n]\n"
	    "from=<t@example.com> to=<w@y.example> [two\r\n]\n");
	assert_non_null(strstr(r.out, "250 mx.example.org\r\n"));
	assert_non_null(strstr(r.out, "queued as 2\r\n221 2.0.0 Bye\r\n"));
	run_free(&r);
}

static void
test_dsn(void **state)
{
	struct run r;

	(void)state;
	r = run("EHLO c\n"
	    "MAIL FROM:<s@example.com> RET=HDRS ENVID=abc+2B1\n"
	    "RCPT TO:<a@example.net> NOTIFY=SUCCESS,FAILURE "
	    "ORCPT=rfc822;a+40example.net\n"
	    "RCPT TO:<b@example.net> NOTIFY=NEVER\n"
	    "DATA\nx\n.\n");
	assert_string_equal(r.msgs, "from=<s@example.com> "
	    "to=<a@example.net> notify=SUCCESS,FAILURE "
	    "orcpt=rfc822;a@example.net to=<b@example.net> notify=NEVER "
	    "ret=HDRS envid=abc+1 [x\r\n]\n");
	run_free(&r);
}

static void
test_forced_sender(void **state)
{
	struct smtp_bs_params p = params();
	struct run r;

	(void)state;
	p.forced_sender = "www-data@example.org";
	r = run_p(&p, NULL, "MAIL FROM:<app@example.com>\n"
	    "RCPT TO:<a@example.net>\nDATA\nx\n.\n"
	    "MAIL FROM:<WWW-DATA@example.org>\nRSET\n");
	assert_non_null(strstr(r.out, "250 2.1.0 Ok; the sender will be "
	    "<www-data@example.org>: only root and mail_owner may choose "
	    "it\r\n"));
	/* The same address, asked for: a plain Ok. */
	assert_non_null(strstr(r.out, "\r\n250 2.1.0 Ok\r\n250 2.0.0 Ok\r\n"));
	assert_string_equal(r.msgs, "from=<www-data@example.org> "
	    "to=<a@example.net> [x\r\n]\n");
	run_free(&r);
}

static void
test_order_errors(void **state)
{
	struct run r;

	(void)state;
	r = run("RCPT TO:<a@b.example>\nDATA\n"
	    "MAIL FROM:<s@example.com>\nDATA\nMAIL FROM:<t@example.com>\n"
	    "DATA extra\nQUIT\n");
	assert_string_equal(r.out,
	    "220 mx.example.org ESMTP Ostia\r\n"
	    "503 5.5.1 Error: need MAIL command\r\n"
	    "503 5.5.1 Error: need MAIL command\r\n"
	    "250 2.1.0 Ok\r\n"
	    "503 5.5.1 Error: need RCPT command\r\n"
	    "503 5.5.1 Error: nested MAIL command\r\n"
	    "501 5.5.4 Syntax: DATA\r\n"
	    "221 2.0.0 Bye\r\n");
	assert_string_equal(r.msgs, "");
	run_free(&r);
}

static void
test_bad_commands(void **state)
{
	char in[4096];
	struct run r;

	(void)state;
	memset(in, 0, sizeof(in));
	cat(in, sizeof(in), "NOOP ");
	memset(in + 5, 'x', 2100);
	cat(in, sizeof(in), "\nFOO\nSTARTTLS\nHELO\nVRFY x\nHELP\n"
	    "MAIL FROM:<a b@c>\nBAR\nQUIT\n");
	r = run(in);
	/* The sixth error (error_limit) ends the session. */
	assert_string_equal(r.out,
	    "220 mx.example.org ESMTP Ostia\r\n"
	    "500 5.5.2 Error: line too long\r\n"
	    "502 5.5.2 Error: command not recognized\r\n"
	    "502 5.5.1 Error: STARTTLS is not available in sendmail -bs\r\n"
	    "501 5.5.4 Syntax: HELO hostname\r\n"
	    "252 2.0.0 Not verified here: an address is checked when mail "
	    "to it is delivered\r\n"
	    "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP VRFY "
	    "HELP QUIT\r\n"
	    "501 5.1.7 Bad sender address syntax: spaces are not allowed in "
	    "an address (outside quotes)\r\n"
	    "502 5.5.2 Error: command not recognized\r\n"
	    "421 4.7.0 mx.example.org Error: too many errors\r\n");
	assert_true(r.done);
	run_free(&r);
}

static void
test_limits(void **state)
{
	char in[4096];
	struct run r;

	(void)state;
	/* SIZE over the limit at MAIL; too many recipients. */
	r = run("MAIL FROM:<s@example.com> SIZE=201\n"
	    "MAIL FROM:<s@example.com> SIZE=200\n"
	    "RCPT TO:<a@x.example>\nRCPT TO:<b@x.example>\n"
	    "RCPT TO:<c@x.example>\nRCPT TO:<d@x.example>\nRSET\nQUIT\n");
	assert_non_null(strstr(r.out, "552 5.3.4 Message size exceeds the "
	    "limit of 200 bytes\r\n250 2.1.0 Ok\r\n"));
	assert_non_null(strstr(r.out, "250 2.1.5 Ok\r\n452 4.5.3 Error: too "
	    "many recipients\r\n250 2.0.0 Ok\r\n"));
	run_free(&r);

	/* Text over the limit: 552 once "." ends it, nothing queued, the
	 * session goes on. */
	memset(in, 0, sizeof(in));
	cat(in, sizeof(in), "MAIL FROM:<s@example.com>\nRCPT TO:<a@x.example>\n"
	    "DATA\n");
	memset(in + strlen(in), 'y', 300);
	cat(in, sizeof(in), "\n.\nNOOP\n");
	r = run(in);
	assert_non_null(strstr(r.out, "354 End data with <CR><LF>.<CR><LF>\r\n"
	    "552 5.3.4 Message size exceeds the limit of 200 bytes\r\n"
	    "250 2.0.0 Ok\r\n"));
	assert_string_equal(r.msgs, "");
	run_free(&r);

	/* Many short lines over the limit, with a dot line among them
	 * that does not stand alone. */
	memset(in, 0, sizeof(in));
	cat(in, sizeof(in), "MAIL FROM:<s@example.com>\nRCPT TO:<a@x.example>\n"
	    "DATA\n");
	for (int i = 0; i < 40; i++)
		cat(in, sizeof(in), "line .\n");
	cat(in, sizeof(in), ".\nQUIT\n");
	r = run(in);
	assert_non_null(strstr(r.out, "552 5.3.4"));
	assert_string_equal(r.msgs, "");
	run_free(&r);
}

static void
test_submit_refusal(void **state)
{
	struct smtp_bs_params p = params();
	struct run r;

	(void)state;
	r = run_p(&p, "451 4.3.0 the maildrop is full",
	    "MAIL FROM:<s@example.com>\nRCPT TO:<a@x.example>\nDATA\nz\n.\n"
	    "QUIT\n");
	assert_non_null(strstr(r.out, "\r\n451 4.3.0 the maildrop is "
	    "full\r\n221 2.0.0 Bye\r\n"));
	run_free(&r);
}

static void
test_eof_in_data(void **state)
{
	struct run r;

	(void)state;
	/* No "." : the message is dropped, nothing queued. */
	r = run("MAIL FROM:<s@example.com>\nRCPT TO:<a@x.example>\nDATA\n"
	    "text\n");
	assert_string_equal(r.msgs, "");
	assert_false(r.done);
	run_free(&r);
	/* A last command without its LF still counts. */
	r = run("NOOP\nQUIT");
	assert_string_equal(r.out, "220 mx.example.org ESMTP Ostia\r\n"
	    "250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n");
	run_free(&r);
}

static void
test_refused(void **state)
{
	struct smtp_bs_params p = params();
	struct run r;

	(void)state;
	p.refuse_text = "bob may not submit mail";
	r = run_p(&p, NULL, "EHLO x\nNOOP\nMAIL FROM:<a@b.example>\nQUIT\n");
	assert_string_equal(r.out,
	    "554 5.7.1 bob may not submit mail\r\n"
	    "554 5.7.1 bob may not submit mail\r\n"
	    "250 2.0.0 Ok\r\n"
	    "554 5.7.1 bob may not submit mail\r\n"
	    "221 2.0.0 Bye\r\n");
	assert_string_equal(r.msgs, "");
	run_free(&r);
}

static void
test_arguments(void **state)
{
	struct run r;

	(void)state;
	r = run("MAIL FROM:<s@example.com> FOO=BAR\n"
	    "MAIL FROM:<s@exa mple.com>\n"
	    "MAIL FROM:<\"quoted\">\n"
	    "QUIT\n");
	assert_non_null(strstr(r.out, "\r\n555 5.5.4 "));
	assert_non_null(strstr(r.out, "\r\n501 5.1.7 "));
	/* A quoted local part without a domain is not completed. */
	assert_non_null(strstr(r.out, "221 2.0.0 Bye\r\n"));
	assert_null(strstr(r.out, "250 2.1.0"));
	run_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_session),
		cmocka_unit_test(test_two_messages_and_rset),
		cmocka_unit_test(test_dsn),
		cmocka_unit_test(test_forced_sender),
		cmocka_unit_test(test_order_errors),
		cmocka_unit_test(test_bad_commands),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_submit_refusal),
		cmocka_unit_test(test_eof_in_data),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_arguments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
