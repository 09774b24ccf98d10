/* SPDX-License-Identifier: MIT */
/*
 * lmtp_common - the part of the LMTP/SMTP conversation shared by the
 * blocking client (lmtp_client.c) and the event-driven one
 * (smtp_conn.c): settings, failure texts, command lines, local
 * refusals, STARTTLS and AUTH decisions.  See lmtp_common.h.
 */
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "base64.h"
#include "lmtp_common.h"
#include "log.h"
#include "strv.h"
#include "xalloc.h"

/* The longest user name or password (lmtp_session_start checks). */
#define AUTH_MAX 1024
#define AUTH_ENC_BYTES BASE64_ENCODED_SIZE(2 * AUTH_MAX + 2)

/* ------------------------------------------------------------------ */
/* Session */

void
lmtp_session_init(struct lmtp_session *s,
    const struct lmtp_client_settings *set)
{
	memset(s, 0, sizeof(*s));
	s->proto = set->protocol;
	s->pname = s->proto == LMTP_PROTO_SMTP ? "SMTP" : "LMTP";
	if (set->peer_name != NULL && set->peer_name[0] != '\0')
		s->peer = xstrdup(set->peer_name);
	s->lhlo_name = xstrdup(set->lhlo_name != NULL &&
	    set->lhlo_name[0] != '\0' ? set->lhlo_name : "localhost");
	if (set->default_port != NULL)
		s->default_port = xstrdup(set->default_port);
	if (set->bind_address != NULL && set->bind_address[0] != '\0')
		s->bind_address = xstrdup(set->bind_address);
	if (set->bind_address6 != NULL && set->bind_address6[0] != '\0')
		s->bind_address6 = xstrdup(set->bind_address6);
	for (size_t i = 0; set->discard_ehlo != NULL &&
	    set->discard_ehlo[i] != NULL; i++) {
		if (strcasecmp(set->discard_ehlo[i], "silent-discard") == 0)
			s->discard_silent = true;
		else
			s->discard_ehlo = strv_append(s->discard_ehlo,
			    set->discard_ehlo[i]);
	}
	s->to = set->timeouts;
	s->tls_ctx = set->tls_ctx;
	s->auth_plaintext_ok = set->auth_plaintext_ok;
	s->auth_mech_deny = set->auth_mech_deny;
	s->line_limit = set->line_limit;
	if (set->auth_mech_filter != NULL)
		s->auth_mech_filter = xstrdup(set->auth_mech_filter);
	if (set->auth_user != NULL) {
		s->auth_user = xstrdup(set->auth_user);
		s->auth_pass = xstrdup(set->auth_pass != NULL ?
		    set->auth_pass : "");
	}
}

int
lmtp_session_start(struct lmtp_session *s, const char *dest,
    struct lmtp_failure *f)
{
	char *err = NULL;

	free(s->dest);
	s->dest = xstrdup(dest);
	if (s->peer == NULL)
		s->peer = xstrdup(dest);
	if (strlen(s->lhlo_name) > 255 ||
	    strpbrk(s->lhlo_name, "\r\n") != NULL) {
		lmtp_fail_set(f, LMTP_FAIL_CONNECT, LMTP_STAGE_CONNECT,
		    "bad %s name for %s server %s", s->proto ==
		    LMTP_PROTO_SMTP ? "EHLO" : "LHLO", s->pname, s->peer);
		return -1;
	}
	if (s->auth_user != NULL && (strlen(s->auth_user) > AUTH_MAX ||
	    strlen(s->auth_pass) > AUTH_MAX || s->auth_user[0] == '\0')) {
		lmtp_fail_set(f, LMTP_FAIL_AUTH, LMTP_STAGE_AUTH, "the "
		    "user name or password for %s server %s is empty "
		    "or longer than 1024 bytes", s->pname, s->peer);
		memcpy(f->dsn, "4.7.8", 6);
		return -1;
	}
	endpoint_clear(&s->ep);
	if (lmtp_dest_parse(dest, s->default_port, &s->ep, &err) < 0) {
		lmtp_fail_set(f, LMTP_FAIL_CONNECT, LMTP_STAGE_CONNECT, "%s",
		    err);
		free(err);
		return -1;
	}
	return 0;
}

void
lmtp_session_deinit(struct lmtp_session *s)
{
	endpoint_clear(&s->ep);
	free(s->dest);
	free(s->peer);
	free(s->lhlo_name);
	free(s->default_port);
	free(s->bind_address);
	free(s->bind_address6);
	strv_free(&s->discard_ehlo);
	free(s->auth_user);
	if (s->auth_pass != NULL)
		explicit_bzero(s->auth_pass, strlen(s->auth_pass));
	free(s->auth_pass);
	free(s->auth_mech_filter);
	memset(s, 0, sizeof(*s));
}

