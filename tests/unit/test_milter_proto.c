/* SPDX-License-Identifier: MIT */
/*
 * test_milter_proto - the Milter protocol pieces of src/smtpd/
 * milter_proto.c: packets out (byte for byte), the framing fed whole and
 * byte by byte, the OPTNEG reply with macro lists, NUL-separated
 * strings, reply codes, and the message model with its edits (headers
 * added, inserted, changed, deleted; body replaced), including values
 * that try to end the header section early.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "milter_proto.h"
#include "xalloc.h"

static void
test_packets_out(void **state)
{
	struct buf b;
	const char *strs[] = { "<a@b>", "SIZE=10" };
	const char *nv[] = { "j", "mx", "{daemon_name}", "d", NULL };

	(void)state;
	buf_init(&b, 1 << 20);
	assert_int_equal(milter_put_optneg(&b, 6, 0x1ff, 0x1ff7ff), 0);
	assert_int_equal(b.len, 17);
	assert_memory_equal(b.data, "\0\0\0\x0d" "O" "\0\0\0\x06"
	    "\0\0\x01\xff" "\0\x1f\xf7\xff", 17);
	buf_reset(&b);
	assert_int_equal(milter_put_strs(&b, 'M', strs, 2), 0);
	assert_memory_equal(b.data, "\0\0\0\x0f" "M<a@b>\0SIZE=10\0", 19);
	buf_reset(&b);
	assert_int_equal(milter_put_connect(&b, "h.example", '4', 2525,
	    "192.0.2.1"), 0);
	assert_memory_equal(b.data, "\0\0\0\x18" "Ch.example\0" "4"
	    "\x09\xdd" "192.0.2.1\0", 28);
	buf_reset(&b);
	assert_int_equal(milter_put_macros(&b, 'C', nv), 0);
	assert_memory_equal(b.data, "\0\0\0\x17" "DCj\0mx\0{daemon_name}\0d\0",
	    27);
	/* No macros, no packet. */
	buf_reset(&b);
	assert_int_equal(milter_put_macros(&b, 'C', (const char *[]){ NULL }),
	    0);
	assert_int_equal(b.len, 0);
	/* Too long for the protocol: refused, nothing appended. */
	{
		char *big = xcalloc(1, MILTER_PKT_MAX + 1);

		assert_int_equal(milter_put(&b, 'B', big, MILTER_PKT_MAX), -1);
		assert_int_equal(b.len, 0);
		assert_int_equal(milter_put(&b, 'B', big, MILTER_PKT_MAX - 1),
		    0);
		free(big);
	}
	buf_deinit(&b);
}

static void
test_framing_whole_and_byte_by_byte(void **state)
{
	struct buf b;
	const char *err = NULL, *data;
	char cmd;
	size_t dlen, used;

	(void)state;
	buf_init(&b, 4096);
	(void)milter_put(&b, 'y', "550 5.7.1 no\0", 13);
	(void)milter_put(&b, 'c', NULL, 0);
	/* Whole: two packets one after the other. */
	assert_int_equal(milter_pkt_parse(b.data, b.len, &cmd, &data, &dlen,
	    &used, &err), 1);
	assert_int_equal(cmd, 'y');
	assert_int_equal(dlen, 13);
	assert_string_equal(data, "550 5.7.1 no");
	assert_int_equal(used, 18);
	assert_int_equal(milter_pkt_parse(b.data + used, b.len - used, &cmd,
	    &data, &dlen, &used, &err), 1);
	assert_int_equal(cmd, 'c');
	assert_int_equal(dlen, 0);
	/* Byte by byte: nothing until the last byte of the first packet. */
	for (size_t n = 0; n < 18; n++)
		assert_int_equal(milter_pkt_parse(b.data, n, &cmd, &data, &dlen,
		    &used, &err), 0);
	assert_int_equal(milter_pkt_parse(b.data, 18, &cmd, &data, &dlen,
	    &used, &err), 1);
	/* A length of 0, and one past the limit, are refused at once. */
	assert_int_equal(milter_pkt_parse("\0\0\0\0", 4, &cmd, &data, &dlen,
	    &used, &err), -1);
	assert_string_equal(err, "a packet of length 0");
	{
		uint32_t n = htonl(MILTER_PKT_MAX + 1);

		assert_int_equal(milter_pkt_parse((const char *)&n, 4, &cmd,
		    &data, &dlen, &used, &err), -1);
		n = htonl(MILTER_PKT_MAX);
		assert_int_equal(milter_pkt_parse((const char *)&n, 4, &cmd,
		    &data, &dlen, &used, &err), 0);
	}
	buf_deinit(&b);
}

