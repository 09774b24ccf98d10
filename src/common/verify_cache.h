/* SPDX-License-Identifier: MIT */
/*
 * verify_cache - what address verification knows about each address,
 * and when to send a probe (the queue process's state for
 * reject_unverified_recipient and reject_unverified_sender).
 *
 * An entry is an address (compared without case) with the result of
 * its last probe, when that result came and when the last probe was
 * sent.  verify_cache_query() answers from it and says whether a probe
 * must go out now:
 *   - no entry, or one whose result expired: PENDING, probe;
 *   - a probe is out (sent less than probe_timeout ago) and no result
 *     came back since: PENDING (or the older result), no new probe;
 *   - OK: kept positive_expire, probed again (while still answering OK)
 *     once it is older than positive_refresh;
 *   - BOUNCE: likewise with negative_expire and negative_refresh;
 *   - DEFER (the probe failed for now): answered, and probed again at
 *     the first query after probe_timeout.
 * verify_cache_update() records a probe's result; with negative_cache
 * off a BOUNCE forgets the address instead.  At most max_entries are
 * kept: when full, expired entries are dropped, and if none is, a new
 * address gets PENDING without a probe (the caller says why).
 *
 * Pure: the time is passed in; no I/O.  Tested by test_verify_cache.
 */
#ifndef OSTIA_VERIFY_CACHE_H
#define OSTIA_VERIFY_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "verify_proto.h"

struct verify_cache_settings {
	time_t positive_expire, positive_refresh;
	time_t negative_expire, negative_refresh;
	time_t probe_timeout;	/* a probe without a result after this is
				 * taken as lost */
	bool negative_cache;
	size_t max_entries;
};

struct verify_cache;

/* What verify_cache_query() found.  dsn and text point into the cache
 * and stay valid until the next call that changes it. */
struct verify_result {
	enum verify_state state;
	const char *dsn;	/* "" for PENDING */
	const char *text;	/* "" for PENDING */
	bool probe;		/* send a probe now (recorded as sent) */
	bool full;		/* PENDING because the cache is full */
};

struct verify_cache *verify_cache_new(const struct verify_cache_settings *s);
void verify_cache_free(struct verify_cache **cp);

/* The answer for address at time now (see above). */
void verify_cache_query(struct verify_cache *c, const char *address,
    time_t now, struct verify_result *r);
/* A probe's result (st not PENDING; dsn and text copied, text may be
 * cut to VERIFY_TEXT_MAX bytes). */
void verify_cache_update(struct verify_cache *c, const char *address,
    enum verify_state st, const char *dsn, const char *text, time_t now);
/* Drop the entries whose result expired and that have no probe out;
 * the number dropped. */
size_t verify_cache_expire(struct verify_cache *c, time_t now);
size_t verify_cache_count(const struct verify_cache *c);

#endif
