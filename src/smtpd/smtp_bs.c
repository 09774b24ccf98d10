/* SPDX-License-Identifier: MIT */
/*
 * smtp_bs - the SMTP dialogue of `sendmail -bs` (smtp_bs.h).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "address.h"
#include "compat.h"
#include "smtp_bs.h"
#include "xalloc.h"

enum {
	BS_IDLE,	/* no transaction (also: a refused session) */
	BS_MAIL,	/* after MAIL */
	BS_DATA,	/* reading message text */
};

/* Room for the replies of one fed chunk of pipelined commands. */
#define SMTP_BS_OUT_MAX ((size_t)16 << 20)
/* The message text with no size limit set. */
#define SMTP_BS_MSG_UNLIMITED ((size_t)1 << 40)

static void
reply(struct smtp_bs *s, const char *fmt, ...) ATTR_FORMAT(2, 3);

/* reply - one reply line (CRLF added); 4xx and 5xx count as errors. */
static void
reply(struct smtp_bs *s, const char *fmt, ...)
{
	va_list ap;
	size_t start = s->out.len;

	va_start(ap, fmt);
	(void)buf_vappendf(&s->out, fmt, ap);
	va_end(ap);
	(void)buf_append(&s->out, "\r\n", 2);
	if (s->out.len > start && (s->out.data[start] == '4' ||
	    s->out.data[start] == '5'))
		s->errors++;
}

static void
txn_reset(struct smtp_bs *s)
{
	free(s->sender);
	s->sender = NULL;
	smtp_mail_args_deinit(&s->mail);
	memset(&s->mail, 0, sizeof(s->mail));
	for (size_t i = 0; i < s->nrcpts; i++) {
		free(s->rcpts[i]);
		free(s->orcpts[i]);
	}
	free(s->rcpts);
	free(s->notify);
	free(s->orcpts);
	s->rcpts = NULL;
	s->notify = NULL;
	s->orcpts = NULL;
	s->nrcpts = 0;
	buf_reset(&s->msg);
	s->too_big = false;
	s->state = BS_IDLE;
}

void
smtp_bs_init(struct smtp_bs *s, const struct smtp_bs_params *p)
{
	size_t msg_max = p->max_size == 0 || p->max_size >=
	    SMTP_BS_MSG_UNLIMITED ? SMTP_BS_MSG_UNLIMITED :
	    (size_t)p->max_size;

	memset(s, 0, sizeof(*s));
	s->p = *p;
	buf_init(&s->out, SMTP_BS_OUT_MAX);
	/* A text line may be as long as the message may be. */
	buf_init(&s->line, msg_max + SMTP_BS_LINE_MAX_BYTES);
	buf_init(&s->msg, msg_max);
	s->state = BS_IDLE;
	if (p->refuse_text != NULL)
		reply(s, "554 5.7.1 %s", p->refuse_text);
	else
		reply(s, "220 %s ESMTP %s", p->myhostname, p->mail_name);
	s->errors = 0;
}

void
smtp_bs_deinit(struct smtp_bs *s)
{
	txn_reset(s);
	buf_deinit(&s->out);
	buf_deinit(&s->line);
	buf_deinit(&s->msg);
}

void
smtp_bs_take_output(struct smtp_bs *s, struct buf *out)
{
	if (s->out.len > 0)
		(void)buf_append(out, s->out.data, s->out.len);
	buf_reset(&s->out);
}

/*
 * qualified - args of MAIL ("FROM:...") or RCPT ("TO:...") with
 * "@myorigin" added to a path that has no domain ("<root>", "root"),
 * or NULL when the path has one, is null ("<>") or cannot be found
 * (the parser then says what is wrong).
 */
