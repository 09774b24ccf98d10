/* SPDX-License-Identifier: MIT */
/*
 * test_dict_pgsql - pgsql: tables (src/maps/dict_pgsql.c), what can be
 * checked without a PostgreSQL server: the SQL text and $n parameters
 * built from a query, queries using $n themselves, .cf files refused at
 * open, and the TEMPFAIL when no server answers (a loopback port that is
 * bound but not listening refuses connections; a socket directory that
 * does not exist).  Lookups against real servers: tests/e2e/08-sql.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "compat.h"
#include "dict.h"
#include "dict_pgsql.h"
#include "sql_cf.h"
#include "strv.h"
#include "xalloc.h"

#define SECRET "Sup3r-Secret-PW"

/* --- building the query ------------------------------------------------ */

struct build_case {
	const char *query;
	const char *cfextra;	/* more .cf lines, or NULL */
	const char *key;
	int want;		/* 1 built, 0 skipped */
	const char *sql;
	const char *params[6];	/* NULL-terminated */
};

static const struct build_case build_cases[] = {
	/* One quoted expansion becomes a bare parameter. */
	{ "SELECT goto FROM alias WHERE address='%s'", NULL,
	  "alice@example.com", 1,
	  "SELECT goto FROM alias WHERE address=$1",
	  { "alice@example.com", NULL } },
	/* Several expansions: numbered in order of appearance. */
	{ "SELECT t FROM m WHERE u='%u' AND d='%d' AND k='%s' AND a=1", NULL,
	  "bob@mail.example.org", 1,
	  "SELECT t FROM m WHERE u=$1 AND d=$2 AND k=$3 AND a=1",
	  { "bob", "mail.example.org", "bob@mail.example.org", NULL } },
	/* The same expansion twice is two parameters. */
	{ "SELECT d FROM x WHERE d='%d' UNION SELECT a FROM y WHERE a='%d'",
	  NULL, "u@example.net", 1,
	  "SELECT d FROM x WHERE d=$1 UNION SELECT a FROM y WHERE a=$2",
	  { "example.net", "example.net", NULL } },
	/* Domain labels counted from the right. */
	{ "SELECT 1 FROM z WHERE tld='%1' AND sld='%2' AND third='%3'", NULL,
	  "u@a.b.example", 1,
	  "SELECT 1 FROM z WHERE tld=$1 AND sld=$2 AND third=$3",
	  { "example", "b", "a", NULL } },
	/* Unquoted expansion, and %% as text. */
	{ "SELECT v FROM t WHERE k = %s AND p LIKE '100%%'", NULL, "42", 1,
	  "SELECT v FROM t WHERE k = $1 AND p LIKE '100%'",
	  { "42", NULL } },
	/* Hostile keys go into parameters untouched; the SQL is the same. */
	{ "SELECT goto FROM alias WHERE address='%s'", NULL,
	  "x'; drop table alias; --", 1,
	  "SELECT goto FROM alias WHERE address=$1",
	  { "x'; drop table alias; --", NULL } },
	{ "SELECT goto FROM alias WHERE address='%s'", NULL,
	  "a\\'b\"c$1%s", 1,
	  "SELECT goto FROM alias WHERE address=$1",
	  { "a\\'b\"c$1%s", NULL } },
	{ "SELECT goto FROM alias WHERE u='%u' AND d='%d'", NULL,
	  "o'brien@example.com", 1,
	  "SELECT goto FROM alias WHERE u=$1 AND d=$2",
	  { "o'brien", "example.com", NULL } },
	/* Keys Postfix would not query with: nothing built. */
	{ "SELECT 1 FROM t WHERE d='%d'", NULL, "no-at-sign", 0, NULL,
	  { NULL } },
	{ "SELECT 1 FROM t WHERE u='%u'", NULL, "@example.com", 0, NULL,
	  { NULL } },
	{ "SELECT 1 FROM t WHERE k='%s'", "domain = example.com\n",
	  "u@example.org", 0, NULL, { NULL } },
	{ "SELECT 1 FROM t WHERE k='%s'", "domain = example.com\n",
	  "u@example.com", 1, "SELECT 1 FROM t WHERE k=$1",
	  { "u@example.com", NULL } },
	{ "SELECT 1 FROM t WHERE k='%s'", NULL, "bad\xff" "utf8", 0, NULL,
	  { NULL } },
};

