/* SPDX-License-Identifier: MIT */
/*
 * test_dict_tables - the fixed table types: static:, inline:, texthash:,
 * and hash:/lmdb: over an LMDB file built like `ostia map` builds it, in
 * a temporary directory.  Lookups (found, not found, case folding), open
 * errors with file and line, the owner and permission rule (as root a
 * file is chowned to a random uid), changed() after a rebuild by rename,
 * a reader keeping its old file across a rename, and files that are not
 * Ostia tables.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "dict.h"
#include "dict_lmdb.h"
#include "dict_text.h"
#include "xalloc.h"

/* A uid no file here belongs to. */
#define STRANGER_UID 54321

struct fixture {
	char dir[64];
	struct dict_open_opts opts;
};

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/ostia-dict-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	dict_open_opts_init(&f->opts);
	/* Root's files are trusted anyway; as a user, trust our own. */
	if (geteuid() != 0)
		f->opts.trusted_uid = geteuid();
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
	free(f);
	return 0;
}

/* write_file - dir/name with text and mode, replaced by rename. */
static char *
write_file(const struct fixture *f, const char *name, const char *text,
    mode_t mode)
{
	char *path = xasprintf("%s/%s", f->dir, name);
	char *tmp = xasprintf("%s.new", path);
	FILE *fp = fopen(tmp, "w");

	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(tmp, mode), 0);
	assert_int_equal(rename(tmp, path), 0);
	free(tmp);
	return path;
}

/* get - look key up; "FOUND:value", "NOTFOUND" or "TEMPFAIL:err". */
static char *
get(struct dict *d, const char *key)
{
	struct buf v;
	char err[DICT_ERR_MAX_BYTES];
	enum dict_status st;
	char *s;

	buf_init(&v, DICT_VALUE_MAX_BYTES);
	st = dict_get(d, key, &v, err, sizeof(err));
	if (st == DICT_FOUND)
		s = xasprintf("FOUND:%s", buf_cstr(&v));
	else if (st == DICT_NOTFOUND)
		s = xstrdup("NOTFOUND");
	else
		s = xasprintf("TEMPFAIL:%s", err);
	buf_deinit(&v);
	return s;
}

static void
expect(struct dict *d, const char *key, const char *want)
{
	char *got = get(d, key);

	if (strcmp(got, want) != 0)
		print_message("%s: key \"%s\": got \"%s\", want \"%s\"\n",
		    d->spec, key, got, want);
	assert_string_equal(got, want);
	free(got);
}

/* open_fails - dict_open must fail with an error containing want. */
static void
open_fails(const char *spec, const struct dict_open_opts *opts,
    const char *want)
{
	char err[DICT_ERR_MAX_BYTES];
	struct dict *d = dict_open(spec, opts, err, sizeof(err));

	if (d != NULL || strstr(err, want) == NULL)
		print_message("%s: want an error with \"%s\", got %s \"%s\"\n",
		    spec, want, d != NULL ? "a table" : "", d != NULL ? "" :
		    err);
	assert_null(d);
	assert_non_null(strstr(err, want));
}

static struct dict *
open_ok(const char *spec, const struct dict_open_opts *opts)
{
	char err[DICT_ERR_MAX_BYTES];
	struct dict *d = dict_open(spec, opts, err, sizeof(err));

	if (d == NULL)
		print_message("%s: %s\n", spec, err);
	assert_non_null(d);
	return d;
}

/* ------------------------------------------------------------ static */

static void
test_static(void **state)
{
	struct fixture *f = *state;
	struct dict *d;

	d = open_ok("static:OK", &f->opts);
	expect(d, "anything", "FOUND:OK");
	expect(d, "", "FOUND:OK");
	expect(d, "User@Example.COM", "FOUND:OK");
	assert_false(dict_changed(d));
	dict_close(d);

	d = open_ok("static:{ REJECT text with spaces }", &f->opts);
	expect(d, "x", "FOUND:REJECT text with spaces");
	dict_close(d);

	open_fails("static:", &f->opts, "no value");
	open_fails("static:{  }", &f->opts, "no value");
}

/* ------------------------------------------------------------ inline */

static void
test_inline(void **state)
{
	struct fixture *f = *state;
	struct dict *d;

	d = open_ok("inline:{ a=1, { B = two words }, c@Example.com=3 }",
	    &f->opts);
	expect(d, "a", "FOUND:1");
	expect(d, "A", "FOUND:1");
	expect(d, "b", "FOUND:two words");
	expect(d, "C@EXAMPLE.COM", "FOUND:3");
	expect(d, "d", "NOTFOUND");
	expect(d, "", "NOTFOUND");
	assert_false(dict_changed(d));
	dict_close(d);

	open_fails("inline:a=1", &f->opts, "inline table: write inline:{");
	open_fails("inline:{ a=1, b }", &f->opts,
	    "inline table, element 2: \"b\" is not key=value");
}

