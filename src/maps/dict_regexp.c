/* SPDX-License-Identifier: MIT */
/*
 * dict_regexp - "regexp:/path" tables with POSIX regular expressions;
 * see dict_regexp.h.
 */
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dict.h"
#include "dict_pattern.h"
#include "dict_regexp.h"
#include "log.h"
#include "xalloc.h"

/* Deepest group nesting the cost estimate follows. */
#define COST_DEPTH_MAX 256
/* Significant digits of a {m,n} bound looked at; more is BOUND_HUGE. */
#define BOUND_DIGITS_MAX 6
#define BOUND_HUGE 1000000ULL

/* Per table: room for the groups regexec() reports. */
struct regexp_ctx {
	regmatch_t *pm;
	size_t npm;
};

struct regexp_pattern {
	regex_t re;
};

static void *
regexp_ctx_new(void)
{
	return xcalloc(1, sizeof(struct regexp_ctx));
}

static void
regexp_ctx_free(void *vc)
{
	struct regexp_ctx *c = vc;

	free(c->pm);
	free(c);
}

/* --- cost estimate (see dict_regexp.h) --- */

/* One group while scanning: copies so far, copies of its last atom. */
struct cost_frame {
	unsigned long long sum;
	unsigned long long last;
};

static void
cost_atom(struct cost_frame *f, unsigned long long w)
{
	f->sum += w;
	f->last = w;
}

/* The last atom repeated up to n times (n may be 0: "a{0}"). */
static void
cost_repeat(struct cost_frame *f, unsigned long long n)
{
	f->sum -= f->last;
	f->last *= n;
	f->sum += f->last;
}

/*
 * cost_bound - parse "m}", "m,}", "m,n}", ",n}" at re[i..n) (after "{"),
 * with close the closing text ("}" or "\}").  Returns the index after
 * it and the repeat count in *count (n, m + 1 for "m,", m for "m"), or
 * 0 when it is not an interval (then the "{" is a plain character).
 */
static size_t
cost_bound(const char *re, size_t i, size_t n, const char *close,
    unsigned long long *count)
{
	unsigned long long v[2] = { 0, 0 };
	size_t nd[2] = { 0, 0 }, sig[2] = { 0, 0 }, clen = strlen(close);
	int k = 0;
	bool comma = false;

	for (; i < n; i++) {
		char c = re[i];

		if (c >= '0' && c <= '9') {
			/* Leading zeros do not count against the digits. */
			if (v[k] > 0 || c != '0')
				sig[k]++;
			nd[k]++;
			if (sig[k] > BOUND_DIGITS_MAX)
				v[k] = BOUND_HUGE;
			else
				v[k] = v[k] * 10 + (unsigned long long)(c - '0');
		} else if (c == ',' && !comma) {
			comma = true;
			k = 1;
		} else {
			break;
		}
	}
	/* GNU also takes "{,n}" for "{0,n}". */
	if ((nd[0] == 0 && !comma) || n - i < clen ||
	    memcmp(re + i, close, clen) != 0)
		return 0;
	*count = nd[1] > 0 ? v[1] : comma ? v[0] + 1 : v[0];
	return i + clen;
}

/* cost_bracket - index after the bracket expression at re[i] == '['. */
static size_t
cost_bracket(const char *re, size_t i, size_t n)
{
	size_t j = i + 1;

	if (j < n && re[j] == '^')
		j++;
	if (j < n && re[j] == ']')
		j++;
	while (j < n && re[j] != ']') {
		if (re[j] == '[' && j + 1 < n && (re[j + 1] == ':' ||
		    re[j + 1] == '=' || re[j + 1] == '.')) {
			char kind = re[j + 1];
			size_t k = j + 2;

			while (k + 1 < n && !(re[k] == kind && re[k + 1] == ']'))
				k++;
			j = k + 2;
		} else {
			j++;
		}
	}
	return j < n ? j + 1 : n;
}

/*
 * regexp_cost - refuse back-references and patterns whose repetitions
 * copy their parts more than DICT_REGEXP_MAX_COPIES times (an estimate
 * of the automaton glibc builds; regcomp() still checks the syntax).
 * 0, or -1 with why.
 */
static int
regexp_cost(const char *re, size_t n, bool ere, char *why, size_t whysz)
{
	struct cost_frame st[COST_DEPTH_MAX];
	unsigned long long total = 0, count;
	size_t depth = 0, i = 0, next;

	st[0].sum = st[0].last = 0;
	while (i < n) {
		struct cost_frame *f = &st[depth];
		char c = re[i];
		bool open = false, close = false, alt = false;

		if (c == '\\' && i + 1 < n) {
			char e = re[i + 1];

			if (e >= '1' && e <= '9') {
				snprintf(why, whysz, "back-reference \"\\%c\" in "
				    "the pattern: POSIX regexec() can take "
				    "exponential time with them; use a pcre: "
				    "table, whose matches are bounded", e);
				return -1;
			}
			i += 2;
			if (!ere && e == '(')
				open = true;
			else if (!ere && e == ')')
				close = true;
			else if (!ere && e == '|')
				alt = true;
			else if (!ere && e == '{' &&
			    (next = cost_bound(re, i, n, "\\}", &count)) > 0) {
				cost_repeat(f, count);
				i = next;
			} else if (!ere && e == '+')
				cost_repeat(f, 2);	/* GNU: "a\+" is "aa*" */
			else if (!ere && e == '?')
				;	/* GNU: no copy */
			else
				cost_atom(f, 1);
		} else if (c == '[') {
			i = cost_bracket(re, i, n);
			cost_atom(f, 1);
		} else {
			i++;
			if (ere && c == '(')
				open = true;
			else if (ere && c == ')' && depth > 0)
				close = true;
			else if (ere && c == '|')
				alt = true;
			else if (ere && c == '{' &&
			    (next = cost_bound(re, i, n, "}", &count)) > 0) {
				cost_repeat(f, count);
				i = next;
			} else if (ere && c == '+')
				cost_repeat(f, 2);	/* "a+" is built as "aa*" */
			else if (c == '*' || (ere && c == '?'))
				;	/* no copy */
			else if (c == '^' || c == '$')
				f->last = 0;
			else
				cost_atom(f, 1);
		}
		if (open) {
			if (depth + 1 >= COST_DEPTH_MAX) {
				snprintf(why, whysz, "groups nested deeper than "
				    "%d", COST_DEPTH_MAX - 1);
				return -1;
			}
			depth++;
			st[depth].sum = st[depth].last = 0;
		} else if (close && depth > 0) {
			unsigned long long w = st[depth].sum ? st[depth].sum : 1;

			depth--;
			cost_atom(&st[depth], w);
		} else if (alt) {
			f->last = 0;
		}
		if (st[depth].sum > DICT_REGEXP_MAX_COPIES)
			break;
	}
	for (size_t k = 0; k <= depth; k++)
		total += st[k].sum;
	if (total > DICT_REGEXP_MAX_COPIES) {
		snprintf(why, whysz, "the pattern's repetitions copy its parts "
		    "more than %d times (nested {m,n}?), which makes POSIX "
		    "regexec() slow; simplify it or use a pcre: table, whose "
		    "matches are bounded", DICT_REGEXP_MAX_COPIES);
		return -1;
	}
	return 0;
}

