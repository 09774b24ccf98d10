/* SPDX-License-Identifier: MIT */
/*
 * test_tls_client - client TLS (src/tls/tls_client.c) and STARTTLS in
 * the SMTP client (src/deliver/lmtp_client.c): level names, contexts,
 * and conversations with a scripted SMTP server in a thread on
 * 127.0.0.1 that does STARTTLS with OpenSSL's SSL_accept, using
 * certificates made here (a CA, leaves signed by it, self-signed and
 * expired ones): may with a self-signed certificate, encrypt without
 * STARTTLS, verify (right CA, wrong name, expired), DANE 3 1 1 (match,
 * mismatch, only unusable records), no protocol in common, AUTH after
 * TLS, and nothing pipelined after STARTTLS before the handshake.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "buf.h"
#include "compat.h"
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
/* Scripted SMTP server with STARTTLS */

enum step_kind {
	S_END = 0,
	S_SEND,		/* send text */
	S_EXPECT,	/* read a command line, which must equal text */
	S_BODY,		/* read the message up to and with ".\r\n" */
	S_STARTTLS,	/* nothing may be buffered; SSL_accept */
	S_TLS_FAIL,	/* nothing may be buffered; SSL_accept fails */
	S_EOF,		/* the client closes without sending more */
	S_ACCEPT,	/* accept the next connection */
};

struct step {
	enum step_kind kind;
	const char *text;
};

struct server {
	struct test_listener l;
	const struct step *steps;
	const struct cred *cred;	/* the server's certificate */
	bool with_chain;		/* send the CA too */
	int max_version;		/* 0 = OpenSSL's */
	pthread_t th;
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
	char in[65536];
	size_t inlen;
	struct buf lines;
	char *problem;
	char sni[256];
};

static void srv_problem(struct server *s, const char *fmt, ...)
    ATTR_FORMAT(2, 3);

static void
srv_problem(struct server *s, const char *fmt, ...)
{
	va_list ap;

	if (s->problem != NULL)
		return;
	va_start(ap, fmt);
	s->problem = xvasprintf(fmt, ap);
	va_end(ap);
}

static void
srv_close(struct server *s)
{
	if (s->ssl != NULL)
		SSL_free(s->ssl);
	s->ssl = NULL;
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->inlen = 0;
}

