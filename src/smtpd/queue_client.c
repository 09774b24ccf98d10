/* SPDX-License-Identifier: MIT */
/*
 * queue_client - smtpd's side of the queue protocol; see queue_client.h.
 *
 * Runs in smtpd as mail_owner.  Answers from the queue process are
 * checked like any IPC input: a frame that does not fit the state ends
 * the transaction with an error.
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
#include "xalloc.h"

enum qc_state {
	QC_WAIT_FILE,
	QC_WRITING,
	QC_WAIT_DONE,
	QC_FINISHED,
};

struct queue_client {
	int sock;
	struct event *ev;
	struct ipc_conn ipc;
	enum qc_state state;
	char id[QUEUE_ID_LEN + 1];
	queue_client_file_fn *file_cb;
	queue_client_done_fn *done_cb;
	void *ctx;
	const char *error;	/* static text */
};

/*
 * qc_finish - end the current request; reason may be a transient
 * buffer, so only a static summary is kept for queue_client_error().
 */
static void
qc_finish(struct queue_client *qc, bool ok, const char *reason)
{
	enum qc_state was = qc->state;

	qc->state = QC_FINISHED;
	if (!ok && qc->error == NULL)
		qc->error = "the queue process failed or refused the message";
	event_del(qc->ev);
	if (was == QC_WAIT_FILE)
		qc->file_cb(qc->ctx, -1, NULL, reason);
	else if (was == QC_WAIT_DONE)
		qc->done_cb(qc->ctx, ok, reason);
}

static void
on_event(evutil_socket_t fd, short what, void *arg)
{
	struct queue_client *qc = arg;
	struct ipc_in in;
	uint32_t type;
	int pfd, r;

	if (what & EV_TIMEOUT) {
		qc->error = "the queue process did not answer in time";
		qc_finish(qc, false, qc->error);
		return;
	}
	if (ipc_conn_fill(&qc->ipc) < 0) {
		qc->error = "lost the connection to the queue process";
		qc_finish(qc, false, qc->error);
		return;
	}
	while ((r = ipc_conn_next(&qc->ipc, &type, &in, &pfd)) == 1) {
		char *s = NULL;

		if (type == QUEUE_MSG_FILE && qc->state == QC_WAIT_FILE &&
		    pfd >= 0) {
			s = ipc_get_str(&in, QUEUE_ID_LEN);
			if (!ipc_in_done(&in) || s == NULL ||
			    !queue_id_is_valid(s)) {
				close(pfd);
				free(s);
				break;
			}
			memcpy(qc->id, s, QUEUE_ID_LEN + 1);
			free(s);
			qc->state = QC_WRITING;
			/* No answer is due while smtpd writes. */
			event_del(qc->ev);
			event_add(qc->ev, NULL);
			qc->file_cb(qc->ctx, pfd, qc->id, NULL);
			return;	/* the callback may have freed us */
		}
		if (pfd >= 0)
			close(pfd);
		if (type == QUEUE_MSG_OK && qc->state == QC_WAIT_DONE) {
			s = ipc_get_str(&in, QUEUE_ID_LEN);
			if (!ipc_in_done(&in) || s == NULL ||
			    strcmp(s, qc->id) != 0) {
				free(s);
				break;
			}
			free(s);
			qc_finish(qc, true, NULL);
			return;
		}
		if (type == QUEUE_MSG_FAIL && (qc->state == QC_WAIT_FILE ||
		    qc->state == QC_WAIT_DONE)) {
			char reason[QUEUE_REASON_MAX_BYTES + 1];

			s = ipc_get_str(&in, QUEUE_REASON_MAX_BYTES);
			if (!ipc_in_done(&in) || s == NULL) {
				free(s);
				break;
			}
			log_escape(reason, sizeof(reason), s, strlen(s),
			    QUEUE_REASON_MAX_BYTES);
			free(s);
			qc_finish(qc, false, reason);
			return;
		}
		break;
	}
	if (r != 0) {
		log_error("unexpected answer from the queue process");
		qc_finish(qc, false, "unexpected answer from the queue "
		    "process");
		return;
	}
	if (qc->ipc.eof) {
		qc->error = "the queue process closed the connection";
		qc_finish(qc, false, qc->error);
	}
}

struct queue_client *
queue_client_new(struct event_base *base, const char *socket_path,
    queue_client_file_fn *file_cb, queue_client_done_fn *done_cb,
    void *ctx, const char **error_r)
{
	struct queue_client *qc;
	struct sockaddr_un sun;
	struct timeval tv = { QUEUE_CLIENT_TIMEOUT_SECONDS, 0 };
	int sock;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(socket_path) >= sizeof(sun.sun_path)) {
		*error_r = "queue socket path too long";
		errno = ENAMETOOLONG;
		return NULL;
	}
	memcpy(sun.sun_path, socket_path, strlen(socket_path) + 1);
	sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (sock < 0) {
		*error_r = "cannot create a socket for the queue process";
		return NULL;
	}
	/* A local stream connect completes at once or fails. */
	if (connect(sock, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int e = errno;

		close(sock);
		errno = e;
		*error_r = "cannot connect to the queue process";
		return NULL;
	}
	if (ipc_send(sock, QUEUE_MSG_NEW, NULL, -1) < 0) {
		int e = errno;

		close(sock);
		errno = e;
		*error_r = "cannot send to the queue process";
		return NULL;
	}
	qc = xcalloc(1, sizeof(*qc));
	qc->sock = sock;
	qc->state = QC_WAIT_FILE;
	qc->file_cb = file_cb;
	qc->done_cb = done_cb;
	qc->ctx = ctx;
	ipc_conn_init(&qc->ipc, sock);
	qc->ev = event_new(base, sock, EV_READ | EV_PERSIST, on_event, qc);
	event_add(qc->ev, &tv);
	return qc;
}

int
queue_client_commit(struct queue_client *qc)
{
	struct timeval tv = { QUEUE_CLIENT_TIMEOUT_SECONDS, 0 };
	struct ipc_out o;

	if (qc->state != QC_WRITING) {
		if (qc->error == NULL)
			qc->error = "no queue file is being written";
		errno = EINVAL;
		return -1;
	}
	ipc_out_init(&o);
	ipc_put_str(&o, qc->id);
	if (ipc_send(qc->sock, QUEUE_MSG_COMMIT, &o, -1) < 0) {
		qc->error = errno == EAGAIN ? "the queue process is not "
		    "reading" : "lost the connection to the queue process";
		return -1;
	}
	qc->state = QC_WAIT_DONE;
	event_del(qc->ev);
	event_add(qc->ev, &tv);
	return 0;
}

void
queue_client_free(struct queue_client **qcp)
{
	struct queue_client *qc = *qcp;

	if (qc == NULL)
		return;
	event_free(qc->ev);
	ipc_conn_deinit(&qc->ipc);
	close(qc->sock);
	free(qc);
	*qcp = NULL;
}

const char *
queue_client_error(const struct queue_client *qc)
{
	return qc->error != NULL ? qc->error : "unknown error";
}
