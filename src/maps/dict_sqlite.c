/* SPDX-License-Identifier: MIT */
/*
 * dict_sqlite - sqlite:/path/to/file.cf, Postfix's sqlite_table(5).
 *
 * The .cf file (sql_cf.h: dbpath, query, result_format, domain,
 * expansion_limit and the legacy query parameters) is read and checked
 * at open (dict_check_file: owner root or the mail owner, not group or
 * other writable).  The database is opened read-only
 * (SQLITE_OPEN_READONLY, no URI names, defensive mode, untrusted schema,
 * a busy timeout of SQLITE_BUSY_TIMEOUT_MS) and the query is compiled
 * once at open, so a missing database or bad SQL is an open error
 * naming the .cf file.
 *
 * Every expansion of the key is bound with sqlite3_bind_text(): no key
 * ever becomes SQL text (sql_cf.h: quoted '%s' becomes a bare "?").
 * The first column of every row goes through result_format, joined with
 * commas.  Any SQLite error during a lookup is DICT_TEMPFAIL with
 * SQLite's message, never "not found".
 *
 * changed() watches the .cf file (device, inode, size, mtime) and the
 * database file's identity (a new file renamed into place); SQLite
 * itself sees changes made inside the database.
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "dict.h"
#include "sql_cf.h"
#include "xalloc.h"

/* How long a lookup waits for a writer's lock. */
#define SQLITE_BUSY_TIMEOUT_MS 3000
/* Longest SQL text built from a query. */
#define SQLITE_SQL_MAX_BYTES (1024 * 1024)

/* One piece of the expanded query: SQL text or a value to bind. */
struct sqlite_priv {
	struct sql_cf cf;
	sqlite3 *db;
	sqlite3_stmt *stmt;	/* compiled query */
	char *stmt_sql;		/* the SQL text stmt was compiled from */
	struct stat cf_st;
	struct stat db_st;
};

/* The SQL text of the pieces, "?" for each value; -1 if too long. */
static int
pieces_sql(const struct sql_pieces *p, struct buf *sql)
{
	for (size_t i = 0; i < p->n; i++)
		if (buf_append(sql, p->v[i].param ? "?" : p->v[i].s,
		    p->v[i].param ? 1 : p->v[i].n) < 0)
			return -1;
	return 0;
}

/*
 * Compile sql as the current statement unless it already is.  -1 with
 * err (SQLite's message) on failure.
 */
static int
prepare(struct dict *d, struct sqlite_priv *p, const char *sql, size_t len,
    char *err, size_t errsz)
{
	const char *tail = NULL;
	int rc;

	if (p->stmt != NULL && strcmp(p->stmt_sql, sql) == 0)
		return 0;
	sqlite3_finalize(p->stmt);
	p->stmt = NULL;
	free(p->stmt_sql);
	p->stmt_sql = NULL;
	rc = sqlite3_prepare_v2(p->db, sql, (int)len, &p->stmt, &tail);
	if (rc != SQLITE_OK) {
		snprintf(err, errsz, "%s: query: %s", d->spec,
		    sqlite3_errmsg(p->db));
		sqlite3_finalize(p->stmt);
		p->stmt = NULL;
		return -1;
	}
	if (p->stmt == NULL) {
		snprintf(err, errsz, "%s: query: no SQL statement", d->spec);
		return -1;
	}
	while (tail != NULL && (*tail == ' ' || *tail == '\t' ||
	    *tail == '\n' || *tail == '\r' || *tail == ';'))
		tail++;
	if (tail != NULL && *tail != '\0') {
		snprintf(err, errsz, "%s: query: more than one SQL statement",
		    d->spec);
		sqlite3_finalize(p->stmt);
		p->stmt = NULL;
		return -1;
	}
	p->stmt_sql = xstrdup(sql);
	return 0;
}

/*
 * A key that the query does not skip, to compile the query at open:
 * a local part and a domain of nine labels (for %1..%9), in the domain
 * list when there is one.
 */
static char *
probe_key(const struct sql_cf *cf)
{
	if (cf->domain != NULL)
		return xasprintf("probe@%s", cf->domain[0]);
	return xstrdup("probe@a.b.c.d.e.f.g.h.example");
}

static void
sqlite_close(struct dict *d)
{
	struct sqlite_priv *p = d->priv;

	if (p == NULL)
		return;
	sqlite3_finalize(p->stmt);
	free(p->stmt_sql);
	if (p->db != NULL)
		sqlite3_close_v2(p->db);
	sql_cf_free(&p->cf);
	free(p);
	d->priv = NULL;
}

