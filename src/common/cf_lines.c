/* SPDX-License-Identifier: MIT */
/*
 * cf_lines - split configuration text into logical lines; see cf_lines.h.
 *
 * All work happens per physical line, at the byte that completes it (the
 * LF) or at the byte that breaks a rule (NUL, too long).  Nothing depends
 * on where one feed ends and the next begins, which is what makes any
 * split of the input give the same callbacks and the same errors.
 *
 * After any -1 (an error or a callback that stopped) the reader is
 * spent: later feeds and finish return -1 with a fixed error until it is
 * deinitialised.  phys_lineno == 0 marks that state.
 */
#include <limits.h>
#include <string.h>

#include "cf_lines.h"

static const char CF_ERR_SPENT[] =
    "configuration reader used again after an error";

void
cf_lines_init(struct cf_lines *r, size_t logical_max_bytes)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->phys, CF_PHYS_LINE_MAX_BYTES);
	buf_init(&r->logical, logical_max_bytes);
	r->phys_lineno = 1;
	r->logical_lineno = 0;
	r->logical_max = logical_max_bytes;
}

void
cf_lines_deinit(struct cf_lines *r)
{
	buf_deinit(&r->phys);
	buf_deinit(&r->logical);
	r->phys_lineno = 1;
	r->logical_lineno = 0;
}

/* cf_lines_fail - make the reader spent and return -1 with the error. */
static int
cf_lines_fail(struct cf_lines *r, const char *error, unsigned line,
    const char **error_r, unsigned *error_line_r)
{
	*error_r = error;
	*error_line_r = line;
	r->phys_lineno = 0;
	return -1;
}

static int
cf_lines_spent(const char **error_r, unsigned *error_line_r)
{
	*error_r = CF_ERR_SPENT;
	*error_line_r = 0;
	return -1;
}

/* cf_lines_emit - hand the pending logical line (if any) to cb. */
static int
cf_lines_emit(struct cf_lines *r, cf_line_cb *cb, void *ctx,
    const char **error_r, unsigned *error_line_r)
{
	unsigned lineno = r->logical_lineno;

	if (lineno == 0)
		return 0;
	r->logical_lineno = 0;
	if (cb(ctx, buf_cstr(&r->logical), r->logical.len, lineno) < 0)
		return cf_lines_fail(r, NULL, lineno, error_r, error_line_r);
	buf_reset(&r->logical);
	return 0;
}

/*
 * cf_lines_phys_done - classify the complete physical line held in phys
 * (without its LF) and fold it into the logical line.
 */
static int
cf_lines_phys_done(struct cf_lines *r, cf_line_cb *cb, void *ctx,
    const char **error_r, unsigned *error_line_r)
{
	const char *p = buf_cstr(&r->phys);
	size_t len = r->phys.len;
	unsigned lineno = r->phys_lineno;
	size_t i = 0;

	while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t' ||
	    p[len - 1] == '\r'))
		len--;
	while (i < len && (p[i] == ' ' || p[i] == '\t'))
		i++;
	if (i == len || p[i] == '#') {
		/* Empty or comment: skipped, and it ends nothing. */
	} else if (i > 0) {
		if (r->logical_lineno == 0)
			return cf_lines_fail(r, "line starts with white space "
			    "but there is nothing before it to continue",
			    lineno, error_r, error_line_r);
		if (buf_append(&r->logical, p, len) < 0)
			return cf_lines_fail(r, "logical line too long",
			    lineno, error_r, error_line_r);
	} else {
		if (cf_lines_emit(r, cb, ctx, error_r, error_line_r) < 0)
			return -1;
		buf_reset(&r->logical);
		if (buf_append(&r->logical, p, len) < 0)
			return cf_lines_fail(r, "logical line too long",
			    lineno, error_r, error_line_r);
		r->logical_lineno = lineno;
	}
	buf_reset(&r->phys);
	if (r->phys_lineno == UINT_MAX)
		return cf_lines_fail(r, "too many lines", lineno, error_r,
		    error_line_r);
	r->phys_lineno++;
	return 0;
}

int
cf_lines_feed(struct cf_lines *r, const char *data, size_t len,
    cf_line_cb *cb, void *ctx, const char **error_r, unsigned *error_line_r)
{
	*error_r = NULL;
	*error_line_r = 0;
	if (r->phys_lineno == 0)
		return cf_lines_spent(error_r, error_line_r);
	while (len > 0) {
		const char *nl = memchr(data, '\n', len);
		size_t seglen = nl != NULL ? (size_t)(nl - data) : len;
		const char *nul = memchr(data, '\0', seglen);
		size_t room = CF_PHYS_LINE_MAX_BYTES - r->phys.len;

		/*
		 * Byte by byte, the NUL check comes before the length check,
		 * so a NUL at most room bytes in wins over "too long".
		 */
		if (nul != NULL && (size_t)(nul - data) <= room)
			return cf_lines_fail(r,
			    "NUL byte in configuration text", r->phys_lineno,
			    error_r, error_line_r);
		if (seglen > room)
			return cf_lines_fail(r, "physical line too long",
			    r->phys_lineno, error_r, error_line_r);
		if (buf_append(&r->phys, data, seglen) < 0)
			return cf_lines_fail(r, "physical line too long",
			    r->phys_lineno, error_r, error_line_r);
		if (nl == NULL)
			break;
		if (cf_lines_phys_done(r, cb, ctx, error_r, error_line_r) < 0)
			return -1;
		data += seglen + 1;
		len -= seglen + 1;
	}
	return 0;
}

int
cf_lines_finish(struct cf_lines *r, cf_line_cb *cb, void *ctx,
    const char **error_r, unsigned *error_line_r)
{
	*error_r = NULL;
	*error_line_r = 0;
	if (r->phys_lineno == 0)
		return cf_lines_spent(error_r, error_line_r);
	/* A last line without LF counts like any other. */
	if (r->phys.len > 0 &&
	    cf_lines_phys_done(r, cb, ctx, error_r, error_line_r) < 0)
		return -1;
	if (cf_lines_emit(r, cb, ctx, error_r, error_line_r) < 0)
		return -1;
	/* Ready for new input. */
	buf_reset(&r->phys);
	buf_reset(&r->logical);
	r->phys_lineno = 1;
	r->logical_lineno = 0;
	return 0;
}
