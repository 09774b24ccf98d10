/* SPDX-License-Identifier: MIT */
/*
 * test_maps - lists of tables and the Postfix lookup orders.
 *
 * Fake table types record every key they are asked, so each case states
 * the exact sequence of (table, key) lookups and the answer: addresses
 * (extensions, several delimiters, owner-/-request, user forms, the
 * access(5) order with both parent-domain styles), host names with
 * parents, client IPv4/IPv6 addresses, pattern and cidr tables getting
 * the full key only, the first table winning, and a temporary failure
 * stopping the search (never skipped past).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "dict.h"
#include "maps.h"
#include "xalloc.h"

/* ------------------------------------------------------------ fakes */

/*
 * A fake table's name is "TAG:key=value,key=value,...".  A value "!"
 * makes that key fail (DICT_TEMPFAIL).  Every lookup is logged as
 * "TAG:key|" in lookup_log.
 */
static struct buf lookup_log;
static bool fake_changed_flag;

struct fake {
	char *tag;
	char **keys;
	char **values;
	size_t n;
};

static int
fake_open(struct dict *d, const char *name,
    const struct dict_open_opts *opts, char *err, size_t errsz)
{
	struct fake *f = xcalloc(1, sizeof(*f));
	const char *colon = strchr(name, ':');
	char *rest, *save = NULL, *tok;

	(void)opts;
	(void)err;
	(void)errsz;
	assert_non_null(colon);
	f->tag = xstrndup(name, (size_t)(colon - name));
	rest = xstrdup(colon + 1);
	for (tok = strtok_r(rest, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');

		assert_non_null(eq);
		f->keys = xreallocarray(f->keys, f->n + 1, sizeof(char *));
		f->values = xreallocarray(f->values, f->n + 1, sizeof(char *));
		f->keys[f->n] = xstrndup(tok, (size_t)(eq - tok));
		f->values[f->n] = xstrdup(eq + 1);
		f->n++;
	}
	free(rest);
	d->priv = f;
	return 0;
}

static enum dict_status
fake_lookup(struct dict *d, const char *key, size_t keylen,
    struct buf *value, char *err, size_t errsz)
{
	struct fake *f = d->priv;

	assert_int_equal(strlen(key), keylen);
	assert_int_equal(buf_appendf(&lookup_log, "%s:%s|", f->tag, key), 0);
	for (size_t i = 0; i < f->n; i++) {
		if (strcmp(f->keys[i], key) != 0)
			continue;
		if (strcmp(f->values[i], "!") == 0) {
			snprintf(err, errsz, "%s: database down", f->tag);
			return DICT_TEMPFAIL;
		}
		assert_int_equal(buf_append_str(value, f->values[i]), 0);
		return DICT_FOUND;
	}
	return DICT_NOTFOUND;
}

static bool
fake_changed(struct dict *d)
{
	(void)d;
	return fake_changed_flag;
}

static void
fake_close(struct dict *d)
{
	struct fake *f = d->priv;

	for (size_t i = 0; i < f->n; i++) {
		free(f->keys[i]);
		free(f->values[i]);
	}
	free(f->keys);
	free(f->values);
	free(f->tag);
	free(f);
}

static const struct dict_type fake_fixed = {
	.name = "fixed", .flags = DICT_TYPE_FILE, .open = fake_open,
	.lookup = fake_lookup, .changed = fake_changed, .close = fake_close,
};
static const struct dict_type fake_pattern = {
	.name = "pattern", .flags = DICT_TYPE_PATTERN | DICT_TYPE_KEEP_CASE,
	.open = fake_open, .lookup = fake_lookup, .close = fake_close,
};
static const struct dict_type fake_cidr = {
	.name = "cidr", .flags = DICT_TYPE_CIDR, .open = fake_open,
	.lookup = fake_lookup, .close = fake_close,
};

/*
 * make_maps - tables from "F:TAG:k=v,...;P:TAG:...;C:TAG:..." (F fixed,
 * P pattern, C cidr; ';' between tables).
 */
static struct maps *
make_maps(const char *spec)
{
	struct maps *m = maps_new("test_maps");
	char *copy = xstrdup(spec), *save = NULL, *tok;
	struct dict_open_opts opts;

	dict_open_opts_init(&opts);
	for (tok = strtok_r(copy, ";", &save); tok != NULL;
	    tok = strtok_r(NULL, ";", &save)) {
		const struct dict_type *type = tok[0] == 'P' ? &fake_pattern :
		    tok[0] == 'C' ? &fake_cidr : &fake_fixed;
		char err[DICT_ERR_MAX_BYTES];
		struct dict *d;

		assert_int_equal(tok[1], ':');
		d = dict_open_type(type, tok + 2, &opts, err, sizeof(err));
		assert_non_null(d);
		maps_add(m, d);
	}
	free(copy);
	return m;
}

/* ------------------------------------------------------------ cases */

enum how {
	ADDR,
	DOMAIN,
	DOMAIN_PARENT,
	CLIENT,
	ONE,
};

struct lookup_case {
	const char *name;
	const char *tables;
	enum how how;
	const char *input;
	const char *delims;	/* ADDR */
	unsigned flags;		/* ADDR */
	const char *want_log;
	const char *want;	/* "FOUND TAG key => value", "NOTFOUND",
				 * "TEMPFAIL TAG key: err" */
};

#define E "F:E:none=x"		/* a fixed table that has nothing */

static const struct lookup_case cases[] = {
	/* ---- addresses, default order */
	{ "plain address", E, ADDR, "User@Example.COM", "", 0,
	  "E:user@example.com|E:@example.com|", "NOTFOUND" },
	{ "extension without delimiter is just text", E, ADDR,
	  "user+ext@d.example", "", 0,
	  "E:user+ext@d.example|E:@d.example|", "NOTFOUND" },
	{ "extension", E, ADDR, "user+ext@d.example", "+", 0,
	  "E:user+ext@d.example|E:user@d.example|E:@d.example|", "NOTFOUND" },
	{ "user forms before @domain (virtual(5))", E, ADDR,
	  "user+ext@d.example", "+", MAPS_ADDR_USER,
	  "E:user+ext@d.example|E:user@d.example|E:user+ext|E:user|"
	  "E:@d.example|", "NOTFOUND" },
	{ "user forms without extension", E, ADDR, "user@d.example", "+",
	  MAPS_ADDR_USER, "E:user@d.example|E:user|E:@d.example|",
	  "NOTFOUND" },
	{ "several delimiters: the first one present", E, ADDR,
	  "a-b+c@d.example", "+-", 0,
	  "E:a-b+c@d.example|E:a@d.example|E:@d.example|", "NOTFOUND" },
	{ "several delimiters: the other one", E, ADDR, "a+b@d.example",
	  "-+", 0, "E:a+b@d.example|E:a@d.example|E:@d.example|",
	  "NOTFOUND" },
	{ "delimiter first: no split", E, ADDR, "+ext@d.example", "+", 0,
	  "E:+ext@d.example|E:@d.example|", "NOTFOUND" },
	{ "owner- not split with '-'", E, ADDR, "owner-list@d.example", "-",
	  0, "E:owner-list@d.example|E:@d.example|", "NOTFOUND" },
	{ "-request not split with '-'", E, ADDR, "list-request@d.example",
	  "-", 0, "E:list-request@d.example|E:@d.example|", "NOTFOUND" },
	{ "owner- split when owner_request_special = no", E, ADDR,
	  "owner-list@d.example", "-", MAPS_ADDR_NO_OWNER_REQUEST_SPECIAL,
	  "E:owner-list@d.example|E:owner@d.example|E:@d.example|",
	  "NOTFOUND" },
	{ "owner- is split by '+'", E, ADDR, "owner+x@d.example", "+", 0,
	  "E:owner+x@d.example|E:owner@d.example|E:@d.example|",
	  "NOTFOUND" },
	{ "reserved mailer-daemon not split", E, ADDR,
	  "MAILER-DAEMON@d.example", "-", MAPS_ADDR_NO_OWNER_REQUEST_SPECIAL,
	  "E:mailer-daemon@d.example|E:@d.example|", "NOTFOUND" },
	{ "reserved double-bounce not split", E, ADDR,
	  "double-bounce@d.example", "-", 0,
	  "E:double-bounce@d.example|E:@d.example|", "NOTFOUND" },
	{ "localpart only (aliases)", E, ADDR, "user+ext", "+",
	  MAPS_ADDR_USER, "E:user+ext|E:user|", "NOTFOUND" },
	{ "localpart only, no extension", E, ADDR, "user", "+", 0,
	  "E:user|", "NOTFOUND" },
	{ "at sign in a quoted localpart: split at the last", E, ADDR,
	  "\"a@b\"@d.example", "", 0,
	  "E:\"a@b\"@d.example|E:@d.example|", "NOTFOUND" },
	{ "@domain only: no second lookup", E, ADDR, "@d.example", "+", 0,
	  "E:@d.example|", "NOTFOUND" },
	{ "found at @domain", "F:A:@d.example=catchall", ADDR,
	  "user+ext@d.example", "+", 0,
	  "A:user+ext@d.example|A:user@d.example|A:@d.example|",
	  "FOUND A @d.example => catchall" },
	{ "found without extension", "F:A:user@d.example=u,@d.example=c",
	  ADDR, "user+ext@d.example", "+", 0,
	  "A:user+ext@d.example|A:user@d.example|",
	  "FOUND A user@d.example => u" },

	/* ---- access(5) order */
	{ "access order", E, ADDR, "user+ext@a.b.example", "+",
	  MAPS_ADDR_ACCESS,
	  "E:user+ext@a.b.example|E:user@a.b.example|E:a.b.example|"
	  "E:.b.example|E:.example|E:user+ext@|E:user@|", "NOTFOUND" },
	{ "access order, parent_domain_matches_subdomains", E, ADDR,
	  "user+ext@a.b.example", "+",
	  MAPS_ADDR_ACCESS | MAPS_ADDR_PARENT_MATCHES_SUBDOMAINS,
	  "E:user+ext@a.b.example|E:user@a.b.example|E:a.b.example|"
	  "E:b.example|E:example|E:user+ext@|E:user@|", "NOTFOUND" },
	{ "access order ignores MAPS_ADDR_USER", E, ADDR, "u@d.example", "",
	  MAPS_ADDR_ACCESS | MAPS_ADDR_USER,
	  "E:u@d.example|E:d.example|E:.example|E:u@|", "NOTFOUND" },
	{ "access: domain found", "F:A:.example=REJECT", ADDR,
	  "u@d.example", "", MAPS_ADDR_ACCESS,
	  "A:u@d.example|A:d.example|A:.example|",
	  "FOUND A .example => REJECT" },

	/* ---- pattern and cidr tables get the full key only */
	{ "pattern table: full address only", "P:P:none=x;" E, ADDR,
	  "User+Ext@D.example", "+", MAPS_ADDR_USER,
	  "P:User+Ext@D.example|E:user+ext@d.example|E:user@d.example|"
	  "E:user+ext|E:user|E:@d.example|", "NOTFOUND" },
	{ "cidr table: full address only", E ";C:C:none=x", ADDR,
	  "u+x@d.example", "+", MAPS_ADDR_ACCESS,
	  "E:u+x@d.example|C:u+x@d.example|E:u@d.example|E:d.example|"
	  "E:.example|E:u+x@|E:u@|", "NOTFOUND" },
	{ "pattern table found on the full key",
	  "P:P:u@d.example=pat;F:A:u@d.example=fixed", ADDR, "u@d.example",
	  "", 0, "P:u@d.example|", "FOUND P u@d.example => pat" },

	/* ---- several tables: key-major, first table wins */
	{ "more specific key beats earlier table",
	  "F:A:@d.example=a-catchall;F:B:user@d.example=b-user", ADDR,
	  "user+ext@d.example", "+", 0,
	  "A:user+ext@d.example|B:user+ext@d.example|A:user@d.example|"
	  "B:user@d.example|", "FOUND B user@d.example => b-user" },
	{ "same key: first table wins",
	  "F:A:k=first;F:B:k=second", ONE, "k", NULL, 0, "A:k|",
	  "FOUND A k => first" },
	{ "same key: second table when the first misses",
	  "F:A:x=1;F:B:k=second", ONE, "k", NULL, 0, "A:k|B:k|",
	  "FOUND B k => second" },

	/* ---- a temporary failure stops everything */
	{ "tempfail on a partial key stops the search",
	  "F:A:user@d.example=!;F:B:user@d.example=b,@d.example=c", ADDR,
	  "user+ext@d.example", "+", 0,
	  "A:user+ext@d.example|B:user+ext@d.example|A:user@d.example|",
	  "TEMPFAIL A user@d.example: A: database down" },
	{ "tempfail on the full key beats a later table's answer",
	  "F:A:k=!;F:B:k=found", ONE, "k", NULL, 0, "A:k|",
	  "TEMPFAIL A k: A: database down" },
	{ "tempfail in a parent domain",
	  "F:A:.example=!;F:B:.example=ok", DOMAIN, "a.example", NULL, 0,
	  "A:a.example|B:a.example|A:.example|",
	  "TEMPFAIL A .example: A: database down" },

	/* ---- host names */
	{ "domain with dotted parents", E, DOMAIN, "Mail.A.Example.COM",
	  NULL, 0, "E:mail.a.example.com|E:.a.example.com|E:.example.com|"
	  "E:.com|", "NOTFOUND" },
	{ "domain with plain parents", E, DOMAIN_PARENT, "mail.a.example",
	  NULL, 0, "E:mail.a.example|E:a.example|E:example|", "NOTFOUND" },
	{ "single label", E, DOMAIN, "localhost", NULL, 0, "E:localhost|",
	  "NOTFOUND" },
	{ "trailing dot", E, DOMAIN, "a.example.", NULL, 0,
	  "E:a.example.|E:.example.|", "NOTFOUND" },
	{ "address literal: whole only", E, DOMAIN, "[192.0.2.1]", NULL, 0,
	  "E:[192.0.2.1]|", "NOTFOUND" },
	{ "empty host: no lookup", E, DOMAIN, "", NULL, 0, "", "NOTFOUND" },
	{ "parent found", "F:A:.example=OK", DOMAIN, "a.b.example", NULL, 0,
	  "A:a.b.example|A:.b.example|A:.example|",
	  "FOUND A .example => OK" },
	{ "pattern table: full host only", "P:P:none=x;" E, DOMAIN,
	  "a.b.example", NULL, 0,
	  "P:a.b.example|E:a.b.example|E:.b.example|E:.example|",
	  "NOTFOUND" },

	/* ---- client addresses */
	{ "IPv4 networks", E, CLIENT, "192.0.2.10", NULL, 0,
	  "E:192.0.2.10|E:192.0.2|E:192.0|E:192|", "NOTFOUND" },
	{ "IPv4 network found", "F:A:192.0=REJECT", CLIENT, "192.0.2.10",
	  NULL, 0, "A:192.0.2.10|A:192.0.2|A:192.0|",
	  "FOUND A 192.0 => REJECT" },
	{ "IPv6 prefixes", E, CLIENT, "2001:db8:1::5", NULL, 0,
	  "E:2001:db8:1::5|E:2001:db8:1:|E:2001:db8:1|E:2001:db8|E:2001|",
	  "NOTFOUND" },
	{ "IPv6 loopback", E, CLIENT, "::1", NULL, 0, "E:::1|E::|",
	  "NOTFOUND" },
	{ "not an address: whole only", E, CLIENT, "unknown", NULL, 0,
	  "E:unknown|", "NOTFOUND" },
	{ "cidr and pattern tables: full address only",
	  "C:C:none=x;P:P:none=x;" E, CLIENT, "10.1.2.3", NULL, 0,
	  "C:10.1.2.3|P:10.1.2.3|E:10.1.2.3|E:10.1.2|E:10.1|E:10|",
	  "NOTFOUND" },
};

static char *
describe(enum dict_status st, const struct maps_result *r)
{
	const char *tag = r->table != NULL ?
	    ((const struct fake *)r->table->priv)->tag : "?";

	if (st != r->status)
		return xasprintf("status %d but result %d", st, r->status);
	if (st == DICT_FOUND)
		return xasprintf("FOUND %s %s => %s", tag, buf_cstr(&r->key),
		    buf_cstr(&r->value));
	if (st == DICT_TEMPFAIL)
		return xasprintf("TEMPFAIL %s %s: %s", tag, buf_cstr(&r->key),
		    r->err);
	if (r->table != NULL || r->key.len != 0 || r->value.len != 0)
		return xstrdup("NOTFOUND with leftovers");
	return xstrdup("NOTFOUND");
}

static void
test_lookup_orders(void **state)
{
	struct maps_result r;

	(void)state;
	maps_result_init(&r);
	buf_init(&lookup_log, 64 * 1024);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct lookup_case *c = &cases[i];
		struct maps *m = make_maps(c->tables);
		enum dict_status st = DICT_NOTFOUND;
		char *got;

		print_message("case: %s\n", c->name);
		buf_reset(&lookup_log);
		switch (c->how) {
		case ADDR:
			st = maps_find_address(m, c->input, c->delims,
			    c->flags, &r);
			break;
		case DOMAIN:
		case DOMAIN_PARENT:
			st = maps_find_domain(m, c->input,
			    c->how == DOMAIN_PARENT, &r);
			break;
		case CLIENT:
			st = maps_find_client_addr(m, c->input, &r);
			break;
		case ONE:
			st = maps_find_result(m, c->input, &r);
			break;
		}
		assert_string_equal(buf_cstr(&lookup_log), c->want_log);
		got = describe(st, &r);
		assert_string_equal(got, c->want);
		free(got);
		maps_free(&m);
		assert_null(m);
	}
	buf_deinit(&lookup_log);
	maps_result_deinit(&r);
}

