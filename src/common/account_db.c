/* SPDX-License-Identifier: MIT */
/*
 * account_db - the embedded account database; see account_db.h and
 * docs/accounts.md (keep the schema there in step with SCHEMA_SQL).
 */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "account_db.h"
#include "address.h"
#include "buf.h"
#include "strnum.h"
#include "strv.h"
#include "xalloc.h"

/*
 * The schema, version 1.  Every statement is idempotent: run in one
 * transaction when schema_version is missing.  Later versions add
 * migration steps (ALTER TABLE ...) keyed on the stored version.
 */
static const char SCHEMA_SQL[] =
    "CREATE TABLE IF NOT EXISTS schema_version (\n"
    "    version INTEGER NOT NULL\n"
    ");\n"
    "CREATE TABLE IF NOT EXISTS domain (\n"
    "    domain      TEXT NOT NULL PRIMARY KEY\n"
    "                CHECK (domain = lower(domain) AND domain <> ''),\n"
    "    description TEXT NOT NULL DEFAULT '',\n"
    "    active      INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),\n"
    "    created     TEXT NOT NULL DEFAULT (datetime('now'))\n"
    ");\n"
    "CREATE TABLE IF NOT EXISTS mailbox (\n"
    "    username TEXT NOT NULL PRIMARY KEY\n"
    "             CHECK (username = lower(username)),\n"
    "    password TEXT NOT NULL,\n"
    "    name     TEXT NOT NULL DEFAULT '',\n"
    "    maildir  TEXT NOT NULL,\n"
    "    quota    INTEGER NOT NULL DEFAULT 0 CHECK (quota >= 0),\n"
    "    domain   TEXT NOT NULL REFERENCES domain (domain),\n"
    "    active   INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),\n"
    "    created  TEXT NOT NULL DEFAULT (datetime('now'))\n"
    ");\n"
    "CREATE INDEX IF NOT EXISTS mailbox_domain ON mailbox (domain);\n"
    "CREATE TABLE IF NOT EXISTS alias (\n"
    "    address TEXT NOT NULL PRIMARY KEY\n"
    "            CHECK (address = lower(address)),\n"
    "    goto    TEXT NOT NULL,\n"
    "    domain  TEXT NOT NULL REFERENCES domain (domain),\n"
    "    active  INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),\n"
    "    created TEXT NOT NULL DEFAULT (datetime('now'))\n"
    ");\n"
    "CREATE INDEX IF NOT EXISTS alias_domain ON alias (domain);\n"
    "CREATE TABLE IF NOT EXISTS sender_grant (\n"
    "    login   TEXT NOT NULL CHECK (login = lower(login)),\n"
    "    address TEXT NOT NULL CHECK (address = lower(address)),\n"
    "    PRIMARY KEY (login, address)\n"
    ");\n"
    "CREATE VIEW IF NOT EXISTS sender_login (address, login) AS\n"
    "    SELECT m.username, m.username\n"
    "      FROM mailbox m JOIN domain d ON d.domain = m.domain\n"
    "     WHERE m.active = 1 AND d.active = 1\n"
    "    UNION\n"
    "    SELECT a.address, m.username\n"
    "      FROM alias a\n"
    "      JOIN domain ad ON ad.domain = a.domain\n"
    "      JOIN mailbox m ON instr(',' || replace(a.goto, ' ', '') || ',',\n"
    "                              ',' || m.username || ',') > 0\n"
    "      JOIN domain md ON md.domain = m.domain\n"
    "     WHERE a.active = 1 AND ad.active = 1 AND m.active = 1\n"
    "       AND md.active = 1\n"
    "    UNION\n"
    "    SELECT g.address, g.login\n"
    "      FROM sender_grant g\n"
    "      JOIN mailbox m ON m.username = g.login\n"
    "      JOIN domain md ON md.domain = m.domain\n"
    "     WHERE m.active = 1 AND md.active = 1;\n"
    "INSERT INTO schema_version (version)\n"
    "    SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM schema_version);\n";

/* ---------------------------------------------------------------- */
/* Small helpers                                                    */

