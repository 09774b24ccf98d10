/* SPDX-License-Identifier: MIT */
/*
 * header_rewrite - the pure part of header address rewriting; see
 * header_rewrite.h.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "header_addr.h"
#include "header_rewrite.h"
#include "xalloc.h"

/* header_line - "name:" (see header_rewrite.h); *name_len_r is the
 * name's length. */
static bool
header_line(const char *p, size_t len, size_t *name_len_r)
{
	size_t i = 0, n;

	while (i < len && p[i] > 32 && p[i] < 127 && p[i] != ':')
		i++;
	n = i;
	if (n == 0)
		return false;
	while (i < len && (p[i] == ' ' || p[i] == '\t'))
		i++;
	if (i >= len || p[i] != ':')
		return false;
	*name_len_r = n;
	return true;
}

bool
header_block_end(struct header_block_scan *sc, const char *text, size_t len,
    bool final)
{
	while (!sc->done && sc->scanned < len) {
		const char *p = text + sc->scanned;
		const char *nl = memchr(p, '\n', len - sc->scanned);
		size_t llen, name_len;

		if (nl == NULL)
			break;		/* a line not complete yet */
		llen = (size_t)(nl - p) + 1;
		if (llen == 2 && p[0] == '\r')
			sc->done = true;	/* the empty line */
		else if (*p == ' ' || *p == '\t')
			sc->done = sc->scanned == 0;	/* continues nothing */
		else
			sc->done = !header_line(p, llen, &name_len);
		if (!sc->done)
			sc->scanned += llen;
	}
	if (final)
		sc->done = true;
	return sc->done;
}

/* complete - addr (len bytes) completed per c; a new string. */
static char *
complete(const struct header_rewrite_ctx *c, const char *a, size_t len)
{
	const char *origin = c->local ? c->myorigin : c->remote_domain;
	const char *suffix = c->local ? c->mydomain : c->remote_domain;
	bool quoted = false;
	size_t at = SIZE_MAX, dlen;
	char *out;
	const char *dom;

	for (size_t i = 0; i < len; i++) {
		if (quoted && a[i] == '\\' && i + 1 < len)
			i++;
		else if (a[i] == '"')
			quoted = !quoted;
		else if (!quoted && a[i] == '@')
			at = i;
	}
	if (origin == NULL)
		origin = "";
	if (suffix == NULL)
		suffix = "";
	if (c->append_at_myorigin && origin[0] != '\0' &&
	    (at == SIZE_MAX || at + 1 == len)) {
		/* "user" and "user@" (an empty domain) */
		if (at != SIZE_MAX)
			len--;
		at = len;
		out = xasprintf("%.*s@%s", (int)len, a, origin);
	} else {
		out = xasprintf("%.*s", (int)len, a);
	}
	if (at == SIZE_MAX || !c->append_dot_mydomain || suffix[0] == '\0')
		return out;
	dom = out + at + 1;
	dlen = strlen(dom);
	if (dlen == 0 || *dom == '[' || memchr(dom, '.', dlen) != NULL)
		return out;
	{
		char *longer = xasprintf("%s.%s", out, suffix);

		free(out);
		return longer;
	}
}

struct edits {
	struct header_edit *v;
	size_t n;
};

/* one_header - the edits of the header blk[start .. end) (its final
 * CRLF included; name_len bytes of name). */
static void
one_header(const char *blk, size_t start, size_t end, size_t name_len,
    const struct header_rewrite_ctx *c, struct edits *e,
    header_rewrite_skip_fn *skip, void *skip_ctx)
{
	static struct header_addr_span spans[HEADER_REWRITE_SPANS_MAX];
	enum header_addr_class cls = header_addr_class_of(blk + start,
	    name_len);
	const char *colon;
	size_t vstart, vend;
	int n;

	if (cls == HEADER_ADDR_NONE)
		return;
	colon = memchr(blk + start, ':', end - start);
	vstart = (size_t)(colon + 1 - blk);
	vend = end;
	if (vend - vstart >= 2 && blk[vend - 2] == '\r' && blk[vend - 1] ==
	    '\n')
		vend -= 2;
	n = header_addr_scan(blk + vstart, vend - vstart, spans,
	    HEADER_REWRITE_SPANS_MAX);
	if (n < 0) {
		if (skip != NULL)
			skip(skip_ctx, blk + start, name_len);
		return;
	}
	if (n > 0)
		e->v = xreallocarray(e->v, e->n + (size_t)n, sizeof(*e->v));
	for (int i = 0; i < n; i++) {
		struct header_edit *ed = &e->v[e->n++];

		ed->start = vstart + spans[i].start;
		ed->len = spans[i].len;
		ed->sender = cls == HEADER_ADDR_SENDER;
		ed->completed = complete(c, blk + ed->start, ed->len);
	}
}

size_t
header_rewrite_edits(const char *blk, size_t len,
    const struct header_rewrite_ctx *c, struct header_edit **edits_r,
    header_rewrite_skip_fn *skip, void *skip_ctx)
{
	struct edits e = { NULL, 0 };
	size_t pos = 0, hstart = SIZE_MAX, hname = 0;

	while (pos < len) {
		const char *p = blk + pos;
		const char *nl = memchr(p, '\n', len - pos);
		size_t llen = nl != NULL ? (size_t)(nl - p) + 1 : len - pos;
		size_t name_len = 0;

		if (*p != ' ' && *p != '\t') {
			if (hstart != SIZE_MAX)
				one_header(blk, hstart, pos, hname, c, &e,
				    skip, skip_ctx);
			hstart = SIZE_MAX;
			if (header_line(p, llen, &name_len)) {
				hstart = pos;
				hname = name_len;
			}
		}
		pos += llen;
	}
	if (hstart != SIZE_MAX)
		one_header(blk, hstart, len, hname, c, &e, skip, skip_ctx);
	*edits_r = e.v;
	return e.n;
}

void
header_edits_free(struct header_edit *edits, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(edits[i].completed);
	free(edits);
}

int
header_rewrite_apply(const char *blk, size_t len,
    const struct header_edit *edits, size_t n, const char *const *repl,
    struct buf *out)
{
	size_t pos = 0;

	for (size_t i = 0; i < n; i++) {
		const struct header_edit *e = &edits[i];
		const char *r = repl != NULL && repl[i] != NULL ? repl[i] :
		    e->completed;

		if (e->start < pos || e->start + e->len > len)
			return -1;	/* not this block's edits */
		if (buf_append(out, blk + pos, e->start - pos) < 0 ||
		    buf_append_str(out, r) < 0)
			return -1;
		pos = e->start + e->len;
	}
	return buf_append(out, blk + pos, len - pos) < 0 ? -1 : 0;
}
