/* SPDX-License-Identifier: MIT */
/*
 * test_tls_client - client TLS (src/tls/tls_client.c) and STARTTLS in
 * the SMTP client (src/deliver/lmtp_client.c): level names, contexts,
 * and conversations with the scripted SMTP server of test_support on
 * 127.0.0.1, which does STARTTLS with OpenSSL's SSL_accept, using
 * certificates made here (a CA, leaves signed by it, self-signed and
 * expired ones): may with a self-signed certificate, encrypt without
 * STARTTLS, verify (right CA, wrong name, expired), DANE 3 1 1 (match,
 * mismatch, only unusable records), no protocol in common, AUTH after
 * TLS, and nothing pipelined after STARTTLS before the handshake.
 */
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "buf.h"
#include "dns.h"
#include "lmtp_client.h"
#include "test_support.h"
#include "tls_client.h"
#include "xalloc.h"

/* ------------------------------------------------------------------ */
/* Certificates */

struct cred {
	EVP_PKEY *key;
	X509 *cert;
};

static struct cred ca, leaf, selfsigned, expired;
static char ca_file[128];
static char tmpdir[64];

/* make_cert - a certificate for key named cn with the DNS names sans
 * (NULL-terminated, may be NULL), issued by issuer (NULL: self-signed),
 * valid from days_from to days_to (days from now). */
static X509 *
make_cert(EVP_PKEY *key, const char *cn, const char *const *sans,
    const struct cred *issuer, long days_from, long days_to, bool is_ca)
{
	X509 *x = X509_new();
	X509_NAME *n;
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	static long serial = 1;

	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), days_from * 86400);
	X509_gmtime_adj(X509_getm_notAfter(x), days_to * 86400);
	X509_set_pubkey(x, key);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer != NULL ?
	    X509_get_subject_name(issuer->cert) : n);
	X509V3_set_ctx(&v3, issuer != NULL ? issuer->cert : x, x, NULL, NULL,
	    0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints,
	    is_ca ? "critical,CA:TRUE" : "CA:FALSE");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	if (is_ca) {
		ext = X509V3_EXT_conf_nid(NULL, &v3, NID_key_usage,
		    "critical,keyCertSign,cRLSign");
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	if (sans != NULL) {
		struct buf b;

		buf_init(&b, 4096);
		for (size_t i = 0; sans[i] != NULL; i++)
			buf_appendf(&b, "%sDNS:%s", i ? "," : "", sans[i]);
		ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name,
		    (char *)(uintptr_t)buf_cstr(&b));
		assert_non_null(ext);
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
		buf_deinit(&b);
	}
	assert_true(X509_sign(x, issuer != NULL ? issuer->key : key,
	    EVP_sha256()) > 0);
	return x;
}

static int
setup_certs(void **state)
{
	static const char *const leaf_names[] = { "mx.tls.test",
	    "mail.tls.test", NULL };
	FILE *fp;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/ostia-tlsc-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	ca.key = EVP_EC_gen("P-256");
	ca.cert = make_cert(ca.key, "Ostia Test CA", NULL, NULL, -1, 30,
	    true);
	leaf.key = EVP_EC_gen("P-256");
	leaf.cert = make_cert(leaf.key, "mx.tls.test", leaf_names, &ca, -1,
	    30, false);
	selfsigned.key = EVP_EC_gen("P-256");
	selfsigned.cert = make_cert(selfsigned.key, "self.tls.test", NULL,
	    NULL, -1, 30, false);
	expired.key = EVP_EC_gen("P-256");
	expired.cert = make_cert(expired.key, "mx.tls.test", leaf_names, &ca,
	    -30, -2, false);
	snprintf(ca_file, sizeof(ca_file), "%s/ca.pem", tmpdir);
	fp = fopen(ca_file, "w");
	assert_non_null(fp);
	assert_int_equal(PEM_write_X509(fp, ca.cert), 1);
	fclose(fp);
	return 0;
}

