/* SPDX-License-Identifier: MIT */
/*
 * test_peer_match - peer match lists (debug_peer_list, mynetworks).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "compat.h"
#include "dict.h"
#include "peer_match.h"
#include "peer_tables.h"
#include "xalloc.h"

struct match_case {
	const char *list;
	bool parent;		/* parent_domain_matches_subdomains */
	const char *host;
	const char *addr;
	int want;
};

static const struct match_case match_cases[] = {
	/* Empty lists match nothing. */
	{ "", true, "host.example.com", "192.0.2.1", 0 },
	{ ",", true, "host.example.com", "192.0.2.1", 0 },
	{ " ,\t,\n ", true, "localhost", "127.0.0.1", 0 },
	/* IPv4 addresses. */
	{ "127.0.0.1", true, "localhost", "127.0.0.1", 1 },
	{ "127.0.0.1", true, "localhost", "127.0.0.2", 0 },
	{ "[127.0.0.1]", true, "unknown", "127.0.0.1", 1 },
	{ "192.0.2.1, 192.0.2.7", true, NULL, "192.0.2.7", 1 },
	{ "192.0.2.1 192.0.2.7", true, NULL, "192.0.2.8", 0 },
	/* IPv4 networks. */
	{ "10.0.0.0/8", true, NULL, "10.255.1.2", 1 },
	{ "10.0.0.0/8", true, NULL, "11.0.0.0", 0 },
	{ "192.0.2.128/25", true, NULL, "192.0.2.128", 1 },
	{ "192.0.2.128/25", true, NULL, "192.0.2.255", 1 },
	{ "192.0.2.128/25", true, NULL, "192.0.2.127", 0 },
	{ "192.0.2.0/31", true, NULL, "192.0.2.1", 1 },
	{ "192.0.2.0/31", true, NULL, "192.0.2.2", 0 },
	{ "0.0.0.0/0", true, NULL, "203.0.113.9", 1 },
	{ "0.0.0.0/0", true, NULL, "2001:db8::1", 0 },
	{ "[10.0.0.0]/8", true, NULL, "10.1.1.1", 1 },
	/* IPv6 addresses and networks, bare and in brackets. */
	{ "::1", true, NULL, "::1", 1 },
	{ "[::1]", true, NULL, "0:0:0:0:0:0:0:1", 1 },
	{ "[::1]", true, NULL, "::2", 0 },
	{ "2001:db8::/32", true, NULL, "2001:db8:ffff::1", 1 },
	{ "2001:db8::/32", true, NULL, "2001:db9::1", 0 },
	{ "[2001:DB8::]/32", true, NULL, "2001:db8::42", 1 },
	{ "[fe80::]/10", true, NULL, "febf::1", 1 },
	{ "[fe80::]/10", true, NULL, "fec0::1", 0 },
	{ "fe80::/10", true, NULL, "fe80::1%eth0", 1 },
	{ "::/0", true, NULL, "2001:db8::1", 1 },
	{ "[2001:db8::1]", true, NULL, "192.0.2.1", 0 },
	/* IPv4-mapped client addresses match IPv4 patterns. */
	{ "192.0.2.0/24", true, NULL, "::ffff:192.0.2.9", 1 },
	{ "192.0.2.9", true, NULL, "::FFFF:192.0.2.9", 1 },
	{ "192.0.2.9", true, NULL, "::ffff:192.0.2.10", 0 },
	{ "[::ffff:192.0.2.0]/120", true, NULL, "192.0.2.77", 1 },
	{ "::ffff:192.0.2.9", true, NULL, "192.0.2.9", 1 },
	/* Unparsable or missing client addresses match no address. */
	{ "0.0.0.0/0", true, NULL, "not-an-address", 0 },
	{ "0.0.0.0/0", true, NULL, NULL, 0 },
	{ "0.0.0.0/0", true, NULL, "", 0 },
	/* Host names and domains. */
	{ "example.com", true, "example.com", "192.0.2.1", 1 },
	{ "example.com", true, "mx.example.com", "192.0.2.1", 1 },
	{ "example.com", true, "a.b.example.com", "192.0.2.1", 1 },
	{ "example.com", false, "example.com", "192.0.2.1", 1 },
	{ "example.com", false, "mx.example.com", "192.0.2.1", 0 },
	{ "example.com", true, "notexample.com", "192.0.2.1", 0 },
	{ "example.com", true, "example.com.evil", "192.0.2.1", 0 },
	{ "example.com", true, "com", "192.0.2.1", 0 },
	{ ".example.com", true, "example.com", "192.0.2.1", 0 },
	{ ".example.com", false, "example.com", "192.0.2.1", 0 },
	{ ".example.com", true, "mx.example.com", "192.0.2.1", 1 },
	{ ".example.com", false, "mx.example.com", "192.0.2.1", 1 },
	{ "EXAMPLE.Com", true, "Mx.ExAmple.COM", "192.0.2.1", 1 },
	{ "example.com", true, "mx.example.com.", "192.0.2.1", 1 },
	{ "example.com.", false, "example.com", "192.0.2.1", 1 },
	{ "localhost", true, "localhost", "127.0.0.1", 1 },
	{ "under_score.example", true, "under_score.example", NULL, 1 },
	/* "unknown" clients match by address only. */
	{ "unknown", true, "unknown", "192.0.2.1", 0 },
	{ "unknown, 192.0.2.1", true, "unknown", "192.0.2.1", 1 },
	{ "example.com", true, "unknown", "192.0.2.1", 0 },
	{ "example.com", true, NULL, "192.0.2.1", 0 },
	{ "example.com", true, "", "192.0.2.1", 0 },
	/* Negation: the first matching element decides. */
	{ "!192.0.2.1, 192.0.2.0/24", true, NULL, "192.0.2.1", 0 },
	{ "!192.0.2.1, 192.0.2.0/24", true, NULL, "192.0.2.2", 1 },
	{ "192.0.2.0/24, !192.0.2.1", true, NULL, "192.0.2.1", 1 },
	{ "!192.0.2.1", true, NULL, "192.0.2.1", 0 },
	{ "!192.0.2.1", true, NULL, "192.0.2.2", 0 },
	{ "!bad.example.com .example.com", true, "bad.example.com",
	    "192.0.2.1", 0 },
	{ "!bad.example.com .example.com", true, "ok.example.com",
	    "192.0.2.1", 1 },
	{ "!bad.example.com .example.com", true, "x.bad.example.com",
	    "192.0.2.1", 0 },
	{ "!.example.com example.com", true, "mx.example.com", NULL, 0 },
	{ "!.example.com example.com", true, "example.com", NULL, 1 },
	{ "![2001:db8::1] [2001:db8::]/64", true, NULL, "2001:db8::1", 0 },
	{ "![2001:db8::1] [2001:db8::]/64", true, NULL, "2001:db8::2", 1 },
	/* Name or address: either may match. */
	{ "example.com 192.0.2.0/24", true, "other.test", "192.0.2.5", 1 },
	{ "example.com 192.0.2.0/24", true, "mx.example.com", "198.51.100.1",
	    1 },
	{ "example.com 192.0.2.0/24", true, "other.test", "198.51.100.1", 0 },
};

