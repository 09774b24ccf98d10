/* SPDX-License-Identifier: MIT */
/*
 * passwd - Dovecot-compatible password schemes; see passwd.h.
 *
 * Every stored value is taken apart by our own strict parsers before a
 * library sees it, so that the cost caps are checked on exactly the
 * numbers the computation then uses: argon2 is run through argon2_ctx()
 * with the parameters parsed here (never argon2_verify(), which would
 * parse the string again), crypt_rn() only gets formats whose cost
 * field was read here.
 */
#include <argon2.h>
#include <crypt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "compat.h"
#include "base64.h"
#include "passwd.h"
#include "xalloc.h"

enum scheme_kind {
	KIND_CRYPT,	/* crypt(3), any accepted format */
	KIND_BCRYPT,	/* crypt(3), bcrypt formats only */
	KIND_MD5CRYPT,	/* crypt(3), $1$ only */
	KIND_DIGEST,	/* digest(password) */
	KIND_SALTED,	/* digest(password . salt) . salt */
	KIND_ARGON2ID,
	KIND_ARGON2I,
	KIND_SCRAM,	/* iter,salt,StoredKey,ServerKey */
	KIND_PBKDF2,	/* $1$salt$rounds$hex, HMAC-SHA1 */
	KIND_PLAIN,
};

enum data_encoding {
	ENC_NONE,
	ENC_BASE64,
	ENC_HEX,
};

enum digest_alg {
	ALG_NONE,
	ALG_MD5,
	ALG_SHA1,
	ALG_SHA256,
	ALG_SHA512,
};

struct scheme {
	const char *name;
	enum scheme_kind kind;
	enum data_encoding enc;	/* data's form without a suffix */
	enum digest_alg alg;
};

static const struct scheme schemes[] = {
	{ "SHA512-CRYPT", KIND_CRYPT, ENC_NONE, ALG_NONE },
	{ "SHA256-CRYPT", KIND_CRYPT, ENC_NONE, ALG_NONE },
	{ "CRYPT", KIND_CRYPT, ENC_NONE, ALG_NONE },
	{ "DES-CRYPT", KIND_CRYPT, ENC_NONE, ALG_NONE },
	{ "BLF-CRYPT", KIND_BCRYPT, ENC_NONE, ALG_NONE },
	{ "MD5-CRYPT", KIND_MD5CRYPT, ENC_NONE, ALG_NONE },
	{ "MD5", KIND_MD5CRYPT, ENC_NONE, ALG_NONE },
	{ "SHA512", KIND_DIGEST, ENC_BASE64, ALG_SHA512 },
	{ "SHA256", KIND_DIGEST, ENC_BASE64, ALG_SHA256 },
	{ "SHA", KIND_DIGEST, ENC_BASE64, ALG_SHA1 },
	{ "SHA1", KIND_DIGEST, ENC_BASE64, ALG_SHA1 },
	{ "LDAP-MD5", KIND_DIGEST, ENC_BASE64, ALG_MD5 },
	{ "PLAIN-MD5", KIND_DIGEST, ENC_HEX, ALG_MD5 },
	{ "SSHA512", KIND_SALTED, ENC_BASE64, ALG_SHA512 },
	{ "SSHA256", KIND_SALTED, ENC_BASE64, ALG_SHA256 },
	{ "SSHA", KIND_SALTED, ENC_BASE64, ALG_SHA1 },
	{ "SMD5", KIND_SALTED, ENC_BASE64, ALG_MD5 },
	{ "ARGON2ID", KIND_ARGON2ID, ENC_NONE, ALG_NONE },
	{ "ARGON2I", KIND_ARGON2I, ENC_NONE, ALG_NONE },
	{ "SCRAM-SHA-256", KIND_SCRAM, ENC_NONE, ALG_SHA256 },
	{ "SCRAM-SHA-1", KIND_SCRAM, ENC_NONE, ALG_SHA1 },
	{ "PBKDF2", KIND_PBKDF2, ENC_NONE, ALG_SHA1 },
	{ "PLAIN", KIND_PLAIN, ENC_NONE, ALG_NONE },
	{ "CLEAR", KIND_PLAIN, ENC_NONE, ALG_NONE },
	{ "CLEARTEXT", KIND_PLAIN, ENC_NONE, ALG_NONE },
};

#define PASSWD_DEFAULT_LIMITS { 14, 1000000, 1000000, 262144, 16, 16, \
	1048576 }
static struct passwd_limits limits = PASSWD_DEFAULT_LIMITS;

/* Longest "{NAME.SUFFIX}" name looked at. */
#define SCHEME_TEXT_MAX 64
/* SHA-crypt: rounds when rounds= is absent, and libxcrypt's minimum. */
#define SHACRYPT_DEFAULT_ROUNDS 5000
#define SHACRYPT_MIN_ROUNDS 1000
/* argon2 bounds of our own (libargon2's minimums: salt 8, output 4). */
#define ARGON2_SALT_MIN 8
#define ARGON2_SALT_MAX 64
#define ARGON2_HASH_MIN 4
#define ARGON2_HASH_MAX 64
/* SCRAM and PBKDF2 salt bounds (Dovecot writes 16 bytes). */
#define KDF_SALT_MAX 128
/* Parameters of new ARGON2ID hashes (doveadm pw -s ARGON2ID's). */
#define NEW_ARGON2_T 3
#define NEW_ARGON2_M_KIB 65536
#define NEW_ARGON2_P 1
#define NEW_ARGON2_SALT 16
#define NEW_ARGON2_HASH 32
#define NEW_CRYPT_SALT_BYTES 16

