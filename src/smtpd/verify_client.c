/* SPDX-License-Identifier: MIT */
/*
 * verify_client - address verification queries of smtpd; see
 * verify_client.h.  The connection is separate from queue_client.c's
 * message channel (the queue process keeps the two kinds apart).  An
 * answer for a tag no longer in use (a query cancelled or timed out) is
 * ignored; a malformed one ends the connection, and every open query
 * gets an error.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "compat.h"
#include "ipc.h"
#include "log.h"
#include "queue_proto.h"
#include "tagmap.h"
#include "verify_client.h"
#include "xalloc.h"

/* Queries waiting to be read by the queue process (each under 1.2 KiB). */
#define VC_OUT_MAX (2 * 1024 * 1024)

struct verify_client_req {
	struct tagmap_node node;
	bool registered;
	struct event *ev;	/* timeout; activated by hand to answer */
	verify_client_fn *fn;
	void *ctx;
	const char *error;	/* static, set before ev is activated */
	enum verify_state st;
	char *dsn, *text;	/* the answer, set before ev is activated */
};

static struct {
	struct event_base *base;
	char *path;
	int sock;
	struct event *rev, *wev;
	bool writing;
	struct ipc_conn ipc;
	struct ipc_writer out;
	struct tagmap reqs;
	uint32_t next_tag;
} vc = { .sock = -1 };

static void on_read(evutil_socket_t fd, short what, void *arg);
static void on_write(evutil_socket_t fd, short what, void *arg);

/* req_settle - take r off the connection; its event tells the caller. */
static void
req_settle(struct verify_client_req *r, const char *error)
{
	if (r->registered) {
		tagmap_remove(&vc.reqs, &r->node);
		r->registered = false;
	}
	r->error = error;
	event_active(r->ev, EV_TIMEOUT, 1);
}

static void
conn_break(const char *why)
{
	struct tagmap_node *n, *next;

	if (vc.sock < 0)
		return;
	if (vc.reqs.count > 0)
		log_warning("%s; %zu address verification quer%s fail%s", why,
		    vc.reqs.count, vc.reqs.count == 1 ? "y" : "ies",
		    vc.reqs.count == 1 ? "s" : "");
	event_free(vc.rev);
	event_free(vc.wev);
	vc.rev = vc.wev = NULL;
	vc.writing = false;
	ipc_conn_deinit(&vc.ipc);
	ipc_writer_deinit(&vc.out);
	close(vc.sock);
	vc.sock = -1;
	for (n = tagmap_take_all(&vc.reqs); n != NULL; n = next) {
		struct verify_client_req *r = TAGMAP_ENTRY(n,
		    struct verify_client_req, node);

		next = n->next;
		r->registered = false;
		req_settle(r, why);
	}
	tagmap_deinit(&vc.reqs);
}

static int
conn_open(struct event_base *base, const char *path, const char **error_r)
{
	int sock = ipc_unix_connect(path, true);

	if (sock < 0) {
		*error_r = "cannot connect to the queue process";
		return -1;
	}
	vc.sock = sock;
	vc.base = base;
	if (vc.path == NULL || strcmp(vc.path, path) != 0) {
		free(vc.path);
		vc.path = xstrdup(path);
	}
	ipc_conn_init(&vc.ipc, sock);
	ipc_writer_init(&vc.out, sock, VC_OUT_MAX);
	tagmap_init(&vc.reqs);
	vc.rev = event_new(base, sock, EV_READ | EV_PERSIST, on_read, NULL);
	vc.wev = event_new(base, sock, EV_WRITE | EV_PERSIST, on_write, NULL);
	if (vc.rev == NULL || vc.wev == NULL)
		log_fatal("cannot create the verification connection events");
	event_add(vc.rev, NULL);
	return 0;
}

static void
on_write(evutil_socket_t fd, short what, void *arg)
{
	int r = ipc_writer_flush(&vc.out);

	(void)fd;
	(void)what;
	(void)arg;
	if (r < 0) {
		conn_break("lost the connection to the queue process");
		return;
	}
	if (r == 0) {
		vc.writing = false;
		event_del(vc.wev);
	}
}

/* handle - one frame; false when it does not fit (the caller ends the
 * connection). */
