/* SPDX-License-Identifier: MIT */
/*
 * queue_client - smtpd's side of the queue protocol; see queue_client.h.
 *
 * Runs in smtpd as mail_owner.  The process has one channel to the
 * queue process (chan, below), connected at the first transaction and
 * again at the first one after it broke; every transaction (struct
 * queue_client) is a tag on it (queue_proto.h).  Frames leave through
 * an ipc_writer: with thousands of sessions the socket can fill up, and
 * then the frames wait, in order, for the socket to be writable.
 *
 * Answers are checked like any IPC input: a frame that is malformed or
 * does not fit its transaction's state ends the channel, and every open
 * transaction fails with it.  An answer for a tag no longer in use is
 * ignored (a transaction given up with ABORT, or timed out, while its
 * answer was on its way).
 *
 * Callbacks run from the event loop only: from the channel's read event
 * (answers) or from the transaction's own timer event (its timeout, or,
 * activated by hand, the end of the channel), never from inside
 * queue_client_new() or queue_client_commit(), even when those find the
 * channel broken.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "ipc.h"
#include "log.h"
#include "queue_client.h"
#include "queue_proto.h"
#include "tagmap.h"
#include "xalloc.h"

/* Frames that may wait for the queue process to read (a NEW, COMMIT or
 * ABORT is at most 32 bytes: this is many thousand transactions). */
#define QC_OUT_MAX (4 * 1024 * 1024)

enum qc_state {
	QC_WAIT_FILE,		/* NEW sent */
	QC_WRITING,		/* FILE came: smtpd writes the file */
	QC_WAIT_DONE,		/* COMMIT sent */
	QC_FINISHED,		/* answered, failed or timed out */
};

struct queue_client {
	struct tagmap_node node;	/* the tag */
	bool registered;		/* in chan.txns */
	struct event *ev;	/* the timeout; activated when chan breaks */
	enum qc_state state;
	char id[QUEUE_ID_LEN + 1];
	queue_client_file_fn *file_cb;
	queue_client_done_fn *done_cb;
	void *ctx;
	const char *error;	/* static text */
	const char *broken;	/* static: chan broke; ev tells the caller */
};

/* The process's channel to the queue process. */
static struct {
	struct event_base *base;
	char *path;
	int sock;		/* -1: not connected */
	struct event *rev;
	struct event *wev;	/* added while frames wait */
	bool writing;
	struct ipc_conn ipc;
	struct ipc_writer out;
	struct tagmap txns;	/* registered transactions by tag */
	uint32_t next_tag;
	unsigned gen;		/* counts the ends of the channel */
} chan = { .sock = -1 };

static void on_chan_read(evutil_socket_t fd, short what, void *arg);
static void on_chan_write(evutil_socket_t fd, short what, void *arg);

/*
 * chan_open - connect to path.  0, or -1 with *error_r (static) and
 * errno.
 */
static int
chan_open(struct event_base *base, const char *path, const char **error_r)
{
	int sock = ipc_unix_connect(path, true);

	if (sock < 0) {
		*error_r = errno == ENAMETOOLONG ? "queue socket path too long" :
		    "cannot connect to the queue process";
		return -1;
	}
	chan.sock = sock;
	chan.base = base;
	if (chan.path == NULL || strcmp(chan.path, path) != 0) {
		free(chan.path);
		chan.path = xstrdup(path);
	}
	ipc_conn_init(&chan.ipc, sock);
	ipc_writer_init(&chan.out, sock, QC_OUT_MAX);
	tagmap_init(&chan.txns);
	chan.rev = event_new(base, sock, EV_READ | EV_PERSIST, on_chan_read,
	    NULL);
	chan.wev = event_new(base, sock, EV_WRITE | EV_PERSIST, on_chan_write,
	    NULL);
	chan.writing = false;
	event_add(chan.rev, NULL);
	log_debug(1, "connected to the queue process (%s)", path);
	return 0;
}

/*
 * chan_break - the channel is over (why: static text).  Every
 * registered transaction is released from it: one waiting for an answer
 * hears why from its own event, soon; one being written learns it at
 * queue_client_commit().
 */
static void
chan_break(const char *why)
{
	struct tagmap_node *n, *next;
	size_t open = chan.txns.count;

	if (chan.sock < 0)
		return;
	if (open > 0)
		log_warning("%s; %zu message%s in progress fail%s", why, open,
		    open == 1 ? "" : "s", open == 1 ? "s" : "");
	else
		log_debug(1, "%s; no message was in progress", why);
	event_free(chan.rev);
	event_free(chan.wev);
	chan.rev = chan.wev = NULL;
	chan.writing = false;
	ipc_conn_deinit(&chan.ipc);
	ipc_writer_deinit(&chan.out);
	close(chan.sock);
	chan.sock = -1;
	chan.gen++;
	for (n = tagmap_take_all(&chan.txns); n != NULL; n = next) {
		struct queue_client *qc = TAGMAP_ENTRY(n, struct queue_client,
		    node);

		next = n->next;
		qc->registered = false;
		if (qc->state == QC_WRITING) {
			qc->state = QC_FINISHED;
			qc->error = why;
		} else if (qc->state == QC_WAIT_FILE ||
		    qc->state == QC_WAIT_DONE) {
			qc->broken = why;
			event_active(qc->ev, EV_TIMEOUT, 1);
		}
	}
	tagmap_deinit(&chan.txns);
}

