/* SPDX-License-Identifier: MIT */
/*
 * test_account - the embedded account database (src/common/account_db.c):
 * input checks (domains, addresses, catch-alls, targets, sizes), schema
 * creation and versions, the file's mode, add/del/list/enable of
 * domains, mailboxes and aliases with their refusals (unknown domain,
 * duplicates, in use), the cleanup of alias targets, listings without
 * password hashes, a busy database, and the generated sqlite .cf files
 * answering through the real sqlite: table type (found, not found,
 * inactive, catch-all, sender ownership, passwords).
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

#include "account_db.h"
#include "buf.h"
#include "compat.h"
#include "dict.h"
#include "xalloc.h"

#define HASH_A "{SHA512-CRYPT}$6$saltsalt$aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HASH_B "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$c2FsdA$aGFzaA"

struct fixture {
	char dir[64];
	char *path;
	struct account_db adb;
	char err[ACCOUNT_ERR_MAX_BYTES];
};

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_account.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->path = xasprintf("%s/accounts.sqlite", f->dir);
	if (account_db_open(&f->adb, f->path, ACCOUNT_DB_CREATE, (gid_t)-1,
	    f->err, sizeof(f->err)) != ACCOUNT_OK)
		fail_msg("open: %s", f->err);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char *cmd = xasprintf("rm -rf '%s'", f->dir);

	account_db_close(&f->adb);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(f->path);
	free(f);
	return 0;
}

/* ok(f, expr): an operation that must succeed. */
#define ok(f, expr) do {						\
	enum account_status st_ = (expr);				\
	if (st_ != ACCOUNT_OK)						\
		fail_msg("%s: status %d: %s", #expr, st_, (f)->err);	\
} while (0)

/* refused(f, want, text, expr): fails with status want and a message
 * containing text. */
#define refused(f, want, text, expr) do {				\
	enum account_status st_ = (expr);				\
	if (st_ != (want))						\
		fail_msg("%s: status %d, want %d (%s)", #expr, st_,	\
		    (want), (f)->err);					\
	if (strstr((f)->err, (text)) == NULL)				\
		fail_msg("%s: \"%s\" lacks \"%s\"", #expr, (f)->err,	\
		    (text));						\
} while (0)

