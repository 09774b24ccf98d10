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
 * `ostia newaliases` and `ostia queue flush` do.  -bs (an SMTP session
 * on standard input and output, smtp_bs.h) queues each message as -bm
 * does and answers in SMTP replies; it exits 0 unless it could not run.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
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
#include "smtp_bs.h"
#include "strv.h"
#include "xalloc.h"

#define EX_CONFIG_ 78

static void
say(const char *fmt, ...) ATTR_FORMAT(1, 2);

/* With -bs, the last thing said also goes into the SMTP reply. */
static struct buf *said;

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
	if (said != NULL) {
		buf_reset(said);
		va_start(ap, fmt);
		(void)buf_vappendf(said, fmt, ap);
		va_end(ap);
	}
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
/* The DSN requests of one message (RFC 3461). */
struct dsn_req {
	const char *notify;	/* for every recipient, or NULL */
	const char *const *rcpt_notify;	/* per recipient (NULL: none) */
	const char *const *orcpts;	/* per recipient (NULL: none) */
	const char *ret;	/* "FULL", "HDRS" or NULL */
	const char *envid;	/* NULL: none */
};

static int
write_file(const char *id, const char *sender, char **rcpts,
    const struct dsn_req *dsn, const struct buf *content)
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
	env.ret = UNCONST(dsn->ret);
	env.envid = UNCONST(dsn->envid);
	for (size_t i = 0; rcpts[i] != NULL; i++) {
		const char *n = dsn->notify;

		if (dsn->rcpt_notify != NULL && dsn->rcpt_notify[i] != NULL &&
		    dsn->rcpt_notify[i][0] != '\0')
			n = dsn->rcpt_notify[i];
		queue_envelope_add_rcpt(&env, rcpts[i], n, dsn->orcpts != NULL ?
		    dsn->orcpts[i] : NULL);
	}
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
		free(env.rcpts[i].orcpt);
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

char *
cli_postdrop_helper(const struct cli *cli, const char *what)
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
	log_error("cannot %s: %s is %s; only root and mail_owner can do "
	    "without it.  As root: chgrp %s %s && chmod 2755 %s (the group "
	    "%s exists once Ostia has been started)", what, path,
	    access(path, F_OK) < 0 ? "missing" :
	    "not installed set-group-ID " MAILDROP_GROUP, MAILDROP_GROUP, path,
	    path, MAILDROP_GROUP);
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
		char what[128];
		char *helper;

		snprintf(what, sizeof(what), "submit mail as %s (uid %lu)",
		    w->login, (unsigned long)w->uid);
		helper = cli_postdrop_helper(cli, what);

		r = helper == NULL ? MAILDROP_EX_CANTCREAT :
		    run_helper(helper, dir, id, fd);
		free(helper);
	}
	free(dir);
	return r;
}

/* What every submission of one command needs. */
struct submitter {
	struct cli *cli;
	struct config *cf;
	const struct config_view *v;
	struct who w;
	const char *myorigin;
	uint64_t limit;		/* message_size_limit, 0: none */
	bool dash_ok;		/* allow_min_user */
};

static const char dash_why[] = "an address must not begin with '-' "
    "(allow_min_user = no): it would look like an option to a command "
    "that gets it";

static void
submitter_close(struct submitter *sb)
{
	who_deinit(&sb->w);
	config_free(&sb->cf);
}

/*
 * submitter_open - the configuration and the submitter.  0, or an exit
 * status (said); MAILDROP_EX_NOPERM when authorized_submit_users refuses
 * the user, with the reason in refused (also said).  Close it either way.
 */
