/* SPDX-License-Identifier: MIT */
/*
 * lmtp_common - what the blocking LMTP/SMTP client (lmtp_client.c) and
 * the event-driven one (smtp_conn.c) share above the socket: the state
 * of a conversation that does not depend on how the bytes move (names,
 * settings, extensions, HELO, AUTH), the failure texts word for word,
 * the command lines, the parameters of MAIL FROM and RCPT TO, the local
 * refusals, the STARTTLS and AUTH decisions, and the debug trace.
 *
 * Internal to src/deliver: the public contracts are lmtp_client.h and
 * smtp_conn.h.  Nothing here does I/O; the callers close their
 * connection where a function says the conversation is over.
 */
#ifndef OSTIA_LMTP_COMMON_H
#define OSTIA_LMTP_COMMON_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "compat.h"
#include "lmtp_client.h"

/* Pending output before it is flushed (commands or message pieces). */
#define LMTP_OUTPUT_FLUSH_BYTES (64 * 1024)
/* The output buffer's hard maximum: a flushed piece of the message
 * (LMTP_OUTPUT_FLUSH_BYTES of input) at most doubles (bare LF), plus a
 * command of the longest parameters. */
#define LMTP_OUTPUT_MAX_BYTES (4 * LMTP_OUTPUT_FLUSH_BYTES)
/* Bytes read from the socket at a time. */
#define LMTP_READ_BYTES 4096

/* The conversation's state above the socket. */
struct lmtp_session {
	char *dest;		/* as given (lmtp_session_start) */
	char *peer;		/* how texts name the server */
	const char *pname;	/* "LMTP" / "SMTP" */
	enum lmtp_protocol proto;
	struct endpoint ep;
	char *lhlo_name;
	char *default_port;	/* NULL: none */
	char *bind_address;	/* NULL: none (IPv4 servers) */
	char *bind_address6;	/* NULL: none (IPv6 servers) */
	char **discard_ehlo;	/* NULL: none */
	bool discard_silent;
	struct lmtp_timeouts to;
	struct tls_client_ctx *tls_ctx;
	bool helo;		/* SMTP: EHLO refused, HELO used */
	char *auth_user, *auth_pass;	/* auth_user NULL: no AUTH */
	bool auth_plaintext_ok;
	unsigned auth_mech_deny;	/* LMTP_MECH_* ruled out */
	size_t line_limit;		/* smtp_line_length_limit, 0: none */
	char *auth_mech_filter;		/* its text; NULL: none */
	bool authenticated;
	bool masking;		/* the next command line is a secret */
	char doing[80];		/* lmtp_doing()'s text */
	struct lmtp_caps caps;
};

/* How an I/O wait ended (the failure texts of lmtp_fail_io). */
enum lmtp_io {
	LMTP_IO_OK = 0,
	LMTP_IO_EOF,		/* connection closed by the server */
	LMTP_IO_ERRNO,		/* errno says */
	LMTP_IO_TIMEOUT,
	LMTP_IO_OVERFLOW,	/* the server sent too much */
	LMTP_IO_TLS,		/* TLS failed: the caller's tls_error says */
};

/*
 * Copy the settings (strings copied; tls_ctx kept as a pointer; tls
 * not kept).  Never fails: the checks are lmtp_session_start's.
 */
void lmtp_session_init(struct lmtp_session *s,
    const struct lmtp_client_settings *set);
/*
 * The destination (copied; the peer's name when peer_name was not set),
 * then the checks of the settings and lmtp_dest_parse into s->ep, as
 * lmtp_client_connect does them, in that order.  0, or -1 with *f
 * (LMTP_FAIL_CONNECT, or _AUTH 4.7.8 for bad credentials).
 */
int lmtp_session_start(struct lmtp_session *s, const char *dest,
    struct lmtp_failure *f);
/* Free (the password wiped); s zeroed. */
void lmtp_session_deinit(struct lmtp_session *s);

/* lmtp_client_stage_command() of the session. */
const char *lmtp_session_stage_command(const struct lmtp_session *s,
    enum lmtp_stage st);
/* What we were doing at st, for "... while %s" (valid until the next
 * call); in_handshake: STARTTLS is in the TLS handshake. */
