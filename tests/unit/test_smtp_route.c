/* SPDX-License-Identifier: MIT */
/*
 * test_smtp_route - where the smtp agent sends (src/deliver/smtp_route.c):
 * every next hop form Postfix users write (domain, domain:port, [host],
 * [host]:port, IPv4 and IPv6 literals, the old [ipv6:...] form), every
 * prefix of them (a cut text parses to something sensible or is
 * refused with words, never a crash), bad next hops refused; the MX
 * order (preference, shuffle only among equals, null MX); and the names
 * a certificate must match.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_route.h"
#include "strv.h"

static void
parse_ok(const char *text, const char *host, const char *port, bool no_mx,
    bool is_ip)
{
	struct smtp_nexthop nh;
	const char *err = NULL;

	if (smtp_nexthop_parse(text, "25", &nh, &err) != 0)
		fail_msg("\"%s\" refused: %s", text, err);
	assert_string_equal(nh.host, host);
	assert_string_equal(nh.port, port);
	assert_int_equal(nh.no_mx, no_mx);
	assert_int_equal(nh.is_ip, is_ip);
}

static void
parse_bad(const char *text, const char *words)
{
	struct smtp_nexthop nh;
	const char *err = NULL;

	if (smtp_nexthop_parse(text, "25", &nh, &err) == 0)
		fail_msg("\"%s\" accepted", text);
	assert_non_null(err);
	if (strstr(err, words) == NULL)
		fail_msg("\"%s\": error \"%s\" lacks \"%s\"", text, err, words);
}

static void
test_forms(void **state)
{
	(void)state;
	parse_ok("example.net", "example.net", "25", false, false);
	parse_ok("Example.NET.", "example.net", "25", false, false);
	parse_ok("example.net:2525", "example.net", "2525", false, false);
	parse_ok("[mail.example.net]", "mail.example.net", "25", true, false);
	parse_ok("[mail.example.net]:587", "mail.example.net", "587", true,
	    false);
	parse_ok("[127.0.0.1]:10024", "127.0.0.1", "10024", true, true);
	parse_ok("127.0.0.1:10024", "127.0.0.1", "10024", true, true);
	parse_ok("[::1]:25", "::1", "25", true, true);
	parse_ok("[ipv6:2001:db8::1]", "2001:db8::1", "25", true, true);
	parse_ok("[smtp.example.net]:submission", "smtp.example.net",
	    "submission", true, false);
}

static void
test_bad(void **state)
{
	(void)state;
	parse_bad("", "empty");
	parse_bad("[", "without ']'");
	parse_bad("[]", "empty");
	parse_bad("[a.b]x", "after ']'");
	parse_bad("a.b:0", "port");
	parse_bad("a.b:65536", "port");
	parse_bad("a.b:", "port");
	parse_bad("a.b:2-5", "port");
	parse_bad("2001:db8::1", "brackets");
	parse_bad("bad host.example", "not a valid");
	parse_bad("a..b", "not a valid");
	parse_bad("exa\nmple.net", "not a valid");
	/* Found by fuzz_smtp_nexthop: the dot went, and the name read as
	 * an address when written back in brackets. */
	parse_bad("0.0.0.0.", "trailing dot");
	parse_bad("[192.0.2.1.]:25", "trailing dot");
	parse_bad("192.0.2.1.:2525", "trailing dot");
	{
		char longer[SMTP_NEXTHOP_MAX_BYTES + 2];

		memset(longer, 'a', sizeof(longer) - 1);
		longer[sizeof(longer) - 1] = '\0';
		parse_bad(longer, "too long");
	}
	{
		struct smtp_nexthop nh;
		const char *err = NULL;

		assert_int_equal(smtp_nexthop_parse("a.b", "x y", &nh, &err),
		    -1);
		assert_non_null(strstr(err, "smtp_tcp_port"));
	}
}

/* Every prefix of a valid next hop: parsed or refused with words. */
static void
test_prefixes(void **state)
{
	static const char *const texts[] = {
		"[mail.example.net]:587", "[ipv6:2001:db8::1]:25",
		"example.net:2525", "[127.0.0.1]:10024",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		for (size_t n = 0; n <= strlen(texts[i]); n++) {
			char buf[64];
			struct smtp_nexthop nh;
			const char *err = NULL;

			memcpy(buf, texts[i], n);
			buf[n] = '\0';
			if (smtp_nexthop_parse(buf, "25", &nh, &err) == 0) {
				assert_true(nh.host[0] != '\0');
				assert_true(nh.port[0] != '\0');
			} else {
				assert_non_null(err);
				assert_true(strlen(err) > 8);
			}
		}
	}
}

