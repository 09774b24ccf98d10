/* SPDX-License-Identifier: MIT */
/*
 * cmd_postfix - Postfix's command names, so that scripts, cron jobs and
 * monitoring written for Postfix work unchanged once the names are
 * symbolic links to ostia (argv[0]'s last component decides):
 *
 *   postconf ARGS    = ostia conf ARGS (the same options: -n -d -h -e -X
 *                      -M -c DIR)
 *   postmap ARGS     = ostia map ARGS (-q KEY, -f, -s, -c DIR)
 *   postqueue -p     = ostia queue (mailq)
 *   postqueue -j     = ostia queue json
 *   postqueue -f     = ostia queue flush
 *   postqueue -s SITE, -i ID
 *                    = ostia queue flush -d SITE, flush ID
 *   postsuper -d|-h|-H|-r ID|ALL|- [QUEUE...]
 *                    = ostia queue delete|hold|release|requeue: several
 *                      options may be given; "-" reads IDs from
 *                      standard input, one per line; ALL may be limited
 *                      to queues (incoming, active, deferred, hold)
 *   postsuper -s, -p = nothing to do (Ostia's queue process keeps the
 *                      queue consistent and removes stale files itself)
 *   postfix start|stop|abort|reload|status|check|flush|start-fg
 *                    = ostia start, stop (abort too), reload, status,
 *                      check, queue flush, run; set-permissions and
 *                      upgrade-configuration have nothing to do (the
 *                      master sets its directories up at every start)
 *   postcat -q ID    = ostia queue show ID (every part; -e -h -b -v
 *                      are accepted and change nothing)
 *
 * `-c DIR` is the configuration directory everywhere, `-v` is ignored.
 * Exit status: that of the ostia command, 2 for a usage error, or for
 * postsuper the largest of its requests'.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "compat.h"
#include "log.h"
#include "queue_file.h"
#include "strv.h"
#include "xalloc.h"

/* A queue ID read from standard input: at most this long. */
#define POSTSUPER_LINE_MAX 256

static int
run_queue(struct cli *cli, int n, const char *const *words)
{
	char **argv = xcalloc((size_t)n + 2, sizeof(*argv));
	int r;

	argv[0] = UNCONST("queue");
	for (int i = 0; i < n; i++)
		argv[i + 1] = UNCONST(words[i]);
	r = cmd_queue(cli, n + 1, argv);
	free(argv);
	return r;
}

static int
postqueue(struct cli *cli, int argc, char **argv)
{
	const char *words[3] = { NULL, NULL, NULL };
	int n = -1;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-c") == 0 && i + 1 < argc) {
			cli->config_dir = argv[++i];
		} else if (strcmp(a, "-v") == 0) {
			/* more logging in Postfix; nothing here */
		} else if (n < 0 && strcmp(a, "-p") == 0) {
			n = 0;
		} else if (n < 0 && strcmp(a, "-j") == 0) {
			words[0] = "json";
			n = 1;
		} else if (n < 0 && strcmp(a, "-f") == 0) {
			words[0] = "flush";
			n = 1;
		} else if (n < 0 && strcmp(a, "-s") == 0 && i + 1 < argc) {
			words[0] = "flush";
			words[1] = "-d";
			words[2] = argv[++i];
			n = 3;
		} else if (n < 0 && strcmp(a, "-i") == 0 && i + 1 < argc) {
			words[0] = "flush";
			words[1] = argv[++i];
			n = 2;
		} else {
			log_error("usage: postqueue [-c DIR] -p | -j | -f | -s "
			    "SITE | -i QUEUEID (\"%s\" is not one of those)", a);
			return 2;
		}
	}
	if (n < 0) {
		log_error("usage: postqueue [-c DIR] -p | -j | -f | -s SITE | "
		    "-i QUEUEID");
		return 2;
	}
	return run_queue(cli, n, words);
}

static bool
is_queue_name(const char *s)
{
	return strcmp(s, "incoming") == 0 || strcmp(s, "active") == 0 ||
	    strcmp(s, "deferred") == 0 || strcmp(s, "hold") == 0 ||
	    strcmp(s, "maildrop") == 0;
}

/* A postsuper request: verb and ID (or ALL). */
struct ps_req {
	const char *verb;
	char *id;
};

