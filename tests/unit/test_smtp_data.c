/* SPDX-License-Identifier: MIT */
/*
 * test_smtp_data - message text after DATA and in BDAT chunks
 * (src/smtpd/smtp_data.c): dot handling, the end marker and SMTP
 * smuggling variants, bare LF / bare CR, line length, NUL, size limit.
 *
 * Every table case is fed whole, one byte at a time, in every split into
 * two and (short inputs) three pieces, and in pseudo-random pieces
 * (fixed seed, empty pieces included); every way must give exactly the
 * expected output bytes, consumed count, problems and status.  In BDAT
 * mode each piece is one chunk, so a CR at the end of one chunk and an
 * LF at the start of the next are tried at every position.
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
#include "smtp_data.h"
#include "xalloc.h"

#define OUT_MAX_BYTES (1024 * 1024)
#define RANDOM_ROUNDS 25
#define THREE_WAY_MAX_BYTES 24

struct bytes {
	const char *p;
	size_t len;
};

/* B("...") - a byte string that may hold NUL. */
#define B(s) { s, sizeof(s) - 1 }

enum test_mode {
	MODE_DATA,
	MODE_BDAT,
};

/*
 * Input: in, then in_x bytes 'x', then in_post, then next (what follows
 * the end marker and must not be consumed).  Expected output: out, then
 * out_x bytes 'x', then out_post.
 */
struct data_case {
	const char *name;
	enum test_mode mode;
	enum smtp_bare_lf bare_lf;
	uint64_t max_size;
	bool binary;
	struct bytes in;
	size_t in_x;
	struct bytes in_post;
	struct bytes next;
	struct bytes out;
	size_t out_x;
	struct bytes out_post;
	unsigned problems;
	enum smtp_data_status status;	/* DATA mode only */
};

#define END SMTP_DATA_END
#define MORE SMTP_DATA_NEED_MORE
#define REJECT SMTP_BARE_LF_REJECT
#define P_BIG SMTP_DATA_TOO_BIG
#define P_LONG SMTP_DATA_LINE_TOO_LONG
#define P_LF SMTP_DATA_BARE_LF
#define P_NUL SMTP_DATA_NUL

