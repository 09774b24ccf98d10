/* SPDX-License-Identifier: MIT */
/*
 * test_msg_chars - message_reject_characters / message_strip_characters
 * values (Postfix's escapes) and the byte scans.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "msg_chars.h"

/* listed - the bytes of mc in order, into out (at most 256). */
static size_t
listed(const struct msg_chars *mc, unsigned char *out)
{
	size_t n = 0;

	for (unsigned c = 0; c < 256; c++)
		if (mc->set[c])
			out[n++] = (unsigned char)c;
	return n;
}

static void
test_parse(void **state)
{
	static const struct {
		const char *spec;
		const char *want;	/* the bytes, in order */
		size_t nwant;
		int ret;
	} cases[] = {
		{ "", "", 0, 0 },
		{ "\\0", "\0", 1, 0 },
		{ "\\0\\177", "\0\177", 2, 0 },
		{ "\\a\\b\\f\\t\\v", "\a\b\t\v\f", 5, 0 },
		{ "ab\\\\", "\\ab", 3, 0 },
		/* Octal: at most three digits; 8 ends it. */
		{ "\\1018", "8A", 2, 0 },
		{ "\\0000", "\0" "0", 2, 0 },
		/* \400 wraps to one byte. */
		{ "\\400", "\0", 1, 0 },
		/* Another byte after a backslash is that byte; one at the
		 * end is a backslash. */
		{ "\\q\\", "\\q", 2, 0 },
		/* Line ends are left out, with a note. */
		{ "\\r\\n\\0", "\0", 1, 1 },
		{ "\r", "", 0, 1 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct msg_chars mc;
		unsigned char got[256];
		char note[200];
		size_t n;
		int r = msg_chars_parse(cases[i].spec, &mc, note, sizeof(note));

		n = listed(&mc, got);
		if (r != cases[i].ret || n != cases[i].nwant ||
		    memcmp(got, cases[i].want, n) != 0 ||
		    mc.any != (n > 0))
			fail_msg("case %zu (%s): ret %d, %zu bytes", i,
			    cases[i].spec, r, n);
		if (r == 1 && strstr(note, "CR and LF") == NULL)
			fail_msg("case %zu: note \"%s\"", i, note);
		if (r == 0 && note[0] != '\0')
			fail_msg("case %zu: note \"%s\"", i, note);
	}
}

static void
test_find_strip(void **state)
{
	struct msg_chars mc;
	char note[100];
	char buf[32];
	static const char text[] = "a\0b\177c\r\n";
	size_t n;

	(void)state;
	assert_int_equal(msg_chars_parse("\\0\\177", &mc, note, sizeof(note)),
	    0);
	assert_int_equal(msg_chars_find(&mc, text, sizeof(text) - 1), 0);
	assert_int_equal(msg_chars_find(&mc, text + 2, sizeof(text) - 3), 0x7f);
	assert_int_equal(msg_chars_find(&mc, "plain\r\n", 7), -1);
	n = msg_chars_strip(&mc, text, sizeof(text) - 1, buf);
	assert_int_equal(n, 5);
	assert_memory_equal(buf, "abc\r\n", 5);
	/* In place. */
	memcpy(buf, text, sizeof(text) - 1);
	n = msg_chars_strip(&mc, buf, sizeof(text) - 1, buf);
	assert_memory_equal(buf, "abc\r\n", n);
	/* An empty set finds nothing and keeps everything. */
	assert_int_equal(msg_chars_parse("", &mc, note, sizeof(note)), 0);
	assert_false(mc.any);
	assert_int_equal(msg_chars_find(&mc, text, sizeof(text) - 1), -1);
	assert_int_equal(msg_chars_strip(&mc, text, sizeof(text) - 1, buf),
	    sizeof(text) - 1);
}

/* The scans give the same answers fed whole or a byte at a time. */
static void
test_bytewise(void **state)
{
	struct msg_chars mc;
	static const char text[] = "Subject: x\r\n\r\nbo\001dy\r\n";
	char whole[64], one[64];
	size_t nw, no = 0;
	int first = -1;

	(void)state;
	(void)msg_chars_parse("\\1", &mc, NULL, 0);
	nw = msg_chars_strip(&mc, text, sizeof(text) - 1, whole);
	for (size_t i = 0; i < sizeof(text) - 1; i++) {
		no += msg_chars_strip(&mc, text + i, 1, one + no);
		if (first < 0)
			first = msg_chars_find(&mc, text + i, 1);
	}
	assert_int_equal(nw, no);
	assert_memory_equal(whole, one, nw);
	assert_int_equal(first, 1);
	assert_int_equal(msg_chars_find(&mc, text, sizeof(text) - 1), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_find_strip),
		cmocka_unit_test(test_bytewise),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