const char *
lmtp_session_stage_command(const struct lmtp_session *s, enum lmtp_stage st)
{
	if (st == LMTP_STAGE_LHLO && s->proto == LMTP_PROTO_SMTP)
		return s->helo ? "HELO" : "EHLO";
	return lmtp_stage_command(st);
}

const char *
lmtp_doing(struct lmtp_session *s, enum lmtp_stage st, bool writing,
    bool in_handshake)
{
	const char *cmd = lmtp_session_stage_command(s, st);

	switch (st) {
	case LMTP_STAGE_CONNECT:
		return "connecting";
	case LMTP_STAGE_GREETING:
		return "receiving the initial greeting";
	case LMTP_STAGE_MESSAGE:
		return "sending the message";
	case LMTP_STAGE_DOT:
		return s->proto == LMTP_PROTO_SMTP ? "receiving the reply "
		    "after the end of the message" : "receiving the replies "
		    "after the end of the message";
	case LMTP_STAGE_STARTTLS:
		if (in_handshake)
			return "in the TLS handshake";
		break;
	default:
		break;
	}
	snprintf(s->doing, sizeof(s->doing), writing ? "sending %s" :
	    "receiving the reply to %s", cmd);
	return s->doing;
}

/* ------------------------------------------------------------------ */
/* Failures */

void
lmtp_fail_set(struct lmtp_failure *f, enum lmtp_failure_kind kind,
    enum lmtp_stage st, const char *fmt, ...)
{
	va_list ap;

	lmtp_failure_deinit(f);
	f->kind = kind;
	f->stage = st;
	va_start(ap, fmt);
	f->text = xvasprintf(fmt, ap);
	va_end(ap);
}

void
lmtp_fail_io(struct lmtp_session *s, struct lmtp_failure *f,
    enum lmtp_stage st, bool writing, bool in_handshake, enum lmtp_io io,
    int err, const char *tls_error, const char *said, unsigned timeout_ms)
{
	const char *d = lmtp_doing(s, st, writing, in_handshake);

	if (said == NULL)
		said = "";
	switch (io) {
	case LMTP_IO_TIMEOUT:
		if (timeout_ms % 1000 == 0)
			lmtp_fail_set(f, LMTP_FAIL_CONVERSATION, st,
			    "conversation with %s server %s timed out after "
			    "%us while %s", s->pname, s->peer,
			    timeout_ms / 1000, d);
		else
			lmtp_fail_set(f, LMTP_FAIL_CONVERSATION, st,
			    "conversation with %s server %s timed out after "
			    "%u.%03us while %s", s->pname, s->peer,
			    timeout_ms / 1000, timeout_ms % 1000, d);
		break;
	case LMTP_IO_TLS:
		lmtp_fail_set(f, LMTP_FAIL_CONVERSATION, st, "lost connection "
		    "with %s server %s while %s: %s", s->pname, s->peer, d,
		    tls_error != NULL ? tls_error : "TLS error");
		break;
	case LMTP_IO_OVERFLOW:
		lmtp_fail_set(f, LMTP_FAIL_CONVERSATION, st, "%s server %s "
		    "sent more than %u bytes of replies while %s", s->pname,
		    s->peer, (unsigned)LMTP_INPUT_MAX_BYTES, d);
		break;
	case LMTP_IO_EOF:
	case LMTP_IO_ERRNO:
	case LMTP_IO_OK:
		if (io == LMTP_IO_ERRNO && err != EPIPE)
			lmtp_fail_set(f, LMTP_FAIL_CONVERSATION, st, "lost "
			    "connection with %s server %s while %s: %s%s",
			    s->pname, s->peer, d, strerror(err), said);
		else
			lmtp_fail_set(f, LMTP_FAIL_CONVERSATION, st, "lost "
			    "connection with %s server %s while %s%s",
			    s->pname, s->peer, d, said);
		break;
	}
}

void
lmtp_fail_malformed(struct lmtp_session *s, struct lmtp_failure *f,
    enum lmtp_stage st, bool in_handshake, const char *error)
{
	lmtp_fail_set(f, LMTP_FAIL_CONVERSATION, st, "%s server %s sent a "
	    "malformed reply while %s: %s", s->pname, s->peer,
	    lmtp_doing(s, st, false, in_handshake), error);
}

void
lmtp_fail_unexpected(struct lmtp_session *s, enum lmtp_stage st,
    struct lmtp_reply *r, struct lmtp_failure *f)
{
	char *t = lmtp_reply_text(r, 600);

