/* SPDX-License-Identifier: MIT */
/*
 * header_rewrite - the pure part of header address rewriting (what
 * Postfix's cleanup does to From:, To:, ... ): find where the primary
 * header block of a message ends, list the addresses of its address
 * headers (header_addr.h) completed per the rewriting context, and write
 * the block with new addresses.  No I/O, no lookups: smtpd_hdrw.c adds
 * the canonical mapping through the lookup process; pickup.c uses the
 * completion alone.  Fuzzed by tests/fuzz/fuzz_header_rewrite.c.
 *
 * Text is the message as stored: CRLF line ends.  The primary header
 * block is its first lines up to (not including) the first empty line,
 * the first line that is neither a header ("name:", name of printable
 * ASCII but ':', optional spaces or tabs before the colon) nor a
 * continuation (a line starting with a space or a tab, not first), or
 * the end of the text.  A header is its first line and its continuation
 * lines.
 *
 * Completion (the rewriting context: Postfix's trivial-rewrite "local"
 * and "remote"):
 *   "user" (or "user@", an empty domain) -> "user@ORIGIN" when
 *   append_at_myorigin; then "user@host" (no dot in host, not a
 *   [literal]) -> "user@host.DOMAIN" when append_dot_mydomain;
 *   ORIGIN and DOMAIN are $myorigin and $mydomain in the local context,
 *   both $remote_header_rewrite_domain in the remote one (empty: that
 *   step is skipped).
 * An '@' inside a quoted local part does not count.
 */
#ifndef OSTIA_HEADER_REWRITE_H
#define OSTIA_HEADER_REWRITE_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* Addresses looked at in one header; a header with more is left as it
 * is. */
#define HEADER_REWRITE_SPANS_MAX 4096

struct header_rewrite_ctx {
	bool local;			/* else remote */
	bool append_at_myorigin;
	bool append_dot_mydomain;
	const char *myorigin;		/* local */
	const char *mydomain;		/* local */
	const char *remote_domain;	/* remote; "" = no completion */
};

/* Incremental search for the end of the header block. */
struct header_block_scan {
	size_t scanned;		/* bytes of whole lines known to be in it */
	bool done;
};

/*
 * Look at text (len bytes: everything seen so far, the same prefix each
 * call, growing).  Returns true once the block's end is known:
 * sc->scanned is then the block's length (whole lines; what follows is
 * not part of it).  With final (no more text will come) the block ends
 * at the last whole line at the latest.
 */
bool header_block_end(struct header_block_scan *sc, const char *text,
    size_t len, bool final);

/* One address in the block: blk[start .. start + len). */
struct header_edit {
	size_t start, len;
	bool sender;		/* in a sender header, else a recipient one */
	char *completed;	/* after completion (maybe the same text) */
};

/* Called for an address header that is not an address list (or holds
 * more than HEADER_REWRITE_SPANS_MAX addresses): name, name_len. */
typedef void header_rewrite_skip_fn(void *ctx, const char *name,
    size_t name_len);

/*
 * The addresses of the block blk[0 .. len) (whole lines), in order, each
 * completed per c.  Returns the number of edits, *edits_r a new array
 * (header_edits_free).  skip (may be NULL) hears about address headers
 * left alone.
 */
size_t header_rewrite_edits(const char *blk, size_t len,
    const struct header_rewrite_ctx *c, struct header_edit **edits_r,
    header_rewrite_skip_fn *skip, void *skip_ctx);
void header_edits_free(struct header_edit *edits, size_t n);

/*
 * Append blk[0 .. len) to out with every edit's span replaced by
 * repl[i] (when repl or repl[i] is NULL: by its completed text).
 * Returns 0, or -1 when out is full (out then holds part of it).
 */
int header_rewrite_apply(const char *blk, size_t len,
    const struct header_edit *edits, size_t n, const char *const *repl,
    struct buf *out);

#endif
