/* SPDX-License-Identifier: MIT */
/*
 * cmd_lookup - ask the running lookup process (lookup_client.h,
 * blocking) what a daemon would ask it:
 *
 *   ostia lookup [--no-cache] TABLE KEY...
 *       GET: what TABLE says for each KEY.
 *   ostia lookup [--no-cache] --find ORDER [--flags F,...]
 *           [--delimiter CHARS] TABLES KEY...
 *       FIND: search the list TABLES ("hash:/a, pcre:/b", one argument)
 *       for each KEY in ORDER: exact, address (maps_find_address),
 *       domain (maps_find_domain) or client (maps_find_client_addr).
 *       --flags: user, access, parent (parent domains match
 *       subdomains), no_owner_request_special, as maps.h describes;
 *       --delimiter: recipient_delimiter (address order only).
 *   ostia lookup [--no-cache] --route OP [--service NAME] ADDRESS...
 *       ROUTE: resolve (class, flags, address, transport, next hop),
 *       check (the same and whether the recipient is known) or expand
 *       (the same and the virtual alias expansion) each ADDRESS for a
 *       service's view of the configuration (NAME as in master.cf,
 *       "NAME/TYPE" to pick one of several entries; default main.cf).
 *
 * TABLE is written as in main.cf ("texthash:/etc/ostia/virtual",
 * "proxy:mysql:/etc/ostia/mysql/virtual.cf"; proxy: or not, it is the
 * same table).  The lookup process answers only for tables that the
 * configuration names.  GET and FIND print each value found on a line
 * of its own and nothing for a key not found; ROUTE prints each answer's
 * "name=value" lines, with an empty line between two addresses.
 *
 * Exit: 0 every key found (ROUTE: every address answered, and known for
 * check), 1 some key not found (ROUTE check: some recipient unknown), 2
 * usage, 75 (EX_TEMPFAIL) a lookup failed for now (the reason on
 * stderr: the lookup process is not running, the table cannot answer,
 * the answer is malformed ...).  Needs to be root or mail_owner (the
 * socket is private/lookup, mode 0600).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "diag.h"
#include "log.h"
#include "lookup_client.h"
#include "lookup_proto.h"
#include "maps.h"
#include "xalloc.h"

#define EXIT_TEMPFAIL 75
/* The lookup process normally answers in microseconds; a SQL table may
 * take its connect timeout. */
#define CMD_LOOKUP_TIMEOUT_MS (60 * 1000)

enum mode {
	MODE_GET,
	MODE_FIND,
	MODE_ROUTE,
};

static const struct {
	const char *word;
	unsigned flag;
} find_flags[] = {
	{ "user", MAPS_ADDR_USER },
	{ "access", MAPS_ADDR_ACCESS },
	{ "parent", MAPS_ADDR_PARENT_MATCHES_SUBDOMAINS },
	{ "no_owner_request_special", MAPS_ADDR_NO_OWNER_REQUEST_SPECIAL },
};

/* parse_flags - "user,access" -> MAPS_ADDR_*; -1 on an unknown word. */
static int
parse_flags(const char *text, unsigned *flags_r)
{
	char *copy = xstrdup(text), *p = copy, *w;
	unsigned flags = 0;
	int ret = 0;

	while ((w = strsep(&p, ",")) != NULL) {
		size_t i;

		if (w[0] == '\0')
			continue;
		for (i = 0; i < sizeof(find_flags) / sizeof(find_flags[0]);
		    i++)
			if (strcmp(w, find_flags[i].word) == 0)
				break;
		if (i == sizeof(find_flags) / sizeof(find_flags[0])) {
			log_error("--flags: unknown flag \"%s\" (user, access, "
			    "parent, no_owner_request_special)", w);
			ret = -1;
			break;
		}
		flags |= find_flags[i].flag;
	}
	free(copy);
	*flags_r = flags;
	return ret;
}

static int
usage(void)
{
	log_error("usage: ostia lookup [--no-cache] TABLE KEY...");
	log_error("usage: ostia lookup [--no-cache] --find exact|address|"
	    "domain|client [--flags F,...] [--delimiter CHARS] TABLES KEY...");
	log_error("usage: ostia lookup [--no-cache] --route resolve|check|"
	    "expand [--service NAME] ADDRESS...");
	return 2;
}

/* route_one - ask and print one ROUTE answer; the exit status. */
static int
route_one(struct lookup_sync *s, const char *service, enum lookup_route_op op,
    const char *address, unsigned flags, struct buf *value)
{
	struct lookup_route_answer a;
	char err[DICT_ERR_MAX_BYTES];
	enum dict_status st;
	int ret = 0;

	st = lookup_sync_route(s, service, op, address, flags, value, err,
	    sizeof(err));
	if (st != DICT_FOUND) {
		log_error("%s: %s", address, err);
		return EXIT_TEMPFAIL;
	}
	if (lookup_route_answer_parse(value->data != NULL ? value->data : "",
	    value->len, &a) < 0) {
		log_error("%s: malformed answer from the lookup process", address);
		return EXIT_TEMPFAIL;
	}
	if (op == LOOKUP_ROUTE_CHECK && (!a.has_listed || !a.listed))
		ret = 1;
	lookup_route_answer_deinit(&a);
	fwrite(value->data, 1, value->len, stdout);
	return ret;
}

