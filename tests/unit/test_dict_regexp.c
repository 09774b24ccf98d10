/* SPDX-License-Identifier: MIT */
/*
 * test_dict_regexp - regexp: tables (dict_regexp.h): lookups
 * table-driven (file text, key, outcome), open errors with their exact
 * "FILE, line N" messages, the patterns refused because POSIX regexec()
 * could burn CPU on a hostile key (back-references, nested counted
 * repetitions), long and invalid UTF-8 keys, every truncation of a
 * table, and a real file through dict_open().  Expected outcomes were
 * checked against Postfix 3.7.11 (postmap -q) where Postfix accepts the
 * table.  The if/endif layer itself is covered by test_dict_pcre.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "compat.h"
#include "dict.h"
#include "dict_pattern.h"
#include "dict_regexp.h"
#include "log.h"
#include "xalloc.h"

#include "dict_pattern_cases.h"

static const struct lookup_case lookups[] = {
	/* Substitution and first match. */
	{ "/a(b)/ x${1}y$(1)z$$w\n/./ other\n", "AB", "FOUND:xByBz$w" },
	{ NULL, "c", "FOUND:other" },
	{ NULL, "", "NOTFOUND" },
	{ "/^(.*)@(.*)$/ $2 ${1}\n", "User@Example.COM",
	    "FOUND:Example.COM User" },
	{ "/(a)|(b)/ [$1][$2]\n", "b", "FOUND:[][b]" },
	{ "/(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)/ [$10]\n", "abcdefghij",
	    "FOUND:[j]" },
	/* POSIX leftmost-longest: the longer alternative wins. */
	{ "/^(a|ab)(c|bcd)/ [$1][$2]\n", "abcd", "FOUND:[a][bcd]" },
	/* i (default on) toggles case-insensitivity. */
	{ "/a/ y\n", "A", "FOUND:y" },
	{ "/a/i y\n", "A", "NOTFOUND" },
	{ NULL, "a", "FOUND:y" },
	{ "/[[:upper:]]+/i y\n", "ABC", "FOUND:y" },
	{ NULL, "abc", "NOTFOUND" },
	/* x (default on) toggles extended syntax: "x" means basic. */
	{ "/a(b)/x lit\n", "a(b)", "FOUND:lit" },
	{ NULL, "ab", "NOTFOUND" },
	{ "/a\\(b\\)/x [$1]\n", "ab", "FOUND:[b]" },
	{ NULL, "a(b)", "NOTFOUND" },
	{ "/\\(a\\)\\{2\\}/x bre$1\n", "aa", "FOUND:brea" },
	{ "/a+/x plus\n", "a+", "FOUND:plus" },
	{ "/x{2}/ two\n", "xx", "FOUND:two" },
	{ NULL, "x", "NOTFOUND" },
	/* m toggles REG_NEWLINE. */
	{ "/^b$/ y\n/^b$/m z\n", "a\nb", "FOUND:z" },
	{ "/a.b/m y\n/a.b/ z\n", "a\nb", "FOUND:z" },
	/* Delimiters and the backslash. */
	{ "/a\\/b/ y\n", "a/b", "FOUND:y" },
	{ "|a\\|b| y\n", "a|b", "FOUND:y" },
	{ NULL, "a", "NOTFOUND" },
	/* Empty pattern matches everything. */
	{ "// all\n", "x", "FOUND:all" },
	{ NULL, "", "FOUND:all" },
	/* Negation and if, as in pcre. */
	{ "if !/^owner-/\n/^(.*)-outgoing@(.*)$/ 550 Use ${1}@${2} instead\n"
	    "endif\n", "list-outgoing@example.com",
	    "FOUND:550 Use list@example.com instead" },
	{ NULL, "owner-list-outgoing@example.com", "NOTFOUND" },
	{ "!/@/ no-at\n", "postmaster", "FOUND:no-at" },
	/* Keys that are not valid UTF-8 are not found. */
	{ "/./ any\n!/x/ notx\n", "a\xff", "NOTFOUND" },
	{ NULL, "\xed\xa0\x80", "NOTFOUND" },
	{ NULL, "\xc3\xa9", "FOUND:any" },
	/* Results: a $N that cuts a character, an empty result. */
	{ "/^(.)/ $1\n", "\xc3\xa9", "TEMPFAIL:t, line 1: the result for "
	    "this key is not valid UTF-8" },
	{ "/^(x*)/ $1\n", "abc", "TEMPFAIL:t, line 1: the result for this "
	    "key is empty" },
	/* Bounded repetitions below the limit are fine. */
	{ "/^(a{1,30}){1,30}$/ ok\n", "aaaa", "FOUND:ok" },
	{ "/^((a{1,10}){1,10}){1,10}$/ at-the-limit\n", "aaa",
	    "FOUND:at-the-limit" },
	{ "/^a{0001,0002}$/ zeros\n", "aa", "FOUND:zeros" },
	{ NULL, "aaa", "NOTFOUND" },
	{ "/^([a-z0-9-]+\\.)+[a-z]+$/ host\n", "mx1.example.com",
	    "FOUND:host" },
	{ "/^a+++++++++$/ plus\n", "aaa", "FOUND:plus" },
	{ "/^a{,3}$/ upto3\n", "aaa", "FOUND:upto3" },
	{ NULL, "aaaa", "NOTFOUND" },
	{ "/^[^@]{1,64}@[^@]{1,255}$/ addr\n", "joe@example.com",
	    "FOUND:addr" },
	{ "/^([a-z]{1,40}\\.){1,20}[a-z]{2,}$/ host\n", "mx.example.com",
	    "FOUND:host" },
	/* Bracket expressions hide what looks like syntax. */
	{ "/[\\1]/ bracket\n", "\\", "FOUND:bracket" },
	{ "/[]{}]{2}/ brace\n", "}]", "FOUND:brace" },
};

