/* SPDX-License-Identifier: MIT */
/*
 * lmtp_client - a blocking LMTP client (RFC 2033) that also speaks
 * SMTP (RFC 5321) to other mail servers, with STARTTLS (RFC 3207) and
 * AUTH PLAIN/LOGIN (RFC 4954, 4616).
 *
 * Two layers:
 *
 * 1. The protocol core, which knows nothing about sockets:
 *    - lmtp_reply_parser: replies ("250-..." lines, then "250 ..."),
 *      fed any split of the input, bounded (LMTP_LINE_MAX_BYTES per
 *      line, LMTP_REPLY_LINES_MAX lines per reply), with the enhanced
 *      status code (RFC 3463, RFC 2034) of the first line;
 *    - lmtp_caps_parse: the extensions of an LHLO/EHLO reply (with
 *      the XFORWARD attributes the server lists);
 *    - lmtp_address_quote, lmtp_xtext_append: the paths and parameters
 *      of MAIL FROM and RCPT TO (RFC 5321 4.1.2, RFC 3461 4);
 *    - lmtp_dot_stuff: the message as DATA sends it (RFC 5321 4.5.2);
 *    - lmtp_dest_parse: the destination forms of a Postfix LMTP next
 *      hop.
 *
 * 2. The client: one connection (lmtp_client_connect reads the greeting
 *    and says LHLO, or in SMTP mode EHLO (HELO when EHLO is refused with
 *    5xx), then STARTTLS and AUTH as the settings ask), any number of
 *    transactions on it (lmtp_client_send; lmtp_client_reset in
 *    between), lmtp_client_quit at the end.
 *    Blocking: every wait is a poll() with the timeout of its step, and
 *    while commands or the message are being written the replies that
 *    arrive are read too, so a pipelining peer can never deadlock us.
 *    The socket is non-blocking and close-on-exec; SIGPIPE is never
 *    raised (MSG_NOSIGNAL).  Once TLS is active every read and write
 *    goes through it (SSL_read/SSL_write, poll() for WANT_READ/WRITE
 *    under the same deadlines).
 *
 * Failures come back in a struct lmtp_failure: what went wrong (no
 * connection, a broken conversation, a refusal by the server, or a
 * refusal decided here), at which step, in plain words, with the
 * server's reply when there was one.  Nothing here logs except debug
 * lines (log_debug level 2: the conversation, escaped; the AUTH
 * exchange shown masked, never the credentials), and the warning of a
 * refused XFORWARD (which is no failure).
 */
#ifndef OSTIA_LMTP_CLIENT_H
#define OSTIA_LMTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "endpoint.h"
#include "tls_client.h"

/* RFC 5321 4.5.3.1.5: a reply line is at most 512 octets with its
 * CRLF.  A longer line, or a reply of more lines, ends the
 * conversation. */
#define LMTP_LINE_MAX_BYTES 512
#define LMTP_REPLY_LINES_MAX 100
/* Bytes of replies buffered while we write (a peer that sends more
 * without reading is broken). */
#define LMTP_INPUT_MAX_BYTES (1024 * 1024)

/* ------------------------------------------------------------------ */
/* Replies */

struct lmtp_reply {
	unsigned code;		/* 200..599 */
	char dsn[12];		/* enhanced code of the first line, "X.Y.Z"
				 * (class = first digit of code), or "" */
	char **lines;		/* the text of each line after "NNN-"/"NNN "
				 * (CR LF removed; may hold control bytes) */
	size_t nlines;		/* 1..LMTP_REPLY_LINES_MAX */
};

/* Free the lines; r is zeroed (and may be deinit'ed again). */
void lmtp_reply_deinit(struct lmtp_reply *r);
/* *dst (zeroed or deinit'ed) becomes a deep copy of *src. */
void lmtp_reply_copy(struct lmtp_reply *dst, const struct lmtp_reply *src);

/*
 * The reply in one line, "550 5.1.1 text of line 1 text of line 2":
 * the code, then the lines joined with a space, the enhanced code of
 * the following lines dropped when it repeats the first one's, control
 * bytes and 8-bit bytes shown as '?', at most max - 1 bytes (cut with
 * "..." when longer; max >= 16).  Returns a new string (caller frees).
 */
char *lmtp_reply_text(const struct lmtp_reply *r, size_t max);

struct lmtp_reply_parser {
	char line[LMTP_LINE_MAX_BYTES];
	size_t linelen;		/* bytes of the current line so far */
	struct lmtp_reply cur;	/* the lines of the reply so far */
	const char *error;	/* sticky once set */
};

