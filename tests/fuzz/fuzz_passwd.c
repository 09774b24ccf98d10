/* SPDX-License-Identifier: MIT */
/*
 * fuzz_passwd - passwd_verify() and passwd_scheme_of() on arbitrary
 * stored hashes.
 *
 * Input: "PASSWORD\0STORED" (STORED ends at the next NUL, if any), or,
 * without a NUL, the whole input is STORED and the password is "secret".
 *
 * Cost: a stored hash names its own cost, and the default caps allow a
 * second of work per check, far too slow for a fuzzer.  So the target
 * lowers the caps through passwd_set_limits() (bcrypt cost 5, SHA-crypt
 * and PBKDF2/SCRAM 5000 rounds, 1 MiB of memory, argon2 t <= 2, p <= 4):
 * passwd.c's own parser then refuses anything dearer before any work,
 * so the fuzzer exercises exactly the code that enforces the caps, and
 * an input can cost at most a few milliseconds.  The seed corpus uses
 * hashes within these caps (Dovecot's own, and small argon2/yescrypt
 * ones checked with doveadm pw -t).
 *
 * Checked: the result is one of the three values; a bad hash comes with
 * a reason; a reason is printable ASCII (so it quotes no password or
 * hash bytes outside that set, and only scheme names are ever quoted);
 * the answer is the same without an err buffer; passwd_scheme_of()
 * knows the scheme of every value passwd_verify() did not refuse as a
 * bad hash; the plaintext flag is set exactly for PLAIN/CLEAR/CLEARTEXT.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "passwd.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
set_fuzz_limits(void)
{
	static bool done;
	struct passwd_limits l;

	if (done)
		return;
	passwd_get_limits(&l);
	l.bcrypt_max_cost = 5;
	l.shacrypt_max_rounds = 5000;
	l.pbkdf2_max_rounds = 5000;
	l.memory_max_kib = 1024;
	l.argon2_max_t = 2;
	l.argon2_max_p = 4;
	l.argon2_max_m_times_t = 2048;
	passwd_set_limits(&l);
	done = true;
}

static bool
is_plain_name(const char *name)
{
	static const char *const names[] = { "PLAIN", "CLEAR", "CLEARTEXT" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t n = strlen(names[i]);

		if (strncmp(name, names[i], n) == 0 &&
		    (name[n] == '\0' || name[n] == '.'))
			return true;
	}
	return false;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	char *password, *stored;
	size_t pwlen;
	char err[256], name[PASSWD_SCHEME_NAME_MAX];
	const char *scheme;
	bool plain = false;
	enum passwd_result r;

	set_fuzz_limits();
	if (nul != NULL) {
		pwlen = (size_t)(nul - data);
		password = xstrndup((const char *)data, pwlen);
		stored = xstrndup((const char *)nul + 1,
		    size - pwlen - 1);
	} else {
		password = xstrdup("secret");
		pwlen = 6;
		stored = xstrndup((const char *)data, size);
	}

	err[0] = '\0';
	r = passwd_verify(password, pwlen, stored, &plain, err, sizeof(err));
	if (r != PASSWD_MATCH && r != PASSWD_MISMATCH &&
	    r != PASSWD_BAD_HASH)
		abort();
	if (r == PASSWD_BAD_HASH && err[0] == '\0')
		abort();
	if (strnlen(err, sizeof(err)) >= sizeof(err))
		abort();
	for (const char *p = err; *p != '\0'; p++) {
		if (*p < 0x20 || *p > 0x7e)
			abort();
	}

	scheme = passwd_scheme_of(stored, name, sizeof(name));
	if (r != PASSWD_BAD_HASH && scheme == NULL)
		abort();
	if (plain && (scheme == NULL || !is_plain_name(scheme)))
		abort();
	if (scheme != NULL && is_plain_name(scheme) && r != PASSWD_BAD_HASH &&
	    !plain)
		abort();

	/* The same without an err buffer: same answer. */
	if (passwd_verify(password, pwlen, stored, NULL, NULL, 0) != r)
		abort();

	free(password);
	free(stored);
	return 0;
}
