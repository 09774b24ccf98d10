/* SPDX-License-Identifier: MIT */
/*
 * test_tls_policy - TLS protocol lists (smtpd_tls_protocols and kin) and
 * cipher grades (tls_*_cipherlist with exclusions).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "compat.h"
#include "config_schema.h"
#include "tls_policy.h"
#include "xalloc.h"

#define V1	TLS1_VERSION
#define V11	TLS1_1_VERSION
#define V12	TLS1_2_VERSION
#define V13	TLS1_3_VERSION
#define P1	TLS_PROTO_TLSv1
#define P11	TLS_PROTO_TLSv1_1
#define P12	TLS_PROTO_TLSv1_2
#define P13	TLS_PROTO_TLSv1_3
#define NO11	SSL_OP_NO_TLSv1_1
#define NO12	SSL_OP_NO_TLSv1_2
#define NO1	SSL_OP_NO_TLSv1
#define ALL	(P1 | P11 | P12 | P13)
/* A table's const vector as the API's char *const * (never written). */
#define EXCL(v)	((char *const *)(uintptr_t)(const void *)(v))

struct proto_case {
	const char *text;
	unsigned mask;
	int min;
	int max;		/* 0: no upper limit (TLS 1.3 enabled) */
	uint64_t options;
};

static const struct proto_case proto_cases[] = {
	/* Empty: every version. */
	{ "", ALL, V1, 0, 0 },
	{ " ", ALL, V1, 0, 0 },
	{ " ,\t: ,\n", ALL, V1, 0, 0 },
	/* Exclusion lists (Postfix before 3.6), each separator. */
	{ "!SSLv2 !SSLv3", ALL, V1, 0, 0 },
	{ "!SSLv2, !SSLv3", ALL, V1, 0, 0 },
	{ "!SSLv2, !SSLv3, !TLSv1", P11 | P12 | P13, V11, 0, 0 },
	{ "!SSLv2:!SSLv3:!TLSv1:!TLSv1.1", P12 | P13, V12, 0, 0 },
	{ "!SSLv2,!SSLv3,!TLSv1,!TLSv1.1", P12 | P13, V12, 0, 0 },
	{ "!TLSv1.3", P1 | P11 | P12, V1, V12, 0 },
	{ "!TLSv1 !TLSv1.3", P11 | P12, V11, V12, 0 },
	/* Inclusion lists. */
	{ "TLSv1.2 TLSv1.3", P12 | P13, V12, 0, 0 },
	{ "TLSv1.3", P13, V13, 0, 0 },
	{ "TLSv1.2", P12, V12, V12, 0 },
	{ "TLSv1,TLSv1.1", P1 | P11, V1, V11, 0 },
	{ "TLSv1 TLSv1.1 TLSv1.2 TLSv1.3", ALL, V1, 0, 0 },
	{ "SSLv3 TLSv1.2", P12, V12, V12, 0 },
	{ "SSLv2 SSLv3 TLSv1", P1, V1, V1, 0 },
	/* Any case. */
	{ "tlsv1.2 TLSV1.3", P12 | P13, V12, 0, 0 },
	{ "!sslv3 !TlSv1", P11 | P12 | P13, V11, 0, 0 },
	{ ">=tlsv1.2", P12 | P13, V12, 0, 0 },
	/* Ranges (Postfix 3.6+). */
	{ ">=TLSv1.2", P12 | P13, V12, 0, 0 },
	{ ">=TLSv1", ALL, V1, 0, 0 },
	{ ">=SSLv3", ALL, V1, 0, 0 },
	{ ">=SSLv2", ALL, V1, 0, 0 },
	{ ">=TLSv1.3", P13, V13, 0, 0 },
	{ "<=TLSv1.2", P1 | P11 | P12, V1, V12, 0 },
	{ "<=TLSv1", P1, V1, V1, 0 },
	{ "<=TLSv1.3", ALL, V1, 0, 0 },
	{ ">=TLSv1.1 <=TLSv1.2", P11 | P12, V11, V12, 0 },
	{ ">=TLSv1.2, <=TLSv1.2", P12, V12, V12, 0 },
	{ "<=TLSv1.2:>=TLSv1.1", P11 | P12, V11, V12, 0 },
	/* Several bounds: the tightest wins, whatever the order. */
	{ ">=TLSv1.1 >=TLSv1.2", P12 | P13, V12, 0, 0 },
	{ ">=TLSv1.2 >=TLSv1.1", P12 | P13, V12, 0, 0 },
	{ "<=TLSv1.3 <=TLSv1.1", P1 | P11, V1, V11, 0 },
	/* Holes become SSL_OP_NO_* options between min and max. */
	{ "TLSv1 TLSv1.2", P1 | P12, V1, V12, NO11 },
	{ "TLSv1 TLSv1.3", P1 | P13, V1, 0, NO11 | NO12 },
	{ "TLSv1.1 TLSv1.3", P11 | P13, V11, 0, NO12 },
	{ "!TLSv1.1", P1 | P12 | P13, V1, 0, NO11 },
	{ "!TLSv1.1 !TLSv1.2", P1 | P13, V1, 0, NO11 | NO12 },
	{ "!SSLv2 !SSLv3 !TLSv1.1", P1 | P12 | P13, V1, 0, NO11 },
	{ ">=TLSv1 !TLSv1.1", P1 | P12 | P13, V1, 0, NO11 },
	{ "<=TLSv1.2 !TLSv1.1", P1 | P12, V1, V12, NO11 },
	/* Mixes of the three forms. */
	{ "TLSv1 TLSv1.1 TLSv1.2 >=TLSv1.1", P11 | P12, V11, V12, 0 },
	{ "TLSv1.2 TLSv1.3 !TLSv1.3", P12, V12, V12, 0 },
	{ ">=TLSv1.2 !TLSv1.3", P12, V12, V12, 0 },
	{ "!SSLv2, TLSv1.2, TLSv1.3", P12 | P13, V12, 0, 0 },
	{ "TLSv1 TLSv1.2 TLSv1.3 <=TLSv1.2", P1 | P12, V1, V12, NO11 },
	{ "\tTLSv1.3\n", P13, V13, 0, 0 },
	/* The same name twice is harmless. */
	{ "TLSv1.2 TLSv1.2 !TLSv1 !TLSv1", P12, V12, V12, 0 },
};

