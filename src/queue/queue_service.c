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
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "ipc.h"
#include "log.h"
#include "pickup.h"
#include "qmgr.h"
#include "queue_file.h"
#include "queue_proto.h"
#include "queue_service.h"
#include "xalloc.h"

enum qconn_state {
	QCONN_IDLE,		/* waiting for NEW */
	QCONN_WRITING,		/* FILE sent, waiting for COMMIT */
	QCONN_COMMITTING,	/* its commit job is in flight */
	QCONN_DONE,		/* OK or FAIL sent */
};

/* Longest control request and answer (`ostia queue`). */
#define QUEUE_CTL_REQUEST_MAX 512

struct commit_job;

struct qconn {
	struct child *child;
	int sock;
	struct event *ev;
	struct ipc_conn ipc;
	enum qconn_state state;
	char id[QUEUE_ID_LEN + 1];
	char tmp_path[64];
	int file_fd;
	struct commit_job *job;	/* while QCONN_COMMITTING */
};

/*
 * A commit, done off the event loop by a sync thread: check the whole
 * file, fdatasync it, rename it into incoming/.  The thread that finds
 * no directory sync running then fsyncs incoming/ for every renamed job
 * waiting (group commit: the others leave theirs to it), and the loop
 * answers OK.  A job owns its descriptor and paths; its connection may
 * go away meanwhile (q becomes NULL, main thread only), and then a
 * message that was already renamed is removed again: its client never
 * heard "250".
 */
struct commit_job {
	struct qconn *q;
	int fd;
	char id[QUEUE_ID_LEN + 1];
	char tmp_path[64];
	char dst[64];
	int result;		/* 0: committed, -1: failed */
	bool renamed;		/* dst exists (even if the dir sync failed) */
	char why[QUEUE_REASON_MAX_BYTES];
	struct commit_job *next;
};

/* Threads that sync; concurrent fdatasync()s let the file system
 * commit them together. */
#define QUEUE_SYNC_THREADS 4

struct job_list {
	struct commit_job *head;
	struct commit_job *tail;
};

static struct {
	struct event_base *base;
	size_t nconns;
	uint32_t counter;
	uint64_t max_file_bytes;	/* 0: no limit */
	int incoming_fd;
	/* main -> threads */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job_list todo;
	/* threads -> main, signalled through done_efd */
	struct job_list done;
	int done_efd;
	struct event *done_ev;
	/* threads, under mu: renamed jobs waiting for a directory sync */
	struct job_list renamed;
	bool dirsync_running;
	/* The queue manager starts once it holds the lock on incoming/: a
	 * queue process replaced at a reload finishes its deliveries
	 * first, so no message is worked on by two processes. */
	struct event *lock_ev;
	struct child *child;
} qs;

void
queue_service_new_id(char id[QUEUE_ID_LEN + 1])
{
	struct timespec ts;
	uint64_t usec;

	clock_gettime(CLOCK_REALTIME, &ts);
	usec = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000;
	queue_id_new(id, usec, ++qs.counter, getpid());
}

int
queue_service_write(const struct queue_envelope *env, const char *content,
    size_t len)
{
	struct queue_writer w;
	char tmp[64], dst[64];
	int fd, dfd, r = 0, e;

	snprintf(tmp, sizeof(tmp), "%s/%s.%ld", QUEUE_TMP_DIR, env->id,
	    (long)getpid());
	snprintf(dst, sizeof(dst), "%s/%s", QUEUE_INCOMING_DIR, env->id);
	fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd < 0)
		return -1;
	queue_writer_init(&w, fd);
	if (queue_writer_envelope(&w, env) < 0 ||
	    queue_writer_content(&w, content, len) < 0 ||
	    queue_writer_finish(&w) < 0)
		r = -1;
	queue_writer_deinit(&w);
	if (r == 0 && fdatasync(fd) < 0)
		r = -1;
	if (r == 0 && link(tmp, dst) < 0)
		r = -1;
	e = errno;
	(void)unlink(tmp);
	close(fd);
	if (r < 0) {
		errno = e;
		return -1;
	}
	dfd = open(QUEUE_INCOMING_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0) {
		e = errno;
		if (dfd >= 0)
			close(dfd);
		(void)unlink(dst);
		errno = e;
		return -1;
	}
	close(dfd);
	return 0;
}

