/* SPDX-License-Identifier: MIT */
/*
 * tls_cert - certificate facts, host name checks and the certificate
 * file loader; see tls_cert.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "compat.h"
#include "file_read.h"
#include "tls_cert.h"
#include "xalloc.h"

/* Most PEM blocks read from one file, and longest issuer walk. */
#define PEM_MAX_BLOCKS 64
#define CHAIN_MAX_DEPTH 32

static void
set_err(char *err, size_t errsz, const char *fmt, ...) ATTR_FORMAT(3, 4);

static void
set_err(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errsz == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
}

/*
 * ssl_reason - " (OpenSSL: reason)" for the newest queued error, or ""
 * when there is none; empties the queue.  Static text or buf.
 */
static const char *
ssl_reason(char *buf, size_t bufsz)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	if (r == NULL)
		return "";
	snprintf(buf, bufsz, " (OpenSSL: %s)", r);
	return buf;
}

/*
 * copy_cut - copy src into dst (dstsz bytes), ending in "..." when it
 * does not fit.
 */
static void
copy_cut(char *dst, size_t dstsz, const char *src)
{
	size_t n = strlen(src);

	if (dstsz == 0)
		return;
	if (n < dstsz) {
		memcpy(dst, src, n + 1);
		return;
	}
	if (dstsz < 4) {
		dst[0] = '\0';
		return;
	}
	/* Byte by byte: gcc -O3 misreads two memcpy()s here as out of
	 * bounds. */
	for (size_t i = 0; i < dstsz - 4; i++)
		dst[i] = src[i];
	dst[dstsz - 4] = '.';
	dst[dstsz - 3] = '.';
	dst[dstsz - 2] = '.';
	dst[dstsz - 1] = '\0';
}

/*
 * escape_bytes - append len bytes of s to dst (dstsz, at offset *off)
 * with printable ASCII kept and anything else as \xHH; stops (leaving
 * *off past the end) when dst is full.
 */
static void
escape_bytes(char *dst, size_t dstsz, size_t *off, const unsigned char *s,
    size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char tmp[5];
		size_t tl;

		if (s[i] >= 0x20 && s[i] < 0x7f) {
			tmp[0] = (char)s[i];
			tl = 1;
		} else {
			snprintf(tmp, sizeof(tmp), "\\x%02x", s[i]);
			tl = 4;
		}
		if (*off + tl >= dstsz) {
			*off = dstsz;
			return;
		}
		memcpy(dst + *off, tmp, tl);
		*off += tl;
		dst[*off] = '\0';
	}
}

/* name_line - "CN=x, O=y" of name into buf, escaped and cut. */
static void
name_line(const X509_NAME *name, char *buf, size_t bufsz)
{
	BIO *bio = BIO_new(BIO_s_mem());
	unsigned long flags = XN_FLAG_SEP_CPLUS_SPC | XN_FLAG_FN_SN |
	    ASN1_STRFLGS_RFC2253;
	char *data = NULL;
	long len;
	char tmp[1024];
	size_t off = 0;

	buf[0] = '\0';
	if (bio == NULL || name == NULL ||
	    X509_NAME_print_ex(bio, name, 0, flags) < 0) {
		BIO_free(bio);
		copy_cut(buf, bufsz, "(unreadable name)");
		return;
	}
	len = BIO_get_mem_data(bio, &data);
	tmp[0] = '\0';
	if (len > 0)
		escape_bytes(tmp, sizeof(tmp), &off, (unsigned char *)data,
		    (size_t)len);
	BIO_free(bio);
	if (off >= sizeof(tmp))
		memcpy(tmp + sizeof(tmp) - 4, "...", 4);
	copy_cut(buf, bufsz, tmp[0] != '\0' ? tmp : "(empty name)");
}

const char *
tls_cert_name(const X509_NAME *name, char *buf, size_t bufsz)
{
	if (bufsz > 0)
		name_line(name, buf, bufsz);
	return buf;
}

/* asn1_time - t as time_t; 0 when unreadable. */
static time_t
asn1_time(const ASN1_TIME *t)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return timegm(&tm);
}

