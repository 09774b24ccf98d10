/* SPDX-License-Identifier: MIT */
/*
 * cli - the `ostia` command: subcommands and their shared options.
 *
 *   ostia [-c DIR] [-v] COMMAND [ARGS]
 *
 * Every command takes -c DIR (the configuration directory, default
 * $OSTIA_CONFIG_DIR or /etc/ostia), before or after the command word.
 * Exit codes: 0 success, 1 failure (said on stderr), 2 usage error.
 */
#ifndef OSTIA_CLI_H
#define OSTIA_CLI_H

#include <stdbool.h>

struct cli {
	const char *config_dir;
	int verbose;
	const char *self_exe;
};

/*
 * cli_postdrop_helper - the set-group-ID helper ostia-postdrop beside
 * the ostia binary (the real file), when it is installed right (group
 * ostia-postdrop, set-group-ID, executable by all); else NULL, with
 * what (e.g. "list the queue") and how to install it logged.
 */
char *cli_postdrop_helper(const struct cli *cli, const char *what);

/*
 * cmd_postfix_name - run as Postfix's postconf, postmap, postqueue,
 * postsuper, postfix or postcat (name: argv[0]'s last component;
 * cmd_postfix.c); -1 when name is none of those.
 */
int cmd_postfix_name(struct cli *cli, const char *name, int argc,
    char **argv);

int cmd_conf(struct cli *cli, int argc, char **argv);
int cmd_run(struct cli *cli, int argc, char **argv);
int cmd_start(struct cli *cli, int argc, char **argv);
int cmd_stop(struct cli *cli, int argc, char **argv);
int cmd_reload(struct cli *cli, int argc, char **argv);
int cmd_status(struct cli *cli, int argc, char **argv);
int cmd_check(struct cli *cli, int argc, char **argv);
int cmd_queue(struct cli *cli, int argc, char **argv);
int cmd_lookup(struct cli *cli, int argc, char **argv);
int cmd_map(struct cli *cli, int argc, char **argv);
/* cmd_route.c: where addresses go (route.h); building alias_database. */
int cmd_route(struct cli *cli, int argc, char **argv);
int cmd_newaliases(struct cli *cli, int argc, char **argv);
/* cmd_sendmail.c: sendmail, mailq, newaliases (argv[0] decides). */
int cmd_sendmail(struct cli *cli, int argc, char **argv);
/* cmd_account.c: the embedded account database (docs/accounts.md). */
int cmd_domain(struct cli *cli, int argc, char **argv);
int cmd_user(struct cli *cli, int argc, char **argv);
int cmd_alias(struct cli *cli, int argc, char **argv);
int cmd_account(struct cli *cli, int argc, char **argv);
int cmd_dns(struct cli *cli, int argc, char **argv);	/* cmd_dns.c */

/*
 * check_tls.c: the TLS part of `ostia check` for a loaded configuration:
 * a report on standard output; with live, also connects to the running
 * listeners.  Returns 0 (all good), 1 (warnings only) or 2 (errors).
 */
struct config;
int check_tls(const struct config *cf, bool live);
/* check_milter.c: the Milter part (smtpd_milters, non_smtpd_milters);
 * with live, each filter is connected to and asked to negotiate.  Same
 * returns. */
int check_milter(const struct config *cf, bool live);
/* The SQL tables part (check_tables.c): with live, one lookup in each. */
int check_tables(const struct config *cf, bool live);
/* The Dovecot SASL part (check_sasl.c): with live, connect as smtpd. */
int check_sasl(const struct config *cf, bool live);
/* check_screen.c: the postscreen part (its services, DNSBL sites, cache;
 * --live: each DNSBL's test entries); same exit status. */
int check_screen(const struct config *cf, bool live);

/* Print diagnostics to stderr in command style; returns error count. */
struct diag_list;
unsigned cli_print_diags(const struct diag_list *dl);

#endif
