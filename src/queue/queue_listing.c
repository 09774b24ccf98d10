/* SPDX-License-Identifier: MIT */
/*
 * queue_listing - the mailq-like summary of the queue (queue_listing.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "compat.h"
#include "file_read.h"
#include "qmgr_status.h"
#include "queue_file.h"
#include "queue_listing.h"
#include "queue_proto.h"
#include "xalloc.h"

static const struct {
	const char *dir;
	char mark;
	const char *json_name;	/* Postfix's queue names */
} listed[] = {
	{ QUEUE_INCOMING_DIR, '*', "active" },
	{ QUEUE_DEFERRED_DIR, ' ', "deferred" },
	{ QUEUE_HOLD_DIR, '!', "hold" },
};

struct queue_listing {
	char *qdir;
	size_t max_file_bytes;
	enum queue_listing_format format;
	size_t k;		/* index into listed[] */
	char **names;		/* of listed[k].dir, once read */
	size_t nnames, i;
	long long bytes;
	size_t count;
	int failed;
	int done;
};

void
queue_listing_escape(struct buf *out, const char *value)
{
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			(void)buf_appendf(out, "\\%03o", *p);
		else
			(void)buf_append_c(out, (char)*p);
	}
}

/* utf8_len - the length of the UTF-8 sequence at p (n bytes left), or
 * 0 when it is not one (RFC 3629: no overlong forms, no surrogates). */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
	size_t len;
	unsigned min;
	unsigned cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		cp = p[0] & 0x1f;
		min = 0x80;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		cp = p[0] & 0x0f;
		min = 0x800;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		cp = p[0] & 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

void
queue_listing_json_string(struct buf *out, const char *value)
{
	const unsigned char *p = (const unsigned char *)value;
	size_t n = strlen(value);

	(void)buf_append_c(out, '"');
	while (n > 0) {
		size_t k = utf8_len(p, n);

		if (k == 0) {
			(void)buf_append_str(out, "\\ufffd");
			k = 1;
		} else if (*p == '"' || *p == '\\') {
			(void)buf_append_c(out, '\\');
			(void)buf_append_c(out, (char)*p);
		} else if (*p < 0x20 || *p == 0x7f) {
			(void)buf_appendf(out, "\\u%04x", *p);
		} else {
			(void)buf_append(out, p, k);
		}
		p += k;
		n -= k;
	}
	(void)buf_append_c(out, '"');
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char **
queue_listing_names(const char *dir, size_t *n_r, int *err_r)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0;

	const char *last = strrchr(dir, '/');
	bool incoming = strcmp(last != NULL ? last + 1 : dir,
	    QUEUE_INCOMING_DIR) == 0;

	*n_r = 0;
	*err_r = 0;
	if (d == NULL) {
		*err_r = -1;
		return NULL;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (!queue_id_is_valid(de->d_name))
			continue;
		/* Only incoming/ holds partial files: no stat elsewhere
		 * (a deferred queue can be long). */
		if (incoming && fstatat(dirfd(d), de->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) == 0 && queue_file_partial(&st))
			continue;
		names = xreallocarray(names, n + 1, sizeof(*names));
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_names);
	*n_r = n;
	return names;
}

int
queue_listing_load(const char *qdir, const char *dir, const char *id,
    size_t max_file_bytes, struct queue_envelope *env, struct buf *content,
    struct buf *err)
{
	char *path, *rerr = NULL, *text;
	const char *perr = NULL;
	struct stat st;
	size_t len = 0;
	int e = 0, r;

	path = xasprintf("%s/%s/%s", qdir, dir, id);
	if (lstat(path, &st) == 0 && queue_file_partial(&st)) {
		(void)buf_appendf(err, "%s: still being received (not queued "
		    "yet)\n", path);
		free(path);
		return -1;
	}
	text = file_read_capped(path, max_file_bytes, &len, &e, &rerr);
	if (text == NULL) {
		(void)buf_appendf(err, "%s: %s%s\n", path, rerr, e == ENOENT ?
		    " (no queued message with that ID)" : "");
		free(rerr);
		free(path);
		return -1;
	}
	memset(env, 0, sizeof(*env));
	r = queue_file_parse(text, len, env, content, &perr);
	if (r == 0 && (env->id == NULL || strcmp(env->id, id) != 0)) {
		queue_envelope_deinit(env);
		r = -1;
	}
	if (r < 0) {
		char *why = queue_file_reused_why(text, len, id, perr);

		if (why != NULL)
			(void)buf_appendf(err, "%s: %s; the queue manager never "
			    "delivers it\n", path, why);
		else
			(void)buf_appendf(err, "%s: not a valid queue file: "
			    "%s\n", path, perr != NULL ? perr :
			    "it names another queue ID");
		free(why);
	}
	free(text);
	free(path);
	return r;
}

