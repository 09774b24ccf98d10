/* SPDX-License-Identifier: MIT */
/*
 * child - process skeleton for programs run by the master; see child.h.
 *
 * Privileges: starts as whatever the master runs as (root in
 * production), drops to mail_owner before the event loop starts, i.e.
 * before any byte from the network is read.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent.h"
#include "child.h"
#include "log.h"
#include "lookup_service.h"
#include "privs.h"
#include "queue_service.h"
#include "smtpd.h"
#include "spawn.h"
#include "strnum.h"
#include "xalloc.h"

#include <openssl/crypto.h>

struct child {
	struct event_base *base;
	struct config *cf;
	const struct config_view *view;
	const struct master_service *svc;
	const struct config_view *screen_view;	/* postscreen */
	const struct master_service *screen_svc;
	const struct child_program *prog;
	struct event **listen_evs;
	int *listen_fds;
	char **listen_addrs;
	size_t nlisten;
	struct event *sigterm_ev;
	struct event *ctl_ev;
	struct event *drain_timer;
	int draining;
	bool paused;		/* child_accept_pause */
	unsigned char ctl_buf[CHILD_CTL_MSG_MAX + CHILD_CTL_HDR_BYTES];
	size_t ctl_len;
};

struct event_base *
child_event_base(struct child *c)
{
	return c->base;
}

const struct config_view *
child_view(struct child *c)
{
	return c->view;
}

const struct master_service *
child_screen_service(struct child *c)
{
	return c->screen_svc;
}

const struct config_view *
child_screen_view(struct child *c)
{
	return c->screen_view;
}

const struct master_service *
child_service(struct child *c)
{
	return c->svc;
}

const struct config *
child_config(struct child *c)
{
	return c->cf;
}

bool
child_draining(const struct child *c)
{
	return c->draining != 0;
}

static void
child_maybe_exit(struct child *c)
{
	if (c->draining && (c->prog->active == NULL ||
	    c->prog->active(c) == 0))
		event_base_loopexit(c->base, NULL);
}

void
child_connection_done(struct child *c)
{
	child_maybe_exit(c);
}

static void
format_peer(const struct sockaddr_storage *ss, char *out, size_t outsz)
{
	char host[INET6_ADDRSTRLEN] = "unknown";

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
	} else if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
	}
	snprintf(out, outsz, "%s", host);
}

/* peer_port - the port of an IPv4 or IPv6 peer, else 0. */
static unsigned
peer_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	return 0;
}

/*
 * on_accept - a listener is readable: take one connection.  Every child
 * of a service watches the same listening socket, and the kernel tells
 * each of them about a new connection; the first accept4() gets it and
 * the others fail with EAGAIN.  One connection per turn keeps that to
 * one failed call per child that lost the race (a loop until EAGAIN
 * would add one to the winner's turn too), and the event loop, which
 * asks again while connections wait (level-triggered), spreads a burst
 * over the children.  (EPOLLEXCLUSIVE cannot help here: the kernel
 * honours it only for a process blocked in epoll_wait() on the
 * instance holding the socket, and the event loop's instance cannot be
 * given the flag.)
 */
static void
on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct child *c = arg;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char peer[INET6_ADDRSTRLEN];
	size_t i;
	int fd;

	for (i = 0; i < c->nlisten; i++)
		if (c->listen_fds[i] == lfd)
			break;
	if (i == c->nlisten || c->paused)
		return;
	fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK |
	    SOCK_CLOEXEC);
	if (fd < 0) {
		/* Another child took it, or a transient error. */
		if (errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR && errno != ECONNABORTED)
			log_warning("accept on %s: %s", c->listen_addrs[i],
			    strerror(errno));
		return;
	}
	format_peer(&ss, peer, sizeof(peer));
	c->prog->accept_fn(c, fd, peer, peer_port(&ss), c->listen_addrs[i]);
}

void
child_accept_pause(struct child *c, bool paused)
{
	if (c->paused == paused)
		return;
	c->paused = paused;
	for (size_t i = 0; i < c->nlisten; i++) {
		if (c->listen_evs[i] == NULL)
			continue;
		if (paused)
			event_del(c->listen_evs[i]);
		else
			event_add(c->listen_evs[i], NULL);
	}
}

