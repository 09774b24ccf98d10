/* SPDX-License-Identifier: MIT */
/*
 * test_master_programs - what each master.cf command means to Ostia
 * (run, built in, not yet, unknown; smtpd only as an inet service; path
 * forms), and master_programs_check: exactly one warning, with file and
 * line, per service that is not started, none for the others; on a
 * small master.cf and on the seed configuration.  Also what the master
 * needs to run the delivery agents: reserved and unsafe service names
 * are refused with file and line, and master_service_process_count.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "diag.h"
#include "master_cf.h"
#include "master_programs.h"
#include "xalloc.h"
#include "test_support.h"

static const char *
kind_name(enum program_kind k)
{
	switch (k) {
	case PROGRAM_RUN:
		return "RUN";
	case PROGRAM_BUILTIN:
		return "BUILTIN";
	case PROGRAM_LATER:
		return "LATER";
	case PROGRAM_UNKNOWN:
		return "UNKNOWN";
	}
	return "?";
}

/* ------------------------------------------------------------------ */
/* master_program_for                                                  */

static const struct {
	const char *command;
	enum master_type type;
	enum program_kind kind;
	const char *what;	/* substring of p->what; NULL: not checked */
} cases[] = {
	/* The SMTP server runs only as an inet service. */
	{ "smtpd", MASTER_TYPE_INET, PROGRAM_RUN, "SMTP server" },
	{ "smtpd", MASTER_TYPE_UNIX, PROGRAM_LATER, "non-inet" },
	{ "smtpd", MASTER_TYPE_PASS, PROGRAM_LATER, "non-inet" },
	{ "smtpd", MASTER_TYPE_FIFO, PROGRAM_LATER, "non-inet" },
	{ "smtpd", MASTER_TYPE_UNIX_DGRAM, PROGRAM_LATER, "non-inet" },
	/* Path forms: only the last component counts. */
	{ "/usr/lib/postfix/sbin/smtpd", MASTER_TYPE_INET, PROGRAM_RUN,
	    "SMTP server" },
	{ "/usr/libexec/postfix/smtpd", MASTER_TYPE_UNIX, PROGRAM_LATER,
	    "non-inet" },
	{ "/usr/lib/postfix/sbin/qmgr", MASTER_TYPE_UNIX, PROGRAM_BUILTIN,
	    "queue manager" },
	{ "sbin/pipe", MASTER_TYPE_UNIX, PROGRAM_RUN, "pipe" },
	/* Jobs done by Ostia's fixed processes, whatever the type. */
	{ "qmgr", MASTER_TYPE_UNIX, PROGRAM_BUILTIN, "queue manager" },
	{ "qmgr", MASTER_TYPE_FIFO, PROGRAM_BUILTIN, NULL },
	{ "qmgr", MASTER_TYPE_INET, PROGRAM_BUILTIN, NULL },
	{ "oqmgr", MASTER_TYPE_UNIX, PROGRAM_BUILTIN, "queue manager" },
	{ "pickup", MASTER_TYPE_UNIX, PROGRAM_BUILTIN, "pickup" },
	{ "pickup", MASTER_TYPE_FIFO, PROGRAM_BUILTIN, NULL },
	{ "cleanup", MASTER_TYPE_UNIX, PROGRAM_BUILTIN, "cleanup" },
	{ "tlsmgr", MASTER_TYPE_UNIX, PROGRAM_BUILTIN, "TLS" },
	{ "trivial-rewrite", MASTER_TYPE_UNIX, PROGRAM_BUILTIN, "rewriting" },
	{ "bounce", MASTER_TYPE_UNIX, PROGRAM_BUILTIN, "bounce" },
	{ "verify", MASTER_TYPE_UNIX, PROGRAM_BUILTIN, "verification" },
	{ "flush", MASTER_TYPE_UNIX, PROGRAM_BUILTIN, "flush" },
	{ "proxymap", MASTER_TYPE_UNIX, PROGRAM_BUILTIN, "proxy" },
	{ "showq", MASTER_TYPE_UNIX, PROGRAM_BUILTIN, "queue listing" },
	{ "anvil", MASTER_TYPE_UNIX, PROGRAM_BUILTIN, "connection" },
	{ "scache", MASTER_TYPE_UNIX, PROGRAM_BUILTIN, "connection cache" },
	{ "postlogd", MASTER_TYPE_UNIX_DGRAM, PROGRAM_BUILTIN, "maillog" },
	/* Delivery agents run only as unix services. */
	{ "pipe", MASTER_TYPE_UNIX, PROGRAM_RUN, "pipe" },
	{ "lmtp", MASTER_TYPE_UNIX, PROGRAM_RUN, "LMTP" },
	{ "virtual", MASTER_TYPE_UNIX, PROGRAM_RUN, "virtual" },
	{ "error", MASTER_TYPE_UNIX, PROGRAM_RUN, "error" },
	{ "discard", MASTER_TYPE_UNIX, PROGRAM_RUN, "discard" },
	{ "local", MASTER_TYPE_UNIX, PROGRAM_RUN, "local delivery" },
	{ "/usr/lib/postfix/sbin/local", MASTER_TYPE_UNIX, PROGRAM_RUN,
	    "local delivery" },
	{ "/usr/lib/postfix/sbin/lmtp", MASTER_TYPE_UNIX, PROGRAM_RUN,
	    "LMTP" },
	{ "pipe", MASTER_TYPE_INET, PROGRAM_LATER, "non-unix" },
	{ "lmtp", MASTER_TYPE_FIFO, PROGRAM_LATER, "non-unix" },
	{ "virtual", MASTER_TYPE_UNIX_DGRAM, PROGRAM_LATER, "non-unix" },
	{ "error", MASTER_TYPE_PASS, PROGRAM_LATER, "non-unix" },
	{ "discard", MASTER_TYPE_INET, PROGRAM_LATER, "non-unix" },
	{ "local", MASTER_TYPE_FIFO, PROGRAM_LATER, "non-unix" },
	{ "smtp", MASTER_TYPE_UNIX, PROGRAM_RUN, "SMTP delivery" },
	{ "/usr/lib/postfix/sbin/smtp", MASTER_TYPE_UNIX, PROGRAM_RUN,
	    "SMTP delivery" },
	{ "smtp", MASTER_TYPE_INET, PROGRAM_LATER, "non-unix" },
	/* postscreen is smtpd with its tests (smtpd_screen.h); its
	 * helpers are not needed. */
	{ "postscreen", MASTER_TYPE_INET, PROGRAM_RUN, "postscreen" },
	{ "postscreen", MASTER_TYPE_UNIX, PROGRAM_LATER, "non-inet" },
	{ "dnsblog", MASTER_TYPE_UNIX, PROGRAM_BUILTIN, "DNSBL" },
	{ "tlsproxy", MASTER_TYPE_UNIX, PROGRAM_BUILTIN, "TLS" },
	/* spawn runs on unix and inet services. */
	{ "spawn", MASTER_TYPE_UNIX, PROGRAM_RUN, "spawn" },
	{ "spawn", MASTER_TYPE_INET, PROGRAM_RUN, "spawn" },
	/* Known programs that Ostia does not have yet. */
	{ "qmqpd", MASTER_TYPE_INET, PROGRAM_LATER, "QMQP" },
	/* Anything else, and near misses, are unknown. */
	{ "amavisd", MASTER_TYPE_UNIX, PROGRAM_UNKNOWN, "unknown" },
	{ "policyd-spf", MASTER_TYPE_UNIX, PROGRAM_UNKNOWN, "unknown" },
	{ "SMTPD", MASTER_TYPE_INET, PROGRAM_UNKNOWN, NULL },
	{ "smtpd2", MASTER_TYPE_INET, PROGRAM_UNKNOWN, NULL },
	{ "smtp-d", MASTER_TYPE_INET, PROGRAM_UNKNOWN, NULL },
	{ "smtpd/", MASTER_TYPE_INET, PROGRAM_UNKNOWN, NULL },
	{ "/", MASTER_TYPE_INET, PROGRAM_UNKNOWN, NULL },
	{ "", MASTER_TYPE_INET, PROGRAM_UNKNOWN, NULL },
	{ "trivial_rewrite", MASTER_TYPE_UNIX, PROGRAM_UNKNOWN, NULL },
	{ "pipe2", MASTER_TYPE_UNIX, PROGRAM_UNKNOWN, NULL },
};

