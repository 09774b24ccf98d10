/* SPDX-License-Identifier: MIT */
/*
 * qmgr - the queue manager; see qmgr.h.
 *
 * Runs on the queue process's event loop, as mail_owner, with the
 * current directory at queue_directory.  Everything an agent or a file
 * says is checked: a STATUS for a recipient the request did not hold, a
 * frame out of turn or a queue file that does not parse never makes a
 * message disappear; the recipients concerned are deferred (or the file
 * goes to corrupt/) and the reason is logged.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/rand.h>

#include "child.h"
#include "address.h"
#include "compat.h"
#include "config.h"
#include "deliver_proto.h"
#include "dsn.h"
#include "file_read.h"
#include "ipc.h"
#include "log.h"
#include "notify_class.h"
#include "lookup_client.h"
#include "lookup_proto.h"
#include "master_cf.h"
#include "master_programs.h"
#include "qmgr.h"
#include "qmgr_int.h"
#include "qmgr_verify.h"
#include "qmgr_status.h"
#include "queue_file.h"
#include "queue_listing.h"
#include "queue_proto.h"
#include "queue_service.h"
#include "queue_spare.h"
#include "soft_bounce.h"
#include "strv.h"
#include "xalloc.h"

#define QMGR_HASH_SIZE 4096
/* Recipients a message may have after alias expansion. */
#define QMGR_RCPTS_MAX 10000
/* Recipients compared for duplicates. */
#define QMGR_DUP_FILTER_LIMIT 1000
/* Text of a deferral shown in logs and `ostia queue`. */
#define QMGR_TEXT_MAX 1024

struct qtransport;

struct qdest {
	struct qtransport *t;
	char *nexthop;
	struct qrcpt *head, *tail;
	size_t waiting;
	unsigned busy;		/* requests in flight */
	unsigned limit;
	time_t next_ok;		/* rate delay: no request before this */
	struct qdest *next;
};

struct agent_conn;

struct qtransport {
	char *name;
	unsigned maxproc;
	unsigned busy;
	size_t rcpt_limit;
	unsigned dest_limit;
	time_t rate_delay;	/* NAME_destination_rate_delay, seconds */
	bool exists;		/* a master.cf service runs it */
	char *why_missing;
	time_t down_until;
	char *down_why;
	struct qdest *dests;
	struct qdest *rr;	/* round robin position */
	struct agent_conn *idle;
	struct qtransport *next;
};

struct qjob {
	struct qmsg *m;
	struct qdest *d;
	struct qrcpt **r;
	size_t n;
	bool *got;
	/* FORWARD frames per recipient, until its STATUS (NULL: none) */
	char ***fwd;
	size_t *nfwd;
};

struct agent_conn {
	struct qtransport *t;
	int sock;
	struct event *ev;
	struct ipc_conn ipc;
	struct qjob *job;
	char *last_hop;		/* next hop of its last request: the agent
				 * may keep a connection there (smtp, lmtp) */
	struct agent_conn *next;	/* idle list */
};

/* An outstanding ROUTE request. */
struct qlookup {
	struct qmsg *m;
	long idx;
	char *orig;
	char *orcpt;
	uint32_t notify;
	bool expand;
	char *address;		/* resolve: the expanded address */
};

static struct {
	struct event_base *base;
	struct child *child;
	const struct config *cf;
	const struct config_view *v;
	struct lookup_client *lc;
	struct qmsg *hash[QMGR_HASH_SIZE];
	size_t nactive;
	size_t active_max;	/* qmgr_message_active_limit */
	bool backlog_said;	/* the backlog is in the log */
	time_t clog_warn;	/* qmgr_clog_warn_time; 0: never */
	time_t clog_warned;	/* when it last warned */
	bool backlog;		/* incoming/ has files not loaded */
	struct qtransport *transports;
	struct event *scan_ev;
	struct event *sched_ev;
	struct event *rate_ev;	/* the next destination a rate delay
				 * holds back may go on */
	time_t rate_at;		/* when rate_ev fires (0: not armed) */
	time_t default_rate_delay;	/* default_destination_rate_delay */
	time_t min_backoff, max_backoff, lifetime, bounce_lifetime;
	time_t delay_warning;		/* 0: no delay notices */
	time_t transport_retry;		/* transport_retry_time */
	unsigned default_dest_limit;
	size_t default_rcpt_limit;
	uint64_t max_file_bytes;
	char *myhostname;
	char *mail_name;
	bool forward_delivered_to;	/* prepend_delivered_header */
	char *double_bounce;	/* double_bounce_sender as set */
	char *double_bounce_addr;	/* ... @myhostname when bare */
	unsigned notify;		/* notify_classes (notify_class.h) */
	bool soft_bounce;	/* soft_bounce.h: nothing bounces or expires */
	char *bounce2_rcpt;
	char *bounce_rcpt;
	char *delay_rcpt;
	uint64_t bounce_size_limit;
	char *sdrelay_maps;	/* sender_dependent_relayhost_maps */
	char *sdrelay_null_key;	/* empty_address_relayhost_maps_lookup_key */
	char *sddt_maps;	/* sender_dependent_default_transport_maps */
	char *sddt_null_key;	/* empty_address_default_transport_maps_
				 * lookup_key */
	char *delim;		/* recipient_delimiter */
	char **defer_transports;	/* defer_transports */
} qm;

static void schedule_soon(void);
static void rate_wakeup(time_t at);
static void msg_check_done(struct qmsg *m);
static void load_message(const char *dir, const char *id,
    struct queue_envelope *fresh, bool flush);

/* ---------------------------------------------------------------- */
/* Active messages                                                  */

static unsigned
hash_id(const char *id)
{
	unsigned h = 2166136261u;

	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 16777619u;
	return h % QMGR_HASH_SIZE;
}

static struct qmsg *
msg_find(const char *id)
{
	for (struct qmsg *m = qm.hash[hash_id(id)]; m != NULL; m = m->hnext)
		if (strcmp(m->id, id) == 0)
			return m;
	return NULL;
}

static void
rcpt_free(struct qrcpt *r)
{
	free(r->orig);
	free(r->address);
	free(r->orcpt);
	free(r->transport);
	free(r->nexthop);
	free(r->dsn);
	free(r->remote);
	free(r->text);
	free(r);
}

static void
msg_free(struct qmsg *m)
{
	struct qmsg **pp = &qm.hash[hash_id(m->id)];

	while (*pp != NULL && *pp != m)
		pp = &(*pp)->hnext;
	if (*pp == m)
		*pp = m->hnext;
	for (size_t i = 0; i < m->nr; i++)
		rcpt_free(m->r[i]);
	free(m->r);
	queue_envelope_deinit(&m->env);
	qstatus_free(&m->log);
	free(m->sdrelay);
	free(m->sdrelay_err);
	free(m->sddt);
	free(m->sddt_err);
	free(m);
	qm.nactive--;
	if (qm.backlog && qm.nactive <= qm.active_max / 2)
		schedule_soon();	/* the scan loads more */
}

static void
set_result(struct qrcpt *r, enum rstate st, const char *dsn,
    const char *remote, const char *text)
{
	char *soft = NULL;

	if (st == R_BOUNCED && qm.soft_bounce) {
		/* soft_bounce.h: kept queued, and the log says why. */
		const char *t = text != NULL ? text : "";
		size_t n = strlen(t), max = QMGR_TEXT_MAX -
		    strlen(SOFT_BOUNCE_NOTE);

		st = R_DEFERRED;
		/* Cut at a character boundary, never inside a UTF-8
		 * sequence. */
		if (n > max) {
			n = max;
			while (n > 0 && ((unsigned char)t[n] & 0xc0) == 0x80)
				n--;
		}
		soft = xasprintf("%.*s%s", (int)n, t, SOFT_BOUNCE_NOTE);
		text = soft;
	}
	r->st = st;
	free(r->dsn);
	free(r->remote);
	free(r->text);
	r->dsn = xstrdup(dsn != NULL ? dsn : "");
	if (soft != NULL)
		soft_bounce_dsn(r->dsn);
	r->remote = xstrdup(remote != NULL ? remote : "");
	r->text = xstrndup(text != NULL ? text : "", QMGR_TEXT_MAX);
	free(soft);
	r->rflags = 0;
	r->when = time(NULL);
}

static char *
path_of(const char *dir, const char *id)
{
	return xasprintf("%s/%s", dir, id);
}

/* ---------------------------------------------------------------- */
/* Transports and destinations                                      */

/* A per-transport number: NAME_SUFFIX when set, else dflt. */
static long long
transport_number(const char *name, const char *suffix, long long dflt)
{
	char *pname = xasprintf("%s%s", name, suffix);
	char *val = config_expand_name(qm.v, pname);
	long long n = dflt;

	if (val != NULL && *val != '\0') {
		char *end;
		long long x = strtoll(val, &end, 10);

		if (*end == '\0' && x >= 0)
			n = x;
		else
			log_warning("%s = %s is not a number; using %lld",
			    pname, val, dflt);
	}
	free(val);
	free(pname);
	return n;
}

