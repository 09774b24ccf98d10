/* SPDX-License-Identifier: MIT */
/*
 * test_smtp_command - SMTP command lines, verbs, MAIL/RCPT arguments and
 * xtext (src/smtpd/smtp_command.c).
 *
 * The line reader is fed every input whole, one byte at a time and in
 * random pieces (fixed seeds); the transcript of results must be the
 * same each time and equal the expected one.
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
#include "compat.h"
#include "smtp_command.h"
#include "xalloc.h"

#define ALL_EXTS (SMTP_EXT_SIZE | SMTP_EXT_8BITMIME | SMTP_EXT_SMTPUTF8 | \
	SMTP_EXT_DSN | SMTP_EXT_CHUNKING | SMTP_EXT_AUTH)

/* Address parser texts (src/common/address.c) passed through. */
#define E_ADDR_UTF8 \
	"the address contains non-ASCII characters: SMTPUTF8 is needed"
#define E_ADDR_NO_CLOSE "missing '>' at the end of the address"
#define E_ADDR_NULL "the null address <> is not allowed here"

/* Line reader. */

/* lcg - tiny fixed-seed PRNG for repeatable random splits. */
static uint32_t
lcg(uint32_t *state)
{
	*state = *state * 1103515245u + 12345u;
	return *state >> 16;
}

/*
 * run_reader - feed in (len bytes) to a reader of limit max in pieces of
 * chunk bytes (0: whole; SIZE_MAX: random 1..17 from seed) and return
 * the transcript: "OK[line]", "LONG", "BARE", "NUL" separated by spaces,
 * then " pending=N".  Caller frees.
 */
static char *
run_reader(const char *in, size_t len, size_t max, size_t chunk,
    uint32_t seed)
{
	struct smtp_line_reader r;
	struct buf t;
	size_t off = 0;

	buf_init(&t, 1024 * 1024);
	smtp_line_reader_init(&r, max);
	while (off < len) {
		size_t n = len - off;

		if (chunk == SIZE_MAX)
			n = 1 + lcg(&seed) % 17;
		else if (chunk > 0)
			n = chunk;
		if (n > len - off)
			n = len - off;
		while (n > 0) {
			const char *line = "sentinel";
			size_t used = 0, line_len = 99;
			enum smtp_line_status st;

			st = smtp_line_read(&r, in + off, n, &used, &line,
			    &line_len);
			assert_true(used <= n);
			/* Memory stays bounded by the limit. */
			assert_true(smtp_line_reader_pending(&r) <= max);
			assert_true(r.line.cap <= max + 1 || r.line.cap <= 64);
			switch (st) {
			case SMTP_LINE_NEED_MORE:
				assert_int_equal(used, n);
				assert_null(line);
				break;
			case SMTP_LINE_OK:
				assert_non_null(line);
				/* NUL-terminated, no CR, LF or NUL inside. */
				assert_int_equal(strlen(line), line_len);
				assert_null(memchr(line, '\r', line_len));
				assert_null(memchr(line, '\n', line_len));
				assert_true(line_len + 2 <= max);
				assert_int_equal(smtp_line_reader_pending(&r),
				    0);
				assert_int_equal(buf_appendf(&t, "%sOK[%s]",
				    t.len > 0 ? " " : "", line), 0);
				break;
			case SMTP_LINE_TOO_LONG:
				assert_int_equal(buf_appendf(&t, "%sLONG",
				    t.len > 0 ? " " : ""), 0);
				break;
			case SMTP_LINE_BARE_NEWLINE:
				assert_int_equal(buf_appendf(&t, "%sBARE",
				    t.len > 0 ? " " : ""), 0);
				break;
			case SMTP_LINE_NUL:
				assert_int_equal(buf_appendf(&t, "%sNUL",
				    t.len > 0 ? " " : ""), 0);
				break;
			default:
				fail_msg("bad status %d", (int)st);
			}
			if (st != SMTP_LINE_NEED_MORE)
				assert_true(used > 0);
			off += used;
			n -= used;
		}
	}
	assert_int_equal(buf_appendf(&t, "%spending=%zu",
	    t.len > 0 ? " " : "", smtp_line_reader_pending(&r)), 0);
	smtp_line_reader_deinit(&r);
	return buf_steal(&t);
}

struct line_case {
	const char *in;		/* NULL: built by the test */
	size_t len;		/* 0: strlen(in) */
	size_t max;		/* 0: SMTP_COMMAND_LINE_MAX_BYTES */
	const char *want;
};

#define L(s) s, sizeof(s) - 1

static const struct line_case line_cases[] = {
	{ L("NOOP\r\n"), 0, "OK[NOOP] pending=0" },
	{ L("a\r\nb\r\n"), 0, "OK[a] OK[b] pending=0" },
	{ L("\r\n"), 0, "OK[] pending=0" },
	{ L("a\r\n\r\nbcd\r\n"), 0, "OK[a] OK[] OK[bcd] pending=0" },
	{ L("abcdef\r\nabc\r\n\r\n"), 0, "OK[abcdef] OK[abc] OK[] pending=0" },
	{ L("a\nb\r\n"), 0, "BARE pending=0" },
	{ L("a\rb\r\n"), 0, "BARE pending=0" },
	{ L("a\r\r\n"), 0, "BARE pending=0" },
	{ L("\r\r\n"), 0, "BARE pending=0" },
	{ L("a\n\r\n"), 0, "BARE pending=0" },
	{ L("\n\r\nQUIT\r\n"), 0, "BARE OK[QUIT] pending=0" },
	{ L("a\n\nb\n\r\nc\r\n"), 0, "BARE OK[c] pending=0" },
	/* SMTP smuggling: a bare-LF "end of data" is one bad line. */
	{ L("RSET\r\n.\nMAIL FROM:<x@y>\r\n"), 0, "OK[RSET] BARE pending=0" },
	{ L("a\0b\r\n"), 0, "NUL pending=0" },
	{ L("\0\r\nNOOP\r\n"), 0, "NUL OK[NOOP] pending=0" },
	{ L("a\0\nb\r\n"), 0, "BARE pending=0" },
	{ L("a\0\rb\r\n"), 0, "BARE pending=0" },
	{ L("abc"), 0, "pending=3" },
	{ L("abc\r"), 0, "pending=4" },
	{ L("abc\r\nde"), 0, "OK[abc] pending=2" },
	{ L("\n"), 0, "pending=1" },
	{ L("\xc3\xa9t\xc3\xa9\r\n"), 0, "OK[\xc3\xa9t\xc3\xa9] pending=0" },
	{ L("\t x \t\r\n"), 0, "OK[\t x \t] pending=0" },
	/* A small limit: 5 octets with CRLF. */
	{ L("abc\r\n"), 5, "OK[abc] pending=0" },
	{ L("abcd\r\n"), 5, "LONG pending=0" },
	{ L("abcd\r\nab\r\n"), 5, "LONG OK[ab] pending=0" },
	{ L("ab\rc\r\n"), 5, "BARE pending=0" },
	{ L("abc\r\r\n"), 5, "BARE pending=0" },
	{ L("abcdefgh\n\r\n"), 5, "BARE pending=0" },
	{ L("abcdefgh\0\r\n"), 5, "LONG pending=0" },
	{ L("abcdefgh\r\nx\r\n"), 5, "LONG OK[x] pending=0" },
	{ L("abcdefgh"), 5, "pending=3" },
	{ L("\r\n\r\n"), 2, "OK[] OK[] pending=0" },
	{ L("a\r\n"), 2, "LONG pending=0" },
};

