/* SPDX-License-Identifier: MIT */
/*
 * cmd_map - `ostia map`: build and query lookup tables, like postmap(1).
 *
 *   ostia map [-f] [type:]FILE...        build FILE.lmdb from the text
 *                                        FILE (type lmdb or hash, default
 *                                        lmdb; both read FILE.lmdb)
 *   ostia map [-f] -q KEY type:NAME...   print the value of KEY from the
 *                                        first table that has it
 *   ostia map [-f] -q - type:NAME...     keys from standard input, one a
 *                                        line; print "key value" for
 *                                        each one found
 *   ostia map -s type:NAME               print every entry ("key value";
 *                                        lmdb, hash, texthash, inline)
 *
 * A name without "type:" means lmdb:NAME.  Keys are folded to lower case
 * when building and when querying, as postmap does; -f keeps their case.
 *
 * Building: the text file is parsed completely first (dict_text.h: an
 * error names FILE, line N and nothing is written; duplicate keys are
 * warnings and the first wins), then FILE.lmdb is written to a temporary
 * file beside it, fsync'ed and renamed into place (dict_lmdb.h), so a
 * running Ostia sees the old table or the new one.  The new file gets
 * owner read/write plus the group and other read permissions of the
 * text file (as postmap).  hash: is accepted for Postfix configurations
 * and builds the same LMDB file: Ostia has no Berkeley DB.
 *
 * Trust: table files (and the text files built from) must be owned by
 * root or the trusted user and not writable by group or others, the
 * rule the mail system applies (dict_check_file()).  As root the trusted
 * user is mail_owner from the configuration (-c DIR); as anyone else it
 * is that user, so people can build and query their own files.
 *
 * Exit status: building 0 or 1 (error on stderr); -q: 0 found (with
 * "-": at least one key found), 1 not found, 75 a table could not answer
 * or could not be opened (the reason on stderr; the mail system would
 * defer); 2 usage.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "dict.h"
#include "dict_lmdb.h"
#include "dict_text.h"
#include "log.h"
#include "privs.h"
#include "xalloc.h"

#define EXIT_TEMPFAIL 75

struct map_args {
	bool fold;
	bool dump;
	const char *query;	/* -q KEY, or "-" */
	char **names;
	int nnames;
};

static void
map_usage(void)
{
	log_error("usage: ostia map [-f] [type:]FILE...  |  ostia map [-f] "
	    "-q KEY|- type:NAME...  |  ostia map -s type:NAME  (hash: and "
	    "lmdb: read FILE.lmdb, built by `ostia map`)");
}

/*
 * trusted_uid - whose table files are trusted besides root's: as root,
 * mail_owner's (when the configuration names an existing account);
 * otherwise the invoking user's.
 */
static uid_t
trusted_uid(struct cli *cli)
{
	struct diag_list diags;
	struct privs_user u;
	struct config *cf;
	char *perr = NULL;
	uid_t uid = 0;

	if (geteuid() != 0)
		return geteuid();
	diag_list_init(&diags);
	cf = config_load(cli->config_dir, CONFIG_LOAD_NO_MASTER |
	    CONFIG_LOAD_QUIET | CONFIG_LOAD_LENIENT, &diags);
	diag_list_deinit(&diags);
	if (cf == NULL) {
		char *main_cf = xasprintf("%s/main.cf", cli->config_dir);

		/* No configuration at all is normal on a build machine. */
		if (access(main_cf, F_OK) == 0 || errno != ENOENT)
			log_warning("cannot read the configuration in %s: "
			    "trusting only table files owned by root",
			    cli->config_dir);
		free(main_cf);
		return 0;
	}
	if (privs_user_resolve(config_str(config_main(cf), P_mail_owner),
	    false, &u, &perr) < 0) {
		log_warning("%s: trusting only table files owned by root",
		    perr);
		free(perr);
	} else {
		uid = u.uid;
		privs_user_deinit(&u);
	}
	config_free(&cf);
	return uid;
}

/*
 * split_spec - the type and name of an argument: "type:name" when it
 * starts with a type-like word and ':', else deftype and the whole
 * argument.  *type_r is a new string (caller frees).
 */
