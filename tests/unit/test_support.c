/* SPDX-License-Identifier: MIT */
/*
 * test_support - helpers shared by the unit tests; see test_support.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "diag.h"
#include "file_read.h"
#include "test_support.h"
#include "xalloc.h"

char *
test_source_path(const char *rel)
{
	const char *dir = getenv("OSTIA_SOURCE_DIR");

	if (dir == NULL || *dir == '\0')
		dir = OSTIA_TEST_SOURCE_DIR;
	return xasprintf("%s/%s", dir, rel);
}

char *
test_read_file(const char *path, size_t *len_r)
{
	char *err = NULL, *text;
	size_t len = 0;
	int e = 0;

	text = file_read_capped(path, 16 * 1024 * 1024, &len, &e, &err);
	if (text == NULL)
		fail_msg("%s: %s", path, err);
	if (len_r != NULL)
		*len_r = len;
	return text;
}

void
test_print_diags(const struct diag_list *dl)
{
	for (size_t i = 0; i < dl->n; i++) {
		char *s = diag_format(&dl->items[i]);

		print_message("  %s: %s\n", dl->items[i].level == DIAG_ERROR ?
		    "error" : "warning", s);
		free(s);
	}
}
