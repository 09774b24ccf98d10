/* SPDX-License-Identifier: MIT */
/*
 * hbc - header and body checks (Postfix header_checks(5)): a scanner
 * that is fed the message text as it is stored (CRLF line ends, any
 * split), finds the primary headers, the MIME headers of body parts,
 * the headers of attached messages and the body lines, asks a lookup
 * callback about each, applies the action found and passes the
 * (possibly changed) text on to an output callback.  Message-level
 * decisions (REJECT, DISCARD, HOLD, FILTER, REDIRECT, BCC, a table
 * failure) are collected in a struct hbc_result.
 *
 * Pure: no tables, no I/O, no logging of its own; the caller supplies
 * the lookup (smtpd_hbc.c: pcre:/regexp: tables opened in smtpd), the
 * output (the queue file) and the log.  Fuzzed by tests/fuzz/fuzz_hbc.c.
 *
 * What is checked, and against which table class (Postfix 3.x
 * semantics, cleanup(8) and mime_state):
 *
 *   HBC_HEADER  header_checks: each logical header of the primary header
 *               block, except the MIME headers.
 *   HBC_MIME    mime_header_checks: every MIME header (Content-Type,
 *               Content-Transfer-Encoding, Content-Disposition,
 *               Content-Description, Content-ID, MIME-Version; any case)
 *               wherever it is, and every header of a multipart body
 *               part's header block.
 *   HBC_NESTED  nested_header_checks: the non-MIME headers of an
 *               attached message (the header block after a
 *               message/rfc822 part's or message's empty line).
 *   HBC_BODY    body_checks: every other line, one physical line at a
 *               time, including the MIME boundary lines and the lines of
 *               a header block that ended without an empty line.
 *
 * Logical headers.  A header is a line "name:" (name: printable ASCII
 * but ':', optional spaces or tabs before the colon) and the
 * continuation lines after it (lines that start with a space or a tab).
 * It is matched as ONE string: its lines without their line ends,
 * joined with "\n" (as Postfix passes a multi-line header to its
 * tables: "Subject: a\n\tb").  With pcre tables "." matches that "\n"
 * (pcre's s flag is on by default) and "^"/"$" match only at the very
 * start and end unless the m flag is given.  Only the first
 * header_limit bytes of that string are matched (header_size_limit);
 * the queued header is never shortened: when a header passes the limit
 * its action is decided on the first header_limit bytes and applies to
 * the whole header (IGNORE and REPLACE drop the rest of it too).
 *
 * Header blocks.  The primary block starts the message and ends at the
 * first empty line.  A line that is neither a header, a continuation
 * nor empty ends the block too and is body text (Postfix inserts an
 * empty line there; we leave the text as it is).  MIME (RFC 2045/2046),
 * unless disable_mime: a Content-Type of multipart/... with boundary=
 * parameters (each one, quoted or not, at most HBC_BOUNDARY_MAX_BYTES
 * kept) makes body lines that start with "--" + a boundary (anything
 * may follow) start a part whose header block follows; "--" boundary
 * "--" closes the multipart (and every part nested inside it).  A
 * multipart/digest part defaults to message/rfc822.  A message/rfc822
 * block's empty line starts the nested message's header block.  At most
 * mime_depth multipart levels are tracked (mime_nesting_limit); deeper
 * boundaries are body text.  The Content-Type is read from the header
 * as received, before its action (an IGNOREd Content-Type still
 * structures the message, as in Postfix).  With disable_mime
 * (disable_mime_input_processing) every header of the primary block is
 * HBC_HEADER and everything after it is body.
 *
 * Body lines.  Each physical line is matched alone, without its line
 * end; a line longer than line_limit bytes (line_length_limit) is
 * matched in pieces of line_limit bytes, each piece on its own, and
 * boundaries are recognised only at the start of a line.  Empty lines
 * are never looked up (Postfix: "empty lines never match").  In each
 * body segment (the text after a header block, or after a closing
 * boundary) only lines that start within the first body_limit bytes
 * (body_checks_size_limit, bytes as stored) are looked up; boundary
 * lines are always looked up.
 *
 * Actions (the value a table returns: a word, any case, then optional
 * text after spaces or tabs):
 *   REJECT [text]    refuse the message: HBC_REJECT with "5.7.1 text"
 *                    (text that starts with an enhanced status code
 *                    "4.x.y" or "5.x.y" keeps it; 4.x.y makes it a
 *                    temporary refusal; "2.x.y" becomes "4.x.y"; no text:
 *                    "5.7.1 Message content rejected").  Stops the checks.
 *   DISCARD [text]   claim delivery, drop the message: HBC_DISCARD.
 *                    Stops the checks.
 *   WARN [text]      log ("warning"), go on.
 *   INFO [text]      log ("info"), go on.
 *   HOLD [text]      put the message on hold (the first HOLD counts).
 *   FILTER t:d       route the message through the content filter
 *                    transport:destination (the last FILTER counts).
 *   REDIRECT a@d     send the message to a@d instead of its recipients
 *                    (the last REDIRECT counts).
 *   BCC a@d          add a recipient (duplicates ignored; at most
 *                    HBC_BCC_MAX, further ones are logged and dropped).
 *   PREPEND text     insert the line "text" before this header or line
 *                    (for a header it must itself look like a header).
 *                    The inserted line is not checked.
 *   REPLACE text     replace this header (or body line) with "text"
 *                    (for a header it must look like a header).
 *   IGNORE           delete this header or body line.
 *   DUNNO, OK        nothing.
 * An action with a missing or unusable argument, or an unknown word, is
 * reported through the warn callback and does nothing (Postfix logs a
 * warning too); so is, with delivery_only (smtp_header_checks and the
 * others, applied on delivery), every action that would change the
 * delivery rather than the text (REJECT to BCC).  Text that a $N substitution brought into PREPEND or
 * REPLACE may hold the "\n" of a folded header: each becomes CRLF, and
 * in a header a tab is added when the next line would not start with
 * white space, so the text can never start a new header.  REJECT,
 * DISCARD and HOLD texts are made one line of printable ASCII (control
 * bytes become spaces, other bytes '?') of at most HBC_TEXT_MAX_BYTES
 * bytes: a REJECT text is sent to the client.
 *
 * A lookup that fails (HBC_TEMPFAIL) makes the result HBC_TEMPFAIL with
 * the reason and stops the checks: the message must then be refused
 * with a temporary error, never accepted unchecked.  After REJECT,
 * DISCARD or a failure the rest of the text is passed on unchanged and
 * nothing more is looked up.
 *
 * Bounded memory: one line piece (line_limit + 1 bytes), one logical
 * header (its first header_limit bytes, twice: as received and as
 * matched, plus one line piece), the boundary stack (mime_depth entries
 * of at most HBC_BOUNDARY_MAX_BYTES), the action texts and the BCC list.
 * Nothing depends on how the input is split: fed whole or one byte at a
 * time, the output bytes, the lookups (class, key, order) and the result
 * are the same.
 *
 * Not thread-safe; one scanner per message.
 */
