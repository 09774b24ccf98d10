/* SPDX-License-Identifier: MIT */
/*
 * test_masquerade - address masquerading (masquerade_domains,
 * masquerade_exceptions, masquerade_classes): which addresses change,
 * to what, in which class, and what masq_setup refuses.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compat.h"
#include "masquerade.h"

static const char *dflt_classes[] = { "envelope_sender", "header_sender",
    "header_recipient", NULL };

static void
setup(struct masq *m, const char **domains, const char **exceptions,
    const char **classes)
{
	char err[256];

	assert_int_equal(masq_setup(m, domains, exceptions, classes, "+",
	    err, sizeof(err)), 0);
}

static const char *
masq(const struct masq *m, enum masq_class c, const char *a, int want_rc)
{
	static char out[256];

	assert_int_equal(masquerade(m, c, a, out, sizeof(out)), want_rc);
	return out;
}

static void
test_domains(void **state)
{
	const char *domains[] = { "!sub.example.com", "example.com",
	    "Other.TEST", NULL };
	struct masq m;

	(void)state;
	setup(&m, domains, NULL, dflt_classes);
	assert_string_equal(masq(&m, MASQ_ENV_SENDER,
	    "joe@host.example.com", 1), "joe@example.com");
	assert_string_equal(masq(&m, MASQ_ENV_SENDER,
	    "joe@a.b.c.example.com", 1), "joe@example.com");
	assert_string_equal(masq(&m, MASQ_HDR_SENDER,
	    "joe@HOST.Example.Com", 1), "joe@example.com");
	assert_string_equal(masq(&m, MASQ_HDR_RCPT, "x@mx.other.test", 1),
	    "x@Other.TEST");
	/* The domain itself, a look-alike, an exception, other domains. */
	assert_string_equal(masq(&m, MASQ_ENV_SENDER, "joe@example.com", 0),
	    "joe@example.com");
	assert_string_equal(masq(&m, MASQ_ENV_SENDER, "joe@xexample.com", 0),
	    "joe@xexample.com");
	assert_string_equal(masq(&m, MASQ_ENV_SENDER,
	    "joe@sub.example.com", 0), "joe@sub.example.com");
	assert_string_equal(masq(&m, MASQ_ENV_SENDER,
	    "joe@h.sub.example.com", 0), "joe@h.sub.example.com");
	assert_string_equal(masq(&m, MASQ_ENV_SENDER, "joe@example.org", 0),
	    "joe@example.org");
	/* Never: no domain, a literal, the null sender. */
	assert_string_equal(masq(&m, MASQ_ENV_SENDER, "joe", 0), "joe");
	assert_string_equal(masq(&m, MASQ_ENV_SENDER, "joe@[192.0.2.1]", 0),
	    "joe@[192.0.2.1]");
	assert_string_equal(masq(&m, MASQ_ENV_SENDER, "", 0), "");
	/* A quoted local part with an '@' in it. */
	assert_string_equal(masq(&m, MASQ_ENV_SENDER,
	    "\"a@b\"@h.example.com", 1), "\"a@b\"@example.com");
	/* Envelope recipients are not in the default classes. */
	assert_string_equal(masq(&m, MASQ_ENV_RCPT, "joe@h.example.com", 0),
	    "joe@h.example.com");
	assert_false(masq_on(&m, MASQ_ENV_RCPT));
	assert_true(masq_on(&m, MASQ_HDR_RCPT));
	masq_deinit(&m);
}

static void
test_order(void **state)
{
	/* The first parent listed wins. */
	const char *domains[] = { "b.example.com", "example.com", NULL };
	const char *dotted[] = { ".example.com", NULL };
	struct masq m;

	(void)state;
	setup(&m, domains, NULL, dflt_classes);
	assert_string_equal(masq(&m, MASQ_ENV_SENDER, "u@a.b.example.com", 1),
	    "u@b.example.com");
	assert_string_equal(masq(&m, MASQ_ENV_SENDER, "u@c.example.com", 1),
	    "u@example.com");
	masq_deinit(&m);
	setup(&m, dotted, NULL, dflt_classes);
	assert_string_equal(masq(&m, MASQ_ENV_SENDER, "u@h.example.com", 1),
	    "u@example.com");
	masq_deinit(&m);
}

