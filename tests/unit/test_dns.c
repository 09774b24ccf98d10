/* SPDX-License-Identifier: MIT */
/*
 * test_dns - the DNS rdata parsers and name helpers (dns.h); the
 * resolver itself is tested against a real server in tests/e2e/18-dns.
 *
 * Every valid record is also fed with each shorter length, from a heap
 * copy of exactly that size, so that the sanitizer build catches a
 * parser that reads past the end; all of them must fail cleanly.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "compat.h"
#include "dns.h"
#include "xalloc.h"

/*
 * parse_exact - dns_rdata_parse over a heap copy of exactly len bytes
 * (NULL for 0), so that any over-read is out of bounds.
 */
static int
parse_exact(uint16_t type, const void *data, size_t len, struct dns_rr *rr,
    const char **error_r)
{
	unsigned char *copy = NULL;
	int ret;

	if (len > 0) {
		copy = xmalloc(len);
		memcpy(copy, data, len);
	}
	*error_r = NULL;
	ret = dns_rdata_parse(type, copy, len, rr, error_r);
	free(copy);
	if (ret < 0)
		assert_non_null(*error_r);
	return ret;
}

/* every_prefix_fails - each length shorter than len is refused. */
static void
every_prefix_fails(uint16_t type, const void *data, size_t len)
{
	for (size_t l = 0; l < len; l++) {
		struct dns_rr rr;
		const char *err;

		if (parse_exact(type, data, l, &rr, &err) == 0) {
			print_error("type %u: prefix of %zu of %zu bytes "
			    "parsed\n", type, l, len);
			fail();
		}
	}
}

static void
test_a_aaaa(void **state)
{
	static const unsigned char a[] = { 192, 0, 2, 25 };
	unsigned char aaaa[16];
	char text[INET6_ADDRSTRLEN];
	struct dns_rr rr;
	const char *err;

	(void)state;
	assert_int_equal(parse_exact(DNS_T_A, a, sizeof(a), &rr, &err), 0);
	assert_int_equal(rr.type, DNS_T_A);
	assert_string_equal(inet_ntop(AF_INET, &rr.u.a, text, sizeof(text)),
	    "192.0.2.25");
	every_prefix_fails(DNS_T_A, a, sizeof(a));
	/* Not 4 bytes: too long too. */
	assert_int_equal(parse_exact(DNS_T_A, "12345", 5, &rr, &err), -1);

	assert_int_equal(inet_pton(AF_INET6, "2001:db8::25", aaaa), 1);
	assert_int_equal(parse_exact(DNS_T_AAAA, aaaa, 16, &rr, &err), 0);
	assert_string_equal(inet_ntop(AF_INET6, &rr.u.aaaa, text,
	    sizeof(text)), "2001:db8::25");
	every_prefix_fails(DNS_T_AAAA, aaaa, sizeof(aaaa));
	assert_int_equal(parse_exact(DNS_T_AAAA, "01234567890123456", 17,
	    &rr, &err), -1);
}

static void
test_mx(void **state)
{
	static const unsigned char mx[] = "\x00\x0a\x03MX1\x07" "Example"
	    "\x03" "com";
	static const unsigned char null_mx[] = { 0, 0, 0 };
	struct dns_rr rr;
	const char *err;

	(void)state;
	/* sizeof includes the string's NUL: the root label. */
	assert_int_equal(parse_exact(DNS_T_MX, mx, sizeof(mx), &rr, &err), 0);
	assert_int_equal(rr.u.mx.pref, 10);
	assert_string_equal(rr.u.mx.host, "mx1.example.com");
	every_prefix_fails(DNS_T_MX, mx, sizeof(mx));
	/* Bytes after the name. */
	assert_int_equal(parse_exact(DNS_T_MX, "\x00\x0a\x00x", 4, &rr,
	    &err), -1);

	assert_int_equal(parse_exact(DNS_T_MX, null_mx, 3, &rr, &err), 0);
	assert_int_equal(rr.u.mx.pref, 0);
	assert_string_equal(rr.u.mx.host, "");
	every_prefix_fails(DNS_T_MX, null_mx, sizeof(null_mx));
}

