/* SPDX-License-Identifier: MIT */
/*
 * test_address - envelope address parsing (src/common/address.c).
 *
 * Every table case is parsed from a buffer of exactly the input plus
 * what an SMTP command line would carry after the path (" SIZE=100"), so
 * consumed and reads past the path are checked, then again with the
 * length cut at every byte and with other text after the path.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "compat.h"
#include "xalloc.h"

#define U ADDRESS_SMTPUTF8
#define N ADDRESS_NULL_OK
#define S ADDRESS_STRICT
#define P ADDRESS_POSTMASTER_OK

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

#define SUFFIX " SIZE=100"

/* Result flags of a valid case. */
#define R_NULL 1
#define R_LIT 2
#define R_UTF8 4

struct path_case {
	const char *in;		/* the path (with any leading spaces) */
	size_t inlen;		/* 0: strlen(in) */
	unsigned flags;
	enum address_error err;
	const char *error;	/* expected text when err != ADDRESS_OK */
	const char *local, *domain, *text;
	unsigned result;	/* R_* */
	bool whole;		/* no SUFFIX: the input ends the buffer */
};

#define OK(in, fl, lo, dom, txt, res) \
	{ in, 0, fl, ADDRESS_OK, NULL, lo, dom, txt, res, false }
#define BAD(in, fl, e, why) { in, 0, fl, e, why, NULL, NULL, NULL, 0, false }
#define SYN(in, fl, why) BAD(in, fl, ADDRESS_ERR_SYNTAX, why)
#define SYNW(in, fl, why) \
	{ in, 0, fl, ADDRESS_ERR_SYNTAX, why, NULL, NULL, NULL, 0, true }
#define EC "@example.com"

