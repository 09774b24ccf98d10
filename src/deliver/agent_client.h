/* SPDX-License-Identifier: MIT */
/*
 * agent_client - what the lmtp and smtp delivery agents share: the
 * transaction a delivery request becomes (lmtp_client.h's lmtp_mail and
 * lmtp_rcpt list), and the per-recipient results the server's replies
 * or a failure give.
 *
 * Results:
 *   - a recipient's own reply: 2xx sent, 4xx deferred, 5xx bounced,
 *     the DSN status from the reply's enhanced code when it fits the
 *     class (else 2.0.0 / 4.0.0 / 5.0.0), Diagnostic-Code "TYPE; REPLY";
 *   - a failure (lmtp_failure) counts for every recipient without a
 *     result: a refusal by its reply's class; a local refusal bounced
 *     with its status (5.6.7, 5.3.4); no connection deferred 4.4.1; a
 *     broken conversation deferred 4.4.2; TLS and AUTH failures
 *     deferred with the client's status (4.7.x), or bounced when it is
 *     a 5.x.x one.
 */
#ifndef OSTIA_AGENT_CLIENT_H
#define OSTIA_AGENT_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "agent.h"
#include "config.h"
#include "lmtp_client.h"

/*
 * agent_cipher_list - the OpenSSL cipher list of the grade that
 * parameter grade_id names ("medium" -> $tls_medium_cipherlist), less
 * the exclusions of parameter excl_id (tls_policy.h tls_cipher_list).
 * A new string, or NULL with err.
 */
char *agent_cipher_list(const struct config_view *v, enum param_id grade_id,
    enum param_id excl_id, char *err, size_t errsz);

/* Seconds of a *_timeout parameter in milliseconds for lmtp_client.h:
 * negative is 0, more than about 46 days is cut there. */
unsigned agent_client_ms(long long seconds);
/* The lmtp_*_timeout settings of v (Postfix's defaults for those our
 * schema lacks), for the lmtp agent and the local agent's
 * mailbox_transport (agent_lmtp.c). */
struct lmtp_timeouts;
void agent_lmtp_timeouts(const struct config_view *v,
    struct lmtp_timeouts *t);

struct agent_txn {
	struct lmtp_mail mail;
	struct lmtp_rcpt *rc;	/* the recipients sent */
	char **orcpts;		/* their ORCPT texts (owned) */
	size_t *slot;		/* rc[k] is req->rcpts[slot[k]] */
	size_t n;		/* 0: nothing to send */
	struct lmtp_xforward xf;	/* mail.xforward points here */
};

/*
 * Build the transaction of req and msg.  A recipient (or sender) the
 * protocol cannot carry (control characters) is bounced here, with proto
 * ("LMTP", "SMTP") in the words.  Always leaves *t ready for
 * agent_txn_deinit; t->n is 0 when nothing is left to send.  xforward
 * (*_send_xforward_command): t->mail.xforward is the original client
 * from msg's envelope (SOURCE LOCAL for local submission: protocol
 * "local" or service "pickup"; IDENT the queue ID), else NULL.  t must
 * not move while t->mail is used.
 */
void agent_txn_init(struct agent_txn *t, const struct deliver_req *req,
    const struct deliver_msg *msg, struct agent_results *res,
    const char *proto, bool xforward);
void agent_txn_deinit(struct agent_txn *t);
/*
 * Keep only the recipients k of t with keep[k] (keep has t->n entries),
 * in their order, their answers forgotten: the transaction for another
 * server.  What the others owned is freed.
 */
void agent_txn_keep(struct agent_txn *t, const bool *keep);

/*
 * Recipient req->rcpts[i]'s result from its reply rc (rc->done):
 * dtype is the Diagnostic-Code type ("lmtp", "smtp"), server how the
 * words name the server ("LMTP server unix:/run/lmtp", "host
 * mx.example.net[192.0.2.1]").
 */
void agent_txn_set_reply(struct agent_results *res, size_t i,
    const char *dtype, const char *server, const struct lmtp_rcpt *rc);
/* Every recipient of t with an answer gets it (agent_txn_set_reply). */
void agent_txn_set_answers(struct agent_results *res,
    const struct agent_txn *t, const char *dtype, const char *server);
/* Every recipient without a result gets failure f. */
void agent_txn_set_failure(struct agent_results *res, const char *dtype,
    const struct lmtp_failure *f);

#endif
