/* SPDX-License-Identifier: MIT */
/*
 * cmd_route - `ostia route` (where addresses go, like Postfix's
 * `sendmail -bv` without sending, or trivial-rewrite's resolver asked
 * by hand) and `ostia newaliases` (build the alias_database files).
 *
 *   ostia route [-c DIR] [-s SERVICE[/TYPE]] [-f SENDER] [-v] ADDRESS...
 *
 * Loads the configuration (main.cf, and master.cf with -s: that
 * service's view, main.cf plus its -o), opens the routing tables
 * itself (route.h; "proxy:" is dropped: the tables are opened
 * directly, with the privileges of whoever runs the command) and prints
 * for each address, as an SMTP server would see it after "RCPT TO:":
 * the address after rewriting, its class, transport and next hop, the
 * flags, whether it is a listed recipient (and the reply a RCPT would
 * get when not), whether it is an authorized destination for
 * reject_unauth_destination, its virtual alias expansion, and every
 * rewriting step.  An ADDRESS with an '@' is parsed as an RCPT TO path
 * ("<a@b>" or a@b, source routes dropped); one without is a local
 * name, resolved with @$myorigin.  "<>" is the null address.  With -f,
 * the next hop is the one mail from SENDER takes: its
 * sender_dependent_relayhost_maps entry replaces relayhost where the
 * route allows it, as the queue manager does.
 *
 * Exit: 0 every address resolved and listed, 1 some address is
 * unlisted or not an address, 2 a configuration or table error (a
 * temporary failure: the mail system would defer), or a usage error.
 *
 *   ostia newaliases [-c DIR]
 *
 * For each table of alias_database: hash: and lmdb: tables are built
 * as FILE.lmdb from the aliases(5) text FILE ("name: value", lines
 * starting with white space continue, '#' comment lines); an error
 * names FILE and line and leaves the old FILE.lmdb alone.  Other types
 * (texthash:, ...) are read as they are: nothing to build, they are
 * only opened to check them.  Exit 0 when every table was built and
 * opens, 1 otherwise.
 *
 * Trust: as root, table files must be owned by root or mail_owner
 * (as the mail system requires); as anyone else, by root or that user.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "address.h"
#include "buf.h"
#include "cli.h"
#include "config.h"
#include "diag.h"
#include "dict.h"
#include "dict_lmdb.h"
#include "dict_text.h"
#include "log.h"
#include "lookup_tables.h"
#include "maps.h"
#include "privs.h"
#include "route.h"
#include "strv.h"
#include "xalloc.h"

#define ROUTE_EXIT_OK 0
#define ROUTE_EXIT_UNLISTED 1
#define ROUTE_EXIT_TEMPFAIL 2

/*
 * trusted - whose table files are trusted besides root's: as root,
 * mail_owner's; otherwise the invoking user's.
 */
static uid_t
trusted(const struct config *cf)
{
	struct privs_user u;
	char *perr = NULL;
	uid_t uid = 0;

	if (geteuid() != 0)
		return geteuid();
	if (privs_user_resolve(config_str(config_main(cf), P_mail_owner),
	    false, &u, &perr) < 0) {
		log_warning("%s: trusting only table files owned by root",
		    perr);
		free(perr);
		return 0;
	}
	uid = u.uid;
	privs_user_deinit(&u);
	return uid;
}

/* open_unproxied - a table opened directly (proxy: dropped). */
static struct dict *
open_unproxied(const void *ctx, const char *spec, char *err, size_t errsz)
{
	return dict_open(lookup_tables_unproxy(spec), ctx, err, errsz);
}

/*
 * open_tables - the route.h opener of the command: every table of the
 * list opened directly (proxy: dropped); ctx is the dict_open_opts.
 */
static struct maps *
open_tables(void *ctx, const char *param, const char *value, char *err,
    size_t errsz)
{
	return maps_open_with(param, value, open_unproxied, ctx, false, err,
	    errsz);
}