static void
test_protocol_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(proto_cases); i++) {
		const struct proto_case *c = &proto_cases[i];
		struct tls_protocols p;
		char err[TLS_POLICY_ERROR_MAX_BYTES] = "";

		memset(&p, 0x5a, sizeof(p));
		if (!tls_protocols_parse(c->text, &p, err, sizeof(err)))
			fail_msg("case %zu \"%s\": %s", i, c->text, err);
		if (p.mask != c->mask || p.min_version != c->min ||
		    p.max_version != c->max || p.ssl_options != c->options)
			fail_msg("case %zu \"%s\": mask 0x%x min 0x%x max 0x%x "
			    "options 0x%llx; want 0x%x 0x%x 0x%x 0x%llx", i,
			    c->text, p.mask, (unsigned)p.min_version,
			    (unsigned)p.max_version,
			    (unsigned long long)p.ssl_options, c->mask,
			    (unsigned)c->min, (unsigned)c->max,
			    (unsigned long long)c->options);
		/* Never SSLv2/SSLv3, never an option outside the range. */
		assert_int_equal(p.mask & ~TLS_PROTO_TLS_ALL, 0);
	}
}

/* NULL is the empty list. */
static void
test_protocol_null(void **state)
{
	struct tls_protocols p;
	char err[64];

	(void)state;
	assert_true(tls_protocols_parse(NULL, &p, err, sizeof(err)));
	assert_int_equal(p.mask, ALL);
	assert_int_equal(p.min_version, V1);
	assert_int_equal(p.max_version, 0);
	assert_int_equal(p.ssl_options, 0);
}

struct proto_error {
	const char *text;
	const char *want;	/* substring of the message */
};

#define KNOWN "; known: SSLv2 SSLv3 TLSv1 TLSv1.1 TLSv1.2 TLSv1.3"
#define BADFORM "\": use NAME, !NAME, >=NAME or <=NAME"
#define NOVERSION "\" enables no TLS version"

