/* SPDX-License-Identifier: MIT */
/*
 * smtp_conn - the event-driven SMTP/LMTP client: the conversation of
 * lmtp_client.c as a state machine on a libevent loop.  See smtp_conn.h
 * for the contract; the texts, commands and decisions come from
 * lmtp_common.c, shared with the blocking client.
 *
 * Every operation runs through run(): write what is queued, read what
 * arrived (bounded), then let the state's step take replies and queue
 * the next commands, until the step has to wait; then the events
 * wanted are armed.  A step that waits for a reply waits first until
 * the commands before it are written (as the blocking client flushes,
 * then reads).  The end of an operation is always delivered by the
 * ev_done event, so never from inside the call that started it.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "lmtp_common.h"
#include "log.h"
#include "smtp_conn.h"
#include "xalloc.h"

/* Bytes per SSL_write (one TLS record). */
#define TLS_WRITE_BYTES 16384

enum op {
	OP_NONE = 0,
	OP_OPEN,
	OP_SEND,
	OP_RESET,
	OP_QUIT,		/* in the background: frees itself */
};

enum state {
	ST_IDLE = 0,
	ST_CONNECTING,		/* non-blocking connect in progress */
	ST_GREETING,
	ST_HELLO,		/* LHLO/EHLO */
	ST_HELO,		/* HELO after EHLO was refused */
	ST_STARTTLS,
	ST_HANDSHAKE,
	ST_AUTH,
	ST_XFORWARD,		/* the reply to XFORWARD xf_i */
	ST_PIPE,		/* pipelining: MAIL and RCPTs being written */
	ST_MAIL,		/* the reply to MAIL */
	ST_DRAIN,		/* MAIL refused: the RCPT replies */
	ST_RCPT,		/* the reply to RCPT rcpt_i */
	ST_DATA,
	ST_MESSAGE,		/* writing the message */
	ST_DOT,			/* the replies after the dot */
	ST_RSET,
	ST_QUIT,
	ST_DONE,		/* the callback is due */
};

enum step_result {
	STEP_AGAIN,		/* progress: do I/O and step again */
	STEP_WAIT,		/* wait for events */
	STEP_DONE,		/* the operation ended (c may be gone) */
};

struct smtp_conn {
	struct lmtp_session s;
	struct event_base *base;
	const struct tls_client_policy *pol;	/* until open ends */
	int fd;
	bool open;		/* open succeeded, not closed since */
	bool eof;		/* the server closed its side */
	SSL *ssl;		/* TLS active when set */
	struct tls_client_info tlsinfo;
	char *tls_error;	/* the last TLS I/O error, words */
	bool read_wants_write;	/* SSL_read: WANT_WRITE */
	bool write_wants_read;	/* SSL_write: WANT_READ */
	struct lmtp_reply_parser parser;
	struct buf in;		/* read, not yet parsed */
	struct buf out;		/* to send from outoff on */
	size_t outoff;

	struct event *ev_read, *ev_write;	/* on fd, NULL without */
	struct event *ev_timer, *ev_done;

	/* The operation. */
	enum op op;
	enum state state;
	enum lmtp_stage stage;	/* of the wait */
	unsigned timeout_ms;	/* of the wait */
	smtp_conn_cb *cb;
	void *ctx;
	int rc;
	struct lmtp_failure f;
	bool draining;		/* failures go to f2 (MAIL was refused) */
	struct lmtp_failure f2;

	/* open */
	struct endpoint_addrs addrs;
	int conn_err;		/* the last connect failure */
	bool tls_tried;
	bool wrapper;		/* implicit TLS: handshake, then greeting */
	bool greet_after_tls;	/* the handshake under way is a wrapper's */
	SSL *pending_ssl;	/* made before STARTTLS is said */
	char *who;		/* "SMTP server NAME", for TLS texts */
	enum tls_client_level lev;
	bool hs_want_write;
	bool auth_plain;
	int auth_step;

	/* send */
	const struct lmtp_mail *m;
	struct lmtp_rcpt *rcpts;
	size_t n;
	bool *accepted;
	size_t naccepted;
	size_t xf_i;		/* the XFORWARD command awaited */
	size_t rcpt_queued;	/* pipelining: RCPTs queued */
	size_t rcpt_i;		/* the next RCPT reply */
	size_t dot_i;		/* LMTP: the next reply after the dot */
	struct lmtp_dot_state ds;
	size_t msg_off;
	bool msg_ended;		/* the final dot is queued */
	/* Every connection that exists, QUIT in the background included:
	 * one the caller gave away is still reachable from here. */
	struct smtp_conn *next, *prev;
};

static size_t conn_count;
static struct smtp_conn *conns;

static void run(struct smtp_conn *c);

size_t
smtp_conn_count(void)
{
	return conn_count;
}

/* ------------------------------------------------------------------ */
/* Socket and events */

static size_t
pending(const struct smtp_conn *c)
{
	return c->out.len - c->outoff;
}

static void
events_free(struct smtp_conn *c)
{
	if (c->ev_read != NULL)
		event_free(c->ev_read);
	if (c->ev_write != NULL)
		event_free(c->ev_write);
	c->ev_read = c->ev_write = NULL;
}

/* close_conn - close the socket and forget the connection's state. */
static void
close_conn(struct smtp_conn *c)
{
	events_free(c);
	if (c->ssl != NULL)
		SSL_free(c->ssl);
	c->ssl = NULL;
	if (c->pending_ssl != NULL)
		SSL_free(c->pending_ssl);
	c->pending_ssl = NULL;
	memset(&c->tlsinfo, 0, sizeof(c->tlsinfo));
	c->read_wants_write = c->write_wants_read = false;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->open = false;
	c->eof = false;
	buf_reset(&c->in);
	buf_reset(&c->out);
	c->outoff = 0;
	lmtp_reply_parser_deinit(&c->parser);
	lmtp_reply_parser_init(&c->parser);
}

