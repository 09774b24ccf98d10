/* SPDX-License-Identifier: MIT */
/*
 * check_tls - the TLS part of `ostia check [--live]`: the certificates
 * of every smtpd service with TLS on, and with --live what the running
 * listeners actually serve.
 *
 * For each smtpd service of master.cf whose view (main.cf plus its -o)
 * turns TLS on (smtpd_tls_security_level may or encrypt, the legacy
 * smtpd_use_tls / smtpd_enforce_tls when the level is not set, or
 * smtpd_tls_wrappermode), each configured certificate is checked once,
 * however many services use it: readable, key matches, chain complete
 * and in order, trusted by the system store, validity dates, myhostname
 * among its names, key and signature strength.  The same for the files
 * of tls_server_sni_maps (tls_sni.h), each against its SNI name.  The smtpd TLS setup
 * itself (tls_server_create: protocol and cipher settings...) is tried
 * for each service too, so that what would stop smtpd is said here.
 *
 * --live connects from this machine to every inet listener of those
 * services (implicit TLS with smtpd_tls_wrappermode, else EHLO and
 * STARTTLS), completes a handshake without verifying, then reports the
 * protocol, cipher and chain served, whether that chain verifies against
 * the system store, and whether AUTH was offered before TLS where
 * smtpd_tls_auth_only forbids it.  Blocking sockets with 10 s timeouts.
 *
 * The report goes to standard output, for a person.  Runs as whoever
 * runs `ostia check` (root, to read the keys); never prints key
 * material.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "check_report.h"
#include "cli.h"
#include "config.h"
#include "log.h"
#include "master_pid.h"
#include "strnum.h"
#include "strv.h"
#include "tls_cert.h"
#include "tls_server.h"
#include "tls_sni.h"
#include "xalloc.h"

/* Certificates expiring sooner than this many days get a warning. */
#define CHECK_TLS_EXPIRY_WARN_DAYS 30
/* Socket timeouts of --live, seconds. */
#define CHECK_TLS_LIVE_TIMEOUT 10
/* Longest SMTP reply line and most lines of one reply read by --live. */
#define LIVE_LINE_MAX 1000
#define LIVE_REPLY_LINES_MAX 100

/* ---------------------------------------------------------------- services */

enum svc_tls {
	SVC_TLS_OFF,
	SVC_TLS_MAY,
	SVC_TLS_ENCRYPT,
};

/*
 * svc_tls_mode - what TLS the service view asks for; *why_r: the
 * setting that says so (static text).  Like smtpd: the legacy booleans
 * count only while smtpd_tls_security_level is not set.
 */
static enum svc_tls
svc_tls_mode(const struct config_view *v, bool *wrapper_r, const char **why_r)
{
	const char *origin = NULL;
	const char *raw = config_raw(v, "smtpd_tls_security_level", &origin);
	const char *lvl = config_str(v, P_smtpd_tls_security_level);
	enum svc_tls mode = SVC_TLS_OFF;

	*wrapper_r = config_bool(v, P_smtpd_tls_wrappermode);
	*why_r = NULL;
	if (raw == NULL || raw[0] == '\0' || origin == NULL ||
	    strcmp(origin, "default") == 0) {
		if (config_bool(v, P_smtpd_enforce_tls)) {
			*why_r = "smtpd_enforce_tls = yes";
			mode = SVC_TLS_ENCRYPT;
		} else if (config_bool(v, P_smtpd_use_tls)) {
			*why_r = "smtpd_use_tls = yes";
			mode = SVC_TLS_MAY;
		}
	}
	if (mode == SVC_TLS_OFF && strcasecmp(lvl, "encrypt") == 0) {
		*why_r = "smtpd_tls_security_level = encrypt";
		mode = SVC_TLS_ENCRYPT;
	} else if (mode == SVC_TLS_OFF && strcasecmp(lvl, "may") == 0) {
		*why_r = "smtpd_tls_security_level = may";
		mode = SVC_TLS_MAY;
	}
	if (*wrapper_r) {
		*why_r = "smtpd_tls_wrappermode = yes";
		if (mode == SVC_TLS_OFF)
			mode = SVC_TLS_ENCRYPT;
	}
	return mode;
}

/* One TLS-enabled smtpd service. */
struct tls_svc {
	size_t index;		/* in master.cf */
	const struct master_service *ms;
	const struct config_view *v;
	enum svc_tls mode;
	bool wrapper;
	bool file_errors;	/* one of its certificates had an error */
	const char *why;
};

/*
 * One certificate file (with its key file) to check, however many
 * services and settings name it: each name it must cover is checked.
 */
struct cert_unit {
	char *cert;
	char *key;		/* NULL: chain file form (key in cert) */
	char *cafile;
	struct strv params;	/* "smtpd_tls_cert_file", ... */
	struct strv name_kinds;	/* "myhostname" or "SNI name" ... */
	struct strv names;	/* ... and the name, pairwise */
	struct strv services;	/* names of the services using it */
	size_t *svc_idx;	/* their indexes in the tls_svc array */
	size_t nsvc;
};

struct units {
	struct cert_unit *v;
	size_t n;
};

