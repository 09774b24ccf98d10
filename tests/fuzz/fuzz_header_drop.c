/* SPDX-License-Identifier: MIT */
/*
 * fuzz_header_drop - message_drop_headers (src/common/header_drop.c) on
 * arbitrary message text.
 *
 * Input: the first byte picks the names to remove (bit k: names[k]
 * below), the second seeds the random split; the rest is the text.
 * The text is fed whole, one byte at a time and in pseudo-random pieces;
 * abort() unless every way gives the same output and the same count of
 * removed headers, and unless those equal what a separate, line-based
 * model of the rules (header_drop.h) gives.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "header_drop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char n0[] = "bcc", n1[] = "Return-Path", n2[] = "content-length";
static char n3[] = "X", n4[] = "resent-bcc", n5[] = "a b";
static char *const all_names[] = { n0, n1, n2, n3, n4, n5 };

static void
collect(void *ctx, const char *data, size_t len)
{
	if (len == 0 || buf_append(ctx, data, len) < 0)
		abort();
}

static unsigned
run(const char *in, size_t len, char *const *names, int split, unsigned seed,
    struct buf *out)
{
	struct header_drop hd;
	size_t i = 0;

	header_drop_init(&hd, names);
	while (i < len) {
		size_t n = split == 0 ? len - i : split == 1 ? 1 :
		    1 + (seed = seed * 1103515245u + 12345u) % 17;

		if (n > len - i)
			n = len - i;
		header_drop_feed(&hd, in + i, n, collect, out);
		i += n;
	}
	header_drop_finish(&hd, collect, out);
	return hd.dropped;
}

static bool
model_listed(char *const *names, const char *name, size_t n)
{
	while (n > 0 && (name[n - 1] == ' ' || name[n - 1] == '\t'))
		n--;
	for (char *const *p = names; p != NULL && *p != NULL; p++)
		if (strlen(*p) == n && strncasecmp(*p, name, n) == 0)
			return true;
	return false;
}

/* The rules, line by line, with lookahead. */
static unsigned
model(const char *in, size_t len, char *const *names, struct buf *out)
{
	size_t pos = 0;
	unsigned dropped = 0;
	bool dropping = false;

	if (names == NULL || names[0] == NULL) {
		if (len > 0 && buf_append(out, in, len) < 0)
			abort();
		return 0;
	}
	while (pos < len) {
		const char *line = in + pos, *nl = memchr(line, '\n', len - pos);
		size_t ll = nl != NULL ? (size_t)(nl - line) + 1 : len - pos;
		bool keep = true, body = false;

		if (line[0] == ' ' || line[0] == '\t') {
			keep = !dropping;
		} else if (line[0] == '\r' || line[0] == '\n') {
			body = true;
		} else {
			size_t j;

			for (j = 0; j < ll; j++) {
				if (line[j] == ':') {
					dropping = model_listed(names, line, j);
					dropped += dropping;
					keep = !dropping;
					break;
				}
				if (line[j] == '\r' || line[j] == '\n') {
					body = true;
					break;
				}
				if (j == HEADER_DROP_NAME_MAX) {
					dropping = false;
					break;
				}
			}
		}
		if (body) {
			if (buf_append(out, line, len - pos) < 0)
				abort();
			break;
		}
		if (keep && buf_append(out, line, ll) < 0)
			abort();
		pos += ll;
	}
	return dropped;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *names[sizeof(all_names) / sizeof(all_names[0]) + 1];
	size_t nn = 0, len;
	const char *in;
	struct buf want, got;
	unsigned want_n;

	if (size < 2)
		return 0;
	for (size_t k = 0; k < sizeof(all_names) / sizeof(all_names[0]); k++)
		if (data[0] & (1u << k))
			names[nn++] = all_names[k];
	names[nn] = NULL;
	in = (const char *)data + 2;
	len = size - 2;
	buf_init(&want, SIZE_MAX);
	want_n = model(in, len, names, &want);
	for (int split = 0; split < 3; split++) {
		unsigned n;

		buf_init(&got, SIZE_MAX);
		n = run(in, len, names, split, data[1], &got);
		if (n != want_n || got.len != want.len ||
		    (got.len > 0 && memcmp(got.data, want.data, got.len) != 0))
			abort();
		buf_deinit(&got);
	}
	buf_deinit(&want);
	return 0;
}
