/* SPDX-License-Identifier: MIT */
/*
 * test_sendmail - the sendmail command's logic (src/common/sendmail.c):
 * options, standard input, address lists, envelope addresses, the
 * header block (-t, Bcc:, added fields), From: values and dates.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compat.h"
#include "sendmail.h"
#include "strv.h"

/* ---- options ---- */

#define ARGV(...) ((char *[]){ UNCONST("sendmail"), __VA_ARGS__, NULL })

static int
parse(char **argv, struct sendmail_opts *o, char *err, size_t errsz)
{
	int argc = 0;

	while (argv[argc] != NULL)
		argc++;
	err[0] = '\0';
	return sendmail_parse_args(argc, argv, o, err, errsz);
}

static void
test_opts_flags(void **state)
{
	struct sendmail_opts o;
	char err[256];

	(void)state;
	assert_int_equal(parse(ARGV(UNCONST("-t"), UNCONST("-i")), &o, err,
	    sizeof(err)), 0);
	assert_true(o.extract);
	assert_true(o.ignore_dots);
	assert_false(o.verbose);
	assert_int_equal(o.mode, SENDMAIL_MODE_DELIVER);
	assert_int_equal(o.rcpts.n, 0);
	sendmail_opts_deinit(&o);

	/* Clustered, -oi, -v; cron's and mail clients' harmless options
	 * are silent. */
	assert_int_equal(parse(ARGV(UNCONST("-tv"), UNCONST("-oi"),
	    UNCONST("-oem"), UNCONST("-odi"), UNCONST("-B8BITMIME"),
	    UNCONST("-FCronDaemon")), &o, err, sizeof(err)), 0);
	assert_true(o.extract);
	assert_true(o.verbose);
	assert_true(o.ignore_dots);
	assert_string_equal(o.fullname, "CronDaemon");
	assert_int_equal(o.warnings.n, 0);
	sendmail_opts_deinit(&o);

	/* Other -o options are ignored with a warning. */
	assert_int_equal(parse(ARGV(UNCONST("-oQ/var/spool"),
	    UNCONST("-L"), UNCONST("label"), UNCONST("a@example.org")), &o,
	    err, sizeof(err)), 0);
	assert_int_equal(o.warnings.n, 2);
	assert_non_null(strstr(o.warnings.v[0], "-oQ/var/spool ignored"));
	assert_non_null(strstr(o.warnings.v[1], "-L label ignored"));
	sendmail_opts_deinit(&o);
}

static void
test_opts_args(void **state)
{
	struct sendmail_opts o;
	char err[256];

	(void)state;
	/* Attached or separate arguments; recipients anywhere. */
	assert_int_equal(parse(ARGV(UNCONST("bob@example.org"),
	    UNCONST("-fsender@example.org"), UNCONST("-F"),
	    UNCONST("Full Name"), UNCONST("-N"), UNCONST("delay, Success"),
	    UNCONST("-R"), UNCONST("hdrs"), UNCONST("-V"), UNCONST("QQ314"),
	    UNCONST("-C"), UNCONST("/etc/x"), UNCONST("carol, Dave <d@x.org>")),
	    &o, err, sizeof(err)), 0);
	assert_string_equal(o.sender, "sender@example.org");
	assert_string_equal(o.fullname, "Full Name");
	assert_string_equal(o.notify, "SUCCESS,DELAY");
	assert_string_equal(o.ret, "HDRS");
	assert_string_equal(o.envid, "QQ314");
	assert_string_equal(o.config_dir, "/etc/x");
	assert_int_equal(o.rcpts.n, 3);
	assert_string_equal(o.rcpts.v[0], "bob@example.org");
	assert_string_equal(o.rcpts.v[1], "carol");
	assert_string_equal(o.rcpts.v[2], "d@x.org");
	sendmail_opts_deinit(&o);

	/* -r is -f; -f "" is the null sender; "--" ends the options. */
	assert_int_equal(parse(ARGV(UNCONST("-r"), UNCONST(""),
	    UNCONST("-N"), UNCONST("never"), UNCONST("--"),
	    UNCONST("-odd@example.org")), &o, err, sizeof(err)), 0);
	assert_string_equal(o.sender, "");
	assert_string_equal(o.notify, "NEVER");
	assert_int_equal(o.rcpts.n, 1);
	assert_string_equal(o.rcpts.v[0], "-odd@example.org");
	sendmail_opts_deinit(&o);
}

