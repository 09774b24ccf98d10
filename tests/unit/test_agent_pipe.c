/* SPDX-License-Identifier: MIT */
/*
 * test_agent_pipe - the pipe delivery agent (src/deliver/agent_pipe.c)
 * and the command runner under it (src/deliver/pipe_run.c).
 *
 * pipe_run with real programs (no shell is used by the agent; a few
 * test scripts start with #!/bin/sh and are executed as files): /bin/true,
 * /bin/false, /usr/bin/env (the environment is exactly what was given),
 * /bin/cat (the input as the command sees it: prefix, eol, dot-stuffing,
 * "From " escaping, a last line without its line end), a script exiting
 * 75 and 67 (sysexits verdicts with the output in the text), a command
 * that does not exist, one killed by a signal, one past its time limit
 * (its background child is killed too), output beyond the kept 1 KiB,
 * inherited descriptors closed.
 *
 * Then the agent as the queue manager drives it (agent_serve_fd on a
 * socketpair, a real queue file): one command per recipient with
 * ${recipient} and flags DR, one for all without, size=, and setup
 * refusals (root, unknown user, bad arguments) that defer every
 * recipient with the reason.
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
#include <unistd.h>

#include <event2/event.h>

#include "agent.h"
#include "buf.h"
#include "compat.h"
#include "deliver_proto.h"
#include "ipc.h"
#include "log.h"
#include "pipe_argv.h"
#include "pipe_run.h"
#include "queue_file.h"
#include "strv.h"
#include "agent_test_support.h"
#include "test_support.h"
#include "xalloc.h"

#define ID1 AGENT_TEST_ID

static char dir[64];

/* ---- Helpers ---- */

static void
write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

/* script - dir/name holding text, executable; caller frees the path. */
static char *
script(const char *name, const char *text)
{
	char *p = xasprintf("%s/%s", dir, name);

	write_file(p, text, 0755);
	return p;
}

static void
remove_dir(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		char *p;

		if (e->d_name[0] == '.')
			continue;
		p = xasprintf("%s/%s", dir, e->d_name);
		(void)unlink(p);
		free(p);
	}
	closedir(d);
	(void)rmdir(dir);
}

static int
setup_dir(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/ostia-pipe-XXXXXX");
	assert_non_null(mkdtemp(dir));
	assert_int_equal(chmod(dir, 0755), 0);
	return 0;
}

static int
teardown_dir(void **state)
{
	(void)state;
	remove_dir();
	return 0;
}

/* run - pipe_run cmd (argv words, NULL-terminated) with input. */
static void
run(struct pipe_outcome *o, char *const *argv, char *const *envp,
    const char *prefix, const char *content, unsigned flags,
    const char *eol, unsigned timeout, const char *directory)
{
	static char *const noenv[] = { NULL };
	struct pipe_cmd cmd;
	struct pipe_feed feed;

	memset(&cmd, 0, sizeof(cmd));
	cmd.argv = argv;
	cmd.envp = envp != NULL ? envp : noenv;
	cmd.timeout = timeout;
	cmd.directory = directory;
	pipe_feed_init(&feed, prefix, content, strlen(content), flags, eol,
	    strlen(eol));
	pipe_run(&cmd, &feed, o);
	pipe_feed_deinit(&feed);
}

/* verdict - pipe_verdict; the text and remote are checked to contain
 * the given words (NULL: not checked), then freed. */
static void
verdict(const struct pipe_outcome *o, const char *command,
    enum deliver_status want_st, const char *want_dsn, const char *text1,
    const char *text2, const char *remote)
{
	enum deliver_status st;
	const char *dsn;
	char *text, *rem;

	pipe_verdict(o, command, 7, &st, &dsn, &text, &rem);
	if (st != want_st || strcmp(dsn, want_dsn) != 0)
		fail_msg("%s: %d %s (%s), want %d %s", command, (int)st, dsn,
		    text, (int)want_st, want_dsn);
	if (text1 != NULL && strstr(text, text1) == NULL)
		fail_msg("text \"%s\" lacks \"%s\"", text, text1);
	if (text2 != NULL && strstr(text, text2) == NULL)
		fail_msg("text \"%s\" lacks \"%s\"", text, text2);
	if (remote != NULL && strcmp(rem, remote) != 0)
		fail_msg("remote \"%s\", want \"%s\"", rem, remote);
	assert_null(strpbrk(text, "\r\n"));
	free(text);
	free(rem);
}

