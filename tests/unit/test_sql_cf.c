/* SPDX-License-Identifier: MIT */
/*
 * test_sql_cf - the SQL table .cf parser (parameters, errors with
 * file:line, legacy queries, hosts, domain), query expansion (table
 * driven, both parameter styles, SKIP cases, hostile keys passed as
 * parameters and never pasted), result_format and host failover order.
 */
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
#include "dict.h"
#include "sql_cf.h"
#include "xalloc.h"

/* ------------------------------------------------------------ helpers */

static void
parse_ok(const char *type, const char *text, struct sql_cf *cf)
{
	char err[DICT_ERR_MAX_BYTES];
	int r = sql_cf_parse("/etc/t.cf", type, text, strlen(text), cf, err,
	    sizeof(err));

	if (r != 0)
		fail_msg("parse failed: %s\n--- text:\n%s", err, text);
}

/* Parse must fail; the error must contain want. */
static void
parse_err(const char *type, const char *text, const char *want)
{
	char err[DICT_ERR_MAX_BYTES];
	struct sql_cf cf;
	int r = sql_cf_parse("/etc/t.cf", type, text, strlen(text), &cf, err,
	    sizeof(err));

	if (r == 0) {
		sql_cf_free(&cf);
		fail_msg("parse succeeded, wanted error \"%s\"\n--- text:\n%s",
		    want, text);
	}
	if (strstr(err, want) == NULL)
		fail_msg("error \"%s\" does not contain \"%s\"", err, want);
	/* Freed on failure: a second free is harmless. */
	sql_cf_free(&cf);
}

/* Renders literal text as is and each parameter as ${value}. */
struct render {
	struct buf all;		/* literals and ${params} */
	struct buf lits;	/* literal text only */
	unsigned nparams;
	char *params[16];
};

static void
r_lit(void *ctx, const char *s, size_t n)
{
	struct render *r = ctx;

	assert_true(n > 0);
	assert_int_equal(buf_append(&r->all, s, n), 0);
	assert_int_equal(buf_append(&r->lits, s, n), 0);
}

static void
r_param(void *ctx, const char *s, size_t n)
{
	struct render *r = ctx;

	assert_int_equal(buf_append_str(&r->all, "${"), 0);
	assert_int_equal(buf_append(&r->all, s, n), 0);
	assert_int_equal(buf_append_str(&r->all, "}"), 0);
	assert_true(r->nparams < 16);
	r->params[r->nparams++] = xstrndup(s, n);
}

static void
render_init(struct render *r)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->all, 1 << 20);
	buf_init(&r->lits, 1 << 20);
}

static void
render_free(struct render *r)
{
	buf_deinit(&r->all);
	buf_deinit(&r->lits);
	for (unsigned i = 0; i < r->nparams; i++)
		free(r->params[i]);
}

/* ------------------------------------------------------------ parsing */

static void
test_parse_basic(void **state)
{
	struct sql_cf cf;

	(void)state;
	parse_ok("mysql",
	    "# a comment\n"
	    "hosts = db1.example.com, db2.example.com:3307\n"
	    "  unix:/run/mysqld/mysqld.sock inet:10.0.0.1:3308 [2001:db8::1]:3309"
	    " [::1] ::2\n"
	    "user = vmail\n"
	    "password = s3cr3t\n"
	    "\n"
	    "dbname = vmail\n"
	    "query = SELECT goto FROM alias\n"
	    "    WHERE address='%s' AND active=1\n"
	    "expansion_limit = 5\n"
	    "idle_interval = 10\n"
	    "retry_interval = 0\n"
	    "domain = Example.COM example.net\n"
	    "tls_verify_cert = yes\n"
	    "require_result_set = no\n",
	    &cf);
	assert_string_equal(cf.type, "mysql");
	assert_int_equal(cf.param_style, SQL_PARAM_ESCAPE);
	assert_int_equal(cf.nhosts, 7);
	assert_string_equal(cf.hosts[0], "db1.example.com");
	assert_null(cf.hosts[7]);
	assert_int_equal(cf.host[0].kind, SQL_HOST_INET);
	assert_string_equal(cf.host[0].name, "db1.example.com");
	assert_int_equal(cf.host[0].port, 0);
	assert_string_equal(cf.host[1].name, "db2.example.com");
	assert_int_equal(cf.host[1].port, 3307);
	assert_int_equal(cf.host[2].kind, SQL_HOST_UNIX);
	assert_string_equal(cf.host[2].name, "/run/mysqld/mysqld.sock");
	assert_string_equal(cf.host[3].name, "10.0.0.1");
	assert_int_equal(cf.host[3].port, 3308);
	assert_string_equal(cf.host[4].name, "2001:db8::1");
	assert_int_equal(cf.host[4].port, 3309);
	assert_string_equal(cf.host[5].name, "::1");
	assert_int_equal(cf.host[5].port, 0);
	assert_string_equal(cf.host[5].spec, "[::1]");
	assert_string_equal(cf.host[6].name, "::2");
	assert_string_equal(cf.user, "vmail");
	assert_string_equal(cf.password, "s3cr3t");
	assert_string_equal(cf.dbname, "vmail");
	/* Continuation lines keep their leading white space. */
	assert_string_equal(cf.query, "SELECT goto FROM alias    WHERE "
	    "address='%s' AND active=1");
	assert_string_equal(cf.result_format, "%s");
	assert_int_equal(cf.expansion_limit, 5);
	assert_int_equal(cf.idle_interval, 10);
	assert_int_equal(cf.retry_interval, 0);
	assert_non_null(cf.domain);
	assert_string_equal(cf.domain[0], "example.com");
	assert_string_equal(cf.domain[1], "example.net");
	assert_null(cf.domain[2]);
	assert_true(cf.tls_verify_cert);
	assert_false(cf.require_result_set);
	assert_string_equal(cf.charset, "utf8mb4");
	assert_int_equal(cf.query_uses, SQL_USES_KEY);
	sql_cf_free(&cf);
	/* Freeing twice is harmless. */
	sql_cf_free(&cf);
	sql_cf_free(NULL);
}