static void
test_ptr(void **state)
{
	static const unsigned char ptr[] = "\x04host\x04_tcp\x02x-\x01" "9";
	struct dns_rr rr;
	const char *err;

	(void)state;
	assert_int_equal(parse_exact(DNS_T_PTR, ptr, sizeof(ptr), &rr, &err),
	    0);
	assert_string_equal(rr.u.name, "host._tcp.x-.9");
	every_prefix_fails(DNS_T_PTR, ptr, sizeof(ptr));
	/* NS: the same rdata, a host name. */
	assert_int_equal(parse_exact(DNS_T_NS, ptr, sizeof(ptr), &rr, &err),
	    0);
	assert_string_equal(rr.u.name, "host._tcp.x-.9");
	every_prefix_fails(DNS_T_NS, ptr, sizeof(ptr));
	/* The root is no host name. */
	assert_int_equal(parse_exact(DNS_T_PTR, "", 1, &rr, &err), -1);
}

static void
test_wire_names_refused(void **state)
{
	static const struct {
		const char *data;
		size_t len;
	} bad[] = {
		{ "\xc0\x0c", 2 },			/* compression */
		{ "\x03" "abc\xc0\x0c", 6 },		/* pointer later */
		{ "\x40" "a", 2 },			/* label of 64 */
		{ "\x03" "a b\x00", 5 },		/* space */
		{ "\x03" "a.b\x00", 5 },		/* dot in a label */
		{ "\x03" "a\x00" "b\x00", 5 },		/* NUL */
		{ "\x03" "a\nb\x00", 5 },		/* newline */
		{ "\x03" "a\xc3\xa9\x00", 5 },		/* 8-bit */
		{ "\x01*\x00", 3 },			/* wildcard */
	};
	unsigned char longname[300];
	size_t o = 0;
	struct dns_rr rr;
	const char *err;

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(bad); i++) {
		if (parse_exact(DNS_T_PTR, bad[i].data, bad[i].len, &rr,
		    &err) == 0) {
			print_error("bad name %zu parsed as \"%s\"\n", i,
			    rr.u.name);
			fail();
		}
	}
	/* 4 labels of 63: 255 bytes of wire, 255 characters: too long. */
	for (int l = 0; l < 4; l++) {
		longname[o++] = 63;
		memset(longname + o, 'a', 63);
		o += 63;
	}
	longname[o++] = 0;
	assert_int_equal(parse_exact(DNS_T_PTR, longname, o, &rr, &err), -1);
	/* 3 labels of 63 and one of 61: 253 characters, the most. */
	longname[3 * 64] = 61;
	longname[3 * 64 + 62] = 0;
	assert_int_equal(parse_exact(DNS_T_PTR, longname, 3 * 64 + 63, &rr,
	    &err), 0);
	assert_int_equal(strlen(rr.u.name), 253);
	/* 62: 254 characters, one too many. */
	longname[3 * 64] = 62;
	longname[3 * 64 + 62] = 'a';
	longname[3 * 64 + 63] = 0;
	assert_int_equal(parse_exact(DNS_T_PTR, longname, 3 * 64 + 64, &rr,
	    &err), -1);
}

