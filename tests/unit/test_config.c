/* SPDX-License-Identifier: MIT */
/*
 * test_config - loading main.cf and master.cf: main.cf syntax and its
 * diagnostics, $name expansion (also through master.cf -o overrides),
 * warnings for unknown, not implemented and per-service parameters,
 * value errors with file:line, the typed getters in the main and service
 * views, load flags, and loading from text versus from files.
 *
 * Typed value checks are in test_config_value.c, in-place editing in
 * test_config_edit.c.
 */
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
#include "cf_lines.h"
#include "compat.h"
#include "config.h"
#include "diag.h"
#include "master_cf.h"
#include "strv.h"
#include "xalloc.h"
#include "test_support.h"

#define TEST_DIR "/test/etc"
#define MAIN_PATH TEST_DIR "/main.cf"
#define MASTER_PATH TEST_DIR "/master.cf"

/* ---------------------------------------------------------------- */
/* Helpers                                                          */

/* load - config_load_text() on NUL-terminated texts (master may be NULL). */
static struct config *
load(const char *main_text, const char *master_text, unsigned flags,
    struct diag_list *dl)
{
	diag_list_init(dl);
	return config_load_text(TEST_DIR, main_text, strlen(main_text),
	    master_text, master_text != NULL ? strlen(master_text) : 0,
	    flags, dl);
}

/* load_ok - load and require success without errors. */
static struct config *
load_ok(const char *main_text, const char *master_text, unsigned flags,
    struct diag_list *dl)
{
	struct config *cf = load(main_text, master_text, flags, dl);

	if (cf == NULL || dl->errors != 0)
		test_print_diags(dl);
	assert_non_null(cf);
	assert_int_equal(dl->errors, 0);
	return cf;
}

/* count_diags - items of level whose text contains needle. */
static size_t
count_diags(const struct diag_list *dl, enum diag_level level,
    const char *needle)
{
	size_t n = 0;

	for (size_t i = 0; i < dl->n; i++)
		if (dl->items[i].level == level &&
		    strstr(dl->items[i].text, needle) != NULL)
			n++;
	return n;
}

/*
 * expect_diag - exactly one item of level containing needle, at file
 * (NULL: not tied to a file) and line.
 */
static void
expect_diag(const struct diag_list *dl, enum diag_level level,
    const char *needle, const char *file, unsigned line)
{
	const struct diag *d = NULL;

	for (size_t i = 0; i < dl->n; i++) {
		if (dl->items[i].level != level ||
		    strstr(dl->items[i].text, needle) == NULL)
			continue;
		if (d != NULL) {
			test_print_diags(dl);
			fail_msg("more than one diagnostic with \"%s\"",
			    needle);
		}
		d = &dl->items[i];
	}
	if (d == NULL) {
		test_print_diags(dl);
		fail_msg("no %s with \"%s\"", level == DIAG_ERROR ? "error" :
		    "warning", needle);
	}
	if (file == NULL)
		assert_null(d->file);
	else {
		assert_non_null(d->file);
		assert_string_equal(d->file, file);
	}
	assert_int_equal(d->line, line);
}

/* no_diag_with - nothing of any level mentions needle. */
static void
no_diag_with(const struct diag_list *dl, const char *needle)
{
	for (size_t i = 0; i < dl->n; i++) {
		if (strstr(dl->items[i].text, needle) != NULL) {
			test_print_diags(dl);
			fail_msg("unexpected diagnostic about \"%s\"", needle);
		}
	}
}

/* setting - the index'th main.cf setting must be name = value at line. */
static void
expect_setting(const struct config *cf, size_t index, const char *name,
    const char *value, unsigned line)
{
	const struct config_setting *s;
	size_t n = config_main_settings(cf, &s);

	assert_true(index < n);
	assert_string_equal(s[index].name, name);
	assert_string_equal(s[index].value, value);
	assert_int_equal(s[index].line, line);
}

/* service_view - the view of the master.cf service called name. */
static const struct config_view *
service_view(const struct config *cf, const char *name)
{
	const struct master_cf *m = config_master(cf);

	assert_non_null(m);
	for (size_t i = 0; i < m->nservices; i++)
		if (strcmp(m->services[i].name, name) == 0)
			return config_service(cf, i);
	fail_msg("no service %s", name);
	return NULL;
}

/* expect_list - a NULL-terminated vector equals the expected words. */
static void
expect_list(char **got, const char *const *want, size_t nwant)
{
	size_t n = 0;

	while (got[n] != NULL)
		n++;
	if (n != nwant) {
		for (size_t i = 0; i < n; i++)
			print_message("  got[%zu] = \"%s\"\n", i, got[i]);
		fail_msg("list has %zu elements, expected %zu", n, nwant);
	}
	for (size_t i = 0; i < n; i++)
		assert_string_equal(got[i], want[i]);
}

/* make_tmpdir - a new empty directory; caller frees the name. */
static char *
make_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *tmpl = xasprintf("%s/test_config.XXXXXX",
	    base != NULL && *base != '\0' ? base : "/tmp");

	assert_non_null(mkdtemp(tmpl));
	return tmpl;
}

static void
write_text(const char *dir, const char *file, const char *text, size_t len)
{
	char *path = xasprintf("%s/%s", dir, file);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
	free(path);
}

static void
remove_tmpdir(char *dir)
{
	static const char *const files[] = { "main.cf", "master.cf" };

	for (size_t i = 0; i < N_ELEMENTS(files); i++) {
		char *path = xasprintf("%s/%s", dir, files[i]);

		(void)unlink(path);
		free(path);
	}
	assert_int_equal(rmdir(dir), 0);
	free(dir);
}

/* read_source - a file under the source tree with @DIR@ replaced. */
static char *
read_source(const char *rel, const char *dir)
{
	char *path = test_source_path(rel);
	char *text = test_read_file(path, NULL);
	struct buf out;
	const char *p;

	free(path);
	buf_init(&out, 16 * 1024 * 1024);
	p = text;
	for (;;) {
		const char *at = strstr(p, "@DIR@");

		if (at == NULL) {
			assert_int_equal(buf_append_str(&out, p), 0);
			break;
		}
		assert_int_equal(buf_append(&out, p, (size_t)(at - p)), 0);
		assert_int_equal(buf_append_str(&out, dir), 0);
		p = at + 5;
	}
	free(text);
	return buf_steal(&out);
}

/* ---------------------------------------------------------------- */
/* main.cf syntax                                                   */

struct syntax_case {
	const char *text;
	const char *name;	/* the first (only) setting */
	const char *value;
	unsigned line;
};

static const struct syntax_case syntax_cases[] = {
	{ "myorigin = example.org\n", "myorigin", "example.org", 1 },
	{ "myorigin=example.org\n", "myorigin", "example.org", 1 },
	{ "myorigin \t=\t example.org \t\n", "myorigin", "example.org", 1 },
	{ "myorigin =\n", "myorigin", "", 1 },
	{ "myorigin=", "myorigin", "", 1 },
	{ "myorigin = a = b\n", "myorigin", "a = b", 1 },
	{ "myorigin = a  b\n", "myorigin", "a  b", 1 },
	/* No final newline. */
	{ "myorigin = example.org", "myorigin", "example.org", 1 },
	/* CRLF. */
	{ "myorigin = example.org\r\n", "myorigin", "example.org", 1 },
	/* Comments and blank lines first. */
	{ "# comment\n\n   \n\t# indented comment\nmyorigin = x\n",
	    "myorigin", "x", 5 },
	/* Continuation lines keep their leading white space. */
	{ "mydestination = a,\n  b,\n\tc\n", "mydestination", "a,  b,\tc", 1 },
	/* Comments and blank lines inside a continuation are skipped. */
	{ "mydestination = a,\n# note\n\n  b\n  # indented note\n   c\n",
	    "mydestination", "a,  b   c", 1 },
	{ "mydestination = a,\r\n  b\r\n", "mydestination", "a,  b", 1 },
	/* '-' and digits in names (per-service parameters). */
	{ "smtp-amavis_destination_recipient_limit = 1\n",
	    "smtp-amavis_destination_recipient_limit", "1", 1 },
	{ "2bounce_notice_recipient = pm\n", "2bounce_notice_recipient",
	    "pm", 1 },
};

