/* SPDX-License-Identifier: MIT */
/*
 * milter_client - the MTA side of the Milter protocol
 * (milter_client.h).
 *
 * One struct milter_sess per session, holding one struct mconn per
 * filter of the list.  An event goes to the filters one after the other
 * (m->cur); a filter's packets that need a reply are sent one at a
 * time, the others at once.  Events start from the event loop (kick),
 * so a done callback never runs inside the call that began its event.
 */
#include "milter_client.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "address.h"
#include "buf.h"
#include "config.h"
#include "endpoint.h"
#include "log.h"
#include "milter_proto.h"
#include "strnum.h"
#include "strv.h"
#include "xalloc.h"

/* Bytes of message copies held by all sessions of this process. */
static size_t copy_total;

enum milter_default {
	MD_ACCEPT,
	MD_REJECT,
	MD_TEMPFAIL,
	MD_QUARANTINE,
};

static const char *const md_names[] = { "accept", "reject", "tempfail",
    "quarantine" };

struct milter_spec {
	char *name;		/* the endpoint as configured, for logs */
	char *broken;		/* why the entry cannot be used, or NULL */
	struct endpoint ep;
	enum milter_default dflt;
	long long connect_timeout, command_timeout, content_timeout;
	unsigned version;
};

/* Longest reply built, and a client label. */
#define MILTER_REPLY_MAX 1024
#define MILTER_LABEL_MAX 320

struct milter_list {
	char *param;			/* "smtpd_milters", for logs */
	struct milter_spec *spec[MILTER_LIST_MAX];
	size_t n;
	char **macros[MILTER_STAGE__COUNT];	/* our lists per stage */
	uint64_t content_max;
};

enum mc_state {
	MC_NEW,			/* no connection yet */
	MC_CONNECTING,
	MC_NEGOTIATING,		/* OPTNEG sent */
	MC_READY,
	MC_OFF,			/* accepted the session, or failed */
};

enum mev {
	EV_NONE,
	EV_CONNECT,
	EV_HELO,
	EV_MAIL,
	EV_RCPT,
	EV_MESSAGE,
};

/* Where the message event is, for the filter at m->cur. */
enum mphase {
	PH_DATA,
	PH_HDR,
	PH_EOH,
	PH_BODY,
	PH_EOM,
	PH_WAIT_EOM,
};

struct milter_sess;

struct mconn {
	struct milter_sess *m;
	const struct milter_spec *spec;
	enum mc_state st;
	int fd;
	struct event *cev;		/* connect in progress */
	struct endpoint_addrs addrs;
	struct bufferevent *bev;
	uint32_t actions, proto;
	char *macros[MILTER_STAGE__COUNT];	/* SETSYMLIST, or NULL */
	bool txn_accepted;		/* accepted this transaction */
	bool waiting;			/* a reply is due */
};

struct milter_sess {
	const struct milter_list *list;
	struct event_base *base;
	const struct milter_host *host;
	void *ctx;
	struct mconn c[MILTER_LIST_MAX];
	size_t n;
	struct event *kick;		/* runs step() from the loop */
	enum mev ev;
	size_t cur;
	char *rcpt;			/* the RCPT event's address */
	milter_done *done;
	char *sticky;
	bool txn_open;			/* MAIL sent, message not ended */
	bool discard;
	char *hold;			/* this message's quarantine reason */
	char *hold_all;			/* a quarantine default_action */
	bool want_content;
	struct buf content;
	const char *content_refusal;	/* why the copy is incomplete:
					 * the message is refused */
	/* the message event */
	struct milter_msg msg;
	bool msg_split;
	enum mphase phase;
	size_t hidx, boff;
	struct buf replbody;
	bool got_replbody;
	bool body_changed, hdrs_changed, env_changed;
	struct buf newc;
	struct buf pkt;			/* the reply being handled */
	char reply[MILTER_REPLY_MAX];
	/* the event's arguments */
	char *conn_host, *conn_addr;
	unsigned conn_port;
	char *helo;
	char **mail_args;
};

static char **macro_names(const char *text);

/* ---------------------------------------------------------------- */
/* Configuration                                                    */

static void
set_err(char *err, size_t errsz, const char *fmt, ...) ATTR_FORMAT(3, 4);

static void
set_err(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
}

static void
spec_free(struct milter_spec *sp)
{
	if (sp == NULL)
		return;
	free(sp->name);
	free(sp->broken);
	endpoint_clear(&sp->ep);
	free(sp);
}

static char *
trim(char *p)
{
	char *e;

	while (*p == ' ' || *p == '\t' || *p == '\n')
		p++;
	e = p + strlen(p);
	while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n'))
		*--e = '\0';
	return p;
}

static int
parse_time(const char *v, long long *out)
{
	char unit = 's';
	size_t n = strlen(v);
	long long x, mult = 1;

	if (n == 0)
		return -1;
	if (strchr("smhdw", v[n - 1]) != NULL)
		unit = v[--n];
	{
		char num[32];
		const char *e;

		if (n == 0 || n >= sizeof(num))
			return -1;
		memcpy(num, v, n);
		num[n] = '\0';
		if (strnum_parse_ll(num, 1, 86400 * 7, &x, &e) < 0)
			return -1;
	}
	mult = unit == 'm' ? 60 : unit == 'h' ? 3600 : unit == 'd' ? 86400 :
	    unit == 'w' ? 604800 : 1;
	*out = x * mult;
	return *out > 0 && *out <= 86400 * 7 ? 0 : -1;
}

static int
parse_default(const char *v, enum milter_default *out)
{
	for (size_t i = 0; i < sizeof(md_names) / sizeof(md_names[0]); i++)
		if (strcasecmp(v, md_names[i]) == 0) {
			*out = (enum milter_default)i;
			return 0;
		}
	return -1;
}

static int
parse_version(const char *v, unsigned *out)
{
	/* "6", and Postfix's "6;...": the extensions are not needed. */
	if (v[0] >= '2' && v[0] <= '6' && (v[1] == '\0' || v[1] == ';')) {
		*out = (unsigned)(v[0] - '0');
		return 0;
	}
	return -1;
}

/* The milter_* settings an entry starts from. */
struct spec_defaults {
	enum milter_default dflt;
	long long connect_timeout, command_timeout, content_timeout;
	unsigned version;
};

static const struct spec_defaults builtin_defaults = {
	MD_TEMPFAIL, 30, 30, 300, 6 };

