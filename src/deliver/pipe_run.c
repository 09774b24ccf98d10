/* SPDX-License-Identifier: MIT */
/*
 * pipe_run - run a pipe command; see pipe_run.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "compat.h"
#include "pipe_run.h"
#include "proc_reset.h"
#include "xalloc.h"

/* Bytes staged for the command's input at a time (whole lines). */
#define PIPE_STAGE_CHUNK (64 * 1024)
/* How often an exited command is looked for while its output stays
 * open (a background child may hold it). */
#define PIPE_REAP_POLL_MS 100

/* ------------------------------------------------------------ input */

enum { FEED_PREFIX, FEED_BODY, FEED_BLANK, FEED_DONE };

void
pipe_feed_init(struct pipe_feed *f, const char *prefix, const char *content,
    size_t len, unsigned flags, const char *eol, size_t eol_len)
{
	memset(f, 0, sizeof(*f));
	f->prefix = prefix != NULL ? prefix : "";
	f->content = content;
	f->len = len;
	f->flags = flags;
	f->eol = eol;
	f->eol_len = eol_len;
	f->phase = FEED_PREFIX;
	/* One line may be the whole message. */
	buf_init(&f->stage, strlen(f->prefix) + len + PIPE_STAGE_CHUNK +
	    4 * PIPE_EOL_MAX);
}

void
pipe_feed_deinit(struct pipe_feed *f)
{
	buf_deinit(&f->stage);
}

/* feed_line - stage the next line of the content. */
static void
feed_line(struct pipe_feed *f)
{
	const char *line = f->content + f->pos;
	const char *nl = memchr(line, '\n', f->len - f->pos);
	size_t n = nl != NULL ? (size_t)(nl - line) : f->len - f->pos;

	f->pos += nl != NULL ? n + 1 : n;
	if (n > 0 && line[n - 1] == '\r')
		n--;
	if ((f->flags & PIPE_F_DOT) != 0 && n > 0 && line[0] == '.')
		(void)buf_append_c(&f->stage, '.');
	if ((f->flags & PIPE_F_FROM_ESC) != 0 && n >= 5 &&
	    memcmp(line, "From ", 5) == 0)
		(void)buf_append_c(&f->stage, '>');
	(void)buf_append(&f->stage, line, n);
	(void)buf_append(&f->stage, f->eol, f->eol_len);
}

size_t
pipe_feed_peek(struct pipe_feed *f, const char **p_r)
{
	if (f->stage_off < f->stage.len) {
		*p_r = f->stage.data + f->stage_off;
		return f->stage.len - f->stage_off;
	}
	buf_reset(&f->stage);
	f->stage_off = 0;
	while (f->stage.len < PIPE_STAGE_CHUNK && f->phase != FEED_DONE) {
		switch (f->phase) {
		case FEED_PREFIX:
			(void)buf_append_str(&f->stage, f->prefix);
			f->phase = FEED_BODY;
			break;
		case FEED_BODY:
			if (f->pos >= f->len)
				f->phase = FEED_BLANK;
			else
				feed_line(f);
			break;
		case FEED_BLANK:
			if ((f->flags & PIPE_F_BLANK) != 0)
				(void)buf_append(&f->stage, f->eol,
				    f->eol_len);
			f->phase = FEED_DONE;
			break;
		default:
			break;
		}
	}
	*p_r = f->stage.data;
	return f->stage.len;
}

void
pipe_feed_consume(struct pipe_feed *f, size_t n)
{
	f->stage_off += n;
}

char *
pipe_prefix(const struct pipe_args *pa, const char *sender,
    const char *rcpt, const char *orig, time_t now)
{
	const char *ns = pa->null_sender != NULL ? pa->null_sender :
	    "MAILER-DAEMON";
	const char *s = sender[0] != '\0' ? sender : ns;
	struct buf b;

	buf_init(&b, SIZE_MAX / 2);
	if ((pa->flags & PIPE_F_FROM) != 0) {
		char date[64];
		struct tm tm;

		if (localtime_r(&now, &tm) == NULL ||
		    strftime(date, sizeof(date), "%a %b %e %H:%M:%S %Y",
		    &tm) == 0)
			snprintf(date, sizeof(date), "Thu Jan  1 00:00:00 "
			    "1970");
		(void)buf_appendf(&b, "From %s %s", s[0] != '\0' ? s :
		    "MAILER-DAEMON", date);
		(void)buf_append(&b, pa->eol, pa->eol_len);
	}
	if ((pa->flags & PIPE_F_ORIG) != 0 && orig != NULL) {
		(void)buf_appendf(&b, "X-Original-To: %s", orig);
		(void)buf_append(&b, pa->eol, pa->eol_len);
	}
	if ((pa->flags & PIPE_F_DELIVERED) != 0 && rcpt != NULL) {
		(void)buf_appendf(&b, "Delivered-To: %s", rcpt);
		(void)buf_append(&b, pa->eol, pa->eol_len);
	}
	if ((pa->flags & PIPE_F_RETURN) != 0) {
		(void)buf_appendf(&b, "Return-Path: <%s>", s);
		(void)buf_append(&b, pa->eol, pa->eol_len);
	}
	return buf_steal(&b);
}

