/* SPDX-License-Identifier: MIT */
/*
 * smtp_data - read message text after DATA or in BDAT chunks; see
 * smtp_data.h.  Runs in the smtpd process; no I/O of its own.
 *
 * RFC 5321 4.1.1.4 (end of data), 4.5.2 (transparency), 4.5.3.1.6 (text
 * line length); RFC 3030 (BDAT, BINARYMIME).
 *
 * The reader is a byte-at-a-time state machine whose whole memory is
 * one state value (a pending CR, a pending "." at a line start, or a
 * pending "." CR), plus the counters in the struct.  Nothing is
 * buffered, so every decision depends only on the bytes seen, never on
 * where one feed ends and the next begins: any split of the input gives
 * the same output bytes, the same consumed count and the same problems.
 *
 * Line starts.  A line start is "real" at the start of the stream and
 * after a real CRLF; it is "soft" after a lone LF (both policies).  A
 * "." at either kind of line start is a transparency dot and is removed,
 * except in the one case below.  Only at a real line start can "." CRLF
 * end the message, so "\n.\n", "\n.\r\n", "\r.\r" and "\r\n.\n" never
 * do (SMTP smuggling).
 *
 * A line that is exactly "." but is not the end marker ("." CRLF after a
 * lone LF, or "." followed by a lone LF anywhere) keeps its dot: it is
 * stored as the line ".".  A sender that stuffs dots would have sent
 * ".."; this line is most likely a foreign or smuggled end marker, and
 * storing it visibly is better than turning it into an empty line,
 * which could move the header/body boundary.  (The outbound side stuffs
 * that dot again like any other.)
 *
 * Line length (RFC 5321 4.5.3.1.6) is counted on the line as stored:
 * after the transparency dot is removed and with its end counted as
 * CRLF (2 octets), also when it was a lone LF.  A line of more than
 * SMTP_TEXT_LINE_MAX_BYTES such octets is a problem, found at the octet
 * that passes the limit.
 *
 * Problems.  Each stored octet is checked before it is passed on (NUL,
 * line length, max_size).  The first octet that fails records its
 * problem bits (several if it fails several checks at once); from then
 * on nothing more is passed on, size and line_len stay as they were and
 * no further problem is recorded: the reader only follows line ends and
 * dots to find the end marker.  So size is always the number of bytes
 * given to the callback, and problems describes the first fault.  With
 * the "reject" policy a lone LF is such a fault (SMTP_DATA_BARE_LF).
 *
 * BDAT: no dot handling and no end marker.  Unless binary, a CR is held
 * back until the next byte (possibly in the next chunk) shows whether it
 * starts a CRLF; smtp_data_chunk_end() passes on a CR still held as a
 * data byte.  With binary (BODY=BINARYMIME) bytes are passed on exactly
 * as received, only max_size applies.  In DATA mode binary lifts the NUL
 * and line length checks only; line ends and dots are handled as usual.
 *
 * A reader serves one message, in one mode; after END it takes nothing
 * more (each further smtp_data_read() returns END with nothing consumed).
 */
#include <stdint.h>
#include <string.h>

#include "smtp_data.h"

enum smtp_data_state {
	DATA_S_BOL_REAL,	/* at a line start after CRLF or at the start */
	DATA_S_BOL_SOFT,	/* at a line start after a lone LF */
	DATA_S_MID,		/* inside a line */
	DATA_S_CR,		/* a CR is held back */
	DATA_S_DOT_REAL,	/* "." at a real line start held back */
	DATA_S_DOT_SOFT,	/* "." at a soft line start held back */
	DATA_S_DOT_REAL_CR,	/* "." CR at a real line start held back */
	DATA_S_DOT_SOFT_CR,	/* "." CR at a soft line start held back */
	DATA_S_END,		/* the end marker has been read */
};

/*
 * Output in progress: input bytes that go out unchanged are collected as
 * one run (a pointer into the caller's buffer) and passed on in one call.
 */
struct data_emit {
	struct smtp_data_reader *r;
	smtp_data_out_fn *out;
	void *ctx;
	const char *run;
	size_t run_len;
};

void
smtp_data_reader_init(struct smtp_data_reader *r, uint64_t max_size,
    enum smtp_bare_lf bare_lf)
{
	memset(r, 0, sizeof(*r));
	r->bare_lf = bare_lf;
	r->max_size = max_size;
	r->state = DATA_S_BOL_REAL;
	r->binary = false;
}

