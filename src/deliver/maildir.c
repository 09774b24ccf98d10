/* SPDX-License-Identifier: MIT */
/*
 * maildir - write one message into a Maildir; see maildir.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "compat.h"
#include "fs_order.h"
#include "log.h"
#include "maildir.h"
#include "xalloc.h"

/* Longest dir accepted (the final path adds "/new/" and a name). */
#define MAILDIR_DIR_MAX 4000
#define MAILDIR_CHUNK (64 * 1024)

/* Deliveries started by this process (the Q of unique names). */
static unsigned maildir_counter;

/* ------------------------------------------------------------ output */

/*
 * The writer: converts content as maildir.h says and either counts the
 * bytes (fd < 0: no buffer) or writes them to fd through a buffer of
 * MAILDIR_CHUNK bytes (never cleared: only what was put is written).
 */
struct mout {
	int fd;
	size_t used;
	uint64_t total;		/* bytes produced */
	uint64_t lfs;		/* LF bytes among them */
	int error;		/* first write errno */
	char *chunk;		/* NULL when counting */
};

static void
mout_init(struct mout *o, int fd)
{
	memset(o, 0, sizeof(*o));
	o->fd = fd;
	o->chunk = fd >= 0 ? xmalloc(MAILDIR_CHUNK) : NULL;
}

static void
mout_deinit(struct mout *o)
{
	free(o->chunk);
	o->chunk = NULL;
}

static void
mout_flush(struct mout *o)
{
	size_t off = 0;

	if (o->fd < 0 || o->error != 0) {
		o->used = 0;
		return;
	}
	while (off < o->used) {
		ssize_t n = write(o->fd, o->chunk + off, o->used - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			o->error = n < 0 ? errno : EIO;
			break;
		}
		off += (size_t)n;
	}
	o->used = 0;
}

static void
mout_put(struct mout *o, const char *p, size_t n)
{
	while (n > 0) {
		size_t room = MAILDIR_CHUNK - o->used;
		size_t k = n < room ? n : room;

		if (o->fd >= 0)
			memcpy(o->chunk + o->used, p, k);
		o->used += k;
		o->total += k;
		for (const char *q = p, *e = p + k;
		    (q = memchr(q, '\n', (size_t)(e - q))) != NULL; q++)
			o->lfs++;
		p += k;
		n -= k;
		if (o->used == MAILDIR_CHUNK)
			mout_flush(o);
	}
}

/* mout_message - prefix, then content with CRLF -> LF and a final LF. */
static void
mout_message(struct mout *o, const char *prefix, const char *content,
    size_t len)
{
	size_t start = 0, orig = len;

	mout_put(o, prefix, strlen(prefix));
	/* A CR at the very end is a CRLF cut short: the line end comes
	 * below. */
	if (len > 0 && content[len - 1] == '\r')
		len--;
	for (size_t i = 0; i + 1 < len;) {
		const char *cr = memchr(content + i, '\r', len - 1 - i);
		size_t k;

		if (cr == NULL)
			break;
		k = (size_t)(cr - content);
		if (content[k + 1] == '\n') {
			/* Everything up to the CR, then the LF. */
			mout_put(o, content + start, k - start);
			start = k + 1;
			i = k + 2;
		} else {
			i = k + 1;
		}
	}
	mout_put(o, content + start, len - start);
	if (orig > 0 && (len == 0 || content[len - 1] != '\n')) {
		/* A last line without its line end: end it. */
		mout_put(o, "\n", 1);
	}
	mout_flush(o);
}

uint64_t
maildir_message_size(const char *prefix, const char *content, size_t len)
{
	struct mout o;

	mout_init(&o, -1);
	mout_message(&o, prefix, content, len);
	mout_deinit(&o);
	return o.total;
}

/* ------------------------------------------------------------ errors */

/*
 * failf - set *errno_r to err and *error_r to "WHAT: REASON" (WHAT from
 * fmt), with the uid and gid of the process for permission problems.
 * Returns -1.
 */
static int
failf(int err, int *errno_r, char **error_r, const char *fmt, ...)
    ATTR_FORMAT(4, 5);

static int
failf(int err, int *errno_r, char **error_r, const char *fmt, ...)
{
	va_list ap;
	char *what;

	va_start(ap, fmt);
	what = xvasprintf(fmt, ap);
	va_end(ap);
	*errno_r = err;
	free(*error_r);
	if (err == EACCES || err == EPERM || err == EROFS)
		*error_r = xasprintf("%s: %s (the delivery runs as uid %lu, "
		    "gid %lu)", what, strerror(err),
		    (unsigned long)geteuid(), (unsigned long)getegid());
	else
		*error_r = xasprintf("%s: %s", what, strerror(err));
	free(what);
	return -1;
}

