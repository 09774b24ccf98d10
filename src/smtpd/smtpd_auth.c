/* SPDX-License-Identifier: MIT */
/*
 * smtpd_auth - SMTP AUTH (RFC 4954) in the SMTP server.
 *
 * Two backends (smtpd_sasl_type):
 *   ostia    the mechanisms PLAIN and LOGIN are decoded here; the
 *            password is checked by the lookup process against the
 *            stored hash in smtpd_sasl_password_maps (LOOKUP_F_VERIFY):
 *            smtpd never sees a hash or a database credential.
 *   dovecot  the exchange is relayed to Dovecot's auth socket
 *            (sasl_dovecot.h), which runs the mechanisms itself.
 *
 * Replies: 235 2.7.0 success; 334 challenge; 501 5.7.0 cancelled ('*');
 * 501 5.5.2 undecodable base64; 535 5.7.8 wrong credentials; 454 4.7.0
 * backend unreachable; 538 5.7.11 AUTH before TLS when
 * smtpd_tls_auth_only is set; 503 5.5.1 already authenticated or inside
 * a mail transaction; 504 5.5.4 unknown mechanism.  Every failure
 * counts as an error (smtpd_soft/hard_error_limit: slowed, then
 * closed) and is logged with the client, the mechanism and the user
 * name (escaped), in the form fail2ban's postfix-sasl filter knows.
 * Credentials are wiped as soon as they are passed on, and never
 * logged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <stdint.h>
#include <arpa/inet.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include <openssl/crypto.h>

#include "base64.h"
#include "buf.h"
#include "config.h"
#include "log.h"
#include "peer_match.h"
#include "lookup_client.h"
#include "lookup_proto.h"
#include "sasl_dovecot.h"
#include "smtpd_limit.h"
#include "smtpd_session.h"
#include "xalloc.h"

/* LOGIN's prompts, base64 of "Username:" and "Password:". */
#define LOGIN_USER_PROMPT "VXNlcm5hbWU6"
#define LOGIN_PASS_PROMPT "UGFzc3dvcmQ6"

static struct lookup_client *auth_lookup;
static struct sasl_dovecot *auth_dovecot;

/* ---------------------------------------------------------------- */
/* Mechanisms offered                                               */

static bool
mech_allowed(const struct session *s, const char *mech)
{
	unsigned opts = s->tls_active ? smtpd_cfg.sasl_tls_opts :
	    smtpd_cfg.sasl_opts;
	bool plaintext = strcasecmp(mech, "PLAIN") == 0 ||
	    strcasecmp(mech, "LOGIN") == 0;

	if ((opts & SASL_SEC_NOPLAINTEXT) && plaintext)
		return false;
	if ((opts & SASL_SEC_NOANONYMOUS) && strcasecmp(mech, "ANONYMOUS") == 0)
		return false;
	return true;
}

/*
 * smtpd_auth_mechs - the mechanisms this session may use, space-
 * separated, into out; empty when AUTH is not offered now.
 */
const char *
smtpd_auth_mechs(const struct session *s, char *out, size_t outsz)
{
	const char *all;
	char *copy, *save = NULL;
	size_t n = 0;

	out[0] = '\0';
	if (!smtpd_cfg.sasl_enable || s->authenticated)
		return out;
	if (smtpd_cfg.tls_auth_only && !s->tls_active)
		return out;
	if (smtpd_cfg.sasl_type == SMTPD_SASL_DOVECOT) {
		unsigned opts = s->tls_active ? smtpd_cfg.sasl_tls_opts :
		    smtpd_cfg.sasl_opts, exclude = 0;

		if (opts & SASL_SEC_NOPLAINTEXT)
			exclude |= SASL_MECH_PLAINTEXT;
		if (opts & SASL_SEC_NOANONYMOUS)
			exclude |= SASL_MECH_ANONYMOUS;
		all = auth_dovecot != NULL ? sasl_dovecot_mechs(auth_dovecot,
		    exclude, 0) : NULL;
		if (all == NULL)
			return out;	/* not connected (yet) */
	} else {
		all = "PLAIN LOGIN";
	}
	copy = xstrdup(all);
	for (char *m = strtok_r(copy, " ", &save); m != NULL;
	    m = strtok_r(NULL, " ", &save)) {
		int k;

		if (!mech_allowed(s, m))
			continue;
		k = snprintf(out + n, outsz - n, "%s%s", n ? " " : "", m);
		if (k < 0 || (size_t)k >= outsz - n)
			break;
		n += (size_t)k;
	}
	free(copy);
	return out;
}