static char *
cf_text(const char *hosts, const char *query, const char *extra)
{
	return xasprintf("hosts = %s\nuser = mail\npassword = %s\n"
	    "dbname = mail\nquery = %s\n%s", hosts, SECRET, query,
	    extra ? extra : "");
}

static void
test_build_query(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(build_cases); i++) {
		const struct build_case *c = &build_cases[i];
		struct sql_cf cf;
		struct buf sql;
		struct strv params;
		char err[DICT_ERR_MAX_BYTES];
		char *text = cf_text("localhost", c->query, c->cfextra);
		size_t n = 0;
		int r;

		if (sql_cf_parse("/t.cf", "pgsql", text, strlen(text), &cf, err,
		    sizeof(err)) < 0) {
			print_error("case %zu: %s\n", i, err);
			fail();
		}
		buf_init(&sql, PGSQL_SQL_MAX_BYTES);
		strv_init(&params);
		r = pgsql_build_query(&cf, c->key, &sql, &params, err,
		    sizeof(err));
		if (r != c->want)
			print_error("case %zu: %s: got %d\n", i, c->query, r);
		assert_int_equal(r, c->want);
		if (r == 1) {
			if (strcmp(buf_cstr(&sql), c->sql) != 0)
				print_error("case %zu: got SQL %s\n", i,
				    buf_cstr(&sql));
			assert_string_equal(buf_cstr(&sql), c->sql);
			while (c->params[n] != NULL)
				n++;
			assert_int_equal(params.n, n);
			for (size_t j = 0; j < n; j++)
				assert_string_equal(params.v[j], c->params[j]);
		} else
			assert_int_equal(params.n, 0);
		strv_deinit(&params);
		buf_deinit(&sql);
		sql_cf_free(&cf);
		free(text);
	}
}

/* A literal mixing text and expansions is a concatenation of parameters. */
static void
test_build_query_concat(void **state)
{
	struct sql_cf cf;
	struct buf sql;
	struct strv params;
	char err[DICT_ERR_MAX_BYTES];
	char *text = cf_text("localhost",
	    "SELECT f FROM fw WHERE address='%u@%d' AND x='-%s-'", NULL);
	const char *s;

	(void)state;
	assert_int_equal(sql_cf_parse("/t.cf", "pgsql", text, strlen(text),
	    &cf, err, sizeof(err)), 0);
	buf_init(&sql, PGSQL_SQL_MAX_BYTES);
	strv_init(&params);
	assert_int_equal(pgsql_build_query(&cf, "me@example.com", &sql,
	    &params, err, sizeof(err)), 1);
	s = buf_cstr(&sql);
	/* Three parameters, in order, and no value in the SQL text. */
	assert_int_equal(params.n, 3);
	assert_string_equal(params.v[0], "me");
	assert_string_equal(params.v[1], "example.com");
	assert_string_equal(params.v[2], "me@example.com");
	assert_non_null(strstr(s, "$1"));
	assert_non_null(strstr(s, "$2"));
	assert_non_null(strstr(s, "$3"));
	assert_true(strstr(s, "$1") < strstr(s, "$2"));
	assert_true(strstr(s, "$2") < strstr(s, "$3"));
	assert_null(strstr(s, "$4"));
	assert_null(strstr(s, "me"));
	assert_null(strstr(s, "example"));
	assert_non_null(strstr(s, "'@'"));
	assert_non_null(strstr(s, "||"));
	assert_true(strncmp(s, "SELECT f FROM fw WHERE address=", 31) == 0);
	strv_deinit(&params);
	buf_deinit(&sql);
	sql_cf_free(&cf);
	free(text);
}

/* --- $n in the query's own text ---------------------------------------- */

struct ph_case {
	const char *query;
	long want;
};

static const struct ph_case ph_cases[] = {
	{ "SELECT a FROM t WHERE k='%s'", -1 },
	{ "$1", 0 },
	{ "SELECT $1", 7 },
	{ "SELECT a FROM t WHERE k=$12", 24 },
	{ "SELECT a FROM t WHERE k=($1)", 25 },
	{ "SELECT '$1' FROM t", -1 },			/* in a literal */
	{ "SELECT \"a$1\" FROM t", -1 },		/* in an identifier */
	{ "SELECT a$1 FROM t", -1 },			/* part of a name */
	{ "SELECT x_$2, $$text$$ FROM t", -1 },
	{ "SELECT 'it''s', $3 FROM t", 16 },		/* after '' */
	{ "SELECT 'a' || $1", 14 },
	{ "SELECT $ 1", -1 },
	{ "", -1 },
};

