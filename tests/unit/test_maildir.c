/* SPDX-License-Identifier: MIT */
/*
 * test_maildir - the Maildir writer (src/deliver/maildir.c) on a real
 * file system under /tmp: the bytes written (CRLF -> LF, a last line
 * without its line end, bare CR and LF), the unique name and its S= and
 * W= sizes, missing directories created 0700, a symbolic link for tmp/
 * refused, permission problems reported in words with the uid, and
 * nothing left in tmp/ after a success or a failure.
 *
 * Permission cases run in a forked process; when the tests run as root
 * that process becomes nobody (65534) first, since root is not stopped
 * by modes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "maildir.h"
#include "test_support.h"
#include "xalloc.h"

#define NOBODY 65534

static char base[64];


static int
setup(void **state)
{
	(void)state;
	snprintf(base, sizeof(base), "/tmp/ostia-maildir-XXXXXX");
	assert_non_null(mkdtemp(base));
	assert_int_equal(chmod(base, 0755), 0);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	test_remove_tree(base);
	return 0;
}

/* count_entries - files in dir (not . and ..); -1 if it cannot be read */
static int
count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* deliver_ok - deliver and check success; returns the path. */
static char *
deliver_ok(const char *dir, const char *prefix, const char *content,
    size_t len)
{
	char *path = NULL, *error = NULL;
	int err = -1;

	if (maildir_deliver(dir, prefix, content, len, &path, &err,
	    &error) != 0)
		fail_msg("maildir_deliver %s: %s", dir, error);
	assert_null(error);
	assert_int_equal(err, 0);
	assert_non_null(path);
	return path;
}

/* check_file - the file at path holds exactly want (wlen bytes), and its
 * name's S= is its size and W= its size with CRLF line ends. */
static void
check_file(const char *path, const char *want, size_t wlen)
{
	size_t len, lfs = 0;
	char *data = test_read_file(path, &len);
	const char *s = strstr(path, ",S=");
	uint64_t S = 0, W = 0;
	char tail;

	if (len != wlen || memcmp(data, want, wlen) != 0)
		fail_msg("%s holds %zu bytes \"%s\", want %zu \"%s\"", path,
		    len, data, wlen, want);
	for (size_t i = 0; i < len; i++)
		if (data[i] == '\n')
			lfs++;
	assert_non_null(s);
	assert_int_equal(sscanf(s, ",S=%" SCNu64 ",W=%" SCNu64 "%c", &S, &W,
	    &tail), 2);
	assert_true(S == len);
	assert_true(W == len + lfs);
	free(data);
}

/* sub_of - "dir/SUB" for a dir written with or without its slash. */
static char *
sub_of(const char *dir, const char *sub)
{
	size_t n = strlen(dir);

	return xasprintf("%.*s/%s", (int)(n > 0 && dir[n - 1] == '/' ?
	    n - 1 : n), dir, sub);
}

static void
test_content_exact(void **state)
{
	static const struct {
		const char *in;
		const char *out;
	} cases[] = {
		/* CRLF -> LF, header/body separator kept. */
		{ "Received: x\r\nSubject: a\r\n\r\nbody\r\n",
		    "Received: x\nSubject: a\n\nbody\n" },
		/* The last line without CRLF gets its line end. */
		{ "Subject: a\r\n\r\nlast line", "Subject: a\n\nlast line\n" },
		/* A CRLF cut short after the CR. */
		{ "Subject: a\r\n\r\nx\r", "Subject: a\n\nx\n" },
		/* Bare CR and bare LF stay as they are. */
		{ "a\rb\nc\r\n", "a\rb\nc\n" },
		{ "\r\r\n\r\n", "\r\n\n" },
		{ "dots\r\n.\r\n..\r\n", "dots\n.\n..\n" },
		/* 8-bit bytes untouched. */
		{ "Subject: Gr\xc3\xbc\xc3\x9f" "e\r\n\r\nK\xc3\xb6ln\r\n",
		    "Subject: Gr\xc3\xbc\xc3\x9f" "e\n\nK\xc3\xb6ln\n" },
		{ "", "" },
	};
	const char *prefix = "Return-Path: <a@example.net>\n"
	    "Delivered-To: b@example.org\n";
	char *dir = xasprintf("%s/exact/", base);

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *path = deliver_ok(dir, prefix, cases[i].in,
		    strlen(cases[i].in));
		char *want = xasprintf("%s%s", prefix, cases[i].out);

		check_file(path, want, strlen(want));
		assert_true(maildir_message_size(prefix, cases[i].in,
		    strlen(cases[i].in)) == strlen(want));
		free(want);
		free(path);
	}
	/* No prefix. */
	{
		char *path = deliver_ok(dir, "", "x\r\n", 3);

		check_file(path, "x\n", 2);
		free(path);
	}
	free(dir);
}