static void
want(struct event *ev, short what, bool on)
{
	if (ev == NULL)
		return;
	if (on && !event_pending(ev, what, NULL))
		event_add(ev, NULL);
	else if (!on && event_pending(ev, what, NULL))
		event_del(ev);
}

/* arm - the events the current state waits for. */
static void
arm(struct smtp_conn *c)
{
	bool r = false, w = false;

	switch (c->state) {
	case ST_IDLE:
	case ST_DONE:
		break;
	case ST_CONNECTING:
		w = true;
		break;
	case ST_HANDSHAKE:
		w = c->hs_want_write;
		r = !w;
		break;
	default:
		w = (pending(c) > 0 && !c->write_wants_read) ||
		    c->read_wants_write;
		r = !c->eof || c->write_wants_read;
		break;
	}
	want(c->ev_read, EV_READ, r);
	want(c->ev_write, EV_WRITE, w);
}

/* timer_arm - the wait's timeout from now (none for 0). */
static void
timer_arm(struct smtp_conn *c)
{
	struct timeval tv = { (time_t)(c->timeout_ms / 1000),
	    (suseconds_t)(c->timeout_ms % 1000) * 1000 };

	if (c->timeout_ms == 0)
		event_del(c->ev_timer);
	else
		event_add(c->ev_timer, &tv);
}

/* set_wait - the next state, waiting at stage st for at most ms. */
static void
set_wait(struct smtp_conn *c, enum state state, enum lmtp_stage st,
    unsigned ms)
{
	c->state = state;
	c->stage = st;
	c->timeout_ms = ms;
	timer_arm(c);
}

/*
 * finish - the operation ends with rc (c->f filled for -1).  Stops
 * waiting; the callback runs from ev_done.  A QUIT in the background
 * frees the connection instead (c is gone then).
 */
static void
finish(struct smtp_conn *c, int rc)
{
	c->rc = rc;
	event_del(c->ev_timer);
	want(c->ev_read, EV_READ, false);
	want(c->ev_write, EV_WRITE, false);
	if (c->draining) {
		lmtp_failure_deinit(&c->f2);
		c->draining = false;
	}
	free(c->accepted);
	c->accepted = NULL;
	c->m = NULL;
	c->rcpts = NULL;
	if (c->pending_ssl != NULL)
		SSL_free(c->pending_ssl);
	c->pending_ssl = NULL;
	free(c->who);
	c->who = NULL;
	endpoint_addrs_free(&c->addrs);
	if (c->op == OP_OPEN) {
		c->pol = NULL;
		if (rc < 0)
			close_conn(c);
	}
	if (c->op == OP_QUIT) {
		if (c->ssl != NULL && c->fd >= 0) {
			/* One close_notify, not waited for. */
			(void)SSL_shutdown(c->ssl);
			ERR_clear_error();
		}
		smtp_conn_free(&c);
		return;
	}
	c->state = ST_DONE;
	event_active(c->ev_done, EV_TIMEOUT, 1);
}

/* failure - where failures go now. */
static struct lmtp_failure *
failure(struct smtp_conn *c)
{
	return c->draining ? &c->f2 : &c->f;
}

/* ------------------------------------------------------------------ */
/* I/O */

/* read_some - one read into c->in: LMTP_IO_OK with *got bytes (0: none
 * now), _EOF, _ERRNO, _OVERFLOW, _TLS. */
static enum lmtp_io
read_some(struct smtp_conn *c, size_t *got)
{
	char tmp[LMTP_READ_BYTES];
	size_t room = LMTP_INPUT_MAX_BYTES - c->in.len, max;
	ssize_t n;

	*got = 0;
	if (room == 0)
		return LMTP_IO_OVERFLOW;
	max = room < sizeof(tmp) ? room : sizeof(tmp);
	if (c->ssl != NULL) {
		int r, se, e;

		c->read_wants_write = false;
		ERR_clear_error();
		errno = 0;
		r = SSL_read(c->ssl, tmp, (int)max);
		if (r > 0) {
			n = r;
		} else {
			e = errno;
			se = SSL_get_error(c->ssl, r);
			switch (se) {
			case SSL_ERROR_WANT_READ:
				return LMTP_IO_OK;
			case SSL_ERROR_WANT_WRITE:
				c->read_wants_write = true;
				return LMTP_IO_OK;
			case SSL_ERROR_ZERO_RETURN:
				c->eof = true;
				return LMTP_IO_EOF;
			}
			if (se == SSL_ERROR_SYSCALL &&
			    ERR_peek_error() == 0 && e == 0) {
				c->eof = true;
				return LMTP_IO_EOF;
			}
			free(c->tls_error);
			c->tls_error = lmtp_tls_io_error(se, e);
			return LMTP_IO_TLS;
		}
	} else {
		do
			n = read(c->fd, tmp, max);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return (errno == EAGAIN || errno == EWOULDBLOCK) ?
			    LMTP_IO_OK : LMTP_IO_ERRNO;
		if (n == 0) {
			c->eof = true;
			return LMTP_IO_EOF;
		}
	}
	if (buf_append(&c->in, tmp, (size_t)n) < 0)
		return LMTP_IO_OVERFLOW;
	*got = (size_t)n;
	return LMTP_IO_OK;
}

/*
 * send_some - send c->out from c->outoff until it would block: 1 all
 * sent, 0 some remain, -1 failed (errno; c->tls_error under TLS).
 * Under TLS the sent bytes are dropped from out at once (the buffer
 * stays bounded while the message is added at its end); a retry after
 * WANT_WRITE/WANT_READ passes the same bytes, maybe moved and with more
 * after them (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER).
 */
