/* SPDX-License-Identifier: MIT */
/*
 * hbc - header and body checks over the stored message text; see hbc.h.
 *
 * Two layers:
 *
 * 1. The line splitter cuts the byte stream into "pieces": a piece ends
 *    with a line (its LF included; it is then the line's last piece) or
 *    when it holds line_limit bytes and the next byte is not an LF (a
 *    CR held at the limit stays with the LF that follows it).  Each
 *    decision depends only on the byte being looked at, so the pieces
 *    are the same for any split of the input.
 *
 * 2. The message state machine takes pieces: header blocks (primary,
 *    multipart part, nested message) with their pending logical header,
 *    and body segments with the MIME boundary stack.  A logical header
 *    is kept twice while it is collected: as received (raw, for the
 *    output) and as matched (key: lines without their ends, joined with
 *    "\n", at most header_limit bytes).  Once the key would pass the
 *    limit the header is decided early and the rest of it is passed on
 *    or dropped as it comes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "hbc.h"
#include "queue_file.h"
#include "xalloc.h"

enum hbc_state {
	ST_PRIMARY,		/* primary header block */
	ST_MULTIPART,		/* header block of a multipart body part */
	ST_NESTED,		/* header block of an attached message */
	ST_BODY,
};

/* Content types that change the structure. */
enum hbc_ctype {
	CT_TEXT,		/* text/... and the default */
	CT_RFC822,		/* message/rfc822 */
	CT_MESSAGE,		/* other message/... (not entered) */
	CT_MULTIPART,
	CT_OTHER,
};

/* The pending logical header. */
enum hbc_hdr_mode {
	HM_NONE,		/* no header pending */
	HM_COLLECT,		/* being collected, not decided yet */
	HM_PASS,		/* decided early: pass the rest on */
	HM_DROP,		/* decided early: drop the rest */
};

struct hbc_bound {
	char *s;
	size_t len;
	enum hbc_ctype def;	/* default type of its parts */
};

/* What an action does to the header or line that matched. */
enum hbc_edit {
	EDIT_KEEP,
	EDIT_DROP,
	EDIT_REPLACE,		/* with h->repl */
};

struct hbc {
	struct hbc_config cfg;
	struct hbc_callbacks cb;
	struct hbc_result res;
	bool stopped;
	bool finished;
	/* layer 1 */
	struct buf piece;
	bool line_start;	/* the next piece starts a line */
	/* layer 2 */
	enum hbc_state state;
	enum hbc_ctype ctype;	/* of the current entity */
	struct hbc_bound *stack;
	size_t depth;
	enum hbc_hdr_mode hmode;
	struct buf hraw;	/* pending header as received */
	struct buf hkey;	/* pending header as matched */
	uint64_t body_off;	/* bytes of the body segment so far */
	/* scratch */
	struct buf bkey;	/* a body line piece, NUL-terminated */
	struct buf value;	/* the lookup's answer */
	struct buf prep;	/* PREPEND text */
	struct buf repl;	/* REPLACE text */
	struct buf conv;	/* text converted for output */
	char err[HBC_ERR_MAX_BYTES];
};

static const char *const class_params[HBC__NCLASS] = {
	"header_checks", "mime_header_checks", "nested_header_checks",
	"body_checks",
};

/* RFC 2045 8, RFC 2183, RFC 2045 4: the headers Postfix calls MIME. */
static const char *const mime_headers[] = {
	"Content-Description", "Content-Disposition", "Content-ID",
	"Content-Transfer-Encoding", "Content-Type", "MIME-Version",
};

const char *
hbc_class_param(enum hbc_class cls)
{
	return (unsigned)cls < HBC__NCLASS ? class_params[cls] : "?";
}

void
hbc_config_init(struct hbc_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->header_limit = 102400;
	cfg->line_limit = 2048;
	cfg->body_limit = 51200;
	cfg->mime_depth = 100;
	cfg->disable_mime = false;
}

size_t
hbc_header_name_len(const char *text, size_t len)
{
	size_t n = 0, i;

	while (n < len && (unsigned char)text[n] > 32 &&
	    (unsigned char)text[n] < 127 && text[n] != ':')
		n++;
	if (n == 0)
		return 0;
	for (i = n; i < len && (text[i] == ' ' || text[i] == '\t'); i++)
		continue;
	return i < len && text[i] == ':' ? n : 0;
}

