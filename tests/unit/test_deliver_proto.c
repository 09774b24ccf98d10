/* SPDX-License-Identifier: MIT */
/*
 * test_deliver_proto - the queue manager <-> delivery agent frames
 * (src/common/deliver_proto.c).
 *
 * Round trips (encode, decode, same fields, re-encode to the same
 * bytes); every field violation, each written twice: through the
 * encoder (which must refuse it) and raw, bypassing the encoder's checks
 * (the decoder must refuse it); every byte-truncated payload and one
 * with a byte too many; the DSN and NOTIFY helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "compat.h"
#include "deliver_proto.h"
#include "ipc.h"
#include "xalloc.h"

#define ID1 "0123456789ABCDEF"

/* ---- Samples ---- */

static void
req_fill(struct deliver_req *r)
{
	memset(r, 0, sizeof(*r));
	r->queue_id = xstrdup(ID1);
	r->transport = xstrdup("dovecot");
	r->nexthop = xstrdup("example.org");
	r->sender = xstrdup("alice@example.net");
	r->envid = xstrdup("QQ314159");
	r->ret = xstrdup("HDRS");
	r->flags = DELIVER_F_SMTPUTF8;
	r->arrival = 1717171717;
	r->nrcpts = 2;
	r->client_name = xstrdup("mx.example.net");
	r->client_addr = xstrdup("192.0.2.7");
	r->helo = xstrdup("mx.example.net");
	r->protocol = xstrdup("ESMTPSA");
	r->sasl_user = xstrdup("alice");
}

static void
rcpt_fill(struct deliver_rcpt *r)
{
	memset(r, 0, sizeof(*r));
	r->idx = 7;
	r->address = xstrdup("bob@example.org");
	r->orig_rcpt = xstrdup("postmaster@example.org");
	r->orcpt = xstrdup("rfc822;postmaster@example.org");
	r->notify = DELIVER_NOTIFY_SUCCESS | DELIVER_NOTIFY_FAILURE;
}

static void
result_fill(struct deliver_result *r)
{
	memset(r, 0, sizeof(*r));
	r->idx = 7;
	r->status = DELIVER_BOUNCE;
	r->dsn = xstrdup("5.1.1");
	r->remote = xstrdup("lmtp; 550 5.1.1 <bob@example.org> no such user");
	r->text = xstrdup("user unknown");
}

/* set - replace the string *field. */
static void
set(char **field, const char *value)
{
	free(*field);
	*field = value != NULL ? xstrdup(value) : NULL;
}

