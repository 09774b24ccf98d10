/* SPDX-License-Identifier: MIT */
/*
 * test_agent_local - the local delivery agent (src/deliver/agent_local.c
 * with local_spawn.c, local_alias.c, mbox.c) as the queue manager drives
 * it: agent_serve_fd on a socketpair and a real queue file, a fake
 * lookup process on $dir/private/lookup (FIND in alias_maps; ROUTE for
 * alias destinations with a domain: local.test is ours, anything else
 * is not), and a fake passwd (agent_local_set_getpwnam) whose homes are
 * under $dir.
 *
 * Checked: setup's refusals (default_privs missing, root or mail_owner;
 * mail_spool_directory, home_mailbox; a chrooted service); mbox delivery
 * in mail_spool_directory (From_ line, Return-Path:, X-Original-To:,
 * Delivered-To:, ">From "), unknown users (5.1.1), mail for root written
 * as default_privs; aliases (to users, to several destinations with one
 * failing, naming themselves, loops, a domain that routes here, one that
 * does not (deferred, nothing written), a table failure); commands,
 * files, /dev/null and :include: files with allow_mail_to_commands /
 * allow_mail_to_files; commands that need a shell (deferred);
 * home_mailbox (Maildir, mbox, a missing home); mailbox_command; a
 * Delivered-To: loop (5.4.6); mailbox_size_limit (5.2.2); ~/.forward
 * files (forward_path with the extension, "\\user" and the user named
 * in its own file, commands and files as the user, files ignored for
 * their kind or mode or owner, an empty one, allow_mail_to_* in the
 * forward context, a parse error, forward_path empty or per user).
 *
 * As root (CI) it also checks whose files these are (the user's, or
 * default_privs' for root and for aliases), a group-writable spool, the
 * identity a delivery process really has, and that the helper refuses
 * root.  Not root, those parts are skipped (shown as skipped) and every
 * delivery runs as the test's own user.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
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
#include "agent_local.h"
#include "buf.h"
#include "compat.h"
#include "config.h"
#include "deliver_proto.h"
#include "diag.h"
#include "ipc.h"
#include "local_spawn.h"
#include "log.h"
#include "lookup_client.h"
#include "lookup_proto.h"
#include "queue_file.h"
#include "strv.h"
#include "agent_test_support.h"
#include "test_support.h"
#include "xalloc.h"

#define ID1 AGENT_TEST_ID
#define ALIASES "texthash:/etc/ostia/aliases"
#define SENDER "sender@example.net"

/* The fake accounts (their uids are used only when root). */
#define U_ALICE 60001
#define U_BOB 60002
#define U_PRIVS 60003
#define U_CAROL 60004
#define U_NOHOME 60005
#define U_DAVE 60006
#define G_SPOOL 60010
#define G_EXTRA 60020
#define U_OWNER 1111		/* mail_owner as prepare() presets it */

static char dir[64];
static pid_t fake_pid;
static bool root;

/* ---- Scratch directory ---- */


static char *
at_dir(const char *rel)
{
	return xasprintf("%s/%s", dir, rel);
}

/* mkdir_as - dir/rel with mode, owned by uid:gid when root. */
static void
mkdir_as(const char *rel, mode_t mode, uid_t uid, gid_t gid)
{
	char *p = at_dir(rel);

	assert_int_equal(mkdir(p, mode), 0);
	assert_int_equal(chmod(p, mode), 0);
	if (root)
		assert_int_equal(chown(p, uid, gid), 0);
	free(p);
}

/* write_mode - write_text, then mode and (when root) the owner uid. */
static void write_mode(const char *rel, const char *text, mode_t mode,
    uid_t uid);

static void
write_text(const char *rel, const char *text)
{
	char *p = at_dir(rel);
	FILE *f = fopen(p, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(p, 0644), 0);
	free(p);
}

static void
write_mode(const char *rel, const char *text, mode_t mode, uid_t uid)
{
	char *p = at_dir(rel);

	write_text(rel, text);
	assert_int_equal(chmod(p, mode), 0);
	if (root)
		assert_int_equal(chown(p, uid, uid), 0);
	free(p);
}

/* ---- The fake passwd ---- */

static struct passwd pw_tab[10];
static size_t pw_n;

static void
pw_add(const char *name, uid_t uid, const char *home)
{
	struct passwd *pw = &pw_tab[pw_n++];

	pw->pw_name = xstrdup(name);
	pw->pw_passwd = xstrdup("x");
	pw->pw_uid = uid;
	pw->pw_gid = uid == 0 ? 0 : uid;
	pw->pw_gecos = xstrdup("");
	pw->pw_dir = home[0] == '/' ? xstrdup(home) : at_dir(home);
	pw->pw_shell = xstrdup("/bin/sh");
}

static void
pw_clear(void)
{
	for (size_t i = 0; i < pw_n; i++) {
		free(pw_tab[i].pw_name);
		free(pw_tab[i].pw_passwd);
		free(pw_tab[i].pw_gecos);
		free(pw_tab[i].pw_dir);
		free(pw_tab[i].pw_shell);
	}
	pw_n = 0;
}

static struct passwd *
fake_getpwnam(const char *name)
{
	for (size_t i = 0; i < pw_n; i++)
		if (strcmp(pw_tab[i].pw_name, name) == 0)
			return &pw_tab[i];
	errno = 0;
	return NULL;
}

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