static void
close_listener(struct child *c, size_t i)
{
	if (c->listen_evs[i] != NULL) {
		event_free(c->listen_evs[i]);
		c->listen_evs[i] = NULL;
	}
	if (c->listen_fds[i] >= 0) {
		close(c->listen_fds[i]);
		c->listen_fds[i] = -1;
	}
}

static void
start_drain(struct child *c, const char *why)
{
	if (c->draining)
		return;
	c->draining = 1;
	log_debug(1, "%s: no longer accepting connections", why);
	/*
	 * Close the listeners, not only stop watching them: while any
	 * process holds a listening socket, the kernel keeps accepting
	 * connections into its backlog that nobody would serve.
	 */
	for (size_t i = 0; i < c->nlisten; i++) {
		close_listener(c, i);
	}
	child_maybe_exit(c);
}

static void
on_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct child *c = arg;

	log_warning("stopping with connections still open after %d s",
	    CHILD_DRAIN_MAX_SECONDS);
	event_base_loopbreak(c->base);
}

static void
on_sigterm(evutil_socket_t sig, short what, void *arg)
{
	struct child *c = arg;
	struct timeval tv = { CHILD_DRAIN_MAX_SECONDS, 0 };

	if (c->draining)
		return;
	evtimer_add(c->drain_timer, &tv);
	start_drain(c, "stop requested");
}

/*
 * ctl_messages - complete messages from the master: a 4-byte tag, a
 * 2-byte big-endian length, the payload.  A malformed stream ends the
 * child (the master and the child are one program; it cannot happen
 * unless something is badly wrong).
 */
static bool
ctl_messages(struct child *c)
{
	while (c->ctl_len >= CHILD_CTL_HDR_BYTES) {
		size_t len = (size_t)c->ctl_buf[4] << 8 | c->ctl_buf[5];

		if (len > CHILD_CTL_MSG_MAX) {
			log_warning("malformed message from the master");
			return false;
		}
		if (c->ctl_len < CHILD_CTL_HDR_BYTES + len)
			break;
		if (c->prog->ctl_msg != NULL)
			c->prog->ctl_msg(c, (const char *)c->ctl_buf,
			    c->ctl_buf + CHILD_CTL_HDR_BYTES, len);
		memmove(c->ctl_buf, c->ctl_buf + CHILD_CTL_HDR_BYTES + len,
		    c->ctl_len - CHILD_CTL_HDR_BYTES - len);
		c->ctl_len -= CHILD_CTL_HDR_BYTES + len;
	}
	return true;
}

static void
on_ctl(evutil_socket_t fd, short what, void *arg)
{
	struct child *c = arg;
	ssize_t n = read(fd, c->ctl_buf + c->ctl_len,
	    sizeof(c->ctl_buf) - c->ctl_len);

	if (n > 0) {
		c->ctl_len += (size_t)n;
		if (ctl_messages(c))
			return;
	} else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		return;
	} else {
		/* The master is gone: stop now, nobody supervises us. */
		log_warning("lost the connection to the master; exiting");
	}
	OPENSSL_cleanse(c->ctl_buf, sizeof(c->ctl_buf));
	event_base_loopbreak(c->base);
}

static const struct child_program *
find_program(const char *command)
{
	const char *slash = strrchr(command, '/');

	if (slash != NULL)
		command = slash + 1;
	if (strcmp(command, "smtpd") == 0 ||
	    strcmp(command, "postscreen") == 0)
		return &smtpd_program;
	if (strcmp(command, "spawn") == 0)
		return &spawn_program;
	/* Delivery agents: virtual, lmtp, pipe, local, discard, error. */
	if (agent_find(command) != NULL)
		return agent_program(agent_find(command));
	return NULL;
}

/* Internal services: started by the master, not listed in master.cf. */
static const struct child_program *
find_internal(const char *name)
{
	if (strcmp(name, "queue") == 0)
		return &queue_service_program;
	if (strcmp(name, "lookup") == 0)
		return &lookup_service_program;
	return NULL;
}