/* ---------------------------------------------------------------- */
/* Output                                                           */

static void
emit(struct hbc *h, const char *data, size_t len)
{
	if (len > 0)
		h->cb.out(h->cb.ctx, data, len);
}

/*
 * emit_text - action text as stored lines: "\n" (or "\r\n") becomes
 * CRLF; in a header, a line after one that would not start with white
 * space gets a tab first (so it stays a continuation).  crlf: end with
 * CRLF.
 */
static void
emit_text(struct hbc *h, const char *t, size_t n, bool header, bool crlf)
{
	struct buf *c = &h->conv;

	buf_reset(c);
	for (size_t i = 0; i < n; i++) {
		if (t[i] == '\r' && i + 1 < n && t[i + 1] == '\n')
			continue;
		if (t[i] != '\n') {
			(void)buf_append_c(c, t[i]);
			continue;
		}
		(void)buf_append(c, "\r\n", 2);
		if (header && i + 1 < n && t[i + 1] != ' ' && t[i + 1] != '\t')
			(void)buf_append_c(c, '\t');
	}
	if (crlf)
		(void)buf_append(c, "\r\n", 2);
	emit(h, c->data, c->len);
}

/* ---------------------------------------------------------------- */
/* Results and actions                                              */

static void
set_str(char **dst, const char *s, size_t n)
{
	free(*dst);
	*dst = xmalloc(n + 1);
	memcpy(*dst, s, n);
	(*dst)[n] = '\0';
}

/*
 * one_line - s made one bounded line of printable ASCII: control bytes
 * become spaces, other bytes '?' (it may end up in an SMTP reply).
 */
static char *
one_line(const char *s, size_t n)
{
	char *out;

	if (n > HBC_TEXT_MAX_BYTES)
		n = HBC_TEXT_MAX_BYTES;
	out = xmalloc(n + 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		out[i] = c < 32 ? ' ' : c >= 127 ? '?' : (char)c;
	}
	out[n] = '\0';
	return out;
}

static void
log_action(struct hbc *h, const char *action, enum hbc_class cls,
    const char *content, size_t clen, const char *text)
{
	struct hbc_event ev;

	if (h->cb.log == NULL)
		return;
	ev.action = action;
	ev.cls = cls;
	ev.content = content;
	ev.content_len = clen;
	ev.text = text;
	h->cb.log(h->cb.ctx, &ev);
}

static void warn(struct hbc *h, enum hbc_class cls, const char *fmt, ...)
    ATTR_FORMAT(3, 4);

/* warn - "PARAM: what is wrong" to the warn callback. */
static void
warn(struct hbc *h, enum hbc_class cls, const char *fmt, ...)
{
	char msg[HBC_TEXT_MAX_BYTES + 256];
	int n;
	va_list ap;

	if (h->cb.warn == NULL)
		return;
	n = snprintf(msg, sizeof(msg), "%s%s: ", h->cfg.delivery_only ?
	    "smtp_" : "", hbc_class_param(cls));
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(msg))
		(void)vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	h->cb.warn(h->cb.ctx, cls, msg);
}

/*
 * dsn_len - length of the enhanced status code ("5.7.1") that starts t,
 * followed by white space or the end, or 0 (RFC 3463: class, 1-3
 * digits, 1-3 digits).
 */
static size_t
dsn_len(const char *t, size_t n)
{
	size_t i = 0;

	if (n < 5 || (t[0] != '2' && t[0] != '4' && t[0] != '5') ||
	    t[1] != '.')
		return 0;
	i = 2;
	for (int part = 0; part < 2; part++) {
		size_t d = 0;

		while (i < n && t[i] >= '0' && t[i] <= '9' && d < 4) {
			i++;
			d++;
		}
		if (d == 0 || d > 3)
			return 0;
		if (part == 0) {
			if (i >= n || t[i] != '.')
				return 0;
			i++;
		}
	}
	return i == n || t[i] == ' ' || t[i] == '\t' ? i : 0;
}

