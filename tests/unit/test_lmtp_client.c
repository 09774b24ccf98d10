/* SPDX-License-Identifier: MIT */
/*
 * test_lmtp_client - the LMTP client (src/deliver/lmtp_client.c): the
 * reply parser (whole and byte by byte, bad replies, limits), the
 * extensions, address quoting, xtext, dot-stuffing, destinations, and
 * conversations with a scripted LMTP server in a thread on a Unix
 * socket (or TCP) in a temporary directory (test_support.h's
 * test_script).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "compat.h"
#include "deliver_proto.h"
#include "lmtp_client.h"
#include "log.h"
#include "test_support.h"
#include "xalloc.h"

/* ------------------------------------------------------------------ */
/* Reply parser */

/* parse_all - feed text whole (step 0) or step bytes at a time; the
 * result of the first complete reply or error. */
static int
parse_with(const char *text, size_t len, size_t step,
    struct lmtp_reply *r, size_t *used_r, const char **err_r)
{
	struct lmtp_reply_parser p;
	size_t off = 0;
	int rc = 0;

	lmtp_reply_parser_init(&p);
	*used_r = 0;
	while (off < len) {
		size_t n = step == 0 || len - off < step ? len - off : step;
		size_t used = 0;

		rc = lmtp_reply_parse(&p, text + off, n, &used, r, err_r);
		assert_true(used <= n);
		off += used;
		if (rc != 0)
			break;
		assert_int_equal(used, n);
	}
	*used_r = off;
	lmtp_reply_parser_deinit(&p);
	return rc;
}

struct rcase {
	const char *in;
	unsigned code;
	const char *dsn;
	size_t nlines;
	const char *text;	/* lmtp_reply_text */
	size_t used;		/* 0: all of in */
};

static const struct rcase good[] = {
	{ "250 OK\r\n", 250, "", 1, "250 OK", 0 },
	{ "250\r\n", 250, "", 1, "250", 0 },
	{ "250 \r\n", 250, "", 1, "250", 0 },
	{ "220 mx LMTP ready\n", 220, "", 1, "220 mx LMTP ready", 0 },
	{ "550 5.1.1 <x@y> User doesn't exist: x@y\r\n", 550, "5.1.1", 1,
	    "550 5.1.1 <x@y> User doesn't exist: x@y", 0 },
	{ "452-4.2.2 mailbox\r\n452-4.2.2 is\r\n452 4.2.2 full\r\n", 452,
	    "4.2.2", 3, "452 4.2.2 mailbox is full", 0 },
	{ "250-mx\r\n250-PIPELINING\r\n250 8BITMIME\r\n", 250, "", 3,
	    "250 mx PIPELINING 8BITMIME", 0 },
	/* An enhanced code of the wrong class is just text. */
	{ "550 4.1.1 odd\r\n", 550, "", 1, "550 4.1.1 odd", 0 },
	{ "250 2.1.0\r\n", 250, "2.1.0", 1, "250 2.1.0", 0 },
	{ "250 2.100.1000 x\r\n", 250, "", 1, "250 2.100.1000 x", 0 },
	{ "250 2.0.0x\r\n", 250, "", 1, "250 2.0.0x", 0 },
	{ "250 2.999.999 x\r\n", 250, "2.999.999", 1, "250 2.999.999 x", 0 },
	/* Control bytes are shown as '?'. */
	{ "550 bad\x01\x7f\xc3\xa9\r\n", 550, "", 1, "550 bad????", 0 },
	/* Only the first reply; the rest is left. */
	{ "250 a\r\n251 b\r\n", 250, "", 1, "250 a", 7 },
	{ "250-a\r\n250 b\r\nxyz", 250, "", 2, "250 a b", 14 },
};

static void
test_reply_good(void **state)
{
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		const struct rcase *c = &good[i];
		size_t len = strlen(c->in);

		for (size_t step = 0; step <= 3; step++) {
			struct lmtp_reply r;
			const char *err = NULL;
			size_t used;
			char *t;
			int rc;

			memset(&r, 0, sizeof(r));
			rc = parse_with(c->in, len, step, &r, &used, &err);
			if (rc != 1)
				fail_msg("case %zu step %zu: rc %d (%s)", i,
				    step, rc, err != NULL ? err : "");
			assert_int_equal(r.code, c->code);
			assert_string_equal(r.dsn, c->dsn);
			assert_int_equal(r.nlines, c->nlines);
			assert_int_equal(used, c->used ? c->used : len);
			t = lmtp_reply_text(&r, 200);
			assert_string_equal(t, c->text);
			free(t);
			lmtp_reply_deinit(&r);
		}
	}
}

struct bcase {
	const char *in;
	size_t len;		/* 0: strlen */
	const char *err;	/* substring */
};

static const struct bcase bad[] = {
	{ "25\r\n", 0, "shorter" },
	{ "\r\n", 0, "shorter" },
	{ "abc\r\n", 0, "reply code" },
	{ "150 x\r\n", 0, "reply code" },
	{ "650 x\r\n", 0, "reply code" },
	{ "260 x\r\n", 0, "reply code" },
	{ "25x x\r\n", 0, "reply code" },
	{ " 250 x\r\n", 0, "reply code" },
	{ "250x\r\n", 0, "neither" },
	{ "250_x\r\n", 0, "neither" },
	{ "250-a\r\n251 b\r\n", 0, "different codes" },
	{ "250-a\r\n550 b\r\n", 0, "different codes" },
	{ "250 a\0b\r\n", 9, "NUL" },
	{ "250-a\r\n\r\n", 0, "shorter" },
};

static void
test_reply_bad(void **state)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const struct bcase *c = &bad[i];
		size_t len = c->len ? c->len : strlen(c->in);

		for (size_t step = 0; step <= 2; step++) {
			struct lmtp_reply r;
			const char *err = NULL;
			size_t used;
			int rc;

			memset(&r, 0, sizeof(r));
			rc = parse_with(c->in, len, step, &r, &used, &err);
			if (rc != -1)
				fail_msg("case %zu step %zu: rc %d", i, step,
				    rc);
			assert_non_null(err);
			if (strstr(err, c->err) == NULL)
				fail_msg("case %zu: \"%s\" lacks \"%s\"", i,
				    err, c->err);
		}
	}
}

/* The parser stays failed; need-more keeps every byte. */
static void
test_reply_sticky(void **state)
{
	struct lmtp_reply_parser p;
	struct lmtp_reply r;
	const char *err = NULL;
	size_t used;

	lmtp_reply_parser_init(&p);
	assert_int_equal(lmtp_reply_parse(&p, "250-par", 7, &used, &r, &err),
	    0);
	assert_int_equal(used, 7);
	assert_int_equal(lmtp_reply_parse(&p, "tial\r\n", 6, &used, &r,
	    &err), 0);
	assert_int_equal(lmtp_reply_parse(&p, "x\r\n", 3, &used, &r, &err),
	    -1);
	assert_int_equal(lmtp_reply_parse(&p, "250 ok\r\n", 8, &used, &r,
	    &err), -1);
	assert_non_null(err);
	lmtp_reply_parser_deinit(&p);
}

static void
test_reply_limits(void **state)
{
	struct buf b;
	struct lmtp_reply r;
	const char *err;
	size_t used;

	/* 512 bytes with CRLF: fine; 513: too long. */
	buf_init(&b, 1 << 20);
	buf_append_str(&b, "250 ");
	while (b.len < LMTP_LINE_MAX_BYTES - 2)
		buf_append_c(&b, 'x');
	buf_append_str(&b, "\r\n");
	assert_int_equal(b.len, 512);
	for (size_t step = 0; step <= 1; step++) {
		memset(&r, 0, sizeof(r));
		assert_int_equal(parse_with(b.data, b.len, step, &r, &used,
		    &err), 1);
		assert_int_equal(strlen(r.lines[0]), 506);
		lmtp_reply_deinit(&r);
	}
	buf_reset(&b);
	buf_append_str(&b, "250 ");
	while (b.len < LMTP_LINE_MAX_BYTES - 1)
		buf_append_c(&b, 'x');
	buf_append_str(&b, "\r\n");
	for (size_t step = 0; step <= 1; step++) {
		err = NULL;
		assert_int_equal(parse_with(b.data, b.len, step, &r, &used,
		    &err), -1);
		assert_non_null(strstr(err, "longer than 512"));
	}
	/* A line that never ends is cut at the limit, not buffered. */
	buf_reset(&b);
	for (size_t i = 0; i < 100000; i++)
		buf_append_c(&b, '2');
	err = NULL;
	assert_int_equal(parse_with(b.data, b.len, 0, &r, &used, &err), -1);
	assert_true(used <= b.len);

	/* 100 lines: fine; 101: too many. */
	buf_reset(&b);
	for (int i = 0; i < LMTP_REPLY_LINES_MAX - 1; i++)
		buf_appendf(&b, "250-line %d\r\n", i);
	buf_append_str(&b, "250 last\r\n");
	memset(&r, 0, sizeof(r));
	assert_int_equal(parse_with(b.data, b.len, 0, &r, &used, &err), 1);
	assert_int_equal(r.nlines, LMTP_REPLY_LINES_MAX);
	lmtp_reply_deinit(&r);
	buf_reset(&b);
	for (int i = 0; i < LMTP_REPLY_LINES_MAX; i++)
		buf_appendf(&b, "250-line %d\r\n", i);
	buf_append_str(&b, "250 last\r\n");
	err = NULL;
	assert_int_equal(parse_with(b.data, b.len, 1, &r, &used, &err), -1);
	assert_non_null(strstr(err, "more than 100 lines"));
	buf_deinit(&b);
}

