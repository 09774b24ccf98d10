/* SPDX-License-Identifier: MIT */
/*
 * test_config_edit - config_edit_text(): replacing a setting in place
 * with its comments and order kept, continuation lines and later
 * duplicates removed, appending, removal, names that are prefixes of
 * others; the edited text loads with the new value; config_edit_file():
 * atomic replacement, mode kept, new file, unwritable directory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "compat.h"
#include "config.h"
#include "config_edit.h"
#include "diag.h"
#include "xalloc.h"
#include "test_support.h"

struct edit_case {
	const char *text;
	struct config_edit edits[3];
	size_t nedits;
	const char *result;
};

static const struct edit_case edit_cases[] = {
	/* Replaced where it stands; comments, blanks, order kept. */
	{ "# top\nmyorigin = a\n\n# mid\nmyhostname = old\nrelayhost = r\n",
	    { { "myhostname", "new" } }, 1,
	    "# top\nmyorigin = a\n\n# mid\nmyhostname = new\nrelayhost = r\n" },
	/* Any spacing around '='. */
	{ "myhostname=old\n", { { "myhostname", "new" } }, 1,
	    "myhostname = new\n" },
	{ "myhostname\t =  old  \n", { { "myhostname", "new" } }, 1,
	    "myhostname = new\n" },
	/* Continuation lines of the replaced entry go. */
	{ "a = 1\nmydestination = x,\n  y,\n\tz\nb = 2\n",
	    { { "mydestination", "q" } }, 1,
	    "a = 1\nmydestination = q\nb = 2\n" },
	/* Comments and blank lines inside them stay. */
	{ "mydestination = x,\n# note\n  y\n\n  # indented\n  z\nb = 2\n",
	    { { "mydestination", "q" } }, 1,
	    "mydestination = q\n# note\n\n  # indented\nb = 2\n" },
	/* Later duplicates (with their continuations) are removed. */
	{ "myorigin = 1\nx = y\nmyorigin = 2\n  more\n# c\nmyorigin = 3",
	    { { "myorigin", "new" } }, 1,
	    "myorigin = new\nx = y\n# c\n" },
	/* Appended at the end, with a newline added when missing. */
	{ "a = 1\n", { { "relayhost", "[mx]" } }, 1,
	    "a = 1\nrelayhost = [mx]\n" },
	{ "a = 1", { { "relayhost", "[mx]" } }, 1,
	    "a = 1\nrelayhost = [mx]\n" },
	{ "", { { "relayhost", "[mx]" } }, 1, "relayhost = [mx]\n" },
	{ "# only a comment", { { "relayhost", "" } }, 1,
	    "# only a comment\nrelayhost = \n" },
	/* A name that is a prefix of another is not touched by it. */
	{ "myhostname = h\nmyhost_x = 2\n", { { "myhost", "x" } }, 1,
	    "myhostname = h\nmyhost_x = 2\nmyhost = x\n" },
	{ "myhost = 1\nmyhostname = h\n", { { "myhostname", "n" } }, 1,
	    "myhost = 1\nmyhostname = n\n" },
	{ "myhostname = h\n", { { "myhost", NULL } }, 1, "myhostname = h\n" },
	/* Comments and indented text naming it are not entries. */
	{ "#myhostname = c\n  myhostname = cont\nmyhostname = h\n",
	    { { "myhostname", "n" } }, 1,
	    "#myhostname = c\n  myhostname = cont\nmyhostname = n\n" },
	/* Removal drops every entry with its continuations. */
	{ "a = 1\nmyorigin = x\n  y\n# keep\nb = 2\nmyorigin = z\n",
	    { { "myorigin", NULL } }, 1, "a = 1\n# keep\nb = 2\n" },
	{ "a = 1\n", { { "myorigin", NULL } }, 1, "a = 1\n" },
	{ "myorigin = 1", { { "myorigin", NULL } }, 1, "" },
	/* Several edits at once. */
	{ "a = 1\nb = 2\nc = 3\n",
	    { { "c", "30" }, { "a", NULL }, { "d", "4" } }, 3,
	    "b = 2\nc = 30\nd = 4\n" },
	/* CRLF lines are kept as they are; the new line ends in LF. */
	{ "a = 1\r\nmyorigin = x\r\n  y\r\nb = 2\r\n", { { "myorigin", "n" } },
	    1, "a = 1\r\nmyorigin = n\nb = 2\r\n" },
	/*
	 * Lines are told apart as the loader (cf_lines) does: only spaces
	 * and tabs lead a continuation, so " \r#x" continues myorigin
	 * (it is not a comment) and goes with it; "\t\r" is blank.
	 */
	{ "myorigin = a\n \r#x\n\t\r\n #c\r\nb = 1\n",
	    { { "myorigin", "n" } }, 1, "myorigin = n\n\t\r\n #c\r\nb = 1\n" },
	/* Values are written as given. */
	{ "", { { "smtpd_banner", "$myhostname ESMTP" } }, 1,
	    "smtpd_banner = $myhostname ESMTP\n" },
};