static struct qtransport *
transport_get(const char *name)
{
	const struct master_cf *mcf = config_master(qm.cf);
	struct qtransport *t;

	for (t = qm.transports; t != NULL; t = t->next)
		if (strcmp(t->name, name) == 0)
			return t;
	t = xcalloc(1, sizeof(*t));
	t->name = xstrdup(name);
	t->maxproc = 1;
	for (size_t i = 0; mcf != NULL && i < mcf->nservices; i++) {
		const struct master_service *ms = &mcf->services[i];

		if (ms->type != MASTER_TYPE_UNIX || strcmp(ms->name, name) != 0)
			continue;
		if (master_program_for(ms)->kind != PROGRAM_RUN) {
			t->why_missing = xasprintf("mail transport \"%s\" "
			    "uses the %s (%s), which this version of Ostia "
			    "does not have yet; the mail stays queued", name,
			    master_program_for(ms)->what, ms->command);
			break;
		}
		t->exists = true;
		t->maxproc = master_service_concurrency(ms,
		    config_service(qm.cf, i));
		break;
	}
	if (!t->exists && t->why_missing == NULL)
		t->why_missing = xasprintf("mail transport \"%s\" is not "
		    "available: master.cf has no unix service of that name",
		    name);
	if (t->maxproc == 0)
		t->maxproc = 1;
	t->rcpt_limit = (size_t)transport_number(name,
	    "_destination_recipient_limit", (long long)qm.default_rcpt_limit);
	if (t->rcpt_limit == 0 || t->rcpt_limit > DELIVER_RCPTS_MAX)
		t->rcpt_limit = DELIVER_RCPTS_MAX;
	t->dest_limit = (unsigned)transport_number(name,
	    "_destination_concurrency_limit", qm.default_dest_limit);
	if (t->dest_limit == 0)
		t->dest_limit = t->maxproc;	/* 0 = no per-destination cap */
	/* A rate delay makes deliveries to a destination one at a time,
	 * each NAME_destination_rate_delay after the end of the last (as
	 * Postfix). */
	t->rate_delay = (time_t)config_suffix_time(qm.v, name,
	    "_destination_rate_delay", (long long)qm.default_rate_delay);
	if (t->rate_delay > 0)
		t->dest_limit = 1;
	t->next = qm.transports;
	qm.transports = t;
	return t;
}

static struct qdest *
dest_get(struct qtransport *t, const char *nexthop)
{
	struct qdest *d;

	for (d = t->dests; d != NULL; d = d->next)
		if (strcmp(d->nexthop, nexthop) == 0)
			return d;
	d = xcalloc(1, sizeof(*d));
	d->t = t;
	d->nexthop = xstrdup(nexthop);
	d->limit = t->dest_limit;
	d->next = t->dests;
	t->dests = d;
	return d;
}

static void
dest_push(struct qdest *d, struct qrcpt *r)
{
	r->dnext = NULL;
	if (d->tail != NULL)
		d->tail->dnext = r;
	else
		d->head = r;
	d->tail = r;
	d->waiting++;
}

/* ---------------------------------------------------------------- */
/* Recipients enter the schedule                                    */

/* deferred_transport - is transport named in defer_transports? */
static bool
deferred_transport(const char *transport)
{
	for (char **p = qm.defer_transports; p != NULL && *p != NULL; p++)
		if (strcmp(*p, transport) == 0)
			return true;
	return false;
}

static void
rcpt_route(struct qrcpt *r)
{
	struct qtransport *t;
	time_t now = time(NULL);

	if (r->transport[0] == '\0') {
		set_result(r, R_DEFERRED, "4.3.5", "", "the address resolver "
		    "gave no transport for this address");
		r->m->busy--;
		return;
	}
	/* The sender's default transport, before anything looks at the
	 * transport; never the global one instead when its lookup failed. */
	if (r->default_transport && r->m->sddt_err != NULL) {
		set_result(r, R_DEFERRED, "4.3.0", "", r->m->sddt_err);
		log_info("%s: to=<%s>, relay=none, dsn=4.3.0, status=deferred "
		    "(%s)", r->m->id, r->address, r->m->sddt_err);
		r->m->busy--;
		return;
	}
	if (r->default_transport && r->m->sddt != NULL) {
		const char *v = r->m->sddt, *colon = strchr(v, ':');

		free(r->transport);
		r->transport = colon != NULL ? xstrndup(v, (size_t)(colon -
		    v)) : xstrdup(v);
		if (colon != NULL && colon[1] != '\0') {
			/* Its own next hop: no relay host replaces it. */
			free(r->nexthop);
			r->nexthop = xstrdup(colon + 1);
			r->relayhost = false;
		}
	}
	t = transport_get(r->transport);
	if (!t->exists || now < t->down_until) {
		set_result(r, R_DEFERRED, "4.3.0", "",
		    !t->exists ? t->why_missing : t->down_why);
		r->m->busy--;
		return;
	}
	/* defer_transports: delivered only by `ostia queue flush`. */
	if (!r->m->flush && deferred_transport(r->transport)) {
		set_result(r, R_DEFERRED, "4.3.2", "", "deferred transport");
		log_info("%s: to=<%s>, relay=%s, dsn=4.3.2, status=deferred "
		    "(deferred transport: %s is in defer_transports; `ostia "
		    "queue flush` delivers it)", r->m->id, r->address,
		    r->transport, r->transport);
		r->m->busy--;
		return;
	}
	if (r->relayhost && r->m->sdrelay_err != NULL) {
		/* Never sent the default way instead. */
		set_result(r, R_DEFERRED, "4.3.0", "", r->m->sdrelay_err);
		log_info("%s: to=<%s>, relay=none, dsn=4.3.0, status=deferred "
		    "(%s)", r->m->id, r->address, r->m->sdrelay_err);
		r->m->busy--;
		return;
	}
	if (r->relayhost && r->m->sdrelay != NULL) {
		free(r->nexthop);
		r->nexthop = xstrdup(r->m->sdrelay);
	}
	r->st = R_WAITING;
	dest_push(dest_get(t, r->nexthop), r);
	schedule_soon();
}

/*
 * new_rcpt - a final address of m with its route, not scheduled: NULL
 * when it duplicates one m has (one delivery), else the recipient,
 * R_SKIP when the status log says it is done.
 */
static struct qrcpt *
new_rcpt(struct qmsg *m, long idx, const char *orig, const char *address,
    const char *orcpt, uint32_t notify, const char *transport,
    const char *nexthop)
{
	struct qrcpt *r = xcalloc(1, sizeof(*r));
	const struct qstatus_entry *e;

	/* One delivery per final address and route (Postfix's duplicate
	 * filter): two recipients that expand to the same mailbox get one
	 * copy.  Bounded, like Postfix's duplicate_filter_limit. */
	for (size_t i = 0; i < m->nr && i < QMGR_DUP_FILTER_LIMIT; i++) {
		struct qrcpt *o = m->r[i];

		if (strcasecmp(o->address, address) == 0 &&
		    strcmp(o->transport, transport != NULL ? transport : "") ==
		    0 && strcmp(o->nexthop, nexthop != NULL ? nexthop : "") ==
		    0) {
			log_debug(1, "%s: <%s> (from <%s>) is a duplicate; one "
			    "delivery", m->id, address, orig);
			free(r);
			return NULL;
		}
	}
	r->m = m;
	r->idx = idx;
	r->orig = xstrdup(orig);
	r->address = xstrdup(address);
	r->orcpt = orcpt != NULL ? xstrdup(orcpt) : NULL;
	r->notify = notify;
	r->transport = xstrdup(transport != NULL ? transport : "");
	r->nexthop = xstrdup(nexthop != NULL ? nexthop : "");
	m->r = xreallocarray(m->r, m->nr + 1, sizeof(*m->r));
	m->r[m->nr++] = r;
	e = qstatus_find(&m->log, idx, address);
	if (e != NULL && (e->action == QSTATUS_SENT ||
	    e->action == QSTATUS_BOUNCED)) {
		r->st = R_SKIP;
		r->logged = true;
	}
	return r;
}

/* add_rcpt - a final address with its route, scheduled (new_rcpt);
 * busy counted by caller. */
static struct qrcpt *
add_rcpt(struct qmsg *m, long idx, const char *orig, const char *address,
    const char *orcpt, uint32_t notify, const char *transport,
    const char *nexthop)
{
	struct qrcpt *r = new_rcpt(m, idx, orig, address, orcpt, notify,
	    transport, nexthop);

	if (r == NULL || r->st == R_SKIP)
		return r;
	m->busy++;
	if (m->lookups > 0) {
		/* Scheduled with the others once the message's last route
		 * lookup is back (release_routed): recipients of one message
		 * for one destination then leave in one delivery, whatever
		 * order the answers came in. */
		r->st = R_ROUTED;
		return r;
	}
	rcpt_route(r);
	return r;
}

