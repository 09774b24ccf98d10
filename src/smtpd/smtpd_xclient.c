/* SPDX-License-Identifier: MIT */
/*
 * smtpd_xclient - XCLIENT and XFORWARD (smtpd_xclient.h).  Runs in smtpd
 * as mail_owner.
 */
#include <arpa/inet.h>

#include "smtpd_xclient.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "smtpd_check.h"
#include "smtpd_milter.h"
#include "smtpd_session.h"
#include "xalloc.h"

static struct smtpd_client_list xclient_hosts, xforward_hosts;

void
smtpd_xclient_init(const struct config_view *v)
{
	smtpd_client_list_init(&xclient_hosts, v,
	    P_smtpd_authorized_xclient_hosts,
	    "smtpd_authorized_xclient_hosts");
	smtpd_client_list_init(&xforward_hosts, v,
	    P_smtpd_authorized_xforward_hosts,
	    "smtpd_authorized_xforward_hosts");
}

/*
 * authorize - judge both lists once, on the real client (before an
 * XCLIENT changes the session's client facts).  A list that cannot be
 * matched (a name lookup failure) does not authorize.
 */
static void
authorize(struct session *s)
{
	if (s->xclient_ok != 0)
		return;
	s->xclient_ok = smtpd_client_list_match(&xclient_hosts, s) ? 1 : 2;
	s->xforward_ok = smtpd_client_list_match(&xforward_hosts, s) ? 1 : 2;
}

bool
smtpd_xclient_offered(struct session *s)
{
	authorize(s);
	return s->xclient_ok == 1;
}

bool
smtpd_xforward_offered(struct session *s)
{
	authorize(s);
	return s->xforward_ok == 1;
}

/*
 * refused - the common checks of both commands: authorization, no
 * transaction, arguments that parse.  true when a reply was sent.
 */
static bool
refused(struct session *s, const struct smtp_command *c,
    enum smtp_xattr_cmd cmd, struct smtp_xattrs *xa)
{
	const char *verb = cmd == SMTP_XCLIENT ? "XCLIENT" : "XFORWARD";
	const char *err = NULL, *name = NULL;
	size_t name_len = 0;
	char who[SMTPD_LABEL_MAX], text[SMTPD_REPLY_MAX_BYTES];
	bool ok = cmd == SMTP_XCLIENT ? smtpd_xclient_offered(s) :
	    smtpd_xforward_offered(s);

	if (!ok) {
		snprintf(text, sizeof(text), "550 5.7.0 Error: insufficient "
		    "authorization");
		log_warning("%s from %s refused: the client is not in "
		    "smtpd_authorized_%s_hosts", verb,
		    smtpd_client_label(s, who, sizeof(who)),
		    cmd == SMTP_XCLIENT ? "xclient" : "xforward");
		smtpd_reply_error(s, "%s", text);
		return true;
	}
	if (s->have_mail) {
		smtpd_reply_error(s, "503 5.5.1 Error: MAIL transaction in "
		    "progress");
		return true;
	}
	if (smtp_xattr_parse(cmd, c->args, c->args_len, xa, &err, &name,
	    &name_len) < 0) {
		char shown[64];

		log_escape(shown, sizeof(shown), name, name_len, 32);
		if (name_len > 0)
			snprintf(text, sizeof(text), "501 5.5.4 Bad %s "
			    "attribute %s: %s", verb, shown, err);
		else
			snprintf(text, sizeof(text), "501 5.5.4 Syntax: %s "
			    "attribute=value...", verb);
		log_info("%s from %s: %s", verb, smtpd_client_label(s, who,
		    sizeof(who)), text + 10);
		smtpd_reply_error(s, "%s", text);
		return true;
	}
	return false;
}

/* set_name - a host name attribute into a session name field. */
static void
set_name(const struct smtp_xattrs *xa, enum smtp_xattr_id id, char *field,
    size_t fieldsz, enum smtpd_name_status *status)
{
	switch (xa->st[id]) {
	case XATTR_SET:
		snprintf(field, fieldsz, "%s", xa->val[id]);
		*status = SMTPD_NAME_OK;
		break;
	case XATTR_UNAVAILABLE:
		snprintf(field, fieldsz, "unknown");
		*status = SMTPD_NAME_PERM;
		break;
	case XATTR_TEMPUNAVAIL:
		snprintf(field, fieldsz, "unknown");
		*status = SMTPD_NAME_TEMP;
		break;
	case XATTR_ABSENT:
		break;
	}
}

/* port_of - a PORT value (checked by the parser) as a number. */
static unsigned
port_of(const struct smtp_xattrs *xa, enum smtp_xattr_id id)
{
	return xa->st[id] == XATTR_SET ? (unsigned)strtoul(xa->val[id], NULL,
	    10) : 0;
}