static const struct proto_error proto_errors[] = {
	/* Unknown names, in every form. */
	{ "TLSv1.4", "unknown protocol \"TLSv1.4\"" KNOWN },
	{ "!TLSv1.4", "unknown protocol \"TLSv1.4\"" KNOWN },
	{ ">=TLSv2", "unknown protocol \"TLSv2\"" KNOWN },
	{ "<=tls1.2", "unknown protocol \"tls1.2\"" KNOWN },
	{ "TLSv1.2 foo", "unknown protocol \"foo\"" KNOWN },
	{ "TLS", "unknown protocol \"TLS\"" KNOWN },
	{ "TLSv1.", "unknown protocol \"TLSv1.\"" KNOWN },
	{ "SSLv2 SSLv3 TLSv1.2 TLSv13", "unknown protocol \"TLSv13\"" },
	/* Bad forms. */
	{ ">TLSv1.2", "bad protocol element \">TLSv1.2" BADFORM },
	{ "<TLSv1.2", "bad protocol element \"<TLSv1.2" BADFORM },
	{ "=>TLSv1.2", "bad protocol element \"=>TLSv1.2" BADFORM },
	{ "=TLSv1.2", "bad protocol element \"=TLSv1.2" BADFORM },
	{ "!", "bad protocol element \"!" BADFORM },
	{ ">=", "bad protocol element \">=" BADFORM },
	{ "<=", "bad protocol element \"<=" BADFORM },
	{ "! TLSv1", "bad protocol element \"!" BADFORM },
	{ ">= TLSv1.2", "bad protocol element \">=" BADFORM },
	{ "!!TLSv1", "bad protocol element \"!!TLSv1" BADFORM },
	{ "!>=TLSv1", "bad protocol element \"!>=TLSv1" BADFORM },
	{ ">=!TLSv1", "bad protocol element \">=!TLSv1" BADFORM },
	{ "TLSv1!", "bad protocol element \"TLSv1!" BADFORM },
	{ "TLSv1;TLSv1.2", "bad protocol element \"TLSv1;TLSv1.2" BADFORM },
	{ "TLSv1.2 -TLSv1", "bad protocol element \"-TLSv1" BADFORM },
	{ "TLSv1.2 +TLSv1", "bad protocol element \"+TLSv1" BADFORM },
	/* Control and 8-bit bytes are escaped in the message. */
	{ "TLSv1\001", "bad protocol element \"TLSv1\\001" BADFORM },
	{ "TLSv1.2\xc3\xa9", "bad protocol element \"TLSv1.2\\303\\251" },
	/* Nothing left. */
	{ "SSLv2", "protocol list \"SSLv2" NOVERSION },
	{ "SSLv2 SSLv3", "protocol list \"SSLv2 SSLv3" NOVERSION },
	{ "SSLv3", NOVERSION },
	{ "<=SSLv3", "protocol list \"<=SSLv3" NOVERSION },
	{ "!TLSv1 !TLSv1.1 !TLSv1.2 !TLSv1.3", NOVERSION },
	{ ">=TLSv1.3 <=TLSv1.2", NOVERSION },
	{ "TLSv1.2 !TLSv1.2", NOVERSION },
	{ "TLSv1 >=TLSv1.1", NOVERSION },
	{ "TLSv1.3 <=TLSv1.2", NOVERSION },
};

static void
test_protocol_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(proto_errors); i++) {
		const struct proto_error *c = &proto_errors[i];
		struct tls_protocols p, before;
		char err[TLS_POLICY_ERROR_MAX_BYTES] = "";

		memset(&p, 0x5a, sizeof(p));
		before = p;
		if (tls_protocols_parse(c->text, &p, err, sizeof(err)))
			fail_msg("case %zu \"%s\" parsed", i, c->text);
		if (strstr(err, c->want) == NULL)
			fail_msg("case %zu \"%s\": got '%s', want '%s'", i,
			    c->text, err, c->want);
		/* The output is untouched on failure. */
		assert_memory_equal(&p, &before, sizeof(p));
	}
}

/* The exact texts a person sees. */
static void
test_protocol_messages(void **state)
{
	struct tls_protocols p;
	char err[TLS_POLICY_ERROR_MAX_BYTES];

	(void)state;
	assert_false(tls_protocols_parse("!SSLv2 TLSv1.4", &p, err,
	    sizeof(err)));
	assert_string_equal(err, "unknown protocol \"TLSv1.4\"; known: SSLv2 "
	    "SSLv3 TLSv1 TLSv1.1 TLSv1.2 TLSv1.3");
	assert_false(tls_protocols_parse("TLSv1.2 >TLSv1", &p, err,
	    sizeof(err)));
	assert_string_equal(err, "bad protocol element \">TLSv1\": use NAME, "
	    "!NAME, >=NAME or <=NAME (names: SSLv2 SSLv3 TLSv1 TLSv1.1 "
	    "TLSv1.2 TLSv1.3)");
	assert_false(tls_protocols_parse("<=SSLv3", &p, err, sizeof(err)));
	assert_string_equal(err, "protocol list \"<=SSLv3\" enables no TLS "
	    "version (OpenSSL 3 supports TLSv1 to TLSv1.3; SSLv2 and SSLv3 "
	    "are never enabled)");
}

