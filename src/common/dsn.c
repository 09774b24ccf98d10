/* SPDX-License-Identifier: MIT */
/*
 * dsn - build delivery status notifications; see dsn.h.
 *
 * References: RFC 3464 (message/delivery-status: field order and
 * syntax), RFC 3461 4 (xtext, ENVID, ORCPT, RET), RFC 3463 (status
 * codes), RFC 6522 (multipart/report), RFC 6533 (utf-8 address type,
 * message/global-delivery-status, message/global-headers), RFC 6532 3.7
 * (message/global), RFC 3834 5 (Auto-Submitted), RFC 5322 (dates,
 * folding, 998-octet lines), RFC 2046 5.1 (boundaries).
 *
 * How it works: the three body parts are built first, each into its
 * own buffer; then a boundary is chosen that occurs in none of them
 * (the caller's unique number, with a counter added on the unlikely
 * collision), and the message is put together in a scratch buffer that
 * is appended to the caller's only when everything fit, so a failure
 * leaves the caller's buffer as it was.
 *
 * Text that is not ours (reasons, remote replies, host names) is made
 * safe before use: control characters and tabs become spaces, runs of
 * spaces become one, bytes that are not valid UTF-8 become '?', and in
 * parts that must be ASCII (message/delivery-status without RFC 6533)
 * every non-ASCII character becomes '?'.  CR and LF are refused
 * outright, as a sign that the caller passed something it should not.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "buf.h"
#include "compat.h"
#include "dsn.h"
#include "queue_file.h"
#include "xalloc.h"

/* Preferred width of folded header fields (RFC 5322 2.1.1). */
#define DSN_FIELD_WIDTH 78
/* Width of the prose. */
#define DSN_TEXT_WIDTH 76
/* Boundaries tried before giving up (each a collision with the text). */
#define DSN_BOUNDARY_TRIES 64
/* Room for a boundary string (RFC 2046: at most 70 characters). */
#define DSN_BOUNDARY_BYTES 71
/* Room for an RFC 5322 date-time. */
#define DSN_DATE_BYTES 64

/* Output under construction: appends stop at the first overflow. */
struct w {
	struct buf b;
	bool full;
};

/* What the caller's strings turned into, per recipient. */
struct rcpt_info {
	const char *orcpt_type;	/* NULL when no ORCPT */
	size_t orcpt_type_len;
	const char *orcpt_addr;	/* into dsn_rcpt.orcpt */
	char *text_human;	/* cleaned text, UTF-8 kept; NULL if none */
	char *text_report;	/* cleaned for the report part */
	char *diag_type;	/* cleaned diagnostic type; NULL if none */
	char *diag_human;	/* cleaned diagnostic text (after "type;") */
	char *diag_report;
	char *remote_human;	/* cleaned remote_mta */
	char *remote_report;
};

/* Everything decided before writing. */
struct ctx {
	const struct dsn_params *p;
	bool global;		/* RFC 6533 types */
	bool full;		/* part 3 is the whole message */
	bool too_large;		/* RET=FULL refused for size */
	bool hdrs_cut;		/* the header section was cut */
	size_t hdr_end;		/* end of the original's header section */
	size_t body_start;	/* start of its body */
	bool has_sep;		/* an empty line ended the header section */
	size_t hdr_keep;	/* header bytes attached (headers only) */
	char *mail_name;	/* cleaned */
	char *received_report;	/* cleaned received_from, or NULL */
	struct rcpt_info *ri;
};

/* ------------------------------------------------------------------ */
/* Writing */

static void
w_init(struct w *w, size_t max)
{
	buf_init(&w->b, max);
	w->full = false;
}

static void
w_put(struct w *w, const void *s, size_t n)
{
	if (!w->full && buf_append(&w->b, s, n) < 0)
		w->full = true;
}

static void
w_str(struct w *w, const char *s)
{
	w_put(w, s, strlen(s));
}

static void ATTR_FORMAT(2, 3)
w_printf(struct w *w, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (w->full)
		return;
	va_start(ap, fmt);
	r = buf_vappendf(&w->b, fmt, ap);
	va_end(ap);
	if (r < 0)
		w->full = true;
}

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* Bytes at s[i] that continue a UTF-8 character (10xxxxxx). */
static bool
is_utf8_cont(char c)
{
	return ((unsigned char)c & 0xc0) == 0x80;
}

/*
 * cut_point - how many of the n bytes from s to take so that a UTF-8
 * character is not split (n when s[n] starts a character); at least 1.
 * s[n] must be readable.
 */
static size_t
cut_point(const char *s, size_t n)
{
	size_t k = n;

	while (k > 1 && n - k < 3 && is_utf8_cont(s[k]))
		k--;
	return is_utf8_cont(s[k]) ? n : k;
}

/* A fold may go before s[j]: white space followed by a non-space. */
static bool
is_fold_point(const char *s, size_t len, size_t j)
{
	return is_wsp(s[j]) && j + 1 < len && !is_wsp(s[j + 1]);
}

/*
 * put_folded - the header field s (len bytes, no line end) folded
 * before white space so that lines stay within width where the words
 * allow, and always within DSN_LINE_MAX_BYTES: a run without white
 * space that is too long for that is broken with an inserted fold
 * (CRLF SP), the one case that changes the unfolded value.  Ends with
 * CRLF.
 */
