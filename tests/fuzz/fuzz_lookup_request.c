/* SPDX-License-Identifier: MIT */
/*
 * fuzz_lookup_request - the lookup process's request decoders
 * (lookup_proto_get_decode, including LOOKUP_F_VERIFY requests with
 * their password field; lookup_proto_find_decode;
 * lookup_proto_route_decode; lookup_proto_anvil_decode) on arbitrary
 * payloads, and the same bytes
 * as a stream of frames through an ipc_conn sized for the largest
 * request, as the lookup process reads a client; and the ROUTE answer
 * parser (lookup_route_answer_parse) on the same bytes as text.
 *
 * Checks beyond "no crash": a payload that decodes re-encodes to the
 * same bytes (the decoder accepts nothing the encoder could not have
 * written), decoded fields respect their limits, and the reply decoder
 * holds the same promise for its frames.  A ROUTE answer that parses
 * formats again (unless it only lacks the reject code of an unlisted
 * recipient) and that text parses to the same answer.  An ANVIL
 * answer ("count=N rate=N") that parses prints back to the same text.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "ipc.h"
#include "lookup_client.h"
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

static void
check_find(const uint8_t *data, size_t size)
{
	struct ipc_in in;
	struct lookup_find f;
	const char *err = NULL;
	struct buf b;

	ipc_in_init(&in, data, size);
	if (lookup_proto_find_decode(&in, &f, &err) < 0) {
		if (err == NULL)
			abort();
		return;
	}
	if (strlen(f.tables) == 0 ||
	    strlen(f.tables) > LOOKUP_TABLES_MAX_BYTES ||
	    strlen(f.key) > DICT_KEY_MAX_BYTES ||
	    (f.flags & ~(uint32_t)LOOKUP_F_FIND_ALL) != 0 ||
	    !lookup_find_args_ok((uint32_t)f.order, f.mflags, f.delimiters))
		abort();
	buf_init(&b, IPC_HEADER_BYTES + LOOKUP_REQUEST_MAX_BYTES);
	if (lookup_proto_put_find(&b, f.id, f.flags, f.order, f.mflags,
	    f.tables, f.key, f.delimiters) < 0 ||
	    b.len != IPC_HEADER_BYTES + size ||
	    memcmp(b.data + IPC_HEADER_BYTES, data, size) != 0)
		abort();
	buf_deinit(&b);
	lookup_find_deinit(&f);
}

static void
check_route(const uint8_t *data, size_t size)
{
	struct ipc_in in;
	struct lookup_route q;
	const char *err = NULL;
	struct buf b;

	ipc_in_init(&in, data, size);
	if (lookup_proto_route_decode(&in, &q, &err) < 0) {
		if (err == NULL)
			abort();
		return;
	}
	if (strlen(q.service) > LOOKUP_SERVICE_MAX_BYTES ||
	    strlen(q.address) > ROUTE_ADDRESS_MAX_BYTES ||
	    (q.flags & ~(uint32_t)LOOKUP_F_ROUTE_ALL) != 0 ||
	    q.op < LOOKUP_ROUTE_RESOLVE || q.op > LOOKUP_ROUTE_OP_LAST)
		abort();
	buf_init(&b, IPC_HEADER_BYTES + LOOKUP_REQUEST_MAX_BYTES);
	if (lookup_proto_put_route(&b, q.id, q.flags, q.op, q.service,
	    q.address) < 0 ||
	    b.len != IPC_HEADER_BYTES + size ||
	    memcmp(b.data + IPC_HEADER_BYTES, data, size) != 0)
		abort();
	buf_deinit(&b);
	lookup_route_deinit(&q);
}

static void
check_anvil(const uint8_t *data, size_t size)
{
	struct ipc_in in;
	struct lookup_anvil a;
	const char *err = NULL;
	struct buf b;

	ipc_in_init(&in, data, size);
	if (lookup_proto_anvil_decode(&in, &a, &err) < 0) {
		if (err == NULL)
			abort();
		return;
	}
	if (strlen(a.key) == 0 || strlen(a.key) > LOOKUP_ANVIL_KEY_MAX_BYTES ||
	    a.op < LOOKUP_ANVIL_CONNECT || a.op > LOOKUP_ANVIL_OP_LAST)
		abort();
	buf_init(&b, IPC_HEADER_BYTES + LOOKUP_ANVIL_MAX_BYTES);
	if (lookup_proto_put_anvil(&b, a.id, a.op, a.key) < 0 ||
	    b.len != IPC_HEADER_BYTES + size ||
	    memcmp(b.data + IPC_HEADER_BYTES, data, size) != 0)
		abort();
	buf_deinit(&b);
	lookup_anvil_deinit(&a);
}

/* An ANVIL answer that parses is exactly what the lookup process
 * prints for its numbers. */
