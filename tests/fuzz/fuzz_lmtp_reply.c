/* SPDX-License-Identifier: MIT */
/*
 * fuzz_lmtp_reply - the LMTP client's protocol core on arbitrary bytes
 * (src/deliver/lmtp_client.c), no I/O:
 *
 * - lmtp_reply_parse() over the input as a stream of replies, fed
 *   whole and again in pieces of 1 and 7 bytes: the same replies, the
 *   same byte counts, the same error.  A reply has 1..100 lines of at
 *   most 512 bytes, one code in 200..559, an enhanced code of its class
 *   or none; lmtp_reply_text() stays within its bound, printable; the
 *   extensions parse without trouble, and STARTTLS, AUTH PLAIN and AUTH
 *   LOGIN (also the old "AUTH=" form) are only found when a line after
 *   the first names them.
 * - lmtp_dot_stuff() of the input: no line of the output but the last
 *   is ".", all lines end in CRLF (bare CRs aside), and removing the
 *   stuffing gives back the input with its line ends made CRLF.  With a
 *   line limit (smtp_line_length_limit, from the first byte): no line
 *   is longer, and removing the folds gives the output without one.
 * - lmtp_address_quote() and lmtp_xtext_append() of the input as text:
 *   no CR/LF comes out, and xtext is all in 33..126.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "lmtp_client.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_REPLIES 64

struct outcome {
	size_t n;			/* replies parsed */
	struct lmtp_reply r[MAX_REPLIES];
	size_t used[MAX_REPLIES];	/* end offset of each */
	int last;			/* 0 need more, -1 error */
	const char *error;
};