static void
test_reply_text_cut(void **state)
{
	struct lmtp_reply r, copy;
	const char *err;
	size_t used;
	const char *in = "550-5.7.1 first line of the reason\r\n"
	    "550 5.7.1 second line\r\n";
	char *t;

	memset(&r, 0, sizeof(r));
	assert_int_equal(parse_with(in, strlen(in), 0, &r, &used, &err), 1);
	t = lmtp_reply_text(&r, 1024);
	assert_string_equal(t, "550 5.7.1 first line of the reason second "
	    "line");
	free(t);
	t = lmtp_reply_text(&r, 20);
	assert_int_equal(strlen(t), 19);
	assert_string_equal(t, "550 5.7.1 first ...");
	free(t);
	lmtp_reply_copy(&copy, &r);
	lmtp_reply_deinit(&r);
	assert_int_equal(copy.nlines, 2);
	assert_string_equal(copy.dsn, "5.7.1");
	assert_string_equal(copy.lines[1], "5.7.1 second line");
	lmtp_reply_deinit(&copy);
	lmtp_reply_deinit(&copy);
}

static void
test_caps(void **state)
{
	struct lmtp_reply r;
	struct lmtp_caps caps;
	const char *err;
	size_t used;
	const char *in = "250-mx.example\r\n250-pipelining\r\n"
	    "250-SIZE 1024000\r\n250-Enhancedstatuscodes\r\n250-8BITMIME\r\n"
	    "250-DSN\r\n250-XCLIENT ADDR\r\n250 SMTPUTF8\r\n";

	memset(&r, 0, sizeof(r));
	assert_int_equal(parse_with(in, strlen(in), 0, &r, &used, &err), 1);
	lmtp_caps_parse(&r, &caps);
	assert_true(caps.pipelining && caps.size && caps.eightbitmime &&
	    caps.enhancedstatuscodes && caps.dsn && caps.smtputf8);
	assert_int_equal(caps.size_max, 1024000);
	assert_string_equal(caps.name, "mx.example");
	lmtp_reply_deinit(&r);

	/* The server's name: the first word, lower case; none when it
	 * is too long to be a name. */
	{
		char line[LMTP_SERVER_NAME_MAX + 16];

		in = "250-MX.Example.ORG Hello [192.0.2.1]\r\n250 DSN\r\n";
		assert_int_equal(parse_with(in, strlen(in), 0, &r, &used,
		    &err), 1);
		lmtp_caps_parse(&r, &caps);
		assert_string_equal(caps.name, "mx.example.org");
		lmtp_reply_deinit(&r);
		memset(line, 'a', sizeof(line));
		memcpy(line, "250 ", 4);
		memcpy(line + sizeof(line) - 3, "\r\n", 3);
		assert_int_equal(parse_with(line, strlen(line), 0, &r, &used,
		    &err), 1);
		lmtp_caps_parse(&r, &caps);
		assert_string_equal(caps.name, "");
		lmtp_reply_deinit(&r);
	}

	/* The greeting line's words are not extensions. */
	in = "250-PIPELINING\r\n250-SIZE\r\n250 SIZEX\r\n";
	assert_int_equal(parse_with(in, strlen(in), 0, &r, &used, &err), 1);
	lmtp_caps_parse(&r, &caps);
	assert_false(caps.pipelining);
	assert_true(caps.size);
	assert_int_equal(caps.size_max, 0);
	assert_false(caps.dsn || caps.smtputf8 || caps.eightbitmime);
	assert_int_equal(caps.xforward, 0);
	lmtp_reply_deinit(&r);

	/* XFORWARD: the attributes it lists (unknown ones ignored). */
	in = "250-x\r\n250-XFORWARD name ADDR BOGUS HELO  SOURCE\r\n"
	    "250 XFORWARDX PORT\r\n";
	assert_int_equal(parse_with(in, strlen(in), 0, &r, &used, &err), 1);
	lmtp_caps_parse(&r, &caps);
	assert_int_equal(caps.xforward, LMTP_XF_NAME | LMTP_XF_ADDR |
	    LMTP_XF_HELO | LMTP_XF_SOURCE);
	lmtp_reply_deinit(&r);

	/* smtp_discard_ehlo_keywords: what was offered is forgotten and
	 * named; unknown words and ones not offered are not. */
	{
		static const char *const gone[] = { "PIPELINING", "dsn",
		    "chunking", "starttls", "auth", "size", NULL };
		char out[128];

		in = "250-mx\r\n250-PIPELINING\r\n250-SIZE 100\r\n"
		    "250-DSN\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n";
		assert_int_equal(parse_with(in, strlen(in), 0, &r, &used,
		    &err), 1);
		lmtp_caps_parse(&r, &caps);
		assert_int_equal(lmtp_caps_discard(&caps, gone, out,
		    sizeof(out)), 4);
		assert_string_equal(out, "PIPELINING dsn auth size");
		assert_false(caps.pipelining || caps.dsn || caps.size ||
		    caps.auth_plain || caps.starttls);
		assert_int_equal(caps.size_max, 0);
		assert_true(caps.eightbitmime);
		/* A short buffer is cut, still terminated. */
		lmtp_caps_parse(&r, &caps);
		assert_int_equal(lmtp_caps_discard(&caps, gone, out, 5), 4);
		assert_string_equal(out, "PIPE");
		lmtp_reply_deinit(&r);
	}
}

/* ------------------------------------------------------------------ */
/* Command text */

static void
test_address_quote(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "", "" },
		{ "user@example.org", "user@example.org" },
		{ "first.last+tag@example.org", "first.last+tag@example.org" },
		{ "postmaster", "postmaster" },
		{ "a b@example.org", "\"a b\"@example.org" },
		{ "\"a b\"@example.org", "\"a b\"@example.org" },
		{ "\"a\\\"b\"@example.org", "\"a\\\"b\"@example.org" },
		{ "a\"b@example.org", "\"a\\\"b\"@example.org" },
		{ "a\\b@example.org", "\"a\\\\b\"@example.org" },
		{ ".a@example.org", "\".a\"@example.org" },
		{ "a.@example.org", "\"a.\"@example.org" },
		{ "a..b@example.org", "\"a..b\"@example.org" },
		{ "a@b@example.org", "\"a@b\"@example.org" },
		{ "@example.org", "\"\"@example.org" },
		{ "j\xc3\xb6rg@example.org", "j\xc3\xb6rg@example.org" },
		{ "x@[192.0.2.1]", "x@[192.0.2.1]" },
	};
	struct buf b;

	buf_init(&b, 1024);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_reset(&b);
		assert_int_equal(lmtp_address_quote(cases[i].in, &b), 0);
		assert_string_equal(buf_cstr(&b), cases[i].out);
	}
	buf_reset(&b);
	assert_int_equal(lmtp_address_quote("a\r\nRSET@x", &b), -1);
	assert_int_equal(lmtp_address_quote("a\tb@x", &b), -1);
	assert_int_equal(b.len, 0);
	buf_deinit(&b);
	/* Full buffer: -1 and nothing appended. */
	buf_init(&b, 8);
	buf_append_str(&b, "ab");
	assert_int_equal(lmtp_address_quote("a b@example.org", &b), -1);
	assert_string_equal(buf_cstr(&b), "ab");
	buf_deinit(&b);
}

static void
test_xtext(void **state)
{
	struct buf b;

	buf_init(&b, 1024);
	assert_int_equal(lmtp_xtext_append("a+b=c d\xc3\xa9~!", &b), 0);
	assert_string_equal(buf_cstr(&b), "a+2Bb+3Dc+20d+C3+A9~!");
	buf_deinit(&b);
}

/* The text fed in pieces of step bytes (0: whole), with a line limit
 * (0: none). */
static char *
stuff_limited(const char *in, size_t len, size_t step, size_t limit)
{
	struct lmtp_dot_state st = { .limit = limit };
	struct buf b;

	buf_init(&b, 1 << 20);
	for (size_t off = 0; off < len;) {
		size_t n = step == 0 || len - off < step ? len - off : step;

		assert_int_equal(lmtp_dot_stuff(&st, in + off, n, &b), 0);
		off += n;
	}
	assert_int_equal(lmtp_dot_stuff_end(&st, &b), 0);
	return buf_steal(&b);
}

static char *
stuff(const char *in, size_t len, size_t step)
{
	return stuff_limited(in, len, step, 0);
}

static void
test_dot_stuff(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "", ".\r\n" },
		{ "\r\n", "\r\n.\r\n" },
		{ "a\r\n.b\r\n..c\r\n.\r\nlast", "a\r\n..b\r\n...c\r\n..\r\n"
		    "last\r\n.\r\n" },
		{ ".", "..\r\n.\r\n" },
		{ "x\n.y\n", "x\r\n..y\r\n.\r\n" },
		{ "a\rb\r\n", "a\rb\r\n.\r\n" },
		{ "a\r.b\r\n", "a\r.b\r\n.\r\n" },
		{ "end\r", "end\r\n.\r\n" },
		{ "a\r\n\r\n.\r\n", "a\r\n\r\n..\r\n.\r\n" },
		{ "mid.dle\r\n", "mid.dle\r\n.\r\n" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (size_t step = 0; step <= 2; step++) {
			char *out = stuff(cases[i].in, strlen(cases[i].in),
			    step);

			if (strcmp(out, cases[i].out) != 0)
				fail_msg("case %zu step %zu: got \"%s\"", i,
				    step, out);
			free(out);
		}
	}
}

