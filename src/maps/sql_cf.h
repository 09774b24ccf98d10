/* SPDX-License-Identifier: MIT */
/*
 * sql_cf - Postfix's SQL table files (mysql_table(5), pgsql_table(5),
 * sqlite_table(5)) shared by dict_mysql, dict_pgsql and dict_sqlite:
 * reading the .cf file, expanding the query for a key, the domain rule,
 * and result_format.
 *
 * File format: main.cf syntax ("name = value", indented lines continue,
 * '#' comments), at most SQL_CF_MAX_BYTES.  No $name expansion.  An
 * unknown parameter is an error (Postfix ignores it silently; a typo in
 * "qeury" should not make a table that never finds anything).  Known
 * parameters per type:
 *   all:    query, result_format, domain, expansion_limit, and the legacy
 *           select_field, table, where_field, additional_conditions
 *           (used to build the query when query is absent)
 *   mysql:  hosts, user, password, dbname, idle_interval, retry_interval,
 *           charset, tls_cert_file, tls_key_file, tls_CAfile, tls_CApath,
 *           tls_ciphers, tls_verify_cert, require_result_set,
 *           option_file, option_group (both refused: not supported)
 *   pgsql:  hosts, user, password, dbname, idle_interval, retry_interval,
 *           encoding, select_function (legacy)
 *   sqlite: dbpath
 *
 * Keys never become SQL text here.  sql_query_expand() hands the query
 * text and the expanded values to separate callbacks; the driver binds
 * each value (SQL_PARAM_BIND: sqlite "?", pgsql "$n") or escapes it with
 * the server's own function (SQL_PARAM_ESCAPE: mysql_real_escape_string).
 *
 * Quoting.  Postfix queries put expansions inside SQL string literals:
 * "... WHERE address='%s'".  The expander tracks single- and
 * double-quoted literals (and, in ESCAPE mode, backslash escapes in
 * them, as MySQL reads them) and rewrites them for the parameter style:
 *   BIND:   a literal that is exactly one expansion, '%s', becomes a
 *           bare parameter; a literal mixing text and expansions,
 *           '%u@%d', becomes a concatenation (<param> || '@' || <param>)
 *           (valid in SQLite and PostgreSQL, where an untyped parameter
 *           resolves like a quoted literal); an expansion outside any
 *           literal becomes a bare parameter.  An expansion inside a
 *           double-quoted identifier is refused when the file is loaded.
 *   ESCAPE: the literal is kept and the escaped value goes inside it; an
 *           expansion outside any literal gets quotes around it (emitted
 *           as literal text), so an escaped value can never end the
 *           string and add SQL.
 * SQL comments are not understood (a quote inside a comment counts).
 *
 * Not thread-safe per struct sql_cf (the host state changes).
 */
#ifndef OSTIA_SQL_CF_H
#define OSTIA_SQL_CF_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "dict.h"

/* Largest .cf file read. */
#define SQL_CF_MAX_BYTES (256 * 1024)
/* Most hosts in "hosts". */
#define SQL_CF_MAX_HOSTS 32

enum sql_param_style {
	SQL_PARAM_BIND,		/* sqlite, pgsql: the driver binds values */
	SQL_PARAM_ESCAPE,	/* mysql: the driver escapes values */
};

enum sql_host_kind {
	SQL_HOST_INET,		/* "host", "host:port", "inet:host[:port]",
				 * "[v6addr]:port" */
	SQL_HOST_UNIX,		/* "unix:/path" */
	SQL_HOST_URI,		/* pgsql: "postgresql://..." or
				 * "postgres://...", passed as is */
};

/* One entry of "hosts", parsed by sql_cf_load (mysql and pgsql). */
struct sql_host {
	char *spec;		/* as written, for messages */
	enum sql_host_kind kind;
	char *name;		/* host name / address, socket path, or URI */
	unsigned port;		/* 0 = the driver's default */
	time_t down_until;	/* 0 = usable; else skipped until then
				 * (sql_host_failed) */
};

struct sql_cf {
	char *path;
	char *type;		/* "mysql", "pgsql", "sqlite" */
	enum sql_param_style param_style;	/* from type */

	/* mysql, pgsql */
	char **hosts;		/* NULL-terminated, as written; never NULL
				 * for mysql/pgsql (default "localhost") */
	struct sql_host *host;	/* parsed hosts[], nhosts of them */
	size_t nhosts;
	char *user, *password, *dbname;	/* NULL when not set; the password
					 * is never logged */
	long idle_interval;	/* seconds; default 60 */
	long retry_interval;	/* seconds; default 60 */
	char *charset;		/* mysql "charset" (default "utf8mb4");
				 * pgsql "encoding" (default "UTF8") */
	/* mysql TLS (NULL / false when not set) */
	char *tls_cert_file, *tls_key_file, *tls_CAfile, *tls_CApath;
	char *tls_ciphers;
	bool tls_verify_cert;
	bool require_result_set;	/* mysql; default true */

	/* sqlite */
	char *dbpath;

	/* all */
	char *query;		/* never NULL after a successful load */
	char *result_format;	/* default "%s" */
	char **domain;		/* NULL-terminated, lower case; NULL = no
				 * domain rule */
	long expansion_limit;	/* 0 = none */

	/* What the query and result_format use (set by sql_cf_load). */
	unsigned query_uses;	/* SQL_USES_* */
};

#define SQL_USES_KEY	(1u << 0)	/* %s %S */
#define SQL_USES_LOCAL	(1u << 1)	/* %u %U */
#define SQL_USES_DOMAIN	(1u << 2)	/* %d %D */
#define SQL_USES_DIGIT	(1u << 3)	/* %1..%9 */

