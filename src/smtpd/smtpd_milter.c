/* SPDX-License-Identifier: MIT */
/*
 * smtpd_milter - smtpd's use of the Milter client (smtpd_milter.h).
 */
#include "smtpd_milter.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "address.h"
#include "config.h"
#include "milter_client.h"
#include "smtpd_session.h"
#include "tls_ccert.h"
#include "xalloc.h"

static struct milter_list *smtpd_milters;
static char *daemon_name;

bool
smtpd_milter_init(const struct config_view *v)
{
	smtpd_milters = milter_list_read(v, P_smtpd_milters);
	if (smtpd_milters == NULL)
		return false;
	daemon_name = xstrdup(config_str(v, P_milter_macro_daemon_name));
	return true;
}

/* ---- what the client needs from the session ---- */

static const char *
domain_of(const char *a)
{
	const char *at = strrchr(a, '@');

	return at != NULL ? at + 1 : "";
}

/* macro - the session's value of a macro ("j", "{auth_type}"). */
static const char *
macro(void *ctx, const char *name, char *out, size_t outsz)
{
	struct session *s = ctx;
	char n[64];

	(void)milter_macro_bare(name, n, sizeof(n));
#define IS(x) (strcmp(n, (x)) == 0)
#define SET(...) (snprintf(out, outsz, __VA_ARGS__), out)
	if (IS("j"))
		return smtpd_cfg.myhostname;
	if (IS("daemon_name"))
		return daemon_name;
	if (IS("daemon_addr"))
		return s->local_addr[0] ? s->local_addr : NULL;
	if (IS("daemon_port"))
		return SET("%u", s->local_port);
	if (IS("v"))
		return smtpd_cfg.mail_name;
	if (IS("_"))
		return SET("%s [%s]", s->reverse_name, s->addr);
	if (IS("client_addr"))
		return s->addr;
	if (IS("client_port"))
		return SET("%u", s->client_port);
	if (IS("client_name"))
		return s->name;
	if (IS("client_ptr"))
		return s->reverse_name;
	if (IS("client_resolve"))
		return s->name_status == SMTPD_NAME_OK ? "OK" :
		    s->name_status == SMTPD_NAME_TEMP ? "TEMP" : "FAIL";
	if (IS("i"))
		return s->id[0] != '\0' ? s->id : NULL;
	if (IS("auth_type"))
		return s->authenticated ? s->auth_mech : NULL;
	if (IS("auth_authen"))
		return s->authenticated ? s->auth_user : NULL;
	if (IS("auth_author"))
		return s->have_mail && s->mail.auth != NULL &&
		    strcmp(s->mail.auth, "<>") != 0 ? s->mail.auth : NULL;
	if (IS("mail_addr"))
		return s->have_mail ? s->mail.from.text : NULL;
	if (IS("mail_host"))
		return s->have_mail ? domain_of(s->mail.from.text) : NULL;
	if (IS("mail_mailer") || IS("rcpt_mailer"))
		return "smtp";
	if (IS("tls_version"))
		return s->tls_active ? s->tls_proto : NULL;
	if (IS("cipher"))
		return s->tls_active ? s->tls_cipher : NULL;
	if (IS("cipher_bits"))
		return s->tls_active ? SET("%d", s->tls_bits) : NULL;
	/* Names from a verified certificate only: anyone can write any
	 * name into a certificate of their own. */
	if (IS("cert_subject"))
		return s->ccert != NULL && s->ccert->trusted ?
		    s->ccert->subject : NULL;
	if (IS("cert_issuer"))
		return s->ccert != NULL && s->ccert->trusted ?
		    s->ccert->issuer : NULL;
#undef IS
#undef SET
	return NULL;
}

static const char *
label(void *ctx, char *out, size_t outsz)
{
	return smtpd_client_label(ctx, out, outsz);
}

static const char *
queue_id(void *ctx)
{
	const struct session *s = ctx;

	return s->id;
}

static void
add_rcpt(void *ctx, const char *addr)
{
	struct session *s = ctx;

	if (s->nrcpts == s->rcpt_cap) {
		s->rcpt_cap = s->rcpt_cap == 0 ? 4 : s->rcpt_cap * 2;
		s->rcpts = xreallocarray(s->rcpts, s->rcpt_cap,
		    sizeof(*s->rcpts));
	}
	memset(&s->rcpts[s->nrcpts], 0, sizeof(s->rcpts[0]));
	s->rcpts[s->nrcpts++].addr = xstrdup(addr);
}

