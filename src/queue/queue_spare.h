/* SPDX-License-Identifier: MIT */
/*
 * queue_spare - queue files kept for the next messages.
 *
 * A message that leaves the queue (every recipient delivered or
 * bounced) does not free its file: the queue manager moves it to
 * spare/ and empties it, and the next message the queue process
 * receives is written into that file (NEW takes a spare before it makes
 * a new file).  So a steady stream of mail neither frees nor allocates
 * an inode per message.  That matters most on ext4 without a journal,
 * where making a file walks, one by one, over every inode freed in the
 * last minutes (a cost per file that grows with the mail rate), and
 * saves the allocation on every file system.
 *
 * Only the process that holds the lock on incoming/ (where the queue
 * manager runs, so every caller is on its event loop thread) keeps
 * spares, in memory, at most QUEUE_SPARE_MAX.  Files that an earlier
 * process left in spare/ are removed at start, never reused: after a
 * crash on a file system that does not order its metadata writes, a
 * name in spare/ might still point at a file that became a message.
 * Nothing in spare/ is ever a message: no reader of the queue looks
 * there.
 */
#ifndef OSTIA_QUEUE_SPARE_H
#define OSTIA_QUEUE_SPARE_H

/* Spares kept at most; a message removed beyond that frees its file. */
#define QUEUE_SPARE_MAX 4096

/*
 * spare_init - (the incoming/ lock holder, once) remove what an earlier
 * process left in spare/ and start keeping spares.  Without a usable
 * spare/ (logged) every removal frees its file, as without this module.
 */
void spare_init(void);

/*
 * spare_remove - the queue file dir/id (relative to queue_directory)
 * leaves the queue: moved to spare/ and emptied, or unlinked when no
 * spare is wanted or the move fails.  0, or -1 with errno (from unlink:
 * the file is still there).
 */
int spare_remove(const char *dir, const char *id);

/*
 * spare_take - a spare made into the partial queue file incoming/id
 * (incoming_fd: the open incoming/ directory): empty, mode
 * QUEUE_PARTIAL_MODE, flock'ed on the descriptor returned (O_RDWR).
 * -1 when there is no spare or it could not be used (errno set; a
 * failed spare is dropped); the caller then makes a new file.  A name
 * taken in incoming/ is never replaced (-1, EEXIST).
 */
int spare_take(int incoming_fd, const char *id);

/* spare_count - spares kept now (for tests and logs). */
unsigned spare_count(void);

#endif