static void
test_opts_modes(void **state)
{
	struct sendmail_opts o;
	char err[256];

	(void)state;
	assert_int_equal(parse(ARGV(UNCONST("-bp")), &o, err, sizeof(err)),
	    0);
	assert_int_equal(o.mode, SENDMAIL_MODE_MAILQ);
	sendmail_opts_deinit(&o);
	assert_int_equal(parse(ARGV(UNCONST("-b"), UNCONST("i")), &o, err,
	    sizeof(err)), 0);
	assert_int_equal(o.mode, SENDMAIL_MODE_NEWALIASES);
	sendmail_opts_deinit(&o);
	assert_int_equal(parse(ARGV(UNCONST("-I")), &o, err, sizeof(err)), 0);
	assert_int_equal(o.mode, SENDMAIL_MODE_NEWALIASES);
	sendmail_opts_deinit(&o);
	assert_int_equal(parse(ARGV(UNCONST("-bs")), &o, err, sizeof(err)),
	    0);
	assert_int_equal(o.mode, SENDMAIL_MODE_SMTP);
	sendmail_opts_deinit(&o);
	assert_int_equal(parse(ARGV(UNCONST("-q")), &o, err, sizeof(err)), 0);
	assert_int_equal(o.mode, SENDMAIL_MODE_FLUSH);
	assert_null(o.flush_site);
	assert_null(o.flush_id);
	sendmail_opts_deinit(&o);
	assert_int_equal(parse(ARGV(UNCONST("-qRexample.org")), &o, err,
	    sizeof(err)), 0);
	assert_int_equal(o.mode, SENDMAIL_MODE_FLUSH);
	assert_string_equal(o.flush_site, "example.org");
	sendmail_opts_deinit(&o);
	assert_int_equal(parse(ARGV(UNCONST("-qI0123456789ABCDEF")), &o, err,
	    sizeof(err)), 0);
	assert_string_equal(o.flush_id, "0123456789ABCDEF");
	sendmail_opts_deinit(&o);
	/* A queue runner daemon (not supported: the command says so). */
	assert_int_equal(parse(ARGV(UNCONST("-bd"), UNCONST("-q30m")), &o,
	    err, sizeof(err)), 0);
	assert_int_equal(o.mode, SENDMAIL_MODE_DAEMON);
	sendmail_opts_deinit(&o);
	assert_int_equal(parse(ARGV(UNCONST("-q1h")), &o, err, sizeof(err)),
	    0);
	assert_int_equal(o.mode, SENDMAIL_MODE_DAEMON);
	sendmail_opts_deinit(&o);
}

static void
test_opts_errors(void **state)
{
	static struct {
		char *argv[5];
		const char *err;
	} cases[] = {
		{ { UNCONST("sendmail"), NULL }, "no recipients" },
		{ { UNCONST("sendmail"), UNCONST("-Y"), UNCONST("a@b.c"), NULL },
		    "unknown option -Y" },
		{ { UNCONST("sendmail"), UNCONST("a@b.c"), UNCONST("-f"), NULL },
		    "option -f needs an argument" },
		{ { UNCONST("sendmail"), UNCONST("-N"), UNCONST("never,delay"),
		    UNCONST("a@b.c"), NULL }, "-N never,delay" },
		{ { UNCONST("sendmail"), UNCONST("-N"), UNCONST("sometimes"),
		    UNCONST("a@b.c"), NULL }, "-N sometimes" },
		{ { UNCONST("sendmail"), UNCONST("-R"), UNCONST("body"),
		    UNCONST("a@b.c"), NULL }, "-R body" },
		{ { UNCONST("sendmail"), UNCONST("-V"), UNCONST("a b"),
		    UNCONST("a@b.c"), NULL }, "-V" },
		{ { UNCONST("sendmail"), UNCONST("-bz"), NULL }, "unknown mode" },
		{ { UNCONST("sendmail"), UNCONST("-qX"), NULL }, "-qX" },
		{ { UNCONST("sendmail"), UNCONST("John Smith j@x.org"), NULL },
		    "not one address" },
		{ { UNCONST("sendmail"), UNCONST("<a@b.c"), NULL },
		    "missing '>'" },
	};

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct sendmail_opts o;
		char err[256];
		assert_int_equal(parse(cases[i].argv, &o, err, sizeof(err)),
		    -1);
		if (strstr(err, cases[i].err) == NULL)
			fail_msg("case %zu: error \"%s\" does not say \"%s\"",
			    i, err, cases[i].err);
		sendmail_opts_deinit(&o);
	}
}