/* ------------------------------------------------------------ running */

static long long
now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What the child reports through its error pipe when it cannot exec. */
struct exec_report {
	int chdir_failed;
	int err;
};

/*
 * child - in the forked process: become the command.  Only
 * async-signal-safe calls.
 */
static void ATTR_NORETURN
child(const struct pipe_cmd *cmd, int in, int out, int rep)
{
	struct exec_report r = { 0, 0 };
	ssize_t w;

	(void)setsid();
	proc_reset_signals();

	/* 0, 1, 2 and the report pipe at 3; everything else closed. */
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0 ||
	    dup2(rep, 3) < 0) {
		r.err = errno;
		w = write(rep, &r, sizeof(r));
		(void)w;
		_exit(127);
	}
	for (int i = 0; i < 3; i++)
		(void)fcntl(i, F_SETFD, 0);
	(void)fcntl(3, F_SETFD, FD_CLOEXEC);
	if (close_range(4, ~0U, 0) < 0) {
		long max = sysconf(_SC_OPEN_MAX);

		if (max < 0 || max > 65536)
			max = 65536;
		for (int i = 4; i < (int)max; i++)
			(void)close(i);
	}
	if (chdir(cmd->directory != NULL ? cmd->directory : "/") < 0) {
		r.chdir_failed = 1;
		r.err = errno;
	} else {
		execve(cmd->argv[0], cmd->argv, cmd->envp);
		r.err = errno;
	}
	w = write(3, &r, sizeof(r));
	(void)w;
	_exit(127);
}

static void
close_fd(int *fd)
{
	if (*fd >= 0) {
		(void)close(*fd);
		*fd = -1;
	}
}

static void
keep_output(struct pipe_outcome *o, const char *p, size_t n)
{
	size_t room = PIPE_OUTPUT_MAX - o->output_len;

	if (n > room)
		n = room;
	memcpy(o->output + o->output_len, p, n);
	o->output_len += n;
	o->output[o->output_len] = '\0';
}

/* kill_and_reap - kill the command's process group and wait for it. */
static int
kill_and_reap(pid_t pid)
{
	int status = 0;

	(void)kill(-pid, SIGKILL);
	(void)kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return status;
}

void
pipe_run(const struct pipe_cmd *cmd, struct pipe_feed *feed,
    struct pipe_outcome *o)
{
	int inp[2] = { -1, -1 }, outp[2] = { -1, -1 }, rep[2] = { -1, -1 };
	long long deadline = cmd->timeout > 0 ?
	    now_ms() + (long long)cmd->timeout * 1000 : 0;
	struct sigaction ign, old_pipe;
	struct exec_report r;
	size_t rlen = 0;
	bool exited = false, timed_out = false;
	int status = 0;
	pid_t pid;

	memset(o, 0, sizeof(*o));
	memset(&r, 0, sizeof(r));
	if (pipe2(inp, O_CLOEXEC) < 0 || pipe2(outp, O_CLOEXEC) < 0 ||
	    pipe2(rep, O_CLOEXEC) < 0) {
		o->how = PIPE_FAILED;
		o->code = errno;
		goto close_all;
	}
	/* A command that stops reading must not kill the agent. */
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	(void)sigaction(SIGPIPE, &ign, &old_pipe);
	pid = fork();
	if (pid < 0) {
		o->how = PIPE_FAILED;
		o->code = errno;
		(void)sigaction(SIGPIPE, &old_pipe, NULL);
		goto close_all;
	}
	if (pid == 0)
		child(cmd, inp[0], outp[1], rep[1]);
	close_fd(&inp[0]);
	close_fd(&outp[1]);
	close_fd(&rep[1]);
	(void)fcntl(inp[1], F_SETFL, O_NONBLOCK);
	(void)fcntl(outp[0], F_SETFL, O_NONBLOCK);