	lmtp_fail_set(f, LMTP_FAIL_CONVERSATION, st, "%s server %s gave an "
	    "unexpected reply to %s: %s", s->pname, s->peer,
	    lmtp_session_stage_command(s, st), t);
	free(t);
	lmtp_reply_deinit(r);
}

bool
lmtp_fail_refused(struct lmtp_session *s, enum lmtp_stage st,
    struct lmtp_reply *r, struct lmtp_failure *f)
{
	unsigned code = r->code;
	char *t;

	if (code / 100 != 4 && code / 100 != 5) {
		lmtp_fail_unexpected(s, st, r, f);
		return true;
	}
	t = lmtp_reply_text(r, 600);
	if (st == LMTP_STAGE_GREETING)
		lmtp_fail_set(f, LMTP_FAIL_REPLY, st, "%s server %s refused "
		    "to talk to me: %s", s->pname, s->peer, t);
	else
		lmtp_fail_set(f, LMTP_FAIL_REPLY, st, "%s server %s said: %s "
		    "(in reply to %s command)", s->pname, s->peer, t,
		    lmtp_session_stage_command(s, st));
	free(t);
	f->reply = *r;
	memset(r, 0, sizeof(*r));
	return code == 421;
}

void
lmtp_fail_idle(struct lmtp_session *s, struct lmtp_failure *f,
    const char *said)
{
	lmtp_fail_set(f, LMTP_FAIL_CONVERSATION, LMTP_STAGE_RSET, "%s "
	    "server %s closed the connection while it was idle%s",
	    s->pname, s->peer, said);
}

char *
lmtp_said(const struct lmtp_reply *r)
{
	char *t, *out;

	if (r->nlines == 0)
		return xstrdup("");
	t = lmtp_reply_text(r, 400);
	out = xasprintf(" (the server said: %s)", t);
	free(t);
	return out;
}

char *
lmtp_said_in(struct lmtp_reply_parser *p, struct buf *in)
{
	struct lmtp_reply r = { 0 }, last = { 0 };
	const char *err;
	size_t used;
	char *s;

	while (in->len > 0 && lmtp_reply_parse(p, in->data, in->len, &used, &r,
	    &err) == 1) {
		buf_consume(in, used);
		lmtp_reply_deinit(&last);
		last = r;
	}
	s = lmtp_said(&last);
	lmtp_reply_deinit(&last);
	return s;
}

char *
lmtp_tls_io_error(int sslerr, int err_no)
{
	unsigned long e = ERR_peek_error();
	char *t;

	if (sslerr == SSL_ERROR_SYSCALL && e == 0)
		t = xstrdup(err_no != 0 ? strerror(err_no) :
		    "the connection broke");
	else if (e != 0 && ERR_reason_error_string(e) != NULL)
		t = xasprintf("TLS error: %s", ERR_reason_error_string(e));
	else
		t = xstrdup("TLS error");
	ERR_clear_error();
	return t;
}

void
lmtp_fail_resolve(struct lmtp_session *s, struct lmtp_failure *f, int gai)
{
	lmtp_fail_set(f, LMTP_FAIL_CONNECT, LMTP_STAGE_CONNECT, "cannot "
	    "find the address of %s server %s: %s", s->pname, s->peer,
	    gai_strerror(gai));
}

void
lmtp_fail_connect(struct lmtp_session *s, struct lmtp_failure *f, int err,
    bool bind_failed)
{
	if (bind_failed)
		lmtp_fail_set(f, LMTP_FAIL_CONNECT, LMTP_STAGE_CONNECT,
		    "cannot connect to %s server %s from the local address "
		    "%s%s%s%s: %s", s->pname, s->peer, s->bind_address != NULL ?
		    s->bind_address : "", s->bind_address != NULL &&
		    s->bind_address6 != NULL ? " (IPv4) or " : "",
		    s->bind_address6 != NULL ? s->bind_address6 : "",
		    s->bind_address != NULL && s->bind_address6 != NULL ?
		    " (IPv6)" : "", err == EAFNOSUPPORT ? "not an address of "
		    "the server's address family" : strerror(err));
	else
		lmtp_fail_set(f, LMTP_FAIL_CONNECT, LMTP_STAGE_CONNECT,
		    "cannot connect to %s server %s: %s", s->pname, s->peer,
		    strerror(err));
}

/* ------------------------------------------------------------------ */
/* Trace */

