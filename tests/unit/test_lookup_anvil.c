/* SPDX-License-Identifier: MIT */
/*
 * test_lookup_anvil - the per-client counters of smtpd's limits
 * (src/lookup/lookup_anvil.c), driven by an explicit clock: counts per
 * holder, windows, release of a holder that went away, expiry and the
 * bound on clients.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lookup_anvil.h"

#define UNIT_S 60
#define UNIT_MS (UNIT_S * 1000)

struct ev {
	unsigned count, rate;
};

static struct ev
ev(struct anvil *a, uint64_t holder, enum lookup_anvil_op op,
    const char *key, uint64_t now)
{
	struct ev e = { 99, 99 };

	assert_int_equal(anvil_event(a, holder, op, key, now, &e.count,
	    &e.rate), 0);
	return e;
}

static void
test_connections_counted_per_client(void **state)
{
	struct anvil *a = anvil_new(UNIT_S, 100);
	struct ev e;

	e = ev(a, 1, LOOKUP_ANVIL_CONNECT, "smtp 192.0.2.1", 0);
	assert_int_equal(e.count, 1);
	assert_int_equal(e.rate, 1);
	e = ev(a, 2, LOOKUP_ANVIL_CONNECT, "smtp 192.0.2.1", 10);
	assert_int_equal(e.count, 2);
	assert_int_equal(e.rate, 2);
	/* Another client, another service: counted apart. */
	e = ev(a, 1, LOOKUP_ANVIL_CONNECT, "smtp 192.0.2.2", 20);
	assert_int_equal(e.count, 1);
	e = ev(a, 1, LOOKUP_ANVIL_CONNECT, "submission 192.0.2.1", 20);
	assert_int_equal(e.count, 1);
	/* A DISCONNECT gives one back; the rate stays. */
	e = ev(a, 2, LOOKUP_ANVIL_DISCONNECT, "smtp 192.0.2.1", 30);
	assert_int_equal(e.count, 1);
	assert_int_equal(e.rate, 0);
	e = ev(a, 1, LOOKUP_ANVIL_CONNECT, "smtp 192.0.2.1", 40);
	assert_int_equal(e.count, 2);
	assert_int_equal(e.rate, 3);
	assert_int_equal(anvil_size(a), 3);
	anvil_free(&a);
	assert_null(a);
}

static void
test_disconnect_only_what_was_counted(void **state)
{
	struct anvil *a = anvil_new(UNIT_S, 100);
	struct ev e;

	/* Unknown client: nothing happens, no key is added. */
	e = ev(a, 1, LOOKUP_ANVIL_DISCONNECT, "smtp 192.0.2.9", 0);
	assert_int_equal(e.count, 0);
	assert_int_equal(anvil_size(a), 0);
	/* Holder 2 never counted one for this client: ignored, holder 1's
	 * connection stays counted. */
	(void)ev(a, 1, LOOKUP_ANVIL_CONNECT, "smtp 192.0.2.9", 0);
	e = ev(a, 2, LOOKUP_ANVIL_DISCONNECT, "smtp 192.0.2.9", 1);
	assert_int_equal(e.count, 1);
	/* Two DISCONNECTs for one CONNECT: the second changes nothing. */
	e = ev(a, 1, LOOKUP_ANVIL_DISCONNECT, "smtp 192.0.2.9", 2);
	assert_int_equal(e.count, 0);
	e = ev(a, 1, LOOKUP_ANVIL_DISCONNECT, "smtp 192.0.2.9", 3);
	assert_int_equal(e.count, 0);
	e = ev(a, 1, LOOKUP_ANVIL_CONNECT, "smtp 192.0.2.9", 4);
	assert_int_equal(e.count, 1);
	anvil_free(&a);
}

static void
test_rates_and_windows(void **state)
{
	struct anvil *a = anvil_new(UNIT_S, 100);
	const char *k = "smtp 198.51.100.7";
	struct ev e;

	for (unsigned i = 1; i <= 5; i++) {
		e = ev(a, 1, LOOKUP_ANVIL_MESSAGE, k, 1000 + i);
		assert_int_equal(e.rate, i);
		assert_int_equal(e.count, 0);
	}
	/* Each kind of event has its own rate. */
	e = ev(a, 1, LOOKUP_ANVIL_RCPT, k, 2000);
	assert_int_equal(e.rate, 1);
	e = ev(a, 1, LOOKUP_ANVIL_CONNECT, k, 2000);
	assert_int_equal(e.rate, 1);
	/* The window began at the first event (1001): one millisecond
	 * before its end the count goes on... */
	e = ev(a, 1, LOOKUP_ANVIL_MESSAGE, k, 1001 + UNIT_MS - 1);
	assert_int_equal(e.rate, 6);
	/* ...at its end every rate starts again, the open connection
	 * stays. */
	e = ev(a, 1, LOOKUP_ANVIL_MESSAGE, k, 1001 + UNIT_MS);
	assert_int_equal(e.rate, 1);
	assert_int_equal(e.count, 1);
	e = ev(a, 1, LOOKUP_ANVIL_RCPT, k, 1001 + UNIT_MS + 1);
	assert_int_equal(e.rate, 1);
	anvil_free(&a);
}

