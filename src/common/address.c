/* SPDX-License-Identifier: MIT */
/*
 * address - parse and check RFC 5321 envelope addresses; see address.h.
 *
 * Pure parsing: no I/O, no privileges, no global state.  Used by smtpd
 * on MAIL FROM: and RCPT TO:, later by routing and the sendmail command.
 *
 * Grammar (RFC 5321 4.1.2, with the RFC 6531 3.3 extensions when
 * ADDRESS_SMTPUTF8 is given):
 *
 *   Path       = "<" [ A-d-l ":" ] Mailbox ">"    (or "<>", "<Postmaster>")
 *   A-d-l      = At-domain *( "," At-domain )     (parsed, then dropped)
 *   Mailbox    = Local-part "@" ( Domain / address-literal )
 *   Local-part = Dot-string / Quoted-string
 *   Domain     = sub-domain *( "." sub-domain )   (LDH, or U-labels)
 *
 * The parser is a single left-to-right scan that never reads past len
 * and decides everything from the bytes up to the end of the path ('>',
 * or for an address without brackets the first space or the end), so
 * what follows the path (ESMTP parameters) cannot change the result.
 *
 * Limits (RFC 5321 4.5.3.1): local part 64 octets, domain 255 octets,
 * whole path 256 octets with its brackets (a path given without brackets
 * is counted as if it had them, so "<" text ">" is always within the
 * limit again).  Labels are limited to 63 octets (RFC 1035 2.3.4); for a
 * U-label this counts UTF-8 octets, not the length of its A-label.
 *
 * Known limits: an IPv4 literal is checked with inet_pton(), which
 * refuses leading zeros ("[01.2.3.4]") that the RFC 5321 Snum allows; a
 * General-address-literal is checked for syntax only, its tag is not
 * looked up in the IANA registry.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "address.h"
#include "xalloc.h"

/* Longest label of a host name (RFC 1035 2.3.4). */
#define ADDRESS_LABEL_MAX_BYTES 63
/* Room for the text of an IP address literal handed to inet_pton(). */
#define ADDRESS_LITERAL_IP_MAX_BYTES 64

#define E_EMPTY "no address given"
#define E_NEED_BRACKETS \
	"the address must be in angle brackets <...> (strict_rfc821_envelopes)"
#define E_NO_CLOSE "missing '>' at the end of the address"
#define E_NULL "the null address <> is not allowed here"
#define E_NO_AT "the address has no '@' and domain"
#define E_TWO_AT "the address has more than one '@' outside quotes"
#define E_SPACE "spaces are not allowed in an address (outside quotes)"
#define E_CTRL "control characters are not allowed in an address"
#define E_ANGLE "'<' or '>' is not allowed inside an address"
#define E_ROUTE "a source route (@host,@host:) must end with ':'"
#define E_ROUTE_AT "each host of a source route must start with '@'"
#define E_UTF8_NEEDED \
	"the address contains non-ASCII characters: SMTPUTF8 is needed"
#define E_UTF8_BAD "the address is not valid UTF-8"
#define E_LOCAL_EMPTY "the local part (before '@') is empty"
#define E_LOCAL_CHAR "the local part contains a character that is not " \
	"allowed without quotes"
#define E_LOCAL_DOT_START "the local part starts with a dot"
#define E_LOCAL_DOT_END "the local part ends with a dot"
#define E_LOCAL_DOTS "the local part has two dots in a row"
#define E_QUOTE_OPEN "the quoted local part has no closing quote"
#define E_AFTER_QUOTE "the closing quote of the local part must be " \
	"followed by '@'"
#define E_BACKSLASH "a backslash in quotes must be followed by a " \
	"printable ASCII character"
#define E_DOMAIN_EMPTY "the domain part (after '@') is empty"
#define E_DOMAIN_CHAR "the domain part contains a character that is not " \
	"allowed"
