/* SPDX-License-Identifier: MIT */
/*
 * test_dict_sqlite - sqlite:/file.cf against a real SQLite database made
 * here: found, not found, inactive rows, multi-row results, %u/%d and
 * the domain rule, result_format, expansion_limit, hostile keys (never
 * SQL: not found, tables intact), errors at open (file:line, bad SQL,
 * missing database, several statements), TEMPFAIL on database errors,
 * changed().
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "buf.h"
#include "compat.h"
#include "dict.h"
#include "xalloc.h"

extern const struct dict_type dict_type_sqlite;

struct fixture {
	char dir[64];
	char *db;
	struct dict_open_opts opts;
};

static void
db_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	char *msg = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("sqlite: %s\n%s", msg, sql);
	sqlite3_close(db);
}

static long
db_count(const char *path, const char *table)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char *sql = xasprintf("SELECT count(*) FROM %s", table);
	long n;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(sql);
	return n;
}

static const char schema[] =
    "CREATE TABLE mailbox (username TEXT PRIMARY KEY, domain TEXT, "
    "  maildir TEXT, active INTEGER);\n"
    "CREATE TABLE forwardings (address TEXT, forwarding TEXT, "
    "  domain TEXT, active INTEGER);\n"
    "INSERT INTO mailbox VALUES ('alice@example.com', 'example.com', "
    "  'example.com/alice/', 1);\n"
    "INSERT INTO mailbox VALUES ('carol@example.com', 'example.com', "
    "  'example.com/carol/', 0);\n"
    "INSERT INTO mailbox VALUES ('o''brien@example.com', 'example.com', "
    "  'example.com/obrien/', 1);\n"
    "INSERT INTO mailbox VALUES ('back\\slash@example.com', 'example.com', "
    "  'example.com/backslash/', 1);\n"
    "INSERT INTO mailbox VALUES ('100%@example.com', 'example.com', "
    "  'example.com/percent/', 1);\n"
    "INSERT INTO mailbox VALUES ('j\xc3\xb6rg@example.com', 'example.com', "
    "  'example.com/joerg/', 1);\n"
    "INSERT INTO forwardings VALUES ('sales@example.com', "
    "  'alice@example.com', 'example.com', 1);\n"
    "INSERT INTO forwardings VALUES ('sales@example.com', "
    "  'bob@example.com', 'example.com', 1);\n"
    "INSERT INTO forwardings VALUES ('sales@example.com', "
    "  'carol@example.com', 'example.com', 0);\n"
    "INSERT INTO forwardings VALUES ('empty@example.com', NULL, "
    "  'example.com', 1);\n"
    "INSERT INTO forwardings VALUES ('empty@example.com', '', "
    "  'example.com', 1);\n";

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_dict_sqlite.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->db = xasprintf("%s/vmail.sqlite", f->dir);
	db_exec(f->db, schema);
	dict_open_opts_init(&f->opts);
	f->opts.trusted_uid = getuid();
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char *cmd = xasprintf("rm -rf '%s'", f->dir);

	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(f->db);
	free(f);
	return 0;
}

/* Write NAME.cf in the fixture directory; returns its path (free it). */
static char *write_cf(struct fixture *f, const char *name, const char *fmt,
    ...) ATTR_FORMAT(3, 4);

static char *
write_cf(struct fixture *f, const char *name, const char *fmt, ...)
{
	char *path = xasprintf("%s/%s.cf", f->dir, name);
	char *text;
	va_list ap;
	FILE *fp;

	va_start(ap, fmt);
	text = xvasprintf(fmt, ap);
	va_end(ap);
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(path, 0600), 0);
	free(text);
	return path;
}

static struct dict *
open_ok(struct fixture *f, const char *path)
{
	char err[DICT_ERR_MAX_BYTES];
	struct dict *d = dict_open_type(&dict_type_sqlite, path, &f->opts, err,
	    sizeof(err));

	if (d == NULL)
		fail_msg("open %s: %s", path, err);
	return d;
}

