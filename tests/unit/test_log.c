/* SPDX-License-Identifier: MIT */
/*
 * test_log - logging and log_escape (src/lib/log.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compat.h"
#include "log.h"

/* What the capture hook saw. */
struct captured {
	int calls;
	enum log_level level;
	char text[LOG_LINE_MAX_BYTES + 16];
};

static void
capture(enum log_level level, const char *text, void *ctx)
{
	struct captured *c = ctx;

	c->calls++;
	c->level = level;
	snprintf(c->text, sizeof(c->text), "%s", text);
}

/* Open pipe used as the log destination; -1 when not in use. */
static int log_pipe[2] = { -1, -1 };

static int
setup_pipe(void **state)
{
	if (pipe(log_pipe) < 0)
		return -1;
	/* Non-blocking read end: an empty pipe reads as "nothing logged". */
	fcntl(log_pipe[0], F_SETFL, O_NONBLOCK);
	log_init("ostia", "test", LOG_STYLE_COMMAND);
	log_use_fd(log_pipe[1]);
	log_set_verbose(0);
	return 0;
}

static int
teardown_pipe(void **state)
{
	log_set_capture(NULL, NULL);
	log_use_fd(2);
	close(log_pipe[0]);
	close(log_pipe[1]);
	log_pipe[0] = log_pipe[1] = -1;
	return 0;
}

/* read_log - what was written to the pipe since the last call. */
static char *
read_log(char *dst, size_t dstsz)
{
	ssize_t n = read(log_pipe[0], dst, dstsz - 1);

	dst[n > 0 ? n : 0] = '\0';
	return dst;
}

struct escape_case {
	const char *src;
	size_t srclen;
	size_t max_in;
	size_t dstsz;
	const char *want;
};

static const struct escape_case escape_cases[] = {
	{ "plain text", 10, 100, 64, "plain text" },
	{ "", 0, 100, 64, "" },
	{ "a\\b", 3, 100, 64, "a\\\\b" },
	{ "\r\n", 2, 100, 64, "\\015\\012" },
	{ "line\nFAKE: entry", 16, 100, 64, "line\\012FAKE: entry" },
	{ "a\0b", 3, 100, 64, "a\\000b" },
	{ "\t\x1b[0m", 5, 100, 64, "\\011\\033[0m" },
	{ "\x7f", 1, 100, 64, "\\177" },
	{ "\xc3\xa9t\xff", 4, 100, 64, "\\303\\251t\\377" },
	{ " ~", 2, 100, 64, " ~" },
	/* max_in cuts the input. */
	{ "abcdef", 6, 3, 64, "abc..." },
	{ "abcdef", 6, 6, 64, "abcdef" },
	{ "abcdef", 6, 0, 64, "..." },
	/* A small dst cuts the output, never inside an escape. */
	{ "abcdef", 6, 100, 5, "a..." },
	{ "abcdef", 6, 100, 8, "abcd..." },
	{ "\x01\x02", 2, 100, 8, "\\001..." },
	{ "\x01\x02", 2, 100, 12, "\\001\\002" },
	{ "\\\\", 2, 100, 6, "\\\\..." },
	/* Too small for anything: empty. */
	{ "abcdef", 6, 100, 4, "" },
	{ "abcdef", 6, 100, 1, "" },
};

static void
test_escape_table(void **state)
{
	for (size_t i = 0; i < N_ELEMENTS(escape_cases); i++) {
		const struct escape_case *c = &escape_cases[i];
		char dst[64];
		char *ret;

		memset(dst, 'X', sizeof(dst));
		ret = log_escape(dst, c->dstsz, c->src, c->srclen, c->max_in);
		assert_ptr_equal(ret, dst);
		if (strcmp(dst, c->want) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, dst,
			    c->want);
		assert_true(strlen(dst) < c->dstsz);
		/* Nothing written past dstsz. */
		for (size_t j = c->dstsz; j < sizeof(dst); j++)
			assert_int_equal(dst[j], 'X');
	}
}

/* dstsz 0: dst is not touched at all. */
static void
test_escape_zero(void **state)
{
	char dst[4] = "XYZ";

	log_escape(dst, 0, "abc", 3, 100);
	assert_string_equal(dst, "XYZ");
}

/* Every byte value either stays itself or becomes \ooo / \\. */
static void
test_escape_all_bytes(void **state)
{
	unsigned char src[256];
	char dst[256 * 4 + 8];

	for (int i = 0; i < 256; i++)
		src[i] = (unsigned char)i;
	log_escape(dst, sizeof(dst), src, sizeof(src), sizeof(src));
	for (const char *p = dst; *p != '\0'; p++)
		assert_true(*p >= 0x20 && *p < 0x7f);
	assert_non_null(strstr(dst, "\\000\\001"));
	assert_non_null(strstr(dst, "\\376\\377"));
	assert_non_null(strstr(dst, "[\\\\]"));
	assert_null(strstr(dst, "..."));
}