static void
check_anvil_answer(const uint8_t *data, size_t size)
{
	unsigned count, rate;
	char text[64];
	int n;

	if (lookup_anvil_answer_parse((const char *)data, size, &count,
	    &rate) < 0)
		return;
	n = snprintf(text, sizeof(text), "count=%u rate=%u", count, rate);
	/* Leading zeros parse too; nothing else differs. */
	if (n <= 0 || (size_t)n > size)
		abort();
	if ((size_t)n == size && memcmp(text, data, size) != 0)
		abort();
}

static bool
same_str(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static void
check_route_answer(const uint8_t *data, size_t size)
{
	struct lookup_route_answer a, a2;
	const char *err = NULL;
	struct buf b;
	size_t n = 0;

	if (lookup_route_answer_parse((const char *)data, size, &a) < 0)
		return;
	if (a.address == NULL || a.transport == NULL || a.nexthop == NULL ||
	    a.text == NULL || a.dsn == NULL ||
	    strlen(a.dsn) > LOOKUP_ROUTE_DSN_MAX_BYTES ||
	    strlen(a.address) > ROUTE_ADDRESS_MAX_BYTES ||
	    strlen(a.transport) > LOOKUP_ROUTE_TRANSPORT_MAX_BYTES ||
	    strlen(a.text) > LOOKUP_ROUTE_TEXT_MAX_BYTES)
		abort();
	buf_init(&b, DICT_VALUE_MAX_BYTES);
	if (lookup_route_answer_format(&a, &b, &err) < 0) {
		/* Only an unlisted answer without its code, or one that
		 * grew past the bound with the lines format always adds,
		 * may fail to format. */
		if (!(a.has_listed && !a.listed && a.code == 0) &&
		    size < DICT_VALUE_MAX_BYTES - 256)
			abort();
		goto out;
	}
	if (lookup_route_answer_parse(b.data, b.len, &a2) < 0)
		abort();
	if (a2.cls != a.cls || a2.flags != a.flags ||
	    !same_str(a2.address, a.address) ||
	    !same_str(a2.transport, a.transport) ||
	    !same_str(a2.nexthop, a.nexthop) ||
	    a2.has_listed != a.has_listed || a2.listed != a.listed ||
	    (a.has_listed && !a.listed && (a2.code != a.code ||
	    !same_str(a2.text, a.text) || !same_str(a2.dsn, a.dsn))) ||
	    (a.rcpts == NULL) != (a2.rcpts == NULL))
		abort();
	for (n = 0; a.rcpts != NULL && a.rcpts[n] != NULL; n++)
		if (!same_str(a.rcpts[n], a2.rcpts[n]))
			abort();
	if (a.rcpts != NULL && a2.rcpts[n] != NULL)
		abort();
	lookup_route_answer_deinit(&a2);
out:
	buf_deinit(&b);
	lookup_route_answer_deinit(&a);
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
	ipc_conn_init_max(&c, sv[1], LOOKUP_REQUEST_MAX_BYTES);
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
			struct lookup_find f;
			struct lookup_route q;
			struct lookup_anvil a;
			const char *err = NULL;

			if (fd >= 0)
				abort();	/* nobody sent one */
			if (type == LOOKUP_MSG_GET &&
			    lookup_proto_get_decode(&in, &g, &err) == 0)
				lookup_get_deinit(&g);
			if (type == LOOKUP_MSG_FIND &&
			    lookup_proto_find_decode(&in, &f, &err) == 0)
				lookup_find_deinit(&f);
			if (type == LOOKUP_MSG_ROUTE &&
			    lookup_proto_route_decode(&in, &q, &err) == 0)
				lookup_route_deinit(&q);
			if (type == LOOKUP_MSG_ANVIL &&
			    lookup_proto_anvil_decode(&in, &a, &err) == 0)
				lookup_anvil_deinit(&a);
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
	check_find(data, size);
	check_route(data, size);
	check_anvil(data, size);
	check_anvil_answer(data, size);
	check_reply(data, size);
	check_route_answer(data, size);
	check_stream(data, size);
	return 0;
}
