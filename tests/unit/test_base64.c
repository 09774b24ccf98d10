/* SPDX-License-Identifier: MIT */
/*
 * test_base64 - RFC 4648 test vectors both ways, strictness, bounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base64.h"
#include "compat.h"

static const struct {
	const char *plain, *coded;
} vectors[] = {
	{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
	/* AUTH PLAIN "\0user\0pass" */
	{ "\0user\0pass", "AHVzZXIAcGFzcw==" },
};

static void
test_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(vectors); i++) {
		size_t plen = i == N_ELEMENTS(vectors) - 1 ? 10 :
		    strlen(vectors[i].plain);
		char enc[64];
		unsigned char dec[64];
		long n;

		assert_int_equal(base64_encode(vectors[i].plain, plen, enc),
		    strlen(vectors[i].coded));
		assert_string_equal(enc, vectors[i].coded);
		n = base64_decode(vectors[i].coded, strlen(vectors[i].coded),
		    dec, sizeof(dec));
		assert_int_equal(n, (long)plen);
		assert_memory_equal(dec, vectors[i].plain, plen);
	}
}

static void
test_strict(void **state)
{
	static const char *const bad[] = {
		"Zg=", "Zg", "Z===", "====", "Zg==Zg==", "Zm9v\n", " Zm9v",
		"Zm9v!", "Zh==", "Zm9=", "Z=g=", "Zm-v", "Zm_v",
	};
	unsigned char out[64];

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(bad); i++)
		if (base64_decode(bad[i], strlen(bad[i]), out, sizeof(out)) != -1)
			fail_msg("\"%s\" decoded but is not canonical base64",
			    bad[i]);
}

static void
test_bounds(void **state)
{
	unsigned char out[6];

	(void)state;
	assert_int_equal(base64_decode("Zm9vYmFy", 8, out, 6), 6);
	assert_int_equal(base64_decode("Zm9vYmFy", 8, out, 5), -1);
	assert_int_equal(base64_decode("Zm9vYg==", 8, out, 4), 4);
	assert_int_equal(base64_decode("Zm9vYg==", 8, out, 3), -1);
}

static void
test_unpadded(void **state)
{
	unsigned char out[16];

	(void)state;
	assert_int_equal(base64_decode_unpadded("Zg", 2, out, sizeof(out)), 1);
	assert_int_equal(out[0], 'f');
	assert_int_equal(base64_decode_unpadded("Zm8", 3, out, sizeof(out)), 2);
	assert_int_equal(base64_decode_unpadded("Zm9v", 4, out, sizeof(out)), 3);
	assert_int_equal(base64_decode_unpadded("Zg==", 4, out, sizeof(out)),
	    -1);
	assert_int_equal(base64_decode_unpadded("Z", 1, out, sizeof(out)), -1);
	assert_int_equal(base64_decode_unpadded("Zh", 2, out, sizeof(out)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_strict),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_unpadded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