void
lmtp_log_line(const struct lmtp_session *s, const char *dir,
    const char *line, size_t len)
{
	char esc[600];

	if (log_get_verbose() < 2)
		return;
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	log_escape(esc, sizeof(esc), line, len, 512);
	log_debug(2, "%s %s: %s %s", s->proto == LMTP_PROTO_SMTP ? "smtp" :
	    "lmtp", s->peer, dir, esc);
}

void
lmtp_log_reply(const struct lmtp_session *s, const struct lmtp_reply *r)
{
	char *t;

	if (log_get_verbose() < 2)
		return;
	t = lmtp_reply_text(r, 512);
	lmtp_log_line(s, "<", t, strlen(t));
	free(t);
}

void
lmtp_log_connected(const struct lmtp_session *s, bool tls)
{
	log_debug(1, "%s %s: connected%s%s%s%s%s%s%s%s%s", s->proto ==
	    LMTP_PROTO_SMTP ? "smtp" : "lmtp", s->peer,
	    s->caps.pipelining ? " PIPELINING" : "",
	    s->caps.size ? " SIZE" : "",
	    s->caps.eightbitmime ? " 8BITMIME" : "",
	    s->caps.enhancedstatuscodes ? " ENHANCEDSTATUSCODES" : "",
	    s->caps.dsn ? " DSN" : "", s->caps.smtputf8 ? " SMTPUTF8" : "",
	    s->helo ? " (HELO)" : "", tls ? " TLS" : "",
	    s->authenticated ? " AUTH" : "");
}

/* ------------------------------------------------------------------ */
/* Commands */

void
lmtp_command_end(struct lmtp_session *s, struct buf *out, size_t mark)
{
	if (s->masking) {
		/* AUTH: the mechanism at most, never the credentials. */
		const char *l = out->data + mark;
		size_t n = out->len - mark;

		if (n > 10 && strncmp(l, "AUTH PLAIN", 10) == 0)
			lmtp_log_line(s, ">", "AUTH PLAIN ********", 19);
		else if (n >= 10 && strncmp(l, "AUTH LOGIN", 10) == 0)
			lmtp_log_line(s, ">", l, n);
		else
			lmtp_log_line(s, ">", "********", 8);
		s->masking = false;
	} else
		lmtp_log_line(s, ">", out->data + mark, out->len - mark);
	if (buf_append(out, "\r\n", 2) < 0)
		log_panic("lmtp: command buffer full");
}

void
lmtp_command(struct lmtp_session *s, struct buf *out, const char *name,
    const char *arg)
{
	size_t mark = out->len;

	if ((arg != NULL ? buf_appendf(out, "%s %s", name, arg) :
	    buf_append_str(out, name)) < 0)
		log_panic("lmtp: command buffer full");
	lmtp_command_end(s, out, mark);
}

void
lmtp_hello_command(struct lmtp_session *s, struct buf *out, bool helo)
{
	size_t mark = out->len;

	if (!helo)
		memset(&s->caps, 0, sizeof(s->caps));
	s->helo = helo;
	if (buf_appendf(out, "%s %s", helo ? "HELO" : s->proto ==
	    LMTP_PROTO_SMTP ? "EHLO" : "LHLO", s->lhlo_name) < 0)
		log_panic("lmtp: %s name too long", helo ? "HELO" : "LHLO");
	lmtp_command_end(s, out, mark);
}

void
lmtp_hello_caps(struct lmtp_session *s, const struct lmtp_reply *r)
{
	lmtp_caps_parse(r, &s->caps);
	if (s->discard_ehlo != NULL) {
		char gone[256];

		if (lmtp_caps_discard(&s->caps,
		    (const char *const *)s->discard_ehlo, gone,
		    sizeof(gone)) > 0 && !s->discard_silent)
			log_info("%s server %s: discarding EHLO keywords: %s "
			    "(smtp_discard_ehlo_keywords)", s->pname, s->peer,
			    gone);
	}
}

/* has_8bit - any byte >= 0x80 in s? */
static bool
has_8bit(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}

/* append_param - " NAME=" and value as xtext, unless the parameter
 * would be longer than max (then nothing: a DSN parameter is advice,
 * and a server may refuse one over the RFC's limit). */
static int
append_param(struct buf *out, const char *name, const char *value,
    size_t max)
{
	size_t mark = out->len;

	if (buf_appendf(out, " %s=", name) < 0 ||
	    lmtp_xtext_append(value, out) < 0 ||
	    out->len - mark - strlen(name) - 2 > max) {
		out->len = mark;
		if (out->data != NULL)
			out->data[mark] = '\0';
	}
	return 0;
}