static const struct path_case path_cases[] = {
	/* Plain forms; with and without brackets and leading spaces. */
	OK("<user@example.com>", 0, "user", "example.com",
	    "user@example.com", 0),
	OK("<user@example.com>", S, "user", "example.com",
	    "user@example.com", 0),
	OK("<user@example.com>", U | N | P, "user", "example.com",
	    "user@example.com", 0),
	OK("user@example.com", 0, "user", "example.com",
	    "user@example.com", 0),
	OK("   <user@example.com>", 0, "user", "example.com",
	    "user@example.com", 0),
	OK("  user@example.com", N, "user", "example.com",
	    "user@example.com", 0),
	SYN("user@example.com", S, E_NEED_BRACKETS),
	SYN(" <user@example.com>", S, E_NEED_BRACKETS),
	SYN("  user@example.com", S | N | P | U, E_NEED_BRACKETS),
	SYNW("", 0, E_EMPTY),
	SYNW("   ", 0, E_EMPTY),
	SYNW("", S, E_EMPTY),

	/* The null path. */
	OK("<>", N, NULL, NULL, "", R_NULL),
	OK("<>", N | S, NULL, NULL, "", R_NULL),
	OK(" <>", N | U | P, NULL, NULL, "", R_NULL),
	BAD("<>", 0, ADDRESS_ERR_NULL, E_NULL),
	BAD("<>", S | U | P, ADDRESS_ERR_NULL, E_NULL),
	SYN("< >", N, E_SPACE),

	/* Source routes are parsed and dropped. */
	OK("<@a.example,@b.example:local@domain.example>", 0, "local",
	    "domain.example", "local@domain.example", 0),
	OK("<@a.example:x@y.example>", S, "x", "y.example", "x@y.example", 0),
	OK("@relay.example:u@b.example", 0, "u", "b.example",
	    "u@b.example", 0),
	SYN("<@a.example,b.example:u@c.example>", 0, E_ROUTE_AT),
	SYN("<@a.example,@b.example>", 0, E_ROUTE),
	SYN("<@a.example@b.example:u@c.example>", 0, E_ROUTE),
	SYN("<@a.example u@b.example>", 0, E_SPACE),
	SYN("<@a.example,@:u@b.example>", 0, E_DOMAIN_EMPTY),
	SYN("<@:u@b.example>", 0, E_DOMAIN_EMPTY),
	SYN("<@[192.0.2.1]:u@b.example>", 0, E_DOMAIN_CHAR),
	SYN("<@a_b.example:u@b.example>", 0, E_DOMAIN_CHAR),
	SYN("<@example.com>", 0, E_LOCAL_EMPTY),
	SYN("<@>", 0, E_LOCAL_EMPTY),
	SYN("<@a.example:>", 0, E_LOCAL_EMPTY),
	SYN("<@a.example:@b.example>", 0, E_LOCAL_EMPTY),

	/* Postmaster without a domain (RFC 5321 4.5.1). */
	OK("<Postmaster>", P, "Postmaster", NULL, "Postmaster", 0),
	OK("<postmaster>", P, "postmaster", NULL, "postmaster", 0),
	OK("<POSTMASTER>", P | S, "POSTMASTER", NULL, "POSTMASTER", 0),
	OK("postmaster", P, "postmaster", NULL, "postmaster", 0),
	OK("<Postmaster@example.com>", 0, "Postmaster", "example.com",
	    "Postmaster@example.com", 0),
	SYN("<Postmaster>", 0, E_NO_AT),
	SYN("<postmaster>", N | S | U, E_NO_AT),
	SYN("<\"postmaster\">", P, E_NO_AT),
	SYN("<@a.example:postmaster>", P, E_NO_AT),
	SYN("<postmasters>", P, E_NO_AT),
	SYN("<user>", 0, E_NO_AT),

	/* Dot-string local parts; atext is RFC 5322 3.2.3. */
	OK("<first.last@example.com>", 0, "first.last", "example.com",
	    "first.last@example.com", 0),
	OK("<a!#$%&'*+-/=?^_`{|}~b" EC ">", 0, "a!#$%&'*+-/=?^_`{|}~b",
	    "example.com", "a!#$%&'*+-/=?^_`{|}~b@example.com", 0),
	OK("<a%b@example.com>", 0, "a%b", "example.com",
	    "a%b@example.com", 0),
	OK("<host!user@example.com>", 0, "host!user", "example.com",
	    "host!user@example.com", 0),
	SYN("<.a@example.com>", 0, E_LOCAL_DOT_START),
	SYN("<a.@example.com>", 0, E_LOCAL_DOT_END),
	SYN("<a..b@example.com>", 0, E_LOCAL_DOTS),
	SYN("<a(b)@example.com>", 0, E_LOCAL_CHAR),
	SYN("<a,b@example.com>", 0, E_LOCAL_CHAR),
	SYN("<a\"b\"@example.com>", 0, E_LOCAL_CHAR),
	SYN("<a\\b@example.com>", 0, E_LOCAL_CHAR),
	SYN("<[a]@example.com>", 0, E_LOCAL_CHAR),

	/* Quoted-string local parts, kept as written. */
	OK("<\"john doe\"@example.com>", 0, "\"john doe\"", "example.com",
	    "\"john doe\"@example.com", 0),
	OK("<\"a\\\"b\\\\c\"@example.com>", 0, "\"a\\\"b\\\\c\"",
	    "example.com", "\"a\\\"b\\\\c\"@example.com", 0),
	OK("<\"\"@example.com>", 0, "\"\"", "example.com",
	    "\"\"@example.com", 0),
	OK("<\"a>b@c,d\"@example.com>", S, "\"a>b@c,d\"", "example.com",
	    "\"a>b@c,d\"@example.com", 0),
	OK("\"a b\"@example.com", 0, "\"a b\"", "example.com",
	    "\"a b\"@example.com", 0),
	SYN("<\"ab\"c@example.com>", 0, E_AFTER_QUOTE),
	SYN("<\"abc@example.com>", 0, E_QUOTE_OPEN),
	SYN("<\"a\\\x01\"@example.com>", 0, E_BACKSLASH),
	SYN("<\"a\rb\"@example.com>", 0, E_CTRL),
	SYN("<\"a\tb\"@example.com>", 0, E_CTRL),

	/* Spaces, controls, angle brackets, '@'. */
	SYN("<a b@example.com>", 0, E_SPACE),
	SYN("<a@exa mple.com>", 0, E_SPACE),
	SYN("< a@example.com>", 0, E_SPACE),
	SYN("<a@example.com >", 0, E_SPACE),
	SYN("<a\tb@example.com>", 0, E_CTRL),
	{ "<a\0b@example.com>", sizeof("<a\0b@example.com>") - 1, 0,
	    ADDRESS_ERR_SYNTAX, E_CTRL, NULL, NULL, NULL, 0, false },
	{ "<a@example.com\0>", sizeof("<a@example.com\0>") - 1, 0,
	    ADDRESS_ERR_SYNTAX, E_CTRL, NULL, NULL, NULL, 0, false },
	SYN("<a\x7f@example.com>", 0, E_CTRL),
	SYN("<a@example.com\r\n>", 0, E_CTRL),
	SYN("<a<b@example.com>", 0, E_ANGLE),
	SYN("<a@exa<mple.com>", 0, E_ANGLE),
	SYN("<<a@example.com>>", 0, E_ANGLE),
	SYN("a@example.com>", 0, E_ANGLE),
	SYN("a b@example.com", 0, E_NO_AT),
	SYN("<a@b@example.com>", 0, E_TWO_AT),
	SYN("a@b@example.com", 0, E_TWO_AT),
	SYN("<a@@example.com>", 0, E_TWO_AT),
	SYNW("<user@example.com", 0, E_NO_CLOSE),
	SYNW("<user", 0, E_NO_CLOSE),
	SYNW("<", N, E_NO_CLOSE),

	/* Domains. */
	OK("<u@a-b.c-d.example>", 0, "u", "a-b.c-d.example",
	    "u@a-b.c-d.example", 0),
	OK("<u@xn--bcher-kva.example>", 0, "u", "xn--bcher-kva.example",
	    "u@xn--bcher-kva.example", 0),
	OK("<1@2>", 0, "1", "2", "1@2", 0),
	OK("<u@192.0.2.1>", 0, "u", "192.0.2.1", "u@192.0.2.1", 0),
	OK("<User@EXAMPLE.Com>", 0, "User", "EXAMPLE.Com",
	    "User@EXAMPLE.Com", 0),
	SYN("<a@>", 0, E_DOMAIN_EMPTY),
	SYN("a@", 0, E_DOMAIN_EMPTY),
	SYN("<a@example..com>", 0, E_LABEL_EMPTY),
	SYN("<a@.example.com>", 0, E_LABEL_EMPTY),
	SYN("<a@example.com.>", 0, E_DOMAIN_DOT_END),
	SYN("<a@-example.com>", 0, E_LABEL_HYPHEN),
	SYN("<a@example-.com>", 0, E_LABEL_HYPHEN),
	SYN("<a@exam_ple.com>", 0, E_DOMAIN_CHAR),
	SYN("<a@example.com\"x\">", 0, E_DOMAIN_CHAR),
	SYN("<a@ex[192.0.2.1]>", 0, E_DOMAIN_CHAR),

	/* Address literals (RFC 5321 4.1.3). */
	OK("<u@[192.0.2.1]>", 0, "u", "[192.0.2.1]", "u@[192.0.2.1]", R_LIT),
	OK("<u@[255.255.255.255]>", S, "u", "[255.255.255.255]",
	    "u@[255.255.255.255]", R_LIT),
	OK("<u@[IPv6:2001:db8::1]>", 0, "u", "[IPv6:2001:db8::1]",
	    "u@[IPv6:2001:db8::1]", R_LIT),
	OK("<u@[ipv6:::1]>", 0, "u", "[ipv6:::1]", "u@[ipv6:::1]", R_LIT),
	OK("<u@[IPv6:::ffff:192.0.2.1]>", 0, "u", "[IPv6:::ffff:192.0.2.1]",
	    "u@[IPv6:::ffff:192.0.2.1]", R_LIT),
	OK("<u@[x-400:c=us;a=x]>", 0, "u", "[x-400:c=us;a=x]",
	    "u@[x-400:c=us;a=x]", R_LIT),
	OK("u@[192.0.2.1]", 0, "u", "[192.0.2.1]", "u@[192.0.2.1]", R_LIT),
	SYNW("<a@[192.0.2.1>", 0, E_LITERAL_OPEN),
	SYN("<a@[192.0.2]>", 0, E_LITERAL_IPV4),
	SYN("<a@[256.1.1.1]>", 0, E_LITERAL_IPV4),
	SYN("<a@[]>", 0, E_LITERAL_IPV4),
	SYN("<a@[IPv6:192.0.2.1]>", 0, E_LITERAL_IPV6),
	SYN("<a@[IPv6:fe80::1%eth0]>", 0, E_LITERAL_IPV6),
	SYN("<a@[IPv6:]>", 0, E_LITERAL_IPV6),
	SYN("<a@[::1]>", 0, E_LITERAL_BAD),
	SYN("<a@[tag-:x]>", 0, E_LITERAL_BAD),
	SYN("<a@[tag:]>", 0, E_LITERAL_BAD),
	SYN("<a@[t_g:x]>", 0, E_LITERAL_BAD),
	SYN("<a@[192.0.2.1 ]>", 0, E_SPACE),
	SYN("<a@[a[b]>", 0, E_LITERAL_CHAR),
	SYN("<a@[a\\b]>", 0, E_LITERAL_CHAR),
	SYN("<a@[192.0.2.1]x>", 0, E_DOMAIN_CHAR),
	SYN("<a@[192.0.2.1].example>", 0, E_DOMAIN_CHAR),

	/* UTF-8 (RFC 6531 3.3), only with SMTPUTF8. */
	OK("<\xc3\xbcser@b\xc3\xbc" "cher.example>", U, "\xc3\xbcser",
	    "b\xc3\xbc" "cher.example", "\xc3\xbcser@b\xc3\xbc" "cher.example",
	    R_UTF8),
	OK("<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90."
	    "\xe5\xb9\xbf\xe5\x91\x8a>", U | S,
	    "\xe7\x94\xa8\xe6\x88\xb7",
	    "\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a",
	    "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90."
	    "\xe5\xb9\xbf\xe5\x91\x8a", R_UTF8),
	OK("<\"\xc3\xbc x\"@example.com>", U, "\"\xc3\xbc x\"",
	    "example.com", "\"\xc3\xbc x\"@example.com", R_UTF8),
	OK("<\xf0\x9f\x98\x80@example.com>", U, "\xf0\x9f\x98\x80",
	    "example.com", "\xf0\x9f\x98\x80@example.com", R_UTF8),
	OK("<\xf4\x8f\xbf\xbf.\xef\xbf\xbd@example.com>", U,
	    "\xf4\x8f\xbf\xbf.\xef\xbf\xbd", "example.com",
	    "\xf4\x8f\xbf\xbf.\xef\xbf\xbd@example.com", R_UTF8),
	OK("<u@xn--bcher-kva.example>", U, "u", "xn--bcher-kva.example",
	    "u@xn--bcher-kva.example", 0),
	BAD("<\xc3\xbcser@example.com>", 0, ADDRESS_ERR_UTF8, E_UTF8_NEEDED),
	BAD("<user@b\xc3\xbc" "cher.example>", S, ADDRESS_ERR_UTF8,
	    E_UTF8_NEEDED),
	BAD("<\"\xc3\xbc\"@example.com>", N | P, ADDRESS_ERR_UTF8,
	    E_UTF8_NEEDED),
	BAD("<a@[\xc3\xbc]>", 0, ADDRESS_ERR_UTF8, E_UTF8_NEEDED),
	BAD("<@r\xc3\xbc.example:a@example.com>", 0, ADDRESS_ERR_UTF8,
	    E_UTF8_NEEDED),
	SYN("<\xc3\x28@example.com>", U, E_UTF8_BAD),
	SYN("<\xc3@example.com>", U, E_UTF8_BAD),
	SYN("<\xc0\xaf@example.com>", U, E_UTF8_BAD),	/* overlong '/' */
	SYN("<\xe0\x80\xaf@example.com>", U, E_UTF8_BAD),
	SYN("<\xf0\x80\x80\xaf@example.com>", U, E_UTF8_BAD),
	SYN("<\xed\xa0\x80@example.com>", U, E_UTF8_BAD),	/* surrogate */
	SYN("<\xf4\x90\x80\x80@example.com>", U, E_UTF8_BAD),
	SYN("<\xf8\x88\x80\x80\x80@example.com>", U, E_UTF8_BAD),
	SYN("<\x80@example.com>", U, E_UTF8_BAD),
	SYN("<a@b\xff>", U, E_UTF8_BAD),
	SYN("<\"a\\\xc3\xbc\"@example.com>", U, E_BACKSLASH),
	SYN("<a@[\xc3\xbc]>", U, E_LITERAL_CHAR),
};

