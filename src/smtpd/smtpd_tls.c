/* SPDX-License-Identifier: MIT */
/*
 * smtpd_tls - TLS in the SMTP server: STARTTLS (RFC 3207), implicit TLS
 * on a wrapper-mode port (RFC 8314), and one plain-words log line for
 * every handshake that fails.
 *
 * The handshake starts in two steps.  First the session waits, with no
 * bufferevent, for the client's first bytes and peeks at them: a TLS
 * hello starts with a handshake record (0x16); anything else is
 * explained without OpenSSL (plaintext SMTP on port 465, an HTTP
 * request, other bytes), as is a client that closes or stays silent.
 * Then the socket gets a libevent OpenSSL bufferevent in the accepting
 * state, and the handshake's end (BEV_EVENT_CONNECTED, an error, EOF or
 * the smtpd_starttls_timeout) arrives in smtpd_tls_event().
 *
 * STARTTLS: any input that followed the STARTTLS line before our 220
 * (a command injection, CVE-2011-0411) is logged and thrown away in
 * smtpd_cmd.c; after the handshake the session forgets everything it
 * knew (HELO name, transaction) and the client must say EHLO again.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "log.h"
#include "smtpd_limit.h"
#include "smtpd_session.h"
#include "tls_policy.h"
#include "tls_server.h"
#include "xalloc.h"

/* Bytes looked at to tell TLS from other protocols, and shown. */
#define TLS_PEEK_BYTES 64
#define TLS_SHOWN_BYTES 40
/* Unread input consumed before closing on a non-TLS client, so that
 * the close does not turn into a reset that eats our 421. */
#define TLS_DRAIN_MAX_BYTES (64 * 1024)

static void on_hello_ready(evutil_socket_t fd, short what, void *arg);

/* fail - one log line for a failed handshake, then the end. */
static void
fail(struct session *s, const char *reason, const char *offer,
    const char *raw)
{
	char who[SMTPD_LABEL_MAX];

	log_info("TLS handshake failed on %s from %s: %s%s%s%s%s",
	    s->listener, smtpd_client_label(s, who, sizeof(who)), reason,
	    offer != NULL && offer[0] ? " [" : "", offer != NULL ? offer : "",
	    offer != NULL && offer[0] ? "]" : "",
	    raw != NULL && raw[0] ? raw : "");
	s->state = SS_QUIT;
	smtpd_session_free(s);
}

void
smtpd_tls_begin(struct session *s)
{
	struct timeval tv;

	/* The plain bufferevent goes; the socket stays (not ours to
	 * close: bev_owns_fd is false). */
	if (s->rev != NULL) {
		event_free(s->rev);
		s->rev = NULL;
	}
	if (s->bev != NULL) {
		bufferevent_free(s->bev);
		s->bev = NULL;
	}
	s->state = SS_TLS_HANDSHAKE;
	s->tls_wait = event_new(smtpd_base, s->fd, EV_READ, on_hello_ready, s);
	tv.tv_sec = (time_t)smtpd_cfg.starttls_timeout;
	tv.tv_usec = 0;
	event_add(s->tls_wait, &tv);
}

/* looks_like - does the start of buf match word, case-insensitively? */
static bool
looks_like(const unsigned char *buf, size_t n, const char *word)
{
	size_t w = strlen(word);

	return n >= w && strncasecmp((const char *)buf, word, w) == 0;
}

