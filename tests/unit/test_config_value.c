/* SPDX-License-Identifier: MIT */
/*
 * test_config_value - config_check_value() and
 * config_check_suffix_value() for every parameter type (time units and
 * default units, ranges at and one past their limits, overflow, sizes,
 * booleans, enums, lookup table lists), and config_split_list().
 */
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "compat.h"
#include "config.h"
#include "config_schema.h"
#include "strv.h"

struct value_case {
	const char *value;
	bool ok;
	long long num;		/* when ok, for int, time and size */
	const char *error;	/* when not ok: part of the error text */
};

/* check_cases - run a table against one parameter definition. */
static void
check_cases(const struct param_def *def, const struct value_case *cases,
    size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct value_case *c = &cases[i];
		long long num = -12345;
		bool b = false;
		char *err = NULL;
		int ret = config_check_value(def, c->value, &num, &b, &err);

		if (c->ok) {
			if (ret != 0)
				fail_msg("%s = \"%s\": unexpected error %s",
				    def->name, c->value, err);
			assert_null(err);
			if (def->type == PT_INT || def->type == PT_TIME ||
			    def->type == PT_SIZE)
				if (num != c->num)
					fail_msg("%s = \"%s\": got %lld, "
					    "expected %lld", def->name,
					    c->value, num, c->num);
		} else {
			if (ret != -1)
				fail_msg("%s = \"%s\" was accepted",
				    def->name, c->value);
			assert_non_null(err);
			if (strstr(err, c->error) == NULL)
				fail_msg("%s = \"%s\": error \"%s\" lacks "
				    "\"%s\"", def->name, c->value, err,
				    c->error);
			free(err);
		}
	}
}

static const struct param_def *
find(const char *name)
{
	const struct param_def *def = config_schema_find(name);

	assert_non_null(def);
	return def;
}

/* ---------------------------------------------------------------- */
/* Time                                                             */

#define TIME_SYNTAX "expected a time: a number with an optional unit"

static const struct value_case time_s_cases[] = {
	{ "0", true, 0, NULL },
	{ "10", true, 10, NULL },
	{ "10s", true, 10, NULL },
	{ "2m", true, 120, NULL },
	{ "3h", true, 3 * 3600, NULL },
	{ "1d", true, 86400, NULL },
	{ "2w", true, 2 * 7 * 86400, NULL },
	{ "007m", true, 7 * 60, NULL },
	{ "4x", false, 0, TIME_SYNTAX },
	{ "", false, 0, TIME_SYNTAX },
	{ "-1", false, 0, TIME_SYNTAX },
	{ "+1", false, 0, TIME_SYNTAX },
	{ "s", false, 0, TIME_SYNTAX },
	{ "1.5h", false, 0, TIME_SYNTAX },
	{ " 1", false, 0, TIME_SYNTAX },
	{ "1 ", false, 0, TIME_SYNTAX },
	{ "1 s", false, 0, TIME_SYNTAX },
	{ "10ss", false, 0, TIME_SYNTAX },
	{ "1h30m", false, 0, TIME_SYNTAX },
	{ "0x10", false, 0, TIME_SYNTAX },
	/* Overflow, before and after the unit is applied. */
	{ "999999999999999999w", false, 0, "time out of range" },
	{ "9223372036854775807", false, 0, "time out of range" },
	{ "99999999999999999999999", false, 0, "time out of range" },
	{ "2147483647", true, 2147483647, NULL },
	{ "2147483648", false, 0, "time out of range: allowed from 0s to "
	    "2147483647s" },
	{ "35791394m", true, 35791394LL * 60, NULL },
	{ "35791395m", false, 0, "time out of range" },
};

static void
test_time(void **state)
{
	const struct param_def def_s = {
		"t_s", PT_TIME, "0", 0, 2147483647, "s", PS_IMPL, "test",
	};

	check_cases(&def_s, time_s_cases, N_ELEMENTS(time_s_cases));
}

