/* SPDX-License-Identifier: MIT */
/*
 * tls_client - client TLS contexts, security levels, DANE and the
 * verdict on the server's certificate; see tls_client.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "buf.h"
#include "dns.h"
#include "log.h"
#include "tls_client.h"
#include "tls_sessions.h"
#include "tls_fprint.h"
#include "tls_policy.h"
#include "xalloc.h"

/* Most names of a certificate listed in a failure text. */
#define TLS_CLIENT_NAMES_SHOWN 8
/* Most TLSA records listed in a failure text. */
#define TLS_CLIENT_TLSA_SHOWN 6
/* Longest failure text. */
#define TLS_CLIENT_TEXT_MAX 2048

struct tls_client_ctx {
	SSL_CTX *ctx;
	struct tls_protocols protos, mprotos;
	char *ciphers, *mciphers;	/* "" = OpenSSL's default */
	int loglevel;
	/* The system's trust store is loaded on the first verify or
	 * secure connection: reading it costs tens of milliseconds, which
	 * every smtp process would pay at start for nothing at the may and
	 * encrypt levels. */
	bool default_paths_pending;
	EVP_MD *fprint_md;		/* fingerprint level's digest */
	struct tls_sessions *sessions;	/* NULL: no session cache */
};

/* What one connection recorded (ex_data of the SSL). */
struct tls_client_conn {
	const struct tls_client_ctx *ctx;
	enum tls_client_level level;	/* effective */
	unsigned proto_mask;		/* versions we allow */
	int alert_received;		/* description, -1 none */
	int alert_sent;
	size_t dane_records;		/* TLSA records OpenSSL took */
	struct tls_sessions *sessions;	/* where a new session goes */
	char *session_key;		/* ... under this key (or NULL) */
};

static int conn_index = -1;

static const char *const level_names[] = {
	[TLS_LEV_NONE] = "none",
	[TLS_LEV_MAY] = "may",
	[TLS_LEV_ENCRYPT] = "encrypt",
	[TLS_LEV_DANE] = "dane",
	[TLS_LEV_DANE_ONLY] = "dane-only",
	[TLS_LEV_FINGERPRINT] = "fingerprint",
	[TLS_LEV_VERIFY] = "verify",
	[TLS_LEV_SECURE] = "secure",
};

int
tls_level_parse(const char *text, enum tls_client_level *lev)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]);
	    i++) {
		if (strcasecmp(text, level_names[i]) == 0) {
			*lev = (enum tls_client_level)i;
			return 0;
		}
	}
	return -1;
}

const char *
tls_level_name(enum tls_client_level lev)
{
	if ((unsigned)lev >= sizeof(level_names) / sizeof(level_names[0]))
		return "?";
	return level_names[lev];
}

/* ---------------------------------------------------------------- */
/* Context                                                          */

static void
conn_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
    void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	if (ptr != NULL)
		free(((struct tls_client_conn *)ptr)->session_key);
	free(ptr);
}

/* on_new_session - OpenSSL has a resumable session for ssl (after the
 * handshake; TLS 1.3 tickets come later): keep it under the
 * connection's key.  1: the cache took the reference. */
static int
on_new_session(SSL *ssl, SSL_SESSION *sess)
{
	struct tls_client_conn *cc = conn_index < 0 ? NULL :
	    SSL_get_ex_data(ssl, conn_index);

	if (cc == NULL || cc->sessions == NULL || cc->session_key == NULL)
		return 0;
	tls_sessions_put(cc->sessions, cc->session_key, sess, time(NULL));
	return 1;
}

static struct tls_client_conn *
conn_get(const SSL *ssl)
{
	return conn_index < 0 ? NULL : SSL_get_ex_data(ssl, conn_index);
}

/* ssl_errors - the OpenSSL error queue as text (emptied). */
static char *
ssl_errors(void)
{
	struct buf b;
	unsigned long e;

	buf_init(&b, 1024);
	while ((e = ERR_get_error()) != 0) {
		char one[256];

		ERR_error_string_n(e, one, sizeof(one));
		(void)buf_appendf(&b, "%s%s", b.len > 0 ? "; " : "", one);
	}
	if (b.len == 0)
		(void)buf_append_str(&b, "no details");
	return buf_steal(&b);
}

static bool
empty(const char *s)
{
	return s == NULL || s[0] == '\0';
}

