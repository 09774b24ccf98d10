/* SPDX-License-Identifier: MIT */
/*
 * test_agent_virtual - the virtual delivery agent (src/deliver/
 * agent_virtual.c) as the queue manager drives it (agent_serve_fd on a
 * socketpair, a real queue file), with a fake lookup process (a forked
 * process on $dir/private/lookup; the test's working directory is $dir,
 * as queue_directory is the agents').
 *
 * The fake answers FIND from a fixed table, and TEMPFAIL when the
 * request is not what the agent must send (the virtual_mailbox_maps
 * value, the address order, recipient_delimiter), so a wrong request
 * shows as a deferral.  It notes each connection in $dir/connections:
 * the agent keeps one.
 *
 * Checked: setup's uid/gid from static: maps and its refusals (uid or
 * gid 0, below virtual_minimum_uid, other map types, no base, no maps);
 * the Maildir file (Return-Path:, Delivered-To:, LF line ends) for a
 * found recipient; unknown (5.1.1), lookup failure (4.3.0), mbox value,
 * ".." or an absolute path outside the base (4.3.5), a Delivered-To:
 * loop (5.4.6), virtual_mailbox_limit (5.2.2), a missing base (4.3.5).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent.h"
#include "buf.h"
#include "compat.h"
#include "config.h"
#include "deliver_proto.h"
#include "diag.h"
#include "ipc.h"
#include "log.h"
#include "lookup_proto.h"
#include "queue_file.h"
#include "strv.h"
#include "agent_test_support.h"
#include "test_support.h"
#include "xalloc.h"

#define ID1 AGENT_TEST_ID
#define MAPS "texthash:/etc/ostia/vmailbox"

static char dir[64];
static pid_t fake_pid;

/* ---- Scratch directory ---- */


/* ---- The fake lookup process ---- */

static void
write_all(int fd, const void *p, size_t n)
{
	while (n > 0) {
		ssize_t k = write(fd, p, n);

		if (k <= 0)
			_exit(3);
		p = (const char *)p + k;
		n -= (size_t)k;
	}
}

/* fake_answer - the REPLY for one FIND. */
static void
fake_answer(struct buf *out, const struct lookup_find *f)
{
	static const struct {
		const char *key, *value;
	} table[] = {
		{ "alice@vmail.test", "vmail.test/alice/" },
		{ "bob@vmail.test", "vmail.test/bob/" },
		{ "mbox@vmail.test", "vmail.test/mbox" },
		{ "dotdot@vmail.test", "vmail.test/../../etc/" },
		{ "abs@vmail.test", "/etc/x/" },
		{ "empty@vmail.test", "" },
	};
	char *why = NULL, *absin = NULL;

	if (f->order != LOOKUP_FIND_ADDRESS)
		why = xasprintf("bad request: order %d", (int)f->order);
	else if (strcmp(f->tables, MAPS) != 0)
		why = xasprintf("bad request: tables %s", f->tables);
	else if (strcmp(f->delimiters, "+") != 0)
		why = xasprintf("bad request: delimiters %s", f->delimiters);
	else if (f->mflags != 0)
		why = xasprintf("bad request: mflags %u", f->mflags);
	if (why != NULL) {
		(void)lookup_proto_put_reply(out, f->id,
		    LOOKUP_STATUS_TEMPFAIL, why, strlen(why));
		free(why);
		return;
	}
	if (strcmp(f->key, "fail@vmail.test") == 0) {
		(void)lookup_proto_put_reply(out, f->id,
		    LOOKUP_STATUS_TEMPFAIL, "database down", 13);
		return;
	}
	if (strcmp(f->key, "absin@vmail.test") == 0) {
		absin = xasprintf("%s/vmail/abs/in/", dir);
		(void)lookup_proto_put_reply(out, f->id, LOOKUP_STATUS_FOUND,
		    absin, strlen(absin));
		free(absin);
		return;
	}
	for (size_t i = 0; i < N_ELEMENTS(table); i++) {
		if (strcmp(f->key, table[i].key) == 0) {
			(void)lookup_proto_put_reply(out, f->id,
			    LOOKUP_STATUS_FOUND, table[i].value,
			    strlen(table[i].value));
			return;
		}
	}
	(void)lookup_proto_put_reply(out, f->id, LOOKUP_STATUS_NOTFOUND, "",
	    0);
}

