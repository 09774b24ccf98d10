/* SPDX-License-Identifier: MIT */
/*
 * fuzz_header_missing - header blocks from arbitrary bytes.  Beyond "no
 * crash": the fields appended for what a block lacks are found by the
 * scan when they follow it (each once, and every one then present),
 * and nothing is appended to a block that has them all.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "header_missing.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct header_missing_vals v = {
		.sender = size > 0 && (data[0] & 1) ? "" : "s@example.org",
		.queue_id = "2KNENFDY6F0007YA",
		.myhostname = "mx.example.org",
		.date = "Mon, 30 Nov 2026 19:00:00 +0000",
		.now = 1796065200,
	};
	unsigned have = header_missing_scan((const char *)data, size);
	unsigned added = 0, again;
	struct buf b;

	unsigned resent = have & HEADER_RESENT;

	if ((have & ~(HEADER_HAS_ALL | HEADER_RESENT)) != 0)
		abort();
	buf_init(&b, 1 << 20);
	(void)buf_append(&b, data, size);
	/* A block whose last line has no line end: end it first. */
	if (size > 0 && data[size - 1] != '\n')
		(void)buf_append(&b, "\r\n", 2);
	if (header_missing_append(&b, have, &v, &added) < 0)
		abort();
	if ((added & have) != 0 || (added | (have & HEADER_HAS_ALL)) !=
	    HEADER_HAS_ALL)
		abort();
	/* What was added is what a second look finds (the Resent-
	 * variants when the message is re-sent). */
	again = header_missing_scan(b.data, b.len);
	if (again != (resent | HEADER_HAS_ALL))
		abort();
	buf_deinit(&b);
	return 0;
}