static void
test_parse_defaults(void **state)
{
	struct sql_cf cf;

	(void)state;
	parse_ok("pgsql", "query = SELECT 1 WHERE '%u' = '%d'\n", &cf);
	assert_int_equal(cf.param_style, SQL_PARAM_BIND);
	assert_int_equal(cf.nhosts, 1);
	assert_string_equal(cf.hosts[0], "localhost");
	assert_string_equal(cf.host[0].name, "localhost");
	assert_null(cf.hosts[1]);
	assert_null(cf.user);
	assert_null(cf.password);
	assert_null(cf.domain);
	assert_int_equal(cf.idle_interval, 60);
	assert_int_equal(cf.retry_interval, 60);
	assert_int_equal(cf.expansion_limit, 0);
	assert_string_equal(cf.charset, "UTF8");
	assert_int_equal(cf.query_uses, SQL_USES_LOCAL | SQL_USES_DOMAIN);
	sql_cf_free(&cf);

	parse_ok("pgsql", "hosts = postgresql://u@db.example/vmail?sslmode="
	    "require unix:/run/postgresql\nquery = SELECT %1\n", &cf);
	assert_int_equal(cf.host[0].kind, SQL_HOST_URI);
	assert_string_equal(cf.host[0].name,
	    "postgresql://u@db.example/vmail?sslmode=require");
	assert_int_equal(cf.host[1].kind, SQL_HOST_UNIX);
	assert_int_equal(cf.query_uses, SQL_USES_DIGIT);
	sql_cf_free(&cf);

	parse_ok("sqlite", "dbpath = /var/lib/x.sqlite\nquery = SELECT 1\n"
	    "result_format = smtp:[%s]\n", &cf);
	assert_string_equal(cf.dbpath, "/var/lib/x.sqlite");
	assert_null(cf.hosts);
	assert_int_equal(cf.nhosts, 0);
	assert_null(cf.charset);
	assert_string_equal(cf.result_format, "smtp:[%s]");
	assert_int_equal(cf.query_uses, 0);
	sql_cf_free(&cf);

	/* An empty domain list is no rule. */
	parse_ok("sqlite", "dbpath = /x\nquery = SELECT 1\ndomain =\n", &cf);
	assert_null(cf.domain);
	sql_cf_free(&cf);

	/* The last setting wins, as in main.cf. */
	parse_ok("sqlite", "dbpath = /x\nquery = SELECT 1\nquery = SELECT 2\n",
	    &cf);
	assert_string_equal(cf.query, "SELECT 2");
	sql_cf_free(&cf);
}

static void
test_parse_legacy(void **state)
{
	struct sql_cf cf;

	(void)state;
	parse_ok("mysql", "table = mailbox\nselect_field = maildir\n"
	    "where_field = username\nadditional_conditions = and active = '1'"
	    " and x LIKE '10%'\n", &cf);
	assert_string_equal(cf.query, "SELECT maildir FROM mailbox WHERE "
	    "username = '%s' and active = '1' and x LIKE '10%%'");
	sql_cf_free(&cf);

	parse_ok("sqlite", "dbpath = /x\ntable = t\nselect_field = v\n"
	    "where_field = k\n", &cf);
	assert_string_equal(cf.query, "SELECT v FROM t WHERE k = '%s'");
	sql_cf_free(&cf);

	parse_ok("pgsql", "select_function = lookup_alias\n", &cf);
	assert_string_equal(cf.query, "SELECT lookup_alias('%s')");
	sql_cf_free(&cf);

	/* query wins over the legacy parameters. */
	parse_ok("mysql", "table = t\nselect_field = v\nwhere_field = k\n"
	    "query = SELECT 7\n", &cf);
	assert_string_equal(cf.query, "SELECT 7");
	sql_cf_free(&cf);
}