static void
test_syntax_valid(void **state)
{
	for (size_t i = 0; i < N_ELEMENTS(syntax_cases); i++) {
		const struct syntax_case *c = &syntax_cases[i];
		const struct config_setting *s;
		struct diag_list dl;
		struct config *cf;

		print_message("case %zu\n", i);
		cf = load_ok(c->text, NULL, CONFIG_LOAD_NO_MASTER |
		    CONFIG_LOAD_QUIET, &dl);
		assert_int_equal(config_main_settings(cf, &s), 1);
		expect_setting(cf, 0, c->name, c->value, c->line);
		config_free(&cf);
		assert_null(cf);
		diag_list_deinit(&dl);
	}
}

static void
test_syntax_lines(void **state)
{
	const char *text =
	    "# header\n"				/* 1 */
	    "myorigin = a\r\n"				/* 2 */
	    "mydestination = x,\n"			/* 3 */
	    "\n"					/* 4 */
	    "# inside\n"				/* 5 */
	    "    y\n"					/* 6 */
	    "relayhost = [mx]:25\n"			/* 7 */
	    "   \n"						/* 8 */
	    "smtpd_banner = $myhostname ESMTP";	/* 9, no LF */
	struct diag_list dl;
	struct config *cf = load_ok(text, NULL, CONFIG_LOAD_NO_MASTER |
	    CONFIG_LOAD_QUIET, &dl);
	const struct config_setting *s;

	assert_int_equal(config_main_settings(cf, &s), 4);
	expect_setting(cf, 0, "myorigin", "a", 2);
	expect_setting(cf, 1, "mydestination", "x,    y", 3);
	expect_setting(cf, 2, "relayhost", "[mx]:25", 7);
	expect_setting(cf, 3, "smtpd_banner", "$myhostname ESMTP", 9);
	assert_string_equal(config_str(config_main(cf), P_relayhost),
	    "[mx]:25");
	config_free(&cf);
	diag_list_deinit(&dl);
}

struct syntax_error_case {
	const char *text;
	size_t len;		/* 0: strlen(text) */
	const char *error;
	unsigned line;
};

static const struct syntax_error_case syntax_error_cases[] = {
	{ "myorigin = a\nfoo\n", 0, "found \"foo\" (missing '=')", 2 },
	{ "myorigin = a\n\n# c\nmyorigin a\n", 0,
	    "found \"myorigin a\"", 4 },
	{ "= value\n", 0, "expected \"name = value\"", 1 },
	{ "my.host = x\n", 0,
	    "a parameter name has only letters, digits, '_' and '-'", 1 },
	{ "a/b = x\n", 0, "a parameter name has only letters", 1 },
	{ "myorigin = a\nmydestination = b,\n  c\nbad name = x\n", 0,
	    "found \"bad name = x\"", 4 },
	{ "  indented = x\n", 0, "nothing before it to continue", 1 },
	{ "myorigin = a\nrelayhost = b\0c\n", 27, "NUL byte", 2 },
	{ "\0", 1, "NUL byte", 1 },
};

static void
test_syntax_errors(void **state)
{
	for (size_t i = 0; i < N_ELEMENTS(syntax_error_cases); i++) {
		const struct syntax_error_case *c = &syntax_error_cases[i];
		size_t len = c->len != 0 ? c->len : strlen(c->text);
		struct diag_list dl;
		struct config *cf;

		print_message("case %zu\n", i);
		diag_list_init(&dl);
		cf = config_load_text(TEST_DIR, c->text, len, NULL, 0,
		    CONFIG_LOAD_NO_MASTER, &dl);
		assert_null(cf);
		assert_int_equal(dl.errors, 1);
		expect_diag(&dl, DIAG_ERROR, c->error, MAIN_PATH, c->line);
		diag_list_deinit(&dl);
	}
}

/* Over-long physical and logical lines from cf_lines, with file:line. */
static void
test_syntax_too_long(void **state)
{
	struct diag_list dl;
	struct config *cf;
	struct buf b;
	char *chunk = xmalloc(60001);

	/* A physical line past CF_PHYS_LINE_MAX_BYTES on line 3. */
	buf_init(&b, 64 * 1024 * 1024);
	assert_int_equal(buf_append_str(&b, "myorigin = a\n\nrelayhost = "),
	    0);
	for (size_t i = 0; i < CF_PHYS_LINE_MAX_BYTES; i++)
		assert_int_equal(buf_append_c(&b, 'x'), 0);
	assert_int_equal(buf_append_str(&b, "\nmydomain = b\n"), 0);
	diag_list_init(&dl);
	cf = config_load_text(TEST_DIR, buf_cstr(&b), b.len, NULL, 0,
	    CONFIG_LOAD_NO_MASTER, &dl);
	assert_null(cf);
	assert_int_equal(dl.errors, 1);
	expect_diag(&dl, DIAG_ERROR, "physical line too long", MAIN_PATH, 3);
	diag_list_deinit(&dl);
	buf_deinit(&b);

	/*
	 * A logical line past MAIN_CF_LINE_MAX_BYTES: 60000-byte
	 * continuation lines; the one that passes the limit is named.
	 */
	memset(chunk, 'y', 60000);
	chunk[60000] = '\0';
	chunk[0] = ' ';
	buf_init(&b, 64 * 1024 * 1024);
	assert_int_equal(buf_append_str(&b, "# c\nmydestination = a\n"), 0);
	for (size_t i = 0; i < 20; i++)
		assert_int_equal(buf_appendf(&b, "%s\n", chunk), 0);
	diag_list_init(&dl);
	cf = config_load_text(TEST_DIR, buf_cstr(&b), b.len, NULL, 0,
	    CONFIG_LOAD_NO_MASTER, &dl);
	assert_null(cf);
	assert_int_equal(dl.errors, 1);
	/*
	 * The logical line starts with "mydestination = a" (17 bytes) on
	 * line 2; continuation k (line 2 + k) brings it to 17 + 60000 k.
	 */
	expect_diag(&dl, DIAG_ERROR, "logical line too long", MAIN_PATH,
	    2 + (MAIN_CF_LINE_MAX_BYTES - 17) / 60000 + 1);
	diag_list_deinit(&dl);
	buf_deinit(&b);
	free(chunk);
}

static void
test_duplicates(void **state)
{
	const char *text =
	    "myorigin = first\n"		/* 1 */
	    "relayhost = r1\n"			/* 2 */
	    "myorigin = second\n"		/* 3 */
	    "my_var = 1\n"			/* 4 */
	    "myorigin = third\n"		/* 5 */
	    "my_var = 2\n"			/* 6 */
	    "smtpd_banner = $my_var\n";		/* 7 */
	struct diag_list dl;
	struct config *cf = load_ok(text, NULL, CONFIG_LOAD_NO_MASTER, &dl);
	const char *origin = NULL;

	expect_diag(&dl, DIAG_WARNING, "myorigin is set again; this overrides "
	    "the setting on line 1", MAIN_PATH, 3);
	expect_diag(&dl, DIAG_WARNING, "myorigin is set again; this overrides "
	    "the setting on line 3", MAIN_PATH, 5);
	expect_diag(&dl, DIAG_WARNING, "my_var is set again; this overrides "
	    "the setting on line 4", MAIN_PATH, 6);
	assert_int_equal(count_diags(&dl, DIAG_WARNING, "set again"), 3);
	/* The last wins, for known and user-defined names. */
	assert_string_equal(config_str(config_main(cf), P_myorigin), "third");
	assert_string_equal(config_raw(config_main(cf), "myorigin", &origin),
	    "third");
	assert_string_equal(config_raw(config_main(cf), "my_var", NULL), "2");
	assert_string_equal(config_str(config_main(cf), P_smtpd_banner), "2");
	/* Every entry stays in the settings list, in file order. */
	expect_setting(cf, 0, "myorigin", "first", 1);
	expect_setting(cf, 4, "myorigin", "third", 5);
	config_free(&cf);
	diag_list_deinit(&dl);
}

