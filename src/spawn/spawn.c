/* SPDX-License-Identifier: MIT */
/*
 * spawn - a command per connection (spawn.h).
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "compat.h"
#include "config.h"
#include "log.h"
#include "master_cf.h"
#include "proc_reset.h"
#include "spawn.h"
#include "spawn_args.h"
#include "strv.h"
#include "xalloc.h"

struct running {
	pid_t pid;
	struct event *timer;
	bool killed;		/* by the time limit */
	struct running *next;
};

static struct {
	struct child *c;
	const char *name;	/* the service */
	char *refusal;		/* why nothing is run, or NULL */
	struct spawn_args args;
	char **envp;
	unsigned limit;		/* commands at once */
	unsigned time_limit;	/* seconds */
	struct running *run;
	unsigned nrun;
	struct event *sigchld;
} sp;

/* make_env - PATH, and TZ and LANG as the master had them (Postfix's
 * default export_environment, less MAIL_CONFIG). */
static void
make_env(void)
{
	static const char *const names[] = { "TZ", "LANG" };
	struct strv env;

	strv_init(&env);
	strv_add(&env, "PATH=/usr/bin:/bin");
	for (size_t i = 0; i < N_ELEMENTS(names); i++) {
		const char *val = getenv(names[i]);

		if (val != NULL)
			strv_add_take(&env, xasprintf("%s=%s", names[i], val));
	}
	sp.envp = strv_steal(&env);
}

static void
spawn_choose_user(struct child *c, uid_t *uid_r, gid_t *gid_r)
{
	const struct master_service *ms = child_service(c);
	const struct config_view *v = child_view(c);
	struct passwd *pw;
	gid_t gid;

	sp.c = c;
	sp.name = ms->name;
	if (ms->maxproc > 0)
		sp.limit = (unsigned)ms->maxproc;
	else
		sp.limit = (unsigned)config_int(v, P_default_process_limit);
	{
		long long t = config_suffix_time(v, sp.name, "_time_limit",
		    config_time(v, P_command_time_limit));

		sp.time_limit = t > 0 && t < 100000000 ? (unsigned)t : 1000;
	}
	make_env();
	if (spawn_args_parse(sp.name, ms->args, &sp.args, &sp.refusal) < 0)
		return;
	errno = 0;
	pw = getpwnam(sp.args.user);
	if (pw == NULL) {
		sp.refusal = xasprintf("spawn service %s: user=%s: %s",
		    sp.name, sp.args.user, errno != 0 && errno != ENOENT &&
		    errno != ESRCH ? strerror(errno) : "no such user");
		return;
	}
	if (pw->pw_uid == 0) {
		sp.refusal = xasprintf("spawn service %s: user=%s is root (uid "
		    "0); commands never run as root: name an unprivileged "
		    "user", sp.name, sp.args.user);
		return;
	}
	gid = pw->pw_gid;
	if (sp.args.group != NULL) {
		struct group *gr = getgrnam(sp.args.group);

		if (gr == NULL) {
			sp.refusal = xasprintf("spawn service %s: user=%s:%s: "
			    "no such group", sp.name, sp.args.user,
			    sp.args.group);
			return;
		}
		gid = gr->gr_gid;
	}
	if (gid == 0) {
		sp.refusal = xasprintf("spawn service %s: user=%s would run "
		    "its command with gid 0 (the root group): name another "
		    "group (user=NAME:GROUP)", sp.name, sp.args.user);
		return;
	}
	*uid_r = pw->pw_uid;
	*gid_r = gid;
}

static struct running **
find_run(pid_t pid)
{
	struct running **pp = &sp.run;

	while (*pp != NULL && (*pp)->pid != pid)
		pp = &(*pp)->next;
	return pp;
}