static void
check_line_case(const char *in, size_t len, size_t max, const char *want)
{
	char *got;

	got = run_reader(in, len, max, 0, 0);
	assert_string_equal(got, want);
	free(got);
	got = run_reader(in, len, max, 1, 0);
	assert_string_equal(got, want);
	free(got);
	got = run_reader(in, len, max, 2, 0);
	assert_string_equal(got, want);
	free(got);
	for (uint32_t seed = 1; seed <= 25; seed++) {
		got = run_reader(in, len, max, SIZE_MAX, seed);
		assert_string_equal(got, want);
		free(got);
	}
}

static void
test_line_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(line_cases); i++) {
		const struct line_case *c = &line_cases[i];

		print_message("line case %zu\n", i);
		check_line_case(c->in, c->len, c->max != 0 ? c->max :
		    SMTP_COMMAND_LINE_MAX_BYTES, c->want);
	}
}

/* filled - n copies of c, then tail; caller frees. */
static char *
filled(char c, size_t n, const char *tail, size_t *len_r)
{
	size_t tl = strlen(tail);
	char *s = xmalloc(n + tl + 1);

	memset(s, c, n);
	memcpy(s + n, tail, tl + 1);
	*len_r = n + tl;
	return s;
}

static void
test_line_limits(void **state)
{
	char *in, *want;
	size_t len;

	(void)state;
	/* Exactly 512 octets with CRLF: accepted. */
	in = filled('x', 510, "\r\n", &len);
	want = xasprintf("OK[%.*s] pending=0", 510, in);
	check_line_case(in, len, SMTP_COMMAND_LINE_MAX_BYTES, want);
	free(want);
	free(in);
	/* 513: too long. */
	in = filled('x', 511, "\r\nNOOP\r\n", &len);
	check_line_case(in, len, SMTP_COMMAND_LINE_MAX_BYTES,
	    "LONG OK[NOOP] pending=0");
	free(in);
	/* 510 then a bare CR: the CR counts, too long and bare. */
	in = filled('x', 510, "\r\r\n", &len);
	check_line_case(in, len, SMTP_COMMAND_LINE_MAX_BYTES,
	    "BARE pending=0");
	free(in);
	/* A huge line, then a good one; reported once. */
	in = filled('y', 100000, "\r\nMAIL FROM:<a@b>\r\n", &len);
	check_line_case(in, len, SMTP_COMMAND_LINE_MAX_BYTES,
	    "LONG OK[MAIL FROM:<a@b>] pending=0");
	free(in);
	/* A huge line with a bare LF far past the limit. */
	in = filled('y', 5000, "\nzz\r\nQUIT\r\n", &len);
	check_line_case(in, len, SMTP_COMMAND_LINE_MAX_BYTES,
	    "BARE OK[QUIT] pending=0");
	free(in);
	/* Unfinished huge line: held bytes stay at the limit. */
	in = filled('y', 5000, "", &len);
	check_line_case(in, len, SMTP_COMMAND_LINE_MAX_BYTES,
	    "pending=510");
	free(in);
}

/* The CR and LF of one CRLF in two calls; a bare CR across two calls. */
static void
test_line_cr_edge(void **state)
{
	struct smtp_line_reader r;
	const char *line;
	size_t used, len;

	(void)state;
	smtp_line_reader_init(&r, SMTP_COMMAND_LINE_MAX_BYTES);
	assert_int_equal(smtp_line_read(&r, "NOOP\r", 5, &used, &line, &len),
	    SMTP_LINE_NEED_MORE);
	assert_int_equal(used, 5);
	assert_true(r.cr);
	assert_int_equal(smtp_line_reader_pending(&r), 5);
	assert_int_equal(smtp_line_read(&r, "\nQUIT\r\n", 7, &used, &line,
	    &len), SMTP_LINE_OK);
	assert_int_equal(used, 1);
	assert_string_equal(line, "NOOP");
	assert_int_equal(len, 4);
	assert_int_equal(smtp_line_read(&r, "QUIT\r\n", 6, &used, &line,
	    &len), SMTP_LINE_OK);
	assert_int_equal(used, 6);
	assert_string_equal(line, "QUIT");

	assert_int_equal(smtp_line_read(&r, "DATA\r", 5, &used, &line, &len),
	    SMTP_LINE_NEED_MORE);
	assert_int_equal(smtp_line_read(&r, "X\r\n", 3, &used, &line, &len),
	    SMTP_LINE_BARE_NEWLINE);
	assert_int_equal(used, 3);
	assert_null(line);
	assert_int_equal(smtp_line_reader_pending(&r), 0);
	/* Empty input: nothing happens. */
	assert_int_equal(smtp_line_read(&r, "", 0, &used, &line, &len),
	    SMTP_LINE_NEED_MORE);
	assert_int_equal(used, 0);
	smtp_line_reader_deinit(&r);
}

/* Commands. */

struct cmd_case {
	const char *line;
	int ret;
	enum smtp_verb verb;
	const char *args;
};