static void
cred_free(struct cred *c)
{
	X509_free(c->cert);
	EVP_PKEY_free(c->key);
}

static int
teardown_certs(void **state)
{
	unlink(ca_file);
	rmdir(tmpdir);
	cred_free(&ca);
	cred_free(&leaf);
	cred_free(&selfsigned);
	cred_free(&expired);
	return 0;
}

/* spki_sha256 - the data of a "3 1 1" TLSA record for cert. */
static void
spki_sha256(X509 *cert, unsigned char out[32])
{
	unsigned char *der = NULL;
	unsigned len = 0;
	int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);

	assert_true(n > 0);
	assert_int_equal(EVP_Digest(der, (size_t)n, out, &len, EVP_sha256(),
	    NULL), 1);
	assert_int_equal(len, 32);
	OPENSSL_free(der);
}

/* ------------------------------------------------------------------ */
/* The scripted SMTP server (test_support's test_script) with STARTTLS */

/* srv_start - start steps on 127.0.0.1 with a new server context: the
 * certificate of c (and the CA's after it when with_chain), TLS up to
 * max_version (0: OpenSSL's). */
static void
srv_start(struct test_script *s, const struct test_step *steps,
    const struct cred *c, bool with_chain, int max_version)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_use_certificate(ctx, c->cert), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(ctx, c->key), 1);
	if (with_chain) {
		X509_up_ref(ca.cert);
		assert_int_equal(SSL_CTX_add_extra_chain_cert(ctx, ca.cert), 1);
	}
	if (max_version != 0)
		SSL_CTX_set_max_proto_version(ctx, max_version);
	test_script_start(s, steps, true, ctx);
}

/* srv_finish - test_script_finish, then free the server context. */
static void
srv_finish(struct test_script *s)
{
	SSL_CTX *ctx = s->tls;

	test_script_finish(s);
	SSL_CTX_free(ctx);
}

/* ------------------------------------------------------------------ */
/* Client side */

#define GREET "220 mx.tls.test ESMTP\r\n"
#define EHLO_TLS "250-mx.tls.test\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n" \
	"250 STARTTLS\r\n"
#define EHLO_AFTER "250-mx.tls.test\r\n250-PIPELINING\r\n" \
	"250 AUTH PLAIN LOGIN\r\n"

static struct tls_client_ctx *
ctx_new(const char *mandatory_protocols)
{
	struct tls_client_config cfg;
	struct tls_client_ctx *t;
	char *err = NULL;

	memset(&cfg, 0, sizeof(cfg));
	cfg.CAfile = ca_file;
	cfg.protocols = "!SSLv2, !SSLv3";
	cfg.mandatory_protocols = mandatory_protocols;
	cfg.loglevel = 1;
	t = tls_client_ctx_new(&cfg, &err);
	if (t == NULL)
		fail_msg("tls_client_ctx_new: %s", err);
	return t;
}

static void
settings(struct lmtp_client_settings *set, struct tls_client_ctx *t,
    const struct tls_client_policy *p)
{
	memset(set, 0, sizeof(*set));
	set->lhlo_name = "client.example";
	set->default_port = "25";
	set->protocol = LMTP_PROTO_SMTP;
	set->peer_name = "mx.tls.test[127.0.0.1]:25";
	set->timeouts.connect_ms = 10000;
	set->timeouts.lhlo_ms = 10000;
	set->timeouts.mail_ms = 10000;
	set->timeouts.rcpt_ms = 10000;
	set->timeouts.data_init_ms = 10000;
	set->timeouts.data_xfer_ms = 10000;
	set->timeouts.data_done_ms = 10000;
	set->timeouts.rset_ms = 10000;
	set->timeouts.quit_ms = 10000;
	set->timeouts.starttls_ms = 10000;
	set->tls_ctx = t;
	set->tls = p;
}

