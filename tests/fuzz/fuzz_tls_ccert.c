/* SPDX-License-Identifier: MIT */
/*
 * fuzz_tls_ccert - a client certificate as OpenSSL decodes it from
 * arbitrary DER: its subject and issuer names made safe
 * (tls_ccert_name) and its fingerprints (tls_fprint), checked to be
 * printable and '"'-free whatever the certificate holds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "tls_ccert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
must_be_safe(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f ||
		    *s == '"' || *s == '\\')
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const unsigned char *p = data;
	X509 *x = d2i_X509(NULL, &p, (long)size);
	char name[TLS_CCERT_NAME_MAX], fp[TLS_FPRINT_MAX];
	static const int nids[] = { NID_commonName, NID_organizationName };

	/* The names of any bytes, as if they were a certificate's. */
	if (size < 64) {
		X509_NAME *n = X509_NAME_new();

		if (n != NULL && X509_NAME_add_entry_by_NID(n, NID_commonName,
		    V_ASN1_T61STRING, data, (int)size, -1, 0) == 1) {
			tls_ccert_name(n, NID_commonName, name, sizeof(name));
			must_be_safe(name);
		}
		X509_NAME_free(n);
	}
	if (x == NULL)
		return 0;
	for (size_t i = 0; i < sizeof(nids) / sizeof(nids[0]); i++) {
		tls_ccert_name(X509_get_subject_name(x), nids[i], name,
		    sizeof(name));
		must_be_safe(name);
		tls_ccert_name(X509_get_issuer_name(x), nids[i], name,
		    sizeof(name));
		must_be_safe(name);
	}
	if (tls_fprint(EVP_sha512(), data, (size_t)(p - data), fp,
	    sizeof(fp)) && strlen(fp) != 64 * 3 - 1)
		abort();
	X509_free(x);
	return 0;
}
