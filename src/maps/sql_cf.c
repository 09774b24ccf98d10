/* SPDX-License-Identifier: MIT */
/*
 * sql_cf - Postfix SQL table files, query expansion, result_format and
 * host failover; see sql_cf.h.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "cf_lines.h"
#include "dict.h"
#include "file_read.h"
#include "sql_cf.h"
#include "strnum.h"
#include "strv.h"
#include "xalloc.h"

#define T_MYSQL		(1u << 0)
#define T_PGSQL		(1u << 1)
#define T_SQLITE	(1u << 2)
#define T_NET		(T_MYSQL | T_PGSQL)
#define T_ALL		(T_MYSQL | T_PGSQL | T_SQLITE)

/* Longest logical line of a .cf file. */
#define SQL_CF_LINE_MAX_BYTES (64 * 1024)
/* Longest interval accepted (seconds): a day. */
#define SQL_CF_INTERVAL_MAX 86400

enum pkind {
	P_STR,		/* a string, stored as is */
	P_HOSTS,
	P_DOMAIN,
	P_INTERVAL,
	P_LIMIT,
	P_BOOL,
	P_REFUSED,	/* known to Postfix, not supported here */
};

/* Which field a parameter fills (offsets into struct sql_cf or raw). */
enum pfield {
	F_HOSTS, F_USER, F_PASSWORD, F_DBNAME, F_IDLE, F_RETRY, F_CHARSET,
	F_TLS_CERT, F_TLS_KEY, F_TLS_CAFILE, F_TLS_CAPATH, F_TLS_CIPHERS,
	F_TLS_VERIFY, F_REQUIRE_RS, F_DBPATH, F_QUERY, F_RESULT_FORMAT,
	F_DOMAIN, F_EXPANSION_LIMIT, F_SELECT_FIELD, F_TABLE, F_WHERE_FIELD,
	F_ADDITIONAL, F_SELECT_FUNCTION, F_NONE,
};

struct param {
	const char *name;
	unsigned types;
	enum pkind kind;
	enum pfield field;
};

/* Sorted by name (the order of "known: ..." in messages). */
static const struct param params[] = {
	{ "additional_conditions", T_ALL, P_STR, F_ADDITIONAL },
	{ "charset", T_MYSQL, P_STR, F_CHARSET },
	{ "dbname", T_NET, P_STR, F_DBNAME },
	{ "dbpath", T_SQLITE, P_STR, F_DBPATH },
	{ "domain", T_ALL, P_DOMAIN, F_DOMAIN },
	{ "encoding", T_PGSQL, P_STR, F_CHARSET },
	{ "expansion_limit", T_ALL, P_LIMIT, F_EXPANSION_LIMIT },
	{ "hosts", T_NET, P_HOSTS, F_HOSTS },
	{ "idle_interval", T_NET, P_INTERVAL, F_IDLE },
	{ "option_file", T_MYSQL, P_REFUSED, F_NONE },
	{ "option_group", T_MYSQL, P_REFUSED, F_NONE },
	{ "password", T_NET, P_STR, F_PASSWORD },
	{ "query", T_ALL, P_STR, F_QUERY },
	{ "require_result_set", T_MYSQL, P_BOOL, F_REQUIRE_RS },
	{ "result_format", T_ALL, P_STR, F_RESULT_FORMAT },
	{ "retry_interval", T_NET, P_INTERVAL, F_RETRY },
	{ "select_field", T_ALL, P_STR, F_SELECT_FIELD },
	{ "select_function", T_PGSQL, P_STR, F_SELECT_FUNCTION },
	{ "table", T_ALL, P_STR, F_TABLE },
	{ "tls_CAfile", T_MYSQL, P_STR, F_TLS_CAFILE },
	{ "tls_CApath", T_MYSQL, P_STR, F_TLS_CAPATH },
	{ "tls_cert_file", T_MYSQL, P_STR, F_TLS_CERT },
	{ "tls_ciphers", T_MYSQL, P_STR, F_TLS_CIPHERS },
	{ "tls_key_file", T_MYSQL, P_STR, F_TLS_KEY },
	{ "tls_verify_cert", T_MYSQL, P_BOOL, F_TLS_VERIFY },
	{ "user", T_NET, P_STR, F_USER },
	{ "where_field", T_ALL, P_STR, F_WHERE_FIELD },
};

/* Parse state while reading a file. */
struct parse {
	struct sql_cf *cf;
	unsigned type;
	const char *path;
	char *err;
	size_t errsz;
	bool failed;
	/* legacy query parts */
	char *select_field, *table, *where_field, *additional;
	char *select_function;
	unsigned query_line, result_format_line;
	char *unused;		/* str_field() of a non-string field */
};

static void
free_str(char **p)
{
	free(*p);
	*p = NULL;
}

static void
wipe_str(char **p)
{
	if (*p != NULL) {
		explicit_bzero(*p, strlen(*p));
		free(*p);
		*p = NULL;
	}
}