/* One connection that fails with LMTP_FAIL_TLS; the text is returned
 * (caller frees). */
static char *
connect_fails(const struct test_step *steps, const struct cred *cred,
    bool chain, int max_version, struct tls_client_ctx *t,
    const struct tls_client_policy *p)
{
	struct test_script s;
	struct lmtp_client_settings set;
	struct lmtp_failure f = { 0 };
	struct lmtp_client *c;
	char *dest, *text;

	srv_start(&s, steps, cred, chain, max_version);
	dest = test_script_dest(&s);
	settings(&set, t, p);
	c = lmtp_client_connect(dest, &set, &f);
	if (c != NULL)
		fail_msg("connected, TLS %s",
		    lmtp_client_tls(c) ? lmtp_client_tls(c)->trust : "none");
	if (f.kind != LMTP_FAIL_TLS)
		fail_msg("failure kind %d: %s", f.kind, f.text);
	assert_string_equal(f.dsn, "4.7.5");
	assert_int_equal(f.stage, LMTP_STAGE_STARTTLS);
	text = xstrdup(f.text);
	lmtp_failure_deinit(&f);
	srv_finish(&s);
	free(dest);
	return text;
}

/* STARTTLS, the handshake, then the client closes: the steps of a
 * connection whose certificate the client refuses. */
static const struct test_step refused_cert[] = {
	{ TS_ACCEPT, NULL },
	{ TS_SEND, GREET },
	{ TS_EXPECT, "EHLO client.example" },
	{ TS_SEND, EHLO_TLS },
	{ TS_EXPECT, "STARTTLS" },
	{ TS_SEND, "220 2.0.0 Ready to start TLS\r\n" },
	{ TS_STARTTLS, NULL },
	{ TS_EOF, NULL },
	{ TS_END, NULL },
};

static void
test_levels(void **state)
{
	static const char *const names[] = { "none", "may", "encrypt", "dane",
	    "dane-only", "fingerprint", "verify", "secure" };
	enum tls_client_level lev;
	struct dns_rr rr[2];
	unsigned char d[32] = { 0 };
	struct tls_client_policy p;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		assert_int_equal(tls_level_parse(names[i], &lev), 0);
		assert_int_equal(lev, (int)i);
		assert_string_equal(tls_level_name(lev), names[i]);
	}
	assert_int_equal(tls_level_parse("DANE-Only", &lev), 0);
	assert_int_equal(lev, TLS_LEV_DANE_ONLY);
	assert_int_equal(tls_level_parse("mandatory", &lev), -1);
	assert_int_equal(tls_level_parse("", &lev), -1);

	/* dane: no TLSA -> may; none usable -> encrypt. */
	memset(&p, 0, sizeof(p));
	memset(rr, 0, sizeof(rr));
	p.level = TLS_LEV_DANE;
	assert_int_equal(tls_client_effective_level(&p), TLS_LEV_MAY);
	rr[0].type = DNS_T_TLSA;
	rr[0].u.tlsa.usage = 1;
	rr[0].u.tlsa.selector = 1;
	rr[0].u.tlsa.mtype = 1;
	rr[0].u.tlsa.data = d;
	rr[0].u.tlsa.len = 32;
	rr[1] = rr[0];
	rr[1].u.tlsa.usage = 3;
	rr[1].u.tlsa.len = 31;		/* wrong length for SHA-256 */
	p.tlsa = rr;
	p.ntlsa = 2;
	assert_int_equal(tls_client_usable_tlsa(&p), 0);
	assert_int_equal(tls_client_effective_level(&p), TLS_LEV_ENCRYPT);
	rr[1].u.tlsa.len = 32;
	assert_int_equal(tls_client_usable_tlsa(&p), 1);
	assert_int_equal(tls_client_effective_level(&p), TLS_LEV_DANE);
	p.level = TLS_LEV_DANE_ONLY;
	p.ntlsa = 0;
	assert_int_equal(tls_client_effective_level(&p), TLS_LEV_DANE_ONLY);
	assert_int_equal(tls_client_effective_level(NULL), TLS_LEV_NONE);
}