static void
act_reject(struct hbc *h, enum hbc_class cls, const char *key, size_t klen,
    const char *t, size_t tn)
{
	struct buf r;

	buf_init(&r, HBC_TEXT_MAX_BYTES + 64);
	if (tn == 0) {
		(void)buf_append_str(&r, "5.7.1 Message content rejected");
	} else if (dsn_len(t, tn) > 0) {
		(void)buf_append(&r, t, tn > HBC_TEXT_MAX_BYTES ?
		    HBC_TEXT_MAX_BYTES : tn);
		if (r.data[0] == '2') {
			warn(h, cls, "REJECT with a success status code "
			    "\"%.10s\": made it 4.x.y", t);
			r.data[0] = '4';
		}
	} else {
		(void)buf_append_str(&r, "5.7.1 ");
		(void)buf_append(&r, t, tn > HBC_TEXT_MAX_BYTES ?
		    HBC_TEXT_MAX_BYTES : tn);
	}
	free(h->res.text);
	h->res.text = one_line(r.data, r.len);
	buf_deinit(&r);
	h->res.code = h->res.text[0] == '4' ? 451 : 550;
	h->res.verdict = HBC_REJECT;
	h->stopped = true;
	log_action(h, "reject", cls, key, klen, h->res.text);
}

/* address_ok - "local@domain" with no white space or control bytes. */
static bool
address_ok(const char *t, size_t n)
{
	const char *at = memrchr(t, '@', n);

	if (at == NULL || at == t || at == t + n - 1 || n > 1024)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)t[i] <= 32 || t[i] == 127)
			return false;
	return true;
}

/* filter_ok - "transport:destination" (destination may be empty). */
static bool
filter_ok(const char *t, size_t n)
{
	const char *colon = memchr(t, ':', n);

	if (colon == NULL || colon == t || n > 1024)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)t[i] <= 32 || t[i] == 127)
			return false;
	return true;
}

/* add_bcc - true when t was added (not a duplicate, room left). */
static bool
add_bcc(struct hbc *h, enum hbc_class cls, const char *t, size_t tn)
{
	struct hbc_result *r = &h->res;

	for (size_t i = 0; i < r->nbccs; i++)
		if (strlen(r->bccs[i]) == tn && memcmp(r->bccs[i], t, tn) == 0)
			return false;
	if (r->nbccs >= HBC_BCC_MAX) {
		warn(h, cls, "BCC %.200s: more than %d BCC addresses: "
		    "dropped", t, HBC_BCC_MAX);
		return false;
	}
	r->bccs = xreallocarray(r->bccs, r->nbccs + 1, sizeof(*r->bccs));
	r->bccs[r->nbccs] = NULL;
	set_str(&r->bccs[r->nbccs], t, tn);
	r->nbccs++;
	return true;
}

static bool
word_is(const char *w, size_t n, const char *name)
{
	return strlen(name) == n && strncasecmp(w, name, n) == 0;
}

/*
 * act - apply the action v (a lookup result) to the header or line key.
 * Returns what happens to it; PREPEND text is left in h->prep (non-empty
 * only then), REPLACE text in h->repl.
 */