/* ------------------------------------------------------------ texthash */

static void
test_texthash(void **state)
{
	struct fixture *f = *state;
	char *path = write_file(f, "access", "# access\nExample.COM REJECT "
	    "go away\n1.2.3 OK\nlong a\n  b\n", 0644);
	char *spec = xasprintf("texthash:%s", path);
	struct dict *d = open_ok(spec, &f->opts);

	expect(d, "example.com", "FOUND:REJECT go away");
	expect(d, "EXAMPLE.com", "FOUND:REJECT go away");
	expect(d, "1.2.3", "FOUND:OK");
	expect(d, "long", "FOUND:a  b");
	expect(d, "1.2.3.4", "NOTFOUND");
	assert_false(dict_changed(d));

	/* Replaced by rename: changed, old contents still served. */
	free(write_file(f, "access", "example.com OK\n", 0644));
	assert_true(dict_changed(d));
	expect(d, "example.com", "FOUND:REJECT go away");
	dict_close(d);
	d = open_ok(spec, &f->opts);
	expect(d, "example.com", "FOUND:OK");
	assert_false(dict_changed(d));

	/* Rewritten in place with another size: changed. */
	{
		FILE *fp = fopen(path, "a");

		assert_non_null(fp);
		fputs("more 1\n", fp);
		fclose(fp);
	}
	assert_true(dict_changed(d));
	/* Removed: changed (a reopen will then say why it fails). */
	assert_int_equal(unlink(path), 0);
	assert_true(dict_changed(d));
	dict_close(d);
	open_fails(spec, &f->opts, "No such file or directory");

	/* Errors name the file and line. */
	free(write_file(f, "access", "ok 1\n\nbad\n", 0644));
	{
		char *want = xasprintf("%s, line 3: \"bad\" has no value",
		    path);

		open_fails(spec, &f->opts, want);
		free(want);
	}
	open_fails("texthash:", &f->opts, "needs a file name");
	free(spec);
	free(path);
}

/* Owner and permission rule, for texthash: and lmdb: alike. */
static void
test_owner_and_mode(void **state)
{
	struct fixture *f = *state;
	char *path = write_file(f, "t", "a 1\n", 0644);
	char *spec = xasprintf("texthash:%s", path);
	struct dict_open_opts trusting = f->opts;
	struct dict *d;

	/* Group- or world-writable: refused whoever owns it. */
	assert_int_equal(chmod(path, 0664), 0);
	open_fails(spec, &f->opts, "writable by its group: refusing it");
	assert_int_equal(chmod(path, 0646), 0);
	open_fails(spec, &f->opts, "writable by everyone: refusing it");
	assert_int_equal(chmod(path, 0644), 0);
	d = open_ok(spec, &f->opts);
	dict_close(d);

	if (geteuid() != 0) {
		print_message("not root: the chown part is skipped\n");
		free(spec);
		free(path);
		skip();
	}
	/* Owned by someone else: refused, unless that is the trusted
	 * user. */
	assert_int_equal(chown(path, STRANGER_UID, (gid_t)-1), 0);
	open_fails(spec, &f->opts, "owned by uid 54321, not by root or the "
	    "mail owner: refusing it");
	trusting.trusted_uid = STRANGER_UID;
	d = open_ok(spec, &trusting);
	expect(d, "a", "FOUND:1");
	dict_close(d);
	/* (uid_t)-1 skips the check. */
	trusting.trusted_uid = (uid_t)-1;
	d = open_ok(spec, &trusting);
	dict_close(d);
	free(spec);
	free(path);
}

/* ------------------------------------------------------------ lmdb */

/* build - dir/name.lmdb from text, as `ostia map` does. */
static char *
build(const struct fixture *f, const char *name, const char *text,
    mode_t mode)
{
	struct dict_text t;
	char err[DICT_ERR_MAX_BYTES];
	char *path = xasprintf("%s/%s", f->dir, name);
	char *lmdb = xasprintf("%s.lmdb", path);

	if (dict_text_parse(&t, path, DICT_TEXT_FOLD, text, strlen(text), err,
	    sizeof(err)) < 0 ||
	    dict_lmdb_build(lmdb, &t, mode, true, err, sizeof(err)) < 0) {
		print_message("build %s: %s\n", lmdb, err);
		fail();
	}
	dict_text_deinit(&t);
	free(lmdb);
	return path;
}

