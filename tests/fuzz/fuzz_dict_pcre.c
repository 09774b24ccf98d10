/* SPDX-License-Identifier: MIT */
/*
 * fuzz_dict_pcre - arbitrary bytes as a pcre: table (dict_pcre.h, and
 * with it the shared pattern-table layer dict_pattern.h), opened from
 * memory with dict_pattern_open_text(), then a few lookups.
 *
 * Invariants: the table opens, or the error is non-empty and names the
 * file and a line ("fuzz, line N: ...").  Each lookup gives one of the
 * three outcomes: FOUND with a non-empty value of valid UTF-8 within
 * DICT_VALUE_MAX_BYTES, NOTFOUND with an empty value, TEMPFAIL with an
 * error that names the table ("pcre:fuzz, line N: ..."); looking the
 * same key up again gives the same answer.  Keys: fixed probes
 * (including invalid UTF-8 and a backtracking bait) and the input's last
 * line, without a leading '#' (so a seed can end in a comment "#key").
 * Matching is bounded by the PCRE2 limits, so no input may hang.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "compat.h"
#include "dict.h"
#include "dict_pattern.h"
#include "dict_pcre.h"
#include "log.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FILE_NAME "fuzz"

static const char *const probes[] = {
	"",
	"a",
	"ab",
	"User@Example.COM",
	"postmaster@example.com",
	"Subject: make money fast",
	"\xc3\xa9",
	"a\xff",
	"\xed\xa0\x80",
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab",
};

/* Log lines (invalid UTF-8 keys) go nowhere. */
static void
quiet(void)
{
	static bool done;
	int fd;

	if (done)
		return;
	done = true;
	fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (fd >= 0)
		log_use_fd(fd);
}

/* outcome - one lookup as a string (caller frees), checking it. */
static char *
outcome(struct dict *d, const char *key)
{
	char err[DICT_ERR_MAX_BYTES];
	enum dict_status st;
	struct buf v;
	char *s = NULL;

	buf_init(&v, DICT_VALUE_MAX_BYTES);
	err[0] = '\0';
	st = dict_get(d, key, &v, err, sizeof(err));
	switch (st) {
	case DICT_FOUND:
		if (v.len == 0 || v.len > DICT_VALUE_MAX_BYTES ||
		    !dict_pattern_utf8_valid(v.data, v.len) ||
		    strlen(v.data) != v.len)
			abort();
		s = xasprintf("F%s", v.data);
		break;
	case DICT_NOTFOUND:
		if (v.len != 0)
			abort();
		s = xstrdup("N");
		break;
	case DICT_TEMPFAIL:
		if (v.len != 0 || strncmp(err, "pcre:" FILE_NAME ", line ",
		    strlen("pcre:" FILE_NAME ", line ")) != 0)
			abort();
		s = xasprintf("T%s", err);
		break;
	default:
		abort();
	}
	buf_deinit(&v);
	return s;
}

static void
probe(struct dict *d, const char *key)
{
	char *a = outcome(d, key), *b = outcome(d, key);

	if (strcmp(a, b) != 0)
		abort();
	free(a);
	free(b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	char err[DICT_ERR_MAX_BYTES];
	const char *last;
	struct dict *d;
	char *key;

	quiet();
	err[0] = '\0';
	d = dict_pattern_open_text(&dict_type_pcre, FILE_NAME, text, size,
	    err, sizeof(err));
	if (d == NULL) {
		if (strncmp(err, FILE_NAME ", line ",
		    strlen(FILE_NAME ", line ")) != 0)
			abort();
		return 0;
	}
	for (size_t i = 0; i < N_ELEMENTS(probes); i++)
		probe(d, probes[i]);
	/* The last line of the input (NUL-free: the table opened). */
	last = size > 0 ? memrchr(text, '\n', size - 1) : NULL;
	last = last != NULL ? last + 1 : text;
	if (*last == '#')
		last++;
	key = xstrndup(last, size - (size_t)(last - text));
	if (strlen(key) > 0 && key[strlen(key) - 1] == '\n')
		key[strlen(key) - 1] = '\0';
	probe(d, key);
	free(key);
	dict_close(d);
	return 0;
}
