/* SPDX-License-Identifier: MIT */
/*
 * fuzz_masquerade - masq_setup() with lists taken from the input's first
 * line (domains) and second line (exceptions), then masquerade() of the
 * rest as an address in every class; the result must be a terminated
 * string that fits, equal to the input when 0 is returned, and a suffix
 * change only (same local part and '@') when 1 is returned.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "masquerade.h"
#include "strv.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char **
split(const char *s)
{
	struct strv v;
	const char *p = s;

	strv_init(&v);
	while (*p != '\0') {
		size_t n = strcspn(p, " ,");

		if (n > 0)
			strv_addn(&v, p, n);
		p += n;
		if (*p != '\0')
			p++;
	}
	return strv_steal(&v);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *classes[] = { "envelope_sender",
	    "envelope_recipient", "header_sender", "header_recipient", NULL };
	char *text, *l1, *l2, *addr, *nl;
	char **d, **x, err[256], out[300];
	struct masq m;

	if (size > 4096)
		return 0;
	text = xmalloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	l1 = text;
	nl = strchr(l1, '\n');
	l2 = nl != NULL ? (*nl = '\0', nl + 1) : l1 + strlen(l1);
	nl = strchr(l2, '\n');
	addr = nl != NULL ? (*nl = '\0', nl + 1) : l2 + strlen(l2);
	d = split(l1);
	x = split(l2);
	if (masq_setup(&m, (const char *const *)d,
	    (const char *const *)x, classes, "+-", err, sizeof(err)) < 0 &&
	    (strlen(err) >= sizeof(err) || masq_on(&m, MASQ_ENV_SENDER)))
		abort();
	for (int c = MASQ_ENV_SENDER; c <= MASQ_HDR_RCPT; c++) {
		int rc = masquerade(&m, (enum masq_class)c, addr, out,
		    sizeof(out));
		const char *at = strrchr(addr, '@');

		if (rc < 0)
			continue;
		if (strlen(out) >= sizeof(out))
			abort();
		if (rc == 0 && strcmp(out, addr) != 0)
			abort();
		if (rc == 1 && (at == NULL || strncmp(out, addr,
		    (size_t)(at - addr) + 1) != 0 || strlen(out) >=
		    strlen(addr)))
			abort();
	}
	masq_deinit(&m);
	strv_free(&d);
	strv_free(&x);
	free(text);
	return 0;
}