/*
 * chan_put - queue a frame for the queue process.  0, or -1 with errno
 * after breaking the channel.
 */
static int
chan_put(uint32_t type, const struct ipc_out *o)
{
	if (ipc_writer_put(&chan.out, type, o, -1) < 0) {
		int e = errno;

		chan_break(e == ENOBUFS ? "the queue process does not read" :
		    "lost the connection to the queue process");
		errno = e;
		return -1;
	}
	if (!chan.writing && ipc_writer_pending(&chan.out) > 0) {
		chan.writing = true;
		event_add(chan.wev, NULL);
	}
	return 0;
}

static void
on_chan_write(evutil_socket_t fd, short what, void *arg)
{
	int r = ipc_writer_flush(&chan.out);

	if (r < 0) {
		chan_break("lost the connection to the queue process");
		return;
	}
	if (r == 0) {
		chan.writing = false;
		event_del(chan.wev);
	}
}

/* unregister - qc leaves the channel (it was registered). */
static void
unregister(struct queue_client *qc)
{
	tagmap_remove(&chan.txns, &qc->node);
	qc->registered = false;
}

/* send_abort - qc (registered) is given up: tell the queue process. */
static void
send_abort(struct queue_client *qc)
{
	struct ipc_out o;

	unregister(qc);
	ipc_out_init(&o);
	ipc_put_u32(&o, qc->node.tag);
	(void)chan_put(QUEUE_MSG_ABORT, &o);
}

/*
 * qc_finish - the answer to the current request; reason may be a
 * transient buffer, so only a static summary is kept for
 * queue_client_error().  The callback may free qc.
 */
static void
qc_finish(struct queue_client *qc, bool ok, const char *reason)
{
	enum qc_state was = qc->state;

	if (qc->registered)
		unregister(qc);
	qc->state = QC_FINISHED;
	if (!ok && qc->error == NULL)
		qc->error = "the queue process failed or refused the message";
	evtimer_del(qc->ev);
	if (was == QC_WAIT_FILE)
		qc->file_cb(qc->ctx, -1, NULL, reason);
	else if (was == QC_WAIT_DONE)
		qc->done_cb(qc->ctx, ok, reason);
}

/* on_qc_event - qc's timeout, or the channel broke (qc->broken). */
static void
on_qc_event(evutil_socket_t fd, short what, void *arg)
{
	struct queue_client *qc = arg;

	if (qc->broken != NULL) {
		qc->error = qc->broken;
		qc->broken = NULL;
	} else {
		if (qc->state != QC_WAIT_FILE && qc->state != QC_WAIT_DONE)
			return;
		qc->error = "the queue process did not answer in time";
		if (qc->registered)
			send_abort(qc);
	}
	qc_finish(qc, false, qc->error);
}

/*
 * handle_answer - one frame from the queue process (pfd: its
 * descriptor or -1, ours to close).  false when it does not fit (the
 * caller ends the channel).  Callbacks called from here may free
 * transactions and break or replace the channel.
 */
static bool
handle_answer(uint32_t type, struct ipc_in *in, int pfd)
{
	uint32_t tag = ipc_get_u32(in);
	struct tagmap_node *n;
	struct queue_client *qc;
	char reason[QUEUE_REASON_MAX_BYTES * 4 + 1];
	char *s = NULL;

	if (type == QUEUE_MSG_FILE)
		s = ipc_get_str(in, QUEUE_ID_LEN);
	else if (type == QUEUE_MSG_OK)
		s = ipc_get_str(in, QUEUE_ID_LEN);
	else if (type == QUEUE_MSG_FAIL)
		s = ipc_get_str(in, QUEUE_REASON_MAX_BYTES);
	if (s == NULL || !ipc_in_done(in) || (pfd >= 0) !=
	    (type == QUEUE_MSG_FILE) || (type != QUEUE_MSG_FAIL &&
	    !queue_id_is_valid(s)))
		goto bad;
	n = tagmap_find(&chan.txns, tag);
	if (n == NULL) {
		/* Given up (ABORT, timeout) while this was on its way. */
		log_debug(1, "queue process answer %lu for a message given "
		    "up", (unsigned long)type);
		if (pfd >= 0)
			close(pfd);
		free(s);
		return true;
	}
	qc = TAGMAP_ENTRY(n, struct queue_client, node);
	switch (type) {
	case QUEUE_MSG_FILE:
		if (qc->state != QC_WAIT_FILE)
			goto bad;
		memcpy(qc->id, s, QUEUE_ID_LEN + 1);
		free(s);
		qc->state = QC_WRITING;
		/* No answer is due while smtpd writes. */
		evtimer_del(qc->ev);
		qc->file_cb(qc->ctx, pfd, qc->id, NULL);
		return true;
	case QUEUE_MSG_OK:
		if (qc->state != QC_WAIT_DONE || strcmp(s, qc->id) != 0)
			goto bad;
		free(s);
		qc_finish(qc, true, NULL);
		return true;
	default:	/* QUEUE_MSG_FAIL */
		if (qc->state != QC_WAIT_FILE && qc->state != QC_WAIT_DONE)
			goto bad;
		log_escape(reason, sizeof(reason), s, strlen(s),
		    QUEUE_REASON_MAX_BYTES);
		free(s);
		qc_finish(qc, false, reason);
		return true;
	}
bad:
	if (pfd >= 0)
		close(pfd);
	free(s);
	return false;
}

