/* SPDX-License-Identifier: MIT */
/*
 * deliver_proto - messages between the queue manager and the delivery
 * agents.
 *
 * The queue manager (in the queue process) connects to a delivery
 * agent's socket $queue_directory/private/NAME, NAME being the master.cf
 * service of the transport, and sends one request at a time on that
 * connection.  Frames are ipc.h frames (payload at most
 * IPC_PAYLOAD_MAX_BYTES):
 *
 *   qmgr  -> agent  REQ     the request, with the queue file (O_RDONLY)
 *                           as the frame's descriptor
 *   qmgr  -> agent  RCPT    exactly nrcpts of them, in order
 *   agent -> qmgr   STATUS  exactly one per recipient, in any order
 *   agent -> qmgr   DONE    the request is finished; the connection may
 *                           carry the next one
 *
 * Field order and limits are in deliver_proto.c's encoders and decoders,
 * which are the reference; docs/architecture.md shows them.  Every field
 * is checked by the receiver; a frame that does not decode, or comes out
 * of turn, ends the connection (the queue manager then defers the
 * recipients it has no status for).
 */
#ifndef OSTIA_DELIVER_PROTO_H
#define OSTIA_DELIVER_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipc.h"

#define DELIVER_PROTO_VERSION 2
/* Recipients in one request. */
#define DELIVER_RCPTS_MAX 1000
/* Longest string field (addresses, texts). */
#define DELIVER_FIELD_MAX 1024
/* Forwarding addresses for one recipient (FORWARD frames). */
#define DELIVER_FORWARDS_MAX 1000
/* Longest transport (service) name. */
#define DELIVER_TRANSPORT_MAX 64

enum deliver_msg_type {
	DELIVER_MSG_REQ = 1,
	DELIVER_MSG_RCPT = 2,
	DELIVER_MSG_STATUS = 3,
	DELIVER_MSG_DONE = 4,
	DELIVER_MSG_FORWARD = 5,
};

enum deliver_status {
	DELIVER_OK = 0,
	DELIVER_DEFER = 1,
	DELIVER_BOUNCE = 2,
};

/* Request flags. */
#define DELIVER_F_SMTPUTF8 0x1u	/* the envelope needs SMTPUTF8 */
#define DELIVER_F_NOTICE 0x2u	/* a delivery status notice (null sender) */
#define DELIVER_F_VERIFY 0x4u	/* an address verification probe: check
				 * the recipients, deliver nothing (smtp,
				 * lmtp: stop after RCPT TO) */
#define DELIVER_F_ALL (DELIVER_F_SMTPUTF8 | DELIVER_F_NOTICE | \
	DELIVER_F_VERIFY)

/* DSN NOTIFY bits of a recipient (0 = not given). */
#define DELIVER_NOTIFY_SUCCESS 0x1u
#define DELIVER_NOTIFY_FAILURE 0x2u
#define DELIVER_NOTIFY_DELAY 0x4u
#define DELIVER_NOTIFY_NEVER 0x8u
#define DELIVER_NOTIFY_ALL 0xfu

struct deliver_rcpt {
	uint32_t idx;		/* the queue manager's, echoed in STATUS */
	char *address;		/* final recipient, not empty */
	char *orig_rcpt;	/* as in the queue file, before expansion */
	char *orcpt;		/* ORCPT "type;address", "" when none */
	uint32_t notify;	/* DELIVER_NOTIFY_* */
};

struct deliver_req {
	char *queue_id;		/* queue_id_is_valid() */
	char *transport;	/* master.cf service name */
	char *nexthop;		/* may be "" */
	char *sender;		/* "" = null sender */
	char *envid;		/* "" = none */
	char *ret;		/* "", "FULL" or "HDRS" */
	uint32_t flags;		/* DELIVER_F_* */
	uint64_t arrival;	/* seconds since the epoch */
	char *client_name;	/* "" when not known, as the next four */
	char *client_addr;
	char *helo;
	char *protocol;
	char *sasl_user;
	struct deliver_rcpt *rcpts;
	size_t nrcpts;		/* decoded: the count announced in REQ */
};

