/* SPDX-License-Identifier: MIT */
/*
 * test_master_pid - the pid file and the single-master lock: the pid is
 * written, a second master (another process) is refused with the
 * holder's pid, the holder is found from another process and is gone
 * once it closes its descriptor or exits, a stale pid file is taken
 * over, forked children do not keep the lock, symbolic links and
 * missing directories are refused.
 *
 * fcntl locks belong to a process, so every "other master" here is a
 * forked child that reports through a pipe or its exit status.  A child
 * never returns into cmocka: it always ends with _exit().
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
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "master_pid.h"
#include "xalloc.h"

struct fixture {
	char dir[64];
	char *path;
};

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/ostia-test-pid.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	f->path = xasprintf("%s/master.pid", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char *other = xasprintf("%s/other", f->dir);

	(void)unlink(f->path);
	(void)unlink(other);
	(void)rmdir(f->dir);
	free(other);
	free(f->path);
	free(f);
	return 0;
}

/* read_text - the whole (small) file; caller frees. */
static char *
read_text(const char *path)
{
	char buf[256];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	assert_true(n >= 0);
	buf[n] = '\0';
	close(fd);
	return xstrdup(buf);
}

static void
write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	size_t len = strlen(text);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
}

/* assert_pid_text - the file holds exactly "%10ld\n" of pid. */
static void
assert_pid_text(const char *path, pid_t pid)
{
	char want[32];
	char *got = read_text(path);

	snprintf(want, sizeof(want), "%10ld\n", (long)pid);
	assert_string_equal(got, want);
	free(got);
}

/* ------------------------------------------------------------------ */
/* Children                                                            */

enum child_op {
	OP_LOCK,	/* master_pid_lock; report "ret|error" */
	OP_QUERY,	/* master_pid_query; report "pid|error" */
};

/*
 * in_child - run op on path in a forked child and return what it
 * reported ("<number>|<error text>"); caller frees.  Asserts the child
 * exited 0.
 */
