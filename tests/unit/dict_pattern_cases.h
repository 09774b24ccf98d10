/* SPDX-License-Identifier: MIT */
/*
 * dict_pattern_cases - table-driven helpers shared by test_dict_pcre,
 * test_dict_regexp and test_dict_cidr (header only: not a test itself,
 * the tests glob is test_*.c).  Include after <cmocka.h>.
 *
 * Tables are opened from memory with dict_pattern_open_text() under the
 * file name CASE_FILE, so error messages are exact and predictable.
 */
#ifndef OSTIA_TEST_DICT_PATTERN_CASES_H
#define OSTIA_TEST_DICT_PATTERN_CASES_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dict.h"
#include "dict_pattern.h"
#include "xalloc.h"

#define CASE_FILE "t"

/*
 * One lookup: table text (NULL: the previous row's table), key and the
 * outcome: "FOUND:value", "NOTFOUND", or "TEMPFAIL:" followed by a part
 * of the error text.
 */
struct lookup_case {
	const char *table;
	const char *key;
	const char *want;
};

/* A table that must not open, and its exact error. */
struct error_case {
	const char *table;
	const char *err;
};

static inline struct dict *
case_open(const struct dict_type *type, const char *text, size_t len)
{
	char err[DICT_ERR_MAX_BYTES];
	struct dict *d;

	d = dict_pattern_open_text(type, CASE_FILE, text, len, err,
	    sizeof(err));
	if (d == NULL)
		print_message("table:\n%s\nerror: %s\n", text, err);
	assert_non_null(d);
	return d;
}

/* case_get - "FOUND:value", "NOTFOUND" or "TEMPFAIL:err" (caller frees). */
static inline char *
case_get(struct dict *d, const char *key, size_t value_max)
{
	char err[DICT_ERR_MAX_BYTES];
	enum dict_status st;
	struct buf v;
	char *s;

	buf_init(&v, value_max);
	st = dict_get(d, key, &v, err, sizeof(err));
	if (st == DICT_FOUND)
		s = xasprintf("FOUND:%s", buf_cstr(&v));
	else if (st == DICT_NOTFOUND)
		s = xstrdup("NOTFOUND");
	else
		s = xasprintf("TEMPFAIL:%s", err);
	/* Nothing is left in the value unless it was found. */
	if (st != DICT_FOUND)
		assert_int_equal(v.len, 0);
	buf_deinit(&v);
	return s;
}

/* case_match - got is what want describes (see struct lookup_case). */
static inline int
case_match(const char *got, const char *want)
{
	if (strncmp(want, "TEMPFAIL:", 9) == 0)
		return strncmp(got, "TEMPFAIL:", 9) == 0 &&
		    strstr(got + 9, want + 9) != NULL;
	return strcmp(got, want) == 0;
}

static inline void
run_lookup_cases(const struct dict_type *type, const struct lookup_case *c,
    size_t n)
{
	struct dict *d = NULL;
	const char *table = NULL;
	int failed = 0;

	for (size_t i = 0; i < n; i++) {
		char *got;

		if (c[i].table != NULL || d == NULL) {
			dict_close(d);
			table = c[i].table;
			assert_non_null(table);
			d = case_open(type, table, strlen(table));
		}
		got = case_get(d, c[i].key, DICT_VALUE_MAX_BYTES);
		if (!case_match(got, c[i].want)) {
			print_message("row %zu: table:\n%skey \"%s\": got "
			    "\"%s\", want \"%s\"\n", i, table, c[i].key, got,
			    c[i].want);
			failed++;
		}
		free(got);
	}
	dict_close(d);
	assert_int_equal(failed, 0);
}

static inline void
run_error_cases(const struct dict_type *type, const struct error_case *c,
    size_t n)
{
	int failed = 0;

	for (size_t i = 0; i < n; i++) {
		char err[DICT_ERR_MAX_BYTES];
		struct dict *d;

		err[0] = '\0';
		d = dict_pattern_open_text(type, CASE_FILE, c[i].table,
		    strlen(c[i].table), err, sizeof(err));
		if (d != NULL || strcmp(err, c[i].err) != 0) {
			print_message("row %zu: table:\n%sgot %s\"%s\", want "
			    "\"%s\"\n", i, c[i].table, d != NULL ? "a table " :
			    "", err, c[i].err);
			failed++;
		}
		dict_close(d);
	}
	assert_int_equal(failed, 0);
}

/*
 * run_truncations - every prefix of text either opens (then each key is
 * looked up, and any outcome but a crash is fine) or fails with an error
 * that names CASE_FILE and a line.
 */
static inline void
run_truncations(const struct dict_type *type, const char *text,
    const char *const *keys, size_t nkeys)
{
	size_t len = strlen(text);

	for (size_t cut = 0; cut <= len; cut++) {
		/* Exactly cut bytes on the heap, so ASan sees overreads. */
		char *part = xmalloc(cut > 0 ? cut : 1);
		char err[DICT_ERR_MAX_BYTES];
		struct dict *d;

		memcpy(part, text, cut);
		err[0] = '\0';
		d = dict_pattern_open_text(type, CASE_FILE, part, cut, err,
		    sizeof(err));
		if (d == NULL) {
			if (strncmp(err, CASE_FILE ", line ",
			    strlen(CASE_FILE ", line ")) != 0)
				print_message("cut %zu: \"%s\"\n", cut, err);
			assert_int_equal(strncmp(err, CASE_FILE ", line ",
			    strlen(CASE_FILE ", line ")),
			    0);
		} else {
			for (size_t k = 0; k < nkeys; k++)
				free(case_get(d, keys[k], DICT_VALUE_MAX_BYTES));
			dict_close(d);
		}
		free(part);
	}
}

/* repeat - n copies of s (caller frees). */
static inline char *
repeat(const char *s, size_t n)
{
	size_t len = strlen(s);
	char *r = xmalloc(len * n + 1);

	for (size_t i = 0; i < n; i++)
		memcpy(r + i * len, s, len);
	r[len * n] = '\0';
	return r;
}

#endif
