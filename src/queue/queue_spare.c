/* SPDX-License-Identifier: MIT */
/*
 * queue_spare - queue files kept for the next messages; see
 * queue_spare.h.
 *
 * Paths are relative to queue_directory (the queue process's current
 * directory or chroot).  A spare is named by the ID its last message
 * had: IDs are unique, so the names never collide, and the name means
 * nothing once the file is here.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "queue_file.h"
#include "queue_proto.h"
#include "queue_spare.h"
#include "xalloc.h"

static struct {
	int fd;				/* spare/, or -1: keep none */
	uid_t uid;			/* this process's: spares are ours */
	char (*names)[QUEUE_ID_LEN + 1];	/* a stack: [n - 1] is taken next */
	unsigned n, cap;
	unsigned low;			/* the least n since the last trim */
} sp = { .fd = -1 };

bool
spare_keep_blocks(const struct stat *st, time_t now)
{
	return st->st_size <= QUEUE_SPARE_KEEP_BYTES &&
	    st->st_ctim.tv_sec - now <= QUEUE_SPARE_CLOCK_SLACK &&
	    now - st->st_ctim.tv_sec <= QUEUE_SPARE_FRESH_SECONDS;
}

/* disable - stop keeping spares (spare/ unusable): say why, once. */
static void
disable(const char *what, int err)
{
	log_warning("%s %s/: %s; queue files are now freed and made anew "
	    "for every message (mail still flows; on ext4 without a journal "
	    "creating files then costs more)", what, QUEUE_SPARE_DIR,
	    strerror(err));
	if (sp.fd >= 0)
		close(sp.fd);
	sp.fd = -1;
	sp.n = sp.low = 0;
}

void
spare_init(void)
{
	int dfd;
	DIR *d;
	struct dirent *de;
	unsigned removed = 0;

	if (sp.fd >= 0)
		close(sp.fd);
	sp.n = sp.low = 0;
	sp.uid = geteuid();
	sp.fd = open(QUEUE_SPARE_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (sp.fd < 0) {
		disable("cannot open", errno);
		return;
	}
	dfd = dup(sp.fd);
	d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (d == NULL) {
		if (dfd >= 0)
			close(dfd);
		disable("cannot read", errno);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (unlinkat(sp.fd, de->d_name, 0) == 0)
			removed++;
	}
	closedir(d);
	if (removed > 0)
		log_debug(1, "removed %u spare queue file%s left by an "
		    "earlier queue process", removed, removed == 1 ? "" : "s");
}

/* push - keep the spare named name. */
static void
push(const char *name)
{
	if (sp.n == sp.cap) {
		sp.cap = sp.cap == 0 ? 64 : sp.cap * 2;
		sp.names = xreallocarray(sp.names, sp.cap,
		    sizeof(*sp.names));
	}
	snprintf(sp.names[sp.n++], sizeof(*sp.names), "%s", name);
}

int
spare_remove(const char *dir, const char *id)
{
	char from[256], to[256];

	if (snprintf(from, sizeof(from), "%s/%s", dir, id) >=
	    (int)sizeof(from)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (sp.fd >= 0 && sp.n < QUEUE_SPARE_MAX && queue_id_is_valid(id)) {
		if (renameat2(AT_FDCWD, from, sp.fd, id, RENAME_NOREPLACE) ==
		    0) {
			struct stat st;

			/* A large file's blocks go now, not when reused. */
			snprintf(to, sizeof(to), "%s/%s", QUEUE_SPARE_DIR, id);
			if (fstatat(sp.fd, id, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    (st.st_size <= QUEUE_SPARE_KEEP_BYTES ||
			    truncate(to, 0) == 0))
				push(id);
			else
				(void)unlinkat(sp.fd, id, 0);
			return 0;
		}
		if (errno == EINVAL || errno == ENOSYS)
			disable("renameat2(RENAME_NOREPLACE) is not supported "
			    "for", errno);
	}
	return unlink(from);
}

int
spare_take(int incoming_fd, const char *id)
{
	char name[QUEUE_ID_LEN + 1];

	while (sp.fd >= 0 && sp.n > 0) {
		struct stat st;
		int fd, e;

		memcpy(name, sp.names[--sp.n], sizeof(name));
		if (sp.n < sp.low)
			sp.low = sp.n;
		fd = openat(sp.fd, name, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			log_debug(1, "spare queue file %s/%s: %s",
			    QUEUE_SPARE_DIR, name, strerror(errno));
			continue;
		}
		/* Made partial before it is in incoming/, so that no reader
		 * ever sees it there as a message (an old message's bytes
		 * in it name another queue ID: never taken for this one). */
		if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
		    st.st_nlink != 1 || st.st_uid != sp.uid ||
		    flock(fd, LOCK_EX | LOCK_NB) < 0 ||
		    (st.st_size != 0 && !spare_keep_blocks(&st, time(NULL)) &&
		    ftruncate(fd, 0) < 0) ||
		    fchmod(fd, QUEUE_PARTIAL_MODE) < 0) {
			log_debug(1, "spare queue file %s/%s is not usable; "
			    "removed it", QUEUE_SPARE_DIR, name);
			close(fd);
			(void)unlinkat(sp.fd, name, 0);
			continue;
		}
		if (renameat2(sp.fd, name, incoming_fd, id, RENAME_NOREPLACE) ==
		    0)
			return fd;
		e = errno;
		close(fd);
		if (e == EEXIST) {
			push(name);	/* still good for the next ID */
		} else {
			(void)unlinkat(sp.fd, name, 0);
			if (e == EINVAL || e == ENOSYS)
				disable("renameat2(RENAME_NOREPLACE) is not "
				    "supported for", e);
		}
		errno = e;
		return -1;
	}
	errno = ENOENT;
	return -1;
}

unsigned
spare_trim(void)
{
	unsigned k = sp.low, freed = 0;

	/* Spares are taken from the top, so the bottom k were not touched
	 * since the last trim: no message needed them. */
	for (unsigned i = 0; i < k; i++)
		if (unlinkat(sp.fd, sp.names[i], 0) == 0 || errno == ENOENT)
			freed++;
	if (k > 0) {
		memmove(sp.names, sp.names + k, (sp.n - k) * sizeof(*sp.names));
		sp.n -= k;
		log_debug(1, "freed %u spare queue file%s that no message "
		    "needed for a while; %u kept", freed, freed == 1 ? "" : "s",
		    sp.n);
	}
	sp.low = sp.n;
	return k;
}

unsigned
spare_count(void)
{
	return sp.n;
}
