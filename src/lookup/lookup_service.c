/* SPDX-License-Identifier: MIT */
/*
 * lookup_service - the lookup process; see lookup_service.h.
 *
 * Runs as mail_owner (after a preinit as root) with the current
 * directory at queue_directory.  Requests are untrusted input: each
 * frame is checked field by field (lookup_proto.c) and anything
 * malformed ends that client's connection.
 *
 * GET asks one table (table_get: cache, file change check, the table,
 * outage logging).  FIND and ROUTE (lookup_lists.h) search lists of
 * tables built over "views": one dict per table whose lookups go
 * through table_get too, so they share the cache and follow file
 * changes; a view stays valid while its table is opened again, so the
 * lists never point at a closed table.  The resolver's tables of every
 * service are built at the preinit, as root; SIGHUP drops the cache and
 * the FIND lists.  The SQL client libraries (sql_dl.h) that the tables
 * need are loaded at the preinit too, before any chroot: this is the
 * only daemon that maps them.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "diag.h"
#include "ipc.h"
#include "log.h"
#include "lookup_anvil.h"
#include "lookup_cache.h"
#include "lookup_lists.h"
#include "lookup_proto.h"
#include "lookup_service.h"
#include "lookup_verify.h"
#include "lookup_tables.h"
#include "sql_dl.h"
#include "xalloc.h"

/*
 * What FIND and ROUTE lists borrow for each table (lookup_lists.h): a
 * dict of the table's type flags whose lookups go through table_get(),
 * so they use the cache, follow file changes and log outages like GETs.
 * It never changes while the process lives, even when the table behind
 * it is opened again.
 */
struct table_view {
	struct dict d;
	struct dict_type type;
	size_t index;
};

/* Runtime state per table, beside lookup_tables' list. */
struct table_rt {
	uint64_t next_check_ms;	/* file tables: next dict_changed() */
	bool failing;		/* in a TEMPFAIL outage */
	uint64_t fail_since_ms;
	uint64_t fail_count;
	char *reopen_error;	/* last reopen failure logged */
};

struct lconn {
	struct child *child;
	int sock;
	struct event *rev;
	struct event *wev;
	struct ipc_conn ipc;
	struct buf out;
	size_t out_off;		/* bytes of out already written */
	bool paused;		/* not reading: too much output waiting */
	bool busy;		/* counted in ls.busy */
	uint64_t serial;	/* names it to the password checks */
	unsigned verifying;	/* password checks not answered yet */
	struct lconn *prev, *next;	/* ls.conns */
};

static struct {
	struct event_base *base;
	struct lookup_tableset ts;
	struct table_rt *rt;
	struct table_view *views;	/* one per table, for the lists */
	struct lookup_lists *lists;	/* FIND and ROUTE */
	bool nocache;			/* the FIND/ROUTE being answered */
	struct buf route_text;
	struct dict_open_opts opts;
	struct lookup_cache *cache;
	struct event *hup_ev;
	size_t nconns;
	size_t busy;		/* connections with unfinished work */
	struct buf value;
	struct lconn *conns;	/* every open connection */
	uint64_t next_serial;
	struct anvil *anvil;	/* smtpd's per-client counters */
	struct event *anvil_ev;	/* drops idle clients */
	struct event *anvil_stats_ev;	/* logs the peaks */
	unsigned anvil_unit;		/* anvil_rate_time_unit, s */
	bool anvil_full_logged;	/* since the last expiry */
} ls;

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---------------------------------------------------------------- */
/* Tables                                                           */

/*
 * table_maybe_reopen - a file table whose file changed is opened again;
 * on success its cached answers go, on failure the old version stays
 * and the reason is logged (once per distinct reason).
 */