static const struct data_case cases[] = {
	/* Ordinary messages and dot handling (RFC 5321 4.5.2). */
	{ "simple", .in = B("Subject: x\r\n\r\nhello\r\n.\r\n"),
	    .out = B("Subject: x\r\n\r\nhello\r\n"), .status = END },
	{ "empty message", .in = B(".\r\n"), .out = B(""), .status = END },
	{ "empty message, then a command", .in = B(".\r\n"),
	    .next = B("QUIT\r\n"), .out = B(""), .status = END },
	{ "empty message, then another end marker", .in = B(".\r\n"),
	    .next = B(".\r\n"), .out = B(""), .status = END },
	{ "one empty line", .in = B("\r\n.\r\n"), .out = B("\r\n"),
	    .status = END },
	{ "dot-stuffed line", .in = B("..x\r\n.\r\n"), .out = B(".x\r\n"),
	    .status = END },
	{ "stuffed line holding one dot", .in = B("a\r\n..\r\n.\r\n"),
	    .out = B("a\r\n.\r\n"), .status = END },
	{ "three dots", .in = B("a\r\n...\r\n.\r\n"),
	    .out = B("a\r\n..\r\n"), .status = END },
	{ "dots inside lines are data", .in = B("a.b\r\n.x\r\nc.\r\n.\r\n"),
	    .out = B("a.b\r\nx\r\nc.\r\n"), .status = END },
	{ "next command not consumed", .in = B("hi\r\n.\r\n"),
	    .next = B("MAIL FROM:<a@example.org>\r\n"), .out = B("hi\r\n"),
	    .status = END },
	{ "no end yet", .in = B("hi\r\n"), .out = B("hi\r\n"),
	    .status = MORE },
	{ "no end yet: dot held", .in = B("hi\r\n."), .out = B("hi\r\n"),
	    .status = MORE },
	{ "no end yet: dot CR held", .in = B("hi\r\n.\r"),
	    .out = B("hi\r\n"), .status = MORE },
	{ "no end yet: CR held", .in = B("hi\r"), .out = B("hi"),
	    .status = MORE },
	{ "dot then bare CR: dot dropped, CR kept",
	    .in = B("a\r\n.\rx\r\n.\r\n"), .out = B("a\r\n\rx\r\n"),
	    .status = END },
	{ "dot, bare CR, dot", .in = B("a\r\n.\r.\r\n.\r\n"),
	    .out = B("a\r\n\r.\r\n"), .status = END },

	/* SMTP smuggling: only CRLF "." CRLF ends the message. */
	{ "smuggle \\n.\\n normalize", .in = B("a\n.\nb\r\n.\r\n"),
	    .out = B("a\r\n.\r\nb\r\n"), .status = END },
	{ "smuggle \\n.\\n reject", .bare_lf = REJECT,
	    .in = B("a\n.\nb\r\n.\r\n"), .out = B("a"), .problems = P_LF,
	    .status = END },
	{ "smuggle \\n.\\r\\n normalize", .in = B("a\n.\r\nb\r\n.\r\n"),
	    .out = B("a\r\n.\r\nb\r\n"), .status = END },
	{ "smuggle \\n.\\r\\n reject", .bare_lf = REJECT,
	    .in = B("a\n.\r\nb\r\n.\r\n"), .out = B("a"), .problems = P_LF,
	    .status = END },
	{ "smuggle \\n.\\r\\n does not end", .in = B("a\n.\r\n"),
	    .out = B("a\r\n.\r\n"), .status = MORE },
	{ "smuggle \\n.\\r\\n reject does not end", .bare_lf = REJECT,
	    .in = B("a\n.\r\n"), .out = B("a"), .problems = P_LF,
	    .status = MORE },
	{ "smuggle \\n.\\r\\n then commands", .in = B("a\n.\r\nMAIL FROM:<>"
	    "\r\nRCPT TO:<v@example.com>\r\nDATA\r\n"),
	    .out = B("a\r\n.\r\nMAIL FROM:<>\r\nRCPT TO:<v@example.com>\r\n"
	    "DATA\r\n"), .status = MORE },
	{ "smuggle \\r.\\r", .in = B("a\r.\rb\r\n.\r\n"),
	    .out = B("a\r.\rb\r\n"), .status = END },
	{ "smuggle \\r.\\r\\n", .in = B("a\r.\r\nb\r\n.\r\n"),
	    .out = B("a\r.\r\nb\r\n"), .status = END },
	{ "smuggle \\r\\n\\r.\\r\\n", .in = B("a\r\n\r.\r\n"),
	    .out = B("a\r\n\r.\r\n"), .status = MORE },
	{ "smuggle \\r\\n.\\n normalize", .in = B("a\r\n.\nb\r\n.\r\n"),
	    .out = B("a\r\n.\r\nb\r\n"), .status = END },
	{ "smuggle \\r\\n.\\n reject", .bare_lf = REJECT,
	    .in = B("a\r\n.\nb\r\n.\r\n"), .out = B("a\r\n"),
	    .problems = P_LF, .status = END },
	{ "smuggle .\\n at start normalize", .in = B(".\nb\r\n.\r\n"),
	    .out = B(".\r\nb\r\n"), .status = END },
	{ "smuggle .\\n at start reject", .bare_lf = REJECT,
	    .in = B(".\nb\r\n.\r\n"), .out = B(""), .problems = P_LF,
	    .status = END },
	{ "smuggle .\\r\\r\\n", .in = B("a\r\n.\r\r\n.\r\n"),
	    .out = B("a\r\n\r\r\n"), .status = END },
	{ "real end after a lone LF line", .in = B("a\n\r\n.\r\n"),
	    .out = B("a\r\n\r\n"), .status = END },
	{ "real end after the kept dot line", .in = B("a\n.\r\n.\r\n"),
	    .next = B("RSET\r\n"), .out = B("a\r\n.\r\n"), .status = END },

	/* Bare LF, bare CR. */
	{ "bare LF normalize", .in = B("a\nb\r\n.\r\n"),
	    .out = B("a\r\nb\r\n"), .status = END },
	{ "bare LF reject", .bare_lf = REJECT, .in = B("a\nb\r\n.\r\n"),
	    .out = B("a"), .problems = P_LF, .status = END },
	{ "bare LF line start unstuffs", .in = B("a\n..b\r\n.\r\n"),
	    .out = B("a\r\n.b\r\n"), .status = END },
	{ "bare LF line start, dot and bare CR",
	    .in = B("a\n.\rx\r\n.\r\n"), .out = B("a\r\n\rx\r\n"),
	    .status = END },
	{ "bare LF only lines", .in = B("a\nb\n.\r\n"),
	    .out = B("a\r\nb\r\n.\r\n"), .status = MORE },
	{ "bare CR kept", .in = B("a\rb\r\n.\r\n"), .out = B("a\rb\r\n"),
	    .status = END },
	{ "bare CR kept with reject", .bare_lf = REJECT,
	    .in = B("a\rb\r\n.\r\n"), .out = B("a\rb\r\n"), .status = END },
	{ "CR CR LF", .in = B("a\r\r\n.\r\n"), .out = B("a\r\r\n"),
	    .status = END },
	{ "CR at line start", .in = B("\r\r\n.\r\n"), .out = B("\r\r\n"),
	    .status = END },
	{ "binary DATA still normalizes LF", .binary = true,
	    .in = B("a\nb\r\n.\r\n"), .out = B("a\r\nb\r\n"), .status = END },

	/* Line length (RFC 5321 4.5.3.1.6): 1000 octets with CRLF. */
	{ "1000-octet line", .in_x = 998, .in_post = B("\r\n.\r\n"),
	    .out_x = 998, .out_post = B("\r\n"), .status = END },
	{ "1001-octet line", .in_x = 999, .in_post = B("\r\n.\r\n"),
	    .out_x = 999, .out_post = B("\r"), .problems = P_LONG,
	    .status = END },
	{ "1001-octet line, then a command", .in_x = 999,
	    .in_post = B("\r\n.\r\n"), .next = B("QUIT\r\n"), .out_x = 999,
	    .out_post = B("\r"), .problems = P_LONG, .status = END },
	{ "long line cut at 1001st octet", .in_x = 1500,
	    .in_post = B("\r\n.\r\n"), .out_x = 1000, .problems = P_LONG,
	    .status = END },
	{ "stuffing dot not counted", .in = B("."), .in_x = 998,
	    .in_post = B("\r\n.\r\n"), .out_x = 998, .out_post = B("\r\n"),
	    .status = END },
	{ "stuffing dot not counted, 1001", .in = B("."), .in_x = 999,
	    .in_post = B("\r\n.\r\n"), .out_x = 999, .out_post = B("\r"),
	    .problems = P_LONG, .status = END },
	{ "lone LF counts as CRLF: 1000", .in_x = 998,
	    .in_post = B("\n\r\n.\r\n"), .out_x = 998,
	    .out_post = B("\r\n\r\n"), .status = END },
	{ "lone LF counts as CRLF: 1001", .in_x = 999,
	    .in_post = B("\n\r\n.\r\n"), .out_x = 999, .out_post = B("\r"),
	    .problems = P_LONG, .status = END },
	{ "second line 1000 after a short one", .in = B("ab\r\n"),
	    .in_x = 998, .in_post = B("\r\n.\r\n"), .out = B("ab\r\n"),
	    .out_x = 998, .out_post = B("\r\n"), .status = END },
	{ "binary: long line ok", .binary = true, .in_x = 3000,
	    .in_post = B("\r\n.\r\n"), .out_x = 3000, .out_post = B("\r\n"),
	    .status = END },

	/* NUL. */
	{ "NUL", .in = B("a\0b\r\n.\r\n"), .out = B("a"),
	    .problems = P_NUL, .status = END },
	{ "NUL, then a command", .in = B("a\0\r\n.\r\n"),
	    .next = B("RSET\r\n"), .out = B("a"), .problems = P_NUL,
	    .status = END },
	{ "NUL binary", .binary = true, .in = B("a\0b\r\n.\r\n"),
	    .out = B("a\0b\r\n"), .status = END },
	{ "NUL as 1001st octet", .in_x = 1000,
	    .in_post = B("\0\r\n.\r\n"), .out_x = 1000,
	    .problems = P_NUL | P_LONG, .status = END },
	{ "first problem only", .bare_lf = REJECT,
	    .in = B("a\0b\nc\r\n.\r\n"), .out = B("a"), .problems = P_NUL,
	    .status = END },

	/* Size limit: bytes as stored. */
	{ "max_size exactly", .max_size = 5, .in = B("abc\r\n.\r\n"),
	    .out = B("abc\r\n"), .status = END },
	{ "max_size + 1", .max_size = 4, .in = B("abc\r\n.\r\n"),
	    .out = B("abc\r"), .problems = P_BIG, .status = END },
	{ "max_size counts unstuffed bytes", .max_size = 3,
	    .in = B("..\r\n.\r\n"), .out = B(".\r\n"), .status = END },
	{ "max_size counts lone LF as 2", .max_size = 4,
	    .in = B("abc\n.\r\n"), .out = B("abc\r"), .problems = P_BIG,
	    .status = MORE },
	{ "too big, smuggled end ignored", .max_size = 2,
	    .in = B("abc\n.\r\nx\r\n.\r\n"), .next = B("QUIT\r\n"),
	    .out = B("ab"), .problems = P_BIG, .status = END },
	{ "empty message with max_size 1", .max_size = 1, .in = B(".\r\n"),
	    .out = B(""), .status = END },

	/* BDAT (RFC 3030): no dots, no end marker. */
	{ "bdat simple", .mode = MODE_BDAT, .in = B("hello\r\nworld\r\n"),
	    .out = B("hello\r\nworld\r\n") },
	{ "bdat dots are data", .mode = MODE_BDAT,
	    .in = B(".\r\n..x\r\n\r\n.\r\n"),
	    .out = B(".\r\n..x\r\n\r\n.\r\n") },
	{ "bdat bare LF normalize", .mode = MODE_BDAT, .in = B("a\nb\n"),
	    .out = B("a\r\nb\r\n") },
	{ "bdat bare LF reject", .mode = MODE_BDAT, .bare_lf = REJECT,
	    .in = B("a\r\nb\nc\r\n"), .out = B("a\r\nb"), .problems = P_LF },
	{ "bdat bare CR kept", .mode = MODE_BDAT, .in = B("a\rb\r\r\n"),
	    .out = B("a\rb\r\r\n") },
	{ "bdat trailing CR flushed", .mode = MODE_BDAT, .in = B("a\r\nb\r"),
	    .out = B("a\r\nb\r") },
	{ "bdat CR LF CR LF", .mode = MODE_BDAT, .in = B("\r\n\r\n"),
	    .out = B("\r\n\r\n") },
	{ "bdat no final line end", .mode = MODE_BDAT, .in = B("a\r\nb"),
	    .out = B("a\r\nb") },
	{ "bdat 1000-octet line", .mode = MODE_BDAT, .in_x = 998,
	    .in_post = B("\r\n"), .out_x = 998, .out_post = B("\r\n") },
	{ "bdat 1001-octet line", .mode = MODE_BDAT, .in_x = 999,
	    .in_post = B("\r\nnext\r\n"), .out_x = 999, .out_post = B("\r"),
	    .problems = P_LONG },
	{ "bdat NUL", .mode = MODE_BDAT, .in = B("a\0b\r\n"), .out = B("a"),
	    .problems = P_NUL },
	{ "bdat binary: unchanged", .mode = MODE_BDAT, .binary = true,
	    .in = B("a\0b\nc\r\r\n\r"), .out = B("a\0b\nc\r\r\n\r") },
	{ "bdat binary ignores reject", .mode = MODE_BDAT, .binary = true,
	    .bare_lf = REJECT, .in = B("a\nb"), .out = B("a\nb") },
	{ "bdat binary long line", .mode = MODE_BDAT, .binary = true,
	    .in_x = 5000, .out_x = 5000 },
	{ "bdat max_size exactly", .mode = MODE_BDAT, .max_size = 4,
	    .in = B("ab\r\n"), .out = B("ab\r\n") },
	{ "bdat max_size + 1", .mode = MODE_BDAT, .max_size = 3,
	    .in = B("ab\r\n"), .out = B("ab\r"), .problems = P_BIG },
	{ "bdat max_size, lone LF", .mode = MODE_BDAT, .max_size = 3,
	    .in = B("ab\n"), .out = B("ab\r"), .problems = P_BIG },
	{ "bdat max_size, trailing CR", .mode = MODE_BDAT, .max_size = 2,
	    .in = B("ab\r"), .out = B("ab"), .problems = P_BIG },
	{ "bdat binary max_size", .mode = MODE_BDAT, .binary = true,
	    .max_size = 2, .in = B("a\nb"), .out = B("a\n"),
	    .problems = P_BIG },
};

