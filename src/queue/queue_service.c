/* SPDX-License-Identifier: MIT */
/*
 * queue_service - the queue process; see queue_service.h.
 *
 * Runs as mail_owner with the current directory (or chroot) at
 * queue_directory, so every path here is relative to it.  Input from
 * smtpd is untrusted: frames are checked field by field, the file is
 * parsed whole before it is committed, and a frame that is malformed or
 * does not fit a transaction's state ends that connection (and every
 * open transaction of it: queue_proto.h).
 *
 * A connection (struct qconn) is an smtpd process's channel, holding
 * its open transactions (struct qtxn) by tag, or an `ostia queue`
 * request.  Answers go through an ipc_writer: several smtpd processes
 * and thousands of transactions share few sockets, and a socket that is
 * full must neither lose a frame nor block the loop.  A connection
 * whose smtpd sends faster than it reads the answers is not read until
 * it caught up.
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
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "fs_order.h"
#include "ipc.h"
#include "log.h"
#include "pickup.h"
#include "qmgr.h"
#include "qmgr_verify.h"
#include "queue_file.h"
#include "queue_proto.h"
#include "queue_service.h"
#include "queue_showq.h"
#include "queue_spare.h"
#include "tagmap.h"
#include "verify_proto.h"
#include "xalloc.h"

enum qconn_kind {
	QCONN_FRESH,		/* nothing received yet */
	QCONN_CHANNEL,		/* smtpd's: transactions */
	QCONN_CTL,		/* `ostia queue`: its request was answered */
	QCONN_VERIFY,		/* smtpd's: address verification queries */
};

enum qtxn_state {
	QTXN_WRITING,		/* FILE sent, waiting for COMMIT */
	QTXN_COMMITTING,	/* its commit job is in flight */
};

/* Longest control request and answer (`ostia queue`). */
#define QUEUE_CTL_REQUEST_MAX 512
/* Answers waiting for smtpd beyond which its connection is not read
 * (until half of them left), and the most that may wait: the mark plus
 * an answer (at most a FAIL with its reason) to every open transaction,
 * which only in-flight commits add once reading stopped. */
#define QCONN_OUT_HIGH (64 * 1024)
#define QCONN_OUT_MAX (QCONN_OUT_HIGH + QUEUE_CONN_TXN_MAX * \
	(IPC_HEADER_BYTES + 12 + QUEUE_REASON_MAX_BYTES))
/* The commit check reads files up to this size into each sync thread's
 * buffer, bigger ones into one allocated for them.  Never mapped: a
 * file cut short by its writer would raise SIGBUS, and unmapping in a
 * process with threads makes every CPU flush its TLB. */
#define CHECK_READ_MAX_BYTES (64 * 1024)

struct commit_job;

struct qconn {
	int sock;
	struct event *ev;	/* readable; deleted while !reading */
	struct event *wev;	/* writable; added while answers wait */
	bool reading;
	bool writing;
	enum qconn_kind kind;
	struct ipc_conn ipc;
	struct ipc_writer out;
	struct tagmap txns;	/* struct qtxn by tag */
	unsigned nverify;	/* VERIFY queries not answered */
	bool in_frame;		/* handle_frame runs: do not free q */
	bool broken;		/* an answer could not be queued */
	struct qconn *prev, *next;	/* qs.conns */
};

/* One message of a channel, from NEW until OK, FAIL or ABORT. */
struct qtxn {
	struct tagmap_node node;	/* the tag */
	struct qconn *q;
	enum qtxn_state state;
	char id[QUEUE_ID_LEN + 1];
	char path[64];		/* incoming/ID */
	int file_fd;		/* while QTXN_WRITING */
	struct commit_job *job;	/* while QTXN_COMMITTING */
	uint64_t dir_need;	/* directory syncs begun before its entry */
};

/*
 * A commit, done off the event loop by a sync thread: check the whole
 * file, give it QUEUE_FILE_MODE and fsync it (the only data sync: the
 * file is in incoming/ since NEW, nothing is renamed).  Its directory
 * entry must be on disk too: a sync of incoming/ that began after NEW
 * made the entry covers it.  NEW asks for one at once (dirsync_soon),
 * so it usually ran while the client sent the message, unless the file
 * system records the name with the file's own sync (queue_preinit,
 * fs_order.h); otherwise the
 * thread that finds no directory sync running fsyncs incoming/ for
 * every job synced meanwhile (group commit: the others leave theirs to
 * it).  Then the loop answers OK.  A job owns its descriptor and path;
 * its transaction may end meanwhile (ABORT, or its connection went
 * away: t becomes NULL, main thread only), and then the message is
 * removed again: its client never heard "250".
 */