static void
test_match_table(void **state)
{
	for (size_t i = 0; i < N_ELEMENTS(match_cases); i++) {
		const struct match_case *c = &match_cases[i];
		const char *error = NULL;
		struct peer_list *pl;
		int got;

		pl = peer_list_parse(c->list, c->parent, &error);
		if (pl == NULL)
			fail_msg("case %zu: \"%s\" did not parse: %s", i,
			    c->list, error);
		got = peer_list_match(pl, c->host, c->addr);
		if (got != c->want)
			fail_msg("case %zu: \"%s\" (parent=%d) host=%s "
			    "addr=%s: got %d, want %d", i, c->list, c->parent,
			    c->host != NULL ? c->host : "(null)",
			    c->addr != NULL ? c->addr : "(null)", got,
			    c->want);
		peer_list_free(&pl);
		assert_null(pl);
	}
}

/* Every separator spelling gives the same list. */
static void
test_separators(void **state)
{
	static const char *const spellings[] = {
		"192.0.2.1,example.com,!10.0.0.1,10.0.0.0/8",
		"192.0.2.1 example.com !10.0.0.1 10.0.0.0/8",
		" 192.0.2.1 ,\texample.com,,\n!10.0.0.1\r\n10.0.0.0/8, ",
	};
	static const struct {
		const char *host, *addr;
		int want;
	} probes[] = {
		{ NULL, "192.0.2.1", 1 }, { "mx.example.com", NULL, 1 },
		{ NULL, "10.0.0.1", 0 }, { NULL, "10.0.0.2", 1 },
		{ "example.org", "192.0.2.2", 0 },
	};

	for (size_t i = 0; i < N_ELEMENTS(spellings); i++) {
		const char *error = NULL;
		struct peer_list *pl = peer_list_parse(spellings[i], true,
		    &error);

		assert_non_null(pl);
		for (size_t j = 0; j < N_ELEMENTS(probes); j++)
			assert_int_equal(peer_list_match(pl, probes[j].host,
			    probes[j].addr), probes[j].want);
		peer_list_free(&pl);
	}
}

