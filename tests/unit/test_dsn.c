/* SPDX-License-Identifier: MIT */
/*
 * test_dsn - delivery status notifications (src/common/dsn.c): each
 * kind of notice, header fields, the report fields with and without
 * ENVID and ORCPT, RET=FULL and RET=HDRS, bounce_size_limit, line
 * lengths, refused inputs (CR/LF and other bad fields), many
 * recipients, originals without an empty line after the headers,
 * boundary collisions and RFC 6533 (UTF-8) notices.
 *
 * Every notice is also read back by Python's email package
 * (tests/unit/dsn_check.py, run with /usr/bin/python3 through
 * fork/exec): a real MIME parser must see a multipart/report of three
 * parts and the expected report fields, field by field.  Without
 * /usr/bin/python3 the test is skipped, visibly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "dsn.h"
#include "test_support.h"
#include "xalloc.h"

#define PYTHON "/usr/bin/python3"
#define OUT_MAX (64 * 1024 * 1024)

#define QID "0123456789ABCDEF"
#define NOW ((time_t)1700000000)
#define NOW_DATE "Tue, 14 Nov 2023 22:13:20 +0000"
#define ARRIVAL ((time_t)1699990000)
#define ARRIVAL_DATE "Tue, 14 Nov 2023 19:26:40 +0000"
#define ATTEMPT ((time_t)1699999000)
#define ATTEMPT_DATE "Tue, 14 Nov 2023 21:56:40 +0000"
#define UNTIL ((time_t)1700432000)
#define UNTIL_DATE "Sun, 19 Nov 2023 22:13:20 +0000"

static const char original[] =
    "Received: from client.example (client.example [192.0.2.1])\r\n"
    "\tby mx.example.org (Ostia) with ESMTP id 0123456789ABCDEF\r\n"
    "From: Alice <alice@example.com>\r\n"
    "To: bob@example.net\r\n"
    "Subject: hello there\r\n"
    "Message-ID: <m1@example.com>\r\n"
    "\r\n"
    "Hi Bob,\r\n"
    "\r\n"
    "see you.\r\n";
static const char original_headers[] =
    "Received: from client.example (client.example [192.0.2.1])\r\n"
    "\tby mx.example.org (Ostia) with ESMTP id 0123456789ABCDEF\r\n"
    "From: Alice <alice@example.com>\r\n"
    "To: bob@example.net\r\n"
    "Subject: hello there\r\n"
    "Message-ID: <m1@example.com>\r\n";
static const char original_body[] = "Hi Bob,\r\n\r\nsee you.\r\n";

/* ------------------------------------------------------------------ */
/* Helpers */

static void
base_params(struct dsn_params *p, enum dsn_kind kind,
    const struct dsn_rcpt *r, size_t n)
{
	memset(p, 0, sizeof(*p));
	p->kind = kind;
	p->queue_id = QID;
	p->reporting_mta = "mx.example.org";
	p->from_addr = "MAILER-DAEMON@mx.example.org";
	p->mail_name = "Ostia";
	p->sender = "alice@example.com";
	p->ret_full = true;
	p->arrival = ARRIVAL;
	p->now = NOW;
	p->rcpts = r;
	p->nrcpts = n;
	p->content = original;
	p->content_len = strlen(original);
	p->size_limit = 50000;
	p->unique = UINT64_C(0x0123456789abcdef);
}

/* build - dsn_build() that must succeed; the notice, NUL-terminated. */
static char *
build(const struct dsn_params *p, size_t *len_r)
{
	struct buf out;
	const char *error = NULL;
	int r;

	buf_init(&out, OUT_MAX);
	r = dsn_build(p, &out, &error);
	if (r != 0)
		fail_msg("dsn_build failed: %s", error);
	assert_null(error);
	if (len_r != NULL)
		*len_r = out.len;
	return buf_steal(&out);
}

/* refused - dsn_build() must fail with an error containing what, and
 * leave the buffer as it was. */
static void
refused(const struct dsn_params *p, const char *what)
{
	struct buf out;
	const char *error = NULL;

	buf_init(&out, OUT_MAX);
	assert_int_equal(buf_append_str(&out, "before"), 0);
	assert_int_equal(dsn_build(p, &out, &error), -1);
	assert_non_null(error);
	if (strstr(error, what) == NULL)
		fail_msg("error %s, want one with %s", error, what);
	assert_string_equal(buf_cstr(&out), "before");
	buf_deinit(&out);
}

/* expect - append one expectation line: fields separated by tabs, each
 * escaped for dsn_check.py; the list ends with NULL. */
static void
expect(struct buf *b, const char *first, ...)
{
	va_list ap;
	const char *f = first;

	va_start(ap, first);
	for (bool sep = false; f != NULL; f = va_arg(ap, const char *)) {
		if (sep)
			assert_int_equal(buf_append_c(b, '\t'), 0);
		sep = true;
		for (const char *s = f; *s != '\0'; s++) {
			const char *e = NULL;

			switch (*s) {
			case '\\':
				e = "\\\\";
				break;
			case '\t':
				e = "\\t";
				break;
			case '\r':
				e = "\\r";
				break;
			case '\n':
				e = "\\n";
				break;
			default:
				break;
			}
			if (e != NULL)
				assert_int_equal(buf_append_str(b, e), 0);
			else
				assert_int_equal(buf_append_c(b, *s), 0);
		}
	}
	va_end(ap);
	assert_int_equal(buf_append_c(b, '\n'), 0);
}

static char *
write_temp(const char *data, size_t len)
{
	char *path = xstrdup("/tmp/ostia-test-dsn-XXXXXX");
	int fd = mkstemp(path);
	size_t off = 0;

	assert_true(fd >= 0);
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		assert_true(n > 0);
		off += (size_t)n;
	}
	assert_int_equal(close(fd), 0);
	return path;
}

/*
 * python_check - run dsn_check.py on the notice with the expectations
 * in ex (which is released).  Skips the test without /usr/bin/python3.
 */