/* ---- pipe_run ---- */

static void
test_true_false(void **state)
{
	char *t[] = { UNCONST("/bin/true"), NULL };
	char *f[] = { UNCONST("/bin/false"), NULL };
	struct pipe_outcome o;

	(void)state;
	run(&o, t, NULL, "", "x\r\n", 0, "\n", 0, NULL);
	assert_int_equal(o.how, PIPE_EXITED);
	assert_int_equal(o.code, 0);
	verdict(&o, t[0], DELIVER_OK, "2.0.0", "delivered to command "
	    "/bin/true", NULL, "");
	run(&o, f, NULL, "", "x\r\n", 0, "\n", 0, NULL);
	assert_int_equal(o.how, PIPE_EXITED);
	assert_int_equal(o.code, 1);
	verdict(&o, f[0], DELIVER_DEFER, "4.3.0", "command /bin/false "
	    "exited with status 1", "(no output)", "");
}

static void
test_environment(void **state)
{
	char *argv[] = { UNCONST("/usr/bin/env"), NULL };
	char *envp[] = { UNCONST("PATH=/usr/bin:/bin"), UNCONST("LANG=C"),
	    UNCONST("SENDER=a@example.net"), NULL };
	struct pipe_outcome o;

	(void)state;
	assert_int_equal(setenv("OSTIA_TEST_LEAK", "1", 1), 0);
	run(&o, argv, envp, "", "", 0, "\n", 0, NULL);
	assert_int_equal(o.how, PIPE_EXITED);
	assert_int_equal(o.code, 0);
	assert_string_equal(o.output, "PATH=/usr/bin:/bin\nLANG=C\n"
	    "SENDER=a@example.net\n");
	verdict(&o, argv[0], DELIVER_OK, "2.0.0", "output: PATH=/usr/bin:/bin "
	    "LANG=C SENDER=a@example.net", NULL, NULL);
}

static void
test_input_as_seen(void **state)
{
	char *argv[] = { UNCONST("/bin/cat"), NULL };
	const char *msg = "Received: x\r\nSubject: s\r\n\r\n.dot\r\n"
	    "From me\r\nFromage\r\nbare\nlf\r\nlast";
	struct pipe_outcome o;

	(void)state;
	/* Plain: LF line ends, the last line ended. */
	run(&o, argv, NULL, "P: 1\n", msg, 0, "\n", 0, NULL);
	assert_int_equal(o.how, PIPE_EXITED);
	assert_string_equal(o.output, "P: 1\nReceived: x\nSubject: s\n\n"
	    ".dot\nFrom me\nFromage\nbare\nlf\nlast\n");
	/* . > B and CRLF. */
	run(&o, argv, NULL, "", msg, PIPE_F_DOT | PIPE_F_FROM_ESC |
	    PIPE_F_BLANK, "\r\n", 0, NULL);
	assert_string_equal(o.output, "Received: x\r\nSubject: s\r\n\r\n"
	    "..dot\r\n>From me\r\nFromage\r\nbare\r\nlf\r\nlast\r\n\r\n");
	/* Nothing at all. */
	run(&o, argv, NULL, "", "", 0, "\n", 0, NULL);
	assert_int_equal(o.output_len, 0);
	verdict(&o, argv[0], DELIVER_OK, "2.0.0", NULL, NULL, "");
}

static void
test_prefix_lines(void **state)
{
	struct pipe_args pa;
	char *p;

	(void)state;
	memset(&pa, 0, sizeof(pa));
	pa.eol[0] = '\r';
	pa.eol[1] = '\n';
	pa.eol_len = 2;
	pa.null_sender = UNCONST("MAILER-DAEMON");
	pa.flags = PIPE_F_DELIVERED | PIPE_F_RETURN | PIPE_F_ORIG;
	p = pipe_prefix(&pa, "a@example.net", "b@example.org",
	    "c@example.org", 0);
	assert_string_equal(p, "X-Original-To: c@example.org\r\n"
	    "Delivered-To: b@example.org\r\nReturn-Path: <a@example.net>\r\n");
	free(p);
	/* The null sender; no recipient (a process for several). */
	pa.flags = PIPE_F_DELIVERED | PIPE_F_RETURN | PIPE_F_FROM;
	pa.eol[0] = '\n';
	pa.eol_len = 1;
	p = pipe_prefix(&pa, "", NULL, NULL, 0);
	assert_memory_equal(p, "From MAILER-DAEMON ", 19);
	assert_non_null(strstr(p, " 1970\nReturn-Path: <MAILER-DAEMON>\n"));
	assert_null(strstr(p, "Delivered-To"));
	free(p);
	pa.null_sender = UNCONST("");
	p = pipe_prefix(&pa, "", NULL, NULL, 0);
	assert_memory_equal(p, "From MAILER-DAEMON ", 19);
	assert_non_null(strstr(p, "\nReturn-Path: <>\n"));
	free(p);
	pa.flags = 0;
	p = pipe_prefix(&pa, "a@b", "c@d", "e@f", 0);
	assert_string_equal(p, "");
	free(p);
}

