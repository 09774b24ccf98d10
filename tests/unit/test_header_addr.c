/* SPDX-License-Identifier: MIT */
/*
 * test_header_addr - the address scanner of address headers
 * (src/common/header_addr.c): which bytes of a header value are the
 * addresses to rewrite, which values are refused, the in-place
 * replacement, and the header classes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "compat.h"
#include "header_addr.h"
#include "xalloc.h"

#define MAX_WANT 6
#define SPANS_MAX 16
#define REFUSED (-1)

struct scan_case {
	const char *value;
	int n;				/* REFUSED or the number of spans */
	const char *want[MAX_WANT];	/* the text of each span */
};

static const struct scan_case scan_cases[] = {
	/* Plain addresses. */
	{ "user@example.com", 1, { "user@example.com" } },
	{ " user@example.com", 1, { "user@example.com" } },
	{ "\t user@example.com \t", 1, { "user@example.com" } },
	{ "a@x, b@y", 2, { "a@x", "b@y" } },
	{ "a@x,\tb@y", 2, { "a@x", "b@y" } },
	{ "a@x,b@y,c@z", 3, { "a@x", "b@y", "c@z" } },
	{ "a\\b@x", 1, { "a\\b@x" } },	/* '\' is plain outside quotes */
	{ "u@[192.0.2.1]", 1, { "u@[192.0.2.1]" } },
	{ "u@[IPv6:2001:db8::1]", 1, { "u@[IPv6:2001:db8::1]" } },
	{ "u@[IPv6:2001:db8::1], v@y", 2, { "u@[IPv6:2001:db8::1]", "v@y" } },

	/* name-addr, display names quoted and not. */
	{ "<user@example.com>", 1, { "user@example.com" } },
	{ "Joe <joe@x.example>", 1, { "joe@x.example" } },
	{ "Joe Q. Public <joe@x>", 1, { "joe@x" } },
	{ "Joe<joe@x>", 1, { "joe@x" } },
	{ "\"Joe Q. Public\" <joe@x>", 1, { "joe@x" } },
	{ "\"Doe, John\" <jd@x>, b@y", 2, { "jd@x", "b@y" } },
	{ "\"a \\\" b, <c>\" <q@x>", 1, { "q@x" } },
	{ "a@b.example <c@d>", 1, { "c@d" } },
	{ "< u@x >", 1, { "u@x" } },
	{ "<(c) u@x (d)>", 1, { "u@x" } },
	{ "<u@x> (c)", 1, { "u@x" } },
	{ "<u@[IPv6:::1]>", 1, { "u@[IPv6:::1]" } },
	{ "<\"a:b\"@x>", 1, { "\"a:b\"@x" } },
	{ "<\"a,b\"@x>, c@y", 2, { "\"a,b\"@x", "c@y" } },

	/* Comments around, inside display names, with specials, nested. */
	{ "(comment) user@x (other)", 1, { "user@x" } },
	{ "user@x (Joe)", 1, { "user@x" } },
	{ "u@x(c)", 1, { "u@x" } },
	{ "(c)u@x", 1, { "u@x" } },
	{ "Joe (the man) Bloggs <joe@x>", 1, { "joe@x" } },
	{ "(a, b <c> \"d) e@f", 1, { "e@f" } },
	{ "(a; b: c) e@f", 1, { "e@f" } },
	{ "(>) a@x", 1, { "a@x" } },
	{ "(outer (inner) still) u@x", 1, { "u@x" } },
	{ "((a)(b(c))) u@x, (d) v@y", 2, { "u@x", "v@y" } },
	{ "(x \\) y) u@x", 1, { "u@x" } },
	{ "(x \\( y) u@x", 1, { "u@x" } },
	{ "Joe (c, d) <joe@x>, (e) f@y", 2, { "joe@x", "f@y" } },

	/* Quoted local parts. */
	{ "\"a,b\"@x", 1, { "\"a,b\"@x" } },
	{ "\"a,b\"@x, c@y", 2, { "\"a,b\"@x", "c@y" } },
	{ "\"a\\\"b\"@x", 1, { "\"a\\\"b\"@x" } },
	{ "\"a\\\\\"@x", 1, { "\"a\\\\\"@x" } },
	{ "\"a b\"@example.com", 1, { "\"a b\"@example.com" } },
	{ "\"<>\"@x", 1, { "\"<>\"@x" } },
	{ "\"(a)\"@x", 1, { "\"(a)\"@x" } },
	{ "\"\"@x", 1, { "\"\"@x" } },
	{ "\"a\" \"b\"@x", 0, { NULL } },

	/* obs-route: the span is the addr-spec after it. */
	{ "<@a,@b:u@x>", 1, { "u@x" } },
	{ "Joe <@a.example,@b.example:joe@x>", 1, { "joe@x" } },
	{ "< @a , @b : u@x >", 1, { "u@x" } },
	{ "<,@a:u@x>", 1, { "u@x" } },
	{ "<@[1:2]:u@x>", 1, { "u@x" } },
	{ "<@a>", 0, { NULL } },
	{ "<@a:b:c@x>", 0, { NULL } },

	/* <>: no span. */
	{ "<>", 0, { NULL } },
	{ "< >", 0, { NULL } },
	{ "<(c)>", 0, { NULL } },
	{ "<>, a@x", 1, { "a@x" } },

	/* Groups. */
	{ "team: a@x, b@y;", 2, { "a@x", "b@y" } },
	{ "team: a@x, Bob <b@y>;, c@z", 3, { "a@x", "b@y", "c@z" } },
	{ "\"The Team\" (list): a@x (A);", 1, { "a@x" } },
	{ "team:a@x;", 1, { "a@x" } },
	{ "team: a@x; (c), c@y", 2, { "a@x", "c@y" } },
	{ "team: ,, a@x,;", 1, { "a@x" } },
	{ "undisclosed-recipients:;", 0, { NULL } },
	{ "undisclosed-recipients: ;", 0, { NULL } },
	{ "g:;, a@x", 1, { "a@x" } },
	{ "a@x, g: b@y;", 2, { "a@x", "b@y" } },
	/* Not closed, junk after ';', nested: the group is left alone. */
	{ "team: a@x, b@y", 0, { NULL } },
	{ "team: a@x; junk, c@y", 1, { "c@y" } },
	{ "team: a@x; <b@y>, c@y", 1, { "c@y" } },
	{ "a: b: c@x;;", 0, { NULL } },
	{ "a: b: c@x;, d@y;", 0, { NULL } },
	/* ';' and ':' where no group can be. */
	{ "a@x; b@y", 0, { NULL } },
	{ "a@x, b@y; c@z", 1, { "a@x" } },
	{ "<a@x>: b@y;", 0, { NULL } },

	/* Folded values. */
	{ "a@x,\r\n\tb@y", 2, { "a@x", "b@y" } },
	{ "a@x,\r\n b@y,\r\n c@z", 3, { "a@x", "b@y", "c@z" } },
	{ "Joe\r\n <joe@x>", 1, { "joe@x" } },
	{ "<a@x\r\n >", 1, { "a@x" } },
	{ "(c\r\n d) u@x", 1, { "u@x" } },
	{ "\"Doe,\r\n John\" <jd@x>", 1, { "jd@x" } },
	{ "\"a\r\n b\"@x", 0, { NULL } },
	{ "<\"a\r\n b\"@x>", 0, { NULL } },
	{ "u\r\n @x", 0, { NULL } },

	/* Bare words and phrases. */
	{ "root", 1, { "root" } },
	{ "root, admin (the boss)", 2, { "root", "admin" } },
	{ "\"John Doe\"", 1, { "\"John Doe\"" } },
	{ "John Doe", 0, { NULL } },
	{ "John Doe, jd@x", 1, { "jd@x" } },
	{ "u @x", 0, { NULL } },
	{ "u@ x", 0, { NULL } },
	{ "u(c)@x", 0, { NULL } },
	{ "<u @x>", 0, { NULL } },
	{ "<u(c)@x>", 0, { NULL } },

	/* UTF-8 (and other bytes >= 0x80). */
	{ "\xc3\xbc@b\xc3\xbc" "cher.example", 1,
	    { "\xc3\xbc@b\xc3\xbc" "cher.example" } },
	{ "J\xc3\xb6rg <j\xc3\xb6rg@x>", 1, { "j\xc3\xb6rg@x" } },
	{ "\"J\xc3\xb6rg, M.\" <jm@x>", 1, { "jm@x" } },
	{ "\xff\xfe@x", 1, { "\xff\xfe@x" } },

	/* Empty elements. */
	{ "", 0, { NULL } },
	{ "   ", 0, { NULL } },
	{ ",,a@x,", 1, { "a@x" } },
	{ " , , ", 0, { NULL } },
	{ "(only a comment)", 0, { NULL } },

	/* No span: other malformed elements, the rest is still scanned. */
	{ "a@x )", 0, { NULL } },
	{ "a@x ), b@y", 1, { "b@y" } },
	{ "<a@x> junk", 0, { NULL } },
	{ "<a@x> <b@y>", 0, { NULL } },
	{ "<a@x> <b@y>, c@z", 1, { "c@z" } },
	{ "<a,b@x>", 0, { NULL } },
	{ "<a:b@x>", 0, { NULL } },
	{ "<a;b@x>", 0, { NULL } },
	{ "<a<b@x>", 0, { NULL } },
	{ "<a)b@x>", 0, { NULL } },
	{ "a\x01" "b@x", 0, { NULL } },
	{ "a@x\v", 0, { NULL } },
	{ "\"a\x7f\"@x", 0, { NULL } },
	{ "<a\x1b@x>, b@y", 1, { "b@y" } },

	/* Refused. */
	{ "\"abc", REFUSED, { NULL } },
	{ "\"a\\\"@x", REFUSED, { NULL } },
	{ "\"a\\", REFUSED, { NULL } },
	{ "(abc", REFUSED, { NULL } },
	{ "((a) b", REFUSED, { NULL } },
	{ "(a\\)", REFUSED, { NULL } },
	{ "<a@x", REFUSED, { NULL } },
	{ "Joe <a@x, b@y", REFUSED, { NULL } },
	{ "team: <a@x;", REFUSED, { NULL } },
	{ "a@x>", REFUSED, { NULL } },
	{ ">", REFUSED, { NULL } },
	{ "<a@x>>", REFUSED, { NULL } },
	{ "Joe > <a@x>", REFUSED, { NULL } },
	{ "a\rb@x", REFUSED, { NULL } },
	{ "a@x\r", REFUSED, { NULL } },
	{ "a@x\r\n", REFUSED, { NULL } },
	{ "a@x\r\nb@y", REFUSED, { NULL } },
	{ "a@x,\r\n\r\n b@y", REFUSED, { NULL } },
	{ "a@x\r\r\n b@y", REFUSED, { NULL } },
	{ "a\nb@x", REFUSED, { NULL } },
	{ "a@x,\n b@y", REFUSED, { NULL } },
	{ "(a\nb) c@x", REFUSED, { NULL } },
	{ "\"a\rb\"@x", REFUSED, { NULL } },
	{ "\"a\\\r\n b\"@x", 0, { NULL } },	/* fold, not an escaped CR */
};

