/* SPDX-License-Identifier: MIT */
/*
 * tls_server - server TLS contexts, SNI, tickets and handshake facts;
 * see tls_server.h.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/stat.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "buf.h"
#include "config.h"
#include "file_read.h"
#include "log.h"
#include "strv.h"
#include "tls_ccert.h"
#include "tls_cert.h"
#include "tls_policy.h"
#include "tls_server.h"
#include "tls_sni.h"
#include "xalloc.h"

/* Certificates of one context (RSA, ECDSA, chain files). */
#define TLS_SLOTS_MAX 8

struct cert_slot {
	X509 *leaf;			/* reference held */
	char label[64];			/* "smtpd_tls_cert_file" ... */
	char trouble[768];		/* why a verifying client may refuse */
};

struct cert_set {
	SSL_CTX *ctx;
	char *sni_name;			/* NULL for the default set */
	struct cert_slot slots[TLS_SLOTS_MAX];
	size_t nslots;
};

struct ticket_key {
	unsigned char name[TLS_TICKET_NAME_BYTES];
	unsigned char aes[TLS_TICKET_AES_BYTES];
	unsigned char hmac[TLS_TICKET_HMAC_BYTES];
	bool set;
};

struct tls_server {
	enum tls_level level;
	bool wrapper;
	int loglevel;
	bool tickets;
	bool id_cache;		/* smtpd_tls_session_cache_database set:
				 * session IDs resume too (this process's
				 * memory) */
	long timeout;
	struct tls_protocols protocols;
	struct cert_set *sets;		/* [0] is the default */
	size_t nsets;
	struct ticket_key keys[2];	/* [0] current, [1] previous */
	EVP_CIPHER *ticket_cipher;	/* fetched once, not per ticket */
	bool ask_ccert;			/* a client certificate is asked for */
	bool req_ccert;			/* ... and a verified one required */
	bool have_ca;			/* CAfile or CApath to verify with */
	EVP_MD *fprint_md;		/* smtpd_tls_fingerprint_digest */
	/* Session ID context: sessions resume only where the client
	 * certificate would be asked and verified the same way. */
	unsigned char sid_ctx[SSL_MAX_SID_CTX_LENGTH];
};

static int conn_index = -1;

/* In tls_conn.offered_mask: only the highest version is known. */
#define TLS_OFFER_UP_TO 0x80000000u

/* ---------------------------------------------------------------- */
/* Per-connection facts                                             */

static void
conn_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
    void *argp)
{
	free(ptr);
}

struct tls_conn *
tls_conn_get(SSL *ssl)
{
	return conn_index < 0 ? NULL : SSL_get_ex_data(ssl, conn_index);
}

static bool
is_grease(unsigned v)
{
	return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

/* hello_versions - the versions a ClientHello offers, as mask bits. */
static unsigned
hello_versions(SSL *ssl)
{
	const unsigned char *ext;
	size_t len;
	unsigned mask = 0;

	if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_supported_versions,
	    &ext, &len) == 1 && len >= 1) {
		size_t n = ext[0];

		for (size_t i = 1; i + 1 < len && i + 1 <= n; i += 2) {
			unsigned v = (unsigned)ext[i] << 8 | ext[i + 1];

			if (!is_grease(v))
				mask |= tls_version_bit((int)v);
		}
		return mask;
	}
	/* No extension: the highest version it can do is legacy_version;
	 * which lower ones it accepts is not said. */
	mask = tls_version_bit((int)SSL_client_hello_get0_legacy_version(ssl));
	return mask | TLS_OFFER_UP_TO;
}

static void
hello_sni(SSL *ssl, char *out, size_t outsz)
{
	const unsigned char *ext;
	size_t len, n;

	out[0] = '\0';
	if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &ext,
	    &len) != 1 || len < 5 || ext[2] != TLSEXT_NAMETYPE_host_name)
		return;
	n = (size_t)ext[3] << 8 | ext[4];
	if (n > len - 5)
		return;
	log_escape(out, outsz, (const char *)ext + 5, n, 253);
}

static void
hello_ciphers(SSL *ssl, char *out, size_t outsz)
{
	const unsigned char *p;
	size_t len = SSL_client_hello_get0_ciphers(ssl, &p), shown = 0;
	struct buf b;

	buf_init(&b, outsz - 1);
	for (size_t i = 0; i + 1 < len; i += 2) {
		unsigned id = (unsigned)p[i] << 8 | p[i + 1];
		const SSL_CIPHER *c;

		if (is_grease(id) || id == 0x00ff || id == 0x5600)
			continue;
		if (shown == TLS_CONN_CIPHERS_SHOWN) {
			(void)buf_appendf(&b, " (%zu in all)", len / 2);
			break;
		}
		c = SSL_CIPHER_find(ssl, p + i);
		if (c != NULL)
			(void)buf_appendf(&b, "%s%s", shown ? " " : "",
			    SSL_CIPHER_get_name(c));
		else
			(void)buf_appendf(&b, "%s0x%04x", shown ? " " : "", id);
		shown++;
	}
	snprintf(out, outsz, "%s", buf_cstr(&b));
	buf_deinit(&b);
}

/*
 * on_client_hello - record what the client offers, and pick the
 * certificate set for its SNI name.
 */
static int
on_client_hello(SSL *ssl, int *alert, void *arg)
{
	struct tls_server *t = arg;
	struct tls_conn *c = tls_conn_get(ssl);

	if (c == NULL)
		return SSL_CLIENT_HELLO_SUCCESS;
	c->hello_seen = true;
	c->offered_mask = hello_versions(ssl);
	hello_sni(ssl, c->sni, sizeof(c->sni));
	hello_ciphers(ssl, c->ciphers, sizeof(c->ciphers));
	if (c->sni[0] != '\0' && t->nsets > 1) {
		for (size_t i = 1; i < t->nsets; i++) {
			if (tls_sni_name_matches(t->sets[i].sni_name, c->sni)) {
				SSL_set_SSL_CTX(ssl, t->sets[i].ctx);
				c->ctx_index = (int)i;
				break;
			}
		}
	}
	return SSL_CLIENT_HELLO_SUCCESS;
}

