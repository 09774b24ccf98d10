/* SPDX-License-Identifier: MIT */
/*
 * test_lookup_client - the lookup process's clients (src/common/
 * lookup_client.c) and the proxy: table type (src/maps/dict_proxy.c),
 * against a fake lookup process in the test.
 *
 * The fake answers by key: "found:VALUE" -> FOUND VALUE, "fail" ->
 * TEMPFAIL, anything else -> NOTFOUND; its mode makes it answer in
 * reverse order, close every connection, send garbage, or say nothing.
 * For the asynchronous client it runs on the same event loop; for the
 * blocking client and proxy: in a forked process.
 *
 * The fake answers FIND by echoing the request's fields (so the test
 * sees what went on the wire) and ROUTE with a small answer; the ROUTE
 * answer parser and formatter are tested on their own.
 *
 * What must hold: answers reach the right request, callbacks never run
 * inside lookup_client_get(), and every way of not getting an answer is
 * TEMPFAIL (never NOTFOUND; for ROUTE not even a NOTFOUND answer).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "dict.h"
#include "dict_proxy.h"
#include "ipc.h"
#include "lookup_client.h"
#include "lookup_proto.h"
#include "strv.h"
#include "test_support.h"
#include "xalloc.h"

extern const struct dict_type dict_type_proxy;

enum fake_mode {
	FAKE_ANSWER,
	FAKE_REVERSE,		/* answer each batch read in reverse order */
	FAKE_CLOSE,		/* close on the first request */
	FAKE_GARBAGE,		/* answer with an unknown status */
	FAKE_SILENT,		/* never answer */
	FAKE_ANSWER_CLOSE,	/* answer, then close the connection */
};

struct fake {
	struct event_base *base;
	char dir[64];
	char path[128];
	int lsock;
	struct event *lev;
	enum fake_mode mode;
	unsigned accepted;
	unsigned requests;
	struct fconn *conns[16];	/* open ones, freed at the end */
};

struct fconn {
	struct fake *f;
	int sock;
	struct event *ev;
	struct ipc_conn ipc;
};

static void
fconn_free(struct fconn *fc)
{
	for (size_t i = 0; i < 16; i++)
		if (fc->f->conns[i] == fc)
			fc->f->conns[i] = NULL;
	event_free(fc->ev);
	ipc_conn_deinit(&fc->ipc);
	close(fc->sock);
	free(fc);
}

static void
fake_answer(struct buf *out, const struct lookup_get *g)
{
	if (strncmp(g->key, "found:", 6) == 0)
		assert_int_equal(lookup_proto_put_reply(out, g->id,
		    LOOKUP_STATUS_FOUND, g->key + 6, strlen(g->key + 6)), 0);
	else if (strcmp(g->key, "fail") == 0)
		assert_int_equal(lookup_proto_put_reply(out, g->id,
		    LOOKUP_STATUS_TEMPFAIL, "fake: database down", 19), 0);
	else
		assert_int_equal(lookup_proto_put_reply(out, g->id,
		    LOOKUP_STATUS_NOTFOUND, "", 0), 0);
}

/*
 * A FIND: key "missing" -> NOTFOUND, "fail" -> TEMPFAIL, anything else
 * FOUND with the request's fields as the value
 * ("ORDER MFLAGS [DELIMS] TABLES KEY").
 */
static void
fake_answer_find(struct buf *out, const struct lookup_find *f)
{
	char v[16384];

	if (strcmp(f->key, "missing") == 0) {
		assert_int_equal(lookup_proto_put_reply(out, f->id,
		    LOOKUP_STATUS_NOTFOUND, "", 0), 0);
		return;
	}
	if (strcmp(f->key, "fail") == 0) {
		assert_int_equal(lookup_proto_put_reply(out, f->id,
		    LOOKUP_STATUS_TEMPFAIL, "fake: table down", 16), 0);
		return;
	}
	snprintf(v, sizeof(v), "%s %x [%s] %s %s",
	    lookup_find_order_name(f->order), f->mflags, f->delimiters,
	    f->tables, f->key);
	assert_int_equal(lookup_proto_put_reply(out, f->id,
	    LOOKUP_STATUS_FOUND, v, strlen(v)), 0);
}

/*
 * A ROUTE: address "notfound" -> NOTFOUND (which a ROUTE must never
 * get), "fail" -> TEMPFAIL, anything else an answer naming the
 * operation and service in its transport and next hop.
 */
static void
fake_answer_route(struct buf *out, const struct lookup_route *q)
{
	char v[4096];

	if (strcmp(q->address, "notfound") == 0) {
		assert_int_equal(lookup_proto_put_reply(out, q->id,
		    LOOKUP_STATUS_NOTFOUND, "", 0), 0);
		return;
	}
	if (strcmp(q->address, "fail") == 0) {
		assert_int_equal(lookup_proto_put_reply(out, q->id,
		    LOOKUP_STATUS_TEMPFAIL, "fake: alias loop", 16), 0);
		return;
	}
	snprintf(v, sizeof(v), "class=virtual\nflags=\naddress=%s\n"
	    "transport=%s\nnexthop=[%s]\n", q->address,
	    lookup_route_op_name(q->op), q->service);
	assert_int_equal(lookup_proto_put_reply(out, q->id,
	    LOOKUP_STATUS_FOUND, v, strlen(v)), 0);
}

static void
write_all(int sock, const void *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(sock, p, n);

		if (w < 0 && errno == EAGAIN)
			continue;
		assert_true(w > 0);
		p = (const char *)p + w;
		n -= (size_t)w;
	}
}

/* One request read by the fake: its id and its answer, built now. */
struct fake_req {
	uint32_t id;
	struct buf ans;
};

