/* SPDX-License-Identifier: MIT */
/*
 * fuzz_smtpd_ehlo - smtpd_ehlo_mask() on arbitrary keyword lists (a
 * table's value comes from outside), and the text of the mask for the
 * log.  Invariants: only known bits; a list and the same list with a
 * separator added at either end give the same mask; the text is
 * terminated and names each bit but silent-discard.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpd_ehlo.h"
#include "xalloc.h"

#define ALL_BITS ((EHLO_D_SILENT << 1) - 1)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *padded, text[512];
	unsigned m, m2;

	if (size > 65536)
		return 0;
	m = smtpd_ehlo_mask((const char *)data, size);
	if (m & ~(unsigned)ALL_BITS)
		abort();
	padded = xmalloc(size + 2);
	padded[0] = ',';
	memcpy(padded + 1, data, size);
	padded[size + 1] = ' ';
	m2 = smtpd_ehlo_mask(padded, size + 2);
	free(padded);
	if (m2 != m)
		abort();
	smtpd_ehlo_mask_text(m, text, sizeof(text));
	if (strlen(text) >= sizeof(text))
		abort();
	if ((m & ~(unsigned)EHLO_D_SILENT) != 0 && text[0] == '\0')
		abort();
	return 0;
}