/* The seed configuration says "debug_peer_list =," */
static void
test_seed_comma(void **state)
{
	const char *error = "untouched";
	struct peer_list *pl = peer_list_parse(",", false, &error);

	assert_non_null(pl);
	assert_string_equal(error, "untouched");
	assert_int_equal(peer_list_match(pl, "localhost", "127.0.0.1"), 0);
	assert_int_equal(peer_list_match(pl, NULL, NULL), 0);
	peer_list_free(&pl);
	/* NULL list, NULL pointer: harmless. */
	assert_int_equal(peer_list_match(NULL, "localhost", "127.0.0.1"), 0);
	peer_list_free(&pl);
	peer_list_free(NULL);
}

struct error_case {
	const char *list;
	const char *want;	/* substring of the error text */
};

static const struct error_case error_cases[] = {
	{ "1.2.3.4/33", "\"1.2.3.4/33\": invalid prefix length (expected a "
	    "number from 0 to 32 after '/')" },
	{ "1.2.3.4/", "\"1.2.3.4/\": invalid prefix length" },
	{ "1.2.3.0/+8", "invalid prefix length" },
	{ "1.2.3.0/ 8", "\"1.2.3.0/\": invalid prefix length" },
	{ "example.com/24", "\"example.com/24\": invalid IPv4 address" },
	{ "1.2.3.0/-1", "invalid prefix length" },
	{ "1.2.3.0/024", "invalid prefix length" },
	{ "[::1]/129", "\"[::1]/129\": invalid prefix length (expected a "
	    "number from 0 to 128" },
	{ "2001:db8::/12x", "invalid prefix length" },
	{ "1.2.3.999", "\"1.2.3.999\": invalid IPv4 address" },
	{ "1.2.3", "\"1.2.3\": invalid IPv4 address" },
	{ "example.com, 300.1.1.1", "\"300.1.1.1\": invalid IPv4 address" },
	{ "1234", "invalid IPv4 address" },
	{ "1.2.3.4/24", "\"1.2.3.4/24\": the host part (the last 8 of 32 "
	    "bits) is not zero; the network is 1.2.3.0/24" },
	{ "10.1.0.0/8", "the network is 10.0.0.0/8" },
	{ "[2001:db8::1]/64", "the host part (the last 64 of 128 bits) is "
	    "not zero; the network is [2001:db8::]/64" },
	{ "[1.2.3.4", "\"[1.2.3.4\": missing ']'" },
	{ "[1.2.3.4]x", "unexpected text after ']'" },
	{ "[example.com]", "\"[example.com]\": invalid IP address" },
	{ "2001:db8::zz", "\"2001:db8::zz\": invalid IPv6 address" },
	{ "1:2:3:4:5:6:7:8:9", "invalid IPv6 address" },
	/* peer_list_parse has no opener: tables are refused. */
	{ "hash:/etc/postfix/peers", "\"hash:/etc/postfix/peers\": lookup "
	    "tables (type:table) cannot be used in this list" },
	{ "cidr:/etc/postfix/peers.cidr", "lookup tables (type:table) "
	    "cannot be used in this list" },
	{ "cdb:/etc/x", "cannot be used in this list" },
	{ "!static:all", "cannot be used in this list" },
	{ "!", "\"!\": '!' without a pattern" },
	{ "!!1.2.3.4", "double negation is not supported" },
	{ "!/etc/hosts", "a file cannot be negated" },
	{ "*.example.com", "wildcards are not supported" },
	{ "exa$mple.com", "invalid host or domain name (unexpected "
	    "character)" },
	{ "a..b", "\"a..b\": invalid host or domain name (empty label)" },
	{ "..", "invalid host or domain name" },
	{ ".", "invalid host or domain name" },
	{ "/nonexistent/ostia-peer-list", "\"/nonexistent/ostia-peer-list\":"
	    " cannot open the file: No such file or directory" },
	{ "/", "not a regular file" },
	/* Control characters are escaped in the message. */
	{ "bad\001name", "\"bad\\001name\": invalid host or domain name" },
};

