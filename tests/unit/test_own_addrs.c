/* SPDX-License-Identifier: MIT */
/*
 * test_own_addrs - the address forms own_addr_parse takes, and the list
 * inet_interfaces and proxy_interfaces give.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"
#include "diag.h"
#include "own_addrs.h"
#include "test_support.h"

static void
test_parse(void **state)
{
	static const struct {
		const char *s;
		int family;	/* 0: refused */
		const char *canon;
	} cases[] = {
		{ "192.0.2.1", AF_INET, "192.0.2.1" },
		{ "[192.0.2.1]", AF_INET, "192.0.2.1" },
		{ "2001:db8::1", AF_INET6, "2001:db8::1" },
		{ "[IPv6:2001:db8::1]", AF_INET6, "2001:db8::1" },
		{ "ipv6:::1", AF_INET6, "::1" },
		{ "[::ffff:192.0.2.7]", AF_INET, "192.0.2.7" },
		{ "", 0, NULL },
		{ "[]", 0, NULL },
		{ "mx.example.org", 0, NULL },
		{ "192.0.2.1/24", 0, NULL },
		{ "[192.0.2.1", 0, NULL },
		{ "IPv6:", 0, NULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct own_addr a;
		char text[INET6_ADDRSTRLEN];
		int r = own_addr_parse(cases[i].s, &a);

		if (cases[i].family == 0) {
			if (r != -1)
				fail_msg("case %zu (%s) parsed", i, cases[i].s);
			continue;
		}
		if (r != 0 || a.family != cases[i].family)
			fail_msg("case %zu (%s): %d, family %d", i, cases[i].s,
			    r, a.family);
		assert_non_null(inet_ntop(a.family, a.a, text, sizeof(text)));
		assert_string_equal(text, cases[i].canon);
	}
}

static struct config *
load(const char *main_cf)
{
	struct diag_list diags;
	struct config *cf;

	diag_list_init(&diags);
	cf = config_load_text("/nonexistent", main_cf, strlen(main_cf), NULL,
	    0, CONFIG_LOAD_NO_MASTER | CONFIG_LOAD_QUIET, &diags);
	if (cf == NULL)
		test_print_diags(&diags);
	assert_non_null(cf);
	diag_list_deinit(&diags);
	return cf;
}

static void
test_load(void **state)
{
	struct config *cf;
	struct own_addrs oa;
	struct own_addr a;

	(void)state;
	/* Listed addresses, a name (skipped), and the proxy's. */
	cf = load("inet_interfaces = 192.0.2.1, [2001:db8::5], mx.example.org\n"
	    "proxy_interfaces = 198.51.100.9\ninet_protocols = all\n");
	memset(&oa, 0, sizeof(oa));
	own_addrs_load(&oa, config_main(cf), true);
	assert_int_equal(oa.n, 3);
	assert_null(oa.err);
	assert_int_equal(own_addr_parse("192.0.2.1", &a), 0);
	assert_true(own_addrs_has(&oa, &a));
	assert_int_equal(own_addr_parse("[IPv6:2001:db8::5]", &a), 0);
	assert_true(own_addrs_has(&oa, &a));
	assert_int_equal(own_addr_parse("198.51.100.9", &a), 0);
	assert_true(own_addrs_has(&oa, &a));
	assert_int_equal(own_addr_parse("192.0.2.2", &a), 0);
	assert_false(own_addrs_has(&oa, &a));
	own_addrs_free(&oa);
	/* Without the proxy's. */
	own_addrs_load(&oa, config_main(cf), false);
	assert_int_equal(oa.n, 2);
	assert_int_equal(own_addr_parse("198.51.100.9", &a), 0);
	assert_false(own_addrs_has(&oa, &a));
	own_addrs_free(&oa);
	config_free(&cf);
	/* loopback-only; "all" lists at least the loopback address. */
	cf = load("inet_interfaces = loopback-only\n");
	own_addrs_load(&oa, config_main(cf), true);
	assert_int_equal(oa.n, 2);
	assert_int_equal(own_addr_parse("::1", &a), 0);
	assert_true(own_addrs_has(&oa, &a));
	own_addrs_free(&oa);
	config_free(&cf);
	cf = load("inet_interfaces = all\n");
	own_addrs_load(&oa, config_main(cf), true);
	assert_int_equal(own_addr_parse("127.0.0.1", &a), 0);
	assert_true(own_addrs_has(&oa, &a));
	own_addrs_free(&oa);
	config_free(&cf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
