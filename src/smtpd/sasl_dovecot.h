/* SPDX-License-Identifier: MIT */
/*
 * sasl_dovecot - smtpd's asynchronous client of Dovecot's auth service
 * (smtpd_sasl_type = dovecot).
 *
 * Speaks Dovecot's "auth client" protocol (major version 1; Dovecot 2.x
 * serves it on its auth-client socket).  Lines end in LF, fields are
 * separated by TAB:
 *
 *   S: VERSION 1 2, MECH <name> [<flag>...] (one per mechanism), SPID,
 *      CUID, COOKIE, DONE          (sent by Dovecot as soon as we connect)
 *   C: VERSION 1 2, CPID <pid>      (sent by us at once, pipelined)
 *   C: AUTH <id> <mech> service=smtp [secured] [no-penalty] [lip= rip=
 *      lport= rport=] [session=] [resp=<base64>]
 *   S: CONT <id> <base64>  |  OK <id> user=<name> ...  |
 *      FAIL <id> [user=] [reason=] [temp | code=temp_fail] ...
 *   C: CONT <id> <base64>  (answer to a CONT)  |  CANCEL <id>
 *
 * One struct sasl_dovecot per smtpd process: every session shares its
 * single connection, on which requests are told apart by id.  The
 * connection is made lazily (at the first request, or by
 * sasl_dovecot_connect()) and made again after it was lost.  After a
 * failed attempt (cannot connect, no complete handshake within
 * SASL_DOVECOT_HANDSHAKE_TIMEOUT_MS, a protocol error) the next attempt
 * waits SASL_DOVECOT_BACKOFF_MIN_MS, doubling up to
 * SASL_DOVECOT_BACKOFF_MAX_MS; requests made while waiting fail at once
 * with SASL_STEP_TEMPFAIL.  A connection that was working and closes is
 * made again at the next request without waiting.
 *
 * Failure is never SASL_STEP_FAIL ("wrong credentials"): Dovecot
 * unreachable, a lost connection, a timeout, or a reply that breaks the
 * protocol all give SASL_STEP_TEMPFAIL (smtpd: 454 4.7.0), as does
 * Dovecot's own temporary failure (FAIL with "temp" or code=temp_fail).
 * Each answer is waited for at most SASL_DOVECOT_REPLY_TIMEOUT_MS; a
 * request that times out gets TEMPFAIL and a CANCEL is sent, but the
 * connection is kept.  Any line from Dovecot that is longer than
 * SASL_DOVECOT_IN_LINE_MAX, holds a NUL, names an id we never sent, or
 * is a command we do not know ends the connection, and every request
 * waiting on it gets TEMPFAIL.  Replies for ids we sent but no longer
 * wait for (cancelled, timed out) are ignored.
 *
 * Callbacks: every sasl_dovecot_start() and sasl_dovecot_respond() that
 * returned success is followed by exactly one callback, later, from the
 * event loop (never from inside the call), unless the request is
 * cancelled or the client freed first.  A callback may start, respond to
 * or cancel any request, and may free the client; after a final step
 * (OK, FAIL, TEMPFAIL) the request handle is gone.
 *
 * Secrets: initial responses and CONT data are passwords in base64.  They
 * are never logged, and every buffer that held them is wiped
 * (explicit_bzero) when released.  User names from Dovecot are logged
 * escaped (log_escape()).
 *
 * Input from the SMTP client is checked before anything is sent: a
 * mechanism must be a SASL name (RFC 4422: letters, digits, '-', '_',
 * at most 20) and every response strict base64, so no TAB, LF or
 * other byte can reach Dovecot unescaped; addresses must parse as IPv4
 * or IPv6 addresses and are left out otherwise.
 *
 * Captured from Dovecot 2.3.19 (cookie replaced):
 *   S: VERSION\t1\t2
 *   S: MECH\tPLAIN\tplaintext
 *   S: MECH\tLOGIN\tplaintext
 *   S: SPID\t6028
 *   S: CUID\t1
 *   S: COOKIE\t<32 hex digits>
 *   S: DONE
 *   C: VERSION\t1\t2
 *   C: CPID\t4242
 *   C: AUTH\t3\tLOGIN\tservice=smtp\tno-penalty\trip=127.0.0.9
 *   S: CONT\t3\tVXNlcm5hbWU6
 *   C: CONT\t3\t<base64 user name>
 *   S: CONT\t3\tUGFzc3dvcmQ6
 *   C: CONT\t3\t<base64 password>
 *   S: OK\t3\tuser=alice
 *   S: FAIL\t2\tuser=alice                 (wrong password)
 *   S: FAIL\t3\tuser=bob\tcode=temp_fail   (passdb temporary failure)
 *   S: FAIL\t6\tcode=invalid_base64\treason=Invalid base64 data in
 *      initial response
 * Dovecot drops the connection for a line over 16384 bytes, an AUTH for
 * a mechanism it did not offer, a duplicate id, or AUTH without service=.
 * It answers a CANCEL with nothing, and a CONT for an id it forgot with
 * FAIL reason=Authentication request timed out.  Values in its replies
 * are tab-escaped (sasl_dovecot_text.h); user= is unescaped here.  It
 * does not enforce disable_plaintext_auth for auth clients: "secured" is
 * information only, smtpd_tls_auth_only is smtpd's job.
 */
