/* SPDX-License-Identifier: MIT */
/*
 * test_master_cf - master.cf parsing: fields, -o forms, { } grouping,
 * inet addresses, every diagnostic, the seed configuration (as restored
 * and as posted), format round trips, and file loading.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "cf_lines.h"
#include "diag.h"
#include "master_cf.h"
#include "xalloc.h"
#include "test_support.h"

static struct master_cf *
parse_ok(const char *text, size_t len)
{
	struct diag_list dl;
	struct master_cf *cf = NULL;
	int ret;

	diag_list_init(&dl);
	ret = master_cf_parse(text, len, "master.cf", &cf, &dl);
	if (ret != 0 || dl.errors != 0)
		test_print_diags(&dl);
	assert_int_equal(ret, 0);
	assert_int_equal(dl.errors, 0);
	assert_non_null(cf);
	diag_list_deinit(&dl);
	return cf;
}

/* check_round_trip - format every service, parse that, compare. */
static void
check_round_trip(const struct master_cf *cf)
{
	struct buf text;
	struct master_cf *again;

	buf_init(&text, 16 * 1024 * 1024);
	for (size_t i = 0; i < cf->nservices; i++) {
		char *line = master_service_format(&cf->services[i]);

		assert_int_equal(buf_appendf(&text, "%s\n", line), 0);
		free(line);
	}
	again = parse_ok(buf_cstr(&text), text.len);
	assert_int_equal(again->nservices, cf->nservices);
	for (size_t i = 0; i < cf->nservices; i++) {
		if (!master_service_equal(&cf->services[i], &again->services[i]))
			fail_msg("round trip changed service %zu: %s", i,
			    buf_cstr(&text));
		assert_int_equal(again->services[i].line, i + 1);
	}
	master_cf_free(&again);
	buf_deinit(&text);
}

struct valid_case {
	const char *text;
	const char *format;	/* master_service_format of the service */
};

static const struct valid_case valid_cases[] = {
	{ "smtp      inet  n       -       n       -       -       smtpd",
	    "smtp inet n - n - - smtpd" },
	{ "smtps inet n - n - - smtpd\n  -o smtpd_tls_wrappermode=yes\n"
	    "\t-o content_filter=\n#  -o commented=out\n\n  -o a=b\n",
	    "smtps inet n - n - - smtpd -o smtpd_tls_wrappermode=yes "
	    "-o content_filter= -o a=b" },
	/* -o forms: three words, long form, glued, '=' in the value. */
	{ "x unix - - - - - cmd -o a = b -o c=d=e",
	    "x unix - - - - - cmd -o a=b -o c=d=e" },
	{ "x unix - - - - - cmd -o {  a =  hello  world  } -o { b = c }",
	    "x unix - - - - - cmd -o { a = hello  world } -o b=c" },
	{ "x unix - - - - - cmd -oa=b", "x unix - - - - - cmd -o a=b" },
	{ "x unix - - - - - cmd -o smtp-amavis_x_y=1",
	    "x unix - - - - - cmd -o smtp-amavis_x_y=1" },
	{ "x unix - - - - - cmd -o a={x}", "x unix - - - - - cmd -o a={x}" },
	/* Options come first; other options stay arguments. */
	{ "x unix - - - - - smtpd -v -o a=b -D",
	    "x unix - - - - - smtpd -o a=b -v -D" },
	/* { } grouping of arguments. */
	{ "x unix - n n - - pipe flags=R { user = x y } argv=/bin/x ${user}",
	    "x unix - n n - - pipe flags=R { user = x y } "
	    "argv=/bin/x ${user}" },
	{ "x unix - - - - - cmd {} { {nested} x } a}b",
	    "x unix - - - - - cmd {  } { {nested} x } a}b" },
	/* After the first other argument, -o is an argument (pipe argv). */
	{ "x unix - n n - - pipe user=u argv=/bin/foo -o bar ${user}",
	    "x unix - n n - - pipe user=u argv=/bin/foo -o bar ${user}" },
	{ "x unix - - - - - c -v {-v} {-o a=b} x -o} -o",
	    "x unix - - - - - c -o a=b -v -v x -o} -o" },
	/* Fields: wakeup, maxproc 0 (no limit), every type. */
	{ "tlsmgr unix - - n 1000? 1 tlsmgr",
	    "tlsmgr unix - - n 1000? 1 tlsmgr" },
	{ "pickup unix n - n 60 1 pickup", "pickup unix n - n 60 1 pickup" },
	{ "cleanup unix n - n 0 0 cleanup", "cleanup unix n - n - 0 cleanup" },
	{ "p unix-dgram y y y 0? 7 c", "p unix-dgram y y y 0? 7 c" },
	{ "p fifo - - - - - c", "p fifo - - - - - c" },
	{ "smtpd pass - - n - - smtpd", "smtpd pass - - n - - smtpd" },
	/* inet names. */
	{ "127.0.0.1:10025 inet n - - - - smtpd",
	    "127.0.0.1:10025 inet n - - - - smtpd" },
	{ "[::1]:25 inet n - - - - smtpd", "[::1]:25 inet n - - - - smtpd" },
	/* CRLF and trailing blanks. */
	{ "a unix - - - - - c\r\n  -o x=y \r\n", "a unix - - - - - c -o x=y" },
};

