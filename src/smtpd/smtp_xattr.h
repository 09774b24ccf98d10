/* SPDX-License-Identifier: MIT */
/*
 * smtp_xattr - the arguments of XCLIENT and XFORWARD, Postfix's two SMTP
 * extensions through which a trusted client passes facts about another
 * client: a proxy (XCLIENT: "treat this session as coming from that
 * client") or a content filter re-injecting mail (XFORWARD: "the next
 * message came from that client").  No sockets and no session: the
 * smtpd side (smtpd_xclient.h) calls this on a command's arguments.
 *
 * Syntax: one or more "NAME=value" separated by spaces; names in any
 * case; values xtext (RFC 3461 4: "+XX" escapes), decoded here.  Each
 * value may also be "[UNAVAILABLE]", and NAME and REVERSE_NAME may be
 * "[TEMPUNAVAIL]" (the lookup failed for now).
 *
 * Attributes (which command takes which: smtp_xattr_allowed()):
 *   NAME, REVERSE_NAME  host names (letters, digits, '-', '_', '.')
 *   ADDR, DESTADDR      IPv4 or IPv6, the latter with or without the
 *                       "IPV6:" prefix; stored in inet_ntop() form
 *   PORT, DESTPORT      0..65535
 *   PROTO               XCLIENT: SMTP or ESMTP; XFORWARD: a protocol
 *                       name of letters and digits (ESMTPSA, LMTP...)
 *   HELO                printable ASCII without spaces
 *   LOGIN               a SASL login name, printable ASCII
 *   IDENT               the queue ID at the previous hop (letters,
 *                       digits, '.', '-', '_')
 *   SOURCE              LOCAL or REMOTE
 * Anything else, a value too long (SMTP_XATTR_VALUE_MAX), a value with
 * a control character after decoding, or an attribute given twice is an
 * error with a reason for the 501 reply.
 */
#ifndef OSTIA_SMTP_XATTR_H
#define OSTIA_SMTP_XATTR_H

#include <stdbool.h>
#include <stddef.h>

/* Longest decoded value kept (a DNS name, a HELO name or a login). */
#define SMTP_XATTR_VALUE_MAX 320

enum smtp_xattr_cmd {
	SMTP_XCLIENT,
	SMTP_XFORWARD,
};

enum smtp_xattr_id {
	XATTR_NAME,
	XATTR_REVERSE_NAME,
	XATTR_ADDR,
	XATTR_PORT,
	XATTR_PROTO,
	XATTR_HELO,
	XATTR_LOGIN,
	XATTR_DESTADDR,
	XATTR_DESTPORT,
	XATTR_IDENT,
	XATTR_SOURCE,
	XATTR__COUNT,
};

enum smtp_xattr_state {
	XATTR_ABSENT,		/* not given */
	XATTR_SET,		/* value in val[] */
	XATTR_UNAVAILABLE,	/* "[UNAVAILABLE]" */
	XATTR_TEMPUNAVAIL,	/* "[TEMPUNAVAIL]" (NAME, REVERSE_NAME) */
};

struct smtp_xattrs {
	enum smtp_xattr_state st[XATTR__COUNT];
	char val[XATTR__COUNT][SMTP_XATTR_VALUE_MAX + 1];
};

/* "NAME", "ADDR", ... */
const char *smtp_xattr_name(enum smtp_xattr_id id);
/* Does cmd take attribute id? */
bool smtp_xattr_allowed(enum smtp_xattr_cmd cmd, enum smtp_xattr_id id);
/*
 * The attribute names cmd takes, space-separated, for the EHLO keyword
 * ("XCLIENT NAME ADDR ..."); a static string.
 */
const char *smtp_xattr_keywords(enum smtp_xattr_cmd cmd);

/*
 * Parse the arguments (args, len bytes, no CRLF) of cmd into *out
 * (cleared first).  Returns 0, or -1 with a static reason in *error_r
 * ("unknown attribute", ...) and *name_r pointing at the attribute that
 * failed (into args, *name_len_r bytes; 0 when the whole line is bad).
 * *out is then cleared again.
 */
int smtp_xattr_parse(enum smtp_xattr_cmd cmd, const char *args, size_t len,
    struct smtp_xattrs *out, const char **error_r, const char **name_r,
    size_t *name_len_r);

#endif
