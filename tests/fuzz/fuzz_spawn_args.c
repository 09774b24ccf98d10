/* SPDX-License-Identifier: MIT */
/*
 * fuzz_spawn_args - spawn's master.cf arguments from arbitrary bytes
 * (split into words at NUL bytes and spaces).  Beyond "no crash": an
 * accepted set has a user, an absolute command and at most
 * SPAWN_ARGV_MAX words; a refusal has its words and leaves nothing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spawn_args.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text, **words;
	size_t n = 0;
	struct spawn_args sa;
	char *err = NULL;

	if (size > 4096)
		return 0;
	text = xmalloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	words = xcalloc(size + 2, sizeof(*words));
	/* Words: runs of bytes between spaces and NULs. */
	for (size_t i = 0; i < size;) {
		while (i < size && (text[i] == ' ' || text[i] == '\0'))
			text[i++] = '\0';
		if (i < size)
			words[n++] = text + i;
		while (i < size && text[i] != ' ' && text[i] != '\0')
			i++;
	}
	words[n] = NULL;
	if (spawn_args_parse("fuzz", words, &sa, &err) == 0) {
		if (sa.user == NULL || sa.user[0] == '\0' || sa.argv == NULL ||
		    sa.argv[0] == NULL || sa.argv[0][0] != '/' ||
		    sa.argc == 0 || sa.argc > SPAWN_ARGV_MAX ||
		    sa.argv[sa.argc] != NULL)
			abort();
		spawn_args_deinit(&sa);
	} else {
		if (err == NULL || sa.user != NULL || sa.argv != NULL)
			abort();
		free(err);
	}
	free(words);
	free(text);
	return 0;
}