static void
table_maybe_reopen(size_t i, uint64_t now)
{
	struct lookup_table *t = &ls.ts.items[i];
	struct table_rt *rt = &ls.rt[i];
	char err[DICT_ERR_MAX_BYTES];
	struct dict *nd;
	size_t dropped;

	if (t->d == NULL || !(t->d->type->flags & DICT_TYPE_FILE) ||
	    now < rt->next_check_ms)
		return;
	rt->next_check_ms = now + LOOKUP_RECHECK_MS;
	if (!dict_changed(t->d))
		return;
	nd = dict_open(t->spec, &ls.opts, err, sizeof(err));
	if (nd == NULL) {
		if (rt->reopen_error == NULL ||
		    strcmp(rt->reopen_error, err) != 0) {
			log_error("%s: the table changed but cannot be opened "
			    "again: %s; still answering from the version "
			    "opened before", t->spec, err);
			free(rt->reopen_error);
			rt->reopen_error = xstrdup(err);
		}
		return;
	}
	dict_close(t->d);
	t->d = nd;
	dropped = lookup_cache_drop_table(ls.cache, (uint32_t)i);
	log_info("%s: the table changed; opened it again (%zu cached "
	    "answer%s dropped)", t->spec, dropped, dropped == 1 ? "" : "s");
	free(rt->reopen_error);
	rt->reopen_error = NULL;
}

/* outage - log the first failure of a run and the recovery. */
static void
outage(size_t i, enum dict_status st, const char *err, uint64_t now)
{
	struct lookup_table *t = &ls.ts.items[i];
	struct table_rt *rt = &ls.rt[i];
	size_t sl = strlen(t->spec);

	if (st == DICT_TEMPFAIL) {
		rt->fail_count++;
		if (rt->failing)
			return;
		rt->failing = true;
		rt->fail_since_ms = now;
		/* The type's message usually starts with the table. */
		if (strncmp(err, t->spec, sl) == 0 && err[sl] == ':' &&
		    err[sl + 1] == ' ')
			err += sl + 2;
		log_warning("%s: lookup failed: %s; answering 'try again "
		    "later' until it recovers", t->spec, err);
	} else if (rt->failing) {
		uint64_t s = (now - rt->fail_since_ms) / 1000;

		log_info("%s: lookups work again after %llu failed in %llu "
		    "s", t->spec, (unsigned long long)rt->fail_count,
		    (unsigned long long)s);
		rt->failing = false;
		rt->fail_count = 0;
	}
}

/* not_configured - the reason for a table nobody named. */
static void
not_configured(char *err, size_t errsz, const char *spec)
{
	snprintf(err, errsz, "%s: table not configured in the lookup process "
	    "(name it in a lookup-table parameter of main.cf or master.cf, "
	    "e.g. virtual_alias_maps, and reload)", spec);
}

/*
 * table_get - key (already folded as the table's type wants) in table
 * i, through the cache unless use_cache is false.  The value (FOUND) or
 * the reason (TEMPFAIL, in err) in *text_r / *len_r, valid until the
 * next lookup.
 */
static enum dict_status
table_get(size_t i, const char *key, size_t keylen, bool use_cache,
    const char **text_r, size_t *len_r, char *err, size_t errsz)
{
	struct lookup_table *t = &ls.ts.items[i];
	uint64_t now = now_ms();
	enum dict_status st;

	*text_r = err;
	*len_r = 0;
	if (t->d == NULL) {
		snprintf(err, errsz, "%s: the table could not be opened at "
		    "start-up: %s", t->spec, t->open_error != NULL ?
		    t->open_error : "unknown error");
		return DICT_TEMPFAIL;
	}
	table_maybe_reopen(i, now);
	if (use_cache && lookup_cache_get(ls.cache, (uint32_t)i, key,
	    keylen, now, &st, text_r, len_r))
		return st;
	st = dict_get(t->d, key, &ls.value, err, errsz);
	outage(i, st, err, now);
	if (st == DICT_FOUND) {
		if (ls.value.len > DICT_VALUE_MAX_BYTES ||
		    memchr(buf_cstr(&ls.value), '\0', ls.value.len) != NULL) {
			snprintf(err, errsz, "%s: the value for this key is "
			    "longer than %d bytes or holds a NUL byte",
			    t->spec, DICT_VALUE_MAX_BYTES);
			return DICT_TEMPFAIL;
		}
		*text_r = buf_cstr(&ls.value);
		*len_r = ls.value.len;
	}
	if (use_cache)
		lookup_cache_put(ls.cache, (uint32_t)i, key, keylen, st,
		    *text_r, *len_r, now);
	return st;
}