/* spec_parse - one list element, starting from the settings in sdef. */
static struct milter_spec *
spec_parse(const char *text, const struct spec_defaults *defs, char *err,
    size_t errsz)
{
	const struct spec_defaults sdef = *defs;
	char *copy = xstrdup(text), *p = trim(copy), *tok, *save = NULL;
	struct milter_spec *sp = xcalloc(1, sizeof(*sp));
	size_t n;
	bool first = true;

	sp->dflt = sdef.dflt;
	sp->connect_timeout = sdef.connect_timeout;
	sp->command_timeout = sdef.command_timeout;
	sp->content_timeout = sdef.content_timeout;
	sp->version = sdef.version;
	n = strlen(p);
	if (n >= 2 && p[0] == '{' && p[n - 1] == '}') {
		p[n - 1] = '\0';
		p = trim(p + 1);
	}
	for (tok = strtok_r(p, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		char *t = trim(tok), *eq, *name, *val;

		if (first) {
			first = false;
			if (endpoint_parse(t, 0, &sp->ep) != ENDPOINT_OK) {
				set_err(err, errsz, "\"%.100s\" is not a "
				    "filter address: use inet:host:port or "
				    "unix:pathname", t);
				goto bad;
			}
			sp->name = xstrdup(t);
			continue;
		}
		eq = strchr(t, '=');
		if (eq == NULL) {
			set_err(err, errsz, "\"%.100s\" in \"%.100s\" is not "
			    "name = value", t, text);
			goto bad;
		}
		*eq = '\0';
		name = trim(t);
		val = trim(eq + 1);
		if (strcmp(name, "default_action") == 0 ?
		    parse_default(val, &sp->dflt) :
		    strcmp(name, "connect_timeout") == 0 ?
		    parse_time(val, &sp->connect_timeout) :
		    strcmp(name, "command_timeout") == 0 ?
		    parse_time(val, &sp->command_timeout) :
		    strcmp(name, "content_timeout") == 0 ?
		    parse_time(val, &sp->content_timeout) :
		    strcmp(name, "protocol") == 0 ?
		    parse_version(val, &sp->version) : -2) {
			set_err(err, errsz, "%s \"%.100s\" in \"%.100s\" %s",
			    name, val, text, strcmp(name, "default_action") ==
			    0 || strcmp(name, "protocol") == 0 ||
			    strstr(name, "timeout") != NULL ? "is not a valid "
			    "value" : "is not a filter setting (use "
			    "default_action, connect_timeout, command_timeout, "
			    "content_timeout or protocol)");
			goto bad;
		}
	}
	if (sp->name == NULL) {
		set_err(err, errsz, "an empty filter entry");
		goto bad;
	}
	free(copy);
	return sp;
bad:
	free(copy);
	spec_free(sp);
	return NULL;
}

int
milter_spec_endpoint(const char *text, struct endpoint *ep, char *err,
    size_t errsz)
{
	struct milter_spec *sp = spec_parse(text, &builtin_defaults, err,
	    errsz);

	if (sp == NULL)
		return -1;
	endpoint_copy(ep, &sp->ep);
	spec_free(sp);
	return 0;
}

int
milter_spec_check(const char *text, char *err, size_t errsz)
{
	struct milter_spec *sp = spec_parse(text, &builtin_defaults, err,
	    errsz);

	if (sp == NULL)
		return -1;
	spec_free(sp);
	return 0;
}

struct milter_list *
milter_list_read(const struct config_view *v, enum param_id list_param)
{
	char **list = config_list(v, list_param);
	const char *pname = config_params[list_param].name;
	struct milter_list *l;
	struct spec_defaults defs;
	char err[512];
	static const enum param_id mparams[MILTER_STAGE__COUNT] = {
		P_milter_connect_macros, P_milter_helo_macros,
		P_milter_mail_macros, P_milter_rcpt_macros,
		P_milter_data_macros, P_milter_end_of_data_macros,
		P_milter_end_of_header_macros,
	};

	if (list == NULL || list[0] == NULL) {
		strv_free(&list);
		return NULL;
	}
	l = xcalloc(1, sizeof(*l));
	l->param = xstrdup(pname);
	if (parse_default(config_str(v, P_milter_default_action),
	    &defs.dflt) < 0)
		defs.dflt = MD_TEMPFAIL;
	defs.connect_timeout = config_time(v, P_milter_connect_timeout);
	defs.command_timeout = config_time(v, P_milter_command_timeout);
	defs.content_timeout = config_time(v, P_milter_content_timeout);
	if (parse_version(config_str(v, P_milter_protocol), &defs.version) <
	    0) {
		log_warning("milter_protocol = %s is not a version from 2 to "
		    "6; using 6", config_str(v, P_milter_protocol));
		defs.version = 6;
	}
	for (size_t i = 0; list[i] != NULL; i++) {
		struct milter_spec *sp;

		if (l->n == MILTER_LIST_MAX) {
			log_warning("%s: more than %d filters; the ones after "
			    "the %dth are not used", pname, MILTER_LIST_MAX,
			    MILTER_LIST_MAX);
			break;
		}
		sp = spec_parse(list[i], &defs, err, sizeof(err));
		if (sp == NULL) {
			/* Fail closed: mail is deferred, never let through
			 * unfiltered because of a typo. */
			log_warning("%s: %s; every session gets 451 4.7.1 "
			    "until it is fixed", pname, err);
			sp = xcalloc(1, sizeof(*sp));
			sp->name = xasprintf("%.100s", list[i]);
			sp->broken = xstrdup(err);
			sp->dflt = MD_TEMPFAIL;
		}
		l->spec[l->n++] = sp;
	}
	strv_free(&list);
	for (size_t i = 0; i < MILTER_STAGE__COUNT; i++)
		l->macros[i] = macro_names(config_str(v, mparams[i]));
	{
		uint64_t lim = config_size(v, P_message_size_limit);

		/* The copy: the message, its trace header and PREPENDs. */
		l->content_max = lim == 0 || lim > (uint64_t)1 << 40 ?
		    (uint64_t)1 << 40 : lim + 1024 * 1024;
	}
	return l;
}

/* ---------------------------------------------------------------- */
/* Macros                                                           */

/* macro_names - the names of a macro list ("i {auth_type}", commas
 * allowed), braces kept. */
static char **
macro_names(const char *text)
{
	struct strv v;
	const char *p = text;

	strv_init(&v);
	while (*p != '\0') {
		size_t n;

		p += strspn(p, " \t\r\n,");
		n = strcspn(p, " \t\r\n,");
		if (n == 0)
			break;
		strv_addn(&v, p, n);
		p += n;
	}
	return strv_steal(&v);
}

static const char *
rcpt_host(const char *a)
{
	const char *at = strrchr(a, '@');

	return at != NULL ? at + 1 : "";
}

const char *
milter_macro_bare(const char *name, char *out, size_t outsz)
{
	size_t len = strlen(name);

	if (len >= 2 && name[0] == '{' && name[len - 1] == '}')
		snprintf(out, outsz, "%.*s", (int)(len - 2), name + 1);
	else
		snprintf(out, outsz, "%s", name);
	return out;
}

/* macro_value - the value of the macro named name now (the RCPT
 * event's address here, anything else from the host), or NULL. */
static const char *
macro_value(struct milter_sess *m, const char *name, char *out,
    size_t outsz)
{
	if (m->rcpt != NULL && (strcmp(name, "{rcpt_addr}") == 0 ||
	    strcmp(name, "rcpt_addr") == 0))
		return m->rcpt;
	if (m->rcpt != NULL && (strcmp(name, "{rcpt_host}") == 0 ||
	    strcmp(name, "rcpt_host") == 0))
		return rcpt_host(m->rcpt);
	return m->host->macro(m->ctx, name, out, outsz);
}

static const char stage_cmd[MILTER_STAGE__COUNT] = {
	SMFIC_CONNECT, SMFIC_HELO, SMFIC_MAIL, SMFIC_RCPT, SMFIC_DATA,
	SMFIC_BODYEOB, SMFIC_EOH,
};

/* put_macros - the MACRO packet of stage for filter c into b. */
static int
put_macros(struct mconn *c, enum milter_stage stage, struct buf *b)
{
	char **own = NULL, **names = c->m->list->macros[stage];
	struct strv nv;
	int r;

	if (c->macros[stage] != NULL)
		names = own = macro_names(c->macros[stage]);
	strv_init(&nv);
	for (size_t i = 0; names != NULL && names[i] != NULL; i++) {
		char tmp[MILTER_LABEL_MAX + 8];
		const char *val = macro_value(c->m, names[i], tmp, sizeof(tmp));

		if (val == NULL || *val == '\0')
			continue;
		strv_add(&nv, names[i]);
		strv_add(&nv, val);
	}
	{
		char **v = strv_steal(&nv);

		r = milter_put_macros(b, stage_cmd[stage],
		    (const char *const *)v);
		strv_free(&v);
	}
	strv_free(&own);
	return r;
}

/* ---------------------------------------------------------------- */
/* Connections                                                      */

static void step(struct milter_sess *m);
static void conn_failed(struct mconn *c, const char *fmt, ...)
    ATTR_FORMAT(2, 3);
static void on_read(struct bufferevent *bev, void *arg);
static void on_event(struct bufferevent *bev, short what, void *arg);

static void
conn_close(struct mconn *c)
{
	if (c->cev != NULL) {
		event_free(c->cev);
		c->cev = NULL;
	}
	endpoint_addrs_free(&c->addrs);
	if (c->bev != NULL) {
		bufferevent_free(c->bev);
		c->bev = NULL;
		c->fd = -1;
	} else if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	for (size_t i = 0; i < MILTER_STAGE__COUNT; i++) {
		free(c->macros[i]);
		c->macros[i] = NULL;
	}
	c->waiting = false;
	c->st = MC_OFF;
}

static const char *
who(struct milter_sess *m, char *out, size_t outsz)
{
	return m->host->label(m->ctx, out, outsz);
}

/* qid - the message's queue ID for log lines, or "NOQUEUE". */
static const char *
qid(const struct milter_sess *m)
{
	const char *id = m->host->queue_id(m->ctx);

	return id != NULL && *id != '\0' ? id : "NOQUEUE";
}

/* finish - the event is over: hand reply (NULL: go on) to the host.
 * m may be gone afterwards. */
static void
finish(struct milter_sess *m, const char *reply)
{
	milter_done *done = m->done;

	m->done = NULL;
	m->ev = EV_NONE;
	free(m->rcpt);
	m->rcpt = NULL;
	if (done != NULL)
		done(m->ctx, reply);
}

static void
set_timeouts(struct mconn *c, long long secs)
{
	struct timeval tv = { .tv_sec = (time_t)secs, .tv_usec = 0 };

	bufferevent_set_timeouts(c->bev, &tv, &tv);
}

/* send_buf - queue b on c; wait for a reply when reply is set. */
static void
send_buf(struct mconn *c, struct buf *b, bool reply)
{
	if (b->len > 0)
		bufferevent_write(c->bev, b->data, b->len);
	buf_reset(b);
	c->waiting = reply;
	if (reply) {
		set_timeouts(c, c->m->ev == EV_MESSAGE ?
		    c->spec->content_timeout : c->spec->command_timeout);
		bufferevent_enable(c->bev, EV_READ);
	}
}

/*
 * quick_ack - acknowledge what the filter sends at once.  libmilter
 * writes an edit and the verdict that follows it as two small packets
 * without TCP_NODELAY: with a delayed acknowledgement here, Nagle holds
 * the verdict back for some 40 ms, on every message.  TCP only; Linux
 * clears the flag as it goes, so it is set again after each read.
 */
static void
quick_ack(const struct mconn *c)
{
	int on = 1;

	if (c->spec->ep.path == NULL && c->fd >= 0)
		(void)setsockopt(c->fd, IPPROTO_TCP, TCP_QUICKACK, &on,
		    sizeof(on));
}

static void
negotiate(struct mconn *c)
{
	struct buf b;
	unsigned v = c->spec->version;

	if (c->spec->ep.path == NULL) {
		int on = 1;

		/* Our packets leave at once, too. */
		(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &on,
		    sizeof(on));
		quick_ack(c);
	}

	c->bev = bufferevent_socket_new(c->m->base, c->fd,
	    BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, MILTER_PKT_MAX + 16);
	buf_init(&b, 64);
	(void)milter_put_optneg(&b, v, MILTER_ACTIONS_ALL,
	    v >= 6 ? MILTER_PROTO_OFFER : 0x7f);
	c->st = MC_NEGOTIATING;
	send_buf(c, &b, true);
	buf_deinit(&b);
}

static void on_connect(evutil_socket_t fd, short what, void *arg);

static void
try_inet(struct mconn *c)
{
	for (;;) {
		int sock = -1;

		switch (endpoint_inet_try(&c->addrs, &sock)) {
		case 1:
			c->fd = sock;
			endpoint_addrs_free(&c->addrs);
			negotiate(c);
			return;
		case 0: {
			struct timeval tv = {
				.tv_sec = (time_t)c->spec->connect_timeout };

			c->fd = sock;
			c->cev = event_new(c->m->base, sock, EV_WRITE,
			    on_connect, c);
			event_add(c->cev, &tv);
			return;
		}
		default:
			conn_failed(c, "cannot connect: %s", strerror(errno));
			return;
		}
	}
}

static void
on_connect(evutil_socket_t fd, short what, void *arg)
{
	struct mconn *c = arg;
	int e;

	(void)fd;
	event_free(c->cev);
	c->cev = NULL;
	if (what & EV_TIMEOUT) {
		conn_failed(c, "no connection within milter_connect_timeout "
		    "(%llds)", c->spec->connect_timeout);
		return;
	}
	e = endpoint_connect_error(c->fd);
	if (e == 0) {
		endpoint_addrs_free(&c->addrs);
		negotiate(c);
		return;
	}
	close(c->fd);
	c->fd = -1;
	if (c->addrs.next != NULL) {
		try_inet(c);
		return;
	}
	conn_failed(c, "cannot connect: %s", strerror(e));
}

static void
conn_open(struct mconn *c)
{
	c->st = MC_CONNECTING;
	c->waiting = true;
	if (c->spec->broken != NULL) {
		conn_failed(c, "the %s entry is wrong: %s",
		    c->m->list->param, c->spec->broken);
		return;
	}
	if (c->spec->ep.path != NULL) {
		c->fd = endpoint_unix_connect(c->spec->ep.path);
		if (c->fd < 0) {
			conn_failed(c, "cannot connect to the socket: %s%s",
			    strerror(errno), errno == ENOENT ? " (is the "
			    "filter running? a relative path is relative to "
			    "queue_directory)" : "");
			return;
		}
		negotiate(c);
		return;
	}
	{
		int rc = endpoint_inet_resolve(&c->addrs, c->spec->ep.host,
		    c->spec->ep.port);

		if (rc != 0) {
			conn_failed(c, "cannot look up %s: %s",
			    c->spec->ep.host, gai_strerror(rc));
			return;
		}
	}
	try_inet(c);
}

/*
 * conn_failed - the filter is unusable for the session: log why, close,
 * and go on as its default_action says.
 */
static void
conn_failed(struct mconn *c, const char *fmt, ...)
{
	struct milter_sess *m = c->m;
	char why[512], w[MILTER_LABEL_MAX];
	va_list ap;
	bool was_waiting = c->waiting;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	conn_close(c);
	log_warning("milter %s: %s (client %s); its default_action is %s",
	    c->spec->name, why, who(m, w, sizeof(w)),
	    md_names[c->spec->dflt]);
	switch (c->spec->dflt) {
	case MD_ACCEPT:
		break;
	case MD_QUARANTINE:
		if (m->hold_all == NULL)
			m->hold_all = xasprintf("milter %s is unavailable",
			    c->spec->name);
		break;
	case MD_REJECT:
	case MD_TEMPFAIL:
		if (m->sticky == NULL)
			m->sticky = xstrdup(c->spec->dflt == MD_REJECT ?
			    "550 5.7.1 Command rejected" :
			    "451 4.7.1 Service unavailable - try again later");
		if (m->ev != EV_NONE && was_waiting) {
			finish(m, m->sticky);
			return;
		}
		break;
	}
	if (m->ev != EV_NONE && was_waiting) {
		m->cur++;
		step(m);
	}
}

/* ---------------------------------------------------------------- */
/* Events                                                           */

static bool
wants(const struct mconn *c, enum mev ev)
{
	if (c->st == MC_OFF)
		return false;
	switch (ev) {
	case EV_CONNECT:
		return true;	/* the connection is made then */
	case EV_HELO:
		return c->st == MC_READY && !(c->proto & SMFIP_NOHELO);
	case EV_MAIL:
		return c->st == MC_READY && !(c->proto & SMFIP_NOMAIL);
	case EV_RCPT:
		return c->st == MC_READY && !c->txn_accepted &&
		    !(c->proto & SMFIP_NORCPT);
	case EV_MESSAGE:
		return c->st == MC_READY && !c->txn_accepted;
	case EV_NONE:
		break;
	}
	return false;
}

static void
on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct milter_sess *m = arg;

	(void)fd;
	(void)what;
	if (m->ev == EV_MESSAGE && m->content_refusal != NULL) {
		finish(m, m->content_refusal);
		return;
	}
	step(m);
}