static bool
mech_offered(const struct session *s, const char *mech)
{
	char list[512], *save = NULL;

	(void)smtpd_auth_mechs(s, list, sizeof(list));
	for (char *m = strtok_r(list, " ", &save); m != NULL;
	    m = strtok_r(NULL, " ", &save))
		if (strcasecmp(m, mech) == 0)
			return true;
	return false;
}

/* ---------------------------------------------------------------- */
/* Failures per client address (smtpd_auth_failure_limit)           */

/* Addresses remembered; the oldest window is reused when full. */
#define AUTH_PENALTY_SLOTS 4096

struct auth_penalty {
	char addr[INET6_ADDRSTRLEN];
	unsigned fails;
	time_t start;			/* of the window; 0 = free slot */
};

static struct auth_penalty *penalties;

static struct auth_penalty *
penalty_find(const char *addr, bool create, time_t now)
{
	struct auth_penalty *oldest = NULL;

	if (penalties == NULL) {
		if (!create)
			return NULL;
		penalties = xcalloc(AUTH_PENALTY_SLOTS, sizeof(*penalties));
	}
	for (size_t i = 0; i < AUTH_PENALTY_SLOTS; i++) {
		struct auth_penalty *p = &penalties[i];

		if (p->start != 0 && now - p->start >=
		    smtpd_cfg.auth_failure_window)
			p->start = 0;	/* expired */
		if (p->start != 0 && strcmp(p->addr, addr) == 0)
			return p;
		if (oldest == NULL || p->start < oldest->start)
			oldest = p;
	}
	if (!create || oldest == NULL)
		return NULL;
	snprintf(oldest->addr, sizeof(oldest->addr), "%s", addr);
	oldest->fails = 0;
	oldest->start = now;
	return oldest;
}

/* penalty_add - one more failed AUTH from this session's address. */
static void
penalty_add(struct session *s)
{
	struct auth_penalty *p;

	if (smtpd_cfg.auth_failure_limit <= 0)
		return;
	p = penalty_find(s->addr, true, time(NULL));
	if (p != NULL && p->fails < UINT32_MAX)
		p->fails++;
}

/* penalty_blocked - true (and the session ends with 421) when this
 * address has failed too often lately. */
static bool
penalty_blocked(struct session *s)
{
	struct auth_penalty *p;
	time_t now = time(NULL);
	char who[SMTPD_LABEL_MAX];

	if (smtpd_cfg.auth_failure_limit <= 0)
		return false;
	p = penalty_find(s->addr, false, now);
	if (p == NULL || p->fails < (unsigned long long)smtpd_cfg.auth_failure_limit)
		return false;
	log_warning("%s: AUTH refused: %u failed authentications from this "
	    "address in the last %lld s (smtpd_auth_failure_limit = %lld); "
	    "refusing for %lld s more", smtpd_client_label(s, who,
	    sizeof(who)), p->fails, (long long)(now - p->start),
	    smtpd_cfg.auth_failure_limit,
	    (long long)(smtpd_cfg.auth_failure_window - (now - p->start)));
	smtpd_reply(s, "421 4.7.0 %s Error: too many failed authentications "
	    "from your address; try again later", smtpd_cfg.myhostname);
	s->state = SS_QUIT;
	return true;
}