static bool
same_str(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	    (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool
strv_has(const struct strv *sv, const char *s)
{
	for (size_t i = 0; i < sv->n; i++)
		if (strcmp(sv->v[i], s) == 0)
			return true;
	return false;
}

/*
 * add_unit - the unit for these files, new or shared; records the
 * setting, the service and the name (kind "myhostname" or "SNI name";
 * name may be "") it must cover.
 */
static void
add_unit(struct units *u, const char *param, const char *cert,
    const char *key, const char *cafile, const char *kind, const char *name,
    const struct tls_svc *svc, size_t svc_i)
{
	struct cert_unit *c = NULL;
	bool have_name = false;

	for (size_t i = 0; i < u->n; i++) {
		struct cert_unit *x = &u->v[i];

		if (same_str(x->cert, cert) && same_str(x->key, key) &&
		    same_str(x->cafile, cafile)) {
			c = x;
			break;
		}
	}
	if (c == NULL) {
		u->v = xreallocarray(u->v, u->n + 1, sizeof(*u->v));
		c = &u->v[u->n++];
		memset(c, 0, sizeof(*c));
		c->cert = xstrdup(cert);
		c->key = key != NULL ? xstrdup(key) : NULL;
		c->cafile = xstrdup(cafile);
		strv_init(&c->params);
		strv_init(&c->name_kinds);
		strv_init(&c->names);
		strv_init(&c->services);
	}
	if (!strv_has(&c->params, param))
		strv_add(&c->params, param);
	for (size_t i = 0; i < c->names.n; i++)
		if (strcmp(c->names.v[i], name) == 0 &&
		    strcmp(c->name_kinds.v[i], kind) == 0)
			have_name = true;
	if (!have_name && name[0] != '\0') {
		strv_add(&c->name_kinds, kind);
		strv_add(&c->names, name);
	}
	for (size_t i = 0; i < c->nsvc; i++)
		if (c->svc_idx[i] == svc_i)
			return;
	strv_add(&c->services, svc->ms->name);
	c->svc_idx = xreallocarray(c->svc_idx, c->nsvc + 1,
	    sizeof(*c->svc_idx));
	c->svc_idx[c->nsvc++] = svc_i;
}

static void
units_free(struct units *u)
{
	for (size_t i = 0; i < u->n; i++) {
		free(u->v[i].cert);
		free(u->v[i].key);
		free(u->v[i].cafile);
		strv_deinit(&u->v[i].params);
		strv_deinit(&u->v[i].name_kinds);
		strv_deinit(&u->v[i].names);
		strv_deinit(&u->v[i].services);
		free(u->v[i].svc_idx);
	}
	free(u->v);
	u->v = NULL;
	u->n = 0;
}

/* join - the strings of sv separated by ", " (caller frees). */
static char *
join(const struct strv *sv)
{
	size_t len = 1;
	char *out;

	for (size_t i = 0; i < sv->n; i++)
		len += strlen(sv->v[i]) + 2;
	out = xmalloc(len);
	out[0] = '\0';
	len = 0;
	for (size_t i = 0; i < sv->n; i++) {
		size_t l = strlen(sv->v[i]);

		if (i > 0) {
			memcpy(out + len, ", ", 2);
			len += 2;
		}
		memcpy(out + len, sv->v[i], l);
		len += l;
	}
	out[len] = '\0';
	return out;
}

static const char *
mode_text(const struct tls_svc *s)
{
	if (s->wrapper)
		return "implicit TLS";
	return s->mode == SVC_TLS_ENCRYPT ? "STARTTLS required" :
	    "STARTTLS offered";
}

/*
 * collect_units - the certificates of service s, as smtpd loads them:
 * smtpd_tls_chain_files when set (the others are then ignored), else
 * the RSA and the ECDSA pair; plus those of tls_server_sni_maps.  False
 * when it has no default certificate.  A table that cannot be read is
 * an error (and marks the service).
 */
static bool
collect_units(struct units *u, struct tls_svc *s, size_t si,
    struct check_report *r)
{
	char **chains = config_list(s->v, P_smtpd_tls_chain_files);
	char **sni = config_list(s->v, P_tls_server_sni_maps);
	const char *cert = config_str(s->v, P_smtpd_tls_cert_file);
	const char *key = config_str(s->v, P_smtpd_tls_key_file);
	const char *eccert = config_str(s->v, P_smtpd_tls_eccert_file);
	const char *eckey = config_str(s->v, P_smtpd_tls_eckey_file);
	const char *cafile = config_str(s->v, P_smtpd_tls_CAfile);
	const char *host = config_str(s->v, P_myhostname);
	bool any = false;

	if (chains[0] != NULL) {
		for (size_t i = 0; chains[i] != NULL; i++)
			add_unit(u, "smtpd_tls_chain_files", chains[i], NULL,
			    cafile, "myhostname", host, s, si);
		any = true;
		if (*cert != '\0' || *eccert != '\0')
			check_say(r, CHECK_NOTE, "service %s: smtpd_tls_chain_files "
			    "is set, so smtpd_tls_cert_file and "
			    "smtpd_tls_eccert_file are ignored",
			    s->ms->name);
	} else {
		if (*cert != '\0') {
			add_unit(u, "smtpd_tls_cert_file", cert,
			    *key != '\0' ? key : cert, cafile, "myhostname",
			    host, s, si);
			any = true;
		}
		if (*eccert != '\0') {
			add_unit(u, "smtpd_tls_eccert_file", eccert,
			    *eckey != '\0' ? eckey : eccert, cafile,
			    "myhostname", host, s, si);
			any = true;
		}
	}
	for (size_t i = 0; sni[i] != NULL; i++) {
		struct tls_sni_entry *ents = NULL;
		size_t n = 0;
		char err[1024];

		if (!tls_sni_load(sni[i], &ents, &n, err, sizeof(err))) {
			check_say(r, CHECK_ERROR, "service %s: tls_server_sni_maps "
			    "cannot be read: %s", s->ms->name, err);
			s->file_errors = true;
			continue;
		}
		for (size_t k = 0; k < n; k++)
			for (size_t f = 0; ents[k].files[f] != NULL; f++)
				add_unit(u, "tls_server_sni_maps",
				    ents[k].files[f], NULL, cafile,
				    "SNI name", ents[k].name, s, si);
		tls_sni_free(ents, n);
	}
	strv_free(&chains);
	strv_free(&sni);
	return any;
}

/* ---------------------------------------------------------------- files */

/* days_between - whole days from from to to, rounded to the nearest. */
static long
days_between(time_t from, time_t to)
{
	double d = difftime(to, from) / 86400.0;

	return d >= 0 ? (long)(d + 0.5) : -(long)(-d + 0.5);
}

/*
 * check_name - does the certificate name host?  A table name that
 * starts with '.' (every subdomain) needs a wildcard.
 */
static void
check_name(const char *kind, const char *host, X509 *leaf,
    const char *names, struct check_report *r)
{
	if (host[0] == '.') {
		char *any = xasprintf("sni-check%s", host);
		bool ok = tls_cert_covers(leaf, any);

		free(any);
		if (ok)
			check_say(r, CHECK_OK, "%s %s: a wildcard among its names "
			    "covers the subdomains", kind, host);
		else
			check_say(r, CHECK_WARNING, "%s %s stands for every name under "
			    "%s, but the certificate names only %s: clients "
			    "that ask for other names and check them refuse "
			    "it", kind, host, host + 1, names[0] != '\0' ?
			    names : "nothing");
		return;
	}
	if (tls_cert_covers(leaf, host))
		check_say(r, CHECK_OK, "%s %s is among its names", kind, host);
	else
		check_say(r, CHECK_WARNING, "%s %s is not among the certificate's "
		    "names (%s): clients that connect by that name and check "
		    "it refuse the certificate", kind, host, names[0] != '\0' ?
		    names : "none");
}

/*
 * check_loaded - the checks of one certificate with its chain and key;
 * true when nothing was an error.
 */
static bool
check_loaded(const struct cert_unit *u, const struct tls_cert_file *f,
    const char *keyname, time_t now, struct check_report *r)
{
	struct tls_cert_facts facts;
	char err[512], d1[32], d2[32];
	unsigned before = r->errors;
	long days;
	int nchain = sk_X509_num(f->chain);

	if (!tls_cert_facts_get(f->leaf, f->chain, u->cafile, now, &facts,
	    err, sizeof(err))) {
		check_say(r, CHECK_ERROR, "%s", err);
		return false;
	}
	printf("  subject: %s\n  issuer: %s\n  names: %s\n", facts.subject,
	    facts.issuer, facts.names[0] != '\0' ? facts.names : "(none)");
	printf("  valid: %s to %s\n", tls_cert_date(facts.not_before, d1,
	    sizeof(d1)), tls_cert_date(facts.not_after, d2, sizeof(d2)));
	printf("  key: %s, %d bits\n", facts.key_type, facts.key_bits);
	printf("  served chain: the certificate%s", nchain == 0 ? " alone" :
	    "");
	if (nchain > 0)
		printf(" and %d more", nchain);
	putchar('\n');

	/* The key. */
	if (tls_cert_key_matches(f->leaf, f->key)) {
		check_say(r, CHECK_OK, "the private key matches the certificate");
	} else {
		int other = -1;

		for (int i = 0; i < nchain; i++)
			if (tls_cert_key_matches(sk_X509_value(f->chain, i),
			    f->key)) {
				other = i;
				break;
			}
		if (other >= 0)
			check_say(r, CHECK_ERROR, "the private key in %s belongs to "
			    "certificate %d of %s, not to the first one (%s): "
			    "the server certificate must come first, then "
			    "its chain", keyname, other + 2, u->cert,
			    facts.subject);
		else
			check_say(r, CHECK_ERROR, "the private key in %s does not "
			    "match the certificate (%s) in %s: smtpd cannot "
			    "use this pair; use the key the certificate was "
			    "made for", keyname, facts.subject, u->cert);
	}

	/* Dates. */
	days = days_between(now, facts.not_after);
	if (facts.expired)
		check_say(r, CHECK_ERROR, "the certificate expired on %s (%ld day%s "
		    "ago): clients refuse it with 'certificate expired'; "
		    "renew it", d2, -days, days == -1 ? "" : "s");
	else if (facts.not_yet_valid)
		check_say(r, CHECK_ERROR, "the certificate is not valid before %s: "
		    "clients refuse it until then (check this machine's "
		    "clock)", d1);
	else if (difftime(facts.not_after, now) <
	    CHECK_TLS_EXPIRY_WARN_DAYS * 86400.0)
		check_say(r, CHECK_WARNING, "the certificate expires on %s, in %ld "
		    "day%s: renew it soon", d2, days, days == 1 ? "" : "s");
	else
		check_say(r, CHECK_OK, "valid for %ld more days", days);

	/* Chain and trust. */
	if (facts.self_signed) {
		check_say(r, CHECK_WARNING, "the certificate is self-signed (%s): "
		    "clients that verify certificates will refuse it with "
		    "'unknown ca'; use a certificate from a public CA (or one "
		    "the clients trust) for a public service",
		    facts.subject);
	} else if (facts.chain_incomplete) {
		check_say(r, CHECK_ERROR, "the chain is incomplete: %s does not hold "
		    "the intermediate certificate %s that signed %s; clients "
		    "that verify certificates will refuse it ('unable to get "
		    "local issuer certificate', alert 'unknown ca'): add it "
		    "after the certificate in %s", u->cert,
		    facts.missing_issuer, facts.missing_for, u->cert);
	} else {
		check_say(r, CHECK_OK, "the chain is complete");
	}
	if (facts.chain_out_of_order)
		check_say(r, CHECK_WARNING, "the chain in %s is out of order: some "
		    "clients refuse it; put the certificate first, then the "
		    "certificate that signed it, and so on", u->cert);
	if (facts.chain_unused > 0)
		check_say(r, CHECK_WARNING, "%s holds %u certificate%s that %s not "
		    "part of this certificate's chain: smtpd sends %s for "
		    "nothing (or the wrong file is named)", u->cert,
		    facts.chain_unused, facts.chain_unused == 1 ? "" : "s",
		    facts.chain_unused == 1 ? "is" : "are",
		    facts.chain_unused == 1 ? "it" : "them");
	if (facts.system_trusted)
		check_say(r, CHECK_OK, "verifies against the system trust store");
	else if (facts.self_signed || facts.chain_incomplete)
		;	/* said above */
	else if (facts.cafile_trusted)
		check_say(r, CHECK_WARNING, "the certificate is trusted only through "
		    "smtpd_tls_CAfile (%s), not by the system trust store "
		    "(%s): clients that verify certificates against the "
		    "usual public roots will refuse it with 'unknown ca' "
		    "(fine only when every client trusts that CA)",
		    u->cafile, facts.system_error);
	else
		check_say(r, CHECK_WARNING, "the certificate does not verify against "
		    "the system trust store (%s)%s: clients that verify "
		    "certificates will refuse it with 'unknown ca'",
		    facts.system_error, u->cafile[0] != '\0' ?
		    " nor against smtpd_tls_CAfile" : "");
	if (facts.wrong_purpose)
		check_say(r, CHECK_WARNING, "the certificate is not meant for TLS "
		    "servers (its key usage or extended key usage lacks "
		    "serverAuth): clients refuse it with 'unsupported "
		    "certificate'");

	/* Names. */
	for (size_t i = 0; i < u->names.n; i++)
		check_name(u->name_kinds.v[i], u->names.v[i], f->leaf,
		    facts.names, r);

	/* Strength. */
	if (facts.weak_key)
		check_say(r, CHECK_WARNING, "weak key: %s with %d bits (use RSA of at "
		    "least %d bits or ECDSA P-256): current clients refuse it",
		    facts.key_type, facts.key_bits, TLS_CERT_MIN_RSA_BITS);
	if (facts.weak_signature)
		check_say(r, CHECK_WARNING, "weak signature: %s on %s: current "
		    "clients refuse MD5 and SHA-1 signatures; get it "
		    "re-issued", facts.weak_signature_alg,
		    facts.weak_signature_on);
	return r->errors == before;
}

/* say_load_error - a file could not be loaded; hint at root. */
static void
say_load_error(struct check_report *r, const char *err)
{
	check_say(r, CHECK_ERROR, "%s%s", err, strstr(err, strerror(EACCES)) !=
	    NULL && geteuid() != 0 ? " (smtpd reads its keys as root: run "
	    "ostia check as root)" : "");
}

/* check_unit - load and check one certificate unit; true: no error. */
static bool
check_unit(const struct cert_unit *u, time_t now, struct check_report *r)
{
	char err[1024], *svcs = join(&u->services), *params = join(&u->params);
	bool ok = true;

	printf("\ncertificate %s", u->cert);
	if (u->key != NULL && strcmp(u->key, u->cert) != 0)
		printf(", key %s", u->key);
	printf(" (%s; service%s %s):\n", params, u->services.n == 1 ? "" :
	    "s", svcs);
	free(svcs);
	free(params);
	if (u->key == NULL) {
		struct tls_cert_file *v = NULL;
		size_t n = 0;

		if (!tls_cert_chain_file_load(u->cert, &v, &n, err,
		    sizeof(err))) {
			say_load_error(r, err);
			return false;
		}
		for (size_t i = 0; i < n; i++) {
			if (n > 1)
				printf("  -- key and certificate %zu of %zu "
				    "in this file:\n", i + 1, n);
			ok = check_loaded(u, &v[i], u->cert, now, r) && ok;
		}
		tls_cert_file_free_array(&v, n);
	} else {
		struct tls_cert_file f;

		if (!tls_cert_file_load(u->cert, u->key, &f, err,
		    sizeof(err))) {
			say_load_error(r, err);
			return false;
		}
		ok = check_loaded(u, &f, u->key, now, r);
		tls_cert_file_free(&f);
	}
	return ok;
}

/* ---------------------------------------------------------------- live */

struct live_conn {
	int fd;
	SSL *ssl;
	char buf[LIVE_LINE_MAX + 2];
	size_t len;
};

/* io_error - why the last read or write on c failed, in words. */
static void
io_error(const struct live_conn *c, int n, int saved_errno, char *err,
    size_t errsz)
{
	if (n == 0 && c->ssl == NULL)
		snprintf(err, errsz, "the server closed the connection");
	else if (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK)
		snprintf(err, errsz, "no answer within %d s",
		    CHECK_TLS_LIVE_TIMEOUT);
	else if (c->ssl != NULL) {
		unsigned long e = ERR_get_error();

		snprintf(err, errsz, "TLS read or write failed: %s",
		    e != 0 ? ERR_reason_error_string(e) != NULL ?
		    ERR_reason_error_string(e) : "unknown reason" :
		    saved_errno != 0 ? strerror(saved_errno) :
		    "the server closed the connection");
		ERR_clear_error();
	} else
		snprintf(err, errsz, "%s", strerror(saved_errno));
}

static bool
live_write(struct live_conn *c, const char *s, char *err, size_t errsz)
{
	size_t len = strlen(s), off = 0;

	while (off < len) {
		int n;

		errno = 0;
		if (c->ssl != NULL)
			n = SSL_write(c->ssl, s + off, (int)(len - off));
		else
			n = (int)send(c->fd, s + off, len - off, MSG_NOSIGNAL);
		if (n <= 0) {
			if (n < 0 && c->ssl == NULL && errno == EINTR)
				continue;
			io_error(c, n, errno, err, errsz);
			return false;
		}
		off += (size_t)n;
	}
	return true;
}

/* live_line - one line (CRLF or LF stripped) into line. */
static bool
live_line(struct live_conn *c, char *line, size_t linesz, char *err,
    size_t errsz)
{
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		int n;

		if (nl != NULL) {
			size_t l = (size_t)(nl - c->buf);
			size_t keep = l;

			if (keep > 0 && c->buf[keep - 1] == '\r')
				keep--;
			if (keep >= linesz)
				keep = linesz - 1;
			memcpy(line, c->buf, keep);
			line[keep] = '\0';
			memmove(c->buf, nl + 1, c->len - l - 1);
			c->len -= l + 1;
			return true;
		}
		if (c->len >= LIVE_LINE_MAX) {
			snprintf(err, errsz, "a reply line longer than %d "
			    "bytes", LIVE_LINE_MAX);
			return false;
		}
		errno = 0;
		if (c->ssl != NULL)
			n = SSL_read(c->ssl, c->buf + c->len,
			    (int)(LIVE_LINE_MAX - c->len));
		else
			n = (int)read(c->fd, c->buf + c->len,
			    LIVE_LINE_MAX - c->len);
		if (n <= 0) {
			if (n < 0 && c->ssl == NULL && errno == EINTR)
				continue;
			io_error(c, n, errno, err, errsz);
			return false;
		}
		c->len += (size_t)n;
	}
}

/*
 * live_reply - one SMTP reply: its code, and its lines' texts (after
 * "250-") joined with '\n' into text.
 */
static bool
live_reply(struct live_conn *c, int *code_r, char *text, size_t textsz,
    char *err, size_t errsz)
{
	char line[LIVE_LINE_MAX + 1];
	size_t off = 0;

	text[0] = '\0';
	for (int i = 0; i < LIVE_REPLY_LINES_MAX; i++) {
		char esc[256];
		long long code;
		const char *e = NULL;
		char num[4];

		if (!live_line(c, line, sizeof(line), err, errsz))
			return false;
		memcpy(num, line, 3);
		num[3] = '\0';
		if (strlen(line) < 3 || strnum_parse_ll(num, 200, 599, &code,
		    &e) < 0 || (line[3] != '\0' && line[3] != ' ' &&
		    line[3] != '-')) {
			snprintf(err, errsz, "not an SMTP reply: \"%s\"",
			    log_escape(esc, sizeof(esc), line, strlen(line),
			    120));
			return false;
		}
		*code_r = (int)code;
		if (off + strlen(line) + 2 < textsz && line[3] != '\0') {
			if (off > 0)
				text[off++] = '\n';
			memcpy(text + off, line + 4, strlen(line + 4) + 1);
			off += strlen(line + 4);
		}
		if (line[3] != '-')
			return true;
	}
	snprintf(err, errsz, "a reply of more than %d lines",
	    LIVE_REPLY_LINES_MAX);
	return false;
}

/* ehlo_has - true when an EHLO reply text has keyword (any case). */
static bool
ehlo_has(const char *text, const char *keyword)
{
	size_t kl = strlen(keyword);
	const char *p = text;

	/* The first line is the greeting name, not a keyword. */
	p = strchr(p, '\n');
	while (p != NULL) {
		p++;
		if (strncasecmp(p, keyword, kl) == 0 && (p[kl] == '\0' ||
		    p[kl] == ' ' || p[kl] == '=' || p[kl] == '\n'))
			return true;
		p = strchr(p, '\n');
	}
	return false;
}

/* ehlo - send EHLO, expect 250; text gets the reply. */
static bool
ehlo(struct live_conn *c, const char *name, char *text, size_t textsz,
    char *err, size_t errsz)
{
	char cmd[300];
	int code = 0;

	snprintf(cmd, sizeof(cmd), "EHLO %s\r\n", name);
	if (!live_write(c, cmd, err, errsz) ||
	    !live_reply(c, &code, text, textsz, err, errsz))
		return false;
	if (code != 250) {
		snprintf(err, errsz, "EHLO was answered with %d", code);
		return false;
	}
	return true;
}

/* report_handshake - what the handshake showed; true: no error. */
static bool
report_handshake(SSL *ssl, const char *kind, const char *name,
    const char *cafile, struct check_report *r)
{
	STACK_OF(X509) *peer = SSL_get_peer_cert_chain(ssl);
	X509 *leaf = SSL_get0_peer_certificate(ssl);
	STACK_OF(X509) *rest = NULL;
	struct tls_cert_facts facts;
	char err[512], trouble[512];
	long vr = SSL_get_verify_result(ssl);
	unsigned before = r->errors;

	check_say(r, CHECK_OK, "TLS handshake done: %s, cipher %s",
	    SSL_get_version(ssl), SSL_get_cipher_name(ssl));
	if (leaf == NULL) {
		check_say(r, CHECK_ERROR, "the server sent no certificate");
		return false;
	}
	printf("  chain served (%d certificate%s):\n",
	    peer != NULL ? sk_X509_num(peer) : 0,
	    peer != NULL && sk_X509_num(peer) == 1 ? "" : "s");
	for (int i = 0; peer != NULL && i < sk_X509_num(peer); i++) {
		X509 *x = sk_X509_value(peer, i);
		char sub[256], iss[256];

		printf("    %d: subject %s\n       issuer %s\n", i,
		    tls_cert_name(X509_get_subject_name(x), sub, sizeof(sub)),
		    tls_cert_name(X509_get_issuer_name(x), iss, sizeof(iss)));
	}
	if (vr == X509_V_OK)
		check_say(r, CHECK_OK, "the served chain verifies against the system "
		    "trust store");
	else
		check_say(r, CHECK_NOTE, "the served chain does not verify against "
		    "the system trust store: %s",
		    X509_verify_cert_error_string(vr));
	rest = sk_X509_new_null();
	for (int i = 1; rest != NULL && peer != NULL && i < sk_X509_num(peer);
	    i++)
		(void)sk_X509_push(rest, sk_X509_value(peer, i));
	if (tls_cert_facts_get(leaf, rest, cafile, time(NULL), &facts, err,
	    sizeof(err))) {
		if (tls_cert_trouble(&facts, trouble, sizeof(trouble)) != NULL)
			check_say(r, facts.expired || facts.not_yet_valid ||
			    facts.chain_incomplete ? CHECK_ERROR : CHECK_WARNING,
			    "%s", trouble);
		if (name[0] != '\0' && !tls_cert_covers(leaf, name))
			check_say(r, CHECK_WARNING, "the served certificate does not "
			    "name %s %s (its names: %s)", kind, name,
			    facts.names);
		else if (name[0] != '\0')
			check_say(r, CHECK_OK, "the served certificate names %s %s",
			    kind, name);
	} else {
		check_say(r, CHECK_ERROR, "%s", err);
	}
	sk_X509_free(rest);
	return r->errors == before;
}

/* connect_to - a connected blocking socket with timeouts, or -1. */
static int
connect_to(const struct sockaddr *sa, socklen_t salen, char *err,
    size_t errsz)
{
	struct timeval tv = { CHECK_TLS_LIVE_TIMEOUT, 0 };
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		snprintf(err, errsz, "cannot make a socket: %s",
		    strerror(errno));
		return -1;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, sa, salen) < 0) {
		int e = errno;

		snprintf(err, errsz, "cannot connect: %s%s", e == EINPROGRESS
		    || e == EAGAIN ? "no answer within 10 s" : strerror(e),
		    e == ECONNREFUSED ? " (is the service running? `ostia "
		    "status` lists the listeners)" : "");
		close(fd);
		return -1;
	}
	return fd;
}