/* ---- standard input ---- */

static char *
read_input(const char *text, bool ignore_dots, size_t max, size_t chunk,
    int *ret_r)
{
	struct sendmail_input in;
	size_t len = strlen(text);
	char *out;
	int r = 0;

	sendmail_input_init(&in, ignore_dots, max);
	for (size_t off = 0; off < len && r == 0; off += chunk)
		r = sendmail_input_feed(&in, text + off, len - off < chunk ?
		    len - off : chunk);
	if (r == 0)
		r = sendmail_input_finish(&in);
	*ret_r = r;
	out = strdup(buf_cstr(&in.msg));
	sendmail_input_deinit(&in);
	return out;
}

static void
test_input(void **state)
{
	static const struct {
		const char *in;
		bool ignore_dots;
		const char *out;
		int ret;
	} cases[] = {
		/* LF and CRLF both become CRLF; the last line gets one. */
		{ "a\nb\r\nc", false, "a\r\nb\r\nc\r\n", 0 },
		/* The lone dot ends the message, with or without CR. */
		{ "a\n.\nb\n", false, "a\r\n", 1 },
		{ "a\r\n.\r\nb\r\n", false, "a\r\n", 1 },
		{ "a\n.", false, "a\r\n", 0 },
		/* ... not with -i, and ".." is not unstuffed. */
		{ "a\n.\n..\nb\n", true, "a\r\n.\r\n..\r\nb\r\n", 0 },
		{ "a\n..\n", false, "a\r\n..\r\n", 0 },
		/* An mbox "From " line first goes. */
		{ "From root Mon Jan 1\nSubject: x\n\nFrom here\n", false,
		    "Subject: x\r\n\r\nFrom here\r\n", 0 },
		/* A bare CR inside a line stays. */
		{ "a\rb\n", false, "a\rb\r\n", 0 },
		{ "", false, "", 0 },
	};

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		for (size_t chunk = 1; chunk <= 64; chunk += 63) {
			int r;
			char *out = read_input(cases[i].in,
			    cases[i].ignore_dots, 0, chunk, &r);

			if (strcmp(out, cases[i].out) != 0 ||
			    r != cases[i].ret)
				fail_msg("case %zu (chunk %zu): got \"%s\" "
				    "(%d)", i, chunk, out, r);
			free(out);
		}
	}
}

static void
test_input_limit(void **state)
{
	int r;
	char *out;

	(void)state;
	/* 10 bytes: "12345678\r\n" fits, one more byte does not. */
	out = read_input("12345678\n", false, 10, 3, &r);
	assert_int_equal(r, 0);
	free(out);
	out = read_input("123456789\n", false, 10, 3, &r);
	assert_int_equal(r, -1);
	free(out);
	/* A last line without its end counts its CRLF too. */
	out = read_input("123456789", false, 10, 100, &r);
	assert_int_equal(r, -1);
	free(out);
	/* A long line with no end at all is cut off early. */
	out = read_input("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", false, 10, 100, &r);
	assert_int_equal(r, -1);
	free(out);
}

/* ---- addresses ---- */