static void
test_parse_errors(void **state)
{
	(void)state;
	parse_err("sqlite", "dbpath = /x\n\n# c\nqeury = SELECT 1\n",
	    "/etc/t.cf, line 4: unknown parameter qeury (known for sqlite: "
	    "additional_conditions dbpath domain expansion_limit query "
	    "result_format select_field table where_field)");
	/* Another type's parameter is unknown. */
	parse_err("sqlite", "hosts = x\nquery = SELECT 1\ndbpath = /x\n",
	    "line 1: unknown parameter hosts");
	parse_err("mysql", "dbpath = /x\nquery = SELECT 1\n",
	    "line 1: unknown parameter dbpath");
	parse_err("pgsql", "charset = latin1\nquery = SELECT 1\n",
	    "line 1: unknown parameter charset");
	parse_err("mysql", "select_function = f\n",
	    "unknown parameter select_function");
	parse_err("mysql", "hosts = x\n", "/etc/t.cf: no query (set query");
	parse_err("mysql", "table = t\nwhere_field = k\n", "no query");
	parse_err("sqlite", "query = SELECT 1\n", "/etc/t.cf: no dbpath");
	parse_err("sqlite", "dbpath =\nquery = SELECT 1\n", "no dbpath");
	parse_err("mysql", "query =\n", "line 1: query is empty");
	parse_err("mysql", "user vmail\n",
	    "/etc/t.cf, line 1: expected \"name = value\"");
	parse_err("mysql", "= x\n", "line 1: expected \"name = value\"");
	parse_err("mysql", "  query = x\n", "/etc/t.cf, line 1: ");
	{
		static const char nul[] = "query = SELECT 1\nuser = a\0b\n";
		char err[DICT_ERR_MAX_BYTES];
		struct sql_cf cf;

		assert_int_equal(sql_cf_parse("/etc/t.cf", "mysql", nul,
		    sizeof(nul) - 1, &cf, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "/etc/t.cf, line 2: "));
	}
	parse_err("mysql", "\n\nquery = SELECT '%x'\n",
	    "line 3: query: unknown % sequence");
	parse_err("mysql", "query = SELECT 5%\n", "query: a '%' at the end");
	parse_err("mysql", "query = SELECT '%s\n",
	    "query: unterminated quoted string");
	parse_err("pgsql", "query = SELECT \"%s\"\n",
	    "query: an expansion inside a double-quoted identifier");
	parse_err("mysql", "query = SELECT 1\nresult_format = %z\n",
	    "line 2: result_format: unknown % sequence");
	parse_err("mysql", "query = SELECT 1\nresult_format = x%\n",
	    "result_format: a '%' at the end");
	parse_err("mysql", "hosts = db:0\nquery = SELECT 1\n",
	    "line 1: hosts: \"db:0\": bad port");
	parse_err("mysql", "hosts = db:99999\nquery = SELECT 1\n",
	    "bad port");
	parse_err("mysql", "hosts = db:x\nquery = SELECT 1\n", "bad port");
	parse_err("mysql", "hosts = unix:run/s\nquery = SELECT 1\n",
	    "absolute path");
	parse_err("mysql", "hosts = :3306\nquery = SELECT 1\n",
	    "empty host name");
	parse_err("mysql", "hosts = inet:\nquery = SELECT 1\n",
	    "empty host name");
	parse_err("mysql", "hosts = [::1\nquery = SELECT 1\n", "bad [address]");
	parse_err("mysql", "hosts = [::1]x\nquery = SELECT 1\n", "after ]");
	parse_err("mysql", "hosts = ,\nquery = SELECT 1\n", "hosts: empty");
	parse_err("mysql", "hosts = a b c d e f g h i j k l m n o p q r s t u "
	    "v w x y z 1 2 3 4 5 6 7\nquery = SELECT 1\n", "more than 32");
	parse_err("pgsql", "hosts = mysql://x\nquery = SELECT 1\n", "bad port");
	parse_err("mysql", "query = SELECT 1\ndomain = example.com "
	    "hash:/etc/postfix/domains\n",
	    "line 2: domain: \"hash:/etc/postfix/domains\": file and table "
	    "(type:name) entries in the domain list are not supported yet");
	parse_err("mysql", "query = SELECT 1\ndomain = /etc/domains\n",
	    "not supported yet");
	parse_err("mysql", "query = SELECT 1\nidle_interval = -1\n",
	    "line 2: bad value for idle_interval");
	parse_err("mysql", "query = SELECT 1\nretry_interval = 1h\n",
	    "bad value for retry_interval");
	parse_err("mysql", "query = SELECT 1\nretry_interval = 86401\n",
	    "bad value for retry_interval");
	parse_err("mysql", "query = SELECT 1\nexpansion_limit = x\n",
	    "bad value for expansion_limit");
	parse_err("mysql", "query = SELECT 1\ntls_verify_cert = maybe\n",
	    "bad value for tls_verify_cert: write yes or no");
	parse_err("mysql", "query = SELECT 1\noption_file = /etc/my.cnf\n",
	    "line 2: option_file is not supported");
	parse_err("mysql", "query = SELECT 1\noption_group = client\n",
	    "option_group is not supported");
}