void lmtp_reply_parser_init(struct lmtp_reply_parser *p);
void lmtp_reply_parser_deinit(struct lmtp_reply_parser *p);

/*
 * Feed len bytes of server output.  Returns:
 *   1  a reply is complete: *reply_r is filled (caller deinits it),
 *      *used_r bytes of data were used (the rest belongs to the next
 *      reply: feed it again);
 *   0  need more: all of data was used (*used_r = len);
 *  -1  not a valid reply: *error_r (static text, plain words); the
 *      parser stays failed until deinit.
 * Lines end with LF; a CR before the LF is dropped.  Every line is
 * "DDD" then '-' (more follow), ' ' or nothing (the last), the same code
 * on every line, D1 in 2..5, D2 in 0..5, D3 a digit; no NUL byte.
 */
int lmtp_reply_parse(struct lmtp_reply_parser *p, const char *data,
    size_t len, size_t *used_r, struct lmtp_reply *reply_r,
    const char **error_r);

/* ------------------------------------------------------------------ */
/* Extensions (RFC 2033 4.1: LHLO replies as EHLO, RFC 5321 4.1.1.1) */

/* Longest server name kept from an EHLO/LHLO reply. */
#define LMTP_SERVER_NAME_MAX 256

struct lmtp_caps {
	char name[LMTP_SERVER_NAME_MAX];	/* the first word of the
						 * reply's first line, lower
						 * case ("" if none, or if it
						 * is longer) */
	bool size;		/* SIZE offered */
	uint64_t size_max;	/* its limit, 0 = none given */
	bool eightbitmime;
	bool pipelining;
	bool enhancedstatuscodes;
	bool dsn;
	bool smtputf8;
	bool starttls;		/* STARTTLS offered */
	bool auth_plain;	/* AUTH (or the old AUTH=) lists PLAIN */
	bool auth_login;	/* ... LOGIN */
	unsigned xforward;	/* LMTP_XF_* bits: the attributes XFORWARD
				 * lists (0: not offered, or none known) */
};

/* The SASL mechanisms of the clients (smtp_sasl_mechanism_filter). */
enum {
	LMTP_MECH_PLAIN = 1 << 0,
	LMTP_MECH_LOGIN = 1 << 1,
};

/* XFORWARD attributes (Postfix's XFORWARD_README), in the order they
 * are sent. */
enum {
	LMTP_XF_NAME = 1u << 0,
	LMTP_XF_ADDR = 1u << 1,
	LMTP_XF_PORT = 1u << 2,
	LMTP_XF_PROTO = 1u << 3,
	LMTP_XF_HELO = 1u << 4,
	LMTP_XF_IDENT = 1u << 5,
	LMTP_XF_SOURCE = 1u << 6,
};

/* The server's name (the first line's first word) and the keywords of
 * the lines after the first one (case-insensitive); unknown ones are
 * ignored, as is a SIZE value that is not a number. */
void lmtp_caps_parse(const struct lmtp_reply *r, struct lmtp_caps *caps);

/*
 * Forget the extensions named in keywords (smtp_discard_ehlo_keywords:
 * size, 8bitmime, pipelining, enhancedstatuscodes, dsn, smtputf8,
 * starttls, auth, xforward; any case; others, as "chunking", are
 * ignored: the client does not use them).  The names of those that were
 * offered and are now forgotten go to out (space-separated, truncated
 * to outsz).  Returns how many.
 */
size_t lmtp_caps_discard(struct lmtp_caps *caps,
    const char *const *keywords, char *out, size_t outsz);

/* ------------------------------------------------------------------ */
/* Command text */

/*
 * Append addr as it goes between the angle brackets of MAIL FROM or
 * RCPT TO: "" stays empty (the null sender), a local part that is a
 * dot-string stays as it is, a local part already written as a valid
 * quoted-string stays as it is, any other is quoted ('"' and '\'
 * escaped with '\').  The local part ends at the last '@' (an address
 * without '@' is all local part).  Bytes >= 0x80 count as atext (they
 * are only sent with SMTPUTF8).  0, or -1 when the buffer is full.
 */
int lmtp_address_quote(const char *addr, struct buf *out);

/* Append s as xtext (RFC 3461 4): '+', '=' and bytes outside 33..126
 * become "+XX".  0, or -1 when the buffer is full. */
int lmtp_xtext_append(const char *s, struct buf *out);

/*
 * The message as DATA sends it: every line end becomes CRLF (a bare LF
 * too; a bare CR is sent as it is), a line that starts with '.' gets
 * one more, the last line is ended if it was not, and ".\r\n" follows.
 * Keeps state across calls so that the message may come in pieces:
 * st must be zeroed before the first piece; lmtp_dot_stuff_end() adds
 * the end.  0, or -1 when the buffer is full (nothing of the piece
 * appended is reliable then: the caller gives up).
 */
