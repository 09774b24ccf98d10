/* SPDX-License-Identifier: MIT */
/*
 * test_proxy_proto - the PROXY protocol header parser
 * (src/common/proxy_proto.c), table-driven, each header fed whole, with
 * the client's bytes after it, and one byte at a time (every proper
 * prefix of a good header must ask for more, never fail or finish).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "proxy_proto.h"

#define SIG "\r\n\r\n\0\r\nQUIT\n"

struct good {
	const char *name;
	const char *data;
	size_t len;
	bool local;
	const char *src, *dst;
	unsigned sport, dport;
};

static const struct good goods[] = {
	{ "v1 tcp4", "PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\n", 0,
	  false, "192.0.2.1", "198.51.100.2", 56324, 25 },
	{ "v1 tcp6", "PROXY TCP6 2001:db8::1 2001:DB8:0:0::2 1 65535\r\n", 0,
	  false, "2001:db8::1", "2001:db8::2", 1, 65535 },
	{ "v1 unknown", "PROXY UNKNOWN\r\n", 0, true, "", "", 0, 0 },
	{ "v1 unknown+", "PROXY UNKNOWN ffff:f...f:ffff 1 2\r\n", 0, true,
	  "", "", 0, 0 },
	{ "v1 port 0", "PROXY TCP4 1.2.3.4 5.6.7.8 0 0\r\n", 0, false,
	  "1.2.3.4", "5.6.7.8", 0, 0 },
	{ "v2 tcp4", SIG "\x21\x11\x00\x0c" "\xc0\x00\x02\x01"
	  "\xc6\x33\x64\x02" "\xdc\x04" "\x00\x19", 28, false,
	  "192.0.2.1", "198.51.100.2", 56324, 25 },
	{ "v2 tcp4+tlv", SIG "\x21\x11\x00\x10" "\x0a\x00\x00\x01"
	  "\x0a\x00\x00\x02" "\x00\x50" "\x01\xbb" "\x04\x00\x01\x00", 32,
	  false, "10.0.0.1", "10.0.0.2", 80, 443 },
	{ "v2 tcp6", SIG "\x21\x21\x00\x24"
	  "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01"
	  "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x02" "\x04\xd2" "\x00\x19",
	  52, false, "2001:db8::1", "2001:db8::2", 1234, 25 },
	{ "v2 local", SIG "\x20\x00\x00\x00", 16, true, "", "", 0, 0 },
	{ "v2 local+body", SIG "\x20\x11\x00\x0c" "\1\2\3\4\5\6\7\x08\0\1\0\2",
	  28, true, "", "", 0, 0 },
	{ "v2 unspec", SIG "\x21\x00\x00\x00", 16, true, "", "", 0, 0 },
};

static size_t
len_of(const struct good *g)
{
	return g->len != 0 ? g->len : strlen(g->data);
}

static enum proxy_status
parse_copy(const char *data, size_t len, struct proxy_result *r,
    size_t *used, const char **err)
{
	unsigned char *p = malloc(len > 0 ? len : 1);
	enum proxy_status st;

	assert_non_null(p);
	memcpy(p, data, len);
	st = proxy_parse(p, len, r, used, err);
	free(p);
	return st;
}

static void
test_good_whole_and_byte_by_byte(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		const struct good *g = &goods[i];
		size_t n = len_of(g), used = 99;
		struct proxy_result r;
		const char *err = NULL;
		char with[2048];

		/* the client's bytes follow: they are not consumed */
		memcpy(with, g->data, n);
		memcpy(with + n, "EHLO x\r\n", 8);
		if (parse_copy(with, n + 8, &r, &used, &err) != PROXY_DONE)
			fail_msg("%s: %s", g->name, err);
		assert_int_equal(used, n);
		assert_int_equal(r.local, g->local);
		assert_string_equal(r.src_addr, g->src);
		assert_string_equal(r.dst_addr, g->dst);
		assert_int_equal(r.src_port, g->sport);
		assert_int_equal(r.dst_port, g->dport);
		assert_int_equal(r.version, g->data[0] == 'P' ? 1 : 2);
		for (size_t k = 0; k < n; k++) {
			enum proxy_status st = parse_copy(g->data, k, &r,
			    &used, &err);

			if (st != PROXY_NEED_MORE)
				fail_msg("%s: prefix of %zu bytes: %d (%s)",
				    g->name, k, st, err ? err : "");
		}
	}
}

