/* SPDX-License-Identifier: MIT */
/*
 * local_alias - alias values, :include: files and commands as text; see
 * local_alias.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "local_alias.h"
#include "strv.h"
#include "xalloc.h"

void
local_dests_init(struct local_dests *d)
{
	d->v = NULL;
	d->n = 0;
}

void
local_dests_deinit(struct local_dests *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i].text);
	free(d->v);
	d->v = NULL;
	d->n = 0;
}

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * add_one - classify the destination s[0..len) (trimmed, not empty) and
 * add it to d.  0, or -1 with *error_r.
 */
static int
add_one(const char *s, size_t len, struct local_dests *d, char **error_r)
{
	struct local_dest dest;
	char *text;

	/* Written whole in double quotes: unquote. */
	if (len >= 2 && s[0] == '"' && s[len - 1] == '"') {
		size_t k = 0;
		bool whole = true;

		/* Whole only if the first quote closes at the end. */
		for (size_t i = 1; i < len - 1; i++) {
			if (s[i] == '\\' && i + 1 < len - 1) {
				i++;
				continue;
			}
			if (s[i] == '"') {
				whole = false;
				break;
			}
		}
		if (whole) {
			text = xmalloc(len);
			for (size_t i = 1; i < len - 1; i++) {
				if (s[i] == '\\' && i + 1 < len - 1 &&
				    (s[i + 1] == '"' || s[i + 1] == '\\'))
					i++;
				text[k++] = s[i];
			}
			text[k] = '\0';
			/* Trim inside the quotes too. */
			while (k > 0 && is_space(text[k - 1]))
				text[--k] = '\0';
			k = 0;
			while (is_space(text[k]))
				k++;
			memmove(text, text + k, strlen(text + k) + 1);
			goto classify;
		}
	}
	text = xstrndup(s, len);
classify:
	if (text[0] == '\0') {
		free(text);
		return 0;
	}
	if (text[0] == '|') {
		size_t k = 1;

		while (is_space(text[k]))
			k++;
		dest.kind = LOCAL_DEST_COMMAND;
		memmove(text, text + k, strlen(text + k) + 1);
		if (text[0] == '\0') {
			*error_r = xstrdup("a \"|\" destination without a "
			    "command");
			free(text);
			return -1;
		}
	} else if (text[0] == '/') {
		dest.kind = LOCAL_DEST_FILE;
	} else if (strncasecmp(text, ":include:", 9) == 0) {
		size_t k = 9;

		while (is_space(text[k]))
			k++;
		dest.kind = LOCAL_DEST_INCLUDE;
		memmove(text, text + k, strlen(text + k) + 1);
		if (text[0] != '/') {
			*error_r = xasprintf(":include:%s: the include file "
			    "must be an absolute path", text);
			free(text);
			return -1;
		}
	} else {
		size_t n = strlen(text);

		dest.kind = LOCAL_DEST_ADDRESS;
		if (n >= 2 && text[0] == '<' && text[n - 1] == '>') {
			memmove(text, text + 1, n - 2);
			text[n - 2] = '\0';
		}
		if (text[0] == '\0') {
			/* "<>": nothing to deliver to. */
			free(text);
			return 0;
		}
	}
	if (d->n >= LOCAL_DESTS_MAX) {
		*error_r = xasprintf("more than %d destinations",
		    LOCAL_DESTS_MAX);
		free(text);
		return -1;
	}
	dest.text = text;
	d->v = xreallocarray(d->v, d->n + 1, sizeof(*d->v));
	d->v[d->n++] = dest;
	return 0;
}

int
local_alias_split(const char *value, size_t len, struct local_dests *d,
    char **error_r)
{
	size_t start = 0, i;
	bool quoted = false;

	for (i = 0; i < len && value[i] != '\0'; i++) {
		unsigned char c = (unsigned char)value[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			*error_r = xasprintf("control character 0x%02x in an "
			    "alias value", c);
			return -1;
		}
	}
	len = i;
	for (i = 0; i <= len; i++) {
		size_t s, e;

		if (i < len) {
			if (quoted && value[i] == '\\' && i + 1 < len) {
				i++;
				continue;
			}
			if (value[i] == '"') {
				quoted = !quoted;
				continue;
			}
			if (quoted || value[i] != ',')
				continue;
		} else if (quoted) {
			*error_r = xstrdup("unbalanced double quote");
			return -1;
		}
		s = start;
		e = i;
		start = i + 1;
		while (s < e && is_space(value[s]))
			s++;
		while (e > s && is_space(value[e - 1]))
			e--;
		if (s == e)
			continue;
		if (e - s > LOCAL_DEST_MAX_BYTES) {
			*error_r = xasprintf("a destination longer than %d "
			    "bytes", LOCAL_DEST_MAX_BYTES);
			return -1;
		}
		if (add_one(value + s, e - s, d, error_r) < 0)
			return -1;
	}
	return 0;
}

int
local_include_parse(const char *data, size_t len, struct local_dests *d,
    char **error_r)
{
	size_t pos = 0;
	unsigned lineno = 0;

	if (memchr(data, '\0', len) != NULL) {
		*error_r = xstrdup("a NUL byte (not a text file)");
		return -1;
	}
	while (pos < len) {
		const char *line = data + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t n = nl != NULL ? (size_t)(nl - line) : len - pos;
		size_t k = 0;
		char *err = NULL;

		pos += nl != NULL ? n + 1 : n;
		lineno++;
		if (n > 0 && line[n - 1] == '\r')
			n--;
		while (k < n && is_space(line[k]))
			k++;
		if (k == n || line[k] == '#')
			continue;
		if (local_alias_split(line, n, d, &err) < 0) {
			*error_r = xasprintf("line %u: %s", lineno, err);
			free(err);
			return -1;
		}
	}
	return 0;
}

int
local_command_split(const char *cmd, char ***argv_r, char **error_r)
{
	struct strv sv;
	const char *p = cmd;

	for (const char *q = cmd; *q != '\0'; q++) {
		unsigned char c = (unsigned char)*q;

		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			*error_r = xasprintf("the command \"%s\" holds a "
			    "control character", cmd);
			return -1;
		}
		if (strchr(LOCAL_SHELL_META, c) != NULL) {
			*error_r = xasprintf("the command \"%s\" holds the "
			    "shell character '%c'; commands run without a "
			    "shell here, so quoting, variables, redirection "
			    "and pipes are not supported (put them in a "
			    "script and name the script)", cmd, c);
			return -1;
		}
	}
	strv_init(&sv);
	for (;;) {
		size_t n;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		n = strcspn(p, " \t");
		if (sv.n >= LOCAL_ARGV_MAX) {
			strv_deinit(&sv);
			*error_r = xasprintf("the command \"%s\" has more than "
			    "%d words", cmd, LOCAL_ARGV_MAX);
			return -1;
		}
		strv_addn(&sv, p, n);
		p += n;
	}
	if (sv.n == 0) {
		strv_deinit(&sv);
		*error_r = xstrdup("an empty command");
		return -1;
	}
	*argv_r = strv_steal(&sv);
	return 0;
}
