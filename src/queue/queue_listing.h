/* SPDX-License-Identifier: MIT */
/*
 * queue_listing - the mailq-like summary of the queue: for each message
 * in incoming/ ('*': being delivered), deferred/ and hold/ ('!'), "ID
 * SIZE DATE SENDER", the last deferral reason in parentheses, and the
 * recipients not done yet; then a total.  `ostia queue` prints it for
 * root and mail_owner (reading the spool itself); the queue process
 * serves it to everybody else on public/showq (queue_showq.h), a piece
 * at a time so that a long queue never stops its event loop.
 *
 * Every file is checked with queue_file_parse(): one that does not
 * parse is reported in err, never listed as if it were mail.  Text a
 * client chose (addresses, reasons) is written with control characters
 * as \ooo (queue_listing_escape), so it cannot forge lines or drive a
 * terminal.
 */
#ifndef OSTIA_QUEUE_LISTING_H
#define OSTIA_QUEUE_LISTING_H

#include <stddef.h>

#include "buf.h"

struct queue_listing;

enum queue_listing_format {
	QUEUE_LISTING_TEXT,	/* mailq */
	/*
	 * postqueue -j: one JSON object per line and message, with
	 * Postfix's fields: queue_name ("active" for incoming/,
	 * "deferred", "hold"), queue_id, arrival_time (seconds),
	 * message_size, forced_expire (false), sender, recipients (address
	 * and, once deferred, delay_reason).  No heading, no total.
	 */
	QUEUE_LISTING_JSON,
};

/*
 * A listing of the queue under qdir (queue_directory, or "." in the
 * queue process); files larger than max_file_bytes are reported, not
 * read.  Never NULL.
 */
struct queue_listing *queue_listing_open(const char *qdir,
    size_t max_file_bytes, enum queue_listing_format format);
/*
 * Append the next part (the heading and one message, or the total) to
 * out; problems, one line each, to err.  1 while there is more, 0 once
 * the total was appended.
 */
int queue_listing_next(struct queue_listing *ql, struct buf *out,
    struct buf *err);
/* True when some file or directory could not be read or parsed. */
int queue_listing_failed(const struct queue_listing *ql);
void queue_listing_free(struct queue_listing *ql);

/* Append value with control characters as \ooo. */
void queue_listing_escape(struct buf *out, const char *value);
/* Append value as a JSON string (RFC 8259: quotes added, control
 * characters as \u00XX, a byte that is not UTF-8 as \ufffd). */
void queue_listing_json_string(struct buf *out, const char *value);

/*
 * The queue IDs in dir, sorted (oldest first), leaving out partial
 * files (messages still being received: queue_proto.h; only incoming/
 * holds them, so only there is each entry stat'ed).  Used by the queue
 * manager's scans too.  NULL with *n_r 0 when there
 * are none; *err_r -1 when dir cannot be read (errno says why).
 */
char **queue_listing_names(const char *dir, size_t *n_r, int *err_r);
void queue_listing_free_names(char **names, size_t n);

struct queue_envelope;
/*
 * Read and parse qdir/dir/id (at most max_file_bytes) into env, and its
 * message into content when content is not NULL.  0, or -1 with one
 * line saying why (file name first) appended to err.
 */
int queue_listing_load(const char *qdir, const char *dir, const char *id,
    size_t max_file_bytes, struct queue_envelope *env, struct buf *content,
    struct buf *err);

#endif