/* find_view - the view of SERVICE[/TYPE] in master.cf, or NULL. */
static const struct config_view *
find_view(const struct config *cf, const char *arg)
{
	const struct master_cf *mcf = config_master(cf);
	const char *slash = strchr(arg, '/');
	size_t nlen = slash != NULL ? (size_t)(slash - arg) : strlen(arg);

	if (mcf == NULL)
		return NULL;
	for (size_t i = 0; i < mcf->nservices; i++) {
		const struct master_service *s = &mcf->services[i];

		if (strlen(s->name) != nlen || strncmp(s->name, arg, nlen) != 0)
			continue;
		if (slash != NULL &&
		    strcmp(master_type_name(s->type), slash + 1) != 0)
			continue;
		return config_service(cf, i);
	}
	return NULL;
}

static const char *
flag_names(unsigned flags, char *buf, size_t bufsz)
{
	snprintf(buf, bufsz, "%s%s%s%s%s", (flags & ROUTE_F_ROUTED) ?
	    " routed" : "", (flags & ROUTE_F_POSTMASTER) ? " postmaster" : "",
	    (flags & ROUTE_F_LITERAL) ? " literal" : "",
	    (flags & ROUTE_F_RELAYHOST) ? " relayhost" : "",
	    (flags & ROUTE_F_DEFAULT_TRANSPORT) ? " default-transport" : "");
	return buf[0] != '\0' ? buf + 1 : "-";
}

/*
 * rcpt_address - the address as an SMTP server gets it: a path parsed
 * by address.h (source route dropped), a bare local name, or "" for
 * "<>".  A path the SMTP server would refuse is resolved as written
 * (angle brackets removed), with *refused_r saying why.
 */
static char *
rcpt_address(const char *arg, const char **refused_r)
{
	struct address a;
	size_t used = 0, len = strlen(arg);
	char *text;

	*refused_r = NULL;
	if (strcmp(arg, "<>") == 0 || arg[0] == '\0')
		return xstrdup("");
	if (strchr(arg, '@') != NULL) {
		if (address_parse_path(arg, len, ADDRESS_SMTPUTF8 |
		    ADDRESS_NULL_OK | ADDRESS_POSTMASTER_OK, &a, &used,
		    refused_r) == ADDRESS_OK) {
			if (used == len) {
				text = xstrdup(a.text);
				address_deinit(&a);
				return text;
			}
			address_deinit(&a);
			*refused_r = "text after the address";
		}
		if (*refused_r == NULL)
			*refused_r = "syntax error";
	}
	if (len >= 2 && arg[0] == '<' && arg[len - 1] == '>')
		return xstrndup(arg + 1, len - 2);
	return xstrdup(arg);
}

/* route_one - print one address; returns its exit status. */
/*
 * sender_entry - `-f SENDER`: the sender's one-word entry in param (the
 * address, then @domain; the null sender as null_key), as the queue
 * manager looks it up.  1 with the word in out, 0 with none (what was
 * found in words in note: no entry, DUNNO, not set), -1 with note
 * saying why when the table fails or the entry is not one word.
 */
static int
sender_entry(struct route_tables *rt, const char *param, const char *sender,
    const char *null_key, const char *delim, char *out, size_t outsz,
    char *note, size_t notesz)
{
	struct maps *m = NULL;
	struct maps_result res;
	enum dict_status st;
	char err[ROUTE_ERR_MAX_BYTES];
	int ret = 0;

	if (route_tables_maps(rt, param, &m, err, sizeof(err)) < 0) {
		snprintf(note, notesz, "%s", err);
		return -1;
	}
	if (m == NULL) {
		snprintf(note, notesz, "not set");
		return 0;
	}
	maps_result_init(&res);
	st = *sender != '\0' ? maps_find_address(m, sender, delim, 0, &res) :
	    maps_find_result(m, null_key, &res);
	if (st == DICT_TEMPFAIL) {
		snprintf(note, notesz, "lookup failed: %s", res.err);
		ret = -1;
	} else if (st == DICT_FOUND) {
		char **w = config_split_list(buf_cstr(&res.value));

		if (w[0] == NULL || w[1] != NULL || w[0][0] == ':') {
			snprintf(note, notesz, "the entry for <%s> is not one "
			    "word", sender);
			ret = -1;
		} else if (strcasecmp(w[0], "DUNNO") == 0) {
			snprintf(note, notesz, "DUNNO: no change");
		} else {
			snprintf(out, outsz, "%s", w[0]);
			ret = 1;
		}
		strv_free(&w);
	} else {
		snprintf(note, notesz, "no entry for <%s>", sender);
	}
	maps_result_deinit(&res);
	return ret;
}

