/* SPDX-License-Identifier: MIT */
/*
 * tls_fprint - certificate and public key fingerprints; see
 * tls_fprint.h.
 */
#include <ctype.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "tls_fprint.h"

bool
tls_fprint(const EVP_MD *md, const unsigned char *data, size_t len,
    char *out, size_t outsz)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	size_t o = 0;

	if (outsz == 0)
		return false;
	out[0] = '\0';
	if (md == NULL || EVP_Digest(data, len, d, &n, md, NULL) != 1 ||
	    (size_t)n * 3 > outsz)
		return false;
	for (unsigned int i = 0; i < n; i++) {
		if (i > 0)
			out[o++] = ':';
		out[o++] = hex[d[i] >> 4];
		out[o++] = hex[d[i] & 0x0f];
	}
	out[o] = '\0';
	return true;
}

bool
tls_fprint_cert(const EVP_MD *md, X509 *x, char *out, size_t outsz)
{
	unsigned char *der = NULL;
	int n = x != NULL ? i2d_X509(x, &der) : -1;
	bool ok = n > 0 && tls_fprint(md, der, (size_t)n, out, outsz);

	OPENSSL_free(der);
	if (!ok && outsz > 0)
		out[0] = '\0';
	return ok;
}

bool
tls_fprint_pkey(const EVP_MD *md, X509 *x, char *out, size_t outsz)
{
	unsigned char *der = NULL;
	int n = x != NULL ? i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der) :
	    -1;
	bool ok = n > 0 && tls_fprint(md, der, (size_t)n, out, outsz);

	OPENSSL_free(der);
	if (!ok && outsz > 0)
		out[0] = '\0';
	return ok;
}

EVP_MD *
tls_fprint_md(const char *name)
{
	EVP_MD *md = EVP_MD_fetch(NULL, name, NULL);

	if (md != NULL && (EVP_MD_get_size(md) <= 0 ||
	    EVP_MD_get_size(md) > EVP_MAX_MD_SIZE ||
	    (EVP_MD_get_flags(md) & EVP_MD_FLAG_XOF) != 0)) {
		EVP_MD_free(md);
		md = NULL;
	}
	if (md == NULL)
		ERR_clear_error();
	return md;
}

bool
tls_fprint_equal(const char *a, const char *b)
{
	for (;;) {
		while (*a == ':')
			a++;
		while (*b == ':')
			b++;
		if (*a == '\0' || *b == '\0')
			return *a == '\0' && *b == '\0';
		if (!isxdigit((unsigned char)*a) ||
		    !isxdigit((unsigned char)*b) ||
		    toupper((unsigned char)*a) != toupper((unsigned char)*b))
			return false;
		a++;
		b++;
	}
}
