/* SPDX-License-Identifier: MIT */
/*
 * header_drop - remove the headers named in message_drop_headers (Bcc,
 * Content-Length, Resent-Bcc, Return-Path by default, as Postfix's
 * cleanup does) from a message's primary header block, as its text
 * streams into the queue file: in smtpd, and in pickup for local
 * submissions.
 *
 * Why: a Bcc: header that a client left in the text would show every
 * recipient who it was hidden from; a Return-Path: is the delivery
 * agent's to add (a forged one would sit next to it); Content-Length:
 * misleads mbox readers.
 *
 * What counts.  The header block is the text up to the first empty line
 * or the first line that is neither a header ("Name:", white space
 * allowed before the colon) nor a continuation (starting with a space or
 * tab); after it nothing is touched.  A header whose name matches a
 * listed one (case-insensitively) goes with its continuation lines.  A
 * name longer than HEADER_DROP_NAME_MAX bytes is never dropped.  The
 * text may arrive split anywhere (any number of feeds); at most
 * HEADER_DROP_NAME_MAX + 1 bytes are held between feeds.
 */
#ifndef OSTIA_HEADER_DROP_H
#define OSTIA_HEADER_DROP_H

#include <stdbool.h>
#include <stddef.h>

#define HEADER_DROP_NAME_MAX 128

typedef void header_drop_out_fn(void *ctx, const char *data, size_t len);

enum header_drop_state {
	HD_LINE_START,		/* at the start of a header-block line */
	HD_NAME,		/* reading a header name (held in name[]) */
	HD_PASS,		/* the rest of a line that stays */
	HD_DROP,		/* the rest of a line that goes */
	HD_BODY,		/* past the header block: everything stays */
};

struct header_drop {
	char *const *names;	/* NULL-terminated; not owned */
	enum header_drop_state st;
	bool dropping;		/* the current header goes (continuations) */
	char name[HEADER_DROP_NAME_MAX + 1];
	size_t nlen;
	unsigned dropped;	/* headers removed so far */
};

/* Start a message.  names: the header names to remove (NULL or empty:
 * nothing is removed, the text passes whole). */
void header_drop_init(struct header_drop *hd, char *const *names);

/* The next len bytes of the message; what stays goes to out(ctx, ...),
 * in order, in one or more calls. */
void header_drop_feed(struct header_drop *hd, const char *data, size_t len,
    header_drop_out_fn *out, void *ctx);

/* The end of the message: what is held goes to out (a last line that
 * ended inside a header name). */
void header_drop_finish(struct header_drop *hd, header_drop_out_fn *out,
    void *ctx);

#endif
