/* SPDX-License-Identifier: MIT */
/*
 * fuzz_header_addr - header_addr_scan() and header_addr_replace() on
 * arbitrary header values, header_addr_class_of() on arbitrary names.
 *
 * The first byte selects max (its low five bits: 0 .. 31 spans); the
 * rest is the value.  abort() when an invariant breaks:
 *  - the result is -1 or 0 .. max;
 *  - spans are in order, not overlapping, inside the value, not empty,
 *    at most HEADER_ADDR_MAX_BYTES, and hold no NUL, CR or LF, and no
 *    white space, '<', '>', ',', ';', '(' or ')' outside a quoted string;
 *  - with more room the result is the same (or, when refused for too
 *    many spans, a count above max), with the same leading spans;
 *  - replacing every span by its own text returns false and reproduces
 *    the value byte for byte; replacing each by a fixed text returns
 *    true unless every span already was that text, and gives a value
 *    of the expected length with as many spans;
 *  - the class of the value taken as a header name is one of the three.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "header_addr.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_SPANS_MAX 32
#define FUZZ_SPANS_BIG 4096
#define FUZZ_REPL "x@example.com"

/* span_ok - the bytes of one span are allowed (header_addr.h). */
static bool
span_ok(const char *p, size_t len)
{
	bool quote = false, escape = false;

	if (len == 0 || len > HEADER_ADDR_MAX_BYTES)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\0' || c == '\r' || c == '\n')
			return false;
		if (quote) {
			if (escape)
				escape = false;
			else if (c == '\\')
				escape = true;
			else if (c == '"')
				quote = false;
			continue;
		}
		if (c == ' ' || c == '\t' || c == '<' || c == '>' ||
		    c == ',' || c == ';' || c == '(' || c == ')')
			return false;
		if (c == '"')
			quote = true;
	}
	return true;
}

static void
check_spans(const char *v, size_t len, const struct header_addr_span *s,
    int n, size_t max)
{
	size_t pos = 0;

	if (n < -1 || (n >= 0 && (size_t)n > max))
		abort();
	for (int i = 0; i < n; i++) {
		if (s[i].start < pos || s[i].start > len ||
		    s[i].len > len - s[i].start ||
		    !span_ok(v + s[i].start, s[i].len))
			abort();
		pos = s[i].start + s[i].len;
	}
}

static void
check_replace(const char *v, size_t len, const struct header_addr_span *s,
    size_t n)
{
	static struct header_addr_span again[FUZZ_SPANS_BIG];
	const char **repl = xcalloc(n + 1, sizeof(*repl));
	char **own = xcalloc(n + 1, sizeof(*own));
	size_t kept = len;
	bool differs = false;
	struct buf out;

	buf_init(&out, SIZE_MAX);
	/* Every span by itself, as a separate string. */
	for (size_t i = 0; i < n; i++) {
		own[i] = xstrndup(v + s[i].start, s[i].len);
		repl[i] = own[i];
	}
	if (header_addr_replace(v, len, s, n, repl, &out) ||
	    out.len != len || (len > 0 && memcmp(out.data, v, len) != 0))
		abort();
	/* NULL entries and a NULL array: the same. */
	buf_reset(&out);
	if (header_addr_replace(v, len, s, n, NULL, &out) || out.len != len ||
	    (len > 0 && memcmp(out.data, v, len) != 0))
		abort();
	/* Every span by a fixed text: true when one of them differs. */
	for (size_t i = 0; i < n; i++) {
		repl[i] = FUZZ_REPL;
		kept -= s[i].len;
		if (s[i].len != strlen(FUZZ_REPL) ||
		    memcmp(v + s[i].start, FUZZ_REPL, s[i].len) != 0)
			differs = true;
	}
	buf_reset(&out);
	if (header_addr_replace(v, len, s, n, repl, &out) != differs ||
	    out.len != kept + n * strlen(FUZZ_REPL) ||
	    header_addr_scan(out.data, out.len, again, FUZZ_SPANS_BIG) !=
	    (int)n)
		abort();
	buf_deinit(&out);
	for (size_t i = 0; i < n; i++)
		free(own[i]);
	free(own);
	free(repl);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct header_addr_span spans[FUZZ_SPANS_MAX];
	static struct header_addr_span big[FUZZ_SPANS_BIG];
	const char *v;
	size_t len, max;
	int n, nb;
	enum header_addr_class cls;

	if (size == 0)
		return 0;
	max = data[0] & 0x1f;
	v = (const char *)data + 1;
	len = size - 1;

	n = header_addr_scan(v, len, spans, max);
	check_spans(v, len, spans, n, max);

	/* More room: the same spans, or more when max was too small. */
	nb = header_addr_scan(v, len, big, FUZZ_SPANS_BIG);
	check_spans(v, len, big, nb, FUZZ_SPANS_BIG);
	if (n >= 0 && nb != n)
		abort();
	if (n < 0 && nb >= 0 && (size_t)nb <= max)
		abort();
	for (int i = 0; i < n; i++)
		if (spans[i].start != big[i].start ||
		    spans[i].len != big[i].len)
			abort();
	if (nb >= 0)
		check_replace(v, len, big, (size_t)nb);

	cls = header_addr_class_of(v, len);
	if (cls != HEADER_ADDR_NONE && cls != HEADER_ADDR_SENDER &&
	    cls != HEADER_ADDR_RECIPIENT)
		abort();
	return 0;
}
