/* SPDX-License-Identifier: MIT */
/*
 * tls_policy - TLS protocol lists and cipher grades; see tls_policy.h.
 *
 * Pure parsing plus two calls into OpenSSL: tls_protocols_apply() changes
 * the caller's SSL_CTX, tls_cipher_list() tries its result on a scratch
 * SSL_CTX of its own.  No logging, no files, no privileges.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "compat.h"
#include "log.h"
#include "tls_policy.h"
#include "xalloc.h"

/* Separators of protocol list elements (Postfix: blanks, commas, colons). */
#define TLS_PROTO_SEPARATORS ", \t\r\n\v\f:"
/* Bytes of configuration text quoted in an error message. */
#define TLS_QUOTE_IN_BYTES 100
/* Room for such a quote once escaped (each byte at most 4 characters). */
#define TLS_QUOTE_MAX_BYTES (TLS_QUOTE_IN_BYTES * 4 + 8)

/* Protocol versions known by name, oldest first. */
static const struct {
	const char *name;
	int version;		/* OpenSSL version number */
	unsigned bit;		/* TLS_PROTO_* */
	uint64_t no_option;	/* SSL_OP_NO_*, 0 if OpenSSL 3 has none */
} tls_versions[] = {
	{ "SSLv2", SSL2_VERSION, TLS_PROTO_SSLv2, 0 },
	{ "SSLv3", SSL3_VERSION, TLS_PROTO_SSLv3, SSL_OP_NO_SSLv3 },
	{ "TLSv1", TLS1_VERSION, TLS_PROTO_TLSv1, SSL_OP_NO_TLSv1 },
	{ "TLSv1.1", TLS1_1_VERSION, TLS_PROTO_TLSv1_1, SSL_OP_NO_TLSv1_1 },
	{ "TLSv1.2", TLS1_2_VERSION, TLS_PROTO_TLSv1_2, SSL_OP_NO_TLSv1_2 },
	{ "TLSv1.3", TLS1_3_VERSION, TLS_PROTO_TLSv1_3, SSL_OP_NO_TLSv1_3 },
};
#define TLS_N_VERSIONS N_ELEMENTS(tls_versions)
#define TLS_KNOWN_NAMES "SSLv2 SSLv3 TLSv1 TLSv1.1 TLSv1.2 TLSv1.3"

static const struct {
	const char *grade;
	const char *param;
} tls_grades[] = {
	{ "high", "tls_high_cipherlist" },
	{ "medium", "tls_medium_cipherlist" },
	{ "low", "tls_low_cipherlist" },
	{ "export", "tls_export_cipherlist" },
	{ "null", "tls_null_cipherlist" },
};

/* tls_fail - format an error message into err (if there is room). */
static void tls_fail(char *err, size_t errsz, const char *fmt, ...)
    ATTR_FORMAT(3, 4);

static void
tls_fail(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errsz == 0)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
}

/* tls_quote - escape len bytes of s for an error message into q. */
static const char *
tls_quote(char q[TLS_QUOTE_MAX_BYTES], const char *s, size_t len)
{
	return log_escape(q, TLS_QUOTE_MAX_BYTES, s, len, TLS_QUOTE_IN_BYTES);
}

/* tls_openssl_reason - reason of the last queued OpenSSL error; the
 * queue is emptied. */
static const char *
tls_openssl_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	/* ERR_reason_error_string returns static text: still valid. */
	return r != NULL ? r : "unknown error";
}

/* tls_version_index - index in tls_versions of name (len bytes), or -1. */
static int
tls_version_index(const char *name, size_t len)
{
	for (size_t i = 0; i < TLS_N_VERSIONS; i++) {
		if (strlen(tls_versions[i].name) == len &&
		    strncasecmp(tls_versions[i].name, name, len) == 0)
			return (int)i;
	}
	return -1;
}

/* tls_is_name_char - may c appear in a protocol name? */
static bool
tls_is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '.';
}

