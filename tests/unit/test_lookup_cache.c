/* SPDX-License-Identifier: MIT */
/*
 * test_lookup_cache - the lookup process's answer cache
 * (src/lookup/lookup_cache.c), driven by an explicit clock.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lookup_cache.h"

#define TTL 60000
#define NEG 10000

static bool
get(struct lookup_cache *c, uint32_t t, const char *key, uint64_t now,
    enum dict_status *st, const char **v)
{
	size_t len = 0;
	bool hit = lookup_cache_get(c, t, key, strlen(key), now, st, v, &len);

	if (hit && *st == DICT_FOUND)
		assert_int_equal(len, strlen(*v));
	return hit;
}

static void
put(struct lookup_cache *c, uint32_t t, const char *key,
    enum dict_status st, const char *v, uint64_t now)
{
	lookup_cache_put(c, t, key, strlen(key), st, v, v ? strlen(v) : 0,
	    now);
}

static void
test_positive_ttl(void **state)
{
	struct lookup_cache *c = lookup_cache_new(1 << 20, TTL, NEG);
	enum dict_status st;
	const char *v;

	assert_false(get(c, 0, "a@example.com", 1000, &st, &v));
	put(c, 0, "a@example.com", DICT_FOUND, "b@example.com", 1000);
	assert_true(get(c, 0, "a@example.com", 1000, &st, &v));
	assert_int_equal(st, DICT_FOUND);
	assert_string_equal(v, "b@example.com");
	/* Still there one millisecond before the TTL ends... */
	assert_true(get(c, 0, "a@example.com", 1000 + TTL - 1, &st, &v));
	/* ...gone at the end, and removed. */
	assert_false(get(c, 0, "a@example.com", 1000 + TTL, &st, &v));
	{
		struct lookup_cache_stats s;

		lookup_cache_get_stats(c, &s);
		assert_int_equal(s.entries, 0);
		assert_int_equal(s.bytes, 0);
		assert_int_equal(s.expirations, 1);
		assert_int_equal(s.hits, 2);
		assert_int_equal(s.misses, 2);
	}
	lookup_cache_free(&c);
	assert_null(c);
}

static void
test_negative_ttl_is_its_own(void **state)
{
	struct lookup_cache *c = lookup_cache_new(1 << 20, TTL, NEG);
	enum dict_status st;
	const char *v;

	put(c, 1, "nobody@example.com", DICT_NOTFOUND, NULL, 0);
	assert_true(get(c, 1, "nobody@example.com", NEG - 1, &st, &v));
	assert_int_equal(st, DICT_NOTFOUND);
	assert_string_equal(v, "");
	assert_false(get(c, 1, "nobody@example.com", NEG, &st, &v));
	lookup_cache_free(&c);
}

static void
test_tempfail_never_cached(void **state)
{
	struct lookup_cache *c = lookup_cache_new(1 << 20, TTL, NEG);
	struct lookup_cache_stats s;
	enum dict_status st;
	const char *v;

	put(c, 0, "k", DICT_TEMPFAIL, "database down", 0);
	assert_false(get(c, 0, "k", 1, &st, &v));
	lookup_cache_get_stats(c, &s);
	assert_int_equal(s.entries, 0);
	/* And it does not replace a good answer either... */
	put(c, 0, "k", DICT_FOUND, "v", 0);
	put(c, 0, "k", DICT_TEMPFAIL, "database down", 1);
	assert_true(get(c, 0, "k", 2, &st, &v));
	assert_int_equal(st, DICT_FOUND);
	lookup_cache_free(&c);
}

static void
test_tables_and_keys_apart(void **state)
{
	struct lookup_cache *c = lookup_cache_new(1 << 20, TTL, NEG);
	enum dict_status st;
	const char *v;

	put(c, 0, "k", DICT_FOUND, "zero", 0);
	put(c, 1, "k", DICT_FOUND, "one", 0);
	put(c, 0, "K", DICT_NOTFOUND, NULL, 0);
	/* A key that is a prefix of another is another key. */
	put(c, 0, "k2", DICT_FOUND, "k-two", 0);
	assert_true(get(c, 0, "k", 1, &st, &v));
	assert_string_equal(v, "zero");
	assert_true(get(c, 1, "k", 1, &st, &v));
	assert_string_equal(v, "one");
	assert_true(get(c, 0, "K", 1, &st, &v));
	assert_int_equal(st, DICT_NOTFOUND);
	assert_true(get(c, 0, "k2", 1, &st, &v));
	assert_string_equal(v, "k-two");
	assert_false(get(c, 2, "k", 1, &st, &v));
	/* A new answer replaces the old one, with a new TTL. */
	put(c, 0, "k", DICT_NOTFOUND, NULL, 5000);
	assert_true(get(c, 0, "k", 5001, &st, &v));
	assert_int_equal(st, DICT_NOTFOUND);
	assert_false(get(c, 0, "k", 5000 + NEG, &st, &v));
	lookup_cache_free(&c);
}