/* smtp_line_length_limit: lines folded with CRLF SP, whatever the
 * pieces the text comes in. */
static void
test_line_limit(void **state)
{
	static const struct {
		size_t limit;
		const char *in, *out;
	} cases[] = {
		{ 5, "12345\r\n", "12345\r\n.\r\n" },
		{ 5, "123456\r\n", "12345\r\n 6\r\n.\r\n" },
		{ 5, "123456789abc\r\nxy\r\n",
		    "12345\r\n 6789\r\n abc\r\nxy\r\n.\r\n" },
		/* The stuffed dot counts. */
		{ 5, ".2345\r\n", "..234\r\n 5\r\n.\r\n" },
		/* A bare CR counts and stays inside the line. */
		{ 4, "ab\rcdef\n", "ab\rc\r\n def\r\n.\r\n" },
		{ 5, "12345", "12345\r\n.\r\n" },
		{ 0, "1234567890\r\n", "1234567890\r\n.\r\n" },
		/* A limit of 1 works as 2 (room for the SP and a byte). */
		{ 1, "abc\r\n", "ab\r\n c\r\n.\r\n" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (size_t step = 0; step <= 2; step++) {
			char *out = stuff_limited(cases[i].in,
			    strlen(cases[i].in), step, cases[i].limit);

			if (strcmp(out, cases[i].out) != 0)
				fail_msg("case %zu step %zu: got \"%s\"", i,
				    step, out);
			free(out);
		}
	}
}

static void
test_dest_parse(void **state)
{
	static const struct {
		const char *in;
		const char *host, *port, *path;
	} ok[] = {
		{ "unix:/run/dovecot/lmtp", NULL, NULL, "/run/dovecot/lmtp" },
		{ "/run/dovecot/lmtp", NULL, NULL, "/run/dovecot/lmtp" },
		{ "unix:private/dovecot-lmtp", NULL, NULL,
		    "private/dovecot-lmtp" },
		{ "inet:127.0.0.1:2424", "127.0.0.1", "2424", NULL },
		{ "inet:mail.example:24", "mail.example", "24", NULL },
		{ "mail.example:25", "mail.example", "25", NULL },
		{ "[192.0.2.1]:2424", "192.0.2.1", "2424", NULL },
		{ "[192.0.2.1]", "192.0.2.1", "24", NULL },
		{ "inet:[::1]:24", "::1", "24", NULL },
		{ "[ipv6:::1]:24", "::1", "24", NULL },
		{ "mail.example", "mail.example", "24", NULL },
		{ "inet:mail.example", "mail.example", "24", NULL },
	};
	static const char *const bad_dests[] = {
		"", "unix:", "mail.example:0", "mail.example:99999",
		"mail.example:nosuchservicename", "[192.0.2.1", "[::1]x",
		"::1", "bad host:24", "inet::24",
	};
	struct endpoint ep;
	char *err;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		err = NULL;
		if (lmtp_dest_parse(ok[i].in, "24", &ep, &err) != 0)
			fail_msg("%s: %s", ok[i].in, err);
		if (ok[i].path != NULL) {
			assert_string_equal(ep.path, ok[i].path);
			assert_null(ep.host);
		} else {
			assert_string_equal(ep.host, ok[i].host);
			assert_string_equal(ep.port, ok[i].port);
		}
		endpoint_clear(&ep);
	}
	for (size_t i = 0; i < sizeof(bad_dests) / sizeof(bad_dests[0]);
	    i++) {
		err = NULL;
		if (lmtp_dest_parse(bad_dests[i], "24", &ep, &err) != -1)
			fail_msg("%s: accepted", bad_dests[i]);
		assert_non_null(err);
		assert_null(ep.host);
		assert_null(ep.path);
		free(err);
	}
}

/* ------------------------------------------------------------------ */
/* Scripted server */

static void
settings(struct lmtp_client_settings *set, unsigned ms)
{
	memset(set, 0, sizeof(*set));
	set->lhlo_name = "client.example";
	set->default_port = "24";
	set->timeouts.connect_ms = ms;
	set->timeouts.lhlo_ms = ms;
	set->timeouts.mail_ms = ms;
	set->timeouts.rcpt_ms = ms;
	set->timeouts.data_init_ms = ms;
	set->timeouts.data_xfer_ms = ms;
	set->timeouts.data_done_ms = ms;
	set->timeouts.rset_ms = ms;
	set->timeouts.quit_ms = ms;
}

#define GREET "220 lmtp.test LMTP ready\r\n"
#define LHLO_ALL "250-lmtp.test\r\n250-PIPELINING\r\n" \
	"250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-SIZE 100000\r\n" \
	"250-DSN\r\n250 SMTPUTF8\r\n"
#define LHLO_BARE "250 lmtp.test\r\n"
#define LHLO_PIPE "250-lmtp.test\r\n250 PIPELINING\r\n"

static const char message[] =
    "Received: from x\r\n"
    "Subject: dots\r\n"
    "\r\n"
    ".hidden\r\n"
    "..two\r\n"
    ".\r\n"
    "bare\nlf\r\n"
    "last line";
static const char message_stuffed[] =
    "Received: from x\r\n"
    "Subject: dots\r\n"
    "\r\n"
    "..hidden\r\n"
    "...two\r\n"
    "..\r\n"
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

/* Per-recipient replies mixed 250/452/550/552, with PIPELINING and DSN;
 * the body arrives dot-stuffed; RSET and QUIT afterwards. */
static void
test_conversation_mixed(void **state)
{
	char mail_line[256];
	const struct test_step steps[] = {
		{ TS_ACCEPT, NULL },
		{ TS_SEND, GREET },
		{ TS_EXPECT, "LHLO client.example" },
		{ TS_SEND, LHLO_ALL },
		{ TS_EXPECT, mail_line },
		{ TS_SEND, "250 2.1.0 OK\r\n" },
		{ TS_EXPECT, "RCPT TO:<a@example.org> NOTIFY=SUCCESS,FAILURE "
		    "ORCPT=rfc822;a+2Borig@example.org" },
		{ TS_SEND, "250 2.1.5 OK\r\n" },
		{ TS_EXPECT, "RCPT TO:<\"b c\"@example.org> NOTIFY=NEVER" },
		{ TS_SEND, "250 2.1.5 OK\r\n" },
		{ TS_EXPECT, "RCPT TO:<d@example.org>" },
		{ TS_SEND, "550 5.1.1 <d@example.org> User doesn't exist\r\n" },
		{ TS_EXPECT, "RCPT TO:<e@example.org>" },
		{ TS_SEND, "250 2.1.5 OK\r\n" },
		{ TS_EXPECT, "DATA" },
		{ TS_SEND, "354 OK\r\n" },
		{ TS_BODY, NULL },
		{ TS_SEND, "250 2.0.0 <a@example.org> Saved\r\n"
		    "452-4.2.2 mailbox\r\n452 4.2.2 full\r\n"
		    "552 5.2.2 over quota\r\n" },
		{ TS_EXPECT, "RSET" },
		{ TS_SEND, "250 2.0.0 OK\r\n" },
		{ TS_EXPECT, "QUIT" },
		{ TS_SEND, "221 2.0.0 Bye\r\n" },
		{ TS_END, NULL },
	};
	struct test_script s;
	struct lmtp_client_settings set;
	struct lmtp_failure f = { 0 };
	struct lmtp_client *c;
	struct lmtp_mail m;
	struct lmtp_rcpt r[4];
	char *dest, *t;

	snprintf(mail_line, sizeof(mail_line), "MAIL FROM:<s@example.org> "
	    "SIZE=%zu BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=id+2B1",
	    sizeof(message) - 1);
	test_script_start(&s, steps, false, NULL);
	dest = test_script_dest(&s);
	settings(&set, 10000);
	c = lmtp_client_connect(dest, &set, &f);
	if (c == NULL)
		fail_msg("connect: %s", f.text);
	assert_true(lmtp_client_caps(c)->pipelining);
	assert_true(lmtp_client_caps(c)->dsn);
	assert_int_equal(lmtp_client_caps(c)->size_max, 100000);
	assert_string_equal(lmtp_client_dest(c), dest);

	mail_init(&m, "s@example.org");
	m.body_8bitmime = true;
	m.smtputf8_param = true;
	m.envid = "id+1";
	m.ret = "HDRS";
	memset(r, 0, sizeof(r));
	r[0].address = "a@example.org";
	r[0].orcpt = "rfc822;a+orig@example.org";
	r[0].notify = DELIVER_NOTIFY_SUCCESS | DELIVER_NOTIFY_FAILURE;
	r[1].address = "b c@example.org";
	r[1].orcpt = "utf-8;b@example.org";	/* not sent */
	r[1].notify = DELIVER_NOTIFY_NEVER;
	r[2].address = "d@example.org";
	r[3].address = "e@example.org";
	if (lmtp_client_send(c, &m, r, 4, &f) != 0)
		fail_msg("send: %s", f.text);
	for (int i = 0; i < 4; i++)
		assert_true(r[i].done);
	assert_int_equal(r[0].reply.code, 250);
	assert_int_equal(r[0].stage, LMTP_STAGE_DOT);
	assert_string_equal(r[0].reply.dsn, "2.0.0");
	assert_int_equal(r[1].reply.code, 452);
	assert_string_equal(r[1].reply.dsn, "4.2.2");
	t = lmtp_reply_text(&r[1].reply, 100);
	assert_string_equal(t, "452 4.2.2 mailbox full");
	free(t);
	assert_int_equal(r[2].reply.code, 550);
	assert_int_equal(r[2].stage, LMTP_STAGE_RCPT);
	assert_string_equal(r[2].reply.dsn, "5.1.1");
	assert_int_equal(r[3].reply.code, 552);
	assert_int_equal(r[3].stage, LMTP_STAGE_DOT);
	for (int i = 0; i < 4; i++)
		lmtp_rcpt_deinit(&r[i]);
	assert_true(lmtp_client_is_open(c));
	assert_int_equal(lmtp_client_reset(c, &f), 0);
	lmtp_client_quit(&c);
	assert_null(c);
	test_script_finish(&s);
	free(dest);
}

