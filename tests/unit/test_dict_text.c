/* SPDX-License-Identifier: MIT */
/*
 * test_dict_text - the postmap text format and inline:{...} parser:
 * entries, quoting, continuation lines, comments, duplicates (first
 * kept, warned), errors with FILE, line N; the same result for the
 * whole input, byte by byte, at every two-piece split and for random
 * splits; every truncation parses or fails cleanly; limits.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "dict_text.h"
#include "xalloc.h"

/*
 * Results serialised as "key=value@line|" per entry (sorted order), then
 * "W:text|" per warning, or "E:text" alone on error.
 */
static char *
serialise(struct dict_text *t, int ret, const char *err)
{
	struct buf out;

	buf_init(&out, 64 * 1024 * 1024);
	if (ret < 0) {
		assert_int_equal(buf_appendf(&out, "E:%s", err), 0);
		return buf_steal(&out);
	}
	for (size_t i = 0; i < t->n; i++)
		assert_int_equal(buf_appendf(&out, "%s=%s@%u|",
		    dict_text_key(t, &t->entries[i]),
		    dict_text_value(t, &t->entries[i]), t->entries[i].line), 0);
	for (size_t i = 0; i < t->warnings.n; i++)
		assert_int_equal(buf_appendf(&out, "W:%s|", t->warnings.v[i]),
		    0);
	return buf_steal(&out);
}

enum split_mode {
	SPLIT_WHOLE,
	SPLIT_BYTES,
	SPLIT_AT,		/* two pieces at `at` */
	SPLIT_RANDOM,
};

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

/* run - parse text fed as mode says; the serialised result. */
static char *
run(const char *text, size_t len, unsigned flags, enum split_mode mode,
    size_t at, uint32_t seed)
{
	struct dict_text t;
	char err[DICT_ERR_MAX_BYTES];
	size_t off = 0;
	int ret = 0;
	char *s;

	err[0] = '\0';
	dict_text_init(&t, "FILE", flags);
	while (off < len && ret == 0) {
		size_t n = len - off;

		if (mode == SPLIT_BYTES)
			n = 1;
		else if (mode == SPLIT_AT && off < at)
			n = at - off;
		else if (mode == SPLIT_RANDOM)
			n = 1 + rnd_next(&seed) % (n < 17 ? n : 17);
		ret = dict_text_feed(&t, text + off, n, err, sizeof(err));
		off += n;
	}
	if (ret == 0)
		ret = dict_text_finish(&t, err, sizeof(err));
	s = serialise(&t, ret, err);
	dict_text_deinit(&t);
	return s;
}

/* check_splits - every way of feeding gives the whole-input result. */
static char *
check_splits(const char *text, size_t len, unsigned flags)
{
	char *whole = run(text, len, flags, SPLIT_WHOLE, 0, 0);
	char *s;

	s = run(text, len, flags, SPLIT_BYTES, 0, 0);
	assert_string_equal(s, whole);
	free(s);
	for (size_t at = 0; at <= len; at++) {
		s = run(text, len, flags, SPLIT_AT, at, 0);
		assert_string_equal(s, whole);
		free(s);
	}
	for (uint32_t seed = 1; seed < 20; seed++) {
		s = run(text, len, flags, SPLIT_RANDOM, 0, seed * 2654435761u);
		assert_string_equal(s, whole);
		free(s);
	}
	return whole;
}

struct text_case {
	const char *name;
	const char *text;
	unsigned flags;
	const char *want;	/* serialised, exact */
};