static int
send_some(struct smtp_conn *c)
{
	c->write_wants_read = false;
	if (c->ssl == NULL)
		return buf_send(&c->out, &c->outoff, c->fd);
	while (c->outoff < c->out.len) {
		size_t n = c->out.len - c->outoff;
		int w, se, e;

		if (n > TLS_WRITE_BYTES)
			n = TLS_WRITE_BYTES;
		ERR_clear_error();
		errno = 0;
		w = SSL_write(c->ssl, c->out.data + c->outoff, (int)n);
		if (w > 0) {
			buf_consume(&c->out, c->outoff + (size_t)w);
			c->outoff = 0;
			continue;
		}
		e = errno;
		se = SSL_get_error(c->ssl, w);
		if (se == SSL_ERROR_WANT_WRITE)
			return 0;
		if (se == SSL_ERROR_WANT_READ) {
			c->write_wants_read = true;
			return 0;
		}
		free(c->tls_error);
		c->tls_error = lmtp_tls_io_error(se, e);
		errno = e != 0 ? e : EPIPE;
		return -1;
	}
	buf_reset(&c->out);
	c->outoff = 0;
	return 1;
}

/* last_words - see lmtp_client.c: the last complete reply the server
 * sent before the connection broke, " (the server said: ...)" or "". */
static char *
last_words(struct smtp_conn *c)
{
	size_t got;

	for (int i = 0; i < 16 && !c->eof && c->fd >= 0; i++)
		if (read_some(c, &got) != LMTP_IO_OK || got == 0)
			break;
	return lmtp_said_in(&c->parser, &c->in);
}

/* io_fail - the wait failed with io: the CONVERSATION failure, closed,
 * the operation ends. */
static void
io_fail(struct smtp_conn *c, enum lmtp_io io, int err)
{
	bool writing = pending(c) > 0 || c->state == ST_MESSAGE;
	char *said = NULL;

	if ((io == LMTP_IO_EOF || io == LMTP_IO_ERRNO || io == LMTP_IO_OK) &&
	    writing)
		said = last_words(c);
	lmtp_fail_io(&c->s, failure(c), c->stage, writing, c->ssl != NULL, io,
	    err, c->tls_error, said, c->timeout_ms);
	free(said);
	close_conn(c);
	finish(c, -1);
}

/* do_io - write what is queued, read what is there.  0, or -1 when it
 * failed (the operation ended). */
static int
do_io(struct smtp_conn *c)
{
	size_t got;

	if (pending(c) > 0) {
		size_t before = pending(c);
		int r = send_some(c);

		if (r < 0) {
			io_fail(c, c->ssl != NULL && c->tls_error != NULL ?
			    LMTP_IO_TLS : LMTP_IO_ERRNO, errno);
			return -1;
		}
		if (pending(c) < before)
			timer_arm(c);	/* progress: a new wait */
	}
	while (!c->eof) {
		enum lmtp_io io = read_some(c, &got);

		if (io == LMTP_IO_EOF)
			break;
		if (io != LMTP_IO_OK) {
			io_fail(c, io, errno);
			return -1;
		}
		if (got == 0)
			break;
	}
	return 0;
}

/*
 * get_reply - the next reply once the queued commands are written: 1
 * with *r (caller deinits), 0 not yet, -1 failed (the operation
 * ended).
 */
static int
get_reply(struct smtp_conn *c, struct lmtp_reply *r)
{
	memset(r, 0, sizeof(*r));
	if (pending(c) > 0)
		return 0;
	if (c->in.len > 0) {
		size_t used = 0;
		const char *err = NULL;
		int p = lmtp_reply_parse(&c->parser, c->in.data, c->in.len,
		    &used, r, &err);

		buf_consume(&c->in, used);
		if (p == 1) {
			lmtp_log_reply(&c->s, r);
			return 1;
		}
		if (p < 0) {
			lmtp_fail_malformed(&c->s, failure(c), c->stage,
			    c->ssl != NULL, err);
			close_conn(c);
			finish(c, -1);
			return -1;
		}
	}
	if (c->eof) {
		io_fail(c, LMTP_IO_EOF, 0);
		return -1;
	}
	return 0;
}

/* refused - as lmtp_fail_refused, closing when it says so; the
 * operation ends with -1. */
static enum step_result
refused(struct smtp_conn *c, enum lmtp_stage st, struct lmtp_reply *r)
{
	if (lmtp_fail_refused(&c->s, st, r, failure(c)))
		close_conn(c);
	finish(c, -1);
	return STEP_DONE;
}

/* fail_closed - *c->f is filled: close, end with -1. */
static enum step_result
fail_closed(struct smtp_conn *c)
{
	close_conn(c);
	finish(c, -1);
	return STEP_DONE;
}

/* ------------------------------------------------------------------ */
/* Open */

static enum step_result hello_done(struct smtp_conn *c);

static void
on_io(evutil_socket_t fd, short what, void *arg)
{
	run(arg);
}

/* watch - the events of c->fd. */
static void
watch(struct smtp_conn *c)
{
	events_free(c);
	c->ev_read = event_new(c->base, c->fd, EV_READ | EV_PERSIST, on_io,
	    c);
	c->ev_write = event_new(c->base, c->fd, EV_WRITE | EV_PERSIST, on_io,
	    c);
	if (c->ev_read == NULL || c->ev_write == NULL)
		log_panic("smtp_conn: out of memory for events");
}

/*
 * wrapper_begin - implicit TLS: the handshake before anything is read.
 * False with c->f set when TLS cannot be used here.
 */
static bool
wrapper_begin(struct smtp_conn *c)
{
	enum tls_client_level lev = c->pol != NULL ?
	    tls_client_effective_level(c->pol) : TLS_LEV_NONE;
	char *why = NULL;

	c->tls_tried = true;
	if (lev == TLS_LEV_NONE || c->s.tls_ctx == NULL) {
		lmtp_fail_tls(&c->f, xasprintf("smtp_tls_wrappermode = yes, "
		    "but %s (the server at %s expects TLS at once)",
		    lev == TLS_LEV_NONE ? "the TLS security level is none "
		    "(set smtp_tls_security_level = encrypt)" : "there is no "
		    "TLS client context", c->s.peer));
		return false;
	}
	c->who = xasprintf("%s server %s", c->s.pname, c->s.peer);
	c->ssl = tls_client_ssl_new(c->s.tls_ctx, c->pol, c->fd, c->who, &why);
	if (c->ssl == NULL) {
		lmtp_fail_tls(&c->f, why);
		return false;
	}
	c->lev = lev;
	c->greet_after_tls = true;
	c->hs_want_write = true;
	set_wait(c, ST_HANDSHAKE, LMTP_STAGE_GREETING, c->s.to.starttls_ms);
	return true;
}

