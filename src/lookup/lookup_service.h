/* SPDX-License-Identifier: MIT */
/*
 * lookup_service - the lookup process: every lookup table, one place.
 *
 * An internal service the master always starts, exactly one process
 * (`ostia child lookup internal 1 ...`), listening on
 * $queue_directory/private/lookup (owner mail_owner, mode 0600) for
 * daemons and tools (lookup_proto.h, lookup_client.h).
 *
 * Privileges: starts as root; at preinit it opens every table the
 * configuration names (lookup_tables.h), so that files only root may
 * read (SQL .cf files with passwords) are read then, and a table of an
 * honoured parameter that does not open ends the process with
 * "fatal: PARAM: table SPEC: FILE, line N: ..." (the master has checked
 * the same before it started anything, so this only happens when a
 * file changed in between).  Then it drops to mail_owner, without a
 * chroot (tables live anywhere; databases are reached through their
 * sockets), and serves.
 *
 * Per request: the table (a "proxy:" prefix is ignored), the cache
 * (lookup_cache.h: positive and negative answers with TTLs and an LRU
 * memory bound; TEMPFAIL never cached), the table itself.  A file table
 * is checked for changes at most once a second (dict_changed); a change
 * reopens it and drops its cached answers, a reopen that fails keeps
 * the previous version and logs why.  A table that starts failing is
 * logged once ("warning: SPEC: lookup failed: REASON; answering 'try
 * again later' until it recovers"), and once more when it works again.
 * SIGHUP drops the whole cache; a reload of the configuration starts a
 * new lookup process (new tables, empty cache).
 *
 * Lookups run on the event loop, one at a time: file tables answer from
 * memory; network tables block the loop for the duration of a query
 * (their own timeouts bound it).
 */
#ifndef OSTIA_LOOKUP_SERVICE_H
#define OSTIA_LOOKUP_SERVICE_H

#include "child.h"

/*
 * Cache settings until the parameters exist (proposed:
 * lookup_cache_ttl = 60s, lookup_negative_cache_ttl = 10s,
 * lookup_cache_size = 16m).
 */
#define LOOKUP_CACHE_TTL_MS (60 * 1000)
#define LOOKUP_NEGATIVE_CACHE_TTL_MS (10 * 1000)
#define LOOKUP_CACHE_MAX_BYTES (16 * 1024 * 1024)
/* A file table is checked for changes at most this often. */
#define LOOKUP_RECHECK_MS 1000
/* Answers waiting for a slow client before its requests stop being
 * read. */
#define LOOKUP_OUT_HIGH_BYTES (1024 * 1024)

extern const struct child_program lookup_service_program;

#endif
