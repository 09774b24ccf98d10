/* SPDX-License-Identifier: MIT */
/*
 * agent_test_support - the queue manager's side of a delivery agent for
 * the agents' unit tests; see agent_test_support.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "agent_test_support.h"
#include "compat.h"
#include "queue_file.h"
#include "test_support.h"
#include "strv.h"
#include "xalloc.h"

int
agent_test_queue_fd(const struct agent_test_msg *m, const char *id,
    const char *content)
{
	struct queue_envelope env;
	struct queue_writer w;
	int fd = memfd_create("queue", MFD_CLOEXEC);

	assert_true(fd >= 0);
	memset(&env, 0, sizeof(env));
	env.id = xstrdup(id);
	env.arrival = xstrdup("1717171717.250000");
	env.client_name = xstrdup("mx.example.net");
	env.client_addr = xstrdup("192.0.2.7");
	env.helo = xstrdup(m->queue_helo);
	env.protocol = xstrdup("ESMTP");
	env.service = xstrdup("smtp");
	env.sender = xstrdup(m->sender);
	queue_envelope_add_rcpt(&env, m->queue_rcpt, NULL, NULL);
	queue_writer_init(&w, fd);
	assert_int_equal(queue_writer_envelope(&w, &env), 0);
	assert_int_equal(queue_writer_content(&w, content, strlen(content)),
	    0);
	assert_int_equal(queue_writer_finish(&w), 0);
	queue_writer_deinit(&w);
	queue_envelope_deinit(&env);
	return fd;
}

void
agent_test_req_init(struct deliver_req *r, const struct agent_test_msg *m,
    size_t nrcpts)
{
	memset(r, 0, sizeof(*r));
	r->queue_id = xstrdup(AGENT_TEST_ID);
	r->transport = xstrdup(m->transport);
	r->nexthop = xstrdup(m->nexthop);
	r->sender = xstrdup(m->sender);
	r->envid = xstrdup("");
	r->ret = xstrdup("");
	r->arrival = 1717171717;
	r->client_name = xstrdup(m->client_name);
	r->client_addr = xstrdup(m->client_addr);
	r->helo = xstrdup(m->helo);
	r->protocol = xstrdup(m->protocol);
	r->sasl_user = xstrdup("");
	r->nrcpts = nrcpts;
	r->rcpts = xcalloc(nrcpts, sizeof(*r->rcpts));
	for (size_t i = 0; i < nrcpts; i++) {
		r->rcpts[i].idx = (uint32_t)(m->first_idx + i);
		r->rcpts[i].address = xstrdup("");
		r->rcpts[i].orig_rcpt = xstrdup("");
		r->rcpts[i].orcpt = xstrdup("");
	}
}

void
agent_test_req_rcpt(struct deliver_req *r, size_t i, const char *address,
    const char *orig_rcpt)
{
	assert_true(i < r->nrcpts);
	free(r->rcpts[i].address);
	free(r->rcpts[i].orig_rcpt);
	r->rcpts[i].address = xstrdup(address);
	r->rcpts[i].orig_rcpt = xstrdup(orig_rcpt);
}

void
agent_test_qmgr_open(struct agent_test_qmgr *q, const struct agent_def *def,
    struct agent_ctx *a)
{
	int sv[2];

	memset(q, 0, sizeof(*q));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
	q->base = event_base_new();
	assert_non_null(q->base);
	q->sock = sv[0];
	evutil_make_socket_nonblocking(q->sock);
	ipc_conn_init(&q->ipc, q->sock);
	agent_serve_fd(def, a, q->base, sv[1]);
}

void
agent_test_qmgr_read(struct agent_test_qmgr *q)
{
	struct ipc_in in;
	uint32_t type;
	int fd, r;

	if (ipc_conn_fill_once(&q->ipc) < 0) {
		q->eof = true;
		return;
	}
	while ((r = ipc_conn_next(&q->ipc, &type, &in, &fd)) == 1) {
		struct deliver_result res;
		struct agent_test_status *s;
		const char *err = NULL;

		if (fd >= 0) {
			close(fd);
			q->bad = true;
		} else if (type == DELIVER_MSG_STATUS) {
			if (deliver_result_decode(&in, &res, &err) < 0) {
				print_message("bad status: %s\n", err);
				q->bad = true;
				continue;
			}
			q->sts = xreallocarray(q->sts, q->nsts + 1,
			    sizeof(*q->sts));
			s = &q->sts[q->nsts++];
			s->idx = res.idx;
			s->st = res.status;
			s->dsn = res.dsn;
			s->remote = res.remote;
			s->text = res.text;
			s->fwd = NULL;
			if (q->fwd != NULL) {
				/* Forwards go with a success, just before
				 * the status of their recipient. */
				if (q->fwd_idx != res.idx ||
				    res.status != DELIVER_OK)
					q->bad = true;
				s->fwd = q->fwd;
				q->fwd = NULL;
			}
		} else if (type == DELIVER_MSG_FORWARD) {
			struct deliver_forward f;

			if (deliver_forward_decode(&in, &f, &err) < 0 ||
			    (q->fwd != NULL && q->fwd_idx != f.idx)) {
				q->bad = true;
				deliver_forward_free(&f);
				continue;
			}
			q->fwd_idx = f.idx;
			q->fwd = strv_append(q->fwd, f.address);
			deliver_forward_free(&f);
		} else if (type == DELIVER_MSG_DONE && ipc_in_done(&in)) {
			q->ndone++;
		} else {
			q->bad = true;
		}
	}
	if (r < 0)
		q->bad = true;
	if (q->ipc.eof)
		q->eof = true;
}

