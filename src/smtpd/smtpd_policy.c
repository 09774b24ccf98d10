/* SPDX-License-Identifier: MIT */
/*
 * smtpd_policy - smtpd's client of the policy delegation protocol; see
 * smtpd_policy.h for the protocol, the endpoints and the contract.
 *
 * Runs in smtpd as mail_owner.  Replies are untrusted input (STYLE.md
 * 1.3): bounded (POLICY_REPLY_MAX_BYTES), parsed by the pure function
 * policy_reply_parse(), and anything unexpected ends the connection.
 *
 * Structure: every live request is on pc->reqs in the order it was
 * made.  Internal code only changes states and puts answers on
 * pc->ready; callbacks run from one place, on_deliver(), fired by
 * event_active(), so no callback runs inside an API call or in the
 * middle of a state change.  Each connection has one timer: the
 * deadline of the attempt it carries, or its idle expiry.  Each request
 * has one timer: its deadline while it waits for a connection, or the
 * retry delay.
 */
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "buf.h"
#include "config.h"
#include "endpoint.h"
#include "log.h"
#include "smtpd_policy.h"
#include "strv.h"
#include "xalloc.h"

#define READ_CHUNK 4096
#define WHY_MAX 512
#define NAME_MAX_BYTES 64
#define OPTION_VALUE_MAX POLICY_VALUE_MAX_BYTES

/* ---------------------------------------------------------------- */
/* Types                                                            */

struct policy_spec {
	char *endpoint;		/* "inet:host:port" / "unix:path" */
	struct endpoint ep;	/* parsed endpoint */
	long long timeout, max_idle, max_ttl, retry_delay;	/* seconds */
	long long request_limit, try_limit;
	char *default_action;	/* NULL: none */
	char *policy_context;	/* never NULL */
	char *key;		/* registry key */
};

enum conn_state {
	CONN_CONNECTING,	/* TCP connect in progress */
	CONN_READY,
};

struct policy_conn {
	struct policy_client *pc;
	LIST_ENTRY(policy_conn) link;	/* pc->conns */
	unsigned id;		/* for logs */
	enum conn_state state;
	int sock;
	struct event *rev, *wev, *timer;
	struct endpoint_addrs addrs;	/* inet: addresses still to try */
	bool busy;		/* a request (maybe cancelled) is on it */
	struct policy_request *req;	/* NULL when idle or cancelled */
	struct buf in, out;
	size_t out_off;
	uint64_t created_ms, last_used_ms;
	unsigned replies;
	char *instance;		/* instance carried last, NULL none */
};

enum req_state {
	RQ_QUEUED,	/* waiting for a connection; timer = deadline */
	RQ_SENT,	/* on r->conn; its timer has the deadline */
	RQ_RETRY,	/* timer = retry delay */
	RQ_DONE,	/* answer on pc->ready */
};

struct policy_request {
	struct policy_client *pc;
	TAILQ_ENTRY(policy_request) link;	/* pc->reqs */
	TAILQ_ENTRY(policy_request) rlink;	/* pc->ready, when on_ready */
	bool on_ready;
	enum req_state state;
	char *text;		/* the request as sent */
	size_t text_len;
	char *instance;		/* NULL: none */
	unsigned tries;		/* failed attempts */
	uint64_t deadline_ms;	/* of the current attempt */
	struct event *timer;
	struct policy_conn *conn;
	policy_fn *cb;
	void *ctx;
	/* The answer. */
	bool ok;
	char *action;
	char *reason;
};

struct policy_client {
	struct policy_client *next;	/* registry */
	struct event_base *base;
	struct policy_spec *spec;	/* our copy */
	uint64_t timeout_ms, retry_ms, idle_ms, ttl_ms;
	LIST_HEAD(, policy_conn) conns;
	size_t nconns;
	unsigned next_conn_id;
	TAILQ_HEAD(, policy_request) reqs;	/* every live request */
	TAILQ_HEAD(, policy_request) ready;	/* answers to deliver */
	size_t live;		/* callbacks due */
	size_t queued;		/* requests in RQ_QUEUED */
	struct event *deliver_ev;
	unsigned depth;		/* inside on_deliver */
	bool dispatching, redispatch;
};

static struct policy_client *registry;
static unsigned registry_depth;	/* callbacks running, any client */

/* ---------------------------------------------------------------- */
/* Small helpers                                                    */

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void
ms_to_tv(uint64_t ms, struct timeval *tv)
{
	tv->tv_sec = (time_t)(ms / 1000);
	tv->tv_usec = (suseconds_t)(ms % 1000) * 1000;
}

/* fmt_ms - "100s", or "250ms" when not whole seconds. */
static const char *
fmt_ms(uint64_t ms, char *out, size_t outsz)
{
	if (ms % 1000 == 0)
		snprintf(out, outsz, "%llus", (unsigned long long)(ms / 1000));
	else
		snprintf(out, outsz, "%llums", (unsigned long long)ms);
	return out;
}

static void
set_err(char *err, size_t errsz, const char *fmt, ...) ATTR_FORMAT(3, 4);

