/* SPDX-License-Identifier: MIT */
/*
 * test_login_list - authorized_submit_users lists (src/common/
 * login_list.c): names, !name, static:anyone, order, the empty list,
 * and elements Ostia cannot evaluate, which always refuse.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "login_list.h"

static bool
allows(const char *const *list, const char *login, char *why)
{
	return login_list_allows(list, login, why, 256);
}

static void
test_default_and_empty(void **state)
{
	static const char *const anyone[] = { "static:anyone", NULL };
	static const char *const none[] = { NULL };
	char why[256];

	(void)state;
	assert_true(allows(anyone, "alice", why));
	assert_true(allows(anyone, "root", why));
	assert_true(allows(anyone, "unknown", why));
	/* Postfix: an empty list refuses everyone. */
	assert_false(allows(none, "root", why));
	assert_string_equal(why, "not listed");
	assert_false(login_list_allows(NULL, "root", why, sizeof(why)));
}

static void
test_names_and_negation_in_order(void **state)
{
	static const char *const web[] = { "!www-data", "static:anyone",
	    NULL };
	static const char *const some[] = { "root", "Alice", NULL };
	static const char *const first[] = { "bob", "!bob", NULL };
	static const char *const all_but[] = { "root", "!static:all",
	    "alice", NULL };
	char why[256];

	(void)state;
	assert_false(allows(web, "www-data", why));
	assert_string_equal(why, "refused by \"!www-data\"");
	assert_true(allows(web, "alice", why));
	assert_true(allows(some, "root", why));
	assert_true(allows(some, "alice", why));	/* any case */
	assert_false(allows(some, "bob", why));
	assert_string_equal(why, "not listed");
	/* The first match decides. */
	assert_true(allows(first, "bob", why));
	assert_true(allows(all_but, "root", why));
	assert_false(allows(all_but, "alice", why));
	assert_string_equal(why, "refused by \"!static:all\"");
	/* A name is not a prefix match. */
	assert_false(allows(some, "roo", why));
	assert_false(allows(some, "rootx", why));
}

static void
test_tables_refuse(void **state)
{
	static const char *const tab[] = { "root", "hash:/etc/ostia/users",
	    "static:anyone", NULL };
	static const char *const neg[] = { "!pcre:/x", "static:anyone", NULL };
	char why[256];

	(void)state;
	/* Before the table: decided. */
	assert_true(allows(tab, "root", why));
	/* Reaching it: refused, never passed over. */
	assert_false(allows(tab, "alice", why));
	assert_non_null(strstr(why, "\"hash:/etc/ostia/users\" cannot be "
	    "evaluated"));
	assert_false(allows(neg, "alice", why));
	assert_string_equal(login_list_unsupported(tab),
	    "hash:/etc/ostia/users");
	assert_string_equal(login_list_unsupported(neg),
	    "!pcre:/x");
	{
		static const char *const fine[] = { "!a", "static:x", "b",
		    NULL };

		assert_null(login_list_unsupported(fine));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_and_empty),
		cmocka_unit_test(test_names_and_negation_in_order),
		cmocka_unit_test(test_tables_refuse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