/* alias_value - the fake alias table (dir-relative paths filled in). */
static char *
alias_value(const char *key)
{
	static const struct {
		const char *key, *value;
	} table[] = {
		{ "postmaster", "alice" },
		{ "team", "alice, bob, nosuch" },
		{ "carol", "carol, bob" },
		{ "loop1", "loop2" },
		{ "loop2", "loop1" },
		{ "mixed", "alice, someone@elsewhere.test" },
		{ "viadomain", "<BOB@Local.Test>" },
		{ "cmd", "|/usr/bin/tee -a %s/out/cmd" },
		{ "quoted", "\"| /usr/bin/tee -a %s/out/quoted\"" },
		{ "shellcmd", "|/bin/echo $HOME" },
		{ "file", "%s/out/archive" },
		{ "devnull", "/dev/null" },
		{ "inc", ":include:%s/inc" },
		{ "badinc", ":include:%s/missing" },
		{ "emptyinc", ":include:%s/emptyinc" },
		{ "bad", "\"unbalanced" },
	};

	for (size_t i = 0; i < N_ELEMENTS(table); i++) {
		if (strcmp(key, table[i].key) != 0)
			continue;
		if (strstr(table[i].value, "%s") != NULL) {
			char *v = NULL;

			/* The only conversion is the directory. */
			if (strcmp(key, "cmd") == 0)
				v = xasprintf("|/usr/bin/tee -a %s/out/cmd",
				    dir);
			else if (strcmp(key, "quoted") == 0)
				v = xasprintf("\"| /usr/bin/tee -a "
				    "%s/out/quoted\"", dir);
			else if (strcmp(key, "file") == 0)
				v = xasprintf("%s/out/archive", dir);
			else if (strcmp(key, "inc") == 0)
				v = xasprintf(":include:%s/inc", dir);
			else if (strcmp(key, "emptyinc") == 0)
				v = xasprintf(":include:%s/emptyinc", dir);
			else
				v = xasprintf(":include:%s/missing", dir);
			return v;
		}
		return xstrdup(table[i].value);
	}
	return NULL;
}

static void
fake_find(struct buf *out, const struct lookup_find *f)
{
	char *why = NULL, *v, *key;

	if (f->order != LOOKUP_FIND_ADDRESS)
		why = xasprintf("bad request: order %d", (int)f->order);
	else if (strcmp(f->tables, ALIASES) != 0)
		why = xasprintf("bad request: tables %s", f->tables);
	else if (strcmp(f->delimiters, "+") != 0)
		why = xasprintf("bad request: delimiters %s", f->delimiters);
	else if (strchr(f->key, '@') != NULL)
		why = xasprintf("bad request: key %s has a domain", f->key);
	if (why != NULL) {
		(void)lookup_proto_put_reply(out, f->id,
		    LOOKUP_STATUS_TEMPFAIL, why, strlen(why));
		free(why);
		return;
	}
	if (strcmp(f->key, "fail") == 0) {
		(void)lookup_proto_put_reply(out, f->id,
		    LOOKUP_STATUS_TEMPFAIL, "database down", 13);
		return;
	}
	/* "user+ext", then "user". */
	key = xstrndup(f->key, strcspn(f->key, "+"));
	v = alias_value(f->key);
	if (v == NULL)
		v = alias_value(key);
	if (v != NULL)
		(void)lookup_proto_put_reply(out, f->id, LOOKUP_STATUS_FOUND,
		    v, strlen(v));
	else
		(void)lookup_proto_put_reply(out, f->id,
		    LOOKUP_STATUS_NOTFOUND, "", 0);
	free(v);
	free(key);
}