static void
test_drop_table_and_clear(void **state)
{
	struct lookup_cache *c = lookup_cache_new(1 << 20, TTL, NEG);
	struct lookup_cache_stats s;
	enum dict_status st;
	const char *v;
	char k[32];

	for (int i = 0; i < 100; i++) {
		snprintf(k, sizeof(k), "key%d", i);
		put(c, (uint32_t)(i % 3), k, i % 2 ? DICT_FOUND : DICT_NOTFOUND,
		    "value", 0);
	}
	assert_int_equal(lookup_cache_drop_table(c, 1), 33);
	for (int i = 0; i < 100; i++) {
		snprintf(k, sizeof(k), "key%d", i);
		assert_int_equal(get(c, (uint32_t)(i % 3), k, 1, &st, &v),
		    i % 3 != 1);
	}
	lookup_cache_get_stats(c, &s);
	assert_int_equal(s.entries, 67);
	assert_int_equal(lookup_cache_clear(c), 67);
	lookup_cache_get_stats(c, &s);
	assert_int_equal(s.entries, 0);
	assert_int_equal(s.bytes, 0);
	assert_false(get(c, 0, "key0", 1, &st, &v));
	/* Usable after a clear. */
	put(c, 0, "again", DICT_FOUND, "yes", 2);
	assert_true(get(c, 0, "again", 3, &st, &v));
	lookup_cache_free(&c);
}

static void
test_memory_bound_lru(void **state)
{
	size_t cost = lookup_cache_entry_cost(5, 5);
	/* Room for exactly 10 entries of this size. */
	struct lookup_cache *c = lookup_cache_new(10 * cost, TTL, NEG);
	struct lookup_cache_stats s;
	enum dict_status st;
	const char *v;
	char k[8];

	for (int i = 0; i < 10; i++) {
		snprintf(k, sizeof(k), "key%02d", i);
		put(c, 0, k, DICT_FOUND, "vvvvv", 0);
	}
	lookup_cache_get_stats(c, &s);
	assert_int_equal(s.entries, 10);
	assert_int_equal(s.bytes, 10 * cost);
	/* Use key00 so that key01 is now the least recently used. */
	assert_true(get(c, 0, "key00", 1, &st, &v));
	put(c, 0, "key10", DICT_FOUND, "vvvvv", 2);
	lookup_cache_get_stats(c, &s);
	assert_int_equal(s.entries, 10);
	assert_int_equal(s.evictions, 1);
	assert_true(s.bytes <= 10 * cost);
	assert_false(get(c, 0, "key01", 3, &st, &v));
	assert_true(get(c, 0, "key00", 3, &st, &v));
	assert_true(get(c, 0, "key10", 3, &st, &v));
	/* Many more: the bound holds throughout. */
	for (int i = 0; i < 1000; i++) {
		snprintf(k, sizeof(k), "n%04d", i);
		put(c, 0, k, i % 2 ? DICT_FOUND : DICT_NOTFOUND, "vvvvv", 4);
		lookup_cache_get_stats(c, &s);
		assert_true(s.bytes <= 10 * cost);
	}
	/* The last ones are the ones kept. */
	assert_true(get(c, 0, "n0999", 5, &st, &v));
	assert_false(get(c, 0, "n0000", 5, &st, &v));
	lookup_cache_free(&c);
}

static void
test_oversized_and_disabled(void **state)
{
	struct lookup_cache *c = lookup_cache_new(8 * 1024, TTL, 0);
	struct lookup_cache_stats s;
	enum dict_status st;
	const char *v;
	char *big = malloc(2000);

	memset(big, 'x', 1999);
	big[1999] = '\0';
	/* More than an eighth of the bound: not cached, nothing evicted. */
	put(c, 0, "small", DICT_FOUND, "v", 0);
	put(c, 0, "big", DICT_FOUND, big, 0);
	assert_false(get(c, 0, "big", 1, &st, &v));
	assert_true(get(c, 0, "small", 1, &st, &v));
	/* A TTL of 0 turns that kind off. */
	put(c, 0, "neg", DICT_NOTFOUND, NULL, 0);
	assert_false(get(c, 0, "neg", 0, &st, &v));
	lookup_cache_get_stats(c, &s);
	assert_int_equal(s.entries, 1);
	lookup_cache_free(&c);
	free(big);

	c = lookup_cache_new(1 << 20, 0, NEG);
	put(c, 0, "pos", DICT_FOUND, "v", 0);
	assert_false(get(c, 0, "pos", 0, &st, &v));
	lookup_cache_free(&c);
}

static void
test_many_entries_and_binary_keys(void **state)
{
	struct lookup_cache *c = lookup_cache_new(64 << 20, TTL, NEG);
	enum dict_status st;
	const char *v;
	size_t len;
	char k[32], val[32];

	for (int i = 0; i < 20000; i++) {
		snprintf(k, sizeof(k), "user%d@example.com", i);
		snprintf(val, sizeof(val), "box%d", i);
		put(c, (uint32_t)(i % 7), k, DICT_FOUND, val, 0);
	}
	for (int i = 0; i < 20000; i += 97) {
		snprintf(k, sizeof(k), "user%d@example.com", i);
		snprintf(val, sizeof(val), "box%d", i);
		assert_true(get(c, (uint32_t)(i % 7), k, 1, &st, &v));
		assert_string_equal(v, val);
	}
	/* Keys are bytes with a length, not C strings. */
	lookup_cache_put(c, 0, "a\0b", 3, DICT_FOUND, "nul", 3, 0);
	assert_false(lookup_cache_get(c, 0, "a", 1, 1, &st, &v, &len));
	assert_true(lookup_cache_get(c, 0, "a\0b", 3, 1, &st, &v, &len));
	assert_string_equal(v, "nul");
	lookup_cache_free(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_positive_ttl),
		cmocka_unit_test(test_negative_ttl_is_its_own),
		cmocka_unit_test(test_tempfail_never_cached),
		cmocka_unit_test(test_tables_and_keys_apart),
		cmocka_unit_test(test_drop_table_and_clear),
		cmocka_unit_test(test_memory_bound_lru),
		cmocka_unit_test(test_oversized_and_disabled),
		cmocka_unit_test(test_many_entries_and_binary_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