struct queue_listing *
queue_listing_open(const char *qdir, size_t max_file_bytes,
    enum queue_listing_format format)
{
	struct queue_listing *ql = xcalloc(1, sizeof(*ql));

	ql->qdir = xstrdup(qdir);
	ql->max_file_bytes = max_file_bytes;
	ql->format = format;
	return ql;
}

int
queue_listing_failed(const struct queue_listing *ql)
{
	return ql->failed;
}

void
queue_listing_free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static void
free_names(struct queue_listing *ql)
{
	queue_listing_free_names(ql->names, ql->nnames);
	ql->names = NULL;
	ql->nnames = 0;
	ql->i = 0;
}

void
queue_listing_free(struct queue_listing *ql)
{
	if (ql == NULL)
		return;
	free_names(ql);
	free(ql->qdir);
	free(ql);
}

/* recipient_done - delivered or returned already (not listed). */
static bool
recipient_done(const struct queue_envelope *env, const struct qstatus *log,
    size_t i)
{
	const struct qstatus_entry *e = qstatus_find(log, (long)i, NULL);

	return e != NULL && (e->action == QSTATUS_SENT ||
	    e->action == QSTATUS_BOUNCED) && env->redirect == NULL;
}

/* json_one - one message as postqueue -j writes it. */
static void
json_one(const struct queue_listing *ql, const struct queue_envelope *env,
    const struct qstatus *log, const struct stat *st, const char *id,
    struct buf *out)
{
	bool first = true;

	(void)buf_appendf(out, "{\"queue_name\": \"%s\", \"queue_id\": ",
	    listed[ql->k].json_name);
	queue_listing_json_string(out, id);
	(void)buf_appendf(out, ", \"arrival_time\": %lld, \"message_size\": "
	    "%lld, \"forced_expire\": false, \"sender\": ",
	    strtoll(env->arrival, NULL, 10), (long long)st->st_size);
	queue_listing_json_string(out, env->sender);
	(void)buf_append_str(out, ", \"recipients\": [");
	for (size_t i = 0; i < env->nrcpts; i++) {
		const struct qstatus_entry *e = qstatus_find(log, (long)i,
		    NULL);

		if (recipient_done(env, log, i))
			continue;
		(void)buf_append_str(out, first ? "{\"address\": " :
		    ", {\"address\": ");
		first = false;
		queue_listing_json_string(out, env->rcpts[i].addr);
		if (e != NULL && e->action == QSTATUS_DEFERRED &&
		    e->text != NULL) {
			(void)buf_append_str(out, ", \"delay_reason\": ");
			queue_listing_json_string(out, e->text);
		}
		(void)buf_append_c(out, '}');
	}
	(void)buf_append_str(out, "]}\n");
}

/*
 * one - one message: "ID[*!] SIZE DATE SENDER", the last deferral
 * reason, then the recipients not done yet.  Returns the file size, or
 * -1 (said in err).
 */
static long long
one(struct queue_listing *ql, const char *dir, const char *id, char mark,
    struct buf *out, struct buf *err)
{
	struct queue_envelope env;
	struct qstatus log;
	char *path, date[64];
	struct stat st;
	struct tm tm;
	time_t t;
	const char *why = NULL;