/* Result flags (STATUS), for delivery status notifications. */
#define DELIVER_R_RELAYED 0x1u	/* sent to an MTA that does not notify
				 * (no DSN): a success notice says
				 * "relayed", not "delivered" */
#define DELIVER_R_DSN_PASSED 0x2u	/* the next hop took the DSN request
				 * (RFC 3461 5.2.2): it notifies, not us */
#define DELIVER_R_EXPANDED 0x4u	/* an alias or .forward gave several
				 * destinations: a success notice says
				 * "expanded", and forwarded copies lose
				 * NOTIFY=SUCCESS (RFC 3461 6.2.7.3) */
#define DELIVER_R_ALL (DELIVER_R_RELAYED | DELIVER_R_DSN_PASSED | \
	DELIVER_R_EXPANDED)

struct deliver_result {
	uint32_t idx;
	enum deliver_status status;
	char *dsn;		/* "X.Y.Z", class matching status */
	char *remote;		/* "" or "lmtp; 550 5.1.1 ..." */
	char *text;		/* plain words, one line */
	uint32_t flags;		/* DELIVER_R_* (DELIVER_OK only) */
};

/*
 * FORWARD (agent -> queue manager, before the STATUS of its recipient):
 * one address the recipient is forwarded to (the local agent's aliases
 * that name non-local addresses).  With a STATUS of DELIVER_OK the
 * queue manager queues a new message to these addresses; with any other
 * status they are dropped.  At most DELIVER_FORWARDS_MAX per recipient.
 */
struct deliver_forward {
	uint32_t idx;
	char *address;		/* 1..DELIVER_FIELD_MAX, no control bytes */
};

/* Free the members (not r itself); r is left zeroed. */
void deliver_req_free(struct deliver_req *r);
void deliver_rcpt_free(struct deliver_rcpt *r);
void deliver_result_free(struct deliver_result *r);
void deliver_forward_free(struct deliver_forward *r);

/*
 * Encoders: fill o (ipc_out_init is done here).  0, or -1 when a field
 * is missing, too long, holds CR/LF/NUL where it may not, or a number
 * is out of range (then nothing must be sent).  deliver_req_encode
 * writes r->nrcpts as the count; the RCPT frames follow.
 */
int deliver_req_encode(const struct deliver_req *r, struct ipc_out *o);
int deliver_rcpt_encode(const struct deliver_rcpt *r, struct ipc_out *o);
int deliver_result_encode(const struct deliver_result *r,
    struct ipc_out *o);
int deliver_forward_encode(const struct deliver_forward *r,
    struct ipc_out *o);

/*
 * Decoders of one frame's payload: 0 with *r filled (free with the
 * matching _free), or -1 with *error_r (static text) and *r freed.
 * deliver_req_decode leaves r->rcpts NULL and r->nrcpts the announced
 * count (1..DELIVER_RCPTS_MAX).
 */
int deliver_req_decode(struct ipc_in *in, struct deliver_req *r,
    const char **error_r);
int deliver_rcpt_decode(struct ipc_in *in, struct deliver_rcpt *r,
    const char **error_r);
int deliver_result_decode(struct ipc_in *in, struct deliver_result *r,
    const char **error_r);
int deliver_forward_decode(struct ipc_in *in, struct deliver_forward *r,
    const char **error_r);

/* True if s is at most max bytes without a control character (bytes
 * 0-31 and 127), the rule of every string field. */
bool deliver_text_ok(const char *s, size_t max);

/* True if dsn is "C.S.D" (C 2, 4 or 5 matching st; S 0-999, D 0-999). */
bool deliver_dsn_valid(const char *dsn, enum deliver_status st);

/* NOTIFY text ("NEVER", "SUCCESS,DELAY", NULL) to DELIVER_NOTIFY_*
 * bits; unknown words are ignored (smtpd checked them). */
uint32_t deliver_notify_bits(const char *notify);
/* The other way: "NEVER", or SUCCESS, FAILURE, DELAY joined by ","
 * (into out, DELIVER_NOTIFY_TEXT_MAX); NULL for 0 (not given). */
#define DELIVER_NOTIFY_TEXT_MAX 24
const char *deliver_notify_text(uint32_t bits,
    char out[DELIVER_NOTIFY_TEXT_MAX]);

#endif
