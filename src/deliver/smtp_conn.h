/* SPDX-License-Identifier: MIT */
/*
 * smtp_conn - the event-driven SMTP (and LMTP) client: the conversation
 * of lmtp_client.h's blocking client -- greeting, EHLO (HELO when EHLO
 * is refused with 5xx) or LHLO, STARTTLS with the certificate check,
 * AUTH PLAIN/LOGIN, transactions with XFORWARD and PIPELINING, RSET,
 * QUIT -- on a
 * libevent loop, so that one process holds many connections at once
 * (the smtp delivery agent).
 *
 * Same inputs and outputs as the blocking client, so that the agents
 * share everything above the socket: struct lmtp_client_settings,
 * struct lmtp_mail, struct lmtp_rcpt (per-recipient replies), struct
 * lmtp_failure (the same kinds, stages, dsn and texts, word for word),
 * and lmtp_client.h's protocol core (reply parser, extensions, address
 * quoting, xtext, dot-stuffing).
 *
 * One operation at a time per connection: open, send, reset (starting
 * one while another is pending is a programming error: the process
 * aborts).  Each ends with ONE call of its callback, always from the
 * event loop (never from inside the call that started it, even when it
 * fails at once); the callback may free the connection.
 * Each wait has the timeout of its step (struct lmtp_timeouts); a
 * timeout is LMTP_FAIL_CONVERSATION and closes the connection.
 *
 * I/O: a non-blocking socket (close-on-exec, MSG_NOSIGNAL) watched with
 * libevent events; once TLS is on, SSL_read/SSL_write on it, a
 * WANT_READ/WANT_WRITE waiting for the right event.  While commands or
 * the message are written, replies are read too (a pipelining server
 * can never deadlock us); input is bounded (LMTP_INPUT_MAX_BYTES), the
 * message is dot-stuffed into a bounded output buffer as it drains.
 * Debug logging as the blocking client (level 2: the conversation,
 * AUTH masked).  Nothing else is logged but the warning of a refused
 * XFORWARD (lmtp_client_send).
 *
 * Destinations: the lmtp_dest_parse() forms.  A host name (not an
 * address) is resolved with getaddrinfo, which blocks: the smtp agent
 * always passes "[address]:port".
 */
#ifndef OSTIA_SMTP_CONN_H
#define OSTIA_SMTP_CONN_H

#include <stdbool.h>
#include <stddef.h>

#include "lmtp_client.h"

struct event_base;
struct smtp_conn;

/*
 * The end of an operation: rc 0 (done), or -1 with *f filled.  *f is
 * the connection's and valid during the call only; the callback may
 * take it over (*mine = *f; memset(f, 0, sizeof(*f))).  For open and reset, -1
 * means the connection is closed (free it).  For send, the meaning of
 * lmtp_client_send's return: 0 every recipient has its answer in
 * rcpts; -1 the failure concerns every recipient that is not done.
 */
typedef void smtp_conn_cb(struct smtp_conn *c, void *ctx, int rc,
    struct lmtp_failure *f);

/*
 * A new, unconnected client on base with the settings (copied as the
 * blocking client copies them: set->tls and set->tls_ctx are not
 * copied; *set->tls, its strings and TLSA records must stay valid until
 * the open callback has run, tls_ctx until the connection is freed).
 */
struct smtp_conn *smtp_conn_new(struct event_base *base,
    const struct lmtp_client_settings *set);

/*
 * Connect to dest, read the greeting, EHLO/HELO or LHLO, then STARTTLS
 * and EHLO again, then AUTH, as lmtp_client_connect does; cb(c, ctx, 0
 * or -1, f) at the end (f: LMTP_FAIL_CONNECT, _CONVERSATION, _REPLY,
 * _TLS, _AUTH as lmtp_client_connect's).
 */
void smtp_conn_open(struct smtp_conn *c, const char *dest, smtp_conn_cb *cb,
    void *ctx);

/*
 * One transaction, as lmtp_client_send: m and rcpts (and the strings
 * they point to, and m->content) must stay valid until cb has run; the
 * replies are stored in rcpts[i] (the caller deinits them).  The
 * connection must be open and, after an earlier transaction, reset.
 */
void smtp_conn_send(struct smtp_conn *c, const struct lmtp_mail *m,
    struct lmtp_rcpt *rcpts, size_t n, smtp_conn_cb *cb, void *ctx);

/* RSET before the next transaction, as lmtp_client_reset (also notices
 * a connection the server closed or ended with 421 while idle). */
void smtp_conn_reset(struct smtp_conn *c, smtp_conn_cb *cb, void *ctx);

/*
 * QUIT in the background: the reply is awaited at most the quit
 * timeout (its content ignored), then the connection closes and frees
 * itself.  *cp is NULL afterwards (the connection is no longer the
 * caller's).  A connection that is not open, or one with an operation
 * pending (whose callback then never runs), is freed at once.
 */
void smtp_conn_quit(struct smtp_conn **cp);

/* Close at once and free; a pending operation's callback never runs.
 * *cp may be NULL; NULL afterwards. */
void smtp_conn_free(struct smtp_conn **cp);

/* As the lmtp_client_* accessors. */
const struct lmtp_caps *smtp_conn_caps(const struct smtp_conn *c);
const struct tls_client_info *smtp_conn_tls(const struct smtp_conn *c);
bool smtp_conn_authenticated(const struct smtp_conn *c);
bool smtp_conn_helo(const struct smtp_conn *c);
const char *smtp_conn_stage_command(const struct smtp_conn *c,
    enum lmtp_stage st);
bool smtp_conn_is_open(const struct smtp_conn *c);
/* True while an operation (open, send, reset) waits for its end. */
bool smtp_conn_busy(const struct smtp_conn *c);

/* Connections that exist (QUIT in the background included), for a
 * draining process and tests. */
size_t smtp_conn_count(void);

#endif
