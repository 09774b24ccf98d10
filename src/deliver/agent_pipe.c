/* SPDX-License-Identifier: MIT */
/*
 * agent_pipe - the pipe delivery agent (Postfix pipe(8)): hands the
 * message to a command named in master.cf.
 *
 *   dovecot unix - n n - - pipe
 *     flags=DRhu user=vmail:vmail argv=/usr/libexec/dovecot/deliver
 *     -f ${sender} -d ${user}@${domain}
 *
 * setup() (as root, before the privilege drop) parses the arguments
 * (pipe_argv.h) and looks up user= (and :group); the process then
 * becomes that user: never root, never gid 0.  A bad argument or user
 * makes the framework defer every recipient with the reason (logged once
 * at start).
 *
 * deliver(): a command whose arguments use a per-recipient macro
 * (${recipient}, ${user}, ...), or flags D or O, runs once per recipient
 * (the queue manager sends <service>_destination_recipient_limit
 * recipients per request); otherwise once for all of them, and its exit
 * status is the result of each.  The command is run with execve (never
 * a shell) by pipe_run.c with a small environment, the message on its
 * standard input, at most command_time_limit seconds, and its exit status
 * mapped through sysexits.h; what it printed goes into the result text.
 */
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "compat.h"
#include "env_list.h"
#include "log.h"
#include "pipe_argv.h"
#include "pipe_run.h"
#include "strv.h"
#include "xalloc.h"

/* command_time_limit when the agent has no configuration (tests). */
#define PIPE_DEFAULT_TIME_LIMIT 1000

struct pipe_state {
	struct pipe_args pa;
	char *account;		/* user= */
	char *home;		/* its home directory */
	unsigned timeout;	/* command_time_limit, seconds */
	char *delimiters;	/* recipient_delimiter */
	bool allow_min_user;	/* addresses may begin with '-' */
	char **export_env;	/* export_environment */
};

static void
pipe_state_free(struct pipe_state *ps)
{
	if (ps == NULL)
		return;
	pipe_args_deinit(&ps->pa);
	free(ps->account);
	free(ps->home);
	free(ps->delimiters);
	strv_free(&ps->export_env);
	free(ps);
}

static int
pipe_setup(struct agent_ctx *a, uid_t *uid_r, gid_t *gid_r, char **error_r)
{
	const char *name = a->service != NULL ? a->service->name : "pipe";
	struct pipe_state *ps;
	struct passwd *pw;
	char *err = NULL;
	gid_t gid;

	pipe_state_free(a->priv);
	a->priv = NULL;
	if (a->service == NULL) {
		*error_r = xstrdup("the pipe agent runs only as a master.cf "
		    "service");
		return -1;
	}
	ps = xcalloc(1, sizeof(*ps));
	if (pipe_args_parse(a->service->args, &ps->pa, &err) < 0) {
		*error_r = xasprintf("pipe service %s in master.cf: %s", name,
		    err);
		free(err);
		pipe_state_free(ps);
		return -1;
	}
	errno = 0;
	pw = getpwnam(ps->pa.user);
	if (pw == NULL) {
		*error_r = errno != 0 && errno != ENOENT && errno != ESRCH ?
		    xasprintf("pipe service %s: cannot look up user=%s: %s",
		    name, ps->pa.user, strerror(errno)) :
		    xasprintf("pipe service %s: user=%s: no such user", name,
		    ps->pa.user);
		pipe_state_free(ps);
		return -1;
	}
	if (pw->pw_uid == 0) {
		*error_r = xasprintf("pipe service %s: user=%s is root (uid "
		    "0); commands never run as root: name an unprivileged "
		    "user", name, ps->pa.user);
		pipe_state_free(ps);
		return -1;
	}
	gid = pw->pw_gid;
	ps->account = xstrdup(pw->pw_name);
	ps->home = xstrdup(pw->pw_dir != NULL && pw->pw_dir[0] == '/' ?
	    pw->pw_dir : "/");
	if (ps->pa.group != NULL) {
		struct group *gr;

		errno = 0;
		gr = getgrnam(ps->pa.group);
		if (gr == NULL) {
			*error_r = xasprintf("pipe service %s: user=%s:%s: no "
			    "such group", name, ps->pa.user, ps->pa.group);
			pipe_state_free(ps);
			return -1;
		}
		gid = gr->gr_gid;
	}
	if (gid == 0) {
		*error_r = xasprintf("pipe service %s: user=%s would run "
		    "commands with gid 0 (the root group): name another "
		    "group (user=NAME:GROUP)", name, ps->pa.user);
		pipe_state_free(ps);
		return -1;
	}
	if (geteuid() == 0 && pw->pw_uid == *uid_r)
		log_warning("pipe service %s: user=%s is the mail system "
		    "owner (mail_owner): its commands can read and change "
		    "the queue; Postfix refuses this, name a user of its "
		    "own", name, ps->pa.user);
	ps->timeout = PIPE_DEFAULT_TIME_LIMIT;
	if (a->view != NULL)
		ps->allow_min_user = config_bool(a->view, P_allow_min_user);
	if (a->view != NULL) {
		/* NAME_time_limit (Postfix's transport time limit), else
		 * command_time_limit. */
		long long t = config_suffix_time(a->view, name, "_time_limit",
		    config_time(a->view, P_command_time_limit));

		ps->timeout = t > 0 && t < (long long)UINT32_MAX ?
		    (unsigned)t : PIPE_DEFAULT_TIME_LIMIT;
		ps->export_env = config_list(a->view, P_export_environment);
		ps->delimiters = xstrdup(config_str(a->view,
		    P_recipient_delimiter));
	} else
		ps->delimiters = xstrdup("");
	*uid_r = pw->pw_uid;
	*gid_r = gid;
	a->priv = ps;
	return 0;
}