/* client_name - "[127.0.0.1]" or "[IPv6:::1]" for our end of fd. */
static void
client_name(int fd, char *out, size_t outsz)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[INET6_ADDRSTRLEN];

	snprintf(out, outsz, "localhost");
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return;
	if (ss.ss_family == AF_INET && inet_ntop(AF_INET,
	    &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof(host)))
		snprintf(out, outsz, "[%s]", host);
	else if (ss.ss_family == AF_INET6 && inet_ntop(AF_INET6,
	    &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof(host)))
		snprintf(out, outsz, "[IPv6:%s]", host);
}

static bool
is_ip_literal(const char *s)
{
	unsigned char bin[16];

	return inet_pton(AF_INET, s, bin) == 1 ||
	    inet_pton(AF_INET6, s, bin) == 1;
}

/*
 * probe - one listener address: plain SMTP and STARTTLS, or implicit
 * TLS, asking for host name (kind: "myhostname" or "SNI name") with
 * SNI; everything said under the address's heading.
 */
static void
probe(const struct tls_svc *s, const struct sockaddr *sa, socklen_t salen,
    const char *addrtext, const char *kind, const char *host,
    struct check_report *r)
{
	const char *cafile = config_str(s->v, P_smtpd_tls_CAfile);
	bool auth_only = config_bool(s->v, P_smtpd_tls_auth_only);
	struct live_conn c;
	SSL_CTX *ctx = NULL;
	char err[512], text[4096], me[64];
	int code = 0, rc;

