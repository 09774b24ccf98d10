/* SPDX-License-Identifier: MIT */
/*
 * dict_pgsql - PostgreSQL tables through libpq; see dict_pgsql.h.
 *
 * libpq is loaded when the first table is opened (sql_dl.h): every
 * libpq call goes through sql_pq, set by then.
 *
 * Runs in the lookup process only (DICT_TYPE_NETWORK): it holds the
 * database password and blocks while it talks to the server (at most
 * PGSQL_CONNECT_TIMEOUT per address tried and PGSQL_QUERY_TIMEOUT per
 * query).
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "buf.h"
#include "compat.h"
#include "dict.h"
#include "dict_pgsql.h"
#include "log.h"
#include "sql_cf.h"
#include "sql_dl.h"
#include "strnum.h"
#include "strv.h"
#include "xalloc.h"

/* How one entry of "hosts" is handed to libpq. */
struct pgsql_host {
	char *label;		/* for messages; a URI without its user info
				 * and options */
	char *host;		/* libpq "host": name, address or socket
				 * directory (NULL for a URI) */
	char *port;		/* libpq "port" (NULL: its default) */
	PQconninfoOption *uri;	/* a parsed postgresql:// URI, or NULL */
};

struct dict_pgsql {
	struct sql_cf cf;
	struct pgsql_host *hosts;	/* cf.nhosts of them */
	PGconn *conn;			/* NULL when not connected */
	size_t cur;			/* the host conn talks to */
	time_t last_used;		/* when conn last answered */
	const char *spec;		/* "pgsql:/path.cf", for messages */
};

/* Longest bit of server or libpq text put into a message. */
#define PGSQL_TEXT_MAX 300

/*
 * The first line of libpq's or the server's message text, escaped for
 * the log (log_escape) into dst.
 */
static const char *
pgsql_first_line(char *dst, size_t dstsz, const char *text)
{
	size_t n;

	if (text == NULL || *text == '\0')
		text = "no error text from libpq";
	n = strcspn(text, "\n");
	return log_escape(dst, dstsz, text, n, PGSQL_TEXT_MAX);
}

/* --- building the query ------------------------------------------------ */

struct pgsql_build {
	struct buf *sql;
	struct strv *params;
	bool too_big;
};

static void
pgsql_build_literal(void *ctx, const char *s, size_t n)
{
	struct pgsql_build *b = ctx;

	if (!b->too_big && buf_append(b->sql, s, n) < 0)
		b->too_big = true;
}

static void
pgsql_build_param(void *ctx, const char *s, size_t n)
{
	struct pgsql_build *b = ctx;

	if (b->too_big)
		return;
	if (b->params->n >= PGSQL_MAX_PARAMS ||
	    buf_appendf(b->sql, "$%zu", b->params->n + 1) < 0) {
		b->too_big = true;
		return;
	}
	strv_addn(b->params, s, n);
}

int
pgsql_build_query(const struct sql_cf *cf, const char *key,
    struct buf *sql, struct strv *params, char *err, size_t errsz)
{
	struct pgsql_build b = { sql, params, false };

	if (sql_query_expand(cf, key, pgsql_build_literal, pgsql_build_param,
	    &b) == SQL_EXPAND_SKIP)
		return 0;
	if (b.too_big) {
		snprintf(err, errsz, "the expanded query passes %d bytes or "
		    "%d parameters", PGSQL_SQL_MAX_BYTES, PGSQL_MAX_PARAMS);
		return -1;
	}
	return 1;
}

static bool
pgsql_ident_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '$' || c >= 0x80;
}

long
pgsql_find_placeholder(const char *query)
{
	char quote = '\0';

	for (size_t i = 0; query[i] != '\0'; i++) {
		char c = query[i];

		if (quote != '\0') {
			if (c == quote)
				quote = '\0';	/* '' re-enters at once */
			continue;
		}
		if (c == '\'' || c == '"')
			quote = c;
		else if (c == '$' && query[i + 1] >= '0' &&
		    query[i + 1] <= '9' &&
		    (i == 0 || !pgsql_ident_char((unsigned char)query[i - 1])))
			return (long)i;
	}
	return -1;
}