/*
 * data_take - may the octet c be stored as the next octet of the
 * message?  If so count it; if not record why (unless a problem was
 * recorded before) and return false.
 */
static bool
data_take(struct smtp_data_reader *r, unsigned char c)
{
	unsigned problems = 0;

	if (r->problems != 0)
		return false;
	if (!r->binary) {
		if (c == '\0')
			problems |= SMTP_DATA_NUL;
		if (r->line_len >= SMTP_TEXT_LINE_MAX_BYTES)
			problems |= SMTP_DATA_LINE_TOO_LONG;
	}
	if (r->max_size != 0 && r->size >= r->max_size)
		problems |= SMTP_DATA_TOO_BIG;
	if (problems != 0) {
		r->problems = problems;
		return false;
	}
	r->size++;
	/* A stored LF only ever ends a line (lone LFs become CRLF), except
	 * in binary BDAT, where line_len is not checked. */
	if (c == '\n')
		r->line_len = 0;
	else if (r->line_len < SIZE_MAX)
		r->line_len++;
	return true;
}

static void
emit_flush(struct data_emit *e)
{
	if (e->run_len > 0) {
		e->out(e->ctx, e->run, e->run_len);
		e->run_len = 0;
	}
}

/* emit_in - pass on the input byte at p. */
static void
emit_in(struct data_emit *e, const char *p)
{
	if (!data_take(e->r, (unsigned char)*p)) {
		emit_flush(e);
		return;
	}
	if (e->run_len > 0 && e->run + e->run_len != p)
		emit_flush(e);
	if (e->run_len == 0)
		e->run = p;
	e->run_len++;
}

/* emit_lit - pass on len bytes that are not (all) in the input here. */
static void
emit_lit(struct data_emit *e, const char *s, size_t len)
{
	size_t n = 0;

	emit_flush(e);
	while (n < len && data_take(e->r, (unsigned char)s[n]))
		n++;
	if (n > 0)
		e->out(e->ctx, s, n);
}

/*
 * emit_held_cr - pass on the CR held back before p: from the input when
 * it is the byte before p in this feed, else (it came in an earlier
 * feed) as a literal.
 */
static void
emit_held_cr(struct data_emit *e, const char *in, const char *p)
{
	if (p > in)
		emit_in(e, p - 1);
	else
		emit_lit(e, "\r", 1);
}

/*
 * data_bare_lf - a lone LF: with "normalize" it ends the stored line as
 * CRLF; with "reject" the message is bad.  Either way a soft line start
 * follows.
 */
static void
data_bare_lf(struct data_emit *e)
{
	struct smtp_data_reader *r = e->r;

	if (r->bare_lf == SMTP_BARE_LF_NORMALIZE) {
		emit_lit(e, "\r\n", 2);
	} else {
		emit_flush(e);
		if (r->problems == 0)
			r->problems = SMTP_DATA_BARE_LF;
	}
	r->state = DATA_S_BOL_SOFT;
}

/*
 * plain_run - how many bytes from p on can be stored as they are, in
 * one go: none of CR, LF or NUL, and within the line-length and size
 * limits (the byte that would pass a limit goes the slow way, which
 * records the problem).  The common case of DATA: most of a line.
 */
static size_t
plain_run(const struct smtp_data_reader *r, const char *p, size_t n)
{
	size_t k = 0;

	if (!r->binary) {
		if (r->line_len >= SMTP_TEXT_LINE_MAX_BYTES)
			return 0;
		if (n > SMTP_TEXT_LINE_MAX_BYTES - r->line_len)
			n = SMTP_TEXT_LINE_MAX_BYTES - r->line_len;
	}
	if (r->max_size != 0) {
		if (r->size >= r->max_size)
			return 0;
		if ((uint64_t)n > r->max_size - r->size)
			n = (size_t)(r->max_size - r->size);
	}
	while (k < n && p[k] != '\r' && p[k] != '\n' && p[k] != '\0')
		k++;
	return k;
}

/* emit_run - take the k plain bytes at p, counted as data_take would. */
static void
emit_run(struct data_emit *e, const char *p, size_t k)
{
	struct smtp_data_reader *r = e->r;

	r->size += k;
	r->line_len += k;
	if (e->run_len > 0 && e->run + e->run_len != p)
		emit_flush(e);
	if (e->run_len == 0)
		e->run = p;
	e->run_len += k;
}