/* The body as the server sees it: dot-stuffed, CRLF everywhere. */
static void
test_conversation_body(void **state)
{
	const struct test_step steps[] = {
		{ TS_ACCEPT, NULL },
		{ TS_SEND, GREET },
		{ TS_EXPECT, "LHLO client.example" },
		{ TS_SEND, LHLO_PIPE },
		{ TS_EXPECT, "MAIL FROM:<>" },
		{ TS_SEND, "250 OK\r\n" },
		{ TS_EXPECT, "RCPT TO:<a@example.org>" },
		{ TS_SEND, "250 OK\r\n" },
		{ TS_EXPECT, "DATA" },
		{ TS_SEND, "354 go\r\n" },
		{ TS_BODY, NULL },
		{ TS_SEND, "250 2.0.0 ok\r\n" },
		{ TS_HANG, NULL },
		{ TS_END, NULL },
	};
	struct test_script s;
	struct lmtp_client_settings set;
	struct lmtp_failure f = { 0 };
	struct lmtp_client *c;
	struct lmtp_mail m;
	struct lmtp_rcpt r;
	char *dest;

	test_script_start(&s, steps, false, NULL);
	dest = test_script_dest(&s);
	settings(&set, 10000);
	c = lmtp_client_connect(dest, &set, &f);
	assert_non_null(c);
	mail_init(&m, "");
	/* Without the extensions, none of their parameters. */
	m.body_8bitmime = true;
	m.smtputf8_param = true;
	m.envid = "x";
	m.ret = "FULL";
	memset(&r, 0, sizeof(r));
	r.address = "a@example.org";
	r.orcpt = "rfc822;a@example.org";
	r.notify = DELIVER_NOTIFY_SUCCESS;
	assert_int_equal(lmtp_client_send(c, &m, &r, 1, &f), 0);
	assert_true(r.done);
	assert_int_equal(r.reply.code, 250);
	lmtp_rcpt_deinit(&r);
	lmtp_client_free(&c);
	assert_int_equal(pthread_join(s.th, NULL), 0);
	assert_null(s.problem);
	assert_int_equal(s.body.len, strlen(message_stuffed));
	assert_memory_equal(s.body.data, message_stuffed, s.body.len);
	test_listener_remove(&s.l);
	buf_deinit(&s.body);
	buf_deinit(&s.lines);
	free(dest);
}

/* No PIPELINING: one command at a time. */
static void
test_conversation_no_pipelining(void **state)
{
	const struct test_step steps[] = {
		{ TS_ACCEPT, NULL },
		{ TS_SEND, GREET },
		{ TS_EXPECT, "LHLO client.example" },
		{ TS_SEND, LHLO_BARE },
		{ TS_EXPECT, "MAIL FROM:<s@example.org>" },
		{ TS_QUIET, NULL },
		{ TS_SEND, "250 OK\r\n" },
		{ TS_EXPECT, "RCPT TO:<a@example.org>" },
		{ TS_QUIET, NULL },
		{ TS_SEND, "450 4.2.1 try later\r\n" },
		{ TS_EXPECT, "RCPT TO:<b@example.org>" },
		{ TS_QUIET, NULL },
		{ TS_SEND, "250 OK\r\n" },
		{ TS_EXPECT, "DATA" },
		{ TS_SEND, "354 go\r\n" },
		{ TS_BODY, NULL },
		{ TS_SEND, "250 ok\r\n" },
		{ TS_EXPECT, "QUIT" },
		{ TS_SEND, "221 Bye\r\n" },
		{ TS_END, NULL },
	};
	struct test_script s;
	struct lmtp_client_settings set;
	struct lmtp_failure f = { 0 };
	struct lmtp_client *c;
	struct lmtp_mail m;
	struct lmtp_rcpt r[2];
	char *dest;

	test_script_start(&s, steps, false, NULL);
	dest = test_script_dest(&s);
	settings(&set, 10000);
	c = lmtp_client_connect(dest, &set, &f);
	assert_non_null(c);
	assert_false(lmtp_client_caps(c)->pipelining);
	mail_init(&m, "s@example.org");
	memset(r, 0, sizeof(r));
	r[0].address = "a@example.org";
	r[1].address = "b@example.org";
	assert_int_equal(lmtp_client_send(c, &m, r, 2, &f), 0);
	assert_int_equal(r[0].reply.code, 450);
	assert_int_equal(r[0].stage, LMTP_STAGE_RCPT);
	assert_int_equal(r[1].reply.code, 250);
	assert_int_equal(r[1].stage, LMTP_STAGE_DOT);
	lmtp_rcpt_deinit(&r[0]);
	lmtp_rcpt_deinit(&r[1]);
	lmtp_client_quit(&c);
	test_script_finish(&s);
	assert_false(s.pipelined);
	free(dest);
}

/* XFORWARD offered (LMTP, pipelining): the listed attributes in one
 * command, awaited before MAIL FROM. */
static void
test_conversation_xforward(void **state)
{
	const struct test_step steps[] = {
		{ TS_ACCEPT, NULL },
		{ TS_SEND, GREET },
		{ TS_EXPECT, "LHLO client.example" },
		{ TS_SEND, "250-lmtp.test\r\n250-PIPELINING\r\n"
		    "250 XFORWARD NAME ADDR PROTO HELO SOURCE\r\n" },
		{ TS_EXPECT, "XFORWARD NAME=localhost ADDR=127.0.0.1 "
		    "PROTO=local HELO=[UNAVAILABLE] SOURCE=LOCAL" },
		{ TS_QUIET, NULL },
		{ TS_SEND, "250 OK\r\n" },
		{ TS_EXPECT, "MAIL FROM:<s@example.org>" },
		{ TS_EXPECT, "RCPT TO:<a@example.org>" },
		{ TS_SEND, "250 OK\r\n250 OK\r\n" },
		{ TS_EXPECT, "DATA" },
		{ TS_SEND, "354 go\r\n" },
		{ TS_BODY, NULL },
		{ TS_SEND, "250 ok\r\n" },
		{ TS_EXPECT, "QUIT" },
		{ TS_SEND, "221 Bye\r\n" },
		{ TS_END, NULL },
	};
	const struct lmtp_xforward xf = {
		.name = "localhost", .addr = "127.0.0.1", .proto = "local",
		.helo = "", .ident = "4ABCD", .source = "LOCAL",
	};
	struct test_script s;
	struct lmtp_client_settings set;
	struct lmtp_failure f = { 0 };
	struct lmtp_client *c;
	struct lmtp_mail m;
	struct lmtp_rcpt r;
	char *dest;

	test_script_start(&s, steps, false, NULL);
	dest = test_script_dest(&s);
	settings(&set, 10000);
	c = lmtp_client_connect(dest, &set, &f);
	assert_non_null(c);
	mail_init(&m, "s@example.org");
	m.xforward = &xf;
	memset(&r, 0, sizeof(r));
	r.address = "a@example.org";
	assert_int_equal(lmtp_client_send(c, &m, &r, 1, &f), 0);
	assert_int_equal(r.reply.code, 250);
	lmtp_rcpt_deinit(&r);
	lmtp_client_quit(&c);
	test_script_finish(&s);
	free(dest);
}

/* MAIL refused (pipelined: the RCPT errors are read and ignored), then
 * DATA refused on the same connection after RSET. */