/* ---------------------------------------------------------------- */
/* Outcomes                                                         */

static void
wipe_free(char **p)
{
	if (*p != NULL) {
		OPENSSL_cleanse(*p, strlen(*p));
		free(*p);
		*p = NULL;
	}
}

static void
exchange_end(struct session *s)
{
	wipe_free(&s->ax_user);
	s->ax_step = 0;
	s->ax_req = NULL;
	s->ax_dreq = NULL;
	if (s->state == SS_AUTH || s->state == SS_WAIT_AUTH)
		s->state = s->helo != NULL ? SS_READY : SS_CONNECTED;
}

static void
auth_ok(struct session *s, const char *user)
{
	char who[SMTPD_LABEL_MAX], shown[SMTPD_AUTH_USER_MAX * 4 + 1];

	free(s->auth_user);
	s->auth_user = xstrndup(user, SMTPD_AUTH_USER_MAX);
	s->authenticated = true;
	s->oks[SMTP_VERB_AUTH]++;
	log_escape(shown, sizeof(shown), s->auth_user, strlen(s->auth_user),
	    SMTPD_AUTH_USER_MAX);
	log_debug(1, "%s: SASL %s authentication succeeded for %s",
	    smtpd_client_label(s, who, sizeof(who)), s->auth_mech, shown);
	exchange_end(s);
	smtpd_reply(s, "235 2.7.0 Authentication successful");
}

/*
 * auth_failed - 535 (or 454 when temporary), logged for fail2ban:
 * "warning: CLIENT: SASL MECH authentication failed: REASON,
 * sasl_username=USER".
 */
static void
auth_failed(struct session *s, bool temporary, const char *reason,
    const char *user)
{
	char who[SMTPD_LABEL_MAX], shown[SMTPD_AUTH_USER_MAX * 4 + 1];
	char why[256];

	log_escape(shown, sizeof(shown), user != NULL ? user : "",
	    user != NULL ? strlen(user) : 0, SMTPD_AUTH_USER_MAX);
	log_escape(why, sizeof(why), reason, strlen(reason), 200);
	log_warning("%s: SASL %s authentication failed: %s%s%s",
	    smtpd_client_label(s, who, sizeof(who)), s->auth_mech, why,
	    shown[0] ? ", sasl_username=" : "", shown);
	exchange_end(s);
	s->auth_failures++;
	if (!temporary)
		penalty_add(s);
	if (temporary)
		(void)smtpd_reply_error(s, "454 4.7.0 Temporary authentication "
		    "failure: the authentication service is not available");
	else
		(void)smtpd_reply_error(s, "535 5.7.8 Error: authentication "
		    "failed: %s", reason);
}

/* ---------------------------------------------------------------- */
/* Backend ostia: PLAIN and LOGIN here, the check in the lookup process */

static void
on_verified(void *ctx, enum dict_status st, const char *text, size_t len)
{
	struct session *s = ctx;
	char *user = s->ax_user;

	s->ax_user = NULL;
	s->ax_req = NULL;
	s->paused = false;
	if (st == DICT_FOUND)
		auth_ok(s, user);
	else if (st == DICT_NOTFOUND)
		auth_failed(s, false, "authentication failure", user);
	else {
		char who[SMTPD_LABEL_MAX];

		log_warning("%s: cannot check a password: %.*s",
		    smtpd_client_label(s, who, sizeof(who)), (int)len, text);
		auth_failed(s, true, "the password check is not available",
		    user);
	}
	free(user);
	smtpd_session_process(s);
}

/* verify - hand user and password to the lookup process; password is
 * wiped here. */
