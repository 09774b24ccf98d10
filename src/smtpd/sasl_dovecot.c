/* SPDX-License-Identifier: MIT */
/*
 * sasl_dovecot - smtpd's client of Dovecot's auth service; see
 * sasl_dovecot.h for the protocol and the contract.
 *
 * Runs in smtpd as mail_owner.  Dovecot's lines are untrusted input
 * (STYLE.md 1.3): bounded, checked field by field, and anything that
 * does not fit the state ends the connection with TEMPFAIL for every
 * request on it.
 *
 * Structure: every live request is on d->reqs.  Internal code only
 * changes states and puts answers on d->ready; callbacks run from one
 * place, on_deliver(), fired by event_active(), so no callback ever
 * runs inside an API call or in the middle of a state change, and a
 * callback may call anything (start, respond, cancel, free).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "buf.h"
#include "endpoint.h"
#include "log.h"
#include "sasl_dovecot.h"
#include "sasl_dovecot_text.h"
#include "xalloc.h"

#define READ_CHUNK 4096
#define MECHS_MAX 64
#define HANDSHAKE_LINES_MAX 1024
#define ERR_MAX 256

enum conn_state {
	CS_IDLE,	/* no connection */
	CS_CONNECTING,	/* TCP connect in progress */
	CS_HANDSHAKE,	/* connected, waiting for DONE */
	CS_READY,
};

enum req_state {
	RS_QUEUED,	/* waiting for the handshake; nothing sent */
	RS_WAITING,	/* AUTH or CONT sent, answer due by deadline */
	RS_CHALLENGED,	/* CONT received; waiting for respond() */
	RS_LOST,	/* challenged, then the connection was lost */
	RS_DONE,	/* final answer on d->ready */
};

struct mech {
	char name[SDV_MECH_NAME_MAX + 1];
	unsigned flags;
};

struct sasl_dovecot_req {
	struct sasl_dovecot *d;
	TAILQ_ENTRY(sasl_dovecot_req) link;	/* d->reqs */
	TAILQ_ENTRY(sasl_dovecot_req) rlink;	/* d->ready, when on_ready */
	bool on_ready;
	bool probe;		/* sasl_dovecot_wait() */
	enum req_state state;
	uint32_t id;		/* 0 until sent */
	uint64_t conn_gen;	/* connection the id belongs to */
	uint64_t deadline_ms;
	char *mech;		/* as given, upper-cased */
	char *params;		/* "\tservice=smtp..." (no secrets) */
	char *initial;		/* base64 initial response (secret) or NULL */
	sasl_dovecot_cb *cb;
	void *ctx;
	/* The answer to deliver. */
	enum sasl_step step;
	char *data;
	char *user;
};

struct sasl_dovecot {
	struct event_base *base;
	char *path;		/* as configured, for logs */
	struct endpoint ep;	/* where to connect */
	unsigned handshake_ms, reply_ms, backoff_min_ms, backoff_max_ms;

	enum conn_state state;
	int sock;
	struct event *rev, *wev;
	struct event *conn_timer, *req_timer, *deliver_ev;
	struct endpoint_addrs addrs;	/* inet: addresses still to try */
	struct buf in, out;
	size_t out_off;
	uint32_t next_id;
	uint64_t conn_gen;
	bool version_seen;
	unsigned hs_lines;
	struct mech hs_mechs[MECHS_MAX];	/* handshake in progress */
	size_t n_hs_mechs;

	struct mech mechs[MECHS_MAX];	/* from the last complete handshake */
	size_t n_mechs;
	bool have_mechs;
	struct buf mechs_text;

	uint64_t backoff_ms;	/* 0: no failure since the last handshake */
	uint64_t next_try_ms;	/* no attempt before this */
	char last_error[ERR_MAX];

	TAILQ_HEAD(, sasl_dovecot_req) reqs;	/* every live request */
	TAILQ_HEAD(, sasl_dovecot_req) ready;	/* answers to deliver */
	size_t live;		/* requests whose final callback is due */
	unsigned depth;		/* inside on_deliver */
	bool doomed;		/* freed from a callback */
};

/* ---------------------------------------------------------------- */
/* Small helpers                                                    */

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void
ms_to_tv(uint64_t ms, struct timeval *tv)
{
	tv->tv_sec = (time_t)(ms / 1000);
	tv->tv_usec = (suseconds_t)(ms % 1000) * 1000;
}