static void
test_sysexits(void **state)
{
	char *temp = script("temp.sh", "#!/bin/sh\n"
	    "echo 'mailbox locked,' >&2\necho '  try later'\nexit 75\n");
	char *nouser = script("nouser.sh", "#!/bin/sh\n"
	    "echo \"no such user: $1\"\nexit 67\n");
	char *config = script("config.sh", "#!/bin/sh\nexit 78\n");
	char *argv[] = { temp, NULL, NULL };
	struct pipe_outcome o;

	(void)state;
	run(&o, argv, NULL, "", "x\r\n", 0, "\n", 0, NULL);
	assert_int_equal(o.how, PIPE_EXITED);
	assert_int_equal(o.code, 75);
	verdict(&o, temp, DELIVER_DEFER, "4.3.0", "exited with status 75 "
	    "(EX_TEMPFAIL, temporary failure)", "output: mailbox locked, "
	    "try later", "x-unix; mailbox locked, try later");
	argv[0] = nouser;
	argv[1] = UNCONST("bob");
	run(&o, argv, NULL, "", "x\r\n", 0, "\n", 0, NULL);
	assert_int_equal(o.code, 67);
	verdict(&o, nouser, DELIVER_BOUNCE, "5.1.1", "(EX_NOUSER, user "
	    "unknown)", "no such user: bob", "x-unix; no such user: bob");
	argv[0] = config;
	argv[1] = NULL;
	run(&o, argv, NULL, "", "x\r\n", 0, "\n", 0, NULL);
	verdict(&o, config, DELIVER_BOUNCE, "5.3.5", "EX_CONFIG", NULL, "");
	/* Every code of the table and a few around it. */
	{
		static const struct {
			int code;
			enum deliver_status st;
			const char *dsn;
		} codes[] = {
			{ 63, DELIVER_DEFER, "4.3.0" },
			{ 64, DELIVER_BOUNCE, "5.3.0" },
			{ 65, DELIVER_BOUNCE, "5.6.0" },
			{ 66, DELIVER_BOUNCE, "5.3.0" },
			{ 68, DELIVER_BOUNCE, "5.1.2" },
			{ 69, DELIVER_BOUNCE, "5.3.0" },
			{ 70, DELIVER_BOUNCE, "5.3.0" },
			{ 71, DELIVER_DEFER, "4.3.0" },
			{ 72, DELIVER_DEFER, "4.3.0" },
			{ 73, DELIVER_DEFER, "4.3.0" },
			{ 74, DELIVER_DEFER, "4.3.0" },
			{ 76, DELIVER_BOUNCE, "5.5.0" },
			{ 77, DELIVER_BOUNCE, "5.7.0" },
			{ 79, DELIVER_DEFER, "4.3.0" },
			{ 127, DELIVER_DEFER, "4.3.0" },
			{ 255, DELIVER_DEFER, "4.3.0" },
		};

		for (size_t i = 0; i < N_ELEMENTS(codes); i++) {
			memset(&o, 0, sizeof(o));
			o.how = PIPE_EXITED;
			o.code = codes[i].code;
			verdict(&o, "/x", codes[i].st, codes[i].dsn,
			    "exited with status", NULL, "");
		}
	}
	free(temp);
	free(nouser);
	free(config);
}