#ifndef OSTIA_HBC_H
#define OSTIA_HBC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Postfix's mime_boundary_length_limit default. */
#define HBC_BOUNDARY_MAX_BYTES 2048
/* Longest REJECT/DISCARD/HOLD text kept (bytes). */
#define HBC_TEXT_MAX_BYTES 512
/* Most BCC addresses one message collects. */
#define HBC_BCC_MAX 100
/* Room for a lookup's error text. */
#define HBC_ERR_MAX_BYTES 1024
/* Longest value a lookup may return (as DICT_VALUE_MAX_BYTES). */
#define HBC_VALUE_MAX_BYTES (64 * 1024)

enum hbc_class {
	HBC_HEADER,		/* header_checks */
	HBC_MIME,		/* mime_header_checks */
	HBC_NESTED,		/* nested_header_checks */
	HBC_BODY,		/* body_checks */
	HBC__NCLASS
};

/* The parameter name of a class ("header_checks", ...). */
const char *hbc_class_param(enum hbc_class cls);

enum hbc_lookup_status {
	HBC_TEMPFAIL = -1,
	HBC_NOTFOUND = 0,
	HBC_FOUND = 1,
};

/*
 * Look key up in the tables of cls.  key (keylen bytes, NUL-terminated,
 * may hold other NUL bytes) is a logical header or a body line piece,
 * keylen >= 1.  HBC_FOUND with the action appended to the empty buffer
 * value (its maximum is HBC_VALUE_MAX_BYTES); HBC_NOTFOUND; or
 * HBC_TEMPFAIL with err (errsz bytes) saying why.
 */