static const struct error_case errors[] = {
	{ "/a(/ y\n", "t, line 1: bad regular expression: Unmatched ( or \\(" },
	{ "/a/ x\n/[b/ y\n", "t, line 2: bad regular expression: Unmatched "
	    "[, [^, [:, [., or [=" },
	{ "/a/s y\n", "t, line 1: unknown flag \"s\" after the pattern "
	    "(flags: i m x)" },
	{ "/a/E y\n", "t, line 1: unknown flag \"E\" after the pattern "
	    "(flags: i m x)" },
	{ "/a y\n", "t, line 1: no closing \"/\" after the pattern" },
	{ "/(a)/ $2\n", "t, line 1: \"$2\" in the result: the pattern has 1 "
	    "capture group" },
	{ "/a\\(b\\)/ $1\n", "t, line 1: \"$1\" in the result: the pattern "
	    "has 0 capture groups" },
	{ "!/(a)/ $1\n", "t, line 1: \"$1\" in the result of a negated "
	    "pattern (\"!\"): nothing matched, so there is no group to "
	    "insert" },
	{ "/(a)\\1/ y\n", "t, line 1: back-reference \"\\1\" in the pattern: "
	    "POSIX regexec() can take exponential time with them; use a pcre: "
	    "table, whose matches are bounded" },
	{ "/\\(a\\)\\1/x y\n", "t, line 1: back-reference \"\\1\" in the "
	    "pattern: POSIX regexec() can take exponential time with them; use "
	    "a pcre: table, whose matches are bounded" },
	{ "if /(a*)*\\1b/\nendif\n", "t, line 1: back-reference \"\\1\" in "
	    "the pattern: POSIX regexec() can take exponential time with them; "
	    "use a pcre: table, whose matches are bounded" },
	{ "/^(a{1,100}){1,100}$/ y\n", "t, line 1: the pattern's repetitions "
	    "copy its parts more than 1000 times (nested {m,n}?), which makes "
	    "POSIX regexec() slow; simplify it or use a pcre: table, whose "
	    "matches are bounded" },
	{ "/^(.{1,255}){1,255}$/ y\n", "t, line 1: the pattern's repetitions "
	    "copy its parts more than 1000 times (nested {m,n}?), which makes "
	    "POSIX regexec() slow; simplify it or use a pcre: table, whose "
	    "matches are bounded" },
	{ "/a{1001}/ y\n", "t, line 1: the pattern's repetitions copy its "
	    "parts more than 1000 times (nested {m,n}?), which makes POSIX "
	    "regexec() slow; simplify it or use a pcre: table, whose matches "
	    "are bounded" },
	{ "/a+++++++++++/ y\n", "t, line 1: the pattern's repetitions copy "
	    "its parts more than 1000 times (nested {m,n}?), which makes "
	    "POSIX regexec() slow; simplify it or use a pcre: table, whose "
	    "matches are bounded" },
	{ "/a\\+\\+\\+\\+\\+\\+\\+\\+\\+\\+\\+/x y\n", "t, line 1: the "
	    "pattern's repetitions copy its parts more than 1000 times "
	    "(nested {m,n}?), which makes POSIX regexec() slow; simplify it "
	    "or use a pcre: table, whose matches are bounded" },
	{ "/a{,1001}/ y\n", "t, line 1: the pattern's repetitions copy its "
	    "parts more than 1000 times (nested {m,n}?), which makes POSIX "
	    "regexec() slow; simplify it or use a pcre: table, whose matches "
	    "are bounded" },
	{ "/a{1,0000002000}/ y\n", "t, line 1: the pattern's repetitions "
	    "copy its parts more than 1000 times (nested {m,n}?), which makes "
	    "POSIX regexec() slow; simplify it or use a pcre: table, whose "
	    "matches are bounded" },
	{ "/a{1,99999999999999999999}/ y\n", "t, line 1: the pattern's "
	    "repetitions copy its parts more than 1000 times (nested {m,n}?), "
	    "which makes POSIX regexec() slow; simplify it or use a pcre: "
	    "table, whose matches are bounded" },
	{ "/\\(a\\{1,40\\}\\)\\{1,40\\}/x y\n", "t, line 1: the pattern's "
	    "repetitions copy its parts more than 1000 times (nested {m,n}?), "
	    "which makes POSIX regexec() slow; simplify it or use a pcre: "
	    "table, whose matches are bounded" },
	{ "/(((a{1,10}){1,10}){1,11})/ y\n", "t, line 1: the pattern's "
	    "repetitions copy its parts more than 1000 times (nested {m,n}?), "
	    "which makes POSIX regexec() slow; simplify it or use a pcre: "
	    "table, whose matches are bounded" },
	{ "/a/\n", "t, line 1: no result after the pattern" },
	{ "endif\n", "t, line 1: endif without if" },
	{ "/a/ x\xc3\n", "t, line 1: the result is not valid UTF-8" },
};