struct commit_job {
	struct qtxn *t;
	int fd;
	char id[QUEUE_ID_LEN + 1];
	char path[64];		/* incoming/ID */
	uint64_t dir_need;	/* covered by directory sync dir_need + 1 on */
	int result;		/* 0: committed, -1: failed */
	char why[QUEUE_REASON_MAX_BYTES];
	/* The envelope the check parsed, handed to the queue manager so
	 * that it need not read and parse the file again. */
	struct queue_envelope env;
	bool have_env;
	struct commit_job *next;
};

/* Threads that sync; concurrent fsync()s let the file system
 * commit them together. */
#define QUEUE_SYNC_THREADS 4

struct job_list {
	struct commit_job *head;
	struct commit_job *tail;
};

static struct {
	struct event_base *base;
	size_t ntxns;		/* open transactions, every connection */
	size_t nwaiting;	/* connections with answers waiting */
	size_t nfresh;		/* connections that sent nothing yet */
	/* Every open connection: idle smtpd channels stay open until the
	 * process exits, and are still ours (reachable) then. */
	struct qconn *conns;
	uint32_t counter;
	pid_t pid;		/* ours, asked once (two per message saved) */
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
	/* threads, under mu: jobs whose file is synced, waiting for a
	 * sync of incoming/; the directory syncs begun (numbered from 1)
	 * and the last one that succeeded; one wanted by NEW */
	struct job_list synced;
	bool dirsync_running;
	uint64_t dir_started;
	uint64_t dir_done;
	bool dir_wanted;
	/* Set once before the threads start: NEW asks for a directory
	 * sync at once (queue_preinit says when that pays). */
	bool early_dirsync;
	/* The queue manager starts once it holds the lock on incoming/: a
	 * queue process replaced at a reload finishes its deliveries
	 * first, so no message is worked on by two processes. */
	struct event *lock_ev;
	struct event *trim_ev;	/* spare_trim, once the lock is ours */
	struct child *child;
} qs;

/* self - our process id. */
static pid_t
self(void)
{
	if (qs.pid == 0)
		qs.pid = getpid();
	return qs.pid;
}

void
queue_service_new_id(char id[QUEUE_ID_LEN + 1])
{
	struct timespec ts;
	uint64_t usec;

	clock_gettime(CLOCK_REALTIME, &ts);
	usec = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000;
	queue_id_new(id, usec, ++qs.counter, self());
}

