/* SPDX-License-Identifier: MIT */
/*
 * lookup_client - clients of the lookup process; see lookup_client.h.
 *
 * Answers are untrusted input like any IPC (STYLE.md 1.3): a frame
 * that does not decode, or answers an id nobody asked, ends the
 * connection and every request waiting on it gets TEMPFAIL.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "ipc.h"
#include "log.h"
#include "lookup_client.h"

#include <openssl/crypto.h>
#include "compat.h"
#include "lookup_proto.h"
#include "strv.h"
#include "xalloc.h"

/* ---------------------------------------------------------------- */
/* Shared helpers                                                   */

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* check_request - local verdict on a request, or -2 when it may go. */
static int
check_request(const char *table, const char *key, unsigned flags,
    char *err, size_t errsz)
{
	size_t tl = strlen(table);

	if (strlen(key) > DICT_KEY_MAX_BYTES)
		return DICT_NOTFOUND;
	if (tl == 0 || tl > DICT_SPEC_MAX_BYTES) {
		snprintf(err, errsz, "lookup table name %s", tl == 0 ?
		    "is empty" : "is too long");
		return DICT_TEMPFAIL;
	}
	if ((flags & ~LOOKUP_F_ALL) != 0) {
		snprintf(err, errsz, "unknown lookup flags 0x%x", flags);
		return DICT_TEMPFAIL;
	}
	return -2;
}

/* check_find - check_request for a FIND. */
static int
check_find(const char *tables, const char *key, uint32_t order,
    unsigned mflags, const char *delimiters, unsigned flags, char *err,
    size_t errsz)
{
	size_t tl = strlen(tables);

	if ((mflags & ~(unsigned)LOOKUP_FIND_ADDR_FLAGS) != 0) {
		snprintf(err, errsz, "unknown lookup order flags 0x%x", mflags);
		return DICT_TEMPFAIL;
	}
	if (strlen(key) > DICT_KEY_MAX_BYTES)
		return DICT_NOTFOUND;
	if (tl == 0 || tl > LOOKUP_TABLES_MAX_BYTES) {
		snprintf(err, errsz, "list of lookup tables %s", tl == 0 ?
		    "is empty" : "is too long");
		return DICT_TEMPFAIL;
	}
	if ((flags & ~(unsigned)LOOKUP_F_FIND_ALL) != 0) {
		snprintf(err, errsz, "unknown lookup flags 0x%x", flags);
		return DICT_TEMPFAIL;
	}
	if (!lookup_find_args_ok(order, lookup_find_mflags_for(
	    (enum lookup_find_order)order, mflags), delimiters)) {
		snprintf(err, errsz, "lookup order %u with delimiters "
		    "\"%.64s\": not a valid search", order, delimiters);
		return DICT_TEMPFAIL;
	}
	return -2;
}

/* check_route - check_request for a ROUTE (never NOTFOUND). */
static int
check_route(const char *service, uint32_t op, const char *address,
    unsigned flags, char *err, size_t errsz)
{
	if (strlen(address) > ROUTE_ADDRESS_MAX_BYTES) {
		snprintf(err, errsz, "address longer than %d bytes: not routed",
		    ROUTE_ADDRESS_MAX_BYTES);
		return DICT_TEMPFAIL;
	}
	if (strlen(service) > LOOKUP_SERVICE_MAX_BYTES) {
		snprintf(err, errsz, "service name longer than %d bytes",
		    LOOKUP_SERVICE_MAX_BYTES);
		return DICT_TEMPFAIL;
	}
	if (op < LOOKUP_ROUTE_RESOLVE || op > LOOKUP_ROUTE_OP_LAST) {
		snprintf(err, errsz, "unknown route operation %u", op);
		return DICT_TEMPFAIL;
	}
	if ((flags & ~(unsigned)LOOKUP_F_ROUTE_ALL) != 0) {
		snprintf(err, errsz, "unknown lookup flags 0x%x", flags);
		return DICT_TEMPFAIL;
	}
	return -2;
}

/* ---------------------------------------------------------------- */
/* Asynchronous client                                              */

struct lookup_request {
	struct lookup_client *lc;
	struct lookup_request *prev, *next;
	uint32_t id;
	enum lookup_msg msg;	/* GET, FIND, ROUTE or ANVIL */
	unsigned flags;
	char *table;		/* GET: table; FIND: tables; ROUTE: service */
	char *key;		/* GET, FIND, ANVIL: key; ROUTE: address */
	char *delimiters;	/* FIND */
	uint32_t order;		/* FIND: order; ROUTE, ANVIL: op */
	unsigned mflags;	/* FIND */
	char *password;		/* LOOKUP_F_VERIFY only; wiped */
	lookup_client_fn *cb;	/* NULL once cancelled */
	void *ctx;
	uint64_t deadline_ms;
	bool sent;		/* on the current connection */
	bool retried;		/* already sent on a second connection */
	/* Answer decided locally, delivered from the loop. */
	enum dict_status local_st;
	char *local_text;
};

struct req_list {
	struct lookup_request *head, *tail;
};

struct lookup_client {
	struct event_base *base;
	char *path;
	unsigned timeout_ms;
	int sock;
	struct event *rev, *wev, *timer, *deliver_ev;
	struct ipc_conn ipc;
	struct buf out;
	size_t out_off;
	uint32_t next_id;
	struct req_list waiting;	/* sent or to be sent, oldest first */
	struct req_list local;		/* answered locally, to deliver */
	size_t live;			/* callbacks still to run */
	unsigned depth;			/* inside a callback */
	bool doomed;			/* freed from a callback */
	bool broken;			/* a send failed inside get() */
	uint64_t conn_id;		/* the open connection, 0: none */
	uint64_t last_conn_id;
};