static void
verify(struct session *s, const char *user, char *password, size_t pwlen)
{
	if (smtpd_cfg.sasl_password_table == NULL) {
		OPENSSL_cleanse(password, pwlen);
		auth_failed(s, true, "no smtpd_sasl_password_maps configured",
		    user);
		return;
	}
	if (auth_lookup == NULL)
		auth_lookup = lookup_client_new(smtpd_base, LOOKUP_SOCKET_PATH);
	wipe_free(&s->ax_user);
	/* smtpd_sasl_local_domain: the realm of a login without one (as
	 * Cyrus SASL under Postfix); the completed name is checked, logged
	 * and matched against smtpd_sender_login_maps. */
	if (smtpd_cfg.sasl_local_domain[0] != '\0' &&
	    strchr(user, '@') == NULL)
		s->ax_user = xasprintf("%s@%s", user,
		    smtpd_cfg.sasl_local_domain);
	else
		s->ax_user = xstrdup(user);
	s->state = SS_WAIT_AUTH;
	s->paused = true;
	s->ax_req = lookup_client_verify(auth_lookup,
	    smtpd_cfg.sasl_password_table, s->ax_user, password, 0,
	    on_verified, s);
	OPENSSL_cleanse(password, pwlen);
}

/* decode - base64 text into a new NUL-terminated buffer; NULL when it
 * is not base64 (the caller replies 501). */
static unsigned char *
decode(const char *b64, size_t n, size_t *len_r)
{
	unsigned char *out = xmalloc(BASE64_DECODED_MAX(n) + 1);
	long k = base64_decode(b64, n, out, BASE64_DECODED_MAX(n) + 1);

	if (k < 0) {
		free(out);
		return NULL;
	}
	out[k] = '\0';
	*len_r = (size_t)k;
	return out;
}

/* plain - RFC 4616: [authzid] NUL authcid NUL passwd. */
static void
mech_plain(struct session *s, unsigned char *msg, size_t len)
{
	unsigned char *n1 = memchr(msg, '\0', len), *n2;
	const char *authzid, *authcid;
	char *pass;
	size_t passlen;

	n2 = n1 != NULL ? memchr(n1 + 1, '\0', len - (size_t)(n1 + 1 - msg)) :
	    NULL;
	if (n1 == NULL || n2 == NULL || memchr(n2 + 1, '\0',
	    len - (size_t)(n2 + 1 - msg)) != NULL) {
		OPENSSL_cleanse(msg, len);
		auth_failed(s, false, "malformed PLAIN response", NULL);
		return;
	}
	authzid = (const char *)msg;
	authcid = (const char *)n1 + 1;
	pass = (char *)n2 + 1;
	passlen = len - (size_t)(n2 + 1 - msg);
	if (*authcid == '\0' || strlen(authcid) > SMTPD_AUTH_USER_MAX) {
		OPENSSL_cleanse(msg, len);
		auth_failed(s, false, "bad user name", NULL);
		return;
	}
	/* Acting as another user is not offered. */
	if (*authzid != '\0' && strcmp(authzid, authcid) != 0) {
		char user[SMTPD_AUTH_USER_MAX + 1];

		snprintf(user, sizeof(user), "%s", authcid);
		OPENSSL_cleanse(msg, len);
		auth_failed(s, false, "authorization identity differs from "
		    "the user name", user);
		return;
	}
	verify(s, authcid, pass, passlen);
	OPENSSL_cleanse(msg, len);
}

/* step - one decoded client message of the ostia mechanisms. */
static void
ostia_step(struct session *s, unsigned char *msg, size_t len)
{
	if (strcasecmp(s->auth_mech, "PLAIN") == 0) {
		mech_plain(s, msg, len);
		return;
	}
	/* LOGIN: user name, then password. */
	if (s->ax_step == 0) {
		if (len == 0 || len > SMTPD_AUTH_USER_MAX ||
		    memchr(msg, '\0', len) != NULL) {
			auth_failed(s, false, "bad user name", NULL);
			return;
		}
		wipe_free(&s->ax_user);
		s->ax_user = xstrndup((const char *)msg, len);
		s->ax_step = 1;
		s->state = SS_AUTH;
		smtpd_reply(s, "334 " LOGIN_PASS_PROMPT);
		return;
	}
	if (memchr(msg, '\0', len) != NULL) {
		char *user = s->ax_user;

		s->ax_user = NULL;
		OPENSSL_cleanse(msg, len);
		auth_failed(s, false, "malformed LOGIN password", user);
		free(user);
		return;
	}
	{
		char *user = s->ax_user;

		s->ax_user = NULL;
		verify(s, user, (char *)msg, len);
		free(user);
	}
}

