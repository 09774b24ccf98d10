/* SPDX-License-Identifier: MIT */
/*
 * dict_pattern - the file layout, if/endif structure, lookup walk and
 * result substitution shared by the pcre, regexp and cidr tables; see
 * dict_pattern.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "buf.h"
#include "cf_lines.h"
#include "dict.h"
#include "dict_pattern.h"
#include "file_read.h"
#include "log.h"
#include "xalloc.h"

/* Bytes of table text quoted in an error message. */
#define QUOTE_BYTES 100
/* Bytes of a key shown in the warning about invalid UTF-8. */
#define KEY_SHOWN_BYTES 100
/* Digits of a $N group number looked at (more means out of range). */
#define GROUP_DIGITS_MAX 5

enum rule_kind {
	RULE_MATCH,
	RULE_IF,
	RULE_ENDIF,
};

/* A $N in a result: insert group at pos of the literal text. */
struct ref {
	size_t pos;
	unsigned group;
};

struct rule {
	enum rule_kind kind;
	bool negate;
	unsigned lineno;	/* first line of the logical line */
	size_t endif;		/* RULE_IF: index of its endif */
	void *pattern;		/* NULL for endif */
	/* RULE_MATCH: the result without its $N and with "$$" made "$" */
	char *text;
	size_t len;
	struct ref *refs;
	size_t nrefs;
	unsigned max_group;	/* highest N of the $N, 0 if none */
};

struct table {
	const struct dict_pattern_syntax *syn;
	void *ctx;
	struct rule *rules;
	size_t n;
	size_t cap;
	unsigned max_group;	/* over all rules */
	size_t *off;		/* 2 * (max_group + 1) group offsets */
	/* The file when it was read (has_stamp false for text tables). */
	bool has_stamp;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

/* Text handed to dict_pattern_open() by dict_pattern_open_text(). */
struct text_src {
	const char *text;
	size_t len;
};

static _Thread_local const struct text_src *text_src;

static bool
is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' ||
	    c == '\f';
}

static const char *
skip_ws(const char *p)
{
	while (is_ws(*p))
		p++;
	return p;
}

static bool
is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_';
}

/* perr - "FILE, line N: " and the formatted reason into err. */
static void ATTR_FORMAT(5, 6)
perr(char *err, size_t errsz, const char *file, unsigned lineno,
    const char *fmt, ...)
{
	char why[DICT_PATTERN_WHY_MAX_BYTES];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(err, errsz, "%s, line %u: %s", file, lineno, why);
}

/* quote - table text made safe for a message (escaped, shortened). */
static const char *
quote(char *dst, size_t dstsz, const char *s)
{
	return log_escape(dst, dstsz, s, strlen(s), QUOTE_BYTES);
}

bool
dict_pattern_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		unsigned char c = p[i], lo = 0x80, hi = 0xbf;
		size_t len;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			len = 2;
		else if (c >= 0xe0 && c <= 0xef)
			len = 3;
		else if (c >= 0xf0 && c <= 0xf4)
			len = 4;
		else
			return false;
		if (c == 0xe0)
			lo = 0xa0;	/* overlong */
		else if (c == 0xed)
			hi = 0x9f;	/* UTF-16 surrogates */
		else if (c == 0xf0)
			lo = 0x90;	/* overlong */
		else if (c == 0xf4)
			hi = 0x8f;	/* past U+10FFFF */
		if (n - i < len || p[i + 1] < lo || p[i + 1] > hi)
			return false;
		for (size_t k = 2; k < len; k++)
			if (p[i + k] < 0x80 || p[i + k] > 0xbf)
				return false;
		i += len;
	}
	return true;
}

int
dict_pattern_split(const char *s, const char **re, size_t *relen,
    const char **flags, size_t *flagslen, const char **end, char *why,
    size_t whysz)
{
	char delim = s[0], shown[8];
	const char *p;

	if (delim == '\0') {
		snprintf(why, whysz, "missing pattern");
		return -1;
	}
	if ((unsigned char)delim >= 0x80 || is_name_char(delim) ||
	    is_ws(delim) || delim < 0x21 || delim == 0x7f || delim == '\\') {
		log_escape(shown, sizeof(shown), s, 1, 1);
		snprintf(why, whysz, "a pattern starts with a delimiter such "
		    "as \"/\" (any ASCII punctuation but \"\\\"), not \"%s\"",
		    shown);
		return -1;
	}
	for (p = s + 1; *p != '\0' && *p != delim; p++)
		if (*p == '\\' && p[1] != '\0')
			p++;
	if (*p != delim) {
		snprintf(why, whysz, "no closing \"%c\" after the pattern",
		    delim);
		return -1;
	}
	*re = s + 1;
	*relen = (size_t)(p - (s + 1));
	*flags = ++p;
	while (*p != '\0' && !is_ws(*p))
		p++;
	*flagslen = (size_t)(p - *flags);
	*end = p;
	return 0;
}

