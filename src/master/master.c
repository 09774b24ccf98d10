/* SPDX-License-Identifier: MIT */
/*
 * master - the Ostia master process; see master.h.
 *
 * Runs as root in production (binds privileged ports, creates
 * directories, starts children that drop to mail_owner), or as an
 * ordinary user in development and tests with the same code paths minus
 * the user switch.  One libevent loop handles signals, child exits,
 * restart timers and the status socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "buf.h"
#include "child.h"
#include "config.h"
#include "env_list.h"
#include "log.h"
#include "lookup_proto.h"
#include "lookup_tables.h"
#include "maildrop.h"
#include "master.h"
#include "master_listen.h"
#include "master_pid.h"
#include "showq_proto.h"
#include "master_programs.h"
#include "privs.h"
#include "queue_proto.h"
#include "strv.h"
#include "xalloc.h"
#include "tls_server.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

/* Longest request accepted on the status socket. */
#define MASTER_CTL_REQUEST_MAX_BYTES 128
/* cf_index of services the master runs by itself (not in master.cf). */
#define MSVC_INTERNAL ((size_t)-1)

struct master;

struct mproc {
	pid_t pid;		/* 0: slot empty */
	int ctl_fd;
	struct event *ctl_ev;
	struct timespec started;
	bool ready;
	struct msvc *svc;	/* NULL once draining (old configuration) */
	struct master *m;
};

struct msvc {
	char *name;
	char *type;
	char *command;
	size_t cf_index;
	struct listen_set ls;
	unsigned nprocs;
	struct mproc **procs;	/* nprocs slots */
	unsigned quick_deaths;	/* in a row */
	unsigned restarts;
	bool crash_loop;
	struct event *restart_timer;
	struct master *m;
};

struct master {
	const struct master_opts *opts;
	struct event_base *base;
	struct config *cf;
	struct msvc *svcs;
	size_t nsvcs;
	struct mproc **draining;	/* old children finishing up */
	size_t ndraining;
	struct privs_user user;
	int pid_fd;
	char *pid_path;
	char *ctl_path;
	struct evconnlistener *ctl;
	struct event *sig_hup, *sig_term, *sig_int, *sig_chld;
	struct event *stop_timer;
	bool stopping;
	unsigned generation;
	time_t started;
	int log_fd;		/* maillog_file, or -1 */
	bool log_syslog;	/* logging to syslog, children too */
	/* TLS session ticket key shared by all smtpd processes. */
	unsigned char tkey[TLS_TICKET_KEY_BYTES];
	struct event *tkey_timer;
};

static long
ms_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)((now.tv_sec - t->tv_sec) * 1000 +
	    (now.tv_nsec - t->tv_nsec) / 1000000);
}

/* ---------------------------------------------------------------- */
/* Logging set-up                                                   */

/*
 * setup_log - choose the destination from the configuration: the
 * maillog_file (opened here, as root, and handed to children as fd 2),
 * standard error in the foreground, syslog otherwise.
 */
static int
setup_log(struct master *m, const struct config_view *v, char **error_r)
{
	const char *file = config_str(v, P_maillog_file);
	const char *err = NULL;

	log_init(config_str(v, P_syslog_name), "master", LOG_STYLE_DAEMON);
	if (file[0] != '\0') {
		int fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
		    O_NOCTTY, 0640);

		if (fd < 0) {
			*error_r = xasprintf("maillog_file %s: cannot open: %s",
			    file, strerror(errno));
			return -1;
		}
		if (m->log_fd >= 0)
			close(m->log_fd);
		m->log_fd = fd;
		/* Children inherit fd 2. */
		if (dup2(fd, 2) < 0) {
			*error_r = xasprintf("dup2: %s", strerror(errno));
			return -1;
		}
		log_use_fd(2);
	} else if (m->opts->foreground) {
		log_use_fd(2);
	} else if (log_use_syslog(config_str(v, P_syslog_facility),
	    &err) < 0) {
		*error_r = xasprintf("syslog_facility: %s", err);
		return -1;
	} else {
		/* A daemon keeps no terminal: stray writes go nowhere. */
		int null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

		if (null_fd >= 0) {
			(void)dup2(null_fd, 2);
			close(null_fd);
		}
		m->log_syslog = true;
		log_set_verbose(m->opts->verbose);
		return 0;
	}
	m->log_syslog = false;
	log_set_verbose(m->opts->verbose);
	return 0;
}

/* ---------------------------------------------------------------- */
/* TLS session ticket keys                                          */

/*
 * send_tkey - hand the current ticket key to one child ("TKEY"
 * message, child.h).  The socket is a fresh socketpair with room for
 * far more than one message; a child that does not read it gets no key
 * and makes no tickets (full handshakes only).
 */
static void
send_tkey(struct master *m, struct mproc *p)
{
	unsigned char msg[CHILD_CTL_HDR_BYTES + TLS_TICKET_KEY_BYTES];

	memcpy(msg, "TKEY", 4);
	msg[4] = (unsigned char)(TLS_TICKET_KEY_BYTES >> 8);
	msg[5] = (unsigned char)(TLS_TICKET_KEY_BYTES & 0xff);
	memcpy(msg + CHILD_CTL_HDR_BYTES, m->tkey, TLS_TICKET_KEY_BYTES);
	if (write(p->ctl_fd, msg, sizeof(msg)) != (ssize_t)sizeof(msg))
		log_warning("child %ld: cannot send the TLS ticket key: %s",
		    (long)p->pid, strerror(errno));
	OPENSSL_cleanse(msg, sizeof(msg));
}

static void
new_tkey(struct master *m)
{
	if (RAND_bytes(m->tkey, sizeof(m->tkey)) != 1)
		log_fatal("cannot make a TLS session ticket key: the "
		    "random number generator failed");
}

