/* SPDX-License-Identifier: MIT */
/*
 * fuzz_dnsbl_site - dnsbl_site_parse() on arbitrary entry text, and
 * dnsbl_site_lists() / dnsbl_filter_match() with what it parsed; the
 * error text must always be a terminated string, and a parsed site
 * must keep the promises of dnsbl.h (a valid zone, a well-formed filter,
 * a non-zero weight in bounds); the input's bytes as A answers for
 * dnsbl_answer_error().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "dnsbl.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t probes[] = { 0x7f000002, 0x7f000004, 0, ~0u,
	    0x7f0a0001 };
	struct dnsbl_site site;
	char err[512];
	char *text;

	if (size > 4096)
		return 0;
	text = xmalloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	err[0] = '\0';
	if (dnsbl_site_parse(text, &site, err, sizeof(err)) == 0) {
		if (!dns_name_valid(site.zone) || site.weight == 0 ||
		    site.weight > DNSBL_WEIGHT_MAX ||
		    site.weight < -DNSBL_WEIGHT_MAX)
			abort();
		if (site.filter != NULL &&
		    dnsbl_filter_match(site.filter, 0) < 0)
			abort();
		for (size_t n = 0; n <= 5; n++)
			(void)dnsbl_site_lists(&site, probes, n);
		dnsbl_site_deinit(&site);
	} else if (strlen(err) >= sizeof(err) || site.zone != NULL) {
		abort();
	}
	/* The bytes as DNSBL answers. */
	{
		uint32_t a[8];
		size_t n = size / 4 < 8 ? size / 4 : 8;

		memcpy(a, data, n * 4);
		if (dnsbl_answer_error("z.test", a, n, err, sizeof(err)) &&
		    strlen(err) >= sizeof(err))
			abort();
	}
	/* The whole text as a filter. */
	for (size_t i = 0; i < 5; i++)
		(void)dnsbl_filter_match(text, probes[i]);
	free(text);
	return 0;
}