static char *
repeat(char c, size_t n)
{
	char *s = xmalloc(n + 1);

	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* ---- Raw writers: the same layout, without the encoder's checks ---- */

static void
put_str_raw(struct ipc_out *o, const char *s)
{
	ipc_put_str(o, s != NULL ? s : "");
}

static void
req_raw(const struct deliver_req *r, uint32_t version, struct ipc_out *o)
{
	ipc_out_init(o);
	ipc_put_u32(o, version);
	put_str_raw(o, r->queue_id);
	put_str_raw(o, r->transport);
	put_str_raw(o, r->nexthop);
	put_str_raw(o, r->sender);
	put_str_raw(o, r->envid);
	put_str_raw(o, r->ret);
	ipc_put_u32(o, r->flags);
	ipc_put_u64(o, r->arrival);
	ipc_put_u32(o, (uint32_t)r->nrcpts);
	put_str_raw(o, r->client_name);
	put_str_raw(o, r->client_addr);
	put_str_raw(o, r->helo);
	put_str_raw(o, r->protocol);
	put_str_raw(o, r->sasl_user);
}

static void
rcpt_raw(const struct deliver_rcpt *r, struct ipc_out *o)
{
	ipc_out_init(o);
	ipc_put_u32(o, r->idx);
	put_str_raw(o, r->address);
	put_str_raw(o, r->orig_rcpt);
	put_str_raw(o, r->orcpt);
	ipc_put_u32(o, r->notify);
}

static void
result_raw(const struct deliver_result *r, uint32_t status,
    struct ipc_out *o)
{
	ipc_out_init(o);
	ipc_put_u32(o, r->idx);
	ipc_put_u32(o, status);
	put_str_raw(o, r->dsn);
	put_str_raw(o, r->remote);
	put_str_raw(o, r->text);
	ipc_put_u32(o, r->flags);
}

/* ---- Round trips ---- */

static void
assert_req_equal(const struct deliver_req *a, const struct deliver_req *b)
{
	assert_string_equal(a->queue_id, b->queue_id);
	assert_string_equal(a->transport, b->transport);
	assert_string_equal(a->nexthop, b->nexthop);
	assert_string_equal(a->sender, b->sender);
	assert_string_equal(a->envid, b->envid);
	assert_string_equal(a->ret, b->ret);
	assert_int_equal(a->flags, b->flags);
	assert_true(a->arrival == b->arrival);
	assert_int_equal(a->nrcpts, b->nrcpts);
	assert_string_equal(a->client_name, b->client_name);
	assert_string_equal(a->client_addr, b->client_addr);
	assert_string_equal(a->helo, b->helo);
	assert_string_equal(a->protocol, b->protocol);
	assert_string_equal(a->sasl_user, b->sasl_user);
}

/* req_round_trip - encode r, decode, compare, re-encode: same bytes. */
static void
req_round_trip(const struct deliver_req *r)
{
	struct ipc_out o, o2;
	struct ipc_in in;
	struct deliver_req d;
	const char *err = NULL;

	assert_int_equal(deliver_req_encode(r, &o), 0);
	ipc_in_init(&in, o.data, o.len);
	if (deliver_req_decode(&in, &d, &err) < 0)
		fail_msg("decode: %s", err);
	assert_req_equal(r, &d);
	assert_null(d.rcpts);
	assert_int_equal(deliver_req_encode(&d, &o2), 0);
	assert_int_equal(o.len, o2.len);
	assert_memory_equal(o.data, o2.data, o.len);
	deliver_req_free(&d);
	assert_null(d.queue_id);
}

static void
test_req_round_trip(void **state)
{
	struct deliver_req r;
	char *big;

	(void)state;
	req_fill(&r);
	req_round_trip(&r);
	/* Empty optional fields, a bounce notice. */
	set(&r.nexthop, "");
	set(&r.sender, "");
	set(&r.envid, "");
	set(&r.ret, "");
	set(&r.client_name, "");
	set(&r.client_addr, "");
	set(&r.helo, "");
	set(&r.protocol, "");
	set(&r.sasl_user, "");
	r.flags = DELIVER_F_ALL;
	r.arrival = UINT64_MAX;
	r.nrcpts = DELIVER_RCPTS_MAX;
	req_round_trip(&r);
	r.flags = 0;
	r.arrival = 0;
	r.nrcpts = 1;
	set(&r.ret, "FULL");
	/* 8-bit (UTF-8) text is fine. */
	set(&r.sender, "j\xc3\xb6rg@b\xc3\xbc" "cher.example");
	req_round_trip(&r);
	/* Fields at their limits, as long as the payload fits. */
	big = repeat('t', DELIVER_TRANSPORT_MAX);
	set(&r.transport, big);
	free(big);
	big = repeat('n', DELIVER_FIELD_MAX);
	set(&r.nexthop, big);
	set(&r.sender, big);
	set(&r.envid, big);
	free(big);
	req_round_trip(&r);
	deliver_req_free(&r);
}

static void
test_req_too_big(void **state)
{
	struct deliver_req r;
	struct ipc_out o;
	char *big = repeat('x', DELIVER_FIELD_MAX);

	(void)state;
	/* Every free-text field at its maximum: more than one frame. */
	req_fill(&r);
	set(&r.nexthop, big);
	set(&r.sender, big);
	set(&r.envid, big);
	set(&r.client_name, big);
	set(&r.client_addr, big);
	set(&r.helo, big);
	set(&r.protocol, big);
	set(&r.sasl_user, big);
	assert_int_equal(deliver_req_encode(&r, &o), -1);
	/* smtpd-sized values fit: 512-byte sender, 255-byte names. */
	big[512] = '\0';
	set(&r.sender, big);
	big[255] = '\0';
	set(&r.nexthop, big);
	set(&r.client_name, big);
	set(&r.helo, big);
	set(&r.sasl_user, big);
	big[100] = '\0';
	set(&r.envid, big);
	set(&r.client_addr, "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255");
	set(&r.protocol, "ESMTPSA");
	assert_int_equal(deliver_req_encode(&r, &o), 0);
	assert_true(o.len <= IPC_PAYLOAD_MAX_BYTES);
	deliver_req_free(&r);
	free(big);
}

static void
rcpt_round_trip(const struct deliver_rcpt *r)
{
	struct ipc_out o, o2;
	struct ipc_in in;
	struct deliver_rcpt d;
	const char *err = NULL;

	assert_int_equal(deliver_rcpt_encode(r, &o), 0);
	ipc_in_init(&in, o.data, o.len);
	if (deliver_rcpt_decode(&in, &d, &err) < 0)
		fail_msg("decode: %s", err);
	assert_int_equal(d.idx, r->idx);
	assert_string_equal(d.address, r->address);
	assert_string_equal(d.orig_rcpt, r->orig_rcpt);
	assert_string_equal(d.orcpt, r->orcpt);
	assert_int_equal(d.notify, r->notify);
	assert_int_equal(deliver_rcpt_encode(&d, &o2), 0);
	assert_int_equal(o.len, o2.len);
	assert_memory_equal(o.data, o2.data, o.len);
	deliver_rcpt_free(&d);
}

static void
test_rcpt_round_trip(void **state)
{
	static const uint32_t notifies[] = {
		0, DELIVER_NOTIFY_NEVER, DELIVER_NOTIFY_SUCCESS,
		DELIVER_NOTIFY_FAILURE | DELIVER_NOTIFY_DELAY,
		DELIVER_NOTIFY_SUCCESS | DELIVER_NOTIFY_FAILURE |
		    DELIVER_NOTIFY_DELAY,
	};
	struct deliver_rcpt r;
	char *big = repeat('a', DELIVER_FIELD_MAX);

	(void)state;
	rcpt_fill(&r);
	for (size_t i = 0; i < N_ELEMENTS(notifies); i++) {
		r.notify = notifies[i];
		rcpt_round_trip(&r);
	}
	r.idx = UINT32_MAX;
	set(&r.orig_rcpt, "");
	set(&r.orcpt, "");
	rcpt_round_trip(&r);
	set(&r.address, big);
	set(&r.orig_rcpt, big);
	big[0] = 'x';
	big[1] = ';';
	set(&r.orcpt, big);
	rcpt_round_trip(&r);
	deliver_rcpt_free(&r);
	free(big);
}

static void
result_round_trip(const struct deliver_result *r)
{
	struct ipc_out o, o2;
	struct ipc_in in;
	struct deliver_result d;
	const char *err = NULL;

	assert_int_equal(deliver_result_encode(r, &o), 0);
	ipc_in_init(&in, o.data, o.len);
	if (deliver_result_decode(&in, &d, &err) < 0)
		fail_msg("decode: %s", err);
	assert_int_equal(d.idx, r->idx);
	assert_int_equal(d.status, r->status);
	assert_string_equal(d.dsn, r->dsn);
	assert_string_equal(d.remote, r->remote);
	assert_string_equal(d.text, r->text);
	assert_int_equal(d.flags, r->flags);
	assert_int_equal(deliver_result_encode(&d, &o2), 0);
	assert_int_equal(o.len, o2.len);
	assert_memory_equal(o.data, o2.data, o.len);
	deliver_result_free(&d);
}

static void
test_result_round_trip(void **state)
{
	struct deliver_result r;
	char *big = repeat('w', DELIVER_FIELD_MAX);

	(void)state;
	result_fill(&r);
	result_round_trip(&r);
	r.status = DELIVER_OK;
	set(&r.dsn, "2.0.0");
	set(&r.remote, "");
	set(&r.text, "");
	result_round_trip(&r);
	r.flags = DELIVER_R_RELAYED;
	result_round_trip(&r);
	r.flags = DELIVER_R_DSN_PASSED;
	result_round_trip(&r);
	r.flags = DELIVER_R_EXPANDED;
	result_round_trip(&r);
	r.flags = 0;
	r.status = DELIVER_DEFER;
	set(&r.dsn, "4.999.999");
	set(&r.remote, big);
	set(&r.text, big);
	result_round_trip(&r);
	deliver_result_free(&r);
	free(big);
}

/* FORWARD: round trip at the limits, and every refusal. */
static void
test_forward(void **state)
{
	struct deliver_forward f = { .idx = 7, .address = NULL }, d;
	struct ipc_out o, o2;
	struct ipc_in in;
	const char *err = NULL;
	char *big = repeat('f', DELIVER_FIELD_MAX);
	const char *bad[] = { "", "a\r\nb@example.org", "tab\there" };

	(void)state;
	f.address = xstrdup("someone@example.net");
	assert_int_equal(deliver_forward_encode(&f, &o), 0);
	ipc_in_init(&in, o.data, o.len);
	assert_int_equal(deliver_forward_decode(&in, &d, &err), 0);
	assert_int_equal(d.idx, 7);
	assert_string_equal(d.address, "someone@example.net");
	assert_int_equal(deliver_forward_encode(&d, &o2), 0);
	assert_int_equal(o.len, o2.len);
	assert_memory_equal(o.data, o2.data, o.len);
	deliver_forward_free(&d);
	/* The longest address passes; one byte more does not. */
	free(f.address);
	f.address = big;
	assert_int_equal(deliver_forward_encode(&f, &o), 0);
	ipc_in_init(&in, o.data, o.len);
	assert_int_equal(deliver_forward_decode(&in, &d, &err), 0);
	deliver_forward_free(&d);
	f.address = xasprintf("%sx", big);
	assert_int_equal(deliver_forward_encode(&f, &o), -1);
	free(f.address);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ipc_out raw;

		f.address = UNCONST(bad[i]);
		assert_int_equal(deliver_forward_encode(&f, &o), -1);
		/* Hand-made frames with the same field do not decode. */
		ipc_out_init(&raw);
		ipc_put_u32(&raw, 1);
		ipc_put_str(&raw, bad[i]);
		ipc_in_init(&in, raw.data, raw.len);
		assert_int_equal(deliver_forward_decode(&in, &d, &err), -1);
		assert_null(d.address);
		assert_non_null(err);
	}
	/* Truncated, and trailing bytes. */
	f.address = UNCONST("a@b");
	assert_int_equal(deliver_forward_encode(&f, &o), 0);
	for (size_t n = 0; n < o.len; n++) {
		ipc_in_init(&in, o.data, n);
		assert_int_equal(deliver_forward_decode(&in, &d, &err), -1);
	}
	ipc_put_u32(&o, 0);
	ipc_in_init(&in, o.data, o.len);
	assert_int_equal(deliver_forward_decode(&in, &d, &err), -1);
	free(big);
}

