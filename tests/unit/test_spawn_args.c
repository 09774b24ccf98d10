/* SPDX-License-Identifier: MIT */
/*
 * test_spawn_args - the master.cf arguments of spawn: the forms
 * accepted (user, user:group, argv with and without arguments, words
 * passed as they are) and every refusal with its words.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "compat.h"
#include "spawn_args.h"

#define W(s) UNCONST(s)

static void
test_accepted(void **state)
{
	char *a1[] = { W("user=policyd-spf"), W("argv=/usr/bin/policyd-spf"),
	    NULL };
	char *a2[] = { W("user=nobody:nogroup"), W("argv=/bin/x"), W("-c"),
	    W("${a}"), W("$b"), W(""), NULL };
	struct spawn_args sa;
	char *err = NULL;

	(void)state;
	assert_int_equal(spawn_args_parse("p", a1, &sa, &err), 0);
	assert_string_equal(sa.user, "policyd-spf");
	assert_null(sa.group);
	assert_int_equal(sa.argc, 1);
	assert_string_equal(sa.argv[0], "/usr/bin/policyd-spf");
	assert_null(sa.argv[1]);
	spawn_args_deinit(&sa);
	assert_int_equal(spawn_args_parse("p", a2, &sa, &err), 0);
	assert_string_equal(sa.user, "nobody");
	assert_string_equal(sa.group, "nogroup");
	assert_int_equal(sa.argc, 5);
	/* No macros: the words as written. */
	assert_string_equal(sa.argv[2], "${a}");
	assert_string_equal(sa.argv[3], "$b");
	assert_string_equal(sa.argv[4], "");
	spawn_args_deinit(&sa);
	spawn_args_deinit(&sa);	/* again: harmless */
}

static void
refused(char **args, const char *words)
{
	struct spawn_args sa;
	char *err = NULL;

	if (spawn_args_parse("svc", args, &sa, &err) == 0)
		fail_msg("accepted; expected \"%s\"", words);
	assert_non_null(err);
	if (strstr(err, words) == NULL || strstr(err, "spawn service svc")
	    == NULL)
		fail_msg("\"%s\" does not say \"%s\"", err, words);
	assert_null(sa.user);
	assert_null(sa.argv);
	free(err);
}

static void
test_refused(void **state)
{
	char *no_user[] = { W("argv=/bin/x"), NULL };
	char *no_argv[] = { W("user=a"), NULL };
	char *relative[] = { W("user=a"), W("argv=x"), NULL };
	char *empty[] = { W("user="), W("argv=/bin/x"), NULL };
	char *empty_group[] = { W("user=a:"), W("argv=/bin/x"), NULL };
	char *twice[] = { W("user=a"), W("user=b"), W("argv=/bin/x"), NULL };
	char *flags[] = { W("flags=R"), W("user=a"), W("argv=/bin/x"), NULL };
	char *after[] = { W("argv=/bin/x"), W("user=a"), NULL };
	char *many[SPAWN_ARGV_MAX + 4];

	(void)state;
	refused(no_user, "user= is missing");
	refused(NULL, "user= is missing");
	refused(no_argv, "argv= is missing");
	refused(relative, "absolute path");
	refused(empty, "an empty user or group name");
	refused(empty_group, "an empty user or group name");
	refused(twice, "user= is given twice");
	refused(flags, "\"flags=R\" is not an argument of spawn");
	/* After argv= every word is the command's: user= there is an
	 * argument, so user= is missing. */
	refused(after, "user= is missing");
	many[0] = W("user=a");
	many[1] = W("argv=/bin/x");
	for (size_t i = 2; i < SPAWN_ARGV_MAX + 3; i++)
		many[i] = W("w");
	many[SPAWN_ARGV_MAX + 3] = NULL;
	refused(many, "more than 256 words");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepted),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
