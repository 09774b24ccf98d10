/* SPDX-License-Identifier: MIT */
/*
 * test_dict_pcre - pcre: tables (dict_pcre.h) and the shared pattern
 * table layer (dict_pattern.h): lookups table-driven (file text, key,
 * outcome), open errors with their exact "FILE, line N" messages,
 * hostile keys (catastrophic backtracking stops at the match limit with
 * a temporary failure, long keys, invalid UTF-8), every truncation of a
 * table, limits, and a real file through dict_open() (owner rule,
 * changed()).  Expected outcomes were checked against Postfix 3.7.11
 * (postmap -q with postfix-pcre) where Postfix accepts the table.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "compat.h"
#include "dict.h"
#include "dict_pattern.h"
#include "dict_pcre.h"
#include "xalloc.h"

#include "dict_pattern_cases.h"

static const struct lookup_case lookups[] = {
	/* Substitution: $N, ${N}, $(N), $$; first match wins. */
	{ "/a(b)/ x${1}y$(1)z$$w\n/./ other\n", "AB", "FOUND:xByBz$w" },
	{ NULL, "ab", "FOUND:xbybz$w" },
	{ NULL, "c", "FOUND:other" },
	{ NULL, "", "NOTFOUND" },
	{ "/(a)/ $1.x $$1 ${01}\n", "a", "FOUND:a.x $1 a" },
	/* Unset groups insert nothing. */
	{ "/(a)|(b)/ [$1][$2]\n", "a", "FOUND:[a][]" },
	{ NULL, "b", "FOUND:[][b]" },
	{ "/(a)?c/ [$1]\n", "c", "FOUND:[]" },
	{ "/(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)/ $10-$9\n", "abcdefghij",
	    "FOUND:j-i" },
	{ "/^(.*)@(.*)$/ $2 ${1}\n", "User@Example.COM",
	    "FOUND:Example.COM User" },
	/* Negation; an empty key is a key like any other. */
	{ "!/a/ neg\n", "x", "FOUND:neg" },
	{ NULL, "a", "NOTFOUND" },
	{ NULL, "", "FOUND:neg" },
	{ "! /a/ neg\n", "x", "FOUND:neg" },
	/* Flags: i (default on) toggles case-insensitivity. */
	{ "/a/ y\n", "A", "FOUND:y" },
	{ "/a/i y\n/a/ z\n", "A", "FOUND:z" },
	{ NULL, "a", "FOUND:y" },
	{ "/a/ii y\n", "A", "FOUND:y" },
	/* s (default on): "." matches a newline; "s" turns that off. */
	{ "/a.b/ y\n", "a\nb", "FOUND:y" },
	{ "/a.b/s y\n", "a\nb", "NOTFOUND" },
	/* m: ^ and $ at newlines. */
	{ "/^b$/ y\n/^b$/m z\n", "a\nb", "FOUND:z" },
	/* x: white space in the pattern ignored. */
	{ "/a b/x y\n/a b/ z\n", "ab", "FOUND:y" },
	{ NULL, "a b", "FOUND:z" },
	/* A: anchored. */
	{ "/a/A y\n", "a", "FOUND:y" },
	{ NULL, "ba", "NOTFOUND" },
	/* E: $ only at the very end. */
	{ "/a$/E y\n/a$/ z\n", "a\n", "FOUND:z" },
	{ NULL, "a", "FOUND:y" },
	/* U: ungreedy; X: accepted, no effect. */
	{ "/(a+)/U [$1]\n", "aaa", "FOUND:[a]" },
	{ "/(a+)/UU [$1]\n", "aaa", "FOUND:[aaa]" },
	{ "/\\d/X digit\n", "a1", "FOUND:digit" },
	/* Delimiters: any ASCII punctuation; a backslash protects. */
	{ "/a\\/b/ x\n", "a/b", "FOUND:x" },
	{ "\"a\" y\n", "a", "FOUND:y" },
	{ "{a{ y\n", "a", "FOUND:y" },
	{ "|a\\|b| y\n", "a|b", "FOUND:y" },
	{ NULL, "a", "NOTFOUND" },
	/* if / if ! / endif, nesting, case-insensitive keywords. */
	{ "if /a/\n/b/ both\nendif\n/./ other\n", "ab", "FOUND:both" },
	{ NULL, "b", "FOUND:other" },
	{ "if /a/\nif /c/\n/b/ x\nendif\n/b/ y\nendif\n", "ab", "FOUND:y" },
	{ NULL, "abc", "FOUND:x" },
	{ NULL, "b", "NOTFOUND" },
	{ "if !/a/\n/b/ x\nendif\n", "ab", "NOTFOUND" },
	{ NULL, "b", "FOUND:x" },
	{ "IF/a/\n/b/ x\nENDIF\n/./ y\n", "ab", "FOUND:x" },
	{ NULL, "xb", "FOUND:y" },
	{ "if /a/\nendif\n/./ after\n", "a", "FOUND:after" },
	/* Layout: comments, blank lines, continuations, CR LF. */
	{ "# c\n\n/a/ x\n# c\n  y\n\n\t z\n", "a", "FOUND:x  y\t z" },
	{ "/a/ x\n  # not text\n", "a", "FOUND:x" },
	{ "/a\n  b/ x\n", "a  b", "FOUND:x" },
	{ "/a/ x  y  \t\r\n", "a", "FOUND:x  y" },
	{ "/a/ last line without newline", "a",
	    "FOUND:last line without newline" },
	/* Byte mode, as in Postfix: "." is a byte, "i" folds ASCII only. */
	{ "/^.$/ one\n/^..$/ two\n", "\xc3\xa9", "FOUND:two" },
	{ "/\xc3\xa9/ e\n", "\xc3\x89", "NOTFOUND" },
	{ NULL, "\xc3\xa9", "FOUND:e" },
	{ "/(*UTF)^.$/ one\n", "\xc3\xa9", "FOUND:one" },
	{ "/^caf\xc3\xa9$/ ok \xe2\x9c\x93\n", "CAF\xc3\xa9",
	    "FOUND:ok \xe2\x9c\x93" },
	/* Keys that are not valid UTF-8 are not found by any rule. */
	{ "/./ any\n!/x/ notx\n", "a\xff", "NOTFOUND" },
	{ NULL, "\xc3", "NOTFOUND" },			/* truncated */
	{ NULL, "\xc0\xaf", "NOTFOUND" },		/* overlong */
	{ NULL, "\xe0\x80\xaf", "NOTFOUND" },		/* overlong */
	{ NULL, "\xed\xa0\x80", "NOTFOUND" },		/* surrogate */
	{ NULL, "\xf4\x90\x80\x80", "NOTFOUND" },	/* > U+10FFFF */
	{ NULL, "\xf8\x88\x80\x80\x80", "NOTFOUND" },	/* 5 bytes */
	{ NULL, "\x80", "NOTFOUND" },
	{ NULL, "\xf0\x9f\x98\x80", "FOUND:any" },
	{ NULL, "x", "FOUND:any" },
	/* A $N that cuts a character, or an empty result: table errors. */
	{ "/^(.)/ $1\n", "\xc3\xa9", "TEMPFAIL:t, line 1: the result for "
	    "this key is not valid UTF-8" },
	{ "/^(x*)/ $1\n", "abc", "TEMPFAIL:t, line 1: the result for this "
	    "key is empty" },
	{ NULL, "xx", "FOUND:xx" },
	/* Catastrophic backtracking stops at the match limit. */
	{ "/^(a+)+$/ evil\n", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab",
	    "TEMPFAIL:t, line 1: matching gave up: match limit exceeded" },
	{ NULL, "aaaa", "FOUND:evil" },
	{ "/x/ first\n/^(a|aa)+$/ evil\n",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab",
	    "TEMPFAIL:t, line 2: matching gave up: match limit exceeded" },
	{ NULL, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaxb",
	    "FOUND:first" },
	/* A pattern may lower the limits, not raise them. */
	{ "/(*LIMIT_MATCH=10)^(a|b)*$/ low\n", "abababababababababab",
	    "TEMPFAIL:match limit exceeded" },
	{ NULL, "ab", "FOUND:low" },
	{ "/(*LIMIT_MATCH=4000000000)^(a+)+$/ high\n",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab",
	    "TEMPFAIL:match limit exceeded" },
};