const char *
tls_cert_date(time_t t, char *buf, size_t bufsz)
{
	struct tm tm;

	if (bufsz == 0)
		return buf;
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, bufsz, "%Y-%m-%d", &tm) == 0)
		copy_cut(buf, bufsz, "?");
	return buf;
}

/* append_name - add ", " (unless first) and the escaped name. */
static void
append_name(char *dst, size_t dstsz, size_t *off, const unsigned char *s,
    size_t len)
{
	if (*off >= dstsz)
		return;
	if (*off > 0)
		escape_bytes(dst, dstsz, off, (const unsigned char *)", ", 2);
	escape_bytes(dst, dstsz, off, s, len);
}

/* cert_names - the DNS and IP subjectAltNames, else the CNs. */
static void
cert_names(X509 *leaf, char *buf, size_t bufsz)
{
	GENERAL_NAMES *gens;
	X509_NAME *subj;
	size_t off = 0;
	bool have_dns = false;
	int idx = -1;

	buf[0] = '\0';
	gens = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);

		if (g->type == GEN_DNS) {
			have_dns = true;
			append_name(buf, bufsz, &off,
			    ASN1_STRING_get0_data(g->d.dNSName),
			    (size_t)ASN1_STRING_length(g->d.dNSName));
		} else if (g->type == GEN_IPADD) {
			const unsigned char *p =
			    ASN1_STRING_get0_data(g->d.iPAddress);
			int l = ASN1_STRING_length(g->d.iPAddress);
			char ip[INET6_ADDRSTRLEN];

			if ((l == 4 && inet_ntop(AF_INET, p, ip,
			    sizeof(ip)) != NULL) || (l == 16 &&
			    inet_ntop(AF_INET6, p, ip, sizeof(ip)) != NULL))
				append_name(buf, bufsz, &off,
				    (const unsigned char *)ip, strlen(ip));
		}
	}
	GENERAL_NAMES_free(gens);
	subj = X509_get_subject_name(leaf);
	while (!have_dns && subj != NULL && (idx = X509_NAME_get_index_by_NID(
	    subj, NID_commonName, idx)) >= 0) {
		ASN1_STRING *s = X509_NAME_ENTRY_get_data(
		    X509_NAME_get_entry(subj, idx));

		append_name(buf, bufsz, &off, ASN1_STRING_get0_data(s),
		    (size_t)ASN1_STRING_length(s));
	}
	if (off >= bufsz && bufsz >= 4)
		memcpy(buf + bufsz - 4, "...", 4);
}

/* issued_by - true when issuer's name and key ids fit subject's issuer. */
static bool
issued_by(X509 *subject, X509 *issuer)
{
	bool r = X509_check_issued(issuer, subject) == X509_V_OK;

	ERR_clear_error();
	return r;
}

static bool
self_issued(X509 *x)
{
	return issued_by(x, x);
}

/*
 * store_issuer - the issuer of x found in store (new reference; caller
 * frees), or NULL.
 */
static X509 *
store_issuer(X509_STORE *store, X509 *x)
{
	X509_STORE_CTX *ctx;
	X509 *iss = NULL;

	if (store == NULL)
		return NULL;
	ctx = X509_STORE_CTX_new();
	if (ctx != NULL && X509_STORE_CTX_init(ctx, store, x, NULL) == 1) {
		if (X509_STORE_CTX_get1_issuer(&iss, ctx, x) != 1)
			iss = NULL;
	}
	X509_STORE_CTX_free(ctx);
	ERR_clear_error();
	return iss;
}

/*
 * verify_cb - judge trust apart from the leaf's validity dates and
 * purpose, which are reported as facts of their own.
 */
static int
verify_cb(int ok, X509_STORE_CTX *ctx)
{
	if (!ok && X509_STORE_CTX_get_error_depth(ctx) == 0) {
		switch (X509_STORE_CTX_get_error(ctx)) {
		case X509_V_ERR_CERT_HAS_EXPIRED:
		case X509_V_ERR_CERT_NOT_YET_VALID:
		case X509_V_ERR_INVALID_PURPOSE:
			return 1;
		default:
			break;
		}
	}
	return ok;
}

