/* SPDX-License-Identifier: MIT */
/*
 * test_local_alias - the text of local delivery destinations
 * (src/deliver/local_alias.c): alias values split at commas (not inside
 * double quotes), each one classified (address, "|command", "/file",
 * ":include:/path"), quotes and angle brackets removed; :include: files
 * (comments, blank lines, CRLF); the errors (unbalanced quotes, control
 * characters, relative include paths, too many destinations); commands
 * split into words and refused when they need a shell.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compat.h"
#include "local_alias.h"
#include "strv.h"
#include "xalloc.h"

static void
expect_dest(const struct local_dests *d, size_t i, enum local_dest_kind k,
    const char *text)
{
	if (i >= d->n)
		fail_msg("destination %zu missing (%zu)", i, d->n);
	if (d->v[i].kind != k || strcmp(d->v[i].text, text) != 0)
		fail_msg("destination %zu: %d \"%s\", want %d \"%s\"", i,
		    (int)d->v[i].kind, d->v[i].text, (int)k, text);
}

static void
test_split(void **state)
{
	static const char value[] = " alice,bob@example.com ,\t<carol@x.test>,"
	    " \"|/usr/bin/vacation -a x, y\" , |/usr/bin/procmail -f- ,"
	    "/var/log/archive, /srv/maildir/ ,:INCLUDE: /etc/ostia/team,"
	    "\"a, b\"@example.com,, \"\\\"q\\\\\" ,<>";
	struct local_dests d;
	char *err = NULL;

	(void)state;
	local_dests_init(&d);
	assert_int_equal(local_alias_split(value, strlen(value), &d, &err), 0);
	assert_int_equal(d.n, 10);
	expect_dest(&d, 0, LOCAL_DEST_ADDRESS, "alice");
	expect_dest(&d, 1, LOCAL_DEST_ADDRESS, "bob@example.com");
	expect_dest(&d, 2, LOCAL_DEST_ADDRESS, "carol@x.test");
	expect_dest(&d, 3, LOCAL_DEST_COMMAND, "/usr/bin/vacation -a x, y");
	expect_dest(&d, 4, LOCAL_DEST_COMMAND, "/usr/bin/procmail -f-");
	expect_dest(&d, 5, LOCAL_DEST_FILE, "/var/log/archive");
	expect_dest(&d, 6, LOCAL_DEST_FILE, "/srv/maildir/");
	expect_dest(&d, 7, LOCAL_DEST_INCLUDE, "/etc/ostia/team");
	expect_dest(&d, 8, LOCAL_DEST_ADDRESS, "\"a, b\"@example.com");
	expect_dest(&d, 9, LOCAL_DEST_ADDRESS, "\"q\\");
	local_dests_deinit(&d);
	/* A NUL ends the value early. */
	assert_int_equal(local_alias_split("a\0b", 3, &d, &err), 0);
	assert_int_equal(d.n, 1);
	local_dests_deinit(&d);
}

static void
test_split_errors(void **state)
{
	static const struct {
		const char *value;
		const char *words;
	} cases[] = {
		{ "alice, \"|/bin/x", "unbalanced double quote" },
		{ "alice\x01", "control character" },
		{ "|  ", "without a command" },
		{ ":include:etc/x", "must be an absolute path" },
	};
	struct local_dests d;
	char *err = NULL, *many;
	size_t n;

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		local_dests_init(&d);
		assert_int_equal(local_alias_split(cases[i].value,
		    strlen(cases[i].value), &d, &err), -1);
		if (strstr(err, cases[i].words) == NULL)
			fail_msg("%s: %s", cases[i].value, err);
		free(err);
		local_dests_deinit(&d);
	}
	/* Too many. */
	many = xmalloc(LOCAL_DESTS_MAX * 3 + 8);
	n = 0;
	for (int i = 0; i <= LOCAL_DESTS_MAX; i++) {
		many[n++] = 'a';
		many[n++] = ',';
	}
	many[n] = '\0';
	local_dests_init(&d);
	assert_int_equal(local_alias_split(many, n, &d, &err), -1);
	assert_non_null(strstr(err, "more than"));
	free(err);
	local_dests_deinit(&d);
	free(many);
}

static void
test_include(void **state)
{
	static const char text[] = "# the team\r\nalice, bob\r\n\r\n"
	    "   # indented comment\n  carol\n|/usr/bin/logger -t x\n"
	    "/var/log/team";
	struct local_dests d;
	char *err = NULL;

	(void)state;
	local_dests_init(&d);
	assert_int_equal(local_include_parse(text, strlen(text), &d, &err),
	    0);
	assert_int_equal(d.n, 5);
	expect_dest(&d, 0, LOCAL_DEST_ADDRESS, "alice");
	expect_dest(&d, 1, LOCAL_DEST_ADDRESS, "bob");
	expect_dest(&d, 2, LOCAL_DEST_ADDRESS, "carol");
	expect_dest(&d, 3, LOCAL_DEST_COMMAND, "/usr/bin/logger -t x");
	expect_dest(&d, 4, LOCAL_DEST_FILE, "/var/log/team");
	local_dests_deinit(&d);
	assert_int_equal(local_include_parse("a\nb, \"c\n", 8, &d, &err), -1);
	assert_non_null(strstr(err, "line 2"));
	free(err);
	local_dests_deinit(&d);
	assert_int_equal(local_include_parse("a\0b", 3, &d, &err), -1);
	free(err);
	local_dests_deinit(&d);
}

static void
test_command_split(void **state)
{
	static const char *const bad[] = {
		"/bin/echo $HOME", "/bin/x > /tmp/y", "/bin/x | /bin/y",
		"/bin/x 'a b'", "/bin/x \"a\"", "/bin/x; /bin/y", "/bin/x &",
		"/bin/x `id`", "/bin/x *", "/bin/x ~/y", "/bin/x a\\ b",
		"/bin/x #c", "/bin/x\n",
	};
	char **argv = NULL, *err = NULL;

	(void)state;
	assert_int_equal(local_command_split("  /usr/bin/procmail\t-f  -a "
	    "x=y,z ", &argv, &err), 0);
	assert_string_equal(argv[0], "/usr/bin/procmail");
	assert_string_equal(argv[1], "-f");
	assert_string_equal(argv[2], "-a");
	assert_string_equal(argv[3], "x=y,z");
	assert_null(argv[4]);
	strv_free(&argv);
	for (size_t i = 0; i < N_ELEMENTS(bad); i++) {
		if (local_command_split(bad[i], &argv, &err) == 0)
			fail_msg("\"%s\" accepted", bad[i]);
		if (strstr(err, "shell") == NULL &&
		    strstr(err, "control") == NULL)
			fail_msg("\"%s\": %s", bad[i], err);
		free(err);
	}
	assert_int_equal(local_command_split(" \t", &argv, &err), -1);
	assert_non_null(strstr(err, "empty"));
	free(err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_split_errors),
		cmocka_unit_test(test_include),
		cmocka_unit_test(test_command_split),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