	if (strcmp(s->ms->name, addrtext) == 0)
		printf("\nlive: service %s (%s", addrtext, mode_text(s));
	else
		printf("\nlive: service %s at %s (%s", s->ms->name,
		    addrtext, mode_text(s));
	if (strcmp(kind, "myhostname") != 0)
		printf(", %s %s", kind, host);
	printf("):\n");
	memset(&c, 0, sizeof(c));
	c.fd = connect_to(sa, salen, err, sizeof(err));
	if (c.fd < 0) {
		check_say(r, CHECK_ERROR, "%s", err);
		return;
	}
	client_name(c.fd, me, sizeof(me));
	if (!s->wrapper) {
		if (!live_reply(&c, &code, text, sizeof(text), err,
		    sizeof(err))) {
			check_say(r, CHECK_ERROR, "reading the greeting: %s", err);
			goto out;
		}
		if (code != 220) {
			check_say(r, CHECK_ERROR, "the greeting is %d, not 220: %s",
			    code, text);
			goto out;
		}
		if (!ehlo(&c, me, text, sizeof(text), err, sizeof(err))) {
			check_say(r, CHECK_ERROR, "%s", err);
			goto out;
		}
		if (ehlo_has(text, "AUTH")) {
			if (auth_only)
				check_say(r, CHECK_ERROR, "AUTH is offered before TLS "
				    "although smtpd_tls_auth_only = yes: "
				    "passwords could cross the network in "
				    "clear");
			else
				check_say(r, CHECK_NOTE, "AUTH is offered before TLS "
				    "(smtpd_tls_auth_only = no)");
		} else if (auth_only) {
			check_say(r, CHECK_OK, "no AUTH before TLS "
			    "(smtpd_tls_auth_only = yes)");
		}
		if (!ehlo_has(text, "STARTTLS")) {
			check_say(r, CHECK_ERROR, "the server does not offer STARTTLS "
			    "in its EHLO reply");
			goto out;
		}
		if (!live_write(&c, "STARTTLS\r\n", err, sizeof(err)) ||
		    !live_reply(&c, &code, text, sizeof(text), err,
		    sizeof(err))) {
			check_say(r, CHECK_ERROR, "STARTTLS: %s", err);
			goto out;
		}
		if (code != 220) {
			check_say(r, CHECK_ERROR, "STARTTLS was answered with %d: %s",
			    code, text);
			goto out;
		}
		if (c.len > 0) {
			check_say(r, CHECK_ERROR, "the server sent data after its "
			    "STARTTLS reply, before the handshake");
			goto out;
		}
	}
	ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL) {
		check_say(r, CHECK_ERROR, "cannot set up a TLS client");
		goto out;
	}
	(void)SSL_CTX_set_default_verify_paths(ctx);
	/* Verify after the handshake, so that any chain is reported. */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	c.ssl = SSL_new(ctx);
	if (c.ssl == NULL || SSL_set_fd(c.ssl, c.fd) != 1) {
		check_say(r, CHECK_ERROR, "cannot set up a TLS client");
		goto out;
	}
	/* SSL_set_tlsext_host_name() without its cast of a const
	 * pointer (OpenSSL copies the name). */
	if (host[0] != '\0' && !is_ip_literal(host))
		(void)SSL_ctrl(c.ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME,
		    TLSEXT_NAMETYPE_host_name, (void *)(uintptr_t)host);
	ERR_clear_error();
	errno = 0;
	rc = SSL_connect(c.ssl);
	if (rc != 1) {
		int se = SSL_get_error(c.ssl, rc), e = errno;
		unsigned long oe = ERR_peek_error();
		const char *why = oe != 0 ? ERR_reason_error_string(oe) : NULL;

		check_say(r, CHECK_ERROR, "the TLS handshake failed: %s",
		    why != NULL ? why : (e == EAGAIN || e == EWOULDBLOCK) ?
		    "no answer within 10 s" : se == SSL_ERROR_SYSCALL ?
		    "the server closed the connection" : "unknown reason");
		ERR_clear_error();
		SSL_free(c.ssl);
		c.ssl = NULL;
		goto out;
	}
	(void)report_handshake(c.ssl, kind, host, cafile, r);
	if (s->wrapper) {
		if (!live_reply(&c, &code, text, sizeof(text), err,
		    sizeof(err))) {
			check_say(r, CHECK_ERROR, "reading the greeting over TLS: %s",
			    err);
			goto out;
		}
		if (code != 220) {
			check_say(r, CHECK_ERROR, "the greeting is %d, not 220", code);
			goto out;
		}
	}
	if (!ehlo(&c, me, text, sizeof(text), err, sizeof(err))) {
		check_say(r, CHECK_ERROR, "EHLO after the handshake: %s", err);
		goto out;
	}
	if (ehlo_has(text, "STARTTLS"))
		check_say(r, CHECK_ERROR, "STARTTLS is offered again inside TLS "
		    "(RFC 3207 forbids it)");
	check_say(r, CHECK_OK, "EHLO over TLS answered%s", ehlo_has(text, "AUTH") ?
	    "; AUTH offered" : "");
	(void)live_write(&c, "QUIT\r\n", err, sizeof(err));
	(void)live_reply(&c, &code, text, sizeof(text), err, sizeof(err));
