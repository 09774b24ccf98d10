/* SPDX-License-Identifier: MIT */
/*
 * agent - the delivery agent framework; see agent.h.
 *
 * Runs in every delivery agent process (child skeleton, one program per
 * agent), as mail_owner or the user the agent's setup chose, never as
 * root.  The queue manager is trusted more than smtpd, but its frames
 * are still checked field by field (deliver_proto.c) and a frame that
 * does not decode, or comes out of turn, ends the connection: the queue
 * manager then defers what it has no status for.
 *
 * A process serves one connection at a time (like Postfix's single
 * servers): it stops accepting while it has one, so the next connection
 * goes to an idle process and the concurrency of a transport is the
 * number of its processes.
 *
 * Per connection: IDLE (waiting for REQ) -> RCPTS (waiting for the
 * announced recipients; at most AGENT_IO_TIMEOUT_SECONDS between
 * frames) -> deliver() runs synchronously -> SENDING (the STATUS frames
 * and DONE, buffered whole and written as the socket takes them, with
 * EV_WRITE; reading stops meanwhile) -> IDLE.  Frames the queue manager
 * sent early stay in the ipc_conn buffer and are taken after the send.
 *
 * The message is read whole from the queue file descriptor (pread, so
 * the file offset the queue manager shares is never moved), at most
 * message_size_limit * 2 + 1 MiB bytes, and parsed by queue_file_parse;
 * any failure defers every recipient 4.3.0 with the reason.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent.h"
#include "buf.h"
#include "ipc.h"
#include "log.h"
#include "master_cf.h"
#include "soft_bounce.h"
#include "strv.h"
#include "xalloc.h"

/* Largest queue file read when message_size_limit is 0 (no limit). */
#define AGENT_FILE_MAX_BYTES ((uint64_t)1 << 32)
/* Longest enhanced status code kept ("5.999.999"). */
#define AGENT_DSN_MAX 16

struct agent_slot {
	bool set;
	uint32_t flags;		/* DELIVER_R_* */
	enum deliver_status st;
	char dsn[AGENT_DSN_MAX];
	char *remote;
	char *text;
	char **fwd;		/* forwarding addresses (strv), NULL: none */
	size_t nfwd;
	char *relay;		/* its own relay= (agent_set_relay); NULL:
				 * the request's */
};

struct agent_results {
	const char *agent;	/* for warnings */
	size_t n;
	struct agent_slot *v;
};

enum aconn_state {
	ACONN_IDLE,		/* waiting for REQ */
	ACONN_RCPTS,		/* REQ taken, waiting for its RCPTs */
	ACONN_DELIVERING,	/* an event-driven agent has the request */
	ACONN_SENDING,		/* statuses and DONE being written */
};

struct aconn;

/* A request an event-driven agent delivers (agent_job_done ends it). */
struct agent_job {
	struct aconn *q;	/* NULL when the connection went away */
	struct agent_results res;
	struct deliver_msg msg;
	struct buf content;
	char *relay;
	bool done;
	struct event *ev;	/* runs the end from the event loop */
};

struct aconn {
	LIST_ENTRY(aconn) link;	/* ag.conns: every open one */
	const struct agent_def *def;
	struct agent_ctx *a;
	int sock;
	struct event *rev;
	struct event *wev;
	struct ipc_conn ipc;
	enum aconn_state state;
	struct deliver_req req;
	size_t got;		/* RCPTs received */
	int msg_fd;		/* the queue file of the request, or -1 */
	struct buf out;
	size_t out_off;
	size_t out_frames;	/* STATUS frames in out, for a failure log */
	struct agent_job *job;	/* ACONN_DELIVERING */
};

/* The process's agent (one program per process). */
static struct {
	const struct agent_def *def;
	struct agent_ctx ctx;
	struct child *child;
	size_t busy;		/* connections not idle */
	size_t nconns;		/* connections open */
	size_t cap;		/* connections taken at once (0: 1) */
	/* Open connections (still reachable at exit: the queue manager
	 * keeps idle ones).  Zeroed static storage is an empty list. */
	LIST_HEAD(, aconn) conns;
	/* The idle hook's timer (agent_def.idle) and whom it calls. */
	struct event *idle_ev;
	const struct agent_def *idle_def;
	struct agent_ctx *idle_ctx;
} ag;

/* on_idle - the agent's housekeeping; again in a while if it asks. */
static void
on_idle(evutil_socket_t fd, short what, void *arg)
{
	struct timeval tv = { AGENT_IDLE_SECONDS, 0 };

	(void)fd;
	(void)what;
	(void)arg;
	if (ag.idle_def != NULL && ag.idle_def->idle(ag.idle_ctx))
		evtimer_add(ag.idle_ev, &tv);
}