static void
fake_serve(int lfd)
{
	for (;;) {
		int c = accept(lfd, NULL, NULL);
		struct ipc_conn ic;
		char *log;
		int logfd;

		if (c < 0)
			continue;
		log = xasprintf("%s/connections", dir);
		logfd = open(log, O_WRONLY | O_APPEND | O_CREAT, 0644);
		if (logfd >= 0) {
			write_all(logfd, "c\n", 2);
			close(logfd);
		}
		free(log);
		ipc_conn_init_max(&ic, c, LOOKUP_REQUEST_MAX_BYTES);
		while (!ic.eof && ipc_conn_fill_once(&ic) == 0) {
			struct ipc_in in;
			uint32_t type;
			int fd;

			while (ipc_conn_next(&ic, &type, &in, &fd) == 1) {
				struct lookup_find f;
				struct buf out;
				const char *err = NULL;

				if (type != LOOKUP_MSG_FIND ||
				    lookup_proto_find_decode(&in, &f,
				    &err) < 0)
					_exit(4);
				buf_init(&out, 1 << 20);
				fake_answer(&out, &f);
				write_all(c, out.data, out.len);
				buf_deinit(&out);
				lookup_find_deinit(&f);
			}
		}
		ipc_conn_deinit(&ic);
		close(c);
	}
}

static void
fake_start(void)
{
	struct sockaddr_un sun;
	char *priv = xasprintf("%s/private", dir);
	int lfd;

	assert_int_equal(mkdir(priv, 0700), 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/private/lookup",
	    dir);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(lfd, 16), 0);
	fake_pid = test_fork_helper();
	if (fake_pid == 0)
		fake_serve(lfd);
	close(lfd);
	free(priv);
}

/* connections - how many connections the fake took. */
static int
connections(void)
{
	char *p = xasprintf("%s/connections", dir);
	size_t len = 0;
	char *data;
	int n = 0;

	if (access(p, F_OK) < 0) {
		free(p);
		return 0;
	}
	data = test_read_file(p, &len);
	for (size_t i = 0; i < len; i++)
		if (data[i] == '\n')
			n++;
	free(data);
	free(p);
	return n;
}

static int
setup(void **state)
{
	char *vmail;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/ostia-virtual-XXXXXX");
	assert_non_null(mkdtemp(dir));
	vmail = xasprintf("%s/vmail", dir);
	assert_int_equal(mkdir(vmail, 0755), 0);
	free(vmail);
	fake_start();
	assert_int_equal(chdir(dir), 0);
	log_init("ostia", "test", LOG_STYLE_DAEMON);
	log_use_fd(open("/dev/null", O_WRONLY | O_CLOEXEC));
	return 0;
}

static int
teardown(void **state)
{
	int status;

	(void)state;
	assert_int_equal(chdir("/"), 0);
	kill(fake_pid, SIGKILL);
	waitpid(fake_pid, &status, 0);
	test_remove_tree(dir);
	return 0;
}

/* ---- Configuration ---- */

/* load - main.cf of the standard settings plus extra lines. */
static struct config *
load(const char *extra)
{
	struct diag_list dl;
	struct config *cf;
	char *text = xasprintf("queue_directory = %s\n"
	    "virtual_mailbox_base = %s/vmail/\n"
	    "virtual_mailbox_maps = " MAPS "\n"
	    "virtual_uid_maps = static:4321\n"
	    "virtual_gid_maps = static:4322\n"
	    "recipient_delimiter = +\n"
	    "%s", dir, dir, extra);

	diag_list_init(&dl);
	cf = config_load_text(dir, text, strlen(text), NULL, 0,
	    CONFIG_LOAD_NO_MASTER | CONFIG_LOAD_QUIET, &dl);
	if (cf == NULL) {
		test_print_diags(&dl);
		fail_msg("configuration refused");
	}
	diag_list_deinit(&dl);
	free(text);
	return cf;
}

static const struct master_service virtual_service = {
	.name = UNCONST("virtual"),
	.type = MASTER_TYPE_UNIX,
	.command = UNCONST("virtual"),
};

/* prepare - agent_prepare with cf's main view; its result. */
static int
prepare(struct agent_ctx *a, const struct config *cf, uid_t *uid,
    gid_t *gid)
{
	memset(a, 0, sizeof(*a));
	a->view = config_main(cf);
	a->service = &virtual_service;
	*uid = 1111;
	*gid = 1112;
	return agent_prepare(&agent_virtual, a, uid, gid);
}

/* release - free what setup keeps (a setup without a view). */
static void
release(struct agent_ctx *a)
{
	uid_t uid = 1111;
	gid_t gid = 1112;

	a->view = NULL;
	(void)agent_prepare(&agent_virtual, a, &uid, &gid);
	free(a->refusal);
	a->refusal = NULL;
}

/* ---- The queue manager's side ---- */

/* The test message (agent_test_support.h). */
static const struct agent_test_msg the_msg = {
	.sender = "sender@example.net",
	.queue_rcpt = "x@vmail.test",
	.queue_helo = "helo.example.net",
	.transport = "virtual",
	.nexthop = "vmail.test",
	.client_name = "",
	.client_addr = "",
	.helo = "",
	.protocol = "",
	.first_idx = 0,
};