static char *
qualified(const char *args, size_t len, const char *myorigin)
{
	const char *colon = memchr(args, ':', len);
	const char *p, *end = args + len, *stop;

	if (colon == NULL)
		return NULL;
	p = colon + 1;
	while (p < end && *p == ' ')
		p++;
	if (p < end && *p == '<') {
		p++;
		stop = memchr(p, '>', (size_t)(end - p));
		if (stop == NULL)
			return NULL;
	} else {
		stop = memchr(p, ' ', (size_t)(end - p));
		if (stop == NULL)
			stop = end;
	}
	if (stop == p || memchr(p, '@', (size_t)(stop - p)) != NULL ||
	    memchr(p, '"', (size_t)(stop - p)) != NULL)
		return NULL;
	return xasprintf("%.*s@%s%.*s", (int)(stop - args), args, myorigin,
	    (int)(end - stop), stop);
}

static void
do_ehlo(struct smtp_bs *s, bool ehlo, const struct smtp_command *c)
{
	if (c->args_len == 0) {
		reply(s, "501 5.5.4 Syntax: %s hostname", ehlo ? "EHLO" :
		    "HELO");
		return;
	}
	txn_reset(s);
	if (!ehlo) {
		reply(s, "250 %s", s->p.myhostname);
		return;
	}
	reply(s, "250-%s", s->p.myhostname);
	reply(s, "250-PIPELINING");
	if (s->p.max_size != 0)
		reply(s, "250-SIZE %llu", (unsigned long long)s->p.max_size);
	else
		reply(s, "250-SIZE");
	reply(s, "250-8BITMIME");
	reply(s, "250-ENHANCEDSTATUSCODES");
	reply(s, "250 DSN");
}

/* arg_error - the reply of a MAIL or RCPT argument error. */
static void
arg_error(struct smtp_bs *s, enum smtp_arg_error e, bool rcpt,
    const char *why)
{
	switch (e) {
	case SMTP_ARG_BAD_ADDRESS:
		reply(s, "501 5.1.%c Bad %s address syntax: %s", rcpt ? '3' :
		    '7', rcpt ? "recipient" : "sender", why);
		break;
	case SMTP_ARG_UTF8:
		reply(s, "553 5.6.7 %s", why);
		break;
	case SMTP_ARG_UNKNOWN_PARAM:
		reply(s, "555 5.5.4 %s", why);
		break;
	default:
		reply(s, "501 5.5.4 %s", why);
		break;
	}
}

static void
do_mail(struct smtp_bs *s, const struct smtp_command *c)
{
	const unsigned exts = SMTP_EXT_SIZE | SMTP_EXT_8BITMIME |
	    SMTP_EXT_DSN;
	const char *why = NULL;
	char *q;
	enum smtp_arg_error e;

	if (s->state != BS_IDLE) {
		reply(s, "503 5.5.1 Error: nested MAIL command");
		return;
	}
	q = qualified(c->args, c->args_len, s->p.myorigin);
	e = smtp_mail_args_parse(q != NULL ? q : c->args, q != NULL ?
	    strlen(q) : c->args_len, exts, 0, &s->mail, &why);
	free(q);
	if (e != SMTP_ARG_OK) {
		smtp_mail_args_deinit(&s->mail);
		memset(&s->mail, 0, sizeof(s->mail));
		arg_error(s, e, false, why);
		return;
	}
	if (s->mail.has_size && s->p.max_size != 0 &&
	    s->mail.size > s->p.max_size) {
		smtp_mail_args_deinit(&s->mail);
		memset(&s->mail, 0, sizeof(s->mail));
		reply(s, "552 5.3.4 Message size exceeds the limit of %llu "
		    "bytes", (unsigned long long)s->p.max_size);
		return;
	}
	s->state = BS_MAIL;
	if (s->p.forced_sender != NULL) {
		s->sender = xstrdup(s->p.forced_sender);
		if (strcasecmp(s->mail.from.text, s->sender) != 0) {
			reply(s, "250 2.1.0 Ok; the sender will be <%s>: "
			    "only root and mail_owner may choose it",
			    s->sender);
			return;
		}
	} else {
		s->sender = xstrdup(s->mail.from.text);
	}
	reply(s, "250 2.1.0 Ok");
}