/* assert_span_bytes - only bytes a span may hold (header_addr.h). */
static void
assert_span_bytes(const char *p, size_t len)
{
	bool quote = false, escape = false;

	assert_true(len > 0);
	assert_true(len <= HEADER_ADDR_MAX_BYTES);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		assert_true(c != '\r' && c != '\n' && c != '\0');
		if (quote) {
			if (escape)
				escape = false;
			else if (c == '\\')
				escape = true;
			else if (c == '"')
				quote = false;
			continue;
		}
		assert_null(strchr(" \t<>,;()", c));
		if (c == '"')
			quote = true;
	}
}

/* assert_spans_sane - n spans of a len-byte value: in order, not
 * overlapping, inside the value, not empty, only allowed bytes. */
static void
assert_spans_sane(const char *value, size_t len,
    const struct header_addr_span *spans, int n, size_t max)
{
	size_t pos = 0;

	assert_true(n >= -1);
	assert_true(n == -1 || (size_t)n <= max);
	for (int i = 0; i < n; i++) {
		assert_true(spans[i].start >= pos);
		assert_true(spans[i].start <= len);
		assert_true(spans[i].len <= len - spans[i].start);
		assert_span_bytes(value + spans[i].start, spans[i].len);
		pos = spans[i].start + spans[i].len;
	}
}