/* deliver - one request for rcpts (idx 0..n-1, originally themselves)
 * with the message content, answered into q. */
static void
deliver(struct agent_test_qmgr *q, struct agent_ctx *a,
    const char *const *rcpts, size_t n, const char *content)
{
	struct deliver_req r;

	agent_test_req_init(&r, &the_msg, n);
	for (size_t i = 0; i < n; i++)
		agent_test_req_rcpt(&r, i, rcpts[i], rcpts[i]);
	agent_test_deliver(q, &agent_virtual, a, &r,
	    agent_test_queue_fd(&the_msg, ID1, content));
	deliver_req_free(&r);
}

/* maildir_file - the one message file in base/sub/new (caller frees
 * the contents), or NULL when there is none. */
static char *
maildir_file(const char *sub)
{
	char *maildir = xasprintf("%s/vmail/%s", dir, sub);
	char *data = agent_test_maildir_file(maildir);

	free(maildir);
	return data;
}

#define MSG "Received: from x\r\nSubject: hi\r\n\r\nhello\r\n"

/* ---- Tests ---- */

static void
test_setup_user(void **state)
{
	struct config *cf = load("virtual_minimum_uid = 100\n");
	struct agent_ctx a;
	uid_t uid;
	gid_t gid;

	(void)state;
	assert_int_equal(prepare(&a, cf, &uid, &gid), 0);
	assert_null(a.refusal);
	assert_int_equal(uid, 4321);
	assert_int_equal(gid, 4322);
	release(&a);
	config_free(&cf);
	/* static:{N} is the same. */
	cf = load("virtual_uid_maps = static:{4400}\n");
	assert_int_equal(prepare(&a, cf, &uid, &gid), 0);
	assert_int_equal(uid, 4400);
	release(&a);
	config_free(&cf);
}

static void
test_setup_refusals(void **state)
{
	static const struct {
		const char *extra;
		const char *words;
	} cases[] = {
		{ "virtual_uid_maps = static:0\n", "static:0" },
		{ "virtual_gid_maps = static:0\n", "gid 0" },
		{ "virtual_minimum_uid = 5000\n", "uid 4321, below "
		    "virtual_minimum_uid (5000)" },
		{ "virtual_uid_maps = hash:/etc/ostia/uids\n", "only static: "
		    "virtual_uid_maps are supported" },
		{ "virtual_uid_maps = static:4321, static:4322\n",
		    "several tables" },
		{ "virtual_uid_maps = static:vmail\n", "write static:N" },
		{ "virtual_uid_maps =\n", "virtual_uid_maps is empty" },
		{ "virtual_gid_maps =\n", "virtual_gid_maps is empty" },
		{ "virtual_mailbox_base =\n", "virtual_mailbox_base is empty" },
		{ "virtual_mailbox_base = vmail\n", "must be an absolute path" },
		{ "virtual_mailbox_base = /var/../vmail\n", "without \"..\"" },
		{ "virtual_mailbox_maps =\n", "virtual_mailbox_maps is empty" },
	};
	const char *rcpts[] = { "alice@vmail.test" };

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct config *cf = load(cases[i].extra);
		struct agent_ctx a;
		struct agent_test_qmgr q;
		uid_t uid;
		gid_t gid;

		assert_int_equal(prepare(&a, cf, &uid, &gid), -1);
		assert_int_equal(uid, 1111);
		assert_non_null(a.refusal);
		if (strstr(a.refusal, cases[i].words) == NULL)
			fail_msg("\"%s\": refusal \"%s\" lacks \"%s\"",
			    cases[i].extra, a.refusal, cases[i].words);
		deliver(&q, &a, rcpts, 1, MSG);
		agent_test_expect(&q, 0, DELIVER_DEFER, "4.3.5",
		    cases[i].words);
		agent_test_qmgr_clear(&q);
		release(&a);
		config_free(&cf);
	}
	assert_null(maildir_file("vmail.test/alice"));
}

