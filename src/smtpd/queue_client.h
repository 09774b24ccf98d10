/* SPDX-License-Identifier: MIT */
/*
 * queue_client - smtpd's side of the queue protocol (queue_proto.h).
 *
 * One client per message, all of them transactions on one connection
 * per smtpd process, made at the first message and made again at the
 * next one after it broke.  queue_client_new() asks the queue process
 * for a file; file_cb gets the open descriptor and the queue ID (or an
 * error).  After the whole file is written, queue_client_commit() asks
 * the queue process to make it durable; done_cb says whether it is
 * queued.  Both callbacks run from the event loop, never from inside the
 * call that started the request.  Freeing the client before done_cb said
 * OK abandons the message (ABORT: the queue process removes the file).
 *
 * Every answer is waited for at most QUEUE_CLIENT_TIMEOUT_SECONDS.  When
 * the connection breaks, every message waiting for an answer gets its
 * callback with an error, and one being written fails at
 * queue_client_commit().
 */
#ifndef OSTIA_QUEUE_CLIENT_H
#define OSTIA_QUEUE_CLIENT_H

#include <stdbool.h>

#include "queue_file.h"

#define QUEUE_CLIENT_TIMEOUT_SECONDS 60

struct event_base;
struct queue_client;

/* fd >= 0 and id on success (fd now owned by the callee); fd -1 and
 * error (plain words) on failure. */
typedef void queue_client_file_fn(void *ctx, int fd, const char *id,
    const char *error);
/* ok, or !ok with reason. */
typedef void queue_client_done_fn(void *ctx, bool ok, const char *reason);

/*
 * Send NEW (connecting to socket_path first when the process has no
 * connection; base and socket_path are the same on every call).  Returns
 * the client, or NULL with *error_r (static text; errno tells more) when
 * the queue process cannot be reached.
 */
struct queue_client *queue_client_new(struct event_base *base,
    const char *socket_path, queue_client_file_fn *file_cb,
    queue_client_done_fn *done_cb, void *ctx, const char **error_r);
/* Send COMMIT for the file; done_cb follows.  -1 if it cannot be sent
 * (done_cb is then not called; queue_client_error() says why). */
int queue_client_commit(struct queue_client *qc);
/* Why the last request failed, in plain words (static text). */
const char *queue_client_error(const struct queue_client *qc);
void queue_client_free(struct queue_client **qcp);

#endif
