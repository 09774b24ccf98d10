/* SPDX-License-Identifier: MIT */
/*
 * test_qmgr_status - the per-message delivery log (src/queue/qmgr_status.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compat.h"
#include "qmgr_status.h"
#include "xalloc.h"

static const char log_text[] =
    "0\tsent\t1764350000\t2.0.0\ta@example.org\t\tdelivered to maildir\n"
    "1\tdeferred\t1764350001\t4.4.1\tb@example.net\tlmtp; 451 4.3.0 "
    "later\tcannot deliver now\n"
    "-\thold\t1764350002\t\t\t\treleased\n"
    "1\tbounced\t1764350009\t5.1.1\tb@example.net\tlmtp; 550 5.1.1 no\t"
    "unknown user\n";

static void
check_parsed(const struct qstatus *st)
{
	const struct qstatus_entry *e;

	assert_int_equal(st->n, 4);
	e = qstatus_find(st, 0, "a@example.org");
	assert_non_null(e);
	assert_int_equal(e->action, QSTATUS_SENT);
	assert_int_equal(e->when, 1764350000);
	assert_string_equal(e->dsn, "2.0.0");
	assert_string_equal(e->remote, "");
	assert_string_equal(e->text, "delivered to maildir");
	/* The later line for the same recipient wins. */
	e = qstatus_find(st, 1, "b@example.net");
	assert_non_null(e);
	assert_int_equal(e->action, QSTATUS_BOUNCED);
	assert_string_equal(e->remote, "lmtp; 550 5.1.1 no");
	assert_null(qstatus_find(st, 1, "c@example.net"));
	assert_non_null(qstatus_find(st, 1, NULL));
	assert_null(qstatus_find(st, 7, NULL));
	assert_true(qstatus_has_hold(st));
}

static void
test_parse_whole(void **state)
{
	struct qstatus st;
	size_t bad = 99;

	(void)state;
	qstatus_parse(log_text, strlen(log_text), &st, &bad);
	assert_int_equal(bad, 0);
	check_parsed(&st);
	qstatus_free(&st);
}

/* Every prefix: the complete lines parse, a torn last line is skipped. */
static void
test_parse_prefixes(void **state)
{
	size_t len = strlen(log_text);

	(void)state;
	for (size_t cut = 0; cut <= len; cut++) {
		struct qstatus st;
		size_t bad = 0, lines = 0;

		for (size_t i = 0; i < cut; i++)
			lines += log_text[i] == '\n';
		qstatus_parse(log_text, cut, &st, &bad);
		assert_int_equal(st.n, lines);
		assert_int_equal(bad, (cut > 0 && log_text[cut - 1] != '\n') ?
		    1 : 0);
		if (cut == len)
			check_parsed(&st);
		qstatus_free(&st);
	}
}

static void
test_bad_lines(void **state)
{
	static const char *const bad[] = {
		"x\tsent\t1\t2.0.0\ta\t\tt\n",		/* idx */
		"-1\tsent\t1\t2.0.0\ta\t\tt\n",
		"+1\tsent\t1\t2.0.0\ta\t\tt\n",
		"1\tsentx\t1\t2.0.0\ta\t\tt\n",		/* action */
		"1\thold\t1\t\t\t\t\n",			/* hold needs "-" */
		"1\twarned\t1\t\t\t\t\n",		/* so does warned */
		"-\tsent\t1\t2.0.0\ta\t\tt\n",		/* sent needs an idx */
		"1\tsent\t\t2.0.0\ta\t\tt\n",		/* time */
		"1\tsent\t-5\t2.0.0\ta\t\tt\n",
		"1\tsent\t1x\t2.0.0\ta\t\tt\n",
		"1\tsent\t -5\t2.0.0\ta\t\tt\n",		/* found by libFuzzer */
		" 1\tsent\t5\t2.0.0\ta\t\tt\n",
		"1\tsent\t1\t2.0.0\ta\tt\n",		/* 6 fields */
		"1\tsent\t1\t2.0.0\ta\t\tt\tx\n",	/* 8 fields */
		"1\tsent\t1\t2.0.0\ta\r\t\tt\n",	/* CR */
		"99999999999999\tsent\t1\t2.0.0\ta\t\tt\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct qstatus st;
		size_t bad_n = 0;

		qstatus_parse(bad[i], strlen(bad[i]), &st, &bad_n);
		assert_int_equal(st.n, 0);
		assert_int_equal(bad_n, 1);
		qstatus_free(&st);
	}
	{
		/* A NUL inside a line. */
		static const char nul[] = "1\tsent\t1\t2.0.0\ta\0b\t\tt\n";
		struct qstatus st;

		qstatus_parse(nul, sizeof(nul) - 1, &st, NULL);
		assert_int_equal(st.n, 0);
		qstatus_free(&st);
	}
}