/* not_tls - explain bytes that are not a TLS hello. */
static void
not_tls(struct session *s, const unsigned char *buf, size_t n)
{
	static const char *const smtp[] = { "EHLO", "HELO", "QUIT", "MAIL",
	    "RSET", "NOOP", "STARTTLS", "AUTH", "LHLO" };
	static const char *const http[] = { "GET ", "POST ", "HEAD ", "PUT ",
	    "CONNECT ", "OPTIONS ", "DELETE ", "PRI * HTTP" };
	bool wrapper = tls_server_wrapper(smtpd_cfg.tls);
	char shown[TLS_SHOWN_BYTES * 4 + 1], why[512], junk[4096];
	size_t first = 0, drained = 0;
	ssize_t k;

	/* Show the first line (without its end), at most TLS_SHOWN_BYTES. */
	while (first < n && first < TLS_SHOWN_BYTES && buf[first] != '\r' &&
	    buf[first] != '\n')
		first++;
	log_escape(shown, sizeof(shown), (const char *)buf, first ? first : n,
	    TLS_SHOWN_BYTES);
	while (drained < TLS_DRAIN_MAX_BYTES && (k = recv(s->fd, junk,
	    sizeof(junk), MSG_DONTWAIT)) > 0)
		drained += (size_t)k;
	for (size_t i = 0; i < N_ELEMENTS(smtp); i++) {
		if (!looks_like(buf, n, smtp[i]))
			continue;
		if (wrapper) {
			static const char msg[] = "421 4.7.0 This port "
			    "requires TLS from the first byte (implicit "
			    "TLS): enable SSL/TLS in your mail client, or "
			    "use STARTTLS on port 587\r\n";

			snprintf(why, sizeof(why), "the client spoke plaintext "
			    "SMTP (\"%s\") to this implicit-TLS port: set the "
			    "client to SSL/TLS for this port, or to STARTTLS "
			    "on port 587", shown);
			/* A plaintext client can show this to its user. */
			(void)send(s->fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL |
			    MSG_DONTWAIT);
		} else {
			snprintf(why, sizeof(why), "after our 220 to STARTTLS "
			    "the client went on in plaintext (\"%s\") "
			    "instead of starting TLS: a broken client",
			    shown);
		}
		fail(s, why, NULL, NULL);
		return;
	}
	for (size_t i = 0; i < N_ELEMENTS(http); i++) {
		if (looks_like(buf, n, http[i])) {
			snprintf(why, sizeof(why), "the client sent an HTTP "
			    "request (\"%s\"), not a TLS hello: a web "
			    "browser or a scanner, not a mail client", shown);
			fail(s, why, NULL, NULL);
			return;
		}
	}
	if (n > 0 && buf[0] == 0x80)
		snprintf(why, sizeof(why), "the client sent an SSLv2-style "
		    "hello: a very old client or a scanner; SSLv2 and SSLv3 "
		    "are not supported");
	else
		snprintf(why, sizeof(why), "the client sent bytes that are "
		    "not TLS (\"%s\"): it does not speak TLS on this port",
		    shown);
	fail(s, why, NULL, NULL);
}