/* ---- Violations ---- */

enum which { W_REQ, W_RCPT, W_RESULT };

struct violation {
	const char *name;
	enum which which;
	void (*mutate)(void *obj);
};

#define MUT(n, type, body) \
	static void mut_##n(void *p) { type *r = p; body; }

static char *long_field;	/* DELIVER_FIELD_MAX + 1 bytes */

MUT(qid_short, struct deliver_req, set(&r->queue_id, "0123456789ABCDE"))
MUT(qid_long, struct deliver_req, set(&r->queue_id, ID1 "0"))
MUT(qid_bad, struct deliver_req, set(&r->queue_id, "0123456789ABCDEI"))
MUT(qid_lower, struct deliver_req, set(&r->queue_id, "0123456789abcdef"))
MUT(qid_empty, struct deliver_req, set(&r->queue_id, ""))
MUT(tr_empty, struct deliver_req, set(&r->transport, ""))
MUT(tr_slash, struct deliver_req, set(&r->transport, "a/b"))
MUT(tr_dotdot, struct deliver_req, set(&r->transport, ".."))
MUT(tr_dash, struct deliver_req, set(&r->transport, "-x"))
MUT(tr_space, struct deliver_req, set(&r->transport, "a b"))
MUT(tr_long, struct deliver_req, {
	char *s = repeat('t', DELIVER_TRANSPORT_MAX + 1);
	set(&r->transport, s);
	free(s);
})
MUT(nh_lf, struct deliver_req, set(&r->nexthop, "a\nb"))
MUT(nh_long, struct deliver_req, set(&r->nexthop, long_field))
MUT(snd_cr, struct deliver_req, set(&r->sender, "a@b\r"))
MUT(snd_long, struct deliver_req, set(&r->sender, long_field))
MUT(envid_tab, struct deliver_req, set(&r->envid, "a\tb"))
MUT(envid_del, struct deliver_req, set(&r->envid, "a\x7f"))
MUT(ret_bad, struct deliver_req, set(&r->ret, "NONE"))
MUT(ret_lower, struct deliver_req, set(&r->ret, "full"))
MUT(flags_bad, struct deliver_req, r->flags = 8)
MUT(flags_high, struct deliver_req, r->flags = 0x80000000u)
MUT(nrcpts_0, struct deliver_req, r->nrcpts = 0)
MUT(nrcpts_big, struct deliver_req, r->nrcpts = DELIVER_RCPTS_MAX + 1)
MUT(cname_lf, struct deliver_req, set(&r->client_name, "x\ny"))
MUT(caddr_ctl, struct deliver_req, set(&r->client_addr, "\x01"))
MUT(helo_long, struct deliver_req, set(&r->helo, long_field))
MUT(proto_cr, struct deliver_req, set(&r->protocol, "SMTP\r"))
MUT(sasl_lf, struct deliver_req, set(&r->sasl_user, "u\n"))