static void
put_folded(struct w *w, const char *s, size_t len, size_t width)
{
	size_t start = 0, lead = 0;

	while (len - start + lead > width) {
		size_t brk = 0, j;

		for (j = start + 1; j < len && j - start + lead <= width; j++) {
			if (is_fold_point(s, len, j))
				brk = j;
		}
		if (brk == 0) {
			for (; j < len && j - start + lead <= DSN_LINE_MAX_BYTES;
			    j++) {
				if (is_fold_point(s, len, j)) {
					brk = j;
					break;
				}
			}
		}
		if (brk == 0) {
			size_t n;

			if (len - start + lead <= DSN_LINE_MAX_BYTES)
				break;
			n = cut_point(s + start, DSN_LINE_MAX_BYTES - lead);
			w_put(w, s + start, n);
			w_str(w, "\r\n ");
			start += n;
			lead = 1;
			continue;
		}
		w_put(w, s + start, brk - start);
		w_str(w, "\r\n");
		start = brk;
		lead = 0;
	}
	w_put(w, s + start, len - start);
	w_str(w, "\r\n");
}

/* put_field - "name: value" as a folded header field. */
static void
put_field(struct w *w, const char *name, const char *value)
{
	char *line = xasprintf("%s: %s", name, value);

	put_folded(w, line, strlen(line), DSN_FIELD_WIDTH);
	free(line);
}

/*
 * put_prose - the words of text wrapped to DSN_TEXT_WIDTH columns; the
 * first line starts with first, the others with cont.  White space
 * between words becomes one space.  A word too long for a line is
 * broken at DSN_LINE_MAX_BYTES.  Ends with CRLF.  first and cont are
 * short.
 */
static void
put_prose(struct w *w, const char *first, const char *cont,
    const char *text)
{
	size_t col = strlen(first), clen = strlen(cont), i = 0;
	bool empty = true;

	w_str(w, first);
	while (text[i] != '\0') {
		size_t ws, wl;

		while (is_wsp(text[i]))
			i++;
		if (text[i] == '\0')
			break;
		ws = i;
		while (text[i] != '\0' && !is_wsp(text[i]))
			i++;
		wl = i - ws;
		if (!empty && col + 1 + wl > DSN_TEXT_WIDTH) {
			w_str(w, "\r\n");
			w_str(w, cont);
			col = clen;
			empty = true;
		}
		if (!empty) {
			w_str(w, " ");
			col++;
		}
		while (col + wl > DSN_LINE_MAX_BYTES) {
			size_t n = cut_point(text + ws, DSN_LINE_MAX_BYTES - col);

			w_put(w, text + ws, n);
			w_str(w, "\r\n");
			w_str(w, cont);
			col = clen;
			ws += n;
			wl -= n;
		}
		w_put(w, text + ws, wl);
		col += wl;
		empty = false;
	}
	w_str(w, "\r\n");
}

/* ------------------------------------------------------------------ */
/* Checking and cleaning the caller's strings */

enum chk { CHK_OK, CHK_MISSING, CHK_CTRL, CHK_LONG, CHK_8BIT };

/* check_field - a structured field: present (unless optional), no
 * control characters, at most DSN_FIELD_MAX_BYTES, ASCII if asked. */
static enum chk
check_field(const char *s, bool optional, bool ascii)
{
	size_t n;

	if (s == NULL || *s == '\0')
		return optional && s == NULL ? CHK_OK : CHK_MISSING;
	for (n = 0; s[n] != '\0'; n++) {
		unsigned char c = (unsigned char)s[n];

		if (c < 0x20 || c == 0x7f)
			return CHK_CTRL;
		if (ascii && c >= 0x80)
			return CHK_8BIT;
	}
	return n > DSN_FIELD_MAX_BYTES ? CHK_LONG : CHK_OK;
}

/* check_text - free text: only CR and LF are refused (NULL is fine). */
static enum chk
check_text(const char *s)
{
	return s != NULL && strpbrk(s, "\r\n") != NULL ? CHK_CTRL : CHK_OK;
}

#define CHECK(r, what) do {						\
	switch (r) {							\
	case CHK_OK:							\
		break;							\
	case CHK_MISSING:						\
		*error_r = what " is missing or empty";			\
		return -1;						\
	case CHK_CTRL:							\
		*error_r = what " contains CR, LF or another control "	\
		    "character";					\
		return -1;						\
	case CHK_LONG:							\
		*error_r = what " is too long";				\
		return -1;						\
	case CHK_8BIT:							\
		*error_r = what " is not ASCII";			\
		return -1;						\
	}								\
} while (0)

static bool
is_ascii(const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		if ((unsigned char)*s >= 0x80)
			return false;
	}
	return true;
}

/* A host name of ours: [A-Za-z0-9._-]+. */
static bool
is_host_chars(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		char c = *s;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		    c == '-'))
			return false;
	}
	return true;
}

/* RFC 3463 2: class "." subject "." detail, 1-3 digits each. */
static bool
status_is_valid(const char *s)
{
	size_t n;

	if (s[0] != '2' && s[0] != '4' && s[0] != '5')
		return false;
	if (s[1] != '.')
		return false;
	s += 2;
	for (int part = 0; part < 2; part++) {
		for (n = 0; s[n] >= '0' && s[n] <= '9'; n++)
			;
		if (n < 1 || n > 3)
			return false;
		s += n;
		if (part == 0) {
			if (*s != '.')
				return false;
			s++;
		}
	}
	return *s == '\0';
}

