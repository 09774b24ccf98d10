/* SPDX-License-Identifier: MIT */
/*
 * account_db - Ostia's embedded account database (SQLite): the schema,
 * its creation on first use, and the operations behind `ostia domain`,
 * `ostia user` and `ostia alias` (src/cli/cmd_account.c).
 *
 * The schema (docs/accounts.md) is shaped like iRedMail's vmail tables,
 * so the same kind of SQL table queries work: domain, mailbox (username
 * = the full address, password = "{SCHEME}hash", maildir relative to
 * virtual_mailbox_base), alias (address or "@domain" catch-all, goto =
 * comma-separated targets), sender_grant (extra sender rights) and the
 * view sender_login (address -> login: every active mailbox owns its own
 * address and the aliases that lead to it, plus sender_grant).
 * schema_version holds ACCOUNT_SCHEMA_VERSION for later migrations.
 *
 * Names are stored in lower case (ASCII folding, as dict_get() folds
 * lookup keys); CHECK constraints refuse rows that are not.
 *
 * Every operation validates its input itself (the one place of the
 * rules: addresses through address.h, a mailbox's domain must exist,
 * duplicates refused) and writes in one transaction (BEGIN IMMEDIATE,
 * waiting at most ACCOUNT_BUSY_TIMEOUT_MS for another writer).  Results
 * are enum account_status with a message in err (at most errsz bytes,
 * never a password or a hash).
 *
 * The database never holds plain passwords: callers hash them first
 * (passwd.h) and pass the "{SCHEME}..." string.
 *
 * Not thread-safe: one struct account_db per thread.
 */
#ifndef OSTIA_ACCOUNT_DB_H
#define OSTIA_ACCOUNT_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ACCOUNT_SCHEMA_VERSION 1
/* How long a write waits for another writer's lock. */
#define ACCOUNT_BUSY_TIMEOUT_MS 5000
/* Mode of a database file created here. */
#define ACCOUNT_DB_MODE 0640
/* Limits on what is stored. */
#define ACCOUNT_NAME_MAX_BYTES 255		/* display name, description */
#define ACCOUNT_HASH_MAX_BYTES 1024		/* "{SCHEME}hash" */
#define ACCOUNT_ALIAS_MAX_TARGETS 1000		/* virtual_alias_expansion_limit */
#define ACCOUNT_GOTO_MAX_BYTES (60 * 1024)	/* under DICT_VALUE_MAX_BYTES */
#define ACCOUNT_ERR_MAX_BYTES 1024

enum account_status {
	ACCOUNT_OK = 0,
	ACCOUNT_INVALID,	/* bad input (syntax, unknown scheme, ...) */
	ACCOUNT_EXISTS,		/* already there */
	ACCOUNT_NOT_FOUND,	/* no such domain, mailbox or alias */
	ACCOUNT_IN_USE,		/* deleting would leave something behind
				 * and force was not given */
	ACCOUNT_SCHEMA,		/* the database is newer than this program
				 * or is not an account database */
	ACCOUNT_DB_ERROR,	/* SQLite failed: busy, read-only, I/O,
				 * corrupt (retrying later may help) */
};

struct sqlite3;

struct account_db {
	struct sqlite3 *db;
	char *path;
	bool created;		/* the file was created by account_db_open */
};

/* account_db_open flags */
#define ACCOUNT_DB_CREATE (1u << 0)	/* create the file when missing */

/*
 * Open the database at path (absolute or relative; symbolic links are
 * refused, SQLITE_OPEN_NOFOLLOW) and make sure its schema is there,
 * creating the tables in one transaction when they are missing.  With
 * ACCOUNT_DB_CREATE a missing file is created with mode
 * ACCOUNT_DB_MODE and, when group is not (gid_t)-1, that group (the
 * caller is root and the lookup process reads the file as mail_owner);
 * its directory must exist.  A file SQLite can only read is opened
 * read-only: reads work, writes fail with ACCOUNT_DB_ERROR.
 * Returns ACCOUNT_OK (close with account_db_close), ACCOUNT_NOT_FOUND
 * (missing and no ACCOUNT_DB_CREATE), ACCOUNT_SCHEMA (version newer
 * than ACCOUNT_SCHEMA_VERSION, or not a database) or ACCOUNT_DB_ERROR.
 * On failure adb is left closed.
 */
enum account_status account_db_open(struct account_db *adb, const char *path,
    unsigned flags, gid_t group, char *err, size_t errsz);
void account_db_close(struct account_db *adb);

/*
 * Input checks, also used by the operations.  Each returns ACCOUNT_OK
 * with a new lower-case string (caller frees) or ACCOUNT_INVALID with
 * err in plain words.
 *
 * account_check_domain: a host name (address.h rules, UTF-8 allowed;
 *   no address literal, no trailing dot).
 * account_check_address: local@domain (no angle brackets, no source
 *   route, no quoted local part); with catchall true "@domain" is also
 *   accepted.  *domain_r (may be NULL) gets the domain part.
 * account_check_mailbox: account_check_address without catch-all, and
 *   a local part that can be a directory name (no '/', not "." or "..").
 */
enum account_status account_check_domain(const char *in, char **domain_r,
    char *err, size_t errsz);
enum account_status account_check_address(const char *in, bool catchall,
    char **address_r, char **domain_r, char *err, size_t errsz);
enum account_status account_check_mailbox(const char *in, char **address_r,
    char **domain_r, char *err, size_t errsz);
