/* SPDX-License-Identifier: MIT */
/*
 * tls_ccert - facts of a TLS client's certificate; see tls_ccert.h.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "tls_ccert.h"

void
tls_ccert_name(const X509_NAME *name, int nid, char *out, size_t outsz)
{
	int i = name != NULL && outsz > 0 ?
	    X509_NAME_get_index_by_NID(name, nid, -1) : -1;
	unsigned char *utf8 = NULL;
	int n;
	size_t o = 0;

	if (outsz > 0)
		out[0] = '\0';
	if (i < 0)
		return;
	n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(
	    X509_NAME_get_entry(name, i)));
	if (n < 0)
		return;
	for (int k = 0; k < n && o + 1 < outsz; k++) {
		unsigned char c = utf8[k];

		out[o++] = c >= 0x20 && c < 0x7f && c != '"' && c != '\\' ?
		    (char)c : '?';
	}
	out[o] = '\0';
	OPENSSL_free(utf8);
}

void
tls_ccert_why(int err, bool have_ca, char *out, size_t outsz)
{
	const char *w;

	if (!have_ca) {
		snprintf(out, outsz, "no CA is set to verify client "
		    "certificates with (set smtpd_tls_CAfile or "
		    "smtpd_tls_CApath to the CA that issues them)");
		return;
	}
	switch (err) {
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
		w = "it is self-signed (list its fingerprint in "
		    "relay_clientcerts or a check_ccert_access table, or "
		    "issue it from a CA in smtpd_tls_CAfile)";
		break;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
		w = "the CA that issued it is not in smtpd_tls_CAfile or "
		    "smtpd_tls_CApath (add that CA, or its intermediate "
		    "when the client does not send it)";
		break;
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
		w = "its chain ends in a root CA that is not in "
		    "smtpd_tls_CAfile or smtpd_tls_CApath";
		break;
	case X509_V_ERR_CERT_HAS_EXPIRED:
		w = "it has expired (the client needs a new certificate)";
		break;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		w = "it is not valid yet (check the clocks of both hosts)";
		break;
	case X509_V_ERR_CERT_CHAIN_TOO_LONG:
		w = "its chain has more CAs than smtpd_tls_ccert_verifydepth "
		    "allows";
		break;
	case X509_V_ERR_INVALID_PURPOSE:
		w = "it is not made for TLS clients (its extended key usage "
		    "lacks clientAuth)";
		break;
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
	case X509_V_ERR_CERT_REJECTED:
		w = "its signature does not verify";
		break;
	case X509_V_ERR_CERT_REVOKED:
		w = "it has been revoked";
		break;
	case X509_V_ERR_EE_KEY_TOO_SMALL:
	case X509_V_ERR_CA_KEY_TOO_SMALL:
	case X509_V_ERR_CA_MD_TOO_WEAK:
		w = "its key or signature is too weak for OpenSSL's security "
		    "level";
		break;
	default:
		snprintf(out, outsz, "verification failed: %s",
		    X509_verify_cert_error_string(err));
		return;
	}
	snprintf(out, outsz, "%s", w);
}

bool
tls_ccert_get(SSL *ssl, const EVP_MD *md, int verify_err, bool have_ca,
    struct tls_ccert *out)
{
	X509 *x = SSL_get0_peer_certificate(ssl);
	long res;

	memset(out, 0, sizeof(*out));
	if (x == NULL)
		return false;
	tls_ccert_name(X509_get_subject_name(x), NID_commonName, out->subject,
	    sizeof(out->subject));
	tls_ccert_name(X509_get_issuer_name(x), NID_commonName, out->issuer,
	    sizeof(out->issuer));
	if (out->issuer[0] == '\0')
		tls_ccert_name(X509_get_issuer_name(x), NID_organizationName,
		    out->issuer, sizeof(out->issuer));
	(void)tls_fprint_cert(md, x, out->fprint, sizeof(out->fprint));
	(void)tls_fprint_pkey(md, x, out->pkey_fprint,
	    sizeof(out->pkey_fprint));
	res = SSL_get_verify_result(ssl);
	out->trusted = have_ca && res == X509_V_OK;
	if (!out->trusted)
		tls_ccert_why(verify_err != X509_V_OK ? verify_err : (int)res,
		    have_ca, out->why, sizeof(out->why));
	return true;
}