/* --- hosts ---------------------------------------------------------------- */

/*
 * For "unix:/dir/.s.PGSQL.PORT": the directory and the port libpq wants
 * (it takes the socket's directory and names the file after the port).
 * Returns false when path does not name a socket file that way.
 */
static bool
pgsql_split_socket(const char *path, char **dir_r, char **port_r)
{
	static const char prefix[] = ".s.PGSQL.";
	const char *slash = strrchr(path, '/');
	const char *num, *why;
	long long port;

	if (slash == NULL || strncmp(slash + 1, prefix, sizeof(prefix) - 1))
		return false;
	num = slash + sizeof(prefix);
	if (strnum_parse_ll(num, 1, 65535, &port, &why) < 0)
		return false;
	*dir_r = slash == path ? xstrdup("/") :
	    xstrndup(path, (size_t)(slash - path));
	*port_r = xstrdup(num);
	return true;
}

/*
 * A label for a URI host that drops whatever may hold a secret: the user
 * info before '@' and the options after '?'.
 */
static char *
pgsql_uri_label(const char *uri)
{
	const char *rest = strstr(uri, "://");
	const char *at, *end;
	size_t scheme;

	if (rest == NULL)
		return xstrdup("postgresql://(unparsable)");
	scheme = (size_t)(rest - uri) + 3;
	rest += 3;
	end = rest + strcspn(rest, "?");
	at = memchr(rest, '@', (size_t)(end - rest));
	if (at != NULL)
		rest = at + 1;
	return xasprintf("%.*s%.*s", (int)scheme, uri,
	    (int)(end - rest) > 200 ? 200 : (int)(end - rest), rest);
}

static int
pgsql_hosts_init(struct dict_pgsql *p, char *err, size_t errsz)
{
	p->hosts = xcalloc(p->cf.nhosts ? p->cf.nhosts : 1,
	    sizeof(*p->hosts));
	for (size_t i = 0; i < p->cf.nhosts; i++) {
		const struct sql_host *sh = &p->cf.host[i];
		struct pgsql_host *h = &p->hosts[i];
		char *perr = NULL;

		switch (sh->kind) {
		case SQL_HOST_URI:
			h->label = pgsql_uri_label(sh->name);
			h->uri = sql_pq->PQconninfoParse(sh->name, &perr);
			if (h->uri == NULL) {
				/* libpq's text may quote the URI: not shown */
				sql_pq->PQfreemem(perr);
				snprintf(err, errsz, "%s: hosts: %s is not a "
				    "connection URI that libpq accepts",
				    p->cf.path, h->label);
				return -1;
			}
			break;
		case SQL_HOST_UNIX:
			h->label = xasprintf("unix:%s", sh->name);
			if (!pgsql_split_socket(sh->name, &h->host,
			    &h->port)) {
				h->host = xstrdup(sh->name);
				if (sh->port != 0)
					h->port = xasprintf("%u", sh->port);
			}
			break;
		case SQL_HOST_INET:
		default:
			h->host = xstrdup(sh->name);
			if (sh->port != 0) {
				h->port = xasprintf("%u", sh->port);
				h->label = xasprintf(strchr(sh->name, ':') ?
				    "[%s]:%u" : "%s:%u", sh->name, sh->port);
			} else
				h->label = xstrdup(sh->name);
			break;
		}
	}
	return 0;
}

static void
pgsql_hosts_free(struct dict_pgsql *p)
{
	if (p->hosts == NULL)
		return;
	for (size_t i = 0; i < p->cf.nhosts; i++) {
		struct pgsql_host *h = &p->hosts[i];

		free(h->label);
		free(h->host);
		free(h->port);
		if (h->uri != NULL) {
			for (PQconninfoOption *o = h->uri; o->keyword; o++)
				if (o->val != NULL)
					explicit_bzero(o->val, strlen(o->val));
			sql_pq->PQconninfoFree(h->uri);
		}
	}
	free(p->hosts);
	p->hosts = NULL;
}

/* --- connections ---------------------------------------------------------- */