static void
test_parse_errors(void **state)
{
	for (size_t i = 0; i < N_ELEMENTS(error_cases); i++) {
		const struct error_case *c = &error_cases[i];
		const char *error = NULL;
		struct peer_list *pl = peer_list_parse(c->list, true, &error);

		if (pl != NULL)
			fail_msg("case %zu: \"%s\" parsed, want error \"%s\"",
			    i, c->list, c->want);
		assert_non_null(error);
		if (strstr(error, c->want) == NULL)
			fail_msg("case %zu: error \"%s\" lacks \"%s\"", i,
			    error, c->want);
	}
}

/* Long labels, long names and long elements. */
static void
test_name_limits(void **state)
{
	char label63[64], label64[65], name[300], big[2000];
	const char *error = NULL;
	struct peer_list *pl;

	memset(label63, 'a', 63);
	label63[63] = '\0';
	memset(label64, 'a', 64);
	label64[64] = '\0';
	pl = peer_list_parse(label63, true, &error);
	assert_non_null(pl);
	peer_list_free(&pl);
	assert_null(peer_list_parse(label64, true, &error));
	assert_non_null(strstr(error, "longer than 63 characters"));

	/* 4 labels of 63 plus 3 dots = 255 > 253 */
	snprintf(name, sizeof(name), "%s.%s.%s.%s", label63, label63, label63,
	    label63);
	assert_null(peer_list_parse(name, true, &error));
	assert_non_null(strstr(error, "invalid host or domain name"));
	/* The quoted element is shortened. */
	assert_non_null(strstr(error, "...\""));

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_null(peer_list_parse(big, true, &error));
	assert_non_null(strstr(error, "element longer than 1024 bytes"));
}

static void
test_pattern_limit(void **state)
{
	struct buf b;
	const char *error = NULL;
	struct peer_list *pl;

	buf_init(&b, 1024 * 1024);
	for (int i = 0; i < PEER_LIST_MAX_PATTERNS; i++)
		assert_int_equal(buf_appendf(&b, "10.%d.%d.1 ", i / 256,
		    i % 256), 0);
	pl = peer_list_parse(buf_cstr(&b), true, &error);
	assert_non_null(pl);
	assert_int_equal(peer_list_match(pl, NULL, "10.39.15.1"), 1);
	assert_int_equal(peer_list_match(pl, NULL, "10.39.16.1"), 0);
	peer_list_free(&pl);

	assert_int_equal(buf_append_str(&b, "192.0.2.1"), 0);
	assert_null(peer_list_parse(buf_cstr(&b), true, &error));
	assert_non_null(strstr(error, "\"192.0.2.1\": too many patterns in "
	    "the list (at most 10000)"));
	buf_deinit(&b);
}

/* write_tmp - write len bytes to a new temporary file; caller unlinks. */
static char *
write_tmp(const void *data, size_t len)
{
	const char *dir = getenv("TMPDIR");
	char *path = xasprintf("%s/test_peer_match.XXXXXX",
	    dir != NULL && *dir != '\0' ? dir : "/tmp");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
	return path;
}