/* connected - the socket is connected: wait for the greeting (with
 * implicit TLS, the handshake first).  False with c->f set when the
 * connection cannot go on. */
static bool
connected(struct smtp_conn *c)
{
	endpoint_addrs_free(&c->addrs);
	if (c->wrapper)
		return wrapper_begin(c);
	set_wait(c, ST_GREETING, LMTP_STAGE_GREETING, c->s.to.lhlo_ms);
	return true;
}

/* try_next - connect to the next address, or fail.  Returns
 * STEP_WAIT or STEP_AGAIN (connected), or STEP_DONE. */
static enum step_result
try_next(struct smtp_conn *c)
{
	bool bind_failed = false;
	bool none_left = c->addrs.next == NULL;
	int s = -1, r;

	r = endpoint_inet_try_from(&c->addrs, c->s.bind_address,
	    c->s.bind_address6, &s, &bind_failed);
	if (r < 0) {
		/* The last failure is ours when no address was left to
		 * try (it timed out or failed after connect()). */
		int e = none_left && c->conn_err != 0 ? c->conn_err : errno;

		lmtp_fail_connect(&c->s, &c->f, e, bind_failed);
		finish(c, -1);
		return STEP_DONE;
	}
	c->fd = s;
	watch(c);
	if (r == 1)
		return connected(c) ? STEP_AGAIN : fail_closed(c);
	set_wait(c, ST_CONNECTING, LMTP_STAGE_CONNECT, c->s.to.connect_ms);
	return STEP_WAIT;
}

/* connect_failed - the attempt on c->fd failed with e: the next. */
static enum step_result
connect_failed(struct smtp_conn *c, int e)
{
	c->conn_err = e;
	events_free(c);
	close(c->fd);
	c->fd = -1;
	return try_next(c);
}

static enum step_result
step_connecting(struct smtp_conn *c)
{
	struct pollfd pfd = { c->fd, POLLOUT, 0 };
	int e;

	/* Not writable yet: still connecting (SO_ERROR would say 0). */
	if (poll(&pfd, 1, 0) <= 0)
		return STEP_WAIT;
	e = endpoint_connect_error(c->fd);
	if (e == EINPROGRESS)
		return STEP_WAIT;
	if (e != 0)
		return connect_failed(c, e);
	return connected(c) ? STEP_AGAIN : fail_closed(c);
}

/* open_done - the connection is ready. */
static enum step_result
open_done(struct smtp_conn *c)
{
	c->open = true;
	lmtp_log_connected(&c->s, c->ssl != NULL);
	finish(c, 0);
	return STEP_DONE;
}

static enum step_result
auth_begin(struct smtp_conn *c)
{
	if (lmtp_auth_check(&c->s, c->ssl != NULL, &c->f) < 0)
		return fail_closed(c);
	lmtp_auth_start(&c->s, &c->out, &c->auth_plain);
	c->auth_step = 0;
	set_wait(c, ST_AUTH, LMTP_STAGE_AUTH, c->s.to.lhlo_ms);
	return STEP_AGAIN;
}

static enum step_result
hello_begin(struct smtp_conn *c)
{
	lmtp_hello_command(&c->s, &c->out, false);
	set_wait(c, ST_HELLO, LMTP_STAGE_LHLO, c->s.to.lhlo_ms);
	return STEP_AGAIN;
}

static enum step_result
starttls_begin(struct smtp_conn *c)
{
	char *why = NULL;
	int r;

	c->tls_tried = true;
	r = lmtp_starttls_plan(&c->s, c->pol, &c->lev, &c->who, &c->f);
	if (r < 0)
		return fail_closed(c);
	if (r == 0)
		return hello_done(c);
	/* Made first: a level that cannot be used fails before we say
	 * anything. */
	c->pending_ssl = tls_client_ssl_new(c->s.tls_ctx, c->pol, c->fd,
	    c->who, &why);
	if (c->pending_ssl == NULL) {
		lmtp_fail_tls(&c->f, why);
		return fail_closed(c);
	}
	lmtp_command(&c->s, &c->out, "STARTTLS", NULL);
	set_wait(c, ST_STARTTLS, LMTP_STAGE_STARTTLS, c->s.to.starttls_ms);
	return STEP_AGAIN;
}

/* hello_done - after LHLO/EHLO/HELO: STARTTLS, AUTH, or ready. */
static enum step_result
hello_done(struct smtp_conn *c)
{
	if (!c->tls_tried && c->pol != NULL)
		return starttls_begin(c);
	if (c->s.auth_user != NULL && !c->s.authenticated)
		return auth_begin(c);
	return open_done(c);
}

static enum step_result
step_greeting(struct smtp_conn *c)
{
	struct lmtp_reply r;
	int g = get_reply(c, &r);

	if (g <= 0)
		return g < 0 ? STEP_DONE : STEP_WAIT;
	if (r.code / 100 != 2)
		return refused(c, LMTP_STAGE_GREETING, &r);
	lmtp_reply_deinit(&r);
	return hello_begin(c);
}

static enum step_result
step_hello(struct smtp_conn *c)
{
	struct lmtp_reply r;
	int g = get_reply(c, &r);

	if (g <= 0)
		return g < 0 ? STEP_DONE : STEP_WAIT;
	if (c->state == ST_HELLO && r.code / 100 == 5 &&
	    c->s.proto == LMTP_PROTO_SMTP) {
		/* RFC 5321 3.2: an old server; HELO, no extensions. */
		lmtp_reply_deinit(&r);
		lmtp_hello_command(&c->s, &c->out, true);
		set_wait(c, ST_HELO, LMTP_STAGE_LHLO, c->s.to.lhlo_ms);
		return STEP_AGAIN;
	}
	if (r.code / 100 != 2)
		return refused(c, LMTP_STAGE_LHLO, &r);
	if (c->state == ST_HELLO)
		lmtp_hello_caps(&c->s, &r);
	lmtp_reply_deinit(&r);
	return hello_done(c);
}