static void
rl_push(struct req_list *l, struct lookup_request *r)
{
	r->next = NULL;
	r->prev = l->tail;
	if (l->tail != NULL)
		l->tail->next = r;
	else
		l->head = r;
	l->tail = r;
}

static void
rl_remove(struct req_list *l, struct lookup_request *r)
{
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		l->head = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	else
		l->tail = r->prev;
	r->prev = r->next = NULL;
}

static void
req_free(struct lookup_request *r)
{
	free(r->table);
	free(r->key);
	free(r->delimiters);
	if (r->password != NULL) {
		OPENSSL_cleanse(r->password, strlen(r->password));
		free(r->password);
	}
	free(r->local_text);
	free(r);
}

/* put_req - r's frame, as put_frame: all or nothing. */
static int
put_req(struct buf *out, const struct lookup_request *r)
{
	switch (r->msg) {
	case LOOKUP_MSG_FIND:
		return lookup_proto_put_find(out, r->id, r->flags,
		    (enum lookup_find_order)r->order, r->mflags, r->table,
		    r->key, r->delimiters);
	case LOOKUP_MSG_ROUTE:
		return lookup_proto_put_route(out, r->id, r->flags,
		    (enum lookup_route_op)r->order, r->table, r->key);
	case LOOKUP_MSG_ANVIL:
		return lookup_proto_put_anvil(out, r->id,
		    (enum lookup_anvil_op)r->order, r->key);
	default:
		return lookup_proto_put_request(out, r->id, r->flags,
		    r->table, r->key, r->password);
	}
}

static const char route_notfound[] = "the lookup process answered a "
    "ROUTE request with \"not found\"";
static const char anvil_notfound[] = "the lookup process answered an "
    "ANVIL request with \"not found\"";

/* finish - run r's callback (unless cancelled) and free r; r is in no
 * list any more. */
static void
finish(struct lookup_client *lc, struct lookup_request *r,
    enum dict_status st, const char *text, size_t len)
{
	/* A ROUTE always has an answer: fail closed. */
	if (r->msg == LOOKUP_MSG_ROUTE && st == DICT_NOTFOUND) {
		st = DICT_TEMPFAIL;
		text = route_notfound;
		len = strlen(route_notfound);
	}
	/* So does an ANVIL. */
	if (r->msg == LOOKUP_MSG_ANVIL && st == DICT_NOTFOUND) {
		st = DICT_TEMPFAIL;
		text = anvil_notfound;
		len = strlen(anvil_notfound);
	}
	if (r->cb != NULL) {
		lc->live--;
		lc->depth++;
		r->cb(r->ctx, st, text, len);
		lc->depth--;
	}
	req_free(r);
}

static void client_destroy(struct lookup_client *lc);

/* after_callbacks - a callback may have freed the client. */
static bool
after_callbacks(struct lookup_client *lc)
{
	if (lc->depth == 0 && lc->doomed) {
		client_destroy(lc);
		return true;
	}
	return false;
}

static void
conn_close(struct lookup_client *lc)
{
	if (lc->sock < 0)
		return;
	event_free(lc->rev);
	event_free(lc->wev);
	lc->rev = lc->wev = NULL;
	ipc_conn_deinit(&lc->ipc);
	close(lc->sock);
	lc->sock = -1;
	lc->conn_id = 0;
	buf_reset(&lc->out);
	lc->out_off = 0;
}

static void on_read(evutil_socket_t fd, short what, void *arg);
static void on_write(evutil_socket_t fd, short what, void *arg);

static int
conn_open(struct lookup_client *lc)
{
	lc->sock = ipc_unix_connect(lc->path, true);
	if (lc->sock < 0)
		return -1;
	lc->conn_id = ++lc->last_conn_id;
	ipc_conn_init_max(&lc->ipc, lc->sock, LOOKUP_REPLY_MAX_BYTES);
	lc->rev = event_new(lc->base, lc->sock, EV_READ | EV_PERSIST,
	    on_read, lc);
	lc->wev = event_new(lc->base, lc->sock, EV_WRITE | EV_PERSIST,
	    on_write, lc);
	event_add(lc->rev, NULL);
	return 0;
}

/* flush - write what the socket takes; -1 when the connection broke. */
static int
flush(struct lookup_client *lc)
{
	int r = buf_send(&lc->out, &lc->out_off, lc->sock);

	if (r < 0)
		return -1;
	if (r == 1)
		event_del(lc->wev);
	else
		event_add(lc->wev, NULL);
	return 0;
}

static void
arm_timer(struct lookup_client *lc)
{
	struct lookup_request *r = lc->waiting.head;
	uint64_t now = mono_ms(), d;
	struct timeval tv;

	if (r == NULL) {
		evtimer_del(lc->timer);
		return;
	}
	d = r->deadline_ms > now ? r->deadline_ms - now : 0;
	tv.tv_sec = (time_t)(d / 1000);
	tv.tv_usec = (suseconds_t)(d % 1000) * 1000;
	evtimer_add(lc->timer, &tv);
}

/* queue_local - answer r from the loop, soon. */
static void
queue_local(struct lookup_client *lc, struct lookup_request *r,
    enum dict_status st, const char *text)
{
	r->local_st = st;
	r->local_text = xstrdup(text);
	rl_push(&lc->local, r);
	event_active(lc->deliver_ev, EV_TIMEOUT, 0);
}

/*
 * fail_all - the connection is gone: requests sent on it go once more
 * on a new one when retry allows and they have not been retried yet;
 * the others (and all, when the new connection fails) get TEMPFAIL.
 */