struct lmtp_dot_state {
	bool mid_line;		/* the last byte written was not a LF */
	bool cr;		/* the last byte seen was a CR (held back) */
	/* smtp_line_length_limit: a line longer than limit bytes (0: no
	 * limit) goes out as several, each continued with CRLF SP, as
	 * Postfix does; col counts the bytes of the line written so far */
	size_t limit;
	size_t col;
};
int lmtp_dot_stuff(struct lmtp_dot_state *st, const char *data,
    size_t len, struct buf *out);
int lmtp_dot_stuff_end(struct lmtp_dot_state *st, struct buf *out);

/*
 * Parse an LMTP destination into *ep (zeroed): "unix:/path", "/path",
 * "inet:host:port", "host:port", "[host]:port", "[host]", "inet:host",
 * "host" (port default_port: digits, or a service name looked up in
 * the services database).  0, or -1 with *error_r (new string, plain
 * words) and *ep empty.
 */
int lmtp_dest_parse(const char *text, const char *default_port,
    struct endpoint *ep, char **error_r);

/* ------------------------------------------------------------------ */
/* The client */

/* Where in the conversation something happened. */
enum lmtp_stage {
	LMTP_STAGE_CONNECT = 0,
	LMTP_STAGE_GREETING,
	LMTP_STAGE_LHLO,
	LMTP_STAGE_MAIL,
	LMTP_STAGE_RCPT,
	LMTP_STAGE_DATA,	/* the reply to DATA */
	LMTP_STAGE_MESSAGE,	/* sending the message */
	LMTP_STAGE_DOT,		/* the replies after the final dot */
	LMTP_STAGE_RSET,
	LMTP_STAGE_QUIT,
	LMTP_STAGE_STARTTLS,	/* STARTTLS, the handshake, the check */
	LMTP_STAGE_AUTH,
	LMTP_STAGE_XFORWARD,	/* before MAIL FROM */
};

/* "RCPT TO", "end of DATA", ...: for "in reply to %s command".
 * LMTP_STAGE_LHLO is "LHLO"; see lmtp_client_stage_command for the
 * name of the command a connection really sent (EHLO/HELO). */
const char *lmtp_stage_command(enum lmtp_stage st);

/* Timeouts in milliseconds; 0 = no limit of our own (connect: the
 * system's). */
struct lmtp_timeouts {
	unsigned connect_ms;
	unsigned lhlo_ms;	/* the greeting, and the reply to LHLO
				 * (EHLO/HELO, and each AUTH step) */
	unsigned mail_ms;
	unsigned rcpt_ms;
	unsigned data_init_ms;	/* the reply to DATA */
	unsigned data_xfer_ms;	/* each write of the message */
	unsigned data_done_ms;	/* each reply after the final dot */
	unsigned rset_ms;
	unsigned quit_ms;
	unsigned starttls_ms;	/* the reply to STARTTLS, and the TLS
				 * handshake */
};

enum lmtp_protocol {
	LMTP_PROTO_LMTP = 0,
	LMTP_PROTO_SMTP,
};

/*
 * Zero the struct, then set what is needed: the zero value of every
 * field added for SMTP keeps the LMTP behaviour.
 */
