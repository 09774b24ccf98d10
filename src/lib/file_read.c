/* SPDX-License-Identifier: MIT */
/*
 * file_read - whole-file reads with a size cap; see file_read.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "file_read.h"
#include "xalloc.h"

char *
file_read_capped(const char *path, size_t max, size_t *len_r, int *errno_r,
    char **error_r)
{
	struct buf b;
	char chunk[8192];
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		*errno_r = errno;
		*error_r = xasprintf("cannot open: %s", strerror(errno));
		return NULL;
	}
	buf_init(&b, max);
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*errno_r = errno;
			*error_r = xasprintf("cannot read: %s", strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		if (buf_append(&b, chunk, (size_t)n) < 0) {
			*errno_r = EFBIG;
			*error_r = xasprintf("file is larger than the %zu bytes "
			    "allowed", max);
			goto fail;
		}
	}
	close(fd);
	*len_r = b.len;
	return buf_steal(&b);
fail:
	close(fd);
	buf_deinit(&b);
	return NULL;
}
