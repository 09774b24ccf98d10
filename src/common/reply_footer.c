/* SPDX-License-Identifier: MIT */
/*
 * reply_footer - smtpd_reject_footer expansion (reply_footer.h).
 */
#include <stdbool.h>
#include <string.h>

#include "reply_footer.h"

/* Longest expansion of one footer line before it is cut, and of the
 * whole result. */
#define FOOTER_TEXT_MAX (8 * 1024)
#define FOOTER_RESULT_MAX (64 * 1024)

static bool
name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_';
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* put - append n bytes, control characters as '?'. */
static void
put(struct buf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		(void)buf_append_c(b, c < 0x20 || c == 0x7f ? '?' : (char)c);
	}
}

static void
put_value(struct buf *b, const char *v)
{
	if (v != NULL)
		put(b, v, strlen(v));
}

/*
 * expand - t[0..n) with its macros into b (b may be NULL: check only).
 * 0, or -1 with *error_r.
 */
static int
expand(struct buf *b, const char *t, size_t n, reply_footer_lookup *lookup,
    void *ctx, const char **error_r)
{
	size_t i = 0;

	while (i < n) {
		size_t s, e;

		if (t[i] != '$') {
			if (b != NULL)
				put(b, t + i, 1);
			i++;
			continue;
		}
		if (i + 1 < n && t[i + 1] == '$') {
			if (b != NULL)
				put(b, "$", 1);
			i += 2;
			continue;
		}
		if (i + 1 < n && (t[i + 1] == '{' || t[i + 1] == '(')) {
			char close = t[i + 1] == '{' ? '}' : ')';
			const char *v;

			s = e = i + 2;
			while (e < n && name_char(t[e]))
				e++;
			if (e == s) {
				*error_r = "a macro without a name";
				return -1;
			}
			if (e >= n) {
				*error_r = "a macro that is not closed";
				return -1;
			}
			if (t[e] == close) {
				if (b != NULL)
					put_value(b, lookup(ctx, t + s, e - s));
				i = e + 1;
				continue;
			}
			if (t[e] == '?' || t[e] == ':') {
				const char *k = memchr(t + e + 1, close,
				    n - e - 1);
				bool set;

				if (k == NULL) {
					*error_r = "a macro that is not closed";
					return -1;
				}
				if (b != NULL) {
					v = lookup(ctx, t + s, e - s);
					set = v != NULL && *v != '\0';
					if (set == (t[e] == '?'))
						put(b, t + e + 1,
						    (size_t)(k - t) - e - 1);
				}
				i = (size_t)(k - t) + 1;
				continue;
			}
			*error_r = "a character that cannot be in a macro name";
			return -1;
		}
		if (i + 1 < n && name_char(t[i + 1])) {
			s = e = i + 1;
			while (e < n && name_char(t[e]))
				e++;
			if (b != NULL)
				put_value(b, lookup(ctx, t + s, e - s));
			i = e;
			continue;
		}
		/* A '$' that starts nothing stays itself. */
		if (b != NULL)
			put(b, "$", 1);
		i++;
	}
	return 0;
}

/* next_segment - the footer text up to the next "\n" (or the end). */
static size_t
segment_len(const char *t)
{
	const char *p = t;

	while (*p != '\0' && !(p[0] == '\\' && p[1] == 'n'))
		p++;
	return (size_t)(p - t);
}

int
reply_footer_check(const char *tmpl, const char **error_r)
{
	const char *t = tmpl;

	if (strncmp(t, "\\c", 2) == 0)
		t += 2;
	for (;;) {
		size_t n = segment_len(t);

		if (expand(NULL, t, n, NULL, NULL, error_r) < 0)
			return -1;
		if (t[n] == '\0')
			return 0;
		t += n + 2;
	}
}

/* end_line - cut the line that starts at from to line_max, add CRLF. */
static void
end_line(struct buf *out, size_t from, size_t line_max)
{
	if (out->len > from && out->len - from > line_max) {
		out->len = from + line_max;
		out->data[out->len] = '\0';
	}
	(void)buf_append(out, "\r\n", 2);
}

int
reply_footer_apply(const char *reply, size_t len, const char *tmpl,
    reply_footer_lookup *lookup, void *ctx, size_t line_max,
    struct buf *out, const char **error_r)
{
	size_t dsn_len = 0, line_start, mark_at;
	const char *t = tmpl;
	bool join, ok;
	struct buf text, res;

	*error_r = NULL;
	if (len < 4 || !is_digit(reply[0]) || !is_digit(reply[1]) ||
	    !is_digit(reply[2]) || (reply[3] != ' ' && reply[3] != '-') ||
	    memchr(reply, '\r', len) != NULL ||
	    memchr(reply, '\n', len) != NULL) {
		*error_r = "the reply is not a reply line";
		return -1;
	}
	if (line_max < 4) {
		*error_r = "line_max is too small";
		return -1;
	}
	if (reply_footer_check(tmpl, error_r) < 0)
		return -1;
	/* The enhanced status code "X.Y.Z" after the reply code, if any. */
	{
		size_t i = 4, parts = 0;

		while (parts < 3) {
			size_t s = i;

			while (i < len && is_digit(reply[i]) && i - s < 3)
				i++;
			if (i == s)
				break;
			parts++;
			if (parts < 3) {
				if (i >= len || reply[i] != '.')
					break;
				i++;
			}
		}
		if (parts == 3 && (i == len || reply[i] == ' ') &&
		    reply[4] == reply[0])
			dsn_len = i - 4;
	}
	join = strncmp(t, "\\c", 2) == 0;
	if (join)
		t += 2;
	buf_init(&text, FOOTER_TEXT_MAX);
	buf_init(&res, FOOTER_RESULT_MAX);

	/* The reply's own line. */
	line_start = 0;
	mark_at = 3;
	(void)buf_append(&res, reply, len);
	for (bool first = true;; first = false) {
		size_t n = segment_len(t);

		buf_reset(&text);
		(void)expand(&text, t, n, lookup, ctx, error_r);
		if (first && join) {
			(void)buf_append(&res, buf_cstr(&text), text.len);
		} else {
			end_line(&res, line_start, line_max);
			/* The line before goes on. */
			if (mark_at < res.len)
				res.data[mark_at] = '-';
			line_start = res.len;
			mark_at = line_start + 3;
			(void)buf_append(&res, reply, 3);
			(void)buf_append_c(&res, ' ');
			if (dsn_len > 0) {
				(void)buf_append(&res, reply + 4, dsn_len);
				(void)buf_append_c(&res, ' ');
			}
			(void)buf_append(&res, buf_cstr(&text), text.len);
		}
		if (t[n] == '\0')
			break;
		t += n + 2;
	}
	end_line(&res, line_start, line_max);
	if (mark_at < res.len)
		res.data[mark_at] = reply[3];
	/* Whole lines only: a result that hit its bound is not sent. */
	ok = res.len >= 2 && res.data[res.len - 2] == '\r' &&
	    res.data[res.len - 1] == '\n' && res.len < FOOTER_RESULT_MAX &&
	    buf_append(out, res.data, res.len) == 0;
	buf_deinit(&text);
	buf_deinit(&res);
	if (!ok) {
		*error_r = "the reply with its footer is too long";
		return -1;
	}
	return 0;
}
