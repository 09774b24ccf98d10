/* SPDX-License-Identifier: MIT */
/*
 * test_header_drop - message_drop_headers (src/common/header_drop.c),
 * table-driven; every case is fed whole, one byte at a time, and cut in
 * two at every point.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "header_drop.h"

/* The default list. */
static char n_bcc[] = "bcc", n_cl[] = "content-length";
static char n_rbcc[] = "resent-bcc", n_rp[] = "return-path";
static char *dflt[] = { n_bcc, n_cl, n_rbcc, n_rp, NULL };

static const struct {
	const char *in, *out;
	unsigned dropped;
} cases[] = {
	{ "Received: from x\r\nBcc: a@b\r\nSubject: s\r\n\r\nbody\r\n",
	  "Received: from x\r\nSubject: s\r\n\r\nbody\r\n", 1 },
	/* Folded: the continuation lines go too; case does not matter;
	 * white space before the colon is allowed (RFC 5322 obs). */
	{ "BCC: a@b,\r\n c@d,\r\n\te@f\r\nTo: t@u\r\n\r\n",
	  "To: t@u\r\n\r\n", 1 },
	{ "Return-Path : <x@y>\r\nFrom: f@g\r\nContent-Length: 12\r\n"
	  "Resent-Bcc: r@s\r\n\r\nok",
	  "From: f@g\r\n\r\nok", 3 },
	/* Other names that merely start or end alike stay. */
	{ "X-Bcc: 1\r\nBccx: 2\r\nBc: 3\r\n\r\n",
	  "X-Bcc: 1\r\nBccx: 2\r\nBc: 3\r\n\r\n", 0 },
	/* The body is never touched. */
	{ "Subject: s\r\n\r\nBcc: in the body\r\n",
	  "Subject: s\r\n\r\nBcc: in the body\r\n", 0 },
	/* A line that is not a header ends the block. */
	{ "Subject: s\r\nnot a header\r\nBcc: x\r\n",
	  "Subject: s\r\nnot a header\r\nBcc: x\r\n", 0 },
	/* A continuation of a kept header stays. */
	{ "Subject: a\r\n b\r\nBcc: x\r\n y\r\nTo: t\r\n",
	  "Subject: a\r\n b\r\nTo: t\r\n", 1 },
	/* No header block at all. */
	{ "\r\nBcc: x\r\n", "\r\nBcc: x\r\n", 0 },
	{ "", "", 0 },
	/* The message ends inside a name, or right after a dropped one. */
	{ "Subject: s\r\nBc", "Subject: s\r\nBc", 0 },
	{ "Subject: s\r\nBcc: x", "Subject: s\r\n", 1 },
	/* LF line ends work the same. */
	{ "Bcc: x\n y\nTo: t\n\nbody\n", "To: t\n\nbody\n", 1 },
};

static void
collect(void *ctx, const char *data, size_t len)
{
	assert_true(len > 0);
	assert_int_equal(buf_append(ctx, data, len), 0);
}

/* feed in pieces: cut == 0 whole, SIZE_MAX one byte at a time, else in
 * two at cut. */
static unsigned
run(char **names, const char *in, size_t cut, struct buf *out)
{
	struct header_drop hd;
	size_t len = strlen(in);

	header_drop_init(&hd, names);
	if (cut == SIZE_MAX) {
		for (size_t i = 0; i < len; i++)
			header_drop_feed(&hd, in + i, 1, collect, out);
	} else if (cut == 0 || cut >= len) {
		header_drop_feed(&hd, in, len, collect, out);
	} else {
		header_drop_feed(&hd, in, cut, collect, out);
		header_drop_feed(&hd, in + cut, len - cut, collect, out);
	}
	header_drop_finish(&hd, collect, out);
	return hd.dropped;
}

static void
check(char **names, const char *in, const char *want, unsigned dropped)
{
	size_t len = strlen(in);

	for (size_t cut = 0; cut <= len + 1; cut++) {
		struct buf out;
		unsigned n;

		buf_init(&out, SIZE_MAX);
		n = run(names, in, cut == len + 1 ? SIZE_MAX : cut, &out);
		if (out.len != strlen(want) ||
		    (out.len > 0 && memcmp(out.data, want, out.len) != 0))
			fail_msg("case %s, cut %zu: got \"%.*s\"", in, cut,
			    (int)out.len, out.data != NULL ? out.data : "");
		assert_int_equal(n, dropped);
		buf_deinit(&out);
	}
}

static void
test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check(dflt, cases[i].in, cases[i].out, cases[i].dropped);
}

/* No names (message_drop_headers empty): everything passes. */
static void
test_no_names(void **state)
{
	char *none[] = { NULL };

	(void)state;
	check(none, "Bcc: x\r\n\r\n", "Bcc: x\r\n\r\n", 0);
	check(NULL, "Bcc: x\r\n\r\n", "Bcc: x\r\n\r\n", 0);
}

/* A name longer than HEADER_DROP_NAME_MAX is never dropped, and at most
 * that much is held; one of exactly that length still can be. */
static void
test_long_names(void **state)
{
	char lname[HEADER_DROP_NAME_MAX + 2], *names[] = { lname, NULL };
	char in[512], want[512];

	(void)state;
	memset(lname, 'n', HEADER_DROP_NAME_MAX);
	lname[HEADER_DROP_NAME_MAX] = '\0';
	snprintf(in, sizeof(in), "%s: v\r\nTo: t\r\n", lname);
	check(names, in, "To: t\r\n", 1);
	lname[HEADER_DROP_NAME_MAX] = 'n';
	lname[HEADER_DROP_NAME_MAX + 1] = '\0';
	snprintf(in, sizeof(in), "%s: v\r\n x\r\nTo: t\r\n", lname);
	snprintf(want, sizeof(want), "%s", in);
	check(names, in, want, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_no_names),
		cmocka_unit_test(test_long_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
