/* SPDX-License-Identifier: MIT */
/*
 * test_header_missing - which of From:, Date:, Message-ID: a header
 * block has (names without case, CRLF or LF, continuation lines, lines
 * that only look like fields), and the fields added for the others.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "buf.h"
#include "header_missing.h"

static void
test_scan(void **state)
{
	static const struct {
		const char *blk;
		unsigned have;
	} cases[] = {
		{ "", 0 },
		{ "Subject: x\r\n", 0 },
		{ "From: a@b\r\nDate: now\r\nMessage-ID: <x@y>\r\n",
		    HEADER_HAS_ALL },
		{ "FROM:a@b\nmessage-id:<x@y>\n", HEADER_HAS_FROM |
		    HEADER_HAS_MSGID },
		/* Not fields: a "From " line, a continuation, a name with
		 * a space before the colon, a longer name. */
		{ "From a@b Mon Nov 30\r\nSubject: x\r\n Date: y\r\n"
		    "Date : z\r\nMessage-IDs: <x>\r\nX-From: q\r\n", 0 },
		/* A message being re-sent: the Resent- variants count. */
		{ "Resent-Date: x\r\nDate:\r\n", HEADER_RESENT |
		    HEADER_HAS_DATE },
		{ "From: a\r\nDate: b\r\nMessage-ID: <c>\r\n"
		    "Resent-To: d\r\n", HEADER_RESENT },
		{ "RESENT-FROM: a\nresent-message-id: <c>\nDate: b\n",
		    HEADER_RESENT | HEADER_HAS_FROM | HEADER_HAS_MSGID },
		/* "Resent-" alone is a field name of its own. */
		{ "Resent-: x\r\n", HEADER_RESENT },
		/* The last line without its line end still counts. */
		{ "Subject: x\r\nDate: y", HEADER_HAS_DATE },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned have = header_missing_scan(cases[i].blk,
		    strlen(cases[i].blk));

		if (have != cases[i].have)
			fail_msg("case %zu: %u, wanted %u", i, have,
			    cases[i].have);
	}
}

static void
test_append(void **state)
{
	struct header_missing_vals v = {
		.sender = "joe@example.org",
		.queue_id = "2KNENFDY6F0007YA",
		.myhostname = "mx.example.org",
		.date = "Mon, 30 Nov 2026 19:00:00 +0100 (CET)",
		.now = 1796061600,	/* 2026-11-30 18:00:00 UTC */
	};
	struct buf b;
	unsigned added = 0;

	(void)state;
	buf_init(&b, 4096);
	assert_int_equal(header_missing_append(&b, 0, &v, &added), 0);
	assert_int_equal(added, HEADER_HAS_ALL);
	assert_string_equal(buf_cstr(&b), "From: <joe@example.org>\r\n"
	    "Date: Mon, 30 Nov 2026 19:00:00 +0100 (CET)\r\n"
	    "Message-ID: <20261130180000.2KNENFDY6F0007YA@mx.example.org>\r\n");
	assert_int_equal(header_missing_scan(b.data, b.len), HEADER_HAS_ALL);
	/* Only what is missing; the null sender is the mailer daemon. */
	buf_reset(&b);
	v.sender = "";
	assert_int_equal(header_missing_append(&b, HEADER_HAS_DATE |
	    HEADER_HAS_MSGID, &v, &added), 0);
	assert_int_equal(added, HEADER_HAS_FROM);
	assert_string_equal(buf_cstr(&b), "From: "
	    "MAILER-DAEMON@mx.example.org\r\n");
	buf_reset(&b);
	assert_int_equal(header_missing_append(&b, HEADER_HAS_ALL, &v,
	    &added), 0);
	assert_int_equal(added, 0);
	assert_int_equal(b.len, 0);
	/* Re-sent: the Resent- variants, the others left alone. */
	buf_reset(&b);
	v.sender = "joe@example.org";
	assert_int_equal(header_missing_append(&b, HEADER_RESENT |
	    HEADER_HAS_DATE, &v, &added), 0);
	assert_int_equal(added, HEADER_HAS_FROM | HEADER_HAS_MSGID);
	assert_string_equal(buf_cstr(&b), "Resent-From: <joe@example.org>\r\n"
	    "Resent-Message-ID: <20261130180000.2KNENFDY6F0007YA@"
	    "mx.example.org>\r\n");
	assert_int_equal(header_missing_scan(b.data, b.len), HEADER_RESENT |
	    HEADER_HAS_FROM | HEADER_HAS_MSGID);
	buf_deinit(&b);
	/* A full buffer is an error, not a cut header. */
	buf_init(&b, 20);
	assert_int_equal(header_missing_append(&b, 0, &v, NULL), -1);
	buf_deinit(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scan),
		cmocka_unit_test(test_append),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
