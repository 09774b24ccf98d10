/* SPDX-License-Identifier: MIT */
/*
 * test_header_rewrite - the pure part of header address rewriting
 * (src/common/header_rewrite.c): where the primary header block ends
 * (fed whole, byte by byte and in random pieces), which addresses of
 * the block are edited and how they are completed in the local and
 * remote contexts, and the block written back with them.
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
#include "header_addr.h"
#include "header_rewrite.h"
#include "xalloc.h"

#define MAX_WANT 8

/* The contexts the tests use.  A local context may carry a
 * remote_domain: it must not be used there. */
static const struct header_rewrite_ctx ctx_local_none = {
	.local = true, .append_at_myorigin = false,
	.append_dot_mydomain = false, .myorigin = "origin.example",
	.mydomain = "dom.example", .remote_domain = "remote.example",
};
static const struct header_rewrite_ctx ctx_local_origin = {
	.local = true, .append_at_myorigin = true,
	.append_dot_mydomain = false, .myorigin = "origin.example",
	.mydomain = "dom.example", .remote_domain = "",
};
static const struct header_rewrite_ctx ctx_local_dot = {
	.local = true, .append_at_myorigin = false,
	.append_dot_mydomain = true, .myorigin = "origin.example",
	.mydomain = "dom.example", .remote_domain = "remote.example",
};
static const struct header_rewrite_ctx ctx_local_both = {
	.local = true, .append_at_myorigin = true,
	.append_dot_mydomain = true, .myorigin = "origin.example",
	.mydomain = "dom.example", .remote_domain = "remote.example",
};
/* Remote: both steps with remote_domain (myorigin and mydomain are set
 * to show that they are not used). */
static const struct header_rewrite_ctx ctx_remote_set = {
	.local = false, .append_at_myorigin = true,
	.append_dot_mydomain = true, .myorigin = "origin.example",
	.mydomain = "dom.example", .remote_domain = "remote.example",
};
static const struct header_rewrite_ctx ctx_remote_empty = {
	.local = false, .append_at_myorigin = true,
	.append_dot_mydomain = true, .myorigin = "origin.example",
	.mydomain = "dom.example", .remote_domain = "",
};
static const struct header_rewrite_ctx ctx_remote_at_only = {
	.local = false, .append_at_myorigin = true,
	.append_dot_mydomain = false, .myorigin = "origin.example",
	.mydomain = "dom.example", .remote_domain = "remote.example",
};

/* ------------------------------------------------------------------ */
/* header_block_end */

/* A small deterministic generator for the random splits. */
static uint32_t rng_state = 12345;

static uint32_t
rng(void)
{
	rng_state = rng_state * 1103515245u + 12345u;
	return rng_state >> 8;
}

/* feed - text[0 .. len) given in the pieces of lens[0 .. nlens) (growing
 * lengths, the last one len), final=false each, then final=true; every
 * answer "done" must say want; returns whether it was known before
 * final. */
static bool
feed(const char *text, size_t len, const size_t *lens, size_t nlens,
    size_t want)
{
	struct header_block_scan sc = { 0, false };
	bool early = false;

	for (size_t i = 0; i < nlens; i++) {
		if (header_block_end(&sc, text, lens[i], false)) {
			assert_int_equal(sc.scanned, want);
			early = true;
		} else {
			assert_false(early);
			assert_true(sc.scanned <= lens[i]);
		}
	}
	assert_true(header_block_end(&sc, text, len, true));
	assert_int_equal(sc.scanned, want);
	/* Asked again: the same. */
	assert_true(header_block_end(&sc, text, len, true));
	assert_int_equal(sc.scanned, want);
	return early;
}

/*
 * check_block - the block of text is want bytes, whether fed whole, byte
 * by byte or in random pieces; early: known before final (an empty line
 * or a line that ends the block was seen).
 */
static void
check_block(const char *text, size_t len, size_t want, bool early)
{
	struct header_block_scan sc = { 0, false };
	size_t *lens = xcalloc(len + 2, sizeof(*lens));
	size_t n;

	/* Whole, final at once. */
	assert_true(header_block_end(&sc, text, len, true));
	assert_int_equal(sc.scanned, want);

	/* Whole, then final. */
	lens[0] = len;
	assert_int_equal(feed(text, len, lens, 1, want), early);

	/* Byte by byte: len 0, 1, ... len. */
	for (size_t i = 0; i <= len; i++)
		lens[i] = i;
	assert_int_equal(feed(text, len, lens, len + 1, want), early);

	/* Random pieces. */
	for (int round = 0; round < 50; round++) {
		size_t at = 0;

		n = 0;
		while (at < len) {
			at += 1 + rng() % 7;
			if (at > len)
				at = len;
			lens[n++] = at;
		}
		assert_int_equal(feed(text, len, lens, n, want), early);
	}
	free(lens);
}

