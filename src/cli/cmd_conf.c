/* SPDX-License-Identifier: MIT */
/*
 * cmd_conf - `ostia conf`: show and edit parameters, like postconf.
 *
 *   ostia conf              every known parameter with its value
 *   ostia conf -n           only what main.cf sets (postconf -n)
 *   ostia conf -d           defaults (postconf -d)
 *   ostia conf -x           expand $name in values (with the above)
 *   ostia conf -h           values only, no "name = "
 *   ostia conf NAME...      those parameters
 *   ostia conf -M [S[/T]]   master.cf services with their -o
 *   ostia conf -e N=V...    edit main.cf in place (config_edit.h)
 *   ostia conf -X NAME...   remove parameters from main.cf
 *   ostia conf --reference  the configuration reference in Markdown
 *
 * Runs as whoever invoked it; reads the configuration directory, and
 * writes main.cf only for -e and -X.  Warnings and errors about the
 * configuration go to stderr with file:line.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "config.h"
#include "config_edit.h"
#include "log.h"
#include "strv.h"
#include "xalloc.h"

enum conf_mode {
	CONF_ALL,
	CONF_NONDEFAULT,
	CONF_DEFAULTS,
	CONF_MASTER,
	CONF_EDIT,
	CONF_REMOVE,
	CONF_REFERENCE,
};

struct conf_opts {
	enum conf_mode mode;
	bool expand;
	bool values_only;
	char **names;
	int nnames;
};

static void
print_param(const struct conf_opts *o, const struct config_view *v,
    const char *name, const char *raw)
{
	char *exp = NULL;
	const char *val = raw;

	if (o->expand && v != NULL) {
		const char *err = NULL;

		exp = config_expand(v, raw, &err);
		if (exp != NULL)
			val = exp;
	}
	if (o->values_only)
		printf("%s\n", val);
	else
		printf("%s =%s%s\n", name, val[0] != '\0' ? " " : "", val);
	free(exp);
}

static int
cmp_settings(const void *a, const void *b)
{
	const struct config_setting *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

/* show_nondefault - main.cf settings, effective ones, sorted by name. */
static void
show_nondefault(const struct conf_opts *o, const struct config *cf)
{
	const struct config_setting *s;
	size_t n = config_main_settings(cf, &s);
	const struct config_setting **eff = xcalloc(n + 1, sizeof(*eff));
	size_t ne = 0;

	for (size_t i = 0; i < n; i++) {
		bool later = false;

		for (size_t j = i + 1; j < n && !later; j++)
			later = strcmp(s[i].name, s[j].name) == 0;
		if (!later)
			eff[ne++] = &s[i];
	}
	qsort(eff, ne, sizeof(*eff), cmp_settings);
	for (size_t i = 0; i < ne; i++)
		print_param(o, config_main(cf), eff[i]->name, eff[i]->value);
	free(eff);
}

static int
show_named(const struct conf_opts *o, const struct config *cf)
{
	int ret = 0;

	for (int i = 0; i < o->nnames; i++) {
		const char *name = o->names[i];
		const char *raw;

		if (o->mode == CONF_DEFAULTS) {
			int id = config_schema_id(name);

			raw = id >= 0 ? (strcmp(name, "config_directory") == 0 ?
			    config_dir(cf) : config_params[id].def) : NULL;
			if (id == P_myhostname || id == P_mydomain)
				raw = config_raw(config_main(cf), name, NULL);
		} else {
			raw = config_raw(config_main(cf), name, NULL);
		}
		if (raw == NULL) {
			const char *near = config_schema_suggest(name);

			if (near != NULL)
				log_warning("%s: unknown parameter; did you "
				    "mean %s?", name, near);
			else
				log_warning("%s: unknown parameter", name);
			ret = 1;
			continue;
		}
		print_param(o, config_main(cf), name, raw);
	}
	return ret;
}