struct run_result {
	struct buf out;
	size_t calls;
	size_t consumed;
	unsigned problems;
	enum smtp_data_status status;
	uint64_t size;
};

static void
collect(void *ctx, const char *data, size_t len)
{
	struct run_result *res = ctx;

	assert_non_null(data);
	assert_true(len > 0);
	assert_int_equal(buf_append(&res->out, data, len), 0);
	res->calls++;
}

/* concat - a heap copy of a + n bytes 'x' + b + c; *len_r its length. */
static char *
concat(struct bytes a, size_t n, struct bytes b, struct bytes c,
    size_t *len_r)
{
	size_t len = a.len + n + b.len + c.len;
	char *s = xmalloc(len + 1);

	/* Unset fields are { NULL, 0 }: memcpy() must not see NULL. */
	if (a.len > 0)
		memcpy(s, a.p, a.len);
	memset(s + a.len, 'x', n);
	if (b.len > 0)
		memcpy(s + a.len + n, b.p, b.len);
	if (c.len > 0)
		memcpy(s + a.len + n + b.len, c.p, c.len);
	*len_r = len;
	return s;
}

/*
 * run_pieces - feed in[0..len) to a fresh reader in pieces of the given
 * lengths (they add up to len).  DATA mode stops feeding at END and then
 * checks that the reader takes nothing more.
 */