static void
test_program_for(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct master_service s;
		const struct program_def *p;

		memset(&s, 0, sizeof(s));
		s.name = UNCONST("svc");
		s.command = UNCONST(cases[i].command);
		s.type = cases[i].type;
		p = master_program_for(&s);
		assert_non_null(p);
		if (p->kind != cases[i].kind)
			print_message("case %zu: %s/%s is %s, expected %s\n",
			    i, cases[i].command,
			    master_type_name(cases[i].type),
			    kind_name(p->kind), kind_name(cases[i].kind));
		assert_int_equal(p->kind, cases[i].kind);
		assert_non_null(p->what);
		assert_true(p->what[0] != '\0');
		if (cases[i].what != NULL) {
			if (strstr(p->what, cases[i].what) == NULL)
				print_message("case %zu: what \"%s\"\n", i,
				    p->what);
			assert_non_null(strstr(p->what, cases[i].what));
		}
		/* A known program's definition names it. */
		if (p->kind != PROGRAM_UNKNOWN) {
			const char *slash = strrchr(cases[i].command, '/');
			const char *base = slash != NULL ? slash + 1 :
			    cases[i].command;

			assert_string_equal(p->command, base);
		}
	}
}

/* ------------------------------------------------------------------ */
/* master_programs_check                                               */