static void
srv_accept(struct server *s)
{
	struct pollfd pfd = { s->l.fd, POLLIN, 0 };
	struct timeval tv = { 10, 0 };

	srv_close(s);
	if (poll(&pfd, 1, 10000) != 1) {
		srv_problem(s, "no connection");
		return;
	}
	s->fd = accept(s->l.fd, NULL, NULL);
	if (s->fd < 0) {
		srv_problem(s, "accept: %s", strerror(errno));
		return;
	}
	setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(s->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static bool
srv_fill(struct server *s)
{
	int n;

	if (s->inlen == sizeof(s->in) || s->fd < 0)
		return false;
	if (s->ssl != NULL)
		n = SSL_read(s->ssl, s->in + s->inlen,
		    (int)(sizeof(s->in) - s->inlen));
	else
		n = (int)read(s->fd, s->in + s->inlen,
		    sizeof(s->in) - s->inlen);
	if (n <= 0)
		return false;
	s->inlen += (size_t)n;
	return true;
}

static void
srv_write(struct server *s, const char *text)
{
	if (s->ssl != NULL) {
		if (SSL_write(s->ssl, text, (int)strlen(text)) <= 0)
			srv_problem(s, "SSL_write failed");
	} else
		test_write_all(s->fd, text, strlen(text));
}

static bool
srv_line(struct server *s, char *out, size_t outsz, bool raw)
{
	for (;;) {
		char *lf = memchr(s->in, '\n', s->inlen);

		if (lf != NULL) {
			size_t n = (size_t)(lf - s->in) + 1;
			size_t keep = raw ? n : n - 1;

			if (!raw && keep > 0 && s->in[keep - 1] == '\r')
				keep--;
			if (keep >= outsz)
				keep = outsz - 1;
			memcpy(out, s->in, keep);
			out[keep] = '\0';
			memmove(s->in, s->in + n, s->inlen - n);
			s->inlen -= n;
			return true;
		}
		if (!srv_fill(s))
			return false;
	}
}

static int
srv_sni(SSL *ssl, int *al, void *arg)
{
	struct server *s = arg;
	const char *n = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

	snprintf(s->sni, sizeof(s->sni), "%s", n != NULL ? n : "");
	return SSL_TLSEXT_ERR_OK;
}

/* srv_tls - SSL_accept on the connection; false when it failed. */
static bool
srv_tls(struct server *s, size_t i)
{
	if (s->inlen > 0) {
		srv_problem(s, "step %zu: %zu bytes sent before the TLS "
		    "handshake", i, s->inlen);
		return false;
	}
	s->ssl = SSL_new(s->ctx);
	SSL_set_fd(s->ssl, s->fd);
	if (SSL_accept(s->ssl) != 1) {
		ERR_clear_error();
		SSL_free(s->ssl);
		s->ssl = NULL;
		return false;
	}
	return true;
}

static void *
srv_main(void *arg)
{
	struct server *s = arg;
	char line[8192];
	sigset_t pipe_set;

	/* The server's writes to a client that has gone may raise
	 * SIGPIPE (OpenSSL's socket BIO): blocked in this thread only, so
	 * that one raised by the client still ends the test. */
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
	for (size_t i = 0; s->steps[i].kind != S_END && s->problem == NULL;
	    i++) {
		const struct step *st = &s->steps[i];

		switch (st->kind) {
		case S_END:
			break;
		case S_ACCEPT:
			srv_accept(s);
			break;
		case S_SEND:
			srv_write(s, st->text);
			break;
		case S_EXPECT:
			if (!srv_line(s, line, sizeof(line), false)) {
				srv_problem(s, "step %zu: EOF, wanted \"%s\"",
				    i, st->text);
				break;
			}
			buf_appendf(&s->lines, "%s\n", line);
			if (strcmp(line, st->text) != 0)
				srv_problem(s, "step %zu: got \"%s\", wanted "
				    "\"%s\"", i, line, st->text);
			break;
		case S_BODY:
			for (;;) {
				if (!srv_line(s, line, sizeof(line), true)) {
					srv_problem(s, "step %zu: EOF in body",
					    i);
					break;
				}
				if (strcmp(line, ".\r\n") == 0)
					break;
			}
			break;
		case S_STARTTLS:
			if (!srv_tls(s, i))
				srv_problem(s, "step %zu: TLS handshake "
				    "failed", i);
			break;
		case S_TLS_FAIL:
			if (srv_tls(s, i))
				srv_problem(s, "step %zu: TLS handshake "
				    "succeeded", i);
			break;
		case S_EOF:
			if (srv_line(s, line, sizeof(line), false))
				srv_problem(s, "step %zu: got \"%s\", wanted "
				    "the end", i, line);
			else if (s->inlen > 0)
				srv_problem(s, "step %zu: %zu bytes before "
				    "the end", i, s->inlen);
			break;
		}
	}
	srv_close(s);
	return NULL;
}

static void
srv_start(struct server *s, const struct step *steps, const struct cred *c,
    bool with_chain, int max_version)
{
	memset(s, 0, sizeof(*s));
	s->fd = -1;
	s->steps = steps;
	s->cred = c;
	buf_init(&s->lines, 1 << 20);
	s->ctx = SSL_CTX_new(TLS_server_method());
	assert_non_null(s->ctx);
	assert_int_equal(SSL_CTX_use_certificate(s->ctx, c->cert), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(s->ctx, c->key), 1);
	if (with_chain) {
		X509_up_ref(ca.cert);
		assert_int_equal(SSL_CTX_add_extra_chain_cert(s->ctx, ca.cert),
		    1);
	}
	if (max_version != 0)
		SSL_CTX_set_max_proto_version(s->ctx, max_version);
	SSL_CTX_set_tlsext_servername_callback(s->ctx, srv_sni);
	SSL_CTX_set_tlsext_servername_arg(s->ctx, s);
	test_listener_open(&s->l, true, "tlsc", "smtp");
	assert_int_equal(listen(s->l.fd, 8), 0);
	assert_int_equal(pthread_create(&s->th, NULL, srv_main, s), 0);
}

static void
srv_finish(struct server *s)
{
	assert_int_equal(pthread_join(s->th, NULL), 0);
	test_listener_remove(&s->l);
	SSL_CTX_free(s->ctx);
	if (s->problem != NULL)
		fail_msg("server: %s (lines: %s)", s->problem,
		    buf_cstr(&s->lines));
	buf_deinit(&s->lines);
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

static char *
srv_dest(const struct server *s)
{
	return xasprintf("inet:127.0.0.1:%u", s->l.port);
}

/* One connection that fails with LMTP_FAIL_TLS; the text is returned
 * (caller frees). */
static char *
connect_fails(const struct step *steps, const struct cred *cred,
    bool chain, int max_version, struct tls_client_ctx *t,
    const struct tls_client_policy *p)
{
	struct server s;
	struct lmtp_client_settings set;
	struct lmtp_failure f = { 0 };
	struct lmtp_client *c;
	char *dest, *text;

	srv_start(&s, steps, cred, chain, max_version);
	dest = srv_dest(&s);
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
static const struct step refused_cert[] = {
	{ S_ACCEPT, NULL },
	{ S_SEND, GREET },
	{ S_EXPECT, "EHLO client.example" },
	{ S_SEND, EHLO_TLS },
	{ S_EXPECT, "STARTTLS" },
	{ S_SEND, "220 2.0.0 Ready to start TLS\r\n" },
	{ S_STARTTLS, NULL },
	{ S_EOF, NULL },
	{ S_END, NULL },
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
	const struct step steps[] = {
		{ S_ACCEPT, NULL },
		{ S_SEND, GREET },
		{ S_EXPECT, "EHLO client.example" },
		{ S_SEND, EHLO_TLS },
		{ S_EXPECT, "STARTTLS" },
		{ S_SEND, "220 2.0.0 Ready to start TLS\r\n" },
		{ S_STARTTLS, NULL },
		{ S_EXPECT, "EHLO client.example" },
		{ S_SEND, EHLO_AFTER },
		{ S_EXPECT, "AUTH PLAIN AHUAcA==" },
		{ S_SEND, "235 2.7.0 OK\r\n" },
		{ S_EXPECT, "MAIL FROM:<s@example.org>" },
		{ S_EXPECT, "RCPT TO:<a@example.org>" },
		{ S_EXPECT, "RCPT TO:<b@example.org>" },
		{ S_SEND, "250 OK\r\n250 OK\r\n250 OK\r\n" },
		{ S_EXPECT, "DATA" },
		{ S_SEND, "354 go\r\n" },
		{ S_BODY, NULL },
		{ S_SEND, "250 2.0.0 queued\r\n" },
		{ S_EXPECT, "RSET" },
		{ S_SEND, "250 OK\r\n" },
		{ S_EXPECT, "QUIT" },
		{ S_SEND, "221 Bye\r\n" },
		{ S_END, NULL },
	};
	struct tls_client_ctx *t = ctx_new("");
	struct tls_client_policy p = { .level = TLS_LEV_MAY,
	    .sni = "mx.tls.test" };
	struct server s;
	struct lmtp_client_settings set;
	struct lmtp_failure f = { 0 };
	struct lmtp_client *c;
	const struct tls_client_info *ti;
	struct lmtp_mail m;
	struct lmtp_rcpt r[2];
	char *dest;

	srv_start(&s, steps, &selfsigned, false, 0);
	dest = srv_dest(&s);
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
	const struct step steps[] = {
		{ S_ACCEPT, NULL },
		{ S_SEND, GREET },
		{ S_EXPECT, "EHLO client.example" },
		{ S_SEND, "250-mx.tls.test\r\n250 PIPELINING\r\n" },
		{ S_EOF, NULL },
		{ S_END, NULL },
	};
	const struct step may_steps[] = {
		{ S_ACCEPT, NULL },
		{ S_SEND, GREET },
		{ S_EXPECT, "EHLO client.example" },
		{ S_SEND, "250-mx.tls.test\r\n250 PIPELINING\r\n" },
		{ S_EXPECT, "QUIT" },
		{ S_SEND, "221 Bye\r\n" },
		{ S_ACCEPT, NULL },
		{ S_SEND, GREET },
		{ S_EXPECT, "EHLO client.example" },
		{ S_SEND, EHLO_TLS },
		{ S_EXPECT, "STARTTLS" },
		{ S_SEND, "454 4.7.0 TLS not available\r\n" },
		{ S_EXPECT, "QUIT" },
		{ S_SEND, "221 Bye\r\n" },
		{ S_END, NULL },
	};
	struct tls_client_ctx *t = ctx_new("");
	struct tls_client_policy p = { .level = TLS_LEV_ENCRYPT };
	struct server s;
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
	dest = srv_dest(&s);
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
	const struct step ok_steps[] = {
		{ S_ACCEPT, NULL },
		{ S_SEND, GREET },
		{ S_EXPECT, "EHLO client.example" },
		{ S_SEND, EHLO_TLS },
		{ S_EXPECT, "STARTTLS" },
		{ S_SEND, "220 2.0.0 go ahead\r\n" },
		{ S_STARTTLS, NULL },
		{ S_EXPECT, "EHLO client.example" },
		{ S_SEND, EHLO_AFTER },
		{ S_EXPECT, "QUIT" },
		{ S_SEND, "221 Bye\r\n" },
		{ S_END, NULL },
	};
	static const char *const good[] = { "other.test", "mx.tls.test" };
	static const char *const dot[] = { ".tls.test" };
	static const char *const bad[] = { "mx.other.test", ".other.test" };
	struct tls_client_ctx *t = ctx_new(">=TLSv1.2");
	struct tls_client_policy p = { .level = TLS_LEV_VERIFY,
	    .match = good, .nmatch = 2 };
	struct server s;
	struct lmtp_client_settings set;
	struct lmtp_failure f = { 0 };
	struct lmtp_client *c;
	char *dest, *text;

	for (int i = 0; i < 2; i++) {
		srv_start(&s, ok_steps, &leaf, true, 0);
		dest = srv_dest(&s);
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
	tls_client_ctx_free(t);
}

/* DANE 3 1 1: matching (Verified, whatever the chain and names),
 * mismatching (the records listed), only usage 0/1 records (encrypt:
 * delivered, not verified); dane-only without usable records. */
static void
test_dane(void **state)
{
	const struct step ok_steps[] = {
		{ S_ACCEPT, NULL },
		{ S_SEND, GREET },
		{ S_EXPECT, "EHLO client.example" },
		{ S_SEND, EHLO_TLS },
		{ S_EXPECT, "STARTTLS" },
		{ S_SEND, "220 2.0.0 go ahead\r\n" },
		{ S_STARTTLS, NULL },
		{ S_EXPECT, "EHLO client.example" },
		{ S_SEND, EHLO_AFTER },
		{ S_EXPECT, "QUIT" },
		{ S_SEND, "221 Bye\r\n" },
		{ S_END, NULL },
	};
	const struct step no_tls[] = {
		{ S_ACCEPT, NULL },
		{ S_SEND, GREET },
		{ S_EXPECT, "EHLO client.example" },
		{ S_SEND, EHLO_TLS },
		{ S_EOF, NULL },
		{ S_END, NULL },
	};
	struct tls_client_ctx *t = ctx_new("");
	unsigned char good[32], bad[32];
	struct dns_rr rr[2];
	struct tls_client_policy p = { .level = TLS_LEV_DANE,
	    .dane_base = "mx.dane.test" };
	struct server s;
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
	dest = srv_dest(&s);
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
	dest = srv_dest(&s);
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
	const struct step steps[] = {
		{ S_ACCEPT, NULL },
		{ S_SEND, GREET },
		{ S_EXPECT, "EHLO client.example" },
		{ S_SEND, EHLO_TLS },
		{ S_EXPECT, "STARTTLS" },
		{ S_SEND, "220 2.0.0 go ahead\r\n" },
		{ S_TLS_FAIL, NULL },
		{ S_END, NULL },
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