/* No error message shows the password. */
static void
test_parse_errors_hide_password(void **state)
{
	static const char *const texts[] = {
		"password = s3cr3tPW\nbogus = 1\nquery = SELECT 1\n",
		"password s3cr3tPW\nquery = SELECT 1\n",
		"query = SELECT 1\npassword = s3cr3tPW\n  more\nhosts = a:0\n",
		"password = s3cr3tPW\n",
	};
	char err[DICT_ERR_MAX_BYTES];
	struct sql_cf cf;

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(texts); i++) {
		assert_int_equal(sql_cf_parse("/etc/t.cf", "mysql", texts[i],
		    strlen(texts[i]), &cf, err, sizeof(err)), -1);
		assert_null(strstr(err, "s3cr3t"));
	}
}

/* Every truncation of a valid file parses or fails cleanly. */
static void
test_parse_truncations(void **state)
{
	const char *text =
	    "hosts = db1 db2:3307 unix:/run/s\n"
	    "user = u\npassword = p\ndbname = d\n"
	    "query = SELECT a FROM t WHERE b='%u@%d' AND c=\"x\" AND d=%1\n"
	    "  AND e='it''s'\n"
	    "result_format = %u+x@%d\ndomain = a.example b.example\n"
	    "expansion_limit = 3\n";
	char err[DICT_ERR_MAX_BYTES];
	size_t len = strlen(text);

	(void)state;
	for (size_t n = 0; n <= len; n++) {
		struct sql_cf cf;
		char *copy = xstrndup(text, n);
		int r = sql_cf_parse("/etc/t.cf", "mysql", copy, n, &cf, err,
		    sizeof(err));

		if (r == 0) {
			assert_non_null(cf.query);
			sql_cf_free(&cf);
		} else {
			assert_true(err[0] != '\0');
			assert_non_null(strstr(err, "/etc/t.cf"));
		}
		free(copy);
	}
}

/* ------------------------------------------------------------ loading */