static void
fail_all(struct lookup_client *lc, const char *why, bool retry)
{
	struct req_list again = { NULL, NULL };
	struct lookup_request *r;
	char reason[DICT_ERR_MAX_BYTES];

	lc->broken = false;
	conn_close(lc);
	while ((r = lc->waiting.head) != NULL) {
		rl_remove(&lc->waiting, r);
		/* A DISCONNECT is about the connection that is gone: on
		 * another one it would take back someone else's count. */
		if (retry && !r->retried && r->cb != NULL &&
		    !(r->msg == LOOKUP_MSG_ANVIL &&
		    r->order == LOOKUP_ANVIL_DISCONNECT)) {
			r->retried = true;
			r->sent = false;
			rl_push(&again, r);
			continue;
		}
		finish(lc, r, DICT_TEMPFAIL, why, strlen(why));
	}
	if (again.head == NULL)
		goto out;
	if (conn_open(lc) < 0) {
		snprintf(reason, sizeof(reason), "%s; cannot connect to the "
		    "lookup process again (%s): %s", why, lc->path,
		    strerror(errno));
		while ((r = again.head) != NULL) {
			rl_remove(&again, r);
			finish(lc, r, DICT_TEMPFAIL, reason, strlen(reason));
		}
		goto out;
	}
	while ((r = again.head) != NULL) {
		rl_remove(&again, r);
		if (put_req(&lc->out, r) < 0) {
			finish(lc, r, DICT_TEMPFAIL, why, strlen(why));
			continue;
		}
		r->sent = true;
		rl_push(&lc->waiting, r);
	}
	if (flush(lc) < 0) {
		/* Broken at once: no third try. */
		fail_all(lc, why, false);
		return;
	}
out:
	arm_timer(lc);
}

static void
on_deliver(evutil_socket_t fd, short what, void *arg)
{
	struct lookup_client *lc = arg;
	struct lookup_request *r;

	if (lc->broken) {
		lc->broken = false;
		fail_all(lc, "lost the connection to the lookup process", true);
	}
	while ((r = lc->local.head) != NULL && !lc->doomed) {
		rl_remove(&lc->local, r);
		finish(lc, r, r->local_st, r->local_text,
		    strlen(r->local_text));
	}
	(void)after_callbacks(lc);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct lookup_client *lc = arg;
	char why[128];

	if (lc->waiting.head == NULL ||
	    lc->waiting.head->deadline_ms > mono_ms()) {
		arm_timer(lc);
		return;
	}
	snprintf(why, sizeof(why), "the lookup process did not answer "
	    "within %u.%03u s", lc->timeout_ms / 1000, lc->timeout_ms % 1000);
	fail_all(lc, why, false);
	(void)after_callbacks(lc);
}

static void
on_write(evutil_socket_t fd, short what, void *arg)
{
	struct lookup_client *lc = arg;

	if (!lc->broken && flush(lc) < 0) {
		fail_all(lc, "lost the connection to the lookup process", true);
		(void)after_callbacks(lc);
	}
}

static void
on_read(evutil_socket_t fd, short what, void *arg)
{
	struct lookup_client *lc = arg;
	struct ipc_in in;
	uint32_t type;
	int pfd, r = 0;

	if (lc->broken)
		return;		/* on_deliver deals with it */
	if (ipc_conn_fill_once(&lc->ipc) < 0) {
		fail_all(lc, "lost the connection to the lookup process", true);
		goto out;
	}
	while (lc->sock >= 0 && !lc->doomed &&
	    (r = ipc_conn_next(&lc->ipc, &type, &in, &pfd)) == 1) {
		struct lookup_reply rep;
		struct lookup_request *q;
		const char *error = NULL;

		if (pfd >= 0) {
			close(pfd);
			error = "a descriptor";
		} else if (type != LOOKUP_MSG_REPLY) {
			error = "an unknown message";
		} else if (lookup_proto_reply_decode(&in, &rep, &error) == 0) {
			for (q = lc->waiting.head; q != NULL; q = q->next)
				if (q->sent && q->id == rep.id)
					break;
			if (q == NULL) {
				lookup_reply_deinit(&rep);
				error = "an answer to no request";
			} else {
				rl_remove(&lc->waiting, q);
				finish(lc, q, lookup_status_to_dict(rep.status),
				    rep.text, rep.len);
				lookup_reply_deinit(&rep);
				continue;
			}
		}
		log_error("the lookup process sent %s; closing the connection",
		    error);
		fail_all(lc, "malformed answer from the lookup process", false);
		goto out;
	}
	if (lc->doomed || lc->broken)
		goto out;
	if (lc->sock >= 0 && r < 0) {
		log_error("the lookup process sent a malformed frame; closing "
		    "the connection");
		fail_all(lc, "malformed answer from the lookup process", false);
		goto out;
	}
	if (lc->sock >= 0 && lc->ipc.eof) {
		fail_all(lc, "the lookup process closed the connection", true);
		goto out;
	}
	if (lc->sock >= 0)
		arm_timer(lc);
out:
	(void)after_callbacks(lc);
}

struct lookup_client *
lookup_client_new(struct event_base *base, const char *socket_path)
{
	struct lookup_client *lc = xcalloc(1, sizeof(*lc));

	lc->base = base;
	lc->path = xstrdup(socket_path);
	lc->timeout_ms = LOOKUP_CLIENT_TIMEOUT_MS;
	lc->sock = -1;
	lc->timer = evtimer_new(base, on_timer, lc);
	lc->deliver_ev = event_new(base, -1, 0, on_deliver, lc);
	buf_init(&lc->out, LOOKUP_CLIENT_OUT_MAX_BYTES);
	return lc;
}

void
lookup_client_set_timeout(struct lookup_client *lc, unsigned ms)
{
	lc->timeout_ms = ms > 0 ? ms : 1;
}