/* ------------------------------------------------------------ names */

char *
maildir_encode_host(const char *host)
{
	struct buf b;

	buf_init(&b, 4 * strlen(host) + 1);
	for (const char *p = host; *p != '\0'; p++) {
		if (*p == '/')
			(void)buf_append_str(&b, "\\057");
		else if (*p == ':')
			(void)buf_append_str(&b, "\\072");
		else if (*p == ',')
			(void)buf_append_str(&b, "\\054");
		else
			(void)buf_append_c(&b, *p);
	}
	return buf_steal(&b);
}

/* unique_name - a new unique name (caller frees). */
static char *
unique_name(uint64_t size, uint64_t vsize)
{
	/* The host name, encoded, asked once per process (a system call
	 * per delivery otherwise). */
	static char *enc;
	struct timespec ts;

	if (enc == NULL) {
		char host[256];

		if (gethostname(host, sizeof(host)) < 0 || host[0] == '\0')
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		enc = maildir_encode_host(host);
	}
	(void)clock_gettime(CLOCK_REALTIME, &ts);
	maildir_counter++;
	return xasprintf("%lld.M%06ldP%ldQ%u.%s,S=%" PRIu64 ",W=%" PRIu64,
	    (long long)ts.tv_sec, (long)(ts.tv_nsec / 1000), (long)getpid(),
	    maildir_counter, enc, size, vsize);
}

/* ------------------------------------------------------------ dirs */

/* fsync_dir - flush a directory (by path); errors are ignored: the
 * directory exists, and its entry is flushed again by the next one. */
static void
fsync_dir(const char *path)
{
	int fd = open(path[0] != '\0' ? path : "/",
	    O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		(void)fsync(fd);
		(void)close(fd);
	}
}

/*
 * make_dirs - create path and its missing parents (mode 0700), like
 * mkdir -p.  mkdir never follows a symbolic link in the component it
 * creates.  The parent of each new directory is fsync'ed.
 */
static int
make_dirs(const char *path, int *errno_r, char **error_r)
{
	char *p = xstrdup(path);
	size_t len = strlen(p);
	int ret = 0;

	for (size_t i = 1; i <= len; i++) {
		if (i < len && p[i] != '/')
			continue;
		if (p[i - 1] == '/')
			continue;		/* "//" */
		p[i] = '\0';
		if (mkdir(p, 0700) == 0) {
			char *slash = strrchr(p, '/');

			*slash = '\0';
			fsync_dir(p);
			*slash = '/';
		} else if (errno != EEXIST) {
			ret = failf(errno, errno_r, error_r,
			    "cannot create the directory %s", p);
			break;
		}
		if (i < len)
			p[i] = '/';
	}
	free(p);
	return ret;
}

/*
 * subdir - make dir/name (0700) if missing and open it without following
 * a symbolic link.  -1 with the error set, or the descriptor.
 */
static int
subdir(int dfd, const char *dir, const char *name, int *errno_r,
    char **error_r)
{
	int fd;

	/* The usual case: it exists (one openat, no failing mkdirat). */
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd >= 0)
		return fd;
	if (errno != ENOENT)
		goto open_failed;
	if (mkdirat(dfd, name, 0700) == 0)
		(void)fsync(dfd);
	else if (errno != EEXIST)
		return failf(errno, errno_r, error_r,
		    "cannot create the directory %s/%s", dir, name);
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
open_failed:
	if (fd < 0) {
		if (errno == ELOOP || errno == ENOTDIR) {
			*errno_r = errno;
			*error_r = xasprintf("%s/%s is not a directory (or is "
			    "a symbolic link, which is refused)", dir, name);
			return -1;
		}
		return failf(errno, errno_r, error_r,
		    "cannot open the directory %s/%s", dir, name);
	}
	return fd;
}

/* ------------------------------------------------------------ write */

/*
 * write_tmp - create tmp/NAME (a fresh name until one is free) and write
 * it.  With fd_r NULL the file is also fsync'ed and closed; otherwise
 * its data is written out (allocated and sent to the disk, no journal
 * commit) and it stays open, not fsync'ed, in *fd_r.  0 with *name_r,
 * or -1 with the error set and nothing left in tmp/.
 */