/* --- the syntax --- */

static int
regexp_flags(const char *f, size_t n, int *cflags, char *why, size_t whysz)
{
	int c = REG_ICASE | REG_EXTENDED;
	char shown[8];

	for (size_t i = 0; i < n; i++) {
		switch (f[i]) {
		case 'i':
			c ^= REG_ICASE;
			break;
		case 'x':
			c ^= REG_EXTENDED;
			break;
		case 'm':
			c ^= REG_NEWLINE;
			break;
		default:
			log_escape(shown, sizeof(shown), f + i, 1, 1);
			snprintf(why, whysz, "unknown flag \"%s\" after the "
			    "pattern (flags: i m x)", shown);
			return -1;
		}
	}
	*cflags = c;
	return 0;
}

static void *
regexp_parse(void *vc, const char *s, const char **end, unsigned *ngroups,
    char *why, size_t whysz)
{
	struct regexp_pattern *p;
	const char *re, *flags;
	size_t relen, flagslen;
	char *text;
	int cflags, rc;

	if (dict_pattern_split(s, &re, &relen, &flags, &flagslen, end, why,
	    whysz) < 0)
		return NULL;
	if (regexp_flags(flags, flagslen, &cflags, why, whysz) < 0)
		return NULL;
	if (regexp_cost(re, relen, (cflags & REG_EXTENDED) != 0, why,
	    whysz) < 0)
		return NULL;
	text = xstrndup(re, relen);
	p = xcalloc(1, sizeof(*p));
	rc = regcomp(&p->re, text, cflags);
	free(text);
	if (rc != 0) {
		char msg[256];

		(void)regerror(rc, &p->re, msg, sizeof(msg));
		snprintf(why, whysz, "bad regular expression: %s", msg);
		free(p);
		return NULL;
	}
	*ngroups = (unsigned)p->re.re_nsub;
	return p;
}

static void
regexp_free(void *vp)
{
	struct regexp_pattern *p = vp;

	regfree(&p->re);
	free(p);
}

static int
regexp_match(void *vc, const void *vp, const void *mkey, const char *key,
    size_t keylen, size_t *off, unsigned want, char *why, size_t whysz)
{
	struct regexp_ctx *c = vc;
	const struct regexp_pattern *p = vp;
	size_t n = want > 0 ? (size_t)want + 1 : 0;
	int rc;

	if (n > c->npm) {
		c->pm = xreallocarray(c->pm, n, sizeof(*c->pm));
		c->npm = n;
	}
	rc = regexec(&p->re, key, n, n > 0 ? c->pm : NULL, 0);
	if (rc == REG_NOMATCH)
		return DICT_PATTERN_NOMATCH;
	if (rc != 0) {
		char msg[256];

		(void)regerror(rc, &p->re, msg, sizeof(msg));
		snprintf(why, whysz, "regexec: %s", msg);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		bool set = c->pm[i].rm_so >= 0 && c->pm[i].rm_eo >= 0;

		off[2 * i] = set ? (size_t)c->pm[i].rm_so : SIZE_MAX;
		off[2 * i + 1] = set ? (size_t)c->pm[i].rm_eo : SIZE_MAX;
	}
	return DICT_PATTERN_MATCH;
}

static const struct dict_pattern_syntax regexp_syntax = {
	.name = "regexp",
	.substitute = true,
	.max_file_bytes = DICT_REGEXP_FILE_MAX_BYTES,
	.max_rules = DICT_REGEXP_MAX_RULES,
	.ctx_new = regexp_ctx_new,
	.ctx_free = regexp_ctx_free,
	.parse = regexp_parse,
	.free = regexp_free,
	.match = regexp_match,
};

static int
regexp_open(struct dict *d, const char *name,
    const struct dict_open_opts *opts, char *err, size_t errsz)
{
	return dict_pattern_open(d, name, opts, &regexp_syntax, err, errsz);
}

const struct dict_type dict_type_regexp = {
	.name = "regexp",
	.flags = DICT_TYPE_PATTERN | DICT_TYPE_KEEP_CASE | DICT_TYPE_FILE,
	.open = regexp_open,
	.lookup = dict_pattern_lookup_text,
	.changed = dict_pattern_changed,
	.close = dict_pattern_close,
};