static void
show_all(const struct conf_opts *o, const struct config *cf)
{
	const struct config_setting *s;
	size_t n = config_main_settings(cf, &s);
	struct strv extra;

	for (int id = 0; id < P__COUNT; id++) {
		const char *raw = o->mode == CONF_DEFAULTS &&
		    id != P_myhostname && id != P_mydomain &&
		    id != P_config_directory ? config_params[id].def :
		    config_raw(config_main(cf), config_params[id].name, NULL);

		print_param(o, config_main(cf), config_params[id].name, raw);
	}
	if (o->mode == CONF_DEFAULTS)
		return;
	/* User-defined parameters set in main.cf. */
	strv_init(&extra);
	for (size_t i = 0; i < n; i++) {
		bool seen = false;

		if (config_schema_find(s[i].name) != NULL)
			continue;
		for (size_t k = 0; k < extra.n && !seen; k++)
			seen = strcmp(extra.v[k], s[i].name) == 0;
		if (!seen)
			strv_add(&extra, s[i].name);
	}
	for (size_t k = 0; k < extra.n; k++)
		print_param(o, config_main(cf), extra.v[k],
		    config_raw(config_main(cf), extra.v[k], NULL));
	strv_deinit(&extra);
}

static int
show_master(const struct conf_opts *o, const struct config *cf)
{
	const struct master_cf *m = config_master(cf);
	int ret = 0;

	for (size_t i = 0; i < m->nservices; i++) {
		const struct master_service *s = &m->services[i];
		bool want = o->nnames == 0;

		for (int k = 0; k < o->nnames && !want; k++) {
			const char *sel = o->names[k];
			const char *slash = strchr(sel, '/');
			size_t nl = slash != NULL ? (size_t)(slash - sel) :
			    strlen(sel);

			want = strlen(s->name) == nl &&
			    strncmp(s->name, sel, nl) == 0 &&
			    (slash == NULL ||
			    strcmp(slash + 1, master_type_name(s->type)) == 0);
		}
		if (want) {
			char *line = master_service_format(s);

			printf("%s\n", line);
			free(line);
		}
	}
	for (int k = 0; k < o->nnames; k++) {
		bool found = false;
		const char *sel = o->names[k];
		const char *slash = strchr(sel, '/');
		size_t nl = slash != NULL ? (size_t)(slash - sel) : strlen(sel);

		for (size_t i = 0; i < m->nservices && !found; i++)
			found = strlen(m->services[i].name) == nl &&
			    strncmp(m->services[i].name, sel, nl) == 0;
		if (!found) {
			log_warning("%s: no such service in %s", sel,
			    config_master_cf_path(cf));
			ret = 1;
		}
	}
	return ret;
}

/* md_cell - a table cell: '|' and newlines escaped, empty shown as "". */
static void
md_cell(struct buf *b, const char *s, bool code)
{
	if (s[0] == '\0' && code) {
		(void)buf_append_str(b, "(empty)");
		return;
	}
	if (code)
		(void)buf_append_c(b, '`');
	for (const char *p = s; *p != '\0'; p++) {
		if (*p == '|')
			(void)buf_append_str(b, "\\|");
		else if (*p == '\n')
			(void)buf_append_c(b, ' ');
		else
			(void)buf_append_c(b, *p);
	}
	if (code)
		(void)buf_append_c(b, '`');
}

static void
md_range(struct buf *b, enum param_type t, long long min, long long max,
    const char *extra)
{
	switch (t) {
	case PT_INT:
	case PT_SIZE:
		(void)buf_appendf(b, "%lld .. %lld", min, max);
		break;
	case PT_TIME:
		(void)buf_appendf(b, "%lds .. %llds (unit: %s)", (long)min, max,
		    extra != NULL ? extra : "s");
		break;
	case PT_BOOL:
		(void)buf_append_str(b, "yes, no");
		break;
	case PT_ENUM:
		md_cell(b, extra != NULL ? extra : "", false);
		break;
	case PT_LIST:
		if (extra != NULL && strcmp(extra, CONFIG_EXTRA_ENV_LIST) == 0)
			(void)buf_append_str(b, "each: NAME or NAME=VALUE");
		else if (extra != NULL) {
			(void)buf_append_str(b, "each of: ");
			md_cell(b, extra, false);
		}
		break;
	case PT_STRING:
	case PT_MAPS:
		break;
	}
}

static const char *
status_word(enum param_status st)
{
	return st == PS_IMPL ? "yes" : st == PS_LATER ? "not yet" :
	    "ignored";
}