/* ---------------------------------------------------------------- */
/* Backend dovecot                                                  */

static void
on_dovecot(void *ctx, enum sasl_step step, const char *data,
    const char *user)
{
	struct session *s = ctx;
	bool was_paused = s->paused;

	s->paused = false;
	switch (step) {
	case SASL_STEP_CONTINUE:
		s->state = SS_AUTH;
		smtpd_reply(s, "334 %s", data != NULL ? data : "");
		break;
	case SASL_STEP_OK:
		s->ax_dreq = NULL;
		auth_ok(s, data != NULL ? data : "");
		break;
	case SASL_STEP_FAIL:
		s->ax_dreq = NULL;
		auth_failed(s, false, "authentication failure", user);
		break;
	case SASL_STEP_TEMPFAIL:
	default:
		s->ax_dreq = NULL;
		{
			char who[SMTPD_LABEL_MAX];

			log_warning("%s: Dovecot authentication is not "
			    "available: %s", smtpd_client_label(s, who,
			    sizeof(who)), data != NULL ? data : "no reason");
		}
		auth_failed(s, true, "the authentication service is not "
		    "available", NULL);
		break;
	}
	if (was_paused)
		smtpd_session_process(s);
}

static void
dovecot_start(struct session *s, const char *initial)
{
	struct sasl_client_info info;
	const char *error = NULL;

	memset(&info, 0, sizeof(info));
	info.client_addr = s->addr;
	info.local_addr = s->local_addr[0] ? s->local_addr : NULL;
	info.local_port = s->local_port;
	info.secured = s->tls_active;
	/* Ostia counts failures itself (smtpd_*_error_limit). */
	info.no_penalty = true;
	s->ax_dreq = sasl_dovecot_start(auth_dovecot, s->auth_mech, initial,
	    &info, on_dovecot, s, &error);
	if (s->ax_dreq == NULL) {
		exchange_end(s);
		s->auth_failures++;
		(void)smtpd_reply_error(s, "501 5.5.2 Cannot decode response: "
		    "%s", error != NULL ? error : "malformed");
		return;
	}
	s->state = SS_WAIT_AUTH;
	s->paused = true;
}

/* ---------------------------------------------------------------- */
/* The command and the responses                                    */

void
smtpd_auth_init(void)
{
	if (smtpd_cfg.sasl_enable && smtpd_cfg.sasl_type == SMTPD_SASL_DOVECOT) {
		const char *error = NULL;

		auth_dovecot = sasl_dovecot_new(smtpd_base, smtpd_cfg.sasl_path,
		    &error);
		if (auth_dovecot == NULL)
			log_fatal("smtpd_sasl_path = %s: %s", smtpd_cfg.sasl_path,
			    error != NULL ? error : "not usable");
		/* Connect now, so that the first EHLO can offer AUTH. */
		sasl_dovecot_connect(auth_dovecot);
	}
}

static void auth_begin(struct session *s, const char *arg, size_t args_len);
static void auth_limited(struct session *s, const char *refusal);

/* wipe_held_args - forget the arguments of an AUTH that waited. */
static void
wipe_held_args(struct session *s)
{
	if (s->auth_args == NULL)
		return;
	OPENSSL_cleanse(s->auth_args, s->auth_args_len);
	free(s->auth_args);
	s->auth_args = NULL;
	s->auth_args_len = 0;
}

