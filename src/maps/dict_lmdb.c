/* SPDX-License-Identifier: MIT */
/*
 * dict_lmdb - hash:NAME and lmdb:NAME, both reading NAME.lmdb built by
 * `ostia map`; see dict_lmdb.h for the file layout, why hash: is LMDB
 * here (Debian deprecates Berkeley DB; Ostia does not link it), and how
 * files are replaced while readers have them open.
 *
 * Open: dict_check_file() on NAME.lmdb (owner root or the mail owner,
 * not group/other writable), then LMDB read-only without a lock file,
 * then the same rule on the opened descriptor, then the format record.
 * Lookups run in a read transaction of their own; any LMDB error is a
 * temporary failure, never "not found".
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <lmdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dict.h"
#include "dict_lmdb.h"
#include "dict_text.h"
#include "xalloc.h"

/* Largest map a build will try before giving up. */
#define BUILD_MAPSIZE_MAX ((size_t)64 * 1024 * 1024 * 1024)

struct lmdb_priv {
	MDB_env *env;
	MDB_dbi dbi;
	char *path;		/* NAME.lmdb */
	struct stat st;		/* of the opened file */
};

extern const struct dict_type dict_type_lmdb, dict_type_hash;

/* opened_ok - the dict_check_file() rule on the opened file. */
static int
opened_ok(const char *path, const struct stat *st,
    const struct dict_open_opts *opts, char *err, size_t errsz)
{
	if (!S_ISREG(st->st_mode)) {
		snprintf(err, errsz, "%s: not a regular file", path);
		return -1;
	}
	if (opts->trusted_uid != (uid_t)-1 && ((st->st_uid != 0 &&
	    st->st_uid != opts->trusted_uid) ||
	    (st->st_mode & (S_IWGRP | S_IWOTH)))) {
		snprintf(err, errsz, "%s: owner or permissions changed while "
		    "it was being opened: refusing it (try again)", path);
		return -1;
	}
	return 0;
}

/* missing_file - the message for a NAME.lmdb that does not exist. */
static void
missing_file(struct dict *d, const char *name, const char *path, char *err,
    size_t errsz)
{
	char *db = xasprintf("%s.db", name);
	struct stat st;
	bool has_db = stat(db, &st) == 0;

	snprintf(err, errsz, "%s: no such file: build it from the text file "
	    "with `ostia map %s:%s` (an aliases file: `ostia newaliases`)"
	    "%s%s%s", path, d->type->name, name,
	    has_db ? " (" : "", has_db ? db : "", has_db ? " is Postfix's "
	    "Berkeley DB file, which Ostia does not read: Ostia reads hash: "
	    "and lmdb: tables from NAME.lmdb)" : "");
	free(db);
}

static void
lmdb_free(struct lmdb_priv *p)
{
	if (p == NULL)
		return;
	if (p->env != NULL)
		mdb_env_close(p->env);
	free(p->path);
	free(p);
}

