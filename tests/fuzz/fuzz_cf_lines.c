/* SPDX-License-Identifier: MIT */
/*
 * fuzz_cf_lines - the logical-line reader must give the same lines, line
 * numbers and error for any split of its input: the input is fed whole
 * and in small chunks whose sizes come from the input itself, and the
 * two results are compared (abort() on a difference).  The first byte
 * also picks a small logical-line maximum now and then, so the "too
 * long" paths run too.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cf_lines.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
record(void *ctx, const char *text, size_t len, unsigned lineno)
{
	struct buf *out = ctx;

	if (strlen(text) != len)
		abort();
	if (buf_appendf(out, "%u:", lineno) < 0 ||
	    buf_append(out, text, len) < 0 || buf_append_c(out, '\n') < 0)
		abort();
	return 0;
}

/* run - feed data in chunks of 1..7 bytes (chunky) or whole; caller frees. */
static char *
run(const char *data, size_t size, size_t logical_max, bool chunky)
{
	struct cf_lines r;
	struct buf out;
	const char *err = NULL;
	unsigned line = 0;
	size_t off = 0, step = 0;
	int ret = 0;

	buf_init(&out, 64 * 1024 * 1024);
	cf_lines_init(&r, logical_max);
	while (off < size && ret == 0) {
		size_t n = size - off;

		if (chunky) {
			size_t want = 1 + ((unsigned char)data[step % size] +
			    step) % 7;

			n = want < n ? want : n;
			step++;
		}
		ret = cf_lines_feed(&r, data + off, n, record, &out, &err,
		    &line);
		off += n;
	}
	if (ret == 0)
		ret = cf_lines_finish(&r, record, &out, &err, &line);
	if (ret < 0 && (err == NULL || line == 0))
		abort();
	if (ret < 0 && buf_appendf(&out, "ERR %u %s", line, err) < 0)
		abort();
	cf_lines_deinit(&r);
	return buf_steal(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	size_t logical_max = 64 * 1024;
	char *a, *b;

	if (size > 0 && data[0] % 4 == 0)
		logical_max = 1 + data[0];
	a = run(text, size, logical_max, false);
	b = run(text, size, logical_max, true);
	if (strcmp(a, b) != 0)
		abort();
	free(a);
	free(b);
	return 0;
}