/* --- parsing --- */

static void
rule_free(const struct dict_pattern_syntax *syn, struct rule *r)
{
	if (r->pattern != NULL)
		syn->free(r->pattern);
	free(r->text);
	free(r->refs);
}

static void
table_free(struct table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n; i++)
		rule_free(t->syn, &t->rules[i]);
	free(t->rules);
	free(t->off);
	if (t->ctx != NULL && t->syn->ctx_free != NULL)
		t->syn->ctx_free(t->ctx);
	free(t);
}

/*
 * keyword - does line s start with the keyword kw (case-insensitive)?
 * "endif" must be followed by white space or the end; "if" may also be
 * followed directly by a pattern delimiter ("if/re/").  *rest is set
 * after the keyword.
 */
static bool
keyword(const char *s, const char *kw, const char **rest)
{
	size_t n = strlen(kw);
	char c;

	if (strncasecmp(s, kw, n) != 0)
		return false;
	c = s[n];
	if (c != '\0' && !is_ws(c) && (strcmp(kw, "endif") == 0 ||
	    is_name_char(c)))
		return false;
	*rest = s + n;
	return true;
}

/*
 * parse_result - the result text s of rule r (pattern with ngroups
 * groups) into r->text and r->refs.  0, or -1 with why.
 */
static int
parse_result(const struct dict_pattern_syntax *syn, struct rule *r,
    const char *s, unsigned ngroups, char *why, size_t whysz)
{
	size_t len = strlen(s), nrefs = 0, cap = 0;
	struct buf out;
	char shown[QUOTE_BYTES * 4 + 8];

	if (len > DICT_VALUE_MAX_BYTES) {
		snprintf(why, whysz, "result longer than the %d bytes allowed",
		    DICT_VALUE_MAX_BYTES);
		return -1;
	}
	if (!dict_pattern_utf8_valid(s, len)) {
		snprintf(why, whysz, "the result is not valid UTF-8");
		return -1;
	}
	buf_init(&out, DICT_VALUE_MAX_BYTES);
	for (const char *p = s; *p != '\0';) {
		const char *name, *name_end;
		unsigned long group = 0;
		size_t digits = 0;

		if (!syn->substitute || *p != '$') {
			(void)buf_append_c(&out, *p++);
			continue;
		}
		p++;
		if (*p == '$') {
			(void)buf_append_c(&out, *p++);
			continue;
		}
		if (*p == '{' || *p == '(') {
			char close = *p == '{' ? '}' : ')';

			name = p + 1;
			name_end = strchr(name, close);
			if (name_end == NULL) {
				snprintf(why, whysz, "\"$%c\" without \"%c\" in "
				    "the result", *p, close);
				goto fail;
			}
			p = name_end + 1;
		} else {
			name = p;
			while (is_name_char(*p))
				p++;
			name_end = p;
		}
		if (name == name_end) {
			snprintf(why, whysz, "\"$\" in the result must be "
			    "followed by a group number (\"$1\", \"${1}\"), "
			    "or be written \"$$\"");
			goto fail;
		}
		for (const char *q = name; q < name_end; q++) {
			if (*q < '0' || *q > '9') {
				log_escape(shown, sizeof(shown), name,
				    (size_t)(name_end - name), QUOTE_BYTES);
				snprintf(why, whysz, "\"$%s\" in the result is "
				    "not a group number (write \"${1}x\" for "
				    "group 1 followed by \"x\")", shown);
				goto fail;
			}
			if (digits > 0 || *q != '0')
				digits++;
			if (digits <= GROUP_DIGITS_MAX)
				group = group * 10 + (unsigned long)(*q - '0');
		}
		if (r->negate) {
			snprintf(why, whysz, "\"$%lu\" in the result of a "
			    "negated pattern (\"!\"): nothing matched, so there "
			    "is no group to insert", group);
			goto fail;
		}
		if (group == 0) {
			snprintf(why, whysz, "\"$0\" in the result: groups "
			    "are numbered from 1");
			goto fail;
		}
		if (digits > GROUP_DIGITS_MAX || group > ngroups) {
			log_escape(shown, sizeof(shown), name,
			    (size_t)(name_end - name), QUOTE_BYTES);
			snprintf(why, whysz, "\"$%s\" in the result: the "
			    "pattern has %u capture group%s", shown, ngroups,
			    ngroups == 1 ? "" : "s");
			goto fail;
		}
		if (nrefs == cap) {
			cap = cap ? 2 * cap : 4;
			r->refs = xreallocarray(r->refs, cap, sizeof(*r->refs));
		}
		r->refs[nrefs].pos = out.len;
		r->refs[nrefs].group = (unsigned)group;
		nrefs++;
		if (group > r->max_group)
			r->max_group = (unsigned)group;
	}
	r->nrefs = nrefs;
	r->len = out.len;
	r->text = buf_steal(&out);
	return 0;
fail:
	buf_deinit(&out);
	return -1;
}