static const struct error_case errors[] = {
	{ "/a(/ y\n", "t, line 1: bad regular expression: missing closing "
	    "parenthesis at offset 2" },
	{ "/a/ x\n\n# c\n/b[/ y\n", "t, line 4: bad regular expression: "
	    "missing terminating ] for character class at offset 2" },
	{ "/\\q/ y\n", "t, line 1: bad regular expression: unrecognized "
	    "character follows \\ at offset 1" },
	{ "/a/q y\n", "t, line 1: unknown flag \"q\" after the pattern "
	    "(flags: i s m x A E U X)" },
	{ "/a/y\n", "t, line 1: unknown flag \"y\" after the pattern "
	    "(flags: i s m x A E U X)" },
	{ "/a/\x01 y\n", "t, line 1: unknown flag \"\\001\" after the "
	    "pattern (flags: i s m x A E U X)" },
	{ "/a y\n", "t, line 1: no closing \"/\" after the pattern" },
	{ "/a\\/ y\n", "t, line 1: no closing \"/\" after the pattern" },
	{ "a/ y\n", "t, line 1: a pattern starts with a delimiter such as "
	    "\"/\" (any ASCII punctuation but \"\\\"), not \"a\"" },
	{ "\\a\\ y\n", "t, line 1: a pattern starts with a delimiter such "
	    "as \"/\" (any ASCII punctuation but \"\\\"), not \"\\\\\"" },
	{ "\xc3\xa9" "a\xc3\xa9 y\n", "t, line 1: a pattern starts with a "
	    "delimiter such as \"/\" (any ASCII punctuation but \"\\\"), not "
	    "\"\\303\"" },
	{ "!\n", "t, line 1: missing pattern" },
	{ "if\n", "t, line 1: missing pattern" },
	{ "if !\nendif\n", "t, line 1: missing pattern" },
	{ "/a/\n", "t, line 1: no result after the pattern" },
	{ "/a/   \t\n", "t, line 1: no result after the pattern" },
	{ "/a(b)/ $2\n", "t, line 1: \"$2\" in the result: the pattern has 1 "
	    "capture group" },
	{ "/a/ $1\n", "t, line 1: \"$1\" in the result: the pattern has 0 "
	    "capture groups" },
	{ "/(a)/ $0\n", "t, line 1: \"$0\" in the result: groups are "
	    "numbered from 1" },
	{ "/(a)/ $99999999999999999999\n", "t, line 1: \"$99999999999999999999\" "
	    "in the result: the pattern has 1 capture group" },
	{ "!/a(b)/ $1\n", "t, line 1: \"$1\" in the result of a negated "
	    "pattern (\"!\"): nothing matched, so there is no group to "
	    "insert" },
	{ "/a/ $\n", "t, line 1: \"$\" in the result must be followed by a "
	    "group number (\"$1\", \"${1}\"), or be written \"$$\"" },
	{ "/a/ x$ y\n", "t, line 1: \"$\" in the result must be followed by "
	    "a group number (\"$1\", \"${1}\"), or be written \"$$\"" },
	{ "/a/ ${}\n", "t, line 1: \"$\" in the result must be followed by a "
	    "group number (\"$1\", \"${1}\"), or be written \"$$\"" },
	{ "/a/ ${1\n", "t, line 1: \"${\" without \"}\" in the result" },
	{ "/(a)/ $(1}\n", "t, line 1: \"$(\" without \")\" in the result" },
	{ "/(a)/ $1x\n", "t, line 1: \"$1x\" in the result is not a group "
	    "number (write \"${1}x\" for group 1 followed by \"x\")" },
	{ "/(a)/ ${ 1 }\n", "t, line 1: \"$ 1 \" in the result is not a "
	    "group number (write \"${1}x\" for group 1 followed by \"x\")" },
	{ "/(?<n>a)/ ${n}\n", "t, line 1: \"$n\" in the result is not a "
	    "group number (write \"${1}x\" for group 1 followed by \"x\")" },
	{ "/a/ x\xff\n", "t, line 1: the result is not valid UTF-8" },
	{ "if /a/\n/b/ x\n", "t, line 1: if without endif" },
	{ "if /a/\nif /b/\nendif\n", "t, line 1: if without endif" },
	{ "if /a/\nendif\nif /b/\n/c/ d\n", "t, line 3: if without endif" },
	{ "/a/ x\nendif\n", "t, line 2: endif without if" },
	{ "if /a/ extra\nendif\n", "t, line 1: text after the pattern of "
	    "an if: \"extra\"" },
	{ "if /a/\nendif junk\n", "t, line 2: text after endif: \"junk\"" },
	{ "if /a/\nendif\t# c\n", "t, line 2: text after endif: \"# c\"" },
	{ "  /a/ x\n", "t, line 1: line starts with white space but there "
	    "is nothing before it to continue" },
	{ "# c\n\t/a/ x\n", "t, line 2: line starts with white space but "
	    "there is nothing before it to continue" },
	{ "/a/ x\n/b/", "t, line 2: no result after the pattern" },
};