static void
run_pieces(const struct data_case *c, const char *in, size_t len,
    const size_t *pieces, size_t npieces, struct run_result *res)
{
	struct smtp_data_reader r;
	size_t off = 0;

	memset(res, 0, sizeof(*res));
	buf_init(&res->out, OUT_MAX_BYTES);
	smtp_data_reader_init(&r, c->max_size, c->bare_lf);
	r.binary = c->binary;
	res->status = SMTP_DATA_NEED_MORE;
	for (size_t i = 0; i < npieces; i++) {
		size_t n = pieces[i];

		assert_true(off + n <= len);
		if (c->mode == MODE_BDAT) {
			smtp_data_read_chunk(&r, in + off, n, collect, res);
		} else {
			size_t consumed = SIZE_MAX;
			enum smtp_data_status st = smtp_data_read(&r, in + off,
			    n, &consumed, collect, res);

			assert_true(consumed <= n);
			if (st == SMTP_DATA_NEED_MORE)
				assert_int_equal(consumed, n);
			res->consumed += consumed;
			if (st == SMTP_DATA_END) {
				res->status = SMTP_DATA_END;
				break;
			}
		}
		off += n;
	}
	if (c->mode == MODE_BDAT) {
		smtp_data_chunk_end(&r, collect, res);
		res->consumed = len;
	} else if (res->status == SMTP_DATA_END) {
		/* Spent: takes nothing, passes on nothing. */
		size_t consumed = SIZE_MAX, before = res->out.len;

		assert_int_equal(smtp_data_read(&r, ".\r\nabc", 6, &consumed,
		    collect, res), SMTP_DATA_END);
		assert_int_equal(consumed, 0);
		assert_int_equal(res->out.len, before);
	}
	res->problems = r.problems;
	res->size = r.size;
}

