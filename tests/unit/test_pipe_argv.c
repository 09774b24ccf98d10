/* SPDX-License-Identifier: MIT */
/*
 * test_pipe_argv - the pipe service's master.cf arguments and macro
 * expansion (src/deliver/pipe_argv.c): the seed's dovecot entry and
 * other Postfix forms parsed whole, every prefix of macro and eol=
 * text (the cut inside a macro or an escape must be an error, never a
 * crash or a silent half), expansion per recipient with the h, u and q
 * flags, and bad inputs refused with an error that names the problem.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipe_argv.h"
#include "strv.h"
#include "xalloc.h"

#define UNCONST_ARGS(a) ((char *const *)(uintptr_t)(a))

/* parse - pipe_args_parse on the words of a NULL-terminated list. */
static int
parse(struct pipe_args *pa, char **error_r, ...)
{
	struct strv sv;
	va_list ap;
	const char *w;
	int r;

	strv_init(&sv);
	va_start(ap, error_r);
	while ((w = va_arg(ap, const char *)) != NULL)
		strv_add(&sv, w);
	va_end(ap);
	r = pipe_args_parse(sv.v, pa, error_r);
	strv_deinit(&sv);
	return r;
}

/* expect_error - the words must be refused with an error containing
 * want. */
#define expect_error(want, ...) do { \
	struct pipe_args pa_; \
	char *e_ = NULL; \
	if (parse(&pa_, &e_, __VA_ARGS__, (const char *)NULL) != -1) \
		fail_msg("accepted, want error \"%s\"", want); \
	assert_non_null(e_); \
	if (strstr(e_, want) == NULL) \
		fail_msg("error \"%s\" does not say \"%s\"", e_, want); \
	free(e_); \
} while (0)

static void
test_seed_dovecot(void **state)
{
	struct pipe_args pa;
	char *err = NULL;

	(void)state;
	assert_int_equal(parse(&pa, &err, "flags=DRhu", "user=vmail:vmail",
	    "argv=/usr/libexec/dovecot/deliver", "-f", "${sender}", "-d",
	    "${user}@${domain}", "-m", "${extension}", (const char *)NULL), 0);
	assert_null(err);
	assert_int_equal(pa.flags, PIPE_F_DELIVERED | PIPE_F_RETURN |
	    PIPE_F_LOWER_HOST | PIPE_F_LOWER_USER);
	assert_string_equal(pa.user, "vmail");
	assert_string_equal(pa.group, "vmail");
	assert_int_equal(pa.argc, 7);
	assert_string_equal(pa.argv[0], "/usr/libexec/dovecot/deliver");
	assert_string_equal(pa.argv[4], "${user}@${domain}");
	assert_null(pa.argv[7]);
	assert_true(pa.per_rcpt);
	assert_int_equal(pa.eol_len, 1);
	assert_int_equal(pa.eol[0], '\n');
	assert_string_equal(pa.null_sender, "MAILER-DAEMON");
	assert_null(pa.directory);
	assert_true(pa.size_limit == 0);
	pipe_args_deinit(&pa);
}