/* verify_with - whether leaf + chain verifies against store. */
static bool
verify_with(X509_STORE *store, X509 *leaf, STACK_OF(X509) *chain,
    time_t now, char *why, size_t whysz)
{
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	bool ok = false;

	if (why != NULL && whysz > 0)
		why[0] = '\0';
	if (ctx == NULL || X509_STORE_CTX_init(ctx, store, leaf, chain) != 1) {
		if (why != NULL)
			copy_cut(why, whysz, "cannot set up verification");
		goto out;
	}
	X509_STORE_CTX_set_time(ctx, 0, now);
	(void)X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
	X509_STORE_CTX_set_verify_cb(ctx, verify_cb);
	ok = X509_verify_cert(ctx) == 1;
	if (!ok && why != NULL)
		copy_cut(why, whysz, X509_verify_cert_error_string(
		    X509_STORE_CTX_get_error(ctx)));
out:
	X509_STORE_CTX_free(ctx);
	ERR_clear_error();
	return ok;
}

/* weak_digest - true for MD2/MD4/MD5/SHA-1 signatures. */
static bool
weak_digest(X509 *x)
{
	int mdnid = NID_undef, pknid = NID_undef, secbits = -1;
	uint32_t flags = 0;

	if (X509_get_signature_info(x, &mdnid, &pknid, &secbits, &flags) !=
	    1) {
		ERR_clear_error();
		return false;
	}
	return mdnid == NID_md5 || mdnid == NID_sha1 || mdnid == NID_md4 ||
	    mdnid == NID_md2 || mdnid == NID_md5_sha1;
}

static void
note_weak_signature(struct tls_cert_facts *f, X509 *x)
{
	int nid;

	if (f->weak_signature || self_issued(x) || !weak_digest(x))
		return;
	f->weak_signature = true;
	nid = X509_get_signature_nid(x);
	copy_cut(f->weak_signature_alg, sizeof(f->weak_signature_alg),
	    nid != NID_undef ? OBJ_nid2ln(nid) : "unknown");
	name_line(X509_get_subject_name(x), f->weak_signature_on,
	    sizeof(f->weak_signature_on));
}

/* key_facts - type, size and weakness of the leaf's public key. */
static bool
key_facts(X509 *leaf, struct tls_cert_facts *f)
{
	EVP_PKEY *pk = X509_get0_pubkey(leaf);
	const char *name;
	int id;

	if (pk == NULL)
		return false;
	id = EVP_PKEY_get_base_id(pk);
	switch (id) {
	case EVP_PKEY_RSA: name = "RSA"; break;
	case EVP_PKEY_RSA_PSS: name = "RSA-PSS"; break;
	case EVP_PKEY_EC: name = "EC"; break;
	case EVP_PKEY_DSA: name = "DSA"; break;
	case EVP_PKEY_ED25519: name = "ED25519"; break;
	case EVP_PKEY_ED448: name = "ED448"; break;
	default:
		name = EVP_PKEY_get0_type_name(pk);
		if (name == NULL)
			name = "unknown";
		break;
	}
	copy_cut(f->key_type, sizeof(f->key_type), name);
	f->key_bits = EVP_PKEY_get_bits(pk);
	if (id == EVP_PKEY_RSA || id == EVP_PKEY_RSA_PSS || id == EVP_PKEY_DSA)
		f->weak_key = f->key_bits < TLS_CERT_MIN_RSA_BITS;
	else if (id == EVP_PKEY_EC)
		f->weak_key = f->key_bits < TLS_CERT_MIN_EC_BITS;
	return true;
}

/*
 * walk_chain - follow the leaf's issuers through the served chain;
 * sets chain_incomplete (and the names), chain_out_of_order,
 * chain_unused and weak_signature.
 */
