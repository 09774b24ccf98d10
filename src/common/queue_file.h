/* SPDX-License-Identifier: MIT */
/*
 * queue_file - the on-disk format of a queued message, and queue IDs.
 *
 * A queue file is a sequence of records:
 *
 *   record = type (1 octet) length (4 octets, big-endian) payload
 *
 * in this order (docs/queue-format.md is the reference):
 *
 *   'V' "ostia-queue 1"                      format and version, first
 *   'I' queue ID
 *   'T' arrival "SECONDS.MICROSECONDS"
 *   'C' client host name ("unknown" when not known)
 *   'A' client address     'H' HELO/EHLO name (may be empty)
 *   'P' protocol ("SMTP", "ESMTP", "ESMTPS", ...)
 *   'L' the master.cf service that received it
 *   'W' authenticated SASL user (optional)   'K' TLS facts (optional)
 *   'S' envelope sender ("" for <>)
 *   'z' SIZE= declared (optional)            'B' BODY= value (optional)
 *   'U' SMTPUTF8 (empty, optional)           'r' RET= "FULL"/"HDRS"
 *   'e' ENVID= (decoded, optional)
 *   'R' recipient, each followed by its optional 'N' NOTIFY
 *       ("NEVER" or a comma list of SUCCESS, FAILURE, DELAY) and 'O'
 *       ORCPT ("type;address", decoded); at least one 'R'
 *   'M' start of the message (empty)
 *   'D' message bytes (CRLF line ends, Received: header first), any
 *       number of records of at most QUEUE_DATA_RECORD_MAX_BYTES
 *   after the message, each optional, in this order (what smtpd decided
 *   while or after it read the message: access tables, header and body
 *   checks, content_filter):
 *   'E' refused: "5.X.Y reason": the message was refused after it was
 *       submitted (a local submission's header checks, milters or
 *       message_reject_characters): the queue manager returns it to
 *       its sender for every recipient, delivers nothing
 *   'F' content filter "transport:nexthop": deliver there instead of
 *       the recipients' own routes (the filter re-injects the message)
 *   'Q' hold: the queue manager parks the message (reason as text)
 *   'J' redirect: every recipient replaced by this address
 *   'b' BCC: an extra recipient, any number of records
 *   'X' end: the number of message bytes, decimal; last record
 *
 * A file without its 'X' record, with anything after it, with a count
 * that does not match, or with records out of order is invalid and is
 * never delivered.
 *
 * Queue IDs: 16 characters of Crockford base32 (0-9, A-Z without I, L,
 * O, U): 10 for the arrival time in microseconds since the epoch, then 6
 * for a per-process counter and the process id, so IDs sort by arrival
 * time and two processes never make the same ID.
 */
#ifndef OSTIA_QUEUE_FILE_H
#define OSTIA_QUEUE_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

#define QUEUE_FILE_MAGIC "ostia-queue 1"
#define QUEUE_ID_LEN 16
#define QUEUE_DATA_RECORD_MAX_BYTES (64 * 1024)
/* Largest envelope record payload accepted by the reader. */
#define QUEUE_RECORD_MAX_BYTES (1024 * 1024)

struct queue_rcpt {
	char *addr;
	char *notify;	/* NULL if not given */
	char *orcpt;	/* NULL if not given */
};

struct queue_envelope {
	char *id;
	char *arrival;		/* "SECONDS.MICROSECONDS" */
	char *client_name;
	char *client_addr;
	char *helo;
	char *protocol;
	char *service;
	char *sasl_user;	/* optional */
	char *tls;		/* optional */
	char *sender;
	char *size;		/* optional, decimal */
	char *body;		/* optional */
	bool smtputf8;
	char *ret;		/* optional */
	char *envid;		/* optional */
	struct queue_rcpt *rcpts;
	size_t nrcpts;
	/* Trailer (queue_writer_trailer): NULL / 0 when absent. */
	char *refused;		/* "5.X.Y reason" */
	char *filter;		/* "transport:nexthop" */
	char *hold;		/* reason */
	char *redirect;		/* address */
	char **bccs;
	size_t nbccs;
	uint64_t content_size;	/* filled by the parser */
};

void queue_envelope_deinit(struct queue_envelope *env);

