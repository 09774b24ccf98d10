/* SPDX-License-Identifier: MIT */
/*
 * agent - the framework every delivery agent runs in.
 *
 * A delivery agent is a master.cf service of type unix whose command is
 * one of the agents below (virtual, lmtp, smtp, pipe, discard, error,
 * local).
 * The master starts its processes in the child skeleton (child.h) with the
 * socket $queue_directory/private/NAME; the queue manager connects there
 * and sends requests (deliver_proto.h).  The framework reads a request
 * and its recipients, opens the message from the queue file descriptor
 * that came with it, calls the agent's deliver(), sends one STATUS per
 * recipient and DONE, and logs one line per recipient:
 *
 *   ID: to=<a@b>, orig_to=<c@d>, relay=R, delay=D, status=sent (TEXT)
 *
 * One request at a time per connection.  A blocking agent (deliver())
 * has one connection at a time per process (the process stops accepting
 * while it has one): deliver() may block (file system, a child process,
 * a socket with timeouts), and concurrency comes from the number of
 * agent processes (master_service_process_count()).  An event-driven
 * agent (deliver_async(), the smtp agent) serves up to
 * agent_connection_cap() connections per process at once, each
 * delivery waiting on the process's event loop, never blocking it.  A
 * client that keeps more connections open than the service takes, idle
 * ones included, finds the extra ones waiting in the listen backlog
 * until one closes.
 *
 * Privileges: setup() runs as root (when the master is root) before the
 * drop, and chooses the user the process becomes (default mail_owner).
 * No agent ever runs as uid 0 or gid 0: the framework refuses it, logs
 * why, and then answers every request with a deferral that says so.
 */
#ifndef OSTIA_AGENT_H
#define OSTIA_AGENT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "child.h"
#include "config.h"
#include "deliver_proto.h"
#include "master_cf.h"
#include "queue_file.h"

struct event_base;

/* The message of a request. */
struct deliver_msg {
	struct queue_envelope env;	/* parsed from the queue file */
	const char *content;		/* message bytes, CRLF line ends,
					 * Received: header first */
	size_t len;
};

/* One result slot per recipient of the request (private). */
struct agent_results;
/* One request of an event-driven agent being delivered (private). */
struct agent_job;

/* The agent's state, owned by the framework; agents keep theirs in
 * their own static or in a pointer set by setup. */
struct agent_ctx {
	const struct config_view *view;		/* the service's view */
	const struct master_service *service;	/* its master.cf entry */
	void *priv;				/* the agent's own state */
	/* Set by the framework (agent_prepare) when setup refused or
	 * chose root: the reason every request is deferred (4.3.5) with,
	 * instead of calling deliver().  Owned by the framework. */
	char *refusal;
	/* The process's event loop (set by agent_serve_fd), for
	 * event-driven agents. */
	struct event_base *base;
};

struct agent_def {
	const char *command;	/* master.cf command: "virtual", ... */
	/*
	 * Before the privilege drop, as root when the master is root:
	 * check the service's parameters and master.cf arguments and
	 * choose the user to become (*uid_r, *gid_r preset to
	 * mail_owner's).  0, or -1 with *error_r (new string): the agent
	 * then defers every recipient with that reason (and logs it once
	 * at start), instead of exiting into a restart loop.  May be NULL.
	 */
	int (*setup)(struct agent_ctx *a, uid_t *uid_r, gid_t *gid_r,
	    char **error_r);
	/* Deliver the message to req->rcpts; set a result for each
	 * (agent_set_result / agent_set_all).  NULL for an event-driven
	 * agent. */
	void (*deliver)(struct agent_ctx *a, const struct deliver_req *req,
	    const struct deliver_msg *msg, struct agent_results *res);
	/*
	 * Event-driven agents instead: start delivering and return; end
	 * with exactly one agent_job_done(job, relay), from the event loop
	 * or from inside this call.  req, msg and res stay valid until
	 * then.  Many run at once in one process.
	 */
	void (*deliver_async)(struct agent_ctx *a,
	    const struct deliver_req *req, const struct deliver_msg *msg,
	    struct agent_results *res, struct agent_job *job);
	/* The relay= of the log line (may be NULL: the service name);
	 * blocking agents only (event-driven ones pass it to
	 * agent_job_done). */
	const char *(*relay)(struct agent_ctx *a,
	    const struct deliver_req *req);
	/*
	 * Housekeeping between requests (may be NULL): called from the
	 * event loop about every AGENT_IDLE_SECONDS after a request, until
	 * it returns false (nothing left to expire), e.g. to close cached
	 * connections that stayed idle too long.  A blocking agent's is
	 * never called while it delivers; an event-driven agent's may run
	 * while its deliveries wait on the loop.
	 */
	bool (*idle)(struct agent_ctx *a);
	/*
	 * deliver()/deliver_async() honour DELIVER_F_VERIFY (an address
	 * verification probe): they check each recipient as far as they
	 * can without delivering anything, and answer OK for one that
	 * would be delivered.  For an agent without it the framework
	 * answers every recipient of a probe OK itself ("the service
	 * takes every recipient") and deliver() is not called.
	 */
	bool verifies;
};
#define AGENT_IDLE_SECONDS 1