/* release_routed - m's route lookups are all back: schedule the
 * recipients that waited for them. */
static void
release_routed(struct qmsg *m)
{
	for (size_t i = 0; i < m->nr; i++)
		if (m->r[i]->st == R_ROUTED)
			rcpt_route(m->r[i]);
}

/*
 * refuse_all - m was refused after its submission (its 'E' record,
 * queue_file.h): every recipient, as queued, bounces with the reason,
 * none is routed or delivered; the failure notice goes to the sender.
 */
static void
refuse_all(struct qmsg *m)
{
	const char *why = m->env.refused;
	size_t codelen = strcspn(why, " ");
	char *dsn = xstrndup(why, codelen);
	const char *text = why + codelen + (why[codelen] == ' ');

	for (size_t i = 0; i < m->env.nrcpts + m->env.nbccs; i++) {
		const struct queue_rcpt *q = i < m->env.nrcpts ?
		    &m->env.rcpts[i] : NULL;
		const char *addr = q != NULL ? q->addr :
		    m->env.bccs[i - m->env.nrcpts];
		struct qrcpt *r = new_rcpt(m, (long)i, addr, addr,
		    q != NULL ? q->orcpt : NULL, q != NULL ?
		    deliver_notify_bits(q->notify) : DELIVER_NOTIFY_NEVER,
		    "", "");

		if (r == NULL || r->st == R_SKIP)
			continue;
		set_result(r, R_BOUNCED, dsn, "", text);
		log_info("%s: to=<%s>, relay=none, dsn=%s, status=%s (%s)",
		    m->id, r->address, r->dsn, r->st == R_BOUNCED ? "bounced" :
		    "deferred", r->text);
	}
	free(dsn);
	msg_check_done(m);
}

static void on_route(void *ctx, enum dict_status st, const char *text,
    size_t len);

static void
ask_route(struct qmsg *m, long idx, const char *orig, const char *address,
    const char *orcpt, uint32_t notify, bool expand)
{
	struct qlookup *l = xcalloc(1, sizeof(*l));

	l->m = m;
	l->idx = idx;
	l->orig = xstrdup(orig);
	l->orcpt = orcpt != NULL ? xstrdup(orcpt) : NULL;
	l->notify = notify;
	l->expand = expand;
	l->address = xstrdup(address);
	m->lookups++;
	(void)lookup_client_route(qm.lc, "", expand ? LOOKUP_ROUTE_EXPAND :
	    LOOKUP_ROUTE_RESOLVE, address, on_route, l);
}

/*
 * The sender's entry in a sender-dependent table, looked up once per
 * message (the address, then @domain; the null sender as the table's
 * empty_address_*_lookup_key): one word (sdrelay: a relay host;
 * sddt: "transport[:nexthop]"), or DUNNO for no override.  rcpt_route
 * applies it to the recipients whose route allows it.  A failed lookup,
 * or an entry that is not one such word, defers those recipients: they
 * are never sent the default way instead.
 */
struct sender_table {
	const char *param;	/* its parameter, for the words */
	const char *what;	/* "relay host", "transport[:nexthop]" */
};

static const struct sender_table sdrelay_table = {
	"sender_dependent_relayhost_maps", "relay host",
};
static const struct sender_table sddt_table = {
	"sender_dependent_default_transport_maps", "transport[:nexthop]",
};

struct sender_ask {
	struct qmsg *m;
	const struct sender_table *t;
	char **val, **err;	/* the message's entry and failure */
};

static void
on_sender_entry(void *ctx, enum dict_status st, const char *text, size_t len)
{
	struct sender_ask *q = ctx;
	struct qmsg *m = q->m;
	const struct sender_table *t = q->t;
	char **val = q->val, **err = q->err;

	free(q);
	if (st == DICT_TEMPFAIL) {
		*err = xasprintf("%s lookup of <%s> failed: %.*s", t->param,
		    m->env.sender, (int)len, text);
		log_warning("%s: %s", m->id, *err);
	} else if (st == DICT_FOUND) {
		char *v = xstrndup(text, len);
		char *p = v + strspn(v, " \t");
		size_t n = strcspn(p, " \t,");
		bool one = n > 0 && p[n + strspn(p + n, " \t")] == '\0';

		p[n] = '\0';
		if (!one || *p == ':') {
			*err = xasprintf("%s: the entry for <%s> is not one %s "
			    "(\"%.*s\")", t->param, m->env.sender, t->what,
			    (int)(len < 100 ? len : 100), text);
			log_warning("%s: %s", m->id, *err);
		} else if (strcasecmp(p, "DUNNO") != 0) {
			*val = xstrdup(p);
			log_debug(1, "%s: sender <%s>: %s %s (%s)", m->id,
			    m->env.sender, t->what, p, t->param);
		}
		free(v);
	}
	m->lookups--;
	if (m->lookups == 0)
		release_routed(m);
	msg_check_done(m);
}

/* ask_sender - look the sender up in maps for t. */
static void
ask_sender(struct qmsg *m, const struct sender_table *t, const char *maps,
    const char *null_key, char **val, char **err)
{
	struct sender_ask *q = xcalloc(1, sizeof(*q));
	const char *key = m->env.sender[0] != '\0' ? m->env.sender :
	    null_key;

	q->m = m;
	q->t = t;
	q->val = val;
	q->err = err;
	m->lookups++;
	(void)lookup_client_find(qm.lc, maps, key,
	    m->env.sender[0] != '\0' ? LOOKUP_FIND_ADDRESS : LOOKUP_FIND_EXACT,
	    0, qm.delim, on_sender_entry, q);
}

/* A recipient whose lookups failed: deferred with the reason. */
static void
lookup_failed(struct qlookup *l, const char *why)
{
	struct qrcpt *r = add_rcpt(l->m, l->idx, l->orig, l->address,
	    l->orcpt, l->notify, "", "");

	if (r == NULL || r->st == R_SKIP)
		return;
	if (r->st == R_ROUTED)
		l->m->busy--;	/* never scheduled: it ends here */
	set_result(r, R_DEFERRED, "4.3.0", "", why);
}

static void
on_route(void *ctx, enum dict_status st, const char *text, size_t len)
{
	struct qlookup *l = ctx;
	struct qmsg *m = l->m;
	struct lookup_route_answer a;
	char *why = NULL;

	if (st != DICT_FOUND) {
		why = xasprintf("address lookup failed: %s", text);
	} else if (lookup_route_answer_parse(text, len, &a) < 0) {
		why = xstrdup("address lookup failed: the lookup process "
		    "sent a malformed answer");
	} else {
		if (!l->expand || a.rcpts == NULL || (a.rcpts[0] != NULL &&
		    a.rcpts[1] == NULL && (strcmp(a.rcpts[0], l->address) ==
		    0 || strcmp(a.rcpts[0], a.address) == 0))) {
			/* No alias applies: this answer routes it.  Still
			 * R_ROUTED (this lookup counts): rcpt_route, after
			 * the sender's relay host is known, schedules it. */
			struct qrcpt *r = add_rcpt(m, l->idx, l->orig,
			    a.address, l->orcpt, l->notify, a.transport,
			    a.nexthop);

			if (r != NULL) {
				r->relayhost = (a.flags & ROUTE_F_RELAYHOST) !=
				    0;
				r->default_transport = (a.flags &
				    ROUTE_F_DEFAULT_TRANSPORT) != 0;
			}
		} else {
			size_t n = 0;

			for (char **p = a.rcpts; *p != NULL; p++)
				n++;
			if (m->nr + n > QMGR_RCPTS_MAX) {
				why = xasprintf("alias expansion of <%s> "
				    "gives too many recipients (%zu)",
				    l->address, n);
			} else {
				for (char **p = a.rcpts; *p != NULL; p++)
					ask_route(m, l->idx, l->orig, *p,
					    l->orcpt, l->notify, false);
			}
		}
		lookup_route_answer_deinit(&a);
	}
	if (why != NULL) {
		log_warning("%s: to=<%s>: %s", m->id, l->address, why);
		lookup_failed(l, why);
		free(why);
	}
	free(l->orig);
	free(l->orcpt);
	free(l->address);
	free(l);
	m->lookups--;
	if (m->lookups == 0)
		release_routed(m);
	msg_check_done(m);
}

/* ---------------------------------------------------------------- */
/* Loading a message                                                */

