/* SPDX-License-Identifier: MIT */
/*
 * address - parse and check RFC 5321 envelope addresses.
 *
 * The one module that reads the path of MAIL FROM: and RCPT TO:
 * (RFC 5321 4.1.2): "<" [ A-d-l ":" ] Mailbox ">" or "<>", where Mailbox
 * is Local-part "@" ( Domain / address-literal ).  Local-part is a
 * Dot-string or a Quoted-string (RFC 5321 4.1.2); with SMTPUTF8
 * (RFC 6531 3.3) UTF-8 is also allowed in both parts, and only then.
 * A source route ("@a,@b:") is accepted and dropped (RFC 5321 4.1.1.3,
 * C).  Without ADDRESS_STRICT (strict_rfc821_envelopes = no) an address
 * without the angle brackets is accepted too, as Postfix does.
 *
 * Nothing is rewritten: '%' (allow_percent_hack) and '!' (swap_bangpath)
 * stay in the local part for the routing layer.  No I/O; used by smtpd,
 * later by the routing layer and the sendmail command.
 */
#ifndef OSTIA_ADDRESS_H
#define OSTIA_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>

/* RFC 5321 4.5.3.1: 64-octet local part, 255-octet domain, 256-octet
 * path including the angle brackets. */
#define ADDRESS_LOCAL_MAX_BYTES 64
#define ADDRESS_DOMAIN_MAX_BYTES 255
#define ADDRESS_PATH_MAX_BYTES 256

enum address_flags {
	ADDRESS_SMTPUTF8 = 1 << 0,	/* UTF-8 allowed (MAIL ... SMTPUTF8) */
	ADDRESS_NULL_OK = 1 << 1,	/* "<>" allowed (MAIL FROM) */
	ADDRESS_STRICT = 1 << 2,	/* angle brackets required */
	ADDRESS_POSTMASTER_OK = 1 << 3,	/* "<Postmaster>" without domain
					 * (RCPT TO, RFC 5321 4.5.1) */
};

enum address_error {
	ADDRESS_OK = 0,
	ADDRESS_ERR_SYNTAX,	/* not an address: 501 */
	ADDRESS_ERR_TOO_LONG,	/* over a length limit: 501 */
	ADDRESS_ERR_UTF8,	/* UTF-8 without SMTPUTF8: 553 5.6.7 */
	ADDRESS_ERR_NULL,	/* "<>" where not allowed: 501 */
};

struct address {
	char *local;	/* as written, quotes kept ("\"a b\""); NULL for <> */
	char *domain;	/* as written, [literal] kept; NULL for <> and bare
			 * postmaster */
	char *text;	/* local@domain, "" for <>, "Postmaster" alone */
	bool is_null;
	bool has_utf8;	/* some byte >= 0x80 */
	bool is_literal;	/* domain is an address literal */
};

/*
 * Parse a path at the start of s (len bytes, not NUL-terminated),
 * e.g. the text after "MAIL FROM:".  Leading spaces are skipped (as
 * Postfix does) unless ADDRESS_STRICT.  On success *consumed_r is the
 * number of bytes used (the ESMTP parameters, if any, follow) and a is
 * filled (free with address_deinit).  On failure returns the error and
 * *error_r a static text in plain words for the SMTP reply ("missing
 * '>'", "the domain part has an empty label", ...); a is left empty.
 */
enum address_error address_parse_path(const char *s, size_t len,
    unsigned flags, struct address *a, size_t *consumed_r,
    const char **error_r);
void address_deinit(struct address *a);

/* True if domain is a syntactically valid host name (LDH labels, or
 * UTF-8 labels when utf8) or address literal ([1.2.3.4], [IPv6:...]). */
bool address_domain_is_valid(const char *domain, bool utf8);

/*
 * address_qualify - addr as it is when it has a domain (or domain is
 * empty), else addr@domain: how the mail system addresses its own
 * messages to a bare name such as "postmaster" (domain: $myorigin, as
 * Postfix's cleanup does) or sends from one ("double-bounce",
 * $myhostname).  A new string.
 */
char *address_qualify(const char *addr, const char *domain);

/*
 * address_setting - the one address a parameter such as always_bcc
 * names: value with optional angle brackets, a bare name qualified with
 * @domain (address_qualify), checked as an RFC 5321 mailbox (UTF-8
 * allowed).  A new string, or NULL with *error_r (static words) when it
 * is empty, several addresses or not an address.
 */
char *address_setting(const char *value, const char *domain,
    const char **error_r);

#endif
