/* SPDX-License-Identifier: MIT */
/*
 * smtpd_hbc - header and body checks in the SMTP server: the tables and
 * the per-message scanner; see smtpd_hbc.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "config.h"
#include "hbc.h"
#include "hbc_tables.h"
#include "log.h"
#include "smtpd_hbc.h"
#include "smtpd_session.h"
#include "soft_bounce.h"
#include "xalloc.h"

/* Process-wide: the tables and settings (read once at start). */
static struct hbc_tables hbc_tables;

struct smtpd_hbc {
	struct session *s;
	struct hbc *scan;	/* NULL when broken */
	smtp_data_out_fn *out;
	void *out_ctx;
	bool finished;
};

static const enum param_id class_param[HBC__NCLASS] = {
	P_header_checks, P_mime_header_checks, P_nested_header_checks,
	P_body_checks,
};

void
smtpd_hbc_init(const struct config_view *v)
{
	smtpd_hbc_deinit();
	if (config_list_contains(v, P_receive_override_options,
	    "no_header_body_checks")) {
		log_debug(1, "header and body checks off "
		    "(receive_override_options)");
		return;
	}
	hbc_tables_open(&hbc_tables, v, class_param, "smtpd");
	if (hbc_tables.broken)
		log_error("%s; until this is fixed every message is refused "
		    "with 451 4.3.0", hbc_tables.broken_why);
}

void
smtpd_hbc_deinit(void)
{
	hbc_tables_close(&hbc_tables);
}

bool
smtpd_hbc_active(void)
{
	return hbc_tables.active;
}

/* hbc_lookup_fn: every table of the class's list in order. */
static int
lookup_cb(void *ctx, enum hbc_class cls, const char *key, size_t keylen,
    struct buf *value, char *err, size_t errsz)
{
	(void)ctx;
	return hbc_tables_lookup(&hbc_tables, cls, key, keylen, value, err,
	    errsz);
}

static void
out_cb(void *ctx, const char *data, size_t len)
{
	struct smtpd_hbc *h = ctx;

	/* A refused or discarded message is not stored any further. */
	if (h->scan != NULL && hbc_stopped(h->scan))
		return;
	h->out(h->out_ctx, data, len);
}

/* ---------------------------------------------------------------- */
/* Logging, as Postfix's cleanup logs header/body check actions     */

static const char *
proto_name(const struct session *s)
{
	if (s->tls_active)
		return s->esmtp ? (s->mail.smtputf8 ? "UTF8SMTPS" : "ESMTPS") :
		    "SMTPS";
	return s->esmtp ? (s->mail.smtputf8 ? "UTF8SMTP" : "ESMTP") : "SMTP";
}

static void
log_cb(void *ctx, const struct hbc_event *ev)
{
	struct smtpd_hbc *h = ctx;
	struct session *s = h->s;
	char content[200 * 4 + 8], text[HBC_TEXT_MAX_BYTES * 4 + 8];
	char from[ADDRESS_PATH_MAX_BYTES * 4 + 8];
	char to[ADDRESS_PATH_MAX_BYTES * 4 + 8];
	char helo[SMTPD_HELO_MAX_BYTES * 4 + 8], who[SMTPD_LABEL_MAX];
	const char *rcpt = s->nrcpts > 0 ? s->rcpts[s->nrcpts - 1].addr : "";

	log_escape(content, sizeof(content), ev->content, ev->content_len,
	    200);
	log_escape(text, sizeof(text), ev->text, strlen(ev->text),
	    HBC_TEXT_MAX_BYTES);
	/* The refusal as the client gets it ("5.7.1 text": smtpd_reply
	 * softens the reply). */
	if (smtpd_cfg.soft_bounce && strcmp(ev->action, "reject") == 0)
		soft_bounce_dsn(text);
	log_escape(from, sizeof(from), s->mail.from.text != NULL ?
	    s->mail.from.text : "", s->mail.from.text != NULL ?
	    strlen(s->mail.from.text) : 0, ADDRESS_PATH_MAX_BYTES);
	log_escape(to, sizeof(to), rcpt, strlen(rcpt),
	    ADDRESS_PATH_MAX_BYTES);
	log_escape(helo, sizeof(helo), s->helo != NULL ? s->helo : "",
	    s->helo != NULL ? strlen(s->helo) : 0, SMTPD_HELO_MAX_BYTES);
	log_info("%s: %s: %s %s from %s; from=<%s> to=<%s> proto=%s "
	    "helo=<%s>%s%s", s->id[0] ? s->id : "NOQUEUE", ev->action,
	    ev->cls == HBC_BODY ? "body" : "header", content,
	    smtpd_client_label(s, who, sizeof(who)), from, to, proto_name(s),
	    helo, text[0] ? ": " : "", text);
}

