/* SPDX-License-Identifier: MIT */
/*
 * test_privs - mail_owner resolution, privs_ensure_dir (creation,
 * refusals, owner and mode repair as root, the checks made as an
 * ordinary user) and privs_drop (in forked children: the user switch,
 * chroot, and the refusals that end the child through log_fatal).
 *
 * Parts that need root are skipped otherwise.  The unprivileged account
 * is "nobody" (or "ostia-test" when nobody is missing).  No test creates
 * a system account: privs_user_resolve is never called with create=true
 * for a name that does not exist.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
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

#include "log.h"
#include "privs.h"
#include "xalloc.h"

#define NO_SUCH_USER "ostia-no-such-user-q7x"

struct fixture {
	char dir[64];
};

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/ostia-test-privs.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	/* Traversable by the unprivileged user of the child tests. */
	if (chmod(f->dir, 0755) < 0)
		return -1;
	*state = f;
	return 0;
}

/* rm_tree - remove what the tests created (no symlink is followed). */
static void
rm_tree(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return;
	if (S_ISDIR(st.st_mode)) {
		static const char *const names[] = {
			"new", "sub", "mine", "theirs", "link", "dangling",
			"file", "marker", "target", "a",
		};

		for (size_t i = 0; i < N_ELEMENTS(names); i++) {
			char *p = xasprintf("%s/%s", path, names[i]);

			rm_tree(p);
			free(p);
		}
		(void)rmdir(path);
	} else {
		(void)unlink(path);
	}
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	rm_tree(f->dir);
	free(f);
	return 0;
}

/* unpriv_user - nobody, or ostia-test; NULL when neither exists. */
static const char *
unpriv_user(void)
{
	static const char *const names[] = { "nobody", "ostia-test" };

	for (size_t i = 0; i < N_ELEMENTS(names); i++) {
		struct passwd *pw = getpwnam(names[i]);

		if (pw != NULL && pw->pw_uid != 0 && pw->pw_gid != 0)
			return names[i];
	}
	return NULL;
}

static void
need_root(void)
{
	if (geteuid() != 0)
		skip();
}

static void
resolve_unpriv(struct privs_user *u)
{
	const char *name = unpriv_user();
	char *error = NULL;

	if (name == NULL)
		skip();
	assert_int_equal(privs_user_resolve(name, false, u, &error), 0);
	assert_null(error);
}

static char *
path_in(const struct fixture *f, const char *name)
{
	return xasprintf("%s/%s", f->dir, name);
}