static void
test_conversation_refusals(void **state)
{
	const struct test_step steps[] = {
		{ TS_ACCEPT, NULL },
		{ TS_SEND, GREET },
		{ TS_EXPECT, "LHLO client.example" },
		{ TS_SEND, LHLO_PIPE },
		{ TS_EXPECT, "MAIL FROM:<s@example.org>" },
		{ TS_SEND, "451 4.3.0 temporary failure\r\n" },
		{ TS_EXPECT, "RCPT TO:<a@example.org>" },
		{ TS_SEND, "503 5.5.1 MAIL needed first\r\n" },
		{ TS_EXPECT, "RSET" },
		{ TS_SEND, "250 OK\r\n" },
		{ TS_EXPECT, "MAIL FROM:<s@example.org>" },
		{ TS_SEND, "250 OK\r\n" },
		{ TS_EXPECT, "RCPT TO:<a@example.org>" },
		{ TS_SEND, "250 OK\r\n" },
		{ TS_EXPECT, "RCPT TO:<b@example.org>" },
		{ TS_SEND, "550 5.1.1 no\r\n" },
		{ TS_EXPECT, "DATA" },
		{ TS_SEND, "554 5.3.0 no DATA today\r\n" },
		{ TS_EXPECT, "RSET" },
		{ TS_SEND, "250 OK\r\n" },
		{ TS_EXPECT, "MAIL FROM:<s@example.org>" },
		{ TS_SEND, "250 OK\r\n" },
		{ TS_EXPECT, "RCPT TO:<a@example.org>" },
		{ TS_SEND, "550 5.1.1 no\r\n" },
		{ TS_EXPECT, "QUIT" },
		{ TS_SEND, "221 Bye\r\n" },
		{ TS_END, NULL },
	};
	struct test_script s;
	struct lmtp_client_settings set;
	struct lmtp_failure f = { 0 };
	struct lmtp_client *c;
	struct lmtp_mail m;
	struct lmtp_rcpt r[2];
	char *dest;

	test_script_start(&s, steps, false, NULL);
	dest = test_script_dest(&s);
	settings(&set, 10000);
	c = lmtp_client_connect(dest, &set, &f);
	assert_non_null(c);
	mail_init(&m, "s@example.org");
	memset(r, 0, sizeof(r));
	r[0].address = "a@example.org";
	r[1].address = "b@example.org";

	assert_int_equal(lmtp_client_send(c, &m, r, 1, &f), -1);
	assert_int_equal(f.kind, LMTP_FAIL_REPLY);
	assert_int_equal(f.stage, LMTP_STAGE_MAIL);
	assert_int_equal(f.reply.code, 451);
	assert_string_equal(f.reply.dsn, "4.3.0");
	assert_non_null(strstr(f.text, "said: 451 4.3.0 temporary failure "
	    "(in reply to MAIL FROM command)"));
	assert_non_null(strstr(f.text, dest));
	assert_false(r[0].done);
	lmtp_failure_deinit(&f);
	assert_true(lmtp_client_is_open(c));
	assert_int_equal(lmtp_client_reset(c, &f), 0);

	assert_int_equal(lmtp_client_send(c, &m, r, 2, &f), -1);
	assert_int_equal(f.kind, LMTP_FAIL_REPLY);
	assert_int_equal(f.stage, LMTP_STAGE_DATA);
	assert_int_equal(f.reply.code, 554);
	assert_false(r[0].done);
	assert_true(r[1].done);
	assert_int_equal(r[1].reply.code, 550);
	lmtp_rcpt_deinit(&r[1]);
	lmtp_failure_deinit(&f);
	assert_int_equal(lmtp_client_reset(c, &f), 0);

	/* Every recipient refused: no DATA, 0. */
	assert_int_equal(lmtp_client_send(c, &m, r, 1, &f), 0);
	assert_true(r[0].done);
	assert_int_equal(r[0].reply.code, 550);
	lmtp_rcpt_deinit(&r[0]);
	lmtp_client_quit(&c);
	test_script_finish(&s);
	free(dest);
}

/* A big message to a server that says 421 and closes mid-DATA. */
static void
test_conversation_close_mid_data(void **state)
{
	const struct test_step steps[] = {
		{ TS_ACCEPT, NULL },
		{ TS_SEND, GREET },
		{ TS_EXPECT, "LHLO client.example" },
		{ TS_SEND, LHLO_PIPE },
		{ TS_EXPECT, "MAIL FROM:<s@example.org>" },
		{ TS_SEND, "250 OK\r\n" },
		{ TS_EXPECT, "RCPT TO:<a@example.org>" },
		{ TS_SEND, "250 OK\r\n" },
		{ TS_EXPECT, "DATA" },
		{ TS_SEND, "354 go\r\n" },
		{ TS_BODY_PART, NULL },
		{ TS_SEND, "421 4.3.2 shutting down\r\n" },
		{ TS_CLOSE, NULL },
		{ TS_END, NULL },
	};
	struct test_script s;
	struct lmtp_client_settings set;
	struct lmtp_failure f = { 0 };
	struct lmtp_client *c;
	struct lmtp_mail m;
	struct lmtp_rcpt r;
	char *dest, *big;
	size_t biglen = 4 << 20;

	big = xmalloc(biglen);
	for (size_t i = 0; i < biglen; i++)
		big[i] = (i % 80 == 79) ? '\n' : 'x';
	test_script_start(&s, steps, false, NULL);
	dest = test_script_dest(&s);
	settings(&set, 10000);
	c = lmtp_client_connect(dest, &set, &f);
	assert_non_null(c);
	mail_init(&m, "s@example.org");
	m.content = big;
	m.len = biglen;
	memset(&r, 0, sizeof(r));
	r.address = "a@example.org";
	assert_int_equal(lmtp_client_send(c, &m, &r, 1, &f), -1);
	assert_int_equal(f.kind, LMTP_FAIL_CONVERSATION);
	assert_true(f.stage == LMTP_STAGE_MESSAGE ||
	    f.stage == LMTP_STAGE_DOT);
	assert_non_null(strstr(f.text, "lost connection with LMTP server"));
	assert_non_null(strstr(f.text, dest));
	/* What it said before it closed is in the words. */
	if (strstr(f.text, "while sending the message") == NULL ||
	    strstr(f.text, "(the server said: 421 4.3.2 shutting down)") ==
	    NULL)
		fail_msg("text: %s", f.text);
	assert_false(r.done);
	assert_false(lmtp_client_is_open(c));
	lmtp_failure_deinit(&f);
	/* A closed client fails at once and says so. */
	assert_int_equal(lmtp_client_reset(c, &f), -1);
	assert_int_equal(f.kind, LMTP_FAIL_CONVERSATION);
	lmtp_failure_deinit(&f);
	lmtp_client_quit(&c);
	test_script_finish(&s);
	free(big);
	free(dest);
}

/* A server that accepts and never says a word; one that goes silent
 * after the message. */
static void
test_conversation_timeouts(void **state)
{
	const struct test_step silent[] = {
		{ TS_ACCEPT, NULL },
		{ TS_HANG, NULL },
		{ TS_END, NULL },
	};
	const struct test_step silent_dot[] = {
		{ TS_ACCEPT, NULL },
		{ TS_SEND, GREET },
		{ TS_EXPECT, "LHLO client.example" },
		{ TS_SEND, LHLO_PIPE },
		{ TS_EXPECT, "MAIL FROM:<s@example.org>" },
		{ TS_SEND, "250 OK\r\n" },
		{ TS_EXPECT, "RCPT TO:<a@example.org>" },
		{ TS_SEND, "250 OK\r\n" },
		{ TS_EXPECT, "RCPT TO:<b@example.org>" },
		{ TS_SEND, "250 OK\r\n" },
		{ TS_EXPECT, "DATA" },
		{ TS_SEND, "354 go\r\n" },
		{ TS_BODY, NULL },
		{ TS_SEND, "250 2.0.0 first done\r\n" },
		{ TS_HANG, NULL },
		{ TS_END, NULL },
	};
	struct test_script s;
	struct lmtp_client_settings set;
	struct lmtp_failure f = { 0 };
	struct lmtp_client *c;
	struct lmtp_mail m;
	struct lmtp_rcpt r[2];
	char *dest;

	test_script_start(&s, silent, false, NULL);
	dest = test_script_dest(&s);
	settings(&set, 10000);
	set.timeouts.lhlo_ms = 300;
	c = lmtp_client_connect(dest, &set, &f);
	assert_null(c);
	assert_int_equal(f.kind, LMTP_FAIL_CONVERSATION);
	assert_int_equal(f.stage, LMTP_STAGE_GREETING);
	assert_non_null(strstr(f.text, "timed out after 0.300s while "
	    "receiving the initial greeting"));
	lmtp_failure_deinit(&f);
	test_script_finish(&s);
	free(dest);

	test_script_start(&s, silent_dot, false, NULL);
	dest = test_script_dest(&s);
	settings(&set, 10000);
	set.timeouts.data_done_ms = 300;
	c = lmtp_client_connect(dest, &set, &f);
	assert_non_null(c);
	mail_init(&m, "s@example.org");
	memset(r, 0, sizeof(r));
	r[0].address = "a@example.org";
	r[1].address = "b@example.org";
	assert_int_equal(lmtp_client_send(c, &m, r, 2, &f), -1);
	assert_int_equal(f.kind, LMTP_FAIL_CONVERSATION);
	assert_int_equal(f.stage, LMTP_STAGE_DOT);
	assert_non_null(strstr(f.text, "timed out"));
	assert_true(r[0].done);
	assert_int_equal(r[0].reply.code, 250);
	assert_false(r[1].done);
	assert_false(lmtp_client_is_open(c));
	lmtp_rcpt_deinit(&r[0]);
	lmtp_failure_deinit(&f);
	lmtp_client_free(&c);
	test_script_finish(&s);
	free(dest);
}

