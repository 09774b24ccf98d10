/* SPDX-License-Identifier: MIT */
/*
 * header_drop - headers removed from the header block; see
 * header_drop.h.
 */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "header_drop.h"

void
header_drop_init(struct header_drop *hd, char *const *names)
{
	memset(hd, 0, sizeof(*hd));
	hd->names = names;
	hd->st = names != NULL && names[0] != NULL ? HD_LINE_START : HD_BODY;
}

/* listed - the held name (white space before the colon left out) is
 * one of the names. */
static bool
listed(const struct header_drop *hd)
{
	size_t n = hd->nlen;

	while (n > 0 && (hd->name[n - 1] == ' ' || hd->name[n - 1] == '\t'))
		n--;
	for (char *const *p = hd->names; *p != NULL; p++)
		if (strlen(*p) == n && strncasecmp(*p, hd->name, n) == 0)
			return true;
	return false;
}

/* flush_name - the held bytes stay after all. */
static void
flush_name(struct header_drop *hd, header_drop_out_fn *out, void *ctx)
{
	if (hd->nlen > 0)
		out(ctx, hd->name, hd->nlen);
	hd->nlen = 0;
}

void
header_drop_feed(struct header_drop *hd, const char *data, size_t len,
    header_drop_out_fn *out, void *ctx)
{
	size_t i = 0;

	while (i < len) {
		const char *nl;
		size_t n;
		char c = data[i];

		switch (hd->st) {
		case HD_BODY:
			out(ctx, data + i, len - i);
			return;
		case HD_LINE_START:
			if (c == ' ' || c == '\t') {
				hd->st = hd->dropping ? HD_DROP : HD_PASS;
			} else if (c == '\r' || c == '\n') {
				hd->st = HD_BODY;	/* the empty line */
			} else {
				hd->st = HD_NAME;
				hd->nlen = 0;
			}
			break;
		case HD_NAME:
			if (c == ':') {
				i++;
				hd->dropping = listed(hd);
				if (hd->dropping) {
					hd->dropped++;
					hd->nlen = 0;
					hd->st = HD_DROP;
				} else {
					flush_name(hd, out, ctx);
					out(ctx, ":", 1);
					hd->st = HD_PASS;
				}
			} else if (c == '\r' || c == '\n') {
				/* Not a header: the block ended before it. */
				flush_name(hd, out, ctx);
				hd->st = HD_BODY;
			} else if (hd->nlen == HEADER_DROP_NAME_MAX) {
				flush_name(hd, out, ctx);
				hd->dropping = false;
				hd->st = HD_PASS;
			} else {
				hd->name[hd->nlen++] = c;
				i++;
			}
			break;
		case HD_PASS:
		case HD_DROP:
			nl = memchr(data + i, '\n', len - i);
			n = nl != NULL ? (size_t)(nl - (data + i)) + 1 : len - i;
			if (hd->st == HD_PASS)
				out(ctx, data + i, n);
			i += n;
			if (nl != NULL)
				hd->st = HD_LINE_START;
			break;
		}
	}
}

void
header_drop_finish(struct header_drop *hd, header_drop_out_fn *out,
    void *ctx)
{
	if (hd->st == HD_NAME)
		flush_name(hd, out, ctx);
	hd->st = HD_BODY;
}
