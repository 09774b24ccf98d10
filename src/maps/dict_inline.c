/* SPDX-License-Identifier: MIT */
/*
 * dict_inline - inline:{ key=value, { key = text with spaces }, ... },
 * a small fixed table written in the parameter value itself (Postfix
 * 3.x).  The syntax is parsed by dict_text_parse_inline() (dict_text.h):
 * errors refuse the table, duplicate keys are logged as warnings and the
 * first one is kept.  Keys are folded to lower case like every fixed
 * table's.
 */
#include <stdio.h>
#include <stdlib.h>

#include "dict.h"
#include "dict_text.h"
#include "log.h"
#include "xalloc.h"

static int
inline_open(struct dict *d, const char *name,
    const struct dict_open_opts *opts, char *err, size_t errsz)
{
	struct dict_text *t = xcalloc(1, sizeof(*t));

	(void)opts;
	if (dict_text_parse_inline(t, name, DICT_TEXT_FOLD, err, errsz) < 0) {
		dict_text_deinit(t);
		free(t);
		return -1;
	}
	for (size_t i = 0; i < t->warnings.n; i++)
		log_warning("%s: %s", d->spec, t->warnings.v[i]);
	d->priv = t;
	return 0;
}

static enum dict_status
inline_lookup(struct dict *d, const char *key, size_t keylen,
    struct buf *value, char *err, size_t errsz)
{
	const struct dict_text *t = d->priv;
	const struct dict_text_entry *e = dict_text_find(t, key, keylen);

	if (e == NULL)
		return DICT_NOTFOUND;
	if (buf_append(value, dict_text_value(t, e), e->value_len) < 0) {
		snprintf(err, errsz, "%s: value does not fit the caller's "
		    "buffer", d->spec);
		return DICT_TEMPFAIL;
	}
	return DICT_FOUND;
}

static void
inline_close(struct dict *d)
{
	struct dict_text *t = d->priv;

	if (t != NULL) {
		dict_text_deinit(t);
		free(t);
	}
	d->priv = NULL;
}

const struct dict_type dict_type_inline = {
	.name = "inline",
	.flags = 0,
	.open = inline_open,
	.lookup = inline_lookup,
	.changed = NULL,
	.close = inline_close,
};
