/* SPDX-License-Identifier: MIT */
/*
 * test_agent - the delivery agent framework (src/deliver/agent.c) with
 * the discard and error agents and fake ones, driven as the queue
 * manager drives it: agent_serve_fd on one end of a socketpair in a
 * libevent loop, REQ (with a real queue file written by queue_writer)
 * and RCPT frames sent on the other end, STATUS and DONE frames read
 * back and checked value by value, with the log lines.
 *
 * Also: several requests on one connection (and two sent at once); a
 * queue file that is not one, names another ID or is not a file; an
 * agent that forgets a recipient or gives a code of the wrong class; a
 * setup that refuses or picks root; a thousand recipients with long
 * texts (more than the socket takes at once); and every kind of bad
 * frame ends the connection.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "agent.h"
#include "buf.h"
#include "compat.h"
#include "deliver_proto.h"
#include "ipc.h"
#include "log.h"
#include "queue_file.h"
#include "strv.h"
#include "agent_test_support.h"
#include "test_support.h"
#include "xalloc.h"

#define ID1 AGENT_TEST_ID
#define ID2 "0123456789ABCDEG"
#define MSG "Received: from x\r\nSubject: hi\r\n\r\nhello\r\n"

/* ---- Log capture ---- */

static struct strv logged;

static void
capture(enum log_level level, const char *text, void *ctx)
{
	static const char *const names[] = { "panic", "fatal", "error",
	    "warning", "info", "debug" };

	strv_add_take(&logged, xasprintf("%s: %s", names[level], text));
}

/* log_count - how many captured lines contain word. */
static size_t
log_count(const char *word)
{
	size_t n = 0;

	for (size_t i = 0; i < logged.n; i++)
		if (strstr(logged.v[i], word) != NULL)
			n++;
	return n;
}

static void
print_log(void)
{
	for (size_t i = 0; i < logged.n; i++)
		print_message("log: %s\n", logged.v[i]);
}

/* ---- Queue files ---- */

/* The test message (agent_test_support.h); req_fill sets the transport
 * and next hop. */
static const struct agent_test_msg the_msg = {
	.sender = "alice@example.net",
	.queue_rcpt = "list@example.org",
	.queue_helo = "mx.example.net",
	.client_name = "mx.example.net",
	.client_addr = "192.0.2.7",
	.helo = "mx.example.net",
	.protocol = "ESMTP",
	.first_idx = 100,
};

/* queue_fd - a memfd holding a valid queue file of id. */
static int
queue_fd(const char *id, const char *content)
{
	return agent_test_queue_fd(&the_msg, id, content);
}