static const char *const dsn_actions[] = {
	"failed", "delayed", "delivered", "relayed", "expanded",
};

static bool
action_is_valid(const char *s)
{
	for (size_t i = 0; i < N_ELEMENTS(dsn_actions); i++) {
		if (strcmp(s, dsn_actions[i]) == 0)
			return true;
	}
	return false;
}

/* An RFC 3461 addr-type / RFC 3464 diagnostic-type: an atom; we take
 * letters, digits and '-' (all registered types are such). */
static bool
is_type_word(const char *s, size_t n)
{
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return true;
}

/*
 * utf8_seq - the length of the valid UTF-8 character at s (1 for
 * ASCII), or 0 when the bytes there are not one (overlong forms,
 * surrogates and values past U+10FFFF are refused).
 */
static size_t
utf8_seq(const unsigned char *s)
{
	unsigned c = s[0];
	size_t n;
	uint32_t v;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		v = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		v = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		v = c & 0x07;
	} else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && v < 0x800) || (n == 4 && v < 0x10000) ||
	    (v >= 0xd800 && v <= 0xdfff) || v > 0x10ffff)
		return 0;
	return n;
}

/*
 * clean_text - a heap copy of the first n bytes of s made safe for a
 * header field or the prose: control characters (tab included) become
 * spaces, runs of spaces one space, no space at the ends; bytes that
 * are not UTF-8 become '?', and so does every non-ASCII character
 * unless utf8.  Longer than DSN_TEXT_MAX_BYTES: cut, ending in "...".
 */
static char *
clean_text(const char *s, size_t n, bool utf8)
{
	const unsigned char *u = (const unsigned char *)s;
	char *out = xmalloc(n + 4);
	size_t o = 0, i = 0;
	bool space = false;

	while (i < n) {
		size_t k;

		if (u[i] < 0x20 || u[i] == 0x7f || u[i] == ' ') {
			space = o > 0;
			i++;
			continue;
		}
		/* The string is NUL-terminated at or after n: utf8_seq may
		 * look at up to 3 more bytes, never past the NUL. */
		k = utf8_seq(u + i);
		if (k == 0 || i + k > n)
			k = 1;
		if (o + (space ? 1 : 0) + k > DSN_TEXT_MAX_BYTES) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (space) {
			out[o++] = ' ';
			space = false;
		}
		if (u[i] < 0x80)
			out[o++] = (char)u[i];
		else if (utf8 && utf8_seq(u + i) == k && i + k <= n) {
			memcpy(out + o, s + i, k);
			o += k;
		} else
			out[o++] = '?';
		i += k;
	}
	out[o] = '\0';
	return out;
}

/* ------------------------------------------------------------------ */
/* Dates, xtext */

static const char *const dsn_wday[] = {
	"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat",
};
static const char *const dsn_month[] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
	"Oct", "Nov", "Dec",
};

/* fmt_date - RFC 5322 3.3 date-time of t in UTC (English names, not
 * the locale's). */
static void
fmt_date(char out[DSN_DATE_BYTES], time_t t)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || tm.tm_year < -1899 ||
	    tm.tm_year > 9999 - 1900) {
		memset(&tm, 0, sizeof(tm));
		tm.tm_mday = 1;
		tm.tm_year = 70;
		tm.tm_wday = 4;
	}
	snprintf(out, DSN_DATE_BYTES, "%s, %d %s %04d %02d:%02d:%02d +0000",
	    dsn_wday[tm.tm_wday % 7], tm.tm_mday, dsn_month[tm.tm_mon % 12],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* xtext - RFC 3461 4: "!".."~" except "+" and "=" as they are, every
 * other byte as "+XX".  Caller frees. */
static char *
xtext(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s), o = 0;
	char *out = xmalloc(3 * n + 1);

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= '!' && c <= '~' && c != '+' && c != '=')
			out[o++] = (char)c;
		else {
			out[o++] = '+';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 0x0f];
		}
	}
	out[o] = '\0';
	return out;
}

/* ------------------------------------------------------------------ */
/* The original message */

/* next_line - the line at off: its length without CR LF / LF, and
 * where the next one starts. */
static size_t
next_line(const char *s, size_t len, size_t off, size_t *next_r)
{
	const char *lf = memchr(s + off, '\n', len - off);
	size_t end;

	if (lf == NULL) {
		*next_r = len;
		return len - off;
	}
	end = (size_t)(lf - s);
	*next_r = end + 1;
	if (end > off && s[end - 1] == '\r')
		end--;
	return end - off;
}

/* A header field's first line: a name of printable ASCII without ':'
 * (RFC 5322 2.2), optional white space (obsolete syntax), ':'. */
static bool
is_header_start(const char *l, size_t n)
{
	size_t i = 0;

	while (i < n && l[i] > ' ' && l[i] < 0x7f && l[i] != ':')
		i++;
	if (i == 0)
		return false;
	while (i < n && is_wsp(l[i]))
		i++;
	return i < n && l[i] == ':';
}

/* scan_headers - find where the original's header section ends. */
static void
scan_headers(struct ctx *c)
{
	const char *s = c->p->content;
	size_t len = c->p->content_len, off = 0, next;
	bool first = true;

	c->has_sep = false;
	c->hdr_end = c->body_start = len;
	while (off < len) {
		size_t n = next_line(s, len, off, &next);

		if (n == 0) {
			c->hdr_end = off;
			c->body_start = next;
			c->has_sep = true;
			return;
		}
		if (!is_header_start(s + off, n) && (first || !is_wsp(s[off]))) {
			c->hdr_end = c->body_start = off;
			return;
		}
		first = false;
		off = next;
	}
}

