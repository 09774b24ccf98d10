/* SPDX-License-Identifier: MIT */
/*
 * test_buf - the bounded buffer (src/lib/buf.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "compat.h"
#include "log.h"

/* assert_contents - b holds exactly len bytes p, NUL-terminated. */
static void
assert_contents(const struct buf *b, const void *p, size_t len)
{
	assert_int_equal(b->len, len);
	assert_memory_equal(buf_cstr(b), p, len);
	assert_int_equal(buf_cstr(b)[len], '\0');
}

static void
test_empty(void **state)
{
	struct buf b;

	buf_init(&b, 100);
	assert_string_equal(buf_cstr(&b), "");
	assert_int_equal(b.len, 0);
	assert_null(b.data);
	buf_reset(&b);
	buf_consume(&b, 0);
	assert_string_equal(buf_cstr(&b), "");
	buf_deinit(&b);
	buf_deinit(&b);
	assert_null(b.data);
}

static void
test_append(void **state)
{
	struct buf b;

	buf_init(&b, 1000);
	assert_int_equal(buf_append(&b, "ab", 2), 0);
	assert_int_equal(buf_append_str(&b, "cd"), 0);
	assert_int_equal(buf_append_c(&b, 'e'), 0);
	assert_int_equal(buf_append(&b, "", 0), 0);
	assert_contents(&b, "abcde", 5);
	/* Binary data, NUL included. */
	assert_int_equal(buf_append(&b, "x\0y", 3), 0);
	assert_contents(&b, "abcdex\0y", 8);
	/* Growth keeps the contents. */
	for (int i = 0; i < 900; i++)
		assert_int_equal(buf_append_c(&b, (char)('0' + i % 10)), 0);
	assert_int_equal(b.len, 908);
	assert_memory_equal(buf_cstr(&b), "abcdex\0y0123456789", 18);
	assert_int_equal(buf_cstr(&b)[907], '9');
	assert_true(b.cap >= b.len + 1);
	assert_true(b.cap <= b.max + 1);
	buf_deinit(&b);
}

/* The maximum is enforced exactly: max bytes fit, max + 1 do not. */
static void
test_max_boundary(void **state)
{
	static const size_t maxes[] = { 0, 1, 10, 63, 64, 65, 200 };

	for (size_t i = 0; i < N_ELEMENTS(maxes); i++) {
		size_t max = maxes[i];
		char *fill = malloc(max + 2);
		struct buf b;

		memset(fill, 'x', max + 2);
		/* All at once: max + 1 fails, max fits. */
		buf_init(&b, max);
		assert_int_equal(buf_append(&b, fill, max + 1), -1);
		assert_int_equal(b.len, 0);
		assert_string_equal(buf_cstr(&b), "");
		assert_int_equal(buf_append(&b, fill, max), 0);
		assert_contents(&b, fill, max);
		/* One more byte in any form fails and changes nothing. */
		assert_int_equal(buf_append_c(&b, 'y'), -1);
		assert_int_equal(buf_append_str(&b, "y"), -1);
		assert_int_equal(buf_append(&b, "y", 1), -1);
		assert_int_equal(buf_appendf(&b, "%c", 'y'), -1);
		assert_contents(&b, fill, max);
		/* An empty append still fits. */
		assert_int_equal(buf_append(&b, "", 0), 0);
		assert_int_equal(buf_appendf(&b, "%s", ""), 0);
		assert_contents(&b, fill, max);
		assert_true(b.cap <= max + 1);
		buf_deinit(&b);

		/* Byte by byte: the same boundary. */
		buf_init(&b, max);
		for (size_t j = 0; j < max; j++)
			assert_int_equal(buf_append_c(&b, 'x'), 0);
		assert_int_equal(buf_append_c(&b, 'x'), -1);
		assert_contents(&b, fill, max);
		buf_deinit(&b);
		free(fill);
	}
}

/* A huge n must not wrap around the length check. */
static void
test_append_overflow(void **state)
{
	struct buf b;

	buf_init(&b, 16);
	assert_int_equal(buf_append(&b, "abc", 3), 0);
	assert_int_equal(buf_append(&b, "abc", SIZE_MAX), -1);
	assert_int_equal(buf_append(&b, "abc", SIZE_MAX - 2), -1);
	assert_contents(&b, "abc", 3);
	buf_deinit(&b);
}