static enum hbc_edit
act(struct hbc *h, enum hbc_class cls, const char *key, size_t klen,
    const char *v, size_t vn)
{
	bool header = cls != HBC_BODY;
	size_t wn = 0;
	const char *t;
	size_t tn;

	while (wn < vn && v[wn] != ' ' && v[wn] != '\t')
		wn++;
	t = v + wn;
	tn = vn - wn;
	while (tn > 0 && (*t == ' ' || *t == '\t')) {
		t++;
		tn--;
	}
	if (h->cfg.delivery_only && (word_is(v, wn, "REJECT") ||
	    word_is(v, wn, "DISCARD") || word_is(v, wn, "HOLD") ||
	    word_is(v, wn, "FILTER") || word_is(v, wn, "REDIRECT") ||
	    word_is(v, wn, "BCC"))) {
		warn(h, cls, "action \"%.*s\" is not available on delivery "
		    "(only REPLACE, PREPEND, IGNORE, WARN, INFO, DUNNO and "
		    "OK); ignored", (int)(wn > 16 ? 16 : wn), v);
	} else if (word_is(v, wn, "REJECT")) {
		act_reject(h, cls, key, klen, t, tn);
	} else if (word_is(v, wn, "DISCARD")) {
		free(h->res.text);
		h->res.text = one_line(t, tn);
		h->res.verdict = HBC_DISCARD;
		h->stopped = true;
		log_action(h, "discard", cls, key, klen, h->res.text);
	} else if (word_is(v, wn, "WARN")) {
		log_action(h, "warning", cls, key, klen, t);
	} else if (word_is(v, wn, "INFO")) {
		log_action(h, "info", cls, key, klen, t);
	} else if (word_is(v, wn, "HOLD")) {
		if (h->res.hold == NULL) {
			h->res.hold = one_line(t, tn);
			log_action(h, "hold", cls, key, klen, h->res.hold);
		}
	} else if (word_is(v, wn, "FILTER")) {
		if (!filter_ok(t, tn)) {
			warn(h, cls, "bad FILTER argument \"%.200s\": need "
			    "transport:destination", t);
		} else {
			set_str(&h->res.filter, t, tn);
			log_action(h, "filter", cls, key, klen, t);
		}
	} else if (word_is(v, wn, "REDIRECT")) {
		if (!address_ok(t, tn)) {
			warn(h, cls, "bad REDIRECT address \"%.200s\": need "
			    "user@domain", t);
		} else {
			set_str(&h->res.redirect, t, tn);
			log_action(h, "redirect", cls, key, klen, t);
		}
	} else if (word_is(v, wn, "BCC")) {
		if (!address_ok(t, tn)) {
			warn(h, cls, "bad BCC address \"%.200s\": need "
			    "user@domain", t);
		} else if (add_bcc(h, cls, t, tn)) {
			log_action(h, "bcc", cls, key, klen, t);
		}
	} else if (word_is(v, wn, "PREPEND") || word_is(v, wn, "REPLACE")) {
		bool prepend = word_is(v, wn, "PREPEND");

		if (tn == 0) {
			warn(h, cls, "%s without text", prepend ? "PREPEND" :
			    "REPLACE");
		} else if (header && hbc_header_name_len(t, tn) == 0) {
			warn(h, cls, "%s: bad header text \"%.200s\": "
			    "need \"name: value\"", prepend ? "PREPEND" :
			    "REPLACE", t);
		} else {
			struct buf *b = prepend ? &h->prep : &h->repl;

			buf_reset(b);
			(void)buf_append(b, t, tn);
			log_action(h, prepend ? "prepend" : "replace", cls, key,
			    klen, t);
			if (!prepend)
				return EDIT_REPLACE;
		}
	} else if (word_is(v, wn, "IGNORE")) {
		return EDIT_DROP;
	} else if (word_is(v, wn, "DUNNO") || word_is(v, wn, "OK")) {
		/* nothing */
	} else {
		warn(h, cls, "unknown action \"%.200s\"", v);
	}
	return EDIT_KEEP;
}

/*
 * check - look key up in the tables of cls and act on the answer.
 * key is NUL-terminated at klen.
 */
static enum hbc_edit
check(struct hbc *h, enum hbc_class cls, const char *key, size_t klen)
{
	int st;

	buf_reset(&h->prep);
	if (h->stopped || klen == 0)
		return EDIT_KEEP;
	buf_reset(&h->value);
	h->err[0] = '\0';
	st = h->cb.lookup(h->cb.ctx, cls, key, klen, &h->value, h->err,
	    sizeof(h->err));
	if (st == HBC_TEMPFAIL) {
		h->err[sizeof(h->err) - 1] = '\0';
		set_str(&h->res.text, h->err[0] ? h->err : "lookup failed",
		    strlen(h->err[0] ? h->err : "lookup failed"));
		h->res.verdict = HBC_FAILED;
		h->stopped = true;
		return EDIT_KEEP;
	}
	if (st != HBC_FOUND || h->value.len == 0)
		return EDIT_KEEP;
	return act(h, cls, key, klen, h->value.data, h->value.len);
}

/* ---------------------------------------------------------------- */
/* MIME structure                                                   */