#define E_DOMAIN_DOT_END "the domain part ends with a dot"
#define E_LABEL_EMPTY "the domain part has an empty label"
#define E_LABEL_HYPHEN "a label of the domain part starts or ends with " \
	"a hyphen"
#define E_LABEL_LONG "a label of the domain part is longer than 63 octets"
#define E_LITERAL_OPEN "the address literal has no closing ']'"
#define E_LITERAL_CHAR "the address literal contains a character that " \
	"is not allowed"
#define E_LITERAL_IPV4 "the address literal is not a valid IPv4 address"
#define E_LITERAL_IPV6 "the address literal is not a valid IPv6 address"
#define E_LITERAL_BAD "the address literal is not valid ([1.2.3.4], " \
	"[IPv6:...] or [tag:text])"
#define E_LOCAL_LONG "the local part is longer than 64 octets"
#define E_DOMAIN_LONG "the domain part is longer than 255 octets"
#define E_PATH_LONG "the address is longer than 256 octets"

/* One parse: the input and where we are in it. */
struct address_scan {
	const unsigned char *s;
	size_t len;
	size_t pos;
	bool utf8;		/* ADDRESS_SMTPUTF8 */
	bool bracketed;		/* the path started with '<' */
	const char *error;
};

static enum address_error
scan_fail(struct address_scan *sc, enum address_error err, const char *why)
{
	sc->error = why;
	return err;
}

