/* SPDX-License-Identifier: MIT */
/*
 * smtpd_limit - per-client connection and rate limits (see the header).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "config.h"
#include "log.h"
#include "lookup_client.h"
#include "lookup_proto.h"
#include "smtpd_check.h"
#include "smtpd_limit.h"
#include "smtpd_session.h"
#include "xalloc.h"

static struct {
	long long limit[LOOKUP_ANVIL_OP_LAST + 1];	/* 0 = off */
	long long unit;			/* anvil_rate_time_unit, seconds */
	struct smtpd_client_list exceptions;
} lim;

static const char *const limit_param[LOOKUP_ANVIL_OP_LAST + 1] = {
	[LOOKUP_ANVIL_CONNECT] = "smtpd_client_connection_rate_limit",
	[LOOKUP_ANVIL_MESSAGE] = "smtpd_client_message_rate_limit",
	[LOOKUP_ANVIL_RCPT] = "smtpd_client_recipient_rate_limit",
	[LOOKUP_ANVIL_AUTH] = "smtpd_client_auth_rate_limit",
	[LOOKUP_ANVIL_NEWTLS_STAT] = "smtpd_client_new_tls_session_rate_limit",
};

/* The connection count limit sits in the DISCONNECT slot: that op
 * never asks for a verdict. */
#define COUNT_SLOT LOOKUP_ANVIL_DISCONNECT

void
smtpd_limit_init(const struct config_view *v)
{
	lim.limit[COUNT_SLOT] = config_int(v,
	    P_smtpd_client_connection_count_limit);
	lim.limit[LOOKUP_ANVIL_CONNECT] = config_int(v,
	    P_smtpd_client_connection_rate_limit);
	lim.limit[LOOKUP_ANVIL_MESSAGE] = config_int(v,
	    P_smtpd_client_message_rate_limit);
	lim.limit[LOOKUP_ANVIL_RCPT] = config_int(v,
	    P_smtpd_client_recipient_rate_limit);
	lim.limit[LOOKUP_ANVIL_AUTH] = config_int(v,
	    P_smtpd_client_auth_rate_limit);
	lim.limit[LOOKUP_ANVIL_NEWTLS_STAT] = config_int(v,
	    P_smtpd_client_new_tls_session_rate_limit);
	lim.unit = config_time(v, P_anvil_rate_time_unit);
	smtpd_client_list_init(&lim.exceptions, v,
	    P_smtpd_client_event_limit_exceptions,
	    "smtpd_client_event_limit_exceptions");
}

/* exempt - s matches smtpd_client_event_limit_exceptions (kept for the
 * session: its name does not change). */
static bool
exempt(struct session *s)
{
	if (s->limit_exempt < 0)
		s->limit_exempt = smtpd_client_list_match(&lim.exceptions, s);
	return s->limit_exempt == 1;
}

bool
smtpd_limit_wanted(struct session *s, enum lookup_anvil_op op)
{
	bool on;

	if (op == LOOKUP_ANVIL_CONNECT)
		on = lim.limit[COUNT_SLOT] > 0 ||
		    lim.limit[LOOKUP_ANVIL_CONNECT] > 0;
	else if (op > LOOKUP_ANVIL_DISCONNECT && op <= LOOKUP_ANVIL_OP_LAST)
		on = lim.limit[op] > 0;
	else
		on = false;
	return on && !exempt(s);
}

static void
anvil_key(const struct session *s, char *key, size_t keysz)
{
	snprintf(key, keysz, "%s %s", smtpd_cfg.service, s->addr);
}