/* on_tkey_timer - rotate: new key to every child; they keep the old
 * one for decryption for one more period. */
static void
on_tkey_timer(evutil_socket_t fd, short what, void *arg)
{
	struct master *m = arg;

	new_tkey(m);
	for (size_t i = 0; i < m->nsvcs; i++)
		for (unsigned k = 0; k < m->svcs[i].nprocs; k++)
			if (m->svcs[i].procs[k] != NULL)
				send_tkey(m, m->svcs[i].procs[k]);
	log_debug(1, "TLS session ticket key rotated");
}

static void
start_tkey(struct master *m, const struct config_view *v)
{
	long long period = config_time(v, P_smtpd_tls_session_cache_timeout);
	struct timeval tv;

	new_tkey(m);
	/* Rotate at least once a day, at most once a minute. */
	if (period <= 0 || period > 86400)
		period = 86400;
	if (period < 60)
		period = 60;
	tv.tv_sec = (time_t)period;
	tv.tv_usec = 0;
	m->tkey_timer = event_new(m->base, -1, EV_PERSIST, on_tkey_timer, m);
	event_add(m->tkey_timer, &tv);
}

/* ---------------------------------------------------------------- */
/* Children                                                         */

static void schedule_restart(struct msvc *s);
static void spawn_missing(struct msvc *s);

static void
on_child_ctl(evutil_socket_t fd, short what, void *arg)
{
	struct mproc *p = arg;
	char msg[64];
	ssize_t n = read(fd, msg, sizeof(msg));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* The child is gone or closed its end; SIGCHLD follows. */
		event_del(p->ctl_ev);
		return;
	}
	if (!p->ready && n == 6 && memcmp(msg, "ready\n", 6) == 0) {
		p->ready = true;
		log_debug(1, "service %s: child %ld is ready",
		    p->svc != NULL ? p->svc->name : "(old)", (long)p->pid);
		return;
	}
	/* IPC input is untrusted: anything else is a broken child. */
	log_error("child %ld sent an unexpected control message (%zd "
	    "bytes); stopping it", (long)p->pid, n);
	kill(p->pid, SIGKILL);
	event_del(p->ctl_ev);
}

static void
mproc_free(struct mproc **pp)
{
	struct mproc *p = *pp;

	if (p == NULL)
		return;
	if (p->ctl_ev != NULL)
		event_free(p->ctl_ev);
	if (p->ctl_fd >= 0)
		close(p->ctl_fd);
	free(p);
	*pp = NULL;
}

/*
 * child_env - the environment children get: only what they need, and
 * what import_environment names (Postfix's default: MAIL_CONFIG,
 * MAIL_DEBUG, TZ from ours, LANG=C).
 */
static char **
child_env(const struct master *m)
{
	/* Always: the sanitizers' settings, the crash test's switch, and
	 * (without TZ the C library checks /etc/localtime again for every
	 * log line's time stamp; with it set, once) a TZ. */
	static char *const keep[] = {
		UNCONST("ASAN_OPTIONS"), UNCONST("UBSAN_OPTIONS"),
		UNCONST("LSAN_OPTIONS"), UNCONST("OSTIA_TEST_CRASH"),
		UNCONST("TZ=:/etc/localtime"), NULL,
	};
	char **import = config_list(config_main(m->cf), P_import_environment);
	struct strv env;

	strv_init(&env);
	strv_add(&env, "PATH=/usr/sbin:/usr/bin:/sbin:/bin");
	env_list_add(&env, import);
	strv_free(&import);
	env_list_add(&env, keep);
	return strv_steal(&env);
}

/*
 * exec_child - in the forked process: descriptors as child.h says, then
 * re-execute ostia.  Never returns.
 */
static void
exec_child(struct master *m, struct msvc *s, int ctl_fd)
{
	char nl[16], vb[16];
	char *argv[14];
	char **envp = child_env(m);
	int null_fd, base = 64 + (int)s->ls.n;
	sigset_t all;
	int i = 0;

	/* Signals are blocked (see spawn_one): reset, then unblock. */
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	(void)prctl(PR_SET_PDEATHSIG, SIGTERM);

	/* Move everything high first so dup2 below cannot clobber. */
	if (dup2(ctl_fd, base) < 0)
		_exit(126);
	for (size_t k = 0; k < s->ls.n; k++)
		if (dup2(s->ls.items[k].fd, base + 1 + (int)k) < 0)
			_exit(126);
	null_fd = open("/dev/null", O_RDWR);
	if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(null_fd, 1) < 0)
		_exit(126);
	if (dup2(base, CHILD_CTL_FD) < 0)
		_exit(126);
	for (size_t k = 0; k < s->ls.n; k++)
		if (dup2(base + 1 + (int)k, CHILD_LISTEN_FD_START + (int)k) < 0)
			_exit(126);
	/* Nothing else crosses into the child. */
	(void)close_range((unsigned)(CHILD_LISTEN_FD_START + (int)s->ls.n),
	    ~0U, 0);

	snprintf(nl, sizeof(nl), "%zu", s->ls.n);
	snprintf(vb, sizeof(vb), "%d", m->opts->verbose);
	argv[i++] = UNCONST(m->opts->self_exe);
	argv[i++] = UNCONST("-c");
	argv[i++] = UNCONST(config_dir(m->cf));
	argv[i++] = UNCONST("child");
	argv[i++] = s->name;
	argv[i++] = s->type;
	argv[i++] = nl;
	argv[i++] = vb;
	argv[i++] = UNCONST(m->log_syslog ? "syslog" : "fd");
	argv[i] = NULL;
	execve(m->opts->self_exe, argv, envp);
	log_error("cannot execute %s for service %s: %s", m->opts->self_exe,
	    s->name, strerror(errno));
	_exit(127);
}