static void
test_cannot_run(void **state)
{
	char *argv[] = { UNCONST("/nonexistent/command"), NULL };
	char *plain = xasprintf("%s/plain.txt", dir);
	struct pipe_outcome o;

	(void)state;
	run(&o, argv, NULL, "", "x\r\n", 0, "\n", 0, NULL);
	assert_int_equal(o.how, PIPE_NOEXEC);
	assert_int_equal(o.code, ENOENT);
	verdict(&o, argv[0], DELIVER_DEFER, "4.3.0", "cannot run command "
	    "/nonexistent/command: No such file or directory", "argv=", "");
	/* Not executable. */
	write_file(plain, "hello\n", 0644);
	argv[0] = plain;
	run(&o, argv, NULL, "", "x\r\n", 0, "\n", 0, NULL);
	if (geteuid() != 0) {
		assert_int_equal(o.how, PIPE_NOEXEC);
		assert_int_equal(o.code, EACCES);
	}
	assert_true(o.how != PIPE_EXITED || o.code != 0);
	/* A working directory that does not exist. */
	argv[0] = UNCONST("/bin/true");
	run(&o, argv, NULL, "", "", 0, "\n", 0, "/nonexistent/dir");
	assert_int_equal(o.how, PIPE_NOEXEC);
	assert_true(o.noexec_chdir);
	verdict(&o, argv[0], DELIVER_DEFER, "4.3.0", "cannot change to its "
	    "directory", NULL, "");
	free(plain);
}

static void
test_signal_and_directory(void **state)
{
	char *killer = script("killer.sh", "#!/bin/sh\necho dying\n"
	    "kill -SEGV $$\n");
	char *argv[] = { killer, NULL };
	char *pwd[] = { UNCONST("/bin/pwd"), NULL };
	struct pipe_outcome o;

	(void)state;
	run(&o, argv, NULL, "", "x\r\n", 0, "\n", 0, NULL);
	assert_int_equal(o.how, PIPE_SIGNALED);
	assert_int_equal(o.code, SIGSEGV);
	verdict(&o, killer, DELIVER_DEFER, "4.3.0", "killed by signal 11",
	    "output: dying", NULL);
	run(&o, pwd, NULL, "", "", 0, "\n", 0, NULL);
	assert_string_equal(o.output, "/\n");
	run(&o, pwd, NULL, "", "", 0, "\n", 0, dir);
	assert_memory_equal(o.output, dir, strlen(dir));
	free(killer);
}

static void
test_time_limit(void **state)
{
	char *pidfile = xasprintf("%s/bg.pid", dir);
	char *text = xasprintf("#!/bin/sh\n/bin/sleep 60 &\necho $! > %s\n"
	    "echo started\nwait\n", pidfile);
	char *slow = script("slow.sh", text);
	char *argv[] = { slow, NULL };
	struct pipe_outcome o;
	char *bg;
	long bgpid = 0;

	(void)state;
	run(&o, argv, NULL, "", "x\r\n", 0, "\n", 1, NULL);
	assert_int_equal(o.how, PIPE_TIMEDOUT);
	verdict(&o, slow, DELIVER_DEFER, "4.3.0", "did not finish within "
	    "its time limit (7 seconds: TRANSPORT_time_limit, else "
	    "command_time_limit)", "output: started", NULL);
	/* The background child went with it (the process group). */
	bg = test_read_file(pidfile, NULL);
	assert_int_equal(sscanf(bg, "%ld", &bgpid), 1);
	assert_true(bgpid > 1);
	for (int i = 0; i < 200; i++) {
		char stat_path[64], *st;
		char *p;

		snprintf(stat_path, sizeof(stat_path), "/proc/%ld/stat",
		    bgpid);
		if (access(stat_path, F_OK) < 0)
			break;
		/* A zombie waiting for its reaper is dead too. */
		st = test_read_file(stat_path, NULL);
		p = strrchr(st, ')');
		if (p != NULL && (p[2] == 'Z' || p[2] == 'X')) {
			free(st);
			break;
		}
		free(st);
		if (i == 199)
			fail_msg("background pid %ld still runs", bgpid);
		usleep(10000);
	}
	free(bg);
	free(slow);
	free(text);
	free(pidfile);
}