static void
test_release_of_a_holder(void **state)
{
	struct anvil *a = anvil_new(UNIT_S, 100);
	struct ev e;

	for (int i = 0; i < 3; i++)
		(void)ev(a, 7, LOOKUP_ANVIL_CONNECT, "smtp 192.0.2.1", 0);
	(void)ev(a, 7, LOOKUP_ANVIL_CONNECT, "smtp 192.0.2.2", 0);
	(void)ev(a, 8, LOOKUP_ANVIL_CONNECT, "smtp 192.0.2.1", 0);
	/* Holder 7 (an smtpd) dies: its four connections go back. */
	assert_int_equal(anvil_release(a, 7), 4);
	e = ev(a, 8, LOOKUP_ANVIL_CONNECT, "smtp 192.0.2.1", 1);
	assert_int_equal(e.count, 2);
	e = ev(a, 9, LOOKUP_ANVIL_CONNECT, "smtp 192.0.2.2", 1);
	assert_int_equal(e.count, 1);
	/* Its late DISCONNECTs (on a new connection, a new holder) change
	 * nothing. */
	e = ev(a, 10, LOOKUP_ANVIL_DISCONNECT, "smtp 192.0.2.1", 2);
	assert_int_equal(e.count, 2);
	assert_int_equal(anvil_release(a, 7), 0);
	assert_int_equal(anvil_release(a, 8), 2);
	assert_int_equal(anvil_release(a, 9), 1);
	anvil_free(&a);
}

static void
test_expiry_and_bound(void **state)
{
	struct anvil *a = anvil_new(UNIT_S, 3);
	unsigned c, r;

	(void)ev(a, 1, LOOKUP_ANVIL_CONNECT, "smtp 192.0.2.1", 0);
	(void)ev(a, 1, LOOKUP_ANVIL_MESSAGE, "smtp 192.0.2.2", 0);
	(void)ev(a, 1, LOOKUP_ANVIL_RCPT, "smtp 192.0.2.3", 10);
	/* Full: a fourth client is refused while every window runs. */
	assert_int_equal(anvil_event(a, 1, LOOKUP_ANVIL_CONNECT,
	    "smtp 192.0.2.4", 20, &c, &r), -1);
	assert_int_equal(anvil_size(a), 3);
	/* Known clients still count. */
	assert_int_equal(anvil_event(a, 1, LOOKUP_ANVIL_MESSAGE,
	    "smtp 192.0.2.2", 20, &c, &r), 0);
	assert_int_equal(r, 2);
	/* Nothing to expire before the first window ends. */
	assert_int_equal(anvil_expire(a, UNIT_MS - 1), 0);
	/* At UNIT_MS, .2 is idle with its window over; .1 holds a
	 * connection, .3's window runs until UNIT_MS + 10. */
	assert_int_equal(anvil_expire(a, UNIT_MS), 1);
	assert_int_equal(anvil_size(a), 2);
	/* A full table expires by itself before refusing. */
	assert_int_equal(anvil_event(a, 1, LOOKUP_ANVIL_CONNECT,
	    "smtp 192.0.2.4", UNIT_MS + 5, &c, &r), 0);
	assert_int_equal(anvil_event(a, 1, LOOKUP_ANVIL_CONNECT,
	    "smtp 192.0.2.5", UNIT_MS + 5, &c, &r), -1);
	assert_int_equal(anvil_event(a, 1, LOOKUP_ANVIL_CONNECT,
	    "smtp 192.0.2.5", UNIT_MS + 10, &c, &r), 0);
	assert_int_equal(c, 1);
	/* A DISCONNECT never needs room. */
	assert_int_equal(anvil_event(a, 1, LOOKUP_ANVIL_DISCONNECT,
	    "smtp 192.0.2.6", UNIT_MS + 10, &c, &r), 0);
	/* The client holding a connection is never dropped. */
	assert_int_equal(anvil_expire(a, 10 * UNIT_MS), 0);
	assert_int_equal(anvil_release(a, 1), 3);
	assert_int_equal(anvil_expire(a, 10 * UNIT_MS), 3);
	assert_int_equal(anvil_size(a), 0);
	anvil_free(&a);
}