static int
postsuper(struct cli *cli, int argc, char **argv)
{
	static const struct { const char *opt, *verb; } opts[] = {
		{ "-d", "delete" }, { "-h", "hold" }, { "-H", "release" },
		{ "-r", "requeue" },
	};
	struct ps_req *reqs = NULL;
	struct strv queues;
	size_t nreqs = 0;
	int ret = 0;
	bool stdin_read = false;

	strv_init(&queues);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *verb = NULL;

		if (strcmp(a, "-c") == 0 && i + 1 < argc) {
			cli->config_dir = argv[++i];
			continue;
		}
		if (strcmp(a, "-v") == 0 || strcmp(a, "-s") == 0 ||
		    strcmp(a, "-p") == 0 || strcmp(a, "-S") == 0)
			continue;
		for (size_t k = 0; k < N_ELEMENTS(opts); k++)
			if (strcmp(a, opts[k].opt) == 0)
				verb = opts[k].verb;
		if (verb == NULL && a[0] != '-' && is_queue_name(a)) {
			if (strcmp(a, "maildrop") != 0)
				strv_add(&queues, a);
			continue;
		}
		if (verb == NULL || i + 1 >= argc) {
			log_error("usage: postsuper [-c DIR] [-d|-h|-H|-r "
			    "QUEUEID|ALL|-]... [incoming|active|deferred|"
			    "hold...] (\"%s\" is not one of those)", a);
			ret = 2;
			goto out;
		}
		a = argv[++i];
		if (strcmp(a, "-") == 0) {
			char line[POSTSUPER_LINE_MAX];

			if (stdin_read) {
				log_error("postsuper: \"-\" (queue IDs from "
				    "standard input) may be given once");
				ret = 2;
				goto out;
			}
			stdin_read = true;
			while (fgets(line, sizeof(line), stdin) != NULL) {
				line[strcspn(line, "\r\n")] = '\0';
				if (line[0] == '\0')
					continue;
				reqs = xreallocarray(reqs, nreqs + 1,
				    sizeof(*reqs));
				reqs[nreqs].verb = verb;
				reqs[nreqs++].id = xstrdup(line);
			}
			continue;
		}
		reqs = xreallocarray(reqs, nreqs + 1, sizeof(*reqs));
		reqs[nreqs].verb = verb;
		reqs[nreqs++].id = xstrdup(a);
	}
	if (nreqs == 0) {
		log_error("usage: postsuper [-c DIR] [-d|-h|-H|-r QUEUEID|ALL|"
		    "-]... [incoming|active|deferred|hold...]");
		ret = 2;
		goto out;
	}
	for (size_t i = 0; i < nreqs; i++) {
		const char *words[7];
		int n = 0, r;

		words[n++] = reqs[i].verb;
		words[n++] = reqs[i].id;
		if (strcmp(reqs[i].id, "ALL") == 0)
			for (size_t q = 0; q < queues.n && n < 6; q++)
				words[n++] = queues.v[q];
		else if (!queue_id_is_valid(reqs[i].id)) {
			log_error("postsuper: \"%.100s\" is not a queue ID",
			    reqs[i].id);
			ret = ret > 2 ? ret : 2;
			continue;
		}
		r = run_queue(cli, n, words);
		if (r > ret)
			ret = r;
	}
out:
	for (size_t i = 0; i < nreqs; i++)
		free(reqs[i].id);
	free(reqs);
	strv_deinit(&queues);
	return ret;
}

static int
postfix(struct cli *cli, int argc, char **argv)
{
	static const struct {
		const char *word;
		int (*fn)(struct cli *, int, char **);
		const char *as;
	} cmds[] = {
		{ "start", cmd_start, "start" }, { "stop", cmd_stop, "stop" },
		{ "abort", cmd_stop, "stop" }, { "reload", cmd_reload, "reload" },
		{ "status", cmd_status, "status" }, { "check", cmd_check, "check" },
		{ "start-fg", cmd_run, "run" },
	};
	const char *word = NULL;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			cli->config_dir = argv[++i];
		else if (strcmp(argv[i], "-v") == 0 ||
		    strcmp(argv[i], "-D") == 0)
			continue;
		else if (word == NULL && argv[i][0] != '-')
			word = argv[i];
		else
			word = "";
	}
	if (word != NULL && strcmp(word, "flush") == 0) {
		const char *flush[] = { "flush" };

		return run_queue(cli, 1, flush);
	}
	if (word != NULL && (strcmp(word, "set-permissions") == 0 ||
	    strcmp(word, "upgrade-configuration") == 0)) {
		printf("postfix %s: nothing to do: Ostia's master creates its "
		    "directories and sets their owners and modes at every "
		    "start\n", word);
		return 0;
	}
	for (size_t k = 0; word != NULL && k < N_ELEMENTS(cmds); k++)
		if (strcmp(word, cmds[k].word) == 0) {
			char *a[] = { UNCONST(cmds[k].as), NULL };

			return cmds[k].fn(cli, 1, a);
		}
	log_error("usage: postfix [-c DIR] start|stop|abort|reload|status|"
	    "check|flush|start-fg%s%s%s", word != NULL && word[0] != '\0' ?
	    " (\"" : "", word != NULL ? word : "", word != NULL &&
	    word[0] != '\0' ? "\" is not one of those)" : "");
	return 2;
}

static int
postcat(struct cli *cli, int argc, char **argv)
{
	const char *id = NULL;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			cli->config_dir = argv[++i];
		} else if (strcmp(argv[i], "-q") == 0 && i + 1 < argc &&
		    id == NULL) {
			id = argv[++i];
		} else if (strcmp(argv[i], "-e") != 0 &&
		    strcmp(argv[i], "-h") != 0 && strcmp(argv[i], "-b") != 0 &&
		    strcmp(argv[i], "-v") != 0) {
			id = NULL;
			break;
		}
	}
	if (id == NULL) {
		log_error("usage: postcat [-c DIR] -q QUEUEID (Ostia's queue "
		    "files are read by queue ID, not by path)");
		return 2;
	}
	{
		const char *show[] = { "show", id };

		return run_queue(cli, 2, show);
	}
}

int
cmd_postfix_name(struct cli *cli, const char *name, int argc, char **argv)
{
	if (strcmp(name, "postfix") == 0)
		return postfix(cli, argc, argv);
	if (strcmp(name, "postcat") == 0)
		return postcat(cli, argc, argv);
	if (strcmp(name, "postconf") == 0)
		return cmd_conf(cli, argc, argv);
	if (strcmp(name, "postmap") == 0)
		return cmd_map(cli, argc, argv);
	if (strcmp(name, "postqueue") == 0)
		return postqueue(cli, argc, argv);
	if (strcmp(name, "postsuper") == 0)
		return postsuper(cli, argc, argv);
	return -1;
}