/* Length bound; a long name is quoted shortened; small error buffers. */
static void
test_protocol_limits(void **state)
{
	char *text = xmalloc(TLS_PROTOCOLS_MAX_BYTES + 2);
	char err[TLS_POLICY_ERROR_MAX_BYTES], small[8];
	struct tls_protocols p;

	(void)state;
	/* Exactly the maximum: fine (separators only: every version). */
	memset(text, ' ', TLS_PROTOCOLS_MAX_BYTES);
	text[TLS_PROTOCOLS_MAX_BYTES] = '\0';
	memcpy(text, "TLSv1.2", 7);
	assert_true(tls_protocols_parse(text, &p, err, sizeof(err)));
	assert_int_equal(p.mask, P12);
	/* One byte more: refused. */
	text[TLS_PROTOCOLS_MAX_BYTES] = ' ';
	text[TLS_PROTOCOLS_MAX_BYTES + 1] = '\0';
	assert_false(tls_protocols_parse(text, &p, err, sizeof(err)));
	assert_non_null(strstr(err, "protocol list too long"));

	/* A long unknown name: the message is bounded and ends in "...". */
	memset(text, 'x', TLS_PROTOCOLS_MAX_BYTES);
	text[TLS_PROTOCOLS_MAX_BYTES] = '\0';
	assert_false(tls_protocols_parse(text, &p, err, sizeof(err)));
	assert_non_null(strstr(err, "unknown protocol \"xxxx"));
	assert_non_null(strstr(err, "...\"; known:"));
	assert_true(strlen(err) < 300);

	/* A small buffer is cut and terminated; NULL/0 is allowed. */
	memset(small, 'Z', sizeof(small));
	assert_false(tls_protocols_parse("TLSv9", &p, small, sizeof(small)));
	assert_string_equal(small, "unknown");
	assert_false(tls_protocols_parse("TLSv9", &p, NULL, 0));
	assert_true(tls_protocols_parse("TLSv1.3", &p, NULL, 0));
	free(text);
}

/* Defaults of the parameter table parse to what Postfix means. */
static void
test_protocol_defaults(void **state)
{
	static const struct {
		const char *param;
		unsigned mask;
	} defs[] = {
		{ "smtpd_tls_protocols", ALL },
		{ "smtpd_tls_mandatory_protocols", P12 | P13 },
		{ "smtp_tls_protocols", ALL },
		{ "smtp_tls_mandatory_protocols", P12 | P13 },
		{ "lmtp_tls_protocols", ALL },
		{ "lmtp_tls_mandatory_protocols", P12 | P13 },
	};

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(defs); i++) {
		const struct param_def *d = config_schema_find(defs[i].param);
		struct tls_protocols p;
		char err[TLS_POLICY_ERROR_MAX_BYTES];

		assert_non_null(d);
		if (!tls_protocols_parse(d->def, &p, err, sizeof(err)))
			fail_msg("%s = %s: %s", defs[i].param, d->def, err);
		assert_int_equal(p.mask, defs[i].mask);
	}
}

static void
test_protocols_text(void **state)
{
	char buf[TLS_PROTOCOLS_TEXT_MAX_BYTES];
	char small[12];
	struct tls_protocols p;

	(void)state;
	assert_string_equal(tls_protocols_text(P12 | P13, buf, sizeof(buf)),
	    "TLSv1.2, TLSv1.3");
	assert_string_equal(tls_protocols_text(P13, buf, sizeof(buf)),
	    "TLSv1.3");
	assert_string_equal(tls_protocols_text(0, buf, sizeof(buf)), "none");
	assert_string_equal(tls_protocols_text(1u << 20, buf, sizeof(buf)),
	    "none");
	/* Every bit fits the documented buffer size. */
	assert_string_equal(tls_protocols_text(~0u, buf, sizeof(buf)),
	    "SSLv2, SSLv3, TLSv1, TLSv1.1, TLSv1.2, TLSv1.3");
	assert_ptr_equal(tls_protocols_text(P1, buf, sizeof(buf)), buf);
	/* Round trip through the parser. */
	assert_true(tls_protocols_parse("TLSv1 TLSv1.2", &p, NULL, 0));
	assert_string_equal(tls_protocols_text(p.mask, buf, sizeof(buf)),
	    "TLSv1, TLSv1.2");
	assert_true(tls_protocols_parse("", &p, NULL, 0));
	assert_string_equal(tls_protocols_text(p.mask, buf, sizeof(buf)),
	    "TLSv1, TLSv1.1, TLSv1.2, TLSv1.3");
	/* Too small: cut after the last whole name. */
	assert_string_equal(tls_protocols_text(P12 | P13, small,
	    sizeof(small)), "TLSv1.2");
	assert_string_equal(tls_protocols_text(P12, small, 7), "");
	assert_string_equal(tls_protocols_text(P12, small, 8), "TLSv1.2");
	assert_string_equal(tls_protocols_text(P12, small, 0), "");
}

