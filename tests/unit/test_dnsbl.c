/* SPDX-License-Identifier: MIT */
/*
 * test_dnsbl - DNSBL reply filters (reject_rbl_client ZONE=FILTER,
 * postscreen_dnsbl_sites) and the postscreen_dnsbl_sites entries
 * "ZONE[=FILTER][*WEIGHT]": what parses, what each part means, and the
 * words of each refusal.
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
#include "dnsbl.h"

#define IP(a, b, c, d) \
	(((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | \
	((uint32_t)(c) << 8) | (uint32_t)(d))

static const struct {
	const char *filter;
	uint32_t addr;
	int want;
} filters[] = {
	{ "127.0.0.2", IP(127, 0, 0, 2), 1 },
	{ "127.0.0.2", IP(127, 0, 0, 3), 0 },
	{ "127.0.0.[2..11]", IP(127, 0, 0, 2), 1 },
	{ "127.0.0.[2..11]", IP(127, 0, 0, 11), 1 },
	{ "127.0.0.[2..11]", IP(127, 0, 0, 12), 0 },
	{ "127.0.0.[2..11]", IP(127, 0, 0, 1), 0 },
	{ "127.0.0.[2;3;6..7;10]", IP(127, 0, 0, 6), 1 },
	{ "127.0.0.[2;3;6..7;10]", IP(127, 0, 0, 10), 1 },
	{ "127.0.0.[2;3;6..7;10]", IP(127, 0, 0, 8), 0 },
	{ "127.[0..255].[0..255].0", IP(127, 9, 200, 0), 1 },
	{ "127.[0..255].[0..255].0", IP(127, 9, 200, 1), 0 },
	{ "[0..255].[0..255].[0..255].[0..255]", IP(1, 2, 3, 4), 1 },
	{ "0.0.0.0", 0, 1 },
	{ "255.255.255.255", IP(255, 255, 255, 255), 1 },
	{ "[5]", 0, -1 },
	/* Malformed. */
	{ "", 0, -1 },
	{ "127.0.0", 0, -1 },
	{ "127.0.0.2.", 0, -1 },
	{ "127.0.0.2.1", 0, -1 },
	{ "127.0.0.256", 0, -1 },
	{ "127.0.0.2555555555555555555555", 0, -1 },
	{ "127.0.0.-1", 0, -1 },
	{ "127.0.0.[11..2]", 0, -1 },
	{ "127.0.0.[2..]", 0, -1 },
	{ "127.0.0.[..2]", 0, -1 },
	{ "127.0.0.[2", 0, -1 },
	{ "127.0.0.[2;]", 0, -1 },
	{ "127.0.0.[]", 0, -1 },
	{ "127.0.0.2 ", 0, -1 },
	{ "127..0.2", 0, -1 },
	{ "a.b.c.d", 0, -1 },
	{ "127.0.0.[2..3..4]", 0, -1 },
};

static void
test_filters(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(filters); i++) {
		int got = dnsbl_filter_match(filters[i].filter,
		    filters[i].addr);

		if (got != filters[i].want)
			print_message("%s: got %d, want %d\n",
			    filters[i].filter, got, filters[i].want);
		assert_int_equal(got, filters[i].want);
	}
}

static void
test_site_parse(void **state)
{
	static const struct {
		const char *text;
		const char *zone, *filter;
		int weight;
	} ok[] = {
		{ "zen.spamhaus.org", "zen.spamhaus.org", NULL, 1 },
		{ "zen.spamhaus.org*3", "zen.spamhaus.org", NULL, 3 },
		{ "zen.spamhaus.org=127.0.0.[2..11]*3", "zen.spamhaus.org",
		    "127.0.0.[2..11]", 3 },
		{ "b.barracudacentral.org=127.0.0.2*2",
		    "b.barracudacentral.org", "127.0.0.2", 2 },
		{ "list.dnswl.org=127.0.[0..255].[0..3]*-2", "list.dnswl.org",
		    "127.0.[0..255].[0..3]", -2 },
		{ "swl.spamhaus.org*-4", "swl.spamhaus.org", NULL, -4 },
		{ "bl.spamcop.net=127.0.0.2", "bl.spamcop.net", "127.0.0.2",
		    1 },
		{ "x.test*+5", "x.test", NULL, 5 },
		{ "x.test*100000", "x.test", NULL, 100000 },
	};
	static const struct {
		const char *text;
		const char *words;
	} bad[] = {
		{ "", "no DNS zone" },
		{ "=127.0.0.2", "no DNS zone before '='" },
		{ "*3", "no DNS zone before '*'" },
		{ "localhost", "not a DNS zone name" },
		{ "bad_zone!.org", "not a DNS zone name" },
		{ "zen.spamhaus.org=", "an empty reply filter" },
		{ "zen.spamhaus.org=*3", "an empty reply filter" },
		{ "zen.spamhaus.org=127.0.0", "is not d.d.d.d" },
		{ "zen.spamhaus.org=127.0.0.[2..11*3", "is not d.d.d.d" },
		{ "zen.spamhaus.org*", "must be a whole number" },
		{ "zen.spamhaus.org*x", "must be a whole number" },
		{ "zen.spamhaus.org*3x", "must be a whole number" },
		{ "zen.spamhaus.org* 3", "must be a whole number" },
		{ "zen.spamhaus.org*0", "not 0" },
		{ "zen.spamhaus.org*100001", "between -100000 and 100000" },
		{ "zen.spamhaus.org*-100001", "between" },
		{ "zen.spamhaus.org*99999999999999999999", "whole number" },
	};
	struct dnsbl_site site;
	char err[512];

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(ok); i++) {
		err[0] = '\0';
		if (dnsbl_site_parse(ok[i].text, &site, err, sizeof(err)) < 0)
			print_message("%s: %s\n", ok[i].text, err);
		assert_string_equal(site.zone, ok[i].zone);
		if (ok[i].filter == NULL)
			assert_null(site.filter);
		else
			assert_string_equal(site.filter, ok[i].filter);
		assert_int_equal(site.weight, ok[i].weight);
		dnsbl_site_deinit(&site);
		assert_null(site.zone);
	}
	for (size_t i = 0; i < N_ELEMENTS(bad); i++) {
		err[0] = '\0';
		assert_int_equal(dnsbl_site_parse(bad[i].text, &site, err,
		    sizeof(err)), -1);
		assert_null(site.zone);
		assert_null(site.filter);
		if (strstr(err, bad[i].words) == NULL)
			print_message("\"%s\": %s\n", bad[i].text, err);
		assert_non_null(strstr(err, bad[i].words));
		/* The entry is named, so the admin finds it. */
		assert_non_null(strstr(err, bad[i].text[0] != '\0' ?
		    bad[i].text : "\"\""));
	}
	/* A name as long as DNS allows, and longer. */
	{
		char zone[300];

		memset(zone, 'a', sizeof(zone));
		zone[sizeof(zone) - 1] = '\0';
		zone[10] = '.';
		assert_int_equal(dnsbl_site_parse(zone, &site, err,
		    sizeof(err)), -1);
		assert_non_null(strstr(err, "longer than a DNS name"));
	}
}