static void
set_err(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;

	if (errsz == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
	/* One line: configuration text cannot hold control characters,
	 * but never let one through. */
	for (char *p = err; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}

static uint64_t
secs_to_ms(long long s)
{
	if (s <= 0)
		return 0;
	if ((unsigned long long)s > UINT64_MAX / 1000)
		return UINT64_MAX;
	return (uint64_t)s * 1000u;
}

/* ---------------------------------------------------------------- */
/* The reply parser                                                 */

int
policy_reply_parse(const char *buf, size_t len, struct policy_reply *r,
    const char **error_r)
{
	size_t off = 0;
	bool have_action = false;
	size_t aoff = 0, alen = 0;

	for (;;) {
		const char *line = buf + off;
		const char *lf = memchr(line, '\n', len - off);
		size_t llen, nlen;
		const char *eq;

		if (lf == NULL) {
			if (memchr(line, '\0', len - off) != NULL) {
				*error_r = "NUL byte in the reply";
				return -1;
			}
			if (len >= POLICY_REPLY_MAX_BYTES) {
				*error_r = "reply longer than "
				    "8192 bytes";
				return -1;
			}
			return 0;
		}
		llen = (size_t)(lf - line);
		if (off + llen + 1 > POLICY_REPLY_MAX_BYTES) {
			*error_r = "reply longer than 8192 bytes";
			return -1;
		}
		if (memchr(line, '\0', llen) != NULL) {
			*error_r = "NUL byte in the reply";
			return -1;
		}
		off += llen + 1;
		if (llen > 0 && line[llen - 1] == '\r')
			llen--;
		if (llen == 0) {
			/* The empty line ends the reply. */
			if (!have_action) {
				*error_r = "no action= in the reply";
				return -1;
			}
			r->used = off;
			r->action_off = aoff;
			r->action_len = alen;
			return 1;
		}
		eq = memchr(line, '=', llen);
		if (eq == NULL) {
			*error_r = "reply line without name=value";
			return -1;
		}
		nlen = (size_t)(eq - line);
		if (nlen == 0) {
			*error_r = "reply line with an empty name";
			return -1;
		}
		if (nlen == 6 && memcmp(line, "action", 6) == 0) {
			const char *v = eq + 1, *e = line + llen;

			if (have_action) {
				*error_r = "more than one action= in the reply";
				return -1;
			}
			while (v < e && (*v == ' ' || *v == '\t'))
				v++;
			while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
				e--;
			if (v == e) {
				*error_r = "empty action in the reply";
				return -1;
			}
			for (const char *p = v; p < e; p++) {
				unsigned char c = (unsigned char)*p;

				if ((c < 0x20 && c != '\t') || c == 0x7f) {
					*error_r = "control character in the "
					    "action";
					return -1;
				}
			}
			have_action = true;
			aoff = (size_t)(v - buf);
			alen = (size_t)(e - v);
		}
		/* Other attributes are ignored. */
	}
}

/* ---------------------------------------------------------------- */
/* Specs                                                            */

static const char *const option_names[] = {
	"timeout", "max_idle", "max_ttl", "retry_delay", "request_limit",
	"try_limit", "default_action", "policy_context",
};
static const enum param_id option_params[] = {
	P_smtpd_policy_service_timeout, P_smtpd_policy_service_max_idle,
	P_smtpd_policy_service_max_ttl, P_smtpd_policy_service_retry_delay,
	P_smtpd_policy_service_request_limit,
	P_smtpd_policy_service_try_limit,
	P_smtpd_policy_service_default_action, P__COUNT,
};

static long long *
option_slot(struct policy_spec *s, size_t i)
{
	switch (i) {
	case 0: return &s->timeout;
	case 1: return &s->max_idle;
	case 2: return &s->max_ttl;
	case 3: return &s->retry_delay;
	case 4: return &s->request_limit;
	case 5: return &s->try_limit;
	default: return NULL;
	}
}

/* A number from the parameter table's default (v == NULL). */
static long long
builtin_default(enum param_id id)
{
	long long n = 0;
	char *e = NULL;

	if (config_check_value(&config_params[id], config_params[id].def, &n,
	    NULL, &e) < 0)
		log_panic("smtpd_policy: bad built-in default of %s: %s",
		    config_params[id].name, e);
	return n;
}

static void
spec_defaults(struct policy_spec *s, const struct config_view *v)
{
	for (size_t i = 0; i < 6; i++) {
		enum param_id id = option_params[i];
		long long *slot = option_slot(s, i);

		if (v == NULL)
			*slot = builtin_default(id);
		else if (config_params[id].type == PT_TIME)
			*slot = config_time(v, id);
		else
			*slot = config_int(v, id);
	}
	if (v == NULL) {
		const char *d = config_params[
		    P_smtpd_policy_service_default_action].def;

		s->default_action = d[0] != '\0' ? xstrdup(d) : NULL;
		s->policy_context = xstrdup("");
	} else {
		const char *d = config_str(v,
		    P_smtpd_policy_service_default_action);
		char *ctx;

		s->default_action = d != NULL && d[0] != '\0' ?
		    xstrdup(d) : NULL;
		/* Not (yet) in the parameter table: read by name. */
		ctx = config_expand_name(v,
		    "smtpd_policy_service_policy_context");
		s->policy_context = ctx != NULL ? ctx : xstrdup("");
	}
}

/* parse_endpoint - the first element: "inet:h:p", "unix:p", "local:p". */
static int
parse_endpoint(struct policy_spec *s, const char *ep, char *err,
    size_t errsz)
{
	const char *colon = strchr(ep, ':');

	switch (endpoint_parse(ep, 0, &s->ep)) {
	case ENDPOINT_OK:
		if (s->ep.path != NULL)
			s->endpoint = xasprintf("unix:%s", s->ep.path);
		else
			s->endpoint = xstrdup(ep);
		return 0;
	case ENDPOINT_NO_TYPE:
		set_err(err, errsz, "\"%.100s\" is not a policy service: use "
		    "inet:host:port or unix:pathname (unix:private/name for "
		    "a socket under the queue directory)", ep);
		return -1;
	case ENDPOINT_BAD_BRACKET:
		set_err(err, errsz, "malformed policy service \"%.100s\": "
		    "expected inet:[address]:port", ep);
		return -1;
	case ENDPOINT_NO_PORT:
		set_err(err, errsz, "malformed policy service \"%.100s\": "
		    "expected inet:host:port", ep);
		return -1;
	case ENDPOINT_BAD_HOST:
		set_err(err, errsz, "malformed policy service \"%.100s\": "
		    "bad host name or address", ep);
		return -1;
	case ENDPOINT_BAD_PORT:
		set_err(err, errsz, "malformed policy service \"%.100s\": "
		    "the port must be a number 1-65535", ep);
		return -1;
	case ENDPOINT_BAD_PATH:
		set_err(err, errsz, "policy service \"%.100s\": the socket "
		    "path is empty or longer than %zu bytes", ep,
		    endpoint_path_max());
		return -1;
	case ENDPOINT_BAD_TYPE:
		break;
	}
	set_err(err, errsz, "unknown policy service type \"%.*s:\" in "
	    "\"%.100s\": use inet:host:port or unix:pathname",
	    (int)(colon - ep > 20 ? 20 : colon - ep), ep, ep);
	return -1;
}

static char *
trim_dup(const char *s, size_t len)
{
	while (len > 0 && (*s == ' ' || *s == '\t' || *s == '\n' ||
	    *s == '\r')) {
		s++;
		len--;
	}
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' ||
	    s[len - 1] == '\n' || s[len - 1] == '\r'))
		len--;
	return xstrndup(s, len);
}