static void
open_err(struct fixture *f, const char *path, const char *want)
{
	char err[DICT_ERR_MAX_BYTES];
	struct dict *d = dict_open_type(&dict_type_sqlite, path, &f->opts, err,
	    sizeof(err));

	if (d != NULL) {
		dict_close(d);
		fail_msg("open %s succeeded, wanted \"%s\"", path, want);
	}
	if (strstr(err, want) == NULL)
		fail_msg("error \"%s\" does not contain \"%s\"", err, want);
}

/* Look key up; want NULL = NOTFOUND, "TEMPFAIL:text" = TEMPFAIL whose
 * message contains text, else FOUND with that value. */
static void
expect(struct dict *d, const char *key, const char *want)
{
	char err[DICT_ERR_MAX_BYTES];
	struct buf v;
	enum dict_status st;

	buf_init(&v, DICT_VALUE_MAX_BYTES);
	st = dict_get(d, key, &v, err, sizeof(err));
	if (want == NULL) {
		if (st != DICT_NOTFOUND)
			fail_msg("%s: key \"%s\": want NOTFOUND, got %d (%s) %s",
			    d->spec, key, st, buf_cstr(&v), err);
	} else if (strncmp(want, "TEMPFAIL:", 9) == 0) {
		if (st != DICT_TEMPFAIL)
			fail_msg("%s: key \"%s\": want TEMPFAIL, got %d (%s)",
			    d->spec, key, st, buf_cstr(&v));
		if (strstr(err, want + 9) == NULL)
			fail_msg("%s: key \"%s\": error \"%s\" lacks \"%s\"",
			    d->spec, key, err, want + 9);
	} else {
		if (st != DICT_FOUND)
			fail_msg("%s: key \"%s\": want \"%s\", got %d %s",
			    d->spec, key, want, st, err);
		if (strcmp(buf_cstr(&v), want) != 0)
			fail_msg("%s: key \"%s\": want \"%s\", got \"%s\"",
			    d->spec, key, want, buf_cstr(&v));
	}
	buf_deinit(&v);
}

static void
test_lookups(void **state)
{
	struct fixture *f = *state;
	char *mbox = write_cf(f, "mailbox",
	    "dbpath = %s\n"
	    "query = SELECT maildir FROM mailbox WHERE username='%%s' "
	    "AND active=1\n", f->db);
	char *fwd = write_cf(f, "forwardings",
	    "dbpath = %s\n"
	    "query = SELECT forwarding FROM forwardings\n"
	    "   WHERE address='%%u@%%d' AND active=1 ORDER BY forwarding\n",
	    f->db);
	struct dict *d;

	(void)state;
	d = open_ok(f, mbox);
	assert_true(d->type->flags & DICT_TYPE_FILE);
	expect(d, "alice@example.com", "example.com/alice/");
	/* dict_get folds the key. */
	expect(d, "Alice@EXAMPLE.com", "example.com/alice/");
	expect(d, "carol@example.com", NULL);		/* inactive */
	expect(d, "nobody@example.com", NULL);
	expect(d, "", NULL);
	/* SQL-special characters are data: found as themselves. */
	expect(d, "o'brien@example.com", "example.com/obrien/");
	expect(d, "back\\slash@example.com", "example.com/backslash/");
	expect(d, "100%@example.com", "example.com/percent/");
	expect(d, "j\xc3\xb6rg@example.com", "example.com/joerg/");
	/* Not UTF-8: not looked up. */
	expect(d, "j\xf6rg@example.com", NULL);
	assert_false(dict_changed(d));
	dict_close(d);

	/* Every column of every row is a result, as in Postfix. */
	{
		char *cols = write_cf(f, "columns",
		    "dbpath = %s\n"
		    "query = SELECT username, domain FROM mailbox WHERE "
		    "username='%%s'\n", f->db);

		d = open_ok(f, cols);
		expect(d, "alice@example.com", "alice@example.com,example.com");
		dict_close(d);
		free(cols);
	}

	d = open_ok(f, fwd);
	expect(d, "sales@example.com", "alice@example.com,bob@example.com");
	/* NULL and empty values are skipped: nothing left is NOTFOUND. */
	expect(d, "empty@example.com", NULL);
	/* %d needs a domain. */
	expect(d, "sales", NULL);
	dict_close(d);
	free(mbox);
	free(fwd);
}

