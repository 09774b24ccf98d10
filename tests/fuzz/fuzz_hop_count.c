/* SPDX-License-Identifier: MIT */
/*
 * fuzz_hop_count - hop_count_feed() on arbitrary text, whole and in
 * pieces split at the input's first byte: both counts must agree, and
 * never exceed the number of lines.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hop_count.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hop_count whole, parts;
	const char *text = (const char *)data;
	size_t piece, lines = 1;

	if (size == 0)
		return 0;
	piece = (size_t)data[0] % 7 + 1;
	hop_count_init(&whole);
	hop_count_feed(&whole, text, size);
	hop_count_init(&parts);
	for (size_t i = 0; i < size; i += piece)
		hop_count_feed(&parts, text + i, size - i < piece ? size - i :
		    piece);
	for (size_t i = 0; i < size; i++)
		if (data[i] == '\n')
			lines++;
	if (whole.received != parts.received || whole.done != parts.done ||
	    whole.received > lines)
		abort();
	return 0;
}
