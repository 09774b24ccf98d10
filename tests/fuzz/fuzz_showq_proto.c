/* SPDX-License-Identifier: MIT */
/*
 * fuzz_showq_proto - showq_request_parse() and showq_reply_parse() on
 * arbitrary lines (a request comes from a user's process).  Invariants:
 * a parsed request has a login of 1 to 64 characters without spaces,
 * an argument only for the requests that take one, and formats back to
 * exactly the line it came from.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compat.h"
#include "showq_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *line = (const char *)data, *why = NULL, *text;
	char out[SHOWQ_REQUEST_MAX_BYTES + 1];
	struct showq_request r;
	size_t tl;
	int st;

	if (size > 4096)
		return 0;
	(void)showq_reply_parse(line, size, &text, &tl, &st);
	if (showq_request_parse(line, size, &r, &why) == 0) {
		char *words[3] = { NULL, NULL, NULL };
		int n = 1;
		size_t ll = strlen(r.login);

		if (ll == 0 || ll > 64 || strchr(r.login, ' ') != NULL)
			abort();
		if ((r.what == SHOWQ_LIST || r.what == SHOWQ_LIST_JSON ||
		    r.what == SHOWQ_FLUSH) && r.arg[0] != '\0')
			abort();
		words[0] = UNCONST(r.what == SHOWQ_LIST ? "list" : r.what ==
		    SHOWQ_LIST_JSON ? "json" : "flush");
		if (r.what == SHOWQ_FLUSH_ID) {
			words[n++] = r.arg;
		} else if (r.what == SHOWQ_FLUSH_DOMAIN) {
			words[n++] = UNCONST("-d");
			words[n++] = r.arg;
		}
		if (showq_request_format(out, sizeof(out), r.uid, r.login, n,
		    words, &why) < 0)
			abort();
		if (strlen(out) != size + 1 || memcmp(out, line, size) != 0)
			abort();
	} else if (why == NULL) {
		abort();
	}
	return 0;
}