/* header_keep - how many bytes of the header section to attach: all of
 * it when limit is 0 or it fits, else the whole fields that fit. */
static size_t
header_keep(const struct ctx *c, uint64_t limit)
{
	const char *s = c->p->content;
	size_t off = 0, next, keep = 0;

	if (limit == 0 || c->hdr_end <= limit)
		return c->hdr_end;
	while (off < c->hdr_end) {
		(void)next_line(s, c->hdr_end, off, &next);
		/* off starts a field unless it is a continuation line. */
		if (!is_wsp(s[off]))
			keep = off;
		if (next > limit)
			return keep;
		off = next;
	}
	return c->hdr_end;
}

/*
 * put_original - the lines of content[from..to) with CRLF line ends;
 * a line over DSN_LINE_MAX_BYTES is folded (header) or broken with a
 * plain line break (body).
 */
static void
put_original(struct w *w, const char *s, size_t from, size_t to,
    bool header)
{
	size_t off = from, next;

	while (off < to) {
		size_t n = next_line(s, to, off, &next);

		if (n <= DSN_LINE_MAX_BYTES) {
			w_put(w, s + off, n);
			w_str(w, "\r\n");
		} else if (header)
			put_folded(w, s + off, n, DSN_LINE_MAX_BYTES);
		else {
			const char *l = s + off;

			while (n > DSN_LINE_MAX_BYTES) {
				size_t k = cut_point(l, DSN_LINE_MAX_BYTES);

				w_put(w, l, k);
				w_str(w, "\r\n");
				l += k;
				n -= k;
			}
			w_put(w, l, n);
			w_str(w, "\r\n");
		}
		off = next;
	}
}

/* ------------------------------------------------------------------ */
/* The parts */

/* Address type and form for an address (RFC 6533 3: "utf-8" for a
 * non-ASCII address, in its raw utf-8-address form, which only a
 * global report may carry - and a non-ASCII address makes it one). */
static const char *
addr_type(const char *addr)
{
	return is_ascii(addr) ? "rfc822" : "utf-8";
}

static bool
orcpt_type_is(const struct rcpt_info *ri, const char *type)
{
	return ri->orcpt_type_len == strlen(type) &&
	    strncasecmp(ri->orcpt_type, type, ri->orcpt_type_len) == 0;
}