/* parse_option - "name=value" (or "name = value" from a { } group). */
static int
parse_option(struct policy_spec *s, const char *opt, char *err,
    size_t errsz)
{
	const char *eq = strchr(opt, '=');
	char *name, *value;
	size_t i;
	int rc = -1;

	if (eq == NULL) {
		set_err(err, errsz, "policy service setting \"%.100s\" is not "
		    "name=value (write { name = value } for a value with "
		    "spaces or commas)", opt);
		return -1;
	}
	name = trim_dup(opt, (size_t)(eq - opt));
	value = trim_dup(eq + 1, strlen(eq + 1));
	for (i = 0; i < N_ELEMENTS(option_names); i++)
		if (strcmp(name, option_names[i]) == 0)
			break;
	if (i == N_ELEMENTS(option_names)) {
		set_err(err, errsz, "unknown policy service setting "
		    "\"%.64s\" (known: timeout, max_idle, max_ttl, "
		    "request_limit, try_limit, retry_delay, default_action, "
		    "policy_context)", name);
		goto out;
	}
	if (value[0] == '\0') {
		set_err(err, errsz, "policy service setting %s needs a value",
		    name);
		goto out;
	}
	if (strlen(value) > OPTION_VALUE_MAX ||
	    strpbrk(value, "\r\n") != NULL) {
		set_err(err, errsz, "policy service setting %s: value too "
		    "long or on several lines", name);
		goto out;
	}
	if (option_slot(s, i) != NULL) {
		char *e = NULL;
		long long n = 0;

		if (config_check_value(&config_params[option_params[i]],
		    value, &n, NULL, &e) < 0) {
			set_err(err, errsz, "policy service setting "
			    "%s=%.64s: %s", name, value, e);
			free(e);
			goto out;
		}
		*option_slot(s, i) = n;
	} else if (strcmp(name, "default_action") == 0) {
		free(s->default_action);
		s->default_action = value;
		value = NULL;
	} else {
		free(s->policy_context);
		s->policy_context = value;
		value = NULL;
	}
	rc = 0;
out:
	free(name);
	free(value);
	return rc;
}

static void
spec_make_key(struct policy_spec *s)
{
	free(s->key);
	s->key = xasprintf("%s\n%lld %lld %lld %lld %lld %lld\n%c%zu:%s\n"
	    "%zu:%s", s->endpoint, s->timeout, s->max_idle, s->max_ttl,
	    s->retry_delay, s->request_limit, s->try_limit,
	    s->default_action != NULL ? 'D' : '-',
	    s->default_action != NULL ? strlen(s->default_action) : 0,
	    s->default_action != NULL ? s->default_action : "",
	    strlen(s->policy_context), s->policy_context);
}

struct policy_spec *
policy_spec_parse(const char *text, const struct config_view *v, char *err,
    size_t errsz)
{
	struct policy_spec *s = NULL;
	char *inner = NULL;
	char **items = NULL;
	size_t len;
	const char *p;

	if (text == NULL)
		text = "";
	p = text;
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	len = strlen(p);
	while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t' ||
	    p[len - 1] == '\n' || p[len - 1] == '\r'))
		len--;
	if (len > 0 && p[0] == '{') {
		if (len < 2 || p[len - 1] != '}') {
			set_err(err, errsz, "missing \"}\" in policy service "
			    "\"%.100s\"", text);
			return NULL;
		}
		inner = xstrndup(p + 1, len - 2);
	} else
		inner = xstrndup(p, len);
	/* Braces must balance (config_split_list() tolerates a stray "}"). */
	{
		int depth = 0;

		for (const char *q = inner; *q != '\0'; q++) {
			if (*q == '{')
				depth++;
			else if (*q == '}' && --depth < 0)
				break;
		}
		if (depth != 0) {
			set_err(err, errsz, "unbalanced { } in policy service "
			    "\"%.100s\"", text);
			free(inner);
			return NULL;
		}
	}
	items = config_split_list(inner);
	free(inner);
	if (items[0] == NULL) {
		set_err(err, errsz, "check_policy_service needs a policy "
		    "service: inet:host:port or unix:pathname");
		goto fail;
	}
	s = xcalloc(1, sizeof(*s));
	spec_defaults(s, v);
	if (strchr(items[0], '=') != NULL || items[0][0] == '{') {
		set_err(err, errsz, "the policy service (inet:host:port or "
		    "unix:pathname) must come first, not \"%.100s\"",
		    items[0]);
		goto fail;
	}
	if (parse_endpoint(s, items[0], err, errsz) < 0)
		goto fail;
	for (size_t i = 1; items[i] != NULL; i++)
		if (parse_option(s, items[i], err, errsz) < 0)
			goto fail;
	spec_make_key(s);
	strv_free(&items);
	return s;