static void
on_info(const SSL *ssl, int where, int ret)
{
	struct tls_conn *c = tls_conn_get((SSL *)(uintptr_t)ssl);

	if (c == NULL)
		return;
	{
		struct tls_server *t = SSL_CTX_get_app_data(
		    SSL_get_SSL_CTX(ssl));

		/* smtpd_tls_loglevel 3 and up: the handshake step by step. */
		if (t != NULL && t->loglevel >= 3) {
			if (where & SSL_CB_LOOP)
				log_info("TLS handshake: %s",
				    SSL_state_string_long(ssl));
			else if (where & SSL_CB_ALERT)
				log_info("TLS alert %s: %s %s",
				    (where & SSL_CB_READ) ? "received" : "sent",
				    SSL_alert_type_string_long(ret),
				    SSL_alert_desc_string_long(ret));
		}
	}
	if (where & SSL_CB_READ_ALERT) {
		c->alert_received = ret & 0xff;
		c->alert_fatal = (ret >> 8) == SSL3_AL_FATAL;
	}
	if (where & SSL_CB_ACCEPT_LOOP) {
		switch (SSL_get_state(ssl)) {
		case TLS_ST_SW_CERT:
		case TLS_ST_SW_KEY_EXCH:
		case TLS_ST_SW_SRVR_DONE:
		case TLS_ST_SW_CERT_VRFY:
		case TLS_ST_SW_FINISHED:
			c->server_flight_sent = true;
			break;
		default:
			break;
		}
	}
}

/*
 * on_verify - note the first verification error of a client
 * certificate and go on: the handshake never fails for it.  Whether an
 * unverified certificate may do anything is for smtpd_tls_req_ccert and
 * the restrictions to say, with a reason in the log.
 */
static int
on_verify(int ok, X509_STORE_CTX *xs)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs,
	    SSL_get_ex_data_X509_STORE_CTX_idx());
	struct tls_conn *c = ssl != NULL ? tls_conn_get(ssl) : NULL;

	if (!ok && c != NULL && c->verify_err == X509_V_OK)
		c->verify_err = X509_STORE_CTX_get_error(xs);
	return 1;
}

/* ---------------------------------------------------------------- */
/* Tickets                                                          */

static int
on_ticket_key(SSL *ssl, unsigned char name[16], unsigned char *iv,
    EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	struct tls_server *t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	const struct ticket_key *k = NULL;
	OSSL_PARAM params[2];
	int ret = 1;

	if (t == NULL)
		return 0;
	if (enc) {
		k = &t->keys[0];
		if (!k->set)
			return 0;	/* no key yet: no ticket */
		if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(t->ticket_cipher)) <= 0)
			return -1;
		memcpy(name, k->name, TLS_TICKET_NAME_BYTES);
		if (EVP_EncryptInit_ex(cctx, t->ticket_cipher, NULL, k->aes,
		    iv) != 1)
			return -1;
	} else {
		for (size_t i = 0; i < 2; i++) {
			if (t->keys[i].set && memcmp(name, t->keys[i].name,
			    TLS_TICKET_NAME_BYTES) == 0) {
				k = &t->keys[i];
				ret = i == 0 ? 1 : 2;	/* 2: renew the ticket */
				break;
			}
		}
		if (k == NULL)
			return 0;	/* unknown key: full handshake */
		if (EVP_DecryptInit_ex(cctx, t->ticket_cipher, NULL, k->aes,
		    iv) != 1)
			return -1;
	}
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    UNCONST("SHA256"), 0);
	params[1] = OSSL_PARAM_construct_end();
	if (EVP_MAC_CTX_set_params(hctx, params) != 1 ||
	    EVP_MAC_init(hctx, k->hmac, TLS_TICKET_HMAC_BYTES, NULL) != 1)
		return -1;
	return ret;
}

void
tls_server_add_ticket_key(struct tls_server *t, const unsigned char *key)
{
	if (t->keys[0].set && memcmp(t->keys[0].name, key,
	    TLS_TICKET_NAME_BYTES) == 0)
		return;
	t->keys[1] = t->keys[0];
	memcpy(t->keys[0].name, key, TLS_TICKET_NAME_BYTES);
	memcpy(t->keys[0].aes, key + TLS_TICKET_NAME_BYTES, TLS_TICKET_AES_BYTES);
	memcpy(t->keys[0].hmac, key + TLS_TICKET_NAME_BYTES +
	    TLS_TICKET_AES_BYTES, TLS_TICKET_HMAC_BYTES);
	t->keys[0].set = true;
	log_debug(1, "TLS session ticket key rotated");
}

/* ---------------------------------------------------------------- */
/* Contexts                                                         */

static void
openssl_reason(char *out, size_t outsz)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

	snprintf(out, outsz, "%s", r != NULL ? r : "unknown error");
	ERR_clear_error();
}

/* note_slot - remember a certificate the context serves, and what a
 * verifying client may find wrong with it. */
static void
note_slot(struct cert_set *set, const char *label, const char *cafile)
{
	X509 *leaf = SSL_CTX_get0_certificate(set->ctx);
	STACK_OF(X509) *chain = NULL;
	struct cert_slot *sl;
	struct tls_cert_facts f;
	char err[256];

	if (leaf == NULL || set->nslots == TLS_SLOTS_MAX)
		return;
	for (size_t i = 0; i < set->nslots; i++)
		if (X509_cmp(set->slots[i].leaf, leaf) == 0)
			return;
	(void)SSL_CTX_get0_chain_certs(set->ctx, &chain);
	sl = &set->slots[set->nslots++];
	X509_up_ref(leaf);
	sl->leaf = leaf;
	snprintf(sl->label, sizeof(sl->label), "%s", label);
	sl->trouble[0] = '\0';
	if (tls_cert_facts_get(leaf, chain, cafile != NULL && *cafile ? cafile :
	    NULL, time(NULL), &f, err, sizeof(err)))
		(void)tls_cert_trouble(&f, sl->trouble, sizeof(sl->trouble));
}

