/* SPDX-License-Identifier: MIT */
/*
 * test_tls_cert - certificate facts, host name checks, the file loader
 * and the sentences of src/tls/tls_cert.c.
 *
 * Every certificate is built here in memory with OpenSSL (a root, an
 * intermediate, leaves good and bad); files are written to a fresh
 * temporary directory only for the loader tests and the CAfile.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "tls_cert.h"
#include "xalloc.h"

#define DAY (24 * 60 * 60L)

/* Keys shared by the tests (RSA generation is the slow part). */
struct pki {
	char dir[64];
	EVP_PKEY *root_key, *inter_key, *leaf_key, *other_key, *weak_key,
	    *ec_key;
	X509 *root, *inter, *leaf;
	char *root_file;	/* CAfile: the root only */
	char *bundle_file;	/* CAfile: intermediate and root */
};

static struct pki P;

static void
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	assert_non_null(ext);
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

struct spec {
	const char *cn;
	const char *san;	/* "DNS:a,IP:1.2.3.4" or NULL */
	bool ca;
	const char *eku;	/* NULL: serverAuth */
	long from, to;		/* seconds from now */
	const EVP_MD *md;	/* NULL: SHA-256 */
};

/*
 * make_cert - a certificate for key per spec, signed by issuer/ikey
 * (both NULL: self-signed with key).
 */
static X509 *
make_cert(const struct spec *s, EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey)
{
	static long serial = 1;
	X509 *x = X509_new();
	X509_NAME *name;

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), s->from);
	X509_gmtime_adj(X509_getm_notAfter(x), s->to);
	assert_int_equal(X509_set_pubkey(x, key), 1);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
	    (const unsigned char *)"Ostia Unit", -1, -1, 0);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)s->cn, -1, -1, 0);
	assert_int_equal(X509_set_issuer_name(x, issuer != NULL ?
	    X509_get_subject_name(issuer) : name), 1);
	add_ext(x, issuer != NULL ? issuer : x, NID_subject_key_identifier,
	    "hash");
	if (issuer != NULL)
		add_ext(x, issuer, NID_authority_key_identifier,
		    "keyid:always");
	if (s->ca) {
		add_ext(x, issuer != NULL ? issuer : x, NID_basic_constraints,
		    "critical,CA:TRUE");
		add_ext(x, issuer != NULL ? issuer : x, NID_key_usage,
		    "critical,keyCertSign,cRLSign,digitalSignature");
	} else {
		add_ext(x, issuer != NULL ? issuer : x, NID_basic_constraints,
		    "critical,CA:FALSE");
		add_ext(x, issuer != NULL ? issuer : x, NID_ext_key_usage,
		    s->eku != NULL ? s->eku : "serverAuth");
	}
	if (s->san != NULL)
		add_ext(x, issuer != NULL ? issuer : x,
		    NID_subject_alt_name, s->san);
	assert_true(X509_sign(x, ikey != NULL ? ikey : key, s->md != NULL ?
	    s->md : EVP_sha256()) > 0);
	return x;
}

static X509 *
leaf_cert(const char *cn, const char *san, long from, long to,
    EVP_PKEY *key)
{
	struct spec s = { cn, san, false, NULL, from, to, NULL };

	return make_cert(&s, key, P.inter, P.inter_key);
}

static STACK_OF(X509) *
stack_of(X509 *a, X509 *b)
{
	STACK_OF(X509) *sk = sk_X509_new_null();

	assert_non_null(sk);
	if (a != NULL)
		sk_X509_push(sk, a);
	if (b != NULL)
		sk_X509_push(sk, b);
	return sk;
}

static char *
path_in(const char *name)
{
	return xasprintf("%s/%s", P.dir, name);
}

/* write_pem - certificates then (optionally) a key to a new file. */
static char *
write_pem(const char *name, X509 *const *certs, size_t n, EVP_PKEY *key,
    bool key_first)
{
	char *path = path_in(name);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	if (key != NULL && key_first)
		assert_int_equal(PEM_write_PrivateKey(f, key, NULL, NULL, 0,
		    NULL, NULL), 1);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(PEM_write_X509(f, certs[i]), 1);
	if (key != NULL && !key_first)
		assert_int_equal(PEM_write_PrivateKey(f, key, NULL, NULL, 0,
		    NULL, NULL), 1);
	assert_int_equal(fclose(f), 0);
	return path;
}