fail:
	strv_free(&items);
	policy_spec_free(&s);
	return NULL;
}

void
policy_spec_free(struct policy_spec **sp)
{
	struct policy_spec *s = *sp;

	*sp = NULL;
	if (s == NULL)
		return;
	free(s->endpoint);
	endpoint_clear(&s->ep);
	free(s->default_action);
	free(s->policy_context);
	free(s->key);
	free(s);
}

static struct policy_spec *
spec_dup(const struct policy_spec *o)
{
	struct policy_spec *s = xcalloc(1, sizeof(*s));

	*s = *o;
	s->endpoint = xstrdup(o->endpoint);
	endpoint_copy(&s->ep, &o->ep);
	s->default_action = o->default_action != NULL ?
	    xstrdup(o->default_action) : NULL;
	s->policy_context = xstrdup(o->policy_context);
	s->key = xstrdup(o->key);
	return s;
}

const char *
policy_spec_endpoint(const struct policy_spec *spec)
{
	return spec->endpoint;
}

const char *
policy_spec_default_action(const struct policy_spec *spec)
{
	return spec->default_action;
}

long long
policy_spec_timeout(const struct policy_spec *spec)
{
	return spec->timeout;
}

long long
policy_spec_try_limit(const struct policy_spec *spec)
{
	return spec->try_limit;
}

/* ---------------------------------------------------------------- */
/* Request lists and delivery                                       */

/* ready_remove - r is no longer due for delivery (if it was). */
static void
ready_remove(struct policy_client *pc, struct policy_request *r)
{
	if (!r->on_ready)
		return;
	TAILQ_REMOVE(&pc->ready, r, rlink);
	r->on_ready = false;
}

/* ready_push - deliver r's answer from the loop, after those due. */
static void
ready_push(struct policy_client *pc, struct policy_request *r)
{
	TAILQ_INSERT_TAIL(&pc->ready, r, rlink);
	r->on_ready = true;
	event_active(pc->deliver_ev, EV_TIMEOUT, 0);
}

static void
req_free(struct policy_request *r)
{
	if (r->timer != NULL)
		event_free(r->timer);
	free(r->text);
	free(r->instance);
	free(r->action);
	free(r->reason);
	free(r);
}

static void
set_state(struct policy_request *r, enum req_state st)
{
	if (r->state == RQ_QUEUED)
		r->pc->queued--;
	r->state = st;
	if (st == RQ_QUEUED)
		r->pc->queued++;
}

/* finish - r's answer, delivered from the loop. */
static void
finish(struct policy_request *r, bool ok, const char *action,
    const char *reason)
{
	struct policy_client *pc = r->pc;

	evtimer_del(r->timer);
	set_state(r, RQ_DONE);
	r->conn = NULL;
	r->ok = ok;
	free(r->action);
	free(r->reason);
	r->action = action != NULL ? xstrdup(action) : NULL;
	r->reason = reason != NULL ? xstrdup(reason) : NULL;
	ready_push(pc, r);
}

static void
on_deliver(evutil_socket_t fd, short what, void *arg)
{
	struct policy_client *pc = arg;
	struct policy_request *r;

	pc->depth++;
	registry_depth++;
	while ((r = TAILQ_FIRST(&pc->ready)) != NULL) {
		ready_remove(pc, r);
		TAILQ_REMOVE(&pc->reqs, r, link);
		pc->live--;
		r->cb(r->ctx, r->ok, r->action, r->reason);
		req_free(r);
	}
	registry_depth--;
	pc->depth--;
}

/* ---------------------------------------------------------------- */
/* Failures                                                         */

static void submit(struct policy_request *r);

/* final_failure - every attempt failed: default_action or ok = false. */
static void
final_failure(struct policy_request *r, const char *why)
{
	struct policy_client *pc = r->pc;
	const char *ep = pc->spec->endpoint;
	char reason[WHY_MAX + 64];
	char esc[160];

	snprintf(reason, sizeof(reason), "%s (%u attempt%s)", why, r->tries,
	    r->tries == 1 ? "" : "s");
	if (pc->spec->default_action != NULL) {
		log_warning("policy service %s: giving up after %u attempt%s; "
		    "using default_action \"%s\"", ep, r->tries,
		    r->tries == 1 ? "" : "s", log_escape(esc, sizeof(esc),
		    pc->spec->default_action,
		    strlen(pc->spec->default_action), 120));
		finish(r, true, pc->spec->default_action, reason);
	} else {
		log_warning("policy service %s: giving up after %u attempt%s; "
		    "no default_action: temporary failure", ep, r->tries,
		    r->tries == 1 ? "" : "s");
		finish(r, false, NULL, reason);
	}
}

/* attempt_failed - one attempt of r failed (already logged): retry
 * after retry_delay, or give up. */
static void
attempt_failed(struct policy_request *r, const char *why)
{
	struct policy_client *pc = r->pc;
	struct timeval tv;

	r->conn = NULL;
	r->tries++;
	if ((long long)r->tries < pc->spec->try_limit) {
		set_state(r, RQ_RETRY);
		ms_to_tv(pc->retry_ms, &tv);
		evtimer_add(r->timer, &tv);
		return;
	}
	final_failure(r, why);
}

/* ---------------------------------------------------------------- */
/* Connections                                                      */

static void on_conn_read(evutil_socket_t fd, short what, void *arg);
static void on_conn_write(evutil_socket_t fd, short what, void *arg);
static void on_conn_timer(evutil_socket_t fd, short what, void *arg);
static void dispatch(struct policy_client *pc);