/* idle_schedule - after a request: run def's idle hook in a while. */
static void
idle_schedule(const struct agent_def *def, struct agent_ctx *a,
    struct event_base *base)
{
	struct timeval tv = { AGENT_IDLE_SECONDS, 0 };

	if (def->idle == NULL)
		return;
	if (ag.idle_ev == NULL) {
		ag.idle_ev = evtimer_new(base, on_idle, NULL);
		if (ag.idle_ev == NULL)
			log_fatal("cannot create the idle timer");
	}
	ag.idle_def = def;
	ag.idle_ctx = a;
	if (!evtimer_pending(ag.idle_ev, NULL))
		evtimer_add(ag.idle_ev, &tv);
}

/* ---------------------------------------------------------------- */
/* Results                                                          */

static const char *
class_default(enum deliver_status st)
{
	return st == DELIVER_OK ? "2.0.0" : st == DELIVER_BOUNCE ? "5.0.0" :
	    "4.0.0";
}

/*
 * one_line - copy src into a new string of at most DELIVER_FIELD_MAX
 * bytes with every control character made a space, cut at a UTF-8
 * character boundary.
 */
static char *
one_line(const char *src)
{
	size_t n = strlen(src);
	char *s;

	if (n > DELIVER_FIELD_MAX) {
		n = DELIVER_FIELD_MAX;
		/* Do not leave half a UTF-8 sequence at the end. */
		while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
			n--;
	}
	s = xstrndup(src, n);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			s[i] = ' ';
	return s;
}

void
agent_vset_result(struct agent_results *res, size_t i,
    enum deliver_status st, const char *dsn, const char *remote,
    const char *fmt, va_list ap)
{
	struct agent_slot *s;
	char text[DELIVER_FIELD_MAX * 2];

	if (i >= res->n) {
		log_warning("%s agent: result for recipient %zu of %zu "
		    "ignored", res->agent, i, res->n);
		return;
	}
	if (st != DELIVER_OK && st != DELIVER_DEFER && st != DELIVER_BOUNCE) {
		log_warning("%s agent: unknown delivery status %d; deferring",
		    res->agent, (int)st);
		st = DELIVER_DEFER;
		dsn = NULL;
	}
	s = &res->v[i];
	free(s->remote);
	free(s->text);
	s->set = true;
	s->flags = 0;
	s->st = st;
	if (dsn != NULL && !deliver_dsn_valid(dsn, st)) {
		char shown[64];

		log_warning("%s agent: status code \"%s\" does not fit a %s "
		    "result; using %s", res->agent, log_escape(shown,
		    sizeof(shown), dsn, strlen(dsn), 16), st == DELIVER_OK ?
		    "sent" : st == DELIVER_DEFER ? "deferred" : "bounced",
		    class_default(st));
		dsn = NULL;
	}
	snprintf(s->dsn, sizeof(s->dsn), "%s", dsn != NULL ? dsn :
	    class_default(st));
	s->remote = one_line(remote != NULL ? remote : "");
	vsnprintf(text, sizeof(text), fmt, ap);
	s->text = one_line(text);
}

void
agent_set_result(struct agent_results *res, size_t i, enum deliver_status st,
    const char *dsn, const char *remote, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	agent_vset_result(res, i, st, dsn, remote, fmt, ap);
	va_end(ap);
}

void
agent_set_all(struct agent_results *res, enum deliver_status st,
    const char *dsn, const char *remote, const char *fmt, ...)
{
	for (size_t i = 0; i < res->n; i++) {
		va_list ap;

		if (res->v[i].set)
			continue;
		va_start(ap, fmt);
		agent_vset_result(res, i, st, dsn, remote, fmt, ap);
		va_end(ap);
	}
}

void
agent_set_flags(struct agent_results *res, size_t i, uint32_t flags)
{
	if (i < res->n && res->v[i].set && res->v[i].st == DELIVER_OK)
		res->v[i].flags |= flags & DELIVER_R_ALL;
}

void
agent_set_relay(struct agent_results *res, size_t i, const char *relay)
{
	if (i >= res->n)
		return;
	free(res->v[i].relay);
	res->v[i].relay = one_line(relay);
}

bool
agent_has_result(const struct agent_results *res, size_t i)
{
	return i < res->n && res->v[i].set;
}