static void
test_file_element(void **state)
{
	static const char text[] =
	    "# trusted peers\n"
	    "   # indented comment\n"
	    "\n"
	    "!192.0.2.66, 192.0.2.0/24\n"
	    "  .example.com\t[2001:db8::]/32\n"
	    "mx.example.org";	/* no final newline */
	char *path = write_tmp(text, strlen(text));
	char *value = xasprintf("!198.51.100.1 %s 198.51.100.0/24", path);
	const char *error = NULL;
	struct peer_list *pl = peer_list_parse(value, false, &error);

	if (pl == NULL)
		fail_msg("%s", error);
	assert_int_equal(peer_list_match(pl, NULL, "192.0.2.1"), 1);
	assert_int_equal(peer_list_match(pl, NULL, "192.0.2.66"), 0);
	assert_int_equal(peer_list_match(pl, "a.example.com", NULL), 1);
	assert_int_equal(peer_list_match(pl, "example.com", NULL), 0);
	assert_int_equal(peer_list_match(pl, "mx.example.org", NULL), 1);
	assert_int_equal(peer_list_match(pl, "x.mx.example.org", NULL), 0);
	assert_int_equal(peer_list_match(pl, NULL, "2001:db8::25"), 1);
	assert_int_equal(peer_list_match(pl, NULL, "198.51.100.1"), 0);
	assert_int_equal(peer_list_match(pl, NULL, "198.51.100.2"), 1);
	assert_int_equal(peer_list_match(pl, NULL, "203.0.113.1"), 0);
	peer_list_free(&pl);
	unlink(path);
	free(value);
	free(path);
}

struct file_error_case {
	const char *text;
	size_t len;		/* 0: strlen(text) */
	const char *want;	/* after "path" (quoted path if '"') */
};

static void
test_file_errors(void **state)
{
	static const struct file_error_case cases[] = {
		{ "192.0.2.1\n# ok\n1.2.3.4/33\n", 0, ":3: \"1.2.3.4/33\": "
		    "invalid prefix length" },
		{ "example.com\n  hash:/etc/x\n", 0, ":2: \"hash:/etc/x\": "
		    "lookup tables (type:table) cannot be used in this list" },
		{ "/etc/hosts\n", 0, ":1: \"/etc/hosts\": a file cannot name "
		    "another file" },
		{ "192.0.2.1\nab\0cd\n", 15, "\": the file contains a NUL "
		    "byte" },
	};

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		const struct file_error_case *c = &cases[i];
		char *path = write_tmp(c->text, c->len != 0 ? c->len :
		    strlen(c->text));
		char *want = xasprintf("%s%s%s", c->want[0] == '"' ? "\"" : "",
		    path, c->want);
		const char *error = NULL;

		assert_null(peer_list_parse(path, true, &error));
		if (strstr(error, want) == NULL)
			fail_msg("case %zu: error \"%s\" lacks \"%s\"", i,
			    error, want);
		unlink(path);
		free(want);
		free(path);
	}
}

static void
test_file_size_limit(void **state)
{
	size_t len = PEER_LIST_FILE_MAX_BYTES;
	char *text = xmalloc(len + 1);
	char *path;
	const char *error = NULL;
	struct peer_list *pl;

	/* Exactly at the limit: blank lines and one pattern. */
	memset(text, '\n', len + 1);
	memcpy(text, "192.0.2.1", 9);
	path = write_tmp(text, len);
	pl = peer_list_parse(path, true, &error);
	assert_non_null(pl);
	assert_int_equal(peer_list_match(pl, NULL, "192.0.2.1"), 1);
	peer_list_free(&pl);
	unlink(path);
	free(path);

	path = write_tmp(text, len + 1);
	assert_null(peer_list_parse(path, true, &error));
	assert_non_null(strstr(error, "the file is larger than 1048576 "
	    "bytes"));
	unlink(path);
	free(path);
	free(text);
}

/* The error text stays until the next parse and is reset by a success. */
static void
test_error_lifetime(void **state)
{
	const char *error = NULL, *error2 = NULL;
	struct peer_list *pl;

	assert_null(peer_list_parse("1.2.3.4/40", true, &error));
	assert_non_null(strstr(error, "1.2.3.4/40"));
	pl = peer_list_parse("192.0.2.1", true, &error2);
	assert_non_null(pl);
	assert_null(error2);
	peer_list_free(&pl);
	/* NULL error_r is allowed. */
	assert_null(peer_list_parse("1.2.3.4/40", true, NULL));
}


/* ---- type:table elements ------------------------------------------ */

/* open_tables - a peer_tables opener that trusts our own files. */
static struct peer_tables_ctx *
tables_ctx(bool open)
{
	static struct peer_tables_ctx ctx;

	peer_tables_ctx_init(&ctx, "mynetworks", open, NULL);
	ctx.opts.trusted_uid = geteuid();
	return &ctx;
}