static void
test_valid(void **state)
{
	for (size_t i = 0; i < N_ELEMENTS(valid_cases); i++) {
		const struct valid_case *c = &valid_cases[i];
		struct master_cf *cf = parse_ok(c->text, strlen(c->text));
		char *got;

		assert_int_equal(cf->nservices, 1);
		assert_int_equal(cf->services[0].line, 1);
		assert_string_equal(cf->services[0].file, "master.cf");
		got = master_service_format(&cf->services[0]);
		assert_string_equal(got, c->format);
		free(got);
		check_round_trip(cf);
		master_cf_free(&cf);
		assert_null(cf);
	}
}

static void
test_fields(void **state)
{
	const char *text =
	    "tlsmgr unix - y n 1000? 1 tlsmgr\n"
	    "dovecot unix    -       n       n       -       -      pipe\n"
	    "    flags=DRhu user=vmail:vmail argv=/usr/libexec/dovecot/deliver"
	    " -f ${sender} -d ${user}@${domain} -m ${extension}\n";
	static const char *const pipe_args[] = {
		"flags=DRhu", "user=vmail:vmail",
		"argv=/usr/libexec/dovecot/deliver", "-f", "${sender}", "-d",
		"${user}@${domain}", "-m", "${extension}", NULL
	};
	struct master_cf *cf = parse_ok(text, strlen(text));
	const struct master_service *s;

	assert_int_equal(cf->nservices, 2);
	s = master_cf_find(cf, "tlsmgr", MASTER_TYPE_UNIX);
	assert_non_null(s);
	assert_int_equal(s->private_flag, -1);
	assert_int_equal(s->unpriv_flag, 1);
	assert_int_equal(s->chroot_flag, 0);
	assert_int_equal(s->wakeup, 1000);
	assert_true(s->wakeup_if_used);
	assert_int_equal(s->maxproc, 1);
	assert_string_equal(s->command, "tlsmgr");
	assert_null(s->args[0]);
	assert_int_equal(s->nopts, 0);
	assert_null(s->inet_host);
	assert_null(s->inet_port);
	assert_null(master_cf_find(cf, "tlsmgr", MASTER_TYPE_INET));
	assert_null(master_cf_find(cf, "nosuch", MASTER_TYPE_UNIX));
	/* By program: the command's base name ("dovecot" runs pipe). */
	assert_int_equal(master_cf_find_program(cf, "tlsmgr",
	    MASTER_TYPE_UNIX), 0);
	assert_int_equal(master_cf_find_program(cf, "pipe", MASTER_TYPE_UNIX),
	    1);
	assert_int_equal(master_cf_find_program(cf, "dovecot",
	    MASTER_TYPE_UNIX), -1);
	assert_int_equal(master_cf_find_program(cf, "tlsmgr",
	    MASTER_TYPE_FIFO), -1);
	assert_int_equal(master_cf_find_program(NULL, "tlsmgr",
	    MASTER_TYPE_UNIX), -1);

	s = master_cf_find(cf, "dovecot", MASTER_TYPE_UNIX);
	assert_non_null(s);
	assert_int_equal(s->line, 2);
	assert_int_equal(s->maxproc, -1);
	assert_int_equal(s->wakeup, 0);
	assert_false(s->wakeup_if_used);
	for (size_t i = 0; i < N_ELEMENTS(pipe_args); i++) {
		if (pipe_args[i] == NULL)
			assert_null(s->args[i]);
		else
			assert_string_equal(s->args[i], pipe_args[i]);
	}
	assert_int_equal(s->nopts, 0);
	master_cf_free(&cf);
}

