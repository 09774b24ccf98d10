/* SPDX-License-Identifier: MIT */
/*
 * tls_fprint - certificate and public key fingerprints in the notation
 * Postfix's tables and TLS policies use: the digest of the DER
 * certificate, or of its DER SubjectPublicKeyInfo (which survives a
 * renewal with the same key), as upper-case hex bytes joined by colons
 * ("AB:CD:..."), the form `openssl x509 -noout -fingerprint -sha256`
 * prints.  Used for client certificates (smtpd_tls_fingerprint_digest)
 * and the SMTP client's fingerprint security level
 * (smtp_tls_fingerprint_digest).
 */
#ifndef OSTIA_TLS_FPRINT_H
#define OSTIA_TLS_FPRINT_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/* "AB:" per byte of the largest digest (SHA-512: 64 bytes). */
#define TLS_FPRINT_MAX (3 * EVP_MAX_MD_SIZE + 1)

/*
 * tls_fprint - format the md digest of len bytes at data as "AB:CD:..."
 * into out (at least TLS_FPRINT_MAX bytes).  False when the digest
 * cannot be computed or does not fit (out is then "").
 */
bool tls_fprint(const EVP_MD *md, const unsigned char *data, size_t len,
    char *out, size_t outsz);

/* The fingerprint of certificate x, and of its public key; false (out
 * "") when it cannot be made. */
bool tls_fprint_cert(const EVP_MD *md, X509 *x, char *out, size_t outsz);
bool tls_fprint_pkey(const EVP_MD *md, X509 *x, char *out, size_t outsz);

/*
 * tls_fprint_md - the digest named name (smtpd_tls_fingerprint_digest,
 * smtp_tls_fingerprint_digest: "sha256", "sha1", "md5"...), for
 * tls_fprint; NULL when OpenSSL has none of that name or it is no
 * fixed-size digest.  Free with EVP_MD_free.
 */
EVP_MD *tls_fprint_md(const char *name);

/*
 * tls_fprint_equal - whether fingerprint a matches b as an admin wrote
 * it: hex digits compared without regard to case, colons ignored, so
 * "ab:cd" and "ABCD" are the same.  Anything else in b (space, another
 * separator) never matches.
 */
bool tls_fprint_equal(const char *a, const char *b);

#endif