/* libpq prints server notices on stderr by default: log them instead. */
static void
pgsql_notice(void *arg, const char *message)
{
	const struct dict_pgsql *p = arg;
	char text[PGSQL_TEXT_MAX + 8];

	log_debug(1, "%s: server notice: %s", p->spec,
	    pgsql_first_line(text, sizeof(text), message));
}

/* Connection parameters: keywords and values, at most this many. */
#define PGSQL_MAX_KW 64

struct pgsql_kw {
	const char *kw[PGSQL_MAX_KW + 1];
	const char *val[PGSQL_MAX_KW + 1];
	size_t n;
};

static bool
pgsql_kw_has(const struct pgsql_kw *k, const char *kw)
{
	for (size_t i = 0; i < k->n; i++)
		if (strcmp(k->kw[i], kw) == 0)
			return true;
	return false;
}

/* Add kw=val unless val is NULL or kw is already set. */
static void
pgsql_kw_add(struct pgsql_kw *k, const char *kw, const char *val)
{
	if (val == NULL || k->n >= PGSQL_MAX_KW || pgsql_kw_has(k, kw))
		return;
	k->kw[k->n] = kw;
	k->val[k->n] = val;
	k->n++;
	k->kw[k->n] = NULL;
	k->val[k->n] = NULL;
}

/*
 * Connect to host i.  Returns the connection, or NULL with why (the
 * first line of libpq's message: it names the host, never the
 * password).
 */
static PGconn *
pgsql_connect_host(struct dict_pgsql *p, size_t i, char *why, size_t whysz)
{
	const struct pgsql_host *h = &p->hosts[i];
	struct pgsql_kw k;
	char timeout[16];
	PGconn *conn;

	memset(&k, 0, sizeof(k));
	/* A URI's own settings come first and win. */
	if (h->uri != NULL)
		for (const PQconninfoOption *o = h->uri; o->keyword; o++)
			pgsql_kw_add(&k, o->keyword, o->val);
	pgsql_kw_add(&k, "host", h->host);
	pgsql_kw_add(&k, "port", h->port);
	pgsql_kw_add(&k, "user", p->cf.user);
	pgsql_kw_add(&k, "password", p->cf.password);
	pgsql_kw_add(&k, "dbname", p->cf.dbname);
	pgsql_kw_add(&k, "client_encoding", p->cf.charset);
	snprintf(timeout, sizeof(timeout), "%d", PGSQL_CONNECT_TIMEOUT);
	pgsql_kw_add(&k, "connect_timeout", timeout);
	pgsql_kw_add(&k, "fallback_application_name", "ostia");

	/* expand_dbname 0: a dbname is a name, never a connection string. */
	conn = sql_pq->PQconnectdbParams(k.kw, k.val, 0);
	if (conn == NULL) {
		snprintf(why, whysz, "%s: out of memory in libpq", h->label);
		return NULL;
	}
	if (sql_pq->PQstatus(conn) != CONNECTION_OK) {
		char text[PGSQL_TEXT_MAX + 8];

		snprintf(why, whysz, "%s: %s", h->label,
		    pgsql_first_line(text, sizeof(text),
		    sql_pq->PQerrorMessage(conn)));
		sql_pq->PQfinish(conn);
		return NULL;
	}
	sql_pq->PQsetNoticeProcessor(conn, pgsql_notice, p);
	return conn;
}

static void
pgsql_disconnect(struct dict_pgsql *p)
{
	if (p->conn != NULL) {
		sql_pq->PQfinish(p->conn);
		p->conn = NULL;
	}
}

/* Append "; " and text to why (or text alone when why is empty). */
static void
pgsql_why_add(char *why, size_t whysz, const char *text)
{
	size_t n = strlen(why), t = strlen(text);

	if (n > 0) {
		if (n + 3 >= whysz)
			return;
		memcpy(why + n, "; ", 2);
		n += 2;
	}
	if (n + 1 >= whysz)
		return;
	if (t > whysz - n - 1)
		t = whysz - n - 1;
	memcpy(why + n, text, t);
	why[n + t] = '\0';
}