static void
env_add(struct strv *env, const char *name, const char *value)
{
	strv_add_take(env, xasprintf("%s=%s", name, value));
}

static void
env_add_set(struct strv *env, const char *name, const char *value)
{
	if (value != NULL && value[0] != '\0')
		env_add(env, name, value);
}

/*
 * make_env - the command's environment: HOME and LOGNAME (the user=
 * account), SENDER, the client's details when known, and for a process
 * serving one recipient RECIPIENT, ORIGINAL_RECIPIENT, USER (the
 * recipient's user part, as local(8) sets it; else the account),
 * EXTENSION, DOMAIN, LOCAL (the whole localpart); then the variables
 * export_environment names, then PATH=/usr/bin:/bin unless they hold
 * one.
 */
static char **
make_env(const struct pipe_state *ps, const struct deliver_req *req,
    const struct deliver_rcpt *rcpt)
{
	static char *const path[] = { UNCONST("PATH=/usr/bin:/bin"), NULL };
	struct strv env;

	strv_init(&env);
	env_add(&env, "HOME", ps->home);
	env_add(&env, "LOGNAME", ps->account);
	env_add(&env, "SENDER", req->sender);
	env_add_set(&env, "QUEUE_ID", req->queue_id);
	env_add_set(&env, "CLIENT_ADDRESS", req->client_addr);
	env_add_set(&env, "CLIENT_HOSTNAME", req->client_name);
	env_add_set(&env, "CLIENT_HELO", req->helo);
	env_add_set(&env, "CLIENT_PROTOCOL", req->protocol);
	env_add_set(&env, "SASL_USERNAME", req->sasl_user);
	if (rcpt != NULL) {
		char *user, *ext, *mbox, *dom;

		pipe_address_parts(rcpt->address, ps->delimiters, &user,
		    &ext, &mbox, &dom);
		env_add(&env, "RECIPIENT", rcpt->address);
		env_add(&env, "ORIGINAL_RECIPIENT", rcpt->orig_rcpt != NULL &&
		    rcpt->orig_rcpt[0] != '\0' ? rcpt->orig_rcpt :
		    rcpt->address);
		env_add(&env, "USER", user);
		env_add(&env, "EXTENSION", ext);
		env_add(&env, "DOMAIN", dom);
		env_add(&env, "LOCAL", mbox);
		free(user);
		free(ext);
		free(mbox);
		free(dom);
	} else
		env_add(&env, "USER", ps->account);
	/* Then what export_environment names (TZ, LANG: LANG=C from the
	 * master's import_environment by default), then PATH unless it
	 * named one. */
	env_list_add(&env, ps->export_env);
	env_list_add(&env, path);
	return strv_steal(&env);
}

/*
 * run_one - run the command for rcpt (NULL: for every recipient of req)
 * and set the result of recipient i (SIZE_MAX: of all).
 */