static bool
service_no_mappings(const char *service)
{
	const struct master_cf *mcf = config_master(qm.cf);
	const struct config_view *v = qm.v;
	bool r = false;
	char **opts;

	for (size_t i = 0; service != NULL && mcf != NULL &&
	    i < mcf->nservices; i++)
		if (strcmp(mcf->services[i].name, service) == 0) {
			v = config_service(qm.cf, i);
			break;
		}
	opts = config_list(v, P_receive_override_options);
	for (size_t i = 0; opts[i] != NULL; i++)
		if (strcasecmp(opts[i], "no_address_mappings") == 0)
			r = true;
	strv_free(&opts);
	return r;
}

static void
move_to(const char *from_dir, const char *id, const char *to_dir)
{
	char *from = path_of(from_dir, id), *to = path_of(to_dir, id);

	if (rename(from, to) < 0)
		log_error("%s: cannot move %s to %s: %s", id, from, to,
		    strerror(errno));
	free(from);
	free(to);
}

static void
append_log(struct qmsg *m, const struct qstatus_entry *e, size_t n)
{
	struct buf b;
	char line[QSTATUS_LINE_MAX];
	char *path = path_of(QUEUE_STATUS_DIR, m->id);

	buf_init(&b, n * QSTATUS_LINE_MAX);
	for (size_t i = 0; i < n; i++) {
		size_t len = qstatus_format(line, sizeof(line), &e[i]);

		(void)buf_append(&b, line, len);
	}
	m->has_log = true;
	if (b.len > 0 && qstatus_append(path, b.data, b.len) < 0)
		log_error("%s: cannot record delivery status in %s: %s "
		    "(a restart may deliver those recipients again)", m->id,
		    path, strerror(errno));
	buf_deinit(&b);
	free(path);
}

/*
 * load_message - read dir/id and route its recipients.  fresh: the
 * envelope of a message just committed (qmgr_committed), taken over;
 * such a message cannot have a status log.  NULL: read the file.
 */
static void
load_message(const char *dir, const char *id, struct queue_envelope *fresh,
    bool flush)
{
	char *path = path_of(dir, id), *err = NULL, *text;
	const char *perr = NULL;
	struct qmsg *m;
	size_t len = 0;
	int e = 0;

	if (msg_find(id) != NULL) {
		if (fresh != NULL)
			queue_envelope_deinit(fresh);
		free(path);
		return;
	}
	if (fresh != NULL && fresh->id != NULL && strcmp(fresh->id, id) == 0) {
		m = xcalloc(1, sizeof(*m));
		snprintf(m->id, sizeof(m->id), "%s", id);
		m->dir = dir;
		m->env = *fresh;	/* taken over */
		free(path);
		goto parsed;
	}
	if (fresh != NULL)
		queue_envelope_deinit(fresh);
	text = file_read_capped(path, qm.max_file_bytes, &len, &e, &err);
	if (text == NULL) {
		if (e != ENOENT)
			log_error("%s: cannot read %s: %s", id, path, err);
		free(err);
		free(path);
		return;
	}
	m = xcalloc(1, sizeof(*m));
	snprintf(m->id, sizeof(m->id), "%s", id);
	m->dir = dir;
	if (queue_file_parse(text, len, &m->env, NULL, &perr) < 0 ||
	    m->env.id == NULL || strcmp(m->env.id, id) != 0) {
		char *why = queue_file_reused_why(text, len, id, perr);

		if (why != NULL)
			log_warning("%s: %s %s; moved to %s/ and never "
			    "delivered", id, path, why, QUEUE_CORRUPT_DIR);
		else
			log_error("%s: %s is not a valid queue file (%s); "
			    "moved to %s/ and never delivered: inspect it "
			    "with `ostia queue show`", id, path, perr != NULL ?
			    perr : "another ID", QUEUE_CORRUPT_DIR);
		free(why);
		free(text);
		free(path);
		queue_envelope_deinit(&m->env);
		free(m);
		move_to(dir, id, QUEUE_CORRUPT_DIR);
		return;
	}
	free(text);
	free(path);
parsed:
	m->arrival = (time_t)strtoll(m->env.arrival, NULL, 10);
	m->probe = qmgr_is_probe(&m->env);
	m->flush = flush;
	/* A message just committed has a new ID: no status log yet. */
	path = path_of(QUEUE_STATUS_DIR, id);
	switch (fresh != NULL ? 0 : qstatus_load(path, &m->log)) {
	case -1:
		log_warning("%s: cannot read %s: %s", id, path,
		    strerror(errno));
		m->has_log = true;
		break;
	case 1:
		m->has_log = true;
		break;
	default:
		break;
	}
	free(path);

	m->hnext = qm.hash[hash_id(id)];
	qm.hash[hash_id(id)] = m;
	qm.nactive++;
	/* Being worked on: incoming/ (listed with '*'); a restart tries
	 * everything there at once. */
	if (strcmp(dir, QUEUE_DEFERRED_DIR) == 0) {
		move_to(dir, id, QUEUE_INCOMING_DIR);
		m->dir = QUEUE_INCOMING_DIR;
	}

	if (m->env.refused != NULL) {
		refuse_all(m);
		return;
	}
	if (m->env.hold != NULL && !qstatus_has_hold(&m->log)) {
		struct qstatus_entry h = { .idx = -1, .action = QSTATUS_HOLD,
			.when = time(NULL), .text = m->env.hold };

		append_log(m, &h, 1);
		log_info("%s: held: %s (release it with `ostia queue release "
		    "%s`)", id, m->env.hold, id);
		move_to(m->dir, id, QUEUE_HOLD_DIR);
		msg_free(m);
		return;
	}
	m->no_mappings = service_no_mappings(m->env.service);
	/* Recipients: R records, or the REDIRECT address, then BCCs. */
	m->busy++;	/* held while the lookups are issued */
	if (qm.sdrelay_maps[0] != '\0')
		ask_sender(m, &sdrelay_table, qm.sdrelay_maps,
		    qm.sdrelay_null_key, &m->sdrelay, &m->sdrelay_err);
	if (qm.sddt_maps[0] != '\0')
		ask_sender(m, &sddt_table, qm.sddt_maps, qm.sddt_null_key,
		    &m->sddt, &m->sddt_err);
	for (size_t i = 0; i < m->env.nrcpts; i++) {
		const struct queue_rcpt *q = &m->env.rcpts[i];
		const char *addr = q->addr;
		uint32_t notify = deliver_notify_bits(q->notify);

		if (m->env.redirect != NULL) {
			if (i > 0)
				break;
			addr = m->env.redirect;
		}
		if (m->env.filter != NULL) {
			char *f = xstrdup(m->env.filter);
			char *colon = strchr(f, ':');

			if (colon != NULL)
				*colon++ = '\0';
			(void)add_rcpt(m, (long)i, q->addr, addr, q->orcpt,
			    notify, f, colon != NULL ? colon : "");
			free(f);
		} else {
			ask_route(m, (long)i, q->addr, addr, q->orcpt, notify,
			    !m->no_mappings);
		}
	}
	for (size_t j = 0; j < m->env.nbccs; j++)
		ask_route(m, (long)(m->env.nrcpts + j), m->env.bccs[j],
		    m->env.bccs[j], NULL, DELIVER_NOTIFY_NEVER,
		    !m->no_mappings);
	m->busy--;
	msg_check_done(m);
}

/* ---------------------------------------------------------------- */
/* Agent connections                                                */

static void job_finish(struct agent_conn *ac, const char *why);

static void
conn_free(struct agent_conn *ac)
{
	if (ac->ev != NULL)
		event_free(ac->ev);
	ipc_conn_deinit(&ac->ipc);
	close(ac->sock);
	free(ac->last_hop);
	free(ac);
}

/* handle_forward - a forwarding address of a recipient, kept until its
 * status comes (deliver_proto.h).  false when the job was ended. */
static bool
handle_forward(struct agent_conn *ac, struct ipc_in *in)
{
	struct qjob *j = ac->job;
	struct deliver_forward f;
	const char *err = NULL;

	if (deliver_forward_decode(in, &f, &err) < 0) {
		log_error("%s: delivery agent %s sent a bad forward (%s)",
		    j->m->id, ac->t->name, err);
		job_finish(ac, "the delivery agent sent a malformed answer");
		return false;
	}
	if (f.idx >= j->n || j->got[f.idx] || (j->nfwd != NULL &&
	    j->nfwd[f.idx] >= DELIVER_FORWARDS_MAX)) {
		log_error("%s: delivery agent %s sent a forward for a "
		    "recipient it was not given, or too many",
		    j->m->id, ac->t->name);
		deliver_forward_free(&f);
		job_finish(ac, "the delivery agent sent a malformed answer");
		return false;
	}
	if (j->fwd == NULL) {
		j->fwd = xcalloc(j->n, sizeof(*j->fwd));
		j->nfwd = xcalloc(j->n, sizeof(*j->nfwd));
	}
	j->fwd[f.idx] = strv_append(j->fwd[f.idx], f.address);
	j->nfwd[f.idx]++;
	deliver_forward_free(&f);
	return true;
}