static void
ascii_lower(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

/*
 * shown - at most 80 bytes of untrusted input for a message, control
 * bytes as '?', "..." when cut.  Returns dst.
 */
static char *
shown(char *dst, size_t dstsz, const char *s)
{
	size_t i = 0, max = dstsz > 84 ? 80 : dstsz - 4;

	for (; s[i] != '\0' && i < max; i++) {
		unsigned char c = (unsigned char)s[i];

		dst[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	if (s[i] != '\0') {
		memcpy(dst + i, "...", 3);
		i += 3;
	}
	dst[i] = '\0';
	return dst;
}

#define SHOWN_MAX 88

static char *
clean_copy(const char *s)
{
	char *d = xstrdup(s != NULL ? s : "");

	for (char *p = d; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return d;
}

static enum account_status
dberr(struct account_db *adb, const char *what, char *err, size_t errsz)
{
	int code = sqlite3_errcode(adb->db) & 0xff;

	snprintf(err, errsz, "%s: %s: %s%s", adb->path, what,
	    sqlite3_errmsg(adb->db), code == SQLITE_BUSY ||
	    code == SQLITE_LOCKED ? " (another program is writing to it; "
	    "try again)" : code == SQLITE_READONLY ? " (no write access)" :
	    "");
	return ACCOUNT_DB_ERROR;
}

static int
exec(struct account_db *adb, const char *sql)
{
	return sqlite3_exec(adb->db, sql, NULL, NULL, NULL) == SQLITE_OK ?
	    0 : -1;
}

static enum account_status
begin(struct account_db *adb, char *err, size_t errsz)
{
	if (exec(adb, "BEGIN IMMEDIATE") < 0)
		return dberr(adb, "cannot start a write", err, errsz);
	return ACCOUNT_OK;
}

/* Commit when st is ACCOUNT_OK, else roll back; returns the outcome. */
static enum account_status
finish(struct account_db *adb, enum account_status st, char *err,
    size_t errsz)
{
	if (st == ACCOUNT_OK) {
		if (exec(adb, "COMMIT") == 0)
			return ACCOUNT_OK;
		st = dberr(adb, "commit", err, errsz);
	}
	if (sqlite3_get_autocommit(adb->db) == 0)
		(void)exec(adb, "ROLLBACK");
	return st;
}

/*
 * Prepare sql and bind the NULL-terminated list of text values to ?1,
 * ?2, ...  NULL with err on failure.
 */
static sqlite3_stmt *
prep(struct account_db *adb, const char *sql, const char *const *vals,
    char *err, size_t errsz)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(adb->db, sql, -1, &st, NULL) != SQLITE_OK) {
		(void)dberr(adb, "query", err, errsz);
		sqlite3_finalize(st);
		return NULL;
	}
	for (int i = 0; vals != NULL && vals[i] != NULL; i++)
		if (sqlite3_bind_text(st, i + 1, vals[i], -1,
		    SQLITE_TRANSIENT) != SQLITE_OK) {
			(void)dberr(adb, "query", err, errsz);
			sqlite3_finalize(st);
			return NULL;
		}
	return st;
}

/* Run a statement that returns no rows; -1 with err on failure. */
static int
run(struct account_db *adb, const char *sql, const char *const *vals,
    char *err, size_t errsz)
{
	sqlite3_stmt *st = prep(adb, sql, vals, err, errsz);
	int rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		(void)dberr(adb, "write", err, errsz);
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	return 0;
}

/* The integer of the first column of the first row (0 without rows);
 * -1 with err on failure. */
static long long
count(struct account_db *adb, const char *sql, const char *const *vals,
    char *err, size_t errsz)
{
	sqlite3_stmt *st = prep(adb, sql, vals, err, errsz);
	long long n = 0;
	int rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	else if (rc != SQLITE_DONE) {
		(void)dberr(adb, "read", err, errsz);
		n = -1;
	}
	sqlite3_finalize(st);
	return n;
}

/* ---------------------------------------------------------------- */
/* Open                                                             */

static enum account_status
schema_version(struct account_db *adb, long long *v_r, char *err,
    size_t errsz)
{
	long long n;

	n = count(adb, "SELECT count(*) FROM sqlite_master WHERE "
	    "type = 'table' AND name = 'schema_version'", NULL, err, errsz);
	if (n < 0)
		return ACCOUNT_DB_ERROR;
	if (n == 0) {
		*v_r = 0;
		return ACCOUNT_OK;
	}
	n = count(adb, "SELECT max(version) FROM schema_version", NULL, err,
	    errsz);
	if (n < 0)
		return ACCOUNT_DB_ERROR;
	*v_r = n;
	return ACCOUNT_OK;
}

static enum account_status
ensure_schema(struct account_db *adb, char *err, size_t errsz)
{
	enum account_status st;
	long long v = 0;

	if ((st = schema_version(adb, &v, err, errsz)) != ACCOUNT_OK)
		return st;
	if (v == ACCOUNT_SCHEMA_VERSION)
		return ACCOUNT_OK;
	if (v > ACCOUNT_SCHEMA_VERSION) {
		snprintf(err, errsz, "%s: schema version %lld is newer than "
		    "this ostia knows (%d): use a newer ostia", adb->path, v,
		    ACCOUNT_SCHEMA_VERSION);
		return ACCOUNT_SCHEMA;
	}
	if ((st = begin(adb, err, errsz)) != ACCOUNT_OK)
		return st;
	/* Another command may have created it meanwhile: the statements
	 * are idempotent. */
	if (exec(adb, SCHEMA_SQL) < 0)
		st = dberr(adb, "creating the tables", err, errsz);
	return finish(adb, st, err, errsz);
}

/*
 * create_file - make an empty database file with our mode and group;
 * an existing one (made by a concurrent command) is fine.
 */
static enum account_status
create_file(const char *path, gid_t group, bool *created_r, char *err,
    size_t errsz)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, ACCOUNT_DB_MODE);

	*created_r = false;
	if (fd < 0) {
		if (errno == EEXIST)
			return ACCOUNT_OK;
		snprintf(err, errsz, "%s: cannot create: %s", path,
		    strerror(errno));
		return ACCOUNT_DB_ERROR;
	}
	*created_r = true;
	if (fchmod(fd, ACCOUNT_DB_MODE) < 0 || (group != (gid_t)-1 &&
	    fchown(fd, (uid_t)-1, group) < 0)) {
		snprintf(err, errsz, "%s: cannot set mode %o and group %ld: "
		    "%s", path, ACCOUNT_DB_MODE, (long)group, strerror(errno));
		(void)close(fd);
		(void)unlink(path);
		return ACCOUNT_DB_ERROR;
	}
	if (close(fd) < 0) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		(void)unlink(path);
		return ACCOUNT_DB_ERROR;
	}
	return ACCOUNT_OK;
}

enum account_status
account_db_open(struct account_db *adb, const char *path, unsigned flags,
    gid_t group, char *err, size_t errsz)
{
	enum account_status st;
	struct stat sb;
	int rc;

	memset(adb, 0, sizeof(*adb));
	if (lstat(path, &sb) < 0) {
		if (errno != ENOENT) {
			snprintf(err, errsz, "%s: %s", path, strerror(errno));
			return ACCOUNT_DB_ERROR;
		}
		if ((flags & ACCOUNT_DB_CREATE) == 0) {
			snprintf(err, errsz, "%s: no account database (it is "
			    "created by the first `ostia domain add`)", path);
			return ACCOUNT_NOT_FOUND;
		}
		st = create_file(path, group, &adb->created, err, errsz);
		if (st != ACCOUNT_OK)
			return st;
	} else if (!S_ISREG(sb.st_mode)) {
		snprintf(err, errsz, "%s: not a regular file", path);
		return ACCOUNT_DB_ERROR;
	}
	adb->path = xstrdup(path);
	rc = sqlite3_open_v2(path, &adb->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errsz, "%s: %s", path, adb->db != NULL ?
		    sqlite3_errmsg(adb->db) : sqlite3_errstr(rc));
		account_db_close(adb);
		return ACCOUNT_DB_ERROR;
	}
	sqlite3_extended_result_codes(adb->db, 1);
	sqlite3_busy_timeout(adb->db, ACCOUNT_BUSY_TIMEOUT_MS);
	(void)sqlite3_db_config(adb->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	(void)sqlite3_db_config(adb->db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION,
	    0, NULL);
	if (exec(adb, "PRAGMA foreign_keys = ON") < 0) {
		st = dberr(adb, "opening", err, errsz);
		account_db_close(adb);
		return st;
	}
	st = ensure_schema(adb, err, errsz);
	if (st != ACCOUNT_OK) {
		int code = sqlite3_errcode(adb->db) & 0xff;

		if (code == SQLITE_NOTADB)
			st = ACCOUNT_SCHEMA;
		account_db_close(adb);
	}
	return st;
}

