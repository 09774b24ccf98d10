/* SPDX-License-Identifier: MIT */
/*
 * test_verify_proto - the VERIFY and VERIFY_REPLY payloads: round trips
 * (same bytes again), every field rule refused by the encoder and, in a
 * hand-made payload, by the decoder; every truncated payload and one
 * with a byte too many; and frames read back through an ipc_conn fed
 * whole and one byte at a time.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "compat.h"
#include "ipc.h"
#include "queue_proto.h"
#include "verify_proto.h"

static void
query_round_trip(const struct verify_query *q)
{
	struct ipc_out o, o2;
	struct ipc_in in;
	struct verify_query d;
	const char *err = NULL;

	assert_int_equal(verify_query_encode(q, &o), 0);
	ipc_in_init(&in, o.data, o.len);
	if (verify_query_decode(&in, &d, &err) < 0)
		fail_msg("decode: %s", err);
	assert_int_equal(d.tag, q->tag);
	assert_string_equal(d.address, q->address);
	assert_string_equal(d.service, q->service);
	assert_int_equal(d.wait_ms, q->wait_ms);
	assert_int_equal(verify_query_encode(&d, &o2), 0);
	assert_int_equal(o2.len, o.len);
	assert_memory_equal(o2.data, o.data, o.len);
	verify_query_free(&d);
	/* Every prefix, and one byte more, fail. */
	for (size_t n = 0; n < o.len; n++) {
		ipc_in_init(&in, o.data, n);
		if (verify_query_decode(&in, &d, &err) == 0)
			fail_msg("a query cut at %zu of %zu bytes decoded", n,
			    o.len);
		assert_null(d.address);
	}
	{
		uint8_t more[IPC_PAYLOAD_MAX_BYTES];

		memcpy(more, o.data, o.len);
		more[o.len] = 0;
		ipc_in_init(&in, more, o.len + 1);
		assert_int_equal(verify_query_decode(&in, &d, &err), -1);
	}
}

static void
answer_round_trip(const struct verify_answer *a)
{
	struct ipc_out o, o2;
	struct ipc_in in;
	struct verify_answer d;
	const char *err = NULL;

	assert_int_equal(verify_answer_encode(a, &o), 0);
	ipc_in_init(&in, o.data, o.len);
	if (verify_answer_decode(&in, &d, &err) < 0)
		fail_msg("decode: %s", err);
	assert_int_equal(d.tag, a->tag);
	assert_int_equal(d.state, a->state);
	assert_string_equal(d.dsn, a->dsn);
	assert_string_equal(d.text, a->text);
	assert_int_equal(verify_answer_encode(&d, &o2), 0);
	assert_memory_equal(o2.data, o.data, o.len);
	verify_answer_free(&d);
	for (size_t n = 0; n < o.len; n++) {
		ipc_in_init(&in, o.data, n);
		assert_int_equal(verify_answer_decode(&in, &d, &err), -1);
		assert_null(d.text);
	}
}

static void
test_round_trips(void **state)
{
	struct verify_query q = { .tag = 7, .address = UNCONST("bob@x.test"),
	    .service = UNCONST("smtpd"), .wait_ms = 6000 };
	struct verify_answer a[] = {
		{ 1, VERIFY_OK, UNCONST("2.1.5"), UNCONST("deliverable") },
		{ 2, VERIFY_BOUNCE, UNCONST("5.1.1"), UNCONST("user unknown") },
		{ 3, VERIFY_DEFER, UNCONST("4.4.1"), UNCONST("") },
		{ 4, VERIFY_PENDING, UNCONST(""), UNCONST("") },
	};

	(void)state;
	query_round_trip(&q);
	q.address = UNCONST("\"quoted local\"@[127.0.0.1]");
	q.service = UNCONST("127.0.0.1:10025");
	q.wait_ms = VERIFY_WAIT_MAX_MS;
	query_round_trip(&q);
	for (size_t i = 0; i < N_ELEMENTS(a); i++)
		answer_round_trip(&a[i]);
}

/* hand-made payloads the decoder must refuse (the encoder refuses the
 * same values). */
static void
refuse_query(const char *addr, const char *svc, uint32_t wait)
{
	struct verify_query q = { .tag = 1, .address = UNCONST(addr),
	    .service = UNCONST(svc), .wait_ms = wait }, d;
	struct ipc_out o;
	struct ipc_in in;
	const char *err = NULL;

	assert_int_equal(verify_query_encode(&q, &o), -1);
	ipc_out_init(&o);
	ipc_put_u32(&o, 1);
	ipc_put_str(&o, addr);
	ipc_put_str(&o, svc);
	ipc_put_u32(&o, wait);
	ipc_in_init(&in, o.data, o.len);
	if (verify_query_decode(&in, &d, &err) == 0)
		fail_msg("query (%s, %s, %u) decoded", addr, svc, wait);
	assert_non_null(err);
}

