/* SPDX-License-Identifier: MIT */
/*
 * test_smtp_xattr - XCLIENT and XFORWARD arguments, table-driven: what
 * each command takes, the values as stored (decoded, addresses
 * normalized), the [UNAVAILABLE] / [TEMPUNAVAIL] markers, and every
 * refusal with the attribute it names.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_xattr.h"

struct ok_case {
	enum smtp_xattr_cmd cmd;
	const char *args;
	enum smtp_xattr_id id;		/* the attribute checked */
	enum smtp_xattr_state st;
	const char *val;		/* when st is XATTR_SET */
};

static const struct ok_case oks[] = {
	{ SMTP_XCLIENT, "NAME=mail.example.org", XATTR_NAME, XATTR_SET,
	    "mail.example.org" },
	{ SMTP_XCLIENT, "name=a-b_c.example", XATTR_NAME, XATTR_SET,
	    "a-b_c.example" },
	{ SMTP_XCLIENT, "NAME=[UNAVAILABLE]", XATTR_NAME, XATTR_UNAVAILABLE,
	    NULL },
	{ SMTP_XCLIENT, "NAME=[tempunavail]", XATTR_NAME, XATTR_TEMPUNAVAIL,
	    NULL },
	{ SMTP_XCLIENT, "ADDR=192.0.2.7", XATTR_ADDR, XATTR_SET,
	    "192.0.2.7" },
	{ SMTP_XCLIENT, "ADDR=IPV6:2001:DB8::0:1", XATTR_ADDR, XATTR_SET,
	    "2001:db8::1" },
	{ SMTP_XCLIENT, "ADDR=ipv6:::1", XATTR_ADDR, XATTR_SET, "::1" },
	{ SMTP_XCLIENT, "ADDR=2001:db8::2", XATTR_ADDR, XATTR_SET,
	    "2001:db8::2" },
	{ SMTP_XCLIENT, "PORT=0", XATTR_PORT, XATTR_SET, "0" },
	{ SMTP_XCLIENT, "PORT=65535", XATTR_PORT, XATTR_SET, "65535" },
	{ SMTP_XCLIENT, "PROTO=esmtp", XATTR_PROTO, XATTR_SET, "esmtp" },
	{ SMTP_XCLIENT, "HELO=[192.0.2.7]", XATTR_HELO, XATTR_SET,
	    "[192.0.2.7]" },
	{ SMTP_XCLIENT, "LOGIN=joe+40example.org", XATTR_LOGIN, XATTR_SET,
	    "joe@example.org" },
	{ SMTP_XCLIENT, "LOGIN=two+20words", XATTR_LOGIN, XATTR_SET,
	    "two words" },
	{ SMTP_XCLIENT, "DESTADDR=198.51.100.1 DESTPORT=587", XATTR_DESTPORT,
	    XATTR_SET, "587" },
	{ SMTP_XCLIENT, "  ADDR=192.0.2.1   NAME=x  ", XATTR_NAME, XATTR_SET,
	    "x" },
	{ SMTP_XCLIENT, "REVERSE_NAME=ptr.example", XATTR_REVERSE_NAME,
	    XATTR_SET, "ptr.example" },
	{ SMTP_XFORWARD, "PROTO=ESMTPSA", XATTR_PROTO, XATTR_SET, "ESMTPSA" },
	{ SMTP_XFORWARD, "IDENT=4Q2X7B1ZKM0A3D9F", XATTR_IDENT, XATTR_SET,
	    "4Q2X7B1ZKM0A3D9F" },
	{ SMTP_XFORWARD, "SOURCE=local", XATTR_SOURCE, XATTR_SET, "local" },
	{ SMTP_XFORWARD, "NAME=mx.example ADDR=[UNAVAILABLE]", XATTR_ADDR,
	    XATTR_UNAVAILABLE, NULL },
	{ SMTP_XFORWARD, "HELO=a+2Bb", XATTR_HELO, XATTR_SET, "a+b" },
};