/*
 * answer - one GET: the status, with the value (FOUND) or the reason
 * (TEMPFAIL) in *text_r / *len_r (valid until the next request).
 */
static enum dict_status
answer(const struct lookup_get *g, const char **text_r, size_t *len_r,
    char *err, size_t errsz)
{
	struct lookup_table *t = lookup_tables_find(&ls.ts, g->table);

	*text_r = err;
	*len_r = 0;
	if (t == NULL) {
		not_configured(err, errsz, g->table);
		return DICT_TEMPFAIL;
	}
	/* Fold here too, so that the cache sees one key per address. */
	if (t->d != NULL && !(t->d->type->flags & DICT_TYPE_KEEP_CASE))
		for (char *p = g->key; *p != '\0'; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
	return table_get((size_t)(t - ls.ts.items), g->key, strlen(g->key),
	    !(g->flags & LOOKUP_F_NOCACHE), text_r, len_r, err, errsz);
}

/* view_lookup - a borrowed table's lookup: table_get (dict_get folded
 * the key already, by the same type flags). */
static enum dict_status
view_lookup(struct dict *d, const char *key, size_t keylen,
    struct buf *value, char *err, size_t errsz)
{
	struct table_view *tv = d->priv;
	const char *text;
	size_t len;
	enum dict_status st;

	st = table_get(tv->index, key, keylen, !ls.nocache, &text, &len, err,
	    errsz);
	if (st == DICT_FOUND && buf_append(value, text, len) < 0) {
		snprintf(err, errsz, "%s: the value is too long", d->spec);
		return DICT_TEMPFAIL;
	}
	return st;
}

/* borrow - lookup_lists.h's borrow function: the view of spec. */
static struct dict *
borrow(void *ctx, const char *spec, char *err, size_t errsz)
{
	struct lookup_table *t = lookup_tables_find(&ls.ts, spec);

	if (t == NULL) {
		not_configured(err, errsz, spec);
		return NULL;
	}
	return &ls.views[t - ls.ts.items].d;
}

/* views_init - one view per table (after lookup_tables_open). */
static void
views_init(void)
{
	ls.views = xcalloc(ls.ts.n + 1, sizeof(*ls.views));
	for (size_t i = 0; i < ls.ts.n; i++) {
		struct lookup_table *t = &ls.ts.items[i];
		struct table_view *tv = &ls.views[i];
		const struct dict_type *type = t->d != NULL ? t->d->type : NULL;
		char *colon = strchr(t->spec, ':');

		if (type == NULL && colon != NULL) {
			char tname[32];
			size_t n = (size_t)(colon - t->spec);

			if (n < sizeof(tname)) {
				memcpy(tname, t->spec, n);
				tname[n] = '\0';
				type = dict_type_find(tname);
			}
		}
		tv->index = i;
		tv->type.name = type != NULL ? type->name : "unknown";
		/* Changes are followed by table_get(). */
		tv->type.flags = type != NULL ? type->flags : 0;
		tv->type.lookup = view_lookup;
		tv->d.type = &tv->type;
		tv->d.spec = t->spec;
		tv->d.name = colon != NULL ? colon + 1 : t->spec;
		tv->d.priv = tv;
	}
}

/*
 * answer_find - one FIND: as answer(), the value or reason valid until
 * the next request.
 */
static enum dict_status
answer_find(const struct lookup_find *f, struct maps_result *r,
    const char **text_r, size_t *len_r)
{
	enum dict_status st;

	ls.nocache = (f->flags & LOOKUP_F_NOCACHE) != 0;
	st = lookup_lists_find(ls.lists, f, r);
	ls.nocache = false;
	if (st == DICT_FOUND) {
		*text_r = buf_cstr(&r->value);
		*len_r = r->value.len;
	} else {
		*text_r = r->err;
		*len_r = st == DICT_TEMPFAIL ? strlen(r->err) : 0;
	}
	return st;
}

/* answer_route - one ROUTE: as answer(). */
static enum dict_status
answer_route(const struct lookup_route *q, const char **text_r,
    size_t *len_r, char *err, size_t errsz)
{
	enum dict_status st;

	ls.nocache = (q->flags & LOOKUP_F_NOCACHE) != 0;
	st = lookup_lists_route(ls.lists, q, &ls.route_text, err, errsz);
	ls.nocache = false;
	if (st == DICT_FOUND) {
		*text_r = buf_cstr(&ls.route_text);
		*len_r = ls.route_text.len;
	} else {
		st = DICT_TEMPFAIL;
		*text_r = err;
		*len_r = strlen(err);
	}
	return st;
}

/* ---------------------------------------------------------------- */
/* Connections                                                      */

static void
lconn_set_busy(struct lconn *lc)
{
	bool busy = lc->out.len > lc->out_off || lc->ipc.in.len > 0 ||
	    lc->verifying > 0;

	if (busy == lc->busy)
		return;
	lc->busy = busy;
	if (busy) {
		ls.busy++;
	} else {
		ls.busy--;
		child_connection_done(lc->child);
	}
}

static void
lconn_free(struct lconn *lc)
{
	struct child *c = lc->child;

	if (lc->busy)
		ls.busy--;
	/* The connections this smtpd still had open are over. */
	if (ls.anvil != NULL) {
		size_t n = anvil_release(ls.anvil, lc->serial);

		if (n > 0)
			log_debug(1, "anvil: a client of the lookup process "
			    "left with %zu connection%s counted; taken back",
			    n, n == 1 ? "" : "s");
	}
	/* Password checks still running answer nobody. */
	if (lc->prev != NULL)
		lc->prev->next = lc->next;
	else
		ls.conns = lc->next;
	if (lc->next != NULL)
		lc->next->prev = lc->prev;
	event_free(lc->rev);
	event_free(lc->wev);
	ipc_conn_deinit(&lc->ipc);
	buf_deinit(&lc->out);
	close(lc->sock);
	free(lc);
	ls.nconns--;
	child_connection_done(c);
}

/* flush - write what the socket takes.  -1: the client is gone. */
static int
flush(struct lconn *lc)
{
	int r = buf_send(&lc->out, &lc->out_off, lc->sock);

	if (r < 0)
		return -1;
	if (r == 1)
		event_del(lc->wev);
	else
		event_add(lc->wev, NULL);
	return 0;
}

static void
reply(struct lconn *lc, uint32_t id, enum dict_status st, const char *text,
    size_t len)
{
	if (lookup_proto_put_reply(&lc->out, id, lookup_status_from_dict(st),
	    text, len) == 0)
		return;
	/* Cannot happen with the limits checked in answer(). */
	if (lookup_proto_put_reply(&lc->out, id, LOOKUP_STATUS_TEMPFAIL,
	    "the answer does not fit in a reply", 34) < 0)
		log_panic("lookup: no room for a reply");
}

/* take_find_route - decode and answer a FIND or ROUTE.  -1: drop the
 * connection. */
static int
take_find_route(struct lconn *lc, uint32_t type, struct ipc_in *in)
{
	char err[DICT_ERR_MAX_BYTES];
	const char *error = NULL, *text;
	enum dict_status st;
	size_t len;

	if (type == LOOKUP_MSG_FIND) {
		struct lookup_find f;
		struct maps_result r;

		if (lookup_proto_find_decode(in, &f, &error) < 0) {
			log_error("malformed request from a lookup client "
			    "(%s); dropping the connection", error);
			return -1;
		}
		maps_result_init(&r);
		st = answer_find(&f, &r, &text, &len);
		log_debug(2, "find %s %s \"%s\": %s%s",
		    lookup_find_order_name(f.order), f.tables, f.key,
		    st == DICT_FOUND ? "found with key " : st == DICT_NOTFOUND ?
		    "not found" : "temporary failure",
		    st == DICT_FOUND ? buf_cstr(&r.key) : "");
		reply(lc, f.id, st, text, len);
		maps_result_deinit(&r);
		lookup_find_deinit(&f);
		return 0;
	} else {
		struct lookup_route q;

		if (lookup_proto_route_decode(in, &q, &error) < 0) {
			log_error("malformed request from a lookup client "
			    "(%s); dropping the connection", error);
			return -1;
		}
		st = answer_route(&q, &text, &len, err, sizeof(err));
		log_debug(2, "route %s \"%s\" for \"%s\": %s",
		    lookup_route_op_name(q.op), q.address, q.service,
		    st == DICT_FOUND ? "answered" : "temporary failure");
		reply(lc, q.id, st, text, len);
		lookup_route_deinit(&q);
		return 0;
	}
}

/* take_anvil - count a client event for smtpd's limits.  -1: drop
 * the connection. */
static int
take_anvil(struct lconn *lc, struct ipc_in *in)
{
	struct lookup_anvil a;
	const char *error = NULL;
	unsigned count, rate;
	char text[64];
	int n;

	if (lookup_proto_anvil_decode(in, &a, &error) < 0) {
		log_error("malformed request from a lookup client (%s); "
		    "dropping the connection", error);
		return -1;
	}
	if (anvil_event(ls.anvil, lc->serial, a.op, a.key, now_ms(), &count,
	    &rate) < 0) {
		static const char full[] = "the table of clients for the "
		    "connection and rate limits is full";

		if (!ls.anvil_full_logged)
			log_warning("anvil: %s (%d clients seen within "
			    "anvil_rate_time_unit); new clients are refused "
			    "with a temporary error until some go idle",
			    full, ANVIL_MAX_CLIENTS);
		ls.anvil_full_logged = true;
		reply(lc, a.id, DICT_TEMPFAIL, full, sizeof(full) - 1);
		lookup_anvil_deinit(&a);
		return 0;
	}
	n = snprintf(text, sizeof(text), "count=%u rate=%u", count, rate);
	log_debug(2, "anvil %s \"%s\": %s", lookup_anvil_op_name(a.op),
	    a.key, text);
	reply(lc, a.id, DICT_FOUND, text, (size_t)n);
	lookup_anvil_deinit(&a);
	return 0;
}

/*
 * take_frames - answer every complete request while the output stays
 * under LOOKUP_OUT_HIGH_BYTES.  -1: drop the connection.
 */
static int
take_frames(struct lconn *lc)
{
	struct ipc_in in;
	uint32_t type;
	int fd, r;

	while (lc->out.len - lc->out_off < LOOKUP_OUT_HIGH_BYTES &&
	    (r = ipc_conn_next(&lc->ipc, &type, &in, &fd)) == 1) {
		struct lookup_get g;
		char err[DICT_ERR_MAX_BYTES];
		const char *error = NULL, *text;
		enum dict_status st;
		size_t len;

		if (fd >= 0) {
			close(fd);
			log_error("a lookup client sent a descriptor; "
			    "dropping the connection");
			return -1;
		}
		if (type == LOOKUP_MSG_FIND || type == LOOKUP_MSG_ROUTE) {
			if (take_find_route(lc, type, &in) < 0)
				return -1;
			continue;
		}
		if (type == LOOKUP_MSG_ANVIL) {
			if (take_anvil(lc, &in) < 0)
				return -1;
			continue;
		}
		if (type != LOOKUP_MSG_GET) {
			log_error("unexpected message %u from a lookup client; "
			    "dropping the connection", type);
			return -1;
		}
		if (lookup_proto_get_decode(&in, &g, &error) < 0) {
			log_error("malformed request from a lookup client "
			    "(%s); dropping the connection", error);
			return -1;
		}
		st = answer(&g, &text, &len, err, sizeof(err));
		if (g.password != NULL && st == DICT_FOUND) {
			char login[256 * 4 + 1];

			/* The hash is checked on the worker thread; the
			 * answer comes in on_verified(). */
			log_escape(login, sizeof(login), g.key, strlen(g.key),
			    256);
			lookup_verify_submit(lc->serial, g.id, g.table, login,
			    g.password, text);
			lc->verifying++;
			lookup_get_deinit(&g);
			continue;
		}
		if (g.password != NULL && st == DICT_NOTFOUND)
			log_debug(1, "%s: no such login", g.table);
		if (st == DICT_TEMPFAIL)
			len = strlen(text);
		log_debug(2, "lookup %s \"%s\": %s", g.table, g.key,
		    st == DICT_FOUND ? "found" : st == DICT_NOTFOUND ?
		    "not found" : "temporary failure");
		reply(lc, g.id, st, text, len);
		lookup_get_deinit(&g);
	}
	if (lc->out.len - lc->out_off >= LOOKUP_OUT_HIGH_BYTES)
		return 0;
	if (r < 0) {
		log_error("malformed frame from a lookup client (longer than "
		    "%d bytes, or a descriptor announced but not sent); "
		    "dropping the connection", LOOKUP_REQUEST_MAX_BYTES);
		return -1;
	}
	return 0;
}

/* pump - answer what is buffered, write, and read again if there is
 * room.  -1: drop the connection. */
static int
pump(struct lconn *lc)
{
	if (take_frames(lc) < 0 || flush(lc) < 0)
		return -1;
	if (lc->out.len - lc->out_off >= LOOKUP_OUT_HIGH_BYTES) {
		if (!lc->paused) {
			event_del(lc->rev);
			lc->paused = true;
		}
	} else if (lc->paused) {
		event_add(lc->rev, NULL);
		lc->paused = false;
	}
	lconn_set_busy(lc);
	return 0;
}

static void
on_read(evutil_socket_t fd, short what, void *arg)
{
	struct lconn *lc = arg;

	if (ipc_conn_fill_once(&lc->ipc) < 0) {
		if (errno != ECONNRESET)
			log_warning("lookup client connection: %s",
			    strerror(errno));
		lconn_free(lc);
		return;
	}
	if (pump(lc) < 0) {
		lconn_free(lc);
		return;
	}
	/* At the end: the client may still read the answers it asked. */
	if (lc->ipc.eof && lc->out.len == lc->out_off && lc->verifying == 0)
		lconn_free(lc);
	else if (lc->ipc.eof && !lc->paused) {
		event_del(lc->rev);
		lc->paused = true;
	}
}

static void
on_write(evutil_socket_t fd, short what, void *arg)
{
	struct lconn *lc = arg;

	if (pump(lc) < 0 || (lc->ipc.eof && lc->out.len == lc->out_off &&
	    lc->verifying == 0)) {
		lconn_free(lc);
		return;
	}
	/* pump() resumed reading: after EOF there is nothing to read. */
	if (lc->ipc.eof && !lc->paused) {
		event_del(lc->rev);
		lc->paused = true;
	}
}

static void
lookup_accept(struct child *c, int fd, const char *client,
    unsigned client_port, const char *listen_addr)
{
	struct lconn *lc = xcalloc(1, sizeof(*lc));

	lc->child = c;
	lc->sock = fd;
	ipc_conn_init_max(&lc->ipc, fd, LOOKUP_REQUEST_MAX_BYTES);
	buf_init(&lc->out, LOOKUP_OUT_HIGH_BYTES + IPC_HEADER_BYTES +
	    LOOKUP_REPLY_MAX_BYTES);
	lc->rev = event_new(ls.base, fd, EV_READ | EV_PERSIST, on_read, lc);
	lc->wev = event_new(ls.base, fd, EV_WRITE | EV_PERSIST, on_write,
	    lc);
	event_add(lc->rev, NULL);
	lc->serial = ++ls.next_serial;
	lc->next = ls.conns;
	if (ls.conns != NULL)
		ls.conns->prev = lc;
	ls.conns = lc;
	ls.nconns++;
}

/* on_verified - a password check finished (lookup_verify.h). */
static void
on_verified(uint64_t serial, uint32_t id, enum dict_status st,
    const char *reason)
{
	struct lconn *lc;

	for (lc = ls.conns; lc != NULL; lc = lc->next)
		if (lc->serial == serial)
			break;
	if (lc == NULL)
		return;		/* the client went away */
	lc->verifying--;
	reply(lc, id, st, st == DICT_TEMPFAIL ? reason : "",
	    st == DICT_TEMPFAIL ? strlen(reason) : 0);
	if (pump(lc) < 0 || (lc->ipc.eof && lc->out.len == lc->out_off &&
	    lc->verifying == 0))
		lconn_free(lc);
}

/* ---------------------------------------------------------------- */

static void
on_sighup(evutil_socket_t sig, short what, void *arg)
{
	size_t n = lookup_cache_clear(ls.cache);
	size_t nl = lookup_lists_clear(ls.lists, false);

	log_info("SIGHUP: dropped the lookup cache (%zu entr%s) and %zu "
	    "list%s of tables", n, n == 1 ? "y" : "ies", nl,
	    nl == 1 ? "" : "s");
}

/* on_anvil_expire - drop the idle clients of smtpd's limits. */
static void
on_anvil_expire(evutil_socket_t fd, short what, void *arg)
{
	size_t n = anvil_expire(ls.anvil, now_ms());

	if (n > 0)
		log_debug(1, "anvil: %zu idle client%s dropped, %zu kept", n,
		    n == 1 ? "" : "s", anvil_size(ls.anvil));
	ls.anvil_full_logged = false;
}

/* stat_time - the wall-clock time of a monotonic instant, for logs. */
static void
stat_time(uint64_t when_ms, uint64_t now, char *out, size_t outsz)
{
	time_t t = time(NULL) - (time_t)((now - when_ms) / 1000);
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL ||
	    strftime(out, outsz, "%b %e %H:%M:%S", &tm) == 0)
		snprintf(out, outsz, "?");
}