out:
	if (c.ssl != NULL) {
		(void)SSL_shutdown(c.ssl);
		SSL_free(c.ssl);
	} else if (c.fd >= 0) {
		(void)live_write(&c, "QUIT\r\n", err, sizeof(err));
	}
	SSL_CTX_free(ctx);
	ERR_clear_error();
	if (c.fd >= 0)
		close(c.fd);
}

/* resolve_port - a port number or a name from /etc/services; 0 if bad. */
static unsigned
resolve_port(const char *port)
{
	long long n;
	const char *e = NULL;
	struct servent *se;

	if (strnum_parse_ll(port, 1, 65535, &n, &e) == 0)
		return (unsigned)n;
	se = getservbyname(port, "tcp");
	return se != NULL ? ntohs((uint16_t)se->s_port) : 0;
}

/*
 * probe_host - every address of host (an interface or listen address;
 * wildcards become the loopback address of their family) in the
 * families of inet_protocols.
 */
static void
probe_host(const struct tls_svc *s, const char *host, unsigned port,
    bool v4, bool v6, const char *kind, const char *name, struct check_report *r)
{
	struct addrinfo hints, *res = NULL;
	char portstr[16], bare[256];
	size_t hl = strlen(host);
	int g;

	if (hl >= 2 && hl < sizeof(bare) && host[0] == '[' &&
	    host[hl - 1] == ']') {
		memcpy(bare, host + 1, hl - 2);
		bare[hl - 2] = '\0';
		host = bare;
	}
	if (strcmp(host, "0.0.0.0") == 0)
		host = "127.0.0.1";
	else if (strcmp(host, "::") == 0)
		host = "::1";
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = v4 && v6 ? AF_UNSPEC : v4 ? AF_INET : AF_INET6;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%u", port);
	g = getaddrinfo(host, portstr, &hints, &res);
	if (g != 0) {
		printf("\nlive: service %s at %s port %u:\n", s->ms->name,
		    host, port);
		check_say(r, CHECK_ERROR, "cannot resolve %s: %s", host,
		    gai_strerror(g));
		return;
	}
	for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		char h[INET6_ADDRSTRLEN], text[INET6_ADDRSTRLEN + 16];

		if (ai->ai_family == AF_INET) {
			inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)
			    ai->ai_addr)->sin_addr, h, sizeof(h));
			snprintf(text, sizeof(text), "%s:%u", h, port);
		} else if (ai->ai_family == AF_INET6) {
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)(void *)
			    ai->ai_addr)->sin6_addr, h, sizeof(h));
			snprintf(text, sizeof(text), "[%s]:%u", h, port);
		} else {
			continue;
		}
		probe(s, ai->ai_addr, ai->ai_addrlen, text, kind, name, r);
	}
	freeaddrinfo(res);
}