static void
job_list_push(struct job_list *l, struct commit_job *j)
{
	j->next = NULL;
	if (l->tail != NULL)
		l->tail->next = j;
	else
		l->head = j;
	l->tail = j;
}

static struct commit_job *
job_list_take_all(struct job_list *l)
{
	struct commit_job *h = l->head;

	l->head = NULL;
	l->tail = NULL;
	return h;
}

static void
qconn_free(struct qconn *q)
{
	struct child *c = q->child;

	if (q->job != NULL)
		q->job->q = NULL;	/* the job finishes on its own */
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
	struct ipc_out o;

	queue_service_new_id(q->id);
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

/* check_file - (sync thread) the whole file must parse, with our ID. */
static int
check_file(struct commit_job *j)
{
	struct queue_envelope env;
	const char *err = NULL;
	struct stat st;
	void *map;
	int ret;

	if (fstat(j->fd, &st) < 0) {
		snprintf(j->why, sizeof(j->why), "fstat: %s", strerror(errno));
		return -1;
	}
	if (st.st_size <= 0 || (qs.max_file_bytes != 0 &&
	    (uint64_t)st.st_size > qs.max_file_bytes)) {
		snprintf(j->why, sizeof(j->why), "queue file has an impossible "
		    "size (%lld bytes)", (long long)st.st_size);
		return -1;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, j->fd, 0);
	if (map == MAP_FAILED) {
		snprintf(j->why, sizeof(j->why), "mmap: %s", strerror(errno));
		return -1;
	}
	memset(&env, 0, sizeof(env));
	ret = queue_file_parse(map, (size_t)st.st_size, &env, NULL, &err);
	if (ret == 0 && (env.id == NULL || strcmp(env.id, j->id) != 0)) {
		err = "the file names another queue ID";
		ret = -1;
	}
	if (ret < 0)
		snprintf(j->why, sizeof(j->why), "invalid queue file from "
		    "smtpd: %s", err);
	queue_envelope_deinit(&env);
	munmap(map, (size_t)st.st_size);
	return ret;
}

/* run_job - (sync thread) check, sync and rename one file. */
static void
run_job(struct commit_job *j)
{
	j->result = -1;
	if (check_file(j) < 0)
		return;
	if (fdatasync(j->fd) < 0) {
		snprintf(j->why, sizeof(j->why), "cannot sync the queue file: "
		    "%s", strerror(errno));
		return;
	}
	if (rename(j->tmp_path, j->dst) < 0) {
		snprintf(j->why, sizeof(j->why), "cannot move the queue file "
		    "to %s: %s", QUEUE_INCOMING_DIR, strerror(errno));
		return;
	}
	j->renamed = true;
	j->result = 0;
}

/* wake_main - (sync thread) finished jobs are in qs.done. */
static void
wake_main(void)
{
	uint64_t one = 1;

	if (write(qs.done_efd, &one, sizeof(one)) < 0)
		log_error("cannot wake the queue process: %s",
		    strerror(errno));
}

/*
 * group_commit - (sync thread, mu held) while renamed jobs wait, take
 * them all, sync incoming/ once, and hand them to the event loop.
 * Called only by the thread that set dirsync_running.
 */
static void
group_commit(void)
{
	while (qs.renamed.head != NULL) {
		struct commit_job *g = job_list_take_all(&qs.renamed), *k, *kn;
		size_t count = 0;
		int r, e;

		pthread_mutex_unlock(&qs.mu);
		r = fsync(qs.incoming_fd);
		e = errno;
		for (k = g; k != NULL; k = k->next)
			count++;
		if (r == 0 && count > 1)
			log_debug(1, "committed %zu messages with one directory "
			    "sync", count);
		pthread_mutex_lock(&qs.mu);
		for (k = g; k != NULL; k = kn) {
			kn = k->next;
			if (r < 0) {
				k->result = -1;
				snprintf(k->why, sizeof(k->why), "cannot sync "
				    "the queue directory: %s", strerror(e));
			}
			job_list_push(&qs.done, k);
		}
		wake_main();
	}
}

static void *
sync_thread(void *arg)
{
	for (;;) {
		struct commit_job *j;

		pthread_mutex_lock(&qs.mu);
		while (qs.todo.head == NULL)
			pthread_cond_wait(&qs.cv, &qs.mu);
		j = qs.todo.head;
		qs.todo.head = j->next;
		if (qs.todo.head == NULL)
			qs.todo.tail = NULL;
		pthread_mutex_unlock(&qs.mu);

		run_job(j);

		pthread_mutex_lock(&qs.mu);
		if (j->result < 0) {
			job_list_push(&qs.done, j);
			wake_main();
		} else {
			job_list_push(&qs.renamed, j);
			if (!qs.dirsync_running) {
				qs.dirsync_running = true;
				group_commit();
				qs.dirsync_running = false;
			}
		}
		pthread_mutex_unlock(&qs.mu);
	}
	return NULL;
}

static void
submit(struct commit_job *j)
{
	pthread_mutex_lock(&qs.mu);
	job_list_push(&qs.todo, j);
	pthread_cond_signal(&qs.cv);
	pthread_mutex_unlock(&qs.mu);
}

static void
job_free(struct commit_job *j)
{
	if (j->fd >= 0)
		close(j->fd);
	free(j);
}

static void
answer_ok(struct commit_job *j)
{
	struct qconn *q = j->q;
	struct ipc_out o;

	if (q == NULL) {
		/* Its smtpd gave up before OK: the client never saw 250. */
		if (unlink(j->dst) == 0)
			log_info("%s: removed: smtpd left before the commit "
			    "was confirmed", j->id);
		return;
	}
	q->job = NULL;
	snprintf(q->tmp_path, sizeof(q->tmp_path), "%s", j->dst);
	ipc_out_init(&o);
	ipc_put_str(&o, q->id);
	if (ipc_send(q->sock, QUEUE_MSG_OK, &o, -1) < 0)
		log_warning("%s: queued, but smtpd could not be told: %s",
		    q->id, strerror(errno));
	q->state = QCONN_DONE;
	qmgr_committed(j->id);
}

static void
answer_fail(struct commit_job *j, bool renamed)
{
	struct qconn *q = j->q;

	if (renamed)
		(void)unlink(j->dst);
	else
		(void)unlink(j->tmp_path);
	if (q == NULL)
		return;
	q->job = NULL;
	qconn_fail(q, "%s", j->why);
}

/* on_jobs_done - (event loop) answer every finished job. */
static void
on_jobs_done(evutil_socket_t fd, short what, void *arg)
{
	struct commit_job *list, *j, *next;
	uint64_t n;

	if (read(qs.done_efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_error("eventfd: %s", strerror(errno));
	pthread_mutex_lock(&qs.mu);
	list = job_list_take_all(&qs.done);
	pthread_mutex_unlock(&qs.mu);
	for (j = list; j != NULL; j = next) {
		next = j->next;
		if (j->result == 0)
			answer_ok(j);
		else
			answer_fail(j, j->renamed);
		job_free(j);
	}
}

static void
handle_commit(struct qconn *q, struct ipc_in *in)
{
	char *id = ipc_get_str(in, QUEUE_ID_LEN);
	struct commit_job *j;

	if (!ipc_in_done(in) || id == NULL || strcmp(id, q->id) != 0) {
		free(id);
		qconn_fail(q, "COMMIT for a queue ID this connection does not "
		    "hold");
		return;
	}
	free(id);
	j = xcalloc(1, sizeof(*j));
	j->q = q;
	j->fd = q->file_fd;	/* the job owns the file from now on */
	q->file_fd = -1;
	memcpy(j->id, q->id, sizeof(j->id));
	snprintf(j->tmp_path, sizeof(j->tmp_path), "%s", q->tmp_path);
	snprintf(j->dst, sizeof(j->dst), "%s/%s", QUEUE_INCOMING_DIR, q->id);
	q->job = j;
	q->state = QCONN_COMMITTING;
	submit(j);
}

/* handle_ctl - a request of `ostia queue` (root or mail_owner only). */
static void
handle_ctl(struct qconn *q, struct ipc_in *in)
{
	char *req = ipc_get_str(in, QUEUE_CTL_REQUEST_MAX);
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	struct ipc_out o;
	struct buf out;
	int r;

	buf_init(&out, IPC_PAYLOAD_MAX_BYTES - 64);
	if (req == NULL || !ipc_in_done(in) || memchr(req, '\n', strlen(req))
	    != NULL) {
		(void)buf_append_str(&out, "malformed request\n");
		r = 2;
	} else if (getsockopt(q->sock, SOL_SOCKET, SO_PEERCRED, &cred,
	    &cl) < 0 || (cred.uid != 0 && cred.uid != geteuid())) {
		(void)buf_append_str(&out, "permission denied: only root and "
		    "mail_owner may control the queue\n");
		r = 2;
	} else {
		log_info("queue control: %s (uid %ld)", req, (long)cred.uid);
		r = qmgr_control(req, &out);
	}
	free(req);
	ipc_out_init(&o);
	ipc_put_u32(&o, (uint32_t)r);
	ipc_put_str(&o, buf_cstr(&out));
	if (ipc_send(q->sock, QUEUE_MSG_CTL_REPLY, &o, -1) < 0)
		log_warning("cannot answer a queue control request: %s",
		    strerror(errno));
	buf_deinit(&out);
	q->state = QCONN_DONE;
}

static void
on_qconn(evutil_socket_t fd, short what, void *arg)
{
	struct qconn *q = arg;
	struct ipc_in in;
	uint32_t type;
	int pfd, r;

	if (ipc_conn_fill(&q->ipc) < 0) {
		/* smtpd closing with a request still unread (its client went
		 * away mid-transaction) is a reset, not a fault. */
		if (errno == ECONNRESET)
			log_debug(1, "%s: smtpd closed the connection",
			    q->id[0] ? q->id : "NOQUEUE");
		else
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
		} else if (type == QUEUE_MSG_CTL && q->state == QCONN_IDLE) {
			handle_ctl(q, &in);
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

/* try_lock - start the queue manager once incoming/ is ours. */
static void
try_lock(evutil_socket_t fd, short what, void *arg)
{
	struct child *c = arg;

	if (flock(qs.incoming_fd, LOCK_EX | LOCK_NB) < 0) {
		struct timeval tv = { 0, 200 * 1000 };

		if (errno != EWOULDBLOCK)
			log_error("cannot lock %s: %s", QUEUE_INCOMING_DIR,
			    strerror(errno));
		if (qs.lock_ev == NULL)
			qs.lock_ev = evtimer_new(qs.base, try_lock, c);
		evtimer_add(qs.lock_ev, &tv);
		return;
	}
	if (!qmgr_configured(child_config(c))) {
		log_warning("master.cf has no qmgr service: mail is queued but "
		    "not delivered (add \"qmgr unix n - n 300 1 qmgr\" to "
		    "master.cf to deliver it)");
		return;
	}
	qmgr_init(c);
	pickup_init(c);		/* local submissions, where the qmgr runs */
}

static void
queue_init(struct child *c)
{
	const struct config_view *v = child_view(c);
	uint64_t limit = config_size(v, P_message_size_limit);
	sigset_t all, old;

	qs.base = child_event_base(c);
	pthread_mutex_init(&qs.mu, NULL);
	pthread_cond_init(&qs.cv, NULL);
	qs.done_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (qs.done_efd < 0)
		log_fatal("eventfd: %s", strerror(errno));
	qs.done_ev = event_new(qs.base, qs.done_efd, EV_READ | EV_PERSIST,
	    on_jobs_done, NULL);
	event_add(qs.done_ev, NULL);
	/* Envelope and record framing add a little to the message. */
	qs.max_file_bytes = limit == 0 ? 0 : limit * 2 + 1024 * 1024;
	qs.incoming_fd = open(QUEUE_INCOMING_DIR, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC);
	if (qs.incoming_fd < 0)
		log_fatal("cannot open %s: %s", QUEUE_INCOMING_DIR,
		    strerror(errno));
	clean_tmp();
	/* Signals stay with the event loop's thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (int i = 0; i < QUEUE_SYNC_THREADS; i++) {
		pthread_t t;
		int r = pthread_create(&t, NULL, sync_thread, NULL);

		if (r != 0)
			log_fatal("cannot start a sync thread: %s",
			    strerror(r));
		pthread_detach(t);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	qs.child = c;
	try_lock(-1, 0, c);
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
	return qs.nconns + qmgr_active();
}

const struct child_program queue_service_program = {
	.name = "queue",
	.init = queue_init,
	.accept_fn = queue_accept,
	.active = queue_active,
	.internal_chroot = true,
};