static char *
write_tmp(const char *text, mode_t mode)
{
	char *path = xstrdup("/tmp/test_sql_cf.XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(chmod(path, mode), 0);
	return path;
}

static void
test_load(void **state)
{
	struct dict_open_opts opts;
	struct sql_cf cf;
	char err[DICT_ERR_MAX_BYTES];
	char *path;

	(void)state;
	dict_open_opts_init(&opts);
	opts.trusted_uid = getuid();
	path = write_tmp("dbpath = /x\nquery = SELECT '%s'\n", 0600);
	assert_int_equal(sql_cf_load(path, "sqlite", &opts, &cf, err,
	    sizeof(err)), 0);
	assert_string_equal(cf.path, path);
	assert_string_equal(cf.query, "SELECT '%s'");
	sql_cf_free(&cf);

	/* Group-writable: refused by dict_check_file. */
	assert_int_equal(chmod(path, 0620), 0);
	assert_int_equal(sql_cf_load(path, "sqlite", &opts, &cf, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "writable by its group"));
	unlink(path);

	assert_int_equal(sql_cf_load(path, "sqlite", &opts, &cf, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, path));

	assert_int_equal(sql_cf_load("relative.cf", "mysql", &opts, &cf, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "mysql:relative.cf: give the path"));
	free(path);

	/* An error inside names the file and line. */
	path = write_tmp("dbpath = /x\nwhat = 1\n", 0644);
	assert_int_equal(sql_cf_load(path, "sqlite", NULL, &cf, err,
	    sizeof(err)) == -1, 1);
	if (getuid() == 0) {
		char want[256];

		snprintf(want, sizeof(want), "%s, line 2: unknown parameter "
		    "what", path);
		assert_non_null(strstr(err, want));
	}
	unlink(path);
	free(path);

	/* Too large. */
	{
		size_t big = SQL_CF_MAX_BYTES + 10;
		char *text = xmalloc(big + 1);

		memset(text, '#', big);
		text[big] = '\0';
		path = write_tmp(text, 0600);
		free(text);
		assert_int_equal(sql_cf_load(path, "sqlite", &opts, &cf, err,
		    sizeof(err)), -1);
		assert_non_null(strstr(err, path));
		unlink(path);
		free(path);
	}
}

/* ------------------------------------------------------------ expansion */

struct xcase {
	const char *type;
	const char *query;	/* the query line's value */
	const char *domain;	/* domain = ... or NULL */
	const char *key;
	const char *want;	/* rendering, or NULL for SKIP */
};

static const struct xcase xcases[] = {
	/* Bind style (sqlite, pgsql). */
	{ "sqlite", "SELECT a FROM t WHERE k='%s'", NULL, "user@example.com",
	    "SELECT a FROM t WHERE k=${user@example.com}" },
	{ "sqlite", "SELECT a FROM t WHERE k = %s", NULL, "5",
	    "SELECT a FROM t WHERE k = ${5}" },
	{ "sqlite", "k='%u' AND d='%d'", NULL, "user@example.com",
	    "k=${user} AND d=${example.com}" },
	{ "pgsql", "k='%u@%d'", NULL, "user@example.com",
	    "k=(${user} || '@' || ${example.com})" },
	{ "sqlite", "k='pre%s'", NULL, "x", "k=('pre' || ${x})" },
	{ "sqlite", "k='%spost'", NULL, "x", "k=(${x} || 'post')" },
	{ "sqlite", "k='a%sb%sc'", NULL, "x",
	    "k=('a' || ${x} || 'b' || ${x} || 'c')" },
	{ "sqlite", "k LIKE '%%%s'", NULL, "x", "k LIKE ('%' || ${x})" },
	{ "sqlite", "k='it''s %s'", NULL, "x", "k=('it''s ' || ${x})" },
	{ "sqlite", "SELECT '%%', \"a%%b\", 100%%", NULL, "x",
	    "SELECT '%', \"a%b\", 100%" },
	{ "sqlite", "SELECT \"col\" FROM \"t\" WHERE k='%s'", NULL, "x",
	    "SELECT \"col\" FROM \"t\" WHERE k=${x}" },
	/* Backslash is not an escape in standard SQL strings. */
	{ "sqlite", "k='a\\' AND j='%s'", NULL, "x",
	    "k='a\\' AND j=${x}" },
	{ "sqlite", "'%S' '%U' '%D'", NULL, "u@d.example",
	    "${u@d.example} ${u} ${d.example}" },
	{ "sqlite", "%1 %2 %3", NULL, "user@mail.example.com",
	    "${com} ${example} ${mail}" },
	{ "sqlite", "%1", NULL, "user@localhost", "${localhost}" },
	{ "sqlite", "%2", NULL, "user@localhost", NULL },
	{ "sqlite", "%4", NULL, "user@mail.example.com", NULL },
	{ "sqlite", "%1", NULL, "example.com", NULL },
	{ "sqlite", "%d", NULL, "nodomain", NULL },
	{ "sqlite", "%d", NULL, "user@", NULL },
	{ "sqlite", "%u", NULL, "nodomain", "${nodomain}" },
	{ "sqlite", "%u", NULL, "@example.com", NULL },
	{ "sqlite", "%s", NULL, "@example.com", "${@example.com}" },
	{ "sqlite", "%s", NULL, "", "${}" },
	/* The last '@' splits. */
	{ "sqlite", "'%u' '%d'", NULL, "a@b@c.example",
	    "${a@b} ${c.example}" },
	/* The domain rule. */
	{ "sqlite", "'%s'", "example.com", "user@example.com",
	    "${user@example.com}" },
	{ "sqlite", "'%s'", "example.com", "user@EXAMPLE.com",
	    "${user@EXAMPLE.com}" },
	{ "sqlite", "'%s'", "example.com other.test", "u@other.test",
	    "${u@other.test}" },
	{ "sqlite", "'%s'", "example.com", "user@other.com", NULL },
	{ "sqlite", "'%s'", "example.com", "user@sub.example.com", NULL },
	{ "sqlite", "'%s'", "example.com", "example.com", NULL },
	{ "sqlite", "'%s'", "example.com", "@example.com", NULL },
	{ "sqlite", "'%s'", "example.com", "user", NULL },
	/* Keys that are not UTF-8 are not looked up; UTF-8 ones are. */
	{ "sqlite", "'%s'", NULL, "\xff@example.com", NULL },
	{ "sqlite", "'%s'", NULL, "\xc3\x28", NULL },
	{ "sqlite", "'%s'", NULL, "\xed\xa0\x80", NULL },	/* surrogate */
	{ "sqlite", "'%s'", NULL, "\xc0\xaf", NULL },		/* overlong */
	{ "sqlite", "'%s'", NULL, "\xf4\x90\x80\x80", NULL },	/* > U+10FFFF */
	{ "sqlite", "'%s'", NULL, "\xe2\x82", NULL },		/* truncated */
	{ "sqlite", "'%s'", NULL, "j\xc3\xb6rg@example.com",
	    "${j\xc3\xb6rg@example.com}" },
	{ "sqlite", "'%s'", NULL, "\xf0\x9f\x93\xa7", "${\xf0\x9f\x93\xa7}" },

	/* Escape style (mysql): quotes kept, values inside. */
	{ "mysql", "SELECT a FROM t WHERE k='%s'", NULL, "x",
	    "SELECT a FROM t WHERE k='${x}'" },
	{ "mysql", "k=%s", NULL, "x", "k='${x}'" },
	{ "mysql", "k='%u@%d'", NULL, "u@d.example", "k='${u}@${d.example}'" },
	{ "mysql", "k=\"%s\"", NULL, "x", "k=\"${x}\"" },
	{ "mysql", "k='it\\'s %s'", NULL, "x", "k='it\\'s ${x}'" },
	{ "mysql", "k='a\\\\' AND j='%s'", NULL, "x",
	    "k='a\\\\' AND j='${x}'" },
	{ "mysql", "k LIKE '%%%s' AND n=100%%", NULL, "x",
	    "k LIKE '%${x}' AND n=100%" },
	{ "mysql", "CONCAT('%u', '@', d)", NULL, "u@x", "CONCAT('${u}', '@', d)" },
	{ "mysql", "%d", NULL, "nodomain", NULL },
};

static void
test_expand_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(xcases); i++) {
		const struct xcase *c = &xcases[i];
		struct sql_cf cf;
		struct render r;
		enum sql_expand e;
		char *text;

		text = xasprintf("%squery = %s\n%s%s%s",
		    strcmp(c->type, "sqlite") == 0 ? "dbpath = /x\n" : "",
		    c->query, c->domain ? "domain = " : "",
		    c->domain ? c->domain : "", c->domain ? "\n" : "");
		parse_ok(c->type, text, &cf);
		free(text);
		render_init(&r);
		e = sql_query_expand(&cf, c->key, r_lit, r_param, &r);
		if (c->want == NULL) {
			if (e != SQL_EXPAND_SKIP)
				fail_msg("case %zu (%s, key \"%s\"): want SKIP, "
				    "got \"%s\"", i, c->query, c->key,
				    buf_cstr(&r.all));
			/* Nothing was called. */
			assert_int_equal(r.all.len, 0);
			assert_int_equal(r.nparams, 0);
		} else {
			if (e != SQL_EXPAND_OK)
				fail_msg("case %zu (%s, key \"%s\"): want "
				    "\"%s\", got SKIP", i, c->query, c->key,
				    c->want);
			if (strcmp(buf_cstr(&r.all), c->want) != 0)
				fail_msg("case %zu (%s, key \"%s\"): want "
				    "\"%s\", got \"%s\"", i, c->query, c->key,
				    c->want, buf_cstr(&r.all));
		}
		render_free(&r);
		sql_cf_free(&cf);
	}
}