MUT(addr_empty, struct deliver_rcpt, set(&r->address, ""))
MUT(addr_lf, struct deliver_rcpt, set(&r->address, "a@b\nX: y"))
MUT(addr_long, struct deliver_rcpt, set(&r->address, long_field))
MUT(orig_cr, struct deliver_rcpt, set(&r->orig_rcpt, "a\r"))
MUT(orig_long, struct deliver_rcpt, set(&r->orig_rcpt, long_field))
MUT(orcpt_nosemi, struct deliver_rcpt, set(&r->orcpt, "rfc822"))
MUT(orcpt_notype, struct deliver_rcpt, set(&r->orcpt, ";a@b"))
MUT(orcpt_lf, struct deliver_rcpt, set(&r->orcpt, "rfc822;a\n"))
MUT(notify_bad, struct deliver_rcpt, r->notify = 16)
MUT(notify_never, struct deliver_rcpt,
    r->notify = DELIVER_NOTIFY_NEVER | DELIVER_NOTIFY_DELAY)

MUT(dsn_class, struct deliver_result, set(&r->dsn, "4.1.1"))
MUT(dsn_short, struct deliver_result, set(&r->dsn, "5.1"))
MUT(dsn_long, struct deliver_result, set(&r->dsn, "5.1000.1"))
MUT(dsn_empty, struct deliver_result, set(&r->dsn, ""))
MUT(dsn_junk, struct deliver_result, set(&r->dsn, "5.1.1 "))
MUT(remote_lf, struct deliver_result, set(&r->remote, "550\r\n5.1.1"))
MUT(remote_long, struct deliver_result, set(&r->remote, long_field))
MUT(text_lf, struct deliver_result, set(&r->text, "a\nb"))
MUT(text_long, struct deliver_result, set(&r->text, long_field))
MUT(status_bad, struct deliver_result, r->status = (enum deliver_status)3)
MUT(rflags_bad, struct deliver_result, {
	r->status = DELIVER_OK;
	set(&r->dsn, "2.0.0");
	r->flags = DELIVER_R_ALL + 1;
})
MUT(flags_on_bounce, struct deliver_result, r->flags = DELIVER_R_RELAYED)

