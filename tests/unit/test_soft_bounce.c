/* SPDX-License-Identifier: MIT */
/*
 * test_soft_bounce - 5xx replies and 5.Y.Z codes made temporary
 * (src/common/soft_bounce.c), table-driven; every input is also fed cut
 * at each length, so that a reply split anywhere is still handled
 * within its bounds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "soft_bounce.h"

static const struct {
	const char *in, *out;
} replies[] = {
	{ "550 5.1.1 <a@b>: Recipient address rejected\r\n",
	  "450 4.1.1 <a@b>: Recipient address rejected\r\n" },
	{ "554 5.7.1 Relay access denied", "454 4.7.1 Relay access denied" },
	{ "552 5.3.4 Message size exceeds fixed limit\r\n",
	  "452 4.3.4 Message size exceeds fixed limit\r\n" },
	/* Without an enhanced code, or with one of another class. */
	{ "500 Error: command not recognized\r\n",
	  "400 Error: command not recognized\r\n" },
	{ "550 4.7.1 odd but possible\r\n", "450 4.7.1 odd but possible\r\n" },
	{ "550\r\n", "450\r\n" },
	{ "550", "450" },
	/* Every line of a multi-line reply. */
	{ "550-5.7.1 first\r\n550-5.7.1 second\r\n550 5.7.1 last\r\n",
	  "450-4.7.1 first\r\n450-4.7.1 second\r\n450 4.7.1 last\r\n" },
	{ "550-5.7.1 lf only\n550 5.7.1 end\n",
	  "450-4.7.1 lf only\n450 4.7.1 end\n" },
	/* Not refusals: left alone. */
	{ "250 2.1.5 Ok\r\n", "250 2.1.5 Ok\r\n" },
	{ "450 4.2.0 greylisted\r\n", "450 4.2.0 greylisted\r\n" },
	{ "421 4.7.0 too many errors\r\n", "421 4.7.0 too many errors\r\n" },
	{ "5000 not a code\r\n", "5000 not a code\r\n" },
	{ "5x0 5.1.1 no\r\n", "5x0 5.1.1 no\r\n" },
	{ "55\r\n", "55\r\n" },
	{ "", "" },
	/* "5.5" in the text is text. */
	{ "550 text 5.1.1\r\n", "450 text 5.1.1\r\n" },
	{ "550 5.x.1 not a code\r\n", "450 5.x.1 not a code\r\n" },
};

static void
test_replies(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(replies) / sizeof(replies[0]); i++) {
		size_t len = strlen(replies[i].in);
		char *buf = malloc(len + 1);
		bool changed;

		assert_non_null(buf);
		memcpy(buf, replies[i].in, len + 1);
		changed = soft_bounce_reply(buf, len);
		assert_string_equal(buf, replies[i].out);
		assert_int_equal(changed,
		    strcmp(replies[i].in, replies[i].out) != 0);
		free(buf);
	}
}

/*
 * Cut at every length, in a buffer of exactly that size (ASan checks the
 * bounds): each byte is what the whole reply gives, except within the
 * last two bytes of the cut, where too little is left to tell a code
 * ("55", "550 5."), which then stays as it was.  ("5000" cut to "500" is
 * another reply: skipped.)
 */
static void
test_replies_cut_anywhere(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(replies) / sizeof(replies[0]); i++) {
		const char *in = replies[i].in, *out = replies[i].out;
		size_t len = strlen(in);

		if (strncmp(in, "5000", 4) == 0)
			continue;
		for (size_t n = 0; n <= len; n++) {
			char *buf = malloc(n > 0 ? n : 1);

			assert_non_null(buf);
			memcpy(buf, in, n);
			(void)soft_bounce_reply(buf, n);
			for (size_t k = 0; k < n; k++)
				if (buf[k] != out[k])
					assert_true(buf[k] == in[k] &&
					    n - k <= 2);
			free(buf);
		}
	}
}

static void
test_dsn(void **state)
{
	char d[16];

	(void)state;
	strcpy(d, "5.1.1");
	soft_bounce_dsn(d);
	assert_string_equal(d, "4.1.1");
	strcpy(d, "4.4.7");
	soft_bounce_dsn(d);
	assert_string_equal(d, "4.4.7");
	strcpy(d, "2.0.0");
	soft_bounce_dsn(d);
	assert_string_equal(d, "2.0.0");
	strcpy(d, "5");
	soft_bounce_dsn(d);
	assert_string_equal(d, "5");
	strcpy(d, "");
	soft_bounce_dsn(d);
	assert_string_equal(d, "");
	soft_bounce_dsn(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replies),
		cmocka_unit_test(test_replies_cut_anywhere),
		cmocka_unit_test(test_dsn),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
