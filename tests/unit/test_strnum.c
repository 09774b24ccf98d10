/* SPDX-License-Identifier: MIT */
/*
 * test_strnum - whole-string number parsing (src/lib/strnum.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <string.h>

#include "compat.h"
#include "strnum.h"

#define E_EMPTY "empty value where a number is expected"
#define E_NAN "not a number"
#define E_TRAIL "not a number (unexpected characters after digits)"
#define E_RANGE "number out of range"
#define E_SMALL "number too small"
#define E_LARGE "number too large"
#define E_NEG "negative number not allowed"

struct ll_case {
	const char *s;
	long long min, max;
	const char *error;	/* NULL: valid */
	long long want;
};

static const struct ll_case ll_cases[] = {
	{ "0", 0, 10, NULL, 0 },
	{ "7", 0, 10, NULL, 7 },
	{ "007", 0, 10, NULL, 7 },		/* decimal, not octal */
	{ "+1", 0, 10, NULL, 1 },
	{ "-1", -10, 10, NULL, -1 },
	{ "-0", 0, 10, NULL, 0 },
	/* Range limits are inclusive. */
	{ "1", 1, 10, NULL, 1 },
	{ "10", 1, 10, NULL, 10 },
	{ "0", 1, 10, E_SMALL, 0 },
	{ "11", 1, 10, E_LARGE, 0 },
	{ "-5", 1, 10, E_SMALL, 0 },
	{ "-11", -10, 10, E_SMALL, 0 },
	{ "9223372036854775807", LLONG_MIN, LLONG_MAX, NULL, LLONG_MAX },
	{ "-9223372036854775808", LLONG_MIN, LLONG_MAX, NULL, LLONG_MIN },
	{ "9223372036854775808", LLONG_MIN, LLONG_MAX, E_RANGE, 0 },
	{ "-9223372036854775809", LLONG_MIN, LLONG_MAX, E_RANGE, 0 },
	{ "99999999999999999999999", 0, 10, E_RANGE, 0 },
	/* Not whole-string decimal numbers. */
	{ "", 0, 10, E_EMPTY, 0 },
	{ " 1", 0, 10, E_NAN, 0 },
	{ "\t1", 0, 10, E_NAN, 0 },
	{ "1 ", 0, 10, E_TRAIL, 0 },
	{ "1\n", 0, 10, E_TRAIL, 0 },
	{ "0x10", 0, 100, E_TRAIL, 0 },
	{ "1e3", 0, 10000, E_TRAIL, 0 },
	{ "1.5", 0, 10, E_TRAIL, 0 },
	{ "10k", 0, 100000, E_TRAIL, 0 },
	{ "-", -10, 10, E_NAN, 0 },
	{ "+", 0, 10, E_NAN, 0 },
	{ "--1", -10, 10, E_NAN, 0 },
	{ "+-1", -10, 10, E_NAN, 0 },
	{ "- 1", -10, 10, E_NAN, 0 },
	{ "abc", 0, 10, E_NAN, 0 },
	{ "\xd9\xa1", 0, 10, E_NAN, 0 },	/* ARABIC-INDIC DIGIT ONE */
};

static void
test_ll_table(void **state)
{
	for (size_t i = 0; i < N_ELEMENTS(ll_cases); i++) {
		const struct ll_case *c = &ll_cases[i];
		long long v = 12345;
		const char *error = NULL;
		int ret = strnum_parse_ll(c->s, c->min, c->max, &v, &error);

		if (c->error == NULL) {
			if (ret != 0)
				fail_msg("case %zu \"%s\": %s", i, c->s, error);
			assert_true(v == c->want);
			assert_null(error);
		} else {
			if (ret != -1)
				fail_msg("case %zu \"%s\": accepted as %lld", i,
				    c->s, v);
			assert_non_null(error);
			if (strcmp(error, c->error) != 0)
				fail_msg("case %zu \"%s\": error \"%s\", want "
				    "\"%s\"", i, c->s, error, c->error);
			/* The output is untouched on failure. */
			assert_true(v == 12345);
		}
	}
}

struct u64_case {
	const char *s;
	uint64_t max;
	const char *error;	/* NULL: valid */
	uint64_t want;
};

static const struct u64_case u64_cases[] = {
	{ "0", 10, NULL, 0 },
	{ "10", 10, NULL, 10 },
	{ "0010", 10, NULL, 10 },
	{ "11", 10, E_LARGE, 0 },
	{ "18446744073709551615", UINT64_MAX, NULL, UINT64_MAX },
	{ "18446744073709551616", UINT64_MAX, E_LARGE, 0 },
	{ "99999999999999999999999", UINT64_MAX, E_LARGE, 0 },
	{ "4294967296", UINT32_MAX, E_LARGE, 0 },
	{ "4294967295", UINT32_MAX, NULL, UINT32_MAX },
	/* No sign at all on unsigned values. */
	{ "-1", UINT64_MAX, E_NEG, 0 },
	{ "-0", UINT64_MAX, E_NEG, 0 },
	{ "+1", UINT64_MAX, E_NAN, 0 },
	{ "", 10, E_EMPTY, 0 },
	{ " 1", 10, E_NAN, 0 },
	{ "1 ", 10, E_TRAIL, 0 },
	{ "0x10", 100, E_TRAIL, 0 },
	{ "12MB", 100, E_TRAIL, 0 },
	{ "x", 100, E_NAN, 0 },
};

static void
test_u64_table(void **state)
{
	for (size_t i = 0; i < N_ELEMENTS(u64_cases); i++) {
		const struct u64_case *c = &u64_cases[i];
		uint64_t v = 12345;
		const char *error = NULL;
		int ret = strnum_parse_u64(c->s, c->max, &v, &error);

		if (c->error == NULL) {
			if (ret != 0)
				fail_msg("case %zu \"%s\": %s", i, c->s, error);
			assert_true(v == c->want);
			assert_null(error);
		} else {
			if (ret != -1)
				fail_msg("case %zu \"%s\": accepted", i, c->s);
			assert_non_null(error);
			if (strcmp(error, c->error) != 0)
				fail_msg("case %zu \"%s\": error \"%s\", want "
				    "\"%s\"", i, c->s, error, c->error);
			assert_true(v == 12345);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ll_table),
		cmocka_unit_test(test_u64_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