static void
test_ctx_errors(void **state)
{
	struct tls_client_config cfg;
	struct tls_client_ctx *t;
	char *err = NULL;

	memset(&cfg, 0, sizeof(cfg));
	t = tls_client_ctx_new(&cfg, &err);
	if (t == NULL)
		fail_msg("default context: %s", err);
	tls_client_ctx_free(t);

	cfg.protocols = "TLSv1.4";
	assert_null(tls_client_ctx_new(&cfg, &err));
	assert_non_null(strstr(err, "TLSv1.4"));
	free(err);
	cfg.protocols = NULL;
	cfg.mandatory_ciphers_list = "NOSUCHCIPHER";
	assert_null(tls_client_ctx_new(&cfg, &err));
	assert_non_null(strstr(err, "NOSUCHCIPHER"));
	free(err);
	cfg.mandatory_ciphers_list = NULL;
	cfg.CAfile = "/nonexistent/ca.pem";
	assert_null(tls_client_ctx_new(&cfg, &err));
	assert_non_null(strstr(err, "/nonexistent/ca.pem"));
	free(err);
	cfg.CAfile = NULL;
	cfg.cert_file = "/nonexistent/cert.pem";
	assert_null(tls_client_ctx_new(&cfg, &err));
	assert_non_null(strstr(err, "/nonexistent/cert.pem"));
	free(err);
}

/* may with a self-signed certificate: Untrusted, delivered; nothing
 * pipelined after STARTTLS before the handshake (the server offers
 * PIPELINING); the caps before TLS are forgotten; AUTH PLAIN after TLS
 * without auth_plaintext_ok. */
static void
test_may_selfsigned_auth(void **state)
{
	const struct test_step steps[] = {
		{ TS_ACCEPT, NULL },
		{ TS_SEND, GREET },
		{ TS_EXPECT, "EHLO client.example" },
		{ TS_SEND, EHLO_TLS },
		{ TS_EXPECT, "STARTTLS" },
		{ TS_SEND, "220 2.0.0 Ready to start TLS\r\n" },
		{ TS_STARTTLS, NULL },
		{ TS_EXPECT, "EHLO client.example" },
		{ TS_SEND, EHLO_AFTER },
		{ TS_EXPECT, "AUTH PLAIN AHUAcA==" },
		{ TS_SEND, "235 2.7.0 OK\r\n" },
		{ TS_EXPECT, "MAIL FROM:<s@example.org>" },
		{ TS_EXPECT, "RCPT TO:<a@example.org>" },
		{ TS_EXPECT, "RCPT TO:<b@example.org>" },
		{ TS_SEND, "250 OK\r\n250 OK\r\n250 OK\r\n" },
		{ TS_EXPECT, "DATA" },
		{ TS_SEND, "354 go\r\n" },
		{ TS_BODY, NULL },
		{ TS_SEND, "250 2.0.0 queued\r\n" },
		{ TS_EXPECT, "RSET" },
		{ TS_SEND, "250 OK\r\n" },
		{ TS_EXPECT, "QUIT" },
		{ TS_SEND, "221 Bye\r\n" },
		{ TS_END, NULL },
	};
	struct tls_client_ctx *t = ctx_new("");
	struct tls_client_policy p = { .level = TLS_LEV_MAY,
	    .sni = "mx.tls.test" };
	struct test_script s;
	struct lmtp_client_settings set;
	struct lmtp_failure f = { 0 };
	struct lmtp_client *c;
	const struct tls_client_info *ti;
	struct lmtp_mail m;
	struct lmtp_rcpt r[2];
	char *dest;

	srv_start(&s, steps, &selfsigned, false, 0);
	dest = test_script_dest(&s);
	settings(&set, t, &p);
	set.auth_user = "u";
	set.auth_pass = "p";
	c = lmtp_client_connect(dest, &set, &f);
	if (c == NULL)
		fail_msg("connect: %s", f.text);
	ti = lmtp_client_tls(c);
	assert_non_null(ti);
	assert_true(ti->active);
	assert_string_equal(ti->trust, "Untrusted");
	assert_string_equal(ti->peer_cn, "self.tls.test");
	assert_string_equal(ti->protocol, "TLSv1.3");
	assert_true(ti->bits >= 128);
	assert_false(lmtp_client_caps(c)->starttls);
	assert_false(lmtp_client_caps(c)->size);
	assert_true(lmtp_client_caps(c)->auth_plain);
	assert_true(lmtp_client_authenticated(c));
	memset(&m, 0, sizeof(m));
	m.sender = "s@example.org";
	m.content = "Subject: x\r\n\r\nbody\r\n";
	m.len = strlen(m.content);
	memset(r, 0, sizeof(r));
	r[0].address = "a@example.org";
	r[1].address = "b@example.org";
	if (lmtp_client_send(c, &m, r, 2, &f) != 0)
		fail_msg("send: %s", f.text);
	assert_int_equal(r[0].reply.code, 250);
	assert_int_equal(r[1].reply.code, 250);
	lmtp_rcpt_deinit(&r[0]);
	lmtp_rcpt_deinit(&r[1]);
	/* TLS 1.3 session tickets arrived while idle: not a close. */
	assert_int_equal(lmtp_client_reset(c, &f), 0);
	lmtp_client_quit(&c);
	srv_finish(&s);
	assert_string_equal(s.sni, "mx.tls.test");
	free(dest);
	tls_client_ctx_free(t);
}