/* Greeting refused, malformed LHLO reply, nobody listening. */
static void
test_conversation_connect_failures(void **state)
{
	const struct test_step refuse[] = {
		{ TS_ACCEPT, NULL },
		{ TS_SEND, "554 5.3.2 not today\r\n" },
		{ TS_HANG, NULL },
		{ TS_END, NULL },
	};
	const struct test_step garbled[] = {
		{ TS_ACCEPT, NULL },
		{ TS_SEND, GREET },
		{ TS_EXPECT, "LHLO client.example" },
		{ TS_SEND, "250-lmtp.test\r\n220 what\r\n" },
		{ TS_HANG, NULL },
		{ TS_END, NULL },
	};
	struct test_script s;
	struct lmtp_client_settings set;
	struct lmtp_failure f = { 0 };
	struct lmtp_client *c;
	char *dest;

	settings(&set, 10000);
	test_script_start(&s, refuse, false, NULL);
	dest = test_script_dest(&s);
	c = lmtp_client_connect(dest, &set, &f);
	assert_null(c);
	assert_int_equal(f.kind, LMTP_FAIL_REPLY);
	assert_int_equal(f.stage, LMTP_STAGE_GREETING);
	assert_int_equal(f.reply.code, 554);
	assert_non_null(strstr(f.text, "refused to talk to me: 554 5.3.2 "
	    "not today"));
	lmtp_failure_deinit(&f);
	test_script_finish(&s);
	free(dest);

	test_script_start(&s, garbled, false, NULL);
	dest = test_script_dest(&s);
	c = lmtp_client_connect(dest, &set, &f);
	assert_null(c);
	assert_int_equal(f.kind, LMTP_FAIL_CONVERSATION);
	assert_int_equal(f.stage, LMTP_STAGE_LHLO);
	assert_non_null(strstr(f.text, "malformed reply"));
	assert_non_null(strstr(f.text, "different codes"));
	lmtp_failure_deinit(&f);
	test_script_finish(&s);
	free(dest);

	c = lmtp_client_connect("unix:/nonexistent-ostia-dir/lmtp", &set,
	    &f);
	assert_null(c);
	assert_int_equal(f.kind, LMTP_FAIL_CONNECT);
	assert_string_equal(f.text, "cannot connect to LMTP server "
	    "unix:/nonexistent-ostia-dir/lmtp: No such file or directory");
	lmtp_failure_deinit(&f);

	c = lmtp_client_connect("[127.0.0.1", &set, &f);
	assert_null(c);
	assert_int_equal(f.kind, LMTP_FAIL_CONNECT);
	assert_non_null(strstr(f.text, "bad LMTP destination"));
	lmtp_failure_deinit(&f);
}

/* Refused here: SMTPUTF8 needed but not offered, over the SIZE limit;
 * nothing is sent. */
static void
test_local_refusals(void **state)
{
	const struct test_step steps[] = {
		{ TS_ACCEPT, NULL },
		{ TS_SEND, GREET },
		{ TS_EXPECT, "LHLO client.example" },
		{ TS_SEND, "250-lmtp.test\r\n250-PIPELINING\r\n250 SIZE 10\r\n" },
		{ TS_EXPECT, "QUIT" },
		{ TS_SEND, "221 Bye\r\n" },
		{ TS_END, NULL },
	};
	struct test_script s;
	struct lmtp_client_settings set;
	struct lmtp_failure f = { 0 };
	struct lmtp_client *c;
	struct lmtp_mail m;
	struct lmtp_rcpt r;
	char *dest;

	test_script_start(&s, steps, false, NULL);
	dest = test_script_dest(&s);
	settings(&set, 10000);
	c = lmtp_client_connect(dest, &set, &f);
	assert_non_null(c);
	mail_init(&m, "s@example.org");
	memset(&r, 0, sizeof(r));
	r.address = "j\xc3\xb6rg@example.org";
	m.smtputf8 = true;
	m.smtputf8_param = true;
	assert_int_equal(lmtp_client_send(c, &m, &r, 1, &f), -1);
	assert_int_equal(f.kind, LMTP_FAIL_LOCAL);
	assert_string_equal(f.dsn, "5.6.7");
	assert_non_null(strstr(f.text, "SMTPUTF8"));
	lmtp_failure_deinit(&f);
	m.smtputf8 = false;
	r.address = "a@example.org";
	assert_int_equal(lmtp_client_send(c, &m, &r, 1, &f), -1);
	assert_int_equal(f.kind, LMTP_FAIL_LOCAL);
	assert_string_equal(f.dsn, "5.3.4");
	assert_non_null(strstr(f.text, "size limit 10"));
	lmtp_failure_deinit(&f);
	r.address = "a\r\nRSET@example.org";
	m.len = 5;
	assert_int_equal(lmtp_client_send(c, &m, &r, 1, &f), -1);
	assert_int_equal(f.kind, LMTP_FAIL_LOCAL);
	assert_string_equal(f.dsn, "5.1.3");
	lmtp_failure_deinit(&f);
	lmtp_client_quit(&c);
	test_script_finish(&s);
	free(dest);
}

/* The connection closed (with a 421) while idle: reset says so. */
static void
test_idle_close(void **state)
{
	const struct test_step steps[] = {
		{ TS_ACCEPT, NULL },
		{ TS_SEND, GREET },
		{ TS_EXPECT, "LHLO client.example" },
		{ TS_SEND, LHLO_PIPE },
		{ TS_SEND, "421 4.4.2 idle for too long\r\n" },
		{ TS_CLOSE, NULL },
		{ TS_END, NULL },
	};
	struct test_script s;
	struct lmtp_client_settings set;
	struct lmtp_failure f = { 0 };
	struct lmtp_client *c;
	char *dest;

	test_script_start(&s, steps, false, NULL);
	dest = test_script_dest(&s);
	settings(&set, 10000);
	c = lmtp_client_connect(dest, &set, &f);
	assert_non_null(c);
	assert_int_equal(pthread_join(s.th, NULL), 0);
	assert_int_equal(lmtp_client_reset(c, &f), -1);
	assert_int_equal(f.kind, LMTP_FAIL_CONVERSATION);
	assert_non_null(strstr(f.text, "closed the connection while it was "
	    "idle"));
	assert_non_null(strstr(f.text, "421 4.4.2 idle for too long"));
	assert_false(lmtp_client_is_open(c));
	lmtp_failure_deinit(&f);
	lmtp_client_free(&c);
	test_listener_remove(&s.l);
	assert_null(s.problem);
	buf_deinit(&s.body);
	buf_deinit(&s.lines);
	free(dest);
}

/* TCP, and many pipelined recipients (more than one flush of
 * commands) to a server that answers each as it reads it. */
static void
test_tcp_many_rcpts(void **state)
{
	enum { NRCPT = 1000 };
	struct test_step *steps = xcalloc(3 * NRCPT + 20, sizeof(*steps));
	char **lines = xcalloc(NRCPT, sizeof(*lines));
	struct test_script s;
	struct lmtp_client_settings set;
	struct lmtp_failure f = { 0 };
	struct lmtp_client *c;
	struct lmtp_mail m;
	struct lmtp_rcpt *r = xcalloc(NRCPT, sizeof(*r));
	char *dest, **addrs = xcalloc(NRCPT, sizeof(*addrs));
	size_t k = 0;

	steps[k++] = (struct test_step){ TS_ACCEPT, NULL };
	steps[k++] = (struct test_step){ TS_SEND, GREET };
	steps[k++] = (struct test_step){ TS_EXPECT, "LHLO client.example" };
	steps[k++] = (struct test_step){ TS_SEND, LHLO_PIPE };
	steps[k++] = (struct test_step){ TS_EXPECT, "MAIL FROM:<s@example.org>" };
	steps[k++] = (struct test_step){ TS_SEND, "250 OK\r\n" };
	for (int i = 0; i < NRCPT; i++) {
		/* Long addresses: the commands pass the flush size. */
		addrs[i] = xasprintf("user%04d.%0200d@example.org", i, 0);
		lines[i] = xasprintf("RCPT TO:<%s>", addrs[i]);
		steps[k++] = (struct test_step){ TS_EXPECT, lines[i] };
		steps[k++] = (struct test_step){ TS_SEND, i % 2 ? "550 5.1.1 no\r\n" :
		    "250 2.1.5 OK, and some text to fill the socket buffer of "
		    "the client while it is still writing\r\n" };
		r[i].address = addrs[i];
	}
	steps[k++] = (struct test_step){ TS_EXPECT, "DATA" };
	steps[k++] = (struct test_step){ TS_SEND, "354 go\r\n" };
	steps[k++] = (struct test_step){ TS_BODY, NULL };
	for (int i = 0; i < NRCPT; i += 2)
		steps[k++] = (struct test_step){ TS_SEND, "250 2.0.0 ok\r\n" };
	steps[k++] = (struct test_step){ TS_HANG, NULL };
	steps[k++] = (struct test_step){ TS_END, NULL };

	test_script_start(&s, steps, true, NULL);
	dest = test_script_dest(&s);
	settings(&set, 10000);
	c = lmtp_client_connect(dest, &set, &f);
	if (c == NULL)
		fail_msg("connect: %s", f.text);
	mail_init(&m, "s@example.org");
	if (lmtp_client_send(c, &m, r, NRCPT, &f) != 0)
		fail_msg("send: %s", f.text);
	for (int i = 0; i < NRCPT; i++) {
		assert_true(r[i].done);
		assert_int_equal(r[i].reply.code, i % 2 ? 550 : 250);
		assert_int_equal(r[i].stage, i % 2 ? LMTP_STAGE_RCPT :
		    LMTP_STAGE_DOT);
		lmtp_rcpt_deinit(&r[i]);
	}
	lmtp_client_free(&c);
	test_script_finish(&s);
	for (int i = 0; i < NRCPT; i++) {
		free(lines[i]);
		free(addrs[i]);
	}
	free(lines);
	free(addrs);
	free(r);
	free(steps);
	free(dest);

	/* "[127.0.0.1]:PORT" and a refused TCP connection. */
	{
		const struct test_step quick[] = {
			{ TS_ACCEPT, NULL },
			{ TS_SEND, GREET },
			{ TS_EXPECT, "LHLO client.example" },
			{ TS_SEND, LHLO_BARE },
			{ TS_EXPECT, "QUIT" },
			{ TS_SEND, "221 Bye\r\n" },
			{ TS_END, NULL },
		};
		unsigned port;

		test_script_start(&s, quick, true, NULL);
		port = s.l.port;
		dest = xasprintf("[127.0.0.1]:%u", port);
		c = lmtp_client_connect(dest, &set, &f);
		assert_non_null(c);
		lmtp_client_quit(&c);
		test_script_finish(&s);
		free(dest);
		dest = xasprintf("inet:127.0.0.1:%u", port);
		c = lmtp_client_connect(dest, &set, &f);
		assert_null(c);
		assert_int_equal(f.kind, LMTP_FAIL_CONNECT);
		assert_non_null(strstr(f.text, "Connection refused"));
		lmtp_failure_deinit(&f);
		free(dest);
	}
}