/*
 * Hostile keys: whatever the key, the literal text is the same as for a
 * harmless key, and every parameter is exactly the key (or a part of
 * it): the key is passed, never pasted.
 */
static void
test_expand_hostile_keys(void **state)
{
	static const char *const queries[] = {
		"SELECT a FROM t WHERE k='%s' AND active=1",
		"SELECT a FROM t WHERE k=%s",
		"SELECT a FROM t WHERE k=\"%s\"",
		"SELECT a FROM t WHERE k='x%sy'",
	};
	char longkey[DICT_KEY_MAX_BYTES + 1];
	const char *keys[] = {
		"a'b", "a''b", "a\\'b", "\\", "x' OR '1'='1",
		"x'; DROP TABLE t; --", "x\"; DROP TABLE t; --", "%s%d%u%%",
		"%", "?", "$1", "x\\\\' OR 1=1 #", "';\n--\r\n",
		"\x1a\x01\x7f", longkey,
	};
	char err[DICT_ERR_MAX_BYTES];

	(void)state;
	memset(longkey, '\'', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	for (size_t t = 0; t < 3; t++) {
		const char *type = t == 0 ? "mysql" : t == 1 ? "pgsql" :
		    "sqlite";

		for (size_t q = 0; q < N_ELEMENTS(queries); q++) {
			struct sql_cf cf;
			struct render base;
			char *text = xasprintf("%squery = %s\n",
			    t == 2 ? "dbpath = /x\n" : "", queries[q]);

			if (t != 0 && strchr(queries[q], '"') != NULL) {
				/* Refused in the bind style. */
				assert_int_equal(sql_cf_parse("/t.cf", type,
				    text, strlen(text), &cf, err,
				    sizeof(err)), -1);
				free(text);
				continue;
			}
			parse_ok(type, text, &cf);
			free(text);
			render_init(&base);
			assert_int_equal(sql_query_expand(&cf, "harmless",
			    r_lit, r_param, &base), SQL_EXPAND_OK);
			for (size_t k = 0; k < N_ELEMENTS(keys); k++) {
				struct render r;

				render_init(&r);
				assert_int_equal(sql_query_expand(&cf, keys[k],
				    r_lit, r_param, &r), SQL_EXPAND_OK);
				assert_string_equal(buf_cstr(&r.lits),
				    buf_cstr(&base.lits));
				assert_int_equal(r.nparams, base.nparams);
				for (unsigned i = 0; i < r.nparams; i++)
					assert_string_equal(r.params[i],
					    keys[k]);
				render_free(&r);
			}
			render_free(&base);
			sql_cf_free(&cf);
		}
	}
}

/* ------------------------------------------------------------ results */

struct rcase {
	const char *format;
	const char *key;
	const char *values[4];	/* NULL-terminated unless nulls used */
	size_t nvalues;
	const char *want;	/* NULL: nothing found */
};

static const struct rcase rcases[] = {
	{ "%s", "k", { "a", "b", "c" }, 3, "a,b,c" },
	{ "%s", "k", { "a", NULL, "", "d" }, 4, "a,d" },
	{ "%s", "k", { NULL, "" }, 2, NULL },
	{ "smtp:[%s]:25", "k", { "mx.example" }, 1, "smtp:[mx.example]:25" },
	{ "%u", "k", { "user@example.com", "bare" }, 2, "user,bare" },
	{ "%u", "k", { "@example.com" }, 1, NULL },
	{ "%d", "k", { "user@example.com", "bare", "x@" }, 3, "example.com" },
	{ "%s via %S", "who@example.com", { "v" }, 1, "v via who@example.com" },
	{ "%U+%D", "who@example.com", { "v" }, 1, "who+example.com" },
	{ "%D", "nodomain", { "v" }, 1, NULL },
	{ "%2.%1", "u@mail.example.org", { "v" }, 1, "example.org" },
	{ "100%% %s", "k", { "x" }, 1, "100% x" },
	{ "%s", "k", { "a,b" }, 1, "a,b" },
};

static void
test_result_table(void **state)
{
	char err[DICT_ERR_MAX_BYTES];

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(rcases); i++) {
		const struct rcase *c = &rcases[i];
		struct sql_cf cf;
		struct buf out;
		size_t n = 0;
		char *text = xasprintf("dbpath = /x\nquery = SELECT 1\n"
		    "result_format = %s\n", c->format);

		parse_ok("sqlite", text, &cf);
		free(text);
		buf_init(&out, DICT_VALUE_MAX_BYTES);
		for (size_t v = 0; v < c->nvalues; v++)
			assert_int_equal(sql_result_append(&cf, c->key,
			    c->values[v], &out, &n, err, sizeof(err)), 0);
		if (c->want == NULL) {
			if (n != 0)
				fail_msg("case %zu: want nothing, got \"%s\"",
				    i, buf_cstr(&out));
			assert_int_equal(out.len, 0);
		} else {
			if (strcmp(buf_cstr(&out), c->want) != 0)
				fail_msg("case %zu: want \"%s\", got \"%s\"", i,
				    c->want, buf_cstr(&out));
		}
		buf_deinit(&out);
		sql_cf_free(&cf);
	}
}