/* escape - s[0..len) readable, cut after 120 bytes; caller frees. */
static char *
escape(const char *s, size_t len)
{
	struct buf b;

	buf_init(&b, 1024);
	for (size_t i = 0; i < len && i < 120; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '\r')
			(void)buf_append_str(&b, "\\r");
		else if (ch == '\n')
			(void)buf_append_str(&b, "\\n");
		else if (ch < 0x20 || ch >= 0x7f || ch == '\\')
			(void)buf_appendf(&b, "\\x%02x", ch);
		else
			(void)buf_append_c(&b, (char)ch);
	}
	if (len > 120)
		(void)buf_appendf(&b, "...(%zu bytes)", len);
	return buf_steal(&b);
}

static void
check_result(const struct data_case *c, const char *how,
    const struct run_result *res, const char *want, size_t want_len,
    size_t want_consumed)
{
	bool same_out = res->out.len == want_len &&
	    memcmp(res->out.data == NULL ? "" : res->out.data, want,
	    want_len) == 0;

	if (!same_out) {
		char *got_s = escape(res->out.data == NULL ? "" :
		    res->out.data, res->out.len);
		char *want_s = escape(want, want_len);

		fail_msg("case \"%s\" fed %s: output \"%s\", want \"%s\"",
		    c->name, how, got_s, want_s);
	}
	if (res->consumed != want_consumed)
		fail_msg("case \"%s\" fed %s: consumed %zu, want %zu",
		    c->name, how, res->consumed, want_consumed);
	if (res->problems != c->problems)
		fail_msg("case \"%s\" fed %s: problems %#x, want %#x",
		    c->name, how, res->problems, c->problems);
	if (c->mode == MODE_DATA && res->status != c->status)
		fail_msg("case \"%s\" fed %s: status %d, want %d", c->name,
		    how, (int)res->status, (int)c->status);
	/* size is exactly what was passed on. */
	if (res->size != res->out.len)
		fail_msg("case \"%s\" fed %s: size %llu, output %zu bytes",
		    c->name, how, (unsigned long long)res->size, res->out.len);
}