static struct master_cf *
parse_ok(const char *text, const char *filename)
{
	struct diag_list dl;
	struct master_cf *cf = NULL;

	diag_list_init(&dl);
	if (master_cf_parse(text, strlen(text), filename, &cf, &dl) != 0)
		test_print_diags(&dl);
	assert_int_equal(dl.errors, 0);
	assert_non_null(cf);
	diag_list_deinit(&dl);
	return cf;
}

/* diags_at - how many diagnostics name file:line. */
static size_t
diags_at(const struct diag_list *dl, const char *file, unsigned line)
{
	size_t n = 0;

	for (size_t i = 0; i < dl->n; i++)
		if (dl->items[i].line == line && dl->items[i].file != NULL &&
		    strcmp(dl->items[i].file, file) == 0)
			n++;
	return n;
}

/* diag_at - the first diagnostic at line; fails the test if none. */
static const struct diag *
diag_at(const struct diag_list *dl, unsigned line)
{
	static const struct diag none = {
		DIAG_ERROR, UNCONST(""), 0, UNCONST("")
	};

	for (size_t i = 0; i < dl->n; i++)
		if (dl->items[i].line == line)
			return &dl->items[i];
	fail_msg("no diagnostic at line %u", line);
	return &none;	/* not reached */
}

static const char small_master_cf[] =
    "# a comment\n"						/* 1 */
    "smtp      inet  n  -  n  -  -  smtpd\n"			/* 2 */
    "submission inet n  -  n  -  -  /usr/lib/postfix/sbin/smtpd\n"	/* 3 */
    "  -o smtpd_tls_security_level=encrypt\n"			/* 4 */
    "\n"							/* 5 */
    "qmgr      unix  n  -  n  300 1 qmgr\n"			/* 6 */
    "pickup    unix  n  -  n  60  1 pickup\n"			/* 7 */
    "dovecot   unix  -  n  n  -  -  pipe\n"			/* 8 */
    "  flags=DRhu user=vmail argv=/usr/lib/dovecot/deliver\n"	/* 9 */
    "amavis    unix  -  -  n  -  2  amavisd\n"			/* 10 */
    "lmtpsock  unix  -  -  n  -  -  smtpd\n"			/* 11 */
    "relay     unix  -  -  n  -  -  smtp\n"			/* 12 */
    "tlsmgr    unix  -  -  n  1000? 1 tlsmgr\n";		/* 13 */

