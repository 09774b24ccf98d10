/* SPDX-License-Identifier: MIT */
/*
 * test_env_list - import_environment / export_environment lists
 * (src/common/env_list.c), and their check at configuration load.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "compat.h"
#include "config.h"
#include "config_schema.h"
#include "env_list.h"
#include "strv.h"

static const char *
get(const struct strv *env, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < env->n; i++)
		if (strncmp(env->v[i], name, n) == 0 && env->v[i][n] == '=')
			return env->v[i] + n + 1;
	return NULL;
}

static size_t
count(const struct strv *env, const char *name)
{
	size_t n = strlen(name), c = 0;

	for (size_t i = 0; i < env->n; i++)
		if (strncmp(env->v[i], name, n) == 0 && env->v[i][n] == '=')
			c++;
	return c;
}

/* NAME takes this process's value (or nothing); NAME=VALUE that value
 * (even empty); names already there and repeated names count once;
 * bad entries are skipped. */
static void
test_add(void **state)
{
	char *list[] = {
		UNCONST("ENVL_SET"), UNCONST("ENVL_UNSET"), UNCONST("LANG=C"),
		UNCONST("HOME=/elsewhere"), UNCONST("ENVL_EMPTY="),
		UNCONST("ENVL_SET=other"), UNCONST("1BAD"), UNCONST("=x"),
		UNCONST("A-B"), UNCONST(""), UNCONST("_OK9=1"), NULL,
	};
	struct strv env;

	(void)state;
	assert_int_equal(setenv("ENVL_SET", "from the process", 1), 0);
	assert_int_equal(unsetenv("ENVL_UNSET"), 0);
	strv_init(&env);
	strv_add(&env, "HOME=/home/bob");
	env_list_add(&env, list);
	assert_string_equal(get(&env, "ENVL_SET"), "from the process");
	assert_int_equal(count(&env, "ENVL_SET"), 1);
	assert_null(get(&env, "ENVL_UNSET"));
	assert_string_equal(get(&env, "LANG"), "C");
	assert_string_equal(get(&env, "HOME"), "/home/bob");
	assert_int_equal(count(&env, "HOME"), 1);
	assert_string_equal(get(&env, "ENVL_EMPTY"), "");
	assert_string_equal(get(&env, "_OK9"), "1");
	assert_int_equal(env.n, 5);
	assert_null(env.v[env.n]);
	env_list_add(&env, NULL);
	assert_int_equal(env.n, 5);
	strv_deinit(&env);
}

static void
test_bad(void **state)
{
	char *good[] = { UNCONST("TZ"), UNCONST("LANG=C.UTF-8"),
		UNCONST("X_1=a=b"), NULL };
	char *bad[] = { UNCONST("TZ"), UNCONST("9X"), UNCONST("Y"), NULL };
	char *bad2[] = { UNCONST("MY VAR=1"), NULL };

	(void)state;
	assert_null(env_list_bad(good));
	assert_null(env_list_bad(NULL));
	assert_string_equal(env_list_bad(bad), "9X");
	assert_string_equal(env_list_bad(bad2), "MY VAR=1");
}

/* The parameters refuse a bad entry at load, with words. */
static void
test_config_check(void **state)
{
	const struct param_def *d = config_schema_find("export_environment");
	char *err = NULL;

	(void)state;
	assert_non_null(d);
	assert_int_equal(config_check_value(d, "TZ LANG=C FOO_1", NULL, NULL,
	    &err), 0);
	assert_int_equal(config_check_value(d, "TZ 1FOO", NULL, NULL, &err),
	    -1);
	assert_non_null(strstr(err, "1FOO"));
	assert_non_null(strstr(err, "NAME=VALUE"));
	free(err);
	d = config_schema_find("import_environment");
	assert_non_null(d);
	assert_int_equal(config_check_value(d, d->def, NULL, NULL, &err), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_config_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