#ifndef OSTIA_SASL_DOVECOT_H
#define OSTIA_SASL_DOVECOT_H

#include <stdbool.h>
#include <stddef.h>

/* Defaults; sasl_dovecot_set_timeouts() changes them (tests). */
#define SASL_DOVECOT_HANDSHAKE_TIMEOUT_MS (10 * 1000)
#define SASL_DOVECOT_REPLY_TIMEOUT_MS (30 * 1000)
#define SASL_DOVECOT_BACKOFF_MIN_MS 1000
#define SASL_DOVECOT_BACKOFF_MAX_MS (30 * 1000)

/* Longest line accepted from Dovecot, LF included (Dovecot 2.3's own
 * limit for its client lines). */
#define SASL_DOVECOT_IN_LINE_MAX 16384
/* Longest line we send, LF included (what Dovecot 2.2 still reads). */
#define SASL_DOVECOT_OUT_LINE_MAX 8192
/* Longest base64 response accepted from the SMTP client (initial or
 * continued); fits in SASL_DOVECOT_OUT_LINE_MAX with every AUTH field. */
#define SASL_DOVECOT_RESP_MAX 7168
/* Longest user name accepted in Dovecot's OK (after unescaping). */
#define SASL_DOVECOT_USER_MAX 512
/* FAIL reasons are cut to this many bytes. */
#define SASL_DOVECOT_REASON_MAX 256
/* Request bytes waiting to be written before new requests fail. */
#define SASL_DOVECOT_OUT_MAX_BYTES (1024 * 1024)

/* Mechanism properties, from the flags on Dovecot's MECH lines. */
#define SASL_MECH_ANONYMOUS	0x01u	/* "anonymous" */
#define SASL_MECH_PLAINTEXT	0x02u	/* "plaintext": password in clear */
#define SASL_MECH_DICTIONARY	0x04u	/* "dictionary": passive attack */
#define SASL_MECH_ACTIVE	0x08u	/* "active": active attack */
#define SASL_MECH_FORWARD_SECRECY 0x10u	/* "forward-secrecy" */
#define SASL_MECH_MUTUAL_AUTH	0x20u	/* "mutual-auth" */
#define SASL_MECH_PRIVATE	0x40u	/* "private": never advertised */

struct event_base;
struct sasl_dovecot;
struct sasl_dovecot_req;

/* What Dovecot is told about the SMTP session (for its logs, its
 * penalty tracking and passdb conditions).  Strings may be NULL. */
struct sasl_client_info {
	const char *client_addr;	/* rip=, numeric IPv4/IPv6 */
	const char *local_addr;		/* lip= */
	unsigned client_port;		/* rport=, left out when 0 */
	unsigned local_port;		/* lport= */
	bool secured;			/* TLS is on ("secured") */
	/* "no-penalty": Dovecot does not slow down this client after
	 * failures (Ostia's own brute-force defence does). */
	bool no_penalty;
	/* session=, shown in Dovecot's log; letters, digits, ".-_:" and
	 * at most 64 bytes, else left out. */
	const char *session_id;
};

enum sasl_step {
	SASL_STEP_CONTINUE,	/* data = base64 challenge ("" if empty): send
				 * 334 and call sasl_dovecot_respond() */
	SASL_STEP_OK,		/* data = the authenticated user name */
	SASL_STEP_FAIL,		/* wrong credentials, refused; data = reason
				 * for the client (printable ASCII) or NULL */
	SASL_STEP_TEMPFAIL,	/* Dovecot unreachable, lost, timed out, broke
				 * the protocol or failed temporarily; data =
				 * reason in plain words, for the log */
};

/*
 * The answer to a request.  user: OK: the same as data; FAIL and
 * TEMPFAIL: the user name Dovecot reported (untrusted text: log it
 * through log_escape()), or NULL; CONTINUE: NULL.  data and user are
 * valid during the call only.  For sasl_dovecot_wait(): OK with data =
 * the mechanisms offered (as sasl_dovecot_mechs(d, 0, 0)), or TEMPFAIL.
 */
typedef void sasl_dovecot_cb(void *ctx, enum sasl_step step,
    const char *data, const char *user);