static void
on_fconn(evutil_socket_t fd, short what, void *arg)
{
	struct fconn *fc = arg;
	struct fake *f = fc->f;
	struct fake_req batch[64];
	size_t nb = 0;
	struct ipc_in in;
	uint32_t type;
	int pfd;
	struct buf out;

	if (ipc_conn_fill(&fc->ipc) < 0) {
		fconn_free(fc);
		return;
	}
	while (nb < 64 && ipc_conn_next(&fc->ipc, &type, &in, &pfd) == 1) {
		const char *err = NULL;
		struct fake_req *q = &batch[nb++];

		buf_init(&q->ans, 1 << 20);
		if (type == LOOKUP_MSG_GET) {
			struct lookup_get g;

			assert_int_equal(lookup_proto_get_decode(&in, &g,
			    &err), 0);
			q->id = g.id;
			fake_answer(&q->ans, &g);
			lookup_get_deinit(&g);
		} else if (type == LOOKUP_MSG_FIND) {
			struct lookup_find fi;

			assert_int_equal(lookup_proto_find_decode(&in, &fi,
			    &err), 0);
			q->id = fi.id;
			fake_answer_find(&q->ans, &fi);
			lookup_find_deinit(&fi);
		} else {
			struct lookup_route rq;

			assert_int_equal(type, LOOKUP_MSG_ROUTE);
			assert_int_equal(lookup_proto_route_decode(&in, &rq,
			    &err), 0);
			q->id = rq.id;
			fake_answer_route(&q->ans, &rq);
			lookup_route_deinit(&rq);
		}
		f->requests++;
	}
	if (nb > 0 && f->mode == FAKE_CLOSE) {
		for (size_t i = 0; i < nb; i++)
			buf_deinit(&batch[i].ans);
		fconn_free(fc);
		return;
	}
	buf_init(&out, 16 << 20);
	for (size_t k = 0; k < nb; k++) {
		size_t i = f->mode == FAKE_REVERSE ? nb - 1 - k : k;

		if (f->mode == FAKE_GARBAGE) {
			uint8_t bad[] = { 0, 0, 0, 2, 0, 0, 0, 12,
			    0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0, 0 };

			bad[11] = (uint8_t)batch[i].id;
			buf_append(&out, bad, sizeof(bad));
		} else if (f->mode != FAKE_SILENT) {
			buf_append(&out, batch[i].ans.data, batch[i].ans.len);
		}
		buf_deinit(&batch[i].ans);
	}
	if (out.len > 0)
		write_all(fc->sock, out.data, out.len);
	buf_deinit(&out);
	if ((nb > 0 && f->mode == FAKE_ANSWER_CLOSE) || fc->ipc.eof)
		fconn_free(fc);
}

static void
on_faccept(evutil_socket_t fd, short what, void *arg)
{
	struct fake *f = arg;
	struct fconn *fc;
	int s = accept4(f->lsock, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (s < 0)
		return;
	f->accepted++;
	fc = xcalloc(1, sizeof(*fc));
	fc->f = f;
	fc->sock = s;
	ipc_conn_init_max(&fc->ipc, s, LOOKUP_REQUEST_MAX_BYTES);
	fc->ev = event_new(f->base, s, EV_READ | EV_PERSIST, on_fconn, fc);
	event_add(fc->ev, NULL);
	for (size_t i = 0; i < 16; i++)
		if (f->conns[i] == NULL) {
			f->conns[i] = fc;
			break;
		}
}

/* fake_start - listen in a new temporary directory (no events yet). */
static void
fake_init(struct fake *f, enum fake_mode mode)
{
	struct sockaddr_un sun;

	memset(f, 0, sizeof(*f));
	f->mode = mode;
	snprintf(f->dir, sizeof(f->dir), "/tmp/ostia-lkc-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/lookup", f->dir);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, f->path, strlen(f->path) + 1);
	f->lsock = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	assert_true(f->lsock >= 0);
	assert_int_equal(bind(f->lsock, (struct sockaddr *)&sun, sizeof(sun)),
	    0);
	assert_int_equal(listen(f->lsock, 16), 0);
}

static void
fake_attach(struct fake *f, struct event_base *base)
{
	f->base = base;
	f->lev = event_new(base, f->lsock, EV_READ | EV_PERSIST, on_faccept,
	    f);
	event_add(f->lev, NULL);
}

static void
fake_deinit(struct fake *f)
{
	for (size_t i = 0; i < 16; i++)
		if (f->conns[i] != NULL)
			fconn_free(f->conns[i]);
	if (f->lev != NULL)
		event_free(f->lev);
	close(f->lsock);
	unlink(f->path);
	rmdir(f->dir);
}

/* ---------------------------------------------------------------- */
/* Asynchronous client                                              */

struct result {
	bool done;
	enum dict_status st;
	char text[2048];
	size_t len;
	struct lookup_client **free_me;	/* free the client from the cb */
};

static bool inside_get;
static unsigned ncallbacks;

static void
on_result(void *ctx, enum dict_status st, const char *text, size_t len)
{
	struct result *r = ctx;

	assert_false(inside_get);
	assert_false(r->done);
	r->done = true;
	r->st = st;
	r->len = len;
	snprintf(r->text, sizeof(r->text), "%s", text);
	ncallbacks++;
	if (r->free_me != NULL)
		lookup_client_free(r->free_me);
}

static struct lookup_request *
ask(struct lookup_client *lc, const char *table, const char *key,
    struct result *r)
{
	struct lookup_request *q;

	memset(r->text, 0, sizeof(r->text));
	r->done = false;
	inside_get = true;
	q = lookup_client_get(lc, table, key, 0, on_result, r);
	inside_get = false;
	return q;
}

/* run_until - loop until n callbacks ran (bounded number of turns). */
static void
run_until(struct event_base *base, unsigned n)
{
	for (int turns = 0; ncallbacks < n && turns < 100000; turns++)
		event_base_loop(base, EVLOOP_ONCE);
	assert_int_equal(ncallbacks, n);
}

static void
test_async_answers(void **state)
{
	struct event_base *base = event_base_new();
	struct fake f;
	struct lookup_client *lc;
	struct result r[4];

	fake_init(&f, FAKE_ANSWER);
	fake_attach(&f, base);
	lc = lookup_client_new(base, f.path);
	ncallbacks = 0;
	memset(&r, 0, sizeof(r));
	ask(lc, "texthash:/x", "found:b@example.com", &r[0]);
	ask(lc, "texthash:/x", "missing", &r[1]);
	ask(lc, "texthash:/x", "fail", &r[2]);
	ask(lc, "texthash:/x", "found:", &r[3]);
	assert_int_equal(lookup_client_pending(lc), 4);
	run_until(base, 4);
	assert_int_equal(r[0].st, DICT_FOUND);
	assert_string_equal(r[0].text, "b@example.com");
	assert_int_equal(r[0].len, 13);
	assert_int_equal(r[1].st, DICT_NOTFOUND);
	assert_int_equal(r[2].st, DICT_TEMPFAIL);
	assert_string_equal(r[2].text, "fake: database down");
	/* An empty value is a value. */
	assert_int_equal(r[3].st, DICT_FOUND);
	assert_int_equal(r[3].len, 0);
	assert_int_equal(lookup_client_pending(lc), 0);
	/* One connection for all of them. */
	assert_int_equal(f.accepted, 1);
	lookup_client_free(&lc);
	assert_null(lc);
	fake_deinit(&f);
	event_base_free(base);
}

