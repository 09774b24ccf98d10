/* SPDX-License-Identifier: MIT */
/*
 * queue_spare - queue files kept for the next messages.
 *
 * A message that leaves the queue (every recipient delivered or
 * bounced) does not free its file: the queue manager moves it to
 * spare/, and the next message the queue process receives is written
 * into that file (NEW takes a spare before it makes a new file).  So a
 * steady stream of mail neither frees nor allocates an inode per
 * message.  That matters most on ext4 without a journal, where making a
 * file walks, one by one, over every inode freed in the last minutes (a
 * cost per file that grows with the mail rate), and saves the
 * allocation on every file system.
 *
 * A small spare (at most QUEUE_SPARE_KEEP_BYTES) also keeps its data
 * blocks when it is reused within QUEUE_SPARE_FRESH_SECONDS: the next
 * message overwrites them, and its writer cuts what is left over
 * (queue_writer_finish).  A typical message then neither frees nor
 * allocates disk blocks either (no block bitmap to update and sync),
 * and the old pages are still in memory, so overwriting them never
 * waits for a read.  A larger spare is emptied when it leaves the
 * queue, a staler one when it is reused.  So spares hold at most
 * QUEUE_SPARE_MAX * QUEUE_SPARE_KEEP_BYTES of disk (128 MiB), and the
 * bytes of a delivered message stay there, readable by mail_owner
 * only, until the file is reused or the queue process restarts.
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

#include <stdbool.h>
#include <sys/stat.h>
#include <time.h>

/* Spares kept at most; a message removed beyond that frees its file. */
#define QUEUE_SPARE_MAX 4096
/* A spare up to this size keeps its blocks (see above). */
#define QUEUE_SPARE_KEEP_BYTES (32 * 1024)
/* ... when it is reused within this many seconds. */
#define QUEUE_SPARE_FRESH_SECONDS 30
/* A ctime this far ahead of time() is still "now": since Linux 6.13 a
 * file's ctime may be a fine-grained clock reading, a second ahead of
 * the coarse one time() returns. */
#define QUEUE_SPARE_CLOCK_SLACK 2
/* How often the queue process calls spare_trim. */
#define QUEUE_SPARE_TRIM_SECONDS 60

/*
 * spare_init - (the incoming/ lock holder, once) remove what an earlier
 * process left in spare/ and start keeping spares.  Without a usable
 * spare/ (logged) every removal frees its file, as without this module.
 */
void spare_init(void);

/*
 * spare_remove - the queue file dir/id (relative to queue_directory)
 * leaves the queue: moved to spare/ (emptied when larger than
 * QUEUE_SPARE_KEEP_BYTES), or unlinked when no spare is wanted or the
 * move fails.  0, or -1 with errno (from unlink:
 * the file is still there).
 */
int spare_remove(const char *dir, const char *id);

/*
 * spare_take - a spare made into the partial queue file incoming/id
 * (incoming_fd: the open incoming/ directory): mode QUEUE_PARTIAL_MODE,
 * flock'ed on the descriptor returned (O_RDWR); empty, or holding an
 * old message's bytes when it was small and recently used (see above:
 * its writer must write from offset 0 and cut the rest, as
 * queue_writer_finish does).
 * -1 when there is no spare or it could not be used (errno set; a
 * failed spare is dropped); the caller then makes a new file.  A name
 * taken in incoming/ is never replaced (-1, EEXIST).
 */
int spare_take(int incoming_fd, const char *id);

/*
 * spare_keep_blocks - whether a spare whose fstat is st may be reused at
 * time now without emptying it: no larger than QUEUE_SPARE_KEEP_BYTES,
 * and moved to spare/ (its ctime) at most QUEUE_SPARE_FRESH_SECONDS
 * ago (a ctime more than QUEUE_SPARE_CLOCK_SLACK seconds in the
 * future: no, the clock went back).
 */
bool spare_keep_blocks(const struct stat *st, time_t now);

/*
 * spare_trim - (every QUEUE_SPARE_TRIM_SECONDS) free the spares that no
 * message took since the previous call: spare_take takes the newest, so
 * these are the oldest, as many as the fewest kept meanwhile.  How many
 * were dropped (a file already gone counts too).
 */
unsigned spare_trim(void);

/* spare_count - spares kept now (for tests and logs). */
unsigned spare_count(void);

#endif
