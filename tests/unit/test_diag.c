/* SPDX-License-Identifier: MIT */
/*
 * test_diag - configuration diagnostics list (src/common/diag.c).
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
#include "diag.h"
#include "log.h"

static void
test_empty(void **state)
{
	struct diag_list dl;

	diag_list_init(&dl);
	assert_int_equal(dl.n, 0);
	assert_false(diag_has_errors(&dl));
	assert_false(diag_list_contains(&dl, DIAG_WARNING, ""));
	assert_false(diag_list_contains(&dl, DIAG_ERROR, ""));
	diag_list_log(&dl);
	diag_list_deinit(&dl);
	diag_list_deinit(&dl);
	assert_null(dl.items);
}

static void
test_levels(void **state)
{
	struct diag_list dl;

	diag_list_init(&dl);
	diag_add(&dl, DIAG_WARNING, "main.cf", 3, "unused parameter %s",
	    "foo");
	assert_false(diag_has_errors(&dl));
	assert_int_equal(dl.errors, 0);
	diag_add(&dl, DIAG_ERROR, "main.cf", 9, "bad value \"%d\"", -1);
	assert_true(diag_has_errors(&dl));
	diag_add(&dl, DIAG_ERROR, NULL, 0, "second");
	assert_int_equal(dl.errors, 2);
	assert_int_equal(dl.n, 3);

	assert_int_equal(dl.items[0].level, DIAG_WARNING);
	assert_string_equal(dl.items[0].file, "main.cf");
	assert_int_equal(dl.items[0].line, 3);
	assert_string_equal(dl.items[0].text, "unused parameter foo");
	assert_string_equal(dl.items[1].text, "bad value \"-1\"");
	assert_null(dl.items[2].file);

	/* contains looks at the level and matches substrings. */
	assert_true(diag_list_contains(&dl, DIAG_WARNING, "parameter foo"));
	assert_false(diag_list_contains(&dl, DIAG_ERROR, "parameter foo"));
	assert_true(diag_list_contains(&dl, DIAG_ERROR, "\"-1\""));
	assert_true(diag_list_contains(&dl, DIAG_ERROR, "second"));
	assert_false(diag_list_contains(&dl, DIAG_ERROR, "third"));
	/* It searches the text, not "file:line: ". */
	assert_false(diag_list_contains(&dl, DIAG_ERROR, "main.cf"));
	diag_list_deinit(&dl);
	assert_int_equal(dl.n, 0);
	assert_false(diag_has_errors(&dl));
}

/* The file name is copied, not kept. */
static void
test_file_copied(void **state)
{
	struct diag_list dl;
	char file[] = "master.cf";

	diag_list_init(&dl);
	diag_add(&dl, DIAG_ERROR, file, 1, "x");
	file[0] = 'X';
	assert_string_equal(dl.items[0].file, "master.cf");
	diag_list_deinit(&dl);
}

static void
test_format(void **state)
{
	static const struct {
		const char *file;
		unsigned line;
		const char *want;
	} cases[] = {
		{ "/etc/ostia/main.cf", 12, "/etc/ostia/main.cf:12: msg 5" },
		{ "/etc/ostia/main.cf", 0, "/etc/ostia/main.cf: msg 5" },
		{ NULL, 0, "msg 5" },
		{ NULL, 7, "msg 5" },
	};
	struct diag_list dl;

	diag_list_init(&dl);
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		char *s;

		diag_add(&dl, DIAG_WARNING, cases[i].file, cases[i].line,
		    "msg %d", 5);
		s = diag_format(&dl.items[i]);
		assert_string_equal(s, cases[i].want);
		free(s);
	}
	diag_list_deinit(&dl);
}

/* Growth past the first allocation keeps every item in order. */
static void
test_many(void **state)
{
	struct diag_list dl;
	char want[32];

	diag_list_init(&dl);
	for (unsigned i = 0; i < 1000; i++)
		diag_add(&dl, i % 3 == 0 ? DIAG_ERROR : DIAG_WARNING, "f",
		    i + 1, "item %u", i);
	assert_int_equal(dl.n, 1000);
	assert_int_equal(dl.errors, 334);
	for (unsigned i = 0; i < 1000; i++) {
		snprintf(want, sizeof(want), "item %u", i);
		assert_string_equal(dl.items[i].text, want);
		assert_int_equal(dl.items[i].line, i + 1);
	}
	assert_true(diag_list_contains(&dl, DIAG_ERROR, "item 999"));
	assert_false(diag_list_contains(&dl, DIAG_ERROR, "item 998"));
	diag_list_deinit(&dl);
}

struct logged {
	int n;
	enum log_level level[4];
	char text[4][128];
};

static void
capture(enum log_level level, const char *text, void *ctx)
{
	struct logged *l = ctx;

	if (l->n < 4) {
		l->level[l->n] = level;
		snprintf(l->text[l->n], sizeof(l->text[0]), "%s", text);
	}
	l->n++;
}

static void
test_log(void **state)
{
	struct diag_list dl;
	struct logged l = { 0 };
	FILE *null = fopen("/dev/null", "w");

	assert_non_null(null);
	log_use_fd(fileno(null));
	log_set_capture(capture, &l);
	diag_list_init(&dl);
	diag_add(&dl, DIAG_WARNING, "main.cf", 4, "w");
	diag_add(&dl, DIAG_ERROR, "master.cf", 0, "e");
	diag_list_log(&dl);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.level[0], LOG_LVL_WARNING);
	assert_string_equal(l.text[0], "main.cf:4: w");
	assert_int_equal(l.level[1], LOG_LVL_ERROR);
	assert_string_equal(l.text[1], "master.cf: e");
	/* A '%' in the text is not a format directive. */
	diag_list_deinit(&dl);
	diag_list_init(&dl);
	diag_add(&dl, DIAG_ERROR, NULL, 0, "%s", "100%s");
	diag_list_log(&dl);
	assert_string_equal(l.text[2], "100%s");
	diag_list_deinit(&dl);
	log_set_capture(NULL, NULL);
	log_use_fd(2);
	fclose(null);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_levels),
		cmocka_unit_test(test_file_copied),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_log),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