static const struct violation violations[] = {
	{ "queue id too short", W_REQ, mut_qid_short },
	{ "queue id too long", W_REQ, mut_qid_long },
	{ "queue id letter I", W_REQ, mut_qid_bad },
	{ "queue id lower case", W_REQ, mut_qid_lower },
	{ "queue id empty", W_REQ, mut_qid_empty },
	{ "transport empty", W_REQ, mut_tr_empty },
	{ "transport slash", W_REQ, mut_tr_slash },
	{ "transport ..", W_REQ, mut_tr_dotdot },
	{ "transport -x", W_REQ, mut_tr_dash },
	{ "transport space", W_REQ, mut_tr_space },
	{ "transport too long", W_REQ, mut_tr_long },
	{ "nexthop LF", W_REQ, mut_nh_lf },
	{ "nexthop too long", W_REQ, mut_nh_long },
	{ "sender CR", W_REQ, mut_snd_cr },
	{ "sender too long", W_REQ, mut_snd_long },
	{ "envid TAB", W_REQ, mut_envid_tab },
	{ "envid DEL", W_REQ, mut_envid_del },
	{ "ret NONE", W_REQ, mut_ret_bad },
	{ "ret lower case", W_REQ, mut_ret_lower },
	{ "flags 8", W_REQ, mut_flags_bad },
	{ "flags high bit", W_REQ, mut_flags_high },
	{ "no recipients", W_REQ, mut_nrcpts_0 },
	{ "too many recipients", W_REQ, mut_nrcpts_big },
	{ "client name LF", W_REQ, mut_cname_lf },
	{ "client addr ^A", W_REQ, mut_caddr_ctl },
	{ "helo too long", W_REQ, mut_helo_long },
	{ "protocol CR", W_REQ, mut_proto_cr },
	{ "sasl user LF", W_REQ, mut_sasl_lf },
	{ "address empty", W_RCPT, mut_addr_empty },
	{ "address LF", W_RCPT, mut_addr_lf },
	{ "address too long", W_RCPT, mut_addr_long },
	{ "orig rcpt CR", W_RCPT, mut_orig_cr },
	{ "orig rcpt too long", W_RCPT, mut_orig_long },
	{ "orcpt without ;", W_RCPT, mut_orcpt_nosemi },
	{ "orcpt without type", W_RCPT, mut_orcpt_notype },
	{ "orcpt LF", W_RCPT, mut_orcpt_lf },
	{ "notify bit 16", W_RCPT, mut_notify_bad },
	{ "notify NEVER,DELAY", W_RCPT, mut_notify_never },
	{ "dsn class", W_RESULT, mut_dsn_class },
	{ "dsn two parts", W_RESULT, mut_dsn_short },
	{ "dsn four digits", W_RESULT, mut_dsn_long },
	{ "dsn empty", W_RESULT, mut_dsn_empty },
	{ "dsn trailing space", W_RESULT, mut_dsn_junk },
	{ "remote CRLF", W_RESULT, mut_remote_lf },
	{ "remote too long", W_RESULT, mut_remote_long },
	{ "text LF", W_RESULT, mut_text_lf },
	{ "text too long", W_RESULT, mut_text_long },
	{ "result flag 4", W_RESULT, mut_rflags_bad },
	{ "result flags on a bounce", W_RESULT, mut_flags_on_bounce },
	{ "status 3", W_RESULT, mut_status_bad },
};