static void
on_time_limit(evutil_socket_t fd, short what, void *arg)
{
	struct running *r = arg;

	(void)fd;
	(void)what;
	log_warning("spawn service %s: command %s (pid %ld) still runs "
	    "after %u s (%s_time_limit or command_time_limit); killed",
	    sp.name, sp.args.argv[0], (long)r->pid, sp.time_limit, sp.name);
	r->killed = true;
	(void)kill(-r->pid, SIGKILL);
	(void)kill(r->pid, SIGKILL);
}

static void
on_sigchld(evutil_socket_t fd, short what, void *arg)
{
	pid_t pid;
	int st;

	(void)fd;
	(void)what;
	(void)arg;
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		struct running **pp = find_run(pid), *r = *pp;

		if (r == NULL)
			continue;
		*pp = r->next;
		if (WIFEXITED(st) && WEXITSTATUS(st) != 0)
			log_warning("spawn service %s: command %s (pid %ld) "
			    "exited with status %d", sp.name, sp.args.argv[0],
			    (long)pid, WEXITSTATUS(st));
		else if (WIFSIGNALED(st) && !r->killed)
			log_warning("spawn service %s: command %s (pid %ld) "
			    "was killed by signal %d (%s)", sp.name,
			    sp.args.argv[0], (long)pid, WTERMSIG(st),
			    strsignal(WTERMSIG(st)));
		event_free(r->timer);
		free(r);
		sp.nrun--;
		if (sp.nrun < sp.limit)
			child_accept_pause(sp.c, false);
		child_connection_done(sp.c);
	}
}

/* exec_command - in the forked process: fd becomes 0, 1 and 2. */
static void
exec_command(int fd)
{
	(void)setsid();
	proc_reset_signals();
	if (dup2(fd, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
		_exit(71);
	if (fd > 2)
		(void)close(fd);
	(void)close_range(3, ~0U, 0);
	if (chdir("/") < 0)
		_exit(71);
	execve(sp.args.argv[0], sp.args.argv, sp.envp);
	_exit(errno == ENOENT ? 127 : 126);
}

static void
spawn_accept(struct child *c, int fd, const char *client_addr,
    unsigned client_port, const char *listen_addr)
{
	struct running *r;
	struct timeval tv = { sp.time_limit, 0 };
	pid_t pid;

	(void)client_port;
	(void)listen_addr;
	if (sp.refusal != NULL || child_draining(c)) {
		if (sp.refusal != NULL)
			log_warning("%s; connection from %s closed", sp.refusal,
			    client_addr);
		(void)close(fd);
		child_connection_done(c);
		return;
	}
	pid = fork();
	if (pid < 0) {
		log_error("spawn service %s: cannot fork for %s: %s", sp.name,
		    sp.args.argv[0], strerror(errno));
		(void)close(fd);
		child_connection_done(c);
		return;
	}
	if (pid == 0)
		exec_command(fd);
	(void)close(fd);
	r = xcalloc(1, sizeof(*r));
	r->pid = pid;
	r->timer = evtimer_new(child_event_base(c), on_time_limit, r);
	if (r->timer == NULL)
		log_fatal("cannot create a spawn timer");
	evtimer_add(r->timer, &tv);
	r->next = sp.run;
	sp.run = r;
	sp.nrun++;
	log_debug(1, "spawn service %s: %s (pid %ld) for %s", sp.name,
	    sp.args.argv[0], (long)pid, client_addr);
	if (sp.nrun >= sp.limit)
		child_accept_pause(c, true);
}

static void
spawn_init(struct child *c)
{
	sp.sigchld = evsignal_new(child_event_base(c), SIGCHLD, on_sigchld,
	    NULL);
	if (sp.sigchld == NULL || event_add(sp.sigchld, NULL) < 0)
		log_fatal("cannot watch SIGCHLD");
	if (sp.refusal != NULL)
		log_error("%s; connections to it are closed", sp.refusal);
}

static size_t
spawn_active(struct child *c)
{
	(void)c;
	return sp.nrun;
}

const struct child_program spawn_program = {
	.name = "spawn",
	.choose_user = spawn_choose_user,
	.init = spawn_init,
	.accept_fn = spawn_accept,
	.active = spawn_active,
};