/* load_pair - a certificate file (leaf, then its chain) and its key. */
static bool
load_pair(struct cert_set *set, const char *label, const char *cert,
    const char *key, const char *cafile, char *err, size_t errsz)
{
	char why[256];

	if (SSL_CTX_use_certificate_chain_file(set->ctx, cert) != 1) {
		int r = ERR_GET_REASON(ERR_peek_last_error());

		if (r == SSL_R_EE_KEY_TOO_SMALL || r == SSL_R_CA_KEY_TOO_SMALL ||
		    r == SSL_R_CA_MD_TOO_WEAK) {
			ERR_clear_error();
			snprintf(err, errsz, "%s = %s: OpenSSL refuses this "
			    "certificate at its security level: %s (RSA keys "
			    "need 2048 bits or more, signatures SHA-256 or "
			    "better): make a new certificate", label, cert,
			    r == SSL_R_CA_MD_TOO_WEAK ? "it is signed with a "
			    "weak digest (MD5 or SHA-1)" : "its key is too "
			    "small");
			return false;
		}
		openssl_reason(why, sizeof(why));
		snprintf(err, errsz, "%s = %s: cannot use the certificate "
		    "file: %s (%s)", label, cert, errno != 0 ? strerror(errno) :
		    "not a PEM certificate", why);
		return false;
	}
	if (SSL_CTX_use_PrivateKey_file(set->ctx, key, SSL_FILETYPE_PEM) != 1) {
		if (ERR_GET_REASON(ERR_peek_last_error()) ==
		    X509_R_KEY_VALUES_MISMATCH) {
			ERR_clear_error();
			snprintf(err, errsz, "the private key in %s does not "
			    "match the certificate in %s", key, cert);
			return false;
		}
		openssl_reason(why, sizeof(why));
		snprintf(err, errsz, "the private key file %s (for %s) cannot "
		    "be used: %s", key, cert, why);
		return false;
	}
	if (SSL_CTX_check_private_key(set->ctx) != 1) {
		ERR_clear_error();
		snprintf(err, errsz, "the private key in %s does not match the "
		    "certificate in %s", key, cert);
		return false;
	}
	note_slot(set, label, cafile);
	return true;
}

/*
 * load_chain_file - smtpd_tls_chain_files: each file holds one or more
 * groups of a private key followed by its certificate and chain.
 */
static bool
load_chain_file(struct cert_set *set, const char *path, const char *cafile,
    char *err, size_t errsz)
{
	BIO *bio = BIO_new_file(path, "r");
	STACK_OF(X509_INFO) *infos;
	EVP_PKEY *key = NULL;
	X509 *leaf = NULL;
	STACK_OF(X509) *chain = NULL;
	bool ok = true;
	int groups = 0;

	if (bio == NULL) {
		snprintf(err, errsz, "smtpd_tls_chain_files: cannot open %s: "
		    "%s", path, strerror(errno));
		ERR_clear_error();
		return false;
	}
	infos = PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (infos == NULL) {
		char why[256];

		openssl_reason(why, sizeof(why));
		snprintf(err, errsz, "smtpd_tls_chain_files: %s is not a PEM "
		    "file of keys and certificates: %s", path, why);
		return false;
	}
	for (int i = 0; ok && i <= sk_X509_INFO_num(infos); i++) {
		X509_INFO *in = i < sk_X509_INFO_num(infos) ?
		    sk_X509_INFO_value(infos, i) : NULL;

		/* A new key, or the end, closes the group before it. */
		if ((in == NULL || in->x_pkey != NULL) && key != NULL) {
			if (leaf == NULL) {
				snprintf(err, errsz, "smtpd_tls_chain_files: %s: "
				    "a private key without a certificate after "
				    "it", path);
				ok = false;
				break;
			}
			if (SSL_CTX_use_cert_and_key(set->ctx, leaf, key, chain,
			    1) != 1) {
				ERR_clear_error();
				snprintf(err, errsz, "smtpd_tls_chain_files: %s: "
				    "the private key does not match the "
				    "certificate after it (%s)", path,
				    "keys come before their certificate");
				ok = false;
				break;
			}
			groups++;
			note_slot(set, "smtpd_tls_chain_files", cafile);
			key = NULL;
			leaf = NULL;
			sk_X509_pop_free(chain, X509_free);
			chain = NULL;
		}
		if (in == NULL)
			break;
		if (in->x_pkey != NULL)
			key = in->x_pkey->dec_pkey;
		if (in->x509 != NULL) {
			if (key == NULL) {
				snprintf(err, errsz, "smtpd_tls_chain_files: %s: "
				    "a certificate comes before its private key "
				    "(Postfix's order: key, certificate, chain)",
				    path);
				ok = false;
			} else if (leaf == NULL) {
				leaf = in->x509;
			} else {
				if (chain == NULL)
					chain = sk_X509_new_null();
				X509_up_ref(in->x509);
				sk_X509_push(chain, in->x509);
			}
		}
	}
	sk_X509_pop_free(chain, X509_free);
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	if (ok && groups == 0) {
		snprintf(err, errsz, "smtpd_tls_chain_files: %s holds no "
		    "private key and certificate", path);
		ok = false;
	}
	return ok;
}

/* load_dh - smtpd_tls_dh1024_param_file, or OpenSSL's built-in
 * groups sized to the certificate when it is empty. */
static bool
load_dh(SSL_CTX *ctx, const char *path, char *err, size_t errsz)
{
	BIO *bio;
	EVP_PKEY *dh;

	if (*path == '\0') {
		SSL_CTX_set_dh_auto(ctx, 1);
		return true;
	}
	bio = BIO_new_file(path, "r");
	if (bio == NULL) {
		snprintf(err, errsz, "smtpd_tls_dh1024_param_file = %s: cannot "
		    "open: %s", path, strerror(errno));
		ERR_clear_error();
		return false;
	}
	dh = PEM_read_bio_Parameters(bio, NULL);
	BIO_free(bio);
	if (dh == NULL || SSL_CTX_set0_tmp_dh_pkey(ctx, dh) != 1) {
		char why[256];

		EVP_PKEY_free(dh);
		openssl_reason(why, sizeof(why));
		snprintf(err, errsz, "smtpd_tls_dh1024_param_file = %s: not "
		    "usable Diffie-Hellman parameters (PEM \"DH PARAMETERS\", "
		    "e.g. from `openssl dhparam 2048`): %s", path, why);
		return false;
	}
	return true;
}

/* A hashed CA file name of `openssl rehash`: 8 hex digits, '.', N. */
static bool
hashed_name(const char *n)
{
	size_t i;

	for (i = 0; i < 8; i++)
		if (!isxdigit((unsigned char)n[i]) || isupper((unsigned char)n[i]))
			return false;
	if (n[8] != '.' || n[9] == '\0')
		return false;
	for (i = 9; n[i] != '\0'; i++)
		if (!isdigit((unsigned char)n[i]))
			return false;
	return true;
}