static int
setup(void **state)
{
	struct spec root = { "Unit Root CA", NULL, true, NULL, -DAY,
	    3650 * DAY, NULL };
	struct spec inter = { "Unit Intermediate CA", NULL, true, NULL, -DAY,
	    3650 * DAY, NULL };
	X509 *both[2];

	(void)state;
	snprintf(P.dir, sizeof(P.dir), "/tmp/ostia-tls-cert-XXXXXX");
	assert_non_null(mkdtemp(P.dir));
	P.root_key = EVP_EC_gen("P-256");
	P.inter_key = EVP_EC_gen("P-256");
	P.ec_key = EVP_EC_gen("P-256");
	P.leaf_key = EVP_RSA_gen(2048);
	P.other_key = EVP_RSA_gen(2048);
	P.weak_key = EVP_RSA_gen(1024);
	assert_non_null(P.root_key);
	assert_non_null(P.weak_key);
	P.root = make_cert(&root, P.root_key, NULL, NULL);
	P.inter = make_cert(&inter, P.inter_key, P.root, P.root_key);
	P.leaf = leaf_cert("mail.example.test",
	    "DNS:mail.example.test,DNS:*.wild.example.test,IP:192.0.2.1,"
	    "IP:2001:db8::1", -DAY, 400 * DAY, P.leaf_key);
	P.root_file = write_pem("root.pem", &P.root, 1, NULL, false);
	both[0] = P.inter;
	both[1] = P.root;
	P.bundle_file = write_pem("bundle.pem", both, 2, NULL, false);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	X509_free(P.root);
	X509_free(P.inter);
	X509_free(P.leaf);
	EVP_PKEY_free(P.root_key);
	EVP_PKEY_free(P.inter_key);
	EVP_PKEY_free(P.leaf_key);
	EVP_PKEY_free(P.other_key);
	EVP_PKEY_free(P.weak_key);
	EVP_PKEY_free(P.ec_key);
	free(P.root_file);
	free(P.bundle_file);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", P.dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", P.dir);
	return 0;
}

static void
get_facts(X509 *leaf, STACK_OF(X509) *chain, const char *cafile,
    struct tls_cert_facts *f)
{
	char err[256] = "";

	if (!tls_cert_facts_get(leaf, chain, cafile, time(NULL), f, err,
	    sizeof(err)))
		fail_msg("tls_cert_facts_get: %s", err);
	assert_int_equal(ERR_peek_error(), 0);
}

/* ---------------------------------------------------------------- facts */

static void
test_good_chain(void **state)
{
	STACK_OF(X509) *chain = stack_of(P.inter, NULL);
	struct tls_cert_facts f;
	char buf[512];
	time_t now = time(NULL);

	(void)state;
	get_facts(P.leaf, chain, P.root_file, &f);
	assert_string_equal(f.subject, "O=Ostia Unit, CN=mail.example.test");
	assert_string_equal(f.issuer, "O=Ostia Unit, CN=Unit Intermediate CA");
	assert_string_equal(f.names, "mail.example.test, *.wild.example.test, "
	    "192.0.2.1, 2001:db8::1");
	assert_true(f.not_before < now && f.not_before > now - 2 * DAY);
	assert_true(f.not_after > now + 399 * DAY);
	assert_false(f.self_signed);
	assert_false(f.expired);
	assert_false(f.not_yet_valid);
	assert_false(f.chain_incomplete);
	assert_false(f.chain_out_of_order);
	assert_int_equal(f.chain_unused, 0);
	assert_false(f.system_trusted);	/* a test root */
	assert_true(f.system_error[0] != '\0');
	assert_true(f.cafile_trusted);
	assert_false(f.wrong_purpose);
	assert_string_equal(f.key_type, "RSA");
	assert_int_equal(f.key_bits, 2048);
	assert_false(f.weak_key);
	assert_false(f.weak_signature);
	assert_non_null(tls_cert_trouble(&f, buf, sizeof(buf)));
	assert_non_null(strstr(buf, "trusted only through smtpd_tls_CAfile"));
	assert_non_null(strstr(buf, "'unknown ca'"));

	/* The root served too: still complete and in order. */
	sk_X509_push(chain, P.root);
	get_facts(P.leaf, chain, NULL, &f);
	assert_false(f.chain_incomplete);
	assert_false(f.chain_out_of_order);
	assert_int_equal(f.chain_unused, 0);
	assert_false(f.cafile_trusted);
	sk_X509_free(chain);
}