static void
test_optneg_reply(void **state)
{
	struct milter_optneg o;
	const char *err = NULL;
	static const char plain[] = "\0\0\0\x06" "\0\0\0\x01" "\0\0\0\x10";
	static const char with_macros[] = "\0\0\0\x06" "\0\0\0\x01"
	    "\0\0\0\0" "\0\0\0\x02" "{auth_authen} i\0" "\0\0\0\x05" "j\0";

	(void)state;
	assert_int_equal(milter_optneg_parse(plain, 12, &o, &err), 0);
	assert_int_equal(o.version, 6);
	assert_int_equal(o.actions, SMFIF_ADDHDRS);
	assert_int_equal(o.proto, SMFIP_NOBODY);
	assert_null(o.macros[MILTER_STAGE_MAIL]);
	milter_optneg_deinit(&o);
	assert_int_equal(milter_optneg_parse(with_macros,
	    sizeof(with_macros) - 1, &o, &err), 0);
	assert_string_equal(o.macros[MILTER_STAGE_MAIL], "{auth_authen} i");
	assert_string_equal(o.macros[MILTER_STAGE_EOM], "j");
	milter_optneg_deinit(&o);
	/* Too short, too old, a list without its NUL, an unknown stage. */
	assert_int_equal(milter_optneg_parse(plain, 11, &o, &err), -1);
	milter_optneg_deinit(&o);
	assert_int_equal(milter_optneg_parse("\0\0\0\x01" "\0\0\0\0" "\0\0\0\0",
	    12, &o, &err), -1);
	assert_string_equal(err, "the filter speaks a protocol version "
	    "older than 2");
	milter_optneg_deinit(&o);
	assert_int_equal(milter_optneg_parse(with_macros,
	    sizeof(with_macros) - 2, &o, &err), -1);
	milter_optneg_deinit(&o);
	assert_int_equal(milter_optneg_parse("\0\0\0\x06" "\0\0\0\0" "\0\0\0\0"
	    "\0\0\0\x07" "i\0", 18, &o, &err), -1);
	milter_optneg_deinit(&o);
}

static void
test_strings(void **state)
{
	const char *v[3];

	(void)state;
	assert_int_equal(milter_strings("a\0bc\0", 5, v, 2), 0);
	assert_string_equal(v[0], "a");
	assert_string_equal(v[1], "bc");
	assert_int_equal(milter_strings("a\0bc\0", 5, v, 1), -1);
	assert_int_equal(milter_strings("a\0bc", 4, v, 2), -1);
	assert_int_equal(milter_strings_range("<x>\0", 4, v, 1, 2), 1);
	assert_int_equal(milter_strings_range("<x>\0A=1\0", 8, v, 1, 2), 2);
	assert_int_equal(milter_strings_range("", 0, v, 1, 2), -1);
}