/* A maximum of SIZE_MAX means "no practical limit" and must still work. */
static void
test_max_size_max(void **state)
{
	struct buf b;

	buf_init(&b, SIZE_MAX);
	for (int i = 0; i < 100; i++)
		assert_int_equal(buf_append_str(&b, "0123456789"), 0);
	assert_int_equal(b.len, 1000);
	assert_true(b.cap >= 1001);
	assert_memory_equal(buf_cstr(&b) + 990, "0123456789", 11);
	buf_deinit(&b);
}

static void
test_appendf(void **state)
{
	struct buf b;

	buf_init(&b, 12);
	assert_int_equal(buf_appendf(&b, "%d-%s", 42, "abc"), 0);
	assert_contents(&b, "42-abc", 6);
	/* Would end at 13 bytes: refused, buffer unchanged. */
	assert_int_equal(buf_appendf(&b, "%s", "1234567"), -1);
	assert_contents(&b, "42-abc", 6);
	/* Ends exactly at the maximum. */
	assert_int_equal(buf_appendf(&b, "%06u", 7u), 0);
	assert_contents(&b, "42-abc000007", 12);
	assert_int_equal(buf_appendf(&b, "%s", "z"), -1);
	assert_contents(&b, "42-abc000007", 12);
	buf_deinit(&b);

	/* Past the first growth step of 64 bytes. */
	buf_init(&b, 1000);
	assert_int_equal(buf_appendf(&b, "%0200d|", 5), 0);
	assert_int_equal(b.len, 201);
	assert_int_equal(buf_cstr(&b)[199], '5');
	assert_int_equal(buf_cstr(&b)[200], '|');
	buf_deinit(&b);
}

static void
test_steal(void **state)
{
	struct buf b;
	char *s;

	buf_init(&b, 100);
	s = buf_steal(&b);	/* never NULL, even when empty */
	assert_non_null(s);
	assert_string_equal(s, "");
	free(s);

	assert_int_equal(buf_append_str(&b, "hello"), 0);
	s = buf_steal(&b);
	assert_string_equal(s, "hello");
	assert_int_equal(b.len, 0);
	assert_null(b.data);
	assert_string_equal(buf_cstr(&b), "");
	/* The buffer is usable again, with the same maximum. */
	assert_int_equal(b.max, 100);
	assert_int_equal(buf_append_str(&b, "again"), 0);
	assert_contents(&b, "again", 5);
	free(s);
	buf_deinit(&b);
}

static void
test_consume(void **state)
{
	char fill[100];
	struct buf b;

	buf_init(&b, 100);
	assert_int_equal(buf_append_str(&b, "line one\r\nrest"), 0);
	buf_consume(&b, 0);
	assert_contents(&b, "line one\r\nrest", 14);
	buf_consume(&b, 10);
	assert_contents(&b, "rest", 4);
	assert_int_equal(buf_append_str(&b, "+more"), 0);
	assert_contents(&b, "rest+more", 9);
	buf_consume(&b, 9);
	assert_contents(&b, "", 0);
	/* Space freed by consume counts again towards the maximum. */
	memset(fill, 'z', sizeof(fill));
	assert_int_equal(buf_append(&b, fill, 100), 0);
	assert_int_equal(buf_append_c(&b, 'z'), -1);
	buf_consume(&b, 50);
	assert_int_equal(buf_append(&b, fill, 51), -1);
	assert_int_equal(buf_append(&b, fill, 50), 0);
	assert_int_equal(b.len, 100);
	buf_deinit(&b);
}

/* Consuming more than the buffer holds is a bug: panic (abort). */
static void
test_consume_too_much(void **state)
{
	pid_t pid;
	int status;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct buf b;
		int null = open("/dev/null", O_WRONLY);
		struct rlimit rl = { 0, 0 };

		/* An expected abort should not leave a core file behind. */
		setrlimit(RLIMIT_CORE, &rl);

		log_use_fd(null);
		buf_init(&b, 10);
		if (buf_append_str(&b, "abc") == 0)
			buf_consume(&b, 4);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
}