/* scan_copy - scan a heap copy of exactly len bytes (ASan sees any
 * read past the end). */
static int
scan_copy(const char *value, size_t len, struct header_addr_span *spans,
    size_t max)
{
	char *copy = xmalloc(len > 0 ? len : 1);
	int n;

	memcpy(copy, value, len);
	n = header_addr_scan(copy, len, spans, max);
	assert_spans_sane(copy, len, spans, n, max);
	free(copy);
	return n;
}

static void
test_scan_table(void **state)
{
	for (size_t i = 0; i < N_ELEMENTS(scan_cases); i++) {
		const struct scan_case *tc = &scan_cases[i];
		struct header_addr_span spans[SPANS_MAX];
		size_t len = strlen(tc->value);
		int n;

		memset(spans, 0xa5, sizeof(spans));
		n = scan_copy(tc->value, len, spans, SPANS_MAX);
		if (n != tc->n)
			print_error("case %zu \"%s\": %d spans, want %d\n", i,
			    tc->value, n, tc->n);
		assert_int_equal(n, tc->n);
		for (int j = 0; j < n; j++) {
			const char *w = tc->want[j];

			assert_non_null(w);
			if (spans[j].len != strlen(w) ||
			    memcmp(tc->value + spans[j].start, w,
			    spans[j].len) != 0)
				print_error("case %zu \"%s\": span %d is "
				    "\"%.*s\", want \"%s\"\n", i, tc->value, j,
				    (int)spans[j].len,
				    tc->value + spans[j].start, w);
			assert_int_equal(spans[j].len, strlen(w));
			assert_memory_equal(tc->value + spans[j].start, w,
			    spans[j].len);
		}
		if (n >= 0 && n < MAX_WANT)
			assert_null(tc->want[n]);
	}
}

