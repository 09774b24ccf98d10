/* SPDX-License-Identifier: MIT */
/*
 * test_cf_lines - logical-line reader: joining, comments, white space,
 * line numbers, errors, and the same result for any split of the input.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "cf_lines.h"
#include "xalloc.h"

/* Results are written as "N:text|" per line, then "ERR N: text" on error. */
struct collect {
	struct buf out;
	unsigned stop_at;	/* callback returns -1 on this call (from 1) */
	unsigned calls;
};

static int
collect_cb(void *ctx, const char *text, size_t len, unsigned lineno)
{
	struct collect *c = ctx;

	assert_int_equal(strlen(text), len);
	c->calls++;
	assert_int_equal(buf_appendf(&c->out, "%u:%s|", lineno, text), 0);
	return c->stop_at != 0 && c->calls == c->stop_at ? -1 : 0;
}

enum split_mode {
	SPLIT_WHOLE,
	SPLIT_BYTES,
	SPLIT_RANDOM,
};

/* Tiny deterministic generator, so failures can be replayed. */
static uint32_t
rnd_next(uint32_t *state)
{
	uint32_t x = *state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*state = x;
	return x;
}

/*
 * run - feed text split as mode says (seed picks random chunk sizes) and
 * return the serialised result (caller frees).
 */
static char *
run(const char *text, size_t len, size_t logical_max, enum split_mode mode,
    uint32_t seed, unsigned stop_at)
{
	struct cf_lines r;
	struct collect c;
	const char *err = NULL;
	unsigned errline = 0;
	size_t off = 0;
	int ret = 0;

	memset(&c, 0, sizeof(c));
	buf_init(&c.out, 16 * 1024 * 1024);
	c.stop_at = stop_at;
	cf_lines_init(&r, logical_max);
	while (off < len && ret == 0) {
		size_t n = len - off;

		if (mode == SPLIT_BYTES)
			n = 1;
		else if (mode == SPLIT_RANDOM)
			n = 1 + rnd_next(&seed) % (n < 64 ? n : 64);
		ret = cf_lines_feed(&r, text + off, n, collect_cb, &c, &err,
		    &errline);
		off += n;
	}
	if (ret == 0)
		ret = cf_lines_finish(&r, collect_cb, &c, &err, &errline);
	if (ret < 0)
		assert_int_equal(buf_appendf(&c.out, "ERR %u: %s", errline,
		    err != NULL ? err : "(stopped)"), 0);
	cf_lines_deinit(&r);
	return buf_steal(&c.out);
}

/* check_all_splits - whole, byte by byte and random splits give expect. */
static void
check_all_splits(const char *text, size_t len, size_t logical_max,
    const char *expect)
{
	char *got;

	got = run(text, len, logical_max, SPLIT_WHOLE, 0, 0);
	assert_string_equal(got, expect);
	free(got);
	got = run(text, len, logical_max, SPLIT_BYTES, 0, 0);
	assert_string_equal(got, expect);
	free(got);
	for (uint32_t seed = 1; seed <= 20; seed++) {
		got = run(text, len, logical_max, SPLIT_RANDOM,
		    seed * 2654435761u, 0);
		assert_string_equal(got, expect);
		free(got);
	}
}

struct lines_case {
	const char *text;
	size_t len;		/* 0: strlen(text) */
	size_t logical_max;	/* 0: 4096 */
	const char *expect;
};

static const struct lines_case cases[] = {
	/* Joining keeps the continuation's leading white space. */
	{ "a b\n  c\n", 0, 0, "1:a b  c|" },
	{ "a\n\tb\n", 0, 0, "1:a\tb|" },
	{ "a\n b\n  c\nd\n", 0, 0, "1:a b  c|4:d|" },
	/* Comments and empty lines are skipped and end nothing. */
	{ "a\n# x\n  b\n", 0, 0, "1:a  b|" },
	{ "a\n\n  b\n", 0, 0, "1:a  b|" },
	{ "a\n   # indented comment\n b\n", 0, 0, "1:a b|" },
	{ "a\n \t \n b\n", 0, 0, "1:a b|" },
	{ "# only\n\n   \n#\n", 0, 0, "" },
	{ "", 0, 0, "" },
	/* '#' that does not start a line is text. */
	{ "a#b c # d\n", 0, 0, "1:a#b c # d|" },
	{ "x\n  y # z\n", 0, 0, "1:x  y # z|" },
	/* Trailing white space and CR go, inner CR stays. */
	{ "a \r\n  b\t\r\n", 0, 0, "1:a  b|" },
	{ "a\rb\n", 0, 0, "1:a\rb|" },
	{ "a\r\n\r\n  b\r\n", 0, 0, "1:a  b|" },
	/* No final newline. */
	{ "x\ny", 0, 0, "1:x|2:y|" },
	{ "x\n  y", 0, 0, "1:x  y|" },
	{ "x\n# c", 0, 0, "1:x|" },
	/* Line numbers are those of the first physical line. */
	{ "a\n\n# c\nb\n  c\n\nd", 0, 0, "1:a|4:b  c|7:d|" },
	/* Errors, with the physical line at fault. */
	{ "  a\nb\n", 0, 0, "ERR 1: line starts with white space but there "
	    "is nothing before it to continue" },
	{ "# c\n\n\t a\n", 0, 0, "ERR 3: line starts with white space but "
	    "there is nothing before it to continue" },
	{ "a\nb\0c\n", 6, 0, "ERR 2: NUL byte in configuration text" },
	{ "a\n# b\0\n", 7, 0, "ERR 2: NUL byte in configuration text" },
	{ "a\nb\nc\0", 7, 0, "1:a|ERR 3: NUL byte in configuration text" },
	{ "abcde\n  fgh\n  ijk\n", 0, 10, "ERR 3: logical line too long" },
	{ "abcde\n  fgh\nx\n", 0, 10, "1:abcde  fgh|3:x|" },
	{ "ok\nabcd\n", 0, 3, "1:ok|ERR 2: logical line too long" },
	/* Trailing white space does not count against the logical max. */
	{ "abc   \n", 0, 3, "1:abc|" },
};