#define CHECK_BLOCK(text, want, early) \
	check_block(text, sizeof(text) - 1, want, early)

static void
test_block_empty_line(void **state)
{
	(void)state;
	/* The empty line ends it (not part of it). */
	CHECK_BLOCK("From: a@x\r\nTo: b@y\r\n\r\nbody\r\n", 20, true);
	CHECK_BLOCK("From: a@x\r\nTo: b@y\r\n\r\n", 20, true);
	/* The body may look like headers. */
	CHECK_BLOCK("From: a@x\r\n\r\nTo: b@y\r\n", 11, true);
	/* An empty line first: an empty block. */
	CHECK_BLOCK("\r\nFrom: a@x\r\n", 0, true);
	/* Folded headers stay in. */
	CHECK_BLOCK("Subject: a\r\n b\r\n\tc\r\nTo: x\r\n\r\nbody", 27,
	    true);
	/* A line of white space only is a continuation, not the end. */
	CHECK_BLOCK("To: a,\r\n \r\n b\r\n\r\n", 15, true);
	/* Empty values. */
	CHECK_BLOCK("To:\r\nX:\r\n\r\n", 9, true);
}

static void
test_block_body_line(void **state)
{
	(void)state;
	/* A line that is neither a header nor a continuation ends it. */
	CHECK_BLOCK("From: a@x\r\nthis is body\r\nTo: b@y\r\n\r\n", 11,
	    true);
	CHECK_BLOCK("From: a@x\r\nnocolon\r\n", 11, true);
	CHECK_BLOCK("From: a@x\r\n: no name\r\n\r\n", 11, true);
	/* The continuations after the body line are not in it. */
	CHECK_BLOCK("From: a@x\r\nbody\r\n more\r\n", 11, true);
	/* A body line first: an empty block. */
	CHECK_BLOCK("hello world\r\nFrom: a@x\r\n\r\n", 0, true);
	/* A bare LF line is not a header either. */
	CHECK_BLOCK("From: a@x\r\n\nTo: b@y\r\n", 11, true);
}

static void
test_block_first_continuation(void **state)
{
	(void)state;
	/* A continuation as the very first line continues nothing. */
	CHECK_BLOCK(" folded: x\r\nFrom: a@x\r\n\r\n", 0, true);
	CHECK_BLOCK("\tFrom: a@x\r\n\r\n", 0, true);
	/* After a header, the same line is a continuation. */
	CHECK_BLOCK("X: 1\r\n folded: x\r\n\r\n", 18, true);
}

static void
test_block_name_space(void **state)
{
	(void)state;
	/* Spaces or tabs between the name and the colon. */
	CHECK_BLOCK("Subject : hi\r\nTo \t: a@x\r\n\r\n", 25, true);
	/* But not inside the name. */
	CHECK_BLOCK("X: 1\r\nSub ject: hi\r\n\r\n", 6, true);
	/* All printable ASCII but ':' may be in the name. */
	CHECK_BLOCK("X-!#$%&'*+-/=?^_`{|}~\"(),.;<>@[\\]: v\r\n\r\n", 38,
	    true);
}

static void
test_block_final(void **state)
{
	(void)state;
	/* Headers up to the end of the text: known only with final. */
	CHECK_BLOCK("From: a@x\r\nTo: b@y\r\n", 20, false);
	CHECK_BLOCK("From: a@x\r\n folded\r\n", 20, false);
	CHECK_BLOCK("", 0, false);
	/* A partial last line is not counted. */
	CHECK_BLOCK("From: a@x\r\nTo: b@y", 11, false);
	CHECK_BLOCK("From: a@x\r\nTo: b@y\r", 11, false);
	CHECK_BLOCK("From: a@x", 0, false);
	CHECK_BLOCK("From: a@x\r\n\r", 11, false);
}