static struct peer_list *
parse_tables(const char *value, bool parent, const char **error)
{
	return peer_list_parse_tables(value, parent, peer_tables_open,
	    tables_ctx(true), error);
}

/* cidr: sees the address only; the value found does not matter. */
static void
test_table_cidr(void **state)
{
	const char *text = "192.0.2.0/24 anything\n2001:db8::/32 OK\n"
	    "198.51.100.7 REJECT\n";
	char *path = write_tmp(text, strlen(text));
	char *value = xasprintf("10.1.1.1, cidr:%s", path);
	const char *error = NULL;
	struct peer_list *pl = parse_tables(value, false, &error);

	if (pl == NULL)
		fail_msg("%s", error);
	assert_int_equal(peer_list_match(pl, NULL, "192.0.2.77"), 1);
	assert_int_equal(peer_list_match(pl, NULL, "198.51.100.7"), 1);
	assert_int_equal(peer_list_match(pl, NULL, "198.51.100.8"), 0);
	assert_int_equal(peer_list_match(pl, NULL, "10.1.1.1"), 1);
	assert_int_equal(peer_list_match(pl, NULL, "2001:db8::25"), 1);
	/* An IPv4-mapped client is looked up as its IPv4 address. */
	assert_int_equal(peer_list_match(pl, NULL, "::ffff:192.0.2.9"), 1);
	/* A name never reaches a cidr: table. */
	assert_int_equal(peer_list_match(pl, "192.0.2.1", "203.0.113.1"), 0);
	peer_list_free(&pl);
	unlink(path);
	free(path);
	free(value);
}

/* Fixed tables see the name, its parent domains and the address. */
static void
test_table_names(void **state)
{
	const char *error = NULL;
	struct peer_list *pl, *pp;
	const char *v = "inline:{ trusted.example=x, .sub.example=x, "
	    "parent.example=x, 203.0.113.5=x }";

	pl = parse_tables(v, false, &error);
	if (pl == NULL)
		fail_msg("%s", error);
	assert_int_equal(peer_list_match(pl, "trusted.example", NULL), 1);
	assert_int_equal(peer_list_match(pl, "TRUSTED.example.", NULL), 1);
	/* Without parent matching, ".sub.example" is the parent key. */
	assert_int_equal(peer_list_match(pl, "a.b.sub.example", NULL), 1);
	assert_int_equal(peer_list_match(pl, "sub.example", NULL), 0);
	assert_int_equal(peer_list_match(pl, "x.parent.example", NULL), 0);
	assert_int_equal(peer_list_match(pl, "unknown", "203.0.113.5"), 1);
	assert_int_equal(peer_list_match(pl, "other.example", "203.0.113.6"),
	    0);
	peer_list_free(&pl);

	pp = parse_tables(v, true, &error);
	assert_non_null(pp);
	assert_int_equal(peer_list_match(pp, "x.parent.example", NULL), 1);
	assert_int_equal(peer_list_match(pp, "a.b.sub.example", NULL), 0);
	peer_list_free(&pp);
}

/* A negated table, and order: the first element that decides wins. */
static void
test_table_negation(void **state)
{
	const char *error = NULL;
	struct peer_list *pl = parse_tables("!inline:{192.0.2.66=x} "
	    "192.0.2.0/24", false, &error);

	if (pl == NULL)
		fail_msg("%s", error);
	assert_int_equal(peer_list_match(pl, NULL, "192.0.2.66"), 0);
	assert_int_equal(peer_list_match(pl, NULL, "192.0.2.67"), 1);
	peer_list_free(&pl);
}

/* A pattern table sees the whole name only, never a parent domain. */
static void
test_table_pattern(void **state)
{
	const char *text = "/^mx[0-9]+\\.example\\.com$/ OK\n";
	char *path = write_tmp(text, strlen(text));
	char *value = xasprintf("pcre:%s", path);
	const char *error = NULL;
	struct peer_list *pl = parse_tables(value, true, &error);

	if (pl == NULL)
		fail_msg("%s", error);
	assert_int_equal(peer_list_match(pl, "mx12.example.com", NULL), 1);
	assert_int_equal(peer_list_match(pl, "a.mx12.example.com", NULL), 0);
	peer_list_free(&pl);
	unlink(path);
	free(path);
	free(value);
}

