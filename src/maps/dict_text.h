/* SPDX-License-Identifier: MIT */
/*
 * dict_text - the text forms of fixed tables, parsed into a sorted
 * in-memory table: postmap(1) source files (read by texthash: and by
 * `ostia map`, which turns them into the LMDB files of hash: and lmdb:)
 * and the inline:{...} table name.
 *
 * Postmap text format, as postmap(1) documents it:
 *   - an entry is "key whitespace value"; the key ends at the first
 *     white space (space or tab) that is not inside double quotes, and
 *     the value is the rest of the logical line, surrounding white space
 *     removed, inner white space kept;
 *   - a logical line starts with a non-white-space character; a physical
 *     line that starts with white space continues it (joined without the
 *     newline, its leading white space kept: cf_lines.h, the same reader
 *     as main.cf);
 *   - empty lines, white-space-only lines and lines whose first
 *     non-white-space character is '#' are skipped and end nothing; a
 *     '#' elsewhere is text;
 *   - keys with white space (Postfix 3.2 and later): the key may contain
 *     double-quoted parts, inside which white space does not end the key
 *     and a backslash protects the next character (\" and \\).  The key
 *     is stored in this external form, quotes and backslashes included,
 *     as postmap stores it ("foo bar"@example.com is looked up with its
 *     quotes, the form Postfix uses for quoted address localparts);
 *   - "key: value" is not a separate syntax: postmap keeps the colon in
 *     the key, and so do we, with a warning when a key ends in a single
 *     ':' (it usually is an aliases(5) line in the wrong file);
 *   - keys are folded to lower case (ASCII) with DICT_TEXT_FOLD, as
 *     postmap does without -f;
 *   - a later duplicate of a key is ignored with a warning ("keeps the
 *     first", as postmap does).
 * Differences from postmap, all failing closed: a key without a value,
 * an unbalanced double quote, a key or value past the dict.h limits, a
 * NUL byte, an indented first line, or a file larger than
 * DICT_TEXT_MAX_FILE_BYTES is an error (postmap warns and skips some of
 * these); the caller refuses the whole table.
 *
 * Errors read "FILE, line N: what is wrong"; warnings are collected in
 * t->warnings in line order (at most DICT_TEXT_MAX_WARNINGS, then one
 * "... more" line) for the caller to print or log.
 *
 * The reader is incremental: any split of the input into dict_text_feed()
 * calls gives the same table, the same warnings and the same error.
 *
 * inline:{...} (Postfix 3.x, DATABASE_README): the name is "{ ... }";
 * inside, entries are separated by commas and/or white space; an entry
 * is key=value, or "{ key = value }" when the key or value holds white
 * space or commas (white space after "{", around "=" and before "}" is
 * ignored).  Keys are folded with DICT_TEXT_FOLD; duplicates as above.
 *
 * Not thread-safe per table; nothing global.
 */
#ifndef OSTIA_DICT_TEXT_H
#define OSTIA_DICT_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "buf.h"
#include "cf_lines.h"
#include "dict.h"
#include "strv.h"

/* Largest text table file accepted (texthash:, `ostia map` input). */
#define DICT_TEXT_MAX_FILE_BYTES ((size_t)64 * 1024 * 1024)
/* Warnings kept; further ones are counted in one last line. */
#define DICT_TEXT_MAX_WARNINGS 100

/* Flags. */
#define DICT_TEXT_FOLD (1u << 0)	/* fold keys to lower case (ASCII) */

/* One entry; the strings are NUL-terminated in the table's storage. */
struct dict_text_entry {
	size_t key_off;
	size_t key_len;
	size_t value_off;
	size_t value_len;
	unsigned line;		/* line (file) or element (inline), from 1 */
};

struct dict_text_warning;

struct dict_text {
	/*
	 * Results, valid once dict_text_finish() (or a parse function)
	 * returned 0: entries sorted by key in LMDB's default order (memcmp
	 * of the common length, then the shorter first), keys unique.
	 */
	struct dict_text_entry *entries;
	size_t n;
	struct strv warnings;	/* "FILE, line N: ..." */

	/* Private. */
	char *where;		/* file name, or "inline table" */
	bool is_inline;
	unsigned flags;
	struct cf_lines lines;
	struct buf store;	/* keys and values, NUL-terminated */
	size_t cap;
	size_t fed;
	struct dict_text_warning *pending;	/* while reading, line order */
	size_t npending;
	unsigned dropped;	/* warnings past the limit */
	int state;		/* 0 reading, 1 finished, -1 failed */
	char errmsg[DICT_ERR_MAX_BYTES];
};

/*
 * Start an empty table read from the file named where (used in
 * messages only).  flags: DICT_TEXT_*.
 */
void dict_text_init(struct dict_text *t, const char *where, unsigned flags);
/*
 * Feed len bytes of postmap text.  0, or -1 with err ("FILE, line N:
 * ...").  After -1 the table is failed: later calls return -1 again.
 */
int dict_text_feed(struct dict_text *t, const char *data, size_t len,
    char *err, size_t errsz);
/* End of input: the last line, sorting, duplicates.  0 or -1 as feed. */
int dict_text_finish(struct dict_text *t, char *err, size_t errsz);
/* Release everything; t may be reused with dict_text_init. */
void dict_text_deinit(struct dict_text *t);

/* init + feed(data, len) + finish.  t must be deinitialised either way. */
int dict_text_parse(struct dict_text *t, const char *where, unsigned flags,
    const char *data, size_t len, char *err, size_t errsz);

/*
 * Parse an inline table name ("{ a=b, { c = d e } }", what follows
 * "inline:").  t must be deinitialised either way.  0, or -1 with err
 * ("inline table, element N: ...").
 */
int dict_text_parse_inline(struct dict_text *t, const char *name,
    unsigned flags, char *err, size_t errsz);

/* The entry with exactly this key (binary search), or NULL. */
const struct dict_text_entry *dict_text_find(const struct dict_text *t,
    const char *key, size_t keylen);
/* Key and value of an entry, NUL-terminated, valid as long as t. */
const char *dict_text_key(const struct dict_text *t,
    const struct dict_text_entry *e);
const char *dict_text_value(const struct dict_text *t,
    const struct dict_text_entry *e);

/*
 * Read a table file for a table type: dict_check_file() (owner root or
 * opts->trusted_uid, not group/other writable), then open it, check the
 * opened file again (regular file, same rule: no race between check and
 * read) and read at most max bytes.  Returns 0 with *text_r (NUL-
 * terminated, caller frees), *len_r and *st_r (the opened file's stat,
 * for change detection), or -1 with err ("PATH: ...").
 */
int dict_text_read_file(const char *path, const struct dict_open_opts *opts,
    size_t max, char **text_r, size_t *len_r, struct stat *st_r, char *err,
    size_t errsz);

/*
 * dict_text_read_file(path, ..., DICT_TEXT_MAX_FILE_BYTES) and
 * dict_text_parse() of it.  st_r may be NULL.  t must be deinitialised
 * either way.
 */
int dict_text_load(struct dict_text *t, const char *path,
    const struct dict_open_opts *opts, unsigned flags, struct stat *st_r,
    char *err, size_t errsz);

/*
 * True when the file at path is no longer the one described by st
 * (device, inode, size or modification time differ) or cannot be
 * examined.  For the changed() of file table types.
 */
bool dict_text_file_changed(const char *path, const struct stat *st);

#endif
