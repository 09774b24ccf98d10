/* SPDX-License-Identifier: MIT */
/*
 * tls_client - client TLS for the SMTP/LMTP client: Postfix's security
 * levels (smtp_tls_security_level and the levels of
 * smtp_tls_policy_maps), one SSL_CTX per agent, and the verdict on a
 * server's certificate after the handshake, in words an admin can act
 * on.
 *
 * Levels (RFC 7672 for dane; Postfix TLS_README for the rest):
 *   none         no STARTTLS
 *   may          STARTTLS when offered; any certificate; a failed
 *                handshake is reported, the caller may retry in
 *                plaintext
 *   encrypt      STARTTLS required; any certificate
 *   dane         with usable TLSA records (usage 2 DANE-TA or 3 DANE-EE;
 *                0 and 1 are ignored, RFC 7672 3.1.3) a TLSA record must
 *                match; with TLSA records of which none is usable: as
 *                encrypt; with none at all (the caller passes ntlsa 0
 *                when the lookup found none or was not DNSSEC-secure): as
 *                may.  tls_client_effective_level() says which.
 *   dane-only    as dane with usable TLSA records; without: refused
 *   fingerprint  the certificate's fingerprint, or its public key's
 *                (tls_fprint.h, in the context's digest), must equal one
 *                of the policy's match values; no CA, no name check
 *   verify       a chain to a trusted CA and a name match
 *   secure       the same (the caller chooses the names: Postfix's
 *                "nexthop, dot-nexthop" instead of "hostname")
 * Protocols and ciphers: may, dane and dane-only use `protocols` and
 * `ciphers_list`; encrypt, verify and secure (and dane falling back to
 * encrypt) use the mandatory ones.
 *
 * The handshake always completes whatever the certificate (OpenSSL
 * verifies with SSL_VERIFY_NONE and records the result), then
 * tls_client_check() applies the level; so may and encrypt can log how
 * far the certificate was trusted.  Trust words as Postfix logs them:
 * "Anonymous" (no certificate), "Untrusted" (no chain to a trusted CA),
 * "Trusted" (a chain to a trusted CA, no name checked), "Verified"
 * (chain and name, or a TLSA record matched).
 *
 * DANE uses OpenSSL's SSL_dane_* API: SSL_CTX_dane_enable on the
 * context, SSL_dane_enable(ssl, dane_base) (which also makes dane_base
 * the SNI name when the policy gives none), DANE-EE matches without a
 * name check (DANE_FLAG_NO_DANE_EE_NAMECHECKS, RFC 7672 3.1.1),
 * DANE-TA with the name check against dane_base.
 *
 * Session cache (tls_client_config.session_timeout, per context, in
 * memory): at the may and encrypt levels only, a connection whose
 * policy names a session_key offers the session kept under that key and
 * keeps the one the server gives (tls_sessions.h).
 * Nothing here logs: texts come back to the caller (one line, plain
 * words, naming the server with the caller's `who` phrase); the raw
 * OpenSSL error queue is appended only at loglevel >= 2.
 * Private key files are read by tls_client_ctx_new only.
 */
#ifndef OSTIA_TLS_CLIENT_H
#define OSTIA_TLS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

struct dns_rr;

/* Named tls_client_level, not tls_level: tls_server.h has an
 * enum tls_level of its own (TLS_LEVEL_NONE, ...). */
enum tls_client_level {
	TLS_LEV_NONE = 0,
	TLS_LEV_MAY,
	TLS_LEV_ENCRYPT,
	TLS_LEV_DANE,
	TLS_LEV_DANE_ONLY,
	TLS_LEV_FINGERPRINT,
	TLS_LEV_VERIFY,
	TLS_LEV_SECURE,
};

/* Postfix's names, any case: none may encrypt dane dane-only
 * fingerprint verify secure.  0 with *lev, or -1 (unknown). */
int tls_level_parse(const char *text, enum tls_client_level *lev);
/* "none", "may", ...; "?" for a value out of range. */
const char *tls_level_name(enum tls_client_level lev);

struct tls_client_config {
	const char *CAfile, *CApath;	/* both empty/NULL: the system's
					 * default trust store, loaded at
					 * the first verify/secure
					 * connection (may and encrypt
					 * report "Untrusted" without it,
					 * as Postfix does without a
					 * CAfile) */
	const char *protocols;		/* tls_policy.h list syntax */
	const char *mandatory_protocols;
	const char *ciphers_list;	/* OpenSSL list (tls_cipher_list()
					 * of the grade); "" = OpenSSL's */
	const char *mandatory_ciphers_list;
	const char *cert_file, *key_file; /* optional client certificate;
					 * key_file empty: in cert_file */
	int loglevel;			/* smtp_tls_loglevel */
	const char *fingerprint_digest;	/* smtp_tls_fingerprint_digest;
					 * NULL or "": sha256 */
	unsigned session_timeout;	/* seconds a session is kept for
					 * resumption; 0: no session cache */
	bool append_default_CA;		/* tls_append_default_CA: the
					 * system's trust store too, when
					 * CAfile or CApath is set (loaded
					 * as above) */
};