/* file_fd - a memfd holding len bytes of data. */
static int
file_fd(const void *data, size_t len)
{
	int fd = memfd_create("junk", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	return fd;
}

/* ---- The queue manager's side (agent_test_support.h) ---- */

static void
qmgr_deinit(struct agent_test_qmgr *q)
{
	agent_test_qmgr_clear(q);
	agent_test_qmgr_close(q);
}

static bool
eof_cond(void *arg)
{
	struct agent_test_qmgr *q = arg;

	agent_test_qmgr_read(q);
	return q->eof;
}

/* qmgr_wait - run the loop until ndone DONE frames came (in all). */
static void
qmgr_wait(struct agent_test_qmgr *q, size_t ndone)
{
	agent_test_qmgr_run(q, ndone);
	assert_false(q->bad);
	if (q->ndone != ndone)
		print_log();
	assert_int_equal(q->ndone, ndone);
}

/* qmgr_wait_eof - the agent must close the connection. */
static void
qmgr_wait_eof(struct agent_test_qmgr *q)
{
	test_run_until(q->base, eof_cond, q);
	assert_true(q->eof);
	assert_int_equal(q->ndone, 0);
}

/* req_fill - a request of ID1 by transport to nexthop for nrcpts
 * recipients userN@example.org (idx 100 + N), the first one originally
 * list@example.org. */
static void
req_fill(struct deliver_req *r, const char *transport, const char *nexthop,
    size_t nrcpts)
{
	struct agent_test_msg m = the_msg;

	m.transport = transport;
	m.nexthop = nexthop;
	agent_test_req_init(r, &m, nrcpts);
	for (size_t i = 0; i < nrcpts; i++) {
		char *address = xasprintf("user%zu@example.org", i);

		agent_test_req_rcpt(r, i, address, i == 0 ?
		    "list@example.org" : "");
		free(address);
	}
}

/* find - the status of idx (exactly one). */
static const struct agent_test_status *
find(const struct agent_test_qmgr *q, uint32_t idx)
{
	const struct agent_test_status *found = NULL;

	for (size_t i = 0; i < q->nsts; i++) {
		if (q->sts[i].idx != idx)
			continue;
		assert_null(found);
		found = &q->sts[i];
	}
	if (found == NULL)
		fail_msg("no status for idx %u", idx);
	return found;
}

static void
assert_status(const struct agent_test_qmgr *q, uint32_t idx,
    enum deliver_status st, const char *dsn, const char *text)
{
	const struct agent_test_status *s = find(q, idx);

	if (s->st != st || strcmp(s->dsn, dsn) != 0 ||
	    strcmp(s->text, text) != 0)
		fail_msg("idx %u: %d %s (%s), expected %d %s (%s)", idx,
		    (int)s->st, s->dsn, s->text, (int)st, dsn, text);
}

static void
setup_log(void)
{
	strv_init(&logged);
	log_set_capture(capture, NULL);
}

static void
teardown_log(void)
{
	log_set_capture(NULL, NULL);
	strv_deinit(&logged);
}

static int
group_setup(void **state)
{
	(void)state;
	log_init("ostia", "test", LOG_STYLE_DAEMON);
	/* Keep the output quiet: lines are captured. */
	log_use_fd(open("/dev/null", O_WRONLY | O_CLOEXEC));
	return 0;
}

static int
each_setup(void **state)
{
	(void)state;
	setup_log();
	return 0;
}

static int
each_teardown(void **state)
{
	(void)state;
	teardown_log();
	return 0;
}

/* ---- discard and error ---- */

static void
test_discard(void **state)
{
	struct agent_ctx a = { 0 };
	struct deliver_req r;
	struct agent_test_qmgr q;

	(void)state;
	agent_test_qmgr_open(&q, &agent_discard, &a);
	req_fill(&r, "discard", "", 2);
	agent_test_send_req(&q, &r, queue_fd(ID1, MSG));
	qmgr_wait(&q, 1);
	assert_int_equal(q.nsts, 2);
	assert_status(&q, 100, DELIVER_OK, "2.0.0", "discarded");
	assert_status(&q, 101, DELIVER_OK, "2.0.0", "discarded");
	assert_string_equal(find(&q, 100)->remote, "");
	/* One log line per recipient, Postfix style. */
	if (log_count("status=sent") != 2)
		print_log();
	assert_int_equal(log_count("info: " ID1 ": to=<user0@example.org>, "
	    "orig_to=<list@example.org>, relay=none, delay="), 1);
	assert_int_equal(log_count("info: " ID1 ": to=<user1@example.org>, "
	    "relay=none, delay="), 1);
	assert_int_equal(log_count(", dsn=2.0.0, status=sent (discarded)"),
	    2);

	/* The connection carries the next request; nexthop is the text. */
	agent_test_qmgr_clear(&q);
	free(r.nexthop);
	r.nexthop = xstrdup("spam from a known source");
	agent_test_send_req(&q, &r, queue_fd(ID1, MSG));
	qmgr_wait(&q, 1);
	assert_status(&q, 100, DELIVER_OK, "2.0.0",
	    "spam from a known source");
	assert_status(&q, 101, DELIVER_OK, "2.0.0",
	    "spam from a known source");
	deliver_req_free(&r);
	qmgr_deinit(&q);
	assert_int_equal(log_count("error:"), 0);
	assert_int_equal(log_count("warning:"), 0);
}

static void
test_error(void **state)
{
	static const struct {
		const char *transport;
		const char *nexthop;
		enum deliver_status st;
		const char *dsn;
		const char *text;
	} cases[] = {
		{ "error", "mailbox disabled", DELIVER_BOUNCE, "5.0.0",
		    "mailbox disabled" },
		{ "error", "5.1.1 no such user", DELIVER_BOUNCE, "5.1.1",
		    "no such user" },
		{ "error", "4.7.1 try again later", DELIVER_DEFER, "4.7.1",
		    "try again later" },
		{ "error", "4xx not yet", DELIVER_DEFER, "4.0.0",
		    "4xx not yet" },
		{ "error", "5.1.1", DELIVER_BOUNCE, "5.1.1",
		    "mail for this recipient is refused" },
		{ "error", "", DELIVER_BOUNCE, "5.0.0",
		    "mail for this recipient is refused" },
		{ "error", "5.1.1x what", DELIVER_BOUNCE, "5.0.0",
		    "5.1.1x what" },
		{ "retry", "", DELIVER_DEFER, "4.0.0",
		    "delivery temporarily suspended" },
		{ "retry", "link down", DELIVER_DEFER, "4.0.0", "link down" },
		{ "retry", "5.2.1 full", DELIVER_DEFER, "4.2.1", "full" },
		{ "my-error", "mailbox disabled", DELIVER_BOUNCE, "5.0.0",
		    "mailbox disabled" },
	};
	struct agent_ctx a = { 0 };
	struct agent_test_qmgr q;

	(void)state;
	agent_test_qmgr_open(&q, &agent_error, &a);
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct deliver_req r;

		agent_test_qmgr_clear(&q);
		req_fill(&r, cases[i].transport, cases[i].nexthop, 1);
		agent_test_send_req(&q, &r, queue_fd(ID1, MSG));
		qmgr_wait(&q, 1);
		assert_int_equal(q.nsts, 1);
		print_message("case %zu: %s\n", i, cases[i].nexthop);
		assert_status(&q, 100, cases[i].st, cases[i].dsn,
		    cases[i].text);
		deliver_req_free(&r);
	}
	assert_true(log_count("status=bounced (mailbox disabled)") == 2);
	assert_true(log_count("dsn=4.2.1, status=deferred (full)") == 1);
	qmgr_deinit(&q);
}

