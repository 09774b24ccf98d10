/* SPDX-License-Identifier: MIT */
/*
 * fuzz_local_alias - local_alias_split(), local_include_parse() and
 * local_command_split() (src/deliver/local_alias.c) on arbitrary text:
 * alias values come from lookup tables, :include: files from disk.
 * Checked beyond memory safety: every destination's text is
 * NUL-terminated, not empty and at most LOCAL_DEST_MAX_BYTES; commands
 * and include paths are as classified; a command split into words has
 * none of LOCAL_SHELL_META.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "local_alias.h"
#include "strv.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(const struct local_dests *d)
{
	if (d->n > LOCAL_DESTS_MAX)
		abort();
	for (size_t i = 0; i < d->n; i++) {
		const char *t = d->v[i].text;
		size_t n = strlen(t);

		if (n == 0 || n > LOCAL_DEST_MAX_BYTES)
			abort();
		if (d->v[i].kind == LOCAL_DEST_INCLUDE && t[0] != '/')
			abort();
		if (d->v[i].kind == LOCAL_DEST_FILE && t[0] != '/')
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct local_dests d;
	char *err = NULL, *text, **argv = NULL;

	if (size > 64 * 1024)
		return 0;
	local_dests_init(&d);
	if (local_alias_split((const char *)data, size, &d, &err) == 0)
		check(&d);
	free(err);
	err = NULL;
	local_dests_deinit(&d);
	if (local_include_parse((const char *)data, size, &d, &err) == 0)
		check(&d);
	free(err);
	err = NULL;
	local_dests_deinit(&d);
	text = xstrndup((const char *)data, size);
	if (local_command_split(text, &argv, &err) == 0) {
		if (argv[0] == NULL)
			abort();
		for (size_t i = 0; argv[i] != NULL; i++)
			if (argv[i][0] == '\0' ||
			    strpbrk(argv[i], LOCAL_SHELL_META) != NULL)
				abort();
		strv_free(&argv);
	}
	free(err);
	free(text);
	return 0;
}