/* ---------------------------------------------------------------- */
/* Expansion                                                        */

struct expand_case {
	const char *text;
	const char *result;	/* NULL: an error containing error */
	const char *error;
};

static const struct expand_case expand_cases[] = {
	{ "", "", NULL },
	{ "plain text", "plain text", NULL },
	{ "$a", "A", NULL },
	{ "${a}", "A", NULL },
	{ "$(a)", "A", NULL },
	{ "x$a.y", "xA.y", NULL },
	{ "$a$a", "AA", NULL },
	{ "${a}b", "Ab", NULL },
	/* A bare $name is [A-Za-z0-9_]: "$ab" is another name. */
	{ "$ab", "", NULL },
	{ "$a-b", "A-b", NULL },
	{ "$$", "$", NULL },
	{ "$$a", "$a", NULL },
	{ "a$$$a", "a$A", NULL },
	{ "cost $ 5", "cost $ 5", NULL },
	{ "end$", "end$", NULL },
	/* Nested: b refers to a, c to b. */
	{ "$b", "A-A", NULL },
	{ "[$c]", "[<A-A>]", NULL },
	/* Unknown names expand to nothing. */
	{ "<$no_such_name>", "<>", NULL },
	{ "<${no_such_name}>", "<>", NULL },
	/* Known parameters expand to their defaults. */
	{ "$mail_name", "Ostia", NULL },
	{ "${mail_name}/$syslog_name", "Ostia/ostia", NULL },
	/* ${name?text} and ${name:text}. */
	{ "${a?yes}", "yes", NULL },
	{ "${empty?yes}", "", NULL },
	{ "${no_such_name?yes}", "", NULL },
	{ "${a:no}", "", NULL },
	{ "${empty:no}", "no", NULL },
	{ "${no_such_name:no}", "no", NULL },
	{ "$(empty:no)", "no", NULL },
	{ "${a?$b}", "A-A", NULL },
	{ "${a?${b}}", "A-A", NULL },
	{ "${empty:${c}}", "<A-A>", NULL },
	{ "${a?x ${empty:y} z}", "x y z", NULL },
	/* An empty-valued name is empty even when it refers to others. */
	{ "${blank?set}", "", NULL },
	/* ${name?{a}:{b}} and the other Postfix 3 forms. */
	{ "${a?{Y}:{N}}", "Y", NULL },
	{ "${empty?{Y}:{N}}", "N", NULL },
	{ "${a?{Y}}", "Y", NULL },
	{ "${empty?{Y}}", "", NULL },
	{ "${a?{$b}:{N}}", "A-A", NULL },
	{ "${a?{${b}}:{N}}", "A-A", NULL },
	{ "${empty?{Y}:{${a}}}", "A", NULL },
	{ "${a?{x, y}:{z}}", "x, y", NULL },
	{ "${empty:{N}}", "N", NULL },
	{ "${a:{N}}", "", NULL },
	{ "${empty?{Y}:N}", "N", NULL },
	{ "${a?{Y} : {N}}", "Y", NULL },
	{ "${empty?{Y} : {N}}", "N", NULL },
	/* Errors. */
	{ "${a", NULL, "missing '}'" },
	{ "$(a", NULL, "missing ')'" },
	{ "x ${a?{y}", NULL, "missing '}'" },
	{ "${}", NULL, "bad ${...}" },
	{ "${?x}", NULL, "bad ${...}" },
	{ "${a!x}", NULL, "bad ${...}" },
	{ "${a b}", NULL, "bad ${...}" },
	{ "${a?{Y}:{N}", NULL, "missing '}'" },
	{ "${a?{Y}x}", NULL, "bad ${name?{text}:{text}}" },
	{ "${loop1}", NULL, "loop" },
	{ "x $loop2 y", NULL, "loop" },
	{ "${empty?$loop1}", "", NULL },
	{ "${a?$loop1}", NULL, "loop" },
};

static void
test_expand(void **state)
{
	const char *text =
	    "a = A\n"
	    "b = $a-$a\n"
	    "c = <${b}>\n"
	    "empty =\n"
	    "blank = $empty$no_such_name\n"
	    "loop1 = $loop2\n"
	    "loop2 = x${loop1}\n";
	struct diag_list dl;
	struct config *cf = load_ok(text, NULL, CONFIG_LOAD_NO_MASTER |
	    CONFIG_LOAD_QUIET, &dl);

	for (size_t i = 0; i < N_ELEMENTS(expand_cases); i++) {
		const struct expand_case *c = &expand_cases[i];
		const char *err = NULL;
		char *got = config_expand(config_main(cf), c->text, &err);

		print_message("case %zu: %s\n", i, c->text);
		if (c->result != NULL) {
			if (got == NULL)
				fail_msg("\"%s\": error %s", c->text, err);
			assert_string_equal(got, c->result);
		} else {
			if (got != NULL)
				fail_msg("\"%s\" gave \"%s\"", c->text, got);
			assert_non_null(err);
			if (strstr(err, c->error) == NULL)
				fail_msg("\"%s\": error \"%s\" lacks \"%s\"",
				    c->text, err, c->error);
		}
		free(got);
	}
	/* config_expand_name: NULL only for unknown and unset names. */
	{
		char *s = config_expand_name(config_main(cf), "c");

		assert_string_equal(s, "<A-A>");
		free(s);
		s = config_expand_name(config_main(cf), "empty");
		assert_string_equal(s, "");
		free(s);
		s = config_expand_name(config_main(cf), "mail_name");
		assert_string_equal(s, "Ostia");
		free(s);
		assert_null(config_expand_name(config_main(cf), "nope"));
		assert_null(config_expand_name(config_main(cf), "loop1"));
	}
	config_free(&cf);
	diag_list_deinit(&dl);
}

/* Known parameters see main.cf settings and each other's values. */
static void
test_expand_known(void **state)
{
	const char *text =
	    "myhostname = mx.example.org\n"
	    "mydomain = example.org\n"
	    "myorigin = $mydomain\n"
	    "mydestination = $myhostname, localhost.$mydomain, ${mydomain}\n"
	    "smtpd_banner = ${myhostname} ESMTP $$mail_name\n"
	    "relayhost = ${relay_host?[$relay_host]:25}\n"
	    "relay_host = smart.example.org\n";
	static const char *const dest[] = {
		"mx.example.org", "localhost.example.org", "example.org",
	};
	struct diag_list dl;
	struct config *cf = load_ok(text, NULL, CONFIG_LOAD_NO_MASTER |
	    CONFIG_LOAD_QUIET, &dl);
	const struct config_view *v = config_main(cf);
	char **l;

	assert_string_equal(config_str(v, P_myorigin), "example.org");
	assert_string_equal(config_str(v, P_smtpd_banner),
	    "mx.example.org ESMTP $mail_name");
	assert_string_equal(config_str(v, P_relayhost),
	    "[smart.example.org]:25");
	l = config_list(v, P_mydestination);
	expect_list(l, dest, N_ELEMENTS(dest));
	strv_free(&l);
	assert_null(l);
	/* Raw values stay unexpanded. */
	assert_string_equal(config_raw(v, "myorigin", NULL), "$mydomain");
	config_free(&cf);
	diag_list_deinit(&dl);
}

/*
 * A loop is an error on each line that sets a parameter in it; the
 * defaults that fail because of it are not each an error.
 */