static void
test_bad(void **state)
{
	static const struct {
		const char *data;
		size_t len;
		const char *err;
	} bad[] = {
		{ "EHLO client\r\n", 0, "no PROXY protocol header" },
		{ "\x16\x03\x01", 0, "no PROXY protocol header" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", 0, "CRLF" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", 0, "five fields" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", 0, "five fields" },
		{ "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", 0, "empty field" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", 0, "space" },
		{ "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", 0, "TCP4, TCP6" },
		{ "PROXY TCP4 2001:db8::1 5.6.7.8 1 2\r\n", 0, "address" },
		{ "PROXY TCP6 1.2.3.4 2001:db8::1 1 2\r\n", 0, "address" },
		{ "PROXY TCP4 1.2.3.400 5.6.7.8 1 2\r\n", 0, "address" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", 0, "port" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", 0, "port" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", 0, "port" },
		{ "PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n", 0, "control" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n", 0, "control" },
		{ "PROXY \xc3\xa9", 0, "8-bit" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 11111111111111111111111111111111"
		  "1111111111111111111111111111111111111111111111111111111111"
		  "11111111111111111", 0, "longer than 107" },
		{ SIG "\x11\x11\x00\x0c", 16, "version number" },
		{ SIG "\x22\x11\x00\x0c", 16, "unknown command" },
		{ SIG "\x21\x11\x04\x01", 16, "longer than Ostia accepts" },
		{ SIG "\x21\x11\x00\x04" "\1\2\3\4", 20, "too short" },
		{ SIG "\x21\x21\x00\x0c" "\1\2\3\4\5\6\7\x08\0\1\0\2", 28,
		  "too short" },
		{ SIG "\x21\x12\x00\x0c" "\1\2\3\4\5\6\7\x08\0\1\0\2", 28,
		  "something other than TCP" },
		{ SIG "\x21\x31\x00\x00", 16, "something other than TCP" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n = bad[i].len != 0 ? bad[i].len : strlen(bad[i].data);
		struct proxy_result r;
		const char *err = NULL;
		size_t used = 7;

		if (parse_copy(bad[i].data, n, &r, &used, &err) != PROXY_BAD)
			fail_msg("case %zu: not refused", i);
		assert_non_null(err);
		if (strstr(err, bad[i].err) == NULL)
			fail_msg("case %zu: error \"%s\", want \"%s\"", i, err,
			    bad[i].err);
		assert_int_equal(used, 0);
	}
}

static void
test_need_more(void **state)
{
	struct proxy_result r;
	const char *err = NULL;
	size_t used;

	(void)state;
	assert_int_equal(parse_copy("", 0, &r, &used, &err), PROXY_NEED_MORE);
	assert_int_equal(parse_copy("PRO", 3, &r, &used, &err),
	    PROXY_NEED_MORE);
	assert_int_equal(parse_copy("\r\n\r\n", 4, &r, &used, &err),
	    PROXY_NEED_MORE);
	/* a v2 head announcing more than has come */
	assert_int_equal(parse_copy(SIG "\x21\x11\x00\x0c\1\2", 18, &r, &used,
	    &err), PROXY_NEED_MORE);
	/* a v1 line still short of its end */
	assert_int_equal(parse_copy("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r", 31,
	    &r, &used, &err), PROXY_NEED_MORE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_whole_and_byte_by_byte),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_need_more),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
