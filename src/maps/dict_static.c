/* SPDX-License-Identifier: MIT */
/*
 * dict_static - static:VALUE, a table that finds every key and always
 * answers VALUE (Postfix DATABASE_README).  "static:{ text with
 * spaces }" gives the text between the braces without the white space
 * after "{" and before "}".  An empty value is refused at open: callers
 * would read "" as a found, empty result.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dict.h"
#include "xalloc.h"

struct static_priv {
	char *value;
	size_t len;
};

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int
static_open(struct dict *d, const char *name,
    const struct dict_open_opts *opts, char *err, size_t errsz)
{
	struct static_priv *p;
	size_t b = 0, e = strlen(name);

	(void)opts;
	if (e >= 2 && name[0] == '{' && name[e - 1] == '}') {
		b = 1;
		e--;
		while (b < e && is_space(name[b]))
			b++;
		while (e > b && is_space(name[e - 1]))
			e--;
	}
	if (e == b) {
		snprintf(err, errsz, "static:%s: no value (write static:VALUE, "
		    "or static:{ text with spaces })", name);
		return -1;
	}
	if (e - b > DICT_VALUE_MAX_BYTES) {
		snprintf(err, errsz, "static:...: value longer than %d bytes",
		    DICT_VALUE_MAX_BYTES);
		return -1;
	}
	p = xcalloc(1, sizeof(*p));
	p->value = xstrndup(name + b, e - b);
	p->len = e - b;
	d->priv = p;
	return 0;
}

static enum dict_status
static_lookup(struct dict *d, const char *key, size_t keylen,
    struct buf *value, char *err, size_t errsz)
{
	struct static_priv *p = d->priv;

	(void)key;
	(void)keylen;
	if (buf_append(value, p->value, p->len) < 0) {
		snprintf(err, errsz, "%s: value does not fit the caller's "
		    "buffer", d->spec);
		return DICT_TEMPFAIL;
	}
	return DICT_FOUND;
}

static void
static_close(struct dict *d)
{
	struct static_priv *p = d->priv;

	if (p != NULL) {
		free(p->value);
		free(p);
	}
	d->priv = NULL;
}

const struct dict_type dict_type_static = {
	.name = "static",
	.flags = DICT_TYPE_KEEP_CASE,	/* the key is not even looked at */
	.open = static_open,
	.lookup = static_lookup,
	.changed = NULL,
	.close = static_close,
};
