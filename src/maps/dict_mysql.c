/* SPDX-License-Identifier: MIT */
/*
 * dict_mysql - mysql:/path/to/file.cf, Postfix's mysql_table(5), with
 * libmariadb (MariaDB and MySQL servers).
 *
 * Runs in the lookup process only (DICT_TYPE_NETWORK): it holds the
 * database password.  The .cf file (sql_cf.h) is read and checked at
 * open (dict_check_file); no connection is made until the first lookup,
 * so a database that is down at start-up delays nothing and fails
 * lookups with DICT_TEMPFAIL until it is back.
 *
 * Hosts ("hosts", default localhost) are tried as Postfix does: UNIX
 * sockets first, then TCP hosts, in random order within each group
 * (sql_hosts_order).  A host that fails to connect, or loses its
 * connection, is left out for retry_interval seconds (default 60); when
 * every host is waiting out its interval the lookup fails at once.  One
 * connection is kept and reused; it is closed when it was idle for more
 * than idle_interval seconds, and a connection found dead (the server
 * restarted) is reopened once to the same host before that host counts
 * as failed.  "unix:/path" is a UNIX socket, "inet:host[:port]" forces
 * TCP; a plain "localhost" is libmariadb's choice (its default socket),
 * as in Postfix.  Timeouts: MYSQL_CONNECT_TIMEOUT_S to connect,
 * MYSQL_IO_TIMEOUT_S per read or write.
 *
 * Every expansion of the key is escaped with mysql_real_escape_string()
 * for the connection's character set (charset, default utf8mb4) and
 * placed inside quotes (sql_cf.h, SQL_PARAM_ESCAPE): a key never ends a
 * string literal.  Multi-statement text is not enabled; LOAD DATA LOCAL
 * is disabled (a hostile server cannot read our files).  Stored
 * procedures work (CLIENT_MULTI_RESULTS; later result sets are read and
 * dropped).
 *
 * The first column of every row goes through result_format, joined
 * with commas.  No row (or only NULL / empty values) is DICT_NOTFOUND.
 * A query that returns no result set is an error unless
 * require_result_set = no.  Errors are DICT_TEMPFAIL:
 *   "mysql:/path.cf: cannot connect to any host (h1: reason; h2: reason)"
 *   "mysql:/path.cf: no host available: all failed within retry_interval
 *    (60s) (h1: reason)"
 *   "mysql:/path.cf: query failed on h1: <server message>"
 * The password never appears in messages.
 *
 * TLS: tls_CAfile, tls_CApath, tls_cert_file, tls_key_file, tls_ciphers
 * turn TLS on (mysql_ssl_set); tls_verify_cert = yes checks the server
 * certificate and name.
 *
 * changed() watches the .cf file (device, inode, size, mtime).
 *
 * libmariadb is loaded (and mysql_library_init run) when the first
 * table is opened (sql_dl.h): a table whose open cannot load it fails
 * to open.  Every libmariadb call goes through sql_my, set by then.
 */
#include <errno.h>
#include <errmsg.h>
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "buf.h"
#include "dict.h"
#include "sql_cf.h"
#include "sql_dl.h"
#include "xalloc.h"

#define MYSQL_CONNECT_TIMEOUT_S 5
#define MYSQL_IO_TIMEOUT_S 10
/* Longest SQL text built from a query and escaped values. */
#define MYSQL_SQL_MAX_BYTES (1024 * 1024)
/* Longest reason kept per host for messages. */
#define MYSQL_REASON_MAX 200

struct mysql_priv {
	struct sql_cf cf;
	MYSQL *conn;		/* NULL when not connected */
	size_t conn_host;	/* index into cf.host of conn */
	time_t last_used;
	char (*reason)[MYSQL_REASON_MAX];	/* last failure per host */
	struct stat cf_st;
};

enum qres {
	Q_OK,		/* *status set */
	Q_QUERY_ERR,	/* the server refused the query: TEMPFAIL */
	Q_CONN_ERR,	/* the connection failed: try elsewhere */
};

/* Close the current connection, if any. */
static void
disconnect(struct mysql_priv *p)
{
	if (p->conn != NULL) {
		sql_my->mysql_close(p->conn);
		p->conn = NULL;
	}
}

