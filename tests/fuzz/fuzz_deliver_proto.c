/* SPDX-License-Identifier: MIT */
/*
 * fuzz_deliver_proto - the delivery protocol's decoders
 * (deliver_req_decode, deliver_rcpt_decode, deliver_result_decode) on
 * arbitrary payloads, and the same bytes as a stream of frames through
 * an ipc_conn, as a delivery agent and the queue manager read them.
 *
 * Checks beyond "no crash": a payload that decodes re-encodes to the
 * same bytes (the decoder accepts nothing the encoder would refuse),
 * and decoded fields hold their promises (lengths, no control
 * characters, counts and flags in range, a DSN that fits the status).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "deliver_proto.h"
#include "ipc.h"
#include "queue_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* field_ok - at most max bytes, no control character. */
static void
field_ok(const char *s, size_t max)
{
	size_t n;

	if (s == NULL)
		abort();
	for (n = 0; s[n] != '\0'; n++)
		if ((unsigned char)s[n] < 0x20 || s[n] == 0x7f)
			abort();
	if (n > max)
		abort();
}

static void
same_bytes(const struct ipc_out *o, const uint8_t *data, size_t size)
{
	if (o->len != size || memcmp(o->data, data, size) != 0)
		abort();
}

static void
check_req(const uint8_t *data, size_t size)
{
	struct deliver_req r;
	struct ipc_in in;
	struct ipc_out o;
	const char *err = NULL;

	ipc_in_init(&in, data, size);
	if (deliver_req_decode(&in, &r, &err) < 0) {
		if (err == NULL || r.queue_id != NULL)
			abort();
		return;
	}
	if (!queue_id_is_valid(r.queue_id) || r.rcpts != NULL ||
	    r.nrcpts < 1 || r.nrcpts > DELIVER_RCPTS_MAX ||
	    (r.flags & ~DELIVER_F_ALL) != 0 || r.transport[0] == '\0')
		abort();
	field_ok(r.transport, DELIVER_TRANSPORT_MAX);
	field_ok(r.nexthop, DELIVER_FIELD_MAX);
	field_ok(r.sender, DELIVER_FIELD_MAX);
	field_ok(r.envid, DELIVER_FIELD_MAX);
	field_ok(r.ret, 4);
	field_ok(r.client_name, DELIVER_FIELD_MAX);
	field_ok(r.client_addr, DELIVER_FIELD_MAX);
	field_ok(r.helo, DELIVER_FIELD_MAX);
	field_ok(r.protocol, DELIVER_FIELD_MAX);
	field_ok(r.sasl_user, DELIVER_FIELD_MAX);
	if (strchr(r.transport, '/') != NULL)
		abort();
	if (deliver_req_encode(&r, &o) < 0)
		abort();
	same_bytes(&o, data, size);
	deliver_req_free(&r);
}

static void
check_rcpt(const uint8_t *data, size_t size)
{
	struct deliver_rcpt r;
	struct ipc_in in;
	struct ipc_out o;
	const char *err = NULL;

	ipc_in_init(&in, data, size);
	if (deliver_rcpt_decode(&in, &r, &err) < 0) {
		if (err == NULL || r.address != NULL)
			abort();
		return;
	}
	field_ok(r.address, DELIVER_FIELD_MAX);
	field_ok(r.orig_rcpt, DELIVER_FIELD_MAX);
	field_ok(r.orcpt, DELIVER_FIELD_MAX);
	if (r.address[0] == '\0' || (r.notify & ~DELIVER_NOTIFY_ALL) != 0 ||
	    ((r.notify & DELIVER_NOTIFY_NEVER) != 0 &&
	    r.notify != DELIVER_NOTIFY_NEVER))
		abort();
	if (deliver_rcpt_encode(&r, &o) < 0)
		abort();
	same_bytes(&o, data, size);
	deliver_rcpt_free(&r);
}

static void
check_result(const uint8_t *data, size_t size)
{
	struct deliver_result r;
	struct ipc_in in;
	struct ipc_out o;
	const char *err = NULL;

	ipc_in_init(&in, data, size);
	if (deliver_result_decode(&in, &r, &err) < 0) {
		if (err == NULL || r.dsn != NULL)
			abort();
		return;
	}
	if (!deliver_dsn_valid(r.dsn, r.status) || r.dsn[0] !=
	    (r.status == DELIVER_OK ? '2' : r.status == DELIVER_DEFER ? '4' :
	    '5'))
		abort();
	field_ok(r.remote, DELIVER_FIELD_MAX);
	field_ok(r.text, DELIVER_FIELD_MAX);
	if (deliver_result_encode(&r, &o) < 0)
		abort();
	same_bytes(&o, data, size);
	deliver_result_free(&r);
}

static void
check_forward(const uint8_t *data, size_t size)
{
	struct deliver_forward r;
	struct ipc_in in;
	struct ipc_out o;
	const char *err = NULL;

	ipc_in_init(&in, data, size);
	if (deliver_forward_decode(&in, &r, &err) < 0) {
		if (err == NULL || r.address != NULL)
			abort();
		return;
	}
	if (r.address[0] == '\0')
		abort();
	field_ok(r.address, DELIVER_FIELD_MAX);
	if (deliver_forward_encode(&r, &o) < 0)
		abort();
	same_bytes(&o, data, size);
	deliver_forward_free(&r);
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
	ipc_conn_init(&c, sv[1]);
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
		while ((r = ipc_conn_next(&c, &type, &in, &fd)) == 1) {
			struct deliver_req q;
			struct deliver_rcpt p;
			struct deliver_result s;
			const char *err = NULL;

			if (fd >= 0)
				abort();	/* nobody sent one */
			if (type == DELIVER_MSG_REQ &&
			    deliver_req_decode(&in, &q, &err) == 0)
				deliver_req_free(&q);
			if (type == DELIVER_MSG_RCPT &&
			    deliver_rcpt_decode(&in, &p, &err) == 0)
				deliver_rcpt_free(&p);
			if (type == DELIVER_MSG_STATUS &&
			    deliver_result_decode(&in, &s, &err) == 0)
				deliver_result_free(&s);
			if (type == DELIVER_MSG_FORWARD) {
				struct deliver_forward w;

				if (deliver_forward_decode(&in, &w, &err) == 0)
					deliver_forward_free(&w);
			}
			if (type == DELIVER_MSG_DONE && in.len != 0)
				(void)ipc_in_done(&in);
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
	if (size > IPC_PAYLOAD_MAX_BYTES * 4)
		return 0;
	check_req(data, size);
	check_rcpt(data, size);
	check_result(data, size);
	check_forward(data, size);
	check_stream(data, size);
	return 0;
}