static char *
in_child(enum child_op op, const char *path)
{
	char buf[1024];
	size_t len = 0;
	int p[2], status;
	pid_t pid;
	ssize_t n;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char *error = NULL;
		char *line;
		long r;

		close(p[0]);
		if (op == OP_LOCK)
			r = master_pid_lock(path, &error);
		else
			r = master_pid_query(path, &error);
		line = xasprintf("%ld|%s", r, error != NULL ? error : "");
		if (write(p[1], line, strlen(line)) != (ssize_t)strlen(line))
			_exit(3);
		/* A lock taken here goes with the process. */
		_exit(0);
	}
	close(p[1]);
	while ((n = read(p[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	close(p[0]);
	buf[len] = '\0';
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	return xstrdup(buf);
}

static long
child_number(const char *report)
{
	return strtol(report, NULL, 10);
}

static const char *
child_error(const char *report)
{
	const char *bar = strchr(report, '|');

	assert_non_null(bar);
	return bar + 1;
}

/*
 * A child that takes the lock, says "L" on ready_w once it holds it and
 * keeps it until go_r is closed or written to.
 */
struct holder {
	pid_t pid;
	int go_w;
};

static struct holder
start_holder(const char *path)
{
	struct holder h;
	int ready[2], go[2];
	char c = 0;

	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	h.pid = fork();
	assert_true(h.pid >= 0);
	if (h.pid == 0) {
		char *error = NULL;
		int fd;

		close(ready[0]);
		close(go[1]);
		fd = master_pid_lock(path, &error);
		if (write(ready[1], fd >= 0 ? "L" : "E", 1) != 1)
			_exit(3);
		if (fd < 0)
			_exit(4);
		/* EOF or a byte: either way, time to go. */
		if (read(go[0], &c, 1) < 0)
			_exit(5);
		_exit(0);
	}
	close(ready[1]);
	close(go[0]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	assert_int_equal(c, 'L');
	h.go_w = go[1];
	return h;
}

static void
stop_holder(struct holder *h)
{
	int status;

	close(h->go_w);
	assert_int_equal(waitpid(h->pid, &status, 0), h->pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */

static void
test_path(void **state)
{
	char *p;

	(void)state;
	p = master_pid_path("/var/spool/ostia");
	assert_string_equal(p, "/var/spool/ostia/pid/master.pid");
	free(p);
	p = master_pid_path("relative/q");
	assert_string_equal(p, "relative/q/pid/master.pid");
	free(p);
}

static void
test_lock_writes_pid(void **state)
{
	struct fixture *f = *state;
	char *error = NULL;
	int fd, flags;

	fd = master_pid_lock(f->path, &error);
	assert_null(error);
	assert_true(fd >= 0);
	assert_pid_text(f->path, getpid());
	flags = fcntl(fd, F_GETFD);
	assert_true(flags >= 0);
	assert_true((flags & FD_CLOEXEC) != 0);
	/* Our own lock is invisible to ourselves (fcntl semantics). */
	assert_int_equal(master_pid_query(f->path, &error), 0);
	close(fd);
}

static void
test_query_no_file(void **state)
{
	struct fixture *f = *state;
	char *error = NULL;

	assert_int_equal(master_pid_query(f->path, &error), 0);
	assert_null(error);
	/* A missing directory is "not running" as well. */
	assert_int_equal(master_pid_query("/nonexistent-ostia-dir/pid/"
	    "master.pid", &error), 0);
	assert_null(error);
}

static void
test_query_from_other_process(void **state)
{
	struct fixture *f = *state;
	char *error = NULL, *r;
	int fd;

	fd = master_pid_lock(f->path, &error);
	assert_true(fd >= 0);
	r = in_child(OP_QUERY, f->path);
	assert_int_equal(child_number(r), getpid());
	assert_string_equal(child_error(r), "");
	free(r);

	close(fd);
	r = in_child(OP_QUERY, f->path);
	assert_int_equal(child_number(r), 0);
	assert_string_equal(child_error(r), "");
	free(r);
	/* The file stays; only the lock is gone. */
	assert_int_equal(access(f->path, F_OK), 0);
}

static void
test_second_master_refused(void **state)
{
	struct fixture *f = *state;
	char *error = NULL, *r, *want_pid;
	int fd;

	fd = master_pid_lock(f->path, &error);
	assert_true(fd >= 0);
	r = in_child(OP_LOCK, f->path);
	assert_int_equal(child_number(r), -1);
	want_pid = xasprintf("(pid %ld)", (long)getpid());
	if (strstr(child_error(r), want_pid) == NULL)
		print_message("error: %s\n", child_error(r));
	assert_non_null(strstr(child_error(r), want_pid));
	assert_non_null(strstr(child_error(r), "already running"));
	assert_non_null(strstr(child_error(r), f->path));
	free(want_pid);
	free(r);
	/* The refused master did not touch the file. */
	assert_pid_text(f->path, getpid());

	/* After the holder closes, the next one gets in. */
	close(fd);
	r = in_child(OP_LOCK, f->path);
	assert_true(child_number(r) >= 0);
	assert_string_equal(child_error(r), "");
	free(r);
}

static void
test_holder_is_another_process(void **state)
{
	struct fixture *f = *state;
	struct holder h;
	char *error = NULL, *want_pid;
	int fd;

	h = start_holder(f->path);
	assert_pid_text(f->path, h.pid);
	assert_int_equal(master_pid_query(f->path, &error), h.pid);
	assert_null(error);

	fd = master_pid_lock(f->path, &error);
	assert_int_equal(fd, -1);
	assert_non_null(error);
	want_pid = xasprintf("(pid %ld)", (long)h.pid);
	assert_non_null(strstr(error, want_pid));
	assert_non_null(strstr(error, "already running"));
	free(want_pid);
	free(error);
	error = NULL;
	assert_pid_text(f->path, h.pid);

	/* The holder exits: nobody holds the lock, a new master may run. */
	stop_holder(&h);
	assert_int_equal(master_pid_query(f->path, &error), 0);
	assert_null(error);
	fd = master_pid_lock(f->path, &error);
	assert_null(error);
	assert_true(fd >= 0);
	assert_pid_text(f->path, getpid());
	close(fd);
}

static void
test_stale_file(void **state)
{
	struct fixture *f = *state;
	char *error = NULL;
	int fd;

	/* A crashed master left its pid, and more bytes than ours. */
	write_text(f->path, "         1\nleftover text from an older version\n");
	assert_int_equal(master_pid_query(f->path, &error), 0);
	assert_null(error);
	fd = master_pid_lock(f->path, &error);
	assert_null(error);
	assert_true(fd >= 0);
	assert_pid_text(f->path, getpid());
	close(fd);

	/* Garbage and an empty file are stale too. */
	write_text(f->path, "not a pid at all");
	assert_int_equal(master_pid_query(f->path, &error), 0);
	fd = master_pid_lock(f->path, &error);
	assert_true(fd >= 0);
	assert_pid_text(f->path, getpid());
	close(fd);
	write_text(f->path, "");
	fd = master_pid_lock(f->path, &error);
	assert_true(fd >= 0);
	assert_pid_text(f->path, getpid());
	close(fd);
	assert_null(error);
}

static void
test_fork_does_not_inherit_lock(void **state)
{
	struct fixture *f = *state;
	char *error = NULL, *r;
	int fd, go[2], status;
	pid_t pid;
	char c;

	fd = master_pid_lock(f->path, &error);
	assert_true(fd >= 0);
	assert_int_equal(pipe(go), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* Keeps a copy of fd open, but holds no lock through it. */
		close(go[1]);
		if (read(go[0], &c, 1) < 0)
			_exit(5);
		_exit(0);
	}
	close(go[0]);
	r = in_child(OP_QUERY, f->path);
	assert_int_equal(child_number(r), getpid());
	free(r);
	close(fd);
	/* The forked child still has the descriptor, not the lock. */
	r = in_child(OP_QUERY, f->path);
	assert_int_equal(child_number(r), 0);
	free(r);
	close(go[1]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void
test_symlink_refused(void **state)
{
	struct fixture *f = *state;
	char *other = xasprintf("%s/other", f->dir);
	char *error = NULL;

	write_text(other, "precious\n");
	assert_int_equal(symlink(other, f->path), 0);
	assert_int_equal(master_pid_lock(f->path, &error), -1);
	assert_non_null(error);
	assert_non_null(strstr(error, "cannot open pid file"));
	assert_non_null(strstr(error, f->path));
	free(error);
	error = NULL;
	assert_int_equal(master_pid_query(f->path, &error), -1);
	assert_non_null(error);
	assert_non_null(strstr(error, "cannot open pid file"));
	free(error);
	/* The link target was not truncated or overwritten. */
	{
		char *t = read_text(other);

		assert_string_equal(t, "precious\n");
		free(t);
	}
	free(other);
}

static void
test_missing_directory(void **state)
{
	struct fixture *f = *state;
	char *path = xasprintf("%s/nonexistent/master.pid", f->dir);
	char *error = NULL;

	assert_int_equal(master_pid_lock(path, &error), -1);
	assert_non_null(error);
	assert_non_null(strstr(error, "cannot open pid file"));
	assert_non_null(strstr(error, path));
	assert_non_null(strstr(error, strerror(ENOENT)));
	free(error);
	free(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path),
		cmocka_unit_test_setup_teardown(test_lock_writes_pid, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_query_no_file, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_query_from_other_process,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_second_master_refused,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_holder_is_another_process,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_file, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_fork_does_not_inherit_lock,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_missing_directory, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
