/* SPDX-License-Identifier: MIT */
/*
 * tls_ccert - the certificate a TLS client presented to the SMTP
 * server: its names, its fingerprints, and whether it verified, with
 * the reason in plain words when it did not.
 *
 * Fingerprints (tls_fprint.h, smtpd_tls_fingerprint_digest) are what
 * Postfix's permit_tls_clientcerts, relay_clientcerts and
 * check_ccert_access match: of the certificate and of its public key.
 */
#ifndef OSTIA_TLS_CCERT_H
#define OSTIA_TLS_CCERT_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "tls_fprint.h"

/* Longest common name kept (escaped). */
#define TLS_CCERT_NAME_MAX 256

struct tls_ccert {
	bool trusted;			/* chain verified to our CAs */
	char subject[TLS_CCERT_NAME_MAX];	/* subject CN, or "" */
	char issuer[TLS_CCERT_NAME_MAX];	/* issuer CN (or O), or "" */
	char fprint[TLS_FPRINT_MAX];		/* of the certificate */
	char pkey_fprint[TLS_FPRINT_MAX];	/* of its public key */
	char why[256];			/* !trusted: why, and the fix */
};

/*
 * tls_ccert_name - the first nid entry (NID_commonName...) of name as
 * text fit for a log line, a quoted header comment and a policy
 * attribute: printable ASCII, every '"', '\', control, 8-bit or UTF-8
 * byte replaced by '?', cut to outsz - 1 bytes; "" when there is none.
 */
void tls_ccert_name(const X509_NAME *name, int nid, char *out,
    size_t outsz);

/*
 * tls_ccert_get - the facts of the certificate the peer of ssl (a
 * server-side SSL whose handshake is done) presented, fingerprints made
 * with md; false when it presented none.  verify_err: the first
 * verification error the handshake saw (X509_V_OK if none was seen,
 * e.g. on a resumed session: then the session's result is used);
 * have_ca: whether any CA was configured to verify with.
 */
bool tls_ccert_get(SSL *ssl, const EVP_MD *md, int verify_err,
    bool have_ca, struct tls_ccert *out);

/*
 * tls_ccert_why - the plain-words reason a client certificate failed
 * verification with X509 error err, and what to do about it (have_ca:
 * whether any CA was configured to verify with); written into out.
 */
void tls_ccert_why(int err, bool have_ca, char *out, size_t outsz);

#endif
