/* SPDX-License-Identifier: MIT */
/*
 * smtpd_hbc - header and body checks in the SMTP server: the tables and
 * the per-message scanner; see smtpd_hbc.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "config.h"
#include "dict.h"
#include "dict_pattern.h"
#include "dict_pcre.h"
#include "dict_regexp.h"
#include "hbc.h"
#include "log.h"
#include "maps.h"
#include "smtpd_hbc.h"
#include "smtpd_session.h"
#include "soft_bounce.h"
#include "strv.h"
#include "xalloc.h"

/* Process-wide: the tables and settings (read once at start). */
static struct {
	bool active;		/* something to check, or broken */
	bool broken;		/* a table did not open: refuse every message */
	char broken_why[DICT_ERR_MAX_BYTES + 64];
	struct maps *maps[HBC__NCLASS];	/* NULL: no tables */
	bool owns[HBC__NCLASS];	/* false: shares an earlier class's list */
	struct hbc_config cfg;
} hbc_tables;

struct smtpd_hbc {
	struct session *s;
	struct hbc *scan;	/* NULL when broken */
	smtp_data_out_fn *out;
	void *out_ctx;
	char *key_copy;		/* regexp keys cut to DICT_KEY_MAX_BYTES */
	bool finished;
};

static const enum param_id class_param[HBC__NCLASS] = {
	P_header_checks, P_mime_header_checks, P_nested_header_checks,
	P_body_checks,
};

/* ---------------------------------------------------------------- */
/* Tables                                                           */

/*
 * open_list - the tables of one list: local types only (see the
 * header).  NULL for an empty list; on failure NULL with err set.
 */
static struct maps *
open_list(const char *title, char **specs, const struct dict_open_opts *opts,
    char *err, size_t errsz)
{
	struct maps *m;
	char derr[DICT_ERR_MAX_BYTES];

	err[0] = '\0';
	if (specs[0] == NULL)
		return NULL;
	m = maps_new(title);
	for (size_t i = 0; specs[i] != NULL; i++) {
		const char *colon = strchr(specs[i], ':');
		char tname[32];
		const struct dict_type *t = NULL;
		struct dict *d;

		if (i >= MAPS_MAX_TABLES) {
			snprintf(err, errsz, "%s: more than %d tables", title,
			    MAPS_MAX_TABLES);
			goto fail;
		}
		if (colon != NULL &&
		    (size_t)(colon - specs[i]) < sizeof(tname)) {
			size_t n = (size_t)(colon - specs[i]);

			memcpy(tname, specs[i], n);
			tname[n] = '\0';
			t = dict_type_find(tname);
		}
		if (t != NULL && ((t->flags & DICT_TYPE_NETWORK) ||
		    strcmp(t->name, "proxy") == 0)) {
			snprintf(err, errsz, "%s: %.200s: a %s: table cannot "
			    "be used here (smtpd looks these tables up "
			    "itself, once per header and body line: use "
			    "pcre:, regexp: or another local table)", title,
			    specs[i], t->name);
			goto fail;
		}
		d = dict_open(specs[i], opts, derr, sizeof(derr));
		if (d == NULL) {
			snprintf(err, errsz, "%s: %s", title, derr);
			goto fail;
		}
		maps_add(m, d);
	}
	return m;
fail:
	maps_free(&m);
	return NULL;
}