static void
test_version_names(void **state)
{
	static const struct {
		int version;
		const char *name;
		unsigned bit;
	} v[] = {
		{ SSL2_VERSION, "SSLv2", TLS_PROTO_SSLv2 },
		{ SSL3_VERSION, "SSLv3", TLS_PROTO_SSLv3 },
		{ TLS1_VERSION, "TLSv1", P1 },
		{ TLS1_1_VERSION, "TLSv1.1", P11 },
		{ TLS1_2_VERSION, "TLSv1.2", P12 },
		{ TLS1_3_VERSION, "TLSv1.3", P13 },
		{ 0, "unknown", 0 },
		{ -1, "unknown", 0 },
		{ 0x0305, "unknown", 0 },
		{ DTLS1_2_VERSION, "unknown", 0 },
		{ 0x0a0a, "unknown", 0 },	/* GREASE */
	};

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(v); i++) {
		assert_string_equal(tls_version_name(v[i].version), v[i].name);
		assert_int_equal(tls_version_bit(v[i].version), v[i].bit);
	}
}

/* What tls_protocols_apply leaves in a context. */
static void
check_ctx(SSL_CTX *ctx, const char *text)
{
	struct tls_protocols p;
	char err[TLS_POLICY_ERROR_MAX_BYTES] = "";

	assert_true(tls_protocols_parse(text, &p, err, sizeof(err)));
	if (!tls_protocols_apply(ctx, &p, err, sizeof(err)))
		fail_msg("\"%s\": %s", text, err);
	assert_int_equal(SSL_CTX_get_min_proto_version(ctx), p.min_version);
	assert_int_equal(SSL_CTX_get_max_proto_version(ctx), p.max_version);
	assert_int_equal(SSL_CTX_get_options(ctx) & SSL_OP_NO_SSL_MASK,
	    p.ssl_options);
}

static void
test_apply(void **state)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_method());
	struct tls_protocols p;
	char err[TLS_POLICY_ERROR_MAX_BYTES] = "";

	(void)state;
	assert_non_null(ctx);
	/* Options that are not about versions stay. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_SSLv3 |
	    SSL_OP_NO_TLSv1_2);
	check_ctx(ctx, "TLSv1 TLSv1.2");
	assert_int_equal(SSL_CTX_get_options(ctx) & SSL_OP_NO_SSL_MASK, NO11);
	assert_true((SSL_CTX_get_options(ctx) & SSL_OP_NO_TICKET) != 0);
	/* Applying again replaces the hole. */
	check_ctx(ctx, ">=TLSv1.2");
	assert_int_equal(SSL_CTX_get_min_proto_version(ctx), V12);
	assert_int_equal(SSL_CTX_get_max_proto_version(ctx), 0);
	assert_int_equal(SSL_CTX_get_options(ctx) & SSL_OP_NO_SSL_MASK, 0);
	check_ctx(ctx, "<=TLSv1.2");
	assert_int_equal(SSL_CTX_get_max_proto_version(ctx), V12);
	check_ctx(ctx, "TLSv1 TLSv1.3");
	assert_int_equal(SSL_CTX_get_options(ctx) & SSL_OP_NO_SSL_MASK,
	    NO11 | NO12);
	for (size_t i = 0; i < N_ELEMENTS(proto_cases); i++)
		check_ctx(ctx, proto_cases[i].text);

	/* Settings that no parse produces are refused. */
	memset(&p, 0, sizeof(p));
	assert_false(tls_protocols_apply(ctx, &p, err, sizeof(err)));
	assert_non_null(strstr(err, "internal error"));
	assert_true(tls_protocols_parse("TLSv1.2", &p, NULL, 0));
	p.min_version = SSL3_VERSION;
	p.mask |= TLS_PROTO_SSLv3;
	assert_false(tls_protocols_apply(ctx, &p, err, sizeof(err)));
	assert_true(tls_protocols_parse("TLSv1.2", &p, NULL, 0));
	p.ssl_options |= SSL_OP_NO_TICKET;
	assert_false(tls_protocols_apply(ctx, &p, err, sizeof(err)));
	assert_true(tls_protocols_parse("TLSv1.2 TLSv1.3", &p, NULL, 0));
	p.min_version = V13;
	p.max_version = V12;
	assert_false(tls_protocols_apply(ctx, &p, err, sizeof(err)));
	assert_int_equal(ERR_peek_error(), 0);
	SSL_CTX_free(ctx);
}