static void
python_check(const char *notice, size_t len, struct buf *ex)
{
	char *script = test_source_path("tests/unit/dsn_check.py");
	char *npath, *epath;
	int status = 0;
	pid_t pid;

	if (access(PYTHON, X_OK) != 0) {
		free(script);
		buf_deinit(ex);
		print_message("skipped: %s is not there, the notice was not "
		    "read back\n", PYTHON);
		skip();
	}
	npath = write_temp(notice, len);
	epath = write_temp(ex->data != NULL ? ex->data : "", ex->len);
	fflush(stdout);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl(PYTHON, PYTHON, script, npath, epath, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		assert_int_equal(errno, EINTR);
	unlink(npath);
	unlink(epath);
	free(npath);
	free(epath);
	free(script);
	buf_deinit(ex);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("dsn_check.py failed (status 0x%x)", status);
}

/* The notice's header section must hold this exact line. */
static void
has_line(const char *notice, const char *line)
{
	char *l = xasprintf("\r\n%s\r\n", line);

	if (strncmp(notice, line, strlen(line)) != 0 ||
	    notice[strlen(line)] != '\r') {
		if (strstr(notice, l) == NULL)
			fail_msg("no line %s", line);
	}
	free(l);
}

static void
no_text(const char *notice, const char *s)
{
	if (strstr(notice, s) != NULL)
		fail_msg("unexpected %s", s);
}

/* Every line ends in CRLF and is at most 998 octets. */
static void
check_lines(const char *s, size_t len)
{
	size_t start = 0;

	for (size_t i = 0; i < len; i++) {
		if (s[i] != '\n')
			continue;
		assert_true(i > start && s[i - 1] == '\r');
		if (i - 1 - start > DSN_LINE_MAX_BYTES)
			fail_msg("line of %zu octets", i - 1 - start);
		start = i + 1;
	}
	assert_int_equal(start, len);
}

static void
common_headers(struct buf *ex, const char *subject)
{
	expect(ex, "header", "Date", NOW_DATE, NULL);
	expect(ex, "header", "From",
	    "Mail Delivery System <MAILER-DAEMON@mx.example.org>", NULL);
	expect(ex, "header", "To", "<alice@example.com>", NULL);
	expect(ex, "header", "Subject", subject, NULL);
	expect(ex, "header", "Message-ID",
	    "<20231114221320." QID ".0123456789abcdef@mx.example.org>", NULL);
	expect(ex, "header", "Auto-Submitted", "auto-replied", NULL);
	expect(ex, "header", "MIME-Version", "1.0", NULL);
}

/* ------------------------------------------------------------------ */
/* Tests */

static void
test_failure(void **state)
{
	struct dsn_rcpt r[2] = {
		{ .final_rcpt = "bob@example.net",
		  .orcpt = "rfc822;info@example.net",
		  .action = "failed", .status = "5.1.1",
		  .remote_mta = "mx.example.net",
		  .diagnostic = "smtp; 550 5.1.1 <bob@example.net>: no such "
		      "user here",
		  .text = "host mx.example.net said: 550 5.1.1 no such user",
		  .last_attempt = ATTEMPT },
		{ .final_rcpt = "carol@example.org", .action = "failed",
		  .status = "5.2.2", .text = "mailbox full (quota 10240000 "
		      "bytes)" },
	};
	struct dsn_params p;
	struct buf ex;
	size_t len;
	char *n;

	(void)state;
	base_params(&p, DSN_KIND_FAILURE, r, 2);
	p.received_from = "client.example[192.0.2.1]";
	n = build(&p, &len);
	check_lines(n, len);
	has_line(n, "Date: " NOW_DATE);
	has_line(n, "Auto-Submitted: auto-replied");
	has_line(n, "Content-Transfer-Encoding: 7bit");
	has_line(n, "--ostia-0123456789abcdef-" QID "--");
	no_text(n, "Original-Envelope-Id");
	no_text(n, "Will-Retry-Until");

	buf_init(&ex, OUT_MAX);
	common_headers(&ex, "Undelivered Mail Returned to Sender");
	expect(&ex, "header", "Content-Type", "multipart/report; "
	    "report-type=delivery-status;\tboundary=\"ostia-0123456789abcdef-"
	    QID "\"", NULL);
	expect(&ex, "report-type", "delivery-status", NULL);
	expect(&ex, "parts",
	    "text/plain message/delivery-status message/rfc822", NULL);
	expect(&ex, "charset", "us-ascii", NULL);
	expect(&ex, "cte-top", "7bit", NULL);
	expect(&ex, "permsg", "Reporting-MTA", "dns; mx.example.org", NULL);
	expect(&ex, "permsg", "Received-From-MTA",
	    "dns; client.example[192.0.2.1]", NULL);
	expect(&ex, "permsg", "Arrival-Date", ARRIVAL_DATE, NULL);
	expect(&ex, "permsg", "X-Ostia-Queue-ID", QID, NULL);
	expect(&ex, "permsg", "X-Ostia-Sender", "rfc822; alice@example.com",
	    NULL);
	expect(&ex, "permsg-absent", "Original-Envelope-Id", NULL);
	expect(&ex, "nrcpts", "2", NULL);
	expect(&ex, "rcpt", "0", "Original-Recipient",
	    "rfc822; info@example.net", NULL);
	expect(&ex, "rcpt", "0", "Final-Recipient", "rfc822; bob@example.net",
	    NULL);
	expect(&ex, "rcpt", "0", "Action", "failed", NULL);
	expect(&ex, "rcpt", "0", "Status", "5.1.1", NULL);
	expect(&ex, "rcpt", "0", "Remote-MTA", "dns; mx.example.net", NULL);
	expect(&ex, "rcpt", "0", "Diagnostic-Code",
	    "smtp; 550 5.1.1 <bob@example.net>: no such user here", NULL);
	expect(&ex, "rcpt", "0", "Last-Attempt-Date", ATTEMPT_DATE, NULL);
	expect(&ex, "rcpt-absent", "0", "Will-Retry-Until", NULL);
	expect(&ex, "rcpt-absent", "1", "Original-Recipient", NULL);
	expect(&ex, "rcpt", "1", "Final-Recipient",
	    "rfc822; carol@example.org", NULL);
	expect(&ex, "rcpt", "1", "Action", "failed", NULL);
	expect(&ex, "rcpt", "1", "Status", "5.2.2", NULL);
	expect(&ex, "rcpt-absent", "1", "Remote-MTA", NULL);
	expect(&ex, "rcpt-absent", "1", "Last-Attempt-Date", NULL);
	expect(&ex, "rcpt", "1", "Diagnostic-Code",
	    "X-Ostia; mailbox full (quota 10240000 bytes)", NULL);
	expect(&ex, "orig-header", "Subject", "hello there", NULL);
	expect(&ex, "orig-header", "Received", "from client.example "
	    "(client.example [192.0.2.1])\tby mx.example.org (Ostia) with "
	    "ESMTP id 0123456789ABCDEF", NULL);
	expect(&ex, "orig-body", original_body, NULL);
	expect(&ex, "text", "This is the Ostia mail system at "
	    "mx.example.org.", NULL);
	expect(&ex, "text", "could not be delivered to the recipients "
	    "listed below", NULL);
	expect(&ex, "text", "will not try again", NULL);
	expect(&ex, "text", "<bob@example.net>: could not be delivered",
	    NULL);
	expect(&ex, "text", "You sent it to <info@example.net>.", NULL);
	expect(&ex, "text", "Reason: host mx.example.net said: 550 5.1.1 "
	    "no such user", NULL);
	expect(&ex, "text", "The mail server mx.example.net replied: 550 "
	    "5.1.1 <bob@example.net>: no such user here", NULL);
	expect(&ex, "text", "<carol@example.org>: could not be delivered "
	    "Reason: mailbox full (quota 10240000 bytes)", NULL);
	expect(&ex, "text", "The message arrived here on " ARRIVAL_DATE,
	    NULL);
	expect(&ex, "text", "Your message is attached below.", NULL);
	expect(&ex, "text", "contact the postmaster", NULL);
	expect(&ex, "no-text", "headers of your message", NULL);
	python_check(n, len, &ex);
	free(n);
}

static void
test_delay(void **state)
{
	struct dsn_rcpt r[1] = {
		{ .final_rcpt = "bob@example.net", .action = "delayed",
		  .status = "4.4.1", .remote_mta = "mx.example.net",
		  .text = "cannot connect to mx.example.net: Connection "
		      "refused",
		  .last_attempt = ATTEMPT },
	};
	struct dsn_params p;
	struct buf ex;
	size_t len;
	char *n;

	(void)state;
	base_params(&p, DSN_KIND_DELAY, r, 1);
	p.retry_until = UNTIL;
	n = build(&p, &len);
	check_lines(n, len);

	buf_init(&ex, OUT_MAX);
	common_headers(&ex, "Delayed Mail (still being retried)");
	expect(&ex, "parts",
	    "text/plain message/delivery-status text/rfc822-headers", NULL);
	expect(&ex, "nrcpts", "1", NULL);
	expect(&ex, "rcpt", "0", "Action", "delayed", NULL);
	expect(&ex, "rcpt", "0", "Status", "4.4.1", NULL);
	expect(&ex, "rcpt", "0", "Will-Retry-Until", UNTIL_DATE, NULL);
	expect(&ex, "rcpt", "0", "Last-Attempt-Date", ATTEMPT_DATE, NULL);
	expect(&ex, "rcpt", "0", "Diagnostic-Code", "X-Ostia; cannot "
	    "connect to mx.example.net: Connection refused", NULL);
	/* RET=FULL asks for the message in failure notices only. */
	expect(&ex, "orig-headers", original_headers, NULL);
	expect(&ex, "text", "This is only a warning", NULL);
	expect(&ex, "text", "you do not need to send your message again",
	    NULL);
	expect(&ex, "text", "will keep trying until " UNTIL_DATE, NULL);
	expect(&ex, "text", "<bob@example.net>: not delivered yet, still "
	    "trying", NULL);
	expect(&ex, "text", "The headers of your message are attached",
	    NULL);
	expect(&ex, "no-text", "too large", NULL);
	python_check(n, len, &ex);
	free(n);

	/* Without a retry time: said plainly, no Will-Retry-Until. */
	p.retry_until = 0;
	n = build(&p, &len);
	buf_init(&ex, OUT_MAX);
	expect(&ex, "rcpt-absent", "0", "Will-Retry-Until", NULL);
	expect(&ex, "text", "will keep trying for some time", NULL);
	python_check(n, len, &ex);
	free(n);
}

static void
test_success(void **state)
{
	struct dsn_rcpt r[3] = {
		{ .final_rcpt = "bob@example.net", .action = "delivered",
		  .status = "2.0.0", .remote_mta = "lmtp.example.net",
		  .diagnostic = "lmtp; 250 2.0.0 <bob@example.net> Saved",
		  .text = "delivered via dovecot" },
		{ .final_rcpt = "list@example.net", .action = "expanded",
		  .status = "2.0.0", .text = "alias expanded" },
		{ .final_rcpt = "dave@example.com", .action = "relayed",
		  .status = "2.0.0" },
	};
	struct dsn_params p;
	struct buf ex;
	size_t len;
	char *n;

	(void)state;
	base_params(&p, DSN_KIND_SUCCESS, r, 3);
	p.arrival = 0;
	n = build(&p, &len);
	check_lines(n, len);
	no_text(n, "Arrival-Date");

	buf_init(&ex, OUT_MAX);
	common_headers(&ex, "Successful Mail Delivery Report");
	expect(&ex, "parts",
	    "text/plain message/delivery-status text/rfc822-headers", NULL);
	expect(&ex, "permsg-absent", "Arrival-Date", NULL);
	expect(&ex, "permsg-absent", "Received-From-MTA", NULL);
	expect(&ex, "nrcpts", "3", NULL);
	expect(&ex, "rcpt", "0", "Action", "delivered", NULL);
	expect(&ex, "rcpt", "0", "Remote-MTA", "dns; lmtp.example.net", NULL);
	expect(&ex, "rcpt", "0", "Diagnostic-Code",
	    "lmtp; 250 2.0.0 <bob@example.net> Saved", NULL);
	expect(&ex, "rcpt", "1", "Action", "expanded", NULL);
	expect(&ex, "rcpt", "2", "Action", "relayed", NULL);
	expect(&ex, "rcpt-absent", "2", "Diagnostic-Code", NULL);
	expect(&ex, "orig-headers", original_headers, NULL);
	expect(&ex, "text", "Your message was delivered to the recipients "
	    "listed below", NULL);
	expect(&ex, "text", "<bob@example.net>: delivered", NULL);
	expect(&ex, "text", "<list@example.net>: delivered to a list or "
	    "alias", NULL);
	expect(&ex, "text", "<dave@example.com>: passed on to a mail system "
	    "that sends no delivery notices", NULL);
	expect(&ex, "no-text", "postmaster", NULL);
	expect(&ex, "no-text", "arrived here", NULL);
	python_check(n, len, &ex);
	free(n);
}

static void
test_envid_orcpt(void **state)
{
	struct dsn_rcpt r[2] = {
		{ .final_rcpt = "bob@example.net",
		  .orcpt = " RFC822 ; bob+tag@example.net",
		  .action = "failed", .status = "5.0.0" },
		{ .final_rcpt = "x@example.net", .orcpt = "x-unknown;opaque",
		  .action = "failed", .status = "5.0.0" },
	};
	struct dsn_params p;
	struct buf ex;
	size_t len;
	char *n;

	(void)state;
	base_params(&p, DSN_KIND_FAILURE, r, 2);
	/* Decoded ENVID: any bytes, xtext-encoded again on output. */
	p.envid = "id+1=2 \x01\r\n\xc3\xa9";
	n = build(&p, &len);
	check_lines(n, len);
	buf_init(&ex, OUT_MAX);
	expect(&ex, "permsg", "Original-Envelope-Id",
	    "id+2B1+3D2+20+01+0D+0A+C3+A9", NULL);
	expect(&ex, "rcpt", "0", "Original-Recipient",
	    "RFC822; bob+tag@example.net", NULL);
	expect(&ex, "rcpt", "1", "Original-Recipient", "x-unknown; opaque",
	    NULL);
	expect(&ex, "rcpt-absent", "0", "Diagnostic-Code", NULL);
	expect(&ex, "text", "You sent it to <bob+tag@example.net>.", NULL);
	/* An unknown address type is not shown as an address. */
	expect(&ex, "no-text", "<opaque>", NULL);
	python_check(n, len, &ex);
	free(n);
}

static void
test_ret_hdrs(void **state)
{
	struct dsn_rcpt r[1] = {
		{ .final_rcpt = "bob@example.net", .action = "failed",
		  .status = "5.1.1", .text = "user unknown" },
	};
	struct dsn_params p;
	struct buf ex;
	size_t len;
	char *n;

	(void)state;
	base_params(&p, DSN_KIND_FAILURE, r, 1);
	p.ret_full = false;
	n = build(&p, &len);
	check_lines(n, len);
	has_line(n, "Content-Description: Undelivered Message Headers");
	no_text(n, "Hi Bob");
	buf_init(&ex, OUT_MAX);
	expect(&ex, "parts",
	    "text/plain message/delivery-status text/rfc822-headers", NULL);
	expect(&ex, "orig-headers", original_headers, NULL);
	expect(&ex, "text", "The headers of your message are attached",
	    NULL);
	expect(&ex, "no-text", "too large", NULL);
	expect(&ex, "no-text", "more than the limit", NULL);
	python_check(n, len, &ex);
	free(n);
}

/* A postmaster copy (notify_classes bounce / delay): its own Subject,
 * prose about the sender, X-Ostia-Sender naming the sender, the
 * headers only even with RET=FULL; a bad copy_of_sender is refused. */
static void
test_postmaster_copy(void **state)
{
	struct dsn_rcpt r[1] = {
		{ .final_rcpt = "bob@example.net", .action = "failed",
		  .status = "5.1.1", .text = "user unknown" },
	};
	struct dsn_params p;
	struct buf ex;
	size_t len;
	char *n;

	(void)state;
	base_params(&p, DSN_KIND_FAILURE, r, 1);
	p.sender = "postmaster@mx.example.org";
	p.copy_of_sender = "alice@example.com";
	n = build(&p, &len);
	check_lines(n, len);
	has_line(n, "Subject: Postmaster Copy: Undelivered Mail");
	has_line(n, "To: <postmaster@mx.example.org>");
	no_text(n, "Hi Bob");
	no_text(n, "your message");
	buf_init(&ex, OUT_MAX);
	expect(&ex, "parts",
	    "text/plain message/delivery-status text/rfc822-headers", NULL);
	expect(&ex, "orig-headers", original_headers, NULL);
	expect(&ex, "permsg", "X-Ostia-Sender", "rfc822; alice@example.com",
	    NULL);
	expect(&ex, "text", "This is a copy for the postmaster", NULL);
	expect(&ex, "text", "a message from <alice@example.com> could not be "
	    "delivered to the recipients listed below", NULL);
	expect(&ex, "text", "The headers of the message are attached", NULL);
	expect(&ex, "no-text", "If you need help", NULL);
	python_check(n, len, &ex);
	free(n);

	p.kind = DSN_KIND_DELAY;
	r[0].action = "delayed";
	r[0].status = "4.4.1";
	n = build(&p, &len);
	has_line(n, "Subject: Postmaster Warning: Delayed Mail");
	no_text(n, "Hi Bob");
	free(n);

	p.copy_of_sender = "";
	refused(&p, "copy_of_sender");
	p.copy_of_sender = "<alice@example.com>";
	refused(&p, "copy_of_sender");
	p.copy_of_sender = "alice\r\n@example.com";
	refused(&p, "copy_of_sender");
}

static void
test_size_limit(void **state)
{
	struct dsn_rcpt r[1] = {
		{ .final_rcpt = "bob@example.net", .action = "failed",
		  .status = "5.1.1" },
	};
	struct dsn_params p;
	struct buf ex;
	size_t len;
	char *n, *s;

	(void)state;
	base_params(&p, DSN_KIND_FAILURE, r, 1);

	/* Exactly at the limit: whole. */
	p.size_limit = p.content_len;
	n = build(&p, &len);
	buf_init(&ex, OUT_MAX);
	expect(&ex, "parts",
	    "text/plain message/delivery-status message/rfc822", NULL);
	expect(&ex, "orig-body", original_body, NULL);
	python_check(n, len, &ex);
	free(n);

	/* One byte over: headers only, and the prose says why. */
	p.size_limit = p.content_len - 1;
	n = build(&p, &len);
	no_text(n, "Hi Bob");
	buf_init(&ex, OUT_MAX);
	expect(&ex, "parts",
	    "text/plain message/delivery-status text/rfc822-headers", NULL);
	expect(&ex, "orig-headers", original_headers, NULL);
	s = xasprintf("The whole message is %zu bytes, more than the limit "
	    "of %zu bytes for returned mail, so only its headers are "
	    "attached.", p.content_len, p.content_len - 1);
	expect(&ex, "text", s, NULL);
	free(s);
	expect(&ex, "no-text", "too many", NULL);
	python_check(n, len, &ex);
	free(n);

	/* 0: no limit. */
	p.size_limit = 0;
	n = build(&p, &len);
	buf_init(&ex, OUT_MAX);
	expect(&ex, "orig-body", original_body, NULL);
	python_check(n, len, &ex);
	free(n);

	/* Headers over the limit: whole fields only (a folded one is not
	 * split), and the prose says so. */
	p.size_limit = 100;	/* inside the folded Received: */
	n = build(&p, &len);
	buf_init(&ex, OUT_MAX);
	expect(&ex, "parts",
	    "text/plain message/delivery-status text/rfc822-headers", NULL);
	expect(&ex, "orig-headers", "", NULL);
	expect(&ex, "text", "only the first ones are included", NULL);
	python_check(n, len, &ex);
	free(n);

	p.size_limit = 170;	/* Received + From fit, To does not */
	n = build(&p, &len);
	buf_init(&ex, OUT_MAX);
	expect(&ex, "orig-headers",
	    "Received: from client.example (client.example [192.0.2.1])\r\n"
	    "\tby mx.example.org (Ostia) with ESMTP id 0123456789ABCDEF\r\n"
	    "From: Alice <alice@example.com>\r\n", NULL);
	expect(&ex, "text", "only the first ones are included", NULL);
	python_check(n, len, &ex);
	free(n);
}

static void
test_long_lines(void **state)
{
	struct dsn_rcpt r[1] = {
		{ .final_rcpt = "bob@example.net", .action = "failed",
		  .status = "5.0.0" },
	};
	struct dsn_params p;
	struct buf ex, content, words, diag, body, want_body;
	size_t len;
	char *n, *s;

	(void)state;
	buf_init(&words, OUT_MAX);
	for (int i = 0; i < 250; i++)
		assert_int_equal(buf_appendf(&words, "%sword%d",
		    i > 0 ? " " : "", i), 0);
	buf_init(&diag, OUT_MAX);
	assert_int_equal(buf_append_str(&diag, "smtp; 550 "), 0);
	for (int i = 0; i < 1500; i++)
		assert_int_equal(buf_append_c(&diag, 'x'), 0);
	r[0].text = buf_cstr(&words);
	r[0].diagnostic = buf_cstr(&diag);

	/* An original with a 3000-byte header (with spaces) and a
	 * 2500-byte body line (without). */
	buf_init(&content, OUT_MAX);
	assert_int_equal(buf_append_str(&content, "Subject: long "), 0);
	assert_int_equal(buf_append_str(&content, buf_cstr(&words)), 0);
	assert_int_equal(buf_append_str(&content, "\r\n\r\n"), 0);
	buf_init(&body, OUT_MAX);
	for (int i = 0; i < 2500; i++)
		assert_int_equal(buf_append_c(&body, (char)('a' + i % 26)), 0);
	assert_int_equal(buf_append(&content, body.data, body.len), 0);
	assert_int_equal(buf_append_str(&content, "\r\nend\r\n"), 0);

	base_params(&p, DSN_KIND_FAILURE, r, 1);
	p.content = content.data;
	p.content_len = content.len;
	n = build(&p, &len);
	check_lines(n, len);

	/* Body lines are broken at 998 octets with plain line breaks. */
	buf_init(&want_body, OUT_MAX);
	assert_int_equal(buf_append(&want_body, body.data, 998), 0);
	assert_int_equal(buf_append_str(&want_body, "\r\n"), 0);
	assert_int_equal(buf_append(&want_body, body.data + 998, 998), 0);
	assert_int_equal(buf_append_str(&want_body, "\r\n"), 0);
	assert_int_equal(buf_append(&want_body, body.data + 1996, 504), 0);
	assert_int_equal(buf_append_str(&want_body, "\r\nend\r\n"), 0);

	buf_init(&ex, OUT_MAX);
	/* Folded at white space: the unfolded value is unchanged. */
	s = xasprintf("long %s", buf_cstr(&words));
	expect(&ex, "orig-header", "Subject", s, NULL);
	free(s);
	expect(&ex, "orig-body", buf_cstr(&want_body), NULL);
	/* A word without spaces longer than a line gets an inserted fold
	 * (one space more when unfolded). */
	s = xasprintf("smtp; 550 %.*s %s", 997, diag.data + 10,
	    diag.data + 10 + 997);
	expect(&ex, "rcpt", "0", "Diagnostic-Code", s, NULL);
	free(s);
	expect(&ex, "text", buf_cstr(&words), NULL);
	python_check(n, len, &ex);
	free(n);

	/* Free text over DSN_TEXT_MAX_BYTES is cut and marked. */
	buf_reset(&words);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(buf_append_str(&words, "ab "), 0);
	r[0].text = buf_cstr(&words);
	r[0].diagnostic = NULL;
	n = build(&p, &len);
	check_lines(n, len);
	s = strstr(n, "Diagnostic-Code: X-Ostia; ab ab");
	assert_non_null(s);
	assert_non_null(strstr(s, " ab...\r\n"));
	free(n);

	buf_deinit(&words);
	buf_deinit(&diag);
	buf_deinit(&content);
	buf_deinit(&body);
	buf_deinit(&want_body);
}

static void
test_refused(void **state)
{
	struct dsn_rcpt r[1], good = {
		.final_rcpt = "bob@example.net", .action = "failed",
		.status = "5.1.1", .text = "user unknown",
		.diagnostic = "smtp; 550 no", .remote_mta = "mx.example.net",
		.orcpt = "rfc822;bob@example.net",
	};
	struct dsn_params p;
	static const char *const bad_status[] = {
		"", "5", "5.1", "5.1.", "3.1.1", "5.1111.1", "5.1.1 ", "5..1",
		"5.1.1.1", "x.1.1",
	};
	char *n;

	(void)state;
	r[0] = good;
	base_params(&p, DSN_KIND_FAILURE, r, 1);

	/* CR or LF in any string field. */
#define TRY_FIELD(field, value, what) do {		\
		const char *saved = field;		\
		field = value;				\
		refused(&p, what);			\
		field = saved;				\
	} while (0)
	TRY_FIELD(p.sender, "alice@example.com\r\nBcc: x@y", "the sender");
	TRY_FIELD(p.sender, "alice\n@example.com", "the sender");
	TRY_FIELD(p.from_addr, "MAILER-DAEMON@x\r", "from_addr");
	TRY_FIELD(p.mail_name, "Ostia\n", "mail_name");
	TRY_FIELD(p.reporting_mta, "mx\r\n.example.org", "reporting_mta");
	TRY_FIELD(p.received_from, "a[1.2.3.4]\n", "received_from");
	TRY_FIELD(r[0].final_rcpt, "bob@example.net\r\n", "address");
	TRY_FIELD(r[0].orcpt, "rfc822;bob@example.net\n", "orcpt");
	TRY_FIELD(r[0].action, "failed\r", "action");
	TRY_FIELD(r[0].status, "5.1.1\n", "status");
	TRY_FIELD(r[0].remote_mta, "mx\n", "remote_mta");
	TRY_FIELD(r[0].diagnostic, "smtp; 550 a\r\n550 b", "diagnostic");
	TRY_FIELD(r[0].text, "line one\nline two", "text");
	/* Other control characters in structured fields. */
	TRY_FIELD(r[0].final_rcpt, "bob\x01@example.net", "control");
	TRY_FIELD(p.sender, "a\tb@example.com", "control");
	/* Other bad fields. */
	TRY_FIELD(p.sender, "", "the sender is missing");
	TRY_FIELD(p.sender, NULL, "the sender is missing");
	TRY_FIELD(p.sender, "<alice@example.com>", "'<' or '>'");
	TRY_FIELD(r[0].final_rcpt, "", "address is missing");
	TRY_FIELD(r[0].action, "bounced", "not one of");
	TRY_FIELD(r[0].orcpt, "bob@example.net", "type;address");
	TRY_FIELD(r[0].orcpt, ";bob@example.net", "type;address");
	TRY_FIELD(r[0].orcpt, "rfc822;", "type;address");
	TRY_FIELD(p.queue_id, "short", "queue ID");
	TRY_FIELD(p.queue_id, NULL, "queue ID");
	TRY_FIELD(p.reporting_mta, "mx example", "host name");
	TRY_FIELD(p.message_id_domain, "a>b", "host name");
	TRY_FIELD(p.from_addr, "d\xc3\xa9mon@x", "ASCII");
	for (size_t i = 0; i < N_ELEMENTS(bad_status); i++)
		TRY_FIELD(r[0].status, bad_status[i], "status");
#undef TRY_FIELD
	{
		char *big = xmalloc(DSN_FIELD_MAX_BYTES + 2);

		memset(big, 'a', DSN_FIELD_MAX_BYTES + 1);
		big[DSN_FIELD_MAX_BYTES + 1] = '\0';
		r[0].final_rcpt = big;
		refused(&p, "too long");
		r[0].final_rcpt = good.final_rcpt;
		free(big);
	}
	p.nrcpts = 0;
	refused(&p, "no recipients");
	p.nrcpts = 1;
	p.rcpts = NULL;
	refused(&p, "no recipients");
	p.rcpts = r;
	p.kind = (enum dsn_kind)7;
	refused(&p, "kind");
	p.kind = DSN_KIND_FAILURE;

	/* Tabs and other control characters in free text are tolerated
	 * (made spaces); the status 2.x, 4.x, 5.x with 1-3 digit parts. */
	r[0].text = "a\tb\x01" "c";
	r[0].status = "4.123.999";
	n = build(&p, NULL);
	assert_non_null(strstr(n, "Reason: a b c\r\n"));
	assert_non_null(strstr(n, "Status: 4.123.999\r\n"));
	free(n);

	/* Too big for the output buffer: -1, buffer unchanged. */
	{
		struct buf small;
		const char *error = NULL;

		buf_init(&small, 1000);
		assert_int_equal(buf_append_str(&small, "x"), 0);
		assert_int_equal(dsn_build(&p, &small, &error), -1);
		assert_non_null(strstr(error, "larger than"));
		assert_string_equal(buf_cstr(&small), "x");
		buf_deinit(&small);
	}
}