static void
test_lookups(void **state)
{
	run_lookup_cases(&dict_type_pcre, lookups, N_ELEMENTS(lookups));
}

static void
test_errors(void **state)
{
	run_error_cases(&dict_type_pcre, errors, N_ELEMENTS(errors));
}

/* A NUL byte anywhere refuses the table, with its line. */
static void
test_nul(void **state)
{
	static const char text[] = "/a/ x\n/b/ y\0z\n";
	char err[DICT_ERR_MAX_BYTES];

	assert_null(dict_pattern_open_text(&dict_type_pcre, CASE_FILE, text,
	    sizeof(text) - 1, err, sizeof(err)));
	assert_string_equal(err, "t, line 2: NUL byte in configuration text");
}

/* Every prefix of a table opens or fails cleanly. */
static void
test_truncations(void **state)
{
	static const char *const keys[] = { "ab", "b", "User@Example.COM",
	    "" };

	run_truncations(&dict_type_pcre,
	    "# header\n/^(.*)@(.*)$/ user=$1 domain=${2}\nif !/x/\n"
	    "/b/i B $$\n  continued\nendif\n!/q/ notq\n", keys,
	    N_ELEMENTS(keys));
}

/* Keys up to DICT_KEY_MAX_BYTES; longer ones are never looked at. */
static void
test_long_keys(void **state)
{
	char *key = repeat("x", DICT_KEY_MAX_BYTES);
	char *table = xasprintf("/^(x+)(y?)$/ ${2}len-ok\n");
	struct dict *d = case_open(&dict_type_pcre, table, strlen(table));
	char *got;

	got = case_get(d, key, DICT_VALUE_MAX_BYTES);
	assert_string_equal(got, "FOUND:len-ok");
	free(got);
	free(key);
	key = repeat("x", DICT_KEY_MAX_BYTES + 1);
	got = case_get(d, key, DICT_VALUE_MAX_BYTES);
	assert_string_equal(got, "NOTFOUND");
	free(got);
	free(key);
	dict_close(d);
	free(table);

	/* Hostile long keys against a backtracking pattern. */
	table = xasprintf("/^(\\w+\\s?)*$/ words\n/(.*)(.*)(.*)(.*)(.*)x/ "
	    "x\n");
	d = case_open(&dict_type_pcre, table, strlen(table));
	key = repeat("a", DICT_KEY_MAX_BYTES - 1);
	key[DICT_KEY_MAX_BYTES - 2] = '!';
	got = case_get(d, key, DICT_VALUE_MAX_BYTES);
	assert_string_equal(got, "TEMPFAIL:pcre:t, line 1: matching gave up: "
	    "match limit exceeded");
	free(got);
	free(key);
	key = repeat("ab ", DICT_KEY_MAX_BYTES / 3);
	got = case_get(d, key, DICT_VALUE_MAX_BYTES);
	assert_string_equal(got, "FOUND:words");
	free(got);
	free(key);
	dict_close(d);
	free(table);
}