static void
test_output_cap_and_big_input(void **state)
{
	char *cat[] = { UNCONST("/bin/cat"), NULL };
	char *t[] = { UNCONST("/bin/true"), NULL };
	size_t n = 200000;
	char *big = xmalloc(n + 1);
	struct pipe_outcome o;

	(void)state;
	for (size_t i = 0; i < n; i++)
		big[i] = (i % 50 == 48) ? '\r' : (i % 50 == 49) ? '\n' :
		    (char)('a' + i % 26);
	big[n] = '\0';
	/* cat echoes it all while it is being written: no deadlock, the
	 * first 1 KiB kept. */
	run(&o, cat, NULL, "", big, 0, "\n", 0, NULL);
	assert_int_equal(o.how, PIPE_EXITED);
	assert_int_equal(o.code, 0);
	assert_int_equal(o.output_len, PIPE_OUTPUT_MAX);
	assert_int_equal(strlen(o.output), PIPE_OUTPUT_MAX);
	assert_false(o.input_short);
	/* A command that reads nothing still succeeds. */
	run(&o, t, NULL, "", big, 0, "\n", 0, NULL);
	assert_int_equal(o.how, PIPE_EXITED);
	assert_int_equal(o.code, 0);
	free(big);
}

static void
test_descriptors_closed(void **state)
{
	char *check = script("fds.sh", "#!/bin/sh\n"
	    "for fd in 3 4 40; do\n"
	    "  if [ -e /proc/$$/fd/$fd ]; then echo open $fd; exit 1; fi\n"
	    "done\nexit 0\n");
	char *argv[] = { check, NULL };
	struct pipe_outcome o;
	int fd = open("/dev/null", O_RDONLY);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(dup2(fd, 40), 40);
	run(&o, argv, NULL, "", "x\r\n", 0, "\n", 0, NULL);
	if (o.how != PIPE_EXITED || o.code != 0)
		fail_msg("%d %d: %s", (int)o.how, o.code, o.output);
	close(40);
	close(fd);
	free(check);
}

static void
test_output_line(void **state)
{
	char out[32];

	(void)state;
	pipe_output_line("  a\r\n\tb  \x01 c\xc3\xa9 ", 16, out, sizeof(out));
	assert_string_equal(out, "a b c??");
	pipe_output_line("abcdef", 6, out, 4);
	assert_string_equal(out, "abc");
	pipe_output_line("", 0, out, sizeof(out));
	assert_string_equal(out, "");
}

/* ---- The agent, driven as the queue manager drives it ---- */

static struct strv logged;

static void
capture(enum log_level level, const char *text, void *ctx)
{
	strv_add_take(&logged, xasprintf("%d: %s", (int)level, text));
}

/* The test message (agent_test_support.h). */
static const struct agent_test_msg the_msg = {
	.sender = "alice@example.net",
	.queue_rcpt = "list@example.org",
	.queue_helo = "helo.example.net",
	.transport = "pipetest",
	.nexthop = "Example.ORG",
	.client_name = "mx.example.net",
	.client_addr = "192.0.2.7",
	.helo = "helo.example.net",
	.protocol = "ESMTP",
	.first_idx = 100,
};

/*
 * deliver - one request of nrcpts recipients (rcpts[i], idx 100 + i,
 * the first one originally list@example.org) with the agent in a,
 * answered into q (the connection is closed after).
 */
static void
deliver(struct agent_test_qmgr *q, struct agent_ctx *a,
    const char *const *rcpts, size_t nrcpts, const char *content)
{
	struct deliver_req r;

	agent_test_req_init(&r, &the_msg, nrcpts);
	for (size_t i = 0; i < nrcpts; i++)
		agent_test_req_rcpt(&r, i, rcpts[i], i == 0 ?
		    "list@example.org" : "");
	agent_test_deliver(q, &agent_pipe, a, &r,
	    agent_test_queue_fd(&the_msg, ID1, content));
	deliver_req_free(&r);
}

/* The user= of the tests: any unprivileged account. */
static const char *
test_user(void)
{
	static char name[64];
	struct passwd *pw = geteuid() == 0 ? getpwnam("nobody") :
	    getpwuid(geteuid());

	assert_non_null(pw);
	snprintf(name, sizeof(name), "%s", pw->pw_name);
	return name;
}

/* with_user - tmpl with "%s" replaced by test_user() (caller frees). */
static char *
with_user(const char *tmpl)
{
	const char *p = strstr(tmpl, "%s");

	if (p == NULL)
		return xstrdup(tmpl);
	return xasprintf("%.*s%s%s", (int)(p - tmpl), tmpl, test_user(),
	    p + 2);
}

