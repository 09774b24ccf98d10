/* SPDX-License-Identifier: MIT */
/*
 * sasl_dovecot_text - checks and conversions of the text that goes
 * between smtpd and Dovecot's auth service (sasl_dovecot.h): what may be
 * sent (mechanism names, base64, addresses, session ids), and how
 * Dovecot's fields are read (TAB-separated, values tab-escaped with
 * \001: '0' NUL, '1' \001, 't' TAB, 'r' CR, 'n' or 'l' LF, anything
 * else itself).  Pure functions, no state; lengths are explicit because
 * fields are not NUL-terminated.
 */
#ifndef OSTIA_SASL_DOVECOT_TEXT_H
#define OSTIA_SASL_DOVECOT_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest SASL mechanism name (RFC 4422 3.1). */
#define SDV_MECH_NAME_MAX 20

/* A SASL mechanism name (RFC 4422 3.1): letters, digits, '-', '_', 1 to
 * SDV_MECH_NAME_MAX bytes.  Lower case is accepted (the caller
 * upper-cases). */
bool sdv_mech_name_ok(const char *s, size_t len);
/* Strict base64: whole groups of four, '=' only as the last one or two
 * bytes.  "" is valid (an empty response). */
bool sdv_b64_ok(const char *s, size_t len);
/* Only base64 characters and '=' (Dovecot's challenges). */
bool sdv_b64_chars_ok(const char *s, size_t len);
/* Undo the tab-escaping of len bytes of s: a new string (caller frees),
 * *len_r its length; it may hold NULs. */
char *sdv_tab_unescape(const char *s, size_t len, size_t *len_r);
/* A user name fit to hand on: 1..SASL_DOVECOT_USER_MAX bytes, no
 * control characters (bytes >= 0x80 are allowed: UTF-8). */
bool sdv_user_ok(const char *s, size_t len);
/* A copy fit for an SMTP reply: bytes outside printable ASCII become
 * '?', cut to SASL_DOVECOT_REASON_MAX bytes.  Caller frees. */
char *sdv_reason_clean(const char *s, size_t len);
/* session=: letters, digits, ".-_:", 1 to 64 bytes. */
bool sdv_session_ok(const char *s);
/* A numeric IPv4 or IPv6 address (NULL: no). */
bool sdv_addr_ok(const char *s);

/* The value (and *vlen) when field (flen bytes) is "name=value". */
const char *sdv_field_value(const char *field, size_t flen, const char *name,
    size_t *vlen);
/* Whether field (flen bytes) is exactly word. */
bool sdv_field_is(const char *field, size_t flen, const char *word);
/* A request id: decimal, 1..2^32-1, no sign, no leading zero. */
bool sdv_parse_id(const char *s, size_t len, uint32_t *id_r);

/* Walks the TAB-separated fields of [p, end); p NULL when done. */
struct sdv_fields {
	const char *p, *end;
};
/* The next field (*f, *flen bytes), or false after the last one.  A
 * line "a\t" has two fields, "a" and "". */
bool sdv_fields_next(struct sdv_fields *it, const char **f, size_t *flen);

#endif
