/* SPDX-License-Identifier: MIT */
/*
 * sendmail - what the sendmail command does to a message, without I/O
 * or privileges: its options, reading standard input (the lone dot,
 * line ends, the size limit), addresses (RFC 5322 address lists for -t
 * and command-line recipients, @$myorigin for bare names), and the
 * header block (recipients from To:/Cc:/Bcc:, Bcc: removed, From:,
 * Date:, Message-ID: added when missing).  src/cli/cmd_sendmail.c runs
 * it and drops the result into the maildrop (maildrop.h); pickup
 * (src/queue/pickup.c) uses the address and date helpers again on the
 * other side of the trust boundary.
 */
#ifndef OSTIA_SENDMAIL_H
#define OSTIA_SENDMAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "strv.h"

/* Recipients one submission may have (command line plus headers). */
#define SENDMAIL_RCPTS_MAX 10000
/* -F and the GECOS name are cut to this. */
#define SENDMAIL_FULLNAME_MAX_BYTES 256
/* RFC 3461 4.4: ENVID is at most 100 characters. */
#define SENDMAIL_ENVID_MAX_BYTES 100
/* RFC 3461 4.2: ORCPT (-bs) is at most 500 characters. */
#define SENDMAIL_ORCPT_MAX_BYTES 500
/* sendmail_date() output, with the NUL. */
#define SENDMAIL_DATE_BYTES 40

enum sendmail_mode {
	SENDMAIL_MODE_DELIVER,		/* -bm (default): read and queue */
	SENDMAIL_MODE_MAILQ,		/* -bp, mailq */
	SENDMAIL_MODE_NEWALIASES,	/* -bi, -I, newaliases */
	SENDMAIL_MODE_FLUSH,		/* -q, -qRsite, -qIid */
	SENDMAIL_MODE_SMTP,		/* -bs: SMTP on stdin (smtp_bs.h) */
	SENDMAIL_MODE_DAEMON,		/* -bd, -qINTERVAL (not supported) */
	SENDMAIL_MODE_VERIFY,		/* -bv */
};

struct sendmail_opts {
	enum sendmail_mode mode;
	bool extract;		/* -t */
	bool ignore_dots;	/* -i, -oi */
	bool verbose;		/* -v */
	const char *sender;	/* -f / -r as given; NULL: not given */
	const char *fullname;	/* -F; NULL: not given */
	char notify[32];	/* -N normalised ("NEVER", "SUCCESS,DELAY");
				 * "" when not given */
	const char *ret;	/* -R: "FULL", "HDRS" or NULL */
	const char *envid;	/* -V or NULL */
	const char *config_dir;	/* -C or NULL */
	const char *flush_site;	/* -qRsite or NULL */
	const char *flush_id;	/* -qIid or NULL */
	struct strv rcpts;	/* command-line recipients, one address each
				 * (address lists split, not checked yet) */
	struct strv warnings;	/* options accepted but ignored */
};

/*
 * Parse the command line (argv[0] is the program name and is skipped).
 * Options may be clustered ("-ti") and take their argument attached or
 * as the next word ("-fuser", "-f user"); recipients may come before,
 * between and after options; "--" ends the options.  Returns 0, or -1
 * with a message in err (a usage error: exit 64).  o must be released
 * with sendmail_opts_deinit() either way; o keeps pointers into argv.
 */
int sendmail_parse_args(int argc, char **argv, struct sendmail_opts *o,
    char *err, size_t errsz);
void sendmail_opts_deinit(struct sendmail_opts *o);

/*
 * Standard input, fed in pieces.  Lines end in LF or CRLF and become
 * CRLF; a last line without its end gets one.  Unless ignore_dots, a
 * line that is a lone "." ends the message (nothing after it is read).
 * A first line "From " (an mbox separator) is dropped.  At most
 * max_bytes bytes of message (0: no limit but memory).
 */
struct sendmail_input {
	struct buf msg;		/* the message so far, CRLF lines */
	struct buf line;	/* the line being read */
	bool ignore_dots;
	bool first_line;
	bool done;		/* a lone dot was read */
	size_t max_bytes;
};

void sendmail_input_init(struct sendmail_input *in, bool ignore_dots,
    size_t max_bytes);
void sendmail_input_deinit(struct sendmail_input *in);
/* 0: more wanted; 1: the lone dot ended the message (ignore the rest);
 * -1: the message passes max_bytes. */
int sendmail_input_feed(struct sendmail_input *in, const char *data,
    size_t len);
/* End of input: the last line.  0, or -1 past max_bytes. */
int sendmail_input_finish(struct sendmail_input *in);

/*
 * Append to out the addresses (addr-spec, as written, quotes kept) of
 * an RFC 5322 address list: display names, comments, angle brackets,
 * source routes and groups ("undisclosed-recipients:;") are handled,
 * empty members skipped.  0, or -1 with *error_r a static text (an
 * unbalanced quote, bracket or comment; a member that is not one
 * address).  Addresses are not checked further (sendmail_canon_address
 * does that).
 */
int sendmail_address_list(const char *s, size_t len, struct strv *out,
    const char **error_r);

/*
 * The envelope form of one address: angle brackets removed, "@myorigin"
 * added when there is no domain, then checked as an RFC 5321 path
 * (address.h; UTF-8 allowed).  With null_ok, "" and "<>" give "" (the
 * null sender).  Returns a new string, or NULL with *error_r static.
 */
char *sendmail_canon_address(const char *addr, const char *myorigin,
    bool null_ok, const char **error_r);

/* What sendmail_headers() needs to know. */
struct sendmail_header_params {
	bool extract;		/* -t */
	const char *from_addr;	/* for From:; "" = the null sender */
	const char *fullname;	/* for From:; NULL or "" = none */
	const char *myhostname;	/* Message-ID:, MAILER-DAEMON@ */
	const char *id;		/* Message-ID: */
	time_t now;		/* Date:, Message-ID: */
};

/*
 * Rewrite msg (CRLF lines, as sendmail_input left it) into out: the
 * header block without Bcc: and Resent-Bcc:, then Message-ID:, Date:
 * and From: for those the message lacks, then the rest.  A message
 * whose first line is not a header field has no header block: the
 * added fields and an empty line go before it.  With extract, the
 * addresses of To:, Cc: and Bcc: (of Resent-To:, Resent-Cc: and
 * Resent-Bcc: when the message has any) are appended to rcpts.
 * Returns 0, or -1 with *error_r (a header whose addresses do not
 * parse, more than SENDMAIL_RCPTS_MAX recipients, out too small).
 */
int sendmail_headers(const char *msg, size_t len,
    const struct sendmail_header_params *p, struct buf *out,
    struct strv *rcpts, const char **error_r);

/* The From: field value for addr and fullname ("Name <addr>", quoted or
 * RFC 2047 encoded as needed; control characters dropped).  Appends to
 * out; -1 when out is full. */
int sendmail_from_value(struct buf *out, const char *fullname,
    const char *addr);

/* RFC 5322 3.3 date-time of t ("Mon, 2 Sep 2024 10:11:12 +0200"),
 * local time when local, else UTC; English names. */
void sendmail_date(char out[SENDMAIL_DATE_BYTES], time_t t, bool local);

#endif
