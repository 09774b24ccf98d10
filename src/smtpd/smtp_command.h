/* SPDX-License-Identifier: MIT */
/*
 * smtp_command - read SMTP command lines and parse commands and their
 * arguments.  No sockets: the session feeds bytes and acts on results,
 * so unit tests drive this directly (STYLE.md 2).
 *
 * Lines (RFC 5321 2.3.8, 4.1.1, 4.5.3.1.4): only CRLF ends a line.  A
 * line that contains a bare CR or bare LF is one bad line, reported and
 * discarded whole through its CRLF, never split into two commands
 * (SMTP smuggling defence).  A line longer than the limit (512 octets
 * with CRLF) is discarded through its CRLF and reported once.  A NUL
 * byte makes the whole line bad.
 *
 * Commands (RFC 5321 4.1.1): the verb is case-insensitive and is
 * followed by one space and arguments, or by the end of the line.
 * MAIL FROM and RCPT TO arguments, with their ESMTP parameters: SIZE
 * (RFC 1870), BODY (RFC 6152, RFC 3030 BINARYMIME), SMTPUTF8 (RFC
 * 6531), RET, ENVID, NOTIFY, ORCPT (RFC 3461, xtext decoded), AUTH (RFC
 * 4954).  A parameter whose extension is off is unknown (555 5.5.4).
 */
#ifndef OSTIA_SMTP_COMMAND_H
#define OSTIA_SMTP_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "address.h"
#include "buf.h"

/* RFC 5321 4.5.3.1.4: a command line is at most 512 octets with CRLF. */
#define SMTP_COMMAND_LINE_MAX_BYTES 512
/* RFC 3461 4.4: ENVID at most 100 characters; ORCPT at most 500. */
#define SMTP_ENVID_MAX_BYTES 100
#define SMTP_ORCPT_MAX_BYTES 500

enum smtp_line_status {
	SMTP_LINE_NEED_MORE,	/* all input taken, no complete line yet */
	SMTP_LINE_OK,		/* a line: *line_r, *line_len_r (no CRLF) */
	SMTP_LINE_TOO_LONG,	/* an over-long line was discarded */
	SMTP_LINE_BARE_NEWLINE,	/* a line with a bare CR or LF was discarded */
	SMTP_LINE_NUL,		/* a line with a NUL byte was discarded */
};

struct smtp_line_reader {
	struct buf line;	/* the line so far, without CRLF */
	size_t max;		/* with CRLF */
	bool cr;		/* last byte taken was CR */
	bool too_long;
	bool bare;
	bool nul;
};

/* max: longest line with its CRLF (SMTP_COMMAND_LINE_MAX_BYTES). */
void smtp_line_reader_init(struct smtp_line_reader *r, size_t max);
void smtp_line_reader_deinit(struct smtp_line_reader *r);
/*
 * Take bytes from data until one line is complete (or the data ends).
 * *consumed_r says how many bytes were taken; call again with the rest.
 * A returned line (*line_r, valid until the next call, NUL-terminated)
 * excludes the CRLF.  Whatever the split of the input, the sequence of
 * results is the same.
 */
enum smtp_line_status smtp_line_read(struct smtp_line_reader *r,
    const char *data, size_t len, size_t *consumed_r, const char **line_r,
    size_t *line_len_r);
/* Bytes of an incomplete line held now (pipelining checks). */
size_t smtp_line_reader_pending(const struct smtp_line_reader *r);

enum smtp_verb {
	SMTP_VERB_UNKNOWN,
	SMTP_VERB_HELO,
	SMTP_VERB_EHLO,
	SMTP_VERB_MAIL,
	SMTP_VERB_RCPT,
	SMTP_VERB_DATA,
	SMTP_VERB_BDAT,
	SMTP_VERB_RSET,
	SMTP_VERB_NOOP,
	SMTP_VERB_QUIT,
	SMTP_VERB_VRFY,
	SMTP_VERB_EXPN,
	SMTP_VERB_HELP,
	SMTP_VERB_STARTTLS,
	SMTP_VERB_AUTH,
	SMTP_VERB_XCLIENT,
	SMTP_VERB_XFORWARD,
	SMTP_VERB__COUNT,
};

struct smtp_command {
	enum smtp_verb verb;
	const char *args;	/* into the line: after the verb and one SP */
	size_t args_len;
};

/*
 * Split a line into verb and arguments.  Returns 0, or -1 when the line
 * is empty or the verb is not followed by SP or the end of the line (the
 * verb is then SMTP_VERB_UNKNOWN).  Unknown verbs return 0 with
 * SMTP_VERB_UNKNOWN.
 */
int smtp_command_parse(const char *line, size_t len,
    struct smtp_command *cmd);