static void
test_capture(void **state)
{
	struct captured c = { 0 };
	char out[512];

	log_set_capture(capture, &c);
	log_warning("disk %s at %d%%", "full", 99);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.level, LOG_LVL_WARNING);
	assert_string_equal(c.text, "disk full at 99%");
	log_error("e");
	assert_int_equal(c.level, LOG_LVL_ERROR);
	log_info("i");
	assert_int_equal(c.level, LOG_LVL_INFO);
	assert_string_equal(c.text, "i");
	assert_int_equal(c.calls, 3);
	/* The destination got the lines too. */
	read_log(out, sizeof(out));
	assert_string_equal(out, "ostia/test: warning: disk full at 99%\n"
	    "ostia/test: error: e\n"
	    "ostia/test: i\n");
	/* Capture off. */
	log_set_capture(NULL, NULL);
	log_info("not captured");
	assert_int_equal(c.calls, 3);
}

/* A message is one line: CR and LF cannot forge another. */
static void
test_newlines(void **state)
{
	struct captured c = { 0 };
	char out[512];

	log_set_capture(capture, &c);
	log_warning("a\nostia/smtpd[1]: fake\r\nb");
	assert_string_equal(c.text, "a ostia/smtpd[1]: fake  b");
	read_log(out, sizeof(out));
	assert_string_equal(out, "ostia/test: warning: a ostia/smtpd[1]: "
	    "fake  b\n");
}

static void
test_long_message(void **state)
{
	struct captured c = { 0 };
	char *big = malloc(3 * LOG_LINE_MAX_BYTES);
	char *out = malloc(2 * LOG_LINE_MAX_BYTES);
	size_t len;

	memset(big, 'x', 3 * LOG_LINE_MAX_BYTES - 1);
	big[3 * LOG_LINE_MAX_BYTES - 1] = '\0';
	log_set_capture(capture, &c);
	log_info("%s", big);
	len = strlen(c.text);
	assert_int_equal(len, LOG_LINE_MAX_BYTES - 1);
	assert_string_equal(c.text + len - 3, "...");
	assert_int_equal(c.text[len - 4], 'x');
	read_log(out, 2 * LOG_LINE_MAX_BYTES);
	len = strlen(out);
	assert_int_equal(len, strlen("ostia/test: ") + LOG_LINE_MAX_BYTES);
	assert_string_equal(out + len - 4, "...\n");
	free(big);
	free(out);
}

static void
test_debug_verbosity(void **state)
{
	struct captured c = { 0 };
	char out[512];

	log_set_capture(capture, &c);
	log_set_verbose(0);
	assert_int_equal(log_get_verbose(), 0);
	log_debug(1, "hidden");
	assert_int_equal(c.calls, 0);
	assert_string_equal(read_log(out, sizeof(out)), "");

	log_set_verbose(2);
	assert_int_equal(log_get_verbose(), 2);
	log_debug(1, "one");
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.level, LOG_LVL_DEBUG);
	assert_string_equal(c.text, "one");
	log_debug(2, "two");
	assert_int_equal(c.calls, 2);
	log_debug(3, "three");
	assert_int_equal(c.calls, 2);
	assert_string_equal(read_log(out, sizeof(out)),
	    "ostia/test: one\nostia/test: two\n");
	log_set_verbose(0);
}

/* Daemon style on a descriptor: "stamp host ident[pid]: warning: text". */
static void
test_daemon_line(void **state)
{
	char out[1024], pattern[256];
	regex_t re;
	int rc;

	log_init("ostia", "smtpd", LOG_STYLE_DAEMON);
	log_use_fd(log_pipe[1]);
	assert_string_equal(log_ident(), "ostia/smtpd");
	log_warning("hello %s", "world");
	read_log(out, sizeof(out));
	snprintf(pattern, sizeof(pattern),
	    "^[A-Z][a-z][a-z] [ 1-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-6][0-9]"
	    "\\.[0-9]{6} [^ .]+ ostia/smtpd\\[%ld\\]: warning: hello world\n$",
	    (long)getpid());
	assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
	rc = regexec(&re, out, 0, NULL, 0);
	regfree(&re);
	if (rc != 0)
		fail_msg("line does not match: \"%s\"", out);
	/* Exactly one line. */
	assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1);

	/* Info has no severity word. */
	log_info("plain");
	read_log(out, sizeof(out));
	snprintf(pattern, sizeof(pattern), " ostia/smtpd[%ld]: plain\n",
	    (long)getpid());
	assert_non_null(strstr(out, pattern));

	/* Without a process name the ident is the syslog name alone. */
	log_init("postfix-compat", NULL, LOG_STYLE_COMMAND);
	assert_string_equal(log_ident(), "postfix-compat");
	log_use_fd(log_pipe[1]);
	log_error("x");
	assert_string_equal(read_log(out, sizeof(out)),
	    "postfix-compat: error: x\n");
}

/* expect_tail - the next line read ends in " IDENT[PID]: TEXT\n". */
static void
expect_tail(const char *ident, long pid, const char *text)
{
	char out[1024], want[128];

	read_log(out, sizeof(out));
	snprintf(want, sizeof(want), " %s[%ld]: %s\n", ident, pid, text);
	if (strstr(out, want) == NULL)
		fail_msg("\"%s\" does not end in \"%s\"", out, want);
}