/* The case being checked, shown when a check fails. */
static char cur_case[512];

/* CHECK - like assert_true, but names the current case. */
#define CHECK(cond) do { \
	if (!(cond)) \
		fail_msg("%s:%d: %s: %s", __FILE__, __LINE__, cur_case, \
		    #cond); \
} while (0)

/* set_case - describe input (len bytes) and flags for failures. */
static void
set_case(const char *in, size_t len, unsigned flags)
{
	size_t n = 0;

	n += (size_t)snprintf(cur_case, sizeof(cur_case), "\"");
	for (size_t k = 0; k < len && n + 16 < sizeof(cur_case); k++) {
		unsigned char ch = (unsigned char)in[k];

		if (ch >= 32 && ch < 127 && ch != '\\' && ch != '"')
			cur_case[n++] = (char)ch;
		else
			n += (size_t)snprintf(cur_case + n,
			    sizeof(cur_case) - n, "\\x%02x", ch);
	}
	snprintf(cur_case + n, sizeof(cur_case) - n, "\" len %zu flags %u",
	    len, flags);
}

static bool
str_eq_or_null(const char *want, const char *got)
{
	if (want == NULL || got == NULL)
		return want == got;
	return strcmp(want, got) == 0;
}

/* What a parse gave, in a form that can be compared. */
struct result {
	enum address_error err;
	const char *error;
	size_t consumed;
	char *local, *domain, *text;
	bool is_null, is_literal, has_utf8;
};

