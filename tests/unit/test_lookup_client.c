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
 * What must hold: answers reach the right request, callbacks never run
 * inside lookup_client_get(), and every way of not getting an answer is
 * TEMPFAIL (never NOTFOUND).
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

static void
on_fconn(evutil_socket_t fd, short what, void *arg)
{
	struct fconn *fc = arg;
	struct fake *f = fc->f;
	struct lookup_get batch[64];
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

		assert_int_equal(type, LOOKUP_MSG_GET);
		assert_int_equal(lookup_proto_get_decode(&in, &batch[nb],
		    &err), 0);
		nb++;
		f->requests++;
	}
	if (nb > 0 && f->mode == FAKE_CLOSE) {
		for (size_t i = 0; i < nb; i++)
			lookup_get_deinit(&batch[i]);
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
			fake_answer(&out, &batch[i]);
		}
		lookup_get_deinit(&batch[i]);
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
	ipc_conn_init_max(&fc->ipc, s, LOOKUP_GET_MAX_BYTES);
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
/* Blocking client and proxy:, with the fake in a child process     */

static pid_t
fake_fork(struct fake *f)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
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
		cmocka_unit_test(test_sync),
		cmocka_unit_test(test_dict_proxy),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
