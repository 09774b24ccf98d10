/* SPDX-License-Identifier: MIT */
/*
 * qmgr_int - what the queue manager's modules share (qmgr.c keeps the
 * state and schedules; qmgr_notice.c makes the notices; qmgr_ctl.c
 * carries out `ostia queue` requests).  Not for use outside src/queue/.
 */
#ifndef OSTIA_QMGR_INT_H
#define OSTIA_QMGR_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <time.h>

#include "dsn.h"
#include "qmgr_status.h"
#include "queue_file.h"

/* What happened to a recipient in this attempt. */
enum rstate {
	R_RESOLVING,	/* waiting for the lookup process */
	R_ROUTED,	/* routed; waits for its message's other lookups */
	R_WAITING,	/* in its destination's queue */
	R_INFLIGHT,	/* in a request to an agent */
	R_SENT,
	R_BOUNCED,
	R_DEFERRED,
	R_SKIP,		/* final in an earlier attempt (status log) */
};

struct qmsg;

struct qrcpt {
	struct qmsg *m;
	long idx;		/* number in the queue file (R, then b) */
	char *orig;		/* as in the queue file */
	char *address;		/* final recipient */
	char *orcpt;		/* may be NULL */
	uint32_t notify;
	char *transport;
	char *nexthop;
	enum rstate st;
	bool logged;		/* its final state is in status/ID */
	char *dsn, *remote, *text;
	uint32_t rflags;	/* DELIVER_R_* of a sent result (kept in
				 * memory only: a restart forgets them) */
	time_t when;
	bool relayhost;		/* ROUTE_F_RELAYHOST: the sender's relay
				 * host may replace the next hop */
	bool default_transport;	/* ROUTE_F_DEFAULT_TRANSPORT: the
				 * sender's default transport may replace
				 * the transport */
	struct qrcpt *dnext;	/* destination queue */
};

struct qmsg {
	char id[QUEUE_ID_LEN + 1];
	const char *dir;	/* QUEUE_INCOMING_DIR or QUEUE_DEFERRED_DIR */
	struct queue_envelope env;
	time_t arrival;
	struct qrcpt **r;
	size_t nr;
	size_t lookups;		/* ROUTE requests not answered */
	size_t busy;		/* recipients waiting or in flight */
	bool hold_req;		/* `ostia queue hold` while active */
	bool delete_req;
	bool no_mappings;	/* receive_override_options */
	bool has_log;		/* status/ID exists (read or written) */
	uint64_t clog_seen;	/* counted by the clog check of this pass */
	char *sdrelay;		/* the sender's relay host, or NULL */
	char *sdrelay_err;	/* ... its lookup failed: why */
	char *sddt;		/* the sender's default transport
				 * ("transport[:nexthop]"), or NULL */
	char *sddt_err;		/* ... its lookup failed: why */
	bool flush;		/* loaded by `ostia queue flush` */
	bool probe;		/* an address verification probe
				 * (qmgr_verify.h) */
	struct qstatus log;
	struct qmsg *hnext;
};

/* The settings the notices need. */
struct qmgr_settings {
	const char *myhostname;
	const char *double_bounce;	/* double_bounce_sender */
	const char *double_bounce_addr;	/* the same @myhostname when it has
					 * no domain: the sender of notices
					 * to the postmaster */
	const char *bounce2_rcpt;	/* 2bounce_notice_recipient */
	const char *bounce_rcpt;	/* bounce_notice_recipient */
	const char *delay_rcpt;		/* delay_notice_recipient */
	unsigned notify;		/* notify_classes (notify_class.h) */
	uint64_t bounce_size_limit;
	time_t lifetime;		/* maximal_queue_lifetime */
	uint64_t max_file_bytes;
	const char *mail_name;
	/* prepend_delivered_header has "forward": forwarded copies get
	 * Delivered-To: (the alias loop check depends on it) */
	bool forward_delivered_to;
};

const struct qmgr_settings *qmgr_settings(void);

/*
 * qmgr_send_notice - queue a notice of kind (qmgr_notice.c) to m's
 * sender about the recipients in the matching state (sent: success,
 * deferred: delay, bounced: failure; plus those the status log says
 * for success and failure) whose NOTIFY asks for it.  A notice about a
 * notice goes to 2bounce_notice_recipient or is dropped, with a log
 * line.  With bounce (delay) in notify_classes, the postmaster copy of a
 * failure (delay) notice, headers only, goes to bounce_notice_recipient
 * (delay_notice_recipient), from double_bounce_sender.
 */
void qmgr_send_notice(struct qmsg *m, enum dsn_kind kind);

/*
 * qmgr_read_content - the message text of m's queue file (after the
 * envelope, CRLF line ends), a new string of *len_r bytes; NULL when
 * the file cannot be read or parsed.
 */
char *qmgr_read_content(struct qmsg *m, size_t *len_r);

/*
 * qmgr_forward - queue a copy of m for the n addresses its recipient r
 * is forwarded to (the local agent's aliases to non-local addresses,
 * qmgr_forward.c).  0 with the new queue ID in id, or -1 with the
 * reason in why (QMGR_TEXT_MAX bytes).
 */
int qmgr_forward(struct qmsg *m, const struct qrcpt *r, char **addrs,
    size_t n, char id[QUEUE_ID_LEN + 1], char *why, size_t whysz);

/* True once the queue manager was started (qmgr_init). */
bool qmgr_running(void);
/* Largest queue file read. */
uint64_t qmgr_max_file_bytes(void);
/* The message being worked on, or NULL. */
struct qmsg *qmgr_find(const char *id);
/* Hold (or no longer hold) / delete m when its current attempt ends. */
void qmgr_msg_want_hold(struct qmsg *m, bool hold);
void qmgr_msg_want_delete(struct qmsg *m);
/* Start working on dir/id (no-op when already active or gone); flush:
 * by `ostia queue flush`, which also delivers defer_transports. */
void qmgr_load(const char *dir, const char *id, bool flush);
/* rename dir/id to to_dir/id (failures logged). */
void qmgr_move(const char *from_dir, const char *id, const char *to_dir);
/* Append entries to status/id (fdatasync'ed; failures logged). */
void qmgr_log_status(const char *id, const struct qstatus_entry *e,
    size_t n);
/* "dir/id", a new string. */
char *qmgr_path(const char *dir, const char *id);
/* Valid queue IDs in dir, sorted; free with qmgr_free_names. */
char **qmgr_list_dir(const char *dir, size_t *n_r);
void qmgr_free_names(char **names, size_t n);

#endif