struct wait_done {
	struct agent_test_qmgr *q;
	size_t ndone;
};

static bool
done_cond(void *arg)
{
	struct wait_done *w = arg;

	agent_test_qmgr_read(w->q);
	return w->q->ndone >= w->ndone || w->q->eof;
}

void
agent_test_qmgr_run(struct agent_test_qmgr *q, size_t ndone)
{
	struct wait_done w = { q, ndone };

	test_run_until(q->base, done_cond, &w);
}

void
agent_test_qmgr_clear(struct agent_test_qmgr *q)
{
	for (size_t i = 0; i < q->nsts; i++) {
		free(q->sts[i].dsn);
		free(q->sts[i].remote);
		free(q->sts[i].text);
		strv_free(&q->sts[i].fwd);
	}
	strv_free(&q->fwd);
	free(q->sts);
	q->sts = NULL;
	q->nsts = 0;
	q->ndone = 0;
}

static bool
agent_idle(void *arg)
{
	(void)arg;
	return agent_busy() == 0;
}

void
agent_test_qmgr_close(struct agent_test_qmgr *q)
{
	ipc_conn_deinit(&q->ipc);
	if (q->sock >= 0)
		close(q->sock);
	q->sock = -1;
	/* Let the agent see the end of the stream and free its side. */
	test_run_until(q->base, agent_idle, NULL);
	test_run_for(q->base, 10);
	event_base_free(q->base);
	q->base = NULL;
}

void
agent_test_send_frame(struct agent_test_qmgr *q, uint32_t type,
    const struct ipc_out *o, int fd)
{
	uint8_t frame[IPC_HEADER_BYTES + IPC_PAYLOAD_MAX_BYTES];
	size_t len = o != NULL ? o->len : 0, off = 0;
	time_t start = time(NULL);

	if (fd >= 0) {
		if (ipc_send(q->sock, type, o, fd) < 0)
			fail_msg("ipc_send: %s", strerror(errno));
		return;
	}
	for (int i = 0; i < 4; i++) {
		frame[i] = (uint8_t)(type >> (24 - 8 * i));
		frame[4 + i] = (uint8_t)(len >> (24 - 8 * i));
	}
	if (len > 0)
		memcpy(frame + IPC_HEADER_BYTES, o->data, len);
	len += IPC_HEADER_BYTES;
	while (off < len) {
		ssize_t n = send(q->sock, frame + off, len - off,
		    MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			fail_msg("send: %s", strerror(errno));
		assert_true(time(NULL) - start < 10);
		event_base_loop(q->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	}
}

void
agent_test_send_req(struct agent_test_qmgr *q, const struct deliver_req *r,
    int fd)
{
	struct ipc_out o;

	assert_int_equal(deliver_req_encode(r, &o), 0);
	agent_test_send_frame(q, DELIVER_MSG_REQ, &o, fd);
	if (fd >= 0)
		close(fd);
	for (size_t i = 0; i < r->nrcpts; i++) {
		assert_int_equal(deliver_rcpt_encode(&r->rcpts[i], &o), 0);
		agent_test_send_frame(q, DELIVER_MSG_RCPT, &o, -1);
	}
}

void
agent_test_deliver(struct agent_test_qmgr *q, const struct agent_def *def,
    struct agent_ctx *a, const struct deliver_req *r, int fd)
{
	agent_test_qmgr_open(q, def, a);
	agent_test_send_req(q, r, fd);
	agent_test_qmgr_run(q, 1);
	assert_false(q->bad);
	assert_int_equal(q->ndone, 1);
	assert_int_equal(q->nsts, r->nrcpts);
	agent_test_qmgr_close(q);
}

const struct agent_test_status *
agent_test_status_of(const struct agent_test_qmgr *q, uint32_t idx)
{
	for (size_t i = 0; i < q->nsts; i++)
		if (q->sts[i].idx == idx)
			return &q->sts[i];
	fail_msg("no status for rcpt %u", idx);
	abort();
}

void
agent_test_expect(const struct agent_test_qmgr *q, uint32_t idx,
    enum deliver_status st, const char *dsn, const char *text_part)
{
	const struct agent_test_status *s = agent_test_status_of(q, idx);

	if (s->st != st || strcmp(s->dsn, dsn) != 0 ||
	    strstr(s->text, text_part) == NULL)
		fail_msg("rcpt %u: %d %s (%s), want %d %s (...%s...)", idx,
		    (int)s->st, s->dsn, s->text, (int)st, dsn, text_part);
}

char *
agent_test_maildir_file(const char *maildir)
{
	char *newdir = xasprintf("%s/new", maildir), *data = NULL;
	DIR *d = opendir(newdir);
	struct dirent *e;
	int n = 0;

	if (d != NULL) {
		while ((e = readdir(d)) != NULL) {
			char *p;

			if (e->d_name[0] == '.')
				continue;
			n++;
			p = xasprintf("%s/%s", newdir, e->d_name);
			free(data);
			data = test_read_file(p, NULL);
			free(p);
		}
		closedir(d);
	}
	assert_true(n <= 1);
	free(newdir);
	return data;
}
