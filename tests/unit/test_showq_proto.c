/* SPDX-License-Identifier: MIT */
/*
 * test_showq_proto - the public queue service's request and answer lines
 * (src/common/showq_proto.c): requests formatted and parsed back, bad
 * requests refused (each field), answer lines told apart.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "compat.h"
#include "showq_proto.h"

static void
roundtrip(int n, char *const *words, enum showq_what what, const char *arg)
{
	char line[SHOWQ_REQUEST_MAX_BYTES + 1];
	struct showq_request r;
	const char *why = NULL;

	assert_int_equal(showq_request_format(line, sizeof(line), 65534,
	    "nobody", n, words, &why), 0);
	assert_int_equal(line[strlen(line) - 1], '\n');
	assert_int_equal(showq_request_parse(line, strlen(line) - 1, &r,
	    &why), 0);
	assert_int_equal(r.uid, 65534);
	assert_string_equal(r.login, "nobody");
	assert_int_equal(r.what, what);
	assert_string_equal(r.arg, arg);
}

static void
test_roundtrip(void **state)
{
	char *list[] = { UNCONST("list") };
	char *json[] = { UNCONST("json") };
	char *flush[] = { UNCONST("flush") };
	char *flush_id[] = { UNCONST("flush"), UNCONST("2KPWER0XWS0000D9") };
	char *flush_d[] = { UNCONST("flush"), UNCONST("-d"),
		UNCONST("example.org") };

	(void)state;
	roundtrip(1, list, SHOWQ_LIST, "");
	roundtrip(1, json, SHOWQ_LIST_JSON, "");
	roundtrip(1, flush, SHOWQ_FLUSH, "");
	roundtrip(2, flush_id, SHOWQ_FLUSH_ID, "2KPWER0XWS0000D9");
	roundtrip(3, flush_d, SHOWQ_FLUSH_DOMAIN, "example.org");
}

static void
test_format_refuses(void **state)
{
	char line[SHOWQ_REQUEST_MAX_BYTES + 1];
	const char *why = NULL;
	char *bad1[] = { UNCONST("hold"), UNCONST("ALL") };
	char *bad2[] = { UNCONST("flush"), UNCONST("not-an-id") };
	char *bad3[] = { UNCONST("flush"), UNCONST("-d"), UNCONST("a b") };
	char *list[] = { UNCONST("list") };

	(void)state;
	assert_int_equal(showq_request_format(line, sizeof(line), 1, "u", 2,
	    bad1, &why), -1);
	assert_int_equal(showq_request_format(line, sizeof(line), 1, "u", 2,
	    bad2, &why), -1);
	assert_int_equal(showq_request_format(line, sizeof(line), 1, "u", 3,
	    bad3, &why), -1);
	assert_int_equal(showq_request_format(line, sizeof(line), 1, "a b", 1,
	    list, &why), -1);
	/* Too small an output: refused, not cut. */
	assert_int_equal(showq_request_format(line, 10, 1, "u", 1, list,
	    &why), -1);
}

static void
test_parse_refuses(void **state)
{
	static const char *const bad[] = {
		"",
		"ostia-showq 2 1 u list",
		"ostia-showq 1 x u list",
		"ostia-showq 1 99999999999 u list",
		"ostia-showq 1 01 u list",
		"ostia-showq 1 1 u list extra",
		"ostia-showq 1 1 u json x",
		"ostia-showq 1 1 u jsonx",
		"ostia-showq 1 1 u list ",
		"ostia-showq 1 1 u hold ALL",
		"ostia-showq 1 1 u flush ",
		"ostia-showq 1 1 u flush 2kpwer0xws0000d9",
		"ostia-showq 1 1 u flush -d",
		"ostia-showq 1 1 u flush -d -x.org",
		"ostia-showq 1 1 u flush -d a.org b",
		"ostia-showq 1 1 a\"b list",
		"ostia-showq 1  u list",
		"ostia-showq 1 1 u",
	};
	struct showq_request r;
	const char *why;

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(bad); i++) {
		why = NULL;
		if (showq_request_parse(bad[i], strlen(bad[i]), &r, &why) != -1 ||
		    why == NULL)
			fail_msg("accepted: \"%s\"", bad[i]);
	}
	/* A NUL inside the login refuses. */
	assert_int_equal(showq_request_parse("ostia-showq 1 1 a\0b list", 24,
	    &r, &why), -1);
}

static void
test_parse_prefixes(void **state)
{
	static const char line[] = "ostia-showq 1 1000 alice flush -d a.org";
	struct showq_request r;
	const char *why;

	(void)state;
	/* Every proper prefix of a good line is refused or a different,
	 * shorter request: never the whole one misread. */
	for (size_t n = 0; n < sizeof(line) - 1; n++) {
		int rc = showq_request_parse(line, n, &r, &why);

		if (rc == 0)
			assert_true(r.what != SHOWQ_FLUSH_DOMAIN ||
			    strcmp(r.arg, "a.org") != 0);
	}
	assert_int_equal(showq_request_parse(line, sizeof(line) - 1, &r,
	    &why), 0);
	assert_string_equal(r.arg, "a.org");
}

static void
test_reply(void **state)
{
	const char *text;
	size_t len;
	int st = -1;

	(void)state;
	assert_int_equal(showq_reply_parse("O hello", 7, &text, &len, &st),
	    'O');
	assert_int_equal(len, 5);
	assert_int_equal(memcmp(text, "hello", 5), 0);
	assert_int_equal(showq_reply_parse("E ", 2, &text, &len, &st), 'E');
	assert_int_equal(len, 0);
	assert_int_equal(showq_reply_parse("S 2", 3, &text, &len, &st), 'S');
	assert_int_equal(st, 2);
	assert_int_equal(showq_reply_parse("S 3", 3, &text, &len, &st), -1);
	assert_int_equal(showq_reply_parse("S 10", 4, &text, &len, &st), -1);
	assert_int_equal(showq_reply_parse("X y", 3, &text, &len, &st), -1);
	assert_int_equal(showq_reply_parse("O", 1, &text, &len, &st), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_format_refuses),
		cmocka_unit_test(test_parse_refuses),
		cmocka_unit_test(test_parse_prefixes),
		cmocka_unit_test(test_reply),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
