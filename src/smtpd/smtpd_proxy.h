/* SPDX-License-Identifier: MIT */
/*
 * smtpd_proxy - smtpd_upstream_proxy_protocol = haproxy: a load balancer
 * (HAProxy, Traefik, nginx stream, a cloud balancer) connects to this
 * service and sends a PROXY protocol header (proxy_proto.h, version 1
 * or 2) before the client's bytes.  smtpd reads exactly that header,
 * before anything else (the client name lookup, the limits, the
 * greeting or the TLS hello), within smtpd_upstream_proxy_timeout; the
 * session then uses the client address and port, and the local address
 * and port, that it names (a LOCAL / UNKNOWN header, the balancer's own
 * health check, keeps the connection's).
 *
 * A connection without a valid header is logged with the reason and
 * closed without a reply: with this setting every connection must come
 * through the balancer, and the port should be reachable by it alone.
 */
#ifndef OSTIA_SMTPD_PROXY_H
#define OSTIA_SMTPD_PROXY_H

#include "config.h"

struct session;

/* Read smtpd_upstream_proxy_protocol and _timeout of v, or, behind
 * postscreen (screen_v not NULL: smtpd_screen.h), postscreen_upstream_
 * proxy_protocol and _timeout of screen_v; true when on. */
bool smtpd_proxy_init(const struct config_view *v,
    const struct config_view *screen_v);
/* Read the header of s, then run done(s) from the event loop; on a
 * failure s is freed and done is not run. */
void smtpd_proxy_read(struct session *s, void (*done)(struct session *s));
/* The session ends: stop reading. */
void smtpd_proxy_session_end(struct session *s);

#endif