	while (inp[1] >= 0 || outp[0] >= 0 || rep[0] >= 0) {
		struct pollfd pfd[3];
		int n = 0, wait_ms = -1, in_i = -1, out_i = -1, rep_i = -1;

		if (inp[1] >= 0) {
			in_i = n;
			pfd[n].fd = inp[1];
			pfd[n++].events = POLLOUT;
		}
		if (outp[0] >= 0) {
			out_i = n;
			pfd[n].fd = outp[0];
			pfd[n++].events = POLLIN;
		}
		if (rep[0] >= 0) {
			rep_i = n;
			pfd[n].fd = rep[0];
			pfd[n++].events = POLLIN;
		}
		if (deadline > 0) {
			long long left = deadline - now_ms();

			if (left <= 0) {
				timed_out = true;
				break;
			}
			wait_ms = left > INT_MAX ? INT_MAX : (int)left;
		}
		if (inp[1] < 0 && rep[0] < 0) {
			/* Only the output is open: it may be held by a
			 * background process after the command ended. */
			if (waitpid(pid, &status, WNOHANG) == pid) {
				exited = true;
				break;
			}
			if (wait_ms < 0 || wait_ms > PIPE_REAP_POLL_MS)
				wait_ms = PIPE_REAP_POLL_MS;
		}
		if (poll(pfd, (nfds_t)n, wait_ms) < 0) {
			if (errno == EINTR)
				continue;
			o->how = PIPE_FAILED;
			o->code = errno;
			(void)kill_and_reap(pid);
			(void)sigaction(SIGPIPE, &old_pipe, NULL);
			goto close_all;
		}
		if (rep_i >= 0 && pfd[rep_i].revents != 0) {
			ssize_t k = read(rep[0], (char *)&r + rlen,
			    sizeof(r) - rlen);

			if (k > 0)
				rlen += (size_t)k;
			else if (k == 0 || errno != EINTR)
				close_fd(&rep[0]);
			if (rlen == sizeof(r))
				close_fd(&rep[0]);
		}
		if (out_i >= 0 && pfd[out_i].revents != 0) {
			char chunk[4096];
			ssize_t k = read(outp[0], chunk, sizeof(chunk));

			if (k > 0)
				keep_output(o, chunk, (size_t)k);
			else if (k == 0 || (errno != EINTR &&
			    errno != EAGAIN))
				close_fd(&outp[0]);
		}
		if (in_i >= 0 && pfd[in_i].revents != 0) {
			const char *p;
			size_t avail = pipe_feed_peek(feed, &p);
			ssize_t k;

			if (avail == 0) {
				close_fd(&inp[1]);
				continue;
			}
			k = write(inp[1], p, avail);
			if (k > 0)
				pipe_feed_consume(feed, (size_t)k);
			else if (k < 0 && errno != EINTR && errno != EAGAIN) {
				/* EPIPE: the command closed its input. */
				o->input_short = true;
				close_fd(&inp[1]);
			}
		}
	}
	if (exited && outp[0] >= 0) {
		/* What the command wrote before it ended. */
		char chunk[4096];
		ssize_t k;

		for (int i = 0; i < 64 && (k = read(outp[0], chunk,
		    sizeof(chunk))) > 0; i++)
			keep_output(o, chunk, (size_t)k);
	}
	if (timed_out) {
		status = kill_and_reap(pid);
		o->how = PIPE_TIMEDOUT;
	} else {
		while (!exited) {
			pid_t w = waitpid(pid, &status, deadline > 0 ?
			    WNOHANG : 0);

			if (w == pid)
				break;
			if (w < 0 && errno != EINTR) {
				o->how = PIPE_FAILED;
				o->code = errno;
				(void)sigaction(SIGPIPE, &old_pipe, NULL);
				goto close_all;
			}
			if (w == 0) {
				if (now_ms() >= deadline) {
					status = kill_and_reap(pid);
					o->how = PIPE_TIMEDOUT;
					timed_out = true;
					break;
				}
				(void)poll(NULL, 0, 20);
			}
		}
		if (!timed_out) {
			if (rlen == sizeof(r)) {
				o->how = PIPE_NOEXEC;
				o->code = r.err;
				o->noexec_chdir = r.chdir_failed != 0;
			} else if (WIFSIGNALED(status)) {
				o->how = PIPE_SIGNALED;
				o->code = WTERMSIG(status);
			} else {
				o->how = PIPE_EXITED;
				o->code = WEXITSTATUS(status);
			}
		}
	}
	(void)sigaction(SIGPIPE, &old_pipe, NULL);
close_all:
	close_fd(&inp[0]);
	close_fd(&inp[1]);
	close_fd(&outp[0]);
	close_fd(&outp[1]);
	close_fd(&rep[0]);
	close_fd(&rep[1]);
}