/* check_violation - the encoder refuses it, the decoder too. */
static void
check_violation(const struct violation *v)
{
	struct ipc_out o;
	struct ipc_in in;
	const char *err = NULL;
	int enc, dec;

	print_message("violation: %s\n", v->name);
	switch (v->which) {
	case W_REQ: {
		struct deliver_req r, d;

		req_fill(&r);
		v->mutate(&r);
		enc = deliver_req_encode(&r, &o);
		req_raw(&r, DELIVER_PROTO_VERSION, &o);
		assert_false(o.overflow);
		ipc_in_init(&in, o.data, o.len);
		dec = deliver_req_decode(&in, &d, &err);
		assert_null(d.queue_id);
		deliver_req_free(&r);
		break;
	}
	case W_RCPT: {
		struct deliver_rcpt r, d;

		rcpt_fill(&r);
		v->mutate(&r);
		enc = deliver_rcpt_encode(&r, &o);
		rcpt_raw(&r, &o);
		assert_false(o.overflow);
		ipc_in_init(&in, o.data, o.len);
		dec = deliver_rcpt_decode(&in, &d, &err);
		assert_null(d.address);
		deliver_rcpt_free(&r);
		break;
	}
	case W_RESULT:
	default: {
		struct deliver_result r, d;

		result_fill(&r);
		v->mutate(&r);
		enc = deliver_result_encode(&r, &o);
		result_raw(&r, (uint32_t)r.status, &o);
		assert_false(o.overflow);
		ipc_in_init(&in, o.data, o.len);
		dec = deliver_result_decode(&in, &d, &err);
		assert_null(d.dsn);
		deliver_result_free(&r);
		break;
	}
	}
	assert_int_equal(enc, -1);
	assert_int_equal(dec, -1);
	assert_non_null(err);
	assert_true(err[0] != '\0');
}

static void
test_violations(void **state)
{
	(void)state;
	long_field = repeat('v', DELIVER_FIELD_MAX + 1);
	for (size_t i = 0; i < N_ELEMENTS(violations); i++)
		check_violation(&violations[i]);
	free(long_field);
	long_field = NULL;
}

static void
test_req_version(void **state)
{
	static const uint32_t versions[] = { 0, DELIVER_PROTO_VERSION - 1,
	    DELIVER_PROTO_VERSION + 1, UINT32_MAX };
	struct deliver_req r, d;
	struct ipc_out o;
	struct ipc_in in;
	const char *err = NULL;

	(void)state;
	req_fill(&r);
	for (size_t i = 0; i < N_ELEMENTS(versions); i++) {
		req_raw(&r, versions[i], &o);
		ipc_in_init(&in, o.data, o.len);
		assert_int_equal(deliver_req_decode(&in, &d, &err), -1);
		assert_string_equal(err, "unknown protocol version");
	}
	/* The raw writer agrees with the encoder on a valid request. */
	{
		struct ipc_out e;

		req_raw(&r, DELIVER_PROTO_VERSION, &o);
		assert_int_equal(deliver_req_encode(&r, &e), 0);
		assert_int_equal(o.len, e.len);
		assert_memory_equal(o.data, e.data, o.len);
	}
	deliver_req_free(&r);
}

