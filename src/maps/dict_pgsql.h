/* SPDX-License-Identifier: MIT */
/*
 * dict_pgsql - "pgsql:/path.cf" tables: PostgreSQL queries through
 * libpq, configured as in Postfix's pgsql_table(5) (file format, query
 * expansion and result_format: sql_cf.h).
 *
 * Keys never become SQL text: the query goes to the server with
 * PQexecParams and one $n placeholder per expansion, the expanded
 * values bound as text parameters of unspecified type (so they resolve
 * like the quoted literals Postfix queries are written with).  A query
 * whose own text uses $n placeholders is refused when the table is
 * opened, since those numbers are ours.
 *
 * Hosts ("hosts" in the .cf file; default localhost): "name",
 * "name:port", "inet:name[:port]", "[v6addr]:port", "unix:/dir" (a
 * directory holding the server's socket), "unix:/dir/.s.PGSQL.PORT"
 * (the socket itself), or a postgresql:// connection URI (its user,
 * password and dbname win over the file's; a URI that libpq cannot
 * parse is refused at open without echoing it).  Hosts are tried
 * Postfix-style (sql_hosts_order: sockets first, then random order);
 * connecting to one waits at most PGSQL_CONNECT_TIMEOUT seconds; a host
 * that fails is left out for retry_interval seconds.  One connection is
 * kept open; it is reopened (PQreset) when found broken, and dropped
 * and reopened when idle for more than idle_interval seconds.  A query
 * that loses its connection is retried once on a new one.  A query
 * answers within PGSQL_QUERY_TIMEOUT seconds, or the lookup fails and
 * the connection is dropped (its host stays usable: the query may be
 * what is slow).
 * (Idle connections are not closed on a timer: the check is made at the
 * next lookup.)
 *
 * Results: every column of every row, NULL and empty values skipped,
 * each through result_format (sql_result_append), joined with ','.
 * No rows (or nothing left after skipping) is DICT_NOTFOUND; any error
 * is DICT_TEMPFAIL with "pgsql:/path.cf: ..." (never the password, and
 * server text escaped for the log).
 */
#ifndef OSTIA_DICT_PGSQL_H
#define OSTIA_DICT_PGSQL_H

#include <stddef.h>

#include "buf.h"
#include "dict.h"
#include "strv.h"

struct sql_cf;

#define PGSQL_CONNECT_TIMEOUT 5		/* seconds, per host address */
#define PGSQL_QUERY_TIMEOUT 10		/* seconds, per query */
#define PGSQL_MAX_PARAMS 65535		/* the protocol's limit */
#define PGSQL_SQL_MAX_BYTES (1024 * 1024)

extern const struct dict_type dict_type_pgsql;

/*
 * Build what would be sent for key: the SQL text with $1..$n in sql
 * (appended; sql's maximum should be PGSQL_SQL_MAX_BYTES) and the n
 * values in params (appended, in order).  Returns 1 when built, 0 when
 * the query must not run (SQL_EXPAND_SKIP: the lookup is NOTFOUND), -1
 * with err when the result would pass PGSQL_SQL_MAX_BYTES or
 * PGSQL_MAX_PARAMS.  Exposed for the unit tests.
 */
int pgsql_build_query(const struct sql_cf *cf, const char *key,
    struct buf *sql, struct strv *params, char *err, size_t errsz);

/*
 * Find a $n placeholder (a '$' and a digit, not inside a '...' or
 * "..." literal nor after an identifier character) in a query's text.
 * Returns its offset, or -1 when there is none.  Exposed for the unit
 * tests.
 */
long pgsql_find_placeholder(const char *query);

#endif