int
agent_add_forward(struct agent_results *res, size_t i, const char *address)
{
	struct agent_slot *s;

	if (i >= res->n || address[0] == '\0' ||
	    !deliver_text_ok(address, DELIVER_FIELD_MAX))
		return -1;
	s = &res->v[i];
	if (s->nfwd >= DELIVER_FORWARDS_MAX)
		return -1;
	s->fwd = strv_append(s->fwd, address);
	s->nfwd++;
	return 0;
}

static void
results_free(struct agent_results *res)
{
	for (size_t i = 0; i < res->n; i++) {
		free(res->v[i].remote);
		free(res->v[i].text);
		free(res->v[i].relay);
		strv_free(&res->v[i].fwd);
	}
	free(res->v);
	res->v = NULL;
	res->n = 0;
}

/* ---------------------------------------------------------------- */
/* The agents                                                       */

/* agent_find's table; agent_program's programs are in the same order. */
static const struct agent_def *const agents[] = {
	&agent_discard, &agent_error, &agent_virtual, &agent_pipe,
	&agent_lmtp, &agent_local, &agent_smtp,
};

const struct agent_def *
agent_find(const char *command)
{
	const char *slash = strrchr(command, '/');

	if (slash != NULL)
		command = slash + 1;
	for (size_t i = 0; i < N_ELEMENTS(agents); i++)
		if (strcmp(agents[i]->command, command) == 0)
			return agents[i];
	return NULL;
}

int
agent_prepare(const struct agent_def *def, struct agent_ctx *a,
    uid_t *uid_r, gid_t *gid_r)
{
	uid_t uid = *uid_r;
	gid_t gid = *gid_r;
	char *err = NULL;
	const char *name = a->service != NULL ? a->service->name :
	    def->command;

	free(a->refusal);
	a->refusal = NULL;
	if (def->setup != NULL && def->setup(a, &uid, &gid, &err) < 0) {
		a->refusal = err != NULL ? err :
		    xasprintf("the %s agent cannot run with this "
		    "configuration", def->command);
	} else if (uid == 0 || gid == 0) {
		free(err);
		a->refusal = xasprintf("the %s agent would run as uid %u gid "
		    "%u; no delivery agent runs as root or with the root "
		    "group: configure an unprivileged user", def->command,
		    (unsigned)uid, (unsigned)gid);
	} else {
		free(err);
		*uid_r = uid;
		*gid_r = gid;
		return 0;
	}
	log_error("service %s: %s; every delivery is deferred until this "
	    "is fixed", name, a->refusal);
	return -1;
}

/* bind_child - the process's agent and context, from its service. */
static void
bind_child(struct child *c)
{
	if (ag.child == c)
		return;
	ag.child = c;
	ag.def = agent_find(child_service(c)->command);
	if (ag.def == NULL)
		log_fatal("service %s: no delivery agent for command %s",
		    child_service(c)->name, child_service(c)->command);
	ag.ctx.view = child_view(c);
	ag.ctx.service = child_service(c);
	ag.cap = 1;
	if (ag.def->deliver_async != NULL) {
		unsigned conc = master_service_concurrency(child_service(c),
		    child_view(c));
		unsigned procs = master_service_process_count(
		    child_service(c), child_view(c));

		ag.cap = procs > 0 ? (conc + procs - 1) / procs : conc;
		if (ag.cap < 1)
			ag.cap = 1;
	}
}

size_t
agent_connection_cap(void)
{
	return ag.cap > 0 ? ag.cap : 1;
}

static void
agent_choose_user(struct child *c, uid_t *uid_r, gid_t *gid_r)
{
	bind_child(c);
	(void)agent_prepare(ag.def, &ag.ctx, uid_r, gid_r);
}

static void
agent_accept(struct child *c, int fd, const char *client,
    unsigned client_port, const char *listen_addr)
{
	bind_child(c);
	agent_serve_fd(ag.def, &ag.ctx, child_event_base(c), fd);
	/* A blocking agent takes one connection at a time: the next one
	 * goes to an idle process, so concurrency is the number of
	 * processes.  An event-driven one takes its share. */
	if (ag.nconns >= agent_connection_cap())
		child_accept_pause(c, true);
}

static size_t
agent_active(struct child *c)
{
	return ag.busy;
}

size_t
agent_busy(void)
{
	return ag.busy;
}

#define AGENT_PROGRAM(n) { .name = n, .choose_user = agent_choose_user, \
	.accept_fn = agent_accept, .active = agent_active }