void
account_db_close(struct account_db *adb)
{
	if (adb->db != NULL)
		sqlite3_close_v2(adb->db);
	free(adb->path);
	adb->db = NULL;
	adb->path = NULL;
}

/* ---------------------------------------------------------------- */
/* Input checks                                                     */

enum account_status
account_check_domain(const char *in, char **domain_r, char *err,
    size_t errsz)
{
	char sh[SHOWN_MAX];
	size_t len = in != NULL ? strlen(in) : 0;
	char *d;

	*domain_r = NULL;
	if (len == 0) {
		snprintf(err, errsz, "empty domain name");
		return ACCOUNT_INVALID;
	}
	if (in[0] == '[') {
		snprintf(err, errsz, "\"%s\": an address literal is not a mail "
		    "domain", shown(sh, sizeof(sh), in));
		return ACCOUNT_INVALID;
	}
	if (in[len - 1] == '.') {
		snprintf(err, errsz, "\"%s\": write the domain without the "
		    "trailing dot", shown(sh, sizeof(sh), in));
		return ACCOUNT_INVALID;
	}
	if (len > ADDRESS_DOMAIN_MAX_BYTES ||
	    !address_domain_is_valid(in, true)) {
		snprintf(err, errsz, "\"%s\" is not a valid domain name "
		    "(letters, digits, '-' and dots, at most %d bytes)",
		    shown(sh, sizeof(sh), in), ADDRESS_DOMAIN_MAX_BYTES);
		return ACCOUNT_INVALID;
	}
	d = xstrdup(in);
	ascii_lower(d);
	*domain_r = d;
	return ACCOUNT_OK;
}

enum account_status
account_check_address(const char *in, bool catchall, char **address_r,
    char **domain_r, char *err, size_t errsz)
{
	char sh[SHOWN_MAX], *dom = NULL, *text;
	const char *why = NULL;
	struct address a;
	size_t len = in != NULL ? strlen(in) : 0, used = 0;
	enum address_error ae;

	*address_r = NULL;
	if (domain_r != NULL)
		*domain_r = NULL;
	if (len == 0) {
		snprintf(err, errsz, "empty address");
		return ACCOUNT_INVALID;
	}
	if (in[0] == '@') {
		if (!catchall) {
			snprintf(err, errsz, "\"%s\": no local part (a "
			    "catch-all \"@domain\" is for aliases only)",
			    shown(sh, sizeof(sh), in));
			return ACCOUNT_INVALID;
		}
		if (account_check_domain(in + 1, &dom, err, errsz) !=
		    ACCOUNT_OK)
			return ACCOUNT_INVALID;
		*address_r = xasprintf("@%s", dom);
		if (domain_r != NULL)
			*domain_r = dom;
		else
			free(dom);
		return ACCOUNT_OK;
	}
	if (in[0] == '<' || in[0] == ' ') {
		snprintf(err, errsz, "\"%s\": write the address alone, without "
		    "angle brackets or spaces", shown(sh, sizeof(sh), in));
		return ACCOUNT_INVALID;
	}
	ae = address_parse_path(in, len, ADDRESS_SMTPUTF8, &a, &used, &why);
	if (ae != ADDRESS_OK) {
		snprintf(err, errsz, "\"%s\" is not a mail address: %s",
		    shown(sh, sizeof(sh), in), why != NULL ? why : "syntax");
		return ACCOUNT_INVALID;
	}
	if (used != len || a.domain == NULL) {
		snprintf(err, errsz, "\"%s\" is not a mail address (one "
		    "address, local@domain)", shown(sh, sizeof(sh), in));
		address_deinit(&a);
		return ACCOUNT_INVALID;
	}
	if (a.local[0] == '"') {
		snprintf(err, errsz, "\"%s\": quoted local parts are not "
		    "supported for accounts", shown(sh, sizeof(sh), in));
		address_deinit(&a);
		return ACCOUNT_INVALID;
	}
	if (account_check_domain(a.domain, &dom, err, errsz) != ACCOUNT_OK) {
		address_deinit(&a);
		return ACCOUNT_INVALID;
	}
	text = xasprintf("%s@%s", a.local, dom);
	ascii_lower(text);
	address_deinit(&a);
	*address_r = text;
	if (domain_r != NULL)
		*domain_r = dom;
	else
		free(dom);
	return ACCOUNT_OK;
}

enum account_status
account_check_mailbox(const char *in, char **address_r, char **domain_r,
    char *err, size_t errsz)
{
	char sh[SHOWN_MAX], *addr, *at;

	if (account_check_address(in, false, address_r, domain_r, err,
	    errsz) != ACCOUNT_OK)
		return ACCOUNT_INVALID;
	addr = *address_r;
	at = strrchr(addr, '@');
	if (memchr(addr, '/', (size_t)(at - addr)) != NULL ||
	    (at - addr == 1 && addr[0] == '.') ||
	    (at - addr == 2 && addr[0] == '.' && addr[1] == '.')) {
		snprintf(err, errsz, "\"%s\": a mailbox's local part names its "
		    "maildir and cannot contain '/' or be \".\" or \"..\"",
		    shown(sh, sizeof(sh), in));
		free(*address_r);
		*address_r = NULL;
		if (domain_r != NULL) {
			free(*domain_r);
			*domain_r = NULL;
		}
		return ACCOUNT_INVALID;
	}
	return ACCOUNT_OK;
}