const char *lmtp_doing(struct lmtp_session *s, enum lmtp_stage st,
    bool writing, bool in_handshake);

/* Fill *f (its old content is dropped). */
void lmtp_fail_set(struct lmtp_failure *f, enum lmtp_failure_kind kind,
    enum lmtp_stage st, const char *fmt, ...) ATTR_FORMAT(4, 5);
/*
 * The CONVERSATION failure of a wait at st that ended with io (not
 * LMTP_IO_OK unless the connection is simply gone): err for
 * LMTP_IO_ERRNO, tls_error for LMTP_IO_TLS (may be NULL), said (" (the
 * server said: ...)" or "", may be NULL) for LMTP_IO_EOF/_ERRNO/_OK,
 * timeout_ms for LMTP_IO_TIMEOUT.
 */
void lmtp_fail_io(struct lmtp_session *s, struct lmtp_failure *f,
    enum lmtp_stage st, bool writing, bool in_handshake, enum lmtp_io io,
    int err, const char *tls_error, const char *said, unsigned timeout_ms);
/* A reply the parser refused (error: its text). */
void lmtp_fail_malformed(struct lmtp_session *s, struct lmtp_failure *f,
    enum lmtp_stage st, bool in_handshake, const char *error);
/*
 * A reply that was not the one wanted at st: LMTP_FAIL_REPLY for
 * 4xx/5xx (f->reply takes *r), else a CONVERSATION failure ("gave an
 * unexpected reply"; *r freed).  Returns true when the connection must
 * be closed (the unexpected reply, or a 421).
 */
bool lmtp_fail_refused(struct lmtp_session *s, enum lmtp_stage st,
    struct lmtp_reply *r, struct lmtp_failure *f);
/* The unexpected reply alone (takes *r); the connection must close. */
void lmtp_fail_unexpected(struct lmtp_session *s, enum lmtp_stage st,
    struct lmtp_reply *r, struct lmtp_failure *f);
/* The server closed the idle connection (RSET), said as above. */
void lmtp_fail_idle(struct lmtp_session *s, struct lmtp_failure *f,
    const char *said);
/* " (the server said: TEXT)" for the last reply r, or "" when r has no
 * lines; new string. */
char *lmtp_said(const struct lmtp_reply *r);
/* lmtp_said() of the last complete reply that p finds in the input
 * buffered in *in (which it takes from *in): what a server sent before
 * it closed the connection (a 421 or 554), or "". */
char *lmtp_said_in(struct lmtp_reply_parser *p, struct buf *in);
/* The words of an SSL_read/SSL_write failure sslerr (OpenSSL's error
 * queue emptied); new string. */
char *lmtp_tls_io_error(int sslerr, int err_no);

/* Connecting: no address for the host (gai: getaddrinfo's code), the
 * connection failed with err (bind_failed: binding to bind_address
 * did). */
void lmtp_fail_resolve(struct lmtp_session *s, struct lmtp_failure *f,
    int gai);
void lmtp_fail_connect(struct lmtp_session *s, struct lmtp_failure *f,
    int err, bool bind_failed);

/* Debug trace of one line (level 2). */
void lmtp_log_line(const struct lmtp_session *s, const char *dir,
    const char *line, size_t len);
/* Debug trace of a reply (level 2). */
void lmtp_log_reply(const struct lmtp_session *s, const struct lmtp_reply *r);
/* The "connected" debug line (level 1). */
void lmtp_log_connected(const struct lmtp_session *s, bool tls);

/* End one command line (in out from mark on): trace it (masked when
 * s->masking, which is reset) and add CRLF. */
void lmtp_command_end(struct lmtp_session *s, struct buf *out, size_t mark);
/* Queue "NAME arg" (a command with a short argument, or none). */
void lmtp_command(struct lmtp_session *s, struct buf *out, const char *name,
    const char *arg);
/* Queue LHLO/EHLO (helo false) or HELO (helo true; sets s->helo) with
 * s->lhlo_name; the extensions are forgotten. */