static void
put_part1(struct w *w, const struct ctx *c)
{
	const struct dsn_params *p = c->p;
	char date[DSN_DATE_BYTES];
	char *s;

	s = xasprintf("This is the %s mail system at %s.", c->mail_name,
	    p->reporting_mta);
	put_prose(w, "", "", s);
	free(s);
	w_str(w, "\r\n");

	if (p->copy_of_sender != NULL) {
		s = xasprintf("This is a copy for the postmaster "
		    "(notify_classes): a message from <%s> %s the recipients "
		    "listed below. Its sender %s.", p->copy_of_sender,
		    p->kind == DSN_KIND_DELAY ? "is still waiting for" :
		    p->kind == DSN_KIND_FAILURE ? "could not be delivered to" :
		    "was delivered to", p->kind == DSN_KIND_DELAY ?
		    "was sent a delay warning" : "was sent its own notice");
		put_prose(w, "", "", s);
		free(s);
	} else switch (p->kind) {
	case DSN_KIND_FAILURE:
		put_prose(w, "", "", "We are sorry: your message could not "
		    "be delivered to the recipients listed below. The mail "
		    "system has given up on them and will not try again. "
		    "The reason is shown under each address.");
		break;
	case DSN_KIND_DELAY:
		if (p->retry_until != 0) {
			fmt_date(date, p->retry_until);
			s = xasprintf("until %s", date);
		} else
			s = xstrdup("for some time");
		{
			char *t = xasprintf("This is only a warning: you do not "
			    "need to do anything, and you do not need to send "
			    "your message again. Your message has not yet been "
			    "delivered to the recipients listed below. The mail "
			    "system will keep trying %s. If it still cannot "
			    "deliver the message by then, you will get another "
			    "notice.", s);

			put_prose(w, "", "", t);
			free(t);
		}
		free(s);
		break;
	case DSN_KIND_SUCCESS:
		put_prose(w, "", "", "Your message was delivered to the "
		    "recipients listed below. You receive this notice because "
		    "it was asked for when the message was sent.");
		break;
	}
	if (p->arrival != 0) {
		fmt_date(date, p->arrival);
		s = xasprintf("The message arrived here on %s.", date);
		w_str(w, "\r\n");
		put_prose(w, "", "", s);
		free(s);
	}

	for (size_t i = 0; i < p->nrcpts; i++) {
		const struct dsn_rcpt *r = &p->rcpts[i];
		const struct rcpt_info *ri = &c->ri[i];
		const char *what = "";

		if (strcmp(r->action, "failed") == 0)
			what = "could not be delivered";
		else if (strcmp(r->action, "delayed") == 0)
			what = "not delivered yet, still trying";
		else if (strcmp(r->action, "delivered") == 0)
			what = "delivered";
		else if (strcmp(r->action, "relayed") == 0)
			what = "passed on to a mail system that sends no "
			    "delivery notices";
		else if (strcmp(r->action, "expanded") == 0)
			what = "delivered to a list or alias; its members "
			    "will get no further notices";
		w_str(w, "\r\n");
		s = xasprintf("<%s>: %s", r->final_rcpt, what);
		put_prose(w, "", "        ", s);
		free(s);
		if (ri->orcpt_addr != NULL &&
		    (orcpt_type_is(ri, "rfc822") ||
		    orcpt_type_is(ri, "utf-8")) &&
		    strcasecmp(ri->orcpt_addr, r->final_rcpt) != 0) {
			s = xasprintf("%s sent it to <%s>.",
			    p->copy_of_sender != NULL ? "The sender" : "You",
			    ri->orcpt_addr);
			put_prose(w, "    ", "        ", s);
			free(s);
		}
		if (ri->text_human != NULL && *ri->text_human != '\0') {
			s = xasprintf("Reason: %s", ri->text_human);
			put_prose(w, "    ", "        ", s);
			free(s);
		}
		if (ri->diag_type != NULL && *ri->diag_human != '\0') {
			if (strcasecmp(ri->diag_type, "smtp") == 0 ||
			    strcasecmp(ri->diag_type, "lmtp") == 0) {
				if (ri->remote_human != NULL)
					s = xasprintf("The mail server %s "
					    "replied: %s", ri->remote_human,
					    ri->diag_human);
				else
					s = xasprintf("The mail server "
					    "replied: %s", ri->diag_human);
			} else if (ri->text_human == NULL ||
			    strcmp(ri->text_human, ri->diag_human) != 0)
				s = xasprintf("Details: %s", ri->diag_human);
			else
				s = NULL;
			if (s != NULL)
				put_prose(w, "    ", "        ", s);
			free(s);
		}
	}

	w_str(w, "\r\n");
	if (c->full)
		put_prose(w, "", "", "Your message is attached below.");
	else {
		put_prose(w, "", "", p->copy_of_sender != NULL ? "The "
		    "headers of the message are attached below." : "The "
		    "headers of your message are attached below.");
		if (c->too_large) {
			s = xasprintf("The whole message is %zu bytes, more than "
			    "the limit of %" PRIu64 " bytes for returned mail, "
			    "so only its headers are attached.", p->content_len,
			    p->size_limit);
			put_prose(w, "", "", s);
			free(s);
		}
		if (c->hdrs_cut)
			put_prose(w, "", "", "There were too many of them to "
			    "attach all: only the first ones are included.");
	}
	if (p->kind != DSN_KIND_SUCCESS && p->copy_of_sender == NULL) {
		w_str(w, "\r\n");
		put_prose(w, "", "", "If you need help, please contact the "
		    "postmaster of your mail service and include this "
		    "notice.");
	}
}

static void
put_part2(struct w *w, const struct ctx *c)
{
	const struct dsn_params *p = c->p;
	char date[DSN_DATE_BYTES];
	char *s;

	/* Per-message fields, in the order of RFC 3464 2.2. */
	if (p->envid != NULL) {
		s = xtext(p->envid);
		put_field(w, "Original-Envelope-Id", s);
		free(s);
	}
	s = xasprintf("dns; %s", p->reporting_mta);
	put_field(w, "Reporting-MTA", s);
	free(s);
	if (c->received_report != NULL) {
		s = xasprintf("dns; %s", c->received_report);
		put_field(w, "Received-From-MTA", s);
		free(s);
	}
	if (p->arrival != 0) {
		fmt_date(date, p->arrival);
		put_field(w, "Arrival-Date", date);
	}
	put_field(w, "X-Ostia-Queue-ID", p->queue_id);
	{
		const char *orig = p->copy_of_sender != NULL ?
		    p->copy_of_sender : p->sender;

		s = xasprintf("%s; %s", addr_type(orig), orig);
	}
	put_field(w, "X-Ostia-Sender", s);
	free(s);

	/* Per-recipient fields, in the order of RFC 3464 2.3. */
	for (size_t i = 0; i < p->nrcpts; i++) {
		const struct dsn_rcpt *r = &p->rcpts[i];
		const struct rcpt_info *ri = &c->ri[i];

		w_str(w, "\r\n");
		if (ri->orcpt_addr != NULL) {
			if (is_ascii(ri->orcpt_addr))
				s = xasprintf("%.*s; %s",
				    (int)ri->orcpt_type_len, ri->orcpt_type,
				    ri->orcpt_addr);
			else
				s = xasprintf("utf-8; %s", ri->orcpt_addr);
			put_field(w, "Original-Recipient", s);
			free(s);
		}
		s = xasprintf("%s; %s", addr_type(r->final_rcpt),
		    r->final_rcpt);
		put_field(w, "Final-Recipient", s);
		free(s);
		put_field(w, "Action", r->action);
		put_field(w, "Status", r->status);
		if (ri->remote_report != NULL) {
			s = xasprintf("dns; %s", ri->remote_report);
			put_field(w, "Remote-MTA", s);
			free(s);
		}
		if (ri->diag_type != NULL)
			s = xasprintf("%s; %s", ri->diag_type, ri->diag_report);
		else if (ri->text_report != NULL && *ri->text_report != '\0')
			s = xasprintf("X-Ostia; %s", ri->text_report);
		else
			s = NULL;
		if (s != NULL)
			put_field(w, "Diagnostic-Code", s);
		free(s);
		if (r->last_attempt != 0) {
			fmt_date(date, r->last_attempt);
			put_field(w, "Last-Attempt-Date", date);
		}
		if (p->retry_until != 0 && strcmp(r->action, "delayed") == 0) {
			fmt_date(date, p->retry_until);
			put_field(w, "Will-Retry-Until", date);
		}
	}
}