bool
tls_protocols_parse(const char *text, struct tls_protocols *protos_r,
    char *err, size_t errsz)
{
	char q[TLS_QUOTE_MAX_BYTES];
	unsigned include = 0, exclude = 0, set;
	size_t lo = 0, hi = TLS_N_VERSIONS - 1, len;
	size_t first = TLS_N_VERSIONS, last = 0;
	struct tls_protocols p;
	const char *s;

	if (text == NULL)
		text = "";
	len = strnlen(text, TLS_PROTOCOLS_MAX_BYTES + 1);
	if (len > TLS_PROTOCOLS_MAX_BYTES) {
		tls_fail(err, errsz, "protocol list too long (more than %d "
		    "bytes)", TLS_PROTOCOLS_MAX_BYTES);
		return false;
	}
	s = text;
	for (;;) {
		const char *e, *name;
		size_t elen, nlen, k;
		char op = '=';
		int idx;

		s += strspn(s, TLS_PROTO_SEPARATORS);
		if (*s == '\0')
			break;
		elen = strcspn(s, TLS_PROTO_SEPARATORS);
		e = s;
		s += elen;

		name = e;
		if (e[0] == '!') {
			op = '!';
			name = e + 1;
		} else if ((e[0] == '>' || e[0] == '<') && elen >= 2 &&
		    e[1] == '=') {
			op = e[0];
			name = e + 2;
		}
		nlen = elen - (size_t)(name - e);
		for (k = 0; k < nlen && tls_is_name_char(name[k]); k++)
			;
		if (nlen == 0 || k < nlen) {
			tls_fail(err, errsz, "bad protocol element \"%s\": use "
			    "NAME, !NAME, >=NAME or <=NAME (names: "
			    TLS_KNOWN_NAMES ")", tls_quote(q, e, elen));
			return false;
		}
		idx = tls_version_index(name, nlen);
		if (idx < 0) {
			tls_fail(err, errsz, "unknown protocol \"%s\"; known: "
			    TLS_KNOWN_NAMES, tls_quote(q, name, nlen));
			return false;
		}
		switch (op) {
		case '!':
			exclude |= tls_versions[idx].bit;
			break;
		case '>':
			if ((size_t)idx > lo)
				lo = (size_t)idx;
			break;
		case '<':
			if ((size_t)idx < hi)
				hi = (size_t)idx;
			break;
		default:
			include |= tls_versions[idx].bit;
			break;
		}
	}

	set = (include != 0 ? include : TLS_PROTO_TLS_ALL) & ~exclude &
	    TLS_PROTO_TLS_ALL;
	for (size_t i = 0; i < TLS_N_VERSIONS; i++) {
		if (i < lo || i > hi)
			set &= ~tls_versions[i].bit;
		else if ((set & tls_versions[i].bit) != 0) {
			if (first == TLS_N_VERSIONS)
				first = i;
			last = i;
		}
	}
	if (set == 0) {
		tls_fail(err, errsz, "protocol list \"%s\" enables no TLS "
		    "version (OpenSSL 3 supports TLSv1 to TLSv1.3; SSLv2 and "
		    "SSLv3 are never enabled)", tls_quote(q, text, len));
		return false;
	}

	memset(&p, 0, sizeof(p));
	p.mask = set;
	p.min_version = tls_versions[first].version;
	/* Up to the newest version we know: leave the top open. */
	if (last == TLS_N_VERSIONS - 1)
		p.max_version = 0;
	else
		p.max_version = tls_versions[last].version;
	for (size_t i = first + 1; i < last; i++) {
		if ((set & tls_versions[i].bit) == 0)
			p.ssl_options |= tls_versions[i].no_option;
	}
	*protos_r = p;
	return true;
}

const char *
tls_protocols_text(unsigned mask, char *buf, size_t bufsz)
{
	size_t used = 0;

	if (bufsz == 0)
		return "";
	buf[0] = '\0';
	for (size_t i = 0; i < TLS_N_VERSIONS; i++) {
		int n;

		if ((mask & tls_versions[i].bit) == 0)
			continue;
		n = snprintf(buf + used, bufsz - used, "%s%s",
		    used > 0 ? ", " : "", tls_versions[i].name);
		if (n < 0 || (size_t)n >= bufsz - used) {
			/* Cut after the last whole name. */
			buf[used] = '\0';
			return buf;
		}
		used += (size_t)n;
	}
	if (used == 0)
		(void)snprintf(buf, bufsz, "none");
	return buf;
}

const char *
tls_version_name(int openssl_version)
{
	for (size_t i = 0; i < TLS_N_VERSIONS; i++) {
		if (tls_versions[i].version == openssl_version)
			return tls_versions[i].name;
	}
	return "unknown";
}

unsigned
tls_version_bit(int openssl_version)
{
	for (size_t i = 0; i < TLS_N_VERSIONS; i++) {
		if (tls_versions[i].version == openssl_version)
			return tls_versions[i].bit;
	}
	return 0;
}

bool
tls_protocols_apply(SSL_CTX *ctx, const struct tls_protocols *protos,
    char *err, size_t errsz)
{
	unsigned minbit = tls_version_bit(protos->min_version);
	unsigned maxbit = protos->max_version == 0 ? TLS_PROTO_TLSv1_3 :
	    tls_version_bit(protos->max_version);
	uint64_t holes = SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1 |
	    SSL_OP_NO_TLSv1_2 | SSL_OP_NO_TLSv1_3;

	if ((minbit & TLS_PROTO_TLS_ALL) == 0 ||
	    (maxbit & TLS_PROTO_TLS_ALL) == 0 || minbit > maxbit ||
	    (protos->mask & minbit) == 0 || (protos->mask & maxbit) == 0 ||
	    (protos->ssl_options & ~holes) != 0) {
		tls_fail(err, errsz, "internal error: TLS protocol settings "
		    "are not from tls_protocols_parse (min 0x%x max 0x%x)",
		    (unsigned)protos->min_version,
		    (unsigned)protos->max_version);
		return false;
	}
	(void)SSL_CTX_clear_options(ctx, SSL_OP_NO_SSL_MASK);
	(void)SSL_CTX_set_options(ctx, protos->ssl_options);
	if (SSL_CTX_set_min_proto_version(ctx, protos->min_version) != 1) {
		tls_fail(err, errsz, "cannot set the lowest TLS version to "
		    "%s: %s", tls_version_name(protos->min_version),
		    tls_openssl_reason());
		return false;
	}
	if (SSL_CTX_set_max_proto_version(ctx, protos->max_version) != 1) {
		tls_fail(err, errsz, "cannot set the highest TLS version to "
		    "%s: %s", protos->max_version == 0 ? "the newest" :
		    tls_version_name(protos->max_version),
		    tls_openssl_reason());
		return false;
	}
	return true;
}