/* add_rule - a new zeroed rule at the end of t, or NULL past the cap. */
static struct rule *
add_rule(struct table *t)
{
	if (t->n >= t->syn->max_rules)
		return NULL;
	if (t->n == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 64;
		t->rules = xreallocarray(t->rules, t->cap, sizeof(*t->rules));
	}
	memset(&t->rules[t->n], 0, sizeof(t->rules[0]));
	return &t->rules[t->n++];
}

/*
 * parse_pattern - "!"? and the pattern at s for rule r; *rest after it.
 * 0, or -1 with why.
 */
static int
parse_pattern(struct table *t, struct rule *r, const char *s,
    const char **rest, unsigned *ngroups, char *why, size_t whysz)
{
	const char *end = NULL;

	if (*s == '!') {
		r->negate = true;
		s = skip_ws(s + 1);
	}
	if (*s == '\0') {
		snprintf(why, whysz, "missing pattern");
		return -1;
	}
	*ngroups = 0;
	why[0] = '\0';
	r->pattern = t->syn->parse(t->ctx, s, &end, ngroups, why, whysz);
	if (r->pattern == NULL) {
		if (why[0] == '\0')
			snprintf(why, whysz, "bad pattern");
		return -1;
	}
	if (*end != '\0' && !is_ws(*end)) {
		snprintf(why, whysz, "white space expected after the pattern");
		return -1;
	}
	*rest = skip_ws(end);
	return 0;
}

/* State of parse_table() while cf_lines hands it logical lines. */
struct parse {
	struct table *t;
	const char *file;
	size_t *open_ifs;	/* indexes of the ifs not yet closed */
	size_t nopen;
	size_t open_cap;
	char *err;
	size_t errsz;
};

/* parse_line - one logical line (cf_line_cb); -1 with p->err set. */
static int
parse_line(void *ctx, const char *line, size_t len, unsigned lineno)
{
	struct parse *ps = ctx;
	struct table *t = ps->t;
	char why[DICT_PATTERN_WHY_MAX_BYTES], shown[QUOTE_BYTES * 4 + 8];
	const char *rest;
	struct rule *r;
	unsigned ngroups;

	r = add_rule(t);
	if (r == NULL) {
		perr(ps->err, ps->errsz, ps->file, lineno, "more than the %zu "
		    "rules a %s table may have", t->syn->max_rules,
		    t->syn->name);
		return -1;
	}
	r->lineno = lineno;
	if (keyword(line, "endif", &rest)) {
		r->kind = RULE_ENDIF;
		if (*skip_ws(rest) != '\0') {
			perr(ps->err, ps->errsz, ps->file, lineno, "text after "
			    "endif: \"%s\"", quote(shown, sizeof(shown),
			    skip_ws(rest)));
			return -1;
		}
		if (ps->nopen == 0) {
			perr(ps->err, ps->errsz, ps->file, lineno, "endif "
			    "without if");
			return -1;
		}
		t->rules[ps->open_ifs[--ps->nopen]].endif = t->n - 1;
		return 0;
	}
	if (keyword(line, "if", &rest)) {
		r->kind = RULE_IF;
		if (parse_pattern(t, r, skip_ws(rest), &rest, &ngroups, why,
		    sizeof(why)) < 0) {
			perr(ps->err, ps->errsz, ps->file, lineno, "%s", why);
			return -1;
		}
		if (*rest != '\0') {
			perr(ps->err, ps->errsz, ps->file, lineno, "text after "
			    "the pattern of an if: \"%s\"", quote(shown,
			    sizeof(shown), rest));
			return -1;
		}
		if (ps->nopen == ps->open_cap) {
			ps->open_cap = ps->open_cap ? 2 * ps->open_cap : 16;
			ps->open_ifs = xreallocarray(ps->open_ifs,
			    ps->open_cap, sizeof(*ps->open_ifs));
		}
		ps->open_ifs[ps->nopen++] = t->n - 1;
		return 0;
	}
	r->kind = RULE_MATCH;
	if (parse_pattern(t, r, line, &rest, &ngroups, why, sizeof(why)) < 0) {
		perr(ps->err, ps->errsz, ps->file, lineno, "%s", why);
		return -1;
	}
	if (*rest == '\0') {
		perr(ps->err, ps->errsz, ps->file, lineno, "no result after "
		    "the pattern");
		return -1;
	}
	if (parse_result(t->syn, r, rest, ngroups, why, sizeof(why)) < 0) {
		perr(ps->err, ps->errsz, ps->file, lineno, "%s", why);
		return -1;
	}
	if (r->max_group > t->max_group)
		t->max_group = r->max_group;
	(void)len;
	return 0;
}

