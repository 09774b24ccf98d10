/* SPDX-License-Identifier: MIT */
/*
 * fuzz_lookup_request - the lookup process's request decoder
 * (lookup_proto_get_decode, including LOOKUP_F_VERIFY requests with
 * their password field) on arbitrary payloads, and the same bytes
 * as a stream of frames through an ipc_conn sized for GETs, as the
 * lookup process reads a client.
 *
 * Checks beyond "no crash": a payload that decodes re-encodes to the
 * same bytes (the decoder accepts nothing the encoder could not have
 * written), decoded fields respect their limits, and the reply decoder
 * holds the same promise for its frames.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "ipc.h"
#include "lookup_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_get(const uint8_t *data, size_t size)
{
	struct ipc_in in;
	struct lookup_get g;
	const char *err = NULL;
	struct buf b;

	ipc_in_init(&in, data, size);
	if (lookup_proto_get_decode(&in, &g, &err) < 0) {
		if (err == NULL)
			abort();
		return;
	}
	if (strlen(g.table) == 0 || strlen(g.table) > DICT_SPEC_MAX_BYTES ||
	    strlen(g.key) > DICT_KEY_MAX_BYTES ||
	    (g.flags & ~LOOKUP_F_ALL) != 0 ||
	    ((g.flags & LOOKUP_F_VERIFY) != 0) != (g.password != NULL) ||
	    (g.password != NULL &&
	    strlen(g.password) > LOOKUP_PASSWORD_MAX_BYTES))
		abort();
	buf_init(&b, IPC_HEADER_BYTES + LOOKUP_GET_MAX_BYTES);
	if (lookup_proto_put_request(&b, g.id, g.flags, g.table, g.key,
	    g.password) < 0 ||
	    b.len != IPC_HEADER_BYTES + size ||
	    memcmp(b.data + IPC_HEADER_BYTES, data, size) != 0)
		abort();
	buf_deinit(&b);
	lookup_get_deinit(&g);
}

static void
check_reply(const uint8_t *data, size_t size)
{
	struct ipc_in in;
	struct lookup_reply r;
	const char *err = NULL;
	struct buf b;

	ipc_in_init(&in, data, size);
	if (lookup_proto_reply_decode(&in, &r, &err) < 0) {
		if (err == NULL)
			abort();
		return;
	}
	buf_init(&b, IPC_HEADER_BYTES + LOOKUP_REPLY_MAX_BYTES);
	if (lookup_proto_put_reply(&b, r.id, r.status, r.text, r.len) < 0 ||
	    b.len != IPC_HEADER_BYTES + size ||
	    memcmp(b.data + IPC_HEADER_BYTES, data, size) != 0)
		abort();
	buf_deinit(&b);
	lookup_reply_deinit(&r);
}

/* The input as bytes on a socket: frames are taken until one is bad. */
static void
check_stream(const uint8_t *data, size_t size)
{
	struct ipc_conn c;
	int sv[2];
	size_t off = 0;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
		return;
	ipc_conn_init_max(&c, sv[1], LOOKUP_GET_MAX_BYTES);
	for (;;) {
		struct ipc_in in;
		uint32_t type;
		int fd, r;

		if (off < size) {
			ssize_t n = write(sv[0], data + off, size - off);

			if (n > 0)
				off += (size_t)n;
		} else if (sv[0] >= 0) {
			close(sv[0]);
			sv[0] = -1;
		}
		if (ipc_conn_fill_once(&c) < 0)
			break;
		if (c.in.len > c.in.max)
			abort();
		while ((r = ipc_conn_next(&c, &type, &in, &fd)) == 1) {
			struct lookup_get g;
			const char *err = NULL;

			if (fd >= 0)
				abort();	/* nobody sent one */
			if (type == LOOKUP_MSG_GET &&
			    lookup_proto_get_decode(&in, &g, &err) == 0)
				lookup_get_deinit(&g);
		}
		if (r < 0 || c.eof)
			break;
	}
	ipc_conn_deinit(&c);
	if (sv[0] >= 0)
		close(sv[0]);
	close(sv[1]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_get(data, size);
	check_reply(data, size);
	check_stream(data, size);
	return 0;
}