/* append_orcpt - " ORCPT=rfc822;xtext" for an "rfc822;address" ORCPT
 * in ASCII (at most 500 characters, RFC 3461 4.2); other types (utf-8
 * needs its own encoding) are not sent. */
static int
append_orcpt(struct buf *out, const char *orcpt)
{
	char *v;

	if (orcpt == NULL || strncasecmp(orcpt, "rfc822;", 7) != 0 ||
	    orcpt[7] == '\0' || has_8bit(orcpt) || strlen(orcpt) > 500)
		return 0;
	v = xasprintf("rfc822;%s", orcpt + 7);
	/* The type stays as it is; only the address is xtext. */
	append_param(out, "ORCPT", v, 500);
	free(v);
	return 0;
}

static int
append_notify(struct buf *out, uint32_t notify)
{
	static const struct {
		uint32_t bit;
		const char *word;
	} words[] = {
		{ 0x1u, "SUCCESS" }, { 0x2u, "FAILURE" }, { 0x4u, "DELAY" },
	};
	const char *sep = " NOTIFY=";

	if (notify == 0)
		return 0;
	if ((notify & 0x8u) != 0)
		return buf_append_str(out, " NOTIFY=NEVER");
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if ((notify & words[i].bit) == 0)
			continue;
		if (buf_appendf(out, "%s%s", sep, words[i].word) < 0)
			return -1;
		sep = ",";
	}
	return 0;
}

void
lmtp_mail_command(struct lmtp_session *s, struct buf *out,
    const struct lmtp_mail *m)
{
	size_t mark = out->len;

	if (buf_append_str(out, "MAIL FROM:<") < 0 ||
	    lmtp_address_quote(m->sender, out) < 0 ||
	    buf_append_c(out, '>') < 0)
		goto bad;
	if (s->caps.size && buf_appendf(out, " SIZE=%zu", m->len) < 0)
		goto bad;
	if (m->body_8bitmime && s->caps.eightbitmime &&
	    buf_append_str(out, " BODY=8BITMIME") < 0)
		goto bad;
	if ((m->smtputf8 || m->smtputf8_param) && s->caps.smtputf8 &&
	    buf_append_str(out, " SMTPUTF8") < 0)
		goto bad;
	if (s->caps.dsn && m->ret != NULL &&
	    (strcasecmp(m->ret, "FULL") == 0 ||
	    strcasecmp(m->ret, "HDRS") == 0) &&
	    buf_appendf(out, " RET=%s", m->ret) < 0)
		goto bad;
	/* ENVID: at most 100 characters (RFC 3461 4.4). */
	if (s->caps.dsn && m->envid != NULL && m->envid[0] != '\0')
		append_param(out, "ENVID", m->envid, 100);
	lmtp_command_end(s, out, mark);
	return;
bad:
	log_panic("lmtp: command buffer full");
}

void
lmtp_rcpt_command(struct lmtp_session *s, struct buf *out,
    const struct lmtp_rcpt *rc)
{
	size_t mark = out->len;

	if (buf_append_str(out, "RCPT TO:<") < 0 ||
	    lmtp_address_quote(rc->address, out) < 0 ||
	    buf_append_c(out, '>') < 0)
		goto bad;
	if (s->caps.dsn && (append_notify(out, rc->notify) < 0 ||
	    append_orcpt(out, rc->orcpt) < 0))
		goto bad;
	lmtp_command_end(s, out, mark);
	return;
bad:
	log_panic("lmtp: command buffer full");
}

/* ------------------------------------------------------------------ */
/* XFORWARD */

/* "XFORWARD" and the CRLF taken from a line's maximum. */
#define XF_ROOM (LMTP_LINE_MAX_BYTES - 2 - 8)
#define XF_UNAVAILABLE "[UNAVAILABLE]"

/* xf_value - attribute bit's value in x (NULL: not known). */
static const char *
xf_value(const struct lmtp_xforward *x, unsigned bit)
{
	const char *v = NULL;

	switch (bit) {
	case LMTP_XF_NAME: v = x->name; break;
	case LMTP_XF_ADDR: v = x->addr; break;
	case LMTP_XF_PORT: v = x->port; break;
	case LMTP_XF_PROTO: v = x->proto; break;
	case LMTP_XF_HELO: v = x->helo; break;
	case LMTP_XF_IDENT: v = x->ident; break;
	case LMTP_XF_SOURCE: v = x->source; break;
	default: break;
	}
	/* "unknown" is how a queue file says a name or address was not
	 * known: [UNAVAILABLE] on the wire, not a value. */
	if (v != NULL && (bit == LMTP_XF_NAME || bit == LMTP_XF_ADDR) &&
	    strcmp(v, "unknown") == 0)
		return NULL;
	return v != NULL && v[0] != '\0' ? v : NULL;
}

