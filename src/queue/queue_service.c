/* SPDX-License-Identifier: MIT */
/*
 * queue_service - the queue process; see queue_service.h.
 *
 * Runs as mail_owner with the current directory (or chroot) at
 * queue_directory, so every path here is relative to it.  Input from
 * smtpd is untrusted: frames are checked field by field, the file is
 * parsed whole before it is committed, and a malformed frame ends that
 * connection (and its message).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "ipc.h"
#include "log.h"
#include "queue_file.h"
#include "queue_proto.h"
#include "queue_service.h"
#include "xalloc.h"

enum qconn_state {
	QCONN_IDLE,		/* waiting for NEW */
	QCONN_WRITING,		/* FILE sent, waiting for COMMIT */
	QCONN_COMMITTING,	/* in the pending batch */
	QCONN_DONE,		/* OK or FAIL sent */
};

struct qconn {
	struct child *child;
	int sock;
	struct event *ev;
	struct ipc_conn ipc;
	enum qconn_state state;
	char id[QUEUE_ID_LEN + 1];
	char tmp_path[64];
	int file_fd;
	struct qconn *next_pending;
};

static struct {
	struct event_base *base;
	struct event *flush_ev;
	struct qconn *pending;		/* commits of this round */
	size_t nconns;
	uint32_t counter;
	uint64_t max_file_bytes;	/* 0: no limit */
	int incoming_fd;
} qs;

static void
qconn_free(struct qconn *q)
{
	struct child *c = q->child;

	if (q->file_fd >= 0) {
		close(q->file_fd);
		if (unlink(q->tmp_path) == 0)
			log_debug(1, "%s: transaction abandoned; removed %s",
			    q->id, q->tmp_path);
	}
	if (q->ev != NULL)
		event_free(q->ev);
	ipc_conn_deinit(&q->ipc);
	close(q->sock);
	free(q);
	qs.nconns--;
	child_connection_done(c);
}

static void
qconn_fail(struct qconn *q, const char *fmt, ...) ATTR_FORMAT(2, 3);

static void
qconn_fail(struct qconn *q, const char *fmt, ...)
{
	struct ipc_out o;
	char reason[QUEUE_REASON_MAX_BYTES];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	log_warning("%s: not queued: %s", q->id[0] ? q->id : "NOQUEUE",
	    reason);
	ipc_out_init(&o);
	ipc_put_str(&o, reason);
	(void)ipc_send(q->sock, QUEUE_MSG_FAIL, &o, -1);
	if (q->file_fd >= 0) {
		close(q->file_fd);
		q->file_fd = -1;
		(void)unlink(q->tmp_path);
	}
	q->state = QCONN_DONE;
}