static void
test_many_recipients(void **state)
{
	enum { N = 20000 };
	struct dsn_rcpt *r = xcalloc(N, sizeof(*r));
	char **addr = xcalloc(N, sizeof(*addr));
	struct dsn_params p;
	struct buf ex;
	size_t len;
	char *n, num[32];

	(void)state;
	for (size_t i = 0; i < N; i++) {
		addr[i] = xasprintf("user%zu@example.net", i);
		r[i].final_rcpt = addr[i];
		r[i].action = "failed";
		r[i].status = "5.1.1";
		r[i].text = "user unknown";
	}
	base_params(&p, DSN_KIND_FAILURE, r, N);
	n = build(&p, &len);
	check_lines(n, len);
	buf_init(&ex, OUT_MAX);
	snprintf(num, sizeof(num), "%d", N);
	expect(&ex, "nrcpts", num, NULL);
	expect(&ex, "rcpt", "0", "Final-Recipient",
	    "rfc822; user0@example.net", NULL);
	expect(&ex, "rcpt", "19999", "Final-Recipient",
	    "rfc822; user19999@example.net", NULL);
	expect(&ex, "text", "<user19999@example.net>: could not be delivered",
	    NULL);
	python_check(n, len, &ex);
	free(n);
	for (size_t i = 0; i < N; i++)
		free(addr[i]);
	free(addr);
	free(r);
}