static void
pop_to(struct hbc *h, size_t depth)
{
	while (h->depth > depth) {
		h->depth--;
		free(h->stack[h->depth].s);
	}
}

static void
push_boundary(struct hbc *h, const char *s, size_t n, enum hbc_ctype def)
{
	struct hbc_bound *b;

	if (h->depth >= h->cfg.mime_depth)
		return;
	if (n > HBC_BOUNDARY_MAX_BYTES)
		n = HBC_BOUNDARY_MAX_BYTES;
	h->stack = xreallocarray(h->stack, h->depth + 1, sizeof(*h->stack));
	b = &h->stack[h->depth++];
	b->s = xmalloc(n + 1);
	memcpy(b->s, s, n);
	b->s[n] = '\0';
	b->len = n;
	b->def = def;
}

/* A Content-Type value lexer (RFC 2045 5.1, with RFC 822 comments). */
struct ct_lex {
	const char *p, *end;
	struct buf tok;		/* the token or unquoted string */
};

enum ct_tok {
	TOK_END,
	TOK_WORD,		/* token or quoted string, in tok */
	TOK_SPECIAL,		/* one tspecial, in tok */
};

static bool
ct_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static enum ct_tok
ct_next(struct ct_lex *l)
{
	buf_reset(&l->tok);
	for (;;) {
		while (l->p < l->end && ct_space(*l->p))
			l->p++;
		if (l->p >= l->end)
			return TOK_END;
		if (*l->p != '(')
			break;
		/* A comment, nested, with quoted pairs. */
		for (unsigned level = 0; l->p < l->end; l->p++) {
			if (*l->p == '\\' && l->p + 1 < l->end) {
				l->p++;
			} else if (*l->p == '(') {
				level++;
			} else if (*l->p == ')' && --level == 0) {
				l->p++;
				break;
			}
		}
	}
	if (*l->p == '"') {
		for (l->p++; l->p < l->end && *l->p != '"'; l->p++) {
			if (*l->p == '\\' && l->p + 1 < l->end)
				l->p++;
			if (l->tok.len < HBC_BOUNDARY_MAX_BYTES)
				(void)buf_append_c(&l->tok, *l->p);
		}
		if (l->p < l->end)
			l->p++;
		return TOK_WORD;
	}
	if (strchr("()<>@,;:\\\"/[]?=", *l->p) != NULL) {
		(void)buf_append_c(&l->tok, *l->p++);
		return TOK_SPECIAL;
	}
	while (l->p < l->end && !ct_space(*l->p) &&
	    strchr("()<>@,;:\\\"/[]?=", *l->p) == NULL &&
	    (unsigned char)*l->p >= 32) {
		if (l->tok.len < HBC_BOUNDARY_MAX_BYTES)
			(void)buf_append_c(&l->tok, *l->p);
		l->p++;
	}
	if (l->tok.len == 0)
		l->p++;		/* a control byte: skip it */
	return TOK_WORD;
}

static bool
tok_is(const struct ct_lex *l, enum ct_tok t, const char *s)
{
	return t == TOK_WORD && strcasecmp(buf_cstr(&l->tok), s) == 0;
}

static bool
tok_special(const struct ct_lex *l, enum ct_tok t, char c)
{
	return t == TOK_SPECIAL && l->tok.data[0] == c;
}

/*
 * content_type - the value of a Content-Type header: set the entity's
 * type; for multipart/... push every boundary= parameter (Postfix takes
 * each one, so that content cannot hide behind a second boundary).
 */
