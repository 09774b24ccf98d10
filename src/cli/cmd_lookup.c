/* SPDX-License-Identifier: MIT */
/*
 * cmd_lookup - `ostia lookup [--no-cache] TABLE KEY...`: ask the running
 * lookup process (lookup_client.h, blocking) what TABLE says for each
 * KEY, as a daemon would.
 *
 * TABLE is written as in main.cf ("texthash:/etc/ostia/virtual",
 * "proxy:mysql:/etc/ostia/mysql/virtual.cf"; proxy: or not, it is the
 * same table).  The lookup process answers only for tables that the
 * configuration names.  For each key found its value is printed on a
 * line of its own; nothing is printed for a key not found.
 *
 * Exit: 0 every key found, 1 some key not found, 2 usage, 75 (EX_TEMPFAIL)
 * a lookup failed for now (the reason on stderr: the lookup process is
 * not running, the table cannot answer, ...).  Needs to be root or
 * mail_owner (the socket is private/lookup, mode 0600).
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
#include "xalloc.h"

#define EXIT_TEMPFAIL 75
/* The lookup process normally answers in microseconds; a SQL table may
 * take its connect timeout. */
#define CMD_LOOKUP_TIMEOUT_MS (60 * 1000)

int
cmd_lookup(struct cli *cli, int argc, char **argv)
{
	struct diag_list diags;
	struct config *cf;
	struct lookup_sync *s;
	struct buf value;
	const char *table = NULL;
	unsigned flags = 0;
	char *path;
	int i, first_key = -1, ret = 0;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			cli->config_dir = argv[++i];
		} else if (strcmp(argv[i], "--no-cache") == 0) {
			flags |= LOOKUP_F_NOCACHE;
		} else if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			table = NULL;
			break;
		} else {
			break;
		}
	}
	if (i < argc)
		table = argv[i++];
	first_key = i;
	if (table == NULL || first_key >= argc) {
		log_error("usage: ostia lookup [--no-cache] TABLE KEY...");
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
		enum dict_status st = lookup_sync_get(s, table, argv[i], flags,
		    &value, err, sizeof(err));

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