static void
handle_new(struct qconn *q)
{
	struct timespec ts;
	struct ipc_out o;
	uint64_t usec;

	clock_gettime(CLOCK_REALTIME, &ts);
	usec = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000;
	queue_id_new(q->id, usec, ++qs.counter, getpid());
	snprintf(q->tmp_path, sizeof(q->tmp_path), "%s/%s.%ld", QUEUE_TMP_DIR,
	    q->id, (long)getpid());
	q->file_fd = open(q->tmp_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	if (q->file_fd < 0) {
		qconn_fail(q, "cannot create a queue file: %s",
		    strerror(errno));
		return;
	}
	ipc_out_init(&o);
	ipc_put_str(&o, q->id);
	if (ipc_send(q->sock, QUEUE_MSG_FILE, &o, q->file_fd) < 0) {
		log_warning("%s: cannot hand the queue file to smtpd: %s",
		    q->id, strerror(errno));
		q->state = QCONN_DONE;
		return;
	}
	q->state = QCONN_WRITING;
}

/* check_file - the whole file must parse and carry our ID. */
static int
check_file(struct qconn *q, char *why, size_t whysz)
{
	struct queue_envelope env;
	const char *err = NULL;
	struct stat st;
	void *map;
	int ret;

	if (fstat(q->file_fd, &st) < 0) {
		snprintf(why, whysz, "fstat: %s", strerror(errno));
		return -1;
	}
	if (st.st_size <= 0 || (qs.max_file_bytes != 0 &&
	    (uint64_t)st.st_size > qs.max_file_bytes)) {
		snprintf(why, whysz, "queue file has an impossible size "
		    "(%lld bytes)", (long long)st.st_size);
		return -1;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE,
	    q->file_fd, 0);
	if (map == MAP_FAILED) {
		snprintf(why, whysz, "mmap: %s", strerror(errno));
		return -1;
	}
	memset(&env, 0, sizeof(env));
	ret = queue_file_parse(map, (size_t)st.st_size, &env, NULL, &err);
	if (ret == 0 && (env.id == NULL || strcmp(env.id, q->id) != 0)) {
		err = "the file names another queue ID";
		ret = -1;
	}
	if (ret < 0)
		snprintf(why, whysz, "invalid queue file from smtpd: %s", err);
	queue_envelope_deinit(&env);
	munmap(map, (size_t)st.st_size);
	return ret;
}

/*
 * flush_commits - one round of commits: check, sync and rename every
 * file, sync incoming/ once, then answer.  Runs after all readable
 * connections of this event-loop round were served, so commits that
 * arrive together share the directory sync.
 */
static void
flush_commits(evutil_socket_t fd, short what, void *arg)
{
	struct qconn *list = qs.pending, *q, *next;
	char why[QUEUE_REASON_MAX_BYTES];
	size_t renamed = 0;
	bool dir_ok = true;

	qs.pending = NULL;
	for (q = list; q != NULL; q = q->next_pending) {
		char dst[64];

		if (q->state != QCONN_COMMITTING)
			continue;
		if (check_file(q, why, sizeof(why)) < 0) {
			qconn_fail(q, "%s", why);
			continue;
		}
		if (fdatasync(q->file_fd) < 0) {
			qconn_fail(q, "cannot sync the queue file: %s",
			    strerror(errno));
			continue;
		}
		snprintf(dst, sizeof(dst), "%s/%s", QUEUE_INCOMING_DIR, q->id);
		if (rename(q->tmp_path, dst) < 0) {
			qconn_fail(q, "cannot move the queue file to %s: %s",
			    QUEUE_INCOMING_DIR, strerror(errno));
			continue;
		}
		/* From here the file is in incoming/: not ours to remove. */
		snprintf(q->tmp_path, sizeof(q->tmp_path), "%s", dst);
		renamed++;
	}
	if (renamed > 0 && fsync(qs.incoming_fd) < 0) {
		log_error("cannot sync directory %s: %s; %zu message%s not "
		    "confirmed", QUEUE_INCOMING_DIR, strerror(errno), renamed,
		    renamed == 1 ? "" : "s");
		dir_ok = false;
	}
	for (q = list; q != NULL; q = next) {
		next = q->next_pending;
		q->next_pending = NULL;
		if (q->state != QCONN_COMMITTING)
			continue;
		if (!dir_ok) {
			/* Not durable: take it back, the client will retry. */
			qconn_fail(q, "cannot sync the queue directory");
			continue;
		}
		close(q->file_fd);
		q->file_fd = -1;
		{
			struct ipc_out o;

			ipc_out_init(&o);
			ipc_put_str(&o, q->id);
			if (ipc_send(q->sock, QUEUE_MSG_OK, &o, -1) < 0)
				log_warning("%s: queued, but smtpd could not "
				    "be told: %s", q->id, strerror(errno));
		}
		q->state = QCONN_DONE;
	}
	if (renamed > 1)
		log_debug(1, "committed %zu messages with one directory sync",
		    renamed);
}

static void
handle_commit(struct qconn *q, struct ipc_in *in)
{
	char *id = ipc_get_str(in, QUEUE_ID_LEN);

	if (!ipc_in_done(in) || id == NULL || strcmp(id, q->id) != 0) {
		free(id);
		qconn_fail(q, "COMMIT for a queue ID this connection does not "
		    "hold");
		return;
	}
	free(id);
	q->state = QCONN_COMMITTING;
	q->next_pending = qs.pending;
	qs.pending = q;
	event_active(qs.flush_ev, EV_TIMEOUT, 0);
}

static void
on_qconn(evutil_socket_t fd, short what, void *arg)
{
	struct qconn *q = arg;
	struct ipc_in in;
	uint32_t type;
	int pfd, r;

	if (ipc_conn_fill(&q->ipc) < 0) {
		log_warning("%s: queue connection error: %s",
		    q->id[0] ? q->id : "NOQUEUE", strerror(errno));
		goto drop;
	}
	while ((r = ipc_conn_next(&q->ipc, &type, &in, &pfd)) == 1) {
		if (pfd >= 0) {
			close(pfd);	/* smtpd never sends descriptors */
			log_error("smtpd sent a descriptor; dropping the "
			    "connection");
			goto drop;
		}
		if (type == QUEUE_MSG_NEW && q->state == QCONN_IDLE &&
		    ipc_in_done(&in)) {
			handle_new(q);
		} else if (type == QUEUE_MSG_COMMIT &&
		    q->state == QCONN_WRITING) {
			handle_commit(q, &in);
		} else {
			log_error("unexpected message %u from smtpd in state "
			    "%d; dropping the connection", type, q->state);
			goto drop;
		}
	}
	if (r < 0) {
		log_error("malformed frame from smtpd; dropping the "
		    "connection");
		goto drop;
	}
	if (q->ipc.eof)
		goto drop;
	return;
drop:
	if (q->state == QCONN_COMMITTING) {
		/* Still in the pending list: let the flush skip it. */
		q->state = QCONN_DONE;
		for (struct qconn **pp = &qs.pending; *pp != NULL;
		    pp = &(*pp)->next_pending)
			if (*pp == q) {
				*pp = q->next_pending;
				break;
			}
	}
	qconn_free(q);
}

/* clean_tmp - remove files of writers that no longer exist. */
static void
clean_tmp(void)
{
	DIR *d = opendir(QUEUE_TMP_DIR);
	struct dirent *de;
	unsigned removed = 0;

	if (d == NULL) {
		log_warning("cannot read %s: %s", QUEUE_TMP_DIR,
		    strerror(errno));
		return;
	}
	while ((de = readdir(d)) != NULL) {
		const char *dot = strchr(de->d_name, '.');
		char path[512];
		long pid;

		if (de->d_name[0] == '.')
			continue;
		pid = dot != NULL ? strtol(dot + 1, NULL, 10) : 0;
		if (pid > 0 && pid != (long)getpid() &&
		    (kill((pid_t)pid, 0) == 0 || errno == EPERM))
			continue;	/* another live queue process */
		snprintf(path, sizeof(path), "%s/%s", QUEUE_TMP_DIR,
		    de->d_name);
		if (unlink(path) == 0)
			removed++;
	}
	closedir(d);
	if (removed > 0)
		log_info("removed %u unfinished queue file%s left by a "
		    "stopped process", removed, removed == 1 ? "" : "s");
}

static void
queue_init(struct child *c)
{
	const struct config_view *v = child_view(c);
	uint64_t limit = config_size(v, P_message_size_limit);

	qs.base = child_event_base(c);
	qs.flush_ev = event_new(qs.base, -1, 0, flush_commits, NULL);
	/* Envelope and record framing add a little to the message. */
	qs.max_file_bytes = limit == 0 ? 0 : limit * 2 + 1024 * 1024;
	qs.incoming_fd = open(QUEUE_INCOMING_DIR, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC);
	if (qs.incoming_fd < 0)
		log_fatal("cannot open %s: %s", QUEUE_INCOMING_DIR,
		    strerror(errno));
	clean_tmp();
}

static void
queue_accept(struct child *c, int fd, const char *client,
    const char *listen_addr)
{
	struct qconn *q = xcalloc(1, sizeof(*q));

	q->child = c;
	q->sock = fd;
	q->file_fd = -1;
	q->state = QCONN_IDLE;
	ipc_conn_init(&q->ipc, fd);
	q->ev = event_new(qs.base, fd, EV_READ | EV_PERSIST, on_qconn, q);
	event_add(q->ev, NULL);
	qs.nconns++;
}

static size_t
queue_active(struct child *c)
{
	return qs.nconns;
}

const struct child_program queue_service_program = {
	.name = "queue",
	.init = queue_init,
	.accept_fn = queue_accept,
	.active = queue_active,
	.internal_chroot = true,
};