static char *
dup_or_null(const char *s)
{
	return s == NULL ? NULL : xstrdup(s);
}

/* parse - address_parse_path() on a private copy of exactly len bytes,
 * so that the sanitizer sees any read past len. */
static void
parse(const char *in, size_t len, unsigned flags, struct result *r)
{
	char *copy = xmalloc(len == 0 ? 1 : len);
	struct address a;
	const char *error = NULL;
	size_t consumed = 12345;

	memcpy(copy, in, len);
	memset(&a, 0x5a, sizeof(a));
	r->err = address_parse_path(copy, len, flags, &a, &consumed, &error);
	free(copy);
	r->error = error;
	r->consumed = consumed;
	r->local = dup_or_null(a.local);
	r->domain = dup_or_null(a.domain);
	r->text = dup_or_null(a.text);
	r->is_null = a.is_null;
	r->is_literal = a.is_literal;
	r->has_utf8 = a.has_utf8;
	if (r->err != ADDRESS_OK) {
		/* On failure a is left empty and the error has words. */
		CHECK(a.local == NULL && a.domain == NULL && a.text == NULL);
		CHECK(!a.is_null && !a.is_literal && !a.has_utf8);
		CHECK(error != NULL && strlen(error) > 5);
		CHECK(consumed == 0);
	} else {
		CHECK(a.text != NULL);
		CHECK(consumed > 0 && consumed <= len);
	}
	address_deinit(&a);
	CHECK(a.local == NULL && a.domain == NULL && a.text == NULL);
}