static void
test_long_form_and_empty_values(void **state)
{
	const char *text = "x unix - - - - - cmd -o { a = b c } -o e=\n"
	    "  -o f = g\n";
	struct master_cf *cf = parse_ok(text, strlen(text));
	const struct master_service *s = &cf->services[0];

	assert_int_equal(s->nopts, 3);
	assert_string_equal(s->opts[0].name, "a");
	assert_string_equal(s->opts[0].value, "b c");
	assert_string_equal(s->opts[1].name, "e");
	assert_string_equal(s->opts[1].value, "");
	assert_string_equal(s->opts[2].name, "f");
	assert_string_equal(s->opts[2].value, "g");
	assert_null(s->args[0]);
	master_cf_free(&cf);
}

struct inet_case {
	const char *name;
	const char *host;	/* NULL: all addresses */
	const char *port;
};

static const struct inet_case inet_cases[] = {
	{ "smtp", NULL, "smtp" },
	{ "10025", NULL, "10025" },
	{ "127.0.0.1:10025", "127.0.0.1", "10025" },
	{ "*:submission", NULL, "submission" },
	{ "[::1]:25", "::1", "25" },
	{ "[127.0.0.1]:smtp", "127.0.0.1", "smtp" },
	{ "::1:smtp", "::1", "smtp" },
	{ "mail.example.org:465", "mail.example.org", "465" },
	{ "[fe80::1%eth0]:25", "fe80::1%eth0", "25" },
};

static void
test_inet_names(void **state)
{
	for (size_t i = 0; i < N_ELEMENTS(inet_cases); i++) {
		const struct inet_case *c = &inet_cases[i];
		char *text = xasprintf("%s inet n - n - - smtpd\n", c->name);
		struct master_cf *cf = parse_ok(text, strlen(text));
		const struct master_service *s = &cf->services[0];

		assert_string_equal(s->name, c->name);
		if (c->host == NULL)
			assert_null(s->inet_host);
		else
			assert_string_equal(s->inet_host, c->host);
		assert_string_equal(s->inet_port, c->port);
		check_round_trip(cf);
		master_cf_free(&cf);
		free(text);
	}
}

struct invalid_case {
	const char *text;
	size_t len;		/* 0: strlen */
	unsigned line;		/* where the (first) error is reported */
	const char *needle1;
	const char *needle2;	/* may be NULL */
};