void
sql_cf_free(struct sql_cf *cf)
{
	if (cf == NULL)
		return;
	free_str(&cf->path);
	free_str(&cf->type);
	strv_free(&cf->hosts);
	for (size_t i = 0; i < cf->nhosts; i++) {
		free(cf->host[i].spec);
		free(cf->host[i].name);
	}
	free(cf->host);
	free_str(&cf->user);
	wipe_str(&cf->password);
	free_str(&cf->dbname);
	free_str(&cf->charset);
	free_str(&cf->tls_cert_file);
	free_str(&cf->tls_key_file);
	free_str(&cf->tls_CAfile);
	free_str(&cf->tls_CApath);
	free_str(&cf->tls_ciphers);
	free_str(&cf->dbpath);
	free_str(&cf->query);
	free_str(&cf->result_format);
	strv_free(&cf->domain);
	memset(cf, 0, sizeof(*cf));
}

static unsigned
type_bit(const char *type)
{
	if (strcmp(type, "mysql") == 0)
		return T_MYSQL;
	if (strcmp(type, "pgsql") == 0)
		return T_PGSQL;
	if (strcmp(type, "sqlite") == 0)
		return T_SQLITE;
	return 0;
}

/* "name1 name2 ..." of the parameters known for type, into b. */
static void
known_names(unsigned type, char *b, size_t bsz)
{
	size_t n = 0;
	const char *prev = "";

	b[0] = '\0';
	for (size_t i = 0; i < N_ELEMENTS(params); i++) {
		int k;

		if (!(params[i].types & type) || strcmp(prev, params[i].name) == 0)
			continue;
		prev = params[i].name;
		k = snprintf(b + n, bsz - n, "%s%s", n ? " " : "",
		    params[i].name);
		if (k < 0 || (size_t)k >= bsz - n)
			break;
		n += (size_t)k;
	}
}

static void ATTR_FORMAT(3, 4)
perr(struct parse *p, unsigned line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->failed)
		return;
	p->failed = true;
	if (line > 0)
		n = snprintf(p->err, p->errsz, "%s, line %u: ", p->path, line);
	else
		n = snprintf(p->err, p->errsz, "%s: ", p->path);
	if (n < 0 || (size_t)n >= p->errsz)
		return;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errsz - (size_t)n, fmt, ap);
	va_end(ap);
}

/* A printable, bounded copy of untrusted text for a message. */
static void
printable(const char *s, size_t len, char *out, size_t outsz)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 5 < outsz; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f && c != '\\') {
			out[o++] = (char)c;
		} else {
			snprintf(out + o, outsz - o, "\\x%02x", c);
			o += 4;
		}
	}
	out[o] = '\0';
}

static bool
is_sep(char c)
{
	return c == ' ' || c == '\t' || c == ',' || c == '\n' || c == '\r';
}

/* Split a Postfix list (commas and/or white space) into sv. */
static void
split_list(const char *v, struct strv *sv)
{
	const char *s = v;

	while (*s != '\0') {
		const char *e;

		while (*s != '\0' && is_sep(*s))
			s++;
		if (*s == '\0')
			break;
		e = s;
		while (*e != '\0' && !is_sep(*e))
			e++;
		strv_addn(sv, s, (size_t)(e - s));
		s = e;
	}
}

static int
parse_port(const char *s, unsigned *port)
{
	long long v;
	const char *why;

	if (strnum_parse_ll(s, 1, 65535, &v, &why) < 0)
		return -1;
	*port = (unsigned)v;
	return 0;
}

/* One "hosts" entry into h; -1 with a reason in why. */
static int
parse_host(const char *spec, unsigned type, struct sql_host *h,
    const char **why)
{
	const char *s = spec, *colon;
	char *hostpart = NULL;

	memset(h, 0, sizeof(*h));
	if ((type & T_PGSQL) && (strncmp(s, "postgresql://", 13) == 0 ||
	    strncmp(s, "postgres://", 11) == 0)) {
		h->kind = SQL_HOST_URI;
		h->name = xstrdup(s);
		h->spec = xstrdup(spec);
		return 0;
	}
	if (strncmp(s, "unix:", 5) == 0) {
		if (s[5] != '/') {
			*why = "a UNIX-domain socket needs an absolute path "
			    "(unix:/path)";
			return -1;
		}
		h->kind = SQL_HOST_UNIX;
		h->name = xstrdup(s + 5);
		h->spec = xstrdup(spec);
		return 0;
	}
	if (strncmp(s, "inet:", 5) == 0)
		s += 5;
	if (*s == '\0') {
		*why = "empty host name";
		return -1;
	}
	h->kind = SQL_HOST_INET;
	if (*s == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close == s + 1) {
			*why = "bad [address]";
			return -1;
		}
		hostpart = xstrndup(s + 1, (size_t)(close - s - 1));
		if (close[1] == ':') {
			if (parse_port(close + 2, &h->port) < 0) {
				free(hostpart);
				*why = "bad port (1-65535)";
				return -1;
			}
		} else if (close[1] != '\0') {
			free(hostpart);
			*why = "text after ]";
			return -1;
		}
	} else if ((colon = strchr(s, ':')) != NULL &&
	    strchr(colon + 1, ':') == NULL) {
		if (colon == s) {
			*why = "empty host name";
			return -1;
		}
		if (parse_port(colon + 1, &h->port) < 0) {
			*why = "bad port (1-65535)";
			return -1;
		}
		hostpart = xstrndup(s, (size_t)(colon - s));
	} else {
		/* A name, or an IPv6 address without a port. */
		hostpart = xstrdup(s);
	}
	h->name = hostpart;
	h->spec = xstrdup(spec);
	return 0;
}