static void
test_check_small(void **state)
{
	static const char *const file = "/etc/ostia/master.cf";
	static const struct {
		unsigned line;
		const char *texts[3];
	} want[] = {
		{ 10, { "service amavis/unix", "no program called "
		    "\"amavisd\"", "not started" } },
		{ 11, { "service lmtpsock/unix", "SMTP server on a non-inet "
		    "service", "(smtpd)" } },
	};
	/* dovecot (line 8) is a pipe delivery agent, relay (line 12) the
	 * smtp agent: they run. */
	static const unsigned quiet[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13 };
	struct master_cf *cf = parse_ok(small_master_cf, file);
	struct diag_list dl;

	(void)state;
	assert_int_equal(cf->nservices, 9);
	diag_list_init(&dl);
	master_programs_check(cf, NULL, &dl);
	if (dl.n != N_ELEMENTS(want))
		test_print_diags(&dl);
	assert_int_equal(dl.n, N_ELEMENTS(want));
	assert_int_equal(dl.errors, 0);
	for (size_t i = 0; i < N_ELEMENTS(want); i++) {
		const struct diag *d = diag_at(&dl, want[i].line);

		assert_int_equal(d->level, DIAG_WARNING);
		assert_string_equal(d->file, file);
		assert_int_equal(diags_at(&dl, file, want[i].line), 1);
		for (size_t j = 0; j < N_ELEMENTS(want[i].texts); j++) {
			if (strstr(d->text, want[i].texts[j]) == NULL)
				print_message("line %u: %s\n", want[i].line,
				    d->text);
			assert_non_null(strstr(d->text, want[i].texts[j]));
		}
	}
	for (size_t i = 0; i < N_ELEMENTS(quiet); i++)
		assert_int_equal(diags_at(&dl, file, quiet[i]), 0);
	/* The formatted form leads with file:line. */
	{
		char *s = diag_format(diag_at(&dl, 10));

		assert_non_null(s);
		assert_true(strncmp(s, "/etc/ostia/master.cf:10: ", 25) == 0);
		free(s);
	}
	/* Checking twice adds the same warnings again, nothing else. */
	master_programs_check(cf, NULL, &dl);
	assert_int_equal(dl.n, 2 * N_ELEMENTS(want));
	diag_list_deinit(&dl);
	master_cf_free(&cf);
}

static void
test_check_none(void **state)
{
	static const char text[] =
	    "smtp inet n - n - - smtpd\n"
	    "cleanup unix n - n - 0 cleanup\n"
	    "rewrite unix - - n - - trivial-rewrite\n";
	struct master_cf *cf = parse_ok(text, "master.cf");
	struct master_cf empty = { NULL, 0 };
	struct diag_list dl;

	(void)state;
	diag_list_init(&dl);
	master_programs_check(cf, NULL, &dl);
	assert_int_equal(dl.n, 0);
	master_programs_check(&empty, NULL, &dl);
	assert_int_equal(dl.n, 0);
	diag_list_deinit(&dl);
	master_cf_free(&cf);
}

/* The seed configuration: one warning per service that is not started. */
static void
test_check_seed(void **state)
{
	char *path = test_source_path("tests/fixtures/seed/master.cf");
	struct master_cf *cf = NULL;
	struct diag_list dl;
	size_t later = 0, unknown = 0, run = 0, before;

	(void)state;
	diag_list_init(&dl);
	if (master_cf_load(path, &cf, &dl) != 0)
		test_print_diags(&dl);
	assert_non_null(cf);
	assert_int_equal(dl.errors, 0);
	before = dl.n;
	master_programs_check(cf, NULL, &dl);
	for (size_t i = 0; i < cf->nservices; i++) {
		const struct master_service *s = &cf->services[i];
		const struct program_def *p = master_program_for(s);
		size_t n = diags_at(&dl, s->file, s->line);

		if (p->kind == PROGRAM_LATER || p->kind == PROGRAM_UNKNOWN) {
			const struct diag *d = diag_at(&dl, s->line);
			char *who = xasprintf("service %s/%s", s->name,
			    master_type_name(s->type));

			assert_int_equal(n, 1);
			assert_non_null(strstr(d->text, who));
			free(who);
			later += p->kind == PROGRAM_LATER;
			unknown += p->kind == PROGRAM_UNKNOWN;
		} else {
			assert_int_equal(n, 0);
			run += p->kind == PROGRAM_RUN;
		}
	}
	assert_int_equal(dl.n - before, later + unknown);
	/* smtp, smtps, submission and 127.0.0.1:10025 (smtpd); error (as
	 * error, retry), discard, virtual, lmtp, pipe (as dovecot), local;
	 * smtp (as smtp, relay, smtp-amavis). */
	assert_int_equal(run, 14);
	assert_int_equal(later, 0);
	assert_int_equal(unknown, 0);
	diag_list_deinit(&dl);
	master_cf_free(&cf);
	free(path);
}


/* postscreen: its pass service runs inside it (no warning); without
 * one it is an error that says what line to add. */
