/* SPDX-License-Identifier: MIT */
/*
 * dict - one lookup table, written in Postfix's "type:name" syntax, behind
 * one interface.
 *
 * A table type (static, inline, texthash, hash, lmdb, pcre, regexp,
 * cidr, sqlite, mysql, pgsql, proxy, unix) is a struct dict_type; each lives
 * in its own module (src/maps/dict_TYPE.c) and exports
 * `const struct dict_type dict_type_TYPE`.  dict_open() finds the type
 * by name (dict_registry.def), opens the table and returns a struct
 * dict; dict_get() looks one key up.
 *
 * Three outcomes, never confused: DICT_FOUND (value set), DICT_NOTFOUND,
 * DICT_TEMPFAIL (the table could not answer: a database down, a file
 * unreadable; err says why, for the log).  Callers turn TEMPFAIL into a
 * temporary failure (451 4.3.0 in SMTP, a deferral in delivery), never
 * into "not found".
 *
 * Keys: at most DICT_KEY_MAX_BYTES, no NUL (a key with a NUL is
 * NOTFOUND for exact tables and never reaches a database).  Unless the
 * table says otherwise (DICT_TYPE_KEEP_CASE), dict_get() folds the key
 * to lower case (ASCII; UTF-8 bytes are kept) before the type sees it,
 * as Postfix does.  Values are at most DICT_VALUE_MAX_BYTES.
 *
 * Not thread-safe: one dict is used by one thread.
 */
#ifndef OSTIA_DICT_H
#define OSTIA_DICT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "buf.h"

#define DICT_KEY_MAX_BYTES 4096
#define DICT_VALUE_MAX_BYTES (64 * 1024)
#define DICT_ERR_MAX_BYTES 1024
/* Longest "type:name" accepted. */
#define DICT_SPEC_MAX_BYTES 4096

enum dict_status {
	DICT_TEMPFAIL = -1,
	DICT_FOUND = 0,
	DICT_NOTFOUND = 1,
};

/* dict_type.flags */
#define DICT_TYPE_KEEP_CASE	(1u << 0)  /* keys are not folded (regex
					    * tables fold by their flags) */
#define DICT_TYPE_PATTERN	(1u << 1)  /* matches whole strings with
					    * patterns (pcre, regexp): the
					    * partial keys of the Postfix lookup
					    * order (@domain, user) are not
					    * tried */
#define DICT_TYPE_FILE		(1u << 2)  /* backed by a file that may
					    * change (dict_changed) */
#define DICT_TYPE_NETWORK	(1u << 3)  /* talks to a server; only the
					    * lookup process opens it */
#define DICT_TYPE_CIDR		(1u << 4)  /* keys are IP addresses */

/* How a table is opened. */
struct dict_open_opts {
	/*
	 * Files of the table (the table file itself, SQL .cf files) must be
	 * owned by root or by this uid, and not writable by group or others
	 * (Postfix's rule); (uid_t)-1 skips the owner check (tests, `ostia
	 * map -q` as a user on their own files).
	 */
	uid_t trusted_uid;
	/* For %d-style domain rules, logging: the mail system's name. */
	const char *config_dir;
};

struct dict;

struct dict_type {
	const char *name;		/* "texthash" */
	unsigned flags;			/* DICT_TYPE_* */
	/*
	 * Open: name is everything after "type:" (a path, "{...}" for
	 * inline, "TYPE:NAME" for proxy).  On failure return -1 with a
	 * message naming the file and line in err (DICT_ERR_MAX_BYTES).
	 * Set d->priv.
	 */
	int (*open)(struct dict *d, const char *name,
	    const struct dict_open_opts *opts, char *err, size_t errsz);
	/*
	 * Look key up (already folded unless DICT_TYPE_KEEP_CASE).  On
	 * DICT_FOUND the value is appended to the empty buffer value.  On
	 * DICT_TEMPFAIL err says why (no secrets in it: no passwords).
	 */
	enum dict_status (*lookup)(struct dict *d, const char *key,
	    size_t keylen, struct buf *value, char *err, size_t errsz);
	/* True when the table's file changed since it was opened (the
	 * caller reopens it); NULL when it never changes. */
	bool (*changed)(struct dict *d);
	void (*close)(struct dict *d);
};

struct dict {
	const struct dict_type *type;
	char *spec;			/* "type:name" as written */
	char *name;			/* after "type:" */
	void *priv;			/* the type's state */
};

/*
 * Open "type:name".  NULL with err set: unknown type (the known ones are
 * listed), bad syntax, or the type's own open error.
 */
struct dict *dict_open(const char *spec, const struct dict_open_opts *opts,
    char *err, size_t errsz);
/* Open name with a given type (tests, proxy). */
struct dict *dict_open_type(const struct dict_type *type, const char *name,
    const struct dict_open_opts *opts, char *err, size_t errsz);
enum dict_status dict_get(struct dict *d, const char *key, struct buf *value,
    char *err, size_t errsz);
bool dict_changed(struct dict *d);
void dict_close(struct dict *d);

const struct dict_type *dict_type_find(const char *name);
/* Names of the known types, space-separated, for messages. */
const char *dict_type_names(void);

/* Options with the defaults: owner check against root only. */
void dict_open_opts_init(struct dict_open_opts *opts);

/*
 * Helpers for the types.
 *
 * dict_check_file - Postfix's safety rule for a table's files: owned by
 * root or opts->trusted_uid, and not writable by group or others.
 * Returns 0, or -1 with err ("PATH: owned by uid 1000, not by root or
 * the mail owner: refusing it").
 */
int dict_check_file(const char *path, const struct dict_open_opts *opts,
    char *err, size_t errsz);

#endif