static void
content_type(struct hbc *h, const char *v, size_t n)
{
	struct ct_lex l = { v, v + n, { 0 } };
	enum ct_tok t;
	enum hbc_ctype def = CT_TEXT;

	buf_init(&l.tok, HBC_BOUNDARY_MAX_BYTES + 1);
	t = ct_next(&l);
	if (t == TOK_END)
		goto out;
	if (tok_is(&l, t, "text")) {
		h->ctype = CT_TEXT;
		goto out;
	}
	if (tok_is(&l, t, "message")) {
		h->ctype = CT_MESSAGE;
		if (tok_special(&l, ct_next(&l), '/') &&
		    tok_is(&l, ct_next(&l), "rfc822"))
			h->ctype = CT_RFC822;
		goto out;
	}
	if (!tok_is(&l, t, "multipart")) {
		h->ctype = CT_OTHER;
		goto out;
	}
	h->ctype = CT_MULTIPART;
	if (tok_special(&l, ct_next(&l), '/') &&
	    tok_is(&l, ct_next(&l), "digest"))
		def = CT_RFC822;
	/* Parameters: ";" name "=" value, anything else skipped. */
	for (;;) {
		while ((t = ct_next(&l)) != TOK_END && !tok_special(&l, t, ';'))
			continue;
		if (t == TOK_END)
			break;
		if (!tok_is(&l, ct_next(&l), "boundary"))
			continue;
		if (!tok_special(&l, ct_next(&l), '='))
			continue;
		if (ct_next(&l) == TOK_WORD)
			push_boundary(h, l.tok.data != NULL ? l.tok.data : "",
			    l.tok.len, def);
	}
out:
	buf_deinit(&l.tok);
}

/* ---------------------------------------------------------------- */
/* Headers                                                          */

static bool
is_mime_name(const char *name, size_t n)
{
	for (size_t i = 0; i < sizeof(mime_headers) / sizeof(mime_headers[0]);
	    i++)
		if (strlen(mime_headers[i]) == n &&
		    strncasecmp(name, mime_headers[i], n) == 0)
			return true;
	return false;
}

/*
 * header_class - the class of the pending header; a Content-Type
 * updates the MIME state first (from the header as received).
 */
static enum hbc_class
header_class(struct hbc *h)
{
	const char *k = h->hkey.data;
	size_t klen = h->hkey.len;
	size_t n = hbc_header_name_len(k, klen);

	if (h->cfg.disable_mime)
		return HBC_HEADER;
	if (n > 0 && is_mime_name(k, n)) {
		if (n == 12 && strncasecmp(k, "Content-Type", 12) == 0) {
			const char *colon = memchr(k, ':', klen);

			content_type(h, colon + 1, klen - (size_t)(colon + 1 -
			    k));
		}
		return HBC_MIME;
	}
	return h->state == ST_PRIMARY ? HBC_HEADER : h->state == ST_MULTIPART ?
	    HBC_MIME : HBC_NESTED;
}

/*
 * header_decide - look the pending header up and act: output what
 * stands for it, and set the mode for any rest of it.
 */
static void
header_decide(struct hbc *h)
{
	enum hbc_class cls = header_class(h);
	enum hbc_edit e = check(h, cls, h->hkey.data, h->hkey.len);

	if (h->prep.len > 0)
		emit_text(h, h->prep.data, h->prep.len, true, true);
	switch (e) {
	case EDIT_KEEP:
		emit(h, h->hraw.data, h->hraw.len);
		h->hmode = HM_PASS;
		break;
	case EDIT_DROP:
		h->hmode = HM_DROP;
		break;
	case EDIT_REPLACE:
		emit_text(h, h->repl.data, h->repl.len, true, true);
		h->hmode = HM_DROP;
		break;
	}
	buf_reset(&h->hraw);
	buf_reset(&h->hkey);
}

/*
 * header_add - a piece of the pending header: a new line of it
 * (newline: a continuation line starts) or more of the current line.
 */
static void
header_add(struct hbc *h, const char *p, size_t len, size_t cl, bool newline)
{
	size_t room, take;
	bool over;

	if (h->hmode == HM_PASS) {
		emit(h, p, len);
		return;
	}
	if (h->hmode == HM_DROP)
		return;
	over = h->hkey.len + cl + (newline ? 1 : 0) > h->cfg.header_limit;
	room = h->cfg.header_limit - h->hkey.len;
	if (newline && room > 0) {
		(void)buf_append_c(&h->hkey, '\n');
		room--;
	}
	take = cl < room ? cl : room;
	if (buf_append(&h->hkey, p, take) < 0 ||
	    buf_append(&h->hraw, p, len) < 0)
		abort();	/* the maxima in hbc_new() cover this */
	if (over)
		header_decide(h);
}

