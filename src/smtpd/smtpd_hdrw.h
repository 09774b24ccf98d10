/* SPDX-License-Identifier: MIT */
/*
 * smtpd_hdrw - header address rewriting in the SMTP server: what
 * Postfix's cleanup does to the addresses in a message's headers, done
 * between the header and body checks (smtpd_hbc.h, which see the
 * original headers) and the queue file.
 *
 * Whose headers.  A client named by local_header_rewrite_clients
 * (permit_inet_interfaces: the client address is one of this host's
 * addresses per inet_interfaces; permit_mynetworks;
 * permit_sasl_authenticated; static:all) gets the "local" context; any
 * other client gets the "remote" context when remote_header_rewrite_domain
 * is set, else its headers are not touched at all.
 *
 * What.  Only the primary header block (up to the first empty line, or
 * the first line that is neither a header nor a continuation), only the
 * address headers (header_addr.h: sender and recipient classes), only
 * the addr-specs in them (header_addr_scan).  An address without '@'
 * gets "@$myorigin" (append_at_myorigin), then "user@host" gets
 * ".$mydomain" when append_dot_mydomain is on and host has no dot
 * (header_rewrite.h); the remote context uses
 * $remote_header_rewrite_domain for both.  Then, unless
 * receive_override_options has
 * no_address_mappings, the address is mapped by the canonical tables
 * whose *_canonical_classes name header_sender / header_recipient, one
 * ROUTE request (LOOKUP_ROUTE_HEADER_*) per distinct address to the
 * lookup process, all in flight at once; at most
 * SMTPD_HDRW_LOOKUPS_MAX per message (more are left as they are, with a
 * warning).  Everything else stays byte for byte.
 *
 * Missing headers.  For the local context (and every client with
 * always_add_missing_headers = yes), the block gets what it lacks of
 * From: (the envelope sender), Date: and Message-ID: at its end
 * (header_missing.h), after the rewriting; a remote client's
 * addresses are still not rewritten without remote_header_rewrite_domain.
 *
 * Waiting.  The header block is held in memory (at most
 * SMTPD_HDRW_BLOCK_MAX_BYTES; a longer one is passed on unrewritten,
 * with a warning) until it ends; while lookups are in flight the session
 * is paused (s->paused) and text that was already read is held too.
 * When the answers are in, the rewritten block and the held text go to
 * the output and the session resumes (smtpd_session_process).
 *
 * Failure is never a silent pass: a lookup that fails makes the message
 * refused at its end with "451 4.3.0 Error: temporary lookup failure"
 * and a log line naming the header address and the cause; nothing of it
 * is queued.
 *
 * Runs in smtpd, one event loop; not thread-safe.
 */
#ifndef OSTIA_SMTPD_HDRW_H
#define OSTIA_SMTPD_HDRW_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "smtp_data.h"

#define SMTPD_HDRW_LOOKUPS_MAX 1000
#define SMTPD_HDRW_BLOCK_MAX_BYTES (1024 * 1024)

struct session;
struct smtpd_hdrw;

/* Read the settings of view v (the service's).  Call once at start;
 * problems (an unknown local_header_rewrite_clients element) are
 * logged. */
void smtpd_hdrw_init(const struct config_view *v);
void smtpd_hdrw_deinit(void);

/*
 * The rewriter for the message of s, whose text is about to start, or
 * NULL when its headers are not rewritten (then write the text
 * directly).  The text goes on to out(out_ctx, ...).
 */
struct smtpd_hdrw *smtpd_hdrw_start(struct session *s, smtp_data_out_fn *out,
    void *out_ctx);
/* Message bytes as stored (CRLF line ends), any split.  May pause the
 * session (see above). */
void smtpd_hdrw_feed(struct smtpd_hdrw *w, const char *data, size_t len);

/* What smtpd_txn does when the rewriter is done (finish below). */
typedef void smtpd_hdrw_done_fn(struct session *s, bool ok);

/*
 * The end of the message (after the header and body checks flushed).
 * Returns 1 when everything has gone to the output, 0 when the message
 * must be refused (451; logged already), or -1 when answers are still
 * awaited: then the session is paused and done(s, ok) runs from the
 * event loop later (ok as the 1/0 above), unless the rewriter is freed
 * first.
 */
int smtpd_hdrw_finish(struct smtpd_hdrw *w, smtpd_hdrw_done_fn *done);
/* Cancel what is in flight and free; *wp becomes NULL. */
void smtpd_hdrw_free(struct smtpd_hdrw **wp);

#endif