static int
sqlite_open(struct dict *d, const char *name,
    const struct dict_open_opts *opts, char *err, size_t errsz)
{
	struct sqlite_priv *p = xcalloc(1, sizeof(*p));
	struct sql_pieces pc = { 0 };
	struct buf sql;
	char *key = NULL;
	int rc;

	d->priv = p;
	if (name[0] == '\0') {
		snprintf(err, errsz, "sqlite: needs the path of a .cf file "
		    "(sqlite:/etc/ostia/FILE.cf)");
		goto fail;
	}
	if (sql_cf_load(name, "sqlite", opts, &p->cf, err, errsz) < 0)
		goto fail;
	if (stat(name, &p->cf_st) < 0) {
		snprintf(err, errsz, "%s: %s", name, strerror(errno));
		goto fail;
	}
	rc = sqlite3_open_v2(p->cf.dbpath, &p->db, SQLITE_OPEN_READONLY,
	    NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errsz, "%s: dbpath %s: %s", name, p->cf.dbpath,
		    p->db ? sqlite3_errmsg(p->db) : sqlite3_errstr(rc));
		goto fail;
	}
	if (stat(p->cf.dbpath, &p->db_st) < 0) {
		snprintf(err, errsz, "%s: dbpath %s: %s", name, p->cf.dbpath,
		    strerror(errno));
		goto fail;
	}
	sqlite3_extended_result_codes(p->db, 1);
	sqlite3_busy_timeout(p->db, SQLITE_BUSY_TIMEOUT_MS);
	(void)sqlite3_db_config(p->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
#ifdef SQLITE_DBCONFIG_TRUSTED_SCHEMA
	(void)sqlite3_db_config(p->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0,
	    NULL);
#endif
	(void)sqlite3_db_config(p->db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION,
	    0, NULL);

	/* Compile the query now: bad SQL or a missing table fails here. */
	key = probe_key(&p->cf);
	buf_init(&sql, SQLITE_SQL_MAX_BYTES);
	if (sql_query_pieces(&p->cf, key, &pc) ==
	    SQL_EXPAND_OK) {
		if (pieces_sql(&pc, &sql) < 0) {
			snprintf(err, errsz, "%s: query too long", name);
			buf_deinit(&sql);
			goto fail;
		}
		if (prepare(d, p, buf_cstr(&sql), sql.len, err, errsz) < 0) {
			buf_deinit(&sql);
			goto fail;
		}
	}
	buf_deinit(&sql);
	sql_pieces_free(&pc);
	free(key);
	return 0;
fail:
	sql_pieces_free(&pc);
	free(key);
	sqlite_close(d);
	return -1;
}

static enum dict_status
sqlite_lookup(struct dict *d, const char *key, size_t keylen,
    struct buf *value, char *err, size_t errsz)
{
	struct sqlite_priv *p = d->priv;
	struct sql_pieces pc = { 0 };
	struct buf sql;
	enum dict_status st = DICT_TEMPFAIL;
	size_t nresults = 0;
	int rc, idx = 0;

	(void)keylen;
	if (sql_query_pieces(&p->cf, key, &pc) ==
	    SQL_EXPAND_SKIP)
		return DICT_NOTFOUND;
	buf_init(&sql, SQLITE_SQL_MAX_BYTES);
	if (pieces_sql(&pc, &sql) < 0) {
		snprintf(err, errsz, "%s: query too long", d->spec);
		goto out;
	}
	if (prepare(d, p, buf_cstr(&sql), sql.len, err, errsz) < 0)
		goto out;
	sqlite3_reset(p->stmt);
	sqlite3_clear_bindings(p->stmt);
	for (size_t i = 0; i < pc.n; i++) {
		if (!pc.v[i].param)
			continue;
		rc = sqlite3_bind_text(p->stmt, ++idx, pc.v[i].s,
		    (int)pc.v[i].n, SQLITE_TRANSIENT);
		if (rc != SQLITE_OK) {
			snprintf(err, errsz, "%s: binding value %d: %s",
			    d->spec, idx, sqlite3_errmsg(p->db));
			goto out;
		}
	}
	for (;;) {
		const unsigned char *v;

		rc = sqlite3_step(p->stmt);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW) {
			snprintf(err, errsz, "%s: %s", d->spec,
			    sqlite3_errmsg(p->db));
			goto out;
		}
		if (sqlite3_column_count(p->stmt) < 1) {
			snprintf(err, errsz, "%s: the query returns no "
			    "column", d->spec);
			goto out;
		}
		/* Postfix: every column of every row is a result. */
		for (int j = 0; j < sqlite3_column_count(p->stmt); j++) {
			v = sqlite3_column_text(p->stmt, j);
			if (v == NULL && sqlite3_column_type(p->stmt, j) !=
			    SQLITE_NULL) {
				snprintf(err, errsz, "%s: out of memory reading "
				    "a row", d->spec);
				goto out;
			}
			if (sql_result_append(&p->cf, key, (const char *)v,
			    value, &nresults, err, errsz) < 0)
				goto out;
		}
	}
	st = nresults > 0 ? DICT_FOUND : DICT_NOTFOUND;
out:
	if (st == DICT_TEMPFAIL)
		sql_msg_clean(err);
	if (p->stmt != NULL) {
		sqlite3_reset(p->stmt);
		sqlite3_clear_bindings(p->stmt);
	}
	buf_deinit(&sql);
	sql_pieces_free(&pc);
	return st;
}

static bool
sqlite_changed(struct dict *d)
{
	const struct sqlite_priv *p = d->priv;
	struct stat st;

	if (stat(d->name, &st) < 0)
		return true;
	if (st.st_dev != p->cf_st.st_dev || st.st_ino != p->cf_st.st_ino ||
	    st.st_size != p->cf_st.st_size ||
	    st.st_mtim.tv_sec != p->cf_st.st_mtim.tv_sec ||
	    st.st_mtim.tv_nsec != p->cf_st.st_mtim.tv_nsec)
		return true;
	/* A database file replaced (rebuilt and renamed into place): the
	 * open handle would keep reading the old one. */
	if (stat(p->cf.dbpath, &st) < 0)
		return true;
	return st.st_dev != p->db_st.st_dev || st.st_ino != p->db_st.st_ino;
}

const struct dict_type dict_type_sqlite = {
	.name = "sqlite",
	.flags = DICT_TYPE_FILE,
	.open = sqlite_open,
	.lookup = sqlite_lookup,
	.changed = sqlite_changed,
	.close = sqlite_close,
};