static enum step_result
step_starttls(struct smtp_conn *c)
{
	struct lmtp_reply r;
	int g = get_reply(c, &r), ret;

	if (g <= 0)
		return g < 0 ? STEP_DONE : STEP_WAIT;
	ret = lmtp_starttls_reply(&c->s, c->lev, c->who, &r, &c->f);
	if (ret < 0)
		return fail_closed(c);
	if (ret == 0) {
		SSL_free(c->pending_ssl);
		c->pending_ssl = NULL;
		return hello_done(c);
	}
	if (c->in.len > 0) {
		lmtp_fail_tls_injection(&c->f, c->who, c->in.len);
		return fail_closed(c);
	}
	c->ssl = c->pending_ssl;
	c->pending_ssl = NULL;
	c->hs_want_write = true;
	set_wait(c, ST_HANDSHAKE, LMTP_STAGE_STARTTLS, c->s.to.starttls_ms);
	return STEP_AGAIN;
}

static enum step_result
step_handshake(struct smtp_conn *c)
{
	char *why = NULL;
	bool want_write = false;
	int r = tls_client_handshake_step(c->ssl, c->who, &want_write, &why);

	if (r == 0) {
		c->hs_want_write = want_write;
		return STEP_WAIT;
	}
	if (r < 0 || tls_client_check(c->ssl, c->pol, c->who, &c->tlsinfo,
	    &why) < 0) {
		lmtp_fail_tls(&c->f, why);
		return fail_closed(c);
	}
	lmtp_log_tls(c->who, &c->tlsinfo);
	free(c->who);
	c->who = NULL;
	if (c->greet_after_tls) {
		c->greet_after_tls = false;
		set_wait(c, ST_GREETING, LMTP_STAGE_GREETING,
		    c->s.to.lhlo_ms);
		return STEP_AGAIN;
	}
	return hello_begin(c);
}

static enum step_result
step_auth(struct smtp_conn *c)
{
	struct lmtp_reply r;
	int g = get_reply(c, &r), ret;

	if (g <= 0)
		return g < 0 ? STEP_DONE : STEP_WAIT;
	ret = lmtp_auth_reply(&c->s, &c->out, c->auth_plain, c->auth_step,
	    &r, &c->f);
	if (ret < 0)
		return fail_closed(c);
	if (ret == 0)
		return hello_done(c);
	c->auth_step++;
	set_wait(c, ST_AUTH, LMTP_STAGE_AUTH, c->s.to.lhlo_ms);
	return STEP_AGAIN;
}

/* ------------------------------------------------------------------ */
/* Send */

/* rcpt_next - after RCPT reply rcpt_i - 1: the next one, or DATA. */
static enum step_result
rcpt_next(struct smtp_conn *c)
{
	if (c->rcpt_i < c->n) {
		if (!c->s.caps.pipelining)
			lmtp_rcpt_command(&c->s, &c->out,
			    &c->rcpts[c->rcpt_i]);
		set_wait(c, ST_RCPT, LMTP_STAGE_RCPT, c->s.to.rcpt_ms);
		return STEP_AGAIN;
	}
	if (c->naccepted == 0) {
		finish(c, 0);
		return STEP_DONE;
	}
	lmtp_command(&c->s, &c->out, "DATA", NULL);
	set_wait(c, ST_DATA, LMTP_STAGE_DATA, c->s.to.data_init_ms);
	return STEP_AGAIN;
}

/* mail_begin - MAIL FROM and RCPT TO: pipelined when offered (RFC 2920;
 * an LMTP server must offer it, RFC 2033 4.1). */
static enum step_result
mail_begin(struct smtp_conn *c)
{
	lmtp_mail_command(&c->s, &c->out, c->m);
	if (c->s.caps.pipelining)
		set_wait(c, ST_PIPE, LMTP_STAGE_RCPT, c->s.to.rcpt_ms);
	else
		set_wait(c, ST_MAIL, LMTP_STAGE_MAIL, c->s.to.mail_ms);
	return STEP_AGAIN;
}

/* step_xforward - the reply to XFORWARD command xf_i; then the next
 * one, or MAIL FROM.  One at a time: there are one or two. */
static enum step_result
step_xforward(struct smtp_conn *c)
{
	struct lmtp_reply r;
	int g = get_reply(c, &r);

	if (g <= 0)
		return g < 0 ? STEP_DONE : STEP_WAIT;
	if (lmtp_xforward_reply(&c->s, &r, &c->f) < 0)
		return fail_closed(c);
	c->xf_i++;
	if (lmtp_xforward_command(&c->s, &c->out, c->m, c->xf_i)) {
		set_wait(c, ST_XFORWARD, LMTP_STAGE_XFORWARD, c->s.to.mail_ms);
		return STEP_AGAIN;
	}
	return mail_begin(c);
}

static enum step_result
step_pipe(struct smtp_conn *c)
{
	bool queued = false;

	while (c->rcpt_queued < c->n && pending(c) < LMTP_OUTPUT_FLUSH_BYTES) {
		lmtp_rcpt_command(&c->s, &c->out, &c->rcpts[c->rcpt_queued]);
		c->rcpt_queued++;
		queued = true;
	}
	if (queued)
		return STEP_AGAIN;
	if (c->rcpt_queued < c->n || pending(c) > 0)
		return STEP_WAIT;
	set_wait(c, ST_MAIL, LMTP_STAGE_MAIL, c->s.to.mail_ms);
	return STEP_AGAIN;
}

