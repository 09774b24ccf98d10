/* SPDX-License-Identifier: MIT */
/*
 * agent_local - the local delivery agent (Postfix local(8), a subset),
 * for mydestination recipients:
 *
 *   local unix - n n - - local
 *
 * For each recipient (user[+ext]@domain, folded to lower case):
 *
 *  1. A Delivered-To: header equal to the address: a mail loop, bounced
 *     (5.4.6).
 *  2. alias_maps (through the lookup process; keys "user+ext", then
 *     "user"): the value's destinations (local_alias.h) are expanded in
 *     turn: a local address (no domain, or one that resolves to this
 *     transport) is expanded again (at most LOCAL_DEPTH_MAX levels; an
 *     alias that names itself, or one being expanded, goes straight to
 *     that user's mailbox); "|command" and "/file" are allowed as
 *     allow_mail_to_commands and allow_mail_to_files say (context alias,
 *     or include inside an :include: file) and run as default_privs;
 *     ":include:/path" files are read by the agent (mail_owner).  A
 *     non-local address is a forwarding address: it goes back to the
 *     queue manager with the recipient's result (agent_add_forward),
 *     which queues one copy of the message for all of them when the
 *     result is a success (qmgr_forward.c).
 *  3. The user's .forward file (forward_path: the first of its
 *     entries, expanded per recipient, that exists), read as the user
 *     by a delivery process (local_spawn_read: the home may be closed
 *     to mail_owner), and used only when it is a regular file (not a
 *     symbolic link) of the user or root that is not world-writable
 *     (else a warning, and the mailbox).  Its destinations are expanded
 *     as an alias's, in the "forward" context of allow_mail_to_*, and
 *     its files and commands run as the user (commands in the home
 *     directory).  The user named in its own .forward, or "\user",
 *     means the user's mailbox.  An empty file means the mailbox.
 *     Root's and mail_owner's are not read: only root could, and no
 *     delivery runs as root.
 *  4. Otherwise the passwd account of "user" (without the extension):
 *     unknown: handed to the LMTP server fallback_transport_maps
 *     gives for the user, or to fallback_transport (lmtp:DEST, as
 *     mailbox_transport below) when that is set, else forwarded to
 *     luser_relay when that is set (local_expand.h), else bounced
 *     (5.1.1 "unknown user").  Its mailbox is the command
 *     mailbox_command_maps gives for the user, else
 *     mailbox_command when set (run as the user, without a shell: a
 *     command that needs one is refused with a deferral), else
 *     home_mailbox under the home directory (a Maildir when it ends in
 *     "/", else an mbox file), else the mbox file
 *     mail_spool_directory/user (mbox.h: dot-lock and fcntl lock, From_
 *     line, ">From " quoting).  Root (and mail_owner) never get a
 *     delivery process of their own: their mail is written as
 *     default_privs, as Postfix does for root.
 *
 * Every delivery starts with Return-Path:, X-Original-To: (when
 * enable_original_recipient) and Delivered-To: lines; commands get the
 * From_ line first, as Postfix's local(8) gives them.
 * mailbox_size_limit bounds an mbox file and a Maildir message (5.2.2).
 *
 * Privileges: this process runs as mail_owner like every agent; writing
 * as a user is done by a delivery process per destination, started by
 * a helper that setup forks while still root (local_spawn.h explains
 * the split).  This process never becomes the user and the helper never
 * reads the message.
 *
 * mailbox_transport = lmtp:DEST (Dovecot's LMTP, the usual setup for
 * system users) takes the place of step 4's mailbox: every mailbox
 * delivery, including those of addresses the aliases give, goes to the
 * LMTP server DEST (lmtp_* timeouts and lmtp_lhlo_name; no TLS: an
 * inet DEST is refused when lmtp_tls_security_level asks for more than
 * may), one connection per delivery, and its
 * reply is the result; a user need not be in passwd then (the server
 * knows its users).  Other transports are refused with words.
 *
 * Not supported yet (each said in the deferral or the log): $name
 * expansion in
 * mailbox_command, local_command_shell.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "agent_client.h"
#include "agent_local.h"
#include "buf.h"
#include "dict.h"
#include "endpoint.h"
#include "lmtp_client.h"
#include "local_alias.h"
#include "local_expand.h"
#include "local_spawn.h"
#include "env_list.h"
#include "log.h"
#include "lookup_client.h"
#include "lookup_proto.h"
#include "maps.h"
#include "mbox.h"
#include "strv.h"
#include "xalloc.h"

/* Alias nesting levels. */
#define LOCAL_DEPTH_MAX 20
/* Destinations one recipient may expand to. */
#define LOCAL_ACTIONS_MAX 1000
/* :include: files read for one recipient, and their size. */
#define LOCAL_INCLUDES_MAX 50
#define LOCAL_INCLUDE_MAX_BYTES (1024 * 1024)
/* The delivery process's time for a mailbox (lock waits included). */
#define LOCAL_MAILBOX_TIME_LIMIT 300
/* command_time_limit without a configuration (tests). */
#define LOCAL_DEFAULT_TIME_LIMIT 1000
/* Longest Delivered-To: value compared. */
#define LOCAL_DTO_MAX (DELIVER_FIELD_MAX + 16)
/* PATH of commands. */
#define LOCAL_COMMAND_ENV_PATH "/usr/bin:/bin"

static agent_local_getpwnam_fn *pw_fn;

void
agent_local_set_getpwnam(agent_local_getpwnam_fn *fn)
{
	pw_fn = fn;
}

/* ---------------------------------------------------------------- */
/* Accounts                                                         */

struct local_account {
	char *name;
	uid_t uid;
	gid_t gid;
	char *home;
	char *shell;
};

static void
account_free(struct local_account *acc)
{
	free(acc->name);
	free(acc->home);
	free(acc->shell);
	memset(acc, 0, sizeof(*acc));
}

/*
 * account_get - the passwd entry of name: 1 (filled), 0 (no such
 * user), -1 (the lookup failed: *error_r, caller frees).
 */
static int
account_get(const char *name, struct local_account *acc, char **error_r)
{
	struct passwd *pw;

	memset(acc, 0, sizeof(*acc));
	errno = 0;
	pw = pw_fn != NULL ? pw_fn(name) : getpwnam(name);
	if (pw == NULL) {
		if (errno == 0 || errno == ENOENT || errno == ESRCH ||
		    errno == EBADF || errno == EPERM)
			return 0;
		*error_r = xasprintf("cannot look up user %s: %s", name,
		    strerror(errno));
		return -1;
	}
	acc->name = xstrdup(pw->pw_name);
	acc->uid = pw->pw_uid;
	acc->gid = pw->pw_gid;
	acc->home = xstrdup(pw->pw_dir != NULL && pw->pw_dir[0] == '/' ?
	    pw->pw_dir : "/");
	acc->shell = xstrdup(pw->pw_shell != NULL ? pw->pw_shell : "");
	return 1;
}

/*
 * make_creds - acc's credentials: its groups (getgrouplist; the root
 * group is left out) plus extra (when not 0).
 */
static void
make_creds(const struct local_account *acc, gid_t extra,
    struct local_creds *c)
{
	gid_t groups[LOCAL_GROUPS_MAX];
	int n = LOCAL_GROUPS_MAX;

	memset(c, 0, sizeof(*c));
	c->uid = acc->uid;
	c->gid = acc->gid;
	if (getgrouplist(acc->name, acc->gid, groups, &n) < 0)
		n = LOCAL_GROUPS_MAX;	/* the first ones */
	for (int i = 0; i < n && c->ngroups < LOCAL_GROUPS_MAX; i++)
		if (groups[i] != 0)
			c->groups[c->ngroups++] = groups[i];
	if (extra != 0 && c->ngroups < LOCAL_GROUPS_MAX) {
		bool have = false;

		for (size_t i = 0; i < c->ngroups; i++)
			have = have || c->groups[i] == extra;
		if (!have)
			c->groups[c->ngroups++] = extra;
	}
	if (c->ngroups == 0 && acc->gid != 0)
		c->groups[c->ngroups++] = acc->gid;
}

/* ---------------------------------------------------------------- */
/* State                                                            */

/* An LMTP server mailboxes are handed to (mailbox_transport,
 * fallback_transport). */
struct handoff {
	const char *param;	/* its parameter's name */
	char *raw;		/* as written, "" = none */
	char *dest;		/* DEST of lmtp:DEST, or NULL */
	char *refusal;		/* why it cannot be used, or NULL */
};

struct local_state {
	char *alias_maps;	/* "" = none */
	char *delimiters;	/* recipient_delimiter */
	char **export_env;	/* export_environment */
	bool strict_owner;	/* strict_mailbox_ownership */
	char *home_mailbox;	/* "" = the spool */
	char *spool;		/* mail_spool_directory, no trailing '/' */
	char **mailbox_argv;	/* mailbox_command split, or NULL */
	char *mailbox_command;	/* as written */
	char *mailbox_refusal;	/* why mailbox_command cannot run */
	/* mailbox_transport = lmtp:DEST: mailboxes are handed to DEST;
	 * fallback_transport = lmtp:DEST: so are unknown users' */
	struct handoff mbx, fallback;
	/* mailbox_transport_maps, fallback_transport_maps ("" = none):
	 * per user, an lmtp:DEST of its own */
	char *mbx_maps, *fallback_maps;
	char *cmd_maps;		/* mailbox_command_maps, "" = none */
	char *lmtp_tls_level;	/* lmtp_tls_security_level */
	char *lhlo_name, *tcp_port;
	struct lmtp_client_settings lset;
	char *shell_refusal;	/* local_command_shell is set */
	char *luser_relay;	/* as written ($name at delivery), NULL: none */
	char *myorigin;		/* for a luser_relay without a domain */
	bool cmd_alias, cmd_include, file_alias, file_include;
	bool cmd_forward, file_forward;
	char *forward_path;	/* as written ($name per recipient), NULL:
				 * no .forward files */
	char *forward_filter;	/* forward_expansion_filter */
	bool root_forward_noted;	/* said once: root's is not read */
	bool orig_header;	/* enable_original_recipient */
	/* prepend_delivered_header: Delivered-To: for deliveries to
	 * commands, to files (mailboxes always get one) */
	bool dt_command, dt_file;
	uint64_t limit;		/* mailbox_size_limit, 0 = none */
	unsigned timeout;	/* command_time_limit */
	struct local_account privs;	/* default_privs */
	uid_t owner_uid;	/* mail_owner */
	struct lookup_sync *ls;
	struct local_spawner *sp;
	bool helper_lost;
};

