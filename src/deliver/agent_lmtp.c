/* SPDX-License-Identifier: MIT */
/*
 * agent_lmtp - the lmtp delivery agent: hands messages to an LMTP server
 * (Dovecot's lmtp, typically) with lmtp_client.
 *
 * The destination is the request's next hop, in Postfix's forms: a
 * transport "lmtp:unix:/run/dovecot/lmtp" arrives here as next hop
 * "unix:/run/dovecot/lmtp"; "inet:host:port", "host:port",
 * "[host]:port", "/path" and "host" (port lmtp_tcp_port) work too.
 *
 * Runs as mail_owner (setup changes nothing); no files are opened.  One
 * connection is kept open between requests while they go to the same
 * destination: RSET before each reuse, a new connection when that
 * fails, QUIT when the destination changes or the process exits.
 *
 * Results: each recipient's own reply (after RCPT TO, or after the
 * final dot: one reply per recipient, RFC 2033 4.2): 2xx sent, 4xx
 * deferred, 5xx bounced, the DSN status from the reply's enhanced code
 * (or 2.0.0 / 4.0.0 / 5.0.0), the Diagnostic-Code "lmtp; REPLY".  A
 * refusal of the greeting, LHLO, MAIL or DATA counts for every
 * recipient still open, by its class too; no connection: deferred
 * 4.4.1; a broken conversation (lost connection, timeout, not LMTP):
 * deferred 4.4.2; a message the server cannot take (SMTPUTF8 needed
 * but not offered, over its SIZE): bounced 5.6.7 / 5.3.4.
 *
 * Parameters honoured: lmtp_lhlo_name, lmtp_tcp_port,
 * lmtp_connect_timeout, lmtp_rcpt_timeout, lmtp_data_init_timeout,
 * lmtp_data_xfer_timeout, lmtp_data_done_timeout.  Postfix's
 * lmtp_lhlo_timeout, lmtp_mail_timeout, lmtp_rset_timeout and
 * lmtp_quit_timeout are not in our schema: their Postfix defaults are
 * used (LMTP_AGENT_*_TIMEOUT below).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent.h"
#include "config.h"
#include "lmtp_client.h"
#include "log.h"
#include "xalloc.h"

/* Postfix's defaults of the timeouts our schema does not have. */
#define LMTP_AGENT_LHLO_TIMEOUT_S 300
#define LMTP_AGENT_MAIL_TIMEOUT_S 300
#define LMTP_AGENT_RSET_TIMEOUT_S 20
/* QUIT is only politeness: never hold an exiting process long. */
#define LMTP_AGENT_QUIT_TIMEOUT_S 5
/* Seconds a timeout may have in ms without overflow (~49 days). */
#define LMTP_AGENT_TIMEOUT_MAX_S 4000000LL
/* The remote reply in a result, after "lmtp; ". */
#define LMTP_AGENT_REMOTE_MAX (DELIVER_FIELD_MAX - 8)

struct lmtp_agent {
	bool loaded;
	char *lhlo_name;
	char *tcp_port;
	struct lmtp_client_settings set;
	struct lmtp_client *conn;	/* kept between requests */
	bool atexit_done;
};

static struct lmtp_agent lmtp_agent;

static unsigned
secs_to_ms(long long s)
{
	if (s < 0)
		s = 0;
	if (s > LMTP_AGENT_TIMEOUT_MAX_S)
		s = LMTP_AGENT_TIMEOUT_MAX_S;
	return (unsigned)(s * 1000);
}

/* load - the settings of the service's view, once. */
static void
load(struct agent_ctx *a)
{
	struct lmtp_agent *st = &lmtp_agent;
	struct lmtp_timeouts *t = &st->set.timeouts;
	const struct config_view *v = a->view;
	const char *name;

	if (st->loaded)
		return;
	name = config_str(v, P_lmtp_lhlo_name);
	st->lhlo_name = name[0] != '\0' ? xstrdup(name) :
	    config_default_myhostname();
	st->tcp_port = xstrdup(config_str(v, P_lmtp_tcp_port));
	st->set.lhlo_name = st->lhlo_name;
	st->set.default_port = st->tcp_port;
	t->connect_ms = secs_to_ms(config_time(v, P_lmtp_connect_timeout));
	t->lhlo_ms = secs_to_ms(LMTP_AGENT_LHLO_TIMEOUT_S);
	t->mail_ms = secs_to_ms(LMTP_AGENT_MAIL_TIMEOUT_S);
	t->rcpt_ms = secs_to_ms(config_time(v, P_lmtp_rcpt_timeout));
	t->data_init_ms = secs_to_ms(config_time(v,
	    P_lmtp_data_init_timeout));
	t->data_xfer_ms = secs_to_ms(config_time(v,
	    P_lmtp_data_xfer_timeout));
	t->data_done_ms = secs_to_ms(config_time(v,
	    P_lmtp_data_done_timeout));
	t->rset_ms = secs_to_ms(LMTP_AGENT_RSET_TIMEOUT_S);
	t->quit_ms = secs_to_ms(LMTP_AGENT_QUIT_TIMEOUT_S);
	a->priv = st;
	st->loaded = true;
}

