/* SPDX-License-Identifier: MIT */
/*
 * hop_count - count the Received: headers of a message's primary header
 * block as its text streams past, for hopcount_limit (Postfix: a
 * message with more Received: headers than the limit is refused, to
 * stop a mail loop).
 *
 * The text is fed as stored (CRLF or LF line ends), in any split.  The
 * primary header block ends at the first empty line or the first line
 * that is neither a header ("name:", spaces or tabs allowed before the
 * colon) nor a continuation (a line starting with a space or a tab);
 * after that nothing is looked at, so the cost is bounded by the header
 * block.  A header name is compared without case.
 *
 * Pure: no I/O; fuzzed by tests/fuzz/fuzz_hop_count.c.
 */
#ifndef OSTIA_HOP_COUNT_H
#define OSTIA_HOP_COUNT_H

#include <stdbool.h>
#include <stddef.h>

/* Header names longer than this are not Received: (and not looked at
 * further). */
#define HOP_COUNT_NAME_MAX 32

struct hop_count {
	unsigned received;	/* Received: headers seen so far */
	bool done;		/* the header block has ended */
	/* private */
	int state;
	size_t nlen;
	char name[HOP_COUNT_NAME_MAX];
};

void hop_count_init(struct hop_count *h);
void hop_count_feed(struct hop_count *h, const char *data, size_t len);

#endif