static void
del_rcpt(void *ctx, const char *addr)
{
	struct session *s = ctx;

	for (size_t i = 0; i < s->nrcpts;) {
		if (strcasecmp(s->rcpts[i].addr, addr) != 0) {
			i++;
			continue;
		}
		free(s->rcpts[i].addr);
		free(s->rcpts[i].orcpt);
		memmove(&s->rcpts[i], &s->rcpts[i + 1],
		    (s->nrcpts - i - 1) * sizeof(s->rcpts[0]));
		s->nrcpts--;
	}
}

static void
chg_from(void *ctx, const char *addr)
{
	struct session *s = ctx;

	free(s->queue_sender);
	s->queue_sender = xstrdup(addr);
}

static const struct milter_host host = {
	.macro = macro,
	.label = label,
	.queue_id = queue_id,
	.add_rcpt = add_rcpt,
	.del_rcpt = del_rcpt,
	.chg_from = chg_from,
};

/* ---- events: the session waits while they run ---- */

static struct milter_sess *
sess(struct session *s)
{
	if (s->milt == NULL && smtpd_milters != NULL)
		s->milt = milter_sess_new(smtpd_milters, smtpd_base, &host, s);
	return s->milt;
}

/* on_done - resume the session with the filters' answer. */
static void
on_done(void *ctx, const char *reply)
{
	struct session *s = ctx;
	smtpd_milter_done *done = s->milter_cb;

	s->milter_cb = NULL;
	s->paused = false;
	done(s, reply);
	smtpd_session_process(s);
}

/* waiting - started is the event's return: pause until done. */
static bool
waiting(struct session *s, bool started, smtpd_milter_done *done)
{
	if (!started)
		return false;
	s->milter_cb = done;
	s->paused = true;
	return true;
}

bool
smtpd_milter_connect(struct session *s, smtpd_milter_done *done)
{
	return waiting(s, milter_connect(sess(s), s->name, s->addr,
	    s->client_port, on_done), done);
}

bool
smtpd_milter_helo(struct session *s, smtpd_milter_done *done)
{
	return waiting(s, milter_helo(sess(s), s->helo != NULL ? s->helo : "",
	    on_done), done);
}

bool
smtpd_milter_mail(struct session *s, smtpd_milter_done *done)
{
	char from[ADDRESS_PATH_MAX_BYTES * 4 + 3], size[40];
	const char *v[4];
	size_t n = 0;

	if (sess(s) == NULL)
		return false;
	snprintf(from, sizeof(from), "<%s>", s->mail.from.text);
	v[n++] = from;
	if (s->mail.has_size) {
		snprintf(size, sizeof(size), "SIZE=%llu",
		    (unsigned long long)s->mail.size);
		v[n++] = size;
	}
	if (s->mail.body == SMTP_BODY_8BITMIME)
		v[n++] = "BODY=8BITMIME";
	else if (s->mail.body == SMTP_BODY_BINARYMIME)
		v[n++] = "BODY=BINARYMIME";
	if (s->mail.smtputf8)
		v[n++] = "SMTPUTF8";
	return waiting(s, milter_mail(s->milt, v, n, on_done), done);
}

bool
smtpd_milter_rcpt(struct session *s, const char *rcpt,
    smtpd_milter_done *done)
{
	return waiting(s, milter_rcpt(sess(s), rcpt, on_done), done);
}

bool
smtpd_milter_eom(struct session *s, smtpd_milter_done *done)
{
	return waiting(s, milter_message(s->milt, on_done), done);
}

const char *
smtpd_milter_sticky(const struct session *s)
{
	return milter_sticky(s->milt);
}

bool
smtpd_milter_wants_content(const struct session *s)
{
	return milter_wants_content(s->milt);
}

void
smtpd_milter_content(struct session *s, const char *data, size_t len)
{
	milter_content(s->milt, data, len);
}

bool
smtpd_milter_discarded(const struct session *s)
{
	return milter_discarded(s->milt);
}

const char *
smtpd_milter_hold(const struct session *s)
{
	return milter_hold(s->milt);
}

const struct buf *
smtpd_milter_new_content(const struct session *s)
{
	return milter_new_content(s->milt);
}

bool
smtpd_milter_envelope_changed(const struct session *s)
{
	return milter_envelope_changed(s->milt);
}

void
smtpd_milter_txn_end(struct session *s)
{
	if (s->milter_cb != NULL) {
		/* An event cut short: its answer will not come. */
		s->milter_cb = NULL;
		s->paused = false;
	}
	milter_txn_end(s->milt);
}

void
smtpd_milter_session_end(struct session *s)
{
	smtpd_milter_txn_end(s);
	milter_sess_free(s->milt);
	s->milt = NULL;
}