/* The span is the addr-spec itself: its offset is checked, not only
 * its text (which could also occur elsewhere in the value). */
static void
test_scan_offsets(void **state)
{
	struct header_addr_span s[4];
	const char *v = "a@x <a@x>, (a@x) a@x, \"a@x\"";

	assert_int_equal(header_addr_scan(v, strlen(v), s, 4), 3);
	assert_int_equal(s[0].start, 5);
	assert_int_equal(s[0].len, 3);
	assert_int_equal(s[1].start, 17);
	assert_int_equal(s[1].len, 3);
	assert_int_equal(s[2].start, 22);
	assert_int_equal(s[2].len, 5);
}

static void
test_scan_nul(void **state)
{
	static const struct {
		const char *v;
		size_t len;
	} nul[] = {
		{ "a\0b@x", 5 },
		{ "a@x\0", 4 },
		{ "\0", 1 },
		{ "\"a\0\"@x", 6 },
		{ "(\0) a@x", 7 },
		{ "<a\0@x>", 6 },
	};
	struct header_addr_span s[4];

	for (size_t i = 0; i < N_ELEMENTS(nul); i++)
		assert_int_equal(scan_copy(nul[i].v, nul[i].len, s, 4),
		    REFUSED);
	/* Only the len bytes count: a NUL after them is not seen. */
	assert_int_equal(scan_copy("a@x\0junk", 3, s, 4), 1);
}

