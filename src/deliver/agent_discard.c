/* SPDX-License-Identifier: MIT */
/*
 * agent_discard - the discard delivery agent (master.cf command
 * "discard"): every recipient is reported delivered and the message is
 * dropped.  The next hop of the transport (discard:TEXT, e.g. from an
 * access table's DISCARD action or transport_maps) is the reason given
 * in the log; without one, "discarded".
 *
 * Runs as mail_owner; reads nothing but the request.
 */
#include "agent.h"

static void
discard_deliver(struct agent_ctx *a, const struct deliver_req *req,
    const struct deliver_msg *msg, struct agent_results *res)
{
	if (req->nexthop[0] != '\0')
		agent_set_all(res, DELIVER_OK, "2.0.0", NULL, "%s",
		    req->nexthop);
	else
		agent_set_all(res, DELIVER_OK, "2.0.0", NULL, "discarded");
}

static const char *
discard_relay(struct agent_ctx *a, const struct deliver_req *req)
{
	return "none";
}

const struct agent_def agent_discard = {
	.command = "discard",
	.setup = NULL,
	.deliver = discard_deliver,
	.relay = discard_relay,
	.verifies = true,
};