/* conn_close - close and free c; a request on it is NOT answered
 * (callers deal with c->req first). */
static void
conn_close(struct policy_conn *c)
{
	struct policy_client *pc = c->pc;

	if (c->rev != NULL)
		event_free(c->rev);
	if (c->wev != NULL)
		event_free(c->wev);
	event_free(c->timer);
	if (c->sock >= 0)
		close(c->sock);
	endpoint_addrs_free(&c->addrs);
	buf_deinit(&c->in);
	buf_deinit(&c->out);
	free(c->instance);
	LIST_REMOVE(c, link);
	pc->nconns--;
	free(c);
}

/*
 * conn_fail - the attempt on c failed: log why (a predicate after the
 * endpoint: "refused the connection"), close c, and fail the attempt of
 * the request on it.
 */
static void
conn_fail(struct policy_conn *c, const char *fmt, ...) ATTR_FORMAT(2, 3);

static void
conn_fail(struct policy_conn *c, const char *fmt, ...)
{
	struct policy_request *r = c->req;
	char why[WHY_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_warning("policy service %s %s", c->pc->spec->endpoint, why);
	c->req = NULL;
	conn_close(c);
	if (r != NULL)
		attempt_failed(r, why);
}

static void
conn_arm_timer(struct policy_conn *c, uint64_t at_ms)
{
	struct timeval tv;
	uint64_t now = mono_ms();

	ms_to_tv(at_ms > now ? at_ms - now : 0, &tv);
	evtimer_add(c->timer, &tv);
}

/* conn_flush - write what the socket takes; -1 when c failed (gone). */
static int
conn_flush(struct policy_conn *c)
{
	int r;

	if (c->state == CONN_CONNECTING)
		return 0;
	r = buf_send(&c->out, &c->out_off, c->sock);
	if (r < 0) {
		conn_fail(c, "closed the connection while the request was "
		    "sent (%s)", strerror(errno));
		return -1;
	}
	if (r == 1)
		event_del(c->wev);
	else
		event_add(c->wev, NULL);
	return 0;
}

/* conn_attach - put r on c (ready or connecting) and start sending. */
static int
conn_attach(struct policy_conn *c, struct policy_request *r)
{
	evtimer_del(r->timer);
	set_state(r, RQ_SENT);
	r->conn = c;
	c->req = r;
	c->busy = true;
	c->last_used_ms = mono_ms();
	/* A request without an instance leaves the connection's. */
	if (r->instance != NULL) {
		free(c->instance);
		c->instance = xstrdup(r->instance);
	}
	buf_reset(&c->in);
	if (buf_append(&c->out, r->text, r->text_len) < 0) {
		/* Cannot happen: out holds one request at most. */
		conn_fail(c, "was not sent the request: no room for %zu "
		    "bytes", r->text_len);
		return -1;
	}
	conn_arm_timer(c, r->deadline_ms);
	return conn_flush(c);
}

/* conn_idle - c answered and is free: keep it for reuse, or close it
 * when it reached request_limit or max_ttl. */
static void
conn_idle(struct policy_conn *c)
{
	struct policy_client *pc = c->pc;
	uint64_t now = mono_ms(), age = now - c->created_ms, until;

	if (pc->spec->request_limit > 0 &&
	    (long long)c->replies >= pc->spec->request_limit) {
		log_debug(1, "policy service %s: closing connection %u after "
		    "%u requests (request_limit)", pc->spec->endpoint, c->id,
		    c->replies);
		conn_close(c);
		return;
	}
	if (age >= pc->ttl_ms) {
		log_debug(1, "policy service %s: closing connection %u after "
		    "max_ttl", pc->spec->endpoint, c->id);
		conn_close(c);
		return;
	}
	c->last_used_ms = now;
	until = pc->idle_ms;
	if (pc->ttl_ms - age < until)
		until = pc->ttl_ms - age;
	conn_arm_timer(c, now + until);
}

static void
conn_fail_connect(struct policy_conn *c, int e)
{
	if (e == ECONNREFUSED)
		conn_fail(c, "refused the connection");
	else
		conn_fail(c, "cannot be reached: %s", strerror(e));
}

/* conn_ready - the socket is connected: read, and send what waits. */
static void
conn_ready(struct policy_conn *c)
{
	struct policy_client *pc = c->pc;

	c->state = CONN_READY;
	endpoint_addrs_free(&c->addrs);
	if (c->wev != NULL)
		event_free(c->wev);
	c->rev = event_new(pc->base, c->sock, EV_READ | EV_PERSIST,
	    on_conn_read, c);
	c->wev = event_new(pc->base, c->sock, EV_WRITE | EV_PERSIST,
	    on_conn_write, c);
	event_add(c->rev, NULL);
	log_debug(2, "policy service %s: connection %u up", pc->spec->endpoint,
	    c->id);
	(void)conn_flush(c);
}

/* conn_open - a new connection for r.  r is attached at once; a
 * failure to connect fails its attempt. */
static void
conn_open(struct policy_client *pc, struct policy_request *r)
{
	struct policy_conn *c = xcalloc(1, sizeof(*c));
	const struct policy_spec *s = pc->spec;

	c->pc = pc;
	c->id = ++pc->next_conn_id;
	c->sock = -1;
	c->state = CONN_CONNECTING;
	c->created_ms = c->last_used_ms = mono_ms();
	buf_init(&c->in, POLICY_REPLY_MAX_BYTES + READ_CHUNK);
	buf_init(&c->out, POLICY_REQUEST_MAX_BYTES + 1);
	c->timer = evtimer_new(pc->base, on_conn_timer, c);
	LIST_INSERT_HEAD(&pc->conns, c, link);
	pc->nconns++;
	if (conn_attach(c, r) < 0)
		return;
	if (s->ep.path != NULL) {
		c->sock = endpoint_unix_connect(s->ep.path);
		if (c->sock < 0) {
			conn_fail_connect(c, errno);
			return;
		}
		conn_ready(c);
		return;
	} else {
		int rc = endpoint_inet_resolve(&c->addrs, s->ep.host,
		    s->ep.port);

		if (rc != 0) {
			conn_fail(c, "cannot be reached: cannot look up "
			    "%s: %s", s->ep.host, gai_strerror(rc));
			return;
		}
		switch (endpoint_inet_try(&c->addrs, &c->sock)) {
		case -1:
			conn_fail_connect(c, errno);
			return;
		case 0:
			c->wev = event_new(pc->base, c->sock,
			    EV_WRITE | EV_PERSIST, on_conn_write, c);
			event_add(c->wev, NULL);
			return;
		default:
			conn_ready(c);
			return;
		}
	}
}

/* still_usable - may idle connection c carry a request now?  Closes it
 * when the server closed it meanwhile or it is past max_ttl. */
static bool
still_usable(struct policy_conn *c)
{
	struct policy_client *pc = c->pc;
	char ch;
	ssize_t n;

	if (mono_ms() - c->created_ms >= pc->ttl_ms) {
		log_debug(1, "policy service %s: closing connection %u after "
		    "max_ttl", pc->spec->endpoint, c->id);
		conn_close(c);
		return false;
	}
	n = recv(c->sock, &ch, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
	    errno != EINTR)) {
		log_debug(1, "policy service %s: connection %u was closed by "
		    "the server", pc->spec->endpoint, c->id);
		conn_close(c);
		return false;
	}
	if (n > 0) {
		log_warning("policy service %s sent data without a request; "
		    "closing the connection", pc->spec->endpoint);
		conn_close(c);
		return false;
	}
	return true;
}