enum account_status
account_check_targets(const char *in, char **goto_r, char *err,
    size_t errsz)
{
	struct strv seen;
	struct buf out;
	const char *p = in != NULL ? in : "";
	enum account_status st = ACCOUNT_OK;

	*goto_r = NULL;
	strv_init(&seen);
	buf_init(&out, ACCOUNT_GOTO_MAX_BYTES);
	while (*p != '\0') {
		size_t n;
		char *tok, *addr = NULL;
		bool dup = false;

		p += strspn(p, ", \t\r\n");
		n = strcspn(p, ", \t\r\n");
		if (n == 0)
			break;
		tok = xstrndup(p, n);
		p += n;
		st = account_check_address(tok, false, &addr, NULL, err,
		    errsz);
		free(tok);
		if (st != ACCOUNT_OK)
			break;
		for (size_t i = 0; i < seen.n && !dup; i++)
			dup = strcmp(seen.v[i], addr) == 0;
		if (dup) {
			free(addr);
			continue;
		}
		if (seen.n >= ACCOUNT_ALIAS_MAX_TARGETS) {
			snprintf(err, errsz, "more than %d targets",
			    ACCOUNT_ALIAS_MAX_TARGETS);
			free(addr);
			st = ACCOUNT_INVALID;
			break;
		}
		if ((out.len > 0 && buf_append_c(&out, ',') < 0) ||
		    buf_append_str(&out, addr) < 0) {
			snprintf(err, errsz, "the targets are longer than %d "
			    "bytes", ACCOUNT_GOTO_MAX_BYTES);
			free(addr);
			st = ACCOUNT_INVALID;
			break;
		}
		strv_add_take(&seen, addr);
	}
	if (st == ACCOUNT_OK && seen.n == 0) {
		snprintf(err, errsz, "no target address");
		st = ACCOUNT_INVALID;
	}
	if (st == ACCOUNT_OK)
		*goto_r = buf_steal(&out);
	buf_deinit(&out);
	strv_deinit(&seen);
	return st;
}

enum account_status
account_parse_size(const char *in, uint64_t *bytes_r, char *err,
    size_t errsz)
{
	static const char units[] = "KMGT";
	char sh[SHOWN_MAX], *digits;
	const char *why = NULL;
	size_t n = strspn(in, "0123456789");
	uint64_t v = 0, mul = 1;
	const char *u = in + n;

	*bytes_r = 0;
	if (*u != '\0') {
		const char *k = strchr(units, u[0] >= 'a' && u[0] <= 'z' ?
		    u[0] - 'a' + 'A' : u[0]);

		if (k == NULL || u[0] == '\0' || (u[1] != '\0' &&
		    !((u[1] == 'B' || u[1] == 'b') && u[2] == '\0')))
			goto bad;
		for (const char *q = units; q <= k; q++)
			mul *= 1024;
	}
	if (n == 0)
		goto bad;
	digits = xstrndup(in, n);
	if (strnum_parse_u64(digits, UINT64_MAX, &v, &why) < 0) {
		free(digits);
		goto bad;
	}
	free(digits);
	if (v > (uint64_t)INT64_MAX / mul) {
		snprintf(err, errsz, "\"%s\": too large",
		    shown(sh, sizeof(sh), in));
		return ACCOUNT_INVALID;
	}
	*bytes_r = v * mul;
	return ACCOUNT_OK;
bad:
	snprintf(err, errsz, "\"%s\" is not a size (bytes, or a number "
	    "with K, M, G or T: 500M, 2G; 0 = no quota)",
	    shown(sh, sizeof(sh), in));
	return ACCOUNT_INVALID;
}

char *
account_format_size(uint64_t bytes)
{
	static const char units[] = "KMGT";
	uint64_t mul = (uint64_t)1 << 40;

	if (bytes == 0)
		return xstrdup("-");
	for (int i = 3; i >= 0; i--, mul >>= 10)
		if (bytes % mul == 0)
			return xasprintf("%llu%c",
			    (unsigned long long)(bytes / mul), units[i]);
	return xasprintf("%llu", (unsigned long long)bytes);
}

/* ---------------------------------------------------------------- */
/* Domains                                                          */

int
account_domain_exists(struct account_db *adb, const char *domain, char *err,
    size_t errsz)
{
	const char *v[] = { domain, NULL };
	long long n = count(adb, "SELECT count(*) FROM domain WHERE "
	    "domain = ?1", v, err, errsz);

	return n < 0 ? -1 : n > 0;
}

/* need_domain - ACCOUNT_OK when domain exists, else NOT_FOUND with a
 * message naming what needed it (what may be NULL). */
static enum account_status
need_domain(struct account_db *adb, const char *domain, const char *what,
    char *err, size_t errsz)
{
	int r = account_domain_exists(adb, domain, err, errsz);

	if (r < 0)
		return ACCOUNT_DB_ERROR;
	if (r == 0) {
		snprintf(err, errsz, "%s%sno domain %s here (add it first: "
		    "ostia domain add %s)", what != NULL ? what : "",
		    what != NULL ? ": " : "", domain, domain);
		return ACCOUNT_NOT_FOUND;
	}
	return ACCOUNT_OK;
}

enum account_status
account_domain_add(struct account_db *adb, const char *domain,
    const char *description, char *err, size_t errsz)
{
	enum account_status st;
	char *d = NULL, *desc = NULL;
	int r;

	if ((st = account_check_domain(domain, &d, err, errsz)) != ACCOUNT_OK)
		return st;
	if (description != NULL && strlen(description) >
	    ACCOUNT_NAME_MAX_BYTES) {
		snprintf(err, errsz, "description longer than %d bytes",
		    ACCOUNT_NAME_MAX_BYTES);
		free(d);
		return ACCOUNT_INVALID;
	}
	desc = clean_copy(description);
	if ((st = begin(adb, err, errsz)) != ACCOUNT_OK)
		goto out;
	r = account_domain_exists(adb, d, err, errsz);
	if (r < 0) {
		st = ACCOUNT_DB_ERROR;
	} else if (r > 0) {
		snprintf(err, errsz, "domain %s exists already", d);
		st = ACCOUNT_EXISTS;
	} else {
		const char *v[] = { d, desc, NULL };

		if (run(adb, "INSERT INTO domain (domain, description) "
		    "VALUES (?1, ?2)", v, err, errsz) < 0)
			st = ACCOUNT_DB_ERROR;
	}
	st = finish(adb, st, err, errsz);
out:
	free(desc);
	free(d);
	return st;
}

/*
 * drop_target - take addr out of the targets of every alias (the caller
 * has a transaction open).  An alias left without targets is deleted
 * with force; without force the first such alias makes it
 * ACCOUNT_IN_USE (nothing changed yet: the caller rolls back).
 */
