/* SPDX-License-Identifier: MIT */
/*
 * agent_generic - smtp_generic_maps: the addresses of an outgoing
 * transaction as the smtp agent sends them (Postfix's generic(5), for
 * hosts whose local addresses are not valid on the Internet).
 *
 * What is mapped: the envelope sender (not the null sender), every
 * recipient sent, and the addr-specs in the address headers of the
 * primary header block (header_rewrite.h: From:, To:, Cc:, Reply-To:,
 * ...; display names, comments and everything else stay byte for byte).
 * Each distinct address is one ROUTE "generic" request to the lookup
 * process (route_generic: canonical(5)'s lookup order and result
 * rules), all in flight at once, for the agent's own service view, so a
 * master.cf "-o smtp_generic_maps=..." counts.  At most
 * AGENT_GENERIC_LOOKUPS_MAX addresses per message; header addresses
 * beyond that are sent as they are, with a warning.
 *
 * The results and the log keep the recipients as queued
 * (to=<original>); only the wire carries the mapped addresses.
 *
 * Failure is never a silent pass: a lookup that fails (or an answer
 * that is not one address) defers every recipient of the transaction
 * with the address and the cause.
 *
 * One event loop; not thread-safe.
 */
#ifndef OSTIA_AGENT_GENERIC_H
#define OSTIA_AGENT_GENERIC_H

#include <stdbool.h>
#include <stddef.h>

#include "agent_client.h"
#include "lookup_client.h"

#define AGENT_GENERIC_LOOKUPS_MAX 1000

struct agent_generic;

/*
 * The mapping is done: why is NULL on success (t now points at the
 * mapped sender, recipients and content, owned by g: keep g until t is
 * no longer sent), else the reason the transaction must wait.
 */
typedef void agent_generic_done_fn(void *ctx, const char *why);

/*
 * Start mapping transaction t (of queue ID queue_id) through lc for
 * service ("NAME/TYPE").  done runs from the event loop once, later
 * (never from inside this call), unless g is freed first.  Returns the
 * new state (free with agent_generic_free).
 */
struct agent_generic *agent_generic_start(struct lookup_client *lc,
    const char *service, const char *queue_id, struct agent_txn *t,
    agent_generic_done_fn *done, void *ctx);

/* Cancel what is in flight and free; *gp becomes NULL.  t must no
 * longer be sent after this when the mapping succeeded. */
void agent_generic_free(struct agent_generic **gp);

#endif