struct lookup_request *
lookup_client_get(struct lookup_client *lc, const char *table,
    const char *key, unsigned flags, lookup_client_fn *cb, void *ctx)
{
	return lookup_client_verify(lc, table, key, NULL,
	    flags & ~LOOKUP_F_VERIFY, cb, ctx);
}

/*
 * submit - r (msg, flags and the strings filled in) is counted; unless
 * verdict says it was answered locally (then err is the reason of a
 * TEMPFAIL), it is encoded and sent.  Answers always come from the loop.
 */
static struct lookup_request *
submit(struct lookup_client *lc, struct lookup_request *r, int verdict,
    const char *err)
{
	char why[DICT_ERR_MAX_BYTES];

	if (verdict != -2) {
		queue_local(lc, r, (enum dict_status)verdict,
		    verdict == DICT_TEMPFAIL ? err : "");
		return r;
	}
	if (lc->sock < 0 && conn_open(lc) < 0) {
		snprintf(why, sizeof(why), "cannot connect to the lookup "
		    "process (%s): %s", lc->path, strerror(errno));
		queue_local(lc, r, DICT_TEMPFAIL, why);
		return r;
	}
	if (++lc->next_id == 0)
		lc->next_id = 1;
	r->id = lc->next_id;
	if (put_req(&lc->out, r) < 0) {
		queue_local(lc, r, DICT_TEMPFAIL, "too many lookups waiting "
		    "to be sent to the lookup process");
		return r;
	}
	r->sent = true;
	r->deadline_ms = mono_ms() + lc->timeout_ms;
	rl_push(&lc->waiting, r);
	if (lc->waiting.head == r)
		arm_timer(lc);
	if (!lc->broken && flush(lc) < 0) {
		/* Answers must not come from inside this call: the loop
		 * sends again or fails what was sent on this connection. */
		lc->broken = true;
		event_active(lc->deliver_ev, EV_TIMEOUT, 0);
	}
	return r;
}

static struct lookup_request *
req_new(struct lookup_client *lc, enum lookup_msg msg, unsigned flags,
    lookup_client_fn *cb, void *ctx)
{
	struct lookup_request *r = xcalloc(1, sizeof(*r));

	r->lc = lc;
	r->msg = msg;
	r->cb = cb;
	r->ctx = ctx;
	r->flags = flags;
	lc->live++;
	return r;
}

struct lookup_request *
lookup_client_verify(struct lookup_client *lc, const char *table,
    const char *key, const char *password, unsigned flags,
    lookup_client_fn *cb, void *ctx)
{
	struct lookup_request *r = req_new(lc, LOOKUP_MSG_GET, flags, cb,
	    ctx);
	char err[DICT_ERR_MAX_BYTES];
	int verdict;

	verdict = check_request(table, key, flags, err, sizeof(err));
	/* A password too long for the protocol matches nothing. */
	if (verdict == -2 && password != NULL &&
	    strlen(password) > LOOKUP_PASSWORD_MAX_BYTES)
		verdict = DICT_NOTFOUND;
	if (verdict == -2) {
		r->table = xstrdup(table);
		r->key = xstrdup(key);
		if (password != NULL) {
			r->flags |= LOOKUP_F_VERIFY;
			r->password = xstrdup(password);
		}
	}
	return submit(lc, r, verdict, err);
}

struct lookup_request *
lookup_client_find(struct lookup_client *lc, const char *tables,
    const char *key, enum lookup_find_order order, unsigned mflags,
    const char *delimiters, lookup_client_fn *cb, void *ctx)
{
	struct lookup_request *r = req_new(lc, LOOKUP_MSG_FIND, 0, cb, ctx);
	char err[DICT_ERR_MAX_BYTES];
	int verdict;

	if (delimiters == NULL || order != LOOKUP_FIND_ADDRESS)
		delimiters = "";
	verdict = check_find(tables, key, (uint32_t)order, mflags,
	    delimiters, 0, err, sizeof(err));
	if (verdict == -2) {
		r->table = xstrdup(tables);
		r->key = xstrdup(key);
		r->delimiters = xstrdup(delimiters);
		r->order = (uint32_t)order;
		r->mflags = lookup_find_mflags_for(order, mflags);
	}
	return submit(lc, r, verdict, err);
}

struct lookup_request *
lookup_client_route(struct lookup_client *lc, const char *service,
    enum lookup_route_op op, const char *address, lookup_client_fn *cb,
    void *ctx)
{
	struct lookup_request *r = req_new(lc, LOOKUP_MSG_ROUTE, 0, cb, ctx);
	char err[DICT_ERR_MAX_BYTES];
	int verdict;

	if (service == NULL)
		service = "";
	verdict = check_route(service, (uint32_t)op, address, 0, err,
	    sizeof(err));
	if (verdict == -2) {
		r->table = xstrdup(service);
		r->key = xstrdup(address);
		r->order = (uint32_t)op;
	}
	return submit(lc, r, verdict, err);
}

struct lookup_request *
lookup_client_anvil(struct lookup_client *lc, enum lookup_anvil_op op,
    const char *key, lookup_client_fn *cb, void *ctx)
{
	struct lookup_request *r = req_new(lc, LOOKUP_MSG_ANVIL, 0, cb, ctx);
	char err[DICT_ERR_MAX_BYTES];
	int verdict = -2;

	if (op < LOOKUP_ANVIL_CONNECT || op > LOOKUP_ANVIL_OP_LAST) {
		snprintf(err, sizeof(err), "unknown anvil operation %u",
		    (unsigned)op);
		verdict = DICT_TEMPFAIL;
	} else if (key[0] == '\0' ||
	    strlen(key) > LOOKUP_ANVIL_KEY_MAX_BYTES) {
		snprintf(err, sizeof(err), "anvil key empty or longer than "
		    "%d bytes", LOOKUP_ANVIL_KEY_MAX_BYTES);
		verdict = DICT_TEMPFAIL;
	} else {
		r->key = xstrdup(key);
		r->order = (uint32_t)op;
	}
	return submit(lc, r, verdict, err);
}