static int
spawn_one(struct msvc *s, unsigned slot)
{
	struct master *m = s->m;
	struct mproc *p;
	sigset_t all, old;
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		log_error("service %s: socketpair: %s", s->name,
		    strerror(errno));
		return -1;
	}
	/*
	 * Block signals across fork: a signal that arrives in the child
	 * before it has reset libevent's handlers would otherwise be
	 * forwarded to the master's signal pipe and lost for the child.
	 */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		exec_child(m, s, sv[1]);	/* unblocks after resetting */
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		log_error("service %s: fork: %s", s->name, strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	close(sv[1]);
	p = xcalloc(1, sizeof(*p));
	p->pid = pid;
	p->ctl_fd = sv[0];
	p->svc = s;
	p->m = m;
	clock_gettime(CLOCK_MONOTONIC, &p->started);
	evutil_make_socket_nonblocking(p->ctl_fd);
	p->ctl_ev = event_new(m->base, p->ctl_fd, EV_READ | EV_PERSIST,
	    on_child_ctl, p);
	event_add(p->ctl_ev, NULL);
	send_tkey(m, p);
	s->procs[slot] = p;
	log_debug(1, "service %s/%s: started child %ld (%s)", s->name,
	    s->type, (long)pid, s->command);
	return 0;
}

static void
spawn_missing(struct msvc *s)
{
	if (s->m->stopping)
		return;
	for (unsigned i = 0; i < s->nprocs; i++)
		if (s->procs[i] == NULL && spawn_one(s, i) < 0) {
			schedule_restart(s);
			return;
		}
}

static void
on_restart_timer(evutil_socket_t fd, short what, void *arg)
{
	spawn_missing(arg);
}

static void
schedule_restart(struct msvc *s)
{
	long ms = MASTER_BACKOFF_START_MS;
	long max_ms = (long)config_time(config_main(s->m->cf),
	    P_service_throttle_time) * 1000;
	struct timeval tv;

	for (unsigned i = 1; i < s->quick_deaths && ms < max_ms; i++)
		ms *= 2;
	if (ms > max_ms)
		ms = max_ms;
	if (s->quick_deaths == 0)
		ms = 0;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	if (!evtimer_pending(s->restart_timer, NULL))
		evtimer_add(s->restart_timer, &tv);
	if (ms >= 1000)
		log_info("service %s/%s: next start in %ld.%01ld s", s->name,
		    s->type, ms / 1000, (ms % 1000) / 100);
}