static void
test_accepted(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(oks) / sizeof(oks[0]); i++) {
		struct smtp_xattrs xa;
		const char *err = NULL, *name = NULL;
		size_t nl = 0;
		int r = smtp_xattr_parse(oks[i].cmd, oks[i].args,
		    strlen(oks[i].args), &xa, &err, &name, &nl);

		if (r != 0)
			fail_msg("\"%s\" refused: %s", oks[i].args, err);
		assert_int_equal(xa.st[oks[i].id], oks[i].st);
		if (oks[i].val != NULL)
			assert_string_equal(xa.val[oks[i].id], oks[i].val);
	}
}

struct bad_case {
	enum smtp_xattr_cmd cmd;
	const char *args;
	const char *attr;		/* the name reported ("" none) */
	const char *why;		/* in the reason */
};

static const struct bad_case bads[] = {
	{ SMTP_XCLIENT, "", "", "no attributes" },
	{ SMTP_XCLIENT, "   ", "", "no attributes" },
	{ SMTP_XCLIENT, "NAME", "NAME", "without" },
	{ SMTP_XCLIENT, "=x", "", "without" },
	{ SMTP_XCLIENT, "FOO=bar", "FOO", "unknown attribute" },
	/* Each command takes only its own attributes. */
	{ SMTP_XCLIENT, "IDENT=ABC", "IDENT", "unknown attribute" },
	{ SMTP_XCLIENT, "SOURCE=LOCAL", "SOURCE", "unknown attribute" },
	{ SMTP_XFORWARD, "LOGIN=joe", "LOGIN", "unknown attribute" },
	{ SMTP_XFORWARD, "DESTADDR=192.0.2.1", "DESTADDR",
	    "unknown attribute" },
	{ SMTP_XFORWARD, "REVERSE_NAME=x", "REVERSE_NAME",
	    "unknown attribute" },
	{ SMTP_XCLIENT, "NAME=a NAME=b", "NAME", "twice" },
	{ SMTP_XCLIENT, "NAME=", "NAME", "bad value" },
	{ SMTP_XCLIENT, "NAME=bad+20name", "NAME", "bad value" },
	{ SMTP_XCLIENT, "NAME=a..b", "NAME", "bad value" },
	{ SMTP_XCLIENT, "NAME=caf+C3+A9", "NAME", "bad value" },
	{ SMTP_XCLIENT, "ADDR=300.1.1.1", "ADDR", "bad value" },
	{ SMTP_XCLIENT, "ADDR=IPV6:192.0.2.1", "ADDR", "bad value" },
	{ SMTP_XCLIENT, "ADDR=[TEMPUNAVAIL]", "ADDR", "TEMPUNAVAIL" },
	{ SMTP_XCLIENT, "PORT=65536", "PORT", "bad value" },
	{ SMTP_XCLIENT, "PORT=-1", "PORT", "bad value" },
	{ SMTP_XCLIENT, "PORT=123456", "PORT", "bad value" },
	{ SMTP_XCLIENT, "PROTO=ESMTPSA", "PROTO", "bad value" },
	{ SMTP_XFORWARD, "PROTO=E-SMTP", "PROTO", "bad value" },
	{ SMTP_XCLIENT, "HELO=two+20words", "HELO", "bad value" },
	{ SMTP_XCLIENT, "HELO=a+0Db", "HELO", "bad value" },
	{ SMTP_XCLIENT, "HELO=a+00b", "HELO", "xtext" },
	{ SMTP_XCLIENT, "HELO=a+4", "HELO", "xtext" },
	{ SMTP_XCLIENT, "HELO=a+ZZ", "HELO", "xtext" },
	{ SMTP_XCLIENT, "LOGIN=+20joe", "LOGIN", "bad value" },
	{ SMTP_XFORWARD, "IDENT=a/b", "IDENT", "bad value" },
	{ SMTP_XFORWARD, "SOURCE=NEARBY", "SOURCE", "bad value" },
	{ SMTP_XCLIENT, "ADDR=192.0.2.1 BOGUS", "BOGUS", "without" },
};

