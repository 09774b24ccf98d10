/* SPDX-License-Identifier: MIT */
/*
 * lookup_verify - password checks on a worker thread; see
 * lookup_verify.h.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

#include <openssl/crypto.h>

#include "log.h"
#include "lookup_verify.h"
#include "passwd.h"
#include "xalloc.h"

struct vjob {
	struct vjob *next;
	uint64_t conn;
	uint32_t id;
	char *table, *login, *password, *hash;
	enum dict_status st;
	char reason[DICT_ERR_MAX_BYTES];
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct vjob *todo_head, *todo_tail;
	struct vjob *done_head, *done_tail;
	size_t queued;		/* in todo or being checked */
	size_t pending;		/* submitted, done not yet run */
	int efd;
	struct event *ev;
	lookup_verify_done_fn *done;
	bool started;
} vs = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER,
    .efd = -1 };

static void
wipe(char **p)
{
	if (*p != NULL) {
		OPENSSL_cleanse(*p, strlen(*p));
		free(*p);
		*p = NULL;
	}
}

static void
job_free(struct vjob *j)
{
	wipe(&j->password);
	wipe(&j->hash);
	free(j->table);
	free(j->login);
	free(j);
}

/* check - the expensive part, on the worker thread. */
static void
check(struct vjob *j)
{
	char why[256];
	bool plain = false;
	enum passwd_result r = passwd_verify(j->password, strlen(j->password),
	    j->hash, &plain, why, sizeof(why));

	wipe(&j->password);
	wipe(&j->hash);
	switch (r) {
	case PASSWD_MATCH:
		j->st = DICT_FOUND;
		/* The loop logs: log.c is not meant for two threads. */
		if (plain)
			snprintf(j->reason, sizeof(j->reason), "plain");
		break;
	case PASSWD_MISMATCH:
		j->st = DICT_NOTFOUND;
		break;
	default:
		j->st = DICT_TEMPFAIL;
		snprintf(j->reason, sizeof(j->reason), "%.300s: the stored "
		    "password of %.300s cannot be used: %.200s", j->table,
		    j->login, why);
		break;
	}
}

static void *
worker(void *arg)
{
	(void)arg;
	for (;;) {
		struct vjob *j;
		uint64_t one = 1;

		pthread_mutex_lock(&vs.mu);
		while (vs.todo_head == NULL)
			pthread_cond_wait(&vs.cv, &vs.mu);
		j = vs.todo_head;
		vs.todo_head = j->next;
		if (vs.todo_head == NULL)
			vs.todo_tail = NULL;
		pthread_mutex_unlock(&vs.mu);

		check(j);

		pthread_mutex_lock(&vs.mu);
		j->next = NULL;
		if (vs.done_tail != NULL)
			vs.done_tail->next = j;
		else
			vs.done_head = j;
		vs.done_tail = j;
		vs.queued--;
		pthread_mutex_unlock(&vs.mu);
		if (write(vs.efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			abort();	/* cannot happen with an eventfd */
	}
	return NULL;
}

/* deliver - on the loop: run done for every finished check. */
static void
on_done(evutil_socket_t fd, short what, void *arg)
{
	uint64_t n;
	struct vjob *list;

	(void)arg;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warning("password checks: eventfd: %s", strerror(errno));
	pthread_mutex_lock(&vs.mu);
	list = vs.done_head;
	vs.done_head = vs.done_tail = NULL;
	pthread_mutex_unlock(&vs.mu);
	while (list != NULL) {
		struct vjob *j = list;

		list = j->next;
		if (j->st == DICT_FOUND && strcmp(j->reason, "plain") == 0) {
			log_warning("%s: the password of %s is stored in plain "
			    "text: store a hash ({SHA512-CRYPT} or {ARGON2ID}; "
			    "`ostia user passwd`)", j->table, j->login);
			j->reason[0] = '\0';
		} else if (j->st == DICT_TEMPFAIL) {
			log_warning("%s", j->reason);
		}
		vs.pending--;
		vs.done(j->conn, j->id, j->st, j->reason);
		job_free(j);
	}
}

int
lookup_verify_start(struct event_base *base, lookup_verify_done_fn *done)
{
	pthread_t t;
	pthread_attr_t attr;
	sigset_t all, old;
	int err;

	vs.done = done;
	vs.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (vs.efd < 0)
		return -1;
	vs.ev = event_new(base, vs.efd, EV_READ | EV_PERSIST, on_done, NULL);
	event_add(vs.ev, NULL);
	/* The worker takes no signals: the loop handles them. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	err = pthread_create(&t, &attr, worker, NULL);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err != 0) {
		errno = err;
		return -1;
	}
	vs.started = true;
	return 0;
}

void
lookup_verify_submit(uint64_t conn, uint32_t id, const char *table,
    const char *login, const char *password, const char *hash)
{
	struct vjob *j = xcalloc(1, sizeof(*j));
	bool full;

	j->conn = conn;
	j->id = id;
	j->table = xstrdup(table);
	j->login = xstrdup(login);
	vs.pending++;
	pthread_mutex_lock(&vs.mu);
	full = !vs.started || vs.queued >= LOOKUP_VERIFY_QUEUE_MAX;
	if (!full) {
		j->password = xstrdup(password);
		j->hash = xstrdup(hash);
		if (vs.todo_tail != NULL)
			vs.todo_tail->next = j;
		else
			vs.todo_head = j;
		vs.todo_tail = j;
		vs.queued++;
		pthread_cond_signal(&vs.cv);
	}
	pthread_mutex_unlock(&vs.mu);
	if (full) {
		uint64_t one = 1;

		j->st = DICT_TEMPFAIL;
		snprintf(j->reason, sizeof(j->reason), "%s: too many password "
		    "checks waiting (%d): answering 'try again later'", table,
		    LOOKUP_VERIFY_QUEUE_MAX);
		pthread_mutex_lock(&vs.mu);
		if (vs.done_tail != NULL)
			vs.done_tail->next = j;
		else
			vs.done_head = j;
		vs.done_tail = j;
		pthread_mutex_unlock(&vs.mu);
		if (vs.efd >= 0 && write(vs.efd, &one, sizeof(one)) < 0 &&
		    errno != EAGAIN)
			log_warning("password checks: eventfd: %s",
			    strerror(errno));
	}
}

size_t
lookup_verify_pending(void)
{
	return vs.pending;
}