struct milter_sess *
milter_sess_new(const struct milter_list *l, struct event_base *base,
    const struct milter_host *host, void *ctx)
{
	struct milter_sess *m = xcalloc(1, sizeof(*m));

	m->list = l;
	m->base = base;
	m->host = host;
	m->ctx = ctx;
	m->n = l->n;
	for (size_t i = 0; i < m->n; i++) {
		m->c[i].m = m;
		m->c[i].spec = l->spec[i];
		m->c[i].fd = -1;
	}
	m->kick = event_new(base, -1, 0, on_kick, m);
	buf_init(&m->content, (size_t)l->content_max);
	buf_init(&m->pkt, MILTER_PKT_MAX + 1);
	buf_init(&m->replbody, (size_t)l->content_max);
	buf_init(&m->newc, (size_t)l->content_max * 2);
	return m;
}

/* start - run ev through the filters that want it; true when any. */
static bool
start(struct milter_sess *m, enum mev ev, const char *rcpt,
    milter_done *done)
{
	bool any = false;

	if (m == NULL)
		return false;
	for (size_t i = 0; i < m->n && !any; i++)
		any = wants(&m->c[i], ev);
	if (!any)
		return false;
	m->ev = ev;
	m->cur = 0;
	m->done = done;
	free(m->rcpt);
	m->rcpt = rcpt != NULL ? xstrdup(rcpt) : NULL;
	event_active(m->kick, EV_TIMEOUT, 0);
	return true;
}

