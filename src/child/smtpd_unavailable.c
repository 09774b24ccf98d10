/* SPDX-License-Identifier: MIT */
/*
 * smtpd_unavailable - 421 to every client; see smtpd_unavailable.h.
 *
 * Runs in an smtpd child as mail_owner.  Reads nothing from the client:
 * the reply is written once (non-blocking; a client that does not read
 * it loses it) and the connection is closed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "peer_match.h"
#include "smtpd_unavailable.h"

static struct peer_list *debug_peers;

static void
unavailable_init(struct child *c)
{
	const struct config_view *v = child_view(c);
	const char *err = NULL;

	debug_peers = peer_list_parse(config_str(v, P_debug_peer_list),
	    config_list_contains(v, P_parent_domain_matches_subdomains,
	    "debug_peer_list"), &err);
	if (debug_peers == NULL)
		log_warning("debug_peer_list: %s; no client gets extra logging",
		    err);
}

static void
unavailable_accept(struct child *c, int fd, const char *client,
    const char *listen_addr)
{
	const struct config_view *v = child_view(c);
	int saved = log_get_verbose();
	char reply[512];
	int n;

	if (debug_peers != NULL &&
	    peer_list_match(debug_peers, "unknown", client) == 1)
		log_set_verbose(saved + (int)config_int(v,
		    P_debug_peer_level));
	log_info("connect from unknown[%s] to %s", client, listen_addr);
	n = snprintf(reply, sizeof(reply), "421 4.3.2 %s Service not "
	    "available: this Ostia build has no SMTP server yet\r\n",
	    config_str(v, P_myhostname));
	log_debug(1, "> unknown[%s]: %.*s", client, n - 2, reply);
	if (send(fd, reply, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n)
		log_debug(1, "unknown[%s]: reply not sent whole: %s", client,
		    strerror(errno));
	close(fd);
	log_info("disconnect from unknown[%s]: service not available", client);
	log_set_verbose(saved);
	child_connection_done(c);
}

static size_t
unavailable_active(struct child *c)
{
	return 0;
}

const struct child_program smtpd_unavailable_program = {
	.name = "smtpd",
	.init = unavailable_init,
	.accept_fn = unavailable_accept,
	.active = unavailable_active,
};