static void
handle_status(struct agent_conn *ac, struct ipc_in *in)
{
	struct qjob *j = ac->job;
	struct deliver_result res;
	const char *err = NULL;
	struct qrcpt *r;

	if (deliver_result_decode(in, &res, &err) < 0) {
		log_error("%s: delivery agent %s sent a bad status (%s)",
		    j->m->id, ac->t->name, err);
		job_finish(ac, "the delivery agent sent a malformed answer");
		return;
	}
	if (res.idx >= j->n || j->got[res.idx]) {
		log_error("%s: delivery agent %s sent a status for a "
		    "recipient it was not given", j->m->id, ac->t->name);
		deliver_result_free(&res);
		job_finish(ac, "the delivery agent sent a malformed answer");
		return;
	}
	j->got[res.idx] = true;
	r = j->r[res.idx];
	if (res.status == DELIVER_OK && j->fwd != NULL &&
	    j->nfwd[res.idx] > 0) {
		/* Delivered here, and forwarded: done once the copy for the
		 * other addresses is queued. */
		char id[QUEUE_ID_LEN + 1], why[QMGR_TEXT_MAX];

		/* One destination: the copy carries the NOTIFY on and its
		 * delivery is what the sender hears about (RFC 3461
		 * 6.2.7.2), not this step; several: "expanded" here. */
		r->rflags = res.flags;
		if ((res.flags & DELIVER_R_EXPANDED) == 0)
			r->rflags |= DELIVER_R_DSN_PASSED;
		if (qmgr_forward(j->m, r, j->fwd[res.idx], j->nfwd[res.idx],
		    id, why, sizeof(why)) < 0) {
			log_error("%s: to=<%s>: %s", j->m->id, r->address, why);
			set_result(r, R_DEFERRED, "4.3.0", NULL, why);
		} else {
			char *text = xasprintf("%s; forwarded as %s", res.text,
			    id);
			uint32_t flags = r->rflags;

			set_result(r, R_SENT, res.dsn, res.remote, text);
			r->rflags = flags;
			free(text);
		}
		deliver_result_free(&res);
		return;
	}
	set_result(r, res.status == DELIVER_OK ? R_SENT :
	    res.status == DELIVER_BOUNCE ? R_BOUNCED : R_DEFERRED, res.dsn,
	    res.remote, res.text);
	r->rflags = res.flags;
	deliver_result_free(&res);
}

static void
on_agent(evutil_socket_t fd, short what, void *arg)
{
	struct agent_conn *ac = arg;
	struct ipc_in in;
	uint32_t type;
	int pfd, r;

	if (ipc_conn_fill(&ac->ipc) < 0) {
		if (ac->job != NULL) {
			char *why = xasprintf("lost the connection to delivery "
			    "agent %s: %s (see its log)", ac->t->name,
			    strerror(errno));

			job_finish(ac, why);
			free(why);
		}
		goto drop;
	}
	while ((r = ipc_conn_next(&ac->ipc, &type, &in, &pfd)) == 1) {
		if (pfd >= 0)
			close(pfd);
		if (ac->job == NULL || pfd >= 0) {
			log_error("delivery agent %s sent an unexpected "
			    "message; dropping the connection", ac->t->name);
			if (ac->job != NULL)
				job_finish(ac, "the delivery agent sent a "
				    "malformed answer");
			goto drop;
		}
		if (type == DELIVER_MSG_STATUS) {
			handle_status(ac, &in);
		} else if (type == DELIVER_MSG_FORWARD) {
			if (!handle_forward(ac, &in))
				goto drop;
		} else if (type == DELIVER_MSG_DONE && ipc_in_done(&in)) {
			job_finish(ac, NULL);
			/* The connection may carry the next request. */
			ac->next = ac->t->idle;
			ac->t->idle = ac;
			schedule_soon();
			return;
		} else {
			log_error("delivery agent %s sent message type %u out "
			    "of turn", ac->t->name, type);
			job_finish(ac, "the delivery agent sent a malformed "
			    "answer");
			goto drop;
		}
		if (ac->job == NULL)	/* finished by an error above */
			goto drop;
	}
	if (r < 0) {
		log_error("malformed frame from delivery agent %s",
		    ac->t->name);
		if (ac->job != NULL)
			job_finish(ac, "the delivery agent sent a malformed "
			    "answer");
		goto drop;
	}
	if (ac->ipc.eof) {
		if (ac->job != NULL)
			job_finish(ac, "the delivery agent closed the "
			    "connection during the delivery (it may have "
			    "crashed: see its log)");
		goto drop;
	}
	return;
drop:
	/* Remove from the idle list if it is there. */
	for (struct agent_conn **pp = &ac->t->idle; *pp != NULL;
	    pp = &(*pp)->next)
		if (*pp == ac) {
			*pp = ac->next;
			break;
		}
	conn_free(ac);
}

/*
 * idle_conn_for - an idle agent connection for a request to d, taken off
 * the idle list: one whose last request went to the same next hop when
 * there is one (its agent may still hold a connection there), else the
 * first.  NULL when none is idle.
 */
static struct agent_conn *
idle_conn_for(struct qtransport *t, const struct qdest *d)
{
	struct agent_conn **pick = t->idle != NULL ? &t->idle : NULL, *ac;

	for (struct agent_conn **pp = &t->idle; *pp != NULL;
	    pp = &(*pp)->next)
		if ((*pp)->last_hop != NULL &&
		    strcmp((*pp)->last_hop, d->nexthop) == 0) {
			pick = pp;
			break;
		}
	if (pick == NULL)
		return NULL;
	ac = *pick;
	*pick = ac->next;
	return ac;
}

static struct agent_conn *
conn_new(struct qtransport *t, char **why_r)
{
	struct sockaddr_un sun;
	struct agent_conn *ac;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path), "private/%s",
	    t->name) >= sizeof(sun.sun_path)) {
		*why_r = xasprintf("transport name %s is too long", t->name);
		return NULL;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		*why_r = xasprintf("socket: %s", strerror(errno));
		return NULL;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		*why_r = xasprintf("delivery agent %s is not available "
		    "(cannot connect to %s/%s: %s); is its master.cf service "
		    "running? `ostia status` shows it", t->name,
		    config_str(qm.v, P_queue_directory), sun.sun_path,
		    strerror(errno));
		close(fd);
		return NULL;
	}
	ac = xcalloc(1, sizeof(*ac));
	ac->t = t;
	ac->sock = fd;
	ipc_conn_init(&ac->ipc, fd);
	ac->ev = event_new(qm.base, fd, EV_READ | EV_PERSIST, on_agent, ac);
	event_add(ac->ev, NULL);
	return ac;
}

static int
send_job(struct agent_conn *ac, struct qjob *j, char **why_r)
{
	struct qmsg *m = j->m;
	struct deliver_req req;
	struct ipc_out o;
	char *path = path_of(m->dir, m->id);
	int fd, r = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		*why_r = xasprintf("cannot open the queue file %s: %s", path,
		    strerror(errno));
		free(path);
		return -1;
	}
	free(path);
	memset(&req, 0, sizeof(req));
	req.queue_id = m->id;
	req.transport = ac->t->name;
	req.nexthop = j->d->nexthop;
	req.sender = m->env.sender;
	req.envid = m->env.envid != NULL ? m->env.envid : UNCONST("");
	req.ret = m->env.ret != NULL ? m->env.ret : UNCONST("");
	req.flags = (m->env.smtputf8 ? DELIVER_F_SMTPUTF8 : 0) |
	    (m->env.sender[0] == '\0' ? DELIVER_F_NOTICE : 0) |
	    (m->probe ? DELIVER_F_VERIFY : 0);
	req.arrival = (uint64_t)m->arrival;
	req.client_name = m->env.client_name;
	req.client_addr = m->env.client_addr;
	req.helo = m->env.helo;
	req.protocol = m->env.protocol;
	req.sasl_user = m->env.sasl_user != NULL ? m->env.sasl_user :
	    UNCONST("");
	req.nrcpts = j->n;
	/* ipc_send() never blocks (MSG_DONTWAIT): a request that does not
	 * fit in the socket's buffer fails here and the job is deferred. */
	if (deliver_req_encode(&req, &o) < 0) {
		*why_r = xstrdup("the message's envelope does not fit in a "
		    "delivery request");
		goto out;
	}
	if (ipc_send(ac->sock, DELIVER_MSG_REQ, &o, fd) < 0) {
		*why_r = xasprintf("cannot send the request to delivery agent "
		    "%s: %s", ac->t->name, strerror(errno));
		goto out;
	}
	for (size_t i = 0; i < j->n; i++) {
		struct deliver_rcpt dr = {
			.idx = (uint32_t)i,
			.address = j->r[i]->address,
			.orig_rcpt = j->r[i]->orig,
			.orcpt = j->r[i]->orcpt != NULL ? j->r[i]->orcpt :
			    UNCONST(""),
			.notify = j->r[i]->notify,
		};

		if (deliver_rcpt_encode(&dr, &o) < 0) {
			*why_r = xasprintf("recipient <%s> does not fit in a "
			    "delivery request", j->r[i]->address);
			goto out;
		}
		if (ipc_send(ac->sock, DELIVER_MSG_RCPT, &o, -1) < 0) {
			*why_r = xasprintf("cannot send the request to "
			    "delivery agent %s: %s", ac->t->name,
			    strerror(errno));
			goto out;
		}
	}
	r = 0;
