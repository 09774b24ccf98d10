/* SPDX-License-Identifier: MIT */
/*
 * queue_service - the queue process: sole owner of the spool.
 *
 * Started by the master as the internal service "queue" (one process,
 * mail_owner, chrooted to queue_directory when started as root), it
 * listens on $queue_directory/private/queue, where each smtpd process
 * keeps one connection carrying all its transactions (queue_proto.h).
 * For each transaction it makes incoming/ID (a spare file of a message
 * that left the queue, queue_spare.h, or a new one made with O_EXCL;
 * mode QUEUE_PARTIAL_MODE, flock'ed: queue_proto.h) and hands smtpd an
 * open descriptor.  On COMMIT a sync thread (off the event loop, several in
 * parallel so that the file system commits them together) checks the
 * whole file, gives it QUEUE_FILE_MODE and fsync()s it (nothing is
 * renamed); OK is sent once an fsync() of incoming/ begun after the
 * file's entry was made has succeeded too: NEW starts one when none is
 * running (unless the file's own fsync records its name too, fs_order.h),
 * and commits still without one share one (group commit).  A
 * transaction that ends any other way (ABORT, its connection closed)
 * leaves nothing: its file is removed.  A stopping queue process waits
 * for open transactions, not for idle smtpd connections (smtpd connects
 * again for its next message).  Once it holds the lock on incoming/ it
 * removes the partial files no live process holds (crashed
 * transactions), and at start the tmp/ files whose writer is gone.
 *
 * The queue manager (qmgr.h) runs in this process and takes every
 * committed message from there; `ostia queue` requests come on the
 * same socket (QUEUE_MSG_CTL).
 */
#ifndef OSTIA_QUEUE_SERVICE_H
#define OSTIA_QUEUE_SERVICE_H

#include "child.h"
#include "queue_file.h"

extern const struct child_program queue_service_program;

/* A new queue ID, unique among the IDs this process makes. */
void queue_service_new_id(char id[QUEUE_ID_LEN + 1]);

/*
 * A message the queue process makes itself (a notice, a picked-up local
 * submission): write env (env->id set, from queue_service_new_id), the
 * len bytes of content and env's trailer records (queue_writer_trailer,
 * when it has any) to tmp/ID.PID, fdatasync it, link() it to
 * incoming/ID (never replacing a queued message), fsync incoming/.  0,
 * or -1 with errno and nothing left in tmp/ or incoming/.  The caller
 * then hands the ID to the queue manager (qmgr_committed).
 */
int queue_service_write(const struct queue_envelope *env,
    const char *content, size_t len);

#endif
