/* SPDX-License-Identifier: MIT */
/*
 * test_sql_dl - libpq and libmariadb loaded at run time (src/maps/
 * sql_dl.c): nothing mapped before a table needs them; a library that
 * cannot be loaded (the testing hook names one that does not exist) or
 * lacks a function gives a plain error naming the package to install,
 * and a pgsql: or mysql: table then fails to open (never a table that
 * answers "not found"); the real libraries load, fill every pointer and
 * work.  The cases run in order: the failures before the real loads,
 * which stay for the life of the process.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dict.h"
#include "sql_dl.h"
#include "xalloc.h"

#define NO_SUCH_LIB "libostia-test-no-such-library.so.0"

static char tmpdir[] = "/tmp/test_sql_dl.XXXXXX";

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

static void
assert_contains(const char *s, const char *part)
{
	if (strstr(s, part) == NULL) {
		print_error("\"%s\" does not contain \"%s\"\n", s, part);
		fail();
	}
}

/* Is soname mapped in this process? (RTLD_NOLOAD never loads it.) */
static bool
mapped(const char *soname)
{
	return dlopen(soname, RTLD_NOW | RTLD_NOLOAD) != NULL;
}

/* Open "TYPE:tmpdir/NAME" over a valid .cf file; NULL with err. */
static struct dict *
open_table(const char *type, char *err, size_t errsz)
{
	struct dict_open_opts opts;
	char *path = xasprintf("%s/%s.cf", tmpdir, type);
	char *spec = xasprintf("%s:%s", type, path);
	FILE *f = fopen(path, "w");
	struct dict *d;

	assert_non_null(f);
	assert_true(fputs("hosts = inet:127.0.0.1:1\nuser = u\n"
	    "password = secret\ndbname = d\n"
	    "query = SELECT x FROM t WHERE k='%s'\n", f) >= 0);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, 0600), 0);
	dict_open_opts_init(&opts);
	opts.trusted_uid = getuid();
	d = dict_open(spec, &opts, err, errsz);
	free(spec);
	free(path);
	return d;
}

/* The binary does not link the libraries: nothing is mapped yet. */
static void
test_not_linked(void **state)
{
	(void)state;
	assert_null(sql_pq);
	assert_null(sql_my);
	assert_false(mapped(SQL_DL_PQ_SONAME));
	assert_false(mapped(SQL_DL_MYSQL_SONAME));
	assert_false(mapped("libgnutls.so.30"));
	assert_false(mapped("libkrb5.so.3"));
}

static void
test_missing_pq(void **state)
{
	char err[DICT_ERR_MAX_BYTES];

	(void)state;
	sql_dl_testing_set_sonames(NO_SUCH_LIB, NULL);
	assert_int_equal(sql_dl_load_pq(err, sizeof(err)), -1);
	assert_contains(err, "pgsql: cannot load " NO_SUCH_LIB ": ");
	assert_contains(err, "cannot open shared object file");
	assert_contains(err, "; install the libpq5 package");
	assert_null(sql_pq);

	/* The table does not open, with the same words. */
	err[0] = '\0';
	assert_null(open_table("pgsql", err, sizeof(err)));
	assert_contains(err, "pgsql: cannot load " NO_SUCH_LIB ": ");
	assert_contains(err, "; install the libpq5 package");
	/* The preload of the lookup process says the same. */
	assert_int_equal(sql_dl_load_for("proxy:pgsql:/x.cf", err,
	    sizeof(err)), -1);
	assert_contains(err, "pgsql: cannot load " NO_SUCH_LIB ": ");
	assert_null(sql_pq);
	sql_dl_testing_set_sonames(NULL, NULL);
}

static void
test_missing_mysql(void **state)
{
	char err[DICT_ERR_MAX_BYTES];

	(void)state;
	sql_dl_testing_set_sonames(NULL, NO_SUCH_LIB);
	assert_int_equal(sql_dl_load_mysql(err, sizeof(err)), -1);
	assert_contains(err, "mysql: cannot load " NO_SUCH_LIB ": ");
	assert_contains(err, "cannot open shared object file");
	assert_contains(err, "; install the libmariadb3 package");
	assert_null(sql_my);

	err[0] = '\0';
	assert_null(open_table("mysql", err, sizeof(err)));
	assert_contains(err, "mysql: cannot load " NO_SUCH_LIB ": ");
	assert_contains(err, "; install the libmariadb3 package");
	assert_null(sql_my);
	sql_dl_testing_set_sonames(NULL, NULL);
}