static const struct cmd_case cmd_cases[] = {
	{ "NOOP", 0, SMTP_VERB_NOOP, "" },
	{ "noop", 0, SMTP_VERB_NOOP, "" },
	{ "NoOp x", 0, SMTP_VERB_NOOP, "x" },
	{ "MAIL FROM:<a@b>", 0, SMTP_VERB_MAIL, "FROM:<a@b>" },
	{ "rcpt TO:<a@b> NOTIFY=NEVER", 0, SMTP_VERB_RCPT,
	    "TO:<a@b> NOTIFY=NEVER" },
	{ "EHLO  x", 0, SMTP_VERB_EHLO, " x" },
	{ "EHLO x ", 0, SMTP_VERB_EHLO, "x " },
	{ "HELO client.example", 0, SMTP_VERB_HELO, "client.example" },
	{ "QUIT ", 0, SMTP_VERB_QUIT, "" },
	{ "StartTLS", 0, SMTP_VERB_STARTTLS, "" },
	{ "AUTH PLAIN AGEAYg==", 0, SMTP_VERB_AUTH, "PLAIN AGEAYg==" },
	{ "BDAT 100 LAST", 0, SMTP_VERB_BDAT, "100 LAST" },
	{ "DATA", 0, SMTP_VERB_DATA, "" },
	{ "RSET", 0, SMTP_VERB_RSET, "" },
	{ "VRFY postmaster", 0, SMTP_VERB_VRFY, "postmaster" },
	{ "EXPN list", 0, SMTP_VERB_EXPN, "list" },
	{ "HELP", 0, SMTP_VERB_HELP, "" },
	{ "MAILX", 0, SMTP_VERB_UNKNOWN, "" },
	{ "MAI", 0, SMTP_VERB_UNKNOWN, "" },
	{ "XCLIENT ADDR=1.2.3.4", 0, SMTP_VERB_XCLIENT, "ADDR=1.2.3.4" },
	{ "xforward NAME=a", 0, SMTP_VERB_XFORWARD, "NAME=a" },
	{ "XCLIENTS", 0, SMTP_VERB_UNKNOWN, "" },
	{ "X-FOO", 0, SMTP_VERB_UNKNOWN, "" },
	{ "", -1, SMTP_VERB_UNKNOWN, NULL },
	{ " NOOP", -1, SMTP_VERB_UNKNOWN, NULL },
	{ "MAIL\tFROM:<a@b>", -1, SMTP_VERB_UNKNOWN, NULL },
	{ "NOOP:", -1, SMTP_VERB_UNKNOWN, NULL },
	{ "GET / HTTP/1.0", 0, SMTP_VERB_UNKNOWN, "/ HTTP/1.0" },
	{ "DATA\xc3\xa9", -1, SMTP_VERB_UNKNOWN, NULL },
	{ "\xc3\xa9", -1, SMTP_VERB_UNKNOWN, NULL },
};

static void
test_command_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(cmd_cases); i++) {
		const struct cmd_case *c = &cmd_cases[i];
		struct smtp_command cmd;
		int ret;

		print_message("command case %zu: %s\n", i, c->line);
		memset(&cmd, 0xa5, sizeof(cmd));
		ret = smtp_command_parse(c->line, strlen(c->line), &cmd);
		assert_int_equal(ret, c->ret);
		assert_int_equal(cmd.verb, c->verb);
		if (c->args != NULL) {
			assert_int_equal(cmd.args_len, strlen(c->args));
			assert_memory_equal(cmd.args, c->args, cmd.args_len);
			assert_true(cmd.args >= c->line &&
			    cmd.args <= c->line + strlen(c->line));
		}
	}
}

static void
test_verb_names(void **state)
{
	(void)state;
	assert_string_equal(smtp_verb_name(SMTP_VERB_UNKNOWN), "UNKNOWN");
	assert_string_equal(smtp_verb_counter_name(SMTP_VERB_UNKNOWN),
	    "unknown");
	assert_string_equal(smtp_verb_name(SMTP_VERB_STARTTLS), "STARTTLS");
	assert_string_equal(smtp_verb_counter_name(SMTP_VERB_EHLO), "ehlo");
	assert_string_equal(smtp_verb_name(SMTP_VERB__COUNT), "UNKNOWN");
	for (int v = SMTP_VERB_UNKNOWN + 1; v < SMTP_VERB__COUNT; v++) {
		const char *name = smtp_verb_name((enum smtp_verb)v);
		const char *cn = smtp_verb_counter_name((enum smtp_verb)v);
		struct smtp_command cmd;

		/* Every name parses back to its verb ... */
		assert_int_equal(smtp_command_parse(name, strlen(name),
		    &cmd), 0);
		assert_int_equal(cmd.verb, v);
		/* ... and the counter name is it in lower case. */
		assert_int_equal(strlen(cn), strlen(name));
		for (size_t k = 0; name[k] != '\0'; k++)
			assert_int_equal(cn[k], name[k] - 'A' + 'a');
		assert_int_equal(smtp_command_parse(cn, strlen(cn), &cmd), 0);
		assert_int_equal(cmd.verb, v);
	}
}

/* MAIL FROM. */

struct mail_case {
	const char *args;
	unsigned exts;
	unsigned flags;
	enum smtp_arg_error want;
	const char *error;	/* checked when not NULL */
	const char *from;	/* text on success */
	bool has_size;
	uint64_t size;
	enum smtp_body body;
	bool smtputf8;
	enum smtp_ret ret;
	const char *envid;
	const char *auth;
};

