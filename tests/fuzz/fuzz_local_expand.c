/* SPDX-License-Identifier: MIT */
/*
 * fuzz_local_expand - luser_relay and forward_path templates from
 * arbitrary bytes (up to the first NUL; a first byte with bit 0 set
 * gives $home, $shell and a filter).  Beyond "no crash": a result is
 * non-empty, at most LOCAL_EXPAND_MAX bytes, without spaces or control
 * characters; a refusal has a reason and no result.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "local_expand.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct local_expand_vars v = {
		.user = "u", .extension = "e x", .local = "u+e",
		.domain = "d.example", .recipient = "u+e@d.example",
		.delimiter = "+",
	};
	char *tmpl, *out = NULL;
	const char *err = NULL;

	if (size > 4096)
		return 0;
	/* The first byte picks the forward_path variant: $home, $shell
	 * and a filter that the space in the extension is not in. */
	if (size > 0 && (data[0] & 1) != 0) {
		v.home = "/home/u";
		v.shell = "";
		v.filter = "abcdefghijklmnopqrstuvwxyz0123456789/.+-_@";
		data++;
		size--;
	}
	tmpl = malloc(size + 1);
	if (tmpl == NULL)
		return 0;
	memcpy(tmpl, data, size);
	tmpl[size] = '\0';
	if (local_expand(tmpl, &v, &out, &err) == 0) {
		size_t n = strlen(out);

		if (n == 0 || n > LOCAL_EXPAND_MAX)
			abort();
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)out[i] <= 0x20 ||
			    (unsigned char)out[i] == 0x7f)
				abort();
		free(out);
	} else if (err == NULL || out != NULL) {
		abort();
	}
	free(tmpl);
	return 0;
}
