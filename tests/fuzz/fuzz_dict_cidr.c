/* SPDX-License-Identifier: MIT */
/*
 * fuzz_dict_cidr - arbitrary bytes as a cidr: table (dict_cidr.h),
 * opened from memory with dict_pattern_open_text(), then lookups.
 *
 * Invariants: the table opens, or the error is non-empty and names the
 * file and a line ("fuzz, line N: ...").  A lookup never fails (cidr
 * results are literal): FOUND with a non-empty value of valid UTF-8, or
 * NOTFOUND; keys that are not addresses are NOTFOUND; the answer for an
 * address does not depend on how it is written (2001:db8::1 and its
 * long form, upper case), and the same lookup twice gives the same
 * answer.  Keys: fixed probes around common networks and edges, and
 * the input's last line, without a leading '#' (so a seed can end in a
 * comment "#key").
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "compat.h"
#include "dict.h"
#include "dict_cidr.h"
#include "dict_pattern.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FILE_NAME "fuzz"

/* Pairs of spellings of the same address (or two non-addresses). */
static const char *const same[][2] = {
	{ "192.168.1.1", "192.168.1.1" },
	{ "10.1.2.3", "10.1.2.3" },
	{ "0.0.0.0", "0.0.0.0" },
	{ "255.255.255.255", "255.255.255.255" },
	{ "2001:db8::1", "2001:0DB8:0000:0000:0000:0000:0000:0001" },
	{ "::", "0:0:0:0:0:0:0:0" },
	{ "::1", "0::1" },
	{ "::ffff:10.0.0.1", "::ffff:a00:1" },
	{ "fe80::1", "FE80:0:0::1" },
	{ "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	    "FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF" },
	{ "[10.1.2.3]", "x" },
	{ "10.1.2.3/32", "" },
	{ "010.1.2.3", "fe80::1%eth0" },
};

/* outcome - one lookup as a string (caller frees), checking it. */
static char *
outcome(struct dict *d, const char *key)
{
	char err[DICT_ERR_MAX_BYTES];
	enum dict_status st;
	struct buf v;
	char *s = NULL;

	buf_init(&v, DICT_VALUE_MAX_BYTES);
	st = dict_get(d, key, &v, err, sizeof(err));
	if (st == DICT_FOUND) {
		if (v.len == 0 || v.len > DICT_VALUE_MAX_BYTES ||
		    !dict_pattern_utf8_valid(v.data, v.len) ||
		    strlen(v.data) != v.len)
			abort();
		s = xasprintf("F%s", v.data);
	} else if (st == DICT_NOTFOUND) {
		if (v.len != 0)
			abort();
		s = xstrdup("N");
	} else {
		abort();
	}
	buf_deinit(&v);
	return s;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	char err[DICT_ERR_MAX_BYTES];
	const char *last;
	struct dict *d;
	char *key, *a, *b;

	err[0] = '\0';
	d = dict_pattern_open_text(&dict_type_cidr, FILE_NAME, text, size,
	    err, sizeof(err));
	if (d == NULL) {
		if (strncmp(err, FILE_NAME ", line ",
		    strlen(FILE_NAME ", line ")) != 0)
			abort();
		return 0;
	}
	for (size_t i = 0; i < N_ELEMENTS(same); i++) {
		a = outcome(d, same[i][0]);
		b = outcome(d, same[i][1]);
		if (strcmp(a, b) != 0)
			abort();
		free(a);
		free(b);
	}
	last = size > 0 ? memrchr(text, '\n', size - 1) : NULL;
	last = last != NULL ? last + 1 : text;
	if (*last == '#')
		last++;
	key = xstrndup(last, size - (size_t)(last - text));
	if (strlen(key) > 0 && key[strlen(key) - 1] == '\n')
		key[strlen(key) - 1] = '\0';
	a = outcome(d, key);
	b = outcome(d, key);
	if (strcmp(a, b) != 0)
		abort();
	free(a);
	free(b);
	free(key);
	dict_close(d);
	return 0;
}