/*
 * Have p->conn usable: keep a healthy connection that was used within
 * idle_interval; reset (PQreset) a broken one on the same host; else
 * try the hosts sql_hosts_order() offers.  Returns 0, or -1 with why.
 */
static int
pgsql_ensure_connected(struct dict_pgsql *p, char *why, size_t whysz)
{
	time_t now = time(NULL);
	size_t order[SQL_CF_MAX_HOSTS], n;
	char one[DICT_ERR_MAX_BYTES], text[PGSQL_TEXT_MAX + 8];

	why[0] = '\0';
	if (p->conn != NULL) {
		if (sql_pq->PQstatus(p->conn) == CONNECTION_OK &&
		    (p->cf.idle_interval <= 0 ||
		    now - p->last_used <= p->cf.idle_interval))
			return 0;
		if (sql_pq->PQstatus(p->conn) == CONNECTION_OK) {
			/* Idle too long: a firewall may have dropped it. */
			log_debug(1, "%s: closing the connection to %s, idle "
			    "for %lld s", p->spec, p->hosts[p->cur].label,
			    (long long)(now - p->last_used));
			pgsql_disconnect(p);
		} else {
			sql_pq->PQreset(p->conn);
			if (sql_pq->PQstatus(p->conn) == CONNECTION_OK) {
				log_info("%s: reconnected to %s", p->spec,
				    p->hosts[p->cur].label);
				sql_pq->PQsetNoticeProcessor(p->conn,
				    pgsql_notice, p);
				p->last_used = now;
				return 0;
			}
			snprintf(one, sizeof(one), "%s: %s",
			    p->hosts[p->cur].label,
			    pgsql_first_line(text, sizeof(text),
			    sql_pq->PQerrorMessage(p->conn)));
			pgsql_why_add(why, whysz, one);
			pgsql_disconnect(p);
			sql_host_failed(&p->cf, p->cur, now);
		}
	}

	n = sql_hosts_order(&p->cf, now, order, N_ELEMENTS(order));
	for (size_t j = 0; j < n; j++) {
		size_t i = order[j];

		p->conn = pgsql_connect_host(p, i, one, sizeof(one));
		if (p->conn != NULL) {
			sql_host_ok(&p->cf, i);
			p->cur = i;
			p->last_used = time(NULL);
			return 0;
		}
		sql_host_failed(&p->cf, i, time(NULL));
		log_warning("%s: %s", p->spec, one);
		pgsql_why_add(why, whysz, one);
	}
	if (n == 0 && why[0] == '\0') {
		time_t next = 0;

		for (size_t i = 0; i < p->cf.nhosts; i++)
			if (next == 0 || p->cf.host[i].down_until < next)
				next = p->cf.host[i].down_until;
		snprintf(why, whysz, "every server failed within the last "
		    "%ld s (retry_interval); next try in %lld s",
		    p->cf.retry_interval,
		    (long long)(next > now ? next - now : 0));
		return -1;
	}
	/* Same words as the other SQL tables. */
	{
		char tmp[DICT_ERR_MAX_BYTES];

		snprintf(tmp, sizeof(tmp), "cannot connect to any host (%s)",
		    why);
		snprintf(why, whysz, "%s", tmp);
	}
	return -1;
}

/* --- queries -------------------------------------------------------------- */

enum pgsql_run {
	PGSQL_RUN_OK,		/* rows (if any) appended */
	PGSQL_RUN_FAIL,		/* the query failed; why says how */
	PGSQL_RUN_LOST,		/* the connection broke; retry on a new one */
};

static long long
pgsql_ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Wait until libpq has a whole result to hand (or the connection broke)
 * or the deadline passes.  Returns 0, -1 broken (why set), -2 timed out.
 */
static int
pgsql_wait(PGconn *c, long long deadline, char *why, size_t whysz)
{
	char text[PGSQL_TEXT_MAX + 8];

	while (sql_pq->PQisBusy(c)) {
		struct pollfd pfd;
		long long left = deadline - pgsql_ms_now();
		int r;

		if (left <= 0)
			return -2;
		pfd.fd = sql_pq->PQsocket(c);
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (pfd.fd < 0) {
			snprintf(why, whysz, "the connection is closed");
			return -1;
		}
		r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r < 0 && errno != EINTR) {
			snprintf(why, whysz, "poll: %s", strerror(errno));
			return -1;
		}
		if (r > 0 && !sql_pq->PQconsumeInput(c)) {
			snprintf(why, whysz, "%s", pgsql_first_line(text,
			    sizeof(text), sql_pq->PQerrorMessage(c)));
			return -1;
		}
	}
	return 0;
}