static void
test_scan_max(void **state)
{
	struct header_addr_span s[4];

	assert_int_equal(scan_copy("a, b, c", 7, s, 3), 3);
	assert_int_equal(scan_copy("a, b, c", 7, s, 2), REFUSED);
	assert_int_equal(scan_copy("a", 1, NULL, 0), REFUSED);
	assert_int_equal(scan_copy("John Doe, <>", 12, NULL, 0), 0);
	/* Dropped group members are not spans: they do not count. */
	assert_int_equal(scan_copy("a, g: b, c, d", 13, s, 1), 1);
	assert_int_equal(s[0].start, 0);
	assert_int_equal(scan_copy("g: b, c, d; junk, a", 19, s, 1), 1);
	assert_int_equal(s[0].start, 18);
	/* A closed group's members do. */
	assert_int_equal(scan_copy("g: b, c;", 8, s, 1), REFUSED);
}

static void
test_scan_long(void **state)
{
	struct header_addr_span s[4];
	struct buf b;
	char *v;
	size_t local = HEADER_ADDR_MAX_BYTES - strlen("@x");

	/* Exactly the maximum: a span; one more byte: none. */
	buf_init(&b, SIZE_MAX);
	for (size_t i = 0; i < local; i++)
		buf_append_c(&b, 'a');
	buf_append_str(&b, "@x");
	assert_int_equal(scan_copy(b.data, b.len, s, 4), 1);
	assert_int_equal(s[0].len, HEADER_ADDR_MAX_BYTES);
	buf_reset(&b);
	buf_append_str(&b, "Joe <");
	for (size_t i = 0; i < local + 1; i++)
		buf_append_c(&b, 'a');
	buf_append_str(&b, "@x>, b@y, ");
	for (size_t i = 0; i < local + 1; i++)
		buf_append_c(&b, 'a');
	buf_append_str(&b, "@x");
	assert_int_equal(scan_copy(b.data, b.len, s, 4), 1);
	assert_int_equal(s[0].len, 3);
	assert_memory_equal(b.data + s[0].start, "b@y", 3);

	/* Deep comments: a counter, not recursion. */
	buf_reset(&b);
	for (size_t i = 0; i < 200000; i++)
		buf_append_c(&b, '(');
	for (size_t i = 0; i < 200000; i++)
		buf_append_c(&b, ')');
	buf_append_str(&b, " u@x");
	assert_int_equal(scan_copy(b.data, b.len, s, 4), 1);
	assert_int_equal(s[0].start, 400001);
	/* One ')' short: refused. */
	v = xstrdup(b.data);
	memmove(v + 200000, v + 200001, strlen(v + 200001) + 1);
	assert_int_equal(scan_copy(v, strlen(v), s, 4), REFUSED);
	free(v);

	/* Many elements: linear, and refused past max. */
	buf_reset(&b);
	for (size_t i = 0; i < 20000; i++)
		buf_append_str(&b, "a@x, ");
	assert_int_equal(scan_copy(b.data, b.len, s, 4), REFUSED);
	buf_deinit(&b);
}

/*
 * Every prefix of a valid value (the value cut anywhere, as "fed byte
 * by byte" for a parser that is not streaming): never a crash, never a
 * read or a span past the prefix (each prefix is its own heap copy),
 * and every span obeys the header's rules; the whole value gives its
 * own count.
 */
static const char *const prefix_values[] = {
	"\"Doe, John\" (boss) <@a,@b:jd@x.example>, root,\r\n\t"
	    "team: a@x, \"b c\"@y (B);, <>",
	"(a (nested \\) comment) \"q\") u@[IPv6:2001:db8::1], J\xc3\xb6rg "
	    "<j\xc3\xb6rg@b\xc3\xbc" "cher.example>",
	"undisclosed-recipients:;, \"a\\\"b\"@x, Joe\r\n <joe@x> (c)",
	",,a@x, John Doe, <u@x> junk, g: <b@y>; ,",
};