static void
result_free(struct result *r)
{
	free(r->local);
	free(r->domain);
	free(r->text);
	memset(r, 0, sizeof(*r));
}

static void
assert_same(const struct result *x, const struct result *y)
{
	CHECK(x->err == y->err);
	if (x->err != ADDRESS_OK) {
		CHECK(strcmp(x->error, y->error) == 0);
		return;
	}
	CHECK(x->consumed == y->consumed);
	CHECK(str_eq_or_null(x->local, y->local));
	CHECK(str_eq_or_null(x->domain, y->domain));
	CHECK(str_eq_or_null(x->text, y->text));
	CHECK(x->is_null == y->is_null);
	CHECK(x->is_literal == y->is_literal);
	CHECK(x->has_utf8 == y->has_utf8);
}

static size_t
case_len(const struct path_case *c)
{
	return c->inlen != 0 ? c->inlen : strlen(c->in);
}

/* case_buf - the case's input followed by tail; *len_r its length. */
static char *
case_buf(const struct path_case *c, const char *tail, size_t tail_len,
    size_t *len_r)
{
	size_t n = case_len(c);
	char *b = xmalloc(n + tail_len + 1);

	memcpy(b, c->in, n);
	memcpy(b + n, tail, tail_len);
	b[n + tail_len] = '\0';
	*len_r = n + tail_len;
	return b;
}

static void
test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(path_cases); i++) {
		const struct path_case *c = &path_cases[i];
		struct result r;
		size_t len;
		char *b = case_buf(c, SUFFIX, c->whole ? 0 : strlen(SUFFIX),
		    &len);

		set_case(b, len, c->flags);
		parse(b, len, c->flags, &r);
		if (r.err != c->err)
			fail_msg("%s: want error %d, got %d (%s)", cur_case,
			    c->err, r.err, r.err == ADDRESS_OK ? "ok" :
			    r.error);
		if (c->err != ADDRESS_OK) {
			if (strcmp(r.error, c->error) != 0)
				fail_msg("%s: want \"%s\", got \"%s\"",
				    cur_case, c->error, r.error);
		} else {
			CHECK(r.consumed == case_len(c));
			CHECK(str_eq_or_null(c->local, r.local));
			CHECK(str_eq_or_null(c->domain, r.domain));
			CHECK(str_eq_or_null(c->text, r.text));
			CHECK(r.is_null == ((c->result & R_NULL) != 0));
			CHECK(r.is_literal == ((c->result & R_LIT) != 0));
			CHECK(r.has_utf8 == ((c->result & R_UTF8) != 0));
		}
		result_free(&r);
		free(b);
	}
}

