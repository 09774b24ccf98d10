/* SPDX-License-Identifier: MIT */
/*
 * main - entry point of the `ostia` binary; see cli.h.
 *
 * The same binary is the admin command, the master (`run`, `start`) and
 * every child the master starts (`child`, re-executed by the master with
 * the descriptors child.h describes; not for people).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "child.h"
#include "cli.h"
#include "config.h"
#include "diag.h"
#include "log.h"
#include "strnum.h"

static const struct {
	const char *name;
	int (*fn)(struct cli *cli, int argc, char **argv);
	const char *help;
} commands[] = {
	{ "conf", cmd_conf, "show or edit parameters (like postconf)" },
	{ "check", cmd_check, "[--live] check the configuration, the TLS "
	    "certificates and the Milters (--live: also the running listeners, "
	    "the filters, the SQL tables and Dovecot's auth socket); exit 0 "
	    "good, 1 warnings, 2 errors" },
	{ "run", cmd_run, "run the mail system in the foreground" },
	{ "start", cmd_start, "start the mail system in the background" },
	{ "stop", cmd_stop, "stop the mail system gracefully" },
	{ "reload", cmd_reload, "re-read the configuration" },
	{ "status", cmd_status, "tell whether the mail system runs" },
	{ "queue", cmd_queue, "queued mail: list, show, flush, hold, "
	    "release, delete" },
	{ "map", cmd_map, "build or query lookup tables (like postmap)" },
	{ "lookup", cmd_lookup, "ask the running lookup process" },
	{ "route", cmd_route, "show where addresses go: class, transport, "
	    "next hop, rewriting" },
	{ "newaliases", cmd_newaliases, "build the alias_database files" },
	{ "sendmail", cmd_sendmail, "submit a message from standard input "
	    "(also as sendmail, mailq, newaliases)" },
	{ "domain", cmd_domain, "add, list, delete mail domains (account "
	    "database)" },
	{ "user", cmd_user, "add, list, delete mailboxes; set passwords" },
	{ "alias", cmd_alias, "add, list, delete aliases" },
	{ "account", cmd_account, "write the SQL table files of the account "
	    "database" },
	{ "dns", cmd_dns, "NAME [a|aaaa|mx|ptr|txt|tlsa]: ask DNS as mail does" },
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: ostia [-c CONFIG_DIR] [-v] COMMAND [ARGS]\n\n");
	for (size_t i = 0; i < N_ELEMENTS(commands); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\n  ostia conf [-n|-d|-x|-h] [NAME...]   parameters\n"
	    "  ostia conf -M [SERVICE[/TYPE]...]    master.cf services\n"
	    "  ostia conf -e NAME=VALUE...          edit main.cf\n"
	    "  ostia conf -X NAME...                remove from main.cf\n"
	    "  ostia conf --reference               configuration reference "
	    "(Markdown)\n"
	    "  ostia queue [list | show ID]         queued messages\n"
	    "  ostia queue flush|hold|release|requeue|delete ID|ALL\n"
	    "  ostia map [-f] [hash:|lmdb:]FILE     build FILE.lmdb (hash: "
	    "reads it too)\n"
	    "  ostia map [-f] -q KEY|- type:NAME    look keys up (exit 0 "
	    "found, 1 not, 75 error)\n"
	    "  ostia map -s type:NAME               list a table\n"
	    "  ostia lookup [--no-cache] TABLE KEY... ask the lookup process "
	    "(exit 0 found,\n"
	    "                                       1 not, 75 error)\n"
	    "  ostia route [-s SERVICE] ADDRESS...  class, transport, next "
	    "hop, aliases, steps\n"
	    "                                       (exit 0 listed, 1 "
	    "unlisted, 2 error)\n"
	    "  ostia dns [-a] [-t SECONDS] NAME [TYPE]  DNS lookup as Ostia "
	    "does it (mx, a, aaaa,\n"
	    "                                       ptr, txt, tlsa; exit 0 "
	    "found, 1 none, 2 error)\n"
	    "  ostia newaliases                     build alias_database "
	    "(FILE.lmdb)\n"
	    "  ostia sendmail [-t] [-i] [-f SENDER] [-F NAME] [-N DSN] [-v] "
	    "[RECIPIENT...]\n"
	    "                                       submit standard input "
	    "(exit status: sysexits)\n"
	    "  ostia domain add|del|list|enable|disable [DOMAIN]\n"
	    "  ostia user add ADDRESS [--name N] [--quota SIZE] [--scheme "
	    "SHA512-CRYPT|ARGON2ID]\n"
	    "             [--password-stdin] | passwd ADDRESS | del ADDRESS "
	    "| list [DOMAIN]\n"
	    "             | enable ADDRESS | disable ADDRESS\n"
	    "  ostia alias add ADDRESS TARGET[,TARGET...] | del ADDRESS | "
	    "list [DOMAIN]\n"
	    "  ostia account tables DIR             sqlite .cf files for "
	    "main.cf\n"
	    "                                       (accounts: exit 0 done, "
	    "1 refused, 75 busy)\n"
	    "\nDocumentation: docs/ in the source tree.\n");
}

unsigned
cli_print_diags(const struct diag_list *dl)
{
	unsigned errors = 0;

	for (size_t i = 0; i < dl->n; i++) {
		char *s = diag_format(&dl->items[i]);

		if (dl->items[i].level == DIAG_ERROR) {
			log_error("%s", s);
			errors++;
		} else {
			log_warning("%s", s);
		}
		free(s);
	}
	return errors;
}

int
main(int argc, char **argv)
{
	struct cli cli = { NULL, 0, NULL };
	char exe[PATH_MAX];
	ssize_t n;
	int i = 1;

	log_init("ostia", NULL, LOG_STYLE_COMMAND);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		log_fatal("cannot find my own executable: /proc/self/exe");
	exe[n] = '\0';
	cli.self_exe = exe;
	cli.config_dir = getenv("OSTIA_CONFIG_DIR");
	if (cli.config_dir == NULL || cli.config_dir[0] == '\0')
		cli.config_dir = CONFIG_DEFAULT_DIR;
	/* Run as sendmail, mailq or newaliases: sendmail's options. */
	if (argc > 0 && argv[0] != NULL) {
		const char *base = strrchr(argv[0], '/');

		base = base != NULL ? base + 1 : argv[0];
		int r;

		if (strcmp(base, "sendmail") == 0 ||
		    strcmp(base, "mailq") == 0 ||
		    strcmp(base, "newaliases") == 0)
			return cmd_sendmail(&cli, argc, argv);
		/* postconf, postmap, postqueue, postsuper, postfix,
		 * postcat. */
		r = cmd_postfix_name(&cli, base, argc, argv);
		if (r >= 0)
			return r;
	}

	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			cli.config_dir = argv[i + 1];
			i += 2;
		} else if (strcmp(argv[i], "-v") == 0) {
			cli.verbose++;
			i++;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("ostia %s\n", OSTIA_VERSION);
			return 0;
		} else if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			log_error("unknown option %s", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	log_set_verbose(cli.verbose);
	if (strcmp(argv[i], "child") == 0) {
		long long vb = 0;
		const char *err = NULL;

		if (argc - i != 6 ||
		    strnum_parse_ll(argv[i + 4], 0, 10, &vb, &err) < 0 ||
		    (strcmp(argv[i + 5], "fd") != 0 &&
		    strcmp(argv[i + 5], "syslog") != 0)) {
			log_error("child: internal command started wrongly "
			    "(it is run by the master only)");
			return 2;
		}
		return child_main(cli.config_dir, argv[i + 1], argv[i + 2],
		    argv[i + 3], (int)vb, strcmp(argv[i + 5], "syslog") == 0);
	}
	for (size_t k = 0; k < N_ELEMENTS(commands); k++)
		if (strcmp(argv[i], commands[k].name) == 0)
			return commands[k].fn(&cli, argc - i, argv + i);
	if (strcmp(argv[i], "help") == 0) {
		usage(stdout);
		return 0;
	}
	log_error("unknown command \"%s\"", argv[i]);
	usage(stderr);
	return 2;
}
