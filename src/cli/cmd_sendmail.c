/* SPDX-License-Identifier: MIT */
/*
 * cmd_sendmail - the sendmail command, and the mailq and newaliases
 * names: `ostia sendmail ARGS`, or the binary run as sendmail, mailq or
 * newaliases (a symbolic link; argv[0]'s last component decides).
 *
 * Runs as whoever calls it, with no privileges and no network: the
 * message (options and recipients as sendmail.h parses them, the
 * header block rewritten) becomes a maildrop file (maildrop.h) in
 * $queue_directory/maildrop, which the queue process picks up
 * (src/queue/pickup.c).  Root and mail_owner write it themselves;
 * anybody else through the set-group-ID helper ostia-postdrop, which
 * must sit beside the ostia binary (the real file, symbolic links
 * followed), group ostia-postdrop, mode 2755.  The helper is executed
 * directly (no shell) with an empty environment and the finished file
 * on its standard input.
 *
 * Exit status (sysexits): 0 queued (in the maildrop: pickup takes it
 * within a second), 64 usage, 65 bad message or addresses in it,
 * 67 no login name, 71 cannot run the helper, 73 cannot create the
 * file (helper not installed, permissions), 74 read or write error,
 * 75 try again later (no space, Ostia never started), 78 the
 * configuration has errors.  -bp, -bi and -q exit as `ostia queue`,
 * `ostia newaliases` and `ostia queue flush` do.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "diag.h"
#include "log.h"
#include "login_list.h"
#include "maildrop.h"
#include "msg_chars.h"
#include "queue_file.h"
#include "sendmail.h"
#include "strv.h"
#include "xalloc.h"

#define EX_CONFIG_ 78

static void
say(const char *fmt, ...) ATTR_FORMAT(1, 2);

/* say - one line on standard error, "sendmail: ...". */
static void
say(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "sendmail: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* The submitter: uid, login, full name, trusted or not. */
struct who {
	uid_t uid;
	char *login;
	char *gecos;		/* first GECOS field, or NULL */
	bool trusted;		/* root or mail_owner */
};

static int
who_init(struct who *w, const struct config_view *v)
{
	struct passwd *pw;
	uid_t owner = (uid_t)-1;

	memset(w, 0, sizeof(*w));
	w->uid = getuid();
	errno = 0;
	pw = getpwnam(config_str(v, P_mail_owner));
	if (pw != NULL)
		owner = pw->pw_uid;
	errno = 0;
	pw = getpwuid(w->uid);
	if (pw == NULL) {
		say("no login name for uid %lu: %s", (unsigned long)w->uid,
		    errno != 0 ? strerror(errno) : "no such user");
		return MAILDROP_EX_NOUSER;
	}
	if (!maildrop_login_valid(pw->pw_name)) {
		say("the login name \"%.64s\" cannot be a sender address",
		    pw->pw_name);
		return MAILDROP_EX_NOUSER;
	}
	w->login = xstrdup(pw->pw_name);
	if (pw->pw_gecos != NULL && pw->pw_gecos[0] != '\0' &&
	    pw->pw_gecos[0] != ',')
		w->gecos = xstrndup(pw->pw_gecos, strcspn(pw->pw_gecos, ","));
	w->trusted = w->uid == 0 || w->uid == owner;
	return 0;
}

static void
who_deinit(struct who *w)
{
	free(w->login);
	free(w->gecos);
}

/* read_stdin - the message, with the lone-dot rule and the limit. */
static int
read_stdin(struct sendmail_input *in, uint64_t limit)
{
	char chunk[65536];

	for (;;) {
		ssize_t n = read(0, chunk, sizeof(chunk));
		int r;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			say("cannot read the message: %s", strerror(errno));
			return MAILDROP_EX_IOERR;
		}
		if (n == 0)
			break;
		r = sendmail_input_feed(in, chunk, (size_t)n);
		if (r < 0)
			goto toolarge;
		if (r > 0)
			return 0;
	}
	if (sendmail_input_finish(in) < 0)
		goto toolarge;
	return 0;
toolarge:
	say("the message is larger than message_size_limit (%llu bytes)",
	    (unsigned long long)limit);
	return MAILDROP_EX_DATAERR;
}