/* encrypt without STARTTLS offered; may without it goes on in
 * plaintext; may with STARTTLS refused (454) goes on too. */
static void
test_encrypt_not_offered(void **state)
{
	const struct test_step steps[] = {
		{ TS_ACCEPT, NULL },
		{ TS_SEND, GREET },
		{ TS_EXPECT, "EHLO client.example" },
		{ TS_SEND, "250-mx.tls.test\r\n250 PIPELINING\r\n" },
		{ TS_EOF, NULL },
		{ TS_END, NULL },
	};
	const struct test_step may_steps[] = {
		{ TS_ACCEPT, NULL },
		{ TS_SEND, GREET },
		{ TS_EXPECT, "EHLO client.example" },
		{ TS_SEND, "250-mx.tls.test\r\n250 PIPELINING\r\n" },
		{ TS_EXPECT, "QUIT" },
		{ TS_SEND, "221 Bye\r\n" },
		{ TS_ACCEPT, NULL },
		{ TS_SEND, GREET },
		{ TS_EXPECT, "EHLO client.example" },
		{ TS_SEND, EHLO_TLS },
		{ TS_EXPECT, "STARTTLS" },
		{ TS_SEND, "454 4.7.0 TLS not available\r\n" },
		{ TS_EXPECT, "QUIT" },
		{ TS_SEND, "221 Bye\r\n" },
		{ TS_END, NULL },
	};
	struct tls_client_ctx *t = ctx_new("");
	struct tls_client_policy p = { .level = TLS_LEV_ENCRYPT };
	struct test_script s;
	struct lmtp_client_settings set;
	struct lmtp_failure f = { 0 };
	struct lmtp_client *c;
	char *text, *dest;

	text = connect_fails(steps, &leaf, true, 0, t, &p);
	assert_string_equal(text, "SMTP server mx.tls.test[127.0.0.1]:25 "
	    "does not offer STARTTLS, which the TLS security level encrypt "
	    "requires");
	free(text);

	p.level = TLS_LEV_MAY;
	srv_start(&s, may_steps, &leaf, true, 0);
	dest = test_script_dest(&s);
	settings(&set, t, &p);
	for (int i = 0; i < 2; i++) {
		c = lmtp_client_connect(dest, &set, &f);
		if (c == NULL)
			fail_msg("connect: %s", f.text);
		assert_null(lmtp_client_tls(c));
		lmtp_client_quit(&c);
	}
	srv_finish(&s);
	free(dest);
	tls_client_ctx_free(t);
}