void
smtpd_auth_cmd(struct session *s, const struct smtp_command *c)
{
	const char *arg = c->args;

	if (!smtpd_cfg.sasl_enable) {
		smtpd_reply_error(s, "503 5.5.1 Error: authentication not "
		    "enabled");
		return;
	}
	if (smtpd_cfg.tls_auth_only && !s->tls_active) {
		smtpd_reply_error(s, "538 5.7.11 Encryption required for "
		    "requested authentication mechanism");
		return;
	}
	if (s->state == SS_CONNECTED) {
		smtpd_reply_error(s, "503 5.5.1 Error: send HELO/EHLO first");
		return;
	}
	if (s->authenticated) {
		smtpd_reply_error(s, "503 5.5.1 Error: already authenticated");
		return;
	}
	if (s->have_mail) {
		smtpd_reply_error(s, "503 5.5.1 Error: MAIL transaction in "
		    "progress");
		return;
	}
	if (penalty_blocked(s))
		return;
	/* smtpd_client_auth_rate_limit: the arguments (perhaps an initial
	 * response with a password) wait, wiped afterwards. */
	if (smtpd_limit_wanted(s, LOOKUP_ANVIL_AUTH)) {
		wipe_held_args(s);
		s->auth_args = xmalloc(c->args_len + 1);
		memcpy(s->auth_args, arg, c->args_len);
		s->auth_args[c->args_len] = '\0';
		s->auth_args_len = c->args_len;
		smtpd_limit_check(s, LOOKUP_ANVIL_AUTH, auth_limited);
		return;
	}
	auth_begin(s, arg, c->args_len);
}

/* auth_limited - the AUTH rate limit's verdict. */
static void
auth_limited(struct session *s, const char *refusal)
{
	if (refusal != NULL)
		(void)smtpd_reply_error(s, "%s", refusal);
	else
		auth_begin(s, s->auth_args, s->auth_args_len);
	wipe_held_args(s);
	smtpd_session_process(s);
}

/* auth_begin - AUTH mechanism [initial-response] (args_len bytes). */
static void
auth_begin(struct session *s, const char *arg, size_t args_len)
{
	char mech[SMTPD_AUTH_MECH_MAX + 1];
	const char *sp;
	size_t mlen;

	sp = memchr(arg, ' ', args_len);
	mlen = sp != NULL ? (size_t)(sp - arg) : args_len;
	if (mlen == 0 || mlen > SMTPD_AUTH_MECH_MAX) {
		smtpd_reply_error(s, "501 5.5.4 Syntax: AUTH mechanism");
		return;
	}
	memcpy(mech, arg, mlen);
	mech[mlen] = '\0';
	for (char *p = mech; *p; p++)
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 'a' + 'A');
	if (!mech_offered(s, mech)) {
		smtpd_reply_error(s, "504 5.5.4 Unrecognized authentication type");
		return;
	}
	snprintf(s->auth_mech, sizeof(s->auth_mech), "%s", mech);
	s->ax_step = 0;
	if (sp != NULL) {
		/* RFC 4954 4: an initial response; "=" is an empty one. */
		const char *ir = sp + 1;
		size_t irlen = args_len - mlen - 1;

		if (irlen == 0 || memchr(ir, ' ', irlen) != NULL) {
			smtpd_reply_error(s, "501 5.5.4 Syntax: AUTH mechanism "
			    "[initial-response]");
			return;
		}
		if (smtpd_cfg.sasl_type == SMTPD_SASL_DOVECOT) {
			char *copy = xstrndup(ir, irlen);

			dovecot_start(s, copy);
			wipe_free(&copy);
			return;
		}
		smtpd_auth_response(s, ir, irlen);
		return;
	}
	if (smtpd_cfg.sasl_type == SMTPD_SASL_DOVECOT) {
		dovecot_start(s, NULL);
		return;
	}
	s->state = SS_AUTH;
	if (strcmp(mech, "LOGIN") == 0)
		smtpd_reply(s, "334 " LOGIN_USER_PROMPT);
	else
		smtpd_reply(s, "334 ");
}

