/* SPDX-License-Identifier: MIT */
/*
 * smtp_command - SMTP command lines, verbs and MAIL/RCPT arguments; see
 * smtp_command.h.  Runs in smtpd; no I/O, no privileges.
 *
 * Line reader (RFC 5321 2.3.8, 4.5.3.1.4).  Every byte of a line except
 * its final CRLF is "content": a bare CR, a bare LF and a NUL are content
 * too, so they count against the length limit exactly like any other
 * byte and the result never depends on how the input was split.  A CR is
 * held back (the cr flag) until the next byte shows whether it starts
 * the CRLF; that byte may come in the next call.  Content is buffered
 * only up to max - 2 bytes; the rest of an over-long line is scanned for
 * its CRLF and dropped, so memory stays bounded by max.  When a bad line
 * ends, one status is reported, by priority: a bare CR or LF first (an
 * SMTP smuggling attempt is the thing worth logging), then the length,
 * then a NUL.
 *
 * MAIL/RCPT arguments (RFC 5321 4.1.2, 3.3).  "FROM:" / "TO:" (any case),
 * then the path, read by address_parse_path() only, then zero or more
 * " keyword[=value]" parameters separated by exactly one SP; a doubled or
 * trailing space is a syntax error.  For MAIL the SMTPUTF8 parameter
 * decides whether the path may be UTF-8 (RFC 6531 3.4), so the path is
 * parsed twice: first with UTF-8 allowed, only to find where it ends (a
 * path that fails even then is rejected with that error); then the
 * parameters are read; then the path is parsed again with the flags
 * that are really in force, and that result is kept.  Checking order
 * for each parameter: its syntax (501), whether it exists with the
 * extensions in force (555), whether it was already given (501), its
 * value (501).  UTF-8 in a parameter value needs SMTPUTF8 in effect: for
 * MAIL the SMTPUTF8 parameter of the same command, for RCPT the caller's
 * ADDRESS_SMTPUTF8 flag.  The argument text is not capped here: the line
 * reader has already bounded it.
 *
 * xtext (RFC 3461 4): "+XX" escapes in either case; a decoded NUL is
 * refused, other decoded bytes (control characters included) are kept,
 * so whoever writes a decoded ENVID, ORCPT or AUTH value into a header
 * or a queue file must encode it again (smtp_xtext_encode).
 */
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "compat.h"
#include "log.h"
#include "smtp_command.h"
#include "strnum.h"
#include "xalloc.h"

/* Line reader. */

void
smtp_line_reader_init(struct smtp_line_reader *r, size_t max)
{
	/* The buffer holds the line without its CRLF. */
	buf_init(&r->line, max >= 2 ? max - 2 : 0);
	r->max = max;
	r->cr = false;
	r->too_long = false;
	r->bare = false;
	r->nul = false;
}

void
smtp_line_reader_deinit(struct smtp_line_reader *r)
{
	buf_deinit(&r->line);
	r->cr = false;
	r->too_long = false;
	r->bare = false;
	r->nul = false;
}

size_t
smtp_line_reader_pending(const struct smtp_line_reader *r)
{
	return r->line.len + (r->cr ? 1 : 0);
}

/* line_take - add content bytes; past the limit only remember that. */
static void
line_take(struct smtp_line_reader *r, const char *p, size_t n)
{
	size_t room = r->line.max - r->line.len;

	if (r->too_long)
		return;
	/* Keep what fits, so that pending() is the same for any split. */
	if (n > room) {
		r->too_long = true;
		n = room;
	}
	if (n > 0 && buf_append(&r->line, p, n) < 0)
		log_panic("smtp_line_read: buffer limit miscounted");
}

/* is_special - a byte the reader must look at one by one. */
static bool
is_special(char c)
{
	return c == '\r' || c == '\n' || c == '\0';
}

/*
 * line_end - the CRLF of a line was taken: report it and start the next.
 * A good line stays in the buffer's memory until the next call (its
 * length is cleared, not its bytes), so *line_r stays valid as promised.
 */