static void
test_scan_prefixes(void **state)
{
	static const int full[] = { 4, 2, 2, 2 };

	for (size_t i = 0; i < N_ELEMENTS(prefix_values); i++) {
		const char *v = prefix_values[i];
		size_t len = strlen(v);
		struct header_addr_span s[SPANS_MAX];

		for (size_t k = 0; k <= len; k++) {
			int n = scan_copy(v, k, s, SPANS_MAX);

			for (int j = 0; j < n; j++)
				assert_true(s[j].start + s[j].len <= k);
		}
		assert_int_equal(scan_copy(v, len, s, SPANS_MAX), full[i]);
	}
}

static void
test_replace(void **state)
{
	const char *v = "Joe <joe>, root (admin), \"a b\"@x";
	const char *repl[] = { "joe@example.com", NULL, "\"a b\"@x" };
	const char *none[] = { NULL, NULL, NULL };
	const char *same[] = { "joe", "root", "\"a b\"@x" };
	const char *all[] = { "", "root@example.com", "c@d" };
	struct header_addr_span s[4];
	struct buf out;
	int n;

	n = header_addr_scan(v, strlen(v), s, 4);
	assert_int_equal(n, 3);
	buf_init(&out, 1024);

	assert_true(header_addr_replace(v, strlen(v), s, 3, repl, &out));
	assert_string_equal(buf_cstr(&out),
	    "Joe <joe@example.com>, root (admin), \"a b\"@x");
	assert_int_equal(out.len,
	    strlen("Joe <joe@example.com>, root (admin), \"a b\"@x"));

	buf_reset(&out);
	assert_true(header_addr_replace(v, strlen(v), s, 3, all, &out));
	assert_string_equal(buf_cstr(&out),
	    "Joe <>, root@example.com (admin), c@d");

	/* Nothing replaced: false, and the value appended as it was. */
	buf_reset(&out);
	assert_false(header_addr_replace(v, strlen(v), s, 3, none, &out));
	assert_string_equal(buf_cstr(&out), v);
	buf_reset(&out);
	assert_false(header_addr_replace(v, strlen(v), s, 3, same, &out));
	assert_string_equal(buf_cstr(&out), v);
	buf_reset(&out);
	assert_false(header_addr_replace(v, strlen(v), s, 0, NULL, &out));
	assert_string_equal(buf_cstr(&out), v);

	/* Appended after what out holds; only the first n spans. */
	buf_reset(&out);
	buf_append_str(&out, "To:");
	assert_true(header_addr_replace(v, strlen(v), s, 1, repl, &out));
	assert_string_equal(buf_cstr(&out),
	    "To:Joe <joe@example.com>, root (admin), \"a b\"@x");
	buf_deinit(&out);

	/* No room: nothing appended, false. */
	buf_init(&out, strlen(v) + 3);
	buf_append_str(&out, "To:");
	assert_false(header_addr_replace(v, strlen(v), s, 3, repl, &out));
	assert_int_equal(out.len, 3);
	/* The same value unchanged fits exactly. */
	assert_false(header_addr_replace(v, strlen(v), s, 3, none, &out));
	assert_int_equal(out.len, strlen(v) + 3);
	buf_deinit(&out);

	/* An empty value. */
	buf_init(&out, 16);
	assert_false(header_addr_replace("", 0, s, 0, NULL, &out));
	assert_int_equal(out.len, 0);
	buf_deinit(&out);
}

/* Replacing through the spans of a folded value with groups keeps
 * every other byte: the result is exactly the value with the spans'
 * texts changed. */
static void
test_replace_folded(void **state)
{
	const char *v = "team: a (A),\r\n\t\"B, b\" <@r:b>;,\r\n <>, c";
	const char *repl[] = { "a@d", "b@d", "c@d" };
	struct header_addr_span s[4];
	struct buf out;

	assert_int_equal(header_addr_scan(v, strlen(v), s, 4), 3);
	buf_init(&out, 1024);
	assert_true(header_addr_replace(v, strlen(v), s, 3, repl, &out));
	assert_string_equal(buf_cstr(&out),
	    "team: a@d (A),\r\n\t\"B, b\" <@r:b@d>;,\r\n <>, c@d");
	/* The result scans to the new addresses. */
	assert_int_equal(header_addr_scan(out.data, out.len, s, 4), 3);
	assert_memory_equal(out.data + s[1].start, "b@d", 3);
	buf_deinit(&out);
}

