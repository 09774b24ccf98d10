/* SPDX-License-Identifier: MIT */
/*
 * dict_texthash - texthash:/path, a postmap(1) text file read whole at
 * open (dict_text.h: format, 64 MiB cap, errors as "FILE, line N"),
 * answering like hash: without a build step.  The file name is taken
 * literally (no suffix).  Keys are folded to lower case at load, as the
 * lookups are.
 *
 * The file must pass dict_check_file() (owner root or the mail owner,
 * not group/other writable).  changed() reports a new file (inode or
 * device), a new size or modification time, or a file that can no
 * longer be examined; the caller then reopens the table (Postfix's
 * texthash: never notices changes; we do, to empty the lookup cache).
 * Duplicate keys are logged as warnings at open, the first one kept.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "dict.h"
#include "dict_text.h"
#include "log.h"
#include "xalloc.h"

struct texthash_priv {
	struct dict_text t;
	struct stat st;
};

static int
texthash_open(struct dict *d, const char *name,
    const struct dict_open_opts *opts, char *err, size_t errsz)
{
	struct texthash_priv *p = xcalloc(1, sizeof(*p));

	if (name[0] == '\0') {
		snprintf(err, errsz, "texthash: needs a file name "
		    "(texthash:/etc/ostia/FILE)");
		free(p);
		return -1;
	}
	if (dict_text_load(&p->t, name, opts, DICT_TEXT_FOLD, &p->st, err,
	    errsz) < 0) {
		dict_text_deinit(&p->t);
		free(p);
		return -1;
	}
	for (size_t i = 0; i < p->t.warnings.n; i++)
		log_warning("%s", p->t.warnings.v[i]);
	d->priv = p;
	return 0;
}

static enum dict_status
texthash_lookup(struct dict *d, const char *key, size_t keylen,
    struct buf *value, char *err, size_t errsz)
{
	const struct texthash_priv *p = d->priv;
	const struct dict_text_entry *e = dict_text_find(&p->t, key, keylen);

	if (e == NULL)
		return DICT_NOTFOUND;
	if (buf_append(value, dict_text_value(&p->t, e), e->value_len) < 0) {
		snprintf(err, errsz, "%s: value does not fit the caller's "
		    "buffer", d->spec);
		return DICT_TEMPFAIL;
	}
	return DICT_FOUND;
}

static bool
texthash_changed(struct dict *d)
{
	const struct texthash_priv *p = d->priv;

	return dict_text_file_changed(d->name, &p->st);
}

static void
texthash_close(struct dict *d)
{
	struct texthash_priv *p = d->priv;

	if (p != NULL) {
		dict_text_deinit(&p->t);
		free(p);
	}
	d->priv = NULL;
}

const struct dict_type dict_type_texthash = {
	.name = "texthash",
	.flags = DICT_TYPE_FILE,
	.open = texthash_open,
	.lookup = texthash_lookup,
	.changed = texthash_changed,
	.close = texthash_close,
};