static enum smtp_line_status
line_end(struct smtp_line_reader *r, const char **line_r,
    size_t *line_len_r)
{
	enum smtp_line_status st;

	/* Only when max < 2: even "" with its CRLF is too long. */
	if (r->line.len + 2 > r->max)
		r->too_long = true;
	if (r->bare)
		st = SMTP_LINE_BARE_NEWLINE;
	else if (r->too_long)
		st = SMTP_LINE_TOO_LONG;
	else if (r->nul)
		st = SMTP_LINE_NUL;
	else
		st = SMTP_LINE_OK;
	r->cr = false;
	r->bare = false;
	r->too_long = false;
	r->nul = false;
	if (st == SMTP_LINE_OK) {
		*line_r = r->line.len > 0 ? buf_cstr(&r->line) : "";
		*line_len_r = r->line.len;
		/* Forget the length only: the next append overwrites. */
		r->line.len = 0;
	} else {
		buf_reset(&r->line);
	}
	return st;
}

enum smtp_line_status
smtp_line_read(struct smtp_line_reader *r, const char *data, size_t len,
    size_t *consumed_r, const char **line_r, size_t *line_len_r)
{
	size_t i = 0;

	*line_r = NULL;
	*line_len_r = 0;
	while (i < len) {
		char c = data[i];

		if (r->cr) {
			r->cr = false;
			if (c == '\n') {
				*consumed_r = i + 1;
				return line_end(r, line_r, line_len_r);
			}
			/* RFC 5321 2.3.8: a CR not followed by LF. */
			r->bare = true;
			line_take(r, "\r", 1);
		}
		if (!is_special(c)) {
			size_t start = i;

			while (i < len && !is_special(data[i]))
				i++;
			line_take(r, data + start, i - start);
			continue;
		}
		i++;
		if (c == '\r') {
			r->cr = true;
			continue;
		}
		if (c == '\n')
			r->bare = true;		/* LF without CR */
		else
			r->nul = true;
		line_take(r, &c, 1);
	}
	*consumed_r = len;
	return SMTP_LINE_NEED_MORE;
}

/* Verbs. */

static const struct {
	const char *name;
	const char *counter;
} verbs[SMTP_VERB__COUNT] = {
	[SMTP_VERB_UNKNOWN] = { "UNKNOWN", "unknown" },
	[SMTP_VERB_HELO] = { "HELO", "helo" },
	[SMTP_VERB_EHLO] = { "EHLO", "ehlo" },
	[SMTP_VERB_MAIL] = { "MAIL", "mail" },
	[SMTP_VERB_RCPT] = { "RCPT", "rcpt" },
	[SMTP_VERB_DATA] = { "DATA", "data" },
	[SMTP_VERB_BDAT] = { "BDAT", "bdat" },
	[SMTP_VERB_RSET] = { "RSET", "rset" },
	[SMTP_VERB_NOOP] = { "NOOP", "noop" },
	[SMTP_VERB_QUIT] = { "QUIT", "quit" },
	[SMTP_VERB_VRFY] = { "VRFY", "vrfy" },
	[SMTP_VERB_EXPN] = { "EXPN", "expn" },
	[SMTP_VERB_HELP] = { "HELP", "help" },
	[SMTP_VERB_STARTTLS] = { "STARTTLS", "starttls" },
	[SMTP_VERB_AUTH] = { "AUTH", "auth" },
	[SMTP_VERB_XCLIENT] = { "XCLIENT", "xclient" },
	[SMTP_VERB_XFORWARD] = { "XFORWARD", "xforward" },
};

static bool
is_alpha(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static unsigned char
to_upper(unsigned char c)
{
	return c >= 'a' && c <= 'z' ? (unsigned char)(c - 'a' + 'A') : c;
}

/* eq_nocase - does s (n bytes) equal the upper-case word w, any case? */
static bool
eq_nocase(const char *s, size_t n, const char *w)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (w[i] == '\0' || to_upper((unsigned char)s[i]) !=
		    (unsigned char)w[i])
			return false;
	}
	return w[i] == '\0';
}

