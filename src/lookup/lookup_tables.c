/* SPDX-License-Identifier: MIT */
/*
 * lookup_tables - the tables the lookup process serves; see
 * lookup_tables.h.
 */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lookup_tables.h"
#include "strv.h"
#include "xalloc.h"

static const char *const excluded[] = {
	"tls_server_sni_maps",
	"address_verify_map",
	"postscreen_cache_map",
	"alias_database",
};

bool
lookup_tables_param_excluded(const char *param)
{
	for (size_t i = 0; i < N_ELEMENTS(excluded); i++)
		if (strcmp(param, excluded[i]) == 0)
			return true;
	return false;
}

const char *
lookup_tables_unproxy(const char *spec)
{
	if (strncmp(spec, "proxy:", 6) == 0)
		return spec + 6;
	return spec;
}

struct lookup_table *
lookup_tables_find(struct lookup_tableset *ts, const char *spec)
{
	spec = lookup_tables_unproxy(spec);
	for (size_t i = 0; i < ts->n; i++)
		if (strcmp(ts->items[i].spec, spec) == 0)
			return &ts->items[i];
	return NULL;
}

static void
add_view(struct lookup_tableset *ts, const struct config_view *v)
{
	for (int id = 0; id < P__COUNT; id++) {
		const struct param_def *def = &config_params[id];
		const char *origin = NULL;
		char **list;

		if (def->type != PT_MAPS ||
		    lookup_tables_param_excluded(def->name))
			continue;
		if (config_raw(v, def->name, &origin) == NULL ||
		    origin == NULL || strcmp(origin, "default") == 0)
			continue;
		list = config_list(v, (enum param_id)id);
		for (char **p = list; *p != NULL; p++) {
			const char *spec = lookup_tables_unproxy(*p);
			struct lookup_table *t = lookup_tables_find(ts, spec);

			if (t != NULL) {
				t->strict |= def->status == PS_IMPL;
				continue;
			}
			ts->items = xreallocarray(ts->items, ts->n + 1,
			    sizeof(*ts->items));
			t = &ts->items[ts->n++];
			memset(t, 0, sizeof(*t));
			t->spec = xstrdup(spec);
			t->param = xstrdup(def->name);
			t->strict = def->status == PS_IMPL;
		}
		strv_free(&list);
	}
}

void
lookup_tables_collect(const struct config *cf, struct lookup_tableset *ts)
{
	const struct master_cf *mcf = config_master(cf);

	memset(ts, 0, sizeof(*ts));
	add_view(ts, config_main(cf));
	for (size_t i = 0; mcf != NULL && i < mcf->nservices; i++)
		add_view(ts, config_service(cf, i));
}

size_t
lookup_tables_open(struct lookup_tableset *ts,
    const struct dict_open_opts *opts, struct diag_list *diags)
{
	size_t failed = 0;

	for (size_t i = 0; i < ts->n; i++) {
		struct lookup_table *t = &ts->items[i];
		char err[DICT_ERR_MAX_BYTES];

		if (t->d != NULL)
			continue;
		free(t->open_error);
		t->open_error = NULL;
		if (strncmp(t->spec, "proxy:", 6) == 0) {
			snprintf(err, sizeof(err), "proxy:proxy: makes no "
			    "sense: write proxy:TYPE:NAME once");
			t->d = NULL;
		} else {
			t->d = dict_open(t->spec, opts, err, sizeof(err));
		}
		if (t->d != NULL)
			continue;
		t->open_error = xstrdup(err);
		if (t->strict) {
			failed++;
			diag_add(diags, DIAG_ERROR, NULL, 0, "%s: table %s: %s",
			    t->param, t->spec, err);
		} else {
			diag_add(diags, DIAG_WARNING, NULL, 0, "%s: table %s: "
			    "%s; lookups in it fail until this is fixed (%s is "
			    "not used by this version of Ostia yet)", t->param,
			    t->spec, err, t->param);
		}
	}
	return failed;
}

void
lookup_tables_deinit(struct lookup_tableset *ts)
{
	for (size_t i = 0; i < ts->n; i++) {
		dict_close(ts->items[i].d);
		free(ts->items[i].spec);
		free(ts->items[i].param);
		free(ts->items[i].open_error);
	}
	free(ts->items);
	memset(ts, 0, sizeof(*ts));
}

void
lookup_tables_opts(const struct config *cf, struct dict_open_opts *o)
{
	const struct config_view *v = config_main(cf);
	struct passwd *pw = getpwnam(config_str(v, P_mail_owner));

	dict_open_opts_init(o);
	o->trusted_uid = pw != NULL ? pw->pw_uid : 0;
	o->config_dir = config_dir(cf);
}

int
lookup_tables_check(const struct config *cf, struct diag_list *diags)
{
	struct lookup_tableset ts;
	struct dict_open_opts opts;
	struct diag_list all;
	size_t failed;

	lookup_tables_collect(cf, &ts);
	lookup_tables_opts(cf, &opts);
	diag_list_init(&all);
	failed = lookup_tables_open(&ts, &opts, &all);
	/* Warnings are the lookup process's to log, once per start. */
	for (size_t i = 0; i < all.n; i++)
		if (all.items[i].level == DIAG_ERROR)
			diag_add(diags, DIAG_ERROR, NULL, 0, "%s",
			    all.items[i].text);
	diag_list_deinit(&all);
	lookup_tables_deinit(&ts);
	return failed > 0 ? -1 : 0;
}