static enum account_status
drop_target(struct account_db *adb, const char *addr, bool force, char *err,
    size_t errsz)
{
	const char *v[] = { addr, NULL };
	sqlite3_stmt *st;
	struct strv names, gotos;
	enum account_status ret = ACCOUNT_OK;
	struct buf only;
	int rc;

	st = prep(adb, "SELECT address, goto FROM alias WHERE "
	    "instr(',' || replace(goto, ' ', '') || ',', ',' || ?1 || ',') > 0 "
	    "ORDER BY address", v, err, errsz);
	if (st == NULL)
		return ACCOUNT_DB_ERROR;
	strv_init(&names);
	strv_init(&gotos);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		strv_add(&names, (const char *)sqlite3_column_text(st, 0));
		strv_add(&gotos, (const char *)sqlite3_column_text(st, 1));
	}
	if (rc != SQLITE_DONE)
		ret = dberr(adb, "read", err, errsz);
	sqlite3_finalize(st);

	buf_init(&only, 512);
	for (size_t i = 0; ret == ACCOUNT_OK && i < names.n; i++) {
		struct buf rest;
		const char *p = gotos.v[i];

		buf_init(&rest, strlen(gotos.v[i]) + 1);
		while (*p != '\0') {
			size_t n;

			p += strspn(p, ", ");
			n = strcspn(p, ", ");
			if (n == 0)
				break;
			if (n != strlen(addr) || memcmp(p, addr, n) != 0) {
				if (rest.len > 0)
					(void)buf_append_c(&rest, ',');
				(void)buf_append(&rest, p, n);
			}
			p += n;
		}
		if (rest.len == 0 && !force) {
			if (only.len > 0)
				(void)buf_append_str(&only, ", ");
			(void)buf_append_str(&only, names.v[i]);
		} else if (rest.len == 0) {
			const char *dv[] = { names.v[i], NULL };

			if (run(adb, "DELETE FROM alias WHERE address = ?1", dv,
			    err, errsz) < 0)
				ret = ACCOUNT_DB_ERROR;
		} else {
			const char *uv[] = { names.v[i], buf_cstr(&rest),
			    NULL };

			if (run(adb, "UPDATE alias SET goto = ?2 WHERE "
			    "address = ?1", uv, err, errsz) < 0)
				ret = ACCOUNT_DB_ERROR;
		}
		buf_deinit(&rest);
	}
	if (ret == ACCOUNT_OK && only.len > 0) {
		snprintf(err, errsz, "%s is the only target of %s: delete or "
		    "change %s first, or use --force (deletes %s too)", addr,
		    buf_cstr(&only), strchr(buf_cstr(&only), ',') ? "those "
		    "aliases" : "that alias", strchr(buf_cstr(&only), ',') ?
		    "them" : "it");
		ret = ACCOUNT_IN_USE;
	}
	buf_deinit(&only);
	strv_deinit(&names);
	strv_deinit(&gotos);
	return ret;
}

enum account_status
account_domain_del(struct account_db *adb, const char *domain, bool force,
    char *err, size_t errsz)
{
	enum account_status st;
	sqlite3_stmt *q;
	struct strv users;
	long long nm, na;
	char *d = NULL;
	int rc;

	if ((st = account_check_domain(domain, &d, err, errsz)) != ACCOUNT_OK)
		return st;
	strv_init(&users);
	if ((st = begin(adb, err, errsz)) != ACCOUNT_OK)
		goto out;
	if ((st = need_domain(adb, d, NULL, err, errsz)) != ACCOUNT_OK)
		goto done;
	{
		const char *v[] = { d, NULL };

		nm = count(adb, "SELECT count(*) FROM mailbox WHERE "
		    "domain = ?1", v, err, errsz);
		na = nm < 0 ? -1 : count(adb, "SELECT count(*) FROM alias "
		    "WHERE domain = ?1", v, err, errsz);
		if (na < 0) {
			st = ACCOUNT_DB_ERROR;
			goto done;
		}
		if ((nm > 0 || na > 0) && !force) {
			snprintf(err, errsz, "domain %s still has %lld "
			    "mailbox%s and %lld alias%s: delete them first, "
			    "or use --force (deletes them all; mail on disk "
			    "stays)", d, nm, nm == 1 ? "" : "es", na,
			    na == 1 ? "" : "es");
			st = ACCOUNT_IN_USE;
			goto done;
		}
		q = prep(adb, "SELECT username FROM mailbox WHERE domain = ?1",
		    v, err, errsz);
		if (q == NULL) {
			st = ACCOUNT_DB_ERROR;
			goto done;
		}
		while ((rc = sqlite3_step(q)) == SQLITE_ROW)
			strv_add(&users, (const char *)sqlite3_column_text(q,
			    0));
		if (rc != SQLITE_DONE)
			st = dberr(adb, "read", err, errsz);
		sqlite3_finalize(q);
		for (size_t i = 0; st == ACCOUNT_OK && i < users.n; i++)
			st = drop_target(adb, users.v[i], true, err, errsz);
		if (st != ACCOUNT_OK)
			goto done;
		if (run(adb, "DELETE FROM alias WHERE domain = ?1", v, err,
		    errsz) < 0 ||
		    run(adb, "DELETE FROM sender_grant WHERE "
		    "substr(login, -length(?1) - 1) = '@' || ?1 OR "
		    "substr(address, -length(?1) - 1) = '@' || ?1", v, err,
		    errsz) < 0 ||
		    run(adb, "DELETE FROM mailbox WHERE domain = ?1", v, err,
		    errsz) < 0 ||
		    run(adb, "DELETE FROM domain WHERE domain = ?1", v, err,
		    errsz) < 0)
			st = ACCOUNT_DB_ERROR;
	}
done:
	st = finish(adb, st, err, errsz);
out:
	strv_deinit(&users);
	free(d);
	return st;
}

/* ---------------------------------------------------------------- */
/* Mailboxes                                                        */

static int
mailbox_exists(struct account_db *adb, const char *addr, char *err,
    size_t errsz)
{
	const char *v[] = { addr, NULL };
	long long n = count(adb, "SELECT count(*) FROM mailbox WHERE "
	    "username = ?1", v, err, errsz);

	return n < 0 ? -1 : n > 0;
}