void
lookup_client_cancel(struct lookup_request *r)
{
	if (r->cb != NULL) {
		r->cb = NULL;
		r->lc->live--;
	}
}

bool
lookup_client_request_sent(const struct lookup_request *r)
{
	return r->sent;
}

uint64_t
lookup_client_connection_id(const struct lookup_client *lc)
{
	return lc->conn_id;
}

size_t
lookup_client_pending(const struct lookup_client *lc)
{
	return lc->live;
}

static void
client_destroy(struct lookup_client *lc)
{
	struct lookup_request *r;

	conn_close(lc);
	while ((r = lc->waiting.head) != NULL) {
		rl_remove(&lc->waiting, r);
		req_free(r);
	}
	while ((r = lc->local.head) != NULL) {
		rl_remove(&lc->local, r);
		req_free(r);
	}
	event_free(lc->timer);
	event_free(lc->deliver_ev);
	buf_deinit(&lc->out);
	free(lc->path);
	free(lc);
}

void
lookup_client_free(struct lookup_client **lcp)
{
	struct lookup_client *lc = *lcp;

	if (lc == NULL)
		return;
	*lcp = NULL;
	if (lc->depth > 0) {
		/* Inside a callback: the handler frees it on the way out. */
		lc->doomed = true;
		for (struct lookup_request *r = lc->waiting.head; r != NULL;
		    r = r->next)
			r->cb = NULL;
		for (struct lookup_request *r = lc->local.head; r != NULL;
		    r = r->next)
			r->cb = NULL;
		return;
	}
	client_destroy(lc);
}

/* ---------------------------------------------------------------- */
/* Blocking client                                                  */

struct lookup_sync {
	char *path;
	unsigned timeout_ms;
	int sock;
	uint32_t next_id;
	struct ipc_conn ipc;
	struct buf out;
};

struct lookup_sync *
lookup_sync_new(const char *socket_path, unsigned timeout_ms)
{
	struct lookup_sync *s = xcalloc(1, sizeof(*s));

	s->path = xstrdup(socket_path);
	s->timeout_ms = timeout_ms > 0 ? timeout_ms : LOOKUP_CLIENT_TIMEOUT_MS;
	s->sock = -1;
	buf_init(&s->out, IPC_HEADER_BYTES + LOOKUP_REQUEST_MAX_BYTES);
	return s;
}

static void
sync_close(struct lookup_sync *s)
{
	if (s->sock < 0)
		return;
	ipc_conn_deinit(&s->ipc);
	close(s->sock);
	s->sock = -1;
}

/* sync_wait - poll for events until deadline; 1 ready, 0 timeout. */
static int
sync_wait(int sock, short events, uint64_t deadline)
{
	for (;;) {
		uint64_t now = mono_ms();
		struct pollfd pfd = { sock, events, 0 };
		int r;

		if (now >= deadline)
			return 0;
		r = poll(&pfd, 1, (int)(deadline - now));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r > 0)
			return 1;
	}
}

enum sync_outcome {
	SYNC_DONE,		/* *st set */
	SYNC_RETRY,		/* the connection broke before an answer */
	SYNC_FAIL,		/* TEMPFAIL in err, no retry */
};

static enum sync_outcome
sync_once(struct lookup_sync *s, uint32_t id, uint64_t deadline,
    enum dict_status *st, struct buf *value, char *err, size_t errsz)
{
	size_t off = 0;

	while (off < s->out.len) {
		ssize_t n = send(s->sock, s->out.data + off, s->out.len - off,
		    MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (sync_wait(s->sock, POLLOUT, deadline) <= 0)
				goto timeout;
			continue;
		}
		if (n <= 0)
			return SYNC_RETRY;
		off += (size_t)n;
	}
	for (;;) {
		struct ipc_in in;
		struct lookup_reply rep;
		const char *error = NULL;
		uint32_t type;
		int fd, r;

		r = ipc_conn_next(&s->ipc, &type, &in, &fd);
		if (r == 0) {
			if (s->ipc.eof)
				return SYNC_RETRY;
			if (sync_wait(s->sock, POLLIN, deadline) <= 0)
				goto timeout;
			if (ipc_conn_fill_once(&s->ipc) < 0)
				return SYNC_RETRY;
			continue;
		}
		if (fd >= 0)
			close(fd);
		if (r < 0 || fd >= 0 || type != LOOKUP_MSG_REPLY ||
		    lookup_proto_reply_decode(&in, &rep, &error) < 0) {
			snprintf(err, errsz, "malformed answer from the lookup "
			    "process%s%s", error != NULL ? ": " : "",
			    error != NULL ? error : "");
			return SYNC_FAIL;
		}
		if (rep.id != id) {
			lookup_reply_deinit(&rep);
			snprintf(err, errsz, "the lookup process answered "
			    "another request");
			return SYNC_FAIL;
		}
		*st = lookup_status_to_dict(rep.status);
		if (*st == DICT_FOUND &&
		    buf_append(value, rep.text, rep.len) < 0) {
			snprintf(err, errsz, "the value is longer than this "
			    "caller accepts");
			*st = DICT_TEMPFAIL;
		} else if (*st == DICT_TEMPFAIL) {
			snprintf(err, errsz, "%s", rep.text);
		}
		lookup_reply_deinit(&rep);
		return SYNC_DONE;
	}
timeout:
	snprintf(err, errsz, "the lookup process did not answer within "
	    "%u.%03u s", s->timeout_ms / 1000, s->timeout_ms % 1000);
	return SYNC_FAIL;
}