/*
 * on_anvil_stats - every anvil_status_update_time: the highest counts
 * of the period, as Postfix's anvil logs them (the numbers an admin
 * needs to choose the limits).  Nothing when nothing was counted.
 */
static void
on_anvil_stats(evutil_socket_t fd, short what, void *arg)
{
	static const char *const what_name[LOOKUP_ANVIL_OP_LAST + 1] = {
		[LOOKUP_ANVIL_CONNECT] = "connection rate",
		[LOOKUP_ANVIL_MESSAGE] = "message rate",
		[LOOKUP_ANVIL_RCPT] = "recipient rate",
		[LOOKUP_ANVIL_AUTH] = "AUTH rate",
		[LOOKUP_ANVIL_NEWTLS] = "newtls rate",
	};
	struct anvil_peaks p;
	uint64_t now = now_ms();
	char when[64];

	anvil_peaks_take(ls.anvil, &p);
	if (p.slot[LOOKUP_ANVIL_DISCONNECT].value > 0) {
		stat_time(p.slot[LOOKUP_ANVIL_DISCONNECT].when_ms, now, when,
		    sizeof(when));
		log_info("statistics: max connection count %u for (%s) at %s",
		    p.slot[LOOKUP_ANVIL_DISCONNECT].value,
		    p.slot[LOOKUP_ANVIL_DISCONNECT].key, when);
	}
	for (int op = LOOKUP_ANVIL_CONNECT; op <= LOOKUP_ANVIL_OP_LAST; op++) {
		if (what_name[op] == NULL || p.slot[op].value == 0)
			continue;
		stat_time(p.slot[op].when_ms, now, when, sizeof(when));
		log_info("statistics: max %s %u/%us for (%s) at %s",
		    what_name[op], p.slot[op].value, ls.anvil_unit,
		    p.slot[op].key, when);
	}
	if (p.clients > 0) {
		stat_time(p.clients_when_ms, now, when, sizeof(when));
		log_info("statistics: max cache size %zu at %s", p.clients,
		    when);
	}
}

