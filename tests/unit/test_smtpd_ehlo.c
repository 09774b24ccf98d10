/* SPDX-License-Identifier: MIT */
/*
 * test_smtpd_ehlo - the EHLO keyword lists of smtpd_discard_ehlo_keywords
 * and smtpd_discard_ehlo_keyword_address_maps values
 * (src/smtpd/smtpd_ehlo.c): parsed whole and one byte count at a time,
 * and written back for the log.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "smtpd_ehlo.h"

static const struct {
	const char *words;
	unsigned mask;
} cases[] = {
	{ "", 0 },
	{ ", \t", 0 },
	{ "pipelining", EHLO_D_PIPELINING },
	{ "STARTTLS,auth", EHLO_D_STARTTLS | EHLO_D_AUTH },
	{ "silent-discard, dsn  chunking", EHLO_D_SILENT | EHLO_D_DSN |
	    EHLO_D_CHUNKING },
	{ "size vrfy etrn xclient xforward", EHLO_D_SIZE | EHLO_D_VRFY |
	    EHLO_D_ETRN | EHLO_D_XCLIENT | EHLO_D_XFORWARD },
	{ "enhancedstatuscodes 8BITMIME smtputf8", EHLO_D_ENHANCED |
	    EHLO_D_8BITMIME | EHLO_D_SMTPUTF8 },
	/* Unknown words, prefixes and longer words are ignored. */
	{ "ok, start, starttlsx, pipe", 0 },
	{ "OK dsn", EHLO_D_DSN },
};

static void
test_mask(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = strlen(cases[i].words);

		if (smtpd_ehlo_mask(cases[i].words, len) != cases[i].mask)
			fail_msg("case %zu \"%s\": got %#x, want %#x", i,
			    cases[i].words, smtpd_ehlo_mask(cases[i].words,
			    len), cases[i].mask);
	}
}

/* Only the given bytes count: a prefix of a list is the list cut
 * there, and no byte past len is read. */
static void
test_mask_prefix(void **state)
{
	const char *w = "auth,dsn";

	(void)state;
	assert_int_equal(smtpd_ehlo_mask(w, 4), EHLO_D_AUTH);
	assert_int_equal(smtpd_ehlo_mask(w, 3), 0);
	assert_int_equal(smtpd_ehlo_mask(w, 7), EHLO_D_AUTH);
	assert_int_equal(smtpd_ehlo_mask(w, 8), EHLO_D_AUTH | EHLO_D_DSN);
	/* A NUL inside a value is no separator: not a keyword. */
	assert_int_equal(smtpd_ehlo_mask("dsn\0auth", 8), 0);
}

static void
test_mask_text(void **state)
{
	char out[256], small[10];

	(void)state;
	assert_string_equal(smtpd_ehlo_mask_text(EHLO_D_PIPELINING |
	    EHLO_D_STARTTLS | EHLO_D_SILENT, out, sizeof(out)),
	    "PIPELINING STARTTLS");
	assert_string_equal(smtpd_ehlo_mask_text(0, out, sizeof(out)), "");
	assert_string_equal(smtpd_ehlo_mask_text(EHLO_D_8BITMIME, out,
	    sizeof(out)), "8BITMIME");
	/* Cut to the room given, always terminated. */
	smtpd_ehlo_mask_text(EHLO_D_PIPELINING | EHLO_D_SIZE, small,
	    sizeof(small));
	assert_true(strlen(small) < sizeof(small));
	assert_int_equal(strncmp(small, "PIPELININ", 9), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mask),
		cmocka_unit_test(test_mask_prefix),
		cmocka_unit_test(test_mask_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