static void
test_check_postscreen(void **state)
{
	static const char good[] =
	    "smtp inet n - y - 1 postscreen\n"			/* 1 */
	    "smtpd pass - - y - - smtpd\n"			/* 2 */
	    "dnsblog unix - - y - 0 dnsblog\n"		/* 3 */
	    "tlsproxy unix - - y - 0 tlsproxy\n"		/* 4 */
	    "other pass - - y - - smtpd\n";			/* 5 */
	static const char bad[] =
	    "smtp inet n - y - 1 postscreen\n"			/* 1 */
	    "smtpd unix - - y - - smtpd\n";			/* 2 */
	struct master_cf *cf = parse_ok(good, "m.cf");
	struct diag_list dl;

	(void)state;
	diag_list_init(&dl);
	master_programs_check(cf, NULL, &dl);
	if (dl.n != 1)
		test_print_diags(&dl);
	/* Only the pass service no postscreen hands clients to. */
	assert_int_equal(dl.n, 1);
	assert_int_equal(dl.errors, 0);
	assert_int_equal(diags_at(&dl, "m.cf", 5), 1);
	assert_non_null(strstr(diag_at(&dl, 5)->text, "not started"));
	diag_list_deinit(&dl);
	master_cf_free(&cf);

	cf = parse_ok(bad, "m.cf");
	diag_list_init(&dl);
	master_programs_check(cf, NULL, &dl);
	if (dl.errors != 1)
		test_print_diags(&dl);
	assert_int_equal(dl.errors, 1);
	assert_non_null(strstr(diag_at(&dl, 1)->text, "service smtp/inet "
	    "runs postscreen, which hands the clients that pass its tests "
	    "to the pass service \"smtpd\" (smtpd_service_name), but there "
	    "is no line \"smtpd pass - - n - - smtpd\" in master.cf"));
	diag_list_deinit(&dl);
	master_cf_free(&cf);
}

/* An agent service may not take the internal services' socket names. */
static void
test_check_reserved(void **state)
{
	static const char text[] =
	    "queue unix - - n - - discard\n"			/* 1 */
	    "lookup unix - - n - - lmtp\n"			/* 2 */
	    "retry unix - - n - - error\n"			/* 3 */
	    "queue inet n - n - - smtpd\n";			/* 4 */
	struct master_cf *cf = parse_ok(text, "m.cf");
	struct diag_list dl;

	(void)state;
	diag_list_init(&dl);
	master_programs_check(cf, NULL, &dl);
	if (dl.errors != 2)
		test_print_diags(&dl);
	assert_int_equal(dl.n, 2);
	assert_int_equal(dl.errors, 2);
	assert_non_null(strstr(diag_at(&dl, 1)->text,
	    "the name queue is reserved"));
	assert_non_null(strstr(diag_at(&dl, 2)->text,
	    "the name lookup is reserved"));
	assert_int_equal(diags_at(&dl, "m.cf", 3), 0);
	assert_int_equal(diags_at(&dl, "m.cf", 4), 0);
	assert_true(master_service_name_is_reserved("queue"));
	assert_true(master_service_name_is_reserved("lookup"));
	assert_false(master_service_name_is_reserved("queues"));
	diag_list_deinit(&dl);
	master_cf_free(&cf);
}

/* Names of services that are not inet become file names: checked. */
static void
test_service_names(void **state)
{
	static const char *const good[] = {
		"dovecot", "smtp-amavis", "a", "x.y_z-1", "Retry2",
		/* 64 bytes */
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	};
	static const char *const bad[] = {
		"a/b", "..", ".hidden", "-x", "a b", "a:b", "private/x",
		"\xc3\xa9t\xc3\xa9", "a*",
		/* 65 bytes */
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	};
	static const char *const types[] = { "unix", "fifo", "unix-dgram",
	    "pass" };

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(good); i++)
		assert_true(master_service_name_is_safe(good[i]));
	for (size_t i = 0; i < N_ELEMENTS(bad); i++)
		assert_false(master_service_name_is_safe(bad[i]));
	assert_false(master_service_name_is_safe(""));
	for (size_t t = 0; t < N_ELEMENTS(types); t++) {
		for (size_t i = 0; i < N_ELEMENTS(bad); i++) {
			struct diag_list dl;
			struct master_cf *cf = NULL;
			char *text;

			if (strchr(bad[i], ' ') != NULL)
				continue;	/* not one field */
			text = xasprintf("ok unix - - n - - discard\n"
			    "%s %s - - n - - discard\n", bad[i], types[t]);
			diag_list_init(&dl);
			assert_int_equal(master_cf_parse(text, strlen(text),
			    "m.cf", &cf, &dl), -1);
			assert_null(cf);
			assert_int_equal(dl.errors, 1);
			assert_int_equal(dl.items[0].line, 2);
			assert_string_equal(dl.items[0].file, "m.cf");
			if (strstr(dl.items[0].text, "service name") == NULL)
				test_print_diags(&dl);
			assert_non_null(strstr(dl.items[0].text,
			    "service name"));
			diag_list_deinit(&dl);
			free(text);
		}
	}
	/* inet services are addresses: "127.0.0.1:25" is fine there. */
	{
		static const char text[] =
		    "127.0.0.1:10025 inet n - n - - smtpd\n";
		struct master_cf *cf = parse_ok(text, "m.cf");

		master_cf_free(&cf);
	}
}