/* A NUL inside a string field (possible only on the wire). */
static void
test_nul_in_field(void **state)
{
	struct deliver_rcpt r, d;
	struct ipc_out o;
	struct ipc_in in;
	const char *err = NULL;
	size_t at;

	(void)state;
	rcpt_fill(&r);
	rcpt_raw(&r, &o);
	/* idx (4), address length (4), then "bob@..." */
	at = 4 + 4 + 3;
	assert_int_equal(o.data[at], '@');
	o.data[at] = '\0';
	ipc_in_init(&in, o.data, o.len);
	assert_int_equal(deliver_rcpt_decode(&in, &d, &err), -1);
	assert_non_null(err);
	deliver_rcpt_free(&r);
}

/* ---- Truncation ---- */

typedef int decode_fn(struct ipc_in *in, void *obj, const char **error_r);

static int
dec_req(struct ipc_in *in, void *obj, const char **error_r)
{
	return deliver_req_decode(in, obj, error_r);
}

static int
dec_rcpt(struct ipc_in *in, void *obj, const char **error_r)
{
	return deliver_rcpt_decode(in, obj, error_r);
}

static int
dec_result(struct ipc_in *in, void *obj, const char **error_r)
{
	return deliver_result_decode(in, obj, error_r);
}

/* every_prefix - each shorter payload and one with an extra byte fail. */
static void
every_prefix(const struct ipc_out *o, decode_fn *fn)
{
	uint8_t longer[IPC_PAYLOAD_MAX_BYTES + 1];
	union {
		struct deliver_req req;
		struct deliver_rcpt rcpt;
		struct deliver_result res;
	} u;

	for (size_t len = 0; len < o->len; len++) {
		struct ipc_in in;
		const char *err = NULL;

		ipc_in_init(&in, o->data, len);
		if (fn(&in, &u, &err) != -1)
			fail_msg("a payload cut at %zu of %zu bytes decoded",
			    len, o->len);
		assert_non_null(err);
	}
	memcpy(longer, o->data, o->len);
	longer[o->len] = 0;
	{
		struct ipc_in in;
		const char *err = NULL;

		ipc_in_init(&in, longer, o->len + 1);
		assert_int_equal(fn(&in, &u, &err), -1);
		assert_non_null(err);
	}
}

static void
test_truncated(void **state)
{
	struct deliver_req req;
	struct deliver_rcpt rcpt;
	struct deliver_result res;
	struct ipc_out o;

	(void)state;
	req_fill(&req);
	assert_int_equal(deliver_req_encode(&req, &o), 0);
	every_prefix(&o, dec_req);
	set(&req.sasl_user, "");	/* the last field empty */
	assert_int_equal(deliver_req_encode(&req, &o), 0);
	every_prefix(&o, dec_req);
	deliver_req_free(&req);

	rcpt_fill(&rcpt);
	assert_int_equal(deliver_rcpt_encode(&rcpt, &o), 0);
	every_prefix(&o, dec_rcpt);
	deliver_rcpt_free(&rcpt);

	result_fill(&res);
	assert_int_equal(deliver_result_encode(&res, &o), 0);
	every_prefix(&o, dec_result);
	set(&res.text, "");
	assert_int_equal(deliver_result_encode(&res, &o), 0);
	every_prefix(&o, dec_result);
	deliver_result_free(&res);
}

/* ---- Helpers ---- */