static int
write_tmp(int tmpfd, const char *dir, const char *prefix,
    const char *content, size_t len, uint64_t size, uint64_t vsize,
    char **name_r, int *fd_r, int *errno_r, char **error_r)
{
	struct mout o;
	char *name = NULL;
	int fd = -1, err;

	for (int tries = 0; tries < MAILDIR_NAME_TRIES; tries++) {
		free(name);
		name = unique_name(size, vsize);
		fd = openat(tmpfd, name, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd < 0) {
		err = errno;
		failf(err, errno_r, error_r, "cannot create %s/tmp/%s", dir,
		    name);
		free(name);
		return -1;
	}
	mout_init(&o, fd);
	mout_message(&o, prefix, content, len);
	err = o.error;
	mout_deinit(&o);
	/* Link first (see maildir_deliver): the data must have its blocks
	 * and be written out before it gets a name, or a journal commit
	 * forced meanwhile could record the name with an empty file. */
	if (err == 0 && fd_r != NULL &&
	    sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WAIT_BEFORE |
	    SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER) < 0)
		err = errno;
	if (err == 0 && fd_r != NULL) {
		*fd_r = fd;
		*name_r = name;
		return 0;
	}
	if (err == 0 && fsync(fd) < 0)
		err = errno;
	if (close(fd) < 0 && err == 0 && errno != EINTR)
		err = errno;
	if (err != 0) {
		(void)unlinkat(tmpfd, name, 0);
		failf(err, errno_r, error_r, "cannot write %s/tmp/%s", dir,
		    name);
		free(name);
		return -1;
	}
	*name_r = name;
	return 0;
}

/*
 * link_first - whether a file in the Maildir dfd may be linked into new/
 * before its own fsync (fs_order_data_before_names): asked once per file
 * system, and remembered for the few this process delivers to.
 */
static bool
link_first(int dfd)
{
	static struct {
		dev_t dev;
		bool yes;
	} known[8];
	static unsigned nknown, next;
	struct stat st;
	char what[128];
	bool yes;

	if (fstat(dfd, &st) < 0)
		return false;
	for (unsigned i = 0; i < nknown; i++) {
		if (known[i].dev == st.st_dev)
			return known[i].yes;
	}
	yes = fs_order_data_before_names(dfd, what, sizeof(what));
	log_debug(1, "Maildirs on %s: a message is %s", what, yes ?
	    "linked into new/ before its sync (one journal commit for both)" :
	    "synced before it is linked into new/");
	known[next].dev = st.st_dev;
	known[next].yes = yes;
	next = (next + 1) % 8;
	if (nknown < 8)
		nknown++;
	return yes;
}

/*
 * publish - make tmp/NAME visible as new/NAME2 without replacing an
 * existing file: a hard link (the Maildir way), or a rename that
 * refuses to replace where the file system has no hard links.  NAME2 is
 * NAME, or a fresh name when NAME is taken.  0 with *final_r (the name
 * in new/; tmp/NAME is then gone or *linked_r says it must be removed),
 * or -1 with the error set.
 */
static int
publish(int tmpfd, int newfd, const char *dir, const char *name,
    uint64_t size, uint64_t vsize, char **final_r, bool *linked_r,
    int *errno_r, char **error_r)
{
	char *target = xstrdup(name);

	for (int tries = 0; tries < MAILDIR_NAME_TRIES; tries++) {
		int err;

		if (linkat(tmpfd, name, newfd, target, 0) == 0) {
			*final_r = target;
			*linked_r = true;
			return 0;
		}
		err = errno;
		if (err == EPERM || err == ENOTSUP || err == EOPNOTSUPP ||
		    err == ENOSYS || err == EXDEV) {
			/* No hard links here. */
			if (renameat2(tmpfd, name, newfd, target,
			    RENAME_NOREPLACE) == 0) {
				*final_r = target;
				*linked_r = false;
				return 0;
			}
			err = errno;
		}
		if (err != EEXIST) {
			failf(err, errno_r, error_r,
			    "cannot move the message into %s/new/%s", dir,
			    target);
			free(target);
			return -1;
		}
		free(target);
		target = unique_name(size, vsize);
	}
	failf(EEXIST, errno_r, error_r, "cannot find a free name in %s/new",
	    dir);
	free(target);
	return -1;
}

