/* SPDX-License-Identifier: MIT */
/*
 * fuzz_header_rewrite - header_block_end(), header_rewrite_edits() and
 * header_rewrite_apply() on arbitrary messages.
 *
 * The first byte selects the rewriting context (bit 0: local, else
 * remote; bit 1: append_at_myorigin; bit 2: append_dot_mydomain; bit 3:
 * remote_domain set, else empty); the rest is the message.  abort()
 * when an invariant breaks:
 *  - the block's end is the same fed whole (final) and fed byte by byte
 *    (final=false, then final=true at the end); once known early it
 *    does not change; it is whole lines of the message;
 *  - the edits of the block are inside it, in order, not overlapping,
 *    not empty; each completion is its original text completed as
 *    header_rewrite.h says (a model of it here); the sender flag is the
 *    class of the header the edit is in;
 *  - apply with repl NULL gives the block with each edit's span
 *    replaced by its completion, and fails (-1) when out is one byte
 *    too small; apply with each edit's own text gives the block back
 *    byte for byte;
 *  - edits of the whole message (not only its block, maybe ending in a
 *    partial line) stay inside it too.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "header_addr.h"
#include "header_rewrite.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT 65536

static void
check_block_end(const char *text, size_t len, size_t *end_r)
{
	struct header_block_scan whole = { 0, false }, inc = { 0, false };
	bool early = false;
	size_t end;

	if (!header_block_end(&whole, text, len, true))
		abort();
	end = whole.scanned;
	if (end > len || (end > 0 && text[end - 1] != '\n'))
		abort();
	for (size_t i = 0; i <= len; i++) {
		if (header_block_end(&inc, text, i, false)) {
			early = true;
			if (inc.scanned != end)
				abort();
		} else if (early || inc.scanned > i) {
			abort();
		}
	}
	if (!header_block_end(&inc, text, len, true) || inc.scanned != end)
		abort();
	/* Whole without final: known iff byte by byte knew it. */
	memset(&whole, 0, sizeof(whole));
	if (header_block_end(&whole, text, len, false) != early ||
	    (early && whole.scanned != end))
		abort();
	*end_r = end;
}

/* class_at - the class of the header holding blk[pos] (a header's first
 * line, then continuations). */
static enum header_addr_class
class_at(const char *blk, size_t pos)
{
	size_t ls = pos, n = 0;

	for (;;) {
		while (ls > 0 && blk[ls - 1] != '\n')
			ls--;
		if (blk[ls] != ' ' && blk[ls] != '\t')
			break;
		if (ls == 0)
			abort();	/* a continuation continues nothing */
		ls--;
	}
	while (blk[ls + n] != ':' && blk[ls + n] != ' ' && blk[ls + n] != '\t')
		n++;
	return header_addr_class_of(blk + ls, n);
}

/* last_at - the last '@' of a[0 .. len) outside quoted strings, or
 * NULL. */
static const char *
last_at(const char *a, size_t len)
{
	const char *at = NULL;
	bool quote = false;

	for (size_t i = 0; i < len; i++) {
		if (quote && a[i] == '\\') {
			i++;
			continue;
		}
		if (a[i] == '"')
			quote = !quote;
		else if (!quote && a[i] == '@')
			at = a + i;
	}
	return at;
}

/* completion_ok - completed is orig completed per c (header_rewrite.h):
 * "user" or "user@" -> user@ORIGIN (append_at_myorigin), then a domain
 * without a dot that is not a [literal] gets .DOMAIN
 * (append_dot_mydomain); ORIGIN and DOMAIN are myorigin and mydomain
 * (local) or both remote_domain (remote); an empty one skips its
 * step. */