static void
set_reason(struct mysql_priv *p, size_t i, const char *why)
{
	snprintf(p->reason[i], MYSQL_REASON_MAX, "%s", why);
}

/*
 * Connect to host i.  Returns the connection, or NULL with the reason
 * stored for the host.
 */
static MYSQL *
connect_host(struct mysql_priv *p, size_t i)
{
	const struct sql_cf *cf = &p->cf;
	const struct sql_host *h = &cf->host[i];
	unsigned int ctimeout = MYSQL_CONNECT_TIMEOUT_S;
	unsigned int iotimeout = MYSQL_IO_TIMEOUT_S;
	unsigned int zero = 0;
	my_bool no = 0, yes = 1;
	MYSQL *m = sql_my->mysql_init(NULL);

	if (m == NULL) {
		set_reason(p, i, "out of memory");
		return NULL;
	}
	sql_my->mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &ctimeout);
	sql_my->mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &iotimeout);
	sql_my->mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &iotimeout);
	sql_my->mysql_options(m, MYSQL_OPT_LOCAL_INFILE, &zero);
	sql_my->mysql_options(m, MYSQL_OPT_RECONNECT, &no);
	sql_my->mysql_options(m, MYSQL_SET_CHARSET_NAME, cf->charset);
	if (h->kind == SQL_HOST_UNIX) {
		unsigned int proto = MYSQL_PROTOCOL_SOCKET;

		sql_my->mysql_options(m, MYSQL_OPT_PROTOCOL, &proto);
	} else if (strncmp(h->spec, "inet:", 5) == 0) {
		unsigned int proto = MYSQL_PROTOCOL_TCP;

		sql_my->mysql_options(m, MYSQL_OPT_PROTOCOL, &proto);
	}
	if (cf->tls_CAfile != NULL || cf->tls_CApath != NULL ||
	    cf->tls_cert_file != NULL || cf->tls_key_file != NULL ||
	    cf->tls_ciphers != NULL) {
		sql_my->mysql_ssl_set(m, cf->tls_key_file, cf->tls_cert_file,
		    cf->tls_CAfile, cf->tls_CApath, cf->tls_ciphers);
		sql_my->mysql_options(m, MYSQL_OPT_SSL_ENFORCE, &yes);
	}
	sql_my->mysql_options(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT,
	    cf->tls_verify_cert ? &yes : &no);
	if (sql_my->mysql_real_connect(m,
	    h->kind == SQL_HOST_UNIX ? "localhost" : h->name,
	    cf->user, cf->password, cf->dbname,
	    h->kind == SQL_HOST_UNIX ? 0 : h->port,
	    h->kind == SQL_HOST_UNIX ? h->name : NULL,
	    CLIENT_MULTI_RESULTS) == NULL) {
		set_reason(p, i, sql_my->mysql_error(m));
		sql_my->mysql_close(m);
		return NULL;
	}
	return m;
}

/* Is this error number a client (connection) error? */
static bool
client_error(unsigned int e)
{
	return e >= CR_MIN_ERROR && e <= CR_MAX_ERROR;
}

/*
 * Run the query on p->conn (host i).  Q_OK with *status, Q_QUERY_ERR
 * with err, or Q_CONN_ERR with the host's reason set.
 */
static enum qres
run_query(struct dict *d, struct mysql_priv *p, size_t i,
    const struct sql_pieces *pc, const char *key, struct buf *value,
    enum dict_status *status, char *err, size_t errsz)
{
	MYSQL *m = p->conn;
	struct buf sql;
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	size_t nresults = 0;
	enum qres q = Q_QUERY_ERR;
	unsigned int e;