static void
test_missing_intermediate(void **state)
{
	STACK_OF(X509) *chain = stack_of(NULL, NULL);
	struct tls_cert_facts f;
	char buf[512];

	(void)state;
	/* Root in the CAfile, the leaf alone: the intermediate is missing. */
	get_facts(P.leaf, chain, P.root_file, &f);
	assert_true(f.chain_incomplete);
	assert_string_equal(f.missing_issuer,
	    "O=Ostia Unit, CN=Unit Intermediate CA");
	assert_string_equal(f.missing_for, "O=Ostia Unit, CN=mail.example.test");
	assert_false(f.cafile_trusted);
	assert_non_null(tls_cert_trouble(&f, buf, sizeof(buf)));
	assert_string_equal(buf, "our chain lacks the intermediate certificate "
	    "O=Ostia Unit, CN=Unit Intermediate CA (the issuer of O=Ostia "
	    "Unit, CN=mail.example.test): clients that verify certificates "
	    "refuse it with 'unknown ca'; add it after our certificate in "
	    "smtpd_tls_cert_file");

	/* No CAfile at all: still missing (a leaf is never root-signed). */
	get_facts(P.leaf, NULL, NULL, &f);
	assert_true(f.chain_incomplete);

	/* The intermediate in the CAfile verifies here, but the chain
	 * served still lacks it for everyone else. */
	get_facts(P.leaf, chain, P.bundle_file, &f);
	assert_true(f.cafile_trusted);
	assert_true(f.chain_incomplete);
	assert_string_equal(f.missing_issuer,
	    "O=Ostia Unit, CN=Unit Intermediate CA");

	/* Leaf and intermediate served, root unknown: complete, but not
	 * trusted. */
	sk_X509_push(chain, P.inter);
	get_facts(P.leaf, chain, NULL, &f);
	assert_false(f.chain_incomplete);
	assert_false(f.system_trusted);
	assert_false(f.cafile_trusted);
	assert_non_null(tls_cert_trouble(&f, buf, sizeof(buf)));
	assert_non_null(strstr(buf, "not trusted by the system store"));
	sk_X509_free(chain);
}

static void
test_order_and_extras(void **state)
{
	STACK_OF(X509) *chain = stack_of(P.root, P.inter);
	struct spec other = { "unrelated.example.test", NULL, true, NULL,
	    -DAY, DAY, NULL };
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *stray = make_cert(&other, k, NULL, NULL);
	struct tls_cert_facts f;
	char buf[512];

	(void)state;
	get_facts(P.leaf, chain, NULL, &f);
	assert_true(f.chain_out_of_order);
	assert_false(f.chain_incomplete);
	assert_int_equal(f.chain_unused, 0);
	/* Only a trust problem outranks the order. */
	f.system_trusted = true;
	assert_non_null(tls_cert_trouble(&f, buf, sizeof(buf)));
	assert_non_null(strstr(buf, "out of order"));
	sk_X509_free(chain);

	chain = stack_of(stray, P.inter);
	get_facts(P.leaf, chain, P.root_file, &f);
	assert_false(f.chain_out_of_order);
	assert_false(f.chain_incomplete);
	assert_int_equal(f.chain_unused, 1);
	assert_true(f.cafile_trusted);
	sk_X509_free(chain);
	X509_free(stray);
	EVP_PKEY_free(k);
}