/* Without a unit, the parameter's default unit applies. */
static void
test_time_default_unit(void **state)
{
	static const struct {
		const char *unit;
		long long seconds;
	} units[] = {
		{ "s", 1 }, { "m", 60 }, { "h", 3600 }, { "d", 86400 },
		{ "w", 7 * 86400 }, { NULL, 1 }, { "", 1 },
	};

	for (size_t i = 0; i < N_ELEMENTS(units); i++) {
		const struct param_def def = {
			"t", PT_TIME, "0", 0, LLONG_MAX, units[i].unit,
			PS_IMPL, "test",
		};
		const struct value_case cases[] = {
			{ "3", true, 3 * units[i].seconds, NULL },
			{ "3s", true, 3, NULL },
			{ "3w", true, 3 * 7 * 86400, NULL },
			{ "3q", false, 0, "without a unit it counts in" },
		};
		char *err = NULL;
		char want[8];

		check_cases(&def, cases, N_ELEMENTS(cases));
		/* The error names the default unit. */
		assert_int_equal(config_check_value(&def, "x", NULL, NULL,
		    &err), -1);
		want[0] = units[i].unit != NULL && units[i].unit[0] != '\0' ?
		    units[i].unit[0] : 's';
		want[1] = '\0';
		assert_non_null(strstr(err, "without a unit it counts in "));
		assert_string_equal(strstr(err, "counts in ") + 10, want);
		free(err);
	}
	/* From the schema: delay_warning_time counts in hours. */
	{
		const struct value_case cases[] = {
			{ "0h", true, 0, NULL },
			{ "4", true, 4 * 3600, NULL },
			{ "4h", true, 4 * 3600, NULL },
			{ "30m", true, 1800, NULL },
		};

		check_cases(find("delay_warning_time"), cases,
		    N_ELEMENTS(cases));
	}
}

/* Range limits: exactly at min and max is valid, one past is not. */
static void
test_time_range(void **state)
{
	const struct param_def def = {
		"t", PT_TIME, "60", 60, 7200, "m", PS_IMPL, "test",
	};
	static const struct value_case cases[] = {
		{ "60s", true, 60, NULL },
		{ "1", true, 60, NULL },
		{ "1m", true, 60, NULL },
		{ "59s", false, 0, "time out of range: allowed from 1m to 2h" },
		{ "0", false, 0, "allowed from 1m to 2h" },
		{ "7200s", true, 7200, NULL },
		{ "120", true, 7200, NULL },
		{ "2h", true, 7200, NULL },
		{ "7201s", false, 0, "allowed from 1m to 2h" },
		{ "121", false, 0, "allowed from 1m to 2h" },
		{ "1d", false, 0, "allowed from 1m to 2h" },
	};
	static const struct value_case throttle[] = {
		{ "1", true, 1, NULL },
		{ "1s", true, 1, NULL },
		{ "0", false, 0, "time out of range: allowed from 1s to " },
		{ "0s", false, 0, "time out of range" },
		{ "2147483647", true, 2147483647, NULL },
		{ "2147483648", false, 0, "time out of range" },
		{ "60s", true, 60, NULL },
	};
	const struct param_def wk = {
		"t", PT_TIME, "1w", 7 * 86400, 14 * 86400, "d", PS_IMPL, "x",
	};
	char *err = NULL;

	check_cases(&def, cases, N_ELEMENTS(cases));
	check_cases(find("service_throttle_time"), throttle,
	    N_ELEMENTS(throttle));
	/* Bounds are shown in the largest unit that divides them. */
	assert_int_equal(config_check_value(&wk, "6", NULL, NULL, &err), -1);
	assert_string_equal(err, "time out of range: allowed from 1w to 2w");
	free(err);
}

/* ---------------------------------------------------------------- */
/* Integers and sizes                                               */