static void
test_exceptions(void **state)
{
	const char *domains[] = { "example.com", NULL };
	const char *exceptions[] = { "root", "Mailer-Daemon", NULL };
	struct masq m;

	(void)state;
	setup(&m, domains, exceptions, dflt_classes);
	assert_string_equal(masq(&m, MASQ_ENV_SENDER, "root@h.example.com", 0),
	    "root@h.example.com");
	assert_string_equal(masq(&m, MASQ_ENV_SENDER, "ROOT@h.example.com", 0),
	    "ROOT@h.example.com");
	assert_string_equal(masq(&m, MASQ_ENV_SENDER,
	    "root+cron@h.example.com", 0), "root+cron@h.example.com");
	assert_string_equal(masq(&m, MASQ_ENV_SENDER,
	    "mailer-daemon@h.example.com", 0), "mailer-daemon@h.example.com");
	assert_string_equal(masq(&m, MASQ_ENV_SENDER,
	    "rooty@h.example.com", 1), "rooty@example.com");
	masq_deinit(&m);
}

static void
test_classes(void **state)
{
	const char *domains[] = { "example.com", NULL };
	const char *rcpt_only[] = { "envelope_recipient", NULL };
	struct masq m;

	(void)state;
	setup(&m, domains, NULL, rcpt_only);
	assert_string_equal(masq(&m, MASQ_ENV_RCPT, "u@h.example.com", 1),
	    "u@example.com");
	assert_string_equal(masq(&m, MASQ_ENV_SENDER, "u@h.example.com", 0),
	    "u@h.example.com");
	assert_false(masq_on(&m, MASQ_HDR_SENDER));
	masq_deinit(&m);
}

static void
test_off_and_errors(void **state)
{
	const char *none[] = { NULL };
	const char *domains[] = { "example.com", NULL };
	const char *bad_class[] = { "envelope_sender", "body", NULL };
	const char *bad_dom[] = { "!", NULL };
	const char *bad_dom2[] = { "user@example.com", NULL };
	const char *table[] = { "hash:/etc/postfix/masq_exceptions", NULL };
	char err[256], out[64];
	struct masq m;

	(void)state;
	/* No domains: off, not an error. */
	assert_int_equal(masq_setup(&m, none, NULL, dflt_classes, "", err,
	    sizeof(err)), 0);
	assert_false(masq_on(&m, MASQ_ENV_SENDER));
	assert_int_equal(masquerade(&m, MASQ_ENV_SENDER, "u@h.example.com",
	    out, sizeof(out)), 0);
	masq_deinit(&m);
	assert_int_equal(masq_setup(&m, domains, NULL, bad_class, "", err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "unknown class \"body\""));
	assert_false(masq_on(&m, MASQ_ENV_SENDER));
	masq_deinit(&m);
	assert_int_equal(masq_setup(&m, bad_dom, NULL, dflt_classes, "", err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "is not a domain name"));
	masq_deinit(&m);
	assert_int_equal(masq_setup(&m, bad_dom2, NULL, dflt_classes, "", err,
	    sizeof(err)), -1);
	masq_deinit(&m);
	assert_int_equal(masq_setup(&m, domains, table, dflt_classes, "", err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "is a table"));
	assert_false(masq_on(&m, MASQ_HDR_SENDER));
	masq_deinit(&m);
	/* Too small an output buffer. */
	setup(&m, domains, NULL, dflt_classes);
	assert_int_equal(masquerade(&m, MASQ_ENV_SENDER,
	    "a-rather-long-name@some.host.example.com", out, 10), -1);
	masq_deinit(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_domains),
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_exceptions),
		cmocka_unit_test(test_classes),
		cmocka_unit_test(test_off_and_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