static const struct text_case text_cases[] = {
	{ "empty", "", DICT_TEXT_FOLD, "" },
	{ "only comments and blanks", "# x\n\n   \n\t# y\n", DICT_TEXT_FOLD,
	  "" },
	{ "one entry", "key value\n", DICT_TEXT_FOLD, "key=value@1|" },
	{ "no final newline", "key value", DICT_TEXT_FOLD, "key=value@1|" },
	{ "tabs and trailing space", "key\t\t value with  inner \t \n",
	  DICT_TEXT_FOLD, "key=value with  inner@1|" },
	{ "crlf", "a b\r\nc d\r\n", DICT_TEXT_FOLD, "a=b@1|c=d@2|" },
	{ "folded", "User@Example.COM OK\n", DICT_TEXT_FOLD,
	  "user@example.com=OK@1|" },
	{ "not folded", "User@Example.COM OK\n", 0,
	  "User@Example.COM=OK@1|" },
	{ "value keeps case", "a REJECT Go Away\n", DICT_TEXT_FOLD,
	  "a=REJECT Go Away@1|" },
	{ "sorted output", "b 2\na 1\nab 3\n", DICT_TEXT_FOLD,
	  "a=1@2|ab=3@3|b=2@1|" },
	{ "continuation", "key first\n  second\n\tthird\nnext 1\n",
	  DICT_TEXT_FOLD, "key=first  second\tthird@1|next=1@4|" },
	{ "value on continuation line", "key\n   value\n", DICT_TEXT_FOLD,
	  "key=value@1|" },
	{ "comment inside continuation", "key a\n# note\n  b\n",
	  DICT_TEXT_FOLD, "key=a  b@1|" },
	{ "blank line inside continuation", "key a\n\n  b\n", DICT_TEXT_FOLD,
	  "key=a  b@1|" },
	{ "hash inside a line is text", "key a # not a comment\n",
	  DICT_TEXT_FOLD, "key=a # not a comment@1|" },
	{ "quoted key", "\"two words\" v\n", DICT_TEXT_FOLD,
	  "\"two words\"=v@1|" },
	{ "quoted localpart", "\"John Doe\"@Example.com v\n", DICT_TEXT_FOLD,
	  "\"john doe\"@example.com=v@1|" },
	{ "quote escapes", "\"a\\\" b\\\\\" v\n", DICT_TEXT_FOLD,
	  "\"a\\\" b\\\\\"=v@1|" },
	{ "duplicate keeps first",
	  "k first\nother x\nK second\nk third\n", DICT_TEXT_FOLD,
	  "k=first@1|other=x@2|"
	  "W:FILE, line 3: duplicate entry \"k\" ignored (the first one, "
	  "line 1, is kept)|"
	  "W:FILE, line 4: duplicate entry \"k\" ignored (the first one, "
	  "line 1, is kept)|" },
	{ "duplicates differ only by case without fold",
	  "K 1\nk 2\n", 0, "K=1@1|k=2@2|" },
	{ "colon key warns", "postmaster: root\nb::1 v\n", DICT_TEXT_FOLD,
	  "b::1=v@2|postmaster:=root@1|"
	  "W:FILE, line 1: key \"postmaster:\" ends with ':'; in this format "
	  "the key ends at the first white space, so the colon is part of "
	  "the key (\"name: value\" is aliases(5) syntax)|" },
	{ "warnings in line order", "a: 1\nb 1\nb 2\nc: 3\n", DICT_TEXT_FOLD,
	  "a:=1@1|b=1@2|c:=3@4|"
	  "W:FILE, line 1: key \"a:\" ends with ':'; in this format the key "
	  "ends at the first white space, so the colon is part of the key "
	  "(\"name: value\" is aliases(5) syntax)|"
	  "W:FILE, line 3: duplicate entry \"b\" ignored (the first one, "
	  "line 2, is kept)|"
	  "W:FILE, line 4: key \"c:\" ends with ':'; in this format the key "
	  "ends at the first white space, so the colon is part of the key "
	  "(\"name: value\" is aliases(5) syntax)|" },
	{ "error: no value", "a 1\nlonely\n", DICT_TEXT_FOLD,
	  "E:FILE, line 2: \"lonely\" has no value (expected \"key "
	  "whitespace value\")" },
	{ "error: no value, trailing blanks", "lonely  \t\n", DICT_TEXT_FOLD,
	  "E:FILE, line 1: \"lonely\" has no value (expected \"key "
	  "whitespace value\")" },
	{ "error: open quote", "a 1\n\"open v\n", DICT_TEXT_FOLD,
	  "E:FILE, line 2: unbalanced double quote in the key (quote a key "
	  "with white space as \"two words\", and \\\" or \\\\ inside the "
	  "quotes)" },
	{ "error: indented first line", "  a 1\n", DICT_TEXT_FOLD,
	  "E:FILE, line 1: line starts with white space but there is "
	  "nothing before it to continue" },
	{ "error: NUL", "a 1\nb \0x\n", DICT_TEXT_FOLD,
	  "E:FILE, line 2: NUL byte in configuration text" },
	{ "error line counts physical lines", "a 1\n# c\n\nb\n",
	  DICT_TEXT_FOLD,
	  "E:FILE, line 4: \"b\" has no value (expected \"key whitespace "
	  "value\")" },
	{ "error: control bytes shown as ?", "a\x01\x1b[2J\n",
	  DICT_TEXT_FOLD,
	  "E:FILE, line 1: \"a??[2J\" has no value (expected \"key "
	  "whitespace value\")" },
};