static void
test_result_limits(void **state)
{
	char err[DICT_ERR_MAX_BYTES];
	struct sql_cf cf;
	struct buf out;
	size_t n = 0;
	char big[64];

	(void)state;
	parse_ok("mysql", "query = SELECT 1\nexpansion_limit = 2\n", &cf);
	buf_init(&out, DICT_VALUE_MAX_BYTES);
	assert_int_equal(sql_result_append(&cf, "k", "a", &out, &n, err,
	    sizeof(err)), 0);
	/* Skipped rows do not count. */
	assert_int_equal(sql_result_append(&cf, "k", NULL, &out, &n, err,
	    sizeof(err)), 0);
	assert_int_equal(sql_result_append(&cf, "k", "b", &out, &n, err,
	    sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_int_equal(sql_result_append(&cf, "k", "c", &out, &n, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "mysql:/etc/t.cf: the query returned "
	    "more than 2 results (expansion_limit)"));
	assert_string_equal(buf_cstr(&out), "a,b");
	buf_deinit(&out);
	sql_cf_free(&cf);

	/* The buffer's maximum: an error, and nothing partial is left. */
	parse_ok("mysql", "query = SELECT 1\nresult_format = <%s>\n", &cf);
	buf_init(&out, 20);
	n = 0;
	memset(big, 'x', 8);
	big[8] = '\0';
	assert_int_equal(sql_result_append(&cf, "k", big, &out, &n, err,
	    sizeof(err)), 0);
	assert_string_equal(buf_cstr(&out), "<xxxxxxxx>");
	assert_int_equal(sql_result_append(&cf, "k", big, &out, &n, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "longer than 20 bytes"));
	assert_string_equal(buf_cstr(&out), "<xxxxxxxx>");
	assert_int_equal(n, 1);
	buf_deinit(&out);
	sql_cf_free(&cf);
}

/* ------------------------------------------------------------ hosts */

static void
test_hosts_order(void **state)
{
	struct sql_cf cf;
	size_t order[SQL_CF_MAX_HOSTS], n;
	bool seen_first[3] = { false, false, false };

	(void)state;
	parse_ok("mysql", "hosts = h0 unix:/s1 h2 unix:/s3 h4\n"
	    "retry_interval = 30\nquery = SELECT 1\n", &cf);
	for (int round = 0; round < 200; round++) {
		n = sql_hosts_order(&cf, 1000, order, SQL_CF_MAX_HOSTS);
		assert_int_equal(n, 5);
		/* UNIX sockets first. */
		assert_true(order[0] == 1 || order[0] == 3);
		assert_true(order[1] == 1 || order[1] == 3);
		assert_true(order[0] != order[1]);
		for (size_t i = 2; i < 5; i++)
			assert_true(order[i] % 2 == 0);
		seen_first[order[2] / 2] = true;
	}
	/* Random order among the TCP hosts (each first at least once in 200
	 * rounds; a chance of about 3 * (2/3)^200 to fail). */
	assert_true(seen_first[0] && seen_first[1] && seen_first[2]);

	sql_host_failed(&cf, 1, 1000);
	sql_host_failed(&cf, 2, 1000);
	n = sql_hosts_order(&cf, 1029, order, SQL_CF_MAX_HOSTS);
	assert_int_equal(n, 3);
	assert_int_equal(order[0], 3);
	for (size_t i = 0; i < n; i++)
		assert_true(order[i] != 1 && order[i] != 2);
	/* After retry_interval they are back. */
	n = sql_hosts_order(&cf, 1030, order, SQL_CF_MAX_HOSTS);
	assert_int_equal(n, 5);
	sql_host_failed(&cf, 0, 2000);
	sql_host_ok(&cf, 0);
	n = sql_hosts_order(&cf, 2000, order, SQL_CF_MAX_HOSTS);
	assert_int_equal(n, 5);
	/* max caps the count. */
	n = sql_hosts_order(&cf, 2000, order, 2);
	assert_int_equal(n, 2);
	/* All down: nothing to try. */
	for (size_t i = 0; i < 5; i++)
		sql_host_failed(&cf, i, 3000);
	assert_int_equal(sql_hosts_order(&cf, 3001, order, SQL_CF_MAX_HOSTS),
	    0);
	/* Out of range is ignored. */
	sql_host_failed(&cf, 99, 3000);
	sql_host_ok(&cf, 99);
	sql_cf_free(&cf);

	/* retry_interval 0: a failed host is tried again at once. */
	parse_ok("mysql", "hosts = h0\nretry_interval = 0\nquery = SELECT 1\n",
	    &cf);
	sql_host_failed(&cf, 0, 5000);
	assert_int_equal(sql_hosts_order(&cf, 5000, order, SQL_CF_MAX_HOSTS),
	    1);
	sql_cf_free(&cf);
}

static void
test_msg_clean(void **state)
{
	char s[] = "near 'x\r\n' OR\t1=1\x7f \xc3\xb6'";

	(void)state;
	sql_msg_clean(s);
	assert_string_equal(s, "near 'x?" "?' OR?1=1? \xc3\xb6'");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_basic),
		cmocka_unit_test(test_parse_defaults),
		cmocka_unit_test(test_parse_legacy),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_parse_errors_hide_password),
		cmocka_unit_test(test_parse_truncations),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_expand_table),
		cmocka_unit_test(test_expand_hostile_keys),
		cmocka_unit_test(test_result_table),
		cmocka_unit_test(test_result_limits),
		cmocka_unit_test(test_hosts_order),
		cmocka_unit_test(test_msg_clean),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
