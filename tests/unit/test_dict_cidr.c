/* SPDX-License-Identifier: MIT */
/*
 * test_dict_cidr - cidr: tables (dict_cidr.h): lookups table-driven
 * (file text, key, outcome) for IPv4, IPv6, IPv4-mapped keys, negation
 * and if/endif across address families, keys that are not addresses;
 * open errors with their exact "FILE, line N" messages (host bits,
 * prefix lengths, brackets); every truncation of a table; a large table;
 * a real file through dict_open().  Expected outcomes were checked
 * against Postfix 3.7.11 (postmap -q) where Postfix accepts the table.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "compat.h"
#include "dict.h"
#include "dict_cidr.h"
#include "dict_pattern.h"
#include "xalloc.h"

#include "dict_pattern_cases.h"

#define CLIENT_TABLE \
	"# Rule order matters.\n" \
	"192.168.1.1             OK\n" \
	"192.168.0.0/16          REJECT\n" \
	"2001:db8::1             OK\n" \
	"2001:db8::/32           REJECT v6\n"

static const struct lookup_case lookups[] = {
	{ CLIENT_TABLE, "192.168.1.1", "FOUND:OK" },
	{ NULL, "192.168.3.4", "FOUND:REJECT" },
	{ NULL, "192.169.0.1", "NOTFOUND" },
	{ NULL, "2001:db8::1", "FOUND:OK" },
	{ NULL, "2001:DB8::0:1", "FOUND:OK" },
	{ NULL, "2001:0db8:0000:0000:0000:0000:0000:0001", "FOUND:OK" },
	{ NULL, "2001:db8:ffff::1", "FOUND:REJECT v6" },
	{ NULL, "2001:db9::1", "NOTFOUND" },
	/* Not addresses (as Postfix): brackets, zones, names, octal. */
	{ NULL, "[192.168.3.4]", "NOTFOUND" },
	{ NULL, "[2001:db8::1]", "NOTFOUND" },
	{ NULL, "2001:db8::1%eth0", "NOTFOUND" },
	{ NULL, "ipv6:2001:db8::1", "NOTFOUND" },
	{ NULL, "192.168.1.1 ", "NOTFOUND" },
	{ NULL, " 192.168.1.1", "NOTFOUND" },
	{ NULL, "192.168.1", "NOTFOUND" },
	{ NULL, "3232235777", "NOTFOUND" },
	{ NULL, "0300.0250.1.1", "NOTFOUND" },
	{ NULL, "192.168.001.001", "NOTFOUND" },
	{ NULL, "mx.example.com", "NOTFOUND" },
	{ NULL, "", "NOTFOUND" },
	{ NULL, "\xff\xfe", "NOTFOUND" },
	{ NULL, "192.168.1.1/32", "NOTFOUND" },
	/* IPv4-mapped keys are IPv6, as in Postfix's cidr tables. */
	{ NULL, "::ffff:192.168.1.1", "NOTFOUND" },
	{ "::ffff:192.168.0.0/120 mapped\n0.0.0.0/0 v4\n::/0 v6\n",
	    "::ffff:192.168.0.1", "FOUND:mapped" },
	{ NULL, "::FFFF:C0A8:1", "FOUND:mapped" },
	{ NULL, "192.168.0.1", "FOUND:v4" },
	{ NULL, "::ffff:10.0.0.1", "FOUND:v6" },
	{ NULL, "::1", "FOUND:v6" },
	/* Prefix boundaries. */
	{ "10.0.0.0/9 low\n10.128.0.0/9 high\n", "10.127.255.255",
	    "FOUND:low" },
	{ NULL, "10.128.0.0", "FOUND:high" },
	{ NULL, "11.0.0.0", "NOTFOUND" },
	{ "2001:db8::/127 pair\n", "2001:db8::1", "FOUND:pair" },
	{ NULL, "2001:db8::2", "NOTFOUND" },
	{ "192.0.2.7/32 one\n0.0.0.0/0 all\n", "192.0.2.7", "FOUND:one" },
	{ NULL, "192.0.2.8", "FOUND:all" },
	/* Pattern forms: brackets, leading zeros in the prefix. */
	{ "[10.0.0.0]/8 a\n[172.16.0.0/12] b\n[2001:db8::]/32 c\n"
	    "10.0.0.0/08 never\n1.2.3.4/000032 d\n[::1] e\n",
	    "10.1.1.1", "FOUND:a" },
	{ NULL, "172.31.255.255", "FOUND:b" },
	{ NULL, "2001:db8::5", "FOUND:c" },
	{ NULL, "1.2.3.4", "FOUND:d" },
	{ NULL, "::1", "FOUND:e" },
	/* Negation applies only to keys of the pattern's family. */
	{ "!10.0.0.0/8 not-ten\n", "10.1.1.1", "NOTFOUND" },
	{ NULL, "11.1.1.1", "FOUND:not-ten" },
	{ NULL, "::1", "NOTFOUND" },
	{ NULL, "not-an-address", "NOTFOUND" },
	{ "!::/0 not-v6\n", "1.2.3.4", "NOTFOUND" },
	{ NULL, "::1", "NOTFOUND" },
	{ "! 10.0.0.0/8 x\n[10.0.0.0]/8 y\n", "11.1.1.1", "FOUND:x" },
	{ NULL, "10.0.0.1", "FOUND:y" },
	/* if / if ! / endif. */
	{ "if 10.0.0.0/8\n10.1.0.0/16 a\nendif\n10.0.0.0/8 b\n",
	    "10.1.2.3", "FOUND:a" },
	{ NULL, "10.2.3.4", "FOUND:b" },
	{ "if !10.0.0.0/8\n0.0.0.0/0 v4\n::/0 v6\nendif\n", "11.1.1.1",
	    "FOUND:v4" },
	{ NULL, "10.1.1.1", "NOTFOUND" },
	{ NULL, "::1", "NOTFOUND" },
	{ "IF 10.0.0.0/8\nif 10.1.0.0/16\n10.1.1.0/24 c\nENDIF\n"
	    "10.0.0.0/8 d\nEndIf\n", "10.1.1.1", "FOUND:c" },
	{ NULL, "10.1.2.1", "FOUND:d" },
	{ NULL, "11.1.1.1", "NOTFOUND" },
	/* Results are literal: no $ substitution; inner space kept. */
	{ "10.0.0.0/8 x $1 $$ ${2}\n", "10.0.0.1", "FOUND:x $1 $$ ${2}" },
	{ "2001:db8:: a b   c  \n", "2001:db8::", "FOUND:a b   c" },
	{ "1.2.3.4\tREJECT\n  go away\n", "1.2.3.4",
	    "FOUND:REJECT  go away" },
	{ "1.2.3.4 caf\xc3\xa9\n", "1.2.3.4", "FOUND:caf\xc3\xa9" },
};

