/* SPDX-License-Identifier: MIT */
/*
 * screen_cache - the clients postscreen let through, and until when
 * (smtpd_screen.h).
 *
 * Kept in an LMDB file (postscreen_cache_map = lmdb:PATH, or Postfix's
 * btree:PATH / hash:PATH: the file is PATH.lmdb either way) that every
 * process of the service shares and that survives restarts and reloads;
 * or, without a file, in the process's memory (at most SCREEN_CACHE_MAX
 * clients; a restart forgets them).  A key is a client address, a value
 * the time (seconds since the epoch, decimal) until which it passes.
 *
 * The cache only ever saves a client the tests: whatever fails (the
 * file cannot be opened, read or written) is logged and taken as "not
 * remembered", so the client is tested again.  Nothing is synced to
 * disk: losing the newest entries in a crash costs a greeting delay.
 */
#ifndef OSTIA_SCREEN_CACHE_H
#define OSTIA_SCREEN_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* Clients remembered in memory; the file's size limit. */
#define SCREEN_CACHE_MAX 100000
#define SCREEN_CACHE_FILE_MAX_BYTES (256u * 1024 * 1024)

/*
 * Use the table spec (postscreen_cache_map's value; "" = memory only).
 * Call once, before privileges are dropped and before any chroot (the
 * file is opened now and stays open).  0 when the file is in use; -1
 * with the reason in err (the cache is then in memory) when the spec
 * names a type that cannot hold it or the file cannot be opened.
 */
int screen_cache_open(const char *spec, char *err, size_t errsz);
/* Where the cache is: the file's path, or "memory". */
const char *screen_cache_where(void);
/* The time until which addr passes, 0 when not remembered (or when the
 * file cannot be read: logged). */
time_t screen_cache_get(const char *addr);
/* Remember addr until expires (a failure to write is logged). */
void screen_cache_put(const char *addr, time_t expires);
/* Forget every entry that expired before now - keep (postscreen_cache_
 * retention_time); returns how many went. */
size_t screen_cache_clean(time_t now, time_t keep);
/* Close the file, empty the memory (tests). */
void screen_cache_close(void);

#endif
