/* SPDX-License-Identifier: MIT */
/*
 * soft_bounce - 5xx made 4xx; see soft_bounce.h.
 */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "soft_bounce.h"

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* The line p[0..n) starts with a 5yz reply code: make it 4yz, and an
 * enhanced code 5.Y.Z after it 4.Y.Z. */
static bool
soften_line(char *p, size_t n)
{
	if (n < 3 || p[0] != '5' || !is_digit(p[1]) || !is_digit(p[2]))
		return false;
	if (n > 3 && p[3] != ' ' && p[3] != '-' && p[3] != '\r' &&
	    p[3] != '\n')
		return false;		/* "5000", not a reply code */
	p[0] = '4';
	if (n >= 7 && (p[3] == ' ' || p[3] == '-') && p[4] == '5' &&
	    p[5] == '.' && is_digit(p[6]))
		p[4] = '4';
	return true;
}

bool
soft_bounce_reply(char *text, size_t len)
{
	bool changed = false;
	size_t start = 0;

	while (start < len) {
		char *nl = memchr(text + start, '\n', len - start);
		size_t end = nl != NULL ? (size_t)(nl - text) + 1 : len;

		changed |= soften_line(text + start, end - start);
		start = end;
	}
	return changed;
}

void
soft_bounce_dsn(char *dsn)
{
	if (dsn != NULL && dsn[0] == '5' && dsn[1] == '.' &&
	    is_digit(dsn[2]))
		dsn[0] = '4';
}
