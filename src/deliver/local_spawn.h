/* SPDX-License-Identifier: MIT */
/*
 * local_spawn - the local delivery agent's delivery processes, and the
 * small privileged helper that starts them as the recipient's user.
 *
 * Why: local(8) writes as the recipient (a mailbox in /var/mail, a
 * Maildir in the home directory, the user's mailbox_command, an alias's
 * command as default_privs), so something must be able to become any
 * user.  The agent process itself runs as mail_owner like every other
 * agent (the framework refuses root), so that something is a helper
 * forked from it before the privilege drop (local_spawner_start, from
 * the agent's setup, as root), which keeps root and does nothing else:
 *
 *   agent (mail_owner)  --- spawn request: uid, gid, groups, time limit,
 *        |                  + one end of a fresh socketpair  --->  helper
 *        |                                                         (root)
 *        |                                          fork, setgroups,
 *        |                                          setresgid, setresuid
 *        |                                                |
 *        +--- job: what to write where, the message ---> worker (the user)
 *        <--- result: status, DSN code, text ---------------+
 *
 * The helper reads one fixed-size request at a time from the agent
 * (and nothing else: no message content, no configuration, no lookups),
 * refuses uid 0, gid 0, group 0 and mail_owner's uid, forks, and in the
 * child switches to the user for good (checked: root cannot be
 * regained) before anything of the job is read.  The worker then reads
 * the job and the message (a sealed memfd: it cannot change it for the
 * next worker), delivers (mbox.h, maildir.h, pipe_run.h), sends one
 * result and exits; alarm() bounds its life.  Not root (development,
 * tests): the helper switches nothing and every delivery runs as the
 * agent's own user.
 *
 * A compromised agent (mail_owner) can thus become any user but root
 * and mail_owner; Postfix's local(8) runs as root throughout.
 */
#ifndef OSTIA_LOCAL_SPAWN_H
#define OSTIA_LOCAL_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "deliver_proto.h"

/* Supplementary groups a worker may have. */
#define LOCAL_GROUPS_MAX 64
/* Largest encoded job (paths, header lines, a command's words and
 * environment). */
#define LOCAL_JOB_MAX_BYTES (64 * 1024)
/* Most seconds a worker may live (its alarm). */
#define LOCAL_WORKER_TIME_MAX (7 * 24 * 3600)

struct local_spawner;

/*
 * Fork the helper.  Call it before the privilege drop; when root it
 * stays root, when not it runs workers as itself.  forbidden_uid: a uid
 * no worker may have (mail_owner's; ignored when not root).  NULL with
 * *error_r (caller frees) when the socketpair or the fork fails.
 */
struct local_spawner *local_spawner_start(uid_t forbidden_uid,
    char **error_r);
/* Close the helper's socket (it exits) and reap it; *sp = NULL. */
void local_spawner_stop(struct local_spawner **sp);
/* True when the helper can switch users (it started as root). */
bool local_spawner_privileged(const struct local_spawner *s);

struct local_creds {
	uid_t uid;
	gid_t gid;
	gid_t groups[LOCAL_GROUPS_MAX];	/* supplementary groups */
	size_t ngroups;
};

enum local_job_kind {
	LOCAL_JOB_MBOX = 1,	/* append to an mbox file */
	LOCAL_JOB_MAILDIR = 2,	/* a new file in a Maildir */
	LOCAL_JOB_COMMAND = 3,	/* the message on a command's input */
	LOCAL_JOB_READ = 4,	/* read a small file as the user
				 * (local_spawn_read) */
};

/* LOCAL_JOB_MBOX flags. */
#define LOCAL_MBOX_DOTLOCK	(1u << 0)
#define LOCAL_MBOX_CREATE	(1u << 1)
#define LOCAL_MBOX_OWNER	(1u << 2)	/* must belong to the uid */

struct local_job {
	enum local_job_kind kind;
	const char *path;	/* MBOX: the file; MAILDIR: the directory;
				 * READ: the file */
	const char *prefix;	/* lines before the message (LF ends); for
				 * COMMAND the From_ line included */
	const char *sender;	/* MBOX: for the From_ line */
	const char *need_dir;	/* MAILDIR: a directory that must exist
				 * first (the home), or NULL */
	uint64_t limit;		/* MBOX, MAILDIR: mailbox_size_limit;
				 * READ: most bytes */
	unsigned mbox_flags;	/* LOCAL_MBOX_* */
	char *const *argv;	/* COMMAND: the words; argv[0] absolute or
				 * looked for in /usr/local/bin, /usr/bin,
				 * /bin */
	char *const *envp;	/* COMMAND */
	const char *directory;	/* COMMAND: working directory */
	unsigned timeout;	/* COMMAND: seconds (command_time_limit) */
};

/* A worker's answer; text and remote are single lines. */
struct local_result {
	enum deliver_status st;
	char dsn[16];
	char text[DELIVER_FIELD_MAX + 1];
	char remote[DELIVER_FIELD_MAX + 1];
};

/*
 * The message for the workers: a sealed memfd (no writes, no resizing)
 * holding content.  The descriptor (close-on-exec), or -1 with *error_r.
 */
int local_content_fd(const char *content, size_t len, char **error_r);

/*
 * Run job as creds, with the message (content_fd, content_len bytes),
 * and wait for its result at most time_limit + 10 seconds (time_limit:
 * the worker's alarm, 1..LOCAL_WORKER_TIME_MAX).  *r is always filled
 * (a failure to start, a worker that dies or a timeout is a DEFER 4.3.0
 * that says so).  0, or -1 when the helper is gone (the agent cannot
 * deliver any more and should be restarted).
 */
int local_spawn_run(struct local_spawner *s, const struct local_creds *c,
    unsigned time_limit, const struct local_job *job, int content_fd,
    size_t content_len, struct local_result *r);

/* Most bytes local_spawn_read returns. */
#define LOCAL_READ_MAX_BYTES (64 * 1024)

enum local_read_state {
	LOCAL_READ_ABSENT = 1,	/* no such file (ENOENT, ENOTDIR), or
				 * EACCES on the way to it */
	LOCAL_READ_FOUND = 2,	/* *data_r has its bytes */
	LOCAL_READ_IGNORED = 3,	/* there, but not to be used: a symbolic
				 * link, not a regular file, owned by
				 * another user than the worker's or root,
				 * or world-writable (r->text says which) */
};

/*
 * Read the file path (absolute) as creds, for the recipient's own
 * files (~/.forward) that mail_owner may not be able to read.  The
 * worker opens it without following a symbolic link, checks it as
 * LOCAL_READ_IGNORED says, and sends at most max (<=
 * LOCAL_READ_MAX_BYTES) bytes back with its answer.  0 with *state_r
 * (and, for FOUND, *data_r: a new NUL-terminated string of *len_r
 * bytes, which may hold NULs: the worker runs as the user, so treat
 * them as untrusted input); 0 with r->st DEFER when it could not be
 * read (an I/O error, larger than max, a worker that died; r->text says
 * why); -1 as local_spawn_run (the helper is gone).  *r is always
 * filled.
 */
int local_spawn_read(struct local_spawner *s, const struct local_creds *c,
    const char *path, size_t max, enum local_read_state *state_r,
    char **data_r, size_t *len_r, struct local_result *r);

#endif