/* cipher_names - the ciphers a list selects as ":a:b:...:z:"; caller
 * frees. */
static char *
cipher_names(const char *list)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_method());
	STACK_OF(SSL_CIPHER) *sk;
	size_t cap = 16384, used = 1;
	char *out = xmalloc(cap);

	out[0] = ':';
	out[1] = '\0';
	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_set_cipher_list(ctx, list), 1);
	sk = SSL_CTX_get_ciphers(ctx);
	for (int i = 0; i < sk_SSL_CIPHER_num(sk); i++) {
		const char *n = SSL_CIPHER_get_name(sk_SSL_CIPHER_value(sk, i));
		int w = snprintf(out + used, cap - used, "%s:", n);

		assert_true(w > 0 && (size_t)w < cap - used);
		used += (size_t)w;
	}
	SSL_CTX_free(ctx);
	return out;
}

static void
test_cipher_list(void **state)
{
	const char *const excl[] = { "aNULL", "RC4", "MD5", NULL };
	const char *const aes256[] = { "AES256", NULL };
	const char *const none[] = { NULL };
	char err[TLS_POLICY_ERROR_MAX_BYTES] = "";
	char *l, *names;

	(void)state;
	l = tls_cipher_list("aNULL:-aNULL:HIGH:MEDIUM:+RC4:@STRENGTH",
	    EXCL(excl), err, sizeof(err));
	assert_non_null(l);
	assert_string_equal(l, "aNULL:-aNULL:HIGH:MEDIUM:+RC4:@STRENGTH"
	    ":!aNULL:!RC4:!MD5");
	free(l);
	l = tls_cipher_list("HIGH", NULL, err, sizeof(err));
	assert_string_equal(l, "HIGH");
	free(l);
	l = tls_cipher_list("HIGH", EXCL(none), err, sizeof(err));
	assert_string_equal(l, "HIGH");
	free(l);

	/* An exclusion removes TLS 1.2 ciphers, never TLS 1.3 suites. */
	names = cipher_names("HIGH");
	assert_non_null(strstr(names, ":ECDHE-RSA-AES256-GCM-SHA384:"));
	free(names);
	l = tls_cipher_list("HIGH", EXCL(aes256), err, sizeof(err));
	assert_string_equal(l, "HIGH:!AES256");
	names = cipher_names(l);
	assert_null(strstr(names, ":ECDHE-RSA-AES256-GCM-SHA384:"));
	assert_null(strstr(names, "-AES256-"));
	assert_null(strstr(names, ":AES256-"));
	assert_non_null(strstr(names, ":ECDHE-RSA-AES128-GCM-SHA256:"));
	assert_non_null(strstr(names, ":TLS_AES_256_GCM_SHA384:"));
	free(names);
	free(l);
	assert_int_equal(ERR_peek_error(), 0);
}

struct cipher_error {
	const char *list;
	const char *excl[4];
	const char *want;
};