struct lmtp_client_settings {
	const char *lhlo_name;		/* the LHLO/EHLO/HELO argument */
	const char *default_port;	/* for "host" and "[host]" */
	struct lmtp_timeouts timeouts;
	/*
	 * SMTP: the greeting, EHLO (HELO without extensions when EHLO is
	 * refused with 5xx); after the final dot ONE reply, which counts
	 * for every recipient accepted at RCPT.
	 */
	enum lmtp_protocol protocol;
	const char *peer_name;		/* how texts name the server, e.g.
					 * "mx1.remote.test[127.0.0.2]:25";
					 * NULL: the destination */
	const char *bind_address;	/* inet: the local address to bind
					 * before connecting to an IPv4
					 * server; NULL/"": none */
	const char *bind_address6;	/* inet: the same for IPv6 servers
					 * (smtp_bind_address6) */
	/* EHLO keywords to act as if the server had not offered
	 * (smtp_discard_ehlo_keywords, lmtp_caps_discard); NULL: none.
	 * "silent-discard" among them: not logged. */
	const char *const *discard_ehlo;
	/*
	 * TLS: tls NULL or level none: never STARTTLS.  Level may: STARTTLS
	 * when offered (a refusal of STARTTLS: on in plaintext; a failed
	 * handshake: LMTP_FAIL_TLS, the caller may connect again without
	 * TLS).  Levels >= encrypt (tls_client_effective_level): STARTTLS
	 * must be offered and succeed and the certificate pass
	 * tls_client_check.  tls_ctx and *tls (with its strings and TLSA
	 * records) are not copied: they must stay valid until
	 * lmtp_client_connect returns, tls_ctx until the client is freed.
	 */
	struct tls_client_ctx *tls_ctx;
	const struct tls_client_policy *tls;
	/*
	 * Implicit TLS (smtp_tls_wrappermode, RFC 8314: port 465): the
	 * handshake right after connect, the greeting inside TLS, never
	 * STARTTLS; with tls NULL or level none the connection fails.
	 * smtp_conn.h only (lmtp_client_connect ignores it).
	 */
	bool tls_wrapper;
	/*
	 * AUTH after the (second) EHLO when auth_user is set: PLAIN when
	 * offered, else LOGIN.  Without TLS only with auth_plaintext_ok.
	 * The strings are copied (the password wiped when freed).
	 */
	const char *auth_user, *auth_pass;
	bool auth_plaintext_ok;
	/* smtp_sasl_mechanism_filter: LMTP_MECH_* bits it rules out
	 * (0: none); the names it gives, for the failure text */
	unsigned auth_mech_deny;
	const char *auth_mech_filter;
	/* smtp_line_length_limit (lmtp_dot_state); 0: none */
	size_t line_limit;
};

enum lmtp_failure_kind {
	LMTP_FAIL_NONE = 0,
	LMTP_FAIL_CONNECT,	/* no connection (or no address for it) */
	LMTP_FAIL_CONVERSATION,	/* lost connection, timeout, a reply
				 * that is not LMTP; connection closed */
	LMTP_FAIL_REPLY,	/* the server refused (reply: 4xx/5xx) the
				 * greeting, LHLO, MAIL, DATA or RSET */
	LMTP_FAIL_LOCAL,	/* we refused to send (dsn, 5.x.x) */
	LMTP_FAIL_TLS,		/* TLS required by the policy but not
				 * offered (or STARTTLS refused: reply
				 * set), the handshake failed, or the
				 * certificate/DANE check failed; dsn
				 * "4.7.5"; connection closed */
	LMTP_FAIL_AUTH,		/* the server refused our credentials
				 * (reply set; dsn from it, else "5.7.8"),
				 * or we could not try: no mechanism in
				 * common, or no TLS and plaintext not
				 * allowed (dsn "4.7.8": an admin must fix
				 * the setup; the mail waits); connection
				 * closed */
};

struct lmtp_failure {
	enum lmtp_failure_kind kind;
	enum lmtp_stage stage;
	char *text;		/* plain words, one line, names the server */
	char dsn[12];		/* LMTP_FAIL_LOCAL: "5.6.7", "5.3.4";
				 * _TLS: "4.7.5"; _AUTH: see above */
	struct lmtp_reply reply;	/* LMTP_FAIL_REPLY, and _TLS/_AUTH
					 * when the server refused; else
					 * nlines 0 */
};

void lmtp_failure_deinit(struct lmtp_failure *f);

struct lmtp_client;

/*
 * Connect to the destination dest (lmtp_dest_parse forms; bind first
 * to bind_address), read the greeting, send LHLO (SMTP: EHLO, or HELO)
 * and read the extensions; then STARTTLS, the handshake and the
 * certificate check, and EHLO again (the extensions before TLS are
 * forgotten), as the TLS policy asks; then AUTH when auth_user is set.
 * Returns the client, or NULL with *f filled (f zeroed before;
 * LMTP_FAIL_CONNECT, _CONVERSATION or _REPLY at GREETING/LHLO/
 * STARTTLS/AUTH, _TLS, _AUTH).  The settings are copied (see above for
 * tls_ctx and tls).
 */
struct lmtp_client *lmtp_client_connect(const char *dest,
    const struct lmtp_client_settings *set, struct lmtp_failure *f);

/* The destination as given, the extensions of the LHLO reply (the
 * EHLO after STARTTLS; all false after HELO). */
const char *lmtp_client_dest(const struct lmtp_client *c);
const struct lmtp_caps *lmtp_client_caps(const struct lmtp_client *c);
/* The TLS session of the connection, or NULL without TLS. */
const struct tls_client_info *lmtp_client_tls(const struct lmtp_client *c);
/* True when AUTH succeeded on the connection. */
bool lmtp_client_authenticated(const struct lmtp_client *c);
/* True when the connection uses HELO (EHLO was refused). */
bool lmtp_client_helo(const struct lmtp_client *c);
/* The command of st as this connection sent it: "EHLO" or "HELO" for
 * LMTP_STAGE_LHLO in SMTP mode; else lmtp_stage_command(st). */