static void
test_self_signed(void **state)
{
	struct spec s = { "self.example.test", "DNS:self.example.test", false,
	    NULL, -DAY, 100 * DAY, NULL };
	X509 *x = make_cert(&s, P.other_key, NULL, NULL);
	struct tls_cert_facts f;
	char buf[512], *file;

	(void)state;
	get_facts(x, NULL, NULL, &f);
	assert_true(f.self_signed);
	assert_false(f.chain_incomplete);
	assert_false(f.system_trusted);
	assert_string_equal(f.subject, f.issuer);
	assert_non_null(tls_cert_trouble(&f, buf, sizeof(buf)));
	assert_string_equal(buf, "our certificate is self-signed (O=Ostia "
	    "Unit, CN=self.example.test): clients that verify certificates "
	    "refuse it with 'unknown ca'");

	/* Pinned in the CAfile: trusted there, still self-signed. */
	file = write_pem("self.pem", &x, 1, NULL, false);
	get_facts(x, NULL, file, &f);
	assert_true(f.self_signed);
	assert_true(f.cafile_trusted);
	free(file);

	/* A leaf signed by the intermediate is not self-signed. */
	get_facts(P.leaf, NULL, NULL, &f);
	assert_false(f.self_signed);
	X509_free(x);
}

static void
test_validity(void **state)
{
	X509 *old = leaf_cert("mail.example.test", "DNS:mail.example.test",
	    -60 * DAY, -DAY, P.leaf_key);
	X509 *future = leaf_cert("mail.example.test", "DNS:mail.example.test",
	    10 * DAY, 100 * DAY, P.leaf_key);
	STACK_OF(X509) *chain = stack_of(P.inter, NULL);
	struct tls_cert_facts f;
	char buf[512], date[32], want[512];

	(void)state;
	get_facts(old, chain, P.root_file, &f);
	assert_true(f.expired);
	assert_false(f.not_yet_valid);
	/* Trust is judged apart from the dates. */
	assert_true(f.cafile_trusted);
	assert_false(f.chain_incomplete);
	assert_non_null(tls_cert_trouble(&f, buf, sizeof(buf)));
	assert_true(f.not_after <= time(NULL) - DAY &&
	    f.not_after > time(NULL) - DAY - 600);
	snprintf(want, sizeof(want), "our certificate expired on %s (O=Ostia "
	    "Unit, CN=mail.example.test): clients refuse it with "
	    "'certificate expired'; renew it",
	    tls_cert_date(f.not_after, date, sizeof(date)));
	assert_string_equal(buf, want);

	get_facts(future, chain, P.root_file, &f);
	assert_false(f.expired);
	assert_true(f.not_yet_valid);
	assert_non_null(tls_cert_trouble(&f, buf, sizeof(buf)));
	assert_non_null(strstr(buf, "not valid before"));

	assert_string_equal(tls_cert_date(0, date, sizeof(date)),
	    "1970-01-01");
	assert_string_equal(tls_cert_date(1767225600, date, sizeof(date)),
	    "2026-01-01");
	sk_X509_free(chain);
	X509_free(old);
	X509_free(future);
}

static void
test_weak(void **state)
{
	struct spec s = { "mail.example.test", "DNS:mail.example.test", false,
	    NULL, -DAY, 100 * DAY, NULL };
	struct spec sha1 = { "mail.example.test", "DNS:mail.example.test",
	    false, NULL, -DAY, 100 * DAY, NULL };
	STACK_OF(X509) *chain = stack_of(P.inter, NULL);
	EVP_PKEY *ec192 = EVP_EC_gen("P-192");
	X509 *weak, *ec, *small_ec, *self_sha1;
	struct tls_cert_facts f;
	char buf[512];

	(void)state;
	sha1.md = EVP_sha1();
	weak = make_cert(&sha1, P.weak_key, P.inter, P.inter_key);
	get_facts(weak, chain, P.root_file, &f);
	assert_string_equal(f.key_type, "RSA");
	assert_int_equal(f.key_bits, 1024);
	assert_true(f.weak_key);
	assert_true(f.weak_signature);
	assert_non_null(strstr(f.weak_signature_alg, "SHA1"));
	assert_string_equal(f.weak_signature_on,
	    "O=Ostia Unit, CN=mail.example.test");
	f.system_trusted = true;	/* look past the trust sentence */
	assert_non_null(tls_cert_trouble(&f, buf, sizeof(buf)));
	assert_non_null(strstr(buf, "weak ecdsa-with-SHA1 signature"));
	f.weak_signature = false;
	assert_non_null(tls_cert_trouble(&f, buf, sizeof(buf)));
	assert_string_equal(buf, "our certificate has a weak RSA key of 1024 "
	    "bits: current clients may refuse it");

	ec = make_cert(&s, P.ec_key, P.inter, P.inter_key);
	get_facts(ec, chain, P.root_file, &f);
	assert_string_equal(f.key_type, "EC");
	assert_int_equal(f.key_bits, 256);
	assert_false(f.weak_key);
	assert_false(f.weak_signature);

	if (ec192 != NULL) {
		small_ec = make_cert(&s, ec192, P.inter, P.inter_key);
		get_facts(small_ec, chain, P.root_file, &f);
		assert_int_equal(f.key_bits, 192);
		assert_true(f.weak_key);
		X509_free(small_ec);
		EVP_PKEY_free(ec192);
	}
	ERR_clear_error();

	/* A self-signed certificate's own SHA-1 signature does not count. */
	self_sha1 = make_cert(&sha1, P.other_key, NULL, NULL);
	get_facts(self_sha1, NULL, NULL, &f);
	assert_true(f.self_signed);
	assert_false(f.weak_signature);
	X509_free(self_sha1);
	sk_X509_free(chain);
	X509_free(weak);
	X509_free(ec);
}