int
smtp_command_parse(const char *line, size_t len, struct smtp_command *cmd)
{
	size_t n = 0;

	cmd->verb = SMTP_VERB_UNKNOWN;
	cmd->args = line;
	cmd->args_len = 0;
	/* RFC 5321 4.1.1: the verb is a word of letters (and, for
	 * extensions, digits and '-'). */
	while (n < len && (is_alpha((unsigned char)line[n]) ||
	    is_digit((unsigned char)line[n]) || line[n] == '-'))
		n++;
	if (n == 0)
		return -1;
	/* One SP, not TAB or anything else, ends the verb (RFC 5321
	 * 4.1.1: "SP" in every command syntax). */
	if (n < len && line[n] != ' ')
		return -1;
	for (size_t v = SMTP_VERB_UNKNOWN + 1; v < SMTP_VERB__COUNT; v++) {
		if (eq_nocase(line, n, verbs[v].name)) {
			cmd->verb = (enum smtp_verb)v;
			break;
		}
	}
	if (n < len) {
		cmd->args = line + n + 1;
		cmd->args_len = len - n - 1;
	} else {
		cmd->args = line + len;
	}
	return 0;
}

const char *
smtp_verb_name(enum smtp_verb verb)
{
	if ((unsigned)verb >= SMTP_VERB__COUNT)
		verb = SMTP_VERB_UNKNOWN;
	return verbs[verb].name;
}

const char *
smtp_verb_counter_name(enum smtp_verb verb)
{
	if ((unsigned)verb >= SMTP_VERB__COUNT)
		verb = SMTP_VERB_UNKNOWN;
	return verbs[verb].counter;
}

/* xtext (RFC 3461 4). */

static int
hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	/* RFC 3461 says upper case; lower case is accepted as sent. */
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

char *
smtp_xtext_decode(const char *s, size_t len, const char **error_r)
{
	struct buf out;
	size_t i;

	buf_init(&out, len);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '+') {
			int hi, lo;

			if (len - i < 3) {
				*error_r = "incomplete +XX escape in xtext";
				goto fail;
			}
			hi = hex_value((unsigned char)s[i + 1]);
			lo = hex_value((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0) {
				*error_r = "bad hex digits in xtext +XX escape";
				goto fail;
			}
			c = (unsigned char)(hi * 16 + lo);
			if (c == '\0') {
				*error_r = "xtext encodes a NUL byte";
				goto fail;
			}
			i += 2;
		} else if (c == '=' || c < 33 || c == 127) {
			/* RFC 3461 4: xchar is 33..126 except '+', '='.
			 * Bytes >= 0x80 pass: they are UTF-8 allowed by
			 * RFC 6531 3.3 where SMTPUTF8 is in effect, and
			 * the caller has checked that. */
			*error_r = "invalid character in xtext";
			goto fail;
		}
		/* out holds at most len bytes: never fails. */
		(void)buf_append_c(&out, (char)c);
	}
	return buf_steal(&out);
fail:
	buf_deinit(&out);
	return NULL;
}

char *
smtp_xtext_encode(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *out, *o;

	if (n > (SIZE_MAX - 1) / 3)
		log_panic("smtp_xtext_encode: input too long");
	out = xmalloc(n * 3 + 1);
	o = out;
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0';
	    p++) {
		if (*p < 33 || *p > 126 || *p == '+' || *p == '=') {
			*o++ = '+';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 0x0f];
		} else {
			*o++ = (char)*p;
		}
	}
	*o = '\0';
	return out;
}

/* ESMTP parameters. */

/* One " keyword[=value]" parameter as it was read. */
struct esmtp_param {
	const char *kw;
	size_t kw_len;
	const char *val;	/* NULL when there is no "=" */
	size_t val_len;
};