static void
test_class(void **state)
{
	static const char *const sender[] = {
		"From", "Sender", "Resent-From", "Resent-Sender",
		"Return-Path", "Errors-To", "Return-Receipt-To",
		"Disposition-Notification-To",
	};
	static const char *const recipient[] = {
		"To", "Cc", "Bcc", "Apparently-To", "Reply-To", "Resent-To",
		"Resent-Cc", "Resent-Bcc", "Resent-Reply-To",
	};
	static const char *const none[] = {
		"Delivered-To", "Received", "Subject", "From ", " From",
		"Fro", "Froms", "", "X-From", "Resent", "Resent-", "Message-ID",
		"Return-Receipt", "Content-Type", "T", "Tox", "Reply_To",
		"To:", "Fr\xc3\xb6m",
	};

	for (size_t i = 0; i < N_ELEMENTS(sender); i++) {
		char *lo = xstrdup(sender[i]), *up = xstrdup(sender[i]);

		for (char *p = lo; *p != '\0'; p++)
			*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
		for (char *p = up; *p != '\0'; p++)
			*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
		assert_int_equal(header_addr_class_of(sender[i],
		    strlen(sender[i])), HEADER_ADDR_SENDER);
		assert_int_equal(header_addr_class_of(lo, strlen(lo)),
		    HEADER_ADDR_SENDER);
		assert_int_equal(header_addr_class_of(up, strlen(up)),
		    HEADER_ADDR_SENDER);
		free(lo);
		free(up);
	}
	for (size_t i = 0; i < N_ELEMENTS(recipient); i++) {
		char *lo = xstrdup(recipient[i]), *up = xstrdup(recipient[i]);

		for (char *p = lo; *p != '\0'; p++)
			*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
		for (char *p = up; *p != '\0'; p++)
			*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
		assert_int_equal(header_addr_class_of(recipient[i],
		    strlen(recipient[i])), HEADER_ADDR_RECIPIENT);
		assert_int_equal(header_addr_class_of(lo, strlen(lo)),
		    HEADER_ADDR_RECIPIENT);
		assert_int_equal(header_addr_class_of(up, strlen(up)),
		    HEADER_ADDR_RECIPIENT);
		free(lo);
		free(up);
	}
	for (size_t i = 0; i < N_ELEMENTS(none); i++)
		assert_int_equal(header_addr_class_of(none[i],
		    strlen(none[i])), HEADER_ADDR_NONE);

	assert_int_equal(header_addr_class_of("rEtUrN-pAtH", 11),
	    HEADER_ADDR_SENDER);
	assert_int_equal(header_addr_class_of("bCC", 3),
	    HEADER_ADDR_RECIPIENT);
	/* Exactly len bytes, not NUL-terminated. */
	assert_int_equal(header_addr_class_of("Tox", 2),
	    HEADER_ADDR_RECIPIENT);
	assert_int_equal(header_addr_class_of("Fromage", 4),
	    HEADER_ADDR_SENDER);
	assert_int_equal(header_addr_class_of("To\0", 3), HEADER_ADDR_NONE);
	assert_int_equal(header_addr_class_of("From", 3), HEADER_ADDR_NONE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scan_table),
		cmocka_unit_test(test_scan_offsets),
		cmocka_unit_test(test_scan_nul),
		cmocka_unit_test(test_scan_max),
		cmocka_unit_test(test_scan_long),
		cmocka_unit_test(test_scan_prefixes),
		cmocka_unit_test(test_replace),
		cmocka_unit_test(test_replace_folded),
		cmocka_unit_test(test_class),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