/*
 * write_file - the queue file part of the maildrop file, into an
 * anonymous file (the helper's standard input).  Returns its
 * descriptor at offset 0, or -1 (said).
 */
static int
write_file(const char *id, const char *sender, char **rcpts,
    const struct sendmail_opts *o, const struct buf *content)
{
	struct queue_envelope env;
	struct queue_writer w;
	char arrival[QUEUE_ARRIVAL_BYTES];
	int fd, r = 0;

	fd = memfd_create("ostia-sendmail", MFD_CLOEXEC);
	if (fd < 0) {
		say("memfd_create: %s", strerror(errno));
		return -1;
	}
	queue_envelope_init_local(&env, id, arrival, "maildrop", "sendmail",
	    sender);
	env.ret = UNCONST(o->ret);
	env.envid = UNCONST(o->envid);
	for (size_t i = 0; rcpts[i] != NULL; i++)
		queue_envelope_add_rcpt(&env, rcpts[i], o->notify[0] != '\0' ?
		    o->notify : NULL, NULL);
	queue_writer_init(&w, fd);
	if (queue_writer_envelope(&w, &env) < 0 ||
	    queue_writer_content(&w, content->data, content->len) < 0 ||
	    queue_writer_finish(&w) < 0)
		r = -1;
	if (r < 0)
		say("cannot write the message: %s", strerror(w.error ?
		    w.error : errno));
	queue_writer_deinit(&w);
	for (size_t i = 0; i < env.nrcpts; i++) {
		free(env.rcpts[i].addr);
		free(env.rcpts[i].notify);
	}
	free(env.rcpts);
	if (r == 0 && lseek(fd, 0, SEEK_SET) < 0) {
		say("lseek: %s", strerror(errno));
		r = -1;
	}
	if (r < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * helper_path - the set-group-ID helper beside the ostia binary, when
 * it is installed right; else NULL with what to do said.
 */
static char *
helper_path(const struct cli *cli, const struct who *w)
{
	char exe[PATH_MAX];
	struct group *gr;
	struct stat st;
	char *path;

	snprintf(exe, sizeof(exe), "%s", cli->self_exe);
	path = xasprintf("%s/%s", dirname(exe), MAILDROP_HELPER);
	gr = getgrnam(MAILDROP_GROUP);
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	    (st.st_mode & S_ISGID) != 0 && (st.st_mode & S_IXOTH) != 0 &&
	    gr != NULL && st.st_gid == gr->gr_gid)
		return path;
	say("cannot submit mail as %s (uid %lu): %s is %s; only root and "
	    "mail_owner can submit without it.  As root: chgrp %s %s && "
	    "chmod 2755 %s (the group %s exists once Ostia has been started)",
	    w->login, (unsigned long)w->uid, path, access(path, F_OK) < 0 ?
	    "missing" : "not installed set-group-ID " MAILDROP_GROUP,
	    MAILDROP_GROUP, path, path, MAILDROP_GROUP);
	free(path);
	return NULL;
}

/* run_helper - ostia-postdrop DIR ID < fd; its exit status. */
static int
run_helper(const char *helper, const char *dir, const char *id, int fd)
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		say("fork: %s", strerror(errno));
		return MAILDROP_EX_OSERR;
	}
	if (pid == 0) {
		char *const argv[] = { UNCONST(helper), UNCONST(dir),
			UNCONST(id), NULL };
		char *const envp[] = { NULL };

		if (dup2(fd, 0) < 0)
			_exit(MAILDROP_EX_OSERR);
		execve(helper, argv, envp);
		fprintf(stderr, "sendmail: cannot run %s: %s\n", helper,
		    strerror(errno));
		_exit(MAILDROP_EX_OSERR);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			say("waitpid: %s", strerror(errno));
			return MAILDROP_EX_OSERR;
		}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	say("%s was killed by signal %d", helper, WTERMSIG(status));
	return MAILDROP_EX_TEMPFAIL;
}

