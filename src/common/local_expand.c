/* SPDX-License-Identifier: MIT */
/*
 * local_expand - $name expansion at delivery time (local_expand.h).
 */
#include "local_expand.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

/* value - the variable named name (n bytes), or NULL when unknown. */
static const char *
value(const struct local_expand_vars *v, const char *name, size_t n)
{
	static const struct {
		const char *name;
		size_t off;
	} vars[] = {
		{ "user", offsetof(struct local_expand_vars, user) },
		{ "extension", offsetof(struct local_expand_vars, extension) },
		{ "local", offsetof(struct local_expand_vars, local) },
		{ "domain", offsetof(struct local_expand_vars, domain) },
		{ "recipient", offsetof(struct local_expand_vars, recipient) },
		{ "recipient_delimiter",
		    offsetof(struct local_expand_vars, delimiter) },
	};

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		if (strlen(vars[i].name) == n &&
		    memcmp(vars[i].name, name, n) == 0) {
			const char *s;

			memcpy(&s, (const char *)v + vars[i].off, sizeof(s));
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

int
local_expand(const char *tmpl, const struct local_expand_vars *v,
    char **out, const char **error_r)
{
	struct buf b;
	const char *p = tmpl;

	*out = NULL;
	buf_init(&b, LOCAL_EXPAND_MAX);
	while (*p != '\0') {
		const char *name, *val;
		size_t n = 0;

		if (*p != '$') {
			if (buf_append_c(&b, *p++) < 0)
				goto too_long;
			continue;
		}
		p++;
		if (*p == '$') {
			if (buf_append_c(&b, *p++) < 0)
				goto too_long;
			continue;
		}
		if (*p == '{') {
			name = ++p;
			while (is_name_char((unsigned char)name[n]))
				n++;
			if (name[n] != '}') {
				*error_r = "a ${ without its }, or a ${name?...} "
				    "form (not supported here)";
				goto fail;
			}
			p = name + n + 1;
		} else {
			name = p;
			while (is_name_char((unsigned char)name[n]))
				n++;
			p = name + n;
		}
		if (n == 0) {
			*error_r = "a $ without a name (write $$ for a $)";
			goto fail;
		}
		val = value(v, name, n);
		if (val == NULL) {
			*error_r = "an unknown $name (these are known: $user, "
			    "$extension, $local, $domain, $recipient, "
			    "$recipient_delimiter)";
			goto fail;
		}
		if (buf_append_str(&b, val) < 0)
			goto too_long;
	}
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
too_long:
	*error_r = "it expands to more than 1024 bytes";
fail:
	buf_deinit(&b);
	return -1;
}