static int
show_reference(void)
{
	struct buf b;

	buf_init(&b, 16 * 1024 * 1024);
	(void)buf_appendf(&b, "# Ostia configuration reference\n\n"
	    "Generated from the parameter table "
	    "(`src/common/config_params.def`) by `ostia conf --reference` "
	    "(`make docs`); do not edit by hand.  Ostia %s.\n\n"
	    "Parameters are set in `main.cf` as `name = value`, or per "
	    "service in `master.cf` with `-o name=value`, with Postfix's "
	    "syntax and meanings.  *Honoured* says whether this version "
	    "acts on the parameter: \"not yet\" parameters are accepted "
	    "with one warning at start-up saying they have no effect; "
	    "\"ignored\" ones are Postfix settings that mean nothing in "
	    "Ostia.\n\n"
	    "Value types: *time* is a number with an optional unit s, m, "
	    "h, d or w (the unit shown applies when none is given); *size* "
	    "is a number of bytes; *list* elements are separated by commas "
	    "and/or white space; *lookup tables* is a list of `type:name` "
	    "tables.  Values may refer to other parameters as `$name`, "
	    "`${name}`, `${name?text}` (text when name is not empty) and "
	    "`${name:text}` (text when it is empty).\n\n"
	    "| Parameter | Type | Default | Allowed | Honoured | "
	    "Description |\n|---|---|---|---|---|---|\n", OSTIA_VERSION);
	for (int id = 0; id < P__COUNT; id++) {
		const struct param_def *d = &config_params[id];

		(void)buf_appendf(&b, "| `%s` | %s | ", d->name,
		    config_param_type_name(d->type));
		md_cell(&b, d->def, true);
		(void)buf_append_str(&b, " | ");
		md_range(&b, d->type, d->min, d->max, d->extra);
		(void)buf_appendf(&b, " | %s | ", status_word(d->status));
		md_cell(&b, d->doc, false);
		(void)buf_append_str(&b, " |\n");
	}
	(void)buf_append_str(&b, "\n## Per-service parameters\n\n"
	    "A parameter named `SERVICE` + suffix applies to the master.cf "
	    "service called SERVICE, e.g. `dovecot_destination_recipient_"
	    "limit` for a service named `dovecot`.\n\n"
	    "| Suffix | Type | Allowed | Honoured | Description |\n"
	    "|---|---|---|---|---|\n");
	for (size_t i = 0; i < config_param_suffixes_count; i++) {
		const struct param_suffix_def *d = &config_param_suffixes[i];

		(void)buf_appendf(&b, "| `%s` | %s | ", d->suffix,
		    config_param_type_name(d->type));
		md_range(&b, d->type, d->min, d->max, d->extra);
		(void)buf_appendf(&b, " | %s | ", status_word(d->status));
		md_cell(&b, d->doc, false);
		(void)buf_append_str(&b, " |\n");
	}
	fwrite(b.data, 1, b.len, stdout);
	buf_deinit(&b);
	return 0;
}

/*
 * do_edit - check each NAME=VALUE (or NAME for -X), then edit main.cf.
 * A value for a known parameter must be valid for its type once $names
 * are expanded with the current configuration.
 */