/*
 * load_capath - the CA certificates of smtpd_tls_CApath, read now (as
 * root, before privileges are dropped) rather than looked up at each
 * verification: smtpd, as mail_owner, may not be able to read the
 * directory then.  The names `openssl rehash` makes are what OpenSSL's
 * own lookup would use; CRLs (NNNNNNNN.rN) are not read.
 */
static bool
load_capath(SSL_CTX *ctx, const char *dir, char *err, size_t errsz)
{
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	DIR *d = opendir(dir);
	struct dirent *de;
	unsigned loaded = 0;

	if (d == NULL) {
		snprintf(err, errsz, "smtpd_tls_CApath = %s: %s", dir,
		    strerror(errno));
		return false;
	}
	while ((de = readdir(d)) != NULL) {
		char path[4096];

		if (!hashed_name(de->d_name))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >=
		    (int)sizeof(path))
			continue;
		if (X509_STORE_load_file(store, path) == 1)
			loaded++;
		else
			log_warning("smtpd_tls_CApath: %s holds no PEM "
			    "certificate OpenSSL can use; ignored", path);
		ERR_clear_error();
	}
	closedir(d);
	if (loaded == 0) {
		snprintf(err, errsz, "smtpd_tls_CApath = %s: no CA certificate "
		    "under a hashed name (run `openssl rehash %s`)", dir, dir);
		return false;
	}
	return true;
}

static SSL_CTX *
new_ctx(struct tls_server *t, const struct config_view *v, bool mandatory,
    char *err, size_t errsz)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	const char *grade = config_str(v, mandatory ?
	    P_smtpd_tls_mandatory_ciphers : P_smtpd_tls_ciphers);
	const char *gparam = tls_grade_param(grade);
	char *glist = gparam != NULL ? config_expand_name(v, gparam) : NULL;
	char **excl = config_list(v, P_smtpd_tls_exclude_ciphers);
	char *clist = NULL;
	char **opts;
	uint64_t sslopt = SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION;

	if (ctx == NULL) {
		snprintf(err, errsz, "cannot create a TLS context");
		goto fail;
	}
	if (mandatory) {
		char **more = config_list(v,
		    P_smtpd_tls_mandatory_exclude_ciphers);
		struct strv all;

		strv_init(&all);
		for (size_t i = 0; excl[i] != NULL; i++)
			strv_add(&all, excl[i]);
		for (size_t i = 0; more[i] != NULL; i++)
			strv_add(&all, more[i]);
		strv_free(&more);
		strv_free(&excl);
		excl = strv_steal(&all);
	}
	if (glist == NULL) {
		snprintf(err, errsz, "%s: unknown cipher grade \"%s\"",
		    mandatory ? "smtpd_tls_mandatory_ciphers" :
		    "smtpd_tls_ciphers", grade);
		goto fail;
	}
	clist = tls_cipher_list(glist, excl, err, errsz);
	if (clist == NULL)
		goto fail;
	if (SSL_CTX_set_cipher_list(ctx, clist) != 1) {
		snprintf(err, errsz, "the cipher list \"%s\" selects no cipher",
		    clist);
		goto fail;
	}
	if (!tls_protocols_apply(ctx, &t->protocols, err, errsz))
		goto fail;
	opts = config_list(v, P_tls_ssl_options);
	for (size_t i = 0; opts[i] != NULL; i++) {
		if (strcasecmp(opts[i], "NO_TICKET") == 0)
			t->tickets = false;
		else if (strcasecmp(opts[i], "NO_COMPRESSION") == 0)
			;
		else if (strcasecmp(opts[i], "ENABLE_MIDDLEBOX_COMPAT") == 0)
			sslopt |= SSL_OP_ENABLE_MIDDLEBOX_COMPAT;
		else if (strcasecmp(opts[i], "PRIORITIZE_CHACHA") == 0)
			sslopt |= SSL_OP_PRIORITIZE_CHACHA;
		else if (strcasecmp(opts[i], "NO_RENEGOTIATION") == 0)
			;
		else if (strcasecmp(opts[i], "0x0") != 0)
			log_warning("tls_ssl_options: \"%s\" is not known to "
			    "Ostia and is ignored (known: NO_TICKET, "
			    "NO_COMPRESSION, ENABLE_MIDDLEBOX_COMPAT, "
			    "PRIORITIZE_CHACHA, NO_RENEGOTIATION)", opts[i]);
	}
	strv_free(&opts);
	if (config_bool(v, P_tls_preempt_cipherlist))
		sslopt |= SSL_OP_CIPHER_SERVER_PREFERENCE;
	if (!t->tickets)
		sslopt |= SSL_OP_NO_TICKET;
	else
		sslopt &= ~(uint64_t)SSL_OP_NO_TICKET;
	SSL_CTX_set_options(ctx, sslopt);
	/* Fewer bytes per idle session: thousands may be open. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	{
		char **curves = config_list(v, P_tls_eecdh_auto_curves);
		struct buf b;

		buf_init(&b, 1024);
		for (size_t i = 0; curves[i] != NULL; i++)
			(void)buf_appendf(&b, "%s%s", i ? ":" : "", curves[i]);
		/* SSL_CTX_set1_groups_list() without its cast of a const
		 * pointer (OpenSSL parses the list, keeps nothing of it). */
		if (b.len > 0 && SSL_CTX_ctrl(ctx, SSL_CTRL_SET_GROUPS_LIST, 0,
		    (void *)(uintptr_t)buf_cstr(&b)) != 1) {
			ERR_clear_error();
			log_warning("tls_eecdh_auto_curves: OpenSSL refuses "
			    "\"%s\"; using its default curves", buf_cstr(&b));
		}
		buf_deinit(&b);
		strv_free(&curves);
	}
	if (!load_dh(ctx, config_str(v, P_smtpd_tls_dh1024_param_file), err,
	    errsz))
		goto fail;
	{
		const char *cafile = config_str(v, P_smtpd_tls_CAfile);
		const char *capath = config_str(v, P_smtpd_tls_CApath);

		/* Postfix: CAfile also completes our chain when the
		 * certificate file holds the leaf only. */
		if (*cafile != '\0' && SSL_CTX_load_verify_locations(ctx,
		    cafile, NULL) != 1) {
			char why[256];

			openssl_reason(why, sizeof(why));
			snprintf(err, errsz, "smtpd_tls_CAfile = %s: cannot be "
			    "read as PEM certificates: %s", cafile, why);
			goto fail;
		}
		if (*capath != '\0' && !load_capath(ctx, capath, err, errsz))
			goto fail;
		if (t->ask_ccert) {
			SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, on_verify);
			SSL_CTX_set_verify_depth(ctx, (int)config_int(v,
			    P_smtpd_tls_ccert_verifydepth));
			/* The CA names in the certificate request: clients
			 * with several certificates pick one of these. */
			if (*cafile != '\0') {
				STACK_OF(X509_NAME) *names =
				    SSL_load_client_CA_file(cafile);

				if (names != NULL)
					SSL_CTX_set_client_CA_list(ctx, names);
				ERR_clear_error();
			}
		}
	}
	if (SSL_CTX_set_session_id_context(ctx, t->sid_ctx,
	    sizeof(t->sid_ctx)) != 1) {
		snprintf(err, errsz, "cannot set the TLS session ID context");
		goto fail;
	}
	if (t->id_cache) {
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
		SSL_CTX_sess_set_cache_size(ctx, TLS_SERVER_SESSIONS_MAX);
	} else {
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	}
	SSL_CTX_set_timeout(ctx, t->timeout > 0 ? t->timeout : 1);
	if (t->tickets) {
		SSL_CTX_set_num_tickets(ctx, 1);
		SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, on_ticket_key);
	} else {
		SSL_CTX_set_num_tickets(ctx, 0);
	}
	SSL_CTX_set_app_data(ctx, t);
	SSL_CTX_set_client_hello_cb(ctx, on_client_hello, t);
	SSL_CTX_set_info_callback(ctx, on_info);
	free(glist);
	free(clist);
	strv_free(&excl);
	return ctx;