static void
child_free(struct child *c)
{
	for (size_t i = 0; i < c->nlisten; i++) {
		close_listener(c, i);
		free(c->listen_addrs[i]);
	}
	free(c->listen_evs);
	free(c->listen_fds);
	free(c->listen_addrs);
	if (c->sigterm_ev != NULL)
		event_free(c->sigterm_ev);
	if (c->ctl_ev != NULL)
		event_free(c->ctl_ev);
	if (c->drain_timer != NULL)
		event_free(c->drain_timer);
	if (c->base != NULL)
		event_base_free(c->base);
	config_free(&c->cf);
}

/*
 * screen_pass_service - a postscreen service: its smtpd takes the pass
 * service's settings (master_programs_check made sure it exists).
 */
static void
screen_pass_service(struct child *c)
{
	const struct master_cf *mcf = config_master(c->cf);
	const char *cmd = strrchr(c->svc->command, '/');
	const char *pass;

	cmd = cmd != NULL ? cmd + 1 : c->svc->command;
	if (strcmp(cmd, "postscreen") != 0)
		return;
	pass = config_str(c->view, P_smtpd_service_name);
	for (size_t i = 0; i < mcf->nservices; i++) {
		const struct master_service *ms = &mcf->services[i];

		if (ms->type == MASTER_TYPE_PASS &&
		    strcmp(ms->name, pass) == 0) {
			c->screen_svc = c->svc;
			c->screen_view = c->view;
			c->svc = ms;
			c->view = config_service(c->cf, i);
			return;
		}
	}
	log_fatal("service %s/%s runs postscreen, but %s has no pass service "
	    "named %s (smtpd_service_name) to run its smtpd", c->svc->name,
	    master_type_name(c->svc->type), config_master_cf_path(c->cf),
	    pass);
}