static enum step_result
step_mail(struct smtp_conn *c)
{
	struct lmtp_reply r;
	int g = get_reply(c, &r);

	if (g <= 0)
		return g < 0 ? STEP_DONE : STEP_WAIT;
	if (r.code / 100 == 2) {
		lmtp_reply_deinit(&r);
		c->rcpt_i = 0;
		return rcpt_next(c);
	}
	if (lmtp_fail_refused(&c->s, LMTP_STAGE_MAIL, &r, &c->f))
		close_conn(c);
	if (c->f.kind != LMTP_FAIL_REPLY || !c->s.caps.pipelining ||
	    c->fd < 0) {
		finish(c, -1);
		return STEP_DONE;
	}
	/* c->f says why; the RCPT replies (errors) keep the stream in
	 * step.  If that fails the connection is closed, and the refusal
	 * of MAIL is still the answer. */
	c->draining = true;
	c->rcpt_i = 0;
	set_wait(c, ST_DRAIN, LMTP_STAGE_RCPT, c->s.to.rcpt_ms);
	return STEP_AGAIN;
}

static enum step_result
step_drain(struct smtp_conn *c)
{
	struct lmtp_reply r;
	int g = get_reply(c, &r);

	if (g <= 0)
		return g < 0 ? STEP_DONE : STEP_WAIT;
	lmtp_reply_deinit(&r);
	if (++c->rcpt_i >= c->n) {
		finish(c, -1);
		return STEP_DONE;
	}
	set_wait(c, ST_DRAIN, LMTP_STAGE_RCPT, c->s.to.rcpt_ms);
	return STEP_AGAIN;
}

static enum step_result
step_rcpt(struct smtp_conn *c)
{
	struct lmtp_reply r;
	size_t i = c->rcpt_i;
	int g = get_reply(c, &r);

	if (g <= 0)
		return g < 0 ? STEP_DONE : STEP_WAIT;
	if (r.code / 100 == 2 && c->m->verify_only) {
		/* A probe: the RCPT reply is the answer; no DATA. */
		c->rcpts[i].done = true;
		c->rcpts[i].stage = LMTP_STAGE_RCPT;
		c->rcpts[i].reply = r;
	} else if (r.code / 100 == 2) {
		c->accepted[i] = true;
		c->naccepted++;
		lmtp_reply_deinit(&r);
	} else if (r.code / 100 == 4 || r.code / 100 == 5) {
		c->rcpts[i].done = true;
		c->rcpts[i].stage = LMTP_STAGE_RCPT;
		c->rcpts[i].reply = r;
	} else {
		lmtp_fail_unexpected(&c->s, LMTP_STAGE_RCPT, &r, &c->f);
		return fail_closed(c);
	}
	c->rcpt_i++;
	return rcpt_next(c);
}

static enum step_result
step_data(struct smtp_conn *c)
{
	struct lmtp_reply r;
	int g = get_reply(c, &r);

	if (g <= 0)
		return g < 0 ? STEP_DONE : STEP_WAIT;
	if (r.code / 100 != 3)
		return refused(c, LMTP_STAGE_DATA, &r);
	lmtp_reply_deinit(&r);
	memset(&c->ds, 0, sizeof(c->ds));
	c->ds.limit = c->s.line_limit;
	c->msg_off = 0;
	c->msg_ended = false;
	set_wait(c, ST_MESSAGE, LMTP_STAGE_MESSAGE, c->s.to.data_xfer_ms);
	return STEP_AGAIN;
}

static enum step_result
step_message(struct smtp_conn *c)
{
	const struct lmtp_mail *m = c->m;
	bool queued = false;

	while (!c->msg_ended && pending(c) < LMTP_OUTPUT_FLUSH_BYTES) {
		size_t n = m->len - c->msg_off;

		if (n == 0) {
			if (lmtp_dot_stuff_end(&c->ds, &c->out) < 0)
				log_panic("lmtp: message buffer full");
			lmtp_log_line(&c->s, ">", "(message) .", 11);
			c->msg_ended = true;
		} else {
			if (n > LMTP_OUTPUT_FLUSH_BYTES)
				n = LMTP_OUTPUT_FLUSH_BYTES;
			if (lmtp_dot_stuff(&c->ds, m->content + c->msg_off, n,
			    &c->out) < 0)
				log_panic("lmtp: message buffer full");
			c->msg_off += n;
		}
		queued = true;
	}
	if (queued)
		return STEP_AGAIN;
	if (!c->msg_ended || pending(c) > 0)
		return STEP_WAIT;
	c->dot_i = 0;
	set_wait(c, ST_DOT, LMTP_STAGE_DOT, c->s.to.data_done_ms);
	return STEP_AGAIN;
}

static enum step_result
step_dot(struct smtp_conn *c)
{
	struct lmtp_reply r;
	size_t i;
	int g = get_reply(c, &r);

	if (g <= 0)
		return g < 0 ? STEP_DONE : STEP_WAIT;
	if (r.code / 100 == 3) {
		lmtp_fail_unexpected(&c->s, LMTP_STAGE_DOT, &r, &c->f);
		return fail_closed(c);
	}
	if (c->s.proto == LMTP_PROTO_SMTP) {
		/* SMTP: one reply for the whole transaction. */
		for (i = 0; i < c->n; i++) {
			if (!c->accepted[i])
				continue;
			c->rcpts[i].done = true;
			c->rcpts[i].stage = LMTP_STAGE_DOT;
			lmtp_reply_copy(&c->rcpts[i].reply, &r);
		}
		lmtp_reply_deinit(&r);
		finish(c, 0);
		return STEP_DONE;
	}
	for (i = c->dot_i; i < c->n && !c->accepted[i]; i++)
		;
	c->rcpts[i].done = true;
	c->rcpts[i].stage = LMTP_STAGE_DOT;
	c->rcpts[i].reply = r;
	for (i++; i < c->n && !c->accepted[i]; i++)
		;
	c->dot_i = i;
	if (i >= c->n) {
		finish(c, 0);
		return STEP_DONE;
	}
	set_wait(c, ST_DOT, LMTP_STAGE_DOT, c->s.to.data_done_ms);
	return STEP_AGAIN;
}

/* ------------------------------------------------------------------ */
/* RSET, QUIT */