static int
lmdb_open(struct dict *d, const char *name,
    const struct dict_open_opts *opts, char *err, size_t errsz)
{
	struct lmdb_priv *p;
	MDB_txn *txn = NULL;
	MDB_dbi meta;
	MDB_val k, v;
	struct stat st;
	int fd, rc;

	if (name[0] == '\0') {
		snprintf(err, errsz, "%s: needs a file name (%s:/etc/ostia/"
		    "FILE reads FILE.lmdb)", d->spec, d->type->name);
		return -1;
	}
	p = xcalloc(1, sizeof(*p));
	p->path = xasprintf("%s%s", name, DICT_LMDB_SUFFIX);
	if (stat(p->path, &st) < 0 && errno == ENOENT) {
		missing_file(d, name, p->path, err, errsz);
		goto fail;
	}
	if (dict_check_file(p->path, opts, err, errsz) < 0)
		goto fail;
	if ((rc = mdb_env_create(&p->env)) != 0 ||
	    (rc = mdb_env_set_maxdbs(p->env, 2)) != 0) {
		snprintf(err, errsz, "%s: %s", p->path, mdb_strerror(rc));
		goto fail;
	}
	rc = mdb_env_open(p->env, p->path, MDB_RDONLY | MDB_NOSUBDIR |
	    MDB_NOLOCK | MDB_NOTLS | MDB_NORDAHEAD, 0);
	if (rc != 0) {
		snprintf(err, errsz, "%s: %s%s", p->path, rc == MDB_INVALID ?
		    "not an LMDB file" : mdb_strerror(rc), rc == MDB_INVALID ?
		    " (rebuild it with `ostia map`)" : "");
		goto fail;
	}
	if (mdb_env_get_fd(p->env, &fd) != 0 || fstat(fd, &p->st) < 0) {
		snprintf(err, errsz, "%s: cannot examine the opened file",
		    p->path);
		goto fail;
	}
	if (opened_ok(p->path, &p->st, opts, err, errsz) < 0)
		goto fail;
	if ((rc = mdb_txn_begin(p->env, NULL, MDB_RDONLY, &txn)) != 0) {
		snprintf(err, errsz, "%s: %s", p->path, mdb_strerror(rc));
		goto fail;
	}
	rc = mdb_dbi_open(txn, "meta", 0, &meta);
	if (rc == 0) {
		k.mv_data = UNCONST("format");
		k.mv_size = strlen("format");
		rc = mdb_get(txn, meta, &k, &v);
	}
	if (rc == MDB_NOTFOUND || rc == MDB_INCOMPATIBLE) {
		snprintf(err, errsz, "%s: not built by `ostia map` (no Ostia "
		    "table inside): rebuild it with `ostia map %s:%s`",
		    p->path, d->type->name, name);
		goto fail;
	}
	if (rc != 0) {
		snprintf(err, errsz, "%s: %s", p->path, mdb_strerror(rc));
		goto fail;
	}
	if (v.mv_size != strlen(DICT_LMDB_FORMAT) ||
	    memcmp(v.mv_data, DICT_LMDB_FORMAT, v.mv_size) != 0) {
		snprintf(err, errsz, "%s: written in another format than \"%s\":"
		    " rebuild it with `ostia map %s:%s`", p->path,
		    DICT_LMDB_FORMAT, d->type->name, name);
		goto fail;
	}
	if ((rc = mdb_dbi_open(txn, "entries", 0, &p->dbi)) != 0) {
		snprintf(err, errsz, "%s: %s", p->path, rc == MDB_NOTFOUND ?
		    "no entries database inside: rebuild it with `ostia map`" :
		    mdb_strerror(rc));
		goto fail;
	}
	/* Committing makes the database handle usable by later txns. */
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc != 0) {
		snprintf(err, errsz, "%s: %s", p->path, mdb_strerror(rc));
		goto fail;
	}
	d->priv = p;
	return 0;
fail:
	if (txn != NULL)
		mdb_txn_abort(txn);
	lmdb_free(p);
	return -1;
}

static enum dict_status
lmdb_lookup(struct dict *d, const char *key, size_t keylen,
    struct buf *value, char *err, size_t errsz)
{
	struct lmdb_priv *p = d->priv;
	enum dict_status st = DICT_FOUND;
	MDB_txn *txn;
	MDB_val k, v;
	int rc;

	/* No such key can have been stored. */
	if (keylen == 0 || keylen > (size_t)mdb_env_get_maxkeysize(p->env))
		return DICT_NOTFOUND;
	if ((rc = mdb_txn_begin(p->env, NULL, MDB_RDONLY, &txn)) != 0) {
		snprintf(err, errsz, "%s: %s: %s", d->spec, p->path,
		    mdb_strerror(rc));
		return DICT_TEMPFAIL;
	}
	k.mv_data = UNCONST(key);
	k.mv_size = keylen;
	rc = mdb_get(txn, p->dbi, &k, &v);
	if (rc == MDB_NOTFOUND) {
		st = DICT_NOTFOUND;
	} else if (rc != 0) {
		snprintf(err, errsz, "%s: %s: %s", d->spec, p->path,
		    mdb_strerror(rc));
		st = DICT_TEMPFAIL;
	} else if (v.mv_size > DICT_VALUE_MAX_BYTES) {
		snprintf(err, errsz, "%s: %s: a stored value is longer than "
		    "%d bytes (damaged file?)", d->spec, p->path,
		    DICT_VALUE_MAX_BYTES);
		st = DICT_TEMPFAIL;
	} else if (buf_append(value, v.mv_data, v.mv_size) < 0) {
		snprintf(err, errsz, "%s: value does not fit the caller's "
		    "buffer", d->spec);
		st = DICT_TEMPFAIL;
	}
	mdb_txn_abort(txn);
	return st;
}