static void
describe_status(int status, char *out, size_t outsz)
{
	if (WIFEXITED(status))
		snprintf(out, outsz, "exited with status %d",
		    WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(out, outsz, "was killed by signal %d (%s)%s",
		    WTERMSIG(status), strsignal(WTERMSIG(status)),
		    WCOREDUMP(status) ? ", core dumped" : "");
	else
		snprintf(out, outsz, "ended with wait status 0x%x", status);
}

/* child_died - bookkeeping and restart policy for one reaped child. */
static void
child_died(struct master *m, pid_t pid, int status)
{
	char what[128];

	describe_status(status, what, sizeof(what));
	for (size_t d = 0; d < m->ndraining; d++) {
		struct mproc *p = m->draining[d];

		if (p->pid != pid)
			continue;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
			log_debug(1, "child %ld of the previous configuration "
			    "finished", (long)pid);
		else
			log_warning("child %ld of the previous configuration "
			    "%s", (long)pid, what);
		mproc_free(&m->draining[d]);
		m->draining[d] = m->draining[--m->ndraining];
		return;
	}
	for (size_t i = 0; i < m->nsvcs; i++) {
		struct msvc *s = &m->svcs[i];

		for (unsigned k = 0; k < s->nprocs; k++) {
			struct mproc *p = s->procs[k];
			long lived;

			if (p == NULL || p->pid != pid)
				continue;
			lived = ms_since(&p->started);
			mproc_free(&s->procs[k]);
			if (m->stopping)
				return;
			s->restarts++;
			if (lived >= MASTER_HEALTHY_SECONDS * 1000L) {
				s->quick_deaths = 1;
				s->crash_loop = false;
			} else {
				s->quick_deaths++;
			}
			log_warning("service %s/%s: child %ld (%s) %s after "
			    "%ld.%03ld s; restarting it", s->name, s->type,
			    (long)pid, s->command, what, lived / 1000,
			    lived % 1000);
			if (s->quick_deaths >= MASTER_CRASH_LOOP_COUNT &&
			    (!s->crash_loop || s->quick_deaths % 10 == 0)) {
				s->crash_loop = true;
				log_error("service %s/%s is in a crash loop: its "
				    "children died %u times in a row, each "
				    "within %d s of starting; Ostia keeps "
				    "retrying, waiting up to "
				    "service_throttle_time between tries; the "
				    "errors logged by %s/%s just before each "
				    "death tell why", s->name, s->type,
				    s->quick_deaths, MASTER_HEALTHY_SECONDS,
				    log_ident(), s->command);
			}
			schedule_restart(s);
			return;
		}
	}
	log_debug(1, "reaped unknown child %ld (%s)", (long)pid, what);
}

static size_t
live_children(struct master *m)
{
	size_t n = m->ndraining;

	for (size_t i = 0; i < m->nsvcs; i++)
		for (unsigned k = 0; k < m->svcs[i].nprocs; k++)
			if (m->svcs[i].procs[k] != NULL)
				n++;
	return n;
}

static void
on_sigchld(evutil_socket_t sig, short what, void *arg)
{
	struct master *m = arg;
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		child_died(m, pid, status);
	if (m->stopping && live_children(m) == 0)
		event_base_loopexit(m->base, NULL);
}

/* ---------------------------------------------------------------- */
/* Services                                                         */

static void
msvc_deinit(struct msvc *s, bool close_listeners)
{
	for (unsigned k = 0; k < s->nprocs; k++)
		mproc_free(&s->procs[k]);
	free(s->procs);
	if (s->restart_timer != NULL)
		event_free(s->restart_timer);
	if (close_listeners)
		listen_set_close(&s->ls);
	free(s->name);
	free(s->type);
	free(s->command);
}

/*
 * same_listen - true if old service o listens where new service ms in
 * view v wants to: same name and type in master.cf and the same
 * inet_interfaces and inet_protocols.
 */
static bool
same_listen(struct master *m, const struct msvc *o,
    const struct master_service *ms, const struct config_view *v)
{
	const struct config_view *ov;

	if (o->cf_index == MSVC_INTERNAL)
		return false;

	if (strcmp(o->name, ms->name) != 0 ||
	    strcmp(o->type, master_type_name(ms->type)) != 0 ||
	    o->ls.n == 0)
		return false;
	ov = config_service(m->cf, o->cf_index);
	return strcmp(config_str(ov, P_inet_interfaces),
	    config_str(v, P_inet_interfaces)) == 0 &&
	    strcmp(config_str(ov, P_inet_protocols),
	    config_str(v, P_inet_protocols)) == 0;
}

/*
 * build_internal - internal service name (one process, started by the
 * master, not in master.cf) listening on $queue_directory/sock_rel
 * (owner mail_owner, mode 0600); on reload it keeps the old socket.
 * Fills *s; *taken_r is the old service whose socket it took, or -1.
 */
static int
build_internal(struct master *m, struct config *cf, struct msvc *old,
    size_t nold, const char *name, const char *sock_rel, struct msvc *s,
    size_t *taken_r, char **error_r)
{
	char *path = xasprintf("%s/%s", config_str(config_main(cf),
	    P_queue_directory), sock_rel);
	size_t o;
	int r = 0;

	*taken_r = (size_t)-1;
	s->m = m;
	s->name = xstrdup(name);
	s->type = xstrdup(CHILD_INTERNAL_TYPE);
	s->command = xstrdup(name);
	s->cf_index = MSVC_INTERNAL;
	s->nprocs = 1;
	s->procs = xcalloc(1, sizeof(*s->procs));
	for (o = 0; o < nold; o++)
		if (old[o].cf_index == MSVC_INTERNAL && old[o].ls.n >= 1 &&
		    strcmp(old[o].ls.items[0].addr, path) == 0)
			break;
	if (o < nold) {
		s->ls = old[o].ls;
		*taken_r = o;
	} else {
		r = master_listen_unix(path, m->user.uid, m->user.gid, &s->ls,
		    error_r);
		/* The queue process also serves public/showq (mode 0666 in
		 * a directory only the helper's group can enter). */
		if (r == 0 && strcmp(name, "queue") == 0) {
			char *pub = xasprintf("%s/%s", config_str(
			    config_main(cf), P_queue_directory),
			    SHOWQ_SOCKET_PATH);

			r = master_listen_unix_add(pub, m->user.uid,
			    m->user.gid, 0666, &s->ls, error_r);
			free(pub);
			if (r < 0)
				listen_set_close(&s->ls);
		}
	}
	free(path);
	return r;
}

/*
 * build_agent_socket - the listening socket of delivery agent service ms
 * (type unix): $queue_directory/private/NAME, owner mail_owner, mode
 * 0600; on reload the old socket of the same service is kept, so the
 * queue manager never finds it missing.  *taken_r: the old service
 * whose socket it took, or -1.  0, or -1 with *error_r.
 */
static int
build_agent_socket(struct master *m, struct config *cf, struct msvc *old,
    size_t nold, const struct master_service *ms, struct msvc *s,
    size_t *taken_r, char **error_r)
{
	char *path;
	size_t o;
	int r = 0;

	*taken_r = (size_t)-1;
	/* master_cf_parse refused other names; the internal services'
	 * sockets are private/queue and private/lookup. */
	if (!master_service_name_is_safe(ms->name) ||
	    master_service_name_is_reserved(ms->name)) {
		*error_r = xasprintf("%s:%u: service %s/unix: this name "
		    "cannot be a socket under %s/private (reserved or not a "
		    "safe file name)", ms->file, ms->line, ms->name,
		    config_str(config_main(cf), P_queue_directory));
		return -1;
	}
	path = xasprintf("%s/private/%s", config_str(config_main(cf),
	    P_queue_directory), ms->name);
	for (o = 0; o < nold; o++)
		if (old[o].cf_index != MSVC_INTERNAL && old[o].ls.n == 1 &&
		    strcmp(old[o].type, "unix") == 0 &&
		    strcmp(old[o].ls.items[0].addr, path) == 0)
			break;
	if (o < nold) {
		s->ls = old[o].ls;
		*taken_r = o;
	} else {
		r = master_listen_unix(path, m->user.uid, m->user.gid, &s->ls,
		    error_r);
	}
	free(path);
	return r;
}

/*
 * build_services - one msvc per master.cf service that Ostia runs, with
 * listeners bound.  On reload (old given), a service that listens where
 * an old one did takes over its sockets, so no connection is refused
 * while the master reloads.  0, or -1 with *error_r; on failure old is
 * unchanged.
 */
static int
build_services(struct master *m, struct config *cf, struct msvc *old,
    size_t nold, struct msvc **svcs_r, size_t *n_r, char **error_r)
{
	const struct master_cf *mcf = config_master(cf);
	struct msvc *svcs = xcalloc(mcf->nservices + 3, sizeof(*svcs));
	size_t *taken = xcalloc(mcf->nservices + 3, sizeof(*taken));
	size_t n = 0;

	/*
	 * The internal processes first, one each: the queue process on
	 * private/queue, the lookup process on private/lookup.
	 */
	if (build_internal(m, cf, old, nold, "queue", QUEUE_SOCKET_PATH,
	    &svcs[n], &taken[n], error_r) < 0)
		goto fail_internal;
	n++;
	if (build_internal(m, cf, old, nold, "lookup", LOOKUP_SOCKET_PATH,
	    &svcs[n], &taken[n], error_r) < 0)
		goto fail_internal;
	n++;

	for (size_t i = 0; i < mcf->nservices; i++) {
		const struct master_service *ms = &mcf->services[i];
		const struct config_view *v = config_service(cf, i);
		struct msvc *s;
		size_t o;

		if (master_program_for(ms)->kind != PROGRAM_RUN)
			continue;
		s = &svcs[n];
		taken[n++] = (size_t)-1;
		s->m = m;
		s->name = xstrdup(ms->name);
		s->type = xstrdup(master_type_name(ms->type));
		s->command = xstrdup(ms->command);
		s->cf_index = i;
		s->nprocs = master_service_process_count(ms, v);
		s->procs = xcalloc(s->nprocs, sizeof(*s->procs));
		if (ms->type == MASTER_TYPE_UNIX) {
			/* A delivery agent, on private/NAME. */
			if (build_agent_socket(m, cf, old, nold, ms, s,
			    &taken[n - 1], error_r) < 0)
				goto fail;
			continue;
		}
		for (o = 0; o < nold; o++)
			if (same_listen(m, &old[o], ms, v))
				break;
		if (o < nold) {
			s->ls = old[o].ls;
			taken[n - 1] = o;
			continue;
		}
		if (master_listen_inet(ms, v, &s->ls, error_r) < 0)
			goto fail;
	}
	/* Sockets now owned by a new service leave the old one. */
	for (size_t i = 0; i < n; i++) {
		if (taken[i] != (size_t)-1) {
			old[taken[i]].ls.items = NULL;
			old[taken[i]].ls.n = 0;
		}
		svcs[i].restart_timer = evtimer_new(m->base, on_restart_timer,
		    &svcs[i]);
	}
	free(taken);
	*svcs_r = svcs;
	*n_r = n;
	return 0;
fail_internal:
	/* The one that failed is half built: its listeners are unset. */
	taken[n] = (size_t)-1;
	msvc_deinit(&svcs[n], false);
fail:
	for (size_t i = 0; i < n; i++)
		msvc_deinit(&svcs[i], taken[i] == (size_t)-1);
	free(taken);
	free(svcs);
	return -1;
}

/* ---------------------------------------------------------------- */
/* Configuration, directories                                       */

/*
 * load_config - read and check the configuration.  Diagnostics are left
 * in diags for the caller to log once the log destination is known.
 */
/* What the table check's process may report (texts of its errors). */
#define TABLES_CHECK_REPORT_MAX (256 * 1024)

/*
 * tables_check_apart - lookup_tables_check(cf) in a child process, so
 * that what opening the tables brings into a process (the SQL client
 * libraries, their connections, the parsers' memory) never stays in the
 * master, which runs as root for as long as the system does.  The child
 * is root too, as the lookup process is when it opens them (preinit).
 * Its errors come back through a pipe, one NUL-terminated text each,
 * and are added to diags.  -1 when a table failed or the check could
 * not run (then an error says why).
 */
static int
tables_check_apart(const struct config *cf, struct diag_list *diags)
{
	struct buf rep;
	size_t before = diags->errors;
	int p[2], status;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0) {
		diag_add(diags, DIAG_ERROR, NULL, 0, "cannot check the lookup "
		    "tables: pipe: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		diag_add(diags, DIAG_ERROR, NULL, 0, "cannot check the lookup "
		    "tables: fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		struct diag_list d;
		size_t sent = 0;
		int r;

		close(p[0]);
		diag_list_init(&d);
		r = lookup_tables_check(cf, &d);
		for (size_t i = 0; i < d.n; i++) {
			size_t len = strlen(d.items[i].text) + 1;

			if (sent + len > TABLES_CHECK_REPORT_MAX)
				break;
			for (size_t off = 0; off < len;) {
				ssize_t w = write(p[1], d.items[i].text + off,
				    len - off);

				if (w < 0 && errno == EINTR)
					continue;
				if (w <= 0)
					_exit(2);
				off += (size_t)w;
			}
			sent += len;
		}
		_exit(r < 0 ? 1 : 0);
	}
	close(p[1]);
	buf_init(&rep, TABLES_CHECK_REPORT_MAX);
	for (;;) {
		char chunk[4096];
		ssize_t n = read(p[0], chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (rep.len + (size_t)n <= TABLES_CHECK_REPORT_MAX)
			buf_append(&rep, chunk, (size_t)n);
	}
	close(p[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	for (size_t off = 0; off < rep.len;) {
		const char *t = rep.data + off;
		const char *end = memchr(t, '\0', rep.len - off);

		if (end == NULL)
			break;		/* cut short: the exit status tells */
		diag_add(diags, DIAG_ERROR, NULL, 0, "%s", t);
		off += (size_t)(end - t) + 1;
	}
	buf_deinit(&rep);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (diags->errors == before)
		diag_add(diags, DIAG_ERROR, NULL, 0, "the check of the lookup "
		    "tables failed (%s %d) without saying why",
		    WIFEXITED(status) ? "exit status" : "signal",
		    WIFEXITED(status) ? WEXITSTATUS(status) :
		    WIFSIGNALED(status) ? WTERMSIG(status) : -1);
	return -1;
}

static struct config *
load_config(const struct master_opts *o, struct diag_list *diags)
{
	struct config *cf;

	cf = config_load(o->config_dir, 0, diags);
	if (cf != NULL) {
		size_t before = diags->errors;

		master_programs_check(config_master(cf), cf, diags);
		if (diags->errors > before)
			config_free(&cf);
	}
	/* Every table the lookup process will serve must open. */
	if (cf != NULL && tables_check_apart(cf, diags) < 0)
		config_free(&cf);
	return cf;
}

static void
log_config_errors(const struct master_opts *o, const struct diag_list *diags,
    bool for_reload)
{
	log_error("%s: the configuration in %s has %zu error%s (see above)%s",
	    for_reload ? "reload refused" : "cannot start", o->config_dir,
	    diags->errors, diags->errors == 1 ? "" : "s", for_reload ?
	    "; still running with the previous configuration" : "");
}

static int
make_dirs(struct master *m, const struct config_view *v, char **error_r)
{
	/* The queue process's own: files being written, committed ones,
	 * deferred, held and unreadable ones, delivery status logs, files
	 * kept for reuse. */
	static const char *const queue_dirs[] = {
		QUEUE_TMP_DIR, QUEUE_INCOMING_DIR, QUEUE_DEFERRED_DIR,
		QUEUE_HOLD_DIR, QUEUE_CORRUPT_DIR, QUEUE_STATUS_DIR,
		QUEUE_SPARE_DIR,
	};
	const char *q = config_str(v, P_queue_directory);
	const char *d = config_str(v, P_data_directory);
	uid_t ou = m->user.uid;
	gid_t og = m->user.gid, dg = (gid_t)-1;
	bool root = geteuid() == 0;
	char *p;
	int r;

	if (q[0] != '/' || d[0] != '/') {
		*error_r = xasprintf("queue_directory (%s) and data_directory "
		    "(%s) must be absolute paths", q, d);
		return -1;
	}
	if (privs_ensure_dir(q, root ? 0 : (uid_t)-1, root ? 0 : (gid_t)-1,
	    0755, error_r) < 0)
		return -1;
	p = xasprintf("%s/pid", q);
	r = privs_ensure_dir(p, root ? 0 : (uid_t)-1, root ? 0 : (gid_t)-1,
	    0755, error_r);
	free(p);
	if (r < 0)
		return -1;
	p = xasprintf("%s/private", q);
	r = privs_ensure_dir(p, ou, og, 0700, error_r);
	free(p);
	if (r < 0)
		return -1;
	for (size_t i = 0; i < N_ELEMENTS(queue_dirs); i++) {
		p = xasprintf("%s/%s", q, queue_dirs[i]);
		r = privs_ensure_dir(p, ou, og, 0700, error_r);
		free(p);
		if (r < 0)
			return -1;
	}
	/* Local submissions (maildrop.h): the group may add files, not
	 * read or list them; the sticky bit keeps them apart. */
	if (root && privs_group_resolve(MAILDROP_GROUP, true, &dg,
	    error_r) < 0)
		return -1;
	p = xasprintf("%s/%s", q, MAILDROP_DIR);
	r = privs_ensure_dir(p, ou, dg, MAILDROP_DIR_MODE, error_r);
	free(p);
	if (r < 0)
		return -1;
	/* The public queue service (showq_proto.h): only that group (the
	 * helper) may enter. */
	p = xasprintf("%s/%s", q, SHOWQ_DIR);
	r = privs_ensure_dir(p, ou, root ? dg : og, SHOWQ_DIR_MODE, error_r);
	free(p);
	if (r < 0)
		return -1;
	return privs_ensure_dir(d, ou, og, 0700, error_r);
}

/* ---------------------------------------------------------------- */
/* Status socket                                                    */

char *
master_ctl_path(const char *queue_directory)
{
	return xasprintf("%s/pid/master.sock", queue_directory);
}

static void
status_text(struct master *m, struct buf *out)
{
	char started[64];
	struct tm tm;

	localtime_r(&m->started, &tm);
	strftime(started, sizeof(started), "%Y-%m-%d %H:%M:%S", &tm);
	(void)buf_appendf(out, "master pid=%ld started=\"%s\" config=%s "
	    "generation=%u version=%s\n", (long)getpid(), started,
	    config_dir(m->cf), m->generation, OSTIA_VERSION);
	for (size_t i = 0; i < m->nsvcs; i++) {
		struct msvc *s = &m->svcs[i];
		unsigned alive = 0, ready = 0;

		for (unsigned k = 0; k < s->nprocs; k++) {
			alive += s->procs[k] != NULL;
			ready += s->procs[k] != NULL && s->procs[k]->ready;
		}
		(void)buf_appendf(out, "service %s/%s command=%s state=%s "
		    "children=%u/%u ready=%u restarts=%u listen=", s->name,
		    s->type, s->command, s->crash_loop ? "crash-loop" :
		    alive == s->nprocs ? "running" : "restarting", alive,
		    s->nprocs, ready, s->restarts);
		for (size_t k = 0; k < s->ls.n; k++)
			(void)buf_appendf(out, "%s%s", k ? "," : "",
			    s->ls.items[k].addr);
		(void)buf_append_str(out, " pids=");
		for (unsigned k = 0, first = 1; k < s->nprocs; k++)
			if (s->procs[k] != NULL) {
				(void)buf_appendf(out, "%s%ld", first ? "" :
				    ",", (long)s->procs[k]->pid);
				first = 0;
			}
		(void)buf_append_c(out, '\n');
	}
	if (m->ndraining > 0)
		(void)buf_appendf(out, "draining %zu child%s of the previous "
		    "configuration\n", m->ndraining,
		    m->ndraining == 1 ? "" : "ren");
	(void)buf_append_str(out, "end\n");
}

static void
ctl_read(struct bufferevent *bev, void *arg)
{
	struct master *m = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len = 0;
	char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF);
	struct buf out;

	if (line == NULL) {
		if (evbuffer_get_length(in) > MASTER_CTL_REQUEST_MAX_BYTES)
			bufferevent_free(bev);
		return;
	}
	buf_init(&out, 1024 * 1024);
	if (strcmp(line, "status") == 0)
		status_text(m, &out);
	else
		(void)buf_append_str(&out, "error unknown request\nend\n");
	free(line);
	bufferevent_write(bev, out.data, out.len);
	buf_deinit(&out);
	bufferevent_disable(bev, EV_READ);
}

static void
ctl_write_done(struct bufferevent *bev, void *arg)
{
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0 &&
	    !(bufferevent_get_enabled(bev) & EV_READ))
		bufferevent_free(bev);
}

static void
ctl_event(struct bufferevent *bev, short what, void *arg)
{
	bufferevent_free(bev);
}

static void
ctl_accept(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct master *m = arg;
	struct bufferevent *bev;
	struct timeval tv = { 5, 0 };
	struct ucred cred;
	socklen_t cl = sizeof(cred);

	/* Only root and the master's own user may ask. */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 ||
	    (cred.uid != 0 && cred.uid != geteuid())) {
		close(fd);
		return;
	}
	bev = bufferevent_socket_new(m->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		close(fd);
		return;
	}
	bufferevent_setcb(bev, ctl_read, ctl_write_done, ctl_event, m);
	bufferevent_set_timeouts(bev, &tv, &tv);
	bufferevent_setwatermark(bev, EV_READ, 0,
	    MASTER_CTL_REQUEST_MAX_BYTES + 1);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void
open_ctl(struct master *m, const struct config_view *v)
{
	struct sockaddr_un sun;
	mode_t old;

	m->ctl_path = master_ctl_path(config_str(v, P_queue_directory));
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(m->ctl_path) >= sizeof(sun.sun_path)) {
		log_warning("status socket path %s is too long for a Unix "
		    "socket; `ostia status` will show the pid only",
		    m->ctl_path);
		return;
	}
	memcpy(sun.sun_path, m->ctl_path, strlen(m->ctl_path) + 1);
	(void)unlink(m->ctl_path);
	old = umask(0077);
	m->ctl = evconnlistener_new_bind(m->base, ctl_accept, m,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 16,
	    (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (m->ctl == NULL)
		log_warning("cannot open status socket %s: %s; `ostia status` "
		    "will show the pid only", m->ctl_path, strerror(errno));
}

/* ---------------------------------------------------------------- */
/* Reload and stop                                                  */

static void
drain_service_children(struct master *m, struct msvc *s)
{
	for (unsigned k = 0; k < s->nprocs; k++) {
		struct mproc *p = s->procs[k];

		if (p == NULL)
			continue;
		s->procs[k] = NULL;
		p->svc = NULL;
		kill(p->pid, SIGTERM);
		m->draining = xreallocarray(m->draining, m->ndraining + 1,
		    sizeof(*m->draining));
		m->draining[m->ndraining++] = p;
	}
}

static void
reload(struct master *m)
{
	struct config *cf;
	struct diag_list diags;
	struct msvc *svcs = NULL;
	size_t n = 0;
	char *err = NULL;

	log_info("reload requested: reading %s", m->opts->config_dir);
	diag_list_init(&diags);
	cf = load_config(m->opts, &diags);
	diag_list_log(&diags);
	if (cf == NULL)
		log_config_errors(m->opts, &diags, true);
	diag_list_deinit(&diags);
	if (cf == NULL)
		return;
	if (build_services(m, cf, m->svcs, m->nsvcs, &svcs, &n, &err) < 0) {
		log_error("reload refused: %s; still running with the "
		    "previous configuration", err);
		free(err);
		config_free(&cf);
		return;
	}
	/* Old children finish their connections; new ones start now. */
	for (size_t i = 0; i < m->nsvcs; i++) {
		drain_service_children(m, &m->svcs[i]);
		msvc_deinit(&m->svcs[i], true);
	}
	free(m->svcs);
	m->svcs = svcs;
	m->nsvcs = n;
	config_free(&m->cf);
	m->cf = cf;
	m->generation++;
	{
		char *lerr = NULL;

		if (setup_log(m, config_main(cf), &lerr) < 0) {
			log_error("reload: %s; logging stays where it was",
			    lerr);
			free(lerr);
		}
	}
	for (size_t i = 0; i < m->nsvcs; i++)
		spawn_missing(&m->svcs[i]);
	log_info("reload done: configuration generation %u, %zu service%s",
	    m->generation, m->nsvcs, m->nsvcs == 1 ? "" : "s");
}

static void
on_stop_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct master *m = arg;

	log_warning("children still running %d s after the stop request; "
	    "killing them", MASTER_STOP_GRACE_SECONDS);
	for (size_t d = 0; d < m->ndraining; d++)
		kill(m->draining[d]->pid, SIGKILL);
	for (size_t i = 0; i < m->nsvcs; i++)
		for (unsigned k = 0; k < m->svcs[i].nprocs; k++)
			if (m->svcs[i].procs[k] != NULL)
				kill(m->svcs[i].procs[k]->pid, SIGKILL);
}

static void
begin_stop(struct master *m, int sig)
{
	struct timeval tv = { MASTER_STOP_GRACE_SECONDS, 0 };

	if (m->stopping)
		return;
	m->stopping = true;
	log_info("stopping on signal %d (%s): asking %zu children to finish",
	    sig, strsignal(sig), live_children(m));
	for (size_t i = 0; i < m->nsvcs; i++) {
		evtimer_del(m->svcs[i].restart_timer);
		for (unsigned k = 0; k < m->svcs[i].nprocs; k++)
			if (m->svcs[i].procs[k] != NULL)
				kill(m->svcs[i].procs[k]->pid, SIGTERM);
		/* Stop taking connections now: nobody will accept them. */
		listen_set_close(&m->svcs[i].ls);
	}
	for (size_t d = 0; d < m->ndraining; d++)
		kill(m->draining[d]->pid, SIGTERM);
	if (m->ctl != NULL) {
		evconnlistener_free(m->ctl);
		m->ctl = NULL;
		(void)unlink(m->ctl_path);
	}
	m->stop_timer = evtimer_new(m->base, on_stop_timeout, m);
	evtimer_add(m->stop_timer, &tv);
	if (live_children(m) == 0)
		event_base_loopexit(m->base, NULL);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct master *m = arg;

	if (sig == SIGHUP) {
		if (!m->stopping)
			reload(m);
	} else {
		begin_stop(m, (int)sig);
	}
}

/* ---------------------------------------------------------------- */

static void
tell_ready(const struct master_opts *o, const char *msg)
{
	if (o->ready_fd >= 0) {
		ssize_t r = write(o->ready_fd, msg, strlen(msg));

		(void)r;
		close(o->ready_fd);
	}
}

static void
master_cleanup(struct master *m)
{
	for (size_t i = 0; i < m->nsvcs; i++)
		msvc_deinit(&m->svcs[i], true);
	free(m->svcs);
	for (size_t d = 0; d < m->ndraining; d++)
		mproc_free(&m->draining[d]);
	free(m->draining);
	if (m->ctl != NULL) {
		evconnlistener_free(m->ctl);
		(void)unlink(m->ctl_path);
	}
	if (m->stop_timer != NULL)
		event_free(m->stop_timer);
	if (m->sig_hup != NULL)
		event_free(m->sig_hup);
	if (m->sig_term != NULL)
		event_free(m->sig_term);
	if (m->sig_int != NULL)
		event_free(m->sig_int);
	if (m->sig_chld != NULL)
		event_free(m->sig_chld);
	if (m->base != NULL)
		event_base_free(m->base);
	if (m->pid_fd >= 0) {
		/* Truncate rather than unlink: the lock file stays safe. */
		if (ftruncate(m->pid_fd, 0) < 0)
			log_debug(1, "truncate pid file: %s", strerror(errno));
		close(m->pid_fd);
	}
	privs_user_deinit(&m->user);
	config_free(&m->cf);
	if (m->tkey_timer != NULL)
		event_free(m->tkey_timer);
	OPENSSL_cleanse(m->tkey, sizeof(m->tkey));
	free(m->pid_path);
	free(m->ctl_path);
	if (m->log_fd >= 0)
		close(m->log_fd);
}

int
master_main(const struct master_opts *opts)
{
	struct master m;
	struct diag_list diags;
	const struct config_view *v;
	char *err = NULL;
	int ret = 1;

	memset(&m, 0, sizeof(m));
	m.opts = opts;
	m.pid_fd = -1;
	m.log_fd = -1;
	m.started = time(NULL);
	signal(SIGPIPE, SIG_IGN);
	log_init("ostia", "master", LOG_STYLE_DAEMON);

	diag_list_init(&diags);
	m.cf = load_config(opts, &diags);
	if (m.cf == NULL) {
		diag_list_log(&diags);
		log_config_errors(opts, &diags, false);
		diag_list_deinit(&diags);
		tell_ready(opts, "the configuration has errors (see above or "
		    "the log)\n");
		goto out;
	}
	v = config_main(m.cf);
	if (setup_log(&m, v, &err) < 0) {
		diag_list_log(&diags);
		diag_list_deinit(&diags);
		log_error("cannot start: %s", err);
		tell_ready(opts, err);
		goto out;
	}
	/* Warnings go where the rest of the log goes. */
	diag_list_log(&diags);
	diag_list_deinit(&diags);
	if (privs_user_resolve(config_str(v, P_mail_owner), true, &m.user,
	    &err) < 0 || make_dirs(&m, v, &err) < 0) {
		log_error("cannot start: %s", err);
		tell_ready(opts, err);
		goto out;
	}
	m.pid_path = master_pid_path(config_str(v, P_queue_directory));
	m.pid_fd = master_pid_lock(m.pid_path, &err);
	if (m.pid_fd < 0) {
		log_error("cannot start: %s", err);
		tell_ready(opts, err);
		goto out;
	}
	m.base = event_base_new();
	if (m.base == NULL) {
		log_error("cannot start: cannot create the event loop");
		tell_ready(opts, "cannot create the event loop\n");
		goto out;
	}
	if (build_services(&m, m.cf, NULL, 0, &m.svcs, &m.nsvcs, &err) < 0) {
		log_error("cannot start: %s", err);
		tell_ready(opts, err);
		goto out;
	}
	open_ctl(&m, v);
	start_tkey(&m, v);
	m.sig_hup = evsignal_new(m.base, SIGHUP, on_signal, &m);
	m.sig_term = evsignal_new(m.base, SIGTERM, on_signal, &m);
	m.sig_int = evsignal_new(m.base, SIGINT, on_signal, &m);
	m.sig_chld = evsignal_new(m.base, SIGCHLD, on_sigchld, &m);
	event_add(m.sig_hup, NULL);
	event_add(m.sig_term, NULL);
	event_add(m.sig_int, NULL);
	event_add(m.sig_chld, NULL);

	for (size_t i = 0; i < m.nsvcs; i++)
		spawn_missing(&m.svcs[i]);
	log_info("daemon started -- version %s, configuration %s, %zu "
	    "service%s", OSTIA_VERSION, opts->config_dir, m.nsvcs,
	    m.nsvcs == 1 ? "" : "s");
	for (size_t i = 0; i < m.nsvcs; i++)
		for (size_t k = 0; k < m.svcs[i].ls.n; k++)
			log_info("service %s/%s (%s): listening on %s",
			    m.svcs[i].name, m.svcs[i].type,
			    m.svcs[i].command, m.svcs[i].ls.items[k].addr);
	tell_ready(opts, "ok\n");

	event_base_dispatch(m.base);
	/* Reap what is left. */
	{
		int status;
		pid_t pid;

		while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
			child_died(&m, pid, status);
	}
	log_info("stopped");
	ret = 0;
out:
	free(err);
	master_cleanup(&m);
	return ret;
}