static void
test_block_cr(void **state)
{
	(void)state;
	/* A CR without LF inside a value: still one header line. */
	CHECK_BLOCK("From: a\rb@x\r\nTo: c\r\n\r\n", 20, true);
	/* In a name: not a header. */
	CHECK_BLOCK("X: 1\r\nFr\rom: a\r\n\r\n", 6, true);
	/* A CR alone as a line is no empty line. */
	CHECK_BLOCK("X: 1\r\n\r\r\nY: 2\r\n", 6, true);
	/* A lone CR at the end with final: a partial line. */
	CHECK_BLOCK("X: 1\r\nY: 2\r", 6, false);
}

static void
test_block_8bit(void **state)
{
	(void)state;
	/* Bytes >= 0x80 in a name: not a header. */
	CHECK_BLOCK("Fr\xc3\xa9: a\r\nTo: b\r\n\r\n", 0, true);
	CHECK_BLOCK("X: 1\r\n\x80X: b\r\n\r\n", 6, true);
	CHECK_BLOCK("X: 1\r\nX\xff: b\r\n\r\n", 6, true);
	/* In a value: fine. */
	CHECK_BLOCK("Subject: caf\xc3\xa9\r\n\r\n", 16, true);
	/* Other control bytes in a name: not a header. */
	CHECK_BLOCK("X: 1\r\nA\x01: b\r\n\r\n", 6, true);
	CHECK_BLOCK("X: 1\r\nA\x7f: b\r\n\r\n", 6, true);
	CHECK_BLOCK("X: 1\r\nA\0: b\r\n\r\n", 6, true);
}

/* ------------------------------------------------------------------ */
/* header_rewrite_edits and header_rewrite_apply */

struct skip_log {
	int calls;
	char names[8][64];
};

static void
skip_cb(void *ctx, const char *name, size_t name_len)
{
	struct skip_log *l = ctx;

	assert_true(name_len < sizeof(l->names[0]));
	if (l->calls < (int)N_ELEMENTS(l->names))
		snprintf(l->names[l->calls], sizeof(l->names[0]), "%.*s",
		    (int)name_len, name);
	l->calls++;
}

/* check_edits_sane - in the block, in order, not overlapping, not empty;
 * the completion keeps the original text as its start. */
static void
check_edits_sane(const char *blk, size_t len, const struct header_edit *e,
    size_t n)
{
	size_t pos = 0;

	for (size_t i = 0; i < n; i++) {
		assert_true(e[i].start >= pos);
		assert_true(e[i].len > 0);
		assert_true(e[i].start <= len && e[i].len <= len - e[i].start);
		assert_non_null(e[i].completed);
		assert_true(strlen(e[i].completed) >= e[i].len);
		assert_memory_equal(e[i].completed, blk + e[i].start,
		    e[i].len);
		pos = e[i].start + e[i].len;
	}
}

/* apply_str - the block written with repl (may be NULL); a new string. */
static char *
apply_str(const char *blk, size_t len, const struct header_edit *e, size_t n,
    const char *const *repl)
{
	struct buf out;

	buf_init(&out, SIZE_MAX);
	assert_int_equal(header_rewrite_apply(blk, len, e, n, repl, &out), 0);
	return buf_steal(&out);
}

/* check_originals - repl = each edit's own text reproduces the block. */
static void
check_originals(const char *blk, size_t len, const struct header_edit *e,
    size_t n)
{
	char **own = xcalloc(n + 1, sizeof(*own));
	char *out;
	struct buf b;

	for (size_t i = 0; i < n; i++)
		own[i] = xstrndup(blk + e[i].start, e[i].len);
	buf_init(&b, SIZE_MAX);
	assert_int_equal(header_rewrite_apply(blk, len, e, n,
	    (const char *const *)own, &b), 0);
	out = buf_steal(&b);
	assert_int_equal(strlen(out), len);
	assert_memory_equal(out, blk, len);
	free(out);
	for (size_t i = 0; i < n; i++)
		free(own[i]);
	free(own);
}

/*
 * rewrite - blk through header_rewrite_edits (c) and header_rewrite_apply
 * (repl NULL): the output must be want; the edits' original texts and
 * completions are checked against orig[] and done[] when given (NULL
 * ends the lists).  Returns the number of edits.
 */