/*
 * Run the built query on p->conn and append the results for key to
 * value.  *nresults counts the values appended.  On FAIL the connection
 * is kept when it is still in step with the server, else dropped.
 */
static enum pgsql_run
pgsql_run(struct dict_pgsql *p, const char *sql, const struct strv *params,
    const char *key, struct buf *value, size_t *nresults, char *why,
    size_t whysz)
{
	PGconn *c = p->conn;
	long long deadline = pgsql_ms_now() + PGSQL_QUERY_TIMEOUT * 1000LL;
	char text[PGSQL_TEXT_MAX + 8];
	bool failed = false, too_many = false;
	int w;

	why[0] = '\0';
	if (!sql_pq->PQsendQueryParams(c, sql, (int)params->n, NULL,
	    (const char *const *)params->v, NULL, NULL, 0)) {
		snprintf(why, whysz, "%s", pgsql_first_line(text,
		    sizeof(text), sql_pq->PQerrorMessage(c)));
		return sql_pq->PQstatus(c) == CONNECTION_BAD ? PGSQL_RUN_LOST :
		    PGSQL_RUN_FAIL;
	}
	/* Rows one at a time: a huge answer is never held whole. */
	(void)sql_pq->PQsetSingleRowMode(c);

	for (;;) {
		PGresult *r;
		int nrows, ncols;

		w = pgsql_wait(c, deadline, why, whysz);
		if (w == -2) {
			/*
			 * The host is not marked failed: one slow query
			 * should not take a one-server table down for
			 * retry_interval.
			 */
			snprintf(why, whysz, "%s: no answer within %d s; "
			    "dropping the connection", p->hosts[p->cur].label,
			    PGSQL_QUERY_TIMEOUT);
			pgsql_disconnect(p);
			return PGSQL_RUN_FAIL;
		}
		if (w == -1)
			return PGSQL_RUN_LOST;
		r = sql_pq->PQgetResult(c);
		if (r == NULL)
			break;
		switch (sql_pq->PQresultStatus(r)) {
		case PGRES_SINGLE_TUPLE:
		case PGRES_TUPLES_OK:
			nrows = sql_pq->PQntuples(r);
			ncols = sql_pq->PQnfields(r);
			for (int i = 0; !failed && i < nrows; i++)
				for (int j = 0; !failed && j < ncols; j++) {
					const char *v =
					    sql_pq->PQgetisnull(r, i, j) ? NULL :
					    sql_pq->PQgetvalue(r, i, j);

					if (sql_result_append(&p->cf, key, v,
					    value, nresults, why, whysz) < 0)
						failed = too_many = true;
				}
			break;
		case PGRES_COMMAND_OK:
		case PGRES_EMPTY_QUERY:
			break;
		default:
			if (!failed)
				snprintf(why, whysz, "query failed: %s",
				    pgsql_first_line(text, sizeof(text),
				    sql_pq->PQresultErrorMessage(r)));
			failed = true;
			break;
		}
		sql_pq->PQclear(r);
		if (too_many) {
			/*
			 * Too many results: stop reading them.  Dropping the
			 * connection is the quick way out of the stream.
			 */
			pgsql_disconnect(p);
			return PGSQL_RUN_FAIL;
		}
	}
	if (sql_pq->PQstatus(c) == CONNECTION_BAD) {
		if (why[0] == '\0')
			snprintf(why, whysz, "%s", pgsql_first_line(text,
			    sizeof(text), sql_pq->PQerrorMessage(c)));
		return PGSQL_RUN_LOST;
	}
	p->last_used = time(NULL);
	return failed ? PGSQL_RUN_FAIL : PGSQL_RUN_OK;
}

