/* SPDX-License-Identifier: MIT */
/*
 * tls_policy - Postfix-compatible TLS protocol and cipher settings for
 * OpenSSL 3.
 *
 * Protocol lists, as in smtpd_tls_protocols, smtpd_tls_mandatory_protocols
 * and their smtp_/lmtp_ twins.  Elements are separated by white space,
 * commas and/or colons; names are SSLv2 SSLv3 TLSv1 TLSv1.1 TLSv1.2
 * TLSv1.3 in any case.  Element forms, freely mixed:
 *
 *   NAME       include: when the list has at least one, only the
 *              included versions are candidates (else all of them are)
 *   !NAME      exclude this version
 *   >=NAME     no version below NAME (Postfix 3.6+)
 *   <=NAME     no version above NAME (Postfix 3.6+)
 *
 * The result is (included, or all) minus excluded, cut to every >= and
 * <= bound (several bounds all apply, so the tightest wins); order does
 * not matter.  An empty list (or only separators) enables every version
 * OpenSSL supports.  SSLv2 and SSLv3 are accepted as names but never
 * enabled: OpenSSL 3 has neither.  Errors: an unknown name, an element of
 * another form (">TLSv1", "!", ">= TLSv1.2" with a blank), a list longer
 * than TLS_PROTOCOLS_MAX_BYTES, or a result without any TLS version.
 *
 * Cipher grades: Postfix's smtpd_tls_ciphers (and _mandatory_ciphers)
 * name a grade, high/medium/low/export/null, whose OpenSSL cipher list is
 * the value of the parameter tls_<grade>_cipherlist (tls_grade_param()
 * names it; the caller reads it).  tls_cipher_list() appends the excluded
 * ciphers (smtpd_tls_exclude_ciphers, smtpd_tls_mandatory_exclude_ciphers,
 * e.g. "aNULL, RC4, MD5") as ":!X" and checks the result with OpenSSL.
 * These lists only govern TLS 1.2 and below: the TLS 1.3 cipher suites
 * stay OpenSSL's defaults (SSL_CTX_set_ciphersuites is never called).
 *
 * Runs in any process (the master to check the configuration, smtpd and
 * the clients to set up their contexts); needs no privileges and opens no
 * files.  Nothing here logs: errors come back as text for a person in a
 * caller-supplied buffer (TLS_POLICY_ERROR_MAX_BYTES is always enough),
 * with configuration text quoted and escaped.  All functions are
 * thread-safe.
 */
#ifndef OSTIA_TLS_POLICY_H
#define OSTIA_TLS_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

/* Bits of struct tls_protocols.mask, one per protocol version. */
#define TLS_PROTO_SSLv2		(1u << 0)
#define TLS_PROTO_SSLv3		(1u << 1)
#define TLS_PROTO_TLSv1		(1u << 2)
#define TLS_PROTO_TLSv1_1	(1u << 3)
#define TLS_PROTO_TLSv1_2	(1u << 4)
#define TLS_PROTO_TLSv1_3	(1u << 5)
/* The versions a parsed list can enable (OpenSSL 3: TLS only). */
#define TLS_PROTO_TLS_ALL	(TLS_PROTO_TLSv1 | TLS_PROTO_TLSv1_1 | \
				 TLS_PROTO_TLSv1_2 | TLS_PROTO_TLSv1_3)

/* Longest protocol list text accepted. */
#define TLS_PROTOCOLS_MAX_BYTES 4096
/* Buffer size that holds any tls_protocols_text() result. */
#define TLS_PROTOCOLS_TEXT_MAX_BYTES 64
/* Error buffer size that holds any message of this module untruncated. */
#define TLS_POLICY_ERROR_MAX_BYTES 1024
/* Longest grade cipher list (a tls_*_cipherlist value) accepted. */
#define TLS_CIPHER_LIST_MAX_BYTES 4096
/* Most excluded ciphers, and longest single exclusion. */
#define TLS_CIPHER_EXCLUDE_MAX 256
#define TLS_CIPHER_EXCLUDE_MAX_BYTES 128