static int
submitter_open(struct submitter *sb, struct cli *cli, char *refused,
    size_t refusedsz)
{
	struct diag_list diags;
	int ret;

	memset(sb, 0, sizeof(*sb));
	sb->cli = cli;
	diag_list_init(&diags);
	sb->cf = config_load(cli->config_dir, CONFIG_LOAD_NO_MASTER |
	    CONFIG_LOAD_QUIET, &diags);
	if (sb->cf == NULL) {
		(void)cli_print_diags(&diags);
		say("the configuration in %s has errors: nothing was sent",
		    cli->config_dir);
		diag_list_deinit(&diags);
		return EX_CONFIG_;
	}
	diag_list_deinit(&diags);
	sb->v = config_main(sb->cf);
	sb->dash_ok = config_bool(sb->v, P_allow_min_user);
	sb->myorigin = config_str(sb->v, P_myorigin);
	sb->limit = config_size(sb->v, P_message_size_limit);
	if ((ret = who_init(&sb->w, sb->v)) != 0)
		return ret;
	/* What pickup enforces (a user can run the drop helper without
	 * this command), said here first, in words, before any input. */
	{
		char **users = config_list(sb->v, P_authorized_submit_users);
		char why_not[256];
		bool ok = login_list_allows((const char *const *)users,
		    sb->w.login, why_not, sizeof(why_not));

		strv_free(&users);
		if (!ok) {
			snprintf(refused, refusedsz, "%s (uid %lu) may not "
			    "submit mail: %s (authorized_submit_users in "
			    "%s/main.cf)", sb->w.login,
			    (unsigned long)sb->w.uid, why_not,
			    cli->config_dir);
			say("%s", refused);
			return MAILDROP_EX_NOPERM;
		}
	}
	return 0;
}

/*
 * choose_sender - the envelope sender: what was asked (-f, MAIL FROM)
 * for root and mail_owner, login@$myorigin for anybody else (with a
 * warning when they asked for another).  A new string, or NULL (said;
 * *ret_r the exit status).
 */
static char *
choose_sender(const struct submitter *sb, const char *asked,
    const char *what, bool warn, int *ret_r)
{
	const char *why = NULL;
	char *sender;

	*ret_r = MAILDROP_EX_USAGE;
	if (asked != NULL && sb->w.trusted) {
		sender = sendmail_canon_address(asked, sb->myorigin, true, &why);
		if (sender == NULL) {
			say("%s %.200s: %s", what, asked, why);
			return NULL;
		}
		if (sender[0] == '-' && !sb->dash_ok) {
			say("%s %.200s: %s", what, asked, dash_why);
			free(sender);
			return NULL;
		}
		*ret_r = MAILDROP_EX_OK;
		return sender;
	}
	*ret_r = MAILDROP_EX_OK;
	sender = xasprintf("%s@%s", sb->w.login, sb->myorigin);
	if (asked != NULL && warn) {
		char *want = sendmail_canon_address(asked, sb->myorigin, true,
		    &why);

		if (want == NULL || strcmp(want, sender) != 0)
			say("warning: %s %.200s ignored: only root and "
			    "mail_owner may choose the sender; it is %s", what,
			    asked, sender);
		free(want);
	}
	return sender;
}

/* add_rcpt - a recipient in envelope form to all; 0, or -1 (said). */
static int
add_rcpt(const struct submitter *sb, const char *addr, const char *where,
    struct strv *all)
{
	const char *why = NULL;
	char *a = sendmail_canon_address(addr, sb->myorigin, false, &why);

	if (a == NULL || (a[0] == '-' && !sb->dash_ok)) {
		say("recipient %.200s%s: %s", addr, where, a == NULL ? why :
		    dash_why);
		free(a);
		return -1;
	}
	strv_add_take(all, a);
	return 0;
}

/* One message to submit. */
struct submission {
	const char *sender;	/* envelope form (choose_sender) */
	struct strv *rcpts;	/* envelope form; -t adds to it */
	const struct dsn_req *dsn;
	bool extract;		/* -t */
	const char *fullname;	/* -F, or NULL */
	const char *msg;	/* CRLF lines */
	size_t len;
};