static enum step_result
step_rset(struct smtp_conn *c)
{
	struct lmtp_reply r;
	int g = get_reply(c, &r);

	if (g <= 0)
		return g < 0 ? STEP_DONE : STEP_WAIT;
	if (r.code / 100 != 2) {
		(void)lmtp_fail_refused(&c->s, LMTP_STAGE_RSET, &r, &c->f);
		return fail_closed(c);
	}
	lmtp_reply_deinit(&r);
	finish(c, 0);
	return STEP_DONE;
}

static enum step_result
step_quit(struct smtp_conn *c)
{
	struct lmtp_reply r;
	int g = get_reply(c, &r);

	if (g <= 0)
		return g < 0 ? STEP_DONE : STEP_WAIT;
	lmtp_reply_deinit(&r);
	finish(c, 0);
	return STEP_DONE;
}

/* ------------------------------------------------------------------ */
/* The engine */

static enum step_result
step(struct smtp_conn *c)
{
	switch (c->state) {
	case ST_IDLE:
	case ST_DONE:
		return STEP_WAIT;
	case ST_CONNECTING:
		return step_connecting(c);
	case ST_GREETING:
		return step_greeting(c);
	case ST_HELLO:
	case ST_HELO:
		return step_hello(c);
	case ST_STARTTLS:
		return step_starttls(c);
	case ST_HANDSHAKE:
		return step_handshake(c);
	case ST_AUTH:
		return step_auth(c);
	case ST_XFORWARD:
		return step_xforward(c);
	case ST_PIPE:
		return step_pipe(c);
	case ST_MAIL:
		return step_mail(c);
	case ST_DRAIN:
		return step_drain(c);
	case ST_RCPT:
		return step_rcpt(c);
	case ST_DATA:
		return step_data(c);
	case ST_MESSAGE:
		return step_message(c);
	case ST_DOT:
		return step_dot(c);
	case ST_RSET:
		return step_rset(c);
	case ST_QUIT:
		return step_quit(c);
	}
	return STEP_WAIT;
}

/* talking - a state of the conversation (plain or TLS records)? */
static bool
talking(const struct smtp_conn *c)
{
	return c->state != ST_IDLE && c->state != ST_DONE &&
	    c->state != ST_CONNECTING && c->state != ST_HANDSHAKE;
}

/* run - make progress until the state must wait; arm its events. */
static void
run(struct smtp_conn *c)
{
	for (;;) {
		enum step_result r;

		if (talking(c) && do_io(c) < 0)
			return;
		r = step(c);
		if (r == STEP_DONE)
			return;
		if (r == STEP_WAIT)
			break;
	}
	arm(c);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_conn *c = arg;

	switch (c->state) {
	case ST_IDLE:
	case ST_DONE:
		return;
	case ST_CONNECTING:
		if (connect_failed(c, ETIMEDOUT) != STEP_DONE)
			run(c);
		return;
	case ST_HANDSHAKE:
		lmtp_fail_tls(&c->f, tls_client_handshake_timeout(c->who,
		    c->timeout_ms));
		fail_closed(c);
		return;
	default:
		io_fail(c, LMTP_IO_TIMEOUT, 0);
		return;
	}
}

static void
on_done(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_conn *c = arg;
	struct lmtp_failure f = c->f;
	smtp_conn_cb *cb = c->cb;
	void *ctx = c->ctx;
	int rc = c->rc;

	memset(&c->f, 0, sizeof(c->f));
	c->op = OP_NONE;
	c->state = ST_IDLE;
	c->cb = NULL;
	c->ctx = NULL;
	/* c may be freed by the callback. */
	cb(c, ctx, rc, &f);
	lmtp_failure_deinit(&f);
}

/* begin - a new operation (one pending already is a caller's bug:
 * a panic). */
static void
begin(struct smtp_conn *c, enum op op, smtp_conn_cb *cb, void *ctx)
{
	if (c->op != OP_NONE)
		log_panic("smtp_conn: an operation is pending");
	c->op = op;
	c->cb = cb;
	c->ctx = ctx;
	c->rc = 0;
	lmtp_failure_deinit(&c->f);
}

/* start - run the new operation from the loop (never a callback from
 * the starting call: finish defers it). */
static void
start(struct smtp_conn *c)
{
	run(c);
}

/* ------------------------------------------------------------------ */
/* API */

struct smtp_conn *
smtp_conn_new(struct event_base *base, const struct lmtp_client_settings *set)
{
	struct smtp_conn *c = xcalloc(1, sizeof(*c));

	c->base = base;
	c->fd = -1;
	lmtp_session_init(&c->s, set);
	c->pol = set->tls;
	c->wrapper = set->tls_wrapper;
	lmtp_reply_parser_init(&c->parser);
	buf_init(&c->in, LMTP_INPUT_MAX_BYTES);
	buf_init(&c->out, LMTP_OUTPUT_MAX_BYTES);
	if (c->s.auth_user != NULL)
		buf_set_sensitive(&c->out);
	c->ev_timer = evtimer_new(base, on_timer, c);
	c->ev_done = event_new(base, -1, 0, on_done, c);
	if (c->ev_timer == NULL || c->ev_done == NULL)
		log_panic("smtp_conn: out of memory for events");
	c->next = conns;
	if (conns != NULL)
		conns->prev = c;
	conns = c;
	conn_count++;
	return c;
}

void
smtp_conn_open(struct smtp_conn *c, const char *dest, smtp_conn_cb *cb,
    void *ctx)
{
	int r;

	begin(c, OP_OPEN, cb, ctx);
	c->tls_tried = false;
	c->conn_err = 0;
	if (c->fd >= 0)
		close_conn(c);
	if (lmtp_session_start(&c->s, dest, &c->f) < 0) {
		finish(c, -1);
		return;
	}
	if (c->s.ep.path != NULL) {
		c->fd = endpoint_unix_connect(c->s.ep.path);
		if (c->fd < 0) {
			lmtp_fail_connect(&c->s, &c->f, errno, false);
			finish(c, -1);
			return;
		}
		watch(c);
		if (!connected(c)) {
			close_conn(c);
			finish(c, -1);
			return;
		}
		start(c);
		return;
	}
	r = endpoint_inet_resolve(&c->addrs, c->s.ep.host, c->s.ep.port);
	if (r != 0) {
		lmtp_fail_resolve(&c->s, &c->f, r);
		finish(c, -1);
		return;
	}
	if (try_next(c) != STEP_DONE)
		start(c);
}