/* "MAIL", "RCPT", ...; "UNKNOWN" for SMTP_VERB_UNKNOWN. */
const char *smtp_verb_name(enum smtp_verb verb);
/* Lower-case name for Postfix-style counters ("ehlo=1 mail=1"). */
const char *smtp_verb_counter_name(enum smtp_verb verb);

/* Extensions in force, deciding which parameters exist. */
enum smtp_ext {
	SMTP_EXT_SIZE = 1 << 0,
	SMTP_EXT_8BITMIME = 1 << 1,
	SMTP_EXT_SMTPUTF8 = 1 << 2,
	SMTP_EXT_DSN = 1 << 3,
	SMTP_EXT_CHUNKING = 1 << 4,	/* BODY=BINARYMIME */
	SMTP_EXT_AUTH = 1 << 5,
};

enum smtp_body {
	SMTP_BODY_NONE,		/* not given */
	SMTP_BODY_7BIT,
	SMTP_BODY_8BITMIME,
	SMTP_BODY_BINARYMIME,
};

enum smtp_ret {
	SMTP_RET_NONE,
	SMTP_RET_FULL,
	SMTP_RET_HDRS,
};

/* RFC 3461 4.1 NOTIFY values. */
enum smtp_notify {
	SMTP_NOTIFY_NEVER = 1 << 0,
	SMTP_NOTIFY_SUCCESS = 1 << 1,
	SMTP_NOTIFY_FAILURE = 1 << 2,
	SMTP_NOTIFY_DELAY = 1 << 3,
};

enum smtp_arg_error {
	SMTP_ARG_OK = 0,
	SMTP_ARG_SYNTAX,	/* 501 5.5.4: "FROM:" missing, junk, bad value */
	SMTP_ARG_BAD_ADDRESS,	/* 501 5.1.7 (MAIL) / 5.1.3 (RCPT) */
	SMTP_ARG_UTF8,		/* 553 5.6.7: UTF-8 address without SMTPUTF8 */
	SMTP_ARG_UNKNOWN_PARAM,	/* 555 5.5.4: unknown or disabled parameter */
	SMTP_ARG_DUPLICATE,	/* 501 5.5.4: a parameter given twice */
};

struct smtp_mail_args {
	struct address from;
	bool has_size;
	uint64_t size;
	enum smtp_body body;
	bool smtputf8;
	enum smtp_ret ret;
	char *envid;	/* xtext-decoded, NULL if not given */
	char *auth;	/* AUTH= value as given (xtext-decoded), or NULL */
};

struct smtp_rcpt_args {
	struct address to;
	unsigned notify;	/* enum smtp_notify bits, 0 if not given */
	char *orcpt;		/* "addr-type;decoded-address", or NULL */
};

/*
 * Parse the arguments of MAIL ("FROM:<path> [params]"), with exts the
 * extensions in force and addr_flags for address_parse_path; this
 * function adds ADDRESS_NULL_OK, and ADDRESS_SMTPUTF8 when the SMTPUTF8
 * parameter is present and allowed (the parameters are read before the
 * address is checked).  On failure *error_r
 * is a static text for the reply.  out is filled on success and must be
 * freed with smtp_mail_args_deinit (also safe after a failure).
 */
enum smtp_arg_error smtp_mail_args_parse(const char *args, size_t len,
    unsigned exts, unsigned addr_flags, struct smtp_mail_args *out,
    const char **error_r);
void smtp_mail_args_deinit(struct smtp_mail_args *a);

/* Same for RCPT ("TO:<path> [params]"); addr_flags should include
 * ADDRESS_SMTPUTF8 when the transaction's MAIL had SMTPUTF8. */
enum smtp_arg_error smtp_rcpt_args_parse(const char *args, size_t len,
    unsigned exts, unsigned addr_flags, struct smtp_rcpt_args *out,
    const char **error_r);
void smtp_rcpt_args_deinit(struct smtp_rcpt_args *a);

/*
 * The queue file's NOTIFY text of n (enum smtp_notify bits): "NEVER",
 * or "SUCCESS", "FAILURE", "DELAY" joined by commas in that order; ""
 * for 0.  Written into out (outsz >= 32 holds every value); returns out.
 */
const char *smtp_notify_text(unsigned n, char *out, size_t outsz);

/*
 * Decode RFC 3461 4 xtext ("+2B" for '+').  Returns a new string, or
 * NULL (bad "+XX", or a decoded byte outside 33..126 other than
 * allowed ones) with *error_r.
 */
char *smtp_xtext_decode(const char *s, size_t len, const char **error_r);
/* Encode for storage/relay: '+', '=' and bytes outside 33..126 as +XX.
 * New string. */
char *smtp_xtext_encode(const char *s);

#endif