/* The result structure is reused: a miss after a hit leaves no trace. */
static void
test_result_reuse(void **state)
{
	struct maps *m = make_maps("F:A:k=v");
	struct maps_result r;

	(void)state;
	buf_init(&lookup_log, 1024);
	maps_result_init(&r);
	assert_int_equal(maps_find_result(m, "k", &r), DICT_FOUND);
	assert_string_equal(buf_cstr(&r.value), "v");
	assert_int_equal(maps_find_result(m, "x", &r), DICT_NOTFOUND);
	assert_int_equal(r.value.len, 0);
	assert_int_equal(r.key.len, 0);
	assert_null(r.table);
	maps_result_deinit(&r);
	maps_free(&m);
	buf_deinit(&lookup_log);
}

/* maps_find: the simple form. */
static void
test_maps_find(void **state)
{
	struct maps *m = make_maps("F:A:a=1;F:B:b=2,c=!");
	char err[DICT_ERR_MAX_BYTES];
	struct buf v;

	(void)state;
	buf_init(&lookup_log, 1024);
	buf_init(&v, DICT_VALUE_MAX_BYTES);
	assert_int_equal(maps_find(m, "B", &v, err, sizeof(err)), DICT_FOUND);
	assert_string_equal(buf_cstr(&v), "2");
	assert_int_equal(maps_find(m, "z", &v, err, sizeof(err)),
	    DICT_NOTFOUND);
	assert_int_equal(v.len, 0);
	assert_int_equal(maps_find(m, "c", &v, err, sizeof(err)),
	    DICT_TEMPFAIL);
	assert_string_equal(err, "B: database down");
	/* A key longer than any table key is looked up nowhere. */
	{
		char *k = xmalloc(DICT_KEY_MAX_BYTES + 2);
		struct maps_result r;

		memset(k, 'a', DICT_KEY_MAX_BYTES + 1);
		k[DICT_KEY_MAX_BYTES + 1] = '\0';
		buf_reset(&lookup_log);
		maps_result_init(&r);
		assert_int_equal(maps_find_result(m, k, &r), DICT_NOTFOUND);
		assert_int_equal(lookup_log.len, 0);
		maps_result_deinit(&r);
		free(k);
	}
	/* changed: any table. */
	fake_changed_flag = false;
	assert_false(maps_changed(m));
	fake_changed_flag = true;
	assert_true(maps_changed(m));
	fake_changed_flag = false;
	buf_deinit(&v);
	buf_deinit(&lookup_log);
	maps_free(&m);
}