/* A stored value taken apart by parse_stored(). */
struct parsed {
	const struct scheme *scheme;
	enum data_encoding enc;	/* encoding of data */
	bool explicit_enc;	/* given by a .HEX/.B64 suffix */
	const char *data;	/* the text after the prefix */
	char name[PASSWD_SCHEME_NAME_MAX];	/* canonical, with suffix */
};

static void seterr(char *err, size_t errsz, const char *fmt, ...)
    ATTR_FORMAT(3, 4);

/* seterr - format a message into err when there is one. */
static void
seterr(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errsz == 0)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
}

static const EVP_MD *
alg_md(enum digest_alg alg)
{
	switch (alg) {
	case ALG_MD5:
		return EVP_md5();
	case ALG_SHA1:
		return EVP_sha1();
	case ALG_SHA256:
		return EVP_sha256();
	case ALG_SHA512:
		return EVP_sha512();
	case ALG_NONE:
		break;
	}
	return NULL;
}

static size_t
alg_len(enum digest_alg alg)
{
	switch (alg) {
	case ALG_MD5:
		return 16;
	case ALG_SHA1:
		return 20;
	case ALG_SHA256:
		return 32;
	case ALG_SHA512:
		return 64;
	case ALG_NONE:
		break;
	}
	return 0;
}

