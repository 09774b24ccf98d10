/* SPDX-License-Identifier: MIT */
/*
 * local_spawn - the privileged helper and the delivery workers of the
 * local agent; see local_spawn.h for the design and its reasons.
 *
 * Wire formats (AF_UNIX SOCK_SEQPACKET, so each message arrives whole):
 *
 *   agent -> helper   struct spawn_req (fixed size) + the worker's end of
 *                     a new socketpair (SCM_RIGHTS)
 *   agent -> worker   the job: u32 version, u32 kind, then per kind
 *                     (ipc.h's u32 / u64 / length-prefixed strings)
 *                     + the message memfd (SCM_RIGHTS; none for READ)
 *   worker -> agent   struct wire_result (fixed size); for a READ job
 *                     the file's bytes follow it in the same message
 *
 * Anything else (a wrong size, a missing or extra descriptor, a field
 * that does not decode) ends the exchange: the helper logs and exits
 * (the agent then defers and restarts), a worker logs and exits without
 * a result (the agent defers that delivery).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "child.h"
#include "compat.h"
#include "ipc.h"
#include "local_spawn.h"
#include "log.h"
#include "maildir.h"
#include "mbox.h"
#include "pipe_run.h"
#include "proc_reset.h"
#include "strv.h"
#include "xalloc.h"

#define SPAWN_MAGIC 0x4f4c5350u		/* "OLSP" */
#define RESULT_MAGIC 0x4f4c5252u	/* "OLRR" */
#define JOB_VERSION 1
/* Directories a command name without '/' is looked for in. */
#define LOCAL_COMMAND_PATH "/usr/local/bin:/usr/bin:/bin"
/* Longest string field of a job. */
#define JOB_STR_MAX (LOCAL_JOB_MAX_BYTES / 2)
/* A READ worker's time (a home on a slow network file system). */
#define LOCAL_READ_TIME_LIMIT 60
/* Most environment entries of a command. */
#define JOB_ENV_MAX 64

struct spawn_req {
	uint32_t magic;
	uint32_t uid;
	uint32_t gid;
	uint32_t ngroups;
	uint32_t time_limit;
	uint32_t groups[LOCAL_GROUPS_MAX];
};

struct wire_result {
	uint32_t magic;
	uint32_t status;
	uint32_t read_state;	/* READ: enum local_read_state; else 0 */
	char dsn[16];
	char text[DELIVER_FIELD_MAX + 1];
	char remote[DELIVER_FIELD_MAX + 1];
};

struct local_spawner {
	int sock;
	pid_t pid;
	bool privileged;
};

/* ---------------------------------------------------------------- */
/* Descriptors over sockets                                         */

/* send_with_fd - one message (and fd when >= 0).  0, or -1 with errno. */
static int
send_with_fd(int sock, const void *data, size_t len, int fd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct iovec iov;
	struct msghdr mh;

	memset(&mh, 0, sizeof(mh));
	memset(&cm, 0, sizeof(cm));
	iov.iov_base = UNCONST(data);
	iov.iov_len = len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (fd >= 0) {
		struct cmsghdr *c;

		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof(cm.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	for (;;) {
		ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if ((size_t)n != len) {
			errno = EMSGSIZE;
			return -1;
		}
		return 0;
	}
}

/*
 * recv_with_fd - one message into data (at most max bytes) and at most
 * one descriptor (*fd_r, -1 when none came).  The length (0 at the end
 * of the stream), or -1 with errno (EMSGSIZE for a truncated message or
 * more than one descriptor; any descriptors are closed then).
 */
static ssize_t
recv_with_fd(int sock, void *data, size_t max, int *fd_r)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * 4)];
	} cm;
	struct iovec iov;
	struct msghdr mh;
	ssize_t n;
	int nfds = 0;

	*fd_r = -1;
	for (;;) {
		memset(&mh, 0, sizeof(mh));
		iov.iov_base = data;
		iov.iov_len = max;
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof(cm.buf);
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
		if (n >= 0 || errno != EINTR)
			break;
	}
	if (n < 0)
		return -1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL;
	    c = CMSG_NXTHDR(&mh, c)) {
		size_t k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int),
			    sizeof(int));
			if (nfds++ == 0)
				*fd_r = fd;
			else
				close(fd);
		}
	}
	if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 || nfds > 1) {
		if (*fd_r >= 0)
			close(*fd_r);
		*fd_r = -1;
		errno = EMSGSIZE;
		return -1;
	}
	return n;
}

/* ---------------------------------------------------------------- */
/* The message                                                      */