/*
 * The head of a daemon-style line is cached: a new identity (log_init)
 * and a new process (fork) show at once, within the same second.
 */
static void
test_daemon_head_cache(void **state)
{
	pid_t pid;
	int status;

	log_init("ostia", "smtpd", LOG_STYLE_DAEMON);
	log_use_fd(log_pipe[1]);
	log_info("one");
	expect_tail("ostia/smtpd", (long)getpid(), "one");

	log_init("ostia", "qmgr", LOG_STYLE_DAEMON);
	log_use_fd(log_pipe[1]);
	log_info("two");
	expect_tail("ostia/qmgr", (long)getpid(), "two");

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		log_info("three");
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	expect_tail("ostia/qmgr", (long)pid, "three");

	/* And the parent is itself again. */
	log_info("four");
	expect_tail("ostia/qmgr", (long)getpid(), "four");
}

/* A long daemon-style line still ends in a newline. */
static void
test_daemon_long_line(void **state)
{
	char *big = malloc(2 * LOG_LINE_MAX_BYTES);
	char *out = malloc(4 * LOG_LINE_MAX_BYTES);
	size_t len;

	memset(big, 'y', 2 * LOG_LINE_MAX_BYTES - 1);
	big[2 * LOG_LINE_MAX_BYTES - 1] = '\0';
	log_init("ostia", "smtpd", LOG_STYLE_DAEMON);
	log_use_fd(log_pipe[1]);
	log_warning("%s", big);
	read_log(out, 4 * LOG_LINE_MAX_BYTES);
	len = strlen(out);
	assert_true(len > LOG_LINE_MAX_BYTES);
	assert_true(len < LOG_LINE_MAX_BYTES + 512);
	assert_string_equal(out + len - 4, "...\n");
	assert_ptr_equal(strchr(out, '\n'), out + len - 1);
	free(big);
	free(out);
}

static void
test_errno_kept(void **state)
{
	char out[256];

	errno = ENOENT;
	log_info("x");
	assert_int_equal(errno, ENOENT);
	read_log(out, sizeof(out));
}

static void
test_syslog_facility(void **state)
{
	const char *error = NULL;

	assert_int_equal(log_use_syslog("nosuch", &error), -1);
	assert_non_null(error);
	assert_non_null(strstr(error, "unknown syslog facility"));
	error = NULL;
	assert_int_equal(log_use_syslog("LOCAL3", &error), 0);
	assert_null(error);
	/* Back to the pipe (this also closes the syslog connection). */
	log_use_fd(log_pipe[1]);
}

/* no_core - an expected abort should not leave a core file behind. */
static void
no_core(void)
{
	struct rlimit rl = { 0, 0 };

	setrlimit(RLIMIT_CORE, &rl);
}

static int fatal_hook_fd = -1;

static void
fatal_hook(void)
{
	if (write(fatal_hook_fd, "H", 1) < 0)
		_exit(99);
}

/* log_fatal: message, hook once, exit status 1.  log_panic: abort. */
static void
test_fatal_and_panic(void **state)
{
	char out[512];
	int status;
	pid_t pid;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		fatal_hook_fd = log_pipe[1];
		log_set_fatal_hook(fatal_hook);
		log_fatal("cannot open %s", "/nonexistent");
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);
	assert_string_equal(read_log(out, sizeof(out)),
	    "ostia/test: fatal: cannot open /nonexistent\nH");

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		no_core();
		log_panic("bug %d", 7);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
	assert_string_equal(read_log(out, sizeof(out)),
	    "ostia/test: panic: bug 7\n");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape_table),
		cmocka_unit_test(test_escape_zero),
		cmocka_unit_test(test_escape_all_bytes),
		cmocka_unit_test_setup_teardown(test_capture, setup_pipe,
		    teardown_pipe),
		cmocka_unit_test_setup_teardown(test_newlines, setup_pipe,
		    teardown_pipe),
		cmocka_unit_test_setup_teardown(test_long_message, setup_pipe,
		    teardown_pipe),
		cmocka_unit_test_setup_teardown(test_debug_verbosity,
		    setup_pipe, teardown_pipe),
		cmocka_unit_test_setup_teardown(test_daemon_line, setup_pipe,
		    teardown_pipe),
		cmocka_unit_test_setup_teardown(test_daemon_head_cache,
		    setup_pipe, teardown_pipe),
		cmocka_unit_test_setup_teardown(test_daemon_long_line,
		    setup_pipe, teardown_pipe),
		cmocka_unit_test_setup_teardown(test_errno_kept, setup_pipe,
		    teardown_pipe),
		cmocka_unit_test_setup_teardown(test_syslog_facility,
		    setup_pipe, teardown_pipe),
		cmocka_unit_test_setup_teardown(test_fatal_and_panic,
		    setup_pipe, teardown_pipe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
