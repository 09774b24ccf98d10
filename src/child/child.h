/* SPDX-License-Identifier: MIT */
/*
 * child - the skeleton every process started by the master runs.
 *
 * The master forks, arranges descriptors and re-executes the ostia
 * binary as `ostia -c DIR child SERVICE TYPE NLISTEN`:
 *
 *   fd 0, 1      /dev/null
 *   fd 2         the log when LOGMODE is "fd" (maillog_file, or the
 *                foreground master's stderr); with "syslog" the child
 *                logs to syslog like the master, and fd 2 is /dev/null
 *   fd 3         control socket to the master (stream): the child writes
 *                "ready\n" once it has dropped privileges; EOF from the
 *                master means the master is gone and the child exits.
 *                The master sends messages: a 4-byte tag, a 2-byte
 *                big-endian length (at most CHILD_CTL_MSG_MAX), the
 *                payload ("TKEY": a TLS session ticket key)
 *   fd 4..       NLISTEN listening sockets, non-blocking
 *
 * The child reads the configuration itself (quietly: the master already
 * reported its warnings), finds its service and that service's view
 * (TYPE "internal": a service the master starts by itself, such as the
 * queue process, with the main.cf view), changes to queue_directory,
 * drops to mail_owner or the user the program chooses (choose_user;
 * chroot to queue_directory when the service's chroot field is y, and
 * for internal services), then runs one libevent loop.  SIGTERM stops
 * accepting, lets open connections finish (at most
 * CHILD_DRAIN_MAX_SECONDS) and exits 0.  SIGINT is ignored: Ctrl-C in
 * a terminal reaches the whole process group, and the master decides.
 */
#ifndef OSTIA_CHILD_H
#define OSTIA_CHILD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "config.h"

#define CHILD_CTL_FD 3
#define CHILD_CTL_HDR_BYTES 6
#define CHILD_CTL_MSG_MAX 1024
#define CHILD_LISTEN_FD_START 4
#define CHILD_DRAIN_MAX_SECONDS 10
/* The TYPE argument of services the master starts by itself. */
#define CHILD_INTERNAL_TYPE "internal"

struct event_base;
struct child;

/*
 * A program run in the skeleton.  accept_fn is called for each accepted
 * connection (non-blocking, close-on-exec); it owns fd.
 */
struct child_program {
	const char *name;
	/* Before privileges are dropped, in queue_directory: read files
	 * only root may read.  No event loop yet. */
	void (*preinit)(struct child *c);
	/*
	 * Optional, right after preinit (as root when the master is root):
	 * the user to become.  *uid_r and *gid_r arrive set to mail_owner's
	 * and may be changed (a delivery agent runs as the user its
	 * configuration names).  The skeleton never becomes uid 0 or gid
	 * 0: it logs an error and keeps mail_owner instead.  NULL:
	 * mail_owner.
	 */
	void (*choose_user)(struct child *c, uid_t *uid_r, gid_t *gid_r);
	void (*init)(struct child *c);
	/* A message from the master (tag: 4 bytes, not terminated). */
	void (*ctl_msg)(struct child *c, const char *tag,
	    const unsigned char *data, size_t len);
	/* client_addr: the peer's address as text ("unknown" for a Unix
	 * socket), client_port: its port (0 for a Unix socket). */
	void (*accept_fn)(struct child *c, int fd, const char *client_addr,
	    unsigned client_port, const char *listen_addr);
	/* Number of connections still open (for a graceful stop). */
	size_t (*active)(struct child *c);
	/* Internal services: chroot to queue_directory when root. */
	bool internal_chroot;
};

/* Entry point: returns the process exit code. */
int child_main(const char *config_dir, const char *service,
    const char *type, const char *nlisten, int verbose, bool use_syslog);

struct event_base *child_event_base(struct child *c);
const struct config_view *child_view(struct child *c);
const struct master_service *child_service(struct child *c);
/*
 * A "postscreen" service runs smtpd (smtpd_screen.h): then
 * child_service and child_view are those of the pass service it hands
 * clients to (smtpd_service_name), and these two are the postscreen
 * service's own (its listener, its postscreen_* settings).  NULL for
 * every other child.
 */
const struct master_service *child_screen_service(struct child *c);
const struct config_view *child_screen_view(struct child *c);
/* The whole configuration (every service's view), for the lookup
 * process, which serves the tables of all of them. */
const struct config *child_config(struct child *c);
/* True once the child was asked to stop (SIGTERM): it finishes what it
 * has and takes no new work. */
bool child_draining(const struct child *c);
/* Tell the skeleton a connection ended (so a draining child can exit). */
void child_connection_done(struct child *c);
/*
 * Stop (paused true) or resume accepting connections; the listening
 * sockets stay open, connections wait in their backlog for another
 * process of the service.  A program that serves one connection at a
 * time (the delivery agents) pauses in accept_fn and resumes when the
 * connection ends.  Nothing happens once the child is draining.
 */
void child_accept_pause(struct child *c, bool paused);

#endif