/* send_event - the packets of a command event for c; true when a
 * reply is awaited. */
static bool
send_event(struct mconn *c)
{
	struct milter_sess *m = c->m;
	struct buf b;
	bool reply = false;

	buf_init(&b, MILTER_PKT_MAX * 2);
	switch (m->ev) {
	case EV_CONNECT:
		if (c->proto & SMFIP_NOCONNECT)
			break;
		(void)put_macros(c, MILTER_STAGE_CONNECT, &b);
		(void)milter_put_connect(&b, m->conn_host, strchr(m->conn_addr,
		    ':') ? '6' : '4', m->conn_port, m->conn_addr);
		reply = !(c->proto & SMFIP_NR_CONN);
		break;
	case EV_HELO: {
		const char *v[1] = { m->helo != NULL ? m->helo : "" };

		(void)put_macros(c, MILTER_STAGE_HELO, &b);
		(void)milter_put_strs(&b, SMFIC_HELO, v, 1);
		reply = !(c->proto & SMFIP_NR_HELO);
		break;
	}
	case EV_MAIL: {
		size_t n = 0;

		c->txn_accepted = false;
		while (m->mail_args != NULL && m->mail_args[n] != NULL)
			n++;
		(void)put_macros(c, MILTER_STAGE_MAIL, &b);
		(void)milter_put_strs(&b, SMFIC_MAIL,
		    (const char *const *)m->mail_args, n);
		reply = !(c->proto & SMFIP_NR_MAIL);
		break;
	}
	case EV_RCPT: {
		char to[ADDRESS_PATH_MAX_BYTES * 4 + 3];
		const char *v[1] = { to };

		snprintf(to, sizeof(to), "<%s>", m->rcpt);
		(void)put_macros(c, MILTER_STAGE_RCPT, &b);
		(void)milter_put_strs(&b, SMFIC_RCPT, v, 1);
		reply = !(c->proto & SMFIP_NR_RCPT);
		break;
	}
	case EV_MESSAGE:
	case EV_NONE:
		break;
	}
	send_buf(c, &b, reply);
	buf_deinit(&b);
	return reply;
}