/* utf8_valid - is s (n bytes) well-formed UTF-8 (RFC 3629 4)? */
static bool
utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		size_t more;
		uint32_t cp, min;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			more = 1;
			cp = c & 0x1f;
			min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			more = 2;
			cp = c & 0x0f;
			min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			more = 3;
			cp = c & 0x07;
			min = 0x10000;
		} else {
			return false;
		}
		if (n - i - 1 < more)
			return false;
		for (size_t k = 1; k <= more; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += more + 1;
	}
	return true;
}

/*
 * param_next - read the parameter at *pp (before end): *pp must point at
 * its separating SP.  utf8: UTF-8 allowed in values (RFC 6531 3.3).
 * Returns 0 and advances *pp, or -1 with *error_r.
 */
static int
param_next(const char **pp, const char *end, bool utf8,
    struct esmtp_param *prm, const char **error_r)
{
	const char *p = *pp, *tok, *tok_end;
	bool high = false;

	if (*p != ' ') {
		*error_r = "unexpected characters after the address";
		return -1;
	}
	tok = ++p;
	while (p < end && *p != ' ')
		p++;
	tok_end = p;
	if (tok == tok_end) {
		*error_r = "extra space in the parameters";
		return -1;
	}
	/* RFC 5321 4.1.2: esmtp-keyword = (ALPHA / DIGIT)
	 * *(ALPHA / DIGIT / "-"). */
	p = tok;
	if (!is_alpha((unsigned char)*p) && !is_digit((unsigned char)*p)) {
		*error_r = "bad parameter keyword";
		return -1;
	}
	while (p < tok_end && (is_alpha((unsigned char)*p) ||
	    is_digit((unsigned char)*p) || *p == '-'))
		p++;
	prm->kw = tok;
	prm->kw_len = (size_t)(p - tok);
	prm->val = NULL;
	prm->val_len = 0;
	if (p < tok_end) {
		if (*p != '=') {
			*error_r = "bad parameter keyword";
			return -1;
		}
		prm->val = ++p;
		/* esmtp-value = 1*(%d33-60 / %d62-126), with SMTPUTF8
		 * also UTF-8 (RFC 6531 3.3). */
		if (p == tok_end) {
			*error_r = "empty parameter value";
			return -1;
		}
		for (; p < tok_end; p++) {
			unsigned char c = (unsigned char)*p;

			if (c >= 0x80 && utf8) {
				high = true;
				continue;
			}
			if (c < 33 || c > 126 || c == '=') {
				*error_r = c >= 0x80 ?
				    "8-bit parameter value without SMTPUTF8" :
				    "bad character in a parameter value";
				return -1;
			}
		}
		prm->val_len = (size_t)(tok_end - prm->val);
		if (high && !utf8_valid((const unsigned char *)prm->val,
		    prm->val_len)) {
			*error_r = "malformed UTF-8 in a parameter value";
			return -1;
		}
	}
	*pp = tok_end;
	return 0;
}

/* is_param - is prm the keyword kw (upper case)? */
static bool
is_param(const struct esmtp_param *prm, const char *kw)
{
	return eq_nocase(prm->kw, prm->kw_len, kw);
}

/* val_is - is the value of prm the word w (upper case), any case? */
static bool
val_is(const struct esmtp_param *prm, const char *w)
{
	return prm->val != NULL && eq_nocase(prm->val, prm->val_len, w);
}

/*
 * args_start - check "FROM:"/"TO:" and what follows it.  Returns the
 * offset of the path, or 0 with *error_r.
 */
static size_t
args_start(const char *args, size_t len, const char *word,
    unsigned addr_flags, const char *usage, const char **error_r)
{
	size_t n = strlen(word), i;

	if (len < n || !eq_nocase(args, n, word)) {
		*error_r = usage;
		return 0;
	}
	/* Postfix accepts "FROM: <a@b>"; RFC 5321 4.1.1.2 has no space. */
	if (n < len && args[n] == ' ' && (addr_flags & ADDRESS_STRICT)) {
		*error_r = "no space allowed after the colon";
		return 0;
	}
	for (i = n; i < len && args[i] == ' '; i++)
		;
	if (i == len) {
		*error_r = usage;
		return 0;
	}
	return n;
}