static void
test_expand_loop(void **state)
{
	const char *text =
	    "# loop\n"					/* 1 */
	    "myhostname = mail.$mydomain\n"		/* 2 */
	    "mydomain = $myhostname\n"			/* 3 */
	    "relayhost = smart\n";			/* 4 */
	const char *text2 =
	    "a = $b\n"					/* 1 */
	    "b = x$a\n"					/* 2 */
	    "myorigin = ${a}\n";			/* 3 */
	struct diag_list dl;
	struct config *cf;

	cf = load(text, NULL, CONFIG_LOAD_NO_MASTER, &dl);
	assert_null(cf);
	assert_int_equal(dl.errors, 2);
	expect_diag(&dl, DIAG_ERROR, "myhostname: parameter expansion nests "
	    "too deep: a $name refers back to itself (a loop)", MAIN_PATH, 2);
	expect_diag(&dl, DIAG_ERROR, "mydomain: parameter expansion nests "
	    "too deep", MAIN_PATH, 3);
	/* myorigin, smtpd_banner, mydestination... are summed up. */
	expect_diag(&dl, DIAG_WARNING, "more parameters could not be expanded "
	    "or checked because of the errors above", NULL, 0);
	assert_int_equal(count_diags(&dl, DIAG_ERROR, "default value"), 0);
	diag_list_deinit(&dl);

	cf = load(text2, NULL, CONFIG_LOAD_NO_MASTER, &dl);
	assert_null(cf);
	assert_int_equal(dl.errors, 1);
	expect_diag(&dl, DIAG_ERROR, "myorigin: parameter expansion nests too "
	    "deep", MAIN_PATH, 3);
	/* a and b are referenced, so not warned as unknown. */
	assert_int_equal(count_diags(&dl, DIAG_WARNING, "unknown"), 0);
	diag_list_deinit(&dl);

	/* Lenient: the configuration comes back, the loop reads as empty. */
	cf = load(text, NULL, CONFIG_LOAD_NO_MASTER | CONFIG_LOAD_LENIENT,
	    &dl);
	assert_non_null(cf);
	assert_int_equal(dl.errors, 2);
	assert_string_equal(config_str(config_main(cf), P_myhostname), "");
	assert_string_equal(config_str(config_main(cf), P_relayhost), "smart");
	config_free(&cf);
	diag_list_deinit(&dl);
}

/* The same loop is not reported again for services with overrides. */
static void
test_expand_loop_services(void **state)
{
	const char *text =
	    "myhostname = mail.$mydomain\n"		/* 1 */
	    "mydomain = $myhostname\n";			/* 2 */
	const char *master =
	    "smtp inet n - n - - smtpd\n"
	    "smtps inet n - n - - smtpd\n"
	    "  -o smtpd_tls_wrappermode=yes\n"
	    "  -o syslog_name=ostia/smtps\n"
	    "submission inet n - n - - smtpd -o syslog_name=ostia/sub\n";
	struct diag_list dl;
	struct config *cf;

	cf = load(text, master, CONFIG_LOAD_QUIET, &dl);
	assert_null(cf);
	if (dl.errors != 2)
		test_print_diags(&dl);
	assert_int_equal(dl.errors, 2);
	expect_diag(&dl, DIAG_ERROR, "myhostname:", MAIN_PATH, 1);
	expect_diag(&dl, DIAG_ERROR, "mydomain:", MAIN_PATH, 2);
	diag_list_deinit(&dl);
}

/*
 * A service's -o overrides are seen through $name in main.cf settings of
 * that service's view only.
 */
static void
test_expand_overrides(void **state)
{
	const char *text =
	    "mua = permit_mynetworks\n"				/* 1 */
	    "smtpd_client_restrictions = $mua\n"		/* 2 */
	    "smtpd_banner = $myhostname ${tag:plain}$tag\n"	/* 3 */
	    "myhostname = mx.example.org\n";			/* 4 */
	const char *master =
	    "smtp inet n - n - - smtpd\n"			/* 1 */
	    "submission inet n - n - - smtpd\n"			/* 2 */
	    "  -o mua=permit_sasl_authenticated,reject\n"	/* 3 */
	    "  -o tag=submission\n"				/* 4 */
	    "relay unix - - n - - smtp -o myhostname=relay.example.org\n";
	static const char *const main_list[] = { "permit_mynetworks" };
	static const char *const sub_list[] = {
		"permit_sasl_authenticated", "reject",
	};
	struct diag_list dl;
	struct config *cf = load_ok(text, master, 0, &dl);
	const struct config_view *m = config_main(cf), *smtp, *sub, *relay;
	const char *origin = NULL;
	char **l;

	smtp = service_view(cf, "smtp");
	sub = service_view(cf, "submission");
	relay = service_view(cf, "relay");

	assert_string_equal(config_str(m, P_smtpd_client_restrictions),
	    "permit_mynetworks");
	assert_string_equal(config_str(smtp, P_smtpd_client_restrictions),
	    "permit_mynetworks");
	assert_string_equal(config_str(sub, P_smtpd_client_restrictions),
	    "permit_sasl_authenticated,reject");
	l = config_list(m, P_smtpd_client_restrictions);
	expect_list(l, main_list, N_ELEMENTS(main_list));
	strv_free(&l);
	l = config_list(sub, P_smtpd_client_restrictions);
	expect_list(l, sub_list, N_ELEMENTS(sub_list));
	strv_free(&l);
	assert_true(config_list_contains(sub, P_smtpd_client_restrictions,
	    "REJECT"));
	assert_false(config_list_contains(m, P_smtpd_client_restrictions,
	    "reject"));

	assert_string_equal(config_str(m, P_smtpd_banner),
	    "mx.example.org plain");
	assert_string_equal(config_str(sub, P_smtpd_banner),
	    "mx.example.org submission");
	/* An override of a known parameter reaches everything using it. */
	assert_string_equal(config_str(relay, P_myhostname),
	    "relay.example.org");
	assert_string_equal(config_str(relay, P_smtpd_banner),
	    "relay.example.org plain");
	assert_string_equal(config_str(relay, P_myorigin),
	    "relay.example.org");
	assert_string_equal(config_str(m, P_myorigin), "mx.example.org");

	/* config_expand and config_raw in a service view. */
	{
		const char *err = NULL;
		char *s = config_expand(sub, "[$mua|$tag]", &err);

		assert_non_null(s);
		assert_string_equal(s, "[permit_sasl_authenticated,reject|"
		    "submission]");
		free(s);
		s = config_expand(m, "[$mua|$tag]", &err);
		assert_string_equal(s, "[permit_mynetworks|]");
		free(s);
	}
	assert_string_equal(config_raw(sub, "smtpd_client_restrictions",
	    &origin), "$mua");
	assert_non_null(origin);
	assert_true(strncmp(origin, MAIN_PATH, strlen(MAIN_PATH)) == 0);
	assert_string_equal(config_raw(sub, "mua", &origin),
	    "permit_sasl_authenticated,reject");
	assert_true(strncmp(origin, MASTER_PATH, strlen(MASTER_PATH)) == 0);
	assert_string_equal(config_raw(m, "mua", &origin),
	    "permit_mynetworks");
	assert_true(strncmp(origin, MAIN_PATH, strlen(MAIN_PATH)) == 0);
	assert_null(config_raw(m, "tag", &origin));
	assert_string_equal(config_raw(sub, "tag", NULL), "submission");
	/* mua and tag are used as $name: no "unknown parameter" warning. */
	no_diag_with(&dl, "mua");
	no_diag_with(&dl, "tag");
	config_free(&cf);
	diag_list_deinit(&dl);
}

/* ---------------------------------------------------------------- */
/* Warnings                                                         */

static void
test_warn_unknown(void **state)
{
	const char *text =
	    "mynetwork = 127.0.0.0/8\n"			/* 1 */
	    "my_helper = permit\n"			/* 2 */
	    "smtpd_client_restrictions = $my_helper\n"	/* 3 */
	    "other_helper = x\n"			/* 4 */
	    "myorigin = ${third?{$third}:{y}}\n"	/* 5 */
	    "third = z\n"				/* 6 */
	    "fourth = $(fifth)\n"			/* 7 */
	    "fifth = 5\n"				/* 8 */
	    "zzqqxx_unrelated = 1\n";			/* 9 */
	struct diag_list dl;
	struct config *cf = load_ok(text, NULL, CONFIG_LOAD_NO_MASTER, &dl);

	expect_diag(&dl, DIAG_WARNING, "unknown parameter mynetwork ignored; "
	    "did you mean mynetworks?", MAIN_PATH, 1);
	/* Referenced as $name somewhere: user-defined, not a typo. */
	no_diag_with(&dl, "my_helper");
	no_diag_with(&dl, "third");
	no_diag_with(&dl, "fifth");
	/* Not referenced: warned, without a far-fetched suggestion. */
	expect_diag(&dl, DIAG_WARNING, "unknown parameter other_helper",
	    MAIN_PATH, 4);
	expect_diag(&dl, DIAG_WARNING, "unknown parameter fourth", MAIN_PATH,
	    7);
	expect_diag(&dl, DIAG_WARNING, "unknown parameter zzqqxx_unrelated "
	    "ignored (no parameter of that name exists", MAIN_PATH, 9);
	assert_string_equal(config_str(config_main(cf), P_myorigin), "z");
	config_free(&cf);
	diag_list_deinit(&dl);
}

