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
 * TLS (inet destinations; a UNIX-domain socket never uses it):
 * lmtp_tls_security_level none, may (STARTTLS when offered), encrypt
 * (STARTTLS required), verify / secure (a chain to lmtp_tls_CAfile, or
 * the system store without it, and the destination's host name in the
 * certificate); dane, dane-only and fingerprint are refused for LMTP
 * with words (the mail is deferred, never sent in plaintext instead).
 * lmtp_tls_protocols / _mandatory_protocols, lmtp_tls_ciphers /
 * _mandatory_ciphers less lmtp_tls_exclude_ciphers; with
 * lmtp_tls_loglevel >= 1 the session is logged as the smtp agent does.
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
#include "agent_client.h"
#include "config.h"
#include "lmtp_client.h"
#include "log.h"
#include "tls_client.h"
#include "tls_policy.h"
#include "xalloc.h"

/* Postfix's defaults of the timeouts our schema does not have. */
#define LMTP_AGENT_LHLO_TIMEOUT_S 300
#define LMTP_AGENT_MAIL_TIMEOUT_S 300
#define LMTP_AGENT_RSET_TIMEOUT_S 20
/* QUIT is only politeness: never hold an exiting process long. */
#define LMTP_AGENT_QUIT_TIMEOUT_S 5

struct lmtp_agent {
	bool loaded;
	char *lhlo_name;
	char *tcp_port;
	struct lmtp_client_settings set;
	struct lmtp_client *conn;	/* kept between requests */
	bool send_xforward;		/* lmtp_send_xforward_command */
	bool atexit_done;
	/* TLS: the level, the context (made at the first inet delivery
	 * that wants it) or why there is none, the policy of the
	 * destination being served and its one name. */
	enum tls_client_level level;
	int tls_loglevel;
	bool tls_loaded;
	struct tls_client_ctx *tls_ctx;
	char *tls_error;
	struct tls_client_policy pol;
	char *host;
	const char *match[1];
};

static struct lmtp_agent lmtp_agent;