fail:
	ERR_clear_error();
	free(glist);
	free(clist);
	strv_free(&excl);
	SSL_CTX_free(ctx);
	return NULL;
}

static void
set_free(struct cert_set *set)
{
	for (size_t i = 0; i < set->nslots; i++)
		X509_free(set->slots[i].leaf);
	SSL_CTX_free(set->ctx);
	free(set->sni_name);
}

/* load_default_certs - the service's own certificates. */
static bool
load_default_certs(struct cert_set *set, const struct config_view *v,
    const char *cafile, char *err, size_t errsz)
{
	char **chains = config_list(v, P_smtpd_tls_chain_files);
	const char *cert = config_str(v, P_smtpd_tls_cert_file);
	const char *key = config_str(v, P_smtpd_tls_key_file);
	const char *eccert = config_str(v, P_smtpd_tls_eccert_file);
	const char *eckey = config_str(v, P_smtpd_tls_eckey_file);
	bool ok = true;

	if (chains[0] != NULL) {
		/* Postfix: chain files take precedence over the others. */
		for (size_t i = 0; ok && chains[i] != NULL; i++)
			ok = load_chain_file(set, chains[i], cafile, err, errsz);
	} else {
		if (ok && *cert != '\0')
			ok = load_pair(set, "smtpd_tls_cert_file", cert,
			    *key ? key : cert, cafile, err, errsz);
		if (ok && *eccert != '\0')
			ok = load_pair(set, "smtpd_tls_eccert_file", eccert,
			    *eckey ? eckey : eccert, cafile, err, errsz);
	}
	strv_free(&chains);
	if (ok && set->nslots == 0) {
		snprintf(err, errsz, "TLS is on (smtpd_tls_security_level or "
		    "smtpd_tls_wrappermode) but no certificate is configured: "
		    "set smtpd_tls_cert_file and smtpd_tls_key_file, or "
		    "smtpd_tls_chain_files");
		ok = false;
	}
	return ok;
}

static enum tls_level
level_of(const struct config_view *v)
{
	const char *origin = NULL;
	const char *lvl = config_str(v, P_smtpd_tls_security_level);

	/* Postfix: the legacy booleans count only when the level is not
	 * set anywhere (main.cf or -o). */
	(void)config_raw(v, "smtpd_tls_security_level", &origin);
	if (origin == NULL || strcmp(origin, "default") == 0) {
		if (config_bool(v, P_smtpd_enforce_tls))
			return TLS_LEVEL_ENCRYPT;
		if (config_bool(v, P_smtpd_use_tls))
			return TLS_LEVEL_MAY;
	}
	if (strcasecmp(lvl, "encrypt") == 0)
		return TLS_LEVEL_ENCRYPT;
	if (strcasecmp(lvl, "may") == 0)
		return TLS_LEVEL_MAY;
	return TLS_LEVEL_NONE;
}

/* Largest smtpd_tls_CAfile read for the session ID context. */
#define TLS_CAFILE_MAX (16 * 1024 * 1024)

/*
 * ccert_setup - the client certificate settings of t: whether one is
 * asked for and required, the fingerprint digest, and the session ID
 * context.  A session made where certificates were asked and verified
 * differently (another service's CAfile, or its contents, or depth)
 * never resumes here: its verdict was not ours.
 */