void lmtp_hello_command(struct lmtp_session *s, struct buf *out, bool helo);
/* The LHLO/EHLO reply r (2xx): its extensions into s->caps. */
void lmtp_hello_caps(struct lmtp_session *s, const struct lmtp_reply *r);

/* What we refuse to send before saying anything (LMTP_FAIL_LOCAL
 * 5.1.7, 5.1.3, 5.6.7, 5.3.4).  0, or -1 with *f. */
int lmtp_check_mail(struct lmtp_session *s, const struct lmtp_mail *m,
    const struct lmtp_rcpt *rcpts, size_t n, struct lmtp_failure *f);
/* Queue MAIL FROM / RCPT TO with the parameters the extensions allow
 * (after lmtp_check_mail: cannot fail unless out is full, which is a
 * panic). */
void lmtp_mail_command(struct lmtp_session *s, struct buf *out,
    const struct lmtp_mail *m);
void lmtp_rcpt_command(struct lmtp_session *s, struct buf *out,
    const struct lmtp_rcpt *rc);

/*
 * XFORWARD before MAIL FROM: queue the command k (0 the first) of the
 * attributes of m->xforward the server listed, packed into lines of at
 * most LMTP_LINE_MAX_BYTES (a value too long for a line alone goes as
 * "[UNAVAILABLE]").  False (nothing queued) when there is no command
 * k: past the last one, or nothing to send (m->xforward NULL, XFORWARD
 * not offered, or no listed attribute with a known value).
 */
bool lmtp_xforward_command(struct lmtp_session *s, struct buf *out,
    const struct lmtp_mail *m, size_t k);
/*
 * The reply r to an XFORWARD command: 0 go on (r freed; a 4xx/5xx
 * refusal but 421 is logged as a warning, as Postfix's client does),
 * -1 failure with *f (a 421 or an unexpected reply; r taken or freed;
 * close).
 */
int lmtp_xforward_reply(struct lmtp_session *s, struct lmtp_reply *r,
    struct lmtp_failure *f);

/*
 * STARTTLS, before saying it, for the policy pol (not NULL): 0 not
 * wanted (level none, or may and not offered), 1 say STARTTLS (make
 * the SSL first with *who_r, a new "%s server %s" string for the TLS
 * texts), -1 refused here with *f (LMTP_FAIL_TLS; close).  *lev_r: the
 * effective level.
 */
int lmtp_starttls_plan(struct lmtp_session *s,
    const struct tls_client_policy *pol, enum tls_client_level *lev_r,
    char **who_r, struct lmtp_failure *f);
/* A LMTP_FAIL_TLS (4.7.5) at STARTTLS with the text why (taken); the
 * connection must close. */
void lmtp_fail_tls(struct lmtp_failure *f, char *why);
/*
 * The reply r to STARTTLS at level lev (who as above): 1 go on with
 * the handshake (r freed), 0 on in plaintext (level may; r freed), -1
 * failure with *f (r taken or freed; close).
 */
int lmtp_starttls_reply(struct lmtp_session *s, enum tls_client_level lev,
    const char *who, struct lmtp_reply *r, struct lmtp_failure *f);
/* Bytes after the reply to STARTTLS: a LMTP_FAIL_TLS (close). */
void lmtp_fail_tls_injection(struct lmtp_failure *f, const char *who,
    size_t n);
/* The debug line of an established TLS session. */
void lmtp_log_tls(const char *who, const struct tls_client_info *info);

/* AUTH: can we try it (tls: TLS is on)?  0, or -1 with *f (close). */
int lmtp_auth_check(struct lmtp_session *s, bool tls,
    struct lmtp_failure *f);
/* Queue the first AUTH line (PLAIN with its initial response when
 * offered, else LOGIN); *plain_r says which. */
void lmtp_auth_start(struct lmtp_session *s, struct buf *out, bool *plain_r);
/*
 * The reply r to the AUTH line of step (0 the first): 1 LOGIN goes on
 * (the next line queued, r freed), 0 authenticated (r freed), -1
 * failure with *f (r taken; close).
 */
int lmtp_auth_reply(struct lmtp_session *s, struct buf *out, bool plain,
    int step, struct lmtp_reply *r, struct lmtp_failure *f);

#endif
