/* SPDX-License-Identifier: MIT */
/*
 * smtpd_milter - smtpd's Milter client (smtpd_milters): each SMTP
 * session talks to every filter of the list over a connection of its
 * own, on smtpd's event loop, with the protocol of milter_proto.h.
 *
 * Events, in this order, each sent to the filters in list order and
 * after Ostia's own restrictions have passed at that stage:
 *
 *   connect   after the greeting (and the TLS handshake on a wrapper
 *             port): macros, CONNECT
 *   HELO      each HELO/EHLO the restrictions accept
 *   MAIL      each MAIL FROM the restrictions accept
 *   RCPT      each RCPT TO the restrictions accept
 *   message   at the end of the message, before it is committed: DATA,
 *             the headers (not the Received: line Ostia added, which
 *             stays first, as in Sendmail), end of headers, the body in
 *             chunks of at most 64 KiB, end of message
 *   ABORT     a transaction that ends without reaching the end of the
 *             message (RSET, HELO, a refusal, the client leaving)
 *   QUIT      the session ends
 *
 * A filter's reply: continue; accept (no more events from this filter
 * for the session at connect/HELO, for the transaction later);
 * reject (550 5.7.1 Command rejected; at the end of the message 550
 * 5.7.1 Message content rejected); tempfail (451 4.7.1 Service
 * unavailable - try again later); a reply code of its own (4xx/5xx,
 * checked); discard (the message is answered 250 and dropped; from
 * MAIL on).  A refusal at connect is given to every later command but
 * QUIT, RSET and NOOP; at HELO, MAIL and RCPT to that command; at the
 * end of the message to the message.
 *
 * At the end of the message a filter may also change it: add, insert,
 * change or delete headers, replace the body, add or remove recipients,
 * change the sender, quarantine it (the message is held:
 * `ostia queue release`).  The next filter sees the message as changed
 * by the ones before it.  smtpd keeps a copy of the message while it
 * is received when filters are in use (at most message_size_limit) and
 * rewrites the queue file when something changed.
 *
 * A filter that cannot be reached, does not answer in time
 * (milter_connect_timeout, milter_command_timeout, and
 * milter_content_timeout for the message), or breaks the protocol is
 * logged with the reason in words and then handled as its
 * default_action (milter_default_action or its own): accept (as if it
 * were not there), reject or tempfail (every later command of the
 * session gets 550 5.7.1 / 451 4.7.1), quarantine (go on, and hold
 * the messages it would have seen).
 *
 * Entries of smtpd_milters: "inet:host:port" (host a name or address,
 * IPv6 in brackets; a name is looked up at each connection, which
 * blocks), "unix:pathname" (relative to queue_directory, as in
 * Postfix), "local:pathname", and Postfix's per-filter settings
 * "{ endpoint, default_action = ..., connect_timeout = ...,
 * command_timeout = ..., content_timeout = ..., protocol = ... }".
 */
#ifndef OSTIA_SMTPD_MILTER_H
#define OSTIA_SMTPD_MILTER_H

#include <stdbool.h>
#include <stddef.h>

struct config_view;
struct session;
struct buf;

/* Filters in one list, at most. */
#define SMTPD_MILTERS_MAX 16
/*
 * Message copies held for the filters by one smtpd process, all its
 * sessions together, at most: a message that would pass it is refused
 * with 452 4.3.1 (the client tries again later) instead of being let
 * through unfiltered.
 */
#define SMTPD_MILTER_COPIES_MAX ((size_t)512 * 1024 * 1024)

/*
 * Read smtpd_milters and the milter_* settings of the service's view.
 * A bad entry is fatal at start-up (the reason is logged).  Returns
 * false when there are none.
 */
bool smtpd_milter_init(const struct config_view *v);
/* Filters are configured for this service. */
bool smtpd_milter_enabled(void);

/* One milter entry parsed (tests, `ostia check`): 0, or -1 with the
 * reason in err. */
int smtpd_milter_spec_check(const char *text, char *err, size_t errsz);

/*
 * The answer to an event: reply NULL to go on, else the reply for the
 * command, which this module has logged with the filter's name.  Called from the event
 * loop; the session's input is paused until then and resumed after.
 */
typedef void smtpd_milter_done(struct session *s, const char *reply);

/*
 * The events.  Each returns true when filters take part (done follows
 * later), false when none does (go on at once; done is not called).
 */
bool smtpd_milter_connect(struct session *s, smtpd_milter_done *done);
bool smtpd_milter_helo(struct session *s, smtpd_milter_done *done);
bool smtpd_milter_mail(struct session *s, smtpd_milter_done *done);
bool smtpd_milter_rcpt(struct session *s, const char *rcpt,
    smtpd_milter_done *done);
/* The end of the message: DATA, headers, body, end of message (see the
 * top).  Envelope edits are made in the session (its recipients and
 * queue_sender). */
bool smtpd_milter_eom(struct session *s, smtpd_milter_done *done);

/* A refusal given to every command (connect stage, or a filter that
 * failed with default_action reject/tempfail), or NULL. */
const char *smtpd_milter_sticky(const struct session *s);
/* The message is to be kept: a copy of its text is wanted. */
bool smtpd_milter_wants_content(const struct session *s);
/* The message text as it goes into the queue file (a copy). */
void smtpd_milter_content(struct session *s, const char *data, size_t len);
/* After smtpd_milter_eom: a filter discarded the message (also from
 * MAIL or RCPT on). */
bool smtpd_milter_discarded(const struct session *s);
/* After smtpd_milter_eom: why the message is held (quarantine), or
 * NULL. */
const char *smtpd_milter_hold(const struct session *s);
/* After smtpd_milter_eom: the new message text when a filter changed
 * it, else NULL; or when the envelope changed. */
const struct buf *smtpd_milter_new_content(const struct session *s);
bool smtpd_milter_envelope_changed(const struct session *s);

/* The transaction ends (ABORT unless its message has ended). */
void smtpd_milter_txn_end(struct session *s);
/* The session ends: QUIT and close every connection. */
void smtpd_milter_session_end(struct session *s);

#endif
