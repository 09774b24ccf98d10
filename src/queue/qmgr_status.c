/* SPDX-License-Identifier: MIT */
/*
 * qmgr_status - the per-message delivery log; see qmgr_status.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "file_read.h"
#include "qmgr_status.h"
#include "xalloc.h"

#define QSTATUS_FILE_MAX (64u * 1024 * 1024)

static const char *const action_names[] = {
	[QSTATUS_SENT] = "sent",
	[QSTATUS_BOUNCED] = "bounced",
	[QSTATUS_DEFERRED] = "deferred",
	[QSTATUS_HOLD] = "hold",
	[QSTATUS_WARNED] = "warned",
};

const char *
qstatus_action_name(enum qstatus_action a)
{
	if ((size_t)a < sizeof(action_names) / sizeof(action_names[0]))
		return action_names[a];
	return "?";
}

static void
entry_free(struct qstatus_entry *e)
{
	free(e->dsn);
	free(e->address);
	free(e->remote);
	free(e->text);
}

void
qstatus_free(struct qstatus *st)
{
	for (size_t i = 0; i < st->n; i++)
		entry_free(&st->e[i]);
	free(st->e);
	st->e = NULL;
	st->n = 0;
}

/* all_digits - n > 0 bytes of 0-9 only (no sign, no space). */
static bool
all_digits(const char *p, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	return true;
}

/* parse_line - one line without its LF; 0 or -1. */
static int
parse_line(const char *p, size_t len, struct qstatus_entry *e)
{
	const char *f[7];
	size_t fl[7], k = 0;
	const char *s = p, *end = p + len;
	char num[32];
	char *ep;
	size_t i;

	for (;;) {
		const char *t = memchr(s, '\t', (size_t)(end - s));

		if (t == NULL)
			t = end;
		if (k == 7)
			return -1;	/* more than seven fields */
		f[k] = s;
		fl[k++] = (size_t)(t - s);
		if (t == end)
			break;
		s = t + 1;
	}
	if (k != 7 || memchr(p, '\0', len) != NULL ||
	    memchr(p, '\r', len) != NULL)
		return -1;
	memset(e, 0, sizeof(*e));
	if (fl[0] == 1 && f[0][0] == '-') {
		e->idx = -1;
	} else {
		if (fl[0] >= 12 || !all_digits(f[0], fl[0]))
			return -1;
		memcpy(num, f[0], fl[0]);
		num[fl[0]] = '\0';
		errno = 0;
		e->idx = strtol(num, &ep, 10);
		if (*ep != '\0' || errno != 0 || e->idx < 0 || num[0] == '-' ||
		    num[0] == '+')
			return -1;
	}
	for (i = 0; i < sizeof(action_names) / sizeof(action_names[0]); i++)
		if (strlen(action_names[i]) == fl[1] &&
		    memcmp(action_names[i], f[1], fl[1]) == 0)
			break;
	if (i == sizeof(action_names) / sizeof(action_names[0]))
		return -1;
	e->action = (enum qstatus_action)i;
	if ((e->idx < 0) != (e->action == QSTATUS_HOLD ||
	    e->action == QSTATUS_WARNED))
		return -1;
	if (fl[2] >= 19 || !all_digits(f[2], fl[2]))
		return -1;
	memcpy(num, f[2], fl[2]);
	num[fl[2]] = '\0';
	errno = 0;
	e->when = (time_t)strtoll(num, &ep, 10);
	if (*ep != '\0' || errno != 0 || num[0] == '-')
		return -1;
	e->dsn = xstrndup(f[3], fl[3]);
	e->address = xstrndup(f[4], fl[4]);
	e->remote = xstrndup(f[5], fl[5]);
	e->text = xstrndup(f[6], fl[6]);
	return 0;
}

void
qstatus_parse(const char *text, size_t len, struct qstatus *st,
    size_t *bad_r)
{
	const char *p = text, *end = text + len;
	size_t bad = 0;

	memset(st, 0, sizeof(*st));
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		struct qstatus_entry e;

		if (nl == NULL) {
			bad++;		/* a torn last line */
			break;
		}
		if ((size_t)(nl - p) < QSTATUS_LINE_MAX &&
		    parse_line(p, (size_t)(nl - p), &e) == 0) {
			st->e = xreallocarray(st->e, st->n + 1,
			    sizeof(*st->e));
			st->e[st->n++] = e;
		} else {
			bad++;
		}
		p = nl + 1;
	}
	if (bad_r != NULL)
		*bad_r = bad;
}

int
qstatus_load(const char *path, struct qstatus *st)
{
	char *err = NULL, *text;
	size_t len = 0;
	int e = 0;

	memset(st, 0, sizeof(*st));
	text = file_read_capped(path, QSTATUS_FILE_MAX, &len, &e, &err);
	if (text == NULL) {
		free(err);
		if (e == ENOENT)
			return 0;
		errno = e != 0 ? e : EIO;
		return -1;
	}
	qstatus_parse(text, len, st, NULL);
	free(text);
	return 1;
}

const struct qstatus_entry *
qstatus_find(const struct qstatus *st, long idx, const char *address)
{
	for (size_t i = st->n; i-- > 0;) {
		const struct qstatus_entry *e = &st->e[i];

		if (e->idx == idx && (address == NULL ||
		    strcmp(e->address, address) == 0))
			return e;
	}
	return NULL;
}

bool
qstatus_has_warned(const struct qstatus *st)
{
	for (size_t i = 0; i < st->n; i++)
		if (st->e[i].action == QSTATUS_WARNED)
			return true;
	return false;
}

bool
qstatus_has_hold(const struct qstatus *st)
{
	for (size_t i = 0; i < st->n; i++)
		if (st->e[i].action == QSTATUS_HOLD)
			return true;
	return false;
}

/* put - append a field with tabs and line breaks as spaces. */
static size_t
put(char *out, size_t room, size_t off, const char *s)
{
	for (; s != NULL && *s != '\0' && off + 1 < room; s++)
		out[off++] = (*s == '\t' || *s == '\r' || *s == '\n') ?
		    ' ' : *s;
	return off;
}

size_t
qstatus_format(char *out, size_t outsz, const struct qstatus_entry *e)
{
	char head[64];
	size_t off, room;

	if (outsz < 2) {
		if (outsz == 1)
			out[0] = '\0';
		return 0;
	}
	room = outsz - 1;	/* keep one byte for the LF */
	if (e->idx < 0)
		snprintf(head, sizeof(head), "-\t%s\t%lld\t",
		    qstatus_action_name(e->action), (long long)e->when);
	else
		snprintf(head, sizeof(head), "%ld\t%s\t%lld\t", e->idx,
		    qstatus_action_name(e->action), (long long)e->when);
	off = strlen(head) < room ? strlen(head) : room - 1;
	memcpy(out, head, off);
	off = put(out, room, off, e->dsn);
	if (off + 1 < room)
		out[off++] = '\t';
	off = put(out, room, off, e->address);
	if (off + 1 < room)
		out[off++] = '\t';
	off = put(out, room, off, e->remote);
	if (off + 1 < room)
		out[off++] = '\t';
	off = put(out, room, off, e->text);
	out[off++] = '\n';
	out[off] = '\0';
	return off;
}

int
qstatus_append(const char *path, const char *lines, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	size_t done = 0;
	int e;

	if (fd < 0)
		return -1;
	while (done < n) {
		ssize_t w = write(fd, lines + done, n - done);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		done += (size_t)w;
	}
	if (fdatasync(fd) < 0)
		goto fail;
	return close(fd);
fail:
	e = errno;
	close(fd);
	errno = e;
	return -1;
}