static void
fake_route(struct buf *out, const struct lookup_route *q)
{
	struct lookup_route_answer a;
	struct buf text;
	const char *err = NULL, *at = strrchr(q->address, '@');
	char *lower = xstrdup(q->address);

	for (char *p = lower; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	memset(&a, 0, sizeof(a));
	if (q->op != LOOKUP_ROUTE_RESOLVE || q->service[0] != '\0' ||
	    at == NULL) {
		(void)lookup_proto_put_reply(out, q->id,
		    LOOKUP_STATUS_TEMPFAIL, "bad route request", 17);
		free(lower);
		return;
	}
	a.address = lower;
	if (strcmp(strrchr(lower, '@'), "@local.test") == 0) {
		a.cls = ROUTE_LOCAL;
		a.transport = UNCONST("local");
		a.nexthop = UNCONST("mx.test");
	} else {
		a.cls = ROUTE_DEFAULT;
		a.transport = UNCONST("smtp");
		a.nexthop = UNCONST(at + 1);
	}
	a.dsn = UNCONST("");
	a.text = UNCONST("");
	buf_init(&text, DICT_VALUE_MAX_BYTES);
	if (lookup_route_answer_format(&a, &text, &err) < 0)
		_exit(5);
	(void)lookup_proto_put_reply(out, q->id, LOOKUP_STATUS_FOUND,
	    buf_cstr(&text), text.len);
	buf_deinit(&text);
	free(lower);
}

static void
fake_serve(int lfd)
{
	for (;;) {
		int c = accept(lfd, NULL, NULL);
		struct ipc_conn ic;

		if (c < 0)
			continue;
		ipc_conn_init_max(&ic, c, LOOKUP_REQUEST_MAX_BYTES);
		while (!ic.eof && ipc_conn_fill_once(&ic) == 0) {
			struct ipc_in in;
			uint32_t type;
			int fd;

			while (ipc_conn_next(&ic, &type, &in, &fd) == 1) {
				struct buf out;
				const char *err = NULL;

				buf_init(&out, 1 << 20);
				if (type == LOOKUP_MSG_FIND) {
					struct lookup_find f;

					if (lookup_proto_find_decode(&in, &f,
					    &err) < 0)
						_exit(4);
					fake_find(&out, &f);
					lookup_find_deinit(&f);
				} else if (type == LOOKUP_MSG_ROUTE) {
					struct lookup_route q;

					if (lookup_proto_route_decode(&in, &q,
					    &err) < 0)
						_exit(4);
					fake_route(&out, &q);
					lookup_route_deinit(&q);
				} else
					_exit(4);
				write_all(c, out.data, out.len);
				buf_deinit(&out);
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
	int lfd;

	mkdir_as("private", 0700, 0, 0);
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
}

static int
setup(void **state)
{
	(void)state;
	root = geteuid() == 0;
	snprintf(dir, sizeof(dir), "/tmp/ostia-local-XXXXXX");
	assert_non_null(mkdtemp(dir));
	/* The users' delivery processes must get through. */
	assert_int_equal(chmod(dir, 0755), 0);
	mkdir_as("home", 0755, 0, 0);
	mkdir_as("home/alice", 0700, U_ALICE, U_ALICE);
	mkdir_as("home/bob", 0700, U_BOB, U_BOB);
	mkdir_as("home/carol", 0700, U_CAROL, U_CAROL);
	mkdir_as("home/dave", 0700, U_DAVE, U_DAVE);
	mkdir_as("spool", 01777, 0, 0);
	mkdir_as("out", 0777, 0, 0);
	write_text("inc", "# the include file\nbob\n"
	    "|/usr/bin/tee -a /nonexistent/inc-out\n");
	write_text("emptyinc", "# nobody here\n\n");
	pw_add("alice", U_ALICE, "home/alice");
	pw_add("bob", U_BOB, "home/bob");
	pw_add("carol", U_CAROL, "home/carol");
	pw_add("privs", U_PRIVS, "/nonexistent");
	pw_add("root", 0, "home/root");
	pw_add("owner", U_OWNER, "/nonexistent");
	pw_add("nohome", U_NOHOME, "home/missing");
	pw_add("dave", U_DAVE, "home/dave");
	agent_local_set_getpwnam(fake_getpwnam);
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
	agent_local_set_getpwnam(NULL);
	pw_clear();
	test_remove_tree(dir);
	return 0;
}

/* ---- Configuration ---- */

static struct config *
load(const char *extra)
{
	struct diag_list dl;
	struct config *cf;
	char *text = xasprintf("queue_directory = %s\n"
	    "alias_maps = " ALIASES "\n"
	    "recipient_delimiter = +\n"
	    "mail_spool_directory = %s/spool/\n"
	    "default_privs = privs\n"
	    "command_time_limit = 60s\n"
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

static const struct master_service local_service = {
	.name = UNCONST("local"),
	.type = MASTER_TYPE_UNIX,
	.command = UNCONST("local"),
	.chroot_flag = 0,
};

static int
prepare_service(struct agent_ctx *a, const struct config *cf,
    const struct master_service *svc)
{
	uid_t uid = U_OWNER;
	gid_t gid = U_OWNER;

	memset(a, 0, sizeof(*a));
	a->view = config_main(cf);
	a->service = svc;
	return agent_prepare(&agent_local, a, &uid, &gid);
}

static int
prepare(struct agent_ctx *a, const struct config *cf)
{
	return prepare_service(a, cf, &local_service);
}

/* release - free what setup keeps (the helper too). */
static void
release(struct agent_ctx *a)
{
	uid_t uid = U_OWNER;
	gid_t gid = U_OWNER;

	a->view = NULL;
	(void)agent_prepare(&agent_local, a, &uid, &gid);
	free(a->refusal);
	a->refusal = NULL;
}

/* ---- The queue manager's side ---- */

/* The test message (agent_test_support.h). */
static const struct agent_test_msg the_msg = {
	.sender = SENDER,
	.queue_rcpt = "x@local.test",
	.queue_helo = "helo.example.net",
	.transport = "local",
	.nexthop = "mx.test",
	.client_name = "",
	.client_addr = "192.0.2.7",
	.helo = "",
	.protocol = "ESMTP",
	.first_idx = 0,
};

/*
 * deliver_orig - one request for rcpts (idx 0..n-1; orig: their
 * orig_rcpt, or NULL for themselves) with the message content,
 * answered into q.
 */
static void
deliver_orig(struct agent_test_qmgr *q, struct agent_ctx *a,
    const char *const *rcpts, const char *const *orig, size_t n,
    const char *content)
{
	struct deliver_req r;

	agent_test_req_init(&r, &the_msg, n);
	for (size_t i = 0; i < n; i++)
		agent_test_req_rcpt(&r, i, rcpts[i],
		    orig != NULL ? orig[i] : rcpts[i]);
	agent_test_deliver(q, &agent_local, a, &r,
	    agent_test_queue_fd(&the_msg, ID1, content));
	deliver_req_free(&r);
}

static void
deliver(struct agent_test_qmgr *q, struct agent_ctx *a,
    const char *const *rcpts, size_t n, const char *content)
{
	deliver_orig(q, a, rcpts, NULL, n, content);
}

/* file_of - dir/rel's contents (caller frees), or NULL. */
static char *
file_of(const char *rel)
{
	char *p = at_dir(rel), *data = NULL;

	if (access(p, F_OK) == 0)
		data = test_read_file(p, NULL);
	free(p);
	return data;
}

/* owner_of - dir/rel's uid, or -1. */
static long
owner_of(const char *rel)
{
	char *p = at_dir(rel);
	struct stat st;
	long r = stat(p, &st) == 0 ? (long)st.st_uid : -1;

	free(p);
	return r;
}

/* count - occurrences of needle in hay. */
static int
count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

/* expect_count - dir/rel exists and holds needle n times. */
static void
expect_count(const char *rel, const char *needle, int n)
{
	char *data = file_of(rel);

	if (data == NULL)
		fail_msg("%s: no such file", rel);
	if (count(data, needle) != n)
		fail_msg("%s: \"%s\" %d times, wanted %d", rel, needle,
		    count(data, needle), n);
	free(data);
}

/* maildir_file - the one message file in dir/rel/new, or NULL. */
static char *
maildir_file(const char *rel)
{
	char *maildir = xasprintf("%s/%s", dir, rel);
	char *data = agent_test_maildir_file(maildir);

	free(maildir);
	return data;
}

#define MSG "Received: from x\r\nSubject: hi\r\n\r\nhello\r\nFrom here\r\n"

/* ---- Tests ---- */

static void
test_setup_refusals(void **state)
{
	static const struct {
		const char *extra;
		const char *words;
	} cases[] = {
		{ "default_privs = nosuchuser\n", "default_privs = nosuchuser: "
		    "no such user" },
		{ "default_privs = root\n", "it is root" },
		{ "default_privs = owner\n", "the mail system owner" },
		{ "mail_spool_directory = var/mail\n", "mail_spool_directory "
		    "= var/mail: it must be an absolute path" },
		{ "mail_spool_directory = /var/../mail\n", "without \"..\"" },
		{ "home_mailbox = /var/mail/x\n", "relative to the home" },
		{ "home_mailbox = ../Maildir/\n", "relative to the home" },
	};
	const char *rcpts[] = { "alice@local.test" };
	static const struct master_service chrooted = {
		.name = UNCONST("local"),
		.type = MASTER_TYPE_UNIX,
		.command = UNCONST("local"),
		.chroot_flag = 1,
	};
	struct config *cf;
	struct agent_ctx a;
	struct agent_test_qmgr q;
	char *box;

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		cf = load(cases[i].extra);
		assert_int_equal(prepare(&a, cf), -1);
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
	cf = load("");
	assert_int_equal(prepare_service(&a, cf, &chrooted), -1);
	assert_non_null(strstr(a.refusal, "cannot run chrooted"));
	release(&a);
	config_free(&cf);
	box = file_of("spool/alice");
	assert_null(box);
}

static void
test_spool_mbox(void **state)
{
	const char *rcpts[] = { "alice@local.test", "nosuch@local.test",
	    "root@local.test", "Alice+Tag@LOCAL.test", "postmaster@local.test",
	    "fail@local.test" };
	const char *orig[] = { "alice@local.test", "nosuch@local.test",
	    "root@local.test", "alice+tag@local.test", "Postmaster@x.test",
	    "fail@local.test" };
	struct config *cf = load("");
	struct agent_ctx a;
	struct agent_test_qmgr q;
	char *box, *where, *want;

	(void)state;
	assert_int_equal(prepare(&a, cf), 0);
	deliver_orig(&q, &a, rcpts, orig, N_ELEMENTS(rcpts), MSG);
	where = xasprintf("delivered to mailbox %s/spool/alice", dir);
	agent_test_expect(&q, 0, DELIVER_OK, "2.0.0", where);
	free(where);
	agent_test_expect(&q, 1, DELIVER_BOUNCE, "5.1.1",
	    "unknown user: \"nosuch\"");
	agent_test_expect(&q, 2, DELIVER_OK, "2.0.0", "/spool/root");
	agent_test_expect(&q, 3, DELIVER_OK, "2.0.0", "/spool/alice");
	agent_test_expect(&q, 4, DELIVER_OK, "2.0.0", "/spool/alice");
	agent_test_expect(&q, 5, DELIVER_DEFER, "4.3.0",
	    "cannot look up fail in "
	    "alias_maps: database down");
	agent_test_qmgr_clear(&q);
	box = file_of("spool/alice");
	assert_non_null(box);
	/* Three messages, each after a From_ line, ">From " quoted. */
	assert_int_equal(strncmp(box, "From " SENDER " ", 5 +
	    strlen(SENDER) + 1), 0);
	assert_int_equal(count(box, "\nFrom " SENDER " "), 2);
	assert_int_equal(count(box, "\n>From here\n\n"), 3);
	assert_null(strchr(box, '\r'));
	want = xasprintf("\nReturn-Path: <" SENDER ">\n"
	    "X-Original-To: alice@local.test\n"
	    "Delivered-To: alice@local.test\nReceived: from x\n"
	    "Subject: hi\n\nhello\n>From here\n\n");
	assert_non_null(strstr(box, want));
	free(want);
	/* The extension kept in Delivered-To:. */
	assert_non_null(strstr(box, "\nX-Original-To: alice+tag@local.test\n"
	    "Delivered-To: alice+tag@local.test\n"));
	/* Through the postmaster alias: the user's address. */
	assert_non_null(strstr(box, "\nX-Original-To: Postmaster@x.test\n"
	    "Delivered-To: alice@local.test\n"));
	free(box);
	box = file_of("spool/root");
	assert_non_null(box);
	assert_non_null(strstr(box, "Delivered-To: root@local.test\n"));
	free(box);
	assert_null(file_of("spool/nosuch"));
	assert_null(file_of("spool/alice.lock"));
	if (root) {
		assert_int_equal(owner_of("spool/alice"), U_ALICE);
		/* Root's mail is written as default_privs. */
		assert_int_equal(owner_of("spool/root"), U_PRIVS);
	}
	release(&a);
	config_free(&cf);
}

static void
test_aliases(void **state)
{
	const char *rcpts[] = { "team@local.test", "carol@local.test",
	    "loop1@local.test", "mixed@local.test", "viadomain@local.test",
	    "bad@local.test" };
	struct config *cf = load("");
	struct agent_ctx a;
	struct agent_test_qmgr q;
	char *box;

	(void)state;
	assert_int_equal(prepare(&a, cf), 0);
	deliver(&q, &a, rcpts, N_ELEMENTS(rcpts), MSG);
	agent_test_expect(&q, 0, DELIVER_BOUNCE, "5.1.1",
	    "unknown user: \"nosuch\" "
	    "(1 of 3 destinations of the alias failed; the others were "
	    "delivered)");
	agent_test_expect(&q, 1, DELIVER_OK, "2.0.0",
	    "delivered to 2 destinations: "
	    "delivered to mailbox");
	/* loop1 -> loop2 -> loop1: its own mailbox, and there is none. */
	agent_test_expect(&q, 2, DELIVER_BOUNCE, "5.1.1",
	    "unknown user: \"loop1\"");
	/* mixed: alice's mailbox, and a forward the queue manager is to
	 * queue (FORWARD before the status). */
	agent_test_expect(&q, 3, DELIVER_OK, "2.0.0",
	    "delivered to 2 destinations: delivered to mailbox");
	{
		const struct agent_test_status *m =
		    agent_test_status_of(&q, 3);

		assert_non_null(m->fwd);
		assert_string_equal(m->fwd[0], "someone@elsewhere.test");
		assert_null(m->fwd[1]);
		assert_non_null(strstr(m->text, "forwarded to "
		    "someone@elsewhere.test"));
		assert_null(agent_test_status_of(&q, 1)->fwd);
	}
	agent_test_expect(&q, 4, DELIVER_OK, "2.0.0", "/spool/bob");
	agent_test_expect(&q, 5, DELIVER_DEFER, "4.3.5",
	    "alias bad in alias_maps: "
	    "unbalanced double quote");
	agent_test_qmgr_clear(&q);
	/* alice: from team and from mixed. */
	box = file_of("spool/alice");
	assert_non_null(box);
	assert_int_equal(count(box, "Delivered-To: alice@local.test\n"), 2);
	free(box);
	/* bob: from team, carol and viadomain. */
	box = file_of("spool/bob");
	assert_non_null(box);
	assert_int_equal(count(box, "Delivered-To: bob@local.test\n"), 3);
	free(box);
	/* carol names herself: her own mailbox. */
	box = file_of("spool/carol");
	assert_non_null(box);
	assert_int_equal(count(box, "Delivered-To: carol@local.test\n"), 1);
	free(box);
	release(&a);
	config_free(&cf);
}

static void
test_commands_files(void **state)
{
	const char *rcpts[] = { "cmd@local.test", "quoted@local.test",
	    "shellcmd@local.test", "file@local.test", "devnull@local.test",
	    "inc@local.test", "badinc@local.test", "emptyinc@local.test" };
	struct config *cf = load("");
	struct agent_ctx a;
	struct agent_test_qmgr q;
	char *data;

	(void)state;
	assert_int_equal(prepare(&a, cf), 0);
	deliver(&q, &a, rcpts, N_ELEMENTS(rcpts), MSG);
	agent_test_expect(&q, 0, DELIVER_OK, "2.0.0", "delivered to command: "
	    "/usr/bin/tee -a");
	agent_test_expect(&q, 1, DELIVER_OK, "2.0.0", "delivered to command: "
	    "/usr/bin/tee -a");
	agent_test_expect(&q, 2, DELIVER_DEFER, "4.3.5",
	    "holds the shell character "
	    "'$'");
	agent_test_expect(&q, 3, DELIVER_OK, "2.0.0", "delivered to file: ");
	agent_test_expect(&q, 4, DELIVER_OK, "2.0.0", "/dev/null");
	/* allow_mail_to_commands = alias, forward: no commands from
	 * :include: files; bob is delivered. */
	agent_test_expect(&q, 5, DELIVER_BOUNCE, "5.7.1", "mail to command is "
	    "restricted (allow_mail_to_commands has no include)");
	agent_test_expect(&q, 6, DELIVER_DEFER, "4.3.5",
	    "cannot read :include: file");
	agent_test_expect(&q, 7, DELIVER_DEFER, "4.3.5", "the aliases of "
	    "emptyinc@local.test give no destinations");
	agent_test_qmgr_clear(&q);
	data = file_of("out/cmd");
	assert_non_null(data);
	assert_int_equal(strncmp(data, "From " SENDER " ", 6 +
	    strlen(SENDER)), 0);
	assert_non_null(strstr(data, "\nReturn-Path: <" SENDER ">\n"
	    "X-Original-To: cmd@local.test\nDelivered-To: cmd@local.test\n"
	    "Received: from x\n"));
	/* Commands get the message as it is, no ">From". */
	assert_non_null(strstr(data, "\nFrom here\n"));
	free(data);
	data = file_of("out/quoted");
	assert_non_null(data);
	free(data);
	data = file_of("out/archive");
	assert_non_null(data);
	assert_non_null(strstr(data, "Delivered-To: file@local.test\n"));
	assert_non_null(strstr(data, "\n>From here\n"));
	free(data);
	data = file_of("spool/bob");
	assert_non_null(data);
	assert_non_null(strstr(data, "Delivered-To: bob@local.test\n"));
	free(data);
	if (root) {
		/* Alias commands and files run as default_privs. */
		assert_int_equal(owner_of("out/cmd"), U_PRIVS);
		assert_int_equal(owner_of("out/archive"), U_PRIVS);
	}
	release(&a);
	config_free(&cf);

	/* Commands in include files allowed, files in aliases not. */
	cf = load("allow_mail_to_commands = alias, include\n"
	    "allow_mail_to_files =\n");
	{
		const char *r2[] = { "inc@local.test", "file@local.test" };
		char *inc = xasprintf("# the include file\nbob\n"
		    "|/usr/bin/tee -a %s/out/inc\n", dir);

		write_text("inc", inc);
		free(inc);
		assert_int_equal(prepare(&a, cf), 0);
		deliver(&q, &a, r2, 2, MSG);
		agent_test_expect(&q, 0, DELIVER_OK, "2.0.0", "delivered to 2 "
		    "destinations");
		agent_test_expect(&q, 1, DELIVER_BOUNCE, "5.7.1",
		    "mail to file is "
		    "restricted (allow_mail_to_files has no alias)");
		agent_test_qmgr_clear(&q);
		data = file_of("out/inc");
		assert_non_null(data);
		assert_non_null(strstr(data, "Delivered-To: inc@local.test\n"));
		free(data);
	}
	release(&a);
	config_free(&cf);
}

static void
test_home_mailbox(void **state)
{
	const char *rcpts[] = { "alice@local.test", "nohome@local.test" };
	struct config *cf = load("home_mailbox = Maildir/\n");
	struct agent_ctx a;
	struct agent_test_qmgr q;
	char *data, *where;

	(void)state;
	assert_int_equal(prepare(&a, cf), 0);
	deliver(&q, &a, rcpts, 2, MSG);
	where = xasprintf("delivered to maildir %s/home/alice/Maildir/", dir);
	agent_test_expect(&q, 0, DELIVER_OK, "2.0.0", where);
	free(where);
	agent_test_expect(&q, 1, DELIVER_DEFER, "4.3.0", "home directory");
	agent_test_qmgr_clear(&q);
	data = maildir_file("home/alice/Maildir");
	assert_non_null(data);
	assert_string_equal(data, "Return-Path: <" SENDER ">\n"
	    "X-Original-To: alice@local.test\n"
	    "Delivered-To: alice@local.test\nReceived: from x\n"
	    "Subject: hi\n\nhello\nFrom here\n");
	free(data);
	if (root)
		assert_int_equal(owner_of("home/alice/Maildir/new"), U_ALICE);
	/* Nothing created for the user without a home. */
	assert_int_equal(owner_of("home/missing"), -1);
	release(&a);
	config_free(&cf);

	cf = load("home_mailbox = Mailbox\nenable_original_recipient = no\n");
	assert_int_equal(prepare(&a, cf), 0);
	deliver(&q, &a, rcpts, 1, MSG);
	agent_test_expect(&q, 0, DELIVER_OK, "2.0.0", "/home/alice/Mailbox");
	agent_test_qmgr_clear(&q);
	data = file_of("home/alice/Mailbox");
	assert_non_null(data);
	assert_null(strstr(data, "X-Original-To:"));
	assert_non_null(strstr(data, "\n>From here\n"));
	free(data);
	if (root)
		assert_int_equal(owner_of("home/alice/Mailbox"), U_ALICE);
	release(&a);
	config_free(&cf);
}

static void
test_mailbox_command(void **state)
{
	const char *rcpts[] = { "alice@local.test" };
	char *extra = xasprintf("mailbox_command = /usr/bin/tee -a "
	    "%s/out/mbcmd\n", dir);
	struct config *cf = load(extra);
	struct agent_ctx a;
	struct agent_test_qmgr q;
	char *data;

	(void)state;
	free(extra);
	assert_int_equal(prepare(&a, cf), 0);
	deliver(&q, &a, rcpts, 1, MSG);
	agent_test_expect(&q, 0, DELIVER_OK, "2.0.0", "delivered to command: "
	    "/usr/bin/tee -a");
	agent_test_qmgr_clear(&q);
	data = file_of("out/mbcmd");
	assert_non_null(data);
	assert_non_null(strstr(data, "Delivered-To: alice@local.test\n"));
	free(data);
	if (root)
		assert_int_equal(owner_of("out/mbcmd"), U_ALICE);
	assert_null(file_of("spool/alice"));
	release(&a);
	config_free(&cf);

	/* Shell syntax: refused, said in the deferral. */
	cf = load("mailbox_command = /usr/bin/procmail -a \"$EXTENSION\"\n");
	assert_int_equal(prepare(&a, cf), 0);
	deliver(&q, &a, rcpts, 1, MSG);
	agent_test_expect(&q, 0, DELIVER_DEFER, "4.3.5",
	    "mailbox_command: the command "
	    "\"/usr/bin/procmail -a \"$EXTENSION\"\" holds the shell "
	    "character");
	agent_test_qmgr_clear(&q);
	release(&a);
	config_free(&cf);
}

static void
test_loop_and_limit(void **state)
{
	const char *rcpts[] = { "alice@local.test", "bob@local.test",
	    "postmaster@local.test" };
	struct config *cf = load("mailbox_size_limit = 400\n");
	struct agent_ctx a;
	struct agent_test_qmgr q;
	char *big, *box;

	(void)state;
	assert_int_equal(prepare(&a, cf), 0);
	deliver(&q, &a, rcpts, 3, "Received: from x\r\nDelivered-To: "
	    "<Alice@Local.Test>\r\nSubject: s\r\n\r\nbody\r\n");
	agent_test_expect(&q, 0, DELIVER_BOUNCE, "5.4.6",
	    "mail forwarding loop for "
	    "alice@local.test");
	agent_test_expect(&q, 1, DELIVER_OK, "2.0.0", "/spool/bob");
	/* Through an alias: the loop is seen at alice's mailbox. */
	agent_test_expect(&q, 2, DELIVER_BOUNCE, "5.4.6",
	    "mail forwarding loop for "
	    "alice@local.test");
	agent_test_qmgr_clear(&q);
	assert_null(file_of("spool/alice"));
	big = xmalloc(500);
	memset(big, 'x', 499);
	big[499] = '\0';
	deliver(&q, &a, rcpts + 1, 1, big);
	agent_test_expect(&q, 0, DELIVER_BOUNCE, "5.2.2", "mailbox_size_limit");
	agent_test_qmgr_clear(&q);
	box = file_of("spool/bob");
	assert_non_null(box);
	assert_null(strstr(box, "xxxxx"));
	free(box);
	free(big);
	release(&a);
	config_free(&cf);
}

/* As root: a spool writable by its group (root:G 2775). */
static void
test_spool_group(void **state)
{
	const char *rcpts[] = { "alice@local.test" };
	char *extra;
	struct config *cf;
	struct agent_ctx a;
	struct agent_test_qmgr q;
	struct stat st;
	char *p;

	(void)state;
	if (!root)
		skip();
	mkdir_as("gspool", 02775, 0, G_SPOOL);
	extra = xasprintf("mail_spool_directory = %s/gspool\n", dir);
	cf = load(extra);
	free(extra);
	assert_int_equal(prepare(&a, cf), 0);
	deliver(&q, &a, rcpts, 1, MSG);
	agent_test_expect(&q, 0, DELIVER_OK, "2.0.0", "/gspool/alice");
	agent_test_qmgr_clear(&q);
	p = at_dir("gspool/alice");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_uid, U_ALICE);
	assert_int_equal(st.st_gid, G_SPOOL);
	free(p);
	release(&a);
	config_free(&cf);
}

/* The helper: the identity of a delivery process, and its refusals. */
static void
test_helper(void **state)
{
	struct local_spawner *sp;
	struct local_creds c;
	struct local_job job;
	struct local_result r;
	char *err = NULL, *argv[] = { UNCONST("/bin/sh"), UNCONST("-c"),
	    UNCONST("echo uid=$(id -u) groups=$(id -G); exit 75"), NULL };
	char *envp[] = { UNCONST("PATH=/usr/bin:/bin"), NULL };
	int cfd;

	(void)state;
	if (!root)
		skip();
	sp = local_spawner_start(U_OWNER, &err);
	assert_non_null(sp);
	assert_true(local_spawner_privileged(sp));
	cfd = local_content_fd("x\r\n", 3, &err);
	assert_true(cfd >= 0);
	memset(&job, 0, sizeof(job));
	job.kind = LOCAL_JOB_COMMAND;
	job.prefix = "";
	job.argv = argv;
	job.envp = envp;
	job.directory = "/";
	job.timeout = 30;
	memset(&c, 0, sizeof(c));
	c.uid = U_ALICE;
	c.gid = U_ALICE;
	c.groups[0] = U_ALICE;
	c.groups[1] = G_EXTRA;
	c.ngroups = 2;
	assert_int_equal(local_spawn_run(sp, &c, 40, &job, cfd, 3, &r), 0);
	/* EX_TEMPFAIL, with what it printed. */
	assert_int_equal(r.st, DELIVER_DEFER);
	if (strstr(r.text, "uid=60001 groups=60001 60020") == NULL)
		fail_msg("the delivery process said: %s", r.text);
	/* Root and mail_owner are refused: no process, no result, and the
	 * helper gives up (the agent restarts). */
	c.uid = 0;
	assert_int_equal(local_spawn_run(sp, &c, 40, &job, cfd, 3, &r), 0);
	assert_int_equal(r.st, DELIVER_DEFER);
	if (strstr(r.text, "ended without a result") == NULL)
		fail_msg("uid 0: %s", r.text);
	local_spawner_stop(&sp);
	sp = local_spawner_start(U_OWNER, &err);
	assert_non_null(sp);
	c.uid = U_OWNER;
	assert_int_equal(local_spawn_run(sp, &c, 40, &job, cfd, 3, &r), 0);
	assert_non_null(strstr(r.text, "ended without a result"));
	local_spawner_stop(&sp);
	/* Group 0 as well. */
	sp = local_spawner_start(U_OWNER, &err);
	c.uid = U_ALICE;
	c.groups[1] = 0;
	assert_int_equal(local_spawn_run(sp, &c, 40, &job, cfd, 3, &r), 0);
	assert_non_null(strstr(r.text, "ended without a result"));
	local_spawner_stop(&sp);
	close(cfd);
}

/* A delivery process that outlives its time is killed. */
static void
test_worker_time_limit(void **state)
{
	struct local_spawner *sp;
	struct local_creds c;
	struct local_job job;
	struct local_result r;
	char *err = NULL, *argv[] = { UNCONST("/bin/sleep"), UNCONST("5"),
	    NULL };
	char *envp[] = { NULL };
	int cfd;

	(void)state;
	sp = local_spawner_start(U_OWNER, &err);
	assert_non_null(sp);
	cfd = local_content_fd("", 0, &err);
	assert_true(cfd >= 0);
	memset(&job, 0, sizeof(job));
	job.kind = LOCAL_JOB_COMMAND;
	job.prefix = "";
	job.argv = argv;
	job.envp = envp;
	job.timeout = 60;	/* the command's own limit is longer */
	memset(&c, 0, sizeof(c));
	c.uid = U_ALICE;
	c.gid = U_ALICE;
	assert_int_equal(local_spawn_run(sp, &c, 1, &job, cfd, 0, &r), 0);
	assert_int_equal(r.st, DELIVER_DEFER);
	assert_non_null(strstr(r.text, "ended without a result"));
	close(cfd);
	local_spawner_stop(&sp);
}

/* read_one - local_spawn_read of dir/rel as alice, max bytes. */
static enum local_read_state
read_one(struct local_spawner *sp, const char *rel, size_t max, char **data,
    size_t *len, struct local_result *r)
{
	struct local_creds c;
	enum local_read_state st;
	char *p = at_dir(rel);

	memset(&c, 0, sizeof(c));
	c.uid = U_ALICE;
	c.gid = U_ALICE;
	assert_int_equal(local_spawn_read(sp, &c, p, max, &st, data, len, r),
	    0);
	free(p);
	return st;
}

/* local_spawn_read: each answer, and the size limits. */
static void
test_read_as_user(void **state)
{
	struct local_spawner *sp;
	struct local_result r;
	char *err = NULL, *data = NULL, *big;
	size_t len = 0;
	char *p;
	int fd;

	(void)state;
	sp = local_spawner_start(U_OWNER, &err);
	assert_non_null(sp);
	/* Bytes as they are, a NUL among them. */
	p = at_dir("home/alice/f");
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "a\0b\n", 4), 4);
	close(fd);
	if (root)
		assert_int_equal(chown(p, U_ALICE, U_ALICE), 0);
	assert_int_equal(read_one(sp, "home/alice/f", 100, &data, &len, &r),
	    LOCAL_READ_FOUND);
	assert_int_equal(r.st, DELIVER_OK);
	assert_int_equal(len, 4);
	assert_memory_equal(data, "a\0b\n", 4);
	assert_int_equal(data[4], '\0');
	free(data);
	/* One byte over the caller's limit: deferred, nothing returned. */
	assert_int_equal(read_one(sp, "home/alice/f", 3, &data, &len, &r),
	    LOCAL_READ_ABSENT);
	assert_int_equal(r.st, DELIVER_DEFER);
	assert_non_null(strstr(r.text, "larger than 3 bytes"));
	assert_null(data);
	/* Over LOCAL_READ_MAX_BYTES whatever the caller asks. */
	big = xmalloc(LOCAL_READ_MAX_BYTES + 2);
	memset(big, 'x', LOCAL_READ_MAX_BYTES);
	big[LOCAL_READ_MAX_BYTES] = '\0';
	write_mode("home/alice/big", big, 0600, U_ALICE);
	assert_int_equal(read_one(sp, "home/alice/big", SIZE_MAX, &data,
	    &len, &r), LOCAL_READ_FOUND);
	assert_int_equal(len, LOCAL_READ_MAX_BYTES);
	free(data);
	big[LOCAL_READ_MAX_BYTES - 1] = '\0';
	strcat(big, "yy");
	write_mode("home/alice/big", big, 0600, U_ALICE);
	free(big);
	(void)read_one(sp, "home/alice/big", SIZE_MAX, &data, &len, &r);
	assert_int_equal(r.st, DELIVER_DEFER);
	assert_non_null(strstr(r.text, "larger than 65536 bytes"));
	/* Absent; a directory; world-writable; a symbolic link. */
	assert_int_equal(read_one(sp, "home/alice/none", 100, &data, &len,
	    &r), LOCAL_READ_ABSENT);
	assert_int_equal(r.st, DELIVER_OK);
	assert_int_equal(read_one(sp, "home/alice/none/x", 100, &data, &len,
	    &r), LOCAL_READ_ABSENT);
	mkdir_as("home/alice/d", 0700, U_ALICE, U_ALICE);
	assert_int_equal(read_one(sp, "home/alice/d", 100, &data, &len, &r),
	    LOCAL_READ_IGNORED);
	assert_non_null(strstr(r.text, "not a regular file"));
	write_mode("home/alice/ww", "bob\n", 0666, U_ALICE);
	assert_int_equal(read_one(sp, "home/alice/ww", 100, &data, &len, &r),
	    LOCAL_READ_IGNORED);
	assert_non_null(strstr(r.text, "world-writable"));
	{
		char *l = at_dir("home/alice/l");

		assert_int_equal(symlink(p, l), 0);
		free(l);
	}
	assert_int_equal(read_one(sp, "home/alice/l", 100, &data, &len, &r),
	    LOCAL_READ_IGNORED);
	assert_non_null(strstr(r.text, "symbolic link"));
	if (root) {
		/* Another user's file; and one alice cannot reach. */
		write_mode("home/alice/bobs", "x\n", 0644, U_BOB);
		assert_int_equal(read_one(sp, "home/alice/bobs", 100, &data,
		    &len, &r), LOCAL_READ_IGNORED);
		assert_non_null(strstr(r.text, "belongs to uid 60002"));
		write_mode("home/bob/.forward", "x\n", 0644, U_BOB);
		assert_int_equal(read_one(sp, "home/bob/.forward", 100, &data,
		    &len, &r), LOCAL_READ_ABSENT);
	}
	free(p);
	local_spawner_stop(&sp);
}

/* ~/.forward: what it gives, whose rights, and what is ignored. */
static void
test_forward(void **state)
{
	const char *rcpts[] = { "alice@local.test", "dave+lists@local.test",
	    "dave@local.test", "bob@local.test" };
	struct config *cf = load("");
	struct agent_ctx a;
	struct agent_test_qmgr q;
	char *text, *box;

	(void)state;
	/* alice: herself ("\\alice"), bob, a command, a file and an
	 * address elsewhere; dave+lists: .forward+lists (bob, and dave
	 * naming himself); dave: an empty .forward; bob: a world-writable
	 * one, ignored. */
	text = xasprintf("# alice's forwards\n\\alice, bob\n"
	    "\"|/usr/bin/tee -a %s/out/fwdcmd\"\n%s/out/fwdfile\n"
	    "someone@elsewhere.test\n", dir, dir);
	write_mode("home/alice/.forward", text, 0644, U_ALICE);
	free(text);
	write_mode("home/dave/.forward+lists", "bob, dave\n", 0600, U_DAVE);
	write_mode("home/dave/.forward", "# nothing\n", 0600, U_DAVE);
	write_mode("home/bob/.forward", "alice\n", 0666, U_BOB);
	assert_int_equal(prepare(&a, cf), 0);
	deliver(&q, &a, rcpts, N_ELEMENTS(rcpts), MSG);
	agent_test_expect(&q, 0, DELIVER_OK, "2.0.0", "delivered to 5 "
	    "destinations: delivered to mailbox");
	{
		const struct agent_test_status *m =
		    agent_test_status_of(&q, 0);

		assert_non_null(m->fwd);
		assert_string_equal(m->fwd[0], "someone@elsewhere.test");
		assert_null(m->fwd[1]);
	}
	agent_test_expect(&q, 1, DELIVER_OK, "2.0.0", "delivered to 2 "
	    "destinations");
	agent_test_expect(&q, 2, DELIVER_OK, "2.0.0", "/spool/dave");
	agent_test_expect(&q, 3, DELIVER_OK, "2.0.0", "/spool/bob");
	agent_test_qmgr_clear(&q);
	/* alice: only from her own .forward (bob's was ignored); bob:
	 * from alice's .forward, dave's .forward+lists and his own; dave:
	 * dave+lists named dave (his mailbox), and dave's empty file. */
	expect_count("spool/alice", "Delivered-To: alice@local.test\n", 1);
	expect_count("spool/bob", "Delivered-To: bob@local.test\n", 3);
	expect_count("spool/dave", "\nDelivered-To: dave@local.test\n", 2);
	expect_count("out/fwdcmd", "Delivered-To: alice@local.test\n", 1);
	expect_count("out/fwdfile", "Delivered-To: alice@local.test\n", 1);
	if (root) {
		/* A .forward's file and command run as its user. */
		assert_int_equal(owner_of("out/fwdfile"), U_ALICE);
		assert_int_equal(owner_of("out/fwdcmd"), U_ALICE);
	}
	release(&a);
	config_free(&cf);

	/* A symbolic link, a file that does not parse, commands not
	 * allowed in the forward context, and (as root) another user's
	 * file: ignored, deferred, bounced, ignored. */
	{
		const char *r2[] = { "alice@local.test", "dave@local.test",
		    "bob@local.test", "carol@local.test" };
		char *target = at_dir("out/fwdtarget");
		char *link = at_dir("home/alice/.forward");

		write_text("out/fwdtarget", "bob\n");
		assert_int_equal(unlink(link), 0);
		assert_int_equal(symlink(target, link), 0);
		write_mode("home/dave/.forward", "\"unbalanced\n", 0600,
		    U_DAVE);
		text = xasprintf("|/usr/bin/tee -a %s/out/nocmd\n", dir);
		write_mode("home/bob/.forward", text, 0644, U_BOB);
		free(text);
		write_mode("home/carol/.forward", "alice\n", 0644,
		    root ? U_DAVE : geteuid());
		cf = load("allow_mail_to_commands = alias\n");
		assert_int_equal(prepare(&a, cf), 0);
		deliver(&q, &a, r2, N_ELEMENTS(r2), MSG);
		agent_test_expect(&q, 0, DELIVER_OK, "2.0.0", "/spool/alice");
		agent_test_expect(&q, 1, DELIVER_DEFER, "4.3.5", ".forward "
		    "file");
		agent_test_expect(&q, 2, DELIVER_BOUNCE, "5.7.1", "mail to "
		    "command is restricted (allow_mail_to_commands has no "
		    "forward)");
		/* carol's alias names carol and bob (whose command is
		 * refused); carol's .forward (alice) is dave's as root:
		 * ignored, so her mailbox. */
		agent_test_expect(&q, 3, DELIVER_BOUNCE, "5.7.1", "(1 of 2 "
		    "destinations of the alias failed; the others were "
		    "delivered)");
		agent_test_qmgr_clear(&q);
		box = file_of("out/nocmd");
		assert_null(box);
		box = file_of("spool/carol");
		if (root)
			assert_non_null(box);
		else
			assert_null(box);
		free(box);
		release(&a);
		config_free(&cf);
		free(target);
		free(link);
	}

	/* forward_path empty: no .forward is read; per user elsewhere. */
	{
		const char *r3[] = { "bob@local.test", "dave@local.test" };
		char *extra;

		write_mode("home/bob/.forward", "alice\n", 0644, U_BOB);
		mkdir_as("fwd", 0755, 0, 0);
		write_mode("fwd/dave", "\\dave, bob\n", 0644, U_DAVE);
		cf = load("forward_path =\n");
		assert_int_equal(prepare(&a, cf), 0);
		deliver(&q, &a, r3, 1, MSG);
		agent_test_expect(&q, 0, DELIVER_OK, "2.0.0", "/spool/bob");
		agent_test_qmgr_clear(&q);
		release(&a);
		config_free(&cf);
		extra = xasprintf("forward_path = %s/fwd/$user\n", dir);
		cf = load(extra);
		free(extra);
		assert_int_equal(prepare(&a, cf), 0);
		deliver(&q, &a, r3 + 1, 1, MSG);
		agent_test_expect(&q, 0, DELIVER_OK, "2.0.0", "delivered to "
		    "2 destinations");
		agent_test_qmgr_clear(&q);
		release(&a);
		config_free(&cf);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_setup_refusals, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_spool_mbox, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_aliases, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_commands_files, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_home_mailbox, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_mailbox_command, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_loop_and_limit, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_spool_group, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_helper, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_worker_time_limit, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_forward, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_read_as_user, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