static void
set_hosts(struct parse *p, unsigned line, const char *v)
{
	struct sql_cf *cf = p->cf;
	struct strv sv;

	strv_init(&sv);
	split_list(v, &sv);
	if (sv.n == 0) {
		strv_deinit(&sv);
		perr(p, line, "hosts: empty list");
		return;
	}
	if (sv.n > SQL_CF_MAX_HOSTS) {
		strv_deinit(&sv);
		perr(p, line, "hosts: more than %d hosts", SQL_CF_MAX_HOSTS);
		return;
	}
	strv_free(&cf->hosts);
	for (size_t i = 0; i < cf->nhosts; i++) {
		free(cf->host[i].spec);
		free(cf->host[i].name);
	}
	free(cf->host);
	cf->host = xcalloc(sv.n, sizeof(*cf->host));
	cf->nhosts = 0;
	for (size_t i = 0; i < sv.n; i++) {
		const char *why = NULL;
		char shown[160];

		if (parse_host(sv.v[i], p->type, &cf->host[i], &why) < 0) {
			printable(sv.v[i], strlen(sv.v[i]), shown, sizeof(shown));
			perr(p, line, "hosts: \"%s\": %s", shown, why);
			break;
		}
		cf->nhosts++;
	}
	cf->hosts = strv_steal(&sv);
}

static void
set_domain(struct parse *p, unsigned line, const char *v)
{
	struct strv sv;

	strv_init(&sv);
	split_list(v, &sv);
	for (size_t i = 0; i < sv.n; i++) {
		char shown[160];

		if (sv.v[i][0] == '/' || strchr(sv.v[i], ':') != NULL) {
			printable(sv.v[i], strlen(sv.v[i]), shown,
			    sizeof(shown));
			perr(p, line, "domain: \"%s\": file and table "
			    "(type:name) entries in the domain list are not "
			    "supported yet; list the domain names", shown);
			strv_deinit(&sv);
			return;
		}
		for (char *c = sv.v[i]; *c != '\0'; c++)
			*c = (char)((*c >= 'A' && *c <= 'Z') ? *c - 'A' + 'a' :
			    *c);
	}
	strv_free(&p->cf->domain);
	/* An empty list means no rule, as when the parameter is absent. */
	if (sv.n == 0) {
		strv_deinit(&sv);
		return;
	}
	p->cf->domain = strv_steal(&sv);
}

static int
parse_bool(const char *v, bool *out)
{
	if (strcasecmp(v, "yes") == 0 || strcasecmp(v, "true") == 0) {
		*out = true;
		return 0;
	}
	if (strcasecmp(v, "no") == 0 || strcasecmp(v, "false") == 0) {
		*out = false;
		return 0;
	}
	return -1;
}

static char **
str_field(struct parse *p, enum pfield f)
{
	struct sql_cf *cf = p->cf;

	switch (f) {
	case F_USER: return &cf->user;
	case F_PASSWORD: return &cf->password;
	case F_DBNAME: return &cf->dbname;
	case F_CHARSET: return &cf->charset;
	case F_TLS_CERT: return &cf->tls_cert_file;
	case F_TLS_KEY: return &cf->tls_key_file;
	case F_TLS_CAFILE: return &cf->tls_CAfile;
	case F_TLS_CAPATH: return &cf->tls_CApath;
	case F_TLS_CIPHERS: return &cf->tls_ciphers;
	case F_DBPATH: return &cf->dbpath;
	case F_QUERY: return &cf->query;
	case F_RESULT_FORMAT: return &cf->result_format;
	case F_SELECT_FIELD: return &p->select_field;
	case F_TABLE: return &p->table;
	case F_WHERE_FIELD: return &p->where_field;
	case F_ADDITIONAL: return &p->additional;
	case F_SELECT_FUNCTION: return &p->select_function;
	default: return &p->unused;
	}
}

