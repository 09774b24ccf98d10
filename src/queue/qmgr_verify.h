/* SPDX-License-Identifier: MIT */
/*
 * qmgr_verify - address verification in the queue process: the cache
 * of results (verify_cache.h), the probes, and the smtpd queries that
 * wait for a probe's result.
 *
 * A probe is a queue file the queue process writes itself (like a
 * notice): sender address_verify_sender (a bare name gets @$myorigin;
 * "<>" or "" is the null sender), the one recipient to verify (NOTIFY
 * NEVER), a short text, protocol "verify" (which marks it; the commit
 * check refuses that protocol from smtpd) and the master.cf service of
 * the query, so that it is routed like mail that service receives.  The
 * queue manager routes it like any message and sends it to the agents
 * with DELIVER_F_VERIFY: they check what they can without delivering
 * (smtp and lmtp stop after RCPT TO).  When every recipient of the
 * probe has a result, the queue manager hands it here
 * (qmgr_verify_probe_done) and removes the file: a probe is never
 * retried, bounced or kept (a probe left by a crash is tried once at
 * the next start).  A probe whose address expanded into several gives
 * the best result of them (deliverable if one is).
 */
#ifndef OSTIA_QMGR_VERIFY_H
#define OSTIA_QMGR_VERIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "queue_file.h"
#include "verify_proto.h"

struct event_base;

/* The protocol record of a probe. */
#define QMGR_VERIFY_PROTOCOL "verify"

/* An answer for (owner, tag).  Called from the event loop or from
 * inside qmgr_verify_ask(). */
typedef void qmgr_verify_answer_fn(void *owner, uint32_t tag,
    enum verify_state st, const char *dsn, const char *text);

/* Start: the settings from v (address_verify_*), timers on base.  Until
 * then every query is answered DEFER. */
void qmgr_verify_init(struct event_base *base, const struct config_view *v);

/*
 * A query of smtpd (owner: its connection).  Answers at once from the
 * cache, or, when there is no result yet, after the probe's result or
 * after wait_ms (PENDING), whichever comes first; exactly one call of fn
 * per query unless qmgr_verify_forget(owner) comes first.
 */
void qmgr_verify_ask(void *owner, uint32_t tag, const char *address,
    const char *service, unsigned wait_ms, qmgr_verify_answer_fn *fn);

/* The owner's connection ended: its waiting queries are dropped. */
void qmgr_verify_forget(void *owner);

/* True if env is a probe (protocol QMGR_VERIFY_PROTOCOL). */
bool qmgr_is_probe(const struct queue_envelope *env);

/* The result of the probe for address: into the cache, and to every
 * query waiting for it. */
void qmgr_verify_probe_done(const char *address, enum verify_state st,
    const char *dsn, const char *text);

#endif