static long long
sql_int(struct fixture *f, const char *sql)
{
	sqlite3_stmt *st = NULL;
	long long n = -1;

	assert_int_equal(sqlite3_prepare_v2(f->adb.db, sql, -1, &st, NULL),
	    SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* The text of the first column of the first row, or "" (caller frees). */
static char *
sql_text(struct fixture *f, const char *sql)
{
	sqlite3_stmt *st = NULL;
	char *s;

	assert_int_equal(sqlite3_prepare_v2(f->adb.db, sql, -1, &st, NULL),
	    SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		s = xstrdup((const char *)sqlite3_column_text(st, 0));
	else
		s = xstrdup("");
	sqlite3_finalize(st);
	return s;
}

static void
add_user(struct fixture *f, const char *addr, const char *hash)
{
	struct account_user_spec spec = { "A User", 0, hash };

	ok(f, account_user_add(&f->adb, addr, &spec, f->err, sizeof(f->err)));
}

/* ---------------------------------------------------------------- */

static void
test_check_domain(void **state)
{
	char err[256], *d = NULL;

	(void)state;
	assert_int_equal(account_check_domain("Example.ORG", &d, err,
	    sizeof(err)), ACCOUNT_OK);
	assert_string_equal(d, "example.org");
	free(d);
	assert_int_equal(account_check_domain("localhost", &d, err,
	    sizeof(err)), ACCOUNT_OK);
	free(d);
	assert_int_equal(account_check_domain("example.org.", &d, err,
	    sizeof(err)), ACCOUNT_INVALID);
	assert_non_null(strstr(err, "trailing dot"));
	assert_null(d);
	assert_int_equal(account_check_domain("[192.0.2.1]", &d, err,
	    sizeof(err)), ACCOUNT_INVALID);
	assert_non_null(strstr(err, "address literal"));
	assert_int_equal(account_check_domain("", &d, err, sizeof(err)),
	    ACCOUNT_INVALID);
	assert_int_equal(account_check_domain("exa mple.org", &d, err,
	    sizeof(err)), ACCOUNT_INVALID);
	assert_int_equal(account_check_domain("a..b", &d, err, sizeof(err)),
	    ACCOUNT_INVALID);
	assert_int_equal(account_check_domain("-a.org", &d, err, sizeof(err)),
	    ACCOUNT_INVALID);
	/* A control character is not echoed as is. */
	assert_int_equal(account_check_domain("a\nb.org", &d, err,
	    sizeof(err)), ACCOUNT_INVALID);
	assert_null(strchr(err, '\n'));
}

static void
test_check_address(void **state)
{
	char err[256], *a = NULL, *d = NULL;

	(void)state;
	assert_int_equal(account_check_address("Alice@Example.ORG", false, &a,
	    &d, err, sizeof(err)), ACCOUNT_OK);
	assert_string_equal(a, "alice@example.org");
	assert_string_equal(d, "example.org");
	free(a);
	free(d);
	/* A catch-all only where allowed. */
	assert_int_equal(account_check_address("@Example.org", true, &a, &d,
	    err, sizeof(err)), ACCOUNT_OK);
	assert_string_equal(a, "@example.org");
	assert_string_equal(d, "example.org");
	free(a);
	free(d);
	assert_int_equal(account_check_address("@example.org", false, &a,
	    NULL, err, sizeof(err)), ACCOUNT_INVALID);
	assert_non_null(strstr(err, "catch-all"));
	assert_int_equal(account_check_address("@", true, &a, NULL, err,
	    sizeof(err)), ACCOUNT_INVALID);

	static const char *const bad[] = {
		"", "alice", "alice@", "<alice@example.org>",
		" alice@example.org", "alice@example.org ",
		"alice@example.org,bob@example.org", "a@b@example.org",
		"\"a b\"@example.org", "alice@[192.0.2.1]", "alice@exa_mple",
		"al ice@example.org", "@a,@b:alice@example.org",
		"alice@example.org.",
	};
	for (size_t i = 0; i < N_ELEMENTS(bad); i++) {
		enum account_status st = account_check_address(bad[i], true,
		    &a, NULL, err, sizeof(err));

		if (st != ACCOUNT_INVALID)
			fail_msg("\"%s\" accepted as %s", bad[i], a);
		assert_null(a);
	}
	/* UTF-8 (SMTPUTF8 addresses) is allowed; ASCII is folded. */
	assert_int_equal(account_check_address("J\xc3\xb6rg@Example.org",
	    false, &a, NULL, err, sizeof(err)), ACCOUNT_OK);
	assert_string_equal(a, "j\xc3\xb6rg@example.org");
	free(a);
}

static void
test_check_mailbox(void **state)
{
	char err[256], *a = NULL, *d = NULL;

	(void)state;
	assert_int_equal(account_check_mailbox("first.last+tag@example.org",
	    &a, &d, err, sizeof(err)), ACCOUNT_OK);
	free(a);
	free(d);
	/* '/' is atext, but the local part names the maildir. */
	assert_int_equal(account_check_mailbox("a/b@example.org", &a, &d, err,
	    sizeof(err)), ACCOUNT_INVALID);
	assert_non_null(strstr(err, "'/'"));
	assert_null(a);
	assert_null(d);
	assert_int_equal(account_check_mailbox("@example.org", &a, &d, err,
	    sizeof(err)), ACCOUNT_INVALID);
}

static void
test_check_targets(void **state)
{
	char err[256], *g = NULL;

	(void)state;
	assert_int_equal(account_check_targets("B@Example.org, c@x.net,"
	    "b@example.org  d@y.org", &g, err, sizeof(err)), ACCOUNT_OK);
	assert_string_equal(g, "b@example.org,c@x.net,d@y.org");
	free(g);
	assert_int_equal(account_check_targets(" , ", &g, err, sizeof(err)),
	    ACCOUNT_INVALID);
	assert_non_null(strstr(err, "no target"));
	assert_int_equal(account_check_targets("a@b.org,@example.org", &g,
	    err, sizeof(err)), ACCOUNT_INVALID);
	assert_int_equal(account_check_targets("a@b.org,nodomain", &g, err,
	    sizeof(err)), ACCOUNT_INVALID);
	assert_null(g);
}

static void
test_sizes(void **state)
{
	static const struct {
		const char *in;
		uint64_t bytes;
		const char *shown;
	} good[] = {
		{ "0", 0, "-" }, { "1000", 1000, "1000" },
		{ "1024", 1024, "1K" }, { "500M", 500ull << 20, "500M" },
		{ "2g", 2ull << 30, "2G" }, { "1536MB", 1536ull << 20, "1536M" },
		{ "3T", 3ull << 40, "3T" }, { "1k", 1024, "1K" },
	};
	static const char *const bad[] = { "", "M", "1X", "1MM", "-1",
		" 1", "1 M", "99999999999999999999", "9000000T" };
	char err[256];
	uint64_t b;

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(good); i++) {
		char *s;

		if (account_parse_size(good[i].in, &b, err, sizeof(err)) !=
		    ACCOUNT_OK)
			fail_msg("%s: %s", good[i].in, err);
		assert_int_equal(b, good[i].bytes);
		s = account_format_size(b);
		assert_string_equal(s, good[i].shown);
		free(s);
	}
	for (size_t i = 0; i < N_ELEMENTS(bad); i++)
		if (account_parse_size(bad[i], &b, err, sizeof(err)) !=
		    ACCOUNT_INVALID)
			fail_msg("\"%s\" accepted", bad[i]);
}

/* ---------------------------------------------------------------- */

static void
test_schema(void **state)
{
	struct fixture *f = *state;
	struct stat sb;
	char *sql;

	assert_true(f->adb.created);
	assert_int_equal(lstat(f->path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, ACCOUNT_DB_MODE);
	assert_int_equal(sql_int(f, "SELECT version FROM schema_version"),
	    ACCOUNT_SCHEMA_VERSION);
	assert_int_equal(sql_int(f, "SELECT count(*) FROM schema_version"), 1);
	assert_int_equal(sql_int(f, "SELECT count(*) FROM sqlite_master WHERE "
	    "name IN ('domain', 'mailbox', 'alias', 'sender_grant', "
	    "'sender_login')"), 5);

	/* Opening again changes nothing and creates nothing. */
	account_db_close(&f->adb);
	ok(f, account_db_open(&f->adb, f->path, 0, (gid_t)-1, f->err,
	    sizeof(f->err)));
	assert_false(f->adb.created);
	assert_int_equal(sql_int(f, "SELECT count(*) FROM schema_version"), 1);

	/* A newer schema is refused, not changed. */
	assert_int_equal(sqlite3_exec(f->adb.db, "UPDATE schema_version SET "
	    "version = 99", NULL, NULL, NULL), SQLITE_OK);
	account_db_close(&f->adb);
	refused(f, ACCOUNT_SCHEMA, "schema version 99", account_db_open(
	    &f->adb, f->path, 0, (gid_t)-1, f->err, sizeof(f->err)));
	assert_null(f->adb.db);

	/* Missing without ACCOUNT_DB_CREATE; not a database. */
	sql = xasprintf("%s/none.sqlite", f->dir);
	refused(f, ACCOUNT_NOT_FOUND, "no account database", account_db_open(
	    &f->adb, sql, 0, (gid_t)-1, f->err, sizeof(f->err)));
	assert_int_equal(access(sql, F_OK), -1);
	free(sql);
	sql = xasprintf("%s/junk.sqlite", f->dir);
	{
		FILE *fp = fopen(sql, "w");

		assert_non_null(fp);
		fputs("this is not an SQLite database, not at all; it is "
		    "long enough to have a header though\n", fp);
		fclose(fp);
	}
	refused(f, ACCOUNT_SCHEMA, "junk.sqlite", account_db_open(&f->adb,
	    sql, ACCOUNT_DB_CREATE, (gid_t)-1, f->err, sizeof(f->err)));
	free(sql);
	/* A symbolic link is refused. */
	sql = xasprintf("%s/link.sqlite", f->dir);
	assert_int_equal(symlink(f->path, sql), 0);
	assert_int_not_equal(account_db_open(&f->adb, sql, ACCOUNT_DB_CREATE,
	    (gid_t)-1, f->err, sizeof(f->err)), ACCOUNT_OK);
	free(sql);
}

static void
test_domains(void **state)
{
	struct fixture *f = *state;
	char *desc;

	ok(f, account_domain_add(&f->adb, "Example.ORG", "our\tdomain",
	    f->err, sizeof(f->err)));
	refused(f, ACCOUNT_EXISTS, "exists already", account_domain_add(
	    &f->adb, "example.org", NULL, f->err, sizeof(f->err)));
	refused(f, ACCOUNT_INVALID, "not a valid domain", account_domain_add(
	    &f->adb, "exa$mple.org", NULL, f->err, sizeof(f->err)));
	assert_int_equal(account_domain_exists(&f->adb, "example.org", f->err,
	    sizeof(f->err)), 1);
	desc = sql_text(f, "SELECT description FROM domain");
	assert_string_equal(desc, "our?domain");
	free(desc);

	ok(f, account_set_active(&f->adb, ACCOUNT_KIND_DOMAIN, "example.org",
	    false, f->err, sizeof(f->err)));
	assert_int_equal(sql_int(f, "SELECT active FROM domain"), 0);
	refused(f, ACCOUNT_NOT_FOUND, "no domain other.org",
	    account_set_active(&f->adb, ACCOUNT_KIND_DOMAIN, "other.org", true,
	    f->err, sizeof(f->err)));

	refused(f, ACCOUNT_NOT_FOUND, "no domain other.org",
	    account_domain_del(&f->adb, "other.org", false, f->err,
	    sizeof(f->err)));
	ok(f, account_domain_del(&f->adb, "EXAMPLE.org", false, f->err,
	    sizeof(f->err)));
	assert_int_equal(sql_int(f, "SELECT count(*) FROM domain"), 0);
}

static void
test_users(void **state)
{
	struct fixture *f = *state;
	struct account_user_spec spec = { "Alice", 2ull << 30, HASH_A };
	char *s;

	refused(f, ACCOUNT_NOT_FOUND, "no domain example.org",
	    account_user_check_new(&f->adb, "alice@example.org", NULL, f->err,
	    sizeof(f->err)));
	refused(f, ACCOUNT_NOT_FOUND, "ostia domain add example.org",
	    account_user_add(&f->adb, "alice@example.org", &spec, f->err,
	    sizeof(f->err)));
	ok(f, account_domain_add(&f->adb, "example.org", NULL, f->err,
	    sizeof(f->err)));
	ok(f, account_user_check_new(&f->adb, "Alice@Example.org", &s, f->err,
	    sizeof(f->err)));
	assert_string_equal(s, "alice@example.org");
	free(s);
	ok(f, account_user_add(&f->adb, "Alice@Example.org", &spec, f->err,
	    sizeof(f->err)));
	refused(f, ACCOUNT_EXISTS, "exists already", account_user_add(&f->adb,
	    "alice@example.org", &spec, f->err, sizeof(f->err)));
	refused(f, ACCOUNT_EXISTS, "exists already", account_user_check_new(
	    &f->adb, "ALICE@example.org", NULL, f->err, sizeof(f->err)));
	refused(f, ACCOUNT_INVALID, "'/'", account_user_add(&f->adb,
	    "a/b@example.org", &spec, f->err, sizeof(f->err)));

	s = sql_text(f, "SELECT username || '|' || maildir || '|' || quota || "
	    "'|' || password || '|' || name || '|' || domain || '|' || active "
	    "FROM mailbox");
	assert_string_equal(s, "alice@example.org|example.org/alice/|"
	    "2147483648|" HASH_A "|Alice|example.org|1");
	free(s);

	/* A stored value that is not "{SCHEME}..." never gets in. */
	spec.password = "plaintext";
	refused(f, ACCOUNT_INVALID, "{SCHEME}", account_user_add(&f->adb,
	    "bob@example.org", &spec, f->err, sizeof(f->err)));
	assert_int_equal(sql_int(f, "SELECT count(*) FROM mailbox"), 1);

	ok(f, account_user_passwd(&f->adb, "alice@example.org", HASH_B, f->err,
	    sizeof(f->err)));
	s = sql_text(f, "SELECT password FROM mailbox");
	assert_string_equal(s, HASH_B);
	free(s);
	refused(f, ACCOUNT_NOT_FOUND, "no mailbox bob@example.org",
	    account_user_passwd(&f->adb, "bob@example.org", HASH_B, f->err,
	    sizeof(f->err)));
	refused(f, ACCOUNT_NOT_FOUND, "no mailbox",
	    account_user_check_exists(&f->adb, "bob@example.org", NULL, f->err,
	    sizeof(f->err)));

	ok(f, account_set_active(&f->adb, ACCOUNT_KIND_USER,
	    "alice@example.org", false, f->err, sizeof(f->err)));
	assert_int_equal(sql_int(f, "SELECT active FROM mailbox"), 0);
	refused(f, ACCOUNT_NOT_FOUND, "no mailbox", account_set_active(
	    &f->adb, ACCOUNT_KIND_USER, "bob@example.org", false, f->err,
	    sizeof(f->err)));

	/* A domain with a mailbox is not deleted without force. */
	refused(f, ACCOUNT_IN_USE, "1 mailbox and 0 aliases",
	    account_domain_del(&f->adb, "example.org", false, f->err,
	    sizeof(f->err)));
	assert_int_equal(sql_int(f, "SELECT count(*) FROM domain"), 1);
	ok(f, account_user_del(&f->adb, "alice@example.org", false, f->err,
	    sizeof(f->err)));
	refused(f, ACCOUNT_NOT_FOUND, "no mailbox", account_user_del(&f->adb,
	    "alice@example.org", false, f->err, sizeof(f->err)));
	assert_int_equal(sql_int(f, "SELECT count(*) FROM mailbox"), 0);
}

static void
test_aliases(void **state)
{
	struct fixture *f = *state;
	char *s;

	refused(f, ACCOUNT_NOT_FOUND, "no domain example.org",
	    account_alias_add(&f->adb, "sales@example.org", "a@b.org", f->err,
	    sizeof(f->err)));
	ok(f, account_domain_add(&f->adb, "example.org", NULL, f->err,
	    sizeof(f->err)));
	ok(f, account_alias_add(&f->adb, "Sales@example.org",
	    "A@b.org, c@d.org", f->err, sizeof(f->err)));
	ok(f, account_alias_add(&f->adb, "@example.org", "a@b.org", f->err,
	    sizeof(f->err)));
	refused(f, ACCOUNT_EXISTS, "exists already", account_alias_add(
	    &f->adb, "sales@example.org", "x@y.org", f->err, sizeof(f->err)));
	refused(f, ACCOUNT_INVALID, "not a mail address", account_alias_add(
	    &f->adb, "info@example.org", "nobody", f->err, sizeof(f->err)));
	s = sql_text(f, "SELECT goto || '|' || domain FROM alias WHERE "
	    "address = 'sales@example.org'");
	assert_string_equal(s, "a@b.org,c@d.org|example.org");
	free(s);

	ok(f, account_set_active(&f->adb, ACCOUNT_KIND_ALIAS, "@example.org",
	    false, f->err, sizeof(f->err)));
	assert_int_equal(sql_int(f, "SELECT active FROM alias WHERE address = "
	    "'@example.org'"), 0);

	refused(f, ACCOUNT_IN_USE, "0 mailboxes and 2 aliases",
	    account_domain_del(&f->adb, "example.org", false, f->err,
	    sizeof(f->err)));
	ok(f, account_alias_del(&f->adb, "SALES@example.org", f->err,
	    sizeof(f->err)));
	refused(f, ACCOUNT_NOT_FOUND, "no alias sales@example.org",
	    account_alias_del(&f->adb, "sales@example.org", f->err,
	    sizeof(f->err)));
	assert_int_equal(sql_int(f, "SELECT count(*) FROM alias"), 1);
}

static void
test_delete_cleanup(void **state)
{
	struct fixture *f = *state;
	char *s;

	ok(f, account_domain_add(&f->adb, "a.org", NULL, f->err,
	    sizeof(f->err)));
	ok(f, account_domain_add(&f->adb, "b.org", NULL, f->err,
	    sizeof(f->err)));
	add_user(f, "alice@a.org", HASH_A);
	add_user(f, "bob@a.org", HASH_A);
	ok(f, account_alias_add(&f->adb, "team@b.org", "alice@a.org,bob@a.org",
	    f->err, sizeof(f->err)));
	ok(f, account_alias_add(&f->adb, "boss@b.org", "alice@a.org", f->err,
	    sizeof(f->err)));
	/* Her own alias (forward and keep a copy) goes with her. */
	ok(f, account_alias_add(&f->adb, "alice@a.org", "alice@a.org,x@y.org",
	    f->err, sizeof(f->err)));
	assert_int_equal(sqlite3_exec(f->adb.db, "INSERT INTO sender_grant "
	    "VALUES ('alice@a.org', 'shared@b.org')", NULL, NULL, NULL),
	    SQLITE_OK);

	/* boss@b.org would be left without a target: refused, and nothing
	 * changed (the transaction rolled back). */
	refused(f, ACCOUNT_IN_USE, "boss@b.org", account_user_del(&f->adb,
	    "alice@a.org", false, f->err, sizeof(f->err)));
	assert_int_equal(sql_int(f, "SELECT count(*) FROM mailbox"), 2);
	assert_int_equal(sql_int(f, "SELECT count(*) FROM alias"), 3);
	s = sql_text(f, "SELECT goto FROM alias WHERE address = 'team@b.org'");
	assert_string_equal(s, "alice@a.org,bob@a.org");
	free(s);

	ok(f, account_user_del(&f->adb, "alice@a.org", true, f->err,
	    sizeof(f->err)));
	s = sql_text(f, "SELECT group_concat(address || '=' || goto, ';') FROM "
	    "(SELECT * FROM alias ORDER BY address)");
	assert_string_equal(s, "team@b.org=bob@a.org");
	free(s);
	assert_int_equal(sql_int(f, "SELECT count(*) FROM sender_grant"), 0);

	/* Deleting a.org with force takes bob out of team@b.org, which is
	 * then left empty and deleted. */
	refused(f, ACCOUNT_IN_USE, "--force", account_domain_del(&f->adb,
	    "a.org", false, f->err, sizeof(f->err)));
	ok(f, account_domain_del(&f->adb, "a.org", true, f->err,
	    sizeof(f->err)));
	assert_int_equal(sql_int(f, "SELECT count(*) FROM mailbox"), 0);
	assert_int_equal(sql_int(f, "SELECT count(*) FROM alias"), 0);
	assert_int_equal(sql_int(f, "SELECT count(*) FROM domain"), 1);
}

static void
test_list(void **state)
{
	struct fixture *f = *state;
	struct account_user_spec spec = { "Al\x1b[31mice", 500ull << 20,
		HASH_B };
	struct account_rows rows;

	ok(f, account_domain_add(&f->adb, "b.org", "second", f->err,
	    sizeof(f->err)));
	ok(f, account_domain_add(&f->adb, "a.org", NULL, f->err,
	    sizeof(f->err)));
	ok(f, account_user_add(&f->adb, "zed@a.org", &spec, f->err,
	    sizeof(f->err)));
	add_user(f, "amy@b.org", HASH_A);
	ok(f, account_alias_add(&f->adb, "@a.org", "zed@a.org", f->err,
	    sizeof(f->err)));

	ok(f, account_list(&f->adb, ACCOUNT_KIND_DOMAIN, NULL, &rows, f->err,
	    sizeof(f->err)));
	assert_int_equal(rows.nrows, 2);
	assert_string_equal(rows.headers[0], "DOMAIN");
	assert_string_equal(account_cell(&rows, 0, 0), "a.org");
	assert_string_equal(account_cell(&rows, 0, 1), "yes");
	assert_string_equal(account_cell(&rows, 0, 2), "1");
	assert_string_equal(account_cell(&rows, 0, 3), "1");
	assert_string_equal(account_cell(&rows, 1, 5), "second");
	account_rows_free(&rows);

	ok(f, account_list(&f->adb, ACCOUNT_KIND_USER, NULL, &rows, f->err,
	    sizeof(f->err)));
	assert_int_equal(rows.nrows, 2);
	assert_string_equal(account_cell(&rows, 0, 0), "zed@a.org");
	assert_string_equal(account_cell(&rows, 0, 2), "500M");
	assert_string_equal(account_cell(&rows, 0, 3), "ARGON2ID");
	assert_string_equal(account_cell(&rows, 0, 4), "a.org/zed/");
	assert_string_equal(account_cell(&rows, 0, 6), "Al?[31mice");
	assert_string_equal(account_cell(&rows, 1, 3), "SHA512-CRYPT");
	/* No cell holds a hash. */
	for (size_t r = 0; r < rows.nrows; r++)
		for (size_t c = 0; c < rows.ncols; c++)
			assert_null(strchr(account_cell(&rows, r, c), '$'));
	account_rows_free(&rows);

	ok(f, account_list(&f->adb, ACCOUNT_KIND_USER, "B.org", &rows, f->err,
	    sizeof(f->err)));
	assert_int_equal(rows.nrows, 1);
	assert_string_equal(account_cell(&rows, 0, 0), "amy@b.org");
	account_rows_free(&rows);
	refused(f, ACCOUNT_NOT_FOUND, "no domain c.org", account_list(&f->adb,
	    ACCOUNT_KIND_ALIAS, "c.org", &rows, f->err, sizeof(f->err)));

	ok(f, account_list(&f->adb, ACCOUNT_KIND_ALIAS, "a.org", &rows, f->err,
	    sizeof(f->err)));
	assert_int_equal(rows.nrows, 1);
	assert_string_equal(account_cell(&rows, 0, 0), "@a.org");
	assert_string_equal(account_cell(&rows, 0, 2), "zed@a.org");
	account_rows_free(&rows);
}

static void
test_busy(void **state)
{
	struct fixture *f = *state;
	sqlite3 *other = NULL;

	assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
	assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL,
	    NULL), SQLITE_OK);
	sqlite3_busy_timeout(f->adb.db, 0);
	refused(f, ACCOUNT_DB_ERROR, "try again", account_domain_add(&f->adb,
	    "example.org", NULL, f->err, sizeof(f->err)));
	assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(other);
	ok(f, account_domain_add(&f->adb, "example.org", NULL, f->err,
	    sizeof(f->err)));

	/* A read-only file: reads work, writes fail as DB_ERROR. */
	if (geteuid() != 0) {
		struct account_rows rows;

		account_db_close(&f->adb);
		assert_int_equal(chmod(f->path, 0440), 0);
		ok(f, account_db_open(&f->adb, f->path, 0, (gid_t)-1, f->err,
		    sizeof(f->err)));
		ok(f, account_list(&f->adb, ACCOUNT_KIND_DOMAIN, NULL, &rows,
		    f->err, sizeof(f->err)));
		assert_int_equal(rows.nrows, 1);
		account_rows_free(&rows);
		refused(f, ACCOUNT_DB_ERROR, "", account_domain_add(&f->adb,
		    "other.org", NULL, f->err, sizeof(f->err)));
	}
}

/* ---------------------------------------------------------------- */
/* The generated .cf files through the sqlite: table type            */

static struct dict *
open_table(struct fixture *f, const char *param)
{
	const struct account_table_def *defs;
	struct dict_open_opts opts;
	char err[DICT_ERR_MAX_BYTES], *path, *text, *spec;
	struct dict *d = NULL;
	size_t n;
	FILE *fp;

	defs = account_table_defs(&n);
	for (size_t i = 0; i < n && d == NULL; i++) {
		if (strcmp(defs[i].param, param) != 0)
			continue;
		ok(f, account_table_cf_text(&defs[i], f->path, &text, f->err,
		    sizeof(f->err)));
		path = xasprintf("%s/%s", f->dir, defs[i].file);
		fp = fopen(path, "w");
		assert_non_null(fp);
		assert_true(fputs(text, fp) >= 0);
		assert_int_equal(fclose(fp), 0);
		assert_int_equal(chmod(path, 0644), 0);
		dict_open_opts_init(&opts);
		opts.trusted_uid = geteuid();
		spec = xasprintf("sqlite:%s", path);
		d = dict_open(spec, &opts, err, sizeof(err));
		if (d == NULL)
			fail_msg("%s: %s\n%s", spec, err, text);
		free(spec);
		free(path);
		free(text);
	}
	if (d == NULL)
		fail_msg("no table for %s", param);
	return d;
}

static void
expect(struct dict *d, const char *key, const char *want)
{
	char err[DICT_ERR_MAX_BYTES];
	struct buf v;
	enum dict_status st;

	buf_init(&v, DICT_VALUE_MAX_BYTES);
	st = dict_get(d, key, &v, err, sizeof(err));
	if (want == NULL && st != DICT_NOTFOUND)
		fail_msg("%s: %s: want not found, got %d \"%s\" %s", d->spec,
		    key, st, buf_cstr(&v), err);
	if (want != NULL && (st != DICT_FOUND ||
	    strcmp(buf_cstr(&v), want) != 0))
		fail_msg("%s: %s: want \"%s\", got %d \"%s\" %s", d->spec, key,
		    want, st, buf_cstr(&v), err);
	buf_deinit(&v);
}

static void
test_tables(void **state)
{
	struct fixture *f = *state;
	struct dict *dom, *mbox, *alias, *sender, *pw;
	char err[256], *text;
	const struct account_table_def *defs;
	size_t n;

	ok(f, account_domain_add(&f->adb, "a.org", NULL, f->err,
	    sizeof(f->err)));
	ok(f, account_domain_add(&f->adb, "off.org", NULL, f->err,
	    sizeof(f->err)));
	add_user(f, "alice@a.org", HASH_A);
	add_user(f, "bob@a.org", HASH_B);
	add_user(f, "carol@a.org", HASH_A);
	add_user(f, "dave@off.org", HASH_A);
	ok(f, account_set_active(&f->adb, ACCOUNT_KIND_USER, "carol@a.org",
	    false, f->err, sizeof(f->err)));
	ok(f, account_set_active(&f->adb, ACCOUNT_KIND_DOMAIN, "off.org",
	    false, f->err, sizeof(f->err)));
	ok(f, account_alias_add(&f->adb, "sales@a.org", "alice@a.org,"
	    "bob@a.org,ext@x.net", f->err, sizeof(f->err)));
	ok(f, account_alias_add(&f->adb, "@a.org", "alice@a.org", f->err,
	    sizeof(f->err)));
	ok(f, account_alias_add(&f->adb, "bob@a.org", "bob@a.org,bob@x.net",
	    f->err, sizeof(f->err)));
	ok(f, account_alias_add(&f->adb, "old@a.org", "carol@a.org", f->err,
	    sizeof(f->err)));
	ok(f, account_alias_add(&f->adb, "gone@a.org", "bob@a.org", f->err,
	    sizeof(f->err)));
	ok(f, account_set_active(&f->adb, ACCOUNT_KIND_ALIAS, "gone@a.org",
	    false, f->err, sizeof(f->err)));
	assert_int_equal(sqlite3_exec(f->adb.db, "INSERT INTO sender_grant "
	    "VALUES ('bob@a.org', 'shared@a.org')", NULL, NULL, NULL),
	    SQLITE_OK);

	dom = open_table(f, "virtual_mailbox_domains");
	expect(dom, "a.org", "a.org");
	expect(dom, "A.ORG", "a.org");
	expect(dom, "off.org", NULL);
	expect(dom, "b.org", NULL);
	dict_close(dom);

	mbox = open_table(f, "virtual_mailbox_maps");
	expect(mbox, "alice@a.org", "a.org/alice/");
	expect(mbox, "Alice@A.org", "a.org/alice/");
	expect(mbox, "carol@a.org", NULL);	/* disabled */
	expect(mbox, "dave@off.org", NULL);	/* domain disabled */
	expect(mbox, "nobody@a.org", NULL);
	dict_close(mbox);

	alias = open_table(f, "virtual_alias_maps");
	expect(alias, "sales@a.org", "alice@a.org,bob@a.org,ext@x.net");
	expect(alias, "@a.org", "alice@a.org");
	/* A mailbox maps to itself, so the catch-all does not take it... */
	expect(alias, "alice@a.org", "alice@a.org");
	expect(alias, "carol@a.org", "carol@a.org");
	/* ...unless it has an alias of its own. */
	expect(alias, "bob@a.org", "bob@a.org,bob@x.net");
	expect(alias, "gone@a.org", NULL);	/* alias disabled */
	expect(alias, "nobody@a.org", NULL);
	expect(alias, "@b.org", NULL);
	dict_close(alias);

	sender = open_table(f, "smtpd_sender_login_maps");
	expect(sender, "alice@a.org", "alice@a.org");
	expect(sender, "@a.org", "alice@a.org");
	expect(sender, "bob@a.org", "bob@a.org");
	expect(sender, "shared@a.org", "bob@a.org");
	expect(sender, "carol@a.org", NULL);	/* disabled */
	expect(sender, "old@a.org", NULL);	/* leads to a disabled one */
	expect(sender, "gone@a.org", NULL);	/* alias disabled */
	expect(sender, "dave@off.org", NULL);
	{
		char e[DICT_ERR_MAX_BYTES];
		struct buf v;

		/* Two logins, in some order. */
		buf_init(&v, DICT_VALUE_MAX_BYTES);
		assert_int_equal(dict_get(sender, "sales@a.org", &v, e,
		    sizeof(e)), DICT_FOUND);
		assert_true(strcmp(buf_cstr(&v), "alice@a.org,bob@a.org") ==
		    0 || strcmp(buf_cstr(&v), "bob@a.org,alice@a.org") == 0);
		buf_deinit(&v);
	}
	dict_close(sender);

	pw = open_table(f, "smtpd_sasl_password_maps");
	expect(pw, "alice@a.org", HASH_A);
	expect(pw, "bob@a.org", HASH_B);
	expect(pw, "carol@a.org", NULL);
	expect(pw, "dave@off.org", NULL);
	expect(pw, "sales@a.org", NULL);
	expect(pw, "' OR 1=1 --", NULL);
	dict_close(pw);

	/* The database path must be absolute and clean. */
	defs = account_table_defs(&n);
	assert_int_equal(n, 5);
	assert_int_equal(account_table_cf_text(&defs[0], "rel/a.sqlite", &text,
	    err, sizeof(err)), ACCOUNT_INVALID);
	assert_int_equal(account_table_cf_text(&defs[0], "/a\nquery = x",
	    &text, err, sizeof(err)), ACCOUNT_INVALID);
	assert_null(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_domain),
		cmocka_unit_test(test_check_address),
		cmocka_unit_test(test_check_mailbox),
		cmocka_unit_test(test_check_targets),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test_setup_teardown(test_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(test_domains, setup, teardown),
		cmocka_unit_test_setup_teardown(test_users, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aliases, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_cleanup, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tables, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