/* maps_open: list syntax, repeated tables, errors. */
static void
test_maps_open(void **state)
{
	struct dict_open_opts opts;
	char err[DICT_ERR_MAX_BYTES];
	struct maps *m;
	struct maps_result r;

	(void)state;
	dict_open_opts_init(&opts);
	m = maps_open("test_maps", "inline:{ a=1, { b = x, y } },"
	    "static:last\n  inline:{ a=2 } static:last", &opts, err,
	    sizeof(err));
	assert_non_null(m);
	assert_string_equal(maps_title(m), "test_maps");
	assert_int_equal(maps_count(m), 4);
	assert_string_equal(maps_table(m, 0)->spec,
	    "inline:{ a=1, { b = x, y } }");
	assert_string_equal(maps_table(m, 1)->spec, "static:last");
	assert_string_equal(maps_table(m, 3)->spec, "static:last");
	assert_null(maps_table(m, 4));
	maps_result_init(&r);
	assert_int_equal(maps_find_result(m, "A", &r), DICT_FOUND);
	assert_string_equal(buf_cstr(&r.value), "1");
	assert_string_equal(r.table->spec, "inline:{ a=1, { b = x, y } }");
	assert_int_equal(maps_find_result(m, "b", &r), DICT_FOUND);
	assert_string_equal(buf_cstr(&r.value), "x, y");
	assert_int_equal(maps_find_result(m, "zz", &r), DICT_FOUND);
	assert_string_equal(buf_cstr(&r.value), "last");
	assert_false(maps_changed(m));
	maps_result_deinit(&r);
	maps_free(&m);

	m = maps_open("empty_maps", " , ", &opts, err, sizeof(err));
	assert_non_null(m);
	assert_int_equal(maps_count(m), 0);
	maps_result_init(&r);
	assert_int_equal(maps_find_address(m, "u@d", "+", 0, &r),
	    DICT_NOTFOUND);
	maps_result_deinit(&r);
	maps_free(&m);

	m = maps_open("bad_maps", "static:x, inline:{ nope }", &opts, err,
	    sizeof(err));
	assert_null(m);
	assert_string_equal(err, "bad_maps: inline table, element 1: "
	    "\"nope\" is not key=value (write { key = text } when the text "
	    "has white space or commas)");
	m = maps_open("bad_maps", "static:x nosuchtype:y", &opts, err,
	    sizeof(err));
	assert_null(m);
	assert_non_null(strstr(err, "bad_maps: \"nosuchtype:y\": unknown "
	    "table type \"nosuchtype\""));
	maps_free(&m);
}