static void
put_part3(struct w *w, const struct ctx *c)
{
	const struct dsn_params *p = c->p;

	if (!c->full) {
		put_original(w, p->content, 0, c->hdr_keep, true);
		return;
	}
	put_original(w, p->content, 0, c->hdr_end, true);
	if (c->has_sep || c->body_start < p->content_len) {
		w_str(w, "\r\n");
		put_original(w, p->content, c->body_start, p->content_len,
		    false);
	}
}

/* ------------------------------------------------------------------ */

/* Is the ASCII string needle (n bytes) in the buffer? */
static bool
contains(const struct w *w, const char *needle, size_t n)
{
	return w->b.len >= n && memmem(w->b.data, w->b.len, needle, n) != NULL;
}

static bool
has_8bit(const struct w *w)
{
	for (size_t i = 0; i < w->b.len; i++) {
		if ((unsigned char)w->b.data[i] >= 0x80)
			return true;
	}
	return false;
}

static int
check_params(const struct dsn_params *p, const char **error_r)
{
	if (p->kind != DSN_KIND_FAILURE && p->kind != DSN_KIND_DELAY &&
	    p->kind != DSN_KIND_SUCCESS) {
		*error_r = "unknown kind of notice";
		return -1;
	}
	if (!queue_id_is_valid(p->queue_id)) {
		*error_r = "the queue ID is not valid";
		return -1;
	}
	CHECK(check_field(p->reporting_mta, false, true), "reporting_mta");
	if (!is_host_chars(p->reporting_mta)) {
		*error_r = "reporting_mta is not a host name";
		return -1;
	}
	if (p->message_id_domain != NULL &&
	    !is_host_chars(p->message_id_domain)) {
		*error_r = "message_id_domain is not a host name";
		return -1;
	}
	CHECK(check_field(p->from_addr, false, true), "from_addr");
	if (strpbrk(p->from_addr, "<>") != NULL) {
		*error_r = "from_addr contains '<' or '>'";
		return -1;
	}
	CHECK(check_field(p->mail_name, false, false), "mail_name");
	CHECK(check_field(p->sender, false, false), "the sender");
	if (strpbrk(p->sender, "<>") != NULL) {
		*error_r = "the sender contains '<' or '>'";
		return -1;
	}
	if (p->copy_of_sender != NULL) {
		CHECK(check_field(p->copy_of_sender, false, false),
		    "copy_of_sender");
		if (p->copy_of_sender[0] == '\0' ||
		    strpbrk(p->copy_of_sender, "<>") != NULL) {
			*error_r = "copy_of_sender is empty or contains '<' "
			    "or '>'";
			return -1;
		}
	}
	/* ENVID: any bytes (xtext-encoded), just bounded. */
	if (p->envid != NULL && strlen(p->envid) > DSN_FIELD_MAX_BYTES) {
		*error_r = "envid is too long";
		return -1;
	}
	CHECK(check_field(p->received_from, true, false), "received_from");
	if (p->rcpts == NULL || p->nrcpts == 0) {
		*error_r = "no recipients for the notice";
		return -1;
	}
	if (p->content == NULL && p->content_len != 0) {
		*error_r = "content is NULL";
		return -1;
	}
	for (size_t i = 0; i < p->nrcpts; i++) {
		const struct dsn_rcpt *r = &p->rcpts[i];

		CHECK(check_field(r->final_rcpt, false, false),
		    "a recipient's address");
		if (strpbrk(r->final_rcpt, "<>") != NULL) {
			*error_r = "a recipient's address contains '<' or '>'";
			return -1;
		}
		CHECK(check_field(r->orcpt, true, false),
		    "a recipient's orcpt");
		CHECK(check_field(r->action, false, true),
		    "a recipient's action");
		if (!action_is_valid(r->action)) {
			*error_r = "a recipient's action is not one of failed, "
			    "delayed, delivered, relayed, expanded";
			return -1;
		}
		CHECK(check_field(r->status, false, true),
		    "a recipient's status");
		if (!status_is_valid(r->status)) {
			*error_r = "a recipient's status is not an RFC 3463 "
			    "code X.Y.Z";
			return -1;
		}
		CHECK(check_field(r->remote_mta, true, false),
		    "a recipient's remote_mta");
		CHECK(check_text(r->diagnostic), "a recipient's diagnostic");
		CHECK(check_text(r->text), "a recipient's text");
	}
	return 0;
}

