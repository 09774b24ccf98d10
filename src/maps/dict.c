/* SPDX-License-Identifier: MIT */
/*
 * dict - "type:name" tables behind one interface; see dict.h.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "dict.h"
#include "xalloc.h"

#define DICT_TYPE(n) extern const struct dict_type dict_type_##n;
#include "dict_registry.def"
#undef DICT_TYPE

static const struct dict_type *const dict_types[] = {
#define DICT_TYPE(n) &dict_type_##n,
#include "dict_registry.def"
#undef DICT_TYPE
};

#define N_TYPES (sizeof(dict_types) / sizeof(dict_types[0]))

const struct dict_type *
dict_type_find(const char *name)
{
	for (size_t i = 0; i < N_TYPES; i++)
		if (strcmp(dict_types[i]->name, name) == 0)
			return dict_types[i];
	return NULL;
}

const char *
dict_type_names(void)
{
	static char names[512];

	if (names[0] == '\0') {
		size_t n = 0;

		for (size_t i = 0; i < N_TYPES && n < sizeof(names); i++) {
			int k = snprintf(names + n, sizeof(names) - n, "%s%s",
			    i ? " " : "", dict_types[i]->name);

			if (k < 0)
				break;
			n += (size_t)k;
		}
	}
	return names;
}

void
dict_open_opts_init(struct dict_open_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->trusted_uid = 0;
}

struct dict *
dict_open_type(const struct dict_type *type, const char *name,
    const struct dict_open_opts *opts, char *err, size_t errsz)
{
	struct dict *d = xcalloc(1, sizeof(*d));

	d->type = type;
	d->spec = xasprintf("%s:%s", type->name, name);
	d->name = xstrdup(name);
	err[0] = '\0';
	if (type->open(d, name, opts, err, errsz) < 0) {
		if (err[0] == '\0')
			snprintf(err, errsz, "%s: cannot open the table",
			    d->spec);
		free(d->spec);
		free(d->name);
		free(d);
		return NULL;
	}
	return d;
}

struct dict *
dict_open(const char *spec, const struct dict_open_opts *opts, char *err,
    size_t errsz)
{
	const char *colon = strchr(spec, ':');
	const struct dict_type *type;
	char tname[32];
	size_t n;

	if (strlen(spec) > DICT_SPEC_MAX_BYTES) {
		snprintf(err, errsz, "table name longer than %d bytes",
		    DICT_SPEC_MAX_BYTES);
		return NULL;
	}
	if (colon == NULL || colon == spec) {
		snprintf(err, errsz, "\"%.200s\" is not a table: write "
		    "type:name (types: %s)", spec, dict_type_names());
		return NULL;
	}
	n = (size_t)(colon - spec);
	if (n >= sizeof(tname)) {
		snprintf(err, errsz, "\"%.200s\": unknown table type (types: "
		    "%s)", spec, dict_type_names());
		return NULL;
	}
	memcpy(tname, spec, n);
	tname[n] = '\0';
	type = dict_type_find(tname);
	if (type == NULL) {
		snprintf(err, errsz, "\"%.200s\": unknown table type \"%s\" "
		    "(types: %s)", spec, tname, dict_type_names());
		return NULL;
	}
	return dict_open_type(type, colon + 1, opts, err, errsz);
}

enum dict_status
dict_get(struct dict *d, const char *key, struct buf *value, char *err,
    size_t errsz)
{
	size_t len = strlen(key);
	char small[256], *folded = small;
	enum dict_status st;

	buf_reset(value);
	err[0] = '\0';
	if (len > DICT_KEY_MAX_BYTES)
		return DICT_NOTFOUND;
	if (!(d->type->flags & DICT_TYPE_KEEP_CASE)) {
		if (len >= sizeof(small))
			folded = xmalloc(len + 1);
		for (size_t i = 0; i <= len; i++)
			folded[i] = (char)((key[i] >= 'A' && key[i] <= 'Z') ?
			    key[i] - 'A' + 'a' : key[i]);
		key = folded;
	}
	st = d->type->lookup(d, key, len, value, err, errsz);
	if (st == DICT_TEMPFAIL && err[0] == '\0')
		snprintf(err, errsz, "%s: lookup failed", d->spec);
	if (st != DICT_FOUND)
		buf_reset(value);
	if (folded != small)
		free(folded);
	return st;
}

bool
dict_changed(struct dict *d)
{
	return d->type->changed != NULL && d->type->changed(d);
}

void
dict_close(struct dict *d)
{
	if (d == NULL)
		return;
	if (d->type->close != NULL)
		d->type->close(d);
	free(d->spec);
	free(d->name);
	free(d);
}

int
dict_check_file(const char *path, const struct dict_open_opts *opts,
    char *err, size_t errsz)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (opts->trusted_uid == (uid_t)-1)
		return 0;
	if (st.st_uid != 0 && st.st_uid != opts->trusted_uid) {
		snprintf(err, errsz, "%s: owned by uid %lu, not by root or the "
		    "mail owner: refusing it (someone else could change what "
		    "the table says)", path, (unsigned long)st.st_uid);
		return -1;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(err, errsz, "%s: writable by %s: refusing it (chmod "
		    "go-w %s)", path, (st.st_mode & S_IWOTH) ? "everyone" :
		    "its group", path);
		return -1;
	}
	return 0;
}