/* The reply and the words of the log line for an op over its limit. */
static void
over_limit(struct session *s, enum lookup_anvil_op op, bool count,
    unsigned n, char *reply, size_t replysz)
{
	char who[SMTPD_LABEL_MAX];
	const char *what;

	switch (op) {
	case LOOKUP_ANVIL_CONNECT:
		what = count ? "Connection concurrency" : "Connection rate";
		snprintf(reply, replysz, "421 4.7.0 %s Error: too many "
		    "connections from %s", smtpd_cfg.myhostname, s->addr);
		break;
	case LOOKUP_ANVIL_MESSAGE:
		what = "Message delivery request rate";
		snprintf(reply, replysz, "450 4.7.1 Error: too much mail from "
		    "%s", s->addr);
		break;
	case LOOKUP_ANVIL_RCPT:
		what = "Recipient address rate";
		snprintf(reply, replysz, "450 4.7.1 Error: too many recipients "
		    "from %s", s->addr);
		break;
	case LOOKUP_ANVIL_NEWTLS_STAT:
		what = "New TLS session rate";
		snprintf(reply, replysz, "421 4.7.0 %s Error: too many new TLS "
		    "sessions from %s", smtpd_cfg.myhostname, s->addr);
		break;
	default:
		what = "AUTH command rate";
		snprintf(reply, replysz, "450 4.7.1 Error: too many AUTH "
		    "commands from %s", s->addr);
		break;
	}
	/* The first words are the ones log watchers (fail2ban) know. */
	if (count)
		log_warning("%s limit exceeded: %u from %s for service %s "
		    "(%u connections open at once; "
		    "smtpd_client_connection_count_limit = %lld); refused "
		    "with \"%s\"", what, n,
		    smtpd_client_label(s, who, sizeof(who)), smtpd_cfg.service,
		    n, lim.limit[COUNT_SLOT], reply);
	else
		log_warning("%s limit exceeded: %u from %s for service %s "
		    "(%u in %lld s; %s = %lld); refused with \"%s\"", what, n,
		    smtpd_client_label(s, who, sizeof(who)), smtpd_cfg.service,
		    n, lim.unit, limit_param[op], lim.limit[op], reply);
}

/* on_counted - the lookup process's answer to one of our counts. */
static void
on_counted(void *ctx, enum dict_status st, const char *text, size_t len)
{
	struct session *s = ctx;
	enum lookup_anvil_op op = (enum lookup_anvil_op)s->limit_op;
	smtpd_limit_done *done = s->limit_done;
	char reply[SMTPD_REPLY_MAX_BYTES], who[SMTPD_LABEL_MAX];
	unsigned count = 0, rate = 0;
	const char *refusal = NULL;

	s->limit_req = NULL;
	s->limit_done = NULL;
	s->paused = false;
	/*
	 * Counted on the connection the answer came on.  A TEMPFAIL was
	 * not counted (a full table), or its connection is closed, which
	 * took its counts back (a timeout, a lost connection).
	 */
	if (op == LOOKUP_ANVIL_CONNECT && st == DICT_FOUND)
		s->limit_conn = lookup_client_connection_id(
		    smtpd_check_lookup_client());
	if (st == DICT_FOUND &&
	    lookup_anvil_answer_parse(text, len, &count, &rate) < 0) {
		st = DICT_TEMPFAIL;
		text = "the lookup process sent a malformed count";
		len = strlen(text);
	}
	if (st != DICT_FOUND) {
		log_warning("%s: cannot check the %s limits for service %s: "
		    "%.*s; refused with a temporary error",
		    smtpd_client_label(s, who, sizeof(who)),
		    op == LOOKUP_ANVIL_CONNECT ? "connection" :
		    limit_param[op], smtpd_cfg.service, (int)len, text);
		if (op == LOOKUP_ANVIL_CONNECT)
			snprintf(reply, sizeof(reply), "421 4.3.0 %s Error: "
			    "cannot check the connection limits; try again "
			    "later", smtpd_cfg.myhostname);
		else if (op == LOOKUP_ANVIL_NEWTLS_STAT)
			snprintf(reply, sizeof(reply), "421 4.3.0 %s Error: "
			    "cannot check the TLS session rate limit; try "
			    "again later", smtpd_cfg.myhostname);
		else
			snprintf(reply, sizeof(reply), "451 4.3.0 Error: "
			    "cannot check the rate limits; try again later");
		refusal = reply;
	} else {
		if (op == LOOKUP_ANVIL_CONNECT && lim.limit[COUNT_SLOT] > 0 &&
		    count > (unsigned long long)lim.limit[COUNT_SLOT]) {
			over_limit(s, op, true, count, reply, sizeof(reply));
			refusal = reply;
		} else if (op == LOOKUP_ANVIL_NEWTLS_STAT ?
		    rate >= (unsigned long long)lim.limit[op] :
		    lim.limit[op] > 0 &&
		    rate > (unsigned long long)lim.limit[op]) {
			/* NEWTLS_STAT counts the sessions before this one:
			 * the limit is reached when that many happened. */
			over_limit(s, op, false, rate, reply, sizeof(reply));
			refusal = reply;
		}
	}
	done(s, refusal);
}