static void
test_cases(void **state)
{
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		const struct lines_case *c = &cases[i];
		size_t len = c->len != 0 ? c->len : strlen(c->text);

		check_all_splits(c->text, len,
		    c->logical_max != 0 ? c->logical_max : 4096, c->expect);
	}
}

static void
test_physical_line_max(void **state)
{
	size_t max = CF_PHYS_LINE_MAX_BYTES;
	char *text = xmalloc(max + 16);
	char *expect;

	/* Exactly the maximum is fine. */
	memcpy(text, "a\n", 2);
	memset(text + 2, 'x', max);
	text[2 + max] = '\n';
	expect = xmalloc(max + 16);
	memcpy(expect, "1:a|2:", 6);
	memset(expect + 6, 'x', max);
	memcpy(expect + 6 + max, "|", 2);
	check_all_splits(text, max + 3, max, expect);
	free(expect);

	/* One more byte is not, even without a newline. */
	memset(text + 2, 'x', max + 1);
	check_all_splits(text, max + 3, max,
	    "ERR 2: physical line too long");
	text[2 + max + 1] = '\n';
	check_all_splits(text, max + 4, max,
	    "ERR 2: physical line too long");

	/* A NUL right at the limit is reported as a NUL, one after it not. */
	memset(text + 2, 'x', max + 1);
	text[2 + max] = '\0';
	check_all_splits(text, max + 3, max,
	    "ERR 2: NUL byte in configuration text");
	memset(text + 2, 'x', max + 2);
	text[2 + max + 1] = '\0';
	check_all_splits(text, max + 4, max,
	    "ERR 2: physical line too long");
	free(text);
}

static void
test_callback_stops(void **state)
{
	const char *text = "a\nb\n c\nd\n";
	const char *expect = "1:a|2:b c|ERR 2: (stopped)";
	char *got;

	got = run(text, strlen(text), 100, SPLIT_WHOLE, 0, 2);
	assert_string_equal(got, expect);
	free(got);
	got = run(text, strlen(text), 100, SPLIT_BYTES, 0, 2);
	assert_string_equal(got, expect);
	free(got);
}

static void
test_spent_after_error(void **state)
{
	struct cf_lines r;
	struct collect c;
	const char *err = NULL;
	unsigned line = 0;

	memset(&c, 0, sizeof(c));
	buf_init(&c.out, 4096);
	cf_lines_init(&r, 100);
	assert_int_equal(cf_lines_feed(&r, " x\n", 3, collect_cb, &c, &err,
	    &line), -1);
	assert_int_equal(line, 1);
	assert_int_equal(cf_lines_feed(&r, "y\n", 2, collect_cb, &c, &err,
	    &line), -1);
	assert_non_null(err);
	assert_int_equal(cf_lines_finish(&r, collect_cb, &c, &err, &line), -1);
	assert_non_null(err);
	assert_int_equal(c.calls, 0);
	cf_lines_deinit(&r);
	buf_deinit(&c.out);
}

static void
test_reuse_after_finish(void **state)
{
	struct cf_lines r;
	struct collect c;
	const char *err = NULL;
	unsigned line = 0;

	memset(&c, 0, sizeof(c));
	buf_init(&c.out, 4096);
	cf_lines_init(&r, 100);
	assert_int_equal(cf_lines_feed(&r, "a\nb", 3, collect_cb, &c, &err,
	    &line), 0);
	assert_int_equal(cf_lines_finish(&r, collect_cb, &c, &err, &line), 0);
	assert_int_equal(cf_lines_feed(&r, "\nc\n", 3, collect_cb, &c, &err,
	    &line), 0);
	assert_int_equal(cf_lines_finish(&r, collect_cb, &c, &err, &line), 0);
	/* The second input starts again at line 1. */
	assert_string_equal(buf_cstr(&c.out), "1:a|2:b|2:c|");
	cf_lines_deinit(&r);
	buf_deinit(&c.out);
}

/* Random text over the characters that matter, split many ways. */
static void
test_random_splits(void **state)
{
	static const char alphabet[] = "ab #\t\n\r \n";
	uint32_t seed = 12345;
	char text[300];

	for (int round = 0; round < 500; round++) {
		size_t len = rnd_next(&seed) % sizeof(text);
		size_t lmax = 8 + rnd_next(&seed) % 64;
		char *whole, *got;

		for (size_t i = 0; i < len; i++)
			text[i] = alphabet[rnd_next(&seed) %
			    (sizeof(alphabet) - 1)];
		if (round % 50 == 7 && len > 0)
			text[rnd_next(&seed) % len] = '\0';
		whole = run(text, len, lmax, SPLIT_WHOLE, 0, 0);
		got = run(text, len, lmax, SPLIT_BYTES, 0, 0);
		assert_string_equal(got, whole);
		free(got);
		got = run(text, len, lmax, SPLIT_RANDOM, seed | 1, 0);
		assert_string_equal(got, whole);
		free(got);
		free(whole);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_physical_line_max),
		cmocka_unit_test(test_callback_stops),
		cmocka_unit_test(test_spent_after_error),
		cmocka_unit_test(test_reuse_after_finish),
		cmocka_unit_test(test_random_splits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