static void
test_wrong_purpose(void **state)
{
	struct spec s = { "client.example.test", "DNS:client.example.test",
	    false, "clientAuth", -DAY, 100 * DAY, NULL };
	X509 *x = make_cert(&s, P.leaf_key, P.inter, P.inter_key);
	STACK_OF(X509) *chain = stack_of(P.inter, NULL);
	struct tls_cert_facts f;
	char buf[512];

	(void)state;
	get_facts(x, chain, P.root_file, &f);
	assert_true(f.wrong_purpose);
	/* The purpose is a fact of its own, not a trust failure. */
	assert_true(f.cafile_trusted);
	f.system_trusted = true;
	assert_non_null(tls_cert_trouble(&f, buf, sizeof(buf)));
	assert_non_null(strstr(buf, "not meant for TLS servers"));
	get_facts(P.leaf, chain, P.root_file, &f);
	assert_false(f.wrong_purpose);
	sk_X509_free(chain);
	X509_free(x);
}

static void
test_facts_errors(void **state)
{
	struct tls_cert_facts f;
	char err[256] = "", *missing = path_in("no-such-ca.pem");

	(void)state;
	assert_false(tls_cert_facts_get(P.leaf, NULL, missing, time(NULL), &f,
	    err, sizeof(err)));
	assert_non_null(strstr(err, "cannot load the CA file"));
	assert_non_null(strstr(err, missing));
	assert_int_equal(f.key_bits, 0);
	assert_false(tls_cert_facts_get(NULL, NULL, NULL, time(NULL), &f,
	    err, sizeof(err)));
	assert_int_equal(ERR_peek_error(), 0);
	free(missing);
}

static void
test_names_escaped_and_cn_fallback(void **state)
{
	struct spec s = { "cn-only.example.test", NULL, false, NULL, -DAY,
	    100 * DAY, NULL };
	X509 *x = make_cert(&s, P.leaf_key, P.inter, P.inter_key);
	X509_NAME *n = X509_NAME_new();
	struct tls_cert_facts f;
	char buf[64];

	(void)state;
	get_facts(x, NULL, NULL, &f);
	assert_string_equal(f.names, "cn-only.example.test");
	assert_true(tls_cert_covers(x, "cn-only.example.test"));

	/* Control and 8-bit bytes never reach the text raw. */
	X509_NAME_add_entry_by_txt(n, "CN", V_ASN1_T61STRING,
	    (const unsigned char *)"evil\n\x01\xe9name", -1, -1, 0);
	assert_int_equal(X509_NAME_entry_count(n), 1);
	tls_cert_name(n, buf, sizeof(buf));
	assert_null(strchr(buf, '\n'));
	assert_null(strchr(buf, '\x01'));
	for (const char *p = buf; *p != '\0'; p++)
		assert_true((unsigned char)*p >= 0x20 &&
		    (unsigned char)*p < 0x7f);
	assert_non_null(strstr(buf, "CN=evil"));
	/* Long names are cut with "...". */
	X509_NAME_free(n);
	n = X509_NAME_new();
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    -1, -1, 0);
	assert_int_equal(X509_NAME_entry_count(n), 1);
	tls_cert_name(n, buf, 20);
	assert_int_equal(strlen(buf), 19);
	assert_string_equal(buf + 16, "...");
	X509_NAME_free(n);
	X509_free(x);
}