/*
 * sender_routes - `-f SENDER`: apply the sender's
 * sender_dependent_default_transport_maps entry (where the route
 * carries ROUTE_F_DEFAULT_TRANSPORT) and sender_dependent_relayhost_maps
 * entry (ROUTE_F_RELAYHOST) to r, as the queue manager does, and print
 * what each did.  -1 when a table failed.
 */
static int
sender_routes(struct route_tables *rt, const struct config_view *view,
    const char *sender, struct route_result *r)
{
	const char *delim = config_str(view, P_recipient_delimiter);
	char note[ROUTE_ERR_MAX_BYTES + 64], word[ROUTE_ERR_MAX_BYTES];
	bool relayhost = (r->flags & ROUTE_F_RELAYHOST) != 0;
	int ret = 0, k;

	if ((r->flags & ROUTE_F_DEFAULT_TRANSPORT) == 0) {
		printf("  sender <%s>: sender_dependent_default_transport_maps "
		    "does not apply (not the default transport)\n", sender);
	} else if ((k = sender_entry(rt,
	    "sender_dependent_default_transport_maps", sender,
	    config_str(view, P_empty_address_default_transport_maps_lookup_key),
	    delim, word, sizeof(word), note, sizeof(note))) < 0) {
		printf("  sender <%s>: temporary failure: "
		    "sender_dependent_default_transport_maps: %s\n", sender,
		    note);
		ret = -1;
	} else if (k == 0) {
		printf("  sender <%s>: sender_dependent_default_transport_maps "
		    "%s\n", sender, note);
	} else {
		char *colon = strchr(word, ':');

		printf("  sender <%s>: sender_dependent_default_transport_maps "
		    "gives %s\n", sender, word);
		if (colon != NULL && colon[1] != '\0') {
			snprintf(r->nexthop, sizeof(r->nexthop), "%s",
			    colon + 1);
			relayhost = false;
		}
		if (colon != NULL)
			*colon = '\0';
		if (strlen(word) < sizeof(r->transport))
			memcpy(r->transport, word, strlen(word) + 1);
	}
	if (!relayhost) {
		printf("  sender <%s>: sender_dependent_relayhost_maps does not "
		    "apply (a transport setting or transport_maps gives the "
		    "next hop, or the mail stays here)\n", sender);
	} else if ((k = sender_entry(rt, "sender_dependent_relayhost_maps",
	    sender, config_str(view,
	    P_empty_address_relayhost_maps_lookup_key), delim, word,
	    sizeof(word), note, sizeof(note))) < 0) {
		printf("  sender <%s>: temporary failure: "
		    "sender_dependent_relayhost_maps: %s\n", sender, note);
		ret = -1;
	} else if (k == 0) {
		printf("  sender <%s>: sender_dependent_relayhost_maps %s\n",
		    sender, note);
	} else {
		printf("  sender <%s>: sender_dependent_relayhost_maps next hop "
		    "%s instead of %s\n", sender, word, r->nexthop);
		snprintf(r->nexthop, sizeof(r->nexthop), "%s", word);
	}
	if (ret == 0) {
		printf("  transport for this sender: %s\n", r->transport[0] ?
		    r->transport : "-");
		printf("  nexthop for this sender: %s\n", r->nexthop[0] ?
		    r->nexthop : "-");
	}
	return ret;
}

