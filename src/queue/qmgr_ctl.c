/* SPDX-License-Identifier: MIT */
/*
 * qmgr_ctl - `ostia queue` requests carried out by the queue manager
 * (qmgr.h: qmgr_control).  A message being delivered is held or deleted
 * when its current attempt ends; the others are moved at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "compat.h"
#include "config.h"
#include "file_read.h"
#include "log.h"
#include "qmgr.h"
#include "qmgr_int.h"
#include "qmgr_status.h"
#include "queue_file.h"
#include "queue_proto.h"
#include "strv.h"
#include "xalloc.h"


static const char *const dirs_searched[] = {
	QUEUE_INCOMING_DIR, QUEUE_DEFERRED_DIR, QUEUE_HOLD_DIR,
};

/* where - the directory that holds id, or NULL (also while it is a
 * partial file, still being received). */
static const char *
where(const char *id)
{
	for (size_t i = 0; i < N_ELEMENTS(dirs_searched); i++) {
		char *p = qmgr_path(dirs_searched[i], id);
		struct stat st;
		int r = lstat(p, &st);

		free(p);
		if (r == 0 && queue_file_partial(&st))
			return NULL;
		if (r == 0)
			return dirs_searched[i];
	}
	return NULL;
}

static void
touch_now(const char *dir, const char *id)
{
	char *p = qmgr_path(dir, id);

	(void)utimensat(AT_FDCWD, p, NULL, 0);
	free(p);
}

/* One message: 0 done, 1 not there (or not applicable). */
static int
ctl_one(const char *verb, const char *id, struct buf *out)
{
	const char *dir = where(id);
	struct qmsg *m = qmgr_find(id);

	if (dir == NULL && m == NULL) {
		buf_appendf(out, "%s: no such message in the queue\n", id);
		return 1;
	}
	if (strcmp(verb, "flush") == 0 || strcmp(verb, "requeue") == 0) {
		if (m != NULL) {
			buf_appendf(out, "%s: being delivered now\n", id);
			return 0;
		}
		if (strcmp(dir, QUEUE_HOLD_DIR) == 0) {
			buf_appendf(out, "%s: held; release it first\n", id);
			return 1;
		}
		touch_now(dir, id);
		qmgr_load(dir, id, strcmp(verb, "flush") == 0);
		buf_appendf(out, "%s: scheduled for delivery now\n", id);
		return 0;
	}
	if (strcmp(verb, "hold") == 0) {
		if (m != NULL) {
			qmgr_msg_want_hold(m, true);
			buf_appendf(out, "%s: will be held when its current "
			    "delivery attempt ends\n", id);
			return 0;
		}
		if (strcmp(dir, QUEUE_HOLD_DIR) == 0) {
			buf_appendf(out, "%s: already held\n", id);
			return 0;
		}
		qmgr_move(dir, id, QUEUE_HOLD_DIR);
		log_info("%s: held by `ostia queue hold`", id);
		buf_appendf(out, "%s: held\n", id);
		return 0;
	}
	if (strcmp(verb, "release") == 0) {
		struct qstatus_entry h = { .idx = -1, .action = QSTATUS_HOLD,
			.when = time(NULL), .text = UNCONST("released") };

		if (dir == NULL || strcmp(dir, QUEUE_HOLD_DIR) != 0) {
			if (m != NULL)
				qmgr_msg_want_hold(m, false);
			buf_appendf(out, "%s: not held\n", id);
			return m != NULL ? 0 : 1;
		}
		/* A released message is not held again by its Q record. */
		qmgr_log_status(id, &h, 1);
		qmgr_move(QUEUE_HOLD_DIR, id, QUEUE_DEFERRED_DIR);
		touch_now(QUEUE_DEFERRED_DIR, id);
		log_info("%s: released by `ostia queue release`", id);
		qmgr_load(QUEUE_DEFERRED_DIR, id, false);
		buf_appendf(out, "%s: released\n", id);
		return 0;
	}
	if (strcmp(verb, "delete") == 0) {
		if (m != NULL) {
			qmgr_msg_want_delete(m);
			buf_appendf(out, "%s: will be deleted when its current "
			    "delivery attempt ends\n", id);
			return 0;
		}
		{
			char *p = qmgr_path(dir, id);

			if (unlink(p) < 0) {
				buf_appendf(out, "%s: cannot delete: %s\n", id,
				    strerror(errno));
				free(p);
				return 1;
			}
			free(p);
			p = qmgr_path(QUEUE_STATUS_DIR, id);
			(void)unlink(p);
			free(p);
		}
		log_info("%s: removed by `ostia queue delete`", id);
		buf_appendf(out, "%s: deleted\n", id);
		return 0;
	}
	return 2;
}

