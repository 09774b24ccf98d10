/* SPDX-License-Identifier: MIT */
/*
 * agent_error - the error delivery agent (master.cf command "error"):
 * every recipient fails with the next hop of the transport as the
 * reason, as in transport_maps "error:mailbox disabled".
 *
 *   - The next hop may start with an enhanced status code (RFC 3463)
 *     and a space, "5.1.1 no such user" or "4.7.1 try later": that code
 *     is used and its class decides (4 defer, 5 bounce).
 *   - Otherwise the recipients bounce with 5.0.0, or are deferred with
 *     4.0.0 when the next hop starts with '4'.
 *   - A service named "retry" (Postfix's default master.cf runs error
 *     as "retry" for deferrals) always defers: a 5.X.Y code becomes
 *     4.X.Y.
 *
 * Runs as mail_owner; reads nothing but the request.
 */
#include <stdio.h>
#include <string.h>

#include "agent.h"

/* Longest code taken from the next hop ("5.999.999"). */
#define ERROR_DSN_MAX 9

/*
 * split_dsn - when text starts with "C.S.D" followed by a space or the
 * end, copy the code to dsn and return the text after it (spaces
 * skipped); otherwise return text and leave dsn "".
 */
static const char *
split_dsn(const char *text, char dsn[ERROR_DSN_MAX + 1])
{
	size_t n = strcspn(text, " ");

	dsn[0] = '\0';
	if (n == 0 || n > ERROR_DSN_MAX)
		return text;
	memcpy(dsn, text, n);
	dsn[n] = '\0';
	if (!deliver_dsn_valid(dsn, DELIVER_DEFER) &&
	    !deliver_dsn_valid(dsn, DELIVER_BOUNCE)) {
		dsn[0] = '\0';
		return text;
	}
	text += n;
	while (*text == ' ')
		text++;
	return text;
}

static void
error_deliver(struct agent_ctx *a, const struct deliver_req *req,
    const struct deliver_msg *msg, struct agent_results *res)
{
	char dsn[ERROR_DSN_MAX + 1];
	const char *text = split_dsn(req->nexthop, dsn);
	bool retry = strcmp(req->transport, "retry") == 0;
	enum deliver_status st;

	if (dsn[0] != '\0')
		st = dsn[0] == '4' ? DELIVER_DEFER : DELIVER_BOUNCE;
	else
		st = req->nexthop[0] == '4' ? DELIVER_DEFER : DELIVER_BOUNCE;
	if (retry && st == DELIVER_BOUNCE) {
		st = DELIVER_DEFER;
		if (dsn[0] != '\0')
			dsn[0] = '4';
	}
	if (dsn[0] == '\0')
		snprintf(dsn, sizeof(dsn), "%s", st == DELIVER_DEFER ?
		    "4.0.0" : "5.0.0");
	if (text[0] == '\0')
		text = st == DELIVER_DEFER ? "delivery temporarily suspended" :
		    "mail for this recipient is refused";
	agent_set_all(res, st, dsn, NULL, "%s", text);
}

static const char *
error_relay(struct agent_ctx *a, const struct deliver_req *req)
{
	return "none";
}

const struct agent_def agent_error = {
	.command = "error",
	.setup = NULL,
	.deliver = error_deliver,
	.relay = error_relay,
	.verifies = true,
};