/* wait_child - exit status of pid, -1 if it did not exit normally. */
static int
wait_child(pid_t pid)
{
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* drain - everything the child wrote to fd until EOF; caller frees. */
static char *
drain(int fd)
{
	char buf[4096];
	size_t len = 0;
	ssize_t n;

	while ((n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	return xstrdup(buf);
}

/* become - switch the (child) process to u for good, by hand. */
static void
become(const struct privs_user *u)
{
	if (setgroups(1, &u->gid) < 0 || setresgid(u->gid, u->gid,
	    u->gid) < 0 || setresuid(u->uid, u->uid, u->uid) < 0)
		_exit(90);
}

/* ------------------------------------------------------------------ */
/* privs_user_resolve                                                  */

static void
test_resolve_root_refused(void **state)
{
	struct privs_user u;
	char *error = NULL;

	(void)state;
	/* create=true must not matter: root exists. */
	for (int create = 0; create <= 1; create++) {
		assert_int_equal(privs_user_resolve("root", create != 0, &u,
		    &error), -1);
		assert_non_null(error);
		assert_non_null(strstr(error, "mail_owner root"));
		assert_non_null(strstr(error, "uid 0"));
		assert_non_null(strstr(error, "must be an unprivileged "
		    "account"));
		assert_null(u.name);
		free(error);
		error = NULL;
	}
}

static void
test_resolve_missing(void **state)
{
	struct privs_user u;
	char *error = NULL;

	(void)state;
	assert_null(getpwnam(NO_SUCH_USER));
	assert_int_equal(privs_user_resolve(NO_SUCH_USER, false, &u, &error),
	    -1);
	assert_non_null(error);
	assert_non_null(strstr(error, "mail_owner " NO_SUCH_USER
	    ": no such user"));
	if (geteuid() == 0)
		assert_null(strstr(error, "only root"));
	else
		assert_non_null(strstr(error, "(only root can create it)"));
	assert_null(u.name);
	free(error);
	/* Still missing: create=false created nothing. */
	assert_null(getpwnam(NO_SUCH_USER));
}

static void
test_resolve_empty(void **state)
{
	struct privs_user u;
	char *error = NULL;

	(void)state;
	for (int create = 0; create <= 1; create++) {
		assert_int_equal(privs_user_resolve("", create != 0, &u,
		    &error), -1);
		assert_non_null(error);
		assert_non_null(strstr(error, "mail_owner is empty"));
		assert_null(u.name);
		free(error);
		error = NULL;
	}
}

static void
test_resolve_existing(void **state)
{
	const char *name = unpriv_user();
	struct privs_user u;
	struct passwd *pw;
	uid_t uid;
	gid_t gid;
	char *error = NULL;

	(void)state;
	if (name == NULL)
		skip();
	pw = getpwnam(name);
	assert_non_null(pw);
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	/* create=true with an existing account only looks it up. */
	for (int create = 0; create <= 1; create++) {
		assert_int_equal(privs_user_resolve(name, create != 0, &u,
		    &error), 0);
		assert_null(error);
		assert_string_equal(u.name, name);
		assert_int_equal(u.uid, uid);
		assert_int_equal(u.gid, gid);
		privs_user_deinit(&u);
		assert_null(u.name);
	}
}

/* ------------------------------------------------------------------ */
/* privs_ensure_dir                                                    */

static void
test_dir_create(void **state)
{
	struct fixture *f = *state;
	char *p = path_in(f, "new");
	char *error = NULL;
	struct stat st;
	mode_t old = umask(077);

	assert_int_equal(privs_ensure_dir(p, (uid_t)-1, (gid_t)-1, 0751,
	    &error), 0);
	umask(old);
	assert_null(error);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_uid, geteuid());
	if (geteuid() == 0)	/* root sets the exact mode */
		assert_int_equal(st.st_mode & 07777, 0751);
	else
		assert_int_equal(st.st_mode & ~(mode_t)0751 & 07777, 0);
	/* A second call on the finished directory changes nothing. */
	assert_int_equal(privs_ensure_dir(p, (uid_t)-1, (gid_t)-1, 0751,
	    &error), 0);
	assert_null(error);
	free(p);
}

static void
test_dir_no_parents(void **state)
{
	struct fixture *f = *state;
	char *p = path_in(f, "a/b");
	char *a = path_in(f, "a");
	char *error = NULL;

	assert_int_equal(privs_ensure_dir(p, (uid_t)-1, (gid_t)-1, 0755,
	    &error), -1);
	assert_non_null(error);
	assert_non_null(strstr(error, "cannot create directory"));
	assert_non_null(strstr(error, p));
	assert_non_null(strstr(error, strerror(ENOENT)));
	assert_int_equal(access(a, F_OK), -1);
	free(error);
	free(p);
	free(a);
}

static void
test_dir_refuses_non_directories(void **state)
{
	struct fixture *f = *state;
	char *target = path_in(f, "target");
	char *link = path_in(f, "link");
	char *dangling = path_in(f, "dangling");
	char *file = path_in(f, "file");
	char *error = NULL;
	struct stat st;
	int fd;

	assert_int_equal(mkdir(target, 0777), 0);
	assert_int_equal(chmod(target, 0777), 0);
	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(symlink("/nonexistent-ostia-target", dangling), 0);
	fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(chmod(file, 0666), 0);

	/* A link to a directory is not trusted, nor is its target fixed. */
	assert_int_equal(privs_ensure_dir(link, (uid_t)-1, (gid_t)-1, 0700,
	    &error), -1);
	assert_non_null(error);
	assert_non_null(strstr(error, link));
	assert_non_null(strstr(error, "exists but is not a directory"));
	assert_non_null(strstr(error, "symbolic link is not trusted"));
	free(error);
	error = NULL;
	assert_int_equal(stat(target, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0777);

	assert_int_equal(privs_ensure_dir(dangling, (uid_t)-1, (gid_t)-1,
	    0700, &error), -1);
	assert_non_null(error);
	assert_non_null(strstr(error, "symbolic link is not trusted"));
	free(error);
	error = NULL;
	assert_int_equal(access("/nonexistent-ostia-target", F_OK), -1);

	assert_int_equal(privs_ensure_dir(file, (uid_t)-1, (gid_t)-1, 0700,
	    &error), -1);
	assert_non_null(error);
	assert_non_null(strstr(error, file));
	assert_non_null(strstr(error, "exists but is not a directory"));
	assert_null(strstr(error, "symbolic link"));
	free(error);
	assert_int_equal(lstat(file, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0666);

	free(target);
	free(link);
	free(dangling);
	free(file);
}

static void
test_dir_root_fixes_owner_and_mode(void **state)
{
	struct fixture *f = *state;
	struct privs_user u;
	char *p, *error = NULL;
	struct stat st;

	need_root();
	resolve_unpriv(&u);
	p = path_in(f, "sub");
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(chmod(p, 0777), 0);

	/* Owner and mode both wrong. */
	assert_int_equal(privs_ensure_dir(p, u.uid, u.gid, 0710, &error), 0);
	assert_null(error);
	assert_int_equal(lstat(p, &st), 0);
	assert_int_equal(st.st_uid, u.uid);
	assert_int_equal(st.st_gid, u.gid);
	assert_int_equal(st.st_mode & 07777, 0710);

	/* -1 leaves the owner; the mode is still enforced. */
	assert_int_equal(chmod(p, 0757), 0);
	assert_int_equal(privs_ensure_dir(p, (uid_t)-1, (gid_t)-1, 0750,
	    &error), 0);
	assert_null(error);
	assert_int_equal(lstat(p, &st), 0);
	assert_int_equal(st.st_uid, u.uid);
	assert_int_equal(st.st_gid, u.gid);
	assert_int_equal(st.st_mode & 07777, 0750);

	/* Only the group changes; then back to root (the pid directory). */
	assert_int_equal(privs_ensure_dir(p, (uid_t)-1, 0, 0750, &error), 0);
	assert_int_equal(lstat(p, &st), 0);
	assert_int_equal(st.st_uid, u.uid);
	assert_int_equal(st.st_gid, 0);
	assert_int_equal(privs_ensure_dir(p, 0, (gid_t)-1, 0755, &error), 0);
	assert_null(error);
	assert_int_equal(lstat(p, &st), 0);
	assert_int_equal(st.st_uid, 0);
	assert_int_equal(st.st_gid, 0);
	assert_int_equal(st.st_mode & 07777, 0755);

	/* A new directory gets the owner too. */
	free(p);
	p = path_in(f, "new");
	assert_int_equal(privs_ensure_dir(p, u.uid, u.gid, 0700, &error), 0);
	assert_null(error);
	assert_int_equal(lstat(p, &st), 0);
	assert_int_equal(st.st_uid, u.uid);
	assert_int_equal(st.st_gid, u.gid);
	assert_int_equal(st.st_mode & 07777, 0700);

	privs_user_deinit(&u);
	free(p);
}

/*
 * unpriv_checks - what privs_ensure_dir does for an ordinary user, run
 * in a process that is not root, with base writable by it.  Returns 0,
 * or the line of the first failed check.
 */
static int
unpriv_checks(const char *base)
{
	char *mine = xasprintf("%s/mine", base);
	char *made = xasprintf("%s/mine/new", base);
	char *error = NULL;
	struct stat st;
	int fail = 0;

#define CHECK(c) do { if (!(c) && fail == 0) fail = __LINE__; } while (0)
	/* Someone else's directory (root's /) is reported, not touched. */
	CHECK(lstat("/", &st) == 0 && st.st_uid != geteuid());
	CHECK(privs_ensure_dir("/", (uid_t)-1, (gid_t)-1, 0755, &error) ==
	    -1);
	CHECK(error != NULL && strstr(error, "/ is owned by uid") != NULL &&
	    strstr(error, "not by the user running Ostia") != NULL);
	free(error);
	error = NULL;

	/* Our own directory, writable by others: tightened. */
	CHECK(mkdir(mine, 0700) == 0 && chmod(mine, 0777) == 0);
	CHECK(privs_ensure_dir(mine, (uid_t)-1, (gid_t)-1, 0750, &error) ==
	    0);
	CHECK(error == NULL);
	CHECK(lstat(mine, &st) == 0 && (st.st_mode & 07777) == 0750);

	/* Ours and not writable by others: left as it is. */
	CHECK(chmod(mine, 0700) == 0);
	CHECK(privs_ensure_dir(mine, (uid_t)-1, (gid_t)-1, 0755, &error) ==
	    0);
	CHECK(lstat(mine, &st) == 0 && (st.st_mode & 07777) == 0700);

	/* An owner we are not cannot be asked for; it is not an error to
	 * pass one (as a developer running without root). */
	CHECK(privs_ensure_dir(made, 0, 0, 0700, &error) == 0);
	CHECK(error == NULL);
	CHECK(lstat(made, &st) == 0 && S_ISDIR(st.st_mode) &&
	    st.st_uid == geteuid());
#undef CHECK
	free(error);
	(void)rmdir(made);
	(void)rmdir(mine);
	free(mine);
	free(made);
	return fail;
}

static void
test_dir_unprivileged(void **state)
{
	struct fixture *f = *state;
	struct privs_user u;
	pid_t pid;
	int line;

	if (geteuid() != 0) {
		line = unpriv_checks(f->dir);
		if (line != 0)
			print_message("check at line %d failed\n", line);
		assert_int_equal(line, 0);
		return;
	}
	/* As root: run the checks as the unprivileged user in a child. */
	resolve_unpriv(&u);
	assert_int_equal(chown(f->dir, u.uid, u.gid), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		become(&u);
		line = unpriv_checks(f->dir);
		if (line != 0)
			fprintf(stderr, "check at line %d failed\n", line);
		_exit(line != 0 ? 1 : 0);
	}
	assert_int_equal(wait_child(pid), 0);
	assert_int_equal(chown(f->dir, 0, 0), 0);
	privs_user_deinit(&u);
}

/* ------------------------------------------------------------------ */
/* privs_drop                                                          */

static void
test_drop(void **state)
{
	struct privs_user u;
	pid_t pid;

	(void)state;
	need_root();
	resolve_unpriv(&u);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		gid_t groups[8];
		int n;

		privs_drop(&u, NULL);
		if (getuid() != u.uid || geteuid() != u.uid)
			_exit(10);
		if (getgid() != u.gid || getegid() != u.gid)
			_exit(11);
		n = getgroups((int)N_ELEMENTS(groups), groups);
		if (n != 1 || groups[0] != u.gid)
			_exit(12);
		if (setuid(0) == 0 || errno != EPERM)
			_exit(13);
		if (setgid(0) == 0)
			_exit(14);
		_exit(0);
	}
	assert_int_equal(wait_child(pid), 0);
	privs_user_deinit(&u);
}

static void
test_drop_chroot(void **state)
{
	struct fixture *f = *state;
	struct privs_user u;
	char *marker;
	pid_t pid;
	int fd;

	need_root();
	resolve_unpriv(&u);
	marker = path_in(f, "marker");
	fd = open(marker, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	close(fd);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char cwd[64];

		privs_drop(&u, f->dir);
		if (geteuid() != u.uid)
			_exit(10);
		if (access("/marker", F_OK) != 0)
			_exit(11);
		if (getcwd(cwd, sizeof(cwd)) == NULL ||
		    strcmp(cwd, "/") != 0)
			_exit(12);
		/* Back to the real root is not possible. */
		if (chroot("/..") == 0)
			_exit(13);
		_exit(0);
	}
	assert_int_equal(wait_child(pid), 0);
	privs_user_deinit(&u);
	free(marker);
}

/* Log capture in a child: every fatal text to the pipe. */
static void
capture_to_fd(enum log_level level, const char *text, void *ctx)
{
	int fd = *(int *)ctx;

	if (level == LOG_LVL_FATAL && write(fd, text, strlen(text)) < 0)
		_exit(91);
}

/*
 * drop_fails - privs_drop(u, chroot_dir) in a child must end it with
 * exit status 1 and a fatal message containing want.
 */
static void
drop_fails(const struct privs_user *u, const char *chroot_dir,
    const char *want)
{
	int p[2];
	pid_t pid;
	char *text;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		static int fd;

		close(p[0]);
		fd = p[1];
		log_set_capture(capture_to_fd, &fd);
		privs_drop(u, chroot_dir);
		_exit(50);	/* must not get here */
	}
	close(p[1]);
	text = drain(p[0]);
	close(p[0]);
	assert_int_equal(wait_child(pid), 1);
	if (strstr(text, want) == NULL)
		print_message("fatal text: %s\n", text);
	assert_non_null(strstr(text, want));
	free(text);
}

static void
test_drop_failures(void **state)
{
	struct fixture *f = *state;
	struct privs_user u;
	struct privs_user fake_root = { UNCONST("fake-root"), 0, 0 };
	char *missing;

	need_root();
	resolve_unpriv(&u);
	missing = path_in(f, "nonexistent");
	/* chroot into a missing directory: fatal before any switch. */
	drop_fails(&u, missing, "chroot");
	drop_fails(&u, missing, missing);
	/* "Dropping" to uid 0 keeps root: refused by the final check. */
	drop_fails(&fake_root, NULL, "still able to become root");
	privs_user_deinit(&u);
	free(missing);
}

static void
test_drop_not_root(void **state)
{
	struct privs_user u;
	pid_t pid;

	(void)state;
	resolve_unpriv(&u);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct privs_user other = { UNCONST("root-ish"), 1, 1 };
		uid_t before;

		if (geteuid() == 0)
			become(&u);
		before = geteuid();
		/* Not root: nothing is switched, nothing fails. */
		privs_drop(&other, "/nonexistent-ostia-chroot");
		if (geteuid() != before || getuid() != before)
			_exit(10);
		_exit(0);
	}
	assert_int_equal(wait_child(pid), 0);
	privs_user_deinit(&u);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resolve_root_refused),
		cmocka_unit_test(test_resolve_missing),
		cmocka_unit_test(test_resolve_empty),
		cmocka_unit_test(test_resolve_existing),
		cmocka_unit_test_setup_teardown(test_dir_create, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_dir_no_parents, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_dir_refuses_non_directories,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_dir_root_fixes_owner_and_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dir_unprivileged, setup,
		    teardown),
		cmocka_unit_test(test_drop),
		cmocka_unit_test_setup_teardown(test_drop_chroot, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_drop_failures, setup,
		    teardown),
		cmocka_unit_test(test_drop_not_root),
	};

	log_init("ostia", "test_privs", LOG_STYLE_COMMAND);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