static size_t
rewrite(const char *blk, const struct header_rewrite_ctx *c,
    const char *want, const char *const *orig, const char *const *done)
{
	size_t len = strlen(blk), n;
	struct header_edit *e = NULL;
	char *out;

	n = header_rewrite_edits(blk, len, c, &e, NULL, NULL);
	check_edits_sane(blk, len, e, n);
	if (orig != NULL) {
		size_t i;

		for (i = 0; i < n; i++) {
			assert_non_null(orig[i]);
			assert_int_equal(e[i].len, strlen(orig[i]));
			assert_memory_equal(blk + e[i].start, orig[i],
			    e[i].len);
		}
		assert_null(orig[i]);
	}
	if (done != NULL) {
		size_t i;

		for (i = 0; i < n; i++) {
			assert_non_null(done[i]);
			assert_string_equal(e[i].completed, done[i]);
		}
		assert_null(done[i]);
	}
	out = apply_str(blk, len, e, n, NULL);
	assert_string_equal(out, want);
	free(out);
	check_originals(blk, len, e, n);
	header_edits_free(e, n);
	return n;
}

#define L(...) ((const char *const []){ __VA_ARGS__, NULL })

static void
test_local_origin(void **state)
{
	(void)state;
	/* append_at_myorigin: an address without '@' gets @$myorigin. */
	rewrite("From: joe\r\n", &ctx_local_origin,
	    "From: joe@origin.example\r\n", L("joe"),
	    L("joe@origin.example"));
	rewrite("To: Joe Bloggs <joe>, ann@x.example\r\n", &ctx_local_origin,
	    "To: Joe Bloggs <joe@origin.example>, ann@x.example\r\n",
	    L("joe", "ann@x.example"),
	    L("joe@origin.example", "ann@x.example"));
	/* Without append_dot_mydomain a domain without a dot stays. */
	rewrite("To: joe@host\r\n", &ctx_local_origin, "To: joe@host\r\n",
	    L("joe@host"), L("joe@host"));
	/* Off: nothing is completed. */
	rewrite("From: joe\r\nTo: ann@host\r\n", &ctx_local_none,
	    "From: joe\r\nTo: ann@host\r\n", L("joe", "ann@host"),
	    L("joe", "ann@host"));
}

static void
test_local_dot(void **state)
{
	(void)state;
	/* append_dot_mydomain: a domain without a dot gets .$mydomain. */
	rewrite("To: joe@host\r\n", &ctx_local_dot,
	    "To: joe@host.dom.example\r\n", L("joe@host"),
	    L("joe@host.dom.example"));
	/* With a dot: kept. */
	rewrite("To: joe@host.sub\r\n", &ctx_local_dot, "To: joe@host.sub\r\n",
	    L("joe@host.sub"), L("joe@host.sub"));
	/* A literal: kept, with or without a dot in it. */
	rewrite("To: joe@[192.0.2.1], ann@[IPv6:::1]\r\n", &ctx_local_dot,
	    "To: joe@[192.0.2.1], ann@[IPv6:::1]\r\n",
	    L("joe@[192.0.2.1]", "ann@[IPv6:::1]"),
	    L("joe@[192.0.2.1]", "ann@[IPv6:::1]"));
	/* Without '@' and without append_at_myorigin: kept. */
	rewrite("To: joe\r\n", &ctx_local_dot, "To: joe\r\n", L("joe"),
	    L("joe"));
	/* Off: a domain without a dot stays. */
	rewrite("To: joe@host\r\n", &ctx_local_none, "To: joe@host\r\n",
	    L("joe@host"), L("joe@host"));
	/* Both on. */
	rewrite("From: joe, ann@host, bob@host.x, cy@[10.0.0.1]\r\n",
	    &ctx_local_both,
	    "From: joe@origin.example, ann@host.dom.example, bob@host.x, "
	    "cy@[10.0.0.1]\r\n", NULL, NULL);
}

static void
test_remote(void **state)
{
	(void)state;
	/* remote_header_rewrite_domain set: "user" -> user@domain, then
	 * "user@host" -> user@host.domain (Postfix's remote context: the
	 * local one with remote_header_rewrite_domain for both). */
	rewrite("From: joe\r\nTo: ann@host, <bob>, cy@x.example\r\n",
	    &ctx_remote_set,
	    "From: joe@remote.example\r\nTo: ann@host.remote.example, "
	    "<bob@remote.example>, cy@x.example\r\n",
	    L("joe", "ann@host", "bob", "cy@x.example"),
	    L("joe@remote.example", "ann@host.remote.example",
	    "bob@remote.example", "cy@x.example"));
	/* append_dot_mydomain off: only the '@' step. */
	rewrite("From: joe\r\nTo: ann@host\r\n", &ctx_remote_at_only,
	    "From: joe@remote.example\r\nTo: ann@host\r\n",
	    L("joe", "ann@host"), L("joe@remote.example", "ann@host"));
	/* Empty: no completion at all. */
	rewrite("From: joe\r\nTo: ann@host\r\n", &ctx_remote_empty,
	    "From: joe\r\nTo: ann@host\r\n", L("joe", "ann@host"),
	    L("joe", "ann@host"));
}