static void
test_hostile_keys(void **state)
{
	struct fixture *f = *state;
	static const char *const keys[] = {
		"x' OR '1'='1",
		"x' OR 1=1 --",
		"alice@example.com' OR 'a'='a",
		"'; DROP TABLE mailbox; --",
		"x'); DELETE FROM mailbox; --",
		"\\' OR 1=1 --",
		"x\" OR \"1\"=\"1",
		"%",
		"_",
		"?",
		"?1",
		"$1",
		"alice@example.com\n",
		"alice@example.com\r\n' OR 1=1",
		"alice@example.com' --",
	};
	char *cf = write_cf(f, "mailbox",
	    "dbpath = %s\n"
	    "query = SELECT maildir FROM mailbox WHERE username='%%s'\n"
	    "expansion_limit = 1\n", f->db);
	char *like = write_cf(f, "like",
	    "dbpath = %s\n"
	    "query = SELECT username FROM mailbox WHERE username LIKE "
	    "'%%%%%%s' ORDER BY username\n", f->db);
	struct dict *d, *dl;
	long before = db_count(f->db, "mailbox");

	d = open_ok(f, cf);
	dl = open_ok(f, like);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		expect(d, keys[i], NULL);
	/* A bound value in LIKE still is a pattern (the query's choice),
	 * but never SQL. */
	expect(dl, "@example.com' OR 1=1 --", NULL);
	expect(dl, "carol@example.com", "carol@example.com");
	/* A long key is bound like any other. */
	{
		char key[4096];

		memset(key, '\'', sizeof(key) - 1);
		key[sizeof(key) - 1] = '\0';
		expect(d, key, NULL);
	}
	dict_close(d);
	dict_close(dl);
	assert_int_equal(db_count(f->db, "mailbox"), before);
	free(cf);
	free(like);
}

static void
test_domain_and_format(void **state)
{
	struct fixture *f = *state;
	char *cf = write_cf(f, "fmt",
	    "dbpath = %s\n"
	    "query = SELECT forwarding FROM forwardings WHERE address='%%s' "
	    "AND active=1 ORDER BY forwarding\n"
	    "domain = example.com\n"
	    "result_format = smtp:[%%d] for %%U\n", f->db);
	char *lim = write_cf(f, "limit",
	    "dbpath = %s\n"
	    "query = SELECT forwarding FROM forwardings WHERE address='%%s' "
	    "AND active=1\n"
	    "expansion_limit = 1\n", f->db);
	struct dict *d;

	d = open_ok(f, cf);
	expect(d, "sales@example.com",
	    "smtp:[example.com] for sales,smtp:[example.com] for sales");
	/* Not in the domain list / not an address: not looked up. */
	expect(d, "sales@example.org", NULL);
	expect(d, "example.com", NULL);
	expect(d, "@example.com", NULL);
	dict_close(d);

	d = open_ok(f, lim);
	expect(d, "sales@example.com", "TEMPFAIL:expansion_limit");
	dict_close(d);
	free(cf);
	free(lim);
}