/*
 * test_cut - the parser is not incremental, so "byte by byte" means: cut
 * the input at every length.  A cut inside a bracketed path is an
 * error; a cut inside a path without brackets may be a shorter valid
 * address ending at the cut; a cut at or after the end of the path
 * gives exactly the whole result.
 */
static void
test_cut(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(path_cases); i++) {
		const struct path_case *c = &path_cases[i];
		struct result whole, r;
		size_t len;
		char *b = case_buf(c, SUFFIX, c->whole ? 0 : strlen(SUFFIX),
		    &len);
		bool bracketed = c->in[strspn(c->in, " ")] == '<';

		set_case(b, len, c->flags);
		parse(b, len, c->flags, &whole);
		for (size_t k = 0; k <= len; k++) {
			set_case(b, k, c->flags);
			parse(b, k, c->flags, &r);
			if (whole.err == ADDRESS_OK && k >= whole.consumed) {
				assert_same(&whole, &r);
			} else if (whole.err == ADDRESS_OK) {
				if (bracketed)
					CHECK(r.err != ADDRESS_OK);
				else if (r.err == ADDRESS_OK)
					CHECK(r.consumed == k);
			}
			result_free(&r);
		}
		result_free(&whole);
		free(b);
	}
}

/* test_after_path - what follows the path never changes the result. */
static void
test_after_path(void **state)
{
	static const struct {
		const char *s;
		size_t len;
	} bracket_tails[] = {
		{ "", 0 }, { " SIZE=100", 9 }, { ">", 1 }, { "@", 1 },
		{ "\"", 1 }, { "\0garbage", 8 }, { "\xff\xfe", 2 },
		{ "<x@y>", 5 }, { "\r\n", 2 }, { "]", 1 },
	}, bare_tails[] = {
		{ "", 0 }, { " ", 1 }, { " >", 2 }, { " \xff", 2 },
		{ " @x", 3 }, { " \0", 2 }, { " \"", 2 },
	};
	(void)state;

	for (size_t i = 0; i < N_ELEMENTS(path_cases); i++) {
		const struct path_case *c = &path_cases[i];
		struct result first, r;
		size_t len;
		char *b;
		bool bracketed;

		if (c->err != ADDRESS_OK)
			continue;
		bracketed = c->in[strspn(c->in, " ")] == '<';
		b = case_buf(c, "", 0, &len);
		set_case(b, len, c->flags);
		parse(b, len, c->flags, &first);
		free(b);
		CHECK(first.err == ADDRESS_OK);
		for (size_t t = 0; t < (bracketed ? N_ELEMENTS(bracket_tails) :
		    N_ELEMENTS(bare_tails)); t++) {
			if (bracketed)
				b = case_buf(c, bracket_tails[t].s,
				    bracket_tails[t].len, &len);
			else
				b = case_buf(c, bare_tails[t].s,
				    bare_tails[t].len, &len);
			set_case(b, len, c->flags);
			parse(b, len, c->flags, &r);
			assert_same(&first, &r);
			result_free(&r);
			free(b);
		}
		result_free(&first);
	}
}

/* test_flags - each flag switches exactly its own feature on. */
static void
test_flags(void **state)
{
	static const struct {
		const char *in;
		unsigned need;		/* flags that must all be set */
		unsigned forbid;	/* flags that must all be clear */
	} cases[] = {
		{ "<user@example.com>", 0, 0 },
		{ "user@example.com", 0, S },
		{ " <user@example.com>", 0, S },
		{ "<>", N, 0 },
		{ "<postmaster>", P, 0 },
		{ "postmaster", P, S },
		{ "<\xc3\xbc@example.com>", U, 0 },
		{ "\xc3\xbc@example.com", U, S },
	};
	(void)state;

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		for (unsigned flags = 0; flags < 16; flags++) {
			struct result r;
			bool want = (flags & cases[i].need) ==
			    cases[i].need && (flags & cases[i].forbid) == 0;

			set_case(cases[i].in, strlen(cases[i].in), flags);
			parse(cases[i].in, strlen(cases[i].in), flags, &r);
			if (want != (r.err == ADDRESS_OK))
				fail_msg("\"%s\" flags %u: err %d", cases[i].in,
				    flags, r.err);
			result_free(&r);
		}
	}
}