static void
free_secret(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

/* ---------------------------------------------------------------- */
/* Request lists and delivery                                       */

/* ready_remove - r is no longer due for delivery (if it was). */
static void
ready_remove(struct sasl_dovecot *d, struct sasl_dovecot_req *r)
{
	if (!r->on_ready)
		return;
	TAILQ_REMOVE(&d->ready, r, rlink);
	r->on_ready = false;
}

/* ready_push - deliver r's answer from the loop, after those due. */
static void
ready_push(struct sasl_dovecot *d, struct sasl_dovecot_req *r)
{
	ready_remove(d, r);
	TAILQ_INSERT_TAIL(&d->ready, r, rlink);
	r->on_ready = true;
	event_active(d->deliver_ev, EV_TIMEOUT, 0);
}

static void
req_free(struct sasl_dovecot_req *r)
{
	free(r->mech);
	free(r->params);
	free_secret(r->initial);
	free(r->data);
	free(r->user);
	free(r);
}

/*
 * answer - give r its answer (delivered from the loop).  Final steps
 * make r DONE; CONTINUE makes it CHALLENGED.  data/user are copied
 * (NULL allowed).
 */
static void
answer(struct sasl_dovecot *d, struct sasl_dovecot_req *r,
    enum sasl_step step, const char *data, const char *user)
{
	free(r->data);
	free(r->user);
	r->step = step;
	r->data = data != NULL ? xstrdup(data) : NULL;
	r->user = user != NULL ? xstrdup(user) : NULL;
	r->state = step == SASL_STEP_CONTINUE ? RS_CHALLENGED : RS_DONE;
	free_secret(r->initial);
	r->initial = NULL;
	ready_push(d, r);
}

static void destroy(struct sasl_dovecot *d);

static void
on_deliver(evutil_socket_t fd, short what, void *arg)
{
	struct sasl_dovecot *d = arg;
	struct sasl_dovecot_req *r;

	d->depth++;
	while (!d->doomed && (r = TAILQ_FIRST(&d->ready)) != NULL) {
		enum sasl_step step = r->step;
		char *data = r->data, *user = r->user;

		ready_remove(d, r);
		r->data = r->user = NULL;
		if (step != SASL_STEP_CONTINUE) {
			TAILQ_REMOVE(&d->reqs, r, link);
			d->live--;
			r->cb(r->ctx, step, data, user);
			req_free(r);
		} else {
			/* r may be cancelled (freed) by the callback. */
			r->cb(r->ctx, step, data, user);
		}
		free_secret(data);
		free(user);
	}
	d->depth--;
	if (d->doomed && d->depth == 0)
		destroy(d);
}

/* ---------------------------------------------------------------- */
/* Connection                                                       */

static void on_read(evutil_socket_t fd, short what, void *arg);
static void on_write(evutil_socket_t fd, short what, void *arg);
static void start_attempt(struct sasl_dovecot *d);
static void send_queued(struct sasl_dovecot *d);

static void
arm_req_timer(struct sasl_dovecot *d)
{
	struct sasl_dovecot_req *r;
	uint64_t first = UINT64_MAX, now = mono_ms();
	struct timeval tv;

	TAILQ_FOREACH(r, &d->reqs, link)
		if (r->state == RS_WAITING && r->deadline_ms < first)
			first = r->deadline_ms;
	if (first == UINT64_MAX) {
		evtimer_del(d->req_timer);
		return;
	}
	ms_to_tv(first > now ? first - now : 0, &tv);
	evtimer_add(d->req_timer, &tv);
}

static void
conn_drop_socket(struct sasl_dovecot *d)
{
	if (d->rev != NULL) {
		event_free(d->rev);
		d->rev = NULL;
	}
	if (d->wev != NULL) {
		event_free(d->wev);
		d->wev = NULL;
	}
	if (d->sock >= 0) {
		close(d->sock);
		d->sock = -1;
	}
	buf_reset(&d->in);
	buf_reset(&d->out);
	d->out_off = 0;
}

/*
 * conn_close - end the connection.  Every request that was waiting on
 * it or for it gets TEMPFAIL with why; challenged ones become LOST (their
 * respond() gets the TEMPFAIL).  failure: the attempt or the connection
 * failed (back off before the next one); otherwise the next request may
 * connect at once.
 */
static void
conn_close(struct sasl_dovecot *d, const char *why, bool failure)
{
	struct sasl_dovecot_req *r;
	uint64_t now = mono_ms();

	conn_drop_socket(d);
	endpoint_addrs_free(&d->addrs);
	evtimer_del(d->conn_timer);
	d->state = CS_IDLE;
	d->conn_gen++;
	snprintf(d->last_error, sizeof(d->last_error), "%s", why);
	if (failure) {
		d->backoff_ms = d->backoff_ms == 0 ? d->backoff_min_ms :
		    d->backoff_ms * 2;
		if (d->backoff_ms > d->backoff_max_ms)
			d->backoff_ms = d->backoff_max_ms;
		d->next_try_ms = now + d->backoff_ms;
	} else
		d->next_try_ms = now;
	TAILQ_FOREACH(r, &d->reqs, link) {
		switch (r->state) {
		case RS_QUEUED:
		case RS_WAITING:
			answer(d, r, SASL_STEP_TEMPFAIL, why, NULL);
			break;
		case RS_CHALLENGED:
			r->state = RS_LOST;
			break;
		case RS_LOST:
		case RS_DONE:
			break;
		}
	}
	arm_req_timer(d);
}

/* conn_fail - a protocol or transport failure: log, close, back off. */
static void
conn_fail(struct sasl_dovecot *d, const char *fmt, ...) ATTR_FORMAT(2, 3);

static void
conn_fail(struct sasl_dovecot *d, const char *fmt, ...)
{
	char why[ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_warning("SASL: Dovecot auth %s: %s", d->path, why);
	conn_close(d, why, true);
}

/* flush - write what the socket takes; -1 when the connection broke. */
static int
flush(struct sasl_dovecot *d)
{
	int r = buf_send(&d->out, &d->out_off, d->sock);

	if (r < 0)
		return -1;
	if (r == 1)
		event_del(d->wev);
	else
		event_add(d->wev, NULL);
	return 0;
}

/* send_flush - flush, failing the connection when it broke.  -1 then. */
static int
send_flush(struct sasl_dovecot *d)
{
	char why[ERR_MAX];

	if (d->state == CS_CONNECTING)
		return 0;	/* written when the connect completes */
	if (flush(d) < 0) {
		if (d->state != CS_READY) {
			conn_fail(d, "lost the connection: %s",
			    strerror(errno));
			return -1;
		}
		/* Dovecot went away (as when reading EOF): the next
		 * request connects again without waiting. */
		snprintf(why, sizeof(why), "lost the connection to Dovecot "
		    "auth: %s", strerror(errno));
		log_warning("SASL: Dovecot auth %s: %s", d->path, why);
		conn_close(d, why, false);
		return -1;
	}
	return 0;
}

/*
 * still_there - before a new request goes on a ready connection: has
 * Dovecot closed it without our loop having noticed yet (it restarted
 * while we were busy)?  Then close it now, so the request waits for a
 * new connection instead of failing on the dead one.
 */
static void
still_there(struct sasl_dovecot *d)
{
	char c;
	ssize_t n;

	if (d->state != CS_READY)
		return;
	n = recv(d->sock, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
	    errno != EINTR)) {
		log_debug(1, "SASL: Dovecot auth %s: connection closed",
		    d->path);
		conn_close(d, "lost the connection to Dovecot auth", false);
	}
}

static void
on_conn_timer(evutil_socket_t fd, short what, void *arg)
{
	struct sasl_dovecot *d = arg;

	if (d->state == CS_CONNECTING)
		conn_fail(d, "connect timed out after %u ms", d->handshake_ms);
	else if (d->state == CS_HANDSHAKE)
		conn_fail(d, "no complete handshake within %u ms",
		    d->handshake_ms);
}

static void
on_req_timer(evutil_socket_t fd, short what, void *arg)
{
	struct sasl_dovecot *d = arg;
	struct sasl_dovecot_req *r;
	uint64_t now = mono_ms();
	char why[128];
	bool cancelled = false;

	snprintf(why, sizeof(why), "Dovecot auth did not answer within "
	    "%u ms", d->reply_ms);
	TAILQ_FOREACH(r, &d->reqs, link) {
		if (r->state != RS_WAITING || r->deadline_ms > now)
			continue;
		log_warning("SASL: Dovecot auth %s: no answer to request %u "
		    "within %u ms", d->path, r->id, d->reply_ms);
		/* Dovecot may still answer: the id is then ignored. */
		if (buf_appendf(&d->out, "CANCEL\t%u\n", r->id) == 0)
			cancelled = true;
		answer(d, r, SASL_STEP_TEMPFAIL, why, NULL);
	}
	if (cancelled && send_flush(d) < 0)
		return;
	arm_req_timer(d);
}

/* The client's half of the handshake, pipelined. */
static void
queue_hello(struct sasl_dovecot *d)
{
	(void)buf_appendf(&d->out, "VERSION\t1\t2\nCPID\t%ld\n",
	    (long)getpid());
}

static void
conn_established(struct sasl_dovecot *d)
{
	struct timeval tv;

	d->state = CS_HANDSHAKE;
	d->version_seen = false;
	d->hs_lines = 0;
	d->n_hs_mechs = 0;
	d->next_id = 1;
	if (d->rev == NULL) {
		d->rev = event_new(d->base, d->sock, EV_READ | EV_PERSIST,
		    on_read, d);
		event_add(d->rev, NULL);
	}
	if (d->wev == NULL)
		d->wev = event_new(d->base, d->sock, EV_WRITE | EV_PERSIST,
		    on_write, d);
	endpoint_addrs_free(&d->addrs);
	ms_to_tv(d->handshake_ms, &tv);
	evtimer_add(d->conn_timer, &tv);
	(void)send_flush(d);
}

/*
 * try_inet - connect to the next address of d->addrs: 1 connected, 0 in
 * progress (state CS_CONNECTING, on_write will tell), -1 when no
 * address is left (errno from the last).
 */
static int
try_inet(struct sasl_dovecot *d)
{
	int r = endpoint_inet_try(&d->addrs, &d->sock);

	if (r == 0) {
		d->state = CS_CONNECTING;
		d->wev = event_new(d->base, d->sock, EV_WRITE | EV_PERSIST,
		    on_write, d);
		event_add(d->wev, NULL);
	}
	return r;
}

/* start_attempt - connect now (state must be CS_IDLE). */
static void
start_attempt(struct sasl_dovecot *d)
{
	struct timeval tv;

	d->conn_gen++;
	if (d->ep.path != NULL) {
		d->sock = endpoint_unix_connect(d->ep.path);
		if (d->sock < 0) {
			conn_fail(d, "cannot connect: %s", strerror(errno));
			return;
		}
	} else {
		int r = endpoint_inet_resolve(&d->addrs, d->ep.host,
		    d->ep.port);

		if (r != 0) {
			conn_fail(d, "cannot look up %s: %s", d->ep.host,
			    gai_strerror(r));
			return;
		}
		if (try_inet(d) < 0) {
			conn_fail(d, "cannot connect: %s", strerror(errno));
			return;
		}
	}
	queue_hello(d);
	if (d->state == CS_CONNECTING) {
		/* The handshake timeout covers the connect too. */
		ms_to_tv(d->handshake_ms, &tv);
		evtimer_add(d->conn_timer, &tv);
		return;
	}
	conn_established(d);
}

/* wanted - make sure a connection is (being) made.  false when waiting
 * out a backoff: the caller fails its request. */
static bool
wanted(struct sasl_dovecot *d)
{
	if (d->state != CS_IDLE)
		return true;
	if (mono_ms() < d->next_try_ms)
		return false;
	start_attempt(d);
	/* A failed attempt already answered the queued requests. */
	return true;
}

/* ---------------------------------------------------------------- */
/* Requests                                                         */

static const struct mech *
find_mech(const struct mech *list, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(list[i].name, name) == 0)
			return &list[i];
	return NULL;
}

