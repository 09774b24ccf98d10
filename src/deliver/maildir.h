/* SPDX-License-Identifier: MIT */
/*
 * maildir - write one message into a Maildir (maildir(5), with the
 * Maildir++ size fields that Dovecot reads).
 *
 * The message is written to DIR/tmp/NAME, flushed with fsync, linked
 * into DIR/new/NAME (renamed when the file system has no hard links),
 * DIR/new is fsync'ed, and the tmp name removed: once maildir_deliver()
 * returns 0 the message survives a crash, and a failure leaves nothing
 * behind in tmp/ or new/.
 *
 * On ext3/ext4 with a journal in data=ordered or data=journal mode
 * (fs_order_data_before_names) the file's data is written out first
 * (sync_file_range: its blocks allocated and written, no journal
 * commit), then it is linked, then fsync'ed.  That journal records a
 * file's allocation and a new name of it in order and flushes the
 * disk's cache before a commit, and the link changes the file's inode
 * in the transaction that changes DIR/new, so the file's one fsync
 * makes data and name durable in one commit instead of two (DIR/new
 * needs no sync of its own), and a crash can leave the message in new/
 * only whole.  The promises above are the same.
 *
 *   NAME = SECONDS.M<usec>P<pid>Q<count>.HOST,S=<size>,W=<vsize>
 *
 * HOST is this machine's name with '/' written as "\057", ':' as "\072"
 * and ',' as "\054" (maildir(5); Dovecot decodes the same); <size> is
 * the size of the file as written, <vsize> the size with CRLF line ends
 * (the RFC 5322 size).
 *
 * Knows nothing about recipients, users or configuration; runs with the
 * privileges of the caller (a delivery agent that already became the
 * mailbox owner).
 */
#ifndef OSTIA_MAILDIR_H
#define OSTIA_MAILDIR_H

#include <stddef.h>
#include <stdint.h>

/* Attempts at a fresh unique name before giving up. */
#define MAILDIR_NAME_TRIES 10

/*
 * The bytes maildir_deliver() writes for prefix and content: prefix as
 * is (LF line ends expected), then content with each CRLF turned into
 * LF, and a final LF added when content is not empty and does not end
 * in one (a CR at the very end is taken for a CRLF cut short and
 * becomes that LF).  Other bare CRs and bare LFs are kept.
 */
uint64_t maildir_message_size(const char *prefix, const char *content,
    size_t len);

/*
 * Deliver content (len bytes, CRLF line ends) with prefix (header lines
 * such as "Return-Path: <a@b>\nDelivered-To: c@d\n", may be "") into the
 * Maildir dir (an absolute path, with or without the trailing '/').
 * Missing directories are created mode 0700: dir and its missing
 * parents, and dir/tmp, dir/new, dir/cur.  The file is created mode 0600
 * with O_EXCL and O_NOFOLLOW; tmp/ and new/ are opened with O_NOFOLLOW
 * (a symbolic link there is refused).
 *
 * Returns 0 with *path_r the final path (caller frees), or -1 with
 * *errno_r (ENOSPC, EDQUOT, EACCES, ...) and *error_r (caller frees) in
 * plain words: what could not be done, the path, the system's reason
 * and, for a permission problem, the uid and gid the process runs as.
 */
int maildir_deliver(const char *dir, const char *prefix, const char *content,
    size_t len, char **path_r, int *errno_r, char **error_r);

/*
 * HOST of the unique names: host with '/', ':' and ',' encoded as
 * "\057", "\072" and "\054" (caller frees).
 */
char *maildir_encode_host(const char *host);

#endif
