/* SPDX-License-Identifier: MIT */
/*
 * sql_dl - libpq and libmariadb loaded at run time; see sql_dl.h.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "sql_dl.h"

/* A dlsym() result is copied into a function pointer member. */
_Static_assert(sizeof(void *) == sizeof(void (*)(void)),
    "function and object pointers differ in size");

/* Where each function's pointer lives in its table. */
struct sql_dl_sym {
	const char *name;
	size_t offset;
};

#define SQL_DL_PQ_SYM(f) { #f, offsetof(struct sql_pq_api, f) },
#define SQL_DL_MYSQL_SYM(f) { #f, offsetof(struct sql_mysql_api, f) },

static const struct sql_dl_sym pq_syms[] = {
	SQL_DL_PQ_FUNCS(SQL_DL_PQ_SYM)
};

static const struct sql_dl_sym mysql_syms[] = {
	SQL_DL_MYSQL_FUNCS(SQL_DL_MYSQL_SYM)
};

static struct sql_pq_api pq_api;
static struct sql_mysql_api mysql_api;

const struct sql_pq_api *sql_pq;
const struct sql_mysql_api *sql_my;

/* The testing hook's names (NULL: the real ones). */
static const char *pq_soname_override;
static const char *mysql_soname_override;

void
sql_dl_testing_set_sonames(const char *pq_soname, const char *mysql_soname)
{
	pq_soname_override = pq_soname;
	mysql_soname_override = mysql_soname;
}

/*
 * dlopen soname and fill the table at api (nsyms entries of syms).
 * Returns 0, or -1 with err "TYPE: ...; install the PACKAGE package".
 * On failure the table may be partly filled; the library, when it was
 * found, stays loaded (never dlclose: see sql_dl.h).
 */
static int
sql_dl_open(const char *type, const char *soname, const char *package,
    const struct sql_dl_sym *syms, size_t nsyms, void *api, char *err,
    size_t errsz)
{
	const char *why;
	void *h;

	(void)dlerror();
	h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		why = dlerror();
		snprintf(err, errsz, "%s: cannot load %s: %s; install the %s "
		    "package", type, soname, why != NULL ? why :
		    "unknown error", package);
		return -1;
	}
	for (size_t i = 0; i < nsyms; i++) {
		void *sym;

		(void)dlerror();
		sym = dlsym(h, syms[i].name);
		why = dlerror();
		if (sym == NULL) {
			snprintf(err, errsz, "%s: %s has no %s (%s); install "
			    "the %s package", type, soname, syms[i].name,
			    why != NULL ? why : "NULL symbol", package);
			return -1;
		}
		memcpy((char *)api + syms[i].offset, &sym, sizeof(sym));
	}
	return 0;
}

int
sql_dl_load_pq(char *err, size_t errsz)
{
	if (sql_pq != NULL)
		return 0;
	if (sql_dl_open("pgsql", pq_soname_override != NULL ?
	    pq_soname_override : SQL_DL_PQ_SONAME, SQL_DL_PQ_PACKAGE,
	    pq_syms, sizeof(pq_syms) / sizeof(pq_syms[0]), &pq_api, err,
	    errsz) < 0)
		return -1;
	sql_pq = &pq_api;
	return 0;
}

int
sql_dl_load_mysql(char *err, size_t errsz)
{
	const char *soname = mysql_soname_override != NULL ?
	    mysql_soname_override : SQL_DL_MYSQL_SONAME;

	if (sql_my != NULL)
		return 0;
	if (sql_dl_open("mysql", soname, SQL_DL_MYSQL_PACKAGE, mysql_syms,
	    sizeof(mysql_syms) / sizeof(mysql_syms[0]), &mysql_api, err,
	    errsz) < 0)
		return -1;
	/*
	 * mysql_library_init(): not thread-safe, so here, once, rather
	 * than implicitly in the first mysql_init().
	 */
	if (mysql_api.mysql_server_init(0, NULL, NULL) != 0) {
		snprintf(err, errsz, "mysql: %s: mysql_library_init failed",
		    soname);
		return -1;
	}
	sql_my = &mysql_api;
	return 0;
}

int
sql_dl_load_for(const char *spec, char *err, size_t errsz)
{
	if (strncmp(spec, "proxy:", 6) == 0)
		spec += 6;
	if (strncmp(spec, "pgsql:", 6) == 0)
		return sql_dl_load_pq(err, errsz);
	if (strncmp(spec, "mysql:", 6) == 0)
		return sql_dl_load_mysql(err, errsz);
	return 0;
}