/* header_end - the pending header is complete (or the message ended). */
static void
header_end(struct hbc *h)
{
	if (h->hmode == HM_COLLECT)
		header_decide(h);
	h->hmode = HM_NONE;
}

/* headers_done - the empty line after a header block was passed on. */
static void
headers_done(struct hbc *h)
{
	h->body_off = 0;
	if (!h->cfg.disable_mime && h->ctype == CT_RFC822) {
		h->state = ST_NESTED;
		h->ctype = CT_TEXT;
		return;
	}
	if (h->ctype == CT_MULTIPART)
		h->ctype = CT_OTHER;
	h->state = ST_BODY;
}

/* ---------------------------------------------------------------- */
/* Body                                                             */

/*
 * find_boundary - s (n bytes, after "--") starts with a boundary of the
 * stack, innermost first: leave the parts inside it and start its next
 * part, or close it ("--" right after it).
 */
static bool
find_boundary(struct hbc *h, const char *s, size_t n)
{
	for (size_t i = h->depth; i-- > 0;) {
		const struct hbc_bound *b = &h->stack[i];

		if (n < b->len || memcmp(s, b->s, b->len) != 0)
			continue;
		pop_to(h, i + 1);
		if (n - b->len >= 2 && s[b->len] == '-' &&
		    s[b->len + 1] == '-') {
			pop_to(h, i);
			h->state = ST_BODY;
			h->ctype = CT_OTHER;
			h->body_off = 0;
		} else {
			h->state = ST_MULTIPART;
			h->ctype = h->stack[i].def;
		}
		return true;
	}
	return false;
}

static void
body_piece(struct hbc *h, const char *p, size_t len, size_t cl, bool first)
{
	bool boundary = false;
	enum hbc_edit e = EDIT_KEEP;

	if (first && h->depth > 0 && cl >= 2 && p[0] == '-' && p[1] == '-')
		boundary = find_boundary(h, p + 2, cl - 2);
	if (cl > 0 && (boundary || h->body_off < h->cfg.body_limit)) {
		buf_reset(&h->bkey);
		(void)buf_append(&h->bkey, p, cl);
		e = check(h, HBC_BODY, h->bkey.data, cl);
		if (h->prep.len > 0)
			emit_text(h, h->prep.data, h->prep.len, false, true);
	}
	if (!boundary && h->body_off < UINT64_MAX - len)
		h->body_off += len;
	switch (e) {
	case EDIT_KEEP:
		emit(h, p, len);
		break;
	case EDIT_DROP:
		break;
	case EDIT_REPLACE:
		/* The replacement keeps the piece's own line end, if any. */
		emit_text(h, h->repl.data, h->repl.len, false, false);
		emit(h, p + cl, len - cl);
		break;
	}
}

/* ---------------------------------------------------------------- */
/* Pieces                                                           */

/* content_len - the piece without its line end (LF or CRLF). */
static size_t
content_len(const char *p, size_t len)
{
	if (len > 0 && p[len - 1] == '\n') {
		len--;
		if (len > 0 && p[len - 1] == '\r')
			len--;
	}
	return len;
}

/*
 * on_piece - one piece: first when it starts a line, last when the line
 * ends with it.
 */
static void
on_piece(struct hbc *h, const char *p, size_t len, bool first, bool last)
{
	size_t cl = content_len(p, len);

	if (h->stopped) {
		emit(h, p, len);
		return;
	}
	if (h->state != ST_BODY) {
		if (h->hmode != HM_NONE) {
			if (!first) {
				header_add(h, p, len, cl, false);
				return;
			}
			if (cl > 0 && (p[0] == ' ' || p[0] == '\t')) {
				header_add(h, p, len, cl, true);
				return;
			}
			header_end(h);
			if (h->stopped) {
				emit(h, p, len);
				return;
			}
		}
		if (first && last && cl == 0) {
			emit(h, p, len);
			headers_done(h);
			return;
		}
		if (first && hbc_header_name_len(p, cl) > 0) {
			h->hmode = HM_COLLECT;
			header_add(h, p, len, cl, false);
			return;
		}
		/* Not a header: the block ends, and this is body text. */
		if (h->ctype == CT_MULTIPART)
			h->ctype = CT_OTHER;
		h->state = ST_BODY;
		h->body_off = 0;
	}
	body_piece(h, p, len, cl, first);
}

