/* SPDX-License-Identifier: MIT */
/*
 * deliver_proto - encoding and decoding of the frames between the queue
 * manager and the delivery agents; see deliver_proto.h.
 *
 * This file is the reference for field order and limits:
 *
 *   REQ     u32 version (DELIVER_PROTO_VERSION)
 *           str queue_id     queue_id_is_valid()
 *           str transport    master_service_name_is_safe(), <= 64 bytes
 *           str nexthop      <= 1024, may be ""
 *           str sender       <= 1024, "" = null sender
 *           str envid        <= 1024, "" = none
 *           str ret          "", "FULL" or "HDRS"
 *           u32 flags        DELIVER_F_* only
 *           u64 arrival      seconds since the epoch
 *           u32 nrcpts       1..DELIVER_RCPTS_MAX
 *           str client_name, client_addr, helo, protocol, sasl_user
 *                            <= 1024 each, may be ""
 *   RCPT    u32 idx
 *           str address      1..1024
 *           str orig_rcpt    <= 1024, may be ""
 *           str orcpt        "" or "type;address" (<= 1024)
 *           u32 notify       DELIVER_NOTIFY_* only; NEVER alone
 *   STATUS  u32 idx
 *           u32 status       DELIVER_OK, DELIVER_DEFER or DELIVER_BOUNCE
 *           str dsn          deliver_dsn_valid() for that status
 *           str remote       <= 1024, may be ""
 *           str text         <= 1024, may be ""
 *           u32 flags        DELIVER_R_* only, 0 unless DELIVER_OK
 *   FORWARD u32 idx          before the STATUS of idx; at most
 *                            DELIVER_FORWARDS_MAX per recipient
 *           str address      1..1024
 *   DONE    (empty)
 *
 * No string field holds a control character (bytes 0-31 and 127: CR,
 * LF, TAB, NUL...): they would forge log lines and header lines in
 * bounces.  Encoders check exactly what decoders check, so a frame that
 * was encoded always decodes, and a payload that decodes re-encodes to
 * the same bytes.  The whole payload must fit IPC_PAYLOAD_MAX_BYTES; a
 * REQ whose eight free-text fields are all near their maximum does not
 * (values from smtpd, with its 512-byte command lines, always do).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliver_proto.h"
#include "master_cf.h"
#include "queue_file.h"
#include "xalloc.h"

/* Longest enhanced status code: "5.999.999". */
#define DELIVER_DSN_MAX 9

