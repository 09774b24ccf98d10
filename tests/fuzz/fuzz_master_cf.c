/* SPDX-License-Identifier: MIT */
/*
 * fuzz_master_cf - master_cf_parse() on arbitrary text; when it parses,
 * every service is formatted with master_service_format(), the result is
 * parsed again and must give equal services (abort() otherwise).  A
 * formatted line longer than the reader's physical line limit is not
 * compared (the formatter may add "{ }" to a near-limit entry).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cf_lines.h"
#include "diag.h"
#include "master_cf.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diag_list dl, dl2;
	struct master_cf *cf = NULL, *again = NULL;
	struct buf text;
	bool too_long = false;

	diag_list_init(&dl);
	if (master_cf_parse((const char *)data, size, "fuzz.cf", &cf,
	    &dl) < 0) {
		if (cf != NULL || !diag_has_errors(&dl))
			abort();
		diag_list_deinit(&dl);
		return 0;
	}
	if (cf == NULL || diag_has_errors(&dl))
		abort();
	buf_init(&text, 256 * 1024 * 1024);
	for (size_t i = 0; i < cf->nservices; i++) {
		const struct master_service *s = &cf->services[i];
		char *line = master_service_format(s);

		if (strchr(line, '\n') != NULL)
			abort();
		if (master_cf_find(cf, s->name, s->type) != s)
			abort();
		if (strlen(line) >= CF_PHYS_LINE_MAX_BYTES)
			too_long = true;
		if (buf_append_str(&text, line) < 0 ||
		    buf_append_c(&text, '\n') < 0)
			abort();
		free(line);
	}
	if (!too_long && text.len <= MASTER_CF_MAX_BYTES) {
		diag_list_init(&dl2);
		if (master_cf_parse(buf_cstr(&text), text.len, "fuzz.cf",
		    &again, &dl2) < 0)
			abort();
		if (again->nservices != cf->nservices)
			abort();
		for (size_t i = 0; i < cf->nservices; i++)
			if (!master_service_equal(&cf->services[i],
			    &again->services[i]))
				abort();
		master_cf_free(&again);
		diag_list_deinit(&dl2);
	}
	buf_deinit(&text);
	master_cf_free(&cf);
	diag_list_deinit(&dl);
	return 0;
}