/* Results: limits of the value buffer and of DICT_VALUE_MAX_BYTES. */
static void
test_result_limits(void **state)
{
	char *refs = repeat("$1", 40);
	char *table = xasprintf("/^(.*)$/ %s\n", refs);
	struct dict *d = case_open(&dict_type_pcre, table, strlen(table));
	char *key = repeat("k", 2000), *got;
	char err[DICT_ERR_MAX_BYTES];
	char *big, *line;

	/* 40 * 2000 bytes > 64 KiB. */
	got = case_get(d, key, DICT_VALUE_MAX_BYTES);
	assert_string_equal(got, "TEMPFAIL:pcre:t, line 1: the result for "
	    "this key is longer than the 65536 bytes allowed");
	free(got);
	/* The caller's smaller buffer. */
	got = case_get(d, "abc", 100);
	assert_string_equal(got, "TEMPFAIL:pcre:t, line 1: the result for "
	    "this key is longer than the 100 bytes allowed");
	free(got);
	got = case_get(d, "ab", 100);
	assert_int_equal(strlen(got), strlen("FOUND:") + 80);
	free(got);
	dict_close(d);
	free(table);
	free(refs);
	free(key);

	/* A result in the file longer than DICT_VALUE_MAX_BYTES. */
	big = repeat("v", 40000);
	line = xasprintf("/a/ %s\n  %s\n", big, big);
	assert_null(dict_pattern_open_text(&dict_type_pcre, CASE_FILE, line,
	    strlen(line), err, sizeof(err)));
	assert_string_equal(err, "t, line 1: result longer than the 65536 "
	    "bytes allowed");
	free(line);
	/* Logical and physical lines have limits too. */
	line = xasprintf("/a/ %s\n  %s\n  %s\n  %s\n", big, big, big, big);
	assert_null(dict_pattern_open_text(&dict_type_pcre, CASE_FILE, line,
	    strlen(line), err, sizeof(err)));
	assert_string_equal(err, "t, line 4: logical line too long");
	free(line);
	free(big);
	big = repeat("v", 70000);
	line = xasprintf("/a/ x\n/b/ %s\n", big);
	assert_null(dict_pattern_open_text(&dict_type_pcre, CASE_FILE, line,
	    strlen(line), err, sizeof(err)));
	assert_string_equal(err, "t, line 2: physical line too long");
	free(line);
	free(big);
}