static void
piece_done(struct hbc *h, bool last)
{
	bool first = h->line_start;

	h->line_start = last;
	on_piece(h, h->piece.data, h->piece.len, first, last);
	buf_reset(&h->piece);
}

/* ---------------------------------------------------------------- */
/* Interface                                                        */

struct hbc *
hbc_new(const struct hbc_config *cfg, const struct hbc_callbacks *cb)
{
	struct hbc *h = xcalloc(1, sizeof(*h));
	size_t hl, ll;

	h->cfg = *cfg;
	if (h->cfg.header_limit == 0)
		h->cfg.header_limit = 1;
	if (h->cfg.line_limit == 0)
		h->cfg.line_limit = 1;
	h->cb = *cb;
	hl = h->cfg.header_limit;
	ll = h->cfg.line_limit;
	h->line_start = true;
	h->state = ST_PRIMARY;
	h->ctype = CT_TEXT;
	h->hmode = HM_NONE;
	h->res.verdict = HBC_ACCEPT;
	buf_init(&h->piece, ll + 1);
	buf_init(&h->hkey, hl);
	/*
	 * Raw bytes of a header before the key passes the limit: each line
	 * adds at most 2 line-end bytes to the raw text and at least 1 byte
	 * (its first byte, or the "\n" joining it) to the key, so at most 3
	 * raw bytes per key byte; plus the piece that passes the limit.
	 */
	buf_init(&h->hraw, 3 * hl + ll + 16);
	buf_init(&h->bkey, ll + 1);
	buf_init(&h->value, HBC_VALUE_MAX_BYTES);
	buf_init(&h->prep, HBC_VALUE_MAX_BYTES);
	buf_init(&h->repl, HBC_VALUE_MAX_BYTES);
	buf_init(&h->conv, 3 * HBC_VALUE_MAX_BYTES + 8);
	return h;
}

void
hbc_feed(struct hbc *h, const char *data, size_t len)
{
	size_t cap = h->cfg.line_limit;

	if (h->finished) {
		emit(h, data, len);
		return;
	}
	while (len > 0) {
		struct buf *p = &h->piece;
		const char *lf;
		size_t room, n;

		if (h->stopped) {
			emit(h, data, len);
			return;
		}
		if (p->len >= cap && data[0] != '\n') {
			piece_done(h, false);
			continue;
		}
		room = cap > p->len ? cap - p->len : 0;
		lf = memchr(data, '\n', len < room + 1 ? len : room + 1);
		n = lf != NULL ? (size_t)(lf - data) + 1 : len < room ? len :
		    room;
		if (buf_append(p, data, n) < 0)
			abort();	/* at most cap + 1 bytes */
		data += n;
		len -= n;
		if (lf != NULL)
			piece_done(h, true);
	}
}

void
hbc_finish(struct hbc *h)
{
	if (h->finished)
		return;
	if (h->piece.len > 0)
		piece_done(h, true);
	/* Even when stopped a collected header is passed on (check() does
	 * nothing then). */
	header_end(h);
	h->finished = true;
}

bool
hbc_stopped(const struct hbc *h)
{
	return h->stopped;
}

const struct hbc_result *
hbc_result(const struct hbc *h)
{
	return &h->res;
}

void
hbc_free(struct hbc **hp)
{
	struct hbc *h = *hp;

	if (h == NULL)
		return;
	pop_to(h, 0);
	free(h->stack);
	buf_deinit(&h->piece);
	buf_deinit(&h->hraw);
	buf_deinit(&h->hkey);
	buf_deinit(&h->bkey);
	buf_deinit(&h->value);
	buf_deinit(&h->prep);
	buf_deinit(&h->repl);
	buf_deinit(&h->conv);
	free(h->res.text);
	free(h->res.hold);
	free(h->res.filter);
	free(h->res.redirect);
	for (size_t i = 0; i < h->res.nbccs; i++)
		free(h->res.bccs[i]);
	free(h->res.bccs);
	free(h);
	*hp = NULL;
}

void
hbc_result_to_envelope(const struct hbc_result *r, struct queue_envelope *env)
{
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