static void
check_list(const char *in, const char *want)
{
	struct strv sv;
	struct buf got;
	const char *err = NULL;
	int r;

	strv_init(&sv);
	buf_init(&got, 4096);
	r = sendmail_address_list(in, strlen(in), &sv, &err);
	if (r < 0) {
		(void)buf_appendf(&got, "ERROR %s", err);
	} else {
		for (size_t i = 0; i < sv.n; i++)
			(void)buf_appendf(&got, "%s%s", i ? "|" : "", sv.v[i]);
	}
	if (strcmp(buf_cstr(&got), want) != 0)
		fail_msg("\"%s\": got \"%s\", want \"%s\"", in,
		    buf_cstr(&got), want);
	buf_deinit(&got);
	strv_deinit(&sv);
}

static void
test_address_list(void **state)
{
	(void)state;
	check_list("a@example.org", "a@example.org");
	check_list("  a@example.org , b@example.org,", "a@example.org|"
	    "b@example.org");
	check_list("Alice Example <a@example.org>, \"Bob, Jr.\" "
	    "<b@example.org>", "a@example.org|b@example.org");
	check_list("a@example.org (Alice (the first)), (c) b@example.org",
	    "a@example.org|b@example.org");
	check_list("\"a b\"@example.org", "\"a b\"@example.org");
	check_list("<@relay.example:a@example.org>", "a@example.org");
	check_list("undisclosed-recipients:;", "");
	check_list("friends: a@example.org, B <b@example.org>;, "
	    "c@example.org", "a@example.org|b@example.org|c@example.org");
	check_list("a @ example . org", "a@example.org");
	check_list("root", "root");
	check_list("<>", "");
	check_list("\r\n\t a@example.org\r\n", "a@example.org");
	check_list("John Smith j@example.org",
	    "ERROR a member of the list is not one address (a display name "
	    "needs the address in <>)");
	check_list("A <a@example.org> junk", "ERROR text after the '>' of "
	    "an address");
	check_list("A <a@example.org", "ERROR missing '>'");
	check_list("a@example.org>", "ERROR '>' without '<'");
	check_list("<a@x> <b@y>", "ERROR text after the '>' of an address");
	check_list("\"open", "ERROR a quoted string is not closed");
	check_list("a@x (open", "ERROR a comment is not closed");
	check_list("g: h: a@x;", "ERROR a ':' where no group can start");
}

static void
test_canon_address(void **state)
{
	static const struct {
		const char *in;
		bool null_ok;
		const char *out;	/* NULL: refused */
	} cases[] = {
		{ "a@example.org", false, "a@example.org" },
		{ "<a@example.org>", false, "a@example.org" },
		{ "root", false, "root@origin.example" },
		{ "\"a b\"", false, "\"a b\"@origin.example" },
		{ "<@r.example:a@example.org>", false, "a@example.org" },
		{ "", true, "" },
		{ "<>", true, "" },
		{ "", false, NULL },
		{ "a b@example.org", false, NULL },
		{ "a@", false, NULL },
		{ "a@exa mple.org", false, NULL },
		{ "a@example.org>x", false, NULL },
		{ "j\xc3\xb6rg@example.org", false, "j\xc3\xb6rg@example.org" },
	};

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		const char *err = NULL;
		char *a = sendmail_canon_address(cases[i].in,
		    "origin.example", cases[i].null_ok, &err);

		if (cases[i].out == NULL) {
			if (a != NULL)
				fail_msg("case %zu: \"%s\" accepted as \"%s\"",
				    i, cases[i].in, a);
			assert_non_null(err);
		} else if (a == NULL || strcmp(a, cases[i].out) != 0) {
			fail_msg("case %zu: \"%s\" gave \"%s\" (%s)", i,
			    cases[i].in, a ? a : "NULL", a ? "" : err);
		}
		free(a);
	}
}

/* ---- header block ---- */

struct hdr_result {
	char *out;
	char *rcpts;		/* joined with '|' */
	int ret;
	const char *err;
};