static const struct invalid_case invalid_cases[] = {
	{ "smtp inet n - - -\n", 0, 1, "has 6 fields, expected at least 8",
	    "service type private unpriv chroot wakeup maxproc command" },
	{ "a unix - - - - - c\nsmtp\n", 0, 2, "has 1 field,", NULL },
	{ "x tcp n - - - - smtpd", 0, 1, "unknown type 'tcp'",
	    "expected inet, unix, unix-dgram, fifo or pass" },
	{ "x unix yes - - - - c", 0, 1, "bad private field 'yes'",
	    "expected y, n or -" },
	{ "x unix - maybe - - - c", 0, 1, "bad unpriv field 'maybe'",
	    "expected y, n or -" },
	{ "x unix - - 1 - - c", 0, 1, "bad chroot field '1'",
	    "expected y, n or -" },
	{ "x unix - - - abc - c", 0, 1, "bad wakeup field 'abc'",
	    "a number followed by '?'" },
	{ "x unix - - - -1 - c", 0, 1, "bad wakeup field '-1'", NULL },
	{ "x unix - - - 10?x - c", 0, 1, "bad wakeup field '10?x'", NULL },
	{ "x unix - - - 10?? - c", 0, 1, "bad wakeup field '10?\?'", NULL },
	{ "x unix - - - ? - c", 0, 1, "bad wakeup field '?'", NULL },
	{ "x unix - - - 99999999999 - c", 0, 1, "bad wakeup field",
	    "number too large" },
	{ "x unix - - - - many c", 0, 1, "bad maxproc field 'many'",
	    "expected - or a process limit from 0 (no limit)" },
	{ "x unix - - - - -1 c", 0, 1, "bad maxproc field '-1'", NULL },
	{ "x unix - - - - 5? c", 0, 1, "bad maxproc field '5?'", NULL },
	/* -o problems. */
	{ "x unix - - - - - c\n  -o foo\n", 0, 2, "'-o foo' in service 'x' "
	    "is not name=value", "write '-o foo='" },
	/* The line is the one with the -o, not a comment that looks alike. */
	{ "x unix - - - - - c\r\n  -o a=b\r\n\r\n#  -o foo\n  -o y=z\n"
	    "  -o foo -o z=y\ny unix - - - - - c -o foo=\n", 0, 6,
	    "'-o foo' in service 'x' is not name=value", NULL },
	{ "x unix - - - - - c\n  -o a=b\n  -o a-b.c=d\n", 0, 3,
	    "'a-b.c' is not a parameter name", NULL },
	{ "x unix - - - - - c -o a.b = c", 0, 1,
	    "'a.b' is not a parameter name", NULL },
	{ "x unix - - - - - c -o", 0, 1, "'-o' at the end of service 'x'",
	    "expected -o name=value" },
	{ "x unix - - - - - c -o =v", 0, 1, "'' is not a parameter name",
	    NULL },
	{ "x unix - - - - - c -o a.b=c", 0, 1, "'a.b' is not a parameter name",
	    "letters, digits, '_' and '-'" },
	{ "x unix - - - - - c -o { novalue }", 0, 1, "has no '='",
	    "expected -o { name = value }" },
	{ "x unix - - - - - c -o a =", 0, 1, "'-o a' in service 'x' is not "
	    "name=value", NULL },
	{ "x unix - - - - - c -o a = -o b=c", 0, 1, "'-o a' in service 'x' "
	    "is not name=value", NULL },
	{ "x unix - - - - - c\n-o a=b\n", 0, 2, "'-o' at the start of a line",
	    "must start with white space" },
	/* Braces. */
	{ "x unix - - - - - c { a", 0, 1, "a '{' has no matching '}'", NULL },
	{ "x unix - - - - - c {a}b", 0, 1, "text right after a closing '}'",
	    NULL },
	{ "{x} unix - - - - - c", 0, 1, "field 1 ('{x}') cannot use '{ }'",
	    NULL },
	/* inet addresses. */
	{ "host: inet n - - - - smtpd", 0, 1, "bad inet listen address "
	    "'host:': the port is missing", "expected port, host:port, "
	    "[host]:port or *:port" },
	{ ":25 inet n - - - - smtpd", 0, 1, "the host before ':' is empty",
	    NULL },
	{ "[::1 inet n - - - - smtpd", 0, 1, "'[' without ']'", NULL },
	{ "[::1]25 inet n - - - - smtpd", 0, 1, "must be followed by ':port'",
	    NULL },
	{ "[]:25 inet n - - - - smtpd", 0, 1, "bad host address inside [ ]",
	    NULL },
	{ "127.0.0.1:99999 inet n - - - - smtpd", 0, 1,
	    "not a number from 1 to 65535", NULL },
	{ "0 inet n - - - - smtpd", 0, 1, "not a number from 1 to 65535",
	    NULL },
	{ "a/b:25 inet n - - - - smtpd", 0, 1, "bad host name or address",
	    NULL },
	{ "1.2.3.4:sm/tp inet n - - - - smtpd", 0, 1,
	    "neither a number nor a service name", NULL },
	/* Duplicates: the later line, naming the first. */
	{ "a unix - - - - - c\nb unix - - - - - c\n\na unix - - - - - d\n",
	    0, 4, "duplicate service 'a' (unix)",
	    "also defined at master.cf:1" },
	/* A service definition swallowed by the service above. */
	{ "a unix - - - - 4 smtp\n    -o max_use=20 inet n  -   -   -   -  "
	    "smtpd\n    -o content_filter=\n", 0, 2,
	    "continues the previous service 'a'", "its first field (the "
	    "service name or listen address, such as 127.0.0.1:10025) is "
	    "missing" },
	{ "a unix - - - - 4 smtp\n  -o x=y\n# c\n  127.0.0.1:10025 inet n - "
	    "- - - smtpd\n", 0, 4, "line starts with white space",
	    "remove the white space before '127.0.0.1:10025'" },
	{ "a unix - - - - - smtp b unix - - - - - smtpd", 0, 1,
	    "second service definition on the same line", NULL },
	/* Reader errors. */
	{ "a unix - - - - - c\nb\0", 21, 2, "NUL byte in configuration text",
	    NULL },
	{ "  -o a=b\n", 0, 1, "line starts with white space but there is "
	    "nothing before it to continue", NULL },
	{ "a unix - - - - - c\n\r#y unix - - - - - c", 0, 2,
	    "service name '#y' starts with '#'", NULL },
};