static bool
lmdb_changed(struct dict *d)
{
	const struct lmdb_priv *p = d->priv;

	return dict_text_file_changed(p->path, &p->st);
}

static void
lmdb_close(struct dict *d)
{
	lmdb_free(d->priv);
	d->priv = NULL;
}

const struct dict_type dict_type_lmdb = {
	.name = "lmdb",
	.flags = DICT_TYPE_FILE,
	.open = lmdb_open,
	.lookup = lmdb_lookup,
	.changed = lmdb_changed,
	.close = lmdb_close,
};

const struct dict_type dict_type_hash = {
	.name = "hash",
	.flags = DICT_TYPE_FILE,
	.open = lmdb_open,
	.lookup = lmdb_lookup,
	.changed = lmdb_changed,
	.close = lmdb_close,
};

int
dict_lmdb_walk(struct dict *d, dict_lmdb_walk_cb *cb, void *ctx, char *err,
    size_t errsz)
{
	struct lmdb_priv *p = d->priv;
	MDB_cursor *cur = NULL;
	MDB_txn *txn = NULL;
	MDB_val k, v;
	int rc, ret = 0;

	if (d->type != &dict_type_lmdb && d->type != &dict_type_hash) {
		snprintf(err, errsz, "%s: not an lmdb: or hash: table",
		    d->spec);
		return -1;
	}
	if ((rc = mdb_txn_begin(p->env, NULL, MDB_RDONLY, &txn)) != 0 ||
	    (rc = mdb_cursor_open(txn, p->dbi, &cur)) != 0) {
		snprintf(err, errsz, "%s: %s", p->path, mdb_strerror(rc));
		if (txn != NULL)
			mdb_txn_abort(txn);
		return -1;
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (cb(ctx, k.mv_data, k.mv_size, v.mv_data, v.mv_size) < 0)
			break;
	}
	if (rc != 0 && rc != MDB_NOTFOUND) {
		snprintf(err, errsz, "%s: %s", p->path, mdb_strerror(rc));
		ret = -1;
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return ret;
}

/* ------------------------------------------------------------ build */

static int
put_str(MDB_txn *txn, MDB_dbi dbi, const char *key, const char *value)
{
	MDB_val k, v;

	k.mv_data = UNCONST(key);
	k.mv_size = strlen(key);
	v.mv_data = UNCONST(value);
	v.mv_size = strlen(value);
	return mdb_put(txn, dbi, &k, &v, 0);
}

/*
 * write_env - write the whole table into the empty file tmp (open as
 * fd) with a map of mapsize bytes.  0; an LMDB code (MDB_MAP_FULL: try
 * a bigger map); or -1 with err.
 */
static int
write_env(const char *tmp, int fd, size_t mapsize, const struct dict_text *t,
    bool folded, char *err, size_t errsz)
{
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi entries, meta;
	struct stat a, b;
	char count[32];
	int efd, rc;

	if ((rc = mdb_env_create(&env)) != 0 ||
	    (rc = mdb_env_set_mapsize(env, mapsize)) != 0 ||
	    (rc = mdb_env_set_maxdbs(env, 2)) != 0)
		goto out;
	rc = mdb_env_open(env, tmp, MDB_NOSUBDIR | MDB_NOLOCK | MDB_NOSYNC,
	    0600);
	if (rc != 0)
		goto out;
	/* The file LMDB opened must be the one mkstemp made. */
	if (mdb_env_get_fd(env, &efd) != 0 || fstat(efd, &a) < 0 ||
	    fstat(fd, &b) < 0 || a.st_ino != b.st_ino ||
	    a.st_dev != b.st_dev) {
		snprintf(err, errsz, "%s: the temporary file was replaced "
		    "while in use", tmp);
		rc = -1;
		goto out;
	}
	if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0 ||
	    (rc = mdb_dbi_open(txn, "entries", MDB_CREATE, &entries)) != 0 ||
	    (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &meta)) != 0)
		goto out;
	for (size_t i = 0; i < t->n; i++) {
		const struct dict_text_entry *e = &t->entries[i];
		MDB_val k, v;

		k.mv_data = UNCONST(dict_text_key(t, e));
		k.mv_size = e->key_len;
		v.mv_data = UNCONST(dict_text_value(t, e));
		v.mv_size = e->value_len;
		/* Entries come sorted in LMDB's order: append is safe. */
		if ((rc = mdb_put(txn, entries, &k, &v, MDB_APPEND)) != 0)
			goto out;
	}
	snprintf(count, sizeof(count), "%zu", t->n);
	if ((rc = put_str(txn, meta, "format", DICT_LMDB_FORMAT)) != 0 ||
	    (rc = put_str(txn, meta, "folded", folded ? "yes" : "no")) != 0 ||
	    (rc = put_str(txn, meta, "entries", count)) != 0)
		goto out;
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc != 0)
		goto out;
	rc = mdb_env_sync(env, 1);