/* ---------------------------------------------------------------- names */

static void
test_covers(void **state)
{
	(void)state;
	assert_true(tls_cert_covers(P.leaf, "mail.example.test"));
	assert_true(tls_cert_covers(P.leaf, "MAIL.Example.TEST"));
	assert_true(tls_cert_covers(P.leaf, "mail.example.test."));
	assert_false(tls_cert_covers(P.leaf, "other.example.test"));
	assert_false(tls_cert_covers(P.leaf, "example.test"));
	/* A wildcard covers exactly one left-most label. */
	assert_true(tls_cert_covers(P.leaf, "mx1.wild.example.test"));
	assert_false(tls_cert_covers(P.leaf, "a.mx1.wild.example.test"));
	assert_false(tls_cert_covers(P.leaf, "wild.example.test"));
	/* IP literals match IP subjectAltNames only. */
	assert_true(tls_cert_covers(P.leaf, "192.0.2.1"));
	assert_true(tls_cert_covers(P.leaf, "[192.0.2.1]"));
	assert_true(tls_cert_covers(P.leaf, "2001:db8::1"));
	assert_true(tls_cert_covers(P.leaf, "[2001:DB8::1]"));
	assert_true(tls_cert_covers(P.leaf, "[IPv6:2001:db8::1]"));
	assert_false(tls_cert_covers(P.leaf, "192.0.2.2"));
	assert_false(tls_cert_covers(P.leaf, "[::1]"));
	assert_false(tls_cert_covers(P.leaf, ""));
	assert_false(tls_cert_covers(P.leaf, NULL));
	assert_false(tls_cert_covers(NULL, "mail.example.test"));
	assert_int_equal(ERR_peek_error(), 0);
}

static void
test_key_matches(void **state)
{
	(void)state;
	assert_true(tls_cert_key_matches(P.leaf, P.leaf_key));
	assert_false(tls_cert_key_matches(P.leaf, P.other_key));
	assert_false(tls_cert_key_matches(P.leaf, P.ec_key));
	assert_false(tls_cert_key_matches(P.leaf, NULL));
	assert_int_equal(ERR_peek_error(), 0);
}

/* ---------------------------------------------------------------- files */

static void
test_load_pair(void **state)
{
	X509 *certs[2] = { P.leaf, P.inter };
	char *cert = write_pem("pair.pem", certs, 2, NULL, false);
	char *key = write_pem("pair.key", NULL, 0, P.leaf_key, false);
	char *both = write_pem("both.pem", certs, 2, P.leaf_key, false);
	char *keyfirst = write_pem("keyfirst.pem", certs, 2, P.leaf_key, true);
	struct tls_cert_file f;
	char err[512];

	(void)state;
	assert_true(tls_cert_file_load(cert, key, &f, err, sizeof(err)));
	assert_int_equal(X509_cmp(f.leaf, P.leaf), 0);
	assert_int_equal(sk_X509_num(f.chain), 1);
	assert_int_equal(X509_cmp(sk_X509_value(f.chain, 0), P.inter), 0);
	assert_true(tls_cert_key_matches(f.leaf, f.key));
	tls_cert_file_free(&f);
	assert_null(f.leaf);
	tls_cert_file_free(&f);

	/* The key in the certificate file, after or before the certs. */
	assert_true(tls_cert_file_load(both, NULL, &f, err, sizeof(err)));
	assert_true(tls_cert_key_matches(f.leaf, f.key));
	assert_int_equal(sk_X509_num(f.chain), 1);
	tls_cert_file_free(&f);
	assert_true(tls_cert_file_load(keyfirst, keyfirst, &f, err,
	    sizeof(err)));
	assert_true(tls_cert_key_matches(f.leaf, f.key));
	tls_cert_file_free(&f);

	/* A certificate file without a key and no key file. */
	assert_false(tls_cert_file_load(cert, "", &f, err, sizeof(err)));
	assert_non_null(strstr(err, cert));
	assert_non_null(strstr(err, "no private key"));
	assert_null(f.leaf);
	/* The key file named as the certificate file. */
	assert_false(tls_cert_file_load(key, key, &f, err, sizeof(err)));
	assert_non_null(strstr(err, "no certificate in it"));
	assert_int_equal(ERR_peek_error(), 0);
	free(cert);
	free(key);
	free(both);
	free(keyfirst);
}