static void
on_hello_ready(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	unsigned char buf[TLS_PEEK_BYTES];
	char why[512];
	ssize_t n;

	if (what & EV_TIMEOUT) {
		if (tls_server_wrapper(smtpd_cfg.tls))
			snprintf(why, sizeof(why), "the client sent nothing for "
			    "%llds on this implicit-TLS port: it probably "
			    "waits for a plaintext greeting, i.e. it is set "
			    "to STARTTLS or no encryption; set it to SSL/TLS "
			    "for this port, or to STARTTLS on port 587",
			    smtpd_cfg.starttls_timeout);
		else
			snprintf(why, sizeof(why), "timeout: the client sent "
			    "no TLS hello within %llds after our 220 to "
			    "STARTTLS", smtpd_cfg.starttls_timeout);
		fail(s, why, NULL, NULL);
		return;
	}
	n = recv(fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		struct timeval tv = { (time_t)smtpd_cfg.starttls_timeout, 0 };

		event_add(s->tls_wait, &tv);
		return;
	}
	if (n <= 0) {
		snprintf(why, sizeof(why), "the client closed the connection "
		    "before starting TLS%s%s", n < 0 ? ": " : " (a port "
		    "scanner, or a monitor that only checks the port is "
		    "open)", n < 0 ? strerror(errno) : "");
		fail(s, why, NULL, NULL);
		return;
	}
	if (buf[0] != 0x16) {
		not_tls(s, buf, (size_t)n);
		return;
	}
	event_free(s->tls_wait);
	s->tls_wait = NULL;
	s->ssl = tls_server_new_ssl(smtpd_cfg.tls);
	if (s->ssl == NULL) {
		fail(s, "cannot start TLS: out of memory", NULL, NULL);
		return;
	}
	s->bev = bufferevent_openssl_socket_new(smtpd_base, s->fd, s->ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL) {
		fail(s, "cannot start TLS: out of memory", NULL, NULL);
		return;
	}
	/* The bufferevent now frees the SSL and closes the socket. */
	s->bev_owns_fd = true;
	bufferevent_openssl_set_allow_dirty_shutdown(s->bev, 1);
	smtpd_bev_setup(s, smtpd_cfg.starttls_timeout);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

/*
 * log_established - the "TLS connection established" line: Anonymous
 * (no client certificate), Untrusted (one that did not verify, and
 * why) or Trusted, as Postfix words it, with the certificate's names
 * and fingerprint.
 */
static void
log_established(struct session *s)
{
	const struct tls_ccert *cc = s->ccert;
	char who[SMTPD_LABEL_MAX], cert[1280];

	cert[0] = '\0';
	if (cc != NULL)
		snprintf(cert, sizeof(cert), "; client certificate CN \"%s\", "
		    "issuer \"%s\", fingerprint %s%s%s", cc->subject,
		    cc->issuer, cc->fprint, cc->trusted ? "" :
		    ", not verified: ", cc->trusted ? "" : cc->why);
	log_info("%s TLS connection established from %s: %s with cipher %s "
	    "(%d/%d bits)%s%s", cc == NULL ? "Anonymous" : cc->trusted ?
	    "Trusted" : "Untrusted", smtpd_client_label(s, who, sizeof(who)),
	    s->tls_proto, s->tls_cipher, s->tls_bits, s->tls_alg_bits,
	    SSL_session_reused(s->ssl) ? " (resumed)" : "", cert);
}

/*
 * refuse_unverified - smtpd_tls_req_ccert: no verified client
 * certificate, no session.  Logged with the reason (none presented, or
 * why it did not verify), answered with 421 and closed, as Postfix
 * does right after the handshake.
 */
static void
refuse_unverified(struct session *s)
{
	char who[SMTPD_LABEL_MAX];

	if (s->ccert == NULL)
		log_info("NOQUEUE: abort: TLS from %s on %s: no client "
		    "certificate presented, and smtpd_tls_req_ccert = yes "
		    "requires a verified one (configure the client to send "
		    "its certificate)", smtpd_client_label(s, who, sizeof(who)),
		    s->listener);
	else
		log_info("NOQUEUE: abort: TLS from %s on %s: client "
		    "certificate CN \"%s\", issuer \"%s\", fingerprint %s "
		    "is not trusted: %s; smtpd_tls_req_ccert = yes requires a "
		    "verified one", smtpd_client_label(s, who, sizeof(who)),
		    s->listener, s->ccert->subject, s->ccert->issuer,
		    s->ccert->fprint, s->ccert->why);
	smtpd_reply(s, "421 4.7.1 %s Error: %s", smtpd_cfg.myhostname,
	    s->ccert == NULL ? "client certificate required" :
	    "client certificate not trusted");
	s->state = SS_QUIT;
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

/* handshake_done - record what was agreed; greet or start over. */
static void
handshake_done(struct session *s)
{
	const SSL_CIPHER *c = SSL_get_current_cipher(s->ssl);
	bool wrapper = tls_server_wrapper(smtpd_cfg.tls);

	s->tls_active = true;
	snprintf(s->tls_proto, sizeof(s->tls_proto), "%s",
	    SSL_get_version(s->ssl));
	snprintf(s->tls_cipher, sizeof(s->tls_cipher), "%s",
	    c != NULL ? SSL_CIPHER_get_name(c) : "unknown");
	s->tls_bits = c != NULL ? SSL_CIPHER_get_bits(c, &s->tls_alg_bits) : 0;
	/* Facts only where a certificate is asked for: nothing to
	 * allocate on the other handshakes. */
	free(s->ccert);
	s->ccert = NULL;
	if (tls_server_ask_ccert(smtpd_cfg.tls)) {
		s->ccert = xmalloc(sizeof(*s->ccert));
		if (!tls_server_peer_ccert(smtpd_cfg.tls, s->ssl, s->ccert)) {
			free(s->ccert);
			s->ccert = NULL;
		}
	}
	if (tls_server_loglevel(smtpd_cfg.tls) >= 1)
		log_established(s);
	/* smtpd_client_new_tls_session_rate_limit counts full handshakes
	 * only: resuming costs the server little. */
	if (!SSL_session_reused(s->ssl))
		smtpd_limit_newtls(s);
	smtpd_bev_setup(s, smtpd_cfg.timeout);
	if (tls_server_req_ccert(smtpd_cfg.tls) &&
	    (s->ccert == NULL || !s->ccert->trusted)) {
		refuse_unverified(s);
		return;
	}
	if (wrapper) {
		smtpd_greet(s);
		return;
	}
	/* RFC 3207 4.2: forget everything learned before TLS. */
	free(s->helo);
	s->helo = NULL;
	s->esmtp = false;
	smtpd_transaction_reset(s);
	smtp_line_reader_deinit(&s->lr);
	smtp_line_reader_init(&s->lr, smtpd_cfg.line_max);
	s->authenticated = false;
	free(s->auth_user);
	s->auth_user = NULL;
	s->state = SS_CONNECTED;
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	smtpd_session_process(s);
}

void
smtpd_tls_event(struct session *s, short what)
{
	unsigned long e, first = 0;
	char why[1024], offer[768], raw[1024];
	bool eof, timeout;
	size_t rawlen = 0;

	if (what & BEV_EVENT_CONNECTED) {
		handshake_done(s);
		return;
	}
	raw[0] = '\0';
	while ((e = bufferevent_get_openssl_error(s->bev)) != 0) {
		if (first == 0)
			first = e;
		if (rawlen < sizeof(raw) - 1) {
			char one[256];
			int k;

			ERR_error_string_n(e, one, sizeof(one));
			k = snprintf(raw + rawlen, sizeof(raw) - rawlen, "%s%s",
			    rawlen ? "; " : "; OpenSSL: ", one);
			if (k > 0)
				rawlen += (size_t)k;
			if (rawlen >= sizeof(raw))
				rawlen = sizeof(raw) - 1;
		}
	}
	timeout = (what & BEV_EVENT_TIMEOUT) != 0;
	eof = (what & BEV_EVENT_EOF) != 0 || (first == 0 && !timeout) ||
	    (first != 0 && ERR_GET_REASON(first) ==
	    SSL_R_UNEXPECTED_EOF_WHILE_READING);
	if (eof && first != 0 && ERR_GET_REASON(first) ==
	    SSL_R_UNEXPECTED_EOF_WHILE_READING)
		first = 0;
	tls_conn_explain(smtpd_cfg.tls, s->ssl, first, eof, timeout, why,
	    sizeof(why));
	if (timeout) {
		char tmp[sizeof(why) + 64];

		snprintf(tmp, sizeof(tmp), "handshake timeout after %llds: "
		    "%s", smtpd_cfg.starttls_timeout, why);
		tls_conn_offer_text(s->ssl, offer, sizeof(offer));
		fail(s, tmp, offer, tls_server_loglevel(smtpd_cfg.tls) >= 2 ?
		    raw : NULL);
		return;
	}
	tls_conn_offer_text(s->ssl, offer, sizeof(offer));
	/* The raw OpenSSL errors only at smtpd_tls_loglevel 2 or more. */
	fail(s, why, offer, tls_server_loglevel(smtpd_cfg.tls) >= 2 ? raw :
	    NULL);
}
