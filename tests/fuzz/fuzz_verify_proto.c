/* SPDX-License-Identifier: MIT */
/*
 * fuzz_verify_proto - the address verification payloads
 * (verify_query_decode, verify_answer_decode) on arbitrary bytes, as the
 * queue process and smtpd read them.
 *
 * Checks beyond "no crash": a payload that decodes re-encodes to the
 * same bytes, and the decoded fields keep their promises (lengths, no
 * control characters, a known state, a status code of its class).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "deliver_proto.h"
#include "ipc.h"
#include "verify_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
field_ok(const char *s, size_t min, size_t max)
{
	size_t n;

	if (s == NULL)
		abort();
	for (n = 0; s[n] != '\0'; n++)
		if ((unsigned char)s[n] < 0x20 || s[n] == 0x7f)
			abort();
	if (n < min || n > max)
		abort();
}

static void
same_bytes(const struct ipc_out *o, const uint8_t *data, size_t size)
{
	if (o->len != size || memcmp(o->data, data, size) != 0)
		abort();
}

static void
check_query(const uint8_t *data, size_t size)
{
	struct verify_query q;
	struct ipc_in in;
	struct ipc_out o;
	const char *err = NULL;

	ipc_in_init(&in, data, size);
	if (verify_query_decode(&in, &q, &err) < 0) {
		if (err == NULL || q.address != NULL || q.service != NULL)
			abort();
		return;
	}
	field_ok(q.address, 1, VERIFY_ADDRESS_MAX);
	field_ok(q.service, 1, VERIFY_SERVICE_MAX);
	if (q.wait_ms > VERIFY_WAIT_MAX_MS)
		abort();
	if (verify_query_encode(&q, &o) < 0)
		abort();
	same_bytes(&o, data, size);
	verify_query_free(&q);
}

static void
check_answer(const uint8_t *data, size_t size)
{
	struct verify_answer a;
	struct ipc_in in;
	struct ipc_out o;
	const char *err = NULL;

	ipc_in_init(&in, data, size);
	if (verify_answer_decode(&in, &a, &err) < 0) {
		if (err == NULL || a.dsn != NULL || a.text != NULL)
			abort();
		return;
	}
	if ((unsigned)a.state > VERIFY_STATE_LAST)
		abort();
	field_ok(a.text, 0, VERIFY_TEXT_MAX);
	if (a.state == VERIFY_PENDING ? a.dsn[0] != '\0' :
	    !deliver_dsn_valid(a.dsn, a.state == VERIFY_OK ? DELIVER_OK :
	    a.state == VERIFY_BOUNCE ? DELIVER_BOUNCE : DELIVER_DEFER))
		abort();
	if (verify_answer_encode(&a, &o) < 0)
		abort();
	same_bytes(&o, data, size);
	verify_answer_free(&a);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > IPC_PAYLOAD_MAX_BYTES)
		return 0;
	check_query(data, size);
	check_answer(data, size);
	return 0;
}