static uint64_t rng_state;

/* rng_next - xorshift64*, fixed seed per case: repeatable splits. */
static uint64_t
rng_next(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * UINT64_C(2685821657736338717);
}

static void
run_case(const struct data_case *c)
{
	size_t in_len, want_len, want_consumed;
	char *in = concat(c->in, c->in_x, c->in_post, c->next, &in_len);
	char *want = concat(c->out, c->out_x, c->out_post,
	    (struct bytes){ "", 0 }, &want_len);
	size_t *pieces = xreallocarray(NULL, in_len + 1, sizeof(*pieces));
	struct run_result res;
	char how[64];

	want_consumed = in_len - c->next.len;
	assert_true(c->mode == MODE_DATA || c->next.len == 0);

	/* Whole. */
	pieces[0] = in_len;
	run_pieces(c, in, in_len, pieces, 1, &res);
	check_result(c, "whole", &res, want, want_len, want_consumed);
	/* Batched: input bytes go out in runs; only a byte the reader must
	 * look at ('.', CR, LF) may end a run and add one literal. */
	if (c->mode == MODE_DATA || !c->binary) {
		size_t special = 0;

		for (size_t i = 0; i < in_len; i++)
			if (in[i] == '.' || in[i] == '\r' || in[i] == '\n')
				special++;
		assert_true(res.calls <= 1 + 2 * special);
	} else {
		assert_true(res.calls <= 1);
	}
	buf_deinit(&res.out);

	/* One byte at a time. */
	for (size_t i = 0; i < in_len; i++)
		pieces[i] = 1;
	run_pieces(c, in, in_len, pieces, in_len, &res);
	check_result(c, "byte by byte", &res, want, want_len, want_consumed);
	buf_deinit(&res.out);

	/* Every split into two pieces (the first may be empty). */
	for (size_t k = 0; k <= in_len; k++) {
		pieces[0] = k;
		pieces[1] = in_len - k;
		run_pieces(c, in, in_len, pieces, 2, &res);
		(void)snprintf(how, sizeof(how), "split at %zu", k);
		check_result(c, how, &res, want, want_len, want_consumed);
		buf_deinit(&res.out);
	}

	/* Every split into three pieces, short inputs only. */
	if (in_len <= THREE_WAY_MAX_BYTES) {
		for (size_t j = 0; j <= in_len; j++) {
			for (size_t k = j; k <= in_len; k++) {
				pieces[0] = j;
				pieces[1] = k - j;
				pieces[2] = in_len - k;
				run_pieces(c, in, in_len, pieces, 3, &res);
				(void)snprintf(how, sizeof(how),
				    "split at %zu and %zu", j, k);
				check_result(c, how, &res, want, want_len,
				    want_consumed);
				buf_deinit(&res.out);
			}
		}
	}

	/* Random pieces of 0..7 bytes, fixed seed. */
	rng_state = UINT64_C(0x5eed5eed12345678);
	for (int round = 0; round < RANDOM_ROUNDS; round++) {
		size_t n = 0, left = in_len;

		while (left > 0) {
			size_t p = (size_t)(rng_next() % 8);

			if (p > left)
				p = left;
			pieces[n++] = p;
			left -= p;
			if (n == in_len) {	/* room is in_len + 1 */
				pieces[n++] = left;
				left = 0;
			}
		}
		run_pieces(c, in, in_len, pieces, n, &res);
		(void)snprintf(how, sizeof(how), "in random pieces, round %d",
		    round);
		check_result(c, how, &res, want, want_len, want_consumed);
		buf_deinit(&res.out);
	}

	free(pieces);
	free(in);
	free(want);
}