static enum smtp_arg_error
address_error_map(enum address_error e)
{
	return e == ADDRESS_ERR_UTF8 ? SMTP_ARG_UTF8 : SMTP_ARG_BAD_ADDRESS;
}

/* Bits for parameters already seen (duplicates). */
enum {
	SEEN_SIZE = 1 << 0,
	SEEN_BODY = 1 << 1,
	SEEN_SMTPUTF8 = 1 << 2,
	SEEN_RET = 1 << 3,
	SEEN_ENVID = 1 << 4,
	SEEN_AUTH = 1 << 5,
	SEEN_NOTIFY = 1 << 6,
	SEEN_ORCPT = 1 << 7,
};

/* Error texts shared by MAIL and RCPT. */
#define E_UNKNOWN "unknown or unsupported parameter"
#define E_DUP "parameter given twice"
#define E_NEEDS_VALUE "parameter needs a value"
#define E_NO_VALUE "parameter takes no value"

/*
 * mail_param - act on one MAIL parameter.  seen: bits of those done.
 */
static enum smtp_arg_error
mail_param(const struct esmtp_param *prm, unsigned exts, unsigned *seen,
    struct smtp_mail_args *out, const char **error_r)
{
	unsigned bit;
	bool needs_value = true;

	if (is_param(prm, "SIZE") && (exts & SMTP_EXT_SIZE))
		bit = SEEN_SIZE;	/* RFC 1870 */
	else if (is_param(prm, "BODY") &&
	    (exts & (SMTP_EXT_8BITMIME | SMTP_EXT_CHUNKING)))
		bit = SEEN_BODY;	/* RFC 6152, RFC 3030 */
	else if (is_param(prm, "SMTPUTF8") && (exts & SMTP_EXT_SMTPUTF8)) {
		bit = SEEN_SMTPUTF8;	/* RFC 6531 3.4 */
		needs_value = false;
	} else if (is_param(prm, "RET") && (exts & SMTP_EXT_DSN))
		bit = SEEN_RET;		/* RFC 3461 4.3 */
	else if (is_param(prm, "ENVID") && (exts & SMTP_EXT_DSN))
		bit = SEEN_ENVID;	/* RFC 3461 4.4 */
	else if (is_param(prm, "AUTH") && (exts & SMTP_EXT_AUTH))
		bit = SEEN_AUTH;	/* RFC 4954 5 */
	else {
		*error_r = E_UNKNOWN;
		return SMTP_ARG_UNKNOWN_PARAM;
	}
	if (*seen & bit) {
		*error_r = E_DUP;
		return SMTP_ARG_DUPLICATE;
	}
	*seen |= bit;
	if (needs_value && prm->val == NULL) {
		*error_r = E_NEEDS_VALUE;
		return SMTP_ARG_SYNTAX;
	}
	if (!needs_value && prm->val != NULL) {
		*error_r = E_NO_VALUE;
		return SMTP_ARG_SYNTAX;
	}
	switch (bit) {
	case SEEN_SIZE: {
		char *num = xstrndup(prm->val, prm->val_len);
		const char *err = NULL;
		int rc;

		/* RFC 1870 3: digits only; strnum refuses a sign. */
		rc = strnum_parse_u64(num, UINT64_MAX, &out->size, &err);
		free(num);
		if (rc < 0) {
			*error_r = "bad SIZE value";
			return SMTP_ARG_SYNTAX;
		}
		out->has_size = true;
		break;
	}
	case SEEN_BODY:
		if (val_is(prm, "7BIT"))
			out->body = SMTP_BODY_7BIT;
		else if (val_is(prm, "8BITMIME")) {
			if (!(exts & SMTP_EXT_8BITMIME)) {
				*error_r = "BODY=8BITMIME is not supported";
				return SMTP_ARG_UNKNOWN_PARAM;
			}
			out->body = SMTP_BODY_8BITMIME;
		} else if (val_is(prm, "BINARYMIME")) {
			if (!(exts & SMTP_EXT_CHUNKING)) {
				*error_r = "BODY=BINARYMIME is not supported";
				return SMTP_ARG_UNKNOWN_PARAM;
			}
			out->body = SMTP_BODY_BINARYMIME;
		} else {
			*error_r = "bad BODY value";
			return SMTP_ARG_SYNTAX;
		}
		break;
	case SEEN_SMTPUTF8:
		out->smtputf8 = true;
		break;
	case SEEN_RET:
		if (val_is(prm, "FULL"))
			out->ret = SMTP_RET_FULL;
		else if (val_is(prm, "HDRS"))
			out->ret = SMTP_RET_HDRS;
		else {
			*error_r = "bad RET value";
			return SMTP_ARG_SYNTAX;
		}
		break;
	case SEEN_ENVID:
		out->envid = smtp_xtext_decode(prm->val, prm->val_len,
		    error_r);
		if (out->envid == NULL)
			return SMTP_ARG_SYNTAX;
		if (strlen(out->envid) > SMTP_ENVID_MAX_BYTES) {
			*error_r = "ENVID too long";
			return SMTP_ARG_SYNTAX;
		}
		break;
	case SEEN_AUTH:
		/* RFC 4954 5: AUTH=<> or an xtext-encoded mailbox. */
		if (prm->val_len == 2 && memcmp(prm->val, "<>", 2) == 0)
			out->auth = xstrdup("<>");
		else
			out->auth = smtp_xtext_decode(prm->val, prm->val_len,
			    error_r);
		if (out->auth == NULL)
			return SMTP_ARG_SYNTAX;
		break;
	default:
		log_panic("smtp_command: unreachable");
	}
	return SMTP_ARG_OK;
}

