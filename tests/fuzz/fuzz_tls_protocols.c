/* SPDX-License-Identifier: MIT */
/*
 * fuzz_tls_protocols - tls_protocols_parse() on arbitrary list text, and
 * tls_cipher_list() on an arbitrary grade list and exclusions.
 *
 * Input: the whole input is a protocol list.  For the cipher list it is
 * split at newlines: the first line is the grade list, every further
 * line one exclusion (a NUL ends the input early, as it would for a C
 * string).  Checked: a parse result is consistent (mask, min, max and
 * holes agree, nothing below TLSv1), parsing its own text gives the same
 * result, a context takes it; every failure has a message that fits the
 * documented bound; a cipher list is the grade list followed by ":!X"
 * per exclusion.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "compat.h"
#include "strv.h"
#include "tls_policy.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct {
	int version;
	unsigned bit;
	uint64_t no_option;
} versions[] = {
	{ TLS1_VERSION, TLS_PROTO_TLSv1, SSL_OP_NO_TLSv1 },
	{ TLS1_1_VERSION, TLS_PROTO_TLSv1_1, SSL_OP_NO_TLSv1_1 },
	{ TLS1_2_VERSION, TLS_PROTO_TLSv1_2, SSL_OP_NO_TLSv1_2 },
	{ TLS1_3_VERSION, TLS_PROTO_TLSv1_3, SSL_OP_NO_TLSv1_3 },
};

/* check_error - a failure must come with a bounded, terminated message. */
static void
check_error(const char *err, size_t errsz)
{
	size_t n = strnlen(err, errsz);

	if (n == 0 || n >= errsz || n >= TLS_POLICY_ERROR_MAX_BYTES)
		abort();
}

/* check_protocols - the fields of a parse result agree. */
static void
check_protocols(const struct tls_protocols *p)
{
	size_t lo = N_ELEMENTS(versions), hi = 0;
	uint64_t holes = 0;

	if (p->mask == 0 || (p->mask & ~TLS_PROTO_TLS_ALL) != 0)
		abort();
	for (size_t i = 0; i < N_ELEMENTS(versions); i++) {
		if ((p->mask & versions[i].bit) == 0)
			continue;
		if (lo == N_ELEMENTS(versions))
			lo = i;
		hi = i;
	}
	for (size_t i = lo + 1; i < hi; i++) {
		if ((p->mask & versions[i].bit) == 0)
			holes |= versions[i].no_option;
	}
	if (p->min_version != versions[lo].version || p->ssl_options != holes)
		abort();
	if (hi == N_ELEMENTS(versions) - 1 ? p->max_version != 0 :
	    p->max_version != versions[hi].version)
		abort();
	if (tls_version_bit(p->min_version) != versions[lo].bit)
		abort();
}

static void
fuzz_protocols(const char *s)
{
	static SSL_CTX *ctx = NULL;
	char err[TLS_POLICY_ERROR_MAX_BYTES];
	char text[TLS_PROTOCOLS_TEXT_MAX_BYTES];
	struct tls_protocols p, q;

	err[0] = '\0';
	if (!tls_protocols_parse(s, &p, err, sizeof(err))) {
		check_error(err, sizeof(err));
		return;
	}
	check_protocols(&p);
	/* The text of the result is itself a list that means the same. */
	(void)tls_protocols_text(p.mask, text, sizeof(text));
	if (strlen(text) + 1 >= sizeof(text))
		abort();
	if (!tls_protocols_parse(text, &q, err, sizeof(err)) ||
	    memcmp(&p, &q, sizeof(p)) != 0)
		abort();
	if (ctx == NULL && (ctx = SSL_CTX_new(TLS_method())) == NULL)
		abort();
	if (!tls_protocols_apply(ctx, &p, err, sizeof(err)) ||
	    SSL_CTX_get_min_proto_version(ctx) != p.min_version ||
	    SSL_CTX_get_max_proto_version(ctx) != p.max_version ||
	    (SSL_CTX_get_options(ctx) & SSL_OP_NO_SSL_MASK) != p.ssl_options)
		abort();
}

static void
fuzz_ciphers(const char *s)
{
	char err[TLS_POLICY_ERROR_MAX_BYTES];
	const char *nl = strchr(s, '\n');
	char *grade = xstrndup(s, nl != NULL ? (size_t)(nl - s) : strlen(s));
	struct strv ex;
	char *list;

	strv_init(&ex);
	while (nl != NULL) {
		const char *start = nl + 1;

		nl = strchr(start, '\n');
		strv_addn(&ex, start, nl != NULL ? (size_t)(nl - start) :
		    strlen(start));
	}
	err[0] = '\0';
	list = tls_cipher_list(grade, ex.v, err, sizeof(err));
	if (list == NULL) {
		check_error(err, sizeof(err));
	} else {
		size_t at = strlen(grade);

		if (strncmp(list, grade, at) != 0)
			abort();
		for (size_t i = 0; i < ex.n; i++) {
			size_t n = strlen(ex.v[i]);

			if (list[at] != ':' || list[at + 1] != '!' ||
			    strncmp(list + at + 2, ex.v[i], n) != 0)
				abort();
			at += 2 + n;
		}
		if (list[at] != '\0')
			abort();
	}
	if (ERR_peek_error() != 0)
		abort();
	free(list);
	strv_deinit(&ex);
	free(grade);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = xstrndup((const char *)data, size);
	char buf[TLS_PROTOCOLS_TEXT_MAX_BYTES];
	int v = size >= 2 ? (int)(data[0] << 8 | data[1]) : (int)size;

	fuzz_protocols(s);
	fuzz_ciphers(s);
	(void)tls_grade_param(s);
	(void)tls_version_name(v);
	(void)tls_protocols_text(tls_version_bit(v) |
	    (size > 0 ? data[0] : 0), buf, sizeof(buf));
	free(s);
	return 0;
}
