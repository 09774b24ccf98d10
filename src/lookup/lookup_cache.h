/* SPDX-License-Identifier: MIT */
/*
 * lookup_cache - the lookup process's cache of answers per (table, key).
 *
 * Positive answers (FOUND, with the value) live ttl_ms, negative ones
 * (NOTFOUND) neg_ttl_ms; a TTL of 0 disables that kind.  TEMPFAIL is
 * never cached: a table that failed is asked again next time.  Memory
 * is bounded by max_bytes, counting each entry's key, value and
 * bookkeeping; when an insertion would pass it, the least recently used
 * entries go first (LRU).  An entry larger than max_bytes / 8 is not
 * cached at all, so one huge value cannot empty the cache.
 *
 * Time is passed in by the caller (now_ms, any monotonic clock in
 * milliseconds), so tests drive it.  Keys are hashed with SipHash-2-4
 * under a random key chosen at creation, so that clients who choose
 * keys (SMTP addresses) cannot make every key land in one bucket.
 *
 * Not thread-safe.  Values returned by lookup_cache_get() stay valid
 * until the next call that changes the cache.
 */
#ifndef OSTIA_LOOKUP_CACHE_H
#define OSTIA_LOOKUP_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dict.h"

struct lookup_cache;

struct lookup_cache_stats {
	size_t entries;
	size_t bytes;
	uint64_t hits;
	uint64_t misses;
	uint64_t evictions;	/* pushed out by the memory bound */
	uint64_t expirations;	/* found past their TTL */
};

/* max_bytes: memory bound; ttl_ms / neg_ttl_ms: 0 disables. */
struct lookup_cache *lookup_cache_new(size_t max_bytes, uint64_t ttl_ms,
    uint64_t neg_ttl_ms);
void lookup_cache_free(struct lookup_cache **cp);

/*
 * Look (table, key) up at time now_ms.  true on a hit: *st_r is
 * DICT_FOUND (with *value_r, *len_r) or DICT_NOTFOUND.  false on a miss
 * (an expired entry is removed).
 */
bool lookup_cache_get(struct lookup_cache *c, uint32_t table,
    const char *key, size_t keylen, uint64_t now_ms, enum dict_status *st_r,
    const char **value_r, size_t *len_r);
/*
 * Remember an answer got at now_ms (replacing an older one).  DICT_
 * TEMPFAIL, a disabled kind and an oversized entry are not stored.
 */
void lookup_cache_put(struct lookup_cache *c, uint32_t table,
    const char *key, size_t keylen, enum dict_status st, const char *value,
    size_t len, uint64_t now_ms);
/* Forget every entry of one table (its file changed); returns how many. */
size_t lookup_cache_drop_table(struct lookup_cache *c, uint32_t table);
/* Forget everything (reload, SIGHUP); returns how many. */
size_t lookup_cache_clear(struct lookup_cache *c);
void lookup_cache_get_stats(const struct lookup_cache *c,
    struct lookup_cache_stats *st);
/* Bytes an entry of that size counts against max_bytes. */
size_t lookup_cache_entry_cost(size_t keylen, size_t len);

#endif