static void
set_param(struct parse *p, const struct param *pm, unsigned line,
    const char *v)
{
	long long n;
	const char *why;
	bool b;
	char **sp;

	switch (pm->kind) {
	case P_STR:
		sp = str_field(p, pm->field);
		if (pm->field == F_PASSWORD)
			wipe_str(sp);
		else
			free_str(sp);
		*sp = xstrdup(v);
		if (pm->field == F_QUERY)
			p->query_line = line;
		if (pm->field == F_RESULT_FORMAT)
			p->result_format_line = line;
		break;
	case P_HOSTS:
		set_hosts(p, line, v);
		break;
	case P_DOMAIN:
		set_domain(p, line, v);
		break;
	case P_INTERVAL:
		if (strnum_parse_ll(v, 0, SQL_CF_INTERVAL_MAX, &n, &why) < 0) {
			perr(p, line, "bad value for %s: %s (a number of "
			    "seconds, 0-%d)", pm->name, why,
			    SQL_CF_INTERVAL_MAX);
			return;
		}
		if (pm->field == F_IDLE)
			p->cf->idle_interval = (long)n;
		else
			p->cf->retry_interval = (long)n;
		break;
	case P_LIMIT:
		if (strnum_parse_ll(v, 0, 1000000, &n, &why) < 0) {
			perr(p, line, "bad value for %s: %s (0-1000000, 0 = no "
			    "limit)", pm->name, why);
			return;
		}
		p->cf->expansion_limit = (long)n;
		break;
	case P_BOOL:
		if (parse_bool(v, &b) < 0) {
			perr(p, line, "bad value for %s: write yes or no",
			    pm->name);
			return;
		}
		if (pm->field == F_TLS_VERIFY)
			p->cf->tls_verify_cert = b;
		else
			p->cf->require_result_set = b;
		break;
	case P_REFUSED:
		perr(p, line, "%s is not supported (write the settings in "
		    "this file)", pm->name);
		break;
	}
}

static int
line_cb(void *ctx, const char *text, size_t len, unsigned lineno)
{
	struct parse *p = ctx;
	const char *s = text, *end = text + len, *name, *v;
	size_t nlen;
	const struct param *pm = NULL;
	char shown[96], *value;

	name = s;
	while (s < end && *s != '=' && *s != ' ' && *s != '\t')
		s++;
	nlen = (size_t)(s - name);
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	if (s >= end || *s != '=' || nlen == 0) {
		perr(p, lineno, "expected \"name = value\"");
		return -1;
	}
	s++;
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	v = s;
	/* Trailing white space was removed by cf_lines. */
	for (size_t i = 0; i < N_ELEMENTS(params); i++)
		if ((params[i].types & p->type) &&
		    strlen(params[i].name) == nlen &&
		    memcmp(params[i].name, name, nlen) == 0) {
			pm = &params[i];
			break;
		}
	if (pm == NULL) {
		char known[1024];

		printable(name, nlen, shown, sizeof(shown));
		known_names(p->type, known, sizeof(known));
		perr(p, lineno, "unknown parameter %s (known for %s: %s)",
		    shown, p->cf->type, known);
		return -1;
	}
	value = xstrndup(v, (size_t)(end - v));
	set_param(p, pm, lineno, value);
	if (pm->field == F_PASSWORD)
		explicit_bzero(value, strlen(value));
	free(value);
	return p->failed ? -1 : 0;
}

/*
 * Query and result_format walking.
 */

struct keyinfo {
	const char *key;
	size_t keylen;
	const char *local;	/* local part, or the whole key */
	size_t locallen;
	bool has_at;
	const char *domain;	/* after the last '@'; NULL without '@' */
	size_t domainlen;
};

static void
key_split(const char *key, size_t keylen, struct keyinfo *k)
{
	const char *at = memrchr(key, '@', keylen);

	k->key = key;
	k->keylen = keylen;
	k->has_at = at != NULL;
	if (at != NULL) {
		k->local = key;
		k->locallen = (size_t)(at - key);
		k->domain = at + 1;
		k->domainlen = keylen - k->locallen - 1;
	} else {
		k->local = key;
		k->locallen = keylen;
		k->domain = NULL;
		k->domainlen = 0;
	}
}

/*
 * The value of expansion c ('s', 'u', 'd', '1'..'9', case-insensitive)
 * over k; false when it is impossible (the caller skips).
 */
static bool
key_expansion(const struct keyinfo *k, char c, const char **s, size_t *n)
{
	switch (c) {
	case 's': case 'S':
		*s = k->key;
		*n = k->keylen;
		return true;
	case 'u': case 'U':
		if (k->has_at && k->locallen == 0)
			return false;
		*s = k->local;
		*n = k->locallen;
		return true;
	case 'd': case 'D':
		if (k->domain == NULL || k->domainlen == 0)
			return false;
		*s = k->domain;
		*n = k->domainlen;
		return true;
	default:
		break;
	}
	if (c >= '1' && c <= '9') {
		int want = c - '0';
		const char *d = k->domain, *e;

		if (d == NULL || k->domainlen == 0)
			return false;
		e = d + k->domainlen;	/* end of the current label */
		for (int i = 1;; i++) {
			const char *dot = memrchr(d, '.', (size_t)(e - d));
			const char *start = dot ? dot + 1 : d;

			if (i == want) {
				*s = start;
				*n = (size_t)(e - start);
				return true;
			}
			if (dot == NULL)
				return false;
			e = dot;
		}
	}
	return false;
}

static bool
is_expansion_char(char c)
{
	return c == 's' || c == 'u' || c == 'd' || c == 'S' || c == 'U' ||
	    c == 'D' || (c >= '1' && c <= '9');
}