/* Sensitive buffers are wiped on reset; ordinary ones are not. */
static void
test_sensitive_reset(void **state)
{
	struct buf b;

	buf_init(&b, 100);
	assert_int_equal(buf_append_str(&b, "secret"), 0);
	buf_reset(&b);
	assert_contents(&b, "", 0);
	/* Memory kept, old bytes still there (the control case). */
	assert_non_null(b.data);
	assert_memory_equal(b.data + 1, "ecret", 5);
	buf_deinit(&b);

	buf_init(&b, 100);
	buf_set_sensitive(&b);
	assert_true(b.sensitive);
	assert_int_equal(buf_append_str(&b, "secret"), 0);
	buf_reset(&b);
	assert_contents(&b, "", 0);
	assert_non_null(b.data);
	for (size_t i = 0; i < b.cap; i++)
		assert_int_equal(b.data[i], 0);
	/* Still usable after the wipe. */
	assert_int_equal(buf_append_str(&b, "next"), 0);
	assert_contents(&b, "next", 4);
	buf_deinit(&b);
	assert_null(b.data);
}

/* Consume leaves no copy of the dropped secret behind the terminator. */
static void
test_sensitive_consume(void **state)
{
	struct buf b;
	size_t old;

	buf_init(&b, 100);
	buf_set_sensitive(&b);
	assert_int_equal(buf_append_str(&b, "AUTH PLAIN c2VjcmV0"), 0);
	old = b.len;
	buf_consume(&b, 11);
	assert_contents(&b, "c2VjcmV0", 8);
	for (size_t i = b.len + 1; i <= old; i++)
		assert_int_equal(b.data[i], 0);
	buf_deinit(&b);
}

/* Growth of a sensitive buffer keeps the contents. */
static void
test_sensitive_grow(void **state)
{
	struct buf b;

	buf_init(&b, 10000);
	buf_set_sensitive(&b);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(buf_appendf(&b, "%d", i % 10), 0);
	assert_int_equal(b.len, 1000);
	for (size_t i = 0; i < b.len; i++)
		assert_int_equal(buf_cstr(&b)[i], '0' + (int)(i % 10));
	buf_deinit(&b);
}

/* buf_send: all out, partly out (socket full), peer gone. */
static void
test_send(void **state)
{
	int sv[2];
	struct buf b;
	size_t off = 0;
	char big[4096], got[64];
	int r;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
	    sv), 0);
	buf_init(&b, 1 << 24);
	assert_int_equal(buf_append(&b, "hello", 5), 0);
	assert_int_equal(buf_send(&b, &off, sv[0]), 1);
	assert_int_equal(b.len, 0);
	assert_int_equal(off, 0);
	assert_int_equal(read(sv[1], got, sizeof(got)), 5);
	assert_memory_equal(got, "hello", 5);
	/* More than the socket takes: some remains, in order. */
	memset(big, 'x', sizeof(big));
	for (int i = 0; i < 1024; i++)
		assert_int_equal(buf_append(&b, big, sizeof(big)), 0);
	r = buf_send(&b, &off, sv[0]);
	assert_int_equal(r, 0);
	assert_true(b.len - off > 0 && b.len - off < 1024 * sizeof(big));
	/* The peer goes away: an error, not a hang. */
	close(sv[1]);
	assert_int_equal(buf_send(&b, &off, sv[0]), -1);
	close(sv[0]);
	buf_deinit(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_send),
		cmocka_unit_test(test_append),
		cmocka_unit_test(test_max_boundary),
		cmocka_unit_test(test_append_overflow),
		cmocka_unit_test(test_max_size_max),
		cmocka_unit_test(test_appendf),
		cmocka_unit_test(test_steal),
		cmocka_unit_test(test_consume),
		cmocka_unit_test(test_consume_too_much),
		cmocka_unit_test(test_sensitive_reset),
		cmocka_unit_test(test_sensitive_consume),
		cmocka_unit_test(test_sensitive_grow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