/* A table that fails: -1 with the reason, never a match or a miss. */
static enum dict_status
failing_lookup(struct dict *d, const char *key, size_t keylen,
    struct buf *value, char *err, size_t errsz)
{
	(void)d;
	(void)key;
	(void)keylen;
	(void)value;
	snprintf(err, errsz, "the disk is on fire");
	return DICT_TEMPFAIL;
}

static int
failing_open(struct dict *d, const char *name,
    const struct dict_open_opts *opts, char *err, size_t errsz)
{
	(void)d;
	(void)name;
	(void)opts;
	(void)err;
	(void)errsz;
	return 0;
}

static void
failing_close(struct dict *d)
{
	(void)d;
}

static const struct dict_type failing_type = {
	.name = "failing", .flags = 0, .open = failing_open,
	.lookup = failing_lookup, .close = failing_close,
};

static int
open_failing(void *ctx, const char *spec, struct dict **dict_r, char *err,
    size_t errsz)
{
	struct dict_open_opts opts;

	(void)ctx;
	dict_open_opts_init(&opts);
	*dict_r = dict_open_type(&failing_type, strchr(spec, ':') + 1, &opts,
	    err, errsz);
	return *dict_r != NULL ? 0 : -1;
}

static void
test_table_failure(void **state)
{
	const char *error = NULL;
	char err[512];
	struct peer_list *pl = peer_list_parse_tables("192.0.2.1 "
	    "failing:x 198.51.100.0/24", false, open_failing, NULL, &error);

	assert_non_null(pl);
	/* Decided before the table: no lookup. */
	assert_int_equal(peer_list_match_err(pl, NULL, "192.0.2.1", err,
	    sizeof(err)), 1);
	assert_string_equal(err, "");
	/* The table fails: neither listed nor not, whatever comes after. */
	assert_int_equal(peer_list_match_err(pl, NULL, "198.51.100.1", err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "failing:x"));
	assert_non_null(strstr(err, "the disk is on fire"));
	assert_int_equal(peer_list_match(pl, "host.example", NULL), -1);
	peer_list_free(&pl);

	/* Checked, not opened (the master's load check): fails too. */
	pl = peer_list_parse_tables("cidr:/nonexistent/x.cidr", false,
	    peer_tables_open, tables_ctx(false), &error);
	assert_non_null(pl);
	assert_int_equal(peer_list_match_err(pl, NULL, "192.0.2.1", err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "not open"));
	peer_list_free(&pl);
}

/* What the opener refuses, in words that name the element. */
static void
test_table_refusals(void **state)
{
	static const struct error_case cases[] = {
		{ "mysql:/etc/postfix/mynet.cf", "\"mysql:/etc/postfix/"
		    "mynet.cf\": a mysql: table cannot be used in mynetworks" },
		{ "proxy:cidr:/etc/x", "a proxy: table cannot be used" },
		{ "nosuch:/etc/x", "unknown table type (known: " },
		{ "cidr:/nonexistent/peers.cidr", "/nonexistent/peers.cidr" },
		{ "inline:{ a=b", "\"inline:{ a=b\"" },
	};

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		const char *error = NULL;

		assert_null(parse_tables(cases[i].list, false, &error));
		if (strstr(error, cases[i].want) == NULL)
			fail_msg("case %zu: error \"%s\" lacks \"%s\"", i,
			    error, cases[i].want);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match_table),
		cmocka_unit_test(test_separators),
		cmocka_unit_test(test_seed_comma),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_name_limits),
		cmocka_unit_test(test_pattern_limit),
		cmocka_unit_test(test_file_element),
		cmocka_unit_test(test_file_errors),
		cmocka_unit_test(test_file_size_limit),
		cmocka_unit_test(test_error_lifetime),
		cmocka_unit_test(test_table_cidr),
		cmocka_unit_test(test_table_names),
		cmocka_unit_test(test_table_negation),
		cmocka_unit_test(test_table_pattern),
		cmocka_unit_test(test_table_failure),
		cmocka_unit_test(test_table_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