/* send_auth - put r's AUTH on the wire (connection READY). */
static void
send_auth(struct sasl_dovecot *d, struct sasl_dovecot_req *r)
{
	const struct mech *m = find_mech(d->mechs, d->n_mechs, r->mech);
	size_t before = d->out.len;
	int ok;

	if (m == NULL || (m->flags & SASL_MECH_PRIVATE) != 0) {
		answer(d, r, SASL_STEP_FAIL, "mechanism not offered", NULL);
		return;
	}
	if (d->next_id == UINT32_MAX ||
	    d->out.len > SASL_DOVECOT_OUT_MAX_BYTES) {
		answer(d, r, SASL_STEP_TEMPFAIL, d->next_id == UINT32_MAX ?
		    "request ids used up on this connection" :
		    "too many requests waiting for Dovecot auth", NULL);
		return;
	}
	r->id = d->next_id++;
	r->conn_gen = d->conn_gen;
	ok = buf_appendf(&d->out, "AUTH\t%u\t%s%s", r->id, m->name,
	    r->params);
	if (ok == 0 && r->initial != NULL)
		ok = buf_appendf(&d->out, "\tresp=%s", r->initial);
	if (ok == 0)
		ok = buf_append_c(&d->out, '\n');
	if (ok < 0 || d->out.len - before > SASL_DOVECOT_OUT_LINE_MAX) {
		/* Cannot happen with the limits checked in start(). */
		if (d->out.len > before) {
			explicit_bzero(d->out.data + before,
			    d->out.len - before);
			d->out.len = before;
		}
		answer(d, r, SASL_STEP_FAIL, "authentication data too long",
		    NULL);
		return;
	}
	free_secret(r->initial);
	r->initial = NULL;
	r->state = RS_WAITING;
	r->deadline_ms = mono_ms() + d->reply_ms;
}