/* A known but not implemented parameter is warned about once. */
static void
test_warn_later_once(void **state)
{
	const char *text =
	    "bounce_template_file = /etc/postfix/bounce.cf\n"	/* 1 */
	    "best_mx_transport = [smart]:587\n"		/* 2 */
	    "biff = no\n";			/* 3 */
	const char *master =
	    "smtp inet n - n - - smtpd -o best_mx_transport=[a]\n"	/* 1 */
	    "smtps inet n - n - - smtpd\n"			/* 2 */
	    "  -o best_mx_transport=[b]\n"				/* 3 */
	    "  -o smtp_quit_timeout=600s\n"		/* 4 */
	    "sub inet n - n - - smtpd\n"			/* 5 */
	    "  -o smtp_quit_timeout=600s\n";		/* 6 */
	struct diag_list dl;
	struct config *cf = load_ok(text, master, 0, &dl);

	expect_diag(&dl, DIAG_WARNING, "parameter best_mx_transport is known but "
	    "not implemented yet", MAIN_PATH, 2);
	assert_int_equal(count_diags(&dl, DIAG_WARNING, "best_mx_transport"), 1);
	expect_diag(&dl, DIAG_WARNING, "parameter bounce_template_file is "
	    "known but not implemented yet", MAIN_PATH, 1);
	/* Set twice in master.cf only: warned once, at the first. */
	expect_diag(&dl, DIAG_WARNING, "smtp_quit_timeout is known but "
	    "not implemented", MASTER_PATH, 2);
	expect_diag(&dl, DIAG_WARNING, "parameter biff is a Postfix setting "
	    "with no meaning in Ostia", MAIN_PATH, 3);
	/* Parameters Ostia implements are not warned about. */
	config_free(&cf);
	diag_list_deinit(&dl);

	cf = load_ok("syslog_name = ostia-test\nsyslog_facility = LOCAL3\n",
	    NULL, CONFIG_LOAD_NO_MASTER, &dl);
	assert_int_equal(dl.n, 0);
	assert_string_equal(config_str(config_main(cf), P_syslog_name),
	    "ostia-test");
	config_free(&cf);
	diag_list_deinit(&dl);
}

/* CONFIG_LOAD_QUIET drops the unknown / not implemented warnings. */
static void
test_warn_quiet(void **state)
{
	const char *text =
	    "mynetwork = 127.0.0.0/8\n"
	    "best_mx_transport = [smart]\n"
	    "biff = no\n"
	    "dovecot_initial_destination_concurrency = 2\n"
	    "smtp-amavis_initial_destination_concurrency = 2\n";
	const char *master =
	    "dovecot unix - n n - - pipe\n"
	    "smtp inet n - n - - smtpd -o best_mx_transport=[a] -o typo_param=1\n";
	struct diag_list dl;
	struct config *cf = load_ok(text, master, CONFIG_LOAD_QUIET, &dl);

	if (dl.n != 0)
		test_print_diags(&dl);
	assert_int_equal(dl.n, 0);
	config_free(&cf);
	diag_list_deinit(&dl);

	/* Without QUIET, every one of them is reported. */
	cf = load_ok(text, master, 0, &dl);
	assert_int_equal(count_diags(&dl, DIAG_WARNING, "mynetwork "), 1);
	assert_int_equal(count_diags(&dl, DIAG_WARNING, "best_mx_transport"), 1);
	assert_int_equal(count_diags(&dl, DIAG_WARNING, "biff"), 1);
	assert_int_equal(count_diags(&dl, DIAG_WARNING,
	    "dovecot_initial_destination_concurrency"), 1);
	assert_int_equal(count_diags(&dl, DIAG_WARNING,
	    "smtp-amavis_initial_destination_concurrency"), 1);
	expect_diag(&dl, DIAG_WARNING, "typo_param", MASTER_PATH, 2);
	config_free(&cf);
	diag_list_deinit(&dl);
}

/* Per-service parameters: "<service>_<suffix>" for master.cf services. */
static void
test_per_service(void **state)
{
	const char *text =
	    "virtual_transport = dovecot\n"			/* 1 */
	    "dovecot_destination_recipient_limit = 1\n"	/* 2 */
	    "dovecot_initial_destination_concurrency = 2\n";	/* 3 */
	const char *master_with =
	    "smtp inet n - n - - smtpd\n"
	    "dovecot unix - n n - - pipe\n"
	    "  flags=DRhu user=vmail:vmail argv=/usr/bin/deliver\n"
	    "  -f ${sender}\n";
	const char *master_without = "smtp inet n - n - - smtpd\n";
	struct diag_list dl;
	struct config *cf;

	cf = load_ok(text, master_with, 0, &dl);
	assert_int_equal(count_diags(&dl, DIAG_WARNING, "unknown"), 0);
	/* The queue manager honours the recipient limit: no warning. */
	assert_int_equal(count_diags(&dl, DIAG_WARNING,
	    "dovecot_destination_recipient_limit"), 0);
	expect_diag(&dl, DIAG_WARNING, "dovecot_initial_destination_"
	    "concurrency (initial_destination_concurrency for service "
	    "dovecot) is known but "
	    "not implemented", MAIN_PATH, 3);
	assert_string_equal(config_raw(config_main(cf),
	    "dovecot_destination_recipient_limit", NULL), "1");
	config_free(&cf);
	diag_list_deinit(&dl);

	cf = load_ok(text, master_without, 0, &dl);
	expect_diag(&dl, DIAG_WARNING, "unknown parameter "
	    "dovecot_destination_recipient_limit ignored: it looks like a "
	    "per-service parameter but master.cf has no service named "
	    "\"dovecot\"", MAIN_PATH, 2);
	config_free(&cf);
	diag_list_deinit(&dl);

	/* Range-checked like any other value, after expansion. */
	cf = load("# x\ndovecot_destination_recipient_limit = -1\n",
	    master_with, 0, &dl);
	assert_null(cf);
	assert_int_equal(dl.errors, 1);
	expect_diag(&dl, DIAG_ERROR, "invalid value \"-1\" for "
	    "dovecot_destination_recipient_limit: expected a whole number "
	    "from 0 to 2147483647", MAIN_PATH, 2);
	diag_list_deinit(&dl);

	cf = load("lim = ten\ndovecot_destination_recipient_limit = $lim\n",
	    master_with, 0, &dl);
	assert_null(cf);
	expect_diag(&dl, DIAG_ERROR, "invalid value \"$lim\" for "
	    "dovecot_destination_recipient_limit", MAIN_PATH, 2);
	diag_list_deinit(&dl);

	cf = load_ok("lim = 5\ndovecot_destination_recipient_limit = $lim\n"
	    "dovecot_time_limit = 2m\n", master_with, 0, &dl);
	config_free(&cf);
	diag_list_deinit(&dl);

	cf = load("dovecot_time_limit = 2x\n", master_with, 0, &dl);
	assert_null(cf);
	expect_diag(&dl, DIAG_ERROR, "for dovecot_time_limit: expected a time",
	    MAIN_PATH, 1);
	diag_list_deinit(&dl);

	/* Without that service, nothing is checked: only the warning. */
	cf = load_ok("dovecot_destination_recipient_limit = -1\n",
	    master_without, 0, &dl);
	expect_diag(&dl, DIAG_WARNING, "no service named \"dovecot\"",
	    MAIN_PATH, 1);
	config_free(&cf);
	diag_list_deinit(&dl);
}