static void
test_lookups(void **state)
{
	run_lookup_cases(&dict_type_regexp, lookups, N_ELEMENTS(lookups));
}

static void
test_errors(void **state)
{
	run_error_cases(&dict_type_regexp, errors, N_ELEMENTS(errors));
}

static void
test_truncations(void **state)
{
	static const char *const keys[] = { "ab", "b", "User@Example.COM",
	    "" };

	run_truncations(&dict_type_regexp,
	    "# header\n/^(.*)@(.*)$/ user=$1 domain=${2}\nif !/x/\n"
	    "/[[:alpha:]]{1,3}b/i B $$\n  continued\nendif\n"
	    "/\\(a\\)\\{2\\}/x bre\n!/q/ notq\n", keys, N_ELEMENTS(keys));
}

/* Long keys against the worst patterns the limits allow. */
static void
test_long_keys(void **state)
{
	static const char table[] =
	    "/^(a{1,30}){1,30}$/ nested\n"
	    "/(.*)(.*)(.*)(.*)(.*)(.*)(.*)(.*)(.*)x/ groups $9\n"
	    "/^(.{1,31}){1,31}y$/ dots\n";
	struct dict *d = case_open(&dict_type_regexp, table,
	    sizeof(table) - 1);
	char *key = repeat("a", DICT_KEY_MAX_BYTES), *got;

	got = case_get(d, key, DICT_VALUE_MAX_BYTES);
	assert_string_equal(got, "NOTFOUND");
	free(got);
	key[DICT_KEY_MAX_BYTES - 1] = 'x';
	got = case_get(d, key, DICT_VALUE_MAX_BYTES);
	assert_string_equal(got, "FOUND:groups ");
	free(got);
	free(key);
	dict_close(d);
}

/* The invalid UTF-8 warning is logged, with the key escaped. */
static int warnings;
static char last_warning[512];

static void
capture(enum log_level level, const char *text, void *ctx)
{
	if (level == LOG_LVL_WARNING) {
		warnings++;
		snprintf(last_warning, sizeof(last_warning), "%s", text);
	}
}

static void
test_utf8_warning(void **state)
{
	struct dict *d = case_open(&dict_type_regexp, "!/x/ y\n", 7);
	char *got;

	log_set_capture(capture, NULL);
	got = case_get(d, "bad\xff\n", DICT_VALUE_MAX_BYTES);
	log_set_capture(NULL, NULL);
	assert_string_equal(got, "NOTFOUND");
	assert_int_equal(warnings, 1);
	assert_string_equal(last_warning, "regexp:t: key \"bad\\377\\012\" is "
	    "not valid UTF-8: not found");
	free(got);
	dict_close(d);
}

static void
test_file(void **state)
{
	char dir[] = "/tmp/ostia-regexp-XXXXXX";
	struct dict_open_opts opts;
	char err[DICT_ERR_MAX_BYTES], *path, *got;
	struct dict *d;
	FILE *fp;

	assert_non_null(mkdtemp(dir));
	path = xasprintf("%s/t.regexp", dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("/^postmaster@/ OK\n/[%!@].*[%!@]/ 550 Sender-specified routing "
	    "rejected\n", fp);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(path, 0644), 0);
	dict_open_opts_init(&opts);
	opts.trusted_uid = geteuid();
	d = dict_open_type(&dict_type_regexp, path, &opts, err, sizeof(err));
	assert_non_null(d);
	got = case_get(d, "postmaster@example.com", DICT_VALUE_MAX_BYTES);
	assert_string_equal(got, "FOUND:OK");
	free(got);
	got = case_get(d, "a%b@example.com", DICT_VALUE_MAX_BYTES);
	assert_string_equal(got, "FOUND:550 Sender-specified routing "
	    "rejected");
	free(got);
	assert_false(dict_changed(d));
	assert_int_equal(unlink(path), 0);
	assert_true(dict_changed(d));
	dict_close(d);
	assert_int_equal(rmdir(dir), 0);
	free(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookups),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_truncations),
		cmocka_unit_test(test_long_keys),
		cmocka_unit_test(test_utf8_warning),
		cmocka_unit_test(test_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