static void
run_one(struct agent_ctx *a, const struct pipe_state *ps,
    const struct deliver_req *req, const struct deliver_msg *msg,
    const struct deliver_rcpt *rcpt, size_t i, struct agent_results *res)
{
	struct pipe_macros m;
	struct pipe_outcome *o;
	struct pipe_feed feed;
	struct pipe_cmd cmd;
	enum deliver_status st;
	const char *dsn;
	char **argv, **envp, *prefix, *text, *remote, *err = NULL;

	memset(&m, 0, sizeof(m));
	m.sender = req->sender;
	m.recipient = rcpt != NULL ? rcpt->address : NULL;
	m.original_recipient = rcpt != NULL ? (rcpt->orig_rcpt != NULL &&
	    rcpt->orig_rcpt[0] != '\0' ? rcpt->orig_rcpt : rcpt->address) :
	    NULL;
	m.nexthop = req->nexthop;
	m.queue_id = req->queue_id;
	m.client_address = req->client_addr;
	m.client_hostname = req->client_name;
	m.client_helo = req->helo;
	m.client_protocol = req->protocol;
	m.sasl_username = req->sasl_user;
	m.delimiters = ps->delimiters;
	m.size = msg->len;
	/*
	 * allow_min_user = no: an address that begins with '-' would look
	 * like an option to the command (-d, -f, -o...) however argv is
	 * written.  Refused for good, as Postfix's resolver does.
	 */
	if (!ps->allow_min_user && (req->sender[0] == '-' ||
	    (m.recipient != NULL && m.recipient[0] == '-') ||
	    (m.original_recipient != NULL && m.original_recipient[0] == '-'))) {
		bool bad_sender = req->sender[0] == '-';

		if (rcpt != NULL)
			agent_set_result(res, i, DELIVER_BOUNCE,
			    bad_sender ? "5.1.7" : "5.1.3", NULL,
			    "bad address syntax: the %s begins with '-' "
			    "(allow_min_user = no); not handed to pipe "
			    "service %s", bad_sender ? "sender" : "recipient",
			    req->transport);
		else
			agent_set_all(res, DELIVER_BOUNCE, "5.1.7", NULL,
			    "bad address syntax: the sender begins with '-' "
			    "(allow_min_user = no); not handed to pipe "
			    "service %s", req->transport);
		return;
	}
	argv = pipe_argv_expand(&ps->pa, &m, &err);
	if (argv == NULL) {
		if (rcpt != NULL)
			agent_set_result(res, i, DELIVER_DEFER, "4.3.5", NULL,
			    "pipe service %s: %s", req->transport, err);
		else
			agent_set_all(res, DELIVER_DEFER, "4.3.5", NULL,
			    "pipe service %s: %s", req->transport, err);
		free(err);
		return;
	}
	envp = make_env(ps, req, rcpt);
	prefix = pipe_prefix(&ps->pa, req->sender,
	    rcpt != NULL ? rcpt->address : NULL,
	    rcpt != NULL ? m.original_recipient : NULL, time(NULL));
	pipe_feed_init(&feed, prefix, msg->content, msg->len, ps->pa.flags,
	    ps->pa.eol, ps->pa.eol_len);
	memset(&cmd, 0, sizeof(cmd));
	cmd.argv = argv;
	cmd.envp = envp;
	cmd.directory = ps->pa.directory;
	cmd.timeout = ps->timeout;
	o = xmalloc(sizeof(*o));
	pipe_run(&cmd, &feed, o);
	pipe_verdict(o, argv[0], ps->timeout, &st, &dsn, &text, &remote);
	if (o->how == PIPE_TIMEDOUT || o->how == PIPE_NOEXEC ||
	    o->how == PIPE_FAILED)
		log_warning("%s: pipe service %s: %s", req->queue_id,
		    req->transport, text);
	if (rcpt != NULL)
		agent_set_result(res, i, st, dsn, remote, "%s", text);
	else
		agent_set_all(res, st, dsn, remote, "%s", text);
	free(o);
	free(text);
	free(remote);
	pipe_feed_deinit(&feed);
	free(prefix);
	strv_free(&envp);
	strv_free(&argv);
}

/* dash_rcpt - a recipient run_one must refuse (allow_min_user): then
 * each recipient runs alone, and only that one is refused. */
static bool
dash_rcpt(const struct pipe_state *ps, const struct deliver_req *req)
{
	if (ps->allow_min_user)
		return false;
	for (size_t i = 0; i < req->nrcpts; i++)
		if (req->rcpts[i].address[0] == '-' ||
		    (req->rcpts[i].orig_rcpt != NULL &&
		    req->rcpts[i].orig_rcpt[0] == '-'))
			return true;
	return false;
}

static void
pipe_deliver(struct agent_ctx *a, const struct deliver_req *req,
    const struct deliver_msg *msg, struct agent_results *res)
{
	const struct pipe_state *ps = a->priv;

	if (ps == NULL) {
		agent_set_all(res, DELIVER_DEFER, "4.3.5", NULL,
		    "the pipe agent was not set up");
		return;
	}
	if (ps->pa.size_limit > 0 && msg->len > ps->pa.size_limit) {
		agent_set_all(res, DELIVER_BOUNCE, "5.2.3", NULL,
		    "message is larger than the size limit of pipe service "
		    "%s (size=%" PRIu64 " bytes; the message has %zu bytes)",
		    req->transport, ps->pa.size_limit, msg->len);
		return;
	}
	if (ps->pa.per_rcpt || req->nrcpts == 1 || dash_rcpt(ps, req) ||
	    (ps->pa.flags & (PIPE_F_DELIVERED | PIPE_F_ORIG)) != 0) {
		for (size_t i = 0; i < req->nrcpts; i++)
			run_one(a, ps, req, msg, &req->rcpts[i], i, res);
	} else
		run_one(a, ps, req, msg, NULL, SIZE_MAX, res);
}

const struct agent_def agent_pipe = {
	.command = "pipe",
	.setup = pipe_setup,
	.deliver = pipe_deliver,
	.relay = NULL,
};
