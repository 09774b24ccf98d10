/* SPDX-License-Identifier: MIT */
/*
 * agent_client - the transaction and results shared by the lmtp and smtp
 * agents (agent_client.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent_client.h"
#include "buf.h"
#include "strv.h"
#include "tls_policy.h"
#include "xalloc.h"

/* The remote reply in a result, after "smtp; ". */
#define AGENT_CLIENT_REMOTE_MAX (DELIVER_FIELD_MAX - 8)

/* Seconds a timeout may have in ms without overflow (~46 days). */
#define AGENT_CLIENT_TIMEOUT_MAX_S 4000000LL

unsigned
agent_client_ms(long long s)
{
	if (s < 0)
		s = 0;
	if (s > AGENT_CLIENT_TIMEOUT_MAX_S)
		s = AGENT_CLIENT_TIMEOUT_MAX_S;
	return (unsigned)(s * 1000);
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

/* xforward_init - t->xf from the envelope; t->mail.xforward set. */
static void
xforward_init(struct agent_txn *t, const struct deliver_req *req,
    const struct deliver_msg *msg)
{
	const struct queue_envelope *e = &msg->env;
	bool local = (e->protocol != NULL &&
	    strcasecmp(e->protocol, "local") == 0) ||
	    (e->service != NULL && strcmp(e->service, "pickup") == 0);

	t->xf.name = e->client_name;
	t->xf.addr = e->client_addr;
	t->xf.port = NULL;	/* not kept in the queue file */
	t->xf.proto = e->protocol;
	t->xf.helo = e->helo;
	t->xf.ident = e->id != NULL && e->id[0] != '\0' ? e->id :
	    req->queue_id;
	t->xf.source = local ? "LOCAL" : "REMOTE";
	t->mail.xforward = &t->xf;
}

void
agent_txn_init(struct agent_txn *t, const struct deliver_req *req,
    const struct deliver_msg *msg, struct agent_results *res,
    const char *proto, bool xforward)
{
	struct buf scratch;
	bool utf8;

	memset(t, 0, sizeof(*t));
	buf_init(&scratch, DELIVER_FIELD_MAX * 4);
	if (lmtp_address_quote(req->sender, &scratch) < 0) {
		agent_set_all(res, DELIVER_BOUNCE, "5.1.7", NULL, "the "
		    "sender address has control characters and cannot be "
		    "sent over %s", proto);
		buf_deinit(&scratch);
		return;
	}
	utf8 = has_8bit(req->sender, strlen(req->sender));
	t->rc = xcalloc(req->nrcpts, sizeof(*t->rc));
	t->orcpts = xcalloc(req->nrcpts, sizeof(*t->orcpts));
	t->slot = xcalloc(req->nrcpts, sizeof(*t->slot));
	for (size_t i = 0; i < req->nrcpts; i++) {
		const struct deliver_rcpt *r = &req->rcpts[i];
		size_t n = t->n;

		buf_reset(&scratch);
		if (r->address[0] == '\0' ||
		    lmtp_address_quote(r->address, &scratch) < 0) {
			agent_set_result(res, i, DELIVER_BOUNCE, "5.1.3", NULL,
			    "the recipient address has control characters "
			    "and cannot be sent over %s", proto);
			continue;
		}
		if (r->orcpt != NULL && r->orcpt[0] != '\0')
			t->orcpts[n] = xstrdup(r->orcpt);
		else if (r->orig_rcpt != NULL && r->orig_rcpt[0] != '\0')
			t->orcpts[n] = xasprintf("rfc822;%s", r->orig_rcpt);
		t->rc[n].address = r->address;
		t->rc[n].orcpt = t->orcpts[n];
		t->rc[n].notify = r->notify;
		utf8 = utf8 || has_8bit(r->address, strlen(r->address));
		t->slot[n] = i;
		t->n++;
	}
	buf_deinit(&scratch);

	t->mail.sender = req->sender;
	t->mail.body_8bitmime = msg->env.body != NULL &&
	    strcasecmp(msg->env.body, "8BITMIME") == 0;
	t->mail.smtputf8_param = (req->flags & DELIVER_F_SMTPUTF8) != 0 ||
	    msg->env.smtputf8;
	/* Needed when an envelope address is not ASCII, or the message
	 * came with SMTPUTF8 and its header is not ASCII; otherwise it
	 * goes without (RFC 6531 3.2). */
	t->mail.smtputf8 = utf8 || (t->mail.smtputf8_param &&
	    headers_8bit(msg->content, msg->len));
	t->mail.envid = req->envid;
	t->mail.ret = req->ret;
	t->mail.content = msg->content;
	t->mail.len = msg->len;
	t->mail.verify_only = (req->flags & DELIVER_F_VERIFY) != 0;
	if (xforward)
		xforward_init(t, req, msg);
}

void
agent_txn_keep(struct agent_txn *t, const bool *keep)
{
	size_t n = 0;

	for (size_t k = 0; k < t->n; k++) {
		if (!keep[k]) {
			lmtp_rcpt_deinit(&t->rc[k]);
			free(t->orcpts[k]);
			continue;
		}
		lmtp_reply_deinit(&t->rc[k].reply);
		t->rc[k].done = false;
		if (n != k) {
			t->rc[n] = t->rc[k];
			t->orcpts[n] = t->orcpts[k];
			t->slot[n] = t->slot[k];
		}
		n++;
	}
	for (size_t k = n; k < t->n; k++) {
		memset(&t->rc[k], 0, sizeof(t->rc[k]));
		t->orcpts[k] = NULL;
	}
	t->n = n;
}

void
agent_txn_deinit(struct agent_txn *t)
{
	for (size_t k = 0; k < t->n; k++) {
		lmtp_rcpt_deinit(&t->rc[k]);
		free(t->orcpts[k]);
	}
	free(t->orcpts);
	free(t->rc);
	free(t->slot);
	memset(t, 0, sizeof(*t));
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

void
agent_txn_set_reply(struct agent_results *res, size_t i, const char *dtype,
    const char *server, const struct lmtp_rcpt *rc)
{
	enum deliver_status st = status_of(rc->reply.code);
	char *t = lmtp_reply_text(&rc->reply, AGENT_CLIENT_REMOTE_MAX);
	char *remote = xasprintf("%s; %s", dtype, t);

	if (st == DELIVER_OK && rc->stage == LMTP_STAGE_RCPT)
		agent_set_result(res, i, st, dsn_for(&rc->reply, st), remote,
		    "deliverable: %s accepted the recipient (%s)", server, t);
	else if (st == DELIVER_OK)
		agent_set_result(res, i, st, dsn_for(&rc->reply, st), remote,
		    "delivered via %s (%s)", server, t);
	else
		agent_set_result(res, i, st, dsn_for(&rc->reply, st), remote,
		    "%s said: %s (in reply to %s command)", server, t,
		    lmtp_stage_command(rc->stage));
	free(remote);
	free(t);
}

void
agent_txn_set_answers(struct agent_results *res, const struct agent_txn *t,
    const char *dtype, const char *server)
{
	for (size_t k = 0; k < t->n; k++)
		if (t->rc[k].done)
			agent_txn_set_reply(res, t->slot[k], dtype, server,
			    &t->rc[k]);
}

void
agent_txn_set_failure(struct agent_results *res, const char *dtype,
    const struct lmtp_failure *f)
{
	const char *text = f->text != NULL ? f->text : "delivery failure";

	switch (f->kind) {
	case LMTP_FAIL_REPLY: {
		enum deliver_status st = status_of(f->reply.code);
		char *t = lmtp_reply_text(&f->reply, AGENT_CLIENT_REMOTE_MAX);
		char *remote = xasprintf("%s; %s", dtype, t);

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
	default:
		/* TLS and AUTH: the client's status decides. */
		if (f->reply.nlines > 0) {
			enum deliver_status st = status_of(f->reply.code);
			char *t = lmtp_reply_text(&f->reply,
			    AGENT_CLIENT_REMOTE_MAX);
			char *remote = xasprintf("%s; %s", dtype, t);

			if (st == DELIVER_OK)
				st = DELIVER_DEFER;
			agent_set_all(res, st, dsn_for(&f->reply, st), remote,
			    "%s", text);
			free(remote);
			free(t);
		} else if (deliver_dsn_valid(f->dsn, DELIVER_BOUNCE)) {
			agent_set_all(res, DELIVER_BOUNCE, f->dsn, NULL, "%s",
			    text);
		} else {
			agent_set_all(res, DELIVER_DEFER,
			    deliver_dsn_valid(f->dsn, DELIVER_DEFER) ? f->dsn :
			    "4.7.0", NULL, "%s", text);
		}
		break;
	}
}

char *
agent_cipher_list(const struct config_view *v, enum param_id grade_id,
    enum param_id excl_id, char *err, size_t errsz)
{
	const char *grade = config_str(v, grade_id);
	const char *gparam = tls_grade_param(grade);
	char *glist, *clist;
	char **excl;

	if (gparam == NULL) {
		snprintf(err, errsz, "unknown cipher grade \"%s\"", grade);
		return NULL;
	}
	glist = config_expand_name(v, gparam);
	excl = config_list(v, excl_id);
	clist = tls_cipher_list(glist, excl, err, errsz);
	free(glist);
	strv_free(&excl);
	return clist;
}
