/* SPDX-License-Identifier: MIT */
/*
 * fuzz_notify_class - notify_class_of_reply() on arbitrary bytes.
 *
 * abort() when an invariant breaks:
 *  - the result is 0 or exactly one class bit of NOTIFY_SMTPD_CLASSES;
 *  - a reply that does not start with 4 or 5 and two digits is 0;
 *  - the bytes from the first space after the reply code's separator
 *    on do not change the class (it comes from the code alone).
 * The input is copied to a buffer of exactly its size, so ASan sees
 * any read past it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "notify_class.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *p = malloc(size > 0 ? size : 1);
	unsigned c, c2;

	if (p == NULL)
		return 0;
	memcpy(p, data, size);
	c = notify_class_of_reply(p, size);
	if (c != 0 && ((c & (c - 1)) != 0 || (c & ~NOTIFY_SMTPD_CLASSES) != 0))
		abort();
	if ((size < 3 || (p[0] != '4' && p[0] != '5') || p[1] < '0' ||
	    p[1] > '9' || p[2] < '0' || p[2] > '9') && c != 0)
		abort();
	/* "NNN X.Y.Z text": cutting at the first space after the code
	 * keeps the class. */
	if (size > 4) {
		const char *sp = memchr(p + 4, ' ', size - 4);

		if (sp != NULL) {
			c2 = notify_class_of_reply(p, (size_t)(sp - p));
			if (c2 != c)
				abort();
		}
	}
	free(p);
	return 0;
}
