/* SPDX-License-Identifier: MIT */
/*
 * fuzz_smtp_xattr - XCLIENT / XFORWARD arguments from arbitrary bytes
 * (the first byte picks the command).  Beyond "no crash": an accepted
 * line has at least one attribute, only attributes its command takes,
 * and values within SMTP_XATTR_VALUE_MAX of printable ASCII; a refused
 * one leaves nothing and names an attribute inside the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_xattr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_xattrs xa;
	enum smtp_xattr_cmd cmd;
	const char *err = NULL, *name = NULL, *args;
	size_t nl = 0, len;
	int any = 0;

	if (size < 1 || size > 4096)
		return 0;
	cmd = (data[0] & 1) ? SMTP_XFORWARD : SMTP_XCLIENT;
	args = (const char *)data + 1;
	len = size - 1;
	if (smtp_xattr_parse(cmd, args, len, &xa, &err, &name, &nl) == 0) {
		for (int k = 0; k < XATTR__COUNT; k++) {
			if (xa.st[k] == XATTR_ABSENT)
				continue;
			any = 1;
			if (!smtp_xattr_allowed(cmd, (enum smtp_xattr_id)k))
				abort();
			if (xa.st[k] != XATTR_SET)
				continue;
			if (strlen(xa.val[k]) == 0 ||
			    strlen(xa.val[k]) > SMTP_XATTR_VALUE_MAX)
				abort();
			for (const char *p = xa.val[k]; *p != '\0'; p++)
				if ((unsigned char)*p < 0x20 ||
				    (unsigned char)*p >= 0x7f)
					abort();
		}
		if (!any)
			abort();
	} else {
		if (err == NULL || name < args || name + nl > args + len)
			abort();
		for (int k = 0; k < XATTR__COUNT; k++)
			if (xa.st[k] != XATTR_ABSENT)
				abort();
	}
	return 0;
}