static void
test_txt(void **state)
{
	static const unsigned char txt[] = "\x05v=spf\x00\x04 -a\x00";
	unsigned char big[17 * 256];
	struct dns_rr rr;
	const char *err;

	(void)state;
	/* Without the final NUL of the literal: 12 bytes. */
	assert_int_equal(parse_exact(DNS_T_TXT, txt, 12, &rr, &err), 0);
	assert_int_equal(rr.type, DNS_T_TXT);
	assert_int_equal(rr.u.txt.len, 9);
	assert_memory_equal(rr.u.txt.text, "v=spf -a\0", 10);
	dns_rr_deinit(&rr);
	assert_null(rr.u.txt.text);
	/* Every shorter length: 0 (empty), cut strings, and the length
	 * 6 + 1 = 7 ("\x05v=spf\x00"), which is whole: two strings. */
	for (size_t l = 0; l < 12; l++) {
		int ret = parse_exact(DNS_T_TXT, txt, l, &rr, &err);

		if (l == 6 || l == 7) {
			assert_int_equal(ret, 0);
			assert_int_equal(rr.u.txt.len, 5);
			dns_rr_deinit(&rr);
		} else {
			assert_int_equal(ret, -1);
		}
	}
	/* One empty string is a record with no text. */
	assert_int_equal(parse_exact(DNS_T_TXT, "", 1, &rr, &err), 0);
	assert_int_equal(rr.u.txt.len, 0);
	assert_string_equal(rr.u.txt.text, "");
	dns_rr_deinit(&rr);
	/* Over DNS_RDATA_MAX joined: 17 strings of 255. */
	for (size_t i = 0; i < 17; i++) {
		big[i * 256] = 255;
		memset(big + i * 256 + 1, 'x', 255);
	}
	assert_int_equal(parse_exact(DNS_T_TXT, big, 17 * 256, &rr, &err),
	    -1);
	/* 16 strings: 4080 bytes, fine. */
	assert_int_equal(parse_exact(DNS_T_TXT, big, 16 * 256, &rr, &err), 0);
	assert_int_equal(rr.u.txt.len, 16 * 255);
	dns_rr_deinit(&rr);
}

static void
test_tlsa(void **state)
{
	unsigned char tlsa[3 + 32], *big;
	struct dns_rr rr;
	const char *err;

	(void)state;
	tlsa[0] = 3;
	tlsa[1] = 1;
	tlsa[2] = 1;
	for (size_t i = 0; i < 32; i++)
		tlsa[3 + i] = (unsigned char)i;
	assert_int_equal(parse_exact(DNS_T_TLSA, tlsa, sizeof(tlsa), &rr,
	    &err), 0);
	assert_int_equal(rr.u.tlsa.usage, 3);
	assert_int_equal(rr.u.tlsa.selector, 1);
	assert_int_equal(rr.u.tlsa.mtype, 1);
	assert_int_equal(rr.u.tlsa.len, 32);
	assert_memory_equal(rr.u.tlsa.data, tlsa + 3, 32);
	dns_rr_deinit(&rr);
	/* Lengths 4..34 are shorter data, still valid; 0..3 are not. */
	for (size_t l = 0; l < 4; l++)
		assert_int_equal(parse_exact(DNS_T_TLSA, tlsa, l, &rr, &err),
		    -1);
	for (size_t l = 4; l < sizeof(tlsa); l++) {
		assert_int_equal(parse_exact(DNS_T_TLSA, tlsa, l, &rr, &err),
		    0);
		assert_int_equal(rr.u.tlsa.len, l - 3);
		dns_rr_deinit(&rr);
	}
	big = xcalloc(1, 3 + DNS_RDATA_MAX + 1);
	assert_int_equal(parse_exact(DNS_T_TLSA, big, 3 + DNS_RDATA_MAX, &rr,
	    &err), 0);
	dns_rr_deinit(&rr);
	assert_int_equal(parse_exact(DNS_T_TLSA, big, 3 + DNS_RDATA_MAX + 1,
	    &rr, &err), -1);
	free(big);
}

static void
test_unsupported_type(void **state)
{
	struct dns_rr rr;
	const char *err;

	(void)state;
	assert_int_equal(parse_exact(33, "\0\0\0\0\0\0\x01x\0", 9, &rr,
	    &err), -1);
	assert_int_equal(parse_exact(0, "", 0, &rr, &err), -1);
}