static void
test_async_out_of_order(void **state)
{
	struct event_base *base = event_base_new();
	struct fake f;
	struct lookup_client *lc;
	struct result r[20];
	char key[32];

	fake_init(&f, FAKE_REVERSE);
	fake_attach(&f, base);
	lc = lookup_client_new(base, f.path);
	ncallbacks = 0;
	memset(&r, 0, sizeof(r));
	for (int i = 0; i < 20; i++) {
		snprintf(key, sizeof(key), "found:v%d", i);
		ask(lc, "t:x", key, &r[i]);
	}
	run_until(base, 20);
	for (int i = 0; i < 20; i++) {
		snprintf(key, sizeof(key), "v%d", i);
		assert_int_equal(r[i].st, DICT_FOUND);
		assert_string_equal(r[i].text, key);
	}
	lookup_client_free(&lc);
	fake_deinit(&f);
	event_base_free(base);
}

static void
test_async_lost_connection_is_tempfail(void **state)
{
	struct event_base *base = event_base_new();
	struct fake f;
	struct lookup_client *lc;
	struct result r[3];

	fake_init(&f, FAKE_CLOSE);
	fake_attach(&f, base);
	lc = lookup_client_new(base, f.path);
	ncallbacks = 0;
	memset(&r, 0, sizeof(r));
	ask(lc, "t:x", "found:x", &r[0]);
	ask(lc, "t:x", "missing", &r[1]);
	ask(lc, "t:x", "found:y", &r[2]);
	run_until(base, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(r[i].st, DICT_TEMPFAIL);
		assert_non_null(strstr(r[i].text, "closed the connection"));
	}
	/* Sent once more on a second connection, not more. */
	assert_int_equal(f.accepted, 2);
	/* The client is usable again: the next request reconnects. */
	f.mode = FAKE_ANSWER;
	ask(lc, "t:x", "found:back", &r[0]);
	run_until(base, 4);
	assert_int_equal(r[0].st, DICT_FOUND);
	assert_string_equal(r[0].text, "back");
	assert_int_equal(f.accepted, 3);
	lookup_client_free(&lc);
	fake_deinit(&f);
	event_base_free(base);
}

static void
test_async_retry_succeeds(void **state)
{
	struct event_base *base = event_base_new();
	struct fake f;
	struct lookup_client *lc;
	struct result r[2];

	/* The first connection answers one batch and closes (a lookup
	 * process replaced by a reload); later requests go on a new one. */
	fake_init(&f, FAKE_ANSWER_CLOSE);
	fake_attach(&f, base);
	lc = lookup_client_new(base, f.path);
	ncallbacks = 0;
	memset(&r, 0, sizeof(r));
	ask(lc, "t:x", "found:1", &r[0]);
	run_until(base, 1);
	assert_int_equal(r[0].st, DICT_FOUND);
	ask(lc, "t:x", "found:2", &r[1]);
	run_until(base, 2);
	assert_int_equal(r[1].st, DICT_FOUND);
	assert_string_equal(r[1].text, "2");
	assert_true(f.accepted >= 2);
	lookup_client_free(&lc);
	fake_deinit(&f);
	event_base_free(base);
}

static void
test_async_no_server(void **state)
{
	struct event_base *base = event_base_new();
	struct lookup_client *lc = lookup_client_new(base,
	    "/nonexistent/private/lookup");
	struct result r;

	ncallbacks = 0;
	memset(&r, 0, sizeof(r));
	ask(lc, "t:x", "found:x", &r);
	assert_false(r.done);
	run_until(base, 1);
	assert_int_equal(r.st, DICT_TEMPFAIL);
	assert_non_null(strstr(r.text, "cannot connect to the lookup "
	    "process"));
	lookup_client_free(&lc);
	event_base_free(base);
}

static void
test_async_garbage_and_silence(void **state)
{
	struct event_base *base = event_base_new();
	struct fake f;
	struct lookup_client *lc;
	struct result r[2];

	fake_init(&f, FAKE_GARBAGE);
	fake_attach(&f, base);
	lc = lookup_client_new(base, f.path);
	ncallbacks = 0;
	memset(&r, 0, sizeof(r));
	ask(lc, "t:x", "found:x", &r[0]);
	ask(lc, "t:x", "missing", &r[1]);
	run_until(base, 2);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(r[i].st, DICT_TEMPFAIL);
		assert_non_null(strstr(r[i].text, "malformed"));
	}
	lookup_client_free(&lc);

	f.mode = FAKE_SILENT;
	lc = lookup_client_new(base, f.path);
	lookup_client_set_timeout(lc, 20);
	ask(lc, "t:x", "found:x", &r[0]);
	run_until(base, 3);
	assert_int_equal(r[0].st, DICT_TEMPFAIL);
	assert_non_null(strstr(r[0].text, "did not answer"));
	lookup_client_free(&lc);
	fake_deinit(&f);
	event_base_free(base);
}

static void
test_async_local_verdicts(void **state)
{
	struct event_base *base = event_base_new();
	struct fake f;
	struct lookup_client *lc;
	struct result r[2];
	char *key = xmalloc(DICT_KEY_MAX_BYTES + 2);

	memset(key, 'k', DICT_KEY_MAX_BYTES + 1);
	key[DICT_KEY_MAX_BYTES + 1] = '\0';
	fake_init(&f, FAKE_ANSWER);
	fake_attach(&f, base);
	lc = lookup_client_new(base, f.path);
	ncallbacks = 0;
	memset(&r, 0, sizeof(r));
	/* Too long a key is "not found" without asking, as dict_get(). */
	ask(lc, "t:x", key, &r[0]);
	ask(lc, "", "k", &r[1]);
	run_until(base, 2);
	assert_int_equal(r[0].st, DICT_NOTFOUND);
	assert_int_equal(r[1].st, DICT_TEMPFAIL);
	assert_int_equal(f.requests, 0);
	lookup_client_free(&lc);
	fake_deinit(&f);
	event_base_free(base);
	free(key);
}

