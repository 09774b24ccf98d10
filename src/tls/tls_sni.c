/* SPDX-License-Identifier: MIT */
/*
 * tls_sni - tls_server_sni_maps tables read from text; see tls_sni.h.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "file_read.h"
#include "strv.h"
#include "tls_sni.h"
#include "xalloc.h"

/* Largest table file read. */
#define TLS_SNI_FILE_MAX_BYTES (4 * 1024 * 1024)

void
tls_sni_free(struct tls_sni_entry *ents, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(ents[i].name);
		strv_free(&ents[i].files);
	}
	free(ents);
}

static bool
valid_name(const char *p, size_t n)
{
	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)p[i]) && p[i] != '-' &&
		    p[i] != '.' && p[i] != '_' && p[i] != '*')
			return false;
	return true;
}

/* add_entry - "name rest-of-entry" (continuations already joined). */
static bool
add_entry(const char *origin, unsigned line, const char *text,
    struct tls_sni_entry **ents, size_t *n, char *err, size_t errsz)
{
	const char *p = text, *name;
	size_t nlen;
	struct tls_sni_entry *e;

	while (isspace((unsigned char)*p))
		p++;
	name = p;
	while (*p != '\0' && !isspace((unsigned char)*p) && *p != '=')
		p++;
	nlen = (size_t)(p - name);
	if (!valid_name(name, nlen)) {
		snprintf(err, errsz, "%s, line %u: \"%.*s\" is not a host "
		    "name", origin, line, (int)(nlen > 64 ? 64 : nlen), name);
		return false;
	}
	if (*n == TLS_SNI_MAX_ENTRIES) {
		snprintf(err, errsz, "%s, line %u: more than %d names",
		    origin, line, TLS_SNI_MAX_ENTRIES);
		return false;
	}
	*ents = xreallocarray(*ents, *n + 1, sizeof(**ents));
	e = &(*ents)[(*n)++];
	e->name = xstrndup(name, nlen);
	for (char *q = e->name; *q; q++)
		*q = (char)tolower((unsigned char)*q);
	if (nlen > 1 && e->name[nlen - 1] == '.')
		e->name[nlen - 1] = '\0';
	{
	struct strv files;

	strv_init(&files);
	while (*p != '\0') {
		const char *f;

		while (isspace((unsigned char)*p) || *p == ',' || *p == '=')
			p++;
		f = p;
		while (*p != '\0' && !isspace((unsigned char)*p) && *p != ',')
			p++;
		if (p > f)
			strv_addn(&files, f, (size_t)(p - f));
	}
	e->files = strv_steal(&files);
	}
	if (e->files[0] == NULL) {
		snprintf(err, errsz, "%s, line %u: %s has no file names after "
		    "it", origin, line, e->name);
		return false;
	}
	return true;
}

bool
tls_sni_parse(const char *origin, const char *text, size_t len,
    struct tls_sni_entry **ents_r, size_t *n_r, char *err, size_t errsz)
{
	struct tls_sni_entry *ents = NULL;
	size_t n = 0, pos = 0;
	char *cur = NULL;
	unsigned line = 0, cur_line = 0;
	bool ok = true;