static void
test_invalid(void **state)
{
	for (size_t i = 0; i < N_ELEMENTS(invalid_cases); i++) {
		const struct invalid_case *c = &invalid_cases[i];
		size_t len = c->len != 0 ? c->len : strlen(c->text);
		struct diag_list dl;
		/* Poisoned: the parser must set it to NULL. */
		struct master_cf *cf = (struct master_cf *)&dl;
		bool found = false;

		diag_list_init(&dl);
		assert_int_equal(master_cf_parse(c->text, len, "master.cf",
		    &cf, &dl), -1);
		assert_null(cf);
		assert_true(dl.errors > 0);
		for (size_t k = 0; k < dl.n; k++) {
			const struct diag *d = &dl.items[k];

			if (d->level != DIAG_ERROR ||
			    strstr(d->text, c->needle1) == NULL)
				continue;
			if (c->needle2 != NULL &&
			    strstr(d->text, c->needle2) == NULL)
				continue;
			assert_string_equal(d->file, "master.cf");
			if (d->line != c->line)
				fail_msg("case %zu: line %u, expected %u", i,
				    d->line, c->line);
			found = true;
		}
		if (!found) {
			test_print_diags(&dl);
			fail_msg("case %zu (%s): no error with '%s'", i,
			    c->text, c->needle1);
		}
		diag_list_deinit(&dl);
	}
}

/* Other entries still get checked after a bad one. */
static void
test_all_errors_reported(void **state)
{
	const char *text = "a tcp - - - - - c\nb unix - - - - x c\n"
	    "ok unix - - - - - c\n";
	struct diag_list dl;
	struct master_cf *cf = NULL;

	diag_list_init(&dl);
	assert_int_equal(master_cf_parse(text, strlen(text), "m.cf", &cf,
	    &dl), -1);
	assert_int_equal(dl.errors, 2);
	assert_int_equal(dl.items[0].line, 1);
	assert_int_equal(dl.items[1].line, 2);
	diag_list_deinit(&dl);
}

static void
test_same_name_other_type(void **state)
{
	const char *text = "smtp inet n - n - - smtpd\n"
	    "smtp unix - - n - - smtp\n";
	struct master_cf *cf = parse_ok(text, strlen(text));

	assert_int_equal(cf->nservices, 2);
	assert_string_equal(
	    master_cf_find(cf, "smtp", MASTER_TYPE_INET)->command, "smtpd");
	assert_string_equal(
	    master_cf_find(cf, "smtp", MASTER_TYPE_UNIX)->command, "smtp");
	master_cf_free(&cf);
}

static void
test_late_option_warning(void **state)
{
	const char *text = "x unix - - - - - smtpd foo -o a=b\n"
	    "p unix - n n - - pipe argv=/bin/x -o y=z\n";
	struct diag_list dl;
	struct master_cf *cf = NULL;

	diag_list_init(&dl);
	assert_int_equal(master_cf_parse(text, strlen(text), "master.cf", &cf,
	    &dl), 0);
	assert_int_equal(dl.n, 1);
	assert_int_equal(dl.items[0].level, DIAG_WARNING);
	assert_int_equal(dl.items[0].line, 1);
	assert_true(diag_list_contains(&dl, DIAG_WARNING,
	    "'-o' after the argument 'foo' is passed to the command 'smtpd' "
	    "as an argument"));
	assert_int_equal(cf->services[0].nopts, 0);
	assert_string_equal(cf->services[0].args[1], "-o");
	assert_int_equal(cf->services[1].nopts, 0);
	master_cf_free(&cf);
	diag_list_deinit(&dl);
}

static void
test_type_names(void **state)
{
	assert_string_equal(master_type_name(MASTER_TYPE_INET), "inet");
	assert_string_equal(master_type_name(MASTER_TYPE_UNIX), "unix");
	assert_string_equal(master_type_name(MASTER_TYPE_UNIX_DGRAM),
	    "unix-dgram");
	assert_string_equal(master_type_name(MASTER_TYPE_FIFO), "fifo");
	assert_string_equal(master_type_name(MASTER_TYPE_PASS), "pass");
}