static void
test_other_forms(void **state)
{
	struct pipe_args pa;
	char *err = NULL;

	(void)state;
	/* No per-recipient macro: one process for all recipients. */
	assert_int_equal(parse(&pa, &err, "user=list", "flags=FR",
	    "argv=/usr/lib/mailman/bin/postfix-to-mailman.py", "${nexthop}",
	    "$sender", "$(queue_id)", "$$HOME", (const char *)NULL), 0);
	assert_false(pa.per_rcpt);
	assert_null(pa.group);
	assert_int_equal(pa.argc, 5);
	pipe_args_deinit(&pa);
	/* Every attribute, and the command alone. */
	assert_int_equal(parse(&pa, &err, "size=10240", "eol=\\r\\n",
	    "null_sender=", "directory=/var/tmp", "flags=BX.>q",
	    "user=u", "argv=/bin/cat", (const char *)NULL), 0);
	assert_true(pa.size_limit == 10240);
	assert_int_equal(pa.eol_len, 2);
	assert_memory_equal(pa.eol, "\r\n", 2);
	assert_string_equal(pa.null_sender, "");
	assert_string_equal(pa.directory, "/var/tmp");
	assert_int_equal(pa.flags, PIPE_F_BLANK | PIPE_F_FINAL | PIPE_F_DOT |
	    PIPE_F_FROM_ESC | PIPE_F_QUOTE);
	assert_int_equal(pa.argc, 1);
	assert_false(pa.per_rcpt);
	pipe_args_deinit(&pa);
	/* Words after argv= are the command's even when they look like
	 * attributes. */
	assert_int_equal(parse(&pa, &err, "user=u", "argv=/bin/echo",
	    "user=x", "flags=zz", (const char *)NULL), 0);
	assert_int_equal(pa.argc, 3);
	assert_string_equal(pa.argv[1], "user=x");
	pipe_args_deinit(&pa);
	/* Each per-recipient macro is seen as one. */
	{
		static const char *const per[] = { "${recipient}",
		    "$original_recipient", "x${user}", "$(extension)",
		    "${mailbox}", "${domain}y" };

		for (size_t i = 0; i < sizeof(per) / sizeof(per[0]); i++) {
			assert_int_equal(parse(&pa, &err, "user=u",
			    "argv=/bin/echo", per[i], (const char *)NULL), 0);
			assert_true(pa.per_rcpt);
			pipe_args_deinit(&pa);
		}
	}
}

static void
test_bad_inputs(void **state)
{
	(void)state;
	expect_error("argv= is missing", "user=u", "flags=R");
	expect_error("argv= is missing", "user=u");
	expect_error("user= is missing", "argv=/bin/cat");
	expect_error("absolute path", "user=u", "argv=cat");
	expect_error("argv= is empty", "user=u", "argv=", "/bin/cat");
	expect_error("no macros", "user=u", "argv=/bin/${user}");
	expect_error("unknown flag 'Z'", "flags=DZ", "user=u",
	    "argv=/bin/cat");
	expect_error("unknown flag byte 0x01", "flags=\x01", "user=u",
	    "argv=/bin/cat");
	expect_error("unknown macro \"recipients\"", "user=u",
	    "argv=/bin/cat", "${recipients}");
	expect_error("unknown macro \"foo\"", "user=u", "argv=/bin/cat",
	    "$foo");
	expect_error("lone \"$\"", "user=u", "argv=/bin/cat", "a$");
	expect_error("lone \"$\"", "user=u", "argv=/bin/cat", "$-x");
	expect_error("not closed", "user=u", "argv=/bin/cat", "${sender");
	expect_error("not closed", "user=u", "argv=/bin/cat", "$(sender}");
	expect_error("not followed by a macro name", "user=u",
	    "argv=/bin/cat", "${}");
	expect_error("conditional", "user=u", "argv=/bin/cat",
	    "${extension?-e}");
	expect_error("conditional", "user=u", "argv=/bin/cat",
	    "${extension:x}");
	expect_error("flags= is given twice", "flags=R", "flags=D",
	    "user=u", "argv=/bin/cat");
	expect_error("user= is given twice", "user=a", "user=b",
	    "argv=/bin/cat");
	expect_error("unknown attribute \"bogus=\"", "bogus=1", "user=u",
	    "argv=/bin/cat");
	expect_error("not an attribute", "user=u", "/bin/cat",
	    "argv=/bin/cat");
	expect_error("expected user=NAME", "user=", "argv=/bin/cat");
	expect_error("expected user=NAME", "user=:grp", "argv=/bin/cat");
	expect_error("expected user=NAME", "user=u:", "argv=/bin/cat");
	expect_error("size=abc", "size=abc", "user=u", "argv=/bin/cat");
	expect_error("size=-1", "size=-1", "user=u", "argv=/bin/cat");
	expect_error("chroot= is not supported", "chroot=/x", "user=u",
	    "argv=/bin/cat");
	expect_error("directory=rel: must be an absolute path",
	    "directory=rel", "user=u", "argv=/bin/cat");
	expect_error("eol= is empty", "eol=", "user=u", "argv=/bin/cat");
	/* NULL and empty argument lists. */
	{
		struct pipe_args pa;
		char *e = NULL;

		assert_int_equal(pipe_args_parse(NULL, &pa, &e), -1);
		assert_non_null(strstr(e, "argv= is missing"));
		free(e);
	}
	/* Too many words. */
	{
		struct strv sv;
		struct pipe_args pa;
		char *e = NULL;

		strv_init(&sv);
		strv_add(&sv, "user=u");
		strv_add(&sv, "argv=/bin/echo");
		for (int i = 0; i < PIPE_ARGV_MAX; i++)
			strv_add(&sv, "w");
		assert_int_equal(pipe_args_parse(sv.v, &pa, &e), -1);
		assert_non_null(strstr(e, "more than"));
		free(e);
		strv_deinit(&sv);
	}
}