const char *lmtp_client_stage_command(const struct lmtp_client *c,
    enum lmtp_stage st);
/* False once the connection was lost or closed. */
bool lmtp_client_is_open(const struct lmtp_client *c);

/*
 * RSET, for the next transaction on a connection that was used.  Also
 * notices a connection the server has closed (or a 421 it sent) while
 * it was idle.  0, or -1 with *f (the connection is closed then:
 * connect again).
 */
int lmtp_client_reset(struct lmtp_client *c, struct lmtp_failure *f);

/* One message. */
struct lmtp_mail {
	const char *sender;	/* "" = null sender */
	bool body_8bitmime;	/* BODY=8BITMIME when offered */
	bool smtputf8;		/* SMTPUTF8 is needed: refused (LOCAL
				 * 5.6.7) when the server lacks it */
	bool smtputf8_param;	/* send SMTPUTF8 when the server offers it
				 * (set with smtputf8; also alone) */
	const char *envid;	/* "" / NULL: none (sent with DSN) */
	const char *ret;	/* "" / NULL, "FULL", "HDRS" (with DSN) */
	const char *content;	/* CRLF lines (LF tolerated) */
	size_t len;
	/* NULL: no XFORWARD; else the original client, sent before MAIL
	 * FROM when the server offers XFORWARD (see lmtp_client_send). */
	const struct lmtp_xforward *xforward;
	/* An address verification probe: stop after the RCPT replies
	 * (no DATA); an accepted recipient is done with its RCPT reply.
	 * The transaction must be reset (RSET) before the next. */
	bool verify_only;
};

/*
 * The original client of a message, for XFORWARD.  Each value NULL or
 * "": not known ("[UNAVAILABLE]" is sent).  addr: an IPv6 address gets
 * the "IPV6:" prefix.  source: "LOCAL" or "REMOTE".  ident: the queue
 * ID, for the server's logs.
 */
struct lmtp_xforward {
	const char *name, *addr, *port, *proto, *helo, *ident, *source;
};

/* One recipient of the transaction, and what became of it. */
struct lmtp_rcpt {
	const char *address;	/* not empty */
	const char *orcpt;	/* "type;address" or "" / NULL (with DSN) */
	uint32_t notify;	/* DELIVER_NOTIFY_* bits, 0 = not given */
	/* Out: */
	bool done;		/* reply holds its final answer */
	enum lmtp_stage stage;	/* RCPT (refused; accepted by a probe,
				 * lmtp_mail.verify_only) or DOT */
	struct lmtp_reply reply;
};

/*
 * One transaction: first, with m->xforward set and XFORWARD offered
 * with an attribute whose value is known, the XFORWARD commands (every
 * attribute the server lists, xtext, lines of at most
 * LMTP_LINE_MAX_BYTES; a value too long for a line goes as
 * "[UNAVAILABLE]"), each awaited (the MAIL timeout); a refusal (4xx,
 * 5xx but 421) is logged as a warning and the transaction goes on,
 * as Postfix's client does; a 421 or an unexpected reply is a failure
 * at LMTP_STAGE_XFORWARD.  Then MAIL FROM, RCPT TO for each
 * recipient (pipelined when the server offers PIPELINING), DATA and the message when one was
 * accepted, and the replies after the final dot, one per accepted
 * recipient (RFC 2033 4.2; SMTP: one reply, copied to every accepted
 * recipient).  Returns 0 when every recipient has its
 * answer (done: 2xx delivered, 4xx/5xx refused at RCPT or after the
 * dot); -1 with *f when not: the failure concerns every recipient that
 * is not done (a refusal of MAIL or DATA, a local refusal, or the
 * conversation broke; in that last case some recipients may have their
 * answers already).  The caller deinits the replies of rcpts
 * (lmtp_rcpt_deinit) and *f.  Call lmtp_client_reset before the next
 * transaction on the same connection.
 */
int lmtp_client_send(struct lmtp_client *c, const struct lmtp_mail *m,
    struct lmtp_rcpt *rcpts, size_t n, struct lmtp_failure *f);
void lmtp_rcpt_deinit(struct lmtp_rcpt *r);

/* QUIT (reply awaited with the quit timeout, its content ignored) and
 * close; then free.  *cp may be NULL; it is NULL afterwards. */
void lmtp_client_quit(struct lmtp_client **cp);
/* Close without QUIT and free (*cp may be NULL; NULL afterwards). */
void lmtp_client_free(struct lmtp_client **cp);

#endif