/* verify: the right CA and name (Verified, also as ".tls.test"); a
 * name mismatch names what the certificate names; a self-signed
 * certificate, an expired one. */
static void
test_verify(void **state)
{
	const struct test_step ok_steps[] = {
		{ TS_ACCEPT, NULL },
		{ TS_SEND, GREET },
		{ TS_EXPECT, "EHLO client.example" },
		{ TS_SEND, EHLO_TLS },
		{ TS_EXPECT, "STARTTLS" },
		{ TS_SEND, "220 2.0.0 go ahead\r\n" },
		{ TS_STARTTLS, NULL },
		{ TS_EXPECT, "EHLO client.example" },
		{ TS_SEND, EHLO_AFTER },
		{ TS_EXPECT, "QUIT" },
		{ TS_SEND, "221 Bye\r\n" },
		{ TS_END, NULL },
	};
	static const char *const good[] = { "other.test", "mx.tls.test" };
	static const char *const dot[] = { ".tls.test" };
	static const char *const bad[] = { "mx.other.test", ".other.test" };
	struct tls_client_ctx *t = ctx_new(">=TLSv1.2");
	struct tls_client_policy p = { .level = TLS_LEV_VERIFY,
	    .match = good, .nmatch = 2 };
	struct test_script s;
	struct lmtp_client_settings set;
	struct lmtp_failure f = { 0 };
	struct lmtp_client *c;
	char *dest, *text;

	for (int i = 0; i < 2; i++) {
		srv_start(&s, ok_steps, &leaf, true, 0);
		dest = test_script_dest(&s);
		if (i == 1) {
			p.level = TLS_LEV_SECURE;
			p.match = dot;
			p.nmatch = 1;
		}
		settings(&set, t, &p);
		c = lmtp_client_connect(dest, &set, &f);
		if (c == NULL)
			fail_msg("connect: %s", f.text);
		assert_string_equal(lmtp_client_tls(c)->trust, "Verified");
		assert_string_equal(lmtp_client_tls(c)->issuer_cn,
		    "Ostia Test CA");
		lmtp_client_quit(&c);
		srv_finish(&s);
		free(dest);
	}

	p.level = TLS_LEV_VERIFY;
	p.match = bad;
	p.nmatch = 2;
	text = connect_fails(refused_cert, &leaf, true, 0, t, &p);
	assert_string_equal(text, "the certificate of SMTP server "
	    "mx.tls.test[127.0.0.1]:25 does not match mx.other.test or "
	    ".other.test (it names: mx.tls.test, mail.tls.test)");
	free(text);

	p.match = good;
	text = connect_fails(refused_cert, &selfsigned, false, 0, t, &p);
	assert_non_null(strstr(text, "is self-signed (CN self.tls.test)"));
	free(text);

	text = connect_fails(refused_cert, &expired, true, 0, t, &p);
	assert_non_null(strstr(text, "the certificate of SMTP server "
	    "mx.tls.test[127.0.0.1]:25 expired on "));
	free(text);

	/* The chain's CA not sent and not trusted: unknown issuer.  A
	 * context with the system store only does not know our CA. */
	{
		struct tls_client_config cfg;
		struct tls_client_ctx *sys;
		char *err = NULL;

		memset(&cfg, 0, sizeof(cfg));
		sys = tls_client_ctx_new(&cfg, &err);
		assert_non_null(sys);
		text = connect_fails(refused_cert, &leaf, false, 0, sys, &p);
		assert_non_null(strstr(text, "was issued by an unknown "
		    "authority (issuer CN Ostia Test CA)"));
		free(text);
		tls_client_ctx_free(sys);
	}

	/* tls_append_default_CA: smtp_tls_CAfile trusts only another CA
	 * (the self-signed certificate); the system store, which OpenSSL's
	 * default paths read from SSL_CERT_FILE here, holds ours.  Without
	 * the setting: unknown authority; with it: Verified. */
	{
		struct tls_client_config cfg;
		struct tls_client_ctx *app;
		char other[160], *err = NULL;
		FILE *fp;

		snprintf(other, sizeof(other), "%s/other-ca.pem", tmpdir);
		fp = fopen(other, "w");
		assert_non_null(fp);
		assert_int_equal(PEM_write_X509(fp, selfsigned.cert), 1);
		fclose(fp);
		assert_int_equal(setenv("SSL_CERT_FILE", ca_file, 1), 0);
		for (int append = 0; append < 2; append++) {
			memset(&cfg, 0, sizeof(cfg));
			cfg.CAfile = other;
			cfg.append_default_CA = append != 0;
			app = tls_client_ctx_new(&cfg, &err);
			if (app == NULL)
				fail_msg("tls_client_ctx_new: %s", err);
			if (!append) {
				text = connect_fails(refused_cert, &leaf, false,
				    0, app, &p);
				assert_non_null(strstr(text, "was issued by an "
				    "unknown authority"));
				free(text);
			} else {
				srv_start(&s, ok_steps, &leaf, false, 0);
				dest = test_script_dest(&s);
				settings(&set, app, &p);
				c = lmtp_client_connect(dest, &set, &f);
				if (c == NULL)
					fail_msg("connect: %s", f.text);
				assert_string_equal(lmtp_client_tls(c)->trust,
				    "Verified");
				lmtp_client_quit(&c);
				srv_finish(&s);
				free(dest);
			}
			tls_client_ctx_free(app);
		}
		assert_int_equal(unsetenv("SSL_CERT_FILE"), 0);
		unlink(other);
	}
	tls_client_ctx_free(t);
}