static void
test_int(void **state)
{
	static const struct value_case limit[] = {
		{ "1", true, 1, NULL },
		{ "100000", true, 100000, NULL },
		{ "50", true, 50, NULL },
		{ "0", false, 0, "expected a whole number from 1 to 100000" },
		{ "100001", false, 0,
		    "expected a whole number from 1 to 100000" },
		{ "-1", false, 0, "expected a whole number from 1 to 100000" },
		{ "", false, 0, "expected a whole number" },
		{ "abc", false, 0, "expected a whole number" },
		{ "1.0", false, 0, "expected a whole number" },
		{ "10k", false, 0, "expected a whole number" },
		{ " 5", false, 0, "expected a whole number" },
		{ "5 ", false, 0, "expected a whole number" },
		{ "99999999999999999999", false, 0, "expected a whole number" },
	};
	static const struct value_case code[] = {
		{ "400", true, 400, NULL },
		{ "499", true, 499, NULL },
		{ "450", true, 450, NULL },
		{ "399", false, 0, "from 400 to 499" },
		{ "500", false, 0, "from 400 to 499" },
	};

	check_cases(find("default_process_limit"), limit, N_ELEMENTS(limit));
	check_cases(find("access_map_defer_code"), code, N_ELEMENTS(code));
}

static void
test_size(void **state)
{
	static const struct value_case msl[] = {
		{ "0", true, 0, NULL },
		{ "15728640", true, 15728640, NULL },
		{ "9223372036854775807", true, LLONG_MAX, NULL },
		{ "9223372036854775808", false, 0, "expected a size in bytes" },
		{ "-1", false, 0, "negative sizes are not allowed" },
		{ "-0", false, 0, "negative sizes are not allowed" },
		{ "10k", false, 0, "expected a size in bytes" },
		{ "", false, 0, "expected a size in bytes" },
	};
	static const struct value_case bsl[] = {
		{ "1", true, 1, NULL },
		{ "2147483647", true, 2147483647, NULL },
		{ "0", false, 0,
		    "expected a size in bytes from 1 to 2147483647" },
		{ "2147483648", false, 0, "from 1 to 2147483647" },
		{ "-5", false, 0, "negative" },
	};

	check_cases(find("message_size_limit"), msl, N_ELEMENTS(msl));
	check_cases(find("bounce_size_limit"), bsl, N_ELEMENTS(bsl));
}

/* ---------------------------------------------------------------- */
/* Booleans and enums                                               */

static void
test_bool(void **state)
{
	static const struct {
		const char *value;
		int result;	/* 1 yes, 0 no, -1 error */
	} cases[] = {
		{ "yes", 1 }, { "no", 0 }, { "YES", 1 }, { "No", 0 },
		{ "yEs", 1 }, { "maybe", -1 }, { "", -1 }, { "1", -1 },
		{ "true", -1 }, { "y", -1 }, { "yes ", -1 }, { " no", -1 },
	};
	const struct param_def *def = find("smtpd_helo_required");

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		bool b = cases[i].result == 0;	/* the opposite */
		char *err = NULL;
		int ret = config_check_value(def, cases[i].value, NULL, &b,
		    &err);

		if (cases[i].result < 0) {
			assert_int_equal(ret, -1);
			assert_string_equal(err, "expected yes or no");
			free(err);
		} else {
			assert_int_equal(ret, 0);
			assert_null(err);
			assert_int_equal(b, cases[i].result == 1);
		}
	}
	/* bool_r may be NULL. */
	assert_int_equal(config_check_value(def, "no", NULL, NULL, NULL), 0);
}