static void
run_headers(const char *msg, bool extract, const char *fullname,
    const char *from, struct hdr_result *res)
{
	struct sendmail_header_params p = {
		.extract = extract,
		.from_addr = from,
		.fullname = fullname,
		.myhostname = "mx.example.org",
		.id = "0123456789ABCDEF",
		.now = 1717171717,	/* 2024-05-31 16:08:37 UTC */
	};
	struct buf out, rc;
	struct strv sv;

	buf_init(&out, 1 << 20);
	buf_init(&rc, 1 << 20);
	strv_init(&sv);
	res->err = NULL;
	res->ret = sendmail_headers(msg, strlen(msg), &p, &out, &sv,
	    &res->err);
	for (size_t i = 0; i < sv.n; i++)
		(void)buf_appendf(&rc, "%s%s", i ? "|" : "", sv.v[i]);
	res->out = buf_steal(&out);
	res->rcpts = buf_steal(&rc);
	strv_deinit(&sv);
}

static void
hdr_result_free(struct hdr_result *r)
{
	free(r->out);
	free(r->rcpts);
}

static void
test_headers_extract(void **state)
{
	struct hdr_result r;

	(void)state;
	run_headers("To: Alice <a@example.org>,\r\n b@example.org\r\n"
	    "cc: c@example.org (Carol)\r\n"
	    "BCC: secret@example.org\r\n"
	    "Bcc: other@example.org,\r\n\tthird@example.org\r\n"
	    "From: me@example.org\r\n"
	    "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
	    "Message-ID: <x@y>\r\n"
	    "Subject: hi\r\n\r\nBcc: in the body stays\r\n",
	    true, NULL, "me@example.org", &r);
	assert_int_equal(r.ret, 0);
	assert_string_equal(r.rcpts, "a@example.org|b@example.org|"
	    "c@example.org|secret@example.org|other@example.org|"
	    "third@example.org");
	/* Bcc: fields (folded ones whole) gone, nothing added. */
	assert_string_equal(r.out, "To: Alice <a@example.org>,\r\n "
	    "b@example.org\r\ncc: c@example.org (Carol)\r\n"
	    "From: me@example.org\r\n"
	    "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
	    "Message-ID: <x@y>\r\nSubject: hi\r\n\r\n"
	    "Bcc: in the body stays\r\n");
	hdr_result_free(&r);

	/* Without -t: no recipients taken, Bcc: still removed. */
	run_headers("To: a@example.org\r\nBcc: b@example.org\r\n"
	    "From: x@y.z\r\nDate: d\r\nMessage-Id: <i@d>\r\n\r\nbody\r\n",
	    false, NULL, "x@y.z", &r);
	assert_int_equal(r.ret, 0);
	assert_string_equal(r.rcpts, "");
	assert_string_equal(r.out, "To: a@example.org\r\nFrom: x@y.z\r\n"
	    "Date: d\r\nMessage-Id: <i@d>\r\n\r\nbody\r\n");
	hdr_result_free(&r);

	/* Resent- fields win over the original ones. */
	run_headers("To: old@example.org\r\nResent-To: new@example.org\r\n"
	    "Resent-Bcc: hidden@example.org\r\nFrom: f@x.y\r\nDate: d\r\n"
	    "Message-ID: <m@x>\r\n\r\n", true, NULL, "f@x.y", &r);
	assert_int_equal(r.ret, 0);
	assert_string_equal(r.rcpts, "new@example.org|hidden@example.org");
	assert_null(strstr(r.out, "hidden"));
	hdr_result_free(&r);

	/* Groups and empty lists. */
	run_headers("To: undisclosed-recipients:;\r\nCc: team: a@x.org, "
	    "b@x.org;\r\n\r\n", true, NULL, "f@x.y", &r);
	assert_int_equal(r.ret, 0);
	assert_string_equal(r.rcpts, "a@x.org|b@x.org");
	hdr_result_free(&r);

	/* A To: that does not parse is an error. */
	run_headers("To: John Smith john@example.org\r\n\r\n", true, NULL,
	    "f@x.y", &r);
	assert_int_equal(r.ret, -1);
	assert_non_null(strstr(r.err, "not one address"));
	hdr_result_free(&r);
}