/* ------------------------------------------------------------------ */
/* SMTP mode, HELO, AUTH without TLS */

#define SMTP_GREET "220 mx.remote.test ESMTP\r\n"
#define EHLO_AUTH "250-mx.remote.test\r\n250-PIPELINING\r\n" \
	"250-AUTH LOGIN PLAIN\r\n250 8BITMIME\r\n"

static void
smtp_settings(struct lmtp_client_settings *set)
{
	settings(set, 10000);
	set->protocol = LMTP_PROTO_SMTP;
	set->peer_name = "mx.remote.test[127.0.0.1]:25";
	set->timeouts.starttls_ms = 10000;
}

/* The new keywords: STARTTLS, AUTH and the old AUTH= form. */
static void
test_caps_smtp(void **state)
{
	static const struct {
		const char *in;
		bool starttls, plain, login;
	} cases[] = {
		{ "250-x\r\n250-STARTTLS\r\n250 AUTH PLAIN LOGIN\r\n", true,
		    true, true },
		{ "250-x\r\n250-auth cram-md5 login\r\n250 8BITMIME\r\n",
		    false, false, true },
		{ "250-x\r\n250-AUTH=PLAIN\r\n250 STARTTLSX\r\n", false, true,
		    false },
		{ "250-x\r\n250-AUTHX PLAIN\r\n250 AUTH\r\n", false, false,
		    false },
		{ "250 AUTH PLAIN\r\n", false, false, false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct lmtp_reply r;
		struct lmtp_caps caps;
		const char *err;
		size_t used;

		memset(&r, 0, sizeof(r));
		assert_int_equal(parse_with(cases[i].in, strlen(cases[i].in),
		    0, &r, &used, &err), 1);
		lmtp_caps_parse(&r, &caps);
		if (caps.starttls != cases[i].starttls ||
		    caps.auth_plain != cases[i].plain ||
		    caps.auth_login != cases[i].login)
			fail_msg("case %zu: %d %d %d", i, caps.starttls,
			    caps.auth_plain, caps.auth_login);
		lmtp_reply_deinit(&r);
	}
	assert_string_equal(lmtp_stage_command(LMTP_STAGE_STARTTLS),
	    "STARTTLS");
	assert_string_equal(lmtp_stage_command(LMTP_STAGE_AUTH), "AUTH");
	assert_string_equal(lmtp_stage_command(LMTP_STAGE_XFORWARD),
	    "XFORWARD");
}

/* SMTP: EHLO, pipelined MAIL/RCPT, and ONE reply after the dot for
 * every accepted recipient; texts name the peer as told. */
static void
test_smtp_one_reply(void **state)
{
	const struct test_step steps[] = {
		{ TS_ACCEPT, NULL },
		{ TS_SEND, SMTP_GREET },
		{ TS_EXPECT, "EHLO client.example" },
		{ TS_SEND, "250-mx.remote.test\r\n250-PIPELINING\r\n"
		    "250 ENHANCEDSTATUSCODES\r\n" },
		{ TS_EXPECT, "MAIL FROM:<s@example.org>" },
		{ TS_SEND, "250 2.1.0 OK\r\n" },
		{ TS_EXPECT, "RCPT TO:<a@example.org>" },
		{ TS_SEND, "250 2.1.5 OK\r\n" },
		{ TS_EXPECT, "RCPT TO:<b@example.org>" },
		{ TS_SEND, "550 5.1.1 no such user\r\n" },
		{ TS_EXPECT, "RCPT TO:<c@example.org>" },
		{ TS_SEND, "250 2.1.5 OK\r\n" },
		{ TS_EXPECT, "DATA" },
		{ TS_SEND, "354 go\r\n" },
		{ TS_BODY, NULL },
		{ TS_SEND, "250 2.0.0 Ok: queued as 4XyZ\r\n" },
		{ TS_EXPECT, "RSET" },
		{ TS_SEND, "250 2.0.0 OK\r\n" },
		{ TS_EXPECT, "MAIL FROM:<s@example.org>" },
		{ TS_SEND, "452 4.3.1 insufficient system storage\r\n" },
		{ TS_EXPECT, "RCPT TO:<a@example.org>" },
		{ TS_SEND, "503 5.5.1 no MAIL\r\n" },
		{ TS_EXPECT, "QUIT" },
		{ TS_SEND, "221 2.0.0 Bye\r\n" },
		{ TS_END, NULL },
	};
	struct test_script s;
	struct lmtp_client_settings set;
	struct lmtp_failure f = { 0 };
	struct lmtp_client *c;
	struct lmtp_mail m;
	struct lmtp_rcpt r[3];
	char *dest;

	test_script_start(&s, steps, true, NULL);
	dest = test_script_dest(&s);
	smtp_settings(&set);
	c = lmtp_client_connect(dest, &set, &f);
	if (c == NULL)
		fail_msg("connect: %s", f.text);
	assert_false(lmtp_client_helo(c));
	assert_null(lmtp_client_tls(c));
	assert_string_equal(lmtp_client_stage_command(c, LMTP_STAGE_LHLO),
	    "EHLO");
	mail_init(&m, "s@example.org");
	memset(r, 0, sizeof(r));
	r[0].address = "a@example.org";
	r[1].address = "b@example.org";
	r[2].address = "c@example.org";
	if (lmtp_client_send(c, &m, r, 3, &f) != 0)
		fail_msg("send: %s", f.text);
	assert_true(r[0].done && r[1].done && r[2].done);
	assert_int_equal(r[0].stage, LMTP_STAGE_DOT);
	assert_int_equal(r[0].reply.code, 250);
	assert_string_equal(r[0].reply.lines[0], "2.0.0 Ok: queued as 4XyZ");
	assert_int_equal(r[1].stage, LMTP_STAGE_RCPT);
	assert_int_equal(r[1].reply.code, 550);
	assert_int_equal(r[2].stage, LMTP_STAGE_DOT);
	assert_string_equal(r[2].reply.lines[0], "2.0.0 Ok: queued as 4XyZ");
	for (int i = 0; i < 3; i++)
		lmtp_rcpt_deinit(&r[i]);
	assert_int_equal(lmtp_client_reset(c, &f), 0);
	/* A refusal of MAIL names the peer as set, and says SMTP. */
	memset(r, 0, sizeof(r));
	r[0].address = "a@example.org";
	assert_int_equal(lmtp_client_send(c, &m, r, 1, &f), -1);
	assert_int_equal(f.kind, LMTP_FAIL_REPLY);
	assert_string_equal(f.text, "SMTP server mx.remote.test[127.0.0.1]:25 "
	    "said: 452 4.3.1 insufficient system storage (in reply to MAIL "
	    "FROM command)");
	lmtp_failure_deinit(&f);
	lmtp_rcpt_deinit(&r[0]);
	lmtp_client_quit(&c);
	test_script_finish(&s);
	free(dest);
}

/* EHLO refused with 5xx: HELO, no extensions (no SIZE, no pipelining);
 * a 4xx to EHLO is a refusal, not a reason for HELO. */
static void
test_smtp_helo_fallback(void **state)
{
	const struct test_step steps[] = {
		{ TS_ACCEPT, NULL },
		{ TS_SEND, SMTP_GREET },
		{ TS_EXPECT, "EHLO client.example" },
		{ TS_SEND, "502 5.5.2 what?\r\n" },
		{ TS_EXPECT, "HELO client.example" },
		{ TS_SEND, "250 mx.remote.test\r\n" },
		{ TS_EXPECT, "MAIL FROM:<s@example.org>" },
		{ TS_QUIET, NULL },
		{ TS_SEND, "250 OK\r\n" },
		{ TS_EXPECT, "RCPT TO:<a@example.org>" },
		{ TS_SEND, "250 OK\r\n" },
		{ TS_EXPECT, "DATA" },
		{ TS_SEND, "354 go\r\n" },
		{ TS_BODY, NULL },
		{ TS_SEND, "250 OK\r\n" },
		{ TS_EXPECT, "QUIT" },
		{ TS_SEND, "221 Bye\r\n" },
		{ TS_ACCEPT, NULL },
		{ TS_SEND, SMTP_GREET },
		{ TS_EXPECT, "EHLO client.example" },
		{ TS_SEND, "421 4.3.2 busy\r\n" },
		{ TS_EOF, NULL },
		{ TS_END, NULL },
	};
	struct test_script s;
	struct lmtp_client_settings set;
	struct lmtp_failure f = { 0 };
	struct lmtp_client *c;
	struct lmtp_mail m;
	struct lmtp_rcpt r[1];
	char *dest;

	test_script_start(&s, steps, true, NULL);
	dest = test_script_dest(&s);
	smtp_settings(&set);
	c = lmtp_client_connect(dest, &set, &f);
	if (c == NULL)
		fail_msg("connect: %s", f.text);
	assert_true(lmtp_client_helo(c));
	assert_false(lmtp_client_caps(c)->pipelining);
	assert_false(lmtp_client_caps(c)->size);
	assert_string_equal(lmtp_client_stage_command(c, LMTP_STAGE_LHLO),
	    "HELO");
	mail_init(&m, "s@example.org");
	m.body_8bitmime = true;
	memset(r, 0, sizeof(r));
	r[0].address = "a@example.org";
	if (lmtp_client_send(c, &m, r, 1, &f) != 0)
		fail_msg("send: %s", f.text);
	assert_int_equal(r[0].reply.code, 250);
	lmtp_rcpt_deinit(&r[0]);
	lmtp_client_quit(&c);
	assert_false(s.pipelined);

	c = lmtp_client_connect(dest, &set, &f);
	assert_null(c);
	assert_int_equal(f.kind, LMTP_FAIL_REPLY);
	assert_int_equal(f.stage, LMTP_STAGE_LHLO);
	assert_non_null(strstr(f.text, "(in reply to EHLO command)"));
	lmtp_failure_deinit(&f);
	test_script_finish(&s);
	free(dest);
}

static void
capture_log(enum log_level level, const char *text, void *ctx)
{
	buf_appendf(ctx, "%s\n", text);
}

/* AUTH PLAIN and LOGIN byte for byte (plaintext allowed), a refusal,
 * and no AUTH at all without TLS unless allowed.  The debug log of the
 * conversation shows neither the password nor its base64. */
static void
test_smtp_auth_plaintext(void **state)
{
	const struct test_step steps[] = {
		/* PLAIN: "\0user@example.org\0pa ss" */
		{ TS_ACCEPT, NULL },
		{ TS_SEND, SMTP_GREET },
		{ TS_EXPECT, "EHLO client.example" },
		{ TS_SEND, EHLO_AUTH },
		{ TS_EXPECT, "AUTH PLAIN AHVzZXJAZXhhbXBsZS5vcmcAcGEgc3M=" },
		{ TS_SEND, "235 2.7.0 Authentication successful\r\n" },
		{ TS_EXPECT, "QUIT" },
		{ TS_SEND, "221 Bye\r\n" },
		/* LOGIN: offered alone. */
		{ TS_ACCEPT, NULL },
		{ TS_SEND, SMTP_GREET },
		{ TS_EXPECT, "EHLO client.example" },
		{ TS_SEND, "250-mx.remote.test\r\n250 AUTH=LOGIN\r\n" },
		{ TS_EXPECT, "AUTH LOGIN" },
		{ TS_SEND, "334 VXNlcm5hbWU6\r\n" },
		{ TS_EXPECT, "dXNlckBleGFtcGxlLm9yZw==" },
		{ TS_SEND, "334 UGFzc3dvcmQ6\r\n" },
		{ TS_EXPECT, "cGEgc3M=" },
		{ TS_SEND, "235 2.7.0 OK\r\n" },
		{ TS_EXPECT, "QUIT" },
		{ TS_SEND, "221 Bye\r\n" },
		/* Refused. */
		{ TS_ACCEPT, NULL },
		{ TS_SEND, SMTP_GREET },
		{ TS_EXPECT, "EHLO client.example" },
		{ TS_SEND, EHLO_AUTH },
		{ TS_EXPECT, "AUTH PLAIN AHVzZXJAZXhhbXBsZS5vcmcAcGEgc3M=" },
		{ TS_SEND, "535 5.7.8 Error: authentication failed\r\n" },
		{ TS_EOF, NULL },
		/* Not allowed without TLS: nothing sent after EHLO. */
		{ TS_ACCEPT, NULL },
		{ TS_SEND, SMTP_GREET },
		{ TS_EXPECT, "EHLO client.example" },
		{ TS_SEND, EHLO_AUTH },
		{ TS_EOF, NULL },
		/* No mechanism in common. */
		{ TS_ACCEPT, NULL },
		{ TS_SEND, SMTP_GREET },
		{ TS_EXPECT, "EHLO client.example" },
		{ TS_SEND, "250-mx.remote.test\r\n250 AUTH CRAM-MD5\r\n" },
		{ TS_EOF, NULL },
		{ TS_END, NULL },
	};
	struct test_script s;
	struct lmtp_client_settings set;
	struct lmtp_failure f = { 0 };
	struct lmtp_client *c;
	struct buf logged;
	char *dest;

	test_script_start(&s, steps, true, NULL);
	dest = test_script_dest(&s);
	smtp_settings(&set);
	set.auth_user = "user@example.org";
	set.auth_pass = "pa ss";
	set.auth_plaintext_ok = true;
	buf_init(&logged, 1 << 20);
	log_set_capture(capture_log, &logged);
	log_set_verbose(2);
	for (int i = 0; i < 2; i++) {
		c = lmtp_client_connect(dest, &set, &f);
		if (c == NULL)
			fail_msg("connect %d: %s", i, f.text);
		assert_true(lmtp_client_authenticated(c));
		lmtp_client_quit(&c);
	}
	log_set_verbose(0);
	log_set_capture(NULL, NULL);
	assert_non_null(strstr(buf_cstr(&logged), "> AUTH PLAIN ********"));
	assert_non_null(strstr(buf_cstr(&logged), "> AUTH LOGIN"));
	assert_non_null(strstr(buf_cstr(&logged), "< 334 VXNlcm5hbWU6"));
	assert_null(strstr(buf_cstr(&logged), "AHVzZXJAZXhhbXBsZS5vcmcAcGEgc3M"));
	assert_null(strstr(buf_cstr(&logged), "cGEgc3M"));
	assert_null(strstr(buf_cstr(&logged), "dXNlckBleGFtcGxlLm9yZw"));
	assert_null(strstr(buf_cstr(&logged), "pa ss"));
	buf_deinit(&logged);
	c = lmtp_client_connect(dest, &set, &f);
	assert_null(c);
	assert_int_equal(f.kind, LMTP_FAIL_AUTH);
	assert_int_equal(f.stage, LMTP_STAGE_AUTH);
	assert_int_equal(f.reply.code, 535);
	assert_string_equal(f.dsn, "5.7.8");
	assert_non_null(strstr(f.text, "refused to authenticate "
	    "user@example.org with PLAIN: 535 5.7.8"));
	assert_null(strstr(f.text, "pa ss"));
	lmtp_failure_deinit(&f);

	set.auth_plaintext_ok = false;
	c = lmtp_client_connect(dest, &set, &f);
	assert_null(c);
	assert_int_equal(f.kind, LMTP_FAIL_AUTH);
	assert_string_equal(f.dsn, "4.7.8");
	assert_int_equal(f.reply.nlines, 0);
	assert_non_null(strstr(f.text, "without TLS"));
	lmtp_failure_deinit(&f);

	set.auth_plaintext_ok = true;
	c = lmtp_client_connect(dest, &set, &f);
	assert_null(c);
	assert_int_equal(f.kind, LMTP_FAIL_AUTH);
	assert_string_equal(f.dsn, "4.7.8");
	assert_non_null(strstr(f.text, "no AUTH mechanism in common"));
	lmtp_failure_deinit(&f);
	test_script_finish(&s);
	free(dest);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reply_good),
		cmocka_unit_test(test_reply_bad),
		cmocka_unit_test(test_reply_sticky),
		cmocka_unit_test(test_reply_limits),
		cmocka_unit_test(test_reply_text_cut),
		cmocka_unit_test(test_caps),
		cmocka_unit_test(test_address_quote),
		cmocka_unit_test(test_xtext),
		cmocka_unit_test(test_dot_stuff),
		cmocka_unit_test(test_line_limit),
		cmocka_unit_test(test_dest_parse),
		cmocka_unit_test(test_conversation_mixed),
		cmocka_unit_test(test_conversation_body),
		cmocka_unit_test(test_conversation_no_pipelining),
		cmocka_unit_test(test_conversation_xforward),
		cmocka_unit_test(test_conversation_refusals),
		cmocka_unit_test(test_conversation_close_mid_data),
		cmocka_unit_test(test_conversation_timeouts),
		cmocka_unit_test(test_conversation_connect_failures),
		cmocka_unit_test(test_local_refusals),
		cmocka_unit_test(test_idle_close),
		cmocka_unit_test(test_tcp_many_rcpts),
		cmocka_unit_test(test_caps_smtp),
		cmocka_unit_test(test_smtp_one_reply),
		cmocka_unit_test(test_smtp_helo_fallback),
		cmocka_unit_test(test_smtp_auth_plaintext),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