/*
 * Read the .cf file path for type ("mysql", "pgsql" or "sqlite").  The
 * file is checked first with dict_check_file(opts) (opts NULL: the
 * defaults, owner root).  path must start with '/' or '.' (Postfix's
 * older "parameters in main.cf" form is not supported).  Returns 0 and
 * fills *cf (free it with sql_cf_free), or -1 with err:
 *   "FILE, line N: unknown parameter X (known: ...)",
 *   "FILE, line N: bad value for X: ...",
 *   "FILE: no query (set query, or table, select_field and where_field)",
 *   "FILE: query: ..." (a bad % sequence), and so on.
 * On failure *cf is left freed (sql_cf_free on it is harmless).  The
 * password never appears in err.
 */
int sql_cf_load(const char *path, const char *type,
    const struct dict_open_opts *opts, struct sql_cf *cf, char *err,
    size_t errsz);

/*
 * Parse text as if it were the contents of a .cf file named path (no
 * file access, no dict_check_file).  For sql_cf_load, tests and fuzzing.
 * Same returns as sql_cf_load.
 */
int sql_cf_parse(const char *path, const char *type, const char *text,
    size_t len, struct sql_cf *cf, char *err, size_t errsz);

/* Free everything in cf (wiping the password) and zero it. */
void sql_cf_free(struct sql_cf *cf);

enum sql_expand {
	SQL_EXPAND_OK,
	SQL_EXPAND_SKIP,
};

/*
 * Expand cf->query for key (NUL-terminated; already case-folded by
 * dict_get).  literal(ctx, s, n) receives SQL text to append as is;
 * param(ctx, s, n) receives one expanded value (%s %u %d %1..%9 and
 * %S %U %D), which the driver binds or escapes according to
 * cf->param_style.  Values are never pasted here.  Expansions:
 *   %%  a '%' (sent through literal())
 *   %s  the key                    %S  same as %s in the query
 *   %u  the local part (before the last '@'), or the whole key when it
 *       has no '@'                 %U  same as %u
 *   %d  the domain part            %D  same as %d
 *   %1..%9  the Nth label of the domain counted from the right (%1 =
 *       "com" in user@mail.example.com)
 * Returns SQL_EXPAND_SKIP (and calls nothing) when Postfix would not
 * run the query, so the caller returns DICT_NOTFOUND:
 *   - the key is not valid UTF-8 (Postfix with SMTPUTF8 does the same),
 *   - a domain rule is set and the key is not local@domain with a
 *     non-empty local part and a domain in the list (case-insensitive,
 *     exact match),
 *   - %u is used and the key has an '@' with an empty local part,
 *   - %d is used and the key has no '@' or an empty domain part,
 *   - %N is used and the key has no domain or fewer than N labels.
 * Otherwise SQL_EXPAND_OK once all callbacks were made.
 */
enum sql_expand sql_query_expand(const struct sql_cf *cf, const char *key,
    void (*literal)(void *ctx, const char *s, size_t n),
    void (*param)(void *ctx, const char *s, size_t n), void *ctx);

/*
 * The expanded query as pieces, for the drivers: literal SQL text and
 * values (param), in order.  The strings point into cf->query and into
 * the expansion's storage, valid as sql_query_expand's callbacks say.
 */
struct sql_piece {
	const char *s;
	size_t n;
	bool param;
};

struct sql_pieces {
	struct sql_piece *v;
	size_t n, cap;
};

/* sql_query_expand into pieces (pieces->v freed by sql_pieces_free). */
enum sql_expand sql_query_pieces(const struct sql_cf *cf, const char *key,
    struct sql_pieces *pieces);
void sql_pieces_free(struct sql_pieces *pieces);

/*
 * Apply cf->result_format to one result value (one column of one row;
 * NULL for an SQL NULL) for key, and append it to out, after a ','
 * when out is not empty.  %s %u %d expand the value, %S %U %D %1..%9
 * expand the key (as in the query), %% is '%'.  A value is skipped
 * (nothing appended, 0 returned, *nresults unchanged) when it is NULL
 * or empty, when %d is used and the value has no '@' domain part, when
 * %u is used and the value's local part is empty, or when a key
 * expansion is impossible (as SQL_EXPAND_SKIP).  Otherwise ++*nresults.
 * Returns -1 with err when expansion_limit is exceeded (Postfix: a
 * temporary error) or when out would pass its maximum; the caller turns
 * -1 into DICT_TEMPFAIL and, after the last row, *nresults == 0 into
 * DICT_NOTFOUND.
 */
int sql_result_append(const struct sql_cf *cf, const char *key,
    const char *value, struct buf *out, size_t *nresults, char *err,
    size_t errsz);

/*
 * Make a message safe for one log line: control bytes (below 0x20, and
 * 0x7f) become '?'.  Server error messages may quote the query, and so
 * parts of a key; drivers pass their TEMPFAIL text through this.
 */
void sql_msg_clean(char *s);

/*
 * Host failover for mysql and pgsql, Postfix-style: the usable hosts in
 * random order, UNIX-domain sockets before TCP ones.  A host marked
 * failed (sql_host_failed) is left out until retry_interval has passed.
 * Writes at most max indexes into cf->host[] to order[] and returns how
 * many (0: every host is waiting out its retry interval).
 */
size_t sql_hosts_order(struct sql_cf *cf, time_t now, size_t *order,
    size_t max);
/* Host i failed to connect or lost its connection at now. */
void sql_host_failed(struct sql_cf *cf, size_t i, time_t now);
/* Host i answered: usable again. */
void sql_host_ok(struct sql_cf *cf, size_t i);

#endif
