/* SPDX-License-Identifier: MIT */
/*
 * fuzz_base64 - base64_decode on arbitrary text; whatever decodes must
 * encode back to the same text (canonical form).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *out;
	char *again;
	long n;

	if (size > 1 << 16)
		return 0;
	out = malloc(BASE64_DECODED_MAX(size) + 1);
	if (out == NULL)
		return 0;
	n = base64_decode((const char *)data, size, out,
	    BASE64_DECODED_MAX(size) + 1);
	if (n >= 0) {
		again = malloc(BASE64_ENCODED_SIZE((size_t)n));
		if (again != NULL) {
			if (base64_encode(out, (size_t)n, again) != size ||
			    memcmp(again, data, size) != 0)
				abort();
			free(again);
		}
	}
	free(out);
	return 0;
}