	buf_init(&sql, MYSQL_SQL_MAX_BYTES);
	for (size_t k = 0; k < pc->n; k++) {
		const struct sql_piece *pp = &pc->v[k];
		char *esc;
		unsigned long n;
		int r;

		if (!pp->param) {
			r = buf_append(&sql, pp->s, pp->n);
		} else {
			esc = xmalloc(pp->n * 2 + 1);
			n = sql_my->mysql_real_escape_string(m, esc, pp->s,
			    (unsigned long)pp->n);
			if (n == (unsigned long)-1) {
				free(esc);
				snprintf(err, errsz, "%s: cannot escape a value "
				    "for the connection's character set",
				    d->spec);
				goto out;
			}
			r = buf_append(&sql, esc, n);
			free(esc);
		}
		if (r < 0) {
			snprintf(err, errsz, "%s: query too long", d->spec);
			goto out;
		}
	}
	if (sql_my->mysql_real_query(m, buf_cstr(&sql),
	    (unsigned long)sql.len) != 0)
		goto failed;
	res = sql_my->mysql_store_result(m);
	if (res == NULL) {
		if (sql_my->mysql_errno(m) != 0)
			goto failed;
		/* A statement without a result set. */
		if (p->cf.require_result_set) {
			snprintf(err, errsz, "%s: the query returned no result "
			    "set (require_result_set = yes)", d->spec);
			goto drain;
		}
		*status = DICT_NOTFOUND;
		q = Q_OK;
		goto drain;
	}
	if (sql_my->mysql_num_fields(res) < 1) {
		snprintf(err, errsz, "%s: the query returns no column",
		    d->spec);
		goto drain;
	}
	/* Postfix: every column of every row is a result. */
	while ((row = sql_my->mysql_fetch_row(res)) != NULL) {
		unsigned nf = sql_my->mysql_num_fields(res);

		for (unsigned j = 0; j < nf; j++)
			if (sql_result_append(&p->cf, key, row[j], value,
			    &nresults, err, errsz) < 0)
				goto drain;
	}
	if (sql_my->mysql_errno(m) != 0)
		goto failed;
	*status = nresults > 0 ? DICT_FOUND : DICT_NOTFOUND;
	q = Q_OK;
drain:
	/* Results of a stored procedure: read and drop the rest. */
	while (sql_my->mysql_more_results(m)) {
		MYSQL_RES *more;
		int r = sql_my->mysql_next_result(m);

		if (r > 0)
			goto failed;
		if (r < 0)
			break;
		more = sql_my->mysql_store_result(m);
		if (more != NULL)
			sql_my->mysql_free_result(more);
	}
	goto out;
failed:
	e = sql_my->mysql_errno(m);
	if (client_error(e)) {
		set_reason(p, i, sql_my->mysql_error(m));
		q = Q_CONN_ERR;
	} else {
		snprintf(err, errsz, "%s: query failed on %s: %s", d->spec,
		    p->cf.host[i].spec, sql_my->mysql_error(m));
		q = Q_QUERY_ERR;
	}
	if (q == Q_CONN_ERR)
		buf_reset(value);
out:
	if (res != NULL)
		sql_my->mysql_free_result(res);
	buf_deinit(&sql);
	return q;
}

/* "h1: reason; h2: reason" for the hosts in idx[0..n) into b. */
static void
reasons(const struct mysql_priv *p, const size_t *idx, size_t n,
    struct buf *b)
{
	for (size_t k = 0; k < n; k++) {
		size_t i = idx[k];

		if (b->len > 0)
			(void)buf_append_str(b, "; ");
		(void)buf_appendf(b, "%s: %s", p->cf.host[i].spec,
		    p->reason[i][0] ? p->reason[i] : "failed");
	}
}

static enum dict_status
dmysql_lookup(struct dict *d, const char *key, size_t keylen,
    struct buf *value, char *err, size_t errsz)
{
	struct mysql_priv *p = d->priv;
	struct sql_pieces pc = { 0 };
	enum dict_status st = DICT_TEMPFAIL;
	size_t order[SQL_CF_MAX_HOSTS], tried[SQL_CF_MAX_HOSTS + 1];
	size_t n, ntried = 0;
	time_t now = time(NULL);
	struct buf why;
	enum qres q;

	(void)keylen;
	if (sql_query_pieces(&p->cf, key, &pc) ==
	    SQL_EXPAND_SKIP)
		return DICT_NOTFOUND;
	buf_init(&why, DICT_ERR_MAX_BYTES);