static void
test_async_cancel_and_free_in_callback(void **state)
{
	struct event_base *base = event_base_new();
	struct fake f;
	struct lookup_client *lc;
	struct lookup_request *q;
	struct result r[3];

	fake_init(&f, FAKE_ANSWER);
	fake_attach(&f, base);
	lc = lookup_client_new(base, f.path);
	ncallbacks = 0;
	memset(&r, 0, sizeof(r));
	q = ask(lc, "t:x", "found:cancelled", &r[0]);
	ask(lc, "t:x", "found:kept", &r[1]);
	lookup_client_cancel(q);
	assert_int_equal(lookup_client_pending(lc), 1);
	run_until(base, 1);
	assert_false(r[0].done);
	assert_true(r[1].done);
	/* A callback that frees the client while others wait. */
	r[0].free_me = &lc;
	ask(lc, "t:x", "found:first", &r[0]);
	ask(lc, "t:x", "found:second", &r[2]);
	run_until(base, 2);
	assert_null(lc);
	/* Give the loop a few turns: the second callback never comes. */
	for (int i = 0; i < 10; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	assert_false(r[2].done);
	assert_int_equal(ncallbacks, 2);
	fake_deinit(&f);
	event_base_free(base);
}

/* ---------------------------------------------------------------- */
/* FIND and ROUTE, asynchronous                                     */

static struct lookup_request *
ask_find(struct lookup_client *lc, const char *tables, const char *key,
    enum lookup_find_order order, unsigned mflags, const char *delims,
    struct result *r)
{
	struct lookup_request *q;

	memset(r->text, 0, sizeof(r->text));
	r->done = false;
	inside_get = true;
	q = lookup_client_find(lc, tables, key, order, mflags, delims,
	    on_result, r);
	inside_get = false;
	return q;
}

static struct lookup_request *
ask_route(struct lookup_client *lc, const char *service,
    enum lookup_route_op op, const char *address, struct result *r)
{
	struct lookup_request *q;

	memset(r->text, 0, sizeof(r->text));
	r->done = false;
	inside_get = true;
	q = lookup_client_route(lc, service, op, address, on_result, r);
	inside_get = false;
	return q;
}

static void
test_async_find_route(void **state)
{
	struct event_base *base = event_base_new();
	struct fake f;
	struct lookup_client *lc;
	struct lookup_route_answer a;
	struct result r[9];

	fake_init(&f, FAKE_REVERSE);
	fake_attach(&f, base);
	lc = lookup_client_new(base, f.path);
	ncallbacks = 0;
	memset(&r, 0, sizeof(r));
	ask_find(lc, "hash:/a, pcre:/b", "U+x@Example.COM",
	    LOOKUP_FIND_ADDRESS, MAPS_ADDR_USER | MAPS_ADDR_ACCESS, "+",
	    &r[0]);
	/* Delimiters go with the address order only. */
	ask_find(lc, "cidr:/c", "example.com", LOOKUP_FIND_DOMAIN,
	    MAPS_ADDR_PARENT_MATCHES_SUBDOMAINS | MAPS_ADDR_ACCESS, "+", &r[1]);
	/* Flags an order does not take are dropped, not refused. */
	ask_find(lc, "t:x", "missing", LOOKUP_FIND_EXACT, MAPS_ADDR_ACCESS |
	    MAPS_ADDR_PARENT_MATCHES_SUBDOMAINS, NULL, &r[2]);
	ask_find(lc, "t:x", "fail", LOOKUP_FIND_CLIENT_ADDR, 0, NULL, &r[3]);
	ask(lc, "t:x", "found:plain", &r[4]);
	ask_route(lc, "smtp/inet", LOOKUP_ROUTE_CHECK, "u@example.com",
	    &r[5]);
	ask_route(lc, NULL, LOOKUP_ROUTE_EXPAND, "", &r[6]);
	ask_route(lc, "", LOOKUP_ROUTE_RESOLVE, "notfound", &r[7]);
	ask_route(lc, "", LOOKUP_ROUTE_RESOLVE, "fail", &r[8]);
	assert_int_equal(lookup_client_pending(lc), 9);
	run_until(base, 9);
	/* One connection, answers matched by id although they came in
	 * reverse order. */
	assert_int_equal(f.accepted, 1);
	assert_int_equal(f.requests, 9);
	assert_int_equal(r[0].st, DICT_FOUND);
	assert_string_equal(r[0].text, "address 3 [+] hash:/a, pcre:/b "
	    "U+x@Example.COM");
	assert_int_equal(r[1].st, DICT_FOUND);
	assert_string_equal(r[1].text, "domain 4 [] cidr:/c example.com");
	assert_int_equal(r[2].st, DICT_NOTFOUND);
	assert_int_equal(r[3].st, DICT_TEMPFAIL);
	assert_string_equal(r[3].text, "fake: table down");
	assert_int_equal(r[4].st, DICT_FOUND);
	assert_string_equal(r[4].text, "plain");
	assert_int_equal(r[5].st, DICT_FOUND);
	assert_int_equal(lookup_route_answer_parse(r[5].text, r[5].len, &a),
	    0);
	assert_int_equal(a.cls, ROUTE_VIRTUAL);
	assert_string_equal(a.address, "u@example.com");
	assert_string_equal(a.transport, "check");
	assert_string_equal(a.nexthop, "[smtp/inet]");
	lookup_route_answer_deinit(&a);
	assert_int_equal(r[6].st, DICT_FOUND);
	assert_non_null(strstr(r[6].text, "nexthop=[]\n"));
	/* A ROUTE is never "not found": a failure, fail closed. */
	assert_int_equal(r[7].st, DICT_TEMPFAIL);
	assert_non_null(strstr(r[7].text, "not found"));
	assert_int_equal(r[8].st, DICT_TEMPFAIL);
	assert_string_equal(r[8].text, "fake: alias loop");
	lookup_client_free(&lc);
	fake_deinit(&f);
	event_base_free(base);
}

static void
test_async_find_route_local_verdicts(void **state)
{
	struct event_base *base = event_base_new();
	struct fake f;
	struct lookup_client *lc;
	struct result r[8];
	char *key = xmalloc(DICT_KEY_MAX_BYTES + 2);
	char *addr = xmalloc(ROUTE_ADDRESS_MAX_BYTES + 2);
	char *tables = xmalloc(LOOKUP_TABLES_MAX_BYTES + 2);
	char svc[LOOKUP_SERVICE_MAX_BYTES + 2];

	memset(key, 'k', DICT_KEY_MAX_BYTES + 1);
	key[DICT_KEY_MAX_BYTES + 1] = '\0';
	memset(addr, 'a', ROUTE_ADDRESS_MAX_BYTES + 1);
	addr[ROUTE_ADDRESS_MAX_BYTES + 1] = '\0';
	memset(tables, 't', LOOKUP_TABLES_MAX_BYTES + 1);
	tables[LOOKUP_TABLES_MAX_BYTES + 1] = '\0';
	memset(svc, 's', sizeof(svc) - 1);
	svc[sizeof(svc) - 1] = '\0';
	fake_init(&f, FAKE_ANSWER);
	fake_attach(&f, base);
	lc = lookup_client_new(base, f.path);
	ncallbacks = 0;
	memset(&r, 0, sizeof(r));
	ask_find(lc, "t:x", key, LOOKUP_FIND_EXACT, 0, NULL, &r[0]);
	ask_find(lc, "", "k", LOOKUP_FIND_EXACT, 0, NULL, &r[1]);
	ask_find(lc, tables, "k", LOOKUP_FIND_EXACT, 0, NULL, &r[2]);
	ask_find(lc, "t:x", "k", LOOKUP_FIND_ADDRESS, 1u << 9, NULL, &r[3]);
	ask_find(lc, "t:x", "k", (enum lookup_find_order)7, 0, NULL, &r[4]);
	ask_route(lc, "", LOOKUP_ROUTE_RESOLVE, addr, &r[5]);
	ask_route(lc, svc, LOOKUP_ROUTE_RESOLVE, "a@b", &r[6]);
	ask_route(lc, "", (enum lookup_route_op)0, "a@b", &r[7]);
	/* None of them is answered from inside the call. */
	for (int i = 0; i < 8; i++)
		assert_false(r[i].done);
	run_until(base, 8);
	/* A key no table can hold: not found, as dict_get() says. */
	assert_int_equal(r[0].st, DICT_NOTFOUND);
	for (int i = 1; i < 8; i++)
		assert_int_equal(r[i].st, DICT_TEMPFAIL);
	assert_non_null(strstr(r[1].text, "empty"));
	assert_non_null(strstr(r[2].text, "too long"));
	assert_non_null(strstr(r[5].text, "not routed"));
	assert_non_null(strstr(r[6].text, "service name"));
	assert_non_null(strstr(r[7].text, "unknown route operation"));
	assert_int_equal(f.requests, 0);
	lookup_client_free(&lc);
	fake_deinit(&f);
	event_base_free(base);
	free(key);
	free(addr);
	free(tables);
}

static void
test_async_find_route_resent_once(void **state)
{
	struct event_base *base = event_base_new();
	struct fake f;
	struct lookup_client *lc;
	struct result r[2];

	/* Closed on every request: sent once more, then TEMPFAIL. */
	fake_init(&f, FAKE_CLOSE);
	fake_attach(&f, base);
	lc = lookup_client_new(base, f.path);
	ncallbacks = 0;
	memset(&r, 0, sizeof(r));
	ask_find(lc, "t:x", "k", LOOKUP_FIND_DOMAIN, 0, NULL, &r[0]);
	ask_route(lc, "", LOOKUP_ROUTE_EXPAND, "a@b", &r[1]);
	run_until(base, 2);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(r[i].st, DICT_TEMPFAIL);
		assert_non_null(strstr(r[i].text, "closed the connection"));
	}
	assert_int_equal(f.accepted, 2);
	assert_int_equal(f.requests, 4);
	lookup_client_free(&lc);
	fake_deinit(&f);

	/* Answered, then closed: the next ones go on a new connection. */
	fake_init(&f, FAKE_ANSWER_CLOSE);
	fake_attach(&f, base);
	lc = lookup_client_new(base, f.path);
	ask_find(lc, "t:x", "k", LOOKUP_FIND_EXACT, 0, NULL, &r[0]);
	run_until(base, 3);
	assert_int_equal(r[0].st, DICT_FOUND);
	ask_route(lc, "", LOOKUP_ROUTE_RESOLVE, "a@b", &r[1]);
	run_until(base, 4);
	assert_int_equal(r[1].st, DICT_FOUND);
	assert_true(f.accepted >= 2);
	lookup_client_free(&lc);
	fake_deinit(&f);
	event_base_free(base);
}