/* send_message - the message packets for c from m->phase on, up to one
 * that needs a reply. */
static void
send_message(struct mconn *c)
{
	struct milter_sess *m = c->m;
	struct buf b;
	bool reply = false;

	buf_init(&b, (size_t)-1 / 2);
	while (!reply) {
		switch (m->phase) {
		case PH_DATA:
			m->phase = PH_HDR;
			m->hidx = 0;
			if (c->proto & SMFIP_NODATA)
				break;
			(void)put_macros(c, MILTER_STAGE_DATA, &b);
			(void)milter_put(&b, SMFIC_DATA, NULL, 0);
			reply = !(c->proto & SMFIP_NR_DATA);
			break;
		case PH_HDR: {
			const struct milter_hdr *h;
			char *val;
			size_t nl;

			if ((c->proto & SMFIP_NOHDRS) ||
			    m->hidx >= m->msg.nh) {
				m->phase = PH_EOH;
				break;
			}
			h = &m->msg.h[m->hidx++];
			nl = strlen(h->name);
			val = xmalloc(MILTER_PKT_MAX);
			milter_hdr_value(h, (c->proto & SMFIP_HDR_LEADSPC) != 0,
			    val, MILTER_PKT_MAX - nl - 8);
			{
				const char *v[2] = { h->name, val };

				(void)milter_put_strs(&b, SMFIC_HEADER, v, 2);
			}
			free(val);
			reply = !(c->proto & SMFIP_NR_HDR);
			break;
		}
		case PH_EOH:
			m->phase = PH_BODY;
			m->boff = 0;
			if (c->proto & SMFIP_NOEOH)
				break;
			(void)put_macros(c, MILTER_STAGE_EOH, &b);
			(void)milter_put(&b, SMFIC_EOH, NULL, 0);
			reply = !(c->proto & SMFIP_NR_EOH);
			break;
		case PH_BODY: {
			size_t n;

			if ((c->proto & SMFIP_NOBODY) ||
			    m->boff >= m->msg.bodylen) {
				m->phase = PH_EOM;
				break;
			}
			n = m->msg.bodylen - m->boff;
			if (n > MILTER_CHUNK_MAX)
				n = MILTER_CHUNK_MAX;
			(void)milter_put(&b, SMFIC_BODY, m->msg.body + m->boff,
			    n);
			m->boff += n;
			reply = !(c->proto & SMFIP_NR_BODY);
			break;
		}
		case PH_EOM:
			(void)put_macros(c, MILTER_STAGE_EOM, &b);
			(void)milter_put(&b, SMFIC_BODYEOB, NULL, 0);
			m->phase = PH_WAIT_EOM;
			buf_reset(&m->replbody);
			m->got_replbody = false;
			reply = true;
			break;
		case PH_WAIT_EOM:
			reply = true;
			break;
		}
		/* Packets without replies leave in batches. */
		if (!reply && b.len >= 256 * 1024)
			send_buf(c, &b, false);
	}
	send_buf(c, &b, true);
	buf_deinit(&b);
}

static void
begin_message_for(struct milter_sess *m)
{
	m->phase = PH_DATA;
	m->hidx = m->boff = 0;
}

/* step - send the event to the filter at m->cur or the next that wants
 * it; finish when none is left. */
static void
step(struct milter_sess *m)
{
	while (m->cur < m->n) {
		struct mconn *c = &m->c[m->cur];

		if (!wants(c, m->ev)) {
			m->cur++;
			continue;
		}
		if (c->st == MC_NEW) {
			conn_open(c);
			return;	/* conn_failed or the negotiation goes on */
		}
		if (c->st != MC_READY) {
			m->cur++;
			continue;
		}
		if (m->ev == EV_MESSAGE) {
			begin_message_for(m);
			send_message(c);
			return;
		}
		if (send_event(c))
			return;
		m->cur++;
	}
	if (m->ev == EV_MESSAGE && m->msg_split &&
	    (m->hdrs_changed || m->body_changed)) {
		buf_reset(&m->newc);
		if (milter_msg_join(&m->msg, &m->newc) < 0) {
			char w[MILTER_LABEL_MAX];

			log_warning("%s: the message as the filters changed it "
			    "is too large (client %s)", qid(m),
			    who(m, w, sizeof(w)));
			finish(m, "452 4.3.4 Error: message too large after "
			    "filtering");
			return;
		}
	}
	finish(m, NULL);
}

/* refuse - the filter at m->cur refused: finish with reply, logged. */
static void
refuse(struct mconn *c, const char *reply)
{
	struct milter_sess *m = c->m;
	char w[MILTER_LABEL_MAX];
	static const char *const evname[] = { "", "CONNECT", "HELO", "MAIL",
	    "RCPT", "END-OF-MESSAGE" };

	snprintf(m->reply, sizeof(m->reply), "%s", reply);
	log_info("%s: milter-reject: %s from %s: %s; milter %s",
	    qid(m), evname[m->ev],
	    who(m, w, sizeof(w)), m->reply, c->spec->name);
	if (m->ev == EV_CONNECT && m->sticky == NULL)
		m->sticky = xstrdup(m->reply);
	c->waiting = false;
	finish(m, m->reply);
}

/* strip_brackets - "<a@b>" as a@b, into out. */
static int
strip_brackets(const char *in, char *out, size_t outsz)
{
	size_t n = strlen(in);

	if (n >= 2 && in[0] == '<' && in[n - 1] == '>') {
		in++;
		n -= 2;
	}
	if (n >= outsz || n > ADDRESS_PATH_MAX_BYTES)
		return -1;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)in[i] <= ' ' || in[i] == 0x7f ||
		    in[i] == '<' || in[i] == '>')
			return -1;
	memcpy(out, in, n);
	out[n] = '\0';
	return 0;
}