/* check_new - the checks of account_user_check_new, in or out of a
 * transaction; *addr_r and *dom_r set on success. */
static enum account_status
check_new(struct account_db *adb, const char *address, char **addr_r,
    char **dom_r, char *err, size_t errsz)
{
	enum account_status st;
	int r;

	st = account_check_mailbox(address, addr_r, dom_r, err, errsz);
	if (st != ACCOUNT_OK)
		return st;
	st = need_domain(adb, *dom_r, *addr_r, err, errsz);
	if (st == ACCOUNT_OK) {
		r = mailbox_exists(adb, *addr_r, err, errsz);
		if (r < 0) {
			st = ACCOUNT_DB_ERROR;
		} else if (r > 0) {
			snprintf(err, errsz, "mailbox %s exists already "
			    "(change its password with `ostia user passwd`)",
			    *addr_r);
			st = ACCOUNT_EXISTS;
		}
	}
	if (st != ACCOUNT_OK) {
		free(*addr_r);
		free(*dom_r);
		*addr_r = *dom_r = NULL;
	}
	return st;
}

enum account_status
account_user_check_new(struct account_db *adb, const char *address,
    char **address_r, char *err, size_t errsz)
{
	char *a = NULL, *d = NULL;
	enum account_status st = check_new(adb, address, &a, &d, err, errsz);

	free(d);
	if (address_r != NULL)
		*address_r = a;
	else
		free(a);
	return st;
}

static enum account_status
check_hash(const char *hash, char *err, size_t errsz)
{
	size_t len = hash != NULL ? strlen(hash) : 0;

	if (len < 3 || hash[0] != '{' || strchr(hash, '}') == NULL ||
	    len > ACCOUNT_HASH_MAX_BYTES) {
		snprintf(err, errsz, "internal: the stored password must be "
		    "\"{SCHEME}hash\" (at most %d bytes)",
		    ACCOUNT_HASH_MAX_BYTES);
		return ACCOUNT_INVALID;
	}
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)hash[i] < 0x21 || hash[i] == 0x7f) {
			snprintf(err, errsz, "internal: the stored password "
			    "has a control character or a space");
			return ACCOUNT_INVALID;
		}
	return ACCOUNT_OK;
}

enum account_status
account_user_add(struct account_db *adb, const char *address,
    const struct account_user_spec *spec, char *err, size_t errsz)
{
	char *a = NULL, *d = NULL, *name = NULL, *maildir = NULL, *quota;
	enum account_status st;

	if ((st = check_hash(spec->password, err, errsz)) != ACCOUNT_OK)
		return st;
	if (spec->name != NULL && strlen(spec->name) >
	    ACCOUNT_NAME_MAX_BYTES) {
		snprintf(err, errsz, "name longer than %d bytes",
		    ACCOUNT_NAME_MAX_BYTES);
		return ACCOUNT_INVALID;
	}
	if (spec->quota > (uint64_t)INT64_MAX) {
		snprintf(err, errsz, "quota too large");
		return ACCOUNT_INVALID;
	}
	if ((st = begin(adb, err, errsz)) != ACCOUNT_OK)
		return st;
	if ((st = check_new(adb, address, &a, &d, err, errsz)) != ACCOUNT_OK)
		return finish(adb, st, err, errsz);
	name = clean_copy(spec->name);
	{
		char *at = strrchr(a, '@');

		maildir = xasprintf("%s/%.*s/", d, (int)(at - a), a);
	}
	quota = xasprintf("%llu", (unsigned long long)spec->quota);
	{
		const char *v[] = { a, spec->password, name, maildir, quota, d,
		    NULL };

		if (run(adb, "INSERT INTO mailbox (username, password, name, "
		    "maildir, quota, domain) VALUES (?1, ?2, ?3, ?4, "
		    "CAST(?5 AS INTEGER), ?6)", v, err, errsz) < 0)
			st = ACCOUNT_DB_ERROR;
	}
	st = finish(adb, st, err, errsz);
	free(quota);
	free(maildir);
	free(name);
	free(a);
	free(d);
	return st;
}

/* existing mailbox, in or out of a transaction */
static enum account_status
check_exists(struct account_db *adb, const char *address, char **addr_r,
    char *err, size_t errsz)
{
	enum account_status st;
	int r;

	st = account_check_address(address, false, addr_r, NULL, err, errsz);
	if (st != ACCOUNT_OK)
		return st;
	r = mailbox_exists(adb, *addr_r, err, errsz);
	if (r <= 0) {
		if (r == 0)
			snprintf(err, errsz, "no mailbox %s", *addr_r);
		free(*addr_r);
		*addr_r = NULL;
		return r < 0 ? ACCOUNT_DB_ERROR : ACCOUNT_NOT_FOUND;
	}
	return ACCOUNT_OK;
}

enum account_status
account_user_check_exists(struct account_db *adb, const char *address,
    char **address_r, char *err, size_t errsz)
{
	char *a = NULL;
	enum account_status st = check_exists(adb, address, &a, err, errsz);

	if (address_r != NULL)
		*address_r = a;
	else
		free(a);
	return st;
}

enum account_status
account_user_passwd(struct account_db *adb, const char *address,
    const char *password_hash, char *err, size_t errsz)
{
	enum account_status st;
	char *a = NULL;

	if ((st = check_hash(password_hash, err, errsz)) != ACCOUNT_OK)
		return st;
	if ((st = begin(adb, err, errsz)) != ACCOUNT_OK)
		return st;
	st = check_exists(adb, address, &a, err, errsz);
	if (st == ACCOUNT_OK) {
		const char *v[] = { a, password_hash, NULL };

		if (run(adb, "UPDATE mailbox SET password = ?2 WHERE "
		    "username = ?1", v, err, errsz) < 0)
			st = ACCOUNT_DB_ERROR;
	}
	free(a);
	return finish(adb, st, err, errsz);
}

