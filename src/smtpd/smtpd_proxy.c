/* SPDX-License-Identifier: MIT */
/*
 * smtpd_proxy - the PROXY protocol header of a session (smtpd_proxy.h).
 *
 * The header is looked at with MSG_PEEK and taken off the socket only
 * once it is whole, byte-exact: what follows (the TLS hello on an
 * implicit-TLS port) stays for the session.  While only part of it has
 * come, smtpd looks again every PROXY_POLL_MS rather than on
 * readability (the peeked bytes would keep the socket readable).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "log.h"
#include "proxy_proto.h"
#include "smtpd_proxy.h"
#include "smtpd_session.h"

#define PROXY_POLL_MS 20

static struct {
	bool on;
	long long timeout;	/* smtpd_upstream_proxy_timeout, seconds */
	const char *param;	/* the parameter that turned it on */
} px;

bool
smtpd_proxy_init(const struct config_view *v,
    const struct config_view *screen_v)
{
	const char *p = screen_v != NULL ? config_str(screen_v,
	    P_postscreen_upstream_proxy_protocol) :
	    config_str(v, P_smtpd_upstream_proxy_protocol);

	/* The configuration check allows "" and "haproxy" only (a list of
	 * the one word). */
	px.on = strcasestr(p, "haproxy") != NULL;
	px.timeout = screen_v != NULL ? config_time(screen_v,
	    P_postscreen_upstream_proxy_timeout) :
	    config_time(v, P_smtpd_upstream_proxy_timeout);
	px.param = screen_v != NULL ? "postscreen_upstream_proxy_protocol" :
	    "smtpd_upstream_proxy_protocol";
	return px.on;
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
fail(struct session *s, const char *why)
{
	log_warning("%s: no valid PROXY protocol header from %s: %s; closed "
	    "the connection without a reply (%s = haproxy: every connection "
	    "to this service must come through the proxy)", s->listener,
	    s->addr, why, px.param);
	smtpd_session_free(s);
}

static void on_proxy(evutil_socket_t fd, short what, void *arg);

/* wait - look again: on readability first, then by the clock. */
static void
wait_more(struct session *s, bool poll)
{
	long long left = s->proxy_deadline - now_ms();
	struct timeval tv;

	if (left <= 0) {
		fail(s, "it did not come within smtpd_upstream_proxy_timeout");
		return;
	}
	if (poll) {
		event_del(s->proxy_ev);
		event_assign(s->proxy_ev, smtpd_base, -1, 0, on_proxy, s);
		if (left > PROXY_POLL_MS)
			left = PROXY_POLL_MS;
	}
	tv.tv_sec = (time_t)(left / 1000);
	tv.tv_usec = (suseconds_t)(left % 1000) * 1000;
	event_add(s->proxy_ev, &tv);
}

static void
on_proxy(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	unsigned char buf[PROXY_V2_MAX_BYTES];
	struct proxy_result r;
	const char *err = NULL;
	size_t used = 0;
	ssize_t n;

	(void)fd;
	(void)what;
	n = recv(s->fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
	if (n == 0) {
		fail(s, "the connection closed before it");
		return;
	}
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
			wait_more(s, s->proxy_polling);
			return;
		}
		fail(s, strerror(errno));
		return;
	}
	switch (proxy_parse(buf, (size_t)n, &r, &used, &err)) {
	case PROXY_NEED_MORE:
		s->proxy_polling = true;
		wait_more(s, true);
		return;
	case PROXY_BAD:
		fail(s, err);
		return;
	case PROXY_DONE:
		break;
	}
	/* Take exactly the header off the socket. */
	if (recv(s->fd, buf, used, MSG_DONTWAIT) != (ssize_t)used) {
		fail(s, "it could not be read again from the socket");
		return;
	}
	event_free(s->proxy_ev);
	s->proxy_ev = NULL;
	if (!r.local) {
		char was[INET6_ADDRSTRLEN];

		snprintf(was, sizeof(was), "%s", s->addr);
		snprintf(s->addr, sizeof(s->addr), "%s", r.src_addr);
		/* IPv4-mapped IPv6 clients are shown as IPv4 (smtpd.c). */
		if (strncmp(s->addr, "::ffff:", 7) == 0 &&
		    strchr(s->addr + 7, '.') != NULL)
			memmove(s->addr, s->addr + 7, strlen(s->addr + 7) + 1);
		s->client_port = r.src_port;
		snprintf(s->local_addr, sizeof(s->local_addr), "%s",
		    r.dst_addr);
		s->local_port = r.dst_port;
		log_debug(1, "%s: PROXY v%d header from %s: client %s port %u, "
		    "to %s port %u", s->listener, r.version, was, s->addr,
		    s->client_port, s->local_addr, s->local_port);
	} else {
		log_debug(1, "%s: PROXY v%d header from %s names no client "
		    "(the proxy's own check)", s->listener, r.version, s->addr);
	}
	s->proxy_done(s);
}

void
smtpd_proxy_read(struct session *s, void (*done)(struct session *s))
{
	s->proxy_done = done;
	s->proxy_deadline = now_ms() + px.timeout * 1000;
	s->proxy_ev = event_new(smtpd_base, s->fd, EV_READ, on_proxy, s);
	if (s->proxy_ev == NULL) {
		fail(s, "out of memory");
		return;
	}
	wait_more(s, false);
}

void
smtpd_proxy_session_end(struct session *s)
{
	if (s->proxy_ev != NULL) {
		event_free(s->proxy_ev);
		s->proxy_ev = NULL;
	}
}