/* Where one inet service listens: one host (or address) to probe. */
struct live_target {
	char *host;
	bool v4, v6;
};

static void
add_target(struct live_target **tv, size_t *n, const char *host, bool v4,
    bool v6)
{
	*tv = xreallocarray(*tv, *n + 1, sizeof(**tv));
	(*tv)[*n].host = xstrdup(host);
	(*tv)[*n].v4 = v4;
	(*tv)[*n].v6 = v6;
	(*n)++;
}

/*
 * live_service - probe each listen address of an inet service, asking
 * for myhostname, then for each name of its tls_server_sni_maps (those
 * that start with '.' are left out: no single name stands for them).
 */
static void
live_service(const struct tls_svc *s, struct check_report *r)
{
	char **protos = config_list(s->v, P_inet_protocols);
	char **sni = config_list(s->v, P_tls_server_sni_maps);
	char **ifaces = NULL;
	struct live_target *tv = NULL;
	struct strv kinds, names;
	size_t nt = 0;
	bool v4 = false, v6 = false;
	unsigned port = resolve_port(s->ms->inet_port);

	strv_init(&kinds);
	strv_init(&names);
	for (size_t i = 0; protos[i] != NULL; i++) {
		if (strcasecmp(protos[i], "all") == 0)
			v4 = v6 = true;
		else if (strcasecmp(protos[i], "ipv4") == 0)
			v4 = true;
		else if (strcasecmp(protos[i], "ipv6") == 0)
			v6 = true;
	}
	if (port == 0 || (!v4 && !v6)) {
		printf("\nlive: service %s:\n", s->ms->name);
		check_say(r, CHECK_ERROR, "cannot tell where it listens (port \"%s\", "
		    "inet_protocols)", s->ms->inet_port);
		goto out;
	}
	if (s->ms->inet_host != NULL) {
		add_target(&tv, &nt, s->ms->inet_host, v4, v6);
	} else {
		ifaces = config_list(s->v, P_inet_interfaces);
		for (size_t i = 0; ifaces[i] != NULL; i++) {
			const char *h = ifaces[i];

			/* Wildcards: one probe through the loopback. */
			if (strcasecmp(h, "all") == 0 ||
			    strcasecmp(h, "loopback-only") == 0)
				add_target(&tv, &nt, v4 ? "127.0.0.1" : "::1",
				    v4, !v4);
			else
				add_target(&tv, &nt, h, v4, v6);
		}
	}
	strv_add(&kinds, "myhostname");
	strv_add(&names, config_str(s->v, P_myhostname));
	for (size_t i = 0; sni[i] != NULL; i++) {
		struct tls_sni_entry *ents = NULL;
		size_t n = 0;
		char err[512];

		/* An unreadable table was reported with the files. */
		if (!tls_sni_load(sni[i], &ents, &n, err, sizeof(err)))
			continue;
		for (size_t k = 0; k < n; k++) {
			if (ents[k].name[0] == '.')
				continue;
			strv_add(&kinds, "SNI name");
			strv_add(&names, ents[k].name);
		}
		tls_sni_free(ents, n);
	}
	for (size_t t = 0; t < nt; t++)
		for (size_t k = 0; k < names.n; k++)
			probe_host(s, tv[t].host, port, tv[t].v4, tv[t].v6,
			    kinds.v[k], names.v[k], r);
out:
	for (size_t t = 0; t < nt; t++)
		free(tv[t].host);
	free(tv);
	strv_deinit(&kinds);
	strv_deinit(&names);
	strv_free(&protos);
	strv_free(&sni);
	strv_free(&ifaces);
}