static const char *
split_spec(const char *arg, const char *deftype, char **type_r)
{
	size_t n = strspn(arg, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-");

	if (n > 0 && arg[n] == ':') {
		*type_r = xstrndup(arg, n);
		return arg + n + 1;
	}
	*type_r = xstrdup(deftype);
	return arg;
}

/* ------------------------------------------------------------ build */

static int
build_one(const char *arg, const struct dict_open_opts *opts, bool fold)
{
	char err[DICT_ERR_MAX_BYTES], *type, *out;
	const char *path = split_spec(arg, "lmdb", &type);
	struct dict_text t;
	struct stat st;
	int ret = 1;

	if (strcmp(type, "lmdb") != 0 && strcmp(type, "hash") != 0) {
		log_error("%s: ostia map builds lmdb: and hash: tables only "
		    "(both are FILE.lmdb files); %s: tables are read as they "
		    "are", arg, type);
		free(type);
		return 1;
	}
	if (path[0] == '\0') {
		log_error("%s: no file name", arg);
		free(type);
		return 1;
	}
	if (dict_text_load(&t, path, opts, fold ? DICT_TEXT_FOLD : 0, &st,
	    err, sizeof(err)) < 0) {
		log_error("%s", err);
		dict_text_deinit(&t);
		free(type);
		return 1;
	}
	for (size_t i = 0; i < t.warnings.n; i++)
		log_warning("%s", t.warnings.v[i]);
	out = xasprintf("%s%s", path, DICT_LMDB_SUFFIX);
	if (dict_lmdb_build(out, &t, 0600 | (st.st_mode & 0044), fold, err,
	    sizeof(err)) < 0) {
		log_error("%s", err);
	} else {
		ret = 0;
		if (strcmp(type, "hash") == 0)
			log_info("%s: hash:%s is read from this LMDB file "
			    "(Ostia has no Berkeley DB; hash: and lmdb: are the "
			    "same file)", out, path);
		log_debug(1, "%s: %zu entries", out, t.n);
	}
	free(out);
	dict_text_deinit(&t);
	free(type);
	return ret;
}

/* ------------------------------------------------------------ query */

/*
 * lookup - dict_get(), or with fold false the table's own lookup on the
 * key as given (the checks dict_get makes, without case folding).
 */
static enum dict_status
lookup(struct dict *d, const char *key, bool fold, struct buf *value,
    char *err, size_t errsz)
{
	size_t len = strlen(key);
	enum dict_status st;

	if (fold)
		return dict_get(d, key, value, err, errsz);
	buf_reset(value);
	err[0] = '\0';
	if (len > DICT_KEY_MAX_BYTES)
		return DICT_NOTFOUND;
	st = d->type->lookup(d, key, len, value, err, errsz);
	if (st == DICT_TEMPFAIL && err[0] == '\0')
		snprintf(err, errsz, "%s: lookup failed", d->spec);
	if (st != DICT_FOUND)
		buf_reset(value);
	return st;
}

/*
 * find - key in the tables in order; the first that has it wins, a
 * failure stops the search.
 */
static enum dict_status
find(struct dict **tables, int n, const char *key, bool fold,
    struct buf *value, char *err, size_t errsz)
{
	for (int i = 0; i < n; i++) {
		enum dict_status st = lookup(tables[i], key, fold, value, err,
		    errsz);

		if (st != DICT_NOTFOUND)
			return st;
	}
	return DICT_NOTFOUND;
}

static int
query(const struct map_args *a, const struct dict_open_opts *opts)
{
	struct dict **tables = xcalloc((size_t)a->nnames, sizeof(*tables));
	char err[DICT_ERR_MAX_BYTES];
	struct buf value;
	int ret = 1, opened = 0;
	bool found = false;

	buf_init(&value, DICT_VALUE_MAX_BYTES);
	for (int i = 0; i < a->nnames; i++) {
		char *type, *spec;
		const char *name = split_spec(a->names[i], "lmdb", &type);

		spec = xasprintf("%s:%s", type, name);
		tables[i] = dict_open(spec, opts, err, sizeof(err));
		free(spec);
		free(type);
		if (tables[i] == NULL) {
			log_error("%s", err);
			ret = EXIT_TEMPFAIL;
			goto out;
		}
		opened++;
	}
	if (strcmp(a->query, "-") != 0) {
		enum dict_status st = find(tables, opened, a->query, a->fold,
		    &value, err, sizeof(err));

		if (st == DICT_TEMPFAIL) {
			log_error("%s", err);
			ret = EXIT_TEMPFAIL;
		} else if (st == DICT_FOUND) {
			printf("%s\n", buf_cstr(&value));
			ret = 0;
		}
		goto out;
	}
	for (;;) {
		char line[DICT_KEY_MAX_BYTES + 3];
		size_t len;
		enum dict_status st;

		if (fgets(line, sizeof(line), stdin) == NULL)
			break;
		len = strlen(line);
		if (len > 0 && line[len - 1] != '\n' && !feof(stdin)) {
			int c;

			log_warning("standard input: a key longer than %d "
			    "bytes skipped", DICT_KEY_MAX_BYTES);
			while ((c = getchar()) != EOF && c != '\n')
				;
			continue;
		}
		while (len > 0 && (line[len - 1] == '\n' ||
		    line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0)
			continue;
		st = find(tables, opened, line, a->fold, &value, err,
		    sizeof(err));
		if (st == DICT_TEMPFAIL) {
			log_error("%s", err);
			ret = EXIT_TEMPFAIL;
			goto out;
		}
		if (st == DICT_FOUND) {
			printf("%s %s\n", line, buf_cstr(&value));
			found = true;
		}
	}
	if (ferror(stdin)) {
		log_error("standard input: %s", strerror(errno));
		ret = EXIT_TEMPFAIL;
		goto out;
	}
	ret = found ? 0 : 1;
out:
	if (fflush(stdout) != 0 && ret == 0)
		ret = 1;
	for (int i = 0; i < opened; i++)
		dict_close(tables[i]);
	free(tables);
	buf_deinit(&value);
	return ret;
}

/* ------------------------------------------------------------ dump */

static int
print_entry(void *ctx, const char *key, size_t keylen, const char *value,
    size_t valuelen)
{
	(void)ctx;
	fwrite(key, 1, keylen, stdout);
	putchar(' ');
	fwrite(value, 1, valuelen, stdout);
	putchar('\n');
	return 0;
}

static void
print_text(const struct dict_text *t)
{
	for (size_t i = 0; i < t->n; i++)
		print_entry(NULL, dict_text_key(t, &t->entries[i]),
		    t->entries[i].key_len, dict_text_value(t, &t->entries[i]),
		    t->entries[i].value_len);
}

static int
dump(const char *arg, const struct dict_open_opts *opts)
{
	char err[DICT_ERR_MAX_BYTES], *type;
	const char *name = split_spec(arg, "lmdb", &type);
	struct dict_text t;
	int ret = 1;

	if (strcmp(type, "lmdb") == 0 || strcmp(type, "hash") == 0) {
		char *spec = xasprintf("%s:%s", type, name);
		struct dict *d = dict_open(spec, opts, err, sizeof(err));

		free(spec);
		if (d == NULL || dict_lmdb_walk(d, print_entry, NULL, err,
		    sizeof(err)) < 0)
			log_error("%s", err);
		else
			ret = 0;
		dict_close(d);
	} else if (strcmp(type, "texthash") == 0 ||
	    strcmp(type, "inline") == 0) {
		int r = strcmp(type, "inline") == 0 ?
		    dict_text_parse_inline(&t, name, DICT_TEXT_FOLD, err,
		    sizeof(err)) :
		    dict_text_load(&t, name, opts, DICT_TEXT_FOLD, NULL, err,
		    sizeof(err));

		if (r < 0) {
			log_error("%s", err);
		} else {
			for (size_t i = 0; i < t.warnings.n; i++)
				log_warning("%s", t.warnings.v[i]);
			print_text(&t);
			ret = 0;
		}
		dict_text_deinit(&t);
	} else {
		log_error("%s: %s: tables cannot be listed (-s works for lmdb:, "
		    "hash:, texthash: and inline:)", arg, type);
	}
	free(type);
	if (fflush(stdout) != 0)
		ret = 1;
	return ret;
}

/* ------------------------------------------------------------ main */

int
cmd_map(struct cli *cli, int argc, char **argv)
{
	struct dict_open_opts opts;
	struct map_args a;
	bool only_names = false;
	int ret = 0;

	memset(&a, 0, sizeof(a));
	a.fold = true;
	a.names = xcalloc((size_t)argc, sizeof(*a.names));
	for (int i = 1; i < argc; i++) {
		if (only_names || argv[i][0] != '-' || argv[i][1] == '\0') {
			a.names[a.nnames++] = argv[i];
		} else if (strcmp(argv[i], "--") == 0) {
			only_names = true;
		} else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			cli->config_dir = argv[++i];
		} else if (strcmp(argv[i], "-q") == 0 && i + 1 < argc) {
			a.query = argv[++i];
		} else if (strcmp(argv[i], "-f") == 0) {
			a.fold = false;
		} else if (strcmp(argv[i], "-s") == 0) {
			a.dump = true;
		} else if (strcmp(argv[i], "-v") == 0) {
			cli->verbose++;
		} else {
			log_error("map: unknown option \"%s\"", argv[i]);
			map_usage();
			free(a.names);
			return 2;
		}
	}
	if (a.nnames == 0 || (a.dump && (a.query != NULL || a.nnames != 1))) {
		map_usage();
		free(a.names);
		return 2;
	}
	log_set_verbose(cli->verbose);
	dict_open_opts_init(&opts);
	opts.trusted_uid = trusted_uid(cli);
	opts.config_dir = cli->config_dir;
	if (a.dump) {
		ret = dump(a.names[0], &opts);
	} else if (a.query != NULL) {
		ret = query(&a, &opts);
	} else {
		for (int i = 0; i < a.nnames; i++)
			if (build_one(a.names[i], &opts, a.fold) != 0)
				ret = 1;
	}
	free(a.names);
	return ret;
}
