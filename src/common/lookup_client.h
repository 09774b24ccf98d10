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
 * TEMPFAIL.  The same for FIND (the list of tables: at most
 * LOOKUP_TABLES_MAX_BYTES; an unknown order or flag is a TEMPFAIL) and
 * ROUTE (an address longer than
 * ROUTE_ADDRESS_MAX_BYTES, a service name longer than
 * LOOKUP_SERVICE_MAX_BYTES or an unknown operation: TEMPFAIL).  A ROUTE
 * is never NOTFOUND: such an answer from the lookup process is turned
 * into a TEMPFAIL.
 */
#ifndef OSTIA_LOOKUP_CLIENT_H
#define OSTIA_LOOKUP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "dict.h"
#include "lookup_proto.h"
#include "route.h"

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
/*
 * Search the list of tables (written as in a *_maps value: "hash:/a,
 * pcre:/b") for key in the order given (lookup_proto.h: FIND).  mflags:
 * MAPS_ADDR_* for LOOKUP_FIND_ADDRESS,
 * MAPS_ADDR_PARENT_MATCHES_SUBDOMAINS for LOOKUP_FIND_DOMAIN, none for
 * the others (flags an order does not take are dropped; a bit that is
 * no MAPS_ADDR_* flag is a TEMPFAIL); delimiters: recipient_delimiter
 * for LOOKUP_FIND_ADDRESS (ignored for the other orders; NULL = "").  The
 * answer: DICT_FOUND with the first value found, DICT_NOTFOUND,
 * DICT_TEMPFAIL (a table failed, or the lookup process does not serve
 * one of them).  As lookup_client_get otherwise.
 */
struct lookup_request *lookup_client_find(struct lookup_client *lc,
    const char *tables, const char *key, enum lookup_find_order order,
    unsigned mflags, const char *delimiters, lookup_client_fn *cb,
    void *ctx);
/*
 * Resolve address for a service's view of the configuration (service:
 * "" = main.cf, "NAME/TYPE" = that master.cf entry, "NAME" = the first
 * entry of that name).  The answer: DICT_FOUND with "name=value\n"
 * lines (lookup_route_answer_parse) or DICT_TEMPFAIL with the reason;
 * never DICT_NOTFOUND.  As lookup_client_get otherwise.
 */
struct lookup_request *lookup_client_route(struct lookup_client *lc,
    const char *service, enum lookup_route_op op, const char *address,
    lookup_client_fn *cb, void *ctx);
/*
 * Count a client event (lookup_proto.h: ANVIL; key "SERVICE ADDRESS").
 * The answer: DICT_FOUND with "count=N rate=N"
 * (lookup_anvil_answer_parse) or DICT_TEMPFAIL with the reason; never
 * DICT_NOTFOUND.  The lookup process counts open connections per
 * connection of ours and takes them back when it closes, so a
 * DISCONNECT must go on the connection its CONNECT was counted on
 * (lookup_client_connection_id when the answer came, still the same);
 * it is never sent again on a new connection.  A cancelled CONNECT
 * still counts once it was sent: undo it with a DISCONNECT while the
 * connection is the same (requests leave in order).  As
 * lookup_client_get otherwise.
 */
struct lookup_request *lookup_client_anvil(struct lookup_client *lc,
    enum lookup_anvil_op op, const char *key, lookup_client_fn *cb,
    void *ctx);
/* The connection open now (a new number for each one made), or 0 when
 * there is none. */
uint64_t lookup_client_connection_id(const struct lookup_client *lc);
/* r (not answered yet) was written to the connection open now, not
 * answered locally. */
bool lookup_client_request_sent(const struct lookup_request *r);
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
/* FIND, blocking (flags: LOOKUP_F_NOCACHE or 0); answers as
 * lookup_sync_get. */
enum dict_status lookup_sync_find(struct lookup_sync *s, const char *tables,
    const char *key, enum lookup_find_order order, unsigned mflags,
    const char *delimiters, unsigned flags, struct buf *value, char *err,
    size_t errsz);
/* ROUTE, blocking: DICT_FOUND with the answer's lines in value, or
 * DICT_TEMPFAIL with err; never DICT_NOTFOUND. */