static void
test_enum(void **state)
{
	static const struct value_case level[] = {
		{ "none", true, 0, NULL },
		{ "may", true, 0, NULL },
		{ "encrypt", true, 0, NULL },
		{ "ENCRYPT", true, 0, NULL },
		{ "May", true, 0, NULL },
		{ "strict", false, 0, "expected one of: none, may, encrypt" },
		{ "", false, 0, "expected one of: none, may, encrypt" },
		{ "ma", false, 0, "expected one of" },
		{ "mayx", false, 0, "expected one of" },
		{ "may ", false, 0, "expected one of" },
		{ "none|may", false, 0, "expected one of" },
	};
	static const struct value_case facility[] = {
		{ "mail", true, 0, NULL },
		{ "LOCAL7", true, 0, NULL },
		{ "auth", true, 0, NULL },
		{ "uucp", true, 0, NULL },
		{ "local8", false, 0, "expected one of: auth, authpriv, cron" },
	};
	const struct param_def one = {
		"e", PT_ENUM, "a", 0, 0, "only", PS_IMPL, "test",
	};
	char *err = NULL;

	check_cases(find("smtpd_tls_security_level"), level,
	    N_ELEMENTS(level));
	check_cases(find("syslog_facility"), facility, N_ELEMENTS(facility));
	assert_int_equal(config_check_value(&one, "ONLY", NULL, NULL, &err), 0);
	assert_int_equal(config_check_value(&one, "x", NULL, NULL, &err), -1);
	assert_string_equal(err, "expected one of: only");
	free(err);
}

/* ---------------------------------------------------------------- */
/* Lookup tables, strings, lists                                    */

static void
test_maps(void **state)
{
	static const struct value_case maps[] = {
		{ "", true, 0, NULL },
		{ "hash:/etc/aliases", true, 0, NULL },
		{ "proxy:mysql:/x.cf", true, 0, NULL },
		{ "hash:/a, proxy:mysql:/x.cf  static:2000", true, 0, NULL },
		{ "inline:{ a=b }", true, 0, NULL },
		{ "inline:{ a=1, b=2 }, pcre:/etc/x.pcre", true, 0, NULL },
		{ "smtp-amavis_x:y", true, 0, NULL },
		{ "mysql", false, 0,
		    "\"mysql\" is not a lookup table: expected "
		    "type:name" },
		{ "mysql:", false, 0, "\"mysql:\" is not a lookup table" },
		{ ":name", false, 0, "\":name\" is not a lookup table" },
		{ "hash:/a mysql", false, 0,
		    "\"mysql\" is not a lookup table" },
		{ "hash:/a, /etc/b", false, 0, "\"/etc/b\"" },
		{ "{ a=b }", false, 0, "\"a=b\" is not a lookup table" },
		{ "ha.sh:/x", false, 0, "is not a lookup table" },
	};

	check_cases(find("transport_maps"), maps, N_ELEMENTS(maps));
}

static void
test_list_of_words(void **state)
{
	static const struct value_case classes[] = {
		{ "", true, 0, NULL },
		{ "resource, software", true, 0, NULL },
		{ "bounce 2bounce,delay , POLICY protocol", true, 0, NULL },
		{ "resource, sofware", false, 0, "\"sofware\" is not a valid "
		    "element: expected one of: bounce, 2bounce, data, delay, "
		    "policy, protocol, resource, software" },
		{ "bounce|delay", false, 0, "\"bounce|delay\" is not a valid "
		    "element" },
		{ "policy x", false, 0, "\"x\" is not" },
	};

	check_cases(find("notify_classes"), classes, N_ELEMENTS(classes));
}

static void
test_string_list(void **state)
{
	static const char *const values[] = {
		"", "anything at all", "4x", "-1", "{ unbalanced", "$x",
	};
	static const char *const names[] = {
		"myorigin", "mydestination", "smtpd_banner",
		"smtpd_client_restrictions",
	};

	for (size_t n = 0; n < N_ELEMENTS(names); n++)
		for (size_t i = 0; i < N_ELEMENTS(values); i++) {
			char *err = NULL;

			assert_int_equal(config_check_value(find(names[n]),
			    values[i], NULL, NULL, &err), 0);
			assert_null(err);
		}
}