static void
test_large_message(void **state)
{
	/* More than the writer's chunk, CRLF pairs across chunk ends. */
	size_t lines = 50000, len = 0, wlen = 0;
	char *in = xmalloc(lines * 12 + 1), *want = xmalloc(lines * 12 + 1);
	char *dir = xasprintf("%s/large", base), *path;

	(void)state;
	for (size_t i = 0; i < lines; i++) {
		int n = snprintf(in + len, 13, "line %05zu\r\n", i);

		assert_int_equal(n, 12);
		memcpy(want + wlen, in + len, 10);
		want[wlen + 10] = '\n';
		len += 12;
		wlen += 11;
	}
	path = deliver_ok(dir, "", in, len);
	check_file(path, want, wlen);
	free(path);
	free(dir);
	free(in);
	free(want);
}

static void
test_name_format(void **state)
{
	char *dir = xasprintf("%s/names/", base), *p1, *p2, *enc;
	const char *name;
	char newdir[256];
	unsigned long long t, usec, pid, q1, q2;
	int used = 0;

	(void)state;
	p1 = deliver_ok(dir, "", "a\r\n", 3);
	p2 = deliver_ok(dir, "", "b\r\n", 3);
	snprintf(newdir, sizeof(newdir), "%s/names/new/", base);
	assert_memory_equal(p1, newdir, strlen(newdir));
	name = p1 + strlen(newdir);
	assert_null(strchr(name, '/'));
	assert_int_equal(sscanf(name, "%llu.M%6lluP%lluQ%llu.%n", &t, &usec,
	    &pid, &q1, &used), 4);
	assert_true(used > 0);
	assert_true(name[used] != '\0' && name[used] != ',');
	assert_true(t > 1600000000ULL);
	assert_true(usec < 1000000ULL);
	assert_true(pid == (unsigned long long)getpid());
	assert_non_null(strstr(name, ",S=2,W=3"));
	assert_null(strchr(name, ':'));
	/* The M part is six digits. */
	assert_true(strchr(name, 'M')[7] == 'P');
	name = p2 + strlen(newdir);
	assert_int_equal(sscanf(name, "%*u.M%*6uP%*uQ%llu.", &q2), 1);
	assert_true(q2 == q1 + 1);
	assert_string_not_equal(p1, p2);
	/* Host names are encoded as maildir(5) says. */
	enc = maildir_encode_host("mx.example.com");
	assert_string_equal(enc, "mx.example.com");
	free(enc);
	enc = maildir_encode_host("a/b:c,d");
	assert_string_equal(enc, "a\\057b\\072c\\054d");
	free(enc);
	free(p1);
	free(p2);
	free(dir);
}