static bool
handle(uint32_t type, struct ipc_in *in, int pfd)
{
	struct verify_answer a;
	struct tagmap_node *n;
	struct verify_client_req *r;
	const char *err;

	if (pfd >= 0) {
		close(pfd);
		return false;
	}
	if (type != QUEUE_MSG_VERIFY_REPLY ||
	    verify_answer_decode(in, &a, &err) < 0)
		return false;
	n = tagmap_find(&vc.reqs, a.tag);
	if (n == NULL) {
		verify_answer_free(&a);
		return true;	/* cancelled or timed out meanwhile */
	}
	r = TAGMAP_ENTRY(n, struct verify_client_req, node);
	r->st = a.state;
	r->dsn = a.dsn;
	r->text = a.text;
	a.dsn = a.text = NULL;
	verify_answer_free(&a);
	req_settle(r, NULL);
	return true;
}

static void
on_read(evutil_socket_t fd, short what, void *arg)
{
	struct ipc_in in;
	uint32_t type;
	int pfd, r;

	(void)fd;
	(void)what;
	(void)arg;
	if (ipc_conn_read(&vc.ipc) < 0) {
		conn_break("lost the connection to the queue process");
		return;
	}
	while ((r = ipc_conn_next(&vc.ipc, &type, &in, &pfd)) == 1) {
		if (!handle(type, &in, pfd)) {
			log_error("unexpected address verification answer "
			    "from the queue process; closing the connection");
			conn_break("unexpected answer from the queue process");
			return;
		}
	}
	if (r < 0) {
		log_error("malformed frame from the queue process; closing the "
		    "verification connection");
		conn_break("unexpected answer from the queue process");
		return;
	}
	if (vc.ipc.eof)
		conn_break("the queue process closed the connection");
}

/* on_req_event - r's answer, error, or timeout. */
static void
on_req_event(evutil_socket_t fd, short what, void *arg)
{
	struct verify_client_req *r = arg;

	(void)fd;
	(void)what;
	if (r->registered) {
		/* The timer: no answer in time. */
		tagmap_remove(&vc.reqs, &r->node);
		r->registered = false;
		r->error = "the queue process did not answer in time";
	}
	r->fn(r->ctx, r->st, r->dsn != NULL ? r->dsn : "", r->text != NULL ?
	    r->text : "", r->error);
}

struct verify_client_req *
verify_client_ask(struct event_base *base, const char *socket_path,
    const char *address, const char *service, unsigned wait_ms,
    verify_client_fn *fn, void *ctx, const char **error_r)
{
	struct verify_query q = { .address = UNCONST(address),
	    .service = UNCONST(service), .wait_ms = wait_ms };
	struct verify_client_req *r;
	struct ipc_out o;
	struct timeval tv;

	if (vc.sock >= 0 && (vc.base != base ||
	    strcmp(vc.path, socket_path) != 0))
		conn_break("the queue socket changed");
	if (vc.sock >= 0 && vc.reqs.count >= VERIFY_CONN_QUERIES_MAX) {
		*error_r = "too many address verification queries at once";
		return NULL;
	}
	do {
		q.tag = vc.next_tag++;
	} while (vc.sock >= 0 && tagmap_find(&vc.reqs, q.tag) != NULL);
	if (verify_query_encode(&q, &o) < 0) {
		*error_r = "the address cannot be sent to the queue process";
		return NULL;
	}
	if (vc.sock < 0 && conn_open(base, socket_path, error_r) < 0)
		return NULL;
	if (ipc_writer_put(&vc.out, QUEUE_MSG_VERIFY, &o, -1) < 0) {
		conn_break(errno == ENOBUFS ? "the queue process does not "
		    "read" : "lost the connection to the queue process");
		*error_r = "cannot send to the queue process";
		return NULL;
	}
	if (!vc.writing && ipc_writer_pending(&vc.out) > 0) {
		vc.writing = true;
		event_add(vc.wev, NULL);
	}
	r = xcalloc(1, sizeof(*r));
	r->node.tag = q.tag;
	r->fn = fn;
	r->ctx = ctx;
	r->ev = evtimer_new(base, on_req_event, r);
	if (r->ev == NULL)
		log_fatal("cannot create a verification timer");
	tv.tv_sec = wait_ms / 1000 + VERIFY_CLIENT_SLACK_SECONDS;
	tv.tv_usec = (wait_ms % 1000) * 1000;
	evtimer_add(r->ev, &tv);
	tagmap_insert(&vc.reqs, &r->node);
	r->registered = true;
	return r;
}

void
verify_client_cancel(struct verify_client_req **rp)
{
	struct verify_client_req *r = *rp;

	if (r == NULL)
		return;
	if (r->registered)
		tagmap_remove(&vc.reqs, &r->node);
	event_free(r->ev);
	free(r->dsn);
	free(r->text);
	free(r);
	*rp = NULL;
}