static void
test_process_count(void **state)
{
	static const char main_text[] = "default_process_limit = 3\n";
	static const char master_text[] =
	    "smtp inet n - n - - smtpd\n"			/* 0 */
	    "s2 inet n - n - 5 smtpd\n"			/* 1 */
	    "s3 inet n - n - 0 /usr/sbin/smtpd\n"		/* 2 */
	    "s4 inet n - n - 500 smtpd\n"			/* 3 */
	    "virtual unix - n n - - virtual\n"			/* 4 */
	    "lmtp unix - - n - 7 lmtp\n"			/* 5 */
	    "dovecot unix - n n - 0 pipe\n"			/* 6 */
	    "  user=x argv=/bin/true\n"
	    "big unix - - n - 1000 discard\n"			/* 7 */
	    "error unix - - n - - error\n"			/* 8 */
	    "  -o default_process_limit=1\n"
	    "smtp unix - - n - - smtp\n"			/* 9 */
	    "amavis unix - - n - 2 /usr/lib/postfix/sbin/smtp\n" /* 10 */
	    "relay unix - - n - 5000 smtp\n";			/* 11 */
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned cores = ncpu < 1 ? 1 : ncpu > 64 ? 64 : (unsigned)ncpu;
	unsigned agent_default = 4 * cores < 3 ? 4 * cores : 3;
	struct diag_list dl;
	struct config *cf;
	const struct master_cf *mcf;

	(void)state;
	diag_list_init(&dl);
	cf = config_load_text("/nonexistent-ostia-test", main_text,
	    strlen(main_text), master_text, strlen(master_text),
	    CONFIG_LOAD_QUIET, &dl);
	if (cf == NULL)
		test_print_diags(&dl);
	assert_non_null(cf);
	mcf = config_master(cf);
	assert_int_equal(mcf->nservices, 12);
#define COUNT(i) master_service_process_count(&mcf->services[i], \
	config_service(cf, i))
#define CONC(i) master_service_concurrency(&mcf->services[i], \
	config_service(cf, i))
	assert_int_equal(COUNT(0), cores);
	assert_int_equal(COUNT(1), 5);
	assert_int_equal(COUNT(2), cores);
	assert_int_equal(COUNT(3), 64);
	assert_int_equal(COUNT(4), agent_default);
	assert_int_equal(COUNT(5), 7);
	assert_int_equal(COUNT(6), agent_default);
	assert_int_equal(COUNT(7), 64);
	/* -o default_process_limit counts for that service. */
	assert_int_equal(COUNT(8), 1);
	/* The event-driven smtp agent: maxproc (else
	 * default_process_limit) deliveries at once, at most one process
	 * per core. */
	assert_int_equal(CONC(9), 3);
	assert_int_equal(COUNT(9), cores < 3 ? cores : 3);
	assert_int_equal(CONC(10), 2);
	assert_int_equal(COUNT(10), cores < 2 ? cores : 2);
	assert_int_equal(CONC(11), MASTER_SERVICE_CONCURRENCY_MAX);
	assert_int_equal(COUNT(11), cores);
	assert_true(master_service_is_event_driven(&mcf->services[9]));
	assert_true(master_service_is_event_driven(&mcf->services[10]));
	assert_false(master_service_is_event_driven(&mcf->services[5]));
	/* Other services: as many deliveries as processes. */
	for (size_t i = 0; i < 9; i++)
		assert_int_equal(CONC(i), COUNT(i));
#undef CONC
#undef COUNT
	diag_list_deinit(&dl);
	config_free(&cf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_program_for),
		cmocka_unit_test(test_check_small),
		cmocka_unit_test(test_check_none),
		cmocka_unit_test(test_check_postscreen),
		cmocka_unit_test(test_check_seed),
		cmocka_unit_test(test_check_reserved),
		cmocka_unit_test(test_service_names),
		cmocka_unit_test(test_process_count),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