static void
local_state_free(struct local_state *st)
{
	if (st == NULL)
		return;
	free(st->alias_maps);
	free(st->luser_relay);
	free(st->forward_path);
	free(st->forward_filter);
	free(st->myorigin);
	free(st->delimiters);
	strv_free(&st->export_env);
	free(st->home_mailbox);
	free(st->spool);
	strv_free(&st->mailbox_argv);
	free(st->mailbox_command);
	free(st->mailbox_refusal);
	free(st->mbx.raw);
	free(st->mbx.dest);
	free(st->mbx.refusal);
	free(st->fallback.raw);
	free(st->fallback.dest);
	free(st->fallback.refusal);
	free(st->mbx_maps);
	free(st->fallback_maps);
	free(st->cmd_maps);
	free(st->lmtp_tls_level);
	free(st->lhlo_name);
	free(st->tcp_port);
	free(st->shell_refusal);
	account_free(&st->privs);
	lookup_sync_free(&st->ls);
	local_spawner_stop(&st->sp);
	free(st);
}

static bool
has_ctl(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/*
 * handoff_parse - raw, the value of param (a setting, or a table's
 * answer for one user), into h: "lmtp:DEST" (DEST as the lmtp agent
 * takes it: unix:/path, inet:host:port, ...) hands those mailbox
 * deliveries to that LMTP server (Dovecot's lmtp); anything else leaves
 * a refusal in h that defers them with its words.
 */
static void
handoff_parse(const struct local_state *st, struct handoff *h,
    const char *raw, const char *param)
{
	const char *colon = strchr(raw, ':');
	struct endpoint ep = { 0 };
	char *err = NULL;

	h->param = param;
	h->raw = xstrdup(raw);
	if (raw[0] == '\0')
		return;
	if (colon == NULL || colon[1] == '\0') {
		h->refusal = xasprintf("%s = %s names no destination: write "
		    "lmtp:unix:/path/to/socket or lmtp:inet:host:port", param,
		    raw);
	} else if ((size_t)(colon - raw) != 4 || strncmp(raw, "lmtp", 4) != 0) {
		h->refusal = xasprintf("%s = %s: this version hands mailboxes "
		    "only to an LMTP server (%s = lmtp:unix:/path or "
		    "lmtp:inet:host:port); for a command use "
		    "mailbox_command", param, raw, param);
	} else if (lmtp_dest_parse(colon + 1, st->tcp_port, &ep, &err) < 0) {
		h->refusal = xasprintf("%s = %s: %s", param, raw, err);
		free(err);
	} else if (ep.path == NULL &&
	    strcasecmp(st->lmtp_tls_level, "none") != 0 &&
	    strcasecmp(st->lmtp_tls_level, "may") != 0) {
		h->refusal = xasprintf("%s = %s: lmtp_tls_security_level = %s, "
		    "and the local agent speaks LMTP without TLS: use a unix: "
		    "socket, or the lmtp transport itself (virtual_transport, "
		    "transport_maps)", param, raw, st->lmtp_tls_level);
	} else {
		h->dest = xstrdup(colon + 1);
	}
	endpoint_clear(&ep);
}

static void
handoff_clear(struct handoff *h)
{
	free(h->raw);
	free(h->dest);
	free(h->refusal);
	memset(h, 0, sizeof(*h));
}

/*
 * delivered_header_kinds - prepend_delivered_header: which deliveries
 * besides mailboxes get Delivered-To: (forwarded copies are the queue
 * manager's: qmgr_forward.c).  An unknown word is ignored with a
 * warning.  Without the header, a delivery loop through a command or
 * file is no longer detected.
 */
static void
delivered_header_kinds(struct local_state *st, const struct config_view *v)
{
	char **words = config_list(v, P_prepend_delivered_header);

	st->dt_command = st->dt_file = false;
	for (size_t i = 0; words[i] != NULL; i++) {
		if (strcasecmp(words[i], "command") == 0)
			st->dt_command = true;
		else if (strcasecmp(words[i], "file") == 0)
			st->dt_file = true;
		else if (strcasecmp(words[i], "forward") != 0)
			log_warning("prepend_delivered_header: \"%s\" is not "
			    "one of command, file, forward; ignored",
			    words[i]);
	}
	strv_free(&words);
}

/*
 * handoff_setup - the LMTP client settings the hand-offs share, then
 * mailbox_transport and fallback_transport (a refusal is also logged
 * at start).
 */
static void
handoff_setup(struct local_state *st, const struct config_view *v)
{
	const char *name = config_str(v, P_lmtp_lhlo_name);

	st->lhlo_name = name[0] != '\0' ? xstrdup(name) :
	    config_default_myhostname();
	st->tcp_port = xstrdup(config_str(v, P_lmtp_tcp_port));
	st->lmtp_tls_level = xstrdup(config_str(v,
	    P_lmtp_tls_security_level));
	st->lset.lhlo_name = st->lhlo_name;
	st->lset.default_port = st->tcp_port;
	agent_lmtp_timeouts(v, &st->lset.timeouts);
	handoff_parse(st, &st->mbx, config_str(v, P_mailbox_transport),
	    "mailbox_transport");
	handoff_parse(st, &st->fallback, config_str(v, P_fallback_transport),
	    "fallback_transport");
	if (st->mbx.refusal != NULL)
		log_warning("%s; mail for local users is deferred until it is "
		    "fixed", st->mbx.refusal);
	if (st->fallback.refusal != NULL)
		log_warning("%s; mail for unknown local users is deferred "
		    "until it is fixed", st->fallback.refusal);
	st->mbx_maps = xstrdup(config_str(v, P_mailbox_transport_maps));
	st->cmd_maps = xstrdup(config_str(v, P_mailbox_command_maps));
	st->fallback_maps = xstrdup(config_str(v,
	    P_fallback_transport_maps));
}

static int
local_setup(struct agent_ctx *a, uid_t *uid_r, gid_t *gid_r, char **error_r)
{
	const struct config_view *v = a->view;
	struct local_state *st;
	const char *raw;
	char *err = NULL;
	size_t n;
	int r;

	local_state_free(a->priv);
	a->priv = NULL;
	if (v == NULL) {
		*error_r = xstrdup("the local agent has no configuration");
		return -1;
	}
	if (a->service != NULL && a->service->chroot_flag == 1) {
		*error_r = xasprintf("service %s: the local agent cannot run "
		    "chrooted (it needs the passwd file and the users' "
		    "directories): set the chroot field to n in master.cf",
		    a->service->name);
		return -1;
	}
	st = xcalloc(1, sizeof(*st));
	st->owner_uid = *uid_r;
	raw = config_str(v, P_default_privs);
	r = account_get(raw, &st->privs, &err);
	if (r <= 0) {
		*error_r = r < 0 ? xasprintf("default_privs: %s", err) :
		    xasprintf("default_privs = %s: no such user (it names the "
		    "unprivileged account that deliveries to files and "
		    "commands in aliases, and mail for root, run as)", raw);
		free(err);
		local_state_free(st);
		return -1;
	}
	if (st->privs.uid == 0 || st->privs.gid == 0 ||
	    st->privs.uid == *uid_r) {
		*error_r = xasprintf("default_privs = %s: it is %s; name an "
		    "unprivileged account of its own (nobody)", raw,
		    st->privs.uid == 0 ? "root" : st->privs.gid == 0 ?
		    "in the root group" : "the mail system owner (mail_owner)");
		local_state_free(st);
		return -1;
	}
	st->spool = xstrdup(config_str(v, P_mail_spool_directory));
	n = strlen(st->spool);
	while (n > 1 && st->spool[n - 1] == '/')
		st->spool[--n] = '\0';
	if (st->spool[0] != '/' || agent_path_has_dotdot(st->spool) ||
	    strcmp(st->spool, "/") == 0 || has_ctl(st->spool)) {
		*error_r = xasprintf("mail_spool_directory = %s: it must be an "
		    "absolute path other than / without \"..\"", st->spool);
		local_state_free(st);
		return -1;
	}
	st->home_mailbox = xstrdup(config_str(v, P_home_mailbox));
	if (st->home_mailbox[0] != '\0' && (st->home_mailbox[0] == '/' ||
	    agent_path_has_dotdot(st->home_mailbox) || has_ctl(st->home_mailbox) ||
	    strcmp(st->home_mailbox, "/") == 0)) {
		*error_r = xasprintf("home_mailbox = %s: it must be a path "
		    "relative to the home directory without \"..\" "
		    "(Maildir/ or Mailbox)", st->home_mailbox);
		local_state_free(st);
		return -1;
	}
	/* The text as written: $name here is meant for the delivery (as
	 * in Postfix), not for main.cf expansion; local_command_split
	 * refuses it. */
	raw = config_raw(v, "mailbox_command", NULL);
	st->mailbox_command = xstrdup(raw != NULL ? raw : "");
	if (strspn(st->mailbox_command, " \t") !=
	    strlen(st->mailbox_command) &&
	    local_command_split(st->mailbox_command, &st->mailbox_argv,
	    &err) < 0) {
		st->mailbox_refusal = xasprintf("mailbox_command: %s", err);
		log_warning("%s; mail for local users is deferred until "
		    "mailbox_command is fixed", st->mailbox_refusal);
		free(err);
	}
	handoff_setup(st, v);
	/* luser_relay: its $names are the recipient's (local_expand.h). */
	raw = config_raw(v, "luser_relay", NULL);
	if (raw != NULL && strspn(raw, " \t") != strlen(raw))
		st->luser_relay = xstrdup(raw);
	st->myorigin = xstrdup(config_str(v, P_myorigin));
	raw = config_raw(v, "local_command_shell", NULL);
	if (raw != NULL && raw[0] != '\0') {
		st->shell_refusal = xasprintf("local_command_shell = %s: "
		    "commands run without a shell in this version; leave "
		    "local_command_shell empty", raw);
		log_warning("%s (deliveries to commands are deferred)",
		    st->shell_refusal);
	}
	st->alias_maps = xstrdup(config_str(v, P_alias_maps));
	if (strspn(st->alias_maps, " \t,") == strlen(st->alias_maps))
		st->alias_maps[0] = '\0';
	st->delimiters = xstrdup(config_str(v, P_recipient_delimiter));
	st->export_env = config_list(v, P_export_environment);
	st->strict_owner = config_bool(v, P_strict_mailbox_ownership);
	st->cmd_alias = config_list_contains(v, P_allow_mail_to_commands,
	    "alias");
	st->cmd_include = config_list_contains(v, P_allow_mail_to_commands,
	    "include");
	st->file_alias = config_list_contains(v, P_allow_mail_to_files,
	    "alias");
	st->file_include = config_list_contains(v, P_allow_mail_to_files,
	    "include");
	st->cmd_forward = config_list_contains(v, P_allow_mail_to_commands,
	    "forward");
	st->file_forward = config_list_contains(v, P_allow_mail_to_files,
	    "forward");
	/* forward_path: its $names are the recipient's (local_expand.h),
	 * so the text as written; empty turns .forward files off. */
	raw = config_raw(v, "forward_path", NULL);
	if (raw != NULL && strspn(raw, " \t\r\n,") != strlen(raw))
		st->forward_path = xstrdup(raw);
	st->forward_filter = xstrdup(config_str(v,
	    P_forward_expansion_filter));
	st->orig_header = config_bool(v, P_enable_original_recipient);
	delivered_header_kinds(st, v);
	st->limit = config_size(v, P_mailbox_size_limit);
	{
		long long t = config_time(v, P_command_time_limit);

		st->timeout = t <= 0 ? LOCAL_DEFAULT_TIME_LIMIT :
		    t > LOCAL_WORKER_TIME_MAX - 10 ?
		    LOCAL_WORKER_TIME_MAX - 10 : (unsigned)t;
	}
	st->sp = local_spawner_start(*uid_r, &err);
	if (st->sp == NULL) {
		*error_r = xasprintf("cannot start the local agent's helper "
		    "process: %s", err);
		free(err);
		local_state_free(st);
		return -1;
	}
	if (!local_spawner_privileged(st->sp))
		log_debug(1, "local: not started as root: every delivery "
		    "runs as uid %lu", (unsigned long)geteuid());
	/* The process itself stays mail_owner (*uid_r, *gid_r as given). */
	(void)gid_r;
	a->priv = st;
	return 0;
}

/* ---------------------------------------------------------------- */
/* Expansion                                                        */

enum act_kind {
	ACT_MAILBOX,		/* target: the account name */
	ACT_FILE,		/* target: the path */
	ACT_COMMAND,		/* target: the command */
	ACT_FAIL,		/* this destination failed: st, dsn, text */
	ACT_NONLOCAL,		/* target: an address elsewhere */
};

struct action {
	enum act_kind kind;
	char *target;
	char *address;		/* for Delivered-To: */
	char *lp;		/* MAILBOX: the local part with extension */
	bool fallback;		/* MAILBOX: an unknown user's, handed to
				 * fallback_transport */
	char *handoff;		/* MAILBOX: lmtp:DEST from a table of
				 * handoff_param, or NULL */
	const char *handoff_param;
	char *run_as;		/* FILE, COMMAND: the user whose .forward
				 * gave it (its rights), NULL: an alias's
				 * (default_privs) */
	enum deliver_status st;
	char dsn[16];
	char *text;
};

struct expansion {
	struct local_state *st;
	const struct deliver_req *req;
	struct action *v;
	size_t n;
	bool stop;		/* the whole recipient is deferred */
	char dsn[16];
	char *why;
	struct strv path;	/* the aliases being expanded */
	struct strv fwd;	/* the users whose .forward is being
				 * expanded */
	size_t nincludes;
	struct buf value;
};

static void
x_stop(struct expansion *x, const char *dsn, const char *fmt, ...)
    ATTR_FORMAT(3, 4);

/* x_stop - defer the whole recipient (the first reason wins). */
static void
x_stop(struct expansion *x, const char *dsn, const char *fmt, ...)
{
	va_list ap;
	char text[DELIVER_FIELD_MAX + 1];

	if (x->stop)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	x->stop = true;
	snprintf(x->dsn, sizeof(x->dsn), "%s", dsn);
	x->why = xstrdup(text);
}

/* x_add - one destination (a duplicate of one there is dropped). */
static struct action *
x_add(struct expansion *x, enum act_kind kind, const char *target,
    const char *address)
{
	struct action *act;

	if (kind != ACT_FAIL)
		for (size_t i = 0; i < x->n; i++)
			if (x->v[i].kind == kind &&
			    strcmp(x->v[i].target, target) == 0)
				return NULL;
	if (x->n >= LOCAL_ACTIONS_MAX) {
		x_stop(x, "4.3.5", "the aliases of %s give more than %d "
		    "destinations", x->req->rcpts[0].address,
		    LOCAL_ACTIONS_MAX);
		return NULL;
	}
	x->v = xreallocarray(x->v, x->n + 1, sizeof(*x->v));
	act = &x->v[x->n++];
	memset(act, 0, sizeof(*act));
	act->kind = kind;
	act->target = xstrdup(target);
	act->address = xstrdup(address);
	return act;
}

static void
x_fail(struct expansion *x, const char *address, enum deliver_status st,
    const char *dsn, const char *fmt, ...) ATTR_FORMAT(5, 6);

/* x_fail - a destination that cannot be delivered to. */
static void
x_fail(struct expansion *x, const char *address, enum deliver_status st,
    const char *dsn, const char *fmt, ...)
{
	struct action *act = x_add(x, ACT_FAIL, "", address);
	char text[DELIVER_FIELD_MAX + 1];
	va_list ap;

	if (act == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	act->st = st;
	snprintf(act->dsn, sizeof(act->dsn), "%s", dsn);
	act->text = xstrdup(text);
}

static void
x_deinit(struct expansion *x)
{
	for (size_t i = 0; i < x->n; i++) {
		free(x->v[i].target);
		free(x->v[i].address);
		free(x->v[i].lp);
		free(x->v[i].handoff);
		free(x->v[i].run_as);
		free(x->v[i].text);
	}
	free(x->v);
	free(x->why);
	strv_deinit(&x->path);
	strv_deinit(&x->fwd);
	buf_deinit(&x->value);
}

static struct lookup_sync *
local_lookup(struct local_state *st)
{
	if (st->ls == NULL)
		st->ls = lookup_sync_new(LOOKUP_SOCKET_PATH,
		    LOOKUP_CLIENT_TIMEOUT_MS);
	return st->ls;
}

static char *
lower_dup(const char *s, size_t n)
{
	char *r = xstrndup(s, n);

	for (char *p = r; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return r;
}

static char *
join_addr(const char *lp, const char *domain)
{
	return domain[0] != '\0' ? xasprintf("%s@%s", lp, domain) :
	    xstrdup(lp);
}

/* Where destinations come from: what allow_mail_to_* calls them. */
enum exp_ctx {
	CTX_ALIAS,
	CTX_FORWARD,
	CTX_INCLUDE,
};

static void expand_name(struct expansion *x, const char *lp,
    const char *domain, unsigned depth, bool direct);

/*
 * route_local - does address (with '@') go to this transport?  1 with
 * *lp_r and *domain_r (lower case, new strings), 0 (it goes elsewhere),
 * -1 (the lookup failed: x stopped).
 */
static int
route_local(struct expansion *x, const char *address, char **lp_r,
    char **domain_r)
{
	struct lookup_route_answer ans;
	char err[DICT_ERR_MAX_BYTES];
	const char *at;
	size_t tlen;
	int r = 0;

	if (lookup_sync_route(local_lookup(x->st), "", LOOKUP_ROUTE_RESOLVE,
	    address, 0, &x->value, err, sizeof(err)) != DICT_FOUND) {
		x_stop(x, "4.3.0", "cannot resolve %s (from an alias): %s",
		    address, err);
		return -1;
	}
	if (lookup_route_answer_parse(buf_cstr(&x->value), x->value.len,
	    &ans) < 0) {
		x_stop(x, "4.3.0", "cannot resolve %s (from an alias): the "
		    "lookup process sent a malformed answer", address);
		return -1;
	}
	tlen = strcspn(ans.transport, ":");
	at = strrchr(ans.address, '@');
	if (ans.cls == ROUTE_LOCAL && at != NULL && at != ans.address &&
	    tlen == strlen(x->req->transport) &&
	    strncmp(ans.transport, x->req->transport, tlen) == 0) {
		*lp_r = lower_dup(ans.address, (size_t)(at - ans.address));
		*domain_r = lower_dup(at + 1, strlen(at + 1));
		r = 1;
	}
	lookup_route_answer_deinit(&ans);
	return r;
}

static void expand_dests(struct expansion *x, const struct local_dests *d,
    const char *owner, const char *domain, unsigned depth, enum exp_ctx ctx,
    const struct local_account *as);

/*
 * read_as - the file path read as acc (local_spawn_read): the state,
 * with *data_r and *len_r when FOUND, and *why_r (a new string) when
 * IGNORED; -1 when it could not be read (x stopped).
 */
static int
read_as(struct expansion *x, const struct local_account *acc,
    const char *path, char **data_r, size_t *len_r, char **why_r)
{
	struct local_state *st = x->st;
	enum local_read_state state;
	struct local_result r;
	struct local_creds c;

	*why_r = NULL;
	make_creds(acc, 0, &c);
	if (local_spawn_read(st->sp, &c, path, LOCAL_READ_MAX_BYTES, &state,
	    data_r, len_r, &r) < 0 && !st->helper_lost) {
		st->helper_lost = true;
		log_error("%s: the local agent's helper process is gone; this "
		    "agent stops and the master starts a new one",
		    x->req->queue_id);
		(void)raise(SIGTERM);
	}
	if (r.st != DELIVER_OK) {
		x_stop(x, r.dsn[0] == '4' ? r.dsn : "4.3.0", "%s (read as "
		    "user %s)", r.text, acc->name);
		return -1;
	}
	if (state == LOCAL_READ_IGNORED)
		*why_r = xstrdup(r.text);
	return (int)state;
}

/*
 * expand_include - the destinations of an :include: file: read as
 * mail_owner for an alias (as NULL), as the user for a .forward.
 */
static void
expand_include(struct expansion *x, const char *path, const char *owner,
    const char *domain, unsigned depth, const struct local_account *as)
{
	struct local_dests d;
	struct stat sb;
	char *data = NULL, *err = NULL;
	size_t off = 0;
	int fd;

	if (++x->nincludes > LOCAL_INCLUDES_MAX) {
		x_stop(x, "4.3.5", "the aliases of %s read more than %d "
		    ":include: files", owner, LOCAL_INCLUDES_MAX);
		return;
	}
	if (as != NULL) {
		char *why = NULL;
		int r = read_as(x, as, path, &data, &off, &why);

		if (r < 0)
			return;
		if (r != LOCAL_READ_FOUND) {
			x_stop(x, "4.3.5", ".forward of %s: cannot use "
			    ":include: file %s: %s", owner, path, why != NULL ?
			    why : "no such file (it is read as the user)");
			free(why);
			return;
		}
		goto parse;
	}
	fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) < 0) {
		x_stop(x, "4.3.5", "alias %s: cannot read :include: file %s: "
		    "%s (it is read as the mail system owner)", owner, path,
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	if (!S_ISREG(sb.st_mode) || sb.st_size > LOCAL_INCLUDE_MAX_BYTES) {
		x_stop(x, "4.3.5", "alias %s: :include: file %s is %s", owner,
		    path, S_ISREG(sb.st_mode) ? "too large" :
		    "not a regular file");
		close(fd);
		return;
	}
	data = xmalloc((size_t)sb.st_size + 1);
	while (off < (size_t)sb.st_size) {
		ssize_t n = read(fd, data + off, (size_t)sb.st_size - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(fd);
parse:
	local_dests_init(&d);
	if (local_include_parse(data, off, &d, &err) < 0) {
		x_stop(x, "4.3.5", "%s %s: :include: file %s: %s", as != NULL ?
		    ".forward of" : "alias", owner, path, err);
		free(err);
	} else
		expand_dests(x, &d, owner, domain, depth, CTX_INCLUDE, as);
	local_dests_deinit(&d);
	free(data);
}

/*
 * expand_dests - the destinations d of owner (an alias, or the user
 * whose .forward it is: its address, for Delivered-To: of files and
 * commands) at depth, found in ctx; as: the user whose rights its
 * files, commands and :include: files get (NULL: an alias's).
 */
static void
expand_dests(struct expansion *x, const struct local_dests *d,
    const char *owner, const char *domain, unsigned depth, enum exp_ctx ctx,
    const struct local_account *as)
{
	struct local_state *st = x->st;
	const char *ctxname = ctx == CTX_INCLUDE ? "include" :
	    ctx == CTX_FORWARD ? "forward" : "alias";
	bool cmd_ok = ctx == CTX_INCLUDE ? st->cmd_include :
	    ctx == CTX_FORWARD ? st->cmd_forward : st->cmd_alias;
	bool file_ok = ctx == CTX_INCLUDE ? st->file_include :
	    ctx == CTX_FORWARD ? st->file_forward : st->file_alias;

	for (size_t i = 0; i < d->n && !x->stop; i++) {
		const struct local_dest *e = &d->v[i];
		char *lp = NULL, *dom = NULL;
		struct action *act = NULL;
		const char *at, *text = e->text;
		bool direct = false;

		switch (e->kind) {
		case LOCAL_DEST_COMMAND:
			if (!cmd_ok)
				x_fail(x, owner, DELIVER_BOUNCE, "5.7.1",
				    "mail to command is restricted "
				    "(allow_mail_to_commands has no %s): %s",
				    ctxname, e->text);
			else
				act = x_add(x, ACT_COMMAND, e->text, owner);
			break;
		case LOCAL_DEST_FILE:
			if (!file_ok)
				x_fail(x, owner, DELIVER_BOUNCE, "5.7.1",
				    "mail to file is restricted "
				    "(allow_mail_to_files has no %s): %s",
				    ctxname, e->text);
			else if (agent_path_has_dotdot(e->text))
				x_fail(x, owner, DELIVER_BOUNCE, "5.7.1",
				    "file destination %s has \"..\"",
				    e->text);
			else
				act = x_add(x, ACT_FILE, e->text, owner);
			break;
		case LOCAL_DEST_INCLUDE:
			if (depth >= LOCAL_DEPTH_MAX)
				x_fail(x, owner, DELIVER_BOUNCE, "5.4.6",
				    "alias expansion nested more than %d "
				    "levels deep at :include:%s (a loop?)",
				    LOCAL_DEPTH_MAX, e->text);
			else
				expand_include(x, e->text, owner, domain,
				    depth + 1, as);
			break;
		case LOCAL_DEST_ADDRESS:
			/* "\\user" in a .forward (or an alias): that user's
			 * mailbox, without its aliases or .forward. */
			if (text[0] == '\\' && text[1] != '\0') {
				direct = true;
				text++;
			}
			at = strrchr(text, '@');
			if (at == NULL) {
				lp = lower_dup(text, strlen(text));
				dom = xstrdup(domain);
			} else if (at == text) {
				x_fail(x, owner, DELIVER_BOUNCE, "5.1.3",
				    "%s %s: bad address %s", ctx ==
				    CTX_ALIAS ? "alias" : "destinations of",
				    owner, text);
				break;
			} else {
				int r = route_local(x, text, &lp, &dom);

				if (r < 0)
					break;
				if (r == 0) {
					(void)x_add(x, ACT_NONLOCAL, text,
					    owner);
					break;
				}
			}
			expand_name(x, lp, dom, depth + 1, direct);
			free(lp);
			free(dom);
			break;
		}
		if (act != NULL && as != NULL)
			act->run_as = xstrdup(as->name);
	}
}

/*
 * dotforward - the .forward file of the user acc (recipient address,
 * local part lp whose user name is its first ulen bytes), the first of
 * forward_path that exists: 1 when its destinations were expanded into
 * x, 0 when there is none to use (no file, an empty one, one ignored
 * for its owner or mode: the mailbox is next), -1 when x stopped.
 */
static int
dotforward(struct expansion *x, const struct local_account *acc,
    const char *lp, size_t ulen, const char *address, const char *domain,
    unsigned depth)
{
	struct local_state *st = x->st;
	struct local_expand_vars vars = { 0 };
	char delim[2] = { lp[ulen], '\0' };
	char *list, *save = NULL, *user = xstrndup(lp, ulen);
	int ret = 0;

	if (acc->uid == 0 || acc->uid == st->owner_uid) {
		/* Only root could read it, and no delivery runs as root. */
		if (!st->root_forward_noted)
			log_info("%s: the .forward file of %s is not read (no "
			    "delivery runs as root or as mail_owner; an alias "
			    "for %s forwards its mail)", x->req->queue_id,
			    acc->name, acc->name);
		st->root_forward_noted = true;
		free(user);
		return 0;
	}
	vars.user = user;
	vars.extension = lp[ulen] != '\0' ? lp + ulen + 1 : "";
	vars.local = lp;
	vars.domain = domain;
	vars.recipient = address;
	vars.delimiter = delim;
	vars.home = acc->home;
	vars.shell = acc->shell;
	vars.filter = st->forward_filter;
	list = xstrdup(st->forward_path);
	for (char *tok = strtok_r(list, ", \t\r\n", &save); tok != NULL;
	    tok = strtok_r(NULL, ", \t\r\n", &save)) {
		char *path = NULL, *data = NULL, *why = NULL, *err = NULL;
		const char *xerr = NULL;
		struct local_dests d;
		size_t len = 0;
		int r;

		if (local_expand(tok, &vars, &path, &xerr) < 0 ||
		    path[0] != '/') {
			log_warning("%s: to=<%s>: forward_path entry %s: %s "
			    "(entry skipped)", x->req->queue_id, address, tok,
			    xerr != NULL ? xerr : "not an absolute path");
			free(path);
			continue;
		}
		r = read_as(x, acc, path, &data, &len, &why);
		if (r == LOCAL_READ_ABSENT) {
			free(path);
			continue;
		}
		if (r == LOCAL_READ_IGNORED)
			log_warning("%s: to=<%s>: %s ignored: %s (it must be a "
			    "regular file of the user or root, not "
			    "world-writable); the mail goes to the mailbox",
			    x->req->queue_id, address, path, why);
		if (r == LOCAL_READ_FOUND) {
			local_dests_init(&d);
			if (local_include_parse(data, len, &d, &err) < 0) {
				x_stop(x, "4.3.5", ".forward file %s of %s: %s",
				    path, acc->name, err);
				free(err);
				ret = -1;
			} else if (d.n > 0) {
				log_debug(1, "%s: to=<%s>: %zu destinations "
				    "from %s", x->req->queue_id, address, d.n,
				    path);
				strv_add(&x->fwd, acc->name);
				expand_dests(x, &d, address, domain, depth,
				    CTX_FORWARD, acc);
				x->fwd.n--;
				free(x->fwd.v[x->fwd.n]);
				x->fwd.v[x->fwd.n] = NULL;
				ret = 1;
			}
			local_dests_deinit(&d);
		}
		if (r < 0)
			ret = -1;
		free(data);
		free(why);
		free(path);
		break;
	}
	free(list);
	free(user);
	return ret;
}

/*
 * luser_relay - an unknown user's mail goes to the luser_relay address
 * instead, expanded for this recipient (local_expand.h; @myorigin added
 * when it has no domain), and forwarded there like an alias to it: the
 * queue manager queues the copy, which is routed as any mail (back to
 * this agent for a local address).  A setting that does not expand
 * defers with its reason: the mail is neither lost nor bounced for an
 * error of the configuration.
 */
static void
luser_relay(struct expansion *x, const char *lp, size_t ulen,
    const char *address)
{
	const char *at = strrchr(address, '@'), *why = NULL;
	const char *delim = x->st->delimiters;
	char *user = xstrndup(lp, ulen), *ext, *to = NULL;
	struct local_expand_vars vars = { 0 };

	/* The extension follows the delimiter character at ulen. */
	ext = xstrdup(lp[ulen] != '\0' ? lp + ulen + 1 : "");
	vars.user = user;
	vars.extension = ext;
	vars.local = lp;
	vars.domain = at != NULL ? at + 1 : "";
	vars.recipient = address;
	vars.delimiter = delim;
	if (local_expand(x->st->luser_relay, &vars, &to, &why) < 0) {
		x_stop(x, "4.3.5", "luser_relay = %s: %s", x->st->luser_relay,
		    why);
	} else {
		if (strchr(to, '@') == NULL) {
			char *full = xasprintf("%s@%s", to, x->st->myorigin);

			free(to);
			to = full;
		}
		log_debug(1, "%s: unknown user \"%s\": to luser_relay %s",
		    x->req->queue_id, user, to);
		(void)x_add(x, ACT_NONLOCAL, to, address);
	}
	free(to);
	free(user);
	free(ext);
}

/*
 * handoff_lookup - user in the tables of param (value maps; "" = none):
 * 1 with the answer in *raw_r (a new string), 0 when not there, -1 when
 * the lookup failed (the recipient is deferred: never "not found").
 */
static int
handoff_lookup(struct expansion *x, const char *maps, const char *param,
    const char *user, char **raw_r)
{
	char err[DICT_ERR_MAX_BYTES];
	enum dict_status ds;

	*raw_r = NULL;
	if (maps[0] == '\0')
		return 0;
	ds = lookup_sync_find(local_lookup(x->st), maps, user,
	    LOOKUP_FIND_EXACT, 0, "", 0, &x->value, err, sizeof(err));
	if (ds == DICT_TEMPFAIL) {
		x_stop(x, "4.3.0", "cannot look up %s in %s: %s", user, param,
		    err);
		return -1;
	}
	if (ds != DICT_FOUND)
		return 0;
	*raw_r = xstrdup(buf_cstr(&x->value));
	return 1;
}

/* handoff_add - a mailbox delivery of user for lp, to the LMTP server a
 * table of param named (raw, taken). */
static void
handoff_add(struct expansion *x, const char *user, const char *lp,
    const char *address, char *raw, const char *param)
{
	struct action *act = x_add(x, ACT_MAILBOX, user, address);

	if (act == NULL) {
		free(raw);
		return;
	}
	act->lp = xstrdup(lp);
	act->handoff = raw;
	act->handoff_param = param;
}

/*
 * mailbox - the destination for the account of lp (of domain, at
 * depth): its .forward file unless direct, else its mailbox.
 */
static void
mailbox(struct expansion *x, const char *lp, const char *domain,
    const char *address, unsigned depth, bool direct)
{
	struct local_account acc;
	struct action *act;
	size_t ulen = maps_split_extension(lp, strlen(lp), x->st->delimiters,
	    0);
	char *user = xstrndup(lp, ulen), *err = NULL, *raw = NULL;
	int r = account_get(user, &acc, &err), m = 0;
	const char *which = "mailbox_transport_maps";

	/* ~/.forward first (Postfix's order: aliases, .forward, mailbox),
	 * unless this user's own .forward names it: then its mailbox. */
	for (size_t i = 0; r > 0 && i < x->fwd.n; i++)
		direct = direct || strcmp(x->fwd.v[i], acc.name) == 0;
	if (r > 0 && !direct && x->st->forward_path != NULL) {
		int f = dotforward(x, &acc, lp, ulen, address, domain, depth);

		if (f != 0) {
			account_free(&acc);
			free(user);
			return;
		}
	}

	/* mailbox_transport_maps: for known and unknown users alike;
	 * fallback_transport_maps: for unknown ones, before
	 * fallback_transport (Postfix's order). */
	if (r >= 0)
		m = handoff_lookup(x, x->st->mbx_maps, which, user, &raw);
	if (r == 0 && m == 0 && x->st->mbx.raw[0] == '\0') {
		which = "fallback_transport_maps";
		m = handoff_lookup(x, x->st->fallback_maps, which, user, &raw);
	}
	if (r < 0) {
		x_stop(x, "4.3.0", "%s", err);
		free(err);
	} else if (m < 0) {
		/* the lookup failed: deferred (handoff_lookup) */
		if (r > 0)
			account_free(&acc);
	} else if (m > 0) {
		handoff_add(x, user, lp, address, raw, which);
		raw = NULL;
		if (r > 0)
			account_free(&acc);
	} else if (r == 0 && (x->st->mbx.raw[0] != '\0' ||
	    x->st->fallback.raw[0] != '\0')) {
		/* mailbox_transport: its server knows the users (as in
		 * Postfix, no passwd account is needed); fallback_transport:
		 * unknown here, its server may know them. */
		act = x_add(x, ACT_MAILBOX, user, address);
		if (act != NULL) {
			act->lp = xstrdup(lp);
			act->fallback = x->st->mbx.raw[0] == '\0';
		}
	} else if (r == 0 && x->st->luser_relay != NULL) {
		luser_relay(x, lp, ulen, address);
	} else if (r == 0) {
		x_fail(x, address, DELIVER_BOUNCE, "5.1.1", "unknown user: "
		    "\"%s\"", user);
	} else {
		act = x_add(x, ACT_MAILBOX, acc.name, address);
		if (act != NULL)
			act->lp = xstrdup(lp);
		account_free(&acc);
	}
	free(user);
}

/*
 * expand_name - the local part lp (lower case) of domain ("" = none) at
 * depth: its alias, or its mailbox.
 */
static void
expand_name(struct expansion *x, const char *lp, const char *domain,
    unsigned depth, bool direct)
{
	struct local_state *st = x->st;
	char err[DICT_ERR_MAX_BYTES];
	char *address = join_addr(lp, domain), *perr = NULL;
	struct local_dests d;
	enum dict_status ds;
	bool busy = false;

	if (x->stop)
		goto out;
	if (lp[0] == '\0' || strchr(lp, '/') != NULL || has_ctl(lp)) {
		x_fail(x, address, DELIVER_BOUNCE, "5.1.3", "bad local part "
		    "\"%s\"", lp);
		goto out;
	}
	if (depth > LOCAL_DEPTH_MAX) {
		x_fail(x, address, DELIVER_BOUNCE, "5.4.6", "alias expansion "
		    "nested more than %d levels deep at %s (a loop?)",
		    LOCAL_DEPTH_MAX, address);
		goto out;
	}
	for (size_t i = 0; i < x->path.n; i++)
		busy = busy || strcmp(x->path.v[i], lp) == 0;
	if (busy || direct || st->alias_maps[0] == '\0') {
		/* An alias that names itself means the user's mailbox. */
		mailbox(x, lp, domain, address, depth, direct);
		goto out;
	}
	ds = lookup_sync_find(local_lookup(st), st->alias_maps, lp,
	    LOOKUP_FIND_ADDRESS, 0, st->delimiters, 0, &x->value, err,
	    sizeof(err));
	if (ds == DICT_TEMPFAIL) {
		x_stop(x, "4.3.0", "cannot look up %s in alias_maps: %s", lp,
		    err);
		goto out;
	}
	if (ds == DICT_NOTFOUND) {
		mailbox(x, lp, domain, address, depth, false);
		goto out;
	}
	local_dests_init(&d);
	if (local_alias_split(buf_cstr(&x->value), x->value.len, &d,
	    &perr) < 0) {
		x_stop(x, "4.3.5", "alias %s in alias_maps: %s", lp, perr);
		free(perr);
	} else if (d.n == 0) {
		x_stop(x, "4.3.5", "alias %s in alias_maps has no "
		    "destinations", lp);
	} else {
		strv_add(&x->path, lp);
		expand_dests(x, &d, address, domain, depth, CTX_ALIAS, NULL);
		x->path.n--;
		free(x->path.v[x->path.n]);
		x->path.v[x->path.n] = NULL;
	}
	local_dests_deinit(&d);
out:
	free(address);
}

/* ---------------------------------------------------------------- */
/* Delivery                                                         */

/*
 * delivered_to_seen - a Delivered-To: header with addr (any case, white
 * space and angle brackets around it ignored) in the header section of
 * the CRLF content?
 */
static bool
delivered_to_seen(const char *content, size_t len, const char *addr)
{
	size_t pos = 0, alen = strlen(addr);

	while (pos < len) {
		char val[LOCAL_DTO_MAX];
		size_t vn = 0;
		bool fits = true, first = true;
		const char *s, *e;

		/* One header field, its continuation lines joined. */
		do {
			const char *line = content + pos;
			const char *nl = memchr(line, '\n', len - pos);
			size_t n = nl != NULL ? (size_t)(nl - line) : len - pos;

			pos += nl != NULL ? n + 1 : n;
			if (n > 0 && line[n - 1] == '\r')
				n--;
			if (first && n == 0)
				return false;	/* end of the headers */
			first = false;
			if (fits && vn + n < sizeof(val)) {
				memcpy(val + vn, line, n);
				vn += n;
			} else
				fits = false;
		} while (pos < len && (content[pos] == ' ' ||
		    content[pos] == '\t'));
		if (!fits || vn < 13 || strncasecmp(val, "Delivered-To:", 13))
			continue;
		s = val + 13;
		e = val + vn;
		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e - s >= 2 && *s == '<' && e[-1] == '>') {
			s++;
			e--;
		}
		if ((size_t)(e - s) == alen && strncasecmp(s, addr, alen) == 0)
			return true;
	}
	return false;
}

/* The per-request things the deliveries share. */
struct request_ctx {
	struct local_state *st;
	const struct deliver_req *req;
	const struct deliver_msg *msg;
	const struct deliver_rcpt *rcpt;
	int content_fd;		/* the sealed copy, made on first use */
	char *content_error;
};

/* content_fd - the message copy for the workers, or -1 (r filled). */
static int
content_fd(struct request_ctx *rc, struct local_result *r)
{
	if (rc->content_fd < 0 && rc->content_error == NULL)
		rc->content_fd = local_content_fd(rc->msg->content,
		    rc->msg->len, &rc->content_error);
	if (rc->content_fd < 0) {
		r->st = DELIVER_DEFER;
		snprintf(r->dsn, sizeof(r->dsn), "4.3.0");
		snprintf(r->text, sizeof(r->text), "%s", rc->content_error);
		return -1;
	}
	return rc->content_fd;
}

/*
 * prefix_for - the header lines for a delivery to address: with from_
 * an mbox "From " line, Return-Path:, X-Original-To: per
 * enable_original_recipient, and Delivered-To: when delivered_to.
 */
static char *
prefix_for(const struct request_ctx *rc, const char *address, bool from_,
    bool delivered_to)
{
	const char *orig = rc->rcpt->orig_rcpt[0] != '\0' ?
	    rc->rcpt->orig_rcpt : rc->rcpt->address;
	struct buf b;

	buf_init(&b, SIZE_MAX / 2);
	if (from_) {
		char date[64];

		mbox_date(time(NULL), date, sizeof(date));
		(void)buf_appendf(&b, "From %s %s\n", rc->req->sender[0] !=
		    '\0' ? rc->req->sender : "MAILER-DAEMON", date);
	}
	(void)buf_appendf(&b, "Return-Path: <%s>\n", rc->req->sender);
	if (rc->st->orig_header)
		(void)buf_appendf(&b, "X-Original-To: %s\n", orig);
	if (delivered_to)
		(void)buf_appendf(&b, "Delivered-To: %s\n", address);
	return buf_steal(&b);
}

static void
env_add(struct strv *env, const char *name, const char *value)
{
	if (value != NULL)
		strv_add_take(env, xasprintf("%s=%s", name, value));
}

/*
 * command_env - the environment of a command run as acc for address
 * (lp: its local part, with the extension).
 */
static char **
command_env(const struct request_ctx *rc, const struct local_account *acc,
    const char *address, const char *lp)
{
	const struct deliver_req *req = rc->req;
	const char *at = strrchr(address, '@');
	size_t ulen = maps_split_extension(lp, strlen(lp),
	    rc->st->delimiters, 0);
	struct strv env;

	strv_init(&env);
	env_add(&env, "HOME", acc->home);
	env_add(&env, "LOGNAME", acc->name);
	env_add(&env, "USER", acc->name);
	env_add(&env, "SHELL", acc->shell);
	env_add(&env, "SENDER", req->sender);
	env_add(&env, "RECIPIENT", address);
	env_add(&env, "ORIGINAL_RECIPIENT", rc->rcpt->orig_rcpt[0] != '\0' ?
	    rc->rcpt->orig_rcpt : rc->rcpt->address);
	env_add(&env, "LOCAL", lp);
	env_add(&env, "EXTENSION", ulen < strlen(lp) ? lp + ulen + 1 : "");
	env_add(&env, "DOMAIN", at != NULL ? at + 1 : "");
	if (req->client_addr[0] != '\0')
		env_add(&env, "CLIENT_ADDRESS", req->client_addr);
	if (req->client_name[0] != '\0')
		env_add(&env, "CLIENT_HOSTNAME", req->client_name);
	if (req->helo[0] != '\0')
		env_add(&env, "CLIENT_HELO", req->helo);
	if (req->protocol[0] != '\0')
		env_add(&env, "CLIENT_PROTOCOL", req->protocol);
	if (req->sasl_user[0] != '\0')
		env_add(&env, "SASL_USERNAME", req->sasl_user);
	/* Then what export_environment names (TZ, LANG), then PATH unless
	 * it named one. */
	env_list_add(&env, rc->st->export_env);
	env_list_add(&env, (char *const []){
	    UNCONST("PATH=" LOCAL_COMMAND_ENV_PATH), NULL });
	return strv_steal(&env);
}

/*
 * run_job - job as acc (extra: one more group, or 0); the worker's
 * answer in *r.
 */
static void
run_job(struct request_ctx *rc, const struct local_account *acc,
    gid_t extra, unsigned time_limit, const struct local_job *job,
    struct local_result *r)
{
	struct local_creds c;
	int fd = content_fd(rc, r);

	if (fd < 0)
		return;
	make_creds(acc, extra, &c);
	if (local_spawn_run(rc->st->sp, &c, time_limit, job, fd,
	    rc->msg->len, r) < 0 && !rc->st->helper_lost) {
		rc->st->helper_lost = true;
		log_error("%s: the local agent's helper process is gone; this "
		    "agent stops and the master starts a new one",
		    rc->req->queue_id);
		(void)raise(SIGTERM);
	}
}

/* run_command - cmd as acc for address (lp: its local part). */
static void
run_command(struct request_ctx *rc, const struct local_account *acc,
    const char *cmd, char *const *argv_given, const char *address,
    const char *lp, const char *dir, struct local_result *r)
{
	struct local_job job;
	char **argv = NULL, **envp, *prefix, *err = NULL;

	if (rc->st->shell_refusal != NULL) {
		r->st = DELIVER_DEFER;
		snprintf(r->dsn, sizeof(r->dsn), "4.3.5");
		snprintf(r->text, sizeof(r->text), "%s",
		    rc->st->shell_refusal);
		return;
	}
	if (argv_given == NULL && local_command_split(cmd, &argv, &err) < 0) {
		r->st = DELIVER_DEFER;
		snprintf(r->dsn, sizeof(r->dsn), "4.3.5");
		snprintf(r->text, sizeof(r->text), "%s", err);
		log_warning("%s: to=<%s>: %s", rc->req->queue_id, address,
		    err);
		free(err);
		return;
	}
	envp = command_env(rc, acc, address, lp);
	prefix = prefix_for(rc, address, true, rc->st->dt_command);
	memset(&job, 0, sizeof(job));
	job.kind = LOCAL_JOB_COMMAND;
	job.prefix = prefix;
	job.argv = argv_given != NULL ? argv_given : argv;
	job.envp = envp;
	job.directory = dir;
	job.timeout = rc->st->timeout;
	run_job(rc, acc, 0, rc->st->timeout + 10, &job, r);
	free(prefix);
	strv_free(&envp);
	strv_free(&argv);
}

/* is_dir - is path a directory (as far as this process can tell)? */
static bool
is_dir(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* transport_failed - what an LMTP failure f means for the delivery. */
static void
transport_failed(struct local_result *r, const struct lmtp_failure *f)
{
	const char *text = f->text != NULL ? f->text : "delivery failure";

	r->st = DELIVER_DEFER;
	snprintf(r->dsn, sizeof(r->dsn), "%s", f->kind ==
	    LMTP_FAIL_CONNECT ? "4.4.1" : "4.4.2");
	if ((f->kind == LMTP_FAIL_REPLY || f->reply.nlines > 0) &&
	    f->reply.code >= 400) {
		char *t = lmtp_reply_text(&f->reply, sizeof(r->remote) - 8);

		r->st = f->reply.code >= 500 ? DELIVER_BOUNCE : DELIVER_DEFER;
		snprintf(r->dsn, sizeof(r->dsn), "%s", f->reply.dsn[0] ==
		    (r->st == DELIVER_BOUNCE ? '5' : '4') ? f->reply.dsn :
		    r->st == DELIVER_BOUNCE ? "5.0.0" : "4.0.0");
		snprintf(r->remote, sizeof(r->remote), "lmtp; %s", t);
		free(t);
	} else if (f->kind == LMTP_FAIL_LOCAL) {
		r->st = DELIVER_BOUNCE;
		snprintf(r->dsn, sizeof(r->dsn), "%s", f->dsn[0] == '5' ?
		    f->dsn : "5.0.0");
	}
	snprintf(r->text, sizeof(r->text), "%s", text);
}

/*
 * run_transport - mailbox_transport: the message to the LMTP server,
 * for act's address; its reply is the result (one connection per
 * delivery).
 */
static void
run_transport(struct request_ctx *rc, const struct action *act,
    const struct handoff *h, struct local_result *r)
{
	struct local_state *st = rc->st;
	struct lmtp_failure f = { 0 };
	struct lmtp_client *c;
	struct lmtp_mail m = { 0 };
	struct lmtp_rcpt rcpt = { 0 };

	m.sender = rc->req->sender;
	m.content = rc->msg->content;
	m.len = rc->msg->len;
	m.body_8bitmime = rc->msg->env.body != NULL &&
	    strcasecmp(rc->msg->env.body, "8BITMIME") == 0;
	m.smtputf8_param = (rc->req->flags & DELIVER_F_SMTPUTF8) != 0 ||
	    rc->msg->env.smtputf8;
	rcpt.address = act->address;
	c = lmtp_client_connect(h->dest, &st->lset, &f);
	if (c == NULL) {
		transport_failed(r, &f);
		goto out;
	}
	if (lmtp_client_send(c, &m, &rcpt, 1, &f) < 0 && !rcpt.done) {
		transport_failed(r, &f);
	} else {
		char *t = lmtp_reply_text(&rcpt.reply, sizeof(r->remote) - 8);
		unsigned code = rcpt.reply.code;

		r->st = code < 300 ? DELIVER_OK : code < 500 ? DELIVER_DEFER :
		    DELIVER_BOUNCE;
		snprintf(r->dsn, sizeof(r->dsn), "%s", rcpt.reply.dsn[0] ==
		    (code < 300 ? '2' : code < 500 ? '4' : '5') ?
		    rcpt.reply.dsn : code < 300 ? "2.0.0" : code < 500 ?
		    "4.0.0" : "5.0.0");
		snprintf(r->remote, sizeof(r->remote), "lmtp; %s", t);
		snprintf(r->text, sizeof(r->text), "%s by %s %s: %s",
		    code < 300 ? "delivered" : "refused", h->param, h->raw, t);
		free(t);
	}
	lmtp_client_quit(&c);
out:
	lmtp_rcpt_deinit(&rcpt);
	lmtp_failure_deinit(&f);
}

/*
 * account_at_delivery - name's passwd entry again, when its delivery
 * runs: 0, or -1 with the deferral in r (a lookup error, or a user
 * that went away since the expansion).
 */
static int
account_at_delivery(const char *name, struct local_account *acc,
    struct local_result *r)
{
	char *err = NULL;
	int found = account_get(name, acc, &err);

	if (found > 0)
		return 0;
	r->st = DELIVER_DEFER;
	snprintf(r->dsn, sizeof(r->dsn), "4.3.0");
	snprintf(r->text, sizeof(r->text), "%s", found < 0 ? err :
	    "the user went away during the delivery");
	free(err);
	return -1;
}

/* run_mailbox - the mailbox of act's account. */
static void
run_mailbox(struct request_ctx *rc, const struct action *act,
    struct local_result *r)
{
	struct local_state *st = rc->st;
	struct local_account acc, *as;
	struct local_job job;
	char *path = NULL, *prefix = NULL;
	gid_t extra = 0;
	struct handoff table_h = { 0 };
	const struct handoff *h = act->fallback ? &st->fallback :
	    st->mbx.raw[0] != '\0' ? &st->mbx : NULL;

	if (act->handoff != NULL) {
		handoff_parse(st, &table_h, act->handoff, act->handoff_param);
		h = &table_h;
	}
	if (h != NULL) {
		if (delivered_to_seen(rc->msg->content, rc->msg->len,
		    act->address)) {
			r->st = DELIVER_BOUNCE;
			snprintf(r->dsn, sizeof(r->dsn), "5.4.6");
			snprintf(r->text, sizeof(r->text), "mail forwarding "
			    "loop for %s", act->address);
		} else if (h->refusal != NULL) {
			r->st = DELIVER_DEFER;
			snprintf(r->dsn, sizeof(r->dsn), "4.3.5");
			snprintf(r->text, sizeof(r->text), "%s", h->refusal);
		} else {
			run_transport(rc, act, h, r);
		}
		handoff_clear(&table_h);
		return;
	}
	if (account_at_delivery(act->target, &acc, r) < 0)
		return;
	/* Never a delivery process as root or as mail_owner. */
	as = acc.uid == 0 || acc.uid == st->owner_uid ? &st->privs : &acc;
	if (delivered_to_seen(rc->msg->content, rc->msg->len,
	    act->address)) {
		r->st = DELIVER_BOUNCE;
		snprintf(r->dsn, sizeof(r->dsn), "5.4.6");
		snprintf(r->text, sizeof(r->text), "mail forwarding loop for "
		    "%s", act->address);
		goto out;
	}
	if (st->mailbox_refusal != NULL) {
		r->st = DELIVER_DEFER;
		snprintf(r->dsn, sizeof(r->dsn), "4.3.5");
		snprintf(r->text, sizeof(r->text), "%s", st->mailbox_refusal);
		goto out;
	}
	if (st->cmd_maps[0] != '\0') {
		/* mailbox_command_maps: the user's own command, before
		 * mailbox_command; never through a shell either. */
		struct buf v;
		char lerr[DICT_ERR_MAX_BYTES], **argv = NULL, *serr = NULL;
		enum dict_status ds;

		buf_init(&v, DICT_VALUE_MAX_BYTES);
		ds = lookup_sync_find(local_lookup(st), st->cmd_maps,
		    act->target, LOOKUP_FIND_EXACT, 0, "", 0, &v, lerr,
		    sizeof(lerr));
		if (ds == DICT_TEMPFAIL) {
			r->st = DELIVER_DEFER;
			snprintf(r->dsn, sizeof(r->dsn), "4.3.0");
			snprintf(r->text, sizeof(r->text), "cannot look up %.200s "
			    "in mailbox_command_maps: %.700s", act->target,
			    lerr);
		} else if (ds == DICT_FOUND &&
		    local_command_split(buf_cstr(&v), &argv, &serr) < 0) {
			r->st = DELIVER_DEFER;
			snprintf(r->dsn, sizeof(r->dsn), "4.3.5");
			snprintf(r->text, sizeof(r->text), "mailbox_command_maps "
			    "entry for %s: %s", act->target, serr);
			free(serr);
		} else if (ds == DICT_FOUND) {
			run_command(rc, as, buf_cstr(&v), argv, act->address,
			    act->lp, is_dir(acc.home) ? acc.home : "/", r);
			if (r->st == DELIVER_OK)
				snprintf(r->text, sizeof(r->text), "delivered "
				    "to command: %s", buf_cstr(&v));
			strv_free(&argv);
		}
		buf_deinit(&v);
		if (ds != DICT_NOTFOUND)
			goto out;
	}
	if (st->mailbox_argv != NULL) {
		run_command(rc, as, st->mailbox_command, st->mailbox_argv,
		    act->address, act->lp, is_dir(acc.home) ? acc.home : "/",
		    r);
		if (r->st == DELIVER_OK)
			snprintf(r->text, sizeof(r->text), "delivered to "
			    "command: %s", st->mailbox_command);
		goto out;
	}
	memset(&job, 0, sizeof(job));
	job.sender = rc->req->sender;
	job.limit = st->limit;
	if (st->home_mailbox[0] != '\0') {
		path = xasprintf("%s%s%s", acc.home,
		    acc.home[strlen(acc.home) - 1] == '/' ? "" : "/",
		    st->home_mailbox);
		if (path[strlen(path) - 1] == '/') {
			job.kind = LOCAL_JOB_MAILDIR;
			job.need_dir = acc.home;
		} else {
			job.kind = LOCAL_JOB_MBOX;
			job.mbox_flags = LOCAL_MBOX_DOTLOCK |
			    LOCAL_MBOX_CREATE;
		}
	} else {
		struct stat sb;

		path = xasprintf("%s/%s", st->spool, acc.name);
		job.kind = LOCAL_JOB_MBOX;
		job.mbox_flags = LOCAL_MBOX_DOTLOCK | LOCAL_MBOX_CREATE;
		/* A group-writable spool (root:mail 2775): the writer needs
		 * that group for the lock file and a new mailbox. */
		if (stat(st->spool, &sb) == 0 && S_ISDIR(sb.st_mode) &&
		    (sb.st_mode & S_IWGRP) != 0 && sb.st_gid != 0)
			extra = sb.st_gid;
	}
	/* strict_mailbox_ownership: a mailbox file that belongs to
	 * someone else is not written (the delivery is deferred). */
	if (job.kind == LOCAL_JOB_MBOX && st->strict_owner)
		job.mbox_flags |= LOCAL_MBOX_OWNER;
	job.path = path;
	prefix = prefix_for(rc, act->address, false, true);
	job.prefix = prefix;
	run_job(rc, as, extra, LOCAL_MAILBOX_TIME_LIMIT, &job, r);
	if (r->st == DELIVER_OK)
		snprintf(r->text, sizeof(r->text), "delivered to %s %s",
		    job.kind == LOCAL_JOB_MAILDIR ? "maildir" : "mailbox", path);
out:
	free(prefix);
	free(path);
	account_free(&acc);
}

/*
 * run_as - the account whose rights act's file or command gets: the
 * user of the .forward that gave it, default_privs for an alias's (and
 * for root or mail_owner).  1 with *acc filled (account_free), 0 to use
 * default_privs, -1 when the user cannot be looked up (r filled).
 */
static int
run_as(const struct request_ctx *rc, const struct action *act,
    struct local_account *acc, struct local_result *r)
{
	if (act->run_as == NULL)
		return 0;
	if (account_at_delivery(act->run_as, acc, r) < 0)
		return -1;
	if (acc->uid == 0 || acc->uid == rc->st->owner_uid) {
		account_free(acc);
		return 0;
	}
	return 1;
}

/*
 * run_file - a file destination: an alias's as default_privs, a
 * .forward's as its user.
 */
static void
run_file(struct request_ctx *rc, const struct action *act,
    struct local_result *r)
{
	struct local_account acc;
	struct local_job job;
	char *prefix;
	int who;

	if (strcmp(act->target, "/dev/null") == 0) {
		r->st = DELIVER_OK;
		snprintf(r->dsn, sizeof(r->dsn), "2.0.0");
		snprintf(r->text, sizeof(r->text), "discarded (/dev/null)");
		return;
	}
	who = run_as(rc, act, &acc, r);
	if (who < 0)
		return;
	memset(&job, 0, sizeof(job));
	job.path = act->target;
	job.sender = rc->req->sender;
	job.limit = rc->st->limit;
	if (act->target[strlen(act->target) - 1] == '/')
		job.kind = LOCAL_JOB_MAILDIR;
	else {
		job.kind = LOCAL_JOB_MBOX;
		job.mbox_flags = LOCAL_MBOX_CREATE;
	}
	prefix = prefix_for(rc, act->address, false, rc->st->dt_file);
	job.prefix = prefix;
	run_job(rc, who > 0 ? &acc : &rc->st->privs, 0,
	    LOCAL_MAILBOX_TIME_LIMIT, &job, r);
	if (r->st == DELIVER_OK)
		snprintf(r->text, sizeof(r->text), "delivered to file: %s",
		    act->target);
	free(prefix);
	if (who > 0)
		account_free(&acc);
}

/*
 * verify_rcpt - a probe: the expansion x of recipient i is its answer.
 * Deliverable when it gives a destination that is not a failure (a
 * mailbox, a file, a command...), else the first failure.  Nothing is
 * run or written.
 */
static void
verify_rcpt(const struct expansion *x, size_t i, struct agent_results *res)
{
	const struct action *fail = NULL;
	size_t ndest = 0;

	for (size_t k = 0; k < x->n; k++) {
		if (x->v[k].kind != ACT_FAIL)
			ndest++;
		else if (fail == NULL)
			fail = &x->v[k];
	}
	if (ndest > 0)
		agent_set_result(res, i, DELIVER_OK, "2.0.0", NULL,
		    "deliverable: %zu local destination%s", ndest,
		    ndest == 1 ? "" : "s");
	else if (fail != NULL)
		agent_set_result(res, i, fail->st, fail->dsn, NULL, "%s",
		    fail->text);
	else
		agent_set_result(res, i, DELIVER_DEFER, "4.3.5", NULL,
		    "no local destination");
}

/* deliver_rcpt - recipient i of the request. */
static void
deliver_rcpt(struct request_ctx *rc, size_t i, struct agent_results *res)
{
	struct local_state *st = rc->st;
	const char *addr = rc->rcpt->address, *at = strrchr(addr, '@');
	struct expansion x;
	struct local_result *rr = NULL;
	char *lp, *domain;
	size_t ndo = 0, nok = 0, ndefer = 0, nbounce = 0;
	const struct local_result *first_defer = NULL, *first_bounce = NULL;
	struct buf oks;

	if (strpbrk(addr, "\r\n") != NULL || strpbrk(rc->req->sender,
	    "\r\n") != NULL) {
		agent_set_result(res, i, DELIVER_DEFER, "4.3.0", NULL,
		    "address with a line break");
		return;
	}
	lp = lower_dup(addr, at != NULL ? (size_t)(at - addr) : strlen(addr));
	domain = lower_dup(at != NULL ? at + 1 : "", at != NULL ?
	    strlen(at + 1) : 0);
	if (delivered_to_seen(rc->msg->content, rc->msg->len, addr)) {
		agent_set_result(res, i, DELIVER_BOUNCE, "5.4.6", NULL,
		    "mail forwarding loop for %s", addr);
		free(lp);
		free(domain);
		return;
	}
	memset(&x, 0, sizeof(x));
	x.st = st;
	x.req = rc->req;
	strv_init(&x.path);
	buf_init(&x.value, DICT_VALUE_MAX_BYTES);
	strv_init(&x.fwd);
	expand_name(&x, lp, domain, 0, false);
	if (!x.stop && x.n == 0)
		x_stop(&x, "4.3.5", "the aliases of %s give no destinations "
		    "(empty :include: files?)", addr);
	if (x.stop) {
		agent_set_result(res, i, DELIVER_DEFER, x.dsn, NULL, "%s",
		    x.why);
		goto out;
	}
	if ((rc->req->flags & DELIVER_F_VERIFY) != 0) {
		verify_rcpt(&x, i, res);
		goto out;
	}
	rr = xcalloc(x.n, sizeof(*rr));
	buf_init(&oks, DELIVER_FIELD_MAX);
	for (size_t k = 0; k < x.n; k++) {
		struct action *act = &x.v[k];
		struct local_result *r = &rr[k];

		switch (act->kind) {
		case ACT_FAIL:
			r->st = act->st;
			snprintf(r->dsn, sizeof(r->dsn), "%s", act->dsn);
			snprintf(r->text, sizeof(r->text), "%s", act->text);
			break;
		case ACT_MAILBOX:
			run_mailbox(rc, act, r);
			break;
		case ACT_FILE:
			run_file(rc, act, r);
			break;
		case ACT_COMMAND: {
			const char *aat = strrchr(act->address, '@');
			char *alp = xstrndup(act->address, aat != NULL ?
			    (size_t)(aat - act->address) :
			    strlen(act->address));
			struct local_account acc;
			int who = run_as(rc, act, &acc, r);

			/* A .forward's command runs as its user, in the
			 * home directory; an alias's as default_privs. */
			if (who >= 0)
				run_command(rc, who > 0 ? &acc : &st->privs,
				    act->target, NULL, act->address, alp,
				    who > 0 && is_dir(acc.home) ? acc.home :
				    "/", r);
			if (who > 0)
				account_free(&acc);
			free(alp);
			if (r->st == DELIVER_OK)
				snprintf(r->text, sizeof(r->text),
				    "delivered to command: %s", act->target);
			break;
		}
		case ACT_NONLOCAL:
			/* The queue manager queues a copy for it once the
			 * recipient's result is a success (qmgr_forward.c). */
			if (agent_add_forward(res, i, act->target) < 0) {
				r->st = DELIVER_DEFER;
				snprintf(r->dsn, sizeof(r->dsn), "4.3.5");
				snprintf(r->text, sizeof(r->text), "cannot "
				    "forward to %s (more than %d forwarding "
				    "addresses, or a bad one)", act->target,
				    DELIVER_FORWARDS_MAX);
			} else {
				r->st = DELIVER_OK;
				snprintf(r->text, sizeof(r->text), "forwarded "
				    "to %s", act->target);
			}
			break;
		}
		ndo++;
		if (r->st == DELIVER_OK) {
			nok++;
			if (oks.len > 0)
				(void)buf_append_str(&oks, "; ");
			(void)buf_append_str(&oks, r->text);
		} else if (r->st == DELIVER_DEFER) {
			ndefer++;
			if (first_defer == NULL)
				first_defer = r;
		} else {
			nbounce++;
			if (first_bounce == NULL)
				first_bounce = r;
		}
		if (r->st != DELIVER_OK)
			log_debug(1, "%s: to=<%s>: %s: %s", rc->req->queue_id,
			    addr, act->address, r->text);
	}
	if (first_defer != NULL)
		agent_set_result(res, i, DELIVER_DEFER, first_defer->dsn,
		    first_defer->remote, "%s%s", first_defer->text,
		    ndo > 1 ? " (one of the destinations of the alias)" : "");
	else if (first_bounce != NULL && nok > 0)
		agent_set_result(res, i, DELIVER_BOUNCE, first_bounce->dsn,
		    first_bounce->remote, "%s (%zu of %zu destinations of the "
		    "alias failed; the others were delivered)",
		    first_bounce->text, nbounce, ndo);
	else if (first_bounce != NULL)
		agent_set_result(res, i, DELIVER_BOUNCE, first_bounce->dsn,
		    first_bounce->remote, "%s", first_bounce->text);
	else if (nok == 1)
		agent_set_result(res, i, DELIVER_OK, rr[0].dsn, rr[0].remote,
		    "%s", rr[0].text);
	else {
		agent_set_result(res, i, DELIVER_OK, "2.0.0", NULL,
		    "delivered to %zu destinations: %s", nok, buf_cstr(&oks));
		agent_set_flags(res, i, DELIVER_R_EXPANDED);
	}
	buf_deinit(&oks);
out:
	free(rr);
	x_deinit(&x);
	free(lp);
	free(domain);
}

static void
local_deliver(struct agent_ctx *a, const struct deliver_req *req,
    const struct deliver_msg *msg, struct agent_results *res)
{
	struct local_state *st = a->priv;
	struct request_ctx rc;

	if (st == NULL) {
		agent_set_all(res, DELIVER_DEFER, "4.3.5", NULL,
		    "the local agent was not set up");
		return;
	}
	if (st->helper_lost) {
		agent_set_all(res, DELIVER_DEFER, "4.3.0", NULL,
		    "the local agent's helper process is gone (the agent is "
		    "being restarted)");
		return;
	}
	memset(&rc, 0, sizeof(rc));
	rc.st = st;
	rc.req = req;
	rc.msg = msg;
	rc.content_fd = -1;
	for (size_t i = 0; i < req->nrcpts; i++) {
		rc.rcpt = &req->rcpts[i];
		deliver_rcpt(&rc, i, res);
	}
	if (rc.content_fd >= 0)
		close(rc.content_fd);
	free(rc.content_error);
}

static const char *
local_relay(struct agent_ctx *a, const struct deliver_req *req)
{
	return "local";
}

const struct agent_def agent_local = {
	.command = "local",
	.setup = local_setup,
	.deliver = local_deliver,
	.relay = local_relay,
	.verifies = true,
};
