/* SPDX-License-Identifier: MIT */
/*
 * local_expand - $name expansion at delivery time (local_expand.h).
 */
#include "local_expand.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

/* Conditional texts nested in each other. */
#define LOCAL_EXPAND_DEPTH 4

/* value - the variable named name (n bytes), or NULL when unknown. */
static const char *
value(const struct local_expand_vars *v, const char *name, size_t n)
{
	static const struct {
		const char *name;
		size_t off;
		bool optional;	/* NULL means unknown, not "" */
	} vars[] = {
		{ "user", offsetof(struct local_expand_vars, user), false },
		{ "extension", offsetof(struct local_expand_vars, extension),
		    false },
		{ "local", offsetof(struct local_expand_vars, local), false },
		{ "domain", offsetof(struct local_expand_vars, domain), false },
		{ "recipient", offsetof(struct local_expand_vars, recipient),
		    false },
		{ "recipient_delimiter",
		    offsetof(struct local_expand_vars, delimiter), false },
		{ "home", offsetof(struct local_expand_vars, home), true },
		{ "shell", offsetof(struct local_expand_vars, shell), true },
	};

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		if (strlen(vars[i].name) == n &&
		    memcmp(vars[i].name, name, n) == 0) {
			const char *s;

			memcpy(&s, (const char *)v + vars[i].off, sizeof(s));
			if (s == NULL && vars[i].optional)
				return NULL;
			return s != NULL ? s : "";
		}
	}
	return NULL;
}

static int
is_name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_';
}

/* put_value - val into b, through the filter when there is one. */
static int
put_value(struct buf *b, const char *val, const char *filter)
{
	for (const char *p = val; *p != '\0'; p++) {
		char c = *p;

		if (filter != NULL && strchr(filter, c) == NULL)
			c = '_';
		if (buf_append_c(b, c) < 0)
			return -1;
	}
	return 0;
}

/*
 * closing - the end of text that starts at p (before end) inside a
 * "${...}" or a "{...}": the unmatched close, or NULL.
 */
static const char *
closing(const char *p, const char *end, char close)
{
	char open = close == '}' ? '{' : '(';
	int level = 1;

	for (; p < end; p++) {
		if (*p == open)
			level++;
		else if (*p == close && --level == 0)
			return p;
	}
	return NULL;
}

static int expand(struct buf *b, const char *p, size_t len,
    const struct local_expand_vars *v, unsigned depth,
    const char **error_r);

/*
 * conditional - the "?text" or ":text" part (len bytes at p) of a
 * ${name...} whose value is val.  0, or -1 with *error_r.
 */
static int
conditional(struct buf *b, const char *p, size_t len, const char *val,
    const struct local_expand_vars *v, unsigned depth, const char **error_r)
{
	bool want_set = p[0] == '?';
	const char *t = p + 1, *end = p + len, *alt = NULL;
	size_t tlen = len - 1, alen = 0;

	if (len > 1 && t[0] == '{') {
		/* {text} or {text}:{text} */
		const char *c = closing(t + 1, end, '}');

		if (c == NULL) {
			*error_r = "a ${name?{ without its }";
			return -1;
		}
		tlen = (size_t)(c - (t + 1));
		if (t + 1 + tlen + 1 < end) {
			const char *rest = t + 1 + tlen + 1;

			if (!want_set || rest[0] != ':' || rest + 1 >= end ||
			    rest[1] != '{' || end[-1] != '}') {
				*error_r = "text after ${name?{text}} other "
				    "than :{text}";
				return -1;
			}
			alt = rest + 2;
			alen = (size_t)(end - 1 - alt);
		}
		t++;
	}
	if ((val[0] != '\0') == want_set)
		return expand(b, t, tlen, v, depth + 1, error_r);
	if (alt != NULL)
		return expand(b, alt, alen, v, depth + 1, error_r);
	return 0;
}

/* expand - len bytes of template at p into b. */
static int
expand(struct buf *b, const char *p, size_t len,
    const struct local_expand_vars *v, unsigned depth, const char **error_r)
{
	const char *end = p + len;

	if (depth > LOCAL_EXPAND_DEPTH) {
		*error_r = "conditionals nested too deep";
		return -1;
	}
	while (p < end) {
		const char *name, *val, *cond = NULL, *close = NULL;
		size_t n = 0, clen = 0;

		if (*p != '$') {
			if (buf_append_c(b, *p++) < 0)
				goto too_long;
			continue;
		}
		p++;
		if (p < end && *p == '$') {
			if (buf_append_c(b, *p++) < 0)
				goto too_long;
			continue;
		}
		if (p < end && (*p == '{' || *p == '(')) {
			close = closing(p + 1, end, *p == '{' ? '}' : ')');
			if (close == NULL) {
				*error_r = *p == '{' ? "a ${ without its }" :
				    "a $( without its )";
				return -1;
			}
			name = p + 1;
			while (name + n < close &&
			    is_name_char((unsigned char)name[n]))
				n++;
			if (name + n < close) {
				if (name[n] != '?' && name[n] != ':') {
					*error_r = "a ${name} with something "
					    "other than ?text or :text after "
					    "the name";
					return -1;
				}
				cond = name + n;
				clen = (size_t)(close - cond);
			}
			p = close + 1;
		} else {
			name = p;
			while (name + n < end &&
			    is_name_char((unsigned char)name[n]))
				n++;
			p = name + n;
		}
		if (n == 0) {
			*error_r = "a $ without a name (write $$ for a $)";
			return -1;
		}
		val = value(v, name, n);
		if (val == NULL) {
			*error_r = v->home != NULL ? "an unknown $name (these "
			    "are known: $user, $extension, $local, $domain, "
			    "$recipient, $recipient_delimiter, $home, $shell)" :
			    "an unknown $name (these are known: $user, "
			    "$extension, $local, $domain, $recipient, "
			    "$recipient_delimiter)";
			return -1;
		}
		if (cond != NULL) {
			if (conditional(b, cond, clen, val, v, depth,
			    error_r) < 0)
				return -1;
		} else if (put_value(b, val, v->filter) < 0)
			goto too_long;
	}
	return 0;
too_long:
	*error_r = "it expands to more than 1024 bytes";
	return -1;
}

int
local_expand(const char *tmpl, const struct local_expand_vars *v,
    char **out, const char **error_r)
{
	struct buf b;

	*out = NULL;
	buf_init(&b, LOCAL_EXPAND_MAX);
	if (expand(&b, tmpl, strlen(tmpl), v, 0, error_r) < 0)
		goto fail;
	if (b.len == 0) {
		*error_r = "it expands to nothing";
		goto fail;
	}
	for (size_t i = 0; i < b.len; i++) {
		unsigned char c = (unsigned char)b.data[i];

		if (c <= 0x20 || c == 0x7f) {
			*error_r = "it expands to text with a space or a "
			    "control character";
			goto fail;
		}
	}
	*out = buf_steal(&b);
	return 0;
fail:
	buf_deinit(&b);
	return -1;
}