/*
 * submit - rewrite the header block, check the message, drop it.  The
 * exit status (0: in the maildrop, its queue ID in id); problems said.
 */
static int
submit(struct submitter *sb, const struct submission *m,
    char id[QUEUE_ID_LEN + 1])
{
	struct sendmail_header_params hp;
	struct buf content;
	struct strv hrcpts;
	struct timespec ts;
	const char *why = NULL;
	size_t first_header_rcpt = m->rcpts->n;
	int ret, fd;

	strv_init(&hrcpts);
	clock_gettime(CLOCK_REALTIME, &ts);
	queue_id_new(id, (uint64_t)ts.tv_sec * 1000000u +
	    (uint64_t)ts.tv_nsec / 1000, 0, getpid());
	buf_init(&content, m->len + 64 * 1024);
	memset(&hp, 0, sizeof(hp));
	hp.extract = m->extract;
	hp.from_addr = m->sender;
	hp.fullname = m->fullname != NULL ? m->fullname : sb->w.gecos;
	hp.myhostname = config_str(sb->v, P_myhostname);
	hp.id = id;
	hp.now = ts.tv_sec;
	if (sendmail_headers(m->msg, m->len, &hp, &content, &hrcpts,
	    &why) < 0) {
		say("%s", why);
		ret = MAILDROP_EX_DATAERR;
		goto out;
	}
	if (sb->limit != 0 && content.len > sb->limit) {
		say("the message is larger than message_size_limit (%llu "
		    "bytes)", (unsigned long long)sb->limit);
		ret = MAILDROP_EX_DATAERR;
		goto out;
	}
	{
		struct msg_chars rc;
		int bad;

		(void)msg_chars_parse(config_str(sb->v,
		    P_message_reject_characters), &rc, NULL, 0);
		bad = msg_chars_find(&rc, content.data, content.len);
		if (bad >= 0) {
			say("the message contains the byte \\%03o, which "
			    "message_reject_characters in %s/main.cf refuses",
			    (unsigned)bad, sb->cli->config_dir);
			ret = MAILDROP_EX_DATAERR;
			goto out;
		}
	}
	for (size_t i = 0; i < hrcpts.n; i++)
		if (add_rcpt(sb, hrcpts.v[i], " in the headers", m->rcpts) <
		    0) {
			ret = MAILDROP_EX_DATAERR;
			goto out;
		}
	if (m->rcpts->n == 0) {
		say("no recipients: the headers name none (-t reads To:, Cc: "
		    "and Bcc:)");
		ret = MAILDROP_EX_DATAERR;
		goto out;
	}
	if (m->rcpts->n > SENDMAIL_RCPTS_MAX) {
		say("more than %d recipients", SENDMAIL_RCPTS_MAX);
		ret = MAILDROP_EX_DATAERR;
		goto out;
	}
	/* Per-recipient DSN data covers the envelope's own recipients. */
	if (m->rcpts->n != first_header_rcpt && (m->dsn->rcpt_notify != NULL ||
	    m->dsn->orcpts != NULL)) {
		say("internal error: recipients from the headers with "
		    "per-recipient DSN requests");
		ret = MAILDROP_EX_SOFTWARE;
		goto out;
	}
	fd = write_file(id, m->sender, m->rcpts->v, m->dsn, &content);
	if (fd < 0) {
		ret = MAILDROP_EX_IOERR;
		goto out;
	}
	ret = drop(sb->cli, sb->v, &sb->w, id, fd);
	close(fd);
out:
	buf_deinit(&content);
	strv_deinit(&hrcpts);
	return ret;
}

