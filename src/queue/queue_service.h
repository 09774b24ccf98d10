/* SPDX-License-Identifier: MIT */
/*
 * queue_service - the queue process: sole owner of the spool.
 *
 * Started by the master as the internal service "queue" (one process,
 * mail_owner, chrooted to queue_directory when started as root), it
 * listens on $queue_directory/private/queue.  For each smtpd
 * transaction (queue_proto.h) it creates tmp/ID.PID (O_EXCL, 0600) and
 * hands smtpd the open descriptor; on COMMIT it checks the whole file,
 * fdatasync()s it, renames it to incoming/ID and fsync()s incoming/
 * once for every commit that arrived in the same event-loop round
 * (batching), then answers OK.  A transaction that ends any other way
 * leaves nothing: its file is removed.  At start it removes tmp/ files
 * whose writer process is gone (crashed transactions).
 *
 * Until the queue manager exists, committed messages stay in incoming/
 * (`ostia queue list`, `ostia queue show ID`).
 */
#ifndef OSTIA_QUEUE_SERVICE_H
#define OSTIA_QUEUE_SERVICE_H

#include "child.h"

extern const struct child_program queue_service_program;

#endif