/* The extension split on its own. */
static void
test_split_extension(void **state)
{
	static const struct {
		const char *local;
		const char *delims;
		unsigned flags;
		size_t want;
	} t[] = {
		{ "user+ext", "+", 0, 4 },
		{ "user+a+b", "+", 0, 4 },
		{ "user", "+", 0, 4 },
		{ "user+ext", "", 0, 8 },
		{ "user+ext", NULL, 0, 8 },
		{ "+ext", "+", 0, 4 },
		{ "a-b+c", "+-", 0, 1 },
		{ "Owner-List", "-", 0, 10 },
		{ "owner-list", "-", MAPS_ADDR_NO_OWNER_REQUEST_SPECIAL, 5 },
		{ "list-Request", "-", 0, 12 },
		{ "owner-", "-", 0, 5 },
		{ "postmaster", "a", 0, 10 },
		{ "Mailer-Daemon", "-", MAPS_ADDR_NO_OWNER_REQUEST_SPECIAL, 13 },
		{ "", "+", 0, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t got = maps_split_extension(t[i].local,
		    strlen(t[i].local), t[i].delims, t[i].flags);

		if (got != t[i].want)
			print_message("\"%s\" with \"%s\": %zu, want %zu\n",
			    t[i].local, t[i].delims ? t[i].delims : "(null)",
			    got, t[i].want);
		assert_int_equal(got, t[i].want);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup_orders),
		cmocka_unit_test(test_result_reuse),
		cmocka_unit_test(test_maps_find),
		cmocka_unit_test(test_maps_open),
		cmocka_unit_test(test_split_extension),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