static const struct mail_case mail_cases[] = {
	{ .args = "FROM:<a@b.example>", .from = "a@b.example" },
	{ .args = "from:<a@b.example>", .from = "a@b.example" },
	{ .args = "FROM:<>", .from = "" },
	{ .args = "FROM:<>", .flags = ADDRESS_STRICT, .from = "" },
	{ .args = "FROM: <a@b.example>", .from = "a@b.example" },
	{ .args = "FROM:   <a@b.example> SIZE=1", .exts = ALL_EXTS,
	    .from = "a@b.example", .has_size = true, .size = 1 },
	{ .args = "FROM: <a@b.example>", .flags = ADDRESS_STRICT,
	    .want = SMTP_ARG_SYNTAX,
	    .error = "no space allowed after the colon" },
	{ .args = "FROM:a@b.example", .from = "a@b.example" },
	{ .args = "FROM:a@b.example SIZE=7", .exts = SMTP_EXT_SIZE,
	    .from = "a@b.example", .has_size = true, .size = 7 },
	{ .args = "FROM:a@b.example", .flags = ADDRESS_STRICT,
	    .want = SMTP_ARG_BAD_ADDRESS },
	{ .args = "FROM:<a@b.example", .want = SMTP_ARG_BAD_ADDRESS,
	    .error = E_ADDR_NO_CLOSE },
	{ .args = "FROM:<a b@example.org>", .want = SMTP_ARG_BAD_ADDRESS },
	{ .args = "FROM:<\"a b\"@example.org> SIZE=5",
	    .exts = SMTP_EXT_SIZE, .from = "\"a b\"@example.org",
	    .has_size = true, .size = 5 },
	{ .args = "FROM:<\"a> b\"@example.org> SIZE=5",
	    .exts = SMTP_EXT_SIZE, .from = "\"a> b\"@example.org",
	    .has_size = true, .size = 5 },
	/* "FROM:" itself. */
	{ .args = "", .want = SMTP_ARG_SYNTAX,
	    .error = "expected MAIL FROM:<address>" },
	{ .args = "FROM", .want = SMTP_ARG_SYNTAX },
	{ .args = "FROM:", .want = SMTP_ARG_SYNTAX,
	    .error = "expected MAIL FROM:<address>" },
	{ .args = "FROM:   ", .want = SMTP_ARG_SYNTAX },
	{ .args = "FROM <a@b.example>", .want = SMTP_ARG_SYNTAX },
	{ .args = "TO:<a@b.example>", .want = SMTP_ARG_SYNTAX },
	{ .args = " FROM:<a@b.example>", .want = SMTP_ARG_SYNTAX },
	/* SIZE (RFC 1870). */
	{ .args = "FROM:<a@b.example> SIZE=1000", .exts = SMTP_EXT_SIZE,
	    .from = "a@b.example", .has_size = true, .size = 1000 },
	{ .args = "FROM:<a@b.example> size=0", .exts = SMTP_EXT_SIZE,
	    .from = "a@b.example", .has_size = true, .size = 0 },
	{ .args = "FROM:<a@b.example> SIZE=18446744073709551615",
	    .exts = SMTP_EXT_SIZE, .from = "a@b.example", .has_size = true,
	    .size = UINT64_MAX },
	{ .args = "FROM:<a@b.example> SIZE=18446744073709551616",
	    .exts = SMTP_EXT_SIZE, .want = SMTP_ARG_SYNTAX,
	    .error = "bad SIZE value" },
	{ .args = "FROM:<a@b.example> SIZE=+1", .exts = SMTP_EXT_SIZE,
	    .want = SMTP_ARG_SYNTAX, .error = "bad SIZE value" },
	{ .args = "FROM:<a@b.example> SIZE=-1", .exts = SMTP_EXT_SIZE,
	    .want = SMTP_ARG_SYNTAX, .error = "bad SIZE value" },
	{ .args = "FROM:<a@b.example> SIZE=1k", .exts = SMTP_EXT_SIZE,
	    .want = SMTP_ARG_SYNTAX },
	{ .args = "FROM:<a@b.example> SIZE=", .exts = SMTP_EXT_SIZE,
	    .want = SMTP_ARG_SYNTAX, .error = "empty parameter value" },
	{ .args = "FROM:<a@b.example> SIZE", .exts = SMTP_EXT_SIZE,
	    .want = SMTP_ARG_SYNTAX, .error = "parameter needs a value" },
	{ .args = "FROM:<a@b.example> SIZE=1000", .exts = ALL_EXTS &
	    ~SMTP_EXT_SIZE, .want = SMTP_ARG_UNKNOWN_PARAM,
	    .error = "unknown or unsupported parameter" },
	{ .args = "FROM:<a@b.example> SIZE=1 SIZE=2", .exts = SMTP_EXT_SIZE,
	    .want = SMTP_ARG_DUPLICATE, .error = "parameter given twice" },
	{ .args = "FROM:<a@b.example> size=1 Size=1", .exts = SMTP_EXT_SIZE,
	    .want = SMTP_ARG_DUPLICATE },
	/* BODY (RFC 6152, RFC 3030). */
	{ .args = "FROM:<a@b.example> BODY=8BITMIME",
	    .exts = SMTP_EXT_8BITMIME, .from = "a@b.example",
	    .body = SMTP_BODY_8BITMIME },
	{ .args = "FROM:<a@b.example> body=8bitmime",
	    .exts = SMTP_EXT_8BITMIME, .from = "a@b.example",
	    .body = SMTP_BODY_8BITMIME },
	{ .args = "FROM:<a@b.example> BODY=7BIT", .exts = SMTP_EXT_8BITMIME,
	    .from = "a@b.example", .body = SMTP_BODY_7BIT },
	{ .args = "FROM:<a@b.example> BODY=BINARYMIME", .exts = ALL_EXTS,
	    .from = "a@b.example", .body = SMTP_BODY_BINARYMIME },
	{ .args = "FROM:<a@b.example> BODY=BINARYMIME",
	    .exts = SMTP_EXT_8BITMIME, .want = SMTP_ARG_UNKNOWN_PARAM },
	{ .args = "FROM:<a@b.example> BODY=8BITMIME",
	    .exts = SMTP_EXT_CHUNKING, .want = SMTP_ARG_UNKNOWN_PARAM },
	{ .args = "FROM:<a@b.example> BODY=7BIT", .exts = SMTP_EXT_SIZE,
	    .want = SMTP_ARG_UNKNOWN_PARAM },
	{ .args = "FROM:<a@b.example> BODY=9BIT", .exts = ALL_EXTS,
	    .want = SMTP_ARG_SYNTAX, .error = "bad BODY value" },
	{ .args = "FROM:<a@b.example> BODY", .exts = ALL_EXTS,
	    .want = SMTP_ARG_SYNTAX },
	/* SMTPUTF8 (RFC 6531): it allows a UTF-8 path. */
	{ .args = "FROM:<a@b.example> SMTPUTF8", .exts = ALL_EXTS,
	    .from = "a@b.example", .smtputf8 = true },
	{ .args = "FROM:<j\xc3\xb6rg@b\xc3\xa4r.example> SMTPUTF8",
	    .exts = ALL_EXTS, .from = "j\xc3\xb6rg@b\xc3\xa4r.example",
	    .smtputf8 = true },
	{ .args = "FROM:<j\xc3\xb6rg@example.org> SIZE=9 smtputf8",
	    .exts = ALL_EXTS, .from = "j\xc3\xb6rg@example.org",
	    .has_size = true, .size = 9, .smtputf8 = true },
	{ .args = "FROM:<j\xc3\xb6rg@example.org>", .exts = ALL_EXTS,
	    .want = SMTP_ARG_UTF8, .error = E_ADDR_UTF8 },
	{ .args = "FROM:<j\xc3\xb6rg@example.org> SIZE=9", .exts = ALL_EXTS,
	    .want = SMTP_ARG_UTF8, .error = E_ADDR_UTF8 },
	{ .args = "FROM:<j\xc3\xb6rg@example.org> SMTPUTF8",
	    .exts = ALL_EXTS & ~SMTP_EXT_SMTPUTF8,
	    .want = SMTP_ARG_UNKNOWN_PARAM },
	{ .args = "FROM:<j\xc3\xb6rg@example.org>", .flags = ADDRESS_SMTPUTF8,
	    .from = "j\xc3\xb6rg@example.org" },
	{ .args = "FROM:<j\xc3\xb6rg@example.org> XFOO", .exts = ALL_EXTS,
	    .want = SMTP_ARG_UNKNOWN_PARAM },
	{ .args = "FROM:<a@b.example> SMTPUTF8=yes", .exts = ALL_EXTS,
	    .want = SMTP_ARG_SYNTAX, .error = "parameter takes no value" },
	{ .args = "FROM:<a@b.example> SMTPUTF8 SMTPUTF8", .exts = ALL_EXTS,
	    .want = SMTP_ARG_DUPLICATE },
	/* UTF-8 parameter values only with SMTPUTF8 in effect. */
	{ .args = "FROM:<a@b.example> ENVID=\xc3\xa9", .exts = ALL_EXTS,
	    .want = SMTP_ARG_SYNTAX,
	    .error = "8-bit parameter value without SMTPUTF8" },
	{ .args = "FROM:<a@b.example> ENVID=\xc3\xa9 SMTPUTF8",
	    .exts = ALL_EXTS, .from = "a@b.example", .smtputf8 = true,
	    .envid = "\xc3\xa9" },
	{ .args = "FROM:<a@b.example> SMTPUTF8 ENVID=\xff", .exts = ALL_EXTS,
	    .want = SMTP_ARG_SYNTAX,
	    .error = "malformed UTF-8 in a parameter value" },
	/* RET, ENVID (RFC 3461). */
	{ .args = "FROM:<a@b.example> RET=FULL", .exts = SMTP_EXT_DSN,
	    .from = "a@b.example", .ret = SMTP_RET_FULL },
	{ .args = "FROM:<a@b.example> ret=hdrs", .exts = SMTP_EXT_DSN,
	    .from = "a@b.example", .ret = SMTP_RET_HDRS },
	{ .args = "FROM:<a@b.example> RET=NONE", .exts = SMTP_EXT_DSN,
	    .want = SMTP_ARG_SYNTAX, .error = "bad RET value" },
	{ .args = "FROM:<a@b.example> RET=FULL", .exts = SMTP_EXT_SIZE,
	    .want = SMTP_ARG_UNKNOWN_PARAM },
	{ .args = "FROM:<a@b.example> RET=FULL RET=HDRS",
	    .exts = SMTP_EXT_DSN, .want = SMTP_ARG_DUPLICATE },
	{ .args = "FROM:<a@b.example> ENVID=abc+2Bdef+3D", .exts = SMTP_EXT_DSN,
	    .from = "a@b.example", .envid = "abc+def=" },
	{ .args = "FROM:<a@b.example> ENVID=QQ+2c", .exts = SMTP_EXT_DSN,
	    .from = "a@b.example", .envid = "QQ," },
	{ .args = "FROM:<a@b.example> ENVID=a+2", .exts = SMTP_EXT_DSN,
	    .want = SMTP_ARG_SYNTAX,
	    .error = "incomplete +XX escape in xtext" },
	{ .args = "FROM:<a@b.example> ENVID=a+ZZ", .exts = SMTP_EXT_DSN,
	    .want = SMTP_ARG_SYNTAX,
	    .error = "bad hex digits in xtext +XX escape" },
	{ .args = "FROM:<a@b.example> ENVID=+00", .exts = SMTP_EXT_DSN,
	    .want = SMTP_ARG_SYNTAX, .error = "xtext encodes a NUL byte" },
	{ .args = "FROM:<a@b.example> ENVID=x", .exts = SMTP_EXT_AUTH,
	    .want = SMTP_ARG_UNKNOWN_PARAM },
	/* AUTH (RFC 4954 5). */
	{ .args = "FROM:<a@b.example> AUTH=<>", .exts = SMTP_EXT_AUTH,
	    .from = "a@b.example", .auth = "<>" },
	{ .args = "FROM:<a@b.example> AUTH=joe+40example.org",
	    .exts = SMTP_EXT_AUTH, .from = "a@b.example",
	    .auth = "joe@example.org" },
	{ .args = "FROM:<a@b.example> AUTH=<>", .exts = ALL_EXTS &
	    ~SMTP_EXT_AUTH, .want = SMTP_ARG_UNKNOWN_PARAM },
	{ .args = "FROM:<a@b.example> AUTH=a+", .exts = SMTP_EXT_AUTH,
	    .want = SMTP_ARG_SYNTAX },
	{ .args = "FROM:<a@b.example> AUTH=<> AUTH=<>", .exts = SMTP_EXT_AUTH,
	    .want = SMTP_ARG_DUPLICATE },
	/* Everything at once. */
	{ .args = "FROM:<a@b.example> SIZE=10 BODY=8BITMIME SMTPUTF8 "
	    "RET=HDRS ENVID=QQ291 AUTH=<>", .exts = ALL_EXTS,
	    .from = "a@b.example", .has_size = true, .size = 10,
	    .body = SMTP_BODY_8BITMIME, .smtputf8 = true,
	    .ret = SMTP_RET_HDRS, .envid = "QQ291", .auth = "<>" },
	/* Unknown parameters and separators. */
	{ .args = "FROM:<a@b.example> FOO=bar", .exts = ALL_EXTS,
	    .want = SMTP_ARG_UNKNOWN_PARAM },
	{ .args = "FROM:<a@b.example> X-FOO", .exts = ALL_EXTS,
	    .want = SMTP_ARG_UNKNOWN_PARAM },
	{ .args = "FROM:<a@b.example> NOTIFY=NEVER", .exts = ALL_EXTS,
	    .want = SMTP_ARG_UNKNOWN_PARAM },
	{ .args = "FROM:<a@b.example>  SIZE=1", .exts = ALL_EXTS,
	    .want = SMTP_ARG_SYNTAX, .error = "extra space in the parameters" },
	{ .args = "FROM:<a@b.example> ", .exts = ALL_EXTS,
	    .want = SMTP_ARG_SYNTAX, .error = "extra space in the parameters" },
	{ .args = "FROM:<a@b.example> SIZE=1 ", .exts = ALL_EXTS,
	    .want = SMTP_ARG_SYNTAX },
	{ .args = "FROM:<a@b.example>SIZE=1", .exts = ALL_EXTS,
	    .want = SMTP_ARG_SYNTAX,
	    .error = "unexpected characters after the address" },
	{ .args = "FROM:<a@b.example>\tSIZE=1", .exts = ALL_EXTS,
	    .want = SMTP_ARG_SYNTAX },
	{ .args = "FROM:<a@b.example> =x", .exts = ALL_EXTS,
	    .want = SMTP_ARG_SYNTAX, .error = "bad parameter keyword" },
	{ .args = "FROM:<a@b.example> -X", .exts = ALL_EXTS,
	    .want = SMTP_ARG_SYNTAX },
	{ .args = "FROM:<a@b.example> SI_ZE=1", .exts = ALL_EXTS,
	    .want = SMTP_ARG_SYNTAX },
	{ .args = "FROM:<a@b.example> SIZE=1=2", .exts = ALL_EXTS,
	    .want = SMTP_ARG_SYNTAX,
	    .error = "bad character in a parameter value" },
	{ .args = "FROM:<a@b.example> SIZE=1\t", .exts = ALL_EXTS,
	    .want = SMTP_ARG_SYNTAX },
	/* Parameter syntax is checked before the path's UTF-8. */
	{ .args = "FROM:<j\xc3\xb6rg@example.org>  SMTPUTF8",
	    .exts = ALL_EXTS, .want = SMTP_ARG_SYNTAX },
	{ .args = "FROM:<>", .exts = ALL_EXTS, .from = "" },
};