void
smtpd_limit_check(struct session *s, enum lookup_anvil_op op,
    smtpd_limit_done *done)
{
	char key[LOOKUP_ANVIL_KEY_MAX_BYTES + 1];

	anvil_key(s, key, sizeof(key));
	s->limit_done = done;
	s->limit_op = op;
	s->paused = true;
	s->limit_req = lookup_client_anvil(smtpd_check_lookup_client(), op,
	    key, on_counted, s);
}

/* A DISCONNECT wants no answer. */
static void
on_released(void *ctx, enum dict_status st, const char *text, size_t len)
{
	(void)ctx;
	if (st != DICT_FOUND)
		log_debug(1, "anvil: a connection could not be given back "
		    "(%.*s); the lookup process takes it back when the "
		    "connection to it closes", (int)len, text);
}

/* Nor does the count of a new TLS session. */
static void
on_newtls(void *ctx, enum dict_status st, const char *text, size_t len)
{
	(void)ctx;
	if (st != DICT_FOUND)
		log_debug(1, "anvil: a new TLS session could not be counted "
		    "(%.*s)", (int)len, text);
}

void
smtpd_limit_newtls(struct session *s)
{
	char key[LOOKUP_ANVIL_KEY_MAX_BYTES + 1];

	if (!smtpd_limit_wanted(s, LOOKUP_ANVIL_NEWTLS_STAT))
		return;
	anvil_key(s, key, sizeof(key));
	(void)lookup_client_anvil(smtpd_check_lookup_client(),
	    LOOKUP_ANVIL_NEWTLS, key, on_newtls, NULL);
}

void
smtpd_limit_session_end(struct session *s)
{
	bool pending_connect = s->limit_req != NULL &&
	    s->limit_op == LOOKUP_ANVIL_CONNECT &&
	    lookup_client_request_sent(s->limit_req);
	uint64_t now_conn = s->limit_req != NULL || s->limit_conn != 0 ?
	    lookup_client_connection_id(smtpd_check_lookup_client()) : 0;

	if (s->limit_req != NULL) {
		lookup_client_cancel(s->limit_req);
		s->limit_req = NULL;
	}
	/*
	 * Give the connection back on the lookup connection that counted
	 * it; one that closed since took it back already, and a new one
	 * never had it (a DISCONNECT there would take someone else's).  A
	 * CONNECT still on its way is counted even though nobody waits for
	 * its answer: the DISCONNECT follows it on the same connection.
	 */
	if (now_conn != 0 && (pending_connect || s->limit_conn == now_conn)) {
		char key[LOOKUP_ANVIL_KEY_MAX_BYTES + 1];

		anvil_key(s, key, sizeof(key));
		(void)lookup_client_anvil(smtpd_check_lookup_client(),
		    LOOKUP_ANVIL_DISCONNECT, key, on_released, NULL);
	}
	s->limit_conn = 0;
	free(s->limit_refusal);
	s->limit_refusal = NULL;
}