static unsigned
uses_bit(char c)
{
	switch (c) {
	case 's': case 'S': return SQL_USES_KEY;
	case 'u': case 'U': return SQL_USES_LOCAL;
	case 'd': case 'D': return SQL_USES_DOMAIN;
	default: return SQL_USES_DIGIT;
	}
}

struct walk {
	const struct sql_cf *cf;
	bool escape;			/* SQL_PARAM_ESCAPE */
	const struct keyinfo *k;	/* NULL: validate only */
	void (*literal)(void *, const char *, size_t);	/* NULL: dry run */
	void (*param)(void *, const char *, size_t);
	void *ctx;
	bool skip;
	const char *error;		/* validation */
	unsigned uses;
};

static void
w_lit(struct walk *w, const char *s, size_t n)
{
	if (w->literal != NULL && n > 0)
		w->literal(w->ctx, s, n);
}

/* Expansion c: a parameter, or skip when impossible. */
static void
w_param(struct walk *w, char c)
{
	const char *s;
	size_t n;

	w->uses |= uses_bit(c);
	if (w->k == NULL)
		return;
	if (!key_expansion(w->k, c, &s, &n)) {
		w->skip = true;
		return;
	}
	if (w->param != NULL)
		w->param(w->ctx, s, n);
}

/*
 * Text t[0..n) (outside literals, or the text of a literal) with %%
 * collapsed, through literal(); expansions are handled by the caller.
 */
static void
w_text(struct walk *w, const char *t, size_t n)
{
	size_t i = 0, start = 0;

	while (i < n) {
		if (t[i] == '%' && i + 1 < n && t[i + 1] == '%') {
			w_lit(w, t + start, i + 1 - start);
			i += 2;
			start = i;
		} else {
			i++;
		}
	}
	w_lit(w, t + start, n - start);
}

/*
 * Find the end of the literal starting at q[0] (a quote): index of the
 * closing quote, or 0 when unterminated.
 */
static size_t
literal_end(const char *q, size_t n, bool escape)
{
	char quote = q[0];

	for (size_t j = 1; j < n; j++) {
		if (q[j] == quote) {
			if (j + 1 < n && q[j + 1] == quote) {
				j++;
				continue;
			}
			return j;
		}
		if (escape && q[j] == '\\' && j + 1 < n) {
			j++;
			continue;
		}
	}
	return 0;
}

/* Is t[i] the start of an expansion ('%' + expansion char)? */
static bool
at_expansion(const char *t, size_t i, size_t n)
{
	return t[i] == '%' && i + 1 < n && is_expansion_char(t[i + 1]);
}

/* Validate the '%' at t[i]; sets w->error when bad. */
static void
check_percent(struct walk *w, const char *t, size_t i, size_t n)
{
	if (i + 1 >= n)
		w->error = "a '%' at the end (write %% for a percent sign)";
	else if (t[i + 1] != '%' && !is_expansion_char(t[i + 1]))
		w->error = "unknown % sequence (known: %% %s %u %d %S %U %D "
		    "%1-%9)";
}

/* One quoted literal q[0..len] (both quotes included). */
static void
w_literal(struct walk *w, const char *q, size_t len)
{
	const char *body = q + 1;
	size_t blen = len - 2, i, start, npieces = 0, nexp = 0;

	/* Count pieces and check the % sequences. */
	for (i = 0; i < blen; i++) {
		if (body[i] != '%')
			continue;
		check_percent(w, body, i, blen);
		if (w->error != NULL)
			return;
		if (body[i + 1] == '%') {
			i++;
			continue;
		}
		nexp++;
		w->uses |= uses_bit(body[i + 1]);
		i++;
	}
	if (nexp == 0) {
		w_lit(w, q, 1);
		w_text(w, body, blen);
		w_lit(w, q + len - 1, 1);
		return;
	}
	if (!w->escape && q[0] == '"') {
		w->error = "an expansion inside a double-quoted identifier";
		return;
	}
	if (w->k == NULL)
		return;
	if (w->escape) {
		/* 'text%stext': quotes kept, escaped values inside. */
		w_lit(w, q, 1);
		for (i = start = 0; i < blen;) {
			if (at_expansion(body, i, blen)) {
				w_text(w, body + start, i - start);
				w_param(w, body[i + 1]);
				i += 2;
				start = i;
			} else if (body[i] == '%') {
				i += 2;		/* %% */
			} else if (body[i] == '\\' && i + 1 < blen) {
				i += 2;
			} else {
				i++;
			}
		}
		w_text(w, body + start, blen - start);
		w_lit(w, q + len - 1, 1);
		return;
	}
	/* Bind: a bare parameter, or a concatenation of pieces. */
	for (i = start = 0; i < blen;) {
		if (at_expansion(body, i, blen)) {
			if (i > start)
				npieces++;
			npieces++;
			i += 2;
			start = i;
		} else {
			i += body[i] == '%' ? 2 : 1;
		}
	}
	if (blen > start)
		npieces++;
	if (npieces > 1)
		w_lit(w, "(", 1);
	npieces = 0;
	for (i = start = 0; i < blen;) {
		if (at_expansion(body, i, blen)) {
			if (i > start) {
				if (npieces++ > 0)
					w_lit(w, " || ", 4);
				w_lit(w, "'", 1);
				w_text(w, body + start, i - start);
				w_lit(w, "'", 1);
			}
			if (npieces++ > 0)
				w_lit(w, " || ", 4);
			w_param(w, body[i + 1]);
			i += 2;
			start = i;
		} else {
			i += body[i] == '%' ? 2 : 1;
		}
	}
	if (blen > start) {
		w_lit(w, " || '", 5);
		w_text(w, body + start, blen - start);
		w_lit(w, "'", 1);
		npieces++;
	}
	if (npieces > 1)
		w_lit(w, ")", 1);
}

