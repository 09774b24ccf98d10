/* SPDX-License-Identifier: MIT */
/*
 * maildrop - the drop directory of local submissions
 * ($queue_directory/maildrop), shared by the sendmail command
 * (src/cli/cmd_sendmail.c), the set-group-ID helper ostia-postdrop
 * (src/postdrop/postdrop.c) and pickup in the queue process
 * (src/queue/pickup.c).  docs/queue-format.md, "Maildrop files", is the
 * reference.
 *
 * The directory belongs to mail_owner, group MAILDROP_GROUP, mode
 * 01730: the group may create files but not list or read the
 * directory; the sticky bit keeps one submitter from removing another's
 * file.  Only root, mail_owner and ostia-postdrop (set-group-ID
 * MAILDROP_GROUP) write there.
 *
 * A maildrop file is named like a queue ID and holds:
 *
 *   'u' record: "ostia-maildrop 1 UID LOGIN"   (the maildrop header,
 *       written by trusted code: ostia-postdrop, or sendmail run by
 *       root or mail_owner; UID must be the file's owner)
 *   a queue file (queue_file.h) with protocol 'P' "maildrop"
 *
 * A file is created with mode MAILDROP_MODE_WRITING (nobody may read
 * it: pickup leaves it alone) and becomes MAILDROP_MODE_READY once it is
 * complete and fsync'ed.
 *
 * Plain libc only: the set-group-ID helper is linked with this file and
 * nothing else of Ostia, and it must not log through log.h or abort
 * through xalloc.h.
 */
#ifndef OSTIA_MAILDROP_H
#define OSTIA_MAILDROP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Relative to queue_directory. */
#define MAILDROP_DIR "maildrop"
/* The group of the directory and of the set-group-ID helper; the
 * master creates it (a system group) when it is missing. */
#define MAILDROP_GROUP "ostia-postdrop"
#define MAILDROP_HELPER "ostia-postdrop"
#define MAILDROP_DIR_MODE 01730
#define MAILDROP_MODE_WRITING 0200
#define MAILDROP_MODE_READY 0444
/* The maildrop header record. */
#define MAILDROP_HEADER_TYPE 'u'
#define MAILDROP_HEADER_MAGIC "ostia-maildrop 1"
#define MAILDROP_HEADER_MAX_BYTES 128
#define MAILDROP_LOGIN_MAX_BYTES 64
/* A file name: a queue ID (16 characters of Crockford base32). */
#define MAILDROP_NAME_LEN 16
/* Hard cap of the helper, whatever it is told (pickup applies
 * message_size_limit). */
#define MAILDROP_FILE_MAX_BYTES ((uint64_t)1 << 32)

/* sysexits.h values used by the writer (kept here so that the helper
 * and the sendmail command answer the same). */
#define MAILDROP_EX_OK 0
#define MAILDROP_EX_USAGE 64
#define MAILDROP_EX_DATAERR 65
#define MAILDROP_EX_NOUSER 67
#define MAILDROP_EX_SOFTWARE 70
#define MAILDROP_EX_OSERR 71
#define MAILDROP_EX_CANTCREAT 73
#define MAILDROP_EX_IOERR 74
#define MAILDROP_EX_TEMPFAIL 75
#define MAILDROP_EX_NOPERM 77

/* True if name is a possible maildrop file name (a queue ID: safe in a
 * path, never "." or "/"). */
bool maildrop_name_valid(const char *name);

/* True if login may stand as the local part of an address: 1 to
 * MAILDROP_LOGIN_MAX_BYTES characters of RFC 5322 atext and dots, no
 * leading, trailing or double dot. */
bool maildrop_login_valid(const char *login);

/*
 * Encode the maildrop header record for uid and login into out.
 * Returns its length, or -1 when login is not valid or out too small
 * (MAILDROP_HEADER_MAX_BYTES + 5 always suffices).
 */
int maildrop_header_encode(uid_t uid, const char *login, unsigned char *out,
    size_t outsz);

/*
 * Parse the maildrop header at the start of data (len bytes).  Returns
 * the number of bytes it takes (the queue file follows), with *uid_r and
 * login (NUL-terminated) set; or -1 with *error_r a static text.
 */
long maildrop_header_parse(const unsigned char *data, size_t len,
    uid_t *uid_r, char login[MAILDROP_LOGIN_MAX_BYTES + 1],
    const char **error_r);

/*
 * Check the maildrop directory open as dirfd (O_PATH is enough): a
 * directory with mode MAILDROP_DIR_MODE whose group is gid.  0, or -1
 * with *error_r a static text.  The helper calls it with its effective
 * group, so that it writes into nothing but a maildrop directory.
 */
int maildrop_dir_check(int dirfd, gid_t gid, const char **error_r);

/*
 * Create dirfd/name (O_EXCL, mode MAILDROP_MODE_WRITING), write the
 * maildrop header for uid and login, then copy in_fd to its end (at most
 * max_bytes in all; MAILDROP_FILE_MAX_BYTES when larger), fsync the
 * file, make it MAILDROP_MODE_READY and fsync the directory when it can
 * be opened for reading (root and mail_owner; ostia-postdrop's group
 * cannot read it).  On any failure the file is removed.
 *
 * Returns MAILDROP_EX_OK, or a sysexits code with a message in err:
 * CANTCREAT (the file cannot be created), DATAERR (more than
 * max_bytes), TEMPFAIL (no space, quota, interrupted), IOERR (another
 * read or write error).
 */
int maildrop_drop(int dirfd, const char *name, uid_t uid, const char *login,
    int in_fd, uint64_t max_bytes, char *err, size_t errsz);

#endif