/* ---- A fake agent ---- */

static struct {
	char *content;		/* what deliver() saw */
	char *sender;
	size_t calls;
	bool skip_second;	/* no result for rcpts[1] */
	bool bad_dsn;		/* "5.1.1" for an OK result */
	bool long_text;		/* DELIVER_FIELD_MAX bytes and more */
	int setup;		/* 0: ok; 1: refuse; 2: choose root */
} fake;

static int
fake_setup(struct agent_ctx *a, uid_t *uid_r, gid_t *gid_r, char **error_r)
{
	if (fake.setup == 1) {
		*error_r = xstrdup("virtual_uid_maps must be static:N");
		return -1;
	}
	if (fake.setup == 2)
		*uid_r = 0;
	else if (fake.setup == 3)
		*gid_r = 0;
	else
		*uid_r = 4242;
	return 0;
}

static void
fake_deliver(struct agent_ctx *a, const struct deliver_req *req,
    const struct deliver_msg *msg, struct agent_results *res)
{
	fake.calls++;
	free(fake.content);
	free(fake.sender);
	fake.content = xstrndup(msg->content, msg->len);
	fake.sender = xstrdup(msg->env.sender);
	for (size_t i = 0; i < req->nrcpts; i++) {
		if (fake.skip_second && i == 1)
			continue;
		if (fake.long_text) {
			char *t = xmalloc(DELIVER_FIELD_MAX + 200);

			memset(t, 'x', DELIVER_FIELD_MAX + 199);
			t[DELIVER_FIELD_MAX + 199] = '\0';
			t[5] = '\n';
			agent_set_result(res, i, DELIVER_DEFER, "4.2.2", t,
			    "%s", t);
			free(t);
			continue;
		}
		agent_set_result(res, i, DELIVER_OK, fake.bad_dsn ? "5.1.1" :
		    "2.1.5", "lmtp; 250 2.1.5 ok",
		    "delivered to %s\r\nX-Injected: yes", req->rcpts[i].address);
	}
	/* Out of range: ignored with a warning. */
	agent_set_result(res, req->nrcpts, DELIVER_OK, NULL, NULL, "x");
	assert_false(agent_has_result(res, req->nrcpts));
}

