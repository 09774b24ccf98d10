/* SPDX-License-Identifier: MIT */
/*
 * soft_bounce - Postfix's soft_bounce safety net: while it is on, no
 * mail is refused or returned for good.
 *
 * An admin turns it on while testing or moving a configuration (for
 * example from Postfix to Ostia), so that a mistake in the new set-up
 * delays mail instead of losing it:
 *
 *   - smtpd sends every 5xx reply as 4xx (550 5.1.1 becomes 450
 *     4.1.1), so the client keeps the message and tries again; the
 *     reject log line shows the reply as sent;
 *   - a delivery agent reports (and logs) a recipient it, or a remote
 *     server, refused for good as deferred, with its status 5.X.Y as
 *     4.X.Y and SOFT_BOUNCE_NOTE after the reason; the queue manager
 *     does the same with what it would return itself, so the message
 *     stays queued and no bounce is sent; nor does it expire.
 *
 * Turn it off again once the logs are clean: mail that would have
 * bounced then bounces at its next attempt.
 */
#ifndef OSTIA_SOFT_BOUNCE_H
#define OSTIA_SOFT_BOUNCE_H

#include <stdbool.h>
#include <stddef.h>

/* What a kept refusal's reason ends with, in the log and the queue. */
#define SOFT_BOUNCE_NOTE \
	" (kept in the queue: soft_bounce = yes; it would have bounced)"

/*
 * soft_bounce_reply - in the SMTP reply text (len bytes, one or more
 * lines ending in CRLF or LF, the last one maybe without), turn every
 * line's reply code 5yz into 4yz and an enhanced status code 5.Y.Z
 * right after it into 4.Y.Z.  Other replies and text are not touched.
 * Returns whether anything changed.
 */
bool soft_bounce_reply(char *text, size_t len);

/*
 * soft_bounce_dsn - the enhanced status code dsn ("5.1.1") as a
 * temporary one: 5.Y.Z becomes 4.Y.Z in place; anything else stays.
 */
void soft_bounce_dsn(char *dsn);

#endif