/* apply_edit - one of the end-of-message changes; -1 with *why. */
static int
apply_edit(struct mconn *c, char cmd, const char *data, size_t len,
    const char **why)
{
	struct milter_sess *m = c->m;
	bool lead = (c->proto & SMFIP_HDR_LEADSPC) != 0;
	const char *v[3];
	uint32_t idx = 0;
	char addr[ADDRESS_PATH_MAX_BYTES + 1];
	static const struct {
		char cmd;
		uint32_t action;
	} need[] = {
		{ SMFIR_ADDHEADER, SMFIF_ADDHDRS },
		{ SMFIR_INSHEADER, SMFIF_ADDHDRS },
		{ SMFIR_CHGHEADER, SMFIF_CHGHDRS },
		{ SMFIR_REPLBODY, SMFIF_CHGBODY },
		{ SMFIR_ADDRCPT, SMFIF_ADDRCPT },
		{ SMFIR_ADDRCPT_PAR, SMFIF_ADDRCPT_PAR },
		{ SMFIR_DELRCPT, SMFIF_DELRCPT },
		{ SMFIR_CHGFROM, SMFIF_CHGFROM },
		{ SMFIR_QUARANTINE, SMFIF_QUARANTINE },
	};

	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++)
		if (need[i].cmd == cmd && !(c->actions & need[i].action)) {
			*why = "the filter made a change it did not ask to "
			    "make when it negotiated";
			return -1;
		}
	if (cmd == SMFIR_INSHEADER || cmd == SMFIR_CHGHEADER) {
		if (len < 4) {
			*why = "a malformed header change";
			return -1;
		}
		memcpy(&idx, data, 4);
		idx = ntohl(idx);
		data += 4;
		len -= 4;
	}
	switch (cmd) {
	case SMFIR_ADDHEADER:
	case SMFIR_INSHEADER:
	case SMFIR_CHGHEADER:
		if (milter_strings(data, len, v, 2) < 0) {
			*why = "a malformed header change";
			return -1;
		}
		m->hdrs_changed = true;
		if (cmd == SMFIR_ADDHEADER)
			return milter_msg_add(&m->msg, v[0], v[1], lead, why);
		if (cmd == SMFIR_INSHEADER)
			return milter_msg_insert(&m->msg, idx, v[0], v[1], lead,
			    why);
		return milter_msg_change(&m->msg, idx, v[0], v[1], lead, why);
	case SMFIR_REPLBODY:
		m->got_replbody = true;
		if (buf_append(&m->replbody, data, len) < 0) {
			*why = "the new body is larger than message_size_limit";
			return -1;
		}
		return 0;
	case SMFIR_ADDRCPT:
	case SMFIR_ADDRCPT_PAR:
		if (milter_strings_range(data, len, v, 1, 2) < 0 ||
		    strip_brackets(v[0], addr, sizeof(addr)) < 0 ||
		    addr[0] == '\0') {
			*why = "a malformed recipient to add";
			return -1;
		}
		m->host->add_rcpt(m->ctx, addr);
		m->env_changed = true;
		log_info("%s: milter %s: add recipient <%s>", qid(m),
		    c->spec->name, addr);
		return 0;
	case SMFIR_DELRCPT:
		if (milter_strings(data, len, v, 1) < 0 ||
		    strip_brackets(v[0], addr, sizeof(addr)) < 0) {
			*why = "a malformed recipient to remove";
			return -1;
		}
		m->host->del_rcpt(m->ctx, addr);
		m->env_changed = true;
		log_info("%s: milter %s: remove recipient <%s>", qid(m),
		    c->spec->name, addr);
		return 0;
	case SMFIR_CHGFROM:
		if (milter_strings_range(data, len, v, 1, 2) < 0 ||
		    strip_brackets(v[0], addr, sizeof(addr)) < 0) {
			*why = "a malformed sender";
			return -1;
		}
		m->host->chg_from(m->ctx, addr);
		m->env_changed = true;
		log_info("%s: milter %s: sender changed to <%s>", qid(m),
		    c->spec->name, addr);
		return 0;
	case SMFIR_QUARANTINE: {
		char reason[256];
		size_t n = 0;

		if (milter_strings(data, len, v, 1) < 0)
			v[0] = "";
		for (const char *p = v[0]; *p != '\0' && n + 1 <
		    sizeof(reason); p++)
			reason[n++] = (unsigned char)*p < 0x20 ? '?' : *p;
		reason[n] = '\0';
		free(m->hold);
		m->hold = xasprintf("milter %s: %s", c->spec->name,
		    n > 0 ? reason : "quarantined");
		return 0;
	}
	}
	*why = "an unknown reply";
	return -1;
}

/*
 * handle - a whole packet from c.  True when c still waits for a reply
 * and more packets may be read; false when the event moved on (the
 * session, m and c may be gone).
 */