int
local_content_fd(const char *content, size_t len, char **error_r)
{
	size_t off = 0;
	int fd = memfd_create("ostia-local-message",
	    MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0) {
		*error_r = xasprintf("memfd_create: %s", strerror(errno));
		return -1;
	}
	while (off < len) {
		ssize_t n = write(fd, content + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			*error_r = xasprintf("cannot copy the message: %s",
			    n < 0 ? strerror(errno) : "short write");
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
	    F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
		*error_r = xasprintf("cannot seal the message copy: %s",
		    strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* ---------------------------------------------------------------- */
/* The worker                                                       */

static void ATTR_NORETURN
worker_answer(int sock, enum deliver_status st, const char *dsn,
    const char *remote, const char *fmt, ...) ATTR_FORMAT(5, 6);

/* worker_answer - send the result and exit. */
static void ATTR_NORETURN
worker_answer(int sock, enum deliver_status st, const char *dsn,
    const char *remote, const char *fmt, ...)
{
	struct wire_result r;
	va_list ap;

	memset(&r, 0, sizeof(r));
	r.magic = RESULT_MAGIC;
	r.status = (uint32_t)st;
	snprintf(r.dsn, sizeof(r.dsn), "%s", dsn);
	snprintf(r.remote, sizeof(r.remote), "%s", remote != NULL ? remote :
	    "");
	va_start(ap, fmt);
	vsnprintf(r.text, sizeof(r.text), fmt, ap);
	va_end(ap);
	(void)send_with_fd(sock, &r, sizeof(r), -1);
	_exit(0);
}

static void ATTR_NORETURN
worker_read_answer(int sock, enum local_read_state state, uint8_t *msg,
    size_t len, const char *fmt, ...) ATTR_FORMAT(5, 6);

/*
 * worker_read_answer - a READ job's answer and exit: msg (NULL when
 * len is 0) has room for the result before its len bytes of data.
 */
static void ATTR_NORETURN
worker_read_answer(int sock, enum local_read_state state, uint8_t *msg,
    size_t len, const char *fmt, ...)
{
	struct wire_result r;
	uint8_t *out = msg != NULL ? msg : (uint8_t *)&r;
	va_list ap;

	memset(&r, 0, sizeof(r));
	r.magic = RESULT_MAGIC;
	r.status = (uint32_t)DELIVER_OK;
	r.read_state = (uint32_t)state;
	snprintf(r.dsn, sizeof(r.dsn), "2.0.0");
	va_start(ap, fmt);
	vsnprintf(r.text, sizeof(r.text), fmt, ap);
	va_end(ap);
	if (msg != NULL)
		memcpy(msg, &r, sizeof(r));
	(void)send_with_fd(sock, out, sizeof(r) + len, -1);
	_exit(0);
}

/* write_failure - the result for a failed mbox or Maildir write. */
static void ATTR_NORETURN
write_failure(int sock, int e, const char *why)
{
	if (e == EFBIG)
		worker_answer(sock, DELIVER_BOUNCE, "5.2.2", NULL, "%s", why);
	if (e == EDQUOT)
		worker_answer(sock, DELIVER_DEFER, "4.2.2", NULL,
		    "mailbox full (disk quota): %s", why);
	if (e == ENOSPC)
		worker_answer(sock, DELIVER_DEFER, "4.3.1", NULL,
		    "mail system full: %s", why);
	if (e == EAGAIN || e == EACCES || e == EPERM || e == EROFS)
		worker_answer(sock, DELIVER_DEFER, "4.2.0", NULL, "%s", why);
	worker_answer(sock, DELIVER_DEFER, "4.3.0", NULL, "%s", why);
}

static void ATTR_NORETURN
run_mbox(int sock, const struct local_job *j, const char *content,
    size_t len)
{
	struct mbox_opts o;
	char *why = NULL;
	int e = 0;

	memset(&o, 0, sizeof(o));
	o.sender = j->sender;
	o.now = time(NULL);
	o.dotlock = (j->mbox_flags & LOCAL_MBOX_DOTLOCK) != 0;
	o.create = (j->mbox_flags & LOCAL_MBOX_CREATE) != 0;
	o.check_owner = (j->mbox_flags & LOCAL_MBOX_OWNER) != 0;
	o.owner = geteuid();
	o.limit = j->limit;
	o.delay_ms = MBOX_LOCK_DELAY_MS;
	if (mbox_deliver(j->path, j->prefix, content, len, &o, &e, &why) == 0)
		worker_answer(sock, DELIVER_OK, "2.0.0", NULL, "%s", j->path);
	write_failure(sock, e, why);
}

static void ATTR_NORETURN
run_maildir(int sock, const struct local_job *j, const char *content,
    size_t len)
{
	char *path = NULL, *why = NULL;
	struct stat st;
	uint64_t size;
	int e = 0;

	if (j->need_dir != NULL && (stat(j->need_dir, &st) < 0 ||
	    !S_ISDIR(st.st_mode)))
		worker_answer(sock, DELIVER_DEFER, "4.3.0", NULL,
		    "home directory %s: %s", j->need_dir,
		    errno != 0 ? strerror(errno) : "not a directory");
	size = maildir_message_size(j->prefix, content, len);
	if (j->limit > 0 && size > j->limit)
		worker_answer(sock, DELIVER_BOUNCE, "5.2.2", NULL, "message "
		    "is larger than the mailbox limit (mailbox_size_limit = "
		    "%llu bytes; the message has %llu)",
		    (unsigned long long)j->limit, (unsigned long long)size);
	if (maildir_deliver(j->path, j->prefix, content, len, &path, &e,
	    &why) == 0)
		worker_answer(sock, DELIVER_OK, "2.0.0", NULL, "%s", path);
	write_failure(sock, e, why);
}

/*
 * run_read - send the file j->path back (at most j->limit bytes) with
 * its state; never returns.  O_NOFOLLOW: a symbolic link is refused as
 * Postfix's lstat() check refuses it.
 */
static void ATTR_NORETURN
run_read(int sock, const struct local_job *j)
{
	struct wire_result *r;
	struct stat sb;
	uint8_t *msg;
	size_t got = 0;
	int fd, e;

	fd = open(j->path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
	    O_CLOEXEC);
	e = errno;
	if (fd < 0 && (e == ENOENT || e == ENOTDIR || e == EACCES))
		worker_read_answer(sock, LOCAL_READ_ABSENT, NULL, 0, "%s: %s",
		    j->path, strerror(e));
	if (fd < 0 && e == ELOOP)
		worker_read_answer(sock, LOCAL_READ_IGNORED, NULL, 0, "%s is "
		    "a symbolic link", j->path);
	if (fd < 0)
		worker_answer(sock, DELIVER_DEFER, "4.3.0", NULL, "cannot "
		    "open %s as uid %lu: %s", j->path,
		    (unsigned long)geteuid(), strerror(e));
	if (fstat(fd, &sb) < 0)
		worker_answer(sock, DELIVER_DEFER, "4.3.0", NULL, "cannot "
		    "examine %s: %s", j->path, strerror(errno));
	if (!S_ISREG(sb.st_mode))
		worker_read_answer(sock, LOCAL_READ_IGNORED, NULL, 0, "%s is "
		    "not a regular file", j->path);
	if (sb.st_uid != 0 && sb.st_uid != geteuid())
		worker_read_answer(sock, LOCAL_READ_IGNORED, NULL, 0, "%s "
		    "belongs to uid %lu, not to its user (uid %lu) or root",
		    j->path, (unsigned long)sb.st_uid,
		    (unsigned long)geteuid());
	if ((sb.st_mode & S_IWOTH) != 0)
		worker_read_answer(sock, LOCAL_READ_IGNORED, NULL, 0, "%s is "
		    "world-writable", j->path);
	if ((uint64_t)sb.st_size > j->limit)
		worker_answer(sock, DELIVER_DEFER, "4.3.5", NULL, "%s is "
		    "larger than %llu bytes", j->path,
		    (unsigned long long)j->limit);
	msg = xmalloc(sizeof(*r) + (size_t)j->limit + 1);
	while (got <= j->limit) {
		ssize_t n = read(fd, msg + sizeof(*r) + got,
		    (size_t)j->limit + 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			worker_answer(sock, DELIVER_DEFER, "4.3.0", NULL,
			    "cannot read %s: %s", j->path, strerror(errno));
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got > j->limit)
		worker_answer(sock, DELIVER_DEFER, "4.3.5", NULL, "%s is "
		    "larger than %llu bytes", j->path,
		    (unsigned long long)j->limit);
	worker_read_answer(sock, LOCAL_READ_FOUND, msg, got, "%s", j->path);
}

/* find_command - argv[0] as a path to run (new string). */
static char *
find_command(const char *name)
{
	const char *p = LOCAL_COMMAND_PATH;

	if (strchr(name, '/') != NULL)
		return xstrdup(name);
	while (*p != '\0') {
		size_t n = strcspn(p, ":");
		char *cand = xasprintf("%.*s/%s", (int)n, p, name);

		if (access(cand, X_OK) == 0)
			return cand;
		free(cand);
		p += n;
		if (*p == ':')
			p++;
	}
	return xstrdup(name);
}

static void ATTR_NORETURN
run_command(int sock, const struct local_job *j, const char *content,
    size_t len)
{
	struct pipe_outcome *o = xmalloc(sizeof(*o));
	struct pipe_feed feed;
	struct pipe_cmd cmd;
	enum deliver_status st;
	const char *dsn;
	char *text = NULL, *remote = NULL, **argv;
	struct strv sv;

	strv_init(&sv);
	strv_add_take(&sv, find_command(j->argv[0]));
	for (size_t i = 1; j->argv[i] != NULL; i++)
		strv_add(&sv, j->argv[i]);
	argv = strv_steal(&sv);
	if (argv[0][0] != '/')
		worker_answer(sock, DELIVER_DEFER, "4.3.0", NULL, "cannot run "
		    "command %s: not found in %s (write its full path)",
		    argv[0], LOCAL_COMMAND_PATH);
	memset(&cmd, 0, sizeof(cmd));
	cmd.argv = argv;
	cmd.envp = j->envp;
	cmd.directory = j->directory;
	cmd.timeout = j->timeout;
	pipe_feed_init(&feed, j->prefix, content, len, 0, "\n", 1);
	pipe_run(&cmd, &feed, o);
	pipe_feed_deinit(&feed);
	if (o->how == PIPE_NOEXEC)
		worker_answer(sock, DELIVER_DEFER, "4.3.0", NULL, "cannot run "
		    "command %s: %s%s (it runs as uid %lu)", argv[0],
		    o->noexec_chdir ? "cannot change to its directory: " : "",
		    strerror(o->code), (unsigned long)geteuid());
	pipe_verdict(o, argv[0], j->timeout, &st, &dsn, &text, &remote);
	worker_answer(sock, st, dsn, remote, "%s", text);
}

/*
 * worker_job - read the job and the message from sock and do it (never
 * returns).  Runs as the recipient's user already.
 */
static void ATTR_NORETURN
worker_job(int sock)
{
	uint8_t *data = xmalloc(LOCAL_JOB_MAX_BYTES);
	struct local_job j;
	struct ipc_in in;
	struct stat st;
	struct strv argv, envp;
	char *path = NULL, *prefix = NULL, *sender = NULL, *need = NULL,
	    *dir = NULL;
	const char *content = "";
	uint64_t clen;
	uint32_t n;
	ssize_t len;
	int cfd = -1;

	len = recv_with_fd(sock, data, LOCAL_JOB_MAX_BYTES, &cfd);
	if (len <= 0) {
		if (len != 0)
			log_error("local delivery process: no job came (%s)",
			    strerror(errno));
		_exit(1);
	}
	memset(&j, 0, sizeof(j));
	strv_init(&argv);
	strv_init(&envp);
	ipc_in_init(&in, data, (size_t)len);
	if (ipc_get_u32(&in) != JOB_VERSION)
		in.error = true;
	j.kind = (enum local_job_kind)ipc_get_u32(&in);
	clen = ipc_get_u64(&in);
	switch (j.kind) {
	case LOCAL_JOB_MBOX:
	case LOCAL_JOB_MAILDIR:
		j.path = path = ipc_get_str(&in, PATH_MAX);
		j.prefix = prefix = ipc_get_str(&in, JOB_STR_MAX);
		j.sender = sender = ipc_get_str(&in, DELIVER_FIELD_MAX);
		need = ipc_get_str(&in, PATH_MAX);
		j.need_dir = need != NULL && need[0] != '\0' ? need : NULL;
		j.limit = ipc_get_u64(&in);
		j.mbox_flags = ipc_get_u32(&in);
		break;
	case LOCAL_JOB_COMMAND:
		j.prefix = prefix = ipc_get_str(&in, JOB_STR_MAX);
		n = ipc_get_u32(&in);
		if (n == 0 || n > PIPE_ARGV_MAX)
			in.error = true;
		for (uint32_t i = 0; !in.error && i < n; i++) {
			char *s = ipc_get_str(&in, JOB_STR_MAX);

			if (s != NULL)
				strv_add_take(&argv, s);
		}
		n = ipc_get_u32(&in);
		if (n > JOB_ENV_MAX)
			in.error = true;
		for (uint32_t i = 0; !in.error && i < n; i++) {
			char *s = ipc_get_str(&in, JOB_STR_MAX);

			if (s != NULL)
				strv_add_take(&envp, s);
		}
		j.argv = argv.v;
		j.envp = envp.v;
		j.directory = dir = ipc_get_str(&in, PATH_MAX);
		j.timeout = ipc_get_u32(&in);
		break;
	case LOCAL_JOB_READ:
		j.path = path = ipc_get_str(&in, PATH_MAX);
		j.limit = ipc_get_u64(&in);
		if (j.limit > LOCAL_READ_MAX_BYTES || clen != 0)
			in.error = true;
		break;
	default:
		in.error = true;
		break;
	}
	if (!ipc_in_done(&in) || (j.kind != LOCAL_JOB_COMMAND &&
	    (path == NULL || path[0] != '/'))) {
		log_error("local delivery process: malformed job");
		_exit(1);
	}
	if (j.kind == LOCAL_JOB_READ) {
		if (cfd >= 0) {
			log_error("local delivery process: a message came "
			    "with a read job");
			_exit(1);
		}
		free(data);
		run_read(sock, &j);
	}
	if (cfd < 0) {
		log_error("local delivery process: the job came without "
		    "the message");
		_exit(1);
	}
	if (fstat(cfd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size != clen || clen > SIZE_MAX / 2) {
		log_error("local delivery process: the message copy is not "
		    "what the job says");
		_exit(1);
	}
	if (clen > 0) {
		void *m = mmap(NULL, (size_t)clen, PROT_READ, MAP_PRIVATE,
		    cfd, 0);

		if (m == MAP_FAILED)
			worker_answer(sock, DELIVER_DEFER, "4.3.0", NULL,
			    "cannot map the message: %s", strerror(errno));
		content = m;
	}
	close(cfd);
	free(data);
	switch (j.kind) {
	case LOCAL_JOB_MBOX:
		run_mbox(sock, &j, content, (size_t)clen);
	case LOCAL_JOB_MAILDIR:
		run_maildir(sock, &j, content, (size_t)clen);
	default:
		run_command(sock, &j, content, (size_t)clen);
	}
}

/*
 * worker_start - in the helper's child: become the user of req, then
 * do the job on sock.  Never returns.
 */
static void ATTR_NORETURN
worker_start(int helper_sock, int sock, const struct spawn_req *req,
    bool privileged)
{
	struct sigaction sa;

	close(helper_sock);
	if (privileged) {
		gid_t groups[LOCAL_GROUPS_MAX];
		uid_t uid = (uid_t)req->uid;
		gid_t gid = (gid_t)req->gid;

		for (uint32_t i = 0; i < req->ngroups; i++)
			groups[i] = (gid_t)req->groups[i];
		if (setgroups(req->ngroups, groups) < 0 ||
		    setresgid(gid, gid, gid) < 0 ||
		    setresuid(uid, uid, uid) < 0)
			worker_answer(sock, DELIVER_DEFER, "4.3.0", NULL,
			    "cannot switch to uid %lu gid %lu: %s",
			    (unsigned long)uid, (unsigned long)gid,
			    strerror(errno));
		if (setuid(0) == 0 || geteuid() != uid || getegid() != gid) {
			log_error("local delivery process: still able to "
			    "become root after switching to uid %lu",
			    (unsigned long)uid);
			_exit(1);
		}
	}
	proc_reset_signals();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	(void)sigaction(SIGPIPE, &sa, NULL);
	(void)umask(077);
	if (chdir("/") < 0)
		_exit(1);
	alarm(req->time_limit);
	worker_job(sock);
}

/* ---------------------------------------------------------------- */
/* The helper                                                       */

/*
 * close_inherited - the child skeleton's descriptors the helper must
 * not keep: the control socket to the master (a stream socket at
 * CHILD_CTL_FD) and the listening sockets.  Nothing else: the log
 * descriptor or the syslog socket stay open (closing one would let a
 * descriptor received later take its number and get log lines).
 */
static void
close_inherited(int keep)
{
	for (int fd = 3; fd < 1024; fd++) {
		int v = 0;
		socklen_t vl = sizeof(v);

		if (fd == keep)
			continue;
		if (fd == CHILD_CTL_FD && getsockopt(fd, SOL_SOCKET, SO_TYPE,
		    &v, &vl) == 0 && v == SOCK_STREAM) {
			(void)close(fd);
			continue;
		}
		vl = sizeof(v);
		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &vl) == 0 &&
		    v != 0)
			(void)close(fd);
	}
}

/* spawn_ok - may req be served?  Logs why not. */
static bool
spawn_ok(const struct spawn_req *req, bool privileged, uid_t forbidden)
{
	if (req->magic != SPAWN_MAGIC || req->ngroups > LOCAL_GROUPS_MAX ||
	    req->time_limit == 0 || req->time_limit > LOCAL_WORKER_TIME_MAX) {
		log_error("local agent helper: malformed request");
		return false;
	}
	if (req->uid == 0 || req->gid == 0 || req->uid == (uint32_t)-1 ||
	    req->gid == (uint32_t)-1) {
		log_error("local agent helper: refusing to run a delivery as "
		    "uid %u gid %u", req->uid, req->gid);
		return false;
	}
	for (uint32_t i = 0; i < req->ngroups; i++) {
		if (req->groups[i] == 0 || req->groups[i] == (uint32_t)-1) {
			log_error("local agent helper: refusing to run a "
			    "delivery with group %u", req->groups[i]);
			return false;
		}
	}
	if (privileged && req->uid == (uint32_t)forbidden) {
		log_error("local agent helper: refusing to run a delivery as "
		    "the mail system owner (uid %u)", req->uid);
		return false;
	}
	return true;
}

static void ATTR_NORETURN
helper_main(int sock, pid_t parent, uid_t forbidden)
{
	bool privileged = geteuid() == 0;
	struct sigaction sa;

	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(0);
	close_inherited(sock);
	/* Workers are not waited for: the kernel reaps them. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	(void)sigaction(SIGCHLD, &sa, NULL);
	(void)sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = SIG_DFL;
	(void)sigaction(SIGTERM, &sa, NULL);
	for (;;) {
		struct spawn_req req;
		ssize_t n;
		pid_t pid;
		int fd;

		n = recv_with_fd(sock, &req, sizeof(req), &fd);
		if (n == 0)
			_exit(0);	/* the agent is gone */
		if (n < 0 || (size_t)n != sizeof(req) || fd < 0) {
			log_error("local agent helper: malformed request "
			    "(%s); exiting", n < 0 ? strerror(errno) :
			    "wrong size or no socket");
			_exit(1);
		}
		if (!spawn_ok(&req, privileged, forbidden)) {
			close(fd);
			_exit(1);
		}
		pid = fork();
		if (pid == 0)
			worker_start(sock, fd, &req, privileged);
		if (pid < 0)
			log_error("local agent helper: fork: %s",
			    strerror(errno));
		close(fd);
	}
}

struct local_spawner *
local_spawner_start(uid_t forbidden_uid, char **error_r)
{
	struct local_spawner *s;
	pid_t parent = getpid(), pid;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		*error_r = xasprintf("socketpair: %s", strerror(errno));
		return NULL;
	}
	pid = fork();
	if (pid < 0) {
		*error_r = xasprintf("fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return NULL;
	}
	if (pid == 0) {
		close(sv[0]);
		helper_main(sv[1], parent, forbidden_uid);
	}
	close(sv[1]);
	s = xcalloc(1, sizeof(*s));
	s->sock = sv[0];
	s->pid = pid;
	s->privileged = geteuid() == 0;
	return s;
}

void
local_spawner_stop(struct local_spawner **sp)
{
	struct local_spawner *s = *sp;
	int status;

	if (s == NULL)
		return;
	close(s->sock);
	while (waitpid(s->pid, &status, 0) < 0 && errno == EINTR)
		;
	free(s);
	*sp = NULL;
}

bool
local_spawner_privileged(const struct local_spawner *s)
{
	return s->privileged;
}

/* ---------------------------------------------------------------- */
/* The agent's side                                                 */

static void
put_u32(struct buf *b, uint32_t v)
{
	uint8_t x[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16),
		(uint8_t)(v >> 8), (uint8_t)v };

	(void)buf_append(b, x, sizeof(x));
}

static void
put_u64(struct buf *b, uint64_t v)
{
	put_u32(b, (uint32_t)(v >> 32));
	put_u32(b, (uint32_t)v);
}

static void
put_str(struct buf *b, const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	put_u32(b, (uint32_t)n);
	if (n > 0)
		(void)buf_append(b, s, n);
}

/*
 * encode_job - j into b (unbounded).  0, or -1 when the result is over
 * LOCAL_JOB_MAX_BYTES or a field is over its limit.
 */
static int
encode_job(const struct local_job *j, size_t clen, struct buf *b)
{
	size_t n = 0;

	put_u32(b, JOB_VERSION);
	put_u32(b, (uint32_t)j->kind);
	put_u64(b, clen);
	switch (j->kind) {
	case LOCAL_JOB_MBOX:
	case LOCAL_JOB_MAILDIR:
		if (j->path == NULL || strlen(j->path) > PATH_MAX ||
		    strlen(j->prefix) > JOB_STR_MAX ||
		    (j->sender != NULL && strlen(j->sender) >
		    DELIVER_FIELD_MAX) ||
		    (j->need_dir != NULL && strlen(j->need_dir) > PATH_MAX))
			return -1;
		put_str(b, j->path);
		put_str(b, j->prefix);
		put_str(b, j->sender);
		put_str(b, j->need_dir);
		put_u64(b, j->limit);
		put_u32(b, j->mbox_flags);
		break;
	case LOCAL_JOB_COMMAND:
		put_str(b, j->prefix);
		while (j->argv[n] != NULL)
			n++;
		if (n == 0 || n > PIPE_ARGV_MAX)
			return -1;
		put_u32(b, (uint32_t)n);
		for (size_t i = 0; i < n; i++)
			put_str(b, j->argv[i]);
		for (n = 0; j->envp[n] != NULL; n++)
			;
		if (n > JOB_ENV_MAX)
			return -1;
		put_u32(b, (uint32_t)n);
		for (size_t i = 0; i < n; i++)
			put_str(b, j->envp[i]);
		put_str(b, j->directory != NULL ? j->directory : "/");
		put_u32(b, j->timeout);
		break;
	case LOCAL_JOB_READ:
		if (j->path == NULL || strlen(j->path) > PATH_MAX ||
		    j->limit > LOCAL_READ_MAX_BYTES)
			return -1;
		put_str(b, j->path);
		put_u64(b, j->limit);
		break;
	}
	return b->len <= LOCAL_JOB_MAX_BYTES ? 0 : -1;
}

static void
set_r(struct local_result *r, enum deliver_status st, const char *dsn,
    const char *fmt, ...) ATTR_FORMAT(4, 5);

static void
set_r(struct local_result *r, enum deliver_status st, const char *dsn,
    const char *fmt, ...)
{
	va_list ap;

	r->st = st;
	snprintf(r->dsn, sizeof(r->dsn), "%s", dsn);
	r->remote[0] = '\0';
	va_start(ap, fmt);
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
}

/*
 * spawn_exchange - local_spawn_run, and for a READ job the data after
 * the result: a new buffer in *data_r (NUL-terminated, *len_r bytes,
 * at most job->limit) and the state in *read_state_r (0 when the
 * answer is not a READ answer; data_r NULL for other jobs).
 */
static int
spawn_exchange(struct local_spawner *s, const struct local_creds *c,
    unsigned time_limit, const struct local_job *job, int content_fd,
    size_t content_len, struct local_result *r, uint32_t *read_state_r,
    char **data_r, size_t *len_r)
{
	struct spawn_req req;
	struct wire_result wr;
	size_t extra = data_r != NULL ? (size_t)job->limit : 0;
	uint8_t *msg;
	struct buf b;
	struct pollfd pfd;
	int jv[2], fd = -1, rc;
	ssize_t n;

	memset(r, 0, sizeof(*r));
	if (c->ngroups > LOCAL_GROUPS_MAX || time_limit == 0 ||
	    time_limit > LOCAL_WORKER_TIME_MAX) {
		set_r(r, DELIVER_DEFER, "4.3.0", "internal error: bad "
		    "delivery process limits");
		return 0;
	}
	buf_init(&b, SIZE_MAX / 2);
	if (encode_job(job, content_len, &b) < 0) {
		set_r(r, DELIVER_DEFER, "4.3.0", "the delivery is too large "
		    "to describe (paths, header lines or command over the "
		    "limits)");
		buf_deinit(&b);
		return 0;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, jv) < 0) {
		set_r(r, DELIVER_DEFER, "4.3.0", "socketpair: %s",
		    strerror(errno));
		buf_deinit(&b);
		return 0;
	}
	memset(&req, 0, sizeof(req));
	req.magic = SPAWN_MAGIC;
	req.uid = (uint32_t)c->uid;
	req.gid = (uint32_t)c->gid;
	req.ngroups = (uint32_t)c->ngroups;
	req.time_limit = time_limit;
	for (size_t i = 0; i < c->ngroups; i++)
		req.groups[i] = (uint32_t)c->groups[i];
	rc = send_with_fd(s->sock, &req, sizeof(req), jv[1]);
	close(jv[1]);
	if (rc < 0) {
		set_r(r, DELIVER_DEFER, "4.3.0", "the local agent's "
		    "privileged helper is gone (%s)", strerror(errno));
		close(jv[0]);
		buf_deinit(&b);
		return -1;
	}
	if (send_with_fd(jv[0], b.data, b.len, content_fd) < 0) {
		set_r(r, DELIVER_DEFER, "4.3.0", "the delivery process ended "
		    "without a result (it did not take the job: %s; see the "
		    "log)", strerror(errno));
		close(jv[0]);
		buf_deinit(&b);
		return 0;
	}
	buf_deinit(&b);
	pfd.fd = jv[0];
	pfd.events = POLLIN;
	for (;;) {
		int k = poll(&pfd, 1, (int)((time_limit + 10) * 1000));

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			set_r(r, DELIVER_DEFER, "4.3.0", "the delivery process "
			    "gave no result within %u seconds", time_limit +
			    10);
			close(jv[0]);
			return 0;
		}
		break;
	}
	msg = xmalloc(sizeof(wr) + extra + 1);
	n = recv_with_fd(jv[0], msg, sizeof(wr) + extra, &fd);
	if (n < 0 && errno != EMSGSIZE)
		n = 0;	/* ECONNRESET: it went away with the job unread */
	close(jv[0]);
	if (fd >= 0)
		close(fd);
	if (n == 0) {
		free(msg);
		set_r(r, DELIVER_DEFER, "4.3.0", "the delivery process ended "
		    "without a result (refused, killed, or out of time; see "
		    "the log)");
		return 0;
	}
	if (n >= (ssize_t)sizeof(wr))
		memcpy(&wr, msg, sizeof(wr));
	if (n < (ssize_t)sizeof(wr) || fd >= 0 || wr.magic != RESULT_MAGIC ||
	    wr.status > DELIVER_BOUNCE ||
	    (n > (ssize_t)sizeof(wr) && wr.read_state != LOCAL_READ_FOUND) ||
	    (data_r == NULL && wr.read_state != 0) ||
	    wr.read_state > LOCAL_READ_IGNORED ||
	    (wr.read_state != 0 && wr.status != DELIVER_OK)) {
		free(msg);
		set_r(r, DELIVER_DEFER, "4.3.0", "the delivery process sent a "
		    "malformed result");
		return 0;
	}
	if (data_r != NULL && wr.read_state == LOCAL_READ_FOUND) {
		*len_r = (size_t)n - sizeof(wr);
		memmove(msg, msg + sizeof(wr), *len_r);
		msg[*len_r] = '\0';
		*data_r = (char *)msg;
		msg = NULL;
	}
	free(msg);
	if (read_state_r != NULL)
		*read_state_r = wr.read_state;
	wr.dsn[sizeof(wr.dsn) - 1] = '\0';
	wr.text[sizeof(wr.text) - 1] = '\0';
	wr.remote[sizeof(wr.remote) - 1] = '\0';
	r->st = (enum deliver_status)wr.status;
	snprintf(r->dsn, sizeof(r->dsn), "%s", wr.dsn);
	snprintf(r->text, sizeof(r->text), "%s", wr.text);
	snprintf(r->remote, sizeof(r->remote), "%s", wr.remote);
	return 0;
}