static void
test_mail_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(mail_cases); i++) {
		const struct mail_case *c = &mail_cases[i];
		struct smtp_mail_args a;
		const char *error = NULL;
		enum smtp_arg_error e;

		print_message("mail case %zu: %s\n", i, c->args);
		memset(&a, 0x5a, sizeof(a));
		e = smtp_mail_args_parse(c->args, strlen(c->args), c->exts,
		    c->flags, &a, &error);
		if (e != c->want)
			fail_msg("case %zu: got %d want %d (%s)", i, (int)e,
			    (int)c->want, error != NULL ? error : "-");
		if (e != SMTP_ARG_OK) {
			assert_non_null(error);
			assert_true(error[0] != '\0');
			if (c->error != NULL)
				assert_string_equal(error, c->error);
			/* Left empty: deinit is harmless. */
			assert_null(a.from.text);
			assert_null(a.envid);
			assert_null(a.auth);
			smtp_mail_args_deinit(&a);
			continue;
		}
		assert_string_equal(a.from.text, c->from);
		assert_int_equal(a.from.is_null, c->from[0] == '\0');
		assert_int_equal(a.has_size, c->has_size);
		assert_true(a.size == c->size);
		assert_int_equal(a.body, c->body);
		assert_int_equal(a.smtputf8, c->smtputf8);
		assert_int_equal(a.ret, c->ret);
		if (c->envid == NULL)
			assert_null(a.envid);
		else
			assert_string_equal(a.envid, c->envid);
		if (c->auth == NULL)
			assert_null(a.auth);
		else
			assert_string_equal(a.auth, c->auth);
		smtp_mail_args_deinit(&a);
		assert_null(a.from.text);
	}
}