/* is_itoa64 - a character of crypt's "./0-9A-Za-z" alphabet? */
static bool
is_itoa64(unsigned char c)
{
	return c == '.' || c == '/' || (c >= '0' && c <= '9') ||
	    (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* itoa64_index - position of c in "./0-9A-Za-z", or -1. */
static int
itoa64_index(unsigned char c)
{
	if (c == '.')
		return 0;
	if (c == '/')
		return 1;
	if (c >= '0' && c <= '9')
		return c - '0' + 2;
	if (c >= 'A' && c <= 'Z')
		return c - 'A' + 12;
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 38;
	return -1;
}

static size_t
span_itoa64(const char *s)
{
	size_t n = 0;

	while (is_itoa64((unsigned char)s[n]))
		n++;
	return n;
}

/*
 * parse_dec - read 1 to 10 decimal digits at *pp into *val_r and advance
 * *pp.  Returns false when there is no digit or more than 10.
 */
static bool
parse_dec(const char **pp, unsigned long long *val_r)
{
	const char *p = *pp;
	unsigned long long v = 0;
	size_t n = 0;

	while (*p >= '0' && *p <= '9') {
		if (++n > 10)
			return false;
		v = v * 10 + (unsigned long long)(*p - '0');
		p++;
	}
	if (n == 0)
		return false;
	*pp = p;
	*val_r = v;
	return true;
}

/*
 * b64_decode - standard-alphabet base64 (src/lib/base64.h) of n
 * characters into out (outsz bytes).  With padded, '=' padding as
 * needed (what Dovecot writes and accepts); without, none (libargon2's
 * form).  Returns the length, or -1.
 */
static long
b64_decode(const char *in, size_t n, bool padded, unsigned char *out,
    size_t outsz)
{
	return padded ? base64_decode(in, n, out, outsz) :
	    base64_decode_unpadded(in, n, out, outsz);
}

static int
hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* hex_decode - like b64_decode for hex (either case, even length). */
static long
hex_decode(const char *in, size_t n, unsigned char *out, size_t outsz)
{
	if (n % 2 != 0 || n / 2 > outsz)
		return -1;
	for (size_t i = 0; i < n; i += 2) {
		int hi = hex_value((unsigned char)in[i]);
		int lo = hex_value((unsigned char)in[i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i / 2] = (unsigned char)(hi << 4 | lo);
	}
	return (long)(n / 2);
}

static const struct scheme *
scheme_lookup(const char *name, size_t len)
{
	for (size_t i = 0; i < N_ELEMENTS(schemes); i++) {
		if (strlen(schemes[i].name) == len &&
		    strncasecmp(schemes[i].name, name, len) == 0)
			return &schemes[i];
	}
	return NULL;
}

static const struct scheme *
scheme_named(const char *name)
{
	return scheme_lookup(name, strlen(name));
}

/*
 * detect_scheme - the scheme of a value without "{...}", by its form;
 * NULL when it has none we know.
 */
static const struct scheme *
detect_scheme(const char *s)
{
	if (strncmp(s, "$6$", 3) == 0)
		return scheme_named("SHA512-CRYPT");
	if (strncmp(s, "$5$", 3) == 0)
		return scheme_named("SHA256-CRYPT");
	if (strncmp(s, "$2a$", 4) == 0 || strncmp(s, "$2b$", 4) == 0 ||
	    strncmp(s, "$2y$", 4) == 0)
		return scheme_named("BLF-CRYPT");
	if (strncmp(s, "$1$", 3) == 0)
		return scheme_named("MD5-CRYPT");
	if (strncmp(s, "$y$", 3) == 0)
		return scheme_named("CRYPT");
	if (strncmp(s, "$argon2id$", 10) == 0)
		return scheme_named("ARGON2ID");
	if (strncmp(s, "$argon2i$", 9) == 0)
		return scheme_named("ARGON2I");
	if (strlen(s) == 13 && span_itoa64(s) == 13)
		return scheme_named("CRYPT");
	return NULL;
}

static bool
is_name_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/*
 * parse_stored - find the scheme and encoding of stored.  Returns true
 * with *p filled, or false with err set (the message may name the
 * scheme when it is made of name characters only, nothing else).
 */
static bool
parse_stored(const char *stored, struct parsed *p, char *err, size_t errsz)
{
	const char *close, *dot;
	size_t namelen, baselen;

	memset(p, 0, sizeof(*p));
	if (stored[0] != '{') {
		p->scheme = detect_scheme(stored);
		if (p->scheme == NULL) {
			seterr(err, errsz, "no {SCHEME} prefix and not a "
			    "recognised hash format");
			return false;
		}
		p->enc = p->scheme->enc;
		p->data = stored;
		(void)snprintf(p->name, sizeof(p->name), "%s",
		    p->scheme->name);
		return true;
	}
	close = memchr(stored + 1, '}', strnlen(stored + 1,
	    SCHEME_TEXT_MAX + 1));
	if (close == NULL) {
		seterr(err, errsz, "malformed {SCHEME} prefix (no '}' within "
		    "%d characters)", SCHEME_TEXT_MAX);
		return false;
	}
	namelen = (size_t)(close - (stored + 1));
	dot = memchr(stored + 1, '.', namelen);
	baselen = dot != NULL ? (size_t)(dot - (stored + 1)) : namelen;
	for (size_t i = 1; i <= namelen; i++) {
		if (!is_name_char((unsigned char)stored[i]) &&
		    stored + i != dot) {
			seterr(err, errsz, "malformed {SCHEME} prefix (bad "
			    "character in the scheme name)");
			return false;
		}
	}
	if (baselen == 0) {
		seterr(err, errsz, "empty scheme name in {SCHEME} prefix");
		return false;
	}
	p->scheme = scheme_lookup(stored + 1, baselen);
	if (p->scheme == NULL) {
		seterr(err, errsz, "unknown password scheme {%.*s}",
		    (int)namelen, stored + 1);
		return false;
	}
	p->enc = p->scheme->enc;
	if (dot != NULL) {
		const char *suf = dot + 1;
		size_t suflen = namelen - baselen - 1;

		if (suflen == 3 && strncasecmp(suf, "HEX", 3) == 0)
			p->enc = ENC_HEX;
		else if ((suflen == 3 && strncasecmp(suf, "B64", 3) == 0) ||
		    (suflen == 6 && strncasecmp(suf, "BASE64", 6) == 0))
			p->enc = ENC_BASE64;
		else {
			seterr(err, errsz, "unknown encoding suffix in "
			    "{%.*s}", (int)namelen, stored + 1);
			return false;
		}
		p->explicit_enc = true;
		(void)snprintf(p->name, sizeof(p->name), "%s.%s",
		    p->scheme->name, p->enc == ENC_HEX ? "HEX" :
		    suflen == 3 ? "B64" : "BASE64");
	} else
		(void)snprintf(p->name, sizeof(p->name), "%s",
		    p->scheme->name);
	p->data = close + 1;
	return true;
}

/*
 * check_crypt - is s a crypt string of a format we accept (all of them
 * for KIND_CRYPT, bcrypt only for KIND_BCRYPT, MD5-crypt only for
 * KIND_MD5CRYPT), well formed and within the cost caps?  Only what
 * crypt_rn() will read is checked this closely; it does the rest.
 */
static bool
check_crypt(const char *s, enum scheme_kind kind, const char *name,
    char *err, size_t errsz)
{
	size_t len = strlen(s);
	bool is_bcrypt = strncmp(s, "$2a$", 4) == 0 ||
	    strncmp(s, "$2b$", 4) == 0 || strncmp(s, "$2y$", 4) == 0;
	bool is_md5 = strncmp(s, "$1$", 3) == 0;

	if (kind == KIND_BCRYPT && !is_bcrypt) {
		seterr(err, errsz, "%s hash is not in a bcrypt format ($2a$, "
		    "$2b$, $2y$)", name);
		return false;
	}
	if (kind == KIND_MD5CRYPT && !is_md5) {
		seterr(err, errsz, "%s hash does not start with $1$", name);
		return false;
	}
	if (is_bcrypt) {
		unsigned cost;

		/* $2b$NN$ + 22 characters of salt + 31 of hash. */
		if (len != 60 || s[4] < '0' || s[4] > '9' || s[5] < '0' ||
		    s[5] > '9' || s[6] != '$' || span_itoa64(s + 7) != 53)
			goto malformed;
		cost = (unsigned)(s[4] - '0') * 10 + (unsigned)(s[5] - '0');
		if (cost < 4 || cost > 31)
			goto malformed;
		if (cost > limits.bcrypt_max_cost) {
			seterr(err, errsz, "%s cost %u is over the limit %u",
			    name, cost, limits.bcrypt_max_cost);
			return false;
		}
		return true;
	}
	if (is_md5) {
		/* $1$ + salt (up to 8, no '$') + '$' + 22 characters. */
		const char *salt = s + 3, *end = strchr(salt, '$');

		if (end == NULL || end - salt > 8 ||
		    span_itoa64(end + 1) != 22 || end[23] != '\0')
			goto malformed;
		return true;
	}
	if (strncmp(s, "$5$", 3) == 0 || strncmp(s, "$6$", 3) == 0) {
		/* $6$ [rounds=N$] salt (up to 16) $ 86 (or 43) characters */
		const char *p = s + 3, *end;
		unsigned long long rounds = SHACRYPT_DEFAULT_ROUNDS;
		size_t hashlen = s[1] == '6' ? 86 : 43;

		if (strncmp(p, "rounds=", 7) == 0) {
			p += 7;
			if (*p == '0' || !parse_dec(&p, &rounds) ||
			    *p != '$' || rounds < SHACRYPT_MIN_ROUNDS)
				goto malformed;
			p++;
		}
		end = strchr(p, '$');
		if (end == NULL || end - p > 16)
			goto malformed;
		for (const char *q = p; q < end; q++) {
			if (*q <= ' ' || *q >= 0x7f || *q == ':')
				goto malformed;
		}
		if (span_itoa64(end + 1) != hashlen ||
		    end[1 + hashlen] != '\0')
			goto malformed;
		if (rounds > limits.shacrypt_max_rounds) {
			seterr(err, errsz, "%s rounds %llu are over the limit "
			    "%lu", name, rounds, limits.shacrypt_max_rounds);
			return false;
		}
		return true;
	}
	if (strncmp(s, "$y$", 3) == 0) {
		/*
		 * $y$ flavour N r $ salt $ 43 characters.  Each parameter
		 * is one character here (the values libxcrypt writes);
		 * longer encodings and the optional parameters that may
		 * follow r are not supported.  N = 2^(index + 1),
		 * r = index + 1; memory 128 * r * N bytes.
		 */
		int fl = itoa64_index((unsigned char)s[3]);
		int nl = fl < 0 ? -1 : itoa64_index((unsigned char)s[4]);
		int rl = nl < 0 ? -1 : itoa64_index((unsigned char)s[5]);
		const char *salt, *end;
		uint64_t kib;

		if (fl < 0 || nl < 0 || rl < 0 || s[6] != '$')
			goto malformed;
		if (fl > 47 || nl > 47 || rl > 47) {
			seterr(err, errsz, "%s: yescrypt parameters not "
			    "supported", name);
			return false;
		}
		salt = s + 7;
		end = strchr(salt, '$');
		if (end == NULL || end == salt ||
		    span_itoa64(salt) != (size_t)(end - salt) ||
		    span_itoa64(end + 1) != 43 || end[44] != '\0')
			goto malformed;
		/* 128 * r * 2^(nl + 1) bytes, in KiB; nl <= 47. */
		kib = ((uint64_t)(rl + 1) << (nl + 1)) / 8;
		if (kib > limits.memory_max_kib) {
			seterr(err, errsz, "%s: yescrypt memory over the "
			    "limit of %lu KiB", name, limits.memory_max_kib);
			return false;
		}
		return true;
	}
	if (len == 13 && span_itoa64(s) == 13)
		return true;	/* traditional DES */
	if (s[0] == '$' || s[0] == '_') {
		seterr(err, errsz, "%s: unsupported crypt format", name);
		return false;
	}
malformed:
	seterr(err, errsz, "malformed %s hash", name);
	return false;
}

/*
 * verify_crypt - crypt_rn(password, setting) compared with setting.
 * setting has passed check_crypt().
 */
static enum passwd_result
verify_crypt(const char *password, size_t pwlen, const char *setting,
    const char *name, char *err, size_t errsz)
{
	struct crypt_data *cd;
	char *copy;
	const char *res;
	enum passwd_result r;

	if (pwlen >= CRYPT_MAX_PASSPHRASE_SIZE) {
		seterr(err, errsz, "password too long for %s (%d bytes or "
		    "more)", name, CRYPT_MAX_PASSPHRASE_SIZE);
		return PASSWD_MISMATCH;
	}
	cd = xcalloc(1, sizeof(*cd));
	copy = xmalloc(pwlen + 1);
	memcpy(copy, password, pwlen);
	copy[pwlen] = '\0';
	res = crypt_rn(copy, setting, cd, (int)sizeof(*cd));
	if (res == NULL || res[0] == '*') {
		seterr(err, errsz, "crypt(3) refused the %s hash", name);
		r = PASSWD_BAD_HASH;
	} else {
		size_t n = strlen(setting);

		r = strlen(res) == n && CRYPTO_memcmp(res, setting, n) == 0 ?
		    PASSWD_MATCH : PASSWD_MISMATCH;
	}
	OPENSSL_cleanse(cd, sizeof(*cd));
	OPENSSL_cleanse(copy, pwlen + 1);
	free(cd);
	free(copy);
	return r;
}

/*
 * verify_digest - raw is digest (KIND_DIGEST) or digest . salt
 * (KIND_SALTED, salt at least one byte).
 */
static enum passwd_result
verify_digest(const struct scheme *sc, const char *password, size_t pwlen,
    const unsigned char *raw, size_t rawlen, const char *name, char *err,
    size_t errsz)
{
	const EVP_MD *md = alg_md(sc->alg);
	size_t dlen = alg_len(sc->alg);
	unsigned char out[EVP_MAX_MD_SIZE];
	unsigned int outlen = 0;
	EVP_MD_CTX *ctx;
	int ok;
	enum passwd_result r;

	if (sc->kind == KIND_DIGEST && rawlen != dlen) {
		seterr(err, errsz, "malformed %s hash (%zu bytes instead of "
		    "%zu)", name, rawlen, dlen);
		return PASSWD_BAD_HASH;
	}
	if (sc->kind == KIND_SALTED && rawlen <= dlen) {
		seterr(err, errsz, "malformed %s hash (too short for a "
		    "digest and a salt)", name);
		return PASSWD_BAD_HASH;
	}
	ctx = EVP_MD_CTX_new();
	ok = ctx != NULL && EVP_DigestInit_ex(ctx, md, NULL) == 1 &&
	    EVP_DigestUpdate(ctx, password, pwlen) == 1 &&
	    (sc->kind != KIND_SALTED ||
	    EVP_DigestUpdate(ctx, raw + dlen, rawlen - dlen) == 1) &&
	    EVP_DigestFinal_ex(ctx, out, &outlen) == 1 && outlen == dlen;
	EVP_MD_CTX_free(ctx);
	if (!ok) {
		seterr(err, errsz, "internal error: %s digest failed", name);
		r = PASSWD_BAD_HASH;
	} else
		r = CRYPTO_memcmp(out, raw, dlen) == 0 ? PASSWD_MATCH :
		    PASSWD_MISMATCH;
	OPENSSL_cleanse(out, sizeof(out));
	return r;
}

/* verify_plain - constant-time comparison of the two strings' digests. */
static enum passwd_result
verify_plain(const char *password, size_t pwlen, const unsigned char *raw,
    size_t rawlen, char *err, size_t errsz)
{
	unsigned char a[64], b[64];
	bool ok;
	enum passwd_result r;

	ok = EVP_Digest(password, pwlen, a, NULL, EVP_sha512(), NULL) == 1 &&
	    EVP_Digest(raw, rawlen, b, NULL, EVP_sha512(), NULL) == 1;
	if (!ok) {
		seterr(err, errsz, "internal error: digest failed");
		r = PASSWD_BAD_HASH;
	} else
		r = ((CRYPTO_memcmp(a, b, sizeof(a)) == 0) &
		    (pwlen == rawlen)) ? PASSWD_MATCH : PASSWD_MISMATCH;
	OPENSSL_cleanse(a, sizeof(a));
	OPENSSL_cleanse(b, sizeof(b));
	return r;
}

/*
 * verify_argon2 - "$argon2id$[v=19$]m=M,t=T,p=P$salt$hash" (or argon2i),
 * salt and hash base64 without padding.  Recomputed with argon2_ctx() on
 * the parameters parsed and capped here.
 */
static enum passwd_result
verify_argon2(argon2_type type, const char *text, const char *password,
    size_t pwlen, const char *name, char *err, size_t errsz)
{
	const char *tag = type == Argon2_id ? "$argon2id$" : "$argon2i$";
	const char *p = text, *salt_end;
	unsigned long long version = ARGON2_VERSION_10, m, t, par;
	unsigned char salt[ARGON2_SALT_MAX], want[ARGON2_HASH_MAX];
	unsigned char got[ARGON2_HASH_MAX];
	long saltlen, hashlen;
	argon2_context ctx;
	uint8_t *copy;
	int rc;
	enum passwd_result r;

	if (strncmp(p, tag, strlen(tag)) != 0) {
		seterr(err, errsz, "%s hash does not start with %s", name,
		    tag);
		return PASSWD_BAD_HASH;
	}
	p += strlen(tag);
	if (strncmp(p, "v=", 2) == 0) {
		p += 2;
		if (!parse_dec(&p, &version) || *p != '$' ||
		    (version != ARGON2_VERSION_10 &&
		    version != ARGON2_VERSION_13))
			goto malformed;
		p++;
	}
	if (strncmp(p, "m=", 2) != 0)
		goto malformed;
	p += 2;
	if (!parse_dec(&p, &m) || strncmp(p, ",t=", 3) != 0)
		goto malformed;
	p += 3;
	if (!parse_dec(&p, &t) || strncmp(p, ",p=", 3) != 0)
		goto malformed;
	p += 3;
	if (!parse_dec(&p, &par) || *p != '$')
		goto malformed;
	p++;
	salt_end = strchr(p, '$');
	if (salt_end == NULL)
		goto malformed;
	saltlen = b64_decode(p, (size_t)(salt_end - p), false, salt,
	    sizeof(salt));
	hashlen = b64_decode(salt_end + 1, strlen(salt_end + 1), false, want,
	    sizeof(want));
	if (saltlen < ARGON2_SALT_MIN || hashlen < ARGON2_HASH_MIN)
		goto malformed;
	if (t < 1 || par < 1 || m < 8 * par)
		goto malformed;
	if (m > limits.memory_max_kib || t > limits.argon2_max_t ||
	    par > limits.argon2_max_p || m * t > limits.argon2_max_m_times_t) {
		seterr(err, errsz, "%s parameters over the limits (m <= %lu "
		    "KiB, t <= %lu, p <= %lu, m * t <= %lu)", name,
		    limits.memory_max_kib, limits.argon2_max_t,
		    limits.argon2_max_p, limits.argon2_max_m_times_t);
		return PASSWD_BAD_HASH;
	}
	copy = xmalloc(pwlen + 1);
	memcpy(copy, password, pwlen);
	memset(&ctx, 0, sizeof(ctx));
	ctx.out = got;
	ctx.outlen = (uint32_t)hashlen;
	ctx.pwd = copy;
	ctx.pwdlen = (uint32_t)pwlen;
	ctx.salt = salt;
	ctx.saltlen = (uint32_t)saltlen;
	ctx.t_cost = (uint32_t)t;
	ctx.m_cost = (uint32_t)m;
	ctx.lanes = (uint32_t)par;
	ctx.threads = 1;
	ctx.version = (uint32_t)version;
	ctx.flags = ARGON2_DEFAULT_FLAGS;
	rc = argon2_ctx(&ctx, type);
	if (rc != ARGON2_OK) {
		seterr(err, errsz, "%s: argon2 failed: %s", name,
		    argon2_error_message(rc));
		r = PASSWD_BAD_HASH;
	} else
		r = CRYPTO_memcmp(got, want, (size_t)hashlen) == 0 ?
		    PASSWD_MATCH : PASSWD_MISMATCH;
	OPENSSL_cleanse(copy, pwlen + 1);
	OPENSSL_cleanse(got, sizeof(got));
	free(copy);
	return r;
malformed:
	seterr(err, errsz, "malformed %s hash", name);
	return PASSWD_BAD_HASH;
}

/*
 * verify_scram - "iter,salt,StoredKey,ServerKey" (RFC 5802 3):
 * SaltedPassword = PBKDF2-HMAC(password, salt, iter), ClientKey =
 * HMAC(SaltedPassword, "Client Key"), StoredKey = H(ClientKey),
 * ServerKey = HMAC(SaltedPassword, "Server Key"); both keys must match.
 */
static enum passwd_result
verify_scram(const struct scheme *sc, const char *text, const char *password,
    size_t pwlen, const char *name, char *err, size_t errsz)
{
	const EVP_MD *md = alg_md(sc->alg);
	size_t dlen = alg_len(sc->alg);
	const char *p = text, *f2, *f3;
	unsigned long long iter;
	unsigned char salt[KDF_SALT_MAX];
	unsigned char stored_key[EVP_MAX_MD_SIZE], server_key[EVP_MAX_MD_SIZE];
	unsigned char salted[EVP_MAX_MD_SIZE], client_key[EVP_MAX_MD_SIZE];
	unsigned char my_stored[EVP_MAX_MD_SIZE], my_server[EVP_MAX_MD_SIZE];
	unsigned int len1 = 0, len2 = 0;
	long saltlen;
	bool ok;
	enum passwd_result r;

	if (*p == '0' || !parse_dec(&p, &iter) || *p != ',')
		goto malformed;
	p++;
	f2 = strchr(p, ',');
	if (f2 == NULL)
		goto malformed;
	f3 = strchr(f2 + 1, ',');
	if (f3 == NULL || strchr(f3 + 1, ',') != NULL)
		goto malformed;
	saltlen = b64_decode(p, (size_t)(f2 - p), true, salt, sizeof(salt));
	if (saltlen < 1 ||
	    b64_decode(f2 + 1, (size_t)(f3 - f2 - 1), true, stored_key,
	    sizeof(stored_key)) != (long)dlen ||
	    b64_decode(f3 + 1, strlen(f3 + 1), true, server_key,
	    sizeof(server_key)) != (long)dlen)
		goto malformed;
	if (iter > limits.pbkdf2_max_rounds) {
		seterr(err, errsz, "%s iterations %llu are over the limit "
		    "%lu", name, iter, limits.pbkdf2_max_rounds);
		return PASSWD_BAD_HASH;
	}
	ok = PKCS5_PBKDF2_HMAC(password, (int)pwlen, salt, (int)saltlen,
	    (int)iter, md, (int)dlen, salted) == 1 &&
	    HMAC(md, salted, (int)dlen, (const unsigned char *)"Client Key",
	    10, client_key, &len1) != NULL && len1 == dlen &&
	    EVP_Digest(client_key, dlen, my_stored, NULL, md, NULL) == 1 &&
	    HMAC(md, salted, (int)dlen, (const unsigned char *)"Server Key",
	    10, my_server, &len2) != NULL && len2 == dlen;
	if (!ok) {
		seterr(err, errsz, "internal error: %s computation failed",
		    name);
		r = PASSWD_BAD_HASH;
	} else
		r = (CRYPTO_memcmp(my_stored, stored_key, dlen) |
		    CRYPTO_memcmp(my_server, server_key, dlen)) == 0 ?
		    PASSWD_MATCH : PASSWD_MISMATCH;
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(client_key, sizeof(client_key));
	OPENSSL_cleanse(my_stored, sizeof(my_stored));
	OPENSSL_cleanse(my_server, sizeof(my_server));
	return r;
malformed:
	seterr(err, errsz, "malformed %s hash", name);
	return PASSWD_BAD_HASH;
}

/*
 * verify_pbkdf2 - Dovecot's PBKDF2: "$1$salt$rounds$hex", the salt used
 * as it is written, PBKDF2-HMAC-SHA1 with a 20-byte result.
 */
static enum passwd_result
verify_pbkdf2(const char *text, const char *password, size_t pwlen,
    const char *name, char *err, size_t errsz)
{
	const char *salt, *salt_end, *p;
	unsigned long long rounds;
	unsigned char want[20], got[20];
	enum passwd_result r;

	if (strncmp(text, "$1$", 3) != 0)
		goto malformed;
	salt = text + 3;
	salt_end = strchr(salt, '$');
	if (salt_end == NULL || salt_end == salt ||
	    salt_end - salt > KDF_SALT_MAX)
		goto malformed;
	p = salt_end + 1;
	if (*p == '0' || !parse_dec(&p, &rounds) || *p != '$')
		goto malformed;
	p++;
	if (strlen(p) != 40 || hex_decode(p, 40, want, sizeof(want)) != 20)
		goto malformed;
	if (rounds > limits.pbkdf2_max_rounds) {
		seterr(err, errsz, "%s rounds %llu are over the limit %lu",
		    name, rounds, limits.pbkdf2_max_rounds);
		return PASSWD_BAD_HASH;
	}
	if (PKCS5_PBKDF2_HMAC(password, (int)pwlen,
	    (const unsigned char *)salt, (int)(salt_end - salt), (int)rounds,
	    EVP_sha1(), (int)sizeof(got), got) != 1) {
		seterr(err, errsz, "internal error: %s computation failed",
		    name);
		r = PASSWD_BAD_HASH;
	} else
		r = CRYPTO_memcmp(got, want, sizeof(got)) == 0 ?
		    PASSWD_MATCH : PASSWD_MISMATCH;
	OPENSSL_cleanse(got, sizeof(got));
	return r;
malformed:
	seterr(err, errsz, "malformed %s hash", name);
	return PASSWD_BAD_HASH;
}

/*
 * decode_data - the bytes of p->data: as they are (ENC_NONE), or
 * decoded from hex or base64.  For fixed-size digests without a suffix
 * the encoding is guessed by length as Dovecot does: twice the digest
 * size is hex (base64 if it is not valid hex), anything else base64.
 * Writes at most PASSWD_MAX_STORED_BYTES bytes and a NUL to raw.
 * Returns the length or -1 with err set.
 */
static long
decode_data(const struct parsed *p, unsigned char *raw, char *err,
    size_t errsz)
{
	size_t n = strlen(p->data);
	enum data_encoding enc = p->enc;
	long len = -1;

	if (p->scheme->kind == KIND_DIGEST && !p->explicit_enc)
		enc = n == 2 * alg_len(p->scheme->alg) ? ENC_HEX : ENC_BASE64;
	if (enc == ENC_HEX) {
		len = hex_decode(p->data, n, raw, PASSWD_MAX_STORED_BYTES);
		/* A guessed encoding may be base64 after all. */
		if (len < 0 && !p->explicit_enc)
			enc = ENC_BASE64;
	}
	if (enc == ENC_BASE64)
		len = b64_decode(p->data, n, true, raw,
		    PASSWD_MAX_STORED_BYTES);
	else if (enc == ENC_NONE) {
		memcpy(raw, p->data, n);
		len = (long)n;
	}
	if (len < 0) {
		seterr(err, errsz, "malformed %s hash (not valid %s)",
		    p->name, enc == ENC_HEX ? "hex" : "base64");
		return -1;
	}
	raw[len] = '\0';
	return len;
}

static bool
is_text_kind(enum scheme_kind kind)
{
	return kind != KIND_DIGEST && kind != KIND_SALTED &&
	    kind != KIND_PLAIN;
}

enum passwd_result
passwd_verify(const char *password, size_t pwlen, const char *stored,
    bool *plain_r, char *err, size_t errsz)
{
	unsigned char raw[PASSWD_MAX_STORED_BYTES + 1];
	const char *text = (const char *)raw;
	struct parsed p;
	long rawlen;
	enum passwd_result r = PASSWD_BAD_HASH;

	if (plain_r != NULL)
		*plain_r = false;
	if (stored == NULL) {
		seterr(err, errsz, "no stored hash");
		return PASSWD_BAD_HASH;
	}
	if (strnlen(stored, PASSWD_MAX_STORED_BYTES + 1) >
	    PASSWD_MAX_STORED_BYTES) {
		seterr(err, errsz, "stored hash longer than %d bytes",
		    PASSWD_MAX_STORED_BYTES);
		return PASSWD_BAD_HASH;
	}
	if (!parse_stored(stored, &p, err, errsz))
		return PASSWD_BAD_HASH;
	if (plain_r != NULL)
		*plain_r = p.scheme->kind == KIND_PLAIN;
	if (pwlen > PASSWD_MAX_PASSWORD_BYTES) {
		seterr(err, errsz, "password longer than %d bytes",
		    PASSWD_MAX_PASSWORD_BYTES);
		return PASSWD_MISMATCH;
	}
	if (password == NULL) {
		if (pwlen != 0)
			return PASSWD_MISMATCH;
		password = "";
	}
	if (memchr(password, '\0', pwlen) != NULL) {
		seterr(err, errsz, "password contains a NUL byte");
		return PASSWD_MISMATCH;
	}
	rawlen = decode_data(&p, raw, err, errsz);
	if (rawlen < 0)
		goto out;
	if (is_text_kind(p.scheme->kind) &&
	    strlen(text) != (size_t)rawlen) {
		seterr(err, errsz, "malformed %s hash (NUL byte in the "
		    "decoded data)", p.name);
		goto out;
	}
	switch (p.scheme->kind) {
	case KIND_CRYPT:
	case KIND_BCRYPT:
	case KIND_MD5CRYPT:
		if (check_crypt(text, p.scheme->kind, p.name, err, errsz))
			r = verify_crypt(password, pwlen, text, p.name, err,
			    errsz);
		break;
	case KIND_DIGEST:
	case KIND_SALTED:
		r = verify_digest(p.scheme, password, pwlen, raw,
		    (size_t)rawlen, p.name, err, errsz);
		break;
	case KIND_ARGON2ID:
		r = verify_argon2(Argon2_id, text, password, pwlen, p.name,
		    err, errsz);
		break;
	case KIND_ARGON2I:
		r = verify_argon2(Argon2_i, text, password, pwlen, p.name,
		    err, errsz);
		break;
	case KIND_SCRAM:
		r = verify_scram(p.scheme, text, password, pwlen, p.name, err,
		    errsz);
		break;
	case KIND_PBKDF2:
		r = verify_pbkdf2(text, password, pwlen, p.name, err, errsz);
		break;
	case KIND_PLAIN:
		r = verify_plain(password, pwlen, raw, (size_t)rawlen, err,
		    errsz);
		break;
	}
out:
	OPENSSL_cleanse(raw, sizeof(raw));
	return r;
}

/* hash_sha512_crypt - "{SHA512-CRYPT}$6$salt$hash", default rounds. */
static char *
hash_sha512_crypt(const char *password, size_t pwlen, char *err,
    size_t errsz)
{
	unsigned char rb[NEW_CRYPT_SALT_BYTES];
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd;
	char *copy, *out = NULL;
	const char *res;

	if (pwlen >= CRYPT_MAX_PASSPHRASE_SIZE) {
		seterr(err, errsz, "password too long for SHA512-CRYPT (%d "
		    "bytes or more)", CRYPT_MAX_PASSPHRASE_SIZE);
		return NULL;
	}
	if (RAND_bytes(rb, (int)sizeof(rb)) != 1) {
		seterr(err, errsz, "no random bytes for the salt");
		return NULL;
	}
	if (crypt_gensalt_rn("$6$", 0, (const char *)rb, (int)sizeof(rb),
	    setting, (int)sizeof(setting)) == NULL) {
		seterr(err, errsz, "crypt_gensalt_rn failed");
		return NULL;
	}
	cd = xcalloc(1, sizeof(*cd));
	copy = xmalloc(pwlen + 1);
	memcpy(copy, password, pwlen);
	copy[pwlen] = '\0';
	res = crypt_rn(copy, setting, cd, (int)sizeof(*cd));
	if (res == NULL || res[0] == '*')
		seterr(err, errsz, "crypt(3) failed to make a SHA512-CRYPT "
		    "hash");
	else
		out = xasprintf("{SHA512-CRYPT}%s", res);
	OPENSSL_cleanse(cd, sizeof(*cd));
	OPENSSL_cleanse(copy, pwlen + 1);
	free(cd);
	free(copy);
	return out;
}

/* hash_argon2id - "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$salt$hash". */
static char *
hash_argon2id(const char *password, size_t pwlen, char *err, size_t errsz)
{
	unsigned char salt[NEW_ARGON2_SALT], hash[NEW_ARGON2_HASH];
	size_t enclen;
	char *enc, *out = NULL;
	int rc;

	if (RAND_bytes(salt, (int)sizeof(salt)) != 1) {
		seterr(err, errsz, "no random bytes for the salt");
		return NULL;
	}
	enclen = argon2_encodedlen(NEW_ARGON2_T, NEW_ARGON2_M_KIB,
	    NEW_ARGON2_P, sizeof(salt), sizeof(hash), Argon2_id);
	enc = xmalloc(enclen);
	rc = argon2_hash(NEW_ARGON2_T, NEW_ARGON2_M_KIB, NEW_ARGON2_P,
	    password, pwlen, salt, sizeof(salt), hash, sizeof(hash), enc,
	    enclen, Argon2_id, ARGON2_VERSION_13);
	if (rc != ARGON2_OK)
		seterr(err, errsz, "argon2 failed: %s",
		    argon2_error_message(rc));
	else
		out = xasprintf("{ARGON2ID}%s", enc);
	OPENSSL_cleanse(hash, sizeof(hash));
	OPENSSL_cleanse(enc, enclen);
	free(enc);
	return out;
}

char *
passwd_hash(const char *scheme, const char *password, size_t pwlen,
    char *err, size_t errsz)
{
	char verr[256];
	char *out;

	if (scheme == NULL)
		scheme = "SHA512-CRYPT";
	if (password == NULL && pwlen != 0) {
		seterr(err, errsz, "no password");
		return NULL;
	}
	if (password == NULL)
		password = "";
	if (pwlen > PASSWD_MAX_PASSWORD_BYTES) {
		seterr(err, errsz, "password longer than %d bytes",
		    PASSWD_MAX_PASSWORD_BYTES);
		return NULL;
	}
	if (memchr(password, '\0', pwlen) != NULL) {
		seterr(err, errsz, "password contains a NUL byte");
		return NULL;
	}
	if (strcasecmp(scheme, "SHA512-CRYPT") == 0)
		out = hash_sha512_crypt(password, pwlen, err, errsz);
	else if (strcasecmp(scheme, "ARGON2ID") == 0)
		out = hash_argon2id(password, pwlen, err, errsz);
	else {
		seterr(err, errsz, "new passwords can only be stored as "
		    "SHA512-CRYPT or ARGON2ID");
		return NULL;
	}
	if (out == NULL)
		return NULL;
	/* As doveadm pw does: the new hash must verify. */
	if (passwd_verify(password, pwlen, out, NULL, verr, sizeof(verr)) !=
	    PASSWD_MATCH) {
		seterr(err, errsz, "internal error: the new hash does not "
		    "verify");
		OPENSSL_cleanse(out, strlen(out));
		free(out);
		return NULL;
	}
	return out;
}

const char *
passwd_scheme_of(const char *stored, char *buf, size_t bufsz)
{
	struct parsed p;
	size_t n;

	if (stored == NULL || buf == NULL ||
	    strnlen(stored, PASSWD_MAX_STORED_BYTES + 1) >
	    PASSWD_MAX_STORED_BYTES || !parse_stored(stored, &p, NULL, 0))
		return NULL;
	n = strlen(p.name);
	if (n >= bufsz)
		return NULL;
	memcpy(buf, p.name, n + 1);
	return buf;
}

void
passwd_get_limits(struct passwd_limits *l)
{
	*l = limits;
}

void
passwd_set_limits(const struct passwd_limits *l)
{
	limits = *l;
}