static void
test_find_placeholder(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(ph_cases); i++) {
		long got = pgsql_find_placeholder(ph_cases[i].query);

		if (got != ph_cases[i].want)
			print_error("case %zu: %s: got %ld\n", i,
			    ph_cases[i].query, got);
		assert_int_equal(got, ph_cases[i].want);
	}
}

/* --- opening and failing lookups ---------------------------------------- */

static char tmpdir[] = "/tmp/test_dict_pgsql.XXXXXX";

static int
setup_dir(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown_dir(void **state)
{
	char *cmd = xasprintf("rm -rf -- '%s'", tmpdir);
	int r;

	(void)state;
	r = system(cmd);
	free(cmd);
	return r == 0 ? 0 : -1;
}

/* Write text as tmpdir/name (mode 0600); caller frees the path. */
static char *
write_cf(const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, 0600), 0);
	return path;
}

static struct dict *
open_cf(const char *name, const char *text, char *err, size_t errsz)
{
	struct dict_open_opts opts;
	char *path = write_cf(name, text);
	struct dict *d;

	dict_open_opts_init(&opts);
	opts.trusted_uid = getuid();
	d = dict_open_type(&dict_type_pgsql, path, &opts, err, errsz);
	free(path);
	return d;
}

/*
 * A loopback TCP port that refuses connections for as long as *fd_r
 * stays open: bound, never listening.
 */
static unsigned
refusing_port(int *fd_r)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*fd_r = fd;
	return ntohs(sin.sin_port);
}

static void
assert_contains(const char *s, const char *part)
{
	if (strstr(s, part) == NULL) {
		print_error("\"%s\" does not contain \"%s\"\n", s, part);
		fail();
	}
}

static void
assert_lacks(const char *s, const char *part)
{
	if (strstr(s, part) != NULL) {
		print_error("\"%s\" contains \"%s\"\n", s, part);
		fail();
	}
}

static void
test_no_server_answers(void **state)
{
	char err[DICT_ERR_MAX_BYTES], *hosts, *text, *prefix, *h1, *h2;
	struct dict *d;
	struct buf value;
	int fd1, fd2;
	unsigned p1 = refusing_port(&fd1), p2 = refusing_port(&fd2);

	(void)state;
	h1 = xasprintf("127.0.0.1:%u", p1);
	h2 = xasprintf("127.0.0.1:%u", p2);
	hosts = xasprintf("%s, inet:%s", h1, h2);
	text = cf_text(hosts, "SELECT goto FROM alias WHERE address='%s' "
	    "AND domain='%d'", "retry_interval = 3600\n");
	d = open_cf("down.cf", text, err, sizeof(err));
	if (d == NULL)
		print_error("%s\n", err);
	assert_non_null(d);
	prefix = xasprintf("pgsql:%s/down.cf: ", tmpdir);
	buf_init(&value, DICT_VALUE_MAX_BYTES);

	/* Both hosts tried, both named, the password nowhere. */
	assert_int_equal(dict_get(d, "user@example.com", &value, err,
	    sizeof(err)), DICT_TEMPFAIL);
	assert_true(strncmp(err, prefix, strlen(prefix)) == 0);
	assert_contains(err, h1);
	assert_contains(err, h2);
	assert_contains(err, "refused");
	assert_lacks(err, SECRET);
	assert_int_equal(value.len, 0);

	/* Both are now waiting out retry_interval: not tried again. */
	assert_int_equal(dict_get(d, "user@example.com", &value, err,
	    sizeof(err)), DICT_TEMPFAIL);
	assert_true(strncmp(err, prefix, strlen(prefix)) == 0);
	assert_contains(err, "retry_interval");
	assert_lacks(err, SECRET);

	/* A key the query cannot use is not found without any server. */
	assert_int_equal(dict_get(d, "no-domain", &value, err, sizeof(err)),
	    DICT_NOTFOUND);

	buf_deinit(&value);
	dict_close(d);
	close(fd1);
	close(fd2);
	free(prefix);
	free(text);
	free(hosts);
	free(h1);
	free(h2);
}