int
queue_service_write(const struct queue_envelope *env, const char *content,
    size_t len)
{
	struct queue_writer w;
	char tmp[64], dst[64];
	int fd, dfd, r = 0, e;

	snprintf(tmp, sizeof(tmp), "%s/%s.%ld", QUEUE_TMP_DIR, env->id,
	    (long)self());
	snprintf(dst, sizeof(dst), "%s/%s", QUEUE_INCOMING_DIR, env->id);
	fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    QUEUE_FILE_MODE);
	if (fd < 0)
		return -1;
	queue_writer_init(&w, fd);
	if (queue_writer_envelope(&w, env) < 0 ||
	    queue_writer_content(&w, content, len) < 0 ||
	    ((env->refused != NULL || env->filter != NULL ||
	    env->hold != NULL || env->redirect != NULL || env->nbccs > 0) &&
	    queue_writer_trailer(&w, env) < 0) ||
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

/* txn_end - t is over (answered, aborted or abandoned): forget it. */
static void
txn_end(struct qtxn *t)
{
	tagmap_remove(&t->q->txns, &t->node);
	free(t);
	qs.ntxns--;
	child_connection_done(qs.child);
}

/*
 * txn_abandon - (t still in its map) smtpd gave t up or went away: the
 * file being written is removed; a commit in flight removes its message
 * once it is done (answer_ok, answer_fail).
 */
static void
txn_abandon(struct qtxn *t)
{
	if (t->state == QTXN_COMMITTING) {
		t->job->t = NULL;
		t->job = NULL;
	} else if (t->file_fd >= 0) {
		/* Removed while still locked: no sweep can take it for an
		 * orphan meanwhile. */
		if (unlink(t->path) == 0)
			log_debug(1, "%s: transaction abandoned; removed %s",
			    t->id, t->path);
		close(t->file_fd);
		t->file_fd = -1;
	}
}

static void
qconn_free(struct qconn *q)
{
	struct tagmap_node *n, *next;

	for (n = tagmap_take_all(&q->txns); n != NULL; n = next) {
		struct qtxn *t = TAGMAP_ENTRY(n, struct qtxn, node);

		next = n->next;
		txn_abandon(t);
		free(t);
		qs.ntxns--;
	}
	tagmap_deinit(&q->txns);
	qmgr_verify_forget(q);
	if (q->kind == QCONN_FRESH)
		qs.nfresh--;
	if (q->writing)
		qs.nwaiting--;
	event_free(q->ev);
	event_free(q->wev);
	ipc_conn_deinit(&q->ipc);
	ipc_writer_deinit(&q->out);
	close(q->sock);
	if (q->prev != NULL)
		q->prev->next = q->next;
	else
		qs.conns = q->next;
	if (q->next != NULL)
		q->next->prev = q->prev;
	free(q);
	child_connection_done(qs.child);
}

/*
 * qconn_put - queue a frame for smtpd (with fd when >= 0; not taken).
 * 0, or -1 when the connection is unusable (logged; the caller drops
 * it).
 */
static int
qconn_put(struct qconn *q, uint32_t type, const struct ipc_out *o, int fd)
{
	if (ipc_writer_put(&q->out, type, o, fd) < 0) {
		if (errno == ENOBUFS)
			log_error("smtpd does not read the answers of the queue "
			    "process; dropping the connection");
		else if (errno == EPIPE || errno == ECONNRESET)
			log_debug(1, "smtpd closed the connection");
		else
			log_warning("cannot answer smtpd: %s", strerror(errno));
		return -1;
	}
	if (!q->writing && ipc_writer_pending(&q->out) > 0) {
		q->writing = true;
		qs.nwaiting++;
		event_add(q->wev, NULL);
	}
	return 0;
}

/* send_fail - answer FAIL for tag (id: for the log, may be NULL); the
 * result of qconn_put. */
static int
send_fail(struct qconn *q, uint32_t tag, const char *id, const char *fmt,
    ...) ATTR_FORMAT(4, 5);

static int
send_fail(struct qconn *q, uint32_t tag, const char *id, const char *fmt,
    ...)
{
	struct ipc_out o;
	char reason[QUEUE_REASON_MAX_BYTES];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	log_warning("%s: not queued: %s", id != NULL ? id : "NOQUEUE",
	    reason);
	ipc_out_init(&o);
	ipc_put_u32(&o, tag);
	ipc_put_str(&o, reason);
	return qconn_put(q, QUEUE_MSG_FAIL, &o, -1);
}

/* channel - q carries transactions from now on; false (logged) when it
 * is an `ostia queue` connection. */
static bool
channel(struct qconn *q, const char *what)
{
	if (q->kind == QCONN_CHANNEL)
		return true;
	if (q->kind == QCONN_FRESH) {
		q->kind = QCONN_CHANNEL;
		qs.nfresh--;
		return true;
	}
	log_error("%s on a queue connection of another kind (control or "
	    "verification); dropping the connection", what);
	return false;
}

/* find_txn - the transaction of tag, or NULL (logged: smtpd named a tag
 * not in use). */
static struct qtxn *
find_txn(struct qconn *q, uint32_t tag, const char *what)
{
	struct tagmap_node *n = tagmap_find(&q->txns, tag);

	if (n == NULL) {
		log_error("smtpd sent %s for tag %lu, which is not in use; "
		    "dropping the connection", what, (unsigned long)tag);
		return NULL;
	}
	return TAGMAP_ENTRY(n, struct qtxn, node);
}

/*
 * dirsync_soon - (event loop) NEW just made an entry in incoming/: a
 * sync of the directory that begins from now on covers it.  Ask a sync
 * thread for one now, so that it usually is done before the commit
 * needs it, unless one is running already.  Returns the number of
 * directory syncs begun so far (the ones that may not cover the entry).
 */
static uint64_t
dirsync_soon(void)
{
	uint64_t need;
	bool wake = false;

	pthread_mutex_lock(&qs.mu);
	need = qs.dir_started;
	/* While one runs, commits keep them coming (group commit): one
	 * more for each NEW would only add syncs under load.  Where the
	 * file's own sync records its name too, the commit's directory
	 * sync is nearly free, and one now would be a journal commit of
	 * its own that the file's sync then waits for. */
	if (qs.early_dirsync && !qs.dir_wanted && !qs.dirsync_running) {
		qs.dir_wanted = true;
		wake = true;
	}
	pthread_mutex_unlock(&qs.mu);
	if (wake)
		pthread_cond_signal(&qs.cv);
	return need;
}

/* handle_new - NEW: make a file and hand it over.  -1: drop q. */
static int
handle_new(struct qconn *q, struct ipc_in *in)
{
	uint32_t tag = ipc_get_u32(in);
	struct ipc_out o;
	struct qtxn *t;
	const char *what = NULL;
	int r, wfd = -1;

	if (!ipc_in_done(in)) {
		log_error("malformed NEW from smtpd; dropping the connection");
		return -1;
	}
	if (!channel(q, "NEW"))
		return -1;
	if (tagmap_find(&q->txns, tag) != NULL) {
		log_error("smtpd sent NEW with tag %lu, which is in use; "
		    "dropping the connection", (unsigned long)tag);
		return -1;
	}
	if (q->txns.count >= QUEUE_CONN_TXN_MAX)
		return send_fail(q, tag, NULL, "too many messages in progress");
	t = xcalloc(1, sizeof(*t));
	t->node.tag = tag;
	t->q = q;
	queue_service_new_id(t->id);
	snprintf(t->path, sizeof(t->path), "%s/%s", QUEUE_INCOMING_DIR, t->id);
	/*
	 * The file of a message that left the queue if there is one
	 * (queue_spare.h: already partial and locked), else a new one.
	 * The lock is the mark of a live writer (queue_proto.h), on this
	 * process's own open file: smtpd gets another one (write only), so
	 * that the lock goes when this process does, whatever smtpd still
	 * holds.  Nobody else can hold a lock on a file just made with
	 * O_EXCL.
	 */
	t->file_fd = spare_take(qs.incoming_fd, t->id);
	if (t->file_fd < 0) {
		t->file_fd = open(t->path, O_RDWR | O_CREAT | O_EXCL |
		    O_CLOEXEC | O_NOFOLLOW, QUEUE_PARTIAL_MODE);
		if (t->file_fd < 0) {
			r = send_fail(q, tag, t->id, "cannot create a queue "
			    "file in %s: %s", QUEUE_INCOMING_DIR,
			    strerror(errno));
			free(t);
			return r;
		}
		if (flock(t->file_fd, LOCK_EX | LOCK_NB) < 0)
			what = "lock";
	}
	if (what == NULL &&
	    (wfd = open(t->path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		what = "open again for smtpd";
	if (what != NULL) {
		r = send_fail(q, tag, t->id, "cannot %s the queue file: %s",
		    what, strerror(errno));
		close(t->file_fd);
		(void)unlink(t->path);
		free(t);
		return r;
	}
	ipc_out_init(&o);
	ipc_put_u32(&o, tag);
	ipc_put_str(&o, t->id);
	r = qconn_put(q, QUEUE_MSG_FILE, &o, wfd);
	close(wfd);
	if (r < 0) {
		close(t->file_fd);
		(void)unlink(t->path);
		free(t);
		return -1;
	}
	t->state = QTXN_WRITING;
	t->dir_need = dirsync_soon();
	tagmap_insert(&q->txns, &t->node);
	qs.ntxns++;
	return 0;
}

/*
 * read_small - (sync thread) the size bytes of fd into rbuf.  0, or -1
 * with j->why.
 */
static int
read_small(struct commit_job *j, char *rbuf, size_t size)
{
	size_t got = 0;

	while (got < size) {
		ssize_t n = pread(j->fd, rbuf + got, size - got, (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(j->why, sizeof(j->why), "cannot read the queue "
			    "file: %s", strerror(errno));
			return -1;
		}
		if (n == 0) {
			snprintf(j->why, sizeof(j->why), "the queue file "
			    "shrank while it was checked");
			return -1;
		}
		got += (size_t)n;
	}
	return 0;
}

/*
 * check_file - (sync thread) the whole file must parse, with our ID.
 * rbuf: CHECK_READ_MAX_BYTES of the thread's, for a small file; a
 * bigger one (at most max_file_bytes) is read into a buffer of its own.
 */
static int
check_file(struct commit_job *j, char *rbuf)
{
	struct queue_envelope env;
	const char *err = NULL, *data;
	struct stat st;
	char *big = NULL;
	size_t size;
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
	size = (size_t)st.st_size;
	/* Read, never mapped: smtpd (the less trusted side) may still
	 * have the file open for writing, and a mapped file cut short
	 * under us would kill the process with SIGBUS. */
	if (size <= CHECK_READ_MAX_BYTES) {
		data = rbuf;
	} else {
		/* Not xmalloc: with message_size_limit = 0 nothing bounds
		 * the size, and a refusal (451) beats an abort. */
		if ((big = malloc(size)) == NULL) {
			snprintf(j->why, sizeof(j->why), "no memory to check a "
			    "queue file of %zu bytes", size);
			return -1;
		}
		data = big;
	}
	if (read_small(j, big != NULL ? big : rbuf, size) < 0) {
		free(big);
		return -1;
	}
	memset(&env, 0, sizeof(env));
	ret = queue_file_parse(data, size, &env, NULL, &err);
	if (ret == 0 && (env.id == NULL || strcmp(env.id, j->id) != 0)) {
		err = "the file names another queue ID";
		ret = -1;
	}
	/* Only the queue process makes probes: one from smtpd would never
	 * be delivered, only "verified". */
	if (ret == 0 && qmgr_is_probe(&env)) {
		err = "protocol \"" QMGR_VERIFY_PROTOCOL "\" is the queue "
		    "process's own";
		ret = -1;
	}
	if (ret < 0)
		snprintf(j->why, sizeof(j->why), "invalid queue file from "
		    "smtpd: %s", err);
	if (ret == 0) {
		j->env = env;		/* the job owns it now */
		j->have_env = true;
	} else {
		queue_envelope_deinit(&env);
	}
	free(big);
	return ret;
}

/* run_job - (sync thread) check one file, mark it committed, sync it. */
static void
run_job(struct commit_job *j, char *rbuf)
{
	j->result = -1;
	if (check_file(j, rbuf) < 0)
		return;
	/* The mode goes to disk with the data: fsync, not fdatasync. */
	if (fchmod(j->fd, QUEUE_FILE_MODE) < 0) {
		snprintf(j->why, sizeof(j->why), "cannot mark the queue file "
		    "committed: %s", strerror(errno));
		return;
	}
	if (fsync(j->fd) < 0) {
		snprintf(j->why, sizeof(j->why), "cannot sync the queue file: "
		    "%s", strerror(errno));
		return;
	}
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
 * release_covered - (sync thread, mu held) the waiting jobs whose entry
 * directory sync seq covered go to the event loop.  How many.
 */
static size_t
release_covered(uint64_t seq)
{
	struct commit_job *k = job_list_take_all(&qs.synced), *kn;
	size_t n = 0;

	for (; k != NULL; k = kn) {
		kn = k->next;
		if (k->dir_need < seq) {
			job_list_push(&qs.done, k);
			n++;
		} else {
			job_list_push(&qs.synced, k);
		}
	}
	return n;
}

/*
 * group_commit - (sync thread, mu held) while jobs whose file is synced
 * wait or NEW wants one, sync incoming/ once for all of them, and hand
 * the jobs it covered to the event loop.  Called only by the thread
 * that set dirsync_running.
 */
static void
group_commit(void)
{
	while (qs.synced.head != NULL || qs.dir_wanted) {
		/* Every waiting job's entry exists: this sync covers it. */
		struct commit_job *g = job_list_take_all(&qs.synced), *k, *kn;
		uint64_t seq = ++qs.dir_started;
		size_t count = 0;
		int r, e;

		qs.dir_wanted = false;
		pthread_mutex_unlock(&qs.mu);
		r = fsync(qs.incoming_fd);
		e = errno;
		pthread_mutex_lock(&qs.mu);
		for (k = g; k != NULL; k = kn) {
			kn = k->next;
			count++;
			if (r < 0) {
				k->result = -1;
				snprintf(k->why, sizeof(k->why), "cannot sync "
				    "the queue directory %s: %s",
				    QUEUE_INCOMING_DIR, strerror(e));
			}
			job_list_push(&qs.done, k);
		}
		if (r == 0) {
			qs.dir_done = seq;
			/* Synced meanwhile, with an entry made before it. */
			count += release_covered(seq);
			if (count > 1)
				log_debug(1, "committed %zu messages with one "
				    "directory sync", count);
		}
		if (count > 0)
			wake_main();
	}
}

static void *
sync_thread(void *arg)
{
	char *rbuf = xmalloc(CHECK_READ_MAX_BYTES);

	for (;;) {
		struct commit_job *j;

		pthread_mutex_lock(&qs.mu);
		while (qs.todo.head == NULL &&
		    !(qs.dir_wanted && !qs.dirsync_running))
			pthread_cond_wait(&qs.cv, &qs.mu);
		if (qs.todo.head == NULL) {
			/* A directory sync NEW asked for. */
			qs.dirsync_running = true;
			group_commit();
			qs.dirsync_running = false;
			pthread_mutex_unlock(&qs.mu);
			continue;
		}
		j = qs.todo.head;
		qs.todo.head = j->next;
		if (qs.todo.head == NULL)
			qs.todo.tail = NULL;
		pthread_mutex_unlock(&qs.mu);

		run_job(j, rbuf);

		pthread_mutex_lock(&qs.mu);
		if (j->result < 0 || qs.dir_done > j->dir_need) {
			/* Failed, or its entry is on disk already. */
			job_list_push(&qs.done, j);
			wake_main();
		} else {
			job_list_push(&qs.synced, j);
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
	pthread_mutex_unlock(&qs.mu);
	/* After the unlock: a thread woken while the lock is still held
	 * would only block on it again (two more futex calls). */
	pthread_cond_signal(&qs.cv);
}

static void
job_free(struct commit_job *j)
{
	if (j->fd >= 0)
		close(j->fd);
	if (j->have_env)
		queue_envelope_deinit(&j->env);
	free(j);
}

static void
answer_ok(struct commit_job *j)
{
	struct qtxn *t = j->t;
	struct qconn *q;
	struct ipc_out o;
	int r;

	if (t == NULL) {
		/* smtpd gave it up before OK: its client never saw 250. */
		if (unlink(j->path) == 0)
			log_info("%s: removed: smtpd left before the commit "
			    "was confirmed", j->id);
		return;
	}
	q = t->q;
	t->job = NULL;
	ipc_out_init(&o);
	ipc_put_u32(&o, t->node.tag);
	ipc_put_str(&o, t->id);
	r = qconn_put(q, QUEUE_MSG_OK, &o, -1);
	txn_end(t);
	if (r < 0) {
		if (unlink(j->path) == 0)
			log_info("%s: removed: smtpd could not be told that it "
			    "was queued", j->id);
		qconn_free(q);
		return;
	}
	qmgr_committed(j->id, j->have_env ? &j->env : NULL);
	j->have_env = false;	/* taken (or freed) by the queue manager */
}

static void
answer_fail(struct commit_job *j)
{
	struct qtxn *t = j->t;
	struct qconn *q;
	int r;

	/* Partial or marked committed, it goes: its client hears 451.
	 * The descriptor (and its lock) is closed after this. */
	if (unlink(j->path) < 0 && errno != ENOENT)
		log_error("%s: cannot remove %s after a failed commit: %s (a "
		    "restart may deliver it although its client was told "
		    "451)", j->id, j->path, strerror(errno));
	if (t == NULL)
		return;
	q = t->q;
	t->job = NULL;
	r = send_fail(q, t->node.tag, t->id, "%s", j->why);
	txn_end(t);
	if (r < 0)
		qconn_free(q);
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
			answer_fail(j);
		job_free(j);
	}
}

/* handle_commit - COMMIT: check and sync off the loop.  -1:
 * drop q. */
static int
handle_commit(struct qconn *q, struct ipc_in *in)
{
	uint32_t tag = ipc_get_u32(in);
	char *id = ipc_get_str(in, QUEUE_ID_LEN);
	struct commit_job *j;
	struct qtxn *t;

	if (!ipc_in_done(in) || id == NULL) {
		free(id);
		log_error("malformed COMMIT from smtpd; dropping the "
		    "connection");
		return -1;
	}
	if (!channel(q, "COMMIT") || (t = find_txn(q, tag, "COMMIT")) ==
	    NULL) {
		free(id);
		return -1;
	}
	if (t->state != QTXN_WRITING || strcmp(id, t->id) != 0) {
		log_error("%s: smtpd sent %s; dropping the connection", t->id,
		    t->state != QTXN_WRITING ? "COMMIT twice" :
		    "COMMIT for another queue ID");
		free(id);
		return -1;
	}
	free(id);
	j = xcalloc(1, sizeof(*j));
	j->t = t;
	j->fd = t->file_fd;	/* the job owns the file from now on */
	t->file_fd = -1;
	memcpy(j->id, t->id, sizeof(j->id));
	memcpy(j->path, t->path, sizeof(j->path));
	j->dir_need = t->dir_need;
	t->job = j;
	t->state = QTXN_COMMITTING;
	submit(j);
	return 0;
}

/*
 * handle_abort - ABORT: smtpd gives the message up.  A tag not in use
 * is no fault: smtpd sends ABORT when its client leaves while it waits
 * for FILE or OK, and the answer may be on its way already.  -1: drop
 * q.
 */
static int
handle_abort(struct qconn *q, struct ipc_in *in)
{
	uint32_t tag = ipc_get_u32(in);
	struct tagmap_node *n;
	struct qtxn *t;

	if (!ipc_in_done(in)) {
		log_error("malformed ABORT from smtpd; dropping the "
		    "connection");
		return -1;
	}
	if (!channel(q, "ABORT"))
		return -1;
	n = tagmap_find(&q->txns, tag);
	if (n == NULL) {
		/* Its OK or FAIL crossed the ABORT: nothing is left. */
		log_debug(1, "ABORT for tag %lu, which is no longer in use",
		    (unsigned long)tag);
		return 0;
	}
	t = TAGMAP_ENTRY(n, struct qtxn, node);
	txn_abandon(t);
	txn_end(t);
	return 0;
}

/* handle_ctl - a request of `ostia queue` (root or mail_owner only).
 * -1: drop q. */
static int
handle_ctl(struct qconn *q, struct ipc_in *in)
{
	char *req;
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	struct ipc_out o;
	struct buf out;
	int r;

	if (q->kind != QCONN_FRESH) {
		log_error("a queue control request on a connection that is "
		    "not fresh; dropping the connection");
		return -1;
	}
	q->kind = QCONN_CTL;
	qs.nfresh--;
	req = ipc_get_str(in, QUEUE_CTL_REQUEST_MAX);
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
	r = qconn_put(q, QUEUE_MSG_CTL_REPLY, &o, -1);
	buf_deinit(&out);
	return r;
}

static int handle_frame_kind(struct qconn *q, uint32_t type,
    struct ipc_in *in);

/* on_verify_answer - (qmgr_verify_answer_fn) the answer to a VERIFY. */
static void
on_verify_answer(void *owner, uint32_t tag, enum verify_state st,
    const char *dsn, const char *text)
{
	struct qconn *q = owner;
	char t[VERIFY_TEXT_MAX];
	struct verify_answer a = { .tag = tag, .state = st };
	struct ipc_out o;

	q->nverify--;
	snprintf(t, sizeof(t), "%s", text);
	a.dsn = UNCONST(dsn);
	a.text = t;
	if (verify_answer_encode(&a, &o) < 0) {
		log_error("address verification answer for tag %lu does not "
		    "encode (%s, \"%s\"); dropping the connection",
		    (unsigned long)tag, verify_state_name(st), dsn);
		q->broken = true;
	} else if (qconn_put(q, QUEUE_MSG_VERIFY_REPLY, &o, -1) < 0) {
		q->broken = true;
	}
	if (q->broken && !q->in_frame)
		qconn_free(q);
}

/* handle_verify - an address verification query of smtpd.  -1: drop
 * q. */
static int
handle_verify(struct qconn *q, struct ipc_in *in)
{
	struct verify_query vq;
	const char *err;

	if (q->kind == QCONN_FRESH) {
		q->kind = QCONN_VERIFY;
		qs.nfresh--;
	} else if (q->kind != QCONN_VERIFY) {
		log_error("an address verification query on a queue "
		    "connection of another kind; dropping the connection");
		return -1;
	}
	if (verify_query_decode(in, &vq, &err) < 0) {
		log_error("malformed address verification query from smtpd "
		    "(%s); dropping the connection", err);
		return -1;
	}
	if (q->nverify >= VERIFY_CONN_QUERIES_MAX) {
		log_error("smtpd has %u address verification queries open, "
		    "the limit; dropping the connection", q->nverify);
		verify_query_free(&vq);
		return -1;
	}
	q->nverify++;
	qmgr_verify_ask(q, vq.tag, vq.address, vq.service, vq.wait_ms,
	    on_verify_answer);
	verify_query_free(&vq);
	return q->broken ? -1 : 0;
}

/* handle_frame - one frame from q's peer.  -1: drop q. */
static int
handle_frame(struct qconn *q, uint32_t type, struct ipc_in *in)
{
	int r;

	q->in_frame = true;
	r = handle_frame_kind(q, type, in);
	q->in_frame = false;
	return r;
}

static int
handle_frame_kind(struct qconn *q, uint32_t type, struct ipc_in *in)
{
	switch (type) {
	case QUEUE_MSG_VERIFY:
		return handle_verify(q, in);
	case QUEUE_MSG_NEW:
		return handle_new(q, in);
	case QUEUE_MSG_COMMIT:
		return handle_commit(q, in);
	case QUEUE_MSG_ABORT:
		return handle_abort(q, in);
	case QUEUE_MSG_CTL:
		return handle_ctl(q, in);
	default:
		log_error("unexpected message %lu from smtpd; dropping the "
		    "connection", (unsigned long)type);
		return -1;
	}
}

static void
on_qconn_write(evutil_socket_t fd, short what, void *arg)
{
	struct qconn *q = arg;
	int r = ipc_writer_flush(&q->out);

	if (r < 0) {
		if (errno == EPIPE || errno == ECONNRESET)
			log_debug(1, "smtpd closed the connection");
		else
			log_warning("cannot answer smtpd: %s", strerror(errno));
		qconn_free(q);
		return;
	}
	if (!q->reading && ipc_writer_pending(&q->out) <= QCONN_OUT_HIGH / 2) {
		q->reading = true;
		event_add(q->ev, NULL);
	}
	if (r == 0) {
		event_del(q->wev);
		q->writing = false;
		qs.nwaiting--;
		child_connection_done(qs.child);
	}
}

/*
 * on_qconn - q is readable: one read (level-triggered: the loop comes
 * back while more waits, without a read that finds nothing), then every
 * complete frame.
 */
static void
on_qconn(evutil_socket_t fd, short what, void *arg)
{
	struct qconn *q = arg;
	struct ipc_in in;
	uint32_t type;
	int pfd, r;

	if (ipc_conn_read(&q->ipc) < 0) {
		/* smtpd closing with frames still unread (it went away) is a
		 * reset, not a fault. */
		if (errno == ECONNRESET)
			log_debug(1, "smtpd closed the connection");
		else
			log_warning("queue connection error: %s",
			    strerror(errno));
		goto drop;
	}
	while ((r = ipc_conn_next(&q->ipc, &type, &in, &pfd)) == 1) {
		if (pfd >= 0) {
			close(pfd);	/* smtpd never sends one */
			log_error("smtpd sent a descriptor; dropping the "
			    "connection");
			goto drop;
		}
		if (handle_frame(q, type, &in) < 0)
			goto drop;
	}
	if (r < 0) {
		log_error("malformed frame from smtpd; dropping the "
		    "connection");
		goto drop;
	}
	if (q->ipc.eof)
		goto drop;
	if (ipc_writer_pending(&q->out) > QCONN_OUT_HIGH) {
		/* Read again once smtpd took its answers. */
		q->reading = false;
		event_del(q->ev);
	}
	return;
drop:
	qconn_free(q);
}

/* log_removed - say how many unfinished files a clean-up removed. */
static void
log_removed(unsigned removed)
{
	if (removed > 0)
		log_info("removed %u unfinished queue file%s left by a "
		    "stopped process", removed, removed == 1 ? "" : "s");
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
		if (pid > 0 && pid != (long)self() &&
		    (kill((pid_t)pid, 0) == 0 || errno == EPERM))
			continue;	/* another live queue process */
		snprintf(path, sizeof(path), "%s/%s", QUEUE_TMP_DIR,
		    de->d_name);
		if (unlink(path) == 0)
			removed++;
	}
	closedir(d);
	log_removed(removed);
}

/*
 * sweep_partial - remove the partial files in incoming/ that no live
 * transaction holds (queue_proto.h): left by a queue process that died.
 * Run once this process holds the lock on incoming/, so no other queue
 * process makes files meanwhile; our own open transactions hold their
 * files' locks, so the flock() here fails on them.
 */
static void
sweep_partial(void)
{
	int dfd = dup(qs.incoming_fd);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *de;
	unsigned removed = 0;

	if (d == NULL) {
		log_warning("cannot read %s to remove unfinished files: %s",
		    QUEUE_INCOMING_DIR, strerror(errno));
		if (dfd >= 0)
			close(dfd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		int fd;

		if (!queue_id_is_valid(de->d_name) ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) <
		    0 || !queue_file_partial(&st))
			continue;
		fd = openat(dirfd(d), de->d_name, O_WRONLY | O_NOFOLLOW |
		    O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0 &&
		    unlinkat(dirfd(d), de->d_name, 0) == 0) {
			log_debug(1, "%s: removed the partial queue file %s/%s",
			    de->d_name, QUEUE_INCOMING_DIR, de->d_name);
			removed++;
		}
		close(fd);
	}
	closedir(d);
	log_removed(removed);
}

/* on_trim - free the spares no message needed lately. */
static void
on_trim(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	(void)spare_trim();
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
	sweep_partial();
	spare_init();
	if (qs.trim_ev == NULL) {
		struct timeval every = { QUEUE_SPARE_TRIM_SECONDS, 0 };

		qs.trim_ev = event_new(qs.base, -1, EV_PERSIST, on_trim, NULL);
		if (qs.trim_ev == NULL || event_add(qs.trim_ev, &every) < 0)
			log_error("cannot start the timer that frees unused "
			    "spare queue files; they are freed at the next "
			    "start instead");
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

/*
 * queue_preinit - (root, in queue_directory, before the chroot hides
 * /proc and /sys) learn whether a directory sync started at NEW saves
 * time on this file system (fs_order.h); the pickup opens its header
 * and body check tables.
 */
static void
queue_preinit(struct child *c)
{
	char what[128];

	if (qmgr_configured(child_config(c)))
		pickup_preinit(c);	/* its tables, before the chroot */
	qs.early_dirsync = !fs_order_names_follow_files(QUEUE_INCOMING_DIR,
	    what, sizeof(what));
	log_debug(1, "%s is on %s: the directory sync for a new message "
	    "%s", QUEUE_INCOMING_DIR, what, qs.early_dirsync ?
	    "starts when the message begins (NEW)" :
	    "follows the file's own sync");
}

static void
queue_init(struct child *c)
{
	const struct config_view *v = child_view(c);
	uint64_t limit = config_size(v, P_message_size_limit);
	sigset_t all, old;

	qs.base = child_event_base(c);
	/* Every file here is the owner's alone, and a partial file must
	 * keep exactly QUEUE_PARTIAL_MODE whatever umask we inherited. */
	umask(077);
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
	queue_showq_init(qs.base, v, qs.max_file_bytes != 0 ?
	    qs.max_file_bytes : (size_t)1 << 32);
	try_lock(-1, 0, c);
}

static void
queue_accept(struct child *c, int fd, const char *client,
    unsigned client_port, const char *listen_addr)
{
	struct qconn *q;

	if (queue_showq_is_ours(listen_addr)) {
		queue_showq_accept(fd);
		return;
	}
	q = xcalloc(1, sizeof(*q));
	q->sock = fd;
	q->kind = QCONN_FRESH;
	ipc_conn_init(&q->ipc, fd);
	ipc_writer_init(&q->out, fd, QCONN_OUT_MAX);
	tagmap_init(&q->txns);
	q->ev = event_new(qs.base, fd, EV_READ | EV_PERSIST, on_qconn, q);
	q->wev = event_new(qs.base, fd, EV_WRITE | EV_PERSIST, on_qconn_write,
	    q);
	q->reading = true;
	event_add(q->ev, NULL);
	q->next = qs.conns;
	if (qs.conns != NULL)
		qs.conns->prev = q;
	qs.conns = q;
	qs.nfresh++;
}

/*
 * queue_active - what a stopping queue process waits for: open
 * transactions, answers not yet sent, connections that did not say what
 * they are, and the queue manager's deliveries.  An smtpd channel with
 * no transaction open does not count: smtpd connects again (to the
 * process that took over the socket) for its next message.
 */
static size_t
queue_active(struct child *c)
{
	return qs.ntxns + qs.nwaiting + qs.nfresh + qmgr_active();
}

const struct child_program queue_service_program = {
	.name = "queue",
	.preinit = queue_preinit,
	.init = queue_init,
	.accept_fn = queue_accept,
	.active = queue_active,
	.internal_chroot = true,
};
