/* SPDX-License-Identifier: MIT */
/*
 * smtpd_notice - Postfix's notify_classes for the SMTP server: a
 * session transcript mailed to the postmaster when the session had an
 * error of a class the admin asked about (notify_class.h: policy,
 * protocol, resource, software, bounce; the default "resource,
 * software" reports mail turned away because of a problem here).
 *
 * While any of those classes is on, each session keeps a transcript:
 * "In:" lines for what the client sent (commands only; never message
 * text; AUTH arguments and SASL responses shown as "****"), "Out:" lines
 * for the replies as the client got them.  Client text is escaped
 * (log_escape) and each line cut at SMTPD_NOTICE_LINE_MAX_BYTES.  Each
 * error reply is classed by notify_class_of_reply().
 *
 * At HELO/EHLO, RSET and each queued message, a transcript longer than
 * smtpd_history_flush_threshold lines is sent (when it holds an error
 * of a wanted class) or dropped, and a new one starts; at the end of the
 * session it is sent when it holds such an error.  Between those
 * points it keeps at most 4 times the threshold lines (and
 * SMTPD_NOTICE_MAX_BYTES), then notes how many lines it left out and
 * goes on classing errors.
 *
 * The notice is a new message from double_bounce_sender@$myhostname
 * (so that a notice that cannot be delivered is dropped, never bounced)
 * to error_notice_recipient (bounce_notice_recipient when bounce is the
 * only wanted class of its errors; a bare name gets @$myorigin), queued
 * through the queue process like any message.  At most
 * SMTPD_NOTICE_PER_MINUTE notices per smtpd process and minute: past
 * that they are counted and logged, not sent, so a swarm of bad clients
 * cannot flood the postmaster.
 */
#ifndef OSTIA_SMTPD_NOTICE_H
#define OSTIA_SMTPD_NOTICE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

#define SMTPD_NOTICE_LINE_MAX_BYTES 600
#define SMTPD_NOTICE_MAX_BYTES (256 * 1024)
#define SMTPD_NOTICE_PER_MINUTE 60

struct session;
struct smtpd_transcript;

/* Read notify_classes, error_notice_recipient, double_bounce_sender
 * and smtpd_history_flush_threshold from the service's view. */
void smtpd_notice_init(const struct config_view *v);
/* True when some class wants transcripts (then call the others). */
bool smtpd_notice_wanted(void);
/* A command line from the client (len bytes, no CRLF), as received;
 * in_auth: a SASL response line, never shown. */
void smtpd_notice_in(struct session *s, const char *line, size_t len,
    bool in_auth);
/* A reply line as sent (no CRLF). */
void smtpd_notice_out(struct session *s, const char *line, size_t len);
/* HELO/EHLO, RSET or a queued message: send or drop a long transcript. */
void smtpd_notice_checkpoint(struct session *s);
/* The session ends: send the transcript if it holds a wanted error;
 * free it. */
void smtpd_notice_session_end(struct session *s);
/* Notices still on their way to the queue (a draining process waits
 * for them; each one that ends tells child_connection_done). */
size_t smtpd_notice_pending(void);

#endif