static void
test_eol(void **state)
{
	static const struct {
		const char *in;
		const char *out;	/* NULL: error */
		size_t len;
		const char *error;
	} cases[] = {
		{ "\\n", "\n", 1, NULL },
		{ "\\r\\n", "\r\n", 2, NULL },
		{ "X", "X", 1, NULL },
		{ "\\101\\t\\\\", "A\t\\", 3, NULL },
		{ "\\1", "\x01", 1, NULL },
		{ "\\0101", "\x08" "1", 2, NULL },
		{ "\\377", "\xff", 1, NULL },
		{ "\\a\\b\\f\\v", "\a\b\f\v", 4, NULL },
		{ "", NULL, 0, "eol= is empty" },
		{ "\\", NULL, 0, "lone backslash" },
		{ "\\r\\", NULL, 0, "lone backslash" },
		{ "\\q", NULL, 0, "unknown escape \\q" },
		{ "\\0", NULL, 0, "NUL byte" },
		{ "\\000", NULL, 0, "NUL byte" },
		{ "\\400", NULL, 0, "above \\377" },
		{ "12345678901234567", NULL, 0, "longer than 16" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char eol[PIPE_EOL_MAX];
		size_t len = 99;
		char *e = NULL;
		int r = pipe_eol_parse(cases[i].in, eol, &len, &e);

		if (cases[i].out != NULL) {
			if (r != 0)
				fail_msg("eol=%s: %s", cases[i].in, e);
			assert_int_equal(len, cases[i].len);
			assert_memory_equal(eol, cases[i].out, len);
		} else {
			assert_int_equal(r, -1);
			if (strstr(e, cases[i].error) == NULL)
				fail_msg("eol=%s: \"%s\", want \"%s\"",
				    cases[i].in, e, cases[i].error);
			free(e);
		}
	}
}

/*
 * Byte by byte: every prefix of a valid text parses or fails cleanly
 * (an error with words).  The prefixes that must fail end inside a
 * macro: "$", "${us", "$(next", or a $name that is the start of a known
 * name but not one ("$re").
 */
static void
test_prefixes(void **state)
{
	const char *arg = "-d ${user}@${domain} $(nexthop) $$x $recipient "
	    "$sender.";
	static const size_t bad[] = { 4, 5, 6, 7, 8, 9, 12, 13, 14, 15, 16,
	    17, 18, 19, 22, 23, 24, 25, 26, 27, 28, 29, 30, 33, 37, 38, 39,
	    40, 41, 42, 43, 44, 45, 48, 49, 50, 51, 52, 53 };
	const char *eol = "\\r\\n\\101";
	size_t alen = strlen(arg), k = 0;

	(void)state;
	assert_int_equal(alen, 55);
	for (size_t n = 0; n <= alen; n++) {
		char *p = xstrndup(arg, n), *e = NULL;
		bool per = false, want_bad = k < sizeof(bad) / sizeof(bad[0]) &&
		    bad[k] == n;
		int r = pipe_arg_check(p, &per, &e);

		if (want_bad) {
			k++;
			if (r != -1)
				fail_msg("prefix \"%s\" accepted", p);
			assert_non_null(e);
			assert_true(strlen(e) > 20);
		} else {
			if (r != 0)
				fail_msg("prefix \"%s\": %s", p, e);
			/* A per-recipient macro counts once complete. */
			assert_int_equal(per, strstr(p, "${user}") != NULL);
		}
		free(e);
		free(p);
	}
	/* The unescaping, byte by byte: a cut after a backslash fails. */
	for (size_t n = 0; n <= strlen(eol); n++) {
		char *p = xstrndup(eol, n), *e = NULL, out[PIPE_EOL_MAX];
		size_t len = 0;
		int r = pipe_eol_parse(p, out, &len, &e);
		bool ok = n == 2 || n == 4 || n >= 6;

		if (ok && r != 0)
			fail_msg("eol=%s: %s", p, e);
		if (!ok && r != -1)
			fail_msg("eol=%s accepted", p);
		free(e);
		free(p);
	}
}

static const char *const dovecot_args[] = {
	"flags=DRhu", "user=vmail", "argv=/usr/bin/deliver", "-f",
	"${sender}", "-d", "${user}@${domain}", "-m", "${extension}",
	"--rcpt=${recipient}", "${mailbox}", "${original_recipient}",
	"${nexthop}", "$size", "$$", "${client_address}",
	"${client_hostname}", "${client_helo}", "${client_protocol}",
	"${sasl_username}", "${queue_id}", "[${client_port}]",
	"[${sasl_method}${sasl_sender}]", NULL
};

static char **
expand(const char *const *args, const struct pipe_macros *m)
{
	struct pipe_args pa;
	char *e = NULL, **v;

	if (pipe_args_parse(UNCONST_ARGS(args), &pa, &e) < 0)
		fail_msg("%s", e);
	v = pipe_argv_expand(&pa, m, &e);
	if (v == NULL)
		fail_msg("%s", e);
	pipe_args_deinit(&pa);
	return v;
}

static void
test_expand(void **state)
{
	struct pipe_macros m;
	char **v;

	(void)state;
	memset(&m, 0, sizeof(m));
	m.sender = "Alice@Example.NET";
	m.recipient = "Carol+Lists@PIPE.Test";
	m.original_recipient = "Team@PIPE.Test";
	m.nexthop = "PIPE.Test";
	m.queue_id = "0123456789ABCDEF";
	m.client_address = "192.0.2.7";
	m.client_hostname = "mx.example.net";
	m.client_helo = "helo.example.net";
	m.client_protocol = "ESMTP";
	m.sasl_username = "";
	m.delimiters = "+";
	m.size = 1234;
	v = expand(dovecot_args, &m);
	assert_string_equal(v[0], "/usr/bin/deliver");
	assert_string_equal(v[1], "-f");
	/* h and u fold the sender's parts too. */
	assert_string_equal(v[2], "alice@example.net");
	assert_string_equal(v[3], "-d");
	assert_string_equal(v[4], "carol@pipe.test");
	assert_string_equal(v[5], "-m");
	assert_string_equal(v[6], "Lists");	/* not folded */
	assert_string_equal(v[7], "--rcpt=carol+lists@pipe.test");
	assert_string_equal(v[8], "carol+lists");
	assert_string_equal(v[9], "team@pipe.test");
	assert_string_equal(v[10], "pipe.test");
	assert_string_equal(v[11], "1234");
	assert_string_equal(v[12], "$");
	assert_string_equal(v[13], "192.0.2.7");
	assert_string_equal(v[14], "mx.example.net");
	assert_string_equal(v[15], "helo.example.net");
	assert_string_equal(v[16], "ESMTP");
	assert_string_equal(v[17], "");
	assert_string_equal(v[18], "0123456789ABCDEF");
	assert_string_equal(v[19], "[]");
	assert_string_equal(v[20], "[]");
	assert_null(v[21]);
	strv_free(&v);

	/* Without h and u: as given; the null sender. */
	{
		static const char *const args[] = { "user=u",
		    "argv=/bin/x", "$sender", "$recipient", "$domain",
		    "${user}", "${extension}", "$nexthop", NULL };
		static const char *const args_ns[] = { "user=u",
		    "null_sender=", "argv=/bin/x", "<$sender>", NULL };

		m.sender = "";
		v = expand(args, &m);
		assert_string_equal(v[1], "MAILER-DAEMON");
		assert_string_equal(v[2], "Carol+Lists@PIPE.Test");
		assert_string_equal(v[3], "PIPE.Test");
		assert_string_equal(v[4], "Carol");
		assert_string_equal(v[5], "Lists");
		assert_string_equal(v[6], "PIPE.Test");
		strv_free(&v);
		v = expand(args_ns, &m);
		assert_string_equal(v[1], "<>");
		strv_free(&v);
		/* No delimiter: no extension. */
		m.delimiters = "";
		v = expand(args, &m);
		assert_string_equal(v[4], "Carol+Lists");
		assert_string_equal(v[5], "");
		strv_free(&v);
		/* No recipient (a process for several): empty. */
		m.recipient = NULL;
		v = expand(args, &m);
		assert_string_equal(v[2], "");
		assert_string_equal(v[4], "");
		strv_free(&v);
	}
	/* q: quoted localparts in whole addresses only. */
	{
		static const char *const args[] = { "flags=q", "user=u",
		    "argv=/bin/x", "$sender", "$recipient", "$user", NULL };

		m.sender = "a b@example.net";
		m.recipient = "c\"d@example.org";
		m.delimiters = "";
		v = expand(args, &m);
		assert_string_equal(v[1], "\"a b\"@example.net");
		assert_string_equal(v[2], "\"c\\\"d\"@example.org");
		assert_string_equal(v[3], "c\"d");
		strv_free(&v);
		m.sender = "";
		v = expand(args, &m);
		assert_string_equal(v[1], "MAILER-DAEMON");
		strv_free(&v);
	}
}

static void
test_address_parts_and_quoting(void **state)
{
	static const struct {
		const char *addr, *delim, *user, *ext, *mbox, *dom;
	} cases[] = {
		{ "user+ext@dom", "+", "user", "ext", "user+ext", "dom" },
		{ "user+ext@dom", "", "user+ext", "", "user+ext", "dom" },
		{ "a-b+c@dom", "-+", "a", "b+c", "a-b+c", "dom" },
		{ "plain", "+", "plain", "", "plain", "" },
		{ "x@y@dom", "+", "x@y", "", "x@y", "dom" },
		{ "+ext@dom", "+", "+ext", "", "+ext", "dom" },
		{ "owner-list@dom", "-", "owner-list", "", "owner-list",
		    "dom" },
		{ "", "+", "", "", "", "" },
	};
	static const struct {
		const char *in, *out;
	} quotes[] = {
		{ "a.b@x", "a.b@x" },
		{ "a b@x", "\"a b\"@x" },
		{ ".a@x", "\".a\"@x" },
		{ "a.@x", "\"a.\"@x" },
		{ "a..b@x", "\"a..b\"@x" },
		{ "a\"b\\c@x", "\"a\\\"b\\\\c\"@x" },
		{ "a(b)@x", "\"a(b)\"@x" },
		{ "K\xc3\xb6ln@x", "K\xc3\xb6ln@x" },
		{ "@x", "@x" },
		{ "", "" },
		{ "no at", "\"no at\"" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *u, *e, *mb, *d;

		pipe_address_parts(cases[i].addr, cases[i].delim, &u, &e, &mb,
		    &d);
		assert_string_equal(u, cases[i].user);
		assert_string_equal(e, cases[i].ext);
		assert_string_equal(mb, cases[i].mbox);
		assert_string_equal(d, cases[i].dom);
		free(u);
		free(e);
		free(mb);
		free(d);
	}
	for (size_t i = 0; i < sizeof(quotes) / sizeof(quotes[0]); i++) {
		char *q = pipe_quote_address(quotes[i].in);

		assert_string_equal(q, quotes[i].out);
		free(q);
	}
}

static void
test_flags(void **state)
{
	unsigned f = 0;
	char *e = NULL;

	(void)state;
	assert_int_equal(pipe_flags_parse("", &f, &e), 0);
	assert_int_equal(f, 0);
	assert_int_equal(pipe_flags_parse("BDFORXhqu.>", &f, &e), 0);
	assert_int_equal(f, 0x7ff);
	assert_int_equal(pipe_flags_parse("DD", &f, &e), 0);
	assert_int_equal(f, PIPE_F_DELIVERED);
	f = 77;
	assert_int_equal(pipe_flags_parse("dr", &f, &e), -1);
	assert_int_equal(f, 77);
	assert_non_null(strstr(e, "unknown flag 'd'"));
	free(e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seed_dovecot),
		cmocka_unit_test(test_other_forms),
		cmocka_unit_test(test_bad_inputs),
		cmocka_unit_test(test_eol),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_expand),
		cmocka_unit_test(test_address_parts_and_quoting),
		cmocka_unit_test(test_flags),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