/* ENVID: at most 100 octets decoded (RFC 3461 4.4). */
static void
test_mail_envid_length(void **state)
{
	struct smtp_mail_args a;
	const char *error = NULL;
	char *args;

	(void)state;
	args = xasprintf("FROM:<a@b.example> ENVID=%0100d", 0);
	assert_int_equal(smtp_mail_args_parse(args, strlen(args),
	    SMTP_EXT_DSN, 0, &a, &error), SMTP_ARG_OK);
	assert_int_equal(strlen(a.envid), 100);
	smtp_mail_args_deinit(&a);
	free(args);
	/* 99 octets and one "+2B": 100 decoded, 102 encoded. */
	args = xasprintf("FROM:<a@b.example> ENVID=%099d+2B", 0);
	assert_int_equal(smtp_mail_args_parse(args, strlen(args),
	    SMTP_EXT_DSN, 0, &a, &error), SMTP_ARG_OK);
	assert_int_equal(strlen(a.envid), 100);
	assert_int_equal(a.envid[99], '+');
	smtp_mail_args_deinit(&a);
	free(args);
	args = xasprintf("FROM:<a@b.example> ENVID=%0101d", 0);
	assert_int_equal(smtp_mail_args_parse(args, strlen(args),
	    SMTP_EXT_DSN, 0, &a, &error), SMTP_ARG_SYNTAX);
	assert_string_equal(error, "ENVID too long");
	assert_null(a.envid);
	smtp_mail_args_deinit(&a);
	free(args);
}

/* Only len bytes are read: the text need not be NUL-terminated. */
static void
test_mail_not_terminated(void **state)
{
	static const char line[] = "FROM:<a@b.example> SIZE=12345";
	struct smtp_mail_args a;
	const char *error = NULL;
	char *copy;
	size_t n = strlen("FROM:<a@b.example> SIZE=12");

	(void)state;
	copy = xmalloc(n);
	memcpy(copy, line, n);
	assert_int_equal(smtp_mail_args_parse(copy, n, SMTP_EXT_SIZE, 0, &a,
	    &error), SMTP_ARG_OK);
	assert_true(a.size == 12);
	smtp_mail_args_deinit(&a);
	free(copy);
}

/* RCPT TO. */

struct rcpt_case {
	const char *args;
	unsigned exts;
	unsigned flags;
	enum smtp_arg_error want;
	const char *error;
	const char *to;
	unsigned notify;
	const char *orcpt;
};

