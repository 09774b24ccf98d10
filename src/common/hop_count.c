/* SPDX-License-Identifier: MIT */
/*
 * hop_count - count Received: headers; see hop_count.h.
 */
#include "hop_count.h"

#include <string.h>
#include <strings.h>

enum {
	HC_LINE_START,		/* at the start of a line */
	HC_NAME,		/* in a header name */
	HC_NAME_SPACE,		/* spaces or tabs after the name */
	HC_SKIP,		/* the rest of the line is not looked at */
	HC_CR,			/* a CR at the start of a line was seen */
};

void
hop_count_init(struct hop_count *h)
{
	memset(h, 0, sizeof(*h));
	h->state = HC_LINE_START;
}

/* name_done - the colon ended a header name. */
static void
name_done(struct hop_count *h)
{
	if (h->nlen == 8 && strncasecmp(h->name, "received", 8) == 0)
		h->received++;
	h->state = HC_SKIP;
}

void
hop_count_feed(struct hop_count *h, const char *data, size_t len)
{
	for (size_t i = 0; i < len && !h->done; i++) {
		unsigned char c = (unsigned char)data[i];

		switch (h->state) {
		case HC_LINE_START:
			if (c == '\n') {
				h->done = true;	/* an empty line */
			} else if (c == '\r') {
				h->state = HC_CR;
			} else if (c == ' ' || c == '\t') {
				h->state = HC_SKIP;	/* a continuation */
			} else if (c == ':' || c < 0x21 || c > 0x7e) {
				h->done = true;	/* not a header */
			} else {
				h->name[0] = (char)c;
				h->nlen = 1;
				h->state = HC_NAME;
			}
			break;
		case HC_CR:
			/* CR LF: the empty line; CR and more: no header
			 * starts with a CR either. */
			h->done = true;
			break;
		case HC_NAME:
			if (c == ':') {
				name_done(h);
			} else if (c == ' ' || c == '\t') {
				h->state = HC_NAME_SPACE;
			} else if (c < 0x21 || c > 0x7e) {
				h->done = true;	/* not a header */
			} else if (h->nlen < sizeof(h->name)) {
				h->name[h->nlen++] = (char)c;
			} else {
				/* A long name: a header, not Received:,
				 * unless it has no colon (then the block
				 * ends, as a line without one does). */
				h->nlen = sizeof(h->name) + 1;
			}
			break;
		case HC_NAME_SPACE:
			if (c == ':')
				name_done(h);
			else if (c != ' ' && c != '\t')
				h->done = true;	/* not a header */
			break;
		case HC_SKIP:
			if (c == '\n')
				h->state = HC_LINE_START;
			break;
		}
	}
}
