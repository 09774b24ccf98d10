/* SPDX-License-Identifier: MIT */
/*
 * test_mbox - mbox files (src/deliver/mbox.c): the From_ line, the
 * header lines, LF line ends, ">From " quoting and the blank line
 * between messages; the size mbox_message_size() predicts is the size
 * written; the dot-lock (held: EAGAIN, nothing written; stale: taken
 * over) and the fcntl lock (held by another process: EAGAIN); a file
 * that is a symbolic link, has two links, is no regular file or belongs
 * to someone else is refused; mailbox_size_limit (EFBIG, nothing
 * written); a write that fails half way leaves the mailbox as it was.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mbox.h"
#include "test_support.h"
#include "xalloc.h"

static char dir[64];

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/ostia-mbox-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int
teardown(void **state)
{
	char *cmd = xasprintf("rm -rf %s", dir);

	(void)state;
	assert_int_equal(system(cmd), 0);
	free(cmd);
	return 0;
}

static char *
path_of(const char *name)
{
	return xasprintf("%s/%s", dir, name);
}

static void
opts_init(struct mbox_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->sender = "a@example.net";
	o->now = 0;
	o->dotlock = true;
	o->create = true;
	o->attempts = 2;
	o->delay_ms = 1;
}

static char *
file_text(const char *path, size_t *len_r)
{
	return test_read_file(path, len_r);
}

static off_t
file_size(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -1;
	return st.st_size;
}

#define MSG "Received: from x\r\nSubject: s\r\n\r\nFrom me\r\n" \
	">From you\r\nFrom the start\r\nno end"

static void
test_format(void **state)
{
	char *p = path_of("box");
	struct mbox_opts o;
	char *why = NULL, *data, date[64], *want;
	size_t len;
	int e = 0;

	(void)state;
	opts_init(&o);
	assert_int_equal(mbox_deliver(p, "Return-Path: <a@example.net>\n"
	    "Delivered-To: b@example.org\n", MSG, strlen(MSG), &o, &e, &why),
	    0);
	o.sender = "";
	assert_int_equal(mbox_deliver(p, "", "Subject: 2\r\n\r\nx\r\n", 17,
	    &o, &e, &why), 0);
	data = file_text(p, &len);
	mbox_date(0, date, sizeof(date));
	want = xasprintf("From a@example.net %s\n"
	    "Return-Path: <a@example.net>\nDelivered-To: b@example.org\n"
	    "Received: from x\nSubject: s\n\n>From me\n>From you\n"
	    ">From the start\nno end\n\n"
	    "From MAILER-DAEMON %s\nSubject: 2\n\nx\n\n", date, date);
	assert_string_equal(data, want);
	assert_int_equal(len, strlen(want));
	/* The predicted size is the size written. */
	assert_int_equal(mbox_message_size("a@example.net",
	    "Return-Path: <a@example.net>\nDelivered-To: b@example.org\n",
	    MSG, strlen(MSG)) + mbox_message_size("", "",
	    "Subject: 2\r\n\r\nx\r\n", 17), len);
	/* Created mode 0600, no lock file left. */
	{
		struct stat st;
		char *lock = xasprintf("%s.lock", p);

		assert_int_equal(stat(p, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0600);
		assert_int_equal(access(lock, F_OK), -1);
		free(lock);
	}
	free(want);
	free(data);
	free(p);
}