static bool
ccert_setup(struct tls_server *t, const struct config_view *v, char *err,
    size_t errsz)
{
	const char *cafile = config_str(v, P_smtpd_tls_CAfile);
	const char *capath = config_str(v, P_smtpd_tls_CApath);
	const char *digest = config_str(v, P_smtpd_tls_fingerprint_digest);
	bool enforced = t->wrapper || t->level == TLS_LEVEL_ENCRYPT;
	bool req = config_bool(v, P_smtpd_tls_req_ccert);
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	EVP_MD_CTX *mc;
	struct stat st;
	bool ok;

	if (req && !enforced)
		log_warning("smtpd_tls_req_ccert = yes is ignored: TLS is "
		    "optional on this service (smtpd_tls_security_level = "
		    "may); it needs smtpd_tls_security_level = encrypt or "
		    "smtpd_tls_wrappermode = yes");
	t->req_ccert = req && enforced;
	t->ask_ccert = t->req_ccert || config_bool(v, P_smtpd_tls_ask_ccert);
	t->have_ca = *cafile != '\0' || *capath != '\0';
	t->fprint_md = tls_fprint_md(digest);
	if (t->fprint_md == NULL) {
		snprintf(err, errsz, "smtpd_tls_fingerprint_digest: \"%.64s\" "
		    "is not a digest OpenSSL can make fingerprints with (use "
		    "sha256, or sha1, md5, sha512)", digest);
		return false;
	}
	mc = EVP_MD_CTX_new();
	ok = mc != NULL && EVP_DigestInit_ex(mc, EVP_sha256(), NULL) == 1;
	if (ok) {
		char head[128];

		snprintf(head, sizeof(head), "ostia smtpd ask=%d depth=%lld ",
		    t->ask_ccert, config_int(v, P_smtpd_tls_ccert_verifydepth));
		ok = EVP_DigestUpdate(mc, head, strlen(head)) == 1;
	}
	if (ok && t->ask_ccert) {
		size_t len = 0;
		int e = 0;
		char *error = NULL;
		char *pem = *cafile != '\0' ? file_read_capped(cafile,
		    TLS_CAFILE_MAX, &len, &e, &error) : NULL;

		ok = EVP_DigestUpdate(mc, cafile, strlen(cafile) + 1) == 1 &&
		    (pem == NULL || EVP_DigestUpdate(mc, pem, len) == 1) &&
		    EVP_DigestUpdate(mc, capath, strlen(capath) + 1) == 1;
		free(pem);
		free(error);	/* loading the CAs says what is wrong */
		if (ok && *capath != '\0' && stat(capath, &st) == 0)
			ok = EVP_DigestUpdate(mc, &st.st_mtim,
			    sizeof(st.st_mtim)) == 1;
	}
	ok = ok && EVP_DigestFinal_ex(mc, d, &dlen) == 1 &&
	    dlen >= sizeof(t->sid_ctx);
	EVP_MD_CTX_free(mc);
	if (!ok) {
		ERR_clear_error();
		snprintf(err, errsz, "cannot make the TLS session ID context "
		    "(SHA-256 failed)");
		return false;
	}
	memcpy(t->sid_ctx, d, sizeof(t->sid_ctx));
	return true;
}

struct tls_server *
tls_server_create(const struct config_view *v, char *err, size_t errsz)
{
	struct tls_server *t;
	bool mandatory;
	const char *cafile = config_str(v, P_smtpd_tls_CAfile);
	const char *tcipher = config_str(v, P_tls_session_ticket_cipher);
	char **sni = NULL;

	err[0] = '\0';
	if (conn_index < 0)
		conn_index = SSL_get_ex_new_index(0, NULL, NULL, NULL,
		    conn_free);
	t = xcalloc(1, sizeof(*t));
	t->level = level_of(v);
	t->wrapper = config_bool(v, P_smtpd_tls_wrappermode);
	if (t->level == TLS_LEVEL_NONE && !t->wrapper) {
		free(t);
		return NULL;
	}
	t->loglevel = (int)config_int(v, P_smtpd_tls_loglevel);
	t->timeout = (long)config_time(v, P_smtpd_tls_session_cache_timeout);
	t->tickets = t->timeout > 0 && *tcipher != '\0';
	t->id_cache = t->timeout > 0 &&
	    *config_str(v, P_smtpd_tls_session_cache_database) != '\0';
	t->ticket_cipher = EVP_CIPHER_fetch(NULL, *tcipher != '\0' ? tcipher :
	    "aes-256-cbc", NULL);
	if (t->ticket_cipher == NULL ||
	    EVP_CIPHER_get_mode(t->ticket_cipher) == EVP_CIPH_WRAP_MODE ||
	    EVP_CIPHER_get_key_length(t->ticket_cipher) >
	    TLS_TICKET_AES_BYTES ||
	    EVP_CIPHER_get_iv_length(t->ticket_cipher) > 16 ||
	    EVP_CIPHER_get_iv_length(t->ticket_cipher) <= 0) {
		snprintf(err, errsz, "tls_session_ticket_cipher: \"%s\" is "
		    "not a usable cipher (use aes-256-cbc or aes-128-cbc)",
		    tcipher);
		EVP_CIPHER_free(t->ticket_cipher);
		free(t);
		return NULL;
	}
	/* Postfix: the wrapper port and the encrypt level use the
	 * mandatory settings; opportunistic TLS the others. */
	mandatory = t->level == TLS_LEVEL_ENCRYPT;
	if (!tls_protocols_parse(config_str(v, mandatory ?
	    P_smtpd_tls_mandatory_protocols : P_smtpd_tls_protocols),
	    &t->protocols, err, errsz)) {
		char tmp[512];

		snprintf(tmp, sizeof(tmp), "%s: %s", mandatory ?
		    "smtpd_tls_mandatory_protocols" : "smtpd_tls_protocols", err);
		snprintf(err, errsz, "%s", tmp);
		EVP_CIPHER_free(t->ticket_cipher);
		free(t);
		return NULL;
	}
	t->sets = xcalloc(1, sizeof(*t->sets));
	t->nsets = 1;
	if (!ccert_setup(t, v, err, errsz))
		goto fail;
	t->sets[0].ctx = new_ctx(t, v, mandatory, err, errsz);
	if (t->sets[0].ctx == NULL ||
	    !load_default_certs(&t->sets[0], v, cafile, err, errsz))
		goto fail;
	sni = config_list(v, P_tls_server_sni_maps);
	for (size_t i = 0; sni[i] != NULL; i++) {
		struct tls_sni_entry *ents = NULL;
		size_t nents = 0;

		if (!tls_sni_load(sni[i], &ents, &nents, err, errsz))
			goto fail;
		for (size_t k = 0; k < nents; k++) {
			struct cert_set *set;
			bool ok = true;

			t->sets = xreallocarray(t->sets, t->nsets + 1,
			    sizeof(*t->sets));
			set = &t->sets[t->nsets++];
			memset(set, 0, sizeof(*set));
			set->sni_name = xstrdup(ents[k].name);
			set->ctx = new_ctx(t, v, mandatory, err, errsz);
			if (set->ctx == NULL)
				ok = false;
			for (size_t f = 0; ok && ents[k].files[f] != NULL; f++)
				ok = load_chain_file(set, ents[k].files[f],
				    cafile, err, errsz);
			if (!ok) {
				char tmp[512];

				snprintf(tmp, sizeof(tmp), "tls_server_sni_maps "
				    "%s, name %s: %s", sni[i], ents[k].name, err);
				snprintf(err, errsz, "%s", tmp);
				tls_sni_free(ents, nents);
				goto fail;
			}
		}
		tls_sni_free(ents, nents);
	}
	strv_free(&sni);
	return t;
fail:
	strv_free(&sni);
	tls_server_free(t);
	return NULL;
}