static void
test_headers_added(void **state)
{
	struct hdr_result r;

	(void)state;
	/* The missing fields go at the end of the header block. */
	run_headers("Subject: hi\r\nTo: a@example.org\r\n\r\nbody\r\n", false,
	    "Cron Daemon", "root@example.org", &r);
	assert_int_equal(r.ret, 0);
	{
		static const char head[] = "Subject: hi\r\nTo: "
		    "a@example.org\r\nMessage-ID: <20240531160837."
		    "0123456789ABCDEF@mx.example.org>\r\nDate: ";

		if (strncmp(r.out, head, sizeof(head) - 1) != 0)
			fail_msg("got %s", r.out);
	}
	assert_non_null(strstr(r.out, " 2024 "));
	assert_non_null(strstr(r.out, "\r\nFrom: Cron Daemon "
	    "<root@example.org>\r\n\r\nbody\r\n"));
	hdr_result_free(&r);

	/* No header block at all: fields, then an empty line. */
	run_headers("just a body line\r\n", false, NULL, "u@example.org", &r);
	assert_int_equal(r.ret, 0);
	assert_non_null(strstr(r.out, "\r\nFrom: u@example.org\r\n\r\njust a "
	    "body line\r\n"));
	assert_int_equal(strncmp(r.out, "Message-ID: ", 12), 0);
	hdr_result_free(&r);

	/* The null sender: From: MAILER-DAEMON. */
	run_headers("Subject: x\r\n\r\n", false, NULL, "", &r);
	assert_non_null(strstr(r.out, "From: MAILER-DAEMON@mx.example.org\r\n"));
	hdr_result_free(&r);

	/* Only headers, the last without its line end. */
	run_headers("Subject: x", false, NULL, "u@e.org", &r);
	assert_int_equal(strncmp(r.out, "Subject: x\r\nMessage-ID: ", 24), 0);
	hdr_result_free(&r);

	/* A continuation line first is not a header block. */
	run_headers(" indented\r\n", false, NULL, "u@e.org", &r);
	assert_non_null(strstr(r.out, "\r\n\r\n indented\r\n"));
	hdr_result_free(&r);
}

static void
check_from(const char *name, const char *want)
{
	struct buf b;

	buf_init(&b, 4096);
	assert_int_equal(sendmail_from_value(&b, name, "u@example.org"), 0);
	if (strcmp(buf_cstr(&b), want) != 0)
		fail_msg("\"%s\": got \"%s\", want \"%s\"", name ? name : "NULL",
		    buf_cstr(&b), want);
	buf_deinit(&b);
}

static void
test_from_value(void **state)
{
	(void)state;
	check_from(NULL, "u@example.org");
	check_from("", "u@example.org");
	check_from("  ", "u@example.org");
	check_from("Cron Daemon", "Cron Daemon <u@example.org>");
	check_from("Smith, John", "\"Smith, John\" <u@example.org>");
	check_from("a \"q\" b\\", "\"a \\\"q\\\" b\\\\\" <u@example.org>");
	/* Control characters cannot add lines. */
	check_from("Evil\r\nBcc: x@y", "\"EvilBcc: x@y\" <u@example.org>");
	/* UTF-8: an RFC 2047 encoded word. */
	check_from("J\xc3\xb6rg", "=?UTF-8?B?SsO2cmc=?= <u@example.org>");
}

static void
test_date(void **state)
{
	char d[SENDMAIL_DATE_BYTES];

	(void)state;
	sendmail_date(d, 1717171717, false);
	assert_string_equal(d, "Fri, 31 May 2024 16:08:37 +0000");
	sendmail_date(d, 0, false);
	assert_string_equal(d, "Thu, 1 Jan 1970 00:00:00 +0000");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_opts_flags),
		cmocka_unit_test(test_opts_args),
		cmocka_unit_test(test_opts_modes),
		cmocka_unit_test(test_opts_errors),
		cmocka_unit_test(test_input),
		cmocka_unit_test(test_input_limit),
		cmocka_unit_test(test_address_list),
		cmocka_unit_test(test_canon_address),
		cmocka_unit_test(test_headers_extract),
		cmocka_unit_test(test_headers_added),
		cmocka_unit_test(test_from_value),
		cmocka_unit_test(test_date),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