/* ---------------------------------------------------------------- */
/* Blocking client and proxy:, with the fake in a child process     */

static pid_t
fake_fork(struct fake *f)
{
	pid_t pid = test_fork_helper();

	if (pid == 0) {
		struct event_base *base = event_base_new();

		fake_attach(f, base);
		event_base_dispatch(base);
		_exit(0);
	}
	return pid;
}

static void
fake_kill(struct fake *f, pid_t pid)
{
	int status;

	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	fake_deinit(f);
}

static void
test_sync(void **state)
{
	struct fake f;
	struct lookup_sync *s;
	struct buf v;
	char err[DICT_ERR_MAX_BYTES];
	pid_t pid;

	buf_init(&v, DICT_VALUE_MAX_BYTES);
	fake_init(&f, FAKE_ANSWER);
	pid = fake_fork(&f);
	s = lookup_sync_new(f.path, 10000);
	assert_int_equal(lookup_sync_get(s, "t:x", "found:abc", 0, &v, err,
	    sizeof(err)), DICT_FOUND);
	assert_string_equal(buf_cstr(&v), "abc");
	assert_int_equal(lookup_sync_get(s, "t:x", "missing", 0, &v, err,
	    sizeof(err)), DICT_NOTFOUND);
	assert_int_equal(v.len, 0);
	assert_int_equal(lookup_sync_get(s, "t:x", "fail", 0, &v, err,
	    sizeof(err)), DICT_TEMPFAIL);
	assert_string_equal(err, "fake: database down");
	lookup_sync_free(&s);
	assert_int_equal(lookup_query(f.path, "t:x", "found:once", 0, 10000,
	    &v, err, sizeof(err)), DICT_FOUND);
	assert_string_equal(buf_cstr(&v), "once");
	fake_kill(&f, pid);

	/* A server that closes: TEMPFAIL after one more try. */
	fake_init(&f, FAKE_CLOSE);
	pid = fake_fork(&f);
	assert_int_equal(lookup_query(f.path, "t:x", "found:x", 0, 10000, &v,
	    err, sizeof(err)), DICT_TEMPFAIL);
	assert_non_null(strstr(err, "closed the connection"));
	fake_kill(&f, pid);

	/* One that never answers: TEMPFAIL at the timeout. */
	fake_init(&f, FAKE_SILENT);
	pid = fake_fork(&f);
	assert_int_equal(lookup_query(f.path, "t:x", "found:x", 0, 30, &v,
	    err, sizeof(err)), DICT_TEMPFAIL);
	assert_non_null(strstr(err, "did not answer"));
	fake_kill(&f, pid);

	/* Nobody there. */
	assert_int_equal(lookup_query("/nonexistent/lookup", "t:x", "k", 0,
	    1000, &v, err, sizeof(err)), DICT_TEMPFAIL);
	assert_non_null(strstr(err, "cannot connect"));
	buf_deinit(&v);
}