/*
 * prepare - a pipe service with args (words separated by one space) and
 * agent_prepare; returns its result.  *svc and a are filled.
 */
static int
prepare(struct agent_ctx *a, struct master_service *svc, char *args)
{
	struct strv sv;
	uid_t uid = 4242;
	gid_t gid = 4242;
	char *save = NULL;

	strv_init(&sv);
	for (char *w = strtok_r(args, " ", &save); w != NULL;
	    w = strtok_r(NULL, " ", &save))
		strv_add(&sv, w);
	memset(svc, 0, sizeof(*svc));
	svc->name = UNCONST("pipetest");
	svc->type = MASTER_TYPE_UNIX;
	svc->command = UNCONST("pipe");
	svc->args = strv_steal(&sv);
	a->service = svc;
	a->view = NULL;
	return agent_prepare(&agent_pipe, a, &uid, &gid);
}

/* release - free what setup keeps (a setup without a service). */
static void
release(struct agent_ctx *a, struct master_service *svc)
{
	uid_t uid = 4242;
	gid_t gid = 4242;

	a->service = NULL;
	(void)agent_prepare(&agent_pipe, a, &uid, &gid);
	free(a->refusal);
	a->refusal = NULL;
	strv_free(&svc->args);
}

static int
setup_agent(void **state)
{
	setup_dir(state);
	strv_init(&logged);
	log_init("ostia", "test", LOG_STYLE_DAEMON);
	/* Quiet: the lines are captured. */
	log_use_fd(open("/dev/null", O_WRONLY | O_CLOEXEC));
	log_set_capture(capture, NULL);
	return 0;
}

static int
teardown_agent(void **state)
{
	log_set_capture(NULL, NULL);
	strv_deinit(&logged);
	return teardown_dir(state);
}

#define MSG "Received: from x\r\nSubject: hi\r\n\r\n.hello\r\nFrom here\r\n"

static void
test_agent_per_recipient(void **state)
{
	/* Writes its input and environment to DIR/RECIPIENT[.env], adds
	 * a line to DIR/runs, exits by the recipient's name. */
	char *text = xasprintf("#!/bin/sh\n"
	    "echo \"$2\" >> %s/runs\n"
	    "cat > \"%s/$2\"\n"
	    "/usr/bin/env | /usr/bin/sort > \"%s/$2.env\"\n"
	    "case \"$2\" in\n"
	    "tempfail*) echo 'disk on fire'; exit 75;;\n"
	    "nouser*) echo \"unknown user $2\" >&2; exit 67;;\n"
	    "esac\nexit 0\n", dir, dir, dir);
	char *cmd = script("deliver.sh", text);
	const char *rcpts[] = { "Bob+Box@Example.ORG", "tempfail@example.org",
	    "nouser@example.org" };
	struct master_service svc;
	struct agent_ctx a = { 0 };
	struct agent_test_qmgr q;
	char *args = xasprintf("flags=DRhu user=%s argv=%s %s ${recipient}",
	    test_user(), cmd, dir);
	char *path, *data, *env, *runs;

	(void)state;
	assert_int_equal(setenv("OSTIA_TEST_LEAK", "1", 1), 0);
	if (prepare(&a, &svc, args) != 0)
		fail_msg("setup refused: %s", a.refusal);
	deliver(&q, &a, rcpts, 3, MSG);
	agent_test_expect(&q, 100, DELIVER_OK, "2.0.0",
	    "delivered to command ");
	agent_test_expect(&q, 101, DELIVER_DEFER, "4.3.0",
	    "exited with status 75 "
	    "(EX_TEMPFAIL, temporary failure); output: disk on fire");
	assert_string_equal(agent_test_status_of(&q, 101)->remote,
	    "x-unix; disk on fire");
	agent_test_expect(&q, 102, DELIVER_BOUNCE, "5.1.1", "unknown user "
	    "nouser@example.org");
	/* One process per recipient; h and u folded the argument. */
	path = xasprintf("%s/runs", dir);
	runs = test_read_file(path, NULL);
	free(path);
	assert_string_equal(runs, "bob+box@example.org\n"
	    "tempfail@example.org\nnouser@example.org\n");
	/* The input: D and R lines (the address as given), LF ends. */
	path = xasprintf("%s/bob+box@example.org", dir);
	data = test_read_file(path, NULL);
	assert_string_equal(data, "Delivered-To: Bob+Box@Example.ORG\n"
	    "Return-Path: <alice@example.net>\nReceived: from x\n"
	    "Subject: hi\n\n.hello\nFrom here\n");
	free(data);
	free(path);
	/* The environment, and nothing of the agent's own. */
	path = xasprintf("%s/bob+box@example.org.env", dir);
	data = test_read_file(path, NULL);
	env = xasprintf("\n%s", data);
	free(data);
	/* No export_environment without a configuration: no LANG. */
	assert_null(strstr(env, "\nLANG="));
	assert_non_null(strstr(env, "\nPATH=/usr/bin:/bin\n"));
	assert_non_null(strstr(env, "\nSENDER=alice@example.net\n"));
	assert_non_null(strstr(env, "\nRECIPIENT=Bob+Box@Example.ORG\n"));
	assert_non_null(strstr(env, "\nORIGINAL_RECIPIENT=list@example.org"
	    "\n"));
	assert_non_null(strstr(env, "\nDOMAIN=Example.ORG\n"));
	assert_non_null(strstr(env, "\nCLIENT_ADDRESS=192.0.2.7\n"));
	assert_null(strstr(env, "OSTIA_TEST_LEAK"));
	assert_null(strstr(env, "SASL_USERNAME"));
	free(env);
	free(path);
	agent_test_qmgr_clear(&q);
	release(&a, &svc);
	free(runs);
	free(args);
	free(cmd);
	free(text);
}

