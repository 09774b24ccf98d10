/* SPDX-License-Identifier: MIT */
/*
 * tls_cert - facts about a server certificate and its chain, in words a
 * person can act on.
 *
 * Used by `ostia check` (files named in main.cf and master.cf) and by
 * the SMTP server, which describes each certificate it loaded once at
 * start-up so that a client's "unknown ca" alert can be explained in the
 * log.  Everything works on in-memory OpenSSL objects; the file loader
 * is a separate step.
 *
 * Nothing here logs, and nothing ever prints or keeps key material: key
 * file contents are wiped from memory after parsing (the EVP_PKEY itself
 * is OpenSSL's).  Every function is safe to call without privileges and
 * touches no global state apart from OpenSSL's error queue, which is
 * left empty.
 */
#ifndef OSTIA_TLS_CERT_H
#define OSTIA_TLS_CERT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/* Largest certificate or key file read (a chain is a few KiB). */
#define TLS_CERT_FILE_MAX_BYTES (1024 * 1024)

/* RSA (and DSA) keys below this many bits are weak; EC below 224. */
#define TLS_CERT_MIN_RSA_BITS 2048
#define TLS_CERT_MIN_EC_BITS 224

struct tls_cert_facts {
	/* Names, one line each, "CN=mail.example.test, O=Example", with
	 * control and 8-bit bytes escaped; cut with "..." when too long. */
	char subject[256];
	char issuer[256];
	/* The DNS and IP subjectAltNames, or the CN when the certificate
	 * has no DNS subjectAltName, separated by ", "; escaped, cut with
	 * "..." when too long. */
	char names[512];
	time_t not_before, not_after;
	bool self_signed;	/* the leaf signed itself */
	bool expired;		/* now > not_after */
	bool not_yet_valid;	/* now < not_before */
	/*
	 * The chain served (leaf, then chain) stops at a certificate that
	 * is not self-signed and whose issuer is neither served nor a root
	 * (self-signed) in the system store or the CAfile: a client that
	 * does not happen to have that intermediate cannot verify.  Judged
	 * this way: the issuer is found in a store but is not a root
	 * (clients lack it); or it is found nowhere and the certificate
	 * that needs it is the leaf (public CAs never sign leaves with a
	 * root).  A chain that reaches an intermediate whose root is
	 * unknown here is complete but untrusted (see system_trusted).
	 */
	bool chain_incomplete;
	char missing_issuer[256];	/* subject of the missing certificate */
	char missing_for[256];		/* the certificate that needs it */
	/* The chain's certificates are served, but not each right after
	 * the one it signed (clients may refuse the chain). */
	bool chain_out_of_order;
	/* Certificates in the chain that are not on the leaf's path. */
	unsigned chain_unused;
	/*
	 * Verification (purpose TLS server, leaf time errors ignored: see
	 * expired) against OpenSSL's default store
	 * (X509_STORE_set_default_paths) and, separately, against the
	 * CAfile alone.  Both may be true.  system_error says why the
	 * system store did not verify ("" when it did).
	 */
	bool system_trusted;
	bool cafile_trusted;	/* false when no CAfile was given */
	char system_error[128];
	/* The leaf's key usage or extended key usage forbid a TLS server. */
	bool wrong_purpose;
	char key_type[16];	/* "RSA", "RSA-PSS", "EC", "ED25519", ... */
	int key_bits;
	bool weak_key;		/* RSA/DSA < 2048 bits, EC < 224 */
	/* MD5, SHA-1 (or worse) signature on the leaf or a served
	 * intermediate (a self-signed certificate's own signature does not
	 * count); the first such certificate and its algorithm. */
	bool weak_signature;
	char weak_signature_alg[64];	/* "sha1WithRSAEncryption" */
	char weak_signature_on[256];	/* subject of that certificate */
};

/*
 * Fill *out with the facts about leaf served with chain (the
 * certificates that follow the leaf, in served order; may be NULL or
 * empty).  cafile (may be NULL or "") is a PEM file of trusted
 * certificates (smtpd_tls_CAfile); now is the time to judge validity
 * at.  Neither leaf nor chain is modified or kept.
 *
 * Returns true; false only when the facts cannot be found (out of
 * memory in OpenSSL, an unreadable CAfile, a leaf without a public
 * key), with *err (errsz bytes) saying why; *out is then zeroed.  An
 * unreadable system store is not an error: system_trusted is false.
 */