/* is_atext - RFC 5322 3.2.3 atext (ASCII only). */
static bool
is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static bool
is_let_dig(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* is_dcontent - RFC 5321 4.1.3 dcontent: %d33-90 / %d94-126. */
static bool
is_dcontent(unsigned char c)
{
	return (c >= 33 && c <= 90) || (c >= 94 && c <= 126);
}

/*
 * utf8_seq_len - length (2..4) of the well-formed UTF-8 sequence at p,
 * at most avail bytes, or 0 if it is not one (RFC 3629 4: no overlong
 * forms, no surrogates, nothing past U+10FFFF, no truncated sequence).
 */
static size_t
utf8_seq_len(const unsigned char *p, size_t avail)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	size_t n;

	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;	/* overlong */
	else if (c == 0xed)
		hi = 0x9f;	/* surrogates */
	else if (c == 0xf0)
		lo = 0x90;	/* overlong */
	else if (c == 0xf4)
		hi = 0x8f;	/* past U+10FFFF */
	if (avail < n)
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

/*
 * scan_utf8 - step over the non-ASCII character at sc->pos (RFC 6531
 * 3.3 UTF8-non-ascii), which needs SMTPUTF8.
 */
static enum address_error
scan_utf8(struct address_scan *sc)
{
	size_t n;

	if (!sc->utf8)
		return scan_fail(sc, ADDRESS_ERR_UTF8, E_UTF8_NEEDED);
	n = utf8_seq_len(sc->s + sc->pos, sc->len - sc->pos);
	if (n == 0)
		return scan_fail(sc, ADDRESS_ERR_SYNTAX, E_UTF8_BAD);
	sc->pos += n;
	return ADDRESS_OK;
}

/*
 * scan_bad_byte - the error for an unexpected byte c: the reasons that
 * hold anywhere in an address first, else fallback.
 */
static enum address_error
scan_bad_byte(struct address_scan *sc, unsigned char c, const char *fallback)
{
	if (c < 32 || c == 127)
		return scan_fail(sc, ADDRESS_ERR_SYNTAX, E_CTRL);
	if (c == ' ')
		return scan_fail(sc, ADDRESS_ERR_SYNTAX, E_SPACE);
	if (c == '<' || c == '>')
		return scan_fail(sc, ADDRESS_ERR_SYNTAX, E_ANGLE);
	return scan_fail(sc, ADDRESS_ERR_SYNTAX, fallback);
}

/*
 * scan_literal - an address literal "[...]" at sc->pos (RFC 5321 4.1.3):
 * IPv4, "IPv6:" (checked with inet_pton) or Standardized-tag ":"
 * 1*dcontent (syntax only).  Leaves sc->pos after the ']'.
 */
static enum address_error
scan_literal(struct address_scan *sc)
{
	const unsigned char *content;
	size_t start, clen, taglen;
	char ip[ADDRESS_LITERAL_IP_MAX_BYTES];
	unsigned char bin[sizeof(struct in6_addr)];
	const unsigned char *colon;

	sc->pos++;	/* '[' */
	start = sc->pos;
	for (;;) {
		unsigned char c;

		if (sc->pos == sc->len)
			return scan_fail(sc, ADDRESS_ERR_SYNTAX,
			    E_LITERAL_OPEN);
		c = sc->s[sc->pos];
		if (c == ']')
			break;
		if (c >= 0x80) {
			if (!sc->utf8)
				return scan_fail(sc, ADDRESS_ERR_UTF8,
				    E_UTF8_NEEDED);
			return scan_fail(sc, ADDRESS_ERR_SYNTAX,
			    E_LITERAL_CHAR);
		}
		if (!is_dcontent(c)) {
			/* Not '<' or '>': both are dcontent. */
			if (c < 32 || c == 127)
				return scan_fail(sc, ADDRESS_ERR_SYNTAX,
				    E_CTRL);
			if (c == ' ')
				return scan_fail(sc, ADDRESS_ERR_SYNTAX,
				    E_SPACE);
			return scan_fail(sc, ADDRESS_ERR_SYNTAX,
			    E_LITERAL_CHAR);
		}
		sc->pos++;
	}
	content = sc->s + start;
	clen = sc->pos - start;
	sc->pos++;	/* ']' */

	if (clen >= 5 && strncasecmp((const char *)content, "IPv6:", 5) == 0) {
		if (clen - 5 >= sizeof(ip))
			return scan_fail(sc, ADDRESS_ERR_SYNTAX,
			    E_LITERAL_IPV6);
		memcpy(ip, content + 5, clen - 5);
		ip[clen - 5] = '\0';
		if (inet_pton(AF_INET6, ip, bin) != 1)
			return scan_fail(sc, ADDRESS_ERR_SYNTAX,
			    E_LITERAL_IPV6);
		return ADDRESS_OK;
	}
	colon = memchr(content, ':', clen);
	if (colon == NULL) {
		if (clen >= sizeof(ip))
			return scan_fail(sc, ADDRESS_ERR_SYNTAX,
			    E_LITERAL_IPV4);
		memcpy(ip, content, clen);
		ip[clen] = '\0';
		if (inet_pton(AF_INET, ip, bin) != 1)
			return scan_fail(sc, ADDRESS_ERR_SYNTAX,
			    E_LITERAL_IPV4);
		return ADDRESS_OK;
	}
	/* General-address-literal: Standardized-tag = Ldh-str, which ends
	 * with a letter or digit; then 1*dcontent (checked above). */
	taglen = (size_t)(colon - content);
	if (taglen == 0 || taglen + 1 == clen ||
	    !is_let_dig(content[taglen - 1]))
		return scan_fail(sc, ADDRESS_ERR_SYNTAX, E_LITERAL_BAD);
	for (size_t i = 0; i < taglen; i++)
		if (!is_let_dig(content[i]) && content[i] != '-')
			return scan_fail(sc, ADDRESS_ERR_SYNTAX,
			    E_LITERAL_BAD);
	return ADDRESS_OK;
}

/* label_end - check the label [start, sc->pos) that just ended. */
static enum address_error
label_end(struct address_scan *sc, size_t start)
{
	size_t n = sc->pos - start;

	if (n == 0)
		return scan_fail(sc, ADDRESS_ERR_SYNTAX, E_LABEL_EMPTY);
	if (sc->s[sc->pos - 1] == '-')
		return scan_fail(sc, ADDRESS_ERR_SYNTAX, E_LABEL_HYPHEN);
	if (n > ADDRESS_LABEL_MAX_BYTES)
		return scan_fail(sc, ADDRESS_ERR_SYNTAX, E_LABEL_LONG);
	return ADDRESS_OK;
}

/*
 * scan_domain - a Domain (or, if allow_literal, an address literal) at
 * sc->pos.  Stops at the first byte that cannot continue it and leaves
 * sc->pos there; the caller checks that byte.  An empty domain is not
 * an error here (the caller knows the better message).
 */
static enum address_error
scan_domain(struct address_scan *sc, bool allow_literal)
{
	size_t start = sc->pos, label = sc->pos;
	enum address_error err;

	if (allow_literal && sc->pos < sc->len && sc->s[sc->pos] == '[') {
		err = scan_literal(sc);
		if (err != ADDRESS_OK)
			return err;
		goto done;
	}
	while (sc->pos < sc->len) {
		unsigned char c = sc->s[sc->pos];

		if (is_let_dig(c)) {
			sc->pos++;
		} else if (c == '-') {
			if (sc->pos == label)
				return scan_fail(sc, ADDRESS_ERR_SYNTAX,
				    E_LABEL_HYPHEN);
			sc->pos++;
		} else if (c == '.') {
			if ((err = label_end(sc, label)) != ADDRESS_OK)
				return err;
			sc->pos++;
			label = sc->pos;
		} else if (c >= 0x80) {
			/* RFC 6531 3.3: sub-domain =/ U-label */
			if ((err = scan_utf8(sc)) != ADDRESS_OK)
				return err;
		} else {
			break;
		}
	}
	if (sc->pos == start)
		return ADDRESS_OK;
	if (sc->pos == label)
		return scan_fail(sc, ADDRESS_ERR_SYNTAX, E_DOMAIN_DOT_END);
	if ((err = label_end(sc, label)) != ADDRESS_OK)
		return err;
done:
	if (sc->pos - start > ADDRESS_DOMAIN_MAX_BYTES)
		return scan_fail(sc, ADDRESS_ERR_TOO_LONG, E_DOMAIN_LONG);
	return ADDRESS_OK;
}

/* at_path_end - is sc->pos where the mailbox may end? */
static bool
at_path_end(const struct address_scan *sc)
{
	if (sc->pos == sc->len)
		return !sc->bracketed;
	if (sc->bracketed)
		return sc->s[sc->pos] == '>';
	return sc->s[sc->pos] == ' ';
}

/*
 * scan_route - A-d-l ":" at sc->pos, which is at '@' (RFC 5321 4.1.2);
 * the hosts are checked as Domain and then forgotten (RFC 5321 C).
 */
static enum address_error
scan_route(struct address_scan *sc)
{
	enum address_error err;
	bool first = true;

	for (;;) {
		size_t start;

		if (sc->pos == sc->len || sc->s[sc->pos] != '@')
			return scan_fail(sc, ADDRESS_ERR_SYNTAX, E_ROUTE_AT);
		sc->pos++;
		/* "<@>" or "<@example.com>": a missing local part rather
		 * than a broken route. */
		if (first && at_path_end(sc))
			return scan_fail(sc, ADDRESS_ERR_SYNTAX,
			    E_LOCAL_EMPTY);
		start = sc->pos;
		if ((err = scan_domain(sc, false)) != ADDRESS_OK)
			return err;
		if (first && at_path_end(sc))
			return scan_fail(sc, ADDRESS_ERR_SYNTAX,
			    E_LOCAL_EMPTY);
		if (sc->pos == sc->len)
			return scan_fail(sc, ADDRESS_ERR_SYNTAX,
			    sc->bracketed ? E_NO_CLOSE : E_ROUTE);
		if (sc->pos == start) {
			if (sc->s[sc->pos] == ',' || sc->s[sc->pos] == ':' ||
			    at_path_end(sc))
				return scan_fail(sc, ADDRESS_ERR_SYNTAX,
				    E_DOMAIN_EMPTY);
			return scan_bad_byte(sc, sc->s[sc->pos],
			    E_DOMAIN_CHAR);
		}
		if (sc->s[sc->pos] == ':') {
			sc->pos++;
			return ADDRESS_OK;
		}
		if (sc->s[sc->pos] != ',') {
			if (sc->s[sc->pos] == '@')
				return scan_fail(sc, ADDRESS_ERR_SYNTAX,
				    E_ROUTE);
			if (at_path_end(sc))
				return scan_fail(sc, ADDRESS_ERR_SYNTAX,
				    E_ROUTE);
			return scan_bad_byte(sc, sc->s[sc->pos],
			    E_DOMAIN_CHAR);
		}
		sc->pos++;
		first = false;
	}
}

/*
 * scan_local - Local-part at sc->pos (RFC 5321 4.1.2, RFC 6531 3.3).
 * Leaves sc->pos after it; *quoted_r tells which form it was.
 */
static enum address_error
scan_local(struct address_scan *sc, bool *quoted_r)
{
	size_t start = sc->pos;
	enum address_error err;

	*quoted_r = false;
	if (sc->pos < sc->len && sc->s[sc->pos] == '"') {
		/* Quoted-string: qtextSMTP / quoted-pairSMTP. */
		*quoted_r = true;
		sc->pos++;
		for (;;) {
			unsigned char c;

			if (sc->pos == sc->len)
				return scan_fail(sc, ADDRESS_ERR_SYNTAX,
				    E_QUOTE_OPEN);
			c = sc->s[sc->pos];
			if (c == '"') {
				sc->pos++;
				return ADDRESS_OK;
			}
			if (c == '\\') {
				if (sc->pos + 1 == sc->len)
					return scan_fail(sc,
					    ADDRESS_ERR_SYNTAX, E_QUOTE_OPEN);
				c = sc->s[sc->pos + 1];
				if (c >= 0x80 && !sc->utf8)
					return scan_fail(sc,
					    ADDRESS_ERR_UTF8, E_UTF8_NEEDED);
				if (c < 32 || c > 126)
					return scan_fail(sc,
					    ADDRESS_ERR_SYNTAX, E_BACKSLASH);
				sc->pos += 2;
			} else if (c >= 0x80) {
				if ((err = scan_utf8(sc)) != ADDRESS_OK)
					return err;
			} else if (c < 32 || c == 127) {
				return scan_fail(sc, ADDRESS_ERR_SYNTAX,
				    E_CTRL);
			} else {
				sc->pos++;
			}
		}
	}
	/* Dot-string: Atom *("." Atom). */
	while (sc->pos < sc->len) {
		unsigned char c = sc->s[sc->pos];

		if (is_atext(c)) {
			sc->pos++;
		} else if (c == '.') {
			if (sc->pos == start)
				return scan_fail(sc, ADDRESS_ERR_SYNTAX,
				    E_LOCAL_DOT_START);
			if (sc->s[sc->pos - 1] == '.')
				return scan_fail(sc, ADDRESS_ERR_SYNTAX,
				    E_LOCAL_DOTS);
			sc->pos++;
		} else if (c >= 0x80) {
			/* RFC 6531 3.3: atext =/ UTF8-non-ascii */
			if ((err = scan_utf8(sc)) != ADDRESS_OK)
				return err;
		} else {
			break;
		}
	}
	if (sc->pos > start && sc->s[sc->pos - 1] == '.')
		return scan_fail(sc, ADDRESS_ERR_SYNTAX, E_LOCAL_DOT_END);
	return ADDRESS_OK;
}

static bool
has_high_byte(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}

/*
 * scan_path - the path after the leading spaces; fills a on success and
 * leaves sc->pos at the end of the path.
 */
static enum address_error
scan_path(struct address_scan *sc, unsigned flags, struct address *a)
{
	size_t path_start = sc->pos, local_start, local_end, dom_start;
	size_t path_len;
	enum address_error err;
	bool route = false, quoted, postmaster = false;

	if (sc->pos == sc->len)
		return scan_fail(sc, ADDRESS_ERR_SYNTAX, E_EMPTY);
	if (sc->s[sc->pos] == '<') {
		sc->bracketed = true;
		sc->pos++;
	} else if ((flags & ADDRESS_STRICT) != 0) {
		return scan_fail(sc, ADDRESS_ERR_SYNTAX, E_NEED_BRACKETS);
	}

	if (sc->bracketed && sc->pos < sc->len && sc->s[sc->pos] == '>') {
		if ((flags & ADDRESS_NULL_OK) == 0)
			return scan_fail(sc, ADDRESS_ERR_NULL, E_NULL);
		sc->pos++;
		a->is_null = true;
		a->text = xstrdup("");
		return ADDRESS_OK;
	}
	if (sc->pos < sc->len && sc->s[sc->pos] == '@') {
		if ((err = scan_route(sc)) != ADDRESS_OK)
			return err;
		route = true;
	}

	local_start = sc->pos;
	if ((err = scan_local(sc, &quoted)) != ADDRESS_OK)
		return err;
	local_end = sc->pos;
	if (local_end == local_start) {
		if (sc->pos == sc->len)
			return scan_fail(sc, ADDRESS_ERR_SYNTAX,
			    sc->bracketed ? E_NO_CLOSE : E_LOCAL_EMPTY);
		if (sc->s[sc->pos] == '@' || at_path_end(sc))
			return scan_fail(sc, ADDRESS_ERR_SYNTAX,
			    E_LOCAL_EMPTY);
		return scan_bad_byte(sc, sc->s[sc->pos], E_LOCAL_CHAR);
	}
	if (local_end - local_start > ADDRESS_LOCAL_MAX_BYTES)
		return scan_fail(sc, ADDRESS_ERR_TOO_LONG, E_LOCAL_LONG);

	if (sc->pos < sc->len && sc->s[sc->pos] == '@') {
		sc->pos++;
		dom_start = sc->pos;
		if ((err = scan_domain(sc, true)) != ADDRESS_OK)
			return err;
		if (sc->pos == dom_start && (sc->pos == sc->len ||
		    at_path_end(sc)))
			return scan_fail(sc, ADDRESS_ERR_SYNTAX,
			    E_DOMAIN_EMPTY);
		if (sc->pos == sc->len && sc->bracketed)
			return scan_fail(sc, ADDRESS_ERR_SYNTAX, E_NO_CLOSE);
		if (!at_path_end(sc)) {
			if (sc->s[sc->pos] == '@')
				return scan_fail(sc, ADDRESS_ERR_SYNTAX,
				    E_TWO_AT);
			return scan_bad_byte(sc, sc->s[sc->pos],
			    E_DOMAIN_CHAR);
		}
	} else if (sc->pos == sc->len && sc->bracketed) {
		return scan_fail(sc, ADDRESS_ERR_SYNTAX, E_NO_CLOSE);
	} else if (at_path_end(sc)) {
		/* RFC 5321 4.5.1: "Postmaster" without a domain, only as
		 * itself (no route, no quotes) and only where allowed. */
		if ((flags & ADDRESS_POSTMASTER_OK) == 0 || route || quoted ||
		    local_end - local_start != 10 ||
		    strncasecmp((const char *)sc->s + local_start,
		    "postmaster", 10) != 0)
			return scan_fail(sc, ADDRESS_ERR_SYNTAX, E_NO_AT);
		postmaster = true;
		dom_start = sc->pos;
	} else {
		return scan_bad_byte(sc, sc->s[sc->pos],
		    quoted ? E_AFTER_QUOTE : E_LOCAL_CHAR);
	}

	/* Here sc->pos is at '>' or at the end of an address without
	 * brackets; RFC 5321 4.5.3.1.3 counts the brackets. */
	if (sc->bracketed) {
		sc->pos++;
		path_len = sc->pos - path_start;
	} else {
		path_len = sc->pos - path_start + 2;
	}
	if (path_len > ADDRESS_PATH_MAX_BYTES)
		return scan_fail(sc, ADDRESS_ERR_TOO_LONG, E_PATH_LONG);

	a->local = xstrndup((const char *)sc->s + local_start,
	    local_end - local_start);
	if (postmaster) {
		a->text = xstrdup(a->local);
	} else {
		size_t dom_end = sc->pos - (sc->bracketed ? 1 : 0);

		a->domain = xstrndup((const char *)sc->s + dom_start,
		    dom_end - dom_start);
		a->text = xasprintf("%s@%s", a->local, a->domain);
		a->is_literal = a->domain[0] == '[';
	}
	a->has_utf8 = has_high_byte(a->text);
	return ADDRESS_OK;
}

enum address_error
address_parse_path(const char *s, size_t len, unsigned flags,
    struct address *a, size_t *consumed_r, const char **error_r)
{
	struct address_scan sc;
	enum address_error err;

	memset(a, 0, sizeof(*a));
	memset(&sc, 0, sizeof(sc));
	sc.s = (const unsigned char *)s;
	sc.len = s == NULL ? 0 : len;
	sc.utf8 = (flags & ADDRESS_SMTPUTF8) != 0;

	/* Leading spaces, as Postfix allows ("MAIL FROM: <a@b>"). */
	if ((flags & ADDRESS_STRICT) == 0)
		while (sc.pos < sc.len && sc.s[sc.pos] == ' ')
			sc.pos++;
	err = scan_path(&sc, flags, a);
	if (err != ADDRESS_OK) {
		address_deinit(a);
		if (consumed_r != NULL)
			*consumed_r = 0;
		if (error_r != NULL)
			*error_r = sc.error;
		return err;
	}
	if (consumed_r != NULL)
		*consumed_r = sc.pos;
	return ADDRESS_OK;
}

void
address_deinit(struct address *a)
{
	free(a->local);
	free(a->domain);
	free(a->text);
	memset(a, 0, sizeof(*a));
}

bool
address_domain_is_valid(const char *domain, bool utf8)
{
	struct address_scan sc;

	if (domain == NULL)
		return false;
	memset(&sc, 0, sizeof(sc));
	sc.s = (const unsigned char *)domain;
	sc.len = strlen(domain);
	sc.utf8 = utf8;
	if (sc.len == 0 || sc.len > ADDRESS_DOMAIN_MAX_BYTES)
		return false;
	return scan_domain(&sc, true) == ADDRESS_OK && sc.pos == sc.len;
}

char *
address_qualify(const char *addr, const char *domain)
{
	if (strchr(addr, '@') != NULL || addr[0] == '\0' || domain[0] == '\0')
		return xstrdup(addr);
	return xasprintf("%s@%s", addr, domain);
}

char *
address_setting(const char *value, const char *domain, const char **error_r)
{
	struct address a;
	char *bare, *q, *path, *out = NULL;
	size_t len, used = 0;

	while (*value == ' ' || *value == '\t')
		value++;
	len = strlen(value);
	while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t'))
		len--;
	if (len >= 2 && value[0] == '<' && value[len - 1] == '>') {
		value++;
		len -= 2;
	}
	if (len == 0) {
		*error_r = "it is empty";
		return NULL;
	}
	bare = xstrndup(value, len);
	q = address_qualify(bare, domain);
	path = xasprintf("<%s>", q);
	memset(&a, 0, sizeof(a));
	if (address_parse_path(path, strlen(path), ADDRESS_SMTPUTF8 |
	    ADDRESS_STRICT, &a, &used, error_r) != ADDRESS_OK) {
		/* *error_r set */
	} else if (used != strlen(path) || a.domain == NULL) {
		*error_r = "it is not one address";
	} else {
		out = xstrdup(a.text);
	}
	address_deinit(&a);
	free(path);
	free(q);
	free(bare);
	return out;
}