static void
test_open_errors(void **state)
{
	struct fixture *f = *state;
	char *path;

	path = write_cf(f, "unknown", "dbpath = %s\n\nqeury = SELECT 1\n",
	    f->db);
	{
		char *want = xasprintf("%s, line 3: unknown parameter qeury",
		    path);

		open_err(f, path, want);
		free(want);
	}
	free(path);

	path = write_cf(f, "nodb", "dbpath = %s/missing.sqlite\n"
	    "query = SELECT 1\n", f->dir);
	open_err(f, path, "missing.sqlite");
	free(path);

	path = write_cf(f, "badsql", "dbpath = %s\n"
	    "query = SELEC maildir FROM mailbox WHERE username='%%s'\n", f->db);
	open_err(f, path, "query: near \"SELEC\": syntax error");
	free(path);

	path = write_cf(f, "notable", "dbpath = %s\n"
	    "query = SELECT x FROM nosuchtable WHERE k='%%s'\n", f->db);
	open_err(f, path, "no such table: nosuchtable");
	free(path);

	path = write_cf(f, "twostmt", "dbpath = %s\n"
	    "query = SELECT 1 WHERE '%%s' = 'a'; DELETE FROM mailbox\n", f->db);
	open_err(f, path, "more than one SQL statement");
	free(path);

	open_err(f, "", "needs the path of a .cf file");
	open_err(f, "/nonexistent/x.cf", "/nonexistent/x.cf");

	path = write_cf(f, "groupw", "dbpath = %s\nquery = SELECT 1\n", f->db);
	assert_int_equal(chmod(path, 0664), 0);
	open_err(f, path, "writable by its group");
	free(path);
}

static void
test_tempfail(void **state)
{
	struct fixture *f = *state;
	char *cf = write_cf(f, "mailbox",
	    "dbpath = %s\n"
	    "query = SELECT maildir FROM mailbox WHERE username='%%s'\n",
	    f->db);
	char *wr = write_cf(f, "write",
	    "dbpath = %s\n"
	    "query = DELETE FROM mailbox WHERE username='%%s' RETURNING 1\n",
	    f->db);
	struct dict *d;

	/* Read-only: a writing query fails, and nothing is deleted. */
	d = open_ok(f, wr);
	expect(d, "alice@example.com", "TEMPFAIL:readonly");
	dict_close(d);
	assert_int_equal(db_count(f->db, "mailbox"), 6);

	/* The table vanishes after open: TEMPFAIL, never NOTFOUND. */
	d = open_ok(f, cf);
	expect(d, "alice@example.com", "example.com/alice/");
	db_exec(f->db, "ALTER TABLE mailbox RENAME TO mailbox_old;");
	expect(d, "alice@example.com", "TEMPFAIL:no such table: mailbox");
	db_exec(f->db, "ALTER TABLE mailbox_old RENAME TO mailbox;");
	expect(d, "alice@example.com", "example.com/alice/");
	dict_close(d);

	/* A corrupt database file. */
	d = open_ok(f, cf);
	{
		FILE *fp = fopen(f->db, "r+");
		char junk[4096];

		assert_non_null(fp);
		memset(junk, 0x5a, sizeof(junk));
		assert_int_equal(fwrite(junk, 1, sizeof(junk), fp),
		    sizeof(junk));
		fclose(fp);
	}
	expect(d, "alice@example.com", "TEMPFAIL:sqlite:");
	dict_close(d);
	free(cf);
	free(wr);
}

static void
test_changed(void **state)
{
	struct fixture *f = *state;
	char *cf = write_cf(f, "mailbox",
	    "dbpath = %s\n"
	    "query = SELECT maildir FROM mailbox WHERE username='%%s'\n",
	    f->db);
	char *newdb = xasprintf("%s/new.sqlite", f->dir);
	struct dict *d;
	FILE *fp;

	d = open_ok(f, cf);
	assert_false(dict_changed(d));
	/* Data changes are seen without reopening. */
	db_exec(f->db, "UPDATE mailbox SET maildir='moved/' WHERE "
	    "username='alice@example.com';");
	expect(d, "alice@example.com", "moved/");
	assert_false(dict_changed(d));
	/* A new database renamed into place: changed. */
	db_exec(newdb, schema);
	assert_int_equal(rename(newdb, f->db), 0);
	assert_true(dict_changed(d));
	dict_close(d);

	d = open_ok(f, cf);
	assert_false(dict_changed(d));
	fp = fopen(cf, "a");
	assert_non_null(fp);
	fputs("# edited\n", fp);
	fclose(fp);
	assert_true(dict_changed(d));
	dict_close(d);

	d = open_ok(f, cf);
	unlink(cf);
	assert_true(dict_changed(d));
	dict_close(d);
	free(cf);
	free(newdb);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lookups, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_keys, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_domain_and_format, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_tempfail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_changed, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