static void
test_sync_find_route(void **state)
{
	struct fake f;
	struct lookup_sync *s;
	struct buf v;
	char err[DICT_ERR_MAX_BYTES];
	pid_t pid;

	buf_init(&v, DICT_VALUE_MAX_BYTES);
	fake_init(&f, FAKE_ANSWER);
	pid = fake_fork(&f);
	s = lookup_sync_new(f.path, 10000);
	assert_int_equal(lookup_sync_find(s, "a:b c:d", "x@y",
	    LOOKUP_FIND_ADDRESS, MAPS_ADDR_USER, "+-", LOOKUP_F_NOCACHE, &v,
	    err, sizeof(err)), DICT_FOUND);
	assert_string_equal(buf_cstr(&v), "address 1 [+-] a:b c:d x@y");
	assert_int_equal(lookup_sync_find(s, "a:b", "missing",
	    LOOKUP_FIND_EXACT, 0, NULL, 0, &v, err, sizeof(err)),
	    DICT_NOTFOUND);
	assert_int_equal(v.len, 0);
	assert_int_equal(lookup_sync_find(s, "a:b", "fail",
	    LOOKUP_FIND_CLIENT_ADDR, 0, NULL, 0, &v, err, sizeof(err)),
	    DICT_TEMPFAIL);
	assert_string_equal(err, "fake: table down");
	/* Refused before asking. */
	assert_int_equal(lookup_sync_find(s, "a:b", "k", LOOKUP_FIND_EXACT,
	    0, NULL, LOOKUP_F_VERIFY, &v, err, sizeof(err)), DICT_TEMPFAIL);
	assert_int_equal(lookup_sync_find(s, "a:b", "k", LOOKUP_FIND_EXACT,
	    1u << 20, NULL, 0, &v, err, sizeof(err)), DICT_TEMPFAIL);
	assert_int_equal(lookup_sync_find(s, "a:b", "k",
	    LOOKUP_FIND_CLIENT_ADDR, MAPS_ADDR_PARENT_MATCHES_SUBDOMAINS, "+",
	    0, &v, err, sizeof(err)), DICT_FOUND);
	assert_string_equal(buf_cstr(&v), "client 0 [] a:b k");
	assert_int_equal(lookup_sync_route(s, "relay", LOOKUP_ROUTE_EXPAND,
	    "a@b", 0, &v, err, sizeof(err)), DICT_FOUND);
	assert_non_null(strstr(buf_cstr(&v), "transport=expand\nnexthop="
	    "[relay]\n"));
	assert_int_equal(lookup_sync_route(s, "", LOOKUP_ROUTE_RESOLVE,
	    "notfound", 0, &v, err, sizeof(err)), DICT_TEMPFAIL);
	assert_non_null(strstr(err, "not found"));
	assert_int_equal(lookup_sync_route(s, NULL, LOOKUP_ROUTE_RESOLVE,
	    "fail", 0, &v, err, sizeof(err)), DICT_TEMPFAIL);
	assert_string_equal(err, "fake: alias loop");
	/* The GET still works on the same connection. */
	assert_int_equal(lookup_sync_get(s, "t:x", "found:abc", 0, &v, err,
	    sizeof(err)), DICT_FOUND);
	lookup_sync_free(&s);
	fake_kill(&f, pid);

	/* Nobody there: TEMPFAIL, never not found. */
	s = lookup_sync_new("/nonexistent/lookup", 1000);
	assert_int_equal(lookup_sync_find(s, "a:b", "k", LOOKUP_FIND_EXACT, 0,
	    NULL, 0, &v, err, sizeof(err)), DICT_TEMPFAIL);
	assert_int_equal(lookup_sync_route(s, "", LOOKUP_ROUTE_CHECK, "a@b",
	    0, &v, err, sizeof(err)), DICT_TEMPFAIL);
	assert_non_null(strstr(err, "cannot connect"));
	lookup_sync_free(&s);
	buf_deinit(&v);
}

/* ---------------------------------------------------------------- */
/* ROUTE answers                                                    */

static int
parse_str(const char *text, struct lookup_route_answer *a)
{
	return lookup_route_answer_parse(text, strlen(text), a);
}

static void
test_route_answer_parse(void **state)
{
	struct lookup_route_answer a;

	assert_int_equal(parse_str("class=virtual\nflags=routed,literal\n"
	    "address=u@example.com\ntransport=dovecot\nnexthop=\n"
	    "listed=no\ncode=550\ndsn=5.1.1\ntext=User unknown\n"
	    "future_name=whatever\n", &a), 0);
	assert_int_equal(a.cls, ROUTE_VIRTUAL);
	assert_int_equal(a.flags, ROUTE_F_ROUTED | ROUTE_F_LITERAL);
	assert_string_equal(a.address, "u@example.com");
	assert_string_equal(a.transport, "dovecot");
	assert_string_equal(a.nexthop, "");
	assert_true(a.has_listed);
	assert_false(a.listed);
	assert_int_equal(a.code, 550);
	assert_string_equal(a.dsn, "5.1.1");
	assert_string_equal(a.text, "User unknown");
	assert_null(a.rcpts);
	lookup_route_answer_deinit(&a);
	assert_null(a.address);

	/* Only class is required; the strings are then "". */
	assert_int_equal(parse_str("class=default\n", &a), 0);
	assert_int_equal(a.cls, ROUTE_DEFAULT);
	assert_int_equal(a.flags, 0);
	assert_string_equal(a.address, "");
	assert_string_equal(a.transport, "");
	assert_string_equal(a.text, "");
	assert_string_equal(a.dsn, "");
	assert_false(a.has_listed);
	assert_false(a.listed);
	lookup_route_answer_deinit(&a);

	/* Expansion results, in order; '=' may occur in a value. */
	assert_int_equal(parse_str("class=alias\nflags=postmaster\n"
	    "rcpt=a@x\nrcpt=b=c@y\nlisted=yes\n", &a), 0);
	assert_int_equal(a.cls, ROUTE_ALIAS);
	assert_int_equal(a.flags, ROUTE_F_POSTMASTER);
	assert_true(a.listed);
	assert_non_null(a.rcpts);
	assert_string_equal(a.rcpts[0], "a@x");
	assert_string_equal(a.rcpts[1], "b=c@y");
	assert_null(a.rcpts[2]);
	lookup_route_answer_deinit(&a);
	/* The null address expands to itself. */
	assert_int_equal(parse_str("class=local\nrcpt=\n", &a), 0);
	assert_string_equal(a.rcpts[0], "");
	assert_null(a.rcpts[1]);
	lookup_route_answer_deinit(&a);
	assert_int_equal(parse_str("class=local\ndsn=4.123.0\n", &a), 0);
	lookup_route_answer_deinit(&a);
	assert_int_equal(parse_str("class=relay\n", &a), 0);
	assert_int_equal(a.cls, ROUTE_RELAY);
	lookup_route_answer_deinit(&a);
}