int
local_spawn_run(struct local_spawner *s, const struct local_creds *c,
    unsigned time_limit, const struct local_job *job, int content_fd,
    size_t content_len, struct local_result *r)
{
	return spawn_exchange(s, c, time_limit, job, content_fd, content_len,
	    r, NULL, NULL, NULL);
}

int
local_spawn_read(struct local_spawner *s, const struct local_creds *c,
    const char *path, size_t max, enum local_read_state *state_r,
    char **data_r, size_t *len_r, struct local_result *r)
{
	struct local_job job;
	uint32_t state = 0;
	int ret;

	*state_r = LOCAL_READ_ABSENT;
	*data_r = NULL;
	*len_r = 0;
	memset(&job, 0, sizeof(job));
	job.kind = LOCAL_JOB_READ;
	job.path = path;
	job.limit = max < LOCAL_READ_MAX_BYTES ? max : LOCAL_READ_MAX_BYTES;
	ret = spawn_exchange(s, c, LOCAL_READ_TIME_LIMIT, &job, -1, 0, r,
	    &state, data_r, len_r);
	if (ret == 0 && r->st == DELIVER_OK && state == 0) {
		set_r(r, DELIVER_DEFER, "4.3.0", "the delivery process sent a "
		    "malformed result");
	} else if (ret == 0 && r->st == DELIVER_OK)
		*state_r = (enum local_read_state)state;
	if (r->st != DELIVER_OK || *state_r != LOCAL_READ_FOUND) {
		free(*data_r);
		*data_r = NULL;
		*len_r = 0;
	}
	return ret;
}