out:
	close(fd);
	return r;
}

/*
 * job_finish - the request on ac is over: recipients without a status
 * get why (or "no status"); the message moves on.  ac->job is cleared.
 */
static void
job_finish(struct agent_conn *ac, const char *why)
{
	struct qjob *j = ac->job;
	struct qmsg *m = j->m;
	struct qstatus_entry *log = NULL;
	size_t nlog = 0;

	ac->job = NULL;
	ac->t->busy--;
	j->d->busy--;
	if (ac->t->rate_delay > 0) {
		j->d->next_ok = time(NULL) + ac->t->rate_delay;
		rate_wakeup(j->d->next_ok);
	}
	for (size_t i = 0; i < j->n; i++) {
		struct qrcpt *r = j->r[i];

		if (!j->got[i])
			set_result(r, R_DEFERRED, "4.3.0", "", why != NULL ?
			    why : "the delivery agent gave no status for this "
			    "recipient");
		m->busy--;
		if (r->st == R_SENT)
			log_info("%s: to=<%s>%s%s%s, relay=%s, status=%s (%s)",
			    m->id, r->address, strcmp(r->orig, r->address) ?
			    ", orig_to=<" : "", strcmp(r->orig, r->address) ?
			    r->orig : "", strcmp(r->orig, r->address) ? ">" :
			    "", ac->t->name, m->probe ? "deliverable" : "sent",
			    r->text);
		else
			log_info("%s: to=<%s>, relay=%s, dsn=%s, status=%s "
			    "(%s%s%s)", m->id, r->address, ac->t->name, r->dsn,
			    r->st == R_BOUNCED ? (m->probe ? "undeliverable" :
			    "bounced") : "deferred", r->text, r->remote[0] ?
			    "; " : "", r->remote);
	}
	/* Others of this message are still out: record the finals now, so
	 * that a crash does not deliver these again. */
	if (m->busy > 0 || m->lookups > 0) {
		log = xcalloc(j->n, sizeof(*log));
		for (size_t i = 0; i < j->n; i++) {
			struct qrcpt *r = j->r[i];

			if (r->st != R_SENT && r->st != R_BOUNCED)
				continue;
			log[nlog++] = (struct qstatus_entry){ .idx = r->idx,
			    .action = r->st == R_SENT ? QSTATUS_SENT :
			    QSTATUS_BOUNCED, .when = r->when, .dsn = r->dsn,
			    .address = r->address, .remote = r->remote,
			    .text = r->text };
			r->logged = true;
		}
		if (nlog > 0)
			append_log(m, log, nlog);
		free(log);
	}
	free(j->r);
	free(j->got);
	for (size_t i = 0; j->fwd != NULL && i < j->n; i++)
		strv_free(&j->fwd[i]);
	free(j->fwd);
	free(j->nfwd);
	free(j);
	msg_check_done(m);
}

/* ---------------------------------------------------------------- */
/* The scheduler                                                    */

/* rate_wakeup - run the transports again at time at (a destination a
 * rate delay holds back may go on then). */
static void
rate_wakeup(time_t at)
{
	time_t now = time(NULL);
	struct timeval tv = { at > now ? at - now : 0, 0 };

	if (qm.rate_ev == NULL || (qm.rate_at != 0 && qm.rate_at <= at))
		return;
	qm.rate_at = at;
	evtimer_add(qm.rate_ev, &tv);
}

static void
on_rate(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	qm.rate_at = 0;
	schedule_soon();
}

static void
defer_waiting(struct qtransport *t, const char *why)
{
	for (struct qdest *d = t->dests; d != NULL; d = d->next) {
		struct qrcpt *r;

		while ((r = d->head) != NULL) {
			d->head = r->dnext;
			d->waiting--;
			set_result(r, R_DEFERRED, "4.3.0", "", why);
			r->m->busy--;
			msg_check_done(r->m);
		}
		d->tail = NULL;
	}
}

/* next_job - recipients of one message from d's queue, up to the limit. */
static struct qjob *
next_job(struct qdest *d)
{
	struct qjob *j = xcalloc(1, sizeof(*j));
	struct qrcpt **pp = &d->head, *last = NULL;
	size_t limit = d->t->rcpt_limit;

	j->d = d;
	j->m = d->head->m;
	j->r = xcalloc(limit, sizeof(*j->r));
	while (*pp != NULL && j->n < limit) {
		struct qrcpt *r = *pp;

		if (r->m != j->m) {
			last = r;
			pp = &r->dnext;
			continue;
		}
		*pp = r->dnext;
		d->waiting--;
		r->st = R_INFLIGHT;
		j->r[j->n++] = r;
	}
	/* Fix the tail: the last one kept. */
	if (*pp == NULL)
		d->tail = last;
	if (d->head == NULL)
		d->tail = NULL;
	else if (d->tail == NULL)
		for (struct qrcpt *r = d->head; r != NULL; r = r->dnext)
			d->tail = r;
	j->got = xcalloc(j->n, sizeof(*j->got));
	return j;
}

static void
run_transport(struct qtransport *t)
{
	while (t->busy < t->maxproc) {
		struct qdest *d = NULL, *start;
		struct agent_conn *ac;
		struct qjob *j;
		char *why = NULL;

		/* Round robin over destinations with work and room (and,
		 * with a rate delay, whose pause is over). */
		start = t->rr != NULL ? t->rr : t->dests;
		for (struct qdest *x = start; x != NULL;) {
			if (x->head != NULL && x->busy < x->limit &&
			    x->next_ok > time(NULL)) {
				rate_wakeup(x->next_ok);
			} else if (x->head != NULL && x->busy < x->limit) {
				d = x;
				break;
			}
			x = x->next != NULL ? x->next : t->dests;
			if (x == start)
				break;
		}
		if (d == NULL)
			return;
		t->rr = d->next;
		ac = idle_conn_for(t, d);
		if (ac == NULL && (ac = conn_new(t, &why)) == NULL) {
			log_warning("%s", why);
			/* transport_retry_time: its mail waits meanwhile. */
			t->down_until = time(NULL) + qm.transport_retry;
			free(t->down_why);
			t->down_why = why;
			defer_waiting(t, why);
			return;
		}
		j = next_job(d);
		ac->job = j;
		if (ac->last_hop == NULL || strcmp(ac->last_hop, d->nexthop) !=
		    0) {
			free(ac->last_hop);
			ac->last_hop = xstrdup(d->nexthop);
		}
		t->busy++;
		d->busy++;
		if (send_job(ac, j, &why) < 0) {
			log_warning("%s: %s", j->m->id, why);
			job_finish(ac, why);
			free(why);
			conn_free(ac);
		}
	}
}

static void
on_schedule(evutil_socket_t fd, short what, void *arg)
{
	for (struct qtransport *t = qm.transports; t != NULL; t = t->next)
		run_transport(t);
	if (qm.backlog && qm.nactive <= qm.active_max / 2)
		event_active(qm.scan_ev, EV_TIMEOUT, 0);
}

static void
schedule_soon(void)
{
	if (qm.sched_ev != NULL)
		event_active(qm.sched_ev, EV_TIMEOUT, 0);
}

/* ---------------------------------------------------------------- */
/* Finishing an attempt                                             */

static time_t
backoff(const struct qmsg *m, time_t now)
{
	time_t age = now - m->arrival;

	if (age < qm.min_backoff)
		age = qm.min_backoff;
	if (age > qm.max_backoff)
		age = qm.max_backoff;
	return age;
}

static void
remove_files(struct qmsg *m)
{
	char *p;

	/* The file stays for the next message received (queue_spare.h). */
	if (spare_remove(m->dir, m->id) < 0 && errno != ENOENT) {
		p = path_of(m->dir, m->id);
		log_error("%s: cannot remove %s: %s", m->id, p,
		    strerror(errno));
		free(p);
	}
	if (m->has_log || m->log.n > 0) {
		p = path_of(QUEUE_STATUS_DIR, m->id);
		(void)unlink(p);
		free(p);
	}
}