static void
check_reply(const struct lmtp_reply *r)
{
	struct lmtp_caps caps;
	char *t;

	if (r->code < 200 || r->code > 559 || r->nlines < 1 ||
	    r->nlines > LMTP_REPLY_LINES_MAX)
		abort();
	for (size_t i = 0; i < r->nlines; i++)
		if (strlen(r->lines[i]) > LMTP_LINE_MAX_BYTES - 5 ||
		    strpbrk(r->lines[i], "\n") != NULL)
			abort();
	if (r->dsn[0] != '\0' && (r->dsn[0] != (char)('0' + r->code / 100) ||
	    strncmp(r->lines[0], r->dsn, strlen(r->dsn)) != 0))
		abort();
	t = lmtp_reply_text(r, 64);
	if (strlen(t) > 63)
		abort();
	for (const char *p = t; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			abort();
	free(t);
	lmtp_caps_parse(r, &caps);
	{
		bool tls = false, auth_plain = false, auth_login = false;

		for (size_t i = 1; i < r->nlines; i++) {
			const char *l = r->lines[i];

			if (strncasecmp(l, "STARTTLS", 8) == 0 &&
			    (l[8] == '\0' || l[8] == ' '))
				tls = true;
			if (strncasecmp(l, "AUTH", 4) != 0 ||
			    (l[4] != ' ' && l[4] != '=' && l[4] != '\0'))
				continue;
			for (const char *m = l + 4; *m != '\0'; m++) {
				if (strncasecmp(m, "PLAIN", 5) == 0)
					auth_plain = true;
				if (strncasecmp(m, "LOGIN", 5) == 0)
					auth_login = true;
			}
		}
		if ((caps.starttls && !tls) || (caps.auth_plain &&
		    !auth_plain) || (caps.auth_login && !auth_login))
			abort();
	}
}

/* run - parse the stream of replies in data, step bytes at a time
 * (0: all at once). */
static void
run(const char *data, size_t size, size_t step, struct outcome *o)
{
	struct lmtp_reply_parser p;
	size_t off = 0;

	memset(o, 0, sizeof(*o));
	lmtp_reply_parser_init(&p);
	while (off < size && o->n < MAX_REPLIES) {
		size_t n = step == 0 || size - off < step ? size - off : step;
		size_t used = 0;
		const char *err = NULL;
		struct lmtp_reply r;
		int rc = lmtp_reply_parse(&p, data + off, n, &used, &r, &err);

		if (used > n)
			abort();
		off += used;
		if (rc == 1) {
			if (used == 0)
				abort();
			check_reply(&r);
			o->used[o->n] = off;
			o->r[o->n++] = r;
			continue;
		}
		if (rc == -1) {
			if (err == NULL || err[0] == '\0')
				abort();
			o->last = -1;
			o->error = err;
			break;
		}
		if (rc != 0 || used != n)
			abort();
	}
	lmtp_reply_parser_deinit(&p);
}

static void
same(const struct outcome *a, const struct outcome *b)
{
	if (a->n != b->n || a->last != b->last ||
	    (a->error == NULL) != (b->error == NULL) ||
	    (a->error != NULL && strcmp(a->error, b->error) != 0))
		abort();
	for (size_t i = 0; i < a->n; i++) {
		if (a->used[i] != b->used[i] || a->r[i].code != b->r[i].code ||
		    strcmp(a->r[i].dsn, b->r[i].dsn) != 0 ||
		    a->r[i].nlines != b->r[i].nlines)
			abort();
		for (size_t k = 0; k < a->r[i].nlines; k++)
			if (strcmp(a->r[i].lines[k], b->r[i].lines[k]) != 0)
				abort();
	}
}

static void
outcome_free(struct outcome *o)
{
	for (size_t i = 0; i < o->n; i++)
		lmtp_reply_deinit(&o->r[i]);
}

static void
check_replies(const char *data, size_t size)
{
	struct outcome whole, bytes, sevens;

	run(data, size, 0, &whole);
	run(data, size, 1, &bytes);
	run(data, size, 7, &sevens);
	same(&whole, &bytes);
	same(&whole, &sevens);
	outcome_free(&whole);
	outcome_free(&bytes);
	outcome_free(&sevens);
}

/* normalise - the input with every LF, CRLF and final CR made CRLF
 * (what the dot-stuffer must send before stuffing). */
static void
normalise(const char *data, size_t size, struct buf *b)
{
	for (size_t i = 0; i < size; i++) {
		if (data[i] == '\r' && (i + 1 == size || data[i + 1] == '\n')) {
			buf_append(b, "\r\n", 2);
			i++;
		} else if (data[i] == '\n')
			buf_append(b, "\r\n", 2);
		else
			buf_append_c(b, data[i]);
	}
	if (b->len > 0 && (b->len < 2 ||
	    memcmp(b->data + b->len - 2, "\r\n", 2) != 0))
		buf_append(b, "\r\n", 2);
}

static void
check_dot_stuff(const char *data, size_t size)
{
	struct lmtp_dot_state st = { .mid_line = false };
	struct buf out, want, back;
	size_t i = 0, half = size / 2;

	buf_init(&out, 8 * size + 16);
	buf_init(&want, 4 * size + 16);
	buf_init(&back, 4 * size + 16);
	if (lmtp_dot_stuff(&st, data, half, &out) < 0 ||
	    lmtp_dot_stuff(&st, data + half, size - half, &out) < 0 ||
	    lmtp_dot_stuff_end(&st, &out) < 0)
		abort();
	if (out.len < 3 || memcmp(out.data + out.len - 3, ".\r\n", 3) != 0)
		abort();
	/* Unstuff line by line (lines end at LF). */
	while (i < out.len - 3) {
		const char *lf = memchr(out.data + i, '\n', out.len - i);
		size_t n;

		if (lf == NULL || lf == out.data + i ||
		    lf[-1] != '\r')
			abort();
		n = (size_t)(lf - (out.data + i)) + 1;
		if (out.data[i] == '.') {
			if (n == 3)
				abort();	/* a lone "." inside */
			buf_append(&back, out.data + i + 1, n - 1);
		} else
			buf_append(&back, out.data + i, n);
		i += n;
	}
	if (i != out.len - 3)
		abort();
	normalise(data, size, &want);
	if (want.len != back.len ||
	    (want.len > 0 && memcmp(want.data, back.data, want.len) != 0))
		abort();
	buf_deinit(&out);
	buf_deinit(&want);
	buf_deinit(&back);
}

/*
 * check_line_limit - the same with a line limit (from the first byte):
 * no output line is longer than the limit (2 at least), and taking out
 * every CRLF SP the folds inserted gives the output without a limit.
 */
static void
check_line_limit(const char *data, size_t size)
{
	struct lmtp_dot_state a = { .mid_line = false };
	struct lmtp_dot_state b = { .mid_line = false };
	struct buf fo, plain, unf;
	size_t limit, line = 0, half;

	if (size < 1)
		return;
	limit = 2 + (unsigned char)data[0] % 40;
	data++;
	size--;
	half = size / 2;
	a.limit = limit;
	buf_init(&fo, 8 * size + 16);
	buf_init(&plain, 4 * size + 16);
	buf_init(&unf, 8 * size + 16);
	if (lmtp_dot_stuff(&a, data, half, &fo) < 0 ||
	    lmtp_dot_stuff(&a, data + half, size - half, &fo) < 0 ||
	    lmtp_dot_stuff_end(&a, &fo) < 0 ||
	    lmtp_dot_stuff(&b, data, size, &plain) < 0 ||
	    lmtp_dot_stuff_end(&b, &plain) < 0)
		abort();
	for (size_t i = 0; i < fo.len; i++) {
		if (i + 1 < fo.len && fo.data[i] == '\r' &&
		    fo.data[i + 1] == '\n') {
			line = 0;
			i++;
			continue;
		}
		if (++line > limit)
			abort();
	}
	for (size_t i = 0; i < fo.len; i++) {
		/* A CRLF SP the plain text does not have at this point is
		 * a fold (a fold never stands where a line ends). */
		if (i + 2 < fo.len && memcmp(fo.data + i, "\r\n ", 3) == 0 &&
		    !(unf.len + 3 <= plain.len &&
		    memcmp(plain.data + unf.len, "\r\n ", 3) == 0)) {
			i += 2;
			continue;
		}
		buf_append_c(&unf, fo.data[i]);
	}
	if (unf.len != plain.len || memcmp(unf.data, plain.data,
	    plain.len) != 0)
		abort();
	buf_deinit(&fo);
	buf_deinit(&plain);
	buf_deinit(&unf);
}

static void
check_text(const char *data, size_t size)
{
	char *s = xstrndup(data, size);
	struct buf b;

	buf_init(&b, 8 * size + 16);
	if (lmtp_address_quote(s, &b) == 0 && strpbrk(buf_cstr(&b),
	    "\r\n") != NULL)
		abort();
	buf_reset(&b);
	if (lmtp_xtext_append(s, &b) < 0)
		abort();
	for (size_t i = 0; i < b.len; i++)
		if ((unsigned char)b.data[i] < 33 ||
		    (unsigned char)b.data[i] > 126)
			abort();
	buf_deinit(&b);
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *d = (const char *)data;

	check_replies(d, size);
	check_dot_stuff(d, size);
	check_line_limit(d, size);
	if (size <= 4096)
		check_text(d, size);
	return 0;
}