/* The seed master.cf with the lost listen address put back, in order. */
static const char *const seed_services[] = {
	"smtp inet n - - - - smtpd",
	"smtps inet n - n - - smtpd -o smtpd_tls_wrappermode=yes "
	    "-o smtpd_sasl_auth_enable=yes "
	    "-o smtpd_client_restrictions=permit_sasl_authenticated,reject",
	"pickup unix n - n 60 1 pickup",
	"cleanup unix n - n - 0 cleanup",
	"qmgr unix n - n 300 1 qmgr",
	"tlsmgr unix - - n 1000? 1 tlsmgr",
	"rewrite unix - - n - - trivial-rewrite",
	"bounce unix - - n - 0 bounce",
	"defer unix - - n - 0 bounce",
	"trace unix - - n - 0 bounce",
	"verify unix - - n - 1 verify",
	"flush unix n - n 1000? 0 flush",
	"proxymap unix - - n - - proxymap",
	"proxywrite unix - - n - 1 proxymap",
	"smtp unix - - n - - smtp",
	"relay unix - - n - - smtp",
	"showq unix n - n - - showq",
	"error unix - - n - - error",
	"retry unix - - n - - error",
	"discard unix - - n - - discard",
	"local unix - n n - - local",
	"virtual unix - n n - - virtual",
	"lmtp unix - - n - - lmtp",
	"anvil unix - - n - 1 anvil",
	"scache unix - - n - 1 scache",
	"submission inet n - n - - smtpd "
	    "-o smtpd_tls_security_level=encrypt "
	    "-o smtpd_sasl_auth_enable=yes "
	    "-o smtpd_client_restrictions=permit_mynetworks,"
	    "permit_sasl_authenticated,reject",
	"dovecot unix - n n - - pipe flags=DRhu user=vmail:vmail "
	    "argv=/usr/libexec/dovecot/deliver -f ${sender} "
	    "-d ${user}@${domain} -m ${extension}",
	"smtp-amavis unix - - - - 4 smtp -o smtp_data_done_timeout=1200 "
	    "-o smtp_send_xforward_command=yes -o disable_dns_lookups=yes "
	    "-o max_use=20",
	"127.0.0.1:10025 inet n - - - - smtpd -o content_filter= "
	    "-o mynetworks_style=host -o mynetworks= "
	    "-o local_recipient_maps= -o relay_recipient_maps= "
	    "-o strict_rfc821_envelopes=yes -o smtp_tls_security_level=none "
	    "-o smtpd_tls_security_level=none -o smtpd_restriction_classes= "
	    "-o smtpd_delay_reject=no "
	    "-o smtpd_client_restrictions=permit_mynetworks,reject "
	    "-o smtpd_helo_restrictions= -o smtpd_sender_restrictions= "
	    "-o smtpd_recipient_restrictions=permit_mynetworks,reject "
	    "-o smtpd_end_of_data_restrictions= -o smtpd_error_sleep_time=0 "
	    "-o smtpd_soft_error_limit=1001 -o smtpd_hard_error_limit=1000 "
	    "-o smtpd_client_connection_count_limit=0 "
	    "-o smtpd_client_connection_rate_limit=0 "
	    "-o receive_override_options=no_header_body_checks,"
	    "no_unknown_recipient_checks,no_address_mappings",
};

static void
test_seed(void **state)
{
	char *path = test_source_path("tests/fixtures/seed/master.cf");
	struct diag_list dl;
	struct master_cf *cf = NULL;
	const struct master_service *s;

	diag_list_init(&dl);
	if (master_cf_load(path, &cf, &dl) != 0)
		test_print_diags(&dl);
	assert_non_null(cf);
	assert_int_equal(dl.n, 0);
	assert_int_equal(cf->nservices, N_ELEMENTS(seed_services));
	for (size_t i = 0; i < cf->nservices; i++) {
		char *got = master_service_format(&cf->services[i]);

		assert_string_equal(got, seed_services[i]);
		assert_string_equal(cf->services[i].file, path);
		free(got);
	}
	s = master_cf_find(cf, "127.0.0.1:10025", MASTER_TYPE_INET);
	assert_non_null(s);
	assert_int_equal(s->line, 128);
	assert_string_equal(s->inet_host, "127.0.0.1");
	assert_string_equal(s->inet_port, "10025");
	assert_int_equal(s->nopts, 21);
	assert_string_equal(s->opts[0].name, "content_filter");
	assert_string_equal(s->opts[0].value, "");
	s = master_cf_find(cf, "smtps", MASTER_TYPE_INET);
	assert_int_equal(s->nopts, 3);
	assert_int_equal(s->line, 25);
	assert_null(s->inet_host);
	assert_string_equal(s->inet_port, "smtps");
	s = master_cf_find(cf, "smtp-amavis", MASTER_TYPE_UNIX);
	assert_int_equal(s->maxproc, 4);
	assert_null(s->args[0]);
	check_round_trip(cf);
	master_cf_free(&cf);
	diag_list_deinit(&dl);
	free(path);
}

