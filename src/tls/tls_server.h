/* SPDX-License-Identifier: MIT */
/*
 * tls_server - the SMTP server's TLS: contexts built from the
 * smtpd_tls_* parameters of one service, SNI, session tickets, and the
 * facts a failed handshake is explained with.
 *
 * tls_server_create() reads key and certificate files, so smtpd calls
 * it before it drops privileges; everything after runs as mail_owner.
 * One struct tls_server per smtpd process.  Each connection gets an
 * SSL from tls_server_new_ssl() with a struct tls_conn attached that
 * records, during the handshake, what the client offered (versions,
 * SNI, cipher suites), the alert it sent and how far the handshake
 * got; tls_conn_explain() turns that into one sentence for the log.
 *
 * Session resumption uses stateless tickets (TLS 1.2 RFC 5077 and
 * TLS 1.3 tickets) and, when smtpd_tls_session_cache_database names a
 * table, session IDs too, from a cache in each process's memory (at
 * most TLS_SERVER_SESSIONS_MAX; the table is not written, so a client
 * that comes back to another smtpd process makes a full handshake
 * there).  The ticket keys come from the master
 * (tls_server_add_ticket_key), which makes them, hands the same keys to
 * every smtpd process and rotates them every
 * smtpd_tls_session_cache_timeout, so a session made with one process
 * resumes with another.  The previous key still decrypts (and causes a
 * fresh ticket) for one more period.
 */
#ifndef OSTIA_TLS_SERVER_H
#define OSTIA_TLS_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

/* Sessions one context keeps for session-ID resumption. */
#define TLS_SERVER_SESSIONS_MAX 10000

#include "config.h"
#include "tls_ccert.h"

/* Ticket key record the master sends: name, AES-256 key, HMAC key. */
#define TLS_TICKET_NAME_BYTES 16
#define TLS_TICKET_AES_BYTES 32
#define TLS_TICKET_HMAC_BYTES 32
#define TLS_TICKET_KEY_BYTES (TLS_TICKET_NAME_BYTES + TLS_TICKET_AES_BYTES + \
    TLS_TICKET_HMAC_BYTES)

/* How many of the client's cipher suites a log line shows. */
#define TLS_CONN_CIPHERS_SHOWN 6

enum tls_level {
	TLS_LEVEL_NONE,
	TLS_LEVEL_MAY,
	TLS_LEVEL_ENCRYPT,
};

struct tls_server;

/* What one connection's handshake showed; owned by the SSL. */
struct tls_conn {
	bool hello_seen;		/* a ClientHello was parsed */
	unsigned offered_mask;		/* versions offered, TLS_PROTO_* bits */
	char sni[256];			/* escaped; empty when none */
	char ciphers[512];		/* first suites offered, names */
	int alert_received;		/* TLS alert description, -1 if none */
	bool alert_fatal;
	bool server_flight_sent;	/* our certificate went out */
	int ctx_index;			/* which certificate set served */
	int verify_err;			/* first client certificate error */
};

/*
 * Build the TLS side of a service from its view.  Returns NULL with a
 * message in err (file names, what is wrong) when the settings are
 * invalid or a file cannot be used; returns NULL with err empty when
 * TLS is off for the service (level none and no wrapper mode).
 */
struct tls_server *tls_server_create(const struct config_view *v,
    char *err, size_t errsz);
void tls_server_free(struct tls_server *t);

enum tls_level tls_server_level(const struct tls_server *t);
bool tls_server_wrapper(const struct tls_server *t);
int tls_server_loglevel(const struct tls_server *t);
bool tls_server_tickets(const struct tls_server *t);
/* smtpd_tls_ask_ccert (or an enforced smtpd_tls_req_ccert) is on. */
bool tls_server_ask_ccert(const struct tls_server *t);
/* smtpd_tls_req_ccert is on where TLS is enforced (encrypt level or
 * wrapper mode); elsewhere it is ignored with a warning at start-up. */
bool tls_server_req_ccert(const struct tls_server *t);
/*
 * The certificate the client of ssl presented once the handshake is
 * done (tls_ccert.h): false when none was asked for or none was given.
 * "trusted" needs a chain to smtpd_tls_CAfile / smtpd_tls_CApath.
 */
bool tls_server_peer_ccert(struct tls_server *t, SSL *ssl,
    struct tls_ccert *out);

/* Add a ticket key (TLS_TICKET_KEY_BYTES); it becomes the one used to
 * make tickets, the one before it is kept for decryption only. */
void tls_server_add_ticket_key(struct tls_server *t, const unsigned char *key);

/* A new SSL for one accepted connection, with its struct tls_conn. */
SSL *tls_server_new_ssl(struct tls_server *t);
struct tls_conn *tls_conn_get(SSL *ssl);

/*
 * Explain a failed handshake in one sentence (reason and fix): from the
 * OpenSSL error reason (ERR_GET_REASON of the first error, 0 if none),
 * what the connection recorded, and whether the peer closed (eof) or
 * timed out.  Written into out.
 */
void tls_conn_explain(struct tls_server *t, SSL *ssl, unsigned long errcode,
    bool eof, bool timeout, char *out, size_t outsz);
/* "client offered TLSv1.2-TLSv1.3, SNI x, ciphers a b c" (or empty). */
void tls_conn_offer_text(SSL *ssl, char *out, size_t outsz);
/* Names the versions this service allows, e.g. "TLSv1.2, TLSv1.3". */
const char *tls_server_versions_text(const struct tls_server *t, char *buf,
    size_t bufsz);

#endif