static void
refuse_answer(uint32_t st, const char *dsn, const char *text)
{
	struct verify_answer a = { .tag = 1, .state = (enum verify_state)st,
	    .dsn = UNCONST(dsn), .text = UNCONST(text) }, d;
	struct ipc_out o;
	struct ipc_in in;
	const char *err = NULL;

	assert_int_equal(verify_answer_encode(&a, &o), -1);
	ipc_out_init(&o);
	ipc_put_u32(&o, 1);
	ipc_put_u32(&o, st);
	ipc_put_str(&o, dsn);
	ipc_put_str(&o, text);
	ipc_in_init(&in, o.data, o.len);
	if (verify_answer_decode(&in, &d, &err) == 0)
		fail_msg("answer (%u, %s, %s) decoded", st, dsn, text);
}

static void
test_refusals(void **state)
{
	char *long_addr = malloc(VERIFY_ADDRESS_MAX + 2);
	char *long_text = malloc(VERIFY_TEXT_MAX + 2);

	(void)state;
	memset(long_addr, 'a', VERIFY_ADDRESS_MAX + 1);
	long_addr[VERIFY_ADDRESS_MAX + 1] = '\0';
	memset(long_text, 't', VERIFY_TEXT_MAX + 1);
	long_text[VERIFY_TEXT_MAX + 1] = '\0';
	refuse_query("", "smtpd", 0);
	refuse_query("a\r\nb@x", "smtpd", 0);
	refuse_query("a\tb@x", "smtpd", 0);
	refuse_query(long_addr, "smtpd", 0);
	refuse_query("a@x", "", 0);
	refuse_query("a@x", "sm\ntpd", 0);
	refuse_query("a@x", "smtpd", VERIFY_WAIT_MAX_MS + 1);
	refuse_answer(VERIFY_OK, "5.1.1", "");
	refuse_answer(VERIFY_BOUNCE, "4.1.1", "");
	refuse_answer(VERIFY_DEFER, "2.0.0", "");
	refuse_answer(VERIFY_PENDING, "4.0.0", "");
	refuse_answer(VERIFY_OK, "", "");
	refuse_answer(VERIFY_STATE_LAST + 1, "", "");
	refuse_answer(VERIFY_OK, "2.0.0", "line\r\nforged: yes");
	refuse_answer(VERIFY_OK, "2.0.0", long_text);
	free(long_addr);
	free(long_text);
}

/* frames of queries through an ipc_conn, fed whole or byte by byte */
static void
read_back(bool bytewise)
{
	int sv[2];
	struct ipc_conn c;
	struct ipc_out o;
	struct ipc_in in;
	uint32_t type;
	int fd;
	size_t got = 0;
	uint8_t stream[4096];
	size_t len = 0;
	const char *addrs[] = { "a@x.test", "b@y.test", "c@z.test" };

	/* The frames as they go over the socket, then fed to a second
	 * socket whole or a byte at a time. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	for (size_t i = 0; i < N_ELEMENTS(addrs); i++) {
		struct verify_query q = { .tag = (uint32_t)i,
		    .address = UNCONST(addrs[i]), .service = UNCONST("smtpd"),
		    .wait_ms = 100 };

		assert_int_equal(verify_query_encode(&q, &o), 0);
		assert_int_equal(ipc_send(sv[0], QUEUE_MSG_VERIFY, &o, -1), 0);
	}
	close(sv[0]);
	for (ssize_t n; (n = read(sv[1], stream + len, sizeof(stream) -
	    len)) > 0;)
		len += (size_t)n;
	close(sv[1]);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ipc_conn_init(&c, sv[1]);
	for (size_t off = 0; off < len;) {
		size_t n = bytewise ? 1 : len - off;
		int r;

		assert_int_equal(write(sv[0], stream + off, n), (ssize_t)n);
		off += n;
		assert_true(ipc_conn_read(&c) >= 0);
		while ((r = ipc_conn_next(&c, &type, &in, &fd)) == 1) {
			struct verify_query d;
			const char *err;

			assert_int_equal(type, QUEUE_MSG_VERIFY);
			assert_int_equal(fd, -1);
			assert_int_equal(verify_query_decode(&in, &d, &err), 0);
			assert_int_equal(d.tag, got);
			assert_string_equal(d.address, addrs[got]);
			verify_query_free(&d);
			got++;
		}
		assert_int_equal(r, 0);
	}
	assert_int_equal(got, N_ELEMENTS(addrs));
	ipc_conn_deinit(&c);
	close(sv[0]);
	close(sv[1]);
}

static void
test_stream_whole(void **state)
{
	(void)state;
	read_back(false);
}

static void
test_stream_bytewise(void **state)
{
	(void)state;
	read_back(true);
}

static void
test_state_names(void **state)
{
	(void)state;
	assert_string_equal(verify_state_name(VERIFY_OK), "deliverable");
	assert_string_equal(verify_state_name(VERIFY_BOUNCE), "undeliverable");
	assert_string_equal(verify_state_name(VERIFY_DEFER), "deferred");
	assert_string_equal(verify_state_name(VERIFY_PENDING), "pending");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_stream_whole),
		cmocka_unit_test(test_stream_bytewise),
		cmocka_unit_test(test_state_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