void
tls_server_free(struct tls_server *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->nsets; i++)
		set_free(&t->sets[i]);
	free(t->sets);
	EVP_CIPHER_free(t->ticket_cipher);
	EVP_MD_free(t->fprint_md);
	OPENSSL_cleanse(t->keys, sizeof(t->keys));
	free(t);
}

enum tls_level
tls_server_level(const struct tls_server *t)
{
	return t == NULL ? TLS_LEVEL_NONE : t->level;
}

bool
tls_server_wrapper(const struct tls_server *t)
{
	return t != NULL && t->wrapper;
}

int
tls_server_loglevel(const struct tls_server *t)
{
	return t == NULL ? 0 : t->loglevel;
}

bool
tls_server_tickets(const struct tls_server *t)
{
	return t != NULL && t->tickets;
}

bool
tls_server_ask_ccert(const struct tls_server *t)
{
	return t != NULL && t->ask_ccert;
}

bool
tls_server_req_ccert(const struct tls_server *t)
{
	return t != NULL && t->req_ccert;
}

bool
tls_server_peer_ccert(struct tls_server *t, SSL *ssl, struct tls_ccert *out)
{
	struct tls_conn *c = tls_conn_get(ssl);

	if (t == NULL || !t->ask_ccert)
		return false;
	return tls_ccert_get(ssl, t->fprint_md, c != NULL ? c->verify_err :
	    X509_V_OK, t->have_ca, out);
}

SSL *
tls_server_new_ssl(struct tls_server *t)
{
	SSL *ssl = SSL_new(t->sets[0].ctx);
	struct tls_conn *c;

	if (ssl == NULL)
		return NULL;
	c = xcalloc(1, sizeof(*c));
	c->alert_received = -1;
	SSL_set_ex_data(ssl, conn_index, c);
	return ssl;
}

const char *
tls_server_versions_text(const struct tls_server *t, char *buf, size_t bufsz)
{
	return tls_protocols_text(t->protocols.mask, buf, bufsz);
}

/* ---------------------------------------------------------------- */
/* Explaining failures                                              */

void
tls_conn_offer_text(SSL *ssl, char *out, size_t outsz)
{
	struct tls_conn *c = tls_conn_get(ssl);
	char vers[128];

	out[0] = '\0';
	if (c == NULL || !c->hello_seen)
		return;
	snprintf(out, outsz, "client offered %s%s, SNI %s, ciphers %s",
	    c->offered_mask & TLS_OFFER_UP_TO ? "up to " : "",
	    c->offered_mask & ~TLS_OFFER_UP_TO ? tls_protocols_text(
	    c->offered_mask & ~TLS_OFFER_UP_TO, vers, sizeof(vers)) :
	    "no version we know",
	    c->sni[0] ? c->sni : "(none)", c->ciphers[0] ? c->ciphers :
	    "(none)");
}

/* served_slot - the certificate this connection sent, if known. */
static const struct cert_slot *
served_slot(struct tls_server *t, SSL *ssl, const struct cert_set **set_r)
{
	struct tls_conn *c = tls_conn_get(ssl);
	const struct cert_set *set = &t->sets[c != NULL && c->ctx_index > 0 &&
	    (size_t)c->ctx_index < t->nsets ? c->ctx_index : 0];
	X509 *leaf = SSL_get_certificate(ssl);

	*set_r = set;
	for (size_t i = 0; leaf != NULL && i < set->nslots; i++)
		if (X509_cmp(set->slots[i].leaf, leaf) == 0)
			return &set->slots[i];
	return set->nslots > 0 ? &set->slots[0] : NULL;
}

/* cert_trouble - what a client may dislike about what we served. */
static void
cert_trouble(struct tls_server *t, SSL *ssl, int alert, char *out,
    size_t outsz)
{
	struct tls_conn *c = tls_conn_get(ssl);
	const struct cert_set *set;
	const struct cert_slot *sl = served_slot(t, ssl, &set);

	out[0] = '\0';
	if (sl == NULL)
		return;
	/* "unknown CA" is about trust: that trouble comes first. */
	if (alert == TLS1_AD_UNKNOWN_CA && sl->trouble[0] != '\0') {
		snprintf(out, outsz, "%s", sl->trouble);
		if (c != NULL && c->sni[0] != '\0' &&
		    !tls_cert_covers(sl->leaf, c->sni)) {
			size_t k = strlen(out);

			snprintf(out + k, outsz - k, "; also, the client asked "
			    "for %.253s (SNI), a name the certificate does not "
			    "have", c->sni);
		}
		return;
	}
	if (c != NULL && c->sni[0] != '\0' && !tls_cert_covers(sl->leaf,
	    c->sni)) {
		char names[512];
		struct tls_cert_facts f;
		char err[128];

		names[0] = '\0';
		if (tls_cert_facts_get(sl->leaf, NULL, NULL, time(NULL), &f,
		    err, sizeof(err)))
			snprintf(names, sizeof(names), "%.500s", f.names);
		snprintf(out, outsz, "the client asked for %s (SNI) but our "
		    "certificate (%s) names only %s: add that name to the "
		    "certificate, or serve another one for it with "
		    "tls_server_sni_maps%s%.300s", c->sni, sl->label,
		    names[0] ? names : "other hosts",
		    sl->trouble[0] ? "; also: " : "", sl->trouble);
		return;
	}
	if (sl->trouble[0] != '\0')
		snprintf(out, outsz, "%s", sl->trouble);
}

static bool
alert_is_about_certificate(int alert)
{
	switch (alert) {
	case SSL3_AD_BAD_CERTIFICATE:
	case SSL3_AD_UNSUPPORTED_CERTIFICATE:
	case SSL3_AD_CERTIFICATE_REVOKED:
	case SSL3_AD_CERTIFICATE_EXPIRED:
	case SSL3_AD_CERTIFICATE_UNKNOWN:
	case TLS1_AD_UNKNOWN_CA:
	case TLS1_AD_BAD_CERTIFICATE_STATUS_RESPONSE:
		return true;
	default:
		return false;
	}
}