/* An 'E' record's value: "5.X.Y reason", a permanent enhanced status
 * code (RFC 3463, 1 to 3 digits after each dot) and at least one byte
 * of printable ASCII text after one space. */
bool queue_refusal_valid(const char *s);

/* Room for "SECONDS.MICROSECONDS". */
#define QUEUE_ARRIVAL_BYTES 48
/*
 * queue_envelope_init_local - env (zeroed first) for a message the mail
 * system makes itself: id, the arrival time now (written into arrival,
 * QUEUE_ARRIVAL_BYTES), client localhost [127.0.0.1], an empty HELO
 * name, protocol, service and sender as given, no recipients yet.  The
 * strings are borrowed, not copied: do not queue_envelope_deinit() it.
 */
void queue_envelope_init_local(struct queue_envelope *env, const char *id,
    char arrival[QUEUE_ARRIVAL_BYTES], const char *protocol,
    const char *service, const char *sender);
/* Append a recipient (strings copied; notify and orcpt may be NULL). */
void queue_envelope_add_rcpt(struct queue_envelope *env, const char *addr,
    const char *notify, const char *orcpt);

/* Append a BCC address of the trailer (copied). */
void queue_envelope_add_bcc(struct queue_envelope *env, const char *addr);

/*
 * Writer: buffers records and writes them to fd.  Every call returns 0,
 * or -1 with errno set (a write error; the file must then be discarded).
 */
struct queue_writer {
	int fd;
	struct buf out;		/* pending bytes */
	struct buf data;	/* pending message bytes for a 'D' record */
	uint64_t content_size;
	uint64_t written;	/* bytes written to fd so far */
	int error;		/* first errno, sticky */
	int state;		/* private */
};

void queue_writer_init(struct queue_writer *w, int fd);
void queue_writer_deinit(struct queue_writer *w);
/* 'V' through 'M' from env (env->id must be set). */
int queue_writer_envelope(struct queue_writer *w,
    const struct queue_envelope *env);
/* Message bytes, any split. */
int queue_writer_content(struct queue_writer *w, const char *data,
    size_t len);
/* The trailer records of env ('E', 'F', 'Q', 'J', 'b'; only those set),
 * after the message bytes and before finish; at most once.  An invalid
 * value (an 'F' without ':', an empty address) writes nothing and
 * fails with EINVAL. */
int queue_writer_trailer(struct queue_writer *w,
    const struct queue_envelope *env);
/*
 * Last 'D', then 'X'; everything is written to fd (not synced).  The
 * writer writes from fd's offset 0 on; a file that was already longer
 * (a reused queue file: queue_spare.h) is cut after the 'X' record, so
 * that the file holds exactly what was written.
 */
int queue_writer_finish(struct queue_writer *w);

/*
 * Parse a whole queue file.  Returns 0 with env filled (free with
 * queue_envelope_deinit) and, when content_r is not NULL, the message
 * bytes appended to it; or -1 with *error_r (static text saying what is
 * wrong, e.g. "no end record: the file is incomplete").
 */
int queue_file_parse(const char *data, size_t len,
    struct queue_envelope *env, struct buf *content_r,
    const char **error_r);

/*
 * The queue ID a file names, from its first two records alone ('V' of
 * this format, then 'I'), into out: whatever follows them, even a file
 * cut short.  0, or -1 when the file does not start that way.
 */
int queue_file_id(const char *data, size_t len, char out[QUEUE_ID_LEN + 1]);

/*
 * queue_file_reused_why - when the file named id holds data that names
 * another queue ID (a reused queue file that a crash left under the name
 * it had before, queue_spare.h), the sentence that says so for the log,
 * with perr (the parse error, NULL: the file is whole); to be freed.
 * NULL when data names id or no ID at all.
 */
char *queue_file_reused_why(const char *data, size_t len, const char *id,
    const char *perr);

/* A new queue ID in out (QUEUE_ID_LEN + 1 bytes). */
void queue_id_new(char out[QUEUE_ID_LEN + 1], uint64_t usec_since_epoch,
    uint32_t counter, pid_t pid);
/* True if s is a well-formed queue ID (safe to use in a path). */
bool queue_id_is_valid(const char *s);

#endif