void
agent_lmtp_timeouts(const struct config_view *v, struct lmtp_timeouts *t)
{
	t->connect_ms = agent_client_ms(config_time(v, P_lmtp_connect_timeout));
	t->lhlo_ms = agent_client_ms(LMTP_AGENT_LHLO_TIMEOUT_S);
	t->mail_ms = agent_client_ms(LMTP_AGENT_MAIL_TIMEOUT_S);
	t->rcpt_ms = agent_client_ms(config_time(v, P_lmtp_rcpt_timeout));
	t->data_init_ms = agent_client_ms(config_time(v,
	    P_lmtp_data_init_timeout));
	t->data_xfer_ms = agent_client_ms(config_time(v,
	    P_lmtp_data_xfer_timeout));
	t->data_done_ms = agent_client_ms(config_time(v,
	    P_lmtp_data_done_timeout));
	t->rset_ms = agent_client_ms(LMTP_AGENT_RSET_TIMEOUT_S);
	t->quit_ms = agent_client_ms(LMTP_AGENT_QUIT_TIMEOUT_S);
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
	st->send_xforward = config_bool(v, P_lmtp_send_xforward_command);
	if (tls_level_parse(config_str(v, P_lmtp_tls_security_level),
	    &st->level) < 0)
		st->level = TLS_LEV_ENCRYPT;	/* the schema checked it */
	st->tls_loglevel = (int)config_int(v, P_lmtp_tls_loglevel);
	agent_lmtp_timeouts(v, t);
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

/* load_tls - the TLS client context of the lmtp_tls_* settings. */
static void
load_tls(struct lmtp_agent *st, const struct config_view *v)
{
	struct tls_client_config cfg;
	char err[TLS_POLICY_ERROR_MAX_BYTES];
	char *clist, *mlist = NULL;

	st->tls_loaded = true;
	memset(&cfg, 0, sizeof(cfg));
	clist = agent_cipher_list(v, P_lmtp_tls_ciphers,
	    P_lmtp_tls_exclude_ciphers, err, sizeof(err));
	if (clist != NULL)
		mlist = agent_cipher_list(v, P_lmtp_tls_mandatory_ciphers,
		    P_lmtp_tls_exclude_ciphers, err, sizeof(err));
	if (clist == NULL || mlist == NULL) {
		st->tls_error = xasprintf("the LMTP TLS cipher settings cannot "
		    "be used: %s", err);
	} else {
		cfg.CAfile = config_str(v, P_lmtp_tls_CAfile);
		cfg.protocols = config_str(v, P_lmtp_tls_protocols);
		cfg.mandatory_protocols = config_str(v,
		    P_lmtp_tls_mandatory_protocols);
		cfg.ciphers_list = clist;
		cfg.mandatory_ciphers_list = mlist;
		cfg.loglevel = st->tls_loglevel;
		st->tls_ctx = tls_client_ctx_new(&cfg, &st->tls_error);
	}
	if (st->tls_ctx == NULL)
		log_warning("lmtp: %s; mail that needs TLS is deferred",
		    st->tls_error != NULL ? st->tls_error : "no TLS context");
	free(clist);
	free(mlist);
}

/*
 * tls_policy - st->set.tls for the destination ep: none for a UNIX-
 * domain socket or level none; else the level, with ep's host as the
 * name to match at verify and secure.  -1 with *why_r (new string) when
 * the level cannot be used for LMTP.
 */
static int
tls_policy(struct lmtp_agent *st, struct agent_ctx *a,
    const struct endpoint *ep, char **why_r)
{
	st->set.tls = NULL;
	if (st->level == TLS_LEV_NONE || ep->path != NULL)
		return 0;
	if (st->level == TLS_LEV_DANE || st->level == TLS_LEV_DANE_ONLY ||
	    st->level == TLS_LEV_FINGERPRINT) {
		*why_r = xasprintf("lmtp_tls_security_level = %s is not "
		    "supported for LMTP (use may, encrypt, verify or secure)",
		    tls_level_name(st->level));
		return -1;
	}
	if (!st->tls_loaded)
		load_tls(st, a->view);
	free(st->host);
	st->host = xstrdup(ep->host != NULL ? ep->host : "");
	st->match[0] = st->host;
	memset(&st->pol, 0, sizeof(st->pol));
	st->pol.level = st->level;
	st->pol.match = st->match;
	st->pol.nmatch = 1;
	st->set.tls_ctx = st->tls_ctx;
	st->set.tls = &st->pol;
	return 0;
}

/* log_tls - the "TLS connection established" line (lmtp_tls_loglevel
 * 1 and up), as the smtp agent writes it. */
static void
log_tls(const struct lmtp_agent *st, const char *dest)
{
	const struct tls_client_info *ti = lmtp_client_tls(st->conn);

	if (st->tls_loglevel < 1 || ti == NULL || !ti->active)
		return;
	log_info("%s TLS connection established to LMTP server %s: %s with "
	    "cipher %s (%d/%d bits)", ti->trust, dest, ti->protocol,
	    ti->cipher, ti->bits, ti->alg_bits);
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
	if (st->conn == NULL && f->kind == LMTP_FAIL_TLS &&
	    st->set.tls != NULL && st->level == TLS_LEV_MAY) {
		/* Opportunistic: a failed handshake, then plaintext. */
		log_info("lmtp %s: %s; trying again without TLS "
		    "(lmtp_tls_security_level = may)", dest, f->text != NULL ?
		    f->text : "TLS failed");
		lmtp_failure_deinit(f);
		st->set.tls = NULL;
		st->conn = lmtp_client_connect(dest, &st->set, f);
		st->set.tls = &st->pol;
	}
	if (st->conn != NULL)
		log_tls(st, dest);
	if (st->conn != NULL && !st->atexit_done) {
		atexit(lmtp_agent_exit);
		st->atexit_done = true;
	}
	return st->conn;
}

static void
lmtp_deliver(struct agent_ctx *a, const struct deliver_req *req,
    const struct deliver_msg *msg, struct agent_results *res)
{
	struct lmtp_agent *st = &lmtp_agent;
	struct lmtp_failure f = { 0 };
	struct agent_txn t;
	struct endpoint ep = { 0 };
	const char *dest = req->nexthop != NULL ? req->nexthop : "";
	char *err = NULL, *server;

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
	if (tls_policy(st, a, &ep, &err) < 0) {
		agent_set_all(res, DELIVER_DEFER, "4.7.5", NULL, "%s", err);
		free(err);
		endpoint_clear(&ep);
		return;
	}
	endpoint_clear(&ep);

	/* Addresses LMTP cannot carry are bounced here, the rest sent. */
	agent_txn_init(&t, req, msg, res, "LMTP", st->send_xforward);
	if (t.n == 0)
		goto out;
	server = xasprintf("LMTP server %s", dest);
	if (connection(st, dest, &f) == NULL) {
		agent_txn_set_failure(res, "lmtp", &f);
	} else if (lmtp_client_send(st->conn, &t.mail, t.rc, t.n, &f) < 0) {
		agent_txn_set_answers(res, &t, "lmtp", server);
		agent_txn_set_failure(res, "lmtp", &f);
	} else {
		agent_txn_set_answers(res, &t, "lmtp", server);
	}
	free(server);
	if (st->conn != NULL && !lmtp_client_is_open(st->conn))
		lmtp_client_free(&st->conn);
out:
	lmtp_failure_deinit(&f);
	agent_txn_deinit(&t);
}

const struct agent_def agent_lmtp = {
	.command = "lmtp",
	.setup = lmtp_setup,
	.deliver = lmtp_deliver,
	.relay = lmtp_relay,
	.verifies = true,
};