static void
test_text_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(text_cases) / sizeof(text_cases[0]);
	    i++) {
		const struct text_case *c = &text_cases[i];
		size_t len = strlen(c->text);
		char *got;

		/* The NUL case has bytes after the NUL. */
		if (strcmp(c->name, "error: NUL") == 0)
			len = 9;
		print_message("case: %s\n", c->name);
		got = check_splits(c->text, len, c->flags);
		assert_string_equal(got, c->want);
		free(got);
	}
}

/* Every truncation of a rich input parses or fails cleanly, and the
 * same way whole and byte by byte. */
static void
test_truncations(void **state)
{
	static const char text[] =
	    "# access table\n"
	    "Example.COM  REJECT no thanks\n"
	    "\"a b\"@x.org OK\n"
	    "1.2.3   DUNNO\n"
	    "long    first part\n"
	    "\tsecond part\n"
	    "\n"
	    "dup 1\n"
	    "dup 2\n"
	    "colon: v\n"
	    "last value";
	size_t len = sizeof(text) - 1;

	(void)state;
	for (size_t n = 0; n <= len; n++) {
		char *whole = run(text, n, DICT_TEXT_FOLD, SPLIT_WHOLE, 0, 0);
		char *bytes = run(text, n, DICT_TEXT_FOLD, SPLIT_BYTES, 0, 0);

		assert_string_equal(whole, bytes);
		free(whole);
		free(bytes);
	}
}

static void
test_find(void **state)
{
	static const char text[] = "b 2\na 1\nab 3\nabc 4\n\"q\" 5\n";
	struct dict_text t;
	char err[DICT_ERR_MAX_BYTES];
	const struct dict_text_entry *e;

	(void)state;
	assert_int_equal(dict_text_parse(&t, "F", DICT_TEXT_FOLD, text,
	    strlen(text), err, sizeof(err)), 0);
	assert_int_equal(t.n, 5);
	for (size_t i = 0; i < 5; i++) {
		static const char *const keys[] = { "a", "b", "ab", "abc",
		    "\"q\"" };
		static const char *const vals[] = { "1", "2", "3", "4", "5" };

		e = dict_text_find(&t, keys[i], strlen(keys[i]));
		assert_non_null(e);
		assert_string_equal(dict_text_value(&t, e), vals[i]);
		assert_int_equal(e->value_len, 1);
	}
	assert_null(dict_text_find(&t, "", 0));
	assert_null(dict_text_find(&t, "abcd", 4));
	assert_null(dict_text_find(&t, "q", 1));
	assert_null(dict_text_find(&t, "A", 1));
	/* Length matters, not only the bytes before a NUL. */
	assert_null(dict_text_find(&t, "ab", 1 + 1 + 1));
	dict_text_deinit(&t);
}

