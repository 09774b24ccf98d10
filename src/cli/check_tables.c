/* SPDX-License-Identifier: MIT */
/*
 * check_tables - the SQL tables part of `ostia check`.
 *
 * SQL tables (mysql:, pgsql:, sqlite:) read their .cf file when they are
 * opened, which the configuration check already does, but they connect
 * and run their query only at their first lookup: a wrong password, a
 * host that is down, a table or column name that is wrong in the query
 * would show only when mail arrives, as 451 replies and deferred mail.
 * With --live, each SQL table the configuration names is asked once,
 * as root, with a key that matches nothing ("ostia-check@" and the
 * first domain of its domain rule, or "check.ostia.invalid"): an answer
 * (found or not) means the connection and the query work; a temporary
 * failure is an error, in the table's own words (no password in them).
 * Without --live the tables are listed, not asked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "check_report.h"
#include "cli.h"
#include "dict.h"
#include "lookup_tables.h"
#include "sql_cf.h"
#include "xalloc.h"

#define CHECK_PROBE_LOCAL "ostia-check"
#define CHECK_PROBE_DOMAIN "check.ostia.invalid"

static const char *const sql_types[] = { "mysql", "pgsql", "sqlite" };

/* sql_type - "mysql" for "mysql:...", or NULL for other tables. */
static const char *
sql_type(const char *spec)
{
	for (size_t i = 0; i < N_ELEMENTS(sql_types); i++) {
		size_t n = strlen(sql_types[i]);

		if (strncmp(spec, sql_types[i], n) == 0 && spec[n] == ':')
			return sql_types[i];
	}
	return NULL;
}

static void
noop(void *ctx, const char *s, size_t n)
{
	(void)ctx;
	(void)s;
	(void)n;
}

/*
 * probe_key - a key the table's query runs for and that matches
 * nothing; NULL (with why) when the .cf cannot be read or its query
 * would not run for any such key.
 */
static char *
probe_key(const char *type, const char *path,
    const struct dict_open_opts *opts, char *why, size_t whysz)
{
	struct sql_cf cf;
	char *key;

	memset(&cf, 0, sizeof(cf));
	if (sql_cf_load(path, type, opts, &cf, why, whysz) < 0)
		return NULL;
	key = xasprintf("%s@%s", CHECK_PROBE_LOCAL, cf.domain != NULL &&
	    cf.domain[0] != NULL ? cf.domain[0] : CHECK_PROBE_DOMAIN);
	if (sql_query_expand(&cf, key, noop, noop, NULL) != SQL_EXPAND_OK) {
		snprintf(why, whysz, "its query is not run for a key like %s "
		    "(the domain rule or a %%N expansion)", key);
		free(key);
		key = NULL;
	}
	sql_cf_free(&cf);
	return key;
}

static void
ask(const struct lookup_table *t, const char *type,
    const struct dict_open_opts *opts, struct check_report *r)
{
	char err[DICT_ERR_MAX_BYTES], why[DICT_ERR_MAX_BYTES];
	const char *path = t->spec + strlen(type) + 1;
	struct dict *d;
	struct buf value;
	char *key;
	enum dict_status st;

	key = probe_key(type, path, opts, why, sizeof(why));
	if (key == NULL) {
		check_say(r, CHECK_NOTE, "%s (%s): not asked: %s", t->spec,
		    t->param, why);
		return;
	}
	d = dict_open(t->spec, opts, err, sizeof(err));
	if (d == NULL) {
		check_say(r, CHECK_ERROR, "%s (%s): does not open: %s", t->spec,
		    t->param, err);
		free(key);
		return;
	}
	buf_init(&value, 1 << 20);
	err[0] = '\0';
	st = dict_get(d, key, &value, err, sizeof(err));
	if (st == DICT_TEMPFAIL) {
		/* The table's message starts with its name: said once. */
		const char *e = err;
		size_t sl = strlen(t->spec);

		if (strncmp(e, t->spec, sl) == 0 && e[sl] == ':' &&
		    e[sl + 1] == ' ')
			e += sl + 2;
		check_say(r, CHECK_ERROR, "%s (%s): the lookup fails: %s; until "
		    "this is fixed, mail that needs this table gets a "
		    "temporary failure (451) and waits", t->spec, t->param,
		    e[0] != '\0' ? e : "no reason given");
	} else {
		check_say(r, CHECK_OK, "%s (%s): connected, its query ran (%s "
		    "for %s)", t->spec, t->param, st == DICT_FOUND ?
		    "a row" : "no row", key);
	}
	buf_deinit(&value);
	dict_close(d);
	free(key);
}

int
check_tables(const struct config *cf, bool live)
{
	struct lookup_tableset ts;
	struct dict_open_opts opts;
	struct check_report r = { 0, 0 };
	size_t n = 0;

	lookup_tables_collect(cf, &ts);
	lookup_tables_opts(cf, &opts);
	for (size_t i = 0; i < ts.n; i++)
		n += sql_type(ts.items[i].spec) != NULL;
	if (n == 0) {
		printf("\nSQL tables: none\n");
		lookup_tables_deinit(&ts);
		return 0;
	}
	printf("\nSQL tables: %zu%s:\n", n, live ? " (--live: one lookup in "
	    "each)" : "");
	for (size_t i = 0; i < ts.n; i++) {
		const struct lookup_table *t = &ts.items[i];
		const char *type = sql_type(t->spec);

		if (type == NULL)
			continue;
		if (!live)
			check_say(&r, CHECK_NOTE, "%s (%s): not asked (`ostia "
			    "check --live` connects and runs its query)",
			    t->spec, t->param);
		else
			ask(t, type, &opts, &r);
	}
	lookup_tables_deinit(&ts);
	return check_summary("SQL tables", &r);
}
