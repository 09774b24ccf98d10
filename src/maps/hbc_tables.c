/* SPDX-License-Identifier: MIT */
/*
 * hbc_tables - the tables of header and body checks; see hbc_tables.h.
 */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dict_pattern.h"
#include "dict_pcre.h"
#include "dict_regexp.h"
#include "hbc_tables.h"
#include "maps.h"
#include "strv.h"
#include "xalloc.h"

/* open_list - the tables of one list: local types only.  NULL for an
 * empty list; on failure NULL with err set. */
static struct maps *
open_list(const char *title, char **specs, const struct dict_open_opts *opts,
    const char *who, char *err, size_t errsz)
{
	struct maps *m;
	char derr[DICT_ERR_MAX_BYTES];

	err[0] = '\0';
	if (specs[0] == NULL)
		return NULL;
	m = maps_new(title);
	for (size_t i = 0; specs[i] != NULL; i++) {
		const char *colon = strchr(specs[i], ':');
		char tname[32];
		const struct dict_type *t = NULL;
		struct dict *d;

		if (i >= MAPS_MAX_TABLES) {
			snprintf(err, errsz, "%s: more than %d tables", title,
			    MAPS_MAX_TABLES);
			goto fail;
		}
		if (colon != NULL &&
		    (size_t)(colon - specs[i]) < sizeof(tname)) {
			size_t n = (size_t)(colon - specs[i]);

			memcpy(tname, specs[i], n);
			tname[n] = '\0';
			t = dict_type_find(tname);
		}
		if (t != NULL && ((t->flags & DICT_TYPE_NETWORK) ||
		    strcmp(t->name, "proxy") == 0)) {
			snprintf(err, errsz, "%s: %.200s: a %s: table cannot "
			    "be used here (%s looks these tables up itself, "
			    "once per header and body line: use pcre:, "
			    "regexp: or another local table)", title,
			    specs[i], t->name, who);
			goto fail;
		}
		d = dict_open(specs[i], opts, derr, sizeof(derr));
		if (d == NULL) {
			snprintf(err, errsz, "%s: %s", title, derr);
			goto fail;
		}
		maps_add(m, d);
	}
	return m;
fail:
	maps_free(&m);
	return NULL;
}

static bool
same_list(char **a, char **b)
{
	size_t i;

	for (i = 0; a[i] != NULL && b[i] != NULL; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return a[i] == NULL && b[i] == NULL;
}

void
hbc_tables_open(struct hbc_tables *t, const struct config_view *v,
    const enum param_id ids[HBC__NCLASS], const char *who)
{
	struct dict_open_opts opts;
	struct passwd *pw;
	char **specs[HBC__NCLASS];
	char err[DICT_ERR_MAX_BYTES + 256];

	memset(t, 0, sizeof(*t));
	hbc_config_init(&t->cfg);
	t->cfg.header_limit = (size_t)config_size(v, P_header_size_limit);
	t->cfg.line_limit = (size_t)config_size(v, P_line_length_limit);
	t->cfg.body_limit = config_size(v, P_body_checks_size_limit);
	t->cfg.mime_depth = (unsigned)config_int(v, P_mime_nesting_limit);
	t->cfg.disable_mime = config_bool(v, P_disable_mime_input_processing);
	dict_open_opts_init(&opts);
	pw = getpwnam(config_str(v, P_mail_owner));
	opts.trusted_uid = pw != NULL ? pw->pw_uid : 0;
	for (int c = 0; c < HBC__NCLASS; c++) {
		specs[c] = config_list(v, ids[c]);
		if (specs[c][0] != NULL)
			t->active = true;
	}
	for (int c = 0; c < HBC__NCLASS && !t->broken; c++) {
		/* mime_ and nested_header_checks default to $header_checks:
		 * one open list serves every class that names it. */
		for (int k = 0; k < c; k++) {
			if (t->maps[k] != NULL && same_list(specs[k],
			    specs[c])) {
				t->maps[c] = t->maps[k];
				break;
			}
		}
		if (t->maps[c] != NULL)
			continue;
		t->maps[c] = open_list(config_params[ids[c]].name, specs[c],
		    &opts, who, err, sizeof(err));
		t->owns[c] = t->maps[c] != NULL;
		if (t->maps[c] == NULL && err[0] != '\0') {
			t->broken = true;
			snprintf(t->broken_why, sizeof(t->broken_why), "%s",
			    err);
		}
	}
	for (int c = 0; c < HBC__NCLASS; c++)
		strv_free(&specs[c]);
}

void
hbc_tables_close(struct hbc_tables *t)
{
	for (int c = 0; c < HBC__NCLASS; c++) {
		if (t->owns[c])
			maps_free(&t->maps[c]);
		t->maps[c] = NULL;
		t->owns[c] = false;
	}
	free(t->key_copy);
	memset(t, 0, sizeof(*t));
}

/*
 * table_get - key in one table (see the header for the key rules):
 * pattern tables match the bytes as they are; other tables go through
 * dict_get.
 */
static enum dict_status
table_get(struct hbc_tables *t, struct dict *d, const char *key, size_t len,
    struct buf *value, char *err, size_t errsz)
{
	enum dict_status st;

	if (d->type == &dict_type_pcre || d->type == &dict_type_regexp) {
		if (d->type == &dict_type_regexp && len > DICT_KEY_MAX_BYTES) {
			/* regexec() reads up to the NUL. */
			if (t->key_copy == NULL)
				t->key_copy = xmalloc(DICT_KEY_MAX_BYTES + 1);
			memcpy(t->key_copy, key, DICT_KEY_MAX_BYTES);
			t->key_copy[DICT_KEY_MAX_BYTES] = '\0';
			key = t->key_copy;
			len = DICT_KEY_MAX_BYTES;
		}
		buf_reset(value);
		err[0] = '\0';
		st = dict_pattern_lookup(d, NULL, key, len, value, err, errsz);
		if (st == DICT_TEMPFAIL && err[0] == '\0')
			snprintf(err, errsz, "%s: lookup failed", d->spec);
		if (st != DICT_FOUND)
			buf_reset(value);
		return st;
	}
	/* A longer key, or one with a NUL, cannot be in such a table. */
	if (len > DICT_KEY_MAX_BYTES || memchr(key, '\0', len) != NULL)
		return DICT_NOTFOUND;
	return dict_get(d, key, value, err, errsz);
}

int
hbc_tables_lookup(void *ctx, enum hbc_class cls, const char *key,
    size_t keylen, struct buf *value, char *err, size_t errsz)
{
	struct hbc_tables *t = ctx;
	struct maps *m = t->maps[cls];

	if (m == NULL)
		return HBC_NOTFOUND;
	for (size_t i = 0; i < maps_count(m); i++) {
		enum dict_status st = table_get(t, maps_table(m, i), key,
		    keylen, value, err, errsz);

		if (st == DICT_FOUND)
			return HBC_FOUND;
		if (st == DICT_TEMPFAIL)
			return HBC_TEMPFAIL;
	}
	return HBC_NOTFOUND;
}