static const struct child_program programs[] = {
	AGENT_PROGRAM("discard"), AGENT_PROGRAM("error"),
	AGENT_PROGRAM("virtual"), AGENT_PROGRAM("pipe"),
	AGENT_PROGRAM("lmtp"), AGENT_PROGRAM("local"), AGENT_PROGRAM("smtp"),
};

const struct child_program *
agent_program(const struct agent_def *def)
{
	for (size_t i = 0; i < N_ELEMENTS(agents); i++)
		if (agents[i] == def)
			return &programs[i];
	return NULL;
}

/* ---------------------------------------------------------------- */
/* The message                                                      */

static uint64_t
max_file_bytes(const struct agent_ctx *a)
{
	uint64_t limit = a->view != NULL ?
	    config_size(a->view, P_message_size_limit) : 0;

	if (limit == 0 || limit > AGENT_FILE_MAX_BYTES)
		return AGENT_FILE_MAX_BYTES;
	return limit * 2 + 1024 * 1024;
}

/*
 * load_message - read and parse the queue file fd of req into msg (its
 * content in *content).  0, or -1 with *why_r (new string, plain
 * words).
 */
static int
load_message(const struct agent_ctx *a, int fd, const struct deliver_req *req,
    struct deliver_msg *msg, struct buf *content, char **why_r)
{
	struct stat st;
	const char *err = NULL;
	char *data;
	size_t size, off = 0;
	uint64_t max = max_file_bytes(a);

