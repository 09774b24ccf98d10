/* SPDX-License-Identifier: MIT */
/*
 * fuzz_sql_cf - the SQL table .cf parser (sql_cf_parse) for each type,
 * and on every file that parses: query expansion, result_format and the
 * host order.
 *
 * Input: the .cf text, optionally followed by a NUL byte and a key (the
 * key ends at the next NUL).  Without a key, a few fixed keys are used.
 *
 * Checks (abort on failure):
 *   - a failed parse has an error message naming the file;
 *   - the key is passed, never pasted: every parameter handed to the
 *     driver lies inside the key's bytes, and the query text around the
 *     parameters is the same for any two keys that both expand;
 *   - SQL_EXPAND_SKIP calls no callback;
 *   - sql_result_append never leaves a partial value, and counts right;
 *   - sql_hosts_order returns distinct, valid indexes.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "dict.h"
#include "sql_cf.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct render {
	struct buf lits;
	const char *key;
	size_t keylen;
	unsigned calls;
};

static void
on_lit(void *ctx, const char *s, size_t n)
{
	struct render *r = ctx;

	r->calls++;
	if (n == 0)
		abort();
	(void)buf_append(&r->lits, s, n);
}

static void
on_param(void *ctx, const char *s, size_t n)
{
	struct render *r = ctx;

	r->calls++;
	/* A parameter is a piece of the key itself. */
	if (s < r->key || s + n > r->key + r->keylen)
		abort();
	(void)buf_append_str(&r->lits, "\x01");
}

/* Expand for key; *lits_r gets the literal text (caller frees) on OK. */
static enum sql_expand
expand(const struct sql_cf *cf, const char *key, char **lits_r)
{
	struct render r;
	enum sql_expand e;

	memset(&r, 0, sizeof(r));
	buf_init(&r.lits, 1 << 22);
	r.key = key;
	r.keylen = strlen(key);
	e = sql_query_expand(cf, key, on_lit, on_param, &r);
	if (e == SQL_EXPAND_SKIP && r.calls != 0)
		abort();
	if (e == SQL_EXPAND_OK)
		*lits_r = buf_steal(&r.lits);
	buf_deinit(&r.lits);
	return e;
}

static void
check_results(const struct sql_cf *cf, const char *key)
{
	static const char *const vals[] = {
		"a", "user@example.com", "@x", "x@", "", "v,w",
	};
	char err[DICT_ERR_MAX_BYTES];
	struct buf out;
	size_t n = 0;

	buf_init(&out, 256);
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]) + 1; i++) {
		const char *v = i < sizeof(vals) / sizeof(vals[0]) ? vals[i] :
		    key;
		size_t before = out.len, nb = n;
		int r = sql_result_append(cf, key, v, &out, &n, err,
		    sizeof(err));

		if (r < 0) {
			if (out.len != before || n != nb || err[0] == '\0')
				abort();
		} else if (n == nb && out.len != before) {
			abort();	/* skipped, yet something appended */
		} else if (n != nb && n != nb + 1) {
			abort();
		}
	}
	if (cf->expansion_limit > 0 && n > (size_t)cf->expansion_limit)
		abort();
	buf_deinit(&out);
}

static void
check_hosts(struct sql_cf *cf)
{
	size_t order[SQL_CF_MAX_HOSTS], n;
	bool seen[SQL_CF_MAX_HOSTS];

	n = sql_hosts_order(cf, 1000, order, SQL_CF_MAX_HOSTS);
	if (n != cf->nhosts)
		abort();
	memset(seen, 0, sizeof(seen));
	for (size_t i = 0; i < n; i++) {
		if (order[i] >= cf->nhosts || seen[order[i]])
			abort();
		seen[order[i]] = true;
	}
	if (cf->nhosts > 0) {
		sql_host_failed(cf, 0, 1000);
		n = sql_hosts_order(cf, 1000, order, SQL_CF_MAX_HOSTS);
		if (cf->retry_interval > 0 && n != cf->nhosts - 1)
			abort();
		sql_host_ok(cf, 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const types[] = { "mysql", "pgsql", "sqlite" };
	static const char *const fixed_keys[] = {
		"user@mail.example.com", "x' OR '1'='1", "nodomain",
		"@example.com", "a@b@c.d.e.f.g.h.i.j.k", "",
	};
	const char *nul = memchr(data, '\0', size);
	size_t textlen = nul ? (size_t)(nul - (const char *)data) : size;
	char *text = xmalloc(size + 1), *key = NULL;
	char err[DICT_ERR_MAX_BYTES];

	memcpy(text, data, size);
	text[size] = '\0';
	if (nul != NULL)
		key = xstrdup(text + textlen + 1);

	for (size_t t = 0; t < 3; t++) {
		struct sql_cf cf;
		char *base = NULL;

		/* The whole input, NUL and key included, as the file: the
		 * parser must refuse or accept it without reading past. */
		if (sql_cf_parse("/f.cf", types[t], text, size, &cf, err,
		    sizeof(err)) == 0)
			sql_cf_free(&cf);
		else if (strstr(err, "/f.cf") == NULL)
			abort();

		if (sql_cf_parse("/f.cf", types[t], text, textlen, &cf, err,
		    sizeof(err)) < 0) {
			if (strstr(err, "/f.cf") == NULL)
				abort();
			continue;
		}
		if (cf.query == NULL || cf.result_format == NULL)
			abort();
		if (expand(&cf, "harmless@example.com", &base) !=
		    SQL_EXPAND_OK)
			base = NULL;
		for (size_t k = 0; k < sizeof(fixed_keys) /
		    sizeof(fixed_keys[0]) + 1; k++) {
			const char *kk = k < sizeof(fixed_keys) /
			    sizeof(fixed_keys[0]) ? fixed_keys[k] : key;
			char *lits = NULL;

			if (kk == NULL)
				continue;
			if (expand(&cf, kk, &lits) == SQL_EXPAND_OK) {
				/* Same SQL text around the parameters. */
				if (base != NULL && strcmp(lits, base) != 0)
					abort();
				free(lits);
			}
			check_results(&cf, kk);
		}
		check_hosts(&cf);
		free(base);
		sql_cf_free(&cf);
	}
	free(key);
	free(text);
	return 0;
}