/* At most DICT_PCRE_MAX_RULES rules. */
static void
test_rule_limit(void **state)
{
	char *rules = repeat("/a/ b\n", DICT_PCRE_MAX_RULES);
	char *more = xasprintf("%s/c/ d\n", rules);
	char err[DICT_ERR_MAX_BYTES], *want;
	struct dict *d;

	d = case_open(&dict_type_pcre, rules, strlen(rules));
	dict_close(d);
	assert_null(dict_pattern_open_text(&dict_type_pcre, CASE_FILE, more,
	    strlen(more), err, sizeof(err)));
	want = xasprintf("t, line %d: more than the %d rules a pcre table "
	    "may have", DICT_PCRE_MAX_RULES + 1, DICT_PCRE_MAX_RULES);
	assert_string_equal(err, want);
	free(want);
	free(more);
	free(rules);
}

/* Deep nesting needs no recursion; the last matching rule is found. */
static void
test_deep_nesting(void **state)
{
	size_t depth = 5000;
	char *ifs = repeat("if /a/\n", depth);
	char *endifs = repeat("endif\n", depth);
	char *table = xasprintf("%s/b/ deep\n%s/./ out\n", ifs, endifs);
	struct dict *d = case_open(&dict_type_pcre, table, strlen(table));
	char *got;

	got = case_get(d, "ab", DICT_VALUE_MAX_BYTES);
	assert_string_equal(got, "FOUND:deep");
	free(got);
	got = case_get(d, "b", DICT_VALUE_MAX_BYTES);
	assert_string_equal(got, "FOUND:out");
	free(got);
	dict_close(d);
	free(table);
	free(ifs);
	free(endifs);
}