static void
test_refused(void **state)
{
	char longv[1200];

	(void)state;
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		struct smtp_xattrs xa;
		const char *err = NULL, *name = NULL;
		size_t nl = 0;
		int r = smtp_xattr_parse(bads[i].cmd, bads[i].args,
		    strlen(bads[i].args), &xa, &err, &name, &nl);

		if (r != -1)
			fail_msg("\"%s\" accepted", bads[i].args);
		assert_non_null(err);
		if (strstr(err, bads[i].why) == NULL)
			fail_msg("\"%s\": reason \"%s\", wanted \"%s\"",
			    bads[i].args, err, bads[i].why);
		assert_int_equal(nl, strlen(bads[i].attr));
		assert_memory_equal(name, bads[i].attr, nl);
		/* Nothing is left from a refused line. */
		for (int k = 0; k < XATTR__COUNT; k++)
			assert_int_equal(xa.st[k], XATTR_ABSENT);
	}
	/* A value longer than SMTP_XATTR_VALUE_MAX, plain and encoded. */
	memset(longv, 0, sizeof(longv));
	memcpy(longv, "LOGIN=", 6);
	memset(longv + 6, 'a', SMTP_XATTR_VALUE_MAX + 1);
	{
		struct smtp_xattrs xa;
		const char *err = NULL, *name = NULL;
		size_t nl = 0;

		assert_int_equal(smtp_xattr_parse(SMTP_XCLIENT, longv,
		    strlen(longv), &xa, &err, &name, &nl), -1);
		assert_non_null(strstr(err, "too long"));
		longv[6 + SMTP_XATTR_VALUE_MAX] = '\0';
		assert_int_equal(smtp_xattr_parse(SMTP_XCLIENT, longv,
		    strlen(longv), &xa, &err, &name, &nl), 0);
		assert_int_equal(strlen(xa.val[XATTR_LOGIN]),
		    SMTP_XATTR_VALUE_MAX);
	}
}

/* The parser reads only the len bytes it is given. */
static void
test_length_bound(void **state)
{
	const char *line = "NAME=a.example ADDR=192.0.2.1";
	struct smtp_xattrs xa;
	const char *err = NULL, *name = NULL;
	size_t nl = 0;

	(void)state;
	assert_int_equal(smtp_xattr_parse(SMTP_XCLIENT, line, 14, &xa, &err,
	    &name, &nl), 0);
	assert_int_equal(xa.st[XATTR_NAME], XATTR_SET);
	assert_string_equal(xa.val[XATTR_NAME], "a.example");
	assert_int_equal(xa.st[XATTR_ADDR], XATTR_ABSENT);
}

static void
test_names(void **state)
{
	(void)state;
	assert_string_equal(smtp_xattr_name(XATTR_REVERSE_NAME),
	    "REVERSE_NAME");
	assert_true(smtp_xattr_allowed(SMTP_XCLIENT, XATTR_LOGIN));
	assert_false(smtp_xattr_allowed(SMTP_XFORWARD, XATTR_LOGIN));
	assert_true(smtp_xattr_allowed(SMTP_XFORWARD, XATTR_IDENT));
	assert_false(smtp_xattr_allowed(SMTP_XCLIENT, XATTR__COUNT));
	/* The EHLO keyword lists exactly the attributes each takes. */
	for (int cmd = SMTP_XCLIENT; cmd <= SMTP_XFORWARD; cmd++) {
		const char *kw = smtp_xattr_keywords(cmd);

		for (int k = 0; k < XATTR__COUNT; k++) {
			char word[40];
			const char *n = smtp_xattr_name(k);
			bool listed;

			snprintf(word, sizeof(word), " %s", n);
			listed = false;
			for (const char *p = kw; (p = strstr(p, word)) != NULL;
			    p++)
				if (p[strlen(word)] == ' ' ||
				    p[strlen(word)] == '\0')
					listed = true;
			assert_int_equal(listed, smtp_xattr_allowed(cmd, k));
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepted),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_length_bound),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
