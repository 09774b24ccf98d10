/* SPDX-License-Identifier: MIT */
/*
 * fuzz_msg_chars - msg_chars_parse on any value (the first line of the
 * input), then the scans on the rest: what strip keeps has no listed
 * byte, and find agrees with strip on whether anything was listed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "msg_chars.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t speclen = nl != NULL ? (size_t)(nl - data) : size;
	const char *text = nl != NULL ? (const char *)nl + 1 : "";
	size_t tlen = nl != NULL ? size - speclen - 1 : 0;
	char *spec = malloc(speclen + 1);
	char *out = malloc(tlen + 1);
	struct msg_chars mc;
	char note[128];
	size_t n;
	int first;

	if (spec == NULL || out == NULL)
		abort();
	memcpy(spec, data, speclen);
	spec[speclen] = '\0';
	if (msg_chars_parse(spec, &mc, note, sizeof(note)) < 0)
		abort();
	if (mc.set['\r'] || mc.set['\n'])
		abort();
	first = msg_chars_find(&mc, text, tlen);
	n = msg_chars_strip(&mc, text, tlen, out);
	if (msg_chars_find(&mc, out, n) != -1)
		abort();
	if ((first == -1) != (n == tlen))
		abort();
	free(spec);
	free(out);
	return 0;
}