/* xf_item - " NAME=value" of attribute bit into item (reset first):
 * the value as xtext, or [UNAVAILABLE] when not known or too long. */
static void
xf_item(const struct lmtp_xforward *x, unsigned bit, const char *name,
    struct buf *item)
{
	const char *v = xf_value(x, bit);
	bool ok = v != NULL;

	buf_reset(item);
	if (buf_appendf(item, " %s=", name) < 0)
		log_panic("lmtp: XFORWARD buffer full");
	/* An IPv6 address says so (XFORWARD_README). */
	if (ok && bit == LMTP_XF_ADDR && strchr(v, ':') != NULL &&
	    strncasecmp(v, "IPV6:", 5) != 0)
		ok = buf_append_str(item, "IPV6:") == 0;
	if (ok)
		ok = lmtp_xtext_append(v, item) == 0 && item->len <= XF_ROOM;
	if (!ok) {
		buf_reset(item);
		if (buf_appendf(item, " %s=%s", name, XF_UNAVAILABLE) < 0)
			log_panic("lmtp: XFORWARD buffer full");
	}
}

bool
lmtp_xforward_command(struct lmtp_session *s, struct buf *out,
    const struct lmtp_mail *m, size_t k)
{
	static const struct {
		unsigned bit;
		const char *name;
	} attrs[] = {
		{ LMTP_XF_NAME, "NAME" }, { LMTP_XF_ADDR, "ADDR" },
		{ LMTP_XF_PORT, "PORT" }, { LMTP_XF_PROTO, "PROTO" },
		{ LMTP_XF_HELO, "HELO" }, { LMTP_XF_IDENT, "IDENT" },
		{ LMTP_XF_SOURCE, "SOURCE" },
	};
	const size_t nattrs = sizeof(attrs) / sizeof(attrs[0]);
	const struct lmtp_xforward *x = m->xforward;
	struct buf item;
	size_t line = 0, used = 0, mark = out->len;
	bool known = false, any = false;

	if (x == NULL || s->caps.xforward == 0)
		return false;
	for (size_t i = 0; i < nattrs; i++)
		if ((s->caps.xforward & attrs[i].bit) != 0 &&
		    xf_value(x, attrs[i].bit) != NULL)
			known = true;
	if (!known)
		return false;
	/* The items in order, a new line when the next does not fit. */
	buf_init(&item, LMTP_LINE_MAX_BYTES * 4);
	for (size_t i = 0; i < nattrs && line <= k; i++) {
		if ((s->caps.xforward & attrs[i].bit) == 0)
			continue;
		xf_item(x, attrs[i].bit, attrs[i].name, &item);
		if (used > 0 && used + item.len > XF_ROOM) {
			line++;
			used = 0;
		}
		used += item.len;
		if (line != k)
			continue;
		if ((!any && buf_append_str(out, "XFORWARD") < 0) ||
		    buf_append(out, item.data, item.len) < 0)
			log_panic("lmtp: command buffer full");
		any = true;
	}
	buf_deinit(&item);
	if (any)
		lmtp_command_end(s, out, mark);
	return any;
}

int
lmtp_xforward_reply(struct lmtp_session *s, struct lmtp_reply *r,
    struct lmtp_failure *f)
{
	if (r->code / 100 == 2 || ((r->code / 100 == 4 ||
	    r->code / 100 == 5) && r->code != 421)) {
		if (r->code / 100 != 2) {
			char *t = lmtp_reply_text(r, 600);

			log_warning("%s server %s said: %s (in reply to "
			    "XFORWARD command)", s->pname, s->peer, t);
			free(t);
		}
		lmtp_reply_deinit(r);
		return 0;
	}
	(void)lmtp_fail_refused(s, LMTP_STAGE_XFORWARD, r, f);
	return -1;
}

