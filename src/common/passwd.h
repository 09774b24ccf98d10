/* SPDX-License-Identifier: MIT */
/*
 * passwd - check passwords against Dovecot-compatible stored hashes, and
 * make new ones.
 *
 * Used by the lookup process (the only process that sees stored hashes;
 * STYLE.md 1.1) for Ostia's own SASL backend, and by `ostia user add|
 * passwd`.  No I/O, no logging: the caller logs, and never the password.
 * Thread-safe (crypt_rn with a private buffer, OpenSSL one-shot calls),
 * except passwd_set_limits(), which belongs in startup code.
 *
 * Stored format, as Dovecot writes it (doveadm pw): "{SCHEME}data", the
 * scheme name case-insensitive, optionally with an encoding suffix
 * "{SCHEME.HEX}", "{SCHEME.B64}" or "{SCHEME.BASE64}" saying that data
 * is hex or base64 of the scheme's usual form.  Schemes:
 *
 *   SHA512-CRYPT SHA256-CRYPT CRYPT DES-CRYPT   crypt(3) (libxcrypt): any
 *                       of the formats below, whatever the label says
 *                       (Dovecot's CRYPT family does the same)
 *   BLF-CRYPT           crypt(3), bcrypt formats ($2a$ $2b$ $2y$) only
 *   MD5-CRYPT MD5       crypt(3), $1$ only (MD5 is Dovecot's alias)
 *   SHA512 SHA256 SHA SHA1 LDAP-MD5   digest, base64 (or hex: detected
 *                       by length as Dovecot does); base64 here and below
 *                       is padded, as Dovecot writes and requires it
 *   PLAIN-MD5           MD5 digest, hex (or base64, detected)
 *   SSHA512 SSHA256 SSHA SMD5         digest(password . salt) . salt,
 *                       base64; salt at least one byte
 *   ARGON2ID ARGON2I    "$argon2id$v=19$m=M,t=T,p=P$salt$hash" (libargon2;
 *                       unpadded base64; the argon2 type must match the
 *                       label; v=16 or no v= is the older version 0x10)
 *   SCRAM-SHA-256 SCRAM-SHA-1         "iter,salt,StoredKey,ServerKey"
 *                       (base64 fields; RFC 5802 3 / RFC 7677)
 *   PBKDF2              "$1$salt$rounds$hex": PBKDF2-HMAC-SHA1, Dovecot's
 *   PLAIN CLEAR CLEARTEXT             the password itself
 *
 * Crypt formats accepted: $6$ and $5$ (SHA-crypt, optional rounds=N),
 * $2a$/$2b$/$2y$ (bcrypt), $y$ (yescrypt, without the optional extra
 * parameters), $1$ (MD5-crypt) and 13-character traditional DES.  Other
 * formats libxcrypt knows (bigcrypt, BSDi, NT, sha1crypt, scrypt, gost)
 * are refused as unsupported.
 *
 * A stored value without "{...}" is recognised by its form: $6$
 * SHA512-CRYPT, $5$ SHA256-CRYPT, $2a$/$2b$/$2y$ BLF-CRYPT, $1$
 * MD5-CRYPT, $y$ and 13-character DES CRYPT, $argon2id$ ARGON2ID,
 * $argon2i$ ARGON2I.  Anything else without a prefix is a bad hash (a
 * table of bare plaintext or digests must get its "{SCHEME}" prefix,
 * e.g. in the SQL query, as with Dovecot's default_pass_scheme).
 *
 * Costs are capped (struct passwd_limits) so that a hostile or broken
 * table row cannot make one check take seconds or gigabytes: over a cap
 * is a bad hash, checked before any work is done.
 *
 * A password containing a NUL byte never matches: crypt(3) would see
 * only the part before it, and no client can set one through SASL PLAIN.
 */
#ifndef OSTIA_PASSWD_H
#define OSTIA_PASSWD_H

#include <stdbool.h>
#include <stddef.h>