static void
test_seed_as_posted(void **state)
{
	char *path = test_source_path("tests/fixtures/seed/master.cf.as-posted");
	struct diag_list dl;
	struct master_cf *cf = NULL;
	const struct diag *d;

	diag_list_init(&dl);
	assert_int_equal(master_cf_load(path, &cf, &dl), -1);
	assert_null(cf);
	if (dl.n != 1)
		test_print_diags(&dl);
	assert_int_equal(dl.n, 1);
	d = &dl.items[0];
	assert_int_equal(d->level, DIAG_ERROR);
	assert_string_equal(d->file, path);
	/* The physical line "    -o max_use=20 inet n  -   - ... smtpd". */
	assert_int_equal(d->line, 124);
	assert_non_null(strstr(d->text, "'inet n - - - - smtpd' looks like a "
	    "service definition"));
	assert_non_null(strstr(d->text, "starts with white space"));
	assert_non_null(strstr(d->text, "continues the previous service "
	    "'smtp-amavis' (unix, line 120)"));
	assert_non_null(strstr(d->text, "its first field"));
	assert_non_null(strstr(d->text, "127.0.0.1:10025) is missing"));
	diag_list_deinit(&dl);
	free(path);
}

struct logical_ctx {
	const struct master_cf *whole;
	size_t next;
};

/* check_one_entry - a logical line parsed alone equals the whole parse. */
static int
check_one_entry(void *ctx, const char *text, size_t len, unsigned lineno)
{
	struct logical_ctx *lc = ctx;
	struct master_cf *cf = parse_ok(text, len);

	assert_int_equal(cf->nservices, 1);
	assert_true(lc->next < lc->whole->nservices);
	assert_int_equal(lc->whole->services[lc->next].line, lineno);
	assert_true(master_service_equal(&cf->services[0],
	    &lc->whole->services[lc->next]));
	lc->next++;
	master_cf_free(&cf);
	return 0;
}

/* Byte-by-byte reading gives the entries the whole text gives. */
static void
test_seed_byte_by_byte(void **state)
{
	char *path = test_source_path("tests/fixtures/seed/master.cf");
	size_t len;
	char *text = test_read_file(path, &len);
	struct master_cf *whole = parse_ok(text, len);
	struct logical_ctx lc = { whole, 0 };
	struct cf_lines r;
	const char *err = NULL;
	unsigned errline = 0;

	cf_lines_init(&r, 64 * 1024);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(cf_lines_feed(&r, text + i, 1, check_one_entry,
		    &lc, &err, &errline), 0);
	assert_int_equal(cf_lines_finish(&r, check_one_entry, &lc, &err,
	    &errline), 0);
	assert_int_equal(lc.next, whole->nservices);
	cf_lines_deinit(&r);
	master_cf_free(&whole);
	free(text);
	free(path);
}

