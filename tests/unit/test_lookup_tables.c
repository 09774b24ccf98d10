/* SPDX-License-Identifier: MIT */
/*
 * test_lookup_tables - which tables the lookup process serves and how
 * strictly their opening is judged (src/lookup/lookup_tables.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "diag.h"
#include "lookup_tables.h"
#include "test_support.h"

static struct config *
load(const char *main_text, const char *master_text)
{
	struct diag_list dl;
	struct config *cf;

	diag_list_init(&dl);
	cf = config_load_text("/nonexistent-config", main_text,
	    strlen(main_text), master_text, master_text != NULL ?
	    strlen(master_text) : 0, CONFIG_LOAD_QUIET, &dl);
	if (cf == NULL)
		test_print_diags(&dl);
	assert_non_null(cf);
	diag_list_deinit(&dl);
	return cf;
}

static void
test_collect(void **state)
{
	struct config *cf = load(
	    "virtual_alias_maps = texthash:/a, proxy:texthash:/a, static:x\n"
	    "transport_maps = proxy:static:x proxy:inline:{a=b}\n"
	    "tls_server_sni_maps = texthash:/sni\n"
	    "relocated_maps = $virtual_alias_maps\n",
	    "smtp inet n - n - - smtpd\n"
	    "sub inet n - n - - smtpd -o smtpd_sender_login_maps="
	    "proxy:texthash:/login -o virtual_alias_maps=texthash:/a\n");
	struct lookup_tableset ts;

	lookup_tables_collect(cf, &ts);
	/* main.cf's parameters (in the parameter table's order) before the
	 * services', proxy: removed, each once; the defaults (alias_maps =
	 * hash:/etc/aliases...) and the SNI table are not among them. */
	assert_int_equal(ts.n, 4);
	assert_string_equal(ts.items[0].spec, "texthash:/a");
	/* relocated_maps = $virtual_alias_maps comes first in the table. */
	assert_string_equal(ts.items[0].param, "relocated_maps");
	assert_string_equal(ts.items[1].spec, "static:x");
	assert_string_equal(ts.items[2].spec, "inline:{a=b}");
	assert_string_equal(ts.items[2].param, "transport_maps");
	assert_string_equal(ts.items[3].spec, "texthash:/login");
	assert_string_equal(ts.items[3].param, "smtpd_sender_login_maps");
	for (size_t i = 0; i < ts.n; i++) {
		assert_null(ts.items[i].d);
		/* Strict only for parameters Ostia uses (honours). */
		assert_int_equal(ts.items[i].strict, strcmp(ts.items[i].param,
		    "smtpd_sender_login_maps") == 0);
	}
	assert_non_null(lookup_tables_find(&ts, "proxy:texthash:/a"));
	assert_ptr_equal(lookup_tables_find(&ts, "proxy:texthash:/a"),
	    lookup_tables_find(&ts, "texthash:/a"));
	assert_null(lookup_tables_find(&ts, "texthash:/sni"));
	assert_null(lookup_tables_find(&ts, "texthash:/b"));
	assert_true(lookup_tables_param_excluded("tls_server_sni_maps"));
	assert_false(lookup_tables_param_excluded("virtual_alias_maps"));
	assert_string_equal(lookup_tables_unproxy("proxy:mysql:/x.cf"),
	    "mysql:/x.cf");
	assert_string_equal(lookup_tables_unproxy("mysql:/x.cf"),
	    "mysql:/x.cf");
	lookup_tables_deinit(&ts);
	config_free(&cf);
}

static void
test_open_and_strictness(void **state)
{
	struct config *cf = load(
	    "virtual_alias_maps = static:found, texthash:/nonexistent/virtual,"
	    " proxy:proxy:static:x\n", NULL);
	struct lookup_tableset ts;
	struct dict_open_opts opts;
	struct diag_list dl;

	dict_open_opts_init(&opts);
	lookup_tables_collect(cf, &ts);
	assert_int_equal(ts.n, 3);
	diag_list_init(&dl);
	assert_int_equal(lookup_tables_open(&ts, &opts, &dl), 0);
	assert_non_null(ts.items[0].d);
	assert_null(ts.items[1].d);
	assert_non_null(ts.items[1].open_error);
	assert_null(ts.items[2].d);
	/* Parameters not used yet: warnings naming parameter and table. */
	assert_int_equal(dl.errors, 0);
	assert_true(diag_list_contains(&dl, DIAG_WARNING, "virtual_alias_maps:"
	    " table texthash:/nonexistent/virtual: /nonexistent/virtual"));
	assert_true(diag_list_contains(&dl, DIAG_WARNING, "proxy:proxy:"));
	diag_list_deinit(&dl);
	/* A strict table that fails is an error. */
	ts.items[1].strict = true;
	diag_list_init(&dl);
	assert_int_equal(lookup_tables_open(&ts, &opts, &dl), 1);
	assert_int_equal(dl.errors, 1);
	assert_true(diag_list_contains(&dl, DIAG_ERROR, "virtual_alias_maps:"
	    " table texthash:/nonexistent/virtual:"));
	diag_list_deinit(&dl);
	lookup_tables_deinit(&ts);

	/* The master's check: warnings are the lookup process's. */
	diag_list_init(&dl);
	assert_int_equal(lookup_tables_check(cf, &dl), 0);
	assert_int_equal(dl.n, 0);
	diag_list_deinit(&dl);
	config_free(&cf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_collect),
		cmocka_unit_test(test_open_and_strictness),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