static const struct rcpt_case rcpt_cases[] = {
	{ .args = "TO:<a@b.example>", .to = "a@b.example" },
	{ .args = "to:<a@b.example>", .to = "a@b.example" },
	{ .args = "To: <a@b.example>", .to = "a@b.example" },
	{ .args = "TO: <a@b.example>", .flags = ADDRESS_STRICT,
	    .want = SMTP_ARG_SYNTAX },
	{ .args = "TO:a@b.example", .to = "a@b.example" },
	{ .args = "TO:<>", .want = SMTP_ARG_BAD_ADDRESS, .error = E_ADDR_NULL },
	{ .args = "TO:<>", .flags = ADDRESS_NULL_OK,
	    .want = SMTP_ARG_BAD_ADDRESS },
	{ .args = "TO:<Postmaster>", .flags = ADDRESS_POSTMASTER_OK,
	    .to = "Postmaster" },
	{ .args = "TO:<Postmaster>", .want = SMTP_ARG_BAD_ADDRESS },
	{ .args = "TO:<a@b.example", .want = SMTP_ARG_BAD_ADDRESS,
	    .error = E_ADDR_NO_CLOSE },
	{ .args = "TO:", .want = SMTP_ARG_SYNTAX,
	    .error = "expected RCPT TO:<address>" },
	{ .args = "FROM:<a@b.example>", .want = SMTP_ARG_SYNTAX,
	    .error = "expected RCPT TO:<address>" },
	{ .args = "TO:<j\xc3\xb6rg@example.org>", .exts = ALL_EXTS,
	    .want = SMTP_ARG_UTF8, .error = E_ADDR_UTF8 },
	{ .args = "TO:<j\xc3\xb6rg@example.org>", .exts = ALL_EXTS,
	    .flags = ADDRESS_SMTPUTF8, .to = "j\xc3\xb6rg@example.org" },
	/* NOTIFY (RFC 3461 4.1). */
	{ .args = "TO:<a@b.example> NOTIFY=NEVER", .exts = SMTP_EXT_DSN,
	    .to = "a@b.example", .notify = SMTP_NOTIFY_NEVER },
	{ .args = "TO:<a@b.example> NOTIFY=SUCCESS,FAILURE,DELAY",
	    .exts = SMTP_EXT_DSN, .to = "a@b.example",
	    .notify = SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE |
	    SMTP_NOTIFY_DELAY },
	{ .args = "TO:<a@b.example> notify=delay,Success",
	    .exts = SMTP_EXT_DSN, .to = "a@b.example",
	    .notify = SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_DELAY },
	{ .args = "TO:<a@b.example> NOTIFY=FAILURE", .exts = SMTP_EXT_DSN,
	    .to = "a@b.example", .notify = SMTP_NOTIFY_FAILURE },
	{ .args = "TO:<a@b.example> NOTIFY=NEVER,SUCCESS",
	    .exts = SMTP_EXT_DSN, .want = SMTP_ARG_SYNTAX,
	    .error = "NOTIFY=NEVER must stand alone" },
	{ .args = "TO:<a@b.example> NOTIFY=DELAY,NEVER",
	    .exts = SMTP_EXT_DSN, .want = SMTP_ARG_SYNTAX },
	{ .args = "TO:<a@b.example> NOTIFY=SUCCESS,SUCCESS",
	    .exts = SMTP_EXT_DSN, .want = SMTP_ARG_SYNTAX,
	    .error = "NOTIFY value given twice" },
	{ .args = "TO:<a@b.example> NOTIFY=SUCCESS,", .exts = SMTP_EXT_DSN,
	    .want = SMTP_ARG_SYNTAX, .error = "bad NOTIFY value" },
	{ .args = "TO:<a@b.example> NOTIFY=,SUCCESS", .exts = SMTP_EXT_DSN,
	    .want = SMTP_ARG_SYNTAX },
	{ .args = "TO:<a@b.example> NOTIFY=SOMETIMES", .exts = SMTP_EXT_DSN,
	    .want = SMTP_ARG_SYNTAX },
	{ .args = "TO:<a@b.example> NOTIFY", .exts = SMTP_EXT_DSN,
	    .want = SMTP_ARG_SYNTAX, .error = "parameter needs a value" },
	{ .args = "TO:<a@b.example> NOTIFY=NEVER", .exts = ALL_EXTS &
	    ~SMTP_EXT_DSN, .want = SMTP_ARG_UNKNOWN_PARAM,
	    .error = "unknown or unsupported parameter" },
	{ .args = "TO:<a@b.example> NOTIFY=NEVER NOTIFY=NEVER",
	    .exts = SMTP_EXT_DSN, .want = SMTP_ARG_DUPLICATE },
	/* ORCPT (RFC 3461 4.2). */
	{ .args = "TO:<a@b.example> ORCPT=rfc822;a+40b.example",
	    .exts = SMTP_EXT_DSN, .to = "a@b.example",
	    .orcpt = "rfc822;a@b.example" },
	{ .args = "TO:<a@b.example> ORCPT=RFC822;x@y", .exts = SMTP_EXT_DSN,
	    .to = "a@b.example", .orcpt = "RFC822;x@y" },
	{ .args = "TO:<a@b.example> ORCPT=rfc822;a+2Bb+20c@d",
	    .exts = SMTP_EXT_DSN, .to = "a@b.example",
	    .orcpt = "rfc822;a+b c@d" },
	{ .args = "TO:<a@b.example> ORCPT=rfc822", .exts = SMTP_EXT_DSN,
	    .want = SMTP_ARG_SYNTAX, .error = "ORCPT needs addr-type;address" },
	{ .args = "TO:<a@b.example> ORCPT=;a@b", .exts = SMTP_EXT_DSN,
	    .want = SMTP_ARG_SYNTAX },
	{ .args = "TO:<a@b.example> ORCPT=rfc822;", .exts = SMTP_EXT_DSN,
	    .want = SMTP_ARG_SYNTAX, .error = "empty ORCPT address" },
	{ .args = "TO:<a@b.example> ORCPT=rfc\"822;a@b", .exts = SMTP_EXT_DSN,
	    .want = SMTP_ARG_SYNTAX, .error = "bad ORCPT address type" },
	{ .args = "TO:<a@b.example> ORCPT=rfc822;a+4", .exts = SMTP_EXT_DSN,
	    .want = SMTP_ARG_SYNTAX },
	{ .args = "TO:<a@b.example> ORCPT=rfc822;a@b", .exts = SMTP_EXT_SIZE,
	    .want = SMTP_ARG_UNKNOWN_PARAM },
	{ .args = "TO:<a@b.example> ORCPT=rfc822;a ORCPT=rfc822;b",
	    .exts = SMTP_EXT_DSN, .want = SMTP_ARG_DUPLICATE },
	{ .args = "TO:<a@b.example> ORCPT=utf-8;j\xc3\xb6rg@x",
	    .exts = ALL_EXTS, .want = SMTP_ARG_SYNTAX,
	    .error = "8-bit parameter value without SMTPUTF8" },
	{ .args = "TO:<a@b.example> ORCPT=utf-8;j\xc3\xb6rg@x",
	    .exts = ALL_EXTS, .flags = ADDRESS_SMTPUTF8, .to = "a@b.example",
	    .orcpt = "utf-8;j\xc3\xb6rg@x" },
	{ .args = "TO:<a@b.example> NOTIFY=SUCCESS,FAILURE "
	    "ORCPT=rfc822;a@b.example", .exts = ALL_EXTS, .to = "a@b.example",
	    .notify = SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE,
	    .orcpt = "rfc822;a@b.example" },
	/* MAIL parameters are unknown here. */
	{ .args = "TO:<a@b.example> SIZE=1", .exts = ALL_EXTS,
	    .want = SMTP_ARG_UNKNOWN_PARAM },
	{ .args = "TO:<a@b.example> SMTPUTF8", .exts = ALL_EXTS,
	    .want = SMTP_ARG_UNKNOWN_PARAM },
	{ .args = "TO:<a@b.example> ", .exts = ALL_EXTS,
	    .want = SMTP_ARG_SYNTAX },
	{ .args = "TO:<a@b.example>NOTIFY=NEVER", .exts = ALL_EXTS,
	    .want = SMTP_ARG_SYNTAX },
};

