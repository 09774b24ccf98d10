/* SPDX-License-Identifier: MIT */
/*
 * test_notify_class - notify_classes words (src/common/notify_class.c)
 * and the class of each kind of SMTP server reply, table-driven, the
 * replies also fed one byte at a time (every prefix must class without
 * reading past its length).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "notify_class.h"

static void
test_words(void **state)
{
	char w1[] = "resource", w2[] = "SOFTWARE", w3[] = "bounce",
	    w4[] = "delay", w5[] = "policy", w6[] = "bogus", w7[] = "protocol",
	    w8[] = "worse";
	char *ok[] = { w1, w2, w3, w4, NULL };
	char *bad[] = { w5, w6, w7, w8, NULL };
	char *none[] = { NULL };
	const char *b = "x";
	unsigned m = 12345;
	char names[200];

	(void)state;
	assert_int_equal(notify_classes_parse(ok, &m, &b), 0);
	assert_null(b);
	/* bounce implies 2bounce */
	assert_int_equal(m, NOTIFY_RESOURCE | NOTIFY_SOFTWARE | NOTIFY_BOUNCE |
	    NOTIFY_2BOUNCE | NOTIFY_DELAY);
	notify_class_names(m, names, sizeof(names));
	assert_string_equal(names, "bounce, 2bounce, delay, resource, "
	    "software");

	assert_int_equal(notify_classes_parse(bad, &m, &b), -1);
	assert_string_equal(b, "bogus");
	/* the known words still count */
	assert_int_equal(m, NOTIFY_POLICY | NOTIFY_PROTOCOL);

	assert_int_equal(notify_classes_parse(none, &m, &b), 0);
	assert_int_equal(m, 0);
	notify_class_names(0, names, sizeof(names));
	assert_string_equal(names, "");
	/* a small buffer is cut, never overrun */
	notify_class_names(NOTIFY_POLICY | NOTIFY_PROTOCOL, names, 8);
	assert_true(strlen(names) < 8);
}

static const struct {
	const char *reply;
	unsigned cls;
} replies[] = {
	{ "250 2.0.0 Ok: queued as X", 0 },
	{ "354 End data with <CR><LF>.<CR><LF>", 0 },
	{ "220 mx ESMTP", 0 },
	{ "500 5.5.2 Error: line too long", NOTIFY_PROTOCOL },
	{ "502 5.5.2 Error: command not recognized", NOTIFY_PROTOCOL },
	{ "503 5.5.1 Error: need MAIL command", NOTIFY_PROTOCOL },
	{ "555 5.5.4 Unsupported option: FOO", NOTIFY_PROTOCOL },
	{ "501 5.1.7 Bad sender address syntax", NOTIFY_PROTOCOL },
	{ "501 5.1.3 Bad recipient address syntax", NOTIFY_PROTOCOL },
	{ "550 5.6.0 Error: message contains a NUL byte", NOTIFY_PROTOCOL },
	{ "452 4.5.3 Error: too many recipients", NOTIFY_POLICY },
	{ "550 5.1.1 <a@b>: Recipient address rejected", NOTIFY_POLICY },
	{ "554 5.7.1 <a@b>: Relay access denied", NOTIFY_POLICY },
	{ "450 4.7.25 Client host rejected", NOTIFY_POLICY },
	{ "530 5.7.0 Must issue a STARTTLS command first", NOTIFY_POLICY },
	{ "421 4.7.0 mx Error: too many connections", NOTIFY_POLICY },
	{ "552 5.2.2 Mailbox full", NOTIFY_POLICY },
	{ "552 5.3.4 Message size exceeds fixed limit", NOTIFY_BOUNCE },
	{ "554 5.4.6 Error: too many hops", NOTIFY_BOUNCE },
	{ "451 4.3.5 Server configuration error", NOTIFY_SOFTWARE },
	{ "451 4.3.0 Error: queue file write error", NOTIFY_RESOURCE },
	{ "452 4.3.1 Insufficient system storage", NOTIFY_RESOURCE },
	{ "421 4.3.0 mx Error: cannot count", NOTIFY_RESOURCE },
	{ "421 4.4.2 mx Error: timeout exceeded", 0 },
	{ "550-5.7.1 first line of several", NOTIFY_POLICY },
	/* no or broken enhanced status code: protocol */
	{ "500 Syntax error", NOTIFY_PROTOCOL },
	{ "550 4.7.1 class digit differs", NOTIFY_PROTOCOL },
	{ "550 5..1 empty subject", NOTIFY_PROTOCOL },
	{ "550 5.7. empty detail", NOTIFY_PROTOCOL },
	{ "550 5.7.1x junk after", NOTIFY_PROTOCOL },
	{ "550 5.1234.1 long subject", NOTIFY_PROTOCOL },
	{ "550", NOTIFY_PROTOCOL },
	{ "5", 0 },
	{ "", 0 },
	{ "abc", 0 },
	{ "600 6.0.0 not a reply class", 0 },
};

static void
test_replies(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(replies) / sizeof(replies[0]); i++) {
		const char *r = replies[i].reply;
		unsigned got = notify_class_of_reply(r, strlen(r));

		if (got != replies[i].cls)
			fail_msg("\"%s\": class %u, want %u", r, got,
			    replies[i].cls);
	}
}

/* Every prefix, in a buffer of exactly its length (ASan sees a read
 * past it), classes as the prefix it is: the whole reply's class once
 * the detail code is complete. */
static void
test_replies_byte_by_byte(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(replies) / sizeof(replies[0]); i++) {
		const char *r = replies[i].reply;
		size_t n = strlen(r);

		for (size_t k = 0; k <= n; k++) {
			char *p = malloc(k > 0 ? k : 1);
			unsigned got;

			assert_non_null(p);
			memcpy(p, r, k);
			got = notify_class_of_reply(p, k);
			free(p);
			if (k == n && got != replies[i].cls)
				fail_msg("\"%s\" whole: %u", r, got);
			/* a 2xx/3xx prefix is never an error */
			if (k >= 3 && (r[0] == '2' || r[0] == '3'))
				assert_int_equal(got, 0);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_words),
		cmocka_unit_test(test_replies),
		cmocka_unit_test(test_replies_byte_by_byte),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
