/* SPDX-License-Identifier: MIT */
/*
 * test_strv - string vectors (src/lib/strv.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strv.h"
#include "xalloc.h"

/* assert_terminated - sv holds n strings followed by NULL. */
static void
assert_terminated(const struct strv *sv, size_t n)
{
	assert_non_null(sv->v);
	assert_int_equal(sv->n, n);
	for (size_t i = 0; i < n; i++)
		assert_non_null(sv->v[i]);
	assert_null(sv->v[n]);
}

static void
test_init(void **state)
{
	struct strv sv;

	strv_init(&sv);
	assert_terminated(&sv, 0);
	strv_deinit(&sv);
	assert_null(sv.v);
	assert_int_equal(sv.n, 0);
	strv_deinit(&sv);
}

static void
test_add_many(void **state)
{
	struct strv sv;
	char s[32];

	strv_init(&sv);
	for (size_t i = 0; i < 100; i++) {
		snprintf(s, sizeof(s), "item-%zu", i);
		strv_add(&sv, s);
		assert_terminated(&sv, i + 1);
	}
	for (size_t i = 0; i < 100; i++) {
		snprintf(s, sizeof(s), "item-%zu", i);
		assert_string_equal(sv.v[i], s);
	}
	strv_deinit(&sv);
}

/* strv_add copies; strv_add_take keeps the pointer. */
static void
test_ownership(void **state)
{
	struct strv sv;
	char src[] = "copy me";
	char *mine = xstrdup("taken");

	strv_init(&sv);
	strv_add(&sv, src);
	assert_ptr_not_equal(sv.v[0], src);
	src[0] = 'X';
	assert_string_equal(sv.v[0], "copy me");
	strv_add_take(&sv, mine);
	assert_ptr_equal(sv.v[1], mine);
	strv_add(&sv, "");
	assert_string_equal(sv.v[2], "");
	assert_terminated(&sv, 3);
	strv_deinit(&sv);	/* frees mine too (ASan/valgrind would say) */
}

static void
test_addn(void **state)
{
	struct strv sv;

	strv_init(&sv);
	strv_addn(&sv, "abcdef", 3);
	strv_addn(&sv, "abcdef", 0);
	/* len past the terminator copies only up to it. */
	strv_addn(&sv, "ab", 10);
	/* Not NUL-terminated input within len. */
	strv_addn(&sv, (const char[]){ 'x', 'y', 'z' }, 2);
	assert_terminated(&sv, 4);
	assert_string_equal(sv.v[0], "abc");
	assert_string_equal(sv.v[1], "");
	assert_string_equal(sv.v[2], "ab");
	assert_string_equal(sv.v[3], "xy");
	strv_deinit(&sv);
}

static void
test_steal(void **state)
{
	struct strv sv;
	char **v;

	strv_init(&sv);
	strv_add(&sv, "a");
	strv_add(&sv, "b");
	v = strv_steal(&sv);
	assert_int_equal(sv.n, 0);
	assert_null(sv.v);
	assert_string_equal(v[0], "a");
	assert_string_equal(v[1], "b");
	assert_null(v[2]);
	strv_free(&v);
	assert_null(v);
	strv_free(&v);

	/* The emptied vector can be used again ("left empty"). */
	strv_add(&sv, "again");
	strv_add(&sv, "and again");
	assert_terminated(&sv, 2);
	assert_string_equal(sv.v[1], "and again");
	strv_deinit(&sv);

	/* So can a deinitialised one. */
	for (int i = 0; i < 10; i++)
		strv_add(&sv, "x");
	assert_terminated(&sv, 10);
	strv_deinit(&sv);
}

/* Stealing an empty vector gives an empty, NULL-terminated one. */
static void
test_steal_empty(void **state)
{
	struct strv sv;
	char **v;

	strv_init(&sv);
	v = strv_steal(&sv);
	assert_non_null(v);
	assert_null(v[0]);
	strv_free(&v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init),
		cmocka_unit_test(test_add_many),
		cmocka_unit_test(test_ownership),
		cmocka_unit_test(test_addn),
		cmocka_unit_test(test_steal),
		cmocka_unit_test(test_steal_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