static int
route_one(struct route_tables *rt, const char *arg, const char *sender,
    const struct config_view *view)
{
	struct route_result r;
	struct route_verdict v;
	char err[ROUTE_ERR_MAX_BYTES], fl[64], **rcpts = NULL;
	const char *refused = NULL;
	char *addr = rcpt_address(arg, &refused);
	int ret = ROUTE_EXIT_OK;

	printf("address: %s\n", arg);
	if (refused != NULL) {
		/* Shown anyway: how the resolver treats such forms. */
		printf("  syntax: an SMTP server refuses this path (%s); "
		    "resolved as written\n", refused);
		ret = ROUTE_EXIT_UNLISTED;
	}
	route_result_init(&r);
	if (route_resolve(rt, addr, &r) != ROUTE_OK) {
		printf("  error: temporary failure: %s\n", r.err);
		ret = ROUTE_EXIT_TEMPFAIL;
		goto steps;
	}
	{
		/* What would be queued: canonical mapping and BCC of the
		 * address as a recipient. */
		char mapped[ROUTE_ADDRESS_MAX_BYTES], *bcc = NULL;

		if (route_rewrite(rt, addr, false, mapped, sizeof(mapped), &bcc,
		    &r) != ROUTE_OK) {
			printf("  queued as: temporary failure: %s\n", r.err);
			ret = ROUTE_EXIT_TEMPFAIL;
		} else {
			printf("  queued as: %s%s%s%s\n", mapped[0] ? mapped :
			    "<>", bcc != NULL ? " (BCC " : "", bcc != NULL ?
			    bcc : "", bcc != NULL ? ")" : "");
		}
		free(bcc);
	}
	printf("  resolved: %s\n", r.address[0] ? r.address : "<>");
	printf("  class: %s\n", route_class_name(r.cls));
	printf("  transport: %s\n", r.transport[0] ? r.transport : "-");
	printf("  nexthop: %s\n", r.nexthop[0] ? r.nexthop : "-");
	if (sender != NULL && sender_routes(rt, view, sender, &r) < 0)
		ret = ROUTE_EXIT_TEMPFAIL;
	printf("  flags: %s\n", flag_names(r.flags, fl, sizeof(fl)));
	if (route_check_listed(rt, &r, &v, err, sizeof(err)) != ROUTE_OK) {
		printf("  listed: temporary failure: %s\n", err);
		printf("  reply: %d %s <%s>: Recipient address rejected: %s\n",
		    v.code, v.dsn, addr, v.text);
		ret = ROUTE_EXIT_TEMPFAIL;
	} else if (v.listed == ROUTE_UNLISTED) {
		printf("  listed: no\n");
		printf("  reply: %d %s <%s>: Recipient address rejected: %s\n",
		    v.code, v.dsn, addr, v.text);
		if (ret < ROUTE_EXIT_UNLISTED)
			ret = ROUTE_EXIT_UNLISTED;
	} else {
		printf("  listed: yes\n");
	}
	printf("  authorized destination: %s\n", r.cls == ROUTE_DEFAULT ?
	    "no (reject_unauth_destination refuses it unless the client "
	    "may relay)" : (r.flags & ROUTE_F_ROUTED) ? "no (the local part "
	    "routes elsewhere)" : "yes");
	if (route_expand_aliases(rt, r.address, &rcpts, &r) != ROUTE_OK) {
		printf("  virtual aliases: temporary failure: %s\n", r.err);
		ret = ROUTE_EXIT_TEMPFAIL;
	} else {
		printf("  virtual aliases:");
		if (rcpts[0] != NULL && rcpts[1] == NULL &&
		    strcmp(rcpts[0], r.address) == 0) {
			printf(" none\n");
		} else {
			for (size_t i = 0; rcpts[i] != NULL; i++)
				printf("%s %s", i ? "," : "", rcpts[i]);
			printf("\n");
		}
		strv_free(&rcpts);
	}
steps:
	printf("  steps:\n");
	for (size_t i = 0; i < r.nsteps; i++)
		printf("    %zu. %s\n", i + 1, r.steps[i]);
	printf("\n");
	route_result_deinit(&r);
	free(addr);
	return ret;
}

