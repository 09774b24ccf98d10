/* SPDX-License-Identifier: MIT */
/*
 * dict_lmdb - the files behind hash:NAME and lmdb:NAME: NAME.lmdb, an
 * LMDB file built from the postmap text file NAME by `ostia map`.
 *
 * Postfix's hash: is Berkeley DB, which Debian deprecates and Ostia does
 * not link; Ostia reads the LMDB file for both hash: and lmdb:, so a
 * Postfix configuration naming hash:/etc/postfix/access works once
 * `ostia map /etc/postfix/access` has built access.lmdb (an old
 * access.db is never read).
 *
 * File layout (format "ostia-map 1"): two named LMDB databases,
 * "entries" (key -> value, neither NUL-terminated) and "meta" (format,
 * folded yes/no, entries count).  A file without them (say, one built
 * by Postfix's postmap lmdb:) is refused with a message saying to
 * rebuild it.  Keys are at most 511 bytes (LMDB's limit).
 *
 * Atomic replacement: a build writes a temporary file in the same
 * directory, fsyncs it, renames it over NAME.lmdb and fsyncs the
 * directory, so readers see the old file or the new one, never a mix.
 * Readers open the file read-only without LMDB's lock file
 * (MDB_RDONLY | MDB_NOSUBDIR | MDB_NOLOCK): nothing ever writes to a
 * published file, and a lock file beside it would outlive the renamed
 * data file it describes.  A reader keeps the old inode mapped until it
 * reopens; changed() notices the rename (inode, size or mtime).  Files
 * must therefore only be replaced by rename, never rewritten in place.
 */
#ifndef OSTIA_DICT_LMDB_H
#define OSTIA_DICT_LMDB_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "dict.h"
#include "dict_text.h"

#define DICT_LMDB_SUFFIX ".lmdb"
#define DICT_LMDB_FORMAT "ostia-map 1"
/* Longest key an LMDB file can hold (LMDB's compiled-in maximum). */
#define DICT_LMDB_KEY_MAX_BYTES 511

/*
 * Build lmdb_path atomically from the parsed table t (its entries are in
 * LMDB order already).  mode: permission bits of the new file.  folded:
 * recorded in the file (keys folded to lower case at build).  Signals
 * that end the program are held back while the file is written.  0, or
 * -1 with err (nothing replaced; the temporary file is removed).
 */
int dict_lmdb_build(const char *lmdb_path, const struct dict_text *t,
    mode_t mode, bool folded, char *err, size_t errsz);

/*
 * Call cb for every entry of an open hash: or lmdb: table, in key order
 * (`ostia map -s`).  cb returns 0 to go on, -1 to stop.  0, or -1 with
 * err (a read error, or d is not such a table).
 */
typedef int dict_lmdb_walk_cb(void *ctx, const char *key, size_t keylen,
    const char *value, size_t valuelen);
int dict_lmdb_walk(struct dict *d, dict_lmdb_walk_cb *cb, void *ctx,
    char *err, size_t errsz);

#endif