/* Fill c->ri; -1 with *error_r on a bad ORCPT. */
static int
prepare_rcpts(struct ctx *c, const char **error_r)
{
	const struct dsn_params *p = c->p;

	c->ri = xcalloc(p->nrcpts, sizeof(*c->ri));
	for (size_t i = 0; i < p->nrcpts; i++) {
		const struct dsn_rcpt *r = &p->rcpts[i];
		struct rcpt_info *ri = &c->ri[i];

		if (r->orcpt != NULL) {
			const char *semi = strchr(r->orcpt, ';');
			const char *t = r->orcpt, *a;
			size_t tl;

			if (semi == NULL) {
				*error_r = "a recipient's orcpt is not "
				    "\"type;address\"";
				return -1;
			}
			while (is_wsp(*t))
				t++;
			tl = (size_t)(semi - t);
			while (tl > 0 && is_wsp(t[tl - 1]))
				tl--;
			a = semi + 1;
			while (is_wsp(*a))
				a++;
			if (!is_type_word(t, tl) || *a == '\0') {
				*error_r = "a recipient's orcpt is not "
				    "\"type;address\"";
				return -1;
			}
			ri->orcpt_type = t;
			ri->orcpt_type_len = tl;
			ri->orcpt_addr = a;
		}
		if (r->text != NULL) {
			ri->text_human = clean_text(r->text, strlen(r->text),
			    true);
			ri->text_report = clean_text(r->text, strlen(r->text),
			    c->global);
		}
		if (r->diagnostic != NULL) {
			const char *d = r->diagnostic;
			const char *semi = strchr(d, ';');
			const char *t = d, *rest;
			size_t tl = 0;

			while (is_wsp(*t))
				t++;
			if (semi != NULL) {
				tl = (size_t)(semi - t);
				while (tl > 0 && is_wsp(t[tl - 1]))
					tl--;
			}
			if (semi != NULL && is_type_word(t, tl)) {
				ri->diag_type = xstrndup(t, tl);
				rest = semi + 1;
			} else {
				ri->diag_type = xstrdup("X-Ostia");
				rest = d;
			}
			ri->diag_human = clean_text(rest, strlen(rest), true);
			ri->diag_report = clean_text(rest, strlen(rest),
			    c->global);
		}
		if (r->remote_mta != NULL) {
			ri->remote_human = clean_text(r->remote_mta,
			    strlen(r->remote_mta), true);
			ri->remote_report = clean_text(r->remote_mta,
			    strlen(r->remote_mta), c->global);
		}
	}
	return 0;
}

static void
ctx_free(struct ctx *c)
{
	if (c->ri != NULL) {
		for (size_t i = 0; i < c->p->nrcpts; i++) {
			struct rcpt_info *ri = &c->ri[i];

			free(ri->text_human);
			free(ri->text_report);
			free(ri->diag_type);
			free(ri->diag_human);
			free(ri->diag_report);
			free(ri->remote_human);
			free(ri->remote_report);
		}
		free(c->ri);
	}
	free(c->mail_name);
	free(c->received_report);
}

static const char *
subject_of(enum dsn_kind kind, bool copy)
{
	if (copy)
		return kind == DSN_KIND_FAILURE ?
		    "Postmaster Copy: Undelivered Mail" :
		    kind == DSN_KIND_DELAY ? "Postmaster Warning: Delayed Mail" :
		    "Postmaster Copy: Delivery Report";
	switch (kind) {
	case DSN_KIND_FAILURE:
		return "Undelivered Mail Returned to Sender";
	case DSN_KIND_DELAY:
		return "Delayed Mail (still being retried)";
	case DSN_KIND_SUCCESS:
		break;
	}
	return "Successful Mail Delivery Report";
}

static const char *
part3_description(const struct ctx *c)
{
	switch (c->p->kind) {
	case DSN_KIND_FAILURE:
		return c->full ? "Undelivered Message" :
		    "Undelivered Message Headers";
	case DSN_KIND_DELAY:
		return "Delayed Message Headers";
	case DSN_KIND_SUCCESS:
		break;
	}
	return "Delivered Message Headers";
}

bool
dsn_is_global(const struct dsn_params *p)
{
	if (p->smtputf8 || !is_ascii(p->sender) ||
	    !is_ascii(p->copy_of_sender))
		return true;
	for (size_t i = 0; p->rcpts != NULL && i < p->nrcpts; i++) {
		if (!is_ascii(p->rcpts[i].final_rcpt) ||
		    !is_ascii(p->rcpts[i].orcpt))
			return true;
	}
	return false;
}

bool
dsn_needs_smtputf8(const struct dsn_params *p)
{
	return !is_ascii(p->sender);
}