static int
do_edit(struct cli *cli, const struct conf_opts *o)
{
	struct config_edit *edits = xcalloc((size_t)o->nnames + 1,
	    sizeof(*edits));
	struct diag_list diags;
	struct config *cf;
	char *path = xasprintf("%s/main.cf", cli->config_dir);
	char *err = NULL;
	int ret = 1, n = 0;

	diag_list_init(&diags);
	cf = config_load(cli->config_dir, CONFIG_LOAD_NO_MASTER |
	    CONFIG_LOAD_QUIET, &diags);
	for (int i = 0; i < o->nnames; i++) {
		char *arg = o->names[i];
		char *eq = strchr(arg, '=');
		const struct param_def *def;
		char *name, *value = NULL;
		size_t nl;

		if (o->mode == CONF_EDIT && eq == NULL) {
			log_error("-e %s: expected name=value", arg);
			goto out;
		}
		nl = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
		while (nl > 0 && (arg[nl - 1] == ' ' || arg[nl - 1] == '\t'))
			nl--;
		name = xstrndup(arg, nl);
		if (eq != NULL) {
			value = eq + 1;
			while (*value == ' ' || *value == '\t')
				value++;
		}
		edits[n].name = name;
		edits[n].value = o->mode == CONF_EDIT ? value : NULL;
		n++;
		if (nl == 0 || strspn(name, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != nl) {
			log_error("\"%s\" is not a parameter name", name);
			goto out;
		}
		def = config_schema_find(name);
		if (def == NULL && o->mode == CONF_EDIT) {
			const char *near = config_schema_suggest(name);

			log_warning("%s is not a parameter Ostia knows%s%s%s; "
			    "writing it anyway", name, near ? " (did you mean "
			    : "", near ? near : "", near ? "?)" : "");
		}
		if (def != NULL && o->mode == CONF_EDIT) {
			const char *xerr = NULL;
			char *exp = NULL;

			if (cf != NULL)
				exp = config_expand(config_main(cf), value,
				    &xerr);
			else if (strchr(value, '$') == NULL)
				exp = xstrdup(value);
			if (exp == NULL && xerr != NULL) {
				log_error("%s = %s: %s", name, value, xerr);
				goto out;
			}
			if (exp != NULL && config_check_value(def, exp, NULL,
			    NULL, &err) < 0) {
				log_error("%s = %s: invalid value: %s; main.cf "
				    "is unchanged", name, value, err);
				free(exp);
				goto out;
			}
			free(exp);
		}
	}
	if (config_edit_file(path, edits, (size_t)n, &err) < 0) {
		log_error("%s", err);
		goto out;
	}
	ret = 0;
	/* Say what the edited file now looks like to Ostia. */
	config_free(&cf);
	diag_list_deinit(&diags);
	diag_list_init(&diags);
	cf = config_load(cli->config_dir, CONFIG_LOAD_NO_MASTER, &diags);
	cli_print_diags(&diags);
out:
	for (int i = 0; i < n; i++)
		free(UNCONST(edits[i].name));
	free(edits);
	free(err);
	free(path);
	config_free(&cf);
	diag_list_deinit(&diags);
	return ret;
}

int
cmd_conf(struct cli *cli, int argc, char **argv)
{
	struct conf_opts o = { CONF_ALL, false, false, NULL, 0 };
	struct diag_list diags;
	struct config *cf;
	struct strv names;
	int ret = 0;

	strv_init(&names);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-c") == 0 && i + 1 < argc)
			cli->config_dir = argv[++i];
		else if (strcmp(a, "-n") == 0)
			o.mode = CONF_NONDEFAULT;
		else if (strcmp(a, "-d") == 0)
			o.mode = CONF_DEFAULTS;
		else if (strcmp(a, "-M") == 0)
			o.mode = CONF_MASTER;
		else if (strcmp(a, "-e") == 0)
			o.mode = CONF_EDIT;
		else if (strcmp(a, "-X") == 0)
			o.mode = CONF_REMOVE;
		else if (strcmp(a, "-x") == 0)
			o.expand = true;
		else if (strcmp(a, "-h") == 0)
			o.values_only = true;
		else if (strcmp(a, "--reference") == 0)
			o.mode = CONF_REFERENCE;
		else if (a[0] == '-' && a[1] != '\0') {
			log_error("conf: unknown option %s", a);
			strv_deinit(&names);
			return 2;
		} else
			strv_add(&names, a);
	}
	o.names = names.v;
	o.nnames = (int)names.n;

	if (o.mode == CONF_REFERENCE) {
		ret = show_reference();
		goto out_names;
	}
	if (o.mode == CONF_EDIT || o.mode == CONF_REMOVE) {
		if (o.nnames == 0) {
			log_error("conf %s: nothing to do", o.mode == CONF_EDIT ?
			    "-e needs name=value" : "-X needs a name");
			ret = 2;
		} else {
			ret = do_edit(cli, &o);
		}
		goto out_names;
	}

	diag_list_init(&diags);
	cf = config_load(cli->config_dir, o.mode == CONF_MASTER ? 0 :
	    CONFIG_LOAD_NO_MASTER, &diags);
	if (cli_print_diags(&diags) > 0 || cf == NULL) {
		log_error("%s has errors (see above)", cli->config_dir);
		diag_list_deinit(&diags);
		ret = 1;
		goto out_names;
	}
	diag_list_deinit(&diags);
	if (o.mode == CONF_MASTER)
		ret = show_master(&o, cf);
	else if (o.nnames > 0)
		ret = show_named(&o, cf);
	else if (o.mode == CONF_NONDEFAULT)
		show_nondefault(&o, cf);
	else
		show_all(&o, cf);
	config_free(&cf);
out_names:
	strv_deinit(&names);
	return ret;
}