struct tls_client_ctx *
tls_client_ctx_new(const struct tls_client_config *cfg, char **error_r)
{
	struct tls_client_ctx *t = xcalloc(1, sizeof(*t));
	char err[TLS_POLICY_ERROR_MAX_BYTES];
	char *e;

	*error_r = NULL;
	if (conn_index < 0)
		conn_index = SSL_get_ex_new_index(0, NULL, NULL, NULL,
		    conn_free);
	t->loglevel = cfg->loglevel;
	t->fprint_md = tls_fprint_md(cfg->fingerprint_digest != NULL &&
	    *cfg->fingerprint_digest != '\0' ? cfg->fingerprint_digest :
	    "sha256");
	if (t->fprint_md == NULL) {
		*error_r = xasprintf("smtp_tls_fingerprint_digest: \"%.64s\" "
		    "is not a digest OpenSSL can make fingerprints with (use "
		    "sha256, or sha1, md5, sha512)", cfg->fingerprint_digest);
		goto fail;
	}
	if (!tls_protocols_parse(cfg->protocols, &t->protos, err,
	    sizeof(err))) {
		*error_r = xasprintf("bad TLS protocols setting: %s", err);
		goto fail;
	}
	if (!tls_protocols_parse(cfg->mandatory_protocols, &t->mprotos, err,
	    sizeof(err))) {
		*error_r = xasprintf("bad mandatory TLS protocols setting: %s",
		    err);
		goto fail;
	}
	t->ciphers = xstrdup(cfg->ciphers_list != NULL ?
	    cfg->ciphers_list : "");
	t->mciphers = xstrdup(cfg->mandatory_ciphers_list != NULL ?
	    cfg->mandatory_ciphers_list : "");
	t->ctx = SSL_CTX_new(TLS_client_method());
	if (t->ctx == NULL) {
		e = ssl_errors();
		*error_r = xasprintf("cannot make a TLS client context: %s", e);
		free(e);
		goto fail;
	}
	SSL_CTX_set_options(t->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF |
	    SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(t->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (cfg->session_timeout > 0) {
		/* Our own store (tls_sessions.h), keyed by server and
		 * settings; OpenSSL's internal one is keyed by nothing a
		 * client can use. */
		SSL_CTX_set_session_cache_mode(t->ctx, SSL_SESS_CACHE_CLIENT |
		    SSL_SESS_CACHE_NO_INTERNAL_STORE);
		SSL_CTX_sess_set_new_cb(t->ctx, on_new_session);
		t->sessions = tls_sessions_new(TLS_CLIENT_SESSIONS_MAX,
		    (time_t)cfg->session_timeout);
	} else {
		SSL_CTX_set_session_cache_mode(t->ctx, SSL_SESS_CACHE_OFF);
	}
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_NONE, NULL);
	if ((t->ciphers[0] != '\0' &&
	    SSL_CTX_set_cipher_list(t->ctx, t->ciphers) != 1) ||
	    (t->mciphers[0] != '\0' &&
	    SSL_CTX_set_cipher_list(t->ctx, t->mciphers) != 1)) {
		ERR_clear_error();
		*error_r = xasprintf("OpenSSL refuses the TLS cipher list "
		    "\"%s\"", t->ciphers[0] != '\0' &&
		    SSL_CTX_set_cipher_list(t->ctx, t->ciphers) != 1 ?
		    t->ciphers : t->mciphers);
		ERR_clear_error();
		goto fail;
	}
	if (empty(cfg->CAfile) && empty(cfg->CApath)) {
		t->default_paths_pending = true;
	} else if (SSL_CTX_load_verify_locations(t->ctx,
	    empty(cfg->CAfile) ? NULL : cfg->CAfile,
	    empty(cfg->CApath) ? NULL : cfg->CApath) != 1) {
		e = ssl_errors();
		*error_r = xasprintf("cannot load trusted CA certificates "
		    "from %s%s%s: %s", empty(cfg->CAfile) ? "" : cfg->CAfile,
		    !empty(cfg->CAfile) && !empty(cfg->CApath) ? " and " : "",
		    empty(cfg->CApath) ? "" : cfg->CApath, e);
		free(e);
		goto fail;
	} else if (cfg->append_default_CA) {
		t->default_paths_pending = true;
	}
	if (SSL_CTX_dane_enable(t->ctx) <= 0) {
		e = ssl_errors();
		*error_r = xasprintf("cannot enable DANE: %s", e);
		free(e);
		goto fail;
	}
	if (!empty(cfg->cert_file)) {
		const char *key = empty(cfg->key_file) ? cfg->cert_file :
		    cfg->key_file;

		if (SSL_CTX_use_certificate_chain_file(t->ctx,
		    cfg->cert_file) != 1) {
			e = ssl_errors();
			*error_r = xasprintf("cannot load the TLS client "
			    "certificate %s: %s", cfg->cert_file, e);
			free(e);
			goto fail;
		}
		if (SSL_CTX_use_PrivateKey_file(t->ctx, key,
		    SSL_FILETYPE_PEM) != 1) {
			e = ssl_errors();
			*error_r = xasprintf("cannot load the TLS client key "
			    "%s: %s", key, e);
			free(e);
			goto fail;
		}
		if (SSL_CTX_check_private_key(t->ctx) != 1) {
			ERR_clear_error();
			*error_r = xasprintf("the TLS client key %s does not "
			    "belong to the certificate %s", key,
			    cfg->cert_file);
			goto fail;
		}
	} else if (!empty(cfg->key_file)) {
		*error_r = xasprintf("a TLS client key (%s) without a "
		    "certificate file", cfg->key_file);
		goto fail;
	}
	return t;
fail:
	ERR_clear_error();
	tls_client_ctx_free(t);
	return NULL;
}

void
tls_client_ctx_free(struct tls_client_ctx *t)
{
	if (t == NULL)
		return;
	SSL_CTX_free(t->ctx);
	tls_sessions_free(&t->sessions);
	EVP_MD_free(t->fprint_md);
	free(t->ciphers);
	free(t->mciphers);
	free(t);
}

/* ---------------------------------------------------------------- */
/* Policy                                                           */

static bool
tlsa_usable(const struct dns_rr *rr)
{
	if (rr->type != DNS_T_TLSA || rr->u.tlsa.data == NULL ||
	    rr->u.tlsa.len == 0)
		return false;
	if (rr->u.tlsa.usage != 2 && rr->u.tlsa.usage != 3)
		return false;
	if (rr->u.tlsa.selector > 1)
		return false;
	switch (rr->u.tlsa.mtype) {
	case 0:
		return true;
	case 1:
		return rr->u.tlsa.len == 32;
	case 2:
		return rr->u.tlsa.len == 64;
	}
	return false;
}

size_t
tls_client_usable_tlsa(const struct tls_client_policy *p)
{
	size_t n = 0;

	for (size_t i = 0; p->tlsa != NULL && i < p->ntlsa; i++)
		if (tlsa_usable(&p->tlsa[i]))
			n++;
	return n;
}

enum tls_client_level
tls_client_effective_level(const struct tls_client_policy *p)
{
	if (p == NULL)
		return TLS_LEV_NONE;
	if (p->level == TLS_LEV_DANE) {
		if (p->ntlsa == 0)
			return TLS_LEV_MAY;
		if (tls_client_usable_tlsa(p) == 0)
			return TLS_LEV_ENCRYPT;
	}
	return p->level;
}

static bool
mandatory(enum tls_client_level lev)
{
	return lev == TLS_LEV_ENCRYPT || lev == TLS_LEV_VERIFY ||
	    lev == TLS_LEV_SECURE || lev == TLS_LEV_FINGERPRINT;
}

/* on_info - record the alerts of the handshake. */
static void
on_info(const SSL *ssl, int where, int ret)
{
	struct tls_client_conn *cc;

	if ((where & SSL_CB_ALERT) == 0)
		return;
	cc = conn_get(ssl);
	if (cc == NULL)
		return;
	if ((where & SSL_CB_READ) != 0 && cc->alert_received < 0)
		cc->alert_received = ret & 0xff;
	else if ((where & SSL_CB_WRITE) != 0 && cc->alert_sent < 0)
		cc->alert_sent = ret & 0xff;
}

static BIO *nosig_bio(int fd);

SSL *
tls_client_ssl_new(struct tls_client_ctx *t, const struct tls_client_policy *p,
    int fd, const char *who, char **error_r)
{
	enum tls_client_level lev = tls_client_effective_level(p);
	const struct tls_protocols *pr = mandatory(lev) ? &t->mprotos :
	    &t->protos;
	const char *ciphers = mandatory(lev) ? t->mciphers : t->ciphers;
	struct tls_client_conn *cc;
	SSL *ssl;
	char *e;

	*error_r = NULL;
	if (lev == TLS_LEV_NONE) {
		*error_r = xasprintf("no TLS for %s: the TLS security level "
		    "is none", who);
		return NULL;
	}
	if (lev == TLS_LEV_FINGERPRINT && p->nmatch == 0) {
		*error_r = xasprintf("the TLS security level \"fingerprint\" "
		    "(for %s) has no fingerprints to match (set "
		    "smtp_tls_fingerprint_cert_match, or match= in "
		    "smtp_tls_policy_maps)", who);
		return NULL;
	}
	if (lev == TLS_LEV_DANE_ONLY && tls_client_usable_tlsa(p) == 0) {
		*error_r = xasprintf("no usable TLSA record for %s, which the "
		    "TLS security level dane-only requires (%zu TLSA records, "
		    "none of usage 2 or 3 with a known selector and matching "
		    "type)", who, p->ntlsa);
		return NULL;
	}
	if ((lev == TLS_LEV_DANE || lev == TLS_LEV_DANE_ONLY) &&
	    empty(p->dane_base)) {
		*error_r = xasprintf("DANE for %s needs the TLSA base name",
		    who);
		return NULL;
	}
	if (t->default_paths_pending && (lev == TLS_LEV_VERIFY ||
	    lev == TLS_LEV_SECURE)) {
		if (SSL_CTX_set_default_verify_paths(t->ctx) != 1) {
			e = ssl_errors();
			*error_r = xasprintf("cannot load the system's trusted "
			    "CA certificates (for %s): %s", who, e);
			free(e);
			return NULL;
		}
		t->default_paths_pending = false;
	}
	ssl = SSL_new(t->ctx);
	if (ssl == NULL)
		goto ossl;
	cc = xcalloc(1, sizeof(*cc));
	cc->ctx = t;
	cc->level = lev;
	cc->proto_mask = pr->mask;
	cc->alert_received = -1;
	cc->alert_sent = -1;
	if (SSL_set_ex_data(ssl, conn_index, cc) != 1) {
		free(cc);
		goto ossl;
	}
	/* Resumption only where nothing about the server is verified
	 * (may, encrypt): a resumed session skips the checks of the
	 * handshake that made it, which the levels that authenticate the
	 * server must make every time. */
	if (t->sessions != NULL && !empty(p->session_key) &&
	    (lev == TLS_LEV_MAY || lev == TLS_LEV_ENCRYPT)) {
		SSL_SESSION *sess = tls_sessions_get(t->sessions,
		    p->session_key, time(NULL));

		cc->sessions = t->sessions;
		cc->session_key = xstrdup(p->session_key);
		if (sess != NULL && SSL_set_session(ssl, sess) != 1)
			goto ossl;
	}
	SSL_set_info_callback(ssl, on_info);
	SSL_clear_options(ssl, SSL_OP_NO_SSL_MASK);
	if (pr->ssl_options != 0)
		SSL_set_options(ssl, pr->ssl_options);
	if (SSL_set_min_proto_version(ssl, pr->min_version) != 1 ||
	    SSL_set_max_proto_version(ssl, pr->max_version) != 1)
		goto ossl;
	if (ciphers[0] != '\0' && SSL_set_cipher_list(ssl, ciphers) != 1)
		goto ossl;
	/* SSL_set_tlsext_host_name() without its cast of a const
	 * pointer (OpenSSL copies the name). */
	if (!empty(p->sni) && SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME,
	    TLSEXT_NAMETYPE_host_name, (void *)(uintptr_t)p->sni) != 1)
		goto ossl;
	if (lev == TLS_LEV_DANE || lev == TLS_LEV_DANE_ONLY) {
		if (SSL_dane_enable(ssl, p->dane_base) <= 0)
			goto ossl;
		SSL_dane_set_flags(ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
		for (size_t i = 0; i < p->ntlsa; i++) {
			const struct dns_rr *rr = &p->tlsa[i];

			if (!tlsa_usable(rr))
				continue;
			if (SSL_dane_tlsa_add(ssl, rr->u.tlsa.usage,
			    rr->u.tlsa.selector, rr->u.tlsa.mtype,
			    rr->u.tlsa.data, rr->u.tlsa.len) > 0)
				cc->dane_records++;
			ERR_clear_error();
		}
		if (cc->dane_records == 0) {
			/* All refused by OpenSSL (a full certificate or key
			 * that does not parse): unusable after all. */
			if (lev == TLS_LEV_DANE_ONLY) {
				*error_r = xasprintf("no usable TLSA record "
				    "for %s, which the TLS security level "
				    "dane-only requires", who);
				SSL_free(ssl);
				return NULL;
			}
			cc->level = TLS_LEV_ENCRYPT;
		}
	}
	{
		BIO *bio = nosig_bio(fd);

		if (bio == NULL)
			goto ossl;
		SSL_set_bio(ssl, bio, bio);
	}
	ERR_clear_error();
	return ssl;
ossl:
	e = ssl_errors();
	*error_r = xasprintf("cannot set up TLS for %s: %s", who, e);
	free(e);
	SSL_free(ssl);
	return NULL;
}

/* ---------------------------------------------------------------- */
/* A socket BIO that never raises SIGPIPE                           */

static BIO_METHOD *nosig_method;

static int
nosig_write(BIO *b, const char *data, int len)
{
	int fd = -1;
	ssize_t n;

	BIO_get_fd(b, &fd);
	BIO_clear_retry_flags(b);
	do
		n = send(fd, data, (size_t)len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		BIO_set_retry_write(b);
	return (int)n;
}

static int
nosig_read(BIO *b, char *data, int len)
{
	int fd = -1;
	ssize_t n;

	BIO_get_fd(b, &fd);
	BIO_clear_retry_flags(b);
	do
		n = recv(fd, data, (size_t)len, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		BIO_set_retry_read(b);
	return (int)n;
}

static int
nosig_puts(BIO *b, const char *s)
{
	return nosig_write(b, s, (int)strlen(s));
}

/* nosig_bio - a socket BIO on fd (not closed with the BIO) whose
 * writes use MSG_NOSIGNAL; the rest is OpenSSL's socket BIO. */
static BIO *
nosig_bio(int fd)
{
	BIO *b;

	if (nosig_method == NULL) {
		const BIO_METHOD *sock = BIO_s_socket();
		BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() |
		    BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR,
		    "socket without SIGPIPE");

		if (m == NULL)
			return NULL;
		BIO_meth_set_write(m, nosig_write);
		BIO_meth_set_read(m, nosig_read);
		BIO_meth_set_puts(m, nosig_puts);
		BIO_meth_set_ctrl(m, BIO_meth_get_ctrl(sock));
		BIO_meth_set_create(m, BIO_meth_get_create(sock));
		BIO_meth_set_destroy(m, BIO_meth_get_destroy(sock));
		nosig_method = m;
	}
	b = BIO_new(nosig_method);
	if (b == NULL)
		return NULL;
	BIO_set_fd(b, fd, BIO_NOCLOSE);
	return b;
}

/* ---------------------------------------------------------------- */
/* Handshake                                                        */

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* handshake_reason - plain words for the failed handshake. */
static char *
handshake_reason(SSL *ssl, int sslerr, int err_no)
{
	struct tls_client_conn *cc = conn_get(ssl);
	unsigned long e = ERR_peek_error();
	int reason = ERR_GET_REASON(e);
	char allow[TLS_PROTOCOLS_TEXT_MAX_BYTES];
	int alert = cc != NULL ? cc->alert_received : -1;

	tls_protocols_text(cc != NULL ? cc->proto_mask : 0, allow,
	    sizeof(allow));
	if (alert == SSL_AD_PROTOCOL_VERSION ||
	    reason == SSL_R_UNSUPPORTED_PROTOCOL ||
	    reason == SSL_R_NO_PROTOCOLS_AVAILABLE ||
	    reason == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION ||
	    reason == SSL_R_WRONG_SSL_VERSION)
		return xasprintf("no protocol version in common (we allow %s)",
		    allow);
	if (alert >= 0)
		return xasprintf("the server sent TLS alert \"%s\"%s",
		    SSL_alert_desc_string_long(alert),
		    alert == SSL_AD_HANDSHAKE_FAILURE ? " (perhaps no cipher "
		    "or key exchange in common)" : "");
	if (reason == SSL_R_NO_SHARED_CIPHER ||
	    reason == SSL_R_NO_CIPHERS_AVAILABLE)
		return xstrdup("no cipher in common");
	if (reason == SSL_R_WRONG_VERSION_NUMBER ||
	    reason == SSL_R_PACKET_LENGTH_TOO_LONG ||
	    reason == SSL_R_RECORD_LENGTH_MISMATCH)
		return xstrdup("the server did not answer with TLS");
	if (sslerr == SSL_ERROR_ZERO_RETURN ||
	    reason == SSL_R_UNEXPECTED_EOF_WHILE_READING ||
	    (sslerr == SSL_ERROR_SYSCALL && e == 0 && err_no == 0))
		return xstrdup("the server closed the connection");
	if (sslerr == SSL_ERROR_SYSCALL && e == 0)
		return xasprintf("%s", strerror(err_no));
	if (e != 0 && ERR_reason_error_string(e) != NULL)
		return xasprintf("%s", ERR_reason_error_string(e));
	return xstrdup("the handshake failed for an unknown reason");
}

/* handshake_failed - *why_r for a handshake that failed with reason
 * (taken). */
static void
handshake_failed(SSL *ssl, const char *who, char *reason, char **why_r)
{
	struct tls_client_conn *cc = conn_get(ssl);
	char *raw = NULL;

	if (cc != NULL && cc->ctx->loglevel >= 2)
		raw = ssl_errors();
	ERR_clear_error();
	if (raw != NULL)
		*why_r = xasprintf("TLS handshake with %s failed: %s "
		    "(OpenSSL: %s)", who, reason, raw);
	else
		*why_r = xasprintf("TLS handshake with %s failed: %s", who,
		    reason);
	free(reason);
	free(raw);
}

int
tls_client_handshake_step(SSL *ssl, const char *who, bool *want_write_r,
    char **why_r)
{
	int r, se, e;

	*why_r = NULL;
	ERR_clear_error();
	errno = 0;
	r = SSL_connect(ssl);
	if (r == 1)
		return 1;
	e = errno;
	se = SSL_get_error(ssl, r);
	if (se == SSL_ERROR_WANT_READ || se == SSL_ERROR_WANT_WRITE) {
		*want_write_r = se == SSL_ERROR_WANT_WRITE;
		return 0;
	}
	handshake_failed(ssl, who, handshake_reason(ssl, se, e), why_r);
	return -1;
}

char *
tls_client_handshake_timeout(const char *who, unsigned timeout_ms)
{
	ERR_clear_error();
	if (timeout_ms % 1000 == 0)
		return xasprintf("TLS handshake with %s timed out after %us",
		    who, timeout_ms / 1000);
	return xasprintf("TLS handshake with %s timed out after %u.%03us",
	    who, timeout_ms / 1000, timeout_ms % 1000);
}

int
tls_client_handshake(SSL *ssl, const char *who, unsigned timeout_ms,
    char **why_r)
{
	int64_t deadline = timeout_ms == 0 ? -1 : now_ms() + timeout_ms;
	int fd = SSL_get_fd(ssl);

	*why_r = NULL;
	for (;;) {
		struct pollfd pfd;
		bool want_write = false;
		int r, ms;

		r = tls_client_handshake_step(ssl, who, &want_write, why_r);
		if (r != 0)
			return r > 0 ? 0 : -1;
		pfd.fd = fd;
		pfd.events = want_write ? POLLOUT : POLLIN;
		pfd.revents = 0;
		for (;;) {
			if (deadline < 0)
				ms = -1;
			else {
				int64_t left = deadline - now_ms();

				ms = left < 0 ? 0 : left > INT_MAX ? INT_MAX :
				    (int)left;
			}
			r = poll(&pfd, 1, ms);
			if (r >= 0 || errno != EINTR)
				break;
		}
		if (r == 0) {
			*why_r = tls_client_handshake_timeout(who, timeout_ms);
			return -1;
		}
		if (r < 0) {
			handshake_failed(ssl, who, xasprintf("%s",
			    strerror(errno)), why_r);
			return -1;
		}
	}
}

/* ---------------------------------------------------------------- */
/* Verdict                                                          */

/* name_cn - the escaped common name of a certificate name, or "". */
static void
name_cn(const X509_NAME *n, char *out, size_t outsz)
{
	char raw[256];
	int len;

	out[0] = '\0';
	if (n == NULL)
		return;
	len = X509_NAME_get_text_by_NID((X509_NAME *)(uintptr_t)n,
	    NID_commonName, raw, sizeof(raw));
	if (len <= 0)
		return;
	log_escape(out, outsz, raw, strlen(raw), 200);
}

/* cert_names - what a certificate names: its DNS SANs, or its CN when
 * it has none; escaped, comma-separated, "nothing" when empty. */
static char *
cert_names(X509 *cert)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name,
	    NULL, NULL);
	struct buf b;
	int shown = 0, total = 0;

	buf_init(&b, 4096);
	for (int i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		char esc[300];

		if (g->type != GEN_DNS)
			continue;
		total++;
		if (shown >= TLS_CLIENT_NAMES_SHOWN)
			continue;
		log_escape(esc, sizeof(esc), ASN1_STRING_get0_data(g->d.dNSName),
		    (size_t)ASN1_STRING_length(g->d.dNSName), 255);
		(void)buf_appendf(&b, "%s%s", shown ? ", " : "", esc);
		shown++;
	}
	GENERAL_NAMES_free(gens);
	if (total > shown)
		(void)buf_appendf(&b, " and %d more", total - shown);
	if (total == 0) {
		char cn[256];

		name_cn(X509_get_subject_name(cert), cn, sizeof(cn));
		if (cn[0] != '\0')
			(void)buf_appendf(&b, "CN %s", cn);
	}
	if (b.len == 0)
		(void)buf_append_str(&b, "no name");
	return buf_steal(&b);
}