int
maildir_deliver(const char *dir, const char *prefix, const char *content,
    size_t len, char **path_r, int *errno_r, char **error_r)
{
	char *d, *name = NULL, *final = NULL;
	int dfd = -1, tmpfd = -1, newfd = -1, curfd = -1, fd = -1, ret = -1;
	uint64_t size, vsize;
	size_t dlen;
	bool linked = false, early;
	struct mout o;

	*path_r = NULL;
	*errno_r = 0;
	*error_r = NULL;
	if (dir[0] != '/') {
		*errno_r = EINVAL;
		*error_r = xasprintf("the Maildir path %s is not absolute",
		    dir);
		return -1;
	}
	dlen = strlen(dir);
	if (dlen > MAILDIR_DIR_MAX) {
		*errno_r = ENAMETOOLONG;
		*error_r = xasprintf("the Maildir path is too long (%zu "
		    "bytes, at most %d)", dlen, MAILDIR_DIR_MAX);
		return -1;
	}
	/* The directory without its trailing slashes ("/" stays "/"). */
	d = xstrdup(dir);
	while (dlen > 1 && d[dlen - 1] == '/')
		d[--dlen] = '\0';

	dfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 && errno == ENOENT) {
		if (make_dirs(d, errno_r, error_r) < 0)
			goto out;
		dfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (dfd < 0) {
		failf(errno, errno_r, error_r, "cannot open the Maildir %s",
		    d);
		goto out;
	}
	if ((tmpfd = subdir(dfd, d, "tmp", errno_r, error_r)) < 0 ||
	    (newfd = subdir(dfd, d, "new", errno_r, error_r)) < 0 ||
	    (curfd = subdir(dfd, d, "cur", errno_r, error_r)) < 0)
		goto out;

	mout_init(&o, -1);
	mout_message(&o, prefix, content, len);
	mout_deinit(&o);
	size = o.total;
	vsize = o.total + o.lfs;	/* each LF becomes CRLF */

	/*
	 * The Maildir way: the file is synced, then linked into new/, then
	 * new/ is synced: two journal commits on a journaled file system.
	 * Where the journal orders data before the metadata that refers to
	 * it (fs_order_data_before_names), the file's data is written out
	 * first (blocks allocated, no commit), then it is linked, then the
	 * file is fsync'ed: one commit, which holds the allocation and the
	 * link (the link changed the file's inode in the transaction that
	 * changed new/) and flushes the disk's cache before it is
	 * recorded.  Any commit that records the name also holds the
	 * allocation, so a crash can leave the message in new/ only whole;
	 * new/ needs no sync of its own.
	 */
	early = link_first(dfd);
	if (write_tmp(tmpfd, d, prefix, content, len, size, vsize, &name,
	    early ? &fd : NULL, errno_r, error_r) < 0)
		goto out;
	if (publish(tmpfd, newfd, d, name, size, vsize, &final, &linked,
	    errno_r, error_r) < 0) {
		(void)unlinkat(tmpfd, name, 0);
		goto out;
	}
	if (fd >= 0) {
		int err = fsync(fd) < 0 ? errno : 0;

		if (close(fd) < 0 && err == 0 && errno != EINTR)
			err = errno;
		fd = -1;
		if (err != 0) {
			(void)unlinkat(newfd, final, 0);
			if (linked)
				(void)unlinkat(tmpfd, name, 0);
			failf(err, errno_r, error_r, "cannot write %s/new/%s",
			    d, final);
			goto out;
		}
	}
	if (!early && fsync(newfd) < 0) {
		int err = errno;

		/* Not known to be on disk: take it back, report a failure
		 * (the message is tried again later). */
		(void)unlinkat(newfd, final, 0);
		if (linked)
			(void)unlinkat(tmpfd, name, 0);
		failf(err, errno_r, error_r, "cannot flush the directory "
		    "%s/new", d);
		goto out;
	}
	if (linked)
		(void)unlinkat(tmpfd, name, 0);
	*path_r = xasprintf("%s%snew/%s", d, strcmp(d, "/") == 0 ? "" : "/",
	    final);
	ret = 0;
out:
	if (fd >= 0) {
		/* publish failed: the tmp name is already gone */
		(void)close(fd);
	}
	if (curfd >= 0)
		(void)close(curfd);
	if (newfd >= 0)
		(void)close(newfd);
	if (tmpfd >= 0)
		(void)close(tmpfd);
	if (dfd >= 0)
		(void)close(dfd);
	free(final);
	free(name);
	free(d);
	return ret;
}