static void
test_creates_missing_dirs(void **state)
{
	char *dir = xasprintf("%s/d1/d2//d3/maildir/", base);
	char *parent = xasprintf("%s/d1/d2", base);
	const char *subs[] = { "tmp", "new", "cur" };
	struct stat st;
	char *path;

	(void)state;
	path = deliver_ok(dir, "", "x\r\n", 3);
	assert_int_equal(stat(parent, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0700);
	for (size_t i = 0; i < 3; i++) {
		char *p = sub_of(dir, subs[i]);

		assert_int_equal(lstat(p, &st), 0);
		assert_true(S_ISDIR(st.st_mode));
		assert_int_equal(st.st_mode & 07777, 0700);
		free(p);
	}
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	/* Without the trailing slash: the same Maildir. */
	free(path);
	free(dir);
	dir = xasprintf("%s/d1/d2//d3/maildir", base);
	path = deliver_ok(dir, "", "y\r\n", 3);
	{
		char *n = sub_of(dir, "new"), *t = sub_of(dir, "tmp");

		assert_int_equal(count_entries(n), 2);
		assert_int_equal(count_entries(t), 0);
		free(n);
		free(t);
	}
	free(path);
	free(dir);
	free(parent);
}

static void
test_refuses_bad_dirs(void **state)
{
	char *dir = xasprintf("%s/sym/", base), *tmp = sub_of(dir, "tmp");
	char *elsewhere = xasprintf("%s/elsewhere", base);
	char *path = NULL, *error = NULL;
	int err = 0;

	(void)state;
	/* tmp/ a symbolic link: refused, nothing written through it. */
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(mkdir(elsewhere, 0700), 0);
	assert_int_equal(symlink(elsewhere, tmp), 0);
	assert_int_equal(maildir_deliver(dir, "", "x\r\n", 3, &path, &err,
	    &error), -1);
	assert_null(path);
	assert_non_null(error);
	assert_non_null(strstr(error, "symbolic link"));
	assert_non_null(strstr(error, tmp));
	assert_int_equal(count_entries(elsewhere), 0);
	free(error);
	error = NULL;
	/* A relative path. */
	assert_int_equal(maildir_deliver("relative/", "", "x", 1, &path, &err,
	    &error), -1);
	assert_int_equal(err, EINVAL);
	assert_non_null(strstr(error, "not absolute"));
	free(error);
	error = NULL;
	/* A parent that is a file. */
	{
		char *file = xasprintf("%s/afile", base);
		char *under = xasprintf("%s/afile/box/", base);
		FILE *f = fopen(file, "w");

		assert_non_null(f);
		fclose(f);
		assert_int_equal(maildir_deliver(under, "", "x", 1, &path,
		    &err, &error), -1);
		assert_int_equal(err, ENOTDIR);
		assert_non_null(strstr(error, file));
		free(error);
		free(file);
		free(under);
	}
	free(dir);
	free(tmp);
	free(elsewhere);
}

/* ---- Permission problems, in a forked process ---- */

struct shared {
	int ret;
	int err;
	char error[1024];
	char path[1024];
	unsigned long uid;
};

/* deliver_as_other - maildir_deliver in a child that is not root. */
static struct shared *
deliver_as_other(const char *dir)
{
	struct shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t pid;
	int status;

	assert_true(sh != MAP_FAILED);
	memset(sh, 0, sizeof(*sh));
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char *path = NULL, *error = NULL;

		if (geteuid() == 0) {
			gid_t g = NOBODY;

			if (setgroups(1, &g) < 0 ||
			    setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
			    setresuid(NOBODY, NOBODY, NOBODY) < 0)
				_exit(2);
		}
		sh->uid = (unsigned long)geteuid();
		sh->ret = maildir_deliver(dir, "P: x\n", "a\r\nb\r\n", 6,
		    &path, &sh->err, &error);
		if (error != NULL)
			snprintf(sh->error, sizeof(sh->error), "%s", error);
		if (path != NULL)
			snprintf(sh->path, sizeof(sh->path), "%s", path);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return sh;
}

/* own - chown path to the user deliver_as_other runs as. */
static void
own(const char *path)
{
	if (geteuid() == 0)
		assert_int_equal(chown(path, NOBODY, NOBODY), 0);
}

static void
test_eacces_in_words(void **state)
{
	char *parent = xasprintf("%s/locked", base);
	char *dir = xasprintf("%s/locked/box/", base);
	struct shared *sh;
	char uidword[64];

	(void)state;
	/* The parent may not be written: the Maildir cannot be created. */
	assert_int_equal(mkdir(parent, 0555), 0);
	own(parent);
	sh = deliver_as_other(dir);
	assert_int_equal(sh->ret, -1);
	assert_int_equal(sh->err, EACCES);
	assert_non_null(strstr(sh->error, "Permission denied"));
	assert_non_null(strstr(sh->error, "locked/box"));
	snprintf(uidword, sizeof(uidword), "uid %lu", sh->uid);
	if (strstr(sh->error, uidword) == NULL)
		fail_msg("\"%s\" does not name %s", sh->error, uidword);
	assert_string_equal(sh->path, "");
	munmap(sh, sizeof(*sh));
	free(parent);
	free(dir);
}

static void
test_no_tmp_leftovers_on_failure(void **state)
{
	char *dir = xasprintf("%s/half/", base);
	char *tmp = sub_of(dir, "tmp"), *newd = sub_of(dir, "new");
	char *cur = sub_of(dir, "cur");
	struct shared *sh;

	(void)state;
	/* tmp/ writable, new/ not: the file is written, the link fails. */
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(mkdir(tmp, 0700), 0);
	assert_int_equal(mkdir(newd, 0500), 0);
	assert_int_equal(mkdir(cur, 0700), 0);
	own(dir);
	own(tmp);
	own(newd);
	own(cur);
	sh = deliver_as_other(dir);
	assert_int_equal(sh->ret, -1);
	assert_int_equal(sh->err, EACCES);
	assert_non_null(strstr(sh->error, "new/"));
	assert_int_equal(count_entries(tmp), 0);
	assert_int_equal(count_entries(newd), 0);
	munmap(sh, sizeof(*sh));
	/* And after a success, as that user. */
	assert_int_equal(chmod(newd, 0700), 0);
	sh = deliver_as_other(dir);
	if (sh->ret != 0)
		fail_msg("%s", sh->error);
	assert_int_equal(count_entries(tmp), 0);
	assert_int_equal(count_entries(newd), 1);
	assert_memory_equal(sh->path, newd, strlen(newd));
	check_file(sh->path, "P: x\na\nb\n", 9);
	munmap(sh, sizeof(*sh));
	free(dir);
	free(tmp);
	free(newd);
	free(cur);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_content_exact, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_large_message, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_name_format, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_creates_missing_dirs,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_bad_dirs, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_eacces_in_words, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_no_tmp_leftovers_on_failure, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