static void
test_load_errors(void **state)
{
	char tmpl[] = "/tmp/test_master_cf.XXXXXX";
	struct diag_list dl;
	struct master_cf *cf = NULL;
	char *big, *file;
	int fd;

	diag_list_init(&dl);
	assert_int_equal(master_cf_load("/nonexistent/master.cf", &cf, &dl),
	    -1);
	assert_null(cf);
	assert_true(diag_list_contains(&dl, DIAG_ERROR,
	    "cannot open: No such file or directory"));
	assert_string_equal(dl.items[0].file, "/nonexistent/master.cf");
	diag_list_deinit(&dl);

	assert_non_null(mkdtemp(tmpl));
	diag_list_init(&dl);
	assert_int_equal(master_cf_load(tmpl, &cf, &dl), -1);
	assert_true(diag_list_contains(&dl, DIAG_ERROR, "Is a directory"));
	diag_list_deinit(&dl);

	/* One byte over the cap. */
	file = xasprintf("%s/master.cf", tmpl);
	big = xmalloc(MASTER_CF_MAX_BYTES + 1);
	memset(big, '#', MASTER_CF_MAX_BYTES + 1);
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, big, MASTER_CF_MAX_BYTES + 1),
	    MASTER_CF_MAX_BYTES + 1);
	close(fd);
	diag_list_init(&dl);
	assert_int_equal(master_cf_load(file, &cf, &dl), -1);
	assert_true(diag_list_contains(&dl, DIAG_ERROR, "file is larger than"));
	diag_list_deinit(&dl);
	diag_list_init(&dl);
	assert_int_equal(master_cf_parse(big, MASTER_CF_MAX_BYTES + 1, "x",
	    &cf, &dl), -1);
	assert_true(diag_list_contains(&dl, DIAG_ERROR, "file is too big"));
	diag_list_deinit(&dl);

	/* At the cap (all comments) is fine: no services, no error. */
	fd = open(file, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	big[MASTER_CF_MAX_BYTES - 1] = '\n';
	for (size_t i = 60000; i < MASTER_CF_MAX_BYTES; i += 60000)
		big[i] = '\n';
	assert_int_equal(write(fd, big, MASTER_CF_MAX_BYTES),
	    MASTER_CF_MAX_BYTES);
	close(fd);
	diag_list_init(&dl);
	assert_int_equal(master_cf_load(file, &cf, &dl), 0);
	assert_int_equal(cf->nservices, 0);
	master_cf_free(&cf);
	master_cf_free(&cf);	/* NULL is fine */
	diag_list_deinit(&dl);

	unlink(file);
	rmdir(tmpl);
	free(file);
	free(big);
}

/* An entry past the logical-line cap, at the line that passes it. */
static void
test_entry_too_long(void **state)
{
	struct buf text;
	struct diag_list dl;
	struct master_cf *cf = NULL;
	char *value = xmalloc(30001);

	memset(value, 'v', 30000);
	value[30000] = '\0';
	buf_init(&text, 1024 * 1024);
	assert_int_equal(buf_append_str(&text, "a unix - - - - - c\n"), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(buf_appendf(&text, "  -o x%d=%s\n", i, value),
		    0);
	diag_list_init(&dl);
	assert_int_equal(master_cf_parse(buf_cstr(&text), text.len, "m", &cf,
	    &dl), -1);
	assert_int_equal(dl.errors, 1);
	assert_int_equal(dl.items[0].line, 4);
	assert_true(diag_list_contains(&dl, DIAG_ERROR,
	    "service entry too long: with its continuation lines it may have "
	    "at most 65536 bytes"));
	diag_list_deinit(&dl);
	buf_deinit(&text);
	free(value);
}

/* Many entries, each duplicated: still one error per repeat, in order. */
static void
test_many_duplicates(void **state)
{
	struct buf text;
	struct diag_list dl;
	struct master_cf *cf = NULL;

	buf_init(&text, 16 * 1024 * 1024);
	for (int i = 0; i < 20000; i++)
		assert_int_equal(buf_appendf(&text, "s%d unix - - - - - c\n",
		    i % 10000), 0);
	diag_list_init(&dl);
	assert_int_equal(master_cf_parse(buf_cstr(&text), text.len, "m", &cf,
	    &dl), -1);
	assert_int_equal(dl.errors, 10000);
	assert_int_equal(dl.items[0].line, 10001);
	assert_non_null(strstr(dl.items[0].text, "'s0'"));
	assert_non_null(strstr(dl.items[0].text, "m:1;"));
	assert_int_equal(dl.items[9999].line, 20000);
	diag_list_deinit(&dl);
	buf_deinit(&text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_long_form_and_empty_values),
		cmocka_unit_test(test_inet_names),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_all_errors_reported),
		cmocka_unit_test(test_same_name_other_type),
		cmocka_unit_test(test_late_option_warning),
		cmocka_unit_test(test_type_names),
		cmocka_unit_test(test_seed),
		cmocka_unit_test(test_seed_as_posted),
		cmocka_unit_test(test_seed_byte_by_byte),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_entry_too_long),
		cmocka_unit_test(test_many_duplicates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
