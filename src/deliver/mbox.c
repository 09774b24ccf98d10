/* SPDX-License-Identifier: MIT */
/*
 * mbox - append to a UNIX mailbox file; see mbox.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "mbox.h"
#include "xalloc.h"

/* Bytes collected before each write. */
#define MBOX_WRITE_CHUNK (64 * 1024)

void
mbox_date(time_t t, char *out, size_t outsz)
{
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL ||
	    strftime(out, outsz, "%a %b %e %H:%M:%S %Y", &tm) == 0)
		snprintf(out, outsz, "Thu Jan  1 00:00:00 1970");
}

static const char *
from_sender(const char *sender)
{
	return sender != NULL && sender[0] != '\0' ? sender : "MAILER-DAEMON";
}

/*
 * The writer: bytes collected in a buffer and written when it fills;
 * the first error kept.
 */
struct mwriter {
	int fd;
	struct buf b;
	int error;
	uint64_t total;
};

static void
mw_flush(struct mwriter *w)
{
	size_t off = 0;

	while (w->error == 0 && off < w->b.len) {
		ssize_t n = write(w->fd, w->b.data + off, w->b.len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			w->error = n < 0 ? errno : EIO;
		else
			off += (size_t)n;
	}
	buf_reset(&w->b);
}

static void
mw_put(struct mwriter *w, const char *p, size_t n)
{
	w->total += n;
	if (w->fd < 0)
		return;		/* counting only */
	if (w->b.len + n > MBOX_WRITE_CHUNK)
		mw_flush(w);
	if (n > MBOX_WRITE_CHUNK) {
		/* One long line: written directly. */
		size_t off = 0;

		while (w->error == 0 && off < n) {
			ssize_t k = write(w->fd, p + off, n - off);

			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0)
				w->error = k < 0 ? errno : EIO;
			else
				off += (size_t)k;
		}
		return;
	}
	(void)buf_append(&w->b, p, n);
}

/* emit - the whole entry through w. */
static void
emit(struct mwriter *w, const char *sender, time_t now, const char *prefix,
    const char *content, size_t len)
{
	char date[64];
	size_t pos = 0;

	mbox_date(now, date, sizeof(date));
	mw_put(w, "From ", 5);
	mw_put(w, from_sender(sender), strlen(from_sender(sender)));
	mw_put(w, " ", 1);
	mw_put(w, date, strlen(date));
	mw_put(w, "\n", 1);
	mw_put(w, prefix, strlen(prefix));
	while (pos < len) {
		const char *line = content + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t n = nl != NULL ? (size_t)(nl - line) : len - pos;

		pos += nl != NULL ? n + 1 : n;
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (n >= 5 && memcmp(line, "From ", 5) == 0)
			mw_put(w, ">", 1);
		mw_put(w, line, n);
		mw_put(w, "\n", 1);
	}
	mw_put(w, "\n", 1);
}

uint64_t
mbox_message_size(const char *sender, const char *prefix,
    const char *content, size_t len)
{
	struct mwriter w;

	memset(&w, 0, sizeof(w));
	w.fd = -1;
	emit(&w, sender, 0, prefix, content, len);
	return w.total;
}

