/* SPDX-License-Identifier: MIT */
/*
 * fuzz_reply_footer - reply_footer_apply() on arbitrary bytes.
 *
 * Input: one byte for line_max (4 + its value), then the reply line, a
 * NUL, then the template (the rest).  abort() when an invariant breaks:
 *  - reply_footer_check() and reply_footer_apply() agree on the
 *    template (for a well-formed reply);
 *  - on failure the output buffer is unchanged;
 *  - on success the output is whole lines, each ending in CRLF, no
 *    other CR or LF, each at most line_max bytes, each starting with the
 *    reply's three digits and '-' (all but the last) or the reply's own
 *    separator (the last).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reply_footer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *
lookup(void *ctx, const char *name, size_t n)
{
	(void)ctx;
	if (n > 0 && name[0] == 'a')
		return "value\r\nwith a break";
	if (n > 0 && name[0] == 'e')
		return "";
	return NULL;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul;
	size_t line_max, rlen, tlen;
	char *reply, *tmpl;
	struct buf out;
	const char *err = NULL, *cerr = NULL;
	int ret, cret;

	if (size < 2)
		return 0;
	line_max = 4 + data[0];
	data++;
	size--;
	nul = memchr(data, 0, size);
	if (nul == NULL)
		return 0;
	rlen = (size_t)(nul - data);
	tlen = size - rlen - 1;
	reply = malloc(rlen > 0 ? rlen : 1);
	tmpl = malloc(tlen + 1);
	if (reply == NULL || tmpl == NULL)
		abort();
	memcpy(reply, data, rlen);
	memcpy(tmpl, nul + 1, tlen);
	tmpl[tlen] = '\0';		/* a template is a C string */

	buf_init(&out, 1024 * 1024);
	(void)buf_append_str(&out, "Z");
	ret = reply_footer_apply(reply, rlen, tmpl, lookup, NULL, line_max,
	    &out, &err);
	cret = reply_footer_check(tmpl, &cerr);
	if (ret != 0 && (out.len != 1 || err == NULL))
		abort();
	if (ret == 0 && cret != 0)
		abort();
	if (ret == 0) {
		const char *p = out.data + 1, *end = out.data + out.len;

		while (p < end) {
			const char *e = memchr(p, '\r', (size_t)(end - p));
			size_t n;

			if (e == NULL || e + 1 >= end || e[1] != '\n')
				abort();
			n = (size_t)(e - p);
			if (n > line_max || n < 4 || memchr(p, '\n', n) != NULL)
				abort();
			if (memcmp(p, reply, 3) != 0)
				abort();
			if (e + 2 < end ? p[3] != '-' : p[3] != reply[3])
				abort();
			p = e + 2;
		}
	} else if (rlen >= 4 && memchr(reply, '\r', rlen) == NULL &&
	    memchr(reply, '\n', rlen) == NULL &&
	    reply[0] >= '0' && reply[0] <= '9' &&
	    reply[1] >= '0' && reply[1] <= '9' && reply[2] >= '0' &&
	    reply[2] <= '9' && (reply[3] == ' ' || reply[3] == '-') &&
	    cret == 0) {
		/* a good reply and a good template: only a size bound may
		 * refuse */
		if (strstr(err, "too long") == NULL)
			abort();
	}
	buf_deinit(&out);
	free(reply);
	free(tmpl);
	return 0;
}