/* ---------------------------------------------------------------- */
/* Value errors                                                     */

static void
test_error_main_value(void **state)
{
	const char *text =
	    "myorigin = example.org\n"			/* 1 */
	    "smtpd_timeout = 4x\n"			/* 2 */
	    "default_process_limit = 0\n"		/* 3 */
	    "smtpd_tls_security_level = strict\n"	/* 4 */
	    "message_size_limit = -5\n"			/* 5 */
	    "smtpd_helo_required = maybe\n"		/* 6 */
	    "transport_maps = mysql\n";			/* 7 */
	struct diag_list dl;
	struct config *cf = load(text, NULL, CONFIG_LOAD_NO_MASTER, &dl);

	assert_null(cf);
	assert_int_equal(dl.errors, 6);
	expect_diag(&dl, DIAG_ERROR, "invalid value \"4x\" for smtpd_timeout: "
	    "expected a time", MAIN_PATH, 2);
	expect_diag(&dl, DIAG_ERROR, "invalid value \"0\" for "
	    "default_process_limit: expected a whole number from 1 to 100000",
	    MAIN_PATH, 3);
	expect_diag(&dl, DIAG_ERROR, "invalid value \"strict\" for "
	    "smtpd_tls_security_level: expected one of: none, may, encrypt",
	    MAIN_PATH, 4);
	expect_diag(&dl, DIAG_ERROR, "invalid value \"-5\" for "
	    "message_size_limit", MAIN_PATH, 5);
	expect_diag(&dl, DIAG_ERROR, "invalid value \"maybe\" for "
	    "smtpd_helo_required: expected yes or no", MAIN_PATH, 6);
	expect_diag(&dl, DIAG_ERROR, "\"mysql\" is not a lookup table",
	    MAIN_PATH, 7);
	diag_list_deinit(&dl);

	/* A value that becomes invalid through $name. */
	cf = load("t = soon\nsmtpd_timeout = $t\n", NULL,
	    CONFIG_LOAD_NO_MASTER, &dl);
	assert_null(cf);
	assert_int_equal(dl.errors, 1);
	expect_diag(&dl, DIAG_ERROR, "invalid value \"soon\" for "
	    "smtpd_timeout", MAIN_PATH, 2);
	diag_list_deinit(&dl);

	/*
	 * Defaults made invalid by a setting they use: the setting is the
	 * error; mime_header_checks and nested_header_checks (both default
	 * to $header_checks) are summed up in a warning.
	 */
	cf = load("header_checks = nomap\n", NULL, CONFIG_LOAD_NO_MASTER, &dl);
	assert_null(cf);
	assert_int_equal(dl.errors, 1);
	expect_diag(&dl, DIAG_ERROR, "invalid value \"nomap\" for "
	    "header_checks", MAIN_PATH, 1);
	expect_diag(&dl, DIAG_WARNING, "2 more parameters could not be "
	    "expanded or checked because of the error above", NULL, 0);
	diag_list_deinit(&dl);

	/* When nothing else explains them, they are the errors. */
	cf = load("data_directory = /a b\n", NULL, CONFIG_LOAD_NO_MASTER, &dl);
	assert_null(cf);
	assert_int_equal(dl.errors, 2);
	expect_diag(&dl, DIAG_ERROR, "default value \"lmdb:/a b/verify_cache\" "
	    "of address_verify_map is invalid here: \"b/verify_cache\" is not "
	    "a lookup table", NULL, 0);
	expect_diag(&dl, DIAG_ERROR, "of postscreen_cache_map is invalid here",
	    NULL, 0);
	diag_list_deinit(&dl);
}

static void
test_error_override(void **state)
{
	const char *master =
	    "smtp inet n - n - - smtpd\n"		/* 1 */
	    "# comment\n"				/* 2 */
	    "smtps inet n - n - - smtpd\n"		/* 3 */
	    "  -o smtpd_tls_wrappermode=yes\n"		/* 4 */
	    "  -o smtpd_timeout=bogus\n";		/* 5 */
	const char *master2 =
	    "smtp inet n - n - - smtpd\n"		/* 1 */
	    "relay unix - - n - - smtp\n"		/* 2 */
	    "  -o t=soon\n";				/* 3 */
	struct diag_list dl;
	struct config *cf;

	cf = load("smtpd_timeout = 60s\n", master, 0, &dl);
	assert_null(cf);
	assert_int_equal(dl.errors, 1);
	expect_diag(&dl, DIAG_ERROR, "service smtps: -o smtpd_timeout=bogus: "
	    "invalid value: expected a time", MASTER_PATH, 3);
	diag_list_deinit(&dl);

	/* Valid in main.cf, invalid in one service through its -o. */
	cf = load("t = 30s\nsmtpd_timeout = $t\n", master2, 0, &dl);
	assert_null(cf);
	assert_int_equal(dl.errors, 1);
	expect_diag(&dl, DIAG_ERROR, "service relay: smtpd_timeout becomes "
	    "\"soon\" through this service's -o overrides, which is invalid: "
	    "expected a time", MASTER_PATH, 2);
	diag_list_deinit(&dl);

	/* Lenient: main view fine, the service's value reads 0. */
	cf = load("t = 30s\nsmtpd_timeout = $t\n", master2,
	    CONFIG_LOAD_LENIENT, &dl);
	assert_non_null(cf);
	assert_int_equal(dl.errors, 1);
	assert_int_equal(config_time(config_main(cf), P_smtpd_timeout), 30);
	assert_int_equal(config_time(service_view(cf, "smtp"),
	    P_smtpd_timeout), 30);
	assert_int_equal(config_time(service_view(cf, "relay"),
	    P_smtpd_timeout), 0);
	config_free(&cf);
	diag_list_deinit(&dl);

	/* A bad override of a known name; loops through overrides. */
	cf = load("", "smtp inet n - n - - smtpd -o myhostname=$myorigin\n"
	    "  -o myorigin=x.$myhostname\n", 0, &dl);
	assert_null(cf);
	assert_int_equal(dl.errors, 2);
	expect_diag(&dl, DIAG_ERROR, "service smtp: myhostname: parameter "
	    "expansion nests too deep", MASTER_PATH, 1);
	expect_diag(&dl, DIAG_ERROR, "service smtp: myorigin: parameter "
	    "expansion nests too deep", MASTER_PATH, 1);
	/* smtpd_banner, mydestination... use them: summed up. */
	expect_diag(&dl, DIAG_WARNING, "more parameters could not be "
	    "expanded or checked because of the errors above", NULL, 0);
	diag_list_deinit(&dl);

	/*
	 * A loop through user-defined names: nothing else explains it, so
	 * the parameters using it (smtpd_banner, and postscreen_greet_banner
	 * through its default $smtpd_banner) are the errors, on the service.
	 */
	cf = load("smtpd_banner = $x\n", "smtp inet n - n - - smtpd\n"
	    "sub inet n - n - - smtpd -o x=$y -o y=$x\n", 0, &dl);
	assert_null(cf);
	assert_int_equal(dl.errors, 2);
	expect_diag(&dl, DIAG_ERROR, "service sub: smtpd_banner: parameter "
	    "expansion nests too deep", MASTER_PATH, 2);
	expect_diag(&dl, DIAG_ERROR, "service sub: postscreen_greet_banner: "
	    "parameter expansion nests too deep", MASTER_PATH, 2);
	diag_list_deinit(&dl);
}

/* ---------------------------------------------------------------- */
/* Getters                                                          */