bool
deliver_text_ok(const char *s, size_t max)
{
	size_t n;

	if (s == NULL)
		return false;
	for (n = 0; s[n] != '\0'; n++) {
		unsigned char c = (unsigned char)s[n];

		if (n >= max || c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

static bool
ret_ok(const char *s)
{
	return s != NULL && (s[0] == '\0' || strcmp(s, "FULL") == 0 ||
	    strcmp(s, "HDRS") == 0);
}

/* orcpt_ok - "" or "type;address" with a type. */
static bool
orcpt_ok(const char *s)
{
	const char *semi;

	if (!deliver_text_ok(s, DELIVER_FIELD_MAX))
		return false;
	if (s[0] == '\0')
		return true;
	semi = strchr(s, ';');
	return semi != NULL && semi != s;
}

static bool
notify_ok(uint32_t n)
{
	if ((n & ~DELIVER_NOTIFY_ALL) != 0)
		return false;
	/* NEVER excludes the others (RFC 3461 4.1). */
	return (n & DELIVER_NOTIFY_NEVER) == 0 || n == DELIVER_NOTIFY_NEVER;
}

bool
deliver_dsn_valid(const char *dsn, enum deliver_status st)
{
	char cls;
	const char *p;

	if (dsn == NULL)
		return false;
	switch (st) {
	case DELIVER_OK:
		cls = '2';
		break;
	case DELIVER_DEFER:
		cls = '4';
		break;
	case DELIVER_BOUNCE:
		cls = '5';
		break;
	default:
		return false;
	}
	if (dsn[0] != cls || dsn[1] != '.')
		return false;
	p = dsn + 2;
	for (int part = 0; part < 2; part++) {
		size_t n = 0;

		while (p[n] >= '0' && p[n] <= '9')
			n++;
		if (n == 0 || n > 3)
			return false;
		p += n;
		if (part == 0) {
			if (*p != '.')
				return false;
			p++;
		}
	}
	return *p == '\0';
}

uint32_t
deliver_notify_bits(const char *notify)
{
	uint32_t bits = 0;
	const char *p = notify;

	if (p == NULL)
		return 0;
	while (*p != '\0') {
		size_t n = strcspn(p, ",");

		if (n == 5 && strncasecmp(p, "NEVER", 5) == 0)
			bits |= DELIVER_NOTIFY_NEVER;
		else if (n == 7 && strncasecmp(p, "SUCCESS", 7) == 0)
			bits |= DELIVER_NOTIFY_SUCCESS;
		else if (n == 7 && strncasecmp(p, "FAILURE", 7) == 0)
			bits |= DELIVER_NOTIFY_FAILURE;
		else if (n == 5 && strncasecmp(p, "DELAY", 5) == 0)
			bits |= DELIVER_NOTIFY_DELAY;
		p += n;
		if (*p == ',')
			p++;
	}
	/* NEVER with others is not valid SMTP; smtpd refuses it, and
	 * "never" is the safe reading. */
	if ((bits & DELIVER_NOTIFY_NEVER) != 0)
		bits = DELIVER_NOTIFY_NEVER;
	return bits;
}

const char *
deliver_notify_text(uint32_t bits, char out[DELIVER_NOTIFY_TEXT_MAX])
{
	static const struct {
		uint32_t bit;
		const char *word;
	} words[] = {
		{ DELIVER_NOTIFY_SUCCESS, "SUCCESS" },
		{ DELIVER_NOTIFY_FAILURE, "FAILURE" },
		{ DELIVER_NOTIFY_DELAY, "DELAY" },
	};
	size_t len = 0;

	if ((bits & DELIVER_NOTIFY_ALL) == 0)
		return NULL;
	if (bits & DELIVER_NOTIFY_NEVER)
		return "NEVER";
	out[0] = '\0';
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if ((bits & words[i].bit) == 0)
			continue;
		/* 24 bytes hold all three words with their commas. */
		len += (size_t)snprintf(out + len, DELIVER_NOTIFY_TEXT_MAX - len,
		    "%s%s", len > 0 ? "," : "", words[i].word);
	}
	return out;
}

/* ---------------------------------------------------------------- */
/* Freeing                                                          */

void
deliver_rcpt_free(struct deliver_rcpt *r)
{
	if (r == NULL)
		return;
	free(r->address);
	free(r->orig_rcpt);
	free(r->orcpt);
	memset(r, 0, sizeof(*r));
}

void
deliver_req_free(struct deliver_req *r)
{
	if (r == NULL)
		return;
	free(r->queue_id);
	free(r->transport);
	free(r->nexthop);
	free(r->sender);
	free(r->envid);
	free(r->ret);
	free(r->client_name);
	free(r->client_addr);
	free(r->helo);
	free(r->protocol);
	free(r->sasl_user);
	if (r->rcpts != NULL)
		for (size_t i = 0; i < r->nrcpts; i++)
			deliver_rcpt_free(&r->rcpts[i]);
	free(r->rcpts);
	memset(r, 0, sizeof(*r));
}

void
deliver_result_free(struct deliver_result *r)
{
	if (r == NULL)
		return;
	free(r->dsn);
	free(r->remote);
	free(r->text);
	memset(r, 0, sizeof(*r));
}

void
deliver_forward_free(struct deliver_forward *r)
{
	if (r == NULL)
		return;
	free(r->address);
	memset(r, 0, sizeof(*r));
}

/* ---------------------------------------------------------------- */
/* Checks shared by encoders and decoders                           */

static bool
forward_ok(const struct deliver_forward *r)
{
	return r->address != NULL && r->address[0] != '\0' &&
	    deliver_text_ok(r->address, DELIVER_FIELD_MAX);
}

/* req_error - what is wrong with r (all but the recipients), or NULL. */
static const char *
req_error(const struct deliver_req *r)
{
	if (r->queue_id == NULL || strlen(r->queue_id) != QUEUE_ID_LEN ||
	    !queue_id_is_valid(r->queue_id))
		return "bad queue ID";
	if (r->transport == NULL ||
	    !master_service_name_is_safe(r->transport) ||
	    strlen(r->transport) > DELIVER_TRANSPORT_MAX)
		return "bad transport name";
	if (!deliver_text_ok(r->nexthop, DELIVER_FIELD_MAX))
		return "bad next hop";
	if (!deliver_text_ok(r->sender, DELIVER_FIELD_MAX))
		return "bad sender";
	if (!deliver_text_ok(r->envid, DELIVER_FIELD_MAX))
		return "bad envelope ID";
	if (!ret_ok(r->ret))
		return "bad RET value";
	if ((r->flags & ~DELIVER_F_ALL) != 0)
		return "unknown request flags";
	if (r->nrcpts < 1 || r->nrcpts > DELIVER_RCPTS_MAX)
		return "recipient count out of range";
	if (!deliver_text_ok(r->client_name, DELIVER_FIELD_MAX) ||
	    !deliver_text_ok(r->client_addr, DELIVER_FIELD_MAX) ||
	    !deliver_text_ok(r->helo, DELIVER_FIELD_MAX) ||
	    !deliver_text_ok(r->protocol, DELIVER_FIELD_MAX) ||
	    !deliver_text_ok(r->sasl_user, DELIVER_FIELD_MAX))
		return "bad client information";
	return NULL;
}

static const char *
rcpt_error(const struct deliver_rcpt *r)
{
	if (!deliver_text_ok(r->address, DELIVER_FIELD_MAX) ||
	    r->address[0] == '\0')
		return "bad recipient address";
	if (!deliver_text_ok(r->orig_rcpt, DELIVER_FIELD_MAX))
		return "bad original recipient";
	if (!orcpt_ok(r->orcpt))
		return "bad ORCPT";
	if (!notify_ok(r->notify))
		return "bad NOTIFY bits";
	return NULL;
}

static const char *
result_error(const struct deliver_result *r)
{
	if (r->status != DELIVER_OK && r->status != DELIVER_DEFER &&
	    r->status != DELIVER_BOUNCE)
		return "unknown delivery status";
	if (!deliver_dsn_valid(r->dsn, r->status))
		return "bad enhanced status code";
	if (!deliver_text_ok(r->remote, DELIVER_FIELD_MAX))
		return "bad remote reply";
	if (!deliver_text_ok(r->text, DELIVER_FIELD_MAX))
		return "bad status text";
	if ((r->flags & ~DELIVER_R_ALL) != 0 ||
	    (r->flags != 0 && r->status != DELIVER_OK))
		return "bad result flags";
	return NULL;
}

/* ---------------------------------------------------------------- */
/* Encoders                                                         */

int
deliver_req_encode(const struct deliver_req *r, struct ipc_out *o)
{
	ipc_out_init(o);
	if (req_error(r) != NULL)
		return -1;
	ipc_put_u32(o, DELIVER_PROTO_VERSION);
	ipc_put_str(o, r->queue_id);
	ipc_put_str(o, r->transport);
	ipc_put_str(o, r->nexthop);
	ipc_put_str(o, r->sender);
	ipc_put_str(o, r->envid);
	ipc_put_str(o, r->ret);
	ipc_put_u32(o, r->flags);
	ipc_put_u64(o, r->arrival);
	ipc_put_u32(o, (uint32_t)r->nrcpts);
	ipc_put_str(o, r->client_name);
	ipc_put_str(o, r->client_addr);
	ipc_put_str(o, r->helo);
	ipc_put_str(o, r->protocol);
	ipc_put_str(o, r->sasl_user);
	return o->overflow ? -1 : 0;
}

int
deliver_rcpt_encode(const struct deliver_rcpt *r, struct ipc_out *o)
{
	ipc_out_init(o);
	if (rcpt_error(r) != NULL)
		return -1;
	ipc_put_u32(o, r->idx);
	ipc_put_str(o, r->address);
	ipc_put_str(o, r->orig_rcpt);
	ipc_put_str(o, r->orcpt);
	ipc_put_u32(o, r->notify);
	return o->overflow ? -1 : 0;
}

int
deliver_result_encode(const struct deliver_result *r, struct ipc_out *o)
{
	ipc_out_init(o);
	if (result_error(r) != NULL)
		return -1;
	ipc_put_u32(o, r->idx);
	ipc_put_u32(o, (uint32_t)r->status);
	ipc_put_str(o, r->dsn);
	ipc_put_str(o, r->remote);
	ipc_put_str(o, r->text);
	ipc_put_u32(o, r->flags);
	return o->overflow ? -1 : 0;
}

int
deliver_forward_encode(const struct deliver_forward *r, struct ipc_out *o)
{
	ipc_out_init(o);
	if (!forward_ok(r))
		return -1;
	ipc_put_u32(o, r->idx);
	ipc_put_str(o, r->address);
	return o->overflow ? -1 : 0;
}

/* ---------------------------------------------------------------- */
/* Decoders                                                         */

int
deliver_req_decode(struct ipc_in *in, struct deliver_req *r,
    const char **error_r)
{
	uint32_t version, n;
	const char *err;

	memset(r, 0, sizeof(*r));
	version = ipc_get_u32(in);
	if (in->error || version != DELIVER_PROTO_VERSION) {
		*error_r = in->error ? "truncated request" :
		    "unknown protocol version";
		return -1;
	}
	r->queue_id = ipc_get_str(in, QUEUE_ID_LEN);
	r->transport = ipc_get_str(in, DELIVER_TRANSPORT_MAX);
	r->nexthop = ipc_get_str(in, DELIVER_FIELD_MAX);
	r->sender = ipc_get_str(in, DELIVER_FIELD_MAX);
	r->envid = ipc_get_str(in, DELIVER_FIELD_MAX);
	r->ret = ipc_get_str(in, 4);
	r->flags = ipc_get_u32(in);
	r->arrival = ipc_get_u64(in);
	n = ipc_get_u32(in);
	r->client_name = ipc_get_str(in, DELIVER_FIELD_MAX);
	r->client_addr = ipc_get_str(in, DELIVER_FIELD_MAX);
	r->helo = ipc_get_str(in, DELIVER_FIELD_MAX);
	r->protocol = ipc_get_str(in, DELIVER_FIELD_MAX);
	r->sasl_user = ipc_get_str(in, DELIVER_FIELD_MAX);
	if (!ipc_in_done(in)) {
		err = "malformed request";
		goto fail;
	}
	/* rcpts stays NULL: the count alone is checked here. */
	r->nrcpts = n;
	if ((err = req_error(r)) != NULL)
		goto fail;
	return 0;
fail:
	r->nrcpts = 0;
	deliver_req_free(r);
	*error_r = err;
	return -1;
}

int
deliver_rcpt_decode(struct ipc_in *in, struct deliver_rcpt *r,
    const char **error_r)
{
	const char *err;

	memset(r, 0, sizeof(*r));
	r->idx = ipc_get_u32(in);
	r->address = ipc_get_str(in, DELIVER_FIELD_MAX);
	r->orig_rcpt = ipc_get_str(in, DELIVER_FIELD_MAX);
	r->orcpt = ipc_get_str(in, DELIVER_FIELD_MAX);
	r->notify = ipc_get_u32(in);
	if (!ipc_in_done(in))
		err = "malformed recipient";
	else
		err = rcpt_error(r);
	if (err == NULL)
		return 0;
	deliver_rcpt_free(r);
	*error_r = err;
	return -1;
}

int
deliver_result_decode(struct ipc_in *in, struct deliver_result *r,
    const char **error_r)
{
	const char *err;
	uint32_t st;

	memset(r, 0, sizeof(*r));
	r->idx = ipc_get_u32(in);
	st = ipc_get_u32(in);
	r->dsn = ipc_get_str(in, DELIVER_DSN_MAX);
	r->remote = ipc_get_str(in, DELIVER_FIELD_MAX);
	r->text = ipc_get_str(in, DELIVER_FIELD_MAX);
	r->flags = ipc_get_u32(in);
	if (!ipc_in_done(in)) {
		err = "malformed status";
	} else if (st > DELIVER_BOUNCE) {
		err = "unknown delivery status";
	} else {
		r->status = (enum deliver_status)st;
		err = result_error(r);
	}
	if (err == NULL)
		return 0;
	deliver_result_free(r);
	*error_r = err;
	return -1;
}

int
deliver_forward_decode(struct ipc_in *in, struct deliver_forward *r,
    const char **error_r)
{
	memset(r, 0, sizeof(*r));
	r->idx = ipc_get_u32(in);
	r->address = ipc_get_str(in, DELIVER_FIELD_MAX);
	if (ipc_in_done(in) && forward_ok(r))
		return 0;
	deliver_forward_free(r);
	*error_r = "malformed forward";
	return -1;
}
