/* SPDX-License-Identifier: MIT */
/*
 * header_missing - the From:, Date: and Message-ID: headers a message
 * lacks, and the ones Postfix's cleanup adds for them (for clients of
 * local_header_rewrite_clients, or every client with
 * always_add_missing_headers = yes): "From: <sender>", the current
 * date, and "Message-ID: <YYYYMMDDhhmmss.QUEUEID@myhostname>".  Mail
 * without a Message-ID is refused by some large providers, and
 * scripts that talk SMTP to the local server often leave it out.
 *
 * A message that is being re-sent (it has a Resent-* field: RFC 5322
 * 3.6.6) gets the Resent- variants instead, as in Postfix: the three
 * bits then say which of Resent-From:, Resent-Date: and
 * Resent-Message-ID: it has, and those are added.
 *
 * Only the primary header block is looked at: a line that starts with
 * a field name and ':' (RFC 5322 2.2: printable ASCII but ':', so a
 * body line or a "From " line does not count), names compared without
 * case.  Pure: no I/O, no clock (the caller gives the time).
 */
#ifndef OSTIA_HEADER_MISSING_H
#define OSTIA_HEADER_MISSING_H

#include <stddef.h>
#include <time.h>

#include "buf.h"

#define HEADER_HAS_FROM		(1u << 0)
#define HEADER_HAS_DATE		(1u << 1)
#define HEADER_HAS_MSGID	(1u << 2)
#define HEADER_HAS_ALL \
	(HEADER_HAS_FROM | HEADER_HAS_DATE | HEADER_HAS_MSGID)
/* The block has a Resent-* field: the bits above are of the Resent-
 * variants. */
#define HEADER_RESENT		(1u << 3)

/*
 * Which of the three fields the header block blk (len bytes, lines
 * ending in CRLF or LF; continuation lines are skipped) holds; with
 * HEADER_RESENT, which of the three Resent- fields.
 */
unsigned header_missing_scan(const char *blk, size_t len);

struct header_missing_vals {
	const char *sender;	/* envelope sender, "" for <> */
	const char *queue_id;
	const char *myhostname;
	const char *date;	/* the Date: value (sendmail_date) */
	time_t now;		/* for the Message-ID */
};

/*
 * Append "Message-ID: <YYYYMMDDhhmmss.ID@host>" CRLF (the time of now
 * in UTC) to out.  0, or -1 when out is full.
 */
int header_missing_msgid(struct buf *out, time_t now, const char *id,
    const char *host);

/*
 * Append the fields not in have (HEADER_HAS_* bits, and HEADER_RESENT
 * as header_missing_scan gave it), CRLF-terminated, to out: "From:
 * <sender>" ("MAILER-DAEMON@myhostname" for <>), "Date: date",
 * "Message-ID: <YYYYMMDDhhmmss.ID@myhostname>" (UTC), each name with
 * "Resent-" before it under HEADER_RESENT.  0, or -1 when out is full.
 * Returns the bits added in *added (may be NULL).
 */
int header_missing_append(struct buf *out, unsigned have,
    const struct header_missing_vals *v, unsigned *added);

#endif
