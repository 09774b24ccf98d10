/* SPDX-License-Identifier: MIT */
/*
 * verify_proto - address verification queries from smtpd to the queue
 * process (reject_unverified_recipient, reject_unverified_sender).
 *
 * Each smtpd process keeps one connection of its own for them to
 * $queue_directory/private/queue (a connection that sent VERIFY takes no
 * NEW and no CTL).  Any number of queries may be open on it, each named
 * by a u32 tag that smtpd chooses:
 *
 *   smtpd -> queue  VERIFY        u32 tag
 *                                 str address  1..VERIFY_ADDRESS_MAX
 *                                 str service  the master.cf service
 *                                              whose routing the probe
 *                                              follows, 1..256
 *                                 u32 wait_ms  how long the queue
 *                                              process may hold the
 *                                              answer for a probe's
 *                                              result (<= VERIFY_WAIT_
 *                                              MAX_MS)
 *   queue -> smtpd  VERIFY_REPLY  u32 tag
 *                                 u32 state    enum verify_state
 *                                 str dsn      "X.Y.Z" matching the
 *                                              state, or "" (PENDING)
 *                                 str text     <= VERIFY_TEXT_MAX
 *
 * Exactly one VERIFY_REPLY per VERIFY, in any order.  No string holds a
 * control character.  Encoders check exactly what decoders check.
 */
#ifndef OSTIA_VERIFY_PROTO_H
#define OSTIA_VERIFY_PROTO_H

#include <stdbool.h>
#include <stdint.h>

#include "ipc.h"

#define VERIFY_ADDRESS_MAX 1024
#define VERIFY_SERVICE_MAX 256
#define VERIFY_TEXT_MAX 1024
#define VERIFY_WAIT_MAX_MS 600000u
/* Queries one connection may have open at once. */
#define VERIFY_CONN_QUERIES_MAX 1024

enum verify_state {
	VERIFY_OK = 0,		/* deliverable */
	VERIFY_BOUNCE = 1,	/* undeliverable: refused for good */
	VERIFY_DEFER = 2,	/* the probe failed for now */
	VERIFY_PENDING = 3,	/* no result yet (a probe is on its way) */
};
#define VERIFY_STATE_LAST VERIFY_PENDING

struct verify_query {
	uint32_t tag;
	char *address;
	char *service;
	uint32_t wait_ms;
};

struct verify_answer {
	uint32_t tag;
	enum verify_state state;
	char *dsn;
	char *text;
};

/* Free the members; the struct is left zeroed. */
void verify_query_free(struct verify_query *q);
void verify_answer_free(struct verify_answer *a);

/* Fill o (ipc_out_init done here): 0, or -1 when a field breaks the
 * rules above (nothing must be sent). */
int verify_query_encode(const struct verify_query *q, struct ipc_out *o);
int verify_answer_encode(const struct verify_answer *a, struct ipc_out *o);

/* Decode one payload: 0 with the struct filled, or -1 with *error_r
 * (static text) and the struct zeroed. */
int verify_query_decode(struct ipc_in *in, struct verify_query *q,
    const char **error_r);
int verify_answer_decode(struct ipc_in *in, struct verify_answer *a,
    const char **error_r);

/* The word for a state: "deliverable", "undeliverable", "deferred",
 * "pending". */
const char *verify_state_name(enum verify_state st);

#endif