static void
test_no_separator(void **state)
{
	struct dsn_rcpt r[1] = {
		{ .final_rcpt = "bob@example.net", .action = "failed",
		  .status = "5.1.1" },
	};
	struct dsn_params p;
	struct buf ex;
	size_t len;
	char *n;

	(void)state;
	base_params(&p, DSN_KIND_FAILURE, r, 1);

	/* Headers only, no empty line, no body. */
	p.content = "Subject: x\r\nFrom: a@b\r\n";
	p.content_len = strlen(p.content);
	n = build(&p, &len);
	check_lines(n, len);
	buf_init(&ex, OUT_MAX);
	expect(&ex, "orig-header", "Subject", "x", NULL);
	expect(&ex, "orig-header", "From", "a@b", NULL);
	expect(&ex, "orig-body", "", NULL);
	python_check(n, len, &ex);
	free(n);

	/* A body line right after the headers: the empty line is added. */
	p.content = "Subject: x\r\nthis is the body\r\nmore: body\r\n";
	p.content_len = strlen(p.content);
	n = build(&p, &len);
	buf_init(&ex, OUT_MAX);
	expect(&ex, "orig-header", "Subject", "x", NULL);
	expect(&ex, "orig-body", "this is the body\r\nmore: body\r\n", NULL);
	python_check(n, len, &ex);
	free(n);
	p.ret_full = false;
	n = build(&p, &len);
	buf_init(&ex, OUT_MAX);
	expect(&ex, "orig-headers", "Subject: x\r\n", NULL);
	python_check(n, len, &ex);
	free(n);
	p.ret_full = true;

	/* LF line ends and no final line end: CRLF out. */
	p.content = "Subject: y\n\tfolded\n\nbody\nlast";
	p.content_len = strlen(p.content);
	n = build(&p, &len);
	check_lines(n, len);
	buf_init(&ex, OUT_MAX);
	expect(&ex, "orig-header", "Subject", "y\tfolded", NULL);
	expect(&ex, "orig-body", "body\r\nlast\r\n", NULL);
	python_check(n, len, &ex);
	free(n);

	/* Empty original; one with an empty header section. */
	p.content = NULL;
	p.content_len = 0;
	n = build(&p, &len);
	check_lines(n, len);
	buf_init(&ex, OUT_MAX);
	expect(&ex, "parts",
	    "text/plain message/delivery-status message/rfc822", NULL);
	python_check(n, len, &ex);
	free(n);
	p.content = "\r\nonly a body\r\n";
	p.content_len = strlen(p.content);
	p.ret_full = false;
	n = build(&p, &len);
	buf_init(&ex, OUT_MAX);
	expect(&ex, "orig-headers", "", NULL);
	python_check(n, len, &ex);
	free(n);
}

