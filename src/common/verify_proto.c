/* SPDX-License-Identifier: MIT */
/*
 * verify_proto - the VERIFY and VERIFY_REPLY payloads (verify_proto.h).
 */
#include <stdlib.h>
#include <string.h>

#include "deliver_proto.h"
#include "verify_proto.h"
#include "xalloc.h"

/* text_ok - min..max bytes, no control character. */
static bool
text_ok(const char *s, size_t min, size_t max)
{
	return deliver_text_ok(s, max) && strlen(s) >= min;
}

/* dsn_ok - "" for PENDING, else a code of the state's class. */
static bool
dsn_ok(const char *dsn, uint32_t st)
{
	if (dsn == NULL)
		return false;
	switch (st) {
	case VERIFY_OK:
		return deliver_dsn_valid(dsn, DELIVER_OK);
	case VERIFY_BOUNCE:
		return deliver_dsn_valid(dsn, DELIVER_BOUNCE);
	case VERIFY_DEFER:
		return deliver_dsn_valid(dsn, DELIVER_DEFER);
	case VERIFY_PENDING:
		return dsn[0] == '\0';
	default:
		return false;
	}
}

static const char *
query_error(const struct verify_query *q)
{
	if (!text_ok(q->address, 1, VERIFY_ADDRESS_MAX))
		return "bad address";
	if (!text_ok(q->service, 1, VERIFY_SERVICE_MAX))
		return "bad service name";
	if (q->wait_ms > VERIFY_WAIT_MAX_MS)
		return "wait out of range";
	return NULL;
}

static const char *
answer_error(const struct verify_answer *a)
{
	if ((uint32_t)a->state > VERIFY_STATE_LAST)
		return "unknown state";
	if (!dsn_ok(a->dsn, (uint32_t)a->state))
		return "status code does not fit the state";
	if (!text_ok(a->text, 0, VERIFY_TEXT_MAX))
		return "bad text";
	return NULL;
}

void
verify_query_free(struct verify_query *q)
{
	free(q->address);
	free(q->service);
	memset(q, 0, sizeof(*q));
}

void
verify_answer_free(struct verify_answer *a)
{
	free(a->dsn);
	free(a->text);
	memset(a, 0, sizeof(*a));
}

int
verify_query_encode(const struct verify_query *q, struct ipc_out *o)
{
	ipc_out_init(o);
	if (query_error(q) != NULL)
		return -1;
	ipc_put_u32(o, q->tag);
	ipc_put_str(o, q->address);
	ipc_put_str(o, q->service);
	ipc_put_u32(o, q->wait_ms);
	return o->overflow ? -1 : 0;
}

int
verify_answer_encode(const struct verify_answer *a, struct ipc_out *o)
{
	ipc_out_init(o);
	if (answer_error(a) != NULL)
		return -1;
	ipc_put_u32(o, a->tag);
	ipc_put_u32(o, (uint32_t)a->state);
	ipc_put_str(o, a->dsn);
	ipc_put_str(o, a->text);
	return o->overflow ? -1 : 0;
}

int
verify_query_decode(struct ipc_in *in, struct verify_query *q,
    const char **error_r)
{
	const char *err;

	memset(q, 0, sizeof(*q));
	q->tag = ipc_get_u32(in);
	q->address = ipc_get_str(in, VERIFY_ADDRESS_MAX);
	q->service = ipc_get_str(in, VERIFY_SERVICE_MAX);
	q->wait_ms = ipc_get_u32(in);
	if (in->error || !ipc_in_done(in))
		err = "malformed query";
	else
		err = query_error(q);
	if (err != NULL) {
		verify_query_free(q);
		*error_r = err;
		return -1;
	}
	return 0;
}

int
verify_answer_decode(struct ipc_in *in, struct verify_answer *a,
    const char **error_r)
{
	const char *err;
	uint32_t st;

	memset(a, 0, sizeof(*a));
	a->tag = ipc_get_u32(in);
	st = ipc_get_u32(in);
	a->dsn = ipc_get_str(in, 16);
	a->text = ipc_get_str(in, VERIFY_TEXT_MAX);
	if (in->error || !ipc_in_done(in) || st > VERIFY_STATE_LAST) {
		err = st > VERIFY_STATE_LAST && !in->error ? "unknown state" :
		    "malformed answer";
	} else {
		a->state = (enum verify_state)st;
		err = answer_error(a);
	}
	if (err != NULL) {
		verify_answer_free(a);
		*error_r = err;
		return -1;
	}
	return 0;
}

const char *
verify_state_name(enum verify_state st)
{
	switch (st) {
	case VERIFY_OK:
		return "deliverable";
	case VERIFY_BOUNCE:
		return "undeliverable";
	case VERIFY_DEFER:
		return "deferred";
	default:
		return "pending";
	}
}
