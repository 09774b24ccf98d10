/* SPDX-License-Identifier: MIT */
/*
 * test_tls_ccert - client certificate facts (src/tls/tls_ccert.c):
 * names made safe for a log line, a Received comment and a policy
 * attribute, and the words for a certificate that did not verify.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "tls_ccert.h"

/* A name with one entry nid = value (bytes, len) of ASN.1 type type. */
static X509_NAME *
name_with(int nid, int type, const char *value, int len)
{
	X509_NAME *n = X509_NAME_new();

	assert_non_null(n);
	assert_int_equal(X509_NAME_add_entry_by_NID(n, nid, type,
	    (const unsigned char *)value, len, -1, 0), 1);
	return n;
}

static void
test_name_is_made_safe(void **state)
{
	char out[TLS_CCERT_NAME_MAX];
	X509_NAME *n;

	(void)state;
	n = name_with(NID_commonName, MBSTRING_ASC, "client.example", -1);
	tls_ccert_name(n, NID_commonName, out, sizeof(out));
	assert_string_equal(out, "client.example");
	/* No entry of that kind. */
	tls_ccert_name(n, NID_organizationName, out, sizeof(out));
	assert_string_equal(out, "");
	X509_NAME_free(n);

	/* A quote would end the Received comment's string early, a CR or
	 * LF the header or the policy attribute line. */
	n = name_with(NID_commonName, MBSTRING_ASC,
	    "a\"b\\c\r\nX-Evil: 1\t\x7f", -1);
	tls_ccert_name(n, NID_commonName, out, sizeof(out));
	assert_string_equal(out, "a?b?c??X-Evil: 1??");
	X509_NAME_free(n);

	/* UTF-8 (from a UTF8String): one '?' per byte. */
	n = name_with(NID_commonName, MBSTRING_UTF8, "caf\xc3\xa9", -1);
	tls_ccert_name(n, NID_commonName, out, sizeof(out));
	assert_string_equal(out, "caf??");
	X509_NAME_free(n);

	/* A NUL inside the value does not end it early. */
	n = name_with(NID_commonName, V_ASN1_T61STRING, "ok\0.evil", 8);
	tls_ccert_name(n, NID_commonName, out, sizeof(out));
	assert_string_equal(out, "ok?.evil");
	X509_NAME_free(n);

	/* Cut to the buffer. */
	n = name_with(NID_commonName, MBSTRING_ASC, "abcdefgh", -1);
	tls_ccert_name(n, NID_commonName, out, 4);
	assert_string_equal(out, "abc");
	tls_ccert_name(NULL, NID_commonName, out, sizeof(out));
	assert_string_equal(out, "");
	X509_NAME_free(n);
}

static void
test_why_words(void **state)
{
	char out[256];

	(void)state;
	tls_ccert_why(X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, true, out,
	    sizeof(out));
	assert_non_null(strstr(out, "it is self-signed"));
	assert_non_null(strstr(out, "relay_clientcerts"));
	tls_ccert_why(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, true, out,
	    sizeof(out));
	assert_non_null(strstr(out, "the CA that issued it is not in "
	    "smtpd_tls_CAfile"));
	tls_ccert_why(X509_V_ERR_CERT_HAS_EXPIRED, true, out, sizeof(out));
	assert_non_null(strstr(out, "expired"));
	tls_ccert_why(X509_V_ERR_INVALID_PURPOSE, true, out, sizeof(out));
	assert_non_null(strstr(out, "clientAuth"));
	tls_ccert_why(X509_V_ERR_CERT_CHAIN_TOO_LONG, true, out, sizeof(out));
	assert_non_null(strstr(out, "smtpd_tls_ccert_verifydepth"));
	/* No CA at all: that is the reason, whatever OpenSSL said. */
	tls_ccert_why(X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, false, out,
	    sizeof(out));
	assert_non_null(strstr(out, "no CA is set to verify client "
	    "certificates with"));
	/* Others: OpenSSL's words. */
	tls_ccert_why(X509_V_ERR_CRL_HAS_EXPIRED, true, out, sizeof(out));
	assert_string_equal(out, "verification failed: CRL has expired");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_is_made_safe),
		cmocka_unit_test(test_why_words),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