static void
test_deliveries(void **state)
{
	const char *rcpts[] = { "alice@vmail.test", "unknown@vmail.test",
	    "fail@vmail.test", "mbox@vmail.test", "dotdot@vmail.test",
	    "abs@vmail.test", "absin@vmail.test", "empty@vmail.test" };
	struct config *cf = load("");
	struct agent_ctx a;
	struct agent_test_qmgr q;
	uid_t uid;
	gid_t gid;
	char *data, *where;

	(void)state;
	assert_int_equal(prepare(&a, cf, &uid, &gid), 0);
	deliver(&q, &a, rcpts, N_ELEMENTS(rcpts), MSG "last line");
	where = xasprintf("delivered to maildir %s/vmail/vmail.test/alice/",
	    dir);
	agent_test_expect(&q, 0, DELIVER_OK, "2.0.0", where);
	free(where);
	agent_test_expect(&q, 1, DELIVER_BOUNCE, "5.1.1",
	    "user unknown in virtual "
	    "mailbox table");
	agent_test_expect(&q, 2, DELIVER_DEFER, "4.3.0", "cannot look up "
	    "fail@vmail.test in virtual_mailbox_maps: database down");
	agent_test_expect(&q, 3, DELIVER_DEFER, "4.3.5", "mbox delivery is not "
	    "supported yet");
	agent_test_expect(&q, 4, DELIVER_DEFER, "4.3.5",
	    "\"..\" is not allowed");
	agent_test_expect(&q, 5, DELIVER_DEFER, "4.3.5",
	    "outside virtual_mailbox_base");
	agent_test_expect(&q, 6, DELIVER_OK, "2.0.0", "/vmail/abs/in/");
	agent_test_expect(&q, 7, DELIVER_DEFER, "4.3.5", "empty mailbox path");
	agent_test_qmgr_clear(&q);
	data = maildir_file("vmail.test/alice");
	assert_non_null(data);
	assert_string_equal(data, "Return-Path: <sender@example.net>\n"
	    "Delivered-To: alice@vmail.test\nReceived: from x\nSubject: hi\n"
	    "\nhello\nlast line\n");
	free(data);
	data = maildir_file("abs/in");
	assert_non_null(data);
	free(data);
	/* Nothing escaped the base. */
	assert_int_equal(access("/etc/x", F_OK), -1);
	/* One connection to the lookup process, kept. */
	deliver(&q, &a, rcpts, 1, MSG);
	agent_test_expect(&q, 0, DELIVER_OK, "2.0.0", "delivered to maildir");
	agent_test_qmgr_clear(&q);
	assert_int_equal(connections(), 1);
	release(&a);
	config_free(&cf);
}

static void
test_loop_and_limit(void **state)
{
	const char *rcpts[] = { "alice@vmail.test", "bob@vmail.test" };
	struct config *cf = load("virtual_mailbox_limit = 200\n");
	struct agent_ctx a;
	struct agent_test_qmgr q;
	uid_t uid;
	gid_t gid;
	char *data, *big;

	(void)state;
	assert_int_equal(prepare(&a, cf, &uid, &gid), 0);
	/* Alice's address (folded, any case) in a Delivered-To: header:
	 * a loop for her, not for Bob. */
	deliver(&q, &a, rcpts, 2, "Received: from x\r\nDelivered-To: "
	    "other@vmail.test\r\nDelivered-To:\r\n  <ALICE@vmail.TEST> \r\n"
	    "Subject: s\r\n\r\nDelivered-To: bob@vmail.test\r\n");
	agent_test_expect(&q, 0, DELIVER_BOUNCE, "5.4.6",
	    "mail forwarding loop for "
	    "alice@vmail.test");
	agent_test_expect(&q, 1, DELIVER_OK, "2.0.0", "delivered to maildir");
	agent_test_qmgr_clear(&q);
	assert_null(maildir_file("vmail.test/alice"));
	data = maildir_file("vmail.test/bob");
	assert_non_null(data);
	free(data);
	/* Larger than virtual_mailbox_limit (the file as written). */
	big = xmalloc(300);
	memset(big, 'x', 299);
	big[299] = '\0';
	deliver(&q, &a, rcpts, 1, big);
	agent_test_expect(&q, 0, DELIVER_BOUNCE, "5.2.2",
	    "message is larger than the "
	    "mailbox limit (virtual_mailbox_limit = 200 bytes");
	agent_test_qmgr_clear(&q);
	free(big);
	release(&a);
	config_free(&cf);
}

static void
test_missing_base(void **state)
{
	const char *rcpts[] = { "alice@vmail.test" };
	struct config *cf;
	struct agent_ctx a;
	struct agent_test_qmgr q;
	uid_t uid;
	gid_t gid;
	char *extra = xasprintf("virtual_mailbox_base = %s/gone\n", dir);

	(void)state;
	cf = load(extra);
	assert_int_equal(prepare(&a, cf, &uid, &gid), 0);
	deliver(&q, &a, rcpts, 1, MSG);
	agent_test_expect(&q, 0, DELIVER_DEFER, "4.3.5",
	    "No such file or directory: "
	    "it must be a directory that uid 4321 can write to");
	agent_test_qmgr_clear(&q);
	release(&a);
	config_free(&cf);
	free(extra);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_setup_user, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_setup_refusals, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_deliveries, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_loop_and_limit, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_missing_base, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
