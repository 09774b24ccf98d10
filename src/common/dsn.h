/* SPDX-License-Identifier: MIT */
/*
 * dsn - build delivery status notifications (bounces, delay notices,
 * success notices) as whole RFC 5322 messages.
 *
 * A notice is a multipart/report (RFC 6522) of three parts:
 *   1. text/plain: what happened, in plain words, per recipient;
 *   2. message/delivery-status (RFC 3464): the same, machine-readable;
 *   3. the original message: message/rfc822 (whole) or
 *      text/rfc822-headers (headers only).
 * When an address of the notice (the sender, a final recipient, an
 * ORCPT address) is not ASCII, or the message was received with
 * SMTPUTF8, the RFC 6533 forms are used instead: the "utf-8" address
 * type for non-ASCII addresses, message/global-delivery-status
 * (report-type=global-delivery-status), message/global and
 * message/global-headers.  Such a notice needs SMTPUTF8 to travel on
 * when its To: is not ASCII (dsn_needs_smtputf8()).
 *
 * Pure: no I/O, no logging, no global state, no clock (the caller
 * passes the time).  The queue manager builds the notice and queues it
 * as a new message with the null sender to p->sender.
 */
#ifndef OSTIA_DSN_H
#define OSTIA_DSN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"

/* Longest structured field (addresses, host names, ENVID, ...). */
#define DSN_FIELD_MAX_BYTES 1024
/* Free text (dsn_rcpt.text and .diagnostic) longer than this is cut
 * (at a UTF-8 character boundary) and ends in "...". */
#define DSN_TEXT_MAX_BYTES 2048
/* Output lines are at most this long, CRLF not counted (RFC 5322
 * 2.1.1); header fields and prose are folded or wrapped near 78. */
#define DSN_LINE_MAX_BYTES 998

enum dsn_kind {
	DSN_KIND_FAILURE,	/* "Undelivered Mail Returned to Sender" */
	DSN_KIND_DELAY,		/* "Delayed Mail (still being retried)" */
	DSN_KIND_SUCCESS,	/* "Successful Mail Delivery Report" */
};

/*
 * One recipient of the notice.  Strings are borrowed for the call.
 * Except where said, a string may not contain control characters
 * (CR, LF, NUL, ...; tab is allowed in text and diagnostic) and is at
 * most DSN_FIELD_MAX_BYTES long; dsn_build() refuses it otherwise.
 */
struct dsn_rcpt {
	const char *final_rcpt;	/* the address, required, no angle
				 * brackets; UTF-8 allowed */
	const char *orcpt;	/* ORCPT "type;address" (xtext-decoded, as
				 * in the queue file) or NULL */
	const char *action;	/* "failed", "delayed", "delivered",
				 * "relayed" or "expanded" (RFC 3464 2.3.3) */
	const char *status;	/* "X.Y.Z", X in 2, 4, 5 (RFC 3463) */
	const char *remote_mta;	/* host the reply came from, or NULL */
	const char *diagnostic;	/* "smtp; 550 5.1.1 ..." / "lmtp; ...", or
				 * NULL; without a "type;" prefix it is
				 * given the type "X-Ostia" */
	const char *text;	/* plain words for people, or NULL; also the
				 * Diagnostic-Code ("X-Ostia; text") when
				 * diagnostic is NULL */
	time_t last_attempt;	/* Last-Attempt-Date; 0 = omitted */
};

