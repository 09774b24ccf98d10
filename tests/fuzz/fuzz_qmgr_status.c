/* SPDX-License-Identifier: MIT */
/*
 * fuzz_qmgr_status - qstatus_parse() on arbitrary bytes (a status log
 * damaged by a crash or by hand), then every entry formatted again and
 * parsed back: a formatted line always parses to the same entry.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qmgr_status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qstatus st, back;
	char line[QSTATUS_LINE_MAX];

	qstatus_parse((const char *)data, size, &st, NULL);
	for (size_t i = 0; i < st.n; i++) {
		size_t len = qstatus_format(line, sizeof(line), &st.e[i]);

		qstatus_parse(line, len, &back, NULL);
		if (back.n != 1 || back.e[0].idx != st.e[i].idx ||
		    back.e[0].action != st.e[i].action ||
		    back.e[0].when != st.e[i].when ||
		    strcmp(back.e[0].address, st.e[i].address) != 0)
			abort();
		qstatus_free(&back);
		(void)qstatus_find(&st, st.e[i].idx, st.e[i].address);
	}
	(void)qstatus_has_hold(&st);
	qstatus_free(&st);
	return 0;
}