static int
fail(int *errno_r, char **error_r, int e, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* fail - *errno_r = e, *error_r from fmt (with the uid for EACCES). */
static int
fail(int *errno_r, char **error_r, int e, const char *fmt, ...)
{
	va_list ap;
	char what[1024];

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	*errno_r = e;
	if (e == EACCES || e == EROFS)
		*error_r = xasprintf("%s: %s (the delivery runs as uid %lu, "
		    "gid %lu)", what, strerror(e), (unsigned long)geteuid(),
		    (unsigned long)getegid());
	else
		*error_r = xasprintf("%s: %s", what, strerror(e));
	return -1;
}

static void
pause_ms(unsigned ms)
{
	struct timespec ts = { (time_t)(ms / 1000),
	    (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/*
 * dotlock - make path.lock.  0 with *lock_r (the lock's path, caller
 * unlinks and frees), or -1 (errno EAGAIN: still held by someone).
 */
static int
dotlock(const char *path, const struct mbox_opts *o, char **lock_r)
{
	char *lock = xasprintf("%s.lock", path);
	unsigned attempts = o->attempts > 0 ? o->attempts : MBOX_LOCK_ATTEMPTS;

	for (unsigned i = 0; i < attempts; i++) {
		struct stat st;
		int fd = open(lock, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0600);

		if (fd >= 0) {
			close(fd);
			*lock_r = lock;
			return 0;
		}
		if (errno != EEXIST) {
			int e = errno;

			free(lock);
			errno = e;
			return -1;
		}
		if (lstat(lock, &st) == 0 &&
		    time(NULL) - st.st_mtime > MBOX_STALE_LOCK_SECONDS) {
			/* Its owner died long ago. */
			(void)unlink(lock);
			continue;
		}
		if (i + 1 < attempts)
			pause_ms(o->delay_ms);
	}
	free(lock);
	errno = EAGAIN;
	return -1;
}

/* flock_fd - the fcntl lock; 0, or -1 (EAGAIN: still held). */
static int
flock_fd(int fd, const struct mbox_opts *o)
{
	unsigned attempts = o->attempts > 0 ? o->attempts : MBOX_LOCK_ATTEMPTS;

	for (unsigned i = 0; i < attempts; i++) {
		struct flock fl;

		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		if (fcntl(fd, F_SETLK, &fl) == 0)
			return 0;
		if (errno != EAGAIN && errno != EACCES && errno != EINTR)
			return -1;
		if (i + 1 < attempts)
			pause_ms(o->delay_ms);
	}
	errno = EAGAIN;
	return -1;
}

/* open_box - open (or create) the mailbox.  fd, or -1 with errno. */
static int
open_box(const char *path, bool create)
{
	int flags = O_WRONLY | O_APPEND | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC |
	    O_NONBLOCK;

	for (int tries = 0; tries < 3; tries++) {
		int fd = open(path, flags);

		if (fd >= 0 || errno != ENOENT || !create)
			return fd;
		fd = open(path, flags | O_CREAT | O_EXCL, 0600);
		if (fd >= 0 || errno != EEXIST)
			return fd;
		/* Made by someone else meanwhile: open that one. */
	}
	return -1;
}

int
mbox_deliver(const char *path, const char *prefix, const char *content,
    size_t len, const struct mbox_opts *o, int *errno_r, char **error_r)
{
	struct mwriter w;
	struct stat st;
	char *lock = NULL;
	uint64_t size;
	off_t start;
	int fd = -1, ret = -1, e;

	*errno_r = 0;
	*error_r = NULL;
	if (path[0] != '/')
		return fail(errno_r, error_r, EINVAL, "mailbox %s", path);
	if (o->dotlock && dotlock(path, o, &lock) < 0) {
		e = errno;
		if (e == EAGAIN) {
			*errno_r = EAGAIN;
			*error_r = xasprintf("mailbox %s is locked (%s.lock "
			    "exists)", path, path);
			return -1;
		}
		return fail(errno_r, error_r, e, "cannot create the lock "
		    "file %s.lock", path);
	}
	fd = open_box(path, o->create);
	if (fd < 0) {
		e = errno;
		if (e == ELOOP)
			fail(errno_r, error_r, EPERM, "mailbox %s is a "
			    "symbolic link; refusing to follow it", path);
		else
			fail(errno_r, error_r, e, "cannot open mailbox %s",
			    path);
		goto out;
	}
	/* Writes block normally from now on. */
	(void)fcntl(fd, F_SETFL, O_APPEND);
	if (fstat(fd, &st) < 0) {
		fail(errno_r, error_r, errno, "fstat %s", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		fail(errno_r, error_r, EPERM, "mailbox %s is not a regular "
		    "file", path);
		goto out;
	}
	if (st.st_nlink != 1) {
		fail(errno_r, error_r, EPERM, "mailbox %s has %lu hard links; "
		    "refusing to write to it", path,
		    (unsigned long)st.st_nlink);
		goto out;
	}
	if (o->check_owner && st.st_uid != o->owner) {
		*errno_r = EPERM;
		*error_r = xasprintf("mailbox %s belongs to uid %lu, not to "
		    "the recipient (uid %lu); refusing to write to it", path,
		    (unsigned long)st.st_uid, (unsigned long)o->owner);
		goto out;
	}
	if (flock_fd(fd, o) < 0) {
		e = errno;
		if (e == EAGAIN) {
			*errno_r = EAGAIN;
			*error_r = xasprintf("mailbox %s is locked by another "
			    "process", path);
		} else
			fail(errno_r, error_r, e, "cannot lock mailbox %s",
			    path);
		goto out;
	}
	/* The size now that nobody else writes. */
	if (fstat(fd, &st) < 0) {
		fail(errno_r, error_r, errno, "fstat %s", path);
		goto out;
	}
	start = st.st_size;
	size = mbox_message_size(o->sender, prefix, content, len);
	if (o->limit > 0 && (uint64_t)start + size > o->limit) {
		*errno_r = EFBIG;
		*error_r = xasprintf("mailbox %s is full: %llu bytes plus "
		    "this message's %llu would pass mailbox_size_limit (%llu "
		    "bytes)", path, (unsigned long long)start,
		    (unsigned long long)size, (unsigned long long)o->limit);
		goto out;
	}
	memset(&w, 0, sizeof(w));
	w.fd = fd;
	buf_init(&w.b, MBOX_WRITE_CHUNK);
	emit(&w, o->sender, o->now, prefix, content, len);
	mw_flush(&w);
	buf_deinit(&w.b);
	if (w.error == 0 && fsync(fd) < 0)
		w.error = errno;
	if (w.error != 0) {
		/* Leave no half message behind. */
		if (ftruncate(fd, start) < 0 || fsync(fd) < 0)
			fail(errno_r, error_r, w.error, "cannot write to "
			    "mailbox %s, and cannot cut it back to %lld bytes "
			    "(%s)", path, (long long)start, strerror(errno));
		else
			fail(errno_r, error_r, w.error, "cannot write to "
			    "mailbox %s", path);
		goto out;
	}
	ret = 0;
out:
	if (fd >= 0)
		close(fd);	/* releases the fcntl lock */
	if (lock != NULL) {
		(void)unlink(lock);
		free(lock);
	}
	return ret;
}