/* lookup_preinit - as root: open every table (lookup_tables.h). */
static void
lookup_preinit(struct child *c)
{
	const struct config *cf = child_config(c);
	struct diag_list diags;

	ls.cache = lookup_cache_new(LOOKUP_CACHE_MAX_BYTES,
	    LOOKUP_CACHE_TTL_MS, LOOKUP_NEGATIVE_CACHE_TTL_MS);
	buf_init(&ls.value, DICT_VALUE_MAX_BYTES + 1);
	buf_init(&ls.route_text, DICT_VALUE_MAX_BYTES);
	lookup_tables_collect(cf, &ls.ts);
	lookup_tables_opts(cf, &ls.opts);
	/*
	 * The SQL client libraries the tables need, now: dlopen reads the
	 * file system, and the process may chroot after this preinit.  The
	 * tables' open loads them too (and reports a failure, which is why
	 * it is ignored here); this keeps the load before the chroot
	 * whatever the open does first.
	 */
	for (size_t i = 0; i < ls.ts.n; i++) {
		char err[DICT_ERR_MAX_BYTES];

		(void)sql_dl_load_for(ls.ts.items[i].spec, err, sizeof(err));
	}
	diag_list_init(&diags);
	(void)lookup_tables_open(&ls.ts, &ls.opts, &diags);
	for (size_t i = 0; i < diags.n; i++) {
		char *s = diag_format(&diags.items[i]);

		/*
		 * The master refused to start with such a table; here it
		 * broke since (a restart after a crash): keep serving, with
		 * that table answering "temporary failure" at once.  Exiting
		 * would make every client wait for its timeout, again and
		 * again.
		 */
		if (diags.items[i].level == DIAG_ERROR)
			log_error("%s; lookups in it fail (temporary failure) "
			    "until it is fixed and Ostia reloaded", s);
		else
			log_warning("%s", s);
		free(s);
	}
	diag_list_deinit(&diags);
	ls.rt = xcalloc(ls.ts.n + 1, sizeof(*ls.rt));
	views_init();
	ls.lists = lookup_lists_new(cf, borrow, NULL);
	/* As root: the domain lists' /file elements are read now. */
	(void)lookup_lists_prepare_routes(ls.lists);
	log_debug(1, "serving %zu table%s", ls.ts.n, ls.ts.n == 1 ? "" : "s");
}