int
lmtp_check_mail(struct lmtp_session *s, const struct lmtp_mail *m,
    const struct lmtp_rcpt *rcpts, size_t n, struct lmtp_failure *f)
{
	struct buf scratch;
	int bad = 0;

	buf_init(&scratch, 4096);
	if (lmtp_address_quote(m->sender, &scratch) < 0) {
		lmtp_fail_set(f, LMTP_FAIL_LOCAL, LMTP_STAGE_MAIL, "the sender "
		    "address cannot be written in an %s command", s->pname);
		memcpy(f->dsn, "5.1.7", 6);
		bad = -1;
	}
	for (size_t i = 0; bad == 0 && i < n; i++) {
		buf_reset(&scratch);
		if (rcpts[i].address[0] == '\0' ||
		    lmtp_address_quote(rcpts[i].address, &scratch) < 0) {
			lmtp_fail_set(f, LMTP_FAIL_LOCAL, LMTP_STAGE_RCPT, "a "
			    "recipient address cannot be written in an %s "
			    "command", s->pname);
			memcpy(f->dsn, "5.1.3", 6);
			bad = -1;
		}
	}
	buf_deinit(&scratch);
	if (bad < 0)
		return -1;
	if (m->smtputf8 && !s->caps.smtputf8) {
		lmtp_fail_set(f, LMTP_FAIL_LOCAL, LMTP_STAGE_MAIL, "the message "
		    "needs SMTPUTF8 (non-ASCII addresses or headers), which "
		    "%s server %s does not support", s->pname, s->peer);
		memcpy(f->dsn, "5.6.7", 6);
		return -1;
	}
	if (s->caps.size && s->caps.size_max > 0 &&
	    (uint64_t)m->len > s->caps.size_max) {
		lmtp_fail_set(f, LMTP_FAIL_LOCAL, LMTP_STAGE_MAIL, "the message "
		    "size %zu exceeds the size limit %llu of %s server %s",
		    m->len, (unsigned long long)s->caps.size_max, s->pname,
		    s->peer);
		memcpy(f->dsn, "5.3.4", 6);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* STARTTLS */

void
lmtp_fail_tls(struct lmtp_failure *f, char *why)
{
	lmtp_fail_set(f, LMTP_FAIL_TLS, LMTP_STAGE_STARTTLS, "%s", why);
	memcpy(f->dsn, "4.7.5", 6);
	free(why);
}

int
lmtp_starttls_plan(struct lmtp_session *s,
    const struct tls_client_policy *pol, enum tls_client_level *lev_r,
    char **who_r, struct lmtp_failure *f)
{
	enum tls_client_level lev = tls_client_effective_level(pol);
	char *who;

	*lev_r = lev;
	*who_r = NULL;
	if (lev == TLS_LEV_NONE)
		return 0;
	if (!s->caps.starttls) {
		if (lev == TLS_LEV_MAY)
			return 0;
		lmtp_fail_tls(f, xasprintf("%s server %s does not offer "
		    "STARTTLS%s, which the TLS security level %s requires",
		    s->pname, s->peer, s->helo ? " (it refused EHLO)" : "",
		    tls_level_name(lev)));
		return -1;
	}
	who = xasprintf("%s server %s", s->pname, s->peer);
	if (s->tls_ctx == NULL) {
		lmtp_fail_tls(f, xasprintf("no TLS client context for %s "
		    "(TLS security level %s)", who, tls_level_name(lev)));
		free(who);
		return -1;
	}
	*who_r = who;
	return 1;
}

int
lmtp_starttls_reply(struct lmtp_session *s, enum tls_client_level lev,
    const char *who, struct lmtp_reply *r, struct lmtp_failure *f)
{
	char *t;

	if (r->code / 100 == 2) {
		lmtp_reply_deinit(r);
		return 1;
	}
	if (lev == TLS_LEV_MAY && r->code / 100 != 3 && r->code != 421) {
		/* Opportunistic: on without TLS. */
		lmtp_reply_deinit(r);
		return 0;
	}
	if (r->code / 100 == 3 || r->code == 421) {
		(void)lmtp_fail_refused(s, LMTP_STAGE_STARTTLS, r, f);
		return -1;
	}
	t = lmtp_reply_text(r, 400);
	lmtp_fail_tls(f, xasprintf("%s refused STARTTLS, which the TLS "
	    "security level %s requires: %s", who, tls_level_name(lev), t));
	free(t);
	f->reply = *r;
	memset(r, 0, sizeof(*r));
	return -1;
}

void
lmtp_fail_tls_injection(struct lmtp_failure *f, const char *who, size_t n)
{
	/* Plaintext after the 220 would be taken as said inside TLS (RFC
	 * 3207 6, CVE-2011-0411 and kin). */
	lmtp_fail_tls(f, xasprintf("%s sent more after its reply to "
	    "STARTTLS (%zu bytes): an attempt to inject commands into the "
	    "TLS session?", who, n));
}

void
lmtp_log_tls(const char *who, const struct tls_client_info *info)
{
	log_debug(1, "%s: %s TLS connection established: %s with cipher %s "
	    "(%d/%d bits)", who, info->trust, info->protocol, info->cipher,
	    info->bits, info->alg_bits);
}

/* ------------------------------------------------------------------ */
/* AUTH */

int
lmtp_auth_check(struct lmtp_session *s, bool tls, struct lmtp_failure *f)
{
	if (!tls && !s->auth_plaintext_ok) {
		lmtp_fail_set(f, LMTP_FAIL_AUTH, LMTP_STAGE_AUTH, "will not "
		    "send the password for %s to %s server %s without TLS "
		    "(%s)", s->auth_user, s->pname, s->peer, s->caps.starttls ?
		    "TLS was not used" : "it offers no STARTTLS");
		memcpy(f->dsn, "4.7.8", 6);
		return -1;
	}
	/* smtp_sasl_mechanism_filter: what the server offers, less what
	 * the filter rules out. */
	if (s->auth_mech_deny & LMTP_MECH_PLAIN)
		s->caps.auth_plain = false;
	if (s->auth_mech_deny & LMTP_MECH_LOGIN)
		s->caps.auth_login = false;
	if (!s->caps.auth_plain && !s->caps.auth_login) {
		unsigned d = s->auth_mech_deny;

		lmtp_fail_set(f, LMTP_FAIL_AUTH, LMTP_STAGE_AUTH, "cannot "
		    "authenticate to %s server %s: it offers %s (we can do "
		    "%s%s%s)", s->pname, s->peer,
		    s->helo ? "no extensions (it refused EHLO)" :
		    "no AUTH mechanism in common",
		    (d & LMTP_MECH_PLAIN) ? "LOGIN" : (d & LMTP_MECH_LOGIN) ?
		    "PLAIN" : "PLAIN and LOGIN",
		    s->auth_mech_filter == NULL ? "" :
		    ": smtp_sasl_mechanism_filter = ",
		    s->auth_mech_filter == NULL ? "" : s->auth_mech_filter);
		memcpy(f->dsn, "4.7.8", 6);
		return -1;
	}
	return 0;
}

void
lmtp_auth_start(struct lmtp_session *s, struct buf *out, bool *plain_r)
{
	size_t mark = out->len;

	*plain_r = s->caps.auth_plain;
	if (*plain_r) {
		/* RFC 4616: authzid (empty) NUL authcid NUL passwd. */
		struct buf secret;
		char *enc = xmalloc(AUTH_ENC_BYTES);

		buf_init(&secret, 4096);
		buf_set_sensitive(&secret);
		buf_append_c(&secret, '\0');
		buf_append_str(&secret, s->auth_user);
		buf_append_c(&secret, '\0');
		buf_append_str(&secret, s->auth_pass);
		base64_encode(secret.data, secret.len, enc);
		s->masking = true;
		buf_appendf(out, "AUTH PLAIN %s", enc);
		explicit_bzero(enc, AUTH_ENC_BYTES);
		free(enc);
		buf_deinit(&secret);
	} else
		buf_append_str(out, "AUTH LOGIN");
	lmtp_command_end(s, out, mark);
}

int
lmtp_auth_reply(struct lmtp_session *s, struct buf *out, bool plain,
    int step, struct lmtp_reply *r, struct lmtp_failure *f)
{
	if (r->code / 100 == 3 && !plain && step < 2) {
		/* LOGIN: 334 for the user name, then the password. */
		const char *v = step == 0 ? s->auth_user : s->auth_pass;
		char *enc = xmalloc(AUTH_ENC_BYTES);
		size_t mark = out->len;

		lmtp_reply_deinit(r);
		base64_encode(v, strlen(v), enc);
		s->masking = true;
		buf_append_str(out, enc);
		lmtp_command_end(s, out, mark);
		explicit_bzero(enc, AUTH_ENC_BYTES);
		free(enc);
		return 1;
	}
	if (r->code / 100 == 2) {
		lmtp_reply_deinit(r);
		s->authenticated = true;
		return 0;
	}
	if (r->code / 100 == 4 || r->code / 100 == 5) {
		char *t = lmtp_reply_text(r, 400);

		lmtp_fail_set(f, LMTP_FAIL_AUTH, LMTP_STAGE_AUTH, "%s server %s "
		    "refused to authenticate %s with %s: %s", s->pname, s->peer,
		    s->auth_user, plain ? "PLAIN" : "LOGIN", t);
		free(t);
		snprintf(f->dsn, sizeof(f->dsn), "%s", r->dsn[0] != '\0' ?
		    r->dsn : r->code / 100 == 4 ? "4.7.0" : "5.7.8");
		f->reply = *r;
		memset(r, 0, sizeof(*r));
		return -1;
	}
	lmtp_fail_unexpected(s, LMTP_STAGE_AUTH, r, f);
	return -1;
}