static void
test_getters(void **state)
{
	const char *text =
	    "default_process_limit = 50\n"
	    "smtpd_timeout = 5m\n"
	    "delay_warning_time = 3\n"
	    "message_size_limit = 15728640\n"
	    "smtpd_helo_required = yes\n"
	    "mydestination = a, b\tc\n"
	    "  {d e}\n"
	    "syslog_facility = LOCAL7\n"
	    "transport_maps = proxy:mysql:/etc/x.cf, inline:{ a=b, c=d }\n";
	const char *master =
	    "plain unix - - n - - smtpd\n"
	    "over unix - - n - - smtpd\n"
	    "  -o default_process_limit=7\n"
	    "  -o smtpd_timeout=2h\n"
	    "  -o delay_warning_time=1d\n"
	    "  -o message_size_limit=0\n"
	    "  -o smtpd_helo_required=NO\n"
	    "  -o { mydestination = x, y }\n"
	    "  -o transport_maps=\n";
	static const char *const main_dest[] = { "a", "b", "c", "d e" };
	static const char *const over_dest[] = { "x", "y" };
	static const char *const main_maps[] = {
		"proxy:mysql:/etc/x.cf", "inline:{ a=b, c=d }",
	};
	struct diag_list dl;
	struct config *cf = load_ok(text, master, 0, &dl);
	const struct config_view *m = config_main(cf);
	const struct config_view *plain = service_view(cf, "plain");
	const struct config_view *over = service_view(cf, "over");
	const struct config_view *views[] = { m, plain };
	char **l;

	for (size_t i = 0; i < N_ELEMENTS(views); i++) {
		const struct config_view *v = views[i];

		assert_int_equal(config_int(v, P_default_process_limit), 50);
		assert_int_equal(config_time(v, P_smtpd_timeout), 300);
		/* delay_warning_time counts in hours without a unit. */
		assert_int_equal(config_time(v, P_delay_warning_time),
		    3 * 3600);
		assert_int_equal(config_size(v, P_message_size_limit),
		    15728640);
		assert_true(config_bool(v, P_smtpd_helo_required));
		assert_string_equal(config_str(v, P_syslog_facility), "LOCAL7");
		assert_string_equal(config_str(v, P_smtpd_timeout), "5m");
		l = config_list(v, P_mydestination);
		expect_list(l, main_dest, N_ELEMENTS(main_dest));
		strv_free(&l);
		l = config_list(v, P_transport_maps);
		expect_list(l, main_maps, N_ELEMENTS(main_maps));
		strv_free(&l);
	}
	assert_int_equal(config_int(over, P_default_process_limit), 7);
	assert_int_equal(config_time(over, P_smtpd_timeout), 7200);
	assert_int_equal(config_time(over, P_delay_warning_time), 86400);
	assert_int_equal(config_size(over, P_message_size_limit), 0);
	assert_false(config_bool(over, P_smtpd_helo_required));
	l = config_list(over, P_mydestination);
	expect_list(l, over_dest, N_ELEMENTS(over_dest));
	strv_free(&l);
	l = config_list(over, P_transport_maps);
	expect_list(l, NULL, 0);
	strv_free(&l);

	/* Defaults. */
	assert_int_equal(config_int(m, P_debug_peer_level), 2);
	assert_int_equal(config_time(m, P_service_throttle_time), 60);
	assert_int_equal(config_time(m, P_maximal_queue_lifetime), 5 * 86400);
	assert_int_equal(config_size(m, P_bounce_size_limit), 50000);
	assert_false(config_bool(m, P_smtpd_sasl_auth_enable));
	assert_true(config_bool(m, P_address_verify_negative_cache));
	assert_string_equal(config_str(m, P_mail_name), "Ostia");
	assert_string_equal(config_str(over, P_mail_name), "Ostia");
	assert_true(config_list_contains(m, P_inet_interfaces, "ALL"));
	assert_true(config_list_contains(m, P_mydestination, "D E"));
	assert_false(config_list_contains(m, P_mydestination, "d"));
	config_free(&cf);
	diag_list_deinit(&dl);
}

static void
test_raw_origin(void **state)
{
	const char *master =
	    "smtp inet n - n - - smtpd\n"
	    "  -o smtpd_timeout=10s\n";
	struct diag_list dl;
	struct config *cf = load_ok("# c\nsmtpd_timeout = 20s\nx_y = 1\n",
	    master, CONFIG_LOAD_QUIET, &dl);
	const struct config_view *m = config_main(cf);
	const struct config_view *s = service_view(cf, "smtp");
	const char *origin = NULL;

	assert_string_equal(config_raw(m, "smtpd_timeout", &origin), "20s");
	assert_true(strncmp(origin, MAIN_PATH, strlen(MAIN_PATH)) == 0);
	assert_string_equal(config_raw(s, "smtpd_timeout", &origin), "10s");
	assert_true(strncmp(origin, MASTER_PATH, strlen(MASTER_PATH)) == 0);
	assert_string_equal(config_raw(m, "x_y", &origin), "1");
	assert_true(strncmp(origin, MAIN_PATH, strlen(MAIN_PATH)) == 0);
	assert_string_equal(config_raw(s, "relayhost", &origin), "");
	assert_string_equal(origin, "default");
	assert_string_equal(config_raw(m, "smtpd_banner", &origin),
	    "$myhostname ESMTP $mail_name");
	assert_string_equal(origin, "default");
	origin = "unchanged";
	assert_null(config_raw(m, "no_such_thing", &origin));
	assert_null(config_raw(s, "no_such_thing", NULL));
	assert_int_equal(config_time(m, P_smtpd_timeout), 20);
	assert_int_equal(config_time(s, P_smtpd_timeout), 10);
	assert_string_equal(config_main_cf_path(cf), MAIN_PATH);
	assert_string_equal(config_master_cf_path(cf), MASTER_PATH);
	config_free(&cf);
	diag_list_deinit(&dl);
}

static void
test_config_directory(void **state)
{
	struct diag_list dl;
	struct config *cf;
	const char *origin = NULL;

	/* The directory given wins over a main.cf setting. */
	cf = load_ok("config_directory = /elsewhere\n"
	    "x = $config_directory/x\nsmtpd_banner = $x\n", NULL,
	    CONFIG_LOAD_NO_MASTER, &dl);
	assert_string_equal(config_dir(cf), TEST_DIR);
	assert_string_equal(config_str(config_main(cf), P_config_directory),
	    TEST_DIR);
	assert_string_equal(config_raw(config_main(cf), "config_directory",
	    &origin), TEST_DIR);
	assert_string_equal(origin, "-c");
	assert_string_equal(config_str(config_main(cf), P_smtpd_banner),
	    TEST_DIR "/x");
	assert_null(config_master(cf));
	config_free(&cf);
	diag_list_deinit(&dl);

	/* Trailing slashes are dropped, "/" stays. */
	diag_list_init(&dl);
	cf = config_load_text("/tmp/ostia-conf//", "", 0, NULL, 0,
	    CONFIG_LOAD_NO_MASTER, &dl);
	assert_non_null(cf);
	assert_string_equal(config_dir(cf), "/tmp/ostia-conf");
	assert_string_equal(config_main_cf_path(cf), "/tmp/ostia-conf/main.cf");
	config_free(&cf);
	cf = config_load_text("/", "", 0, NULL, 0, CONFIG_LOAD_NO_MASTER, &dl);
	assert_non_null(cf);
	assert_string_equal(config_dir(cf), "/");
	config_free(&cf);
	diag_list_deinit(&dl);
}

static void
test_myhostname_default(void **state)
{
	struct diag_list dl;
	struct config *cf = load_ok("", NULL, CONFIG_LOAD_NO_MASTER, &dl);
	const struct config_view *m = config_main(cf);
	const char *host = config_str(m, P_myhostname);
	const char *dot = strchr(host, '.');
	char *def = config_default_myhostname();
	char *banner;

	assert_int_equal(dl.n, 0);
	assert_non_null(dot);
	assert_true(dot > host && dot[1] != '\0');
	assert_non_null(strchr(def, '.'));
	assert_string_equal(host, def);
	/* mydomain defaults to myhostname without its first label. */
	assert_string_equal(config_str(m, P_mydomain), dot + 1);
	assert_string_equal(config_str(m, P_myorigin), host);
	banner = xasprintf("%s ESMTP Ostia", host);
	assert_string_equal(config_str(m, P_smtpd_banner), banner);
	free(banner);
	free(def);
	config_free(&cf);
	diag_list_deinit(&dl);
}

/* ---------------------------------------------------------------- */
/* Flags and feeding                                                */