/* master_running - >0 pid, 0 not running, -1 cannot tell (said). */
static long
master_running(const struct config *cf, struct check_report *r)
{
	char *path = master_pid_path(config_str(config_main(cf),
	    P_queue_directory));
	char *err = NULL;
	pid_t pid = master_pid_query(path, &err);

	free(path);
	if (pid < 0) {
		check_say(r, CHECK_ERROR, "cannot tell whether the mail system runs: "
		    "%s", err);
		free(err);
	}
	return (long)pid;
}

/* ---------------------------------------------------------------- main */

/* Restriction lists that may name the client certificate checks. */
static const enum param_id ccert_lists[] = {
	P_smtpd_client_restrictions, P_smtpd_helo_restrictions,
	P_smtpd_sender_restrictions, P_smtpd_relay_restrictions,
	P_smtpd_recipient_restrictions, P_smtpd_data_restrictions,
	P_smtpd_end_of_data_restrictions,
};

/*
 * ccert_use - the first of v's restriction lists that names the client
 * certificate check what (permit_tls_clientcerts...); NULL when none.
 */
static const char *
ccert_use(const struct config_view *v, const char *what)
{
	for (size_t i = 0; i < N_ELEMENTS(ccert_lists); i++) {
		char **l = config_list(v, ccert_lists[i]);
		bool hit = false;

		for (size_t k = 0; l[k] != NULL && !hit; k++)
			hit = strcasecmp(l[k], what) == 0;
		strv_free(&l);
		if (hit)
			return config_params[ccert_lists[i]].name;
	}
	return NULL;
}