/* mail_has_smtputf8 - is an SMTPUTF8 parameter among params (first
 * pass, syntax errors left for the real pass)? */
static bool
mail_has_smtputf8(const char *p, const char *end)
{
	struct esmtp_param prm;
	const char *err = NULL;

	while (p < end) {
		if (param_next(&p, end, true, &prm, &err) < 0)
			return false;
		if (is_param(&prm, "SMTPUTF8"))
			return true;
	}
	return false;
}

void
smtp_mail_args_deinit(struct smtp_mail_args *a)
{
	address_deinit(&a->from);
	free(a->envid);
	free(a->auth);
	memset(a, 0, sizeof(*a));
}

enum smtp_arg_error
smtp_mail_args_parse(const char *args, size_t len, unsigned exts,
    unsigned addr_flags, struct smtp_mail_args *out, const char **error_r)
{
	struct address probe;
	enum address_error ae;
	enum smtp_arg_error ret;
	const char *p, *end = args + len;
	size_t start, used = 0, used2 = 0;
	unsigned seen = 0;
	bool utf8;

	memset(out, 0, sizeof(*out));
	memset(&probe, 0, sizeof(probe));
	start = args_start(args, len, "FROM:", addr_flags,
	    "expected MAIL FROM:<address>", error_r);
	if (start == 0)
		return SMTP_ARG_SYNTAX;
	addr_flags |= ADDRESS_NULL_OK;

	/* Pass 1: where does the path end?  UTF-8 allowed for now. */
	ae = address_parse_path(args + start, len - start,
	    addr_flags | ADDRESS_SMTPUTF8, &probe, &used, error_r);
	address_deinit(&probe);
	if (ae != ADDRESS_OK)
		return address_error_map(ae);
	if (used > len - start)
		log_panic("smtp_command: address parser overran its input");

	/* The parameters, SMTPUTF8 first: it changes what is allowed. */
	p = args + start + used;
	utf8 = (exts & SMTP_EXT_SMTPUTF8) && mail_has_smtputf8(p, end);
	while (p < end) {
		struct esmtp_param prm;

		if (param_next(&p, end, utf8, &prm, error_r) < 0) {
			ret = SMTP_ARG_SYNTAX;
			goto fail;
		}
		ret = mail_param(&prm, exts, &seen, out, error_r);
		if (ret != SMTP_ARG_OK)
			goto fail;
	}

	/* Pass 2: the path with the flags in force. */
	if (out->smtputf8)
		addr_flags |= ADDRESS_SMTPUTF8;
	ae = address_parse_path(args + start, len - start, addr_flags,
	    &out->from, &used2, error_r);
	if (ae != ADDRESS_OK) {
		ret = address_error_map(ae);
		goto fail;
	}
	if (used2 != used) {
		/* Fewer flags cannot make a path longer or shorter. */
		*error_r = "bad address syntax";
		ret = SMTP_ARG_BAD_ADDRESS;
		goto fail;
	}
	return SMTP_ARG_OK;
fail:
	smtp_mail_args_deinit(out);
	return ret;
}