static const struct error_case errors[] = {
	{ "192.168.1.1/16 x\n", "t, line 1: non-zero host bits in "
	    "\"192.168.1.1/16\": did you mean 192.168.0.0/16?" },
	{ "10.0.0.0/8 ok\n\n10.1.2.3/9 x\n", "t, line 3: non-zero host "
	    "bits in \"10.1.2.3/9\": did you mean 10.0.0.0/9?" },
	{ "2001:db8::1/32 x\n", "t, line 1: non-zero host bits in "
	    "\"2001:db8::1/32\": did you mean 2001:db8::/32?" },
	{ "1.2.3.4/0 x\n", "t, line 1: non-zero host bits in \"1.2.3.4/0\": "
	    "did you mean 0.0.0.0/0?" },
	{ "10.0.0.0/33 x\n", "t, line 1: bad prefix length in "
	    "\"10.0.0.0/33\" (0..32 for IPv4)" },
	{ "::/129 x\n", "t, line 1: bad prefix length in \"::/129\" (0..128 "
	    "for IPv6)" },
	{ "1.2.3.4/0000000000033 x\n", "t, line 1: bad prefix length in "
	    "\"1.2.3.4/0000000000033\" (0..32 for IPv4)" },
	{ "1.2.3.4/99999999999999999999 x\n", "t, line 1: bad prefix length "
	    "in \"1.2.3.4/99999999999999999999\" (0..32 for IPv4)" },
	{ "10.0.0.0/ x\n", "t, line 1: missing prefix length after \"/\" in "
	    "\"10.0.0.0/\"" },
	{ "1.2.3.4/-1 x\n", "t, line 1: bad prefix length in "
	    "\"1.2.3.4/-1\"" },
	{ "1.2.3.4/+32 x\n", "t, line 1: bad prefix length in "
	    "\"1.2.3.4/+32\"" },
	{ "1.2.3.4/3 2 x\n", "t, line 1: non-zero host bits in "
	    "\"1.2.3.4/3\": did you mean 0.0.0.0/3?" },
	{ "010.0.0.0/8 x\n", "t, line 1: bad address pattern "
	    "\"010.0.0.0/8\"" },
	{ "10.1/16 x\n", "t, line 1: bad address pattern \"10.1/16\"" },
	{ "fe80::1%eth0 x\n", "t, line 1: bad address pattern "
	    "\"fe80::1%eth0\"" },
	{ "example.com x\n", "t, line 1: bad address pattern "
	    "\"example.com\"" },
	{ "[1.2.3.4 x\n", "t, line 1: missing \"]\" in \"[1.2.3.4\"" },
	{ "1.2.3.4] x\n", "t, line 1: bad address pattern \"1.2.3.4]\"" },
	{ "[1.2.3.4]x y\n", "t, line 1: bad address pattern "
	    "\"[1.2.3.4]x\"" },
	{ "[10.0.0.0/8]/8 y\n", "t, line 1: bad address pattern "
	    "\"[10.0.0.0/8]/8\"" },
	{ "[] y\n", "t, line 1: bad address pattern \"[]\"" },
	{ "/8 y\n", "t, line 1: bad address pattern \"/8\"" },
	{ "1.2.3.4\n", "t, line 1: no result after the pattern" },
	{ "1.2.3.4 \xff\n", "t, line 1: the result is not valid UTF-8" },
	{ "if 10.0.0.0/8 extra\nendif\n", "t, line 1: text after the "
	    "pattern of an if: \"extra\"" },
	{ "if 10.0.0.0/8\n", "t, line 1: if without endif" },
	{ "endif\n", "t, line 1: endif without if" },
	{ "  10.0.0.0/8 x\n", "t, line 1: line starts with white space but "
	    "there is nothing before it to continue" },
};