/*
 * Targets of an alias: addresses separated by commas and/or white space,
 * at least one, at most ACCOUNT_ALIAS_MAX_TARGETS, duplicates dropped,
 * order kept.  *goto_r: "a@x,b@y" (lower case, no spaces).
 */
enum account_status account_check_targets(const char *in, char **goto_r,
    char *err, size_t errsz);
/*
 * A size: decimal bytes with an optional suffix K, M, G or T (powers of
 * 1024, any case, optional trailing "B"); "0" means no quota.
 */
enum account_status account_parse_size(const char *in, uint64_t *bytes_r,
    char *err, size_t errsz);
/* Display form of a size: "-" for 0, "2G", "1536M", "100000". */
char *account_format_size(uint64_t bytes);

/* ---- domains */

/* description may be NULL (""). */
enum account_status account_domain_add(struct account_db *adb,
    const char *domain, const char *description, char *err, size_t errsz);
/*
 * Delete a domain.  When it still has mailboxes or aliases: without
 * force ACCOUNT_IN_USE (err counts them); with force they go too
 * (aliases elsewhere lose the deleted mailboxes as targets, as with
 * account_user_del with force), and so do sender_grant rows of its
 * logins and addresses.  Mail on disk is not touched.
 */
enum account_status account_domain_del(struct account_db *adb,
    const char *domain, bool force, char *err, size_t errsz);
/* True when domain (already checked and lower case) exists: 1 yes,
 * 0 no, -1 database error (err). */
int account_domain_exists(struct account_db *adb, const char *domain,
    char *err, size_t errsz);

/* ---- mailboxes */

struct account_user_spec {
	const char *name;	/* display name; NULL = "" */
	uint64_t quota;		/* bytes; 0 = none */
	const char *password;	/* "{SCHEME}hash" from passwd_hash() */
};

/*
 * Check that address can be added as a new mailbox (syntax, its domain
 * exists, no mailbox with it yet) without writing anything: the command
 * calls it before asking for the password.  *address_r (may be NULL):
 * the normalised address.
 */
enum account_status account_user_check_new(struct account_db *adb,
    const char *address, char **address_r, char *err, size_t errsz);
/* Add a mailbox; maildir becomes "domain/local/". */
enum account_status account_user_add(struct account_db *adb,
    const char *address, const struct account_user_spec *spec, char *err,
    size_t errsz);
/* Check that a mailbox exists (before asking for a new password). */
enum account_status account_user_check_exists(struct account_db *adb,
    const char *address, char **address_r, char *err, size_t errsz);
enum account_status account_user_passwd(struct account_db *adb,
    const char *address, const char *password_hash, char *err, size_t errsz);
/*
 * Delete a mailbox, the aliases whose own address it is, its
 * sender_grant rows, and the address from the targets of every other
 * alias.  An alias that has the address as its only target would be
 * left with none: without force ACCOUNT_IN_USE (err names it), with
 * force that alias is deleted too.  The maildir on disk stays.
 */
enum account_status account_user_del(struct account_db *adb,
    const char *address, bool force, char *err, size_t errsz);

/* ---- aliases */

enum account_status account_alias_add(struct account_db *adb,
    const char *address, const char *targets, char *err, size_t errsz);
enum account_status account_alias_del(struct account_db *adb,
    const char *address, char *err, size_t errsz);

/* ---- all three */

enum account_kind {
	ACCOUNT_KIND_DOMAIN,
	ACCOUNT_KIND_USER,
	ACCOUNT_KIND_ALIAS,
};

/* Set the active flag of a domain, a mailbox or an alias. */
enum account_status account_set_active(struct account_db *adb,
    enum account_kind kind, const char *name, bool active, char *err,
    size_t errsz);

/*
 * A listing as a table of strings for the command to align: headers
 * (static) and nrows * ncols cells (row-major, each a new string with
 * control bytes replaced by '?', never a password hash).
 */
struct account_rows {
	size_t ncols, nrows;
	const char *const *headers;
	char **cells;
};

/*
 * List domains (domain NULL: all) with their counts; mailboxes or
 * aliases (domain NULL: all; else those of one existing domain, or
 * ACCOUNT_NOT_FOUND).  Sorted by domain, then address.  Free rows with
 * account_rows_free.
 *   domains:   DOMAIN ACTIVE MAILBOXES ALIASES CREATED DESCRIPTION
 *   mailboxes: ADDRESS ACTIVE QUOTA SCHEME MAILDIR CREATED NAME
 *   aliases:   ADDRESS ACTIVE TARGETS
 */
enum account_status account_list(struct account_db *adb,
    enum account_kind kind, const char *domain, struct account_rows *rows,
    char *err, size_t errsz);
void account_rows_free(struct account_rows *rows);
/* The cell at row r, column c. */
const char *account_cell(const struct account_rows *rows, size_t r, size_t c);

/* ---- SQL table files for the lookup layer */

struct account_table_def {
	const char *param;	/* main.cf parameter it is written for */
	const char *file;	/* file name in the tables directory */
	const char *what;	/* one line for the file's comment */
	const char *query;	/* sqlite_table(5) query */
};

/* The tables `ostia account tables` writes; *n_r of them. */
const struct account_table_def *account_table_defs(size_t *n_r);
/*
 * The text of the sqlite_table(5) .cf file of def for the database at
 * dbpath (absolute; no control characters: ACCOUNT_INVALID otherwise).
 */
enum account_status account_table_cf_text(const struct account_table_def *def,
    const char *dbpath, char **text_r, char *err, size_t errsz);

#endif