static bool
same_list(char **a, char **b)
{
	size_t i;

	for (i = 0; a[i] != NULL && b[i] != NULL; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return a[i] == NULL && b[i] == NULL;
}

void
smtpd_hbc_init(const struct config_view *v)
{
	struct dict_open_opts opts;
	struct passwd *pw;
	char **specs[HBC__NCLASS];
	char err[DICT_ERR_MAX_BYTES + 64];
	bool any = false;

	smtpd_hbc_deinit();
	hbc_config_init(&hbc_tables.cfg);
	if (config_list_contains(v, P_receive_override_options,
	    "no_header_body_checks")) {
		log_debug(1, "header and body checks off "
		    "(receive_override_options)");
		return;
	}
	hbc_tables.cfg.header_limit = (size_t)config_size(v,
	    P_header_size_limit);
	hbc_tables.cfg.line_limit = (size_t)config_size(v, P_line_length_limit);
	hbc_tables.cfg.body_limit = config_size(v, P_body_checks_size_limit);
	hbc_tables.cfg.mime_depth = (unsigned)config_int(v,
	    P_mime_nesting_limit);
	hbc_tables.cfg.disable_mime = config_bool(v,
	    P_disable_mime_input_processing);

	dict_open_opts_init(&opts);
	pw = getpwnam(config_str(v, P_mail_owner));
	opts.trusted_uid = pw != NULL ? pw->pw_uid : 0;
	for (int c = 0; c < HBC__NCLASS; c++) {
		specs[c] = config_list(v, class_param[c]);
		if (specs[c][0] != NULL)
			any = true;
	}
	if (any)
		hbc_tables.active = true;
	for (int c = 0; c < HBC__NCLASS && !hbc_tables.broken; c++) {
		const char *title = hbc_class_param((enum hbc_class)c);

		/* mime_ and nested_header_checks default to $header_checks:
		 * one open list serves every class that names it. */
		for (int k = 0; k < c; k++) {
			if (hbc_tables.maps[k] != NULL &&
			    same_list(specs[k], specs[c])) {
				hbc_tables.maps[c] = hbc_tables.maps[k];
				break;
			}
		}
		if (hbc_tables.maps[c] != NULL)
			continue;
		hbc_tables.maps[c] = open_list(title, specs[c], &opts, err,
		    sizeof(err));
		hbc_tables.owns[c] = hbc_tables.maps[c] != NULL;
		if (hbc_tables.maps[c] == NULL && err[0] != '\0') {
			hbc_tables.broken = true;
			snprintf(hbc_tables.broken_why,
			    sizeof(hbc_tables.broken_why), "%s", err);
			log_error("%s; until this is fixed every message is "
			    "refused with 451 4.3.0", err);
		}
	}
	for (int c = 0; c < HBC__NCLASS; c++)
		strv_free(&specs[c]);
}

void
smtpd_hbc_deinit(void)
{
	for (int c = 0; c < HBC__NCLASS; c++) {
		if (hbc_tables.owns[c])
			maps_free(&hbc_tables.maps[c]);
		hbc_tables.maps[c] = NULL;
		hbc_tables.owns[c] = false;
	}
	hbc_tables.active = false;
	hbc_tables.broken = false;
	hbc_tables.broken_why[0] = '\0';
}

bool
smtpd_hbc_active(void)
{
	return hbc_tables.active;
}

/*
 * table_get - key in one table (see the header for the key rules):
 * pattern tables match the bytes as they are; other tables go through
 * dict_get.
 */
static enum dict_status
table_get(struct smtpd_hbc *h, struct dict *d, const char *key, size_t len,
    struct buf *value, char *err, size_t errsz)
{
	enum dict_status st;

	if (d->type == &dict_type_pcre || d->type == &dict_type_regexp) {
		if (d->type == &dict_type_regexp && len > DICT_KEY_MAX_BYTES) {
			/* regexec() reads up to the NUL. */
			if (h->key_copy == NULL)
				h->key_copy = xmalloc(DICT_KEY_MAX_BYTES + 1);
			memcpy(h->key_copy, key, DICT_KEY_MAX_BYTES);
			h->key_copy[DICT_KEY_MAX_BYTES] = '\0';
			key = h->key_copy;
			len = DICT_KEY_MAX_BYTES;
		}
		buf_reset(value);
		err[0] = '\0';
		st = dict_pattern_lookup(d, NULL, key, len, value, err, errsz);
		if (st == DICT_TEMPFAIL && err[0] == '\0')
			snprintf(err, errsz, "%s: lookup failed", d->spec);
		if (st != DICT_FOUND)
			buf_reset(value);
		return st;
	}
	/* A longer key, or one with a NUL, cannot be in such a table. */
	if (len > DICT_KEY_MAX_BYTES || memchr(key, '\0', len) != NULL)
		return DICT_NOTFOUND;
	return dict_get(d, key, value, err, errsz);
}

/* hbc_lookup_fn: every table of the class's list in order. */
static int
lookup_cb(void *ctx, enum hbc_class cls, const char *key, size_t keylen,
    struct buf *value, char *err, size_t errsz)
{
	struct smtpd_hbc *h = ctx;
	struct maps *m = hbc_tables.maps[cls];

	if (m == NULL)
		return HBC_NOTFOUND;
	for (size_t i = 0; i < maps_count(m); i++) {
		enum dict_status st = table_get(h, maps_table(m, i), key,
		    keylen, value, err, errsz);

		if (st == DICT_FOUND)
			return HBC_FOUND;
		if (st == DICT_TEMPFAIL)
			return HBC_TEMPFAIL;
	}
	return HBC_NOTFOUND;
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
	const struct hbc_result *r = smtpd_hbc_result(h);

	if (r->filter != NULL) {
		free(env->filter);
		env->filter = xstrdup(r->filter);
	}
	if (r->redirect != NULL) {
		free(env->redirect);
		env->redirect = xstrdup(r->redirect);
	}
	if (r->hold != NULL && env->hold == NULL)
		env->hold = xstrdup(r->hold[0] ? r->hold :
		    "header or body checks");
	for (size_t i = 0; i < r->nbccs; i++)
		queue_envelope_add_bcc(env, r->bccs[i]);
}

void
smtpd_hbc_free(struct smtpd_hbc **hp)
{
	struct smtpd_hbc *h = *hp;

	if (h == NULL)
		return;
	hbc_free(&h->scan);
	free(h->key_copy);
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