/* ------------------------------------------------------------ verdict */

void
pipe_output_line(const char *in, size_t len, char *out, size_t outsz)
{
	size_t n = 0;
	bool space = true;	/* drop leading spaces */

	if (outsz == 0)
		return;
	for (size_t i = 0; i < len && n + 1 < outsz; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c < 0x20 || c == 0x7f || c == ' ') {
			if (!space)
				out[n++] = ' ';
			space = true;
			continue;
		}
		out[n++] = c >= 0x80 ? '?' : (char)c;
		space = false;
	}
	while (n > 0 && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
}

static const struct {
	int code;
	const char *name;
	const char *dsn;
	const char *words;
} sysexits[] = {
	{ 64, "EX_USAGE", "5.3.0", "command line usage error" },
	{ 65, "EX_DATAERR", "5.6.0", "data format error" },
	{ 66, "EX_NOINPUT", "5.3.0", "cannot open input" },
	{ 67, "EX_NOUSER", "5.1.1", "user unknown" },
	{ 68, "EX_NOHOST", "5.1.2", "host name unknown" },
	{ 69, "EX_UNAVAILABLE", "5.3.0", "service unavailable" },
	{ 70, "EX_SOFTWARE", "5.3.0", "internal software error" },
	{ 71, "EX_OSERR", "4.3.0", "system error" },
	{ 72, "EX_OSFILE", "4.3.0", "critical system file missing" },
	{ 73, "EX_CANTCREAT", "4.3.0", "cannot create output file" },
	{ 74, "EX_IOERR", "4.3.0", "input/output error" },
	{ 75, "EX_TEMPFAIL", "4.3.0", "temporary failure" },
	{ 76, "EX_PROTOCOL", "5.5.0", "remote error in protocol" },
	{ 77, "EX_NOPERM", "5.7.0", "permission denied" },
	{ 78, "EX_CONFIG", "5.3.5", "configuration error" },
};

void
pipe_verdict(const struct pipe_outcome *o, const char *command,
    unsigned timeout, enum deliver_status *st, const char **dsn_r,
    char **text_r, char **remote_r)
{
	char line[PIPE_OUTPUT_MAX + 1];
	char *what = NULL;

	pipe_output_line(o->output, o->output_len, line, sizeof(line));
	*st = DELIVER_DEFER;
	*dsn_r = "4.3.0";
	switch (o->how) {
	case PIPE_EXITED:
		if (o->code == 0) {
			*st = DELIVER_OK;
			*dsn_r = "2.0.0";
			what = xasprintf("delivered to command %s", command);
			break;
		}
		for (size_t i = 0; i < N_ELEMENTS(sysexits); i++) {
			if (sysexits[i].code != o->code)
				continue;
			*dsn_r = sysexits[i].dsn;
			*st = sysexits[i].dsn[0] == '5' ? DELIVER_BOUNCE :
			    DELIVER_DEFER;
			what = xasprintf("command %s exited with status %d "
			    "(%s, %s)", command, o->code, sysexits[i].name,
			    sysexits[i].words);
			break;
		}
		if (what == NULL)
			what = xasprintf("command %s exited with status %d",
			    command, o->code);
		break;
	case PIPE_SIGNALED:
		what = xasprintf("command %s was killed by signal %d (%s)",
		    command, o->code, strsignal(o->code));
		break;
	case PIPE_TIMEDOUT:
		what = xasprintf("command %s did not finish within its time "
		    "limit (%u seconds: TRANSPORT_time_limit, else "
		    "command_time_limit) and was killed", command, timeout);
		break;
	case PIPE_NOEXEC:
		if (o->noexec_chdir)
			what = xasprintf("cannot run command %s: cannot "
			    "change to its directory: %s", command,
			    strerror(o->code));
		else
			what = xasprintf("cannot run command %s: %s%s",
			    command, strerror(o->code),
			    o->code == ENOENT || o->code == EACCES ?
			    " (check argv= of the pipe service in master.cf "
			    "and the user= it runs as)" : "");
		break;
	case PIPE_FAILED:
		what = xasprintf("cannot start command %s: %s", command,
		    strerror(o->code));
		break;
	}
	if (line[0] != '\0' && o->how != PIPE_NOEXEC) {
		*text_r = xasprintf("%s; output: %s", what, line);
		*remote_r = xasprintf("x-unix; %s", line);
	} else {
		*text_r = xasprintf("%s%s", what, *st != DELIVER_OK &&
		    o->how != PIPE_NOEXEC && o->how != PIPE_FAILED ?
		    " (no output)" : "");
		*remote_r = xstrdup("");
	}
	free(what);
}