static int
collect(void *ctx, const char *key, size_t keylen, const char *value,
    size_t valuelen)
{
	struct buf *b = ctx;

	assert_int_equal(buf_appendf(b, "%.*s=%.*s|", (int)keylen, key,
	    (int)valuelen, value), 0);
	return 0;
}

static void
test_lmdb_and_hash(void **state)
{
	struct fixture *f = *state;
	char *path = build(f, "virtual", "# virtual\nInfo@Example.com "
	    "a@example.org, b@example.org\n@example.net catchall\n"
	    "dup 1\ndup 2\n", 0640);
	char *lmdb = xasprintf("%s.lmdb", path);
	const char *types[] = { "lmdb", "hash" };
	struct stat st;
	struct buf all;

	/* The new file has the mode asked for. */
	assert_int_equal(stat(lmdb, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	/* No temporary file left behind, no lock file made. */
	{
		char *cmd = xasprintf("test $(ls -A '%s' | wc -l) -eq 1",
		    f->dir);

		assert_int_equal(system(cmd), 0);
		free(cmd);
	}
	for (size_t i = 0; i < 2; i++) {
		char *spec = xasprintf("%s:%s", types[i], path);
		struct dict *d = open_ok(spec, &f->opts);

		expect(d, "info@example.com", "FOUND:a@example.org, "
		    "b@example.org");
		expect(d, "INFO@example.COM", "FOUND:a@example.org, "
		    "b@example.org");
		expect(d, "@example.net", "FOUND:catchall");
		expect(d, "dup", "FOUND:1");
		expect(d, "nobody@example.com", "NOTFOUND");
		expect(d, "", "NOTFOUND");
		assert_false(dict_changed(d));
		buf_init(&all, 1024);
		{
			char err[DICT_ERR_MAX_BYTES];

			assert_int_equal(dict_lmdb_walk(d, collect, &all, err,
			    sizeof(err)), 0);
		}
		assert_string_equal(buf_cstr(&all), "@example.net=catchall|"
		    "dup=1|info@example.com=a@example.org, b@example.org|");
		buf_deinit(&all);
		dict_close(d);
		free(spec);
	}

	/* A long key can never be found (no such key can be stored). */
	{
		char *spec = xasprintf("lmdb:%s", path);
		struct dict *d = open_ok(spec, &f->opts);
		char key[600];

		memset(key, 'k', sizeof(key) - 1);
		key[sizeof(key) - 1] = '\0';
		expect(d, key, "NOTFOUND");
		dict_close(d);
		free(spec);
	}
	free(lmdb);
	free(path);
}

/* Rebuilding while a reader has the table open: the reader keeps the
 * old file (consistent), changed() says so, a reopen sees the new one. */
static void
test_lmdb_rebuild(void **state)
{
	struct fixture *f = *state;
	char *path = build(f, "map", "k old\ngone 1\n", 0644);
	char *spec = xasprintf("lmdb:%s", path);
	struct dict *d = open_ok(spec, &f->opts);
	struct dict *d2;

	expect(d, "k", "FOUND:old");
	free(build(f, "map", "k new\nadded 2\n", 0644));
	assert_true(dict_changed(d));
	expect(d, "k", "FOUND:old");
	expect(d, "gone", "FOUND:1");
	expect(d, "added", "NOTFOUND");
	d2 = open_ok(spec, &f->opts);
	expect(d2, "k", "FOUND:new");
	expect(d2, "gone", "NOTFOUND");
	expect(d2, "added", "FOUND:2");
	assert_false(dict_changed(d2));
	dict_close(d);
	dict_close(d2);
	free(spec);
	free(path);
}

static void
test_lmdb_errors(void **state)
{
	struct fixture *f = *state;
	char *spec, *path, *want;

	/* Missing: says how to build it; mentions a Postfix .db file. */
	spec = xasprintf("hash:%s/aliases", f->dir);
	want = xasprintf("%s/aliases.lmdb: no such file: build it from the "
	    "text file with `ostia map hash:%s/aliases`", f->dir, f->dir);
	open_fails(spec, &f->opts, want);
	free(want);
	free(write_file(f, "aliases.db", "berkeley", 0644));
	open_fails(spec, &f->opts, "aliases.db is Postfix's Berkeley DB "
	    "file, which Ostia does not read");
	free(spec);

	/* Not LMDB at all. */
	free(write_file(f, "junk.lmdb", "this is not an lmdb file, really "
	    "not\n", 0644));
	spec = xasprintf("lmdb:%s/junk", f->dir);
	open_fails(spec, &f->opts, "junk.lmdb: not an LMDB file");
	free(spec);

	/* An LMDB file that `ostia map` did not write (keys in the main
	 * database, as other programs store them). */
	{
		MDB_env *env;
		MDB_txn *txn;
		MDB_dbi dbi;
		MDB_val k = { 4, UNCONST("key") }, v = { 6, UNCONST("value") };

		path = xasprintf("%s/foreign.lmdb", f->dir);
		assert_int_equal(mdb_env_create(&env), 0);
		assert_int_equal(mdb_env_open(env, path, MDB_NOSUBDIR |
		    MDB_NOLOCK, 0644), 0);
		assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
		assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
		assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
		k.mv_data = UNCONST("meta");
		k.mv_size = 4;
		assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
		assert_int_equal(mdb_txn_commit(txn), 0);
		mdb_env_close(env);
		free(path);
		spec = xasprintf("lmdb:%s/foreign", f->dir);
		open_fails(spec, &f->opts, "not built by `ostia map`");
		free(spec);
	}

	/* Owner and mode rule on the .lmdb file. */
	path = build(f, "owned", "a 1\n", 0644);
	spec = xasprintf("lmdb:%s", path);
	want = xasprintf("%s.lmdb", path);
	assert_int_equal(chmod(want, 0666), 0);
	open_fails(spec, &f->opts, "writable by everyone: refusing it");
	assert_int_equal(chmod(want, 0644), 0);
	if (geteuid() == 0) {
		assert_int_equal(chown(want, STRANGER_UID, (gid_t)-1), 0);
		open_fails(spec, &f->opts, "owned by uid 54321");
	}
	free(want);
	free(spec);
	free(path);

	open_fails("lmdb:", &f->opts, "needs a file name");
}

/* Keys past LMDB's limit are refused at build time with their line. */
static void
test_lmdb_long_key(void **state)
{
	struct fixture *f = *state;
	struct dict_text t;
	char err[DICT_ERR_MAX_BYTES];
	struct buf text;
	char *lmdb = xasprintf("%s/long.lmdb", f->dir);
	struct stat st;

	(void)state;
	buf_init(&text, 8192);
	assert_int_equal(buf_append_str(&text, "short 1\n"), 0);
	for (int i = 0; i < DICT_LMDB_KEY_MAX_BYTES + 1; i++)
		assert_int_equal(buf_append_c(&text, 'k'), 0);
	assert_int_equal(buf_append_str(&text, " v\n"), 0);
	assert_int_equal(dict_text_parse(&t, "SRC", DICT_TEXT_FOLD,
	    text.data, text.len, err, sizeof(err)), 0);
	assert_int_equal(dict_lmdb_build(lmdb, &t, 0644, true, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "SRC, line 2: key longer than 511 bytes, "
	    "the most an LMDB file can hold (use texthash: for this table)");
	assert_int_equal(stat(lmdb, &st), -1);
	assert_int_equal(errno, ENOENT);
	dict_text_deinit(&t);
	buf_deinit(&text);
	free(lmdb);
}

/* A table big enough to need a larger map than the first guess. */
static void
test_lmdb_big(void **state)
{
	struct fixture *f = *state;
	struct buf text;
	char *path, *spec;
	struct dict *d;
	char key[32], want[64];

	buf_init(&text, 64 * 1024 * 1024);
	for (int i = 0; i < 20000; i++)
		assert_int_equal(buf_appendf(&text, "key%d value-%d-%0200d\n",
		    i, i, 0), 0);
	path = build(f, "big", buf_cstr(&text), 0644);
	spec = xasprintf("hash:%s", path);
	d = open_ok(spec, &f->opts);
	for (int i = 0; i < 20000; i += 997) {
		snprintf(key, sizeof(key), "KEY%d", i);
		snprintf(want, sizeof(want), "FOUND:value-%d-", i);
		{
			char *got = get(d, key);

			assert_memory_equal(got, want, strlen(want));
			assert_int_equal(strlen(got), strlen(want) + 200);
			free(got);
		}
	}
	dict_close(d);
	free(spec);
	free(path);
	buf_deinit(&text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_static, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_texthash, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_owner_and_mode, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_lmdb_and_hash, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_lmdb_rebuild, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_lmdb_errors, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_lmdb_long_key, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_lmdb_big, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