static void
test_name_valid(void **state)
{
	static const char *const good[] = {
		"example.com", "example.com.", "a", "mx-1.example.com",
		"_25._tcp.mx.example.com", "4.3.2.1.in-addr.arpa",
		"xn--bcher-kva.example", "UPPER.Example",
	};
	static const char *const bad[] = {
		"", ".", "..", "a..b", ".a", "a.b..", "a b", "a\tb",
		"a/b", "a@b", "caf\xc3\xa9.example", "a;b", "a\"b",
	};
	char name[300];

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(good); i++)
		if (!dns_name_valid(good[i])) {
			print_error("\"%s\" refused\n", good[i]);
			fail();
		}
	for (size_t i = 0; i < N_ELEMENTS(bad); i++)
		if (dns_name_valid(bad[i])) {
			print_error("\"%s\" accepted\n", bad[i]);
			fail();
		}
	assert_false(dns_name_valid(NULL));
	/* Label of 63 yes, 64 no. */
	memset(name, 'a', 64);
	name[63] = '\0';
	assert_true(dns_name_valid(name));
	name[63] = 'a';
	name[64] = '\0';
	assert_false(dns_name_valid(name));
	/* 253 characters yes (and with a final dot), 254 no. */
	for (size_t i = 0; i < 254; i++)
		name[i] = i % 2 ? '.' : 'a';
	name[253] = '\0';
	assert_true(dns_name_valid(name));
	name[253] = '.';
	name[254] = '\0';
	assert_true(dns_name_valid(name));
	name[253] = 'b';
	assert_false(dns_name_valid(name));
}

static void
test_reverse_name(void **state)
{
	struct sockaddr_in s4 = { .sin_family = AF_INET };
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
	struct sockaddr_un_like {
		sa_family_t family;
		char rest[32];
	} other = { .family = AF_UNIX };
	char out[DNS_NAME_MAX];

	(void)state;
	assert_int_equal(inet_pton(AF_INET, "192.0.2.25", &s4.sin_addr), 1);
	assert_int_equal(dns_reverse_name((struct sockaddr *)&s4, out,
	    sizeof(out)), 0);
	assert_string_equal(out, "25.2.0.192.in-addr.arpa");
	/* Too small: refused, not cut. */
	assert_int_equal(dns_reverse_name((struct sockaddr *)&s4, out, 10),
	    -1);

	assert_int_equal(inet_pton(AF_INET6, "2001:db8::567:89ab",
	    &s6.sin6_addr), 1);
	assert_int_equal(dns_reverse_name((struct sockaddr *)&s6, out,
	    sizeof(out)), 0);
	assert_string_equal(out, "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0."
	    "0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
	assert_true(dns_name_valid(out));
	/* An IPv4-mapped address is the IPv4 address. */
	assert_int_equal(inet_pton(AF_INET6, "::ffff:192.0.2.25",
	    &s6.sin6_addr), 1);
	assert_int_equal(dns_reverse_name((struct sockaddr *)&s6, out,
	    sizeof(out)), 0);
	assert_string_equal(out, "25.2.0.192.in-addr.arpa");

	assert_int_equal(dns_reverse_name((struct sockaddr *)&other, out,
	    sizeof(out)), -1);
	assert_int_equal(dns_reverse_name(NULL, out, sizeof(out)), -1);
}

static void
test_rbl_name(void **state)
{
	struct sockaddr_in s4 = { .sin_family = AF_INET };
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
	char out[DNS_NAME_MAX], zone[300];

	(void)state;
	assert_int_equal(inet_pton(AF_INET, "127.0.0.2", &s4.sin_addr), 1);
	assert_int_equal(dns_rbl_name((struct sockaddr *)&s4, "zen.example",
	    out, sizeof(out)), 0);
	assert_string_equal(out, "2.0.0.127.zen.example");
	assert_int_equal(dns_rbl_name((struct sockaddr *)&s4, "zen.example.",
	    out, sizeof(out)), 0);
	assert_string_equal(out, "2.0.0.127.zen.example");
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::1", &s6.sin6_addr),
	    1);
	assert_int_equal(dns_rbl_name((struct sockaddr *)&s6, "bl.test", out,
	    sizeof(out)), 0);
	assert_string_equal(out, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
	    "0.0.0.0.8.b.d.0.1.0.0.2.bl.test");
	/* Does not fit: the buffer, or a DNS name. */
	assert_int_equal(dns_rbl_name((struct sockaddr *)&s4, "zen.example",
	    out, 12), -1);
	/* "aa.a.a. ... .a": 10 + 244 = 254 characters, one too many. */
	for (size_t i = 0; i < 244; i++)
		zone[i] = i % 2 ? 'a' : '.';
	zone[0] = 'a';
	zone[244] = '\0';
	assert_int_equal(dns_rbl_name((struct sockaddr *)&s4, zone, out,
	    sizeof(out)), -1);
	/* "a.a. ... .a", 243: 253, the most. */
	assert_int_equal(dns_rbl_name((struct sockaddr *)&s4, zone + 1, out,
	    sizeof(out)), 0);
	assert_int_equal(strlen(out), 253);
	/* A zone that is no name. */
	assert_int_equal(dns_rbl_name((struct sockaddr *)&s4, "bad zone",
	    out, sizeof(out)), -1);
	assert_int_equal(dns_rbl_name((struct sockaddr *)&s4, "a..b", out,
	    sizeof(out)), -1);
	assert_int_equal(dns_rbl_name((struct sockaddr *)&s4, "", out,
	    sizeof(out)), -1);
	assert_int_equal(dns_rbl_name(NULL, "zen.example", out,
	    sizeof(out)), -1);
}