void
smtp_conn_send(struct smtp_conn *c, const struct lmtp_mail *m,
    struct lmtp_rcpt *rcpts, size_t n, smtp_conn_cb *cb, void *ctx)
{
	begin(c, OP_SEND, cb, ctx);
	for (size_t i = 0; i < n; i++) {
		rcpts[i].done = false;
		memset(&rcpts[i].reply, 0, sizeof(rcpts[i].reply));
	}
	if (c->fd < 0 || !c->open) {
		lmtp_fail_io(&c->s, &c->f, LMTP_STAGE_MAIL, true, false,
		    LMTP_IO_EOF, 0, NULL, "", 0);
		finish(c, -1);
		return;
	}
	if (n == 0) {
		finish(c, 0);
		return;
	}
	if (lmtp_check_mail(&c->s, m, rcpts, n, &c->f) < 0) {
		finish(c, -1);
		return;
	}
	c->m = m;
	c->rcpts = rcpts;
	c->n = n;
	c->accepted = xcalloc(n, sizeof(*c->accepted));
	c->naccepted = 0;
	c->rcpt_queued = 0;
	c->rcpt_i = 0;
	/* XFORWARD first when there is some to say (each awaited). */
	c->xf_i = 0;
	if (lmtp_xforward_command(&c->s, &c->out, m, 0))
		set_wait(c, ST_XFORWARD, LMTP_STAGE_XFORWARD, c->s.to.mail_ms);
	else
		(void)mail_begin(c);
	start(c);
}

/* idle_gone - the socket of an idle connection is readable: gone, or
 * (TLS) only records without data arrived (TLS 1.3 session tickets)? */
static bool
idle_gone(struct smtp_conn *c)
{
	struct pollfd pfd;
	size_t got;

	if (c->ssl == NULL)
		return true;
	for (int i = 0; i < 16; i++) {
		if (read_some(c, &got) != LMTP_IO_OK || c->in.len > 0 ||
		    c->eof || c->read_wants_write)
			return true;
		if (SSL_has_pending(c->ssl))
			continue;
		pfd.fd = c->fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, 0) <= 0)
			return false;
	}
	return true;
}

void
smtp_conn_reset(struct smtp_conn *c, smtp_conn_cb *cb, void *ctx)
{
	struct pollfd pfd;

	begin(c, OP_RESET, cb, ctx);
	if (c->fd < 0 || !c->open) {
		lmtp_fail_io(&c->s, &c->f, LMTP_STAGE_RSET, true, false,
		    LMTP_IO_EOF, 0, NULL, "", 0);
		close_conn(c);
		finish(c, -1);
		return;
	}
	/* While idle the server may only have closed (perhaps after a
	 * 421): anything readable now means the connection is gone. */
	pfd.fd = c->fd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	if (c->in.len > 0 || (poll(&pfd, 1, 0) > 0 && idle_gone(c))) {
		char *said = last_words(c);

		lmtp_fail_idle(&c->s, &c->f, said);
		free(said);
		close_conn(c);
		finish(c, -1);
		return;
	}
	buf_reset(&c->out);
	c->outoff = 0;
	lmtp_command(&c->s, &c->out, "RSET", NULL);
	set_wait(c, ST_RSET, LMTP_STAGE_RSET, c->s.to.rset_ms);
	start(c);
}

void
smtp_conn_quit(struct smtp_conn **cp)
{
	struct smtp_conn *c = *cp;

	*cp = NULL;
	if (c == NULL)
		return;
	if (c->fd < 0 || !c->open || c->op != OP_NONE) {
		smtp_conn_free(&c);
		return;
	}
	c->op = OP_QUIT;
	buf_reset(&c->out);
	c->outoff = 0;
	lmtp_command(&c->s, &c->out, "QUIT", NULL);
	set_wait(c, ST_QUIT, LMTP_STAGE_QUIT, c->s.to.quit_ms);
	run(c);
}

void
smtp_conn_free(struct smtp_conn **cp)
{
	struct smtp_conn *c = *cp;

	if (c == NULL)
		return;
	*cp = NULL;
	close_conn(c);
	event_free(c->ev_timer);
	event_free(c->ev_done);
	lmtp_reply_parser_deinit(&c->parser);
	buf_deinit(&c->in);
	buf_deinit(&c->out);
	lmtp_failure_deinit(&c->f);
	lmtp_failure_deinit(&c->f2);
	free(c->accepted);
	free(c->who);
	free(c->tls_error);
	endpoint_addrs_free(&c->addrs);
	lmtp_session_deinit(&c->s);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	free(c);
	conn_count--;
}

const struct lmtp_caps *
smtp_conn_caps(const struct smtp_conn *c)
{
	return &c->s.caps;
}

const struct tls_client_info *
smtp_conn_tls(const struct smtp_conn *c)
{
	return c->ssl != NULL ? &c->tlsinfo : NULL;
}

bool
smtp_conn_authenticated(const struct smtp_conn *c)
{
	return c->s.authenticated;
}

bool
smtp_conn_helo(const struct smtp_conn *c)
{
	return c->s.helo;
}

const char *
smtp_conn_stage_command(const struct smtp_conn *c, enum lmtp_stage st)
{
	return lmtp_session_stage_command(&c->s, st);
}

bool
smtp_conn_is_open(const struct smtp_conn *c)
{
	return c->fd >= 0 && c->open;
}

bool
smtp_conn_busy(const struct smtp_conn *c)
{
	return c->op != OP_NONE;
}