out:
	if (txn != NULL)
		mdb_txn_abort(txn);
	if (env != NULL)
		mdb_env_close(env);
	/* -1: err already says why; MDB_MAP_FULL: the caller retries. */
	if (rc != 0 && rc != -1 && rc != MDB_MAP_FULL)
		snprintf(err, errsz, "%s: %s", tmp, mdb_strerror(rc));
	return rc;
}

/* fsync_dir - make a rename in the directory of path durable. */
static int
fsync_dir(const char *path, char *err, size_t errsz)
{
	char *copy = xstrdup(path);
	const char *dir = dirname(copy);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), ret = 0;

	if (fd < 0 || fsync(fd) < 0) {
		snprintf(err, errsz, "%s: %s", dir, strerror(errno));
		ret = -1;
	}
	if (fd >= 0)
		close(fd);
	free(copy);
	return ret;
}

int
dict_lmdb_build(const char *lmdb_path, const struct dict_text *t,
    mode_t mode, bool folded, char *err, size_t errsz)
{
	size_t mapsize = 4 * 1024 * 1024, bytes = 0;
	long page = sysconf(_SC_PAGESIZE);
	sigset_t hold, saved;
	char *tmp;
	int fd, rc, ret = -1;

	for (size_t i = 0; i < t->n; i++) {
		const struct dict_text_entry *e = &t->entries[i];

		if (e->key_len > DICT_LMDB_KEY_MAX_BYTES) {
			snprintf(err, errsz, "%s, line %u: key longer than %d "
			    "bytes, the most an LMDB file can hold (use "
			    "texthash: for this table)", t->where, e->line,
			    DICT_LMDB_KEY_MAX_BYTES);
			return -1;
		}
		/* Generous: node headers, half-full pages, big values. */
		bytes += 2 * (e->key_len + e->value_len + 64);
	}
	mapsize += bytes;
	if (page <= 0)
		page = 4096;
	mapsize = (mapsize + (size_t)page - 1) / (size_t)page * (size_t)page;

	sigemptyset(&hold);
	sigaddset(&hold, SIGINT);
	sigaddset(&hold, SIGTERM);
	sigaddset(&hold, SIGHUP);
	sigaddset(&hold, SIGQUIT);
	sigprocmask(SIG_BLOCK, &hold, &saved);

	tmp = xasprintf("%s.tmp.XXXXXX", lmdb_path);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errsz, "%s: cannot create a temporary file "
		    "beside it: %s", lmdb_path, strerror(errno));
		free(tmp);
		sigprocmask(SIG_SETMASK, &saved, NULL);
		return -1;
	}
	for (;;) {
		rc = write_env(tmp, fd, mapsize, t, folded, err, errsz);
		if (rc != MDB_MAP_FULL)
			break;
		if (mapsize >= BUILD_MAPSIZE_MAX / 2) {
			snprintf(err, errsz, "%s: table too large for a map of "
			    "%zu bytes", lmdb_path, mapsize);
			goto out;
		}
		mapsize *= 2;
		if (ftruncate(fd, 0) < 0) {
			snprintf(err, errsz, "%s: %s", tmp, strerror(errno));
			goto out;
		}
	}
	if (rc != 0)
		goto out;
	if (fchmod(fd, mode & 0777) < 0 || fsync(fd) < 0) {
		snprintf(err, errsz, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		snprintf(err, errsz, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, lmdb_path) < 0) {
		snprintf(err, errsz, "cannot rename %s to %s: %s", tmp,
		    lmdb_path, strerror(errno));
		goto out;
	}
	free(tmp);
	tmp = NULL;
	ret = fsync_dir(lmdb_path, err, errsz);
out:
	if (fd >= 0)
		close(fd);
	if (tmp != NULL) {
		unlink(tmp);
		free(tmp);
	}
	sigprocmask(SIG_SETMASK, &saved, NULL);
	return ret;
}