static const char *
fake_relay(struct agent_ctx *a, const struct deliver_req *req)
{
	return "127.0.0.1[127.0.0.1]:24";
}

static const struct agent_def fake_agent = {
	.command = "fake",
	.setup = fake_setup,
	.deliver = fake_deliver,
	.relay = fake_relay,
};

static void
fake_reset(void)
{
	free(fake.content);
	free(fake.sender);
	memset(&fake, 0, sizeof(fake));
}

static void
test_fake_message(void **state)
{
	struct agent_ctx a = { 0 };
	struct deliver_req r;
	struct agent_test_qmgr q;

	(void)state;
	fake_reset();
	agent_test_qmgr_open(&q, &fake_agent, &a);
	req_fill(&r, "dovecot", "", 3);
	agent_test_send_req(&q, &r, queue_fd(ID1, MSG));
	qmgr_wait(&q, 1);
	assert_int_equal(fake.calls, 1);
	assert_string_equal(fake.content, MSG);
	assert_string_equal(fake.sender, "alice@example.net");
	assert_int_equal(q.nsts, 3);
	/* The text is made one line. */
	assert_status(&q, 101, DELIVER_OK, "2.1.5",
	    "delivered to user1@example.org  X-Injected: yes");
	assert_string_equal(find(&q, 102)->remote, "lmtp; 250 2.1.5 ok");
	assert_int_equal(log_count("relay=127.0.0.1[127.0.0.1]:24, "), 3);
	assert_int_equal(log_count("warning: fake agent: result for "
	    "recipient 3 of 3 ignored"), 1);
	deliver_req_free(&r);
	qmgr_deinit(&q);
	fake_reset();
}

static void
test_fake_missing_and_bad_dsn(void **state)
{
	struct agent_ctx a = { 0 };
	struct deliver_req r;
	struct agent_test_qmgr q;

	(void)state;
	fake_reset();
	fake.skip_second = true;
	fake.bad_dsn = true;
	agent_test_qmgr_open(&q, &fake_agent, &a);
	req_fill(&r, "dovecot", "", 3);
	agent_test_send_req(&q, &r, queue_fd(ID1, MSG));
	qmgr_wait(&q, 1);
	assert_int_equal(q.nsts, 3);
	assert_status(&q, 100, DELIVER_OK, "2.0.0",
	    "delivered to user0@example.org  X-Injected: yes");
	assert_status(&q, 101, DELIVER_DEFER, "4.3.0",
	    "internal error: the agent gave no result");
	assert_int_equal(log_count("error: " ID1 ": the fake agent gave no "
	    "result for 1 of 3 recipients"), 1);
	assert_int_equal(log_count("status code \"5.1.1\" does not fit a "
	    "sent result; using 2.0.0"), 2);
	deliver_req_free(&r);
	qmgr_deinit(&q);
	fake_reset();
}