static void
test_quoted_local_part(void **state)
{
	(void)state;
	/* An '@' inside the quotes does not count. */
	rewrite("To: \"a@b\"\r\n", &ctx_local_origin,
	    "To: \"a@b\"@origin.example\r\n", L("\"a@b\""),
	    L("\"a@b\"@origin.example"));
	rewrite("To: \"a@b\"\r\n", &ctx_remote_set,
	    "To: \"a@b\"@remote.example\r\n", L("\"a@b\""),
	    L("\"a@b\"@remote.example"));
	/* The domain is after the last '@' outside the quotes. */
	rewrite("To: \"a@b.c\"@host\r\n", &ctx_local_dot,
	    "To: \"a@b.c\"@host.dom.example\r\n", L("\"a@b.c\"@host"),
	    L("\"a@b.c\"@host.dom.example"));
	rewrite("To: \"a@host\"@b.c\r\n", &ctx_local_both,
	    "To: \"a@host\"@b.c\r\n", L("\"a@host\"@b.c"),
	    L("\"a@host\"@b.c"));
	/* An escaped quote does not end the quoted string. */
	rewrite("To: \"a\\\"@b\"\r\n", &ctx_local_origin,
	    "To: \"a\\\"@b\"@origin.example\r\n", L("\"a\\\"@b\""),
	    L("\"a\\\"@b\"@origin.example"));
	/* Quoted with spaces, in brackets. */
	rewrite("From: Joe <\"joe q\"@h>\r\n", &ctx_local_dot,
	    "From: Joe <\"joe q\"@h.dom.example>\r\n", L("\"joe q\"@h"),
	    L("\"joe q\"@h.dom.example"));
}

/* The sender flag of each address header, in every letter case. */
static void
test_classes(void **state)
{
	static const char *const sender[] = {
		"From", "Sender", "Resent-From", "Resent-Sender",
		"Return-Path", "Errors-To", "Return-Receipt-To",
		"Disposition-Notification-To",
	};
	static const char *const recipient[] = {
		"To", "Cc", "Bcc", "Apparently-To", "Reply-To", "Resent-To",
		"Resent-Cc", "Resent-Bcc", "Resent-Reply-To",
	};
	struct buf b;
	struct header_edit *e;
	size_t n, ns = N_ELEMENTS(sender), nr = N_ELEMENTS(recipient);

	(void)state;
	buf_init(&b, SIZE_MAX);
	/* Interleaved: sender, recipient, sender... and upper case. */
	for (size_t i = 0; i < ns || i < nr; i++) {
		if (i < ns)
			assert_int_equal(buf_appendf(&b, "%s: s%zu\r\n",
			    sender[i], i), 0);
		if (i < nr)
			assert_int_equal(buf_appendf(&b, "%s: r%zu\r\n",
			    recipient[i], i), 0);
	}
	assert_int_equal(buf_append_str(&b, "FROM: S\r\nbcc: R\r\n"
	    "fRoM : S\r\n"), 0);
	n = header_rewrite_edits(b.data, b.len, &ctx_local_origin, &e, NULL,
	    NULL);
	assert_int_equal(n, ns + nr + 3);
	check_edits_sane(b.data, b.len, e, n);
	for (size_t i = 0; i < n; i++) {
		const char *a = b.data + e[i].start;

		assert_true(*a == 's' || *a == 'r' || *a == 'S' ||
		    *a == 'R');
		assert_int_equal(e[i].sender, *a == 's' || *a == 'S');
		assert_string_equal(e[i].completed + e[i].len,
		    "@origin.example");
	}
	header_edits_free(e, n);
	buf_deinit(&b);
}

