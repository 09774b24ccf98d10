/* SPDX-License-Identifier: MIT */
/*
 * master_pid - pid file and single-master lock; see master_pid.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "master_pid.h"
#include "xalloc.h"

char *
master_pid_path(const char *queue_directory)
{
	return xasprintf("%s/pid/master.pid", queue_directory);
}

int
master_pid_lock(const char *path, char **error_r)
{
	struct flock fl;
	char text[32];
	int fd, n;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		*error_r = xasprintf("cannot open pid file %s: %s", path,
		    strerror(errno));
		return -1;
	}
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(fd, F_SETLK, &fl) < 0) {
		int saved = errno;
		struct flock q;

		memset(&q, 0, sizeof(q));
		q.l_type = F_WRLCK;
		q.l_whence = SEEK_SET;
		if ((saved == EAGAIN || saved == EACCES) &&
		    fcntl(fd, F_GETLK, &q) == 0 && q.l_type != F_UNLCK)
			*error_r = xasprintf("another Ostia master (pid %ld) "
			    "is already running on this queue directory "
			    "(lock on %s); stop it first with `ostia stop`",
			    (long)q.l_pid, path);
		else
			*error_r = xasprintf("cannot lock pid file %s: %s",
			    path, strerror(saved));
		close(fd);
		return -1;
	}
	n = snprintf(text, sizeof(text), "%10ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, text, (size_t)n, 0) != n) {
		*error_r = xasprintf("cannot write pid file %s: %s", path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

pid_t
master_pid_query(const char *path, char **error_r)
{
	struct flock q;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		*error_r = xasprintf("cannot open pid file %s: %s", path,
		    strerror(errno));
		return -1;
	}
	memset(&q, 0, sizeof(q));
	/* F_GETLK with F_WRLCK reports any lock; a read fd is enough. */
	q.l_type = F_WRLCK;
	q.l_whence = SEEK_SET;
	if (fcntl(fd, F_GETLK, &q) < 0) {
		*error_r = xasprintf("cannot query lock on %s: %s", path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return q.l_type == F_UNLCK ? 0 : q.l_pid;
}
