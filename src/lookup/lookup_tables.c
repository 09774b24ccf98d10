/* SPDX-License-Identifier: MIT */
/*
 * lookup_tables - the tables the lookup process serves; see
 * lookup_tables.h.
 */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "compat.h"
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

/* add_table - spec (proxy: removed) named by param, unless listed. */
static void
add_table(struct lookup_tableset *ts, const char *spec, const char *param,
    bool strict, bool by_default)
{
	struct lookup_table *t;

	spec = lookup_tables_unproxy(spec);
	/* Exactly (lookup_tables_find would remove a second proxy:). */
	for (size_t i = 0; i < ts->n; i++)
		if (strcmp(ts->items[i].spec, spec) == 0) {
			ts->items[i].strict |= strict;
			ts->items[i].by_default &= by_default;
			return;
		}
	ts->items = xreallocarray(ts->items, ts->n + 1, sizeof(*ts->items));
	t = &ts->items[ts->n++];
	memset(t, 0, sizeof(*t));
	t->spec = xstrdup(spec);
	t->param = xstrdup(param);
	t->strict = strict;
	t->by_default = by_default;
}

bool
lookup_tables_is_table(const char *element)
{
	const char *spec = lookup_tables_unproxy(element);
	const char *colon = strchr(spec, ':');
	char tname[32];
	size_t n;

	if (colon == NULL || colon == spec || colon[1] == '\0')
		return false;
	n = (size_t)(colon - spec);
	if (n >= sizeof(tname))
		return false;
	memcpy(tname, spec, n);
	tname[n] = '\0';
	return dict_type_find(tname) != NULL;
}

bool
lookup_tables_access_word(const char *word)
{
	static const char *const fixed[] = {
		"check_sasl_access", "check_ccert_access",
	};
	static const char *const what[] = {
		"client", "reverse_client_hostname", "helo", "sender",
		"recipient",
	};
	static const char *const how[] = { "", "_a", "_mx", "_ns" };
	char w[64];

	for (size_t i = 0; i < N_ELEMENTS(fixed); i++)
		if (strcasecmp(word, fixed[i]) == 0)
			return true;
	for (size_t i = 0; i < N_ELEMENTS(what); i++)
		for (size_t j = 0; j < N_ELEMENTS(how); j++) {
			snprintf(w, sizeof(w), "check_%s%s_access", what[i],
			    how[j]);
			if (strcasecmp(word, w) == 0)
				return true;
		}
	return false;
}

/*
 * The resolver's lookup-table parameters (route_tables_new): the lookup
 * process answers ROUTE with them, defaults included (Postfix's
 * local_recipient_maps default names unix:passwd.byname and
 * $alias_maps), as `ostia route` would open them.
 */
static const enum param_id route_maps[] = {
	P_local_recipient_maps, P_alias_maps, P_virtual_alias_maps,
	P_virtual_mailbox_maps, P_relay_recipient_maps, P_transport_maps,
	P_sender_canonical_maps, P_recipient_canonical_maps, P_canonical_maps,
	P_recipient_bcc_maps, P_sender_bcc_maps,
	P_sender_dependent_relayhost_maps,
	P_sender_dependent_default_transport_maps,
};

/* Domain and network lists whose elements may be tables. */
static const enum param_id domain_lists[] = {
	P_mydestination, P_relay_domains, P_virtual_alias_domains,
	P_virtual_mailbox_domains, P_mynetworks, P_permit_mx_backup_networks,
	P_postscreen_access_list,
};

/* Restriction lists: the table after each check_*_access. */
static const enum param_id restriction_lists[] = {
	P_smtpd_client_restrictions, P_smtpd_helo_restrictions,
	P_smtpd_sender_restrictions, P_smtpd_recipient_restrictions,
	P_smtpd_relay_restrictions, P_smtpd_data_restrictions,
	P_smtpd_end_of_data_restrictions, P_smtpd_etrn_restrictions,
};

/*
 * add_restrictions - the tables of one restriction list (value already
 * expanded).  They are strict: the restriction engine honours every
 * list, and a table it cannot open must stop the start-up rather than
 * turn into "try again later" for all mail.
 */
static void
add_restrictions(struct lookup_tableset *ts, const char *param,
    const char *value)
{
	char **words = config_split_list(value);

	for (size_t i = 0; words[i] != NULL; i++) {
		if (!lookup_tables_access_word(words[i]) || words[i + 1] == NULL)
			continue;
		i++;
		if (lookup_tables_is_table(words[i]))
			add_table(ts, words[i], param, true, false);
	}
	strv_free(&words);
}

static void
add_view(struct lookup_tableset *ts, const struct config_view *v)
{
	char **list;

	for (int id = 0; id < P__COUNT; id++) {
		const struct param_def *def = &config_params[id];
		const char *origin = NULL;

		if (def->type != PT_MAPS ||
		    lookup_tables_param_excluded(def->name))
			continue;
		if (config_raw(v, def->name, &origin) == NULL ||
		    origin == NULL || strcmp(origin, "default") == 0)
			continue;
		list = config_list(v, (enum param_id)id);
		for (char **p = list; *p != NULL; p++)
			add_table(ts, *p, def->name, def->status == PS_IMPL,
			    false);
		strv_free(&list);
	}
	/* Table elements of the domain lists ("!" negates an element). */
	for (size_t i = 0; i < N_ELEMENTS(domain_lists); i++) {
		const struct param_def *def = &config_params[domain_lists[i]];

		list = config_list(v, domain_lists[i]);
		for (char **p = list; *p != NULL; p++) {
			const char *e = *p;

			while (*e == '!')
				e++;
			if (lookup_tables_is_table(e))
				add_table(ts, e, def->name,
				    def->status == PS_IMPL, false);
		}
		strv_free(&list);
	}
	for (size_t i = 0; i < N_ELEMENTS(restriction_lists); i++) {
		const struct param_def *def =
		    &config_params[restriction_lists[i]];

		add_restrictions(ts, def->name, config_str(v,
		    restriction_lists[i]));
	}
	/* Restriction classes: user-defined main.cf (or -o) names. */
	list = config_list(v, P_smtpd_restriction_classes);
	for (char **p = list; *p != NULL; p++) {
		char *value = config_expand_name(v, *p);

		if (value != NULL)
			add_restrictions(ts, *p, value);
		free(value);
	}
	strv_free(&list);
	/* The resolver's tables that only a default names: never strict
	 * (an Ostia system need not have /etc/aliases). */
	for (size_t i = 0; i < N_ELEMENTS(route_maps); i++) {
		const struct param_def *def = &config_params[route_maps[i]];

		list = config_list(v, route_maps[i]);
		for (char **p = list; *p != NULL; p++)
			add_table(ts, *p, def->name, false, true);
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
		} else if (t->by_default) {
			diag_add(diags, DIAG_WARNING, NULL, 0, "%s: table %s "
			    "(the default): %s; lookups in it fail until this is "
			    "fixed", t->param, t->spec, err);
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