/* A recipient's dsn as a 4.x.x turned into a failure after expiry. */
static void
expire(struct qrcpt *r, time_t lifetime)
{
	char *text = xasprintf("message expired after %lld seconds in the "
	    "queue; last problem: %s", (long long)lifetime, r->text);
	char *dsn = xstrdup(r->dsn[0] == '4' ? r->dsn : "4.4.7");
	char *remote = xstrdup(r->remote);

	set_result(r, R_BOUNCED, dsn, remote, text);
	free(text);
	free(dsn);
	free(remote);
}

/*
 * probe_finish - every recipient of the probe m has a result: the best
 * of them (deliverable, then deferred, then undeliverable) is the
 * verdict on the address it was sent for.  The probe leaves the queue.
 */
static void
probe_finish(struct qmsg *m)
{
	const struct qrcpt *best = NULL;
	int best_rank = 0;
	const char *addr = m->env.nrcpts > 0 ? m->env.rcpts[0].addr : "";
	enum verify_state st = VERIFY_DEFER;

	for (size_t i = 0; i < m->nr; i++) {
		const struct qrcpt *r = m->r[i];
		int rank = r->st == R_SENT ? 3 : r->st == R_DEFERRED ? 2 :
		    r->st == R_BOUNCED ? 1 : 0;

		if (rank > best_rank) {
			best = r;
			best_rank = rank;
		}
	}
	if (best != NULL)
		st = best_rank == 3 ? VERIFY_OK : best_rank == 2 ?
		    VERIFY_DEFER : VERIFY_BOUNCE;
	if (addr[0] != '\0')
		qmgr_verify_probe_done(addr, st, best != NULL ? best->dsn :
		    "4.3.0", best != NULL ? best->text : "the probe gave no "
		    "result");
	log_info("%s: address verification of <%s>: %s (%s); probe "
	    "removed", m->id, addr, verify_state_name(st), best != NULL ?
	    best->text : "no result");
	remove_files(m);
	msg_free(m);
}

static void
msg_check_done(struct qmsg *m)
{
	time_t now = time(NULL), lifetime;
	size_t ndef = 0, nsent = 0, nbounced = 0, nlog = 0;
	struct qstatus_entry *log;
	const char *last_why = NULL;
	char *p;

	if (m->busy > 0 || m->lookups > 0)
		return;
	if (m->delete_req) {
		log_info("%s: removed by `ostia queue delete`", m->id);
		remove_files(m);
		msg_free(m);
		return;
	}
	if (m->probe) {
		probe_finish(m);
		return;
	}
	for (size_t i = 0; i < m->nr; i++) {
		if (m->r[i]->st == R_DEFERRED) {
			ndef++;
			last_why = m->r[i]->text;
		}
	}
	lifetime = m->env.sender[0] == '\0' ? qm.bounce_lifetime :
	    qm.lifetime;
	if (ndef > 0 && now - m->arrival >= lifetime && qm.soft_bounce) {
		log_info("%s: in the queue for longer than %lld seconds; kept "
		    "because soft_bounce = yes (it would have been returned "
		    "to the sender)", m->id, (long long)lifetime);
	} else if (ndef > 0 && now - m->arrival >= lifetime) {
		for (size_t i = 0; i < m->nr; i++)
			if (m->r[i]->st == R_DEFERRED)
				expire(m->r[i], lifetime);
		log_info("%s: expired after %lld seconds; returned to sender",
		    m->id, (long long)lifetime);
		ndef = 0;
	}
	for (size_t i = 0; i < m->nr; i++) {
		if (m->r[i]->st == R_SENT)
			nsent++;
		else if (m->r[i]->st == R_BOUNCED)
			nbounced++;
	}
	if (ndef > 0) {
		struct timespec ts[2];
		time_t next = now + backoff(m, now);

		/* Record what is final and why the rest waits. */
		log = xcalloc(m->nr + 1, sizeof(*log));
		for (size_t i = 0; i < m->nr; i++) {
			struct qrcpt *r = m->r[i];

			if (r->st == R_SKIP || r->logged)
				continue;
			log[nlog++] = (struct qstatus_entry){ .idx = r->idx,
			    .action = r->st == R_SENT ? QSTATUS_SENT :
			    r->st == R_BOUNCED ? QSTATUS_BOUNCED :
			    QSTATUS_DEFERRED, .when = r->when, .dsn = r->dsn,
			    .address = r->address, .remote = r->remote,
			    .text = r->text };
		}
		/* delay_warning_time: one delay notice per message. */
		if (qm.delay_warning > 0 && now - m->arrival >=
		    qm.delay_warning && !qstatus_has_warned(&m->log) &&
		    m->env.sender[0] != '\0') {
			log[nlog++] = (struct qstatus_entry){ .idx = -1,
			    .action = QSTATUS_WARNED, .when = now,
			    .dsn = UNCONST(""), .address = UNCONST(""),
			    .remote = UNCONST(""), .text = UNCONST("") };
			qmgr_send_notice(m, DSN_KIND_DELAY);
		}
		if (nlog > 0)
			append_log(m, log, nlog);
		free(log);
		p = path_of(m->dir, m->id);
		ts[0].tv_sec = next;
		ts[0].tv_nsec = 0;
		ts[1] = ts[0];
		if (utimensat(AT_FDCWD, p, ts, 0) < 0)
			log_warning("%s: cannot set the retry time of %s: %s",
			    m->id, p, strerror(errno));
		free(p);
		if (m->hold_req) {
			move_to(m->dir, m->id, QUEUE_HOLD_DIR);
			log_info("%s: held by `ostia queue hold`", m->id);
		} else {
			if (strcmp(m->dir, QUEUE_DEFERRED_DIR) != 0)
				move_to(m->dir, m->id, QUEUE_DEFERRED_DIR);
			log_info("%s: deferred: %zu recipient%s not delivered "
			    "yet (%s); next attempt in %lld s", m->id, ndef,
			    ndef == 1 ? "" : "s", last_why,
			    (long long)(next - now));
		}
		msg_free(m);
		return;
	}
	/* Every recipient is done. */
	if (nbounced > 0 || m->log.n > 0)
		qmgr_send_notice(m, DSN_KIND_FAILURE);
	if (nsent > 0 || m->log.n > 0)
		qmgr_send_notice(m, DSN_KIND_SUCCESS);
	log_info("%s: removed", m->id);
	remove_files(m);
	msg_free(m);
}

/* ---------------------------------------------------------------- */
/* Queue scans                                                      */

/* list_dir - valid queue IDs in dir, sorted (oldest first), partial
 * files left out (queue_listing.h); a directory that cannot be read is
 * logged and empty. */
static char **
list_dir(const char *dir, size_t *n_r)
{
	int err;
	char **names = queue_listing_names(dir, n_r, &err);

	if (err < 0)
		log_warning("cannot read %s: %s", dir, strerror(errno));
	return names;
}

/*
 * clog_check - (the active limit is reached) when one destination's
 * waiting recipients belong to at least half of the active messages,
 * say so, at most once per qmgr_clog_warn_time: that destination is
 * holding up other mail.
 */
static void
clog_check(void)
{
	static uint64_t pass;
	const struct qdest *worst = NULL;
	size_t worst_n = 0;
	time_t now = time(NULL);

	if (qm.clog_warn <= 0 || (qm.clog_warned != 0 &&
	    now - qm.clog_warned < qm.clog_warn))
		return;
	for (const struct qtransport *t = qm.transports; t != NULL;
	    t = t->next)
		for (const struct qdest *d = t->dests; d != NULL;
		    d = d->next) {
			size_t n = 0;

			/* Messages, not recipients: each counted once. */
			pass++;
			for (struct qrcpt *r = d->head; r != NULL;
			    r = r->dnext)
				if (r->m->clog_seen != pass) {
					r->m->clog_seen = pass;
					n++;
				}
			if (n > worst_n) {
				worst_n = n;
				worst = d;
			}
		}
	if (worst == NULL || worst_n * 2 < qm.active_max)
		return;
	qm.clog_warned = now;
	log_warning("mail for %s (transport %s) is using up %zu of %zu active "
	    "queue entries: other mail waits behind it (is that destination "
	    "slow or down? qmgr_message_active_limit, qmgr_clog_warn_time)",
	    worst->nexthop[0] != '\0' ? worst->nexthop : "(no next hop)",
	    worst->t->name, worst_n, qm.active_max);
}

/*
 * backlog_begin - the active limit is reached: more messages wait in
 * their directory, loaded as the active ones finish.  Said once per
 * backlog in the log.
 */
static void
backlog_begin(void)
{
	qm.backlog = true;
	clog_check();
	if (qm.backlog_said)
		return;
	qm.backlog_said = true;
	log_info("the queue manager holds %zu messages, its "
	    "qmgr_message_active_limit: newer ones wait in incoming/ (and "
	    "deferred ones in deferred/) until some of these are done",
	    qm.nactive);
}