void
smtpd_auth_response(struct session *s, const char *line, size_t len)
{
	unsigned char *msg;
	size_t mlen = 0;

	if (len == 1 && line[0] == '*') {
		if (s->ax_dreq != NULL)
			sasl_dovecot_cancel(s->ax_dreq);
		{
			char who[SMTPD_LABEL_MAX];

			log_info("%s: SASL %s authentication cancelled by the "
			    "client", smtpd_client_label(s, who, sizeof(who)),
			    s->auth_mech);
		}
		exchange_end(s);
		s->auth_failures++;
		(void)smtpd_reply_error(s, "501 5.7.0 Authentication aborted");
		return;
	}
	if (len > smtpd_cfg.sasl_response_limit) {
		if (s->ax_dreq != NULL)
			sasl_dovecot_cancel(s->ax_dreq);
		auth_failed(s, false, "response too long", s->ax_user);
		return;
	}
	if (smtpd_cfg.sasl_type == SMTPD_SASL_DOVECOT) {
		char *copy = xstrndup(line, len);

		/* Checked here so that Dovecot never gets junk. */
		msg = decode(line, len, &mlen);
		if (msg == NULL) {
			wipe_free(&copy);
			sasl_dovecot_cancel(s->ax_dreq);
			exchange_end(s);
			s->auth_failures++;
			(void)smtpd_reply_error(s, "501 5.5.2 Cannot decode "
			    "response");
			return;
		}
		OPENSSL_cleanse(msg, mlen);
		free(msg);
		{
			const char *error = NULL;

			if (sasl_dovecot_respond(s->ax_dreq, copy, &error) < 0) {
				wipe_free(&copy);
				s->ax_dreq = NULL;	/* cancelled by it */
				exchange_end(s);
				s->auth_failures++;
				(void)smtpd_reply_error(s, "501 5.5.2 Cannot "
				    "decode response");
				return;
			}
		}
		s->state = SS_WAIT_AUTH;
		s->paused = true;
		wipe_free(&copy);
		return;
	}
	msg = decode(line, len, &mlen);
	if (msg == NULL) {
		exchange_end(s);
		s->auth_failures++;
		(void)smtpd_reply_error(s, "501 5.5.2 Cannot decode response");
		return;
	}
	ostia_step(s, msg, mlen);
	OPENSSL_cleanse(msg, mlen);
	free(msg);
}

/* ---------------------------------------------------------------- */
/* Sender ownership: smtpd_sender_login_maps                        */

/* owner_in - is login one of the owners ("a, b c") a table gave? */
static bool
owner_in(const char *owners, size_t len, const char *login)
{
	size_t n = strlen(login);
	size_t i = 0;

	while (i < len) {
		size_t j;

		while (i < len && (owners[i] == ',' || owners[i] == ' ' ||
		    owners[i] == '\t'))
			i++;
		j = i;
		while (j < len && owners[j] != ',' && owners[j] != ' ' &&
		    owners[j] != '\t')
			j++;
		if (j - i == n && strncasecmp(owners + i, login, n) == 0)
			return true;
		i = j;
	}
	return false;
}

/* sender_verdict - refuse or accept MAIL FROM, given whether the
 * sender is known and, when it is, whether the login owns it. */