/* A thousand statuses of about 2 KiB: more than a socket buffer. */
static void
test_fake_many(void **state)
{
	struct agent_ctx a = { 0 };
	struct deliver_req r;
	struct agent_test_qmgr q;

	(void)state;
	fake_reset();
	fake.long_text = true;
	agent_test_qmgr_open(&q, &fake_agent, &a);
	req_fill(&r, "dovecot", "", DELIVER_RCPTS_MAX);
	agent_test_send_req(&q, &r, queue_fd(ID1, MSG));
	qmgr_wait(&q, 1);
	assert_int_equal(q.nsts, DELIVER_RCPTS_MAX);
	for (size_t i = 0; i < DELIVER_RCPTS_MAX; i++) {
		const struct agent_test_status *s = find(&q,
		    (uint32_t)(100 + i));

		assert_int_equal(s->st, DELIVER_DEFER);
		assert_string_equal(s->dsn, "4.2.2");
		/* Cut to the field's limit, one line. */
		assert_int_equal(strlen(s->text), DELIVER_FIELD_MAX);
		assert_int_equal(strlen(s->remote), DELIVER_FIELD_MAX);
		assert_null(strchr(s->text, '\n'));
		assert_int_equal(s->text[5], ' ');
	}
	/* And the connection still works. */
	agent_test_qmgr_clear(&q);
	deliver_req_free(&r);
	fake.long_text = false;
	req_fill(&r, "dovecot", "", 1);
	agent_test_send_req(&q, &r, queue_fd(ID1, MSG));
	qmgr_wait(&q, 1);
	assert_int_equal(q.nsts, 1);
	deliver_req_free(&r);
	qmgr_deinit(&q);
	fake_reset();
}

/* Two whole requests sent before the agent reads anything. */
static void
test_two_at_once(void **state)
{
	struct agent_ctx a = { 0 };
	struct deliver_req r1, r2;
	struct agent_test_qmgr q;

	(void)state;
	fake_reset();
	agent_test_qmgr_open(&q, &fake_agent, &a);
	req_fill(&r1, "dovecot", "", 2);
	req_fill(&r2, "dovecot", "", 2);
	r2.rcpts[0].idx = 200;
	r2.rcpts[1].idx = 201;
	agent_test_send_req(&q, &r1, queue_fd(ID1, MSG));
	agent_test_send_req(&q, &r2, queue_fd(ID1, MSG));
	qmgr_wait(&q, 2);
	assert_int_equal(fake.calls, 2);
	assert_int_equal(q.nsts, 4);
	find(&q, 100);
	find(&q, 201);
	deliver_req_free(&r1);
	deliver_req_free(&r2);
	qmgr_deinit(&q);
	fake_reset();
}

/* ---- Queue files that do not load ---- */

static void
test_bad_queue_files(void **state)
{
	static const char junk[] = "this is not a queue file";
	struct agent_ctx a = { 0 };
	struct deliver_req r;
	struct agent_test_qmgr q;
	int p[2];
	struct {
		int fd;
		const char *text;
	} cases[4];

	(void)state;
	fake_reset();
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	close(p[1]);
	cases[0].fd = file_fd(junk, sizeof(junk) - 1);
	cases[0].text = "queue file unreadable: not a valid queue file: ";
	cases[1].fd = queue_fd(ID2, MSG);
	cases[1].text = "queue file unreadable: the file holds another "
	    "queue ID";
	cases[2].fd = p[0];
	cases[2].text = "queue file unreadable: the descriptor is not a "
	    "regular file";
	cases[3].fd = file_fd("", 0);
	cases[3].text = "queue file unreadable: impossible size (0 bytes";
	agent_test_qmgr_open(&q, &fake_agent, &a);
	req_fill(&r, "dovecot", "", 2);
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		agent_test_qmgr_clear(&q);
		agent_test_send_req(&q, &r, cases[i].fd);
		qmgr_wait(&q, 1);
		assert_int_equal(q.nsts, 2);
		for (uint32_t k = 100; k < 102; k++) {
			const struct agent_test_status *s = find(&q, k);

			assert_int_equal(s->st, DELIVER_DEFER);
			assert_string_equal(s->dsn, "4.3.0");
			if (strncmp(s->text, cases[i].text,
			    strlen(cases[i].text)) != 0)
				fail_msg("case %zu: %s", i, s->text);
		}
	}
	/* deliver() never ran; each failure was logged as an error. */
	assert_int_equal(fake.calls, 0);
	assert_int_equal(log_count("error: " ID1 ": queue file unreadable"),
	    4);
	assert_int_equal(log_count("status=deferred (queue file "
	    "unreadable"), 8);
	deliver_req_free(&r);
	qmgr_deinit(&q);
	fake_reset();
}