static void
scan_incoming(void)
{
	size_t n;
	char **names = list_dir(QUEUE_INCOMING_DIR, &n);

	qm.backlog = false;
	for (size_t i = 0; i < n; i++) {
		if (qm.nactive >= qm.active_max) {
			backlog_begin();
			break;
		}
		load_message(QUEUE_INCOMING_DIR, names[i], NULL, false);
	}
	if (!qm.backlog)
		qm.backlog_said = false;
	queue_listing_free_names(names, n);
}

static void
scan_deferred(bool all)
{
	time_t now = time(NULL);
	size_t n;
	char **names = list_dir(QUEUE_DEFERRED_DIR, &n);

	for (size_t i = 0; i < n; i++) {
		struct stat st;
		char *p;

		if (qm.nactive >= qm.active_max)
			break;
		p = path_of(QUEUE_DEFERRED_DIR, names[i]);
		if (stat(p, &st) == 0 && (all || st.st_mtime <= now))
			load_message(QUEUE_DEFERRED_DIR, names[i], NULL, false);
		free(p);
	}
	queue_listing_free_names(names, n);
}

static void
on_scan(evutil_socket_t fd, short what, void *arg)
{
	/* A stopping queue process finishes what it has and loads nothing
	 * more: its successor waits for the lock on incoming/. */
	if (child_draining(qm.child))
		return;
	if (qm.backlog)
		scan_incoming();
	scan_deferred(false);
}

/* ---------------------------------------------------------------- */
/* For qmgr_ctl.c (qmgr_int.h)                                      */

const struct qmgr_settings *
qmgr_settings(void)
{
	static struct qmgr_settings set;

	set.myhostname = qm.myhostname;
	set.double_bounce = qm.double_bounce;
	set.double_bounce_addr = qm.double_bounce_addr;
	set.bounce2_rcpt = qm.bounce2_rcpt;
	set.bounce_rcpt = qm.bounce_rcpt;
	set.delay_rcpt = qm.delay_rcpt;
	set.notify = qm.notify;
	set.bounce_size_limit = qm.bounce_size_limit;
	set.lifetime = qm.lifetime;
	set.max_file_bytes = qm.max_file_bytes;
	set.mail_name = qm.mail_name;
	set.forward_delivered_to = qm.forward_delivered_to;
	return &set;
}

bool
qmgr_running(void)
{
	return qm.base != NULL;
}

uint64_t
qmgr_max_file_bytes(void)
{
	return qm.max_file_bytes;
}

struct qmsg *
qmgr_find(const char *id)
{
	return msg_find(id);
}

void
qmgr_msg_want_hold(struct qmsg *m, bool hold)
{
	m->hold_req = hold;
}

void
qmgr_msg_want_delete(struct qmsg *m)
{
	m->delete_req = true;
}

void
qmgr_load(const char *dir, const char *id, bool flush)
{
	load_message(dir, id, NULL, flush);
}

void
qmgr_move(const char *from_dir, const char *id, const char *to_dir)
{
	move_to(from_dir, id, to_dir);
}

void
qmgr_log_status(const char *id, const struct qstatus_entry *e, size_t n)
{
	struct qmsg tmp;

	memset(&tmp, 0, sizeof(tmp));
	snprintf(tmp.id, sizeof(tmp.id), "%s", id);
	append_log(&tmp, e, n);
}

char *
qmgr_path(const char *dir, const char *id)
{
	return path_of(dir, id);
}

char **
qmgr_list_dir(const char *dir, size_t *n_r)
{
	return list_dir(dir, n_r);
}

void
qmgr_free_names(char **names, size_t n)
{
	queue_listing_free_names(names, n);
}

bool
qmgr_configured(const struct config *cf)
{
	return master_cf_find_program(config_master(cf), "qmgr",
	    MASTER_TYPE_UNIX) >= 0;
}

size_t
qmgr_active(void)
{
	return qm.nactive;
}

void
qmgr_committed(const char *id, struct queue_envelope *env)
{
	if (qm.base == NULL || child_draining(qm.child)) {
		if (env != NULL)
			queue_envelope_deinit(env);
		return;
	}
	if (qm.nactive >= qm.active_max) {
		backlog_begin();
		if (env != NULL)
			queue_envelope_deinit(env);
		return;
	}
	load_message(QUEUE_INCOMING_DIR, id, env, false);
}

void
qmgr_init(struct child *c)
{
	struct event_base *base = child_event_base(c);
	const struct config *cf = child_config(c);
	const struct config_view *v = child_view(c);
	struct timeval tv;
	uint64_t limit = config_size(v, P_message_size_limit);
	char **classes;
	const char *bad;

	qm.base = base;
	qm.child = c;
	qm.cf = cf;
	qm.v = v;
	qm.lc = lookup_client_new(base, LOOKUP_SOCKET_PATH);
	qm.active_max = (size_t)config_int(v, P_qmgr_message_active_limit);
	qm.min_backoff = (time_t)config_time(v, P_minimal_backoff_time);
	qm.max_backoff = (time_t)config_time(v, P_maximal_backoff_time);
	if (qm.max_backoff < qm.min_backoff)
		qm.max_backoff = qm.min_backoff;
	qm.lifetime = (time_t)config_time(v, P_maximal_queue_lifetime);
	qm.bounce_lifetime = (time_t)config_time(v, P_bounce_queue_lifetime);
	qm.delay_warning = (time_t)config_time(v, P_delay_warning_time);
	qm.transport_retry = (time_t)config_time(v, P_transport_retry_time);
	qm.clog_warn = (time_t)config_time(v, P_qmgr_clog_warn_time);
	qm.soft_bounce = config_bool(v, P_soft_bounce);
	qm.default_dest_limit = (unsigned)config_int(v,
	    P_default_destination_concurrency_limit);
	qm.default_rcpt_limit = (size_t)config_int(v,
	    P_default_destination_recipient_limit);
	qm.max_file_bytes = limit == 0 ? ((uint64_t)1 << 32) :
	    limit * 2 + 1024 * 1024;
	qm.myhostname = xstrdup(config_str(v, P_myhostname));
	free(qm.mail_name);
	qm.mail_name = xstrdup(config_str(v, P_mail_name));
	qm.forward_delivered_to = config_list_contains(v,
	    P_prepend_delivered_header, "forward");
	qm.sdrelay_maps = xstrdup(config_str(v,
	    P_sender_dependent_relayhost_maps));
	qm.sdrelay_null_key = xstrdup(config_str(v,
	    P_empty_address_relayhost_maps_lookup_key));
	qm.sddt_maps = xstrdup(config_str(v,
	    P_sender_dependent_default_transport_maps));
	qm.sddt_null_key = xstrdup(config_str(v,
	    P_empty_address_default_transport_maps_lookup_key));
	qm.delim = xstrdup(config_str(v, P_recipient_delimiter));
	qm.defer_transports = config_list(v, P_defer_transports);
	qm.double_bounce = xstrdup(config_str(v, P_double_bounce_sender));
	/* As Postfix: notices come from double-bounce@$myhostname. */
	qm.double_bounce_addr = address_qualify(qm.double_bounce,
	    qm.myhostname);
	/* A bare name gets @$myorigin, as Postfix's cleanup gives the
	 * mail system's own messages (not @$myhostname, as RCPT TO:<NAME>
	 * would). */
	qm.bounce2_rcpt = address_qualify(config_str(v,
	    P_2bounce_notice_recipient), config_str(v, P_myorigin));
	qm.bounce_size_limit = config_size(v, P_bounce_size_limit);
	qm.bounce_rcpt = address_qualify(config_str(v,
	    P_bounce_notice_recipient), config_str(v, P_myorigin));
	qm.delay_rcpt = address_qualify(config_str(v, P_delay_notice_recipient),
	    config_str(v, P_myorigin));
	classes = config_list(v, P_notify_classes);
	/* The configuration check refused unknown words. */
	if (notify_classes_parse(classes, &qm.notify, &bad) < 0)
		log_warning("notify_classes: \"%s\" is not a class; it is "
		    "ignored", bad);
	strv_free(&classes);
	qm.sched_ev = event_new(base, -1, 0, on_schedule, NULL);
	qm.rate_ev = evtimer_new(base, on_rate, NULL);
	qm.default_rate_delay = (time_t)config_time(v,
	    P_default_destination_rate_delay);
	qm.scan_ev = event_new(base, -1, EV_PERSIST, on_scan, NULL);
	tv.tv_sec = config_time(v, P_queue_run_delay);
	tv.tv_usec = 0;
	event_add(qm.scan_ev, &tv);
	qmgr_verify_init(base, v);
	scan_incoming();
	scan_deferred(false);
}
