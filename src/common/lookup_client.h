/* SPDX-License-Identifier: MIT */
/*
 * lookup_client - asking the lookup process (lookup_proto.h).
 *
 * Two clients:
 *
 * - lookup_client_*: asynchronous, for daemons on a libevent loop.  One
 *   client per process is enough: it keeps one connection, pipelines
 *   every request on it and matches answers by id.  The connection is
 *   made at the first request and made again after it was lost.  The
 *   callback always runs from the event loop, never from inside
 *   lookup_client_get().  Daemons use this client directly; the dict
 *   layer's proxy: type (dict_proxy.c) is synchronous and would block
 *   the loop.
 *
 * - lookup_sync_* and lookup_query(): blocking, for tools, tests and
 *   the proxy: dict type.  One request at a time, each waited for at
 *   most the timeout.
 *
 * Failure is never "not found": a lookup process that cannot be
 * reached, does not answer in time, closes the connection or sends
 * something malformed gives TEMPFAIL with the reason.  A request that
 * was sent on a connection that then closed is sent once more on a new
 * connection (the master keeps the listening socket while it restarts
 * a lookup process, and a reload replaces the lookup process); after
 * that it is a TEMPFAIL.
 *
 * Requests are checked before they leave: a key longer than
 * DICT_KEY_MAX_BYTES is NOTFOUND without asking (as dict_get() does),
 * a table name that is empty or longer than DICT_SPEC_MAX_BYTES is a
 * TEMPFAIL.
 */
#ifndef OSTIA_LOOKUP_CLIENT_H
#define OSTIA_LOOKUP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "dict.h"

#define LOOKUP_CLIENT_TIMEOUT_MS (30 * 1000)
/* Request bytes waiting to be written before new requests fail. */
#define LOOKUP_CLIENT_OUT_MAX_BYTES (1024 * 1024)

struct event_base;
struct lookup_client;
struct lookup_request;

/*
 * The answer: DICT_FOUND with the value (text, len bytes, NUL-
 * terminated), DICT_NOTFOUND (text ""), DICT_TEMPFAIL with the reason in
 * plain words (text).  text is valid during the call only.
 */
typedef void lookup_client_fn(void *ctx, enum dict_status st,
    const char *text, size_t len);

/* A client for socket_path (relative to the current directory, which
 * for daemons is queue_directory: LOOKUP_SOCKET_PATH).  No connection
 * is made yet. */
struct lookup_client *lookup_client_new(struct event_base *base,
    const char *socket_path);
/* How long an answer is waited for (default LOOKUP_CLIENT_TIMEOUT_MS). */
void lookup_client_set_timeout(struct lookup_client *lc, unsigned ms);
/*
 * Ask for key in table (flags: LOOKUP_F_*).  cb runs exactly once,
 * later, unless the request is cancelled or the client freed first.
 * The returned handle is valid until cb runs or it is cancelled.
 */
struct lookup_request *lookup_client_get(struct lookup_client *lc,
    const char *table, const char *key, unsigned flags,
    lookup_client_fn *cb, void *ctx);
/*
 * Check password for the login key against the stored hash that table
 * gives (LOOKUP_F_VERIFY): DICT_FOUND = it matches, DICT_NOTFOUND = no
 * such login or a wrong password, DICT_TEMPFAIL = the table or the
 * stored hash failed.  The password is kept (for a resend after a
 * reconnect) and wiped when the request ends.
 */
struct lookup_request *lookup_client_verify(struct lookup_client *lc,
    const char *table, const char *key, const char *password,
    unsigned flags, lookup_client_fn *cb, void *ctx);
/* The caller no longer wants the answer: cb will not run. */
void lookup_client_cancel(struct lookup_request *r);
/* Requests whose callback has not run yet (cancelled ones excluded). */
size_t lookup_client_pending(const struct lookup_client *lc);
/* Close the connection; callbacks of waiting requests do not run.  May
 * be called from a callback. */
void lookup_client_free(struct lookup_client **lcp);

/* Blocking client: one connection, kept between requests. */
struct lookup_sync;

struct lookup_sync *lookup_sync_new(const char *socket_path,
    unsigned timeout_ms);
/*
 * Ask and wait (at most the timeout).  DICT_FOUND with the value in
 * value (reset first; it must be able to hold DICT_VALUE_MAX_BYTES),
 * DICT_NOTFOUND, or DICT_TEMPFAIL with err.
 */
enum dict_status lookup_sync_get(struct lookup_sync *s, const char *table,
    const char *key, unsigned flags, struct buf *value, char *err,
    size_t errsz);
void lookup_sync_free(struct lookup_sync **sp);

/* One request on a new connection (lookup_sync_new/get/free). */
enum dict_status lookup_query(const char *socket_path, const char *table,
    const char *key, unsigned flags, unsigned timeout_ms, struct buf *value,
    char *err, size_t errsz);

#endif