/* repeat - n copies of c. */
static char *
repeat(char c, size_t n)
{
	char *s = xmalloc(n + 1);

	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* domain_of - a valid domain of exactly n octets (n >= 1, labels of 63). */
static char *
domain_of(size_t n)
{
	char *s = repeat('d', n);

	for (size_t i = 63; i < n; i += 64)
		s[i] = '.';
	if (s[n - 1] == '.')
		s[n - 2] = '.', s[n - 1] = 'd';
	return s;
}

/* check_parse - parse s with SUFFIX after it; want err and, if not OK,
 * error text; on success consumed must be strlen(s). */
static void
check_parse(const char *s, unsigned flags, enum address_error err,
    const char *error)
{
	char *b = xasprintf("%s" SUFFIX, s);
	struct result r;

	set_case(b, strlen(b), flags);
	parse(b, strlen(b), flags, &r);
	if (r.err != err)
		fail_msg("\"%s\": want %d got %d (%s)", s, err, r.err,
		    r.err == ADDRESS_OK ? "ok" : r.error);
	if (err == ADDRESS_OK) {
		assert_int_equal(r.consumed, strlen(s));
		assert_true(address_domain_is_valid(r.domain,
		    (flags & U) != 0));
	} else {
		assert_string_equal(r.error, error);
	}
	result_free(&r);
	free(b);
}

static void
test_limits(void **state)
{
	char *l64 = repeat('l', 64), *l65 = repeat('l', 65);
	char *q62 = repeat('q', 62), *q63 = repeat('q', 63);
	char *lab63 = repeat('x', 63), *lab64 = repeat('x', 64);
	char *d189 = domain_of(189), *d190 = domain_of(190);
	char *d255 = domain_of(255);
	char *d256 = domain_of(256), *s;
	(void)state;

	assert_int_equal(strlen(d189), 189);
	assert_true(address_domain_is_valid(d189, false));
	assert_true(address_domain_is_valid(d255, false));
	assert_false(address_domain_is_valid(d256, false));

	/* Local part: 64 octets (RFC 5321 4.5.3.1.1), quotes counted. */
	s = xasprintf("<%s@example.com>", l64);
	check_parse(s, 0, ADDRESS_OK, NULL);
	free(s);
	s = xasprintf("<%s@example.com>", l65);
	check_parse(s, 0, ADDRESS_ERR_TOO_LONG, E_LOCAL_LONG);
	free(s);
	s = xasprintf("<\"%s\"@example.com>", q62);
	check_parse(s, 0, ADDRESS_OK, NULL);
	free(s);
	s = xasprintf("<\"%s\"@example.com>", q63);
	check_parse(s, 0, ADDRESS_ERR_TOO_LONG, E_LOCAL_LONG);
	free(s);
	s = xasprintf("%s@example.com", l65);
	check_parse(s, 0, ADDRESS_ERR_TOO_LONG, E_LOCAL_LONG);
	free(s);

	/* Labels: 63 octets. */
	s = xasprintf("<u@%s.example>", lab63);
	check_parse(s, 0, ADDRESS_OK, NULL);
	free(s);
	s = xasprintf("<u@%s.example>", lab64);
	check_parse(s, 0, ADDRESS_ERR_SYNTAX, E_LABEL_LONG);
	free(s);
	s = xasprintf("<u@example.%s>", lab64);
	check_parse(s, 0, ADDRESS_ERR_SYNTAX, E_LABEL_LONG);
	free(s);

	/* Path: 256 octets with the brackets (RFC 5321 4.5.3.1.3). */
	s = xasprintf("<%s@%s>", l64, d189);
	assert_int_equal(strlen(s), 256);
	check_parse(s, 0, ADDRESS_OK, NULL);
	free(s);
	s = xasprintf("<%s@%s>", l64, d190);
	check_parse(s, 0, ADDRESS_ERR_TOO_LONG, E_PATH_LONG);
	free(s);
	/* Without brackets they are counted all the same. */
	s = xasprintf("%s@%s", l64, d189);
	check_parse(s, 0, ADDRESS_OK, NULL);
	free(s);
	s = xasprintf("%s@%s", l64, d190);
	check_parse(s, 0, ADDRESS_ERR_TOO_LONG, E_PATH_LONG);
	free(s);
	/* The source route counts too, although it is dropped. */
	s = xasprintf("<@r.example:%s@%s>", l64 + 11, d189);
	assert_int_equal(strlen(s), 256);
	check_parse(s, 0, ADDRESS_OK, NULL);
	free(s);
	s = xasprintf("<@r.example:%s@%s>", l64 + 10, d189);
	check_parse(s, 0, ADDRESS_ERR_TOO_LONG, E_PATH_LONG);
	free(s);

	/* Domain: 255 octets; the path limit comes first at 255. */
	s = xasprintf("<u@%s>", d255);
	check_parse(s, 0, ADDRESS_ERR_TOO_LONG, E_PATH_LONG);
	free(s);
	s = xasprintf("<u@%s>", d256);
	check_parse(s, 0, ADDRESS_ERR_TOO_LONG, E_DOMAIN_LONG);
	free(s);
	s = xasprintf("<u@[x:%s]>", d256);
	check_parse(s, 0, ADDRESS_ERR_TOO_LONG, E_DOMAIN_LONG);
	free(s);

	free(l64);
	free(l65);
	free(q62);
	free(q63);
	free(lab63);
	free(lab64);
	free(d189);
	free(d190);
	free(d255);
	free(d256);
}

static void
test_domain_is_valid(void **state)
{
	static const struct {
		const char *domain;
		bool utf8;
		bool want;
	} cases[] = {
		{ "example.com", false, true },
		{ "a", false, true },
		{ "a-b.example", false, true },
		{ "xn--bcher-kva.example", false, true },
		{ "192.0.2.1", false, true },
		{ "[192.0.2.1]", false, true },
		{ "[IPv6:2001:db8::1]", false, true },
		{ "[x-400:c=us]", false, true },
		{ "b\xc3\xbc" "cher.example", true, true },
		{ "b\xc3\xbc" "cher.example", false, false },
		{ "b\xc3" "cher.example", true, false },
		{ "", false, false },
		{ ".", false, false },
		{ "example.com.", false, false },
		{ ".example.com", false, false },
		{ "example..com", false, false },
		{ "-a.example", false, false },
		{ "a-.example", false, false },
		{ "a_b.example", false, false },
		{ "a b", false, false },
		{ "[192.0.2.1", false, false },
		{ "[192.0.2.256]", false, false },
		{ "[IPv6:::1", false, false },
		{ "[::1]", false, false },
		{ "a.[192.0.2.1]", false, false },
		{ "[192.0.2.1].a", false, false },
		{ "example.com>", false, false },
		{ "u@example.com", false, false },
	};
	(void)state;

	for (size_t i = 0; i < N_ELEMENTS(cases); i++)
		if (address_domain_is_valid(cases[i].domain, cases[i].utf8) !=
		    cases[i].want)
			fail_msg("domain case %zu \"%s\"", i, cases[i].domain);
	assert_false(address_domain_is_valid(NULL, true));
}

static void
test_deinit(void **state)
{
	struct address a;
	const char *error = NULL;
	size_t consumed = 0;
	(void)state;

	memset(&a, 0, sizeof(a));
	address_deinit(&a);
	address_deinit(&a);
	assert_int_equal(address_parse_path("<a@b>", 5, 0, &a, &consumed,
	    &error), ADDRESS_OK);
	assert_int_equal(consumed, 5);
	assert_string_equal(a.text, "a@b");
	address_deinit(&a);
	assert_null(a.local);
	assert_null(a.domain);
	assert_null(a.text);
	address_deinit(&a);

	/* Optional out-parameters. */
	assert_int_equal(address_parse_path("<a@b>", 5, 0, &a, NULL, NULL),
	    ADDRESS_OK);
	address_deinit(&a);
	assert_int_equal(address_parse_path("<a>", 3, 0, &a, NULL, NULL),
	    ADDRESS_ERR_SYNTAX);
	assert_null(a.text);
}

/* address_setting: one address from a parameter value (always_bcc). */
static void
test_setting(void **state)
{
	static const struct {
		const char *value, *want;
	} cases[] = {
		{ "archive@example.com", "archive@example.com" },
		{ "  <archive@example.com>  ", "archive@example.com" },
		{ "archive", "archive@origin.example" },
		{ "\"a b\"@example.com", "\"a b\"@example.com" },
		{ "", NULL },
		{ "<>", NULL },
		{ "a@example.com b@example.com", NULL },
		{ "a@example.com, b@example.com", NULL },
		{ "a@@example.com", NULL },
		{ "a@-bad-.example", NULL },
	};
	const char *why;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got;

		why = NULL;
		got = address_setting(cases[i].value, "origin.example", &why);
		if (cases[i].want == NULL) {
			if (got != NULL)
				fail_msg("\"%s\": got \"%s\", want an error",
				    cases[i].value, got);
			assert_non_null(why);
		} else {
			if (got == NULL)
				fail_msg("\"%s\": error %s", cases[i].value,
				    why);
			assert_string_equal(got, cases[i].want);
		}
		free(got);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_cut),
		cmocka_unit_test(test_after_path),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_domain_is_valid),
		cmocka_unit_test(test_deinit),
		cmocka_unit_test(test_setting),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