int
dsn_build(const struct dsn_params *p, struct buf *out, const char **error_r)
{
	struct ctx c;
	struct w part[3], msg;
	char boundary[DSN_BOUNDARY_BYTES], date[DSN_DATE_BYTES];
	const char *mid_domain;
	size_t room;
	bool eight = false, found = false;
	struct tm tm;
	int ret = -1;

	*error_r = NULL;
	if (check_params(p, error_r) < 0)
		return -1;

	memset(&c, 0, sizeof(c));
	c.p = p;
	c.global = dsn_is_global(p);
	c.mail_name = clean_text(p->mail_name, strlen(p->mail_name), true);
	if (p->received_from != NULL)
		c.received_report = clean_text(p->received_from,
		    strlen(p->received_from), c.global);
	if (prepare_rcpts(&c, error_r) < 0) {
		ctx_free(&c);
		return -1;
	}
	scan_headers(&c);
	/* RFC 3461 4.3: the whole message only in a failure notice. */
	c.full = p->kind == DSN_KIND_FAILURE && p->ret_full &&
	    p->copy_of_sender == NULL &&
	    (p->size_limit == 0 || p->content_len <= p->size_limit);
	c.too_large = p->kind == DSN_KIND_FAILURE && p->ret_full &&
	    p->copy_of_sender == NULL && !c.full;
	if (!c.full) {
		c.hdr_keep = header_keep(&c, p->size_limit);
		c.hdrs_cut = c.hdr_keep < c.hdr_end;
	}

	room = out->max - out->len;
	for (int i = 0; i < 3; i++)
		w_init(&part[i], room);
	w_init(&msg, room);
	put_part1(&part[0], &c);
	put_part2(&part[1], &c);
	put_part3(&part[2], &c);
	if (part[0].full || part[1].full || part[2].full) {
		*error_r = "the notice is larger than the output buffer allows";
		goto out;
	}

	for (unsigned try = 0; try < DSN_BOUNDARY_TRIES && !found; try++) {
		size_t bl;

		if (try == 0)
			snprintf(boundary, sizeof(boundary), "ostia-%016" PRIx64
			    "-%s", p->unique, p->queue_id);
		else
			snprintf(boundary, sizeof(boundary), "ostia-%016" PRIx64
			    "-%s-%u", p->unique, p->queue_id, try);
		bl = strlen(boundary);
		found = !contains(&part[0], boundary, bl) &&
		    !contains(&part[1], boundary, bl) &&
		    !contains(&part[2], boundary, bl);
	}
	if (!found) {
		*error_r = "no MIME boundary found that is not in the text";
		goto out;
	}
	for (int i = 0; i < 3; i++)
		eight = eight || has_8bit(&part[i]);

	/* The message header. */
	fmt_date(date, p->now);
	put_field(&msg, "Date", date);
	{
		char *from = xasprintf("Mail Delivery System <%s>",
		    p->from_addr);
		char *to = xasprintf("<%s>", p->sender);

		put_field(&msg, "From", from);
		put_field(&msg, "To", to);
		free(from);
		free(to);
	}
	put_field(&msg, "Subject", subject_of(p->kind,
	    p->copy_of_sender != NULL));
	if (gmtime_r(&p->now, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	mid_domain = p->message_id_domain != NULL ? p->message_id_domain :
	    p->reporting_mta;
	{
		char *mid = xasprintf("<%04d%02d%02d%02d%02d%02d.%s.%016" PRIx64
		    "@%s>", (tm.tm_year + 1900) % 10000, tm.tm_mon + 1,
		    tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, p->queue_id,
		    p->unique, mid_domain);

		put_field(&msg, "Message-ID", mid);
		free(mid);
	}
	w_str(&msg, "Auto-Submitted: auto-replied\r\n");
	w_str(&msg, "MIME-Version: 1.0\r\n");
	w_printf(&msg, "Content-Type: multipart/report; report-type=%s;\r\n"
	    "\tboundary=\"%s\"\r\n", c.global ? "global-delivery-status" :
	    "delivery-status", boundary);
	w_printf(&msg, "Content-Transfer-Encoding: %s\r\n",
	    eight ? "8bit" : "7bit");
	w_str(&msg, "\r\nThis is a MIME-encapsulated message.\r\n");

	/* Part 1: the prose. */
	w_printf(&msg, "\r\n--%s\r\n", boundary);
	w_str(&msg, "Content-Description: Notification\r\n");
	w_printf(&msg, "Content-Type: text/plain; charset=%s\r\n",
	    has_8bit(&part[0]) ? "utf-8" : "us-ascii");
	if (has_8bit(&part[0]))
		w_str(&msg, "Content-Transfer-Encoding: 8bit\r\n");
	w_str(&msg, "\r\n");
	w_put(&msg, part[0].b.data, part[0].b.len);

	/* Part 2: the report. */
	w_printf(&msg, "\r\n--%s\r\n", boundary);
	w_str(&msg, "Content-Description: Delivery report\r\n");
	w_printf(&msg, "Content-Type: message/%s\r\n", c.global ?
	    "global-delivery-status" : "delivery-status");
	if (has_8bit(&part[1]))
		w_str(&msg, "Content-Transfer-Encoding: 8bit\r\n");
	w_str(&msg, "\r\n");
	w_put(&msg, part[1].b.data, part[1].b.len);

	/*
	 * Part 3: the original.  8-bit data stays as it is, with
	 * Content-Transfer-Encoding: 8bit, which RFC 2046 5.2.1 allows
	 * for message/rfc822 (it needs 8BITMIME on the way, as the
	 * original did).
	 */
	w_printf(&msg, "\r\n--%s\r\n", boundary);
	w_printf(&msg, "Content-Description: %s\r\n", part3_description(&c));
	if (c.full)
		w_printf(&msg, "Content-Type: message/%s\r\n", c.global ?
		    "global" : "rfc822");
	else
		w_printf(&msg, "Content-Type: %s\r\n", c.global ?
		    "message/global-headers" : "text/rfc822-headers");
	if (has_8bit(&part[2]))
		w_str(&msg, "Content-Transfer-Encoding: 8bit\r\n");
	w_str(&msg, "\r\n");
	w_put(&msg, part[2].b.data, part[2].b.len);
	w_printf(&msg, "\r\n--%s--\r\n", boundary);

	if (msg.full || buf_append(out, msg.b.data, msg.b.len) < 0) {
		*error_r = "the notice is larger than the output buffer allows";
		goto out;
	}
	ret = 0;
out:
	for (int i = 0; i < 3; i++)
		buf_deinit(&part[i].b);
	buf_deinit(&msg.b);
	ctx_free(&c);
	return ret;
}