static void
route_usage(void)
{
	log_error("usage: ostia route [-c DIR] [-s SERVICE[/TYPE]] [-f SENDER] "
	    "[-v] ADDRESS...");
}

/*
 * load - the configuration (with master.cf when with_master), its
 * errors printed; NULL when it has errors.
 */
static struct config *
load(struct cli *cli, bool with_master)
{
	struct diag_list diags;
	struct config *cf;

	diag_list_init(&diags);
	cf = config_load(cli->config_dir, CONFIG_LOAD_QUIET |
	    (with_master ? 0 : CONFIG_LOAD_NO_MASTER), &diags);
	if (cf == NULL) {
		(void)cli_print_diags(&diags);
		log_error("%s: the configuration has errors",
		    cli->config_dir);
	}
	diag_list_deinit(&diags);
	return cf;
}

int
cmd_route(struct cli *cli, int argc, char **argv)
{
	const char *service = NULL, *sender = NULL;
	const struct config_view *v;
	struct dict_open_opts opts;
	struct route_tables *rt;
	struct config *cf;
	char err[ROUTE_ERR_MAX_BYTES];
	int i, ret = ROUTE_EXIT_OK;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			cli->config_dir = argv[++i];
		} else if (strcmp(argv[i], "-s") == 0 && i + 1 < argc) {
			service = argv[++i];
		} else if (strcmp(argv[i], "-f") == 0 && i + 1 < argc) {
			sender = argv[++i];
			if (strcmp(sender, "<>") == 0)
				sender = "";
		} else if (strcmp(argv[i], "-v") == 0) {
			cli->verbose++;
		} else if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			log_error("route: unknown option \"%s\"", argv[i]);
			route_usage();
			return 2;
		} else {
			break;
		}
	}
	if (i >= argc) {
		route_usage();
		return 2;
	}
	log_set_verbose(cli->verbose);
	if ((cf = load(cli, service != NULL)) == NULL)
		return ROUTE_EXIT_TEMPFAIL;
	v = config_main(cf);
	if (service != NULL && (v = find_view(cf, service)) == NULL) {
		log_error("route: no service \"%s\" in %s", service,
		    config_master_cf_path(cf));
		config_free(&cf);
		return 2;
	}
	dict_open_opts_init(&opts);
	opts.trusted_uid = trusted(cf);
	opts.config_dir = config_dir(cf);
	rt = route_tables_new(v, open_tables, &opts, err, sizeof(err));
	if (rt == NULL) {
		log_error("route: %s", err);
		config_free(&cf);
		return ROUTE_EXIT_TEMPFAIL;
	}
	for (; i < argc; i++) {
		int r = route_one(rt, argv[i], sender, v);

		if (r > ret)
			ret = r;
	}
	if (fflush(stdout) != 0)
		ret = ROUTE_EXIT_TEMPFAIL;
	route_tables_free(&rt);
	config_free(&cf);
	return ret;
}

/* ------------------------------------------------------------ newaliases */

/*
 * aliases_to_postmap - aliases(5) text into postmap text, line for line
 * (so that errors keep their line numbers): in each line that starts an
 * entry, the first ':' outside double quotes becomes a space.  -1 with
 * err ("FILE, line N: ...") for an entry line without ':'.
 */