static bool
handle(struct mconn *c, char cmd, const char *data, size_t len)
{
	struct milter_sess *m = c->m;
	const char *why = NULL;

	if (!c->waiting) {
		conn_failed(c, "sent a reply ('%c') nobody asked for",
		    (unsigned char)cmd >= 0x20 && cmd < 0x7f ? cmd : '?');
		return false;
	}
	if (c->st == MC_NEGOTIATING) {
		struct milter_optneg o;

		if (cmd != SMFIC_OPTNEG) {
			conn_failed(c, "did not answer the option negotiation");
			return false;
		}
		if (milter_optneg_parse(data, len, &o, &why) < 0) {
			milter_optneg_deinit(&o);
			conn_failed(c, "%s", why);
			return false;
		}
		if ((o.actions & ~MILTER_ACTIONS_ALL) != 0 ||
		    (o.proto & ~(c->spec->version >= 6 ?
		    MILTER_PROTO_OFFER : 0x7fu)) != 0) {
			milter_optneg_deinit(&o);
			conn_failed(c, "asks for actions or protocol steps "
			    "Ostia does not offer (actions 0x%x, steps 0x%x)",
			    o.actions, o.proto);
			return false;
		}
		c->actions = o.actions;
		c->proto = o.proto;
		for (size_t i = 0; i < MILTER_STAGE__COUNT; i++) {
			c->macros[i] = o.macros[i];
			o.macros[i] = NULL;
		}
		c->st = MC_READY;
		c->waiting = false;
		bufferevent_disable(c->bev, EV_READ);
		step(m);
		return false;
	}
	if (cmd == SMFIR_PROGRESS) {
		set_timeouts(c, m->ev == EV_MESSAGE ? c->spec->content_timeout :
		    c->spec->command_timeout);
		return true;
	}
	if (m->ev == EV_MESSAGE && m->phase == PH_WAIT_EOM &&
	    strchr("+-2bhimeq", cmd) != NULL && cmd != '\0') {
		if (apply_edit(c, cmd, data, len, &why) < 0) {
			conn_failed(c, "%s", why);
			return false;
		}
		return true;
	}
	switch (cmd) {
	case SMFIR_CONTINUE:
	case SMFIR_ACCEPT:
		if (cmd == SMFIR_ACCEPT) {
			if (m->ev == EV_CONNECT || m->ev == EV_HELO)
				conn_close(c);	/* done for the session */
			else
				c->txn_accepted = true;
		}
		if (m->ev == EV_MESSAGE && m->phase != PH_WAIT_EOM &&
		    cmd == SMFIR_CONTINUE) {
			send_message(c);
			return true;
		}
		if (m->ev == EV_MESSAGE && m->got_replbody) {
			milter_msg_set_body(&m->msg, buf_steal(&m->replbody),
			    m->replbody.len);
			m->body_changed = true;
			m->got_replbody = false;
		}
		c->waiting = false;
		if (c->bev != NULL)
			bufferevent_disable(c->bev, EV_READ);
		m->cur++;
		step(m);
		return false;
	case SMFIR_SKIP:
		if (m->ev == EV_MESSAGE && m->phase == PH_BODY &&
		    (c->proto & SMFIP_SKIP)) {
			m->phase = PH_EOM;
			send_message(c);
			return true;
		}
		conn_failed(c, "sent SKIP outside the body");
		return false;
	case SMFIR_REJECT:
		refuse(c, m->ev == EV_MESSAGE ? "550 5.7.1 Message content "
		    "rejected" : "550 5.7.1 Command rejected");
		return false;
	case SMFIR_TEMPFAIL:
		refuse(c, "451 4.7.1 Service unavailable - try again later");
		return false;
	case SMFIR_SHUTDOWN:
	case SMFIR_CONN_FAIL:
		refuse(c, "421 4.7.0 Service unavailable - try again later");
		return false;
	case SMFIR_REPLYCODE: {
		char r[MILTER_REPLY_MAX];
		const char *text;

		if (len == 0 || data[len - 1] != '\0') {
			conn_failed(c, "sent a malformed reply code");
			return false;
		}
		text = data;
		if (milter_replycode(text, r, sizeof(r), &why) < 0) {
			conn_failed(c, "sent the reply \"%.60s\": %s", text,
			    why);
			return false;
		}
		refuse(c, r);
		return false;
	}
	case SMFIR_DISCARD:
		if (m->ev == EV_CONNECT || m->ev == EV_HELO) {
			conn_failed(c, "asked to discard before any message");
			return false;
		}
		m->discard = true;
		{
			char w[MILTER_LABEL_MAX];

			log_info("%s: milter-discard: from %s; milter %s",
			    qid(m),
			    who(m, w, sizeof(w)), c->spec->name);
		}
		c->waiting = false;
		bufferevent_disable(c->bev, EV_READ);
		/* Nothing more to ask about this message. */
		for (size_t i = 0; i < m->n; i++)
			m->c[i].txn_accepted = m->c[i].st == MC_READY ||
			    m->c[i].txn_accepted;
		m->cur = m->n;
		step(m);
		return false;
	default:
		conn_failed(c, "sent an unknown or misplaced reply ('%c')",
		    (unsigned char)cmd >= 0x20 && cmd < 0x7f ? cmd : '?');
		return false;
	}
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct mconn *c = arg;
	struct milter_sess *m = c->m;
	struct evbuffer *in = bufferevent_get_input(bev);

	quick_ack(c);
	while (c->waiting) {
		size_t avail = evbuffer_get_length(in), dlen, used, need;
		const char *data, *error;
		unsigned char *p;
		uint32_t n;
		char cmd;

		if (avail < 4)
			return;
		p = evbuffer_pullup(in, 4);
		memcpy(&n, p, 4);
		n = ntohl(n);
		need = n > 0 && n <= MILTER_PKT_MAX ? 4 + (size_t)n : 4;
		if (avail < need)
			return;
		p = evbuffer_pullup(in, (ssize_t)need);
		if (milter_pkt_parse((const char *)p, need, &cmd, &data, &dlen,
		    &used, &error) < 0) {
			conn_failed(c, "%s", error);
			return;
		}
		buf_reset(&m->pkt);
		(void)buf_append(&m->pkt, data, dlen);
		evbuffer_drain(in, used);
		if (!handle(c, cmd, m->pkt.data != NULL ? m->pkt.data : "",
		    m->pkt.len))
			return;
	}
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct mconn *c = arg;

	(void)bev;
	if (what & BEV_EVENT_TIMEOUT)
		conn_failed(c, "no reply within %s (%llds)",
		    c->m->ev == EV_MESSAGE ? "milter_content_timeout" :
		    "milter_command_timeout", c->m->ev == EV_MESSAGE ?
		    c->spec->content_timeout : c->spec->command_timeout);
	else if (what & BEV_EVENT_EOF)
		conn_failed(c, "closed the connection");
	else
		conn_failed(c, "connection error: %s",
		    strerror(EVUTIL_SOCKET_ERROR()));
}

/* ---------------------------------------------------------------- */
/* The caller's side                                                */

bool
milter_connect(struct milter_sess *ms, const char *host, const char *addr,
    unsigned port, milter_done *done)
{
	if (ms == NULL)
		return false;
	free(ms->conn_host);
	free(ms->conn_addr);
	ms->conn_host = xstrdup(host);
	ms->conn_addr = xstrdup(addr);
	ms->conn_port = port;
	return start(ms, EV_CONNECT, NULL, done);
}

bool
milter_helo(struct milter_sess *ms, const char *helo, milter_done *done)
{
	if (ms == NULL)
		return false;
	free(ms->helo);
	ms->helo = xstrdup(helo);
	return start(ms, EV_HELO, NULL, done);
}

static void
send_abort(struct milter_sess *m)
{
	char pkt[5] = { 0, 0, 0, 1, SMFIC_ABORT };

	if (!m->txn_open)
		return;
	m->txn_open = false;
	for (size_t i = 0; i < m->n; i++)
		if (m->c[i].st == MC_READY && m->c[i].bev != NULL)
			bufferevent_write(m->c[i].bev, pkt, sizeof(pkt));
}

