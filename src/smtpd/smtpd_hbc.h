/* SPDX-License-Identifier: MIT */
/*
 * smtpd_hbc - the SMTP server's side of header and body checks
 * (header_checks, mime_header_checks, nested_header_checks,
 * body_checks; Postfix header_checks(5)): the tables, opened in the
 * smtpd process itself, and one scanner (hbc.h) per message between the
 * DATA/BDAT reader and the queue file.
 *
 * Tables.  smtpd_hbc_init() opens the four lists of the service's view
 * with their settings (header_size_limit, line_length_limit,
 * body_checks_size_limit, mime_nesting_limit,
 * disable_mime_input_processing).  It must run before privileges are
 * dropped and before any chroot (child_program.preinit): the files are
 * usually under the configuration directory and checked like every
 * table file (owned by root or mail_owner, not writable by others).  A
 * table is looked up once per header and per body line, so these are
 * local tables: pcre: and regexp: (and other local types); proxy: and
 * the network types (mysql:, pgsql:) are refused, because a blocking
 * lookup would stall every session.  A table that cannot be opened is
 * logged at start and then every message is refused with "451 4.3.0"
 * (fail closed: never a silent pass).  Nothing is opened, and nothing
 * checked, when receive_override_options has no_header_body_checks
 * (the re-injection listener after a content filter) or every list is
 * empty.
 *
 * Keys reach pcre: and regexp: tables as the bytes of the message, in
 * byte mode: a header or line that is not valid UTF-8 is still matched
 * (message text is often Latin-1, and one stray byte must not hide a
 * message from the checks), unlike address lookups.  A pattern that
 * opted into (*UTF) fails on such a key, and a $N result that is not
 * UTF-8 fails too: both are table failures (451).  pcre: tables see the
 * whole key (up to header_size_limit, with PCRE2's match limits);
 * regexp: tables see its first DICT_KEY_MAX_BYTES bytes (glibc's
 * regexec has no step limit); other tables only keys of at most
 * DICT_KEY_MAX_BYTES (no such table can hold a longer one).
 *
 * Decisions at the end of the message (smtpd_hbc_finish):
 *   REJECT   "550 5.7.1 text" (or "451 4.x.y text"): nothing is queued
 *   DISCARD  "250 2.0.0 Ok: queued as ID", nothing is queued
 *   a table failure or a table that did not open: "451 4.3.0 Error:
 *            temporary lookup failure", nothing is queued
 *   otherwise the message is queued as the checks changed it, with
 *            HOLD/FILTER/REDIRECT/BCC for the queue-file trailer
 *            (smtpd_hbc_trailer).
 * Every action is logged as Postfix's cleanup does: "ID: reject: header
 * Subject: ... from CLIENT; from=<...> to=<...> proto=ESMTP
 * helo=<...>: 5.7.1 text".
 *
 * Message text goes through the checks as smtpd stores it: smtpd's own
 * Received: header first (as in Postfix, where smtpd sends it to
 * cleanup: header_checks see it), then the client's text.
 *
 * Runs in smtpd, one event loop; not thread-safe.
 */
#ifndef OSTIA_SMTPD_HBC_H
#define OSTIA_SMTPD_HBC_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "hbc.h"
#include "queue_file.h"
#include "smtp_data.h"

struct session;
struct smtpd_hbc;

/* Open the tables of view v (see above).  Call once, before privileges
 * are dropped.  Problems are logged; never fatal. */
void smtpd_hbc_init(const struct config_view *v);
/* Close the tables (tests, a clean exit). */
void smtpd_hbc_deinit(void);
/* True when messages are checked (or refused because a table is
 * broken). */
bool smtpd_hbc_active(void);

/*
 * The checks for the message of s, whose text is about to start: the
 * checked text goes to out(out_ctx, ...).  NULL when no checks apply
 * (smtpd_hbc_active() false): then write the text directly.  s is used
 * for the log (queue ID, client, sender, recipients) and must outlive
 * the result.
 */
struct smtpd_hbc *smtpd_hbc_start(struct session *s, smtp_data_out_fn *out,
    void *out_ctx);
/* Message bytes, any split.  Once the message is refused or discarded
 * nothing more is passed to out. */
void smtpd_hbc_feed(struct smtpd_hbc *h, const char *data, size_t len);

enum smtpd_hbc_outcome {
	SMTPD_HBC_QUEUE,	/* commit the message (see the trailer) */
	SMTPD_HBC_REFUSE,	/* reply with reply (4xx/5xx), queue nothing */
	SMTPD_HBC_DISCARD,	/* reply 250, queue nothing */
};

/*
 * The end of the message: the rest of the text is passed to out and
 * the outcome decided (and logged when it is a failure).  For REFUSE,
 * reply (replysz >= 64) holds the whole reply line ("550 5.7.1 ...").
 */
enum smtpd_hbc_outcome smtpd_hbc_finish(struct smtpd_hbc *h, char *reply,
    size_t replysz);
/* What the checks decided (complete after smtpd_hbc_finish). */
const struct hbc_result *smtpd_hbc_result(const struct smtpd_hbc *h);
/*
 * Copy HOLD, FILTER, REDIRECT and BCC into env's trailer fields
 * (queue_writer_trailer): the checks' FILTER and REDIRECT replace what
 * env had (the last one counts, and the checks come after the access
 * maps), HOLD is kept when env already has one, BCCs are added.
 */
void smtpd_hbc_trailer(const struct smtpd_hbc *h, struct queue_envelope *env);
void smtpd_hbc_free(struct smtpd_hbc **hp);

/*
 * The message's checks in s->hbc.  attach: h becomes s's (replacing
 * and freeing an older one); of: s's, or NULL; release: free s's, if
 * any.
 */
void smtpd_hbc_attach(struct session *s, struct smtpd_hbc *h);
struct smtpd_hbc *smtpd_hbc_of(const struct session *s);
void smtpd_hbc_release(struct session *s);

#endif