/* send_queued - the handshake is complete: send what waited for it. */
static void
send_queued(struct sasl_dovecot *d)
{
	struct sasl_dovecot_req *r;

	TAILQ_FOREACH(r, &d->reqs, link) {
		if (r->state != RS_QUEUED)
			continue;
		if (r->probe)
			answer(d, r, SASL_STEP_OK,
			    sasl_dovecot_mechs(d, 0, 0), NULL);
		else
			send_auth(d, r);
	}
	if (send_flush(d) < 0)
		return;
	arm_req_timer(d);
}

static struct sasl_dovecot_req *
req_new(struct sasl_dovecot *d, sasl_dovecot_cb *cb, void *ctx)
{
	struct sasl_dovecot_req *r = xcalloc(1, sizeof(*r));

	r->d = d;
	r->cb = cb;
	r->ctx = ctx;
	r->state = RS_QUEUED;
	TAILQ_INSERT_TAIL(&d->reqs, r, link);
	d->live++;
	return r;
}

/* queue_or_fail - r waits for the handshake, or fails at once when a
 * backoff is running. */
static void
queue_or_fail(struct sasl_dovecot *d, struct sasl_dovecot_req *r)
{
	char why[ERR_MAX + 64];

	if (!wanted(d)) {
		uint64_t now = mono_ms();

		snprintf(why, sizeof(why), "Dovecot auth unavailable (%s); "
		    "next attempt in %llu ms", d->last_error,
		    (unsigned long long)(d->next_try_ms - now));
		answer(d, r, SASL_STEP_TEMPFAIL, why, NULL);
	}
}

struct sasl_dovecot_req *
sasl_dovecot_wait(struct sasl_dovecot *d, sasl_dovecot_cb *cb, void *ctx)
{
	struct sasl_dovecot_req *r;

	still_there(d);
	r = req_new(d, cb, ctx);
	r->probe = true;
	if (d->state == CS_READY)
		answer(d, r, SASL_STEP_OK, sasl_dovecot_mechs(d, 0, 0), NULL);
	else
		queue_or_fail(d, r);
	return r;
}

static char *
build_params(const struct sasl_client_info *info)
{
	struct buf b;

	buf_init(&b, 1024);
	(void)buf_append_str(&b, "\tservice=smtp");
	if (info != NULL) {
		if (info->secured)
			(void)buf_append_str(&b, "\tsecured");
		if (info->no_penalty)
			(void)buf_append_str(&b, "\tno-penalty");
		if (sdv_addr_ok(info->local_addr))
			(void)buf_appendf(&b, "\tlip=%s", info->local_addr);
		if (sdv_addr_ok(info->client_addr))
			(void)buf_appendf(&b, "\trip=%s", info->client_addr);
		if (info->local_port > 0 && info->local_port <= 65535)
			(void)buf_appendf(&b, "\tlport=%u", info->local_port);
		if (info->client_port > 0 && info->client_port <= 65535)
			(void)buf_appendf(&b, "\trport=%u",
			    info->client_port);
		if (info->session_id != NULL && sdv_session_ok(info->session_id))
			(void)buf_appendf(&b, "\tsession=%s",
			    info->session_id);
	}
	return buf_steal(&b);
}

struct sasl_dovecot_req *
sasl_dovecot_start(struct sasl_dovecot *d, const char *mech,
    const char *initial_b64, const struct sasl_client_info *info,
    sasl_dovecot_cb *cb, void *ctx, const char **error_r)
{
	struct sasl_dovecot_req *r;
	size_t mlen = mech != NULL ? strlen(mech) : 0;

	if (!sdv_mech_name_ok(mech, mlen)) {
		*error_r = "not a SASL mechanism name";
		return NULL;
	}
	if (initial_b64 != NULL && strcmp(initial_b64, "=") != 0) {
		size_t len = strlen(initial_b64);

		if (len > SASL_DOVECOT_RESP_MAX) {
			*error_r = "initial response too long";
			return NULL;
		}
		if (len == 0 || !sdv_b64_ok(initial_b64, len)) {
			*error_r = "malformed base64 in the initial response";
			return NULL;
		}
	}
	still_there(d);
	r = req_new(d, cb, ctx);
	r->mech = xstrdup(mech);
	for (char *p = r->mech; *p != '\0'; p++)
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 'a' + 'A');
	r->params = build_params(info);
	if (initial_b64 != NULL)
		r->initial = xstrdup(initial_b64);
	if (d->state == CS_READY) {
		send_auth(d, r);
		if (send_flush(d) == 0)
			arm_req_timer(d);
	} else
		queue_or_fail(d, r);
	return r;
}

