/* SPDX-License-Identifier: MIT */
/*
 * sql_dl - libpq and libmariadb, loaded at run time (dlopen) by the
 * processes that open a pgsql: or mysql: table, and by no other.
 *
 * Every Ostia process is the same binary.  Linked at build time, the
 * two client libraries and what they pull in (Kerberos, LDAP, GnuTLS,
 * p11-kit, SASL...) would be mapped, relocated and initialised in every
 * smtpd, delivery agent and queue process, each paying for their
 * relocated data; only the lookup process (and CLI commands such as
 * `ostia map`, `ostia lookup`, `ostia check` when a configured table is
 * SQL, and the master's check of the tables) ever uses them.  So the
 * binary links neither: their headers give the types and constants at
 * build time, and the functions come from a table of pointers filled
 * with dlsym() when the first table of the type is opened.
 *
 * Call sites go through the table: sql_pq->PQclear(res),
 * sql_my->mysql_close(m).  Each member has the exact type of the
 * library's declaration (__typeof__), so the compiler checks every call
 * as before.  sql_pq (sql_my) is NULL until sql_dl_load_pq()
 * (sql_dl_load_mysql()) succeeded, and never changes after that; a
 * dict_pgsql (dict_mysql) table exists only once its open loaded the
 * library, so its code may use the pointer without checking it.
 *
 * Libraries are loaded by SONAME (SQL_DL_PQ_SONAME, SQL_DL_MYSQL_SONAME:
 * Debian's libpq5 and libmariadb3 packages), RTLD_NOW | RTLD_LOCAL,
 * and never closed (a loaded library stays for the life of the
 * process; LeakSanitizer can still symbolize its frames).  A failure
 * (no such library, a function missing from it) is an error in plain
 * words, for the table's open to report like any other open failure:
 *   "pgsql: cannot load libpq.so.5: <dlerror>; install the libpq5
 *    package"
 *   "mysql: libmariadb.so.3 has no mysql_ssl_set (<dlerror>); install
 *    the libmariadb3 package"
 * Nothing is kept of a failure: the next call tries again.
 *
 * Chroot and privileges: dlopen() reads the library (and the loader's
 * cache) from the file system, so it must run before a process chroots.
 * The lookup process opens every table in its preinit, as root before
 * the chroot, and loads the libraries its tables need there
 * (sql_dl_load_for) before opening them.
 *
 * libmariadb: sql_dl_load_mysql() calls mysql_library_init() (which is
 * not thread-safe) once, right after loading, in the thread that opens
 * the tables, so that no later mysql_init() has to.  libpq needs no
 * initialisation (OpenSSL 3 initialises itself).
 *
 * Not thread-safe: call the loaders from the one thread that opens
 * tables.
 */
#ifndef OSTIA_SQL_DL_H
#define OSTIA_SQL_DL_H

#include <stddef.h>

#include <libpq-fe.h>
#include <mysql.h>

#define SQL_DL_PQ_SONAME "libpq.so.5"
#define SQL_DL_PQ_PACKAGE "libpq5"
#define SQL_DL_MYSQL_SONAME "libmariadb.so.3"
#define SQL_DL_MYSQL_PACKAGE "libmariadb3"

/* The libpq functions dict_pgsql uses. */
#define SQL_DL_PQ_FUNCS(X) \
	X(PQclear) \
	X(PQconnectdbParams) \
	X(PQconninfoFree) \
	X(PQconninfoParse) \
	X(PQconsumeInput) \
	X(PQerrorMessage) \
	X(PQfinish) \
	X(PQfreemem) \
	X(PQgetResult) \
	X(PQgetisnull) \
	X(PQgetvalue) \
	X(PQisBusy) \
	X(PQnfields) \
	X(PQntuples) \
	X(PQreset) \
	X(PQresultErrorMessage) \
	X(PQresultStatus) \
	X(PQsendQueryParams) \
	X(PQsetNoticeProcessor) \
	X(PQsetSingleRowMode) \
	X(PQsocket) \
	X(PQstatus)

/* The libmariadb functions dict_mysql uses (mysql_library_init is a
 * macro for mysql_server_init). */
#define SQL_DL_MYSQL_FUNCS(X) \
	X(mysql_close) \
	X(mysql_errno) \
	X(mysql_error) \
	X(mysql_fetch_row) \
	X(mysql_free_result) \
	X(mysql_init) \
	X(mysql_more_results) \
	X(mysql_next_result) \
	X(mysql_num_fields) \
	X(mysql_options) \
	X(mysql_real_connect) \
	X(mysql_real_escape_string) \
	X(mysql_real_query) \
	X(mysql_server_init) \
	X(mysql_ssl_set) \
	X(mysql_store_result)

#define SQL_DL_MEMBER(f) __typeof__(f) *f;

/* One pointer per function, named and typed as the library declares it. */
struct sql_pq_api {
	SQL_DL_PQ_FUNCS(SQL_DL_MEMBER)
};

struct sql_mysql_api {
	SQL_DL_MYSQL_FUNCS(SQL_DL_MEMBER)
};

/* NULL until the library is loaded; then every member is set. */
extern const struct sql_pq_api *sql_pq;
extern const struct sql_mysql_api *sql_my;

/*
 * Load libpq (once; later calls return at once).  Returns 0 with
 * sql_pq set, or -1 with err saying what failed and which package to
 * install.
 */
int sql_dl_load_pq(char *err, size_t errsz);

/*
 * Load libmariadb and run mysql_library_init() (once).  Returns 0 with
 * sql_my set, or -1 with err.
 */
int sql_dl_load_mysql(char *err, size_t errsz);

/*
 * Load what the table spec ("type:name", "proxy:type:name") needs:
 * libpq for pgsql:, libmariadb for mysql:, nothing for other types.
 * Returns 0 (loaded, or nothing to load), or -1 with err.  For the
 * lookup process's preinit, before it chroots.
 */
int sql_dl_load_for(const char *spec, char *err, size_t errsz);

/*
 * Testing hook, for the unit tests only: load pq_soname instead of
 * SQL_DL_PQ_SONAME and mysql_soname instead of SQL_DL_MYSQL_SONAME
 * (NULL: the real name).  Only affects a library not loaded yet.  The
 * strings must outlive the loads.
 */
void sql_dl_testing_set_sonames(const char *pq_soname,
    const char *mysql_soname);

#endif