static void
walk_chain(X509 *leaf, STACK_OF(X509) *chain, X509_STORE *sys,
    X509_STORE *caf, struct tls_cert_facts *f)
{
	int n = chain != NULL ? sk_X509_num(chain) : 0;
	bool used[CHAIN_MAX_DEPTH];
	int last = -1, depth;
	X509 *cur = leaf;

	memset(used, 0, sizeof(used));
	if (n > CHAIN_MAX_DEPTH)
		n = CHAIN_MAX_DEPTH;
	note_weak_signature(f, leaf);
	for (depth = 0; depth < CHAIN_MAX_DEPTH; depth++) {
		X509 *iss = NULL;
		int found = -1;

		if (self_issued(cur))
			break;
		for (int i = 0; i < n; i++) {
			if (!used[i] && issued_by(cur, sk_X509_value(chain,
			    i))) {
				found = i;
				break;
			}
		}
		if (found >= 0) {
			if (found < last)
				f->chain_out_of_order = true;
			used[found] = true;
			last = found;
			cur = sk_X509_value(chain, found);
			note_weak_signature(f, cur);
			continue;
		}
		/* Not served: a root in a store is fine, anything else
		 * is a missing intermediate (see tls_cert.h). */
		iss = store_issuer(sys, cur);
		if (iss == NULL)
			iss = store_issuer(caf, cur);
		if (iss != NULL) {
			f->chain_incomplete = !self_issued(iss);
			if (f->chain_incomplete)
				name_line(X509_get_subject_name(iss),
				    f->missing_issuer,
				    sizeof(f->missing_issuer));
			X509_free(iss);
		} else if (cur == leaf) {
			f->chain_incomplete = true;
			name_line(X509_get_issuer_name(cur), f->missing_issuer,
			    sizeof(f->missing_issuer));
		}
		if (f->chain_incomplete)
			name_line(X509_get_subject_name(cur), f->missing_for,
			    sizeof(f->missing_for));
		break;
	}
	for (int i = 0; i < n; i++)
		if (!used[i])
			f->chain_unused++;
	if (chain != NULL && sk_X509_num(chain) > n)
		f->chain_unused += (unsigned)(sk_X509_num(chain) - n);
}

bool
tls_cert_facts_get(X509 *leaf, STACK_OF(X509) *chain, const char *cafile,
    time_t now, struct tls_cert_facts *out, char *err, size_t errsz)
{
	X509_STORE *sys = NULL, *caf = NULL;
	char reason[160];
	bool ok = false;

	memset(out, 0, sizeof(*out));
	if (leaf == NULL) {
		set_err(err, errsz, "no certificate");
		return false;
	}
	name_line(X509_get_subject_name(leaf), out->subject,
	    sizeof(out->subject));
	name_line(X509_get_issuer_name(leaf), out->issuer, sizeof(out->issuer));
	cert_names(leaf, out->names, sizeof(out->names));
	out->not_before = asn1_time(X509_get0_notBefore(leaf));
	out->not_after = asn1_time(X509_get0_notAfter(leaf));
	out->expired = now > out->not_after;
	out->not_yet_valid = now < out->not_before;
	out->self_signed = X509_self_signed(leaf, 1) == 1;
	ERR_clear_error();
	out->wrong_purpose = X509_check_purpose(leaf, X509_PURPOSE_SSL_SERVER,
	    0) != 1;
	ERR_clear_error();
	if (!key_facts(leaf, out)) {
		set_err(err, errsz, "the certificate %s has a public key that "
		    "cannot be read%s", out->subject,
		    ssl_reason(reason, sizeof(reason)));
		goto out;
	}
	if (cafile != NULL && cafile[0] != '\0') {
		caf = X509_STORE_new();
		if (caf == NULL || X509_STORE_load_file(caf, cafile) != 1) {
			set_err(err, errsz, "cannot load the CA file %s%s",
			    cafile, ssl_reason(reason, sizeof(reason)));
			goto out;
		}
	}
	sys = X509_STORE_new();
	if (sys == NULL) {
		set_err(err, errsz, "out of memory");
		goto out;
	}
	/* A machine without a system store just trusts nothing. */
	(void)X509_STORE_set_default_paths(sys);
	ERR_clear_error();
	out->system_trusted = verify_with(sys, leaf, chain, now,
	    out->system_error, sizeof(out->system_error));
	if (caf != NULL)
		out->cafile_trusted = verify_with(caf, leaf, chain, now, NULL,
		    0);
	walk_chain(leaf, chain, sys, caf, out);
	ok = true;
out:
	X509_STORE_free(sys);
	X509_STORE_free(caf);
	ERR_clear_error();
	if (!ok)
		memset(out, 0, sizeof(*out));
	return ok;
}