static bool
completion_ok(const struct header_rewrite_ctx *c, const char *orig,
    size_t len, const char *completed)
{
	const char *origin = c->local ? c->myorigin : c->remote_domain;
	const char *suffix = c->local ? c->mydomain : c->remote_domain;
	const char *at = last_at(orig, len), *dom;
	char want[4 * HEADER_ADDR_MAX_BYTES];
	size_t wl, dlen;

	if (len > HEADER_ADDR_MAX_BYTES)
		return false;
	if (c->append_at_myorigin && origin[0] != '\0' &&
	    (at == NULL || at == orig + len - 1))
		wl = (size_t)snprintf(want, sizeof(want), "%.*s@%s",
		    (int)(at == NULL ? len : len - 1), orig, origin);
	else
		wl = (size_t)snprintf(want, sizeof(want), "%.*s", (int)len,
		    orig);
	at = last_at(want, wl);
	if (at != NULL && c->append_dot_mydomain && suffix[0] != '\0') {
		dom = at + 1;
		dlen = (size_t)(want + wl - dom);
		if (dlen > 0 && dom[0] != '[' && memchr(dom, '.', dlen) ==
		    NULL)
			(void)snprintf(want + wl, sizeof(want) - wl, ".%s",
			    suffix);
	}
	return strcmp(want, completed) == 0;
}

static void
check_edits(const char *blk, size_t len, const struct header_rewrite_ctx *c,
    bool classes)
{
	struct header_edit *e = NULL;
	size_t n, pos = 0, want_len = 0;
	char **own;
	struct buf out, want;

	n = header_rewrite_edits(blk, len, c, &e, NULL, NULL);
	buf_init(&want, SIZE_MAX);
	for (size_t i = 0; i < n; i++) {
		if (e[i].start < pos || e[i].len == 0 || e[i].start > len ||
		    e[i].len > len - e[i].start || e[i].completed == NULL ||
		    !completion_ok(c, blk + e[i].start, e[i].len,
		    e[i].completed))
			abort();
		if (classes && (class_at(blk, e[i].start) ==
		    HEADER_ADDR_SENDER) != e[i].sender)
			abort();
		if (buf_append(&want, blk + pos, e[i].start - pos) < 0 ||
		    buf_append_str(&want, e[i].completed) < 0)
			abort();
		pos = e[i].start + e[i].len;
	}
	if (buf_append(&want, blk + pos, len - pos) < 0)
		abort();
	want_len = want.len;

	/* repl NULL: the completions. */
	buf_init(&out, SIZE_MAX);
	if (header_rewrite_apply(blk, len, e, n, NULL, &out) != 0 ||
	    out.len != want_len ||
	    (want_len > 0 && memcmp(out.data, want.data, want_len) != 0))
		abort();
	buf_deinit(&out);
	if (want_len > 0) {
		buf_init(&out, want_len - 1);
		if (header_rewrite_apply(blk, len, e, n, NULL, &out) != -1)
			abort();
		buf_deinit(&out);
	}
	buf_init(&out, want_len);
	if (header_rewrite_apply(blk, len, e, n, NULL, &out) != 0 ||
	    out.len != want_len)
		abort();
	buf_deinit(&out);

	/* Each edit's own text: the block back. */
	own = xcalloc(n + 1, sizeof(*own));
	for (size_t i = 0; i < n; i++)
		own[i] = xstrndup(blk + e[i].start, e[i].len);
	buf_init(&out, SIZE_MAX);
	if (header_rewrite_apply(blk, len, e, n, (const char *const *)own,
	    &out) != 0 ||
	    out.len != len || (len > 0 && memcmp(out.data, blk, len) != 0))
		abort();
	buf_deinit(&out);
	for (size_t i = 0; i < n; i++)
		free(own[i]);
	free(own);
	buf_deinit(&want);
	header_edits_free(e, n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct header_rewrite_ctx c;
	const char *text;
	char *blk;
	size_t len, end;

	if (size == 0 || size > FUZZ_MAX_INPUT)
		return 0;
	c.local = (data[0] & 1) != 0;
	c.append_at_myorigin = (data[0] & 2) != 0;
	c.append_dot_mydomain = (data[0] & 4) != 0;
	c.myorigin = "origin.example";
	c.mydomain = "dom.example";
	c.remote_domain = (data[0] & 8) != 0 ? "remote.example" : "";
	text = (const char *)data + 1;
	len = size - 1;

	check_block_end(text, len, &end);
	/* The block in a buffer of its own size: a read past it is seen. */
	blk = xmalloc(end + 1);
	if (end > 0)
		memcpy(blk, text, end);
	check_edits(blk, end, &c, true);
	free(blk);
	/* The whole message, its body lines and a partial last line too. */
	check_edits(text, len, &c, false);
	return 0;
}