/* A key of exactly the maximum is fine; one byte more is an error. */
static void
test_key_and_value_limits(void **state)
{
	struct dict_text t;
	char err[DICT_ERR_MAX_BYTES];
	struct buf b;

	(void)state;
	buf_init(&b, 1024 * 1024);
	for (int i = 0; i < DICT_KEY_MAX_BYTES; i++)
		assert_int_equal(buf_append_c(&b, 'k'), 0);
	assert_int_equal(buf_append_str(&b, " v\n"), 0);
	assert_int_equal(dict_text_parse(&t, "F", 0, b.data, b.len, err,
	    sizeof(err)), 0);
	assert_int_equal(t.n, 1);
	dict_text_deinit(&t);

	buf_reset(&b);
	for (int i = 0; i <= DICT_KEY_MAX_BYTES; i++)
		assert_int_equal(buf_append_c(&b, 'k'), 0);
	assert_int_equal(buf_append_str(&b, " v\n"), 0);
	assert_int_equal(dict_text_parse(&t, "F", 0, b.data, b.len, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "F, line 1: key \"kkkk"));
	assert_non_null(strstr(err, "...\" is longer than 4096 bytes"));
	dict_text_deinit(&t);

	/* A value of the maximum, on continuation lines (physical lines
	 * are capped at 64 KiB). */
	buf_reset(&b);
	assert_int_equal(buf_append_str(&b, "key "), 0);
	/* The white space that starts a continuation line is kept in the
	 * value, so it counts. */
	for (size_t n = 0; n < DICT_VALUE_MAX_BYTES; n++) {
		if (n > 0 && n % 1000 == 0)
			assert_int_equal(buf_append_str(&b, "\n "), 0);
		else
			assert_int_equal(buf_append_c(&b, 'v'), 0);
	}
	assert_int_equal(dict_text_parse(&t, "F", 0, b.data, b.len, err,
	    sizeof(err)), 0);
	assert_int_equal(t.n, 1);
	assert_int_equal(t.entries[0].value_len, DICT_VALUE_MAX_BYTES);
	dict_text_deinit(&t);
	assert_int_equal(buf_append_c(&b, 'v'), 0);
	assert_int_equal(dict_text_parse(&t, "F", 0, b.data, b.len, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "F, line 1: the value of \"key\" is longer "
	    "than 65536 bytes");
	dict_text_deinit(&t);
	buf_deinit(&b);
}

/* The file cap: 64 MiB of comments is fine, one byte more is not. */
static void
test_file_cap(void **state)
{
	const size_t chunk = 1024 * 1024;
	char *data = xmalloc(chunk);
	struct dict_text t;
	char err[DICT_ERR_MAX_BYTES];

	(void)state;
	/* Comment lines of 64 bytes (physical lines are capped). */
	memset(data, 'x', chunk);
	for (size_t i = 0; i < chunk; i += 64) {
		data[i] = '#';
		data[i + 63] = '\n';
	}
	dict_text_init(&t, "BIG", DICT_TEXT_FOLD);
	for (size_t i = 0; i < DICT_TEXT_MAX_FILE_BYTES / chunk; i++)
		assert_int_equal(dict_text_feed(&t, data, chunk, err,
		    sizeof(err)), 0);
	assert_int_equal(dict_text_feed(&t, "a", 1, err, sizeof(err)), -1);
	assert_string_equal(err, "BIG: larger than 67108864 bytes (the most "
	    "a text table may hold)");
	/* Failed for good. */
	assert_int_equal(dict_text_finish(&t, err, sizeof(err)), -1);
	assert_string_equal(err, "BIG: larger than 67108864 bytes (the most "
	    "a text table may hold)");
	dict_text_deinit(&t);
	free(data);
}

/* Many duplicates: warnings capped, with a count of the rest. */
static void
test_warning_cap(void **state)
{
	struct dict_text t;
	char err[DICT_ERR_MAX_BYTES];
	struct buf b;

	(void)state;
	buf_init(&b, 1024 * 1024);
	for (int i = 0; i < 250; i++)
		assert_int_equal(buf_appendf(&b, "k %d\n", i), 0);
	assert_int_equal(dict_text_parse(&t, "F", 0, b.data, b.len, err,
	    sizeof(err)), 0);
	assert_int_equal(t.n, 1);
	assert_string_equal(dict_text_value(&t, &t.entries[0]), "0");
	assert_int_equal(t.warnings.n, DICT_TEXT_MAX_WARNINGS + 1);
	assert_non_null(strstr(t.warnings.v[0], "F, line 2: duplicate"));
	assert_string_equal(t.warnings.v[DICT_TEXT_MAX_WARNINGS],
	    "F: 149 more warnings not shown");
	dict_text_deinit(&t);
	buf_deinit(&b);
}

/* ------------------------------------------------------------ inline */

struct inline_case {
	const char *name;
	const char *text;
	const char *want;
};

static const struct inline_case inline_cases[] = {
	{ "simple", "{ a=1, b=2 }", "a=1@1|b=2@2|" },
	{ "no spaces", "{a=1,b=2}", "a=1@1|b=2@2|" },
	{ "white space separates", "{ a=1 b=2\tc=3 }",
	  "a=1@1|b=2@2|c=3@3|" },
	{ "braced element", "{ { key = text with, comma }, b=2 }",
	  "b=2@2|key=text with, comma@1|" },
	{ "braced, no inner spaces", "{{k=v}}", "k=v@1|" },
	{ "value with =", "{ { a = b = c } }", "a=b = c@1|" },
	{ "keys folded", "{ User@Example.COM=OK }",
	  "user@example.com=OK@1|" },
	{ "empty table", "{ }", "" },
	{ "outer white space", "  { a=1 }  ", "a=1@1|" },
	{ "duplicate keeps first", "{ a=1, A=2 }",
	  "a=1@1|W:inline table, element 2: duplicate entry \"a\" ignored "
	  "(the first one, element 1, is kept)|" },
	{ "nested braces in value", "{ a={x y} }", "a={x y}@1|" },
	{ "error: no braces", "a=1",
	  "E:inline table: write inline:{ key=value, { key = text with "
	  "spaces }, ... }" },
	{ "error: empty name", "",
	  "E:inline table: write inline:{ key=value, { key = text with "
	  "spaces }, ... }" },
	{ "error: unbalanced", "{ {a=1 }",
	  "E:inline table: unbalanced braces" },
	{ "error: unbalanced close", "{ a=1 }}",
	  "E:inline table: unbalanced braces" },
	{ "error: not key=value", "{ a=1, lonely }",
	  "E:inline table, element 2: \"lonely\" is not key=value (write "
	  "{ key = text } when the text has white space or commas)" },
	{ "error: empty key", "{ =1 }",
	  "E:inline table, element 1: \"=1\" has an empty key" },
	{ "error: empty value", "{ { a = } }",
	  "E:inline table, element 1: \"a\" has no value" },
	{ "error: text after group", "{ {a=1}x }",
	  "E:inline table, element 1: text after the closing brace" },
};

static void
test_inline_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(inline_cases) /
	    sizeof(inline_cases[0]); i++) {
		const struct inline_case *c = &inline_cases[i];
		struct dict_text t;
		char err[DICT_ERR_MAX_BYTES];
		int ret;
		char *got;

		print_message("inline case: %s\n", c->name);
		err[0] = '\0';
		ret = dict_text_parse_inline(&t, c->text, DICT_TEXT_FOLD, err,
		    sizeof(err));
		got = serialise(&t, ret, err);
		assert_string_equal(got, c->want);
		free(got);
		dict_text_deinit(&t);
	}
}

/* Every truncation of an inline name parses or fails cleanly. */
static void
test_inline_truncations(void **state)
{
	static const char text[] =
	    "{ a=1, { b = two words }, c={x}, {d=4} e=5 }";

	(void)state;
	for (size_t n = 0; n <= sizeof(text) - 1; n++) {
		char *s = xstrndup(text, n);
		struct dict_text t;
		char err[DICT_ERR_MAX_BYTES];
		int ret = dict_text_parse_inline(&t, s, DICT_TEXT_FOLD, err,
		    sizeof(err));

		assert_true(ret == 0 || (ret == -1 && err[0] != '\0'));
		if (n == sizeof(text) - 1)
			assert_int_equal(ret, 0);
		dict_text_deinit(&t);
		free(s);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_cases),
		cmocka_unit_test(test_truncations),
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_key_and_value_limits),
		cmocka_unit_test(test_file_cap),
		cmocka_unit_test(test_warning_cap),
		cmocka_unit_test(test_inline_cases),
		cmocka_unit_test(test_inline_truncations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