static void
test_edit_text(void **state)
{
	for (size_t i = 0; i < N_ELEMENTS(edit_cases); i++) {
		const struct edit_case *c = &edit_cases[i];
		char *got = config_edit_text(c->text, strlen(c->text),
		    c->edits, c->nedits);

		if (strcmp(got, c->result) != 0)
			fail_msg("case %zu: got\n%s\nexpected\n%s", i, got,
			    c->result);
		free(got);
	}
}

/* Text after a NUL byte or without any LF is handled by length. */
static void
test_edit_text_len(void **state)
{
	static const char text[] = "a = 1\nb = 2\nc = 3\n";
	const struct config_edit e = { "c", "9" };
	char *got;

	/* Only the first 12 bytes ("a = 1\nb = 2\n") are given. */
	got = config_edit_text(text, 12, &e, 1);
	assert_string_equal(got, "a = 1\nb = 2\nc = 9\n");
	free(got);
	got = config_edit_text(text, 0, &e, 1);
	assert_string_equal(got, "c = 9\n");
	free(got);
	got = config_edit_text(text, sizeof(text) - 1, NULL, 0);
	assert_string_equal(got, text);
	free(got);
}

/* The edited text loads with the new value and nothing else changed. */
static void
test_edit_then_load(void **state)
{
	const char *text =
	    "# seed\n"
	    "myhostname = mail.example.org\n"
	    "mydestination = $myhostname,\n"
	    "  localhost,\n"
	    "# between\n"
	    "  localhost.$mydomain\n"
	    "relayhost = [a]\n"
	    "mydestination = dup\n"
	    "smtpd_timeout = 30s";
	const struct config_edit edits[] = {
		{ "mydestination", "$myhostname, localhost" },
		{ "smtpd_timeout", "2m" },
		{ "relayhost", NULL },
		{ "myorigin", "$myhostname" },
	};
	struct diag_list dl;
	struct config *cf;
	char *got = config_edit_text(text, strlen(text), edits,
	    N_ELEMENTS(edits));
	const struct config_setting *s;

	diag_list_init(&dl);
	cf = config_load_text("/etc/ostia", got, strlen(got), NULL, 0,
	    CONFIG_LOAD_NO_MASTER, &dl);
	assert_non_null(cf);
	assert_int_equal(dl.errors, 0);
	/* One entry each: no "set again" warning. */
	assert_false(diag_list_contains(&dl, DIAG_WARNING, "set again"));
	assert_int_equal(config_main_settings(cf, &s), 4);
	assert_string_equal(s[0].name, "myhostname");
	assert_string_equal(s[1].name, "mydestination");
	assert_int_equal(s[1].line, 3);
	assert_string_equal(s[2].name, "smtpd_timeout");
	assert_string_equal(s[3].name, "myorigin");
	assert_string_equal(config_raw(config_main(cf), "mydestination", NULL),
	    "$myhostname, localhost");
	assert_string_equal(config_raw(config_main(cf), "relayhost", NULL), "");
	assert_int_equal(config_time(config_main(cf), P_smtpd_timeout), 120);
	assert_string_equal(config_str(config_main(cf), P_myorigin),
	    "mail.example.org");
	assert_non_null(strstr(got, "# between\n"));
	config_free(&cf);
	diag_list_deinit(&dl);
	free(got);
}

/* ---------------------------------------------------------------- */
/* config_edit_file                                                 */

static char *
make_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *tmpl = xasprintf("%s/test_config_edit.XXXXXX",
	    base != NULL && *base != '\0' ? base : "/tmp");

	assert_non_null(mkdtemp(tmpl));
	return tmpl;
}


static void
write_all(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	size_t len = strlen(text);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
	/* Whatever the umask did. */
	assert_int_equal(chmod(path, mode), 0);
}

/* dir_entries - the names in dir other than . and .., space-separated. */
static char *
dir_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	struct buf b;

	assert_non_null(d);
	buf_init(&b, 64 * 1024);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		assert_int_equal(buf_appendf(&b, "%s%s", b.len > 0 ? " " : "",
		    de->d_name), 0);
	}
	closedir(d);
	return buf_steal(&b);
}