static void
test_replycode(void **state)
{
	char out[256];
	const char *err = NULL;

	(void)state;
	assert_int_equal(milter_replycode("550 5.7.0 custom says no", out,
	    sizeof(out), &err), 0);
	assert_string_equal(out, "550 5.7.0 custom says no");
	/* No enhanced code: one is added in the reply's class. */
	assert_int_equal(milter_replycode("451 try later", out, sizeof(out),
	    &err), 0);
	assert_string_equal(out, "451 4.7.1 try later");
	assert_int_equal(milter_replycode("554", out, sizeof(out), &err), 0);
	assert_string_equal(out, "554 5.7.1");
	/* Multi-line: the first line. */
	assert_int_equal(milter_replycode("550-5.7.1 one\r\n550 5.7.1 two",
	    out, sizeof(out), &err), 0);
	assert_string_equal(out, "550 5.7.1 one");
	/* Refused: not 4xx/5xx, mismatched class, control characters. */
	assert_int_equal(milter_replycode("250 2.0.0 ok", out, sizeof(out),
	    &err), -1);
	assert_int_equal(milter_replycode("550 4.7.1 odd", out, sizeof(out),
	    &err), -1);
	assert_string_equal(err, "the enhanced status code does not match "
	    "the reply code");
	assert_int_equal(milter_replycode("550 5.7.1 a\x01" "b", out,
	    sizeof(out), &err), -1);
	assert_int_equal(milter_replycode("5x0 no", out, sizeof(out), &err),
	    -1);
}

static char *
joined(const struct milter_msg *m)
{
	struct buf b;

	buf_init(&b, 1 << 20);
	assert_int_equal(milter_msg_join(m, &b), 0);
	assert_int_equal(b.len, m->size);
	return buf_steal(&b);
}

static const char sample[] =
    "Received: from x by mx id 0123456789ABCDEF\r\n\tfor <b@c>\r\n"
    "From: a@example\r\n"
    "Subject: hello\r\n"
    "X-Folded: one\r\n\ttwo\r\n"
    "subject: second\r\n"
    "\r\n"
    "Body line.\r\n";

static void
test_split_join_identity(void **state)
{
	static const char *const cases[] = {
		sample,
		"",
		"\r\n",
		"Body without headers\r\n",
		"A: b\r\n",
		"A: b",
		"A: b\r\nnot a header\r\nrest\r\n",
		"A: b\n\nbare lf\n",
		"A: b\r\n\r\n\r\n\r\n",
		" leading continuation\r\nA: b\r\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (unsigned skip = 0; skip < 2; skip++) {
			struct milter_msg m;
			char *j;

			assert_int_equal(milter_msg_split(&m, cases[i],
			    strlen(cases[i]), skip), 0);
			j = joined(&m);
			assert_string_equal(j, cases[i]);
			free(j);
			milter_msg_free(&m);
		}
	}
}

static void
test_split_and_values(void **state)
{
	struct milter_msg m;
	char v[64];

	(void)state;
	assert_int_equal(milter_msg_split(&m, sample, strlen(sample), 1), 0);
	assert_int_equal(m.nh, 4);
	assert_true(m.blank);
	assert_string_equal(m.h[0].name, "From");
	assert_string_equal(m.body, "Body line.\r\n");
	milter_hdr_value(&m.h[2], false, v, sizeof(v));
	assert_string_equal(v, "one\n\ttwo");
	milter_hdr_value(&m.h[1], true, v, sizeof(v));
	assert_string_equal(v, " hello");
	milter_hdr_value(&m.h[1], false, v, 4);
	assert_string_equal(v, "hel");
	milter_msg_free(&m);
}