static void
do_rcpt(struct smtp_bs *s, const struct smtp_command *c)
{
	struct smtp_rcpt_args ra;
	const char *why = NULL;
	char *q;
	enum smtp_arg_error e;

	if (s->state != BS_MAIL) {
		reply(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (s->p.max_rcpts != 0 && s->nrcpts >= s->p.max_rcpts) {
		reply(s, "452 4.5.3 Error: too many recipients");
		return;
	}
	memset(&ra, 0, sizeof(ra));
	q = qualified(c->args, c->args_len, s->p.myorigin);
	e = smtp_rcpt_args_parse(q != NULL ? q : c->args, q != NULL ?
	    strlen(q) : c->args_len, SMTP_EXT_DSN, 0, &ra, &why);
	free(q);
	if (e != SMTP_ARG_OK) {
		smtp_rcpt_args_deinit(&ra);
		arg_error(s, e, true, why);
		return;
	}
	s->rcpts = xreallocarray(s->rcpts, s->nrcpts + 1, sizeof(*s->rcpts));
	s->notify = xreallocarray(s->notify, s->nrcpts + 1,
	    sizeof(*s->notify));
	s->orcpts = xreallocarray(s->orcpts, s->nrcpts + 1,
	    sizeof(*s->orcpts));
	s->rcpts[s->nrcpts] = xstrdup(ra.to.text);
	s->notify[s->nrcpts] = ra.notify;
	s->orcpts[s->nrcpts] = ra.orcpt != NULL ? xstrdup(ra.orcpt) : NULL;
	s->nrcpts++;
	smtp_rcpt_args_deinit(&ra);
	reply(s, "250 2.1.5 Ok");
}

static void
do_data(struct smtp_bs *s, const struct smtp_command *c)
{
	if (c->args_len != 0) {
		reply(s, "501 5.5.4 Syntax: DATA");
		return;
	}
	if (s->state != BS_MAIL) {
		reply(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (s->nrcpts == 0) {
		reply(s, "503 5.5.1 Error: need RCPT command");
		return;
	}
	buf_reset(&s->msg);
	s->too_big = false;
	s->state = BS_DATA;
	reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

/* data_end - the message is complete: queue it, or say why not. */
static void
data_end(struct smtp_bs *s)
{
	struct smtp_bs_message m;
	struct buf r;

	if (s->too_big) {
		reply(s, "552 5.3.4 Message size exceeds the limit of %llu "
		    "bytes", (unsigned long long)s->p.max_size);
		txn_reset(s);
		return;
	}
	memset(&m, 0, sizeof(m));
	m.sender = s->sender;
	m.rcpts = (const char *const *)s->rcpts;
	m.notify = s->notify;
	m.orcpts = (const char *const *)s->orcpts;
	m.nrcpts = s->nrcpts;
	m.ret = s->mail.ret;
	m.envid = s->mail.envid;
	m.data = s->msg.data != NULL ? s->msg.data : "";
	m.len = s->msg.len;
	buf_init(&r, 4096);
	s->p.submit(s->p.ctx, &m, &r);
	if (r.len == 0)
		(void)buf_append_str(&r, "451 4.3.0 Error: the message was "
		    "not queued");
	reply(s, "%s", buf_cstr(&r));
	buf_deinit(&r);
	txn_reset(s);
}

/* text_line - one line of message text (CR and LF removed). */
static void
text_line(struct smtp_bs *s, const char *l, size_t n)
{
	if (n == 1 && l[0] == '.') {
		data_end(s);
		return;
	}
	if (n > 0 && l[0] == '.') {
		l++;
		n--;
	}
	if (s->too_big)
		return;
	if (buf_append(&s->msg, l, n) < 0 ||
	    buf_append(&s->msg, "\r\n", 2) < 0)
		s->too_big = true;
}

static void
command_line(struct smtp_bs *s, const char *l, size_t n)
{
	struct smtp_command c;

	if (memchr(l, '\0', n) != NULL || smtp_command_parse(l, n, &c) < 0) {
		reply(s, "500 5.5.2 Error: bad syntax");
		return;
	}
	if (s->p.refuse_text != NULL) {
		if (c.verb == SMTP_VERB_QUIT) {
			reply(s, "221 2.0.0 Bye");
			s->done = true;
		} else if (c.verb == SMTP_VERB_NOOP) {
			reply(s, "250 2.0.0 Ok");
		} else {
			reply(s, "554 5.7.1 %s", s->p.refuse_text);
		}
		return;
	}
	switch (c.verb) {
	case SMTP_VERB_HELO:
	case SMTP_VERB_EHLO:
		do_ehlo(s, c.verb == SMTP_VERB_EHLO, &c);
		break;
	case SMTP_VERB_MAIL:
		do_mail(s, &c);
		break;
	case SMTP_VERB_RCPT:
		do_rcpt(s, &c);
		break;
	case SMTP_VERB_DATA:
		do_data(s, &c);
		break;
	case SMTP_VERB_RSET:
		txn_reset(s);
		reply(s, "250 2.0.0 Ok");
		break;
	case SMTP_VERB_NOOP:
		reply(s, "250 2.0.0 Ok");
		break;
	case SMTP_VERB_VRFY:
		reply(s, "252 2.0.0 Not verified here: an address is checked "
		    "when mail to it is delivered");
		break;
	case SMTP_VERB_HELP:
		reply(s, "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET "
		    "NOOP VRFY HELP QUIT");
		break;
	case SMTP_VERB_QUIT:
		reply(s, "221 2.0.0 Bye");
		s->done = true;
		break;
	case SMTP_VERB_UNKNOWN:
		reply(s, "502 5.5.2 Error: command not recognized");
		break;
	default:
		reply(s, "502 5.5.1 Error: %s is not available in sendmail "
		    "-bs", smtp_verb_name(c.verb));
		break;
	}
}

/* one_line - a whole line (its LF removed, a CR before it too). */
static void
one_line(struct smtp_bs *s, const char *l, size_t n)
{
	if (n > 0 && l[n - 1] == '\r')
		n--;
	if (s->state == BS_DATA) {
		text_line(s, l, n);
		return;
	}
	if (s->line_too_long) {
		s->line_too_long = false;
		reply(s, "500 5.5.2 Error: line too long");
		return;
	}
	command_line(s, l, n);
}

static void
check_errors(struct smtp_bs *s)
{
	if (!s->done && s->p.error_limit != 0 &&
	    s->errors >= s->p.error_limit) {
		reply(s, "421 4.7.0 %s Error: too many errors",
		    s->p.myhostname);
		s->done = true;
	}
}

bool
smtp_bs_feed(struct smtp_bs *s, const char *data, size_t len)
{
	while (len > 0 && !s->done) {
		const char *lf = memchr(data, '\n', len);
		size_t n = lf != NULL ? (size_t)(lf - data) : len;
		size_t room = s->state == BS_DATA ? SIZE_MAX :
		    SMTP_BS_LINE_MAX_BYTES;

		/* Part of a line: kept unless a command grows too long
		 * (then dropped through its LF) or the text passes the
		 * message limit. */
		if (s->line_too_long) {
			/* discarding */
		} else if (s->line.len + n > room ||
		    buf_append(&s->line, data, n) < 0) {
			if (s->state == BS_DATA)
				s->too_big = true;
			s->line_too_long = true;
			buf_reset(&s->line);
		}
		if (lf == NULL)
			break;
		data += n + 1;
		len -= n + 1;
		if (s->line_too_long && s->state == BS_DATA) {
			/* A text line over the limit: the message is too
			 * big, but a "." still ends it. */
			s->line_too_long = false;
			continue;
		}
		one_line(s, s->line.data != NULL ? s->line.data : "",
		    s->line.len);
		buf_reset(&s->line);
		check_errors(s);
	}
	return !s->done;
}

void
smtp_bs_eof(struct smtp_bs *s)
{
	/* A last command without its LF still counts; text does not
	 * (the message was not ended by "."). */
	if (!s->done && s->state != BS_DATA && s->line.len > 0 &&
	    !s->line_too_long)
		one_line(s, s->line.data, s->line.len);
	buf_reset(&s->line);
	txn_reset(s);
	s->done = true;
}