/* Tell Dovecot to forget r (when it knows r on this connection). */
static void
send_cancel(struct sasl_dovecot *d, struct sasl_dovecot_req *r)
{
	if (d->state != CS_READY || r->conn_gen != d->conn_gen ||
	    (r->state != RS_WAITING && r->state != RS_CHALLENGED))
		return;
	if (buf_appendf(&d->out, "CANCEL\t%u\n", r->id) == 0)
		(void)send_flush(d);
}

void
sasl_dovecot_cancel(struct sasl_dovecot_req *r)
{
	struct sasl_dovecot *d;

	if (r == NULL)
		return;
	d = r->d;
	ready_remove(d, r);
	TAILQ_REMOVE(&d->reqs, r, link);
	d->live--;
	/* Unlinked first: a broken connection here fails only others. */
	send_cancel(d, r);
	req_free(r);
	if (d->state == CS_READY)
		arm_req_timer(d);
}

int
sasl_dovecot_respond(struct sasl_dovecot_req *r, const char *resp_b64,
    const char **error_r)
{
	struct sasl_dovecot *d = r->d;
	size_t len = resp_b64 != NULL ? strlen(resp_b64) : 0;

	if (r->state != RS_CHALLENGED && r->state != RS_LOST)
		log_panic("sasl_dovecot_respond: request %u is not waiting "
		    "for a response", r->id);
	if (resp_b64 == NULL || len > SASL_DOVECOT_RESP_MAX ||
	    !sdv_b64_ok(resp_b64, len)) {
		*error_r = len > SASL_DOVECOT_RESP_MAX ? "response too long" :
		    "malformed base64 in the response";
		sasl_dovecot_cancel(r);
		return -1;
	}
	if (r->state == RS_LOST || r->conn_gen != d->conn_gen ||
	    d->state != CS_READY) {
		answer(d, r, SASL_STEP_TEMPFAIL, "lost the connection to "
		    "Dovecot auth during the exchange", NULL);
		return 0;
	}
	/* buf_appendf() appends all or nothing. */
	if (d->out.len > SASL_DOVECOT_OUT_MAX_BYTES ||
	    buf_appendf(&d->out, "CONT\t%u\t%s\n", r->id, resp_b64) < 0) {
		answer(d, r, SASL_STEP_TEMPFAIL, "too many requests waiting "
		    "for Dovecot auth", NULL);
		return 0;
	}
	r->state = RS_WAITING;
	r->deadline_ms = mono_ms() + d->reply_ms;
	if (send_flush(d) == 0)
		arm_req_timer(d);
	return 0;
}

/* ---------------------------------------------------------------- */
/* Input                                                            */

static const char *
cmd_word(const char *line, size_t len, char *out, size_t outsz)
{
	const char *tab = memchr(line, '\t', len);

	return log_escape(out, outsz, line, tab != NULL ?
	    (size_t)(tab - line) : len, 16);
}

static void
handle_mech(struct sasl_dovecot *d, const char *args, size_t len)
{
	struct sdv_fields it = { args, args + len };
	const char *f;
	size_t flen;
	struct mech *m;
	char esc[64];

	if (!sdv_fields_next(&it, &f, &flen) || !sdv_mech_name_ok(f, flen)) {
		log_warning("SASL: Dovecot auth %s: ignoring a mechanism "
		    "with an unusable name \"%s\"", d->path,
		    log_escape(esc, sizeof(esc), args, len, 40));
		return;
	}
	if (d->n_hs_mechs >= MECHS_MAX) {
		log_warning("SASL: Dovecot auth %s: more than %d mechanisms;"
		    " ignoring the rest", d->path, MECHS_MAX);
		return;
	}
	m = &d->hs_mechs[d->n_hs_mechs++];
	memcpy(m->name, f, flen);
	m->name[flen] = '\0';
	m->flags = 0;
	while (sdv_fields_next(&it, &f, &flen)) {
		if (sdv_field_is(f, flen, "anonymous"))
			m->flags |= SASL_MECH_ANONYMOUS;
		else if (sdv_field_is(f, flen, "plaintext"))
			m->flags |= SASL_MECH_PLAINTEXT;
		else if (sdv_field_is(f, flen, "dictionary"))
			m->flags |= SASL_MECH_DICTIONARY;
		else if (sdv_field_is(f, flen, "active"))
			m->flags |= SASL_MECH_ACTIVE;
		else if (sdv_field_is(f, flen, "forward-secrecy"))
			m->flags |= SASL_MECH_FORWARD_SECRECY;
		else if (sdv_field_is(f, flen, "mutual-auth"))
			m->flags |= SASL_MECH_MUTUAL_AUTH;
		else if (sdv_field_is(f, flen, "private"))
			m->flags |= SASL_MECH_PRIVATE;
	}
}