struct tls_client_ctx;

/*
 * A context from cfg (strings copied).  NULL with *error_r (new
 * string: which setting or file, what is wrong) when a protocol list
 * does not parse, OpenSSL refuses a cipher list, the trust store or
 * the client certificate/key cannot be loaded.
 */
struct tls_client_ctx *tls_client_ctx_new(const struct tls_client_config *cfg,
    char **error_r);
/* Free (ctx may be NULL).  SSLs made from it must be freed before. */
void tls_client_ctx_free(struct tls_client_ctx *ctx);

struct tls_client_policy {
	enum tls_client_level level;
	const char *sni;		/* NULL = no SNI (dane: dane_base) */
	const char *const *match;	/* verify/secure: names the
					 * certificate must match; ".x.y"
					 * matches any subdomain of x.y;
					 * fingerprint: fingerprints */
	size_t nmatch;
	const struct dns_rr *tlsa;	/* dane: the validated TLSA RRset */
	size_t ntlsa;
	const char *dane_base;		/* dane: the TLSA base name (the
					 * MX host name) */
	const char *session_key;	/* the server and settings a cached
					 * session is kept under (may and
					 * encrypt); NULL: none */
};

/* Sessions one context keeps at most. */
#define TLS_CLIENT_SESSIONS_MAX 1000

/*
 * The level that applies to p: dane with no TLSA record -> may; dane
 * with TLSA records but none usable (usage 2/3, selector 0/1, matching
 * type 0/1/2 with the right length) -> encrypt; any other level as it
 * is (dane-only without usable records stays dane-only and is refused
 * by tls_client_ssl_new).  The caller uses it to decide whether
 * STARTTLS is required (>= TLS_LEV_ENCRYPT) or tried (TLS_LEV_MAY).
 */
enum tls_client_level tls_client_effective_level(
    const struct tls_client_policy *p);
/* The number of usable TLSA records of p (see above). */
size_t tls_client_usable_tlsa(const struct tls_client_policy *p);

/*
 * A client SSL on the connected non-blocking socket fd for policy p
 * (effective level > none), with the protocols, ciphers, SNI and DANE
 * records of the level.  NULL with *error_r (new string naming `who`,
 * e.g. "SMTP server mx.example[192.0.2.1]:25") when the level cannot
 * be used: fingerprint without fingerprints, dane-only without a
 * usable TLSA record, dane
 * without dane_base, or OpenSSL refuses a setting.  The caller frees
 * with SSL_free (the socket stays open).
 */
SSL *tls_client_ssl_new(struct tls_client_ctx *ctx,
    const struct tls_client_policy *p, int fd, const char *who,
    char **error_r);

/*
 * Run the handshake, each wait a poll() on the socket bounded by what
 * is left of timeout_ms (0: no limit).  0, or -1 with *why_r (new
 * string, one line): "TLS handshake with WHO failed: the server sent
 * TLS alert \"handshake failure\"", "...: no protocol version in common
 * (we allow TLSv1.2, TLSv1.3)", "... timed out after 30s", "...: the
 * server closed the connection", and at loglevel >= 2 " (OpenSSL: ...)".
 */
int tls_client_handshake(SSL *ssl, const char *who, unsigned timeout_ms,
    char **why_r);

/*
 * One step of the handshake, for a caller on an event loop: 1 done,
 * 0 to be called again when the socket is writable (*want_write_r) or
 * readable, -1 failed with *why_r (as tls_client_handshake's).
 */
int tls_client_handshake_step(SSL *ssl, const char *who, bool *want_write_r,
    char **why_r);
/* The text of a handshake that took longer than timeout_ms (new
 * string, as tls_client_handshake's). */
char *tls_client_handshake_timeout(const char *who, unsigned timeout_ms);

struct tls_client_info {
	bool active;
	char protocol[16];		/* "TLSv1.3" */
	char cipher[64];		/* "TLS_AES_256_GCM_SHA384" */
	int bits, alg_bits;
	const char *trust;		/* static: "Anonymous", "Untrusted",
					 * "Trusted", "Verified" */
	char peer_cn[256], issuer_cn[256];	/* escaped, may be "" */
	bool dane_matched;
	bool resumed;			/* a cached session was resumed */
	enum tls_client_level level;	/* effective level applied */
};

/*
 * After a completed handshake: fill *info and apply p's level.  0 when
 * the level is satisfied, -1 with *why_r (new string naming `who` and
 * saying what is wrong with the certificate: self-signed, issued by an
 * unknown authority (which), expired (when) or not yet valid, does not
 * match the expected names (and what it names), no TLSA record matched
 * (the records, and the SHA-256 of the server's public key)).  *info
 * is filled either way.
 */
int tls_client_check(SSL *ssl, const struct tls_client_policy *p,
    const char *who, struct tls_client_info *info, char **why_r);

#endif
