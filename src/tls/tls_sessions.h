/* SPDX-License-Identifier: MIT */
/*
 * tls_sessions - the TLS client's cache of resumable sessions
 * (smtp_tls_session_cache_database), in the memory of one agent
 * process: a session per key (the caller's name for a server and the
 * TLS settings it was made with), kept at most timeout seconds after it
 * arrived, at most max of them (the oldest goes first).  A session that
 * OpenSSL says cannot be resumed is never handed out.
 *
 * No I/O; the time is passed in.  Tested by test_tls_sessions.
 */
#ifndef OSTIA_TLS_SESSIONS_H
#define OSTIA_TLS_SESSIONS_H

#include <stddef.h>
#include <time.h>

#include <openssl/ssl.h>

struct tls_sessions;

struct tls_sessions *tls_sessions_new(size_t max, time_t timeout);
void tls_sessions_free(struct tls_sessions **sp);

/* The session for key at time now, or NULL (none, expired or not
 * resumable: then dropped).  Borrowed: valid until the next call that
 * changes the cache (SSL_set_session takes its own reference). */
SSL_SESSION *tls_sessions_get(struct tls_sessions *s, const char *key,
    time_t now);
/* Keep sess (the caller's reference is taken over) for key, replacing
 * the one before. */
void tls_sessions_put(struct tls_sessions *s, const char *key,
    SSL_SESSION *sess, time_t now);
/* Sessions kept. */
size_t tls_sessions_count(const struct tls_sessions *s);

#endif