/* DANE 3 1 1: matching (Verified, whatever the chain and names),
 * mismatching (the records listed), only usage 0/1 records (encrypt:
 * delivered, not verified); dane-only without usable records. */
static void
test_dane(void **state)
{
	const struct test_step ok_steps[] = {
		{ TS_ACCEPT, NULL },
		{ TS_SEND, GREET },
		{ TS_EXPECT, "EHLO client.example" },
		{ TS_SEND, EHLO_TLS },
		{ TS_EXPECT, "STARTTLS" },
		{ TS_SEND, "220 2.0.0 go ahead\r\n" },
		{ TS_STARTTLS, NULL },
		{ TS_EXPECT, "EHLO client.example" },
		{ TS_SEND, EHLO_AFTER },
		{ TS_EXPECT, "QUIT" },
		{ TS_SEND, "221 Bye\r\n" },
		{ TS_END, NULL },
	};
	const struct test_step no_tls[] = {
		{ TS_ACCEPT, NULL },
		{ TS_SEND, GREET },
		{ TS_EXPECT, "EHLO client.example" },
		{ TS_SEND, EHLO_TLS },
		{ TS_EOF, NULL },
		{ TS_END, NULL },
	};
	struct tls_client_ctx *t = ctx_new("");
	unsigned char good[32], bad[32];
	struct dns_rr rr[2];
	struct tls_client_policy p = { .level = TLS_LEV_DANE,
	    .dane_base = "mx.dane.test" };
	struct test_script s;
	struct lmtp_client_settings set;
	struct lmtp_failure f = { 0 };
	struct lmtp_client *c;
	char *dest, *text;

	spki_sha256(selfsigned.cert, good);
	memset(bad, 0xab, sizeof(bad));
	memset(rr, 0, sizeof(rr));
	rr[0].type = DNS_T_TLSA;
	rr[0].u.tlsa.usage = 3;
	rr[0].u.tlsa.selector = 1;
	rr[0].u.tlsa.mtype = 1;
	rr[0].u.tlsa.data = bad;
	rr[0].u.tlsa.len = 32;
	rr[1] = rr[0];
	rr[1].u.tlsa.data = good;
	p.tlsa = rr;
	p.ntlsa = 2;

	srv_start(&s, ok_steps, &selfsigned, false, 0);
	dest = test_script_dest(&s);
	settings(&set, t, &p);
	c = lmtp_client_connect(dest, &set, &f);
	if (c == NULL)
		fail_msg("connect: %s", f.text);
	assert_true(lmtp_client_tls(c)->dane_matched);
	assert_string_equal(lmtp_client_tls(c)->trust, "Verified");
	lmtp_client_quit(&c);
	srv_finish(&s);
	/* SNI: the TLSA base name. */
	assert_string_equal(s.sni, "mx.dane.test");
	free(dest);

	p.ntlsa = 1;
	text = connect_fails(refused_cert, &selfsigned, false, 0, t, &p);
	assert_non_null(strstr(text, "no TLSA record of SMTP server "
	    "mx.tls.test[127.0.0.1]:25 matched its certificate (TLSA "
	    "records: 3 1 1 abababab"));
	{
		char hex[65];

		for (int i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", good[i]);
		assert_non_null(strstr(text, hex));
	}
	free(text);

	/* Usage 1 only: ignored (RFC 7672), so encrypt applies. */
	rr[0].u.tlsa.usage = 1;
	srv_start(&s, ok_steps, &selfsigned, false, 0);
	dest = test_script_dest(&s);
	c = lmtp_client_connect(dest, &set, &f);
	if (c == NULL)
		fail_msg("connect: %s", f.text);
	assert_false(lmtp_client_tls(c)->dane_matched);
	assert_int_equal(lmtp_client_tls(c)->level, TLS_LEV_ENCRYPT);
	lmtp_client_quit(&c);
	srv_finish(&s);
	free(dest);

	p.level = TLS_LEV_DANE_ONLY;
	text = connect_fails(no_tls, &selfsigned, false, 0, t, &p);
	assert_non_null(strstr(text, "no usable TLSA record"));
	free(text);
	tls_client_ctx_free(t);
}

/* The handshake fails: no protocol version in common. */
static void
test_handshake_failure(void **state)
{
	const struct test_step steps[] = {
		{ TS_ACCEPT, NULL },
		{ TS_SEND, GREET },
		{ TS_EXPECT, "EHLO client.example" },
		{ TS_SEND, EHLO_TLS },
		{ TS_EXPECT, "STARTTLS" },
		{ TS_SEND, "220 2.0.0 go ahead\r\n" },
		{ TS_TLS_FAIL, NULL },
		{ TS_END, NULL },
	};
	struct tls_client_ctx *t = ctx_new(">=TLSv1.3");
	struct tls_client_policy p = { .level = TLS_LEV_ENCRYPT };
	char *text;

	text = connect_fails(steps, &leaf, true, TLS1_2_VERSION, t, &p);
	assert_string_equal(text, "TLS handshake with SMTP server "
	    "mx.tls.test[127.0.0.1]:25 failed: no protocol version in "
	    "common (we allow TLSv1.3)");
	free(text);
	tls_client_ctx_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_levels),
		cmocka_unit_test(test_ctx_errors),
		cmocka_unit_test(test_may_selfsigned_auth),
		cmocka_unit_test(test_encrypt_not_offered),
		cmocka_unit_test(test_verify),
		cmocka_unit_test(test_dane),
		cmocka_unit_test(test_handshake_failure),
	};

	return cmocka_run_group_tests(tests, setup_certs, teardown_certs);
}
