/* SPDX-License-Identifier: MIT */
/*
 * test_ipc - frames over a socketpair (src/lib/ipc.c): the buffered
 * writer fed partial writes (a small send buffer), descriptors going
 * with their frames, its bounds and errors, and ipc_conn_read.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ipc.h"

/* pair - a connected non-blocking stream pair; a small send buffer on
 * sv[0] when small_sndbuf. */
static void
pair(int sv[2], bool small_sndbuf)
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0, sv), 0);
	if (small_sndbuf) {
		int sz = 1;	/* the kernel's minimum */

		assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz,
		    sizeof(sz)), 0);
	}
}

static size_t
open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* Frame i: type 100 + i % 7, payload i bytes-ish of a pattern of i, a
 * descriptor (an eventfd counting i + 1) on every third. */
static size_t
frame_len(size_t i)
{
	return (i * 397) % (IPC_PAYLOAD_MAX_BYTES - 8);
}

static void
build_frame(size_t i, struct ipc_out *o)
{
	size_t len = frame_len(i);

	ipc_out_init(o);
	ipc_put_u32(o, (uint32_t)i);
	ipc_put_u32(o, (uint32_t)len);
	for (size_t k = 0; k < len; k++) {
		o->data[o->len + k] = (uint8_t)(i + k);
	}
	o->len += len;
}

static void
check_frame(size_t i, uint32_t type, struct ipc_in *in, int fd)
{
	uint32_t len;

	assert_int_equal(type, 100 + i % 7);
	assert_int_equal(ipc_get_u32(in), i);
	len = ipc_get_u32(in);
	assert_int_equal(len, frame_len(i));
	assert_int_equal(in->len - in->off, len);
	for (size_t k = 0; k < len; k++)
		assert_int_equal(in->data[in->off + k], (uint8_t)(i + k));
	if (i % 3 == 0) {
		uint64_t v = 0;

		assert_true(fd >= 0);
		assert_int_equal(read(fd, &v, sizeof(v)), sizeof(v));
		assert_int_equal(v, i + 1);
		close(fd);
	} else {
		assert_int_equal(fd, -1);
	}
}

/*
 * Many frames into a small send buffer: some go at once, some in part,
 * the rest wait; the reader takes them in order with their descriptors
 * while the writer flushes.  The caller's descriptors are closed right
 * after put (the writer keeps its own copies).
 */
/* mid_frame - sent bytes end inside a frame (ends: cumulative frame
 * ends, n of them). */