static void
test_status_name(void **state)
{
	(void)state;
	assert_string_equal(dns_status_name(DNS_OK), "ok");
	assert_string_equal(dns_status_name(DNS_NXDOMAIN), "no such domain");
	assert_string_equal(dns_status_name(DNS_NODATA), "no record");
	assert_string_equal(dns_status_name(DNS_TEMPFAIL),
	    "temporary failure");
	assert_string_equal(dns_status_name(DNS_BOGUS),
	    "DNSSEC validation failure");
	assert_string_equal(dns_status_name(DNS_INVALID), "invalid name");
	assert_string_equal(dns_status_name((enum dns_status)99),
	    "unknown status");
}

/* The resolver refuses bad settings with words naming them, before any
 * query; and an invalid name is answered without a query. */
static void
test_resolver_settings(void **state)
{
	struct dns_settings set = { "192.0.2.1@53, not-an-ip", NULL, 0 };
	struct dns_resolver *r;
	struct dns_result *res;
	char *err = NULL;

	(void)state;
	assert_null(dns_resolver_new(NULL, &set, &err));
	assert_non_null(strstr(err, "\"not-an-ip\""));
	free(err);
	set.resolvers = "192.0.2.1";
	set.trust_anchor_file = "/nonexistent/ta.key";
	assert_null(dns_resolver_new(NULL, &set, &err));
	assert_non_null(strstr(err, "/nonexistent/ta.key"));
	free(err);
	set.trust_anchor_file = "";
	r = dns_resolver_new(NULL, &set, &err);
	assert_non_null(r);
	assert_false(dns_resolver_validates(r));
	res = dns_lookup_sync(r, "bad..name", DNS_T_A);
	assert_int_equal(res->status, DNS_INVALID);
	assert_non_null(res->error);
	dns_result_free(&res);
	assert_null(res);
	res = dns_lookup_sync(r, "example.com", 99);
	assert_int_equal(res->status, DNS_INVALID);
	dns_result_free(&res);
	dns_resolver_free(&r);
	assert_null(r);
}

struct async_seen {
	struct event_base *base;
	int calls;
	bool inside;			/* set while dns_lookup runs */
	bool called_inside;
	struct dns_result *res;
};

static void
async_cb(struct dns_result *res, void *ctx)
{
	struct async_seen *s = ctx;

	s->calls++;
	s->called_inside |= s->inside;
	dns_result_free(&s->res);
	s->res = res;
	event_base_loopbreak(s->base);
}