int
cmd_lookup(struct cli *cli, int argc, char **argv)
{
	struct diag_list diags;
	struct config *cf;
	struct lookup_sync *s;
	struct buf value;
	enum mode mode = MODE_GET;
	enum lookup_find_order order = LOOKUP_FIND_EXACT;
	enum lookup_route_op op = LOOKUP_ROUTE_RESOLVE;
	const char *table = NULL, *service = "", *delimiter = "";
	unsigned flags = 0, mflags = 0;
	char *path;
	int i, first_key = -1, ret = 0;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			cli->config_dir = argv[++i];
		} else if (strcmp(argv[i], "--no-cache") == 0) {
			flags |= LOOKUP_F_NOCACHE;
		} else if (strcmp(argv[i], "--find") == 0 && i + 1 < argc) {
			if (mode != MODE_GET ||
			    lookup_find_order_parse(argv[++i], &order) < 0)
				return usage();
			mode = MODE_FIND;
		} else if (strcmp(argv[i], "--flags") == 0 && i + 1 < argc) {
			if (parse_flags(argv[++i], &mflags) < 0)
				return 2;
		} else if (strcmp(argv[i], "--delimiter") == 0 &&
		    i + 1 < argc) {
			delimiter = argv[++i];
		} else if (strcmp(argv[i], "--route") == 0 && i + 1 < argc) {
			if (mode != MODE_GET ||
			    lookup_route_op_parse(argv[++i], &op) < 0)
				return usage();
			mode = MODE_ROUTE;
		} else if (strcmp(argv[i], "--service") == 0 && i + 1 < argc) {
			service = argv[++i];
		} else if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			return usage();
		} else {
			break;
		}
	}
	if (mode != MODE_ROUTE && i < argc)
		table = argv[i++];
	first_key = i;
	if ((mode != MODE_ROUTE && table == NULL) || first_key >= argc)
		return usage();
	if ((mode != MODE_FIND && (mflags != 0 || delimiter[0] != '\0')) ||
	    (mode != MODE_ROUTE && service[0] != '\0'))
		return usage();
	if (mode == MODE_FIND && !lookup_find_args_ok(order, mflags,
	    order == LOOKUP_FIND_ADDRESS ? delimiter : "")) {
		log_error("--find %s: takes %s", lookup_find_order_name(order),
		    order == LOOKUP_FIND_ADDRESS ? "the flags user, access, "
		    "parent, no_owner_request_special and a --delimiter of at "
		    "most 64 characters" : order == LOOKUP_FIND_DOMAIN ?
		    "no --delimiter and no flag but parent" :
		    "no --flags and no --delimiter");
		return 2;
	}
	diag_list_init(&diags);
	cf = config_load(cli->config_dir, CONFIG_LOAD_NO_MASTER |
	    CONFIG_LOAD_QUIET | CONFIG_LOAD_LENIENT, &diags);
	diag_list_deinit(&diags);
	if (cf == NULL) {
		log_error("cannot read the configuration in %s",
		    cli->config_dir);
		return 1;
	}
	path = xasprintf("%s/%s", config_str(config_main(cf),
	    P_queue_directory), LOOKUP_SOCKET_PATH);
	config_free(&cf);
	s = lookup_sync_new(path, CMD_LOOKUP_TIMEOUT_MS);
	buf_init(&value, DICT_VALUE_MAX_BYTES);
	for (i = first_key; i < argc; i++) {
		char err[DICT_ERR_MAX_BYTES];
		enum dict_status st;

		if (mode == MODE_ROUTE) {
			int r;

			if (i > first_key)
				putchar('\n');
			r = route_one(s, service, op, argv[i], flags, &value);
			if (r > ret)
				ret = r;
			continue;
		}
		if (mode == MODE_FIND)
			st = lookup_sync_find(s, table, argv[i], order, mflags,
			    delimiter, flags, &value, err, sizeof(err));
		else
			st = lookup_sync_get(s, table, argv[i], flags, &value,
			    err, sizeof(err));
		if (st == DICT_FOUND) {
			fwrite(value.data, 1, value.len, stdout);
			putchar('\n');
		} else if (st == DICT_NOTFOUND) {
			if (ret == 0)
				ret = 1;
		} else {
			log_error("%s: %s", argv[i], err);
			ret = EXIT_TEMPFAIL;
		}
	}
	fflush(stdout);
	buf_deinit(&value);
	lookup_sync_free(&s);
	free(path);
	return ret;
}