	if (fstat(fd, &st) < 0) {
		*why_r = xasprintf("fstat: %s", strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		*why_r = xstrdup("the descriptor is not a regular file");
		return -1;
	}
	if (st.st_size <= 0 || (uint64_t)st.st_size > max) {
		*why_r = xasprintf("impossible size (%lld bytes; at most %llu "
		    "with this message_size_limit)", (long long)st.st_size,
		    (unsigned long long)max);
		return -1;
	}
	size = (size_t)st.st_size;
	data = xmalloc(size + 1);
	while (off < size) {
		ssize_t n = pread(fd, data + off, size - off, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			*why_r = n < 0 ? xasprintf("read: %s", strerror(errno)) :
			    xstrdup("the file ended early (truncated?)");
			free(data);
			return -1;
		}
		off += (size_t)n;
	}
	memset(&msg->env, 0, sizeof(msg->env));
	buf_init(content, size);
	if (queue_file_parse(data, size, &msg->env, content, &err) < 0) {
		*why_r = xasprintf("not a valid queue file: %s", err);
		free(data);
		return -1;
	}
	free(data);
	if (msg->env.id == NULL || strcmp(msg->env.id, req->queue_id) != 0) {
		*why_r = xstrdup("the file holds another queue ID");
		queue_envelope_deinit(&msg->env);
		return -1;
	}
	msg->content = buf_cstr(content);
	msg->len = content->len;
	return 0;
}

/* arrival_of - the arrival time of the message, in seconds. */
static double
arrival_of(const struct deliver_req *req, const struct deliver_msg *msg)
{
	const char *p = msg != NULL ? msg->env.arrival : NULL;
	uint64_t sec = 0, usec = 0;
	int digits = 0;

	if (p == NULL || *p < '0' || *p > '9')
		return (double)req->arrival;
	for (; *p >= '0' && *p <= '9' && digits < 19; p++, digits++)
		sec = sec * 10 + (uint64_t)(*p - '0');
	if (*p == '.') {
		p++;
		for (digits = 0; *p >= '0' && *p <= '9' && digits < 6;
		    p++, digits++)
			usec = usec * 10 + (uint64_t)(*p - '0');
		for (; digits < 6; digits++)
			usec *= 10;
	}
	return (double)sec + (double)usec / 1e6;
}

/* format_delay - Postfix style: "0.12", "1.2", "38". */
static void
format_delay(double d, char *out, size_t outsz)
{
	size_t n;

	if (d < 0)
		d = 0;
	if (d >= 10) {
		snprintf(out, outsz, "%.0f", d);
		return;
	}
	snprintf(out, outsz, "%.2f", d);
	n = strlen(out);
	while (n > 0 && out[n - 1] == '0')
		out[--n] = '\0';
	if (n > 0 && out[n - 1] == '.')
		out[--n] = '\0';
}

/* ---------------------------------------------------------------- */
/* Connections                                                      */

static void conn_process(struct aconn *q);

static void
conn_free(struct aconn *q)
{
	LIST_REMOVE(q, link);	/* linked since agent_serve_fd */
	if (q->state != ACONN_IDLE && ag.busy > 0)
		ag.busy--;
	if (q->job != NULL)
		q->job->q = NULL;	/* freed when the agent is done */
	if (q->msg_fd >= 0)
		close(q->msg_fd);
	deliver_req_free(&q->req);
	if (q->rev != NULL)
		event_free(q->rev);
	if (q->wev != NULL)
		event_free(q->wev);
	ipc_conn_deinit(&q->ipc);
	buf_deinit(&q->out);
	close(q->sock);
	free(q);
	if (ag.nconns > 0)
		ag.nconns--;
	if (ag.child != NULL) {
		if (ag.nconns < agent_connection_cap())
			child_accept_pause(ag.child, false);
		child_connection_done(ag.child);
	}
}

static void
set_state(struct aconn *q, enum aconn_state st)
{
	if (q->state == ACONN_IDLE && st != ACONN_IDLE)
		ag.busy++;
	else if (q->state != ACONN_IDLE && st == ACONN_IDLE && ag.busy > 0)
		ag.busy--;
	q->state = st;
}

/* append_frame - header and payload of one frame (no descriptor). */
static void
append_frame(struct aconn *q, uint32_t type, const struct ipc_out *o)
{
	uint8_t h[IPC_HEADER_BYTES];
	size_t len = o != NULL ? o->len : 0;

	h[0] = (uint8_t)(type >> 24);
	h[1] = (uint8_t)(type >> 16);
	h[2] = (uint8_t)(type >> 8);
	h[3] = (uint8_t)type;
	h[4] = (uint8_t)(len >> 24);
	h[5] = (uint8_t)(len >> 16);
	h[6] = (uint8_t)(len >> 8);
	h[7] = (uint8_t)len;
	/* out was sized for nrcpts full frames and DONE. */
	if (buf_append(&q->out, h, sizeof(h)) < 0 ||
	    (len > 0 && buf_append(&q->out, o->data, len) < 0))
		log_panic("agent: status buffer overflow");
}

/* soften - soft_bounce = yes: a refusal for good is reported, and
 * logged, as a deferral (soft_bounce.h). */
static void
soften(struct agent_slot *s)
{
	size_t room = DELIVER_FIELD_MAX - strlen(SOFT_BOUNCE_NOTE);
	size_t n = strlen(s->text);
	char *t;

	if (n > room) {
		n = room;
		while (n > 0 && ((unsigned char)s->text[n] & 0xc0) == 0x80)
			n--;
	}
	t = xasprintf("%.*s%s", (int)n, s->text, SOFT_BOUNCE_NOTE);
	free(s->text);
	s->text = t;
	s->st = DELIVER_DEFER;
	soft_bounce_dsn(s->dsn);
}

static const char *
status_word(enum deliver_status st, bool probe)
{
	if (probe)
		return st == DELIVER_OK ? "deliverable" : st ==
		    DELIVER_BOUNCE ? "undeliverable" : "deferred";
	return st == DELIVER_OK ? "sent" : st == DELIVER_BOUNCE ? "bounced" :
	    "deferred";
}

/*
 * finish_request - one STATUS per recipient (a missing result becomes a
 * deferral) and DONE into q->out, one log line per recipient.
 */
static void
finish_request(struct aconn *q, struct agent_results *res, const char *relay,
    double arrival)
{
	const struct deliver_req *req = &q->req;
	struct timespec now;
	char delay[32];
	size_t missing = 0;
	bool soft;

	clock_gettime(CLOCK_REALTIME, &now);
	format_delay((double)now.tv_sec + (double)now.tv_nsec / 1e9 - arrival,
	    delay, sizeof(delay));
	{
		size_t frames = req->nrcpts;

		for (size_t i = 0; i < req->nrcpts; i++)
			frames += res->v[i].nfwd;
		buf_init(&q->out, frames * (IPC_HEADER_BYTES +
		    IPC_PAYLOAD_MAX_BYTES) + IPC_HEADER_BYTES);
	}
	q->out_off = 0;
	q->out_frames = 0;
	soft = q->a->view != NULL && config_bool(q->a->view, P_soft_bounce);
	for (size_t i = 0; i < req->nrcpts; i++) {
		const struct deliver_rcpt *r = &req->rcpts[i];
		struct agent_slot *s = &res->v[i];
		struct deliver_result dr;
		struct ipc_out o;
		bool orig;

		if (!s->set) {
			missing++;
			agent_set_result(res, i, DELIVER_DEFER, "4.3.0", NULL,
			    "internal error: the agent gave no result");
		}
		if (soft && s->st == DELIVER_BOUNCE)
			soften(s);
		dr.idx = r->idx;
		dr.status = s->st;
		dr.dsn = s->dsn;
		dr.remote = s->remote;
		dr.text = s->text;
		dr.flags = s->st == DELIVER_OK ? s->flags & DELIVER_R_ALL : 0;
		if (deliver_result_encode(&dr, &o) < 0) {
			/* Cannot happen: one_line() bounds every field. */
			dr.status = DELIVER_DEFER;
			dr.dsn = UNCONST("4.3.0");
			dr.remote = UNCONST("");
			dr.text = UNCONST("internal error: unencodable status");
			dr.flags = 0;
			if (deliver_result_encode(&dr, &o) < 0)
				log_panic("agent: cannot encode a status");
		}
		/* A recipient's forwarding addresses go before its status,
		 * and only with a success (deliver_proto.h). */
		for (size_t k = 0; dr.status == DELIVER_OK && k < s->nfwd;
		    k++) {
			struct deliver_forward df = { .idx = r->idx,
			    .address = s->fwd[k] };
			struct ipc_out fo;

			if (deliver_forward_encode(&df, &fo) < 0)
				log_panic("agent: cannot encode a forward");
			append_frame(q, DELIVER_MSG_FORWARD, &fo);
			q->out_frames++;
		}
		append_frame(q, DELIVER_MSG_STATUS, &o);
		q->out_frames++;
		orig = r->orig_rcpt[0] != '\0' &&
		    strcmp(r->orig_rcpt, r->address) != 0;
		log_info("%s: to=<%s>%s%s%s, relay=%s, delay=%s, dsn=%s, "
		    "status=%s (%s)", req->queue_id, r->address,
		    orig ? ", orig_to=<" : "", orig ? r->orig_rcpt : "",
		    orig ? ">" : "", s->relay != NULL ? s->relay : relay,
		    delay, dr.dsn,
		    status_word(dr.status, (req->flags & DELIVER_F_VERIFY) !=
		    0), dr.text);
	}
	if (missing > 0)
		log_error("%s: the %s agent gave no result for %zu of %zu "
		    "recipient%s; deferred", req->queue_id, q->def->command,
		    missing, req->nrcpts, req->nrcpts == 1 ? "" : "s");
	append_frame(q, DELIVER_MSG_DONE, NULL);
}

/*
 * conn_flush - write what q->out holds.  0 (all written: back to IDLE,
 * reading again; or some left: waiting for EV_WRITE), -1 when the
 * queue manager is gone (logged).
 */
static int
conn_flush(struct aconn *q)
{
	struct timeval tv = { AGENT_IO_TIMEOUT_SECONDS, 0 };
	int r = buf_send(&q->out, &q->out_off, q->sock);

	if (r < 0) {
		log_error("%s: cannot send the delivery statuses to the "
		    "queue manager: %s (it defers the recipients it has no "
		    "status for)", q->req.queue_id != NULL ? q->req.queue_id :
		    "NOQUEUE", strerror(errno));
		return -1;
	}
	if (r == 0) {
		event_add(q->wev, &tv);
		return 0;
	}
	event_del(q->wev);
	buf_deinit(&q->out);
	deliver_req_free(&q->req);
	set_state(q, ACONN_IDLE);
	event_add(q->rev, NULL);
	if (ag.child != NULL)
		child_connection_done(ag.child);
	return 0;
}

/*
 * answer - the results of q's request are complete: the statuses and
 * DONE go out.  0, or -1 when q must be freed (conn_flush).
 */
static int
answer(struct aconn *q, struct agent_results *res, const char *relay,
    const struct deliver_msg *msg)
{
	if (relay == NULL)
		relay = q->req.transport;
	finish_request(q, res, relay, arrival_of(&q->req, msg));
	set_state(q, ACONN_SENDING);
	event_del(q->rev);
	idle_schedule(q->def, q->a, event_get_base(q->rev));
	return conn_flush(q);
}

static void
job_free(struct agent_job *job)
{
	results_free(&job->res);
	queue_envelope_deinit(&job->msg.env);
	buf_deinit(&job->content);
	free(job->relay);
	event_free(job->ev);
	free(job);
}

/* on_job_done - an event-driven delivery ended (agent_job_done). */
static void
on_job_done(evutil_socket_t fd, short what, void *arg)
{
	struct agent_job *job = arg;
	struct aconn *q = job->q;
	int rc;

	(void)fd;
	(void)what;
	if (q == NULL) {
		job_free(job);
		return;
	}
	q->job = NULL;
	rc = answer(q, &job->res, job->relay, &job->msg);
	job_free(job);
	if (rc < 0)
		conn_free(q);
	else if (q->state == ACONN_IDLE)
		conn_process(q);	/* frames that came early */
}

void
agent_job_done(struct agent_job *job, const char *relay)
{
	if (job->done)
		log_panic("agent: a delivery ended twice");
	job->done = true;
	job->relay = relay != NULL ? xstrdup(relay) : NULL;
	event_active(job->ev, EV_TIMEOUT, 0);
}

/* run_request - deliver the complete request and start the answer (or
 * hand it to an event-driven agent).  0, or -1 when q must be freed. */
static int
run_request(struct aconn *q)
{
	struct agent_results res;
	struct deliver_msg msg;
	struct buf content;
	char *why = NULL;
	const char *relay;
	bool loaded = false;
	int rc;

	res.agent = q->def->command;
	res.n = q->req.nrcpts;
	res.v = xcalloc(res.n, sizeof(*res.v));
	memset(&msg, 0, sizeof(msg));
	buf_init(&content, 1);
	if (q->a->refusal != NULL) {
		agent_set_all(&res, DELIVER_DEFER, "4.3.5", NULL, "%s",
		    q->a->refusal);
	} else if (load_message(q->a, q->msg_fd, &q->req, &msg, &content,
	    &why) < 0) {
		log_error("%s: queue file unreadable: %s", q->req.queue_id,
		    why);
		agent_set_all(&res, DELIVER_DEFER, "4.3.0", NULL,
		    "queue file unreadable: %s", why);
		free(why);
	} else {
		loaded = true;
	}
	close(q->msg_fd);
	q->msg_fd = -1;
	if (loaded && (q->req.flags & DELIVER_F_VERIFY) != 0 &&
	    !q->def->verifies) {
		/* A probe to an agent that cannot check without delivering:
		 * it takes every recipient. */
		agent_set_all(&res, DELIVER_OK, "2.0.0", NULL, "deliverable: "
		    "the %s service takes every recipient (a %s agent "
		    "cannot check one without delivering)",
		    q->a->service != NULL ? q->a->service->name :
		    q->def->command, q->def->command);
		relay = q->def->relay != NULL ? q->def->relay(q->a, &q->req) :
		    NULL;
		rc = answer(q, &res, relay, &msg);
		results_free(&res);
		queue_envelope_deinit(&msg.env);
		buf_deinit(&content);
		return rc;
	}
	if (loaded && q->def->deliver_async != NULL) {
		struct agent_job *job = xcalloc(1, sizeof(*job));

		job->q = q;
		job->res = res;
		job->msg = msg;		/* msg.content points into content */
		job->content = content;
		job->ev = evtimer_new(event_get_base(q->rev), on_job_done,
		    job);
		if (job->ev == NULL)
			log_fatal("cannot create a delivery event");
		q->job = job;
		set_state(q, ACONN_DELIVERING);
		event_del(q->rev);
		q->def->deliver_async(q->a, &q->req, &job->msg, &job->res,
		    job);
		return 0;
	}
	if (loaded)
		q->def->deliver(q->a, &q->req, &msg, &res);
	relay = q->def->relay != NULL ? q->def->relay(q->a, &q->req) : NULL;
	rc = answer(q, &res, relay, loaded ? &msg : NULL);
	results_free(&res);
	if (loaded)
		queue_envelope_deinit(&msg.env);
	buf_deinit(&content);
	return rc;
}

/*
 * handle_frame - one frame in q's state.  0, or -1 when the connection
 * must end (logged; fd, if any, closed).
 */
static int
handle_frame(struct aconn *q, uint32_t type, struct ipc_in *in, int fd)
{
	struct timeval tv = { AGENT_IO_TIMEOUT_SECONDS, 0 };
	const char *err = NULL;

	if (q->state == ACONN_IDLE && type == DELIVER_MSG_REQ) {
		if (fd < 0) {
			log_error("queue manager request without its queue "
			    "file; closing the connection");
			return -1;
		}
		if (deliver_req_decode(in, &q->req, &err) < 0) {
			close(fd);
			log_error("malformed request from the queue manager: "
			    "%s; closing the connection", err);
			return -1;
		}
		q->msg_fd = fd;
		q->req.rcpts = xcalloc(q->req.nrcpts, sizeof(*q->req.rcpts));
		q->got = 0;
		set_state(q, ACONN_RCPTS);
		event_add(q->rev, &tv);
		return 0;
	}
	if (fd >= 0)
		close(fd);
	if (q->state == ACONN_RCPTS && type == DELIVER_MSG_RCPT && fd < 0) {
		if (deliver_rcpt_decode(in, &q->req.rcpts[q->got], &err) < 0) {
			log_error("%s: malformed recipient %zu from the queue "
			    "manager: %s; closing the connection",
			    q->req.queue_id, q->got, err);
			return -1;
		}
		if (++q->got == q->req.nrcpts)
			return run_request(q);
		return 0;
	}
	log_error("%s: unexpected message %u%s from the queue manager "
	    "(waiting for %s); closing the connection",
	    q->req.queue_id != NULL ? q->req.queue_id : "NOQUEUE", type,
	    fd >= 0 ? " with a descriptor" : "",
	    q->state == ACONN_IDLE ? "a request" : "a recipient");
	return -1;
}

/* conn_process - take the complete frames buffered; may free q. */
static void
conn_process(struct aconn *q)
{
	for (;;) {
		struct ipc_in in;
		uint32_t type;
		int fd, r;

		if (q->state == ACONN_SENDING ||
		    q->state == ACONN_DELIVERING)
			return;
		r = ipc_conn_next(&q->ipc, &type, &in, &fd);
		if (r == 0)
			break;
		if (r < 0) {
			log_error("malformed frame from the queue manager; "
			    "closing the connection");
			conn_free(q);
			return;
		}
		if (handle_frame(q, type, &in, fd) < 0) {
			conn_free(q);
			return;
		}
	}
	if (q->ipc.eof) {
		if (q->state != ACONN_IDLE || q->ipc.in.len > 0)
			log_warning("%s: the queue manager closed the "
			    "connection in the middle of a request",
			    q->req.queue_id != NULL ? q->req.queue_id :
			    "NOQUEUE");
		else
			log_debug(1, "the queue manager closed the "
			    "connection");
		conn_free(q);
	}
}

static void
on_read(evutil_socket_t fd, short what, void *arg)
{
	struct aconn *q = arg;

	if (what & EV_TIMEOUT) {
		if (q->state == ACONN_IDLE)
			return;
		log_error("%s: the queue manager sent %zu of %zu recipients "
		    "and then nothing for %d s; closing the connection",
		    q->req.queue_id, q->got, q->req.nrcpts,
		    AGENT_IO_TIMEOUT_SECONDS);
		conn_free(q);
		return;
	}
	if (ipc_conn_fill_once(&q->ipc) < 0) {
		log_warning("%s: reading from the queue manager: %s",
		    q->req.queue_id != NULL ? q->req.queue_id : "NOQUEUE",
		    strerror(errno));
		conn_free(q);
		return;
	}
	conn_process(q);
}

static void
on_write(evutil_socket_t fd, short what, void *arg)
{
	struct aconn *q = arg;

	if (what & EV_TIMEOUT) {
		log_error("%s: the queue manager did not take the delivery "
		    "statuses for %d s; closing the connection (it defers "
		    "the recipients it has no status for)", q->req.queue_id,
		    AGENT_IO_TIMEOUT_SECONDS);
		conn_free(q);
		return;
	}
	if (conn_flush(q) < 0) {
		conn_free(q);
		return;
	}
	if (q->state == ACONN_IDLE)
		conn_process(q);	/* frames that came early */
}

void
agent_serve_fd(const struct agent_def *def, struct agent_ctx *a,
    struct event_base *base, int fd)
{
	struct aconn *q = xcalloc(1, sizeof(*q));

	(void)evutil_make_socket_nonblocking(fd);
	a->base = base;
	q->def = def;
	q->a = a;
	q->sock = fd;
	q->msg_fd = -1;
	q->state = ACONN_IDLE;
	ipc_conn_init(&q->ipc, fd);
	buf_init(&q->out, 1);
	q->rev = event_new(base, fd, EV_READ | EV_PERSIST, on_read, q);
	q->wev = event_new(base, fd, EV_WRITE | EV_PERSIST, on_write, q);
	if (q->rev == NULL || q->wev == NULL)
		log_fatal("cannot create connection events");
	event_add(q->rev, NULL);
	LIST_INSERT_HEAD(&ag.conns, q, link);
	ag.nconns++;
}

bool
agent_path_has_dotdot(const char *path)
{
	for (const char *p = path; (p = strstr(p, "..")) != NULL; p += 2)
		if ((p == path || p[-1] == '/') && (p[2] == '\0' ||
		    p[2] == '/'))
			return true;
	return false;
}