int
child_main(const char *config_dir, const char *service, const char *type,
    const char *nlisten_text, int verbose, bool use_syslog)
{
	struct child c;
	struct diag_list diags;
	struct privs_user user;
	const struct master_cf *mcf;
	const char *err = NULL, *chroot_dir;
	char *uerr = NULL;
	long long nlisten;
	static const char ready[] = "ready\n";

	memset(&c, 0, sizeof(c));
	log_init("ostia", "child", LOG_STYLE_DAEMON);
	log_use_fd(2);
	log_set_verbose(verbose);
	(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
	signal(SIGINT, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);

	if (strnum_parse_ll(nlisten_text, 0, 1024, &nlisten, &err) < 0)
		log_fatal("child: bad listener count \"%s\": %s", nlisten_text,
		    err);
	diag_list_init(&diags);
	c.cf = config_load(config_dir, CONFIG_LOAD_QUIET, &diags);
	if (c.cf == NULL) {
		diag_list_log(&diags);
		log_fatal("child %s/%s: the configuration has errors",
		    service, type);
	}
	diag_list_deinit(&diags);
	mcf = config_master(c.cf);
	if (strcmp(type, CHILD_INTERNAL_TYPE) == 0) {
		c.view = config_main(c.cf);
		c.prog = find_internal(service);
		if (c.prog == NULL)
			log_fatal("child: no internal service %s", service);
	} else {
		for (size_t i = 0; i < mcf->nservices; i++) {
			if (strcmp(mcf->services[i].name, service) == 0 &&
			    strcmp(master_type_name(mcf->services[i].type),
			    type) == 0) {
				c.svc = &mcf->services[i];
				c.view = config_service(c.cf, i);
			}
		}
		if (c.svc == NULL)
			log_fatal("child: no service %s/%s in %s", service,
			    type, config_master_cf_path(c.cf));
		c.prog = find_program(c.svc->command);
		if (c.prog == NULL)
			log_fatal("child: service %s/%s: no program for "
			    "command %s", service, type, c.svc->command);
		screen_pass_service(&c);
	}
	log_init(config_str(c.view, P_syslog_name), c.prog->name,
	    LOG_STYLE_DAEMON);
	if (use_syslog && log_use_syslog(config_str(c.view,
	    P_syslog_facility), &err) < 0)
		log_fatal("syslog_facility: %s", err);

	if (privs_user_resolve(config_str(c.view, P_mail_owner), false, &user,
	    &uerr) < 0)
		log_fatal("%s", uerr);
	/*
	 * master.cf services chroot when their chroot field is y; the
	 * internal services always do when started as root.  Either way
	 * the process then works relative to queue_directory.
	 */
	chroot_dir = (c.svc != NULL ? c.svc->chroot_flag == 1 :
	    c.prog->internal_chroot) ? config_str(c.view, P_queue_directory) :
	    NULL;
	if (chdir(config_str(c.view, P_queue_directory)) < 0)
		log_fatal("chdir %s: %s", config_str(c.view,
		    P_queue_directory), strerror(errno));
	/* Files only root may read (TLS keys) are read now. */
	if (c.prog->preinit != NULL)
		c.prog->preinit(&c);
	if (c.prog->choose_user != NULL) {
		uid_t uid = user.uid;
		gid_t gid = user.gid;

		c.prog->choose_user(&c, &uid, &gid);
		if (uid == 0 || gid == 0) {
			log_error("service %s: refusing to run as uid %u gid "
			    "%u; running as %s instead", service,
			    (unsigned)uid, (unsigned)gid, user.name);
		} else if (uid != user.uid || gid != user.gid) {
			free(user.name);
			user.name = xasprintf("uid %u gid %u", (unsigned)uid,
			    (unsigned)gid);
			user.uid = uid;
			user.gid = gid;
		}
	}
	privs_drop(&user, chroot_dir);
	privs_user_deinit(&user);

	c.base = event_base_new();
	if (c.base == NULL)
		log_fatal("cannot create the event loop");
	c.nlisten = (size_t)nlisten;
	c.listen_evs = xcalloc(c.nlisten + 1, sizeof(*c.listen_evs));
	c.listen_fds = xcalloc(c.nlisten + 1, sizeof(*c.listen_fds));
	c.listen_addrs = xcalloc(c.nlisten + 1, sizeof(*c.listen_addrs));
	for (size_t i = 0; i < c.nlisten; i++) {
		int fd = CHILD_LISTEN_FD_START + (int)i;
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		char host[INET6_ADDRSTRLEN + 16] = "?";

		if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
			log_fatal("listener fd %d: %s", fd, strerror(errno));
		format_peer(&ss, host, sizeof(host));
		if (ss.ss_family == AF_UNIX) {
			const struct sockaddr_un *su = (const void *)&ss;
			size_t plen = sl > offsetof(struct sockaddr_un,
			    sun_path) ? sl - offsetof(struct sockaddr_un,
			    sun_path) : 0;

			c.listen_addrs[i] = xstrndup(su->sun_path,
			    strnlen(su->sun_path, plen));
		} else {
			c.listen_addrs[i] = xasprintf(ss.ss_family ==
			    AF_INET6 ? "[%s]:%u" : "%s:%u", host,
			    ss.ss_family == AF_INET6 ?
			    ntohs(((struct sockaddr_in6 *)&ss)->sin6_port) :
			    ntohs(((struct sockaddr_in *)&ss)->sin_port));
		}
		c.listen_fds[i] = fd;
		c.listen_evs[i] = event_new(c.base, fd, EV_READ | EV_PERSIST,
		    on_accept, &c);
		event_add(c.listen_evs[i], NULL);
	}
	c.sigterm_ev = evsignal_new(c.base, SIGTERM, on_sigterm, &c);
	event_add(c.sigterm_ev, NULL);
	c.ctl_ev = event_new(c.base, CHILD_CTL_FD, EV_READ | EV_PERSIST,
	    on_ctl, &c);
	event_add(c.ctl_ev, NULL);
	c.drain_timer = evtimer_new(c.base, on_drain_timeout, &c);

	if (c.prog->init != NULL)
		c.prog->init(&c);
	if (write(CHILD_CTL_FD, ready, sizeof(ready) - 1) < 0)
		log_fatal("cannot reach the master: %s", strerror(errno));
	event_base_dispatch(c.base);
	log_debug(1, "exiting");
	child_free(&c);
	return 0;
}
