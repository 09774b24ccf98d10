/* SPDX-License-Identifier: MIT */
/*
 * pipe_run - run one command of the pipe delivery agent: fork and
 * execve (never a shell), the message on its standard input, the first
 * bytes of its standard output and error kept, a time limit, and the
 * verdict from its exit status (sysexits.h).
 *
 * Runs as whoever calls it (the pipe agent, after it became the user=
 * of its service).  Blocking; the agent serves one delivery at a time.
 */
#ifndef OSTIA_PIPE_RUN_H
#define OSTIA_PIPE_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"
#include "deliver_proto.h"
#include "pipe_argv.h"

/* Output of the command kept for the result text. */
#define PIPE_OUTPUT_MAX 1024

/*
 * The command's standard input: prefix (lines already ended by the
 * eol), then content (CRLF line ends; a bare LF also ends a line) with
 * each line ended by eol instead, "." before lines starting with "."
 * (PIPE_F_DOT), ">" before lines starting with "From " (PIPE_F_FROM_ESC),
 * a last line without its line end ended, and one more eol at the end
 * (PIPE_F_BLANK).
 */
struct pipe_feed {
	const char *prefix;
	const char *content;
	size_t len;
	unsigned flags;			/* PIPE_F_* (only . > B used) */
	const char *eol;
	size_t eol_len;
	/* private */
	size_t pos;
	int phase;
	struct buf stage;
	size_t stage_off;
};

void pipe_feed_init(struct pipe_feed *f, const char *prefix,
    const char *content, size_t len, unsigned flags, const char *eol,
    size_t eol_len);
void pipe_feed_deinit(struct pipe_feed *f);
/* The next bytes to write: *p_r, returns how many (0 = the end).  They
 * stay valid until pipe_feed_consume. */
size_t pipe_feed_peek(struct pipe_feed *f, const char **p_r);
void pipe_feed_consume(struct pipe_feed *f, size_t n);

/*
 * The lines flags F, O, D and R put before the message, in that order,
 * each ended by pa->eol:
 *   From SENDER DATE          (F; SENDER the null_sender text, or
 *                              MAILER-DAEMON when that is empty)
 *   X-Original-To: ORIG       (O)
 *   Delivered-To: RCPT        (D)
 *   Return-Path: <SENDER>     (R; the null sender: null_sender)
 * rcpt and orig may be NULL (no D and O lines then).  Caller frees.
 */
char *pipe_prefix(const struct pipe_args *pa, const char *sender,
    const char *rcpt, const char *orig, time_t now);

struct pipe_cmd {
	char *const *argv;	/* argv[0]: absolute path */
	char *const *envp;
	const char *directory;	/* working directory; NULL = "/" */
	unsigned timeout;	/* seconds; 0 = none */
};

enum pipe_how {
	PIPE_EXITED,		/* code: exit status */
	PIPE_SIGNALED,		/* code: the signal */
	PIPE_TIMEDOUT,		/* killed after cmd->timeout */
	PIPE_NOEXEC,		/* code: errno of chdir or execve */
	PIPE_FAILED,		/* code: errno of pipe or fork */
};

struct pipe_outcome {
	enum pipe_how how;
	int code;
	bool noexec_chdir;	/* PIPE_NOEXEC: chdir failed, not execve */
	bool input_short;	/* it did not read all of its input */
	char output[PIPE_OUTPUT_MAX + 1];	/* first bytes, NUL-ended */
	size_t output_len;
};

/*
 * Run cmd with feed as its standard input; its standard output and error
 * go to one pipe of which the first PIPE_OUTPUT_MAX bytes are kept (the
 * rest is read and dropped).  The command runs in a new session with
 * default signal dispositions and only descriptors 0, 1 and 2 open.
 * When cmd->timeout passes, the command's process group is killed
 * (SIGKILL).  The outcome is always filled.
 */
void pipe_run(const struct pipe_cmd *cmd, struct pipe_feed *feed,
    struct pipe_outcome *o);

/*
 * The delivery verdict for an outcome of command: *st and *dsn_r
 * (static), *text_r (plain words, one line; caller frees) and *remote_r
 * ("x-unix; OUTPUT" or ""; caller frees).
 *   exit 0                       OK 2.0.0
 *   64 65 66 67 68 69 70 76 77 78 BOUNCE (5.3.0 5.6.0 5.3.0 5.1.1 5.1.2
 *                                5.3.0 5.3.0 5.5.0 5.7.0 5.3.5)
 *   75, 71-74, other codes       DEFER 4.3.0
 *   a signal, the time limit, a command that cannot be run   DEFER 4.3.0
 */
void pipe_verdict(const struct pipe_outcome *o, const char *command,
    unsigned timeout, enum deliver_status *st, const char **dsn_r,
    char **text_r, char **remote_r);

/* out (one line): the bytes of in with control bytes turned into spaces,
 * runs of spaces made one, non-ASCII bytes as '?', trimmed. */
void pipe_output_line(const char *in, size_t len, char *out, size_t outsz);

#endif
