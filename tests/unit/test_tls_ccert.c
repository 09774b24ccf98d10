/* SPDX-License-Identifier: MIT */
/*
 * test_tls_ccert - client certificate facts (src/tls/tls_ccert.c): the
 * fingerprint notation relay_clientcerts and check_ccert_access tables
 * are written in, names made safe for a log line, a Received comment
 * and a policy attribute, and the words for a certificate that did not
 * verify.
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

/* SHA-256, SHA-1 and MD5 of "abc" (FIPS 180-2, RFC 1321). */
static void
test_fprint_notation(void **state)
{
	char out[TLS_FPRINT_MAX];
	const unsigned char abc[] = "abc";

	(void)state;
	assert_true(tls_fprint(EVP_sha256(), abc, 3, out, sizeof(out)));
	assert_string_equal(out, "BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:"
	    "22:23:B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD");
	assert_true(tls_fprint(EVP_sha1(), abc, 3, out, sizeof(out)));
	assert_string_equal(out, "A9:99:3E:36:47:06:81:6A:BA:3E:25:71:78:50:"
	    "C2:6C:9C:D0:D8:9D");
	assert_true(tls_fprint(EVP_md5(), abc, 3, out, sizeof(out)));
	assert_string_equal(out, "90:01:50:98:3C:D2:4F:B0:D6:96:3F:7D:28:E1:"
	    "7F:72");
	/* The largest digest fits TLS_FPRINT_MAX exactly. */
	assert_true(tls_fprint(EVP_sha512(), abc, 3, out, sizeof(out)));
	assert_int_equal(strlen(out), 64 * 3 - 1);
}

static void
test_fprint_refuses_what_does_not_fit(void **state)
{
	char small[3 * 32 - 1];	/* one byte short for SHA-256 */
	const unsigned char abc[] = "abc";

	(void)state;
	memset(small, 'x', sizeof(small));
	assert_false(tls_fprint(EVP_sha256(), abc, 3, small, sizeof(small)));
	assert_string_equal(small, "");
	assert_false(tls_fprint(NULL, abc, 3, small, sizeof(small)));
	assert_string_equal(small, "");
	assert_false(tls_fprint(EVP_sha256(), abc, 3, small, 0));
}

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
		cmocka_unit_test(test_fprint_notation),
		cmocka_unit_test(test_fprint_refuses_what_does_not_fit),
		cmocka_unit_test(test_name_is_made_safe),
		cmocka_unit_test(test_why_words),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