/* deliver - -bm: read, rewrite, drop. */
static int
deliver(struct cli *cli, const struct sendmail_opts *o)
{
	struct submitter sb;
	struct sendmail_input in;
	struct submission m;
	struct dsn_req dsn;
	struct strv all;
	char id[QUEUE_ID_LEN + 1], refused[512];
	char *sender = NULL;
	int ret;

	strv_init(&all);
	memset(&in, 0, sizeof(in));
	if ((ret = submitter_open(&sb, cli, refused, sizeof(refused))) != 0)
		goto out;
	sendmail_input_init(&in, o->ignore_dots, sb.limit > SIZE_MAX / 4 ?
	    0 : (size_t)sb.limit);
	sender = choose_sender(&sb, o->sender, "-f", true, &ret);
	if (sender == NULL)
		goto out;
	for (size_t i = 0; i < o->rcpts.n; i++)
		if (add_rcpt(&sb, o->rcpts.v[i], "", &all) < 0) {
			ret = MAILDROP_EX_USAGE;
			goto out;
		}
	if ((ret = read_stdin(&in, sb.limit)) != 0)
		goto out;
	memset(&dsn, 0, sizeof(dsn));
	dsn.notify = o->notify[0] != '\0' ? o->notify : NULL;
	dsn.ret = o->ret;
	dsn.envid = o->envid;
	memset(&m, 0, sizeof(m));
	m.sender = sender;
	m.rcpts = &all;
	m.dsn = &dsn;
	m.extract = o->extract;
	m.fullname = o->fullname;
	m.msg = in.msg.data != NULL ? in.msg.data : "";
	m.len = in.msg.len;
	ret = submit(&sb, &m, id);
	if (ret == MAILDROP_EX_OK && o->verbose)
		printf("queued as %s\n", id);
out:
	free(sender);
	submitter_close(&sb);
	sendmail_input_deinit(&in);
	strv_deinit(&all);
	return ret;
}

/* bs_submit - a message of the -bs session (smtp_bs_submit_fn). */
static void
bs_submit(void *ctx, const struct smtp_bs_message *bm, struct buf *reply)
{
	struct submitter *sb = ctx;
	struct submission m;
	struct dsn_req dsn;
	struct strv all;
	struct buf last;
	char id[QUEUE_ID_LEN + 1];
	char **notes;
	int ret = MAILDROP_EX_OK;
	char *sender = NULL;

	strv_init(&all);
	buf_init(&last, 1024);
	said = &last;
	notes = xcalloc(bm->nrcpts + 1, sizeof(*notes));
	/* The session already chose the sender (forced_sender). */
	sender = choose_sender(sb, bm->sender, "MAIL FROM", false, &ret);
	for (size_t i = 0; sender != NULL && i < bm->nrcpts; i++) {
		char nt[32];

		if (add_rcpt(sb, bm->rcpts[i], "", &all) < 0) {
			ret = MAILDROP_EX_USAGE;
			break;
		}
		if (bm->notify[i] != 0)
			notes[i] = xstrdup(smtp_notify_text(bm->notify[i], nt,
			    sizeof(nt)));
	}
	if (sender != NULL && ret == MAILDROP_EX_OK) {
		memset(&dsn, 0, sizeof(dsn));
		dsn.rcpt_notify = (const char *const *)notes;
		dsn.orcpts = bm->orcpts;
		dsn.ret = bm->ret == SMTP_RET_FULL ? "FULL" :
		    bm->ret == SMTP_RET_HDRS ? "HDRS" : NULL;
		dsn.envid = bm->envid;
		memset(&m, 0, sizeof(m));
		m.sender = sender;
		m.rcpts = &all;
		m.dsn = &dsn;
		m.msg = bm->data;
		m.len = bm->len;
		ret = submit(sb, &m, id);
	}
	said = NULL;
	switch (ret) {
	case MAILDROP_EX_OK:
		(void)buf_appendf(reply, "250 2.0.0 Ok: queued as %s", id);
		break;
	case MAILDROP_EX_USAGE:
		(void)buf_appendf(reply, "553 5.1.3 %s", buf_cstr(&last));
		break;
	case MAILDROP_EX_DATAERR:
		(void)buf_appendf(reply, "554 5.6.0 %s", buf_cstr(&last));
		break;
	case MAILDROP_EX_NOPERM:
		(void)buf_appendf(reply, "554 5.7.1 %s", buf_cstr(&last));
		break;
	default:
		(void)buf_appendf(reply, "451 4.3.0 %s", last.len > 0 ?
		    buf_cstr(&last) : "the message was not queued");
		break;
	}
	for (size_t i = 0; i < bm->nrcpts; i++)
		free(notes[i]);
	free(notes);
	free(sender);
	buf_deinit(&last);
	strv_deinit(&all);
}