void
tls_conn_explain(struct tls_server *t, SSL *ssl, unsigned long errcode,
    bool eof, bool timeout, char *out, size_t outsz)
{
	struct tls_conn *c = tls_conn_get(ssl);
	int reason = errcode != 0 ? ERR_GET_REASON(errcode) : 0;
	int alert = c != NULL ? c->alert_received : -1;
	char trouble[1024], ours[128], theirs[128];

	if (alert < 0 && reason >= SSL_AD_REASON_OFFSET &&
	    reason < SSL_AD_REASON_OFFSET + 256)
		alert = reason - SSL_AD_REASON_OFFSET;
	cert_trouble(t, ssl, alert, trouble, sizeof(trouble));
	(void)tls_server_versions_text(t, ours, sizeof(ours));
	theirs[0] = '\0';
	if (c != NULL && (c->offered_mask & ~TLS_OFFER_UP_TO) != 0) {
		size_t k = (size_t)snprintf(theirs, sizeof(theirs), "%s",
		    c->offered_mask & TLS_OFFER_UP_TO ? "up to " : "");

		(void)tls_protocols_text(c->offered_mask & ~TLS_OFFER_UP_TO,
		    theirs + k, sizeof(theirs) - k);
	}

	if (alert >= 0 && alert_is_about_certificate(alert)) {
		snprintf(out, outsz, "the client rejected our certificate "
		    "(it sent the alert \"%s\"): %s", SSL_alert_desc_string_long(
		    alert), trouble[0] ? trouble :
		    "our chain looks complete and valid, so the client does "
		    "not trust the CA that issued it (it may use its own list "
		    "of CAs): use a certificate from a CA the clients trust");
		return;
	}
	if (alert == TLS1_AD_UNRECOGNIZED_NAME) {
		snprintf(out, outsz, "the client refused the host name in our "
		    "certificate (alert \"unrecognized name\"): %s",
		    trouble[0] ? trouble : "check that the certificate names "
		    "the host the client connects to");
		return;
	}
	if (reason == SSL_R_UNSUPPORTED_PROTOCOL ||
	    reason == SSL_R_VERSION_TOO_LOW || reason == SSL_R_VERSION_TOO_HIGH ||
	    alert == TLS1_AD_PROTOCOL_VERSION) {
		snprintf(out, outsz, "no TLS version in common: the client "
		    "offered %s, this service allows %s: the client is too "
		    "old or set to old versions only; update it, or allow "
		    "its version in smtpd_tls_protocols (or "
		    "smtpd_tls_mandatory_protocols) only if you must",
		    theirs[0] ? theirs : "versions we do not know", ours);
		return;
	}
	if (reason == SSL_R_NO_SHARED_CIPHER) {
		snprintf(out, outsz, "no cipher in common: the client offered "
		    "%s; none is allowed by this service's cipher settings "
		    "(smtpd_tls_ciphers, smtpd_tls_mandatory_ciphers, "
		    "*_exclude_ciphers) for the certificates it has (%s): "
		    "widen the cipher grade, or add an RSA or ECDSA "
		    "certificate of the kind the client needs",
		    c != NULL && c->ciphers[0] ? c->ciphers :
		    "suites we could not read", t->sets[0].nslots > 1 ?
		    "RSA and ECDSA" : "one key type");
		return;
	}
	if ((reason == SSL_R_NO_SHARED_SIGNATURE_ALGORITHMS ||
	    reason == SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM) && c != NULL &&
	    (c->offered_mask & ~TLS_OFFER_UP_TO) != 0 &&
	    (c->offered_mask & (tls_version_bit(TLS1_2_VERSION) |
	    tls_version_bit(TLS1_3_VERSION))) == 0) {
		snprintf(out, outsz, "the client offered only %s, and those "
		    "versions sign with SHA-1, which OpenSSL 3 refuses at its "
		    "default security level: the client is too old; update "
		    "it, or keep it out with smtpd_tls_protocols = "
		    ">=TLSv1.2 so the log says so at once", theirs);
		return;
	}
	if (reason == SSL_R_NO_SHARED_SIGNATURE_ALGORITHMS ||
	    reason == SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM) {
		snprintf(out, outsz, "no signature algorithm in common: the "
		    "client cannot verify a signature made with our "
		    "certificate's key type: add a certificate of the other "
		    "type (smtpd_tls_cert_file for RSA, smtpd_tls_eccert_file "
		    "for ECDSA)");
		return;
	}
	if (reason == SSL_R_HTTP_REQUEST || reason == SSL_R_HTTPS_PROXY_REQUEST) {
		snprintf(out, outsz, "the client sent an HTTP request, not a "
		    "TLS handshake: a web browser or scanner, not a mail "
		    "client");
		return;
	}
	if (reason == SSL_R_WRONG_VERSION_NUMBER ||
	    reason == SSL_R_PACKET_LENGTH_TOO_LONG ||
	    reason == SSL_R_RECORD_LENGTH_MISMATCH ||
	    reason == SSL_R_UNKNOWN_PROTOCOL) {
		snprintf(out, outsz, "the client sent data that is not TLS: "
		    "it does not speak TLS on this port");
		return;
	}
	if (timeout || eof) {
		const char *what = timeout ? "stopped answering" :
		    "closed the connection";

		if (c == NULL || !c->hello_seen)
			snprintf(out, outsz, "the client %s in the middle of "
			    "its TLS hello: a scanner or a broken client",
			    what);
		else if (!c->server_flight_sent)
			snprintf(out, outsz, "the client %s after its hello, "
			    "before we sent our certificate: a scanner "
			    "probing versions, or a client that found nothing "
			    "it accepts in our reply", what);
		else
			snprintf(out, outsz, "the client %s after it received "
			    "our certificate, without saying why: most likely "
			    "it does not accept the certificate%s%s", what,
			    trouble[0] ? ": " : " (nothing is known to be "
			    "wrong with it; the client may not trust its CA)",
			    trouble);
		return;
	}
	if (alert >= 0) {
		snprintf(out, outsz, "the client ended the handshake with the "
		    "alert \"%s\"%s%s", SSL_alert_desc_string_long(alert),
		    trouble[0] ? "; about our certificate: " : "", trouble);
		return;
	}
	snprintf(out, outsz, "the handshake failed: %s",
	    errcode != 0 && ERR_reason_error_string(errcode) != NULL ?
	    ERR_reason_error_string(errcode) : "no reason given by OpenSSL");
}
