/* SPDX-License-Identifier: MIT */
/*
 * qmgr - the queue manager, inside the queue process.
 *
 * It takes every committed message (incoming/), expands and resolves
 * its recipients through the lookup process (ROUTE: virtual alias
 * expansion, then class, transport and next hop), groups them into
 * delivery requests per transport and next hop, and sends each request
 * to a delivery agent of that transport (deliver_proto.h; the agent is
 * the master.cf service of the transport's name, at private/NAME).
 *
 * Limits: per transport, as many requests at once as the service runs
 * deliveries (master_service_concurrency: its processes, or for the
 * event-driven smtp agent maxproc / default_process_limit); per next hop,
 * NAME_destination_concurrency_limit (else
 * default_destination_concurrency_limit); recipients per request,
 * NAME_destination_recipient_limit (else
 * default_destination_recipient_limit).
 *
 * State lives only in the queue directory:
 *   incoming/ID   committed, not tried yet (or being tried)
 *   deferred/ID   to be tried again when its mtime has passed
 *                 (backoff: the message's age, kept between
 *                 minimal_backoff_time and maximal_backoff_time)
 *   hold/ID       parked (a HOLD action, `ostia queue hold`)
 *   corrupt/ID    a queue file that does not parse (never delivered)
 *   status/ID     what happened to each recipient so far
 *                 (qmgr_status.h), so a recipient done is never
 *                 delivered again
 * A restart scans incoming/ and deferred/ and goes on.  A message is
 * finished when every recipient was delivered or bounced: then the
 * notices it needs (bounce, success; dsn.h) are queued as new messages
 * with the null sender, and its files are removed.  Mail older than
 * maximal_queue_lifetime (bounce_queue_lifetime for notices) is returned
 * at its next failed attempt.
 */
#ifndef OSTIA_QMGR_H
#define OSTIA_QMGR_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "child.h"
#include "config.h"

struct event_base;
struct queue_envelope;

/*
 * True if master.cf has a qmgr service (type unix, command qmgr).  As
 * in Postfix, without one nothing is scheduled: mail stays in
 * incoming/.
 */
bool qmgr_configured(const struct config *cf);

/* Start in the queue process c: read the limits from its configuration
 * and scan the queue.  Once c is draining (SIGTERM) nothing new is
 * loaded; what is in memory is finished. */
void qmgr_init(struct child *c);

/*
 * A message was just committed to incoming/ID.  env: its envelope as
 * the commit check parsed it, or NULL (then the file is read again);
 * the queue manager takes it over (keeps it or frees it).
 */
void qmgr_committed(const char *id, struct queue_envelope *env);

/*
 * A control request from `ostia queue` (one line: "flush", "flush ID",
 * "flush -d DOMAIN", "hold ID|ALL", "release ID|ALL", "requeue ID|ALL",
 * "delete ID|ALL").  Appends the answer's lines to out.  Returns 0 when
 * done, 1 when nothing matched (an unknown ID), 2 for a request that
 * does not parse.
 */
int qmgr_control(const char *request, struct buf *out);

/* Messages being worked on (for a draining process). */
size_t qmgr_active(void);

#endif