static void
test_route_answer_malformed(void **state)
{
	static const char *const bad[] = {
		"",				/* no class */
		"flags=\n",			/* no class */
		"class=virtual",		/* no newline at the end */
		"class=virtual\n\n",		/* an empty line */
		"class=virtual\nflags\n",	/* no '=' */
		"class=virtual\n=x\n",		/* no name */
		"class=virtual\nAddress=x\n",	/* a name out of [a-z0-9_] */
		"class=virtual\nad dress=x\n",
		"class=Virtual\n",		/* unknown class */
		"class=\n",
		"class=virtual\nclass=relay\n",	/* twice */
		"class=virtual\naddress=a\naddress=b\n",
		"class=virtual\nflags=\nflags=\n",
		"class=virtual\nflags=routed,\n",	/* empty flag word */
		"class=virtual\nflags=,routed\n",
		"class=virtual\nflags=routed,,literal\n",
		"class=virtual\nflags=bogus\n",	/* unknown flag */
		"class=virtual\nlisted=maybe\n",
		"class=virtual\nlisted=yes\nlisted=no\n",
		"class=virtual\ncode=250\n",		/* not 4xx/5xx */
		"class=virtual\ncode=55\n",
		"class=virtual\ncode=5500\n",
		"class=virtual\ncode=5x0\n",
		"class=virtual\ncode=550\ncode=550\n",
		"class=virtual\ntext=a\ntext=b\n",
		"class=virtual\ndsn=5.1\n",		/* not X.Y.Z */
		"class=virtual\ndsn=3.1.1\n",
		"class=virtual\ndsn=5.1.1.1\n",
		"class=virtual\ndsn=5..1\n",
		"class=virtual\ndsn=5.1234.1\n",
		"class=virtual\ndsn=5.1.1 \n",
		"class=virtual\ndsn=5.1.1\ndsn=5.1.1\n",
		"class=virtual\naddress=a\rb\n",	/* CR in a value */
	};
	struct lookup_route_answer a;
	char *big = xmalloc(2 * ROUTE_ADDRESS_MAX_BYTES);
	size_t n;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse_str(bad[i], &a) != -1)
			fail_msg("accepted: \"%s\"", bad[i]);
		assert_null(a.address);
		assert_null(a.rcpts);
	}
	/* A NUL inside. */
	assert_int_equal(lookup_route_answer_parse("class=virtual\n\0x\n",
	    17, &a), -1);
	/* Each value at its limit and one past it. */
	for (int pass = 0; pass < 2; pass++) {
		static const struct {
			const char *name;
			size_t max;
		} lim[] = {
			{ "address", ROUTE_ADDRESS_MAX_BYTES },
			{ "nexthop", ROUTE_ADDRESS_MAX_BYTES },
			{ "rcpt", ROUTE_ADDRESS_MAX_BYTES },
			{ "transport", LOOKUP_ROUTE_TRANSPORT_MAX_BYTES },
			{ "text", LOOKUP_ROUTE_TEXT_MAX_BYTES },
		};

		for (size_t i = 0; i < sizeof(lim) / sizeof(lim[0]); i++) {
			n = (size_t)snprintf(big, 2 * ROUTE_ADDRESS_MAX_BYTES,
			    "class=local\n%s=", lim[i].name);
			memset(big + n, 'v', lim[i].max + (size_t)pass);
			n += lim[i].max + (size_t)pass;
			big[n++] = '\n';
			assert_int_equal(lookup_route_answer_parse(big, n, &a),
			    pass == 0 ? 0 : -1);
			lookup_route_answer_deinit(&a);
		}
	}
	/* Longer than any reply. */
	{
		char *huge = xmalloc(DICT_VALUE_MAX_BYTES + 2);

		memset(huge, 'x', DICT_VALUE_MAX_BYTES + 1);
		memcpy(huge, "class=local\nx=", 14);
		huge[DICT_VALUE_MAX_BYTES] = '\n';
		assert_int_equal(lookup_route_answer_parse(huge,
		    DICT_VALUE_MAX_BYTES + 1, &a), -1);
		assert_int_equal(lookup_route_answer_parse(huge,
		    DICT_VALUE_MAX_BYTES, &a), -1);	/* no final newline */
		huge[DICT_VALUE_MAX_BYTES - 1] = '\n';
		assert_int_equal(lookup_route_answer_parse(huge,
		    DICT_VALUE_MAX_BYTES, &a), 0);
		lookup_route_answer_deinit(&a);
		free(huge);
	}
	free(big);
}