bool
tls_cert_covers(X509 *leaf, const char *hostname)
{
	char name[256];
	unsigned char bin[16];
	size_t len;
	int r;

	if (leaf == NULL || hostname == NULL || hostname[0] == '\0')
		return false;
	len = strlen(hostname);
	if (len >= sizeof(name))
		return false;
	if (hostname[0] == '[' && len >= 2 && hostname[len - 1] == ']') {
		size_t skip = 1;

		if (len > 6 && strncasecmp(hostname + 1, "IPv6:", 5) == 0)
			skip = 6;
		len -= skip + 1;
		memcpy(name, hostname + skip, len);
		name[len] = '\0';
	} else {
		memcpy(name, hostname, len + 1);
	}
	if (inet_pton(AF_INET, name, bin) == 1 ||
	    inet_pton(AF_INET6, name, bin) == 1) {
		r = X509_check_ip_asc(leaf, name, 0);
		ERR_clear_error();
		return r == 1;
	}
	if (len > 1 && name[len - 1] == '.')
		name[--len] = '\0';
	r = X509_check_host(leaf, name, len,
	    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL);
	ERR_clear_error();
	return r == 1;
}

bool
tls_cert_key_matches(X509 *leaf, EVP_PKEY *key)
{
	bool r;

	if (leaf == NULL || key == NULL)
		return false;
	r = X509_check_private_key(leaf, key) == 1;
	ERR_clear_error();
	return r;
}

/* ---------------------------------------------------------------- files */

struct pem_item {
	X509 *cert;	/* exactly one of cert and key is set */
	EVP_PKEY *key;
};

struct pem_file {
	struct pem_item *items;
	size_t n;
	unsigned ncerts, nkeys;
};

static void
pem_file_free(struct pem_file *pf)
{
	for (size_t i = 0; i < pf->n; i++) {
		X509_free(pf->items[i].cert);
		EVP_PKEY_free(pf->items[i].key);
	}
	free(pf->items);
	memset(pf, 0, sizeof(*pf));
}