/* handshake_line - one line before DONE; -1 when the connection ended. */
static int
handshake_line(struct sasl_dovecot *d, const char *line, size_t len)
{
	const char *tab = memchr(line, '\t', len);
	size_t clen = tab != NULL ? (size_t)(tab - line) : len;
	const char *args = tab != NULL ? tab + 1 : line + len;
	size_t alen = len - (size_t)(args - line);
	char esc[64];

	if (++d->hs_lines > HANDSHAKE_LINES_MAX) {
		conn_fail(d, "handshake longer than %d lines",
		    HANDSHAKE_LINES_MAX);
		return -1;
	}
	if (!d->version_seen) {
		if (!sdv_field_is(line, clen, "VERSION")) {
			conn_fail(d, "handshake does not start with VERSION "
			    "(\"%s\")", cmd_word(line, len, esc, sizeof(esc)));
			return -1;
		}
		if (alen < 2 || args[0] != '1' || args[1] != '\t') {
			conn_fail(d, "unsupported protocol version \"%s\" "
			    "(1.x needed)", log_escape(esc, sizeof(esc), args,
			    alen, 16));
			return -1;
		}
		d->version_seen = true;
		return 0;
	}
	if (sdv_field_is(line, clen, "MECH")) {
		handle_mech(d, args, alen);
		return 0;
	}
	if (sdv_field_is(line, clen, "DONE")) {
		/* The handshake is complete. */
		evtimer_del(d->conn_timer);
		memcpy(d->mechs, d->hs_mechs, sizeof(d->mechs));
		d->n_mechs = d->n_hs_mechs;
		d->have_mechs = true;
		d->state = CS_READY;
		d->backoff_ms = 0;
		d->last_error[0] = '\0';
		log_debug(1, "SASL: connected to Dovecot auth %s; mechanisms: "
		    "%s", d->path, sasl_dovecot_mechs(d, 0, 0));
		send_queued(d);
		return d->state == CS_READY ? 0 : -1;
	}
	/* SPID, CUID, COOKIE (not needed: we never log users in through
	 * Dovecot's master), and anything newer versions add. */
	return 0;
}

static struct sasl_dovecot_req *
find_req(struct sasl_dovecot *d, uint32_t id)
{
	struct sasl_dovecot_req *r;

	TAILQ_FOREACH(r, &d->reqs, link)
		if (r->id == id && r->conn_gen == d->conn_gen &&
		    (r->state == RS_WAITING || r->state == RS_CHALLENGED))
			return r;
	return NULL;
}

/* reply_ok - OK <id> [fields]: the user name is in user=. */
static void
reply_ok(struct sasl_dovecot *d, struct sasl_dovecot_req *r,
    struct sdv_fields *it)
{
	const char *f, *v;
	size_t flen, vlen, ulen;
	char *user = NULL;
	char esc[128];

	while (sdv_fields_next(it, &f, &flen)) {
		if ((v = sdv_field_value(f, flen, "user", &vlen)) != NULL) {
			free(user);
			user = sdv_tab_unescape(v, vlen, &ulen);
		}
	}
	if (user == NULL) {
		log_error("SASL: Dovecot auth %s: OK for request %u names no "
		    "user", d->path, r->id);
		answer(d, r, SASL_STEP_TEMPFAIL, "Dovecot auth accepted the "
		    "credentials but named no user", NULL);
		return;
	}
	if (!sdv_user_ok(user, ulen)) {
		log_error("SASL: Dovecot auth %s: OK for request %u names an "
		    "unusable user \"%s\"", d->path, r->id,
		    log_escape(esc, sizeof(esc), user, ulen, 64));
		answer(d, r, SASL_STEP_TEMPFAIL, "Dovecot auth accepted the "
		    "credentials but named an unusable user", NULL);
		free(user);
		return;
	}
	answer(d, r, SASL_STEP_OK, user, user);
	free(user);
}

/* reply_fail - FAIL <id> [user=] [reason=] [temp|code=...] ... */
static void
reply_fail(struct sasl_dovecot *d, struct sasl_dovecot_req *r,
    struct sdv_fields *it)
{
	const char *f, *v;
	size_t flen, vlen, ulen, rlen;
	char *user = NULL, *reason = NULL, *raw;
	bool temp = false;

	while (sdv_fields_next(it, &f, &flen)) {
		if ((v = sdv_field_value(f, flen, "user", &vlen)) != NULL) {
			free(user);
			user = sdv_tab_unescape(v, vlen, &ulen);
		} else if ((v = sdv_field_value(f, flen, "reason", &vlen)) !=
		    NULL) {
			free(reason);
			raw = sdv_tab_unescape(v, vlen, &rlen);
			reason = sdv_reason_clean(raw, rlen);
			free(raw);
		} else if (sdv_field_is(f, flen, "temp") ||
		    sdv_field_is(f, flen, "code=temp_fail"))
			temp = true;
	}
	if (temp)
		answer(d, r, SASL_STEP_TEMPFAIL, reason != NULL &&
		    reason[0] != '\0' ? reason : "Dovecot auth failed "
		    "temporarily", user);
	else
		answer(d, r, SASL_STEP_FAIL, reason, user);
	free(user);
	free(reason);
}