/* notify_parse - RFC 3461 4.1: "NEVER" or a list of the others. */
static int
notify_parse(const char *v, size_t len, unsigned *notify_r,
    const char **error_r)
{
	static const struct {
		const char *word;
		unsigned bit;
	} words[] = {
		{ "NEVER", SMTP_NOTIFY_NEVER },
		{ "SUCCESS", SMTP_NOTIFY_SUCCESS },
		{ "FAILURE", SMTP_NOTIFY_FAILURE },
		{ "DELAY", SMTP_NOTIFY_DELAY },
	};
	const char *p = v, *end = v + len;
	unsigned notify = 0;

	for (;;) {
		const char *item = p;
		unsigned bit = 0;

		while (p < end && *p != ',')
			p++;
		for (size_t i = 0; i < N_ELEMENTS(words); i++) {
			if (eq_nocase(item, (size_t)(p - item),
			    words[i].word))
				bit = words[i].bit;
		}
		if (bit == 0) {
			*error_r = "bad NOTIFY value";
			return -1;
		}
		if (notify & bit) {
			*error_r = "NOTIFY value given twice";
			return -1;
		}
		notify |= bit;
		if (p == end)
			break;
		p++;	/* ',' */
	}
	if ((notify & SMTP_NOTIFY_NEVER) && notify != SMTP_NOTIFY_NEVER) {
		*error_r = "NOTIFY=NEVER must stand alone";
		return -1;
	}
	*notify_r = notify;
	return 0;
}

