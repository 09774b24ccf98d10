/* SPDX-License-Identifier: MIT */
/*
 * config_edit - change main.cf in place; see config_edit.h.
 *
 * Runs in the `ostia conf` command as whoever invoked it; it needs write
 * access to the configuration directory.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "config_edit.h"
#include "file_read.h"
#include "xalloc.h"

/* Line classification for physical lines of main.cf. */
enum line_kind {
	LINE_BLANK_OR_COMMENT,
	LINE_CONTINUATION,
	LINE_START,
};

/*
 * classify - as cf_lines.c does: trailing blanks and CR do not count,
 * and only spaces and tabs lead a continuation or a comment.
 */
static enum line_kind
classify(const char *l, size_t len)
{
	size_t i = 0;

	while (len > 0 && (l[len - 1] == ' ' || l[len - 1] == '\t' ||
	    l[len - 1] == '\r'))
		len--;
	while (i < len && (l[i] == ' ' || l[i] == '\t'))
		i++;
	if (i == len || l[i] == '#')
		return LINE_BLANK_OR_COMMENT;
	return i > 0 ? LINE_CONTINUATION : LINE_START;
}

/* start_name_is - true if a start line sets name. */
static bool
start_name_is(const char *l, size_t len, const char *name)
{
	size_t nl = strlen(name);

	if (len < nl || strncmp(l, name, nl) != 0)
		return false;
	return nl == len || l[nl] == ' ' || l[nl] == '\t' || l[nl] == '=';
}

static const struct config_edit *
edit_for(const char *l, size_t len, const struct config_edit *edits,
    size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (start_name_is(l, len, edits[i].name))
			return &edits[i];
	return NULL;
}

static void
append_or_die(struct buf *b, const void *p, size_t n)
{
	if (buf_append(b, p, n) < 0)
		abort();	/* buffer max is SIZE_MAX */
}

char *
config_edit_text(const char *text, size_t len,
    const struct config_edit *edits, size_t nedits)
{
	struct buf out;
	bool *done = xcalloc(nedits + 1, sizeof(bool));
	bool skipping = false;
	size_t pos = 0;

	buf_init(&out, (size_t)-2);
	while (pos < len) {
		const char *l = text + pos;
		const char *nl = memchr(l, '\n', len - pos);
		size_t ll = nl != NULL ? (size_t)(nl - l) : len - pos;
		size_t full = nl != NULL ? ll + 1 : ll;
		enum line_kind k = classify(l, ll);
		const struct config_edit *e;

		pos += full;
		if (k == LINE_CONTINUATION && skipping)
			continue;
		if (k == LINE_START) {
			skipping = false;
			e = edit_for(l, ll, edits, nedits);
			if (e != NULL) {
				size_t idx = (size_t)(e - edits);

				skipping = true;
				if (e->value != NULL && !done[idx]) {
					char *line = xasprintf("%s = %s\n",
					    e->name, e->value);

					append_or_die(&out, line, strlen(line));
					free(line);
				}
				done[idx] = true;
				continue;
			}
		}
		append_or_die(&out, l, full);
	}
	for (size_t i = 0; i < nedits; i++) {
		char *line;

		if (done[i] || edits[i].value == NULL)
			continue;
		if (out.len > 0 && out.data[out.len - 1] != '\n')
			append_or_die(&out, "\n", 1);
		line = xasprintf("%s = %s\n", edits[i].name, edits[i].value);
		append_or_die(&out, line, strlen(line));
		free(line);
	}
	free(done);
	return buf_steal(&out);
}

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int
config_edit_file(const char *path, const struct config_edit *edits,
    size_t nedits, char **error_r)
{
	struct stat st;
	char *old = NULL, *newtext = NULL, *tmp = NULL, *dircopy = NULL;
	size_t oldlen = 0;
	int fd = -1, dfd = -1, ret = -1;

	if (stat(path, &st) < 0) {
		if (errno != ENOENT) {
			*error_r = xasprintf("cannot stat %s: %s", path,
			    strerror(errno));
			goto out;
		}
		/* No main.cf yet: the edit creates it. */
		st.st_mode = 0644;
		st.st_uid = (uid_t)-1;
		st.st_gid = (gid_t)-1;
		old = xstrdup("");
	} else {
		char *rerr = NULL;
		int e = 0;

		old = file_read_capped(path, MAIN_CF_MAX_BYTES, &oldlen, &e,
		    &rerr);
		if (old == NULL) {
			*error_r = xasprintf("%s: %s", path, rerr);
			free(rerr);
			goto out;
		}
	}
	newtext = config_edit_text(old, oldlen, edits, nedits);
	tmp = xasprintf("%s.ostia-edit.%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    st.st_mode & 07777);
	if (fd < 0) {
		*error_r = xasprintf("cannot create %s: %s", tmp,
		    strerror(errno));
		goto out;
	}
	/* Keep the old mode exactly, whatever the umask. */
	if (fchmod(fd, st.st_mode & 07777) < 0) {
		*error_r = xasprintf("cannot chmod %s: %s", tmp,
		    strerror(errno));
		goto out_unlink;
	}
	if (st.st_uid != (uid_t)-1 && geteuid() == 0 &&
	    fchown(fd, st.st_uid, st.st_gid) < 0) {
		*error_r = xasprintf("cannot chown %s: %s", tmp,
		    strerror(errno));
		goto out_unlink;
	}
	if (write_all(fd, newtext, strlen(newtext)) < 0 || fsync(fd) < 0) {
		*error_r = xasprintf("cannot write %s: %s", tmp,
		    strerror(errno));
		goto out_unlink;
	}
	if (close(fd) < 0) {
		fd = -1;
		*error_r = xasprintf("cannot write %s: %s", tmp,
		    strerror(errno));
		goto out_unlink;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		*error_r = xasprintf("cannot rename %s to %s: %s", tmp, path,
		    strerror(errno));
		goto out_unlink;
	}
	dircopy = xstrdup(path);
	dfd = open(dirname(dircopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0)
		(void)fsync(dfd);
	ret = 0;
	goto out;
out_unlink:
	(void)unlink(tmp);
out:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	free(old);
	free(newtext);
	free(tmp);
	free(dircopy);
	return ret;
}
