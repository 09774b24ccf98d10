/* SPDX-License-Identifier: MIT */
/*
 * fuzz_smtp_args - smtp_mail_args_parse(), smtp_rcpt_args_parse() and
 * the xtext coder on arbitrary text.
 *
 * The first byte picks the extensions (bits 0-5, enum smtp_ext) and the
 * address flags (bit 6 ADDRESS_STRICT, bit 7 ADDRESS_SMTPUTF8); the rest
 * is the argument text, parsed as given and with "FROM:"/"TO:" put in
 * front so that mutations reach the parameters.  Results must be
 * consistent with the extensions in force; freeing must always be safe.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * add_fuzz_target() links only ostiacore and has no src/smtpd include
 * path, so the module is compiled in here.  Once fuzz targets link
 * ostiadaemon, replace this with #include "smtp_command.h".
 */
#include "smtp_command.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_error(enum smtp_arg_error e, const char *error)
{
	if (e > SMTP_ARG_DUPLICATE)
		abort();
	if (e != SMTP_ARG_OK && (error == NULL || *error == '\0'))
		abort();
}

static void
mail(const char *s, size_t n, unsigned exts, unsigned flags)
{
	struct smtp_mail_args a;
	const char *error = NULL;
	enum smtp_arg_error e;

	e = smtp_mail_args_parse(s, n, exts, flags, &a, &error);
	check_error(e, error);
	if (e == SMTP_ARG_OK) {
		if (a.from.text == NULL ||
		    (a.has_size && !(exts & SMTP_EXT_SIZE)) ||
		    (a.smtputf8 && !(exts & SMTP_EXT_SMTPUTF8)) ||
		    (a.body != SMTP_BODY_NONE && !(exts &
		    (SMTP_EXT_8BITMIME | SMTP_EXT_CHUNKING))) ||
		    ((a.ret != SMTP_RET_NONE || a.envid != NULL) &&
		    !(exts & SMTP_EXT_DSN)) ||
		    (a.auth != NULL && !(exts & SMTP_EXT_AUTH)) ||
		    (a.from.has_utf8 && !a.smtputf8 &&
		    !(flags & ADDRESS_SMTPUTF8)) ||
		    (a.envid != NULL &&
		    strlen(a.envid) > SMTP_ENVID_MAX_BYTES))
			abort();
		if (a.envid != NULL) {
			/* Decoded text encodes and decodes back. */
			char *enc = smtp_xtext_encode(a.envid);
			char *dec = smtp_xtext_decode(enc, strlen(enc),
			    &error);

			if (dec == NULL || strcmp(dec, a.envid) != 0)
				abort();
			free(dec);
			free(enc);
		}
	} else if (a.from.text != NULL || a.envid != NULL ||
	    a.auth != NULL) {
		abort();
	}
	smtp_mail_args_deinit(&a);
	smtp_mail_args_deinit(&a);
}

static void
rcpt(const char *s, size_t n, unsigned exts, unsigned flags)
{
	struct smtp_rcpt_args a;
	const char *error = NULL;
	enum smtp_arg_error e;

	e = smtp_rcpt_args_parse(s, n, exts, flags, &a, &error);
	check_error(e, error);
	if (e == SMTP_ARG_OK) {
		if (a.to.text == NULL || a.to.is_null ||
		    ((a.notify != 0 || a.orcpt != NULL) &&
		    !(exts & SMTP_EXT_DSN)) ||
		    ((a.notify & SMTP_NOTIFY_NEVER) &&
		    a.notify != SMTP_NOTIFY_NEVER) ||
		    (a.orcpt != NULL && (strchr(a.orcpt, ';') == NULL ||
		    strlen(a.orcpt) > SMTP_ORCPT_MAX_BYTES)) ||
		    (a.to.has_utf8 && !(flags & ADDRESS_SMTPUTF8)))
			abort();
	} else if (a.to.text != NULL || a.orcpt != NULL) {
		abort();
	}
	smtp_rcpt_args_deinit(&a);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s;
	const char *error = NULL;
	unsigned exts, flags = 0;
	size_t n;
	char *p, *dec;

	if (size == 0)
		return 0;
	exts = data[0] & 0x3f;
	if (data[0] & 0x40)
		flags |= ADDRESS_STRICT;
	if (data[0] & 0x80)
		flags |= ADDRESS_SMTPUTF8;
	s = (const char *)data + 1;
	n = size - 1;

	mail(s, n, exts, flags);
	rcpt(s, n, exts, flags | ADDRESS_POSTMASTER_OK);

	p = xmalloc(n + 5);
	memcpy(p, "FROM:", 5);
	memcpy(p + 5, s, n);
	mail(p, n + 5, exts, flags);
	memcpy(p + 2, "TO:", 3);
	rcpt(p + 2, n + 3, exts, flags);
	free(p);

	dec = smtp_xtext_decode(s, n, &error);
	if (dec == NULL) {
		if (error == NULL || *error == '\0')
			abort();
	} else {
		char *enc = smtp_xtext_encode(dec);
		char *again = smtp_xtext_decode(enc, strlen(enc), &error);

		if (again == NULL || strcmp(again, dec) != 0)
			abort();
		free(again);
		free(enc);
		free(dec);
	}
	return 0;
}