/* parse_table - text into t; 0, or -1 with err naming file and line. */
static int
parse_table(struct table *t, const char *file, const char *text,
    size_t len, char *err, size_t errsz)
{
	struct parse ps = { t, file, NULL, 0, 0, err, errsz };
	struct cf_lines lines;
	const char *why = NULL;
	unsigned line = 0;
	int rc = -1;

	err[0] = '\0';
	cf_lines_init(&lines, DICT_PATTERN_LINE_MAX_BYTES);
	if (cf_lines_feed(&lines, text, len, parse_line, &ps, &why,
	    &line) < 0 || cf_lines_finish(&lines, parse_line, &ps, &why,
	    &line) < 0) {
		/* why is NULL when parse_line() stopped with its own error. */
		if (why != NULL)
			perr(err, errsz, file, line, "%s", why);
		goto out;
	}
	if (ps.nopen > 0) {
		perr(err, errsz, file, t->rules[ps.open_ifs[ps.nopen - 1]].lineno,
		    "if without endif");
		goto out;
	}
	t->off = xreallocarray(NULL, 2 * ((size_t)t->max_group + 1),
	    sizeof(*t->off));
	rc = 0;
out:
	free(ps.open_ifs);
	cf_lines_deinit(&lines);
	return rc;
}

static struct table *
table_new(const struct dict_pattern_syntax *syn)
{
	struct table *t = xcalloc(1, sizeof(*t));

	t->syn = syn;
	if (syn->ctx_new != NULL)
		t->ctx = syn->ctx_new();
	return t;
}

int
dict_pattern_open(struct dict *d, const char *path,
    const struct dict_open_opts *opts, const struct dict_pattern_syntax *syn,
    char *err, size_t errsz)
{
	const struct text_src *src = text_src;
	struct table *t;
	struct stat st;
	char *text, *why = NULL;
	size_t len = 0;
	int eno = 0;

	/* Text from dict_pattern_open_text(): used once, for this open. */
	text_src = NULL;
	if (src != NULL) {
		t = table_new(syn);
		if (parse_table(t, path, src->text, src->len, err, errsz) < 0) {
			table_free(t);
			return -1;
		}
		d->priv = t;
		return 0;
	}
	if (dict_check_file(path, opts, err, errsz) < 0)
		return -1;
	if (stat(path, &st) < 0) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return -1;
	}
	text = file_read_capped(path, syn->max_file_bytes, &len, &eno, &why);
	if (text == NULL) {
		snprintf(err, errsz, "%s: %s", path, why);
		free(why);
		return -1;
	}
	t = table_new(syn);
	if (parse_table(t, path, text, len, err, errsz) < 0) {
		table_free(t);
		free(text);
		return -1;
	}
	free(text);
	t->has_stamp = true;
	t->dev = st.st_dev;
	t->ino = st.st_ino;
	t->size = st.st_size;
	t->mtime = st.st_mtim;
	d->priv = t;
	return 0;
}

struct dict *
dict_pattern_open_text(const struct dict_type *type, const char *file,
    const char *text, size_t len, char *err, size_t errsz)
{
	struct text_src src = { text, len };
	struct dict_open_opts opts;
	struct dict *d;

	dict_open_opts_init(&opts);
	opts.trusted_uid = (uid_t)-1;
	text_src = &src;
	d = dict_open_type(type, file, &opts, err, errsz);
	if (text_src != NULL) {
		/* The type's open() did not call dict_pattern_open(). */
		text_src = NULL;
		dict_close(d);
		snprintf(err, errsz, "%s: not a pattern table type",
		    type->name);
		return NULL;
	}
	return d;
}

void *
dict_pattern_ctx(struct dict *d)
{
	const struct table *t = d->priv;

	return t->ctx;
}

/* --- lookups --- */

