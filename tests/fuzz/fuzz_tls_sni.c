/* SPDX-License-Identifier: MIT */
/*
 * fuzz_tls_sni - tls_sni_parse() on arbitrary table text, then name
 * matching of every entry against a few names.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tls_sni.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "a.example", "x.a.example",
	    "", "A.EXAMPLE.", "." };
	struct tls_sni_entry *e = NULL;
	size_t n = 0;
	char err[512];

	if (!tls_sni_parse("fuzz", (const char *)data, size, &e, &n, err,
	    sizeof(err)))
		return 0;
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
			(void)tls_sni_name_matches(e[i].name, names[k]);
	tls_sni_free(e, n);
	return 0;
}