static void
test_dotlock(void **state)
{
	char *p = path_of("locked"), *lock = xasprintf("%s.lock", p);
	struct mbox_opts o;
	struct timeval old[2] = { { 1000, 0 }, { 1000, 0 } };
	char *why = NULL;
	int e = 0, fd;

	(void)state;
	opts_init(&o);
	fd = open(lock, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(mbox_deliver(p, "", "x\r\n", 3, &o, &e, &why), -1);
	assert_int_equal(e, EAGAIN);
	assert_non_null(strstr(why, "is locked"));
	free(why);
	why = NULL;
	assert_int_equal(access(p, F_OK), -1);
	/* Someone else's lock is left alone. */
	assert_int_equal(access(lock, F_OK), 0);
	/* A stale lock is taken over (and removed after). */
	assert_int_equal(utimes(lock, old), 0);
	assert_int_equal(mbox_deliver(p, "", "x\r\n", 3, &o, &e, &why), 0);
	assert_true(file_size(p) > 0);
	assert_int_equal(access(lock, F_OK), -1);
	/* No dot-lock asked for: a lock file does not matter. */
	fd = open(lock, O_WRONLY | O_CREAT | O_EXCL, 0600);
	close(fd);
	o.dotlock = false;
	assert_int_equal(mbox_deliver(p, "", "x\r\n", 3, &o, &e, &why), 0);
	free(lock);
	free(p);
}

static void
test_fcntl_lock(void **state)
{
	char *p = path_of("flocked");
	struct mbox_opts o;
	int ready[2], hold[2], fd, status;
	char *why = NULL, c;
	pid_t pid;
	int e = 0;

	(void)state;
	opts_init(&o);
	fd = open(p, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(hold), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct flock fl;

		close(ready[0]);
		close(hold[1]);
		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		if (fcntl(fd, F_SETLK, &fl) < 0)
			_exit(1);
		if (write(ready[1], "x", 1) != 1)
			_exit(1);
		/* Hold the lock until the parent closes its end. */
		if (read(hold[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	close(ready[1]);
	close(hold[0]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	assert_int_equal(mbox_deliver(p, "", "x\r\n", 3, &o, &e, &why), -1);
	assert_int_equal(e, EAGAIN);
	assert_non_null(strstr(why, "locked by another process"));
	free(why);
	assert_int_equal(file_size(p), 0);
	close(hold[1]);
	close(ready[0]);
	waitpid(pid, &status, 0);
	/* Released: now it goes. */
	assert_int_equal(mbox_deliver(p, "", "x\r\n", 3, &o, &e, &why), 0);
	close(fd);
	free(p);
}

static void
test_refusals(void **state)
{
	char *p = path_of("target"), *lnk = path_of("symlink");
	char *hard = path_of("hard"), *d = path_of("adir");
	struct mbox_opts o;
	char *why = NULL;
	int e = 0, fd;

	(void)state;
	opts_init(&o);
	fd = open(p, O_WRONLY | O_CREAT, 0600);
	close(fd);
	assert_int_equal(symlink(p, lnk), 0);
	assert_int_equal(mbox_deliver(lnk, "", "x\r\n", 3, &o, &e, &why),
	    -1);
	assert_int_equal(e, EPERM);
	assert_non_null(strstr(why, "symbolic link"));
	free(why);
	assert_int_equal(link(p, hard), 0);
	assert_int_equal(mbox_deliver(p, "", "x\r\n", 3, &o, &e, &why), -1);
	assert_non_null(strstr(why, "hard links"));
	free(why);
	assert_int_equal(unlink(hard), 0);
	assert_int_equal(mkdir(d, 0700), 0);
	assert_int_equal(mbox_deliver(d, "", "x\r\n", 3, &o, &e, &why), -1);
	free(why);
	/* Owner check. */
	o.check_owner = true;
	o.owner = geteuid() + 1;
	assert_int_equal(mbox_deliver(p, "", "x\r\n", 3, &o, &e, &why), -1);
	assert_int_equal(e, EPERM);
	assert_non_null(strstr(why, "not to the recipient"));
	free(why);
	o.owner = geteuid();
	assert_int_equal(mbox_deliver(p, "", "x\r\n", 3, &o, &e, &why), 0);
	/* Not created when not asked to. */
	o.create = false;
	free(p);
	p = path_of("missing");
	assert_int_equal(mbox_deliver(p, "", "x\r\n", 3, &o, &e, &why), -1);
	assert_int_equal(e, ENOENT);
	free(why);
	assert_int_equal(file_size(p), -1);
	free(p);
	free(lnk);
	free(hard);
	free(d);
}

static void
test_limit(void **state)
{
	char *p = path_of("limited");
	struct mbox_opts o;
	char *why = NULL;
	uint64_t one = mbox_message_size("a@example.net", "", "x\r\n", 3);
	int e = 0;

	(void)state;
	opts_init(&o);
	o.limit = one * 2;
	assert_int_equal(mbox_deliver(p, "", "x\r\n", 3, &o, &e, &why), 0);
	assert_int_equal(mbox_deliver(p, "", "x\r\n", 3, &o, &e, &why), 0);
	assert_int_equal(file_size(p), (off_t)(one * 2));
	assert_int_equal(mbox_deliver(p, "", "x\r\n", 3, &o, &e, &why), -1);
	assert_int_equal(e, EFBIG);
	assert_non_null(strstr(why, "mailbox_size_limit"));
	free(why);
	assert_int_equal(file_size(p), (off_t)(one * 2));
	free(p);
}

/* A write that fails half way (RLIMIT_FSIZE): the file is cut back. */
static void
test_rollback(void **state)
{
	char *p = path_of("rollback");
	struct mbox_opts o;
	char *why = NULL, *big;
	int e = 0, status;
	off_t before;
	pid_t pid;

	(void)state;
	opts_init(&o);
	assert_int_equal(mbox_deliver(p, "", "x\r\n", 3, &o, &e, &why), 0);
	before = file_size(p);
	big = xmalloc(300000);
	memset(big, 'y', 299999);
	big[299999] = '\0';
	for (size_t i = 1000; i < 299999; i += 1000)
		big[i] = '\n';
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit rl = { (rlim_t)before + 100000,
			(rlim_t)before + 100000 };

		signal(SIGXFSZ, SIG_IGN);
		if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
			_exit(2);
		if (mbox_deliver(p, "", big, strlen(big), &o, &e, &why) == 0)
			_exit(3);
		_exit(e == EFBIG && strstr(why, "cannot write") != NULL ?
		    0 : 4);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(file_size(p), before);
	free(big);
	free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_dotlock),
		cmocka_unit_test(test_fcntl_lock),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_rollback),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
