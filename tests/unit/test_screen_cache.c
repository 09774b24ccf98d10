/* SPDX-License-Identifier: MIT */
/*
 * test_screen_cache - postscreen's memory of clients: in memory and in
 * an LMDB file (kept across a close and open, as across a restart), the
 * table specs it takes and the words for those it refuses, cleaning,
 * and values a Postfix cache may hold.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lmdb.h>

#include "screen_cache.h"
#include "xalloc.h"
#include "test_support.h"

static char *
tmpdir(void)
{
	char *d = xstrdup("/tmp/ostia-test-screen-XXXXXX");

	assert_non_null(mkdtemp(d));
	return d;
}

static void
test_memory(void **state)
{
	char err[256];
	time_t now = time(NULL);

	(void)state;
	assert_int_equal(screen_cache_open("", err, sizeof(err)), 0);
	assert_string_equal(screen_cache_where(), "memory");
	assert_int_equal(screen_cache_get("192.0.2.1"), 0);
	screen_cache_put("192.0.2.1", now + 100);
	screen_cache_put("2001:db8::1", now - 100);
	assert_int_equal(screen_cache_get("192.0.2.1"), now + 100);
	assert_int_equal(screen_cache_get("2001:db8::1"), now - 100);
	/* Again: the newer time. */
	screen_cache_put("192.0.2.1", now + 200);
	assert_int_equal(screen_cache_get("192.0.2.1"), now + 200);
	/* Expired 100 s ago: kept with a retention of 200 s, then gone. */
	assert_int_equal(screen_cache_clean(now, 200), 0);
	assert_int_equal(screen_cache_clean(now, 50), 1);
	assert_int_equal(screen_cache_get("2001:db8::1"), 0);
	assert_int_equal(screen_cache_get("192.0.2.1"), now + 200);
	screen_cache_close();
	assert_int_equal(screen_cache_get("192.0.2.1"), 0);
}

static void
test_file_kept(void **state)
{
	char *dir = tmpdir();
	char *spec = xasprintf("lmdb:%s/postscreen_cache", dir);
	char *file = xasprintf("%s/postscreen_cache.lmdb", dir);
	char err[512];
	time_t now = time(NULL);
	struct stat st;

	(void)state;
	err[0] = '\0';
	if (screen_cache_open(spec, err, sizeof(err)) < 0)
		print_message("%s\n", err);
	assert_string_equal(screen_cache_where(), file);
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	screen_cache_put("192.0.2.1", now + 100);
	screen_cache_put("192.0.2.2", now - 1000);
	screen_cache_close();
	/* Reopened (a restart), through Postfix's btree: name. */
	free(spec);
	spec = xasprintf("proxy:btree:%s/postscreen_cache", dir);
	assert_int_equal(screen_cache_open(spec, err, sizeof(err)), 0);
	assert_int_equal(screen_cache_get("192.0.2.1"), now + 100);
	assert_int_equal(screen_cache_get("192.0.2.2"), now - 1000);
	assert_int_equal(screen_cache_get("192.0.2.3"), 0);
	assert_int_equal(screen_cache_clean(now, 10), 1);
	assert_int_equal(screen_cache_get("192.0.2.2"), 0);
	assert_int_equal(screen_cache_get("192.0.2.1"), now + 100);
	screen_cache_close();
	free(spec);
	free(file);
	test_remove_tree(dir);
	free(dir);
}

/* Values written by another program: Postfix's "a;b;c;d;e" counts by
 * its first field; anything else is "not remembered". */
static void
test_foreign_values(void **state)
{
	static const struct {
		const char *key, *value;
		time_t want;
	} cases[] = {
		{ "192.0.2.10", "4000000000;1;2;3;4", 4000000000 },
		{ "192.0.2.11", "4000000000", 4000000000 },
		{ "192.0.2.12", "", 0 },
		{ "192.0.2.13", "x1", 0 },
		{ "192.0.2.14", "12x", 0 },
		{ "192.0.2.15", "-5", 0 },
		{ "192.0.2.16", "99999999999999999999999", 0 },
	};
	char *dir = tmpdir();
	char *spec = xasprintf("lmdb:%s/c", dir);
	char *file = xasprintf("%s/c.lmdb", dir);
	char err[512];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;

	(void)state;
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_open(env, file, MDB_NOSUBDIR, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		MDB_val k = { strlen(cases[i].key), (void *)(uintptr_t)
		    cases[i].key };
		MDB_val v = { strlen(cases[i].value), (void *)(uintptr_t)
		    cases[i].value };

		if (v.mv_size == 0)
			continue;	/* LMDB takes empty values; skip */
		assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	}
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	assert_int_equal(screen_cache_open(spec, err, sizeof(err)), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(screen_cache_get(cases[i].key),
		    cases[i].want);
	screen_cache_close();
	free(spec);
	free(file);
	test_remove_tree(dir);
	free(dir);
}

static void
test_refused(void **state)
{
	static const struct {
		const char *spec, *words;
	} cases[] = {
		{ "memcache:/etc/postfix/ps.cf", "a memcache table cannot "
		    "hold the cache here (use lmdb:, btree: or hash:" },
		{ "lmdb:relative/path", "is not TYPE:/ABSOLUTE/PATH" },
		{ "/var/lib/x", "is not TYPE:/ABSOLUTE/PATH" },
		{ "lmdb:/nonexistent-dir-ostia/x", "No such file or directory" },
	};
	char *dir = tmpdir();
	char *file = xasprintf("%s/junk.lmdb", dir);
	char *spec = xasprintf("lmdb:%s/junk", dir);
	char err[512];
	int fd;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		assert_int_equal(screen_cache_open(cases[i].spec, err,
		    sizeof(err)), -1);
		if (strstr(err, cases[i].words) == NULL)
			print_message("%s: %s\n", cases[i].spec, err);
		assert_non_null(strstr(err, cases[i].words));
		/* Still usable: in memory. */
		assert_string_equal(screen_cache_where(), "memory");
	}
	/* A file that is not LMDB. */
	fd = open(file, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	{
		static const char junk[] = "not a database, just text\n"
		    "0123456789012345678901234567890123456789\n";

		assert_int_equal(write(fd, junk, sizeof(junk) - 1),
		    (ssize_t)sizeof(junk) - 1);
	}
	close(fd);
	assert_int_equal(screen_cache_open(spec, err, sizeof(err)), -1);
	if (strstr(err, "remove it: it is only a cache") == NULL &&
	    strstr(err, "Invalid argument") == NULL)
		print_message("%s\n", err);
	assert_non_null(strstr(err, file));
	screen_cache_put("192.0.2.1", time(NULL) + 5);
	assert_true(screen_cache_get("192.0.2.1") > 0);
	screen_cache_close();
	free(spec);
	free(file);
	test_remove_tree(dir);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_memory),
		cmocka_unit_test(test_file_kept),
		cmocka_unit_test(test_foreign_values),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