/* Walk a query template. */
static void
walk_query(struct walk *w, const char *t)
{
	size_t n = strlen(t), i = 0, start = 0;

	while (i < n && w->error == NULL) {
		if (t[i] == '\'' || t[i] == '"') {
			size_t e = literal_end(t + i, n - i, w->escape);

			if (e == 0) {
				w->error = "unterminated quoted string";
				return;
			}
			w_text(w, t + start, i - start);
			w_literal(w, t + i, e + 1);
			i += e + 1;
			start = i;
		} else if (t[i] == '%') {
			check_percent(w, t, i, n);
			if (w->error != NULL)
				return;
			if (t[i + 1] == '%') {
				i += 2;
				continue;
			}
			w_text(w, t + start, i - start);
			if (w->escape)
				w_lit(w, "'", 1);
			w_param(w, t[i + 1]);
			if (w->escape)
				w_lit(w, "'", 1);
			i += 2;
			start = i;
		} else {
			i++;
		}
	}
	if (w->error == NULL)
		w_text(w, t + start, n - start);
}

/* Validate a result_format; returns the uses or sets *error. */
static unsigned
check_format(const char *f, const char **error)
{
	size_t n = strlen(f);
	unsigned uses = 0;
	struct walk w;

	memset(&w, 0, sizeof(w));
	for (size_t i = 0; i < n; i++) {
		if (f[i] != '%')
			continue;
		check_percent(&w, f, i, n);
		if (w.error != NULL) {
			*error = w.error;
			return 0;
		}
		if (f[i + 1] != '%')
			uses |= uses_bit(f[i + 1]);
		i++;
	}
	*error = NULL;
	return uses;
}

/* The legacy parameters as a query, '%' in them doubled. */
static void
append_pct_escaped(struct buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '%')
			buf_append_c(b, '%');
		buf_append_c(b, *s);
	}
}

static char *
legacy_query(struct parse *p)
{
	struct buf b;

	buf_init(&b, SQL_CF_LINE_MAX_BYTES * 4);
	if (p->select_function != NULL) {
		buf_append_str(&b, "SELECT ");
		append_pct_escaped(&b, p->select_function);
		buf_append_str(&b, "('%s')");
		return buf_steal(&b);
	}
	if (p->select_field == NULL || p->table == NULL ||
	    p->where_field == NULL) {
		buf_deinit(&b);
		return NULL;
	}
	buf_append_str(&b, "SELECT ");
	append_pct_escaped(&b, p->select_field);
	buf_append_str(&b, " FROM ");
	append_pct_escaped(&b, p->table);
	buf_append_str(&b, " WHERE ");
	append_pct_escaped(&b, p->where_field);
	buf_append_str(&b, " = '%s'");
	if (p->additional != NULL && p->additional[0] != '\0') {
		buf_append_c(&b, ' ');
		append_pct_escaped(&b, p->additional);
	}
	return buf_steal(&b);
}

static void
finish(struct parse *p)
{
	struct sql_cf *cf = p->cf;
	struct walk w;
	const char *why;

	if (cf->query == NULL) {
		cf->query = legacy_query(p);
		if (cf->query == NULL) {
			perr(p, 0, "no query (set query, or the legacy table, "
			    "select_field and where_field)");
			return;
		}
	}
	if (cf->query[0] == '\0') {
		perr(p, p->query_line, "query is empty");
		return;
	}
	memset(&w, 0, sizeof(w));
	w.cf = cf;
	w.escape = cf->param_style == SQL_PARAM_ESCAPE;
	walk_query(&w, cf->query);
	if (w.error != NULL) {
		perr(p, p->query_line, "query: %s", w.error);
		return;
	}
	cf->query_uses = w.uses;
	if (cf->result_format == NULL)
		cf->result_format = xstrdup("%s");
	check_format(cf->result_format, &why);
	if (why != NULL) {
		perr(p, p->result_format_line, "result_format: %s", why);
		return;
	}
	if ((p->type & T_SQLITE) && (cf->dbpath == NULL ||
	    cf->dbpath[0] == '\0')) {
		perr(p, 0, "no dbpath (the SQLite database file)");
		return;
	}
	if ((p->type & T_NET) && cf->hosts == NULL) {
		struct strv sv;

		strv_init(&sv);
		strv_add(&sv, "localhost");
		cf->hosts = strv_steal(&sv);
		cf->host = xcalloc(1, sizeof(*cf->host));
		cf->host[0].spec = xstrdup("localhost");
		cf->host[0].name = xstrdup("localhost");
		cf->host[0].kind = SQL_HOST_INET;
		cf->nhosts = 1;
	}
	if (cf->charset == NULL) {
		if (p->type & T_MYSQL)
			cf->charset = xstrdup("utf8mb4");
		else if (p->type & T_PGSQL)
			cf->charset = xstrdup("UTF8");
	}
}