/* reply_line - one line after DONE; -1 when the connection ended. */
static int
reply_line(struct sasl_dovecot *d, const char *line, size_t len)
{
	struct sdv_fields it = { line, line + len };
	const char *cmd = line, *idf;
	size_t clen = 0, idlen;
	uint32_t id;
	struct sasl_dovecot_req *r;
	char esc[64];

	(void)sdv_fields_next(&it, &cmd, &clen);
	if (!sdv_field_is(cmd, clen, "OK") && !sdv_field_is(cmd, clen, "FAIL") &&
	    !sdv_field_is(cmd, clen, "CONT") && !sdv_field_is(cmd, clen,
	    "CANCELLED")) {
		conn_fail(d, "unexpected command \"%s\"",
		    cmd_word(line, len, esc, sizeof(esc)));
		return -1;
	}
	if (!sdv_fields_next(&it, &idf, &idlen) || !sdv_parse_id(idf, idlen, &id)) {
		conn_fail(d, "%s without a valid id",
		    cmd_word(line, len, esc, sizeof(esc)));
		return -1;
	}
	if (id >= d->next_id) {
		conn_fail(d, "%s for request %u, which was never sent",
		    cmd_word(line, len, esc, sizeof(esc)), id);
		return -1;
	}
	r = find_req(d, id);
	if (r == NULL || sdv_field_is(cmd, clen, "CANCELLED")) {
		/* Cancelled or timed out: Dovecot may still answer. */
		log_debug(2, "SASL: Dovecot auth %s: ignoring %s for request "
		    "%u, no longer waited for", d->path,
		    cmd_word(line, len, esc, sizeof(esc)), id);
		return 0;
	}
	if (r->state != RS_WAITING) {
		conn_fail(d, "%s for request %u, which awaits the client",
		    cmd_word(line, len, esc, sizeof(esc)), id);
		return -1;
	}
	if (sdv_field_is(cmd, clen, "CONT")) {
		const char *data;
		size_t dlen;
		char *copy;

		if (!sdv_fields_next(&it, &data, &dlen)) {
			data = "";
			dlen = 0;
		}
		if (it.p != NULL || !sdv_b64_chars_ok(data, dlen)) {
			conn_fail(d, "malformed CONT for request %u", id);
			return -1;
		}
		copy = xstrndup(data, dlen);
		answer(d, r, SASL_STEP_CONTINUE, copy, NULL);
		free_secret(copy);
	} else if (sdv_field_is(cmd, clen, "OK"))
		reply_ok(d, r, &it);
	else
		reply_fail(d, r, &it);
	arm_req_timer(d);
	return 0;
}

static void
process_input(struct sasl_dovecot *d)
{
	size_t off = 0;

	for (;;) {
		char *line = d->in.data + off;
		char *lf = memchr(line, '\n', d->in.len - off);
		size_t len;
		int r;

		if (lf == NULL)
			break;
		len = (size_t)(lf - line);
		off += len + 1;
		if (memchr(line, '\0', len) != NULL) {
			conn_fail(d, "NUL byte in a line");
			return;
		}
		*lf = '\0';
		r = d->state == CS_HANDSHAKE ?
		    handshake_line(d, line, len) : reply_line(d, line, len);
		if (r < 0 || d->state == CS_IDLE)
			return;	/* the buffers were reset (and wiped) */
		explicit_bzero(line, len);
	}
	buf_consume(&d->in, off);
	if (d->in.len >= SASL_DOVECOT_IN_LINE_MAX)
		conn_fail(d, "line longer than %d bytes",
		    SASL_DOVECOT_IN_LINE_MAX);
}

static void
on_read(evutil_socket_t fd, short what, void *arg)
{
	struct sasl_dovecot *d = arg;
	char chunk[READ_CHUNK];
	ssize_t n;

	n = recv(d->sock, chunk, sizeof(chunk), 0);
	if (n < 0 && (errno == EINTR || errno == EAGAIN ||
	    errno == EWOULDBLOCK))
		return;
	if (n <= 0) {
		const char *why = n == 0 ? "connection closed by Dovecot" :
		    strerror(errno);

		if (d->state == CS_READY) {
			/* Dovecot went away (restart, reload): reconnect at
			 * the next request without waiting. */
			struct sasl_dovecot_req *r;
			bool busy = false;

			TAILQ_FOREACH(r, &d->reqs, link)
				if (r->state == RS_WAITING ||
				    r->state == RS_CHALLENGED)
					busy = true;
			if (busy)
				log_warning("SASL: Dovecot auth %s: lost the "
				    "connection during authentication: %s",
				    d->path, why);
			else
				log_debug(1, "SASL: Dovecot auth %s: "
				    "connection closed: %s", d->path, why);
			conn_close(d, n == 0 ? "lost the connection to "
			    "Dovecot auth" : why, false);
		} else
			conn_fail(d, "closed during the handshake: %s", why);
		explicit_bzero(chunk, sizeof(chunk));
		return;
	}
	if (buf_append(&d->in, chunk, (size_t)n) < 0) {
		explicit_bzero(chunk, sizeof(chunk));
		conn_fail(d, "line longer than %d bytes",
		    SASL_DOVECOT_IN_LINE_MAX);
		return;
	}
	explicit_bzero(chunk, (size_t)n);
	process_input(d);
}

static void
on_write(evutil_socket_t fd, short what, void *arg)
{
	struct sasl_dovecot *d = arg;

	if (d->state == CS_CONNECTING) {
		int err = endpoint_connect_error(d->sock);

		if (err == EINPROGRESS)
			return;
		if (err != 0) {
			event_free(d->wev);
			d->wev = NULL;
			close(d->sock);
			d->sock = -1;
			switch (try_inet(d)) {
			case -1:
				conn_fail(d, "cannot connect: %s",
				    strerror(err));
				return;
			case 0:
				return;	/* the next address is in progress */
			default:
				break;
			}
		}
		conn_established(d);
		return;
	}
	(void)send_flush(d);
}

/* ---------------------------------------------------------------- */
/* Client                                                           */