static void
test_load_errors(void **state)
{
	char *missing = path_in("missing.pem");
	char *der = path_in("cert.der");
	char *enc = path_in("enc.key");
	char *bad = path_in("bad.pem");
	char *empty = path_in("empty.pem");
	char *cert = write_pem("leaf-only.pem", &P.leaf, 1, NULL, false);
	struct tls_cert_file f;
	char err[512];
	unsigned char pass[] = "secret";
	FILE *fp;

	(void)state;
	assert_false(tls_cert_file_load(missing, NULL, &f, err, sizeof(err)));
	assert_non_null(strstr(err, missing));
	assert_non_null(strstr(err, "No such file or directory"));

	fp = fopen(der, "w");
	assert_non_null(fp);
	assert_int_equal(i2d_X509_fp(fp, P.leaf), 1);
	fclose(fp);
	assert_false(tls_cert_file_load(der, NULL, &f, err, sizeof(err)));
	assert_non_null(strstr(err, "DER"));
	assert_non_null(strstr(err, "PEM"));

	fp = fopen(enc, "w");
	assert_non_null(fp);
	assert_int_equal(PEM_write_PrivateKey(fp, P.leaf_key,
	    EVP_aes_128_cbc(), pass, 6, NULL, NULL), 1);
	fclose(fp);
	assert_false(tls_cert_file_load(cert, enc, &f, err, sizeof(err)));
	assert_non_null(strstr(err, enc));
	assert_non_null(strstr(err, "pass phrase"));
	assert_null(strstr(err, "secret"));

	fp = fopen(bad, "w");
	assert_non_null(fp);
	fputs("-----BEGIN CERTIFICATE-----\nMIIB!!!notbase64\n", fp);
	fclose(fp);
	assert_false(tls_cert_file_load(bad, NULL, &f, err, sizeof(err)));
	assert_non_null(strstr(err, bad));
	assert_non_null(strstr(err, "damaged"));

	fp = fopen(empty, "w");
	assert_non_null(fp);
	fclose(fp);
	assert_false(tls_cert_file_load(empty, NULL, &f, err, sizeof(err)));
	assert_non_null(strstr(err, "no certificate in it"));
	assert_int_equal(ERR_peek_error(), 0);
	free(missing);
	free(der);
	free(enc);
	free(bad);
	free(empty);
	free(cert);
}