static void
lmtp_agent_exit(void)
{
	lmtp_client_quit(&lmtp_agent.conn);
}

static int
lmtp_setup(struct agent_ctx *a, uid_t *uid_r, gid_t *gid_r, char **error_r)
{
	/* No user change: the process stays mail_owner. */
	load(a);
	return 0;
}

static const char *
lmtp_relay(struct agent_ctx *a, const struct deliver_req *req)
{
	return req->nexthop != NULL && req->nexthop[0] != '\0' ?
	    req->nexthop : NULL;
}

/* dsn_for - the reply's enhanced code when it fits status st, else the
 * class default. */
static const char *
dsn_for(const struct lmtp_reply *r, enum deliver_status st)
{
	if (r->dsn[0] != '\0' && deliver_dsn_valid(r->dsn, st))
		return r->dsn;
	return st == DELIVER_OK ? "2.0.0" : st == DELIVER_DEFER ? "4.0.0" :
	    "5.0.0";
}

static enum deliver_status
status_of(unsigned code)
{
	return code / 100 == 2 ? DELIVER_OK : code / 100 == 4 ?
	    DELIVER_DEFER : DELIVER_BOUNCE;
}

/* set_from_reply - recipient i's result from its own reply. */
static void
set_from_reply(struct agent_results *res, size_t i, const char *dest,
    const struct lmtp_rcpt *rc)
{
	enum deliver_status st = status_of(rc->reply.code);
	char *t = lmtp_reply_text(&rc->reply, LMTP_AGENT_REMOTE_MAX);
	char *remote = xasprintf("lmtp; %s", t);

	if (st == DELIVER_OK)
		agent_set_result(res, i, st, dsn_for(&rc->reply, st), remote,
		    "delivered via %s (%s)", dest, t);
	else
		agent_set_result(res, i, st, dsn_for(&rc->reply, st), remote,
		    "LMTP server %s said: %s (in reply to %s command)", dest,
		    t, lmtp_stage_command(rc->stage));
	free(remote);
	free(t);
}

/* set_failure - every recipient without a result gets the failure. */
static void
set_failure(struct agent_results *res, const struct lmtp_failure *f)
{
	const char *text = f->text != NULL ? f->text : "LMTP failure";

	switch (f->kind) {
	case LMTP_FAIL_REPLY: {
		enum deliver_status st = status_of(f->reply.code);
		char *t = lmtp_reply_text(&f->reply, LMTP_AGENT_REMOTE_MAX);
		char *remote = xasprintf("lmtp; %s", t);

		if (st == DELIVER_OK)	/* not a refusal: cannot happen */
			st = DELIVER_DEFER;
		agent_set_all(res, st, dsn_for(&f->reply, st), remote, "%s",
		    text);
		free(remote);
		free(t);
		break;
	}
	case LMTP_FAIL_LOCAL:
		agent_set_all(res, DELIVER_BOUNCE,
		    deliver_dsn_valid(f->dsn, DELIVER_BOUNCE) ? f->dsn :
		    "5.0.0", NULL, "%s", text);
		break;
	case LMTP_FAIL_CONNECT:
		agent_set_all(res, DELIVER_DEFER, "4.4.1", NULL, "%s", text);
		break;
	case LMTP_FAIL_NONE:
	case LMTP_FAIL_CONVERSATION:
		agent_set_all(res, DELIVER_DEFER, "4.4.2", NULL, "%s", text);
		break;
	}
}

/*
 * connection - an open connection to dest in st->conn: the kept one
 * after a good RSET, or a new one.  NULL with *f filled when none.
 */
static struct lmtp_client *
connection(struct lmtp_agent *st, const char *dest, struct lmtp_failure *f)
{
	if (st->conn != NULL && (!lmtp_client_is_open(st->conn) ||
	    strcmp(lmtp_client_dest(st->conn), dest) != 0))
		lmtp_client_quit(&st->conn);
	if (st->conn != NULL) {
		if (lmtp_client_reset(st->conn, f) == 0)
			return st->conn;
		log_debug(1, "lmtp %s: not reusing the connection: %s", dest,
		    f->text);
		lmtp_failure_deinit(f);
		lmtp_client_free(&st->conn);
	}
	st->conn = lmtp_client_connect(dest, &st->set, f);
	if (st->conn != NULL && !st->atexit_done) {
		atexit(lmtp_agent_exit);
		st->atexit_done = true;
	}
	return st->conn;
}

static bool
has_8bit(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return true;
	return false;
}