static void
txn_clear(struct milter_sess *m)
{
	for (size_t i = 0; i < m->n; i++)
		m->c[i].txn_accepted = false;
	m->discard = false;
	free(m->hold);
	m->hold = NULL;
	copy_total -= m->content.len;
	buf_reset(&m->content);
	m->content_refusal = NULL;
	if (m->msg_split)
		milter_msg_free(&m->msg);
	m->msg_split = false;
	m->hdrs_changed = m->body_changed = m->env_changed = false;
	buf_reset(&m->newc);
	buf_reset(&m->replbody);
	m->got_replbody = false;
}

bool
milter_mail(struct milter_sess *ms, const char *const *args, size_t n,
    milter_done *done)
{
	struct strv v;

	if (ms == NULL)
		return false;
	send_abort(ms);
	txn_clear(ms);
	strv_init(&v);
	for (size_t i = 0; i < n; i++)
		strv_add(&v, args[i]);
	strv_free(&ms->mail_args);
	ms->mail_args = strv_steal(&v);
	if (!start(ms, EV_MAIL, NULL, done))
		return false;
	ms->txn_open = true;
	return true;
}

bool
milter_rcpt(struct milter_sess *ms, const char *rcpt, milter_done *done)
{
	return start(ms, EV_RCPT, rcpt, done);
}

/*
 * own_trace - the message starts with the trace header the MTA wrote
 * (the one that names this message's queue ID), which filters do not
 * see.  header_checks may have removed it.
 */
static bool
own_trace(const struct milter_sess *m)
{
	const struct buf *c = &m->content;
	const char *end, *p, *id = m->host->queue_id(m->ctx);
	char idtext[64];
	size_t n;

	if (id == NULL || *id == '\0' || c->len < 10 ||
	    strncasecmp(c->data, "Received:", 9) != 0)
		return false;
	/* The header's extent: up to a line that does not continue it. */
	for (p = c->data, end = c->data + c->len;;) {
		const char *lf = memchr(p, '\n', (size_t)(end - p));

		if (lf == NULL || lf + 1 >= end || (lf[1] != ' ' &&
		    lf[1] != '\t')) {
			end = lf != NULL ? lf : end;
			break;
		}
		p = lf + 1;
	}
	/* "id ID" after a space or a TAB (smtpd: "with ESMTP id ID",
	 * pickup: a folded "\tid ID"). */
	n = (size_t)snprintf(idtext, sizeof(idtext), "id %.40s", id);
	for (p = c->data; p < end;) {
		const char *hit = memmem(p, (size_t)(end - p), idtext, n);

		if (hit == NULL)
			return false;
		if (hit > c->data && (hit[-1] == ' ' || hit[-1] == '\t') &&
		    (hit + n == end || !isalnum((unsigned char)hit[n])))
			return true;
		p = hit + 1;
	}
	return false;
}

bool
milter_message(struct milter_sess *m, milter_done *done)
{
	if (m == NULL)
		return false;
	if (!start(m, EV_MESSAGE, NULL, done)) {
		m->txn_open = false;
		return false;
	}
	m->txn_open = false;
	/* Never filtered in part, never let through unfiltered. */
	if (m->content_refusal == NULL &&
	    milter_msg_split(&m->msg, m->content.data != NULL ?
	    m->content.data : "", m->content.len, own_trace(m) ? 1 : 0) < 0)
		m->content_refusal = "552 5.6.0 Error: the message has more "
		    "header lines than the filters can be given";
	if (m->content_refusal != NULL) {
		log_warning("%s: not filtered, refused: %s", qid(m),
		    m->content_refusal);
		m->cur = m->n;		/* on_kick: finish with it */
		return true;
	}
	m->msg_split = true;
	return true;
}

const char *
milter_sticky(const struct milter_sess *m)
{
	return m != NULL ? m->sticky : NULL;
}

bool
milter_wants_content(const struct milter_sess *m)
{
	if (m == NULL)
		return false;
	for (size_t i = 0; i < m->n; i++)
		if (wants(&m->c[i], EV_MESSAGE))
			return true;
	return false;
}

void
milter_content(struct milter_sess *m, const char *data, size_t len)
{
	if (m == NULL || m->content_refusal != NULL)
		return;
	if (len > MILTER_COPIES_MAX - copy_total) {
		m->content_refusal = "452 4.3.1 Error: insufficient system "
		    "storage for filtering the message now";
		return;
	}
	if (buf_append(&m->content, data, len) < 0) {
		m->content_refusal = "552 5.3.4 Error: message too big for "
		    "the filters";
		return;
	}
	copy_total += len;
}

bool
milter_discarded(const struct milter_sess *m)
{
	return m != NULL && m->discard;
}

const char *
milter_hold(const struct milter_sess *m)
{
	if (m == NULL)
		return NULL;
	return m->hold != NULL ? m->hold : m->hold_all;
}

const struct buf *
milter_new_content(const struct milter_sess *m)
{
	if (m == NULL || !m->msg_split)
		return NULL;
	if (m->hdrs_changed || m->body_changed)
		return &m->newc;
	if (m->env_changed)
		return &m->content;
	return NULL;
}

bool
milter_envelope_changed(const struct milter_sess *m)
{
	return m != NULL && m->env_changed;
}

void
milter_txn_end(struct milter_sess *m)
{
	if (m == NULL)
		return;
	if (m->ev != EV_NONE) {
		/* An event cut short (the client left): the filter's reply
		 * would come out of turn; its connection goes. */
		for (size_t i = 0; i < m->n; i++)
			if (m->c[i].waiting)
				conn_close(&m->c[i]);
		m->ev = EV_NONE;
		m->done = NULL;
		event_del(m->kick);
	}
	send_abort(m);
	txn_clear(m);
}

void
milter_sess_free(struct milter_sess *m)
{
	static const char quit[5] = { 0, 0, 0, 1, SMFIC_QUIT };

	if (m == NULL)
		return;
	milter_txn_end(m);
	for (size_t i = 0; i < m->n; i++) {
		struct mconn *c = &m->c[i];

		if (c->st == MC_READY && c->bev != NULL) {
			bufferevent_write(c->bev, quit, sizeof(quit));
			/* Best effort: what the socket takes now. */
			(void)evbuffer_write(bufferevent_get_output(c->bev),
			    bufferevent_getfd(c->bev));
		}
		conn_close(c);
	}
	event_free(m->kick);
	copy_total -= m->content.len;
	free(m->sticky);
	free(m->hold_all);
	free(m->rcpt);
	free(m->conn_host);
	free(m->conn_addr);
	free(m->helo);
	strv_free(&m->mail_args);
	buf_deinit(&m->content);
	buf_deinit(&m->pkt);
	buf_deinit(&m->replbody);
	buf_deinit(&m->newc);
	free(m);
}