/*
 * check_ccert - client certificate settings of one service that smtpd
 * accepts but that cannot do what they are meant to: a requirement that
 * is ignored, nothing to verify with, checks that never see a
 * certificate.  The service's header line is printed before the first.
 */
static void
check_ccert(const struct tls_svc *s, const struct tls_server *t,
    struct check_report *r)
{
	const struct config_view *v = s->v;
	bool have_ca = *config_str(v, P_smtpd_tls_CAfile) != '\0' ||
	    *config_str(v, P_smtpd_tls_CApath) != '\0';
	static const char *const checks[] = { "permit_tls_clientcerts",
	    "permit_tls_all_clientcerts", "check_ccert_access" };
	const char *relay = ccert_use(v, checks[0]);
	const char *all = ccert_use(v, checks[1]);
	bool header = false;

#define SVC_HEADER() do { if (!header) { printf("\nservice %s:\n", \
	s->ms->name); header = true; } } while (0)
	if (config_bool(v, P_smtpd_tls_req_ccert) && !tls_server_req_ccert(t)) {
		SVC_HEADER();
		check_say(r, CHECK_WARNING, "smtpd_tls_req_ccert = yes is ignored here: "
		    "TLS is optional (it needs smtpd_tls_security_level = "
		    "encrypt or smtpd_tls_wrappermode = yes)");
	}
	if (tls_server_req_ccert(t) && !have_ca) {
		SVC_HEADER();
		check_say(r, CHECK_ERROR, "smtpd_tls_req_ccert = yes, but neither "
		    "smtpd_tls_CAfile nor smtpd_tls_CApath is set: no client "
		    "certificate can verify, so every client is refused");
	} else if (tls_server_ask_ccert(t) && !have_ca && all != NULL) {
		SVC_HEADER();
		check_say(r, CHECK_WARNING, "%s names permit_tls_all_clientcerts, but "
		    "neither smtpd_tls_CAfile nor smtpd_tls_CApath is set: no "
		    "client certificate can verify, so it never permits", all);
	}
	for (size_t i = 0; i < N_ELEMENTS(checks); i++) {
		const char *list = ccert_use(v, checks[i]);

		if (list != NULL && !tls_server_ask_ccert(t)) {
			SVC_HEADER();
			check_say(r, CHECK_WARNING, "%s names %s, but no client "
			    "certificate is asked for (set smtpd_tls_ask_ccert "
			    "= yes): it never matches", list, checks[i]);
		}
	}
	if (relay != NULL && *config_str(v, P_relay_clientcerts) == '\0') {
		SVC_HEADER();
		check_say(r, CHECK_WARNING, "%s names permit_tls_clientcerts, but "
		    "relay_clientcerts is empty: it never permits", relay);
	}
#undef SVC_HEADER
}

int
check_tls(const struct config *cf, bool live)
{
	const struct master_cf *mcf = config_master(cf);
	struct tls_svc *svcs = NULL;
	struct units units = { NULL, 0 };
	struct check_report r = { 0, 0 };
	size_t nsvc = 0;
	time_t now = time(NULL);

	if (mcf == NULL)
		return 0;
	for (size_t i = 0; i < mcf->nservices; i++) {
		const struct master_service *ms = &mcf->services[i];
		const struct config_view *v;
		struct tls_svc s;

		if (strcmp(ms->command, "smtpd") != 0)
			continue;
		v = config_service(cf, i);
		memset(&s, 0, sizeof(s));
		s.mode = svc_tls_mode(v, &s.wrapper, &s.why);
		if (s.mode == SVC_TLS_OFF)
			continue;
		s.index = i;
		s.ms = ms;
		s.v = v;
		svcs = xreallocarray(svcs, nsvc + 1, sizeof(*svcs));
		svcs[nsvc++] = s;
	}
	if (nsvc == 0) {
		printf("TLS: no smtpd service has TLS on "
		    "(smtpd_tls_security_level, smtpd_tls_wrappermode)%s\n",
		    live ? "; nothing to check live" : "");
		return 0;
	}
	printf("TLS: %zu smtpd service%s with TLS on:\n", nsvc,
	    nsvc == 1 ? "" : "s");
	for (size_t i = 0; i < nsvc; i++) {
		printf("  %s (%s, %s; %s)\n", svcs[i].ms->name,
		    master_type_name(svcs[i].ms->type), mode_text(&svcs[i]),
		    svcs[i].why);
		if (!collect_units(&units, &svcs[i], i, &r)) {
			check_say(&r, CHECK_ERROR, "service %s wants TLS (%s) but has "
			    "no certificate: set smtpd_tls_cert_file and "
			    "smtpd_tls_key_file, or smtpd_tls_chain_files",
			    svcs[i].ms->name, svcs[i].why);
			svcs[i].file_errors = true;
		}
	}
	for (size_t i = 0; i < units.n; i++) {
		if (!check_unit(&units.v[i], now, &r))
			for (size_t k = 0; k < units.v[i].nsvc; k++)
				svcs[units.v[i].svc_idx[k]].file_errors = true;
	}
	/* What smtpd itself would make of each service's settings. */
	for (size_t i = 0; i < nsvc; i++) {
		char err[1024];
		struct tls_server *t;

		if (svcs[i].file_errors)
			continue;
		err[0] = '\0';
		t = tls_server_create(svcs[i].v, err, sizeof(err));
		if (t == NULL && err[0] != '\0') {
			printf("\nservice %s:\n", svcs[i].ms->name);
			check_say(&r, CHECK_ERROR, "smtpd cannot set up TLS: %s", err);
		}
		if (t != NULL)
			check_ccert(&svcs[i], t, &r);
		tls_server_free(t);
	}
	if (live) {
		long pid = master_running(cf, &r);

		if (pid == 0) {
			printf("\nlive:\n");
			check_say(&r, CHECK_ERROR, "the mail system is not running, so "
			    "--live has nothing to connect to (ostia start)");
		} else if (pid > 0) {
			/* A server that closes mid-write must not kill us. */
			(void)signal(SIGPIPE, SIG_IGN);
			for (size_t i = 0; i < nsvc; i++) {
				if (svcs[i].ms->type == MASTER_TYPE_INET)
					live_service(&svcs[i], &r);
			}
		}
	}
	(void)check_summary("TLS", &r);
	units_free(&units);
	free(svcs);
	return check_status(&r);
}
