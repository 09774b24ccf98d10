/* SPDX-License-Identifier: MIT */
/*
 * queue_showq - the public queue service (queue_showq.h).
 */
#include <errno.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "compat.h"
#include "log.h"
#include "login_list.h"
#include "qmgr.h"
#include "queue_listing.h"
#include "queue_showq.h"
#include "showq_proto.h"
#include "strv.h"
#include "xalloc.h"

/* Answer bytes kept ready before the client has read them. */
#define SHOWQ_OUT_HIGH (64 * 1024)
/* Messages listed per write readiness. */
#define SHOWQ_STEP_MESSAGES 32

struct sq_conn {
	int fd;
	struct event *ev;
	uid_t peer_uid;
	char in[SHOWQ_REQUEST_MAX_BYTES + 1];
	size_t inlen;
	struct buf out;
	size_t off;
	struct queue_listing *ql;	/* while listing */
	bool finished;			/* "S n" is in out */
	struct sq_conn *next, *prev;
};

static struct {
	struct event_base *base;
	char **mailq_users;
	char **flush_users;
	size_t max_file_bytes;
	struct sq_conn *conns;
	size_t nconns;
} sq;

void
queue_showq_init(struct event_base *base, const struct config_view *v,
    size_t max_file_bytes)
{
	sq.base = base;
	sq.mailq_users = config_list(v, P_authorized_mailq_users);
	sq.flush_users = config_list(v, P_authorized_flush_users);
	sq.max_file_bytes = max_file_bytes;
	for (int i = 0; i < 2; i++) {
		char **l = i == 0 ? sq.mailq_users : sq.flush_users;
		const char *bad = login_list_unsupported(
		    (const char *const *)l);

		if (bad != NULL)
			log_warning("%s: \"%.100s\" cannot be evaluated (Ostia "
			    "supports login names, !name and static:anyone "
			    "there): requests that reach it are refused",
			    i == 0 ? "authorized_mailq_users" :
			    "authorized_flush_users", bad);
	}
}

bool
queue_showq_is_ours(const char *listen_addr)
{
	size_t n = strlen(listen_addr), k = strlen("/" SHOWQ_SOCKET_PATH);

	return n >= k && strcmp(listen_addr + n - k, "/" SHOWQ_SOCKET_PATH) ==
	    0;
}

static void
conn_free(struct sq_conn *q)
{
	if (q->prev != NULL)
		q->prev->next = q->next;
	else
		sq.conns = q->next;
	if (q->next != NULL)
		q->next->prev = q->prev;
	sq.nconns--;
	event_free(q->ev);
	close(q->fd);
	queue_listing_free(q->ql);
	buf_deinit(&q->out);
	free(q);
}

/* emit - text (lines) as answer lines of kind 'O' or 'E'. */
static void
emit(struct sq_conn *q, char kind, const char *text, size_t len)
{
	size_t i = 0;

	while (i < len) {
		const char *lf = memchr(text + i, '\n', len - i);
		size_t n = lf != NULL ? (size_t)(lf - (text + i)) : len - i;

		(void)buf_appendf(&q->out, "%c %.*s\n", kind, (int)n, text + i);
		i += n + (lf != NULL);
	}
}

static void
finish(struct sq_conn *q, int status)
{
	(void)buf_appendf(&q->out, "S %d\n", status);
	q->finished = true;
}

static void on_write(evutil_socket_t fd, short what, void *arg);

/* want_write - answer; a client that stops reading is dropped. */
static void
want_write(struct sq_conn *q)
{
	struct timeval tv = { QUEUE_SHOWQ_TIMEOUT, 0 };

	event_free(q->ev);
	q->ev = event_new(sq.base, q->fd, EV_WRITE | EV_PERSIST, on_write, q);
	event_add(q->ev, &tv);
}

/* pump - the next messages of the listing into out. */
static void
pump(struct sq_conn *q)
{
	struct buf text, err;
	int more = 1;

	buf_init(&text, SIZE_MAX / 2);
	buf_init(&err, SIZE_MAX / 2);
	for (int i = 0; i < SHOWQ_STEP_MESSAGES && more &&
	    q->out.len - q->off < SHOWQ_OUT_HIGH; i++) {
		more = queue_listing_next(q->ql, &text, &err);
		emit(q, 'O', text.data, text.len);
		emit(q, 'E', err.data, err.len);
		buf_reset(&text);
		buf_reset(&err);
	}
	if (!more) {
		finish(q, queue_listing_failed(q->ql) ? 1 : 0);
		queue_listing_free(q->ql);
		q->ql = NULL;
	}
	buf_deinit(&text);
	buf_deinit(&err);
}