static void
test_suffix(void **state)
{
	size_t plen = 0;
	const struct param_suffix_def *rl = config_schema_find_suffix(
	    "dovecot_destination_recipient_limit", &plen);
	const struct param_suffix_def *rd = config_schema_find_suffix(
	    "relay_destination_rate_delay", NULL);
	long long num = -1;
	char *err = NULL;

	assert_non_null(rl);
	assert_int_equal(plen, strlen("dovecot"));
	assert_int_equal(config_check_suffix_value(rl, "1", &num, &err), 0);
	assert_int_equal(num, 1);
	assert_int_equal(config_check_suffix_value(rl, "0", &num, &err), 0);
	assert_int_equal(num, 0);
	assert_int_equal(config_check_suffix_value(rl, "2147483647", &num,
	    &err), 0);
	assert_int_equal(config_check_suffix_value(rl, "2147483648", &num,
	    &err), -1);
	assert_string_equal(err, "expected a whole number from 0 to "
	    "2147483647");
	free(err);
	assert_int_equal(config_check_suffix_value(rl, "-1", NULL, &err), -1);
	free(err);
	assert_int_equal(config_check_suffix_value(rl, "one", NULL, &err), -1);
	free(err);

	assert_non_null(rd);
	assert_int_equal(config_check_suffix_value(rd, "2m", &num, &err), 0);
	assert_int_equal(num, 120);
	assert_int_equal(config_check_suffix_value(rd, "5", &num, &err), 0);
	assert_int_equal(num, 5);
	assert_int_equal(config_check_suffix_value(rd, "5y", &num, &err), -1);
	assert_non_null(strstr(err, "expected a time"));
	free(err);
}

/* ---------------------------------------------------------------- */
/* config_split_list                                                */

struct split_case {
	const char *text;
	const char *elems[6];	/* NULL-terminated */
};

static const struct split_case split_cases[] = {
	{ "", { NULL } },
	{ "   ", { NULL } },
	{ " , ,, ", { NULL } },
	{ "a", { "a", NULL } },
	{ "a,b", { "a", "b", NULL } },
	{ "a, b  c\t,d", { "a", "b", "c", "d", NULL } },
	{ " ,a,, ", { "a", NULL } },
	{ "a\nb\r\nc", { "a", "b", "c", NULL } },
	/* A bare group is one element without its braces, trimmed. */
	{ "{ a, b }", { "a, b", NULL } },
	{ "{a}", { "a", NULL } },
	{ "x { a, b } y", { "x", "a, b", "y", NULL } },
	{ "x,{ a b },y", { "x", "a b", "y", NULL } },
	{ "{ {a b} c }", { "{a b} c", NULL } },
	/* A group inside an element keeps its braces. */
	{ "inline:{ a=1, b=2 }", { "inline:{ a=1, b=2 }", NULL } },
	{ "inline:{ a=1, b=2 }, hash:/x", { "inline:{ a=1, b=2 }", "hash:/x",
	    NULL } },
	{ "a{b c}d e", { "a{b c}d", "e", NULL } },
	{ "check_policy_service inet:127.0.0.1:7777, permit",
	    { "check_policy_service", "inet:127.0.0.1:7777", "permit",
	    NULL } },
	/* Unbalanced braces do not lose text. */
	{ "{a b", { "{a b", NULL } },
	{ "a} b", { "a}", "b", NULL } },
};

static void
test_split_list(void **state)
{
	for (size_t i = 0; i < N_ELEMENTS(split_cases); i++) {
		const struct split_case *c = &split_cases[i];
		char **got = config_split_list(c->text);
		size_t n;

		for (n = 0; got[n] != NULL && c->elems[n] != NULL; n++)
			if (strcmp(got[n], c->elems[n]) != 0)
				fail_msg("\"%s\" [%zu]: got \"%s\", expected "
				    "\"%s\"", c->text, n, got[n], c->elems[n]);
		if (got[n] != NULL || c->elems[n] != NULL)
			fail_msg("\"%s\": %s element %zu", c->text,
			    got[n] != NULL ? "extra" : "missing", n);
		strv_free(&got);
		assert_null(got);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_time_default_unit),
		cmocka_unit_test(test_time_range),
		cmocka_unit_test(test_int),
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_bool),
		cmocka_unit_test(test_enum),
		cmocka_unit_test(test_maps),
		cmocka_unit_test(test_list_of_words),
		cmocka_unit_test(test_string_list),
		cmocka_unit_test(test_suffix),
		cmocka_unit_test(test_split_list),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
