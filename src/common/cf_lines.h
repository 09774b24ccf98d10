/* SPDX-License-Identifier: MIT */
/*
 * cf_lines - split Postfix-style configuration text into logical lines.
 *
 * Used for main.cf and master.cf.  Rules (Postfix main.cf(5), master(5)):
 * a logical line starts with a character other than white space; every
 * following physical line that starts with white space (space or tab)
 * continues it; lines whose first non-blank character is '#' are
 * comments and lines with only white space are empty; both are skipped
 * and neither ends a logical line.  Continuation lines are joined with
 * the newline removed and their leading white space kept.  Trailing
 * white space (and a CR before LF) is removed from every physical line.
 *
 * The reader is incremental: feed it any split of the input, and it
 * returns the same logical lines with the same line numbers.  It never
 * touches files; config.c and master_cf.c read the file and feed it.
 *
 * Errors: a NUL byte, a physical line longer than CF_PHYS_LINE_MAX_BYTES,
 * a logical line longer than the reader's maximum, or a continuation
 * line with nothing to continue (indented text at the top of the file).
 */
#ifndef OSTIA_CF_LINES_H
#define OSTIA_CF_LINES_H

#include <stddef.h>

#include "buf.h"

#define CF_PHYS_LINE_MAX_BYTES (64 * 1024)

/*
 * Called for each complete logical line: text is NUL-terminated, valid
 * only during the call; lineno is the number (from 1) of its first
 * physical line.  Returns 0 to go on, -1 to stop (the feed returns -1
 * with *error_r NULL).
 */
typedef int cf_line_cb(void *ctx, const char *text, size_t len,
    unsigned lineno);

struct cf_lines {
	struct buf phys;	/* current physical line, incomplete */
	struct buf logical;	/* logical line being assembled */
	unsigned phys_lineno;	/* number of the physical line in phys */
	unsigned logical_lineno;	/* first line of logical, 0 if none */
	size_t logical_max;
};

void cf_lines_init(struct cf_lines *r, size_t logical_max_bytes);
void cf_lines_deinit(struct cf_lines *r);
/*
 * Feed len bytes.  Complete logical lines are passed to cb.  Returns 0,
 * or -1 with *error_r (static text, or NULL when cb stopped) and
 * *error_line_r the physical line number at fault.
 */
int cf_lines_feed(struct cf_lines *r, const char *data, size_t len,
    cf_line_cb *cb, void *ctx, const char **error_r, unsigned *error_line_r);
/* End of input: flushes the last logical line.  Same returns as feed. */
int cf_lines_finish(struct cf_lines *r, cf_line_cb *cb, void *ctx,
    const char **error_r, unsigned *error_line_r);

#endif