static bool
conn_is_idle(const struct policy_conn *c)
{
	return c->state == CONN_READY && !c->busy;
}

/*
 * pick - where r goes: *conn_r an idle connection, or NULL with
 * *open_r true for a new connection, or neither (wait).  Order: the
 * idle connection that carried r's instance; an idle one no live
 * instance holds; the least recently used idle one; a new one.
 */
static void
pick(struct policy_client *pc, struct policy_request *r,
    struct policy_conn **conn_r, bool *open_r)
{
	struct policy_conn *c, *lru = NULL;

	*conn_r = NULL;
	*open_r = false;
	if (r->instance != NULL) {
		LIST_FOREACH(c, &pc->conns, link)
			if (conn_is_idle(c) && c->instance != NULL &&
			    strcmp(c->instance, r->instance) == 0) {
				*conn_r = c;
				return;
			}
	}
	LIST_FOREACH(c, &pc->conns, link) {
		if (!conn_is_idle(c))
			continue;
		if (c->instance == NULL) {
			*conn_r = c;
			return;
		}
		if (lru == NULL || c->last_used_ms < lru->last_used_ms)
			lru = c;
	}
	if (lru != NULL) {
		*conn_r = lru;
		return;
	}
	if (pc->nconns < POLICY_CONNS_MAX)
		*open_r = true;
}

/* dispatch - give waiting requests a connection, in order. */
static void
dispatch(struct policy_client *pc)
{
	struct policy_request *r, *next;

	if (pc->dispatching) {
		pc->redispatch = true;
		return;
	}
	pc->dispatching = true;
	do {
		pc->redispatch = false;
		for (r = TAILQ_FIRST(&pc->reqs); r != NULL; r = next) {
			struct policy_conn *c;
			bool open;

			/* r stays on the list whatever happens below. */
			next = TAILQ_NEXT(r, link);
			if (r->state != RQ_QUEUED)
				continue;
			/* Out of time: its timer fails the attempt. */
			if (r->deadline_ms <= mono_ms())
				continue;
			for (;;) {
				pick(pc, r, &c, &open);
				if (c == NULL || still_usable(c))
					break;
			}
			if (c != NULL)
				(void)conn_attach(c, r);
			else if (open)
				conn_open(pc, r);
		}
	} while (pc->redispatch);
	pc->dispatching = false;
}

/* submit - start an attempt of r: wait for a connection. */
static void
submit(struct policy_request *r)
{
	struct policy_client *pc = r->pc;
	struct timeval tv;

	set_state(r, RQ_QUEUED);
	r->deadline_ms = mono_ms() + pc->timeout_ms;
	ms_to_tv(pc->timeout_ms, &tv);
	evtimer_add(r->timer, &tv);
	dispatch(pc);
}

static void
on_req_timer(evutil_socket_t fd, short what, void *arg)
{
	struct policy_request *r = arg;
	struct policy_client *pc = r->pc;
	char t[32];
	char why[WHY_MAX];

	if (r->state == RQ_RETRY) {
		submit(r);
		return;
	}
	if (r->state != RQ_QUEUED)
		return;
	snprintf(why, sizeof(why), "had no free connection within %s "
	    "(%d busy)", fmt_ms(pc->timeout_ms, t, sizeof(t)),
	    POLICY_CONNS_MAX);
	log_warning("policy service %s %s", pc->spec->endpoint, why);
	attempt_failed(r, why);
}

static void
on_conn_timer(evutil_socket_t fd, short what, void *arg)
{
	struct policy_conn *c = arg;
	struct policy_client *pc = c->pc;
	char t[32];

	if (!c->busy) {
		log_debug(1, "policy service %s: closing idle connection %u",
		    pc->spec->endpoint, c->id);
		conn_close(c);
		return;
	}
	if (c->state == CONN_CONNECTING)
		conn_fail(c, "could not be reached within %s",
		    fmt_ms(pc->timeout_ms, t, sizeof(t)));
	else
		conn_fail(c, "did not answer within %s",
		    fmt_ms(pc->timeout_ms, t, sizeof(t)));
	dispatch(pc);
}