/* No pass phrase prompts: an encrypted key is an error. */
static int
no_pass_cb(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

static bool
is_key_block(const char *name)
{
	size_t n = strlen(name);

	return n >= 11 && strcmp(name + n - 11, "PRIVATE KEY") == 0;
}

/*
 * parse_block - one PEM block (text of tlen bytes, the whole block)
 * named name into *item; false with *err.  Other block kinds (DH
 * PARAMETERS...) leave *item empty.
 */
static bool
parse_block(const char *path, unsigned nth, const char *name,
    const char *header, const unsigned char *data, long len,
    const char *text, size_t tlen, struct pem_item *item, char *err,
    size_t errsz)
{
	char reason[160];

	if (strcmp(name, PEM_STRING_X509) == 0 ||
	    strcmp(name, PEM_STRING_X509_OLD) == 0 ||
	    strcmp(name, PEM_STRING_X509_TRUSTED) == 0) {
		const unsigned char *p = data;

		item->cert = strcmp(name, PEM_STRING_X509_TRUSTED) == 0 ?
		    d2i_X509_AUX(NULL, &p, len) : d2i_X509(NULL, &p, len);
		if (item->cert == NULL) {
			set_err(err, errsz, "%s: PEM block %u (%s) is not a "
			    "valid certificate%s", path, nth, name,
			    ssl_reason(reason, sizeof(reason)));
			return false;
		}
		return true;
	}
	if (!is_key_block(name))
		return true;
	if (strcmp(name, "ENCRYPTED PRIVATE KEY") == 0 ||
	    strstr(header, "ENCRYPTED") != NULL) {
		set_err(err, errsz, "%s: the private key is protected by a "
		    "pass phrase; the server cannot ask for one: store it "
		    "without (openssl pkey -in %s -out NEWFILE), readable "
		    "by root only", path, path);
		return false;
	}
	{
		BIO *bio = BIO_new_mem_buf(text, (int)tlen);

		if (bio != NULL)
			item->key = PEM_read_bio_PrivateKey(bio, NULL,
			    no_pass_cb, NULL);
		BIO_free(bio);
	}
	if (item->key == NULL) {
		set_err(err, errsz, "%s: PEM block %u (%s) is not a valid "
		    "private key%s", path, nth, name,
		    ssl_reason(reason, sizeof(reason)));
		return false;
	}
	return true;
}

/*
 * pem_file_read - every certificate and private key of path, in file
 * order.  false with *err (naming path) on any problem; the file text is
 * wiped before it is freed (it may hold a key).
 */
static bool
pem_file_read(const char *path, struct pem_file *pf, char *err,
    size_t errsz)
{
	char *text, *ferr = NULL;
	size_t tlen = 0;
	int ferrno = 0;
	BIO *bio = NULL;
	bool ok = false;
	unsigned nth = 0;

	memset(pf, 0, sizeof(*pf));
	text = file_read_capped(path, TLS_CERT_FILE_MAX_BYTES, &tlen, &ferrno,
	    &ferr);
	if (text == NULL) {
		set_err(err, errsz, "%s: %s", path, ferr);
		free(ferr);
		return false;
	}
	if (tlen > 0 && (unsigned char)text[0] == 0x30 &&
	    memmem(text, tlen, "-----BEGIN", 10) == NULL) {
		set_err(err, errsz, "%s: this is a binary (DER) file; the "
		    "server needs PEM: convert it with openssl x509 -inform "
		    "der -in %s -out NEWFILE (or openssl pkey -inform der for "
		    "a key)", path, path);
		goto out;
	}
	bio = BIO_new_mem_buf(text, (int)tlen);
	if (bio == NULL) {
		set_err(err, errsz, "%s: out of memory", path);
		goto out;
	}
	ERR_clear_error();
	for (;;) {
		char *name = NULL, *header = NULL, *rest = NULL;
		unsigned char *data = NULL;
		long dlen = 0, before, after;
		struct pem_item item = { NULL, NULL };
		size_t start, end;
		bool r;
		int got;

		before = BIO_get_mem_data(bio, &rest);
		got = PEM_read_bio(bio, &name, &header, &data, &dlen);
		if (got != 1) {
			unsigned long e = ERR_peek_last_error();

			if (ERR_GET_LIB(e) == ERR_LIB_PEM &&
			    ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
				ERR_clear_error();
				break;
			}
			{
				char reason[160];

				set_err(err, errsz, "%s: PEM block %u is "
				    "damaged (bad base64 or a missing END "
				    "line)%s", path, nth + 1,
				    ssl_reason(reason, sizeof(reason)));
			}
			goto out;
		}
		nth++;
		after = BIO_get_mem_data(bio, &rest);
		start = tlen - (size_t)before;
		end = tlen - (size_t)after;
		if (nth > PEM_MAX_BLOCKS) {
			OPENSSL_free(name);
			OPENSSL_free(header);
			OPENSSL_clear_free(data, (size_t)dlen);
			set_err(err, errsz, "%s: more than %d PEM blocks", path,
			    PEM_MAX_BLOCKS);
			goto out;
		}
		r = parse_block(path, nth, name, header, data, dlen,
		    text + start, end - start, &item, err, errsz);
		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_clear_free(data, (size_t)dlen);
		if (!r)
			goto out;
		if (item.cert == NULL && item.key == NULL)
			continue;
		pf->items = xreallocarray(pf->items, pf->n + 1,
		    sizeof(*pf->items));
		pf->items[pf->n++] = item;
		if (item.cert != NULL)
			pf->ncerts++;
		else
			pf->nkeys++;
	}
	ok = true;
out:
	BIO_free(bio);
	OPENSSL_cleanse(text, tlen);
	free(text);
	ERR_clear_error();
	if (!ok)
		pem_file_free(pf);
	return ok;
}

/*
 * take_certs - move the certificates of pf items [from, to) into f
 * (first one the leaf); false when there is none.
 */
static bool
take_certs(struct pem_file *pf, size_t from, size_t to,
    struct tls_cert_file *f)
{
	f->chain = sk_X509_new_null();
	if (f->chain == NULL)
		return false;
	for (size_t i = from; i < to; i++) {
		X509 *x = pf->items[i].cert;

		if (x == NULL)
			continue;
		if (f->leaf == NULL) {
			f->leaf = x;
		} else if (sk_X509_push(f->chain, x) <= 0) {
			return false;
		}
		pf->items[i].cert = NULL;
	}
	return f->leaf != NULL;
}

/* take_key - move the key of pf (the only one) into f. */
static void
take_key(struct pem_file *pf, struct tls_cert_file *f)
{
	for (size_t i = 0; i < pf->n; i++) {
		if (pf->items[i].key != NULL) {
			f->key = pf->items[i].key;
			pf->items[i].key = NULL;
			return;
		}
	}
}

bool
tls_cert_file_load(const char *certfile, const char *keyfile,
    struct tls_cert_file *out, char *err, size_t errsz)
{
	struct pem_file cf, kf;
	bool same, ok = false;

	memset(out, 0, sizeof(*out));
	memset(&kf, 0, sizeof(kf));
	same = keyfile == NULL || keyfile[0] == '\0' ||
	    strcmp(keyfile, certfile) == 0;
	if (!pem_file_read(certfile, &cf, err, errsz))
		return false;
	if (cf.ncerts == 0) {
		set_err(err, errsz, "%s: no certificate in it (expected PEM "
		    "text starting with -----BEGIN CERTIFICATE-----)",
		    certfile);
		goto out;
	}
	if (same) {
		if (cf.nkeys == 0) {
			set_err(err, errsz, "%s: no private key in it (expected "
			    "-----BEGIN PRIVATE KEY-----); name the key file "
			    "with smtpd_tls_key_file", certfile);
			goto out;
		}
		if (cf.nkeys > 1) {
			set_err(err, errsz, "%s: %u private keys in one file; "
			    "list several key and certificate pairs in "
			    "smtpd_tls_chain_files instead", certfile,
			    cf.nkeys);
			goto out;
		}
		take_key(&cf, out);
	} else {
		if (!pem_file_read(keyfile, &kf, err, errsz))
			goto out;
		if (kf.nkeys != 1) {
			set_err(err, errsz, kf.nkeys == 0 ? "%s: no private key "
			    "in it (expected -----BEGIN PRIVATE KEY-----)" :
			    "%s: more than one private key in it", keyfile);
			goto out;
		}
		take_key(&kf, out);
	}
	if (!take_certs(&cf, 0, cf.n, out)) {
		set_err(err, errsz, "%s: out of memory", certfile);
		goto out;
	}
	ok = true;
out:
	pem_file_free(&cf);
	pem_file_free(&kf);
	if (!ok)
		tls_cert_file_free(out);
	return ok;
}

bool
tls_cert_chain_file_load(const char *path, struct tls_cert_file **out_r,
    size_t *n_r, char *err, size_t errsz)
{
	struct pem_file pf;
	struct tls_cert_file *v = NULL;
	size_t nv = 0, i = 0;

	*out_r = NULL;
	*n_r = 0;
	if (!pem_file_read(path, &pf, err, errsz))
		return false;
	if (pf.nkeys == 0 || pf.ncerts == 0) {
		set_err(err, errsz, "%s: %s", path, pf.nkeys == 0 ? "no "
		    "private key in it (each file of smtpd_tls_chain_files "
		    "holds a key, then its certificate, then the chain)" :
		    "no certificate in it (expected -----BEGIN CERTIFICATE"
		    "----- after the key)");
		pem_file_free(&pf);
		return false;
	}
	if (pf.nkeys == 1) {
		v = xcalloc(1, sizeof(*v));
		nv = 1;
		take_key(&pf, &v[0]);
		if (!take_certs(&pf, 0, pf.n, &v[0]))
			goto fail_mem;
		goto done;
	}
	if (pf.items[0].key == NULL) {
		set_err(err, errsz, "%s: with several keys in one file, each "
		    "key must come first, followed by its certificate and "
		    "chain; this file starts with a certificate", path);
		goto fail;
	}
	while (i < pf.n) {
		size_t j = i + 1;

		while (j < pf.n && pf.items[j].key == NULL)
			j++;
		v = xreallocarray(v, nv + 1, sizeof(*v));
		memset(&v[nv], 0, sizeof(v[nv]));
		v[nv].key = pf.items[i].key;
		pf.items[i].key = NULL;
		nv++;
		if (j == i + 1) {
			set_err(err, errsz, "%s: private key %zu is not "
			    "followed by its certificate", path, nv);
			goto fail;
		}
		if (!take_certs(&pf, i + 1, j, &v[nv - 1]))
			goto fail_mem;
		i = j;
	}
done:
	pem_file_free(&pf);
	*out_r = v;
	*n_r = nv;
	return true;
fail_mem:
	set_err(err, errsz, "%s: out of memory", path);
fail:
	pem_file_free(&pf);
	tls_cert_file_free_array(&v, nv);
	return false;
}

void
tls_cert_file_free(struct tls_cert_file *f)
{
	if (f == NULL)
		return;
	X509_free(f->leaf);
	sk_X509_pop_free(f->chain, X509_free);
	EVP_PKEY_free(f->key);
	memset(f, 0, sizeof(*f));
}

void
tls_cert_file_free_array(struct tls_cert_file **fp, size_t n)
{
	if (fp == NULL || *fp == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		tls_cert_file_free(&(*fp)[i]);
	free(*fp);
	*fp = NULL;
}

/* ---------------------------------------------------------------- words */

const char *
tls_cert_trouble(const struct tls_cert_facts *f, char *buf, size_t bufsz)
{
	char date[32];

	if (bufsz == 0)
		return NULL;
	buf[0] = '\0';
	if (f->expired) {
		snprintf(buf, bufsz, "our certificate expired on %s (%s): "
		    "clients refuse it with 'certificate expired'; renew it",
		    tls_cert_date(f->not_after, date, sizeof(date)),
		    f->subject);
	} else if (f->not_yet_valid) {
		snprintf(buf, bufsz, "our certificate is not valid before %s "
		    "(%s): clients refuse it until then; check this machine's "
		    "clock, or use the previous certificate",
		    tls_cert_date(f->not_before, date, sizeof(date)),
		    f->subject);
	} else if (f->self_signed && !f->system_trusted) {
		snprintf(buf, bufsz, "our certificate is self-signed (%s): "
		    "clients that verify certificates refuse it with "
		    "'unknown ca'", f->subject);
	} else if (f->chain_incomplete) {
		snprintf(buf, bufsz, "our chain lacks the intermediate "
		    "certificate %s (the issuer of %s): clients that verify "
		    "certificates refuse it with 'unknown ca'; add it after "
		    "our certificate in smtpd_tls_cert_file",
		    f->missing_issuer, f->missing_for);
	} else if (!f->system_trusted && f->cafile_trusted) {
		snprintf(buf, bufsz, "our certificate is trusted only "
		    "through smtpd_tls_CAfile, not by the system store "
		    "(issuer %s): clients that do not have that CA refuse it "
		    "with 'unknown ca'", f->issuer);
	} else if (!f->system_trusted) {
		snprintf(buf, bufsz, "our certificate is not trusted by the "
		    "system store (%s; issuer %s): clients that verify "
		    "certificates refuse it with 'unknown ca'",
		    f->system_error[0] != '\0' ? f->system_error :
		    "does not verify", f->issuer);
	} else if (f->wrong_purpose) {
		snprintf(buf, bufsz, "our certificate is not meant for TLS "
		    "servers (its key usage or extended key usage lacks "
		    "serverAuth): clients refuse it with 'unsupported "
		    "certificate'");
	} else if (f->weak_signature) {
		snprintf(buf, bufsz, "our chain has a weak %s signature (on "
		    "%s): current clients refuse it", f->weak_signature_alg,
		    f->weak_signature_on);
	} else if (f->weak_key) {
		snprintf(buf, bufsz, "our certificate has a weak %s key of %d "
		    "bits: current clients may refuse it", f->key_type,
		    f->key_bits);
	} else if (f->chain_out_of_order) {
		snprintf(buf, bufsz, "our chain is out of order: some "
		    "clients refuse it; list our certificate first, then its "
		    "issuer, then that one's issuer");
	} else {
		return NULL;
	}
	return buf;
}