/* endpoint_error - our wording for what endpoint_parse() refused. */
static const char *
endpoint_error(enum endpoint_status st)
{
	switch (st) {
	case ENDPOINT_BAD_BRACKET:
		return "malformed inet:[address]:port";
	case ENDPOINT_NO_PORT:
		return "inet: needs host:port";
	case ENDPOINT_BAD_HOST:
	case ENDPOINT_BAD_PORT:
		return "inet: needs a host and a port 1-65535";
	default:
		return "Dovecot auth socket path empty or too long";
	}
}

struct sasl_dovecot *
sasl_dovecot_new(struct event_base *base, const char *path,
    const char **error_r)
{
	struct sasl_dovecot *d;
	enum endpoint_status st;

	if (path == NULL || path[0] == '\0') {
		*error_r = "empty Dovecot auth socket path";
		return NULL;
	}
	d = xcalloc(1, sizeof(*d));
	TAILQ_INIT(&d->reqs);
	TAILQ_INIT(&d->ready);
	st = endpoint_parse(path, ENDPOINT_BARE_PATH, &d->ep);
	if (st != ENDPOINT_OK) {
		*error_r = endpoint_error(st);
		free(d);
		return NULL;
	}
	if (strncmp(path, "unix:", 5) == 0)
		path += 5;
	d->path = xstrdup(path);
	d->base = base;
	d->handshake_ms = SASL_DOVECOT_HANDSHAKE_TIMEOUT_MS;
	d->reply_ms = SASL_DOVECOT_REPLY_TIMEOUT_MS;
	d->backoff_min_ms = SASL_DOVECOT_BACKOFF_MIN_MS;
	d->backoff_max_ms = SASL_DOVECOT_BACKOFF_MAX_MS;
	d->sock = -1;
	d->state = CS_IDLE;
	buf_init(&d->in, SASL_DOVECOT_IN_LINE_MAX + READ_CHUNK);
	buf_set_sensitive(&d->in);
	buf_init(&d->out, SASL_DOVECOT_OUT_MAX_BYTES +
	    SASL_DOVECOT_OUT_LINE_MAX);
	buf_set_sensitive(&d->out);
	buf_init(&d->mechs_text, MECHS_MAX * (SDV_MECH_NAME_MAX + 1) + 1);
	d->conn_timer = evtimer_new(base, on_conn_timer, d);
	d->req_timer = evtimer_new(base, on_req_timer, d);
	d->deliver_ev = event_new(base, -1, 0, on_deliver, d);
	return d;
}

void
sasl_dovecot_set_timeouts(struct sasl_dovecot *d, unsigned handshake_ms,
    unsigned reply_ms, unsigned backoff_min_ms, unsigned backoff_max_ms)
{
	if (handshake_ms > 0)
		d->handshake_ms = handshake_ms;
	if (reply_ms > 0)
		d->reply_ms = reply_ms;
	if (backoff_min_ms > 0)
		d->backoff_min_ms = backoff_min_ms;
	if (backoff_max_ms > 0)
		d->backoff_max_ms = backoff_max_ms;
	if (d->backoff_max_ms < d->backoff_min_ms)
		d->backoff_max_ms = d->backoff_min_ms;
}

void
sasl_dovecot_connect(struct sasl_dovecot *d)
{
	(void)wanted(d);
}

bool
sasl_dovecot_is_ready(const struct sasl_dovecot *d)
{
	return d->state == CS_READY;
}

const char *
sasl_dovecot_mechs(struct sasl_dovecot *d, unsigned exclude,
    unsigned require)
{
	if (d->state == CS_IDLE)
		(void)wanted(d);
	if (!d->have_mechs)
		return NULL;
	buf_reset(&d->mechs_text);
	for (size_t i = 0; i < d->n_mechs; i++) {
		const struct mech *m = &d->mechs[i];

		if ((m->flags & SASL_MECH_PRIVATE) != 0 ||
		    (m->flags & exclude) != 0 ||
		    (m->flags & require) != require)
			continue;
		if (d->mechs_text.len > 0)
			(void)buf_append_c(&d->mechs_text, ' ');
		(void)buf_append_str(&d->mechs_text, m->name);
	}
	return buf_cstr(&d->mechs_text);
}

int
sasl_dovecot_mech_flags(const struct sasl_dovecot *d, const char *mech)
{
	const struct mech *m;

	if (!d->have_mechs || mech == NULL)
		return -1;
	m = find_mech(d->mechs, d->n_mechs, mech);
	if (m == NULL || (m->flags & SASL_MECH_PRIVATE) != 0)
		return -1;
	return (int)m->flags;
}

size_t
sasl_dovecot_pending(const struct sasl_dovecot *d)
{
	return d->live;
}

static void
destroy(struct sasl_dovecot *d)
{
	struct sasl_dovecot_req *r;

	while ((r = TAILQ_FIRST(&d->reqs)) != NULL) {
		ready_remove(d, r);
		TAILQ_REMOVE(&d->reqs, r, link);
		req_free(r);
	}
	conn_drop_socket(d);
	endpoint_addrs_free(&d->addrs);
	event_free(d->conn_timer);
	event_free(d->req_timer);
	event_free(d->deliver_ev);
	buf_deinit(&d->in);
	buf_deinit(&d->out);
	buf_deinit(&d->mechs_text);
	free(d->path);
	endpoint_clear(&d->ep);
	free(d);
}

void
sasl_dovecot_free(struct sasl_dovecot **dp)
{
	struct sasl_dovecot *d = *dp;

	*dp = NULL;
	if (d == NULL)
		return;
	if (d->depth > 0) {
		d->doomed = true;
		return;
	}
	destroy(d);
}