static void
sender_verdict(struct session *s, bool known, bool owned)
{
	char text[SMTPD_REPLY_MAX_BYTES];

	if (s->authenticated && smtpd_cfg.sender_check_auth && !owned) {
		char user[SMTPD_AUTH_USER_MAX * 4 + 1];

		log_escape(user, sizeof(user), s->auth_user,
		    strlen(s->auth_user), SMTPD_AUTH_USER_MAX);
		snprintf(text, sizeof(text), "553 5.7.1 <%s>: Sender address "
		    "rejected: not owned by user %.300s", s->mail.from.text, user);
		smtpd_mail_refuse(s, text);
		return;
	}
	if (!s->authenticated && smtpd_cfg.sender_check_unauth && known) {
		snprintf(text, sizeof(text), "553 5.7.1 <%s>: Sender address "
		    "rejected: not logged in", s->mail.from.text);
		smtpd_mail_refuse(s, text);
		return;
	}
	smtpd_mail_accept(s);
}

static void sender_lookup(struct session *s, const char *key);

static void
on_sender(void *ctx, enum dict_status st, const char *text, size_t len)
{
	struct session *s = ctx;
	const char *at;

	s->sender_req = NULL;
	s->paused = false;
	if (st == DICT_TEMPFAIL) {
		char who[SMTPD_LABEL_MAX], reply[SMTPD_REPLY_MAX_BYTES];

		log_warning("%s: cannot look up the owners of <%s> in %s: %.*s",
		    smtpd_client_label(s, who, sizeof(who)), s->mail.from.text,
		    smtpd_cfg.sender_login_table, (int)len, text);
		snprintf(reply, sizeof(reply), "451 4.3.0 <%s>: Temporary "
		    "lookup failure", s->mail.from.text);
		smtpd_mail_refuse(s, reply);
	} else if (st == DICT_FOUND) {
		sender_verdict(s, true, s->authenticated &&
		    owner_in(text, len, s->auth_user));
	} else if (!s->sender_at_domain &&
	    (at = strrchr(s->mail.from.text, '@')) != NULL) {
		char *key = xasprintf("%s", at);

		/* Postfix's order: the address, then "@domain". */
		s->sender_at_domain = true;
		sender_lookup(s, key);
		free(key);
		return;
	} else {
		sender_verdict(s, false, false);
	}
	smtpd_session_process(s);
}

static void
sender_lookup(struct session *s, const char *key)
{
	if (auth_lookup == NULL)
		auth_lookup = lookup_client_new(smtpd_base, LOOKUP_SOCKET_PATH);
	s->paused = true;
	s->state = SS_WAIT_AUTH;
	s->sender_req = lookup_client_get(auth_lookup,
	    smtpd_cfg.sender_login_table, key, 0, on_sender, s);
}

bool
smtpd_sender_check_start(struct session *s)
{
	bool wanted = s->authenticated ? smtpd_cfg.sender_check_auth :
	    smtpd_cfg.sender_check_unauth;

	/* The null sender belongs to nobody (bounces). */
	if (!wanted || s->mail.from.text[0] == '\0')
		return false;
	/* A permit ahead of the check in smtpd_sender_restrictions. */
	if (smtpd_cfg.sender_permit_sasl && s->authenticated)
		return false;
	if (smtpd_cfg.sender_permit_mynetworks && smtpd_cfg.mynetworks != NULL &&
	    peer_list_match(smtpd_cfg.mynetworks, s->name, s->addr) == 1)
		return false;
	if (smtpd_cfg.sender_login_table == NULL) {
		sender_verdict(s, false, false);
		return true;
	}
	s->sender_at_domain = false;
	sender_lookup(s, s->mail.from.text);
	return true;
}

/* The session ends: no callback may reach it any more. */
void
smtpd_auth_session_end(struct session *s)
{
	if (s->ax_req != NULL) {
		lookup_client_cancel(s->ax_req);
		s->ax_req = NULL;
	}
	if (s->ax_dreq != NULL) {
		sasl_dovecot_cancel(s->ax_dreq);
		s->ax_dreq = NULL;
	}
	if (s->sender_req != NULL) {
		lookup_client_cancel(s->sender_req);
		s->sender_req = NULL;
	}
	wipe_free(&s->ax_user);
	wipe_held_args(s);
	free(s->auth_user);
	s->auth_user = NULL;
}