int
sql_cf_parse(const char *path, const char *type, const char *text,
    size_t len, struct sql_cf *cf, char *err, size_t errsz)
{
	struct parse p;
	struct cf_lines r;
	const char *lerr = NULL;
	unsigned errline = 0;
	int ret;

	memset(cf, 0, sizeof(*cf));
	memset(&p, 0, sizeof(p));
	err[0] = '\0';
	p.cf = cf;
	p.path = path;
	p.err = err;
	p.errsz = errsz;
	p.type = type_bit(type);
	if (p.type == 0) {
		snprintf(err, errsz, "%s: unknown SQL table type \"%.32s\"",
		    path, type);
		return -1;
	}
	cf->path = xstrdup(path);
	cf->type = xstrdup(type);
	cf->param_style = p.type == T_MYSQL ? SQL_PARAM_ESCAPE :
	    SQL_PARAM_BIND;
	cf->idle_interval = 60;
	cf->retry_interval = 60;
	cf->require_result_set = true;

	cf_lines_init(&r, SQL_CF_LINE_MAX_BYTES);
	/* The lines may hold the password: wiped when freed. */
	buf_set_sensitive(&r.phys);
	buf_set_sensitive(&r.logical);
	ret = cf_lines_feed(&r, text, len, line_cb, &p, &lerr, &errline);
	if (ret == 0)
		ret = cf_lines_finish(&r, line_cb, &p, &lerr, &errline);
	cf_lines_deinit(&r);
	if (ret < 0 && lerr != NULL)
		perr(&p, errline, "%s", lerr);
	if (!p.failed)
		finish(&p);
	free(p.select_field);
	free(p.table);
	free(p.where_field);
	free(p.additional);
	free(p.select_function);
	free(p.unused);
	if (p.failed) {
		sql_cf_free(cf);
		return -1;
	}
	return 0;
}

int
sql_cf_load(const char *path, const char *type,
    const struct dict_open_opts *opts, struct sql_cf *cf, char *err,
    size_t errsz)
{
	struct dict_open_opts defaults;
	char *text, *why = NULL;
	size_t len;
	int errnum, ret;

	memset(cf, 0, sizeof(*cf));
	if (opts == NULL) {
		dict_open_opts_init(&defaults);
		opts = &defaults;
	}
	if (path[0] != '/' && path[0] != '.') {
		snprintf(err, errsz, "%s:%.900s: give the path of a .cf file "
		    "(starting with / or .); SQL parameters in main.cf are "
		    "not supported", type, path);
		return -1;
	}
	if (dict_check_file(path, opts, err, errsz) < 0)
		return -1;
	text = file_read_capped(path, SQL_CF_MAX_BYTES, &len, &errnum, &why);
	if (text == NULL) {
		snprintf(err, errsz, "%s: %s", path, why ? why : "cannot read");
		free(why);
		return -1;
	}
	ret = sql_cf_parse(path, type, text, len, cf, err, errsz);
	/* The file may hold a password. */
	explicit_bzero(text, len);
	free(text);
	return ret;
}

/*
 * Expansion.
 */

/* Strict UTF-8 (no overlong forms, surrogates or code points past
 * U+10FFFF). */
static bool
utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		size_t need;
		unsigned long cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (n - i <= need)
			return false;
		for (size_t j = 1; j <= need; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + j] & 0x3f);
		}
		if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += need + 1;
	}
	return true;
}

static bool
domain_listed(const struct sql_cf *cf, const struct keyinfo *k)
{
	if (!k->has_at || k->locallen == 0 || k->domainlen == 0)
		return false;
	for (char **d = cf->domain; *d != NULL; d++)
		if (strlen(*d) == k->domainlen &&
		    strncasecmp(*d, k->domain, k->domainlen) == 0)
			return true;
	return false;
}

enum sql_expand
sql_query_expand(const struct sql_cf *cf, const char *key,
    void (*literal)(void *ctx, const char *s, size_t n),
    void (*param)(void *ctx, const char *s, size_t n), void *ctx)
{
	struct keyinfo k;
	struct walk w;
	size_t keylen = strlen(key);

	if (keylen > DICT_KEY_MAX_BYTES ||
	    !utf8_valid((const unsigned char *)key, keylen))
		return SQL_EXPAND_SKIP;
	key_split(key, keylen, &k);
	if (cf->domain != NULL && !domain_listed(cf, &k))
		return SQL_EXPAND_SKIP;

	/* A dry run first: nothing is called when the query is skipped. */
	memset(&w, 0, sizeof(w));
	w.cf = cf;
	w.escape = cf->param_style == SQL_PARAM_ESCAPE;
	w.k = &k;
	walk_query(&w, cf->query);
	if (w.skip || w.error != NULL)
		return SQL_EXPAND_SKIP;

	w.literal = literal;
	w.param = param;
	w.ctx = ctx;
	w.uses = 0;
	walk_query(&w, cf->query);
	return SQL_EXPAND_OK;
}

