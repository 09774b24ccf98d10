/* SPDX-License-Identifier: MIT */
/*
 * test_tls_sni - the tls_server_sni_maps table reader: text tables (whole
 * and every truncation), inline tables, name matching, errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "compat.h"
#include "tls_sni.h"
#include "xalloc.h"

/* Entries as "name:file,file;name:file;" for compact comparisons. */
static char *
flatten(const struct tls_sni_entry *e, size_t n)
{
	char *out = xstrdup("");

	for (size_t i = 0; i < n; i++) {
		char *t = xasprintf("%s%s:", out, e[i].name);

		free(out);
		out = t;
		for (size_t k = 0; e[i].files[k] != NULL; k++) {
			t = xasprintf("%s%s%s", out, k ? "," : "", e[i].files[k]);
			free(out);
			out = t;
		}
		t = xasprintf("%s;", out);
		free(out);
		out = t;
	}
	return out;
}

static const struct {
	const char *text;
	const char *want;	/* NULL: an error containing err */
	const char *err;
} cases[] = {
	{ "", "", NULL },
	{ "# only a comment\n\n", "", NULL },
	{ "mail.example.com /k/chain.pem\n", "mail.example.com:/k/chain.pem;",
	    NULL },
	{ "Mail.Example.COM. /a.pem /b.pem", "mail.example.com:/a.pem,/b.pem;",
	    NULL },
	{ "a.example /a.pem,/b.pem\n  /c.pem\nb.example /d.pem",
	    "a.example:/a.pem,/b.pem,/c.pem;b.example:/d.pem;", NULL },
	{ ".example.net = /w.pem\r\n", ".example.net:/w.pem;", NULL },
	{ "  /x.pem\n", NULL, "line 1: a continuation line" },
	{ "a.example\n", NULL, "line 1: a.example has no file names" },
	{ "bad!name /x.pem\n", NULL, "line 1: \"bad!name\" is not a host" },
	{ "ok.example /x\nb@d /y\n", NULL, "line 2: \"b@d\" is not a host" },
};

static void
test_parse_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct tls_sni_entry *e = NULL;
		size_t n = 0;
		char err[512] = "";
		bool ok = tls_sni_parse("t", cases[i].text,
		    strlen(cases[i].text), &e, &n, err, sizeof(err));

		if (cases[i].want == NULL) {
			if (ok)
				fail_msg("case %zu parsed but should fail", i);
			if (strstr(err, cases[i].err) == NULL)
				fail_msg("case %zu: error \"%s\" lacks \"%s\"", i,
				    err, cases[i].err);
			continue;
		}
		if (!ok)
			fail_msg("case %zu: %s", i, err);
		{
			char *got = flatten(e, n);

			if (strcmp(got, cases[i].want) != 0)
				fail_msg("case %zu: got %s want %s", i, got,
				    cases[i].want);
			free(got);
		}
		tls_sni_free(e, n);
	}
}

/* Every prefix of a valid table parses (or fails cleanly), and a
 * prefix that ends at a line end gives the entries before it. */
static void
test_truncations(void **state)
{
	const char *text = "a.example /a.pem\n  /a2.pem\n# c\nb.example "
	    "/b.pem\n.c.example /c.pem\n";
	size_t len = strlen(text);

	(void)state;
	for (size_t cut = 0; cut <= len; cut++) {
		struct tls_sni_entry *e = NULL;
		size_t n = 0;
		char err[512];
		char *copy = xstrndup(text, cut);

		if (tls_sni_parse("t", copy, cut, &e, &n, err, sizeof(err)))
			tls_sni_free(e, n);
		free(copy);
	}
	{
		struct tls_sni_entry *e = NULL;
		size_t n = 0;
		char err[512];
		char *got;

		assert_true(tls_sni_parse("t", text, 27, &e, &n, err,
		    sizeof(err)));
		got = flatten(e, n);
		assert_string_equal(got, "a.example:/a.pem,/a2.pem;");
		free(got);
		tls_sni_free(e, n);
	}
}

static void
test_inline(void **state)
{
	struct tls_sni_entry *e = NULL;
	size_t n = 0;
	char err[512];
	char *got;

	(void)state;
	assert_true(tls_sni_load("inline:{ a.example = /x/y.pem, "
	    ".b.example = /z.pem /w.pem }", &e, &n, err, sizeof(err)));
	got = flatten(e, n);
	assert_string_equal(got, "a.example:/x/y.pem;.b.example:/z.pem,/w.pem;");
	free(got);
	tls_sni_free(e, n);
	assert_false(tls_sni_load("inline:a=b", &e, &n, err, sizeof(err)));
	assert_non_null(strstr(err, "inline:{ name = file"));
	assert_false(tls_sni_load("pcre:/x", &e, &n, err, sizeof(err)));
	assert_non_null(strstr(err, "not supported"));
	assert_false(tls_sni_load("texthash:/nonexistent/sni", &e, &n, err,
	    sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/sni"));
}

static void
test_name_matches(void **state)
{
	(void)state;
	assert_true(tls_sni_name_matches("a.example", "A.EXAMPLE"));
	assert_true(tls_sni_name_matches("a.example", "a.example."));
	assert_false(tls_sni_name_matches("a.example", "b.a.example"));
	assert_true(tls_sni_name_matches(".a.example", "b.a.example"));
	assert_true(tls_sni_name_matches(".a.example", "c.b.a.example"));
	assert_false(tls_sni_name_matches(".a.example", "a.example"));
	assert_false(tls_sni_name_matches(".a.example", "xa.example"));
	assert_false(tls_sni_name_matches("a.example", ""));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_cases),
		cmocka_unit_test(test_truncations),
		cmocka_unit_test(test_inline),
		cmocka_unit_test(test_name_matches),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