/* ---- Setup: refusal and root ---- */

static void
test_setup(void **state)
{
	struct agent_ctx a = { 0 };
	struct deliver_req r;
	struct agent_test_qmgr q;
	uid_t uid;
	gid_t gid;

	(void)state;
	fake_reset();
	/* A user is chosen. */
	uid = 1000;
	gid = 1000;
	assert_int_equal(agent_prepare(&fake_agent, &a, &uid, &gid), 0);
	assert_int_equal(uid, 4242);
	assert_int_equal(gid, 1000);
	assert_null(a.refusal);
	/* No setup: the preset user. */
	assert_int_equal(agent_prepare(&agent_discard, &a, &uid, &gid), 0);
	assert_int_equal(uid, 4242);

	/* Root is refused, by uid or by gid. */
	for (int which = 2; which <= 3; which++) {
		fake.setup = which;
		uid = 1000;
		gid = 1000;
		assert_int_equal(agent_prepare(&fake_agent, &a, &uid, &gid),
		    -1);
		assert_int_equal(uid, 1000);
		assert_int_equal(gid, 1000);
		assert_non_null(a.refusal);
		assert_non_null(strstr(a.refusal, "root"));
	}
	assert_int_equal(log_count("error: service fake: the fake agent "
	    "would run as uid 0 gid 1000"), 1);
	assert_int_equal(log_count("error: service fake: the fake agent "
	    "would run as uid 1000 gid 0"), 1);

	/* Every request is then deferred 4.3.5 with the reason. */
	agent_test_qmgr_open(&q, &fake_agent, &a);
	req_fill(&r, "dovecot", "", 2);
	agent_test_send_req(&q, &r, queue_fd(ID1, MSG));
	qmgr_wait(&q, 1);
	assert_int_equal(fake.calls, 0);
	assert_int_equal(q.nsts, 2);
	assert_string_equal(find(&q, 101)->dsn, "4.3.5");
	assert_int_equal(find(&q, 101)->st, DELIVER_DEFER);
	assert_string_equal(find(&q, 101)->text, a.refusal);

	/* A setup that refuses: its reason. */
	fake.setup = 1;
	assert_int_equal(agent_prepare(&fake_agent, &a, &uid, &gid), -1);
	assert_string_equal(a.refusal, "virtual_uid_maps must be static:N");
	agent_test_qmgr_clear(&q);
	agent_test_send_req(&q, &r, queue_fd(ID1, MSG));
	qmgr_wait(&q, 1);
	assert_status(&q, 100, DELIVER_DEFER, "4.3.5",
	    "virtual_uid_maps must be static:N");
	assert_int_equal(fake.calls, 0);
	deliver_req_free(&r);
	qmgr_deinit(&q);
	free(a.refusal);
	fake_reset();
}

/* ---- Bad frames end the connection ---- */

enum bad_kind {
	BAD_REQ_NO_FD,		/* REQ without the queue file */
	BAD_RCPT_FIRST,		/* RCPT before any REQ */
	BAD_DONE,		/* a frame the agent never receives */
	BAD_UNKNOWN_TYPE,
	BAD_REQ_FIELD,		/* REQ that does not decode */
	BAD_RCPT_FIELD,		/* RCPT that does not decode */
	BAD_RCPT_FD,		/* RCPT with a descriptor */
	BAD_TOO_MANY,		/* RCPT after the announced ones: is
				 * taken as a new request */
	BAD_OVERSIZED,		/* a frame longer than allowed */
	BAD_REQ_TWICE,		/* REQ while recipients are expected */
};