static void
test_table(void **state)
{
	(void)state;
	assert_true(N_ELEMENTS(cases) >= 40);
	for (size_t i = 0; i < N_ELEMENTS(cases); i++)
		run_case(&cases[i]);
}

/* The end marker split over two feeds at every byte, in a long message. */
static void
test_end_marker_every_split(void **state)
{
	static const char msg[] = "From: a@example.org\r\n\r\nbody\r\n.\r\n"
	    "QUIT\r\n";
	size_t len = sizeof(msg) - 1, body = len - 6;

	(void)state;
	for (size_t k = 0; k <= len; k++) {
		struct smtp_data_reader r;
		struct run_result res;
		size_t c1 = SIZE_MAX, c2 = SIZE_MAX;
		enum smtp_data_status st;

		memset(&res, 0, sizeof(res));
		buf_init(&res.out, OUT_MAX_BYTES);
		smtp_data_reader_init(&r, 0, SMTP_BARE_LF_REJECT);
		st = smtp_data_read(&r, msg, k, &c1, collect, &res);
		if (k >= body) {
			assert_int_equal(st, SMTP_DATA_END);
			assert_int_equal(c1, body);
		} else {
			assert_int_equal(st, SMTP_DATA_NEED_MORE);
			assert_int_equal(c1, k);
			st = smtp_data_read(&r, msg + k, len - k, &c2, collect,
			    &res);
			assert_int_equal(st, SMTP_DATA_END);
			assert_int_equal(k + c2, body);
		}
		assert_int_equal(res.out.len, body - 3);
		assert_memory_equal(res.out.data, msg, body - 3);
		assert_int_equal(r.problems, 0);
		/* Fed whole, the message goes out in one call. */
		if (k == len)
			assert_int_equal(res.calls, 1);
		buf_deinit(&res.out);
	}
}

/* Explicit BDAT chunks: CR and LF in different chunks, empty chunks. */
static void
test_bdat_chunks(void **state)
{
	static const char *const chunks[] = {
		"a\r", "\nb\r", "", "\r", "\n", "\r", "x", "\r",
	};
	struct smtp_data_reader r;
	struct run_result res;

	(void)state;
	memset(&res, 0, sizeof(res));
	buf_init(&res.out, OUT_MAX_BYTES);
	smtp_data_reader_init(&r, 0, SMTP_BARE_LF_REJECT);
	for (size_t i = 0; i < N_ELEMENTS(chunks); i++)
		smtp_data_read_chunk(&r, chunks[i], strlen(chunks[i]),
		    collect, &res);
	/* The last CR is held until the end. */
	assert_int_equal(res.out.len, 9);
	smtp_data_chunk_end(&r, collect, &res);
	assert_int_equal(res.out.len, 10);
	assert_memory_equal(res.out.data, "a\r\nb\r\r\n\rx\r", 10);
	assert_int_equal(r.problems, 0);
	assert_int_equal(r.size, 10);
	buf_deinit(&res.out);
}

/* A problem stops the output but the line-by-line scan goes on. */
static void
test_problem_keeps_scanning(void **state)
{
	struct smtp_data_reader r;
	struct run_result res;
	size_t consumed = 0;
	char *big = xmalloc(100000);

	(void)state;
	memset(&res, 0, sizeof(res));
	buf_init(&res.out, OUT_MAX_BYTES);
	smtp_data_reader_init(&r, 10, SMTP_BARE_LF_NORMALIZE);
	memset(big, 'y', 100000);
	for (int i = 0; i < 50; i++) {
		assert_int_equal(smtp_data_read(&r, big, 100000, &consumed,
		    collect, &res), SMTP_DATA_NEED_MORE);
		assert_int_equal(consumed, 100000);
	}
	assert_int_equal(r.problems, SMTP_DATA_TOO_BIG);
	assert_int_equal(res.out.len, 10);
	assert_int_equal(r.size, 10);
	assert_int_equal(smtp_data_read(&r, "\r\n.\r\nNOOP\r\n", 11,
	    &consumed, collect, &res), SMTP_DATA_END);
	assert_int_equal(consumed, 5);
	assert_int_equal(res.out.len, 10);
	buf_deinit(&res.out);
	free(big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_end_marker_every_split),
		cmocka_unit_test(test_bdat_chunks),
		cmocka_unit_test(test_problem_keeps_scanning),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
