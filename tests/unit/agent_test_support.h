/* SPDX-License-Identifier: MIT */
/*
 * agent_test_support - the queue manager's side of a delivery agent, for
 * the unit tests of the agents (test_agent*.c; linked into every unit
 * test by cmake/OstiaTests.cmake).  The agent runs under agent_serve_fd
 * on one end of a socketpair in a libevent loop; the test writes a queue
 * file, sends REQ and RCPT frames on the other end, and collects the
 * STATUS and DONE frames the agent sends back.  Like test_support, these
 * fail the running test (cmocka asserts) instead of returning errors.
 */
#ifndef OSTIA_AGENT_TEST_SUPPORT_H
#define OSTIA_AGENT_TEST_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent.h"
#include "deliver_proto.h"
#include "ipc.h"

struct event_base;

/* The queue ID of the requests that agent_test_req_init builds. */
#define AGENT_TEST_ID "0123456789ABCDEF"

/*
 * A test message: its queue file and the request that delivers it.  All
 * strings are copied where used.  The queue file also gets a fixed
 * arrival (1717171717.250000), client mx.example.net [192.0.2.7],
 * protocol ESMTP and service smtp; the request arrival 1717171717 and
 * empty ENVID, RET and SASL user.
 */
struct agent_test_msg {
	const char *sender;		/* queue file and request */
	const char *queue_rcpt;		/* the queue file's one recipient */
	const char *queue_helo;		/* the queue file's HELO name */
	const char *transport;		/* request fields from here on */
	const char *nexthop;
	const char *client_name;
	const char *client_addr;
	const char *helo;
	const char *protocol;
	uint32_t first_idx;		/* recipient i gets first_idx + i */
};

/* A memfd (close-on-exec) holding a valid queue file of id for m with
 * content as the message; the caller closes it. */
int agent_test_queue_fd(const struct agent_test_msg *m, const char *id,
    const char *content);

/*
 * Fill r (free with deliver_req_free) as a request of queue ID
 * AGENT_TEST_ID for m with nrcpts recipients, each with the index of m,
 * an empty ORCPT, and an empty address and original recipient until
 * agent_test_req_rcpt sets them.
 */
void agent_test_req_init(struct deliver_req *r,
    const struct agent_test_msg *m, size_t nrcpts);
/* Set recipient i (< r->nrcpts) of r to address, originally orig_rcpt. */
void agent_test_req_rcpt(struct deliver_req *r, size_t i,
    const char *address, const char *orig_rcpt);

/* One STATUS frame received, decoded (strings owned by the qmgr). */
struct agent_test_status {
	uint32_t idx;
	enum deliver_status st;
	char *dsn;
	char *remote;
	char *text;
	char **fwd;		/* FORWARD addresses before it (strv) */
};

/* The queue manager's end of one connection to an agent. */
struct agent_test_qmgr {
	struct event_base *base;	/* the loop the agent runs in */
	int sock;			/* our end, non-blocking */
	struct ipc_conn ipc;
	struct agent_test_status *sts;	/* in the order received */
	size_t nsts;
	char **fwd;			/* FORWARDs not yet followed by their
					 * STATUS (strv) */
	uint32_t fwd_idx;
	size_t ndone;			/* DONE frames received */
	bool eof;			/* the agent closed the connection */
	bool bad;			/* the agent sent something wrong */
};

/* Make a loop and a socketpair, and serve its other end with def and a
 * (agent_serve_fd). */
void agent_test_qmgr_open(struct agent_test_qmgr *q,
    const struct agent_def *def, struct agent_ctx *a);
/*
 * Take what the agent sent without blocking: STATUS frames into sts
 * (with the FORWARD frames of the same recipient before it), DONE
 * frames counted; anything else (a descriptor, a bad frame, an unknown
 * type, a FORWARD for another recipient than the next STATUS) sets
 * bad; the end of the stream sets eof.
 */
void agent_test_qmgr_read(struct agent_test_qmgr *q);
/* Run the loop until ndone DONE frames came in all, or eof (fails the
 * test after 10 s).  Asserts nothing about what came. */
void agent_test_qmgr_run(struct agent_test_qmgr *q, size_t ndone);
/* Forget (free) the statuses received and zero nsts and ndone. */
void agent_test_qmgr_clear(struct agent_test_qmgr *q);
/* Close our end, run the loop until the agent is idle (agent_busy),
 * and free the loop.  The statuses stay until agent_test_qmgr_clear. */
void agent_test_qmgr_close(struct agent_test_qmgr *q);

/*
 * Send one frame of type with payload o (may be NULL: empty).  With a
 * descriptor fd (>= 0, not closed here) by ipc_send, the socket having
 * room for one small frame; without, the bytes are written as the
 * socket takes them, running the agent's loop while it is full.
 */
void agent_test_send_frame(struct agent_test_qmgr *q, uint32_t type,
    const struct ipc_out *o, int fd);
/* Send r as a REQ frame with the queue file fd (closed here, unless
 * -1) and then its RCPT frames. */
void agent_test_send_req(struct agent_test_qmgr *q,
    const struct deliver_req *r, int fd);

/*
 * One whole request: open q on def and a, send r with the queue file fd
 * (closed here), require exactly one DONE, nothing bad and one status
 * per recipient, then close q (agent_test_qmgr_close).  The statuses
 * stay in q; free them with agent_test_qmgr_clear.
 */
void agent_test_deliver(struct agent_test_qmgr *q,
    const struct agent_def *def, struct agent_ctx *a,
    const struct deliver_req *r, int fd);

/* The first status of recipient idx; fails the test when none came. */
const struct agent_test_status *agent_test_status_of(
    const struct agent_test_qmgr *q, uint32_t idx);
/* Require that recipient idx got status st with DSN code dsn and a text
 * containing text_part. */
void agent_test_expect(const struct agent_test_qmgr *q, uint32_t idx,
    enum deliver_status st, const char *dsn, const char *text_part);

/* The contents of the one message file in maildir/new (caller frees),
 * or NULL when there is none (or no such directory); fails the test
 * when there are more. */
char *agent_test_maildir_file(const char *maildir);

#endif
