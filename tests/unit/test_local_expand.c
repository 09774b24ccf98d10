/* SPDX-License-Identifier: MIT */
/*
 * test_local_expand - luser_relay's $name expansion, table-driven: each
 * name in both forms, $$, text around names, and every refusal.
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
		{ "${user?x}", "without its }" },
		{ "$home@x", "unknown $name" },
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_expanded),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
