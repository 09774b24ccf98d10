/* SPDX-License-Identifier: MIT */
/*
 * pipe_argv - the master.cf arguments of a pipe service (Postfix
 * pipe(8)) and the expansion of the command's macros per delivery.
 *
 *   pipe flags=DRhu user=vmail[:mail] size=N eol=\r\n null_sender=X
 *        directory=/path argv=/usr/bin/cmd -a ${recipient} ...
 *
 * argv= must come last: it and every word after it are the command
 * (the first word, after "argv=", is an absolute path; no macros
 * there).  Each other attribute may be given once.  Macros in the
 * command's arguments: ${name}, $name and $(name); "$$" is a dollar
 * sign.  Names: sender, recipient, original_recipient, user, extension,
 * mailbox, domain (per recipient), nexthop, queue_id, size,
 * client_address, client_hostname, client_helo, client_protocol,
 * client_port, sasl_method, sasl_sender, sasl_username.  An unknown
 * name, a lone '$' or an unterminated "${" is a configuration error
 * found when the arguments are parsed.  Conditional forms
 * (${name?text}, ${name:text}) are not supported (an error that says
 * so).
 *
 * Pure text processing: no files, users or processes here.
 */
#ifndef OSTIA_PIPE_ARGV_H
#define OSTIA_PIPE_ARGV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* flags= letters. */
#define PIPE_F_BLANK	(1u << 0)	/* B: a blank line at the end */
#define PIPE_F_DELIVERED (1u << 1)	/* D: Delivered-To: recipient */
#define PIPE_F_FROM	(1u << 2)	/* F: "From sender date" line */
#define PIPE_F_ORIG	(1u << 3)	/* O: X-Original-To: recipient */
#define PIPE_F_RETURN	(1u << 4)	/* R: Return-Path: <sender> */
#define PIPE_F_FINAL	(1u << 5)	/* X: final delivery (no effect) */
#define PIPE_F_LOWER_HOST (1u << 6)	/* h: fold domains to lower case */
#define PIPE_F_QUOTE	(1u << 7)	/* q: quote address localparts */
#define PIPE_F_LOWER_USER (1u << 8)	/* u: fold localparts to lower case */
#define PIPE_F_DOT	(1u << 9)	/* .: dot-stuff lines starting "." */
#define PIPE_F_FROM_ESC	(1u << 10)	/* >: ">" before lines "From " */

/* Longest eol= value after unescaping. */
#define PIPE_EOL_MAX 16
/* Most words in argv= (the command and its arguments). */
#define PIPE_ARGV_MAX 256
/* Longest argument after expansion. */
#define PIPE_ARG_EXPANDED_MAX (64 * 1024)

struct pipe_args {
	unsigned flags;			/* PIPE_F_* */
	char *user;			/* user= name (required) */
	char *group;			/* its ":group", NULL when not given */
	char **argv;			/* the command, unexpanded; NULL-
					 * terminated, argv[0] absolute */
	size_t argc;
	uint64_t size_limit;		/* size=, 0 = none */
	char eol[PIPE_EOL_MAX];		/* eol=, default "\n" */
	size_t eol_len;
	char *null_sender;		/* null_sender=, default MAILER-DAEMON */
	char *directory;		/* directory=, NULL = "/" */
	bool per_rcpt;			/* argv uses a per-recipient macro */
};

/*
 * Parse the master.cf arguments (NULL-terminated, NULL = none).  0 with
 * *pa filled (free with pipe_args_deinit), or -1 with *error_r (caller
 * frees): what is wrong and how it should look; *pa needs no deinit
 * then (but may be deinit'ed).
 */
int pipe_args_parse(char *const *args, struct pipe_args *pa,
    char **error_r);
void pipe_args_deinit(struct pipe_args *pa);

/* The parts of pipe_args_parse, for tests.  flags= letters: */
int pipe_flags_parse(const char *s, unsigned *flags_r, char **error_r);
/* eol= text with C escapes (\a \b \f \n \r \t \v \\ \ooo) to bytes:
 * at most PIPE_EOL_MAX, not empty, no NUL. */
int pipe_eol_parse(const char *s, char *eol, size_t *len_r,
    char **error_r);
/* Check the macros of one argument: 0 (with *per_rcpt_r set true when
 * it uses a per-recipient macro, else left as is), or -1 with
 * *error_r. */
int pipe_arg_check(const char *arg, bool *per_rcpt_r, char **error_r);

/* The values of one expansion.  NULL strings expand to "". */
struct pipe_macros {
	const char *sender;		/* "" = the null sender */
	const char *recipient;		/* NULL for a process serving
					 * several recipients */
	const char *original_recipient;
	const char *nexthop;
	const char *queue_id;
	const char *client_address;
	const char *client_hostname;
	const char *client_helo;
	const char *client_protocol;
	const char *sasl_username;
	const char *delimiters;		/* recipient_delimiter */
	uint64_t size;
};

/*
 * Expand pa->argv with m (h, u and q flags applied as pipe(8) says; the
 * null sender becomes pa->null_sender).  A new NULL-terminated vector
 * (strv_free), or NULL with *error_r (caller frees) when an argument
 * would pass PIPE_ARG_EXPANDED_MAX.
 */
char **pipe_argv_expand(const struct pipe_args *pa,
    const struct pipe_macros *m, char **error_r);

/*
 * The parts of an address as the macros see them: domain after the last
 * '@' ("" without one), mailbox the whole localpart, user the localpart
 * before the recipient delimiter, extension after it ("" when none).
 * New strings (caller frees each).
 */
void pipe_address_parts(const char *address, const char *delimiters,
    char **user_r, char **extension_r, char **mailbox_r, char **domain_r);

/* address with its localpart quoted when it needs it (RFC 5322
 * quoted-string, 8-bit transparent); caller frees. */
char *pipe_quote_address(const char *address);

#endif
