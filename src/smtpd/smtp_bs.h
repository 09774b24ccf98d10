/* SPDX-License-Identifier: MIT */
/*
 * smtp_bs - the SMTP dialogue of `sendmail -bs`: a local program speaks
 * SMTP on the sendmail command's standard input and output instead of
 * connecting to port 25 (PHP mailers and Symfony Mailer do this by
 * default).  No I/O here: the command feeds the bytes it reads, writes
 * what smtp_bs_take_output() gives, and each finished message goes to
 * a callback, which queues it (as the sendmail command queues the
 * message of -bm) and chooses the reply.
 *
 * Input: a pipe from a program on this machine, so a line ends in LF
 * (CRLF as well: the CR is dropped), as Postfix's sendmail -bs takes
 * it.  Commands: HELO, EHLO (PIPELINING, SIZE, 8BITMIME,
 * ENHANCEDSTATUSCODES, DSN), MAIL, RCPT, DATA, RSET, NOOP, VRFY (252:
 * nothing is verified), HELP, QUIT; other verbs get 502 5.5.1.  MAIL
 * and RCPT take SIZE, BODY, RET, ENVID, NOTIFY and ORCPT
 * (smtp_command.h); an address without a domain gets @$myorigin, as
 * the sendmail command's recipients do.  HELO is not required.
 *
 * Bounds: a command line of at most SMTP_BS_LINE_MAX_BYTES (longer:
 * 500 5.5.2, the line discarded), recipients at most max_rcpts (452
 * 4.5.3), message text at most max_size bytes (552 5.3.4 at its end,
 * nothing queued; SIZE= over it: 552 at MAIL), and error_limit errors
 * (then 421 and the end).  Message text: a line "." ends it, a leading
 * dot of any other line is removed (RFC 5321 4.5.2), every line is
 * stored with CRLF.
 *
 * A session refused at the start (refuse_text set: the user may not
 * submit mail) is greeted with 554 and answers only QUIT and NOOP.
 */
#ifndef OSTIA_SMTP_BS_H
#define OSTIA_SMTP_BS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "smtp_command.h"

#define SMTP_BS_LINE_MAX_BYTES 2048

/* One message, as the callback gets it (valid during the call). */
struct smtp_bs_message {
	const char *sender;	/* "" for the null sender; forced_sender
				 * when that was set */
	const char *const *rcpts;	/* nrcpts addresses, with domains */
	const unsigned *notify;	/* per recipient, smtp_notify bits or 0 */
	const char *const *orcpts;	/* per recipient, NULL or "type;addr" */
	size_t nrcpts;
	enum smtp_ret ret;
	const char *envid;	/* NULL when not given */
	const char *data;	/* the message, CRLF lines, dots removed */
	size_t len;
};

/*
 * Queue m and append the whole reply line to reply, without CRLF
 * ("250 2.0.0 Ok: queued as ID", or a 4xx/5xx with the reason).
 */
typedef void smtp_bs_submit_fn(void *ctx, const struct smtp_bs_message *m,
    struct buf *reply);

struct smtp_bs_params {
	const char *myhostname;	/* greeting, EHLO */
	const char *mail_name;	/* greeting */
	const char *myorigin;	/* the domain of bare names */
	const char *forced_sender;	/* NULL: MAIL FROM decides; else every
					 * message has this sender */
	const char *refuse_text;	/* NULL, or why the session is refused
					 * (a 554 greeting) */
	uint64_t max_size;	/* 0: no limit */
	size_t max_rcpts;	/* 0: no limit */
	unsigned error_limit;	/* 0: no limit */
	smtp_bs_submit_fn *submit;
	void *ctx;
};

struct smtp_bs {
	struct smtp_bs_params p;
	struct buf out;		/* replies not yet taken */
	struct buf line;	/* the command or text line so far */
	struct buf msg;		/* message text so far */
	bool line_too_long;
	int state;		/* private */
	bool done;		/* QUIT, or the error limit: stop reading */
	unsigned errors;
	bool too_big;
	char *sender;
	struct smtp_mail_args mail;
	char **rcpts;
	unsigned *notify;
	char **orcpts;
	size_t nrcpts;
};

/* The greeting is in the output at once. */
void smtp_bs_init(struct smtp_bs *s, const struct smtp_bs_params *p);
void smtp_bs_deinit(struct smtp_bs *s);
/*
 * Take input bytes (any split).  Returns true while more input is
 * wanted; false once the session is over (QUIT, the error limit, a
 * refused session's QUIT): the rest of the input is not read.
 */
bool smtp_bs_feed(struct smtp_bs *s, const char *data, size_t len);
/* The end of the input: a message not finished is dropped. */
void smtp_bs_eof(struct smtp_bs *s);
/* The replies produced so far (moved into out, which is appended to). */
void smtp_bs_take_output(struct smtp_bs *s, struct buf *out);

#endif