static const struct cipher_error cipher_errors[] = {
	{ NULL, { NULL }, "empty cipher list" },
	{ "", { NULL }, "empty cipher list" },
	{ "HIGH\n", { NULL }, "bad character (code 10) in cipher list "
	    "\"HIGH\\012\"" },
	{ "HIGH:\xe9", { NULL }, "bad character (code 233)" },
	{ "HIGH\t:MEDIUM", { NULL }, "bad character (code 9)" },
	/* OpenSSL finds nothing or refuses the syntax. */
	{ "NOSUCHCIPHER", { NULL }, "cipher list \"NOSUCHCIPHER\" selects "
	    "no cipher (OpenSSL: no cipher match)" },
	{ ":::", { NULL }, "selects no cipher" },
	{ "HIGH:@BOGUS", { NULL }, "cipher list \"HIGH:@BOGUS\" selects no "
	    "cipher (OpenSSL: invalid command)" },
	/* Exclusions that leave nothing (TLS 1.3 suites do not count). */
	{ "HIGH", { "HIGH", NULL }, "cipher list \"HIGH:!HIGH\" selects no "
	    "cipher" },
	{ "AES128-SHA", { "AES128", NULL }, "selects no cipher" },
	{ "HIGH:MEDIUM", { "HIGH", "MEDIUM", NULL }, "selects no cipher" },
	/* Bad exclusion tokens. */
	{ "HIGH", { "", NULL }, "empty excluded cipher" },
	{ "HIGH", { "!RC4", NULL }, "bad excluded cipher \"!RC4\": use "
	    "OpenSSL cipher names or types such as aNULL, RC4, MD5" },
	{ "HIGH", { "RC4 MD5", NULL }, "bad excluded cipher \"RC4 MD5\"" },
	{ "HIGH", { "RC4:MD5", NULL }, "bad excluded cipher \"RC4:MD5\"" },
	{ "HIGH", { "RC4,MD5", NULL }, "bad excluded cipher" },
	{ "HIGH", { "aNULL", "@STRENGTH", NULL }, "bad excluded cipher "
	    "\"@STRENGTH\"" },
	{ "HIGH", { "+", NULL }, "bad excluded cipher \"+\"" },
	{ "HIGH", { "-", NULL }, "bad excluded cipher \"-\"" },
	{ "HIGH", { "-RC4", NULL }, "bad excluded cipher" },
	{ "HIGH", { ".x", NULL }, "bad excluded cipher" },
	{ "HIGH", { "RC4\n", NULL }, "bad excluded cipher \"RC4\\012\"" },
};

static void
test_cipher_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(cipher_errors); i++) {
		const struct cipher_error *c = &cipher_errors[i];
		char err[TLS_POLICY_ERROR_MAX_BYTES] = "";
		char *l = tls_cipher_list(c->list, EXCL(c->excl), err,
		    sizeof(err));

		if (l != NULL)
			fail_msg("case %zu \"%s\": accepted as \"%s\"", i,
			    c->list ? c->list : "(null)", l);
		if (strstr(err, c->want) == NULL)
			fail_msg("case %zu: got '%s', want '%s'", i, err,
			    c->want);
		/* The OpenSSL error queue is left empty. */
		assert_int_equal(ERR_peek_error(), 0);
	}
}

/* Exclusions that are accepted: names, types, AND-combinations. */
static void
test_cipher_exclusions_ok(void **state)
{
	const char *const ok[] = { "aNULL", "eNULL", "EXPORT", "DES", "3DES",
	    "RC4", "MD5", "kEDH+aRSA", "DES-CBC3-SHA", "ECDHE-RSA-AES128-SHA",
	    "PSK", "SRP", "kRSA", "SEED", "IDEA", "CAMELLIA", "SHA1", NULL };
	char err[TLS_POLICY_ERROR_MAX_BYTES] = "";
	char *l = tls_cipher_list("aNULL:-aNULL:HIGH:MEDIUM:+RC4:@STRENGTH",
	    EXCL(ok), err, sizeof(err));
	char *names;

	(void)state;
	if (l == NULL)
		fail_msg("%s", err);
	names = cipher_names(l);
	assert_null(strstr(names, "DES-CBC3"));
	assert_null(strstr(names, "-SHA:"));
	assert_null(strstr(names, "CAMELLIA"));
	assert_non_null(strstr(names, "GCM"));
	free(names);
	free(l);
}