/* time_text - an ASN1_TIME as "2024-01-31 12:00:00 UTC". */
static void
time_text(const ASN1_TIME *t, char *out, size_t outsz)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
		snprintf(out, outsz, "an unreadable date");
		return;
	}
	strftime(out, outsz, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

/* chain_dates - the first certificate of the chain the server sent
 * that is expired (expired) or not yet valid (!expired): its date and
 * subject CN. */
static bool
chain_dates(SSL *ssl, bool expired, char *date, size_t datesz, char *cn,
    size_t cnsz)
{
	STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);

	for (int i = 0; chain != NULL && i < sk_X509_num(chain); i++) {
		X509 *x = sk_X509_value(chain, i);
		const ASN1_TIME *t = expired ? X509_get0_notAfter(x) :
		    X509_get0_notBefore(x);
		int c = X509_cmp_current_time(t);

		if ((expired && c < 0) || (!expired && c > 0)) {
			time_text(t, date, datesz);
			name_cn(X509_get_subject_name(x), cn, cnsz);
			return true;
		}
	}
	return false;
}

/* chain_why - plain words for a verification error of the chain. */
static char *
chain_why(SSL *ssl, X509 *peer, long vr, const char *who)
{
	char cn[256], issuer[256], date[64], ocn[256];

	name_cn(X509_get_subject_name(peer), cn, sizeof(cn));
	name_cn(X509_get_issuer_name(peer), issuer, sizeof(issuer));
	switch (vr) {
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
		return xasprintf("the certificate of %s is self-signed (CN "
		    "%s), not issued by a trusted authority", who,
		    cn[0] ? cn : "(none)");
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
		return xasprintf("the certificate chain of %s ends in a "
		    "self-signed certificate that we do not trust (issuer of "
		    "CN %s: %s)", who, cn[0] ? cn : "(none)",
		    issuer[0] ? issuer : "(no CN)");
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
		return xasprintf("the certificate of %s (CN %s) was issued "
		    "by an unknown authority (issuer CN %s)", who,
		    cn[0] ? cn : "(none)", issuer[0] ? issuer : "(none)");
	case X509_V_ERR_CERT_HAS_EXPIRED:
		if (chain_dates(ssl, true, date, sizeof(date), ocn,
		    sizeof(ocn)))
			return xasprintf("the certificate of %s expired on "
			    "%s (CN %s)", who, date, ocn[0] ? ocn : "(none)");
		return xasprintf("a certificate in the chain of %s has "
		    "expired", who);
	case X509_V_ERR_CERT_NOT_YET_VALID:
		if (chain_dates(ssl, false, date, sizeof(date), ocn,
		    sizeof(ocn)))
			return xasprintf("the certificate of %s is not valid "
			    "before %s (CN %s)", who, date,
			    ocn[0] ? ocn : "(none)");
		return xasprintf("a certificate in the chain of %s is not "
		    "yet valid", who);
	case X509_V_ERR_HOSTNAME_MISMATCH: {
		char *names = cert_names(peer);
		char *s = xasprintf("the certificate of %s does not match "
		    "its TLSA base name (it names: %s)", who, names);

		free(names);
		return s;
	}
	}
	return xasprintf("the certificate of %s could not be verified: %s",
	    who, X509_verify_cert_error_string(vr));
}

