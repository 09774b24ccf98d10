/* SPDX-License-Identifier: MIT */
/*
 * test_reply_footer - smtpd_reject_footer (src/common/reply_footer.c):
 * table-driven replies and templates, the macro forms, sanitizing, the
 * line bound, refusals; every template also fed cut at each byte (a
 * prefix is either refused or expands without reading past its end).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "reply_footer.h"

static const char *
lookup(void *ctx, const char *name, size_t n)
{
	(void)ctx;
	if (n == 14 && memcmp(name, "client_address", n) == 0)
		return "192.0.2.1";
	if (n == 11 && memcmp(name, "client_name", n) == 0)
		return "bad\r\nname";
	if (n == 5 && memcmp(name, "empty", n) == 0)
		return "";
	return NULL;
}

static const struct {
	const char *reply, *tmpl, *want;
} cases[] = {
	{ "550 5.1.1 No such user", "Call us",
	  "550-5.1.1 No such user\r\n550 5.1.1 Call us\r\n" },
	{ "550 5.1.1 No such user", "\\c (call us)",
	  "550 5.1.1 No such user (call us)\r\n" },
	{ "550 5.1.1 No such user", "\\c (call us)\\nor write",
	  "550-5.1.1 No such user (call us)\r\n550 5.1.1 or write\r\n" },
	{ "451 4.3.0 Later", "a\\nb",
	  "451-4.3.0 Later\r\n451-4.3.0 a\r\n451 4.3.0 b\r\n" },
	/* no enhanced code: none cloned */
	{ "500 Syntax error", "Help", "500-Syntax error\r\n500 Help\r\n" },
	/* not an enhanced code (class digit differs, or junk after) */
	{ "550 4.1.1 x", "Help", "550-4.1.1 x\r\n550 Help\r\n" },
	{ "550 5.1.1x y", "Help", "550-5.1.1x y\r\n550 Help\r\n" },
	{ "550 5.1.1", "Help", "550-5.1.1\r\n550 5.1.1 Help\r\n" },
	/* a continuation line stays one */
	{ "550-5.7.1 first", "Help",
	  "550-5.7.1 first\r\n550-5.7.1 Help\r\n" },
	/* macros */
	{ "554 5.7.1 No", "Client $client_address",
	  "554-5.7.1 No\r\n554 5.7.1 Client 192.0.2.1\r\n" },
	{ "554 5.7.1 No", "[${client_address}] [$(client_address)]",
	  "554-5.7.1 No\r\n554 5.7.1 [192.0.2.1] [192.0.2.1]\r\n" },
	{ "554 5.7.1 No", "<$unknown>", "554-5.7.1 No\r\n554 5.7.1 <>\r\n" },
	{ "554 5.7.1 No", "${client_address?set}${empty?set}|"
	  "${empty:unset}${client_address:unset}",
	  "554-5.7.1 No\r\n554 5.7.1 set|unset\r\n" },
	{ "554 5.7.1 No", "cost $$5 or $ or $-",
	  "554-5.7.1 No\r\n554 5.7.1 cost $5 or $ or $-\r\n" },
	/* a value cannot break the reply */
	{ "554 5.7.1 No", "\\c from $client_name",
	  "554 5.7.1 No from bad??name\r\n" },
	/* a backslash that is not \n or a leading \c is text */
	{ "554 5.7.1 No", "a\\b \\c", "554-5.7.1 No\r\n554 5.7.1 a\\b \\c\r\n" },
	/* empty lines of the footer still carry the codes */
	{ "554 5.7.1 No", "\\n",
	  "554-5.7.1 No\r\n554-5.7.1 \r\n554 5.7.1 \r\n" },
};

static char *
apply(const char *reply, const char *tmpl, size_t line_max, int *ret,
    const char **err)
{
	struct buf out;
	char *s;

	buf_init(&out, 1024 * 1024);
	(void)buf_append_str(&out, "X");
	*ret = reply_footer_apply(reply, strlen(reply), tmpl, lookup, NULL,
	    line_max, &out, err);
	assert_true(out.len >= 1 && out.data[0] == 'X');
	s = strdup(buf_cstr(&out) + 1);
	buf_deinit(&out);
	return s;
}

static void
test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *err = "x";
		int ret;
		char *got = apply(cases[i].reply, cases[i].tmpl, 512, &ret,
		    &err);

		if (ret != 0)
			fail_msg("case %zu: refused: %s", i, err);
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("case %zu: got\n%s\nwant\n%s", i, got,
			    cases[i].want);
		free(got);
	}
}

static void
test_refused(void **state)
{
	static const struct {
		const char *reply, *tmpl, *err;
	} bad[] = {
		{ "55 x", "a", "not a reply line" },
		{ "550x5.1.1 x", "a", "not a reply line" },
		{ "", "a", "not a reply line" },
		{ "550 5.1.1 x\r\n550 y", "a", "not a reply line" },
		{ "550 5.1.1 x", "${client_address", "not closed" },
		{ "550 5.1.1 x", "${}", "without a name" },
		{ "550 5.1.1 x", "${a b}", "cannot be in a macro name" },
		{ "550 5.1.1 x", "${a?b", "not closed" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *err = NULL;
		int ret;
		char *got = apply(bad[i].reply, bad[i].tmpl, 512, &ret, &err);

		assert_int_equal(ret, -1);
		assert_string_equal(got, "");	/* out unchanged */
		assert_non_null(err);
		if (strstr(err, bad[i].err) == NULL)
			fail_msg("case %zu: error %s, want %s", i, err,
			    bad[i].err);
		free(got);
		if (strstr(bad[i].err, "reply line") == NULL) {
			assert_int_equal(reply_footer_check(bad[i].tmpl, &err),
			    -1);
		}
	}
	{
		const char *err = NULL;

		assert_int_equal(reply_footer_check("\\c ok $x ${y} "
		    "${z?w}\\nmore", &err), 0);
	}
}

static void
test_line_bound(void **state)
{
	const char *err = NULL;
	int ret;
	char tmpl[3000];
	char *got;

	(void)state;
	memset(tmpl, 'a', sizeof(tmpl) - 1);
	tmpl[sizeof(tmpl) - 1] = '\0';
	got = apply("550 5.1.1 x", tmpl, 100, &ret, &err);
	assert_int_equal(ret, 0);
	/* every line at most 100 bytes before its CRLF */
	for (char *p = got; *p != '\0';) {
		char *e = strstr(p, "\r\n");

		assert_non_null(e);
		assert_true(e - p <= 100);
		assert_true(p[3] == '-' || p[3] == ' ');
		p = e + 2;
	}
	assert_int_equal(strncmp(got, "550-5.1.1 x\r\n550 5.1.1 aaa", 26), 0);
	free(got);
}

/* Every template cut at every byte, in a buffer of exactly that size:
 * refused or applied, never a read past the end (ASan). */
static void
test_prefixes(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = strlen(cases[i].tmpl);

		for (size_t k = 0; k <= n; k++) {
			char *t = malloc(k + 1);
			const char *err = NULL;
			int ret;
			char *got;

			assert_non_null(t);
			memcpy(t, cases[i].tmpl, k);
			t[k] = '\0';
			got = apply(cases[i].reply, t, 512, &ret, &err);
			assert_true(ret == 0 || ret == -1);
			assert_true(ret == 0 ? strlen(got) > 0 :
			    strlen(got) == 0);
			free(got);
			free(t);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_line_bound),
		cmocka_unit_test(test_prefixes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