/* headers_8bit - a byte >= 0x80 in the message header? */
static bool
headers_8bit(const char *p, size_t len)
{
	const char *end = memmem(p, len, "\r\n\r\n", 4);

	if (end == NULL)
		end = memmem(p, len, "\n\n", 2);
	return has_8bit(p, end != NULL ? (size_t)(end - p) : len);
}

static void
lmtp_deliver(struct agent_ctx *a, const struct deliver_req *req,
    const struct deliver_msg *msg, struct agent_results *res)
{
	struct lmtp_agent *st = &lmtp_agent;
	struct lmtp_failure f = { 0 };
	struct lmtp_mail m;
	struct lmtp_rcpt *rc = NULL;
	char **orcpts = NULL;
	size_t *slot = NULL, n = 0;
	struct endpoint ep = { 0 };
	struct buf scratch;
	const char *dest = req->nexthop != NULL ? req->nexthop : "";
	bool utf8 = false;
	char *err = NULL;

	load(a);
	if (dest[0] == '\0') {
		agent_set_all(res, DELIVER_DEFER, "4.3.5", NULL, "no LMTP "
		    "destination: the next hop of transport %s is empty",
		    req->transport);
		return;
	}
	if (lmtp_dest_parse(dest, st->tcp_port, &ep, &err) < 0) {
		agent_set_all(res, DELIVER_DEFER, "4.3.5", NULL, "%s", err);
		free(err);
		return;
	}
	endpoint_clear(&ep);

	/* Addresses LMTP cannot carry are bounced here, the rest sent. */
	buf_init(&scratch, DELIVER_FIELD_MAX * 4);
	if (lmtp_address_quote(req->sender, &scratch) < 0) {
		agent_set_all(res, DELIVER_BOUNCE, "5.1.7", NULL, "the "
		    "sender address has control characters and cannot be "
		    "sent over LMTP");
		buf_deinit(&scratch);
		return;
	}
	utf8 = has_8bit(req->sender, strlen(req->sender));
	rc = xcalloc(req->nrcpts, sizeof(*rc));
	orcpts = xcalloc(req->nrcpts, sizeof(*orcpts));
	slot = xcalloc(req->nrcpts, sizeof(*slot));
	for (size_t i = 0; i < req->nrcpts; i++) {
		const struct deliver_rcpt *r = &req->rcpts[i];

		buf_reset(&scratch);
		if (r->address[0] == '\0' ||
		    lmtp_address_quote(r->address, &scratch) < 0) {
			agent_set_result(res, i, DELIVER_BOUNCE, "5.1.3", NULL,
			    "the recipient address has control characters "
			    "and cannot be sent over LMTP");
			continue;
		}
		if (r->orcpt != NULL && r->orcpt[0] != '\0')
			orcpts[n] = xstrdup(r->orcpt);
		else if (r->orig_rcpt != NULL && r->orig_rcpt[0] != '\0')
			orcpts[n] = xasprintf("rfc822;%s", r->orig_rcpt);
		rc[n].address = r->address;
		rc[n].orcpt = orcpts[n];
		rc[n].notify = r->notify;
		utf8 = utf8 || has_8bit(r->address, strlen(r->address));
		slot[n++] = i;
	}
	buf_deinit(&scratch);
	if (n == 0)
		goto out;

	memset(&m, 0, sizeof(m));
	m.sender = req->sender;
	m.body_8bitmime = msg->env.body != NULL &&
	    strcasecmp(msg->env.body, "8BITMIME") == 0;
	m.smtputf8_param = (req->flags & DELIVER_F_SMTPUTF8) != 0 ||
	    msg->env.smtputf8;
	/* Needed when an envelope address is not ASCII, or the message
	 * came with SMTPUTF8 and its header is not ASCII; otherwise it
	 * goes without (RFC 6531 3.2). */
	m.smtputf8 = utf8 || (m.smtputf8_param &&
	    headers_8bit(msg->content, msg->len));
	m.envid = req->envid;
	m.ret = req->ret;
	m.content = msg->content;
	m.len = msg->len;

	if (connection(st, dest, &f) == NULL) {
		set_failure(res, &f);
		goto out;
	}
	if (lmtp_client_send(st->conn, &m, rc, n, &f) < 0) {
		for (size_t k = 0; k < n; k++)
			if (rc[k].done)
				set_from_reply(res, slot[k], dest, &rc[k]);
		set_failure(res, &f);
	} else {
		for (size_t k = 0; k < n; k++)
			set_from_reply(res, slot[k], dest, &rc[k]);
	}
	if (!lmtp_client_is_open(st->conn))
		lmtp_client_free(&st->conn);
out:
	lmtp_failure_deinit(&f);
	for (size_t k = 0; k < n; k++) {
		lmtp_rcpt_deinit(&rc[k]);
		free(orcpts[k]);
	}
	free(orcpts);
	free(rc);
	free(slot);
}

const struct agent_def agent_lmtp = {
	.command = "lmtp",
	.setup = lmtp_setup,
	.deliver = lmtp_deliver,
	.relay = lmtp_relay,
};