/* tls_is_cipher_char - may c appear in an excluded cipher or type? */
static bool
tls_is_cipher_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
	    c == '+';
}

char *
tls_cipher_list(const char *grade_list, char *const *exclude, char *err,
    size_t errsz)
{
	char q[TLS_QUOTE_MAX_BYTES];
	size_t len, total, n = 0, used;
	SSL_CTX *ctx = NULL;
	char *list = NULL;

	len = grade_list != NULL ?
	    strnlen(grade_list, TLS_CIPHER_LIST_MAX_BYTES + 1) : 0;
	if (len == 0) {
		tls_fail(err, errsz, "empty cipher list");
		return NULL;
	}
	if (len > TLS_CIPHER_LIST_MAX_BYTES) {
		tls_fail(err, errsz, "cipher list too long (more than %d "
		    "bytes)", TLS_CIPHER_LIST_MAX_BYTES);
		return NULL;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)grade_list[i];

		if (c < 0x20 || c > 0x7e) {
			tls_fail(err, errsz, "bad character (code %u) in "
			    "cipher list \"%s\"", c,
			    tls_quote(q, grade_list, len));
			return NULL;
		}
	}

	/* Check every exclusion and add up the room they need. */
	total = len + 1;
	for (; exclude != NULL && exclude[n] != NULL; n++) {
		const char *x = exclude[n];
		size_t xlen = strnlen(x, TLS_CIPHER_EXCLUDE_MAX_BYTES + 1);
		size_t k;

		if (n >= TLS_CIPHER_EXCLUDE_MAX) {
			tls_fail(err, errsz, "too many excluded ciphers (more "
			    "than %d)", TLS_CIPHER_EXCLUDE_MAX);
			return NULL;
		}
		if (xlen == 0) {
			tls_fail(err, errsz, "empty excluded cipher");
			return NULL;
		}
		if (xlen > TLS_CIPHER_EXCLUDE_MAX_BYTES) {
			tls_fail(err, errsz, "excluded cipher \"%s\" too long "
			    "(more than %d bytes)", tls_quote(q, x, xlen),
			    TLS_CIPHER_EXCLUDE_MAX_BYTES);
			return NULL;
		}
		for (k = 0; k < xlen && tls_is_cipher_char(x[k]); k++)
			;
		/* Names and types start with a letter or digit; "!-" or
		 * "!+" would be OpenSSL syntax, not an exclusion. */
		if (k < xlen || !tls_is_name_char(x[0]) || x[0] == '.') {
			tls_fail(err, errsz, "bad excluded cipher "
			    "\"%s\": use OpenSSL cipher names or types such as "
			    "aNULL, RC4, MD5", tls_quote(q, x, xlen));
			return NULL;
		}
		total += 2 + xlen;
	}

	/* Bounded: at most 4096 + 1 + 256 * 130 bytes. */
	list = xmalloc(total);
	memcpy(list, grade_list, len);
	used = len;
	for (size_t i = 0; i < n; i++) {
		size_t xlen = strlen(exclude[i]);

		list[used++] = ':';
		list[used++] = '!';
		memcpy(list + used, exclude[i], xlen);
		used += xlen;
	}
	list[used] = '\0';

	/*
	 * SSL_CTX_set_cipher_list fails both on a malformed list and on one
	 * that leaves no cipher for TLS 1.2 and below; TLS 1.3 suites, which
	 * it does not govern, do not count.
	 */
	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_method());
	if (ctx == NULL) {
		tls_fail(err, errsz, "cannot create an OpenSSL context to "
		    "check the cipher list: %s", tls_openssl_reason());
		goto fail;
	}
	if (SSL_CTX_set_cipher_list(ctx, list) != 1) {
		tls_fail(err, errsz, "cipher list \"%s\" selects no cipher "
		    "(OpenSSL: %s)", tls_quote(q, list, used),
		    tls_openssl_reason());
		goto fail;
	}
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return list;
fail:
	SSL_CTX_free(ctx);
	free(list);
	ERR_clear_error();
	return NULL;
}

const char *
tls_grade_param(const char *grade)
{
	if (grade == NULL)
		return NULL;
	for (size_t i = 0; i < N_ELEMENTS(tls_grades); i++) {
		if (strcasecmp(tls_grades[i].grade, grade) == 0)
			return tls_grades[i].param;
	}
	return NULL;
}