/*
 * sync_run - send the request in s->out (id s->next_id) and wait for its
 * answer, once more on a new connection when the first one broke.
 */
static enum dict_status
sync_run(struct lookup_sync *s, struct buf *value, char *err, size_t errsz)
{
	uint64_t deadline = mono_ms() + s->timeout_ms;
	enum dict_status st = DICT_TEMPFAIL;

	for (int attempt = 0; attempt < 2; attempt++) {
		enum sync_outcome o;

		if (s->sock < 0) {
			s->sock = ipc_unix_connect(s->path, false);
			if (s->sock < 0) {
				snprintf(err, errsz, "cannot connect to the "
				    "lookup process (%s): %s", s->path,
				    strerror(errno));
				return DICT_TEMPFAIL;
			}
			ipc_conn_init_max(&s->ipc, s->sock,
			    LOOKUP_REPLY_MAX_BYTES);
		}
		o = sync_once(s, s->next_id, deadline, &st, value, err, errsz);
		if (o == SYNC_DONE) {
			if (st != DICT_FOUND)
				buf_reset(value);
			return st;
		}
		sync_close(s);
		if (o == SYNC_FAIL)
			return DICT_TEMPFAIL;
		snprintf(err, errsz, "the lookup process closed the "
		    "connection before it answered");
	}
	return DICT_TEMPFAIL;
}

/* sync_next - a new id, and s->out emptied for its frame. */
static void
sync_next(struct lookup_sync *s)
{
	if (++s->next_id == 0)
		s->next_id = 1;
	buf_reset(&s->out);
}

enum dict_status
lookup_sync_get(struct lookup_sync *s, const char *table, const char *key,
    unsigned flags, struct buf *value, char *err, size_t errsz)
{
	int verdict;

	buf_reset(value);
	err[0] = '\0';
	verdict = check_request(table, key, flags, err, errsz);
	if (verdict != -2)
		return (enum dict_status)verdict;
	sync_next(s);
	if (lookup_proto_put_get(&s->out, s->next_id, flags, table, key) < 0) {
		snprintf(err, errsz, "cannot encode the lookup request");
		return DICT_TEMPFAIL;
	}
	return sync_run(s, value, err, errsz);
}

enum dict_status
lookup_sync_find(struct lookup_sync *s, const char *tables, const char *key,
    enum lookup_find_order order, unsigned mflags, const char *delimiters,
    unsigned flags, struct buf *value, char *err, size_t errsz)
{
	int verdict;

	buf_reset(value);
	err[0] = '\0';
	if (delimiters == NULL || order != LOOKUP_FIND_ADDRESS)
		delimiters = "";
	verdict = check_find(tables, key, (uint32_t)order, mflags, delimiters,
	    flags, err, errsz);
	if (verdict != -2)
		return (enum dict_status)verdict;
	mflags = lookup_find_mflags_for(order, mflags);
	sync_next(s);
	if (lookup_proto_put_find(&s->out, s->next_id, flags, order, mflags,
	    tables, key, delimiters) < 0) {
		snprintf(err, errsz, "cannot encode the lookup request");
		return DICT_TEMPFAIL;
	}
	return sync_run(s, value, err, errsz);
}

enum dict_status
lookup_sync_route(struct lookup_sync *s, const char *service,
    enum lookup_route_op op, const char *address, unsigned flags,
    struct buf *value, char *err, size_t errsz)
{
	enum dict_status st;
	int verdict;

	buf_reset(value);
	err[0] = '\0';
	if (service == NULL)
		service = "";
	verdict = check_route(service, (uint32_t)op, address, flags, err,
	    errsz);
	if (verdict != -2)
		return (enum dict_status)verdict;
	sync_next(s);
	if (lookup_proto_put_route(&s->out, s->next_id, flags, op, service,
	    address) < 0) {
		snprintf(err, errsz, "cannot encode the lookup request");
		return DICT_TEMPFAIL;
	}
	st = sync_run(s, value, err, errsz);
	if (st == DICT_NOTFOUND) {
		snprintf(err, errsz, "%s", route_notfound);
		st = DICT_TEMPFAIL;
	}
	return st;
}

void
lookup_sync_free(struct lookup_sync **sp)
{
	struct lookup_sync *s = *sp;

	if (s == NULL)
		return;
	sync_close(s);
	buf_deinit(&s->out);
	free(s->path);
	free(s);
	*sp = NULL;
}

enum dict_status
lookup_query(const char *socket_path, const char *table, const char *key,
    unsigned flags, unsigned timeout_ms, struct buf *value, char *err,
    size_t errsz)
{
	struct lookup_sync *s = lookup_sync_new(socket_path, timeout_ms);
	enum dict_status st = lookup_sync_get(s, table, key, flags, value,
	    err, errsz);

	lookup_sync_free(&s);
	return st;
}

/* ---------------------------------------------------------------- */
/* ROUTE answers                                                    */

static const char *const class_words[] = {
	[ROUTE_LOCAL] = "local",
	[ROUTE_ALIAS] = "alias",
	[ROUTE_VIRTUAL] = "virtual",
	[ROUTE_RELAY] = "relay",
	[ROUTE_DEFAULT] = "default",
};

static const struct {
	unsigned bit;
	const char *word;
} flag_words[] = {
	{ ROUTE_F_ROUTED, "routed" },
	{ ROUTE_F_POSTMASTER, "postmaster" },
	{ ROUTE_F_LITERAL, "literal" },
	{ ROUTE_F_RELAYHOST, "relayhost" },
	{ ROUTE_F_DEFAULT_TRANSPORT, "default-transport" },
};

