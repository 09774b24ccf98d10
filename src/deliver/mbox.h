/* SPDX-License-Identifier: MIT */
/*
 * mbox - append one message to a UNIX mailbox file (the mbox format
 * Postfix local(8) writes, "mboxo"), with locking.
 *
 * What is written:
 *
 *   From SENDER Www Mmm dd hh:mm:ss yyyy     (SENDER "MAILER-DAEMON"
 *   PREFIX                                    for the null sender)
 *   the message, CRLF -> LF, ">" before each line starting "From "
 *   an empty line
 *
 * A last line without its end gets one.  Locking, in this order: a
 * dot-lock file PATH.lock made with O_EXCL (when asked for; one older
 * than MBOX_STALE_LOCK_SECONDS is taken for stale and removed), then an
 * exclusive fcntl() lock on the mailbox; both tried opts->attempts
 * times, opts->delay_ms apart.  The file is opened with O_NOFOLLOW and
 * O_APPEND and must be a regular file with one link (and, when asked,
 * belong to opts->owner).  A mailbox that would pass opts->limit bytes
 * is left alone (EFBIG).  The data is flushed with fsync; if anything
 * fails after writing began, the file is cut back to its old size, so
 * a failure never leaves half a message.
 *
 * Runs with the privileges of the caller (the local agent's delivery
 * process, already the recipient's user); knows nothing about users or
 * configuration.
 */
#ifndef OSTIA_MBOX_H
#define OSTIA_MBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* A dot-lock file older than this is stale (Postfix's stale_lock_time). */
#define MBOX_STALE_LOCK_SECONDS 500
/* Defaults of struct mbox_opts (Postfix's deliver_lock_attempts and
 * deliver_lock_delay). */
#define MBOX_LOCK_ATTEMPTS 20
#define MBOX_LOCK_DELAY_MS 1000

struct mbox_opts {
	const char *sender;	/* for the From_ line; "" = null sender */
	time_t now;		/* the From_ line's date */
	bool dotlock;		/* also lock with PATH.lock */
	bool create;		/* create the file (mode 0600) if missing */
	bool check_owner;	/* the file must belong to owner */
	uid_t owner;
	uint64_t limit;		/* most bytes the file may reach; 0 = none */
	unsigned attempts;	/* lock attempts (0 = MBOX_LOCK_ATTEMPTS) */
	unsigned delay_ms;	/* between attempts */
};

/*
 * The bytes mbox_deliver() appends for prefix and content (the From_
 * line included).
 */
uint64_t mbox_message_size(const char *sender, const char *prefix,
    const char *content, size_t len);

/*
 * Append the message (content: len bytes, CRLF line ends; prefix: header
 * lines with LF ends, may be "") to the mailbox file path (absolute).
 * 0, or -1 with *errno_r (EAGAIN: still locked after the attempts; EFBIG:
 * over opts->limit; EPERM: wrong owner, not a regular file or several
 * links; ENOSPC, EDQUOT, EACCES, ...) and *error_r (caller frees) in
 * plain words naming the file.
 */
int mbox_deliver(const char *path, const char *prefix, const char *content,
    size_t len, const struct mbox_opts *opts, int *errno_r, char **error_r);

/* "Www Mmm dd hh:mm:ss yyyy" (asctime's, without its newline) of t in
 * local time. */
void mbox_date(time_t t, char *out, size_t outsz);

#endif