static void
test_route_answer_format(void **state)
{
	char r1[] = "x@example.org", r2[] = "y@example.net";
	char *rcpts[] = { r1, r2, NULL };
	char address[] = "u%d@[192.0.2.1]", transport[] = "smtp";
	char nexthop[] = "[relay.example.com]:587";
	char text[] = "5.1.1 <u@x>: Recipient address rejected";
	char bad_lf[] = "a@b\nclass=local", bad_cr[] = "a\r@b", ok[] = "a@b";
	char empty_s[] = "", dsn[] = "5.1.1", bad_dsn[] = "5.1";
	struct lookup_route_answer in, out;
	const char *err = NULL;
	struct buf b;

	buf_init(&b, DICT_VALUE_MAX_BYTES);
	memset(&in, 0, sizeof(in));
	in.cls = ROUTE_RELAY;
	in.flags = ROUTE_F_ROUTED | ROUTE_F_POSTMASTER | ROUTE_F_LITERAL |
	    ROUTE_F_RELAYHOST | ROUTE_F_DEFAULT_TRANSPORT;
	in.address = address;
	in.transport = transport;
	in.nexthop = nexthop;
	in.has_listed = true;
	in.listed = false;
	in.code = 550;
	in.dsn = dsn;
	in.text = text;
	in.rcpts = rcpts;
	assert_int_equal(lookup_route_answer_format(&in, &b, &err), 0);
	assert_string_equal(buf_cstr(&b), "class=relay\n"
	    "flags=routed,postmaster,literal,relayhost,default-transport\n"
	    "address=u%d@[192.0.2.1]\ntransport=smtp\n"
	    "nexthop=[relay.example.com]:587\nlisted=no\ncode=550\n"
	    "dsn=5.1.1\ntext=5.1.1 <u@x>: Recipient address rejected\n"
	    "rcpt=x@example.org\nrcpt=y@example.net\n");
	assert_int_equal(lookup_route_answer_parse(b.data, b.len, &out), 0);
	assert_int_equal(out.cls, in.cls);
	assert_int_equal(out.flags, in.flags);
	assert_string_equal(out.address, address);
	assert_string_equal(out.transport, transport);
	assert_string_equal(out.nexthop, nexthop);
	assert_true(out.has_listed);
	assert_false(out.listed);
	assert_int_equal(out.code, 550);
	assert_string_equal(out.text, text);
	assert_string_equal(out.dsn, "5.1.1");
	assert_string_equal(out.rcpts[1], "y@example.net");
	lookup_route_answer_deinit(&out);

	/* Listed: no code, no text; NULL strings are empty values. */
	buf_reset(&b);
	memset(&in, 0, sizeof(in));
	in.cls = ROUTE_LOCAL;
	in.has_listed = true;
	in.listed = true;
	in.code = 550;
	assert_int_equal(lookup_route_answer_format(&in, &b, &err), 0);
	assert_string_equal(buf_cstr(&b), "class=local\nflags=\naddress=\n"
	    "transport=\nnexthop=\nlisted=yes\n");

	/* Refused, and nothing left in the buffer. */
	buf_reset(&b);
	assert_int_equal(buf_append_str(&b, "keep"), 0);
	in.address = bad_lf;
	assert_int_equal(lookup_route_answer_format(&in, &b, &err), -1);
	assert_non_null(strstr(err, "line break"));
	in.address = bad_cr;
	assert_int_equal(lookup_route_answer_format(&in, &b, &err), -1);
	in.address = ok;
	in.flags = 1u << 10;
	assert_int_equal(lookup_route_answer_format(&in, &b, &err), -1);
	in.flags = 0;
	in.listed = false;
	in.code = 250;
	assert_int_equal(lookup_route_answer_format(&in, &b, &err), -1);
	in.code = 450;
	in.cls = (enum route_class)17;
	assert_int_equal(lookup_route_answer_format(&in, &b, &err), -1);
	in.cls = ROUTE_LOCAL;
	{
		in.dsn = bad_dsn;
		assert_int_equal(lookup_route_answer_format(&in, &b, &err),
		    -1);
		in.dsn = NULL;
	}
	{
		char *longt = xmalloc(LOOKUP_ROUTE_TRANSPORT_MAX_BYTES + 2);

		memset(longt, 't', LOOKUP_ROUTE_TRANSPORT_MAX_BYTES + 1);
		longt[LOOKUP_ROUTE_TRANSPORT_MAX_BYTES + 1] = '\0';
		in.transport = longt;
		assert_int_equal(lookup_route_answer_format(&in, &b, &err),
		    -1);
		in.transport = NULL;
		free(longt);
	}
	assert_string_equal(buf_cstr(&b), "keep");
	/* The null address's expansion: one empty rcpt. */
	{
		char *empty[] = { empty_s, NULL };

		buf_reset(&b);
		in.rcpts = empty;
		in.has_listed = false;
		assert_int_equal(lookup_route_answer_format(&in, &b, &err), 0);
		assert_non_null(strstr(buf_cstr(&b), "\nrcpt=\n"));
		in.rcpts = NULL;
	}

	/* An expansion larger than a reply: refused as a whole. */
	{
		struct strv sv;
		char addr[64];

		strv_init(&sv);
		for (int i = 0; i < 4000; i++) {
			snprintf(addr, sizeof(addr), "recipient-%05d@example."
			    "org", i);
			strv_add(&sv, addr);
		}
		in.rcpts = sv.v;
		buf_reset(&b);
		assert_int_equal(lookup_route_answer_format(&in, &b, &err),
		    -1);
		assert_non_null(strstr(err, "too long"));
		assert_int_equal(b.len, 0);
		/* 1500 fit (33 bytes a line). */
		free(sv.v[1500]);
		sv.v[1500] = NULL;
		assert_int_equal(lookup_route_answer_format(&in, &b, &err),
		    0);
		assert_int_equal(lookup_route_answer_parse(b.data, b.len,
		    &out), 0);
		assert_string_equal(out.rcpts[1499], "recipient-01499@example."
		    "org");
		assert_null(out.rcpts[1500]);
		lookup_route_answer_deinit(&out);
		for (int i = 1501; i < 4000; i++)
			free(sv.v[i]);
		sv.v[1501] = NULL;
		strv_deinit(&sv);
	}
	buf_deinit(&b);
}

static void
test_dict_proxy(void **state)
{
	struct dict_open_opts opts;
	struct fake f;
	struct dict *d;
	struct buf v;
	char err[DICT_ERR_MAX_BYTES];
	pid_t pid;

	dict_open_opts_init(&opts);
	buf_init(&v, DICT_VALUE_MAX_BYTES);
	/* Syntax is checked at open, without connecting. */
	dict_proxy_set_socket("/nonexistent/lookup");
	assert_null(dict_open_type(&dict_type_proxy, "nosuchtype:/x", &opts,
	    err, sizeof(err)));
	assert_non_null(strstr(err, "unknown table type"));
	assert_null(dict_open_type(&dict_type_proxy, "proxy:static:x", &opts,
	    err, sizeof(err)));
	assert_null(dict_open_type(&dict_type_proxy, "static", &opts, err,
	    sizeof(err)));
	d = dict_open_type(&dict_type_proxy, "static:x", &opts, err,
	    sizeof(err));
	assert_non_null(d);
	assert_true(d->type->flags & DICT_TYPE_KEEP_CASE);
	/* No lookup process: a temporary failure, never "not found". */
	assert_int_equal(dict_get(d, "found:x", &v, err, sizeof(err)),
	    DICT_TEMPFAIL);
	assert_non_null(strstr(err, "proxy:static:x"));
	dict_close(d);

	fake_init(&f, FAKE_ANSWER);
	pid = fake_fork(&f);
	dict_proxy_set_socket(f.path);
	d = dict_open_type(&dict_type_proxy, "static:x", &opts, err,
	    sizeof(err));
	assert_non_null(d);
	/* The key goes as written (the lookup process folds). */
	assert_int_equal(dict_get(d, "found:MiXed", &v, err, sizeof(err)),
	    DICT_FOUND);
	assert_string_equal(buf_cstr(&v), "MiXed");
	assert_int_equal(dict_get(d, "nobody", &v, err, sizeof(err)),
	    DICT_NOTFOUND);
	assert_int_equal(dict_get(d, "fail", &v, err, sizeof(err)),
	    DICT_TEMPFAIL);
	assert_non_null(strstr(err, "database down"));
	dict_close(d);
	fake_kill(&f, pid);
	dict_proxy_set_socket(NULL);
	buf_deinit(&v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_async_answers),
		cmocka_unit_test(test_async_out_of_order),
		cmocka_unit_test(test_async_lost_connection_is_tempfail),
		cmocka_unit_test(test_async_retry_succeeds),
		cmocka_unit_test(test_async_no_server),
		cmocka_unit_test(test_async_garbage_and_silence),
		cmocka_unit_test(test_async_local_verdicts),
		cmocka_unit_test(test_async_cancel_and_free_in_callback),
		cmocka_unit_test(test_async_find_route),
		cmocka_unit_test(test_async_find_route_local_verdicts),
		cmocka_unit_test(test_async_find_route_resent_once),
		cmocka_unit_test(test_sync),
		cmocka_unit_test(test_sync_find_route),
		cmocka_unit_test(test_route_answer_parse),
		cmocka_unit_test(test_route_answer_malformed),
		cmocka_unit_test(test_route_answer_format),
		cmocka_unit_test(test_dict_proxy),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