	if (p->conn != NULL && p->cf.idle_interval > 0 &&
	    now - p->last_used > p->cf.idle_interval)
		disconnect(p);
	/* The open connection first; once dead, one fresh try there. */
	if (p->conn != NULL) {
		size_t i = p->conn_host;

		q = run_query(d, p, i, &pc, key, value, &st, err, errsz);
		if (q != Q_CONN_ERR)
			goto done;
		disconnect(p);
		p->conn = connect_host(p, i);
		if (p->conn != NULL) {
			q = run_query(d, p, i, &pc, key, value, &st, err,
			    errsz);
			if (q != Q_CONN_ERR)
				goto done;
			disconnect(p);
		}
		sql_host_failed(&p->cf, i, now);
		tried[ntried++] = i;
	}
	n = sql_hosts_order(&p->cf, now, order, SQL_CF_MAX_HOSTS);
	if (n == 0 && ntried == 0) {
		size_t all[SQL_CF_MAX_HOSTS];

		for (size_t i = 0; i < p->cf.nhosts; i++)
			all[i] = i;
		reasons(p, all, p->cf.nhosts, &why);
		snprintf(err, errsz, "%s: no host available: all failed within "
		    "retry_interval (%lds) (%s)", d->spec,
		    p->cf.retry_interval, buf_cstr(&why));
		st = DICT_TEMPFAIL;
		goto out;
	}
	for (size_t k = 0; k < n; k++) {
		size_t i = order[k];
		bool again = false;

		for (size_t t = 0; t < ntried; t++)
			if (tried[t] == i)
				again = true;
		if (again)
			continue;
		tried[ntried++] = i;
		p->conn = connect_host(p, i);
		if (p->conn == NULL) {
			sql_host_failed(&p->cf, i, now);
			continue;
		}
		p->conn_host = i;
		q = run_query(d, p, i, &pc, key, value, &st, err, errsz);
		if (q != Q_CONN_ERR)
			goto done;
		disconnect(p);
		sql_host_failed(&p->cf, i, now);
	}
	reasons(p, tried, ntried, &why);
	snprintf(err, errsz, "%s: cannot connect to any host (%s)", d->spec,
	    buf_cstr(&why));
	st = DICT_TEMPFAIL;
	goto out;
done:
	/* The host answered (even with an SQL error): it is up. */
	sql_host_ok(&p->cf, p->conn_host);
	p->reason[p->conn_host][0] = '\0';
	p->last_used = now;
	if (q == Q_QUERY_ERR)
		st = DICT_TEMPFAIL;
out:
	if (st == DICT_TEMPFAIL)
		sql_msg_clean(err);
	buf_deinit(&why);
	sql_pieces_free(&pc);
	return st;
}

static void
dmysql_close(struct dict *d)
{
	struct mysql_priv *p = d->priv;

	if (p == NULL)
		return;
	disconnect(p);
	sql_cf_free(&p->cf);
	free(p->reason);
	free(p);
	d->priv = NULL;
}

static int
dmysql_open(struct dict *d, const char *name,
    const struct dict_open_opts *opts, char *err, size_t errsz)
{
	struct mysql_priv *p;

	/* Fail closed: no libmariadb, no table (a lookup error, never
	 * "not found"). */
	if (sql_dl_load_mysql(err, errsz) < 0)
		return -1;
	p = xcalloc(1, sizeof(*p));
	d->priv = p;
	if (name[0] == '\0') {
		snprintf(err, errsz, "mysql: needs the path of a .cf file "
		    "(mysql:/etc/ostia/FILE.cf)");
		goto fail;
	}
	if (sql_cf_load(name, "mysql", opts, &p->cf, err, errsz) < 0)
		goto fail;
	if (stat(name, &p->cf_st) < 0) {
		snprintf(err, errsz, "%s: %s", name, strerror(errno));
		goto fail;
	}
	p->reason = xcalloc(p->cf.nhosts, sizeof(*p->reason));
	return 0;
fail:
	dmysql_close(d);
	return -1;
}

static bool
dmysql_changed(struct dict *d)
{
	const struct mysql_priv *p = d->priv;
	struct stat st;

	if (stat(d->name, &st) < 0)
		return true;
	return st.st_dev != p->cf_st.st_dev || st.st_ino != p->cf_st.st_ino ||
	    st.st_size != p->cf_st.st_size ||
	    st.st_mtim.tv_sec != p->cf_st.st_mtim.tv_sec ||
	    st.st_mtim.tv_nsec != p->cf_st.st_mtim.tv_nsec;
}

const struct dict_type dict_type_mysql = {
	.name = "mysql",
	.flags = DICT_TYPE_NETWORK | DICT_TYPE_FILE,
	.open = dmysql_open,
	.lookup = dmysql_lookup,
	.changed = dmysql_changed,
	.close = dmysql_close,
};