/* spki_sha256 - hex SHA-256 of the certificate's public key (as a
 * "3 1 1" TLSA record has it). */
static void
spki_sha256(X509 *x, char *out, size_t outsz)
{
	unsigned char *der = NULL, md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);

	out[0] = '\0';
	if (len <= 0 || EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(),
	    NULL) != 1) {
		OPENSSL_free(der);
		return;
	}
	OPENSSL_free(der);
	for (unsigned i = 0; i < mdlen && 2 * i + 2 < outsz; i++)
		snprintf(out + 2 * i, outsz - 2 * i, "%02x", md[i]);
}

/* tlsa_list - the TLSA records as "3 1 1 ab12...", comma-separated. */
static char *
tlsa_list(const struct tls_client_policy *p)
{
	struct buf b;
	size_t i;

	buf_init(&b, 4096);
	for (i = 0; i < p->ntlsa && i < TLS_CLIENT_TLSA_SHOWN; i++) {
		const struct dns_rr *rr = &p->tlsa[i];

		(void)buf_appendf(&b, "%s%u %u %u ", i ? ", " : "",
		    rr->u.tlsa.usage, rr->u.tlsa.selector, rr->u.tlsa.mtype);
		for (size_t k = 0; k < rr->u.tlsa.len && k < 32; k++)
			(void)buf_appendf(&b, "%02x", rr->u.tlsa.data[k]);
		if (rr->u.tlsa.len > 32)
			(void)buf_append_str(&b, "...");
		if (!tlsa_usable(rr))
			(void)buf_append_str(&b, " (not usable)");
	}
	if (p->ntlsa > i)
		(void)buf_appendf(&b, " and %zu more", p->ntlsa - i);
	return buf_steal(&b);
}