struct tls_protocols {
	/* Lowest enabled version: TLS1_VERSION .. TLS1_3_VERSION. */
	int min_version;
	/*
	 * Highest enabled version (TLS1_VERSION .. TLS1_2_VERSION), or 0
	 * when TLS 1.3 is enabled: no upper limit, so that a version newer
	 * than this code knows stays enabled, as in Postfix.
	 */
	int max_version;
	/* SSL_OP_NO_TLSv1... bits for holes between min and max, e.g.
	 * SSL_OP_NO_TLSv1_1 for "TLSv1 TLSv1.2"; 0 without holes. */
	uint64_t ssl_options;
	/* TLS_PROTO_* bits of the enabled versions (never SSLv2/SSLv3). */
	unsigned mask;
};

/*
 * Parse a protocol list (syntax above).  text may be NULL (same as "").
 * Returns true and fills *protos_r, or false with a message in err
 * (errsz bytes, always NUL-terminated when errsz > 0; err may be NULL
 * when errsz is 0) and *protos_r untouched.  Example messages:
 *   unknown protocol "TLSv1.4"; known: SSLv2 SSLv3 TLSv1 TLSv1.1 TLSv1.2
 *   TLSv1.3
 *   bad protocol element ">TLSv1.2": use NAME, !NAME, >=NAME or <=NAME
 *   protocol list "<=SSLv3" enables no TLS version (...)
 */
bool tls_protocols_parse(const char *text, struct tls_protocols *protos_r,
    char *err, size_t errsz);

/*
 * The versions in mask (TLS_PROTO_* bits, others ignored) as text for log
 * lines and messages, lowest first: "TLSv1.2, TLSv1.3"; "none" for no
 * version.  Writes at most bufsz bytes to buf (when it is too small, the
 * text ends after the last name that fits, possibly ""; a buffer of
 * TLS_PROTOCOLS_TEXT_MAX_BYTES always suffices) and returns buf, or ""
 * when bufsz is 0.
 */
const char *tls_protocols_text(unsigned mask, char *buf, size_t bufsz);

/*
 * Name of an OpenSSL protocol version number (SSL_version(),
 * SSL_SESSION_get_protocol_version()): TLS1_2_VERSION -> "TLSv1.2",
 * SSL3_VERSION -> "SSLv3"...; "unknown" for anything else.  Returns a
 * static string.
 */
const char *tls_version_name(int openssl_version);

/* TLS_PROTO_* bit of an OpenSSL version number; 0 when unknown. */
unsigned tls_version_bit(int openssl_version);

/*
 * Put parsed protocols into ctx: minimum and maximum version and the
 * SSL_OP_NO_* hole options; the SSL_OP_NO_* options set in ctx before
 * are cleared first, so applying again replaces the previous setting.
 * Returns true, or false with a message in err (as for
 * tls_protocols_parse) when *protos is not a parse result or OpenSSL
 * refuses a version; ctx may then be partly changed.  The OpenSSL error
 * queue is left empty on failure.
 */
bool tls_protocols_apply(SSL_CTX *ctx, const struct tls_protocols *protos,
    char *err, size_t errsz);

/*
 * Build the OpenSSL cipher list (for SSL_CTX_set_cipher_list) of a grade:
 * grade_list is the value of its tls_<grade>_cipherlist parameter;
 * exclude is a NULL-terminated vector of ciphers or cipher types to
 * exclude, each appended as ":!X" (NULL: none).  Refused with a message
 * in err (as for tls_protocols_parse): an empty grade_list, one longer
 * than TLS_CIPHER_LIST_MAX_BYTES or with a byte outside printable ASCII;
 * an exclusion that is empty, longer than TLS_CIPHER_EXCLUDE_MAX_BYTES,
 * does not start with a letter or digit or has a character other than
 * letters, digits, '-', '_', '.' and '+'; more than TLS_CIPHER_EXCLUDE_MAX
 * exclusions; a result that OpenSSL rejects or that selects no TLS 1.2
 * (or older) cipher, checked on a scratch SSL_CTX.  Unknown cipher names
 * inside a list that still selects something pass, as OpenSSL ignores
 * them; a list can also pass and yet be unusable at the security level
 * of the real context (the null grade at OpenSSL's default level 2).
 * Returns a new string (caller frees with free()) or NULL.  The OpenSSL
 * error queue is left empty.
 */
char *tls_cipher_list(const char *grade_list, char *const *exclude,
    char *err, size_t errsz);

/*
 * Name of the parameter that holds the cipher list of a grade (any
 * case): "medium" -> "tls_medium_cipherlist"; NULL for an unknown grade
 * or NULL.  Returns a static string.
 */
const char *tls_grade_param(const char *grade);

#endif