/* URI hosts: their user info and options never show in messages. */
static void
test_uri_secrets(void **state)
{
	char err[DICT_ERR_MAX_BYTES], *hosts, *text, *label;
	struct dict *d;
	struct buf value;
	int fd;
	unsigned p = refusing_port(&fd);

	(void)state;
	hosts = xasprintf("postgresql://mail:UriPass1@127.0.0.1:%u/mail"
	    "?password=UriPass2&sslmode=disable", p);
	label = xasprintf("postgresql://127.0.0.1:%u/mail", p);
	text = cf_text(hosts, "SELECT 1 FROM t WHERE k='%s'", NULL);
	d = open_cf("uri.cf", text, err, sizeof(err));
	if (d == NULL)
		print_error("%s\n", err);
	assert_non_null(d);
	buf_init(&value, DICT_VALUE_MAX_BYTES);
	assert_int_equal(dict_get(d, "k", &value, err, sizeof(err)),
	    DICT_TEMPFAIL);
	assert_contains(err, label);
	assert_contains(err, "refused");
	assert_lacks(err, "UriPass1");
	assert_lacks(err, "UriPass2");
	assert_lacks(err, SECRET);
	buf_deinit(&value);
	dict_close(d);
	free(text);
	free(label);
	free(hosts);

	/* A URI libpq cannot parse is refused without being echoed. */
	text = cf_text("postgresql://mail:UriPass3@[::1/mail",
	    "SELECT 1 FROM t WHERE k='%s'", NULL);
	d = open_cf("baduri.cf", text, err, sizeof(err));
	assert_null(d);
	assert_contains(err, "baduri.cf");
	assert_lacks(err, "UriPass3");
	assert_lacks(err, SECRET);
	free(text);
	close(fd);
}

/*
 * UNIX-domain forms: a directory (libpq adds .s.PGSQL.5432) or the
 * socket file itself (directory and port split for libpq).
 */
static void
test_unix_forms(void **state)
{
	static const struct {
		const char *hosts;
		const char *socket;	/* what libpq tried */
	} cases[] = {
		{ "unix:/nonexistent-ostia-dir",
		  "/nonexistent-ostia-dir/.s.PGSQL.5432" },
		{ "unix:/nonexistent-ostia-dir/.s.PGSQL.6543",
		  "/nonexistent-ostia-dir/.s.PGSQL.6543" },
	};

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		char err[DICT_ERR_MAX_BYTES], *text;
		struct dict *d;
		struct buf value;

		text = cf_text(cases[i].hosts, "SELECT 1 FROM t WHERE k='%s'",
		    NULL);
		d = open_cf("unix.cf", text, err, sizeof(err));
		if (d == NULL)
			print_error("%s\n", err);
		assert_non_null(d);
		buf_init(&value, DICT_VALUE_MAX_BYTES);
		assert_int_equal(dict_get(d, "k", &value, err, sizeof(err)),
		    DICT_TEMPFAIL);
		assert_contains(err, cases[i].hosts);
		assert_contains(err, cases[i].socket);
		assert_lacks(err, SECRET);
		buf_deinit(&value);
		dict_close(d);
		free(text);
	}
}

/* A query using $n itself is refused at open, naming the placeholder. */
static void
test_open_refuses_placeholder(void **state)
{
	char err[DICT_ERR_MAX_BYTES], *text;
	struct dict *d;

	(void)state;
	text = cf_text("localhost", "SELECT goto FROM alias WHERE "
	    "address=$1 OR address='%s'", NULL);
	d = open_cf("dollar.cf", text, err, sizeof(err));
	assert_null(d);
	assert_contains(err, "dollar.cf");
	assert_contains(err, "\"$1\"");
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_query),
		cmocka_unit_test(test_build_query_concat),
		cmocka_unit_test(test_find_placeholder),
		cmocka_unit_test(test_no_server_answers),
		cmocka_unit_test(test_uri_secrets),
		cmocka_unit_test(test_unix_forms),
		cmocka_unit_test(test_open_refuses_placeholder),
	};

	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