/* Longest password and stored value accepted (bytes). */
#define PASSWD_MAX_PASSWORD_BYTES 1024
#define PASSWD_MAX_STORED_BYTES 1024
/* Enough for any scheme name passwd_scheme_of() returns, with the NUL. */
#define PASSWD_SCHEME_NAME_MAX 32

enum passwd_result {
	PASSWD_MATCH,
	PASSWD_MISMATCH,
	PASSWD_BAD_HASH,
};

/*
 * Cost caps.  The defaults (worst case around a second of CPU or
 * 256 MiB per check on a current machine):
 *   bcrypt_max_cost 14, shacrypt_max_rounds 1000000 (the default when
 *   rounds= is absent is 5000), pbkdf2_max_rounds 1000000 (PBKDF2 and
 *   SCRAM iterations), memory_max_kib 262144 (argon2 m, yescrypt
 *   128 * r * N bytes), argon2_max_t 16, argon2_max_p 16, and
 *   argon2_max_m_times_t 1048576 (KiB passes: 256 MiB x 4 or 64 MiB x 16).
 */
struct passwd_limits {
	unsigned int bcrypt_max_cost;
	unsigned long shacrypt_max_rounds;
	unsigned long pbkdf2_max_rounds;
	unsigned long memory_max_kib;
	unsigned long argon2_max_t;
	unsigned long argon2_max_p;
	unsigned long argon2_max_m_times_t;
};

/*
 * Check password (pwlen bytes) against stored (a NUL-terminated value
 * as found in the account table).  Returns
 *   PASSWD_MATCH     the password is right;
 *   PASSWD_MISMATCH  it is wrong, or cannot be right: longer than
 *                    PASSWD_MAX_PASSWORD_BYTES, containing a NUL, or
 *                    (crypt schemes) 512 bytes or more (err then says
 *                    why; otherwise err is left alone);
 *   PASSWD_BAD_HASH  stored is malformed, of an unknown or unsupported
 *                    scheme, or over a cost cap; err says why in plain
 *                    words naming at most the scheme, never the stored
 *                    data or the password.
 * *plain_r (if plain_r is not NULL) is set to true when the scheme is a
 * plaintext one (PLAIN, CLEAR, CLEARTEXT), whatever the result, so that
 * the caller can warn; false otherwise.  err may be NULL.  Digests are
 * compared in constant time; copies of the password and intermediate
 * digests are wiped before returning.
 */
enum passwd_result passwd_verify(const char *password, size_t pwlen,
    const char *stored, bool *plain_r, char *err, size_t errsz);

/*
 * Make a new stored value for password (pwlen bytes, no NUL, at most
 * 511 bytes for SHA512-CRYPT) with scheme "SHA512-CRYPT" (the default
 * when scheme is NULL; 5000 rounds, 16-character salt) or "ARGON2ID"
 * (v=19, m=65536 KiB, t=3, p=1, 16-byte salt, 32-byte hash: what
 * doveadm pw -s ARGON2ID makes).  Salts come from OpenSSL's RAND_bytes.
 * Returns "{SCHEME}..." (xmalloc'd; the caller frees it), checked with
 * passwd_verify before it is returned, or NULL with err set.
 */
char *passwd_hash(const char *scheme, const char *password, size_t pwlen,
    char *err, size_t errsz);

/*
 * The scheme stored uses: for "{name}" the canonical name of a known
 * scheme in upper case, with its encoding suffix if any ("SHA256.HEX");
 * without a prefix the detected scheme.  Written to buf (bufsz bytes,
 * PASSWD_SCHEME_NAME_MAX is enough) and returned; NULL when the scheme
 * is unknown or not recognisable, or buf is too small.  Only the prefix
 * (or form) is looked at, not whether the data is well formed.
 */
const char *passwd_scheme_of(const char *stored, char *buf, size_t bufsz);

/* The caps in force (the defaults unless passwd_set_limits was called). */
void passwd_get_limits(struct passwd_limits *limits);
/*
 * Replace the caps, e.g. lower ones for the fuzz target or from the
 * configuration.  Not thread-safe: call it at startup only.
 */
void passwd_set_limits(const struct passwd_limits *limits);

#endif