/*
 * The result for req->rcpts[i]: dsn "X.Y.Z" (class must match st, else
 * the framework uses the class default 2.0.0 / 4.0.0 / 5.0.0 and logs a
 * warning), remote "" or NULL, or a reply for the DSN Diagnostic-Code
 * ("lmtp; 250 2.0.0 ok"), text in plain words (made one line, at most
 * DELIVER_FIELD_MAX bytes).  A second call for the same i replaces the
 * first.
 */
void agent_set_result(struct agent_results *res, size_t i,
    enum deliver_status st, const char *dsn, const char *remote,
    const char *fmt, ...) __attribute__((format(printf, 6, 7)));
void agent_vset_result(struct agent_results *res, size_t i,
    enum deliver_status st, const char *dsn, const char *remote,
    const char *fmt, va_list ap) __attribute__((format(printf, 6, 0)));
/* The same result for every recipient that has none yet. */
void agent_set_all(struct agent_results *res, enum deliver_status st,
    const char *dsn, const char *remote, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Set DELIVER_R_* flags on req->rcpts[i]'s result (which must be
 * DELIVER_OK: flags on another status are dropped). */
void agent_set_flags(struct agent_results *res, size_t i, uint32_t flags);
/* The relay= of req->rcpts[i]'s log line (copied), when it is not the
 * one agent_job_done gives: a recipient one server answered and the
 * others another. */
void agent_set_relay(struct agent_results *res, size_t i, const char *relay);
/*
 * Forward req->rcpts[i] also to address (copied): with a DELIVER_OK
 * result the queue manager queues a copy of the message to it (the
 * local agent's aliases to non-local addresses).  -1 when address is
 * empty or has a control byte, or DELIVER_FORWARDS_MAX are given.
 */
int agent_add_forward(struct agent_results *res, size_t i,
    const char *address);
/* True if req->rcpts[i] has a result. */
bool agent_has_result(const struct agent_results *res, size_t i);

/*
 * The end of an event-driven delivery: the results are complete
 * (missing ones become deferrals), relay (copied; NULL: the service
 * name) goes into the log lines.  The statuses are sent from the event
 * loop after this returns; req, msg and res must not be used any more.
 */
void agent_job_done(struct agent_job *job, const char *relay);
/* How many connections one process of an event-driven agent takes at
 * once (its service's concurrency shared out over its processes; 1
 * for other agents and before the service is known). */
size_t agent_connection_cap(void);

/* The agents. */
extern const struct agent_def agent_discard;
extern const struct agent_def agent_error;
extern const struct agent_def agent_virtual;
extern const struct agent_def agent_pipe;
extern const struct agent_def agent_lmtp;
extern const struct agent_def agent_local;
extern const struct agent_def agent_smtp;

/* The agent for a master.cf command (its basename: "/usr/lib/postfix/
 * sbin/pipe" is pipe), or NULL. */
const struct agent_def *agent_find(const char *command);

/* True if path has a ".." component (mailbox and file paths from
 * tables are refused with one). */
bool agent_path_has_dotdot(const char *path);
/* The child skeleton's program that runs def (its name is def->command,
 * the process name in the log); NULL for a def agent_find() does not
 * know. */
const struct child_program *agent_program(const struct agent_def *def);

/*
 * What the program does before the privilege drop, exposed for tests:
 * run def->setup (when set) with *uid_r / *gid_r preset by the caller
 * (mail_owner's), then refuse uid 0 and gid 0.  0 with the chosen user
 * in *uid_r / *gid_r; or -1 with a->refusal set (logged as an error),
 * *uid_r / *gid_r back at their preset values, and every later request
 * deferred 4.3.5 with that reason.
 */
int agent_prepare(const struct agent_def *def, struct agent_ctx *a,
    uid_t *uid_r, gid_t *gid_r);

/*
 * Serve one queue manager connection on fd (a connected stream socket;
 * made non-blocking here; the connection owns and closes it) with def
 * and a in base's loop: REQ (+ the queue file descriptor), its RCPTs,
 * deliver(), one STATUS per recipient, DONE, then the next REQ.  It
 * ends by itself (fd closed) at the end of the stream, on a frame that
 * does not decode or comes out of turn, when a request stalls for
 * AGENT_IO_TIMEOUT_SECONDS, or when the statuses cannot be sent within
 * that time.  a->view may be NULL (tests): no message size limit then
 * but the 4 GiB cap.  The child program's accept_fn is this; tests call
 * it on a socketpair.
 */
#define AGENT_IO_TIMEOUT_SECONDS 300
void agent_serve_fd(const struct agent_def *def, struct agent_ctx *a,
    struct event_base *base, int fd);
/* Connections in the middle of a request (what a draining child waits
 * for). */
size_t agent_busy(void);

#endif