static int
aliases_to_postmap(const char *path, char *text, size_t len, char *err,
    size_t errsz)
{
	unsigned line = 1;
	bool start = true;

	for (size_t i = 0; i < len; i++) {
		if (start) {
			size_t j = i;
			bool q = false;

			start = false;
			/* Continuation, comment and empty lines stay. */
			if (text[i] == ' ' || text[i] == '\t' ||
			    text[i] == '\n' || text[i] == '\r')
				goto scan;
			while (j < len && (text[j] == ' ' || text[j] == '\t'))
				j++;
			if (j < len && text[j] == '#')
				goto scan;
			for (j = i; j < len && text[j] != '\n'; j++) {
				if (q && text[j] == '\\' && j + 1 < len) {
					j++;
					continue;
				}
				if (text[j] == '"')
					q = !q;
				else if (!q && text[j] == ':')
					break;
			}
			if (j >= len || text[j] != ':') {
				snprintf(err, errsz, "%s, line %u: no ':' "
				    "after the alias name (aliases(5): name: "
				    "value, value)", path, line);
				return -1;
			}
			text[j] = ' ';
		}
scan:
		if (text[i] == '\n') {
			line++;
			start = true;
		}
	}
	return 0;
}

/* build_aliases - FILE.lmdb from the aliases(5) file path. */
static int
build_aliases(const char *path, const struct dict_open_opts *opts)
{
	char err[DICT_ERR_MAX_BYTES], *text = NULL, *out;
	struct dict_text t;
	struct stat st;
	size_t len = 0;
	int ret = 1;

	if (dict_text_read_file(path, opts, DICT_TEXT_MAX_FILE_BYTES, &text,
	    &len, &st, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return 1;
	}
	if (aliases_to_postmap(path, text, len, err, sizeof(err)) < 0) {
		log_error("%s", err);
		free(text);
		return 1;
	}
	if (dict_text_parse(&t, path, DICT_TEXT_FOLD, text, len, err,
	    sizeof(err)) < 0) {
		log_error("%s", err);
		goto out;
	}
	for (size_t i = 0; i < t.warnings.n; i++)
		log_warning("%s", t.warnings.v[i]);
	out = xasprintf("%s%s", path, DICT_LMDB_SUFFIX);
	if (dict_lmdb_build(out, &t, 0600 | (st.st_mode & 0044), true, err,
	    sizeof(err)) < 0) {
		log_error("%s", err);
	} else {
		printf("%s: built from %s (%zu aliases)\n", out, path, t.n);
		ret = 0;
	}
	free(out);
out:
	dict_text_deinit(&t);
	free(text);
	return ret;
}

int
cmd_newaliases(struct cli *cli, int argc, char **argv)
{
	struct dict_open_opts opts;
	struct config *cf;
	char **specs, err[DICT_ERR_MAX_BYTES];
	int ret = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			cli->config_dir = argv[++i];
		} else if (strcmp(argv[i], "-v") == 0) {
			cli->verbose++;
		} else {
			log_error("usage: ostia newaliases [-c DIR]");
			return 2;
		}
	}
	log_set_verbose(cli->verbose);
	if ((cf = load(cli, false)) == NULL)
		return 1;
	dict_open_opts_init(&opts);
	opts.trusted_uid = trusted(cf);
	opts.config_dir = config_dir(cf);
	specs = config_list(config_main(cf), P_alias_database);
	if (specs[0] == NULL)
		printf("alias_database is empty: nothing to build\n");
	for (size_t i = 0; specs[i] != NULL; i++) {
		const char *spec = lookup_tables_unproxy(specs[i]);
		const char *colon = strchr(spec, ':');
		size_t tlen = colon != NULL ? (size_t)(colon - spec) : 0;
		struct dict *d;

		if (colon != NULL && ((tlen == 4 &&
		    strncmp(spec, "hash", 4) == 0) || (tlen == 4 &&
		    strncmp(spec, "lmdb", 4) == 0))) {
			if (build_aliases(colon + 1, &opts) != 0) {
				ret = 1;
				continue;
			}
		} else {
			printf("%s: nothing to build (this type is read as it "
			    "is)\n", spec);
		}
		d = dict_open(spec, &opts, err, sizeof(err));
		if (d == NULL) {
			log_error("alias_database: %s", err);
			ret = 1;
			continue;
		}
		printf("%s: opens\n", spec);
		dict_close(d);
	}
	strv_free(&specs);
	if (fflush(stdout) != 0)
		ret = 1;
	config_free(&cf);
	return ret;
}