static void
test_lookups(void **state)
{
	run_lookup_cases(&dict_type_cidr, lookups, N_ELEMENTS(lookups));
}

static void
test_errors(void **state)
{
	run_error_cases(&dict_type_cidr, errors, N_ELEMENTS(errors));
}

static void
test_truncations(void **state)
{
	static const char *const keys[] = { "192.168.1.1", "10.1.2.3",
	    "2001:db8::1", "::ffff:10.0.0.1", "x" };

	run_truncations(&dict_type_cidr, CLIENT_TABLE
	    "if !10.0.0.0/8\n[172.16.0.0]/12 private\n  continued\nendif\n"
	    "!::/0 v4-only\n", keys, N_ELEMENTS(keys));
}

/* A large table: the last of 200000 /32 rules and a miss. */
static void
test_large(void **state)
{
	size_t n = 200000;
	struct buf b;
	struct dict *d;
	char *got;

	buf_init(&b, DICT_CIDR_FILE_MAX_BYTES);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(buf_appendf(&b, "10.%zu.%zu.%zu/32 r%zu\n",
		    (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff, i), 0);
	d = case_open(&dict_type_cidr, b.data, b.len);
	got = case_get(d, "10.3.13.63", DICT_VALUE_MAX_BYTES);
	assert_string_equal(got, "FOUND:r199999");
	free(got);
	got = case_get(d, "10.3.13.64", DICT_VALUE_MAX_BYTES);
	assert_string_equal(got, "NOTFOUND");
	free(got);
	dict_close(d);
	buf_deinit(&b);
}

static void
test_file(void **state)
{
	char dir[] = "/tmp/ostia-cidr-XXXXXX";
	struct dict_open_opts opts;
	char err[DICT_ERR_MAX_BYTES], *path, *got, *want;
	struct dict *d;
	FILE *fp;

	assert_non_null(mkdtemp(dir));
	path = xasprintf("%s/client.cidr", dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(CLIENT_TABLE, fp);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(path, 0644), 0);
	dict_open_opts_init(&opts);
	opts.trusted_uid = geteuid();
	d = dict_open_type(&dict_type_cidr, path, &opts, err, sizeof(err));
	assert_non_null(d);
	got = case_get(d, "192.168.200.1", DICT_VALUE_MAX_BYTES);
	assert_string_equal(got, "FOUND:REJECT");
	free(got);
	assert_false(dict_changed(d));
	dict_close(d);

	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("192.168.1.1 OK\n192.168.1.1/24 x\n", fp);
	assert_int_equal(fclose(fp), 0);
	assert_null(dict_open_type(&dict_type_cidr, path, &opts, err,
	    sizeof(err)));
	want = xasprintf("%s, line 2: non-zero host bits in "
	    "\"192.168.1.1/24\": did you mean 192.168.1.0/24?", path);
	assert_string_equal(err, want);
	free(want);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
	free(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookups),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_truncations),
		cmocka_unit_test(test_large),
		cmocka_unit_test(test_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