/* names_match - does cert match one of p's names?  X509_check_host
 * takes a leading '.' as "any subdomain". */
static bool
names_match(X509 *cert, const struct tls_client_policy *p)
{
	for (size_t i = 0; i < p->nmatch; i++) {
		const char *n = p->match[i];

		unsigned char ip[16];

		if (empty(n))
			continue;
		/* An address (an [IP] next hop, inet:IP:port of LMTP) is
		 * matched against the certificate's IP addresses. */
		if (inet_pton(AF_INET, n, ip) == 1 ||
		    inet_pton(AF_INET6, n, ip) == 1) {
			if (X509_check_ip_asc(cert, n, 0) == 1)
				return true;
			continue;
		}
		if (X509_check_host(cert, n, strlen(n),
		    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1)
			return true;
	}
	return false;
}

static char *
match_list(const struct tls_client_policy *p)
{
	struct buf b;

	buf_init(&b, 4096);
	for (size_t i = 0; i < p->nmatch; i++) {
		char esc[300];

		log_escape(esc, sizeof(esc), p->match[i], strlen(p->match[i]),
		    255);
		(void)buf_appendf(&b, "%s%s", i == 0 ? "" :
		    i + 1 == p->nmatch ? " or " : ", ", esc);
	}
	return buf_steal(&b);
}

/*
 * fprint_match - the fingerprint level: does the certificate's
 * fingerprint, or its public key's, equal one of p's match values?
 */
static bool
fprint_match(X509 *peer, const struct tls_client_policy *p,
    const EVP_MD *md)
{
	char cert[TLS_FPRINT_MAX], pkey[TLS_FPRINT_MAX];

	if (md == NULL || !tls_fprint_cert(md, peer, cert, sizeof(cert)) ||
	    !tls_fprint_pkey(md, peer, pkey, sizeof(pkey)))
		return false;
	for (size_t i = 0; i < p->nmatch; i++)
		if (tls_fprint_equal(cert, p->match[i]) ||
		    tls_fprint_equal(pkey, p->match[i]))
			return true;
	return false;
}

/* fprint_why - no fingerprint matched: what the server's are, so that
 * an admin who trusts this certificate can copy one. */
static char *
fprint_why(X509 *peer, const struct tls_client_policy *p, const EVP_MD *md,
    const char *who)
{
	char cert[TLS_FPRINT_MAX], pkey[TLS_FPRINT_MAX];
	const char *name = md != NULL ? EVP_MD_get0_name(md) : "?";

	(void)tls_fprint_cert(md, peer, cert, sizeof(cert));
	(void)tls_fprint_pkey(md, peer, pkey, sizeof(pkey));
	return xasprintf("the certificate of %s matches none of the %zu "
	    "fingerprint%s of its TLS policy (its %s fingerprint is %s, its "
	    "public key's %s)", who, p->nmatch, p->nmatch == 1 ? "" : "s",
	    name, cert, pkey);
}

int
tls_client_check(SSL *ssl, const struct tls_client_policy *p,
    const char *who, struct tls_client_info *info,
    char **why_r)
{
	struct tls_client_conn *cc = conn_get(ssl);
	enum tls_client_level lev = cc != NULL ? cc->level :
	    tls_client_effective_level(p);
	X509 *peer = SSL_get0_peer_certificate(ssl);
	long vr = SSL_get_verify_result(ssl);
	bool dane = (lev == TLS_LEV_DANE || lev == TLS_LEV_DANE_ONLY);
	bool name_ok = false, fprint_ok = false;
	const EVP_MD *md = cc != NULL && cc->ctx != NULL ? cc->ctx->fprint_md :
	    NULL;
	int ret = 0;

	*why_r = NULL;
	memset(info, 0, sizeof(*info));
	info->active = true;
	info->resumed = SSL_session_reused(ssl) == 1;
	info->level = lev;
	snprintf(info->protocol, sizeof(info->protocol), "%s",
	    SSL_get_version(ssl));
	snprintf(info->cipher, sizeof(info->cipher), "%s",
	    SSL_get_cipher_name(ssl));
	info->bits = SSL_get_cipher_bits(ssl, &info->alg_bits);
	if (peer != NULL) {
		name_cn(X509_get_subject_name(peer), info->peer_cn,
		    sizeof(info->peer_cn));
		name_cn(X509_get_issuer_name(peer), info->issuer_cn,
		    sizeof(info->issuer_cn));
	}
	info->dane_matched = dane && SSL_get0_dane_authority(ssl, NULL,
	    NULL) >= 0 && vr == X509_V_OK;
	if (peer != NULL && p != NULL && p->nmatch > 0 &&
	    lev != TLS_LEV_FINGERPRINT)
		name_ok = names_match(peer, p);
	if (peer != NULL && p != NULL && lev == TLS_LEV_FINGERPRINT)
		fprint_ok = fprint_match(peer, p, md);
	if (peer == NULL)
		info->trust = "Anonymous";
	else if (info->dane_matched || fprint_ok ||
	    (vr == X509_V_OK && name_ok))
		info->trust = "Verified";
	else if (vr == X509_V_OK && !dane)
		info->trust = "Trusted";
	else
		info->trust = "Untrusted";

	switch (lev) {
	case TLS_LEV_NONE:
	case TLS_LEV_MAY:
	case TLS_LEV_ENCRYPT:
		break;
	case TLS_LEV_DANE:
	case TLS_LEV_DANE_ONLY:
		if (info->dane_matched)
			break;
		ret = -1;
		if (peer == NULL)
			*why_r = xasprintf("%s presented no certificate, which "
			    "DANE requires", who);
		else if (vr == X509_V_ERR_DANE_NO_MATCH) {
			char key[2 * EVP_MAX_MD_SIZE + 1];
			char *l = tlsa_list(p);

			spki_sha256(peer, key, sizeof(key));
			*why_r = xasprintf("no TLSA record of %s matched its "
			    "certificate (TLSA records: %s; the certificate's "
			    "public key has SHA-256 %s, CN %s)", who, l, key,
			    info->peer_cn[0] ? info->peer_cn : "(none)");
			free(l);
		} else
			*why_r = chain_why(ssl, peer, vr, who);
		break;
	case TLS_LEV_VERIFY:
	case TLS_LEV_SECURE:
		ret = -1;
		if (peer == NULL)
			*why_r = xasprintf("%s presented no certificate, which "
			    "the TLS security level %s requires", who,
			    tls_level_name(lev));
		else if (vr != X509_V_OK)
			*why_r = chain_why(ssl, peer, vr, who);
		else if (p == NULL || p->nmatch == 0)
			*why_r = xasprintf("no names to match the certificate "
			    "of %s against (TLS security level %s)", who,
			    tls_level_name(lev));
		else if (!name_ok) {
			char *names = cert_names(peer);
			char *want = match_list(p);

			*why_r = xasprintf("the certificate of %s does not "
			    "match %s (it names: %s)", who, want, names);
			free(names);
			free(want);
		} else
			ret = 0;
		break;
	case TLS_LEV_FINGERPRINT:
		if (fprint_ok)
			break;
		ret = -1;
		if (peer == NULL)
			*why_r = xasprintf("%s presented no certificate, which "
			    "the TLS security level fingerprint requires", who);
		else
			*why_r = fprint_why(peer, p, md, who);
		break;
	}
	if (*why_r != NULL && strlen(*why_r) > TLS_CLIENT_TEXT_MAX) {
		(*why_r)[TLS_CLIENT_TEXT_MAX - 3] = '.';
		(*why_r)[TLS_CLIENT_TEXT_MAX - 2] = '.';
		(*why_r)[TLS_CLIENT_TEXT_MAX - 1] = '.';
		(*why_r)[TLS_CLIENT_TEXT_MAX] = '\0';
	}
	ERR_clear_error();
	return ret;
}