static void
test_dsn_valid(void **state)
{
	static const struct {
		const char *dsn;
		enum deliver_status st;
		bool ok;
	} cases[] = {
		{ "2.0.0", DELIVER_OK, true },
		{ "2.1.5", DELIVER_OK, true },
		{ "4.0.0", DELIVER_DEFER, true },
		{ "4.999.999", DELIVER_DEFER, true },
		{ "5.1.1", DELIVER_BOUNCE, true },
		{ "5.01.001", DELIVER_BOUNCE, true },
		{ "5.1.1", DELIVER_DEFER, false },
		{ "4.1.1", DELIVER_BOUNCE, false },
		{ "2.0.0", DELIVER_BOUNCE, false },
		{ "5.0.0", DELIVER_OK, false },
		{ "3.0.0", DELIVER_OK, false },
		{ "5.1000.1", DELIVER_BOUNCE, false },
		{ "5.1.1000", DELIVER_BOUNCE, false },
		{ "5..1", DELIVER_BOUNCE, false },
		{ "5.1.", DELIVER_BOUNCE, false },
		{ "5.1", DELIVER_BOUNCE, false },
		{ "5", DELIVER_BOUNCE, false },
		{ "", DELIVER_BOUNCE, false },
		{ "5.1.1.1", DELIVER_BOUNCE, false },
		{ " 5.1.1", DELIVER_BOUNCE, false },
		{ "5.1.1 ", DELIVER_BOUNCE, false },
		{ "5.a.1", DELIVER_BOUNCE, false },
		{ "5,1,1", DELIVER_BOUNCE, false },
		{ "5.0.0", (enum deliver_status)7, false },
	};

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		if (deliver_dsn_valid(cases[i].dsn, cases[i].st) !=
		    cases[i].ok)
			fail_msg("\"%s\" for status %d", cases[i].dsn,
			    (int)cases[i].st);
	}
	assert_false(deliver_dsn_valid(NULL, DELIVER_OK));
}

static void
test_notify_bits(void **state)
{
	static const struct {
		const char *text;
		uint32_t bits;
	} cases[] = {
		{ "NEVER", DELIVER_NOTIFY_NEVER },
		{ "SUCCESS", DELIVER_NOTIFY_SUCCESS },
		{ "FAILURE", DELIVER_NOTIFY_FAILURE },
		{ "DELAY", DELIVER_NOTIFY_DELAY },
		{ "success,delay", DELIVER_NOTIFY_SUCCESS |
		    DELIVER_NOTIFY_DELAY },
		{ "SUCCESS,FAILURE,DELAY", DELIVER_NOTIFY_SUCCESS |
		    DELIVER_NOTIFY_FAILURE | DELIVER_NOTIFY_DELAY },
		{ "NEVER,SUCCESS", DELIVER_NOTIFY_NEVER },
		{ "", 0 },
		{ "BOGUS", 0 },
		{ "SUCCESSX,DELAY", DELIVER_NOTIFY_DELAY },
		{ ",,FAILURE,", DELIVER_NOTIFY_FAILURE },
	};

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++)
		assert_int_equal(deliver_notify_bits(cases[i].text),
		    cases[i].bits);
	assert_int_equal(deliver_notify_bits(NULL), 0);
	/* The text back: every combination reads as its bits again. */
	for (uint32_t b = 0; b <= DELIVER_NOTIFY_ALL; b++) {
		char out[DELIVER_NOTIFY_TEXT_MAX];
		const char *t = deliver_notify_text(b, out);
		uint32_t want = (b & DELIVER_NOTIFY_NEVER) ?
		    DELIVER_NOTIFY_NEVER : b;

		if (b == 0) {
			assert_null(t);
			continue;
		}
		assert_non_null(t);
		assert_int_equal(deliver_notify_bits(t), want);
	}
	{
		char out[DELIVER_NOTIFY_TEXT_MAX];

		assert_string_equal(deliver_notify_text(DELIVER_NOTIFY_ALL &
		    ~DELIVER_NOTIFY_NEVER, out), "SUCCESS,FAILURE,DELAY");
	}
}

static void
test_free_null(void **state)
{
	struct deliver_req r;

	(void)state;
	deliver_req_free(NULL);
	deliver_rcpt_free(NULL);
	deliver_result_free(NULL);
	/* A decoded request with its recipients attached. */
	req_fill(&r);
	r.rcpts = xcalloc(r.nrcpts, sizeof(*r.rcpts));
	rcpt_fill(&r.rcpts[0]);
	deliver_req_free(&r);
	assert_null(r.rcpts);
	assert_int_equal(r.nrcpts, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_req_round_trip),
		cmocka_unit_test(test_req_too_big),
		cmocka_unit_test(test_rcpt_round_trip),
		cmocka_unit_test(test_forward),
		cmocka_unit_test(test_result_round_trip),
		cmocka_unit_test(test_violations),
		cmocka_unit_test(test_req_version),
		cmocka_unit_test(test_nul_in_field),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_dsn_valid),
		cmocka_unit_test(test_notify_bits),
		cmocka_unit_test(test_free_null),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