	path = xasprintf("%s/%s/%s", ql->qdir, dir, id);
	if (stat(path, &st) < 0) {
		/* Delivered or moved since the directory was read. */
		free(path);
		return -2;
	}
	free(path);
	if (queue_listing_load(ql->qdir, dir, id, ql->max_file_bytes, &env,
	    NULL, err) < 0)
		return -1;
	path = xasprintf("%s/%s/%s", ql->qdir, QUEUE_STATUS_DIR, id);
	if (qstatus_load(path, &log) < 0)
		memset(&log, 0, sizeof(log));
	free(path);
	t = (time_t)strtoll(env.arrival, NULL, 10);
	if (ql->format == QUEUE_LISTING_JSON) {
		json_one(ql, &env, &log, &st, id, out);
		qstatus_free(&log);
		queue_envelope_deinit(&env);
		return (long long)st.st_size;
	}
	localtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a %b %e %H:%M:%S", &tm);
	if (ql->count == 0)
		(void)buf_append_str(out, "-Queue ID-       --Size-- ----Arrival "
		    "Time---- -Sender/Recipient-------\n");
	(void)buf_appendf(out, "%-16s%c %8lld %s  ", id, mark,
	    (long long)st.st_size, date);
	if (env.sender[0] == '\0')
		(void)buf_append_str(out, "MAILER-DAEMON");
	else
		queue_listing_escape(out, env.sender);
	(void)buf_append_c(out, '\n');
	for (size_t i = log.n; i-- > 0;)
		if (log.e[i].action == QSTATUS_DEFERRED) {
			why = log.e[i].text;
			break;
		}
	if (mark == '!' && env.hold != NULL && why == NULL)
		why = env.hold;
	if (why != NULL) {
		(void)buf_appendf(out, "%18s(", "");
		queue_listing_escape(out, why);
		(void)buf_append_str(out, ")\n");
	}
	for (size_t i = 0; i < env.nrcpts; i++) {
		if (recipient_done(&env, &log, i))
			continue;
		(void)buf_appendf(out, "%45s", "");
		queue_listing_escape(out, env.rcpts[i].addr);
		(void)buf_append_c(out, '\n');
	}
	(void)buf_append_c(out, '\n');
	qstatus_free(&log);
	queue_envelope_deinit(&env);
	return (long long)st.st_size;
}

/* finish - the total, and a word on damaged files. */
static void
finish(struct queue_listing *ql, struct buf *out, struct buf *err)
{
	char *cdir = xasprintf("%s/%s", ql->qdir, QUEUE_CORRUPT_DIR);
	DIR *d = opendir(cdir);
	struct dirent *de;
	size_t nc = 0;

	while (d != NULL && (de = readdir(d)) != NULL)
		if (queue_id_is_valid(de->d_name))
			nc++;
	if (d != NULL)
		closedir(d);
	if (nc > 0)
		(void)buf_appendf(err, "warning: %zu damaged queue file%s in "
		    "%s (never delivered; see the log)\n", nc, nc == 1 ? "" :
		    "s", cdir);
	free(cdir);
	if (ql->format == QUEUE_LISTING_JSON)
		;	/* no total */
	else if (ql->count == 0)
		(void)buf_append_str(out, "Mail queue is empty\n");
	else
		(void)buf_appendf(out, "-- %lld Kbytes in %zu Request%s.\n",
		    (ql->bytes + 1023) / 1024, ql->count, ql->count == 1 ? "" :
		    "s");
	ql->done = 1;
}

int
queue_listing_next(struct queue_listing *ql, struct buf *out,
    struct buf *err)
{
	while (!ql->done) {
		if (ql->k >= N_ELEMENTS(listed)) {
			finish(ql, out, err);
			break;
		}
		if (ql->names == NULL && ql->i == 0) {
			char *dir = xasprintf("%s/%s", ql->qdir,
			    listed[ql->k].dir);
			int e;

			ql->names = queue_listing_names(dir, &ql->nnames, &e);
			if (e < 0 && errno != ENOENT) {
				(void)buf_appendf(err, "%s: %s\n", dir,
				    strerror(errno));
				ql->failed = 1;
			}
			free(dir);
		}
		if (ql->i >= ql->nnames) {
			free_names(ql);
			ql->k++;
			continue;
		}
		{
			long long sz = one(ql, listed[ql->k].dir,
			    ql->names[ql->i], listed[ql->k].mark, out, err);

			ql->i++;
			if (sz == -1) {
				ql->failed = 1;
			} else if (sz >= 0) {
				ql->bytes += sz;
				ql->count++;
			}
			return 1;
		}
	}
	return 0;
}