static void
test_lenient(void **state)
{
	const char *text = "smtpd_timeout = bogus\nmyorigin = ok.example\n";
	struct diag_list dl;
	struct config *cf;

	cf = load(text, NULL, CONFIG_LOAD_NO_MASTER, &dl);
	assert_null(cf);
	assert_int_equal(dl.errors, 1);
	diag_list_deinit(&dl);

	cf = load(text, NULL, CONFIG_LOAD_NO_MASTER | CONFIG_LOAD_LENIENT, &dl);
	assert_non_null(cf);
	assert_int_equal(dl.errors, 1);
	expect_diag(&dl, DIAG_ERROR, "smtpd_timeout", MAIN_PATH, 1);
	assert_int_equal(config_time(config_main(cf), P_smtpd_timeout), 0);
	assert_string_equal(config_str(config_main(cf), P_myorigin),
	    "ok.example");
	config_free(&cf);
	diag_list_deinit(&dl);

	/* A syntax error: the lines that parsed are kept. */
	cf = load("queue_directory = /q\nbroken line\nmyorigin = x\n", NULL,
	    CONFIG_LOAD_NO_MASTER | CONFIG_LOAD_LENIENT, &dl);
	assert_non_null(cf);
	assert_int_equal(dl.errors, 1);
	expect_diag(&dl, DIAG_ERROR, "found \"broken line\"", MAIN_PATH, 2);
	assert_string_equal(config_str(config_main(cf), P_queue_directory),
	    "/q");
	assert_string_equal(config_str(config_main(cf), P_myorigin), "x");
	config_free(&cf);
	diag_list_deinit(&dl);
}

/* config_main_settings after config_load_text equals config_load. */
static void
check_same_as_file(const char *text, size_t len, unsigned flags)
{
	char *dir = make_tmpdir();
	struct diag_list dl1, dl2;
	struct config *a, *b;
	const struct config_setting *sa, *sb;
	size_t na, nb;

	write_text(dir, "main.cf", text, len);
	diag_list_init(&dl1);
	diag_list_init(&dl2);
	a = config_load_text(dir, text, len, NULL, 0, flags, &dl1);
	b = config_load(dir, flags, &dl2);
	if (a == NULL || b == NULL) {
		test_print_diags(&dl1);
		test_print_diags(&dl2);
	}
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(dl1.n, dl2.n);
	assert_int_equal(dl1.errors, dl2.errors);
	for (size_t i = 0; i < dl1.n; i++) {
		char *f1 = diag_format(&dl1.items[i]);
		char *f2 = diag_format(&dl2.items[i]);

		assert_string_equal(f1, f2);
		free(f1);
		free(f2);
	}
	na = config_main_settings(a, &sa);
	nb = config_main_settings(b, &sb);
	assert_true(na > 0);
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++) {
		assert_string_equal(sa[i].name, sb[i].name);
		assert_string_equal(sa[i].value, sb[i].value);
		assert_int_equal(sa[i].line, sb[i].line);
	}
	for (int id = 0; id < P__COUNT; id++)
		assert_string_equal(config_str(config_main(a), id),
		    config_str(config_main(b), id));
	config_free(&a);
	config_free(&b);
	diag_list_deinit(&dl1);
	diag_list_deinit(&dl2);
	remove_tmpdir(dir);
}

static void
test_text_equals_file(void **state)
{
	char *dir = make_tmpdir();
	char *seed = read_source("tests/fixtures/seed/main.cf.in", dir);
	static const char text[] =
	    "# comment\r\n"
	    "myorigin = a\r\n"
	    "mydestination = x,\n"
	    "\n"
	    "# inside\n"
	    "\ty, z\n"
	    "myorigin = b\n"
	    "smtpd_timeout = 10m\n"
	    "relayhost = [mx.example]:587";

	check_same_as_file(text, strlen(text), CONFIG_LOAD_NO_MASTER);
	check_same_as_file(seed, strlen(seed), CONFIG_LOAD_NO_MASTER);
	/* With a syntax error, leniently. */
	check_same_as_file("a = 1\nnot a setting\nb = $a\n", 27,
	    CONFIG_LOAD_NO_MASTER | CONFIG_LOAD_LENIENT);
	free(seed);
	remove_tmpdir(dir);
}

/* The seed configuration (main.cf and master.cf) loads without errors. */
static void
test_seed(void **state)
{
	char *dir = make_tmpdir();
	char *main_text = read_source("tests/fixtures/seed/main.cf.in", dir);
	char *master_text = read_source("tests/fixtures/seed/master.cf", dir);
	struct diag_list dl;
	struct config *cf;
	const struct config_view *smtps;

	write_text(dir, "main.cf", main_text, strlen(main_text));
	write_text(dir, "master.cf", master_text, strlen(master_text));
	diag_list_init(&dl);
	cf = config_load(dir, 0, &dl);
	if (cf == NULL || dl.errors != 0)
		test_print_diags(&dl);
	assert_non_null(cf);
	assert_int_equal(dl.errors, 0);
	assert_string_equal(config_dir(cf), dir);
	assert_non_null(config_master(cf));
	/* The seed's per-service and referenced names are recognised. */
	assert_int_equal(count_diags(&dl, DIAG_WARNING, "unknown parameter"),
	    0);
	assert_string_equal(config_str(config_main(cf), P_myhostname),
	    "mail.yun.pm");
	assert_int_equal(config_time(config_main(cf), P_bounce_queue_lifetime),
	    4 * 3600);
	assert_int_equal(config_size(config_main(cf), P_message_size_limit),
	    15728640);
	assert_true(config_list_contains(config_main(cf), P_mydestination,
	    "localhost.mail.yun.pm"));
	smtps = service_view(cf, "smtps");
	assert_true(config_bool(smtps, P_smtpd_tls_wrappermode));
	assert_false(config_bool(config_main(cf), P_smtpd_tls_wrappermode));
	config_free(&cf);
	diag_list_deinit(&dl);

	/* config_load reports a missing master.cf, unless told not to read. */
	{
		char *path = xasprintf("%s/master.cf", dir);

		assert_int_equal(unlink(path), 0);
		free(path);
	}
	diag_list_init(&dl);
	cf = config_load(dir, 0, &dl);
	assert_null(cf);
	assert_true(dl.errors >= 1);
	diag_list_deinit(&dl);
	diag_list_init(&dl);
	cf = config_load(dir, CONFIG_LOAD_NO_MASTER | CONFIG_LOAD_QUIET, &dl);
	assert_non_null(cf);
	assert_null(config_master(cf));
	config_free(&cf);
	diag_list_deinit(&dl);
	free(main_text);
	free(master_text);
	remove_tmpdir(dir);
}

static void
test_load_missing(void **state)
{
	char *dir = make_tmpdir();
	struct diag_list dl;
	struct config *cf;
	char *path = xasprintf("%s/main.cf", dir);

	diag_list_init(&dl);
	cf = config_load(dir, CONFIG_LOAD_NO_MASTER | CONFIG_LOAD_LENIENT,
	    &dl);
	assert_null(cf);
	assert_int_equal(dl.errors, 1);
	expect_diag(&dl, DIAG_ERROR, "cannot open", path, 0);
	diag_list_deinit(&dl);
	free(path);
	remove_tmpdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_syntax_valid),
		cmocka_unit_test(test_syntax_lines),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_syntax_too_long),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_expand),
		cmocka_unit_test(test_expand_known),
		cmocka_unit_test(test_expand_loop),
		cmocka_unit_test(test_expand_loop_services),
		cmocka_unit_test(test_expand_overrides),
		cmocka_unit_test(test_warn_unknown),
		cmocka_unit_test(test_warn_later_once),
		cmocka_unit_test(test_warn_quiet),
		cmocka_unit_test(test_per_service),
		cmocka_unit_test(test_error_main_value),
		cmocka_unit_test(test_error_override),
		cmocka_unit_test(test_getters),
		cmocka_unit_test(test_raw_origin),
		cmocka_unit_test(test_config_directory),
		cmocka_unit_test(test_myhostname_default),
		cmocka_unit_test(test_lenient),
		cmocka_unit_test(test_text_equals_file),
		cmocka_unit_test(test_seed),
		cmocka_unit_test(test_load_missing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