struct dsn_params {
	enum dsn_kind kind;
	const char *queue_id;		/* of the original: queue_id_is_valid() */
	const char *reporting_mta;	/* $myhostname: [A-Za-z0-9._-]+ */
	const char *from_addr;		/* "MAILER-DAEMON@myhostname" */
	const char *mail_name;		/* "Ostia", for the prose */
	const char *sender;		/* original sender = To: of the notice;
					 * not empty (no notice to <>) */
	const char *envid;		/* ENVID (decoded) or NULL; any bytes:
					 * xtext-encoded on output */
	bool ret_full;			/* RET=FULL (the caller maps "no RET"
					 * to FULL, as Postfix does) */
	bool smtputf8;			/* the original came with SMTPUTF8:
					 * use the RFC 6533 media types */
	time_t arrival;			/* Arrival-Date; 0 = omitted */
	time_t now;			/* Date: and Message-ID */
	time_t retry_until;		/* delay notices: Will-Retry-Until of
					 * "delayed" recipients and the prose;
					 * 0 = not said */
	const char *received_from;	/* "client[addr]" for
					 * Received-From-MTA, or NULL */
	const struct dsn_rcpt *rcpts;	/* at least one */
	size_t nrcpts;
	const char *content;		/* the original message, CRLF (bare
					 * LF tolerated), Received: first */
	size_t content_len;
	uint64_t size_limit;		/* bounce_size_limit: most bytes of
					 * original text in part 3; 0 = none */
	const char *message_id_domain;	/* right of '@' in Message-ID; NULL =
					 * reporting_mta */
	const char *copy_of_sender;	/* NULL, or a postmaster copy
					 * (notify_classes): the notice goes
					 * to sender (the postmaster) about a
					 * message from this address (not
					 * empty); its Subject and prose say
					 * so, X-Ostia-Sender names this
					 * address, and part 3 holds the
					 * headers only */
	uint64_t unique;		/* random or unique per notice: in
					 * Message-ID and the MIME boundary */
};

/*
 * dsn_build - append the whole notice for p to out.
 *
 * The notice is an RFC 5322 message with CRLF line ends, every line at
 * most DSN_LINE_MAX_BYTES octets (header fields are folded, prose is
 * wrapped, over-long lines of the original are broken: header lines
 * with a fold, body lines with a plain line break).  Headers: Date
 * (UTC, "+0000"), From ("Mail Delivery System <from_addr>"), To
 * (<sender>), Subject, Message-ID, Auto-Submitted: auto-replied
 * (RFC 3834 5), MIME-Version, Content-Type, Content-Transfer-Encoding
 * (8bit when any 8-bit byte is in the notice, else 7bit).
 *
 * Part 3: for a failure notice with ret_full, the whole original as
 * message/rfc822 when content_len <= size_limit (or size_limit is 0);
 * otherwise only its header section, as text/rfc822-headers, and the
 * prose says why.  Delay and success notices always carry the headers
 * only (RFC 3461 4.3: RET=FULL asks for the message in "failed" DSNs).
 * The header section is the original's lines up to the first empty
 * line, or up to the first line that is neither a header field nor a
 * continuation (that line then starts the body; message/rfc822 gets
 * the missing empty line).  Headers longer than size_limit are cut
 * after the last whole field that fits, and the prose says so.
 * 8-bit original content is passed as is with
 * Content-Transfer-Encoding: 8bit (RFC 6152 8BITMIME); nothing is
 * re-encoded.
 *
 * Returns 0 on success.  On error returns -1, leaves out unchanged and
 * sets *error_r to a static text: a missing or invalid field (a string
 * with CR, LF or another control character, a bad status or action,
 * no recipients, an empty sender), or a notice larger than out may
 * hold.  error_r may not be NULL.
 */
int dsn_build(const struct dsn_params *p, struct buf *out,
    const char **error_r);

/*
 * dsn_needs_smtputf8 - true when the notice's own header (To:) holds a
 * non-ASCII address, so it can only be relayed with SMTPUTF8.  (The
 * body of a notice with RFC 6533 types is 8-bit data; 8BITMIME
 * suffices for it.)
 */
bool dsn_needs_smtputf8(const struct dsn_params *p);

/*
 * dsn_is_global - true when dsn_build() uses the RFC 6533 types
 * (p->smtputf8, or a non-ASCII sender, final recipient or ORCPT).
 */
bool dsn_is_global(const struct dsn_params *p);

#endif