static void
warn_cb(void *ctx, enum hbc_class cls, const char *msg)
{
	struct smtpd_hbc *h = ctx;
	char shown[HBC_TEXT_MAX_BYTES * 4 + 1024];

	(void)cls;
	log_escape(shown, sizeof(shown), msg, strlen(msg), sizeof(shown) / 4);
	log_warning("%s: %s", h->s->id[0] ? h->s->id : "NOQUEUE", shown);
}

/* ---------------------------------------------------------------- */
/* Per message                                                      */

struct smtpd_hbc *
smtpd_hbc_start(struct session *s, smtp_data_out_fn *out, void *out_ctx)
{
	struct smtpd_hbc *h;
	struct hbc_callbacks cb;

	if (!hbc_tables.active)
		return NULL;
	h = xcalloc(1, sizeof(*h));
	h->s = s;
	h->out = out;
	h->out_ctx = out_ctx;
	if (hbc_tables.broken)
		return h;
	memset(&cb, 0, sizeof(cb));
	cb.lookup = lookup_cb;
	cb.out = out_cb;
	cb.log = log_cb;
	cb.warn = warn_cb;
	cb.ctx = h;
	h->scan = hbc_new(&hbc_tables.cfg, &cb);
	return h;
}

void
smtpd_hbc_feed(struct smtpd_hbc *h, const char *data, size_t len)
{
	/* Broken tables: the message will be refused; store nothing. */
	if (h->scan != NULL)
		hbc_feed(h->scan, data, len);
}

enum smtpd_hbc_outcome
smtpd_hbc_finish(struct smtpd_hbc *h, char *reply, size_t replysz)
{
	const struct hbc_result *r;
	const char *id = h->s->id[0] ? h->s->id : "NOQUEUE";
	char why[HBC_ERR_MAX_BYTES * 4 + 8];

	reply[0] = '\0';
	if (h->scan == NULL) {
		log_error("%s: header/body checks unavailable (%s): message "
		    "refused", id, hbc_tables.broken_why);
		snprintf(reply, replysz, "451 4.3.0 Error: temporary lookup "
		    "failure");
		return SMTPD_HBC_REFUSE;
	}
	if (!h->finished) {
		hbc_finish(h->scan);
		h->finished = true;
	}
	r = hbc_result(h->scan);
	switch (r->verdict) {
	case HBC_REJECT:
		snprintf(reply, replysz, "%d %s", r->code, r->text);
		return SMTPD_HBC_REFUSE;
	case HBC_DISCARD:
		return SMTPD_HBC_DISCARD;
	case HBC_FAILED:
		log_escape(why, sizeof(why), r->text, strlen(r->text),
		    HBC_ERR_MAX_BYTES);
		log_warning("%s: header/body checks: table lookup failed: %s: "
		    "message refused with 451", id, why);
		snprintf(reply, replysz, "451 4.3.0 Error: temporary lookup "
		    "failure");
		return SMTPD_HBC_REFUSE;
	case HBC_ACCEPT:
		break;
	}
	return SMTPD_HBC_QUEUE;
}

const struct hbc_result *
smtpd_hbc_result(const struct smtpd_hbc *h)
{
	static const struct hbc_result none;

	return h->scan != NULL ? hbc_result(h->scan) : &none;
}

void
smtpd_hbc_trailer(const struct smtpd_hbc *h, struct queue_envelope *env)
{
	hbc_result_to_envelope(smtpd_hbc_result(h), env);
}

void
smtpd_hbc_free(struct smtpd_hbc **hp)
{
	struct smtpd_hbc *h = *hp;

	if (h == NULL)
		return;
	hbc_free(&h->scan);
	free(h);
	*hp = NULL;
}

/* ---------------------------------------------------------------- */
/* The session's checks                                             */

void
smtpd_hbc_attach(struct session *s, struct smtpd_hbc *h)
{
	smtpd_hbc_free(&s->hbc);
	s->hbc = h;
}

struct smtpd_hbc *
smtpd_hbc_of(const struct session *s)
{
	return s->hbc;
}

void
smtpd_hbc_release(struct session *s)
{
	smtpd_hbc_free(&s->hbc);
}