static void
test_peaks(void **state)
{
	struct anvil *a = anvil_new(UNIT_S, 100);
	struct anvil_peaks p;

	anvil_peaks_take(a, &p);
	for (int op = 0; op <= LOOKUP_ANVIL_OP_LAST; op++)
		assert_int_equal(p.slot[op].value, 0);
	assert_int_equal(p.clients, 0);
	(void)ev(a, 1, LOOKUP_ANVIL_CONNECT, "smtp 192.0.2.1", 5);
	(void)ev(a, 1, LOOKUP_ANVIL_CONNECT, "smtp 192.0.2.1", 6);
	(void)ev(a, 1, LOOKUP_ANVIL_CONNECT, "smtp 192.0.2.2", 7);
	(void)ev(a, 1, LOOKUP_ANVIL_DISCONNECT, "smtp 192.0.2.1", 8);
	for (int i = 0; i < 3; i++)
		(void)ev(a, 1, LOOKUP_ANVIL_RCPT, "smtp 192.0.2.2", 9);
	(void)ev(a, 1, LOOKUP_ANVIL_AUTH, "smtp 192.0.2.3", 10);
	anvil_peaks_take(a, &p);
	/* The most at once: 2 for .1 at 6, not lowered by the DISCONNECT. */
	assert_int_equal(p.slot[LOOKUP_ANVIL_DISCONNECT].value, 2);
	assert_string_equal(p.slot[LOOKUP_ANVIL_DISCONNECT].key,
	    "smtp 192.0.2.1");
	assert_int_equal(p.slot[LOOKUP_ANVIL_DISCONNECT].when_ms, 6);
	assert_int_equal(p.slot[LOOKUP_ANVIL_CONNECT].value, 2);
	assert_int_equal(p.slot[LOOKUP_ANVIL_RCPT].value, 3);
	assert_string_equal(p.slot[LOOKUP_ANVIL_RCPT].key, "smtp 192.0.2.2");
	assert_int_equal(p.slot[LOOKUP_ANVIL_AUTH].value, 1);
	assert_int_equal(p.slot[LOOKUP_ANVIL_MESSAGE].value, 0);
	assert_int_equal(p.clients, 3);
	assert_int_equal(p.clients_when_ms, 10);
	/* Taken: the next period starts from nothing. */
	anvil_peaks_take(a, &p);
	assert_int_equal(p.slot[LOOKUP_ANVIL_RCPT].value, 0);
	assert_int_equal(p.clients, 0);
	anvil_free(&a);
}

/* Many clients and holders against a plain array model. */
static void
test_against_model(void **state)
{
	enum { NKEYS = 200, NHOLDERS = 5 };
	static unsigned model[NKEYS][NHOLDERS];
	struct anvil *a = anvil_new(UNIT_S, NKEYS);
	unsigned seed = 12345;

	memset(model, 0, sizeof(model));
	for (int step = 0; step < 20000; step++) {
		unsigned k, h, c, r, want = 0;
		char key[32];
		bool conn;

		seed = seed * 1103515245u + 12345u;
		k = (seed >> 8) % NKEYS;
		h = (seed >> 20) % NHOLDERS;
		conn = ((seed >> 3) & 1) != 0;
		snprintf(key, sizeof(key), "smtp 10.0.%u.%u", k / 256, k % 256);
		if ((seed >> 28) == 0) {
			size_t total = 0;

			for (unsigned i = 0; i < NKEYS; i++) {
				total += model[i][h];
				model[i][h] = 0;
			}
			assert_int_equal(anvil_release(a, h), total);
			continue;
		}
		if (conn)
			model[k][h]++;
		else if (model[k][h] > 0)
			model[k][h]--;
		assert_int_equal(anvil_event(a, h, conn ? LOOKUP_ANVIL_CONNECT :
		    LOOKUP_ANVIL_DISCONNECT, key, (uint64_t)step, &c, &r), 0);
		for (unsigned i = 0; i < NHOLDERS; i++)
			want += model[k][i];
		assert_int_equal(c, want);
	}
	anvil_free(&a);
}

/* NEWTLS counts; NEWTLS_STAT only tells, and adds no client. */
static void
test_newtls(void **state)
{
	struct anvil *a = anvil_new(UNIT_S, 100);
	struct ev e;

	(void)state;
	e = ev(a, 1, LOOKUP_ANVIL_NEWTLS_STAT, "smtps 192.0.2.1", 1000);
	assert_int_equal(e.rate, 0);
	assert_int_equal(anvil_size(a), 0);
	ev(a, 1, LOOKUP_ANVIL_NEWTLS, "smtps 192.0.2.1", 1000);
	ev(a, 2, LOOKUP_ANVIL_NEWTLS, "smtps 192.0.2.1", 1500);
	e = ev(a, 1, LOOKUP_ANVIL_NEWTLS_STAT, "smtps 192.0.2.1", 2000);
	assert_int_equal(e.rate, 2);
	/* the question does not count */
	e = ev(a, 1, LOOKUP_ANVIL_NEWTLS_STAT, "smtps 192.0.2.1", 2001);
	assert_int_equal(e.rate, 2);
	/* other ops' rates are apart */
	e = ev(a, 1, LOOKUP_ANVIL_AUTH, "smtps 192.0.2.1", 2002);
	assert_int_equal(e.rate, 1);
	/* a new window starts afresh */
	e = ev(a, 1, LOOKUP_ANVIL_NEWTLS_STAT, "smtps 192.0.2.1",
	    1000 + UNIT_MS + 1);
	assert_int_equal(e.rate, 0);
	assert_int_equal(anvil_size(a), 1);
	anvil_free(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connections_counted_per_client),
		cmocka_unit_test(test_disconnect_only_what_was_counted),
		cmocka_unit_test(test_rates_and_windows),
		cmocka_unit_test(test_release_of_a_holder),
		cmocka_unit_test(test_expiry_and_bound),
		cmocka_unit_test(test_peaks),
		cmocka_unit_test(test_against_model),
		cmocka_unit_test(test_newtls),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