static void
test_boundary_collision(void **state)
{
	struct dsn_rcpt r[1] = {
		{ .final_rcpt = "bob@example.net", .action = "failed",
		  .status = "5.1.1",
		  .text = "ostia-0123456789abcdef-" QID "-1" },
	};
	struct dsn_params p;
	struct buf ex;
	size_t len;
	char *n;
	static const char body[] =
	    "Subject: trap\r\n\r\n--ostia-0123456789abcdef-" QID "\r\n"
	    "Content-Type: text/plain\r\n\r\nfake\r\n"
	    "--ostia-0123456789abcdef-" QID "--\r\n";

	(void)state;
	base_params(&p, DSN_KIND_FAILURE, r, 1);
	p.content = body;
	p.content_len = strlen(body);
	n = build(&p, &len);
	/* Neither the first nor the second choice: both are in the text. */
	assert_non_null(strstr(n, "boundary=\"ostia-0123456789abcdef-" QID
	    "-2\""));
	buf_init(&ex, OUT_MAX);
	expect(&ex, "parts",
	    "text/plain message/delivery-status message/rfc822", NULL);
	expect(&ex, "orig-body", body + strlen("Subject: trap\r\n\r\n"), NULL);
	python_check(n, len, &ex);
	free(n);
}

static void
test_utf8(void **state)
{
	struct dsn_rcpt r[2] = {
		{ .final_rcpt = "j\xc3\xb6rg@b\xc3\xbc" "cher.example",
		  .orcpt = "rfc822;J\xc3\xb6rg@b\xc3\xbc" "cher.example",
		  .action = "failed", .status = "5.1.1",
		  .remote_mta = "mx.b\xc3\xbc" "cher.example",
		  .diagnostic = "smtp; 550 5.1.1 unbekannter Empf\xc3\xa4nger",
		  .text = "Empf\xc3\xa4nger unbekannt" },
		{ .final_rcpt = "bob@example.net", .action = "failed",
		  .status = "5.1.1" },
	};
	struct dsn_params p;
	struct buf ex;
	size_t len;
	char *n;

	(void)state;
	base_params(&p, DSN_KIND_FAILURE, r, 2);
	assert_true(dsn_is_global(&p));
	assert_false(dsn_needs_smtputf8(&p));
	n = build(&p, &len);
	check_lines(n, len);
	has_line(n, "Content-Transfer-Encoding: 8bit");
	buf_init(&ex, OUT_MAX);
	expect(&ex, "report-type", "global-delivery-status", NULL);
	expect(&ex, "parts",
	    "text/plain message/global-delivery-status message/global", NULL);
	expect(&ex, "charset", "utf-8", NULL);
	expect(&ex, "cte-top", "8bit", NULL);
	expect(&ex, "permsg", "Reporting-MTA", "dns; mx.example.org", NULL);
	expect(&ex, "rcpt", "0", "Original-Recipient",
	    "utf-8; J\xc3\xb6rg@b\xc3\xbc" "cher.example", NULL);
	expect(&ex, "rcpt", "0", "Final-Recipient",
	    "utf-8; j\xc3\xb6rg@b\xc3\xbc" "cher.example", NULL);
	expect(&ex, "rcpt", "0", "Remote-MTA",
	    "dns; mx.b\xc3\xbc" "cher.example", NULL);
	expect(&ex, "rcpt", "0", "Diagnostic-Code",
	    "smtp; 550 5.1.1 unbekannter Empf\xc3\xa4nger", NULL);
	expect(&ex, "rcpt", "1", "Final-Recipient", "rfc822; bob@example.net",
	    NULL);
	expect(&ex, "text", "<j\xc3\xb6rg@b\xc3\xbc" "cher.example>: could "
	    "not be delivered", NULL);
	expect(&ex, "text", "Reason: Empf\xc3\xa4nger unbekannt", NULL);
	python_check(n, len, &ex);
	free(n);

	/* A UTF-8 sender: To: needs SMTPUTF8; headers-only is
	 * message/global-headers. */
	p.sender = "\xc3\xa5sa@example.se";
	p.ret_full = false;
	assert_true(dsn_needs_smtputf8(&p));
	n = build(&p, &len);
	buf_init(&ex, OUT_MAX);
	expect(&ex, "header", "To", "<\xc3\xa5sa@example.se>", NULL);
	expect(&ex, "parts", "text/plain message/global-delivery-status "
	    "message/global-headers", NULL);
	expect(&ex, "permsg", "X-Ostia-Sender", "utf-8; \xc3\xa5sa@example.se",
	    NULL);
	python_check(n, len, &ex);
	free(n);

	/* ASCII addresses, UTF-8 text: an ASCII report ('?' for what is
	 * not ASCII), UTF-8 prose; invalid UTF-8 becomes '?' in both. */
	r[0].final_rcpt = "jorg@example.net";
	r[0].orcpt = NULL;
	r[0].remote_mta = "mx.example.net";
	r[0].text = "Empf\xc3\xa4nger \xff unbekannt";
	p.sender = "alice@example.com";
	p.ret_full = true;
	assert_false(dsn_is_global(&p));
	n = build(&p, &len);
	buf_init(&ex, OUT_MAX);
	expect(&ex, "report-type", "delivery-status", NULL);
	expect(&ex, "parts",
	    "text/plain message/delivery-status message/rfc822", NULL);
	expect(&ex, "charset", "utf-8", NULL);
	expect(&ex, "rcpt", "0", "Diagnostic-Code",
	    "smtp; 550 5.1.1 unbekannter Empf?nger", NULL);
	expect(&ex, "text", "Reason: Empf\xc3\xa4nger ? unbekannt", NULL);
	python_check(n, len, &ex);
	free(n);

	/* SMTPUTF8 original with ASCII addresses: global types. */
	p.smtputf8 = true;
	assert_true(dsn_is_global(&p));
	n = build(&p, &len);
	buf_init(&ex, OUT_MAX);
	expect(&ex, "parts",
	    "text/plain message/global-delivery-status message/global", NULL);
	expect(&ex, "rcpt", "0", "Final-Recipient", "rfc822; jorg@example.net",
	    NULL);
	python_check(n, len, &ex);
	free(n);
}