static void
on_conn_write(evutil_socket_t fd, short what, void *arg)
{
	struct policy_conn *c = arg;
	struct policy_client *pc = c->pc;

	if (c->state == CONN_CONNECTING) {
		int err = endpoint_connect_error(c->sock);

		if (err == EINPROGRESS)
			return;
		if (err != 0) {
			event_free(c->wev);
			c->wev = NULL;
			close(c->sock);
			c->sock = -1;
			switch (endpoint_inet_try(&c->addrs, &c->sock)) {
			case -1:
				conn_fail_connect(c, err);
				dispatch(pc);
				return;
			case 0:
				c->wev = event_new(pc->base, c->sock,
				    EV_WRITE | EV_PERSIST, on_conn_write, c);
				event_add(c->wev, NULL);
				return;
			default:
				break;
			}
		}
		conn_ready(c);
		return;
	}
	if (conn_flush(c) < 0)
		dispatch(pc);
}

/* conn_input - bytes arrived on c while busy. */
static void
conn_input(struct policy_conn *c)
{
	struct policy_client *pc = c->pc;
	struct policy_reply rep;
	const char *err = NULL;
	struct policy_request *r;
	char *action;
	size_t extra;
	char esc[200];
	int rc;

	rc = policy_reply_parse(c->in.data, c->in.len, &rep, &err);
	if (rc == 0)
		return;
	if (rc < 0) {
		conn_fail(c, "sent a bad reply (%s)", err);
		dispatch(pc);
		return;
	}
	action = xstrndup(c->in.data + rep.action_off, rep.action_len);
	extra = c->in.len - rep.used;
	buf_reset(&c->in);
	evtimer_del(c->timer);
	r = c->req;
	c->req = NULL;
	c->busy = false;
	c->replies++;
	log_debug(1, "policy service %s: action=%s%s", pc->spec->endpoint,
	    log_escape(esc, sizeof(esc), action, strlen(action), 160),
	    r == NULL ? " (request cancelled)" : "");
	if (r != NULL)
		finish(r, true, action, NULL);
	free(action);
	if (extra > 0) {
		log_warning("policy service %s sent more than one reply to a "
		    "request; closing the connection", pc->spec->endpoint);
		conn_close(c);
	} else
		conn_idle(c);
	dispatch(pc);
}

static void
on_conn_read(evutil_socket_t fd, short what, void *arg)
{
	struct policy_conn *c = arg;
	struct policy_client *pc = c->pc;
	char chunk[READ_CHUNK];
	ssize_t n;

	n = recv(c->sock, chunk, sizeof(chunk), 0);
	if (n < 0 && (errno == EINTR || errno == EAGAIN ||
	    errno == EWOULDBLOCK))
		return;
	if (n <= 0) {
		int e = errno;

		if (!c->busy) {
			log_debug(1, "policy service %s: connection %u closed "
			    "by the server", pc->spec->endpoint, c->id);
			conn_close(c);
		} else if (n < 0)
			conn_fail(c, "closed the connection (%s)",
			    strerror(e));
		else if (c->in.len > 0)
			conn_fail(c, "closed the connection in the middle of "
			    "its reply");
		else
			conn_fail(c, "closed the connection without "
			    "answering");
		dispatch(pc);
		return;
	}
	if (!c->busy) {
		log_warning("policy service %s sent data without a request; "
		    "closing the connection", pc->spec->endpoint);
		conn_close(c);
		dispatch(pc);
		return;
	}
	if (buf_append(&c->in, chunk, (size_t)n) < 0) {
		conn_fail(c, "sent a bad reply (reply longer than %d bytes)",
		    POLICY_REPLY_MAX_BYTES);
		dispatch(pc);
		return;
	}
	conn_input(c);
}

/* ---------------------------------------------------------------- */
/* Clients                                                          */

struct policy_client *
policy_client_get(struct event_base *base, const struct policy_spec *spec)
{
	struct policy_client *pc;

	for (pc = registry; pc != NULL; pc = pc->next)
		if (pc->base == base && strcmp(pc->spec->key, spec->key) == 0)
			return pc;
	pc = xcalloc(1, sizeof(*pc));
	LIST_INIT(&pc->conns);
	TAILQ_INIT(&pc->reqs);
	TAILQ_INIT(&pc->ready);
	pc->base = base;
	pc->spec = spec_dup(spec);
	pc->timeout_ms = secs_to_ms(spec->timeout);
	pc->retry_ms = secs_to_ms(spec->retry_delay);
	pc->idle_ms = secs_to_ms(spec->max_idle);
	pc->ttl_ms = secs_to_ms(spec->max_ttl);
	pc->deliver_ev = event_new(base, -1, 0, on_deliver, pc);
	pc->next = registry;
	registry = pc;
	return pc;
}

void
policy_client_set_timing_ms(struct policy_client *pc, unsigned timeout_ms,
    unsigned retry_delay_ms, unsigned max_idle_ms, unsigned max_ttl_ms)
{
	if (timeout_ms > 0)
		pc->timeout_ms = timeout_ms;
	if (retry_delay_ms > 0)
		pc->retry_ms = retry_delay_ms;
	if (max_idle_ms > 0)
		pc->idle_ms = max_idle_ms;
	if (max_ttl_ms > 0)
		pc->ttl_ms = max_ttl_ms;
}

size_t
policy_client_connections(const struct policy_client *pc)
{
	return pc->nconns;
}

size_t
policy_client_pending(const struct policy_client *pc)
{
	return pc->live;
}

