/* SPDX-License-Identifier: MIT */
/*
 * test_queue_listing - the mailq summary and postqueue -j lines
 * (src/queue/queue_listing.c) of a queue in a temporary directory: a
 * deferred message with its reason, a held one, a file that does not
 * parse (reported, not listed); and the two ways of writing text a
 * client chose (\ooo for the terminal, JSON strings).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "queue_file.h"
#include "queue_listing.h"
#include "queue_proto.h"
#include "xalloc.h"

static void
test_json_string(void **state)
{
	static const struct { const char *in, *out; } cases[] = {
		{ "", "\"\"" },
		{ "a@b.example", "\"a@b.example\"" },
		{ "q\"b\\s", "\"q\\\"b\\\\s\"" },
		{ "tab\there\x7f", "\"tab\\u0009here\\u007f\"" },
		{ "j\xc3\xb6rg", "\"j\xc3\xb6rg\"" },
		{ "\xf0\x9f\x93\xa7", "\"\xf0\x9f\x93\xa7\"" },
		/* Not UTF-8: a lone continuation byte, an overlong form,
		 * a surrogate, a cut sequence. */
		{ "a\x80z", "\"a\\ufffdz\"" },
		{ "\xc0\xaf", "\"\\ufffd\\ufffd\"" },
		{ "\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"" },
		{ "\xe2\x82", "\"\\ufffd\\ufffd\"" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b;

		buf_init(&b, 1024);
		queue_listing_json_string(&b, cases[i].in);
		if (strcmp(buf_cstr(&b), cases[i].out) != 0)
			fail_msg("case %zu: %s, want %s", i, buf_cstr(&b),
			    cases[i].out);
		buf_deinit(&b);
	}
}

static void
test_escape(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 1024);
	queue_listing_escape(&b, "a\nb\x1b[2J\xc3\xa9");
	assert_string_equal(buf_cstr(&b), "a\\012b\\033[2J\xc3\xa9");
	buf_deinit(&b);
}

/* put - a queue file for id in dir/sub (sender, one recipient). */
static void
put(const char *dir, const char *sub, const char *id, const char *rcpt)
{
	struct queue_envelope env;
	struct queue_writer w;
	char arrival[QUEUE_ARRIVAL_BYTES], *p;
	int fd;

	p = xasprintf("%s/%s/%s", dir, sub, id);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	queue_envelope_init_local(&env, id, arrival, "ESMTP", "smtp",
	    "s@example.org");
	queue_envelope_add_rcpt(&env, rcpt, NULL, NULL);
	queue_writer_init(&w, fd);
	assert_int_equal(queue_writer_envelope(&w, &env), 0);
	assert_int_equal(queue_writer_content(&w, "Subject: x\r\n\r\n", 14), 0);
	assert_int_equal(queue_writer_finish(&w), 0);
	queue_writer_deinit(&w);
	free(env.rcpts[0].addr);
	free(env.rcpts);
	close(fd);
	free(p);
}

static void
write_text(const char *dir, const char *sub, const char *name,
    const char *text)
{
	char *p = xasprintf("%s/%s/%s", dir, sub, name);
	FILE *f = fopen(p, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	free(p);
}

static char *
list_all(const char *dir, enum queue_listing_format format, char **err_r,
    int *failed_r)
{
	struct queue_listing *ql = queue_listing_open(dir, 1 << 20, format);
	struct buf out, err;
	char *s;
	int n = 0;

	buf_init(&out, 1 << 20);
	buf_init(&err, 1 << 20);
	while (queue_listing_next(ql, &out, &err))
		assert_true(++n < 100);
	*failed_r = queue_listing_failed(ql);
	queue_listing_free(ql);
	s = xstrdup(buf_cstr(&out));
	*err_r = xstrdup(buf_cstr(&err));
	buf_deinit(&out);
	buf_deinit(&err);
	return s;
}

static void
test_listing(void **state)
{
	char dir[] = "/tmp/ostia-qlist-XXXXXX", *out, *err, *p;
	static const char *const subs[] = {
		QUEUE_INCOMING_DIR, QUEUE_DEFERRED_DIR, QUEUE_HOLD_DIR,
		QUEUE_STATUS_DIR, QUEUE_CORRUPT_DIR,
	};
	int failed;

	(void)state;
	assert_non_null(mkdtemp(dir));
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		p = xasprintf("%s/%s", dir, subs[i]);
		assert_int_equal(mkdir(p, 0700), 0);
		free(p);
	}
	/* Empty. */
	out = list_all(dir, QUEUE_LISTING_TEXT, &err, &failed);
	assert_string_equal(out, "Mail queue is empty\n");
	assert_string_equal(err, "");
	free(out);
	free(err);
	out = list_all(dir, QUEUE_LISTING_JSON, &err, &failed);
	assert_string_equal(out, "");
	free(out);
	free(err);

	put(dir, QUEUE_DEFERRED_DIR, "2KPX7KFS1000079H", "r\"1@example.net");
	put(dir, QUEUE_HOLD_DIR, "2KPX7KFS1000079J", "r2@example.net");
	write_text(dir, QUEUE_INCOMING_DIR, "2KPX7KFS1000079K", "not a queue "
	    "file\n");

	out = list_all(dir, QUEUE_LISTING_TEXT, &err, &failed);
	assert_true(failed);
	assert_non_null(strstr(err, "2KPX7KFS1000079K: not a valid queue "
	    "file"));
	assert_null(strstr(out, "2KPX7KFS1000079K"));
	assert_non_null(strstr(out, "-Queue ID-"));
	assert_non_null(strstr(out, "2KPX7KFS1000079H "));
	assert_non_null(strstr(out, "2KPX7KFS1000079J!"));
	assert_non_null(strstr(out, "r\"1@example.net\n"));
	assert_non_null(strstr(out, "in 2 Requests.\n"));
	free(out);
	free(err);

	out = list_all(dir, QUEUE_LISTING_JSON, &err, &failed);
	assert_non_null(strstr(out, "{\"queue_name\": \"deferred\", "
	    "\"queue_id\": \"2KPX7KFS1000079H\", \"arrival_time\": "));
	assert_non_null(strstr(out, "\"forced_expire\": false, \"sender\": "
	    "\"s@example.org\", \"recipients\": [{\"address\": "
	    "\"r\\\"1@example.net\"}]}\n"));
	assert_non_null(strstr(out, "\"queue_name\": \"hold\""));
	assert_null(strstr(out, "Requests"));
	free(out);
	free(err);

	p = xasprintf("rm -rf '%s'", dir);
	assert_int_equal(system(p), 0);
	free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_string),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_listing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