static void
test_deterministic(void **state)
{
	struct dsn_rcpt r[1] = {
		{ .final_rcpt = "bob@example.net", .action = "failed",
		  .status = "5.1.1", .text = "user unknown" },
	};
	struct dsn_params p;
	size_t l1, l2;
	char *a, *b;

	(void)state;
	base_params(&p, DSN_KIND_FAILURE, r, 1);
	a = build(&p, &l1);
	b = build(&p, &l2);
	assert_int_equal(l1, l2);
	assert_memory_equal(a, b, l1);
	free(b);
	/* Another unique number: another Message-ID and boundary. */
	p.unique = 42;
	b = build(&p, &l2);
	assert_non_null(strstr(b, "." QID ".000000000000002a@mx.example.org>"));
	assert_non_null(strstr(b, "boundary=\"ostia-000000000000002a-" QID
	    "\""));
	p.message_id_domain = "ids.example.org";
	free(b);
	b = build(&p, &l2);
	assert_non_null(strstr(b, "." QID ".000000000000002a@ids.example.org>"));
	free(a);
	free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_failure),
		cmocka_unit_test(test_delay),
		cmocka_unit_test(test_success),
		cmocka_unit_test(test_envid_orcpt),
		cmocka_unit_test(test_ret_hdrs),
		cmocka_unit_test(test_postmaster_copy),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_many_recipients),
		cmocka_unit_test(test_no_separator),
		cmocka_unit_test(test_boundary_collision),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_deterministic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