/* Bounds on the grade list and on the exclusions. */
static void
test_cipher_limits(void **state)
{
	char *text = xmalloc(TLS_CIPHER_LIST_MAX_BYTES + 2);
	char **many = xcalloc(TLS_CIPHER_EXCLUDE_MAX + 2, sizeof(*many));
	char longx[TLS_CIPHER_EXCLUDE_MAX_BYTES + 2];
	char *const longv[] = { longx, NULL };
	char err[TLS_POLICY_ERROR_MAX_BYTES] = "";
	char *l;

	(void)state;
	/* At the maximum: accepted (OpenSSL skips unknown names). */
	memset(text, 'X', TLS_CIPHER_LIST_MAX_BYTES);
	memcpy(text, "HIGH:", 5);
	text[TLS_CIPHER_LIST_MAX_BYTES] = '\0';
	l = tls_cipher_list(text, NULL, err, sizeof(err));
	if (l == NULL)
		fail_msg("%s", err);
	assert_int_equal(strlen(l), TLS_CIPHER_LIST_MAX_BYTES);
	free(l);
	text[TLS_CIPHER_LIST_MAX_BYTES] = 'X';
	text[TLS_CIPHER_LIST_MAX_BYTES + 1] = '\0';
	assert_null(tls_cipher_list(text, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "cipher list too long"));

	for (size_t i = 0; i < TLS_CIPHER_EXCLUDE_MAX; i++)
		many[i] = UNCONST("RC4");
	l = tls_cipher_list("HIGH", many, err, sizeof(err));
	if (l == NULL)
		fail_msg("%s", err);
	assert_int_equal(strlen(l), 4 + 5 * TLS_CIPHER_EXCLUDE_MAX);
	free(l);
	many[TLS_CIPHER_EXCLUDE_MAX] = UNCONST("MD5");
	assert_null(tls_cipher_list("HIGH", many, err, sizeof(err)));
	assert_non_null(strstr(err, "too many excluded ciphers"));

	memset(longx, 'A', TLS_CIPHER_EXCLUDE_MAX_BYTES);
	longx[TLS_CIPHER_EXCLUDE_MAX_BYTES] = '\0';
	l = tls_cipher_list("HIGH", longv, err, sizeof(err));
	if (l == NULL)
		fail_msg("%s", err);
	free(l);
	longx[TLS_CIPHER_EXCLUDE_MAX_BYTES] = 'A';
	longx[TLS_CIPHER_EXCLUDE_MAX_BYTES + 1] = '\0';
	assert_null(tls_cipher_list("HIGH", longv, err, sizeof(err)));
	assert_non_null(strstr(err, "too long"));
	assert_true(strlen(err) < 300);
	assert_null(tls_cipher_list("NOSUCH", NULL, NULL, 0));
	free(many);
	free(text);
}

/* Every grade of the parameter table names a parameter whose default
 * list works. */
static void
test_grades(void **state)
{
	static const char *const grades[] = { "high", "medium", "low",
	    "export", "null" };
	const char *const excl[] = { "aNULL", NULL };
	const struct param_def *d;

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(grades); i++) {
		const char *param = tls_grade_param(grades[i]);
		char want[64], err[TLS_POLICY_ERROR_MAX_BYTES] = "";
		char *l;

		snprintf(want, sizeof(want), "tls_%s_cipherlist", grades[i]);
		assert_non_null(param);
		assert_string_equal(param, want);
		d = config_schema_find(param);
		assert_non_null(d);
		l = tls_cipher_list(d->def, EXCL(excl), err, sizeof(err));
		if (l == NULL)
			fail_msg("%s = %s: %s", param, d->def, err);
		free(l);
	}
	/* The grades the table allows are exactly these. */
	d = config_schema_find("smtpd_tls_ciphers");
	assert_non_null(d);
	assert_string_equal(d->extra, "export|low|medium|high|null");
	assert_string_equal(tls_grade_param("MEDIUM"),
	    "tls_medium_cipherlist");
	assert_string_equal(tls_grade_param("High"), "tls_high_cipherlist");
	assert_null(tls_grade_param("super"));
	assert_null(tls_grade_param(""));
	assert_null(tls_grade_param("medium "));
	assert_null(tls_grade_param(NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_protocol_table),
		cmocka_unit_test(test_protocol_null),
		cmocka_unit_test(test_protocol_errors),
		cmocka_unit_test(test_protocol_messages),
		cmocka_unit_test(test_protocol_limits),
		cmocka_unit_test(test_protocol_defaults),
		cmocka_unit_test(test_protocols_text),
		cmocka_unit_test(test_version_names),
		cmocka_unit_test(test_apply),
		cmocka_unit_test(test_cipher_list),
		cmocka_unit_test(test_cipher_errors),
		cmocka_unit_test(test_cipher_exclusions_ok),
		cmocka_unit_test(test_cipher_limits),
		cmocka_unit_test(test_grades),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
