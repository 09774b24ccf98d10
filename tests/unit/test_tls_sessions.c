/* SPDX-License-Identifier: MIT */
/*
 * test_tls_sessions - the client's TLS session cache: a session per key,
 * replaced by a newer one, gone after the timeout, never handed out when
 * OpenSSL cannot resume it, and the oldest dropped when full.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <openssl/ssl.h>

#include "tls_sessions.h"

/* A session OpenSSL takes as resumable (it has an ID). */
static SSL_SESSION *
session(const char *id)
{
	SSL_SESSION *s = SSL_SESSION_new();

	assert_non_null(s);
	assert_int_equal(SSL_SESSION_set1_id(s, (const unsigned char *)id,
	    (unsigned)strlen(id)), 1);
	return s;
}

static void
test_put_get_replace_expire(void **state)
{
	struct tls_sessions *c = tls_sessions_new(10, 100);
	SSL_SESSION *a = session("a"), *b = session("b");

	(void)state;
	assert_null(tls_sessions_get(c, "mx[192.0.2.1]:25|mx|may", 0));
	tls_sessions_put(c, "mx[192.0.2.1]:25|mx|may", a, 0);
	assert_ptr_equal(tls_sessions_get(c, "mx[192.0.2.1]:25|mx|may", 99),
	    a);
	/* Another key (the level) is another server setting. */
	assert_null(tls_sessions_get(c, "mx[192.0.2.1]:25|mx|encrypt", 1));
	/* A newer session replaces the older (which is freed). */
	tls_sessions_put(c, "mx[192.0.2.1]:25|mx|may", b, 50);
	assert_int_equal(tls_sessions_count(c), 1);
	assert_ptr_equal(tls_sessions_get(c, "mx[192.0.2.1]:25|mx|may", 149),
	    b);
	/* timeout after it arrived: gone. */
	assert_null(tls_sessions_get(c, "mx[192.0.2.1]:25|mx|may", 150));
	assert_int_equal(tls_sessions_count(c), 0);
	tls_sessions_free(&c);
	assert_null(c);
}

static void
test_not_resumable(void **state)
{
	struct tls_sessions *c = tls_sessions_new(10, 100);

	(void)state;
	/* No ID and no ticket: OpenSSL could not resume it. */
	tls_sessions_put(c, "k", SSL_SESSION_new(), 0);
	assert_int_equal(tls_sessions_count(c), 1);
	assert_null(tls_sessions_get(c, "k", 1));
	assert_int_equal(tls_sessions_count(c), 0);
	tls_sessions_free(&c);
}

static void
test_full_drops_oldest(void **state)
{
	struct tls_sessions *c = tls_sessions_new(3, 1000);
	char key[16];

	(void)state;
	for (int i = 0; i < 3; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		tls_sessions_put(c, key, session(key), 10 + i);
	}
	tls_sessions_put(c, "k3", session("k3"), 20);
	assert_int_equal(tls_sessions_count(c), 3);
	assert_null(tls_sessions_get(c, "k0", 21));
	assert_non_null(tls_sessions_get(c, "k1", 21));
	assert_non_null(tls_sessions_get(c, "k2", 21));
	assert_non_null(tls_sessions_get(c, "k3", 21));
	tls_sessions_free(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_get_replace_expire),
		cmocka_unit_test(test_not_resumable),
		cmocka_unit_test(test_full_drops_oldest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