static void
send_bad(struct agent_test_qmgr *q, enum bad_kind kind)
{
	struct deliver_req r;
	struct ipc_out o;

	req_fill(&r, "discard", "", 2);
	switch (kind) {
	case BAD_REQ_NO_FD:
		assert_int_equal(deliver_req_encode(&r, &o), 0);
		agent_test_send_frame(q, DELIVER_MSG_REQ, &o, -1);
		break;
	case BAD_RCPT_FIRST:
		assert_int_equal(deliver_rcpt_encode(&r.rcpts[0], &o), 0);
		agent_test_send_frame(q, DELIVER_MSG_RCPT, &o, -1);
		break;
	case BAD_DONE:
		agent_test_send_frame(q, DELIVER_MSG_DONE, NULL, -1);
		break;
	case BAD_UNKNOWN_TYPE:
		ipc_out_init(&o);
		agent_test_send_frame(q, 99, &o, -1);
		break;
	case BAD_REQ_FIELD:
		free(r.transport);
		r.transport = xstrdup("ok");
		assert_int_equal(deliver_req_encode(&r, &o), 0);
		/* "ok" -> "o/" */
		o.data[4 + 4 + QUEUE_ID_LEN + 4 + 1] = '/';
		agent_test_send_frame(q, DELIVER_MSG_REQ, &o, queue_fd(ID1,
		    MSG));
		break;
	case BAD_RCPT_FIELD:
		assert_int_equal(deliver_req_encode(&r, &o), 0);
		agent_test_send_frame(q, DELIVER_MSG_REQ, &o, queue_fd(ID1,
		    MSG));
		assert_int_equal(deliver_rcpt_encode(&r.rcpts[0], &o), 0);
		o.data[o.len - 1] = 0x10;	/* notify 16 */
		agent_test_send_frame(q, DELIVER_MSG_RCPT, &o, -1);
		break;
	case BAD_RCPT_FD:
		assert_int_equal(deliver_req_encode(&r, &o), 0);
		agent_test_send_frame(q, DELIVER_MSG_REQ, &o, queue_fd(ID1,
		    MSG));
		assert_int_equal(deliver_rcpt_encode(&r.rcpts[0], &o), 0);
		agent_test_send_frame(q, DELIVER_MSG_RCPT, &o, queue_fd(ID1,
		    MSG));
		break;
	case BAD_TOO_MANY:
		r.nrcpts = 1;
		assert_int_equal(deliver_req_encode(&r, &o), 0);
		agent_test_send_frame(q, DELIVER_MSG_REQ, &o, queue_fd(ID1,
		    MSG));
		assert_int_equal(deliver_rcpt_encode(&r.rcpts[0], &o), 0);
		agent_test_send_frame(q, DELIVER_MSG_RCPT, &o, -1);
		agent_test_send_frame(q, DELIVER_MSG_RCPT, &o, -1);
		r.nrcpts = 2;
		break;
	case BAD_OVERSIZED: {
		uint8_t hdr[IPC_HEADER_BYTES] = { 0, 0, 0, 1, 0, 0, 0x10, 1 };

		test_write_all(q->sock, hdr, sizeof(hdr));
		break;
	}
	case BAD_REQ_TWICE:
		assert_int_equal(deliver_req_encode(&r, &o), 0);
		agent_test_send_frame(q, DELIVER_MSG_REQ, &o, queue_fd(ID1,
		    MSG));
		agent_test_send_frame(q, DELIVER_MSG_REQ, &o, queue_fd(ID1,
		    MSG));
		break;
	}
	deliver_req_free(&r);
}

static void
test_bad_frames(void **state)
{
	static const enum bad_kind kinds[] = {
		BAD_REQ_NO_FD, BAD_RCPT_FIRST, BAD_DONE, BAD_UNKNOWN_TYPE,
		BAD_REQ_FIELD, BAD_RCPT_FIELD, BAD_RCPT_FD, BAD_TOO_MANY,
		BAD_OVERSIZED, BAD_REQ_TWICE,
	};

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(kinds); i++) {
		struct agent_ctx a = { 0 };
		struct agent_test_qmgr q;
		size_t errors = log_count("error:");

		print_message("bad frame kind %d\n", (int)kinds[i]);
		agent_test_qmgr_open(&q, &agent_discard, &a);
		send_bad(&q, kinds[i]);
		if (kinds[i] == BAD_TOO_MANY) {
			/* The request itself is answered first. */
			agent_test_qmgr_run(&q, 1);
			assert_int_equal(q.nsts, 1);
			q.ndone = 0;
		}
		qmgr_wait_eof(&q);
		/* Why is logged, as an error. */
		assert_true(log_count("error:") > errors);
		qmgr_deinit(&q);
	}
}