bool tls_cert_facts_get(X509 *leaf, STACK_OF(X509) *chain,
    const char *cafile, time_t now, struct tls_cert_facts *out, char *err,
    size_t errsz);

/*
 * True when leaf is valid for hostname: a DNS name (wildcards match one
 * whole left-most label, as clients do; a trailing dot is ignored; the
 * CN counts only when there is no DNS subjectAltName), or an IP address
 * literal, bare or in brackets ("192.0.2.1", "[2001:db8::1]", also
 * "[IPv6:2001:db8::1]"), against the IP subjectAltNames.  False for NULL
 * or "".
 */
bool tls_cert_covers(X509 *leaf, const char *hostname);

/* True when key is the private key of leaf's public key. */
bool tls_cert_key_matches(X509 *leaf, EVP_PKEY *key);

/*
 * A certificate, its chain and its private key as loaded from files.
 * All owned by the struct: free with tls_cert_file_free().  key is NULL
 * only where the loader says so.
 */
struct tls_cert_file {
	X509 *leaf;
	STACK_OF(X509) *chain;	/* never NULL after a successful load */
	EVP_PKEY *key;
};

/*
 * Load certfile (PEM: the server certificate first, then its chain)
 * and the private key from keyfile (PEM, unencrypted; traditional or
 * PKCS#8).  keyfile NULL, "" or equal to certfile: the key is in
 * certfile, anywhere among the certificates (also the
 * smtpd_tls_chain_files form, key then certificate then chain).  A file
 * holding more than one key is refused here (see
 * tls_cert_chain_file_load).
 *
 * Returns true with *out filled, or false with *out zeroed and *err
 * naming the file and saying what is wrong ("cannot open: No such file
 * or directory", "no PEM certificate in it (a DER file? ...)", "the
 * private key is protected by a pass phrase ..."), with OpenSSL's reason
 * appended where it helps.  Files are read with TLS_CERT_FILE_MAX_BYTES
 * as the cap.  Whether the key matches the certificate is not checked
 * (tls_cert_key_matches).
 */
bool tls_cert_file_load(const char *certfile, const char *keyfile,
    struct tls_cert_file *out, char *err, size_t errsz);

/*
 * Load one file of smtpd_tls_chain_files: one or more sequences of a
 * private key followed by its certificate and chain (with a single key
 * in the file, the key may also come after the certificates).  Returns
 * true with *out_r a new array of *n_r (>= 1) entries (free with
 * tls_cert_file_free_array), or false with *err.
 */
bool tls_cert_chain_file_load(const char *path, struct tls_cert_file **out_r,
    size_t *n_r, char *err, size_t errsz);

/* Free what f holds and zero it; f may be NULL or already freed. */
void tls_cert_file_free(struct tls_cert_file *f);
/* Free an array from tls_cert_chain_file_load and set *fp to NULL. */
void tls_cert_file_free_array(struct tls_cert_file **fp, size_t n);

/*
 * One sentence for a person: the most likely reason why a client that
 * verifies certificates refuses ours, with the fix; NULL when nothing
 * is known to be wrong.  In order: expired, not yet valid, self-signed,
 * missing intermediate, trusted only through smtpd_tls_CAfile, not
 * trusted by the system store, not for TLS servers, weak signature,
 * weak key, chain out of order.  Examples:
 *   "our certificate is self-signed (CN=mail.example.test): clients that
 *    verify certificates refuse it with 'unknown ca'"
 *   "our chain lacks the intermediate certificate CN=Example CA (the
 *    issuer of CN=mail.example.test): add it after the certificate in
 *    smtpd_tls_cert_file"
 *   "our certificate expired on 2026-01-01 (CN=mail.example.test):
 *    clients refuse it with 'certificate expired'; renew it"
 * The text is written to buf (bufsz bytes, cut if needed) and buf is
 * returned.
 */
const char *tls_cert_trouble(const struct tls_cert_facts *f, char *buf,
    size_t bufsz);

/* "YYYY-MM-DD" (UTC) of t into buf (at least 11 bytes); returns buf. */
const char *tls_cert_date(time_t t, char *buf, size_t bufsz);
/* A name as the facts show it ("CN=x, O=y", escaped, cut); returns buf. */
const char *tls_cert_name(const X509_NAME *name, char *buf, size_t bufsz);

#endif
