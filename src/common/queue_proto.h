/* SPDX-License-Identifier: MIT */
/*
 * queue_proto - messages between smtpd and the queue process.
 *
 * smtpd connects to the queue process at $queue_directory/private/queue
 * (a Unix stream socket owned by mail_owner, mode 0600) once per
 * message; the connection is the transaction.  Frames are ipc.h frames:
 *
 *   smtpd -> queue  NEW     (empty)       make a queue file
 *   queue -> smtpd  FILE    str id + fd   the file, open for writing
 *   smtpd -> queue  COMMIT  str id        the whole file is written
 *   queue -> smtpd  OK      str id        fsync'ed and in incoming/
 *   queue -> smtpd  FAIL    str reason    not queued; file removed
 *
 * Closing the connection before OK abandons the message: the queue
 * process removes the file.  The queue process checks the whole file
 * (queue_file_parse) before it commits it: smtpd is the less trusted
 * side.  docs/architecture.md has the sequence.
 */
#ifndef OSTIA_QUEUE_PROTO_H
#define OSTIA_QUEUE_PROTO_H

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
};

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
/* Longest FAIL reason. */
#define QUEUE_REASON_MAX_BYTES 512

#endif
