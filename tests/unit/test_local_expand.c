/* SPDX-License-Identifier: MIT */
/*
 * test_local_expand - the $name expansion of luser_relay and forward_path,
 * table-driven: each name in every form, conditionals, $$, text around
 * names, the filter, and every refusal.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "local_expand.h"

static const struct local_expand_vars V = {
	.user = "joe", .extension = "lists", .local = "joe+lists",
	.domain = "example.org", .recipient = "joe+lists@example.org",
	.delimiter = "+",
};

static void
test_expanded(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "admin", "admin" },
		{ "admin@example.net", "admin@example.net" },
		{ "$user@other.example", "joe@other.example" },
		{ "${user}-lost@other.example", "joe-lost@other.example" },
		{ "$user$recipient_delimiter$extension@x", "joe+lists@x" },
		{ "${local}@x", "joe+lists@x" },
		{ "catchall+$domain@x", "catchall+example.org@x" },
		{ "<$recipient>", "<joe+lists@example.org>" },
		{ "a$$b", "a$b" },
		{ "$user.$domain", "joe.example.org" },
		{ "$(user)@x", "joe@x" },
		{ "${extension?ext-$extension}@x", "ext-lists@x" },
		{ "${extension:none}@x", "@x" },
		{ "${extension?{a}:{b}}", "a" },
		{ "${extension?{${user?{$domain}}}}", "example.org" },
		{ "a${extension?{}}b", "ab" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out = NULL;
		const char *err = NULL;

		if (local_expand(cases[i].in, &V, &out, &err) != 0)
			fail_msg("%s: %s", cases[i].in, err);
		assert_string_equal(out, cases[i].out);
		free(out);
	}
}

static void
test_refused(void **state)
{
	static const struct {
		const char *in, *why;
	} cases[] = {
		{ "", "nothing" },
		{ "$", "without a name" },
		{ "a$", "without a name" },
		{ "$-x", "without a name" },
		{ "${user", "without its }" },
		{ "${user", "without its }" },
		{ "$(user", "without its )" },
		{ "${user!x}", "other than ?text" },
		{ "${user?{x}y}", "other than :{text}" },
		{ "${user?{x", "without its }" },
		{ "${user:{x}:{y}}", "other than :{text}" },
		{ "${user?${user?${user?${user?${user?${user?x}}}}}}",
		    "too deep" },
		{ "${nosuch?x}", "unknown $name" },
		{ "$home@x", "unknown $name" },
		{ "$shell@x", "unknown $name" },
		{ "${myhostname}", "unknown $name" },
		{ "two words", "space" },
		{ "a\tb", "space" },
		{ "$extension", "nothing" },
	};
	struct local_expand_vars empty = V;
	char big[1100];

	(void)state;
	empty.extension = "";
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out = (char *)1;
		const char *err = NULL;

		if (local_expand(cases[i].in, &empty, &out, &err) != -1)
			fail_msg("%s accepted", cases[i].in);
		assert_null(out);
		if (err == NULL || strstr(err, cases[i].why) == NULL)
			fail_msg("%s: \"%s\", wanted \"%s\"", cases[i].in,
			    err, cases[i].why);
	}
	/* Longer than LOCAL_EXPAND_MAX once expanded. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	{
		char *out = NULL;
		const char *err = NULL;

		assert_int_equal(local_expand(big, &V, &out, &err), -1);
		assert_non_null(strstr(err, "more than 1024"));
		big[LOCAL_EXPAND_MAX] = '\0';
		assert_int_equal(local_expand(big, &V, &out, &err), 0);
		free(out);
	}
}

/* forward_path: $home and $shell, and the filter on values only. */
static void
test_forward_path(void **state)
{
	struct local_expand_vars v = V;
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "$home/.forward${recipient_delimiter}${extension}",
		    "/home/joe/.forward+lists" },
		{ "$home/.forward", "/home/joe/.forward" },
		{ "/var/forward/$user/${shell}", "/var/forward/joe//bin/sh" },
		{ "${home?{$home}:{/nohome}}/f", "/home/joe/f" },
	};
	char *out = NULL;
	const char *err = NULL;

	(void)state;
	v.home = "/home/joe";
	v.shell = "/bin/sh";
	v.filter = "abcdefghijklmnopqrstuvwxyz/.+-_";
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (local_expand(cases[i].in, &v, &out, &err) != 0)
			fail_msg("%s: %s", cases[i].in, err);
		assert_string_equal(out, cases[i].out);
		free(out);
	}
	/* A value with bytes outside the filter: each becomes '_'; the
	 * template's own '~' and '#' stay. */
	v.extension = "../$X";
	assert_int_equal(local_expand("~#/f$extension", &v, &out, &err), 0);
	assert_string_equal(out, "~#/f../__");
	free(out);
	/* Without an extension, the first entry of Postfix's default is
	 * the second one. */
	v.extension = "";
	v.delimiter = "";
	assert_int_equal(local_expand("$home/.forward${recipient_delimiter}"
	    "${extension}", &v, &out, &err), 0);
	assert_string_equal(out, "/home/joe/.forward");
	free(out);
	/* An empty $home in a conditional takes the other branch. */
	v.home = "";
	assert_int_equal(local_expand("${home?{$home}:{/nohome}}/f", &v, &out,
	    &err), 0);
	assert_string_equal(out, "/nohome/f");
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forward_path),
		cmocka_unit_test(test_expanded),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