static bool
mid_frame(const size_t *ends, size_t n, size_t sent)
{
	if (sent == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (ends[i] == sent)
			return false;
	return true;
}

static void
test_writer_partial(void **state)
{
	enum { N = 300 };
	struct ipc_writer w;
	struct ipc_conn c;
	int sv[2];
	size_t next = 0, before, pend_frames = 0, ends[N], total = 0;
	bool split = false, waited_fd = false;

	(void)state;
	before = open_fds();
	pair(sv, true);
	ipc_writer_init(&w, sv[0], 16 * 1024 * 1024);
	ipc_conn_init(&c, sv[1]);
	for (size_t i = 0; i < N; i++) {
		struct ipc_out o;
		int fd = -1;

		build_frame(i, &o);
		if (i % 3 == 0)
			assert_true((fd = eventfd((unsigned)i + 1,
			    EFD_CLOEXEC)) >= 0);
		assert_int_equal(ipc_writer_put(&w, 100 + i % 7, &o, fd), 0);
		total += IPC_HEADER_BYTES + o.len;
		ends[i] = total;
		if (mid_frame(ends, i + 1, total - ipc_writer_pending(&w)))
			split = true;
		if (ipc_writer_pending(&w) > 0 && fd >= 0)
			waited_fd = true;
		if (fd >= 0)
			close(fd);
		if (ipc_writer_pending(&w) > 0)
			pend_frames++;
	}
	assert_true(waited_fd);
	assert_true(pend_frames > N / 2);
	/* Read and flush by turns until everything arrived. */
	while (next < N) {
		uint32_t type;
		struct ipc_in in;
		int r, fd;

		r = ipc_conn_read(&c);
		assert_true(r >= 0);
		while ((r = ipc_conn_next(&c, &type, &in, &fd)) == 1)
			check_frame(next++, type, &in, fd);
		assert_int_equal(r, 0);
		assert_true(c.nfds <= 1);
		r = ipc_writer_flush(&w);
		assert_true(r == 0 || r == 1);
		if (r == 0)
			assert_int_equal(ipc_writer_pending(&w), 0);
		if (mid_frame(ends, N, total - ipc_writer_pending(&w)))
			split = true;
	}
	/* The socket took part of a frame at least once. */
	assert_true(split);
	assert_int_equal(ipc_writer_flush(&w), 0);
	assert_int_equal(ipc_conn_read(&c), 0);
	assert_false(c.eof);
	ipc_writer_deinit(&w);
	ipc_conn_deinit(&c);
	close(sv[0]);
	close(sv[1]);
	/* Every duplicate was closed once sent. */
	assert_int_equal(open_fds(), before);
}

/* Frames to a peer that reads nothing: the bound holds, nothing half. */
static void
test_writer_max(void **state)
{
	struct ipc_writer w;
	struct ipc_out o;
	int sv[2], r;
	size_t n = 0;

	(void)state;
	pair(sv, true);
	ipc_writer_init(&w, sv[0], 64 * 1024);
	ipc_out_init(&o);
	ipc_put_str(&o, "a payload of some length, to fill the buffer");
	while ((r = ipc_writer_put(&w, 1, &o, -1)) == 0)
		n++;
	assert_int_equal(errno, ENOBUFS);
	assert_true(n > 10);
	assert_true(ipc_writer_pending(&w) <= 64 * 1024);
	assert_true(ipc_writer_pending(&w) + IPC_HEADER_BYTES + o.len >
	    64 * 1024);
	/* The overflowing payload is refused before anything. */
	o.overflow = true;
	assert_int_equal(ipc_writer_put(&w, 1, &o, -1), -1);
	assert_int_equal(errno, EMSGSIZE);
	assert_int_equal(ipc_writer_flush(&w), 1);
	ipc_writer_deinit(&w);
	close(sv[0]);
	close(sv[1]);
}

/* The peer goes away: put or flush fails; waiting duplicates are closed
 * by deinit. */
static void
test_writer_peer_gone(void **state)
{
	struct ipc_writer w;
	struct ipc_out o;
	int sv[2], fd;
	size_t before;

	(void)state;
	before = open_fds();
	pair(sv, true);
	ipc_writer_init(&w, sv[0], 1024 * 1024);
	ipc_out_init(&o);
	for (int i = 0; i < 200; i++)
		ipc_put_u64(&o, (uint64_t)i);
	while (ipc_writer_pending(&w) == 0)
		assert_int_equal(ipc_writer_put(&w, 1, &o, -1), 0);
	assert_true((fd = eventfd(0, EFD_CLOEXEC)) >= 0);
	assert_int_equal(ipc_writer_put(&w, 2, &o, fd), 0);
	close(fd);
	assert_int_equal(open_fds(), before + 3);	/* pair + duplicate */
	close(sv[1]);
	assert_int_equal(ipc_writer_flush(&w), -1);
	assert_true(errno == EPIPE || errno == ECONNRESET);
	ipc_writer_deinit(&w);
	close(sv[0]);
	assert_int_equal(open_fds(), before);

	/* Nothing waiting: put itself reports the error. */
	pair(sv, false);
	ipc_writer_init(&w, sv[0], 1024 * 1024);
	close(sv[1]);
	assert_int_equal(ipc_writer_put(&w, 1, &o, -1), -1);
	assert_true(errno == EPIPE || errno == ECONNRESET);
	ipc_writer_deinit(&w);
	close(sv[0]);
}

/* ipc_conn_read: 1 when bytes came, 0 when none, eof at the end. */
static void
test_conn_read(void **state)
{
	struct ipc_conn c;
	struct ipc_in in;
	uint32_t type;
	int sv[2], fd;

	(void)state;
	pair(sv, false);
	ipc_conn_init(&c, sv[1]);
	assert_int_equal(ipc_conn_read(&c), 0);
	assert_false(c.eof);
	assert_int_equal(ipc_send(sv[0], 9, NULL, -1), 0);
	assert_int_equal(ipc_conn_read(&c), 1);
	assert_int_equal(ipc_conn_next(&c, &type, &in, &fd), 1);
	assert_int_equal(type, 9);
	assert_true(ipc_in_done(&in));
	assert_int_equal(ipc_conn_next(&c, &type, &in, &fd), 0);
	close(sv[0]);
	assert_int_equal(ipc_conn_read(&c), 0);
	assert_true(c.eof);
	ipc_conn_deinit(&c);
	close(sv[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writer_partial),
		cmocka_unit_test(test_writer_max),
		cmocka_unit_test(test_writer_peer_gone),
		cmocka_unit_test(test_conn_read),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