static void
test_agent_one_for_all(void **state)
{
	char *text = xasprintf("#!/bin/sh\necho \"$*\" >> %s/runs\n"
	    "cat > %s/input\nexit 69\n", dir, dir);
	char *cmd = script("all.sh", text);
	const char *rcpts[] = { "a@example.org", "b@example.org" };
	struct master_service svc;
	struct agent_ctx a = { 0 };
	struct agent_test_qmgr q;
	char *args = xasprintf("flags=R. eol=\\r\\n user=%s argv=%s $nexthop "
	    "${sender} $$", test_user(), cmd);
	char *runs, *input, *p;

	(void)state;
	if (prepare(&a, &svc, args) != 0)
		fail_msg("setup refused: %s", a.refusal);
	deliver(&q, &a, rcpts, 2, MSG);
	agent_test_expect(&q, 100, DELIVER_BOUNCE, "5.3.0", "EX_UNAVAILABLE");
	agent_test_expect(&q, 101, DELIVER_BOUNCE, "5.3.0", "EX_UNAVAILABLE");
	p = xasprintf("%s/runs", dir);
	runs = test_read_file(p, NULL);
	free(p);
	assert_string_equal(runs, "Example.ORG alice@example.net $\n");
	p = xasprintf("%s/input", dir);
	input = test_read_file(p, NULL);
	free(p);
	assert_string_equal(input, "Return-Path: <alice@example.net>\r\n"
	    "Received: from x\r\nSubject: hi\r\n\r\n..hello\r\n"
	    "From here\r\n");
	agent_test_qmgr_clear(&q);
	release(&a, &svc);
	free(runs);
	free(input);
	free(args);
	free(cmd);
	free(text);
}

/* allow_min_user = no (the default): a recipient that begins with '-'
 * never reaches the command line; the others are still delivered, one
 * command each. */
static void
test_agent_dash_address(void **state)
{
	char *text = xasprintf("#!/bin/sh\necho \"$*\" >> %s/runs\n"
	    "cat > /dev/null\nexit 0\n", dir);
	char *cmd = script("dash.sh", text);
	const char *rcpts[] = { "a@example.org", "-oQ/tmp/x@example.org",
	    "b@example.org" };
	struct master_service svc;
	struct agent_ctx a = { 0 };
	struct agent_test_qmgr q;
	char *args = xasprintf("user=%s argv=%s -d ${recipient}", test_user(),
	    cmd);
	char *runs, *p;

	(void)state;
	if (prepare(&a, &svc, args) != 0)
		fail_msg("setup refused: %s", a.refusal);
	deliver(&q, &a, rcpts, 3, MSG);
	agent_test_expect(&q, 100, DELIVER_OK, "2.0.0", "delivered");
	agent_test_expect(&q, 101, DELIVER_BOUNCE, "5.1.3", "bad address "
	    "syntax: the recipient begins with '-' (allow_min_user = no); "
	    "not handed to pipe service pipetest");
	agent_test_expect(&q, 102, DELIVER_OK, "2.0.0", "delivered");
	p = xasprintf("%s/runs", dir);
	runs = test_read_file(p, NULL);
	free(p);
	assert_string_equal(runs, "-d a@example.org\n-d b@example.org\n");
	agent_test_qmgr_clear(&q);
	release(&a, &svc);
	free(runs);
	free(args);
	free(cmd);
	free(text);
}