#define ALL_ROUTE_FLAGS (ROUTE_F_ROUTED | ROUTE_F_POSTMASTER | \
    ROUTE_F_LITERAL | ROUTE_F_RELAYHOST | ROUTE_F_DEFAULT_TRANSPORT)

char *
lookup_route_mapped(enum dict_status st, const char *text, size_t len,
    size_t max)
{
	struct lookup_route_answer ans;
	char *out = NULL;

	if (st != DICT_FOUND || lookup_route_answer_parse(text, len, &ans) < 0)
		return NULL;
	if (ans.address[0] != '\0' && strlen(ans.address) <= max &&
	    strpbrk(ans.address, "\r\n") == NULL)
		out = xstrdup(ans.address);
	lookup_route_answer_deinit(&ans);
	return out;
}

void
lookup_route_answer_deinit(struct lookup_route_answer *a)
{
	free(a->address);
	free(a->transport);
	free(a->nexthop);
	free(a->dsn);
	free(a->text);
	strv_free(&a->rcpts);
	memset(a, 0, sizeof(*a));
}

/* dup_value - a copy of value[0..len) when it is at most max bytes. */
static int
dup_value(char **dst, const char *value, size_t len, size_t max)
{
	if (*dst != NULL || len > max)
		return -1;	/* a second line, or too long */
	*dst = xmalloc(len + 1);
	memcpy(*dst, value, len);
	(*dst)[len] = '\0';
	return 0;
}

static int
parse_flags(const char *v, size_t len, unsigned *flags_r)
{
	unsigned flags = 0;
	size_t i = 0;

	while (i < len) {
		size_t j = i, k;

		while (j < len && v[j] != ',')
			j++;
		for (k = 0; k < N_ELEMENTS(flag_words); k++)
			if (strlen(flag_words[k].word) == j - i &&
			    memcmp(flag_words[k].word, v + i, j - i) == 0)
				break;
		if (k == N_ELEMENTS(flag_words))
			return -1;	/* unknown, or an empty word */
		flags |= flag_words[k].bit;
		i = j + 1;
		if (j + 1 == len)
			return -1;	/* a trailing comma */
	}
	*flags_r = flags;
	return 0;
}

/* dsn_ok - an RFC 3463 status code: class "." subject "." detail. */
static bool
dsn_ok(const char *v, size_t len)
{
	size_t i = 2, part;

	if (len < 5 || (v[0] != '2' && v[0] != '4' && v[0] != '5') ||
	    v[1] != '.')
		return false;
	for (int k = 0; k < 2; k++) {
		for (part = 0; i < len && v[i] >= '0' && v[i] <= '9'; i++)
			part++;
		if (part < 1 || part > 3)
			return false;
		if (k == 0) {
			if (i >= len || v[i] != '.')
				return false;
			i++;
		}
	}
	return i == len;
}

/* name_is - the line's name is exactly word. */
static bool
name_is(const char *name, size_t nlen, const char *word)
{
	return strlen(word) == nlen && memcmp(name, word, nlen) == 0;
}

int
lookup_route_answer_parse(const char *text, size_t len,
    struct lookup_route_answer *a)
{
	struct strv rcpts;
	bool have_class = false, have_flags = false;
	size_t off = 0;

	memset(a, 0, sizeof(*a));
	if (len > DICT_VALUE_MAX_BYTES || memchr(text, '\0', len) != NULL)
		return -1;
	strv_init(&rcpts);
	while (off < len) {
		const char *line = text + off;
		const char *nl = memchr(line, '\n', len - off);
		const char *eq, *v;
		size_t llen, nlen, vlen;

		if (nl == NULL)
			goto bad;	/* the last line has no newline */
		llen = (size_t)(nl - line);
		off += llen + 1;
		eq = memchr(line, '=', llen);
		if (eq == NULL || eq == line)
			goto bad;
		nlen = (size_t)(eq - line);
		for (size_t i = 0; i < nlen; i++)
			if (!((line[i] >= 'a' && line[i] <= 'z') ||
			    (line[i] >= '0' && line[i] <= '9') ||
			    line[i] == '_'))
				goto bad;
		v = eq + 1;
		vlen = llen - nlen - 1;
		if (memchr(v, '\r', vlen) != NULL)
			goto bad;
		if (name_is(line, nlen, "class")) {
			size_t k;

			if (have_class)
				goto bad;
			for (k = 0; k < N_ELEMENTS(class_words); k++)
				if (strlen(class_words[k]) == vlen &&
				    memcmp(class_words[k], v, vlen) == 0)
					break;
			if (k == N_ELEMENTS(class_words))
				goto bad;
			a->cls = (enum route_class)k;
			have_class = true;
		} else if (name_is(line, nlen, "flags")) {
			if (have_flags || parse_flags(v, vlen, &a->flags) < 0)
				goto bad;
			have_flags = true;
		} else if (name_is(line, nlen, "address")) {
			if (dup_value(&a->address, v, vlen,
			    ROUTE_ADDRESS_MAX_BYTES) < 0)
				goto bad;
		} else if (name_is(line, nlen, "transport")) {
			if (dup_value(&a->transport, v, vlen,
			    LOOKUP_ROUTE_TRANSPORT_MAX_BYTES) < 0)
				goto bad;
		} else if (name_is(line, nlen, "nexthop")) {
			if (dup_value(&a->nexthop, v, vlen,
			    ROUTE_ADDRESS_MAX_BYTES) < 0)
				goto bad;
		} else if (name_is(line, nlen, "listed")) {
			if (a->has_listed)
				goto bad;
			if (vlen == 3 && memcmp(v, "yes", 3) == 0)
				a->listed = true;
			else if (vlen == 2 && memcmp(v, "no", 2) == 0)
				a->listed = false;
			else
				goto bad;
			a->has_listed = true;
		} else if (name_is(line, nlen, "code")) {
			if (a->code != 0 || vlen != 3 || v[0] < '4' ||
			    v[0] > '5' || v[1] < '0' || v[1] > '9' ||
			    v[2] < '0' || v[2] > '9')
				goto bad;
			a->code = (v[0] - '0') * 100 + (v[1] - '0') * 10 +
			    (v[2] - '0');
		} else if (name_is(line, nlen, "dsn")) {
			if (!dsn_ok(v, vlen) || dup_value(&a->dsn, v, vlen,
			    LOOKUP_ROUTE_DSN_MAX_BYTES) < 0)
				goto bad;
		} else if (name_is(line, nlen, "text")) {
			if (dup_value(&a->text, v, vlen,
			    LOOKUP_ROUTE_TEXT_MAX_BYTES) < 0)
				goto bad;
		} else if (name_is(line, nlen, "rcpt")) {
			if (vlen > ROUTE_ADDRESS_MAX_BYTES)
				goto bad;
			strv_addn(&rcpts, v, vlen);
		}
		/* Any other name: a newer lookup process; ignored. */
	}
	if (!have_class)
		goto bad;
	if (a->address == NULL)
		a->address = xstrdup("");
	if (a->transport == NULL)
		a->transport = xstrdup("");
	if (a->nexthop == NULL)
		a->nexthop = xstrdup("");
	if (a->dsn == NULL)
		a->dsn = xstrdup("");
	if (a->text == NULL)
		a->text = xstrdup("");
	if (rcpts.n > 0)
		a->rcpts = strv_steal(&rcpts);
	strv_deinit(&rcpts);
	return 0;
bad:
	strv_deinit(&rcpts);
	lookup_route_answer_deinit(a);
	return -1;
}