/* --- the dict type -------------------------------------------------------- */

static int
pgsql_open(struct dict *d, const char *name,
    const struct dict_open_opts *opts, char *err, size_t errsz)
{
	struct dict_pgsql *p;
	long at;

	/* Fail closed: no libpq, no table (a lookup error, never "not
	 * found"). */
	if (sql_dl_load_pq(err, errsz) < 0)
		return -1;
	p = xcalloc(1, sizeof(*p));
	if (sql_cf_load(name, "pgsql", opts, &p->cf, err, errsz) < 0) {
		free(p);
		return -1;
	}
	p->spec = d->spec;
	if ((at = pgsql_find_placeholder(p->cf.query)) >= 0) {
		snprintf(err, errsz, "%s: query: \"%.*s\" is a PostgreSQL "
		    "placeholder; write %%s, %%u, %%d... instead (Ostia binds "
		    "the key as $1, $2...)", p->cf.path,
		    (int)strspn(p->cf.query + at + 1, "0123456789") + 1,
		    p->cf.query + at);
		sql_cf_free(&p->cf);
		free(p);
		return -1;
	}
	if (pgsql_hosts_init(p, err, errsz) < 0) {
		pgsql_hosts_free(p);
		sql_cf_free(&p->cf);
		free(p);
		return -1;
	}
	d->priv = p;
	return 0;
}

static enum dict_status
pgsql_lookup(struct dict *d, const char *key, size_t keylen,
    struct buf *value, char *err, size_t errsz)
{
	struct dict_pgsql *p = d->priv;
	struct buf sql;
	struct strv params;
	char why[DICT_ERR_MAX_BYTES];
	enum dict_status st = DICT_TEMPFAIL;
	size_t nresults = 0;
	int built;

	(void)keylen;
	p->spec = d->spec;
	buf_init(&sql, PGSQL_SQL_MAX_BYTES);
	strv_init(&params);
	built = pgsql_build_query(&p->cf, key, &sql, &params, why,
	    sizeof(why));
	if (built == 0) {
		st = DICT_NOTFOUND;
		goto out;
	}
	if (built < 0)
		goto fail;

	for (int attempt = 0; attempt < 2; attempt++) {
		enum pgsql_run r;

		if (pgsql_ensure_connected(p, why, sizeof(why)) < 0)
			goto fail;
		buf_reset(value);
		nresults = 0;
		r = pgsql_run(p, buf_cstr(&sql), &params, key, value,
		    &nresults, why, sizeof(why));
		if (r == PGSQL_RUN_OK) {
			st = nresults > 0 ? DICT_FOUND : DICT_NOTFOUND;
			goto out;
		}
		if (r == PGSQL_RUN_FAIL)
			goto fail;
		/*
		 * Lost: try again once; the reset happens on the way in.  A
		 * connection libpq still calls healthy is out of step.
		 */
		if (p->conn != NULL &&
		    sql_pq->PQstatus(p->conn) == CONNECTION_OK)
			pgsql_disconnect(p);
		log_warning("%s: lost the connection to %s: %s", d->spec,
		    p->hosts[p->cur].label, why);
	}
fail:
	/* sql_result_append's messages already name the table. */
	if (strncmp(why, d->spec, strlen(d->spec)) == 0 &&
	    why[strlen(d->spec)] == ':')
		snprintf(err, errsz, "%s", why);
	else
		snprintf(err, errsz, "%s: %s", d->spec, why);
	st = DICT_TEMPFAIL;
out:
	buf_deinit(&sql);
	strv_deinit(&params);
	return st;
}

static void
pgsql_close(struct dict *d)
{
	struct dict_pgsql *p = d->priv;

	if (p == NULL)
		return;
	pgsql_disconnect(p);
	pgsql_hosts_free(p);
	sql_cf_free(&p->cf);
	free(p);
	d->priv = NULL;
}

const struct dict_type dict_type_pgsql = {
	.name = "pgsql",
	.flags = DICT_TYPE_NETWORK,
	.open = pgsql_open,
	.lookup = pgsql_lookup,
	.changed = NULL,
	.close = pgsql_close,
};