static void
test_agent_size_limit(void **state)
{
	const char *rcpts[] = { "a@example.org" };
	struct master_service svc;
	struct agent_ctx a = { 0 };
	struct agent_test_qmgr q;
	char *args = xasprintf("size=10 user=%s argv=/bin/true", test_user());

	(void)state;
	assert_int_equal(prepare(&a, &svc, args), 0);
	deliver(&q, &a, rcpts, 1, MSG);
	agent_test_expect(&q, 100, DELIVER_BOUNCE, "5.2.3",
	    "larger than the size limit "
	    "of pipe service pipetest (size=10 bytes");
	agent_test_qmgr_clear(&q);
	release(&a, &svc);
	free(args);
}

static void
test_agent_refusals(void **state)
{
	static const struct {
		const char *args;
		const char *words;
	} cases[] = {
		{ "user=root argv=/bin/true", "user=root is root" },
		{ "user=no-such-user-here argv=/bin/true",
		    "user=no-such-user-here: no such user" },
		{ "user=%s:no-such-group argv=/bin/true", "no such group" },
		{ "user=%s:root argv=/bin/true", "gid 0" },
		{ "user=%s argv=bin/true", "pipe service pipetest in "
		    "master.cf: argv=bin/true: the command must be an "
		    "absolute path" },
		{ "argv=/bin/true", "user= is missing" },
		{ "user=%s argv=/bin/echo ${bogus}", "unknown macro "
		    "\"bogus\"" },
	};
	const char *rcpts[] = { "a@example.org", "b@example.org" };

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct master_service svc;
		struct agent_ctx a = { 0 };
		struct agent_test_qmgr q;
		char *args = with_user(cases[i].args);

		assert_int_equal(prepare(&a, &svc, args), -1);
		assert_non_null(a.refusal);
		if (strstr(a.refusal, cases[i].words) == NULL)
			fail_msg("refusal \"%s\" lacks \"%s\"", a.refusal,
			    cases[i].words);
		/* Every recipient deferred with the reason. */
		deliver(&q, &a, rcpts, 2, MSG);
		agent_test_expect(&q, 100, DELIVER_DEFER, "4.3.5",
		    cases[i].words);
		agent_test_expect(&q, 101, DELIVER_DEFER, "4.3.5",
		    cases[i].words);
		agent_test_qmgr_clear(&q);
		release(&a, &svc);
		free(args);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_true_false, setup_dir,
		    teardown_dir),
		cmocka_unit_test_setup_teardown(test_environment, setup_dir,
		    teardown_dir),
		cmocka_unit_test_setup_teardown(test_input_as_seen, setup_dir,
		    teardown_dir),
		cmocka_unit_test(test_prefix_lines),
		cmocka_unit_test_setup_teardown(test_sysexits, setup_dir,
		    teardown_dir),
		cmocka_unit_test_setup_teardown(test_cannot_run, setup_dir,
		    teardown_dir),
		cmocka_unit_test_setup_teardown(test_signal_and_directory,
		    setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_time_limit, setup_dir,
		    teardown_dir),
		cmocka_unit_test_setup_teardown(test_output_cap_and_big_input,
		    setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_descriptors_closed,
		    setup_dir, teardown_dir),
		cmocka_unit_test(test_output_line),
		cmocka_unit_test_setup_teardown(test_agent_per_recipient,
		    setup_agent, teardown_agent),
		cmocka_unit_test_setup_teardown(test_agent_one_for_all,
		    setup_agent, teardown_agent),
		cmocka_unit_test_setup_teardown(test_agent_size_limit,
		    setup_agent, teardown_agent),
		cmocka_unit_test_setup_teardown(test_agent_dash_address,
		    setup_agent, teardown_agent),
		cmocka_unit_test_setup_teardown(test_agent_refusals,
		    setup_agent, teardown_agent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