static void
test_rcpt_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(rcpt_cases); i++) {
		const struct rcpt_case *c = &rcpt_cases[i];
		struct smtp_rcpt_args a;
		const char *error = NULL;
		enum smtp_arg_error e;

		print_message("rcpt case %zu: %s\n", i, c->args);
		memset(&a, 0x5a, sizeof(a));
		e = smtp_rcpt_args_parse(c->args, strlen(c->args), c->exts,
		    c->flags, &a, &error);
		if (e != c->want)
			fail_msg("case %zu: got %d want %d (%s)", i, (int)e,
			    (int)c->want, error != NULL ? error : "-");
		if (e != SMTP_ARG_OK) {
			assert_non_null(error);
			assert_true(error[0] != '\0');
			if (c->error != NULL)
				assert_string_equal(error, c->error);
			assert_null(a.to.text);
			assert_null(a.orcpt);
			smtp_rcpt_args_deinit(&a);
			continue;
		}
		assert_string_equal(a.to.text, c->to);
		assert_int_equal(a.notify, c->notify);
		if (c->orcpt == NULL)
			assert_null(a.orcpt);
		else
			assert_string_equal(a.orcpt, c->orcpt);
		smtp_rcpt_args_deinit(&a);
	}
}

/* ORCPT: at most 500 octets, "addr-type;" included, decoded. */
static void
test_rcpt_orcpt_length(void **state)
{
	struct smtp_rcpt_args a;
	const char *error = NULL;
	char *args;

	(void)state;
	/* "rfc822;" is 7 octets: 493 more make 500. */
	args = xasprintf("TO:<a@b.example> ORCPT=rfc822;%0493d", 0);
	assert_int_equal(smtp_rcpt_args_parse(args, strlen(args),
	    SMTP_EXT_DSN, 0, &a, &error), SMTP_ARG_OK);
	assert_int_equal(strlen(a.orcpt), 500);
	smtp_rcpt_args_deinit(&a);
	free(args);
	args = xasprintf("TO:<a@b.example> ORCPT=rfc822;%0494d", 0);
	assert_int_equal(smtp_rcpt_args_parse(args, strlen(args),
	    SMTP_EXT_DSN, 0, &a, &error), SMTP_ARG_SYNTAX);
	assert_string_equal(error, "ORCPT too long");
	assert_null(a.orcpt);
	smtp_rcpt_args_deinit(&a);
	free(args);
}

/* xtext (RFC 3461 4). */

struct xtext_case {
	const char *in;
	const char *out;	/* NULL: refused */
	const char *error;
};

static const struct xtext_case xdecode_cases[] = {
	{ "", "", NULL },
	{ "abc", "abc", NULL },
	{ "a+2Bb", "a+b", NULL },
	{ "+2b", "+", NULL },
	{ "+3D+3d", "==", NULL },
	{ "+20", " ", NULL },
	{ "+0A", "\n", NULL },
	{ "+FF", "\xff", NULL },
	{ "~!<>", "~!<>", NULL },
	{ "+", NULL, "incomplete +XX escape in xtext" },
	{ "a+2", NULL, "incomplete +XX escape in xtext" },
	{ "+G0", NULL, "bad hex digits in xtext +XX escape" },
	{ "+0G", NULL, "bad hex digits in xtext +XX escape" },
	{ "+ 2", NULL, "bad hex digits in xtext +XX escape" },
	{ "+00", NULL, "xtext encodes a NUL byte" },
	{ "a=b", NULL, "invalid character in xtext" },
	{ "a b", NULL, "invalid character in xtext" },
	{ "a\x7f", NULL, "invalid character in xtext" },
	{ "\t", NULL, "invalid character in xtext" },
};

static const struct xtext_case xencode_cases[] = {
	{ "", "", NULL },
	{ "abc", "abc", NULL },
	{ "a+b", "a+2Bb", NULL },
	{ "a=b", "a+3Db", NULL },
	{ "a b", "a+20b", NULL },
	{ "\xc3\xa9", "+C3+A9", NULL },
	{ "\x7f\x01", "+7F+01", NULL },
	{ "~!<>", "~!<>", NULL },
	{ "\r\n", "+0D+0A", NULL },
};

static void
test_xtext_tables(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(xdecode_cases); i++) {
		const struct xtext_case *c = &xdecode_cases[i];
		const char *error = NULL;
		char *got;

		print_message("xtext decode %zu: %s\n", i, c->in);
		got = smtp_xtext_decode(c->in, strlen(c->in), &error);
		if (c->out == NULL) {
			assert_null(got);
			assert_string_equal(error, c->error);
		} else {
			assert_non_null(got);
			assert_string_equal(got, c->out);
		}
		free(got);
	}
	for (size_t i = 0; i < N_ELEMENTS(xencode_cases); i++) {
		const struct xtext_case *c = &xencode_cases[i];
		char *got = smtp_xtext_encode(c->in);

		assert_string_equal(got, c->out);
		free(got);
	}
}

/* Every non-NUL byte survives encode then decode. */
static void
test_xtext_round_trip(void **state)
{
	char all[256], *enc, *dec;
	const char *error = NULL;
	uint32_t seed = 42;

	(void)state;
	for (int i = 1; i < 256; i++)
		all[i - 1] = (char)i;
	all[255] = '\0';
	enc = smtp_xtext_encode(all);
	/* The encoding is pure xchar / "+XX". */
	for (const char *p = enc; *p != '\0'; p++)
		assert_true(*p >= 33 && *p <= 126 && *p != '=');
	dec = smtp_xtext_decode(enc, strlen(enc), &error);
	assert_non_null(dec);
	assert_string_equal(dec, all);
	free(dec);
	free(enc);
	for (int round = 0; round < 200; round++) {
		char s[40];
		size_t n = lcg(&seed) % (sizeof(s) - 1);

		for (size_t k = 0; k < n; k++)
			s[k] = (char)(1 + lcg(&seed) % 255);
		s[n] = '\0';
		enc = smtp_xtext_encode(s);
		dec = smtp_xtext_decode(enc, strlen(enc), &error);
		assert_non_null(dec);
		assert_string_equal(dec, s);
		free(dec);
		free(enc);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_table),
		cmocka_unit_test(test_line_limits),
		cmocka_unit_test(test_line_cr_edge),
		cmocka_unit_test(test_command_table),
		cmocka_unit_test(test_verb_names),
		cmocka_unit_test(test_mail_table),
		cmocka_unit_test(test_mail_envid_length),
		cmocka_unit_test(test_mail_not_terminated),
		cmocka_unit_test(test_rcpt_table),
		cmocka_unit_test(test_rcpt_orcpt_length),
		cmocka_unit_test(test_xtext_tables),
		cmocka_unit_test(test_xtext_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