static void
test_only_address_headers(void **state)
{
	static const char blk[] =
	    "Received: from joe by host; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
	    "Subject: joe\r\n"
	    "Delivered-To: joe\r\n"
	    "X-To: joe\r\n"
	    "X-Original-From: joe\r\n"
	    "Message-ID: <joe@host>\r\n"
	    "In-Reply-To: <joe@host>\r\n"
	    "Tos: joe\r\n"
	    "To: joe\r\n"
	    "Comments: joe\r\n";
	struct skip_log log = { 0 };
	struct header_edit *e;
	size_t n;
	char *out;

	(void)state;
	n = header_rewrite_edits(blk, sizeof(blk) - 1, &ctx_local_both, &e,
	    skip_cb, &log);
	assert_int_equal(n, 1);
	assert_int_equal(log.calls, 0);
	assert_false(e[0].sender);
	out = apply_str(blk, sizeof(blk) - 1, e, n, NULL);
	assert_string_equal(out,
	    "Received: from joe by host; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
	    "Subject: joe\r\n"
	    "Delivered-To: joe\r\n"
	    "X-To: joe\r\n"
	    "X-Original-From: joe\r\n"
	    "Message-ID: <joe@host>\r\n"
	    "In-Reply-To: <joe@host>\r\n"
	    "Tos: joe\r\n"
	    "To: joe@origin.example\r\n"
	    "Comments: joe\r\n");
	free(out);
	header_edits_free(e, n);

	/* A non-address header with junk that would be refused: no skip. */
	n = header_rewrite_edits("Subject: <\"(\r\n", 14, &ctx_local_both,
	    &e, skip_cb, &log);
	assert_int_equal(n, 0);
	assert_int_equal(log.calls, 0);
	header_edits_free(e, n);
}

static void
test_folded(void **state)
{
	(void)state;
	rewrite("To: a,\r\n b@x,\r\n\tc\r\n", &ctx_local_origin,
	    "To: a@origin.example,\r\n b@x,\r\n\tc@origin.example\r\n",
	    L("a", "b@x", "c"), NULL);
	rewrite("From: \"Joe\r\n Q\" (the\r\n man)\r\n <joe>\r\n",
	    &ctx_local_origin,
	    "From: \"Joe\r\n Q\" (the\r\n man)\r\n <joe@origin.example>\r\n",
	    L("joe"), NULL);
	/* A fold inside the would-be address: left alone. */
	rewrite("To: joe\r\n @host\r\n", &ctx_local_origin,
	    "To: joe\r\n @host\r\n", L(NULL), NULL);
	/* Followed by other headers and a continuation of a non-address
	 * header holding an address. */
	rewrite("To: a,\r\n b\r\nSubject: x\r\n c\r\nCc: d\r\n",
	    &ctx_remote_set,
	    "To: a@remote.example,\r\n b@remote.example\r\nSubject: x\r\n c\r\n"
	    "Cc: d@remote.example\r\n", L("a", "b", "d"), NULL);
}

static void
test_multiple(void **state)
{
	static const char blk[] =
	    "Return-Path: <>\r\n"
	    "From: \"Doe, John\" <jd>, ann (Ann)\r\n"
	    "Sender: sec@host\r\n"
	    "Subject: hello\r\n"
	    "To: team: x, <y@h>;, undisclosed-recipients:;\r\n"
	    "Cc: <@relay.example:z>\r\n"
	    "Reply-To: \"a b\"@h\r\n";
	static const char want[] =
	    "Return-Path: <>\r\n"
	    "From: \"Doe, John\" <jd@origin.example>, ann@origin.example "
	    "(Ann)\r\n"
	    "Sender: sec@host.dom.example\r\n"
	    "Subject: hello\r\n"
	    "To: team: x@origin.example, <y@h.dom.example>;, "
	    "undisclosed-recipients:;\r\n"
	    "Cc: <@relay.example:z@origin.example>\r\n"
	    "Reply-To: \"a b\"@h.dom.example\r\n";
	static const bool sender[] = {
		true, true, true, false, false, false, false,
	};
	struct header_edit *e;
	size_t n;

	(void)state;
	n = rewrite(blk, &ctx_local_both, want,
	    L("jd", "ann", "sec@host", "x", "y@h", "z", "\"a b\"@h"), NULL);
	assert_int_equal(n, N_ELEMENTS(sender));
	n = header_rewrite_edits(blk, sizeof(blk) - 1, &ctx_local_both, &e,
	    NULL, NULL);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(e[i].sender, sender[i]);
	header_edits_free(e, n);
}