static void
lookup_init(struct child *c)
{
	long long unit = config_time(config_main(child_config(c)),
	    P_anvil_rate_time_unit);
	struct timeval tv;

	ls.base = child_event_base(c);
	if (unit < 1)
		unit = 1;
	ls.anvil_unit = (unsigned)unit;
	ls.anvil = anvil_new((unsigned)unit, ANVIL_MAX_CLIENTS);
	ls.anvil_ev = event_new(ls.base, -1, EV_PERSIST, on_anvil_expire,
	    NULL);
	tv.tv_sec = (time_t)unit;
	tv.tv_usec = 0;
	event_add(ls.anvil_ev, &tv);
	ls.anvil_stats_ev = event_new(ls.base, -1, EV_PERSIST, on_anvil_stats,
	    NULL);
	tv.tv_sec = (time_t)config_time(config_main(child_config(c)),
	    P_anvil_status_update_time);
	if (tv.tv_sec < 1)
		tv.tv_sec = 1;
	event_add(ls.anvil_stats_ev, &tv);
	ls.hup_ev = evsignal_new(ls.base, SIGHUP, on_sighup, NULL);
	event_add(ls.hup_ev, NULL);
	if (lookup_verify_start(ls.base, on_verified) < 0)
		log_fatal("cannot start the password check thread: %s",
		    strerror(errno));
}

static size_t
lookup_active(struct child *c)
{
	/* Idle connections do not hold a stop up: their clients reconnect
	 * to the next lookup process. */
	return ls.busy;
}

const struct child_program lookup_service_program = {
	.name = "lookup",
	.preinit = lookup_preinit,
	.init = lookup_init,
	.accept_fn = lookup_accept,
	.active = lookup_active,
	.internal_chroot = false,
};