/* drop - the file into the maildrop, directly or through the helper. */
static int
drop(const struct cli *cli, const struct config_view *v, const struct who *w,
    const char *id, int fd)
{
	char *dir = xasprintf("%s/%s", config_str(v, P_queue_directory),
	    MAILDROP_DIR);
	char err[512];
	int r;

	if (w->trusted && geteuid() == w->uid) {
		int dfd = open(dir, O_PATH | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);

		if (dfd < 0) {
			int e = errno;

			say("%s: %s%s", dir, strerror(e), e == ENOENT ?
			    " (start Ostia once to create it)" : "");
			free(dir);
			return e == ENOENT ? MAILDROP_EX_TEMPFAIL :
			    MAILDROP_EX_CANTCREAT;
		}
		r = maildrop_drop(dfd, id, w->uid, w->login, fd, 0, err,
		    sizeof(err));
		close(dfd);
		if (r != MAILDROP_EX_OK)
			say("%s", err);
	} else {
		char *helper = helper_path(cli, w);

		r = helper == NULL ? MAILDROP_EX_CANTCREAT :
		    run_helper(helper, dir, id, fd);
		free(helper);
	}
	free(dir);
	return r;
}

/* deliver - -bm: read, rewrite, drop. */
static int
deliver(struct cli *cli, const struct sendmail_opts *o)
{
	struct diag_list diags;
	struct config *cf;
	const struct config_view *v;
	struct sendmail_input in;
	struct sendmail_header_params hp;
	struct buf content;
	struct strv hrcpts, all;
	struct who w;
	struct timespec ts;
	char id[QUEUE_ID_LEN + 1];
	const char *myorigin, *why = NULL;
	static const char dash_why[] = "an address must not begin with '-' "
	    "(allow_min_user = no): it would look like an option to a "
	    "command that gets it";
	char *sender = NULL;
	uint64_t limit;
	bool dash_ok;
	int ret, fd;

	diag_list_init(&diags);
	cf = config_load(cli->config_dir, CONFIG_LOAD_NO_MASTER |
	    CONFIG_LOAD_QUIET, &diags);
	if (cf == NULL) {
		(void)cli_print_diags(&diags);
		say("the configuration in %s has errors: nothing was sent",
		    cli->config_dir);
		diag_list_deinit(&diags);
		return EX_CONFIG_;
	}
	diag_list_deinit(&diags);
	v = config_main(cf);
	dash_ok = config_bool(v, P_allow_min_user);
	myorigin = config_str(v, P_myorigin);
	limit = config_size(v, P_message_size_limit);
	memset(&content, 0, sizeof(content));
	strv_init(&hrcpts);
	strv_init(&all);
	sendmail_input_init(&in, o->ignore_dots, limit > SIZE_MAX / 4 ? 0 :
	    (size_t)limit);
	if ((ret = who_init(&w, v)) != 0)
		goto out;
	/* What pickup enforces (a user can run the drop helper without
	 * this command), said here first, in words, before any input. */
	{
		char **users = config_list(v, P_authorized_submit_users);
		char why_not[256];
		bool ok = login_list_allows((const char *const *)users,
		    w.login, why_not, sizeof(why_not));

		strv_free(&users);
		if (!ok) {
			say("%s (uid %lu) may not submit mail: %s "
			    "(authorized_submit_users in %s/main.cf)", w.login,
			    (unsigned long)w.uid, why_not, cli->config_dir);
			ret = MAILDROP_EX_NOPERM;
			goto out;
		}
	}

	/* The sender: -f only for root and mail_owner. */
	if (o->sender != NULL && w.trusted) {
		sender = sendmail_canon_address(o->sender, myorigin, true, &why);
		if (sender == NULL) {
			say("-f %.200s: %s", o->sender, why);
			ret = MAILDROP_EX_USAGE;
			goto out;
		}
		if (sender[0] == '-' && !dash_ok) {
			say("-f %.200s: %s", o->sender, dash_why);
			ret = MAILDROP_EX_USAGE;
			goto out;
		}
	} else {
		sender = xasprintf("%s@%s", w.login, myorigin);
		if (o->sender != NULL) {
			char *want = sendmail_canon_address(o->sender,
			    myorigin, true, &why);

			if (want == NULL || strcmp(want, sender) != 0)
				say("warning: -f %.200s ignored: only root "
				    "and mail_owner may choose the sender; it "
				    "is %s", o->sender, sender);
			free(want);
		}
	}
	for (size_t i = 0; i < o->rcpts.n; i++) {
		char *a = sendmail_canon_address(o->rcpts.v[i], myorigin,
		    false, &why);

		if (a == NULL || (a[0] == '-' && !dash_ok)) {
			say("recipient %.200s: %s", o->rcpts.v[i],
			    a == NULL ? why : dash_why);
			free(a);
			ret = MAILDROP_EX_USAGE;
			goto out;
		}
		strv_add_take(&all, a);
	}

	if ((ret = read_stdin(&in, limit)) != 0)
		goto out;
	clock_gettime(CLOCK_REALTIME, &ts);
	queue_id_new(id, (uint64_t)ts.tv_sec * 1000000u +
	    (uint64_t)ts.tv_nsec / 1000, 0, getpid());
	buf_init(&content, in.msg.len + 64 * 1024);
	memset(&hp, 0, sizeof(hp));
	hp.extract = o->extract;
	hp.from_addr = sender;
	hp.fullname = o->fullname != NULL ? o->fullname : w.gecos;
	hp.myhostname = config_str(v, P_myhostname);
	hp.id = id;
	hp.now = ts.tv_sec;
	if (sendmail_headers(in.msg.data != NULL ? in.msg.data : "",
	    in.msg.len, &hp, &content, &hrcpts, &why) < 0) {
		say("%s", why);
		ret = MAILDROP_EX_DATAERR;
		goto out;
	}
	if (limit != 0 && content.len > limit) {
		say("the message is larger than message_size_limit (%llu "
		    "bytes)", (unsigned long long)limit);
		ret = MAILDROP_EX_DATAERR;
		goto out;
	}
	{
		struct msg_chars rc;
		int bad;

		(void)msg_chars_parse(config_str(v,
		    P_message_reject_characters), &rc, NULL, 0);
		bad = msg_chars_find(&rc, content.data, content.len);
		if (bad >= 0) {
			say("the message contains the byte \\%03o, which "
			    "message_reject_characters in %s/main.cf refuses",
			    (unsigned)bad, cli->config_dir);
			ret = MAILDROP_EX_DATAERR;
			goto out;
		}
	}
	for (size_t i = 0; i < hrcpts.n; i++) {
		char *a = sendmail_canon_address(hrcpts.v[i], myorigin, false,
		    &why);

		if (a == NULL || (a[0] == '-' && !dash_ok)) {
			say("recipient %.200s in the headers: %s", hrcpts.v[i],
			    a == NULL ? why : dash_why);
			free(a);
			ret = MAILDROP_EX_DATAERR;
			goto out;
		}
		strv_add_take(&all, a);
	}
	if (all.n == 0) {
		say("no recipients: the headers name none (-t reads To:, Cc: "
		    "and Bcc:)");
		ret = MAILDROP_EX_DATAERR;
		goto out;
	}
	if (all.n > SENDMAIL_RCPTS_MAX) {
		say("more than %d recipients", SENDMAIL_RCPTS_MAX);
		ret = MAILDROP_EX_DATAERR;
		goto out;
	}
	fd = write_file(id, sender, all.v, o, &content);
	if (fd < 0) {
		ret = MAILDROP_EX_IOERR;
		goto out;
	}
	ret = drop(cli, v, &w, id, fd);
	close(fd);
	if (ret == MAILDROP_EX_OK && o->verbose)
		printf("queued as %s\n", id);
out:
	free(sender);
	who_deinit(&w);
	sendmail_input_deinit(&in);
	buf_deinit(&content);
	strv_deinit(&hrcpts);
	strv_deinit(&all);
	config_free(&cf);
	return ret;
}