typedef int hbc_lookup_fn(void *ctx, enum hbc_class cls, const char *key,
    size_t keylen, struct buf *value, char *err, size_t errsz);
/* Receives the text to store; any split, len >= 1. */
typedef void hbc_out_fn(void *ctx, const char *data, size_t len);

/* An action taken, for the log. */
struct hbc_event {
	const char *action;	/* "reject", "discard", "warning", "info",
				 * "hold", "filter", "redirect", "bcc",
				 * "prepend", "replace" */
	enum hbc_class cls;
	const char *content;	/* what matched (header or line piece) */
	size_t content_len;
	const char *text;	/* the action's text ("" if none); reject:
				 * the reply text with its status code */
};
typedef void hbc_log_fn(void *ctx, const struct hbc_event *ev);
/* A table result that cannot be used (message for a warning; it may
 * quote table text and message text: escape it before logging). */
typedef void hbc_warn_fn(void *ctx, enum hbc_class cls, const char *msg);

struct hbc_config {
	size_t header_limit;	/* header_size_limit, >= 1 */
	size_t line_limit;	/* line_length_limit, >= 1 */
	uint64_t body_limit;	/* body_checks_size_limit */
	unsigned mime_depth;	/* mime_nesting_limit */
	bool disable_mime;	/* disable_mime_input_processing */
	bool delivery_only;	/* smtp_*_checks: REJECT, DISCARD, HOLD,
				 * FILTER, REDIRECT and BCC are refused
				 * (warn callback) and do nothing; the
				 * warnings name smtp_header_checks... */
};

/* Postfix's defaults: 102400, 2048, 51200, 100, no. */
void hbc_config_init(struct hbc_config *cfg);

struct hbc_callbacks {
	hbc_lookup_fn *lookup;	/* required */
	hbc_out_fn *out;	/* required */
	hbc_log_fn *log;	/* may be NULL */
	hbc_warn_fn *warn;	/* may be NULL */
	void *ctx;
};

enum hbc_verdict {
	HBC_ACCEPT,		/* queue it (with hold/filter/... below) */
	HBC_REJECT,		/* refuse: code and text */
	HBC_DISCARD,		/* claim success, queue nothing */
	HBC_FAILED,		/* a table failed: temporary refusal */
};

struct hbc_result {
	enum hbc_verdict verdict;
	int code;		/* REJECT: 550, or 451 for a 4.x.y text */
	char *text;		/* REJECT: "5.7.1 ..." (one line); DISCARD:
				 * its text ("" if none); FAILED: the
				 * lookup's reason; else NULL */
	char *hold;		/* HOLD text ("" if none); NULL: no HOLD */
	char *filter;		/* "transport:destination"; NULL: none */
	char *redirect;		/* address; NULL: none */
	char **bccs;		/* nbccs addresses */
	size_t nbccs;
};

struct hbc;

/* A scanner for one message; cfg and cb are copied. */
struct hbc *hbc_new(const struct hbc_config *cfg,
    const struct hbc_callbacks *cb);
/* Message bytes, any split; output and lookups happen during the call. */
void hbc_feed(struct hbc *h, const char *data, size_t len);
/*
 * The end of the message: a last line without a line end is checked
 * and every byte still held is passed on.  Feeding after this passes
 * bytes on unchecked.  Idempotent.
 */
void hbc_finish(struct hbc *h);
/* True once REJECT, DISCARD or a failure stopped the checks. */
bool hbc_stopped(const struct hbc *h);
/* The result so far (complete after hbc_finish); owned by h. */
const struct hbc_result *hbc_result(const struct hbc *h);
/* Free h; *hp becomes NULL.  NULL ok. */
void hbc_free(struct hbc **hp);

struct queue_envelope;
/*
 * The message-level actions of an accepted message (r->verdict
 * HBC_ACCEPT) into env's trailer: FILTER and REDIRECT replace what env
 * has, the first HOLD counts ("header or body checks" when it has no
 * text), each BCC is added.
 */
void hbc_result_to_envelope(const struct hbc_result *r,
    struct queue_envelope *env);

/*
 * Does text[0..len) start like a header, "name:" (name: bytes 33..126
 * but ':', then optional spaces/tabs, then ':')?  Returns the length of
 * the name (> 0), or 0.
 */
size_t hbc_header_name_len(const char *text, size_t len);

#endif