/* stop_loop - a timer that ends the loop (a test's bound). */
static void
stop_loop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

static void
run_loop(struct event_base *base, unsigned ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	struct event *ev = evtimer_new(base, stop_loop, base);

	assert_non_null(ev);
	evtimer_add(ev, &tv);
	event_base_dispatch(base);
	event_free(ev);
}

/*
 * The asynchronous path without a DNS server: an invalid name is
 * answered from the loop (not inside dns_lookup); a cancelled query
 * never calls back; a query to a loopback port where nothing listens
 * ends as DNS_TEMPFAIL at the lookup timeout; a query still under way
 * when the resolver is freed is dropped.
 */
static void
test_async(void **state)
{
	struct async_seen s = { 0 };
	struct dns_settings set = { "127.0.0.1@1", NULL, 300 };
	struct dns_resolver *r;
	struct dns_query *q;
	const char *err = NULL;
	char *error = NULL;

	(void)state;
	s.base = event_base_new();
	assert_non_null(s.base);
	r = dns_resolver_new(s.base, &set, &error);
	assert_non_null(r);

	s.inside = true;
	q = dns_lookup(r, "bad..name", DNS_T_A, async_cb, &s, &err);
	s.inside = false;
	assert_non_null(q);
	assert_int_equal(s.calls, 0);
	run_loop(s.base, 5000);
	assert_int_equal(s.calls, 1);
	assert_false(s.called_inside);
	assert_int_equal(s.res->status, DNS_INVALID);

	/* Cancelled at once: no call, even past the timeout. */
	q = dns_lookup(r, "example.com", DNS_T_MX, async_cb, &s, &err);
	assert_non_null(q);
	dns_cancel(q);
	run_loop(s.base, 600);
	assert_int_equal(s.calls, 1);

	/* Cancelled with its answer queued, before the loop ran. */
	q = dns_lookup(r, "bad..name", DNS_T_A, async_cb, &s, &err);
	assert_non_null(q);
	dns_cancel(q);
	run_loop(s.base, 50);
	assert_int_equal(s.calls, 1);

	/* Nobody answers: a temporary failure at the timeout. */
	q = dns_lookup(r, "example.com", DNS_T_MX, async_cb, &s, &err);
	assert_non_null(q);
	run_loop(s.base, 10000);
	assert_int_equal(s.calls, 2);
	assert_int_equal(s.res->status, DNS_TEMPFAIL);
	assert_string_equal(s.res->qname, "example.com");
	assert_non_null(strstr(s.res->error, "127.0.0.1@1"));
	assert_non_null(strstr(s.res->error, "within 0.300 seconds"));

	/* The blocking path on the same resolver times out the same way. */
	dns_result_free(&s.res);
	s.res = dns_lookup_sync(r, "example.org", DNS_T_A);
	assert_int_equal(s.res->status, DNS_TEMPFAIL);
	assert_non_null(strstr(s.res->error, "within 0.300 seconds"));

	/* Under way when the resolver goes: dropped, no call. */
	q = dns_lookup(r, "example.net", DNS_T_A, async_cb, &s, &err);
	assert_non_null(q);
	dns_resolver_free(&r);
	run_loop(s.base, 50);
	assert_int_equal(s.calls, 2);
	dns_result_free(&s.res);
	event_base_free(s.base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_aaaa),
		cmocka_unit_test(test_mx),
		cmocka_unit_test(test_ptr),
		cmocka_unit_test(test_wire_names_refused),
		cmocka_unit_test(test_txt),
		cmocka_unit_test(test_tlsa),
		cmocka_unit_test(test_unsupported_type),
		cmocka_unit_test(test_name_valid),
		cmocka_unit_test(test_reverse_name),
		cmocka_unit_test(test_rbl_name),
		cmocka_unit_test(test_status_name),
		cmocka_unit_test(test_resolver_settings),
		cmocka_unit_test(test_async),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