enum dict_status lookup_sync_route(struct lookup_sync *s, const char *service,
    enum lookup_route_op op, const char *address, unsigned flags,
    struct buf *value, char *err, size_t errsz);
void lookup_sync_free(struct lookup_sync **sp);

/* One request on a new connection (lookup_sync_new/get/free). */
enum dict_status lookup_query(const char *socket_path, const char *table,
    const char *key, unsigned flags, unsigned timeout_ms, struct buf *value,
    char *err, size_t errsz);

/*
 * The answer to a ROUTE, "name=value\n" lines, every line ended by a
 * newline, values without CR, LF or NUL:
 *
 *   class=local|alias|virtual|relay|default    always
 *   flags=WORD,...   routed, postmaster, literal (ROUTE_F_*); may be
 *                    empty; always
 *   address=ADDR     after rewriting; always
 *   transport=NAME   always (may be empty: the null sender)
 *   nexthop=HOP      always (may be empty)
 *   listed=yes|no    LOOKUP_ROUTE_CHECK
 *   code=NNN         LOOKUP_ROUTE_CHECK, unlisted: the reject code
 *                    (4xx or 5xx)
 *   dsn=X.Y.Z        LOOKUP_ROUTE_CHECK, unlisted: the enhanced status
 *                    code (RFC 3463: X 2, 4 or 5, Y and Z 1-3 digits)
 *   text=TEXT        LOOKUP_ROUTE_CHECK, unlisted: the reject text
 *   rcpt=ADDR        LOOKUP_ROUTE_EXPAND: one line per final address
 *                    (the null address expands to one empty rcpt)
 *
 * Unknown names are ignored (forward compatibility); a known name twice
 * (rcpt excepted), a value over its limit or not of its form, an
 * unknown class or flag word, a line without '=' or a newline, or no
 * class line make the whole answer malformed.
 */
#define LOOKUP_ROUTE_TRANSPORT_MAX_BYTES 127	/* route_result.transport */
#define LOOKUP_ROUTE_TEXT_MAX_BYTES 255		/* route_verdict.text */
#define LOOKUP_ROUTE_DSN_MAX_BYTES 15		/* route_verdict.dsn */

struct lookup_route_answer {
	enum route_class cls;
	unsigned flags;		/* ROUTE_F_* */
	char *address;		/* never NULL after a parse ("" if absent) */
	char *transport;	/* never NULL after a parse */
	char *nexthop;		/* never NULL after a parse */
	bool listed;		/* CHECK: false when there is no listed line */
	bool has_listed;	/* a listed line was there */
	int code;		/* CHECK, unlisted; else 0 */
	char *dsn;		/* CHECK, unlisted ("5.1.1"); never NULL
				 * after a parse ("" if absent) */
	char *text;		/* CHECK, unlisted; never NULL after a parse */
	char **rcpts;		/* EXPAND: NULL-terminated; NULL when the
				 * answer has no rcpt line */
};

/*
 * Parse the len bytes of text (a ROUTE answer).  0 with *a filled (free
 * with lookup_route_answer_deinit), or -1 (malformed; *a needs no
 * deinit but may be deinit'ed).
 */
int lookup_route_answer_parse(const char *text, size_t len,
    struct lookup_route_answer *a);
void lookup_route_answer_deinit(struct lookup_route_answer *a);
/*
 * The mapped address of a ROUTE answer to a request that maps one
 * address (header-sender, header-recipient, generic): a new string, or
 * NULL when st is not DICT_FOUND or the answer is malformed, has an
 * empty address, one longer than max bytes, or one with a CR or LF.
 */
char *lookup_route_mapped(enum dict_status st, const char *text, size_t len,
    size_t max);
/*
 * Append a's lines to out (the lookup process's side; NULL strings are
 * written as empty, listed/code/dsn/text only when has_listed, code,
 * dsn and text only when not listed; an empty dsn is left out).  0, or -1 with *error_r (static text) when
 * a value holds CR or LF, is over its limit, a flag bit has no name, or
 * out has no room (out is then unchanged).
 */
int lookup_route_answer_format(const struct lookup_route_answer *a,
    struct buf *out, const char **error_r);

#endif