static void
test_skip(void **state)
{
	static const char blk[] =
	    "From: joe <\r\n"
	    "To: ann\r\n"
	    "Cc : \"unclosed\r\n"
	    "Subject: (\r\n"
	    "Bcc: a>b\r\n"
	    "Reply-To: x,\r\n (open\r\n";
	struct skip_log log = { 0 };
	struct header_edit *e;
	size_t n;
	char *out;

	(void)state;
	n = header_rewrite_edits(blk, sizeof(blk) - 1, &ctx_local_origin, &e,
	    skip_cb, &log);
	/* Only To: is an address list; the others are named (the name
	 * without the white space before the colon). */
	assert_int_equal(n, 1);
	assert_int_equal(log.calls, 4);
	assert_string_equal(log.names[0], "From");
	assert_string_equal(log.names[1], "Cc");
	assert_string_equal(log.names[2], "Bcc");
	assert_string_equal(log.names[3], "Reply-To");
	out = apply_str(blk, sizeof(blk) - 1, e, n, NULL);
	assert_string_equal(out,
	    "From: joe <\r\n"
	    "To: ann@origin.example\r\n"
	    "Cc : \"unclosed\r\n"
	    "Subject: (\r\n"
	    "Bcc: a>b\r\n"
	    "Reply-To: x,\r\n (open\r\n");
	free(out);
	header_edits_free(e, n);

	/* skip may be NULL. */
	n = header_rewrite_edits(blk, sizeof(blk) - 1, &ctx_local_origin, &e,
	    NULL, NULL);
	assert_int_equal(n, 1);
	header_edits_free(e, n);
}

/* More than HEADER_REWRITE_SPANS_MAX addresses in one header: skipped;
 * exactly that many: all edited. */
static void
test_spans_max(void **state)
{
	struct skip_log log = { 0 };
	struct header_edit *e;
	struct buf b;
	size_t n;

	(void)state;
	for (size_t count = HEADER_REWRITE_SPANS_MAX;
	    count <= HEADER_REWRITE_SPANS_MAX + 1; count++) {
		buf_init(&b, SIZE_MAX);
		assert_int_equal(buf_append_str(&b, "Subject: x\r\nTo: a"), 0);
		for (size_t i = 1; i < count; i++)
			assert_int_equal(buf_append_str(&b, ",\r\n a"), 0);
		assert_int_equal(buf_append_str(&b, "\r\nCc: c\r\n"), 0);
		log.calls = 0;
		n = header_rewrite_edits(b.data, b.len, &ctx_local_origin, &e,
		    skip_cb, &log);
		check_edits_sane(b.data, b.len, e, n);
		if (count == HEADER_REWRITE_SPANS_MAX) {
			assert_int_equal(n, count + 1);
			assert_int_equal(log.calls, 0);
		} else {
			assert_int_equal(n, 1);
			assert_int_equal(log.calls, 1);
			assert_string_equal(log.names[0], "To");
			assert_memory_equal(b.data + e[0].start, "c", 1);
		}
		header_edits_free(e, n);
		buf_deinit(&b);
	}
}

static void
test_repl(void **state)
{
	static const char blk[] =
	    "From: Joe <joe>\r\nTo: ann@host, bob (B)\r\nCc: cy@x.example\r\n";
	struct header_edit *e;
	struct buf out;
	size_t n;
	char *s;

	(void)state;
	n = header_rewrite_edits(blk, sizeof(blk) - 1, &ctx_local_both, &e,
	    NULL, NULL);
	assert_int_equal(n, 4);

	/* Every entry set: the completion is overridden. */
	s = apply_str(blk, sizeof(blk) - 1, e, n,
	    L("j@new.example", "a@new.example", "", "c"));
	assert_string_equal(s,
	    "From: Joe <j@new.example>\r\nTo: a@new.example,  (B)\r\n"
	    "Cc: c\r\n");
	free(s);

	/* NULL entries: the completed text. */
	{
		const char *const repl[] = {
			NULL, "ANN@H", NULL, NULL,
		};

		s = apply_str(blk, sizeof(blk) - 1, e, n, repl);
		assert_string_equal(s,
		    "From: Joe <joe@origin.example>\r\nTo: ANN@H, "
		    "bob@origin.example (B)\r\nCc: cy@x.example\r\n");
		free(s);
	}

	/* Out too small: -1; exactly big enough: 0. */
	s = apply_str(blk, sizeof(blk) - 1, e, n, NULL);
	for (size_t max = 0; max < strlen(s); max++) {
		buf_init(&out, max);
		assert_int_equal(header_rewrite_apply(blk, sizeof(blk) - 1, e,
		    n, NULL, &out), -1);
		assert_true(out.len <= max);
		buf_deinit(&out);
	}
	buf_init(&out, strlen(s));
	assert_int_equal(header_rewrite_apply(blk, sizeof(blk) - 1, e, n,
	    NULL, &out), 0);
	assert_int_equal(out.len, strlen(s));
	assert_memory_equal(out.data, s, out.len);
	buf_deinit(&out);
	/* Appended after what out held. */
	buf_init(&out, SIZE_MAX);
	assert_int_equal(buf_append_str(&out, "Received: x\r\n"), 0);
	assert_int_equal(header_rewrite_apply(blk, sizeof(blk) - 1, e, n,
	    NULL, &out), 0);
	assert_int_equal(out.len, 13 + strlen(s));
	assert_memory_equal(out.data + 13, s, strlen(s));
	buf_deinit(&out);
	free(s);

	/* No edits: the block as it is. */
	s = apply_str(blk, sizeof(blk) - 1, NULL, 0, NULL);
	assert_string_equal(s, blk);
	free(s);
	header_edits_free(e, n);
}