static void
client_free(struct policy_client *pc)
{
	struct policy_request *r;
	struct policy_conn *c;

	while ((c = LIST_FIRST(&pc->conns)) != NULL) {
		c->req = NULL;
		conn_close(c);
	}
	while ((r = TAILQ_FIRST(&pc->reqs)) != NULL) {
		ready_remove(pc, r);
		TAILQ_REMOVE(&pc->reqs, r, link);
		req_free(r);
	}
	event_free(pc->deliver_ev);
	policy_spec_free(&pc->spec);
	free(pc);
}

void
policy_clients_free_all(void)
{
	if (registry_depth > 0)
		log_panic("policy_clients_free_all called from a policy "
		    "callback");
	while (registry != NULL) {
		struct policy_client *pc = registry;

		registry = pc->next;
		client_free(pc);
	}
}

void
policy_instance_end(const char *instance)
{
	struct policy_conn *c;

	if (instance == NULL || instance[0] == '\0')
		return;
	for (struct policy_client *pc = registry; pc != NULL; pc = pc->next)
		LIST_FOREACH(c, &pc->conns, link)
			if (c->instance != NULL &&
			    strcmp(c->instance, instance) == 0) {
				free(c->instance);
				c->instance = NULL;
			}
}

/* ---------------------------------------------------------------- */
/* Requests                                                         */

static bool
attr_name_ok(const char *n)
{
	size_t len = strlen(n);

	if (len == 0 || len > NAME_MAX_BYTES)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)n[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '_'))
			return false;
	}
	return true;
}

/*
 * build_request - the request text of attrs into b.  NULL, or the
 * reason it cannot be sent (static or in why).
 */
static const char *
build_request(struct policy_client *pc, const char *const *attrs,
    struct buf *b, char **instance_r, char *why, size_t whysz)
{
	bool has_request = false;
	int rc = 0;

	for (size_t i = 0; attrs[i] != NULL; i += 2) {
		if (attrs[i + 1] == NULL)
			log_panic("policy_query: attribute \"%s\" without a "
			    "value", attrs[i]);
		if (strcmp(attrs[i], "request") == 0)
			has_request = true;
	}
	if (!has_request)
		rc |= buf_append_str(b, "request=smtpd_access_policy\n");
	for (size_t i = 0; attrs[i] != NULL; i += 2) {
		const char *n = attrs[i], *v = attrs[i + 1];
		size_t vlen = strlen(v);

		if (!attr_name_ok(n)) {
			char esc[80];

			snprintf(why, whysz, "request refused: \"%s\" is not "
			    "an attribute name", log_escape(esc, sizeof(esc),
			    n, strlen(n), 40));
			return why;
		}
		if (vlen > POLICY_VALUE_MAX_BYTES) {
			snprintf(why, whysz, "request refused: attribute %s "
			    "is longer than %d bytes", n,
			    POLICY_VALUE_MAX_BYTES);
			return why;
		}
		if (strpbrk(v, "\r\n") != NULL) {
			snprintf(why, whysz, "request refused: attribute %s "
			    "contains a line break", n);
			return why;
		}
		if (strcmp(n, "policy_context") == 0)
			continue;	/* the spec's is sent */
		if (strcmp(n, "instance") == 0 && vlen > 0) {
			free(*instance_r);
			*instance_r = xstrdup(v);
		}
		rc |= buf_appendf(b, "%s=%s\n", n, v);
	}
	rc |= buf_appendf(b, "policy_context=%s\n\n",
	    pc->spec->policy_context);
	if (rc != 0) {
		snprintf(why, whysz, "request refused: longer than %d bytes",
		    POLICY_REQUEST_MAX_BYTES);
		return why;
	}
	return NULL;
}

struct policy_request *
policy_query(struct policy_client *pc, const char *const *attrs,
    policy_fn *cb, void *ctx)
{
	struct policy_request *r = xcalloc(1, sizeof(*r));
	struct buf b;
	char why[WHY_MAX];
	const char *refused;

	r->pc = pc;
	r->cb = cb;
	r->ctx = ctx;
	r->state = RQ_DONE;	/* not queued yet */
	r->timer = evtimer_new(pc->base, on_req_timer, r);
	TAILQ_INSERT_TAIL(&pc->reqs, r, link);
	pc->live++;
	buf_init(&b, POLICY_REQUEST_MAX_BYTES);
	refused = build_request(pc, attrs, &b, &r->instance, why,
	    sizeof(why));
	if (refused != NULL) {
		buf_deinit(&b);
		log_warning("policy service %s: %s", pc->spec->endpoint,
		    refused);
		/* Never the default_action: the request was bad. */
		finish(r, false, NULL, refused);
		return r;
	}
	r->text_len = b.len;
	r->text = buf_steal(&b);
	if (pc->queued >= POLICY_QUEUE_MAX) {
		snprintf(why, sizeof(why), "has too many requests waiting "
		    "(%d)", POLICY_QUEUE_MAX);
		log_warning("policy service %s %s", pc->spec->endpoint, why);
		r->tries = 1;
		final_failure(r, why);
		return r;
	}
	submit(r);
	return r;
}

void
policy_request_cancel(struct policy_request *r)
{
	struct policy_client *pc;

	if (r == NULL)
		return;
	pc = r->pc;
	switch (r->state) {
	case RQ_SENT:
		/* The connection stays busy until the reply or timeout. */
		if (r->conn != NULL)
			r->conn->req = NULL;
		break;
	case RQ_QUEUED:
	case RQ_RETRY:
		evtimer_del(r->timer);
		break;
	case RQ_DONE:
		ready_remove(pc, r);
		break;
	}
	set_state(r, RQ_DONE);
	TAILQ_REMOVE(&pc->reqs, r, link);
	pc->live--;
	req_free(r);
}