/* data_mid - the byte at p inside a line (no dot handling). */
static void
data_mid(struct data_emit *e, const char *p)
{
	struct smtp_data_reader *r = e->r;

	if (*p == '\r') {
		r->state = DATA_S_CR;
	} else if (*p == '\n') {
		data_bare_lf(e);
	} else {
		emit_in(e, p);
		r->state = DATA_S_MID;
	}
}

enum smtp_data_status
smtp_data_read(struct smtp_data_reader *r, const char *in, size_t len,
    size_t *consumed_r, smtp_data_out_fn *out, void *ctx)
{
	struct data_emit e = { r, out, ctx, NULL, 0 };
	const char *end = in + len;

	if (r->state == DATA_S_END) {
		*consumed_r = 0;
		return SMTP_DATA_END;
	}
	for (const char *p = in; p < end; p++) {
		char c = *p;

		switch (r->state) {
		case DATA_S_BOL_REAL:
		case DATA_S_BOL_SOFT:
			if (c == '.') {
				r->state = r->state == DATA_S_BOL_REAL ?
				    DATA_S_DOT_REAL : DATA_S_DOT_SOFT;
				break;
			}
			data_mid(&e, p);
			break;
		case DATA_S_MID:
			if (c != '\r' && c != '\n' && c != '\0' &&
			    r->problems == 0) {
				size_t k = plain_run(r, p, (size_t)(end - p));

				if (k > 0) {
					emit_run(&e, p, k);
					p += k - 1;
					break;
				}
			}
			data_mid(&e, p);
			break;
		case DATA_S_CR:
			emit_held_cr(&e, in, p);
			if (c == '\n') {
				emit_in(&e, p);
				r->state = DATA_S_BOL_REAL;
			} else {
				/* The CR was a bare CR: a data byte. */
				data_mid(&e, p);
			}
			break;
		case DATA_S_DOT_REAL:
		case DATA_S_DOT_SOFT:
			if (c == '\r') {
				r->state = r->state == DATA_S_DOT_REAL ?
				    DATA_S_DOT_REAL_CR : DATA_S_DOT_SOFT_CR;
			} else if (c == '\n') {
				/* The line "." with a lone LF: never the end;
				 * the dot is kept (see the top of the file). */
				if (r->bare_lf == SMTP_BARE_LF_NORMALIZE)
					emit_lit(&e, ".", 1);
				data_bare_lf(&e);
			} else {
				/* RFC 5321 4.5.2: drop the transparency dot. */
				data_mid(&e, p);
			}
			break;
		case DATA_S_DOT_REAL_CR:
			if (c == '\n') {
				/* RFC 5321 4.1.1.4: CRLF "." CRLF. */
				emit_flush(&e);
				r->state = DATA_S_END;
				*consumed_r = (size_t)(p + 1 - in);
				return SMTP_DATA_END;
			}
			/* "." and a bare CR: drop the dot, keep the CR. */
			emit_held_cr(&e, in, p);
			data_mid(&e, p);
			break;
		case DATA_S_DOT_SOFT_CR:
			if (c == '\n') {
				/* "." CRLF after a lone LF: not the end. */
				emit_lit(&e, ".", 1);
				emit_held_cr(&e, in, p);
				emit_in(&e, p);
				r->state = DATA_S_BOL_REAL;
				break;
			}
			emit_held_cr(&e, in, p);
			data_mid(&e, p);
			break;
		default:
			/* DATA_S_END is handled above; nothing else exists. */
			break;
		}
	}
	emit_flush(&e);
	*consumed_r = len;
	return SMTP_DATA_NEED_MORE;
}

void
smtp_data_read_chunk(struct smtp_data_reader *r, const char *in,
    size_t len, smtp_data_out_fn *out, void *ctx)
{
	struct data_emit e = { r, out, ctx, NULL, 0 };
	const char *end = in + len;

	for (const char *p = in; p < end; p++) {
		if (r->state == DATA_S_CR) {
			emit_held_cr(&e, in, p);
			r->state = DATA_S_MID;
			if (*p == '\n' && !r->binary) {
				emit_in(&e, p);
				continue;
			}
		}
		if (r->binary)
			emit_in(&e, p);	/* RFC 3030 3: unchanged */
		else
			data_mid(&e, p);
	}
	emit_flush(&e);
}

void
smtp_data_chunk_end(struct smtp_data_reader *r, smtp_data_out_fn *out,
    void *ctx)
{
	struct data_emit e = { r, out, ctx, NULL, 0 };

	if (r->state == DATA_S_CR)
		emit_lit(&e, "\r", 1);
	r->state = DATA_S_MID;
}