static void
test_format_roundtrip(void **state)
{
	struct qstatus_entry e = {
		.idx = 12, .action = QSTATUS_DEFERRED, .when = 1764350123,
		.dsn = UNCONST("4.2.2"), .address = UNCONST("u@x.org"),
		.remote = UNCONST("lmtp; 452\ttoo\r\nfull"),
		.text = UNCONST("mailbox\nfull"),
	};
	struct qstatus st;
	char line[QSTATUS_LINE_MAX];
	size_t len;

	(void)state;
	len = qstatus_format(line, sizeof(line), &e);
	assert_int_equal(len, strlen(line));
	assert_string_equal(line, "12\tdeferred\t1764350123\t4.2.2\tu@x.org\t"
	    "lmtp; 452 too  full\tmailbox full\n");
	qstatus_parse(line, len, &st, NULL);
	assert_int_equal(st.n, 1);
	assert_int_equal(st.e[0].idx, 12);
	assert_string_equal(st.e[0].text, "mailbox full");
	qstatus_free(&st);
	/* Cut to fit: still one line, ended by LF. */
	len = qstatus_format(line, 20, &e);
	assert_int_equal(len, 19);
	assert_int_equal(line[18], '\n');
	/* A whole-message line. */
	e.idx = -1;
	e.action = QSTATUS_HOLD;
	len = qstatus_format(line, sizeof(line), &e);
	assert_memory_equal(line, "-\thold\t", 7);
	qstatus_parse(line, len, &st, NULL);
	assert_int_equal(st.n, 1);
	assert_true(qstatus_has_hold(&st));
	assert_false(qstatus_has_warned(&st));
	qstatus_free(&st);
	e.action = QSTATUS_WARNED;
	len = qstatus_format(line, sizeof(line), &e);
	assert_memory_equal(line, "-\twarned\t", 9);
	qstatus_parse(line, len, &st, NULL);
	assert_int_equal(st.n, 1);
	assert_true(qstatus_has_warned(&st));
	assert_false(qstatus_has_hold(&st));
	qstatus_free(&st);
}

static void
test_append_load(void **state)
{
	char dir[] = "/tmp/test_qstatus.XXXXXX";
	char *path, line[QSTATUS_LINE_MAX];
	struct qstatus st;
	struct qstatus_entry e = {
		.idx = 0, .action = QSTATUS_SENT, .when = 5,
		.dsn = UNCONST("2.0.0"), .address = UNCONST("a@b"),
		.remote = UNCONST(""), .text = UNCONST("ok"),
	};
	struct stat sb;
	size_t len;

	(void)state;
	assert_non_null(mkdtemp(dir));
	path = xasprintf("%s/ID", dir);
	/* Missing file: an empty log. */
	assert_int_equal(qstatus_load(path, &st), 0);
	assert_int_equal(st.n, 0);
	len = qstatus_format(line, sizeof(line), &e);
	assert_int_equal(qstatus_append(path, line, len), 0);
	e.idx = 1;
	len = qstatus_format(line, sizeof(line), &e);
	assert_int_equal(qstatus_append(path, line, len), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	assert_int_equal(qstatus_load(path, &st), 1);
	assert_int_equal(st.n, 2);
	assert_non_null(qstatus_find(&st, 1, "a@b"));
	qstatus_free(&st);
	unlink(path);
	rmdir(dir);
	free(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_whole),
		cmocka_unit_test(test_parse_prefixes),
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_format_roundtrip),
		cmocka_unit_test(test_append_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
