/* SPDX-License-Identifier: MIT */
/*
 * test_hop_count - Received: headers counted in the primary header
 * block only, fed whole and byte by byte and in every two-piece split.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "compat.h"
#include "hop_count.h"

static const struct {
	const char *text;
	unsigned want;
	bool done;		/* the block ended within the text */
} cases[] = {
	{ "Received: from a\r\nReceived: from b\r\nSubject: x\r\n\r\n"
	  "Received: in the body\r\n", 2, true },
	/* Case, spaces before the colon, continuation lines. */
	{ "received: a\r\n\tcontinued\r\nRECEIVED : b\r\n  Received: no\r\n"
	  "X-Received: no\r\nReceivedx: no\r\n\r\n", 2, true },
	/* LF line ends. */
	{ "Received: a\nReceived: b\n\nReceived: c\n", 2, true },
	/* A line that is not a header ends the block. */
	{ "Received: a\r\nnot a header\r\nReceived: b\r\n", 1, true },
	{ "Received: a\r\n:colon first\r\nReceived: b\r\n", 1, true },
	{ "Received: a\r\nName x: y\r\nReceived: b\r\n", 1, true },
	/* A long header name is still a header. */
	{ "X-A-Very-Long-Header-Name-Beyond-Thirty-Two-Bytes: 1\r\n"
	  "Received: b\r\n\r\n", 1, true },
	/* No header block at all. */
	{ "\r\nReceived: a\r\n", 0, true },
	/* Not ended yet. */
	{ "Received: a\r\nReceived: b", 2, false },
	{ "", 0, false },
};

static void
check(const char *text, size_t len, unsigned want, bool done,
    size_t piece, size_t cut)
{
	struct hop_count h;

	hop_count_init(&h);
	if (piece == 0) {
		hop_count_feed(&h, text, cut);
		hop_count_feed(&h, text + cut, len - cut);
	} else {
		for (size_t i = 0; i < len; i += piece)
			hop_count_feed(&h, text + i, len - i < piece ?
			    len - i : piece);
	}
	if (h.received != want || h.done != done)
		fail_msg("\"%s\" (piece %zu, cut %zu): %u received, done %d; "
		    "want %u, %d", text, piece, cut, h.received, h.done,
		    want, done);
}

static void
test_cases(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		const char *t = cases[k].text;
		size_t len = strlen(t);

		check(t, len, cases[k].want, cases[k].done, len + 1, 0);
		check(t, len, cases[k].want, cases[k].done, 1, 0);
		for (size_t cut = 0; cut <= len; cut++)
			check(t, len, cases[k].want, cases[k].done, 0, cut);
	}
}

/* Nothing after the block is looked at, however many headers follow. */
static void
test_many(void **state)
{
	struct hop_count h;
	char line[] = "Received: from x by y; Mon, 1 Jan 2024\r\n";

	(void)state;
	hop_count_init(&h);
	for (int i = 0; i < 60; i++)
		hop_count_feed(&h, line, strlen(line));
	hop_count_feed(&h, "\r\n", 2);
	for (int i = 0; i < 10; i++)
		hop_count_feed(&h, line, strlen(line));
	assert_int_equal(h.received, 60);
	assert_true(h.done);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_many),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
