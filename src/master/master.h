/* SPDX-License-Identifier: MIT */
/*
 * master - the Ostia master process.
 *
 * Who talks to whom (docs/architecture.md has the whole map):
 *
 *   master (root, or the invoking user in development)
 *     - reads and checks main.cf and master.cf; refuses to start on error
 *     - creates the queue and data directories with safe owners/modes
 *     - holds the lock on $queue_directory/pid/master.pid
 *     - binds the inet listeners of master.cf
 *     - starts each service's children (fork + exec of this binary,
 *       see child.h), as many as maxproc ("-" or 0: one per CPU core)
 *     - restarts children that die, with backoff, and reports crash loops
 *     - SIGHUP: reload (new children on the new configuration, old ones
 *       finish their connections; listeners that did not change are kept)
 *     - SIGTERM, SIGINT: graceful stop
 *     - answers `ostia status` on $queue_directory/pid/master.sock
 *       (mode 0600, owner only)
 *
 * The master never reads network input.
 */
#ifndef OSTIA_MASTER_H
#define OSTIA_MASTER_H

#include <stdbool.h>

/* How long `stop` lets children finish before SIGKILL. */
#define MASTER_STOP_GRACE_SECONDS 15
/* A child that lived this long is healthy again; its backoff resets. */
#define MASTER_HEALTHY_SECONDS 30
/* Quick deaths in a row after which a crash loop is reported. */
#define MASTER_CRASH_LOOP_COUNT 5
/* First restart delay after a quick death, in milliseconds. */
#define MASTER_BACKOFF_START_MS 100

struct master_opts {
	const char *config_dir;
	bool foreground;	/* `ostia run`: log to stderr by default */
	int verbose;
	int ready_fd;		/* -1, or where to write "ok\n" when up */
	const char *self_exe;	/* this binary, for re-exec of children */
};

/* Run the master until it is stopped; returns the exit code. */
int master_main(const struct master_opts *opts);

/* "<queue_directory>/pid/master.sock"; caller frees. */
char *master_ctl_path(const char *queue_directory);

#endif