/*
 * A client for path: "inet:host:port" (host a name or an address, IPv6
 * in brackets; a name is looked up with getaddrinfo() at each connection
 * attempt, which blocks), or a UNIX-domain socket path, absolute or
 * relative to the current directory (smtpd's is queue_directory, so
 * Postfix's "private/auth" works as it does there).  No connection is
 * made yet.  NULL with *error_r (static text) for an unusable path.
 */
struct sasl_dovecot *sasl_dovecot_new(struct event_base *base,
    const char *path, const char **error_r);
/* Change the timeouts and backoff (milliseconds; 0 keeps a value). */
void sasl_dovecot_set_timeouts(struct sasl_dovecot *d, unsigned handshake_ms,
    unsigned reply_ms, unsigned backoff_min_ms, unsigned backoff_max_ms);
/* Connect now unless connected, connecting or waiting out a backoff
 * (smtpd calls this at startup so the mechanisms are known early). */
void sasl_dovecot_connect(struct sasl_dovecot *d);
/* Whether the connection is up and its handshake complete. */
bool sasl_dovecot_is_ready(const struct sasl_dovecot *d);

/*
 * The mechanisms to advertise: those Dovecot offered, in its order,
 * separated by single spaces, leaving out private ones, those with any
 * of the exclude flags and those lacking any of the require flags
 * (smtpd_sasl_security_options: noplaintext -> SASL_MECH_PLAINTEXT,
 * noanonymous -> SASL_MECH_ANONYMOUS, nodictionary, noactive;
 * mutual_auth -> require SASL_MECH_MUTUAL_AUTH).  The list comes from
 * the last completed handshake, so it stays while Dovecot is briefly
 * away; NULL before the first handshake ever completed.  When not
 * connected this also starts a connection (as sasl_dovecot_connect()).
 * "" when every mechanism is filtered out.  The text is in one buffer
 * of d: valid until the next call (so not twice in one printf) or until
 * the event loop runs.
 */
const char *sasl_dovecot_mechs(struct sasl_dovecot *d, unsigned exclude,
    unsigned require);
/* SASL_MECH_* flags of mech (any case) in that list, or -1 when Dovecot
 * does not offer it (or only as private, or no handshake yet). */
int sasl_dovecot_mech_flags(const struct sasl_dovecot *d, const char *mech);

/*
 * Be told when the handshake is complete: cb(ctx, SASL_STEP_OK, mechs,
 * NULL), at once (from the loop) when it already is; or TEMPFAIL with
 * the reason when connecting fails.  Starts a connection if needed.
 * Cancel with sasl_dovecot_cancel().  Never NULL.
 */
struct sasl_dovecot_req *sasl_dovecot_wait(struct sasl_dovecot *d,
    sasl_dovecot_cb *cb, void *ctx);

/*
 * Start an authentication with mechanism mech (any case; sent as
 * Dovecot spelled it) and initial_b64, the base64 initial response from
 * AUTH's second argument: NULL for none, "=" for an empty one.  info may
 * be NULL.  Returns the request; cb follows (CONTINUE, OK, FAIL or
 * TEMPFAIL).  A mechanism Dovecot does not offer gives FAIL with the
 * reason "mechanism not offered".
 * NULL with *error_r (static text), and no callback, when the input
 * cannot be sent: mech is not a SASL mechanism name, or initial_b64 is
 * not base64 ("malformed base64": 501 5.5.2) or longer than
 * SASL_DOVECOT_RESP_MAX.
 */
struct sasl_dovecot_req *sasl_dovecot_start(struct sasl_dovecot *d,
    const char *mech, const char *initial_b64,
    const struct sasl_client_info *info, sasl_dovecot_cb *cb, void *ctx,
    const char **error_r);
/*
 * Answer a CONTINUE with the client's base64 line (may be "" for an
 * empty response).  0: cb follows.  -1 with *error_r (static text) when
 * resp_b64 is not base64 or too long: the request is then cancelled (r
 * is gone, no callback).  Only after a CONTINUE callback, once.
 */
int sasl_dovecot_respond(struct sasl_dovecot_req *r, const char *resp_b64,
    const char **error_r);
/*
 * The session no longer wants the answer (the client sent "*", or went
 * away): no callback after this, and Dovecot is told (CANCEL) when it
 * knows the request.  r is gone.  Not after a final step was delivered.
 */
void sasl_dovecot_cancel(struct sasl_dovecot_req *r);

/* Requests whose final callback has not run yet (cancelled excluded). */
size_t sasl_dovecot_pending(const struct sasl_dovecot *d);

/* Close the connection and free everything; callbacks of waiting
 * requests do not run.  May be called from a callback.  *dp = NULL. */
void sasl_dovecot_free(struct sasl_dovecot **dp);

#endif
