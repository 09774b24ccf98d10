/* SPDX-License-Identifier: MIT */
/*
 * verify_client - smtpd's side of address verification (verify_proto.h):
 * one connection per smtpd process to the queue process, made at the
 * first query and made again at the next one after it broke; every query
 * is a tag on it.
 *
 * The callback runs from the event loop only, never from inside
 * verify_client_ask(): with the answer, or with an error (plain words)
 * when the connection broke, the answer was malformed, or none came
 * within the wait asked for plus VERIFY_CLIENT_SLACK_SECONDS.
 * Cancelling a query before its callback means it is never called;
 * after the callback the caller frees it with verify_client_cancel().
 */
#ifndef OSTIA_VERIFY_CLIENT_H
#define OSTIA_VERIFY_CLIENT_H

#include "verify_proto.h"

#define VERIFY_CLIENT_SLACK_SECONDS 10

struct event_base;
struct verify_client_req;

/* error NULL: st, dsn, text are the answer; else error says why there
 * is none (the other arguments are then meaningless). */
typedef void verify_client_fn(void *ctx, enum verify_state st,
    const char *dsn, const char *text, const char *error);

/*
 * Ask about address, routed as service routes; the queue process may
 * wait up to wait_ms for a probe's result.  NULL with *error_r (static
 * text) when the queue process cannot be reached or the query cannot be
 * sent (then fn is never called).
 */
struct verify_client_req *verify_client_ask(struct event_base *base,
    const char *socket_path, const char *address, const char *service,
    unsigned wait_ms, verify_client_fn *fn, void *ctx,
    const char **error_r);

/* Forget a query (*rp may be NULL; NULL afterwards). */
void verify_client_cancel(struct verify_client_req **rp);

#endif