void
smtpd_xclient_cmd(struct session *s, const struct smtp_command *c)
{
	struct smtp_xattrs *xa = xmalloc(sizeof(*xa));
	char was[SMTPD_LABEL_MAX], now[SMTPD_LABEL_MAX];

	if (refused(s, c, SMTP_XCLIENT, xa)) {
		free(xa);
		return;
	}
	smtpd_client_label(s, was, sizeof(was));
	/* A new client: nothing decided for the old one carries over. */
	smtpd_transaction_reset(s);
	smtpd_milter_session_end(s);
	smtpd_check_session_end(s);
	smtpd_auth_session_end(s);
	s->authenticated = false;
	s->auth_mech[0] = '\0';
	set_name(xa, XATTR_NAME, s->name, sizeof(s->name), &s->name_status);
	if (xa->st[XATTR_NAME] != XATTR_ABSENT) {
		free(s->name_reason);
		s->name_reason = NULL;
		if (xa->st[XATTR_REVERSE_NAME] == XATTR_ABSENT) {
			snprintf(s->reverse_name, sizeof(s->reverse_name),
			    "%s", s->name);
			s->reverse_status = s->name_status;
		}
	}
	set_name(xa, XATTR_REVERSE_NAME, s->reverse_name,
	    sizeof(s->reverse_name), &s->reverse_status);
	if (xa->st[XATTR_ADDR] == XATTR_SET)
		snprintf(s->addr, sizeof(s->addr), "%.*s",
		    (int)sizeof(s->addr) - 1, xa->val[XATTR_ADDR]);
	else if (xa->st[XATTR_ADDR] == XATTR_UNAVAILABLE)
		snprintf(s->addr, sizeof(s->addr), "unknown");
	if (xa->st[XATTR_PORT] != XATTR_ABSENT)
		s->client_port = port_of(xa, XATTR_PORT);
	if (xa->st[XATTR_DESTADDR] == XATTR_SET)
		snprintf(s->local_addr, sizeof(s->local_addr), "%.*s",
		    (int)sizeof(s->local_addr) - 1, xa->val[XATTR_DESTADDR]);
	if (xa->st[XATTR_DESTPORT] != XATTR_ABSENT)
		s->local_port = port_of(xa, XATTR_DESTPORT);
	if (xa->st[XATTR_HELO] != XATTR_ABSENT) {
		free(s->helo);
		s->helo = xa->st[XATTR_HELO] == XATTR_SET ?
		    xstrdup(xa->val[XATTR_HELO]) : NULL;
	}
	if (xa->st[XATTR_PROTO] == XATTR_SET)
		s->esmtp = strcasecmp(xa->val[XATTR_PROTO], "ESMTP") == 0;
	if (xa->st[XATTR_LOGIN] == XATTR_SET) {
		s->auth_user = xstrdup(xa->val[XATTR_LOGIN]);
		s->authenticated = true;
		snprintf(s->auth_mech, sizeof(s->auth_mech), "XCLIENT");
	}
	free(xa);
	s->oks[SMTP_VERB_XCLIENT]++;
	log_info("XCLIENT from %s: the session is now client %s port %u%s%s",
	    was, smtpd_client_label(s, now, sizeof(now)), s->client_port,
	    s->authenticated ? ", SASL login " : "",
	    s->authenticated ? s->auth_user : "");
	/* The greeting of a new connection, and what follows it. */
	smtpd_greet(s);
}

void
smtpd_xforward_cmd(struct session *s, const struct smtp_command *c)
{
	struct smtp_xattrs xa;

	if (refused(s, c, SMTP_XFORWARD, &xa))
		return;
	/* Several commands add up (a long set takes more than one line);
	 * a later value replaces an earlier one. */
	if (s->xfwd == NULL)
		s->xfwd = xcalloc(1, sizeof(*s->xfwd));
	for (int i = 0; i < XATTR__COUNT; i++) {
		if (xa.st[i] == XATTR_ABSENT)
			continue;
		s->xfwd->st[i] = xa.st[i];
		memcpy(s->xfwd->val[i], xa.val[i], sizeof(xa.val[i]));
	}
	s->oks[SMTP_VERB_XFORWARD]++;
	smtpd_reply(s, "250 2.0.0 Ok");
}

void
smtpd_xforward_reset(struct session *s)
{
	free(s->xfwd);
	s->xfwd = NULL;
}

/* fwd - an XFORWARD value, or dflt when not given as a value. */
static const char *
fwd(const struct smtp_xattrs *x, enum smtp_xattr_id id, const char *dflt)
{
	return x->st[id] == XATTR_SET ? x->val[id] : dflt;
}

void
smtpd_xforward_origin(const struct session *s, const char *own_proto,
    struct smtpd_origin *o)
{
	const struct smtp_xattrs *x = s->xfwd;

	if (x == NULL) {
		o->name = s->name;
		o->addr = s->addr;
		o->helo = s->helo != NULL ? s->helo : "";
		o->proto = own_proto;
		return;
	}
	o->name = fwd(x, XATTR_NAME, "unknown");
	o->addr = fwd(x, XATTR_ADDR, "unknown");
	o->helo = fwd(x, XATTR_HELO, "");
	o->proto = fwd(x, XATTR_PROTO, own_proto);
}

const char *
smtpd_xforward_log(const struct session *s, char *out, size_t outsz)
{
	const struct smtp_xattrs *x = s->xfwd;
	int n = 0;

	out[0] = '\0';
	if (x == NULL)
		return out;
	if (x->st[XATTR_IDENT] == XATTR_SET)
		n = snprintf(out, outsz, ", orig_queue_id=%s",
		    x->val[XATTR_IDENT]);
	if (n >= 0 && (size_t)n < outsz)
		snprintf(out + n, outsz - (size_t)n, ", orig_client=%s[%s]",
		    fwd(x, XATTR_NAME, "unknown"), fwd(x, XATTR_ADDR,
		    "unknown"));
	return out;
}

int
smtpd_xforward_source_local(const struct session *s)
{
	if (s->xfwd == NULL || s->xfwd->st[XATTR_SOURCE] != XATTR_SET)
		return -1;
	return strcasecmp(s->xfwd->val[XATTR_SOURCE], "LOCAL") == 0;
}