/* A real file through dict_open(): owner rule, changed(), file errors. */
static void
test_file(void **state)
{
	char dir[] = "/tmp/ostia-pcre-XXXXXX";
	struct dict_open_opts opts;
	char err[DICT_ERR_MAX_BYTES], *path, *spec, *got, *want;
	struct dict *d;
	FILE *fp;

	assert_non_null(mkdtemp(dir));
	path = xasprintf("%s/t.pcre", dir);
	spec = xasprintf("pcre:%s", path);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("/^(.*)@example\\.com$/ local $1\n", fp);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(path, 0644), 0);
	dict_open_opts_init(&opts);
	opts.trusted_uid = geteuid();

	d = dict_open_type(&dict_type_pcre, path, &opts, err, sizeof(err));
	assert_non_null(d);
	got = case_get(d, "Joe@example.com", DICT_VALUE_MAX_BYTES);
	assert_string_equal(got, "FOUND:local Joe");
	free(got);
	assert_false(dict_changed(d));
	fp = fopen(path, "a");
	assert_non_null(fp);
	fputs("/x/ y\n", fp);
	assert_int_equal(fclose(fp), 0);
	assert_true(dict_changed(d));
	dict_close(d);

	/* Through the registry when pcre is registered. */
	if (dict_type_find("pcre") != NULL) {
		d = dict_open(spec, &opts, err, sizeof(err));
		assert_non_null(d);
		assert_string_equal(d->spec, spec);
		dict_close(d);
	}

	/* Group-writable: refused. */
	assert_int_equal(chmod(path, 0664), 0);
	assert_null(dict_open_type(&dict_type_pcre, path, &opts, err,
	    sizeof(err)));
	assert_non_null(strstr(err, "writable by its group"));
	assert_int_equal(chmod(path, 0644), 0);

	/* An error names the real path. */
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("/a/ x\n/b(/ y\n", fp);
	assert_int_equal(fclose(fp), 0);
	assert_null(dict_open_type(&dict_type_pcre, path, &opts, err,
	    sizeof(err)));
	want = xasprintf("%s, line 2: bad regular expression: missing "
	    "closing parenthesis at offset 2", path);
	assert_string_equal(err, want);
	free(want);

	assert_int_equal(unlink(path), 0);
	assert_null(dict_open_type(&dict_type_pcre, path, &opts, err,
	    sizeof(err)));
	want = xasprintf("%s: No such file or directory", path);
	assert_string_equal(err, want);
	free(want);
	assert_int_equal(rmdir(dir), 0);
	free(path);
	free(spec);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookups),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_nul),
		cmocka_unit_test(test_truncations),
		cmocka_unit_test(test_long_keys),
		cmocka_unit_test(test_result_limits),
		cmocka_unit_test(test_rule_limit),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