/* check_prefix - header_rewrite_edits on blk[0 .. len) (maybe ending
 * in a partial line) keeps its edits inside. */
static void
check_prefix(const char *blk, size_t len, const struct header_rewrite_ctx *c)
{
	struct skip_log log = { 0 };
	struct header_edit *e;
	size_t n;
	char *copy = xmalloc(len + 1);
	char *s;

	/* A copy of exactly len bytes, so that ASan sees a read past it. */
	memcpy(copy, blk, len);
	n = header_rewrite_edits(copy, len, c, &e, skip_cb, &log);
	check_edits_sane(copy, len, e, n);
	s = apply_str(copy, len, e, n, NULL);
	free(s);
	check_originals(copy, len, e, n);
	header_edits_free(e, n);
	free(copy);
}

static void
test_prefixes(void **state)
{
	static const char *const blocks[] = {
		"From: \"Doe, John\" <jd>, ann (Ann)\r\n"
		"To: team: x, <y@h>;, undisclosed-recipients:;\r\n"
		"Cc: <@relay.example:z>,\r\n \"a@b\"@c\r\n",
		("Return-Path: <>\r\nReceived: from x\r\n\tby y\r\n"
		"Reply-To: a,\r\n\tb (c\r\n d), \"e\r\n f\"@g\r\n"),
		"To : joe\r\nSubject: <\r\n x\r\nBcc: [1.2.3.4], u@[IPv6:::1]\r\n",
		" leading: continuation\r\nFrom: joe\r\n",
	};
	const struct header_rewrite_ctx *ctxs[] = {
		&ctx_local_both, &ctx_local_none, &ctx_remote_set,
		&ctx_remote_empty,
	};

	(void)state;
	for (size_t b = 0; b < N_ELEMENTS(blocks); b++)
		for (size_t len = 0; len <= strlen(blocks[b]); len++)
			for (size_t c = 0; c < N_ELEMENTS(ctxs); c++)
				check_prefix(blocks[b], len, ctxs[c]);
}

/* The block found by header_block_end, then rewritten: the body is not. */
static void
test_block_then_rewrite(void **state)
{
	static const char msg[] =
	    "From: joe\r\nTo: ann\r\n\r\nTo: body\r\n";
	struct header_block_scan sc = { 0, false };
	struct header_edit *e;
	size_t n;
	char *s;

	(void)state;
	assert_true(header_block_end(&sc, msg, sizeof(msg) - 1, false));
	n = header_rewrite_edits(msg, sc.scanned, &ctx_remote_set, &e, NULL,
	    NULL);
	assert_int_equal(n, 2);
	s = apply_str(msg, sc.scanned, e, n, NULL);
	assert_string_equal(s,
	    "From: joe@remote.example\r\nTo: ann@remote.example\r\n");
	free(s);
	header_edits_free(e, n);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_block_empty_line),
		cmocka_unit_test(test_block_body_line),
		cmocka_unit_test(test_block_first_continuation),
		cmocka_unit_test(test_block_name_space),
		cmocka_unit_test(test_block_final),
		cmocka_unit_test(test_block_cr),
		cmocka_unit_test(test_block_8bit),
		cmocka_unit_test(test_local_origin),
		cmocka_unit_test(test_local_dot),
		cmocka_unit_test(test_remote),
		cmocka_unit_test(test_quoted_local_part),
		cmocka_unit_test(test_classes),
		cmocka_unit_test(test_only_address_headers),
		cmocka_unit_test(test_folded),
		cmocka_unit_test(test_multiple),
		cmocka_unit_test(test_skip),
		cmocka_unit_test(test_spans_max),
		cmocka_unit_test(test_repl),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_block_then_rewrite),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