/* Apply the format; false when the row is skipped.  Appends to out. */
static bool
format_row(const struct sql_cf *cf, const struct keyinfo *k,
    const struct keyinfo *v, struct buf *out, bool *overflow)
{
	const char *f = cf->result_format, *s;
	size_t n;

	for (; *f != '\0'; f++) {
		int r;

		if (*f != '%' || f[1] == '\0') {
			if (buf_append_c(out, *f) < 0)
				goto full;
			continue;
		}
		f++;
		switch (*f) {
		case '%':
			r = buf_append_c(out, '%');
			break;
		case 's': case 'u': case 'd':
			if (!key_expansion(v, *f, &s, &n))
				return false;
			r = buf_append(out, s, n);
			break;
		default:
			if (!key_expansion(k, *f, &s, &n))
				return false;
			r = buf_append(out, s, n);
			break;
		}
		if (r < 0)
			goto full;
	}
	return true;
full:
	*overflow = true;
	return false;
}

int
sql_result_append(const struct sql_cf *cf, const char *key,
    const char *value, struct buf *out, size_t *nresults, char *err,
    size_t errsz)
{
	struct keyinfo k, v;
	size_t saved = out->len;
	bool overflow = false;

	if (value == NULL || value[0] == '\0')
		return 0;
	key_split(key, strlen(key), &k);
	key_split(value, strlen(value), &v);
	if (cf->expansion_limit > 0 &&
	    *nresults >= (size_t)cf->expansion_limit) {
		snprintf(err, errsz, "%s:%s: the query returned more than %ld "
		    "results (expansion_limit)", cf->type, cf->path,
		    cf->expansion_limit);
		return -1;
	}
	if (out->len > 0 && buf_append_c(out, ',') < 0)
		overflow = true;
	if (!overflow && format_row(cf, &k, &v, out, &overflow)) {
		(*nresults)++;
		return 0;
	}
	/* Skipped or too long: undo the partial append. */
	out->len = saved;
	if (out->data != NULL)
		out->data[saved] = '\0';
	if (overflow) {
		snprintf(err, errsz, "%s:%s: the result is longer than %zu "
		    "bytes", cf->type, cf->path, out->max);
		return -1;
	}
	return 0;
}

void
sql_msg_clean(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/*
 * Hosts.
 */

size_t
sql_hosts_order(struct sql_cf *cf, time_t now, size_t *order, size_t max)
{
	size_t n = 0;

	/* UNIX-domain sockets first, then the others, each group shuffled. */
	for (int pass = 0; pass < 2; pass++) {
		size_t first = n;

		for (size_t i = 0; i < cf->nhosts && n < max; i++) {
			struct sql_host *h = &cf->host[i];

			if ((h->kind == SQL_HOST_UNIX) != (pass == 0))
				continue;
			if (h->down_until != 0 && now < h->down_until)
				continue;
			order[n++] = i;
		}
		for (size_t i = n - first; i > 1; i--) {
			size_t j = arc4random_uniform((uint32_t)i);
			size_t t = order[first + i - 1];

			order[first + i - 1] = order[first + j];
			order[first + j] = t;
		}
	}
	return n;
}

void
sql_host_failed(struct sql_cf *cf, size_t i, time_t now)
{
	if (i >= cf->nhosts)
		return;
	/* With retry_interval 0 the host is usable again at once. */
	cf->host[i].down_until = now + cf->retry_interval;
}

void
sql_host_ok(struct sql_cf *cf, size_t i)
{
	if (i < cf->nhosts)
		cf->host[i].down_until = 0;
}

static void
pieces_add(struct sql_pieces *p, const char *s, size_t n, bool param)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 16;
		p->v = xreallocarray(p->v, p->cap, sizeof(*p->v));
	}
	p->v[p->n].s = s;
	p->v[p->n].n = n;
	p->v[p->n].param = param;
	p->n++;
}

static void
pieces_literal(void *ctx, const char *s, size_t n)
{
	pieces_add(ctx, s, n, false);
}

static void
pieces_param(void *ctx, const char *s, size_t n)
{
	pieces_add(ctx, s, n, true);
}

enum sql_expand
sql_query_pieces(const struct sql_cf *cf, const char *key,
    struct sql_pieces *pieces)
{
	return sql_query_expand(cf, key, pieces_literal, pieces_param, pieces);
}

void
sql_pieces_free(struct sql_pieces *pieces)
{
	free(pieces->v);
	pieces->v = NULL;
	pieces->n = pieces->cap = 0;
}