/* put_line - "name=value\n", value checked. */
static int
put_line(struct buf *out, const char *name, const char *value, size_t max,
    const char **error_r)
{
	if (value == NULL)
		value = "";
	if (strlen(value) > max) {
		*error_r = "a value is too long for a route answer";
		return -1;
	}
	if (strpbrk(value, "\r\n") != NULL) {
		*error_r = "a value holds a line break";
		return -1;
	}
	if (buf_append_str(out, name) < 0 || buf_append_c(out, '=') < 0 ||
	    buf_append_str(out, value) < 0 || buf_append_c(out, '\n') < 0) {
		*error_r = "the route answer is too long for a reply";
		return -1;
	}
	return 0;
}

int
lookup_route_answer_format(const struct lookup_route_answer *a,
    struct buf *out, const char **error_r)
{
	size_t old = out->len;
	char flags[64] = "", code[16];
	size_t fl = 0;

	if ((size_t)a->cls >= N_ELEMENTS(class_words)) {
		*error_r = "unknown address class";
		return -1;
	}
	if ((a->flags & ~(unsigned)ALL_ROUTE_FLAGS) != 0) {
		*error_r = "a route flag without a name";
		return -1;
	}
	for (size_t k = 0; k < N_ELEMENTS(flag_words); k++)
		if (a->flags & flag_words[k].bit) {
			int n = snprintf(flags + fl, sizeof(flags) - fl,
			    "%s%s", fl > 0 ? "," : "", flag_words[k].word);

			if (n > 0)
				fl += (size_t)n;
		}
	if (put_line(out, "class", class_words[a->cls], 16, error_r) < 0 ||
	    put_line(out, "flags", flags, sizeof(flags), error_r) < 0 ||
	    put_line(out, "address", a->address, ROUTE_ADDRESS_MAX_BYTES,
	    error_r) < 0 ||
	    put_line(out, "transport", a->transport,
	    LOOKUP_ROUTE_TRANSPORT_MAX_BYTES, error_r) < 0 ||
	    put_line(out, "nexthop", a->nexthop, ROUTE_ADDRESS_MAX_BYTES,
	    error_r) < 0)
		goto fail;
	if (a->has_listed) {
		if (put_line(out, "listed", a->listed ? "yes" : "no", 3,
		    error_r) < 0)
			goto fail;
		if (!a->listed) {
			if (a->code < 400 || a->code > 599) {
				*error_r = "a reject code outside 400..599";
				goto fail;
			}
			snprintf(code, sizeof(code), "%d", a->code);
			if (a->dsn != NULL && a->dsn[0] != '\0' &&
			    !dsn_ok(a->dsn, strlen(a->dsn))) {
				*error_r = "an enhanced status code not of the "
				    "form X.Y.Z";
				goto fail;
			}
			if (put_line(out, "code", code, 3, error_r) < 0 ||
			    (a->dsn != NULL && a->dsn[0] != '\0' &&
			    put_line(out, "dsn", a->dsn,
			    LOOKUP_ROUTE_DSN_MAX_BYTES, error_r) < 0) ||
			    put_line(out, "text", a->text,
			    LOOKUP_ROUTE_TEXT_MAX_BYTES, error_r) < 0)
				goto fail;
		}
	}
	for (size_t i = 0; a->rcpts != NULL && a->rcpts[i] != NULL; i++) {
		if (put_line(out, "rcpt", a->rcpts[i], ROUTE_ADDRESS_MAX_BYTES,
		    error_r) < 0)
			goto fail;
	}
	return 0;
fail:
	out->len = old;
	if (out->data != NULL)
		out->data[old] = '\0';
	return -1;
}