static void
remove_tmpdir(char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		char *p;

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		p = xasprintf("%s/%s", dir, de->d_name);
		(void)unlink(p);
		free(p);
	}
	closedir(d);
	assert_int_equal(rmdir(dir), 0);
	free(dir);
}

static void
test_edit_file(void **state)
{
	char *dir = make_tmpdir();
	char *path = xasprintf("%s/main.cf", dir);
	const struct config_edit edits[] = {
		{ "myhostname", "mx.example.org" },
		{ "relayhost", NULL },
		{ "smtpd_timeout", "1m" },
	};
	char *err = NULL, *got, *names;
	struct stat st;

	write_all(path, "# keep me\nmyhostname = old\n  cont\nrelayhost = r\n",
	    0640);
	assert_int_equal(config_edit_file(path, edits, N_ELEMENTS(edits),
	    &err), 0);
	assert_null(err);
	got = test_read_file(path, NULL);
	assert_string_equal(got, "# keep me\nmyhostname = mx.example.org\n"
	    "smtpd_timeout = 1m\n");
	free(got);
	/* Mode kept, no temporary file left. */
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	names = dir_entries(dir);
	assert_string_equal(names, "main.cf");
	free(names);

	/* Another mode, a second edit on the result. */
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(config_edit_file(path, edits, 1, &err), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	got = test_read_file(path, NULL);
	assert_string_equal(got, "# keep me\nmyhostname = mx.example.org\n"
	    "smtpd_timeout = 1m\n");
	free(got);
	names = dir_entries(dir);
	assert_string_equal(names, "main.cf");
	free(names);
	free(path);
	remove_tmpdir(dir);
}

/* A missing main.cf is created with only the new settings. */
static void
test_edit_file_new(void **state)
{
	char *dir = make_tmpdir();
	char *path = xasprintf("%s/main.cf", dir);
	const struct config_edit edits[] = {
		{ "myorigin", "example.org" },
		{ "relayhost", NULL },
	};
	char *err = NULL, *got, *names;
	struct stat st;

	assert_int_equal(config_edit_file(path, edits, N_ELEMENTS(edits),
	    &err), 0);
	got = test_read_file(path, NULL);
	assert_string_equal(got, "myorigin = example.org\n");
	free(got);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07000, 0);
	names = dir_entries(dir);
	assert_string_equal(names, "main.cf");
	free(names);
	free(path);
	remove_tmpdir(dir);
}

static void
test_edit_file_errors(void **state)
{
	char *dir = make_tmpdir();
	char *path = xasprintf("%s/main.cf", dir);
	char *missing = xasprintf("%s/no/such/dir/main.cf", dir);
	const struct config_edit e = { "myorigin", "b" };
	char *err = NULL, *got, *names;

	/* A directory that does not exist. */
	assert_int_equal(config_edit_file(missing, &e, 1, &err), -1);
	assert_non_null(err);
	assert_non_null(strstr(err, "cannot create"));
	free(err);
	err = NULL;

	/* A path that is a directory. */
	assert_int_equal(config_edit_file(dir, &e, 1, &err), -1);
	assert_non_null(err);
	free(err);
	err = NULL;

	if (geteuid() == 0) {
		free(path);
		free(missing);
		remove_tmpdir(dir);
		skip();
	}
	/* A directory we may not write: the old file stays as it was. */
	write_all(path, "myorigin = a\n", 0644);
	assert_int_equal(chmod(dir, 0555), 0);
	assert_int_equal(config_edit_file(path, &e, 1, &err), -1);
	assert_int_equal(chmod(dir, 0755), 0);
	assert_non_null(err);
	assert_non_null(strstr(err, "cannot create"));
	assert_non_null(strstr(err, dir));
	free(err);
	got = test_read_file(path, NULL);
	assert_string_equal(got, "myorigin = a\n");
	free(got);
	names = dir_entries(dir);
	assert_string_equal(names, "main.cf");
	free(names);

	/* A file we may not read. */
	assert_int_equal(chmod(path, 0), 0);
	err = NULL;
	assert_int_equal(config_edit_file(path, &e, 1, &err), -1);
	assert_non_null(err);
	assert_non_null(strstr(err, "cannot open"));
	free(err);
	assert_int_equal(chmod(path, 0644), 0);
	free(path);
	free(missing);
	remove_tmpdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_edit_text),
		cmocka_unit_test(test_edit_text_len),
		cmocka_unit_test(test_edit_then_load),
		cmocka_unit_test(test_edit_file),
		cmocka_unit_test(test_edit_file_new),
		cmocka_unit_test(test_edit_file_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
