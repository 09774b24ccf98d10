/* SPDX-License-Identifier: MIT */
/*
 * fuzz_dict_text - the postmap text parser and the inline:{...} parser
 * (dict_text.h) on arbitrary bytes.
 *
 * Text: parsed whole and fed in two pieces split where the first byte
 * says; both must give the same entries, warnings and error.  On
 * success: entries strictly sorted (unique keys), within the limits,
 * keys folded, each found again by dict_text_find() with its value.
 * Inline: the input as a table name; the same invariants on success, a
 * non-empty error otherwise.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dict_text.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* check_table - the invariants of a parsed table. */
static void
check_table(const struct dict_text *t)
{
	for (size_t i = 0; i < t->n; i++) {
		const struct dict_text_entry *e = &t->entries[i];
		const char *k = dict_text_key(t, e);
		const struct dict_text_entry *f;

		if (e->key_len == 0 || e->key_len > DICT_KEY_MAX_BYTES ||
		    e->value_len == 0 || e->value_len > DICT_VALUE_MAX_BYTES ||
		    strlen(k) != e->key_len ||
		    strlen(dict_text_value(t, e)) != e->value_len)
			abort();
		for (size_t j = 0; j < e->key_len; j++)
			if (k[j] >= 'A' && k[j] <= 'Z')
				abort();
		if (i > 0) {
			const struct dict_text_entry *p = &t->entries[i - 1];
			size_t n = p->key_len < e->key_len ? p->key_len :
			    e->key_len;
			int c = memcmp(dict_text_key(t, p), k, n);

			if (c > 0 || (c == 0 && p->key_len >= e->key_len))
				abort();
		}
		f = dict_text_find(t, k, e->key_len);
		if (f != e)
			abort();
	}
	if (t->warnings.n > DICT_TEXT_MAX_WARNINGS + 1)
		abort();
}

/* result - entries, warnings and error as one string (caller frees). */
static char *
result(const struct dict_text *t, int ret, const char *err)
{
	struct buf b;

	buf_init(&b, (size_t)1 << 30);
	if (ret < 0) {
		if (err[0] == '\0' || buf_append_str(&b, err) < 0)
			abort();
		return buf_steal(&b);
	}
	check_table(t);
	for (size_t i = 0; i < t->n; i++)
		if (buf_appendf(&b, "%s\n%s\n%u\n", dict_text_key(t,
		    &t->entries[i]), dict_text_value(t, &t->entries[i]),
		    t->entries[i].line) < 0)
			abort();
	for (size_t i = 0; i < t->warnings.n; i++)
		if (buf_appendf(&b, "W %s\n", t->warnings.v[i]) < 0)
			abort();
	return buf_steal(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	char err[DICT_ERR_MAX_BYTES];
	struct dict_text t;
	size_t at = size > 0 ? data[0] % (size + 1) : 0;
	char *whole, *split, *s;
	int ret;

	/* Whole. */
	err[0] = '\0';
	ret = dict_text_parse(&t, "fuzz", DICT_TEXT_FOLD, text, size, err,
	    sizeof(err));
	whole = result(&t, ret, err);
	dict_text_deinit(&t);

	/* Two pieces. */
	err[0] = '\0';
	dict_text_init(&t, "fuzz", DICT_TEXT_FOLD);
	ret = dict_text_feed(&t, text, at, err, sizeof(err));
	if (ret == 0)
		ret = dict_text_feed(&t, text + at, size - at, err,
		    sizeof(err));
	if (ret == 0)
		ret = dict_text_finish(&t, err, sizeof(err));
	split = result(&t, ret, err);
	dict_text_deinit(&t);
	if (strcmp(whole, split) != 0)
		abort();
	free(whole);
	free(split);

	/* Inline. */
	s = xstrndup(text, size);
	err[0] = '\0';
	ret = dict_text_parse_inline(&t, s, DICT_TEXT_FOLD, err, sizeof(err));
	free(result(&t, ret, err));
	dict_text_deinit(&t);
	free(s);
	return 0;
}