static void
test_site_lists(void **state)
{
	struct dnsbl_site any, some;
	uint32_t a[] = { IP(127, 0, 0, 9), IP(127, 0, 0, 4) };
	char err[256];

	(void)state;
	assert_int_equal(dnsbl_site_parse("x.test", &any, err, sizeof(err)),
	    0);
	assert_int_equal(dnsbl_site_parse("x.test=127.0.0.[2..4]*-3", &some,
	    err, sizeof(err)), 0);
	/* No record: never listed. */
	assert_false(dnsbl_site_lists(&any, a, 0));
	assert_true(dnsbl_site_lists(&any, a, 1));
	/* The filter: any of the answer's addresses may match. */
	assert_false(dnsbl_site_lists(&some, a, 1));
	assert_true(dnsbl_site_lists(&some, a, 2));
	assert_true(dnsbl_site_lists(&some, a + 1, 1));
	dnsbl_site_deinit(&any);
	dnsbl_site_deinit(&some);
}

static void
test_answer_error(void **state)
{
	static const struct {
		uint32_t a;
		const char *words;	/* NULL: a listing */
	} cases[] = {
		{ IP(127, 0, 0, 2), NULL },
		{ IP(127, 0, 0, 11), NULL },
		{ IP(127, 0, 10, 1), NULL },
		{ IP(127, 255, 254, 1), NULL },
		{ IP(127, 255, 255, 254), "zen.test answered 127.255.255.254: "
		    "it refuses queries that come through a public or shared "
		    "DNS resolver (such as 8.8.8.8 or 1.1.1.1); use a resolver "
		    "of your own (dns_resolvers)" },
		{ IP(127, 255, 255, 255), "zen.test answered 127.255.255.255: "
		    "this DNS resolver sent it too many queries" },
		{ IP(127, 255, 255, 252), "the list says its name is "
		    "misspelled" },
		{ IP(127, 255, 255, 1), "an error code of the list "
		    "(127.255.255.x), not a listing" },
		{ IP(192, 0, 2, 80), "zen.test answered 192.0.2.80, which is "
		    "no DNSBL answer (those are 127.x.x.x): the DNS resolver "
		    "may rewrite \"no such name\" answers" },
		{ IP(128, 0, 0, 2), "no DNSBL answer" },
	};
	char out[512];

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		bool err;

		out[0] = '\0';
		err = dnsbl_answer_error("zen.test", &cases[i].a, 1, out,
		    sizeof(out));
		assert_int_equal(err, cases[i].words != NULL);
		if (cases[i].words != NULL &&
		    strstr(out, cases[i].words) == NULL)
			print_message("%s\n", out);
		if (cases[i].words != NULL)
			assert_non_null(strstr(out, cases[i].words));
	}
	/* One error among listings spoils the answer; none: fine. */
	{
		uint32_t two[] = { IP(127, 0, 0, 2), IP(127, 255, 255, 254) };

		assert_true(dnsbl_answer_error("z.test", two, 2, out,
		    sizeof(out)));
		assert_false(dnsbl_answer_error("z.test", two, 1, out,
		    sizeof(out)));
		assert_false(dnsbl_answer_error("z.test", two, 0, out,
		    sizeof(out)));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filters),
		cmocka_unit_test(test_site_parse),
		cmocka_unit_test(test_site_lists),
		cmocka_unit_test(test_answer_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
