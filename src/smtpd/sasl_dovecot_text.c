/* SPDX-License-Identifier: MIT */
/*
 * sasl_dovecot_text - checks and conversions of the text that goes
 * between smtpd and Dovecot's auth service; see sasl_dovecot_text.h.
 * Pure functions: no I/O, no state.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "sasl_dovecot.h"
#include "sasl_dovecot_text.h"
#include "xalloc.h"

/* A SASL mechanism name (RFC 4422 3.1): [A-Z0-9-_]{1,20}; lower case
 * letters are accepted here and upper-cased by the caller. */
bool
sdv_mech_name_ok(const char *s, size_t len)
{
	if (len == 0 || len > SDV_MECH_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	return true;
}

static bool
is_b64_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/* Strict base64: groups of four, '=' only as the last one or two. */
bool
sdv_b64_ok(const char *s, size_t len)
{
	size_t pad = 0;

	if (len % 4 != 0)
		return false;
	if (len > 0 && s[len - 1] == '=') {
		pad++;
		if (s[len - 2] == '=')
			pad++;
	}
	for (size_t i = 0; i < len - pad; i++)
		if (!is_b64_char((unsigned char)s[i]))
			return false;
	return true;
}

/* Challenges from Dovecot: base64 alphabet only (Dovecot pads). */
bool
sdv_b64_chars_ok(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!is_b64_char((unsigned char)s[i]) && s[i] != '=')
			return false;
	return true;
}

/*
 * Undo Dovecot's tab-escaping (\001 then '0' NUL, '1' \001, 't' TAB,
 * 'r' CR, 'n' or 'l' LF, anything else itself) of len bytes of s.
 * Returns a new string; *len_r its length (it may hold NULs).
 */
char *
sdv_tab_unescape(const char *s, size_t len, size_t *len_r)
{
	char *out = xmalloc(len + 1);
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '\001' && i + 1 < len) {
			switch (s[++i]) {
			case '0': c = '\0'; break;
			case '1': c = '\001'; break;
			case 't': c = '\t'; break;
			case 'r': c = '\r'; break;
			case 'n': case 'l': c = '\n'; break;
			default: c = s[i]; break;
			}
		}
		out[o++] = c;
	}
	out[o] = '\0';
	*len_r = o;
	return out;
}

/* A user name we can hand on: 1..SASL_DOVECOT_USER_MAX bytes, no
 * control characters (8-bit bytes are allowed: UTF-8 names). */
bool
sdv_user_ok(const char *s, size_t len)
{
	if (len == 0 || len > SASL_DOVECOT_USER_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

/* Printable ASCII only (others become '?'), at most
 * SASL_DOVECOT_REASON_MAX bytes: fit for an SMTP reply. */
char *
sdv_reason_clean(const char *s, size_t len)
{
	char *out;

	if (len > SASL_DOVECOT_REASON_MAX)
		len = SASL_DOVECOT_REASON_MAX;
	out = xmalloc(len + 1);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		out[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	out[len] = '\0';
	return out;
}

bool
sdv_session_ok(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > 64)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		    c == '_' || c == ':'))
			return false;
	}
	return true;
}

bool
sdv_addr_ok(const char *s)
{
	unsigned char tmp[sizeof(struct in6_addr)];

	return s != NULL && (inet_pton(AF_INET, s, tmp) == 1 ||
	    inet_pton(AF_INET6, s, tmp) == 1);
}

/* The field after "name=" when field is "name=value", else NULL. */
const char *
sdv_field_value(const char *field, size_t flen, const char *name,
    size_t *vlen)
{
	size_t nlen = strlen(name);

	if (flen > nlen && memcmp(field, name, nlen) == 0 &&
	    field[nlen] == '=') {
		*vlen = flen - nlen - 1;
		return field + nlen + 1;
	}
	return NULL;
}

bool
sdv_field_is(const char *field, size_t flen, const char *word)
{
	return flen == strlen(word) && memcmp(field, word, flen) == 0;
}

/* Parse a decimal uint32 > 0 with no sign or leading zero. */
bool
sdv_parse_id(const char *s, size_t len, uint32_t *id_r)
{
	uint64_t v = 0;

	if (len == 0 || len > 10 || s[0] == '0')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > UINT32_MAX)
		return false;
	*id_r = (uint32_t)v;
	return true;
}

bool
sdv_fields_next(struct sdv_fields *it, const char **f, size_t *flen)
{
	const char *tab;

	if (it->p == NULL || it->p > it->end)
		return false;
	tab = memchr(it->p, '\t', (size_t)(it->end - it->p));
	*f = it->p;
	if (tab == NULL) {
		*flen = (size_t)(it->end - it->p);
		it->p = NULL;
	} else {
		*flen = (size_t)(tab - it->p);
		it->p = tab + 1;
	}
	return true;
}