static void
test_header_edits(void **state)
{
	struct milter_msg m;
	const char *err = NULL;
	char *j;

	(void)state;
	assert_int_equal(milter_msg_split(&m, sample, strlen(sample), 1), 0);
	assert_int_equal(milter_msg_insert(&m, 0, "X-Top", "1", false, &err),
	    0);
	assert_int_equal(milter_msg_add(&m, "X-End", "multi\nline", false,
	    &err), 0);
	/* The second "Subject" in any case; then one that is not there. */
	assert_int_equal(milter_msg_change(&m, 2, "SUBJECT", "new", false,
	    &err), 0);
	assert_int_equal(milter_msg_change(&m, 1, "X-Folded", "", false,
	    &err), 0);
	assert_int_equal(milter_msg_change(&m, 1, "X-Absent", "", false,
	    &err), 0);
	assert_int_equal(milter_msg_change(&m, 3, "X-New", "v", true, &err),
	    0);
	j = joined(&m);
	assert_string_equal(j,
	    "Received: from x by mx id 0123456789ABCDEF\r\n\tfor <b@c>\r\n"
	    "X-Top: 1\r\n"
	    "From: a@example\r\n"
	    "Subject: hello\r\n"
	    "subject: new\r\n"
	    "X-End: multi\r\n\tline\r\n"
	    "X-New:v\r\n"
	    "\r\n"
	    "Body line.\r\n");
	free(j);
	/* Past the end: last. */
	assert_int_equal(milter_msg_insert(&m, 99, "X-Last", "z", false,
	    &err), 0);
	assert_string_equal(m.h[m.nh - 1].name, "X-Last");
	/* Bad names and values change nothing. */
	assert_int_equal(milter_msg_add(&m, "Bad Name", "x", false, &err), -1);
	assert_int_equal(milter_msg_add(&m, "", "x", false, &err), -1);
	assert_int_equal(milter_msg_add(&m, "A:B", "x", false, &err), -1);
	assert_int_equal(milter_msg_add(&m, "A", "x\ry", false, &err), -1);
	assert_string_equal(err, "a header value with a lone carriage return");
	milter_msg_free(&m);
}

/* A value cannot end the header section: no empty line comes of it. */
static void
test_header_injection(void **state)
{
	static const char *const evil[] = {
		"x\r\n\r\nInjected body",
		"x\n\nInjected body",
		"x\n \t\nInjected body",
		"x\r\n",
		"\n",
		"x\nNot-Folded: y",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(evil) / sizeof(evil[0]); i++) {
		struct milter_msg m, again;
		const char *err = NULL;
		char *j;

		assert_int_equal(milter_msg_split(&m, sample, strlen(sample),
		    1), 0);
		assert_int_equal(milter_msg_add(&m, "X-Evil", evil[i], false,
		    &err), 0);
		j = joined(&m);
		assert_int_equal(milter_msg_split(&again, j, strlen(j), 1), 0);
		/* One more header, and the body is still the body. */
		assert_int_equal(again.nh, 5);
		assert_string_equal(again.body, "Body line.\r\n");
		free(j);
		milter_msg_free(&again);
		milter_msg_free(&m);
	}
}

/* A message cut after a header without its line end (BDAT). */
static void
test_edit_after_unterminated_header(void **state)
{
	struct milter_msg m;
	const char *err = NULL;
	char *j;

	(void)state;
	assert_int_equal(milter_msg_split(&m, "A: b", 4, 0), 0);
	assert_int_equal(milter_msg_add(&m, "C", "d", false, &err), 0);
	j = joined(&m);
	assert_string_equal(j, "A: b\r\nC: d\r\n");
	free(j);
	milter_msg_free(&m);
}

static void
test_body_replacement(void **state)
{
	struct milter_msg m;
	char *j;

	(void)state;
	assert_int_equal(milter_msg_split(&m, sample, strlen(sample), 1), 0);
	milter_msg_set_body(&m, xstrdup("one\ntwo\rthree"), 13);
	assert_string_equal(m.body, "one\r\ntwo\r\nthree\r\n");
	milter_msg_free(&m);
	/* A header-only message gets its empty line before a new body. */
	assert_int_equal(milter_msg_split(&m, "A: b\r\n", 6, 0), 0);
	milter_msg_set_body(&m, xstrdup("x\r\n"), 3);
	j = joined(&m);
	assert_string_equal(j, "A: b\r\n\r\nx\r\n");
	free(j);
	milter_msg_free(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_packets_out),
		cmocka_unit_test(test_framing_whole_and_byte_by_byte),
		cmocka_unit_test(test_optneg_reply),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_replycode),
		cmocka_unit_test(test_split_join_identity),
		cmocka_unit_test(test_split_and_values),
		cmocka_unit_test(test_header_edits),
		cmocka_unit_test(test_header_injection),
		cmocka_unit_test(test_edit_after_unterminated_header),
		cmocka_unit_test(test_body_replacement),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
