/* SPDX-License-Identifier: MIT */
/*
 * test_verify_cache - when address verification answers from its cache
 * and when it sends a probe: first query, a probe out, results and
 * their refresh and expiry, a lost probe, the negative cache switched
 * off, case, and a full cache.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "compat.h"
#include "verify_cache.h"

static const struct verify_cache_settings settings = {
	.positive_expire = 1000, .positive_refresh = 100,
	.negative_expire = 500, .negative_refresh = 50,
	.probe_timeout = 20, .negative_cache = true, .max_entries = 3,
};

static void
expect(struct verify_cache *c, const char *addr, time_t now,
    enum verify_state st, bool probe)
{
	struct verify_result r;

	verify_cache_query(c, addr, now, &r);
	if (r.state != st || r.probe != probe)
		fail_msg("%s at %lld: %s, probe %d (want %s, probe %d)", addr,
		    (long long)now, verify_state_name(r.state), r.probe,
		    verify_state_name(st), probe);
}

static void
test_first_query_and_probe_out(void **state)
{
	struct verify_cache *c = verify_cache_new(&settings);

	(void)state;
	expect(c, "a@x", 1000, VERIFY_PENDING, true);
	/* The probe is out: no second one. */
	expect(c, "a@x", 1005, VERIFY_PENDING, false);
	/* Lost (no result after probe_timeout): another. */
	expect(c, "a@x", 1020, VERIFY_PENDING, true);
	verify_cache_update(c, "a@x", VERIFY_OK, "2.1.5", "fine", 1021);
	expect(c, "a@x", 1022, VERIFY_OK, false);
	verify_cache_free(&c);
	assert_null(c);
}

static void
test_positive_refresh_and_expiry(void **state)
{
	struct verify_cache *c = verify_cache_new(&settings);
	struct verify_result r;

	(void)state;
	verify_cache_update(c, "a@x", VERIFY_OK, "2.1.5", "fine", 0);
	verify_cache_query(c, "a@x", 99, &r);
	assert_int_equal(r.state, VERIFY_OK);
	assert_string_equal(r.dsn, "2.1.5");
	assert_string_equal(r.text, "fine");
	assert_false(r.probe);
	/* Old enough to refresh: still OK, and one probe. */
	expect(c, "a@x", 100, VERIFY_OK, true);
	expect(c, "a@x", 101, VERIFY_OK, false);
	/* Expired: pending again (the refresh probe is still out). */
	expect(c, "a@x", 1000, VERIFY_PENDING, true);
	verify_cache_free(&c);
}

static void
test_negative_and_defer(void **state)
{
	struct verify_cache *c = verify_cache_new(&settings);
	struct verify_result r;

	(void)state;
	verify_cache_update(c, "b@x", VERIFY_BOUNCE, "5.1.1", "unknown", 0);
	expect(c, "b@x", 49, VERIFY_BOUNCE, false);
	expect(c, "b@x", 50, VERIFY_BOUNCE, true);
	expect(c, "b@x", 500, VERIFY_PENDING, true);
	/* A temporary result is probed again after probe_timeout. */
	verify_cache_update(c, "d@x", VERIFY_DEFER, "4.4.1", "refused", 0);
	verify_cache_query(c, "d@x", 10, &r);
	assert_int_equal(r.state, VERIFY_DEFER);
	assert_string_equal(r.text, "refused");
	assert_false(r.probe);
	expect(c, "d@x", 20, VERIFY_DEFER, true);
	/* PENDING is no result. */
	verify_cache_update(c, "d@x", VERIFY_PENDING, "", "", 21);
	expect(c, "d@x", 22, VERIFY_DEFER, false);
	verify_cache_free(&c);
}

static void
test_no_negative_cache(void **state)
{
	struct verify_cache_settings s = settings;
	struct verify_cache *c;

	(void)state;
	s.negative_cache = false;
	c = verify_cache_new(&s);
	expect(c, "b@x", 0, VERIFY_PENDING, true);
	verify_cache_update(c, "b@x", VERIFY_BOUNCE, "5.1.1", "unknown", 1);
	assert_int_equal(verify_cache_count(c), 0);
	expect(c, "b@x", 2, VERIFY_PENDING, true);
	verify_cache_free(&c);
}

static void
test_case_and_full(void **state)
{
	struct verify_cache *c = verify_cache_new(&settings);
	struct verify_result r;

	(void)state;
	verify_cache_update(c, "Joe@Example.COM", VERIFY_OK, "2.0.0", "", 0);
	expect(c, "joe@example.com", 1, VERIFY_OK, false);
	verify_cache_update(c, "b@x", VERIFY_BOUNCE, "5.1.1", "", 0);
	verify_cache_update(c, "c@x", VERIFY_OK, "2.0.0", "", 0);
	assert_int_equal(verify_cache_count(c), 3);
	/* Full, nothing expired: a new address is pending, no probe. */
	verify_cache_query(c, "new@x", 10, &r);
	assert_int_equal(r.state, VERIFY_PENDING);
	assert_false(r.probe);
	assert_true(r.full);
	/* The negative result expired: room for one. */
	verify_cache_query(c, "new@x", 600, &r);
	assert_false(r.full);
	assert_true(r.probe);
	assert_int_equal(verify_cache_count(c), 3);
	/* Its probe was lost: another goes out.  Expiry drops the old
	 * results and keeps the entry whose probe is out. */
	expect(c, "new@x", 1995, VERIFY_PENDING, true);
	assert_int_equal(verify_cache_expire(c, 2000), 2);
	assert_int_equal(verify_cache_count(c), 1);
	verify_cache_free(&c);
}

static void
test_many_grow(void **state)
{
	struct verify_cache_settings s = settings;
	struct verify_cache *c;
	char a[32];

	(void)state;
	s.max_entries = 5000;
	c = verify_cache_new(&s);
	for (int i = 0; i < 5000; i++) {
		snprintf(a, sizeof(a), "u%d@x", i);
		verify_cache_update(c, a, i % 2 ? VERIFY_OK : VERIFY_BOUNCE,
		    i % 2 ? "2.0.0" : "5.1.1", a, 0);
	}
	assert_int_equal(verify_cache_count(c), 5000);
	for (int i = 0; i < 5000; i++) {
		struct verify_result r;

		snprintf(a, sizeof(a), "U%d@X", i);
		verify_cache_query(c, a, 1, &r);
		assert_int_equal(r.state, i % 2 ? VERIFY_OK : VERIFY_BOUNCE);
	}
	verify_cache_free(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_query_and_probe_out),
		cmocka_unit_test(test_positive_refresh_and_expiry),
		cmocka_unit_test(test_negative_and_defer),
		cmocka_unit_test(test_no_negative_cache),
		cmocka_unit_test(test_case_and_full),
		cmocka_unit_test(test_many_grow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