enum account_status
account_user_del(struct account_db *adb, const char *address, bool force,
    char *err, size_t errsz)
{
	enum account_status st;
	char *a = NULL;

	if ((st = begin(adb, err, errsz)) != ACCOUNT_OK)
		return st;
	st = check_exists(adb, address, &a, err, errsz);
	if (st == ACCOUNT_OK) {
		const char *v[] = { a, NULL };

		if (run(adb, "DELETE FROM alias WHERE address = ?1", v, err,
		    errsz) < 0)
			st = ACCOUNT_DB_ERROR;
		if (st == ACCOUNT_OK)
			st = drop_target(adb, a, force, err, errsz);
		if (st == ACCOUNT_OK && (run(adb, "DELETE FROM sender_grant "
		    "WHERE login = ?1 OR address = ?1", v, err, errsz) < 0 ||
		    run(adb, "DELETE FROM mailbox WHERE username = ?1", v, err,
		    errsz) < 0))
			st = ACCOUNT_DB_ERROR;
	}
	free(a);
	return finish(adb, st, err, errsz);
}

/* ---------------------------------------------------------------- */
/* Aliases                                                          */

enum account_status
account_alias_add(struct account_db *adb, const char *address,
    const char *targets, char *err, size_t errsz)
{
	char *a = NULL, *d = NULL, *g = NULL;
	enum account_status st;
	long long n;

	st = account_check_address(address, true, &a, &d, err, errsz);
	if (st != ACCOUNT_OK)
		return st;
	if ((st = account_check_targets(targets, &g, err, errsz)) !=
	    ACCOUNT_OK)
		goto out;
	if ((st = begin(adb, err, errsz)) != ACCOUNT_OK)
		goto out;
	st = need_domain(adb, d, a, err, errsz);
	if (st == ACCOUNT_OK) {
		const char *v[] = { a, NULL };

		n = count(adb, "SELECT count(*) FROM alias WHERE address = ?1",
		    v, err, errsz);
		if (n < 0) {
			st = ACCOUNT_DB_ERROR;
		} else if (n > 0) {
			snprintf(err, errsz, "alias %s exists already (delete "
			    "it first to change its targets)", a);
			st = ACCOUNT_EXISTS;
		}
	}
	if (st == ACCOUNT_OK) {
		const char *v[] = { a, g, d, NULL };

		if (run(adb, "INSERT INTO alias (address, goto, domain) "
		    "VALUES (?1, ?2, ?3)", v, err, errsz) < 0)
			st = ACCOUNT_DB_ERROR;
	}
	st = finish(adb, st, err, errsz);
out:
	free(g);
	free(a);
	free(d);
	return st;
}

enum account_status
account_alias_del(struct account_db *adb, const char *address, char *err,
    size_t errsz)
{
	enum account_status st;
	char *a = NULL;

	st = account_check_address(address, true, &a, NULL, err, errsz);
	if (st != ACCOUNT_OK)
		return st;
	if ((st = begin(adb, err, errsz)) != ACCOUNT_OK) {
		free(a);
		return st;
	}
	{
		const char *v[] = { a, NULL };
		long long n = count(adb, "SELECT count(*) FROM alias WHERE "
		    "address = ?1", v, err, errsz);

		if (n < 0) {
			st = ACCOUNT_DB_ERROR;
		} else if (n == 0) {
			snprintf(err, errsz, "no alias %s", a);
			st = ACCOUNT_NOT_FOUND;
		} else if (run(adb, "DELETE FROM alias WHERE address = ?1", v,
		    err, errsz) < 0) {
			st = ACCOUNT_DB_ERROR;
		}
	}
	free(a);
	return finish(adb, st, err, errsz);
}

/* ---------------------------------------------------------------- */
/* Active flags                                                     */

enum account_status
account_set_active(struct account_db *adb, enum account_kind kind,
    const char *name, bool active, char *err, size_t errsz)
{
	static const char *const what[] = { "domain", "mailbox", "alias" };
	static const char *const sql[] = {
		"UPDATE domain SET active = ?2 WHERE domain = ?1",
		"UPDATE mailbox SET active = ?2 WHERE username = ?1",
		"UPDATE alias SET active = ?2 WHERE address = ?1",
	};
	enum account_status st;
	char *n = NULL;

	if (kind == ACCOUNT_KIND_DOMAIN)
		st = account_check_domain(name, &n, err, errsz);
	else
		st = account_check_address(name, kind == ACCOUNT_KIND_ALIAS,
		    &n, NULL, err, errsz);
	if (st != ACCOUNT_OK)
		return st;
	if ((st = begin(adb, err, errsz)) != ACCOUNT_OK) {
		free(n);
		return st;
	}
	{
		const char *v[] = { n, active ? "1" : "0", NULL };

		if (run(adb, sql[kind], v, err, errsz) < 0) {
			st = ACCOUNT_DB_ERROR;
		} else if (sqlite3_changes(adb->db) == 0) {
			snprintf(err, errsz, "no %s %s", what[kind], n);
			st = ACCOUNT_NOT_FOUND;
		}
	}
	free(n);
	return finish(adb, st, err, errsz);
}

/* ---------------------------------------------------------------- */
/* Listings                                                         */

static const char *const domain_headers[] = { "DOMAIN", "ACTIVE",
	"MAILBOXES", "ALIASES", "CREATED", "DESCRIPTION" };
static const char *const user_headers[] = { "ADDRESS", "ACTIVE", "QUOTA",
	"SCHEME", "MAILDIR", "CREATED", "NAME" };
static const char *const alias_headers[] = { "ADDRESS", "ACTIVE",
	"TARGETS" };

