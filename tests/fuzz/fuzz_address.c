/* SPDX-License-Identifier: MIT */
/*
 * fuzz_address - address_parse_path() on arbitrary bytes.
 *
 * The first byte selects the flags (its low four bits: all 16
 * combinations of enum address_flags); the rest is the text after
 * "MAIL FROM:".  abort() when an invariant breaks:
 *  - consumed <= len; on failure an error text and an empty struct;
 *  - on success text is local@domain, "" for <>, or a bare postmaster;
 *  - parsing only the first consumed bytes gives the same result;
 *  - "<" text ">" parses with the same flags to the same address;
 *  - the domain passes address_domain_is_valid().
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "address.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ADDRESS_FLAGS_ALL (ADDRESS_SMTPUTF8 | ADDRESS_NULL_OK | \
	ADDRESS_STRICT | ADDRESS_POSTMASTER_OK)

static bool
str_eq_or_null(const char *x, const char *y)
{
	if (x == NULL || y == NULL)
		return x == y;
	return strcmp(x, y) == 0;
}

static bool
same_address(const struct address *x, const struct address *y)
{
	return str_eq_or_null(x->local, y->local) &&
	    str_eq_or_null(x->domain, y->domain) &&
	    str_eq_or_null(x->text, y->text) && x->is_null == y->is_null &&
	    x->is_literal == y->is_literal && x->has_utf8 == y->has_utf8;
}

/* check_failed - the contract for a failed parse. */
static void
check_failed(const struct address *a, size_t consumed, const char *error)
{
	if (a->local != NULL || a->domain != NULL || a->text != NULL ||
	    a->is_null || a->is_literal || a->has_utf8)
		abort();
	if (consumed != 0 || error == NULL || *error == '\0')
		abort();
}

/* check_shape - text agrees with the other fields and the flags. */
static void
check_shape(const struct address *a, unsigned flags)
{
	char *want;

	if (a->text == NULL)
		abort();
	if (a->is_null) {
		if ((flags & ADDRESS_NULL_OK) == 0 || a->local != NULL ||
		    a->domain != NULL || *a->text != '\0' || a->is_literal ||
		    a->has_utf8)
			abort();
		return;
	}
	if (a->local == NULL || *a->local == '\0' ||
	    strlen(a->local) > ADDRESS_LOCAL_MAX_BYTES)
		abort();
	if (a->domain == NULL) {
		/* Postmaster alone, RFC 5321 4.5.1. */
		if ((flags & ADDRESS_POSTMASTER_OK) == 0 ||
		    strcasecmp(a->text, "postmaster") != 0 ||
		    strcmp(a->text, a->local) != 0 || a->is_literal)
			abort();
		return;
	}
	if (strchr(a->text, '@') == NULL ||
	    strlen(a->text) + 2 > ADDRESS_PATH_MAX_BYTES ||
	    !address_domain_is_valid(a->domain,
	    (flags & ADDRESS_SMTPUTF8) != 0) ||
	    a->is_literal != (a->domain[0] == '['))
		abort();
	want = xasprintf("%s@%s", a->local, a->domain);
	if (strcmp(want, a->text) != 0)
		abort();
	free(want);
	if (a->has_utf8 && (flags & ADDRESS_SMTPUTF8) == 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct address a, b;
	const char *s, *error = NULL;
	size_t len, consumed = 0, consumed2 = 0, n;
	unsigned flags;
	enum address_error err;
	char *copy, *wrapped, *dom;

	if (size == 0)
		return 0;
	flags = data[0] & ADDRESS_FLAGS_ALL;
	s = (const char *)data + 1;
	len = size - 1;

	err = address_parse_path(s, len, flags, &a, &consumed, &error);
	if (err != ADDRESS_OK) {
		check_failed(&a, consumed, error);
		address_deinit(&a);
		goto domain;
	}
	if (consumed == 0 || consumed > len)
		abort();
	check_shape(&a, flags);

	/* Nothing after the path counts: parse exactly consumed bytes,
	 * from their own allocation so an overread shows. */
	copy = xmalloc(consumed);
	memcpy(copy, s, consumed);
	if (address_parse_path(copy, consumed, flags, &b, &consumed2,
	    &error) != ADDRESS_OK || consumed2 != consumed ||
	    !same_address(&a, &b))
		abort();
	address_deinit(&b);
	free(copy);

	/* The text is an address again once put in brackets. */
	n = strlen(a.text) + 2;
	wrapped = xmalloc(n);
	wrapped[0] = '<';
	memcpy(wrapped + 1, a.text, n - 2);
	wrapped[n - 1] = '>';
	if (address_parse_path(wrapped, n, flags, &b, &consumed2,
	    &error) != ADDRESS_OK || consumed2 != n ||
	    strcmp(a.text, b.text) != 0 || !same_address(&a, &b))
		abort();
	address_deinit(&b);
	free(wrapped);
	address_deinit(&a);
	address_deinit(&a);

domain:
	/* The whole input as a domain must not crash either. */
	dom = xstrndup(s, len);
	(void)address_domain_is_valid(dom, (flags & ADDRESS_SMTPUTF8) != 0);
	free(dom);
	return 0;
}
