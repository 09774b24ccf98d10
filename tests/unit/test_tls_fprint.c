/* SPDX-License-Identifier: MIT */
/*
 * test_tls_fprint - fingerprints (src/tls/tls_fprint.c) in the notation
 * relay_clientcerts, check_ccert_access and the fingerprint TLS level
 * are written in, and how a written one is compared.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include <openssl/evp.h>

#include "tls_fprint.h"

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

static void
test_md_names(void **state)
{
	EVP_MD *md;

	(void)state;
	for (const char *const *n = (const char *const[]){ "sha256", "SHA256",
	    "sha1", "md5", "sha512", NULL }; *n != NULL; n++) {
		md = tls_fprint_md(*n);
		assert_non_null(md);
		EVP_MD_free(md);
	}
	/* Unknown, and variable-length (no fixed fingerprint). */
	assert_null(tls_fprint_md("nosuchdigest"));
	assert_null(tls_fprint_md("shake256"));
	assert_null(tls_fprint_md(""));
}

static void
test_equal(void **state)
{
	(void)state;
	assert_true(tls_fprint_equal("AB:CD:EF", "AB:CD:EF"));
	assert_true(tls_fprint_equal("AB:CD:EF", "ab:cd:ef"));
	assert_true(tls_fprint_equal("AB:CD:EF", "abcdef"));
	assert_true(tls_fprint_equal("AB:CD:EF", "a:bcd:ef:"));
	assert_false(tls_fprint_equal("AB:CD:EF", "AB:CD"));
	assert_false(tls_fprint_equal("AB:CD", "AB:CD:EF"));
	assert_false(tls_fprint_equal("AB:CD:EF", "AB CD EF"));
	assert_false(tls_fprint_equal("AB:CD:EF", "AB-CD-EF"));
	assert_false(tls_fprint_equal("AB:CD:EF", "AB:CD:EG"));
	/* Nothing matches nothing only. */
	assert_true(tls_fprint_equal("", ""));
	assert_false(tls_fprint_equal("", "AB"));
	assert_false(tls_fprint_equal("ZZ", "ZZ"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fprint_notation),
		cmocka_unit_test(test_fprint_refuses_what_does_not_fit),
		cmocka_unit_test(test_md_names),
		cmocka_unit_test(test_equal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