/* A library that loads but lacks a function (libc: none of them). */
static void
test_missing_function(void **state)
{
	char err[DICT_ERR_MAX_BYTES];

	(void)state;
	sql_dl_testing_set_sonames("libc.so.6", "libc.so.6");
	assert_int_equal(sql_dl_load_pq(err, sizeof(err)), -1);
	assert_contains(err, "pgsql: libc.so.6 has no PQ");
	assert_contains(err, "; install the libpq5 package");
	assert_null(sql_pq);
	assert_int_equal(sql_dl_load_mysql(err, sizeof(err)), -1);
	assert_contains(err, "mysql: libc.so.6 has no mysql_");
	assert_contains(err, "; install the libmariadb3 package");
	assert_null(sql_my);
	sql_dl_testing_set_sonames(NULL, NULL);
	/* Other types need nothing. */
	assert_int_equal(sql_dl_load_for("texthash:/x", err, sizeof(err)), 0);
	assert_int_equal(sql_dl_load_for("sqlite:/x.cf", err, sizeof(err)),
	    0);
	assert_null(sql_pq);
	assert_null(sql_my);
	assert_false(mapped(SQL_DL_PQ_SONAME));
}

/* The real libraries: every pointer set, and they work. */
static void
test_real_pq(void **state)
{
	const void *const *fp;
	char err[DICT_ERR_MAX_BYTES], *perr = NULL;
	PQconninfoOption *o;
	bool found = false;
	struct dict *d;

	(void)state;
	assert_int_equal(sql_dl_load_pq(err, sizeof(err)), 0);
	assert_non_null(sql_pq);
	assert_true(mapped(SQL_DL_PQ_SONAME));
	fp = (const void *const *)(const void *)sql_pq;
	for (size_t i = 0; i < sizeof(*sql_pq) / sizeof(void *); i++)
		assert_non_null(fp[i]);
	o = sql_pq->PQconninfoParse("postgresql://db.example/mail", &perr);
	assert_non_null(o);
	for (const PQconninfoOption *k = o; k->keyword != NULL; k++)
		if (strcmp(k->keyword, "dbname") == 0 && k->val != NULL &&
		    strcmp(k->val, "mail") == 0)
			found = true;
	assert_true(found);
	sql_pq->PQconninfoFree(o);
	/* Loaded once: a second call is a no-op. */
	assert_int_equal(sql_dl_load_pq(err, sizeof(err)), 0);
	d = open_table("pgsql", err, sizeof(err));
	assert_non_null(d);
	dict_close(d);
	/* pgsql did not bring libmariadb along. */
	assert_false(mapped(SQL_DL_MYSQL_SONAME));
}

static void
test_real_mysql(void **state)
{
	const void *const *fp;
	char err[DICT_ERR_MAX_BYTES];
	struct dict *d;
	MYSQL *m;

	(void)state;
	assert_int_equal(sql_dl_load_for("mysql:/x.cf", err, sizeof(err)), 0);
	assert_non_null(sql_my);
	assert_true(mapped(SQL_DL_MYSQL_SONAME));
	fp = (const void *const *)(const void *)sql_my;
	for (size_t i = 0; i < sizeof(*sql_my) / sizeof(void *); i++)
		assert_non_null(fp[i]);
	m = sql_my->mysql_init(NULL);
	assert_non_null(m);
	assert_int_equal(sql_my->mysql_errno(m), 0);
	sql_my->mysql_close(m);
	d = open_table("mysql", err, sizeof(err));
	assert_non_null(d);
	dict_close(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_not_linked),
		cmocka_unit_test(test_missing_pq),
		cmocka_unit_test(test_missing_mysql),
		cmocka_unit_test(test_missing_function),
		cmocka_unit_test(test_real_pq),
		cmocka_unit_test(test_real_mysql),
	};

	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
