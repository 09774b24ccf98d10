/* SPDX-License-Identifier: MIT */
/*
 * tls_sessions - a bounded cache of client TLS sessions
 * (tls_sessions.h).  A small array searched in full: at most a few
 * thousand entries, one search per TLS connection made.
 */
#include <stdlib.h>
#include <string.h>

#include "tls_sessions.h"
#include "xalloc.h"

struct tls_session_entry {
	char *key;
	SSL_SESSION *sess;
	time_t when;
};

struct tls_sessions {
	struct tls_session_entry *v;
	size_t n, max;
	time_t timeout;
};

struct tls_sessions *
tls_sessions_new(size_t max, time_t timeout)
{
	struct tls_sessions *s = xcalloc(1, sizeof(*s));

	s->max = max > 0 ? max : 1;
	s->timeout = timeout;
	s->v = xcalloc(s->max, sizeof(*s->v));
	return s;
}

static void
drop(struct tls_sessions *s, size_t i)
{
	free(s->v[i].key);
	SSL_SESSION_free(s->v[i].sess);
	s->v[i] = s->v[--s->n];
}

void
tls_sessions_free(struct tls_sessions **sp)
{
	struct tls_sessions *s = *sp;

	if (s == NULL)
		return;
	while (s->n > 0)
		drop(s, s->n - 1);
	free(s->v);
	free(s);
	*sp = NULL;
}

static size_t
find(const struct tls_sessions *s, const char *key)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i].key, key) == 0)
			return i;
	return (size_t)-1;
}

SSL_SESSION *
tls_sessions_get(struct tls_sessions *s, const char *key, time_t now)
{
	size_t i = find(s, key);

	if (i == (size_t)-1)
		return NULL;
	if (now - s->v[i].when >= s->timeout ||
	    !SSL_SESSION_is_resumable(s->v[i].sess)) {
		drop(s, i);
		return NULL;
	}
	return s->v[i].sess;
}

void
tls_sessions_put(struct tls_sessions *s, const char *key, SSL_SESSION *sess,
    time_t now)
{
	size_t i = find(s, key);

	if (i != (size_t)-1) {
		SSL_SESSION_free(s->v[i].sess);
		s->v[i].sess = sess;
		s->v[i].when = now;
		return;
	}
	if (s->n == s->max) {
		size_t oldest = 0;

		for (size_t k = 1; k < s->n; k++)
			if (s->v[k].when < s->v[oldest].when)
				oldest = k;
		drop(s, oldest);
	}
	s->v[s->n].key = xstrdup(key);
	s->v[s->n].sess = sess;
	s->v[s->n].when = now;
	s->n++;
}

size_t
tls_sessions_count(const struct tls_sessions *s)
{
	return s->n;
}