int
cmd_sendmail(struct cli *cli, int argc, char **argv)
{
	struct sendmail_opts o;
	const char *base = strrchr(argv[0], '/');
	char **args, err[512];
	int n = 0, ret;

	log_init("sendmail", NULL, LOG_STYLE_COMMAND);
	base = base != NULL ? base + 1 : argv[0];
	/* mailq = sendmail -bp, newaliases = sendmail -bi. */
	args = xcalloc((size_t)argc + 2, sizeof(*args));
	args[n++] = argv[0];
	if (strcmp(base, "mailq") == 0)
		args[n++] = UNCONST("-bp");
	else if (strcmp(base, "newaliases") == 0)
		args[n++] = UNCONST("-bi");
	for (int i = 1; i < argc; i++)
		args[n++] = argv[i];
	if (sendmail_parse_args(n, args, &o, err, sizeof(err)) < 0) {
		say("%s", err);
		say("usage: sendmail [-t] [-i] [-f SENDER] [-F NAME] [-N DSN] "
		    "[-v] [-bm|-bp|-bi] [-q] [--] [RECIPIENT...]");
		ret = MAILDROP_EX_USAGE;
		goto out;
	}
	for (size_t i = 0; i < o.warnings.n; i++)
		say("warning: %s", o.warnings.v[i]);
	if (o.config_dir != NULL)
		cli->config_dir = o.config_dir;
	switch (o.mode) {
	case SENDMAIL_MODE_DELIVER:
		ret = deliver(cli, &o);
		break;
	case SENDMAIL_MODE_MAILQ: {
		char *qa[] = { UNCONST("queue"), NULL };

		ret = cmd_queue(cli, 1, qa);
		break;
	}
	case SENDMAIL_MODE_NEWALIASES: {
		char *na[] = { UNCONST("newaliases"), NULL };

		ret = cmd_newaliases(cli, 1, na);
		break;
	}
	case SENDMAIL_MODE_FLUSH: {
		char *fa[5] = { UNCONST("queue"), UNCONST("flush"), NULL,
			NULL, NULL };
		int fn = 2;

		if (o.flush_site != NULL) {
			fa[fn++] = UNCONST("-d");
			fa[fn++] = UNCONST(o.flush_site);
		} else if (o.flush_id != NULL) {
			fa[fn++] = UNCONST(o.flush_id);
		}
		ret = cmd_queue(cli, fn, fa);
		break;
	}
	case SENDMAIL_MODE_SMTP:
		say("-bs (SMTP on standard input) is not supported yet; "
		    "send through the SMTP server, or give the message on "
		    "standard input without -bs");
		ret = MAILDROP_EX_USAGE;
		break;
	case SENDMAIL_MODE_DAEMON:
		say("-bd and -qINTERVAL (a daemon) are not supported: Ostia "
		    "is started with `ostia start`, and its queue manager "
		    "retries deferred mail on its own");
		ret = MAILDROP_EX_USAGE;
		break;
	case SENDMAIL_MODE_VERIFY:
	default:
		say("-bv (address verification) is not supported; `ostia "
		    "route ADDRESS` shows where an address goes");
		ret = MAILDROP_EX_USAGE;
		break;
	}
out:
	sendmail_opts_deinit(&o);
	free(args);
	if (fflush(stdout) != 0 && ret == 0)
		ret = MAILDROP_EX_IOERR;
	return ret;
}