/*
 * expand - append rule r's result for key (group offsets in off) to
 * value.  DICT_FOUND, or DICT_TEMPFAIL with err.
 */
static enum dict_status
expand(struct dict *d, const struct rule *r, const size_t *off,
    const char *key, size_t keylen, struct buf *value, char *err,
    size_t errsz)
{
	size_t done = 0, total = 0, start = value->len;

	for (size_t i = 0; i <= r->nrefs; i++) {
		size_t upto = i < r->nrefs ? r->refs[i].pos : r->len;
		const char *gs = NULL;
		size_t glen = 0;

		if (i < r->nrefs) {
			size_t s = off[2 * r->refs[i].group];
			size_t e = off[2 * r->refs[i].group + 1];

			if (s != SIZE_MAX && e != SIZE_MAX && s <= e &&
			    e <= keylen) {
				gs = key + s;
				glen = e - s;
			}
		}
		total += (upto - done) + glen;
		if (total > DICT_VALUE_MAX_BYTES ||
		    buf_append(value, r->text + done, upto - done) < 0 ||
		    (glen > 0 && buf_append(value, gs, glen) < 0)) {
			snprintf(err, errsz, "%s, line %u: the result for this "
			    "key is longer than the %zu bytes allowed",
			    d->spec, r->lineno, total > DICT_VALUE_MAX_BYTES ?
			    (size_t)DICT_VALUE_MAX_BYTES : value->max);
			return DICT_TEMPFAIL;
		}
		done = upto;
	}
	if (value->len == start) {
		snprintf(err, errsz, "%s, line %u: the result for this key is "
		    "empty (an empty result is a table error, as in Postfix)",
		    d->spec, r->lineno);
		return DICT_TEMPFAIL;
	}
	if (r->nrefs > 0 && !dict_pattern_utf8_valid(value->data + start,
	    value->len - start)) {
		snprintf(err, errsz, "%s, line %u: the result for this key is "
		    "not valid UTF-8 (a $N cut a character?)", d->spec,
		    r->lineno);
		return DICT_TEMPFAIL;
	}
	return DICT_FOUND;
}

enum dict_status
dict_pattern_lookup(struct dict *d, const void *mkey, const char *key,
    size_t keylen, struct buf *value, char *err, size_t errsz)
{
	struct table *t = d->priv;
	char why[DICT_PATTERN_WHY_MAX_BYTES];
	size_t i = 0;

	while (i < t->n) {
		const struct rule *r = &t->rules[i];
		unsigned want;
		bool applies;
		int m;

		if (r->kind == RULE_ENDIF) {
			i++;
			continue;
		}
		want = r->kind == RULE_MATCH ? r->max_group : 0;
		why[0] = '\0';
		m = t->syn->match(t->ctx, r->pattern, mkey, key, keylen, t->off,
		    want, why, sizeof(why));
		if (m < 0) {
			snprintf(err, errsz, "%s, line %u: %s", d->spec,
			    r->lineno, why[0] ? why : "match failed");
			return DICT_TEMPFAIL;
		}
		applies = r->negate ? m == DICT_PATTERN_NOMATCH :
		    m == DICT_PATTERN_MATCH;
		if (r->kind == RULE_IF) {
			i = applies ? i + 1 : r->endif + 1;
			continue;
		}
		if (applies)
			return expand(d, r, t->off, key, keylen, value, err,
			    errsz);
		i++;
	}
	return DICT_NOTFOUND;
}

enum dict_status
dict_pattern_lookup_text(struct dict *d, const char *key, size_t keylen,
    struct buf *value, char *err, size_t errsz)
{
	char shown[KEY_SHOWN_BYTES * 4 + 8];

	if (!dict_pattern_utf8_valid(key, keylen)) {
		log_warning("%s: key \"%s\" is not valid UTF-8: not found",
		    d->spec, log_escape(shown, sizeof(shown), key, keylen,
		    KEY_SHOWN_BYTES));
		return DICT_NOTFOUND;
	}
	return dict_pattern_lookup(d, NULL, key, keylen, value, err, errsz);
}

bool
dict_pattern_changed(struct dict *d)
{
	const struct table *t = d->priv;
	struct stat st;

	if (!t->has_stamp)
		return false;
	if (stat(d->name, &st) < 0)
		return true;
	return st.st_dev != t->dev || st.st_ino != t->ino ||
	    st.st_size != t->size || st.st_mtim.tv_sec != t->mtime.tv_sec ||
	    st.st_mtim.tv_nsec != t->mtime.tv_nsec;
}

void
dict_pattern_close(struct dict *d)
{
	table_free(d->priv);
	d->priv = NULL;
}