	for (bool done = false; ok && !done;) {
		size_t start = pos, end;
		char *l;

		if (pos >= len) {
			l = NULL;
			done = true;
		} else {
			while (pos < len && text[pos] != '\n')
				pos++;
			end = pos;
			if (end > start && text[end - 1] == '\r')
				end--;
			l = xstrndup(text + start, end - start);
			pos++;
			line++;
			if (memchr(text + start, '\0', end - start) != NULL) {
				snprintf(err, errsz, "%s, line %u: NUL byte",
				    origin, line);
				free(l);
				ok = false;
				break;
			}
		}
		if (l != NULL) {
			char *s = l;

			while (isspace((unsigned char)*s))
				s++;
			if (*s == '#' || *s == '\0') {
				free(l);
				continue;
			}
			if (s != l && cur != NULL) {
				char *joined = xasprintf("%s %s", cur, s);

				free(cur);
				cur = joined;
				free(l);
				continue;
			}
			if (s != l) {
				snprintf(err, errsz, "%s, line %u: a continuation "
				    "line with nothing before it", origin, line);
				free(l);
				ok = false;
				break;
			}
		}
		if (cur != NULL)
			ok = add_entry(origin, cur_line, cur, &ents, &n, err,
			    errsz);
		free(cur);
		cur = l;
		cur_line = line;
	}
	free(cur);
	if (!ok) {
		tls_sni_free(ents, n);
		return false;
	}
	*ents_r = ents;
	*n_r = n;
	return true;
}

bool
tls_sni_load(const char *spec, struct tls_sni_entry **ents_r, size_t *n_r,
    char *err, size_t errsz)
{
	const char *colon = strchr(spec, ':');
	char *text, *why = NULL;
	size_t len;
	int eno = 0;
	bool ok;

	if (colon == NULL) {
		snprintf(err, errsz, "\"%s\" is not a table (type:name)", spec);
		return false;
	}
	if (strncmp(spec, "inline:", 7) == 0) {
		const char *p = spec + 7;
		size_t n = strlen(p);
		char *body;

		if (n < 2 || p[0] != '{' || p[n - 1] != '}') {
			snprintf(err, errsz, "%s: inline tables are written "
			    "inline:{ name = file, ... }", spec);
			return false;
		}
		/* Entries are separated by ", name =": split on '}'-free
		 * commas that precede a "name =". */
		body = xstrndup(p + 1, n - 2);
		for (char *q = body; *q; q++)
			if (*q == ',') {
				char *r = q + 1;

				while (*r == ' ' || *r == '\t')
					r++;
				while (*r && !isspace((unsigned char)*r) &&
				    *r != '=' && *r != ',')
					r++;
				while (*r == ' ' || *r == '\t')
					r++;
				if (*r == '=')
					*q = '\n';
			}
		/* Entries start at the line start here, not indented (an
		 * indented line would read as a continuation). */
		{
			char *trimmed = xmalloc(strlen(body) + 1), *w = trimmed;
			bool at_start = true;

			for (const char *r = body; *r; r++) {
				if (at_start && (*r == ' ' || *r == '\t'))
					continue;
				at_start = *r == '\n';
				*w++ = *r;
			}
			*w = '\0';
			free(body);
			body = trimmed;
		}
		ok = tls_sni_parse("inline table", body, strlen(body), ents_r,
		    n_r, err, errsz);
		free(body);
		return ok;
	}
	if (strncmp(spec, "texthash:", 9) != 0 && strncmp(spec, "hash:", 5) != 0 &&
	    strncmp(spec, "lmdb:", 5) != 0) {
		snprintf(err, errsz, "%s: table type not supported for "
		    "tls_server_sni_maps yet (use texthash:, hash:, lmdb: or "
		    "inline:)", spec);
		return false;
	}
	text = file_read_capped(colon + 1, TLS_SNI_FILE_MAX_BYTES, &len, &eno,
	    &why);
	if (text == NULL) {
		snprintf(err, errsz, "%s: %s: %s", spec, colon + 1,
		    why != NULL ? why : strerror(eno));
		free(why);
		return false;
	}
	ok = tls_sni_parse(colon + 1, text, len, ents_r, n_r, err, errsz);
	free(text);
	return ok;
}

bool
tls_sni_name_matches(const char *entry, const char *name)
{
	size_t n = strlen(name), e = strlen(entry);

	if (n > 0 && name[n - 1] == '.')
		n--;
	if (entry[0] == '.') {
		return n > e && strncasecmp(name + n - e, entry, e) == 0;
	}
	return n == e && strncasecmp(name, entry, n) == 0;
}