/* write_all - all of b to standard output; -1 when it is closed. */
static int
write_all(struct buf *b)
{
	size_t off = 0;

	while (off < b->len) {
		ssize_t n = write(1, b->data + off, b->len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	buf_reset(b);
	return 0;
}

/*
 * smtp_stdio - -bs: an SMTP session on standard input and output
 * (smtp_bs.h); each message is queued as -bm queues one.  Idle for
 * smtpd_timeout: 421 and the end.  Exit status 0 unless the session
 * could not run (configuration, login) or standard output broke.
 */
static int
smtp_stdio(struct cli *cli)
{
	struct submitter sb;
	struct smtp_bs_params p;
	struct smtp_bs bs;
	struct buf out;
	char refused[512], *forced = NULL;
	char chunk[65536];
	long timeout_ms;
	int ret;

	refused[0] = '\0';
	ret = submitter_open(&sb, cli, refused, sizeof(refused));
	if (ret != 0 && ret != MAILDROP_EX_NOPERM) {
		submitter_close(&sb);
		return ret;
	}
	if (!sb.w.trusted)
		forced = xasprintf("%s@%s", sb.w.login, sb.myorigin);
	memset(&p, 0, sizeof(p));
	p.myhostname = config_str(sb.v, P_myhostname);
	p.mail_name = config_str(sb.v, P_mail_name);
	p.myorigin = sb.myorigin;
	p.forced_sender = forced;
	p.refuse_text = refused[0] != '\0' ? refused : NULL;
	p.max_size = sb.limit;
	p.max_rcpts = (size_t)config_int(sb.v, P_smtpd_recipient_limit);
	p.error_limit = (unsigned)config_int(sb.v, P_smtpd_hard_error_limit);
	p.submit = bs_submit;
	p.ctx = &sb;
	timeout_ms = (long)config_time(sb.v, P_smtpd_timeout) * 1000;
	if (timeout_ms <= 0 || timeout_ms > 86400000L)
		timeout_ms = 300000;
	buf_init(&out, (size_t)32 << 20);
	smtp_bs_init(&bs, &p);
	ret = MAILDROP_EX_OK;
	for (;;) {
		struct pollfd pf = { .fd = 0, .events = POLLIN };
		ssize_t n;
		int pr;

		smtp_bs_take_output(&bs, &out);
		if (write_all(&out) < 0) {
			ret = MAILDROP_EX_IOERR;
			break;
		}
		if (bs.done)
			break;
		pr = poll(&pf, 1, (int)timeout_ms);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr == 0) {
			(void)buf_appendf(&out, "421 4.4.2 %s Error: timeout "
			    "exceeded\r\n", p.myhostname);
			(void)write_all(&out);
			break;
		}
		n = read(0, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			smtp_bs_eof(&bs);
			smtp_bs_take_output(&bs, &out);
			(void)write_all(&out);
			break;
		}
		(void)smtp_bs_feed(&bs, chunk, (size_t)n);
	}
	smtp_bs_deinit(&bs);
	buf_deinit(&out);
	free(forced);
	submitter_close(&sb);
	return p.refuse_text != NULL ? MAILDROP_EX_NOPERM : ret;
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
		    "[-v] [-bm|-bp|-bi|-bs] [-q] [--] [RECIPIENT...]");
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
		ret = smtp_stdio(cli);
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
