/* SPDX-License-Identifier: MIT */
/*
 * queue_proto - messages between smtpd and the queue process.
 *
 * Each smtpd process keeps ONE connection to the queue process at
 * $queue_directory/private/queue (a Unix stream socket owned by
 * mail_owner, mode 0600), made at its first message and made again at
 * the next message after it broke.  It carries any number of
 * transactions at once, each named by a u32 tag that smtpd chooses.
 * Frames are ipc.h frames:
 *
 *   smtpd -> queue  NEW     u32 tag                make a queue file
 *   queue -> smtpd  FILE    u32 tag, str id + fd   the file, open write-only
 *   smtpd -> queue  COMMIT  u32 tag, str id        the whole file is written
 *   queue -> smtpd  OK      u32 tag, str id        committed: fsync'ed, with
 *                                                  incoming/ synced too
 *   queue -> smtpd  FAIL    u32 tag, str reason    not queued; file removed
 *   smtpd -> queue  ABORT   u32 tag                abandon it: the queue
 *                                                  process removes the file
 *                                                  (no answer)
 *
 * A tag is in use from NEW until OK, FAIL or ABORT; then smtpd may use
 * it again (smtpd counts tags up, so frames still on their way for an
 * abandoned tag, which it ignores, do not meet a new transaction).
 * NEW answers FILE or FAIL; COMMIT answers OK or FAIL.  The queue
 * process ends the whole connection on a NEW with a tag in use, on a
 * COMMIT for a tag not in use, on a COMMIT whose id is not the tag's
 * file or that comes twice, and on any malformed frame.  An ABORT for a
 * tag not in use is ignored: smtpd sends ABORT when it gives up waiting
 * for FILE or OK (client gone, timeout), and the answer may already be
 * on its way, ending the tag on the queue's side first.  A NEW
 * beyond QUEUE_CONN_TXN_MAX open transactions gets FAIL "too many
 * messages in progress" and the connection stays.  A connection that
 * ends (or breaks) abandons every open transaction of it, like ABORT:
 * files being written are removed, and a commit already under way
 * removes its message again once done (its client never heard 250).
 * smtpd ends the connection on an answer that does not fit (a FILE or
 * OK or FAIL for a tag in another state, a malformed frame); every
 * open transaction then fails.
 *
 * The queue process checks the whole file (queue_file_parse) before it
 * commits it: smtpd is the less trusted side.  docs/architecture.md
 * has the sequence.
 *
 * `ostia queue` sends CTL on a connection of its own (one request, one
 * CTL_REPLY); a connection that sent NEW takes no CTL and the other way
 * round.
 */
#ifndef OSTIA_QUEUE_PROTO_H
#define OSTIA_QUEUE_PROTO_H

#include <stdbool.h>
#include <sys/stat.h>

enum queue_msg {
	QUEUE_MSG_NEW = 1,
	QUEUE_MSG_FILE = 2,
	QUEUE_MSG_COMMIT = 3,
	QUEUE_MSG_OK = 4,
	QUEUE_MSG_FAIL = 5,
	/* `ostia queue` (root or mail_owner, SO_PEERCRED):
	 *   CTL        str request ("hold ID", ... see qmgr.h)
	 *   CTL_REPLY  u32 status (0 done, 1 nothing matched, 2 bad
	 *              request), str text (lines) */
	QUEUE_MSG_CTL = 6,
	QUEUE_MSG_CTL_REPLY = 7,
	QUEUE_MSG_ABORT = 8,
	/* Address verification, on a connection of their own
	 * (verify_proto.h). */
	QUEUE_MSG_VERIFY = 9,
	QUEUE_MSG_VERIFY_REPLY = 10,
};

/* Open transactions (NEW answered, no OK/FAIL/ABORT yet) on one
 * connection. */
#define QUEUE_CONN_TXN_MAX 4096

/*
 * The file of a transaction is incoming/ID from NEW on, so that the
 * commit needs one sync, not a rename and a second one.  Until it is
 * committed it has mode QUEUE_PARTIAL_MODE (owner write only: not even
 * mail_owner reads it by name) and the queue process that made it holds
 * an flock() on it, on its own open file (smtpd gets another): a
 * partial file nobody holds a lock on was left by a queue process that
 * died, and is removed.  The commit sets QUEUE_FILE_MODE
 * and then fsyncs the file.  Everything that reads incoming/ skips
 * partial files.
 */
#define QUEUE_PARTIAL_MODE 0200
#define QUEUE_FILE_MODE 0600

/* queue_file_partial - st (from stat, not following links) is a queue
 * file still being written. */
static inline bool
queue_file_partial(const struct stat *st)
{
	return S_ISREG(st->st_mode) &&
	    (st->st_mode & 07777) == QUEUE_PARTIAL_MODE;
}

/* Relative to queue_directory. */
#define QUEUE_SOCKET_PATH "private/queue"
#define QUEUE_TMP_DIR "tmp"
#define QUEUE_INCOMING_DIR "incoming"
/* The queue manager's: messages waiting for a retry, held by the
 * administrator or a header check, unreadable; per-message delivery
 * status logs. */
#define QUEUE_DEFERRED_DIR "deferred"
#define QUEUE_HOLD_DIR "hold"
#define QUEUE_CORRUPT_DIR "corrupt"
#define QUEUE_STATUS_DIR "status"
/* Files of messages that left the queue, kept for the next ones
 * (queue_spare.h); never a message. */
#define QUEUE_SPARE_DIR "spare"
/* Longest FAIL reason. */
#define QUEUE_REASON_MAX_BYTES 512

#endif