/* is_atext - RFC 5322 3.2.3 atext (the ORCPT addr-type is an atom). */
static bool
is_atext(unsigned char c)
{
	return is_alpha(c) || is_digit(c) ||
	    (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* orcpt_parse - RFC 3461 4.2: addr-type ";" xtext, decoded. */
static char *
orcpt_parse(const char *v, size_t len, const char **error_r)
{
	const char *semi = memchr(v, ';', len);
	size_t type_len;
	char *addr, *res;

	if (semi == NULL || semi == v) {
		*error_r = "ORCPT needs addr-type;address";
		return NULL;
	}
	type_len = (size_t)(semi - v);
	for (size_t i = 0; i < type_len; i++) {
		if (!is_atext((unsigned char)v[i])) {
			*error_r = "bad ORCPT address type";
			return NULL;
		}
	}
	addr = smtp_xtext_decode(semi + 1, len - type_len - 1, error_r);
	if (addr == NULL)
		return NULL;
	if (*addr == '\0') {
		free(addr);
		*error_r = "empty ORCPT address";
		return NULL;
	}
	if (type_len + 1 + strlen(addr) > SMTP_ORCPT_MAX_BYTES) {
		free(addr);
		*error_r = "ORCPT too long";
		return NULL;
	}
	res = xasprintf("%.*s;%s", (int)type_len, v, addr);
	free(addr);
	return res;
}

/* rcpt_param - act on one RCPT parameter. */
static enum smtp_arg_error
rcpt_param(const struct esmtp_param *prm, unsigned exts, unsigned *seen,
    struct smtp_rcpt_args *out, const char **error_r)
{
	unsigned bit;

	if (is_param(prm, "NOTIFY") && (exts & SMTP_EXT_DSN))
		bit = SEEN_NOTIFY;
	else if (is_param(prm, "ORCPT") && (exts & SMTP_EXT_DSN))
		bit = SEEN_ORCPT;
	else {
		*error_r = E_UNKNOWN;
		return SMTP_ARG_UNKNOWN_PARAM;
	}
	if (*seen & bit) {
		*error_r = E_DUP;
		return SMTP_ARG_DUPLICATE;
	}
	*seen |= bit;
	if (prm->val == NULL) {
		*error_r = E_NEEDS_VALUE;
		return SMTP_ARG_SYNTAX;
	}
	if (bit == SEEN_NOTIFY) {
		if (notify_parse(prm->val, prm->val_len, &out->notify,
		    error_r) < 0)
			return SMTP_ARG_SYNTAX;
	} else {
		out->orcpt = orcpt_parse(prm->val, prm->val_len, error_r);
		if (out->orcpt == NULL)
			return SMTP_ARG_SYNTAX;
	}
	return SMTP_ARG_OK;
}

void
smtp_rcpt_args_deinit(struct smtp_rcpt_args *a)
{
	address_deinit(&a->to);
	free(a->orcpt);
	memset(a, 0, sizeof(*a));
}

enum smtp_arg_error
smtp_rcpt_args_parse(const char *args, size_t len, unsigned exts,
    unsigned addr_flags, struct smtp_rcpt_args *out, const char **error_r)
{
	enum address_error ae;
	enum smtp_arg_error ret;
	const char *p, *end = args + len;
	size_t start, used = 0;
	unsigned seen = 0;

	memset(out, 0, sizeof(*out));
	start = args_start(args, len, "TO:", addr_flags,
	    "expected RCPT TO:<address>", error_r);
	if (start == 0)
		return SMTP_ARG_SYNTAX;
	/* The null path is never a recipient. */
	addr_flags &= ~(unsigned)ADDRESS_NULL_OK;
	ae = address_parse_path(args + start, len - start, addr_flags,
	    &out->to, &used, error_r);
	if (ae != ADDRESS_OK) {
		smtp_rcpt_args_deinit(out);
		return address_error_map(ae);
	}
	if (used > len - start)
		log_panic("smtp_command: address parser overran its input");
	p = args + start + used;
	while (p < end) {
		struct esmtp_param prm;

		/* RFC 6531 3.3: UTF-8 values when MAIL had SMTPUTF8. */
		if (param_next(&p, end, (addr_flags & ADDRESS_SMTPUTF8) != 0,
		    &prm, error_r) < 0) {
			ret = SMTP_ARG_SYNTAX;
			goto fail;
		}
		ret = rcpt_param(&prm, exts, &seen, out, error_r);
		if (ret != SMTP_ARG_OK)
			goto fail;
	}
	return SMTP_ARG_OK;
fail:
	smtp_rcpt_args_deinit(out);
	return ret;
}

const char *
smtp_notify_text(unsigned n, char *out, size_t outsz)
{
	if (outsz == 0)
		return out;
	out[0] = '\0';
	if (n & SMTP_NOTIFY_NEVER)
		snprintf(out, outsz, "NEVER");
	else
		snprintf(out, outsz, "%s%s%s%s%s",
		    n & SMTP_NOTIFY_SUCCESS ? "SUCCESS" : "",
		    (n & SMTP_NOTIFY_SUCCESS) && (n & (SMTP_NOTIFY_FAILURE |
		    SMTP_NOTIFY_DELAY)) ? "," : "",
		    n & SMTP_NOTIFY_FAILURE ? "FAILURE" : "",
		    (n & SMTP_NOTIFY_FAILURE) && (n & SMTP_NOTIFY_DELAY) ?
		    "," : "", n & SMTP_NOTIFY_DELAY ? "DELAY" : "");
	return out;
}