static void
on_write(evutil_socket_t fd, short what, void *arg)
{
	struct sq_conn *q = arg;
	ssize_t n;

	if (what & EV_TIMEOUT) {
		log_warning("public queue service: uid %lu read nothing of "
		    "the answer for %d s", (unsigned long)q->peer_uid,
		    QUEUE_SHOWQ_TIMEOUT);
		conn_free(q);
		return;
	}
	if (q->ql != NULL)
		pump(q);
	while (q->off < q->out.len) {
		n = send(fd, q->out.data + q->off, q->out.len - q->off,
		    MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			conn_free(q);
			return;
		}
		q->off += (size_t)n;
	}
	buf_reset(&q->out);
	q->off = 0;
	if (q->finished && q->ql == NULL)
		conn_free(q);
}

/* refuse - answer and log a request that may not be carried out. */
static void
refuse(struct sq_conn *q, const char *fmt, ...) ATTR_FORMAT(2, 3);

static void
refuse(struct sq_conn *q, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	log_warning("public queue service: %s", text);
	emit(q, 'E', text, strlen(text));
	finish(q, 2);
}

static void
handle(struct sq_conn *q, const char *line, size_t len)
{
	struct showq_request r;
	const char *why = NULL;
	bool list, privileged = q->peer_uid == 0 || q->peer_uid == geteuid();
	char why_not[256];

	if (showq_request_parse(line, len, &r, &why) < 0) {
		refuse(q, "malformed request from uid %lu: %s",
		    (unsigned long)q->peer_uid, why);
		return;
	}
	if (r.uid != (unsigned long)q->peer_uid) {
		refuse(q, "a request for uid %lu from uid %lu: refused",
		    r.uid, (unsigned long)q->peer_uid);
		return;
	}
	list = r.what == SHOWQ_LIST || r.what == SHOWQ_LIST_JSON;
	if (!privileged && !login_list_allows((const char *const *)(list ?
	    sq.mailq_users : sq.flush_users), r.login, why_not,
	    sizeof(why_not))) {
		refuse(q, "%s (uid %lu) may not %s the queue: %s (%s)",
		    r.login, r.uid, list ? "list" : "flush", why_not, list ?
		    "authorized_mailq_users" : "authorized_flush_users");
		return;
	}
	if (list) {
		q->ql = queue_listing_open(".", sq.max_file_bytes, r.what ==
		    SHOWQ_LIST_JSON ? QUEUE_LISTING_JSON : QUEUE_LISTING_TEXT);
		return;
	}
	{
		char req[SHOWQ_DOMAIN_MAX_BYTES + 16];
		struct buf out;
		int st;

		snprintf(req, sizeof(req), "flush%s%s", r.what ==
		    SHOWQ_FLUSH_DOMAIN ? " -d " : r.what == SHOWQ_FLUSH_ID ?
		    " " : "", r.arg);
		log_info("queue control: %s (uid %lu, %s)", req, r.uid,
		    r.login);
		buf_init(&out, 64 * 1024);
		st = qmgr_control(req, &out);
		emit(q, st == 0 ? 'O' : 'E', out.data, out.len);
		finish(q, st);
		buf_deinit(&out);
	}
}

static void
on_read(evutil_socket_t fd, short what, void *arg)
{
	struct sq_conn *q = arg;
	char *lf;
	ssize_t n;

	if (what & EV_TIMEOUT) {
		log_warning("public queue service: no request from uid %lu "
		    "in %d s", (unsigned long)q->peer_uid,
		    QUEUE_SHOWQ_TIMEOUT);
		conn_free(q);
		return;
	}
	n = recv(fd, q->in + q->inlen, sizeof(q->in) - q->inlen, 0);
	if (n < 0 && (errno == EINTR || errno == EAGAIN ||
	    errno == EWOULDBLOCK))
		return;
	if (n <= 0) {
		conn_free(q);
		return;
	}
	q->inlen += (size_t)n;
	lf = memchr(q->in, '\n', q->inlen);
	if (lf == NULL && q->inlen < sizeof(q->in))
		return;
	if (lf == NULL)
		refuse(q, "a request longer than %d bytes from uid %lu",
		    SHOWQ_REQUEST_MAX_BYTES, (unsigned long)q->peer_uid);
	else
		handle(q, q->in, (size_t)(lf - q->in));
	want_write(q);
}

void
queue_showq_accept(int fd)
{
	struct timeval tv = { QUEUE_SHOWQ_TIMEOUT, 0 };
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	struct sq_conn *q;

	if (sq.nconns >= QUEUE_SHOWQ_MAX_CONNS ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0) {
		if (sq.nconns >= QUEUE_SHOWQ_MAX_CONNS)
			log_warning("public queue service: %d requests at once "
			    "already; one more refused", QUEUE_SHOWQ_MAX_CONNS);
		close(fd);
		return;
	}
	q = xcalloc(1, sizeof(*q));
	q->fd = fd;
	q->peer_uid = cred.uid;
	buf_init(&q->out, SIZE_MAX / 2);
	q->ev = event_new(sq.base, fd, EV_READ | EV_PERSIST, on_read, q);
	event_add(q->ev, &tv);
	q->next = sq.conns;
	if (sq.conns != NULL)
		sq.conns->prev = q;
	sq.conns = q;
	sq.nconns++;
}
