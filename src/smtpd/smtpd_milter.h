/* SPDX-License-Identifier: MIT */
/*
 * smtpd_milter - smtpd's use of the Milter client (milter_client.h):
 * the filters of smtpd_milters see each session.
 *
 *   connect   after the greeting (and the TLS handshake on a wrapper
 *             port), and after smtpd_client_restrictions when
 *             smtpd_delay_reject = no
 *   HELO      each HELO/EHLO the restrictions accept
 *   MAIL      each MAIL FROM the restrictions accept
 *   RCPT      each RCPT TO the restrictions accept
 *   message   at the end of DATA or the last BDAT chunk, after
 *             smtpd_end_of_data_restrictions, before the commit
 *
 * The session's input is paused while a filter event runs.  A refusal
 * at connect, or a failed filter whose default_action is reject or
 * tempfail, is given to every later command but QUIT, RSET and NOOP;
 * at HELO, MAIL and RCPT to that command; at the end of the message to
 * the message.  Envelope edits change the session's recipients and
 * queue_sender; smtpd_txn.c writes the queue file again when the
 * filters changed anything.  Macros come from the session (see
 * docs/architecture.md for the list).
 */
#ifndef OSTIA_SMTPD_MILTER_H
#define OSTIA_SMTPD_MILTER_H

#include <stdbool.h>
#include <stddef.h>

struct buf;
struct config_view;
struct session;

/* Read smtpd_milters of the service's view; false when none. */
bool smtpd_milter_init(const struct config_view *v);

/*
 * The answer to an event: reply NULL to go on, else the reply for the
 * command, which has been logged with the filter's name.  Called from
 * the event loop, with the session's input resumed after it.
 */
typedef void smtpd_milter_done(struct session *s, const char *reply);

/* The events: true when filters take part (done follows later), false
 * when none does (go on at once; done is not called). */
bool smtpd_milter_connect(struct session *s, smtpd_milter_done *done);
bool smtpd_milter_helo(struct session *s, smtpd_milter_done *done);
bool smtpd_milter_mail(struct session *s, smtpd_milter_done *done);
bool smtpd_milter_rcpt(struct session *s, const char *rcpt,
    smtpd_milter_done *done);
bool smtpd_milter_eom(struct session *s, smtpd_milter_done *done);

/* See milter_client.h: milter_sticky, milter_wants_content, ... */
const char *smtpd_milter_sticky(const struct session *s);
bool smtpd_milter_wants_content(const struct session *s);
void smtpd_milter_content(struct session *s, const char *data, size_t len);
bool smtpd_milter_discarded(const struct session *s);
const char *smtpd_milter_hold(const struct session *s);
const struct buf *smtpd_milter_new_content(const struct session *s);
bool smtpd_milter_envelope_changed(const struct session *s);
/* The transaction ends; the session ends (QUIT, close). */
void smtpd_milter_txn_end(struct session *s);
void smtpd_milter_session_end(struct session *s);

#endif