/* The queue manager goes away in the middle of a request. */
static void
test_eof_mid_request(void **state)
{
	struct agent_ctx a = { 0 };
	struct deliver_req r;
	struct ipc_out o;
	struct agent_test_qmgr q;

	(void)state;
	agent_test_qmgr_open(&q, &agent_discard, &a);
	req_fill(&r, "discard", "", 2);
	assert_int_equal(deliver_req_encode(&r, &o), 0);
	agent_test_send_frame(&q, DELIVER_MSG_REQ, &o, queue_fd(ID1, MSG));
	assert_int_equal(deliver_rcpt_encode(&r.rcpts[0], &o), 0);
	agent_test_send_frame(&q, DELIVER_MSG_RCPT, &o, -1);
	test_run_for(q.base, 20);
	assert_int_equal(agent_busy(), 1);
	/* qmgr_deinit closes our end and checks the agent is idle. */
	deliver_req_free(&r);
	qmgr_deinit(&q);
	assert_int_equal(log_count("warning: " ID1 ": the queue manager "
	    "closed the connection in the middle of a request"), 1);
}

/* ---- Lookup of agents and programs ---- */

static void
test_find(void **state)
{
	(void)state;
	assert_ptr_equal(agent_find("discard"), &agent_discard);
	assert_ptr_equal(agent_find("error"), &agent_error);
	assert_ptr_equal(agent_find("/usr/lib/postfix/sbin/error"),
	    &agent_error);
	assert_ptr_equal(agent_find("virtual"), &agent_virtual);
	assert_ptr_equal(agent_find("pipe"), &agent_pipe);
	assert_ptr_equal(agent_find("lmtp"), &agent_lmtp);
	assert_ptr_equal(agent_find("smtp"), &agent_smtp);
	assert_ptr_equal(agent_find("/usr/lib/postfix/sbin/smtp"),
	    &agent_smtp);
	assert_null(agent_find("smtpd"));
	assert_null(agent_find("discard/"));
	assert_null(agent_find(""));
	assert_null(agent_find("Discard"));
	for (size_t i = 0; i < 5; i++) {
		static const char *const names[] = { "discard", "error",
		    "virtual", "pipe", "lmtp" };
		const struct child_program *p =
		    agent_program(agent_find(names[i]));

		assert_non_null(p);
		assert_string_equal(p->name, names[i]);
		assert_non_null(p->accept_fn);
		assert_non_null(p->choose_user);
		assert_non_null(p->active);
	}
	assert_null(agent_program(&fake_agent));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_discard, each_setup,
		    each_teardown),
		cmocka_unit_test_setup_teardown(test_error, each_setup,
		    each_teardown),
		cmocka_unit_test_setup_teardown(test_fake_message, each_setup,
		    each_teardown),
		cmocka_unit_test_setup_teardown(test_fake_missing_and_bad_dsn,
		    each_setup, each_teardown),
		cmocka_unit_test_setup_teardown(test_fake_many, each_setup,
		    each_teardown),
		cmocka_unit_test_setup_teardown(test_two_at_once, each_setup,
		    each_teardown),
		cmocka_unit_test_setup_teardown(test_bad_queue_files,
		    each_setup, each_teardown),
		cmocka_unit_test_setup_teardown(test_setup, each_setup,
		    each_teardown),
		cmocka_unit_test_setup_teardown(test_bad_frames, each_setup,
		    each_teardown),
		cmocka_unit_test_setup_teardown(test_eof_mid_request,
		    each_setup, each_teardown),
		cmocka_unit_test_setup_teardown(test_find, each_setup,
		    each_teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