enum account_status
account_list(struct account_db *adb, enum account_kind kind,
    const char *domain, struct account_rows *rows, char *err, size_t errsz)
{
	static const char *const sql_all[] = {
		"SELECT d.domain, d.active, (SELECT count(*) FROM mailbox m "
		"WHERE m.domain = d.domain), (SELECT count(*) FROM alias a "
		"WHERE a.domain = d.domain), d.created, d.description "
		"FROM domain d WHERE ?1 IS NULL OR d.domain = ?1 "
		"ORDER BY d.domain",
		/* The scheme only: the hash never leaves SQLite here. */
		"SELECT username, active, quota, CASE WHEN "
		"substr(password, 1, 1) = '{' AND instr(password, '}') > 2 "
		"THEN substr(password, 2, instr(password, '}') - 2) ELSE '?' "
		"END, maildir, created, name FROM mailbox "
		"WHERE ?1 IS NULL OR domain = ?1 ORDER BY domain, username",
		("SELECT address, active, goto FROM alias "
		"WHERE ?1 IS NULL OR domain = ?1 ORDER BY domain, address"),
	};
	enum account_status st = ACCOUNT_OK;
	struct strv cells;
	sqlite3_stmt *q;
	char *d = NULL;
	int rc;

	memset(rows, 0, sizeof(*rows));
	switch (kind) {
	case ACCOUNT_KIND_DOMAIN:
		rows->headers = domain_headers;
		rows->ncols = N_ELEMENTS(domain_headers);
		break;
	case ACCOUNT_KIND_USER:
		rows->headers = user_headers;
		rows->ncols = N_ELEMENTS(user_headers);
		break;
	default:
		rows->headers = alias_headers;
		rows->ncols = N_ELEMENTS(alias_headers);
		break;
	}
	if (domain != NULL) {
		if ((st = account_check_domain(domain, &d, err, errsz)) !=
		    ACCOUNT_OK)
			return st;
		if ((st = need_domain(adb, d, NULL, err, errsz)) !=
		    ACCOUNT_OK) {
			free(d);
			return st;
		}
	}
	q = prep(adb, sql_all[kind], NULL, err, errsz);
	if (q == NULL) {
		free(d);
		return ACCOUNT_DB_ERROR;
	}
	if (d != NULL)
		(void)sqlite3_bind_text(q, 1, d, -1, SQLITE_TRANSIENT);
	strv_init(&cells);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		for (size_t c = 0; c < rows->ncols; c++) {
			const char *t = (const char *)sqlite3_column_text(q,
			    (int)c);

			if (c == 1) {
				strv_add(&cells, sqlite3_column_int(q, 1) ?
				    "yes" : "no");
			} else if (kind == ACCOUNT_KIND_USER && c == 2) {
				sqlite3_int64 b = sqlite3_column_int64(q, 2);

				strv_add_take(&cells, account_format_size(
				    b < 0 ? 0 : (uint64_t)b));
			} else {
				strv_add_take(&cells, clean_copy(t));
			}
		}
		rows->nrows++;
	}
	if (rc != SQLITE_DONE) {
		st = dberr(adb, "read", err, errsz);
		strv_deinit(&cells);
		rows->nrows = 0;
	} else {
		rows->cells = strv_steal(&cells);
	}
	sqlite3_finalize(q);
	free(d);
	return st;
}

void
account_rows_free(struct account_rows *rows)
{
	strv_free(&rows->cells);
	memset(rows, 0, sizeof(*rows));
}

const char *
account_cell(const struct account_rows *rows, size_t r, size_t c)
{
	return rows->cells[r * rows->ncols + c];
}

/* ---------------------------------------------------------------- */
/* Table files                                                      */

static const struct account_table_def table_defs[] = {
	{ "virtual_mailbox_domains", "virtual_mailbox_domains.cf",
	  "the active domains (key: domain)",
	  "SELECT domain FROM domain WHERE domain = '%s' AND active = 1" },
	{ "virtual_mailbox_maps", "virtual_mailbox_maps.cf",
	  "active mailboxes of active domains (key: address; value: the "
	  "maildir,\n# relative to virtual_mailbox_base)",
	  "SELECT mailbox.maildir FROM mailbox, domain\n"
	  "    WHERE mailbox.username = '%s' AND mailbox.active = 1\n"
	  "    AND domain.domain = mailbox.domain AND domain.active = 1" },
	{ "virtual_alias_maps", "virtual_alias_maps.cf",
	  "aliases of active domains (key: address or \"@domain\"; value: "
	  "the targets);\n# a mailbox without an alias maps to itself, so "
	  "that a catch-all \"@domain\"\n# never takes the mail of an "
	  "existing mailbox",
	  "SELECT alias.goto FROM alias, domain\n"
	  "    WHERE alias.address = '%s' AND alias.active = 1\n"
	  "    AND domain.domain = alias.domain AND domain.active = 1\n"
	  "    UNION ALL\n"
	  "    SELECT mailbox.username FROM mailbox\n"
	  "    WHERE mailbox.username = '%s' AND NOT EXISTS\n"
	  "    (SELECT 1 FROM alias WHERE alias.address = '%s' AND "
	  "alias.active = 1)" },
	{ "smtpd_sender_login_maps", "smtpd_sender_login_maps.cf",
	  "who may send as an address (key: address or \"@domain\"; value: "
	  "logins):\n# a mailbox owns its address and the aliases that lead "
	  "to it (view sender_login)",
	  "SELECT login FROM sender_login WHERE address = '%s'" },
	{ "smtpd_sasl_password_maps", "smtpd_sasl_password_maps.cf",
	  "password hashes of active mailboxes in active domains (key: login "
	  "address;\n# value: \"{SCHEME}hash\")",
	  "SELECT mailbox.password FROM mailbox, domain\n"
	  "    WHERE mailbox.username = '%s' AND mailbox.active = 1\n"
	  "    AND domain.domain = mailbox.domain AND domain.active = 1" },
};

const struct account_table_def *
account_table_defs(size_t *n_r)
{
	*n_r = N_ELEMENTS(table_defs);
	return table_defs;
}

enum account_status
account_table_cf_text(const struct account_table_def *def,
    const char *dbpath, char **text_r, char *err, size_t errsz)
{
	*text_r = NULL;
	if (dbpath == NULL || dbpath[0] != '/') {
		snprintf(err, errsz, "the account database path must be "
		    "absolute");
		return ACCOUNT_INVALID;
	}
	for (const char *p = dbpath; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			snprintf(err, errsz, "the account database path has "
			    "a control character");
			return ACCOUNT_INVALID;
		}
	if (dbpath[strlen(dbpath) - 1] == ' ') {
		snprintf(err, errsz, "the account database path ends in a "
		    "space");
		return ACCOUNT_INVALID;
	}
	*text_r = xasprintf(
	    "# %s: %s.\n"
	    "# Written by `ostia account tables` for Ostia's account "
	    "database\n"
	    "# (docs/accounts.md); sqlite_table(5) syntax.  Use it in "
	    "main.cf as\n"
	    "#   %s = sqlite:/PATH/%s\n"
	    "dbpath = %s\n"
	    "query = %s\n",
	    def->file, def->what, def->param, def->file, dbpath, def->query);
	return ACCOUNT_OK;
}