/* Does a message in dir have a recipient not done in domain? */
static bool
msg_has_domain(const char *dir, const char *id, const char *domain)
{
	char *p = qmgr_path(dir, id), *err = NULL, *text;
	struct queue_envelope env;
	const char *perr;
	size_t len = 0;
	bool hit = false;
	int e = 0;

	text = file_read_capped(p, qmgr_max_file_bytes(), &len, &e, &err);
	free(p);
	free(err);
	if (text == NULL)
		return false;
	memset(&env, 0, sizeof(env));
	if (queue_file_parse(text, len, &env, NULL, &perr) == 0)
		for (size_t i = 0; i < env.nrcpts && !hit; i++) {
			const char *at = strrchr(env.rcpts[i].addr, '@');

			hit = at != NULL && strcasecmp(at + 1, domain) == 0;
		}
	queue_envelope_deinit(&env);
	free(text);
	return hit;
}

/*
 * queue_dir_named - Ostia's directory for a queue name of Postfix's
 * postsuper ("incoming" and "active" are both incoming/), or NULL.
 */
static const char *
queue_dir_named(const char *name)
{
	if (strcmp(name, "incoming") == 0 || strcmp(name, "active") == 0)
		return QUEUE_INCOMING_DIR;
	if (strcmp(name, "deferred") == 0)
		return QUEUE_DEFERRED_DIR;
	if (strcmp(name, "hold") == 0)
		return QUEUE_HOLD_DIR;
	return NULL;
}

/* in_queues - dir is one of the queues named in w[2..n-1] (queues
 * false: none named, every queue). */
static bool
in_queues(char **w, size_t n, bool queues, const char *dir)
{
	if (!queues)
		return true;
	for (size_t i = 2; i < n; i++)
		if (strcmp(queue_dir_named(w[i]), dir) == 0)
			return true;
	return false;
}

int
qmgr_control(const char *request, struct buf *out)
{
	char **w;
	size_t n = 0;
	int ret = 0;
	bool queues = false;

	if (!qmgr_running()) {
		buf_appendf(out, "the queue manager is not running (master.cf "
		    "has no qmgr service, or a stopping queue process still "
		    "holds the queue)\n");
		return 2;
	}
	w = config_split_list(request);
	while (w[n] != NULL)
		n++;
	/* "VERB ALL QUEUE...": ALL limited to those queues (postsuper). */
	if (n >= 3 && n <= 6 && (strcmp(w[0], "requeue") == 0 ||
	    strcmp(w[0], "hold") == 0 || strcmp(w[0], "release") == 0 ||
	    strcmp(w[0], "delete") == 0) && strcmp(w[1], "ALL") == 0) {
		queues = true;
		for (size_t i = 2; i < n; i++)
			queues &= queue_dir_named(w[i]) != NULL;
	}
	if (!queues && (n == 0 || (strcmp(w[0], "flush") != 0 &&
	    strcmp(w[0], "requeue") != 0 && strcmp(w[0], "hold") != 0 &&
	    strcmp(w[0], "release") != 0 && strcmp(w[0], "delete") != 0) ||
	    n > 3 || (n == 3 && (strcmp(w[0], "flush") != 0 ||
	    strcmp(w[1], "-d") != 0)) || (n == 1 &&
	    strcmp(w[0], "flush") != 0))) {
		buf_appendf(out, "usage: flush [ID | -d DOMAIN] | hold|release|"
		    "requeue|delete ID|ALL [incoming|active|deferred|hold...]"
		    "\n");
		strv_free(&w);
		return 2;
	}
	if (n == 2 && strcmp(w[1], "ALL") != 0 && !queue_id_is_valid(w[1])) {
		buf_appendf(out, "\"%s\" is not a queue ID\n", w[1]);
		strv_free(&w);
		return 2;
	}
	if (n == 1 || n == 3 || strcmp(w[1], "ALL") == 0) {
		/* Every message the verb applies to. */
		const char *dir = strcmp(w[0], "release") == 0 ?
		    QUEUE_HOLD_DIR : QUEUE_DEFERRED_DIR;
		size_t k = 0, cnt;
		char **names;

		if (strcmp(w[0], "hold") == 0 || strcmp(w[0], "delete") == 0) {
			/* incoming, deferred (and hold for delete) */
			for (size_t di = 0; di < N_ELEMENTS(dirs_searched);
			    di++) {
				if ((strcmp(w[0], "hold") == 0 &&
				    strcmp(dirs_searched[di],
				    QUEUE_HOLD_DIR) == 0) ||
				    !in_queues(w, n, queues, dirs_searched[di]))
					continue;
				names = qmgr_list_dir(dirs_searched[di], &cnt);
				for (size_t i = 0; i < cnt; i++)
					if (ctl_one(w[0], names[i], out) == 0)
						k++;
				qmgr_free_names(names, cnt);
			}
		} else if (in_queues(w, n, queues, dir)) {
			names = qmgr_list_dir(dir, &cnt);
			for (size_t i = 0; i < cnt; i++) {
				if (n == 3 && !queues &&
				    !msg_has_domain(dir, names[i], w[2]))
					continue;
				if (ctl_one(w[0], names[i], out) == 0)
					k++;
			}
			qmgr_free_names(names, cnt);
		}
		buf_appendf(out, "%s: %zu message%s\n", w[0], k, k == 1 ? "" :
		    "s");
		if (n == 3 && !queues && k == 0)
			ret = 1;
	} else {
		ret = ctl_one(w[0], w[1], out);
	}
	strv_free(&w);
	return ret;
}