static struct dns_rr
mx(uint16_t pref, const char *host)
{
	struct dns_rr rr;

	memset(&rr, 0, sizeof(rr));
	rr.type = DNS_T_MX;
	rr.u.mx.pref = pref;
	snprintf(rr.u.mx.host, sizeof(rr.u.mx.host), "%s", host);
	return rr;
}

static unsigned rnd_calls;

/* A "random" source that always picks the last candidate. */
static unsigned
rnd_last(unsigned n)
{
	rnd_calls++;
	return n - 1;
}

static void
test_mx_order(void **state)
{
	struct dns_rr rrs[5];
	struct smtp_mx out[8];
	bool null_mx;
	size_t n;

	(void)state;
	rrs[0] = mx(20, "b.example");
	rrs[1] = mx(10, "a1.example");
	rrs[2] = mx(30, "c.example");
	rrs[3] = mx(10, "a2.example");
	rrs[4] = mx(20, "b2.example");
	n = smtp_mx_order(rrs, 5, NULL, out, 8, &null_mx);
	assert_int_equal(n, 5);
	assert_false(null_mx);
	assert_string_equal(out[0].host, "a1.example");
	assert_string_equal(out[1].host, "a2.example");
	assert_string_equal(out[2].host, "b.example");
	assert_string_equal(out[3].host, "b2.example");
	assert_string_equal(out[4].host, "c.example");

	/* Shuffled only among equals: the preference order stays. */
	rnd_calls = 0;
	n = smtp_mx_order(rrs, 5, rnd_last, out, 8, &null_mx);
	assert_int_equal(n, 5);
	assert_true(rnd_calls > 0);
	assert_int_equal(out[0].pref, 10);
	assert_int_equal(out[1].pref, 10);
	assert_int_equal(out[2].pref, 20);
	assert_int_equal(out[3].pref, 20);
	assert_string_equal(out[4].host, "c.example");

	/* The limit. */
	n = smtp_mx_order(rrs, 5, NULL, out, 2, &null_mx);
	assert_int_equal(n, 2);
	assert_int_equal(out[0].pref, 10);
	assert_int_equal(out[1].pref, 10);

	/* Null MX: one record with host ".". */
	rrs[0] = mx(0, "");
	n = smtp_mx_order(rrs, 1, NULL, out, 8, &null_mx);
	assert_int_equal(n, 0);
	assert_true(null_mx);
	/* A "." among others is not a null MX; it is skipped. */
	rrs[1] = mx(10, "a.example");
	n = smtp_mx_order(rrs, 2, NULL, out, 8, &null_mx);
	assert_false(null_mx);
	assert_int_equal(n, 1);
	assert_string_equal(out[0].host, "a.example");
}

static void
test_match_names(void **state)
{
	char **v;

	(void)state;
	v = smtp_match_names("nexthop, dot-nexthop", "mx.example.net",
	    "example.net");
	assert_string_equal(v[0], "example.net");
	assert_string_equal(v[1], ".example.net");
	assert_null(v[2]);
	strv_free(&v);
	v = smtp_match_names("hostname", "MX.Example.NET", "example.net");
	assert_string_equal(v[0], "mx.example.net");
	assert_null(v[1]);
	strv_free(&v);
	/* match= of a policy: ':' between names; duplicates dropped. */
	v = smtp_match_names("hostname:relay.example.org:hostname",
	    "mx.example.net", "example.net");
	assert_string_equal(v[0], "mx.example.net");
	assert_string_equal(v[1], "relay.example.org");
	assert_null(v[2]);
	strv_free(&v);
	v = smtp_match_names("", "a", "b");
	assert_null(v[0]);
	strv_free(&v);
}

static void
test_match_fingerprints(void **state)
{
	char **v;

	(void)state;
	/* match= of a policy: '|' between them, the colons kept. */
	v = smtp_match_fingerprints("AB:CD:EF|01:23|ab:cd:ef");
	assert_string_equal(v[0], "ab:cd:ef");
	assert_string_equal(v[1], "01:23");
	assert_null(v[2]);
	strv_free(&v);
	/* The parameter: space or ','. */
	v = smtp_match_fingerprints(" AB:CD,\t01:23 ,");
	assert_string_equal(v[0], "ab:cd");
	assert_string_equal(v[1], "01:23");
	assert_null(v[2]);
	strv_free(&v);
	v = smtp_match_fingerprints("| ,");
	assert_null(v[0]);
	strv_free(&v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forms),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_mx_order),
		cmocka_unit_test(test_match_names),
		cmocka_unit_test(test_match_fingerprints),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