/*
 * on_chan_read - the channel is readable: one read (level-triggered:
 * the loop comes back while more waits, without a read that finds
 * nothing), then every complete frame.
 */
static void
on_chan_read(evutil_socket_t fd, short what, void *arg)
{
	unsigned gen = chan.gen;
	struct ipc_in in;
	uint32_t type;
	int pfd, r;

	if (ipc_conn_read(&chan.ipc) < 0) {
		chan_break("lost the connection to the queue process");
		return;
	}
	while ((r = ipc_conn_next(&chan.ipc, &type, &in, &pfd)) == 1) {
		if (!handle_answer(type, &in, pfd)) {
			log_error("unexpected answer %lu from the queue process; "
			    "closing the connection", (unsigned long)type);
			chan_break("unexpected answer from the queue process");
			return;
		}
		if (chan.gen != gen)
			return;	/* a callback ended the channel */
	}
	if (r < 0) {
		log_error("malformed frame from the queue process; closing the "
		    "connection");
		chan_break("unexpected answer from the queue process");
		return;
	}
	if (chan.ipc.eof)
		chan_break("the queue process closed the connection");
}

struct queue_client *
queue_client_new(struct event_base *base, const char *socket_path,
    queue_client_file_fn *file_cb, queue_client_done_fn *done_cb,
    void *ctx, const char **error_r)
{
	struct timeval tv = { QUEUE_CLIENT_TIMEOUT_SECONDS, 0 };
	struct queue_client *qc;
	struct ipc_out o;
	uint32_t tag;

	if (chan.sock >= 0 && (chan.base != base ||
	    strcmp(chan.path, socket_path) != 0))
		chan_break("the queue socket changed");
	if (chan.sock < 0 && chan_open(base, socket_path, error_r) < 0)
		return NULL;
	/* Counted up, so a late answer for a tag given up (ignored) does
	 * not meet a new transaction. */
	do {
		tag = chan.next_tag++;
	} while (tagmap_find(&chan.txns, tag) != NULL);
	ipc_out_init(&o);
	ipc_put_u32(&o, tag);
	if (chan_put(QUEUE_MSG_NEW, &o) < 0) {
		*error_r = "cannot send to the queue process";
		return NULL;
	}
	qc = xcalloc(1, sizeof(*qc));
	qc->node.tag = tag;
	qc->state = QC_WAIT_FILE;
	qc->file_cb = file_cb;
	qc->done_cb = done_cb;
	qc->ctx = ctx;
	qc->ev = evtimer_new(base, on_qc_event, qc);
	evtimer_add(qc->ev, &tv);
	tagmap_insert(&chan.txns, &qc->node);
	qc->registered = true;
	return qc;
}

int
queue_client_commit(struct queue_client *qc)
{
	struct timeval tv = { QUEUE_CLIENT_TIMEOUT_SECONDS, 0 };
	struct ipc_out o;

	if (qc->state != QC_WRITING || !qc->registered) {
		if (qc->error == NULL)
			qc->error = "no queue file is being written";
		errno = EINVAL;
		return -1;
	}
	ipc_out_init(&o);
	ipc_put_u32(&o, qc->node.tag);
	ipc_put_str(&o, qc->id);
	if (chan_put(QUEUE_MSG_COMMIT, &o) < 0)
		return -1;	/* chan_break set qc->error */
	qc->state = QC_WAIT_DONE;
	evtimer_add(qc->ev, &tv);
	return 0;
}

void
queue_client_free(struct queue_client **qcp)
{
	struct queue_client *qc = *qcp;

	if (qc == NULL)
		return;
	if (qc->registered)
		send_abort(qc);
	event_free(qc->ev);
	free(qc);
	*qcp = NULL;
}

const char *
queue_client_error(const struct queue_client *qc)
{
	return qc->error != NULL ? qc->error : "unknown error";
}