static void
test_chain_files(void **state)
{
	X509 *ec = leaf_cert("mail.example.test", "DNS:mail.example.test",
	    -DAY, 100 * DAY, P.ec_key);
	X509 *rsa_certs[2] = { P.leaf, P.inter };
	X509 *ec_certs[2] = { ec, P.inter };
	char *one = write_pem("chain1.pem", rsa_certs, 2, P.leaf_key, true);
	char *two = path_in("chain2.pem");
	char *bad = path_in("chain-bad.pem");
	struct tls_cert_file *v = NULL;
	size_t n = 0;
	char err[512];
	FILE *fp;

	(void)state;
	assert_true(tls_cert_chain_file_load(one, &v, &n, err, sizeof(err)));
	assert_int_equal(n, 1);
	assert_true(tls_cert_key_matches(v[0].leaf, v[0].key));
	assert_int_equal(sk_X509_num(v[0].chain), 1);
	tls_cert_file_free_array(&v, n);
	assert_null(v);

	/* Two key + chain sequences in one file (RSA and ECDSA). */
	fp = fopen(two, "w");
	assert_non_null(fp);
	PEM_write_PrivateKey(fp, P.leaf_key, NULL, NULL, 0, NULL, NULL);
	PEM_write_X509(fp, rsa_certs[0]);
	PEM_write_X509(fp, rsa_certs[1]);
	PEM_write_PrivateKey(fp, P.ec_key, NULL, NULL, 0, NULL, NULL);
	PEM_write_X509(fp, ec_certs[0]);
	PEM_write_X509(fp, ec_certs[1]);
	fclose(fp);
	assert_true(tls_cert_chain_file_load(two, &v, &n, err, sizeof(err)));
	assert_int_equal(n, 2);
	assert_true(tls_cert_key_matches(v[0].leaf, v[0].key));
	assert_true(tls_cert_key_matches(v[1].leaf, v[1].key));
	assert_int_equal(X509_cmp(v[1].leaf, ec), 0);
	assert_int_equal(sk_X509_num(v[1].chain), 1);
	tls_cert_file_free_array(&v, n);

	/* ... but tls_cert_file_load wants one key per file. */
	{
		struct tls_cert_file f;

		assert_false(tls_cert_file_load(two, NULL, &f, err,
		    sizeof(err)));
		assert_non_null(strstr(err, "smtpd_tls_chain_files"));
	}

	/* Several keys, but a key without its certificate. */
	fp = fopen(bad, "w");
	assert_non_null(fp);
	PEM_write_PrivateKey(fp, P.leaf_key, NULL, NULL, 0, NULL, NULL);
	PEM_write_PrivateKey(fp, P.ec_key, NULL, NULL, 0, NULL, NULL);
	PEM_write_X509(fp, ec);
	fclose(fp);
	assert_false(tls_cert_chain_file_load(bad, &v, &n, err, sizeof(err)));
	assert_non_null(strstr(err, "not followed by its certificate"));
	assert_null(v);
	assert_int_equal(n, 0);
	/* No key at all. */
	assert_false(tls_cert_chain_file_load(P.root_file, &v, &n, err,
	    sizeof(err)));
	assert_non_null(strstr(err, "no private key"));
	assert_int_equal(ERR_peek_error(), 0);
	X509_free(ec);
	free(one);
	free(two);
	free(bad);
}

/* ---------------------------------------------------------------- words */

static void
test_trouble_order(void **state)
{
	struct tls_cert_facts f;
	char buf[512];

	(void)state;
	memset(&f, 0, sizeof(f));
	f.system_trusted = true;
	snprintf(f.subject, sizeof(f.subject), "CN=x");
	assert_null(tls_cert_trouble(&f, buf, sizeof(buf)));
	assert_null(tls_cert_trouble(&f, buf, 0));

	f.chain_out_of_order = true;
	assert_non_null(strstr(tls_cert_trouble(&f, buf, sizeof(buf)),
	    "out of order"));
	f.weak_key = true;
	snprintf(f.key_type, sizeof(f.key_type), "RSA");
	f.key_bits = 1024;
	assert_non_null(strstr(tls_cert_trouble(&f, buf, sizeof(buf)),
	    "weak RSA key"));
	f.system_trusted = false;
	f.cafile_trusted = true;
	assert_non_null(strstr(tls_cert_trouble(&f, buf, sizeof(buf)),
	    "trusted only through smtpd_tls_CAfile"));
	f.chain_incomplete = true;
	assert_non_null(strstr(tls_cert_trouble(&f, buf, sizeof(buf)),
	    "lacks the intermediate"));
	f.self_signed = true;
	assert_non_null(strstr(tls_cert_trouble(&f, buf, sizeof(buf)),
	    "self-signed"));
	f.expired = true;
	assert_non_null(strstr(tls_cert_trouble(&f, buf, sizeof(buf)),
	    "expired on"));
	/* A short buffer is cut, not overrun. */
	assert_non_null(tls_cert_trouble(&f, buf, 10));
	assert_int_equal(strlen(buf), 9);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_chain),
		cmocka_unit_test(test_missing_intermediate),
		cmocka_unit_test(test_order_and_extras),
		cmocka_unit_test(test_self_signed),
		cmocka_unit_test(test_validity),
		cmocka_unit_test(test_weak),
		cmocka_unit_test(test_wrong_purpose),
		cmocka_unit_test(test_facts_errors),
		cmocka_unit_test(test_names_escaped_and_cn_fallback),
		cmocka_unit_test(test_covers),
		cmocka_unit_test(test_key_matches),
		cmocka_unit_test(test_load_pair),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_chain_files),
		cmocka_unit_test(test_trouble_order),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
